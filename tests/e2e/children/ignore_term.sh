#!/bin/bash
# Ignores SIGTERM (so does its sleep, which inherits that); lingers after EOF.
# START (and "ready" on stdout) come once the trap is set: tests wait for
# one of them before anything can signal it.
ev="$MARKER_DIR/events"
trap '' TERM
echo "START $$" >> "$ev"
echo ready
cat > /dev/null
echo EOF >> "$ev"
sleep 30
echo TIMEOUT >> "$ev"
