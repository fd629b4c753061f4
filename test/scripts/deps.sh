#!/usr/bin/env bash
# deps.sh: install the Debian packages customercard builds and tests with.
source "$(dirname "$0")/lib.sh"
ensure_deps
