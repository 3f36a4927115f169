#!/bin/sh
# CGI: a text/plain response holding the script's environment, sorted.
echo "Content-Type: text/plain"
echo
/usr/bin/env | LC_ALL=C /usr/bin/sort
