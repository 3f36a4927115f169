"""Release hygiene: the man page lints clean and documents every flag of
--help, --version says the version configure.ac declares, and the README's
quick start is the command .ci/run runs."""

import re
import shutil
import subprocess

import pytest

from contrib_helpers import REPO, WSBRIDGE, need_binary

MAN = REPO / "man" / "wsbridge.1"


def help_flags():
    need_binary()
    out = subprocess.run([WSBRIDGE, "--help"], capture_output=True,
                         text=True, timeout=10).stdout
    return sorted(set(re.findall(r"--[a-z][a-z0-9-]+", out)))


def test_man_page_lints_clean():
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc is not installed (apt-get install mandoc)")
    res = subprocess.run(["mandoc", "-Tlint", str(MAN)],
                         capture_output=True, text=True, timeout=30)
    assert res.stdout + res.stderr == "", res.stdout + res.stderr


def test_man_page_documents_every_flag_of_help():
    text = MAN.read_text()
    flags = help_flags()
    assert len(flags) > 30, flags
    # mdoc spells a long flag "Fl -name"; plain text may say --name.
    missing = [f for f in flags
               if not re.search(r"(Fl -|--|\\-\\-)" + re.escape(f[2:]) +
                                r"(?![a-z-])", text)]
    assert missing == [], missing


def test_version_is_configure_ac_version():
    need_binary()
    m = re.search(r"AC_INIT\(\[wsbridge\], \[([^]]+)\]",
                  (REPO / "configure.ac").read_text())
    out = subprocess.run([WSBRIDGE, "--version"], capture_output=True,
                         text=True, timeout=10).stdout
    assert out == f"wsbridge {m.group(1)}\n", out


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "./quickstart test" in readme
    assert "./quickstart serve" in readme
    assert re.search(r"^\./quickstart test$", ci, re.M), ci
