# SPDX-License-Identifier: GPL-2.0
"""A new commit's nearest ancestor with a cached answer, and what changed
since: how the caches keyed on a commit carry an answer to a stable
update's commit instead of computing it for the whole tree again."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

# How far back an ancestor with an answer is looked for.
ANCESTORS = 50


def nearest(tree: Path, head: str, has: Callable[[str], bool]) -> str | None:
    """The nearest proper ancestor of head (at most ANCESTORS back) for
    which has(commit) holds."""
    revs = subprocess.run(["git", "-C", str(tree), "rev-list", f"--max-count={ANCESTORS}",
                           head], capture_output=True, text=True).stdout.split()[1:]
    return next((r for r in revs if has(r)), None)


def changed(tree: Path, old: str, new: str, *spec: str) -> set[str]:
    """Paths added, deleted or modified from old to new (a rename is both
    of its paths), optionally limited to a pathspec."""
    r = subprocess.run(["git", "-C", str(tree), "diff", "--name-only", "-z", "--no-renames",
                        old, new, "--", *spec], capture_output=True, text=True, check=True)
    return {p for p in r.stdout.split("\0") if p}
