//! A fault-injecting transport under both adapters in both roles: short reads and writes,
//! `Interrupted` and `WouldBlock` (blocking) or `Pending` (async) at seeded random points, and
//! in some runs a hard error partway. Property: every message arrives once, in order, intact,
//! and the run ends with a clean close or a typed error; never a panic or a hang.

mod common;

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::{Config, Error, Message};

/// xorshift64: the same seed, the same faults.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A stream that misbehaves as a real one may: it cuts reads and writes short, returns
/// `Interrupted` or `WouldBlock` (a blocking stream's timeout), or `Pending` (with a wake-up),
/// and, if `fail_after` is set, fails every call after that many.
struct Faulty<S> {
    inner: S,
    rng: Rng,
    calls: u64,
    fail_after: Option<u64>,
}

impl<S> Faulty<S> {
    fn new(inner: S, seed: u64, fail_after: Option<u64>) -> Self {
        Faulty {
            inner,
            rng: Rng(seed | 1),
            calls: 0,
            fail_after,
        }
    }

    /// What this call does: `Err` to inject, or the most bytes to move.
    fn decide(&mut self, len: usize) -> Result<usize, io::ErrorKind> {
        self.calls += 1;
        if self.fail_after.is_some_and(|n| self.calls > n) {
            return Err(io::ErrorKind::ConnectionReset);
        }
        match self.rng.below(10) {
            0 => Err(io::ErrorKind::Interrupted),
            1 => Err(io::ErrorKind::WouldBlock),
            2..=5 => Ok(1 + self.rng.below(len.max(1) as u64) as usize),
            _ => Ok(len),
        }
    }
}

impl<S: Read> Read for Faulty<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decide(buf.len())?.min(buf.len());
        self.inner.read(&mut buf[..n])
    }
}

