# SPDX-License-Identifier: GPL-2.0
"""Rule 8 of the contract, end to end: 'dmacb audit' on the providers
fixture tree (tests/fixtures/providers), whose two complete-only clients are
served by different providers.

  drivers/spi/spi-fx.c   devicetree: fx-vchan only (virt-dma, bare
                         completion on every path): the completion stays
  drivers/mmc/fx-mmc.c   Kconfig ARCH_FXB: fx-thread (notifies only when
                         ->callback is set) and fx-lib-core (the callback
                         alone is copied into chained descriptors): no
                         completion; it keeps its callback, flagged

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
