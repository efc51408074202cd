//! Clients of both adapters through proxies run inside the test on loopback: an HTTP `CONNECT`
//! proxy and a SOCKS5 proxy (std threads), each logging the tunnels it opened, the targets it
//! was asked for and the credentials it saw, in front of a blocking echo server. Covers plain
//! tunnels, credentials right and wrong, refusals, a proxy that never answers, and `wss://`
//! through a tunnel.
#![cfg(all(feature = "sync", feature = "tokio"))]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use websock::proto::handshake::client::ClientRequest;
use websock::proxy::{Proxy, ProxyChoice, ProxyError};
use websock::{Config, Error, Message};

/// What a test proxy saw.
#[derive(Default)]
struct Log {
    tunnels: AtomicUsize,
    targets: Mutex<Vec<String>>,
    credentials: Mutex<Vec<String>>,
}

impl Log {
    fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
    fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
    fn credentials(&self) -> Vec<String> {
        self.credentials.lock().unwrap().clone()
    }
}

/// Serves each connection of a fresh loopback listener on its own thread.
fn serve<F>(handler: F) -> (SocketAddr, Arc<Log>)
where
    F: Fn(TcpStream, &Log) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Log::default());
    let handler = Arc::new(handler);
    let shared = log.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (handler, log) = (handler.clone(), shared.clone());
            std::thread::spawn(move || handler(tcp, &log));
        }
    });
    (addr, log)
}

/// A blocking WebSocket echo server.
fn echo_server() -> SocketAddr {
    serve(|tcp, _| {
        if let Ok(mut ws) = websock::sync::accept(tcp) {
            common::sync_echo(&mut ws);
        }
    })
    .0
}

/// Copies both ways until both sides are done.
fn relay(client: TcpStream, upstream: TcpStream) {
    let (mut c_in, mut u_out) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut u_out);
        let _ = u_out.shutdown(Shutdown::Write);
    });
    let (mut c_out, mut u_in) = (client, upstream);
    let _ = std::io::copy(&mut u_in, &mut c_out);
    let _ = c_out.shutdown(Shutdown::Write);
    let _ = up.join();
}

#[derive(Clone, Copy)]
enum HttpMode {
    Open,
    /// Requires `Proxy-Authorization: Basic base64(user:password)` with these.
    Auth(&'static str),
    Refuse(u16),
}

/// An HTTP `CONNECT` proxy.
fn http_proxy(mode: HttpMode) -> (SocketAddr, Arc<Log>) {
    serve(move |mut tcp, log| {
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 8192 || tcp.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let mut lines = head.split("\r\n");
        let request: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!(request[0], "CONNECT");
        assert_eq!(request[2], "HTTP/1.1");
        let target = request[1].to_string();
        log.targets.lock().unwrap().push(target.clone());
        let auth = lines.find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim().to_string())
        });
        if let Some(auth) = &auth {
            log.credentials.lock().unwrap().push(auth.clone());
        }
        let answer = |tcp: &mut TcpStream, status: &str| {
            let _ = tcp.write_all(
                format!(
                    "HTTP/1.1 {status}\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\
                     Content-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            );
        };
        match mode {
            HttpMode::Refuse(status) => return answer(&mut tcp, &format!("{status} Nope")),
            HttpMode::Auth(expected) => {
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(expected)
                );
                if auth.as_deref() != Some(want.as_str()) {
                    return answer(&mut tcp, "407 Proxy Authentication Required");
                }
            }
            HttpMode::Open => {}
        }
        let Ok(upstream) = TcpStream::connect(&target) else {
            return answer(&mut tcp, "502 Bad Gateway");
        };
        tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        log.tunnels.fetch_add(1, Ordering::SeqCst);
        relay(tcp, upstream);
    })
}

#[derive(Clone, Copy)]
enum SocksMode {
    Open,
    /// Requires username/password authentication with these.
    Auth(&'static str, &'static str),
    /// Answers the connect request with this reply code.
    Refuse(u8),
}

