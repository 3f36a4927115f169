"""Lifecycle chaos: seeded random sessions, then a SIGTERM with some open.

One server (--closems=300, --maxforks=5) runs one child script whose
behaviour the query string picks (mode=echo|exit|kill|stubborn|flood|
grandchild).  Phase 1 runs ~34 random sessions, 6 at a time, mixing client
close frames, TCP drops, resets (SO_LINGER 0), clients that stall while
the child floods, children that exit with a random status or die by a
signal, children that ignore SIGHUP and SIGTERM, children that leave a
grandchild in their process group; some upgrades get 429 from --maxforks
(counted as refused, not as sessions).  Phase 2 opens 6 more sessions
(one more than --maxforks allows), keeps them open, and SIGTERMs the
server.

After the server exited: it exited 0 within a bound; every upgrade that got
101 has exactly one ACCESS session line (matched by client port), each with
an exit or signal field and, where the outcome is certain, the expected
fields; every 429 has an ACCESS refused line; no process the children
recorded (children and grandchildren) is left; no zombie was left at the
quiet point between the phases.

The seed is fixed; WSB_CHAOS_SEED overrides it.
"""

import collections
import os
import random
import re
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor


from conftest import (children_of, parse_access, spawner_of, wait_until,
                      zombies_of)

SEED = int(os.environ.get("WSB_CHAOS_SEED", "424242"))
PHASE1 = 34             # random sessions
PHASE2 = 6              # sessions held open across the SIGTERM
WORKERS = 6
MAXFORKS = 5
CLOSEMS = 300
PHASE1_WALL = 30.0      # seconds; sessions not started by then are skipped
STOP_BOUND = 10.0       # the man page promises about 2 x closems + 2 s

SIGNALS = {"HUP": 1, "KILL": 9, "USR1": 10, "USR2": 12, "PIPE": 13,
           "ALRM": 14, "TERM": 15}

ACCESS_SESSION_RE = re.compile(r" ACCESS session=\d+ remote=127\.0\.0\.1:(\d+) ")
ACCESS_REFUSED_RE = re.compile(r" ACCESS refused remote=127\.0\.0\.1:(\d+) "
                               r".* status=(\d+)")
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|"
                          r"UndefinedBehaviorSanitizer")

SCRIPT = r"""#!/bin/bash
# Chaos child: what it does comes from the query string.  Every process it
# makes is recorded in $MARKER_DIR/pids ("id role pid") before the
# readiness marker $MARKER_DIR/ready.<id> appears (after any traps are set).
declare -A P
IFS='&' read -ra kv <<< "$QUERY_STRING"
for p in "${kv[@]}"; do P[${p%%=*}]=${p#*=}; done
id=${P[id]}
md=$MARKER_DIR
ready() {
	echo "$id child $$" >> "$md/pids"
	: > "$md/ready.$id"
}
case "${P[mode]}" in
echo)
	ready
	exec cat ;;
exit)
	ready
	echo ready
	read -r line
	exit "${P[status]}" ;;
kill)
	ready
	echo ready
	read -r line
	kill -"${P[sig]}" $$
	sleep 5
	exit 99 ;;
stubborn)
	trap '' HUP TERM
	ready
	echo ready
	exec sleep 1000 ;;
flood)
	ready
	exec yes "flood flood flood flood flood flood flood flood flood" ;;
grandchild)
	case "${P[gc]}" in
	keep)		sleep 1000 & ;;
	stubborn)	(trap '' HUP TERM; exec sleep 1000) < /dev/null > /dev/null 2>&1 & ;;
	*)		sleep 1000 < /dev/null > /dev/null 2>&1 & ;;
	esac
	echo "$id grandchild $!" >> "$md/pids"
	ready
	echo ready
	if [ "${P[then]}" = exit ]; then
		read -r line
		exit 0
	fi
	exec cat ;;
*)
	echo "unknown mode" >&2
	exit 64 ;;
esac
"""


# --------------------------------------------------------------------------
# frames


