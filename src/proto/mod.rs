//! The sans-IO core: everything of RFC 6455 that does not touch a socket.
//!
//! This module owns the wire format, the protocol rules and all connection state, from the first
//! byte of the opening handshake to the last of the close. It must never perform I/O, read a
//! clock or use a global random number generator: time comes in through the constructors and
//! [`Connection::handle_timeout`](connection::Connection::handle_timeout), bytes through
//! [`Connection::receive`](connection::Connection::receive), and masking keys from an injected
//! [`MaskSource`](mask::MaskSource) (by default one generator per connection, seeded once from
//! the operating system's entropy). The transport adapters only move bytes; any protocol
//! decision they need lives here. Its tests drive time by hand (`tests/connection.rs`).
//!
//! The modules form an acyclic graph, lowest first: `buffer`, `mask`, `utf8`, `error` ->
//! `frame`, `close`, `message` -> `handshake` (HTTP heads) -> `config` -> `ext` ->
//! `connection`.

pub mod buffer;
pub mod close;
pub mod config;
pub mod connection;
pub mod error;
pub mod ext;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod time;
pub mod utf8;

/// What `std`'s prelude gives and `alloc` has, for the core's modules to build without `std`.
#[allow(unused_imports)]
pub(crate) mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::format;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec;
    pub(crate) use alloc::vec::Vec;
}
