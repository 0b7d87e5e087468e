# SPDX-License-Identifier: GPL-2.0
"""The audit on the real 6.12 tree (make check-real; needs kernel-tree).

The verdicts pinned here were checked by hand against the 6.12.117 source
(and those that the helper API v2 changes, against 6.12.118).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import ROOT, run_dmacb

pytestmark = pytest.mark.real

VIOLATIONS = {"restarts-dma", "reenters-dma", "bh-lock", "lock-shared", "may-sleep",
              "softirq-only", "irq-reenable", "lock-held-across-dma", "time-bounded-poll",
              "unresolved", "unparsed", "unknown-call"}
ACTION_OF = {"complete-only": {"completion"}, "irq-disabled": {"hardirq"},
             "chained-tasklet": {"hardirq"}, "task-context": {"hardirq", "task"},
             "hardirq-safe": {"hardirq"}, "left-alone": {"none"}}

# (file, callback) -> (group, action, reasons that must be present)
HAND_CHECKED: dict[tuple[str, str], tuple[str, str, set[str]]] = {
    # only complete()
    ("drivers/spi/spi-imx.c", "spi_imx_dma_rx_callback"): ("complete-only", "completion", set()),
    ("drivers/ata/pata_arasan_cf.c", "dma_callback"): ("complete-only", "completion", set()),
    # container_of, then everything under spin_lock_irqsave(&sdd->lock); but
    # s3c64xx_spi_transfer_one() holds sdd->lock across s3c64xx_enable_datapath()
    # -> s3c64xx_prepare_dma() -> dmaengine_prep_slave_sg() (rule 6)
    ("drivers/spi/spi-s3c64xx.c", "s3c64xx_spi_dmacb"):
        ("left-alone", "none", {"lock-held-across-dma"}),
    # host->lock irqsave around ata_qc_complete; sata_dwc_isr() holds host->lock
    # across sata_dwc_bmdma_start_by_tag() -> dmaengine_submit() (rule 6)
    ("drivers/ata/sata_dwc_460ex.c", "dma_dwc_xfer_done"):
        ("left-alone", "none", {"lock-held-across-dma"}),
    # the deadlock: qcom_slim_ngd_tx_msg_post() holds tx_buf_lock
    # (irqsave) across prep, submit and issue_pending; the TX callback takes
    # it (irqsave).  Its providers are all virt-dma (bam_dma, and qdma/xdma
    # by the devicetree match), which the v2 series makes deliver with
    # vc.lock dropped: no AB-BA, rule 6 does not apply (but see
    # test_rules_3_and_6_where_the_series_guarantees_nothing)
    ("drivers/slimbus/qcom-ngd-ctrl.c", "qcom_slim_ngd_tx_msg_dma_cb"):
        ("irq-disabled", "hardirq", set()),
    # wait_for_tx_idle(): do { ... } while (!time_after(jiffies, timeout)) (rule 7)
    ("drivers/spi/spi-rockchip.c", "rockchip_spi_dma_txcb"):
        ("left-alone", "none", {"time-bounded-poll"}),
    # tasklet_schedule / queue_work(system_bh_wq, ...)
    ("drivers/tty/serial/atmel_serial.c", "atmel_complete_rx_dma"):
        ("chained-tasklet", "hardirq", set()),
    ("drivers/crypto/omap-aes.c", "omap_aes_dma_out_callback"):
        ("chained-tasklet", "hardirq", set()),
    ("drivers/mmc/host/atmel-mci.c", "atmci_dma_complete"): ("chained-tasklet", "hardirq", set()),
    # atomic_dec + wake_up
    ("drivers/ntb/test/ntb_perf.c", "perf_dma_copy_callback"): ("hardirq-safe", "hardirq", set()),
    # regmap_update_bits on an MMIO regmap, then complete()
    ("sound/soc/stm/stm32_spdifrx.c", "stm32_spdifrx_dma_complete"):
        ("hardirq-safe", "hardirq", set()),
    # dmaengine_terminate_async() from the callback: allowed from a callback
    # (provider.rst), and bcm2835-dma (virt-dma) holds no lock with v2
    ("drivers/spi/spi-bcm2835.c", "bcm2835_spi_dma_rx_done"):
        ("hardirq-safe", "hardirq", set()),
    # dmaengine_tx_status() first thing
    ("drivers/tty/serial/8250/8250_dma.c", "dma_rx_complete"):
        ("left-alone", "none", {"reenters-dma"}),
    # crypto_finalize_aead_request() (defined in omap-aes-gcm.c)
    ("drivers/crypto/omap-aes.c", "omap_aes_gcm_dma_out_callback"):
        ("left-alone", "none", {"softirq-only"}),
    # spin_lock_irq/spin_unlock_irq
    ("drivers/mmc/host/omap_hsmmc.c", "omap_hsmmc_dma_callback"):
        ("left-alone", "none", {"irq-reenable"}),
    # wait_for_completion() between spin_unlock_irq and spin_lock_irq
    ("drivers/mmc/host/renesas_sdhi_sys_dmac.c", "renesas_sdhi_sys_dmac_dma_callback"):
        ("left-alone", "none", {"irq-reenable", "may-sleep", "latent-bug"}),
    # snd_pcm_period_elapsed() -> xrun stop -> dmaengine_terminate_async()
    ("sound/core/pcm_dmaengine.c", "dmaengine_pcm_dma_complete"):
        ("left-alone", "none", {"reenters-dma"}),
    # the client's rx_handler is called through a pointer
    ("drivers/ntb/ntb_transport.c", "ntb_rx_copy_callback"):
        ("left-alone", "none", {"unknown-call", "uses-result"}),
    # only complete(), but its one provider, shdma (its probe names
    # shdma_chan_filter()), runs __ld_cleanup()'s delivery only when
    # tx->callback is set (shdma-base.c:379; rule 8): the callback stays
    ("drivers/mtd/nand/raw/sh_flctl.c", "flctl_dma_complete"):
        ("hardirq-safe", "hardirq", {"provider-no-completion"}),
    # iio_trigger_poll_nested() runs nested threaded handlers: needs a task,
    # but at_xdmac/at_hdmac are not virt-dma: with the v2 series the prep
    # would fail with DMA_PREP_TASK_CALLBACK
    ("drivers/iio/adc/at91-sama5d2_adc.c", "at91_dma_buffer_done"):
        ("left-alone", "none", {"may-sleep", "latent-bug", "provider-no-task"}),
}


@pytest.fixture(scope="module")
def real_audit(tmp_path_factory):
    tree = ROOT / "kernel-tree"
    if not (tree / "Makefile").exists():
        pytest.skip("kernel-tree missing: make kernel-tree")
    out = tmp_path_factory.mktemp("real")
    cache = os.environ.get("DMACB_CACHE") or str(out / "cache")
    r = run_dmacb("audit", "--kernel", str(tree), "--out", str(out), cache=__import__(
        "pathlib").Path(cache))
    assert r.returncode == 0, r.stderr
    rel = next(p for p in out.iterdir() if p.name[0].isdigit())
    return {"doc": json.loads((rel / "callbacks.json").read_text()), "out": rel,
            "tree": tree, "cache": cache}


def test_every_verdict_is_consistent(real_audit):
    cbs = real_audit["doc"]["callbacks"]
    assert len(cbs) >= 150
    for c in cbs:
        assert c["action"] in ACTION_OF[c["group"]], c
        if c["action"] in ("completion", "hardirq"):
            assert not (set(c["reasons"]) & VIOLATIONS), c
        if c["action"] == "task":
            assert set(c["reasons"]) & VIOLATIONS <= {"may-sleep", "time-bounded-poll"}, c
            assert "may-sleep" in c["reasons"] and c["latent_bug"], c


# (file, callback) -> (shape, flags that must be present): checked by hand
SHAPES = {
    ("drivers/spi/spi-s3c64xx.c", "s3c64xx_spi_dmacb"): ("irq-disabled", set()),
    ("drivers/slimbus/qcom-ngd-ctrl.c", "qcom_slim_ngd_tx_msg_dma_cb"): ("irq-disabled", set()),
    ("drivers/spi/spi-imx.c", "spi_imx_dma_rx_callback"): ("complete-only", set()),
    ("drivers/tty/serial/atmel_serial.c", "atmel_complete_rx_dma"): ("chained-tasklet", set()),
    ("drivers/ntb/test/ntb_perf.c", "perf_dma_copy_callback"): ("complete-only",
                                                                 {"wakeup-only"}),
    # dmaengine_tx_status() for the residue, stores, complete()
    ("drivers/ata/pata_pxa.c", "pxa_ata_dma_irq"): ("complete-only", set()),
    ("drivers/iio/adc/at91-sama5d2_adc.c", "at91_dma_buffer_done"): ("task-context", set()),
}


@pytest.mark.parametrize("key", sorted(SHAPES), ids=[k[1] for k in sorted(SHAPES)])
def test_hand_checked_shape(real_audit, key):
    shape, flags = SHAPES[key]
    c = next(c for c in real_audit["doc"]["callbacks"] if (c["file"], c["callback"]) == key)
    assert c["shape"] == shape and flags <= set(c["shape_flags"]), c


def test_nothing_is_unresolved(real_audit):
    assert [c for c in real_audit["doc"]["callbacks"] if not c["defined_in"]] == []


def test_no_provider_or_user_space(real_audit):
    for c in real_audit["doc"]["callbacks"]:
        assert not c["file"].startswith(("drivers/dma/", "tools/")), c


def test_unparsed_functions_are_listed(real_audit):
    names = {(u["file"], u["function"]) for u in real_audit["doc"]["unparsed_functions"]}
    # both fail spatch's C parser in 6.12.117 (checked with --parse-c)
    assert ("drivers/tty/serial/imx.c", "imx_uart_probe") in names


def test_shared_pcm_callback_counted_once(real_audit):
    cs = [c for c in real_audit["doc"]["callbacks"]
          if c["callback"] == "dmaengine_pcm_dma_complete"]
    assert len(cs) == 1 and cs[0]["defined_in"] == "sound/core/pcm_dmaengine.c"
    assert len(cs[0]["users"]) >= 3


def test_async_tx_passthrough(real_audit):
    assert any(p["function"] == "async_tx_submit" for p in real_audit["doc"]["passthrough"])


@pytest.mark.parametrize("key", sorted(HAND_CHECKED), ids=[k[1] for k in sorted(HAND_CHECKED)])
def test_hand_checked(real_audit, key):
    group, action, reasons = HAND_CHECKED[key]
    c = next(c for c in real_audit["doc"]["callbacks"]
             if (c["file"], c["callback"]) == key)
    assert (c["group"], c["action"]) == (group, action), c
    assert reasons <= set(c["reasons"]), c


def test_rules_3_and_6_where_the_series_guarantees_nothing(real_audit, tmp_path):
    """With a helper-API series that guarantees nothing about delivery
    (tests/fixtures/convert-api has no providers.tsv), the slimbus TX
    callback is the AB-BA of the contract issue again, and the bcm2835
    terminate is a re-entry: rules 3 and 6 are judged from the series, not
    dropped."""
    r = run_dmacb("audit", "--kernel", str(real_audit["tree"]), "--out", str(tmp_path),
                  cache=__import__("pathlib").Path(real_audit["cache"]),
                  env_extra={"DMACB_API_SERIES": str(ROOT / "tests" / "fixtures" /
                                                     "convert-api")})
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / real_audit["out"].name / "callbacks.json").read_text())
    c = {(c["file"], c["callback"]): c for c in doc["callbacks"]}
    slim = c[("drivers/slimbus/qcom-ngd-ctrl.c", "qcom_slim_ngd_tx_msg_dma_cb")]
    assert (slim["action"], slim["reasons"]) == ("none", ["lock-held-across-dma"])
    assert slim["delivery"]["locked"] is True
    bcm = c[("drivers/spi/spi-bcm2835.c", "bcm2835_spi_dma_rx_done")]
    assert (bcm["action"], bcm["reasons"]) == ("none", ["reenters-dma"])
    assert not any(x["delivery"]["locked"] is False for x in doc["callbacks"])


def test_unchanged_rerun_uses_the_cache(real_audit, tmp_path):
    r = run_dmacb("audit", "--kernel", str(real_audit["tree"]), "--out", str(tmp_path),
                  cache=__import__("pathlib").Path(real_audit["cache"]))
    assert r.returncode == 0
    assert "running spatch" not in r.stderr
    a = (real_audit["out"] / "callbacks.csv").read_text()
    b = (tmp_path / real_audit["out"].name / "callbacks.csv").read_text()
    assert a == b


def test_tree_untouched(real_audit):
    st = subprocess.run(["git", "-C", str(real_audit["tree"]), "status", "--porcelain"],
                        capture_output=True, text=True)
    assert st.stdout == ""
