//! Every state transition of the connection, the handshake states included, driven through the
//! public API with virtual time: what each input does in each state, what is written, and that
//! `Event::Closed` comes exactly once.

mod sans_io;

use sans_io::{drain, events};
use std::time::{Duration, Instant};

use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::proto::handshake::Response;
use websock::{
    Agreed, ApiMisuse, CloseCode, CloseFrame, Config, Connection, ConnectionError, Event,
    HandshakeError, Message, ProtocolError, Role, State, Timeout, TransportVerdict,
};

/// RFC 6455 1.3's request, with a subprotocol offer.
const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked "Hello" (RFC 6455 5.7).
const HELLO: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn open(role: Role, now: Instant) -> Connection {
    let c = Connection::open(role, Config::default(), Agreed::default(), now);
    match role {
        Role::Client => c.with_mask_source(Box::new(|| [1, 2, 3, 4])),
        Role::Server => c,
    }
}

// --------------------------------------------------------------------------------------------
// Server handshake states

#[test]
fn server_request_then_accept_then_frames_in_the_same_read() {
    let now = Instant::now();
    let mut s = Connection::server(Config::default(), now);
    assert_eq!(s.state(), State::Handshake);
    assert!(s.is_handshaking());
    let mut input = REQUEST.to_vec();
    input.extend_from_slice(HELLO);
    // Fed one byte at a time: the request is handed out once, the frame bytes after it kept.
    for b in &input {
        s.receive(std::slice::from_ref(b));
    }
    let Some(Event::Request(req)) = s.poll_event() else {
        panic!("no request")
    };
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.protocols(), ["chat", "superchat"]);
    assert_eq!(
        s.poll_event(),
        None,
        "nothing happens until the request is answered"
    );
    assert_eq!(s.send_text("early"), Err(ApiMisuse::HandshakeInProgress));
    s.accept(Accept::new().protocol("chat")).unwrap();
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.protocol(), Some("chat"));
    assert_eq!(
        events(&mut s),
        [Event::Open, Event::Message(Message::text("Hello"))]
    );
    let (out, shutdown) = drain(&mut s);
    let out = text(&out);
    assert!(
        out.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{out}"
    );
    assert!(out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(out.contains("Sec-WebSocket-Protocol: chat\r\n"));
    assert!(!shutdown);
    assert_eq!(s.accept(Accept::new()), Err(ApiMisuse::NoRequestToAnswer));
}

