# SPDX-License-Identifier: GPL-2.0
"""The audit on the fixture drivers: every dmacb-expect line must hold."""

from __future__ import annotations

import csv
import re

import pytest

from conftest import FIXTURE_TREE

EXPECT = re.compile(r"dmacb-expect: (\w+) group=(\S+) action=(\S+) reasons=(\S+)"
                    r"(?: shape=(\S+))?(?: flags=(\S+))?")


def expectations():
    out = []
    for p in sorted(FIXTURE_TREE.rglob("*.c")):
        for m in EXPECT.finditer(p.read_text()):
            rel = str(p.relative_to(FIXTURE_TREE))
            reasons = [] if m.group(4) == "-" else m.group(4).split(",")
            flags = m.group(6).split(",") if m.group(6) else []
            out.append(pytest.param(rel, m.group(1), m.group(2), m.group(3), reasons,
                                    m.group(5), flags, id=f"{m.group(1)}"))
    return out


@pytest.mark.parametrize("defined_in,name,group,action,reasons,shape,flags", expectations())
def test_verdict(fixture_audit, defined_in, name, group, action, reasons, shape, flags):
    cbs = [c for c in fixture_audit["doc"]["callbacks"]
           if c["callback"] == name and (c["defined_in"] in (defined_in, "") or
                                         c["file"] == defined_in)]
    assert cbs, f"{name} not found in the audit"
    assert shape, f"{defined_in}: the expectation of {name} has no shape="
    for c in cbs:
        assert (c["group"], c["action"]) == (group, action), c
        assert sorted(c["reasons"]) == sorted(reasons), c
        assert (c["shape"], sorted(c["shape_flags"])) == (shape, sorted(flags)), c


def test_expectations_cover_the_cases():
    # 28 fixture cases, some with several callbacks; keep the harness honest
    assert len(expectations()) >= 43


def test_no_unexpected_callbacks(fixture_audit):
    expected = {p.values[1] for p in expectations()}
    found = {c["callback"] for c in fixture_audit["doc"]["callbacks"]}
    assert found == expected


def test_other_struct_is_not_a_descriptor(fixture_audit):
    doc = fixture_audit["doc"]
    assert not [c for c in doc["callbacks"] if c["file"].startswith("drivers/misc/")]
    assert any(n["file"] == "drivers/misc/fixture-timer.c" for n in doc["not_descriptor"])


def test_providers_are_ignored(fixture_audit):
    assert not [c for c in fixture_audit["doc"]["callbacks"]
                if c["file"].startswith("drivers/dma/")]


def test_async_tx_passthrough_reported(fixture_audit):
    pt = fixture_audit["doc"]["passthrough"]
    assert [p["function"] for p in pt] == ["fix_async_tx_submit"]


def test_cross_file_definition(fixture_audit):
    c = next(c for c in fixture_audit["doc"]["callbacks"] if c["callback"] == "fix_i2c_dma_done")
    assert c["file"] == "drivers/i2c/busses/i2c-fixture-dma.c"
    assert c["defined_in"] == "drivers/i2c/busses/i2c-fixture-core.c"


def test_shared_callback_counted_once_with_users(fixture_audit):
    cs = [c for c in fixture_audit["doc"]["callbacks"] if c["callback"] == "fix_pcm_dma_complete"]
    assert len(cs) == 1
    assert cs[0]["users"] == ["sound/soc/fixture-user-a.c", "sound/soc/fixture-user-b.c"]


def test_unparsed_function_reported(fixture_audit):
    doc = fixture_audit["doc"]
    assert any(u["file"] == "drivers/spi/spi-fixture-unparsed.c"
               for u in doc["unparsed_functions"])


def test_latent_bug_evidence_gives_the_path(fixture_audit):
    c = next(c for c in fixture_audit["doc"]["callbacks"]
             if c["callback"] == "fix_ata_dma_xfer_complete")
    ev = [e for e in c["evidence"] if e.get("reason") == "may-sleep"]
    assert ev and ev[0]["call"] == "msleep"
    assert ev[0]["via"].count("->") == 2      # two helpers deep
    assert "fix_ata_dma_xfer_complete" in (fixture_audit["out"] / "summary.md").read_text()


