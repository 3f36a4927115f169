"""The close table, row by row: what the child, the client and the log see."""

import signal
import time

import pytest
import websockets

from conftest import (IO_TIMEOUT, child, close_of, close_payload,
                      encode_frame, process_gone, recv, recv_until_closed,
                      run, wait_until)


def no_hup(markers):
    return "HUP" not in markers.lines("events")


def started(markers):
    """Waits for record.sh's START, written once its traps are set: a test
    whose session gets the child signalled before it echoed anything waits
    for it, or the signal could kill the script instead of being seen."""
    return wait_until(lambda: any(ln.startswith("START ")
                                  for ln in markers.lines("events")),
                      IO_TIMEOUT)


# --- client close frame ----------------------------------------------------

@pytest.mark.parametrize("code,reason", [(1000, ""), (4321, "bye now")])
def test_client_close_gives_child_eof_after_queued_input(
        wsbridge, markers, code, reason):
    srv = wsbridge(child("record.sh"))

    async def go():
        ws = await websockets.connect(srv.url("/c"))
        try:
            for i in range(1, 4):
                await ws.send(f"line {i}")
            await asyncio_wait(ws.close(code, reason))
            # What the server answered with (the echoed close).
            return ws.close_code
        finally:
            await ws.close()
    echoed = run(go())
    assert echoed == code

    assert markers.wait_line("events", "EOF"), markers.read("events")
    ev = markers.lines("events")
    assert ev[0].startswith("START ")
    assert ev[1:] == ["LINE line 1", "LINE line 2", "LINE line 3", "EOF"]
    assert no_hup(markers)

    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "client"
    assert acc["code"] == str(code)
    assert acc["reason"] == reason
    assert acc["msgs_in"] == "3"
    assert acc["bytes_in"] == str(3 * len("line 1"))
    assert acc["exit"] == "0"
    assert acc["pid"] == ev[0].split()[1]


def test_client_close_right_after_handshake(wsbridge, markers, raw_clients):
    """Lines and the close frame in one write, right after the 101."""
    srv = wsbridge(child("record.sh"))
    r = raw_clients(srv.port)
    assert r.handshake("/quick")[0] == 101
    r.send(b"".join(encode_frame(0x1, f"q{i}") for i in range(1, 4))
           + encode_frame(0x8, close_payload(1000)))
    close = r.recv_close(reply=False)
    assert close is not None and close[0] == 1000, close
    assert markers.wait_line("events", "EOF"), (
        markers.read("events"), srv.log_text())
    ev = markers.lines("events")
    assert ev[1:] == ["LINE q1", "LINE q2", "LINE q3", "EOF"]
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "client" and acc["code"] == "1000"
    assert acc["exit"] == "0", acc["_line"]


def test_every_handshake_spawns_even_if_closed_at_once(wsbridge, markers):
    """Each handshake spawns the command, however soon the client leaves."""
    n = 40
    srv = wsbridge(child("record.sh"))

    async def go():
        for i in range(n):
            ws = await websockets.connect(srv.url(f"/q{i}"))
            await asyncio_wait(ws.close())
    run(go())
    lines = srv.wait_access(n)
    unspawned = [a["_line"] for a in lines if a["pid"] == "-1"]
    assert not unspawned, f"{len(unspawned)} of {n} sessions never spawned " \
        f"the command, e.g. {unspawned[0]}"
    assert wait_until(lambda: markers.lines("events").count("EOF") == n,
                      IO_TIMEOUT), markers.read("events")
    starts = [e for e in markers.lines("events") if e.startswith("START")]
    assert len(starts) == n
    assert "HUP" not in markers.lines("events")
    assert all(a["exit"] == "0" for a in lines)


async def asyncio_wait(aw, timeout=IO_TIMEOUT):
    import asyncio
    return await asyncio.wait_for(aw, timeout)


# --- TCP drop ----------------------------------------------------------------

