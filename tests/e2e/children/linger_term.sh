#!/bin/bash
# Records EOF on stdin and SIGTERM in "$MARKER_DIR/events", in the order
# they come, and lingers after EOF so that the kill schedule reaches it.
# "ready" on stdout comes once the trap is set.
ev="$MARKER_DIR/events"
trap 'echo TERM >> "$ev"; exit 0' TERM
echo ready
cat > /dev/null
echo EOF >> "$ev"
sleep 30 &
wait $!
