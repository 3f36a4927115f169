"""RFC 6455 (and RFC 7692) on the receive side, frame by frame, with a
raw-socket client after a good handshake.

These tests pin the behaviour we want from the server's own frame parser:
every protocol failure is answered with a close frame carrying the right
code (never a bare TCP close), the bad data never reaches the child, and
the session is logged as closed_by=protocol with that code (never as
`network 1006 "connection lost"`).

The child is children/record.sh: it echoes each line and records it as
"LINE <text>" in $MARKER_DIR/events ("HUP" on SIGHUP, "EOF" at the end).
"""

import re
import socket
import struct
import zlib

import pytest

from conftest import (RawWS, child, close_payload, echo_check,
                      encode_frame, run, wait_until)

DEFLATE_HDR = {"Sec-WebSocket-Extensions": "permessage-deflate"}
RSV1, RSV2, RSV3 = 0x4, 0x2, 0x1            # encode_frame's rsv argument


# --------------------------------------------------------------------------
# helpers


def still_serves(srv):
    run(echo_check(srv, "alive after abuse", path="/after"), timeout=15)


def open_session(srv, raw_clients, path="/rfc", headers=None, timeout=None):
    """A raw client after a good handshake, with one message echoed (so the
    child runs and reads). Returns (client, response head)."""
    kw = {} if timeout is None else {"timeout": timeout}
    r = raw_clients(srv.port, **kw)
    status, head = r.handshake(path, headers=headers)
    assert status == 101, head
    r.send(encode_frame(0x1, b"first"))
    assert r.recv_message() == (0x1, b"first")
    return r, head


def recv_frame_rsv(r):
    """(fin, rsv, opcode, payload) of the next frame, or None at EOF."""
    if not r._fill(2):
        return None
    rsv = (r.buf[0] >> 4) & 7
    fr = r.recv_frame()
    if fr is None:
        return None
    return fr[0], rsv, fr[1], fr[2]


def expect_close_frame(r, code):
    """Reads frames until the server's close frame; asserts its code, answers
    it, and asserts that the server then closes the TCP connection."""
    seen = []
    for _ in range(10000):
        try:
            fr = r.recv_frame()
        except socket.timeout:
            raise AssertionError(
                f"no close frame within {r.sock.gettimeout()}s "
                f"(frames before: {seen[:5]})") from None
        assert fr is not None, (
            f"the server closed the TCP connection without a close frame "
            f"(wanted close {code}; frames before: {seen[:5]})")
        fin, op, payload = fr
        if op != 0x8:
            seen.append((op, payload[:40]))
            continue
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        assert got == code, (f"close frame with code {got} "
                             f"({payload[2:]!r}), wanted {code}")
        try:
            r.send(encode_frame(0x8, close_payload(code)))
        except OSError:
            pass
        assert r.wait_eof(), "no EOF after the server's close frame"
        return payload[2:]
    raise AssertionError("too many frames")


def expect_logged(srv, closed_by, code, count=1):
    lines = srv.wait_access(count)
    acc = lines[count - 1]
    assert (acc.get("closed_by"), acc.get("code")) == (closed_by, str(code)), (
        f"wanted closed_by={closed_by} code={code}: {acc['_line']}")
    return acc


def expect_protocol_failure(srv, r, markers, code):
    """The whole contract for a protocol failure."""
    expect_close_frame(r, code)
    acc = expect_logged(srv, "protocol", code)
    assert not (acc.get("closed_by") == "network" and acc.get("code") == "1006")
    # The child is told the session is over.
    assert markers.wait_line("events", "EOF"), markers.read("events")
    return acc


def ext_header(head):
    m = re.search(r"(?im)^sec-websocket-extensions:[ \t]*(.*?)[ \t]*$", head)
    return m.group(1) if m else None


def deflate_payload(comp, data):
    """One message's compressed payload per RFC 7692 (7.2.1)."""
    c = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert c.endswith(b"\x00\x00\xff\xff")
    return c[:-4]


