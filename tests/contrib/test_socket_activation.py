"""Socket activation (systemd's LISTEN_FDS protocol) and contrib/systemd.

wsbridge runs under `systemd-socket-activate` (Debian package `systemd`),
which listens, and on the first connection execs wsbridge with the listening
sockets as fds 3.. and LISTEN_FDS/LISTEN_PID set.  Expected of wsbridge:
- one `INFO listening on ADDR (socket activation)` line per inherited socket;
- --port/--address ignored (nothing listens on the --port given);
- the pending connection and later ones are served (echo through `cat`);
- SIGTERM still stops it with status 0.
Also: sockets meant for another pid (LISTEN_PID mismatch) are left alone,
--uid/--gid after socket activation, and the unit files in contrib/systemd
(systemd-analyze verify; every flag they pass exists).
"""

import asyncio
import os
import pwd
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import websockets

from contrib_helpers import (CONTRIB, IO_TIMEOUT, SANITIZER_VARS, WSBRIDGE,
                             LoggedProcess, assert_clean_exit, close_of,
                             free_port, help_flags, need_binary, port_open,
                             recv, recv_until_closed, require_flag, run,
                             wait_until)

SYSTEMD = CONTRIB / "systemd"
ACTIVATED_RE = r"INFO listening on (\S+) \(socket activation\)"


def socket_activate():
    path = shutil.which("systemd-socket-activate")
    if path is None:
        pytest.skip("systemd-socket-activate not installed (Debian package "
                    "`systemd`): apt-get install systemd")
    return path


def activated(tmp_path, listen, args, name="activated"):
    """wsbridge under systemd-socket-activate -l LISTEN... (not yet exec'd:
    that happens on the first connection)."""
    need_binary()
    argv = [socket_activate()]
    for spec in listen:
        argv += ["-l", spec]
    # systemd-socket-activate passes no environment but what -E names.
    argv += ["-E", "PATH"]
    for var in SANITIZER_VARS:
        if var in os.environ:
            argv += ["-E", var]
    argv += [WSBRIDGE, *args]
    return LoggedProcess(argv, Path(tmp_path) / f"{name}.log").start()


async def echo_once(uri, text):
    async with websockets.connect(uri, open_timeout=IO_TIMEOUT) as ws:
        await ws.send(text)
        got = await recv(ws)
        await ws.close()
        return got


def no_activation_hint(proc):
    return ("no '(socket activation)' listening line: this wsbridge does "
            "not take sockets from LISTEN_FDS/LISTEN_PID yet\nlog:\n"
            + proc.log_text())


def test_tcp_socket_activation_echo(tmp_path):
    port = free_port()
    ignored = free_port()
    proc = activated(tmp_path, [f"127.0.0.1:{port}"],
                     [f"--port={ignored}", "--address=127.0.0.1", "/bin/cat"])
    try:
        assert wait_until(lambda: port_open(port) or not proc.alive(), 5), \
            f"systemd-socket-activate did not listen\n{proc.log_text()}"
        try:
            got = run(echo_once(f"ws://127.0.0.1:{port}/sa",
                                "hello through fd 3"), timeout=30)
        except (asyncio.TimeoutError, OSError,
                websockets.WebSocketException) as exc:
            pytest.fail(f"no WebSocket through the activated socket "
                        f"({exc!r}); " + no_activation_hint(proc))
        assert got == "hello through fd 3"
        m = proc.wait_log(ACTIVATED_RE, timeout=5)
        assert m, no_activation_hint(proc)
        assert m.group(1) == f"127.0.0.1:{port}", m.group(0)
        # a second session on the same adopted socket
        got = run(echo_once(f"ws://127.0.0.1:{port}/again", "two"))
        assert got == "two"
        # --port/--address were ignored
        assert not port_open(ignored), \
            f"wsbridge also listens on --port={ignored}"
        assert f"listening on 127.0.0.1:{ignored}" not in proc.log_text()
        log = proc.log_text()
        assert len(re.findall(ACTIVATED_RE, log)) == 1, log
        assert proc.wait_access(2), log
        access = [ln for ln in proc.log_text().splitlines()
                  if " ACCESS " in ln]
        assert len(access) == 2 and all("closed_by=client code=1000" in a
                                        and "exit=0" in a for a in access), \
            proc.log_text()
    finally:
        proc.stop()
    assert_clean_exit(proc)
    assert "INFO stopped" in proc.log_text()


