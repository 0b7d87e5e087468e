# SPDX-License-Identifier: GPL-2.0
"""Carry-forward on the real 6.12 tree (make check-real).

A clone of kernel-tree gets the helper-API series and the first half of the
committed reference series' driver patches (reports/<release>/series), as a
maintainer's tree would after part of the work was merged.  `make series` on
it must send exactly the other half, no API patch, and report the first half
as converted upstream.  The clone, its convert worktree and its reports live
in the test's temporary directory; kernel-tree is not touched.
"""

from __future__ import annotations

import email
import json
import email.policy
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

from dmacb_lib import kernel

pytestmark = pytest.mark.real

ENV = {**os.environ, "GIT_AUTHOR_NAME": "Landed", "GIT_AUTHOR_EMAIL": "landed@example.org",
       "GIT_COMMITTER_NAME": "Landed", "GIT_COMMITTER_EMAIL": "landed@example.org"}


def subject(p: Path) -> str:
    msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
    return re.sub(r"^\[PATCH[^\]]*\]\s*", "", " ".join(str(msg["Subject"]).split()))


def driver_patches(series: Path) -> list[Path]:
    """The provider and client patches, in the order they apply."""
    return [p for d in sorted(x for x in series.iterdir() if x.is_dir())
            if d.name != "00-dmaengine"
            for p in sorted(d.glob("*.patch")) if not p.name.startswith("0000-")]


def test_half_landed_sends_the_other_half(tmp_path):
    k = kernel.resolve(None, "6.12")
    series = ROOT / "reports" / k.release / "series"
    if not series.is_dir():
        pytest.skip(f"no reference series for {k.release}")
    patches = driver_patches(series)
    half, rest = patches[:len(patches) // 2], patches[len(patches) // 2:]
    api = sorted((ROOT / "patches" / "api" / "6.12").glob("*.patch"))

    tree = tmp_path / "linux"
    subprocess.run(["git", "clone", "-q", "--shared", str(k.path), str(tree)], check=True)
    subprocess.run(["git", "-C", str(tree), "am", "-q", *map(str, api), *map(str, half)],
                   check=True, env=ENV)

    out = tmp_path / "reports"
    try:
        r = subprocess.run(["make", "-s", "series", f"KERNEL={tree}", f"OUT={out}"],
                           cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        rel = out / k.release
        got = sorted(subject(p) for p in driver_patches(rel / "series"))
        assert got == sorted(subject(p) for p in rest)
        assert not (rel / "series" / "00-dmaengine").exists()
        assert "none: the tree has the whole helper-API series" in \
            (rel / "series" / "index.md").read_text()

        # the first half is reported as converted upstream
        summary = (rel / "summary.md").read_text()
        assert "the tree has all 10 patches of patches/api/6.12" in summary
        conv = json.loads((ROOT / "reports" / k.release / "convert.json").read_text())
        subj = {c["commit"]: " ".join(c["subject"].split()) for c in conv["commits"]}
        landed = {subject(p) for p in half}
        flagged = {(r["callback"], r["file"]) for r in conv["callbacks"]
                   if r["status"] == "converted" and r["action"] in ("hardirq", "task")
                   and subj.get(r["commit"]) in landed}
        section = summary.split("## Already in the tree", 1)[1].split("\n## ", 1)[0]
        upstream = set(re.findall(r"^  - `(\w+)\(\)` in (\S+): (?:hardirq|task)", section, re.M))
        assert upstream == flagged
        comp = {r["file"] for r in conv["callbacks"] if r["status"] == "converted"
                and r["action"] == "completion" and subj.get(r["commit"]) in landed}
        assert comp and comp == set(re.findall(r"^  - (\S+):\d+ ", section, re.M))
    finally:
        wt = subprocess.run(["git", "-C", str(tree), "worktree", "list", "--porcelain"],
                            capture_output=True, text=True).stdout
        for line in wt.splitlines():
            p = line.removeprefix("worktree ")
            if line.startswith("worktree ") and Path(p) != tree:
                subprocess.run(["git", "-C", str(tree), "worktree", "remove", "--force", p])
                shutil.rmtree(Path(p).parent, ignore_errors=True)
