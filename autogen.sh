#!/bin/sh
#  Generate configure and Makefile.in from a clean clone.
set -e
cd "$(dirname "$0")"
autoreconf --install --force --warnings=all
