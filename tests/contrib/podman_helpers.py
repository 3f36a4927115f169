"""Containers for the packaging tests (test_container.py, test_deb.py).

These tests build an image and a Debian package: minutes of work and a few
hundred MB, so they run once per CI run, in quickstart's plain build, which
sets WSB_PACKAGING_TESTS=1.  Without it (the ASan and TSan builds, make
distcheck, a bare `make check`) they skip and say so; with it, a missing tool
is a failure, never a skip, so that the plain CI build cannot pass without
running them.

podman as this machine needs it (see issue 14): rootful, runc (crun refuses
hybrid cgroups), cgroupfs, fixed ulimits (the defaults cannot be raised
here), `--network=host` for a build whose apt must reach the mirror.  No
image registry is reachable, so debian:12-slim is made locally with
debootstrap from the mirror apt uses, and kept in podman's store for the
next run (delete it with `podman rmi debian:12-slim` to rebuild it).

Every podman call has a time limit; containers and images are removed by
their id or unique name.
"""

import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ENABLE_VAR = "WSB_PACKAGING_TESTS"
BASE_IMAGE = "debian:12-slim"
CODENAME = "bookworm"
FALLBACK_MIRROR = "http://deb.debian.org/debian"

# podman and debootstrap need root; quickstart gets it through sudo as well.
AS_ROOT = [] if os.geteuid() == 0 else ["sudo", "-n"]
PODMAN = [*AS_ROOT, "podman", "--runtime", "runc", "--cgroup-manager",
          "cgroupfs"]
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]

# /usr/sbin is not on every user's PATH; debootstrap and runc live there.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin",
                               "/sbin"])


def require_packaging_tests(*tools):
    """Skips unless WSB_PACKAGING_TESTS=1; then fails if a tool is missing."""
    if os.environ.get(ENABLE_VAR) != "1":
        pytest.skip(f"{ENABLE_VAR} is not 1: the container and .deb tests "
                    "run once per CI run, in ./quickstart test's plain build "
                    f"(run them by hand with {ENABLE_VAR}=1)")
    missing = [t for t in ("podman", "runc", "debootstrap", *tools)
               if shutil.which(t, path=SEARCH_PATH) is None]
    if missing:
        pytest.fail(f"{ENABLE_VAR}=1 but {' '.join(missing)} not installed "
                    "(quickstart's TEST_DEPS install them)")
    if AS_ROOT and subprocess.run([*AS_ROOT, "true"], capture_output=True,
                                  timeout=30).returncode != 0:
        pytest.fail(f"{ENABLE_VAR}=1 needs root or password-less sudo "
                    "(rootful podman, debootstrap)")


def say(request, text):
    """Prints past pytest's capture, into tests/contrib.log, where
    quickstart picks up the lines that start with "packaging:"."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print(f"\npackaging: {text}", flush=True)


def podman(*args, timeout=120, check=True, cwd=None, stdin=None):
    res = subprocess.run([*PODMAN, *args], capture_output=True, text=True,
                         timeout=timeout, cwd=cwd,
                         stdin=stdin if stdin is not None
                         else subprocess.DEVNULL)
    if check and res.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} exited {res.returncode}:\n"
                    f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


# --------------------------------------------------------------------------
# the base image


def _list_entries(text):
    """(uri, suites, components) of each one-line `deb` entry."""
    for line in text.splitlines():
        line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb":
            yield line[1], line[2:3], line[3:]


def _deb822_entries(text):
    for para in re.split(r"\n\s*\n", text):
        fields = {}
        for line in para.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if "deb" not in fields.get("types", []) or \
                fields.get("enabled", ["yes"])[0] == "no":
            continue
        for uri in fields.get("uris", []):
            yield uri, fields.get("suites", []), fields.get("components", [])


def apt_mirror():
    """The Debian mirror this host's apt uses for bookworm main."""
    files = ["/etc/apt/sources.list",
             *sorted(glob.glob("/etc/apt/sources.list.d/*.list")),
             *sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))]
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        entries = _deb822_entries(text) if name.endswith(".sources") \
            else _list_entries(text)
        for uri, suites, comps in entries:
            if CODENAME in suites and "main" in comps and \
                    uri.startswith(("http://", "https://")):
                return uri.rstrip("/")
    return FALLBACK_MIRROR


