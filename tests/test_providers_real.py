# SPDX-License-Identifier: GPL-2.0
"""The providers audit on the real 6.12 tree (make check-real; needs
kernel-tree, or KERNEL= pointing at a 6.12 tree).

The verdicts pinned here were checked by hand against the 6.12.117 source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT, run_dmacb

pytestmark = pytest.mark.real

# name -> (delivery, prep flags, recycles, bare completion, bare without
# cyclic paths, {tasklet: kind}) and, in the comment, what was read
HAND_CHECKED = {
    # vchan_cookie_complete() in process_channel_irqs() from bam_dma_irq();
    # vchan_tx_prep(..., flags); dma_tasklet() only restarts bam_start_dma()
    "qcom/bam_dma": ("virt-dma", "yes", "no", "all-paths", "all-paths",
                     {"dma_tasklet": "not-callback"}),
    # own tasklet, also run by pl330_issue_pending() itself; no prep stores
    # flags; pl330_get_desc() inits on every get; tx_submit copies the
    # callback into the cyclic chain; pl330_dotask() resets threads
    "pl330": ("own-tasklet", "no", "no", "some-paths", "all-paths",
              {"pl330_dotask": "not-callback", "pl330_tasklet": "mixed"}),
    # chan_irqt() (IRQ thread) -> __ld_cleanup(): dmaengine_desc_get_callback()
    # only 'if (... && tx->callback)'; tx_submit copies callback/param to
    # the chunks; descriptors from the pool of shdma_alloc_chan_resources()
    "sh/shdmac": ("threaded-irq", "yes", "yes", "some-paths", "some-paths", {}),
    # callback = desc->txd.callback; ... callback(param) in the tasklet
    "rapidio/devices/tsi721_dma": ("direct-call", "yes", "yes", "never", "never",
                                   {"tsi721_dma_tasklet": "mixed"}),
    # sdma_int_handler(): vchan_cyclic_callback()/vchan_cookie_complete()
    "imx-sdma": ("virt-dma", "yes", "no", "all-paths", "all-paths", {}),
    # xilinx_dpdma_chan_err_task(): error recovery, no delivery
    "xilinx/xilinx_dpdma": ("virt-dma", "yes", "no", "all-paths", "all-paths",
                            {"xilinx_dpdma_chan_err_task": "not-callback"}),
    # tasklet_setup(&uc->vc.task, udma_vchan_complete) replaces virt-dma's
    "ti/k3-udma": ("virt-dma", "yes", "no", "all-paths", "all-paths",
                   {"udma_vchan_complete": "delivery-only"}),
    "dw-axi-dmac/dw-axi-dmac-platform": ("virt-dma", "yes", "no", "all-paths",
                                         "all-paths", {}),
    # ioat_cleanup_event() tasklet, the timer and ioat_tx_status(); xor/pq:
    # the returned completion descriptor gets only flags & DMA_PREP_INTERRUPT;
    # a ring preallocated in alloc_chan_resources
    "ioat/init": ("own-tasklet", "some", "yes", "all-paths", "all-paths",
                  {"ioat_cleanup_event": "mixed"}),
    # ep93xx_dma_set_active() copies callback/param into the chained
    # descriptors; the cyclic prep never stores flags; pool from
    # ep93xx_dma_alloc_chan_resources()
    "ep93xx_dma": ("own-tasklet", "some", "yes", "some-paths", "some-paths",
                   {"ep93xx_dma_tasklet": "mixed"}),
    # cppi41_irq() delivers with the helpers from the hard IRQ handler
    "ti/cppi41": ("hardirq", "no", "yes", "all-paths", "all-paths", {}),
}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    tree = Path(os.environ.get("KERNEL") or ROOT / "kernel-tree")
    if not (tree / "Makefile").exists():
        pytest.skip("kernel-tree missing: make kernel-tree")
    out = tmp_path_factory.mktemp("prov-real")
    cache = Path(os.environ.get("DMACB_CACHE") or out / "cache")
    r = run_dmacb("providers", "--kernel", str(tree), "--out", str(out), cache=cache)
    assert r.returncode == 0, r.stderr
    rel = next(p for p in out.iterdir() if p.name[0].isdigit())
    doc = json.loads((rel / "providers.json").read_text())
    if not rel.name.startswith("6.12."):
        pytest.skip(f"the pinned verdicts are for 6.12, the tree is {rel.name}")
    return {"doc": doc, "by_name": {p["name"]: p for p in doc["providers"]}}


def test_every_provider(real):
    ps = real["doc"]["providers"]
    assert len(ps) == 88
    outside = sorted(p["id"] for p in ps if not p["id"].startswith("drivers/dma/"))
    assert outside == ["drivers/crypto/ccp/ccp-dmaengine.c",
                       "drivers/rapidio/devices/tsi721_dma.c"]


@pytest.mark.parametrize("name", sorted(HAND_CHECKED))
def test_hand_checked(real, name):
    p = real["by_name"][name]
    delivery, flags, recycles, bare, bare_nc, tls = HAND_CHECKED[name]
    assert p["delivery"]["method"] == delivery
    assert p["prep_flags"]["value"] == flags
    assert p["recycles"]["value"] == recycles
    assert p["bare_completion"]["value"] == bare
    assert p["bare_completion"]["value_noncyclic"] == bare_nc
    assert {t["function"]: t["kind"] for t in p["tasklets"]} == tls


def test_pl330_delivers_inside_issue_pending(real):
    d = real["by_name"]["pl330"]["delivery"]
    ctx = {(c["context"], c["function"]) for s in d["deliver_sites"] for c in s["contexts"]}
    assert ("client-call", "pl330_issue_pending") in ctx


def test_k3_udma_replaces_the_vchan_tasklet(real):
    assert real["by_name"]["ti/k3-udma"]["delivery"]["vchan_tasklet"].startswith(
        "replaced: udma_vchan_complete()")


def test_shdma_guard_evidence(real):
    ev = real["by_name"]["sh/shdmac"]["bare_completion"]["evidence"]
    assert any(e["kind"] == "guard" and e["at"].startswith("drivers/dma/sh/shdma-base.c:")
               for e in ev)


def test_known_flag_droppers(real):
    never = {p["name"] for p in real["doc"]["providers"] if p["prep_flags"]["value"] == "no"}
    some = {p["name"] for p in real["doc"]["providers"] if p["prep_flags"]["value"] == "some"}
    assert never == {"pl330", "imx-dma", "mxs-dma", "xilinx/xilinx_dma", "ti/cppi41",
                     "tegra20-apb-dma", "mpc512x_dma", "timb_dma", "lgm/lgm-dma",
                     "apple-admac", "mmp_tdma"}
    assert some == {"dw/core", "ep93xx_dma", "ste_dma40", "sa11x0-dma", "mv_xor_v2",
                    "ioat/init"}


def test_unparsed_functions_are_listed(real):
    # edma_xbar_event_map(): a cast to 'const s16 (*)[2]' spatch cannot parse
    unp = [(u["file"], u["function"]) for p in real["doc"]["providers"]
           for u in p["unparsed_functions"]]
    assert ("drivers/dma/ti/edma.c", "edma_xbar_event_map") in unp
