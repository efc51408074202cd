//! # websock
//!
//! A strict, fast WebSocket ([RFC 6455]) implementation built as a **sans-IO core** with thin
//! transport adapters on top. Everything the protocol decides (framing, masking, UTF-8, close
//! codes, limits, the opening handshake, permessage-deflate) lives in [`proto`]; the adapters only
//! move bytes and own timers and sockets.
//!
//! ## A tour
//!
//! | you want | use | feature |
//! |---|---|---|
//! | your own event loop, or to embed the protocol anywhere | [`Connection`] in [`proto`] | always |
//! | threads and blocking sockets | `sync`: `accept`, `connect`, `WebSocket::split` | `sync` (default) |
//! | tokio, `Stream`/`Sink` | `tokio`: `accept`, `connect`, `WebSocketStream::split` | `tokio` (default) |
//! | compression | `DeflateConfig` in [`Config::deflate`] | `deflate` (default) |
//! | `wss://` | `connect` with a `wss://` URL, `Connect::tls` for your own rustls config | `rustls` |
//! | HTTP and SOCKS5 proxies | [`proxy`], `Connect::proxy` | always (`sync`/`tokio` to drive) |
//! | an existing hyper or axum server | `hyper::upgrade` | `hyper` |
//! | `http::Request` / `http::Response` | `proto::handshake` conversions | `http` |
//! | a client that survives restarts | `reconnect::ReconnectingClient` | `tokio` |
//!
//! ### The sans-IO core
//!
//! One [`Connection`] per WebSocket, from the first byte of the opening handshake to the last
//! of the close. Bytes in ([`Connection::receive`]), events out ([`Connection::poll_event`]),
//! bytes to write out ([`Connection::poll_transmit`]), time as an input (the constructors,
//! [`Connection::handle_timeout`], [`Connection::poll_timeout`]). A peer's fault never comes
//! back as an `Err` from `receive`: it becomes a close frame with the RFC's code and an
//! [`Event::Closed`] carrying a [`ConnectionError`] that names who was at fault.
//!
//! ```
//! use std::time::Instant;
//! use websock::proto::handshake::client::ClientRequest;
//! use websock::proto::handshake::server::Accept;
//! use websock::{Config, Connection, Event, Message, Transmit};
//!
//! let now = Instant::now();
//! let request = ClientRequest::new("ws://example.com/chat").unwrap();
//! let mut client = Connection::client(request, Config::default(), now).unwrap();
//! let mut server = Connection::server(Config::default(), now);
//!
//! // Moves whatever one side wrote to the other (in real life: sockets).
//! fn carry(from: &mut Connection, to: &mut Connection) {
//!     while let Some(Transmit::Data(bytes)) = from.poll_transmit() {
//!         to.receive(&bytes);
//!     }
//! }
//!
//! carry(&mut client, &mut server);
//! let Some(Event::Request(req)) = server.poll_event() else { panic!() };
//! assert_eq!(req.path(), "/chat");
//! server.accept(Accept::new()).unwrap();
//! assert_eq!(server.poll_event(), Some(Event::Open));
//!
//! carry(&mut server, &mut client);
//! assert_eq!(client.poll_event(), Some(Event::Open));
//! client.send_text("hello").unwrap();
//! carry(&mut client, &mut server);
//! assert_eq!(server.poll_event(), Some(Event::Message(Message::text("hello"))));
//! ```
//!
//! The pieces stay usable alone: `proto::handshake::server::RequestParser` parses a request
//! incrementally (linear time, bounded), [`proto::connection::answer`] judges a request parsed
//! elsewhere into a structured response, `proto::handshake::client::ClientRequest` builds a
//! request.
//!
//! ### Blocking
//!
//! ```no_run
//! # #[cfg(feature = "sync")] {
//! let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
//! let (stream, _) = listener.accept()?;
//! let mut ws = websock::sync::accept(stream)?;
//! let msg = ws.recv()?;
//! ws.send(msg)?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `WebSocket::split` gives a reader and a writer for two threads; pongs and the close
//! handshake stay correct while both are busy.
//!
//! ### Tokio
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), websock::Error> {
//! let mut ws = websock::tokio::connect("ws://127.0.0.1:9001/").await?;
//! ws.send("hello").await?;
//! while let Some(msg) = ws.recv().await {
//!     println!("{:?}", msg?);
//! }
//! # Ok(()) }
//! ```
//!
//! Both adapters name the same operations the same way (`accept`, `accept_with`, `client`,
//! `connect`, `connect_with`; `recv`, `recv_event`, `send`, `write`, `flush`, `close`, `split`
//! into a `Reader` and a `Writer`). Writes wait once the unwritten output passes
//! [`Config::write_buffer_high_water`], so memory stays bounded when the peer reads slowly.
//!
//! ### Compression
//!
//! permessage-deflate (RFC 7692) is complete (negotiation in both roles, context takeover or
//! not, window bits 8 to 15) and bomb-proof: inflated bytes count against
//! [`Config::max_message_size`] as they are produced. It is off until enabled:
//!
//! ```
//! # #[cfg(feature = "deflate")] {
//! use websock::proto::config::DeflateConfig;
//! let config = websock::Config::default().deflate(DeflateConfig::enabled());
//! # }
//! ```
//!
//! ### Limits
//!
//! Every limit has a safe default and a setter on [`Config`]: frame and message size (16 MiB),
//! handshake head size and header count, handshake timeout (10 s; a server answers 408), close
//! timeout (5 s), the write high-water mark (1 MiB), keepalive (a ping after 20 s without a
//! frame, 20 s for an answer), the write timeout (30 s without progress: the peer stopped
//! reading) and the idle timeout (off).
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(feature = "std")]
mod std_time;

pub mod proto;
#[cfg(feature = "std")]
pub mod proxy;

#[cfg(feature = "sync")]
pub mod sync;

#[cfg(feature = "tokio")]
pub mod tokio;

#[cfg(feature = "hyper")]
pub mod hyper;

#[cfg(feature = "axum")]
pub mod axum;

pub use proto::close::{CloseCode, CloseFrame};
pub use proto::config::Config;
pub use proto::connection::{
    Agreed, CloseResult, Connection, Event, Fragment, PreparedMessage, Role, State, Transmit,
    TransportVerdict,
};
pub use proto::error::{ApiMisuse, ConnectionError, HandshakeError, ProtocolError, Timeout};
pub use proto::message::{DataKind, Message};
pub use proto::utf8::Utf8Bytes;

#[cfg(any(feature = "sync", feature = "tokio"))]
mod connect;
#[cfg(any(feature = "sync", feature = "tokio"))]
mod error;
#[cfg(any(feature = "sync", feature = "tokio"))]
mod trace;
#[cfg(any(feature = "sync", feature = "tokio"))]
pub use connect::{Connect, Outcome};
#[cfg(any(feature = "sync", feature = "tokio"))]
pub use error::Error;

#[cfg(feature = "tokio")]
pub mod reconnect;

#[cfg(feature = "tokio")]
pub mod broadcast;

#[cfg(feature = "rustls")]
pub mod tls;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
