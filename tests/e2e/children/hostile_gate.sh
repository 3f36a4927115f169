#!/bin/bash
# Reads nothing until $MARKER_DIR/go exists (at most 60 s), then copies its
# stdin to $MARKER_DIR/got until end-of-file (not with exec: the shell keeps
# stdout open, which a child that closes it would give up, and with it stdin). On SIGHUP it appends "hup" to
# $MARKER_DIR/hup. Once its trap is set it writes its pid to $MARKER_DIR/ready.
m="$MARKER_DIR"
trap 'echo hup >> "$m/hup"' HUP
echo $$ > "$m/ready.tmp" && mv "$m/ready.tmp" "$m/ready"
for i in $(seq 1 600); do
	[ -e "$m/go" ] && break
	sleep 0.1
done
cat > "$m/got"
