"""contrib/Dockerfile, built and run for real with podman.

The image is built with the README's `docker build` line and run with its
`docker run` lines, podman standing in for docker (with this machine's
options, see podman_helpers.py).  Expected:
- the default command serves examples/count.sh through `-p`;
- the `-v "$PWD/examples:/srv"` form serves echo.sh, and a child's exit
  status reaches the client as its close code (4000+N);
- `podman stop` gives open clients 1001 "server shutting down" and the
  container exits 0 within the stop timeout (no SIGKILL);
- wsbridge runs as the image's non-root uid;
- a client that drops gets its child SIGHUPed inside the container.
Runs only with WSB_PACKAGING_TESTS=1 (see podman_helpers.py).
"""

import asyncio
import re
import shlex
import shutil
import time
import uuid

import pytest
import websockets

from contrib_helpers import (REPO, close_of, free_port, port_open, recv,
                             recv_until_closed, run, wait_until)
from podman_helpers import (BASE_IMAGE, ULIMITS, Container, base_image, image_size,
                            podman, require_packaging_tests, say)

IMAGE_UID = 10001
STOP_TIMEOUT = 10          # podman stop's default, and docker stop's


def readme_docker_lines():
    lines = [ln.strip() for ln in (REPO / "README.md").read_text()
             .splitlines() if ln.strip().startswith("docker ")]
    build = [ln for ln in lines if ln.startswith("docker build ")]
    runs = [ln for ln in lines if ln.startswith("docker run ")]
    assert len(build) == 1 and len(runs) >= 2, \
        f"README: expected one `docker build` and two `docker run`: {lines}"
    return build[0], runs


def podman_args(line, tag, port=None, examples=None):
    """The README's docker line as podman arguments: our tag for the image
    name `wsbridge`, a loopback host port, a copy of examples for $PWD's."""
    words = shlex.split(re.sub(r"\s+#.*$", "", line))
    assert words[0] == "docker"
    out = [words[1]]
    words = words[2:]
    for w in words:
        if w == "wsbridge":
            out.append(tag)
        elif re.fullmatch(r"8080:8080", w) and port is not None:
            out.append(f"127.0.0.1:{port}:8080")
        elif w.startswith("$PWD/examples:"):
            out.append(f"{examples}:{w.split(':', 1)[1]}")
        else:
            out.append(w)
    return out


@pytest.fixture(scope="module")
def image(request):
    require_packaging_tests()
    base_image(request)
    build, _ = readme_docker_lines()
    tag = f"localhost/wsbridge-test-{uuid.uuid4().hex[:12]}"
    args = podman_args(build, tag)
    assert args[:1] == ["build"] and "contrib/Dockerfile" in args, args
    # --layers=false: no intermediate images are left behind to clean up.
    args[1:1] = ["--network=host", "--layers=false", *ULIMITS]
    t0 = time.monotonic()
    res = podman(*args, cwd=REPO, timeout=900, check=False)
    if res.returncode != 0:
        podman("rmi", "-f", tag, check=False)
        pytest.fail(f"podman {' '.join(args)} failed:\n"
                    f"{(res.stdout + res.stderr)[-5000:]}")
    say(request, f"image built in {time.monotonic() - t0:.0f} s: "
        f"{image_size(tag)} ({BASE_IMAGE} {image_size(BASE_IMAGE)})")
    yield tag
    podman("rmi", "-f", tag, timeout=120, check=False)


@pytest.fixture
def examples(tmp_path):
    """A copy of examples/ with modes that do not depend on the checkout's
    umask: the image's uid must read and run them."""
    dst = tmp_path / "examples"
    shutil.copytree(REPO / "examples", dst)
    dst.chmod(0o755)
    for f in dst.iterdir():
        f.chmod(0o755)
    return dst


@pytest.fixture
def containers():
    started = []

    def start(args):
        c = Container(args).start()
        started.append(c)
        return c
    yield start
    for c in started:
        c.remove()


def serving(container, port, timeout=60):
    container.wait_log(r"INFO listening on \S+:8080", timeout)
    assert wait_until(lambda: port_open(port), 10), \
        f"nothing accepts on 127.0.0.1:{port}\n{container.logs()[-3000:]}"


