"""The spawner: a small process that spawns and reaps the children.

Its fd table stays small however many sessions are open (that is its
point: bench/compare measures the cost); what is checked here is that
nothing about a session changes because of it, and that the server does
without it when it is gone: sessions keep their exit statuses, new ones
are still served, and a Ctrl-C to the whole process group does not take
the statuses away during the stop.
"""

import os
import signal

from conftest import (RawWS, close_payload, direct_children_of,
                      encode_frame as frame, fd_count, proc_status,
                      spawner_of, wait_until)

READ_THEN_EXIT = "read line; echo \"got $line\"; exit 7"


def ppid_of(pid):
    st = proc_status(pid)
    return int(st["PPid"]) if st else None


def session(srv, path="/"):
    ws = RawWS(srv.port)
    assert ws.handshake(path)[0] == 101
    return ws


def child_pid_of(srv, path):
    """The pid the log gives the session of this path."""
    def find():
        for line in srv.log_text().splitlines():
            if f"path={path} pid=" in line and line.endswith("started"):
                return int(line.split(" pid=")[1].split()[0])
        return None
    assert wait_until(find, 10), srv.log_text()
    return find()


def test_children_come_from_the_spawner(wsbridge):
    srv = wsbridge("/bin/cat")
    spawner = spawner_of(srv.pid)
    assert spawner is not None, direct_children_of(srv.pid)
    # The server's only child process is the spawner.
    assert [c for c, _ in direct_children_of(srv.pid)] == [spawner]
    socks = [session(srv, f"/s{i}") for i in range(40)]
    try:
        pids = [child_pid_of(srv, f"/s{i}") for i in range(40)]
        assert all(ppid_of(p) == spawner for p in pids)
        # 40 sessions: 160 fds in the server, a handful in the spawner.
        assert fd_count(spawner) <= 8, fd_count(spawner)
        for i, ws in enumerate(socks):
            ws.send(frame(1, f"m{i}"))
            assert ws.recv_message() == (1, f"m{i}".encode())
    finally:
        for ws in socks:
            ws.send(frame(8, close_payload(1000)))
            ws.recv_close(reply=False)
            ws.close()
    lines = srv.wait_access(40)
    assert all(a["exit"] == "0" and a["closed_by"] == "client"
               for a in lines)


def test_without_the_spawner_sessions_still_end_and_start(wsbridge):
    srv = wsbridge("/bin/sh", "-c", READ_THEN_EXIT)
    spawner = spawner_of(srv.pid)
    assert spawner is not None
    old = session(srv, "/before")
    old_pid = child_pid_of(srv, "/before")
    os.kill(spawner, signal.SIGKILL)
    assert srv.wait_log(r"ERROR the spawner \(pid \d+\) exited"), \
        srv.log_text()
    # Its child is ours now (we are its subreaper), and so is its status.
    assert wait_until(lambda: ppid_of(old_pid) == srv.pid, 10)
    old.send(frame(1, "one"))
    assert old.recv_message() == (1, b"got one")
    assert old.recv_close() == (4007, "exit 7")
    # A new session is spawned by the server itself.
    new = session(srv, "/after")
    assert ppid_of(child_pid_of(srv, "/after")) == srv.pid
    new.send(frame(1, "two"))
    assert new.recv_message() == (1, b"got two")
    assert new.recv_close() == (4007, "exit 7")
    lines = {a["path"]: a for a in srv.wait_access(2)}
    assert lines["/before"]["exit"] == "7" and lines["/after"]["exit"] == "7"


def test_ctrl_c_to_the_group_leaves_the_statuses(wsbridge):
    """A terminal's Ctrl-C reaches the server and its spawner alike (the
    children have groups of their own): the spawner stays until the stop
    is over, so every session still ends with its child's status."""
    srv = wsbridge("/bin/cat")
    spawner = spawner_of(srv.pid)
    socks = [session(srv, f"/c{i}") for i in range(3)]
    for i in range(3):
        child_pid_of(srv, f"/c{i}")
    os.killpg(srv.pid, signal.SIGINT)
    for ws in socks:
        assert ws.recv_close() == (1001, "server shutting down")
        ws.close()
    assert srv.wait_exit() == 0
    lines = srv.access_lines()
    assert len(lines) == 3
    assert all(a["exit"] == "0" for a in lines), lines
    assert wait_until(lambda: proc_status(spawner) is None, 10)


def test_spawner_goes_with_a_killed_server(wsbridge):
    srv = wsbridge("/bin/cat")
    spawner = spawner_of(srv.pid)
    ws = session(srv)
    child_pid_of(srv, "/")
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait_exit()
    assert wait_until(lambda: proc_status(spawner) is None or
                      proc_status(spawner).get("State", "")[:1] == "Z", 10)
    ws.close()


def test_signals_while_the_spawner_starts(tmp_path):
    """Signals while the server waits for the spawner's first word (here
    SIGCHLD, harmless, sent in a stream from before the server starts):
    the wait goes on through them, the spawner is used, and a stop is a
    clean exit 0. (The wait once gave up on EINTR, and the give-up path
    freed an event that did not exist yet: a crash.)"""
    import select
    import subprocess
    import threading
    import time
    from conftest import WSBRIDGE
    for attempt in range(5):
        proc = subprocess.Popen(
            [WSBRIDGE, "--port=0", "--address=127.0.0.1", "/bin/cat"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        done = threading.Event()

        def storm():
            for _ in range(200000):
                if done.is_set():
                    return
                try:
                    os.kill(proc.pid, signal.SIGCHLD)
                except ProcessLookupError:
                    return
                time.sleep(0.0001)
        t = threading.Thread(target=storm, daemon=True)
        t.start()
        try:
            log = b""
            deadline = time.monotonic() + 10
            while b"listening on" not in log and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stderr], [], [], 1)
                if ready:
                    chunk = os.read(proc.stderr.fileno(), 4096)
                    if not chunk:
                        break
                    log += chunk
            time.sleep(0.3)
            done.set()
            t.join(timeout=10)
            assert proc.poll() is None, (attempt, proc.returncode, log)
            os.kill(proc.pid, signal.SIGTERM)
            rc = proc.wait(timeout=10)
            log += proc.stderr.read()
            text = log.decode(errors="replace")
            assert rc == 0, (attempt, rc, text)
            assert "no spawner" not in text, text
        finally:
            done.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            proc.stderr.close()
