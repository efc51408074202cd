//! The sans-IO core: everything of RFC 6455 that does not touch a socket.
//!
//! This module owns the wire format, the protocol rules and all connection state. It must never
//! perform I/O, read a clock or use a global random number generator: time comes in through
//! [`Connection::handle_timeout`](conn::Connection::handle_timeout), bytes through
//! [`Connection::receive`](conn::Connection::receive), and masking keys from an injected
//! [`MaskSource`](conn::MaskSource) (by default one generator per connection, seeded once from
//! the operating system's entropy). The transport adapters only move bytes; any protocol
//! decision they need lives here. Its tests drive time by hand (`tests/connection.rs`).

pub mod buffer;
pub mod close;
pub mod config;
pub mod conn;
pub mod error;
pub mod ext;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;
