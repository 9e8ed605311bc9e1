#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Usage: check_exports.sh DIR|FILE...
# Fails unless every plugin exports exactly one dynamic symbol: agent_runner_plugin_entry.
set -u
status=0
checked=0
for arg in "$@"; do
  if [ -d "$arg" ]; then set -- "$arg"/*.so; else set -- "$arg"; fi
  for f in "$@"; do
    [ -f "$f" ] || continue
    syms=$(nm -D --defined-only "$f" | awk '{print $NF}' | sort -u)
    checked=$((checked + 1))
    if [ "$syms" != "agent_runner_plugin_entry" ]; then
      echo "FAIL: $f exports:"; echo "$syms" | sed 's/^/  /'
      status=1
    else
      echo "ok: $f exports only agent_runner_plugin_entry"
    fi
  done
done
[ "$checked" -gt 0 ] || { echo "FAIL: no plugin checked"; exit 1; }
exit $status
