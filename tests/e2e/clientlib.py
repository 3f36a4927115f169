"""Helpers for the client-mode and server-extras tests.

Two halves:

* functions the tests import (`from clientlib import ...`): running
  `wsbridge --connect=...` as a subprocess, writing small child scripts,
  starting the helper servers below and stopping them by pid;
* a command line (`/usr/bin/python3 clientlib.py MODE ...`) that runs one of
  the independent servers the client is tested against:

    echo    [--record FILE] [--subprotocol NAME] [--close-after TEXT]
            [--close-code N] [--tls CERT KEY] [--half-close]
            [--drop-after SECS] [--mute]
            a Python `websockets` echo server; FILE gets one JSON object per
            connection (path, request headers, offered and selected
            subprotocols, what was received); with --close-after it closes
            with 1000 (or --close-code N) "bye" after echoing a message
            equal to TEXT; with --mute it echoes nothing; with
            --half-close it answers "Wsbridge-Half-Close: 1" (and otherwise
            knows nothing of it); with --drop-after it drops the TCP
            connection, without a close frame, SECS after the handshake.
    silent  accepts TCP connections and never says a word.

  Every helper server binds 127.0.0.1 port 0, prints "PORT <n>" on stdout
  once it listens, and exits by itself after --lifetime seconds (default 60)
  so nothing can outlive a test run even if its pid is lost.
"""

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conftest import free_port, stop_pid  # noqa: F401 -- tests import them here

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"

CLIENT_TIMEOUT = 30.0      # liveness bound for one client run
HELPER_START_TIMEOUT = 10.0


def wsbridge_path():
    # The same rule as conftest.py, without importing it from a subprocess.
    return os.environ.get("WSBRIDGE") or str(HERE.parent.parent / "src" / "wsbridge")



def write_script(directory, name, body, mode=0o755):
    """An executable /bin/sh script in directory; returns its path (str)."""
    p = Path(directory) / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(mode)
    return str(p)


def run_client(args, input=b"", timeout=CLIENT_TIMEOUT, env=None, **kw):
    """`wsbridge ARGS` with stdin from a pipe holding `input`.

    Returns the CompletedProcess (bytes stdout/stderr)."""
    return subprocess.run([wsbridge_path()] + list(args), input=input,
                          capture_output=True, timeout=timeout, env=env, **kw)


