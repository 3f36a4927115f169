"""wsbridge and Debian's websocketd side by side: what a client sees.

The same small scenarios run against /usr/bin/websocketd (skipped when it
is missing) and wsbridge, and their observable results are compared: an
echo round trip, the child's CGI-style environment, --dir lookups, and
--origin refusals.

Known, deliberate differences, asserted explicitly below so that a change
on either side shows up:

* When the child exits, wsbridge sends a close frame carrying its exit
  status (1000 "exit 0", 4000+N "exit N"); websocketd just closes the TCP
  connection, so the client sees no close frame (1006).
* A last line without its newline: wsbridge sends it as a final message;
  websocketd drops it.
* A plain HTTP GET (no upgrade, no --staticdir/--cgidir/--devconsole):
  websocketd answers 404, wsbridge 426 Upgrade Required.
* --origin host names: wsbridge compares them without regard to case (as
  DNS does); websocketd compares them exactly, so "http://ALLOWED.test:1234"
  passes --origin=allowed.test only on wsbridge.

websocketd needs a concrete port: each one gets a free loopback port of its
own, logs to a file in tmp_path and is stopped by pid.
"""

import os
import socket
import subprocess
from pathlib import Path

import pytest
import websockets
import websockets.exceptions

from conftest import (free_port, IO_TIMEOUT, close_of, recv, recv_until_closed,
                      run, stop_pid, wait_until)

WEBSOCKETD = "/usr/bin/websocketd"
HTTP_CHILDREN = Path(__file__).resolve().parent / "http_children"

pytestmark = pytest.mark.skipif(not os.access(WEBSOCKETD, os.X_OK),
                                reason=f"{WEBSOCKETD} is missing "
                                       "(apt-get install websocketd)")


def hchild(name):
    return str(HTTP_CHILDREN / name)



class Websocketd:
    def __init__(self, tmp_path, args, env, name):
        self.port = free_port()
        self.log_path = Path(tmp_path) / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.argv = [WEBSOCKETD, f"--port={self.port}",
                     "--address=127.0.0.1"] + list(args)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log,
                                     env=env, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"websocketd exited: {self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                return True
            except OSError:
                return False
        assert wait_until(up, 10, interval=0.05), self.log_text()

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def log_text(self):
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def stop(self):
        stop_pid(self.proc)
        self._log.close()


@pytest.fixture
def both(tmp_path, markers, wsbridge):
    """Factory: both(*args) starts websocketd and wsbridge with the same
    flags and command; returns {"websocketd": srv, "wsbridge": srv}."""
    started = []

    def start(*args):
        env = dict(os.environ)
        env["MARKER_DIR"] = str(markers.path)
        wsd = Websocketd(tmp_path, ["--passenv=PATH,MARKER_DIR"] + list(args),
                         env, f"websocketd{len(started)}")
        started.append(wsd)
        wsb = wsbridge(*args)
        return {"websocketd": wsd, "wsbridge": wsb}

    yield start
    for s in started:
        s.stop()


async def session(url, send=(), headers=None, timeout=IO_TIMEOUT, **kw):
    """Sends SEND, reads until the connection ends: (messages, close)."""
    async with websockets.connect(url, extra_headers=headers,
                                  open_timeout=timeout, close_timeout=2,
                                  **kw) as ws:
        for m in send:
            await ws.send(m)
        msgs, exc = await recv_until_closed(ws, timeout)
    return msgs, close_of(exc)


async def echo(url, lines):
    async with websockets.connect(url, open_timeout=IO_TIMEOUT,
                                  close_timeout=2) as ws:
        out = []
        for ln in lines:
            await ws.send(ln)
            out.append(await recv(ws))
        return out


async def upgrade_status(url, **kw):
    try:
        async with websockets.connect(url, open_timeout=IO_TIMEOUT,
                                      close_timeout=2, **kw):
            return 101
    except websockets.exceptions.InvalidStatusCode as exc:
        return exc.status_code


def env_of(msgs):
    return dict(m.split("=", 1) for m in msgs if isinstance(m, str) and "=" in m)


def plain_get(port, target="/"):
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        for _ in range(1000):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


# --------------------------------------------------------------------------
# the same


def test_echo_round_trip(both):
    srvs = both("/bin/cat")
    lines = ["hello", "", "ünïcødé ✓", "x" * 5000, "last"]
    got = {name: run(echo(s.url("/echo"), lines)) for name, s in srvs.items()}
    assert got["websocketd"] == lines
    assert got["wsbridge"] == got["websocketd"]


ENV_KEYS = ("REMOTE_ADDR", "REMOTE_HOST", "QUERY_STRING", "PATH_INFO",
            "REQUEST_URI", "REQUEST_METHOD", "SERVER_PROTOCOL", "SERVER_NAME",
            "SCRIPT_NAME", "GATEWAY_INTERFACE", "HTTP_X_CUSTOM",
            "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "REMOTE_USER",
            "REMOTE_IDENT", "HTTP_UPGRADE", "HTTP_SEC_WEBSOCKET_VERSION")


