"""The end of sessions that nothing else ends: a stop whose clients never
answer our close frame, and a command whose stdout outlives it."""

import os
import signal
import time

import websockets

from conftest import (IO_TIMEOUT, child, close_of, process_gone, recv,
                      recv_until_closed, run, wait_until)


def assert_one_line_each(accs, n, log):
    """n ACCESS lines, one per session, each with the child's status."""
    assert len(accs) == n, f"{len(accs)} ACCESS lines for {n} sessions:\n{log}"
    ids = sorted(int(a["session"]) for a in accs)
    assert ids == list(range(1, n + 1)), ids
    for a in accs:
        assert a["pid"] != "-1", a["_line"]
        assert "exit" in a or "signal" in a, a["_line"]
        assert a.get("exit") != "-", a["_line"]


def silent_sessions(srv, raw_clients, paths):
    """Raw clients that finish the handshake, then never read or answer."""
    for path in paths:
        r = raw_clients(srv.port)
        assert r.handshake(path)[0] == 101
    # Every child runs before the stop: each session has a status to log.
    assert wait_until(lambda: srv.log_text().count(" started") == len(paths),
                      IO_TIMEOUT), srv.log_text()


def test_sigterm_logs_sessions_whose_clients_never_answer(wsbridge,
                                                          raw_clients):
    """Our 1001 gets no answer (lws would wait 5 s, longer than the stop's
    deadline); two of the silent clients let a flood fill their sockets, so
    the close frame cannot even be sent. Every session is still logged,
    with its status, before the server exits, and the exit is bounded."""
    closems = 300
    srv = wsbridge(f"--closems={closems}", child("by_query.sh"))
    silent_sessions(srv, raw_clients, ["/?echo", "/?echo", "/?echo",
                                       "/?flood", "/?flood"])

    async def go():
        async with websockets.connect(srv.url("/?echo"),
                                      close_timeout=IO_TIMEOUT) as ws:
            await ws.send("hi")
            assert await recv(ws) == "hi"
            srv.signal(signal.SIGTERM)
            msgs, exc = await recv_until_closed(ws)
            return close_of(exc)
    t0 = time.monotonic()
    assert run(go()) == (1001, "server shutting down")
    # The deadline is 2 x --closems + 2 s; the rest is generous slack.
    rc = srv.wait_exit(timeout=30)
    took = time.monotonic() - t0
    assert rc == 0, (rc, srv.log_text())
    assert took < 20, took
    log = srv.log_text()
    assert log.rstrip().splitlines()[-1].endswith("INFO stopped"), log
    accs = srv.access_lines()
    assert_one_line_each(accs, 6, log)
    assert all(a["closed_by"] == "server" and a["code"] == "1001"
               for a in accs), log


def test_second_sigterm_logs_killed_children_of_silent_clients(
        wsbridge, markers, raw_clients):
    """Children that ignore SIGTERM, clients that never answer: a second
    signal kills the children at once, and each session's line says so."""
    srv = wsbridge("--closems=20000", child("ignore_term.sh"))
    silent_sessions(srv, raw_clients, ["/a", "/b", "/c"])
    assert wait_until(lambda: markers.lines("events").count("EOF") == 0 and
                      len(markers.lines("events")) == 3, IO_TIMEOUT)
    srv.signal(signal.SIGTERM)
    assert srv.wait_log(r"INFO shutting down")
    assert wait_until(lambda: markers.lines("events").count("EOF") == 3,
                      IO_TIMEOUT), markers.read("events")
    srv.signal(signal.SIGTERM)
    rc = srv.wait_exit(timeout=20)
    assert rc == 0, (rc, srv.log_text())
    accs = srv.access_lines()
    assert_one_line_each(accs, 3, srv.log_text())
    assert all(a.get("signal") == "SIGKILL" for a in accs), srv.log_text()
    pids = [int(ln.split()[1]) for ln in markers.lines("events")
            if ln.startswith("START ")]
    assert all(process_gone(p) for p in pids)


def pipe_fds(pid):
    """The pipes among /proc/PID/fd, as readlink names them."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if link.startswith("pipe:"):
            out.add(link)
    return out


def test_setsid_grandchild_holding_stdout_does_not_hold_the_session(
        wsbridge, markers):
    """The command exits 3 but leaves a process outside its group (setsid)
    with its stdout: the session ends --closems later with status 3, and
    our end of that pipe is closed."""
    closems = 500
    srv = wsbridge(f"--closems={closems}", child("setsid.sh"))
    gpid = None
    try:
        async def go():
            async with websockets.connect(srv.url()) as ws:
                return await recv_until_closed(ws, timeout=8)
        msgs, exc = run(go())
        assert msgs == ["hello"]
        assert close_of(exc) == (4003, "exit 3")
        assert markers.wait_exists("setsid.pid")
        gpid = int(markers.read("setsid.pid"))
        # It still runs: the session did not wait for it.
        assert not process_gone(gpid)
        (acc,) = srv.wait_access(1)
        assert acc["exit"] == "3", acc["_line"]
        assert acc["code"] == "4003", acc["_line"]
        held = os.readlink(f"/proc/{gpid}/fd/1")
        assert wait_until(lambda: held not in pipe_fds(srv.pid), IO_TIMEOUT), \
            f"the server still holds {held}"
    finally:
        if gpid is None and markers.wait_exists("setsid.pid", timeout=2):
            gpid = int(markers.read("setsid.pid"))
        if gpid is not None:
            try:
                os.kill(gpid, signal.SIGKILL)
            except ProcessLookupError:
                pass
