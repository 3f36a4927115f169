"""debian/: the README's package commands, run for real.

A copy of the source tree (the repository stays clean; the .deb lands in
the copy's parent) is built with the README's `dpkg-buildpackage` line, the
package is checked (contents, dependencies from the shlibs, units not
enabled or started, lintian), then installed into a fresh debian:12-slim
container with the README's `apt-get install ../wsbridge_*.deb`, where the
installed binary serves a session to this host's client, serves its own
client mode, and `man wsbridge` and the bash completion work.
Runs only with WSB_PACKAGING_TESTS=1 (see podman_helpers.py).
"""

import io
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import time

import pytest
import websockets

from contrib_helpers import (REPO, close_of, free_port, recv,
                             recv_until_closed, run)
from podman_helpers import (SEARCH_PATH, ULIMITS, Container, base_image,
                            podman, require_packaging_tests, say)

# Built trees and generated files, should the tree have no git to ask.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", "_build*", "autom4te.cache", "build-aux", "aclocal.m4",
    "configure", "config.h", "config.h.in", "config.log", "config.status",
    "Makefile.in", "Makefile", "*.o", "*.a", ".deps", "__pycache__",
    "wsbridge-*.tar.gz")

UNITS = ("wsbridge.service", "wsbridge.socket", "wsbridge@.service")


def readme_line(prefix):
    for line in (REPO / "README.md").read_text().splitlines():
        line = line.strip()
        if line.startswith(prefix):
            return line
    pytest.fail(f"README has no line starting with `{prefix}`")


def copy_source(dst):
    """The tracked and new (not ignored) files: what a clean clone has."""
    if (REPO / ".git").exists() and shutil.which("git"):
        res = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z",
                              "--cached", "--others", "--exclude-standard"],
                             capture_output=True, timeout=60, check=True)
        for name in res.stdout.decode().split("\0"):
            src = REPO / name
            if not name or not src.is_file():
                continue            # a deleted file git still tracks
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    else:
        shutil.copytree(REPO, dst, ignore=NOT_SOURCE)


def arch():
    return subprocess.run(["dpkg", "--print-architecture"],
                          capture_output=True, text=True, timeout=30,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def built(request, tmp_path_factory):
    """(work dir, the .deb, the .changes)"""
    require_packaging_tests("dpkg-buildpackage", "dh", "lintian")
    work = tmp_path_factory.mktemp("deb")
    src = work / "src"
    src.mkdir()
    copy_source(src)
    argv = shlex.split(readme_line("dpkg-buildpackage"))
    assert argv == ["dpkg-buildpackage", "-us", "-uc", "-b"], argv
    # Not make check's environment (MAKEFLAGS, WSB_PACKAGING_TESTS, ...):
    # the build must be what a user's shell gets.
    env = {"PATH": SEARCH_PATH, "HOME": str(work), "LC_ALL": "C.UTF-8"}
    t0 = time.monotonic()
    with open(work / "build.log", "wb") as log:
        res = subprocess.run(argv, cwd=src, env=env, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT,
                             timeout=900, preexec_fn=lambda: os.umask(0o022))
    text = (work / "build.log").read_text(errors="replace")
    assert res.returncode == 0, f"dpkg-buildpackage failed:\n{text[-5000:]}"
    debs = sorted(work.glob(f"wsbridge_*_{arch()}.deb"))
    changes = sorted(work.glob(f"wsbridge_*_{arch()}.changes"))
    assert len(debs) == 1 and len(changes) == 1, sorted(work.iterdir())
    say(request, f"{debs[0].name} built in {time.monotonic() - t0:.0f} s "
        f"({debs[0].stat().st_size // 1024} KiB)")
    return work, debs[0], changes[0]


def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", str(deb), field],
                          capture_output=True, text=True, timeout=30,
                          check=True).stdout.strip()


def deb_files(deb):
    """{path: (mode, text or None)} of the package's data."""
    res = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)],
                         capture_output=True, timeout=60, check=True)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        for m in tar.getmembers():
            name = m.name.lstrip(".")
            data = None
            if m.isfile() and name.startswith("/lib/systemd/"):
                data = tar.extractfile(m).read().decode()
            out[name] = (m.mode, data)
    return out


def test_changelog_version_is_configure_ac_version():
    """Cheap, so in every build: a release that bumps AC_INIT must add a
    debian/changelog entry, or the .deb would carry the old version."""
    m = re.search(r"AC_INIT\(\[wsbridge\], \[([^]]+)\]",
                  (REPO / "configure.ac").read_text())
    first = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    v = re.match(r"wsbridge \(([^)]+)\) ", first)
    assert m and v, (m, first)
    assert v.group(1).rsplit("-", 1)[0] == m.group(1), \
        f"debian/changelog says {v.group(1)}, configure.ac {m.group(1)}"


def test_package_contents(built):
    _, deb, _ = built
    files = deb_files(deb)
    want = ["/usr/bin/wsbridge", "/usr/share/man/man1/wsbridge.1.gz",
            "/usr/share/bash-completion/completions/wsbridge",
            *(f"/lib/systemd/system/{u}" for u in UNITS),
            *(f"/usr/share/doc/wsbridge/examples/{f.name}"
              for f in (REPO / "examples").iterdir()),
            "/usr/share/doc/wsbridge/xterm/README.md"]
    missing = [p for p in want if p not in files]
    assert not missing, f"not in {deb.name}: {missing}"
    assert files["/usr/bin/wsbridge"][0] == 0o755
    # xterm.js's license is in debian/copyright, not a file of its own.
    assert not [p for p in files if "/xterm/LICENSE" in p], sorted(files)
    for unit in UNITS:
        text = files[f"/lib/systemd/system/{unit}"][1]
        assert "/usr/local/" not in text, f"{unit} names /usr/local"
        if unit.endswith(".service"):
            assert re.search(r"^ExecStart=/usr/bin/wsbridge ", text, re.M), \
                f"{unit}: ExecStart is not /usr/bin/wsbridge"


