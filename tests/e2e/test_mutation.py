"""Seeded, bounded mutation tests against the real binary.

Two hostile runs, each against one server (an echo child behind
--staticdir):

* request heads: ~14 valid request heads (upgrades and plain GET/HEAD/POST)
  are mutated (bit flips, byte insertions and deletions, duplicated or
  removed headers, huge values, NUL bytes, CR/LF games, truncation, a split
  send with tiny pauses ...) and thrown at the server;
* frames: after a good handshake, mutated sequences of client frames
  (masked text/binary/ping/pong/close/continuations, 7-bit, 16-bit and
  64-bit lengths ...).

Every N inputs and at the end: the server is alive and a fresh echo session
works; at the end, after a bounded settle: the server's descriptor count is
back to its baseline, no child and no zombie is left, and every handshake
that got 101 has exactly one ACCESS session line (matched by the client's
port).  Invariants on every answer are checked as it comes.

The seed is fixed; WSB_MUTATION_SEED overrides it.  WSB_MUTATION_COUNT
overrides the number of inputs.  A failure prints the input (repr), so that
it can be replayed with replay_head() / replay_frames() below.
"""

import asyncio
import base64
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

import pytest
import websockets

from conftest import children_of, child, fd_count, run, wait_until, zombies_of

SEED = int(os.environ.get("WSB_MUTATION_SEED", "1"))
COUNT = int(os.environ.get("WSB_MUTATION_COUNT", "300"))
WALL = 30.0             # seconds of inputs per test, at most
CHECK_EVERY = 50        # health check after this many inputs
WORKERS = 10            # connections in flight at once
SETTLE = 14.0           # incomplete heads are dropped after 10 s (408)
SECRET = "S3CRET-" + "f00dfeed" * 4   # must never be served

ACCESS_SESSION_RE = re.compile(r" ACCESS session=\d+ remote=127\.0\.0\.1:(\d+) ")
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|"
                          r"UndefinedBehaviorSanitizer")


# --------------------------------------------------------------------------
# the server and its checks


def make_server(wsbridge, tmp_path, *extra):
    static = tmp_path / "static"
    (static / "sub").mkdir(parents=True)
    (static / "index.html").write_text("<html><body>index</body></html>\n")
    (static / "sub" / "page.txt").write_text("page\n")
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    return wsbridge("--closems=300", f"--staticdir={static}", *extra,
                    child("by_query.sh"))


class Health:
    """Fresh echo sessions through the python websockets client."""

    def __init__(self, srv):
        self.srv = srv
        self.ports = []         # our local port of every health session

    def check(self, token):
        async def go():
            async with websockets.connect(
                    self.srv.url("/health?echo"), open_timeout=10,
                    close_timeout=10, compression=None) as ws:
                self.ports.append(ws.local_address[1])
                await ws.send(token)
                got = await asyncio.wait_for(ws.recv(), 10)
                assert got == token, (got, token)
        run(go(), timeout=30)


def fd_table(pid):
    out = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
    except OSError:
        pass
    return out


def session_ports(srv):
    c = collections.Counter()
    for ln in srv.log_text().splitlines():
        m = ACCESS_SESSION_RE.search(ln)
        if m:
            c[int(m.group(1))] += 1
    return c


def settle_and_check(srv, health, baseline_fds, baseline_table, upgraded,
                     silent):
    """The end-of-run invariants, after a bounded settle."""
    expected = collections.Counter(upgraded) + collections.Counter(health.ports)

    def settled():
        return (srv.alive() and fd_count(srv.pid) == baseline_fds
                and not children_of(srv.pid)
                and session_ports(srv) == expected)
    wait_until(settled, SETTLE, interval=0.1)

    assert srv.alive(), "server died; log tail:\n" + srv.log_text()[-3000:]
    log = srv.log_text()
    san = [ln for ln in log.splitlines() if SANITIZER_RE.search(ln)]
    assert not san, "sanitizer report:\n" + "\n".join(san[:20])

    kids = children_of(srv.pid)
    assert not kids, f"children left after {SETTLE}s: {kids}"
    assert not zombies_of(srv.pid)

    got = session_ports(srv)
    missing = expected - got
    extra = got - expected
    # A port we never saw an answer on may have been upgraded after we gave
    # up; that is slowness, not a lost or doubled line.
    extra_unexplained = {p: n for p, n in extra.items() if p not in silent}
    doubled = {p: n for p, n in got.items() if n > expected.get(p, 0) + (
        1 if p in silent else 0)}
    assert not missing and not extra_unexplained and not doubled, (
        f"101 answers vs ACCESS session lines (by client port): "
        f"missing={dict(missing)} extra={dict(extra_unexplained)} "
        f"doubled={dict(doubled)}; {sum(expected.values())} expected, "
        f"{sum(got.values())} logged")

    now = fd_count(srv.pid)
    if now != baseline_fds:
        table = fd_table(srv.pid)
        new = {fd: t for fd, t in table.items()
               if baseline_table.get(fd) != t}
        pytest.fail(f"fd count {now} != baseline {baseline_fds} after "
                    f"{SETTLE}s; new/changed fds: {new}")


