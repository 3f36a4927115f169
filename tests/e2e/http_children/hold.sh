#!/bin/sh
# Notes each spawn in "$MARKER_DIR/spawns", then echoes stdin (cat) until EOF.
echo "START $$" >> "$MARKER_DIR/spawns"
exec /bin/cat
