"""The websocketd-compatible HTTP side of wsbridge, end to end.

--dir, --staticdir, --cgidir, --devconsole (also in a real headless
Chromium), --maxforks, --origin/--sameorigin, --header/--header-ws/
--header-http, --redirport, --reverselookup, --passstderr, --protocol,
--deflate and --ssl/--sslcert/--sslkey/--sslca.

Child scripts live in http_children/; the tests copy them into temporary
directory trees where a layout matters (--dir, --cgidir).  Plain HTTP is
spoken over raw sockets (every answer of wsbridge closes its connection, so
a response is read to EOF); WebSocket sessions use python3-websockets.
"""

import asyncio
import email.utils
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import pytest
import websockets
import websockets.exceptions

from conftest import (
    free_port, IO_TIMEOUT, WSBRIDGE, close_of, process_gone, recv,
    recv_until_closed, run, stop_pid, wait_until)

HTTP_CHILDREN = Path(__file__).resolve().parent / "http_children"
CAT = "/bin/cat"
CHROMIUM = "/usr/bin/chromium"


def hchild(name):
    """Absolute path of a script in http_children/."""
    return str(HTTP_CHILDREN / name)


def install(src_name, dest, mode=0o755):
    """Copies http_children/SRC_NAME to DEST (parents made); returns DEST."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(hchild(src_name), dest)
    dest.chmod(mode)
    return dest



# --------------------------------------------------------------------------
# plain HTTP over a raw socket


class Response:
    def __init__(self, raw):
        head, sep, body = raw.partition(b"\r\n\r\n")
        assert sep, f"no complete response head: {raw[:500]!r}"
        lines = head.decode("latin-1").split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        assert version.startswith("HTTP/1."), lines[0]
        self.status = int(status)
        self.reason = reason[0] if reason else ""
        self.headers = []
        for ln in lines[1:]:
            name, _, value = ln.partition(":")
            self.headers.append((name.strip(), value.strip()))
        self.body = body
        self.raw = raw

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def has(self, name):
        return self.header(name) is not None

    def __repr__(self):
        return f"<Response {self.status} {self.headers} body={self.body[:200]!r}>"


def http_raw(port, data, timeout=IO_TIMEOUT, limit=8 << 20):
    """Sends DATA, reads to EOF (bounded by size and time), parses."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while len(out) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no EOF within {timeout}s: {out[:300]!r}")
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise AssertionError(f"no EOF within {timeout}s: {out[:300]!r}")
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return Response(out)


