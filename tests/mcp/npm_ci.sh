#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the conformance test's pinned npm packages (package-lock.json) into DIR/node_modules.
# Skips the install when node_modules already matches the lock file.
#   npm_ci.sh NPM DIR
set -eu
npm="$1"
dir="$2"
cd "$dir"
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] &&
  [ -f node_modules/@modelcontextprotocol/sdk/package.json ]; then
  echo "npm_ci: node_modules in $dir is up to date"
  exit 0
fi
exec "$npm" ci --no-audit --no-fund --loglevel=warn
