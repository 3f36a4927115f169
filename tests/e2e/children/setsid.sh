#!/bin/bash
# Leaves a sleep behind in a session of its own (setsid), out of reach of
# the kill schedule, holding our stdout (and stderr); says one line and
# exits 3. The sleep's pid goes to "$MARKER_DIR/setsid.pid", for the test
# to end it.
m="$MARKER_DIR/setsid.pid"
setsid /bin/sh -c 'echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 30' \
    sh "$m" &
echo hello
exit 3
