# SPDX-License-Identifier: GPL-2.0
"""dmacb convert on the fixture tree: branch, commits, report, reruns,
refusals.  The fixture tree has no drivers/dma, so a one-patch fixture
series (tests/fixtures/convert-api) stands in for the helper-API patches.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURE_TREE, ROOT, git_tree, run_dmacb

API = ROOT / "tests" / "fixtures" / "convert-api"
REL = "6.99.0-fixture"
BRANCH = f"dmacb/{REL}"

pytestmark = pytest.mark.skipif(shutil.which("spatch") is None, reason="needs spatch")


def git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], check=True, text=True,
                          capture_output=True).stdout


def convert(tree: Path, base: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_dmacb("convert", "--kernel", str(tree), "--out", str(base / "reports"),
                     *extra, cache=base / "cache", env_extra={"DMACB_API_SERIES": str(API)})


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("conv")
    tree = git_tree(FIXTURE_TREE, base / "linux")
    head = git(tree, "rev-parse", "HEAD").strip()
    r = convert(tree, base)
    assert r.returncode == 0, r.stderr
    doc = json.loads((base / "reports" / REL / "convert.json").read_text())
    return {"base": base, "tree": tree, "head": head, "doc": doc, "stderr": r.stderr}


def branch_file(c, path: str) -> str:
    return git(c["tree"], "show", f"{BRANCH}:{path}")


def rec(c, cb: str) -> dict:
    got = [r for r in c["doc"]["callbacks"] if r["callback"] == cb]
    assert len(got) == 1, cb
    return got[0]


def test_user_tree_untouched(converted):
    t = converted["tree"]
    assert git(t, "rev-parse", "HEAD").strip() == converted["head"]
    assert git(t, "status", "--porcelain", "--untracked-files=no") == ""
    assert git(t, "symbolic-ref", "--short", "HEAD").strip() == "master"


def test_api_first_then_one_commit_per_driver(converted):
    doc = converted["doc"]
    log = git(converted["tree"], "log", "--reverse", "--format=%H %s",
              f"{converted['head']}..{BRANCH}").splitlines()
    assert log[0].split(" ", 1)[1].startswith("dmaengine: fixture helper API")
    assert [ln.split()[0] for ln in log[:1]] == doc["api_commits"]
    assert len(log) == 1 + len(doc["commits"])
    for cm in doc["commits"]:
        files = git(converted["tree"], "show", "--format=", "--name-only",
                    cm["commit"]).split()
        assert files == cm["files"] and len(files) == 1
    # every callback with an action is accounted for, with a reason if not done
    audit = json.loads((converted["base"] / "reports" / REL / "callbacks.json").read_text())
    want = {(c["callback"], s["file"]) for c in audit["callbacks"] if c["action"] != "none"
            for s in c["sites"]}
    got = {(r["callback"], r["file"]) for r in doc["callbacks"]}
    assert want == got
    for r in doc["callbacks"]:
        assert r["status"] in ("converted", "not-converted")
        if r["status"] == "converted":
            assert r["commit"] in {c["commit"] for c in doc["commits"]}
        else:
            assert r["reason"] and r["kind"]


def test_param_expression_substituted_and_used_twice_kept(converted):
    text = branch_file(converted, "drivers/spi/spi-fixture-param.c")
    assert "dmaengine_desc_set_completion(rx, &ctl->host->rx_done);" in text
    assert "dmaengine_desc_set_completion(tx, &ctl->host->tx_done);" in text
    assert "static void fix_pm_rx_done" not in text   # deleted, with its comment
    assert "dmacb-expect: fix_pm_rx_done" not in text
    assert "static void fix_pm_tx_done(void *p)" in text   # still called directly
    assert rec(converted, "fix_pm_rx_done")["deleted"] is True
    assert rec(converted, "fix_pm_tx_done")["deleted"] is False


def test_flags_in_a_variable(converted):
    text = branch_file(converted, "drivers/mmc/host/fixture-flagsvar.c")
    assert "flags = DMA_PREP_INTERRUPT | DMA_CTRL_ACK | DMA_PREP_HARDIRQ_CALLBACK;" in text
    assert text.count("| DMA_PREP_HARDIRQ_CALLBACK") == 1


def test_task_flag(converted):
    text = branch_file(converted, "drivers/mmc/host/fixture-mutex.c")
    assert "DMA_PREP_TASK_CALLBACK" in text and "DMA_PREP_HARDIRQ_CALLBACK" not in text


def test_shared_callback_converted_once_in_its_library(converted):
    doc = converted["doc"]
    lib = "drivers/iio/buffer/fixture-buffer-dma.c"
    assert rec(converted, "fix_buf_block_done")["file"] == lib
    touched = {f for c in doc["commits"] for f in c["files"]}
    assert lib in touched
    assert not any("fixture-buf-user" in f for f in touched)
    assert "DMA_PREP_INTERRUPT |\n\t\t\t\t\t   DMA_PREP_HARDIRQ_CALLBACK);" in branch_file(
        converted, lib)


def test_smpl_cannot_apply_is_reported_and_file_untouched(converted):
    r = rec(converted, "fix_rx_done")          # assigned through a local 'cb'
    assert r["status"] == "not-converted" and r["kind"] == "manual"
    assert "assigned through 'cb'" in r["reason"]
    f = "drivers/spi/spi-fixture-var.c"
    assert branch_file(converted, f) == (FIXTURE_TREE / f).read_text()


def test_commit_message(converted):
    doc = converted["doc"]
    cm = next(c for c in doc["commits"] if c["files"] == ["drivers/spi/spi-fixture-param.c"])
    msg = git(converted["tree"], "log", "-1", "--format=%B", cm["commit"])
    assert msg.startswith("spi: fixture-param: use a dmaengine descriptor completion\n\n")
    assert "Signed-off-by: " in msg
    body = [ln for ln in msg.splitlines() if not ln.startswith("Signed-off-by: ")]
    assert all(len(ln) <= 75 for ln in body)


def test_rerun_changes_nothing(converted):
    c = converted
    tip = git(c["tree"], "rev-parse", BRANCH).strip()
    before = (c["base"] / "reports" / REL / "convert.json").read_bytes()
    r = convert(c["tree"], c["base"])
    assert r.returncode == 0, r.stderr
    assert "0 new commit(s)" in r.stderr
    assert git(c["tree"], "rev-parse", BRANCH).strip() == tip
    assert (c["base"] / "reports" / REL / "convert.json").read_bytes() == before


def test_refusals(tmp_path):
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    # a branch of that name that dmacb did not make
    git(tree, "branch", BRANCH)
    r = convert(tree, tmp_path)
    assert r.returncode == 2 and "was not made by dmacb" in r.stderr
    git(tree, "branch", "-D", BRANCH)
    # uncommitted changes to tracked files
    f = tree / "drivers/spi/spi-fixture-param.c"
    f.write_text(f.read_text() + "\n/* wip */\n")
    r = convert(tree, tmp_path)
    assert r.returncode == 2 and "uncommitted changes" in r.stderr
    assert "/* wip */" in f.read_text()          # never lost
    git(tree, "checkout", "--", "drivers/spi/spi-fixture-param.c")
    # dated in the past, so that a date carried forward cannot be "now"
    r = run_dmacb("convert", "--kernel", str(tree), "--out", str(tmp_path / "reports"),
                  cache=tmp_path / "cache", env_extra={"DMACB_API_SERIES": str(API),
                                                      "GIT_AUTHOR_DATE": "2001-02-03T04:05:06Z"})
    assert r.returncode == 0, r.stderr
    old_tip = git(tree, "rev-parse", BRANCH).strip()
    old = dict(ln.split(" ", 1)[::-1] for ln in git(
        tree, "log", "--format=%aI %s", f"master..{BRANCH}").splitlines())
    # HEAD moved on (a descendant: a stable update): rebuilt on it, the old
    # branch kept, and each driver commit of the same change keeps its date
    (tree / "NEWFILE").write_text("x\n")
    git(tree, "add", "NEWFILE")
    git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "next")
    r = convert(tree, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "HEAD moved on" in r.stderr
    assert git(tree, "rev-parse", f"refs/dmacb/previous/{BRANCH}").strip() == old_tip
    assert git(tree, "config", f"branch.{BRANCH}.dmacbBase").strip() == \
        git(tree, "rev-parse", "HEAD").strip()
    new = dict(ln.split(" ", 1)[::-1] for ln in git(
        tree, "log", "--format=%aI %s", f"master..{BRANCH}").splitlines())
    drivers = [s for s in old if "fixture helper API" not in s]
    assert drivers and all(new[s] == old[s] == "2001-02-03T04:05:06+00:00" for s in drivers)
    # HEAD moved elsewhere (not a descendant): refuse unless --force
    git(tree, "reset", "-q", "--hard", "HEAD~1")
    (tree / "OTHER").write_text("y\n")
    git(tree, "add", "OTHER")
    git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "other")
    r = convert(tree, tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr
    r = convert(tree, tmp_path, "--force")
    assert r.returncode == 0, r.stderr
    assert git(tree, "config", f"branch.{BRANCH}.dmacbBase").strip() == \
        git(tree, "rev-parse", "HEAD").strip()


def test_branch_of_another_api_series_is_refused(tmp_path):
    # a branch converted on another helper-API series (an earlier version of
    # dmacb's patches) is not converted again on top of it
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    other = tmp_path / "api-old"
    other.mkdir()
    patch = next(API.glob("*.patch")).read_text()
    (other / "0001-old.patch").write_text(patch.replace(
        "DMA_PREP_HARDIRQ_CALLBACK = (1 << 10),",
        "DMA_PREP_HARDIRQ_CALLBACK = (1 << 10), /* an earlier version */", 1))
    assert (other / "0001-old.patch").read_text() != patch
    r = run_dmacb("convert", "--kernel", str(tree), "--out", str(tmp_path / "reports"),
                  cache=tmp_path / "cache", env_extra={"DMACB_API_SERIES": str(other)})
    assert r.returncode == 0, r.stderr
    tip = git(tree, "rev-parse", BRANCH).strip()
    r = convert(tree, tmp_path)
    assert r.returncode == 2
    assert f"branch {BRANCH} carries another helper-API series" in r.stderr
    assert "--force" in r.stderr
    assert git(tree, "rev-parse", BRANCH).strip() == tip
    r = convert(tree, tmp_path, "--force")
    assert r.returncode == 0, r.stderr
    # rebuilt on the series of this run
    assert "an earlier version" not in git(tree, "diff", f"HEAD..{BRANCH}")
    assert "DMA_PREP_HARDIRQ_CALLBACK" in git(tree, "diff", f"HEAD..{BRANCH}")


def test_verify_rerun(converted, tmp_path, monkeypatch):
    """verify's second run of the rewrites: nothing changes on the branch,
    the flag script runs once for the single-callback files (not once per
    callback), and an undone rewrite is found and named, both for a
    flagged callback and for a deleted completion callback."""
    from dmacb_lib import kernel, rewrite, verify
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    doc = dict(converted["doc"], _out=str(converted["base"] / "reports" / REL))
    files = sorted({f for c in doc["commits"] for f in c["files"]})
    wt = tmp_path / "wt"
    for f in files:
        (wt / f).parent.mkdir(parents=True, exist_ok=True)
        (wt / f).write_text(branch_file(converted, f))
    k = kernel.resolve(str(converted["tree"]))

    calls = {"batch": 0, "one": []}
    real_batch, real_apply = rewrite.flag_outputs, rewrite.apply

    def batch(texts, *a, **kw):
        calls["batch"] += 1
        return real_batch(texts, *a, **kw)

    def one(text, name, item):
        calls["one"].append(item.callback)
        return real_apply(text, name, item)
    monkeypatch.setattr(rewrite, "flag_outputs", batch)
    monkeypatch.setattr(rewrite, "apply", one)

    assert verify.rerun_check(k, wt, doc, 2) == {f: "" for f in files}
    assert calls["batch"] >= 1
    assert "fix_pm_rx_done" not in calls["one"]           # deleted: no run needed
    flagged = "drivers/mmc/host/fixture-flagsvar.c"
    flagged_cbs = {r["callback"] for r in doc["callbacks"] if r["file"] == flagged}
    assert not flagged_cbs & set(calls["one"])            # done by the batch run

    # undo one flag and one completion: both are found, with the callback
    text = (wt / flagged).read_text()
    (wt / flagged).write_text(text.replace(" | DMA_PREP_HARDIRQ_CALLBACK;", ";"))
    param = "drivers/spi/spi-fixture-param.c"
    (wt / param).write_text((FIXTURE_TREE / param).read_text())
    got = verify.rerun_check(k, wt, doc, 2)
    assert got[flagged].startswith("a second run of the rewrite for ")
    assert got[flagged].split()[-4] in flagged_cbs
    assert "fix_pm_rx_done" in got[param] or "fix_pm_tx_done" in got[param]
    assert {f for f, v in got.items() if v} == {flagged, param}
    # the clean files' verdicts came from the cache this time
    assert got == verify.rerun_check(k, wt, doc, 2)


def test_failed_worktree_add_leaves_no_branch(tmp_path):
    # dmacb's worktree was deleted by hand while git keeps it locked (so
    # 'worktree prune' keeps it): a conversion onto another branch at the
    # same default path fails with git's reason, and leaves no branch that
    # would look like one dmacb did not make
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    assert convert(tree, tmp_path).returncode == 0
    wt = next((tmp_path / "cache" / "convert").iterdir()) / "linux"
    git(tree, "worktree", "lock", str(wt))
    shutil.rmtree(wt)
    r = convert(tree, tmp_path, "--branch", "other")
    assert r.returncode == 2 and "git worktree add" in r.stderr and "locked" in r.stderr
    assert "Traceback" not in r.stderr
    assert git(tree, "branch", "--list", "other").strip() == ""
    git(tree, "worktree", "unlock", str(wt))
    r = convert(tree, tmp_path, "--branch", "other")
    assert r.returncode == 0, r.stderr


def test_scratch_worktree_survives_a_tree_made_again(tmp_path):
    # make kernel-tree in a fresh CI clone unpacks Debian's tarball anew:
    # same path, same HEAD, but a .git that never heard of the cached
    # worktrees the real-tree tests and bench keep; reusing one on its
    # stamp alone fails in every git command run in it
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    from dmacb_lib import kernel, worktree
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    head = git(tree, "rev-parse", "HEAD").strip()
    k = kernel.Kernel(path=tree, release=REL, head=head)
    made = []

    def populate(wt):
        (wt / "marker").write_text("x")
        made.append(wt)
    wt = tmp_path / "cache" / "wt"
    assert worktree.scratch_worktree(k, wt, "s1", populate) == wt and len(made) == 1
    worktree.scratch_worktree(k, wt, "s1", populate)
    assert len(made) == 1                       # kept while the stamp holds
    shutil.copytree(tree / ".git", tmp_path / "git-copy")
    shutil.rmtree(tree / ".git")
    shutil.copytree(tmp_path / "git-copy", tree / ".git")
    shutil.rmtree(tree / ".git" / "worktrees")  # the tree made again
    assert git(tree, "rev-parse", "HEAD").strip() == head
    worktree.scratch_worktree(k, wt, "s1", populate)
    assert len(made) == 2
    assert git(wt, "rev-parse", "HEAD").strip() == head
    worktree.scratch_worktree(k, wt, "s2", populate)
    assert len(made) == 3                       # a new stamp: made again


def test_no_git_identity_is_refused(tmp_path):
    """The commits and their Signed-off-by are the user's: without an
    identity convert refuses before doing anything."""
    import os
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
           "DMACB_API_SERIES": str(API)}
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("GIT_AUTHOR_",
                                                                             "GIT_COMMITTER_"))}
    try:
        r = run_dmacb("convert", "--kernel", str(tree), "--out", str(tmp_path / "o"),
                      cache=tmp_path / "c", env_extra=env)
    finally:
        os.environ.update(saved)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "no git identity" in lines[0], r.stderr
    assert BRANCH not in git(tree, "branch", "--list")
    assert not (tmp_path / "o").exists()


def test_dates_are_now_unless_reproducible(converted, tmp_path):
    """The commits are dated now; --reproducible dates them like the base
    (git_tree dates the base commit 2000-01-01)."""
    import time
    tip = int(git(converted["tree"], "log", "-1", "--format=%at", BRANCH))
    assert abs(tip - time.time()) < 3600
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    r = convert(tree, tmp_path, "--reproducible")
    assert r.returncode == 0, r.stderr
    assert int(git(tree, "log", "-1", "--format=%at", BRANCH)) == 946684800


def test_old_stage_file_is_refused(tmp_path):
    """A convert.json written before formats had versions: one line, exit 2."""
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    out = tmp_path / "o" / REL
    out.mkdir(parents=True)
    (out / "convert.json").write_text(json.dumps({"kernel": REL, "callbacks": []}))
    r = run_dmacb("verify", "--kernel", str(tree), "--out", str(tmp_path / "o"),
                  cache=tmp_path / "c")
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "no format version" in lines[0] and \
        "expected dmacb-convert/2" in lines[0], r.stderr


def test_rebuild_keeps_the_mtime_of_what_it_did_not_change(tmp_path):
    """HEAD moved on: the rebuilt branch's unchanged files get their old
    mtimes back (make must not recompile them), a changed one does not."""
    import os
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    assert convert(tree, tmp_path).returncode == 0
    doc = json.loads((tmp_path / "reports" / REL / "convert.json").read_text())
    wt = Path(git(tree, "worktree", "list", "--porcelain").split("worktree ")[2].split("\n")[0])
    files = sorted({c["file"] for c in doc["callbacks"] if c["status"] == "converted"})
    same, edited = files[0], files[1]
    for f in (same, edited):
        os.utime(wt / f, ns=(10**18, 10**18))          # an old, recognisable mtime
    p = tree / edited
    p.write_text(p.read_text() + "\n/* stable update */\n")
    git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "update")
    r = convert(tree, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (wt / same).stat().st_mtime_ns == 10**18
    assert (wt / edited).stat().st_mtime_ns != 10**18
    assert "/* stable update */" in (wt / edited).read_text()
