# SPDX-License-Identifier: GPL-2.0
"""What the audit judged of the providers reaches the commits and verify:
convert on the providers fixture tree (tests/fixtures/providers) with a
helper-API series that carries patches/api/providers.tsv (virt-dma delivers
with no lock held).

fxspi_rx_again() restarts DMA from its callback; its only provider is
fx-vchan (virt-dma), so rule 3 was not applied.  Its convert record says so,
its commit message does not claim "no dmaengine call", and verify hands the
checker an 'unlocked' plan row; fxuart_tx_done() (fx-tasklet) stays locked.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import ROOT, git_tree, run_dmacb

FIXTURE = ROOT / "tests" / "fixtures" / "providers"
REL = "6.98.0-providers"
BRANCH = f"dmacb/{REL}"

pytestmark = pytest.mark.skipif(shutil.which("spatch") is None, reason="needs spatch")


def git(tree, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], check=True, text=True,
                          capture_output=True).stdout


def series_for(tree, out):
    """A one-patch series for the fixture tree, with the real series'
    guarantees (patches/api/providers.tsv)."""
    work = out / "series-src"
    subprocess.run(["git", "clone", "-q", str(tree), str(work)], check=True)
    h = work / "include" / "linux" / "dmaengine.h"
    h.write_text(h.read_text() + "/* fixture helper API */\n")
    # the real series touches providers too (vchan_synchronize(), k3-udma):
    # the provider rewrite starts from the series' tip, not the base
    v = work / "drivers" / "dma" / "fx-vchan.c"
    v.write_text(v.read_text() + "/* touched by the helper API */\n")
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    git(work, *env, "commit", "-qam", "dmaengine: fixture helper API")
    d = out / "series"
    git(work, "format-patch", "-q", "-o", str(d), "HEAD~1")
    shutil.copy(ROOT / "patches" / "api" / "providers.tsv", d / "providers.tsv")
    return d


def convert(tree, base, series):
    return run_dmacb("convert", "--kernel", str(tree), "--out", str(base / "reports"),
                     cache=base / "cache", env_extra={"DMACB_API_SERIES": str(series)})


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("convdeliv")
    tree = git_tree(FIXTURE, base / "linux")
    series = series_for(tree, base)
    r = convert(tree, base, series)
    assert r.returncode == 0, r.stderr
    doc = json.loads((base / "reports" / REL / "convert.json").read_text())
    return {"tree": tree, "doc": doc, "base": base, "series": series,
            "recs": {r["callback"]: r for r in doc["callbacks"]}}


def test_records_carry_the_delivery(converted):
    recs = converted["recs"]
    assert recs["fxspi_rx_again"]["status"] == "converted"
    assert recs["fxspi_rx_again"]["locked"] is False
    assert recs["fxuart_tx_done"]["locked"] is True


def test_commit_message_claims_only_what_was_checked(converted):
    tree, recs = converted["tree"], converted["recs"]
    msg = " ".join(git(tree, "log", "-1", "--format=%B",
                       recs["fxspi_rx_again"]["commit"]).split())
    assert "no dmaengine call" not in msg
    assert "with no provider lock held and outside the driver's own dmaengine calls" in msg
    msg = " ".join(git(tree, "log", "-1", "--format=%B",
                       recs["fxuart_tx_done"]["commit"]).split())
    assert "no dmaengine call" in msg


def test_verify_plan_follows_the_records(converted):
    from dmacb_lib import verify
    rows = {r[2]: r[3] for r in verify.plan_rows(converted["doc"]) if r[0] == "hardirq"}
    assert rows["fxspi_rx_again"] == "unlocked"
    assert rows["fxuart_tx_done"] == "locked"


def test_provider_handler_gets_vchan_notify_irq(converted):
    tree, doc = converted["tree"], converted["doc"]
    prov = {r["provider"]: r for r in doc["providers"]}
    fxv = prov["drivers/dma/fx-vchan.c"]
    assert fxv["status"] == "converted" and fxv["handlers"] == ["fxv_irq"]
    diff = git(tree, "show", "--format=", fxv["commit"])
    assert "\tspin_unlock(&c->vc.lock);\n+\tvchan_notify_irq(&c->vc);\n \treturn IRQ_HANDLED;" in diff
    assert diff.count("\n+") == 2        # the +++ line and the call
    msg = git(tree, "log", "-1", "--format=%B", fxv["commit"])
    assert msg.split("\n")[0].endswith(
        ": deliver hardirq-safe notifications from the interrupt handler")
    assert "fxv_irq() is fx-vchan's hard interrupt handler" in " ".join(msg.split())
    # the provider commit comes before every client commit
    order = git(tree, "log", "--reverse", "--format=%H", f"HEAD..{BRANCH}").split()
    clients = [r["commit"] for r in doc["callbacks"] if r["status"] == "converted"]
    assert all(order.index(fxv["commit"]) < order.index(c) for c in clients)
    # and the client it serves says so
    spi = " ".join(git(tree, "log", "-1", "--format=%B",
                       converted["recs"]["fxspi_rx_again"]["commit"]).split())
    assert "fx-vchan runs it from its interrupt handler, with no lock held" in spi
    # not a virt-dma provider: no candidate
    assert "drivers/dma/fx-tasklet.c" not in prov


def test_rerun_commits_nothing(converted):
    c = converted
    tip = git(c["tree"], "rev-parse", BRANCH).strip()
    before = (c["base"] / "reports" / REL / "convert.json").read_bytes()
    r = convert(c["tree"], c["base"], c["series"])
    assert r.returncode == 0, r.stderr
    assert "0 new commit(s)" in r.stderr
    assert git(c["tree"], "rev-parse", BRANCH).strip() == tip
    assert (c["base"] / "reports" / REL / "convert.json").read_bytes() == before


def test_tasklets_left_each_with_its_reason(converted):
    left = {t["function"]: t for t in converted["doc"]["tasklets_left"]}
    assert set(left) == {"fxt_tasklet", "fxh_err_task"}
    t = left["fxt_tasklet"]
    assert (t["file"], t["provider"], t["kind"]) == \
        ("drivers/dma/fx-tasklet.c", "fx-tasklet", "mixed")
    assert "delivers callbacks and also starts the next transfer" in t["reason"]
    e = left["fxh_err_task"]
    assert (e["kind"], e["roles"]) == ("not-callback", ["error-recovery"])
    md = (converted["base"] / "reports" / REL / "convert.md").read_text()
    assert "2 tasklet set-ups at the branch's tip: mixed 1, not-callback 1." in md


def test_delivery_only_tasklet_moves_onto_the_core_path(converted):
    tree, doc = converted["tree"], converted["doc"]
    recs = {r["tasklet"]: r for r in doc["provider_tasklets"]}
    bh = recs["fxbh_tasklet"]
    assert bh["status"] == "converted", bh
    assert bh["defines"] == ["fn=fxbh_tasklet", "member=task", "sname=fxbh_chan", "chan=chan"]
    diff = git(tree, "show", "--format=", bh["commit"])
    for old, new in [
            ("struct tasklet_struct\t\ttask;", "struct dmaengine_chan_notify\tnotify;"),
            ("fxbh_tasklet(struct tasklet_struct *t)",
             "fxbh_tasklet(struct dmaengine_chan_notify *notify, bool task)"),
            ("from_tasklet(c, t, task);", "container_of(notify, struct fxbh_chan, notify);"),
            ("tasklet_schedule(&c->task);", "dmaengine_chan_notify_schedule(&c->notify);"),
            ("tasklet_kill(&to_fxbh(chan)->task);",
             "dmaengine_chan_notify_sync(&to_fxbh(chan)->notify);"),
            ("tasklet_setup(&c->task, fxbh_tasklet);",
             "dmaengine_chan_notify_init(&c->chan, &c->notify, fxbh_tasklet);"),
            (" * @task: bottom half that completes the descriptors",
             " * @notify: notification path that delivers the callbacks"),
            (" * @t: the channel's tasklet", " * @notify: the channel's notification path"),
            (" * @t: the channel's tasklet", " * @task: true when run in task context")]:
        lines = diff.split("\n")
        assert any(ln.startswith("-") and old in ln for ln in lines), old
        assert any(ln.startswith("+") and new in ln for ln in lines), new
    # the body is not touched: the struct's doc loses a line, the function's
    # gains one
    assert diff.count("\n-") - diff.count("\n---") == 9
    assert diff.count("\n+") - diff.count("\n+++") == 9
    msg = " ".join(git(tree, "log", "-1", "--format=%B", bh["commit"]).split())
    assert msg.startswith("dmaengine: fx-bh: deliver callbacks from the core's notification path")
    assert "tasklet_kill() becomes dmaengine_chan_notify_sync()" in msg
    # before every client commit, after the API
    order = git(tree, "log", "--reverse", "--format=%H", f"HEAD..{BRANCH}").split()
    clients = [r["commit"] for r in doc["callbacks"] if r["status"] == "converted"]
    assert all(order.index(bh["commit"]) < order.index(c) for c in clients)
    # the mixed and the not-callback tasklets stay, each with the kind
    assert "is mixed" in recs["fxt_tasklet"]["reason"]
    assert "is not-callback" in recs["fxh_err_task"]["reason"]
