# SPDX-License-Identifier: GPL-2.0
"""The seed's five claims (Arnd Bergmann, LKML, May 2022), answered with
figures from the tree: per callback and per driver file, strict (the shape)
and with the near cases (shape flags), each with the list behind the
number.  summary.md and the dashboard show the same data.
"""

from __future__ import annotations

from collections import defaultdict

from .vocab import subsystem


def _file(c: dict) -> str:
    return c["defined_in"] or c["file"]


def _names(cs: list[dict]) -> list[str]:
    return [f"{_file(c)}: {c['callback']}()" for c in cs]


def _per_file(cbs: list[dict], pred) -> tuple[int, int]:
    """Files with a callback matching pred, and files whose callbacks all match."""
    by: dict[str, list[dict]] = defaultdict(list)
    for c in cbs:
        by[_file(c)].append(c)
    some = sum(1 for cs in by.values() if any(pred(c) for c in cs))
    every = sum(1 for cs in by.values() if all(pred(c) for c in cs))
    return some, every


def _count(cbs: list[dict], strict, near=None) -> dict:
    s = [c for c in cbs if strict(c)]
    n = [c for c in cbs if not strict(c) and near and near(c)]
    fs = _per_file(cbs, strict)
    fn = _per_file(cbs, lambda c: strict(c) or (near is not None and near(c)))
    return {"strict": len(s), "near_count": len(n), "strict_list": _names(s), "near_list": _names(n),
            "files_some": fs[0], "files_all": fs[1], "files_some_near": fn[0],
            "files_all_near": fn[1]}


def answer(cbs: list[dict]) -> dict:
    """cbs: callbacks.json's callbacks (with shape and shape_flags)."""
    total = len(cbs)
    files = len({_file(c) for c in cbs})

    def shape(s):
        return lambda c: c["shape"] == s

    def flag(f):
        return lambda c: f in c.get("shape_flags", [])

    out = {"callbacks": total, "files": files, "claims": []}

    c1 = _count(cbs, shape("complete-only"), flag("near-complete-only"))
    c1.update(id=1, quote="Over half the drivers just do a complete(), which could probably "
              "be pulled into the dmaengine layer and done from hardirq",
              shape="complete-only", near_flag="near-complete-only")
    c1["answer"] = (
        f"{c1['strict']} of {total} callbacks ({100 * c1['strict'] // max(1, total)}%) "
        f"only complete() or wake_up() a waiter; {c1['near_count']} more do a small unlocked "
        f"cleanup around it ({100 * (c1['strict'] + c1['near_count']) // max(1, total)}% with "
        f"them). Per driver file: {c1['files_all']} of {files} have only such callbacks, "
        f"{c1['files_some']} have at least one ({c1['files_all_near']} and "
        f"{c1['files_some_near']} with the near cases).")
    out["claims"].append(c1)

    c2 = _count(cbs, shape("irq-disabled"), flag("irqs-off-whole-body"))
    c2.update(id=2, quote="A lot of the remaining drivers have interrupts disabled for the "
              "entire callback, which means they might as well use hardirqs",
              shape="irq-disabled", near_flag="irqs-off-whole-body")
    c2["answer"] = (
        f"{c2['strict']} callbacks run their work under spin_lock_irqsave() (or its guard), "
        f"and {c2['near_count']} that restart DMA do so as well, throughout. Per driver file: "
        f"{c2['files_some']} files have one ({c2['files_some_near']} with the restarting "
        f"ones).")
    out["claims"].append(c2)

    chained = [c for c in cbs if c["shape"] == "chained-tasklet"]
    subs = {s: [c for c in cbs if subsystem(_file(c)) == s] for s in ("crypto", "mmc")}
    c3 = _count(cbs, shape("chained-tasklet"))
    c3.update(id=3, quote="drivers/crypto/* and drivers/mmc/* tend to call another tasklet "
              "to do the real work", shape="chained-tasklet", near_flag=None,
              per_subsystem={s: {"chained": sum(1 for c in lst if c["shape"] ==
                                                "chained-tasklet"), "total": len(lst)}
                             for s, lst in subs.items()})
    elsewhere = [c for c in chained if subsystem(_file(c)) not in subs]
    c3["answer"] = (
        f"{c3['strict']} callbacks chain a tasklet or BH work: "
        + ", ".join(f"{v['chained']} of {v['total']} in {s}"
                    for s, v in c3["per_subsystem"].items())
        + f", {len(elsewhere)} elsewhere.")
    out["claims"].append(c3)

    named = {"sata_dwc_460ex": "drivers/ata/sata_dwc_460ex.c",
             "ntb_transport": "drivers/ntb/ntb_transport.c"}
    c4 = _count(cbs, shape("task-context"))
    c4.update(id=4, quote="drivers/ata/sata_dwc_460ex.c and drivers/ntb/ntb_transport.c "
              "probably want task context", shape="task-context", near_flag=None)
    said = []
    for n, path in named.items():
        mine = [c for c in cbs if _file(c) == path]
        if not mine:
            said.append(f"{n}: no callback in this release")
        for c in mine:
            fl = ",".join(c.get("shape_flags", []))
            said.append(f"{n}: {c['callback']}() is {c['shape']}{' (' + fl + ')' if fl else ''}, "
                        f"verdict {c['group']}")
    c4["named"] = said
    c4["answer"] = (f"{c4['strict']} callbacks sleep or hand their work to a workqueue that "
                    f"needs process context. " + "; ".join(said) + ".")
    out["claims"].append(c4)

    c5 = _count(cbs, shape("restarts-dma"))
    c5.update(id=5, quote="Some drivers like sound/soc/sh/siu_pcm.c start a new DMA from the "
              "callback", shape="restarts-dma", near_flag=None)
    siu = [c for c in cbs if "siu_pcm" in _file(c)]
    c5["named"] = [f"{_file(c)}: {c['callback']}() is {c['shape']}, verdict {c['group']}"
                   for c in siu] or ["siu_pcm: no callback in this release"]
    c5["answer"] = (f"{c5['strict']} callbacks prep, submit or issue the next transfer "
                    f"themselves, in {c5['files_some']} files. " + "; ".join(c5["named"]) + ".")
    out["claims"].append(c5)
    return out


def markdown(a: dict) -> list[str]:
    out = ["## What the callbacks do: the seed's claims, from this tree", "",
           f"Shapes of {a['callbacks']} callbacks in {a['files']} files (shape is what a "
           f"callback does; the verdict, below, is what the conversion may do with it).", ""]
    for c in a["claims"]:
        out += [f"### {c['id']}. \"{c['quote']}\"", "", c["answer"], ""]
        if c.get("per_subsystem"):
            out += ["| subsystem | chained-tasklet | callbacks |", "|---|---:|---:|"]
            out += [f"| {s} | {v['chained']} | {v['total']} |" for s, v in
                    c["per_subsystem"].items()]
            out.append("")
        out.append(f"<details><summary>{c['strict']} {c['shape']}"
                   + (f", {c['near_count']} {c['near_flag']}" if c.get("near_count") else "")
                   + "</summary>")
        out.append("")
        out += [f"- {x}" for x in c["strict_list"]]
        if c.get("near_list"):
            out += ["", f"Near cases ({c['near_count']}):", ""]
            out += [f"- {x}" for x in c["near_list"]]
        out += ["", "</details>", ""]
    return out
