"""contrib/Dockerfile, checked without a Docker engine.

- the runtime stage installs the Debian package of every shared library that
  `ldd` lists for the built binary ($WSBRIDGE), except what the base image has;
- the build stage installs quickstart's BUILD_DEPS and runs the README's build
  commands (autoreconf -fi, ./configure, make, make install);
- the runtime stage installs no build tools, runs as a non-root USER and has
  wsbridge as its ENTRYPOINT.
"""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from contrib_helpers import CONTRIB, REPO, need_binary

DOCKERFILE = CONTRIB / "Dockerfile"

# In debian:12-slim already (essential: the base system needs it), so the
# runtime stage need not install it: the C library and the dynamic loader.
BASE_IMAGE_PACKAGES = {"libc6"}
# ldd names that are no file of any package.
VIRTUAL_LIBS = ("linux-vdso.so", "linux-gate.so")
SANITIZER_LIBS = ("libasan.so", "libubsan.so", "libtsan.so", "liblsan.so")

BUILD_TOOLS = {"gcc", "g++", "cc", "clang", "make", "build-essential",
               "autoconf", "automake", "libtool", "pkg-config", "pkgconf",
               "binutils", "cpp"}


# --------------------------------------------------------------------------
# a small Dockerfile reader


def instructions(text):
    """[(INSTRUCTION, arguments)] with continuations joined, comments gone."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if cur and line.startswith("#"):
            continue                    # a comment inside a continuation
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    if cur.strip():
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(text):
    """[{"from": ..., "name": ..., "ins": [(INSTR, args), ...]}]"""
    result = []
    for word, args in instructions(text):
        if word == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" \
                else None
            result.append({"from": parts[0], "name": name, "ins": []})
        elif result:
            result[-1]["ins"].append((word, args))
    return result


def runs(stage):
    return [args for word, args in stage["ins"] if word == "RUN"]


def shell_commands(stage):
    """Every simple command of every RUN, split at && || ; |."""
    cmds = []
    for r in runs(stage):
        for part in re.split(r"&&|\|\||;|\|", r):
            part = part.strip()
            if part:
                cmds.append(part)
    return cmds


def apt_installed(stage):
    """Package names on the stage's `apt-get install` command lines."""
    pkgs = []
    for cmd in shell_commands(stage):
        words = shlex.split(cmd)
        # skip leading VAR=value words and `env`
        while words and (re.match(r"^\w+=", words[0]) or words[0] == "env"):
            words.pop(0)
        if len(words) >= 2 and words[0] in ("apt-get", "apt") \
                and "install" in words:
            after = words[words.index("install") + 1:]
            pkgs += [w for w in after if not w.startswith("-")]
    return pkgs


@pytest.fixture(scope="module")
def dockerfile():
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    st = stages(DOCKERFILE.read_text())
    assert len(st) >= 2, "expected a multi-stage build (build + runtime)"
    for s in st:
        assert s["from"] == "debian:12-slim", \
            f"stage FROM {s['from']}, expected debian:12-slim"
    return {"build": st[0], "runtime": st[-1], "all": st}


# --------------------------------------------------------------------------
# ldd -> dpkg -S


