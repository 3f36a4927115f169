#!/bin/bash
# Closes its stdout but stays alive; records EOF on stdin and TERM. START
# (and "hello" on stdout) come once the trap is set.
ev="$MARKER_DIR/events"
trap 'echo TERM >> "$ev"; exit 0' TERM
echo "START $$" >> "$ev"
echo hello
exec >&-
cat > /dev/null
echo EOF >> "$ev"
sleep 30 &
wait $!
echo TIMEOUT >> "$ev"
