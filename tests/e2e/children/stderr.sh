#!/bin/bash
# Writes two lines to stderr (they belong in the server's log), one to stdout.
echo "oops one" >&2
echo 'oops two' >&2
echo done
