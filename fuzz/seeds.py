#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (run from anywhere; overwrites them).

Seeds are small on purpose: the RFC 6455 examples (5.7, 1.2/1.3), one frame of each kind,
fragmented and close frames, the headers of 256-byte and 64 KiB frames, and handshakes.
What the fuzzers grow goes to fuzz/corpus-grown/ (git-ignored), never here.
"""
import base64
import hashlib
import os
import random
import shutil
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def mask(key, payload):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload=b"", fin=True, key=None, rsv=0, length=None):
    """One frame; `length` overrides the header's length (for header-only seeds)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mbit = 0x80 if key else 0
    if n <= 125:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if key:
        return head + bytes(key) + mask(key, payload)
    return head + payload


KEY = [0x37, 0xFA, 0x21, 0x3D]


def frames(key):
    """(name, bytes) of frame sequences, masked with `key` (or not, for None)."""
    f = lambda *a, **k: frame(*a, key=key, **k)
    return [
        ("text_hello", f(1, b"Hello")),
        ("text_fragmented", f(1, b"Hel", fin=False) + f(0, b"lo")),
        ("text_frag_ping_between", f(1, b"Hel", fin=False) + f(9, b"x") + f(0, b"lo")),
        ("text_utf8_split", f(1, "h\u00e9".encode()[:2], fin=False) + f(0, "h\u00e9\u20ac".encode()[2:])),
        ("text_invalid_utf8", f(1, b"ok\xed\xa0\x80")),
        ("ping_hello", f(9, b"Hello")),
        ("pong_hello", f(10, b"Hello")),
        ("binary_256", f(2, bytes(range(256)))),
        ("binary_64k_header", f(2, b"\x00" * 32, length=65536)),
        ("binary_too_big_header", f(2, length=65537)),
        ("binary_fragmented", f(2, b"\x01\x02", fin=False) + f(0, b"\x03", fin=False) + f(0, b"\x04")),
        ("close_1000_bye", f(8, b"\x03\xe8bye")),
        ("close_empty", f(8)),
        ("close_1005_invalid", f(8, b"\x03\xed")),
        ("close_one_byte", f(8, b"\x03")),
        ("text_then_close", f(1, b"Hello") + f(8, b"\x03\xe8")),
        ("continuation_alone", f(0, b"x")),
        ("rsv1_text", f(1, b"x", rsv=4)),
        ("reserved_opcode", f(3, b"")),
        ("nonminimal_len", (b"\x82\xfe\x00\x05" + bytes(key) + b"abcde") if key else b"\x82\x7e\x00\x05abcde"),
    ]


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as fh:
        fh.write(data)


RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
)


