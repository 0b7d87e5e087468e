# SPDX-License-Identifier: GPL-2.0
"""chan_notify: which provider tasklets move onto the core's notification
path, and why the others do not (plan_texts() and candidates() on small
texts; the rewrite itself is tested through convert in
test_convert_delivery.py and on the real trees)."""

from __future__ import annotations

import shutil

import pytest

from dmacb_lib import chan_notify

GOOD = """\
#include "dmaengine.h"

struct foo_chan {
	struct dma_chan chan;
	struct tasklet_struct tasklet;
};

static void foo_tasklet(struct tasklet_struct *t)
{
	struct foo_chan *c = from_tasklet(c, t, tasklet);

	foo_deliver(c);
}

static irqreturn_t foo_irq(int irq, void *data)
{
	struct foo_chan *c = data;

	tasklet_schedule(&c->tasklet);
	return IRQ_HANDLED;
}

static int foo_probe(struct foo_chan *c)
{
	tasklet_setup(&c->tasklet, foo_tasklet);
	return 0;
}
"""
AT = "drivers/dma/foo.c:" + str(GOOD.split("\n").index(
    "\ttasklet_setup(&c->tasklet, foo_tasklet);") + 1)


def plan(text: str, at: str = AT):
    pl = chan_notify.Plan("drivers/dma/foo.c", "foo", ["drivers/dma/foo.c"],
                          "foo_tasklet", at)
    return chan_notify.plan_texts({"drivers/dma/foo.c": text}, pl)


def test_the_intended_change():
    want, defines, why = plan(GOOD)
    assert why == ""
    assert defines == ["fn=foo_tasklet", "member=tasklet", "sname=foo_chan", "chan=chan"]
    new = want["drivers/dma/foo.c"]
    assert "struct dmaengine_chan_notify notify;" in new
    assert "foo_tasklet(struct dmaengine_chan_notify *notify, bool task)" in new
    assert "container_of(notify, struct foo_chan, notify);" in new
    assert "dmaengine_chan_notify_schedule(&c->notify);" in new
    assert "dmaengine_chan_notify_init(&c->chan, &c->notify, foo_tasklet);" in new
    assert "tasklet" not in new.replace("foo_tasklet", "")


@pytest.mark.parametrize("edit,why", [
    (("\ttasklet_schedule(&c->tasklet);", "\ttasklet_disable(&c->tasklet);"),
     "uses the tasklet otherwise (tasklet_disable(&c->tasklet);)"),
    (("\tstruct dma_chan chan;\n", ""), "has no struct dma_chan member"),
    (("\tstruct dma_chan chan;\n", "\tstruct dma_chan chan;\n\tstruct dma_chan tx;\n"),
     "has 2 struct dma_chan members"),
    (("\tfoo_deliver(c);", "\tfoo_deliver(c);\n\tfoo_tasklet(t);"),
     "uses its tasklet argument 't' for more"),
    (("\treturn 0;\n}", "\tfoo_tasklet(NULL);\n\treturn 0;\n}"),
     "is used elsewhere than in its tasklet_setup()"),
    (("\tfoo_deliver(c);", "\tint task = 1;\n\n\tfoo_deliver(c);"),
     "already uses the name task"),
    (("\tstruct tasklet_struct tasklet;\n", "\tstruct tasklet_struct tasklet;\n\tint notify;\n"),
     "already has a member named 'notify'"),
    (("struct foo_chan *c = from_tasklet(c, t, tasklet);\n",
      "struct foo_chan *c;\n\n\tc = from_tasklet(c, t, tasklet);\n"),
     "does not start with 'struct foo_chan *v = from_tasklet(v, t, tasklet);'"),
])
def test_refusals(edit, why):
    assert edit[0] in GOOD
    want, _, got = plan(GOOD.replace(*edit))
    assert want is None and why in got, got


