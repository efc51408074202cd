//! Echo servers for the side-by-side benchmark, one per `--kind`:
//!
//! | kind                  | what                                                                 |
//! |-----------------------|----------------------------------------------------------------------|
//! | `websock-tokio`       | `websock::tokio::accept`, a task per connection, the README's loop   |
//! | `websock-sink`        | the same through `StreamExt::next` and `SinkExt::send`               |
//! | `websock-tokio-tuned` | tuned, not a user's loop: replies queued on the sans-IO core         |
//! | `websock-sync`        | `websock::sync::accept`, a thread per connection, `recv` + `send`    |
//! | `tokio-tungstenite`   | `tokio_tungstenite::accept_async_with_config`, `forward` style       |
//! | `fastwebsockets`      | `fastwebsockets::WebSocket::after_handshake` + `FragmentCollector`   |
//! | `tokio-websockets`    | `tokio_websockets::ServerBuilder::accept`, its README's loop         |
//! | `sockudo-ws`          | `sockudo_ws` handshake + `WebSocketStream`, its README's loop        |
//! | `wtx`                 | `wtx::web_socket::WebSocketAcceptor`, its example's frame loop       |
//! | `tcp`                 | the handshake answered by hand, then raw bytes copied back (ceiling) |
//!
//! Every server echoes text and binary messages as they came, with no compression, a 64 MiB
//! message (and frame) limit, `TCP_NODELAY` on, and the tokio ones on a `current_thread`
//! runtime. websock as its README writes it; the peers as their READMEs or examples do:
//! `echo_send` (`next`, then `SinkExt::send`), or `echo_forward` for tokio-tungstenite (its
//! echo example uses `StreamExt::forward`).
//!
//! ```text
//! servers --kind websock-tokio [--addr 127.0.0.1:9001]
//! ```
//! Runs until killed. Per-connection errors (peers that vanish mid-message when a timed run
//! ends) are counted silently.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Poll};