#[test]
fn server_responds_with_a_page_and_ends_cleanly() {
    let now = Instant::now();
    let mut s = Connection::server(Config::default(), now);
    s.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let Some(Event::Request(req)) = s.poll_event() else {
        panic!("no request")
    };
    assert!(!req.is_upgrade());
    s.respond(Response::reject(200, "a page")).unwrap();
    assert_eq!(events(&mut s), [Event::Closed(Ok(None))]);
    assert_eq!(s.last_error(), None, "a served page is not an error");
    let (out, shutdown) = drain(&mut s);
    let out = text(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\na page"), "{out}");
    assert!(shutdown);
    assert_eq!(s.state(), State::Closed);
    s.receive_eof();
    assert!(s.is_terminated());
    assert_eq!(s.state(), State::Terminated);
}

/// A request that breaks RFC 6455 is refused whatever the user decides, with the error's
/// status. HTTP/1.0 gets 400, as RFC 6455 4.2.1 asks (505 is for an unsupported major version,
/// RFC 9110 15.6.6).
#[test]
fn server_refuses_a_request_that_breaks_the_rfc_whatever_the_user_decides() {
    let table = [
        (
            "Version: 13",
            "Version: 8",
            HandshakeError::UnsupportedVersion,
            "426 Upgrade Required",
        ),
        (
            "HTTP/1.1",
            "HTTP/1.0",
            HandshakeError::NotHttp11,
            "400 Bad Request",
        ),
    ];
    for (from, to, want, status) in table {
        let bad = String::from_utf8(REQUEST.to_vec())
            .unwrap()
            .replacen(from, to, 1);
        let mut s = Connection::server(Config::default(), Instant::now());
        s.receive(bad.as_bytes());
        assert!(matches!(s.poll_event(), Some(Event::Request(_))));
        s.accept(Accept::new()).unwrap();
        let err = ConnectionError::Handshake(want);
        assert_eq!(events(&mut s), [Event::Closed(Err(err.clone()))]);
        assert_eq!(s.last_error(), Some(&err));
        let (out, shutdown) = drain(&mut s);
        let out = text(&out);
        assert!(out.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{out}");
        if err == ConnectionError::Handshake(HandshakeError::UnsupportedVersion) {
            assert!(out.contains("Sec-WebSocket-Version: 13\r\n"));
        }
        assert!(shutdown);
        assert_eq!(s.send_text("x"), Err(ApiMisuse::SendAfterClose));
    }
}

#[test]
fn malformed_or_oversized_heads_are_answered_and_end_the_connection() {
    let cases: [(&[u8], u16); 2] = [
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (&[b'a'; 20 << 10], 431),
    ];
    for (input, status) in cases {
        let mut s = Connection::server(Config::default(), Instant::now());
        s.receive(input);
        let evs = events(&mut s);
        assert!(
            matches!(&evs[..], [Event::Closed(Err(ConnectionError::Handshake(e)))] if e.status() == status),
            "{evs:?}"
        );
        let (out, shutdown) = drain(&mut s);
        assert!(text(&out).starts_with(&format!("HTTP/1.1 {status} ")));
        assert!(shutdown);
    }
}

#[test]
fn server_handshake_timeout_says_408_and_terminates() {
    let now = Instant::now();
    let config = Config::default().handshake_timeout(Duration::from_secs(3));
    let mut s = Connection::server(config, now);
    assert_eq!(
        s.poll_timeout(),
        Some((now + Duration::from_secs(3)).into())
    );
    s.receive(b"GET / HTTP/1.1\r\nHost:");
    s.handle_timeout(now + Duration::from_secs(2));
    assert_eq!(events(&mut s), []);
    s.handle_timeout(now + Duration::from_secs(3));
    let err = ConnectionError::Timeout(Timeout::Handshake);
    assert_eq!(events(&mut s), [Event::Closed(Err(err))]);
    let (out, shutdown) = drain(&mut s);
    assert!(text(&out).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert!(shutdown);
    assert!(s.is_terminated());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn eof_during_the_handshake() {
    for role in [Role::Server, Role::Client] {
        let mut c = match role {
            Role::Server => Connection::server(Config::default(), Instant::now()),
            Role::Client => {
                let req = ClientRequest::new("ws://h/").unwrap();
                Connection::client(req, Config::default(), Instant::now()).unwrap()
            }
        };
        c.receive(b"GET");
        c.receive_eof();
        let err = ConnectionError::Handshake(HandshakeError::UnexpectedEof);
        assert_eq!(events(&mut c), [Event::Closed(Err(err))], "{role:?}");
        drain(&mut c);
        assert!(c.is_terminated());
    }
}

#[test]
fn answering_is_for_a_server_with_a_request_waiting() {
    let mut s = Connection::server(Config::default(), Instant::now());
    assert_eq!(s.accept(Accept::new()), Err(ApiMisuse::NoRequestToAnswer));
    let mut c = open(Role::Client, Instant::now());
    assert_eq!(
        c.respond(Response::new(200)),
        Err(ApiMisuse::NoRequestToAnswer)
    );
}

// --------------------------------------------------------------------------------------------
// Client handshake states

/// A 101 for `ClientRequest::fixed_key([7; 16])`, as a server of ours answers it.
fn answer_for(request: &[u8], accept: Accept, config: Config) -> (Vec<u8>, Connection) {
    let mut s = Connection::server(config, Instant::now());
    s.receive(request);
    assert!(matches!(s.poll_event(), Some(Event::Request(_))));
    s.accept(accept).unwrap();
    assert_eq!(s.poll_event(), Some(Event::Open));
    let (out, _) = drain(&mut s);
    (out, s)
}

#[test]
fn client_sends_its_request_and_opens_on_the_101() {
    let now = Instant::now();
    let req = ClientRequest::new("ws://example.com/chat")
        .unwrap()
        .protocol("chat")
        .fixed_key([7; 16]);
    let mut c = Connection::client(req, Config::default(), now).unwrap();
    assert_eq!(c.state(), State::Handshake);
    assert_eq!(c.send_text("early"), Err(ApiMisuse::HandshakeInProgress));
    let (request, _) = drain(&mut c);
    assert!(text(&request).starts_with("GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
    let (mut response, mut s) =
        answer_for(&request, Accept::new().protocol("chat"), Config::default());
    // A frame right behind the 101, in the same read.
    s.send_text("first").unwrap();
    response.extend_from_slice(&drain(&mut s).0);
    c.receive(&response);
    assert_eq!(
        events(&mut c),
        [Event::Open, Event::Message(Message::text("first"))]
    );
    assert_eq!(c.protocol(), Some("chat"));
    assert!(c.response_headers().is_some());
    assert_eq!(c.state(), State::Open);
}

#[test]
fn client_fails_on_a_wrong_accept_or_a_refusal() {
    let req = || ClientRequest::new("ws://h/").unwrap().fixed_key([1; 16]);
    let mut c = Connection::client(req(), Config::default(), Instant::now()).unwrap();
    drain(&mut c);
    c.receive(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: wrong\r\n\r\n",
    );
    let err = ConnectionError::Handshake(HandshakeError::AcceptMismatch);
    assert_eq!(events(&mut c), [Event::Closed(Err(err))]);
    assert!(drain(&mut c).1, "the client closes its side");

    let mut c = Connection::client(req(), Config::default(), Instant::now()).unwrap();
    drain(&mut c);
    c.receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nno");
    assert_eq!(events(&mut c), [], "waits for the body");
    c.receive(b"pe");
    match events(&mut c).as_slice() {
        [Event::Closed(Err(ConnectionError::Handshake(HandshakeError::Rejected {
            status: 403,
            body,
            ..
        })))] => assert_eq!(&body[..], b"nope"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_handshake_timeout_writes_nothing_more() {
    let now = Instant::now();
    let req = ClientRequest::new("ws://h/").unwrap();
    let mut c = Connection::client(req, Config::default(), now).unwrap();
    drain(&mut c);
    c.handle_timeout(now + Config::default().handshake_timeout);
    let err = ConnectionError::Timeout(Timeout::Handshake);
    assert_eq!(events(&mut c), [Event::Closed(Err(err))]);
    assert_eq!(drain(&mut c), (vec![], true));
    assert!(c.is_terminated());
}

/// The client's config is given once: it offers what it enables and checks the answer against
/// it, and both ends compress.
#[cfg(feature = "deflate")]
#[test]
fn one_config_negotiates_deflate_end_to_end() {
    use websock::proto::config::DeflateConfig;
    let config = Config::default().deflate(DeflateConfig::enabled());
    let req = ClientRequest::new("ws://h/").unwrap();
    let mut c = Connection::client(req, config.clone(), Instant::now()).unwrap();
    let (request, _) = drain(&mut c);
    assert!(text(&request).contains("Sec-WebSocket-Extensions: permessage-deflate"));
    let (response, mut s) = answer_for(&request, Accept::new(), config);
    c.receive(&response);
    assert_eq!(events(&mut c), [Event::Open]);
    assert!(c.is_compressed() && s.is_compressed());
    let long = "compress me ".repeat(100);
    c.send_text(long.as_str()).unwrap();
    let (wire, _) = drain(&mut c);
    assert!(
        wire.len() < long.len() / 4,
        "compressed: {} bytes",
        wire.len()
    );
    s.receive(&wire);
    assert_eq!(events(&mut s), [Event::Message(Message::text(long))]);
}

// --------------------------------------------------------------------------------------------
// After the handshake

#[test]
fn local_close_then_peer_close_then_eof() {
    let now = Instant::now();
    let mut c = open(Role::Client, now);
    c.close(Some(CloseFrame::new(1000, "bye"))).unwrap();
    assert_eq!(c.state(), State::Closing);
    assert!(!c.can_send());
    drain(&mut c);
    // Data still arrives while closing, then the server's reply.
    c.receive(&[0x81, 0x02, b'h', b'i', 0x88, 0x02, 0x03, 0xe8]);
    assert_eq!(
        events(&mut c),
        [
            Event::Message(Message::text("hi")),
            Event::Closed(Ok(Some(CloseFrame::new(1000, ""))))
        ]
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        drain(&mut c),
        (vec![], false),
        "a client waits for the server's FIN"
    );
    c.receive_eof();
    assert_eq!(drain(&mut c), (vec![], true));
    assert_eq!(c.state(), State::Terminated);
}

#[test]
fn peer_close_is_echoed_and_a_server_shuts_down_first() {
    let mut s = open(Role::Server, Instant::now());
    s.receive(&[0x88, 0x82, 0, 0, 0, 0, 0x0f, 0xa0]); // 4000, masked with zeros
    assert_eq!(
        events(&mut s),
        [Event::Closed(Ok(Some(CloseFrame::new(4000, ""))))]
    );
    let (out, shutdown) = drain(&mut s);
    assert_eq!(out, [0x88, 0x02, 0x0f, 0xa0]);
    assert!(shutdown);
    assert_eq!(s.state(), State::Closed);
    assert!(!s.is_terminated(), "waits for the client's EOF");
    s.receive_eof();
    assert!(s.is_terminated());
}

#[test]
fn protocol_error_fails_once_and_closes_the_transport() {
    let mut s = open(Role::Server, Instant::now());
    s.receive(&[0x81, 0x00]); // unmasked from a client
    let err = ConnectionError::Protocol(ProtocolError::UnmaskedFrameFromClient);
    assert_eq!(events(&mut s), [Event::Closed(Err(err))]);
    let (out, shutdown) = drain(&mut s);
    assert_eq!(&out[..2], [0x88, 0x17]);
    assert!(shutdown);
    s.receive(HELLO);
    s.receive_eof();
    s.fail(CloseCode::POLICY_VIOLATION, "again").unwrap();
    assert_eq!(events(&mut s), [], "reported once");
    assert_eq!(drain(&mut s), (vec![], false));
    assert!(s.is_terminated());
}

/// The transport-failure rule, in the core: a live connection reports it (the adapter returns
/// the I/O error, no event), a closing one just ends; pending output is dropped either way.
#[test]
fn transport_failure_by_state() {
    let mut s = open(Role::Server, Instant::now());
    s.send_text("never written").unwrap();
    assert_eq!(s.transport_failed(), TransportVerdict::Report);
    assert_eq!(events(&mut s), []);
    assert_eq!(drain(&mut s), (vec![], false));
    assert!(s.is_terminated());

    let mut s = open(Role::Server, Instant::now());
    s.close(None).unwrap();
    assert_eq!(s.transport_failed(), TransportVerdict::Ignore);
    assert_eq!(
        events(&mut s),
        [Event::Closed(Err(ConnectionError::UnexpectedEof))]
    );
    assert_eq!(drain(&mut s), (vec![], false));
    assert!(s.is_terminated());

    let mut s = open(Role::Server, Instant::now());
    s.receive(&[0x88, 0x80, 0, 0, 0, 0]);
    events(&mut s);
    assert_eq!(s.transport_failed(), TransportVerdict::Ignore);
    assert_eq!(events(&mut s), []);
    assert!(s.is_terminated());
}

/// A close sent before any `handle_timeout` still arms its timer: the time comes from the
/// constructor.
#[test]
fn close_before_any_tick_still_times_out() {
    let now = Instant::now();
    let mut s = open(Role::Server, now);
    s.close(None).unwrap();
    let close_timeout = Config::default().close_timeout;
    assert_eq!(s.poll_timeout(), Some((now + close_timeout).into()));
    drain(&mut s);
    s.handle_timeout(now + close_timeout);
    let err = ConnectionError::Timeout(Timeout::Close);
    assert_eq!(events(&mut s), [Event::Closed(Err(err))]);
    assert_eq!(drain(&mut s), (vec![], true));
    assert!(s.is_terminated());
}

#[test]
fn closed_waits_for_eof_until_the_close_timeout() {
    let now = Instant::now();
    let mut s = open(Role::Server, now);
    s.receive(&[0x88, 0x80, 0, 0, 0, 0]);
    events(&mut s);
    drain(&mut s);
    assert_eq!(s.state(), State::Closed);
    assert_eq!(
        s.poll_timeout(),
        Some((now + Config::default().close_timeout).into())
    );
    s.handle_timeout(now + Config::default().close_timeout);
    assert_eq!(events(&mut s), [], "the close itself was clean");
    assert!(s.is_terminated());
}

#[test]
fn fail_from_our_side_reports_our_frame() {
    let mut c = open(Role::Client, Instant::now());
    c.fail(CloseCode::POLICY_VIOLATION, "go away").unwrap();
    assert_eq!(
        events(&mut c),
        [Event::Closed(Ok(Some(CloseFrame::new(1008, "go away"))))]
    );
    assert!(drain(&mut c).1);
    assert_eq!(c.state(), State::Closed);
    let mut s = Connection::server(Config::default(), Instant::now());
    assert_eq!(
        s.fail(CloseCode::POLICY_VIOLATION, "x"),
        Err(ApiMisuse::HandshakeInProgress)
    );
}

/// The example on `Connection`'s docs, run with a real clock (the core never reads one).
#[test]
fn connection_doc_example() {
    let mut server = open(Role::Server, Instant::now());
    server.receive(HELLO);
    assert_eq!(
        server.poll_event(),
        Some(Event::Message(Message::text("Hello")))
    );
    server.send_text("Hi").unwrap();
    assert_eq!(drain(&mut server), (vec![0x81, 2, b'H', b'i'], false));
    server.receive(&[0x88, 0x80, 0, 0, 0, 0]);
    assert_eq!(server.poll_event(), Some(Event::Closed(Ok(None))));
    assert_eq!(drain(&mut server), (vec![0x88, 0], true));
}
