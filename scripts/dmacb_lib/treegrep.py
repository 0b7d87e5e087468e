# SPDX-License-Identifier: GPL-2.0
"""Whole-tree git greps of a clean commit, kept per commit and carried
from an ancestor's answer to a stable update's commit (grep_lines)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path

from . import ancestry
from .facts import changed_files
from .kernel import Kernel
from .util import cache_dir, file_digest

_CODE = file_digest([Path(__file__).resolve()])


def _in_spec(path: str, spec: tuple[str, ...]) -> bool | None:
    """Whether a git pathspec of plain globs and ':!' exclusions names
    path (git's default matching: '*' crosses '/', a directory names what
    is under it); None for other magic."""
    pos = [s for s in spec if not s.startswith(":")]
    neg = [s[2:] for s in spec if s.startswith(":!")]
    if len(pos) + len(neg) != len(spec):
        return None

    def hit(pat: str) -> bool:
        return path == pat or path.startswith(pat.rstrip("/") + "/") or \
            fnmatch.fnmatchcase(path, pat)
    return (not pos or any(hit(q) for q in pos)) and not any(hit(q) for q in neg)


def grep_lines(k: Kernel, args: list[str], spec: tuple[str, ...]) -> list[str]:
    """`git grep -n <args> -- <spec>` of the working tree, its lines.

    A clean tree's answer is kept per commit; a commit with an answer for
    a recent ancestor (ancestry.nearest()) takes that one, less the lines of the
    files changed since, plus the grep of those files that the pathspec
    names: a stable update greps a handful of files, not the tree.  Same
    lines, same order (git's: by path, then line)."""
    cmd = ["git", "-C", str(k.path), "grep", "-n", *args, "--"]
    if changed_files(k):
        return subprocess.run([*cmd, *spec], capture_output=True, text=True,
                              errors="replace").stdout.splitlines()
    key = hashlib.sha1(repr((_CODE, args, spec)).encode()).hexdigest()[:16]

    def path_of(commit: str) -> Path:
        return cache_dir() / "grep-lines" / f"{commit}-{key}.json"
    mine = path_of(k.head)
    try:
        return json.loads(mine.read_text())
    except (OSError, ValueError):
        pass
    got = None
    old = ancestry.nearest(k.path, k.head, lambda r: path_of(r).exists())
    if old is not None and _in_spec("", spec) is not None:
        try:
            before = json.loads(path_of(old).read_text())
        except (OSError, ValueError):
            before = None
        changed = ancestry.changed(k.path, old, k.head)
        todo = sorted(q for q in changed if _in_spec(q, spec) and (k.path / q).exists())
        if before is not None:
            got = [ln for ln in before if ln.split(":", 1)[0] not in changed]
            if todo:
                got += subprocess.run([*cmd, *todo], capture_output=True, text=True,
                                      errors="replace").stdout.splitlines()

                def order(ln: str):
                    path, num, _ = (ln.split(":", 2) + ["", ""])[:3]
                    return path.encode(), int(num) if num.isdigit() else 0
                got.sort(key=order)
    if got is None:
        got = subprocess.run([*cmd, *spec], capture_output=True, text=True,
                             errors="replace").stdout.splitlines()
    mine.parent.mkdir(parents=True, exist_ok=True)
    tmp = mine.with_name(mine.name + f".{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(got))
    tmp.replace(mine)
    return got