def http(port, target, method="GET", headers=None, body=b"", host=None):
    lines = [f"{method} {target} HTTP/1.1",
             f"Host: {host or f'127.0.0.1:{port}'}",
             "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return http_raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def raw_upgrade(port, target, headers=None, timeout=IO_TIMEOUT):
    """A WebSocket upgrade with TARGET sent byte for byte (no client-side
    normalisation); returns (status, Response of the head only)."""
    lines = [f"GET {target} HTTP/1.1",
             f"Host: 127.0.0.1:{port}",
             "Upgrade: websocket",
             "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        for _ in range(1000):
            if b"\r\n\r\n" in buf:
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    resp = Response(buf)
    return resp.status, resp


# --------------------------------------------------------------------------
# WebSocket helpers


async def upgrade_status(url, **kw):
    """101 if the upgrade succeeds (the session is then closed), else the
    HTTP status of the refusal."""
    kw.setdefault("open_timeout", IO_TIMEOUT)
    kw.setdefault("close_timeout", 2)
    try:
        async with websockets.connect(url, **kw):
            return 101
    except websockets.exceptions.InvalidStatusCode as exc:
        return exc.status_code


def status_of(url, **kw):
    return run(upgrade_status(url, **kw))


async def session_messages(url, send=None, timeout=IO_TIMEOUT, **kw):
    """One session: optionally sends lines, reads until the close.
    Returns (messages, (code, reason) or None)."""
    async with websockets.connect(url, open_timeout=timeout,
                                  close_timeout=timeout, **kw) as ws:
        for line in send or ():
            await ws.send(line)
        msgs, exc = await recv_until_closed(ws, timeout)
    return msgs, close_of(exc)


def env_from(msgs):
    out = {}
    for m in msgs:
        assert isinstance(m, str), f"binary message in env dump: {m!r}"
        k, sep, v = m.partition("=")
        if sep:
            out[k] = v
    return out


async def echo_once(url, text="ping", **kw):
    async with websockets.connect(url, open_timeout=IO_TIMEOUT,
                                  close_timeout=IO_TIMEOUT, **kw) as ws:
        await ws.send(text)
        return await recv(ws)


def must_not_start(args, timeout=15):
    """wsbridge ARGS must exit 2 at once, without listening."""
    proc = subprocess.run([WSBRIDGE, "--port=0", "--address=127.0.0.1"]
                          + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "listening on" not in proc.stderr
    return proc


# ==========================================================================
# 1. --dir


@pytest.fixture
def script_tree(tmp_path):
    """root/ is the --dir; outside/ holds a script that must never run."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    install("env.sh", root / "a" / "b.sh")
    install("env.sh", root / "top.sh")
    install("env.sh", root / "noexec.sh", mode=0o644)
    install("outside.sh", outside / "evil.sh")
    (root / "link.sh").symlink_to(outside / "evil.sh")
    (root / "linkdir").symlink_to(outside)
    return root


def test_dir_runs_script_with_script_name_path_info_query(wsbridge, script_tree,
                                                          markers):
    srv = wsbridge(f"--dir={script_tree}")
    msgs, close = run(session_messages(srv.url("/a/b.sh/extra?x=1")))
    env = env_from(msgs)
    assert env.get("SCRIPT_NAME") == "/a/b.sh", env
    assert env.get("PATH_INFO") == "/extra", env
    assert env.get("QUERY_STRING") == "x=1", env
    assert env.get("REQUEST_URI") == "/a/b.sh/extra?x=1", env
    assert close == (1000, "exit 0")
    assert markers.lines("ran") == [f"RAN {script_tree}/a/b.sh"]


def test_dir_top_level_script_without_path_info(wsbridge, script_tree):
    srv = wsbridge(f"--dir={script_tree}")
    env = env_from(run(session_messages(srv.url("/top.sh")))[0])
    assert env.get("SCRIPT_NAME") == "/top.sh"
    assert env.get("PATH_INFO") == ""
    assert env.get("QUERY_STRING") == ""


@pytest.mark.parametrize("path, code", [
    ("/missing.sh", 404),
    ("/a/missing.sh", 404),
    ("/a", 404),                # a directory names no script
    ("/", 404),
    ("/noexec.sh", 403),
    ("/link.sh", 403),          # symlink to a script outside the root
    ("/linkdir/evil.sh", 403),  # symlinked directory leading outside
])
def test_dir_refusals_before_upgrade(wsbridge, script_tree, markers, path,
                                     code):
    srv = wsbridge(f"--dir={script_tree}")
    assert status_of(srv.url(path)) == code
    # Refused before anything was spawned.
    assert markers.read("ran") == ""
    assert markers.read("outside") == ""
    assert "started" not in srv.log_text()


@pytest.mark.parametrize("target", [
    "/../outside/evil.sh",
    "/a/../../outside/evil.sh",
    "/%2e%2e/outside/evil.sh",
    "/%2E%2E/outside/evil.sh",
    "/a/%2e%2e/%2e%2e/outside/evil.sh",
    "/a%2F..%2F..%2Foutside%2Fevil.sh",
    "/a/..%2F..%2Foutside/evil.sh",
    "/%2Foutside/evil.sh",
    "/./top.sh",
])
def test_dir_traversal_never_runs_outside(wsbridge, script_tree, markers,
                                          target):
    srv = wsbridge(f"--dir={script_tree}")
    status, resp = raw_upgrade(srv.port, target)
    assert status in (403, 404), resp
    # Still answering, and nothing ran, outside or in.
    assert status_of(srv.url("/top.sh")) == 101
    assert wait_until(lambda: markers.read("ran") != "", IO_TIMEOUT)
    assert markers.read("outside") == ""


def test_dir_with_command_is_refused(tmp_path):
    must_not_start([f"--dir={tmp_path}", CAT])


# ==========================================================================
# 2. --staticdir

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
       b"\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8"
       b"\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
SECRET = b"TOP-SECRET-never-served-4711\n"
FIXED_MTIME = 1700000000        # 2023-11-14T22:13:20Z


@pytest.fixture
def static_tree(tmp_path):
    root = tmp_path / "static"
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "secret.txt").write_bytes(SECRET)
    files = {
        "index.html": b"<!doctype html><title>root index</title>\n",
        "style.css": b"body { color: red }\n",
        "app.js": b"console.log('hi');\n",
        "img.png": PNG,
        "blob.xyz": bytes(range(256)),
        "noext": b"no extension\n",
        "sub/index.html": b"<p>sub index</p>\n",
        "empty/readme.txt": b"no index here\n",
    }
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (FIXED_MTIME, FIXED_MTIME))
    (root / "link.txt").symlink_to(secret / "secret.txt")
    (root / "outdir").symlink_to(secret)
    return root, files


@pytest.mark.parametrize("name, ctype", [
    ("index.html", "text/html"),
    ("style.css", "text/css"),
    ("app.js", "text/javascript"),
    ("img.png", "image/png"),
    ("blob.xyz", "application/octet-stream"),
    ("noext", "application/octet-stream"),
])
def test_static_file_bytes_type_length(wsbridge, static_tree, name, ctype):
    root, files = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    r = http(srv.port, "/" + name)
    assert r.status == 200, r
    assert r.body == files[name]
    assert r.header("Content-Type").split(";")[0].strip() == ctype
    assert int(r.header("Content-Length")) == len(files[name])
    assert r.header("Last-Modified") == email.utils.formatdate(
        FIXED_MTIME, usegmt=True)


def test_static_directory_path_as_long_as_the_buffer(wsbridge, tmp_path,
                                                     monkeypatch):
    """A directory path that leaves no room to append "index.html" (fuzzing
    found the overflow: a short --staticdir and ~4090 slashes) is a 404,
    and the server lives on (the ASan build would abort on the overflow)."""
    (tmp_path / "index.html").write_bytes(b"root index\n")
    monkeypatch.chdir(tmp_path)         # the server starts here: a short root
    srv = wsbridge("--staticdir=.", CAT)
    for n in (4080, 4085, 4086, 4090, 4093):
        r = http(srv.port, "/" * (n + 1))
        assert r.status in (200, 404), (n, r)   # 200 while it fits
        assert srv.alive()
    assert http(srv.port, "/").status == 200


def test_static_directory_index_and_redirect(wsbridge, static_tree):
    root, files = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    r = http(srv.port, "/")
    assert r.status == 200 and r.body == files["index.html"]
    assert r.header("Content-Type").startswith("text/html")
    r = http(srv.port, "/sub/")
    assert r.status == 200 and r.body == files["sub/index.html"]
    r = http(srv.port, "/sub?q=1&r=2")
    assert r.status == 301, r
    assert r.header("Location") == "/sub/?q=1&r=2"
    r = http(srv.port, "/sub")
    assert r.status == 301 and r.header("Location") == "/sub/"
    r = http(srv.port, "/empty/")
    assert r.status == 404, r
    assert b"no index here" not in r.body
    r = http(srv.port, "/nothing.html")
    assert r.status == 404


def test_static_head_is_headers_only(wsbridge, static_tree):
    root, files = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    r = http(srv.port, "/app.js", method="HEAD")
    assert r.status == 200
    assert int(r.header("Content-Length")) == len(files["app.js"])
    assert r.header("Content-Type").startswith("text/javascript")
    assert r.body == b""


def test_static_if_modified_since(wsbridge, static_tree):
    root, files = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    first = http(srv.port, "/style.css")
    lm = first.header("Last-Modified")
    assert lm
    r = http(srv.port, "/style.css", headers={"If-Modified-Since": lm})
    assert r.status == 304, r
    assert r.body == b""
    older = email.utils.formatdate(FIXED_MTIME - 86400, usegmt=True)
    r = http(srv.port, "/style.css", headers={"If-Modified-Since": older})
    assert r.status == 200 and r.body == files["style.css"]


def test_static_post_is_405(wsbridge, static_tree):
    root, _ = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    r = http(srv.port, "/index.html", method="POST", body=b"x=1")
    assert r.status == 405, r
    assert "GET" in (r.header("Allow") or "")


@pytest.mark.parametrize("target", [
    "/../secret/secret.txt",
    "/sub/../../secret/secret.txt",
    "/%2e%2e/secret/secret.txt",
    "/sub/%2E%2E/%2e%2e/secret/secret.txt",
    "/sub%2F..%2F..%2Fsecret%2Fsecret.txt",
    "/..%5csecret%5csecret.txt",
    "/link.txt",
    "/outdir/secret.txt",
    "/outdir/",
])
def test_static_never_serves_outside(wsbridge, static_tree, target):
    root, _ = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    r = http(srv.port, target)
    assert r.status in (403, 404), r
    assert SECRET.strip() not in r.raw


@pytest.mark.parametrize("target", ["/link.txt", "/outdir/secret.txt"])
def test_static_symlink_escape_is_403(wsbridge, static_tree, target):
    root, _ = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    r = http(srv.port, target)
    assert r.status == 403, r


def test_static_and_websocket_share_the_port(wsbridge, static_tree):
    root, files = static_tree
    srv = wsbridge(f"--staticdir={root}", CAT)
    assert run(echo_once(srv.url("/index.html"), "same port")) == "same port"
    assert http(srv.port, "/index.html").body == files["index.html"]


# ==========================================================================
# 3. --cgidir


@pytest.fixture
def cgi_tree(tmp_path):
    cgi = tmp_path / "cgi"
    for name in ("cgi_env.sh", "cgi_status.sh", "cgi_location.sh",
                 "cgi_echo.sh"):
        install(name, cgi / name)
    install("cgi_env.sh", cgi / "noexec.sh", mode=0o644)
    (cgi / "subdir").mkdir()
    install("outside.sh", tmp_path / "outside" / "evil.sh")
    (cgi / "evil-link.sh").symlink_to(tmp_path / "outside" / "evil.sh")
    static = tmp_path / "static"
    static.mkdir()
    (static / "page.html").write_bytes(b"<p>static page</p>\n")
    (static / "noexec.sh").write_bytes(b"static noexec\n")
    return cgi, static


def body_env(r):
    return dict(ln.split("=", 1) for ln in r.body.decode().splitlines()
                if "=" in ln)


def test_cgi_env_and_body(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    r = http(srv.port, "/cgi_env.sh?a=1&b=two", headers={"X-Custom": "yes"})
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain"
    env = body_env(r)
    assert env.get("GATEWAY_INTERFACE") == "CGI/1.1", env
    assert env.get("REQUEST_METHOD") == "GET"
    assert env.get("QUERY_STRING") == "a=1&b=two"
    assert env.get("SCRIPT_NAME") == "/cgi_env.sh"
    assert env.get("HTTP_X_CUSTOM") == "yes"
    assert env.get("REMOTE_ADDR") == "127.0.0.1"


def test_cgi_status_header_is_honoured(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    r = http(srv.port, "/cgi_status.sh")
    assert r.status == 404, r
    assert r.reason == "Not Found"
    assert r.body == b"nothing here\n"
    assert not r.has("Status")


def test_cgi_location_alone_is_302(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    r = http(srv.port, "/cgi_location.sh")
    assert r.status == 302, r
    assert r.header("Location") == "/x"


def test_cgi_post_body_reaches_stdin(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    payload = b"first line\nsecond \x00\xff line\n" + b"z" * 70000
    r = http(srv.port, "/cgi_echo.sh", method="POST", body=payload,
             headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, r
    assert r.body == payload


def test_cgi_post_environment(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    r = http(srv.port, "/cgi_env.sh?q=post", method="POST", body=b"a=1&b=2",
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    env = body_env(r)
    assert env.get("REQUEST_METHOD") == "POST"
    assert env.get("CONTENT_LENGTH") == "7"
    assert env.get("CONTENT_TYPE") == "application/x-www-form-urlencoded"
    assert env.get("QUERY_STRING") == "q=post"


def test_cgi_httpoxy(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    r = http(srv.port, "/cgi_env.sh",
             headers={"Proxy": "http://evil.test:3128", "X-Other": "fine"})
    env = body_env(r)
    assert env.get("HTTP_X_OTHER") == "fine", env     # headers do pass
    assert "HTTP_PROXY" not in env, env
    assert b"evil.test" not in r.body


def test_cgi_not_executable_is_403(wsbridge, cgi_tree):
    cgi, static = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", f"--staticdir={static}", CAT)
    r = http(srv.port, "/noexec.sh")
    assert r.status == 403, r
    assert b"static noexec" not in r.body


def test_cgi_non_file_falls_through_to_static(wsbridge, cgi_tree):
    cgi, static = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", f"--staticdir={static}", CAT)
    r = http(srv.port, "/page.html")
    assert r.status == 200 and r.body == b"<p>static page</p>\n"
    r = http(srv.port, "/subdir")
    assert r.status == 404, r


def test_cgi_non_file_without_static_is_404(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    for target in ("/page.html", "/subdir", "/subdir/", "/"):
        r = http(srv.port, target)
        assert r.status == 404, (target, r)


@pytest.mark.parametrize("target", [
    "/evil-link.sh", "/../outside/evil.sh", "/%2e%2e/outside/evil.sh",
])
def test_cgi_never_runs_outside(wsbridge, cgi_tree, markers, target):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    r = http(srv.port, target)
    assert r.status in (403, 404), r
    assert b"outside script ran" not in r.body
    # A script that does run proves the markers would show up.
    assert http(srv.port, "/cgi_env.sh").status == 200
    assert markers.read("outside") == ""


def test_cgi_and_websocket_share_the_port(wsbridge, cgi_tree):
    cgi, _ = cgi_tree
    srv = wsbridge(f"--cgidir={cgi}", CAT)
    assert run(echo_once(srv.url("/cgi_env.sh"), "ws")) == "ws"


# ==========================================================================
# 4. --devconsole


def test_devconsole_page(wsbridge):
    srv = wsbridge("--devconsole", CAT)
    r = http(srv.port, "/any/path?x=1")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/html")
    assert b"wsbridge dev console" in r.body
    assert int(r.header("Content-Length")) == len(r.body)
    # The page is src/devconsole.html, byte for byte, as the build embeds it.
    page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                        "..", "src", "devconsole.html")
    with open(page, "rb") as f:
        assert r.body == f.read()
    # The endpoint itself still upgrades.
    assert run(echo_once(srv.url("/"), "console")) == "console"


def test_devconsole_with_staticdir_is_refused(tmp_path):
    must_not_start(["--devconsole", f"--staticdir={tmp_path}", CAT])


class Chromium:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self, tmp_path):
        self.profile = Path(tmp_path) / "chromium-profile"
        self.profile.mkdir()
        self.log = open(Path(tmp_path) / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--disable-extensions", f"--user-data-dir={self.profile}",
             "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)
        self.next_id = 0

    def devtools_port(self, timeout=60):
        f = self.profile / "DevToolsActivePort"

        def ready():
            try:
                first = f.read_text().splitlines()[0]
                return int(first)
            except (FileNotFoundError, IndexError, ValueError):
                if self.proc.poll() is not None:
                    raise AssertionError("chromium exited early, rc="
                                         f"{self.proc.returncode}")
                return None
        port = wait_until(ready, timeout, interval=0.1)
        assert port, "chromium did not open its DevTools port"
        return port

    def page_ws_url(self, timeout=30):
        port = self.devtools_port()

        def find():
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/json/list",
                        timeout=5) as resp:
                    targets = json.load(resp)
            except OSError:
                return None
            for t in targets:
                if t.get("type") == "page" and t.get("webSocketDebuggerUrl"):
                    return t["webSocketDebuggerUrl"]
            return None
        url = wait_until(find, timeout, interval=0.2)
        assert url, "no page target in chromium"
        return url

    async def call(self, cdp, method, params=None, timeout=15):
        self.next_id += 1
        mid = self.next_id
        await cdp.send(json.dumps({"id": mid, "method": method,
                                   "params": params or {}}))
        deadline = time.monotonic() + timeout
        for _ in range(10000):
            left = deadline - time.monotonic()
            assert left > 0, f"no answer to {method}"
            msg = json.loads(await asyncio.wait_for(cdp.recv(), left))
            if msg.get("id") == mid:
                assert "error" not in msg, msg
                return msg["result"]
        raise AssertionError(f"no answer to {method}")

    async def evaluate(self, cdp, expr):
        res = await self.call(cdp, "Runtime.evaluate",
                              {"expression": expr, "returnByValue": True})
        assert "exceptionDetails" not in res, res
        return res["result"].get("value")

    async def poll(self, cdp, expr, pred, timeout=20):
        deadline = time.monotonic() + timeout
        value = None
        for _ in range(1000):
            value = await self.evaluate(cdp, expr)
            if pred(value):
                return value
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        return value

    def stop(self):
        stop_pid(self.proc)
        # Its helpers (zygote, renderers) share its process group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


@pytest.fixture
def chromium(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    c = Chromium(tmp_path)
    yield c
    c.stop()


LOG_JS = "document.getElementById('log').textContent"
STATE_JS = ("document.getElementById('state') ? "
            "document.getElementById('state').textContent : ''")


def console_session(chromium, page_url, send=None, want=None):
    """Opens PAGE_URL, waits for the socket to open, optionally submits
    SEND through the form, and waits for WANT in the log; returns the log."""
    async def go():
        async with websockets.connect(chromium.page_ws_url(), max_size=None,
                                      open_timeout=IO_TIMEOUT) as cdp:
            await chromium.call(cdp, "Page.navigate", {"url": page_url})
            state = await chromium.poll(cdp, STATE_JS,
                                        lambda v: v in ("open", "closed"))
            assert state in ("open", "closed"), f"state {state!r}"
            if send is not None:
                assert state == "open"
                await chromium.evaluate(
                    cdp, f"document.getElementById('msg').value = "
                         f"{json.dumps(send)}; "
                         "document.getElementById('form').requestSubmit(); 1")
            return await chromium.poll(cdp, LOG_JS,
                                       lambda v: want is None or (v and want in v))
    return run(go(), timeout=120)


def test_devconsole_in_chromium_echo(wsbridge, chromium):
    srv = wsbridge("--devconsole", CAT)
    log = console_session(chromium, f"http://127.0.0.1:{srv.port}/echo",
                          send="hello", want="< hello")
    assert "> hello" in log, log
    assert "< hello" in log, log
    assert srv.wait_log(r"session=\d+ .*path=/echo .*started")


def test_devconsole_in_chromium_binary(wsbridge, chromium):
    srv = wsbridge("--devconsole", hchild("binary_line.sh"))
    log = console_session(chromium, f"http://127.0.0.1:{srv.port}/",
                          want="[binary")
    assert "< [binary 2 bytes] ff fe" in log, log


# ==========================================================================
# 5. --maxforks


def test_maxforks_refuses_with_429_then_recovers(wsbridge, markers):
    srv = wsbridge("--maxforks=1", hchild("hold.sh"))

    async def go():
        async with websockets.connect(srv.url("/one"),
                                      open_timeout=IO_TIMEOUT) as ws:
            await ws.send("first")
            assert await recv(ws) == "first"
            assert len(markers.lines("spawns")) == 1
            for _ in range(3):
                assert await upgrade_status(srv.url("/two")) == 429
        # The first session is over: a new upgrade works once its child
        # is gone (bounded retries; a refusal spawns nothing).
        deadline = time.monotonic() + IO_TIMEOUT
        got = None
        for _ in range(200):
            try:
                got = await echo_once(srv.url("/three"), "third")
                break
            except websockets.exceptions.InvalidStatusCode as exc:
                assert exc.status_code == 429
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert got == "third"
    run(go())
    assert len(markers.lines("spawns")) == 2
    assert srv.wait_log(r"status=429")


# ==========================================================================
# 6. --origin and --sameorigin

ORIGINS = "--origin=allowed.test,https://secure.test:8443"


@pytest.mark.parametrize("origin, expect", [
    ("http://allowed.test", 101),
    ("https://allowed.test", 101),
    ("http://allowed.test:8080", 101),
    ("http://ALLOWED.test:1234", 101),
    ("https://secure.test:8443", 101),
    ("https://SECURE.TEST:8443", 101),
    (None, 403),
    ("null", 403),
    ("http://evil.test", 403),
    ("http://allowed.test.evil.test", 403),
    ("http://secure.test:8443", 403),      # the entry requires https
    ("https://secure.test", 403),          # ... and port 8443
    ("https://secure.test:9443", 403),
])
def test_origin_list(wsbridge, origin, expect):
    srv = wsbridge(ORIGINS, CAT)
    kw = {} if origin is None else {"origin": origin}
    assert status_of(srv.url("/"), **kw) == expect


def test_origin_refusal_spawns_nothing(wsbridge, markers):
    srv = wsbridge("--origin=allowed.test", hchild("hold.sh"))
    assert status_of(srv.url("/"), origin="http://evil.test") == 403
    assert run(echo_once(srv.url("/"), "ok", origin="http://allowed.test")) \
        == "ok"
    assert len(markers.lines("spawns")) == 1


def test_sameorigin(wsbridge):
    srv = wsbridge("--sameorigin", CAT)
    p = srv.port
    assert status_of(srv.url("/"), origin=f"http://127.0.0.1:{p}") == 101
    assert status_of(srv.url("/"), origin=f"http://127.0.0.1:{p + 1}") == 403
    assert status_of(srv.url("/"), origin=f"http://localhost:{p}") == 403
    assert status_of(srv.url("/")) == 403


# ==========================================================================
# 7. --header, --header-ws, --header-http

HEADER_FLAGS = ("--header=X-A: 1", "--header-ws=X-W: 2", "--header-http=X-H: 3")


def upgrade_response_headers(srv):
    async def go():
        async with websockets.connect(srv.url("/"),
                                      open_timeout=IO_TIMEOUT) as ws:
            await ws.send("h")
            assert await recv(ws) == "h"
            return ws.response_headers
    return run(go())


def test_headers_on_upgrade_response(wsbridge):
    srv = wsbridge(*HEADER_FLAGS, CAT)
    h = upgrade_response_headers(srv)
    assert h.get("X-A") == "1"
    assert h.get("X-W") == "2"
    assert "X-H" not in h


def test_header_http_not_on_upgrade_response(wsbridge):
    srv = wsbridge(*HEADER_FLAGS, CAT)
    h = upgrade_response_headers(srv)
    assert "X-H" not in h
    assert h.get("Sec-WebSocket-Accept")


def test_headers_on_plain_http(wsbridge, static_tree):
    srv = wsbridge(*HEADER_FLAGS, CAT)
    r = http(srv.port, "/")
    assert r.status == 426
    assert (r.header("X-A"), r.header("X-H")) == ("1", "3")
    assert not r.has("X-W")
    root, files = static_tree
    srv2 = wsbridge(*HEADER_FLAGS, f"--staticdir={root}", CAT)
    r = http(srv2.port, "/style.css")
    assert r.status == 200 and r.body == files["style.css"]
    assert (r.header("X-A"), r.header("X-H")) == ("1", "3")
    assert not r.has("X-W")


def test_header_content_length_is_refused():
    must_not_start(["--header=Content-Length: 5", CAT])


# ==========================================================================
# 8. --redirport


def test_redirport(wsbridge):
    p1 = free_port()
    p2 = free_port()
    while p2 == p1:
        p2 = free_port()
    srv = wsbridge(f"--redirport={p2}", CAT,
                   base_args=[f"--port={p1}", "--address=127.0.0.1"])
    assert srv.port == p1
    assert srv.wait_log(rf"listening on 127\.0\.0\.1:{p2}")
    r = http(p2, "/some/path?q=1")
    assert r.status == 301, r
    assert r.header("Location") == f"http://127.0.0.1:{p1}/some/path?q=1"
    r = http(p2, "/", method="HEAD")
    assert r.status == 301 and r.body == b""
    assert r.header("Location") == f"http://127.0.0.1:{p1}/"
    # The main port serves as usual.
    assert run(echo_once(srv.url("/"), "main")) == "main"


# ==========================================================================
# 9. --reverselookup


def localhost_in_hosts():
    try:
        text = Path("/etc/hosts").read_text()
    except OSError:
        return False
    for ln in text.splitlines():
        f = ln.split("#")[0].split()
        if len(f) >= 2 and f[0] == "127.0.0.1" and "localhost" in f[1:2]:
            return True
    return False


def test_reverselookup(wsbridge):
    if not localhost_in_hosts():
        pytest.skip("/etc/hosts does not map 127.0.0.1 to localhost first")
    srv = wsbridge("--reverselookup", hchild("env.sh"))
    env = env_from(run(session_messages(srv.url("/r")))[0])
    assert env.get("REMOTE_ADDR") == "127.0.0.1"
    assert env.get("REMOTE_HOST") == "localhost", env


def test_no_reverselookup_remote_host_is_addr(wsbridge):
    srv = wsbridge(hchild("env.sh"))
    env = env_from(run(session_messages(srv.url("/r")))[0])
    assert env.get("REMOTE_ADDR") == "127.0.0.1"
    assert env.get("REMOTE_HOST") == "127.0.0.1", env


# ==========================================================================
# 10. --passstderr


def test_passstderr_json_lines(wsbridge):
    srv = wsbridge("--passstderr", hchild("both_streams.sh"))
    msgs, close = run(session_messages(srv.url("/")))
    assert close == (1000, "exit 0")
    assert all(isinstance(m, str) for m in msgs), msgs
    parsed = [json.loads(m) for m in msgs]
    for p in parsed:
        assert set(p) == {"stream", "data"}, p
    out = [p["data"] for p in parsed if p["stream"] == "stdout"]
    err = [p["data"] for p in parsed if p["stream"] == "stderr"]
    assert out == ["out one", "bad \u00ff byte"], msgs
    assert err == ["err one", 'say "hi"\tnow'], msgs
    raw_bad = [m for m in msgs if "bad" in m]
    assert raw_bad and "\\u00ff" in raw_bad[0], raw_bad
    # Nothing of the child's stderr went to the log instead.
    assert "err one" not in srv.log_text()


def test_passstderr_waits_for_stderr_eof(wsbridge):
    """The exit races the last stderr lines to the server: the close frame
    still comes after every one of them, session after session."""
    srv = wsbridge("--passstderr", hchild("stderr_last.sh"))
    want = [f"err {i}" for i in range(1, 21)]

    async def many():
        return await asyncio.gather(*(session_messages(srv.url("/"))
                                      for _ in range(10)))
    for attempt in range(5):
        for msgs, close in run(many()):
            parsed = [json.loads(m) for m in msgs]
            err = [p["data"] for p in parsed if p["stream"] == "stderr"]
            assert err == want, (attempt, msgs)
            assert close == (1000, "exit 0"), attempt
    assert "stderr:" not in srv.log_text()


def test_passstderr_stderr_held_by_grandchild(wsbridge, markers):
    """Something the command started holds stderr: the session waits
    --closems for it, not for ever, and then the kill schedule runs."""
    srv = wsbridge("--closems=300", "--passstderr",
                   hchild("stderr_held.sh"))
    try:
        start = time.monotonic()
        msgs, close = run(session_messages(srv.url("/")))
        took = time.monotonic() - start
        parsed = [json.loads(m) for m in msgs]
        assert {"stream": "stderr", "data": "err before"} in parsed, msgs
        assert close == (1000, "exit 0")
        assert took < 20, took     # the holder sleeps 30 s
        (acc,) = srv.wait_access(1)
        assert acc["code"] == "1000"
        held = int(markers.read("held").strip())
        assert wait_until(lambda: process_gone(held), 10), \
            "the holder outlived the kill schedule"
    finally:
        text = markers.read("held")
        if text.strip():
            try:
                os.kill(int(text.strip()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_without_passstderr_stderr_goes_to_log(wsbridge):
    srv = wsbridge(hchild("both_streams.sh"))
    msgs, _ = run(session_messages(srv.url("/")))
    assert msgs[0] == "out one"
    assert not any("stream" in m for m in msgs if isinstance(m, str))
    assert srv.wait_log("err one")


def test_passstderr_with_binary_is_refused():
    must_not_start(["--passstderr", "--binary", CAT])


# ==========================================================================
# 11. --protocol


def test_protocol_negotiation(wsbridge):
    srv = wsbridge("--protocol=chat", "--protocol=v2", CAT)

    async def go(offer):
        async with websockets.connect(srv.url("/"), subprotocols=offer,
                                      open_timeout=IO_TIMEOUT) as ws:
            await ws.send("p")
            assert await recv(ws) == "p"
            return ws.subprotocol
    assert run(go(["v2", "chat"])) == "v2"
    assert run(go(["chat", "v2"])) == "chat"
    assert run(go(["nope", "chat"])) == "chat"
    assert run(go(None)) is None
    assert status_of(srv.url("/"), subprotocols=["nope"]) == 400


# ==========================================================================
# 12. --deflate


def test_deflate_negotiated_and_round_trip(wsbridge):
    srv = wsbridge("--deflate", CAT)
    line = ("compressible " * 80660)[:1 << 20]

    async def go():
        async with websockets.connect(srv.url("/"), max_size=4 << 20,
                                      open_timeout=IO_TIMEOUT) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            await ws.send(line)
            got = await recv(ws, 30)
            return ext, got
    ext, got = run(go())
    assert ext is not None and ext.split(";")[0].strip() == \
        "permessage-deflate", ext
    assert len(got) == len(line) and got == line


def test_no_deflate_without_flag(wsbridge):
    srv = wsbridge(CAT)

    async def go():
        # python3-websockets offers permessage-deflate by default.
        async with websockets.connect(srv.url("/"),
                                      open_timeout=IO_TIMEOUT) as ws:
            await ws.send("plain")
            assert await recv(ws) == "plain"
            return ws.response_headers.get("Sec-WebSocket-Extensions")
    assert run(go()) is None


# ==========================================================================
# 13. --ssl


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is missing")
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", "server.key", "-out", "server.pem", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=wsbridge test CA", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client",
            "-keyout", "client.key", "-out", "client.csr", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-days", "1", "-out", "client.pem",
            cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=rogue", "-keyout", "rogue.key", "-out", "rogue.pem",
            cwd=d)
    return d


def client_ctx(pki, cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(pki / "server.pem"))
    if cert is not None:
        ctx.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    return ctx


def tls_flags(pki, *extra):
    return ["--ssl", f"--sslcert={pki / 'server.pem'}",
            f"--sslkey={pki / 'server.key'}"] + list(extra)


def wss(srv, path="/"):
    return f"wss://127.0.0.1:{srv.port}{path}"


async def wss_session(srv, ctx, lines, path="/"):
    async with websockets.connect(wss(srv, path), ssl=ctx,
                                  server_hostname="localhost",
                                  open_timeout=IO_TIMEOUT,
                                  close_timeout=IO_TIMEOUT) as ws:
        out = [await recv(ws)]          # the HTTPS=... line
        for ln in lines:
            await ws.send(ln)
            out.append(await recv(ws))
        return out


async def wss_refused(srv, ctx, timeout=IO_TIMEOUT):
    """The TLS handshake or the upgrade must fail; returns the exception."""
    try:
        await asyncio.wait_for(wss_session(srv, ctx, ["x"]), timeout)
    except asyncio.TimeoutError:
        raise AssertionError("neither refused nor served in time")
    except (ssl.SSLError, OSError, EOFError,
            websockets.exceptions.WebSocketException) as exc:
        return exc
    raise AssertionError("the session was served")


def test_wss_echo_and_https_env(wsbridge, pki):
    srv = wsbridge(*tls_flags(pki), hchild("https_echo.sh"))
    got = run(wss_session(srv, client_ctx(pki), ["over tls", "again"]))
    assert got == ["HTTPS=on", "over tls", "again"]


def test_plain_server_has_no_https_env(wsbridge):
    srv = wsbridge(hchild("https_echo.sh"))
    assert run(echo_once(srv.url("/"), "x")) == "HTTPS=unset"


def tls11_client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def local_openssl_speaks_tls11(pki):
    """Whether this OpenSSL can do a TLS 1.1 handshake at all (against a
    Python server that allows it), so a refusal by wsbridge means
    something."""
    try:
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            sctx.minimum_version = ssl.TLSVersion.TLSv1
            sctx.maximum_version = ssl.TLSVersion.TLSv1_1
        sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        sctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
        cctx = tls11_client_ctx()
    except (ssl.SSLError, ValueError):
        return False
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(10)
    result = {}

    def serve():
        try:
            conn, _ = lsock.accept()
            conn.settimeout(10)
            with sctx.wrap_socket(conn, server_side=True) as t:
                result["server"] = t.version()
        except (OSError, ssl.SSLError):
            pass
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    ok = False
    try:
        with socket.create_connection(lsock.getsockname(), timeout=10) as c:
            with cctx.wrap_socket(c) as t:
                ok = t.version() in ("TLSv1", "TLSv1.1")
    except (OSError, ssl.SSLError):
        ok = False
    th.join(15)
    lsock.close()
    return ok


def test_tls11_is_refused(wsbridge, pki):
    if not local_openssl_speaks_tls11(pki):
        pytest.skip("the local OpenSSL will not offer TLS 1.1 or lower")
    srv = wsbridge(*tls_flags(pki), hchild("https_echo.sh"))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with tls11_client_ctx().wrap_socket(c) as t:
                t.version()
    # Still serving TLS 1.2+.
    got = run(wss_session(srv, client_ctx(pki), ["after"]))
    assert got == ["HTTPS=on", "after"]


def test_plain_ws_to_tls_port_fails_cleanly(wsbridge, pki):
    srv = wsbridge(*tls_flags(pki), hchild("https_echo.sh"))
    # A raw plain-text upgrade: the server must drop it well before its
    # 10 s TLS handshake timeout, without answering in clear text.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=8) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: "
                  b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"
                  b"\r\n\r\n")
        data = b""
        for _ in range(100):
            try:
                chunk = c.recv(4096)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError("the TLS port kept a plain-text "
                                     "connection open")
            if not chunk:
                break
            data += chunk
        assert b"HTTP/1.1" not in data
    # A real client gets an error, not a hang.
    with pytest.raises((websockets.exceptions.InvalidHandshake,
                        websockets.exceptions.InvalidMessage, OSError,
                        EOFError)):
        run(upgrade_status(srv.url("/"), open_timeout=8))
    assert srv.alive()
    assert run(wss_session(srv, client_ctx(pki), ["still"])) == \
        ["HTTPS=on", "still"]


def test_ssl_without_cert_is_refused():
    must_not_start(["--ssl", CAT])


def test_sslca_requires_a_client_cert_from_the_ca(wsbridge, pki):
    srv = wsbridge(*tls_flags(pki, f"--sslca={pki / 'ca.pem'}"),
                   hchild("https_echo.sh"))
    assert run(wss_session(srv, client_ctx(pki, "client"), ["signed"])) == \
        ["HTTPS=on", "signed"]
    run(wss_refused(srv, client_ctx(pki)))                 # no certificate
    run(wss_refused(srv, client_ctx(pki, "rogue")))        # self-signed
    assert srv.alive()
    assert run(wss_session(srv, client_ctx(pki, "client"), ["again"])) == \
        ["HTTPS=on", "again"]
    assert "started" in srv.log_text()
    assert srv.log_text().count(" started") == 2, srv.log_text()
