#!/bin/sh
# Placed OUTSIDE the --dir/--cgidir root by the tests: it must never run.
# If it does, it leaves "$MARKER_DIR/outside" behind as proof.
[ -n "$MARKER_DIR" ] && echo "RAN $0" >> "$MARKER_DIR/outside"
echo "Content-Type: text/plain"
echo
echo "outside script ran"
