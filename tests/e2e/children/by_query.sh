#!/bin/bash
# Picks its behaviour from the query string of the request.
case "$QUERY_STRING" in
flood)	exec yes ;;			# endless text lines
zero)	exec cat /dev/zero ;;		# endless bytes (use with --binary)
sink)	exec sleep 30 ;;		# never reads stdin
*)	exec cat ;;			# echo
esac
