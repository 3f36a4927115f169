"""--devconsole --pty: the terminal page, xterm.js in the binary.

The page (src/devconsole-pty.html) and the files of third_party/xterm are
served byte for byte, at /.wsbridge/ for the latter; in a real headless
Chromium the page runs a shell: keys typed reach it, its output shows, a
resize of the window reaches its terminal, and its exit status shows.
Without --pty, --devconsole serves its console page as before
(test_http_side.py tests that page itself).
"""

import asyncio
import hashlib
import json
from pathlib import Path

import websockets

from conftest import IO_TIMEOUT, run
# chromium is a fixture: it skips when /usr/bin/chromium is missing.
from test_http_side import CAT, chromium, http  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
XTERM = ROOT / "third_party" / "xterm"
PAGE = ROOT / "src" / "devconsole-pty.html"
BASH = ["/bin/bash", "--norc", "--noprofile"]

FILES = [("/.wsbridge/xterm.js", XTERM / "xterm.js", "text/javascript"),
         ("/.wsbridge/xterm.css", XTERM / "xterm.css", "text/css"),
         ("/.wsbridge/addon-fit.js", XTERM / "addon-fit.js",
          "text/javascript")]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_terminal_files_are_the_vendored_bytes(wsbridge):
    srv = wsbridge("--devconsole", "--pty", CAT)
    for path, f, ctype in FILES:
        r = http(srv.port, path)
        assert r.status == 200, (path, r)
        assert r.header("Content-Type").startswith(ctype), (path, r)
        assert int(r.header("Content-Length")) == len(r.body)
        assert sha256(r.body) == sha256(f.read_bytes()), path
        assert r.header("Cache-Control") == "no-cache"
        etag = r.header("ETag")
        assert etag and etag.startswith('"'), r
        # The same ETag again: 304, no body.
        r2 = http(srv.port, path, headers={"If-None-Match": etag})
        assert r2.status == 304 and r2.body == b"", r2
        assert r2.header("ETag") == etag
        r3 = http(srv.port, path, method="HEAD")
        assert r3.status == 200 and r3.body == b"", r3
        assert int(r3.header("Content-Length")) == len(r.body)
    # Anything else under /.wsbridge/ is not there; every other path is
    # the terminal page, as the build embeds it.
    assert http(srv.port, "/.wsbridge/xterm.js.map").status == 404
    for target in ("/", "/any/path?cols=3", "/.wsbridgex"):
        r = http(srv.port, target)
        assert r.status == 200, r
        assert r.header("Content-Type").startswith("text/html"), r
        assert r.body == PAGE.read_bytes(), target
    assert http(srv.port, "/", method="POST").status == 405


def test_without_pty_the_console_page_everywhere(wsbridge):
    srv = wsbridge("--devconsole", CAT)
    r = http(srv.port, "/.wsbridge/xterm.js")
    assert r.status == 200 and b"wsbridge dev console" in r.body, r


BUF_JS = ("(() => { const b = wsbTerm.buffer.active; const out = []; "
          "for (let i = 0; i < b.length; i++) "
          "out.push(b.getLine(i).translateToString(true)); "
          "return out.join('\\n'); })()")
ROWS_JS = ("document.querySelector('.xterm-rows') ? "
           "document.querySelector('.xterm-rows').textContent : ''")
STATE_JS = ("document.getElementById('state') ? "
            "document.getElementById('state').textContent : ''")
SIZE_JS = "window.wsbTerm ? wsbTerm.rows + ' ' + wsbTerm.cols : ''"


def test_terminal_in_chromium(wsbridge, chromium):  # noqa: F811
    srv = wsbridge("--devconsole", "--pty", *BASH)

    async def go():
        async with websockets.connect(chromium.page_ws_url(), max_size=None,
                                      open_timeout=IO_TIMEOUT) as cdp:
            ev = chromium.evaluate

            async def typed(text):
                await chromium.call(cdp, "Input.insertText", {"text": text})
                await chromium.call(cdp, "Input.dispatchKeyEvent", {
                    "type": "keyDown", "key": "Enter", "code": "Enter",
                    "windowsVirtualKeyCode": 13, "text": "\r"})
                await chromium.call(cdp, "Input.dispatchKeyEvent", {
                    "type": "keyUp", "key": "Enter", "code": "Enter",
                    "windowsVirtualKeyCode": 13})

            async def shows(needle):
                return await chromium.poll(cdp, BUF_JS,
                                           lambda v: v and needle in v)

            await chromium.call(cdp, "Emulation.setDeviceMetricsOverride", {
                "width": 800, "height": 600, "deviceScaleFactor": 1,
                "mobile": False})
            await chromium.call(cdp, "Page.navigate", {
                "url": f"http://127.0.0.1:{srv.port}/term"})
            state = await chromium.poll(cdp, STATE_JS,
                                        lambda v: v not in ("", "connecting"))
            assert state == "open", state

            # Keys in, output out: the shell computes, xterm.js shows it,
            # in its buffer and in the DOM rows it renders.
            await typed("echo hello-$((6*7))")
            buf = await shows("hello-42")
            assert "hello-42" in buf, buf
            assert "hello-42" in await ev(cdp, ROWS_JS)

            # The size the page fitted went in the URL's query.
            size = await ev(cdp, SIZE_JS)
            await typed("echo size=$(stty size)")
            buf = await shows(f"size={size}")
            assert f"size={size}" in buf, (size, buf)

            # A smaller window: the page fits the terminal again and sends
            # the resize message; the shell's terminal has the new size.
            await chromium.call(cdp, "Emulation.setDeviceMetricsOverride", {
                "width": 500, "height": 300, "deviceScaleFactor": 1,
                "mobile": False})
            new = await chromium.poll(cdp, SIZE_JS,
                                      lambda v: v and v != size)
            assert new != size, new
            await typed("echo size2=$(stty size)")
            buf = await shows(f"size2={new}")
            assert f"size2={new}" in buf, (new, buf)

            # The end: the status line and the terminal say how it ended.
            await typed("exit 3")
            state = await chromium.poll(cdp, STATE_JS,
                                        lambda v: v.startswith("closed"))
            assert state == "closed: 4003 exit 3", state
            buf = await shows("[exit 3]")
            assert "[exit 3] (close code 4003)" in buf, buf
            return size, new

    run(go(), timeout=120)
    acc = srv.wait_access(1)
    assert acc[0].get("exit") == "3", acc[0]["_line"]
