#!/bin/bash
# Tests of contrib/ (Dockerfile, systemd socket activation, nginx in front
# of two servers, bash completion, release checks): the same runner as
# tests/e2e.sh, on tests/contrib, with more time for each test (building a
# Docker image may be slow).
WSB_TEST_TIMEOUT=${WSB_TEST_TIMEOUT:-900} WSB_SUITE=contrib \
	exec "$(dirname "${BASH_SOURCE[0]}")/e2e.sh" "$@"
