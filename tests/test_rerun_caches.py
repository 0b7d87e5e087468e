# SPDX-License-Identifier: GPL-2.0
"""The caches that make a rerun fast (issue 17, "Incremental rerun"): each
reuses a result only for the same inputs, and recomputes on any change."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dmacb_lib import rewrite, series

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))


def test_spatch_output_is_remembered_per_input(monkeypatch, tmp_path):
    calls = []

    def fake(script, defines, text, name):
        calls.append(text)
        return text.replace("0", "DMA_PREP_HARDIRQ_CALLBACK")
    monkeypatch.setattr(rewrite, "_run_spatch", fake)
    script = tmp_path / "s.cocci"
    script.write_text("@r@\n@@\n")
    a = rewrite.run_spatch(script, ["cb=x"], "f(0);\n", "a.c")
    assert rewrite.run_spatch(script, ["cb=x"], "f(0);\n", "a.c") == a and len(calls) == 1
    rewrite.run_spatch(script, ["cb=y"], "f(0);\n", "a.c")         # other define
    rewrite.run_spatch(script, ["cb=x"], "f(0); \n", "a.c")        # other text
    script.write_text("@r2@\n@@\n")                                 # other script
    rewrite.run_spatch(script, ["cb=x"], "f(0);\n", "a.c")
    assert len(calls) == 4

    def boom(*a):
        raise RuntimeError("spatch exited 1")
    monkeypatch.setattr(rewrite, "_run_spatch", boom)
    with pytest.raises(RuntimeError):        # a failure is not remembered
        rewrite.run_spatch(script, ["cb=z"], "f(0);\n", "a.c")


def test_opcodes_trimmed_agree_with_difflib():
    """The trimmed diff gives the same changes as difflib on the whole."""
    import difflib
    rnd = random.Random(7)
    words = ["a", "b", "(", ")", ";", "|", "0", "x"]
    for _ in range(300):
        a = [rnd.choice(words) for _ in range(rnd.randint(0, 40))]
        b = list(a)
        for _ in range(rnd.randint(0, 3)):
            i = rnd.randint(0, len(b))
            if rnd.random() < 0.5 and i < len(b):
                del b[i]
            else:
                b.insert(i, rnd.choice(words))
        got = rewrite.opcodes(a, b)
        # applying the opcodes to a gives b, and they cover a and b in order
        out, ai, bi = [], 0, 0
        for op, a1, a2, b1, b2 in got:
            assert (a1, b1) == (ai, bi)
            out += a[a1:a2] if op == "equal" else b[b1:b2]
            ai, bi = a2, b2
        assert (ai, bi) == (len(a), len(b)) and out == b
        # as small as difflib's own
        ref = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        changed = sum(a2 - a1 + b2 - b1 for op, a1, a2, b1, b2 in got if op != "equal")
        assert changed <= sum(a2 - a1 + b2 - b1 for op, a1, a2, b1, b2 in ref if op != "equal")


def git(tree: Path, *args: str, **kw) -> str:
    kw.setdefault("env", ENV)
    return subprocess.run(["git", "-C", str(tree), *args], check=True, text=True,
                          capture_output=True, **kw).stdout


@pytest.fixture
def repo(tmp_path):
    t = tmp_path / "linux"
    (t / "scripts").mkdir(parents=True)
    (t / "drivers").mkdir()
    (t / "MAINTAINERS").write_text("")
    (t / "drivers" / "a.c").write_text("int a;\n")
    gm = t / "scripts" / "get_maintainer.pl"
    # counts its runs, prints one maintainer per file
    gm.write_text("#!/bin/sh\necho run >> \"$(dirname \"$0\")/../../runs\"\n"
                  "for f in \"$@\"; do case $f in -*) ;; *) echo \"M <m@$(basename $f)>\";; "
                  "esac; done\n")
    gm.chmod(0o755)
    git(tmp_path, "init", "-q", "-b", "master", "linux")
    git(t, "add", "-A")
    git(t, "commit", "-q", "-m", "base")
    return t


def runs(t: Path) -> int:
    p = t.parent / "runs"
    return len(p.read_text().split()) if p.exists() else 0


def test_maintainers_remembered_until_a_file_changes(repo):
    assert series.maintainers(repo, ["drivers/a.c"]) == ["M <m@a.c>"]
    assert series.maintainers(repo, ["drivers/a.c"]) == ["M <m@a.c>"] and runs(repo) == 1
    (repo / "drivers" / "a.c").write_text("int a, b;\n")   # K: keywords read the text
    git(repo, "commit", "-q", "-am", "edit")
    series.maintainers(repo, ["drivers/a.c"])
    assert runs(repo) == 2


def test_series_branch_reused_for_the_same_picks(repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "drivers" / "a.c").write_text("int a2;\n")
    git(repo, "commit", "-q", "-am", "driver")
    sha = git(repo, "rev-parse", "HEAD").strip()
    picks = [(sha, "drivers: a\n\nSigned-off-by: t <t@t>\n", "note\n")]
    h1 = series.build_series(None, repo, base, "01-x", picks, ENV, "dmacb/x")
    # the same picks: the ref's commit again, not a new one (committer dates differ)
    env2 = {**ENV, "GIT_COMMITTER_DATE": "2001-01-01T00:00:00Z"}
    assert series.build_series(None, repo, base, "01-x", picks, env2, "dmacb/x") == h1
    picks2 = [(sha, "drivers: a, another message\n\nSigned-off-by: t <t@t>\n", "note\n")]
    h2 = series.build_series(None, repo, base, "01-x", picks2, env2, "dmacb/x")
    assert h2 != h1 and "another message" in git(repo, "log", "-1", "--format=%s", h2)
    # the ref moved by hand: rebuilt
    git(repo, "update-ref", "refs/dmacb/series/dmacb/x/01-x", base)
    assert series.build_series(None, repo, base, "01-x", picks2, env2, "dmacb/x") != base


def _driver_commits(repo: Path) -> list[str]:
    shas = []
    for f, text in (("drivers/a.c", "int a2;\n"), ("drivers/b.c", "int b2;\n"),
                    ("drivers/a.c", "int a3;\n")):
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text(text)
        git(repo, "add", "-f", f)
        git(repo, "commit", "-q", "-m", f"driver {f}", env={
            **ENV, "GIT_AUTHOR_NAME": "Ann \u00c9", "GIT_AUTHOR_DATE": "2020-02-03T04:05:06+0100"})
        shas.append(git(repo, "rev-parse", "HEAD").strip())
    return shas


def test_series_fast_import_makes_the_commits_commit_tree_makes(repo):
    """The one-stream series build gives the very commits (ids) and notes
    of the diff-applying one; a pick whose file an omitted commit changed
    first is applied as a diff, not copied."""
    base = git(repo, "rev-parse", "HEAD").strip()
    a2, b2, a3 = _driver_commits(repo)
    env = {**ENV, "GIT_COMMITTER_DATE": "2021-01-01T00:00:00Z"}
    picks = [(a2, "drivers: a\n\nSigned-off-by: t <t@t>\n", "verified  \n\n\nnote\n\n"),
             (b2, "drivers: b\n\nSigned-off-by: t <t@t>\n", "note b\n")]
    slow = series._apply_picks(repo, base, "refs/x/slow", picks, env)
    notes = [git(repo, "notes", "--ref", series.NOTES_REF, "show", s)
             for s in (slow, f"{slow}^")]
    git(repo, "update-ref", "-d", series.NOTES_REF)
    fast = series._fast_import(repo, base, "refs/x/fast", picks, env)
    assert fast == slow
    assert [git(repo, "notes", "--ref", series.NOTES_REF, "show", s)
            for s in (fast, f"{fast}^")] == notes == ["note b\n", "verified\n\nnote\n"]
    # a3 without a2: its diff does not start from the base's a.c
    skip = [(a3, "drivers: a again\n", "n\n")]
    assert series._fast_import(repo, base, "refs/x/skip", skip, env) is None
    with pytest.raises(RuntimeError):
        series._apply_picks(repo, base, "refs/x/skip", skip, env)
    # the notes of the earlier series stay
    series._fast_import(repo, base, "refs/x/again", picks[1:], env)
    assert git(repo, "notes", "--ref", series.NOTES_REF, "show", f"{fast}^") == \
        "verified\n\nnote\n"


@pytest.mark.parametrize("msg", [
    "drivers: a: subject\n\nA body.\n",
    "drivers: a: subject\n\nA body   \n\n\n",
    "drivers: a: subject\n\nno newline at the end",
    "drivers: a: subject\n\nA body.\n\nLink: https://example.org/x\n",
    "drivers: a: subject\n\nA body.\n# a comment line\n",
])
def test_commit_without_the_index_is_git_commit_signoff(repo, msg):
    """worktree.commit() makes the commit 'git add' + 'git commit
    --signoff' make (same id), keeps the carried author date, and leaves
    an index that sync_index() brings back to the tip."""
    from dmacb_lib import worktree
    git(repo, "checkout", "-q", "-b", "dmacb/x")
    base = git(repo, "rev-parse", "HEAD").strip()
    env = {**ENV, "GIT_AUTHOR_DATE": "2020-02-03T04:05:06+0100",
           "GIT_COMMITTER_DATE": "2021-01-01T00:00:00Z"}
    (repo / "drivers" / "a.c").write_text("int a2;\n")
    (repo / "drivers" / "new.c").write_text("int n;\n")
    git(repo, "add", "-f", "drivers/a.c", "drivers/new.c")
    git(repo, "commit", "-q", "--signoff", "-F", "-", env=env, input=msg)
    want = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "reset", "-q", "--mixed", base)
    got = worktree.commit(repo, ["drivers/a.c", "drivers/new.c"], msg, env)
    assert got == want and git(repo, "rev-parse", "HEAD").strip() == want
    worktree.sync_index(repo)
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    # the same change again on the base: the carried date, by its patch-id
    log = git(repo, "log", "-p", "--no-color", "--format=commit %H", "-1", want)
    pid = subprocess.run(["git", "patch-id", "--stable"], input=log, capture_output=True,
                         text=True).stdout.split()[0]
    git(repo, "reset", "-q", "--mixed", base)
    again = worktree.commit(repo, ["drivers/a.c", "drivers/new.c"], msg, env,
                            {pid: "2019-05-06T07:08:09+0200"})
    assert git(repo, "log", "-1", "--format=%aI", again).strip() == "2019-05-06T07:08:09+02:00"
    assert git(repo, "for-each-ref", "refs/dmacb/fast-commit") == ""


def test_tree_grep_of_a_stable_update_greps_only_its_files(repo, monkeypatch):
    """treegrep.grep_lines() on a commit after one with an answer: the same
    lines in the same order as a grep of the tree, from a grep of the
    changed files that the pathspec names only."""
    from types import SimpleNamespace
    from dmacb_lib import treegrep

    def tree():
        return SimpleNamespace(path=repo, head=git(repo, "rev-parse", "HEAD").strip(),
                               _changed=None)
    for i in range(3):
        (repo / "drivers" / f"m{i}.c").write_text("".join(
            f"int foo_{j}; /* foo */\n" if j % 2 else f"int bar_{j};\n" for j in range(6)))
    (repo / "drivers" / "dma").mkdir(parents=True, exist_ok=True)
    (repo / "drivers" / "dma" / "p.c").write_text("int foo;\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    args, spec = ["-w", "-F", "-e", "foo"], ("*.c", ":!drivers/dma")
    first = treegrep.grep_lines(tree(), args, spec)
    assert first and not any(ln.startswith("drivers/dma/") for ln in first)
    # a stable update: lines move in one file, another loses them, a new one
    (repo / "drivers" / "m1.c").write_text("\n\n" + (repo / "drivers" / "m1.c").read_text())
    (repo / "drivers" / "m0.c").write_text("int bar;\n")
    (repo / "drivers" / "m0a.c").write_text("int x; /* foo */\n")
    (repo / "drivers" / "dma" / "p.c").write_text("int foo, foo2;\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "update")
    calls = []
    real = subprocess.run
    monkeypatch.setattr(treegrep.subprocess, "run",
                        lambda cmd, **kw: calls.append(cmd) or real(cmd, **kw))
    got = treegrep.grep_lines(tree(), args, spec)
    want = real(["git", "-C", str(repo), "grep", "-n", *args, "--", *spec],
                capture_output=True, text=True).stdout.splitlines()
    assert got == want
    greps = [c for c in calls if "grep" in c]
    assert len(greps) == 1 and greps[0][-3:] == ["drivers/m0.c", "drivers/m0a.c", "drivers/m1.c"]


def test_parity_checker_results_reused_per_key(monkeypatch, tmp_path):
    from dmacb_lib import parity
    calls = []

    def fake(db, rows, files=None, **kw):
        calls.append(list(files))
        return {"files": [{"file": f, "checks": {"hardirq": {
            "functions": [{"function": r[2], "defined": True} for r in rows if r[1] == f],
            "violations": []}}} for f in files], "ok": True}
    monkeypatch.setattr(parity.checkermod, "run_checker", fake)
    items = [parity.Item("a.c", "cb"), parity.Item("b.c", "cb2")]
    made = []

    def db():
        made.append(1)
        return tmp_path / "db"
    parity.checker_side(db, tmp_path, items, keys={"a.c": "k1", "b.c": "k2"})
    got, _ = parity.checker_side(db, tmp_path, items, keys={"a.c": "k1", "b.c": "k3"})
    assert calls == [["a.c", "b.c"], ["b.c"]] and len(made) == 2
    assert set(got) == {("a.c", "cb"), ("b.c", "cb2")}
    parity.checker_side(db, tmp_path, items, keys={"a.c": "k1", "b.c": "k3"})
    assert len(calls) == 2 and len(made) == 2       # all cached: no database made


def test_scan_of_a_descendant_from_the_ancestors_scan(tmp_path):
    """A new commit's candidates come from its ancestor's cached scan and
    the changed files alone, and equal a scan of the whole tree."""
    from dmacb_lib import facts, kernel
    t = tmp_path / "linux"
    (t / "drivers" / "spi").mkdir(parents=True)
    (t / "include" / "linux").mkdir(parents=True)
    (t / "include" / "linux" / "dmaengine.h").write_text("\n")
    (t / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 99\nSUBLEVEL = 0\nEXTRAVERSION =\n")
    site = "#include <linux/dmaengine.h>\nvoid f(struct dma_async_tx_descriptor *d)\n" \
           "{\n\td->callback = g;\n}\n"
    for n in ("a", "b", "c"):
        (t / "drivers" / "spi" / f"{n}.c").write_text(site if n != "c" else "int c;\n")
    git(tmp_path, "init", "-q", "-b", "master", "linux")
    git(t, "add", "-A")
    git(t, "commit", "-q", "-m", "base")
    assert facts.candidates(kernel.resolve(str(t))) == ["drivers/spi/a.c", "drivers/spi/b.c"]
    (t / "drivers" / "spi" / "a.c").write_text("int a;\n")        # no longer a candidate
    (t / "drivers" / "spi" / "c.c").write_text(site)              # now one
    git(t, "commit", "-q", "-am", "update")
    k = kernel.resolve(str(t))
    calls = []
    real = facts._grep_worktree
    facts._grep_worktree = lambda k: calls.append(1) or real(k)
    try:
        got = facts.candidates(k)
    finally:
        facts._grep_worktree = real
    assert calls == [] and got == ["drivers/spi/b.c", "drivers/spi/c.c"]
    assert got == real(k)


def test_verify_stage_skipped_only_for_the_same_inputs(tmp_path, repo):
    from dmacb_lib import kernel, verify
    (repo / "include" / "linux").mkdir(parents=True)
    (repo / "include" / "linux" / "dmaengine.h").write_text("\n")
    (repo / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 99\nSUBLEVEL = 0\nEXTRAVERSION =\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "kernel")
    k = kernel.resolve(str(repo))
    doc = {"tip": k.head, "commits": [], "_out": "x"}
    out = tmp_path / "out"
    out.mkdir()
    key = verify._stage_key(k, repo, doc, False, False)
    assert verify._stage_key(k, repo, dict(doc, _out="y"), False, False) == key
    assert verify._stage_key(k, repo, dict(doc, commits=[{"commit": "c"}]), False, False) != key
    assert verify._stage_key(k, repo, doc, True, False) != key
    (out / "verify.json").write_text("{}")
    verify._stage_put(out, key, 1)
    assert verify._stage_done(out, key) == 1
    (repo / "drivers" / "a.c").write_text("int dirty;\n")        # uncommitted change
    assert verify._stage_key(k, repo, doc, False, False) != key
    (out / "verify.json").write_text('{"edited": 1}')            # not the file it wrote
    assert verify._stage_done(out, key) is None


@pytest.mark.skipif(not shutil.which("spatch"), reason="needs spatch")
def test_unchanged_audit_copies_its_outputs(tmp_path):
    """An audit of the same commit, with the same dmacb, on a tree without
    changes copies the earlier outputs; an uncommitted edit is audited as it
    is, and undoing it finds the first outputs again."""
    import json
    from conftest import FIXTURE_TREE, git_tree, run_dmacb
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    out, cache = tmp_path / "o", tmp_path / "c"
    rel = out / "6.99.0-fixture"

    def audit() -> str:
        r = run_dmacb("audit", "--kernel", str(tree), "--out", str(out), cache=cache)
        assert r.returncode == 0, r.stderr
        return r.stderr
    assert "audit: unchanged" not in audit()
    names = ("callbacks.json", "callbacks.csv", "summary.md", "providers.json")
    first = {n: (rel / n).read_bytes() for n in names}
    for n in names:
        (rel / n).unlink()
    assert "audit: unchanged" in audit()
    assert {n: (rel / n).read_bytes() for n in names} == first
    assert (rel / "index.html").exists()

    f = tree / "drivers" / "spi" / "spi-fixture-complete.c"
    text = f.read_text()
    f.write_text(text.replace("complete(&", "msleep(1);\n\tcomplete(&", 1))
    assert "audit: unchanged" not in audit()
    c = next(c for c in json.loads((rel / "callbacks.json").read_text())["callbacks"]
             if c["callback"] == "fix_spi_dma_done")
    assert "may-sleep" in c["reasons"]
    f.write_text(text)
    assert "audit: unchanged" in audit()
    assert (rel / "callbacks.json").read_bytes() == first["callbacks.json"]
