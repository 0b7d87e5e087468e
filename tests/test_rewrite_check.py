# SPDX-License-Identifier: GPL-2.0
"""The checks that keep a wrong SmPL result out of the branch: each is fed
a result that differs from the intended change in one way."""

from __future__ import annotations

from dmacb_lib import rewrite

OLD = """\
struct foo { struct completion done; struct completion other; };

static void foo_dma_done(void *p)
{
	struct foo *f = p;

	complete(&f->done);
}

static int foo_start(struct foo *priv, struct dma_chan *c)
{
	struct dma_async_tx_descriptor *desc;

	desc = dmaengine_prep_slave_single(c, 0, 4, DMA_DEV_TO_MEM,
					   DMA_PREP_INTERRUPT);
	desc->callback = foo_dma_done;
	desc->callback_param = priv;
	return 0;
}
"""

GOOD = """\
struct foo { struct completion done; struct completion other; };

static int foo_start(struct foo *priv, struct dma_chan *c)
{
	struct dma_async_tx_descriptor *desc;

	desc = dmaengine_prep_slave_single(c, 0, 4, DMA_DEV_TO_MEM,
					   DMA_PREP_INTERRUPT);
	dmaengine_desc_set_completion(desc, &priv->done);
	return 0;
}
"""

ITEM = rewrite.Item("foo_dma_done", "completion",
                    [{"file": "x.c", "line": 16, "function": "foo_start",
                      "field": "callback", "rhs": "foo_dma_done"}], ["&f->done"])


def check(new: str):
    want, why, deleted, exprs = rewrite.expected_completion(OLD, new, ITEM)
    return want is not None and want == rewrite.tokens(new), deleted, exprs


def test_intended_completion_passes():
    ok, deleted, exprs = check(GOOD)
    assert ok and deleted and exprs == ["&priv->done"]


def test_wrong_completion_field_fails():
    assert not check(GOOD.replace("&priv->done", "&priv->other"))[0]


def test_other_change_fails():
    assert not check(GOOD.replace("return 0;", "return 1;"))[0]


def test_half_rewritten_fails():
    # the site rewritten but the unused callback left in place
    half = OLD.replace("\tdesc->callback = foo_dma_done;\n\tdesc->callback_param = priv;\n",
                       "\tdmaengine_desc_set_completion(desc, &priv->done);\n")
    want, why, deleted, exprs = rewrite.expected_completion(OLD, half, ITEM)
    assert want is None and "nothing uses it" in why
    # and a site left alone is not an adjacent pair any more: caught too
    assert not check(GOOD.replace("dmaengine_desc_set_completion(desc, &priv->done);",
                                  "desc->callback = foo_dma_done;"))[0]


FLAG_ITEM = rewrite.Item("foo_dma_done", "hardirq",
                         [{"file": "x.c", "line": 16, "function": "foo_start",
                           "field": "callback", "rhs": "foo_dma_done"}])


def test_flag_intended_passes_and_is_minimal():
    new = OLD.replace("\t\t\t\t\t   DMA_PREP_INTERRUPT);",
                      "\t\t\t\t\t   DMA_PREP_INTERRUPT | DMA_PREP_HARDIRQ_CALLBACK);")
    why, edits = rewrite.check_flag(OLD, new, FLAG_ITEM)
    assert why == ""
    text, why = rewrite.apply_edits(OLD, edits)
    assert why == "" and rewrite.tokens(text) == rewrite.tokens(new)
    # 43 columns of indent + the flags: over 80, wrapped at the '|'
    assert "DMA_PREP_INTERRUPT |\n\t\t\t\t\t   DMA_PREP_HARDIRQ_CALLBACK);" in text


def test_flag_elsewhere_fails():
    new = OLD.replace("DMA_DEV_TO_MEM,", "DMA_DEV_TO_MEM | DMA_PREP_HARDIRQ_CALLBACK,")
    why, _ = rewrite.check_flag(OLD, new, FLAG_ITEM)
    assert why.startswith("unexpected change") or "not visible" in why


def test_flag_plus_other_change_fails():
    new = OLD.replace("DMA_PREP_INTERRUPT);", "DMA_PREP_INTERRUPT | DMA_PREP_HARDIRQ_CALLBACK);")
    new = new.replace("return 0;", "return -1;")
    why, _ = rewrite.check_flag(OLD, new, FLAG_ITEM)
    assert why.startswith("unexpected change")


def test_tidy_keeps_one_blank_line_and_drops_the_comment():
    old = "int a;\n\n/* the callback */\nstatic void cb(void *p)\n{\n}\n\nint b;\n"
    new = "int a;\n\n/* the callback */\nint b;\n"       # spatch: function gone
    assert rewrite.tidy(old, new) == "int a;\n\nint b;\n"
    old = "int a;\n\nstatic void cb(void *p);\nint b;\n"
    assert rewrite.tidy(old, "int a;\nint b;\n") == "int a;\n\nint b;\n"
