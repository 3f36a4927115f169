"""Flow control: floods in either direction keep the server's memory bounded
and do not hold up other sessions."""

import asyncio
import hashlib
import os
import time

import pytest
import websockets

from conftest import (child, close_payload, echo_check, encode_frame, recv,
                      rss_kib, run)

RSS_LIMIT_KIB = 64 * 1024
FLOOD_SECONDS = 3.0


def sample_rss(pid, seconds, interval=0.25):
    """Max VmRSS (KiB) seen over `seconds`."""
    peak = 0
    for _ in range(int(seconds / interval) + 1):
        v = rss_kib(pid)
        assert v is not None, "server gone"
        peak = max(peak, v)
        time.sleep(interval)
    return peak


@pytest.mark.parametrize("mode", ["line", "binary"])
def test_child_flood_to_non_reading_client(wsbridge, raw_clients, mode):
    flags = ["--binary"] if mode == "binary" else []
    query = "zero" if mode == "binary" else "flood"
    srv = wsbridge("--closems=200", *flags, child("by_query.sh"))
    r = raw_clients(srv.port, rcvbuf=4096)
    assert r.handshake(f"/f?{query}")[0] == 101

    peak = sample_rss(srv.pid, FLOOD_SECONDS)
    assert peak < RSS_LIMIT_KIB, f"VmRSS {peak} KiB while flooding"

    # Another session meanwhile is served promptly.
    if mode == "binary":
        async def other():
            async with websockets.connect(srv.url("/o?echo")) as ws:
                await ws.send(b"\x01\x02ping")
                assert await recv(ws) == b"\x01\x02ping"
        run(other(), timeout=10)
    else:
        run(echo_check(srv, "still here", path="/o?echo"), timeout=10)

    peak = max(peak, sample_rss(srv.pid, 1.0))
    assert peak < RSS_LIMIT_KIB, f"VmRSS {peak} KiB while flooding"

    # The flood really was on its way to us.
    op, payload = r.recv_message()
    if mode == "binary":
        assert op == 0x2 and payload and payload.count(0) == len(payload)
    else:
        assert (op, payload) == (0x1, b"y")


