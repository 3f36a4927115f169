#!/bin/bash
# Reads nothing for a second, so that its stdin pipe fills and the server
# has to wait for room; then hashes all of stdin up to EOF into
# "$MARKER_DIR/sum" and records TERM if that signal comes before it is done.
trap 'echo TERM >> "$MARKER_DIR/events"' TERM
sleep 1
sha256sum | cut -d' ' -f1 > "$MARKER_DIR/sum.tmp"
mv "$MARKER_DIR/sum.tmp" "$MARKER_DIR/sum"
