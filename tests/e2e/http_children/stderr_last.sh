#!/bin/sh
# For --passstderr: stdout is done before stderr's last lines, which come
# right before the exit, so the exit races them to the server.
echo "out"
exec >&-
i=1
while [ "$i" -le 20 ]; do
	echo "err $i" >&2
	i=$((i + 1))
done
