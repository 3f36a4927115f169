"""--unbuffer: the child's stdout is a terminal in raw mode, so programs
that block-buffer into a pipe (C stdio, Python, Perl, grep) write each line
at once; bytes pass unchanged and the end of a session is as without it."""

import asyncio
import hashlib
import os
import shutil
import subprocess

import pytest
import websockets

from conftest import IO_TIMEOUT, close_of, recv, recv_until_closed, run

PY = "/usr/bin/python3"

# Each prints one line, then runs on without printing or flushing.
BUFFERING = {
    "python": [PY, "-c", "import time; print('first'); time.sleep(30)"],
    "perl": ["perl", "-e", "print \"first\\n\"; sleep 30"],
    "grep": ["/bin/sh", "-c", "(echo first; sleep 30) | grep first"],
}

C_PROGRAM = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("first\n"); sleep(30); return 0; }
"""


def first_message(srv, timeout):
    """The first message of a session, or None if none came in time."""
    async def go():
        async with websockets.connect(srv.url(), close_timeout=2) as ws:
            try:
                return await asyncio.wait_for(ws.recv(), timeout)
            except asyncio.TimeoutError:
                return None
    return run(go())


@pytest.mark.parametrize("prog", sorted(BUFFERING))
def test_line_arrives_while_the_program_runs(wsbridge, prog):
    if shutil.which(BUFFERING[prog][0]) is None:
        pytest.skip(f"{BUFFERING[prog][0]} not installed")
    srv = wsbridge("--unbuffer", "--closems=100", *BUFFERING[prog])
    assert first_message(srv, IO_TIMEOUT) == "first"


def test_c_stdio_without_fflush(wsbridge, tmp_path):
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "first.c"
    src.write_text(C_PROGRAM)
    exe = tmp_path / "first"
    subprocess.run([cc, "-o", str(exe), str(src)], check=True, timeout=60)
    srv = wsbridge("--unbuffer", "--closems=100", str(exe))
    assert first_message(srv, IO_TIMEOUT) == "first"


def test_without_unbuffer_the_line_waits(wsbridge):
    """What --unbuffer is for: into a pipe, Python keeps the line back."""
    srv = wsbridge("--closems=100", *BUFFERING["python"])
    assert first_message(srv, 1.5) is None


def test_only_stdout_is_a_terminal(wsbridge):
    srv = wsbridge("--unbuffer", "/bin/sh", "-c",
                   "test -t 1 && echo out-tty; test -t 0 || echo in-pipe; "
                   "test -t 2 || echo err-pipe")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == ["out-tty", "in-pipe", "err-pipe"]
    assert close_of(exc) == (1000, "exit 0")


@pytest.mark.parametrize("unbuffer", [False, True])
def test_bytes_and_end_as_without(wsbridge, unbuffer):
    """The same lines (a CRLF ends a line as LF does), every one before the
    close, and the exit status in the close and the ACCESS line. (That the
    terminal adds no CR is test_binary_ten_mib_unchanged's: line mode could
    not tell.)"""
    srv = wsbridge(*(["--unbuffer"] if unbuffer else []), "/bin/sh", "-c",
                   "printf 'a\\nb\\r\\nc\\n'; seq 1 20000; exit 3")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs[:3] == ["a", "b", "c"], msgs[:3]
    assert msgs[3:] == [str(i) for i in range(1, 20001)]
    assert close_of(exc) == (4003, "exit 3")
    (acc,) = srv.wait_access(1)
    assert acc["exit"] == "3"
    assert acc["msgs_out"] == str(3 + 20000)


def test_binary_ten_mib_unchanged(wsbridge):
    srv = wsbridge("--binary", "--unbuffer", "/bin/cat")
    data = os.urandom(10 * 1024 * 1024)
    chunk = 64 * 1024

    async def go():
        async with websockets.connect(srv.url(), compression=None,
                                      max_size=None) as ws:
            async def send():
                for off in range(0, len(data), chunk):
                    await asyncio.wait_for(ws.send(data[off:off + chunk]),
                                           IO_TIMEOUT)
            got = bytearray()
            sender = asyncio.ensure_future(send())
            while len(got) < len(data):
                got += await recv(ws)
            await sender
            return bytes(got)
    got = run(go(), timeout=120)
    assert len(got) == len(data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_refused_in_client_mode():
    res = subprocess.run([os.environ["WSBRIDGE"], "--connect=ws://127.0.0.1:1/",
                          "--unbuffer"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2
    assert "--unbuffer" in res.stderr
