"""Client mode: `wsbridge --connect=URL [OPTIONS] [COMMAND ARGS]`.

The client runs as a subprocess against a wsbridge server (the `wsbridge`
fixture), against an independent Python `websockets` server (clientlib.py
run as a helper), or against servers that misbehave on purpose.
"""

import base64
import ctypes
import hashlib
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, RawWS, child, close_payload, encode_frame,
                      wait_until)
from clientlib import (Helper, free_port, run_client, run_shell,
                       stderr_lines, stop_pid, write_script, wsbridge_path)


@pytest.fixture
def helpers(tmp_path):
    """Factory: helpers(mode, *args) starts a clientlib.py helper server."""
    made = []

    def start(mode, *args):
        h = Helper(mode, *args, cwd=str(tmp_path))
        made.append(h)
        return h.start()

    yield start
    for h in made:
        h.stop()


class Bg:
    """A client in the background; stdout and stderr go to files."""

    def __init__(self, tmp_path, args, name="client", **popen_kw):
        self.out_path = tmp_path / f"{name}.out"
        self.err_path = tmp_path / f"{name}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [wsbridge_path()] + list(args), stdin=subprocess.PIPE,
            stdout=self._out, stderr=self._err, **popen_kw)

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self):
        if not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def wait(self, timeout):
        """Exit status, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def out(self):
        return self.out_path.read_bytes()

    def err(self):
        return self.err_path.read_bytes().decode("utf-8", "replace")

    def wait_out(self, data, timeout=IO_TIMEOUT):
        return wait_until(lambda: data in self.out(), timeout)

    def stop(self):
        self.close_stdin()
        stop_pid(self.proc)
        self._out.close()
        self._err.close()


@pytest.fixture
def bg(tmp_path):
    made = []

    def start(*args, name=None, **popen_kw):
        c = Bg(tmp_path, args, name=name or f"client{len(made)}", **popen_kw)
        made.append(c)
        return c

    yield start
    for c in made:
        c.stop()


def text(b):
    return b.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# 1. the exit status comes back


@pytest.fixture
def exit_server(wsbridge, tmp_path):
    """A server whose child reads stdin to EOF, then exits $QUERY_STRING."""
    script = write_script(tmp_path, "exit_by_query.sh",
                          'cat > /dev/null\nexit "${QUERY_STRING:-0}"\n')
    return wsbridge(script)


@pytest.mark.parametrize("status", [0, 3, 255])
def test_exit_status_round_trip(exit_server, status):
    url = exit_server.url(f"/x?{status}")
    res = run_client([f"--connect={url}"], input=b"")
    assert res.returncode == status, (res.returncode, text(res.stderr))
    lines = stderr_lines(res)
    if status == 0:
        assert lines == [], lines
    else:
        assert len(lines) == 1, lines
        assert lines[0].startswith("wsbridge: "), lines
        assert str(4000 + status) in lines[0], lines
        assert f"exit {status}" in lines[0], lines
    (acc,) = exit_server.wait_access(1)
    assert acc["exit"] == str(status), acc["_line"]
    assert acc["closed_by"] == "child", acc["_line"]


def test_exit_status_of_a_killed_child(wsbridge):
    srv = wsbridge(child("killself.sh"))
    res = run_client([f"--connect={srv.url('/k')}"], input=b"")
    assert res.returncode == 137, (res.returncode, text(res.stderr))
    assert res.stdout == b"before\n"
    lines = stderr_lines(res)
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines
    assert "4137" in lines[0] and "killed by SIGKILL" in lines[0], lines
    (acc,) = srv.wait_access(1)
    assert acc["code"] == "4137" and acc["signal"] == "SIGKILL", acc["_line"]


# --------------------------------------------------------------------------
# 2. stdin EOF is a half-close: the answer still comes back


def test_stdin_eof_does_not_cut_off_the_answer(wsbridge, markers, tmp_path):
    script = write_script(tmp_path, "answer_after_eof.sh", (
        'printf "%s\\n" "$HTTP_WSBRIDGE_HALF_CLOSE" > "$MARKER_DIR/hc"\n'
        'while IFS= read -r l; do echo "got $l"; done\n'
        'sleep 0.3\n'
        'echo done\n'))
    srv = wsbridge(script)
    res = run_shell("printf 'a\\nb\\n' | \"$W\" --connect=\"$URL\"",
                    env=dict(os.environ, W=wsbridge_path(), URL=srv.url("/hc")))
    assert res.returncode == 0, (res.returncode, text(res.stderr))
    assert res.stdout == b"got a\ngot b\ndone\n", res.stdout
    assert stderr_lines(res) == []
    # The client asked for the half-close; the child's status ended it.
    assert markers.read("hc") == "1\n"
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "child" and acc["code"] == "1000", acc["_line"]
    assert acc["msgs_in"] == "2" and acc["msgs_out"] == "3", acc["_line"]


# --------------------------------------------------------------------------
# 3. 10 MiB of binary through `cat`


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("big") / "random.bin"
    p.write_bytes(os.urandom(10 * 1024 * 1024))
    return p


@pytest.mark.parametrize("stdin_kind", ["pipe", "file"])
def test_binary_10mib_round_trip(wsbridge, big_file, tmp_path, stdin_kind):
    srv = wsbridge("--binary", "/bin/cat")
    data = big_file.read_bytes()
    args = ["--binary", f"--connect={srv.url('/big')}"]
    if stdin_kind == "pipe":
        res = run_client(args, input=data, timeout=60)
    else:
        with open(big_file, "rb") as f:
            res = subprocess.run([wsbridge_path()] + args, stdin=f,
                                 capture_output=True, timeout=60)
    assert res.returncode == 0, (res.returncode, text(res.stderr))
    assert stderr_lines(res) == []
    assert len(res.stdout) == len(data)
    assert hashlib.sha256(res.stdout).hexdigest() == \
        hashlib.sha256(data).hexdigest()
    (acc,) = srv.wait_access(1)
    assert acc["bytes_in"] == str(len(data)), acc["_line"]
    assert acc["bytes_out"] == str(len(data)), acc["_line"]


# --------------------------------------------------------------------------
# 4. with a COMMAND, the remote status is the client's


@pytest.mark.parametrize("local,remote", [(0, 0), (0, 7), (9, 0)])
def test_command_mode_exits_with_remote_status(wsbridge, markers, tmp_path,
                                               local, remote):
    script = write_script(tmp_path, "collect.sh", (
        'while IFS= read -r l; do\n'
        '  printf "%s\\n" "$l" >> "$MARKER_DIR/got"\n'
        '  echo "ack $l"\n'
        'done\n'
        'exit "${QUERY_STRING:-0}"\n'))
    srv = wsbridge(script)
    res = run_client([f"--connect={srv.url(f'/cmd?{remote}')}", "/bin/sh",
                      "-c", f"echo hi; exit {local}"], input=b"")
    assert res.returncode == remote, (res.returncode, text(res.stderr))
    assert markers.lines("got") == ["hi"]
    # The command's output went to the server, not to our stdout.
    assert res.stdout == b""
    (acc,) = srv.wait_access(1)
    assert acc["exit"] == str(remote), acc["_line"]


# --------------------------------------------------------------------------
# 5. an independent server (Python websockets)


def records(path):
    try:
        return [json.loads(ln) for ln in path.read_text().splitlines()]
    except FileNotFoundError:
        return []


def header_values(rec, name):
    return [v for k, v in rec["headers"] if k.lower() == name.lower()]


@pytest.mark.parametrize("who_closes", ["server", "client"])
def test_interop_slow_lines(helpers, tmp_path, who_closes):
    rec = tmp_path / "record.jsonl"
    args = ["--record", str(rec)]
    if who_closes == "server":
        args += ["--close-after", "two"]
    h = helpers("echo", *args)
    url = f"ws://127.0.0.1:{h.port}/slow"
    res = run_shell(
        '(echo one; sleep 0.3; echo two; sleep 0.3) | "$W" --connect="$URL"',
        env=dict(os.environ, W=wsbridge_path(), URL=url))
    assert res.returncode == 0, (res.returncode, text(res.stderr))
    assert res.stdout == b"one\ntwo\n", res.stdout
    assert stderr_lines(res) == []
    assert wait_until(lambda: any(r["event"] == "end" for r in records(rec)),
                      IO_TIMEOUT), records(rec)
    (end,) = [r for r in records(rec) if r["event"] == "end"]
    assert end["path"] == "/slow"
    assert end["received"] == ["one", "two"]
    # A wsbridge client always asks for the half-close.
    assert header_values(end, "Wsbridge-Half-Close") == ["1"]
    if who_closes == "client":
        # This server did not agree to a half-close: stdin EOF closes, 1000.
        assert end.get("close", [None])[0] == 1000, end


def test_interop_headers_origin_protocol(helpers, tmp_path, bg):
    rec = tmp_path / "record.jsonl"
    h = helpers("echo", "--record", str(rec), "--subprotocol", "chat",
                "--close-after", "ping")
    c = bg(f"--connect=ws://127.0.0.1:{h.port}/hdr?q=1",
           "--header=X-Test: yes", "--origin=http://example.test",
           "--protocol=chat")
    c.write(b"ping\n")
    rc = c.wait(IO_TIMEOUT * 2)
    assert rc == 0, (rc, c.err())
    assert c.out() == b"ping\n"
    (opened,) = [r for r in records(rec) if r["event"] == "open"]
    assert opened["path"] == "/hdr?q=1"
    assert header_values(opened, "X-Test") == ["yes"]
    assert header_values(opened, "Origin") == ["http://example.test"]
    assert [p.strip() for v in opened["offered"] for p in v.split(",")] == \
        ["chat"]
    assert opened["selected"] == "chat"


# --------------------------------------------------------------------------
# 6. errors


@pytest.mark.parametrize("url", ["http://x/", "ws://"])
def test_bad_url_is_a_usage_error(url):
    res = run_client([f"--connect={url}"], input=b"")
    assert res.returncode == 2, (res.returncode, text(res.stderr))
    lines = stderr_lines(res)
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines
    assert res.stdout == b""


def test_connection_refused(bg):
    port = free_port()
    c = bg(f"--connect=ws://127.0.0.1:{port}/")
    rc = c.wait(IO_TIMEOUT)
    assert rc == 255, (rc, c.err())
    lines = [ln for ln in c.err().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines
    assert str(port) in lines[0] and "connect" in lines[0], lines


@pytest.fixture
def silent_client(helpers, bg):
    h = helpers("silent")
    c = bg(f"--connect=ws://127.0.0.1:{h.port}/", "--connect-timeout=2")
    return c


def test_handshake_timeout_exits_255(silent_client):
    """stdin stays open: only the timeout can end the client."""
    rc = silent_client.wait(15)
    assert rc == 255, (rc, silent_client.err())


def test_handshake_timeout_says_why(silent_client):
    rc = silent_client.wait(15)
    assert rc == 255, (rc, silent_client.err())
    lines = [ln for ln in silent_client.err().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), (
        "expected one line saying why the client failed; got "
        f"{silent_client.err()!r}")


@pytest.fixture
def tls_files(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60)
    if res.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate: {res.stderr!r}")
    return cert, key


@pytest.fixture
def tls_server(helpers, tls_files):
    cert, key = tls_files
    return helpers("echo", "--tls", str(cert), str(key),
                   "--close-after", "hello")


def test_tls_unverified_certificate_fails(tls_server, bg):
    c = bg(f"--connect=wss://localhost:{tls_server.port}/")
    rc = c.wait(15)
    assert rc == 255, (rc, c.err())
    assert c.out() == b""
    lines = [ln for ln in c.err().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines


@pytest.mark.parametrize("how", ["insecure", "sslca"])
def test_tls_trusted(tls_server, tls_files, bg, how):
    cert, _ = tls_files
    flag = "--insecure" if how == "insecure" else f"--sslca={cert}"
    c = bg(f"--connect=wss://localhost:{tls_server.port}/", flag)
    c.write(b"hello\n")
    rc = c.wait(15)           # the server closes with 1000 after its echo
    assert rc == 0, (rc, c.err())
    assert c.out() == b"hello\n"
    assert c.err() == ""


# --------------------------------------------------------------------------
# 7. signals to the client


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143),
                                        (signal.SIGINT, 130)])
def test_client_signal(wsbridge, tmp_path, bg, sig, status):
    script = write_script(tmp_path, "linger.sh", "echo ready\nsleep 30\n")
    srv = wsbridge(script)
    c = bg(f"--connect={srv.url('/sig')}")
    assert c.wait_out(b"ready\n"), (c.out(), c.err())
    os.kill(c.proc.pid, sig)
    rc = c.wait(IO_TIMEOUT)
    assert rc == status, (rc, c.err())
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "client", acc["_line"]
    assert acc["code"] == "1001", acc["_line"]


# --------------------------------------------------------------------------
# 8. `| head -1`


def pipe_to_head(url, tmp_path, name="client"):
    """`wsbridge --connect=URL | head -1`: (head's output, client status,
    client stderr)."""
    err_path = tmp_path / f"{name}.err"
    with open(err_path, "wb") as err:
        c = subprocess.Popen([wsbridge_path(), f"--connect={url}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=err)
        h = subprocess.Popen(["head", "-1"], stdin=c.stdout,
                             stdout=subprocess.PIPE)
        c.stdout.close()            # head holds the only read end
        try:
            out, _ = h.communicate(timeout=IO_TIMEOUT)
            rc = c.wait(timeout=IO_TIMEOUT)
        finally:
            stop_pid(h)
            c.stdin.close()
            stop_pid(c)
    return out, rc, err_path.read_bytes()


def test_pipe_to_head_ends_quietly(wsbridge, tmp_path):
    srv = wsbridge(child("by_query.sh"))
    out, rc, err = pipe_to_head(srv.url("/f?flood"), tmp_path)
    assert out == b"y\n"
    assert err == b""
    # Quietly, as if SIGPIPE had ended it (128 + 13).
    assert rc == 141, rc


def test_pipe_to_head_server_sees_1001(wsbridge, tmp_path):
    """wsbridge(1): "the server sees a 1001 close".  Several rounds, since
    a drop instead of the close frame is a race."""
    srv = wsbridge("--closems=100", child("by_query.sh"))
    rounds = 10
    for i in range(rounds):
        out, rc, err = pipe_to_head(srv.url(f"/f{i}?flood"), tmp_path,
                                    name=f"client{i}")
        assert (out, rc, err) == (b"y\n", 141, b""), (i, out, rc, err)
    accs = srv.wait_access(rounds)
    seen = [(a["closed_by"], a["code"], a["reason"]) for a in accs]
    # The client always sends 1001. But lws 4.1, when it still holds part
    # of a frame for this flooding child, drops the connection on the
    # client's close frame without telling us it saw one (ops-ws.c,
    # "Closing on peer close due to Pending tx"), so a round may log a
    # network close instead: the man page's BUGS section says so.
    for entry in seen:
        assert entry in (("client", "1001", "going away"),
                         ("network", "1006", "connection lost")), seen
    assert ("client", "1001", "going away") in seen, seen


# --------------------------------------------------------------------------
# 9. the server side of the half-close


@pytest.fixture
def after_eof_server(wsbridge, tmp_path):
    script = write_script(tmp_path, "after_eof.sh", (
        'ev="$MARKER_DIR/events"\n'
        'while IFS= read -r l; do echo "got $l"; done\n'
        'echo EOF >> "$ev"\n'
        'sleep 0.3\n'
        'echo after\n'
        'exit 5\n'))
    return wsbridge(script)


def test_half_close_pong_gives_child_eof(after_eof_server, markers,
                                         raw_clients):
    srv = after_eof_server
    r = raw_clients(srv.port)
    status, head = r.handshake("/hc", {"Wsbridge-Half-Close": "1"})
    assert status == 101, head
    assert "wsbridge-half-close: 1" in head.lower(), head
    r.send(encode_frame(0x1, "x"))
    assert r.recv_message() == (0x1, b"got x")
    r.send(encode_frame(0xA, "wsbridge:eof"))
    assert markers.wait_line("events", "EOF"), srv.log_text()
    # The connection is still open: the child's later output arrives, then
    # its status.
    assert r.recv_message() == (0x1, b"after")
    assert r.recv_message() == ("close", (4005, "exit 5"))
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "child" and acc["exit"] == "5", acc["_line"]


def test_message_after_half_close_eof_is_dropped(wsbridge, tmp_path, markers,
                                                raw_clients):
    """After its EOF a client's messages are dropped, not queued: one that
    says it is done and sends on cannot grow the queue for stdin."""
    script = write_script(tmp_path, "slow_reader.sh", (
        'sleep 1\n'
        'cat > "$MARKER_DIR/got"\n'
        'echo read\n'))
    srv = wsbridge(script)
    r = raw_clients(srv.port)
    status, head = r.handshake("/hc-more", {"Wsbridge-Half-Close": "1"})
    assert status == 101, head
    # More than a pipe holds: the rest waits in the queue past the EOF.
    r.send(encode_frame(0x1, "a" * 100000))
    r.send(encode_frame(0xA, "wsbridge:eof"))
    r.send(encode_frame(0x1, "LATE"))
    assert r.recv_message() == (0x1, b"read")
    assert r.recv_message() == ("close", (1000, "exit 0")), srv.log_text()
    got = markers.read("got")
    assert got == "a" * 100000 + "\n", (len(got), got[-20:])
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "child" and acc["exit"] == "0", acc["_line"]


def test_eof_pong_ignored_without_half_close(after_eof_server, markers,
                                             raw_clients):
    srv = after_eof_server
    r = raw_clients(srv.port)
    status, head = r.handshake("/nohc")
    assert status == 101, head
    assert "wsbridge-half-close" not in head.lower(), head
    r.send(encode_frame(0x1, "x"))
    assert r.recv_message() == (0x1, b"got x")
    r.send(encode_frame(0xA, "wsbridge:eof"))
    # A message sent after the pong still reaches the child: it had no EOF.
    r.send(encode_frame(0x1, "y"))
    assert r.recv_message() == (0x1, b"got y")
    assert not markers.wait_line("events", "EOF", timeout=1.0), \
        markers.read("events")
    r.send(encode_frame(0x8, close_payload(1000)))
    assert r.recv_close(reply=False) is not None
    assert markers.wait_line("events", "EOF")
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "client" and acc["code"] == "1000", acc["_line"]


# --------------------------------------------------------------------------
# stdin that is not a pipe


def test_stdin_devnull_is_quiet(exit_server):
    """Only trouble belongs on stderr: /dev/null as stdin is no trouble."""
    with open(os.devnull, "rb") as null:
        res = subprocess.run(
            [wsbridge_path(), f"--connect={exit_server.url('/n?0')}"],
            stdin=null, capture_output=True, timeout=30)
    assert res.returncode == 0, (res.returncode, text(res.stderr))
    assert text(res.stderr) == "", res.stderr


# --------------------------------------------------------------------------
# a dropped connection, before and after the half-close


def test_connection_drop_exits_255(helpers, bg):
    h = helpers("echo", "--drop-after", "0.5")
    c = bg(f"--connect=ws://127.0.0.1:{h.port}/drop")
    rc = c.wait(IO_TIMEOUT)           # stdin stays open: the drop ends it
    assert rc == 255, (rc, c.err())
    lines = [ln for ln in c.err().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines
    assert "connection lost" in lines[0], lines


# A half-closed client still ends the way the rest of its session does.
def test_connection_drop_after_half_close_exits_255(helpers, bg):
    h = helpers("echo", "--half-close", "--drop-after", "1")
    c = bg(f"--connect=ws://127.0.0.1:{h.port}/drop")
    c.close_stdin()                   # half-close at once, then the drop
    rc = c.wait(IO_TIMEOUT)
    assert rc == 255, (rc, c.err())
    assert "connection lost" in c.err(), c.err()


# A server of our own making, for orders of events a real one leaves to
# chance: it answers when and how the test says.

def _fake_listener(rcvbuf=None):
    lsock = socket.socket()
    if rcvbuf is not None:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    return lsock


def _accept_upgrade(listener):
    """Accepts one connection and reads its upgrade request; returns the
    server's end (a RawWS) and the Sec-WebSocket-Accept that answers it."""
    listener.settimeout(IO_TIMEOUT)
    conn, _ = listener.accept()
    end = RawWS(listener.getsockname()[1], sock=conn)
    head = end.read_head()
    key = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
           if ln.lower().startswith(b"sec-websocket-key:")][0]
    return end, base64.b64encode(hashlib.sha1(
        key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


def _upgrade_response(accept):
    """101 with the half-close agreed."""
    return (b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n"
            b"Wsbridge-Half-Close: 1\r\n\r\n")


def test_remote_close_overtaking_the_eof_pong_decides(bg):
    """With the half-close agreed, our stdin's end is not a close: the
    remote's close decides the exit status even when it arrives before the
    end-of-input pong went out (here: queued behind input the remote does
    not read). It once exited 0, "end of input", on a loaded machine."""
    lsock = _fake_listener(rcvbuf=4096)
    port = lsock.getsockname()[1]
    # More input than the socket buffers hold (tcp_wmem's 4 MiB at most),
    # less than the queue: the end of input is read, the pong stays queued.
    c = bg(f"--connect=ws://127.0.0.1:{port}/", "--loglevel=debug",
           "--queuesize=16777216")
    conn, accept = _accept_upgrade(lsock)
    lsock.close()
    conn.send(_upgrade_response(accept))
    c.write((b"x" * 1023 + b"\n") * 8192)
    c.close_stdin()
    assert wait_until(lambda: "end of input" in c.err(), IO_TIMEOUT), c.err()
    conn.send(encode_frame(0x8, close_payload(4007, b"exit 7"), mask=False))
    conn.read_all(limit=1 << 24)      # so that the client can finish
    conn.sock.close()
    rc = c.wait(IO_TIMEOUT)
    assert rc == 7, (rc, c.err())
    assert "4007" in c.err(), c.err()


class MainThreadHeld:
    """Holds one thread of a child process in a ptrace stop, the others
    running: here, wsbridge's main thread while its network thread works.
    (ptrace stops are per thread; SIGSTOP would stop them all.)"""

    PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
    WALL = 0x40000000

    def __init__(self, pid):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long,
                                     ctypes.c_void_p, ctypes.c_void_p]
        self.pid = pid

    def _ptrace(self, req):
        if self.libc.ptrace(req, self.pid, None, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"ptrace({req:#x}): {os.strerror(err)}")

    def __enter__(self):
        self._ptrace(self.PTRACE_SEIZE)
        self._ptrace(self.PTRACE_INTERRUPT)
        _, status = os.waitpid(self.pid, self.WALL)
        assert os.WIFSTOPPED(status), status
        return self

    def __exit__(self, *exc):
        self._ptrace(self.PTRACE_DETACH)


def test_session_over_before_main_looked_keeps_its_output(bg):
    """A remote that answers and closes at once can end the whole session
    on our network thread before the main thread first sees it
    established; its output must still reach stdout (it was lost on a
    loaded machine). Made certain: the main thread is held while the
    answer, a message and the close arrive and the close is answered."""
    lsock = _fake_listener()
    port = lsock.getsockname()[1]
    c = bg(f"--connect=ws://127.0.0.1:{port}/")
    conn, accept = _accept_upgrade(lsock)
    lsock.close()
    with MainThreadHeld(c.proc.pid):
        conn.send(_upgrade_response(accept) +
                  encode_frame(0x1, b"before", mask=False) +
                  encode_frame(0x8, close_payload(4003, b"exit 3"),
                               mask=False))
        # The network thread answers the close without the main thread.
        got = conn.sock.recv(64)
        assert got[:1] == b"\x88", got
        conn.sock.close()
        time.sleep(0.2)     # and sees the end; a shorter wait only weakens
    rc = c.wait(IO_TIMEOUT)
    assert (rc, c.out()) == (3, b"before\n"), (rc, c.out(), c.err())


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143),
                                        (signal.SIGINT, 130)])