/// A SOCKS5 proxy (RFC 1928, RFC 1929).
fn socks5_proxy(mode: SocksMode) -> (SocketAddr, Arc<Log>) {
    fn read_n(tcp: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0; n];
        tcp.read_exact(&mut buf).ok()?;
        Some(buf)
    }
    fn handle(mut tcp: TcpStream, log: &Log, mode: SocksMode) -> Option<()> {
        let hello = read_n(&mut tcp, 2)?;
        assert_eq!(hello[0], 5);
        let methods = read_n(&mut tcp, hello[1] as usize)?;
        if let SocksMode::Auth(user, password) = mode {
            if !methods.contains(&2) {
                tcp.write_all(&[5, 0xff]).ok()?;
                return None;
            }
            tcp.write_all(&[5, 2]).ok()?;
            let ulen = read_n(&mut tcp, 2)?[1] as usize;
            let got_user = String::from_utf8(read_n(&mut tcp, ulen)?).unwrap();
            let plen = read_n(&mut tcp, 1)?[0] as usize;
            let got_password = String::from_utf8(read_n(&mut tcp, plen)?).unwrap();
            log.credentials.lock().unwrap().push(got_user.clone());
            if (got_user.as_str(), got_password.as_str()) != (user, password) {
                tcp.write_all(&[1, 1]).ok()?;
                return None;
            }
            tcp.write_all(&[1, 0]).ok()?;
        } else {
            assert!(methods.contains(&0));
            tcp.write_all(&[5, 0]).ok()?;
        }
        let req = read_n(&mut tcp, 4)?;
        assert_eq!(req[..3], [5, 1, 0]);
        let host = match req[3] {
            1 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(read_n(&mut tcp, 4)?).unwrap())
                .to_string(),
            3 => {
                let len = read_n(&mut tcp, 1)?[0] as usize;
                String::from_utf8(read_n(&mut tcp, len)?).unwrap()
            }
            4 => format!(
                "[{}]",
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(read_n(&mut tcp, 16)?).unwrap())
            ),
            other => panic!("address type {other}"),
        };
        let port = u16::from_be_bytes(read_n(&mut tcp, 2)?.try_into().unwrap());
        let target = format!("{host}:{port}");
        log.targets.lock().unwrap().push(target.clone());
        let reply = |code: u8| [5, code, 0, 1, 0, 0, 0, 0, 0, 0];
        if let SocksMode::Refuse(code) = mode {
            tcp.write_all(&reply(code)).ok()?;
            return None;
        }
        let Ok(upstream) = TcpStream::connect(&target) else {
            tcp.write_all(&reply(5)).ok()?;
            return None;
        };
        tcp.write_all(&reply(0)).ok()?;
        log.tunnels.fetch_add(1, Ordering::SeqCst);
        relay(tcp, upstream);
        Some(())
    }
    serve(move |tcp, log| {
        handle(tcp, log, mode);
    })
}

/// Accepts connections and never says a word (reads until the client gives up).
fn black_hole() -> SocketAddr {
    serve(|mut tcp, _| {
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink);
    })
    .0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One echo round trip and a clean close with the blocking client.
fn sync_round_trip(url: &str, proxy: ProxyChoice, config: Config) -> Result<(), Error> {
    let request = ClientRequest::new(url).unwrap();
    let mut ws = websock::sync::connect_with(
        websock::Connect::request(request)
            .config(config)
            .proxy(proxy),
    )?;
    ws.send("through the proxy")?;
    assert_eq!(ws.recv()?, Message::text("through the proxy"));
    ws.close(None)?;
    assert_eq!(ws.recv()?, Message::Close(None));
    Ok(())
}

/// One echo round trip and a clean close with the tokio client.
fn tokio_round_trip(url: &str, proxy: ProxyChoice, config: Config) -> Result<(), Error> {
    runtime().block_on(async {
        let request = ClientRequest::new(url).unwrap();
        let mut ws = websock::tokio::connect_with(
            websock::Connect::request(request)
                .config(config)
                .proxy(proxy),
        )
        .await?;
        ws.send("through the proxy").await?;
        assert_eq!(
            ws.recv().await.unwrap()?,
            Message::text("through the proxy")
        );
        ws.close(None).await?;
        assert_eq!(ws.recv().await.unwrap()?, Message::Close(None));
        Ok(())
    })
}

