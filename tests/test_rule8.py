# SPDX-License-Identifier: GPL-2.0
"""Rule 8 of the contract, and the other questions the audit asks of the
providers (delivery.py: rules 3 and 6, the task action), end to end:
'dmacb audit' on the providers fixture tree (tests/fixtures/providers),
whose clients are served by different providers.

  drivers/spi/spi-fx.c   devicetree: fx-vchan only (virt-dma, bare
                         completion on every path): the completion stays
  drivers/mmc/fx-mmc.c   Kconfig ARCH_FXB: fx-thread (notifies only when
                         ->callback is set) and fx-lib-core (the callback
                         alone is copied into chained descriptors): no
                         completion; it keeps its callback, flagged.
                         fxmmc_card_done() sleeps: no task action, as
                         neither would run it in task context
  drivers/spi/spi-fx.c   fxspi_rx_again() restarts DMA: allowed, as the
                         helper-API series (patches/api/providers.tsv)
                         guarantees virt-dma delivers with no lock held;
                         fxspi_stop_done() synchronizes: sleeps (task)

The fixture tree of clients (tests/fixtures/kernel) registers no provider;
there rule 8 is not judged (test_audit_fixtures.py pins its completions).
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, git_tree, run_dmacb

FIXTURE = ROOT / "tests" / "fixtures" / "providers"
REL = "6.98.0-providers"

pytestmark = pytest.mark.skipif(shutil.which("spatch") is None, reason="needs spatch")


@pytest.fixture(scope="module")
def cbs(tmp_path_factory):
    base = tmp_path_factory.mktemp("rule8")
    tree = git_tree(FIXTURE, base / "linux")
    r = run_dmacb("audit", "--kernel", str(tree), "--out", str(base / "out"),
                  cache=base / "cache")
    assert r.returncode == 0, r.stderr
    doc = json.loads((base / "out" / REL / "callbacks.json").read_text())
    return {"base": base, "tree": tree, **{c["callback"]: c for c in doc["callbacks"]}}


def test_completion_kept_where_every_provider_signals_it(cbs):
    c = cbs["fxspi_dma_done"]
    assert (c["group"], c["action"], c["reasons"]) == ("complete-only", "completion", [])
    assert c["delivery"]["providers"] == ["drivers/dma/fx-vchan.c"]
    assert c["delivery"]["basis"] == ["devicetree"]


def test_no_completion_where_a_provider_would_not_signal_it(cbs):
    c = cbs["fxmmc_dma_done"]
    assert c["shape"] == "complete-only"
    assert (c["group"], c["action"]) == ("hardirq-safe", "hardirq")
    assert c["reasons"] == ["provider-no-completion"]
    ev = {e["file"]: e["detail"] for e in c["evidence"]
          if e.get("reason") == "provider-no-completion"}
    # each failing provider named, with the providers audit's why
    assert set(ev) == {"drivers/dma/fx-thread.c", "drivers/dma/fxlib/fx-lib-core.c"}
    assert "on no path" in ev["drivers/dma/fx-thread.c"]
    assert "chained descriptors" in ev["drivers/dma/fxlib/fx-lib-core.c"]


def test_rule_8_never_removes_other_reasons(cbs):
    # a callback that is not complete-only is judged by rules 1-7 alone
    c = cbs["fxuart_tx_done"]
    assert "provider-no-completion" not in c["reasons"]


def test_restart_allowed_where_every_provider_delivers_with_no_lock(cbs):
    c = cbs["fxspi_rx_again"]
    assert (c["group"], c["action"], c["reasons"]) == ("hardirq-safe", "hardirq", [])
    assert c["delivery"]["locked"] is False
    # fx-tasklet may hold any lock: rules 3 and 6 stay for its client
    assert cbs["fxuart_tx_done"]["delivery"]["locked"] is True


def test_restart_left_alone_under_a_series_that_guarantees_nothing(cbs):
    # the same tree with a helper-API series without providers.tsv (the
    # convert tests' fixture series): rule 3 applies to every provider
    base = cbs["base"]
    r = run_dmacb("audit", "--kernel", str(cbs["tree"]), "--out", str(base / "out-none"),
                  cache=base / "cache",
                  env_extra={"DMACB_API_SERIES": str(ROOT / "tests" / "fixtures" / "convert-api")})
    assert r.returncode == 0, r.stderr
    doc = json.loads((base / "out-none" / REL / "callbacks.json").read_text())
    c = {c["callback"]: c for c in doc["callbacks"]}
    assert (c["fxspi_rx_again"]["action"], c["fxspi_rx_again"]["reasons"]) == \
        ("none", ["restarts-dma"])
    assert c["fxspi_rx_again"]["delivery"]["locked"] is True
    # and no provider is known to honour the task flag
    assert c["fxspi_stop_done"]["action"] == "none"
    assert "provider-no-task" in c["fxspi_stop_done"]["reasons"]


def test_synchronize_sleeps_whatever_the_delivery(cbs):
    # dmaengine_terminate_sync() is kb class sleep, not only a re-entry:
    # freeing rule 3 does not make it hardirq-safe
    c = cbs["fxspi_stop_done"]
    assert c["delivery"]["locked"] is False
    assert (c["group"], c["action"]) == ("task-context", "task")
    assert c["reasons"] == ["may-sleep", "latent-bug"]


def test_task_only_where_every_provider_runs_it_in_task_context(cbs):
    c = cbs["fxmmc_card_done"]
    assert (c["group"], c["action"]) == ("left-alone", "none")
    assert c["reasons"] == ["may-sleep", "provider-no-task", "latent-bug"]
    ev = {e["file"]: e["detail"] for e in c["evidence"]
          if e.get("reason") == "provider-no-task"}
    assert set(ev) == {"drivers/dma/fx-thread.c", "drivers/dma/fxlib/fx-lib-core.c"}
    assert all("no chan->task_callbacks" in v for v in ev.values())


def test_commit_message_says_what_no_lock_delivery_allows(cbs, monkeypatch):
    from dmacb_lib import commitmsg, delivery, kernel
    monkeypatch.setenv("DMACB_CACHE", str(cbs["base"] / "cache"))
    k = kernel.resolve(str(cbs["tree"]))
    d = delivery.for_tree(k, 1, ["drivers/spi/spi-fx.c"])
    para = d.paragraph("hardirq", ["drivers/spi/spi-fx.c"])
    assert ("fx-vchan runs it from the core's per-channel deferred context, with no lock "
            "held") in para
    conv = [{"callback": "fxspi_rx_again", "action": "hardirq", "group": "hardirq-safe",
             "script": "cocci/x.cocci", "locked": False}]
    msg = " ".join(commitmsg.message("spi: fx:", conv, para).split())
    assert "no dmaengine call" not in msg and "holds across dmaengine calls" not in msg
    assert "with no provider lock held and outside the driver's own dmaengine calls" in msg
    conv[0]["locked"] = True
    msg = " ".join(commitmsg.message("spi: fx:", conv, para).split())
    assert "no dmaengine call" in msg and "with no provider lock held" not in msg


def test_verify_hands_the_delivery_to_the_checker():
    from dmacb_lib import verify
    doc = {"callbacks": [
        {"file": "a.c", "defined_in": "a.c", "callback": "cb1", "status": "converted",
         "action": "hardirq", "locked": False},
        {"file": "a.c", "defined_in": "a.c", "callback": "cb2", "status": "converted",
         "action": "hardirq", "locked": True},
        {"file": "a.c", "defined_in": "a.c", "callback": "cb3", "status": "converted",
         "action": "hardirq"}]}
    assert verify.plan_rows(doc) == [("hardirq", "a.c", "cb1", "unlocked"),
                                     ("hardirq", "a.c", "cb2", "locked"),
                                     ("hardirq", "a.c", "cb3", "locked")]


def test_commit_message_names_the_providers(cbs, monkeypatch):
    # the paragraph convert adds: who may serve the driver, and what each
    # does with the flag (the first API: virt-dma runs it under vc->lock)
    from dmacb_lib import delivery, kernel
    monkeypatch.setenv("DMACB_CACHE", str(cbs["base"] / "cache"))
    k = kernel.resolve(str(cbs["tree"]))
    files = ["drivers/spi/spi-fx.c", "drivers/mmc/fx-mmc.c", "drivers/tty/fx-uart.c"]
    d = delivery.for_tree(k, 1, files)
    d.api = None
    spi = d.paragraph("completion", ["drivers/spi/spi-fx.c"])
    assert "going by the devicetree bindings of the tree: fx-vchan." in spi
    assert "Each signals a completion set without a callback on every path." in spi
    mmc = d.paragraph("hardirq", ["drivers/mmc/fx-mmc.c"])
    assert ("fx-thread and fxlib/fx-lib-core ignore the flag and keep calling it as "
            "before") in mmc
    assert "changes nothing at run time" in mmc


def test_verify_hands_rule_8_to_the_checker(cbs, monkeypatch):
    # verify's plan rows for the checker's providers check: one per provider
    # that may serve a file converted to a completion, with its bare value
    from dmacb_lib import kernel, verify
    monkeypatch.setenv("DMACB_CACHE", str(cbs["base"] / "cache"))
    k = kernel.resolve(str(cbs["tree"]))
    doc = {"callbacks": [
        {"file": "drivers/mmc/fx-mmc.c", "status": "converted", "action": "completion"},
        {"file": "drivers/spi/spi-fx.c", "status": "converted", "action": "completion"},
        {"file": "drivers/tty/fx-uart.c", "status": "converted", "action": "hardirq"}]}
    rows = sorted(verify.provider_rows(k, doc, 1))
    assert rows == [
        ("provider", "drivers/mmc/fx-mmc.c", "drivers/dma/fx-thread.c", "never"),
        ("provider", "drivers/mmc/fx-mmc.c", "drivers/dma/fxlib/fx-lib-core.c", "some-paths"),
        ("provider", "drivers/spi/spi-fx.c", "drivers/dma/fx-vchan.c", "all-paths")]
