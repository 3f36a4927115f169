"""Fixtures and helpers for the wsbridge end-to-end tests.

The binary comes from $WSBRIDGE (default: <repo>/src/wsbridge).  Every server
listens on 127.0.0.1 with --port=0 and logs to a file in tmp_path.  Child
scripts find their marker directory through $MARKER_DIR, which the server
passes on with --passenv=PATH,MARKER_DIR (the `wsbridge` fixture adds that
flag unless a test asks for its own --passenv).

Test modules import the helpers below with `from conftest import ...`.
"""

import asyncio
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest


def free_port():
    """A port nobody listens on right now (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WSBRIDGE = os.environ.get("WSBRIDGE") or str(REPO / "src" / "wsbridge")
CHILDREN = HERE / "children"
PYTHON = "/usr/bin/python3"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 10.0

LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
ACCESS_FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def child(name):
    """Absolute path of a script in children/."""
    return str(CHILDREN / name)


# --------------------------------------------------------------------------
# log parsing


def parse_access(line):
    """Fields of an ACCESS line as a dict (reason without its quotes)."""
    idx = line.find(" ACCESS ")
    rest = line[idx + len(" ACCESS "):] if idx >= 0 else line
    fields = {}
    for key, value in ACCESS_FIELD_RE.findall(rest):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        fields[key] = value
    fields["_line"] = line
    return fields


def wait_until(predicate, timeout, interval=0.02):
    """Polls predicate until it returns a true value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------
# /proc helpers


def proc_status(pid):
    """/proc/PID/status as a dict, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = {}
    for ln in text.splitlines():
        k, _, v = ln.partition(":")
        out[k] = v.strip()
    return out


def rss_kib(pid):
    st = proc_status(pid)
    if st is None or "VmRSS" not in st:
        return None
    return int(st["VmRSS"].split()[0])


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def process_gone(pid):
    """True if pid no longer runs (absent, or a zombie nobody reaped)."""
    st = proc_status(pid)
    return st is None or st.get("State", "").startswith("Z")


SPAWNER_NAME = "wsbridge-spawn"    # the server's spawner process (comm)


def direct_children_of(pid):
    """[(child pid, state letter)] for every process whose PPid is pid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_status(name)
        if st is None:
            continue
        if st.get("PPid") == str(pid):
            out.append((int(name), st.get("State", "?")[:1]))
    return out


def spawner_of(pid, timeout=5.0):
    """The pid of the server's spawner process, or None. The log says
    "listening" before the spawner is forked, so it may take a moment."""
    def find():
        for c, _ in direct_children_of(pid):
            st = proc_status(c)
            if st is not None and st.get("Name") == SPAWNER_NAME:
                return c
        return None
    return wait_until(find, timeout) or None


def children_of(pid):
    """[(child pid, state letter)] of the server's children: those its
    spawner process started for it, and any it started itself (the spawner
    is not counted: it lives as long as the server)."""
    out = []
    for c, state in direct_children_of(pid):
        st = proc_status(c)
        if st is not None and st.get("Name") == SPAWNER_NAME:
            out.extend(direct_children_of(c))
        else:
            out.append((c, state))
    return out


def zombies_of(pid):
    return [c for c, s in children_of(pid) if s == "Z"]


# --------------------------------------------------------------------------
# markers


class Markers:
    """The directory the children write their marker files into."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name):
        return self.path / name

    def read(self, name):
        try:
            return (self.path / name).read_text()
        except FileNotFoundError:
            return ""

    def lines(self, name):
        return self.read(name).splitlines()

    def wait_line(self, name, line, timeout=IO_TIMEOUT):
        """Waits until file `name` holds a line equal to `line`."""
        return wait_until(lambda: line in self.lines(name), timeout)

    def wait_exists(self, name, timeout=IO_TIMEOUT):
        return wait_until(lambda: (self.path / name).exists(), timeout)


# --------------------------------------------------------------------------
# the server


def stop_pid(proc, timeout=STOP_TIMEOUT):
    """SIGTERM by pid, a bounded wait, then SIGKILL by pid."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=timeout)