/// The errors both adapters report for `url` through `proxy`, and the longest time one took.
fn both_fail(url: &str, proxy: &Proxy, config: Config) -> ([Error; 2], Duration) {
    let start = Instant::now();
    let a = sync_round_trip(url, proxy.clone().into(), config.clone()).unwrap_err();
    let first = start.elapsed();
    let start = Instant::now();
    let b = tokio_round_trip(url, proxy.clone().into(), config).unwrap_err();
    ([a, b], first.max(start.elapsed()))
}

fn ws_url(echo: SocketAddr) -> String {
    format!("ws://127.0.0.1:{}/", echo.port())
}

/// `ws://` through an HTTP proxy: the proxy was asked for `CONNECT 127.0.0.1:PORT` and opened
/// one tunnel per connection; the echo works through it.
#[test]
fn http_proxy_tunnels_ws() {
    let echo = echo_server();
    let (addr, log) = http_proxy(HttpMode::Open);
    let proxy = Proxy::http(&format!("http://{addr}")).unwrap();
    let url = ws_url(echo);
    sync_round_trip(&url, proxy.clone().into(), Config::default()).unwrap();
    tokio_round_trip(&url, proxy.into(), Config::default()).unwrap();
    assert_eq!(log.tunnels(), 2);
    assert_eq!(log.targets(), vec![format!("127.0.0.1:{}", echo.port()); 2]);
    assert!(log.credentials().is_empty());
}

/// Basic authentication from the proxy URL's user info (percent-decoded): the proxy checks the
/// header; a wrong password is its 407 as a typed error and no tunnel.
#[test]
fn http_proxy_basic_auth() {
    let echo = echo_server();
    let (addr, log) = http_proxy(HttpMode::Auth("alice:s:cret@1"));
    let url = ws_url(echo);
    let good = Proxy::parse(&format!("http://alice:s%3Acret%401@{addr}")).unwrap();
    sync_round_trip(&url, good.clone().into(), Config::default()).unwrap();
    tokio_round_trip(&url, good.into(), Config::default()).unwrap();
    assert_eq!(log.tunnels(), 2);
    assert_eq!(log.credentials(), vec!["Basic YWxpY2U6czpjcmV0QDE="; 2]);

    let wrong = Proxy::parse(&format!("http://alice:wrong@{addr}")).unwrap();
    let (errors, _) = both_fail(&url, &wrong, Config::default());
    for e in errors {
        assert!(
            matches!(e, Error::Proxy(ProxyError::Refused { status: 407 })),
            "{e:?}"
        );
        assert!(e.to_string().contains("407"), "{e}");
    }
    // No credentials at all: the same refusal.
    let none = Proxy::http(&addr.to_string()).unwrap();
    let (errors, _) = both_fail(&url, &none, Config::default());
    for e in errors {
        assert!(
            matches!(e, Error::Proxy(ProxyError::Refused { status: 407 })),
            "{e:?}"
        );
    }
    assert_eq!(log.tunnels(), 2);
}

/// SOCKS5 without authentication: an IP target goes as an address, a host name as a name that
/// the proxy resolves (`socks5h://` and `socks5://` alike).
#[test]
fn socks5_tunnels_ws() {
    let echo = echo_server();
    let (addr, log) = socks5_proxy(SocksMode::Open);
    let port = echo.port();
    for scheme in ["socks5", "socks5h"] {
        let proxy = Proxy::parse(&format!("{scheme}://{addr}")).unwrap();
        sync_round_trip(&ws_url(echo), proxy.clone().into(), Config::default()).unwrap();
        tokio_round_trip(&ws_url(echo), proxy.clone().into(), Config::default()).unwrap();
        let by_name = format!("ws://localhost:{port}/");
        sync_round_trip(&by_name, proxy.clone().into(), Config::default()).unwrap();
        tokio_round_trip(&by_name, proxy.into(), Config::default()).unwrap();
    }
    assert_eq!(log.tunnels(), 8);
    let ip = format!("127.0.0.1:{port}");
    let name = format!("localhost:{port}");
    let round = [ip.clone(), ip, name.clone(), name];
    assert_eq!(log.targets(), [round.clone(), round].concat());
}