def test_client_flood_to_non_reading_child(wsbridge):
    srv = wsbridge("--closems=200", child("by_query.sh"))
    chunk = os.urandom(32 * 1024)
    limit = 48 * 1024 * 1024

    async def go():
        ws = await websockets.connect(srv.url("/f?sink"), compression=None)
        sent = 0
        stalled = False
        try:
            for _ in range(limit // len(chunk)):
                try:
                    await asyncio.wait_for(ws.send(chunk), 2.0)
                except asyncio.TimeoutError:
                    stalled = True
                    break
                sent += len(chunk)
            peak = await asyncio.get_running_loop().run_in_executor(
                None, sample_rss, srv.pid, 2.0)
            # Another session meanwhile is served promptly.
            await asyncio.wait_for(echo_check(srv, "other", path="/o?echo"),
                                   10)
            return stalled, sent, peak
        finally:
            ws.transport.abort()
    stalled, sent, peak = run(go(), timeout=60)
    assert stalled, f"sent {sent} bytes to a child that never reads"
    assert sent < limit
    assert peak < RSS_LIMIT_KIB, f"VmRSS {peak} KiB"


@pytest.mark.parametrize("mode", ["line", "binary"])
def test_input_beyond_a_full_pipe_then_close_all_arrives(wsbridge, markers,
                                                         mode):
    """The child reads nothing at first: its pipe fills, the queue fills,
    the socket is held. Then the client closes. Every byte still reaches
    the child, in order, before its EOF, and no signal comes first."""
    srv = wsbridge("--closems=2000", *(["--binary"] if mode == "binary"
                                      else []), child("late_sum.sh"))
    if mode == "binary":
        msgs = [os.urandom(64 * 1024) for _ in range(16)]     # 1 MiB
        expect = b"".join(msgs)
    else:
        msgs = [os.urandom(3000).hex() for _ in range(200)]    # 1.2 MB
        expect = "".join(m + "\n" for m in msgs).encode()

    async def go():
        async with websockets.connect(srv.url(), compression=None,
                                      close_timeout=30) as ws:
            for m in msgs:
                await asyncio.wait_for(ws.send(m), 30)
    run(go(), timeout=60)
    assert markers.wait_exists("sum", 30), markers.read("events")
    assert markers.read("sum").strip() == hashlib.sha256(expect).hexdigest()
    assert "TERM" not in markers.read("events")
    (acc,) = srv.wait_access(1)
    assert acc["exit"] == "0", acc
    assert acc["bytes_in"] == str(sum(len(m) for m in msgs)), acc


def read_frames(sock, buf, deadline, max_frames=200000):
    """Reads frames until EOF or the deadline: a list of (opcode, payload)
    and whether EOF came. Parses by offset, so a flood stays linear."""
    frames, data, off, eof = [], bytearray(buf), 0, False
    while len(frames) < max_frames:
        while len(data) - off >= 2:
            b1 = data[off + 1] & 0x7F
            hl = {126: 4, 127: 10}.get(b1, 2)
            if len(data) - off < hl:
                break
            n = b1 if hl == 2 else int.from_bytes(data[off + 2:off + hl], "big")
            if len(data) - off < hl + n:
                break
            frames.append((data[off] & 0x0F, bytes(data[off + hl:off + hl + n])))
            off += hl + n
        if eof or time.monotonic() > deadline:
            break
        try:
            d = sock.recv(1 << 20)
        except (ConnectionResetError, TimeoutError, OSError):
            d = b""
        if not d:
            eof = True
            continue
        del data[:off]
        off = 0
        data += d
    return frames, eof


@pytest.mark.parametrize("mode", ["line", "binary"])
def test_slow_reader_of_a_flood_gets_its_close_answered(wsbridge, raw_clients,
                                                         mode):
    """A client reading a flood 1 KiB at a time is slow, not gone: it keeps
    its session, and its close frame is answered with one, not with a
    dropped connection and SIGHUP. (A send() taking part of a batch once
    left lws holding half a frame, and lws drops a connection whose close
    frame arrives then.)"""
    flags = ["--binary"] if mode == "binary" else []
    srv = wsbridge(*flags, "/usr/bin/yes", "x" * 1000)
    r = raw_clients(srv.port, rcvbuf=1024, timeout=2)
    assert r.handshake()[0] == 101
    got = 0
    end = time.monotonic() + 1.5
    for _ in range(100000):
        if time.monotonic() > end:
            break
        d = r.sock.recv(1024)
        assert d, f"server hung up on a slow reader after {got} bytes"
        got += len(d)
        r.buf += d
        time.sleep(0.0005)
    r.send(encode_frame(0x8, close_payload(1000)))
    frames, _ = read_frames(r.sock, r.buf, time.monotonic() + 15)
    closes = [p for op, p in frames if op == 0x8]
    assert closes and closes[0][:2] == b"\x03\xe8", \
        f"no close answer after {len(frames)} frames"
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "client" and acc["code"] == "1000", acc
    assert acc.get("signal") != "SIGHUP", acc


def test_close_after_protocol_error_is_the_last_frame(wsbridge, raw_clients):
    """After a protocol error (1007 here) lws sends the close frame; the
    child's output must not go on after it."""
    srv = wsbridge("/usr/bin/yes", "x" * 1000)
    r = raw_clients(srv.port, timeout=2)
    assert r.handshake()[0] == 101
    time.sleep(0.2)     # the flood is well under way
    r.send(encode_frame(0x1, b"\xff\xfe"))
    frames, eof = read_frames(r.sock, r.buf, time.monotonic() + 15)
    kinds = [op for op, _ in frames]
    assert 0x8 in kinds, f"no close frame in {len(frames)} frames"
    at = kinds.index(0x8)
    assert frames[at][1][:2] == (1007).to_bytes(2, "big"), frames[at]
    assert at == len(frames) - 1, \
        f"{len(frames) - 1 - at} frames after the close frame"
    (acc,) = srv.wait_access(1)
    assert acc["code"] == "1007", acc
