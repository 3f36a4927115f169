"""--pty: the command runs as a session leader on a terminal of its own.
The window size comes from the URL's query and, with the wsbridge.pty
subprotocol, from resize messages; a client that leaves hangs the terminal
up; the close frame and the ACCESS line carry the leader's exit status."""

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest
import websockets

from conftest import (IO_TIMEOUT, children_of, close_of, fd_count, run,
                      recv_until_closed, wait_until)

PY = "/usr/bin/python3"
BASH = ["/bin/bash", "--norc", "--noprofile"]
PROTO = "wsbridge.pty"


class Term:
    """A client's view of the terminal: every message must be binary, and
    expect() waits for bytes to appear in what came, consuming up to them."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = bytearray()

    async def expect(self, needle, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                msg = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                raise AssertionError(f"{needle!r} not seen in {timeout}s; "
                                     f"got {bytes(self.buf)[-400:]!r}")
            assert isinstance(msg, bytes), f"a text message: {msg!r}"
            self.buf += msg
        del self.buf[:self.buf.index(needle) + len(needle)]

    async def type(self, keys):
        await self.ws.send(keys)

    async def resize(self, cols, rows):
        await self.ws.send(json.dumps({"type": "resize", "cols": cols,
                                       "rows": rows}))


def connect(srv, path="/", proto=True, **kw):
    return websockets.connect(srv.url(path), close_timeout=2,
                              subprotocols=[PROTO] if proto else None, **kw)


@pytest.mark.parametrize("path,size", [
    ("/", b"24 80"),
    ("/?cols=120&rows=40", b"40 120"),
    ("/?rows=50", b"50 80"),
    ("/?cols=5000&rows=0", b"24 80"),
])
def test_size_from_the_query(wsbridge, path, size):
    srv = wsbridge("--pty", *BASH)

    async def go():
        async with connect(srv, path, proto=False) as ws:
            t = Term(ws)
            await t.type(b"stty size\n")
            await t.expect(size + b"\r\n")
    run(go())


def test_resize_message_reaches_the_child(wsbridge):
    """A resize sets the size stty sees, and the shell's WINCH trap fires
    (the kernel's SIGWINCH to the foreground group)."""
    srv = wsbridge("--pty", *BASH)

    async def go():
        async with connect(srv, "/?cols=120&rows=40") as ws:
            assert ws.subprotocol == PROTO
            t = Term(ws)
            # $((6*7)), 'P''S': the output cannot be the echo of what was
            # typed. Resized at the prompt: bash runs a WINCH trap that
            # comes while it reads a line (readline's handler).
            await t.type(b"PS1='P''S> '; trap 'echo WINCH-$((6*7))' WINCH\n")
            await t.expect(b"PS> ")
            await t.resize(100, 30)
            await t.expect(b"WINCH-42")
            await t.type(b"stty size\n")
            await t.expect(b"30 100\r\n")
            await t.expect(b"PS> ")
            # Split across frames: a control message may be fragmented.
            await ws.send(iter(['{"type":"resize",', '"cols":81,"rows":25}']))
            await t.expect(b"WINCH-42")
            await t.type(b"stty size\n")
            await t.expect(b"25 81\r\n")
    run(go())


def test_without_the_subprotocol_text_is_keys(wsbridge):
    srv = wsbridge("--pty", *BASH)

    async def go():
        async with connect(srv, proto=False) as ws:
            assert ws.subprotocol is None
            t = Term(ws)
            await ws.send("echo KEYS-$((40+2))\n")        # a text message
            await t.expect(b"KEYS-42")
            await ws.send('{"type":"resize","cols":100,"rows":30}\n')
            await t.type(b"stty size\n")
            await t.expect(b"24 80\r\n")
    run(go())


def test_a_session_leader_on_its_terminal(wsbridge):
    srv = wsbridge("--pty", PY, "-c",
                   "import os\n"
                   "print(os.getsid(0) == os.getpid(),"
                   " os.tcgetpgrp(0) == os.getpgrp(),"
                   " all(os.isatty(f) for f in (0, 1, 2)),"
                   " os.ttyname(0) == os.ttyname(1) == os.ttyname(2),"
                   " os.ttyname(0), os.environ.get('TERM'))\n")

    async def go():
        async with connect(srv) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    out = b"".join(msgs).decode()
    assert out.startswith("True True True True /dev/pts/"), out
    assert out.endswith(" xterm-256color\r\n"), out
    assert close_of(exc) == (1000, "exit 0")


def test_passenv_term_wins(wsbridge):
    srv = wsbridge("--pty", "/bin/sh", "-c", "echo \"[$TERM]\"",
                   env={"TERM": "vt100"}, passenv="PATH,TERM")

    async def go():
        async with connect(srv) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert b"".join(msgs) == b"[vt100]\r\n"


def test_exit_status_in_close_and_access(wsbridge):
    srv = wsbridge("--pty", *BASH)

    async def go():
        async with connect(srv) as ws:
            t = Term(ws)
            await t.type(b"tty; exit 3\n")
            await t.expect(b"/dev/pts/")
            return await recv_until_closed(ws)
    _, exc = run(go())
    assert close_of(exc) == (4003, "exit 3")
    (acc,) = srv.wait_access(1)
    assert acc["exit"] == "3"
    assert acc["closed_by"] == "child"


HUP_SCRIPT = ("trap 'echo hup > \"$MARKER_DIR/hup\"; exit 0' HUP; "
              "echo READY; while :; do sleep 0.05; done")


@pytest.mark.parametrize("how", ["close", "drop"])
def test_client_leaving_hangs_up(wsbridge, markers, how):
    """A clean close hangs the terminal up (the kernel's SIGHUP: nothing
    else sends one then); a dropped connection too. The kill schedule is
    long, so the trap's marker is the hang-up's doing."""
    srv = wsbridge("--pty", "--closems=5000", "/bin/bash", "-c", HUP_SCRIPT)

    async def go():
        ws = await connect(srv)
        t = Term(ws)
        await t.expect(b"READY")
        if how == "close":
            await ws.close()
        else:
            ws.transport.abort()
    run(go())
    assert markers.wait_exists("hup"), srv.log_text()[-2000:]
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == ("client" if how == "close" else "network")
    assert acc["exit"] == "0"
    assert wait_until(lambda: children_of(srv.pid) == [], IO_TIMEOUT)


def test_stop_hangs_up(wsbridge, markers):
    """A stopping server hangs every terminal up: the trap runs, the
    client gets 1001 and the server exits 0."""
    srv = wsbridge("--pty", "--closems=5000", "/bin/bash", "-c", HUP_SCRIPT)

    async def go():
        async with connect(srv) as ws:
            t = Term(ws)
            await t.expect(b"READY")
            srv.signal(signal.SIGTERM)
            return await recv_until_closed(ws)
    _, exc = run(go())
    assert close_of(exc) == (1001, "server shutting down")
    assert markers.wait_exists("hup")
    assert srv.wait_exit() == 0


def test_raw_mode_bytes_unchanged(wsbridge):
    """The child puts its terminal in raw mode: 1 MiB of random bytes come
    back as they went, through the terminal both ways."""
    srv = wsbridge("--pty", "/bin/sh", "-c",
                   "stty raw -echo && echo READY && exec cat")
    data = os.urandom(1024 * 1024)
    chunk = 16 * 1024

    async def go():
        async with connect(srv, compression=None, max_size=None) as ws:
            t = Term(ws)
            await t.expect(b"READY\n")
            got = bytearray(t.buf)

            async def send():
                for off in range(0, len(data), chunk):
                    await ws.send(data[off:off + chunk])
            sender = asyncio.ensure_future(send())
            while len(got) < len(data):
                msg = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
                assert isinstance(msg, bytes)
                got += msg
            await sender
            return bytes(got)
    got = run(go(), timeout=120)
    assert len(got) == len(data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("msg", [
    "not json",
    '{"type":"paste","data":"x"}',
    '{"type":"resize","cols":0,"rows":24}',
    '{"type":"resize","cols":80,"rows":24,"x":1}',
    '{"type":"resize","cols":80}',
    '{"type":"resize","cols":80,"rows":24}' + " " * 300,
])
def test_bad_control_message_closes_1007(wsbridge, msg):
    srv = wsbridge("--pty", *BASH)

    async def go():
        async with connect(srv) as ws:
            await ws.send(msg)
            return await recv_until_closed(ws)
    _, exc = run(go())
    assert close_of(exc) == (1007, "bad control message")
    (acc,) = srv.wait_access(1)
    assert acc["code"] == "1007"
    assert wait_until(lambda: children_of(srv.pid) == [], IO_TIMEOUT)


def test_other_protocols_still_served(wsbridge):
    srv = wsbridge("--pty", "--protocol=chat", *BASH)

    async def go():
        async with websockets.connect(srv.url(), subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            t = Term(ws)
            await ws.send('{"type":"resize","cols":100,"rows":30}\n')
            await t.type(b"exit 5\n")
            return await recv_until_closed(ws)
    _, exc = run(go())
    assert close_of(exc) == (4005, "exit 5")


def test_half_close_keeps_the_terminal(wsbridge):
    """wsbridge's own client half-closes at the end of its input: the
    terminal stays up, so what was typed runs and the status comes back."""
    srv = wsbridge("--pty", "--binary", *BASH)
    res = subprocess.run([os.environ["WSBRIDGE"], f"--connect={srv.url()}",
                          "--binary"], input=b"echo HALF-$((3*3)); exit 4\n",
                         capture_output=True, timeout=30)
    assert b"HALF-9" in res.stdout, res
    assert res.returncode == 4, res


@pytest.mark.parametrize("other", ["--passstderr", "--unbuffer"])
def test_refused_combinations(other):
    res = subprocess.run([os.environ["WSBRIDGE"], "--pty", other, "cat"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert other in res.stderr and "--pty" in res.stderr


def test_no_fds_or_children_left(wsbridge):
    srv = wsbridge("--pty", *BASH)

    async def one(i):
        async with connect(srv) as ws:
            t = Term(ws)
            await t.type(b"echo X-$((%d+1))\n" % i)
            await t.expect(b"X-%d" % (i + 1))
            if i % 2:
                await t.type(b"exit 0\n")
                await recv_until_closed(ws)

    async def go():
        await one(0)
        await asyncio.gather(*(one(i) for i in range(1, 9)))
    # The first session warms up what the server keeps (the spawner's
    # socket, the thread's buffers); then the baseline.
    run(one(0))
    srv.wait_access(1)
    assert wait_until(lambda: children_of(srv.pid) == [], IO_TIMEOUT)
    base = fd_count(srv.pid)
    run(go())
    srv.wait_access(10)
    assert wait_until(lambda: children_of(srv.pid) == [], IO_TIMEOUT)
    assert wait_until(lambda: fd_count(srv.pid) == base, IO_TIMEOUT), (
        base, fd_count(srv.pid))
