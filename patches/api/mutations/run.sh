#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Apply the given mutations of mutations.py to a patched kernel worktree
# (e.g. the one scripts/api_check.sh leaves in $DMACB_CACHE/api/<release>/src),
# run the KUnit suites once with its build directory, revert, and print the
# results.
# usage: run.sh <src> <kunit build dir> <kunitconfig> M1 [M2 ...]
export MUTDIR=$(cd "$(dirname "$0")" && pwd)
src=$1 b=$2 kc=$3
shift 3
log=${LOGDIR:-/tmp}/mutation-$(echo "$@" | tr ' ' '_').log
cd "$src" || exit 2
/usr/bin/python3 - "$@" <<'PY' || { git checkout -q -- drivers include; exit 2; }
import os, sys
sys.path.insert(0, os.environ["MUTDIR"])
from mutations import M
for m in sys.argv[1:]:
    for f, old, new in M[m][2]:
        s = open(f).read()
        assert old in s, (m, f, old[:60])
        open(f, "w").write(s.replace(old, new, 1))
PY
/usr/bin/python3 tools/testing/kunit/kunit.py run --build_dir="$b" \
	--kunitconfig="$kc" --jobs 2 --timeout 240 'dmaengine-callback*' >"$log" 2>&1
git checkout -q -- drivers include
grep -E '\[(PASSED|FAILED|CRASHED|SKIPPED)\]|Testing complete|ERROR' "$log" |
	grep -v latency | sed 's/^\[[0-9:]*\] //'
