#!/bin/sh
# Says whether the server told it HTTPS=on, then echoes stdin (cat).
echo "HTTPS=${HTTPS:-unset}"
exec /bin/cat
