"""The CGI-style environment of the child."""

import subprocess

import websockets

from conftest import WSBRIDGE, close_of, recv_until_closed, run

CGI_NAMES = {
    "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_HOST", "SERVER_NAME", "SERVER_PORT",
    "SERVER_PROTOCOL", "SERVER_SOFTWARE", "GATEWAY_INTERFACE",
    "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO",
    "PATH_TRANSLATED", "QUERY_STRING", "UNIQUE_ID", "AUTH_TYPE",
    "CONTENT_LENGTH", "CONTENT_TYPE", "REMOTE_IDENT", "REMOTE_USER", "HTTPS",
}


async def env_of(srv, path, headers=None, ua="wsbridge-e2e/1.0"):
    """Runs one `env` session; returns (env dict, client's local port)."""
    async with websockets.connect(srv.url(path), extra_headers=headers,
                                  user_agent_header=ua) as ws:
        local_port = ws.local_address[1]
        msgs, exc = await recv_until_closed(ws)
        assert close_of(exc)[0] == 1000
    env = {}
    for m in msgs:
        assert isinstance(m, str), m
        k, sep, v = m.partition("=")
        assert sep, f"not NAME=VALUE: {m!r}"
        env[k] = v
    return env, local_port


def test_cgi_environment(wsbridge):
    srv = wsbridge("/usr/bin/env", passenv="PATH,WSB_PASSED",
                   env={"WSB_SECRET": "hidden", "WSB_PASSED": "yes",
                        "HTTPS": "on", "HTTP_X_FAKE": "from-server-env"})

    async def go():
        e1, port1 = await env_of(srv, "/some/path?a=1&b=two",
                                 headers={"X-Foo-Bar": "baz qux"})
        e2, _ = await env_of(srv, "/other")
        return e1, port1, e2
    e, local_port, e2 = run(go())

    assert e.get("REMOTE_ADDR") == "127.0.0.1"
    assert e.get("REMOTE_HOST") == "127.0.0.1"
    assert e.get("REMOTE_PORT") == str(local_port)
    assert e.get("SERVER_PORT") == str(srv.port)
    assert e.get("SERVER_NAME") == "127.0.0.1"
    assert e.get("SERVER_PROTOCOL") == "HTTP/1.1"
    assert e.get("REQUEST_METHOD") == "GET"
    assert e.get("REQUEST_URI") == "/some/path?a=1&b=two"
    assert e.get("QUERY_STRING") == "a=1&b=two"
    assert e.get("PATH_INFO") == "/some/path"
    assert e.get("PATH_TRANSLATED") == "/some/path"
    assert e.get("SCRIPT_NAME") == "/"
    assert e.get("SERVER_SOFTWARE", "").startswith("wsbridge/")
    assert e.get("GATEWAY_INTERFACE") == "websocketd-CGI/0.1"
    for name in ("AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE",
                 "REMOTE_IDENT", "REMOTE_USER"):
        assert e.get(name) == "", name
    assert e.get("UNIQUE_ID")
    assert e2.get("UNIQUE_ID")
    assert e["UNIQUE_ID"] != e2["UNIQUE_ID"]
    assert e.get("HTTP_X_FOO_BAR") == "baz qux"
    assert e.get("HTTP_USER_AGENT") == "wsbridge-e2e/1.0"
    assert e.get("HTTP_HOST") == f"127.0.0.1:{srv.port}"
    assert e.get("HTTP_UPGRADE", "").lower() == "websocket"
    # --passenv: named variables pass, others do not.
    assert e.get("WSB_PASSED") == "yes"
    assert e.get("PATH")
    assert "WSB_SECRET" not in e
    assert "MARKER_DIR" not in e
    assert "HTTPS" not in e          # no TLS, whatever the server's env says
    assert e.get("HTTP_X_FAKE") is None
    # Nothing else leaks in.
    extra = {k for k in e if k not in CGI_NAMES and not k.startswith("HTTP_")
             and k not in ("PATH", "WSB_PASSED")}
    assert not extra, f"unexpected variables: {sorted(extra)}"
    # The second session's request.
    assert e2.get("REQUEST_URI") == "/other"
    assert e2.get("QUERY_STRING") == ""
    assert e2.get("PATH_INFO") == "/other"
    assert "HTTP_X_FOO_BAR" not in e2


def test_default_passenv(wsbridge):
    srv = wsbridge("/usr/bin/env", passenv=False,
                   env={"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/nowhere",
                        "WSB_SECRET": "hidden"})
    e, _ = run(env_of(srv, "/"))
    assert e.get("PATH") == "/usr/bin:/bin"
    assert e.get("LD_LIBRARY_PATH") == "/nowhere"
    assert "WSB_SECRET" not in e
    assert "MARKER_DIR" not in e
    assert "HOME" not in e


def test_server_software_matches_version(wsbridge):
    out = subprocess.run([WSBRIDGE, "--version"], capture_output=True,
                         text=True, timeout=10)
    version = out.stdout.strip().split(" ", 1)[1]
    srv = wsbridge("/usr/bin/env")
    e, _ = run(env_of(srv, "/"))
    assert e.get("SERVER_SOFTWARE") == "wsbridge/" + version
