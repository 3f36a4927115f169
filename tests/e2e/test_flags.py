"""Command line: errors, --help/--version, the flag syntaxes, the log."""

import re
import socket
import subprocess

import pytest
import websockets

from conftest import (
    free_port, WSBRIDGE, child, close_of, echo_check, recv,
                      recv_until_closed, refused, run)

FLAGS = ["--port", "--address", "--binary", "--passenv", "--closems",
         "--maxframesize", "--loglevel", "--help", "--version", "--license"]

LOG_LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
    r"(DEBUG|TRACE|ACCESS|INFO|ERROR|FATAL) \S")



def run_wsbridge(args, timeout=10):
    return subprocess.run([WSBRIDGE] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def not_executable(tmp_path):
    p = tmp_path / "plain.sh"
    p.write_text("#!/bin/sh\necho hi\n")
    p.chmod(0o644)
    return str(p)


@pytest.mark.parametrize("case", [
    ["--no-such-flag", "/bin/cat"],
    ["--port=notanumber", "/bin/cat"],
    ["--port=70000", "/bin/cat"],
    ["--port=-1", "/bin/cat"],
    ["--closems=soon", "/bin/cat"],
    ["--maxframesize=big", "/bin/cat"],
    ["--loglevel=loud", "/bin/cat"],
    ["--binary=maybe", "/bin/cat"],
    [],
    ["/nonexistent/command"],
    ["no-such-command-wsbridge-e2e"],
    ["NOT_EXECUTABLE"],
], ids=["unknown-flag", "port-nan", "port-70000", "port-negative",
        "closems-nan", "maxframesize-nan", "loglevel-bad", "binary-bad",
        "missing-command", "nonexistent-command", "command-not-in-path",
        "not-executable"])
def test_flag_errors(case, not_executable):
    port = free_port()
    args = [a if a != "NOT_EXECUTABLE" else not_executable for a in case]
    has_port = any(a.startswith("--port") for a in args)
    base = ["--address=127.0.0.1"] + ([] if has_port else [f"--port={port}"])
    res = run_wsbridge(base + args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("wsbridge: "), res.stderr
    assert "listening" not in res.stderr
    assert refused(port)


def test_port_in_use_exits_1():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        res = run_wsbridge([f"--port={port}", "--address=127.0.0.1",
                            "/bin/cat"])
    finally:
        s.close()
    assert res.returncode == 1, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("wsbridge: "), res.stderr


def test_help():
    res = run_wsbridge(["--help"])
    assert res.returncode == 0
    for flag in FLAGS:
        assert flag in res.stdout, f"{flag} not in --help"
    assert res.stderr == ""


def test_version():
    res = run_wsbridge(["--version"])
    assert res.returncode == 0
    assert re.fullmatch(r"wsbridge \d+\.\d+\S*\n", res.stdout), res.stdout


def test_license():
    res = run_wsbridge(["--license"])
    assert res.returncode == 0
    assert len(res.stdout.strip()) > 100


def test_single_dash_flags(wsbridge):
    srv = wsbridge("-binary=true", "/bin/cat",
                   base_args=["-port=0", "-address=127.0.0.1"])

    async def go():
        async with websockets.connect(srv.url()) as ws:
            await ws.send(b"ab")
            assert await recv(ws) == b"ab"
    run(go())


def test_space_separated_values(wsbridge):
    srv = wsbridge("--maxframesize", "1000", "-closems", "100", "/bin/cat",
                   base_args=["--port", "0", "-address", "127.0.0.1"])

    async def go():
        async with websockets.connect(srv.url()) as ws:
            await ws.send("k" * 1001)
            msgs, exc = await recv_until_closed(ws)
            return close_of(exc)
    assert run(go())[0] == 1009


@pytest.mark.parametrize("value,binary", [
    ("true", True), ("1", True), ("yes", True),
    ("false", False), ("0", False), ("no", False)])
def test_binary_bool_values(wsbridge, value, binary):
    srv = wsbridge(f"--binary={value}", "/bin/cat")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            await ws.send("hi")
            return await recv(ws)
    got = run(go())
    assert got == (b"hi" if binary else "hi")


def test_command_args_passed_untouched(wsbridge):
    srv = wsbridge("--", "/bin/echo", "-binary", "--port=1", "a  b", "$HOME",
                   "*")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == ["-binary --port=1 a  b $HOME *"]


def test_command_found_in_path(wsbridge):
    srv = wsbridge("cat")
    run(echo_check(srv, "via PATH"))


def test_log_format_and_child_stderr(wsbridge):
    srv = wsbridge(child("stderr.sh"))

    async def go():
        async with websockets.connect(srv.url("/e")) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == ["done"]
    (acc,) = srv.wait_access(1)
    sid = acc["session"]
    assert srv.wait_log(rf" ERROR session={sid} stderr: oops two$")
    log = srv.log_text()
    assert re.search(rf" ERROR session={sid} stderr: oops one$", log, re.M)
    for line in log.splitlines():
        assert LOG_LINE_RE.match(line), f"bad log line: {line!r}"
    assert re.search(r" INFO listening on 127\.0\.0\.1:\d+$", log, re.M)
    # The ACCESS line has its fields in the documented order.
    keys = [k for k in acc if k != "_line"]
    assert keys == ["session", "remote", "path", "duration_ms", "msgs_in",
                    "bytes_in", "msgs_out", "bytes_out", "closed_by", "code",
                    "reason", "pid", "exit", "user"], keys
    assert acc["user"] == "-"


def test_loglevel_info_hides_access(wsbridge):
    srv = wsbridge("--loglevel=info", "/bin/cat")
    run(echo_check(srv))
    srv.stop()
    log = srv.log_text()
    assert " INFO stopped" in log
    assert " ACCESS " not in log


def test_loglevel_debug_shows_access(wsbridge):
    srv = wsbridge("--loglevel=debug", "/bin/cat")
    run(echo_check(srv))
    srv.wait_access(1)


def test_ipv6_and_repeated_address(wsbridge):
    srv = wsbridge("/bin/cat", base_args=["--port=0", "--address=127.0.0.1",
                                          "--address=[::1]"])
    m = srv.wait_log(r" INFO listening on \[::1\]:(\d+)$")
    assert m, srv.log_text()
    port6 = int(m.group(1))

    async def go():
        async with websockets.connect(f"ws://[::1]:{port6}/v6") as ws:
            await ws.send("over v6")
            assert await recv(ws) == "over v6"
    run(go())
    run(echo_check(srv, "over v4"))
    assert len(srv.wait_access(2)) == 2
