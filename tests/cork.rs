//! Auto-corking, both adapters, against a raw-socket client over loopback TCP: replies to
//! pipelined messages leave in one write, and a reply sent with no further input pending
//! reaches the peer with no further call on the WebSocket (no added latency).
//!
//! The server's transport is wrapped to count the writes that carried bytes.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// A transport that counts its writes (calls that wrote at least one byte).
struct Counting<S> {
    io: S,
    writes: Arc<AtomicUsize>,
}

impl<S> Counting<S> {
    fn new(io: S) -> (Self, Arc<AtomicUsize>) {
        let writes = Arc::new(AtomicUsize::new(0));
        let w = writes.clone();
        (Counting { io, writes }, w)
    }
    fn count(&self, n: usize) -> usize {
        if n > 0 {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        n
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        r.map_ok(|n| self.count(n))
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        r.map_ok(|n| self.count(n))
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<S: Read> Read for Counting<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf)
    }
}

impl<S: Write> Write for Counting<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.io.write(buf)?;
        Ok(self.count(n))
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = self.io.write_vectored(bufs)?;
        Ok(self.count(n))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}

impl websock::sync::Stream for Counting<TcpStream> {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        websock::sync::Stream::set_read_timeout(&mut self.io, t)
    }
    fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        websock::sync::Stream::set_write_timeout(&mut self.io, t)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        websock::sync::Stream::shutdown_write(&mut self.io)
    }
}

impl websock::sync::TryClone for Counting<TcpStream> {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Counting {
            io: self.io.try_clone()?,
            writes: self.writes.clone(),
        })
    }
}

/// A client that speaks the protocol by hand: the handshake with a fixed key, then masked
/// frames written exactly as the test says.
struct RawClient(TcpStream);

impl RawClient {
    fn connect(addr: std::net::SocketAddr) -> RawClient {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        RawClient(s)
    }

    /// Binary frames with payloads `b"msg-0"`, `b"msg-1"` ..., masked, in one write.
    fn send_batch(&mut self, n: usize) {
        let mut wire = Vec::new();
        for i in 0..n {
            let payload = format!("msg-{i}");
            let key = [0x11, 0x22, 0x33, i as u8];
            wire.extend_from_slice(&[0x82, 0x80 | payload.len() as u8]);
            wire.extend_from_slice(&key);
            wire.extend(payload.bytes().enumerate().map(|(j, b)| b ^ key[j % 4]));
        }
        self.0.write_all(&wire).unwrap();
    }

    /// The next frame from the server (unmasked, small): its opcode and payload, or the error
    /// (a timeout when nothing came within 5 s).
    fn read_frame(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.0.read_exact(&mut h)?;
        assert_eq!(h[1] & 0x80, 0, "a server frame is never masked");
        let len = (h[1] & 0x7f) as usize;
        assert!(len < 126);
        let mut payload = vec![0u8; len];
        self.0.read_exact(&mut payload)?;
        Ok((h[0] & 0x0f, payload))
    }

    /// Reads `n` echoes of [`send_batch`](Self::send_batch)'s frames, in order.
    fn expect_echoes(&mut self, range: std::ops::Range<usize>) {
        for i in range {
            let (op, payload) = self.read_frame().expect("echo did not arrive");
            assert_eq!(op, 2);
            assert_eq!(payload, format!("msg-{i}").as_bytes());
        }
    }
}

fn listener() -> (TcpListener, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

type TokioWs = websock::tokio::WebSocketStream<Counting<tokio::net::TcpStream>>;
type SyncWs = websock::sync::WebSocket<Counting<TcpStream>>;

/// A raw client in its own thread sends `batch` frames in one write, then runs `then` and
/// hands back its result; the server side returns once all of them are in its socket, with
/// the write counter at zero after the handshake.
fn client<T: Send + 'static>(
    addr: std::net::SocketAddr,
    batch: usize,
    then: impl FnOnce(&mut RawClient) -> T + Send + 'static,
) -> (std::sync::mpsc::Receiver<()>, std::thread::JoinHandle<T>) {
    let (wrote_tx, wrote_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut c = RawClient::connect(addr);
        c.send_batch(batch);
        wrote_tx.send(()).unwrap();
        let out = then(&mut c);
        // Keep the socket open until the server is done with it.
        let _ = c.read_frame();
        out
    });
    (wrote_rx, handle)
}

