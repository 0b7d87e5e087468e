# SPDX-License-Identifier: GPL-2.0
"""'make kernel-tree': get the default kernel tree.

6.12 is the kernel-tree submodule (mainline v6.12).  Machines that reach no
git host fall back to Debian's linux-source-<kver> package: unpacked into
<dest>.partial, made a git repository with one base commit of fixed author
and date (so the base commit id is the same on every machine), and only then
renamed to <dest>.  An interrupted run leaves at most a .partial directory,
which the next run removes and redoes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import deps
from .kernel import DEFAULT_KVER, KVERS, default_tree, makefile_release
from .util import PROJECT, die, info

SUBMODULE_TIMEOUT = 60
BASE_ENV = {
    "GIT_AUTHOR_NAME": "dmacb", "GIT_AUTHOR_EMAIL": "dmacb@localhost",
    "GIT_COMMITTER_NAME": "dmacb", "GIT_COMMITTER_EMAIL": "dmacb@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}


def is_ready(dest: Path) -> bool:
    if makefile_release(dest) is None:
        return False
    r = subprocess.run(["git", "-C", str(dest), "rev-parse", "--show-toplevel"],
                       capture_output=True, text=True)
    if r.returncode != 0 or Path(r.stdout.strip()).resolve() != dest.resolve():
        return False
    return subprocess.run(["git", "-C", str(dest), "rev-parse", "-q", "--verify", "HEAD"],
                          capture_output=True).returncode == 0


def try_submodule(dest: Path) -> bool:
    if not (PROJECT / ".git").exists() or not (PROJECT / ".gitmodules").exists():
        return False
    info(f"fetching the kernel-tree submodule (timeout {SUBMODULE_TIMEOUT}s)")
    try:
        r = subprocess.run(["git", "-C", str(PROJECT), "submodule", "update", "--init",
                            "--depth", "1", "kernel-tree"],
                           capture_output=True, text=True, timeout=SUBMODULE_TIMEOUT,
                           env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.TimeoutExpired:
        info("submodule fetch timed out")
        return False
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        info(f"submodule fetch failed ({last})")
        return False
    return is_ready(dest)


def unpack_debian(kver: str, dest: Path, srcdir: Path = Path("/usr/src")) -> None:
    tarball = srcdir / f"linux-source-{kver}.tar.xz"
    if not tarball.exists() and srcdir == Path("/usr/src"):
        deps.apt_install([f"linux-source-{kver}"])
    if not tarball.exists():
        die(f"{tarball} missing after installing linux-source-{kver}")
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        info(f"removing {partial.name} left by an interrupted run")
        shutil.rmtree(partial)
    partial.mkdir()
    info(f"unpacking {tarball} into {partial.name}")
    subprocess.run(["tar", "-xJf", str(tarball), "--strip-components=1", "-C", str(partial)],
                   check=True)
    info("making it a git repository with one base commit (git add -f: "
         "Debian's .gitignore ignores everything)")
    env = {**os.environ, **BASE_ENV}
    git = ["git", "-C", str(partial)]
    subprocess.run(git + ["init", "-q", "-b", "master"], check=True)
    subprocess.run(git + ["add", "-f", "."], check=True, env=env)
    rel = makefile_release(partial)
    subprocess.run(git + ["commit", "-q", "--no-verify", "-m",
                          f"Linux {rel} (Debian linux-source-{kver})"],
                   check=True, env=env)
    if dest.exists():
        dest.rmdir()   # only an empty dir reaches here (checked by the caller)
    partial.rename(dest)


def make_kernel_tree(kver: str | None, dest: Path | None = None,
                     srcdir: Path = Path("/usr/src"), submodule: bool = True) -> Path:
    kver = kver or DEFAULT_KVER
    if kver not in KVERS:
        die(f"KVER={kver}: unknown; use one of {', '.join(KVERS)}")
    dest = dest or default_tree(kver)
    if is_ready(dest):
        info(f"{dest.name} is ready (Linux {makefile_release(dest)})")
        return dest
    if dest.exists() and any(dest.iterdir()):
        die(f"{dest} exists, is not empty and is not a usable kernel git tree; "
            f"move it away (dmacb never deletes a tree it did not finish making)")
    if submodule and kver == DEFAULT_KVER and try_submodule(dest):
        info(f"kernel-tree: submodule checked out")
        return dest
    # A failed submodule init may leave an empty directory or a .git file.
    if dest.exists() and any(dest.iterdir()):
        leftovers = [p.name for p in dest.iterdir()]
        if leftovers == [".git"] and (dest / ".git").is_file():
            (dest / ".git").unlink()
        else:
            die(f"{dest} was partly filled by the submodule fetch; move it away and rerun")
    info(f"falling back to Debian's linux-source-{kver}")
    unpack_debian(kver, dest, srcdir)
    info(f"{dest.name} is ready (Linux {makefile_release(dest)})")
    return dest
