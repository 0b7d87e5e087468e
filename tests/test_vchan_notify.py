# SPDX-License-Identifier: GPL-2.0
"""vchan_notify.intent(): where vchan_notify_irq() must go in a provider's
interrupt handler, and every shape it leaves for a person; and the
semantic patch agreeing with it (cocci/vchan_notify_irq.cocci)."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from dmacb_lib import rewrite, vchan_notify

HEAD = """struct virt_dma_chan { int lock; };
struct xchan { struct virt_dma_chan vc; int busy; };
struct xdev { int lock; struct xchan ch[4]; };
"""

GOOD = HEAD + """
static irqreturn_t x_irq(int irq, void *data)
{
	struct xchan *c = data;
	unsigned long flags;

	spin_lock_irqsave(&c->vc.lock, flags);
	if (!c->busy) {
		spin_unlock_irqrestore(&c->vc.lock, flags);
		return IRQ_NONE;
	}
	vchan_cookie_complete(&c->d->vd);
	spin_unlock_irqrestore(&c->vc.lock, flags);

	return IRQ_HANDLED;
}
"""

M = {"vc"}


def test_after_every_final_unlock():
    want, why = vchan_notify.intent(GOOD, "x_irq", M)
    assert why == ""
    assert want.count("vchan_notify_irq(&c->vc);") == 2
    assert "\t\tspin_unlock_irqrestore(&c->vc.lock, flags);\n\t\tvchan_notify_irq(&c->vc);\n" \
        "\t\treturn IRQ_NONE;" in want
    assert "\tspin_unlock_irqrestore(&c->vc.lock, flags);\n\tvchan_notify_irq(&c->vc);\n\n" \
        "\treturn IRQ_HANDLED;" in want
    # a second run changes nothing
    assert vchan_notify.intent(want, "x_irq", M) == (want, "")


def test_unlock_inside_a_loop_is_left_alone():
    text = HEAD + """
static irqreturn_t x_irq(int irq, void *data)
{
	struct xdev *d = data;
	int i;

	for (i = 0; i < 4; i++) {
		spin_lock(&d->ch[i].vc.lock);
		vchan_cookie_complete(&d->ch[i].d->vd);
		spin_unlock(&d->ch[i].vc.lock);
	}
	writel(0, d->ack);
	return IRQ_HANDLED;
}
"""
    want, why = vchan_notify.intent(text, "x_irq", M)
    assert want is None and "must be the handler's last step" in why and "at line 13" in why


def test_another_lock_is_left_alone():
    text = GOOD.replace("\tspin_lock_irqsave(&c->vc.lock, flags);",
                        "\tspin_lock(&c->dev->lock);\n\tspin_unlock(&c->dev->lock);\n"
                        "\tspin_lock_irqsave(&c->vc.lock, flags);")
    want, why = vchan_notify.intent(text, "x_irq", M)
    assert want is None and "also takes &c->dev->lock" in why


def test_handler_called_directly_is_left_alone():
    text = GOOD + "\nstatic void x_poll(struct xchan *c)\n{\n\tx_irq(0, c);\n}\n"
    want, why = vchan_notify.intent(text, "x_irq", M)
    assert want is None and "also called directly" in why
    # a prototype is not a call
    proto = GOOD.replace("\nstatic irqreturn_t x_irq(int irq, void *data)\n{",
                         "\nstatic irqreturn_t x_irq(int irq, void *data);\n"
                         "\nstatic irqreturn_t x_irq(int irq, void *data)\n{", 1)
    assert vchan_notify.intent(proto, "x_irq", M)[1] == ""


def test_no_channel_unlock_in_the_handler():
    text = HEAD + """
static irqreturn_t x_irq(int irq, void *data)
{
	x_handle(data);
	return IRQ_HANDLED;
}
"""
    assert vchan_notify.intent(text, "x_irq", M) == (
        None, "x_irq() drops no virtual channel lock itself")


def test_not_a_virtual_channel_member():
    want, why = vchan_notify.intent(GOOD, "x_irq", {"vchan"})
    assert want is None and "also takes &c->vc.lock" in why


@pytest.mark.skipif(shutil.which("spatch") is None, reason="needs spatch")
def test_semantic_patch_agrees_with_the_intent():
    want, _ = vchan_notify.intent(GOOD, "x_irq", M)
    got = rewrite.run_spatch(vchan_notify.SCRIPT, ["handler=x_irq"], GOOD, "x.c")
    assert got == want
    assert rewrite.run_spatch(vchan_notify.SCRIPT, ["handler=x_irq"], got, "x.c") == got


def test_provider_commit_prefix_is_the_subsystems():
    # drivers/dma commits say "dmaengine: <driver>:" (a tree without history
    # such as a Debian tarball falls back to the table)
    from dmacb_lib import commitmsg
    assert commitmsg.table_prefix("drivers/dma/bcm2835-dma.c") == "dmaengine: bcm2835-dma:"
    assert commitmsg.table_prefix("drivers/dma/stm32/stm32-dma.c") == "dmaengine: stm32-dma:"


def _k3_like() -> SimpleNamespace:
    """A providers audit of one virt-dma provider that also calls
    callbacks itself (k3-udma before the helper-API series)."""
    site = {"function": "own_complete", "at": "drivers/dma/k3.c:10", "call": "x",
            "kind": "direct", "contexts": []}
    p = {"id": "drivers/dma/k3.c", "name": "k3", "uses_virt_dma": True,
         "files": [{"file": "drivers/dma/k3.c"}],
         "delivery": {"method": "virt-dma", "completes_from": ["hardirq"],
                      "delivers_from": ["tasklet"], "deliver_sites": [site],
                      "complete_sites": [{"contexts": [{"context": "hardirq",
                                                         "function": "k3_irq"}]}]},
         "bare_completion": {"value": "all-paths", "value_noncyclic": "all-paths"}}
    return SimpleNamespace(providers={p["id"]: p})


def test_own_delivery_the_series_removes():
    from dmacb_lib import delivery
    res = _k3_like()
    d = delivery.Delivery(None, res, {}, "6.12.0", {})
    d.api = {delivery.VIRT_DMA: {"hardirq-delivery": "deferred",
                                  "task-callbacks": "honoured"}}
    # the audit of the unpatched tree: it calls callbacks itself
    assert d.provider("drivers/dma/k3.c", False).locked
    assert "calls callbacks itself" in vchan_notify.candidates(res, d.own_delivery_removed)[0].reason
    # the series deletes that delivery (providers.tsv own-delivery=removed)
    d.api["drivers/dma/k3.c"] = {"own-delivery": "removed"}
    p = d.provider("drivers/dma/k3.c", False)
    assert not p.locked and p.task
    assert vchan_notify.candidates(res, d.own_delivery_removed)[0].reason == ""


HOOKED = """struct virt_dma_chan { int lock; };
struct xchan { struct virt_dma_chan vc; int busy; };