impl<S: Write> Write for Faulty<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.decide(buf.len())?;
        self.inner.write(&buf[..n.min(buf.len())])
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl websock::sync::Stream for Faulty<std::net::TcpStream> {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        websock::sync::Stream::set_read_timeout(&mut self.inner, t)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.inner.shutdown(std::net::Shutdown::Write)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Faulty<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.decide(buf.remaining()) {
            Err(io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Err(kind) => Poll::Ready(Err(kind.into())),
            Ok(n) => {
                let mut tmp = vec![0u8; n.min(buf.remaining())];
                let mut small = ReadBuf::new(&mut tmp);
                let r = Pin::new(&mut self.inner).poll_read(cx, &mut small);
                buf.put_slice(small.filled());
                r
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Faulty<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.decide(buf.len()) {
            Err(io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Err(kind) => Poll::Ready(Err(kind.into())),
            Ok(n) => Pin::new(&mut self.inner).poll_write(cx, &buf[..n.min(buf.len())]),
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The messages a run sends, from its seed: every data kind, sizes from 0 to 300 KiB.
fn messages(seed: u64) -> Vec<Message> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..12)
        .map(|i| {
            let len = match rng.below(4) {
                0 => rng.below(16),
                1 => rng.below(2000),
                2 => rng.below(70_000),
                _ => rng.below(300_000),
            } as usize;
            if i % 2 == 0 {
                Message::text("é".repeat(len / 2) + &i.to_string())
            } else {
                Message::binary(vec![(i * 7) as u8; len])
            }
        })
        .collect()
}

fn config(seed: u64) -> Config {
    let c = Config::default();
    #[cfg(feature = "deflate")]
    if seed % 2 == 1 {
        return c
            .poll_budget(16 << 10)
            .deflate(websock::proto::ext::deflate::DeflateConfig::enabled());
    }
    let _ = seed;
    c
}

/// What the client saw: the echoes it received, and how the run ended.
type Outcome = (Vec<Message>, Result<(), String>);

fn check(seed: u64, fail: Option<u64>, sent: &[Message], (got, end): Outcome) {
    assert!(
        got.len() <= sent.len() && got[..] == sent[..got.len()],
        "seed {seed}: echoes are not a prefix of what was sent ({} of {})",
        got.len(),
        sent.len()
    );
    if fail.is_none() {
        assert_eq!(got.len(), sent.len(), "seed {seed}: lost messages");
        assert_eq!(end, Ok(()), "seed {seed}");
    }
}

/// Runs `f` on its own thread and fails the test if it takes longer than 30 s (a hang).
fn within_deadline<T: Send + 'static>(what: String, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what}: hung or panicked"))
}

fn sync_run(seed: u64, fail: Option<u64>) -> Outcome {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_config = config(seed);
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let io = Faulty::new(tcp, seed ^ 0xabcdef, fail);
        let Ok(out) = websock::sync::accept_with(io, server_config, |_| Ok(Accept::new())) else {
            return;
        };
        if let Some(mut ws) = out.websocket() {
            common::sync_echo(&mut ws);
        }
    });
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let io = Faulty::new(tcp, seed, fail);
    let req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut got = Vec::new();
    let end = (|| -> Result<(), Error> {
        let mut ws = websock::sync::client(io, req, config(seed))?;
        for m in messages(seed) {
            ws.send(m)?;
            loop {
                let m = ws.recv()?;
                if m.is_data() {
                    got.push(m);
                    break;
                }
            }
        }
        ws.close(None)?;
        loop {
            match ws.recv() {
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })();
    server.join().expect("server panicked");
    (got, end.map_err(|e| e.to_string()))
}

async fn tokio_run(seed: u64, fail: Option<u64>) -> Outcome {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_config = config(seed);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let io = Faulty::new(tcp, seed ^ 0xabcdef, fail);
        let Ok(out) = websock::tokio::accept_with(io, server_config, |_| Ok(Accept::new())).await
        else {
            return;
        };
        let Some(mut ws) = out.websocket() else {
            return;
        };
        while let Some(Ok(m)) = ws.recv().await {
            if m.is_data() && ws.send(m).await.is_err() {
                return;
            }
        }
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = Faulty::new(tcp, seed, fail);
    let req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut got = Vec::new();
    let end = async {
        let mut ws = websock::tokio::client(io, req, config(seed)).await?;
        for m in messages(seed) {
            ws.send(m).await?;
            loop {
                let m = ws.recv().await.ok_or(Error::ConnectionClosed)??;
                if m.is_data() {
                    got.push(m);
                    break;
                }
            }
        }
        ws.close(None).await?;
        while let Some(r) = ws.recv().await {
            r?;
        }
        Ok::<(), Error>(())
    }
    .await;
    server.await.expect("server panicked");
    (got, end.map_err(|e| e.to_string()))
}

/// Seeds 0-15 without a hard error, 16-23 with one after 10-130 calls.
fn cases() -> impl Iterator<Item = (u64, Option<u64>)> {
    (0..24).map(|seed| (seed, (seed >= 16).then(|| 10 + seed * 37 % 120)))
}

/// Runs every case through `run` (on its own thread, against a deadline) and checks it.
fn run_cases(adapter: &str, run: fn(u64, Option<u64>) -> Outcome) {
    let mut errors = 0;
    for (seed, fail) in cases() {
        let sent = messages(seed);
        let outcome = within_deadline(format!("{adapter} seed {seed}"), move || run(seed, fail));
        eprintln!(
            "seed {seed} fail {fail:?}: {} echoes, {:?}",
            outcome.0.len(),
            outcome.1
        );
        errors += outcome.1.is_err() as usize;
        check(seed, fail, &sent, outcome);
    }
    assert!(
        errors >= 4,
        "the injected errors did not reach the client ({errors})"
    );
}

#[test]
fn blocking_adapter_survives_a_faulty_transport() {
    run_cases("sync", sync_run);
}

#[test]
fn tokio_adapter_survives_a_faulty_transport() {
    run_cases("tokio", |seed, fail| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(tokio_run(seed, fail))
    });
}
