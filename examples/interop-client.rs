//! Interop client: runs websock's client against another implementation's echo server and
//! prints one line per case, `PASS name` or `FAIL name: why`; exits 1 if any case failed.
//!
//! ```text
//! cargo run --release --example interop-client -- --url ws://HOST:PORT/ [--sync] [--deflate]
//! ```
//!
//! The server must echo text and binary messages as the same type, answer pings, echo a close
//! frame's code and reason, and answer the text message `close-me` by closing with 4002 and the
//! reason `server-close` (tests/interop/{python,node}/server.* do). The tokio adapter by default,
//! `--sync` for the blocking one. `--deflate` offers permessage-deflate and then expects it
//! negotiated; without it, the server's response must carry no extension.
//! Used by tests/interop/run.sh.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use websock::Connect;
use websock::{CloseFrame, Config, DataKind, Error, Message};

/// The size of the large message case.
const BIG: usize = 16 << 20;

/// Makes `config` offer permessage-deflate: THE single place that knows websock's deflate API
/// (feature `deflate`).
#[cfg(feature = "deflate")]
fn offer_deflate(config: Config) -> Result<Config, String> {
    Ok(config.deflate(websock::proto::ext::deflate::DeflateConfig::enabled()))
}

#[cfg(not(feature = "deflate"))]
fn offer_deflate(_: Config) -> Result<Config, String> {
    Err("websock was built without the deflate feature".into())
}

fn config(deflate: bool) -> Result<Config, String> {
    let config = Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        // Nothing in these cases waits longer than this for the peer; a silent peer fails the
        // case instead of hanging the run.
        .idle_timeout(Some(Duration::from_secs(20)));
    if deflate {
        offer_deflate(config)
    } else {
        Ok(config)
    }
}

/// What the cases need from a connection, over either adapter.
trait Ws {
    fn send(&mut self, msg: Message) -> Result<(), Error>;
    /// Sends `parts` as the fragments of one message, with a ping between the first two.
    fn send_fragments(&mut self, kind: DataKind, parts: &[Bytes], ping: &[u8])
        -> Result<(), Error>;
    /// The next message; `None` once the connection is over.
    fn recv(&mut self) -> Result<Option<Message>, Error>;
    fn close(&mut self, frame: CloseFrame) -> Result<(), Error>;
}

struct TokioWs {
    rt: Rc<tokio::runtime::Runtime>,
    ws: websock::tokio::WebSocketStream<websock::tokio::MaybeTls>,
}

