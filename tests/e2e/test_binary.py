"""--binary: raw bytes both ways."""

import os
import subprocess
import time

import websockets

from conftest import close_of, recv, recv_until_closed, run


async def collect(ws, total, timeout=30):
    """Receives binary messages until `total` bytes came; returns them."""
    chunks = []
    got = 0
    deadline = time.monotonic() + timeout
    for _ in range(1 << 20):
        if got >= total:
            break
        left = deadline - time.monotonic()
        assert left > 0, f"only {got} of {total} bytes after {timeout}s"
        m = await recv(ws, left)
        assert isinstance(m, bytes), f"text message in binary mode: {m!r:.80}"
        chunks.append(m)
        got += len(m)
    return b"".join(chunks)


def test_all_byte_values(wsbridge):
    srv = wsbridge("--binary", "/bin/cat")
    data = bytes(range(256))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            await ws.send(data)
            assert await collect(ws, len(data)) == data
            # No newline is added in binary mode.
            await ws.send(b"\n\r\x00")
            assert await collect(ws, 3) == b"\n\r\x00"
    run(go())
    (acc,) = srv.wait_access(1)
    assert acc["bytes_in"] == "259" and acc["msgs_in"] == "2"
    assert acc["bytes_out"] == "259"


def test_one_mib_binary_round_trip(wsbridge):
    srv = wsbridge("--binary", "/bin/cat")
    data = os.urandom(1 << 20)

    async def go():
        async with websockets.connect(srv.url(), max_size=None,
                                      max_queue=None) as ws:
            await ws.send(data)
            got = await collect(ws, len(data))
            assert len(got) == len(data)
            assert got == data
    run(go())
    (acc,) = srv.wait_access(1)
    assert acc["bytes_in"] == str(1 << 20) and acc["msgs_in"] == "1"
    assert acc["bytes_out"] == str(1 << 20)


# One client process: N sessions in turn, each 1 MiB there and back.
MIB_CLIENT = r"""
import asyncio, os, sys, websockets
async def one(url):
    data = os.urandom(1 << 20)
    async with websockets.connect(url, max_size=None, max_queue=None) as ws:
        await ws.send(data)
        got = b""
        while len(got) < len(data):
            got += await asyncio.wait_for(ws.recv(), 20)
        return got == data
async def main(url, n):
    for i in range(n):
        try:
            ok = await one(url)
        except Exception as e:
            ok = repr(e)[:200]
        print(ok, flush=True)
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_parallel_mib_round_trips_lose_nothing(wsbridge):
    """Both threads write the child's stdin (the network one after each
    loop round, main when the pipe was full). With three client processes
    pushing 1 MiB per session at once, every byte must come back and no
    child may see EOF early (a stale errno once passed for a broken pipe
    and closed stdin with input still queued)."""
    srv = wsbridge("--binary", "/bin/cat")
    procs = [subprocess.Popen(["/usr/bin/python3", "-c", MIB_CLIENT,
                               srv.url(f"/p{i}"), "10"],
                              stdout=subprocess.PIPE, text=True)
             for i in range(3)]
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        outs += out.split()
    assert outs == ["True"] * 30, outs
    accs = srv.wait_access(30)
    assert all(a["closed_by"] == "client" and a["exit"] == "0"
               for a in accs), [a for a in accs if a["exit"] != "0"]


def test_binary_child_output_is_binary(wsbridge):
    srv = wsbridge("--binary=true", "/usr/bin/printf", r"a\nb\377")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            msgs, exc = await recv_until_closed(ws)
            assert all(isinstance(m, bytes) for m in msgs)
            assert b"".join(msgs) == b"a\nb\xff"
            assert close_of(exc)[0] == 1000
    run(go())
