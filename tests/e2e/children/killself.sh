#!/bin/bash
# Says something, then kills itself with SIGKILL.
echo before
kill -KILL $$
sleep 30