def refused(port):
    """Whether nothing accepts connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


class Server:
    def __init__(self, tmp_path, args, env=None, base_args=None, name="wsbridge",
                 nofile=None):
        self.tmp_path = Path(tmp_path)
        self.log_path = self.tmp_path / f"{name}.log"
        self.out_path = self.tmp_path / f"{name}.out"
        if base_args is None:
            base_args = ["--port=0", "--address=127.0.0.1"]
        self.argv = [WSBRIDGE] + list(base_args) + list(args)
        self.env = env
        self.nofile = nofile        # RLIMIT_NOFILE for the server, if set
        self.proc = None
        self.port = None
        self.returncode = None

    # lifecycle
    def start(self):
        if not os.access(WSBRIDGE, os.X_OK):
            pytest.fail(f"wsbridge binary not found or not executable: {WSBRIDGE}")
        self._log = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        limit = self.nofile

        def set_limits():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=self._log, env=self.env, start_new_session=True,
            preexec_fn=set_limits)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self.log_text())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        rc = self.proc.poll()
        self.stop()
        pytest.fail(f"wsbridge did not report listening (rc={rc}); "
                    f"argv={self.argv}\nlog:\n{self.log_text()}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the server to exit; returns its status or None."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self):
        """SIGTERM by pid, a bounded wait, then SIGKILL by pid."""
        if self.proc is None:
            return None
        stop_pid(self.proc)
        self.returncode = self.proc.returncode
        for f in (getattr(self, "_log", None), getattr(self, "_out", None)):
            if f is not None and not f.closed:
                f.close()
        return self.returncode

    # addresses
    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    # log
    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, regex, timeout=IO_TIMEOUT):
        """Waits for regex to match the log; returns the match or None."""
        rx = re.compile(regex, re.M)
        return wait_until(lambda: rx.search(self.log_text()), timeout)

    def access_lines(self):
        return [parse_access(ln) for ln in self.log_text().splitlines()
                if " ACCESS " in ln]

    def wait_access(self, count=1, timeout=IO_TIMEOUT):
        """Waits for at least `count` ACCESS lines; returns them all."""
        wait_until(lambda: len(self.access_lines()) >= count, timeout)
        lines = self.access_lines()
        assert len(lines) >= count, (
            f"expected {count} ACCESS line(s), got {len(lines)}; log:\n"
            + self.log_text()[-4000:])
        return lines


@pytest.fixture
def markers(tmp_path):
    return Markers(tmp_path / "markers")


@pytest.fixture
def wsbridge(tmp_path, markers):
    """Factory: wsbridge(*args, env=None, passenv=None, base_args=None).

    args are flags and then the command.  Unless args hold a --passenv flag
    (or passenv is given), --passenv=PATH,MARKER_DIR is added in front;
    passenv=False adds no --passenv flag at all.
    The server's environment is os.environ plus MARKER_DIR plus env.
    """
    servers = []

    def start(*args, env=None, passenv=None, base_args=None, name=None,
              nofile=None):
        full_env = dict(os.environ)
        full_env["MARKER_DIR"] = str(markers.path)
        if env:
            full_env.update(env)
        args = list(args)
        has_passenv = any(re.match(r"--?passenv(=|$)", a) for a in args
                          if a.startswith("-"))
        if passenv is False:
            pass                    # the server's default --passenv
        elif passenv is not None:
            args = [f"--passenv={passenv}"] + args
        elif not has_passenv:
            args = ["--passenv=PATH,MARKER_DIR"] + args
        srv = Server(tmp_path, args, env=full_env, base_args=base_args,
                     name=name or f"wsbridge{len(servers)}", nofile=nofile)
        servers.append(srv)
        return srv.start()

    yield start
    for srv in servers:
        srv.stop()


# --------------------------------------------------------------------------
# asyncio


def run(coro, timeout=60):
    """Runs a coroutine with an overall upper bound."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def recv(ws, timeout=IO_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def recv_until_closed(ws, timeout=IO_TIMEOUT, limit=100000):
    """Receives messages until the connection closes.

    Returns (messages, close) where close is the ConnectionClosed exception.
    """
    import websockets
    msgs = []
    deadline = time.monotonic() + timeout
    for _ in range(limit):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"connection not closed after {timeout}s "
                                 f"({len(msgs)} messages)")
        try:
            msgs.append(await asyncio.wait_for(ws.recv(), left))
        except websockets.ConnectionClosed as exc:
            return msgs, exc
        except asyncio.TimeoutError:
            raise AssertionError(f"connection not closed after {timeout}s "
                                 f"({len(msgs)} messages)")
    raise AssertionError("too many messages")


def close_of(exc):
    """(code, reason) of the close frame received, or None."""
    if exc.rcvd is None:
        return None
    return (exc.rcvd.code, exc.rcvd.reason)


