"""contrib/nginx/wsbridge.conf in front of two wsbridge instances.

nginx itself is not installed here (CI installs `nginx-light` or `nginx`);
without /usr/sbin/nginx every test skips.  The config file is used as it is,
but for its ports: the upstream servers 127.0.0.1:9001/9002 become the two
instances' free ports and the `listen` lines one free loopback port.  nginx
runs as a child process in the foreground (daemon off), stopped by its pid.

The instances run with --trusted-proxy=127.0.0.1, --metrics=/metrics and a
child that says which instance it is (WSB_INSTANCE, passed with --passenv)
and what REMOTE_ADDR it got, echoes lines, and on "exit N" exits N.
"""

import asyncio
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from contrib_helpers import (CONTRIB, IO_TIMEOUT, LoggedProcess, Wsbridge,
                             assert_clean_exit, close_of, free_port, port_open,
                             recv, recv_until_closed, require_flag, run,
                             wait_until, write_script)

NGINX = "/usr/sbin/nginx"
CONF = CONTRIB / "nginx" / "wsbridge.conf"
SESSIONS = 100
CONCURRENCY = 10

CHILD = """#!/bin/sh
echo "instance=$WSB_INSTANCE remote=$REMOTE_ADDR xff=$HTTP_X_FORWARDED_FOR"
while IFS= read -r line; do
	case $line in
	"exit "*) exit "${line#exit }" ;;
	esac
	printf '%s\\n' "$line"
done
"""

HELLO_RE = re.compile(r"^instance=(\w+) remote=(\S*) xff=(.*)$")


def render_conf(text, listen_port, upstream_ports):
    """The contrib file with its ports replaced; checks it has what we
    replace."""
    assert "127.0.0.1:9001" in text and "127.0.0.1:9002" in text, \
        "wsbridge.conf lost its 127.0.0.1:9001/9002 upstream servers"
    text = text.replace("127.0.0.1:9001", f"127.0.0.1:{upstream_ports[0]}")
    text = text.replace("127.0.0.1:9002", f"127.0.0.1:{upstream_ports[1]}")
    listens = re.findall(r"^\s*listen\s+[^;]+;", text, re.M)
    assert listens, "wsbridge.conf has no listen directive"
    first = True

    def one(m):
        nonlocal first
        if first:
            first = False
            return f"    listen 127.0.0.1:{listen_port};"
        return ""                       # loopback only: no [::] listener

    return re.sub(r"^\s*listen\s+[^;]+;", one, text, flags=re.M)


def nginx_modules():
    out = subprocess.run([NGINX, "-V"], capture_output=True, text=True,
                         timeout=10)
    return out.stderr + out.stdout