static void x_fill(struct dmaengine_result *r)
{
	r->residue = 0;
}

static void x_desc_result(struct virt_dma_chan *vc, struct virt_dma_desc *vd,
			  struct dmaengine_result *r)
{
	if (r)
		x_fill(r);
}

static void x_sleepy_result(struct virt_dma_chan *vc, struct virt_dma_desc *vd,
			    struct dmaengine_result *r)
{
	msleep(1);
}

static int x_probe(struct xchan *c)
{
	c->vc.desc_result = x_desc_result;
	return 0;
}
"""


@pytest.fixture
def hooked_tree(tmp_path, monkeypatch):
    """A tree with one provider file that sets virt-dma's desc_result hook."""
    from conftest import git_tree
    from dmacb_lib import kernel
    src = tmp_path / "src"
    (src / "drivers/dma").mkdir(parents=True)
    (src / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 99\nSUBLEVEL = 0\n"
                                  "EXTRAVERSION = -hook\n")
    (src / "drivers/dma/x.c").write_text(HOOKED)
    (src / "include/linux").mkdir(parents=True)
    (src / "include/linux/dmaengine.h").write_text("/* empty */\n")
    monkeypatch.setenv("DMACB_CACHE", str(tmp_path / "cache"))
    return kernel.resolve(str(git_tree(src, tmp_path / "linux")))


def test_desc_result_hooks_are_found():
    assert vchan_notify.hooks({"drivers/dma/x.c": HOOKED}) == [("drivers/dma/x.c",
                                                               "x_desc_result")]
    # a comment naming the hook sets nothing
    assert vchan_notify.hooks({"a.c": "/* vc.desc_result = x; */\n"}) == []


@pytest.mark.skipif(not shutil.which("spatch"), reason="needs spatch")
def test_desc_result_hook_is_judged_for_hard_irq(hooked_tree):
    """vchan_notify_irq() makes virt-dma run the hook in hard IRQ: a hook
    that sleeps keeps the provider as it is; one that only fills in the
    result (through a helper) lets it be converted."""
    k = hooked_tree
    f = "drivers/dma/x.c"

    def show(p):
        return (k.path / p).read_text()
    assert vchan_notify.hook_problems(k, 1, show, f, "x_desc_result") == ""
    why = vchan_notify.hook_problems(k, 1, show, f, "x_sleepy_result")
    assert "hard IRQ" in why and "may-sleep (msleep" in why
    assert "cannot find" in vchan_notify.hook_problems(k, 1, show, f, "x_missing")
    # what the audit judged is the tree without the helper-API series: a
    # function the hook runs that the series changes is left for a person
    changed = HOOKED.replace("r->residue = 0;", "r->residue = 1;")
    why = vchan_notify.hook_problems(k, 1, lambda p: changed, f, "x_desc_result")
    assert "changes x_fill()" in why


def test_verify_checks_the_hook_of_a_converted_provider():
    from dmacb_lib import verify
    doc = {"callbacks": [], "providers": [
        {"status": "converted", "hooks": [["drivers/dma/x.c", "x_desc_result"]]},
        {"status": "not-converted", "hooks": [["drivers/dma/y.c", "y_result"]]}]}
    assert verify.plan_rows(doc) == [("hardirq", "drivers/dma/x.c", "x_desc_result",
                                      "unlocked")]


def test_provider_message_names_the_hook():
    from dmacb_lib import commitmsg
    msg = commitmsg.provider_message("dmaengine: x:", "x", [("drivers/dma/x.c", "x_irq")],
                                     [("drivers/dma/x.c", "x_desc_result")])
    assert "desc_result hook, x_desc_result(), just before each" in msg
    assert "desc_result" not in commitmsg.provider_message("dmaengine: x:", "x",
                                                           [("drivers/dma/x.c", "x_irq")])
