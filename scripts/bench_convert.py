#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the convert stage, its provider and client rewrites apart.

Runs `dmacb convert --force --reproducible` on one tree (default
kernel-tree, or KERNEL=) --repeat times, on a branch and worktree of its
own (dmacb-bench/<release> in the cache; never the user's dmacb/<release>;
both removed at the end),
with the reports in a temporary directory, and prints for the whole run
and for each phase convert reports (providers: vchan_notify_irq(); provider
tasklets: the core's path; clients: the semantic patches and the driver
commits) the minimum, median and maximum.  A new worktree is checked out
by the first run, whose figures then include it (run 1 is printed apart).
Each run has an empty memory of spatch's rewrites (DMACB_REWRITE_CACHE): the
semantic patches run cold, the audit and the providers audit warm.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dmacb_lib import kernel                      # noqa: E402
from dmacb_lib.util import PROJECT, cache_dir     # noqa: E402

PHASES = re.compile(r"in ([0-9.]+)s \(([^)]*)\)\s*$")


def worktree_of(rel: str) -> Path:
    return cache_dir() / "bench-convert" / rel / "linux"


def cleanup(tree: Path, rel: str) -> None:
    """Leave the user's tree without the bench's branch and worktree."""
    branch = f"dmacb-bench/{rel}"
    for args in (["worktree", "remove", "--force", str(worktree_of(rel))],
                 ["branch", "-D", branch], ["config", "--remove-section", f"branch.{branch}"]):
        subprocess.run(["git", "-C", str(tree), *args], capture_output=True)


def one(tree: Path, rel: str, out: Path) -> tuple[float, dict[str, float]]:
    wt = worktree_of(rel)
    cmd = [str(PROJECT / "scripts" / "dmacb"), "convert", "--kernel", str(tree),
           "--branch", f"dmacb-bench/{rel}", "--worktree", str(wt), "--out", str(out),
           "--force", "--reproducible"]
    # the rewrites cold (convert remembers spatch's output per input,
    # rewrite._memo()): each run with an empty memory of its own
    with tempfile.TemporaryDirectory(prefix="dmacb-bench-rw-") as memo:
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True,
                           env={**os.environ, "DMACB_REWRITE_CACHE": memo})
        wall = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench-convert: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    last = [ln for ln in r.stderr.splitlines() if ln.startswith("dmacb: convert:")][-1]
    m = PHASES.search(last)
    if not m:
        sys.exit(f"bench-convert: no phase times in: {last}")
    phases = {"stage": float(m.group(1))}
    for part in m.group(2).split(", "):
        name, t = part.rsplit(" ", 1)
        phases[name] = float(t.rstrip("s"))
    return wall, phases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or str(PROJECT / "kernel-tree"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tree = Path(a.kernel).resolve()
    rel = kernel.makefile_release(tree) or "unknown"
    load = os.getloadavg()
    print(f"bench-convert: {tree} (Linux {rel}), {a.repeat} run(s), load "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="dmacb-bench-convert-") as tmp:
            for i in range(a.repeat):
                wall, ph = one(tree, rel, Path(tmp))
                runs.append((wall, ph))
                print(f"  run {i + 1}: {wall:.1f}s  " +
                      "  ".join(f"{n} {t:.1f}s" for n, t in ph.items()))
    finally:
        cleanup(tree, rel)
    print("\n| figure | min | median | max |\n|---|---:|---:|---:|")
    rows = [("wall (process)", [w for w, _ in runs])]
    for name in runs[0][1]:
        rows.append((name, [ph.get(name, 0.0) for _, ph in runs]))
    for name, xs in rows:
        print(f"| {name} | {min(xs):.1f} s | {statistics.median(xs):.1f} s | {max(xs):.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
