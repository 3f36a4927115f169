"""Many sessions: all served, no zombies, no leaked fds."""

import asyncio
import resource

import websockets

from conftest import (IO_TIMEOUT, children_of, close_of, fd_count, recv,
                      recv_until_closed, run, wait_until, zombies_of)


async def open_session(url):
    return await websockets.connect(url, open_timeout=30, close_timeout=10,
                                    compression=None)


def test_200_concurrent_sessions(wsbridge):
    n = 200
    srv = wsbridge("/bin/cat")

    async def go():
        # Open all sessions first, so that they are truly concurrent.
        socks = await asyncio.gather(
            *[open_session(srv.url(f"/s{i}")) for i in range(n)],
            return_exceptions=True)
        failed = [s for s in socks if isinstance(s, BaseException)]
        ok = [s for s in socks if not isinstance(s, BaseException)]
        try:
            assert not failed, f"{len(failed)} handshakes failed: {failed[:3]}"

            async def one(i, ws):
                token = f"token-{i}-{id(ws)}"
                await ws.send(token)
                return await recv(ws, 30) == token
            results = await asyncio.gather(
                *[one(i, ws) for i, ws in enumerate(ok)],
                return_exceptions=True)
            bad = [r for r in results if r is not True]
            assert not bad, f"{len(bad)} sessions failed: {bad[:3]}"
            # All 200 children were alive at the same time.
            kids = children_of(srv.pid)
            assert len(kids) >= n, len(kids)
        finally:
            await asyncio.gather(*[ws.close() for ws in ok],
                                 return_exceptions=True)
    run(go(), timeout=120)

    lines = srv.wait_access(n, timeout=30)
    assert len(lines) == n
    assert sorted(a["path"] for a in lines) == sorted(f"/s{i}" for i in range(n))
    assert all(a["closed_by"] == "client" and a["code"] == "1000"
               for a in lines)
    assert len({a["session"] for a in lines}) == n


def test_no_zombies_no_fd_leak_after_500_sessions(wsbridge):
    srv = wsbridge("/bin/cat")
    batch, batches = 50, 10

    async def sessions(start, count):
        async def one(i):
            async with websockets.connect(srv.url(f"/z{i}"), open_timeout=30,
                                          close_timeout=10,
                                          compression=None) as ws:
                await ws.send(f"z{i}")
                return await recv(ws, 30) == f"z{i}"
        res = await asyncio.gather(*[one(i) for i in range(start, start + count)],
                                   return_exceptions=True)
        bad = [r for r in res if r is not True]
        assert not bad, f"{len(bad)} sessions failed: {bad[:3]}"

    # Warm-up, then the baseline.
    run(sessions(0, 5))
    srv.wait_access(5)
    assert wait_until(lambda: not children_of(srv.pid), IO_TIMEOUT), \
        children_of(srv.pid)
    baseline = fd_count(srv.pid)

    total = 5
    for b in range(batches):
        run(sessions(total, batch), timeout=60)
        total += batch
    srv.wait_access(total, timeout=30)
    assert len(srv.access_lines()) == total

    assert wait_until(lambda: not zombies_of(srv.pid), IO_TIMEOUT), \
        f"zombies: {zombies_of(srv.pid)}"
    assert wait_until(lambda: not children_of(srv.pid), IO_TIMEOUT), \
        f"children left: {children_of(srv.pid)}"
    assert wait_until(lambda: fd_count(srv.pid) <= baseline, IO_TIMEOUT), \
        f"fds: baseline {baseline}, now {fd_count(srv.pid)}"
    # And it still works.
    run(sessions(total, 1))


def test_fd_limit_capped_for_lws_tables(wsbridge):
    """lws walks a table as big as the fd limit at every close: wsbridge
    holds its soft limit to 65536 (Docker's default is 1048576), and its
    children inherit that, with the hard limit untouched. Below the cap
    (as on most machines) nothing changes."""
    cap = 65536
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want_soft = cap if soft == resource.RLIM_INFINITY else min(soft, cap)
    srv = wsbridge("/bin/sh", "-c", "ulimit -Sn; ulimit -Hn")

    async def go():
        async with websockets.connect(srv.url("/")) as ws:
            msgs, exc = await recv_until_closed(ws)
        return msgs, close_of(exc)
    msgs, close = run(go())
    assert close[0] == 1000, close
    shown = [str(want_soft),
             "unlimited" if hard == resource.RLIM_INFINITY else str(hard)]
    assert msgs == shown, (msgs, shown)
    with open(f"/proc/{srv.pid}/limits") as f:
        line = next(x for x in f if x.startswith("Max open files"))
    assert line.split()[3] == str(want_soft), line


def test_out_of_fds_refuses_upgrade_with_503(wsbridge):
    """With the fd limit reached, a new upgrade gets 503 before the
    handshake (its pipes are made first), the sessions already open go on,
    and once they end new sessions are served again."""
    srv = wsbridge("/bin/cat", nofile=48)

    async def go():
        held, status = [], None
        try:
            for i in range(40):     # 48 fds: well under 40 sessions fit
                try:
                    ws = await websockets.connect(srv.url(f"/h{i}"),
                                                  open_timeout=10)
                except websockets.exceptions.InvalidStatusCode as exc:
                    status = exc.status_code
                    break
                held.append(ws)
                await ws.send(f"x{i}")
                assert await recv(ws) == f"x{i}"
            # Every session opened before the refusal still works.
            for i, ws in enumerate(held):
                await ws.send(f"again{i}")
                assert await recv(ws) == f"again{i}"
            return len(held), status
        finally:
            for ws in held:
                await ws.close()
    n, status = run(go())
    assert status == 503, status
    assert n >= 3, n
    log = srv.log_text()
    assert "cannot make the child's pipes" in log, log[-2000:]
    assert "status=503" in log
    assert "1011" not in log
    # The held sessions are gone: their fds are back, so this is served.
    srv.wait_access(n, timeout=IO_TIMEOUT)
    assert run(echo_once(srv, "after")) == "after"


async def echo_once(srv, text):
    async with websockets.connect(srv.url("/after")) as ws:
        await ws.send(text)
        return await recv(ws)
