#!/bin/sh
# One line that is not UTF-8 (bytes ff fe), then echoes stdin until it ends
# (stdout stays open: its EOF would end the session).
printf '\377\376\n'
exec /bin/cat