def deflate_frames(comp, data, nfrag=1, opcode=0x1):
    c = deflate_payload(comp, data)
    step = max(1, -(-len(c) // nfrag))
    pieces = [c[i:i + step] for i in range(0, len(c), step)] or [b""]
    out = b""
    for i, p in enumerate(pieces):
        out += encode_frame(opcode if i == 0 else 0x0, p,
                            fin=(i == len(pieces) - 1),
                            rsv=RSV1 if i == 0 else 0)
    return out


def recv_message_rsv(r):
    """(opcode, rsv of the first frame, payload) of the next data message;
    control frames other than close are skipped."""
    parts, first = [], None
    for _ in range(100000):
        fr = recv_frame_rsv(r)
        assert fr is not None, "EOF while waiting for a message"
        fin, rsv, op, payload = fr
        assert op != 0x8, f"close frame {payload[:2].hex()} {payload[2:]!r}"
        if op in (0x9, 0xA):
            continue
        if first is None:
            first = (op, rsv)
        parts.append(payload)
        if fin:
            return first[0], first[1], b"".join(parts)
    raise AssertionError("too many frames")


def deflate_session(wsbridge, raw_clients, path="/deflate"):
    srv = wsbridge("--deflate", child("record.sh"))
    r = raw_clients(srv.port)
    status, head = r.handshake(path, headers=DEFLATE_HDR)
    assert status == 101, head
    ext = ext_header(head)
    assert ext is not None and "permessage-deflate" in ext, head
    return srv, r, ext


# --------------------------------------------------------------------------
# masking and lengths


def test_unmasked_client_frame_gets_1002(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x1, b"secret unmasked", mask=False))
    expect_protocol_failure(srv, r, markers, 1002)
    assert markers.lines("events")[1] == "LINE first"
    assert not any("secret" in ln for ln in markers.lines("events")), \
        markers.read("events")
    still_serves(srv)


@pytest.mark.parametrize("opcode", [0x9, 0xA, 0x8], ids=["ping", "pong",
                                                           "close"])
def test_control_frame_of_126_bytes_gets_1002(wsbridge, markers, raw_clients,
                                              opcode):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    payload = close_payload(1000, b"r" * 124) if opcode == 0x8 else b"p" * 126
    assert len(payload) == 126
    frame = encode_frame(opcode, payload)
    assert frame[1] & 0x7F == 126              # a 16-bit length
    r.send(frame)
    expect_protocol_failure(srv, r, markers, 1002)


def test_ping_of_125_bytes_is_answered(wsbridge, raw_clients):
    """The control: 125 bytes is the largest legal ping."""
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x9, b"q" * 125))
    for _ in range(100):
        fr = r.recv_frame()
        assert fr is not None, "EOF instead of a pong"
        if fr[1] == 0xA:
            assert fr[2] == b"q" * 125
            break
    else:
        raise AssertionError("no pong")


@pytest.mark.parametrize("opcode", [0x1, 0x2])
def test_64bit_length_with_top_bit_set_gets_1002(wsbridge, markers,
                                                 raw_clients, opcode):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(opcode, b"", length=(1 << 63) + 5))   # header only
    expect_protocol_failure(srv, r, markers, 1002)


@pytest.mark.parametrize("announced", [5000, 1 << 40])
def test_header_announcing_more_than_maxframesize_gets_1009_at_once(
        wsbridge, markers, raw_clients, announced):
    """The header alone is enough to refuse: 1009 comes before any payload
    is sent (the client sends none and waits a few seconds)."""
    srv = wsbridge("--maxframesize=1000", child("record.sh"))
    r, _ = open_session(srv, raw_clients, timeout=5)
    r.send(encode_frame(0x1, b"", length=announced))   # header + mask key
    expect_protocol_failure(srv, r, markers, 1009)


# --------------------------------------------------------------------------
# close frames


@pytest.mark.parametrize("code", [1012, 1013, 1014, 1000, 3000, 4999])
def test_valid_close_code_is_echoed(wsbridge, markers, raw_clients, code):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x8, close_payload(code, b"see you")))
    close = r.recv_close(reply=False)
    assert close is not None, "TCP closed without answering the close frame"
    assert close[0] == code, close
    assert r.wait_eof()
    acc = expect_logged(srv, "client", code)
    assert acc.get("reason") == "see you", acc["_line"]
    assert markers.wait_line("events", "EOF"), markers.read("events")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016,
                                  2000, 2999, 5000, 65535])
def test_invalid_close_code_gets_1002(wsbridge, markers, raw_clients, code):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x8, close_payload(code)))
    expect_protocol_failure(srv, r, markers, 1002)