def end_of_run(srv, problems, checks):
    """The end-of-run invariants, the stop, and the bad answers seen, all
    reported together."""
    failures = []
    for step in (checks, lambda: stop_and_check(srv)):
        try:
            step()
        except AssertionError as e:
            failures.append(str(e))
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if problems:
        failures.append(f"{len(problems)} bad answer(s), the first ones:\n"
                        + "\n".join(problems[:8]))
    if failures:
        pytest.fail(f"seed {SEED}:\n" + "\n\n".join(failures),
                    pytrace=False)


def stop_and_check(srv):
    """SIGTERM: a clean exit 0 (under ASan: no leak report) within 10 s."""
    srv.signal(signal.SIGTERM)
    rc = srv.wait_exit(10)
    log = srv.log_text()
    san = [ln for ln in log.splitlines() if SANITIZER_RE.search(ln)]
    assert rc == 0 and not san, (
        f"server exit status {rc} after SIGTERM; sanitizer lines: {san[:10]}"
        f"\nlog tail:\n{log[-3000:]}")


def baseline(srv, health):
    health.check("warm-up")
    wait_until(lambda: session_ports(srv)[health.ports[-1]] == 1, 10)
    wait_until(lambda: not children_of(srv.pid), 10)
    time.sleep(0.2)
    return fd_count(srv.pid), fd_table(srv.pid)


# --------------------------------------------------------------------------
# request heads: bases


def ws_key(rng):
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(16))).decode()