def test_unix_and_tcp_sockets_together(tmp_path):
    """LISTEN_FDS=2: a unix-domain socket (fd 3) and a TCP one (fd 4)."""
    sock_path = tmp_path / "ws.sock"
    port = free_port()
    proc = activated(tmp_path, [str(sock_path), f"127.0.0.1:{port}"],
                     [f"--port={free_port()}", "--address=127.0.0.1",
                      "/bin/sh", "-c", 'echo "remote=$REMOTE_ADDR"; exec cat'])
    try:
        assert wait_until(lambda: sock_path.exists() and port_open(port), 5), \
            proc.log_text()

        async def over_unix():
            async with websockets.unix_connect(
                    str(sock_path), "ws://localhost/u",
                    open_timeout=IO_TIMEOUT) as ws:
                first = await recv(ws)
                await ws.send("via unix")
                return first, await recv(ws)

        try:
            first, echoed = run(over_unix(), timeout=30)
        except (asyncio.TimeoutError, OSError,
                websockets.WebSocketException) as exc:
            pytest.fail(f"no WebSocket over the activated unix socket "
                        f"({exc!r}); " + no_activation_hint(proc))
        assert echoed == "via unix"
        assert first.startswith("remote="), first
        got = run(echo_once(f"ws://127.0.0.1:{port}/t", "via tcp"))
        assert got == "remote=127.0.0.1"
        lines = re.findall(ACTIVATED_RE, proc.log_text())
        assert len(lines) == 2, no_activation_hint(proc)
        assert f"127.0.0.1:{port}" in lines, lines
        assert any(str(sock_path) in a for a in lines), lines
    finally:
        proc.stop()
    assert_clean_exit(proc)


def test_sockets_for_another_pid_are_left_alone(tmp_path):
    """LISTEN_PID is not wsbridge's pid: it binds --port as usual."""
    need_binary()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    foreign_port = lsock.getsockname()[1]
    fd = lsock.fileno()

    def as_fd3():
        os.dup2(fd, 3)                 # dup2 clears FD_CLOEXEC on fd 3

    env = dict(os.environ, LISTEN_PID="1", LISTEN_FDS="1")
    proc = LoggedProcess([WSBRIDGE, "--port=0", "--address=127.0.0.1",
                          "/bin/cat"], tmp_path / "foreign.log", env=env,
                         preexec_fn=as_fd3, pass_fds=(fd,)).start()
    try:
        m = proc.wait_log(r"INFO listening on 127\.0\.0\.1:(\d+)$|"
                          r"INFO listening on .*socket activation",
                          timeout=10)
        assert m, proc.log_text()
        assert "(socket activation)" not in proc.log_text(), \
            "adopted fd 3 although LISTEN_PID is another process's"
        own = int(m.group(1))
        assert own != foreign_port
        got = run(echo_once(f"ws://127.0.0.1:{own}/", "own port"))
        assert got == "own port"
    finally:
        proc.stop()
        lsock.close()
    assert_clean_exit(proc)


