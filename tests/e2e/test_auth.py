"""--basic-auth, --auth-realm, --auth-header and a client's credentials.

Password files are made here with Debian's own tools, as a user would:
`htpasswd -B` (apache2-utils) for bcrypt, `mkpasswd` (whois) for yescrypt
and sha512crypt.  HTTP goes through curl, WebSockets through python
websockets and `wsbridge --connect`.
"""

import asyncio
import base64
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import websockets

from conftest import IO_TIMEOUT, WSBRIDGE, recv, run, wait_until
from clientlib import run_client, write_script

HTPASSWD = shutil.which("htpasswd")
MKPASSWD = shutil.which("mkpasswd")
CURL = shutil.which("curl")

pytestmark = pytest.mark.skipif(
    HTPASSWD is None or MKPASSWD is None or CURL is None,
    reason="needs htpasswd (apache2-utils), mkpasswd (whois) and curl")

CAT = "/bin/cat"


def basic(user, password):
    """An Authorization header's value."""
    return "Basic " + base64.b64encode(
        f"{user}:{password}".encode()).decode()


def bcrypt_line(user, password, cost=5):
    out = subprocess.run([HTPASSWD, "-nbB", "-C", str(cost), user, password],
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def mkpasswd_line(user, password, method):
    out = subprocess.run([MKPASSWD, "-m", method, "--stdin"], input=password,
                         capture_output=True, text=True, check=True, timeout=60)
    return f"{user}:{out.stdout.strip()}"


@pytest.fixture
def pwfile(tmp_path):
    """A password file with one user per scheme, all with password 'secret'
    but for bob ('b0b pass:word')."""
    f = tmp_path / "htpasswd"
    f.write_text("# made by the test\n"
                 + bcrypt_line("alice", "secret") + "\n\n"
                 + mkpasswd_line("bob", "b0b pass:word", "yescrypt") + "\n"
                 + mkpasswd_line("carol", "secret", "sha512crypt") + "\n")
    return f


def curl(port, path="/", user=None, extra=(), source=None):
    """(status, headers text, body) of one GET through curl."""
    args = [CURL, "-s", "-S", "-i", "--max-time", "20",
            f"http://127.0.0.1:{port}{path}"]
    if user is not None:
        args += ["-u", user]
    if source is not None:
        args += ["--interface", source]
    res = subprocess.run(args + list(extra), capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    head, _, body = res.stdout.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), body


async def ws_session(url, send=(), user=None, password=None, extra=None,
                     count=None):
    """Opens a session (with Basic credentials if given), sends lines and
    reads until the close or `count` messages; returns the messages."""
    headers = dict(extra or {})
    if user is not None:
        headers["Authorization"] = basic(user, password)
    async with websockets.connect(url, open_timeout=IO_TIMEOUT,
                                  close_timeout=2, extra_headers=headers) as ws:
        for line in send:
            await ws.send(line)
        msgs = []
        try:
            while count is None or len(msgs) < count:
                msgs.append(await recv(ws))
        except websockets.ConnectionClosed:
            pass
        return msgs


def ws_status(url, **kw):
    """101, or the HTTP status the upgrade was refused with."""
    try:
        run(ws_session(url, count=0, **kw))
        return 101
    except websockets.exceptions.InvalidStatusCode as exc:
        return exc.status_code


def env_of(msgs):
    return dict(m.split("=", 1) for m in msgs if "=" in m)


def refused_lines(srv):
    return [a for a in srv.access_lines() if "refused" in a["_line"]]


# --------------------------------------------------------------------------
# start-up


@pytest.mark.parametrize("line, lineno", [
    ("alice:secret", 2),                                  # plain text
    ("bob:$apr1$HfPL6fIJ$NNNqoPrCoAL6UYsENiGJD/", 2),      # htpasswd -m
    ("carol:ndBZvQUCc7rfg", 2),                           # DES, htpasswd -d
    ("dave:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=", 2),         # htpasswd -s
    ("no colon", 2),
])
def test_bad_file_refused_at_start_naming_the_line(tmp_path, line, lineno):
    f = tmp_path / "htpasswd"
    f.write_text(bcrypt_line("zed", "x") + "\n" + line + "\n")
    res = subprocess.run([WSBRIDGE, "--port=0", "--address=127.0.0.1",
                          f"--basic-auth={f}", CAT], capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert res.returncode == 2, res
    assert f"--basic-auth={f}: line {lineno}: " in res.stderr, res.stderr
    assert "listening" not in res.stderr
    # The hash is not repeated on the terminal.
    if "$" in line:
        assert line.split(":", 1)[1] not in res.stderr


def test_unreadable_file_refused_at_start(tmp_path):
    res = subprocess.run([WSBRIDGE, "--port=0", "--address=127.0.0.1",
                          f"--basic-auth={tmp_path}/none", CAT],
                         capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 2
    assert "No such file or directory" in res.stderr, res.stderr


def start_and_read_log(args, timeout=10):
    """Starts wsbridge ARGS, waits for 'listening', stops it; returns its
    log (for servers the wsbridge fixture cannot start: other addresses)."""
    proc = subprocess.Popen([WSBRIDGE] + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + timeout
        lines = []
        while time.monotonic() < deadline:
            ln = proc.stderr.readline()
            if not ln:
                break
            lines.append(ln)
            if "serving" in ln:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return "".join(lines)


def test_warning_for_plain_basic_auth_off_loopback(pwfile):
    log = start_and_read_log(["--port=0", "--address=0.0.0.0",
                              f"--basic-auth={pwfile}", CAT])
    assert re.search(r"warning: --basic-auth without --ssl on 0\.0\.0\.0",
                     log), log
    log = start_and_read_log(["--port=0", "--address=127.0.0.1",
                              f"--basic-auth={pwfile}", CAT])
    assert "serving" in log and "warning:" not in log, log


# --------------------------------------------------------------------------
# plain HTTP: the dev console, static files, CGI, metrics


def test_devconsole_needs_each_scheme_password(wsbridge, pwfile):
    srv = wsbridge(f"--basic-auth={pwfile}", "--devconsole", CAT)
    status, head, body = curl(srv.port)
    assert status == 401
    assert 'WWW-Authenticate: Basic realm="cat"' in head, head
    assert b"devconsole" not in body.lower() and b"<html" not in body
    for user in ("alice:secret", "bob:b0b pass:word", "carol:secret"):
        status, _, body = curl(srv.port, user=user)
        assert status == 200, user
        assert b"<html" in body.lower()
    for user in ("alice:Secret", "bob:b0b pass", "carol:", "nobody:secret"):
        assert curl(srv.port, user=user)[0] == 401, user
    refused = refused_lines(srv)
    assert [r.get("user") for r in refused] == \
        ["-", "alice", "bob", "carol", "nobody"]
    assert all(r["status"] == "401" for r in refused)
    # Never a password in the log.
    log = srv.log_text()
    for pw in ("secret", "Secret", "b0b pass"):
        assert pw not in log


def test_realm_is_configurable(wsbridge, pwfile):
    srv = wsbridge(f"--basic-auth={pwfile}", "--auth-realm=Team shell",
                   "--devconsole", CAT)
    status, head, _ = curl(srv.port)
    assert status == 401
    assert 'WWW-Authenticate: Basic realm="Team shell"' in head, head


def test_static_cgi_and_metrics_need_it_too(wsbridge, pwfile, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<p>hi</p>\n")
    cgi = tmp_path / "cgi"
    cgi.mkdir()
    write_script(cgi, "env.cgi", "echo 'Content-Type: text/plain'; echo; "
                 "/usr/bin/env | LC_ALL=C /usr/bin/sort\n")
    srv = wsbridge(f"--basic-auth={pwfile}", f"--staticdir={static}",
                   f"--cgidir={cgi}", "--metrics=/metrics", CAT)
    for path in ("/", "/index.html", "/env.cgi", "/metrics"):
        assert curl(srv.port, path)[0] == 401, path
    assert curl(srv.port, "/index.html", user="alice:secret")[2] == \
        b"<p>hi</p>\n"
    status, _, body = curl(srv.port, "/metrics", user="carol:secret")
    assert status == 200 and b"wsbridge_sessions" in body
    status, _, body = curl(srv.port, "/env.cgi", user="bob:b0b pass:word")
    assert status == 200
    env = dict(ln.split("=", 1) for ln in body.decode().splitlines()
               if "=" in ln)
    assert env["REMOTE_USER"] == "bob"
    assert env["AUTH_TYPE"] == "Basic"
    assert "HTTP_AUTHORIZATION" not in env      # it holds the password
    assert srv.wait_log(r"ACCESS cgi .*path=/env\.cgi .*user=bob")
    # Refused before the script ran: one CGI line only.
    assert len(re.findall(r"ACCESS cgi ", srv.log_text())) == 1


# --------------------------------------------------------------------------
# WebSocket


def test_websocket_env_and_access_line(wsbridge, pwfile, tmp_path):
    script = write_script(tmp_path, "env.sh",
                          "/usr/bin/env | LC_ALL=C /usr/bin/sort\n")
    srv = wsbridge(f"--basic-auth={pwfile}", script)
    env = env_of(run(ws_session(srv.url("/x"), user="bob",
                                password="b0b pass:word")))
    assert env["REMOTE_USER"] == "bob"
    assert env["AUTH_TYPE"] == "Basic"
    assert "HTTP_AUTHORIZATION" not in env
    line = srv.wait_access(1)[-1]
    assert line["user"] == "bob" and line["path"] == "/x"


def test_websocket_refused_before_spawn_and_maxforks(wsbridge, pwfile,
                                                     markers):
    srv = wsbridge(f"--basic-auth={pwfile}", "--maxforks=1", CAT)

    async def go():
        headers = {"Authorization": basic("alice", "secret")}
        async with websockets.connect(srv.url(), extra_headers=headers,
                                      open_timeout=IO_TIMEOUT) as ws:
            await ws.send("hold")
            assert await recv(ws) == "hold"
            # The one slot is taken: a stranger still gets 401, not 429,
            # and a known user 429.
            out = []
            for kw in ({}, {"user": "alice", "password": "wrong"},
                       {"user": "alice", "password": "secret"}):
                try:
                    await ws_session(srv.url(), count=0, **kw)
                    out.append(101)
                except websockets.exceptions.InvalidStatusCode as exc:
                    out.append(exc.status_code)
            return out
    assert run(go()) == [401, 401, 429]
    # One child only was ever started.
    srv.wait_access(1)
    assert len(re.findall(r"session=\d+ .* started", srv.log_text())) == 1


def test_client_mode_credentials(wsbridge, pwfile, tmp_path):
    srv = wsbridge(f"--basic-auth={pwfile}", CAT)
    url = f"ws://127.0.0.1:{srv.port}/c"
    res = run_client([f"--connect=ws://alice:secret@127.0.0.1:{srv.port}/c"],
                     input=b"one\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"one\n"
    # A password with a space and a colon, escaped in the URL.
    res = run_client([f"--connect=ws://bob:b0b%20pass%3Aword@127.0.0.1:"
                      f"{srv.port}/c"], input=b"two\n")
    assert res.returncode == 0, res.stderr
    env = dict(os.environ, WSBRIDGE_PASSWORD="secret")
    res = run_client([f"--connect=ws://carol@127.0.0.1:{srv.port}/c"],
                     input=b"three\n", env=env)
    assert res.returncode == 0 and res.stdout == b"three\n", res.stderr
    pw = tmp_path / "pw"
    pw.write_text("b0b pass:word\n")
    res = run_client([f"--connect=ws://bob@127.0.0.1:{srv.port}/c",
                      f"--password-file={pw}"], input=b"four\n")
    assert res.returncode == 0 and res.stdout == b"four\n", res.stderr
    users = [a["user"] for a in srv.wait_access(4)
             if "session" in a]
    assert users == ["alice", "bob", "carol", "bob"]
    # Refused: its own status and a line that says why, no password.
    for args in ([f"--connect=ws://alice:nope@127.0.0.1:{srv.port}/c"],
                 [f"--connect={url}"]):
        res = run_client(args, input=b"x\n")
        assert res.returncode == 77, res
        err = res.stderr.decode()
        assert f"wsbridge: {url}: 401 Unauthorized" in err, err
        assert "nope" not in err
    # A user without a password anywhere is a usage error.
    res = run_client([f"--connect=ws://alice@127.0.0.1:{srv.port}/c"],
                     env={k: v for k, v in os.environ.items()
                          if k != "WSBRIDGE_PASSWORD"})
    assert res.returncode == 2
    assert b"no password for user 'alice'" in res.stderr


def test_client_hides_the_url_password_from_ps(wsbridge, pwfile):
    srv = wsbridge(f"--basic-auth={pwfile}", CAT)
    proc = subprocess.Popen(
        [WSBRIDGE, f"--connect=ws://alice:secret@127.0.0.1:{srv.port}/"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"hello\n"   # connected, talking
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"secret" not in cmdline, cmdline
        assert b"ws://alice:xxxxxx@127.0.0.1" in cmdline, cmdline
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0


def test_reverselookup_path_with_auth(wsbridge, pwfile):
    # A verified request that then waits for its reverse lookup.
    srv = wsbridge(f"--basic-auth={pwfile}", "--reverselookup", CAT)
    msgs = run(ws_session(srv.url(), send=["rl"], user="alice",
                          password="secret", count=1))
    assert msgs == ["rl"]
    assert srv.wait_access(1)[-1]["user"] == "alice"


# --------------------------------------------------------------------------
# guessing, slow hashes, the file changing


def test_guessing_gets_429_then_other_addresses_still_pass(wsbridge, pwfile):
    srv = wsbridge(f"--basic-auth={pwfile}", "--devconsole", CAT)
    codes = [curl(srv.port, user=f"alice:zq{i}x")[0] for i in range(8)]
    # Some tries are free; then 429, whatever is sent.
    assert codes[:4] == [401] * 4, codes
    assert 429 in codes, codes
    first = codes.index(429)
    assert all(c == 429 for c in codes[first:]), codes
    status, head, _ = curl(srv.port, user="alice:secret")
    assert status == 429
    retry = int(re.search(r"Retry-After: (\d+)", head).group(1))
    assert 1 <= retry <= 300
    # Without a password at all: 429 too, not a fresh 401 challenge.
    assert curl(srv.port)[0] == 429
    # Another address is not punished for this one's guesses.
    assert curl(srv.port, user="alice:secret", source="127.0.0.2")[0] == 200
    # Blocked tries are logged, without a user or a password.
    assert any(r["status"] == "429" for r in refused_lines(srv))
    assert "zq0x" not in srv.log_text()


def test_slow_hash_does_not_stall_other_sessions(wsbridge, tmp_path):
    """bcrypt at cost 15 takes two seconds or more on one core (cost 14's
    one second left too little room beside a busy test worker on two
    cores: a spawn then took half a second); while it is checked for one
    client, another's open session echoes at once, and a
    new session (whose password is remembered) opens and echoes."""
    f = tmp_path / "htpasswd"
    f.write_text(bcrypt_line("fast", "pw", cost=4) + "\n"
                 + bcrypt_line("slow", "pw", cost=15) + "\n")
    srv = wsbridge(f"--basic-auth={f}", CAT)
    events = []

    async def go():
        headers = {"Authorization": basic("fast", "pw")}
        async with websockets.connect(srv.url(), extra_headers=headers,
                                      open_timeout=IO_TIMEOUT) as ws:
            await ws.send("warm")
            assert await recv(ws) == "warm"

            async def slow_client():
                t0 = time.monotonic()
                msgs = await ws_session(srv.url(), send=["s"], user="slow",
                                        password="pw", count=1)
                events.append(("slow", time.monotonic() - t0))
                return msgs

            slow = asyncio.ensure_future(slow_client())
            await asyncio.sleep(0.05)      # its request is in
            rtts = []
            for i in range(5):
                t0 = time.monotonic()
                await ws.send(f"e{i}")
                assert await recv(ws) == f"e{i}"
                rtts.append(time.monotonic() - t0)
            # A new session too: its accept, head and spawn are the main
            # thread's, where a hash checked in place would hold it up.
            t0 = time.monotonic()
            assert await ws_session(srv.url(), send=["n"], user="fast",
                                    password="pw", count=1) == ["n"]
            rtts.append(time.monotonic() - t0)
            events.append(("echo", sum(rtts)))
            assert await asyncio.wait_for(slow, 120) == ["s"]
        return rtts

    rtts = run(go(), timeout=180)
    kinds = [k for k, _ in events]
    slow_time = dict(events)["slow"]
    # Five echoes and a new session were done before the slow check, ...
    assert kinds == ["echo", "slow"], events
    # ... and each took a small part of it.
    assert max(rtts) < slow_time / 3, (rtts, slow_time)


def test_file_edited_while_running(wsbridge, tmp_path):
    f = tmp_path / "htpasswd"
    f.write_text(bcrypt_line("alice", "one") + "\n")
    srv = wsbridge(f"--basic-auth={f}", "--devconsole", CAT)
    assert curl(srv.port, user="alice:one")[0] == 200
    assert curl(srv.port, user="dan:two")[0] == 401
    # A user added: no restart.
    f.write_text(bcrypt_line("alice", "one") + "\n"
                 + mkpasswd_line("dan", "two", "yescrypt") + "\n")
    assert curl(srv.port, user="dan:two")[0] == 200
    assert srv.wait_log(r"--basic-auth=.*: read again, 2 users")
    # A bad edit: logged, and the users read before stay.
    f.write_text("alice:plaintext\n")
    assert curl(srv.port, user="dan:two")[0] == 200
    assert srv.wait_log(r"ERROR --basic-auth=.*: line 1: .*keeping the 2 "
                        r"users read before")
    assert curl(srv.port, user="alice:plaintext")[0] == 401
    # Said once, not at every request.
    curl(srv.port, user="dan:two")
    assert len(re.findall(r"ERROR --basic-auth", srv.log_text())) == 1
    # A password changed, a user removed: even a remembered success goes.
    f.write_text(bcrypt_line("alice", "new") + "\n")
    assert curl(srv.port, user="alice:one")[0] == 401
    assert curl(srv.port, user="dan:two")[0] == 401
    assert curl(srv.port, user="alice:new")[0] == 200


def test_removed_file_keeps_users(wsbridge, tmp_path):
    f = tmp_path / "htpasswd"
    f.write_text(bcrypt_line("alice", "one") + "\n")
    srv = wsbridge(f"--basic-auth={f}", "--devconsole", CAT)
    f.unlink()
    assert curl(srv.port, user="alice:one")[0] == 200
    assert srv.wait_log(r"ERROR --basic-auth=.*No such file")


# --------------------------------------------------------------------------
# --auth-header


def test_auth_header_from_trusted_proxy(wsbridge, tmp_path):
    script = write_script(tmp_path, "env.sh",
                          "/usr/bin/env | LC_ALL=C /usr/bin/sort\n")
    srv = wsbridge("--trusted-proxy=127.0.0.1",
                   "--auth-header=X-Forwarded-User", script)
    env = env_of(run(ws_session(srv.url(), extra={
        "X-Forwarded-User": "erin@example.org",
        "X-Forwarded-For": "203.0.113.7"})))
    assert env["REMOTE_USER"] == "erin@example.org"
    assert env["AUTH_TYPE"] == "X-Forwarded-User"
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert srv.wait_access(1)[-1]["user"] == "erin@example.org"
    # From the proxy without the header: no identity, 403.
    assert ws_status(srv.url()) == 403
    # Twice, or not a user name: 403.
    assert ws_status(srv.url(), extra={"X-Forwarded-User": "a b"}) == 403


def test_auth_header_from_anyone_else_is_refused(wsbridge, pwfile):
    srv = wsbridge("--trusted-proxy=192.0.2.1",
                   "--auth-header=X-Forwarded-User", f"--basic-auth={pwfile}",
                   CAT)
    # A forged header is refused even with good Basic credentials.
    assert ws_status(srv.url(), extra={"X-Forwarded-User": "alice"},
                     user="alice", password="secret") == 403
    # Without it, Basic applies.
    assert ws_status(srv.url()) == 401
    assert ws_status(srv.url(), user="alice", password="secret") == 101
    assert [r["status"] for r in refused_lines(srv)] == ["403", "401"]


# --------------------------------------------------------------------------
# a browser: the dev console behind --basic-auth


def test_devconsole_in_chromium_behind_basic_auth(wsbridge, pwfile, tmp_path):
    # test_http_side's headless Chromium, driven over DevTools.
    from test_http_side import CHROMIUM, Chromium, console_session
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    srv = wsbridge(f"--basic-auth={pwfile}", "--devconsole", CAT)
    browser = Chromium(tmp_path)
    try:
        # The page with the user in its URL; the browser then sends the
        # same credentials with the page's WebSocket handshake.
        log = console_session(
            browser, f"http://alice:secret@127.0.0.1:{srv.port}/room",
            send="hello", want="< hello")
    finally:
        browser.stop()
    assert "> hello" in log and "< hello" in log, log
    line = srv.wait_access(1)[-1]
    assert line["user"] == "alice" and line["path"] == "/room", line
    assert not refused_lines(srv) or all(
        r["user"] == "-" for r in refused_lines(srv))


def test_client_command_does_not_inherit_the_password(wsbridge, pwfile,
                                                      tmp_path):
    srv = wsbridge(f"--basic-auth={pwfile}", CAT)
    local = write_script(tmp_path, "local.sh",
                         'echo "pw=${WSBRIDGE_PASSWORD-unset}" >&2\n')
    res = run_client([f"--connect=ws://carol@127.0.0.1:{srv.port}/", local],
                     env=dict(os.environ, WSBRIDGE_PASSWORD="secret"))
    assert b"pw=unset" in res.stderr, res.stderr


def cpu_seconds(pid):
    """utime + stime of a process, every thread counted."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def test_concurrent_sessions_with_one_password_hash_it_once(wsbridge,
                                                            tmp_path):
    """A client opening six sessions at once pays for one bcrypt check,
    not six: the others wait for the check in flight."""
    f = tmp_path / "htpasswd"
    f.write_text(bcrypt_line("u1", "pw", cost=12) + "\n"
                 + bcrypt_line("u2", "pw", cost=12) + "\n")
    srv = wsbridge(f"--basic-auth={f}", CAT)
    c0 = cpu_seconds(srv.pid)
    assert run(ws_session(srv.url(), send=["a"], user="u1", password="pw",
                          count=1)) == ["a"]
    one = cpu_seconds(srv.pid) - c0

    async def many():
        return await asyncio.gather(*(
            ws_session(srv.url(), send=[f"m{i}"], user="u2", password="pw",
                       count=1) for i in range(6)))
    c1 = cpu_seconds(srv.pid)
    assert run(many()) == [[f"m{i}"] for i in range(6)]
    six = cpu_seconds(srv.pid) - c1
    assert one > 0.02, one          # the hash is measurable at this cost
    assert six < 3 * one, (one, six)
