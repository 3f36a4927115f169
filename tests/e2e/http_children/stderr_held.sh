#!/bin/sh
# For --passstderr: leaves a background process holding stderr (not stdout)
# after it exits; its pid goes to $MARKER_DIR/held so the test can stop it.
echo "out"
echo "err before" >&2
sleep 30 > /dev/null &
echo $! > "$MARKER_DIR/held"