def test_environment(both):
    srvs = both(hchild("env.sh"))
    envs = {}
    for name, s in srvs.items():
        msgs, _ = run(session(s.url("/p/q?x=1&y=two"),
                              headers={"X-Custom": "custom value"}))
        envs[name] = env_of(msgs)
        assert envs[name].get("SERVER_PORT") == str(s.port), envs[name]
    wsd, wsb = envs["websocketd"], envs["wsbridge"]
    assert wsd.get("QUERY_STRING") == "x=1&y=two"
    assert wsd.get("HTTP_X_CUSTOM") == "custom value"
    for key in ENV_KEYS:
        assert wsb.get(key) == wsd.get(key), (key, wsb.get(key), wsd.get(key))
    assert int(wsb["REMOTE_PORT"]) > 0 and int(wsd["REMOTE_PORT"]) > 0


@pytest.fixture
def script_dir(tmp_path):
    d = tmp_path / "scripts"
    (d / "a").mkdir(parents=True)
    dest = d / "a" / "b.sh"
    dest.write_bytes(Path(hchild("env.sh")).read_bytes())
    dest.chmod(0o755)
    return d


def test_dir_existing_script(both, script_dir, markers):
    srvs = both(f"--dir={script_dir}")
    envs = {}
    for name, s in srvs.items():
        msgs, _ = run(session(s.url("/a/b.sh/extra?x=1")))
        envs[name] = env_of(msgs)
    for key in ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI"):
        assert envs["wsbridge"].get(key) == envs["websocketd"].get(key), key
    assert envs["wsbridge"]["SCRIPT_NAME"] == "/a/b.sh"
    assert envs["wsbridge"]["PATH_INFO"] == "/extra"
    # Both really ran it.
    assert markers.lines("ran") == [f"RAN {script_dir}/a/b.sh"] * 2


def test_dir_path_translated(both, script_dir):
    srvs = both(f"--dir={script_dir}")
    got = {name: env_of(run(session(s.url("/a/b.sh/extra?x=1")))[0])
           .get("PATH_TRANSLATED") for name, s in srvs.items()}
    assert got["websocketd"] == "/a/b.sh/extra"
    assert got["wsbridge"] == got["websocketd"]


def test_dir_missing_script(both, script_dir, markers):
    srvs = both(f"--dir={script_dir}")
    got = {name: run(upgrade_status(s.url("/a/missing.sh")))
           for name, s in srvs.items()}
    assert got == {"websocketd": 404, "wsbridge": 404}
    assert markers.read("ran") == ""


@pytest.mark.parametrize("origin, expect", [
    ("http://evil.test", 403),
    ("http://allowed.test.evil.test", 403),
    (None, 403),
    ("http://allowed.test", 101),
    ("http://allowed.test:8080", 101),
])
def test_origin(both, origin, expect):
    srvs = both("--origin=allowed.test", "/bin/cat")
    kw = {} if origin is None else {"origin": origin}
    got = {name: run(upgrade_status(s.url("/"), **kw))
           for name, s in srvs.items()}
    assert got == {"websocketd": expect, "wsbridge": expect}


# --------------------------------------------------------------------------
# the deliberate differences


def test_difference_close_frame_with_exit_status(both):
    srvs = both(hchild("exit3.sh"))
    res = {name: run(session(s.url("/"))) for name, s in srvs.items()}
    assert res["websocketd"] == (["bye"], None)            # TCP close only
    assert res["wsbridge"] == (["bye"], (4003, "exit 3"))


def test_difference_close_frame_on_exit_0(both):
    srvs = both("/bin/echo", "hi")
    res = {name: run(session(s.url("/"))) for name, s in srvs.items()}
    assert res["websocketd"] == (["hi"], None)
    assert res["wsbridge"] == (["hi"], (1000, "exit 0"))


def test_difference_last_line_without_newline(both):
    srvs = both(hchild("nonl.sh"))
    msgs = {name: run(session(s.url("/")))[0] for name, s in srvs.items()}
    assert msgs["websocketd"] == ["one"]
    assert msgs["wsbridge"] == ["one", "two"]


def test_difference_plain_get(both):
    srvs = both("/bin/cat")
    assert plain_get(srvs["websocketd"].port) == 404
    assert plain_get(srvs["wsbridge"].port) == 426


def test_difference_origin_host_case(both):
    srvs = both("--origin=allowed.test", "/bin/cat")
    got = {name: run(upgrade_status(s.url("/"),
                                    origin="http://ALLOWED.test:1234"))
           for name, s in srvs.items()}
    assert got == {"websocketd": 403, "wsbridge": 101}
