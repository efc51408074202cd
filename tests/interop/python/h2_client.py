"""WebSockets over HTTP/2 (RFC 8441) against websock's echo server, by hand with Python's `h2`.

An independent implementation: the HTTP/2 layer is the `h2` package (sans-IO), and the
WebSocket frames on each stream are built and parsed here, not by websock. Over h2c (prior
knowledge) by default, or TLS with ALPN h2 with --tls (certificate not verified).

    python h2_client.py --addr 127.0.0.1:9001 [--tls] [--expect-deflate 0|1]

Prints `PASS name` / `FAIL name: why` per case (tests/interop/lib.sh's run_cases reads them)
and exits 1 if any failed.
"""

import argparse
import os
import socket
import ssl
import struct
import sys
import time
import zlib

import h2.config
import h2.connection
import h2.events
import h2.settings

ENABLE_CONNECT_PROTOCOL = 0x8


def ws_frame(opcode, payload, fin=True, rsv1=False):
    """One masked client frame."""
    head = bytearray([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(0x80 | n)
    elif n < 65536:
        head.append(0x80 | 126)
        head += struct.pack("!H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack("!Q", n)
    mask = os.urandom(4)
    head += mask
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(head) + body


def parse_frames(buf):
    """Complete server frames at the front of `buf`: ([(fin, rsv1, opcode, payload)], rest)."""
    out = []
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        if b1 & 0x80:
            raise ValueError("server frame is masked")
        n, at = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < at + n:
            break
        out.append((bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, bytes(buf[at:at + n])))
        buf = buf[at + n:]
    return out, buf


class Stream:
    def __init__(self):
        self.headers = None
        self.buf = b""
        self.frames = []
        self.ended = False
        self.reset = None


class H2:
    """One HTTP/2 connection to the server, pumped by hand."""

    def __init__(self, host, port, tls):
        sock = socket.create_connection((host, port), timeout=10)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=host)
            if sock.selected_alpn_protocol() != "h2":
                raise RuntimeError(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
        self.sock = sock
        self.authority = f"{host}:{port}"
        self.scheme = "https" if tls else "http"
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.streams = {}
        self.remote_settings = {}
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, until, timeout=10.0):
        """Reads and handles events until `until()` is true; False on timeout."""
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return False
            if not data:
                raise ConnectionError("server closed the connection")
            for ev in self.conn.receive_data(data):
                self.on_event(ev)
            self.flush()
        return True

    def on_event(self, ev):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            for code, change in ev.changed_settings.items():
                self.remote_settings[int(code)] = change.new_value
        elif isinstance(ev, h2.events.ResponseReceived):
            self.streams[ev.stream_id].headers = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            s = self.streams[ev.stream_id]
            s.buf += ev.data
            frames, s.buf = parse_frames(s.buf)
            s.frames += frames
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            self.streams[ev.stream_id].ended = True
        elif isinstance(ev, h2.events.StreamReset):
            self.streams[ev.stream_id].reset = ev.error_code

    def wait_settings(self):
        return self.pump(lambda: ENABLE_CONNECT_PROTOCOL in self.remote_settings)

    def connect(self, path="/", protocol="websocket", extra=(), version="13"):
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = Stream()
        headers = [
            (":method", "CONNECT"),
            (":protocol", protocol),
            (":scheme", self.scheme),
            (":path", path),
            (":authority", self.authority),
            ("sec-websocket-version", version),
            ("origin", f"{self.scheme}://{self.authority}"),
        ] + list(extra)
        self.conn.send_headers(sid, headers)
        self.flush()
        return sid

    def open(self, **kw):
        sid = self.connect(**kw)
        s = self.streams[sid]
        if not self.pump(lambda: s.headers is not None or s.reset is not None):
            raise RuntimeError("no response to the extended CONNECT")
        if s.headers is None or s.headers.get(":status") != "200":
            raise RuntimeError(f"CONNECT answered {s.headers} (reset {s.reset})")
        return sid

    def send(self, sid, data):
        """Sends `data` on the stream, waiting for flow-control window as needed."""
        while data:
            window = min(
                self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size
            )
            if window <= 0:
                before = self.conn.local_flow_control_window(sid)
                self.pump(lambda: self.conn.local_flow_control_window(sid) > before, 10)
                continue
            self.conn.send_data(sid, data[:window])
            data = data[window:]
            self.flush()

    def recv_message(self, sid, timeout=10.0):
        """The next message on the stream: (opcode, payload, compressed); control frames too."""
        s = self.streams[sid]
        parts, first = [], None
        while True:
            if not self.pump(lambda: s.frames or s.ended or s.reset is not None, timeout):
                raise TimeoutError("no frame from the server")
            if not s.frames:
                raise ConnectionError(f"stream ended (reset {s.reset})")
            fin, rsv1, op, payload = s.frames.pop(0)
            if op >= 8:
                return op, payload, False
            if first is None:
                first = (op, rsv1)
            parts.append(payload)
            if fin:
                return first[0], b"".join(parts), first[1]


def inflate(data):
    d = zlib.decompressobj(wbits=-15)
    return d.decompress(data + b"\x00\x00\xff\xff")


def deflate(data):
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--expect-deflate", default="1")
    a = ap.parse_args()
    host, port = a.addr.rsplit(":", 1)
    port = int(port)
    failed = 0

    def case(name, fn):
        nonlocal failed
        try:
            note = fn()
            print(f"PASS {name}" + (f": {note}" if note else ""), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is a FAIL line
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)

    c = H2(host, port, a.tls)

    def settings():
        if not c.wait_settings():
            raise RuntimeError(f"no SETTINGS_ENABLE_CONNECT_PROTOCOL in {c.remote_settings}")
        assert c.remote_settings[ENABLE_CONNECT_PROTOCOL] == 1
        return "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1"

    case("h2 settings", settings)
    sid = None

    def open_ws():
        nonlocal sid
        sid = c.open()
        h = c.streams[sid].headers
        assert "sec-websocket-accept" not in h, h
        return f"200 on stream {sid}"

    case("h2 extended CONNECT", open_ws)

    def echo(op, payload):
        c.send(sid, ws_frame(op, payload))
        got = c.recv_message(sid)
        assert got[:2] == (op, payload), (got[0], len(got[1]))

    case("h2 text", lambda: echo(1, "héllo over h2".encode()))
    case("h2 binary", lambda: echo(2, bytes(range(256)) * 4))
    case("h2 64 KiB", lambda: echo(2, os.urandom(64 << 10)))
    case("h2 1 MiB (flow control)", lambda: echo(2, os.urandom(1 << 20)))

    def fragmented():
        c.send(sid, ws_frame(1, b"frag", fin=False) + ws_frame(0, b"ment", fin=False)
               + ws_frame(0, b"ed"))
        got = c.recv_message(sid)
        assert got[:2] == (1, b"fragmented"), got

    case("h2 fragmented", fragmented)

    def ping():
        c.send(sid, ws_frame(9, b"are you there"))
        got = c.recv_message(sid)
        assert got[:2] == (10, b"are you there"), got

    case("h2 ping", ping)

    def close():
        c.send(sid, ws_frame(8, struct.pack("!H", 4001) + b"bye"))
        op, payload, _ = c.recv_message(sid)
        assert (op, payload[:2]) == (8, struct.pack("!H", 4001)), (op, payload)
        s = c.streams[sid]
        if not c.pump(lambda: s.ended or s.reset is not None):
            raise RuntimeError("no END_STREAM after the close")
        assert s.reset is None, f"RST_STREAM {s.reset}"
        return "close 4001 echoed, then END_STREAM"

    case("h2 close", close)

    def multiplexed():
        sids = [c.open(path=f"/m{i}") for i in range(20)]
        for i, s in enumerate(sids):
            c.send(s, ws_frame(1, f"stream {i}".encode()))
        for i, s in enumerate(sids):
            got = c.recv_message(s)
            assert got[:2] == (1, f"stream {i}".encode()), got
        for s in sids:
            c.send(s, ws_frame(8, struct.pack("!H", 1000)))
            assert c.recv_message(s)[0] == 8
        return "20 WebSockets on one HTTP/2 connection"

    case("h2 multiplexed", multiplexed)

    def deflated():
        s = c.open(extra=[("sec-websocket-extensions", "permessage-deflate")])
        agreed = c.streams[s].headers.get("sec-websocket-extensions", "")
        want = a.expect_deflate == "1"
        assert ("permessage-deflate" in agreed) == want, agreed
        text = b"compress me " * 100
        if want:
            c.send(s, ws_frame(1, deflate(text), rsv1=True))
            op, payload, compressed = c.recv_message(s)
            assert compressed and op == 1, (op, compressed)
            assert inflate(payload) == text
        else:
            c.send(s, ws_frame(1, text))
            assert c.recv_message(s)[:2] == (1, text)
        c.send(s, ws_frame(8, struct.pack("!H", 1000)))
        c.recv_message(s)
        return f"negotiated {agreed!r}"

    case("h2 permessage-deflate", deflated)

    def refusal():
        s = c.connect(protocol="chat")
        st = c.streams[s]
        c.pump(lambda: st.headers is not None or st.reset is not None)
        assert st.headers and st.headers[":status"] == "400", st.headers
        s = c.connect(version="8")
        st = c.streams[s]
        c.pump(lambda: st.headers is not None or st.reset is not None)
        assert st.headers and st.headers[":status"] != "200", st.headers
        assert st.headers.get("sec-websocket-version") == "13", st.headers
        return "bad :protocol 400; version 8 refused with Sec-WebSocket-Version: 13"

    case("h2 refusals", refusal)

    def reset_mid_message():
        s = c.open()
        whole = ws_frame(2, os.urandom(4096))
        c.send(s, whole[:1000])
        c.conn.reset_stream(s, error_code=8)  # CANCEL
        c.flush()
        # The connection and its other streams are unharmed.
        s2 = c.open()
        c.send(s2, ws_frame(1, b"still here"))
        assert c.recv_message(s2)[:2] == (1, b"still here")
        return "RST_STREAM mid-frame; another stream echoes after it"

    case("h2 RST_STREAM", reset_mid_message)

    def bad_frame():
        s = c.open()
        c.send(s, b"\x81\x05hello")  # unmasked client frame: 1002
        op, payload, _ = c.recv_message(s)
        assert op == 8 and payload[:2] == struct.pack("!H", 1002), (op, payload)
        return "unmasked frame closed with 1002"

    case("h2 protocol error", bad_frame)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