class Nginx(LoggedProcess):
    def __init__(self, tmp_path, upstream_ports):
        self.dir = Path(tmp_path) / "nginx"
        (self.dir / "logs").mkdir(parents=True)
        self.port = free_port()
        snippet = render_conf(CONF.read_text(), self.port, upstream_ports)
        (self.dir / "wsbridge.conf").write_text(snippet)
        temp = [f"    client_body_temp_path {self.dir}/body;",
                f"    proxy_temp_path {self.dir}/proxy;"]
        built = nginx_modules()
        for mod in ("fastcgi", "uwsgi", "scgi"):
            if f"--without-http_{mod}_module" not in built:
                temp.append(f"    {mod}_temp_path {self.dir}/{mod};")
        conf = "\n".join([
            "worker_processes 1;",
            "events { worker_connections 1024; }",
            "http {",
            f"    access_log {self.dir}/access.log;",
            *temp,
            f"    include {self.dir}/wsbridge.conf;",
            "}", ""])
        (self.dir / "nginx.conf").write_text(conf)
        argv = [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                "-g", f"daemon off; pid {self.dir}/nginx.pid; "
                      "error_log stderr;"]
        super().__init__(argv, Path(tmp_path) / "nginx.log")

    def start(self):
        test = subprocess.run(self.argv[:-2] + ["-t", "-g",
                              f"pid {self.dir}/nginx.pid; error_log stderr;"],
                              capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, f"nginx -t:\n{test.stderr}"
        super().start()
        if not wait_until(lambda: port_open(self.port) or not self.alive(),
                          10) or not self.alive():
            log = self.log_text()
            self.stop()
            pytest.fail(f"nginx did not start:\n{log}")
        return self

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"


class Cluster:
    def __init__(self, tmp_path):
        script = write_script(Path(tmp_path) / "child.sh", CHILD)
        self.instances = {}
        for name in ("a", "b"):
            self.instances[name] = Wsbridge(
                tmp_path, ["--trusted-proxy=127.0.0.1", "--metrics=/metrics",
                           "--passenv=PATH,WSB_INSTANCE", script],
                name=f"wsbridge-{name}",
                env=dict(os.environ, WSB_INSTANCE=name)).start()
        self.nginx = Nginx(tmp_path, [self.instances["a"].port,
                                      self.instances["b"].port]).start()

    def stop(self):
        self.nginx.stop()
        for inst in self.instances.values():
            inst.stop()
        for name, inst in self.instances.items():
            assert_clean_exit(inst, f"wsbridge instance {name}")

    def logs(self):
        return "\n".join(f"--- {n}:\n{i.log_text()[-3000:]}"
                         for n, i in self.instances.items()) + \
            f"\n--- nginx:\n{self.nginx.log_text()[-3000:]}"


@pytest.fixture
def cluster(tmp_path):
    if not os.access(NGINX, os.X_OK):
        pytest.skip(f"{NGINX} not installed (CI: apt-get install nginx-light)")
    require_flag("--trusted-proxy", "--trusted-proxy")
    require_flag("--metrics", "--metrics")
    c = Cluster(tmp_path)
    yield c
    c.stop()


async def session(uri, n, status, headers=None, local_addr=None):
    """hello, one echo, `exit status`; returns (hello fields, close)."""
    kwargs = {"local_addr": (local_addr, 0)} if local_addr else {}
    async with websockets.connect(uri, extra_headers=headers or {},
                                  open_timeout=IO_TIMEOUT, close_timeout=5,
                                  **kwargs) as ws:
        hello = await recv(ws)
        m = HELLO_RE.match(hello)
        assert m, f"session {n}: unexpected first message {hello!r}"
        await ws.send(f"ping {n}")
        assert await recv(ws) == f"ping {n}"
        await ws.send(f"exit {status}")
        msgs, closed = await recv_until_closed(ws)
        assert msgs == [], f"session {n}: after exit: {msgs}"
        return m.groups(), close_of(closed)


def expected_close(status):
    if status == 0:
        return (1000, "exit 0")
    return (4000 + status, f"exit {status}")


def metric(port, name):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                  timeout=IO_TIMEOUT).read().decode()
    m = re.search(rf"^{re.escape(name)} (\d+)$", body, re.M)
    assert m, f"no {name} in /metrics:\n{body}"
    return int(m.group(1))


def test_sessions_balanced_with_close_codes(cluster):
    sem = None

    async def one(n):
        async with sem:
            return await session(cluster.nginx.url(f"/s/{n}?k={n % 5}"), n,
                                 n % 5)

    async def all_sessions():
        nonlocal sem
        sem = asyncio.Semaphore(CONCURRENCY)
        return await asyncio.gather(*(one(n) for n in range(SESSIONS)))

    results = run(all_sessions(), timeout=180)
    served = {"a": set(), "b": set()}
    for n, ((inst, remote, xff), close) in enumerate(results):
        assert close == expected_close(n % 5), \
            f"session {n} (exit {n % 5}) closed with {close} through nginx"
        assert remote == "127.0.0.1", f"session {n}: REMOTE_ADDR={remote}"
        assert xff == "127.0.0.1", f"session {n}: X-Forwarded-For={xff!r}"
        served[inst].add(n)
    assert served["a"] and served["b"], \
        f"one instance served all: a={len(served['a'])} b={len(served['b'])}"

    # The ACCESS lines agree: each session logged once, by the instance
    # that greeted it, with the child's status and the close code.
    for name, inst in cluster.instances.items():
        lines = inst.wait_access(len(served[name]), timeout=IO_TIMEOUT)
        assert len(lines) == len(served[name]), \
            f"{name}: {len(lines)} ACCESS lines for {len(served[name])} " \
            f"sessions\n{cluster.logs()}"
        for f in lines:
            m = re.fullmatch(r"/s/(\d+)\?k=\d", f.get("path", ""))
            assert m, f["_line"]
            n = int(m.group(1))
            assert n in served[name], f"{name} logged session {n}"
            code = expected_close(n % 5)[0]
            assert (f["closed_by"], f["code"], f["exit"]) == \
                ("child", str(code), str(n % 5)), f["_line"]
            assert re.match(r"127\.0\.0\.1(:\d+)?$", f["remote"]), f["_line"]
        # and so do the metrics, read from each instance directly
        assert metric(inst.port, "wsbridge_sessions_total") == \
            len(served[name])
        assert metric(inst.port, "wsbridge_sessions_open") == 0


