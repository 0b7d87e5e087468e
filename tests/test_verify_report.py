# SPDX-License-Identifier: GPL-2.0
"""verify.md: one row per file with each check's result and the reasons."""

from __future__ import annotations

from dmacb_lib import verify


def driver(f: str, verdict: str, rerun="no change", cp=True, built=True, passed=True,
           checker=True, reasons=(), untested=()) -> dict:
    d = {"commit": "c" * 40, "subject": f, "files": [f], "verdict": verdict,
         "reasons": list(reasons), "checks": {
             "checkpatch": {"ok": cp, "output": ""},
             "rerun": {f: rerun},
             "build": {f: {"compile_tested": built, "passed": passed, "lines_seen": 2,
                           "lines_unseen": [], "config": "x86_64 allmodconfig (gcc 12.2.0)"
                           if built else None}},
             "checker": {f: {"ok": checker} if built else {"ok": None, "skipped": "not built"}}}}
    if untested:
        d["untested"] = list(untested)
    return d


def test_each_check_has_a_column(tmp_path):
    report = {"kernel": "6.99", "branch": "dmacb/6.99", "tip": "a" * 40, "drivers": [
        driver("a.c", "pass"),
        driver("b.c", "fail", rerun="a second run of the rewrite for cb changes the file",
               reasons=["b.c: a second run ..."]),
        driver("c.c", "fail", cp=False, checker=False,
               reasons=["checkpatch --strict has findings", "c.c: checker: hardirq"]),
        driver("d.c", "not-compile-tested", built=False, passed=False,
               untested=["d.c: not built by x86_64 allmodconfig"]),
    ]}
    verify.write_reports(tmp_path, report, {"rerun": 1, "checkpatch": 2, "build": 3,
                                            "checker": 4}, 10, {"checker": (1, 4)})
    md = (tmp_path / "verify.md").read_text()
    rows = {ln.split(" | ")[0][2:]: ln.split(" | ") for ln in md.splitlines()
            if ln.startswith("| ") and ".c |" in ln}
    cols = ["verdict", "rerun", "checkpatch", "build", "config", "lines", "checker", "why"]
    got = {f: dict(zip(cols, r[1:])) for f, r in rows.items()}
    assert [got["a.c"][c] for c in ("verdict", "rerun", "checkpatch", "build", "checker")] \
        == ["pass", "ok", "ok", "ok", "ok"]
    assert got["b.c"]["rerun"] == "FAIL" and got["b.c"]["checker"] == "ok"
    assert (got["c.c"]["checkpatch"], got["c.c"]["checker"]) == ("FAIL", "FAIL")
    assert "checkpatch --strict has findings" in got["c.c"]["why"]
    assert (got["d.c"]["build"], got["d.c"]["checker"]) == ("-", "-")
    assert "not built by x86_64" in got["d.c"]["why"]
    assert "reused from earlier runs with the same inputs: checker 1 of 4" in md
    assert "| fail | 2 |" in md
