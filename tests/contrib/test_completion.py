"""contrib/bash-completion/wsbridge against `wsbridge --help`.

The completion lists the flags (it parses nothing at run time), so it must
name every flag the usage text shows, and nothing else; the --loglevel values
and the flags that take a value must match too.  Then the completion
function is run the way bash runs it (COMP_LINE/COMP_POINT), and once in an
interactive bash on a pty (TAB pressed for real).
"""

import os
import pty
import re
import select
import shutil
import subprocess
import time

from contrib_helpers import (CONTRIB, REPO, help_flag_specs, help_flags,
                             help_text)

COMPLETION = CONTRIB / "bash-completion" / "wsbridge"
BASH = shutil.which("bash") or "/bin/bash"


def completion_code():
    """The file without its comment lines."""
    return "\n".join(ln for ln in COMPLETION.read_text().splitlines()
                     if not ln.lstrip().startswith("#"))


def completion_flags():
    flags = []
    for f in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", completion_code()):
        if f not in flags:
            flags.append(f)
    return flags


def shell_var(name):
    m = re.search(rf"^{name}='([^']*)'", COMPLETION.read_text(), re.M)
    assert m, f"no {name}='...' in {COMPLETION}"
    return m.group(1).split()


def test_every_help_flag_is_completed():
    missing = [f for f in help_flags() if f not in completion_flags()]
    assert not missing, f"--help lists flags the completion lacks: {missing}"


def test_completion_has_no_flag_help_lacks():
    extra = [f for f in completion_flags() if f not in help_flags()]
    assert not extra, f"the completion offers flags --help lacks: {extra}"


def test_value_flags_match_help():
    specs = help_flag_specs()
    takes = {f[2:] for f, k in specs if k == "value"}
    assert set(shell_var("_wsbridge_takes_value")) == takes, \
        "_wsbridge_takes_value differs from the --flag=VALUE lines of --help"
    listed = shell_var("_wsbridge_flags")
    for f, kind in specs:
        if kind == "value":
            assert f"{f}=" in listed, f"{f} takes a value: list {f}="
            assert f not in listed, f"{f} alone is not valid"
        elif kind == "optional":
            assert f in listed and f"{f}=" in listed, f"{f}[=BOOL]"
        else:
            assert f in listed and f"{f}=" not in listed, f"{f} takes no value"


def test_loglevel_values_match_help():
    m = re.search(r"--loglevel=LEVEL\s+(.*?)\n\s*\(default", help_text(),
                  re.S)
    assert m, "no --loglevel line in --help"
    levels = re.findall(r"[a-z]+", m.group(1).replace(" or ", " "))
    got = complete("wsbridge --loglevel=")
    assert sorted(got) == sorted(levels), (got, levels)


# --------------------------------------------------------------------------
# the completion function, as bash calls it


def complete(line, wordbreaks=None, cwd=REPO):
    """COMPREPLY for a command line with the cursor at its end."""
    script = ("source \"$1\"; COMP_LINE=$2; COMP_POINT=${#2}; "
              + ("COMP_WORDBREAKS=$3; " if wordbreaks else "")
              + "COMPREPLY=(); _wsbridge; printf '%s\\n' \"${COMPREPLY[@]}\"")
    out = subprocess.run([BASH, "--norc", "--noprofile", "-c", script, "bash",
                          str(COMPLETION), line, wordbreaks or ""],
                         capture_output=True,
                         text=True, timeout=30, cwd=cwd,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                              "HOME": "/nonexistent"})
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    return [ln for ln in out.stdout.splitlines() if ln != ""]


def test_flags_by_prefix():
    assert complete("wsbridge --lo") == ["--loglevel="]
    assert sorted(complete("wsbridge --b")) == ["--basic-auth=", "--binary",
                                                "--binary="]
    assert sorted(complete("wsbridge --au")) == ["--auth-header=",
                                                 "--auth-realm="]
    assert sorted(complete("wsbridge --")) == \
        sorted(shell_var("_wsbridge_flags"))
    # websocketd's single dash
    assert complete("wsbridge -lo") == ["-loglevel="]


def test_values_after_equals_sign():
    # bash replaces only what follows "=" (in COMP_WORDBREAKS by default)
    assert complete("wsbridge --loglevel=de") == ["debug"]
    assert sorted(complete("wsbridge --binary=")) == ["false", "true"]
    assert complete("wsbridge -loglevel=fa") == ["fatal"]
    # ... and the whole word when "=" is no word break
    assert complete("wsbridge --loglevel=de", wordbreaks=" \t\n\"'><;|&(") \
        == ["--loglevel=debug"]


def test_values_as_next_word():
    assert complete("wsbridge --loglevel in") == ["info"]
    assert complete("wsbridge --uid ro") == ["root"]
    # --port's value is not the command: what follows is still options
    assert complete("wsbridge --port 8080 --lo") == ["--loglevel="]


def test_passenv_list():
    assert "PATH" in complete("wsbridge --passenv=PA")
    assert "PATH,HOME" in complete("wsbridge --passenv=PATH,HO")


def test_command_and_its_arguments_are_files():
    assert complete("wsbridge --port=8080 examples/ec") == ["examples/echo.sh"]
    # after COMMAND, options belong to it: files only
    assert complete("wsbridge --port=8080 examples/echo.sh --lo") == []
    assert complete("wsbridge examples/echo.sh examples/co") == \
        ["examples/count.sh"]
    assert complete("wsbridge -- examples/en") == ["examples/env.sh"]
    # a program from PATH
    assert "sh" in complete("wsbridge --port=1 s")


def test_real_tab_in_interactive_bash():
    """TAB pressed in an interactive bash, with bash's own word breaks."""
    def typed(keys, timeout=10.0):
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(REPO)
            os.execve(BASH, [BASH, "--norc", "--noprofile", "-i"],
                      {"PATH": "/usr/bin:/bin", "TERM": "dumb", "PS1": "$ ",
                       "HOME": "/nonexistent"})
        out = b""
        try:
            os.write(fd, (f"source '{COMPLETION}'; wsbridge() {{ printf "
                          "'ARGS<%s>\\n' \"$*\"; }\n").encode())
            time.sleep(0.3)
            os.write(fd, keys)
            time.sleep(0.5)
            os.write(fd, b"\nexit\n")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.1)
                if r:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    out += data
        finally:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)
        got = re.findall(r"^ARGS<(.*)>\r?$", out.decode("utf-8", "replace"),
                         re.M)
        return got[-1] if got else None

    assert typed(b"wsbridge --logl\tde\t") == "--loglevel=debug"
    assert typed(b"wsbridge --tru\t127\t") == "--trusted-proxy=127.0.0.1"
    assert typed(b"wsbridge --port=8080 examples/ec\t") == \
        "--port=8080 examples/echo.sh"
