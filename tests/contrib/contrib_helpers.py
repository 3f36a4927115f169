"""Shared helpers for the tests of contrib/ (deployment files).

Self-contained: nothing here comes from tests/e2e.  The binary is $WSBRIDGE
(default <repo>/src/wsbridge).  Every process a test starts is stopped by its
pid (SIGTERM, a bounded wait, then SIGKILL); every wait is bounded.

Test modules import these with `from contrib_helpers import ...`.  (Not a
conftest.py: pytest keeps one module named `conftest`, and tests/e2e has its
own, imported the same way; with both directories in one run one of them
would get the other's.)
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONTRIB = REPO / "contrib"
WSBRIDGE = os.environ.get("WSBRIDGE") or str(REPO / "src" / "wsbridge")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 10.0

LISTEN_RE = re.compile(r"INFO listening on 127\.0\.0\.1:(\d+)")
ACCESS_FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
# "  --name=VALUE   text", "  --name[=BOOL]   text", "  --name   text"
HELP_FLAG_RE = re.compile(r"^\s+(--[a-z][a-z0-9-]*)", re.M)


def need_binary():
    if not os.access(WSBRIDGE, os.X_OK):
        pytest.fail(f"wsbridge binary not found or not executable: {WSBRIDGE} "
                    "(build it, or set WSBRIDGE)")
    return WSBRIDGE


def help_text():
    need_binary()
    out = subprocess.run([WSBRIDGE, "--help"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, f"wsbridge --help exited {out.returncode}"
    return out.stdout


def help_flag_specs(text=None):
    """[(flag, kind)] for every flag the usage text lists, in order; kind is
    "value" (--x=V), "optional" (--x[=V]) or "bare" (--x).  A line may list
    several (`--sslcert=FILE --sslkey=FILE   ...`): every leading --word."""
    specs = []
    for line in (help_text() if text is None else text).splitlines():
        if not HELP_FLAG_RE.match(line):
            continue
        for word in line.split():
            m = re.match(r"^(--[a-z][a-z0-9-]*)(\[?=)?", word)
            if not m:
                break
            kind = {None: "bare", "=": "value", "[=": "optional"}[m.group(2)]
            if all(f != m.group(1) for f, _ in specs):
                specs.append((m.group(1), kind))
    return specs


def help_flags():
    """Every --flag the usage text lists, in order."""
    return [f for f, _ in help_flag_specs()]


def has_flag(name):
    return name in help_flags()


def require_flag(name, feature):
    """Fails (not skips) when the binary lacks a flag a test needs."""
    if not has_flag(name):
        pytest.fail(f"{WSBRIDGE} --help has no {name}: {feature} has not "
                    "landed in this build yet")


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.02):
    """Polls predicate until it returns a true value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def parse_access(line):
    """Fields of an ACCESS line as a dict (reason without its quotes)."""
    idx = line.find(" ACCESS ")
    rest = line[idx + len(" ACCESS "):] if idx >= 0 else line
    fields = {}
    for key, value in ACCESS_FIELD_RE.findall(rest):
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        fields[key] = value
    fields["_line"] = line
    return fields


def stop_process(proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Signals proc by pid, waits (bounded), SIGKILLs it if it lingers.

    Returns its exit status (negative: killed by that signal).
    """
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout)
    return proc.returncode


class LoggedProcess:
    """A process whose stderr (and stdout) go to a log file in tmp."""

    def __init__(self, argv, log_path, env=None, preexec_fn=None,
                 pass_fds=()):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = env
        self.preexec_fn = preexec_fn
        self.pass_fds = pass_fds
        self.proc = None
        self.returncode = None

    def start(self):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=self._log, env=self.env, start_new_session=True,
            preexec_fn=self.preexec_fn, pass_fds=self.pass_fds)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        self.returncode = stop_process(self.proc, sig, timeout)
        if getattr(self, "_log", None) is not None and not self._log.closed:
            self._log.close()
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, regex, timeout=IO_TIMEOUT):
        rx = re.compile(regex, re.M)
        return wait_until(lambda: rx.search(self.log_text()), timeout)

    def access_lines(self):
        return [parse_access(ln) for ln in self.log_text().splitlines()
                if " ACCESS " in ln]

    def wait_access(self, count, timeout=IO_TIMEOUT):
        wait_until(lambda: len(self.access_lines()) >= count, timeout)
        return self.access_lines()


class Wsbridge(LoggedProcess):
    """wsbridge on 127.0.0.1, --port=0 unless args say otherwise."""

    def __init__(self, tmp_path, args, name="wsbridge", env=None,
                 base_args=("--port=0", "--address=127.0.0.1")):
        need_binary()
        super().__init__([WSBRIDGE, *base_args, *args],
                         Path(tmp_path) / f"{name}.log", env=env)
        self.name = name
        self.port = None

    def start(self):
        super().start()
        m = wait_until(lambda: LISTEN_RE.search(self.log_text())
                       or not self.alive(), START_TIMEOUT)
        if not isinstance(m, re.Match):
            rc = self.proc.poll()
            self.stop()
            pytest.fail(f"wsbridge {self.name} did not report listening "
                        f"(rc={rc}); argv={self.argv}\n"
                        f"log:\n{self.log_text()}")
        self.port = int(m.group(1))
        return self

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"


SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory)Sanitizer|"
                          r"WARNING: ThreadSanitizer|runtime error: ")
SANITIZER_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS",
                  "LSAN_OPTIONS")


def assert_clean_exit(proc, what="wsbridge"):
    """After stop(): exit status 0, no sanitizer report in its log."""
    log = proc.log_text()
    m = SANITIZER_RE.search(log)
    assert not m, f"{what}: sanitizer report in its log:\n{log[-6000:]}"
    assert proc.returncode == 0, \
        f"{what} exited {proc.returncode} after SIGTERM\n{log[-3000:]}"


def write_script(path, text):
    path = Path(path)
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


# --------------------------------------------------------------------------
# asyncio / websockets


def run(coro, timeout=120):
    """Runs a coroutine with an overall upper bound."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def recv(ws, timeout=IO_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def recv_until_closed(ws, timeout=IO_TIMEOUT, limit=10000):
    """Messages until the connection closes: (messages, ConnectionClosed)."""
    import websockets
    msgs = []
    deadline = time.monotonic() + timeout
    for _ in range(limit):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            msgs.append(await asyncio.wait_for(ws.recv(), left))
        except websockets.ConnectionClosed as exc:
            return msgs, exc
        except asyncio.TimeoutError:
            break
    raise AssertionError(f"connection not closed within {timeout}s; "
                         f"got {msgs[:20]!r}")


def close_of(exc):
    """(code, reason) of the close frame the client received, or None."""
    if exc.rcvd is None:
        return None
    return (exc.rcvd.code, exc.rcvd.reason)
