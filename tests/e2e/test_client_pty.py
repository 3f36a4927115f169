"""`wsbridge --connect=URL --pty`: a terminal client, tested under tmux.

The server's --pty is built apart, so the server here is this file run as
a script: a Python `websockets` server that speaks the server side of the
--pty protocol (wsbridge(1), CLIENT MODE) well enough. It runs bash on a
pseudo-terminal of the size in the URL's query, applies resize messages
with TIOCSWINSZ, sends the terminal's output as binary messages and closes
with 1000 / 4000+N / 4128+S when bash ends. Each connection's path,
subprotocol and resize messages go to a JSON-lines record file.

The client runs in a tmux pane on a server of our own (-L wsbtest-PID,
no config file), driven with send-keys and read with capture-pane; that
tmux server is killed by its socket at the end, whatever happened.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"
TMUX = shutil.which("tmux")
STEP = 10.0                     # bound on each wait for the screen


# --------------------------------------------------------------------------
# the server (run as a script: test_client_pty.py RECORD_FILE)


def serve(record):
    import asyncio
    import fcntl
    import pty
    import struct
    import termios
    import urllib.parse

    import websockets

    def note(obj):
        with open(record, "a") as f:
            f.write(json.dumps(obj) + "\n")

    def set_size(fd, cols, rows):
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))

    def query_size(query, key, default):
        try:
            v = int(urllib.parse.parse_qs(query)[key][0])
        except (KeyError, ValueError):
            return default
        return v if 1 <= v <= 1000 else default

    async def handler(ws, path):
        query = urllib.parse.urlsplit(path).query
        cols = query_size(query, "cols", 80)
        rows = query_size(query, "rows", 24)
        note({"event": "open", "path": path, "subprotocol": ws.subprotocol,
              "cols": cols, "rows": rows})
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["TERM"] = "xterm-256color"
            os.environ["PS1"] = "R$ "
            os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
        set_size(fd, cols, rows)
        loop = asyncio.get_running_loop()
        out = asyncio.Queue()

        def readable():
            try:
                data = os.read(fd, 65536)
            except OSError:         # EIO: every slave fd is closed
                data = b""
            if not data:
                loop.remove_reader(fd)
            out.put_nowait(data)

        loop.add_reader(fd, readable)

        async def to_client():
            while True:
                data = await out.get()
                if not data:
                    return
                await ws.send(data)

        async def from_client():
            async for msg in ws:
                if isinstance(msg, bytes) or ws.subprotocol != "wsbridge.pty":
                    os.write(fd, msg if isinstance(msg, bytes)
                             else msg.encode())
                    continue
                m = json.loads(msg)
                note({"event": "control", "message": m})
                if (set(m) != {"type", "cols", "rows"} or
                        m["type"] != "resize" or
                        not all(isinstance(m[k], int) and 1 <= m[k] <= 1000
                                for k in ("cols", "rows"))):
                    await ws.close(1007, "bad control message")
                    return
                set_size(fd, m["cols"], m["rows"])

        outt = asyncio.ensure_future(to_client())
        intt = asyncio.ensure_future(from_client())
        done, _ = await asyncio.wait({outt, intt},
                                     return_when=asyncio.FIRST_COMPLETED)
        if outt not in done:        # the client left: hang up on bash
            os.kill(pid, signal.SIGHUP)
            loop.remove_reader(fd)
            outt.cancel()
        intt.cancel()
        while True:
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                break
            await asyncio.sleep(0.02)
        os.close(fd)
        n = os.waitstatus_to_exitcode(st)
        code = 1000 if n == 0 else 4000 + n if n > 0 else 4128 - n
        note({"event": "end", "code": code})
        await ws.close(code, f"exit {n}")

    async def main():
        async with websockets.serve(handler, "127.0.0.1", 0,
                                    subprotocols=["wsbridge.pty"]) as srv:
            print(f"PORT {srv.sockets[0].getsockname()[1]}", flush=True)
            await asyncio.sleep(120)

    asyncio.run(main())


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    serve(sys.argv[1])
    sys.exit(0)


# --------------------------------------------------------------------------
# the tests

import pytest  # noqa: E402

from clientlib import stop_pid, wsbridge_path  # noqa: E402
from conftest import wait_until  # noqa: E402

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is missing")


class PtyServer:
    def __init__(self, tmp_path):
        self.record = tmp_path / "pty-record.jsonl"
        self.proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).resolve()), str(self.record)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=open(tmp_path / "pty-server.err", "wb"),
            start_new_session=True)
        line = b""
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if ready:
            line = self.proc.stdout.readline()
        assert line.startswith(b"PORT "), (
            line, (tmp_path / "pty-server.err").read_text())
        self.port = int(line.split()[1])

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def events(self):
        if not self.record.exists():
            return []
        return [json.loads(ln) for ln in self.record.read_text().splitlines()
                if ln.strip()]

    def stop(self):
        # bash on its terminal is in a session of its own: hang it up too.
        stop_pid(self.proc)
        self.proc.stdout.close()


class Tmux:
    """A tmux server of our own, one detached session of a fixed size."""

    def __init__(self, tmp_path, cols=100, rows=30):
        self.sock = f"wsbtest-{os.getpid()}-{time.monotonic_ns()}"
        self.base = [TMUX, "-L", self.sock, "-f", "/dev/null"]
        env = dict(os.environ, PS1="L$ ", TERM="xterm-256color")
        env.pop("TMUX", None)
        self.run("new-session", "-d", "-s", "t", "-x", str(cols),
                 "-y", str(rows), "env PS1='L$ ' bash --norc --noprofile -i", env=env)
        self.run("set-option", "-g", "history-limit", "5000")

    def run(self, *args, env=None, check=True):
        return subprocess.run(self.base + list(args), env=env, check=check,
                              capture_output=True, timeout=10)

    def keys(self, *keys):
        self.run("send-keys", "-t", "t", *keys)

    def line(self, text):
        """Types text, then Enter (-l: as it is, not key names)."""
        self.run("send-keys", "-t", "t", "-l", text)
        self.run("send-keys", "-t", "t", "Enter")

    def screen(self):
        return self.run("capture-pane", "-p", "-J", "-t", "t",
                        "-S", "-2000").stdout.decode("utf-8", "replace")

    def wait(self, pattern, timeout=STEP):
        """The first match of regex pattern on the screen, or fail."""
        rx = re.compile(pattern)
        m = wait_until(lambda: rx.search(self.screen()), timeout,
                       interval=0.05)
        assert m, f"no {pattern!r} on the screen:\n{self.screen()}"
        return m

    def kill(self):
        self.run("kill-server", check=False)


@pytest.fixture
def tmux(tmp_path):
    t = Tmux(tmp_path)
    try:
        yield t
    finally:
        t.kill()


@pytest.fixture
def pty_server(tmp_path):
    s = PtyServer(tmp_path)
    yield s
    s.stop()


def start_client(tmux, pty_server, tmp_path, path="/"):
    """In the pane: remember the terminal's mode, run the client (its pid to
    a file), then print its exit status and whether the mode came back."""
    pidfile = tmp_path / "client.pid"
    tmux.wait(r"L\$ ")
    tmux.line(f"stty -g > {tmp_path}/before; "
              f"sh -c 'echo $$ > {pidfile}; exec \"$0\" \"$@\"' "
              f"{wsbridge_path()} --connect={pty_server.url(path)} --pty; "
              f"echo RC=$?; stty -g > {tmp_path}/after; "
              f"cmp -s {tmp_path}/before {tmp_path}/after && "
              f"echo MODE-SAME-$((2*3)); "
              f"for f in $(stty -a); do case $f in "
              f"icanon|-icanon|echo|-echo) printf '%s,' $f;; esac; done; "
              f"echo END$((0+1))MODE")
    assert wait_until(lambda: pidfile.exists() and
                      pidfile.read_text().strip(), STEP)
    tmux.wait(r"R\$ ")          # the remote shell's prompt
    return int(pidfile.read_text())


def assert_back_to_cooked(tmux):
    tmux.wait(r"MODE-SAME-6")
    m = tmux.wait(r"(\S*)END1MODE")
    assert m.group(1) == "icanon,echo,", m.group(0)


def test_pty_session(tmux, pty_server, tmp_path):
    start_client(tmux, pty_server, tmp_path, "/term?x=1")
    (opened,) = [e for e in pty_server.events() if e["event"] == "open"]
    assert opened["subprotocol"] == "wsbridge.pty", opened
    assert opened["path"] == "/term?x=1&cols=100&rows=30", opened

    # The window's size, from the URL.
    tmux.line("echo S1 $(stty size) E1")
    tmux.wait(r"S1 30 100 E1")

    # A resize of the window reaches the remote terminal.
    tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "40")
    assert wait_until(lambda: {"type": "resize", "cols": 120, "rows": 40}
                      in [e.get("message") for e in pty_server.events()],
                      STEP), pty_server.events()
    tmux.line("echo S2 $(stty size) E2")
    tmux.wait(r"S2 40 120 E2")

    # Ctrl-C interrupts the remote sleep, not us.
    tmux.line("sleep 30; echo SLEPT-$((1+1))")
    time.sleep(0.5)
    t0 = time.monotonic()
    tmux.keys("C-c")
    tmux.line("echo ALIVE-$((2+2))")
    tmux.wait(r"ALIVE-4")
    assert time.monotonic() - t0 < 10
    assert "SLEPT-2" not in tmux.screen()
    assert not re.search(r"RC=\d", tmux.screen())

    # The remote status is ours, and our terminal is cooked again.
    tmux.line("exit 3")
    tmux.wait(r"RC=3")
    assert_back_to_cooked(tmux)
    assert [e["code"] for e in pty_server.events()
            if e["event"] == "end"] == [4003]


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143),
                                        (signal.SIGHUP, 129),
                                        (signal.SIGUSR1, 138)])
def test_pty_signal_restores_terminal(tmux, pty_server, tmp_path, sig,
                                      status):
    """Stopped (SIGTERM, SIGHUP) or killed (SIGUSR1: the handler restores
    the mode, then the signal's default action) in raw mode."""
    pid = start_client(tmux, pty_server, tmp_path)
    tmux.line("echo UP-$((3+4))")
    tmux.wait(r"UP-7")
    os.kill(pid, sig)
    tmux.wait(rf"RC={status}\b")
    assert_back_to_cooked(tmux)


def test_pty_stdin_not_a_terminal(pty_server, tmp_path):
    """Piped: no raw mode, no resize; the keys are the pipe's bytes."""
    res = subprocess.run(
        [wsbridge_path(), f"--connect={pty_server.url('/p')}", "--pty"],
        input=b"echo PIPED-$((5*5)); exit 4\n", capture_output=True,
        timeout=30)
    assert res.returncode == 4, (res.returncode, res.stderr)
    assert b"PIPED-25" in res.stdout, res.stdout
    (opened,) = [e for e in pty_server.events() if e["event"] == "open"]
    # Neither stdin nor stdout is a terminal: the URL is left alone.
    assert opened["path"] == "/p", opened
    assert opened["subprotocol"] == "wsbridge.pty", opened


def test_pty_client_against_our_own_server(tmux, wsbridge, tmp_path):
    """The whole terminal, both ends ours: `wsbridge --pty bash` served,
    `wsbridge --connect --pty` in a tmux pane."""
    srv = wsbridge("--pty", "--passenv=PATH,PS1", "/bin/bash", "--norc",
                   "--noprofile", "-i", env={"PS1": "R$ "})
    start_client(tmux, srv, tmp_path, "/")

    tmux.line("echo S1 $(stty size) $(tty | cut -c1-9) E1")
    tmux.wait(r"S1 30 100 /dev/pts/ E1")

    tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "40")
    tmux.line("trap 'echo WINCH-$((4+4))' WINCH")
    tmux.run("resize-window", "-t", "t", "-x", "110", "-y", "35")
    tmux.wait(r"WINCH-8")
    tmux.line("echo S2 $(stty size) E2")
    tmux.wait(r"S2 35 110 E2")

    tmux.line("sleep 30; echo SLEPT-$((1+1))")
    time.sleep(0.5)
    tmux.keys("C-c")
    tmux.line("echo ALIVE-$((2+2))")
    tmux.wait(r"ALIVE-4")
    assert "SLEPT-2" not in tmux.screen()

    tmux.line("exit 3")
    tmux.wait(r"RC=3")
    assert_back_to_cooked(tmux)
    (acc,) = srv.wait_access(1)
    assert acc["exit"] == "3" and acc["code"] == "4003", acc["_line"]