/// SOCKS5 with username/password (RFC 1929): right credentials tunnel; a wrong password and
/// missing credentials are typed errors, with no tunnel.
#[test]
fn socks5_username_password() {
    let echo = echo_server();
    let (addr, log) = socks5_proxy(SocksMode::Auth("bob", "pa:ss"));
    let url = ws_url(echo);
    let good = Proxy::socks5(&format!("socks5://bob:pa%3Ass@{addr}")).unwrap();
    sync_round_trip(&url, good.clone().into(), Config::default()).unwrap();
    tokio_round_trip(&url, good.into(), Config::default()).unwrap();
    assert_eq!(log.tunnels(), 2);
    // Credentials can also be set on a proxy built without them.
    let built = Proxy::socks5(&addr.to_string())
        .unwrap()
        .with_credentials("bob", "pa:ss");
    sync_round_trip(&url, built.into(), Config::default()).unwrap();
    assert_eq!(log.tunnels(), 3);

    let wrong = Proxy::socks5(&format!("socks5://bob:nope@{addr}")).unwrap();
    let (errors, elapsed) = both_fail(&url, &wrong, Config::default());
    for e in errors {
        assert!(matches!(e, Error::Proxy(ProxyError::AuthRejected)), "{e:?}");
    }
    let none = Proxy::socks5(&addr.to_string()).unwrap();
    let (errors, elapsed2) = both_fail(&url, &none, Config::default());
    for e in errors {
        assert!(
            matches!(e, Error::Proxy(ProxyError::NoAcceptableAuth)),
            "{e:?}"
        );
    }
    assert!(elapsed.max(elapsed2) < Duration::from_secs(2));
    assert_eq!(log.tunnels(), 3);
    assert_eq!(log.credentials(), vec!["bob"; 5]);
}

/// Refusals are typed errors that arrive at once, not after the handshake timeout: HTTP 403,
/// SOCKS5 replies 0x02 (not allowed by ruleset) and 0x05 (connection refused).
#[test]
fn refusing_proxies_fail_fast() {
    let echo = echo_server();
    let url = ws_url(echo);
    let config = Config::default().handshake_timeout(Duration::from_secs(10));

    let (addr, log) = http_proxy(HttpMode::Refuse(403));
    let (errors, elapsed) = both_fail(
        &url,
        &Proxy::http(&addr.to_string()).unwrap(),
        config.clone(),
    );
    for e in errors {
        assert!(
            matches!(e, Error::Proxy(ProxyError::Refused { status: 403 })),
            "{e:?}"
        );
    }
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(log.tunnels(), 0);
    assert_eq!(log.targets().len(), 2);

    for code in [0x02, 0x05] {
        let (addr, log) = socks5_proxy(SocksMode::Refuse(code));
        let proxy = Proxy::socks5(&addr.to_string()).unwrap();
        let (errors, elapsed) = both_fail(&url, &proxy, config.clone());
        for e in errors {
            assert!(
                matches!(&e, Error::Proxy(ProxyError::Socks5(c)) if *c == code),
                "{e:?}"
            );
        }
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(log.tunnels(), 0);
    }
}

/// A proxy that accepts the TCP connection and never answers fails within the handshake
/// timeout, as HTTP and as SOCKS5 proxy.
#[test]
fn silent_proxy_times_out() {
    let echo = echo_server();
    let hole = black_hole();
    let timeout = Duration::from_millis(300);
    let config = Config::default().handshake_timeout(timeout);
    for proxy in [
        Proxy::http(&hole.to_string()).unwrap(),
        Proxy::socks5(&hole.to_string()).unwrap(),
    ] {
        let start = Instant::now();
        let (errors, longest) = both_fail(&ws_url(echo), &proxy, config.clone());
        for e in errors {
            assert!(matches!(e, Error::Proxy(ProxyError::Timeout)), "{e:?}");
        }
        assert!(start.elapsed() >= timeout * 2, "{:?}", start.elapsed());
        assert!(longest < Duration::from_secs(3), "{longest:?}");
    }
}

