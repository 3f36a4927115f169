#!/bin/bash
# Says goodbye, then exits with status $1.
echo "bye $1"
exit "$1"