def test_signal_after_half_close(wsbridge, tmp_path, bg, sig, status):
    script = write_script(tmp_path, "eof_then_linger.sh",
                          "cat > /dev/null\necho ready\nsleep 30\n")
    srv = wsbridge(script)
    c = bg(f"--connect={srv.url('/hcsig')}")
    c.close_stdin()
    # "ready" comes after the child's EOF: the half-close has happened.
    assert c.wait_out(b"ready\n"), (c.out(), c.err())
    os.kill(c.proc.pid, sig)
    rc = c.wait(IO_TIMEOUT)
    (acc,) = srv.wait_access(1)
    assert (rc, acc["code"]) == (status, "1001"), (rc, acc["_line"])


# --------------------------------------------------------------------------
# --eof-wait: the end of input with a server that is not wsbridge

WEBSOCKETD = "/usr/bin/websocketd"
needs_websocketd = pytest.mark.skipif(
    not os.access(WEBSOCKETD, os.X_OK),
    reason=f"{WEBSOCKETD} is missing (apt-get install websocketd)")


@pytest.fixture
def websocketd(tmp_path):
    """Factory: websocketd(*command) serves command on a loopback port."""
    from test_websocketd_compat import Websocketd
    made = []

    def start(*command):
        w = Websocketd(tmp_path, list(command), dict(os.environ),
                       f"websocketd{len(made)}")
        made.append(w)
        return w

    yield start
    for w in made:
        w.stop()