async fn tokio_server<T: Send + 'static>(
    batch: usize,
    then: impl FnOnce(&mut RawClient) -> T + Send + 'static,
) -> (TokioWs, Arc<AtomicUsize>, std::thread::JoinHandle<T>) {
    let (l, addr) = listener();
    let (wrote, handle) = client(addr, batch, then);
    l.set_nonblocking(true).unwrap();
    let l = tokio::net::TcpListener::from_std(l).unwrap();
    let (tcp, _) = l.accept().await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (io, writes) = Counting::new(tcp);
    let ws = websock::tokio::accept(io).await.unwrap();
    writes.store(0, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || wrote.recv().unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    (ws, writes, handle)
}

fn sync_server<T: Send + 'static>(
    batch: usize,
    then: impl FnOnce(&mut RawClient) -> T + Send + 'static,
) -> (SyncWs, Arc<AtomicUsize>, std::thread::JoinHandle<T>) {
    let (l, addr) = listener();
    let (wrote, handle) = client(addr, batch, then);
    let (tcp, _) = l.accept().unwrap();
    tcp.set_nodelay(true).unwrap();
    let (io, writes) = Counting::new(tcp);
    let ws = websock::sync::accept(io).unwrap();
    writes.store(0, Ordering::SeqCst);
    wrote.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    (ws, writes, handle)
}

/// Waits for a client thread from an async test without blocking the runtime.
async fn join<T: Send + 'static>(handle: std::thread::JoinHandle<T>) -> T {
    tokio::task::spawn_blocking(move || handle.join().unwrap())
        .await
        .unwrap()
}

/// The first `n` frames the client reads, their payloads (fewer if it waited 5 s in vain).
fn read_payloads(c: &mut RawClient, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map_while(|_| c.read_frame().ok())
        .map(|f| f.1)
        .collect()
}

const BATCH: usize = 16;

/// The README's loop: sixteen messages that arrived in one read are answered in one write.
#[tokio::test(flavor = "current_thread")]
async fn tokio_readme_loop_answers_a_batch_in_one_write() {
    let (mut ws, writes, client) = tokio_server(BATCH, |c| c.expect_echoes(0..BATCH)).await;
    for _ in 0..BATCH {
        let msg = ws.recv().await.unwrap().unwrap();
        ws.send(msg).await.unwrap();
    }
    assert_eq!(
        writes.load(Ordering::SeqCst),
        1,
        "sixteen replies, one write"
    );
    drop(ws);
    join(client).await;
}

/// The same through `StreamExt::next` and `SinkExt::send`.
#[tokio::test(flavor = "current_thread")]
async fn tokio_sink_style_answers_a_batch_in_one_write() {
    let (mut ws, writes, client) = tokio_server(BATCH, |c| c.expect_echoes(0..BATCH)).await;
    for _ in 0..BATCH {
        let msg = ws.next().await.unwrap().unwrap();
        SinkExt::send(&mut ws, msg).await.unwrap();
    }
    assert_eq!(
        writes.load(Ordering::SeqCst),
        1,
        "sixteen replies, one write"
    );
    drop(ws);
    join(client).await;
}

/// No added latency: a reply to a lone message reaches the peer while the server's task does
/// nothing more with the WebSocket.
#[tokio::test(flavor = "current_thread")]
async fn tokio_lone_reply_is_written_by_its_send() {
    let (got_tx, got_rx) = oneshot::channel();
    let (mut ws, writes, _client) = tokio_server(1, move |c| {
        let _ = got_tx.send(c.read_frame());
    })
    .await;
    let msg = ws.recv().await.unwrap().unwrap();
    ws.send(msg).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    // The WebSocket is not polled again until the client has its echo (or gave up).
    let (op, payload) = got_rx.await.unwrap().expect("the reply never left");
    assert_eq!((op, &payload[..]), (2, &b"msg-0"[..]));
}

/// One deferral per received message: with another message already here, the first reply
/// may wait, but a second `send` writes both, with no further `recv`.
#[tokio::test(flavor = "current_thread")]
async fn tokio_second_send_after_one_recv_writes() {
    let (got_tx, got_rx) = oneshot::channel();
    let (mut ws, writes, _client) = tokio_server(2, move |c| {
        let _ = got_tx.send(read_payloads(c, 2));
    })
    .await;
    let first = ws.recv().await.unwrap().unwrap();
    assert!(ws.connection().has_partial_input(), "msg-1 is already here");
    ws.send(websock::Message::binary(&b"reply-a"[..]))
        .await
        .unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 0, "corked: msg-1 is pending");
    ws.send(first).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    let got = got_rx.await.unwrap();
    assert_eq!(got, vec![b"reply-a".to_vec(), b"msg-0".to_vec()]);
}