# debian:12-slim cleans apt's caches after every install (its docker-clean);
# without this a Dockerfile's `rm -rf /var/lib/apt/lists/*` would leave the
# downloaded .debs in the image.
DOCKER_CLEAN = r'''DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
'''

MAKE_BASE = r'''
set -eu
umask 022
root=$1 mirror=$2 image=$3
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
	{ tail -40 "$root.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
	"$root"/var/lib/apt/lists/*
# The base system's manuals, translations and docs, as debian:12-slim has
# none (about 45 MB); unlike slim, later installs keep theirs (man wsbridge).
rm -rf "$root"/usr/share/man/* "$root"/usr/share/locale/* \
	"$root"/usr/share/info/*
find "$root"/usr/share/doc -type f ! -name copyright -delete
cat >"$root/etc/apt/apt.conf.d/docker-clean"
tar -C "$root" -c . | "${@:4}" import -q - "$image"
'''

_base_ready = False


def base_image(request):
    """debian:12-slim in podman's store: the cached one, or a new one."""
    global _base_ready
    if _base_ready or podman("image", "exists", BASE_IMAGE, check=False,
                             timeout=60).returncode == 0:
        if not _base_ready:
            say(request, f"reusing {BASE_IMAGE} from podman's store")
        _base_ready = True
        return BASE_IMAGE
    mirror = apt_mirror()
    work = Path(subprocess.run(
        [*AS_ROOT, "mktemp", "-d", "/var/tmp/wsb-debootstrap.XXXXXX"],
        capture_output=True, text=True, check=True,
        timeout=30).stdout.strip())
    t0 = time.monotonic()
    try:
        res = subprocess.run(
            [*AS_ROOT, "bash", "-c", MAKE_BASE, "make-base",
             str(work / "root"), mirror, BASE_IMAGE, *PODMAN[len(AS_ROOT):]],
            input=DOCKER_CLEAN, capture_output=True, text=True, timeout=900,
            env={**os.environ, "PATH": SEARCH_PATH})
    finally:
        subprocess.run([*AS_ROOT, "rm", "-rf", "--one-file-system",
                        str(work)], timeout=300)
    if res.returncode != 0:
        pytest.fail(f"debootstrap of {BASE_IMAGE} from {mirror} failed:\n"
                    f"{res.stderr[-4000:]}")
    say(request, f"{BASE_IMAGE} made by debootstrap from {mirror} in "
        f"{time.monotonic() - t0:.0f} s ({image_size(BASE_IMAGE)})")
    _base_ready = True
    return BASE_IMAGE


def image_size(image):
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image,
                      timeout=60).stdout.strip())
    return f"{size / 1e6:.0f} MB"


# --------------------------------------------------------------------------
# containers


class Container:
    """A detached container, removed by its id on stop()."""

    def __init__(self, run_args):
        self.run_args = list(run_args)
        self.id = None

    def start(self):
        res = podman("run", "-d", *self.run_args, timeout=120)
        self.id = res.stdout.strip().splitlines()[-1]
        return self

    def state(self, field):
        res = podman("inspect", "--format", "{{.State.%s}}" % field,
                     self.id, timeout=60, check=False)
        return res.stdout.strip() if res.returncode == 0 else None

    def running(self):
        return self.state("Running") == "true"

    def logs(self):
        res = podman("logs", self.id, timeout=60, check=False)
        return res.stdout + res.stderr

    def exec(self, *argv, timeout=60):
        return podman("exec", self.id, *argv, timeout=timeout, check=False)

    def wait_log(self, regex, timeout):
        """Polls the log for regex (bounded); fails if the container ends."""
        rx = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.logs()
            m = rx.search(log)
            if m:
                return m
            if not self.running():
                pytest.fail(f"container ended before /{regex}/:\n"
                            f"{log[-4000:]}")
            time.sleep(0.5)
        pytest.fail(f"no /{regex}/ in the container's log within "
                    f"{timeout}s:\n{self.logs()[-4000:]}")

    def remove(self):
        if self.id:
            podman("rm", "-f", "-t", "0", self.id, timeout=120, check=False)
            self.id = None
