# SPDX-License-Identifier: GPL-2.0
"""dmacb convert on the real 6.12 tree (make check-real; needs kernel-tree).

Runs on a branch and worktree of its own (never the user's dmacb/<release>),
checks the accounting, a handful of hand-read rewrites, checkpatch on every
driver commit and that a rerun commits nothing; removes them afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT, run_dmacb
from dmacb_lib import kernel

pytestmark = pytest.mark.real

TREE = ROOT / "kernel-tree"
# the release Debian's linux-source-6.12 holds today (it moves with stable)
REL = kernel.makefile_release(TREE) or "6.12"
BRANCH = f"dmacb-test/{REL}"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(TREE), *args], check=True, text=True,
                          capture_output=True).stdout


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    base = tmp_path_factory.mktemp("real-conv")
    head = git("rev-parse", "HEAD").strip()
    args = ["convert", "--kernel", str(TREE), "--branch", BRANCH,
            "--worktree", str(base / "wt"), "--out", str(base / "reports")]
    cache = base / "cache"
    r = run_dmacb(*args, cache=cache)
    assert r.returncode == 0, r.stderr
    doc = json.loads((base / "reports" / REL / "convert.json").read_text())
    yield {"base": base, "doc": doc, "head": head, "args": args, "cache": cache}
    subprocess.run(["git", "-C", str(TREE), "worktree", "remove", "--force",
                    str(base / "wt")], capture_output=True)
    subprocess.run(["git", "-C", str(TREE), "branch", "-D", BRANCH], capture_output=True)
    subprocess.run(["git", "-C", str(TREE), "config", "--remove-section",
                    f"branch.{BRANCH}"], capture_output=True)


def test_every_action_accounted(real):
    audit = json.loads((real["base"] / "reports" / REL / "callbacks.json").read_text())
    want = {(c["callback"], s["file"]) for c in audit["callbacks"] if c["action"] != "none"
            for s in c["sites"]}
    recs = real["doc"]["callbacks"]
    assert {(r["callback"], r["file"]) for r in recs} == want
    conv = [r for r in recs if r["status"] == "converted"]
    # 72 on 6.12.117 since rules 6-8 (reports/6.12.117/convert.json)
    assert len(conv) >= 70
    assert all(r.get("reason") for r in recs if r["status"] != "converted")
    assert git("rev-parse", "HEAD").strip() == real["head"]
    assert git("status", "--porcelain", "--untracked-files=no") == ""


def test_tasklets_left_on_the_branch(real):
    """Every tasklet set-up left in drivers/dma is one the providers audit
    read (its kind and reason are the tasklet's own), bar the API's test."""
    left = real["doc"]["tasklets_left"]
    assert 20 <= len(left) <= 45
    assert {t["kind"] for t in left} <= {"delivery-only", "mixed", "not-callback", "api"}
    # 6.12 has a BH workqueue: the series' only tasklet is its KUnit test's
    assert [t["file"] for t in left if t["kind"] == "api"] == \
        ["drivers/dma/dmaengine_callback_kunit.c"]
    assert not any(t["file"].startswith("drivers/dma/virt-dma") for t in left)
    pl = {(t["file"], t["function"]): t for t in left}
    assert pl[("drivers/dma/xilinx/xilinx_dpdma.c", "xilinx_dpdma_chan_err_task")]["kind"] \
        == "not-callback"
    assert pl[("drivers/dma/pl330.c", "pl330_tasklet")]["kind"] == "mixed"
    assert all(t["reason"] for t in left)
    # the delivery-only tasklets moved onto the core's path are gone
    moved = {r["at"]: r for r in real["doc"]["provider_tasklets"]
             if r["status"] == "converted"}
    assert {"admac_chan_tasklet", "tegra_dma_tasklet", "xilinx_dma_do_tasklet"} <= \
        {r["tasklet"] for r in moved.values()}
    gone = {(r["at"].rsplit(":", 1)[0], r["tasklet"]) for r in moved.values()}
    assert not any((t["file"], t["function"]) in gone for t in left)
    # every drivers/dma tasklet the providers audit found is moved or left,
    # bar k3-udma's stand-in for virt-dma's (the API series replaces it)
    prov = json.loads((real["base"] / "reports" / REL / "providers.json").read_text())
    audit = {(t["registered_at"].rsplit(":", 1)[0], t["function"]) for p in prov["providers"]
             for t in p["tasklets"] if t["registered_at"].startswith("drivers/dma/")
             and t.get("detail") != "replaces the vchan tasklet"}
    assert audit == {(t["file"], t["function"]) for t in left if t["kind"] != "api"} | \
        {(r["at"].rsplit(":", 1)[0], r["tasklet"]) for r in moved.values()}
    # one tasklet for a device (mpc512x, hidma's lldev); ppc4xx includes
    # its channel struct's header before dmaengine.h
    assert {t["function"] for t in left if t["kind"] == "delivery-only"} == \
        {"mpc_dma_tasklet", "ppc440spe_adma_tasklet", "hidma_ll_tre_complete"}


def test_provider_tasklet_commit_by_hand(real):
    """tegra20-apb-dma's tasklet, read by hand: every use moved, the body
    kept."""
    r = next(r for r in real["doc"]["provider_tasklets"] if r["tasklet"] == "tegra_dma_tasklet")
    diff = git("show", "--format=", r["commit"])
    minus = [ln[1:].strip() for ln in diff.split("\n") if ln.startswith("-") and
             not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in diff.split("\n") if ln.startswith("+") and
            not ln.startswith("+++")]
    assert minus.count("tasklet_kill(&tdc->tasklet);") == 3
    assert plus.count("dmaengine_chan_notify_sync(&tdc->notify);") == 3
    assert "tasklet_setup(&tdc->tasklet, tegra_dma_tasklet);" in minus
    assert "dmaengine_chan_notify_init(&tdc->dma_chan, &tdc->notify," in plus
    assert "struct tegra_dma_channel *tdc = from_tasklet(tdc, t, tasklet);" in minus
    assert len(minus) == 8 and len(plus) == 11
    after = git("show", f"{r['commit']}:drivers/dma/tegra20-apb-dma.c")
    assert "tasklet_struct" not in after and not re.search(r"\btasklet_\w+\(", after)


def show(real, path: str) -> str:
    return git("show", f"{BRANCH}:{path}")


def test_hand_read_rewrites(real):
    imx = show(real, "drivers/spi/spi-imx.c")
    assert "dmaengine_desc_set_completion(desc_rx, &spi_imx->dma_rx_completion);" in imx
    assert "spi_imx_dma_rx_callback" not in imx
    fmc2 = show(real, "drivers/mtd/nand/raw/stm32_fmc2_nand.c")
    assert "dmaengine_desc_set_completion(desc_data, &nfc->dma_data_complete);" in fmc2
    qgeni = show(real, "drivers/i2c/busses/i2c-qcom-geni.c")
    assert "flags = DMA_PREP_INTERRUPT | DMA_CTRL_ACK | DMA_PREP_HARDIRQ_CALLBACK;" in qgeni
    # a latent bug, but its providers (at_xdmac, at_hdmac) are not virt-dma:
    # with the v2 series DMA_PREP_TASK_CALLBACK would fail its prep
    at91 = show(real, "drivers/iio/adc/at91-sama5d2_adc.c")
    assert "DMA_PREP_TASK_CALLBACK" not in at91
    # rule 6 is not needed on bam_dma with v2 (test_real_tree.py): flagged
    slim = show(real, "drivers/slimbus/qcom-ngd-ctrl.c")
    assert "DMA_PREP_HARDIRQ_CALLBACK" in slim
    dmux = show(real, "drivers/net/wwan/qcom_bam_dmux.c")
    assert "DMA_PREP_HARDIRQ_CALLBACK" in dmux


def test_checkpatch_strict_clean(real):
    wt = real["base"] / "wt"
    out = real["base"] / "patches"
    api = real["doc"]["api_commits"][-1]
    subprocess.run(["git", "-C", str(wt), "format-patch", "-q", "-o", str(out),
                    f"{api}..HEAD"], check=True)
    patches = sorted(out.glob("*.patch"))
    assert len(patches) == len(real["doc"]["commits"])

    def cp(p):
        r = subprocess.run(["./scripts/checkpatch.pl", "--strict", "-q", str(p)], cwd=wt,
                           capture_output=True, text=True)
        return p.name, r.returncode, r.stdout
    with ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        bad = [(n, o) for n, rc, o in ex.map(cp, patches) if rc != 0]
    assert bad == []


def test_rerun_commits_nothing(real):
    tip = git("rev-parse", BRANCH).strip()
    before = (real["base"] / "reports" / REL / "convert.json").read_bytes()
    r = run_dmacb(*real["args"], cache=real["cache"])
    assert r.returncode == 0, r.stderr
    assert git("rev-parse", BRANCH).strip() == tip
    assert (real["base"] / "reports" / REL / "convert.json").read_bytes() == before


@pytest.mark.parametrize("cocci,cb,want", [
    ("dma_callback_to_completion.cocci", "spi_imx_dma_rx_callback",
     "+\tdmaengine_desc_set_completion(desc_rx, &spi_imx->dma_rx_completion);"),
    ("dma_callback_hardirq_flag.cocci", "rockchip_spi_dma_rxcb",
     "DMA_PREP_HARDIRQ_CALLBACK"),
])
def test_rewrites_run_under_coccicheck_patch_mode(cocci, cb, want):
    """The kernel's own 'make coccicheck MODE=patch' runs the rewrites (the
    callback named with SPFLAGS); patch mode only prints, the tree stays clean."""
    r = subprocess.run(["make", "-s", "coccicheck", "MODE=patch",
                        f"COCCI={ROOT / 'cocci' / cocci}", "M=drivers/spi",
                        f"SPFLAGS=-D cb={cb}"], cwd=TREE, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert want in r.stdout
    assert git("status", "--porcelain", "--untracked-files=no") == ""
