"""Hostile sessions: the defects of the receive-side issue, as we want them.

1. --deflate with several busy clients at once: every echo intact, the
   server alive, one ACCESS line per session.
2. --deflate and a big, highly compressible message while another client
   drops: the message arrives, the server does not spin afterwards; with a
   small --maxframesize the same message gets 1009.
3. A client that filled --queuesize for a child that does not read, then
   leaves (drop, reset, close frame then close): the session ends, the child
   goes, the descriptors and the --maxforks slot come back.
4. --pingms while the server itself holds the client's input back: no
   "ping timeout"; a client that really never answers is dropped.

Everything is bounded: today's --deflate can crash or hang the server.
"""

import asyncio
import base64
import fcntl
import hashlib
import os
import socket
import struct
import termios
import time

import pytest
import websockets

from conftest import (RawWS, child, children_of, close_of, close_payload,
                      echo_check, encode_frame, fd_count, process_gone, recv,
                      recv_until_closed, run, wait_until)

DEFLATE_HDR = {"Sec-WebSocket-Extensions": "permessage-deflate"}


# --------------------------------------------------------------------------
# helpers


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid, seconds=2.0):
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


def fast_frame(opcode, payload, fin=True):
    """A masked client frame, masked without a Python loop per byte."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        hdr = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    mask = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big")
              ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return hdr + key + masked


def client_outq(sock):
    """Bytes the kernel still holds in sock's send queue (unsent/unacked)."""
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
    return struct.unpack("i", buf)[0]


def server_rx_queue(server_port, client_port):
    """Bytes waiting in the server's receive queue for this connection
    (what the server has not read), from /proc/net/tcp; None if not found."""
    with open("/proc/net/tcp") as f:
        rows = f.read().splitlines()[1:]
    for row in rows:
        f = row.split()
        lport = int(f[1].split(":")[1], 16)
        rport = int(f[2].split(":")[1], 16)
        if lport == server_port and rport == client_port:
            return int(f[4].split(":")[1], 16)
    return None


def server_stopped_reading(server_port, client_port, settle=0.3):
    """True if the server leaves bytes unread on this connection (stably)."""
    rx = server_rx_queue(server_port, client_port)
    if not rx:
        return False
    time.sleep(settle)
    rx2 = server_rx_queue(server_port, client_port)
    return bool(rx2) and rx2 >= rx


WORDS = [base64.b32encode(os.urandom(5)).decode().lower()[:3 + i % 6]
         for i in range(300)]


