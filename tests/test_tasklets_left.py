# SPDX-License-Identifier: GPL-2.0
"""tasklets_left.setups(): every tasklet set-up at a branch's tip, with the
function it registers, whatever the call's layout; mentions in comments
and macro definitions are not set-ups."""

from __future__ import annotations

import subprocess

from dmacb_lib import tasklets_left

SRC = {
    "drivers/dma/a.c": "static void a_task(struct tasklet_struct *t) { }\n"
                       "static int a_probe(void)\n{\n"
                       "\ttasklet_setup(&c->task, a_task);\n"
                       "\t/* tasklet_setup(&c->old, a_old_task) went */\n"
                       "\treturn 0;\n}\n",
    "drivers/dma/b.c": "static DECLARE_TASKLET(b_tl, b_task);\n"
                       "static int b_probe(void)\n{\n"
                       "\ttasklet_init(&c->task,\n\t\t     b_chan_task, (unsigned long)c);\n"
                       "\treturn 0;\n}\n",
    "drivers/dma/c.h": "#define C_INIT(t, f) tasklet_setup(t, f)\n",
    "drivers/spi/d.c": "\ttasklet_setup(&x, d_task);\n",
}


def test_setups_at_the_tip(tmp_path):
    for f, text in SRC.items():
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(text)
    g = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*g, "init", "-q"], check=True)
    subprocess.run([*g, "add", "."], check=True)
    subprocess.run([*g, "commit", "-qm", "x"], check=True)
    # a working-tree edit is not the tip
    (tmp_path / "drivers/dma/a.c").write_text("\n")
    assert tasklets_left.setups(tmp_path) == [
        ("drivers/dma/a.c", 4, "tasklet_setup()", "a_task"),
        ("drivers/dma/b.c", 1, "DECLARE_TASKLET()", "b_task"),
        ("drivers/dma/b.c", 4, "tasklet_init()", "b_chan_task"),
    ]


def test_a_set_up_the_api_series_wrote_is_the_series(tmp_path):
    g = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    f = tmp_path / "drivers/dma/dmaengine.c"
    f.parent.mkdir(parents=True)
    f.write_text("void a(void)\n{\n\ttasklet_setup(&x->t, old_fn);\n}\n")
    subprocess.run([*g, "init", "-q"], check=True)
    subprocess.run([*g, "add", "."], check=True)
    subprocess.run([*g, "commit", "-qm", "base"], check=True)
    f.write_text(f.read_text() + "void b(void)\n{\n\ttasklet_setup(&bh->tasklet, api_fn);\n}\n")
    subprocess.run([*g, "commit", "-qam", "dmaengine: add a per-channel notification path"],
                   check=True)
    sha = subprocess.run([*g, "rev-parse", "HEAD"], check=True, capture_output=True,
                         text=True).stdout.strip()
    recs = {r["function"]: r for r in tasklets_left.inventory(
        tmp_path, {}, [], {sha: "dmaengine: add a per-channel notification path"})}
    assert recs["api_fn"]["kind"] == "api"
    assert "in its patch \"dmaengine: add a per-channel notification path\"" in \
        recs["api_fn"]["reason"]
    assert recs["old_fn"]["kind"] == "unknown"
