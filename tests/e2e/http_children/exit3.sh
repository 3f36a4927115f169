#!/bin/sh
# One line, then exits 3.
echo bye
exit 3
