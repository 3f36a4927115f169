#!/bin/sh
# Counts to 10, one number a second, then exits 0 (close 1000).
i=1
while [ "$i" -le 10 ]; do
	echo "$i"
	i=$((i + 1))
	sleep 1
done
