# SPDX-License-Identifier: GPL-2.0
"""Carry-forward (upstream.py): a tree where part of the work has landed.

The helper-API check on a small tree and a two-patch series made here; then
the fixture kernel with its API patch and two of its converted drivers
committed: convert must send neither again and report both as converted
upstream.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURE_TREE, ROOT, git_tree, run_dmacb

from dmacb_lib import kernel, upstream

API = ROOT / "tests" / "fixtures" / "convert-api"
REL = "6.99.0-fixture"
ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

HEADER = """#ifndef _DMAENGINE_H
#define _DMAENGINE_H
enum dma_ctrl_flags {
	DMA_PREP_INTERRUPT = (1 << 0),
	DMA_CTRL_ACK = (1 << 1),
};

struct dma_async_tx_descriptor;
int dmaengine_submit(struct dma_async_tx_descriptor *tx);

#endif
"""


def git(tree: Path, *args: str, **kw) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], check=True, text=True,
                          capture_output=True, env=ENV, **kw).stdout


def small_tree(d: Path) -> Path:
    (d / "include" / "linux").mkdir(parents=True)
    (d / "include" / "linux" / "dmaengine.h").write_text(HEADER)
    (d / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 99\nSUBLEVEL = 0\nEXTRAVERSION =\n")
    git(d.parent, "init", "-q", "-b", "master", d.name)
    git(d, "add", "-A")
    git(d, "commit", "-q", "-m", "base")
    return d


def edit(tree: Path, old: str, new: str, subject: str) -> None:
    h = tree / "include" / "linux" / "dmaengine.h"
    h.write_text(h.read_text().replace(old, new))
    git(tree, "commit", "-q", "-am", subject)


@pytest.fixture
def series(tmp_path):
    """A tree and a two-patch API series (the second's context is the first's)."""
    tree = small_tree(tmp_path / "linux")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(tree), "work")
    edit(work, "	DMA_CTRL_ACK = (1 << 1),\n",
         "	DMA_CTRL_ACK = (1 << 1),\n	DMA_PREP_HARDIRQ_CALLBACK = (1 << 10),\n", "flag")
    edit(work, "	DMA_PREP_HARDIRQ_CALLBACK = (1 << 10),\n",
         "	DMA_PREP_HARDIRQ_CALLBACK = (1 << 10),\n	DMA_PREP_TASK_CALLBACK = (1 << 11),\n",
         "task flag")
    out = tmp_path / "api"
    git(work, "format-patch", "-q", "-o", str(out), "HEAD~2")
    return tree, sorted(out.glob("*.patch"))


def state(tree: Path, patches) -> upstream.ApiState:
    return upstream.api_state(kernel.resolve(str(tree)), patches)


def test_api_absent_partial_present(series):
    tree, patches = series
    st = state(tree, patches)
    assert (st.state, len(st.missing)) == ("absent", 2)
    git(tree, "am", "-q", str(patches[0]))
    st = state(tree, patches)
    assert (st.state, st.present, st.missing) == ("partial", [patches[0].name],
                                                 [patches[1].name])
    assert "only the other 1 are sent" in st.line()
    git(tree, "am", "-q", str(patches[1]))
    # the first patch no longer reverse-applies alone (the second changed its
    # context): the check takes the newest out first
    assert state(tree, patches).state == "present"
    # nothing of the user's: index and work tree as they were
    assert git(tree, "status", "--porcelain") == ""


def test_another_api_is_different(series):
    tree, patches = series
    edit(tree, "	DMA_CTRL_ACK = (1 << 1),\n",
         "	DMA_CTRL_ACK = (1 << 1),\n	DMA_PREP_HARDIRQ_CALLBACK = (1 << 9),\n", "v1 flag")
    st = state(tree, patches)
    assert st.state == "different" and st.different
    assert "nothing is converted on top of it" in st.line()


def test_api_words_without_the_patches_are_different(series):
    tree, patches = series
    # every patch still applies (other lines), yet the tree defines the flag
    h = tree / "include" / "linux" / "dmaengine.h"
    h.write_text(h.read_text().replace("#endif\n",
                                       "#define DMA_PREP_HARDIRQ_CALLBACK (1 << 12)\n#endif\n"))
    git(tree, "commit", "-q", "-am", "own API")
    assert state(tree, patches).state == "different"


SRC = """#include <linux/dmaengine.h>
static void done(void *p)
{
	complete(p);
}
static int go(struct dma_chan *c, struct completion *p)
{
	struct dma_async_tx_descriptor *tx;

	/* DMA_PREP_TASK_CALLBACK is not passed: a comment */
	tx = dmaengine_prep_slave_single(c, 0, 4, DMA_MEM_TO_DEV,
					 DMA_PREP_INTERRUPT | DMA_PREP_HARDIRQ_CALLBACK);
	tx->callback = done;
	return 0;
}
static int other(struct dma_chan *c, struct completion *p)
{
	struct dma_async_tx_descriptor *tx;

	tx = dmaengine_prep_slave_single(c, 0, 4, DMA_MEM_TO_DEV, DMA_PREP_INTERRUPT);
	dmaengine_desc_set_completion(tx,
				      &p[1]);
	return 0;
}
"""


def test_site_flag_reads_code_not_comments():
    src = upstream.csource.parse(SRC)
    assert upstream.site_flag(src, "go") == "hardirq"
    assert upstream.site_flag(src, "other") == ""
    assert upstream.site_flag(upstream.csource.parse(
        SRC.replace("DMA_PREP_INTERRUPT | DMA_PREP_HARDIRQ_CALLBACK", "DMA_PREP_INTERRUPT")),
        "go") == ""


def test_site_flag_of_a_function_called_in_an_if_before_its_definition():
    """j721e-csi2rx: `if (start(x)) {` in an earlier function is a call, not
    start()'s definition (a text search for the definition took it)."""
    src = upstream.csource.parse(
        "static int start(int x);\n"
        "static void cb(void *p)\n{\n\tif (start(1)) {\n\t\treturn;\n\t}\n}\n"
        "static int start(int x)\n{\n\td = prep(c, DMA_PREP_HARDIRQ_CALLBACK);\n"
        "\td->callback = cb;\n\treturn 0;\n}\n")
    assert upstream.site_flag(src, "start") == "hardirq"