def test_dependencies_come_from_the_shlibs(built):
    _, deb, _ = built
    depends = deb_field(deb, "Depends")
    # What ${shlibs:Depends} computes from the libraries the binary links.
    for pkg in ("libwebsockets17", "libevent-core-2.1-7",
                "libevent-openssl-2.1-7", "libssl3", "libc6"):
        assert re.search(rf"(^|, ){re.escape(pkg)}( \(|,|$)", depends), \
            f"Depends lacks {pkg}: {depends}"


def test_units_are_neither_enabled_nor_started(built):
    work, deb, _ = built
    ctl = work / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(ctl)], timeout=30,
                   check=True)
    postinst = (ctl / "postinst").read_text() \
        if (ctl / "postinst").exists() else ""
    assert "deb-systemd-invoke" not in postinst, "postinst starts a unit"
    # dh_installsystemd --no-enable: enable only keeps an admin's choice.
    for line in postinst.splitlines():
        if "deb-systemd-helper enable" in line:
            assert "was-enabled" in postinst, postinst


def test_lintian_clean(built):
    _, _, changes = built
    res = subprocess.run(["lintian", "--allow-root", "--fail-on",
                          "error,warning", "--display-info", str(changes)],
                         capture_output=True, text=True, timeout=300)
    tags = [ln for ln in res.stdout.splitlines() if re.match(r"[EWI]: ", ln)]
    assert res.returncode == 0 and not tags, \
        f"lintian (exit {res.returncode}):\n{res.stdout}{res.stderr}"


# --------------------------------------------------------------------------
# installed into a fresh container


INSTALL = r'''
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
cd /build/src
{install} >/dev/null
apt-get install -y -qq --no-install-recommends man-db >/dev/null
echo "installed: $(command -v wsbridge)"
exec wsbridge --port={port} --address=127.0.0.1 \
	/usr/share/doc/wsbridge/examples/echo.sh
'''


@pytest.fixture(scope="module")
def installed(request, built):
    """A container with the package installed, the installed wsbridge
    serving echo.sh on 127.0.0.1:port (host network), as (container, port).
    """
    work, _, _ = built
    base = base_image(request)
    words = shlex.split(readme_line("sudo apt-get install"))
    assert words[:3] == ["sudo", "apt-get", "install"] and \
        re.fullmatch(r"\.\./wsbridge_\*\.deb", words[-1]), words
    install = ["apt-get", "install", "-y", "-qq", *words[3:]]
    port = free_port()
    c = Container(["--network=host", *ULIMITS, "-v", f"{work}:/build:ro",
                   base, "bash", "-c",
                   INSTALL.format(install=" ".join(install), port=port)])
    t0 = time.monotonic()
    try:
        c.start()
        c.wait_log(rf"INFO listening on 127\.0\.0\.1:{port}", 600)
        say(request, f"installed and serving in a fresh {base} in "
            f"{time.monotonic() - t0:.0f} s")
        assert "installed: /usr/bin/wsbridge" in c.logs(), c.logs()
        yield c, port
    finally:
        c.remove()


def test_installed_binary_serves_a_session(installed):
    _, port = installed

    async def session():
        async with websockets.connect(f"ws://127.0.0.1:{port}/deb") as ws:
            hello = await recv(ws)
            await ws.send("hi")
            echo = await recv(ws)
            await ws.send("exit 3")
            msgs, exc = await recv_until_closed(ws)
            return hello, echo, msgs, close_of(exc)
    hello, echo, msgs, close = run(session())
    assert hello.endswith("you asked for /deb"), hello
    assert echo == "echo: hi" and msgs == [] and close == (4003, "exit 3"), \
        (echo, msgs, close)


def test_installed_client_mode(installed):
    c, port = installed
    res = c.exec("sh", "-c", "printf 'hi\\nexit 5\\n' | timeout 30 "
                 f"wsbridge --connect=ws://127.0.0.1:{port}/; echo status=$?")
    assert "echo: hi" in res.stdout and "status=5" in res.stdout, \
        res.stdout + res.stderr


def test_man_page_installed(installed):
    c, _ = installed
    res = c.exec("man", "wsbridge")
    assert res.returncode == 0, res.stderr
    assert "wsbridge" in res.stdout and "--connect" in res.stdout, \
        res.stdout[:2000]


def test_completion_installed(installed):
    c, _ = installed
    res = c.exec("bash", "-c", ". /usr/share/bash-completion/completions/"
                 "wsbridge && complete -p wsbridge")
    assert res.returncode == 0 and "wsbridge" in res.stdout, \
        res.stdout + res.stderr


def test_units_not_enabled_after_install(installed):
    c, _ = installed
    res = c.exec("sh", "-c", "ls /lib/systemd/system/wsbridge* && "
                 "find /etc/systemd -name 'wsbridge*'")
    assert res.returncode == 0, res.stderr
    listed = res.stdout.split()
    assert sorted(os.path.basename(p) for p in listed
                  if p.startswith("/lib/")) == sorted(UNITS), listed
    enabled = [p for p in listed if p.startswith("/etc/")]
    assert not enabled, f"units enabled on install: {enabled}"