def test_csv_columns_and_rows(fixture_audit):
    rows = list(csv.DictReader((fixture_audit["out"] / "callbacks.csv").open()))
    assert list(rows[0]) == ["file", "line", "callback", "defined_in", "group", "action",
                             "reasons", "shape", "shape_flags", "upstream"]
    assert len(rows) == len(fixture_audit["doc"]["callbacks"])


def test_complete_only_records_the_completion(fixture_audit):
    c = next(c for c in fixture_audit["doc"]["callbacks"] if c["callback"] == "fix_spi_dma_done")
    assert c["completes"] and "done" in c["completes"][0]
    assert c["sites"][0]["callback_param"]


def test_html_is_self_contained(fixture_audit):
    import re
    html = (fixture_audit["out"] / "index.html").read_text()
    assert "<svg" in html and "fix_spi_dma_done" in html
    # no external asset: scripts, styles and images are inline (links to
    # the source are not assets)
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=|<link[^>]*\bhref=|@import|url\(", html)


def test_spatch_timeout_is_reported_not_silent(tmp_path):
    """A file spatch gives up on: its callbacks are left alone as unparsed."""
    import json
    import shutil
    from conftest import git_tree, run_dmacb
    src = tmp_path / "src"
    shutil.copytree(FIXTURE_TREE, src)
    lines = ["#include <linux/dmaengine.h>"]
    for i in range(8000):
        lines.append(f"static void big_cb{i}(void *p) {{ int a = g{i}(p, {i}); h(a); }}")
        lines.append(f"static void big_set{i}(struct dma_async_tx_descriptor *d) "
                     f"{{ d->callback = big_cb{i}; }}")
    (src / "drivers" / "spi" / "spi-big.c").write_text("\n".join(lines) + "\n")
    tree = git_tree(src, tmp_path / "linux")
    r = run_dmacb("audit", "--kernel", str(tree), "--out", str(tmp_path / "o"),
                  cache=tmp_path / "c", env_extra={"DMACB_SPATCH_TIMEOUT": "1"})
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "o" / "6.99.0-fixture" / "callbacks.json").read_text())
    assert doc["timeouts"] == ["drivers/spi/spi-big.c"]
    big = [c for c in doc["callbacks"] if c["file"] == "drivers/spi/spi-big.c"]
    assert len(big) == 8000
    assert all(c["action"] == "none" and "unparsed" in c["reasons"] for c in big)
    assert "files that timed out: 1" in (tmp_path / "o" / "6.99.0-fixture" / "summary.md").read_text()


def test_smpl_report_mode_as_coccicheck_runs_it(tmp_path):
    """make coccicheck MODE=report runs spatch -D report: sites only, no facts."""
    import subprocess
    from conftest import ROOT
    f = FIXTURE_TREE / "drivers" / "spi" / "spi-fixture-complete.c"
    r = subprocess.run(["spatch", "--sp-file", str(ROOT / "cocci" / "dma_callback_facts.cocci"),
                        "-D", "report", "--very-quiet", str(f)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any("dmaengine descriptor callback set to fix_spi_dma_done" in x for x in lines)
    assert not any(x.startswith(("{", "C\t", "D\t")) for x in lines)   # no facts in report mode


def test_uncommitted_changes_are_audited_as_they_are(tmp_path):
    """The working tree counts, not HEAD: an edit changes the verdict, a rerun
    on the edited tree does not reuse HEAD's facts, and HEAD is untouched."""
    import json
    import subprocess
    from conftest import git_tree, run_dmacb
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    f = tree / "drivers" / "spi" / "spi-fixture-complete.c"
    text = f.read_text()
    assert "complete(&" in text
    # a clean run first fills the caches keyed on HEAD
    r = run_dmacb("audit", "--kernel", str(tree), "--out", str(tmp_path / "o0"),
                  cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    # make the complete-only callback sleep, without committing
    f.write_text(text.replace("complete(&", "msleep(1);\n\tcomplete(&", 1))
    out = tmp_path / "o"
    r = run_dmacb("audit", "--kernel", str(tree), "--out", str(out), cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "6.99.0-fixture" / "callbacks.json").read_text())
    c = next(c for c in doc["callbacks"] if c["callback"] == "fix_spi_dma_done")
    assert c["action"] == "task" and "may-sleep" in c["reasons"], c
    st = subprocess.run(["git", "-C", str(tree), "status", "--porcelain"],
                        capture_output=True, text=True).stdout
    assert st.strip() == "M drivers/spi/spi-fixture-complete.c"
