#!/bin/bash
# Tests of contrib/ (Dockerfile, systemd socket activation, nginx in front
# of two servers, bash completion) against the built binary; run by
# `make check` like tests/e2e.sh.
set -eu
: "${srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${WSBRIDGE:=$PWD/src/wsbridge}"
export WSBRIDGE
export PYTHONDONTWRITEBYTECODE=1
if ! /usr/bin/python3 -c 'import pytest, websockets' 2>/dev/null; then
	echo "contrib: needs python3-pytest and python3-websockets; skipping" >&2
	exit 77
fi
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$srcdir/tests/contrib" "$@"