def test_uid_gid_drop_after_socket_activation(tmp_path):
    """systemd (root) hands the socket over; wsbridge drops to nobody
    before any child runs."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    require_flag("--uid", "--uid/--gid (privilege drop)")
    require_flag("--gid", "--uid/--gid (privilege drop)")
    nobody = pwd.getpwnam("nobody")
    port = free_port()
    proc = activated(tmp_path, [f"127.0.0.1:{port}"],
                     ["--uid=nobody", f"--gid={nobody.pw_gid}",
                      "/bin/sh", "-c", 'echo "$(id -u) $(id -g) $(id -G)"'])
    try:
        assert wait_until(lambda: port_open(port), 5), proc.log_text()

        async def ids():
            async with websockets.connect(f"ws://127.0.0.1:{port}/",
                                          open_timeout=IO_TIMEOUT) as ws:
                return await recv_until_closed(ws)

        msgs, closed = run(ids(), timeout=30)
        assert msgs == [f"{nobody.pw_uid} {nobody.pw_gid} {nobody.pw_gid}"], \
            f"child ids {msgs}\n{proc.log_text()}"
        assert close_of(closed) == (1000, "exit 0")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        assert set(uids) == {str(nobody.pw_uid)}, f"wsbridge Uid: {uids}"
        assert set(gids) == {str(nobody.pw_gid)}, f"wsbridge Gid: {gids}"
    finally:
        proc.stop()
    assert_clean_exit(proc)


# --------------------------------------------------------------------------
# the unit files


UNITS = ["wsbridge.socket", "wsbridge.service", "wsbridge@.service"]


def unit_settings(name):
    """{key: [values]} of a unit file (sections ignored)."""
    out = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


@pytest.mark.parametrize("name", ["wsbridge.service", "wsbridge@.service"])
def test_service_hardening_and_stop(name):
    s = unit_settings(name)
    want = {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
            "ProtectHome": "yes", "PrivateTmp": "yes", "DynamicUser": "yes",
            # wsbridge runs the close/kill schedule itself: SIGTERM to it
            # alone, not to every child at once
            "KillMode": "mixed"}
    for k, v in want.items():
        assert s.get(k, [None])[-1] == v, f"{name}: {k}={s.get(k)}, want {v}"
    assert "AF_UNIX" in " ".join(s.get("RestrictAddressFamilies", [])) and \
        "AF_INET" in " ".join(s.get("RestrictAddressFamilies", []))
    # longer than the shutdown bound 2*closems+2s with closems as passed
    opts = " ".join(s.get("ExecStart", []))
    closems = int((re.search(r"--closems=(\d+)", opts) or [0, 1000])[1])
    stop = s.get("TimeoutStopSec", ["90s"])[-1]
    secs = int(re.fullmatch(r"(\d+)s?", stop).group(1))
    assert secs > 2 * closems / 1000 + 2, f"{name}: TimeoutStopSec={stop}"


def test_units_pass_only_known_flags():
    flags = set(help_flags())
    text = "\n".join((SYSTEMD / u).read_text() for u in UNITS)
    used = set(re.findall(r"(--[a-z][a-z0-9-]*)=", text))
    unknown = sorted(used - flags)
    assert not unknown, f"contrib/systemd uses flags wsbridge lacks: {unknown}"


def test_socket_unit_listens():
    s = unit_settings("wsbridge.socket")
    assert s.get("ListenStream"), "wsbridge.socket has no ListenStream="
    assert s.get("Accept", ["no"])[-1] in ("no", "false"), \
        "Accept=yes would start one wsbridge per connection"


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package `systemd`)")
    need_binary()
    for u in UNITS:
        text = (SYSTEMD / u).read_text().replace("/usr/local/bin/wsbridge",
                                                 str(Path(WSBRIDGE).resolve()))
        (tmp_path / u).write_text(text)
    out = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "wsbridge.socket"),
         str(tmp_path / "wsbridge.service"),
         str(tmp_path / "wsbridge@8080.service")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    problems = [ln for ln in (out.stdout + out.stderr).splitlines()
                if str(tmp_path) in ln or "wsbridge" in ln]
    assert out.returncode == 0 and not problems, \
        f"systemd-analyze verify (rc={out.returncode}):\n" \
        f"{out.stdout}{out.stderr}"