def test_the_new_member_must_be_defined_where_the_struct_is_seen():
    # in the .c: dmaengine.h before the struct
    want, _, why = plan(GOOD.replace('#include "dmaengine.h"\n', ""))
    assert want is None and "does not include drivers/dma's dmaengine.h before" in why
    # in a header: every file that includes it includes dmaengine.h first
    i = GOOD.index("static void")
    hdr, c = GOOD[len('#include "dmaengine.h"\n'):i], GOOD[i:]
    at = "drivers/dma/foo.c:" + str(c.split("\n").index(
        "\ttasklet_setup(&c->tasklet, foo_tasklet);") + 3)
    files = ["drivers/dma/foo.c", "drivers/dma/foo.h"]
    pl = chan_notify.Plan("drivers/dma/foo.c", "foo", files, "foo_tasklet", at)
    ok = {"drivers/dma/foo.c": '#include "dmaengine.h"\n#include "foo.h"\n' + c,
          "drivers/dma/foo.h": hdr}
    assert chan_notify.plan_texts(ok, pl)[2] == ""
    late = dict(ok, **{"drivers/dma/foo.c": '#include "foo.h"\n#include "dmaengine.h"\n' + c})
    assert "drivers/dma/foo.c includes before drivers/dma's dmaengine.h" in \
        chan_notify.plan_texts(late, pl)[2]
    # another driver of drivers/dma that includes the header counts too
    other = {"drivers/dma/bar.c": '#include "foo.h"\n'}
    assert "drivers/dma/bar.c includes before" in chan_notify.plan_texts(ok, pl, other)[2]
    assert chan_notify.plan_texts(ok, pl, {"drivers/dma/bar.c": '#include "virt-dma.h"\n'
                                           '#include "foo.h"\n'})[2] == ""


def test_a_comment_is_not_a_use():
    text = GOOD.replace("\tfoo_deliver(c);", "\t/* tasklet_disable(&c->tasklet) went */\n"
                        "\tfoo_deliver(c);")
    assert plan(text)[2] == ""


class _Res:
    def __init__(self, tasklets):
        self.providers = {"drivers/dma/foo.c": {"name": "foo", "files": [],
                                                "tasklets": tasklets}}


def test_only_delivery_only_tasklets_are_candidates():
    t = {"function": "foo_tasklet", "registered_at": AT, "registered": "tasklet_setup()",
         "parsed": True, "roles": ["callback-delivery", "starts-next-transfer"],
         "kind": "mixed"}
    (pl,) = chan_notify.candidates(_Res([t]))
    assert "is mixed (callback-delivery, starts-next-transfer)" in pl.reason
    (pl,) = chan_notify.candidates(_Res([dict(t, kind="delivery-only",
                                              roles=["callback-delivery"])]))
    assert pl.reason == ""
    (pl,) = chan_notify.candidates(_Res([dict(t, kind="delivery-only",
                                              registered="tasklet_init()")]))
    assert "only tasklet_setup()" in pl.reason


def test_a_script_that_does_other_than_intended_is_refused(monkeypatch):
    pl = chan_notify.Plan("drivers/dma/foo.c", "foo", ["drivers/dma/foo.c"], "foo_tasklet", AT)
    monkeypatch.setattr(chan_notify.rewrite, "run_spatch", lambda *a: GOOD)
    changed, _, why = chan_notify.rewrite_provider({"drivers/dma/foo.c": GOOD}, pl)
    assert changed == {} and "is not the intended one" in why


@pytest.mark.skipif(shutil.which("spatch") is None, reason="needs spatch")
def test_the_script_makes_the_intended_change_and_a_rerun_none():
    pl = chan_notify.Plan("drivers/dma/foo.c", "foo", ["drivers/dma/foo.c"], "foo_tasklet", AT)
    changed, defines, why = chan_notify.rewrite_provider({"drivers/dma/foo.c": GOOD}, pl)
    assert why == "" and set(changed) == {"drivers/dma/foo.c"}
    again = chan_notify.rewrite.run_spatch(chan_notify.SCRIPT, defines,
                                           changed["drivers/dma/foo.c"], "foo.c")
    assert again == changed["drivers/dma/foo.c"]


def test_layout():
    text = ("static void a_very_long_driver_name_tasklet(struct dmaengine_chan_notify *notify,\n"
            "\t\t               bool task)\n{\n"
            "\tstruct a_very_long_driver_name_chan *chan = container_of(notify,\n"
            "\t\t\t\t\t\t\tstruct a_very_long_driver_name_chan,\n\t\t\t\t\t\t\tnotify);\n")
    out = chan_notify.tidy(text, "")
    assert out.split("\n")[:2] == [
        "static void a_very_long_driver_name_tasklet(struct dmaengine_chan_notify *notify,",
        "\t\t\t\t\t    bool task)"]
    assert "container_of(notify,\n" in out
    short = "static void f(struct dmaengine_chan_notify *notify,\n\t bool task)\n"
    assert chan_notify.tidy(short, "") == \
        "static void f(struct dmaengine_chan_notify *notify, bool task)\n"