# --------------------------------------------------------------------------
# raw WebSocket over a plain socket


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0,
                 length=None, key=None):
    """A WebSocket frame.  `length` overrides the encoded payload length."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = key if key is not None else os.urandom(4)
        masked = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        return hdr + key + masked
    return hdr + payload


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawWS:
    """A WebSocket client on a plain socket, for what real clients won't do."""

    def __init__(self, port, timeout=IO_TIMEOUT, rcvbuf=None, sock=None):
        """Connects to 127.0.0.1:port; or wraps sock, a connection accepted
        on port, for tests that play the server."""
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.sock.settimeout(timeout)
        self.port = port
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def handshake(self, path="/", headers=None):
        """Sends an upgrade request; returns (status code, header text)."""
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        lines = [f"GET {path} HTTP/1.1",
                 f"Host: 127.0.0.1:{self.port}",
                 "Upgrade: websocket",
                 "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self.read_head()
        status = int(head.split(b" ", 2)[1])
        return status, head.decode("latin-1")

    def read_head(self, limit=65536):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("response head too long")
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"EOF during response head: {self.buf!r}")
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head

    def read_all(self, limit=1 << 20):
        """Everything until EOF (bounded by the socket timeout)."""
        out = self.buf
        self.buf = b""
        while len(out) < limit:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            out += data
        return out

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return False
            self.buf += data
        return True

    def recv_frame(self):
        """(fin, opcode, payload) of the next frame, or None at EOF."""
        if not self._fill(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            if not self._fill(4):
                return None
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            if not self._fill(10):
                return None
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        if b1 & 0x80:
            if not self._fill(off + 4):
                return None
            key = self.buf[off:off + 4]
            off += 4
        else:
            key = None
        if not self._fill(off + n):
            return None
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        if key:
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        return (bool(b0 & 0x80), b0 & 0x0F, payload)

    def recv_message(self):
        """(opcode, payload) of the next data message (fragments joined),
        ('close', (code, reason)) for a close frame, or None at EOF."""
        parts = []
        op = None
        for _ in range(100000):
            fr = self.recv_frame()
            if fr is None:
                return None
            fin, opcode, payload = fr
            if opcode == 8:
                if len(payload) >= 2:
                    code = struct.unpack("!H", payload[:2])[0]
                    return ("close", (code, payload[2:].decode("utf-8", "replace")))
                return ("close", (None, ""))
            if opcode in (9, 10):
                continue
            if opcode != 0:
                op = opcode
            parts.append(payload)
            if fin:
                return (op, b"".join(parts))
        raise AssertionError("too many frames")

    def recv_close(self, reply=True):
        """Reads until a close frame or EOF: (code, reason) or None.

        With reply, answers a close frame with one of the same code, as a
        well-behaved client does."""
        for _ in range(100000):
            try:
                m = self.recv_message()
            except ConnectionResetError:
                return None
            except socket.timeout:
                raise AssertionError(
                    "neither a close frame nor EOF within "
                    f"{self.sock.gettimeout()}s") from None
            if m is None:
                return None
            if m[0] == "close":
                code = m[1][0]
                if reply:
                    try:
                        self.send(encode_frame(
                            0x8, close_payload(code) if code else b""))
                    except OSError:
                        pass
                return m[1]
        raise AssertionError("too many messages")

    def wait_eof(self):
        """Reads until EOF; True if EOF came within the socket timeout."""
        for _ in range(100000):
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
            if not data:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def raw_clients():
    """Collects RawWS objects so that they are closed at teardown."""
    made = []

    def make(port, **kw):
        r = RawWS(port, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


async def echo_check(server, token="ping", timeout=IO_TIMEOUT, path="/"):
    """One session against a line-mode echo server: send token, expect it."""
    import websockets
    async with websockets.connect(server.url(path), open_timeout=timeout,
                                  close_timeout=timeout) as ws:
        await ws.send(token)
        got = await recv(ws, timeout)
        assert got == token
    return True


# tests/e2e.sh runs the suite on several pytest-xdist workers when
# python3-pytest-xdist is there (--dist loadgroup: one test at a time to any
# free worker, except that a group stays on one worker). These modules
# measure CPU time or wall-clock bounds, or hold hundreds to thousands of
# fds and sessions: they all go to one worker, so that at least they never
# run beside each other.
MACHINE_WIDE = {
    "test_idle_thousands.py",   # a thousand idle sessions, RLIMIT_NOFILE
    "test_chaos.py",            # wall-clock phases, many sessions
    "test_load.py",             # load, RLIMIT_NOFILE of 48
    "test_hostile_sessions.py", # server CPU time while idle, time bounds
    "test_auth.py",             # CPU time of password checks, latencies
    "test_mutation.py",         # wall-clock budgets
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in MACHINE_WIDE:
            item.add_marker(pytest.mark.xdist_group("machine"))
        elif item.path.name in ("test_client.py", "test_http_side.py"):
            # module-scoped fixtures: keep each module's tests together
            item.add_marker(pytest.mark.xdist_group(item.path.name))
