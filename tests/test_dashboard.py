# SPDX-License-Identifier: GPL-2.0
"""The dashboard in a real browser: headless Chromium (Debian's) loads the
fixture audit's index.html; the test reads the rendered DOM (rows, a filter
from the address, a source link) and keeps a screenshot in test-output/."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make deps)")


def _chromium(tmp_path, *args: str) -> str:
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_dashboard_renders_filters_and_links(fixture_audit, tmp_path):
    page = fixture_audit["out"] / "index.html"
    doc = fixture_audit["doc"]
    n = len(doc["callbacks"])
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    rows = re.findall(r'<tr class="cb"[^>]*>', dom)
    assert len(rows) == n
    assert f'id="shown">{n} shown' in dom
    # a filter from the address: only the left-alone callbacks stay visible
    left = sum(1 for c in doc["callbacks"] if c["group"] == "left-alone")
    assert 0 < left < n
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                    page.as_uri() + "#group=left-alone")
    shown = [r for r in re.findall(r'<tr class="cb"[^>]*>', dom) if "display: none" not in r]
    assert len(shown) == left and f'id="shown">{left} shown' in dom
    # each file:line links to the source at the release (Elixir by default)
    c = doc["callbacks"][0]
    assert (f'href="https://elixir.bootlin.com/linux/v6.99.0/source/{c["file"]}#L{c["line"]}"'
            in dom)
    # the seed's claims tab is there, with its five claims
    assert dom.count("<h3>") >= 5
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    shot = out / "dashboard-fixture.png"
    _chromium(tmp_path, "--window-size=1400,1000", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10000
    print(f"screenshot: {shot}")


def test_local_source_links(fixture_audit, tmp_path, monkeypatch):
    """DMACB_SOURCE_URL=local links into the tree itself."""
    from dmacb_lib import dashboard
    monkeypatch.setenv("DMACB_SOURCE_URL", "local")
    text = dashboard.build(fixture_audit["out"], fixture_audit["tree"])
    assert f'"url": "{fixture_audit["tree"].as_uri()}/{{file}}#L{{line}}"' in text


def test_matrix_tab(fixture_audit, tmp_path):
    """verify --matrix's results become the Matrix tab: a row per file, a
    column per configuration, and the files each configuration built."""
    import json
    from dmacb_lib import dashboard, formats
    rdir = tmp_path / "r"
    shutil.copytree(fixture_audit["out"], rdir)
    build = {"drivers/a/x.c": {"matrix": {"x86_64": "pass", "arm64": "new diagnostics"}},
             "drivers/a/y.c": {"matrix": {"arm64": "lines unseen"}}}
    ver = {"format": formats.name("verify"), "matrix": ["x86_64", "arm64", "mips"],
           "drivers": [{"commit": "c1", "verdict": "fail", "reasons": [],
                        "files": ["drivers/a/x.c", "drivers/a/y.c"],
                        "checks": {"build": build}}]}
    (rdir / "verify.json").write_text(json.dumps(ver))
    m = dashboard.matrix_rows(ver)
    assert m["configs"] == ["x86_64", "arm64", "mips"]
    assert m["rows"][0] == {"file": "drivers/a/x.c", "verdict": "fail", "x86_64": "ok",
                            "arm64": "WARN", "mips": ".", "configs": 2}
    assert m["rows"][1]["arm64"] == "ok-" and m["rows"][1]["x86_64"] == "."
    assert m["rows"][-1] == {"file": "files built", "verdict": "", "x86_64": 1, "arm64": 2,
                             "mips": 0, "configs": ""}
    assert dashboard.matrix_rows(None) == {"configs": [], "rows": []}
    dashboard.write(rdir)
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                    (rdir / "index.html").as_uri())
    tab = dom[dom.index('<div id="matrix"'):]
    tab = tab[:tab.index("</div>")]
    assert "<th>mips</th>" in tab and "<td>WARN</td>" in tab and "<td>files built</td>" in tab
    assert tab.count("<tr>") == 1 + 3