def base_heads(port, rng):
    """(request line, [header lines], body) of valid requests."""
    host = f"Host: 127.0.0.1:{port}"
    key = ws_key(rng)
    ws = ["Upgrade: websocket", "Connection: Upgrade",
          f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    return [
        ("GET /?echo HTTP/1.1", [host] + ws, b""),
        ("GET /chat?a=1&b=%20x HTTP/1.1",
         [host, "upgrade: WebSocket", "connection: keep-alive, Upgrade",
          f"sec-websocket-key: {key}", "sec-websocket-version: 13",
          "Origin: http://127.0.0.1", "User-Agent: mutator/1.0"], b""),
        ("GET /p/q/r HTTP/1.1",
         [host] + ws + ["Sec-WebSocket-Protocol: chat, superchat",
                        "Sec-WebSocket-Extensions: permessage-deflate; "
                        "client_max_window_bits", "Cookie: a=b; c=d"], b""),
        ("GET /x?y=%C3%A9 HTTP/1.1",
         ws[::-1] + ["X-Forwarded-For: 10.0.0.1", "Accept: */*", host], b""),
        (f"GET http://127.0.0.1:{port}/abs?q HTTP/1.1", [host] + ws, b""),
        ("GET /index.html HTTP/1.1", [host, "Accept: text/html",
                                      "Connection: close"], b""),
        ("GET / HTTP/1.1", [host], b""),
        ("HEAD /index.html HTTP/1.1", [host], b""),
        ("GET /index.html HTTP/1.1",
         [host, "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"], b""),
        ("GET /sub/page.txt?q=1 HTTP/1.0", [host], b""),
        ("POST /index.html HTTP/1.1", [host, "Content-Length: 5"], b"hello"),
        ("GET /../secret.txt HTTP/1.1", [host], b""),
        ("GET /%2e%2e/secret.txt HTTP/1.1", [host], b""),
        ("GET /sub/..%2fsecret.txt HTTP/1.1", [host], b""),
    ]


# --------------------------------------------------------------------------
# request heads: mutators


def m_dup_header(rng, rl, hs, body):
    if hs:
        i = rng.randrange(len(hs))
        hs.insert(rng.randrange(len(hs) + 1), hs[i])
    return rl, hs, body


def m_drop_header(rng, rl, hs, body):
    if hs:
        del hs[rng.randrange(len(hs))]
    return rl, hs, body


def m_shuffle(rng, rl, hs, body):
    rng.shuffle(hs)
    return rl, hs, body


def m_huge_value(rng, rl, hs, body):
    n = rng.choice([100, 4000, 8100, 16000, 16300, 16384, 17000, 70000])
    v = rng.choice(["a", "%", " ", ",", "\t"]) * n
    if hs and rng.random() < 0.6:
        i = rng.randrange(len(hs))
        name = hs[i].split(":", 1)[0]
        hs[i] = f"{name}: {v}"
    else:
        hs.append(f"X-Huge: {v}")
    return rl, hs, body


def m_many_headers(rng, rl, hs, body):
    n = rng.choice([50, 98, 99, 100, 101, 150, 1000])
    pos = rng.randrange(len(hs) + 1)
    hs[pos:pos] = [f"X-H{i}: {i}" for i in range(n)]
    return rl, hs, body


def m_nul(rng, rl, hs, body):
    if hs and rng.random() < 0.7:
        i = rng.randrange(len(hs))
        j = rng.randrange(len(hs[i]) + 1)
        hs[i] = hs[i][:j] + "\0" + hs[i][j:]
    else:
        j = rng.randrange(len(rl) + 1)
        rl = rl[:j] + "\0" + rl[j:]
    return rl, hs, body


def m_fold(rng, rl, hs, body):
    if hs:
        i = rng.randrange(len(hs))
        hs.insert(i + 1, rng.choice([" folded", "\tfolded", " ", "\t"]))
    return rl, hs, body


def m_bad_header(rng, rl, hs, body):
    bad = rng.choice(["NoColonHere", ": empty name", "Sp ace: x",
                      "Name : x", "X-\x7f: del", "X-\xff: latin",
                      "Upgrade:websocket", "Connection:", "::::",
                      "Sec-WebSocket-Key: ", "Sec-WebSocket-Version: 13, 8",
                      "Sec-WebSocket-Key: " + "A" * 24,
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=",
                      "Host: ", "Host: a:b:c", "Content-Length: -1",
                      "Content-Length: 99999999999999999999",
                      "Transfer-Encoding: chunked",
                      "Upgrade: websocket, h2c", "Connection: close, Upgrade"])
    hs.insert(rng.randrange(len(hs) + 1), bad)
    return rl, hs, body


def m_method(rng, rl, hs, body):
    parts = rl.split(" ", 1)
    m = rng.choice(["get", "HEAD", "POST", "PUT", "OPTIONS", "CONNECT",
                    "TRACE", "", "G", "GETT", "G\x00T", "X" * 300, "GET GET"])
    return m + " " + (parts[1] if len(parts) > 1 else ""), hs, body


def m_version(rng, rl, hs, body):
    parts = rl.rsplit(" ", 1)
    v = rng.choice(["HTTP/1.0", "HTTP/2", "HTTP/2.0", "http/1.1", "HTTP/1.1x",
                    "HTTP/9.9", "HTTP/1.", "HTTP/", "", "HTTP/01.1",
                    "HTTP/1.1 extra", "HTTP/1.12345678901234567890"])
    return parts[0] + (" " + v if v else ""), hs, body


def m_target(rng, rl, hs, body):
    parts = rl.split(" ")
    if len(parts) < 3:
        return rl, hs, body
    t = rng.choice(["", "*", "/" + "a" * rng.choice([100, 4000, 9000, 17000]),
                    "/%00", "/a%2fb", "/a b", "/#frag", "/\xe9\xff", "//",
                    "/" + "../" * 50 + "etc/passwd", "/%", "/%zz", "/%2",
                    "/index.html%00.txt", "/?" + "q=" * 3000, "/sub/",
                    "/sub/page.txt/", "/./index.html", "/index.html?x#y",
                    "/\\..\\secret.txt", "/%5c..%5csecret.txt",
                    "/sub/../../secret.txt", "/%2E%2E/secret.txt",
                    "/%252e%252e/secret.txt", "/..;/secret.txt",
                    "http://evil/../secret.txt", "/\r/x", "/\t/x"])
    return " ".join([parts[0], t] + parts[2:]), hs, body


STRUCT_MUTATORS = [m_dup_header, m_drop_header, m_shuffle, m_huge_value,
                   m_many_headers, m_nul, m_fold, m_bad_header, m_method,
                   m_version, m_target]


def serialize(rng, rl, hs, body):
    eol = "\r\n"
    r = rng.random()
    if r < 0.06:
        eol = rng.choice(["\n", "\r", "\n\r", "\r\r\n"])
    text = rl + eol + "".join(h + eol for h in hs) + eol
    return text.encode("latin-1") + body


def b_bitflip(rng, data):
    if not data:
        return data
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def b_insert(rng, data):
    i = rng.randrange(len(data) + 1)
    ins = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))
    return data[:i] + ins + data[i:]


def b_delete(rng, data):
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 16):]


def b_truncate(rng, data):
    return data[:rng.randrange(len(data) + 1)]


def b_nul(rng, data):
    i = rng.randrange(len(data) + 1)
    return data[:i] + b"\0" + data[i:]


def b_crlf(rng, data):
    crlfs = [m.start() for m in re.finditer(b"\r\n", data)]
    if not crlfs:
        return data
    i = rng.choice(crlfs)
    rep = rng.choice([b"\n", b"\r", b"\n\r", b"\r\r\n", b"\r\n\r\n", b"",
                      b"\r\n ", b"\r\n\r\n\r\n"])
    return data[:i] + rep + data[i + 2:]


