#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs whatever agent-runner needs to build and test that is missing on this Debian 12
# machine. Idempotent; quiet when everything is already there. Run as root (or with sudo).
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --build  only what building needs
#   scripts/install-deps.sh --bench  what building needs plus the baselines of bench/run
set -eu

build_pkgs="cmake g++ make pkg-config ccache libboost1.81-dev libboost-json1.81-dev libyaml-cpp-dev
libspdlog-dev libcurl4-openssl-dev libre2-dev libcli11-dev libhiredis-dev libssl-dev"
test_pkgs="libgtest-dev libgmock-dev python3 nodejs npm binutils dpkg-dev fakeroot lintian file
iproute2 procps redis-server clang libclang-rt-14-dev clang-format clang-tidy"
# bench/run's baselines: ripgrep, Node (server-filesystem and the MCP client, pinned in
# bench/node/package-lock.json, which bench/run installs with npm ci), python3 (bench/run itself),
# redis-server (the worker cases).
bench_pkgs="ripgrep python3 nodejs npm redis-server"

case "${1:-}" in
  --build) pkgs="$build_pkgs" ;;
  --bench) pkgs="$build_pkgs $bench_pkgs" ;;
  *) pkgs="$build_pkgs $test_pkgs" ;;
esac

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
# node and npm may come from elsewhere (e.g. a NodeSource or image-provided install): accept them.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo $missing)
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing: $missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
