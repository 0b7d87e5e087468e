#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Regenerate the committed reference reports and diff them.

For each Debian tree (kernel-tree: 6.12, kernel-tree-6.1: 6.1) the audit is
run into a temporary directory and compared file by file with
reports/<kernelrelease>/.  Exit 1 on any difference, with a unified diff of
the CSV (the JSON and Markdown follow from the same data).
"""

from __future__ import annotations

import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dmacb_lib import kernel                     # noqa: E402
from dmacb_lib.util import PROJECT, UserError     # noqa: E402

FILES = ("callbacks.csv", "callbacks.json", "summary.md", "index.html")


def main() -> int:
    bad = 0
    for kver in ("6.12", "6.1"):
        try:
            k = kernel.resolve(None, kver)
        except UserError as e:
            print(f"check-reports: {e}", file=sys.stderr)
            return 2
        ref = PROJECT / "reports" / k.release
        with tempfile.TemporaryDirectory(prefix="dmacb-ref-") as tmp:
            r = subprocess.run([str(PROJECT / "scripts" / "dmacb"), "audit", "--kver", kver,
                                "--out", tmp])
            if r.returncode:
                print(f"check-reports: audit of {k.release} failed", file=sys.stderr)
                return 1
            for name in FILES:
                a, b = ref / name, Path(tmp, k.release, name)
                if not a.exists():
                    print(f"{k.release}/{name}: no reference committed")
                    bad += 1
                    continue
                if a.read_text() != b.read_text():
                    bad += 1
                    print(f"{k.release}/{name}: differs from the reference")
                    if name == "callbacks.csv":
                        sys.stdout.writelines(difflib.unified_diff(
                            a.read_text().splitlines(True), b.read_text().splitlines(True),
                            str(a), "regenerated"))
                else:
                    print(f"{k.release}/{name}: same")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