def ldd_paths(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, f"ldd {binary}: {out.stderr}"
    libs = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            pytest.fail(f"ldd {binary}: {line}")
        m = re.match(r"^(\S+)\s+=>\s+(\S+)\s+\(", line) or \
            re.match(r"^(\S+)\s+\(", line)
        if not m:
            continue
        name = m.group(1)
        path = m.group(2) if m.lastindex == 2 else m.group(1)
        libs.append((name, path))
    return libs


def path_variants(path):
    """The path, its target, and their /usr-merged twins (bookworm's dpkg
    knows a library under /lib or /usr/lib, whichever the package ships)."""
    cands = []
    real = str(Path(path).resolve())
    for p in (path, real):
        cands.append(p)
        if p.startswith("/usr/"):
            cands.append(p[len("/usr"):])
        else:
            cands.append("/usr" + p)
    seen, out = set(), []
    for c in cands:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def dpkg_owner(path):
    for cand in path_variants(path):
        out = subprocess.run(["dpkg", "-S", cand], capture_output=True,
                             text=True, timeout=30)
        if out.returncode != 0:
            continue
        for line in out.stdout.splitlines():
            if line.startswith("diversion by"):
                continue
            owners, _, _ = line.partition(": ")
            return sorted({o.strip().split(":")[0]
                           for o in owners.split(",")})
    return None


def test_runtime_installs_every_library_package(dockerfile):
    binary = need_binary()
    try:
        osrel = Path("/etc/os-release").read_text()
    except OSError:
        osrel = ""
    if "VERSION_CODENAME=bookworm" not in osrel:
        pytest.skip("this host is not Debian 12 (bookworm): its package "
                    "names need not match debian:12-slim's")
    if subprocess.run(["sh", "-c", "command -v dpkg"],
                      capture_output=True).returncode != 0:
        pytest.skip("no dpkg on this host")
    libs = ldd_paths(binary)
    assert libs, f"ldd lists no library for {binary}"
    if any(n.startswith(SANITIZER_LIBS) for n, _ in libs):
        pytest.skip(f"{binary} is a sanitizer build; the image builds a "
                    "plain one (set WSBRIDGE to the plain build)")
    installed = set(apt_installed(dockerfile["runtime"]))
    missing, unowned = [], []
    for name, path in libs:
        if name.startswith(VIRTUAL_LIBS):
            continue
        owners = dpkg_owner(path)
        if owners is None:
            unowned.append(f"{name} ({path})")
            continue
        if set(owners) & BASE_IMAGE_PACKAGES:
            continue
        if not set(owners) & installed:
            missing.append(f"{name} -> {'/'.join(owners)}")
    assert not unowned, ("libraries no Debian package owns (built against "
                         f"something local?): {unowned}")
    assert not missing, ("the runtime stage's apt-get install lacks the "
                         f"package of: {missing}; it installs "
                         f"{sorted(installed)}")


# --------------------------------------------------------------------------
# build stage


def quickstart_build_deps():
    text = (REPO / "quickstart").read_text()
    m = re.search(r'^BUILD_DEPS="([^"]*)"', text, re.M)
    assert m, "quickstart has no BUILD_DEPS=\"...\" line"
    return m.group(1).split()


def readme_build_commands():
    """The README's by-hand build line, split at &&; [] without a README."""
    readme = REPO / "README.md"
    if not readme.is_file():
        return []
    for line in readme.read_text().splitlines():
        if line.strip().startswith("autoreconf"):
            return [c.strip() for c in line.split("&&")]
    return []


def test_build_stage_installs_quickstart_build_deps(dockerfile):
    pkgs = set(apt_installed(dockerfile["build"]))
    missing = [p for p in quickstart_build_deps() if p not in pkgs]
    assert not missing, f"build stage lacks quickstart's BUILD_DEPS {missing}"


def test_build_stage_runs_the_readme_build_commands(dockerfile):
    cmds = shell_commands(dockerfile["build"])

    def ran(pattern):
        return any(re.fullmatch(pattern, c) for c in cmds)

    # What quickstart's build() and the README both run.
    assert ran(r"autoreconf -fi"), f"no `autoreconf -fi` in {cmds}"
    assert ran(r"(\./|\.\./)configure(\s.*)?"), f"no ./configure in {cmds}"
    assert ran(r"make(\s+-j\S*)?"), f"no plain `make` in {cmds}"
    assert ran(r"make install DESTDIR=\S+"), \
        f"no `make install DESTDIR=...` in {cmds}"
    # ... and every command of the README's by-hand line, but the ones that
    # need what an image build has no use for (the test tools, sudo).
    for c in readme_build_commands():
        if c == "make check":
            continue
        c = re.sub(r"^sudo\s+", "", c)
        if c == "make install":
            continue                    # checked above, with DESTDIR
        if c == "make":
            continue                    # checked above, -jN allowed
        assert ran(re.escape(c) + r"(\s.*)?"), \
            f"README runs `{c}`; the build stage does not ({cmds})"
    # The order of the README: autoreconf, configure, make, install.
    order = [next(i for i, c in enumerate(cmds) if re.fullmatch(p, c))
             for p in (r"autoreconf -fi", r"(\./|\.\./)configure(\s.*)?",
                       r"make(\s+-j\S*)?", r"make install DESTDIR=\S+")]
    assert order == sorted(order), f"build commands out of order: {cmds}"


def test_build_stage_copies_the_source(dockerfile):
    copies = [a for w, a in dockerfile["build"]["ins"] if w in ("COPY", "ADD")]
    assert copies, "build stage copies no source in"


# --------------------------------------------------------------------------
# runtime stage


def test_runtime_stage_has_no_build_tools(dockerfile):
    pkgs = apt_installed(dockerfile["runtime"])
    assert pkgs, "runtime stage installs nothing (the libraries?)"
    bad = [p for p in pkgs if p in BUILD_TOOLS or p.endswith("-dev")
           or re.match(r"^(gcc|g\+\+|clang|llvm)(-\d+)?$", p)]
    assert not bad, f"runtime stage installs build tools: {bad}"
    cmds = " ; ".join(shell_commands(dockerfile["runtime"]))
    for tool in ("autoreconf", "./configure", "make "):
        assert tool not in cmds, f"runtime stage runs `{tool.strip()}`"


def test_runtime_copies_the_binary_from_the_build_stage(dockerfile):
    build_name = dockerfile["build"]["name"]
    copies = [a for w, a in dockerfile["runtime"]["ins"] if w == "COPY"]
    assert any(f"--from={build_name}" in c for c in copies), \
        f"runtime stage does not COPY --from={build_name}: {copies}"


def test_runtime_user_is_not_root(dockerfile):
    users = [a for w, a in dockerfile["runtime"]["ins"] if w == "USER"]
    assert users, "runtime stage has no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0", ""), f"USER {users[-1]} is root"
    # Kubernetes' runAsNonRoot can only verify a numeric uid.
    assert user.isdigit(), (f"USER {users[-1]}: use a numeric uid so that "
                            "runAsNonRoot can check it")


