"""A server with a thousand idle sessions open still serves the busy one.

Timing is bench/compare's business (--idle-sessions); this checks that the
loop that must not slow down with open sessions still does everything
right with many of them: each idle session keeps its child, the busy one
echoes, pings are answered, a session that closes among the idle ones is
ended at once, and every one of them has its ACCESS line at the end.
"""

import resource

import pytest

from conftest import RawWS, close_payload, encode_frame as frame, wait_until

IDLE = 1000


@pytest.fixture
def fd_room():
    """Enough fds in this process for the idle sockets, restored after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = IDLE + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def read_frame(ws):
    """(opcode, payload) of the next frame from the server."""
    fr = ws.recv_frame()
    assert fr is not None, "EOF before a frame"
    return fr[1], fr[2]


@pytest.mark.timeout(300)
def test_busy_session_served_beside_a_thousand_idle(wsbridge, fd_room):
    hard = fd_room
    srv = wsbridge("--pingms=60000", "/bin/cat",
                   nofile=hard if hard != resource.RLIM_INFINITY else 65536)
    idle = []
    try:
        for i in range(IDLE):
            ws = RawWS(srv.port, timeout=30)
            status, _ = ws.handshake(f"/idle{i}")
            assert status == 101, (i, status)
            idle.append(ws)
        # Every idle session has its child by now (the log says so).
        assert wait_until(lambda: srv.log_text().count(" started") >= IDLE,
                          60), srv.log_text().count(" started")

        busy = RawWS(srv.port, timeout=30)
        assert busy.handshake("/busy")[0] == 101
        for k in range(200):
            msg = f"busy-{k}".encode()
            busy.send(frame(1, msg))
            assert read_frame(busy) == (1, msg)
        busy.send(frame(9, b"are you there"))
        assert read_frame(busy) == (10, b"are you there")

        # One of the idle ones leaves: it is ended now, not at the stop.
        idle[IDLE // 2].send(frame(8, close_payload(1000)))
        assert read_frame(idle[IDLE // 2])[0] == 8
        assert wait_until(lambda: any(
            a["path"] == f"/idle{IDLE // 2}" for a in srv.access_lines()), 30)

        busy.send(frame(8, close_payload(1000)))
        assert read_frame(busy)[0] == 8
    finally:
        for ws in idle:
            try:
                ws.send(frame(8, close_payload(1001)))
            except OSError:
                pass
        srv.wait_access(IDLE + 1, timeout=120)
        for ws in idle:
            ws.sock.close()

    lines = srv.access_lines()
    assert len(lines) == IDLE + 1
    assert all(a["closed_by"] == "client" for a in lines), \
        [a for a in lines if a["closed_by"] != "client"][:3]
    busy_line = [a for a in lines if a["path"] == "/busy"]
    assert busy_line and busy_line[0]["msgs_in"] == "200" and \
        busy_line[0]["msgs_out"] == "200"