def random_text(nbytes):
    """Random printable text, no newline: random words (so it compresses
    like text, a few times over) with a random base64 tail."""
    import random
    rnd = random.Random(os.urandom(8))
    words = " ".join(rnd.choices(WORDS, k=nbytes // 4 + 1))
    tail = base64.b64encode(os.urandom(64)).decode()
    return (tail + " " + words)[:nbytes]


def compressible_line(total):
    """About `total` bytes of highly compressible text, no newline."""
    unit = random_text(1000)
    parts, n, i = [], 0, 0
    while n < total:
        p = f"{i:07d}:{unit}"
        parts.append(p)
        n += len(p)
        i += 1
    return "".join(parts)[:total]


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


async def ws_drop(url):
    """A websockets client (offering deflate) that echoes one message, then
    drops: a TCP close without a close frame."""
    ws = await websockets.connect(url, ping_interval=None, open_timeout=10,
                                  close_timeout=10)
    try:
        assert [e.name for e in ws.extensions] == ["permessage-deflate"]
        await ws.send("drop me " * 100)
        assert await recv(ws, 30) == "drop me " * 100
    finally:
        ws.transport.abort()


def warm_up(srv, path="/warm?echo"):
    """One complete echo session; returns once it is logged and its child is
    gone, so that the server's descriptors are at their baseline."""
    r = RawWS(srv.port, timeout=10)
    try:
        assert r.handshake(path)[0] == 101
        r.send(encode_frame(0x1, b"warm"))
        assert r.recv_message() == (0x1, b"warm")
        r.send(encode_frame(0x8, close_payload(1000)))
        assert r.recv_close(reply=False) is not None
        r.wait_eof()
    finally:
        r.close()
    srv.wait_access(1)
    assert wait_until(lambda: not children_of(srv.pid), 10), \
        children_of(srv.pid)


def fill_queue(srv, r, limit_frames=2048):
    """Sends 4 KiB text messages until the server stops reading the socket
    (its receive queue holds unread bytes), making sure after each message
    that the kernel has passed everything on, so that a later FIN or close
    frame really reaches the server's socket. Returns the messages sent."""
    cport = r.sock.getsockname()[1]
    frame = fast_frame(0x1, b"q" * 4095)
    for i in range(1, limit_frames + 1):
        r.sock.sendall(frame)
        assert wait_until(lambda: client_outq(r.sock) == 0, 2.0, 0.005), (
            f"after {i} messages the client's send queue does not drain")
        time.sleep(0.02)
        if server_stopped_reading(srv.port, cport):
            return i
    raise AssertionError(f"the server read all of {limit_frames} x 4 KiB "
                         "for a child that reads nothing (--queuesize?)")


# --------------------------------------------------------------------------
# 1. --deflate, several busy clients at once


async def deflate_echo_client(url, count, size):
    msgs = [random_text(size) for _ in range(count)]
    async with websockets.connect(url, max_size=1 << 24, ping_interval=None,
                                  open_timeout=10, close_timeout=10) as ws:
        names = [e.name for e in ws.extensions]
        assert names == ["permessage-deflate"], f"negotiated: {names}"

        sent, got = [0], []

        async def sender():
            for m in msgs:
                await ws.send(m)
                sent[0] += 1

        async def reader():
            for _ in range(count):
                got.append(await asyncio.wait_for(ws.recv(), 60))

        try:
            await asyncio.gather(sender(), reader())
        except websockets.ConnectionClosed as exc:
            raise AssertionError(
                f"{url}: connection lost after {sent[0]} sent, {len(got)} "
                f"echoed of {count}: {exc!r}") from None
    bad = [i for i, (a, b) in enumerate(zip(msgs, got)) if a != b]
    assert not bad, (f"{url}: {len(bad)} of {count} echoes differ, first "
                     f"#{bad[0]}: {len(got[bad[0]])} vs {len(msgs[bad[0]])} "
                     "bytes")
    return len(got)


@pytest.mark.parametrize("clients,count,sizes", [
    (1, 30, (100_000, 100_000)),
    (4, 30, (100_000, 100_000)),
    (3, 100, (4_000, 10_000)),
], ids=["1x30x100KB", "4x30x100KB", "3x100x4-10KB"])
def test_deflate_concurrent_clients_echo_intact(wsbridge, clients, count,
                                                sizes):
    srv = wsbridge("--deflate", "/bin/cat")

    async def go():
        import random
        tasks = [deflate_echo_client(srv.url(f"/c{i}"), count,
                                     random.randint(*sizes))
                 for i in range(clients)]
        return await asyncio.gather(*tasks)

    try:
        got = run(go(), timeout=240)
    except BaseException as exc:
        raise AssertionError(
            f"{exc!r}; server alive: {srv.alive()}; log tail:\n"
            + srv.log_text()[-2000:]) from exc
    alive = srv.alive()
    assert alive, "the server died:\n" + srv.log_text()[-3000:]
    assert got == [count] * clients

    # One ACCESS line per session, each a clean client close.
    lines = srv.wait_access(clients, timeout=10)
    time.sleep(0.5)
    lines = srv.access_lines()
    assert sorted(a["path"] for a in lines) == \
        sorted(f"/c{i}" for i in range(clients)), [a["_line"] for a in lines]
    for a in lines:
        assert a["closed_by"] == "client" and a["code"] == "1000", a["_line"]
        assert a["msgs_in"] == str(count) and a["msgs_out"] == str(count), \
            a["_line"]

    # Still alive and answering a new session.
    run(echo_check(srv, "still here", path="/after"), timeout=20)
    assert len(srv.wait_access(clients + 1, timeout=10)) == clients + 1


# --------------------------------------------------------------------------
# 2. --deflate, a big compressible message, another client drops meanwhile


BIG = 15 * 1024 * 1024


def test_deflate_big_message_while_another_client_drops(wsbridge):
    srv = wsbridge("--deflate", "--maxframesize=20000000", "/bin/cat")
    big = compressible_line(BIG)
    want = (len(big), sha(big))

    async def go():
        loop = asyncio.get_running_loop()
        ws = await websockets.connect(srv.url("/big"), max_size=32 << 20,
                                      ping_interval=None, open_timeout=10,
                                      close_timeout=10)
        try:
            assert [e.name for e in ws.extensions] == ["permessage-deflate"]
            send = asyncio.create_task(ws.send(big))
            await asyncio.sleep(0.02)
            await ws_drop(srv.url("/drop1"))
            await asyncio.wait_for(send, 60)
            await ws_drop(srv.url("/drop2"))
            echo = await asyncio.wait_for(ws.recv(), 120)
            got = (len(echo), sha(echo))
            # Both dropped sessions are logged while /big stays open.
            lines = await loop.run_in_executor(
                None, lambda: srv.wait_access(2, timeout=15))
            # Nothing left to do: the server must be idle.
            await asyncio.sleep(0.5)
            cpu = await loop.run_in_executor(None, idle_cpu, srv.pid, 2.0)
            await asyncio.wait_for(ws.close(), 15)
            return got, lines, cpu, ws.close_code
        finally:
            ws.transport.abort()

    try:
        got, lines, cpu, code = run(go(), timeout=300)
    finally:
        alive = srv.alive()
    assert alive, "the server died:\n" + srv.log_text()[-3000:]
    assert got == want, f"echo {got[0]} bytes, sent {want[0]}"
    drops = sorted((a["path"], a["closed_by"], a["code"]) for a in lines)
    assert drops == [("/drop1", "network", "1006"),
                     ("/drop2", "network", "1006")], drops
    assert cpu < 0.5, f"the server used {cpu:.2f} s of CPU in 2 s of idleness"
    assert code == 1000
    lines = srv.wait_access(3, timeout=10)
    (acc,) = [a for a in lines if a["path"] == "/big"]
    assert acc["closed_by"] == "client" and acc["code"] == "1000", acc["_line"]
    assert acc["msgs_in"] == "1" and acc["msgs_out"] == "1", acc["_line"]
    run(echo_check(srv, "still here", path="/after"), timeout=20)


def test_deflate_big_message_over_maxframesize_gets_1009(wsbridge):
    """15 MiB that deflate to a few KiB: refused once the inflated size
    passes --maxframesize, not inflated whole."""
    srv = wsbridge("--deflate", "--maxframesize=1000000", "/bin/cat")
    big = compressible_line(BIG)

    async def go():
        ws = await websockets.connect(srv.url("/bomb"), max_size=32 << 20,
                                      ping_interval=None, open_timeout=10,
                                      close_timeout=10)
        try:
            assert [e.name for e in ws.extensions] == ["permessage-deflate"]
            try:
                await asyncio.wait_for(ws.send(big), 60)
            except websockets.ConnectionClosed as exc:
                return [], close_of(exc)
            msgs, exc = await recv_until_closed(ws, timeout=60)
            return msgs, close_of(exc)
        finally:
            ws.transport.abort()

    try:
        msgs, close = run(go(), timeout=180)
    finally:
        alive = srv.alive()
    assert alive, "the server died:\n" + srv.log_text()[-3000:]
    assert msgs == []
    assert close is not None and close[0] == 1009, close
    (acc,) = srv.wait_access(1, timeout=10)
    assert acc["closed_by"] == "protocol" and acc["code"] == "1009", \
        acc["_line"]
    cpu = idle_cpu(srv.pid, 2.0)
    assert cpu < 0.5, f"the server used {cpu:.2f} s of CPU in 2 s of idleness"
    run(echo_check(srv, "still here", path="/after"), timeout=20)


# --------------------------------------------------------------------------
# 3. a full --queuesize, then the client leaves


@pytest.mark.parametrize("ending,mode", [
    ("drop", "hup"),
    ("drop", "stubborn"),
    ("reset", "hup"),
    ("close-frame", "hup"),
    ("close-frame", "stubborn"),
])
def test_client_leaves_with_full_queue(wsbridge, markers, ending, mode):
    srv = wsbridge("--queuesize=65536", "--maxforks=1", "--closems=500",
                   child("hostile_sleeper.sh"))
    warm_up(srv)
    baseline = fd_count(srv.pid)

    r = RawWS(srv.port, timeout=10)
    try:
        assert r.handshake(f"/full?{mode}")[0] == 101
        assert markers.wait_exists("ready"), "the child never got ready"
        child_pid = int(markers.read("ready").strip())
        sent = fill_queue(srv, r)
        assert sent >= 16, sent      # at least --queuesize went out

        if ending == "reset":
            r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
        elif ending == "close-frame":
            r.sock.sendall(encode_frame(0x8, close_payload(1000)))
            assert wait_until(lambda: client_outq(r.sock) == 0, 2.0, 0.005)
        t0 = time.monotonic()
    finally:
        r.close()

    lines = srv.wait_access(2, timeout=5)
    took = time.monotonic() - t0
    acc = [a for a in lines if a["path"].startswith("/full")]
    assert len(acc) == 1, [a["_line"] for a in lines]
    acc = acc[0]
    if ending in ("drop", "reset"):
        assert (acc["closed_by"], acc["code"]) == ("network", "1006"), \
            acc["_line"]
        assert markers.wait_exists("hup", timeout=5), \
            "the child got no SIGHUP"
    assert acc["pid"] == str(child_pid), acc["_line"]
    assert wait_until(lambda: process_gone(child_pid), 5), \
        f"child {child_pid} still runs ({took:.1f}s after the client left)"
    assert wait_until(lambda: fd_count(srv.pid) <= baseline, 5), \
        f"server fds: {fd_count(srv.pid)}, baseline {baseline}"

    # The --maxforks=1 slot is free again.
    status = None
    for _ in range(20):
        n = RawWS(srv.port, timeout=10)
        try:
            status, head = n.handshake("/next?echo")
            if status == 101:
                n.send(encode_frame(0x1, b"next"))
                assert n.recv_message() == (0x1, b"next")
                break
        finally:
            n.close()
        time.sleep(0.1)
    assert status == 101, f"a new upgrade got {status}"
    assert srv.alive()


# --------------------------------------------------------------------------
# 4. --pingms


def test_ping_timeout_spares_a_client_the_server_holds_back(wsbridge,
                                                            markers):
    """The server stopped reading (the child does not read, the queue is
    full), so it cannot see this client's pongs: that is not silence."""
    srv = wsbridge("--pingms=500", "--queuesize=65536",
                   child("hostile_gate.sh"))
    body = "g" * 8000

    async def go():
        loop = asyncio.get_running_loop()
        ws = await websockets.connect(srv.url("/held"), ping_interval=None,
                                      compression=None, open_timeout=10,
                                      close_timeout=10)
        try:
            ok = await loop.run_in_executor(None, markers.wait_exists,
                                            "ready", 10)
            assert ok, "the child never got ready"
            cport = ws.transport.get_extra_info("sockname")[1]
            state = {"sent": 0, "stop": False}

            async def sender():
                for i in range(4000):            # at most ~32 MB
                    if state["stop"]:
                        return
                    await ws.send(f"{i:06d} {body}")
                    state["sent"] += 1

            task = asyncio.create_task(sender())
            # Wait until sending stalls for a second.
            last, since = -1, time.monotonic()
            for _ in range(600):
                await asyncio.sleep(0.1)
                if task.done():
                    task.result()               # raises what went wrong
                    raise AssertionError("4000 x 8 KB went to a child that "
                                         "reads nothing")
                if state["sent"] != last:
                    last, since = state["sent"], time.monotonic()
                elif time.monotonic() - since > 1.0:
                    break
            state["stop"] = True
            held = await loop.run_in_executor(
                None, server_stopped_reading, srv.port, cport)
            assert held, "precondition: the server should have stopped " \
                "reading this client"
            # Three seconds = three ping intervals (500 ms rounds up to 1 s).
            await asyncio.sleep(3.0)
            assert ws.open, f"dropped: {srv.access_lines()}"
            assert srv.access_lines() == [], srv.access_lines()
            # Let the child read; everything queued arrives.
            markers.file("go").write_text("go\n")
            await asyncio.wait_for(task, 60)
            n = state["sent"]
            want = "".join(f"{i:06d} {body}\n" for i in range(n))
            ok = await loop.run_in_executor(
                None, wait_until,
                lambda: len(markers.read("got")) >= len(want), 30, 0.1)
            got = markers.read("got")
            assert ok and got == want, (
                f"child got {len(got)} bytes, want {len(want)} ({n} msgs)")
            await asyncio.wait_for(ws.close(), 15)
            return n
        finally:
            if "task" in locals():
                if not task.done():
                    task.cancel()
                elif not task.cancelled():
                    task.exception()        # retrieved: no asyncio warning
            ws.transport.abort()

    run(go(), timeout=150)
    (acc,) = srv.wait_access(1, timeout=10)
    assert acc.get("reason") != "ping timeout", acc["_line"]
    assert acc["closed_by"] == "client" and acc["code"] == "1000", acc["_line"]
    assert markers.read("hup") == ""


def test_silent_client_is_dropped_by_ping_timeout(wsbridge, markers):
    srv = wsbridge("--pingms=500", child("record.sh"))
    r = RawWS(srv.port, timeout=10)
    try:
        assert r.handshake("/silent")[0] == 101
        t0 = time.monotonic()
        assert wait_until(lambda: markers.lines("events"), 10), \
            "the child never started"
        # Never answer a ping; read nothing until the session is logged.
        (acc,) = srv.wait_access(1, timeout=10)
        took = time.monotonic() - t0
        frames = []
        for _ in range(100):
            fr = r.recv_frame()
            if fr is None:
                break
            frames.append(fr[1])
    finally:
        r.close()
    assert acc["reason"] == "ping timeout", acc["_line"]
    assert acc["closed_by"] == "network" and acc["code"] == "1006", \
        acc["_line"]
    assert 1.0 <= took <= 6.0, f"dropped after {took:.1f}s"
    assert 0x9 in frames, f"no ping was sent: {frames}"
    assert markers.wait_line("events", "HUP"), markers.read("events")
    assert markers.wait_line("events", "EOF"), markers.read("events")


# --------------------------------------------------------------------------
# 5. a client that closes and then reads nothing


def test_client_that_closes_then_reads_nothing_is_ended(wsbridge):
    """Its socket is full of a flooding child's output, so even our answer
    to its close cannot go out: the wait for it is bounded (5 s), the
    session is logged as the client's close, and the child is gone."""
    srv = wsbridge("--closems=300", "/usr/bin/yes")
    r = RawWS(srv.port, timeout=10, rcvbuf=4096)
    try:
        status, _ = r.handshake("/stalls")
        assert status == 101
        time.sleep(0.5)             # the server's send buffer fills
        r.send(encode_frame(0x8, close_payload(1000, b"bye")))
        (acc,) = srv.wait_access(1, timeout=15)
    finally:
        r.close()
    assert acc["closed_by"] == "client" and acc["code"] == "1000", acc["_line"]
    assert wait_until(lambda: not children_of(srv.pid), 10), \
        children_of(srv.pid)
