#!/bin/bash
# End-to-end tests against the built binary; the `make check` entry point.
# make check runs this from the build directory with $srcdir set; run by
# hand it works from the repository root (or set WSBRIDGE and srcdir).
set -eu
: "${srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${WSBRIDGE:=$PWD/src/wsbridge}"
export WSBRIDGE
export PYTHONDONTWRITEBYTECODE=1
if ! /usr/bin/python3 -c 'import pytest, websockets' 2>/dev/null; then
	echo "${WSB_SUITE:-e2e}: needs python3-pytest and python3-websockets;" \
	    "skipping" >&2
	exit 77
fi
# With Debian's python3-pytest-timeout a hung test fails alone, with its
# traceback, and the others still run ($WSB_TEST_TIMEOUT seconds each);
# make check bounds the whole run as well.
limit=()
if /usr/bin/python3 -c 'import pytest_timeout' 2>/dev/null; then
	limit=(--timeout="${WSB_TEST_TIMEOUT:-300}")
fi
# With Debian's python3-pytest-xdist the tests run on up to $WSB_JOBS
# workers (default: nproc, at most 4); tests/e2e/conftest.py keeps the ones
# that measure time or CPU, or hold thousands of fds, on one worker of their
# own group. WSB_JOBS=1 runs them one by one. The contrib suite stays serial:
# its podman and .deb tests are long and share the base image they pull
# and the debootstrap tree they build.
par=()
jobs=${WSB_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -gt 4 ] && jobs=4
if [ "${WSB_SUITE:-e2e}" = e2e ] && [ "$jobs" -gt 1 ] &&
    /usr/bin/python3 -c 'import xdist' 2>/dev/null; then
	par=(-n "$jobs" --dist loadgroup)
fi
# tests/contrib.sh runs this same script on tests/contrib.
exec /usr/bin/python3 -m pytest -q -rfEs -p no:cacheprovider "${limit[@]}" \
	"${par[@]}" "$srcdir/tests/${WSB_SUITE:-e2e}" "$@"