def b_bare_cr_lf(rng, data):
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice([b"\r", b"\n", b"\r\r", b"\n\n"]) + data[i:]


def b_trailing(rng, data):
    """Pipelined bytes after the head: a second request, frames or junk."""
    tail = rng.choice([
        data,
        b"\x81\x85\x00\x00\x00\x00hello",
        b"\x88\x82\x00\x00\x00\x00\x03\xe8",
        bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))),
        b"GET / HTTP/1.1\r\n\r\n",
    ])
    return data + tail


def b_high_bytes(rng, data):
    if not data:
        return data
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] = rng.randrange(0x80, 0x100)
    return bytes(data)


BYTE_MUTATORS = [b_bitflip, b_insert, b_delete, b_truncate, b_nul, b_crlf,
                 b_bare_cr_lf, b_trailing, b_high_bytes]


def split_plan(rng, data):
    """The send as pieces with pauses: whole, or up to 8 small pieces."""
    if len(data) < 2 or rng.random() < 0.6:
        return [(data, 0.0)]
    n = rng.randint(2, min(8, len(data)))
    cuts = sorted(rng.sample(range(1, len(data)), n - 1))
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    return [(p, rng.choice([0.0, 0.001, 0.005, 0.015])) for p in pieces]


def gen_head_inputs(rng, port, count):
    out = []
    for i in range(count):
        bases = base_heads(port, rng)
        rl, hs, body = rng.choice(bases)
        hs = list(hs)
        ns = rng.choice([0, 0, 1, 1, 1, 2, 3])
        nb = rng.choice([0, 0, 1, 1, 2])
        if i % 20 == 0:
            ns = nb = 0             # now and then an unmutated one
        muts = []
        for _ in range(ns):
            m = rng.choice(STRUCT_MUTATORS)
            muts.append(m.__name__)
            rl, hs, body = m(rng, rl, hs, body)
        data = serialize(rng, rl, hs, body)
        for _ in range(nb):
            m = rng.choice(BYTE_MUTATORS)
            muts.append(m.__name__)
            data = m(rng, data)
        out.append({
            "i": i, "data": data, "plan": split_plan(rng, data),
            "shut_wr": rng.random() < 0.2,
            "on101": rng.choice(["close", "drop", "reset"]), "muts": muts,
        })
    return out


# --------------------------------------------------------------------------
# talking to the server


def set_reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass


def client_close_frame():
    return b"\x88\x82" + b"\x11\x22\x33\x44" + bytes(
        a ^ b for a, b in zip(b"\x03\xe8", b"\x11\x22"))


def read_some(sock, first_timeout, silence, total, limit=1 << 20):
    """Reads until EOF, `silence` s without data once something came,
    `first_timeout` s without any data, or `total` s; (data, how)."""
    buf = b""
    start = time.monotonic()
    while len(buf) < limit:
        left = start + total - time.monotonic()
        if left <= 0:
            return buf, "total"
        sock.settimeout(min(left, silence if buf else first_timeout))
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except ConnectionResetError:
            return buf, "reset"
        except OSError as e:
            return buf, f"error {e}"
        if not d:
            return buf, "eof"
        buf += d
        if b"\r\n\r\n" in buf and buf.startswith(b"HTTP/1.1 101"):
            return buf, "101"
    return buf, "limit"


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3})[ \r]", resp)
    return int(m.group(1)) if m else None


def head_exchange(port, inp):
    """Sends one mutated head; returns a dict of what happened."""
    res = {"i": inp["i"], "port": None, "resp": b"", "how": None,
           "status": None}
    s = socket.socket()
    try:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        res["port"] = s.getsockname()[1]
        try:
            for piece, pause in inp["plan"]:
                s.sendall(piece)
                if pause:
                    time.sleep(pause)
            if inp["shut_wr"]:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            res["send_error"] = repr(e)
        # An incomplete head gets no answer (408 after 10 s): 1.5 s of
        # nothing at all is "no answer"; once an answer started, 1 s of
        # silence ends it.
        resp, how = read_some(s, first_timeout=1.5, silence=1.0, total=4.0)
        res["resp"], res["how"] = resp, how
        res["status"] = status_of(resp)
        if res["status"] == 101:
            act = inp["on101"]
            if act == "close":
                try:
                    s.sendall(client_close_frame())
                    read_some(s, 3.0, 3.0, 3.0)
                except OSError:
                    pass
            elif act == "reset":
                set_reset(s)
    finally:
        s.close()
    return res