def test_default_command_serves_count(image, containers):
    _, runs = readme_docker_lines()
    line = next(r for r in runs if "-v " not in r)
    port = free_port()
    args = podman_args(line, image, port)
    assert args[-1] == image, f"not the default command: {line}"
    c = containers([*ULIMITS, *args[1:]])
    serving(c, port)

    async def session():
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
            return [await recv(ws), await recv(ws, timeout=5)]
    assert run(session()) == ["1", "2"]


def test_volume_form_serves_echo_and_exit_status(image, containers,
                                                 examples):
    _, runs = readme_docker_lines()
    line = next(r for r in runs if "-v " in r)
    assert "/srv/echo.sh" in line, f"README's -v form: {line}"
    port = free_port()
    c = containers([*ULIMITS, *podman_args(line, image, port, examples)[1:]])
    serving(c, port)

    async def session():
        async with websockets.connect(f"ws://127.0.0.1:{port}/x?y") as ws:
            hello = await recv(ws)
            await ws.send("hi")
            echo = await recv(ws)
            await ws.send("exit 3")
            msgs, exc = await recv_until_closed(ws)
            return hello, echo, msgs, close_of(exc)
    hello, echo, msgs, close = run(session())
    assert re.fullmatch(r"hello \S+, you asked for /x\?y", hello), hello
    assert echo == "echo: hi"
    assert msgs == [] and close == (4003, "exit 3"), (msgs, close)


def test_stop_closes_1001_and_exits_0(image, containers, examples):
    port = free_port()
    # No --rm: the exit code is read after the stop.
    c = containers([*ULIMITS, "-p", f"127.0.0.1:{port}:8080",
                    "-v", f"{examples}:/srv", image, "--port=8080",
                    "/srv/echo.sh"])
    serving(c, port)

    async def clients():
        conns = [await websockets.connect(f"ws://127.0.0.1:{port}/")
                 for _ in range(2)]
        for ws in conns:
            await recv(ws)
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        stop = loop.run_in_executor(None, lambda: podman(
            "stop", "-t", str(STOP_TIMEOUT), c.id,
            timeout=STOP_TIMEOUT + 60, check=False))
        closes = [close_of((await recv_until_closed(ws, timeout=15))[1])
                  for ws in conns]
        res = await stop
        return closes, res, time.monotonic() - t0
    closes, res, took = run(clients())
    assert res.returncode == 0, res.stderr
    assert closes == [(1001, "server shutting down")] * 2, closes
    assert c.state("ExitCode") == "0", \
        f"exit code {c.state('ExitCode')}\n{c.logs()[-3000:]}"
    assert took < STOP_TIMEOUT, f"stop took {took:.1f}s: SIGKILLed?"


def test_runs_as_the_non_root_uid(image, containers):
    port = free_port()
    c = containers([*ULIMITS, "-p", f"127.0.0.1:{port}:8080", image])
    serving(c, port)
    status = c.exec("cat", "/proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(IMAGE_UID)] * 4, status
    cmdline = c.exec("cat", "/proc/1/cmdline").stdout.split("\0")
    assert cmdline[0] == "/usr/local/bin/wsbridge", cmdline


def test_dropped_client_gets_child_sighup(image, containers, examples):
    # `wait`, not a foreground sleep: sh runs a trap only once its
    # foreground command has ended, which may be after the kill schedule's
    # SIGTERM (seen here once in six runs), while `wait` returns at once.
    # The sleep is bounded; the group's SIGHUP ends it too.
    (examples / "hup.sh").write_text(
        "#!/bin/sh\n"
        "trap 'echo \"child got SIGHUP\" >&2; exit 0' HUP\n"
        "trap 'echo \"child got SIGTERM\" >&2; exit 7' TERM\n"
        "echo ready\n"
        "sleep 60 &\n"
        "wait $!\n")
    (examples / "hup.sh").chmod(0o755)
    port = free_port()
    c = containers([*ULIMITS, "-p", f"127.0.0.1:{port}:8080",
                    "-v", f"{examples}:/srv", image, "--port=8080",
                    "/srv/hup.sh"])
    serving(c, port)

    async def drop():
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/")
        assert await recv(ws) == "ready"
        ws.transport.abort()
    run(drop())
    c.wait_log(r"child got SIGHUP", 20)
    access = c.wait_log(r"ACCESS .*", 20).group(0)
    assert "closed_by=network" in access, access
