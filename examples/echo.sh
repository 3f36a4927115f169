#!/bin/sh
# Greets the client by address, then echoes every line back.
# Send "exit N" to end the session: the close code becomes 4000+N.
echo "hello $REMOTE_ADDR, you asked for $REQUEST_URI"
while IFS= read -r line; do
	case $line in
	"exit "*) exit "${line#exit }" ;;
	esac
	printf 'echo: %s\n' "$line"
done
