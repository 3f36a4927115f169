#!/bin/bash
# Leaves a grandchild behind (its pid in "$MARKER_DIR/grandchild.pid"), then
# exits 0.  $1 says how:
#   detached  the grandchild has no stdin/stdout/stderr of ours
#   keep      the grandchild keeps our stdin/stdout/stderr open
#   stubborn  detached, and it ignores SIGTERM (only SIGKILL ends it)
case "$1" in
keep)		sleep 1000 & ;;
stubborn)	(trap '' TERM; exec sleep 1000) < /dev/null > /dev/null 2>&1 & ;;
*)		sleep 1000 < /dev/null > /dev/null 2>&1 & ;;
esac
echo $! > "$MARKER_DIR/grandchild.pid.tmp"
mv "$MARKER_DIR/grandchild.pid.tmp" "$MARKER_DIR/grandchild.pid"
echo started
exit 0
