#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the audit against the floor: one plain spatch pass.

In one go on one tree (default kernel-tree, or KERNEL=):
  floor  spatch --jobs 2, matching only 'E->callback = F' (E a descriptor),
         over the audit's candidate files;
  cold   the full audit with an empty cache;
  rerun  the full audit again on the unchanged tree.
Targets (issue 3): cold <= 3x floor, rerun <= 3 s.  Each is run --repeat
times and the median is reported; the machine's load is printed, because
a loaded machine makes every figure meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dmacb_lib import facts, kernel          # noqa: E402

FLOOR_COCCI = """\
@r@
struct dma_async_tx_descriptor *E;
expression F;
position p;
@@
E->callback@p = F

@script:python@
p << r.p;
@@
print(p[0].file, p[0].line)
"""

DMACB = Path(__file__).resolve().parent / "dmacb"


def timed(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> float:
    t = time.monotonic()
    subprocess.run(cmd, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or None)
    ap.add_argument("--kver", default=os.environ.get("KVER") or None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    k = kernel.resolve(args.kernel, args.kver)
    cands = facts.candidates(k)
    print(f"Linux {k.release}: {len(cands)} candidate files; load average "
          f"{_load()} on {os.cpu_count()} CPUs")
    floor, cold, rerun = [], [], []
    with tempfile.TemporaryDirectory(prefix="dmacb-bench-") as tmp:
        cocci = Path(tmp, "floor.cocci")
        cocci.write_text(FLOOR_COCCI)
        groups = Path(tmp, "groups")
        groups.write_text("".join(f"{k.path / p}\n\n" for p in cands))
        for i in range(args.repeat):
            # outside the tree: its .cocciconfig would add --use-gitgrep
            floor.append(timed(["spatch", "--sp-file", str(cocci), "--file-groups", str(groups),
                                "--jobs", "2", "--very-quiet"], cwd=tmp))
            cache = Path(tmp, f"cache{i}")
            env = {**os.environ, "DMACB_CACHE": str(cache)}
            out = Path(tmp, f"out{i}")
            cmd = [str(DMACB), "audit", "--kernel", str(k.path), "--out", str(out), "-j", "2"]
            cold.append(timed(cmd, env=env))
            rerun.append(timed(cmd, env=env))
    f, c, r = (statistics.median(x) for x in (floor, cold, rerun))
    print(f"floor (plain spatch pass, --jobs 2): {f:6.1f} s   runs: "
          + " ".join(f"{x:.1f}" for x in floor))
    print(f"audit cold:                          {c:6.1f} s   runs: "
          + " ".join(f"{x:.1f}" for x in cold) + f"   = {c / f:.1f}x floor (target <= 3x)")
    # each cold run next to the floor run just before it: less at the mercy
    # of a load that changes during the bench
    ratios = [x / y for x, y in zip(cold, floor)]
    print(f"  cold / floor, run by run:          {statistics.median(ratios):6.2f}x  runs: "
          + " ".join(f"{x:.2f}" for x in ratios))
    print(f"audit rerun, unchanged tree:         {r:6.1f} s   runs: "
          + " ".join(f"{x:.1f}" for x in rerun) + "   (target <= 3 s)")
    print(f"load average at the end: {_load()}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "kernel": k.release, "candidates": len(cands), "floor": floor, "cold": cold,
            "rerun": rerun, "ratio": c / f, "ratios": ratios,
            "load": os.getloadavg()}, indent=1) + "\n")
    return 0 if c <= 3 * f and r <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