/// The sans-IO pieces compose by hand too: connect to the proxy, `open_tunnel`, then the
/// client handshake over the tunnel.
#[test]
fn open_tunnel_composes() {
    let echo = echo_server();
    let (addr, log) = socks5_proxy(SocksMode::Open);
    let proxy = Proxy::socks5(&addr.to_string()).unwrap();
    let timeout = Duration::from_secs(5);

    let mut tcp = TcpStream::connect(addr).unwrap();
    websock::proxy::open_tunnel(&mut tcp, &proxy, "127.0.0.1", echo.port(), timeout).unwrap();
    let request = ClientRequest::new(&ws_url(echo)).unwrap();
    let mut ws = websock::sync::client(tcp, request, Config::default()).unwrap();
    ws.send("by hand").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("by hand"));

    runtime().block_on(async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        websock::proxy::open_tunnel_async(&mut tcp, &proxy, "127.0.0.1", echo.port(), timeout)
            .await
            .unwrap();
        let request = ClientRequest::new(&ws_url(echo)).unwrap();
        let mut ws = websock::tokio::client(tcp, request, Config::default())
            .await
            .unwrap();
        ws.send("by hand").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("by hand"));
    });
    assert_eq!(log.tunnels(), 2);
}

/// Loopback targets never go through an environment proxy, so plain `connect` (which reads the
/// environment) and `ProxyChoice::FromEnv` reach a local server whatever the environment says;
/// `ProxyChoice::Direct` ignores it.
#[test]
fn loopback_is_direct() {
    let echo = echo_server();
    let url = ws_url(echo);
    let mut ws = websock::sync::connect(&url).unwrap();
    ws.send("direct").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("direct"));
    for choice in [ProxyChoice::FromEnv, ProxyChoice::Direct] {
        sync_round_trip(&url, choice.clone(), Config::default()).unwrap();
        tokio_round_trip(&url, choice, Config::default()).unwrap();
    }
}

#[cfg(feature = "rustls")]
mod tls {
    use super::*;

    use crate::common::tls_configs as configs;

    /// A blocking `wss://` echo server.
    fn tls_echo_server(config: Arc<rustls::ServerConfig>) -> SocketAddr {
        serve(move |tcp, _| {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            if let Ok(mut ws) = websock::sync::accept(rustls::StreamOwned::new(conn, tcp)) {
                crate::common::sync_echo(&mut ws);
            }
        })
        .0
    }

    /// `wss://` through an HTTP proxy and a SOCKS5 proxy, both adapters: TLS runs end to end
    /// through the tunnel and is verified against the target's name.
    #[test]
    fn wss_through_proxies() {
        let (server_cfg, client_cfg) = configs();
        let echo = tls_echo_server(server_cfg);
        let url = format!("wss://localhost:{}/secure", echo.port());
        let (http_addr, http_log) = http_proxy(HttpMode::Open);
        let (socks_addr, socks_log) = socks5_proxy(SocksMode::Open);
        for proxy in [
            Proxy::http(&http_addr.to_string()).unwrap(),
            Proxy::socks5(&socks_addr.to_string()).unwrap(),
        ] {
            let request = ClientRequest::new(&url).unwrap();
            let mut ws = websock::sync::connect_with(
                websock::Connect::request(request)
                    .config(Config::default())
                    .tls(client_cfg.clone())
                    .proxy(proxy.clone().into()),
            )
            .unwrap();
            ws.send("over tls").unwrap();
            assert_eq!(ws.recv().unwrap(), Message::text("over tls"));
            ws.close(None).unwrap();
            assert_eq!(ws.recv().unwrap(), Message::Close(None));

            runtime().block_on(async {
                let request = ClientRequest::new(&url).unwrap();
                let mut ws = websock::tokio::connect_with(
                    websock::Connect::request(request)
                        .config(Config::default())
                        .tls(client_cfg.clone())
                        .proxy(proxy.into()),
                )
                .await
                .unwrap();
                ws.send("over tls").await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("over tls"));
                ws.close(None).await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), Message::Close(None));
            });
        }
        let target = format!("localhost:{}", echo.port());
        for log in [http_log, socks_log] {
            assert_eq!(log.tunnels(), 2);
            assert_eq!(log.targets(), vec![target.clone(); 2]);
        }
    }
}
