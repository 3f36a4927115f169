#!/bin/bash
# Never reads its stdin. $QUERY_STRING picks what it does:
#   echo      exec cat (a warm-up session)
#   stubborn  ignores SIGTERM (so does its sleep); only SIGKILL ends it
#   anything else: exits 0 on SIGHUP
# On SIGHUP it appends "hup" to $MARKER_DIR/hup. Once its traps are set it
# writes its pid to $MARKER_DIR/ready.
m="$MARKER_DIR"
case "$QUERY_STRING" in
echo)	exec cat ;;
stubborn)
	trap '' TERM
	trap 'echo hup >> "$m/hup"' HUP ;;
*)
	trap 'echo hup >> "$m/hup"; exit 0' HUP ;;
esac
echo $$ > "$m/ready.tmp" && mv "$m/ready.tmp" "$m/ready"
for i in $(seq 1 120); do
	sleep 1 < /dev/null &
	wait $!
done
exit 0
