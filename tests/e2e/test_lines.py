"""Line mode: what goes in and out, message by message."""

import random
import string

import websockets

from conftest import (child, close_of, encode_frame, recv,
                      recv_until_closed, run)


def test_echo_round_trip(wsbridge):
    srv = wsbridge("/bin/cat")

    async def go():
        async with websockets.connect(srv.url("/echo?x=1")) as ws:
            await ws.send("hello")
            assert await recv(ws) == "hello"
            await ws.send("wörld")
            got = await recv(ws)
            assert got == "wörld" and isinstance(got, str)
            # A binary message from the client is written followed by \n
            # too; cat sends it back as a line, i.e. a text message.
            await ws.send(b"bin")
            assert await recv(ws) == "bin"
            # An empty message is an empty line.
            await ws.send("")
            assert await recv(ws) == ""
    run(go())

    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "client"
    assert acc["code"] == "1000"
    assert acc["path"] == "/echo?x=1"
    assert acc["remote"].startswith("127.0.0.1:")
    assert acc["msgs_in"] == "4"
    assert acc["bytes_in"] == str(5 + len("wörld".encode()) + 3 + 0)
    assert acc["msgs_out"] == "4"
    assert acc["bytes_out"] == acc["bytes_in"]
    assert acc["exit"] == "0"
    assert int(acc["pid"]) > 0
    assert int(acc["duration_ms"]) >= 0


def test_last_line_without_newline(wsbridge):
    srv = wsbridge("/usr/bin/printf", r"a\nb")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            msgs, exc = await recv_until_closed(ws)
            assert msgs == ["a", "b"]
            assert close_of(exc)[0] == 1000
    run(go())
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "child"
    assert acc["code"] == "1000"
    assert acc["msgs_out"] == "2" and acc["bytes_out"] == "2"


def test_crlf_stripped(wsbridge):
    srv = wsbridge("/usr/bin/printf", r"x\r\ny\r\n\r\nz")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            msgs, exc = await recv_until_closed(ws)
            assert msgs == ["x", "y", "", "z"]
            assert close_of(exc)[0] == 1000
    run(go())


def test_invalid_utf8_line_is_binary(wsbridge):
    srv = wsbridge("/usr/bin/printf", r"ok\n\377\376abc\n\303\251\n\300\257\n")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            msgs, exc = await recv_until_closed(ws)
            assert msgs == ["ok", b"\xff\xfeabc", "é", b"\xc0\xaf"]
            assert close_of(exc)[0] == 1000
    run(go())
    (acc,) = srv.wait_access(1)
    assert acc["msgs_out"] == "4"
    assert acc["bytes_out"] == str(2 + 5 + 2 + 2)


def test_long_line_split_at_maxframesize(wsbridge):
    line = "".join(random.choice(string.ascii_letters) for _ in range(2500))
    srv = wsbridge("--maxframesize=1000", "/usr/bin/printf", line + r"\nend\n")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            msgs, exc = await recv_until_closed(ws)
            assert [len(m) for m in msgs] == [1000, 1000, 500, 3]
            assert "".join(msgs[:3]) == line
            assert msgs[3] == "end"
            assert close_of(exc)[0] == 1000
    run(go())


def test_one_mib_text_line_round_trip(wsbridge):
    rnd = random.Random(1)
    line = "".join(rnd.choice(string.ascii_letters + string.digits)
                   for _ in range(1 << 20))
    srv = wsbridge("/bin/cat")

    async def go():
        async with websockets.connect(srv.url(), max_size=None,
                                      max_queue=None) as ws:
            await ws.send(line)
            got = await recv(ws, 30)
            assert isinstance(got, str)
            assert len(got) == len(line)
            assert got == line
    run(go())
    (acc,) = srv.wait_access(1)
    assert acc["bytes_in"] == str(1 << 20)
    assert acc["bytes_out"] == str(1 << 20)
    assert acc["msgs_out"] == "1"


def test_fragmented_client_message_is_one_line(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r = raw_clients(srv.port)
    status, _ = r.handshake("/frag")
    assert status == 101
    r.send(encode_frame(0x1, b"hel", fin=False))
    r.send(encode_frame(0x0, b"lo wo", fin=False))
    r.send(encode_frame(0x0, "rld ü".encode(), fin=True))
    # record.sh echoes the line back: one text message.
    assert r.recv_message() == (0x1, "hello world ü".encode())
    # Fragmented binary message too.
    r.send(encode_frame(0x2, b"ab", fin=False))
    r.send(encode_frame(0x0, b"cd", fin=True))
    assert r.recv_message() == (0x1, b"abcd")
    r.send(encode_frame(0x8, b"\x03\xe8"))
    assert r.recv_close(reply=False) == (1000, "")
    assert markers.wait_line("events", "EOF")
    ev = markers.lines("events")
    assert [e for e in ev if e.startswith("LINE")] == [
        "LINE hello world ü", "LINE abcd"]
    (acc,) = srv.wait_access(1)
    assert acc["msgs_in"] == "2"
    assert acc["bytes_in"] == str(len("hello world ü".encode()) + 4)