def piped(url, *args, data=b"a\nb\n"):
    """printf DATA | wsbridge --connect=URL ARGS, timed."""
    t0 = time.monotonic()
    res = run_client([f"--connect={url}"] + list(args), input=data)
    return res, time.monotonic() - t0


@needs_websocketd
def test_eof_wait_websocketd_cat(websocketd):
    """cat never exits (its stdin stays open): the wait's end closes."""
    w = websocketd("cat")
    res, took = piped(w.url(), "--eof-wait=500")
    assert (res.returncode, res.stdout) == (0, b"a\nb\n"), (
        res.returncode, res.stdout, text(res.stderr))
    assert stderr_lines(res) == []
    assert 0.5 <= took < 10, took


@needs_websocketd
def test_eof_wait_websocketd_default(websocketd):
    w = websocketd("cat")
    res, took = piped(w.url())
    assert (res.returncode, res.stdout) == (0, b"a\nb\n"), (
        res.returncode, res.stdout, text(res.stderr))
    assert 2.0 <= took < 12, took       # the default, 2000 ms of silence


@needs_websocketd
def test_eof_wait_websocketd_hangs_up(websocketd):
    """websocketd ends a session whose program exited with a TCP close,
    no close frame: during the wait that is the end, not a lost
    connection."""
    w = websocketd("head", "-n", "1")
    res, took = piped(w.url(), "--eof-wait=20000")
    assert (res.returncode, res.stdout) == (0, b"a\n"), (
        res.returncode, res.stdout, text(res.stderr))
    assert stderr_lines(res) == []
    assert took < 10, took


