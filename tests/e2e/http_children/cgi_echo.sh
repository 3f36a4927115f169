#!/bin/sh
# CGI: echoes the request body (read from stdin) back as the response body.
echo "Content-Type: application/octet-stream"
echo
exec /bin/cat
