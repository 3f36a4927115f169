"""Server flags beyond the basics: --metrics, --unixsocket, --uid/--gid,
--trusted-proxy, --pingms, --queuesize; SIGHUP, a second SIGTERM, and the
request-head size limit."""

import asyncio
import os
import pwd
import re
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import websockets

from conftest import (IO_TIMEOUT, WSBRIDGE, child, close_of, process_gone,
                      recv, recv_until_closed, refused, run, wait_until)
from clientlib import (free_port, http_exchange, http_status, stderr_lines,
                       write_script)


def run_server_expecting_failure(args, timeout=10):
    """wsbridge ARGS that must not start; returns the CompletedProcess."""
    return subprocess.run([WSBRIDGE] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


async def session(url, send=None, extra_headers=None, timeout=IO_TIMEOUT):
    """One session: optionally send a line, then read until the close.

    Returns (messages, (code, reason))."""
    async with websockets.connect(url, extra_headers=extra_headers,
                                  open_timeout=timeout,
                                  close_timeout=timeout) as ws:
        if send is not None:
            await ws.send(send)
        msgs, exc = await recv_until_closed(ws, timeout)
    return msgs, close_of(exc)


# --------------------------------------------------------------------------
# B1. --metrics


METRIC_RE = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) (\d+)$")


def parse_metrics(body):
    out = {}
    for ln in body.decode().splitlines():
        if ln.startswith("#") or not ln.strip():
            continue
        m = METRIC_RE.match(ln)
        assert m, f"not a sample line: {ln!r}"
        out[m.group(1)] = int(m.group(2))
    return out


