#!/bin/sh
# Two lines, the last one without its newline, then exits 0.
printf 'one\ntwo'
