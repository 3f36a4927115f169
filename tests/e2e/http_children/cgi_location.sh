#!/bin/sh
# CGI: a Location header alone (RFC 3875 local redirect -> 302).
echo "Location: /x"
echo