def accept_key(key):
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    return base64.b64encode(hashlib.sha1(key + guid).digest())


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)

    # frame_header: raw frames (only the header matters; payloads kept short).
    for name, data in frames(None) + [(n + "_masked", d) for n, d in frames(KEY)]:
        write("frame_header", name, data[:16])
    write("frame_header", "rfc_masked_hello", bytes.fromhex("818537fa213d7f9f4d5158"))
    write("frame_header", "len64_overflow", b"\x82\x7f\x80" + b"\x00" * 7)

    # connection_*: `00` (no ops, one chunk) + frames; a few with ops and flags.
    for target, key in (("connection_server", KEY), ("connection_client", None)):
        for name, data in frames(key):
            write(target, name, b"\x00" + data)
        hello = frame(1, b"Hello", key=key)
        frag = frame(1, b"Hel", fin=False, key=key) + frame(0, b"lo", key=key)
        # Byte-at-a-time, then a send_text, a fragment pair and a close(1000).
        write(target, "ops_bytewise_send_close", bytes([0x05, 0x00, 0x81, 0xD1, 0xD9, 0xC0]) + hello)
        # Streaming mode, 3-byte chunks.
        write(target, "streaming_fragmented", bytes([0x11, 0x02]) + frag + frame(8, b"\x03\xe8", key=key))
        # Auto-pong off, EOF at the end.
        write(target, "no_autopong_eof", bytes([0x60]) + frame(9, b"ping", key=key))
        # Zero-copy I/O; time passes (4 s, then 16 s twice: keepalive ping, then idle timeout).
        write(target, "zero_copy_timers", bytes([0x84, 0x02, 0xFC, 0xFF, 0xFF]) + hello + frame(9, b"p", key=key))
        # Wrong masking for the role.
        write(target, "wrong_mask", b"\x00" + frame(1, b"Hello", key=None if key else KEY))

    # connection_*: the opening handshake inside the connection (wire bytes starting with `GET `
    # for the server, `HTTP/` for the client, whose request carries the key [7] * 16).
    hello_masked = frame(1, b"Hello", key=KEY)
    write("connection_server", "handshake_then_frames", b"\x00" + RFC_REQUEST + hello_masked)
    write("connection_server", "handshake_bytewise", bytes([0x01, 0x00]) + RFC_REQUEST + hello_masked)
    write("connection_server", "handshake_page",
          b"\x00" + RFC_REQUEST.replace(b"GET /chat", b"GET /page"))
    write("connection_server", "handshake_bad_version",
          b"\x00" + RFC_REQUEST.replace(b"Version: 13", b"Version: 8"))
    write("connection_server", "handshake_timeout", bytes([0x02, 0x05, 0xFF]) + RFC_REQUEST[:40])
    client_accept = accept_key(base64.b64encode(bytes([7] * 16)))
    client_101 = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + client_accept + b"\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    )
    write("connection_client", "handshake_then_frames", b"\x00" + client_101 + frame(1, b"Hello"))
    write("connection_client", "handshake_bytewise", bytes([0x01, 0x00]) + client_101 + frame(1, b"Hi"))
    write("connection_client", "handshake_refused",
          b"\x00HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    write("connection_client", "handshake_wrong_accept", b"\x00" + RFC_RESPONSE)

    # handshake_request: [chunk seed] + request.
    write("handshake_request", "rfc_request", b"\x00" + RFC_REQUEST)
    write("handshake_request", "rfc_request_bytewise", b"\x01" + RFC_REQUEST)
    write("handshake_request", "rfc_request_chunks", b"\x07" + RFC_REQUEST + frame(1, b"Hi", key=KEY))
    write(
        "handshake_request",
        "request_extensions",
        b"\x05" + RFC_REQUEST.replace(
            b"\r\n\r\n",
            b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        ),
    )
    write("handshake_request", "request_http10_post", b"\x00" + RFC_REQUEST.replace(b"GET", b"POST").replace(b"1.1", b"1.0"))

    # handshake_response: [chunk seed] + response, for the key of sixteen 7s and protocol "chat".
    good = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(base64.b64encode(bytes([7] * 16))) + b"\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n\r\n"
    )
    write("handshake_response", "accepted", b"\x00" + good)
    write("handshake_response", "accepted_bytewise_frames", b"\x01" + good + frame(1, b"Hi"))
    write("handshake_response", "rfc_response_wrong_key", b"\x03" + RFC_RESPONSE)
    write(
        "handshake_response",
        "rejected_403_body",
        b"\x09HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nnope!",
    )
    write(
        "handshake_response",
        "accepted_with_extension",
        b"\x00" + good.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
    )

    # extensions_header: header values.
    for i, v in enumerate(
        [
            b"permessage-deflate; client_max_window_bits",
            b"permessage-deflate; client_no_context_takeover; server_max_window_bits=10, x-foo",
            b'x-foo; a="1"; b, bar ; c = d',
            b", x-webkit-deflate-frame ,",
            b"a; b=\"x\\\"y\"",
            b"one\ntwo; p=1",
        ]
    ):
        write("extensions_header", f"value{i}", v)

    # deflate: [flags] [windows] [level] + frames as the peer sends them (see the target's docs).
    # flags bit 0/1 server/client no_context_takeover, bit 2 the receiver is the server.
    def deflate(data, wbits=15):
        c = zlib.compressobj(1, zlib.DEFLATED, -wbits)
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    for server in (False, True):
        key = KEY if server else None
        flags = 4 if server else 0
        side = "server" if server else "client"
        hello = bytes.fromhex("f248cdc9c90700")  # RFC 7692 7.2.3.1
        packed = deflate(bytes(range(40)) * 5)
        seeds = {
            "rfc_hello": frame(1, hello, key=key, rsv=4),
            # 7.2.3.2: the second "Hello" refers back into the first one's window.
            "rfc_takeover": frame(1, hello, key=key, rsv=4)
            + frame(1, bytes.fromhex("f200110000"), key=key, rsv=4),
            # 7.2.3.3: fragmented, RSV1 only on the first frame.
            "rfc_fragmented": frame(1, bytes.fromhex("f248cd"), fin=False, key=key, rsv=4)
            + frame(0, bytes.fromhex("c9c90700"), key=key),
            # 7.2.3.4: a stored (uncompressed) block.
            "rfc_stored": frame(1, bytes.fromhex("0005000000ff48656c6c6f"), key=key, rsv=4),
            "binary_ping_between": frame(2, packed[:6], fin=False, key=key, rsv=4)
            + frame(9, b"ping", key=key)
            + frame(0, packed[6:], key=key),
            "bomb": frame(2, deflate(b"\x00" * 200000), key=key, rsv=4),
            "plain_text": frame(1, b"not compressed", key=key),
            "invalid_utf8": frame(1, deflate(b"ok \xce\xff"), key=key, rsv=4),
            "bad_deflate": frame(1, b"\xff\xff\xff\xff", key=key, rsv=4),
            "control_rsv1": frame(9, b"", key=key, rsv=4),
        }
        for name, data in seeds.items():
            write("deflate", f"{side}_{name}", bytes([flags, 0xFF, 1]) + data)
        write(
            "deflate",
            f"{side}_window9_no_takeover",
            bytes([flags | 3, 0x11, 6]) + frame(1, deflate(b"websocket " * 40, 9), key=key, rsv=4),
        )

    # Structured targets (mask, roundtrip): any bytes decode; a few fixed pseudo-random inputs.
    rng = random.Random(6455)
    for target in ("mask", "roundtrip"):
        for size in (16, 64, 256, 1024):
            write(target, f"random{size}", bytes(rng.randrange(256) for _ in range(size)))

    # utf8: [chunk seed] + text.
    for i, v in enumerate(
        [
            "h\u00e9llo, w\u00f6rld \u2713 \U0001d11e".encode(),
            b"ok \xce\xff",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe2\x82",
            "\u65e5\u672c\u8a9e".encode() * 4,
        ]
    ):
        write("utf8", f"text{i}", bytes([i]) + v)


if __name__ == "__main__":
    main()