use futures_util::{Sink, SinkExt, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_MESSAGE: usize = 64 << 20;

static ERRORS: AtomicU64 = AtomicU64::new(0);

fn note_error<E>(r: Result<(), E>) {
    if r.is_err() {
        ERRORS.fetch_add(1, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// websock

fn websock_config() -> websock::Config {
    // Compression is off unless the feature is on and configured; it is not built here.
    websock::Config::default()
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
}

/// The tokio adapter exactly as the README writes it: `recv`, then `send` for each data
/// message. Whatever batching there is comes from the adapter itself.
async fn websock_tokio(tcp: TcpStream) -> Result<(), websock::Error> {
    let mut ws = websock_accept(tcp).await?;
    while let Some(msg) = ws.recv().await {
        let msg = msg?;
        if msg.is_data() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

/// The same loop through `StreamExt::next` and `SinkExt::send` (which flushes each message).
async fn websock_sink(tcp: TcpStream) -> Result<(), websock::Error> {
    echo_send(&mut websock_accept(tcp).await?, websock::Message::is_data).await
}

async fn websock_accept(
    tcp: TcpStream,
) -> Result<websock::tokio::WebSocketStream<TcpStream>, websock::Error> {
    websock::tokio::accept_with(tcp, websock_config(), |_| {
        Ok(websock::proto::handshake::server::Accept::new())
    })
    .await?
    .websocket()
    .ok_or(websock::Error::ConnectionClosed)
}

/// Tuned, not what a user writes (labelled `websock-tokio-tuned`): the loop queues replies with
/// the sans-IO connection and answers every message already buffered before `recv` waits.
async fn websock_tokio_tuned(tcp: TcpStream) -> Result<(), websock::Error> {
    use websock::{Event, Message};
    let mut ws = websock_accept(tcp).await?;
    let high_water = ws.connection().config().write_buffer_high_water;
    while let Some(msg) = ws.recv().await {
        let msg = msg?;
        if msg.is_data() {
            ws.connection_mut().send(msg)?;
        }
        while let Some(ev) = ws.connection_mut().poll_event() {
            match ev {
                Event::Message(m) if m.is_data() => ws.connection_mut().send(m)?,
                Event::Message(Message::Close(_)) | Event::Closed(_) => break,
                _ => {}
            }
            if ws.connection().transmit_len() >= high_water {
                ws.flush().await?;
            }
        }
    }
    Ok(())
}

/// The blocking adapter as a user writes it: `recv`, then `send`.
fn websock_sync(tcp: std::net::TcpStream) -> Result<(), websock::Error> {
    use websock::Error;
    let _ = tcp.set_nodelay(true);
    let mut ws = websock::sync::accept_with(tcp, websock_config(), |_| {
        Ok(websock::proto::handshake::server::Accept::new())
    })?
    .websocket()
    .ok_or(Error::ConnectionClosed)?;
    loop {
        let msg = match ws.recv() {
            Ok(m) => m,
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        };
        if msg.is_data() {
            ws.send(msg)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stream + Sink peers

/// Echoes data messages of a `Stream + Sink` WebSocket the way `StreamExt::forward` does:
/// `start_send` for each message the stream has ready, `poll_flush` once it has no more.
async fn echo_forward<W, M, E>(ws: &mut W, is_data: impl Fn(&M) -> bool) -> Result<(), E>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    let mut pending: Option<M> = None;
    let mut unflushed = false;
    let r = poll_fn(|cx| loop {
        if pending.is_some() {
            ready!(Pin::new(&mut *ws).poll_ready(cx))?;
            Pin::new(&mut *ws).start_send(pending.take().expect("pending"))?;
            unflushed = true;
        }
        match Pin::new(&mut *ws).poll_next(cx) {
            Poll::Ready(Some(Ok(m))) => {
                if is_data(&m) {
                    pending = Some(m);
                }
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Pending => {
                if unflushed {
                    ready!(Pin::new(&mut *ws).poll_flush(cx))?;
                    unflushed = false;
                }
                return Poll::Pending;
            }
        }
    })
    .await;
    let _ = ws.flush().await;
    r
}

/// Echoes data messages of a `Stream + Sink` WebSocket as READMEs write it: `next`, then
/// `SinkExt::send` (which flushes) for each data message.
async fn echo_send<W, M, E>(ws: &mut W, is_data: impl Fn(&M) -> bool) -> Result<(), E>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    use futures_util::StreamExt;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if is_data(&msg) {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

async fn tungstenite(tcp: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await?;
    echo_forward(&mut ws, |m: &tokio_tungstenite::tungstenite::Message| {
        m.is_binary() || m.is_text()
    })
    .await
}

/// As tokio-websockets' README writes its echo server: `next`, then `SinkExt::send`.
async fn tokio_websockets(tcp: TcpStream) -> Result<(), tokio_websockets::Error> {
    let (_req, mut ws) = tokio_websockets::ServerBuilder::new()
        .limits(tokio_websockets::Limits::default().max_payload_len(Some(MAX_MESSAGE)))
        .accept(tcp)
        .await?;
    echo_send(&mut ws, |m: &tokio_websockets::Message| {
        m.is_binary() || m.is_text()
    })
    .await
}

/// As sockudo-ws's README and `simple_echo` example write it: a `WebSocketStream` with a
/// `Config`, `next`, then `SinkExt::send` for each data message. The handshake is the crate's
/// own (`WebSocketServer::<Http1>::accept_raw`), which keeps bytes read past the request head.
/// `Config::default()` otherwise: no compression, and its heartbeat (a ping after 30 s without
/// input, closed after 120 s idle) stays on, as a user gets it.
async fn sockudo_ws(tcp: TcpStream) -> Result<(), sockudo_ws::Error> {
    use sockudo_ws::{server::WebSocketServer, Config, Http1, Message};
    let config = Config::builder().max_payload_length(MAX_MESSAGE).build();
    let (mut ws, _) = WebSocketServer::<Http1>::new(config)
        .accept_raw(tcp)
        .await?;
    echo_send(&mut ws, |m: &Message| m.is_text() || m.is_binary()).await
}

// ---------------------------------------------------------------------------------------------
// wtx: frames, not messages, as its WebSocket server example writes it. `read_frame` collects
// fragmented messages, answers pings and the close itself; `write_frame` is one vectored write.

async fn wtx(tcp: TcpStream) -> wtx::Result<()> {
    use wtx::collection::Vector;
    use wtx::web_socket::{OpCode, WebSocketAcceptor, WebSocketPayloadOrigin};
    // No compression (`()`) unless one is configured; the limit is per frame.
    let mut ws = WebSocketAcceptor::default().accept(tcp).await?;
    ws.set_max_payload_len(MAX_MESSAGE);
    let (mut common, mut reader, mut writer) = ws.split_mut();
    let mut buffer = Vector::new();
    loop {
        let mut frame = reader
            .read_frame(&mut buffer, &mut common, WebSocketPayloadOrigin::Adaptive)
            .await?;
        match frame.op_code() {
            OpCode::Binary | OpCode::Text => writer.write_frame(&mut common, &mut frame).await?,
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fastwebsockets: its server handshake needs hyper (feature `upgrade`); it is answered here by
// hand, as for the `tcp` ceiling, and the socket handed over with `after_handshake`.

async fn fastwebsockets(mut tcp: TcpStream) -> Result<(), fastwebsockets::WebSocketError> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let rest = answer_handshake(&mut tcp).await?;
    if !rest.is_empty() {
        // after_handshake cannot take bytes already read; the load generator waits for the 101.
        return Err(io::Error::other("frames before the 101").into());
    }
    let mut ws = WebSocket::after_handshake(tcp, Role::Server);
    ws.set_max_message_size(MAX_MESSAGE);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tcp: the ceiling

async fn tcp_copy(mut tcp: TcpStream) -> io::Result<()> {
    let rest = answer_handshake(&mut tcp).await?;
    tcp.write_all(&rest).await?;
    // The buffer comes with the first bytes, so an idle connection holds none.
    tcp.readable().await?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        tcp.write_all(&buf[..n]).await?;
    }
}

/// Reads the upgrade request, answers 101 with the accept key; returns bytes read past the head.
async fn answer_handshake<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 16 << 10 {
            return Err(io::Error::other("request head too long"));
        }
        buf.reserve(1024);
        if io.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(&buf[..end])
        .map_err(|e| io::Error::other(e.to_string()))?;
    let key = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .map(|h| h.value)
        .ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    io.write_all(response.as_bytes()).await?;
    Ok(buf[end..].to_vec())
}

fn accept_key(key: &[u8]) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

// ---------------------------------------------------------------------------------------------

const KINDS: [&str; 10] = [
    "websock-tokio",
    "websock-sink",
    "websock-tokio-tuned",
    "websock-sync",
    "tokio-tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "sockudo-ws",
    "wtx",
    "tcp",
];

fn usage() -> ! {
    eprintln!(
        "usage: servers --kind {} [--addr 127.0.0.1:9001]",
        KINDS.join("|")
    );
    std::process::exit(2);
}

/// The listening socket, the same for every kind: SO_REUSEADDR and a backlog of 4096 (the
/// usual defaults, 128 or 1024, overflow when hundreds of clients connect at once).
fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s.into())
}

fn main() {
    let mut kind = None;
    let mut addr: SocketAddr = "127.0.0.1:9001".parse().expect("addr");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--kind" => kind = args.next(),
            "--addr" => {
                addr = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--help" | "-h" => usage(),
            _ => usage(),
        }
    }
    let kind = kind.unwrap_or_else(|| usage());
    if !KINDS.contains(&kind.as_str()) {
        usage();
    }

    let listener = listen(addr).expect("bind");
    if kind == "websock-sync" {
        eprintln!("{kind} listening on {addr}");
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || note_error(websock_sync(stream)));
        }
        return;
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = TcpListener::from_std(listener).expect("listener");
        eprintln!("{kind} listening on {addr}");
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(c) => c,
                Err(_) => continue,
            };
            let _ = tcp.set_nodelay(true);
            match kind.as_str() {
                "websock-tokio" => {
                    tokio::spawn(async move { note_error(websock_tokio(tcp).await) })
                }
                "websock-sink" => tokio::spawn(async move { note_error(websock_sink(tcp).await) }),
                "websock-tokio-tuned" => {
                    tokio::spawn(async move { note_error(websock_tokio_tuned(tcp).await) })
                }
                "tokio-tungstenite" => {
                    tokio::spawn(async move { note_error(tungstenite(tcp).await) })
                }
                "fastwebsockets" => {
                    tokio::spawn(async move { note_error(fastwebsockets(tcp).await) })
                }
                "tokio-websockets" => {
                    tokio::spawn(async move { note_error(tokio_websockets(tcp).await) })
                }
                "sockudo-ws" => tokio::spawn(async move { note_error(sockudo_ws(tcp).await) }),
                "wtx" => tokio::spawn(async move { note_error(wtx(tcp).await) }),
                _ => tokio::spawn(async move { note_error(tcp_copy(tcp).await) }),
            };
        }
    });
}
