#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the audit against the floor: one plain spatch pass.

In one go on one tree (default kernel-tree, or KERNEL=):
  floor  spatch --jobs 2, matching only 'E->callback = F' (E a descriptor),
         over the audit's candidate files;
  cold   the full audit with an empty cache;
  rerun  the full audit again on the unchanged tree.
Targets (issue 3, issue 13): the whole audit, clients and providers, cold
<= 3x floor, where the floor's files are the client candidates and the
provider files (scripts/dmacb_lib/providers); rerun <= 1 s.  Each is run
--repeat times and the median is reported; the machine's load is printed,
because a loaded machine makes every figure meaningless.

The floor runs with spatch's token prefilter, as a plain pass does: it
skips every file without the word 'callback', more than half of the
provider files, which the audit cannot skip.  --no-prefilter-floor times
the floor with --disable-worth-trying-opt as well (the audit's own
setting: every file parsed once), and prints the ratio against it too.
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

from dmacb_lib import facts, kernel, providers          # noqa: E402

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
    ap.add_argument("--no-prefilter-floor", action="store_true",
                    help="also time the floor with --disable-worth-trying-opt")
    args = ap.parse_args()
    k = kernel.resolve(args.kernel, args.kver)
    cands = facts.candidates(k)
    pfiles = [p for p in providers.files(k) if p not in set(cands)]
    print(f"Linux {k.release}: {len(cands)} candidate files and {len(pfiles)} provider files; "
          f"load average {_load()} on {os.cpu_count()} CPUs")
    floor, floor_all, cold, rerun = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="dmacb-bench-") as tmp:
        cocci = Path(tmp, "floor.cocci")
        cocci.write_text(FLOOR_COCCI)
        groups = Path(tmp, "groups")
        groups.write_text("".join(f"{k.path / p}\n\n" for p in cands + pfiles))
        for i in range(args.repeat):
            # outside the tree: its .cocciconfig would add --use-gitgrep
            floor.append(timed(["spatch", "--sp-file", str(cocci), "--file-groups", str(groups),
                                "--jobs", "2", "--very-quiet"], cwd=tmp))
            if args.no_prefilter_floor:
                floor_all.append(timed(["spatch", "--sp-file", str(cocci), "--file-groups",
                                        str(groups), "--jobs", "2", "--very-quiet",
                                        "--disable-worth-trying-opt"], cwd=tmp))
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
    if floor_all:
        fa = statistics.median(floor_all)
        print(f"floor without the prefilter:         {fa:6.1f} s   runs: "
              + " ".join(f"{x:.1f}" for x in floor_all) + f"   cold = {c / fa:.1f}x it")
    print(f"audit rerun, unchanged tree:         {r:6.1f} s   runs: "
          + " ".join(f"{x:.1f}" for x in rerun) + "   (target <= 1 s)")
    print(f"load average at the end: {_load()}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "kernel": k.release, "candidates": len(cands), "provider_files": len(pfiles),
            "floor": floor, "floor_no_prefilter": floor_all, "cold": cold,
            "rerun": rerun, "ratio": c / f, "ratios": ratios,
            "load": os.getloadavg()}, indent=1) + "\n")
    return 0 if c <= 3 * f and r <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
