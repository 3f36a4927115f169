"""Requests wsbridge must refuse itself, with an answer and a log line.

An upgrade that is no valid opening handshake (RFC 6455 4.1, RFC 7230) is
answered 400 by check_upgrade and logged as `ACCESS refused`, before any
WebSocket code sees it.  Also here: the body timeout of a CGI script
(--cgidir), and connections reset in the middle of their request head,
which must give their fd back at once, not at the 10 s head timeout.
"""

import socket
import struct
import time

import pytest

from conftest import IO_TIMEOUT, fd_count, process_gone, wait_until

CAT = "/bin/cat"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
HEAD_TIMEOUT = 10           # the server's, for the head and a CGI body


def upgrade(port, target="/", version="HTTP/1.1", drop=(), extra=(),
            body=b""):
    """The bytes of an upgrade request: the usual five headers (less DROP),
    then EXTRA (name, value) pairs, then BODY after the blank line."""
    headers = [("Host", f"127.0.0.1:{port}"), ("Upgrade", "websocket"),
               ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY),
               ("Sec-WebSocket-Version", "13")]
    lines = [f"GET {target} {version}"]
    lines += [f"{k}: {v}" for k, v in headers if k not in drop]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(port, data, timeout=IO_TIMEOUT):
    """Sends DATA; returns the response head (b"" if the server closed
    without one) and the rest of what came before EOF or a 101."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        for _ in range(10000):
            if b"\r\n\r\n" in got and not got.startswith(b"HTTP/1.1 4"):
                break           # a 101: the session is not our business
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no answer within {timeout}s: "
                                     f"{got[:300]!r}")
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    return head, rest


def status_of(head):
    assert head.startswith(b"HTTP/1.1 "), f"no answer, or not HTTP: {head!r}"
    return int(head.split(b" ", 2)[1])


def refused_lines(srv):
    return [a for a in srv.access_lines() if "refused" in a["_line"]]


# --------------------------------------------------------------------------
# 1 and 2: handshakes that are not valid, refused with 400


LONG_DOTS = "/" + "../" * 1200 + "etc/passwd"       # 3.6 kB

BAD_UPGRADES = {
    "no Host": dict(drop=["Host"]),
    "empty Host": dict(drop=["Host"], extra=[("Host", "")]),
    "two Hosts": dict(extra=[("Host", "evil.test")]),
    "Host with a space": dict(drop=["Host"], extra=[("Host", "a b")]),
    "%00 in the path": dict(target="/a%00b"),
    "%00 in the query": dict(target="/a?x=%00"),
    "a bad escape": dict(target="/a%zzb"),
    "a cut escape": dict(target="/a%2"),
    "a long /../.. path": dict(target=LONG_DOTS),
    "a /./ segment": dict(target="/a/./b"),
    "an encoded .. segment": dict(target="/a/%2e%2E/b"),
    "a .. behind an encoded slash": dict(target="/a%2F..%2Fb"),
    "two Upgrade headers": dict(extra=[("Upgrade", "websocket")]),
    "Upgrade with another protocol": dict(
        drop=["Upgrade"], extra=[("Upgrade", "websocket, h2c")]),
    "two keys": dict(extra=[("Sec-WebSocket-Key",
                             "x3JJHMbDL1EzLkh9GBhXDw==")]),
    "two versions": dict(extra=[("Sec-WebSocket-Version", "13")]),
    "two Origins": dict(extra=[("Origin", "http://127.0.0.1"),
                               ("Origin", "http://evil.test")]),
    "HTTP/1.0": dict(version="HTTP/1.0"),
    "a Content-Length body": dict(extra=[("Content-Length", "5")],
                                  body=b"hello"),
    "a bad Content-Length": dict(extra=[("Content-Length", "x")]),
    "a chunked body": dict(extra=[("Transfer-Encoding", "chunked")],
                           body=b"5\r\nhello\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("case", list(BAD_UPGRADES))
def test_invalid_handshake_is_refused_with_400(wsbridge, case):
    srv = wsbridge(CAT)
    kw = BAD_UPGRADES[case]
    head, body = exchange(srv.port, upgrade(srv.port, **kw))
    assert status_of(head) == 400, (case, head[:300])
    assert b"Connection: close" in head
    assert body.startswith(b"400 Bad Request\n"), body
    lines = wait_until(lambda: refused_lines(srv), IO_TIMEOUT)
    assert len(lines) == 1, srv.log_text()[-2000:]
    target = kw.get("target", "/")
    assert lines[0]["status"] == "400"
    assert lines[0]["path"] == target
    assert lines[0]["remote"].startswith("127.0.0.1:")
    # Refused before anything was spawned or handed over.
    assert "started" not in srv.log_text()
    assert "handshake failed" not in srv.log_text()


GOOD_UPGRADES = {
    "plain": dict(),
    "Content-Length: 0": dict(extra=[("Content-Length", "0")]),
    "Connection on two lines": dict(
        drop=["Connection"], extra=[("Connection", "keep-alive"),
                                    ("Connection", "Upgrade")]),
    "Connection as a list": dict(
        drop=["Connection"], extra=[("Connection", "keep-alive, Upgrade")]),
    "an IPv6 Host": dict(drop=["Host"], extra=[("Host", "[::1]:8080")]),
    "a Host without a port": dict(drop=["Host"], extra=[("Host", "a.test")]),
    "dots that are no segments": dict(target="/a.b/...x/.c/..d?x=/../"),
    "escapes": dict(target="/a%20b?q=%41%2f"),
}


@pytest.mark.parametrize("case", list(GOOD_UPGRADES))
def test_valid_handshake_still_upgrades(wsbridge, case):
    srv = wsbridge(CAT)
    head, _ = exchange(srv.port, upgrade(srv.port, **GOOD_UPGRADES[case]))
    assert status_of(head) == 101, (case, head[:300])
    assert refused_lines(srv) == []


def test_refusals_leave_the_server_serving(wsbridge):
    srv = wsbridge(CAT)
    for kw in BAD_UPGRADES.values():
        head, _ = exchange(srv.port, upgrade(srv.port, **kw))
        assert status_of(head) == 400
    head, _ = exchange(srv.port, upgrade(srv.port))
    assert status_of(head) == 101
    assert len(refused_lines(srv)) == len(BAD_UPGRADES)


def test_dot_segments_with_dir_stay_403(wsbridge, tmp_path):
    # --dir maps the path onto files: a dot segment there is forbidden.
    d = tmp_path / "scripts"
    d.mkdir()
    script = d / "s.sh"
    script.write_text("#!/bin/sh\nexec cat\n")
    script.chmod(0o755)
    srv = wsbridge(f"--dir={d}")
    head, _ = exchange(srv.port, upgrade(srv.port, target="/a/../s.sh"))
    assert status_of(head) == 403
    head, _ = exchange(srv.port, upgrade(srv.port, target="/s%00.sh"))
    assert status_of(head) == 400


# --------------------------------------------------------------------------
# 3: a CGI request body that stops coming


SLOW_READER = """#!/bin/sh
# Notes its pid, reads the whole body, then answers.
echo $$ > "$MARKER_DIR/cgi_pid"
body=$(head -c "$CONTENT_LENGTH")
printf 'Content-Type: text/plain\\n\\n%s' "$body"
"""


def http_request(port, data, timeout=IO_TIMEOUT):
    """Sends DATA; returns everything until EOF."""
    out = b""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        for _ in range(10000):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no EOF within {timeout}s: {out[:300]!r}")
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


def post(port, path, length, body):
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode() + body


def test_cgi_body_timeout_answers_408_and_frees_the_slot(wsbridge, tmp_path,
                                                         markers):
    cgi = tmp_path / "cgi"
    cgi.mkdir()
    (cgi / "slow.sh").write_text(SLOW_READER)
    (cgi / "slow.sh").chmod(0o755)
    srv = wsbridge(f"--cgidir={cgi}", "--maxforks=1", CAT)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT)
    try:
        started = time.monotonic()
        s.sendall(post(srv.port, "/slow.sh", 100, b"12345"))
        assert markers.wait_exists("cgi_pid")
        pid = int(wait_until(lambda: markers.read("cgi_pid").strip(),
                             IO_TIMEOUT))
        # The script holds the one slot meanwhile.
        busy = http_request(srv.port, post(srv.port, "/slow.sh", 0, b""))
        assert busy.startswith(b"HTTP/1.1 429 "), busy[:200]
        # Then the body times out: 408, and the connection ends.
        s.settimeout(HEAD_TIMEOUT + IO_TIMEOUT)
        got = b""
        for _ in range(1000):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        assert got.startswith(b"HTTP/1.1 408 "), got[:300]
        assert time.monotonic() - started >= HEAD_TIMEOUT - 1
    finally:
        s.close()
    assert wait_until(lambda: process_gone(pid), IO_TIMEOUT)
    line = [a for a in srv.access_lines() if a.get("status") == "408"]
    assert len(line) == 1, srv.log_text()[-2000:]
    assert line[0]["path"] == "/slow.sh"
    assert line[0]["pid"] == str(pid)
    # The slot is free again: a whole body is answered.
    r = http_request(srv.port, post(srv.port, "/slow.sh", 5, b"hello"))
    assert r.startswith(b"HTTP/1.1 200 "), r[:300]
    assert r.endswith(b"\r\n\r\nhello")


# --------------------------------------------------------------------------
# 4: connections that end in the middle of their request head


HALF_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"


def settle_baseline(srv):
    """The server's fd count once a whole request has come and gone."""
    head, _ = exchange(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(head) == 426
    last = None
    for _ in range(50):
        n = fd_count(srv.pid)
        if n == last:
            return n
        last = n
        time.sleep(0.1)
    return last


@pytest.mark.parametrize("how", ["reset", "half-close"])
def test_cut_head_gives_its_fd_back_at_once(wsbridge, how):
    srv = wsbridge(CAT)
    base = settle_baseline(srv)
    socks = []
    try:
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", srv.port),
                                         timeout=IO_TIMEOUT)
            socks.append(s)
            s.sendall(HALF_HEAD)
        assert wait_until(lambda: fd_count(srv.pid) >= base + 50,
                          IO_TIMEOUT), (fd_count(srv.pid), base)
        for s in socks:
            if how == "reset":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
                s.close()
            else:
                s.shutdown(socket.SHUT_WR)
        # Well before the 10 s head timeout.
        assert wait_until(lambda: fd_count(srv.pid) <= base, 4), \
            (fd_count(srv.pid), base)
    finally:
        for s in socks:
            s.close()
    assert srv.alive()
    assert srv.access_lines() == []
    head, _ = exchange(srv.port, upgrade(srv.port))
    assert status_of(head) == 101
