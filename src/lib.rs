//! # websock
//!
//! A strict, fast WebSocket ([RFC 6455]) implementation built as a **sans-IO core** with thin
//! transport adapters on top.
//!
//! - [`proto`]: the core. Frame codec, masking, UTF-8 validation, close handling, the opening
//!   handshake and the [`Connection`] state machine. Bytes in, events and bytes out; no sockets,
//!   no clocks, no async. Bring your own event loop.
//! - `sync` (feature `sync`, default): a blocking adapter over any `Read + Write`.
//! - `tokio` (feature `tokio`, default): an async adapter over any `AsyncRead + AsyncWrite`, with
//!   `futures` `Stream` and `Sink`.
//!
//! ## The sans-IO core in a few lines
//!
//! ```
//! use websock::{Connection, Config, Event, Message, Role, Transmit};
//!
//! let mut client = Connection::new(Role::Client, Config::default());
//! let mut server = Connection::new(Role::Server, Config::default());
//!
//! client.send_text("hello").unwrap();
//! while let Some(Transmit::Data(chunk)) = client.poll_transmit() {
//!     server.receive(&chunk); // in real life: write to a socket, read on the other side
//! }
//! match server.poll_event() {
//!     Some(Event::Message(Message::Text(text))) => assert_eq!(text.as_str(), "hello"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod proto;

#[cfg(feature = "sync")]
pub mod sync;

#[cfg(feature = "tokio")]
pub mod tokio;

pub use proto::close::{CloseCode, CloseFrame};
pub use proto::config::Config;
pub use proto::conn::{Connection, Event, Fragment, Role, State, Transmit};
pub use proto::error::{ApiMisuse, HandshakeError, ProtocolError};
pub use proto::message::{DataKind, Message, Utf8Bytes};

#[cfg(any(feature = "sync", feature = "tokio"))]
mod error;
#[cfg(any(feature = "sync", feature = "tokio"))]
pub use error::Error;

#[cfg(feature = "rustls")]
pub mod tls;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
