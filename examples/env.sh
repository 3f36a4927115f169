#!/bin/sh
# Shows the CGI environment the session runs with.
env | sort