impl Ws for TokioWs {
    fn send(&mut self, msg: Message) -> Result<(), Error> {
        self.rt.block_on(self.ws.send(msg))
    }
    fn send_fragments(
        &mut self,
        kind: DataKind,
        parts: &[Bytes],
        ping: &[u8],
    ) -> Result<(), Error> {
        for (i, part) in parts.iter().enumerate() {
            let conn = self.ws.connection_mut();
            conn.send_fragment(kind, part.clone(), i + 1 == parts.len())?;
            if i == 0 {
                conn.send_ping(Bytes::copy_from_slice(ping))?;
            }
            self.rt.block_on(self.ws.flush())?;
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.rt.block_on(self.ws.recv()).transpose()
    }
    fn close(&mut self, frame: CloseFrame) -> Result<(), Error> {
        self.rt.block_on(self.ws.close(Some(frame)))
    }
}

struct SyncWs {
    ws: websock::sync::WebSocket<websock::sync::MaybeTls>,
}

impl Ws for SyncWs {
    fn send(&mut self, msg: Message) -> Result<(), Error> {
        self.ws.send(msg)
    }
    fn send_fragments(
        &mut self,
        kind: DataKind,
        parts: &[Bytes],
        ping: &[u8],
    ) -> Result<(), Error> {
        for (i, part) in parts.iter().enumerate() {
            let conn = self.ws.connection_mut();
            conn.send_fragment(kind, part.clone(), i + 1 == parts.len())?;
            if i == 0 {
                conn.send_ping(Bytes::copy_from_slice(ping))?;
            }
            self.ws.flush()?;
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<Option<Message>, Error> {
        match self.ws.recv() {
            Ok(m) => Ok(Some(m)),
            Err(Error::ConnectionClosed) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn close(&mut self, frame: CloseFrame) -> Result<(), Error> {
        self.ws.close(Some(frame))
    }
}

struct Client {
    url: String,
    deflate: bool,
    /// The tokio runtime, or `None` for the blocking adapter.
    rt: Option<Rc<tokio::runtime::Runtime>>,
}

impl Client {
    /// The connection and the extensions it negotiated.
    fn connect(&self) -> Result<(Box<dyn Ws>, Vec<&'static str>), String> {
        let options = Connect::new(&self.url).map_err(|e| format!("bad URL: {e}"))?;
        let options = options.config(config(self.deflate)?);
        let connected = match &self.rt {
            Some(rt) => rt
                .block_on(websock::tokio::connect_with(options))
                .map(|ws| {
                    let names = ws.connection().extensions().names();
                    let rt = rt.clone();
                    (Box::new(TokioWs { rt, ws }) as Box<dyn Ws>, names)
                }),
            None => websock::sync::connect_with(options).map(|ws| {
                let names = ws.connection().extensions().names();
                (Box::new(SyncWs { ws }) as Box<dyn Ws>, names)
            }),
        };
        connected.map_err(|e| format!("connect: {e}"))
    }
}

type Outcome = Result<(), String>;

fn err(e: Error) -> String {
    e.to_string()
}

fn describe(m: &Message) -> String {
    match m {
        Message::Text(t) if t.len() <= 60 => format!("text {:?}", t.as_str()),
        Message::Text(t) => format!("text of {} bytes", t.len()),
        Message::Binary(b) if b.len() <= 16 => format!("binary {:?}", &b[..]),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}

/// The next text or binary message (pings and pongs skipped).
fn next_data(ws: &mut dyn Ws) -> Result<Message, String> {
    loop {
        match ws.recv().map_err(err)? {
            Some(m) if m.is_data() => return Ok(m),
            Some(Message::Close(f)) => return Err(format!("peer closed: {f:?}")),
            Some(_) => {}
            None => return Err("connection ended".into()),
        }
    }
}

/// Sends `msg` and expects the same message back.
fn echo(ws: &mut dyn Ws, msg: Message) -> Outcome {
    ws.send(msg.clone()).map_err(err)?;
    let back = next_data(ws)?;
    if back == msg {
        Ok(())
    } else {
        Err(format!("sent {}, got {}", describe(&msg), describe(&back)))
    }
}

fn check_extensions(names: &[&str], deflate: bool) -> Outcome {
    match (deflate, names) {
        (false, []) => Ok(()),
        (true, ["permessage-deflate"]) => Ok(()),
        (false, got) => Err(format!("none offered, server accepted {got:?}")),
        (true, got) => Err(format!("offered permessage-deflate, negotiated {got:?}")),
    }
}

fn fragmented(ws: &mut dyn Ws, kind: DataKind) -> Outcome {
    // Text fragments split the code points of "é" and "✓" between frames.
    let parts: Vec<Bytes> = match kind {
        DataKind::Text => vec![
            Bytes::from_static(b"frag-1 caf\xc3"),
            Bytes::from_static(b"\xa9 frag-2 \xe2\x9c"),
            Bytes::from_static(b"\x93 frag-3"),
        ],
        DataKind::Binary => vec![
            Bytes::from_static(&[0, 1, 2]),
            Bytes::from(vec![0xAB; 70_000]),
            Bytes::from_static(&[253, 254, 255]),
        ],
    };
    let whole: Vec<u8> = parts.concat();
    let ping = b"ping-between-fragments";
    ws.send_fragments(kind, &parts, ping).map_err(err)?;
    let mut pong = false;
    loop {
        match ws.recv().map_err(err)? {
            Some(Message::Pong(p)) if &p[..] == ping => pong = true,
            Some(m) if m.is_data() => {
                let ok = match (&m, kind) {
                    (Message::Text(t), DataKind::Text) => t.as_bytes() == &whole[..],
                    (Message::Binary(b), DataKind::Binary) => b[..] == whole[..],
                    _ => false,
                };
                if !ok {
                    return Err(format!("got {}", describe(&m)));
                }
                return if pong {
                    Ok(())
                } else {
                    Err("echo came back before the pong to the ping sent between fragments".into())
                };
            }
            Some(Message::Close(f)) => return Err(format!("peer closed: {f:?}")),
            Some(_) => {}
            None => return Err("connection ended".into()),
        }
    }
}

fn ping_pong(ws: &mut dyn Ws) -> Outcome {
    let payload = Bytes::from_static(b"interop \x00\xff ping");
    ws.send(Message::Ping(payload.clone())).map_err(err)?;
    loop {
        match ws.recv().map_err(err)? {
            Some(Message::Pong(p)) if p == payload => return Ok(()),
            Some(Message::Pong(p)) => return Err(format!("pong payload {:?}", &p[..])),
            Some(Message::Ping(_)) => {}
            Some(m) => return Err(format!("expected a pong, got {}", describe(&m))),
            None => return Err("connection ended".into()),
        }
    }
}

/// Reads until the connection is over; the close frame seen on the way must be `want`'s.
fn expect_close(ws: &mut dyn Ws, want: &CloseFrame) -> Outcome {
    let mut seen = None;
    loop {
        match ws.recv() {
            Ok(Some(Message::Close(f))) => seen = Some(f),
            Ok(Some(m)) if seen.is_none() => {
                if m.is_data() {
                    return Err(format!("expected a close, got {}", describe(&m)));
                }
            }
            Ok(Some(m)) => return Err(format!("{} after the close", describe(&m))),
            Ok(None) => break,
            Err(e) => return Err(format!("{e} (close seen: {seen:?})")),
        }
    }
    match seen {
        Some(Some(f)) if f.code == want.code && f.reason == want.reason => Ok(()),
        other => Err(format!("expected {want:?}, got {other:?}")),
    }
}

fn run(client: &Client, report: &mut dyn FnMut(&str, Outcome)) {
    let mut conn: Option<Box<dyn Ws>> = None;
    let connect = |report: &mut dyn FnMut(&str, Outcome), conn: &mut Option<Box<dyn Ws>>| {
        if conn.is_none() {
            match client.connect() {
                Ok((ws, accepted)) => {
                    report("handshake", check_extensions(&accepted, client.deflate));
                    *conn = Some(ws);
                }
                Err(e) => report("handshake", Err(e)),
            }
        }
    };

    type Case = fn(&mut dyn Ws) -> Outcome;
    let cases: [(&str, Case); 8] = [
        ("text", |ws| echo(ws, Message::text("héllo ✓ websock"))),
        ("binary", |ws| {
            echo(ws, Message::binary(vec![0u8, 1, 2, 253, 254, 255]))
        }),
        ("binary 16 MiB", |ws| {
            let big: Vec<u8> = (0..BIG).map(|i| (i * 7 + i / 4099) as u8).collect();
            echo(ws, Message::binary(big))
        }),
        ("text 16 MiB", |ws| {
            let big: String = "websock ✓ ".repeat(BIG / 12);
            echo(ws, Message::text(big))
        }),
        ("fragmented text", |ws| fragmented(ws, DataKind::Text)),
        ("fragmented binary", |ws| fragmented(ws, DataKind::Binary)),
        ("ping/pong", ping_pong),
        ("close 4001 echoed", |ws| {
            let frame = CloseFrame::new(4001, "client-close");
            ws.close(frame.clone()).map_err(err)?;
            expect_close(ws, &frame)
        }),
    ];
    for (name, case) in cases {
        connect(report, &mut conn);
        let Some(ws) = conn.as_mut() else {
            report(name, Err("no connection".into()));
            continue;
        };
        let result = case(ws.as_mut());
        if result.is_err() {
            conn = None; // a fresh connection for the next case
        }
        report(name, result);
    }

    // A close started by the server: it closes with 4002 when asked.
    let name = "server close 4002";
    match client.connect() {
        Err(e) => report(name, Err(e)),
        Ok((mut ws, _)) => {
            let result = ws
                .send(Message::text("close-me"))
                .map_err(err)
                .and_then(|()| expect_close(ws.as_mut(), &CloseFrame::new(4002, "server-close")));
            report(name, result);
        }
    }
}

fn main() {
    let mut url = None;
    let mut sync = false;
    let mut deflate = false;
    let mut args = std::env::args().skip(1);
    let usage = "usage: interop-client --url ws://HOST:PORT/ [--sync] [--deflate]";
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next(),
            "--sync" => sync = true,
            "--deflate" => deflate = true,
            "-h" | "--help" => {
                println!("{usage}");
                return;
            }
            other => {
                eprintln!("unknown argument {other:?}; {usage}");
                std::process::exit(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let rt = if sync {
        None
    } else {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Some(Rc::new(rt))
    };
    let client = Client { url, deflate, rt };

    let mut failed = 0;
    let mut report = |name: &str, outcome: Outcome| {
        match outcome {
            Ok(()) => println!("PASS {name}"),
            Err(why) => {
                failed += 1;
                println!("FAIL {name}: {}", why.replace('\n', " "));
            }
        }
        // One line per case, as it happens, for a reader (run.sh) on a pipe.
        use std::io::Write;
        let _ = std::io::stdout().flush();
    };
    let started = Instant::now();
    run(&client, &mut report);
    eprintln!(
        "interop-client: {} adapter, {failed} failed, {:.1?}",
        if sync { "sync" } else { "tokio" },
        started.elapsed()
    );
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