def get(port, target, method="GET"):
    return http_status(http_exchange(port, (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Connection: close\r\n\r\n").encode()))


@pytest.fixture
def metrics_server(wsbridge, tmp_path):
    script = write_script(tmp_path, "answer_exit.sh", (
        'IFS= read -r l\n'
        'echo "got $l"\n'
        'exit "${QUERY_STRING:-0}"\n'))
    return wsbridge("--metrics=/metrics", script)


def test_metrics_counters_move(metrics_server):
    srv = metrics_server
    status, hdrs, body = get(srv.port, "/metrics")
    assert status == 200, (status, body)
    before = parse_metrics(body)
    assert before["wsbridge_sessions_total"] == 0
    assert before["wsbridge_sessions_open"] == 0

    for q, code in [("0", 1000), ("0", 1000), ("3", 4003)]:
        msgs, close = run(session(srv.url(f"/m?{q}"), send="hi"))
        assert msgs == ["got hi"] and close[0] == code, (msgs, close)
    srv.wait_access(3)

    def sessions_counted():
        s, _, b = get(srv.port, "/metrics")
        return s == 200 and parse_metrics(b)["wsbridge_sessions_total"] == 3
    assert wait_until(sessions_counted, IO_TIMEOUT)

    status, hdrs, body = get(srv.port, "/metrics")
    assert status == 200
    assert hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs
    m = parse_metrics(body)
    assert m["wsbridge_sessions_total"] == 3
    assert m["wsbridge_sessions_open"] == 0
    assert m['wsbridge_exits_total{class="zero"}'] == 2
    assert m['wsbridge_exits_total{class="nonzero"}'] == 1
    assert m['wsbridge_exits_total{class="signal"}'] == 0
    assert m['wsbridge_closes_total{by="child"}'] == 3
    assert m['wsbridge_close_codes_total{code="1000"}'] == 2
    assert m['wsbridge_close_codes_total{code="exit"}'] == 1
    assert m['wsbridge_messages_total{direction="in"}'] == 3
    assert m['wsbridge_messages_total{direction="out"}'] == 3
    assert m['wsbridge_bytes_total{direction="in"}'] == 3 * len("hi")
    assert m['wsbridge_bytes_total{direction="out"}'] == 3 * len("got hi")
    assert int(hdrs["content-length"]) == len(body)

    # Any query is ignored.
    status, _, body = get(srv.port, "/metrics?x=1")
    assert status == 200 and parse_metrics(body)["wsbridge_sessions_total"] == 3


def test_metrics_head(metrics_server):
    status, hdrs, body = get(metrics_server.port, "/metrics", method="HEAD")
    assert status == 200, status
    assert hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs
    assert int(hdrs["content-length"]) > 0
    assert body == b""


@pytest.mark.parametrize("target", ["/", "/other", "/metricsx", "/metrics/"])
def test_metrics_other_paths_get_426(metrics_server, target):
    status, _, body = get(metrics_server.port, target)
    assert status == 426, (status, body)
    assert b"wsbridge_sessions_total" not in body


def test_metrics_path_still_upgrades_elsewhere(metrics_server):
    msgs, close = run(session(metrics_server.url("/ws?0"), send="a"))
    assert msgs == ["got a"] and close == (1000, "exit 0")


# --------------------------------------------------------------------------
# B2. --unixsocket


@pytest.fixture
def sock_path(tmp_path):
    """A socket path short enough for sun_path (107 bytes)."""
    p = tmp_path / "ws.sock"
    if len(str(p)) <= 100:
        yield p
        return
    d = tempfile.mkdtemp(prefix="wsb", dir="/tmp")
    yield Path(d) / "ws.sock"
    for f in Path(d).iterdir():
        f.unlink()
    os.rmdir(d)


ENV_SCRIPT = ('echo "REMOTE_ADDR=$REMOTE_ADDR"\n'
              'echo "REMOTE_PORT=$REMOTE_PORT"\n'
              'echo "REMOTE_HOST=$REMOTE_HOST"\n')


async def unix_session(path, target="/u"):
    async with websockets.unix_connect(
            str(path), f"ws://localhost{target}", open_timeout=IO_TIMEOUT,
            close_timeout=IO_TIMEOUT) as ws:
        msgs, exc = await recv_until_closed(ws, IO_TIMEOUT)
    return msgs, close_of(exc)


def test_unixsocket_serves_and_is_removed(wsbridge, tmp_path, sock_path):
    script = write_script(tmp_path, "env.sh", ENV_SCRIPT)
    srv = wsbridge(f"--unixsocket={sock_path}", script)
    assert srv.wait_log(rf"listening on unix:{re.escape(str(sock_path))}$")
    assert sock_path.is_socket()
    msgs, close = run(unix_session(sock_path))
    assert close == (1000, "exit 0"), (msgs, close)
    assert "REMOTE_ADDR=unix-socket" in msgs, msgs
    assert "REMOTE_PORT=0" in msgs, msgs
    (acc,) = srv.wait_access(1)
    assert acc["remote"] == "unix-socket", acc["_line"]
    assert acc["path"] == "/u"
    assert srv.stop() == 0
    assert not os.path.lexists(sock_path), "socket file left behind"


def test_unixsocket_live_path_is_not_taken(wsbridge, tmp_path, sock_path):
    script = write_script(tmp_path, "env.sh", ENV_SCRIPT)
    first = wsbridge(f"--unixsocket={sock_path}", script)
    port = free_port()
    res = run_server_expecting_failure([
        f"--port={port}", "--address=127.0.0.1",
        f"--unixsocket={sock_path}", script])
    assert res.returncode != 0, res
    lines = stderr_lines(res)
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines
    assert "INFO listening" not in res.stderr
    assert refused(port)
    # The first server's socket is still there, and still answers.
    assert os.path.lexists(sock_path), "second server removed the socket"
    msgs, close = run(unix_session(sock_path))
    assert close == (1000, "exit 0") and "REMOTE_ADDR=unix-socket" in msgs
    first.stop()
    assert not os.path.lexists(sock_path)


def test_unixsocket_stale_file_is_replaced(wsbridge, tmp_path, sock_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()               # the file stays; nobody listens on it
    assert sock_path.is_socket()
    script = write_script(tmp_path, "env.sh", ENV_SCRIPT)
    wsbridge(f"--unixsocket={sock_path}", script)
    msgs, close = run(unix_session(sock_path))
    assert close == (1000, "exit 0") and "REMOTE_ADDR=unix-socket" in msgs


# --------------------------------------------------------------------------
# B3. --uid / --gid


def need_root():
    if os.geteuid() != 0:
        pytest.skip("--uid/--gid need the tests to run as root")


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' on this system")


ID_ARGS = ["/bin/sh", "-c", 'echo "uid=$(id -u)"; echo "gid=$(id -g)"']


def test_uid_nobody_runs_child_as_nobody(wsbridge):
    need_root()
    pw = nobody()
    srv = wsbridge("--uid=nobody", *ID_ARGS)
    assert srv.wait_log(rf"running as uid {pw.pw_uid} gid {pw.pw_gid}"), \
        srv.log_text()
    msgs, close = run(session(srv.url("/id")))
    assert close == (1000, "exit 0"), (msgs, close)
    assert msgs == [f"uid={pw.pw_uid}", f"gid={pw.pw_gid}"]


def test_uid_and_gid_numbers(wsbridge):
    need_root()
    uid = 12345
    try:
        pwd.getpwuid(uid)
        pytest.skip(f"uid {uid} has a passwd entry here")
    except KeyError:
        pass
    srv = wsbridge(f"--uid={uid}", f"--gid={uid}", *ID_ARGS)
    msgs, close = run(session(srv.url("/id")))
    assert close == (1000, "exit 0"), (msgs, close)
    assert msgs == [f"uid={uid}", f"gid={uid}"]


@pytest.mark.parametrize("flags", [["--uid=nosuchuser-wsb"], ["--uid=12345"],
                                   ["--uid=nobody", "--gid=nosuchgroup-wsb"]],
                         ids=["unknown-user", "number-without-gid",
                              "unknown-group"])
def test_uid_errors_before_listening(flags):
    need_root()
    if flags == ["--uid=12345"]:
        try:
            pwd.getpwuid(12345)
            pytest.skip("uid 12345 has a passwd entry here")
        except KeyError:
            pass
    port = free_port()
    res = run_server_expecting_failure(
        [f"--port={port}", "--address=127.0.0.1"] + flags + ["/bin/cat"])
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = stderr_lines(res)
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines
    assert "INFO listening" not in res.stderr
    assert refused(port)


# --------------------------------------------------------------------------
# B4. --trusted-proxy


XFF = "203.0.113.7, 198.51.100.9"


@pytest.mark.parametrize("proxies,xff,expect", [
    ("127.0.0.1", XFF, "198.51.100.9"),
    ("127.0.0.1", "198.51.100.9", "198.51.100.9"),
    ("10.1.2.3,127.0.0.1", "2001:db8::7", "2001:db8::7"),
    (None, XFF, "127.0.0.1"),
    ("127.0.0.1", "not-an-address", "127.0.0.1"),
    ("127.0.0.1", "203.0.113.7, garbage", "127.0.0.1"),
    ("127.0.0.1", None, "127.0.0.1"),
    ("10.1.2.3", XFF, "127.0.0.1"),
], ids=["rightmost", "single", "ipv6", "not-trusted", "garbage",
        "garbage-rightmost", "no-header", "other-proxy"])
def test_trusted_proxy(wsbridge, tmp_path, proxies, xff, expect):
    script = write_script(tmp_path, "env.sh", ENV_SCRIPT)
    flags = [f"--trusted-proxy={proxies}"] if proxies else []
    srv = wsbridge(*flags, script)
    headers = {"X-Forwarded-For": xff} if xff is not None else None
    msgs, close = run(session(srv.url("/p"), extra_headers=headers))
    assert close == (1000, "exit 0"), (msgs, close)
    assert f"REMOTE_ADDR={expect}" in msgs, msgs
    assert f"REMOTE_HOST={expect}" in msgs, msgs
    (acc,) = srv.wait_access(1)
    if proxies and xff and expect != "127.0.0.1":
        # Behind the proxy the client's port is unknown: no port is made up.
        assert acc["remote"] == expect, acc["_line"]
        assert "REMOTE_PORT=" in msgs, msgs   # empty, not the proxy's
    else:
        want = f"[{expect}]:" if ":" in expect else f"{expect}:"
        assert acc["remote"].startswith(want), acc["_line"]


# --------------------------------------------------------------------------
# B5. --pingms


def test_silent_client_is_dropped_by_ping_timeout(wsbridge, markers,
                                                  raw_clients):
    srv = wsbridge("--pingms=1000", child("record.sh"))
    r = raw_clients(srv.port, timeout=15)
    assert r.handshake("/silent")[0] == 101
    assert markers.wait_exists("events")
    # Read (never answer) until the server hangs up; it should ping first.
    opcodes = []
    for _ in range(1000):
        fr = r.recv_frame()
        if fr is None:
            break
        opcodes.append(fr[1])
        if fr[1] == 0x8:
            break
    assert 0x9 in opcodes, f"no ping before the drop: {opcodes}"
    (acc,) = srv.wait_access(1, timeout=15)
    assert acc["closed_by"] == "network", acc["_line"]
    assert acc["code"] == "1006", acc["_line"]
    assert acc["reason"] == "ping timeout", acc["_line"]
    assert markers.wait_line("events", "HUP"), markers.read("events")


def test_answering_client_is_not_dropped(wsbridge, markers):
    srv = wsbridge("--pingms=1000", child("record.sh"))

    async def go():
        async with websockets.connect(srv.url("/alive"),
                                      close_timeout=IO_TIMEOUT) as ws:
            await ws.send("first")
            assert await recv(ws) == "first"
            await asyncio.sleep(3.0)      # pings come and are answered
            await ws.send("still here")
            got = await recv(ws)
            return got
    assert run(go()) == "still here"
    assert "HUP" not in markers.lines("events")
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "client" and acc["code"] == "1000", acc["_line"]
    assert acc["msgs_in"] == "2", acc["_line"]


# --------------------------------------------------------------------------
# B6. --queuesize


def test_queuesize_minimum_accepted(wsbridge):
    srv = wsbridge("--queuesize=65536", "/bin/cat")

    async def go():
        async with websockets.connect(srv.url("/q")) as ws:
            big = "x" * 200000
            for i in range(5):
                await ws.send(f"{i}{big}")
            return [await recv(ws) for _ in range(5)]
    got = run(go())
    assert [g[0] for g in got] == list("01234")
    assert all(len(g) == 200001 for g in got)


@pytest.mark.parametrize("value", ["100", "65535", "lots"])
def test_queuesize_rejected(value):
    port = free_port()
    res = run_server_expecting_failure([
        f"--port={port}", "--address=127.0.0.1", f"--queuesize={value}",
        "/bin/cat"])
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = stderr_lines(res)
    assert len(lines) == 1 and lines[0].startswith("wsbridge: "), lines
    assert refused(port)


# --------------------------------------------------------------------------
# B7. SIGHUP stops like SIGTERM


def test_sighup_stops_like_sigterm(wsbridge, markers):
    srv = wsbridge(child("record.sh"))

    async def go():
        async with websockets.connect(srv.url("/hup"),
                                      close_timeout=IO_TIMEOUT) as ws:
            await ws.send("x")
            assert await recv(ws) == "x"
            srv.signal(signal.SIGHUP)
            msgs, exc = await recv_until_closed(ws)
            return close_of(exc)
    close = run(go())
    assert close == (1001, "server shutting down"), close
    assert srv.wait_exit() == 0, srv.log_text()
    log = srv.log_text()
    assert re.search(r"INFO shutting down \(Hangup\)", log), log
    assert log.rstrip().splitlines()[-1].endswith("INFO stopped"), log
    (acc,) = srv.access_lines()
    assert acc["closed_by"] == "server" and acc["code"] == "1001", acc["_line"]
    # The child was asked to stop, not hung up on.
    assert markers.wait_line("events", "EOF")


# --------------------------------------------------------------------------
# B8. a second SIGTERM during a slow stop


def test_second_sigterm_kills_children_and_logs(wsbridge, markers):
    # The child ignores SIGTERM; with this grace only SIGKILL ends it early
    # (a first SIGTERM alone would take 2 x 20 s + 2 s), so the bound
    # below tells "killed at once" from "waited out the schedule".
    srv = wsbridge("--closems=20000", child("ignore_term.sh"))

    async def go():
        async with websockets.connect(srv.url("/slow"),
                                      close_timeout=IO_TIMEOUT) as ws:
            assert await recv(ws) == "ready"
            srv.signal(signal.SIGTERM)
            msgs, exc = await recv_until_closed(ws)
            return close_of(exc)
    assert run(go()) == (1001, "server shutting down")
    assert srv.wait_log(r"INFO shutting down \(Terminated\)")
    assert markers.wait_line("events", "EOF")
    pid = int(markers.lines("events")[0].split()[1])
    assert not process_gone(pid), "child died before the second SIGTERM"
    assert srv.access_lines() == []
    srv.signal(signal.SIGTERM)
    rc = srv.wait_exit(timeout=10)
    assert rc == 0, (rc, srv.log_text())
    assert wait_until(lambda: process_gone(pid), 5), f"child {pid} survived"
    accs = srv.access_lines()
    assert len(accs) == 1, srv.log_text()
    assert accs[0]["pid"] == str(pid), accs[0]["_line"]
    assert accs[0]["signal"] == "SIGKILL", accs[0]["_line"]
    assert accs[0]["closed_by"] == "server", accs[0]["_line"]
    assert "TIMEOUT" not in markers.lines("events")
    assert srv.log_text().rstrip().splitlines()[-1].endswith("INFO stopped")


# --------------------------------------------------------------------------
# B9. request head size


async def echo_once(srv, text="ok"):
    async with websockets.connect(srv.url("/after"),
                                  open_timeout=IO_TIMEOUT) as ws:
        await ws.send(text)
        return await recv(ws)


def upgrade_head(port, extra_lines):
    return ("GET /big HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            + "".join(extra_lines) + "\r\n").encode()


def test_oversized_head_gets_431(wsbridge):
    srv = wsbridge("/bin/cat")
    head = upgrade_head(srv.port, [f"X-Big-{i}: {'a' * 4000}\r\n"
                                   for i in range(5)])
    assert len(head) > 16 * 1024
    status, _, body = http_status(http_exchange(srv.port, head))
    assert status == 431, (status, body[:200])
    # No session came of it, and the server still serves.
    assert run(echo_once(srv)) == "ok"
    assert [a for a in srv.access_lines() if a["path"] == "/big"] == []


@pytest.mark.parametrize("size", [8 * 1024, 16 * 1024 - 16],
                         ids=["8KiB", "just-under-16KiB"])
def test_head_within_the_limit_is_served(wsbridge, raw_clients, size):
    """The documented limit is 16 KiB: a head below it gets its 101."""
    srv = wsbridge("/bin/cat")
    base = len(upgrade_head(srv.port, []))
    pad = size - base - len("X-Pad: \r\n")
    head = upgrade_head(srv.port, [f"X-Pad: {'b' * pad}\r\n"])
    assert len(head) == size
    r = raw_clients(srv.port)
    r.send(head)
    try:
        resp = r.read_head()
    except AssertionError as exc:      # EOF before any answer
        raise AssertionError(f"no answer to a {size}-byte head: {exc}; "
                             f"log:\n{srv.log_text()[-2000:]}") from None
    assert resp.startswith(b"HTTP/1.1 101 "), resp[:200]