def test_entrypoint_is_wsbridge(dockerfile):
    eps = [a for w, a in dockerfile["runtime"]["ins"] if w == "ENTRYPOINT"]
    assert eps, "no ENTRYPOINT"
    ep = eps[-1]
    assert ep.startswith("["), ("ENTRYPOINT in shell form: wsbridge would "
                                "not be PID 1 and would miss SIGTERM")
    argv = json.loads(ep)
    assert argv[0] == "/usr/local/bin/wsbridge", f"ENTRYPOINT {argv}"


def test_exposes_8080(dockerfile):
    exposed = " ".join(a for w, a in dockerfile["runtime"]["ins"]
                       if w == "EXPOSE").split()
    assert "8080" in exposed or "8080/tcp" in exposed, f"EXPOSE {exposed}"


def test_says_why_no_init_is_needed():
    text = DOCKERFILE.read_text()
    assert re.search(r"#.*\btini\b", text) and "waitpid(-1)" in text \
        and "SIGTERM" in text, \
        "the comment on why no init (tini) is needed is missing"


def test_default_command_exists_in_the_image(dockerfile):
    """CMD's program must be something the image has (examples -> /srv)."""
    cmds = [a for w, a in dockerfile["runtime"]["ins"] if w == "CMD"]
    if not cmds:
        return
    argv = json.loads(cmds[-1])
    prog = next((a for a in argv if not a.startswith("-")), None)
    assert prog, f"CMD {argv} names no command"
    copies = [a for w, a in dockerfile["runtime"]["ins"] if w == "COPY"]
    m = re.match(r"^/srv/(.+)$", prog)
    assert m and any(re.search(r"\bexamples/?\s+/srv/?$", c) for c in copies) \
        and (REPO / "examples" / m.group(1)).is_file(), \
        f"CMD runs {prog}, which the image does not get from examples/"
