# SPDX-License-Identifier: GPL-2.0
"""dmacb verify catches a broken conversion (make check-real; needs kernel-tree).

Converts 6.12 on a test branch, then adds one commit per injected defect,
each on its own driver, and verifies those commits plus one clean driver:
every defect must be caught by the check that owns it, the clean driver
must pass.  Build directories live in the real cache (base-tree builds are
shared with 'make verify'); the test's converted tree gets its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, run_dmacb
from dmacb_lib import kernel
from dmacb_lib.util import cache_dir

pytestmark = pytest.mark.real

TREE = ROOT / "kernel-tree"
# the release Debian's linux-source-6.12 holds today (it moves with stable)
REL = kernel.makefile_release(TREE) or "6.12"
BRANCH = f"dmacb-vtest/{REL}"

# file -> (old text, new text, the check that must catch it)
INJECT = {
    "drivers/spi/spi-imx.c": (
        "dmaengine_desc_set_completion(desc_rx, &spi_imx->dma_rx_completion);",
        "dmaengine_desc_set_completion(desc_rx, &spi_imx->dma_tx_completion);",
        "checker: completion"),
    "drivers/i2c/busses/i2c-imx.c": (
        "\tstruct imx_i2c_dma *dma = i2c_imx->dma;\n\n\tdma_unmap_single(",
        "\tstruct imx_i2c_dma *dma = i2c_imx->dma;\n\n\tmsleep(1);\n\tdma_unmap_single(",
        "checker: hardirq"),
    "drivers/spi/spi-rockchip.c": (
        "DMA_PREP_HARDIRQ_CALLBACK);", "DMA_PREP_HARDIRQ_CALLBAK);", "build"),
    "drivers/tty/serial/pch_uart.c": (
        "\tstruct uart_port *port = &priv->port;\n\tint count;\n",
        "\tstruct uart_port *port = &priv->port;\n\tint count; /* a comment that makes this "
        "line far longer than checkpatch allows: 100 columns */\n", "checkpatch"),
    "drivers/spi/spi-dw-dma.c": (
        "DMA_PREP_INTERRUPT | DMA_CTRL_ACK |\n\t\t\t\t\t DMA_PREP_HARDIRQ_CALLBACK);\n\tif (!txdesc)",
        "DMA_PREP_INTERRUPT | DMA_CTRL_ACK);\n\tif (!txdesc)", "rerun"),
    "drivers/iio/adc/ti_am335x_adc.c": (
        "\tif (!desc)\n\t\treturn -EBUSY;\n",
        "\tif (!desc)\n\t\treturn -EBUSY;\n#ifdef CONFIG_DMACB_NEVER_SET\n"
        "\tdesc->flags |= DMA_CTRL_ACK;\n#endif\n", "build: lines"),
}
CLEAN = "drivers/spi/spi-sun6i.c"


def git(tree: Path, *args: str, **kw) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], check=True, text=True,
                          capture_output=True, **kw).stdout


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    base = tmp_path_factory.mktemp("vtest")
    wt = base / "wt"
    cache = cache_dir()
    r = run_dmacb("convert", "--kernel", str(TREE), "--branch", BRANCH, "--worktree", str(wt),
                  "--out", str(base / "reports"), cache=cache)
    assert r.returncode == 0, r.stderr
    conv = json.loads((base / "reports" / REL / "convert.json").read_text())
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    commits = []
    for f, (old, new, _) in INJECT.items():
        p = wt / f
        text = p.read_text()
        assert text.count(old) >= 1, f"{f}: injection point not found"
        p.write_text(text.replace(old, new, 1))
        git(wt, "add", "-f", f)
        git(wt, "commit", "-q", "-s", "-m", f"inject a defect into {f}", env=env)
        commits.append({"commit": git(wt, "rev-parse", "HEAD").strip(),
                        "subject": f"inject {f}", "files": [f]})
    clean = [c for c in conv["commits"] if c["files"] == [CLEAN]]
    assert len(clean) == 1
    keep = set(INJECT) | {CLEAN}
    doc = {**conv, "tip": git(wt, "rev-parse", "HEAD").strip(),
           "commits": clean + commits,
           "callbacks": [r for r in conv["callbacks"] if r["file"] in keep]}
    (base / "reports" / REL / "convert.json").write_text(json.dumps(doc))
    r = run_dmacb("verify", "--kernel", str(TREE), "--out", str(base / "reports"),
                  cache=cache)
    out = json.loads((base / "reports" / REL / "verify.json").read_text())
    yield {"rc": r.returncode, "stderr": r.stderr, "doc": out, "wt": wt,
           "doc_path": str(base / "reports" / REL / "verify.json")}
    subprocess.run(["git", "-C", str(TREE), "worktree", "remove", "--force", str(wt)],
                   capture_output=True)
    subprocess.run(["git", "-C", str(TREE), "branch", "-D", BRANCH], capture_output=True)
    refs = git(TREE, "for-each-ref", "--format=%(refname)", f"refs/dmacb/series/{BRANCH}/")
    for ref in refs.split():
        subprocess.run(["git", "-C", str(TREE), "update-ref", "-d", ref], capture_output=True)
    subprocess.run(["git", "-C", str(TREE), "config", "--remove-section", f"branch.{BRANCH}"],
                   capture_output=True)
    from dmacb_lib import verify
    for d in (cache / "build" / REL).glob(verify.conv_tag(wt) + "-*"):
        shutil.rmtree(d, ignore_errors=True)


def driver(v, f: str) -> dict:
    got = [d for d in v["doc"]["drivers"] if f in d["files"]]
    assert len(got) == 1
    return got[0]


def test_exit_status_says_failures(verified):
    assert verified["rc"] == 1, verified["stderr"]


def test_clean_driver_passes(verified):
    d = driver(verified, CLEAN)
    assert d["verdict"] == "pass", d


def test_rerun_writes_the_same_verify_json(verified):
    """A warm rerun hits the checkpatch and checker caches: verify.json holds
    what was found, not how (a 'cached' or 'seconds' key made the committed
    references differ from run to run)."""
    before = Path(verified["doc_path"]).read_bytes()
    r = run_dmacb("verify", "--kernel", str(TREE), "--out",
                  str(Path(verified["doc_path"]).parents[1]), cache=cache_dir())
    assert r.returncode == verified["rc"], r.stderr
    assert Path(verified["doc_path"]).read_bytes() == before


@pytest.mark.parametrize("f", sorted(INJECT))
def test_each_defect_is_caught_by_its_check(verified, f):
    d = driver(verified, f)
    assert d["verdict"] == "fail", d
    want = INJECT[f][2]
    if want == "checkpatch":
        assert not d["checks"]["checkpatch"]["ok"]
        assert "exceeds 100 columns" in d["checks"]["checkpatch"]["output"]
    elif want == "rerun":
        assert d["checks"]["rerun"][f] != "no change"
    elif want == "build":
        assert d["checks"]["build"][f]["conv_ok"] is False
    elif want == "build: lines":
        assert d["checks"]["build"][f]["lines_unseen"], d
    else:
        # the whole entry on failure: a file the build dropped has no checks
        check = want.split(": ")[1]
        got = d["checks"]["checker"][f].get("checks", {}).get(check, {})
        assert got.get("ok") is False, d


@pytest.fixture(scope="module")
def series(verified, tmp_path_factory):
    """make series on the verified test branch, twice."""
    base = Path(verified["doc_path"]).parents[1]
    wt = verified["wt"]
    files = sorted(set(INJECT) | {CLEAN})
    before = (git(wt, "rev-parse", "HEAD"), [(wt / f).stat().st_mtime_ns for f in files])
    # byte-identical reruns are what --reproducible promises (without it the
    # series' commits are dated now)
    r1 = run_dmacb("series", "--kernel", str(TREE), "--out", str(base), "--reproducible",
                   cache=cache_dir())
    assert r1.returncode == 0, r1.stderr
    sdir = base / REL / "series"
    first = {p.relative_to(sdir): p.read_bytes() for p in sdir.rglob("*") if p.is_file()}
    r2 = run_dmacb("series", "--kernel", str(TREE), "--out", str(base), "--reproducible",
                   cache=cache_dir())
    assert r2.returncode == 0, r2.stderr
    second = {p.relative_to(sdir): p.read_bytes() for p in sdir.rglob("*") if p.is_file()}
    after = (git(wt, "rev-parse", "HEAD"), [(wt / f).stat().st_mtime_ns for f in files])
    return {"dir": sdir, "first": first, "second": second, "wt_same": before == after}


def test_series_leaves_the_convert_worktree_alone(series):
    # a checkout there would make the next verify rebuild every object
    assert series["wt_same"]


def test_series_only_passing_drivers_and_deterministic(series):
    assert series["first"] == series["second"]
    dirs = sorted(p.name for p in series["dir"].iterdir() if p.is_dir())
    assert dirs[0] == "00-dmaengine"
    drivers = [p for p in series["dir"].glob("[0-9]*/0*.patch")
               if p.parent.name != "00-dmaengine" and not p.name.startswith("0000-")]
    assert len(drivers) == 1 and "sun6i" in drivers[0].name
    index = (series["dir"] / "index.md").read_text()
    for f in INJECT:
        assert f in index                         # listed as left out, with why


def test_series_apply_and_equal_the_branch(series, tmp_path):
    wt = tmp_path / "am"
    git(TREE, "worktree", "add", "-q", "--detach", str(wt), "HEAD")
    try:
        for d in sorted(p for p in series["dir"].iterdir() if p.is_dir()):
            patches = sorted(str(p) for p in d.glob("*.patch") if not p.name.startswith("0000-"))
            git(wt, "-c", "user.name=t", "-c", "user.email=t@t", "am", "-q", *patches)
        # the series hold the API and the one passing driver: the tree equals
        # the branch there, and differs only in drivers the series left out
        diff = set(git(wt, "diff", "--name-only", BRANCH, "HEAD").split())
        api_files = set(git(wt, "diff", "--name-only", "HEAD~2", "HEAD~1").split())
        assert CLEAN not in diff and not diff & api_files
        assert set(INJECT) <= diff
        on_branch = set(git(wt, "diff", "--name-only", "HEAD~1", BRANCH).split())
        assert diff <= on_branch
        for p in sorted(series["dir"].glob("*/0*.patch")):
            if p.name.startswith("0000-"):
                continue
            r = subprocess.run(["./scripts/checkpatch.pl", "--strict", "-q", str(p)], cwd=wt,
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout
    finally:
        subprocess.run(["git", "-C", str(TREE), "worktree", "remove", "--force", str(wt)],
                       capture_output=True)
