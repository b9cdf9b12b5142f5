#!/bin/sh
# Generate configure and Makefile.in; none of the generated files are committed.
set -e
cd "$(dirname "$0")"
mkdir -p m4
exec autoreconf --install --force --warnings=all