def check_head_answer(inp, res):
    """What any answer to any head must look like; returns a problem or None."""
    resp = res["resp"]
    if SECRET.encode() in resp:
        return "a file outside --staticdir was served"
    if not resp:
        return None
    st = res["status"]
    if st is None:
        return f"answer is not an HTTP/1.x status line: {resp[:80]!r}"
    if st >= 500:
        return f"server error {st}: {resp[:200]!r}"
    if st == 101:
        if b"\r\nSec-WebSocket-Accept: " not in resp and \
                b"\r\nsec-websocket-accept: " not in resp.lower():
            return f"101 without Sec-WebSocket-Accept: {resp[:300]!r}"
    elif b"\r\n\r\n" in resp:
        # Every answer but the 101 is wsbridge's own: it carries Server:
        # wsbridge/... and Connection: close (man page, HTTP SIDE).
        head = resp.split(b"\r\n\r\n", 1)[0].lower()
        missing = [h for h in (b"connection: close", b"server: wsbridge/")
                   if h not in head]
        if missing:
            return (f"answer {st} lacks {missing} (not wsbridge's own "
                    f"answer; from libwebsockets?): {resp[:300]!r}")
    return None


def describe(inp):
    return (f"input #{inp['i']} (seed {SEED}): {inp['data'][:3000]!r}"
            f"{' ...' if len(inp['data']) > 3000 else ''} "
            f"(len {len(inp['data'])}, split into {len(inp['plan'])} "
            f"piece(s), shut_wr={inp['shut_wr']}, end={inp['on101']}, "
            f"mutators={inp.get('muts')})")


def run_batches(srv, health, inputs, exchange, check_answer, label,
                problems):
    """Runs inputs in batches of CHECK_EVERY, WORKERS at a time, checking
    health between batches; returns (results, tried).  Bad answers go to
    `problems`; a dead server or a failed echo session fails at once."""
    results = []
    started = time.monotonic()
    tried = 0
    lock = threading.Lock()
    for b0 in range(0, len(inputs), CHECK_EVERY):
        if time.monotonic() - started > WALL:
            break
        batch = inputs[b0:b0 + CHECK_EVERY]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futs = [(inp, pool.submit(exchange, srv.port, inp))
                    for inp in batch]
            for inp, fut in futs:
                try:
                    res = fut.result(timeout=60)
                except Exception as e:     # a bug in the test, or a hang
                    pytest.fail(f"{label}: exchange failed: {e!r}\n"
                                + describe(inp))
                with lock:
                    results.append((inp, res))
                    tried += 1
                problem = check_answer(inp, res)
                if problem:
                    # Carry on (the end-of-run invariants still count);
                    # reported at the end with the input to replay it.
                    problems.append(f"{label}: {problem}\n  {describe(inp)}")
                if not srv.alive():
                    pytest.fail(
                        f"{label}: server died (rc={srv.proc.poll()}) by "
                        f"input #{inp['i']} or one in flight with it.\n"
                        + "\n".join(describe(x) for x in batch
                                    if abs(x['i'] - inp['i']) <= WORKERS)
                        + "\nlog tail:\n" + srv.log_text()[-3000:])
        try:
            health.check(f"health after {tried}")
        except Exception as e:
            pytest.fail(f"{label}: a fresh echo session failed after "
                        f"{tried} inputs: {e!r}; the batch was:\n"
                        + "\n".join(describe(x) for x in batch)
                        + "\nlog tail:\n" + srv.log_text()[-3000:])
    return results, tried


def test_mutated_request_heads(wsbridge, tmp_path):
    srv = make_server(wsbridge, tmp_path)
    health = Health(srv)
    base_fds, base_table = baseline(srv, health)
    rng = random.Random(SEED)
    inputs = gen_head_inputs(rng, srv.port, COUNT)
    t0 = time.monotonic()
    problems = []
    results, tried = run_batches(srv, health, inputs, head_exchange,
                                 check_head_answer, "heads", problems)
    statuses = collections.Counter(r["status"] for _, r in results)
    upgraded = [r["port"] for _, r in results if r["status"] == 101]
    silent = {r["port"] for _, r in results if not r["resp"]}
    print(f"\nheads: seed={SEED} tried={tried} of {len(inputs)} in "
          f"{time.monotonic() - t0:.1f}s; statuses={dict(statuses)}")
    end_of_run(srv, problems, lambda: settle_and_check(
        srv, health, base_fds, base_table, upgraded, silent))


# --------------------------------------------------------------------------
# frames