def test_close_frame_of_one_byte_gets_1002(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x8, b"\x03"))
    expect_protocol_failure(srv, r, markers, 1002)


def test_close_reason_not_utf8_gets_1007(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x8, close_payload(1000, b"bad \xff reason")))
    expect_protocol_failure(srv, r, markers, 1007)


# --------------------------------------------------------------------------
# reserved bits and opcodes


@pytest.mark.parametrize("frame", [
    encode_frame(0x1, b"hello", rsv=RSV1),
    encode_frame(0x1, b"hello", rsv=RSV2),
    encode_frame(0x1, b"hello", rsv=RSV3),
    encode_frame(0x9, b"hello", rsv=RSV1),
    encode_frame(0x3, b"hello"),
    encode_frame(0x7, b"hello"),
    encode_frame(0xB, b"hello"),
    encode_frame(0xF, b"hello"),
], ids=["rsv1", "rsv2", "rsv3", "ping-rsv1", "opcode-3", "opcode-7",
        "opcode-b", "opcode-f"])
def test_reserved_bits_and_opcodes_without_deflate_get_1002(
        wsbridge, markers, raw_clients, frame):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(frame)
    expect_protocol_failure(srv, r, markers, 1002)
    assert "LINE hello" not in markers.lines("events")


def test_deflate_offered_but_not_asked_for_rsv1_gets_1002(wsbridge, markers,
                                                          raw_clients):
    """--deflate on the server, but this client did not negotiate it."""
    srv = wsbridge("--deflate", child("record.sh"))
    r, head = open_session(srv, raw_clients)
    assert ext_header(head) is None, head
    r.send(encode_frame(0x1, b"hello", rsv=RSV1))
    expect_protocol_failure(srv, r, markers, 1002)


# --------------------------------------------------------------------------
# permessage-deflate


@pytest.mark.parametrize("frame", [
    encode_frame(0x9, b"hello", rsv=RSV1),
    encode_frame(0x8, close_payload(1000), rsv=RSV1),
    encode_frame(0x1, b"hello", rsv=RSV2),
    encode_frame(0x1, b"hello", fin=False) + encode_frame(0x0, b"x",
                                                          rsv=RSV1),
], ids=["ping-rsv1", "close-rsv1", "text-rsv2", "continuation-rsv1"])
def test_deflate_bad_rsv_gets_1002(wsbridge, markers, raw_clients, frame):
    srv, r, _ = deflate_session(wsbridge, raw_clients)
    r.send(frame)
    expect_protocol_failure(srv, r, markers, 1002)


def test_deflate_raw_compressed_messages_round_trip(wsbridge, markers,
                                                    raw_clients):
    srv, r, ext = deflate_session(wsbridge, raw_clients)
    takeover = "client_no_context_takeover" not in ext
    comp = zlib.compressobj(wbits=-15)
    inflater = zlib.decompressobj(wbits=-15)
    texts = [
        "hello deflate " * 100,                      # one frame
        "second message, " + "abcdefgh" * 300,       # context carried over
        "x" * 200000,                                # many inflate rounds
        "héllo wörld — ünïcode " * 40,
    ]
    for i, text in enumerate(texts):
        if not takeover:
            comp = zlib.compressobj(wbits=-15)
        r.send(deflate_frames(comp, text.encode(), nfrag=1 + i % 3))
        op, rsv, payload = recv_message_rsv(r)
        assert op == 0x1
        assert rsv & RSV1, f"reply to message {i} not compressed (rsv={rsv})"
        assert not rsv & (RSV2 | RSV3)
        got = inflater.decompress(payload + b"\x00\x00\xff\xff")
        assert got.decode() == text, f"message {i}: {got[:60]!r}"
    # An uncompressed message (RSV1 clear) is fine too.
    r.send(encode_frame(0x1, b"plain in a deflate session"))
    op, rsv, payload = recv_message_rsv(r)
    if rsv & RSV1:
        payload = inflater.decompress(payload + b"\x00\x00\xff\xff")
    assert payload == b"plain in a deflate session"

    lines = markers.lines("events")
    assert lines[1:] == ["LINE " + t for t in texts] + [
        "LINE plain in a deflate session"], [ln[:60] for ln in lines]
    r.send(encode_frame(0x8, close_payload(1000)))
    close = r.recv_close(reply=False)
    assert close is not None and close[0] == 1000, close
    expect_logged(srv, "client", 1000)


