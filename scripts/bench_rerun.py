#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the rerun of the whole chain (make series) on a tree that did
not change, and on one where a stable update changed a handful of client
files (issue 17, "Incremental rerun").

It sets up the state it measures: a clone of the tree (git clone --shared,
under the cache, never the tree itself), one untimed `make series` on it to
warm every cache, then
  unchanged  `make series` again, --repeat times;
  update     --repeat times, each on top of the last: commit an edit to
             --edits converted client files (a blank line before their
             first #include: every line number below it moves, as in a
             stable update), `make series`.
Each run prints its wall time and the stages' own times (audit, convert,
verify, series); after an update it says which series directories came out
byte-identical to the run before the edit.

Targets (issue 17, this 2-core machine): update at most 60 s with the audit
at most 3 s; unchanged at most 15 s.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dmacb_lib import kernel                      # noqa: E402
from dmacb_lib.util import PROJECT, cache_dir     # noqa: E402

STAGE = {"audit": re.compile(r"audit: .*\(([\d.]+)s\)$"),
         "convert": re.compile(r"convert: \d+ converted.* in ([\d.]+)s \("),
         "verify": re.compile(r"verify: \d+ pass.*\(([\d.]+)s\)$"),
         "series": re.compile(r"series: .*\(([\d.]+)s\)$")}


def git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], check=True, text=True,
                          capture_output=True).stdout


def series(tree: Path, out: Path) -> tuple[float, dict[str, float], str]:
    t = time.monotonic()
    r = subprocess.run(["make", "-s", "series", f"KERNEL={tree}", f"OUT={out}"], cwd=PROJECT,
                       capture_output=True, text=True)
    wall = time.monotonic() - t
    if r.returncode != 0:
        sys.exit(f"bench-rerun: make series failed:\n{r.stderr[-2000:]}")
    stages = {}
    for line in r.stderr.splitlines():
        for name, rx in STAGE.items():
            m = rx.search(line)
            if m and name not in stages:
                stages[name] = float(m.group(1))
    return wall, stages, r.stderr


def snapshot(d: Path) -> dict[str, bytes]:
    """Patch files by series name (without its number: a series that
    drops out renumbers the ones after it) and file name."""
    return {re.sub(r"^\d+-", "", str(p.relative_to(d))): p.read_bytes()
            for p in sorted(d.rglob("*.patch"))}


def show(label: str, wall: float, stages: dict[str, float]) -> None:
    print(f"{label}: {wall:.1f} s (" + ", ".join(f"{n} {t:.1f} s" for n, t in stages.items())
          + ")", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", help="the tree to clone (default: kernel-tree)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--edits", type=int, default=5)
    args = ap.parse_args()
    k = kernel.resolve(args.kernel)
    ref = PROJECT / "reports" / k.release / "convert.json"
    conv = json.loads(ref.read_text())
    # converted clients, one per subsystem first: a stable update touches
    # several subsystems
    files, seen = [], set()
    for r in sorted(conv["callbacks"], key=lambda r: r["file"]):
        sub = r["file"].split("/")[1]
        if r["status"] == "converted" and r["file"] not in files and sub not in seen:
            files.append(r["file"])
            seen.add(sub)
    files = files[:args.edits]

    root = cache_dir() / "bench" / f"rerun-{k.release}"
    tree, out = root / "linux", root / "reports"
    if tree.exists():
        for line in git(tree, "worktree", "list", "--porcelain").splitlines():
            p = line.removeprefix("worktree ")
            if line.startswith("worktree ") and Path(p) != tree:
                subprocess.run(["git", "-C", str(tree), "worktree", "remove", "--force", p],
                               capture_output=True)
        shutil.rmtree(root)
    root.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--shared", str(k.path), str(tree)], check=True)
    print(f"bench-rerun: Linux {k.release}, a clone in {tree}; edits to: {', '.join(files)}",
          flush=True)
    wall, stages, _ = series(tree, out)
    show("warm-up (cold for this clone)", wall, stages)

    runs = []
    for i in range(args.repeat):
        wall, stages, _ = series(tree, out)
        show(f"unchanged {i + 1}", wall, stages)
        runs.append((wall, stages))
    before = snapshot(out / k.release / "series")

    upd = []
    for i in range(args.repeat):
        # each update on top of the last, as stable releases follow each other
        for f in files:
            # a blank line before the first #include: valid C wherever the
            # file's header comment ends, and every later line number moves
            p = tree / f
            lines = p.read_text().split("\n")
            at = next(n for n, ln in enumerate(lines) if ln.startswith("#include"))
            lines.insert(at, "")
            p.write_text("\n".join(lines))
        git(tree, "commit", "-q", "-am", f"stable update {i + 1}")
        wall, stages, _ = series(tree, out)
        show(f"update {i + 1}", wall, stages)
        upd.append((wall, stages))
    after = snapshot(out / k.release / "series")
    same = sorted(p for p in before if after.get(p) == before[p])
    dirs = sorted({p.split("/")[0] for p in before})
    whole = [d for d in dirs if all(after.get(p) == b for p, b in before.items()
                                    if p.startswith(d + "/") and "0000-cover" not in p)]
    print(f"patches byte-identical after the update: {len(same)} of {len(before)}; series "
          f"whose patches (cover letters aside) are all identical: {len(whole)} of {len(dirs)}")

    for label, rs in (("unchanged", runs), ("update", upd)):
        med = statistics.median(w for w, _ in rs)
        names = sorted({n for _, s in rs for n in s})
        print(f"{label}: median {med:.1f} s over {len(rs)} runs (min {min(w for w, _ in rs):.1f}, "
              f"max {max(w for w, _ in rs):.1f}); stages, median: " +
              ", ".join(f"{n} {statistics.median(s.get(n, 0) for _, s in rs):.1f} s"
                        for n in names))
    # leave nothing behind but the cache: the clone's convert worktree too
    for line in git(tree, "worktree", "list", "--porcelain").splitlines():
        p = line.removeprefix("worktree ")
        if line.startswith("worktree ") and Path(p) != tree:
            subprocess.run(["git", "-C", str(tree), "worktree", "remove", "--force", p],
                           capture_output=True)
            shutil.rmtree(Path(p).parent, ignore_errors=True)
    shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