def mask_bytes(key, payload):
    return bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def frame(rng, opcode, payload, fin=True, rsv=0, mask=True, form=None,
          length=None):
    """A frame; `form` forces the 7-, 16- or 64-bit length encoding."""
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    if form is None:
        form = 7 if n < 126 else 16 if n < 65536 else 64
    mbit = 0x80 if mask else 0
    if form == 7:
        hdr = bytes([b0, mbit | (n & 0x7F)])
    elif form == 16:
        hdr = bytes([b0, mbit | 126]) + struct.pack("!H", n & 0xFFFF)
    else:
        hdr = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return hdr + payload
    key = bytes(rng.getrandbits(8) for _ in range(4))
    return hdr + key + mask_bytes(key, payload)


def rand_len(rng):
    return rng.choice([0, 1, 5, 125, 126, 127, 200, 1000, 65535, 65536,
                       70000, rng.randint(0, 300)])


def rand_text(rng, n):
    alphabet = "abcxyz 0123456789é€\n"
    return "".join(rng.choice(alphabet) for _ in range(n)).encode()[:n]


def rand_bytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def gen_frames(rng):
    """A valid sequence of client frames: [(kind, bytes)]."""
    seq = []
    for _ in range(rng.randint(1, 6)):
        k = rng.choice(["text", "text", "binary", "frag", "ping", "pong",
                        "empty"])
        if k == "text":
            n = rand_len(rng)
            seq.append(frame(rng, 1, rand_text(rng, n)))
        elif k == "binary":
            seq.append(frame(rng, 2, rand_bytes(rng, rand_len(rng))))
        elif k == "frag":
            op = rng.choice([1, 2])
            parts = rng.randint(2, 4)
            for j in range(parts):
                n = rng.choice([0, 1, 10, 126, 300])
                data = rand_text(rng, n) if op == 1 else rand_bytes(rng, n)
                seq.append(frame(rng, op if j == 0 else 0, data,
                                 fin=(j == parts - 1)))
                if rng.random() < 0.3:   # control frames may interleave
                    seq.append(frame(rng, 9, b"mid"))
        elif k == "ping":
            seq.append(frame(rng, 9, rand_bytes(rng, rng.choice([0, 4, 125]))))
        elif k == "pong":
            seq.append(frame(rng, 10, b"unsolicited"))
        else:
            seq.append(frame(rng, 1, b""))
    return seq


def f_bitflip(rng, seq):
    i = rng.randrange(len(seq))
    seq[i] = b_bitflip(rng, seq[i])
    return seq


def f_header_bits(rng, seq):
    """Flips FIN, RSV, opcode or MASK bits in one frame's header."""
    i = rng.randrange(len(seq))
    f = bytearray(seq[i])
    if rng.random() < 0.7:
        f[0] ^= rng.choice([0x80, 0x40, 0x20, 0x10, 0x01, 0x02, 0x04, 0x08])
    else:
        f[1] ^= 0x80
    seq[i] = bytes(f)
    return seq


def f_opcode(rng, seq):
    i = rng.randrange(len(seq))
    f = bytearray(seq[i])
    f[0] = (f[0] & 0xF0) | rng.choice([0, 3, 4, 5, 6, 7, 0xB, 0xC, 0xF, 8])
    seq[i] = bytes(f)
    return seq


def f_length_lie(rng, seq):
    """A header whose length says more (or less) than follows."""
    n = rng.choice([0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 1 << 31,
                    (1 << 32) + 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1])
    form = rng.choice([7, 16, 64]) if n < 126 else \
        rng.choice([16, 64]) if n < 65536 else 64
    payload = rand_bytes(rng, rng.choice([0, 3, 50]))
    seq.insert(rng.randrange(len(seq) + 1),
               frame(rng, rng.choice([1, 2, 0, 9]), payload, form=form,
                     length=n))
    return seq


def f_nonminimal(rng, seq):
    data = rand_text(rng, rng.choice([0, 5, 125, 300]))
    seq.insert(rng.randrange(len(seq) + 1),
               frame(rng, 1, data, form=rng.choice([16, 64])))
    return seq


def f_unmasked(rng, seq):
    seq.insert(rng.randrange(len(seq) + 1), frame(rng, 1, b"plain", mask=False))
    return seq


def f_bad_utf8(rng, seq):
    bad = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                      b"ok\xc0\xafok", b"\xe2\x82"])
    if rng.random() < 0.5:
        seq.insert(rng.randrange(len(seq) + 1), frame(rng, 1, b"a" + bad))
    else:   # split a code point across fragments, or truncate it
        seq.insert(rng.randrange(len(seq) + 1),
                   frame(rng, 1, b"x\xe2\x82", fin=False)
                   + frame(rng, 0, rng.choice([b"\xac", b"", b"y"])))
    return seq


