#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# clang-tidy (checks in .clang-tidy) on the C++ sources of host/, sdk/ and plugins/, with the
# compile commands of a configured build (default build-ci).
#   scripts/clang-tidy.sh [BUILD_DIR]         the files changed since the merge base with main
#                                             (on main: the files of its newest commit)
#   AR_TIDY_ALL=1 scripts/clang-tidy.sh       every file (about 100; minutes on 2 cores)
# Changed files only by default: the whole tree takes several minutes on the CI machine's two
# cores, a change's files take seconds, and every file was clean when this was added.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-ci}
[ -f "$build/compile_commands.json" ] || { echo "clang-tidy.sh: configure $build first" >&2; exit 2; }
pattern='^(host|sdk|plugins)/.*\.cpp$'
files=()
if [ "${AR_TIDY_ALL:-0}" = 1 ]; then
  mapfile -t files < <(git ls-files | grep -E "$pattern")
  echo "clang-tidy: all ${#files[@]} files"
else
  # A branch: what it changed since it left main. Main itself (CI's clean checkout): what its
  # newest commit changed, against its first parent. No history at all: nothing to compare.
  base=$(git merge-base HEAD main 2>/dev/null || true)
  if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
    base=$(git rev-parse -q --verify 'HEAD^1' || true)
  fi
  if [ -z "$base" ]; then
    echo "clang-tidy: no parent commit to compare with (shallow clone?); AR_TIDY_ALL=1 checks all"
    exit 0
  fi
  mapfile -t files < <(git diff --name-only --diff-filter=AM "$base" -- | grep -E "$pattern" || true)
  echo "clang-tidy: ${#files[@]} file(s) changed since $(git rev-parse --short "$base")"
fi
[ ${#files[@]} -gt 0 ] || exit 0
# Files the build does not compile (a plugin switched off) have no compile command: skip them.
mapfile -t files < <(for f in "${files[@]}"; do
  grep -q "\"file\": \"$PWD/$f\"" "$build/compile_commands.json" && echo "$f"; done)
exec run-clang-tidy -quiet -p "$build" -j "$(nproc)" "${files[@]/#/$PWD/}"
