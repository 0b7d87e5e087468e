# SPDX-License-Identifier: GPL-2.0
"""dmacb diff: two fixture report directories (tests/fixtures/diff/, written
for this test, not by the audit) with one case per matching rule, an
appeared, a disappeared, a changed and an evidence-only callback, and
providers appeared, disappeared, moved, renamed and changed."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, run_dmacb
from dmacb_lib import reldiff

FX = ROOT / "tests" / "fixtures" / "diff"
OLD, NEW = FX / "6.90.1", FX / "6.91.2"


@pytest.fixture(scope="module")
def doc():
    return reldiff.build(OLD, NEW)


def _moves(d: dict) -> dict[str, tuple[str, str]]:
    return {m["old_id"]: (m["match"], m["id"]) for m in d["moved"]}


def test_appeared_disappeared(doc):
    cb = doc["callbacks"]
    assert [c["id"] for c in cb["appeared"]] == ["drivers/mmc/host/newmmc.c:newmmc_dma_cb"]
    assert [c["id"] for c in cb["disappeared"]] == ["drivers/mmc/host/oldmmc.c:oldmmc_dma_cb"]
    assert cb["disappeared"][0]["hint"].endswith("has no callback in the new release")
    assert doc["counts"]["callbacks"] == {"appeared": 1, "disappeared": 1, "moved": 5,
                                          "changed": 2, "details_changed": 3, "unchanged": 5}


def test_each_matching_rule(doc):
    assert _moves(doc["callbacks"]) == {
        # the file renamed (and the callback changed: no other rule matches it)
        "sound/soc/sh/rcar/dma.c:rsnd_dmaen_complete":
            ("file-renamed", "sound/soc/renesas/rcar/dma.c:rsnd_dmaen_complete"),
        # renamed in that renamed file: the same site
        "sound/soc/sh/rcar/dma.c:rsnd_dmapp_complete":
            ("renamed", "sound/soc/renesas/rcar/dma.c:rsnd_dmapp_done"),
        # into a shared library the old driver now uses (no shape evidence alike)
        "drivers/mtd/nand/raw/qcom_nandc.c:qpic_bam_dma_done":
            ("moved", "drivers/mtd/nand/qpic_common.c:qpic_bam_dma_done"),
        # to another file, with other sites but the same shape and evidence
        "drivers/i2c/busses/i2c-a.c:ab_dma_complete":
            ("moved", "drivers/i2c/busses/i2c-b.c:ab_dma_complete"),
        # renamed in its file: the same site
        "drivers/spi/spi-stm32.c:stm32f4_spi_dma_tx_cb":
            ("renamed", "drivers/spi/spi-stm32.c:stm32fx_spi_dma_tx_cb"),
    }
    q = next(m for m in doc["callbacks"]["moved"] if m["callback"] == "qpic_bam_dma_done")
    assert "qcom_nandc.c is a site or user file of the new callback" in q["match_evidence"]


def test_changed_with_why(doc):
    ch = {m["id"]: m for m in doc["callbacks"]["changed"]}
    assert sorted(ch) == ["drivers/tty/serial/bar.c:bar_rx_done",
                          "sound/soc/renesas/rcar/dma.c:rsnd_dmaen_complete"]
    bar = ch["drivers/tty/serial/bar.c:bar_rx_done"]
    assert bar["fields"]["group"] == {"old": "hardirq-safe", "new": "left-alone"}
    assert bar["fields"]["action"] == {"old": "hardirq", "new": "none"}
    assert bar["reasons_added"] == ["reenters-dma"] and bar["reasons_removed"] == []
    assert bar["evidence_added"] == ["reason reenters-dma: dmaengine_terminate_async() in "
                                     "drivers/tty/serial/bar.c via bar_rx_done"]
    assert bar["evidence_removed"] == [] and not bar["unexplained"]
    rs = ch["sound/soc/renesas/rcar/dma.c:rsnd_dmaen_complete"]
    assert rs["fields"]["shape"] == {"old": "chained-tasklet", "new": "other"}
    assert rs["evidence_removed"] == ["effect tasklet: tasklet_schedule() in "
                                      "sound/soc/sh/rcar/dma.c via rsnd_dmaen_complete"]
    # a rename alone is no change of the verdict; its changed evidence is a detail
    det = {m["id"]: m for m in doc["callbacks"]["details_changed"]}
    assert sorted(det) == ["drivers/iio/adc/baz.c:baz_dma_done",
                           "drivers/mtd/nand/qpic_common.c:qpic_bam_dma_done",
                           "drivers/spi/spi-stm32.c:stm32fx_spi_dma_tx_cb"]
    baz = det["drivers/iio/adc/baz.c:baz_dma_done"]
    assert baz["fields"] == {} and not baz["verdict_changed"]
    assert [e.split("()")[0] for e in baz["evidence_added"]] == \
        ["reason may-sleep: iio_trigger_poll_nested"]
    stm = det["drivers/spi/spi-stm32.c:stm32fx_spi_dma_tx_cb"]
    # the callback's own name is not a change: only the other call and helper are
    assert len(stm["evidence_added"]) == 1 and "terminate_async" in stm["evidence_added"][0]


def test_lines_and_provider_moves_are_no_change(doc):
    """foo_dma_done: every line moved (site, evidence, 'line N' in the
    detail) and the provider serving it moved to drivers/dma/stm32/."""
    every = [m["id"] for k in ("moved", "changed", "details_changed")
             for m in doc["callbacks"][k]]
    assert "drivers/spi/spi-foo.c:foo_dma_done" not in every


def test_providers(doc):
    pv = doc["providers"]
    assert [p["id"] for p in pv["appeared"]] == ["drivers/dma/xilinx/xdma.c"]
    assert [p["id"] for p in pv["disappeared"]] == ["drivers/dma/iop-adma.c"]
    assert _moves(pv) == {
        "drivers/dma/stm32-dma.c": ("moved", "drivers/dma/stm32/stm32-dma.c"),
        "drivers/dma/fsl-edma.c": ("renamed", "drivers/dma/fsl-edma-main.c"),
        "drivers/dma/foo-dma.c": ("renamed", "drivers/dma/vnd/bar-dma.c"),
    }
    [h] = pv["changed"]
    assert h["id"] == "drivers/dma/at_hdmac.c"
    assert h["fields"]["delivery"] == {"old": "own-tasklet", "new": "virt-dma"}
    assert h["fields"]["recycles"] == {"old": "yes", "new": "no"}
    assert h["why"]["delivery"] == {
        "removed": ["dma_cookie_complete() in atc_chain_complete() from tasklet"],
        "added": ["vchan_cookie_complete() in atdma_handle_chan_done() from hardirq"]}
    assert h["why"]["tasklets"]["removed"] == ["atc_tasklet(): delivery-only [callback-delivery]"]
    assert pv["unchanged"] == 1        # pl330


@pytest.mark.parametrize("rule,old_id", [
    ("file-renamed", "sound/soc/sh/rcar/dma.c:rsnd_dmaen_complete"),
    ("moved", "drivers/mtd/nand/raw/qcom_nandc.c:qpic_bam_dma_done"),
    ("moved", "drivers/i2c/busses/i2c-a.c:ab_dma_complete"),
    ("renamed", "drivers/spi/spi-stm32.c:stm32f4_spi_dma_tx_cb"),
    ("renamed", "sound/soc/sh/rcar/dma.c:rsnd_dmapp_complete"),
])
def test_each_rule_is_needed(rule, old_id, monkeypatch):
    """Without the rule, its fixture pair is no longer matched (the two
    callbacks become a disappeared and an appeared one)."""
    rules = reldiff._cb_rules
    monkeypatch.setattr(reldiff, "_cb_rules", lambda *a: [r for r in rules(*a) if r[0] != rule])
    d = reldiff.build(OLD, NEW)
    assert old_id not in _moves(d["callbacks"])
    assert old_id in [c["id"] for c in d["callbacks"]["disappeared"]]


def test_cli_out_deterministic_and_stdout(tmp_path):
    runs = []
    for i in (1, 2):
        r = run_dmacb("diff", str(OLD), str(NEW), "--out", str(tmp_path / f"d{i}"),
                      cache=tmp_path / "cache")
        assert r.returncode == 0, r.stderr
        runs.append({f: (tmp_path / f"d{i}" / f).read_bytes()
                     for f in ("diff.md", "diff.json", "diff.html")})
    assert runs[0] == runs[1]
    out = runs[0]
    j = json.loads(out["diff.json"])
    assert j["format"] == "dmacb-diff/1"
    assert j["old"]["kernel"] == "6.90.1" and j["new"]["kernel"] == "6.91.2"
    for text in out.values():
        assert str(tmp_path).encode() not in text and str(ROOT).encode() not in text
    md = out["diff.md"].decode()
    assert "stm32f4_spi_dma_tx_cb -> stm32fx_spi_dma_tx_cb()" in md and "**renamed**" in md
    page = out["diff.html"].decode()
    assert "<title>dmacb diff: Linux 6.90.1 &rarr; 6.91.2</title>" in page
    assert "nav button.on" in page                     # the dashboard's style sheet
    assert 'id="tab-moved"' in page and "qpic_bam_dma_done" in page
    # without --out: the same Markdown on stdout, nothing written
    r = run_dmacb("diff", str(OLD), str(NEW), cache=tmp_path / "cache", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.encode() == out["diff.md"]
    assert not (tmp_path / "diff.md").exists()


def test_exit_code(tmp_path):
    r = run_dmacb("diff", str(OLD), str(NEW), "--exit-code", cache=tmp_path / "c")
    assert r.returncode == 1
    r = run_dmacb("diff", str(OLD), str(OLD), "--exit-code", cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert "| appeared | 0 | 0 |" in r.stdout


def _bad(tmp_path, doc_name: str, fmt: str) -> str:
    d = tmp_path / "bad"
    shutil.copytree(NEW, d)
    p = d / doc_name
    j = json.loads(p.read_text())
    j["format"] = fmt
    p.write_text(json.dumps(j))
    return str(d)


@pytest.mark.parametrize("case", ["missing", "not-a-report", "callbacks-version",
                                  "providers-version", "no-format"])
def test_bad_input(case, tmp_path):
    arg = {"missing": lambda: str(tmp_path / "nowhere"),
           "not-a-report": lambda: str(ROOT / "docs"),
           "callbacks-version": lambda: _bad(tmp_path, "callbacks.json", "dmacb-callbacks/9"),
           "providers-version": lambda: _bad(tmp_path, "providers.json", "dmacb-providers/7"),
           "no-format": lambda: _bad(tmp_path, "callbacks.json", ""),
           }[case]()
    r = run_dmacb("diff", str(OLD), arg, "--out", str(tmp_path / "o"), cache=tmp_path / "c")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmacb: "), r.stderr
    assert not (tmp_path / "o").exists()
    if case.endswith("version"):
        assert "expected dmacb-" in lines[0]


def test_kernel_tree_as_input(fixture_audit, tmp_path):
    """A kernel tree instead of a report directory is audited first (into
    a temporary directory); the fixture tree against its own audit: no
    difference, and nothing of the temporary audit left in the output."""
    r = run_dmacb("diff", str(fixture_audit["out"]), str(fixture_audit["tree"]), "--exit-code",
                  "--out", str(tmp_path / "d"), cache=fixture_audit["cache"])
    assert r.returncode == 0, r.stderr
    assert "is a kernel tree: auditing Linux 6.99.0-fixture" in r.stderr
    j = json.loads((tmp_path / "d" / "diff.json").read_text())
    n = len(fixture_audit["doc"]["callbacks"])
    assert j["counts"]["callbacks"] == {"appeared": 0, "disappeared": 0, "moved": 0,
                                        "changed": 0, "details_changed": 0, "unchanged": n}
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == \
        ["diff.html", "diff.json", "diff.md"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_page_renders_tab_from_address(tmp_path):
    import subprocess
    r = run_dmacb("diff", str(OLD), str(NEW), "--out", str(tmp_path / "d"), cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "d" / "diff.html").as_uri() + "#changed"
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=3000", "--dump-dom", page],
                         capture_output=True, text=True, timeout=120).stdout
    assert '<div id="tab-changed" class="tab on">' in dom
    assert '<div id="tab-appeared" class="tab">' in dom
    assert '<button data-tab="changed" class="on">Changed (2)</button>' in dom


def test_symmetric(doc):
    """NEW -> OLD: appeared and disappeared swap, every match is found
    again the other way round, the same callbacks changed."""
    back = reldiff.build(NEW, OLD)
    cb, bk = doc["callbacks"], back["callbacks"]
    assert [c["id"] for c in bk["appeared"]] == [c["id"] for c in cb["disappeared"]]
    assert [c["id"] for c in bk["disappeared"]] == [c["id"] for c in cb["appeared"]]
    assert {n: (r, o) for o, (r, n) in _moves(cb).items()} == _moves(bk)
    assert sorted(m["old_id"] for m in bk["changed"]) == sorted(m["id"] for m in cb["changed"])
    assert doc["counts"]["callbacks_changed_by"]["group"] == 2


REPORTS = ROOT / "reports"


def _committed(series: str) -> Path:
    """The committed reference of a kernel series (its point release follows
    Debian's linux-source package)."""
    got = sorted((d for d in REPORTS.glob(series + ".*") if (d / "callbacks.json").exists()),
                 key=lambda d: [int(x) for x in d.name.split(".")])
    assert got, f"no committed reference for {series} in reports/"
    return got[-1]


def test_committed_references():
    """6.1 -> 6.12 references, checked by hand against both trees (6.1.192,
    6.12.117): spi-stm32's stm32f4_* -> stm32fx_* rename, spi-pl022's
    tasklet_schedule() replaced by spi_finalize_current_transfer(), rcar's
    callback gone to the PCM library, i2c-stm32f7's new
    dmaengine_terminate_async() (allowed with the v2 series: not a reason),
    stm32-dma.c moved to drivers/dma/stm32/."""
    d = reldiff.build(_committed("6.1"), _committed("6.12"))
    cb = d["callbacks"]
    assert _moves(cb)["drivers/spi/spi-stm32.c:stm32f4_spi_dma_tx_cb"] == \
        ("renamed", "drivers/spi/spi-stm32.c:stm32fx_spi_dma_tx_cb")
    ch = {m["id"]: m for m in cb["changed"]}
    pl = ch["drivers/spi/spi-pl022.c:dma_callback"]
    assert pl["fields"]["group"] == {"old": "chained-tasklet", "new": "hardirq-safe"}
    assert any("tasklet_schedule()" in e for e in pl["evidence_removed"])
    assert any("spi_finalize_current_transfer()" in e for e in pl["evidence_added"])
    # its new dmaengine_terminate_async() is no longer "a small cleanup
    # around complete()"; with the v2 series its virt-dma providers deliver
    # with no lock held, so re-entry is no reason (it was with the first API)
    i2c = ch["drivers/i2c/busses/i2c-stm32f7.c:stm32f7_i2c_dma_callback"]
    assert i2c["fields"]["shape_flags"] == {"old": ["near-complete-only"], "new": []}
    assert i2c["reasons_added"] == [] and i2c["new"]["group"] == "hardirq-safe"
    gone = {c["id"]: c for c in cb["disappeared"]}
    assert "dmaengine_pcm_dma_complete()" in \
        gone["sound/soc/sh/rcar/dma.c:rsnd_dmaen_complete"]["hint"]
    assert _moves(d["providers"])["drivers/dma/stm32-dma.c"] == \
        ("moved", "drivers/dma/stm32/stm32-dma.c")


def _row(file: str, name: str, shape: str, group: str, call: str) -> dict:
    return {"file": file, "line": 1, "callback": name, "defined_in": file, "group": group,
            "action": "none" if group == "left-alone" else "hardirq", "reasons": [],
            "shape": shape, "shape_flags": [], "subsystem": "x",
            "sites": [{"file": file, "line": 1, "function": f"{call}_start", "field": "callback",
                       "rhs": name, "callback_param": "p"}],
            "evidence": [{"effect": "notify", "file": file, "line": 2, "call": call,
                          "via": name}], "completes": [], "latent_bug": False}


def test_the_most_alike_candidate_wins():
    """Two files renamed, each with a dma_done(): each old one pairs with the
    new one that looks like it, not with the first by name."""
    old = {"callbacks": [_row("drivers/x/a.c", "dma_done", "complete-only", "complete-only",
                              "complete"),
                         _row("drivers/x/b.c", "dma_done", "other", "hardirq-safe",
                              "spi_finalize_current_transfer")]}
    new = {"callbacks": [_row("drivers/y/c.c", "dma_done", "other", "hardirq-safe",
                              "spi_finalize_current_transfer"),
                         _row("drivers/y/d.c", "dma_done", "complete-only", "complete-only",
                              "complete")]}
    d = reldiff.diff_callbacks(old, new)
    assert _moves(d) == {"drivers/x/a.c:dma_done": ("file-renamed", "drivers/y/d.c:dma_done"),
                         "drivers/x/b.c:dma_done": ("file-renamed", "drivers/y/c.c:dma_done")}
    assert d["changed"] == [] and d["details_changed"] == []


def test_line_numbers_blanked():
    assert reldiff._blank_lines(
        "lock 'lock' is held by f() from line 357 across g() line 358; the do loop of "
        "lines 213-222 is bounded by 'time_after'; at drivers/x/y.c:12") == (
        "lock 'lock' is held by f() from line N across g() line N; the do loop of "
        "lines N-M is bounded by 'time_after'; at drivers/x/y.c")


def test_without_providers_json(tmp_path):
    d = tmp_path / "new"
    shutil.copytree(NEW, d)
    (d / "providers.json").unlink()
    doc = reldiff.build(OLD, d)
    assert doc["providers"]["compared"] is False
    assert doc["new"]["providers"] is None
    assert "Not compared: NEW has no providers.json." in reldiff.markdown(doc)
    assert doc["counts"]["callbacks"]["appeared"] == 1


def test_rows_sharing_a_definition_keep_apart():
    """Two rows of one function (assigned in two files): each its own id."""
    a = _row("drivers/x/lib.c", "lib_done", "other", "hardirq-safe", "f")
    b = dict(a, file="drivers/x/user.c")
    ids = reldiff._ids([a, b])
    assert sorted(ids) == ["drivers/x/lib.c:lib_done@drivers/x/lib.c",
                           "drivers/x/lib.c:lib_done@drivers/x/user.c"]
    d = reldiff.diff_callbacks({"callbacks": [a, b]}, {"callbacks": [a]})
    assert [c["id"] for c in d["disappeared"]] == ["drivers/x/lib.c:lib_done@drivers/x/user.c"]
