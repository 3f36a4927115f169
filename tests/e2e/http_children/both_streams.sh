#!/bin/sh
# For --passstderr: one line on stdout, one on stderr, then a stdout line
# holding the byte 0xff (not UTF-8) and a stderr line with a quote and a tab.
echo "out one"
echo "err one" >&2
printf 'bad \377 byte\n'
printf 'say "hi"\tnow\n' >&2