def f_control(rng, seq):
    """Odd control frames: long, fragmented, bad close bodies."""
    body = rng.choice([b"", b"\x03", b"\x03\xe8", b"\x03\xe8bye",
                       b"\x03\xed", b"\x03\xee", b"\x03\xf7", b"\x00\x00",
                       b"\x0b\xb8", b"\x13\x87", b"\x13\x88", b"\xff\xff",
                       b"\x03\xe8\xff\xfe", b"\x0f\xa3why",
                       b"\x03\xe8" + b"r" * 123, b"\x03\xe8" + b"r" * 124])
    kind = rng.choice(["close", "close", "longping", "fragping",
                       "fragclose"])
    if kind == "close":
        f = frame(rng, 8, body)
    elif kind == "longping":
        f = frame(rng, 9, b"p" * rng.choice([126, 200, 70000]))
    elif kind == "fragping":
        f = frame(rng, 9, b"p", fin=False)
    else:
        f = frame(rng, 8, b"\x03\xe8", fin=False)
    seq.insert(rng.randrange(len(seq) + 1), f)
    return seq


def f_continuation(rng, seq):
    kind = rng.choice(["orphan", "unfinished", "newmsg"])
    if kind == "orphan":
        f = frame(rng, 0, b"orphan")
    elif kind == "unfinished":
        f = frame(rng, 1, b"start", fin=False)
    else:
        f = frame(rng, 2, b"a", fin=False) + frame(rng, 1, b"b")
    seq.insert(rng.randrange(len(seq) + 1), f)
    return seq


def f_dup_swap(rng, seq):
    i, j = rng.randrange(len(seq)), rng.randrange(len(seq))
    if rng.random() < 0.5:
        seq.insert(j, seq[i])
    else:
        seq[i], seq[j] = seq[j], seq[i]
    return seq


def f_truncate(rng, seq):
    i = rng.randrange(len(seq))
    seq[i] = seq[i][:rng.randrange(len(seq[i]) + 1)]
    return seq[:i + 1]


def f_insert(rng, seq):
    i = rng.randrange(len(seq))
    seq[i] = b_insert(rng, seq[i])
    return seq


FRAME_MUTATORS = [f_bitflip, f_header_bits, f_opcode, f_length_lie,
                  f_nonminimal, f_unmasked, f_bad_utf8, f_control,
                  f_continuation, f_dup_swap, f_truncate, f_insert]


# Mutators that can leave a frame header claiming bytes that never come.
MAY_STALL = {"f_length_lie", "f_truncate", "f_bitflip", "f_header_bits",
             "f_insert"}


def gen_frame_inputs(rng, count):
    out = []
    for i in range(count):
        seq = gen_frames(rng)
        n = rng.choice([0, 1, 1, 1, 2, 3])
        if i % 20 == 0:
            n = 0
        muts = []
        for _ in range(n):
            m = rng.choice(FRAME_MUTATORS)
            muts.append(m.__name__)
            seq = m(rng, seq) or seq
        end = rng.choice(["close", "close", "none", "drop", "reset"])
        if end == "close":
            seq.append(frame(rng, 8, b"\x03\xe8done"))
        data = b"".join(seq)
        out.append({"i": i, "data": data, "plan": split_plan(rng, data),
                    "shut_wr": False, "on101": end, "key": ws_key(rng),
                    "muts": muts})
    return out


