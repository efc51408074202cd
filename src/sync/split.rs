//! [`WebSocket::split`]: a reader and a writer for two threads over one connection. The core
//! sits behind a mutex; whichever half makes output writes it, in order, under the writer lock,
//! so pongs and the close handshake stay correct while both halves are busy.
#![forbid(unsafe_code)]

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::stream::{arm, feed, read_some, write_chunks};
use super::{Stream, TryClone, WebSocket};
use crate::error::event_to_item;
use crate::trace::Trace;
use crate::{
    Agreed, CloseFrame, Config, Connection, Error, Event, Message, Role, Transmit, TransportVerdict,
};

struct Shared<S> {
    conn: Mutex<Connection>,
    out: Mutex<S>,
    /// What `Drop` calls to write out a corked reply (a `Drop` impl cannot name `S: Stream`).
    drop_write: fn(&Shared<S>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S: Stream> Shared<S> {
    /// Takes what the connection queued and writes it. The writer lock is taken first and held
    /// while writing, so output from two threads never interleaves or reorders; the connection
    /// lock is held only to take the chunks.
    fn flush(&self) -> Result<(), Error> {
        let mut out = lock(&self.out);
        loop {
            let mut chunks = Vec::new();
            let mut shutdown = false;
            let write_timeout;
            {
                let mut conn = lock(&self.conn);
                write_timeout = conn.config().write_timeout;
                if conn.transmit_len() == 0 {
                    conn.prepare_transmit();
                }
                while let Some(t) = conn.poll_transmit() {
                    match t {
                        Transmit::Data(b) => chunks.push(b),
                        Transmit::Shutdown => shutdown = true,
                    }
                }
            }
            if chunks.is_empty() && !shutdown {
                return Ok(());
            }
            if let Err(e) = write_chunks(&mut *out, &chunks, write_timeout) {
                if lock(&self.conn).transport_failed() == TransportVerdict::Report {
                    return Err(e.into());
                }
            }
            if shutdown {
                let _ = out.shutdown_write();
            }
        }
    }
}

/// The halves are gone: a reply still corked is written (as a [`WebSocket`] does on drop).
impl<S> Drop for Shared<S> {
    fn drop(&mut self) {
        let pending = lock(&self.conn).transmit_len() > 0;
        if pending {
            (self.drop_write)(self);
        }
    }
}

impl<S: Stream + TryClone> WebSocket<S> {
    /// Splits into a reader and a writer for two threads. Pongs and the close handshake stay
    /// correct: whichever side produces output writes it, in order, under one lock. The
    /// reader copies each read into the connection (one copy per read, not per message).
    pub fn split(mut self) -> io::Result<(Reader<S>, Writer<S>)> {
        let read_half = self.stream.try_clone()?;
        let write_half = self.stream.try_clone()?;
        // Moved out of a value that writes on drop: what it leaves behind has nothing queued.
        let idle = Connection::open(
            Role::Server,
            Config::default(),
            Agreed::default(),
            Instant::now(),
        );
        let shared = Arc::new(Shared {
            conn: Mutex::new(std::mem::replace(&mut self.conn, idle)),
            out: Mutex::new(write_half),
            drop_write: |shared| {
                let _ = shared.flush();
            },
        });
        let reader = Reader {
            stream: read_half,
            shared: shared.clone(),
            scratch: Vec::new(),
            armed: None,
            trace: std::mem::replace(&mut self.trace, Trace::none()),
        };
        Ok((reader, Writer { shared }))
    }
}

/// The reading half of a split [`WebSocket`].
pub struct Reader<S> {
    stream: S,
    shared: Arc<Shared<S>>,
    scratch: Vec<u8>,
    armed: Option<Option<Instant>>,
    trace: Trace,
}

impl<S: Stream> Reader<S> {
    /// As [`WebSocket::recv`].
    pub fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(item) = event_to_item(self.recv_event()?) {
                return item;
            }
        }
    }

    /// As [`WebSocket::recv_event`].
    pub fn recv_event(&mut self) -> Result<Event, Error> {
        loop {
            let (event, terminated, deadline, size) = {
                let mut conn = lock(&self.shared.conn);
                self.trace.observe(&conn);
                conn.handle_timeout(Instant::now());
                let ev = conn.poll_event();
                if let Some(ev) = &ev {
                    self.trace.on_event(&conn, ev);
                }
                (
                    ev,
                    conn.is_terminated(),
                    conn.poll_timeout(),
                    conn.config().read_size,
                )
            };
            if let Some(ev) = event {
                if matches!(ev, Event::Closed(_)) {
                    // The last event: the close frame goes out before the user can drop us.
                    self.shared.flush()?;
                }
                return Ok(ev);
            }
            // About to block: what was queued goes out in one write.
            self.shared.flush()?;
            if terminated {
                return Err(Error::ConnectionClosed);
            }
            arm(
                &mut self.stream,
                &mut self.armed,
                deadline.map(|d| d.to_std()),
            )?;
            self.scratch.resize(size, 0);
            let read = read_some(&mut self.stream, &mut self.scratch);
            let scratch = &self.scratch;
            feed(&mut lock(&self.shared.conn), read, |c, n| {
                c.receive(&scratch[..n])
            })?;
        }
    }
}

/// The writing half of a split [`WebSocket`].
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
}

impl<S: Stream> Writer<S> {
    /// Sends a message and flushes, corked as [`WebSocket::send`].
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.write(msg)?;
        if lock(&self.shared.conn).may_defer_flush() {
            return Ok(());
        }
        self.flush()
    }

    /// As [`WebSocket::write`]: queues a message (flushing past the high-water mark).
    pub fn write(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let mut conn = lock(&self.shared.conn);
        conn.send(msg.into())?;
        let over = conn.is_send_backlogged();
        drop(conn);
        if over {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes everything queued, now.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.shared.flush()
    }

    /// Starts the close handshake; the reader sees it through.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        lock(&self.shared.conn).close(frame)?;
        self.shared.flush()
    }

    /// Runs `f` on the connection (for fragments, state, settings), then flushes.
    pub fn with_connection<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> Result<T, Error> {
        let r = f(&mut lock(&self.shared.conn));
        self.shared.flush()?;
        Ok(r)
    }
}
