#!/bin/sh
# CGI: "Status: 404 Not Found" with a short body.
echo "Status: 404 Not Found"
echo "Content-Type: text/plain"
echo
echo "nothing here"
