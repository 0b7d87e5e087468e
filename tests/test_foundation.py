# SPDX-License-Identifier: GPL-2.0
"""The CLI's contract with its user: bad input, help, exit codes, kernel-tree."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import FIXTURE_TREE, git_tree, run_dmacb


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("dmacb: ")
    return lines[0]


@pytest.mark.parametrize("stage", ["audit", "convert", "verify", "series"])
def test_missing_kernel_path(tmp_path, stage):
    out = tmp_path / "reports"
    r = run_dmacb(stage, "--kernel", str(tmp_path / "nope"), *(["--out", str(out)]
                  if stage == "audit" else []), cache=tmp_path / "c")
    assert "no such directory" in one_line_error(r)
    assert not out.exists()


def test_not_a_kernel(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "Makefile").write_text("all:\n\ttrue\n")
    r = run_dmacb("audit", "--kernel", str(d), "--out", str(tmp_path / "o"), cache=tmp_path / "c")
    assert "not a Linux kernel source tree" in one_line_error(r)
    assert not (tmp_path / "o").exists()


def test_empty_dir(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    r = run_dmacb("audit", "--kernel", str(d), cache=tmp_path / "c")
    assert "empty" in one_line_error(r)


def test_kernel_without_git(tmp_path):
    import shutil
    shutil.copytree(FIXTURE_TREE, tmp_path / "linux")
    r = run_dmacb("audit", "--kernel", str(tmp_path / "linux"), "--out", str(tmp_path / "o"),
                  cache=tmp_path / "c")
    assert "not the top of a git repository" in one_line_error(r)
    assert not (tmp_path / "o").exists()


def test_env_kernel_is_honoured(tmp_path):
    r = run_dmacb("audit", cache=tmp_path / "c", env_extra={"KERNEL": str(tmp_path / "x")})
    assert f"KERNEL={tmp_path / 'x'}" in one_line_error(r)


def test_unknown_kver(tmp_path):
    r = run_dmacb("audit", "--kver", "5.4", cache=tmp_path / "c")
    assert "KVER=5.4" in one_line_error(r)


def test_later_stages_need_the_earlier_ones(tmp_path):
    """verify and series without a conversion: one line saying what to run,
    exit 2, nothing written into the tree."""
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    for stage in ("verify", "series"):
        r = run_dmacb(stage, "--kernel", str(tree), "--out", str(tmp_path / "out"),
                      cache=tmp_path / "c")
        assert r.returncode == 2, r.stderr
        assert "run 'dmacb convert'" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert subprocess.run(["git", "-C", str(tree), "status", "--porcelain"],
                          capture_output=True, text=True).stdout == ""


def test_help_lists_every_stage(tmp_path):
    r = run_dmacb("--help", cache=tmp_path / "c")
    assert r.returncode == 0
    for stage in ("deps", "kernel-tree", "audit", "convert", "verify", "series"):
        assert stage in r.stdout
    r = run_dmacb("audit", "--help", cache=tmp_path / "c")
    assert "KERNEL" in r.stdout and "--jobs" in r.stdout


def test_audit_does_not_touch_the_tree(fixture_audit):
    st = subprocess.run(["git", "-C", str(fixture_audit["tree"]), "status", "--porcelain",
                         "--ignored"], capture_output=True, text=True)
    assert st.stdout == ""


def _fake_source_tarball(tmp_path: Path, kver: str) -> Path:
    src = tmp_path / "usr-src"
    src.mkdir()
    with tarfile.open(src / f"linux-source-{kver}.tar.xz", "w:xz") as t:
        t.add(FIXTURE_TREE, arcname=f"linux-source-{kver}")
    return src


def test_kernel_tree_fallback_and_recovery(tmp_path):
    from dmacb_lib import kernel_tree
    src = _fake_source_tarball(tmp_path, "6.1")
    dest = tmp_path / "kernel-tree-6.1"
    # an interrupted earlier run left a half-unpacked directory
    partial = tmp_path / "kernel-tree-6.1.partial"
    partial.mkdir()
    (partial / "junk").write_text("half")
    kernel_tree.make_kernel_tree("6.1", dest=dest, srcdir=src, submodule=False)
    assert not partial.exists()
    assert (dest / "Makefile").exists()
    log = subprocess.run(["git", "-C", str(dest), "log", "--format=%an %s"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert log == ["dmacb Linux 6.99.0-fixture (Debian linux-source-6.1)"]
    head1 = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"],
                           capture_output=True, text=True).stdout
    # rerun: nothing to do
    kernel_tree.make_kernel_tree("6.1", dest=dest, srcdir=src, submodule=False)
    head2 = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"],
                           capture_output=True, text=True).stdout
    assert head1 == head2


def test_kernel_tree_refuses_foreign_content(tmp_path):
    from dmacb_lib import kernel_tree
    from dmacb_lib.util import UserError
    src = _fake_source_tarball(tmp_path, "6.1")
    dest = tmp_path / "kt"
    dest.mkdir()
    (dest / "precious.c").write_text("int x;\n")
    with pytest.raises(UserError, match="not empty"):
        kernel_tree.make_kernel_tree("6.1", dest=dest, srcdir=src, submodule=False)
    assert (dest / "precious.c").read_text() == "int x;\n"


def test_kernel_tree_submodule_is_pinned_at_v6_12():
    """The gitlink must stay at mainline v6.12, whatever the local fallback is."""
    from conftest import ROOT
    r = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-s", "kernel-tree"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.split()[:2] == ["160000", "adc218676eef25575469234709c2d87185ca223a"]
    gm = (ROOT / ".gitmodules").read_text()
    assert "shallow = true" in gm and "path = kernel-tree" in gm


def test_readme_reasons_table_is_the_vocabulary():
    """README's reasons table lists every reason of vocab.py, with the rule
    kb/rules.tsv gives it, and nothing else."""
    import re
    from conftest import ROOT
    from dmacb_lib import vocab
    from dmacb_lib.contract import tables
    t = tables.load()
    text = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| ([a-z-]+) \| (\d|-) \|", text, re.M))
    assert set(rows) == set(vocab.REASONS)
    for reason, rule in rows.items():
        want = t.rule_of_reason(reason)
        assert rule == (str(want) if want else "-"), reason
        assert vocab.REASONS[reason][0] == want, reason
