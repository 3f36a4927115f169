"""nginx as the authenticating proxy in front of --auth-header.

nginx checks the password itself (auth_basic, a file made with
`htpasswd -B`) and passes the user on as X-Forwarded-User, as oauth2-proxy
does; wsbridge runs with --trusted-proxy set to the address nginx connects
from (proxy_bind 127.0.0.2) and --auth-header=X-Forwarded-User. The same
header sent straight to wsbridge from 127.0.0.1 is a forgery: 403. nginx
runs in the foreground as a child process, stopped by its pid; without
/usr/sbin/nginx or htpasswd every test skips.
"""

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import websockets

from contrib_helpers import (IO_TIMEOUT, LoggedProcess, Wsbridge,
                             assert_clean_exit, free_port, port_open, recv,
                             require_flag, run, wait_until, write_script)

NGINX = "/usr/sbin/nginx"
HTPASSWD = shutil.which("htpasswd")

CHILD = """#!/bin/sh
echo "user=$REMOTE_USER type=$AUTH_TYPE addr=$REMOTE_ADDR"
"""


class Nginx(LoggedProcess):
    def __init__(self, tmp_path, upstream_port, pwfile):
        self.dir = Path(tmp_path) / "nginx"
        (self.dir / "logs").mkdir(parents=True)
        self.port = free_port()
        # Run as root, nginx's workers would be nobody, who cannot read
        # the password file in pytest's private tmp directory.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = user + f"""worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {self.dir}/access.log;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            auth_basic "wsbridge behind nginx";
            auth_basic_user_file {pwfile};
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_bind 127.0.0.2;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # Who nginx let in; whatever the client sent is replaced.
            proxy_set_header X-Forwarded-User $remote_user;
            proxy_set_header Authorization "";
        }}
    }}
}}
"""
        for mod in ("fastcgi", "uwsgi", "scgi"):
            conf = conf.replace(
                "    proxy_temp_path",
                f"    {mod}_temp_path {self.dir}/{mod};\n    proxy_temp_path")
        (self.dir / "nginx.conf").write_text(conf)
        argv = [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                "-g", f"daemon off; pid {self.dir}/nginx.pid; "
                      "error_log stderr;"]
        super().__init__(argv, Path(tmp_path) / "nginx.log")

    def start(self):
        super().start()
        if not wait_until(lambda: port_open(self.port) or not self.alive(),
                          10) or not self.alive():
            log = self.log_text()
            self.stop()
            pytest.fail(f"nginx did not start:\n{log}")
        return self


@pytest.fixture
def proxied(tmp_path):
    if not os.access(NGINX, os.X_OK):
        pytest.skip(f"{NGINX} not installed (CI: apt-get install nginx-light)")
    if HTPASSWD is None:
        pytest.skip("htpasswd not installed (apt-get install apache2-utils)")
    require_flag("--auth-header", "--auth-header")
    pwfile = tmp_path / "htpasswd"
    subprocess.run([HTPASSWD, "-cbB", str(pwfile), "alice", "secret"],
                   check=True, capture_output=True, timeout=60)
    script = write_script(tmp_path / "child.sh", CHILD)
    wsb = Wsbridge(tmp_path, ["--trusted-proxy=127.0.0.2",
                              "--auth-header=X-Forwarded-User", script]).start()
    nginx = Nginx(tmp_path, wsb.port, pwfile).start()
    yield wsb, nginx
    nginx.stop()
    wsb.stop()
    assert_clean_exit(wsb)


def hello(url, headers=None):
    async def go():
        async with websockets.connect(url, extra_headers=headers or {},
                                      open_timeout=IO_TIMEOUT,
                                      close_timeout=5) as ws:
            return await recv(ws)
    try:
        return run(go())
    except websockets.exceptions.InvalidStatusCode as exc:
        return exc.status_code


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        f"{user}:{password}".encode()).decode()}


def test_user_from_the_authenticating_proxy(proxied):
    wsb, nginx = proxied
    url = f"ws://127.0.0.1:{nginx.port}/"
    assert hello(url) == 401                        # nginx's own answer
    assert hello(url, basic("alice", "wrong")) == 401
    got = hello(url, {**basic("alice", "secret"),
                      "X-Forwarded-User": "mallory"})
    assert got == "user=alice type=X-Forwarded-User addr=127.0.0.1", got
    assert wsb.wait_access(1)[-1]["user"] == "alice"


def test_header_straight_to_wsbridge_is_refused(proxied):
    wsb, _ = proxied
    assert hello(wsb.url(), {"X-Forwarded-User": "alice"}) == 403
    assert hello(wsb.url()) == 403                  # and no identity at all
    refused = [a for a in wsb.access_lines() if "refused" in a["_line"]]
    assert [r["status"] for r in refused] == ["403", "403"]
