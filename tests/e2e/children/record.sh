#!/bin/bash
# Records what the session did to it in "$MARKER_DIR/${1:-events}", one event
# a line: "START <pid>", "LINE <text>" for each line read from stdin (the
# line is also echoed back on stdout), "HUP" and "TERM" when those signals
# arrive, and "EOF" when stdin ends (then it exits 0). START comes once the
# traps are set: a test that gets the child signalled before it has echoed
# anything waits for START first, or the signal could kill the script.
ev="$MARKER_DIR/${1:-events}"
trap 'echo HUP >> "$ev"' HUP
trap 'echo TERM >> "$ev"' TERM
trap '' PIPE
echo "START $$" >> "$ev"
while :; do
	IFS= read -r line
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "LINE $line" >> "$ev"
		printf '%s\n' "$line"
		continue
	fi
	if [ $rc -gt 128 ]; then
		continue	# read interrupted by a signal
	fi
	[ -n "$line" ] && echo "LINE $line" >> "$ev"
	# A signal sent just before stdin closed (SIGHUP, then EOF) may still
	# be pending here, and bash would exit without running its trap: an
	# external command gives bash a point where pending traps run.
	/bin/sleep 0.05
	echo EOF >> "$ev"
	exit 0
done