def test_deflate_invalid_utf8_after_inflate_gets_1007(wsbridge, markers,
                                                      raw_clients):
    srv, r, _ = deflate_session(wsbridge, raw_clients)
    comp = zlib.compressobj(wbits=-15)
    r.send(deflate_frames(comp, b"fine"))
    op, rsv, payload = recv_message_rsv(r)
    assert op == 0x1
    r.send(deflate_frames(comp, b"bad \xff\xfe bytes" * 10))
    expect_protocol_failure(srv, r, markers, 1007)
    assert not any("bad" in ln for ln in markers.lines("events"))


def test_deflate_garbage_compressed_data_gets_1007_or_1002(wsbridge, markers,
                                                           raw_clients):
    """Data that does not inflate fails the connection with a close frame
    (RFC 7692 leaves the code open; 1002 or 1007), logged as protocol."""
    srv, r, _ = deflate_session(wsbridge, raw_clients)
    r.send(encode_frame(0x1, b"\xff" * 64, rsv=RSV1))   # reserved block type
    seen = None
    for _ in range(1000):
        fr = r.recv_frame()
        assert fr is not None, "TCP closed without a close frame"
        if fr[1] == 0x8:
            seen = struct.unpack("!H", fr[2][:2])[0]
            break
    assert seen in (1002, 1007), seen
    acc = expect_logged(srv, "protocol", seen)
    assert acc


# --------------------------------------------------------------------------
# fragmentation


def test_ping_between_fragments(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x1, b"frag-one ", fin=False))
    r.send(encode_frame(0x9, b"between"))
    r.send(encode_frame(0x0, b"frag-two ", fin=False))
    r.send(encode_frame(0x0, b"frag-three", fin=True))
    pong = msg = None
    for _ in range(100):
        fr = r.recv_frame()
        assert fr is not None, "EOF"
        fin, op, payload = fr
        assert op != 0x8, payload
        if op == 0xA:
            pong = payload
        elif op == 0x1:
            assert fin
            msg = payload
        if pong is not None and msg is not None:
            break
    assert pong == b"between"
    assert msg == b"frag-one frag-two frag-three"
    assert markers.wait_line("events", "LINE frag-one frag-two frag-three")


def test_continuation_without_open_message_gets_1002(wsbridge, markers,
                                                     raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x0, b"orphan", fin=True))
    expect_protocol_failure(srv, r, markers, 1002)
    assert not any("orphan" in ln for ln in markers.lines("events"))


def test_new_message_while_fragmented_one_is_open_gets_1002(wsbridge, markers,
                                                            raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x1, b"open ", fin=False))
    r.send(encode_frame(0x1, b"intruder", fin=True))
    expect_protocol_failure(srv, r, markers, 1002)
    assert not any("intruder" in ln or "open" in ln
                   for ln in markers.lines("events")[1:])


def test_fragmented_control_frame_gets_1002(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x9, b"p", fin=False))
    expect_protocol_failure(srv, r, markers, 1002)


# --------------------------------------------------------------------------
# UTF-8


def test_invalid_utf8_text_gets_1007(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r, _ = open_session(srv, raw_clients)
    r.send(encode_frame(0x1, b"bad \xed\xa0\x80 surrogate"))
    expect_protocol_failure(srv, r, markers, 1007)
    assert not any("bad" in ln for ln in markers.lines("events"))


# --------------------------------------------------------------------------
# the handshake


def test_upgrade_over_http10_is_refused(wsbridge):
    srv = wsbridge(child("record.sh"))
    r = RawWS(srv.port, timeout=5)
    try:
        r.send((f"GET / HTTP/1.0\r\nHost: 127.0.0.1:{srv.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = r.read_head()
    finally:
        r.close()
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 500, head[:200]
    assert wait_until(lambda: srv.alive(), 1)
    # Refused like any other upgrade: logged as refused, no session.
    lines = srv.access_lines()
    assert [a.get("status") for a in lines] == [str(status)], lines
    assert not any("session" in a for a in lines), lines
    still_serves(srv)