def test_eof_wait_python_echo(helpers, tmp_path):
    rec = tmp_path / "record.jsonl"
    h = helpers("echo", "--record", str(rec))
    res, took = piped(f"ws://127.0.0.1:{h.port}/ew", "--eof-wait=300")
    assert (res.returncode, res.stdout) == (0, b"a\nb\n"), (
        res.returncode, res.stdout, text(res.stderr))
    assert stderr_lines(res) == []
    assert wait_until(lambda: any(r["event"] == "end" for r in records(rec)),
                      IO_TIMEOUT), records(rec)
    (end,) = [r for r in records(rec) if r["event"] == "end"]
    assert end["received"] == ["a", "b"]
    assert end["close"] == [1000, "end of input"], end


def test_eof_wait_zero_closes_at_once(helpers):
    """The old behaviour: the close follows the input, replies or not."""
    h = helpers("echo", "--mute")
    res, took = piped(f"ws://127.0.0.1:{h.port}/", "--eof-wait=0")
    assert (res.returncode, res.stdout) == (0, b""), (
        res.returncode, text(res.stderr))
    assert took < 5, took
    h2 = helpers("echo")
    res, _ = piped(f"ws://127.0.0.1:{h2.port}/", "--eof-wait=0")
    assert res.returncode == 0, text(res.stderr)
    assert b"a\nb\n".startswith(res.stdout), res.stdout


