#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Regenerate the committed reference reports, and say what changed.

The only command that writes into the project's reports/ (a user's run
goes to --out or ~/.local/share/dmacb/reports).  For each Debian tree
(kernel-tree: 6.12, kernel-tree-6.1: 6.1) every stage runs with
--out reports/ and --reproducible: audit, convert, verify, parity, series.
Then dmacb diff of the two releases goes to reports/diff/<old>..<new>/, and
the regenerated files are compared with the committed ones (git):
exit 1 on any difference, with the list and a diff of the CSV, so that a
change of behaviour that forgets its references fails CI.  In convert.md
and verify.md only the lines with wall times or the worktree's path may
differ (they differ from machine to machine); a file that differs only
there is restored, so that a clean check leaves the checkout clean.

  scripts/check_reports.py [--audit-only] [--kver 6.12|6.1]...
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dmacb_lib import kernel                     # noqa: E402
from dmacb_lib.util import PROJECT, UserError     # noqa: E402

DMACB = PROJECT / "scripts" / "dmacb"
UNSTABLE = ("convert.md", "verify.md")


# the lines of convert.md and verify.md that may differ between runs
VOLATILE = re.compile(r"Wall time|/\.cache/|worktree")


def volatile_only(path: str) -> bool:
    """Do the file's changes against the committed reference touch only
    volatile lines (wall times, the worktree's path)?"""
    diff = subprocess.run(["git", "-C", str(PROJECT), "diff", "-U0", "--", path],
                          capture_output=True, text=True).stdout.splitlines()
    lines = [ln for ln in diff if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return all(VOLATILE.search(ln) for ln in lines)


def stages(audit_only: bool) -> list[list[str]]:
    if audit_only:
        return [["audit"]]
    return [["audit"], ["convert", "--reproducible"], ["verify"], ["parity"],
            ["series", "--reproducible"]]


def new_release(rel: str) -> list[str]:
    """The committed releases of rel's major.minor when rel itself has none."""
    listed = subprocess.run(["git", "-C", str(PROJECT), "ls-files", "--", "reports"],
                            capture_output=True, text=True).stdout.split()
    rels = {Path(f).parts[1] for f in listed if len(Path(f).parts) > 2}
    if rel in rels:
        return []
    series = rel.split(".")[:2]
    return sorted(r for r in rels if r.split(".")[:2] == series)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audit-only", action="store_true",
                    help="regenerate only the audit's files (seconds, not minutes)")
    ap.add_argument("--kver", action="append", choices=("6.12", "6.1"),
                    help="one tree (default: both)")
    args = ap.parse_args()
    out = PROJECT / "reports"
    rels = []
    for kver in args.kver or ("6.12", "6.1"):
        try:
            k = kernel.resolve(None, kver)
        except UserError as e:
            print(f"check-reports: {e}", file=sys.stderr)
            return 2
        rels.append(k.release)
        for st in stages(args.audit_only):
            r = subprocess.run([str(DMACB), st[0], "--kver", kver, "--out", str(out), *st[1:]])
            # verify and parity exit 1 when a driver fails: that is a result,
            # which the comparison shows, not an error of this script
            if r.returncode not in (0, 1) or (r.returncode == 1 and st[0] not in
                                               ("verify", "parity")):
                print(f"check-reports: {st[0]} of {k.release} failed", file=sys.stderr)
                return 1
    dirs = [out / rel for rel in rels]
    if len(rels) == 2:
        # the release-to-release reference: 6.1 -> 6.12, whatever order
        # --kver gave them in
        old, new = sorted(rels, key=lambda r: [int(x) for x in re.findall(r"\d+", r)])
        d = out / "diff" / f"{old}..{new}"
        if subprocess.run([str(DMACB), "diff", str(out / old), str(out / new), "--out",
                           str(d)]).returncode != 0:
            print(f"check-reports: diff {old} {new} failed", file=sys.stderr)
            return 1
        dirs.append(d)
    bad = 0
    for d in dirs:
        rel = d.name
        stale = new_release(rel) if d.parent == out else []
        if stale:
            # Debian's linux-source follows stable: a new point release has
            # no reference yet, and every one of its files is new
            print(f"check-reports: {rel} has no committed reference (committed: "
                  f"{', '.join(stale)}): Debian's tree moved to a new release; review "
                  f"reports/{rel} against them, then 'git add -f reports/{rel}' and "
                  f"'git rm -r' the release it replaces", file=sys.stderr)
        st = subprocess.run(["git", "-C", str(PROJECT), "status", "--porcelain",
                             "--untracked-files=all", "--", str(d)],
                            capture_output=True, text=True).stdout.splitlines()
        changed = [ln[3:] for ln in st if not ln[3:].endswith(UNSTABLE)]
        for f in (ln[3:] for ln in st if ln[3:].endswith(UNSTABLE) and ln[:2] == " M"):
            if volatile_only(f):
                # leave the checkout as it was: only times and paths moved
                subprocess.run(["git", "-C", str(PROJECT), "checkout", "--", f])
            else:
                changed.append(f)
        for c in changed:
            print(f"{c}: differs from the committed reference")
        if not changed:
            print(f"{rel}: every reference file regenerated identical")
        bad += len(changed)
        subprocess.run(["git", "-C", str(PROJECT), "--no-pager", "diff", "--stat", "--",
                        str(d)])
        subprocess.run(["git", "-C", str(PROJECT), "--no-pager", "diff", "--",
                        str(d / "callbacks.csv")])
    if bad:
        print(f"check-reports: {bad} reference file(s) changed: commit them if the change "
              f"is intended", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