/// `flush` writes now, even with input pending.
#[tokio::test(flavor = "current_thread")]
async fn tokio_flush_writes_now() {
    let (got_tx, got_rx) = oneshot::channel();
    let (mut ws, _writes, _client) = tokio_server(2, move |c| {
        let _ = got_tx.send(c.read_frame());
    })
    .await;
    let first = ws.recv().await.unwrap().unwrap();
    ws.send(first).await.unwrap();
    ws.flush().await.unwrap();
    let (_, payload) = got_rx.await.unwrap().expect("flush did not write");
    assert_eq!(payload, b"msg-0");
}

/// A corked reply is not lost when the WebSocket is dropped before the next `recv`.
#[tokio::test(flavor = "current_thread")]
async fn tokio_corked_reply_is_written_on_drop() {
    let (mut ws, writes, client) = tokio_server(2, |c| c.read_frame().map(|f| f.1)).await;
    let first = ws.recv().await.unwrap().unwrap();
    ws.send(first).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 0, "corked: msg-1 is pending");
    drop(ws);
    let payload = join(client).await.expect("the corked reply was lost");
    assert_eq!(payload, b"msg-0");
}

#[test]
fn sync_readme_loop_answers_a_batch_in_one_write() {
    let (mut ws, writes, client) = sync_server(BATCH, |c| c.expect_echoes(0..BATCH));
    for _ in 0..BATCH {
        let msg = ws.recv().unwrap();
        ws.send(msg).unwrap();
    }
    assert_eq!(
        writes.load(Ordering::SeqCst),
        1,
        "sixteen replies, one write"
    );
    drop(ws);
    client.join().unwrap();
}

#[test]
fn sync_lone_reply_is_written_by_its_send() {
    let (got_tx, got_rx) = std::sync::mpsc::channel();
    let (mut ws, _writes, _client) = sync_server(1, move |c| {
        let _ = got_tx.send(c.read_frame());
    });
    let msg = ws.recv().unwrap();
    ws.send(msg).unwrap();
    let (op, payload) = got_rx.recv().unwrap().expect("the reply never left");
    assert_eq!((op, &payload[..]), (2, &b"msg-0"[..]));
}

#[test]
fn sync_second_send_after_one_recv_writes() {
    let (got_tx, got_rx) = std::sync::mpsc::channel();
    let (mut ws, writes, _client) = sync_server(2, move |c| {
        let _ = got_tx.send(read_payloads(c, 2));
    });
    let first = ws.recv().unwrap();
    ws.send(websock::Message::binary(&b"reply-a"[..])).unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 0, "corked: msg-1 is pending");
    ws.send(first).unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    assert_eq!(
        got_rx.recv().unwrap(),
        vec![b"reply-a".to_vec(), b"msg-0".to_vec()]
    );
}

#[test]
fn sync_corked_reply_is_written_on_drop() {
    for split in [false, true] {
        let (mut ws, writes, client) = sync_server(2, |c| c.read_frame().map(|f| f.1));
        let first = ws.recv().unwrap();
        ws.send(first).unwrap();
        assert_eq!(writes.load(Ordering::SeqCst), 0, "corked: msg-1 is pending");
        if split {
            let (reader, writer) = ws.split().unwrap();
            drop(reader);
            drop(writer);
        } else {
            drop(ws);
        }
        let payload = client.join().unwrap().expect("the corked reply was lost");
        assert_eq!(payload, b"msg-0", "split: {split}");
    }
}

/// A client's first `send` after the handshake is written at once, even when the server's
/// first message came in the same read as its 101: the user has answered nothing yet.
#[tokio::test(flavor = "current_thread")]
async fn tokio_first_send_after_open_is_not_corked() {
    use std::io::BufRead;
    let (l, addr) = listener();
    let (got_tx, got_rx) = oneshot::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut key = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if let Some(k) = line.strip_prefix("Sec-WebSocket-Key: ") {
                key = k.trim().to_string();
            }
            if line == "\r\n" {
                break;
            }
        }
        let accept = websock::proto::handshake::header::accept_key(key.as_bytes());
        // The 101 and a greeting in one write.
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        out.extend_from_slice(&[0x81, 2, b'h', b'i']);
        s.write_all(&out).unwrap();
        // The client's frame: masked, "yo".
        let mut frame = [0u8; 8];
        let got = r.read_exact(&mut frame).map(|()| {
            let key = [frame[2], frame[3], frame[4], frame[5]];
            vec![frame[6] ^ key[0], frame[7] ^ key[1]]
        });
        let _ = got_tx.send(got);
        let _ = r.read(&mut [0u8; 1]);
    });
    let mut ws = websock::tokio::connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    ws.send(websock::Message::text("yo")).await.unwrap();
    // Not polled again until the server has the frame (or gave up).
    let got = got_rx.await.unwrap().expect("the first send never left");
    assert_eq!(got, b"yo");
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        websock::Message::text("hi")
    );
}