def test_remote_addr_from_trusted_proxy(cluster):
    """Through nginx, REMOTE_ADDR is the client's, even a spoofed
    X-Forwarded-For notwithstanding; direct, only the trusted peer's
    X-Forwarded-For counts."""
    spoof = {"X-Forwarded-For": "203.0.113.9"}

    # the plain case: client 127.0.0.1 -> nginx -> instance
    (inst, remote, xff), close = run(session(cluster.nginx.url("/plain"),
                                             0, 0))
    assert (remote, xff) == ("127.0.0.1", "127.0.0.1")
    # client 127.0.0.2 (another loopback address): nginx, 127.0.0.1, is the
    # TCP peer, so 127.0.0.2 can only have come from X-Forwarded-For
    (inst, remote, xff), close = run(session(
        cluster.nginx.url("/from2"), 1, 0, headers=spoof,
        local_addr="127.0.0.2"))
    assert xff == "203.0.113.9, 127.0.0.2", xff
    assert remote == "127.0.0.2", \
        f"REMOTE_ADDR={remote}: not the rightmost X-Forwarded-For entry"
    access = [f for f in cluster.instances[inst].wait_access(1)
              if f.get("path") == "/from2"]
    assert access and re.match(r"127\.0\.0\.2(:\d+)?$", access[0]["remote"]), \
        f"the ACCESS line's remote is not the client's: {access}"

    a = cluster.instances["a"]
    # directly, from an untrusted peer: its X-Forwarded-For is ignored
    (inst, remote, xff), _ = run(session(a.url("/direct2"), 2, 0,
                                         headers=spoof,
                                         local_addr="127.0.0.2"))
    assert (inst, remote) == ("a", "127.0.0.2"), (inst, remote)
    # directly, from the trusted address: the rightmost entry wins
    (inst, remote, xff), _ = run(session(
        a.url("/direct1"), 3, 0,
        headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}))
    assert remote == "203.0.113.9", remote


def test_stopping_one_instance(cluster):
    """SIGTERM to one instance: its open session gets 1001 through nginx;
    new sessions all go to the other one."""
    uri = cluster.nginx.url

    async def scenario():
        held = {}
        opened = []
        # least_conn: with one session open on an instance the next goes to
        # the other; a few tries give us one open on each.
        for n in range(6):
            ws = await websockets.connect(uri(f"/held/{n}"),
                                          open_timeout=IO_TIMEOUT)
            opened.append(ws)
            inst = HELLO_RE.match(await recv(ws)).group(1)
            held.setdefault(inst, ws)
            if len(held) == 2:
                break
        assert len(held) == 2, \
            f"sessions all went to {list(held)}\n{cluster.logs()}"

        victim, survivor = cluster.instances["a"], cluster.instances["b"]
        victim.proc.send_signal(signal.SIGTERM)    # by its pid
        msgs, closed = await recv_until_closed(held["a"], timeout=10)
        assert close_of(closed) == (1001, "server shutting down"), \
            f"{close_of(closed)}\n{cluster.logs()}"
        rc = await asyncio.get_running_loop().run_in_executor(
            None, victim.wait_exit, 10)
        assert rc == 0, f"instance a exited {rc}\n{cluster.logs()}"

        # the session on b is untouched
        await held["b"].send("still there")
        assert await recv(held["b"]) == "still there"

        before = len(survivor.access_lines())
        got = []
        for n in range(20):
            (inst, remote, _), close = await session(uri(f"/after/{n}"), n, 0)
            got.append((inst, close))
        assert all(g == ("b", (1000, "exit 0")) for g in got), got
        for ws in opened:
            await ws.close()
        return before

    before = run(scenario(), timeout=120)
    b = cluster.instances["b"]
    lines = b.wait_access(before + 20 + 1)
    assert len([f for f in lines if f["path"].startswith("/after/")]) == 20, \
        cluster.logs()
    assert "INFO stopped" in cluster.instances["a"].log_text()


def test_metrics_are_not_proxied(cluster):
    try:
        urllib.request.urlopen(
            f"http://127.0.0.1:{cluster.nginx.port}/metrics", timeout=5)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == 404, f"GET /metrics through nginx gave {status}"
    # ... but each instance serves them
    a = cluster.instances["a"]
    assert metric(a.port, "wsbridge_sessions_open") == 0
