# SPDX-License-Identifier: GPL-2.0
"""One contract, two engines: the audit's and the checker's give the same
reasons on every fixture function, or a stated cause for the difference
(scripts/dmacb_lib/parity.py)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import FIXTURE_TREE, ROOT, git_tree, run_dmacb

from dmacb_lib import parity
from dmacb_lib.contract import tables
from dmacb_lib.kernel import Kernel
from dmacb_lib.util import UserError

CHECKER_FIXTURES = ROOT / "checker" / "tests" / "fixtures"


def _db(tree, files, includes):
    """compile_commands.json for the fixtures, gcc-style as Kbuild writes it."""
    entries = []
    for f in files:
        args = ["gcc", "-nostdinc", "-Wall", "-Wno-unused-function", *[f"-I{i}" for i in includes],
                f"-I{(tree / f).parent}", "-c", "-o", "/dev/null", str(tree / f)]
        entries.append({"directory": str(tree), "file": str(tree / f), "arguments": args})
    db = tree.parent / "db"
    db.mkdir(exist_ok=True)
    (db / "compile_commands.json").write_text(json.dumps(entries))
    return db


def _kernel(tree):
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    return Kernel(path=tree, release="6.99.0-fixture", head=head)


def _run(tree, items, includes, out, monkeypatch, tmp_path):
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    files = sorted({str(p.relative_to(tree)) for p in tree.rglob("*.c")})
    k = _kernel(tree)
    audit = parity.audit_side(k, files, items)
    db = _db(tree, sorted({i.file for i in items}), includes)
    check, skipped = parity.checker_side(db, tree, items)
    rows = parity.compare(items, audit, check, skipped)
    parity.write(out, rows, str(tree))
    print((out / "parity.md").read_text())
    return rows


def test_parity_audit_fixtures(tmp_path, monkeypatch):
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    items = parity.fixture_items(tree, tables.load())
    assert len(items) >= 29
    rows = _run(tree, items, [tree / "include"], tmp_path / "out", monkeypatch, tmp_path)
    bad = [r for r in rows if r["unexplained"]]
    assert not bad, json.dumps(bad, indent=1)


def test_parity_checker_fixtures(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "drivers" / "checker").mkdir(parents=True)
    for p in CHECKER_FIXTURES.glob("*.c"):
        shutil.copy(p, src / "drivers" / "checker" / p.name)
    shutil.copytree(CHECKER_FIXTURES / "include", src / "include")
    tree = git_tree(src, tmp_path / "linux")
    items = parity.fixture_items(tree / "drivers", tables.load())
    for it in items:
        it.file = "drivers/" + it.file
    assert len(items) >= 18
    rows = _run(tree, items, [tree / "include"], tmp_path / "out", monkeypatch, tmp_path)
    bad = [r for r in rows if r["unexplained"]]
    assert not bad, json.dumps(bad, indent=1)


def test_fixture_without_expectation_is_refused(tmp_path):
    (tmp_path / "a.c").write_text("static void cb(void *p) { }\n")
    with pytest.raises(UserError, match=r"a.c: no dmacb-expect, dmacb-parity"):
        parity.fixture_items(tmp_path, tables.load())


def test_disagreement_without_cause_fails():
    """The comparison itself: a reason only one side gives, with no stated
    cause, is a failure; a lock matched by name only is listed."""
    it = parity.Item("d.c", "cb")
    a = parity.Side(reasons={"may-sleep", "lock-shared"},
                    limits={"lock-shared": {"lock-by-name"}, "may-sleep": {""}},
                    lines={"may-sleep": {10}, "lock-shared": {12}})
    a.locks = {"lock-shared": {"lock"}}
    c = parity.Side(reasons=set())
    rows = parity.compare([it], {("d.c", "cb"): a}, {("d.c", "cb"): c}, {})
    # the checker did not say two locks share the name: no cause
    assert rows[0]["unexplained"] == ["lock-shared: only the audit", "may-sleep: only the audit"]
    c.name_only_locks = {"lock"}
    rows = parity.compare([it], {("d.c", "cb"): a}, {("d.c", "cb"): c}, {})
    assert rows[0]["unexplained"] == ["may-sleep: only the audit"]
    assert rows[0]["explained"] == ["lock-shared: lock-by-name"]
    rows = parity.compare([it], {("d.c", "cb"): a}, {("d.c", "cb"): c}, {"d.c": [(9, 11)]})
    assert rows[0]["unexplained"] == [] and "may-sleep: not-compiled" in rows[0]["explained"]


@pytest.mark.parametrize("table,content,message", [
    ("kernel-functions.tsv", "msleep\tsleeps-a-lot\tx\n", "kernel-functions.tsv:1: unknown class 'sleeps-a-lot'"),
    ("classes.tsv", "sleep\t9\tmay-sleep\t-\t-\tx\n", "classes.tsv:1: class 'sleep' refers to unknown rule '9'"),
    ("rules.tsv", "1\tmay-nap\talways\tx\n", "rules.tsv:1: unknown reason 'may-nap' (see scripts/dmacb_lib/vocab.py)"),
])
def test_bad_contract_table_is_one_line_exit_2(tmp_path, table, content, message):
    """A bad table: one line, exit 2, nothing written (the audit and the checker)."""
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", kb)
    (kb / table).write_text(content)
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    out = tmp_path / "out"
    r = run_dmacb("audit", "--kernel", str(tree), "--out", str(out), cache=tmp_path / "c",
                  env_extra={"DMACB_KB_DIR": str(kb)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists()
    if table != "rules.tsv":       # the checker validates reasons against the rules only
        b = subprocess.run([str(ROOT / "checker" / "build" / "dmacb-check"), "--db", str(tmp_path),
                            "--kb", str(kb), "--plan", "/dev/null"], capture_output=True, text=True)
        assert b.returncode == 2 and message in b.stderr, b.stderr