def masked(opcode, payload, rng_bytes=b"\x5a\xa5\x0f\xf0"):
    n = len(payload)
    b0 = 0x80 | opcode
    if n < 126:
        hdr = bytes([b0, 0x80 | n])
    elif n < 65536:
        hdr = bytes([b0, 0x80 | 126]) + struct.pack("!H", n)
    else:
        hdr = bytes([b0, 0x80 | 127]) + struct.pack("!Q", n)
    key = rng_bytes
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def close_frame(code=1000, reason=b""):
    return masked(8, struct.pack("!H", code) + reason)


class Conn:
    """A raw client connection with a frame reader."""

    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.buf = b""

    def handshake(self, path):
        self.sock.sendall((
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise AssertionError(f"EOF in the response head: {self.buf!r}")
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.1 (\d{3})", head)
        assert m, head
        return int(m.group(1))

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(262144)
            except ConnectionResetError:
                d = b""
            if not d:
                return False
            self.buf += d
        return True

    def frame(self, deadline):
        """(opcode, payload) or None at EOF; socket.timeout at deadline."""
        if not self._fill(2, deadline):
            return None
        b1 = self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not self._fill(4, deadline):
                return None
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self._fill(10, deadline):
                return None
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not self._fill(off + n, deadline):
            return None
        op, payload = self.buf[0] & 0xF, self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return op, payload

    def until_close(self, timeout):
        """Reads until a close frame (answered) or EOF: the close code,
        'nocode', 'eof' or 'timeout'.  Then waits for EOF briefly."""
        deadline = time.monotonic() + timeout
        try:
            for _ in range(1000000):
                fr = self.frame(deadline)
                if fr is None:
                    return "eof"
                op, payload = fr
                if op == 8:
                    code = struct.unpack("!H", payload[:2])[0] \
                        if len(payload) >= 2 else "nocode"
                    try:
                        self.sock.sendall(close_frame(code)
                                          if code != "nocode" else masked(8, b""))
                    except OSError:
                        pass
                    self.wait_eof(5)
                    return code
        except socket.timeout:
            return "timeout"
        return "too many frames"

    def wait_eof(self, timeout):
        deadline = time.monotonic() + timeout
        try:
            while self._fill(len(self.buf) + 1, deadline):
                self.buf = b""
        except socket.timeout:
            return False
        return True

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def reset(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# specs


def gen_spec(rng, sid):
    mode = rng.choice(["echo", "echo", "exit", "exit", "kill", "kill",
                       "stubborn", "flood", "flood", "grandchild",
                       "grandchild"])
    q = {"mode": mode, "id": str(sid)}
    spec = {"id": sid, "mode": mode, "q": q}
    if mode == "echo":
        spec["action"] = rng.choice(["close", "drop", "reset"])
    elif mode == "exit":
        q["status"] = str(rng.choice([0, 0, 1, 3, 42, 127, 255,
                                      rng.randrange(256)]))
        spec["action"] = rng.choice(["wait", "wait", "wait", "close", "drop",
                                     "reset"])
    elif mode == "kill":
        q["sig"] = rng.choice(sorted(SIGNALS))
        spec["action"] = rng.choice(["wait", "wait", "wait", "close", "drop",
                                     "reset"])
    elif mode == "stubborn":
        spec["action"] = rng.choice(["close", "drop", "reset"])
    elif mode == "flood":
        spec["action"] = rng.choice(["stall-drop", "stall-reset",
                                     "stall-close", "read-close"])
        spec["stall"] = rng.choice([0.3, 0.6, 1.0, 1.5])
    else:
        q["gc"] = rng.choice(["keep", "detached", "stubborn"])
        q["then"] = rng.choice(["exit", "cat"])
        spec["action"] = "wait" if q["then"] == "exit" and \
            rng.random() < 0.6 else rng.choice(["close", "drop", "reset"])
    spec["path"] = "/chaos?" + "&".join(f"{k}={v}" for k, v in q.items())
    return spec


def hold_specs(rng, first_id):
    """Phase 2: sessions kept open across the server's SIGTERM."""
    kinds = [("echo", {}), ("stubborn", {}), ("flood", {}),
             ("grandchild", {"gc": "stubborn", "then": "cat"}),
             ("echo", {}), ("flood", {})]
    rng.shuffle(kinds)
    out = []
    for i, (mode, extra) in enumerate(kinds[:PHASE2]):
        sid = first_id + i
        q = {"mode": mode, "id": str(sid), **extra}
        # A flood held without reading is the stalled client; the others
        # read and must see the server's 1001.
        out.append({"id": sid, "mode": mode, "q": q, "hold": True,
                    "action": "stall-hold" if mode == "flood" else "read-hold",
                    "path": "/hold?" + "&".join(f"{k}={v}"
                                                for k, v in q.items())})
    return out


# --------------------------------------------------------------------------
# one session


class Chaos:
    def __init__(self, srv, markers):
        self.srv = srv
        self.markers = markers
        self.lock = threading.Lock()
        self.results = []       # dicts, one per attempted session
        self.stopped = threading.Event()

    def ready(self, sid, timeout=10):
        return wait_until(lambda: self.markers.file(f"ready.{sid}").exists(),
                          timeout)

    def session(self, spec, on_ready=None):
        res = {"spec": spec, "status": None, "port": None, "close": None,
               "problem": None}
        try:
            self._session(spec, res, on_ready)
        except Exception as e:      # noqa: BLE001 - reported below
            res["problem"] = res["problem"] or f"client error {e!r}"
        with self.lock:
            self.results.append(res)
        return res

    def _session(self, spec, res, on_ready):
        rcvbuf = 4096 if spec["action"].startswith("stall") else None
        c = Conn(self.srv.port, rcvbuf=rcvbuf)
        res["port"] = c.port
        try:
            res["status"] = st = c.handshake(spec["path"])
            if st == 429:
                return
            if st != 101:
                res["problem"] = f"handshake answered {st}"
                return
            if not self.ready(spec["id"]):
                res["problem"] = "child never became ready"
                return
            if on_ready:
                on_ready()
            self._act(spec, res, c)
        finally:
            c.close()

    def _act(self, spec, res, c):
        act, mode = spec["action"], spec["mode"]
        if act == "wait":
            c.send(masked(1, b"go"))
            res["close"] = c.until_close(15)
        elif act == "close":
            if mode == "echo":
                c.send(masked(1, b"hello"))
                fr = c.frame(time.monotonic() + 10)
                if fr != (1, b"hello"):
                    res["problem"] = f"echo answered {fr!r}"
            c.send(close_frame(1000, b"bye"))
            res["close"] = c.until_close(15)
        elif act == "drop":
            c.close()
        elif act == "reset":
            c.reset()
        elif act.startswith("stall-") and act != "stall-hold":
            time.sleep(spec["stall"])       # not reading: the pipe fills
            if act == "stall-drop":
                c.close()
            elif act == "stall-reset":
                c.reset()
            else:
                c.send(close_frame(1000))
                res["close"] = c.until_close(20)
        elif act == "read-close":
            deadline = time.monotonic() + 10
            for _ in range(20):
                c.frame(deadline)
            c.send(close_frame(1000))
            res["close"] = c.until_close(20)
        elif act == "read-hold":
            # Read (and drop) until the server's close after its SIGTERM.
            res["close"] = c.until_close(40)
        elif act == "stall-hold":
            # Never read; let go once the server has exited.
            wait_until(lambda: not self.srv.alive(), 40, interval=0.05)
        else:
            raise AssertionError(f"unknown action {act}")


# --------------------------------------------------------------------------
# /proc


OWNERS = set()      # the server's pid and every recorded pid


def ours_alive(pid, marker_dir):
    """Whether pid still runs and is one of our children's processes:
    True, "zombie" (unreaped by the server or by one of our children; one
    whose parent is init or another reaper is not the server's doing), or
    False."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state, ppid = fields[0], int(fields[1])
    if state == "Z":
        return "zombie" if ppid in OWNERS else False
    return f"MARKER_DIR={marker_dir}".encode() in env


def recorded_pids(markers):
    out = []
    for ln in markers.lines("pids"):
        parts = ln.split()
        if len(parts) == 3 and parts[2].isdigit():
            out.append((parts[0], parts[1], int(parts[2])))
            OWNERS.add(int(parts[2]))
    return out


def kill_leftovers(pids, marker_dir):
    """Test hygiene only, by pid: SIGKILL what is still ours."""
    for _, _, pid in pids:
        if ours_alive(pid, marker_dir) is True:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --------------------------------------------------------------------------
# the test


def expected_close(spec):
    """What a client that waits for the end must see, if it is certain."""
    q = spec["q"]
    if spec["action"] == "wait" and spec["mode"] == "exit":
        n = int(q["status"])
        return 1000 if n == 0 else 4000 + n
    if spec["action"] == "wait" and spec["mode"] == "kill":
        return 4128 + SIGNALS[q["sig"]]
    if spec["action"] == "wait" and spec["mode"] == "grandchild":
        return 1000
    if spec["action"] == "close":
        return 1000
    if spec["action"] == "read-hold":
        return 1001
    return None


def access_problems(spec, acc):
    """Fields the ACCESS line of a session must have, where certain."""
    q, act, mode = spec["q"], spec["action"], spec["mode"]
    probs = []

    def want(field, value):
        if acc.get(field) != value:
            probs.append(f"{field}={acc.get(field)!r}, expected {value!r}")
    if "exit" not in acc and "signal" not in acc:
        probs.append("neither exit= nor signal=")
    if act == "wait" and mode == "exit":
        want("closed_by", "child")
        want("exit", q["status"])
    elif act == "wait" and mode == "kill":
        want("closed_by", "child")
        want("signal", "SIG" + q["sig"])
    elif mode == "stubborn" and not spec.get("hold"):
        want("signal", "SIGKILL")
    elif act == "close" and mode == "echo":
        want("closed_by", "client")
        want("code", "1000")
    elif act in ("drop", "reset") and mode == "echo":
        want("closed_by", "network")
        want("code", "1006")
    elif act == "read-hold":
        want("closed_by", "server")
        want("code", "1001")
    if mode == "stubborn" and spec.get("hold"):
        want("signal", "SIGKILL")
    return probs


def test_lifecycle_chaos(wsbridge, markers, tmp_path):
    script = tmp_path / "chaos.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    srv = wsbridge(f"--closems={CLOSEMS}", f"--maxforks={MAXFORKS}",
                   str(script))
    rng = random.Random(SEED)
    OWNERS.clear()
    OWNERS.add(srv.pid)
    spawner = spawner_of(srv.pid)
    if spawner is not None:
        OWNERS.add(spawner)
    chaos = Chaos(srv, markers)
    print(f"\nchaos: seed={SEED} (WSB_CHAOS_SEED)")
    try:
        _run_chaos(srv, markers, rng, chaos)
    finally:
        if srv.alive():
            srv.stop()
        kill_leftovers(recorded_pids(markers), markers.path)


def _run_chaos(srv, markers, rng, chaos):
    t0 = time.monotonic()
    specs = [gen_spec(rng, i) for i in range(PHASE1)]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futs = []
        for spec in specs:
            futs.append(pool.submit(
                lambda s=spec: None if time.monotonic() - t0 > PHASE1_WALL
                else chaos.session(s)))
            time.sleep(rng.choice([0, 0.01, 0.05, 0.1]))
        for f in futs:
            f.result(timeout=120)
    t1 = time.monotonic()
    assert srv.alive(), "server died in phase 1:\n" + srv.log_text()[-3000:]

    # The quiet point: every phase-1 child and grandchild is gone, nothing
    # is left unreaped.
    def quiet():
        return (not children_of(srv.pid) and not any(
            ours_alive(pid, markers.path) for _, _, pid in
            recorded_pids(markers)))
    wait_until(quiet, 10, interval=0.05)
    left = [(i, role, pid, ours_alive(pid, markers.path))
            for i, role, pid in recorded_pids(markers)
            if ours_alive(pid, markers.path)]
    zombies = zombies_of(srv.pid)
    kids = children_of(srv.pid)
    phase1_problems = [(r["spec"]["path"], r["problem"])
                       for r in chaos.results if r["problem"]]

    # Phase 2: sessions held open across the SIGTERM.
    holds = hold_specs(rng, PHASE1)
    ready_count = threading.Semaphore(0)
    with ThreadPoolExecutor(max_workers=len(holds)) as pool:
        futs = []
        for spec in holds:
            futs.append(pool.submit(chaos.session, spec, ready_count.release))
            time.sleep(0.05)
        # Wait until each hold session is ready or refused (bounded).
        deadline = time.monotonic() + 15
        for spec in holds:
            wait_until(lambda s=spec: markers.file(f"ready.{s['id']}").exists()
                       or any(r["spec"] is s for r in chaos.results),
                       max(0.1, deadline - time.monotonic()))
        time.sleep(0.2)
        open_now = len(children_of(srv.pid))
        assert srv.alive(), "server died before the stop"
        tstop = time.monotonic()
        srv.signal(signal.SIGTERM)
        rc = srv.wait_exit(STOP_BOUND + 20)
        stop_took = time.monotonic() - tstop
        for f in futs:
            f.result(timeout=60)
    log = srv.log_text()

    results = chaos.results
    started = [r for r in results if r["status"] == 101]
    refused = [r for r in results if r["status"] == 429]
    modes = collections.Counter((r["spec"]["mode"], r["spec"]["action"])
                                for r in started)
    print(f"chaos: seed={SEED} sessions tried={len(results)} "
          f"started={len(started)} refused(429)={len(refused)} "
          f"phase1={t1 - t0:.1f}s open at SIGTERM={open_now} "
          f"stop took {stop_took:.2f}s rc={rc}\n  mix={dict(modes)}")

    problems = []
    if phase1_problems:
        problems.append(f"phase-1 session problems: {phase1_problems}")
    if left or zombies or kids:
        problems.append(f"at the quiet point after phase 1 (10 s): processes "
                        f"left {left}, server's children {kids}, "
                        f"zombies {zombies}")
    if rc is None:
        problems.append(f"server still running {STOP_BOUND + 20:.0f}s after "
                        "SIGTERM")
    elif rc != 0:
        problems.append(f"server exited with {rc} after SIGTERM")
    elif stop_took > STOP_BOUND:
        problems.append(f"server took {stop_took:.1f}s to stop (bound "
                        f"{STOP_BOUND}s; about 2 x closems + 2 s promised)")
    san = [ln for ln in log.splitlines() if SANITIZER_RE.search(ln)]
    if san:
        problems.append("sanitizer report:\n" + "\n".join(san[:30]))
    for r in results:
        if r["problem"] and r["spec"].get("hold"):
            problems.append(f"{r['spec']['path']}: {r['problem']}")

    # ACCESS lines: exactly one per 101, by client port.
    lines = {}
    got = collections.Counter()
    for ln in log.splitlines():
        m = ACCESS_SESSION_RE.search(ln)
        if m:
            got[int(m.group(1))] += 1
            lines[int(m.group(1))] = parse_access(ln)
    want = collections.Counter(r["port"] for r in started)
    if got != want:
        by_port = {r["port"]: r["spec"]["path"] for r in results}
        problems.append(
            f"{sum(want.values())} sessions got 101 but "
            f"{sum(got.values())} ACCESS session lines: missing "
            f"{[(p, by_port.get(p)) for p in (want - got)]}, extra/doubled "
            f"{[(p, by_port.get(p)) for p in (got - want)]}")
    refused_lines = collections.Counter(
        int(m.group(1)) for m in ACCESS_REFUSED_RE.finditer(log)
        if m.group(2) == "429")
    if refused_lines != collections.Counter(r["port"] for r in refused):
        problems.append(f"{len(refused)} answers 429 but "
                        f"{sum(refused_lines.values())} ACCESS refused lines")

    # Per session: what the client saw and what the line says.
    for r in started:
        spec = r["spec"]
        exp = expected_close(spec)
        if exp is not None and r["close"] != exp:
            problems.append(f"{spec['path']} ({spec['action']}): client saw "
                            f"close {r['close']!r}, expected {exp}")
        acc = lines.get(r["port"])
        if acc is not None:
            for p in access_problems(spec, acc):
                problems.append(f"{spec['path']} ({spec['action']}): {p}: "
                                f"{acc['_line']}")

    # After the exit: nothing any child made is left.
    wait_until(lambda: not any(ours_alive(pid, markers.path) is True
                               for _, _, pid in recorded_pids(markers)), 3)
    left = [(i, role, pid, ours_alive(pid, markers.path))
            for i, role, pid in recorded_pids(markers)
            if ours_alive(pid, markers.path)]
    if left:
        problems.append(f"processes of the children left after the server "
                        f"exited: {left}")
    assert not problems, (f"seed {SEED}:\n  " + "\n  ".join(problems)
                          + "\nlog tail:\n" + log[-4000:])