def test_completions_outside_drivers_dma(tmp_path):
    tree = small_tree(tmp_path / "linux")
    for d in ("drivers/spi", "drivers/dma"):
        (tree / d).mkdir(parents=True)
        (tree / d / "x.c").write_text(SRC)
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "drivers")
    k = kernel.resolve(str(tree))
    # the flag in go()'s comment is not read; go()'s code passes HARDIRQ
    (tree / "drivers/spi/y.c").write_text(SRC.replace(
        "DMA_PREP_INTERRUPT | DMA_PREP_HARDIRQ_CALLBACK", "DMA_PREP_INTERRUPT"))
    assert upstream.callback_flags(k, {"drivers/spi/x.c": {"go", "other"},
                                       "drivers/spi/y.c": {"go"}}) == {
        ("drivers/spi/x.c", "go"): "hardirq"}
    got = upstream.completions(k)
    assert got == [{"file": "drivers/spi/x.c", "line": 21, "function": "other",
                    "completion": "&p[1]"}]


# -- the fixture kernel with part of the conversion landed ---------------------

def convert(tree: Path, base: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_dmacb("convert", "--kernel", str(tree), "--out", str(base / "reports"),
                     *extra, cache=base / "cache", env_extra={"DMACB_API_SERIES": str(API)})


@pytest.mark.skipif(shutil.which("spatch") is None, reason="needs spatch")
def test_carry_forward_on_the_fixture_tree(tmp_path):
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    r = convert(tree, tmp_path / "first")
    assert r.returncode == 0, r.stderr
    first = json.loads((tmp_path / "first" / "reports" / REL / "convert.json").read_text())
    drivers = first["commits"]
    assert len(drivers) > 4
    # land the API and the first two driver commits: one with a hardirq
    # flag, one with a completion
    flag = next(c for c in drivers if "hardirq-safe" in c["subject"])
    comp = next(c for c in drivers if "completion" in c["subject"])
    landed = [first["api_commits"][0], flag["commit"], comp["commit"]]
    other = tmp_path / "landed"
    git(tmp_path, "clone", "-q", str(tree), other.name)
    git(other, "fetch", "-q", str(tree), f"dmacb/{REL}")
    for c in landed:
        git(other, "cherry-pick", "--allow-empty", c)

    r = convert(other, tmp_path / "second")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "second" / "reports" / REL / "convert.json").read_text())
    assert doc["api_commits"] == [] and doc["api"]["state"] == "present"
    subjects = sorted(c["subject"] for c in doc["commits"])
    assert subjects == sorted(c["subject"] for c in drivers
                              if c["commit"] not in (flag["commit"], comp["commit"]))
    up = [x for x in doc["callbacks"] if x["status"] == "converted-upstream"]
    assert {x["callback"] for x in up} == {x["callback"] for x in first["callbacks"]
                                           if x.get("commit") == flag["commit"]}
    assert {x["file"] for x in doc["upstream_completions"]} == set(comp["files"])
    md = (tmp_path / "second" / "reports" / REL / "convert.md").read_text()
    assert "the tree has all 1 patches" in md
    summary = (tmp_path / "second" / "reports" / REL / "summary.md").read_text()
    assert f"converted upstream, not converted again): {len(up)}" in summary

    # an older API on the tree: refused with one line, no branch made
    old = tmp_path / "old"
    git(tmp_path, "clone", "-q", str(tree), old.name)
    h = old / "include" / "linux" / "dmaengine.h"
    h.write_text(h.read_text().replace("	DMA_CTRL_ACK = (1 << 1),\n",
                                       "	DMA_CTRL_ACK = (1 << 1),\n"
                                       "	DMA_PREP_HARDIRQ_CALLBACK = (1 << 9),\n"))
    git(old, "commit", "-q", "-am", "an older helper API")
    r = convert(old, tmp_path / "third")
    assert r.returncode == 2
    assert "different helper API" in r.stderr
    assert git(old, "branch", "--list", f"dmacb/{REL}") == ""


def test_function_span_is_the_definition_not_a_call_in_an_if():
    text = ("static void cb(void *p)\n{\n\tif (start(1)) {\n\t\treturn;\n\t}\n}\n"
            "static int start(int x)\n{\n\treturn 0;\n}\n")
    a, _, c = upstream.csource.function_span(text, "start")
    assert text[a:c].startswith("static int start(int x)")