def test_tcp_drop_gives_child_hup(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r = raw_clients(srv.port)
    assert r.handshake("/drop")[0] == 101
    r.send(encode_frame(0x1, b"before drop"))
    assert r.recv_message() == (0x1, b"before drop")
    r.close()                                   # no close frame

    assert markers.wait_line("events", "HUP"), markers.read("events")
    assert markers.wait_line("events", "EOF"), markers.read("events")
    ev = markers.lines("events")
    assert ev.index("HUP") < ev.index("EOF")
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "network"
    assert acc["code"] == "1006"
    assert acc["path"] == "/drop"
    assert acc["msgs_in"] == "1" and acc["msgs_out"] == "1"


# --- client protocol errors --------------------------------------------------

def test_invalid_utf8_text_gives_1007(wsbridge, markers, raw_clients):
    srv = wsbridge(child("record.sh"))
    r = raw_clients(srv.port)
    assert r.handshake("/utf8")[0] == 101
    r.send(encode_frame(0x1, b"fine"))
    assert r.recv_message() == (0x1, b"fine")
    r.send(encode_frame(0x1, b"bad \xff\xfe bytes"))
    close = r.recv_close()
    assert close is not None and close[0] == 1007, close

    assert markers.wait_line("events", "HUP"), markers.read("events")
    assert markers.wait_line("events", "EOF"), markers.read("events")
    assert "LINE bad" not in "".join(markers.lines("events"))
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "protocol"
    assert acc["code"] == "1007"


def test_invalid_utf8_across_fragments_gives_1007(wsbridge, markers,
                                                  raw_clients):
    srv = wsbridge(child("record.sh"))
    r = raw_clients(srv.port)
    assert r.handshake("/utf8frag")[0] == 101
    # "é" is \xc3\xa9: split across fragments it is fine ...
    r.send(encode_frame(0x1, b"ok \xc3", fin=False))
    r.send(encode_frame(0x0, b"\xa9", fin=True))
    assert r.recv_message() == (0x1, "ok é".encode())
    # ... but a lone continuation byte after a complete char is not.
    r.send(encode_frame(0x1, b"x\xc3", fin=False))
    r.send(encode_frame(0x0, b"(", fin=True))
    close = r.recv_close()
    assert close is not None and close[0] == 1007, close
    assert markers.wait_line("events", "HUP"), markers.read("events")
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "protocol" and acc["code"] == "1007"


def test_message_over_maxframesize_gives_1009(wsbridge, markers):
    srv = wsbridge("--maxframesize=1000", child("record.sh"))

    async def go():
        async with websockets.connect(srv.url("/big")) as ws:
            await ws.send("y" * 1000)           # at the limit: accepted
            assert await recv(ws) == "y" * 1000
            await ws.send("z" * 2000)
            msgs, exc = await recv_until_closed(ws)
            assert msgs == []
            return close_of(exc)
    close = run(go())
    assert close is not None and close[0] == 1009, close

    assert markers.wait_line("events", "HUP"), markers.read("events")
    assert markers.wait_line("events", "EOF"), markers.read("events")
    assert not any(ln.startswith("LINE zz") for ln in markers.lines("events"))
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "protocol"
    assert acc["code"] == "1009"
    assert acc["msgs_in"] == "1" and acc["bytes_in"] == "1000"


def test_fragmented_message_over_maxframesize_gives_1009(wsbridge, markers,
                                                         raw_clients):
    srv = wsbridge("--maxframesize=1000", child("record.sh"))
    r = raw_clients(srv.port)
    assert r.handshake("/bigfrag")[0] == 101
    assert started(markers), markers.read("events")
    for _ in range(4):
        r.send(encode_frame(0x0 if _ else 0x1, b"q" * 400, fin=False))
    r.send(encode_frame(0x0, b"q", fin=True))
    close = r.recv_close()
    assert close is not None and close[0] == 1009, close
    assert markers.wait_line("events", "HUP"), markers.read("events")
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "protocol" and acc["code"] == "1009"


# --- the child exits ---------------------------------------------------------

@pytest.mark.parametrize("status,code", [(0, 1000), (3, 4003), (255, 4255)])
def test_child_exit_status_to_close_code(wsbridge, status, code):
    srv = wsbridge(child("exit.sh"), str(status))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == [f"bye {status}"]
    close = close_of(exc)
    assert close is not None
    assert close[0] == code
    if status:
        assert close[1] == f"exit {status}"
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "child"
    assert acc["code"] == str(code)
    assert acc["exit"] == str(status)
    if status:
        assert acc["reason"] == f"exit {status}"


def test_child_killed_by_sigkill(wsbridge):
    srv = wsbridge(child("killself.sh"))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == ["before"]
    assert close_of(exc) == (4137, "killed by SIGKILL")
    (acc,) = srv.wait_access(1)
    assert acc["closed_by"] == "child"
    assert acc["code"] == "4137"
    assert acc["reason"] == "killed by SIGKILL"
    assert acc.get("signal") == "SIGKILL", acc["_line"]
    assert "exit" not in acc, acc["_line"]


def test_all_output_arrives_before_close(wsbridge):
    srv = wsbridge("/usr/bin/seq", "1", "1000")

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == [str(i) for i in range(1, 1001)]
    assert close_of(exc)[0] == 1000
    (acc,) = srv.wait_access(1)
    assert acc["msgs_out"] == "1000"
    assert acc["bytes_out"] == str(sum(len(str(i)) for i in range(1, 1001)))
    assert acc["closed_by"] == "child" and acc["exit"] == "0"


def test_all_binary_output_arrives_before_close(wsbridge):
    srv = wsbridge("--binary", "/usr/bin/head", "-c", "3000000", "/dev/zero")

    async def go():
        async with websockets.connect(srv.url(), max_size=None) as ws:
            return await recv_until_closed(ws, timeout=30)
    msgs, exc = run(go())
    data = b"".join(msgs)
    assert len(data) == 3000000 and data.count(0) == 3000000
    assert close_of(exc)[0] == 1000


# --- the child closes stdout but lives ---------------------------------------

def test_child_closes_stdout_but_lives(wsbridge, markers):
    srv = wsbridge("--closems=300", child("close_stdout.sh"))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == ["hello"]
    assert close_of(exc)[0] == 1000

    assert markers.wait_line("events", "EOF"), markers.read("events")
    assert markers.wait_line("events", "TERM"), markers.read("events")
    ev = markers.lines("events")
    assert ev.index("EOF") < ev.index("TERM")
    assert "TIMEOUT" not in ev
    (acc,) = srv.wait_access(1)
    assert acc["code"] == "1000"


# --- the child lingers after stdin EOF ---------------------------------------

def test_child_ignoring_term_gets_sigkill(wsbridge, markers):
    closems = 300
    srv = wsbridge(f"--closems={closems}", child("ignore_term.sh"))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            assert await recv(ws) == "ready"
        return time.monotonic()
    closed_at = run(go())

    assert markers.wait_line("events", "EOF"), markers.read("events")
    (acc,) = srv.wait_access(1, timeout=15)
    ended = time.monotonic()
    assert acc["closed_by"] == "client"
    assert acc.get("signal") == "SIGKILL", acc["_line"]
    # Not killed before the two grace periods.
    assert ended - closed_at >= 2 * closems / 1000 * 0.75, ended - closed_at
    assert "TIMEOUT" not in markers.lines("events")
    pid = int(markers.lines("events")[0].split()[1])
    assert wait_until(lambda: process_gone(pid), IO_TIMEOUT)


def test_closems_zero_signals_at_once(wsbridge, markers):
    srv = wsbridge("--closems=0", child("ignore_term.sh"))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            assert await recv(ws) == "ready"
    run(go())
    (acc,) = srv.wait_access(1)
    assert acc.get("signal") == "SIGKILL", acc["_line"]


@pytest.mark.parametrize("closems", [50, 200])
@pytest.mark.parametrize("how", ["client", "stop"])
def test_eof_comes_before_sigterm(wsbridge, markers, closems, how):
    """The network thread closes stdin and main starts the grace only when
    it hears so: even a short grace ends in SIGTERM after the child's EOF,
    after a client's close and at a server's stop alike. (With 0 SIGKILL
    follows at once and the child records nothing.)"""
    srv = wsbridge(f"--closems={closems}", child("linger_term.sh"))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            assert await recv(ws) == "ready"
            if how == "stop":
                srv.signal(signal.SIGTERM)
                await recv_until_closed(ws)
    run(go())
    assert markers.wait_line("events", "TERM"), markers.read("events")
    assert markers.lines("events") == ["EOF", "TERM"], markers.read("events")
    (acc,) = srv.wait_access(1)
    assert acc["exit"] == "0", acc["_line"]
    if how == "stop":
        assert srv.wait_exit(timeout=10) == 0, srv.log_text()


# --- grandchildren -----------------------------------------------------------

@pytest.mark.parametrize("mode", ["detached", "keep", "stubborn"])
def test_grandchild_gone_after_session(wsbridge, markers, mode):
    srv = wsbridge("--closems=300", child("grandchild.sh"), mode)

    async def go():
        async with websockets.connect(srv.url()) as ws:
            return await recv_until_closed(ws, timeout=15)
    msgs, exc = run(go())
    assert msgs == ["started"]
    assert close_of(exc)[0] == 1000
    assert markers.wait_exists("grandchild.pid")
    gpid = int(markers.read("grandchild.pid").strip())
    assert wait_until(lambda: process_gone(gpid), IO_TIMEOUT), \
        f"grandchild {gpid} still running"
    srv.wait_access(1)


# --- the server is told to stop ----------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_server_signal_closes_sessions_1001(wsbridge, markers, sig):
    srv = wsbridge("--closems=300", child("record.sh"))

    async def go():
        async with websockets.connect(srv.url("/s")) as ws:
            await ws.send("hi")
            assert await recv(ws) == "hi"
            srv.signal(sig)
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert msgs == []
    assert close_of(exc) == (1001, "server shutting down")

    assert markers.wait_line("events", "EOF"), markers.read("events")
    assert no_hup(markers)
    rc = srv.wait_exit(timeout=10)
    assert rc == 0, f"server exit status {rc}\n{srv.log_text()}"
    log = srv.log_text()
    assert " INFO shutting down" in log
    assert " INFO stopped" in log
    assert log.index("shutting down") < log.index("stopped")
    (acc,) = srv.access_lines()
    assert acc["closed_by"] == "server"
    assert acc["code"] == "1001"
    assert acc["exit"] == "0"


def test_server_sigterm_with_lingering_child(wsbridge, markers):
    """The server waits for the kill schedule, and still exits 0."""
    closems = 300
    srv = wsbridge(f"--closems={closems}", child("ignore_term.sh"))

    async def go():
        async with websockets.connect(srv.url()) as ws:
            assert await recv(ws) == "ready"
            srv.signal(signal.SIGTERM)
            return await recv_until_closed(ws)
    msgs, exc = run(go())
    assert close_of(exc)[0] == 1001
    rc = srv.wait_exit(timeout=2 * closems / 1000 + 8)
    assert rc == 0, srv.log_text()
    (acc,) = srv.access_lines()
    assert acc.get("signal") == "SIGKILL", acc["_line"]
    pid = int(markers.lines("events")[0].split()[1])
    assert process_gone(pid)


def test_server_sigterm_idle_exits_0(wsbridge):
    srv = wsbridge("/bin/cat")
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=10) == 0
    assert " INFO stopped" in srv.log_text()
    assert srv.access_lines() == []
