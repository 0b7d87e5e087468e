# SPDX-License-Identifier: GPL-2.0
"""Which kernel tree a stage works on, and whether it is usable.

Every stage accepts KERNEL=/path.  Without it the default is the project's
kernel-tree (6.12) or, with KVER=6.1, kernel-tree-6.1.  A tree must be a
kernel source tree and a git repository: later stages convert in a git
worktree, and the audit cache is keyed on git blob ids.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .util import PROJECT, die

DEFAULT_KVER = "6.12"
KVERS = ("6.12", "6.1")


def default_tree(kver: str) -> Path:
    if kver == DEFAULT_KVER:
        return PROJECT / "kernel-tree"
    return PROJECT / f"kernel-tree-{kver}"


@dataclass
class Kernel:
    path: Path
    release: str        # 6.12.117, from the top-level Makefile
    head: str           # commit id of HEAD

    def git(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(self.path), *args],
                              check=True, text=True, capture_output=True, **kw)


def makefile_release(path: Path) -> str | None:
    """VERSION.PATCHLEVEL.SUBLEVEL[EXTRAVERSION], or None if not a kernel."""
    try:
        text = (path / "Makefile").read_text(errors="replace")[:4096]
    except OSError:
        return None
    vals = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=[ \t]*(\S*)", text, re.M)
        if not m:
            return None
        vals[key] = m.group(1)
    if not vals["VERSION"].isdigit() or not vals["PATCHLEVEL"].isdigit():
        return None
    rel = f"{vals['VERSION']}.{vals['PATCHLEVEL']}"
    if vals["SUBLEVEL"]:      # as Kbuild: v6.12 is 6.12.0
        rel += f".{vals['SUBLEVEL']}"
    return rel + vals["EXTRAVERSION"]


def resolve(kernel: str | None, kver: str | None = None) -> Kernel:
    """Validate the tree named by KERNEL= (or the default); exit on problems.

    Each failure is one line saying what is wrong and what to do.
    """
    kver = kver or DEFAULT_KVER
    if kernel:
        path = Path(kernel).expanduser()
        origin = f"KERNEL={kernel}"
        fix = "point KERNEL= at a Linux source tree that is a git checkout"
    else:
        if kver not in KVERS:
            die(f"KVER={kver}: unknown; use one of {', '.join(KVERS)} or KERNEL=/path")
        path = default_tree(kver)
        origin = f"default tree {path.relative_to(PROJECT)}"
        fix = f"run 'make kernel-tree{'' if kver == DEFAULT_KVER else ' KVER=' + kver}' first"
    if not path.exists():
        die(f"{origin}: no such directory; {fix}")
    if not path.is_dir():
        die(f"{origin}: not a directory; {fix}")
    path = path.resolve()
    if not any(path.iterdir()):
        die(f"{origin}: directory is empty; {fix}")
    release = makefile_release(path)
    if release is None or not (path / "include" / "linux").is_dir():
        die(f"{origin}: not a Linux kernel source tree (no top-level Makefile "
            f"with VERSION/PATCHLEVEL, or no include/linux); {fix}")
    top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"],
                         text=True, capture_output=True)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != path:
        die(f"{origin}: not the top of a git repository; dmacb converts in a git "
            f"worktree and never edits a tree in place: run 'git init && git add -f . "
            f"&& git commit -m base' there, or use 'make kernel-tree'")
    head = subprocess.run(["git", "-C", str(path), "rev-parse", "--verify", "-q", "HEAD"],
                          text=True, capture_output=True)
    if head.returncode != 0:
        die(f"{origin}: git repository has no commit yet; commit the tree first")
    return Kernel(path=path, release=release, head=head.stdout.strip())