def run_shell(script, env=None, timeout=CLIENT_TIMEOUT):
    """`/bin/bash -c SCRIPT` in a session of its own; a timeout kills that
    whole process group (by its id) and fails.  Returns CompletedProcess."""
    proc = subprocess.Popen(["/bin/bash", "-c", script], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate(timeout=10)
        raise AssertionError(f"shell pipeline still running after {timeout}s: "
                             f"{script}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def stderr_lines(res):
    err = res.stderr
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    return [ln for ln in err.splitlines() if ln.strip()]


class Helper:
    """One helper server (this file run as a script) in a subprocess."""

    def __init__(self, mode, *args, cwd=None):
        self.argv = [PYTHON, str(Path(__file__).resolve()), mode] + [
            str(a) for a in args]
        self.cwd = cwd
        self.proc = None
        self.port = None

    def start(self):
        # A file, not a pipe: a chatty helper must never block on stderr.
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._err, cwd=self.cwd)
        deadline = time.monotonic() + HELPER_START_TIMEOUT
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline and b"\n" not in buf:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                data = os.read(fd, 4096)
                if not data:
                    break
                buf += data
            elif self.proc.poll() is not None:
                break
        line = buf.split(b"\n", 1)[0].decode(errors="replace")
        if not line.startswith("PORT "):
            stop_pid(self.proc)
            self._err.seek(0)
            err = self._err.read().decode(errors="replace")
            self.stop()
            raise AssertionError(f"helper {self.argv} did not start: "
                                 f"{buf!r}\n{err}")
        self.port = int(line.split()[1])
        return self

    def stop(self):
        rc = stop_pid(self.proc)
        for f in (self.proc.stdout, self._err):
            if f is not None and not f.closed:
                f.close()
        return rc


def http_exchange(port, data, timeout=10.0, host="127.0.0.1"):
    """Sends raw bytes, half-closes, returns all the server sent until EOF
    (a reset after the answer counts as EOF)."""
    s = socket.create_connection((host, port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass                # the server may answer before reading all
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(out) < (1 << 20):
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def http_status(resp):
    """(status, {lower-case header: value}, body) of a raw HTTP answer."""
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        return None, {}, resp
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(parts[1]), headers, body


# --------------------------------------------------------------------------
# the helper servers (run as a script)


def _parse(argv):
    opts = {"record": None, "subprotocol": None, "close_after": None,
            "tls": None, "lifetime": 60.0, "half_close": False,
            "drop_after": None, "close_code": 1000, "mute": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--record":
            opts["record"] = argv[i + 1]
            i += 2
        elif a == "--subprotocol":
            opts["subprotocol"] = argv[i + 1]
            i += 2
        elif a == "--close-after":
            opts["close_after"] = argv[i + 1]
            i += 2
        elif a == "--tls":
            opts["tls"] = (argv[i + 1], argv[i + 2])
            i += 3
        elif a == "--close-code":
            opts["close_code"] = int(argv[i + 1])
            i += 2
        elif a == "--mute":
            opts["mute"] = True
            i += 1
        elif a == "--half-close":
            opts["half_close"] = True
            i += 1
        elif a == "--drop-after":
            opts["drop_after"] = float(argv[i + 1])
            i += 2
        elif a == "--lifetime":
            opts["lifetime"] = float(argv[i + 1])
            i += 2
        else:
            raise SystemExit(f"clientlib: unknown argument {a}")
    return opts


def _echo_main(opts):
    import asyncio
    import json
    import ssl

    import websockets

    def record(obj):
        if opts["record"]:
            with open(opts["record"], "a") as f:
                f.write(json.dumps(obj) + "\n")

    async def handler(ws, path):
        hdrs = [[k, v] for k, v in ws.request_headers.raw_items()]
        offered = ws.request_headers.get_all("Sec-WebSocket-Protocol")
        got = []
        entry = {"path": path, "headers": hdrs, "offered": offered,
                 "selected": ws.subprotocol, "received": got}
        record(dict(entry, event="open"))
        if opts["drop_after"] is not None:
            asyncio.get_running_loop().call_later(opts["drop_after"],
                                                  ws.transport.abort)
        try:
            for _ in range(100000):
                msg = await ws.recv()
                got.append(msg if isinstance(msg, str) else msg.hex())
                if not opts["mute"]:
                    await ws.send(msg)
                if opts["close_after"] is not None and msg == opts["close_after"]:
                    await ws.close(opts["close_code"], "bye")
                    break
        except websockets.ConnectionClosed as exc:
            entry["close"] = [exc.code, exc.reason]
        record(dict(entry, event="end"))

    async def main():
        ctx = None
        if opts["tls"]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*opts["tls"])
        kw = {}
        if opts["subprotocol"]:
            kw["subprotocols"] = [opts["subprotocol"]]
        if opts["half_close"]:
            kw["extra_headers"] = [("Wsbridge-Half-Close", "1")]
        async with websockets.serve(handler, "127.0.0.1", 0, ssl=ctx,
                                    **kw) as srv:
            port = srv.sockets[0].getsockname()[1]
            print(f"PORT {port}", flush=True)
            await asyncio.sleep(opts["lifetime"])

    asyncio.run(main())


def _silent_main(opts):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    print(f"PORT {s.getsockname()[1]}", flush=True)
    held = []
    deadline = time.monotonic() + opts["lifetime"]
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            c, _ = s.accept()
            held.append(c)          # accepted, never answered
        except socket.timeout:
            pass


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: clientlib.py echo|silent [options]")
    _opts = _parse(sys.argv[2:])
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if sys.argv[1] == "echo":
        _echo_main(_opts)
    elif sys.argv[1] == "silent":
        _silent_main(_opts)
    else:
        raise SystemExit(f"clientlib: unknown mode {sys.argv[1]}")