def test_eof_wait_silent_server_is_bounded(helpers):
    """A server that never answers: we close after the wait, exit 0."""
    h = helpers("echo", "--mute")
    res, took = piped(f"ws://127.0.0.1:{h.port}/", "--eof-wait=700")
    assert (res.returncode, res.stdout) == (0, b""), (
        res.returncode, text(res.stderr))
    assert 0.7 <= took < 10, took


def test_eof_wait_server_close_decides(helpers):
    """A server that closes during the wait gives its status, as ever."""
    h = helpers("echo", "--close-after", "b", "--close-code", "4003")
    res, took = piped(f"ws://127.0.0.1:{h.port}/", "--eof-wait=20000")
    assert (res.returncode, res.stdout) == (3, b"a\nb\n"), (
        res.returncode, text(res.stderr))
    assert took < 10, took


def test_eof_wait_restarts_with_each_message(tmp_path):
    """Replies 0.4 s apart, a wait of 1 s: every one still arrives."""
    script = tmp_path / "slow_echo.py"
    script.write_text(
        "import asyncio, websockets\n"
        "async def h(ws, path):\n"
        "    async for m in ws:\n"
        "        for i in range(5):\n"
        "            await asyncio.sleep(0.4)\n"
        "            await ws.send(f'{m}{i}')\n"
        "async def main():\n"
        "    async with websockets.serve(h, '127.0.0.1', 0) as s:\n"
        "        print('PORT', s.sockets[0].getsockname()[1], flush=True)\n"
        "        await asyncio.sleep(60)\n"
        "asyncio.run(main())\n")
    proc = subprocess.Popen(["/usr/bin/python3", str(script)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("PORT "), line
        res, took = piped(f"ws://127.0.0.1:{line.split()[1]}/",
                          "--eof-wait=1000", data=b"x\n")
        assert (res.returncode, res.stdout) == (
            0, b"x0\nx1\nx2\nx3\nx4\n"), (res.returncode, res.stdout,
                                          text(res.stderr))
    finally:
        stop_pid(proc)
        proc.stdout.close()


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143)])
def test_signal_during_eof_wait(helpers, bg, sig, status):
    h = helpers("echo")
    c = bg(f"--connect=ws://127.0.0.1:{h.port}/", "--eof-wait=60000")
    c.write(b"hello\n")
    assert c.wait_out(b"hello\n"), (c.out(), c.err())
    c.close_stdin()
    time.sleep(0.3)
    assert c.wait(0.5) is None, c.err()     # waiting, as told
    os.kill(c.proc.pid, sig)
    assert c.wait(IO_TIMEOUT) == status, c.err()