class FrameReader:
    def __init__(self, sock, deadline):
        self.sock = sock
        self.buf = b""
        self.deadline = deadline

    def fill(self, n):
        while len(self.buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            d = self.sock.recv(65536)
            if not d:
                return False
            self.buf += d
        return True

    def frame(self):
        """(b0, b1, payload) or None at EOF; raises socket.timeout."""
        if not self.fill(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not self.fill(4):
                return None
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self.fill(10):
                return None
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if b1 & 0x80:
            off += 4
        if n > 64 << 20:
            raise AssertionError(f"server frame claims {n} bytes")
        if not self.fill(off + n):
            return None
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0, b1, payload


def frame_exchange(port, inp):
    res = {"i": inp["i"], "port": None, "status": None, "frames": [],
           "problem": None, "how": None}
    s = socket.socket()
    try:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        res["port"] = s.getsockname()[1]
        s.sendall((f"GET /f{inp['i']}?echo HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {inp['key']}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        s.settimeout(10)
        while b"\r\n\r\n" not in head:
            d = s.recv(4096)
            if not d:
                break
            head += d
        res["status"] = status_of(head)
        if res["status"] != 101:
            res["problem"] = f"a good handshake got {head[:200]!r}"
            return res
        rest = head.split(b"\r\n\r\n", 1)[1]
        try:
            for piece, pause in inp["plan"]:
                s.sendall(piece)
                if pause:
                    time.sleep(pause)
        except OSError as e:
            res["send_error"] = repr(e)
        end = inp["on101"]
        wait = 3.0 if end == "close" else 0.5
        rd = FrameReader(s, time.monotonic() + wait)
        rd.buf = rest
        try:
            for _ in range(1000000):
                fr = rd.frame()
                if fr is None:
                    res["how"] = "eof"
                    break
                b0, b1, payload = fr
                res["frames"].append((b0 & 0xF, len(payload)))
                p = server_frame_problem(b0, b1, payload)
                if p:
                    res["problem"] = p
                    break
                if b0 & 0xF == 8:
                    res["how"] = "close"
                    res["close"] = payload[:2]
                    try:    # answer it, then expect EOF
                        s.sendall(frame(random.Random(0), 8, payload[:2]))
                    except OSError:
                        pass
                    rd.deadline = time.monotonic() + 6.0
                    try:
                        while rd.fill(len(rd.buf) + 1):
                            pass
                        res["how"] = "close+eof"
                    except socket.timeout:
                        res["how"] = "close, no eof"
                    break
        except socket.timeout:
            res["how"] = "timeout"
        except (ConnectionResetError, BrokenPipeError):
            res["how"] = "reset"
        if res["how"] in ("timeout", "reset") and end == "reset":
            set_reset(s)
    except OSError as e:
        res["how"] = f"error {e!r}"
    finally:
        s.close()
    return res


def server_frame_problem(b0, b1, payload):
    op = b0 & 0xF
    if b1 & 0x80:
        return "server frame is masked"
    if b0 & 0x70:
        return f"server frame has RSV bits {b0 & 0x70:#x} (no extension)"
    if op not in (0, 1, 2, 8, 9, 10):
        return f"server frame with opcode {op}"
    if op >= 8 and (len(payload) > 125 or not b0 & 0x80):
        return f"bad server control frame op={op} len={len(payload)}"
    if op == 8 and payload:
        if len(payload) == 1:
            return "server close frame of one byte"
        code = struct.unpack("!H", payload[:2])[0]
        if code < 1000 or code in (1004, 1005, 1006, 1015) or \
                1016 <= code < 3000 or code > 4999:
            return f"server sent close code {code} on the wire"
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            return f"server close reason not UTF-8: {payload!r}"
    return None


def check_frame_answer(inp, res):
    p = res.get("problem")
    if p:
        return p + f" (frames seen: {res['frames'][:20]}, how={res['how']})"
    if inp["on101"] == "close" and res["how"] not in ("close+eof", "eof",
                                                      "reset"):
        # Our sequence ended with a close frame (maybe behind garbage that
        # the server refuses): either way the session must end.
        if res["how"] == "close, no eof":
            return "server sent close but kept the TCP connection open > 6s"
        if res["how"] == "timeout" and not res.get("send_error"):
            # A header that claims more payload than follows legitimately
            # leaves the server waiting; anything else must have ended.
            if not set(inp["muts"]) & MAY_STALL:
                return "no close nor EOF 3s after our close frame"
    return None


def test_mutated_frames(wsbridge, tmp_path):
    srv = make_server(wsbridge, tmp_path, "--maxframesize=100000")
    health = Health(srv)
    base_fds, base_table = baseline(srv, health)
    rng = random.Random(SEED ^ 0x5EED)
    inputs = gen_frame_inputs(rng, COUNT)
    t0 = time.monotonic()
    problems = []
    results, tried = run_batches(srv, health, inputs, frame_exchange,
                                 check_frame_answer, "frames", problems)
    upgraded = [r["port"] for _, r in results if r["status"] == 101]
    hows = collections.Counter(r["how"] for _, r in results)
    closes = collections.Counter(
        struct.unpack("!H", r["close"])[0] if len(r.get("close") or b"") == 2
        else None for _, r in results if "close" in r)
    print(f"\nframes: seed={SEED ^ 0x5EED} (WSB_MUTATION_SEED={SEED}) "
          f"tried={tried} of {len(inputs)} in {time.monotonic() - t0:.1f}s; "
          f"upgraded={len(upgraded)} endings={dict(hows)} "
          f"close codes={dict(closes)}")
    def checks():
        settle_and_check(srv, health, base_fds, base_table, upgraded, set())
        # Every session's line is complete.
        for a in srv.access_lines():
            if "session" in a and a.get("closed_by") is not None:
                assert a["closed_by"] in ("client", "network", "protocol",
                                          "child", "server"), a["_line"]
                assert "exit" in a or "signal" in a, a["_line"]
    end_of_run(srv, problems, checks)


# --------------------------------------------------------------------------
# replay helpers (for a printed input): python3 -c 'import test_mutation as t;
# print(t.replay_head(PORT, b"..."))'


def replay_head(port, data):
    return head_exchange(port, {"i": -1, "data": data, "plan": [(data, 0)],
                                "shut_wr": False, "on101": "close"})


def replay_frames(port, data, end="none"):
    return frame_exchange(port, {"i": -1, "data": data, "plan": [(data, 0)],
                                 "on101": end, "key": ws_key(random.Random(0))})
