"""Flow control: floods in either direction keep the server's memory bounded
and do not hold up other sessions."""

import asyncio
import os
import time

import pytest
import websockets

from conftest import child, echo_check, recv, rss_kib, run

RSS_LIMIT_KIB = 64 * 1024
FLOOD_SECONDS = 3.0


def sample_rss(pid, seconds, interval=0.25):
    """Max VmRSS (KiB) seen over `seconds`."""
    peak = 0
    for _ in range(int(seconds / interval) + 1):
        v = rss_kib(pid)
        assert v is not None, "server gone"
        peak = max(peak, v)
        time.sleep(interval)
    return peak


@pytest.mark.parametrize("mode", ["line", "binary"])
def test_child_flood_to_non_reading_client(wsbridge, raw_clients, mode):
    flags = ["--binary"] if mode == "binary" else []
    query = "zero" if mode == "binary" else "flood"
    srv = wsbridge("--closems=200", *flags, child("by_query.sh"))
    r = raw_clients(srv.port, rcvbuf=4096)
    assert r.handshake(f"/f?{query}")[0] == 101

    peak = sample_rss(srv.pid, FLOOD_SECONDS)
    assert peak < RSS_LIMIT_KIB, f"VmRSS {peak} KiB while flooding"

    # Another session meanwhile is served promptly.
    if mode == "binary":
        async def other():
            async with websockets.connect(srv.url("/o?echo")) as ws:
                await ws.send(b"\x01\x02ping")
                assert await recv(ws) == b"\x01\x02ping"
        run(other(), timeout=10)
    else:
        run(echo_check(srv, "still here", path="/o?echo"), timeout=10)

    peak = max(peak, sample_rss(srv.pid, 1.0))
    assert peak < RSS_LIMIT_KIB, f"VmRSS {peak} KiB while flooding"

    # The flood really was on its way to us.
    op, payload = r.recv_message()
    if mode == "binary":
        assert op == 0x2 and payload and payload.count(0) == len(payload)
    else:
        assert (op, payload) == (0x1, b"y")


def test_client_flood_to_non_reading_child(wsbridge):
    srv = wsbridge("--closems=200", child("by_query.sh"))
    chunk = os.urandom(32 * 1024)
    limit = 48 * 1024 * 1024

    async def go():
        ws = await websockets.connect(srv.url("/f?sink"), compression=None)
        sent = 0
        stalled = False
        try:
            for _ in range(limit // len(chunk)):
                try:
                    await asyncio.wait_for(ws.send(chunk), 2.0)
                except asyncio.TimeoutError:
                    stalled = True
                    break
                sent += len(chunk)
            peak = await asyncio.get_running_loop().run_in_executor(
                None, sample_rss, srv.pid, 2.0)
            # Another session meanwhile is served promptly.
            await asyncio.wait_for(echo_check(srv, "other", path="/o?echo"),
                                   10)
            return stalled, sent, peak
        finally:
            ws.transport.abort()
    stalled, sent, peak = run(go(), timeout=60)
    assert stalled, f"sent {sent} bytes to a child that never reads"
    assert sent < limit
    assert peak < RSS_LIMIT_KIB, f"VmRSS {peak} KiB"
