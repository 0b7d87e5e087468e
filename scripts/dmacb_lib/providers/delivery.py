# SPDX-License-Identifier: GPL-2.0
"""How a provider delivers client notifications, and from which context it
completes descriptors.

Completing calls: vchan_cookie_complete() and vchan_cyclic_callback()
(virt-dma), dma_cookie_complete() (the others).  Delivering calls: the
dmaengine helpers dmaengine_desc_get_callback_invoke() and
dmaengine_desc_callback_invoke(), and a hand-made call of a descriptor's
callback or callback_result (tx->callback(param), or cb = tx->callback;
... cb(param)), which bypasses the helpers.

The delivery method (vocab.DELIVERY):
- virt-dma: the provider completes with vchan_cookie_complete() or
  vchan_cyclic_callback(); the vchan tasklet (virt-dma.c's vchan_complete(),
  or the provider's own function where it replaces vc.task) delivers;
- direct-call: the provider calls a descriptor's callback by hand anywhere;
- otherwise the context the helpers are reached from: own-tasklet,
  threaded-irq, hardirq, workqueue (a kthread counts as a workqueue: process
  context); when several, the first in that order (a provider that set up
  a tasklet or an IRQ thread delivers there on its interrupt path; a hard
  IRQ delivery next to it is an error or reset path: shdma-base), the
  others listed;
- unknown: no delivering call, or none reached from any root.

Contexts are found by walking callers from the call up to a root (see
graph.py); each comes with its chain.  A client's own call (tx_status,
issue_pending, terminate_all, prep, tx_submit) is a context too: code
reached from it runs in whatever context the client calls from.
"""

from __future__ import annotations

from collections import Counter

from . import kapi, source
from .graph import Fn, Program, chain_json

# context -> delivery method
_METHOD = {"tasklet": "own-tasklet", "threaded-irq": "threaded-irq", "hardirq": "hardirq",
           "any-context-irq": "hardirq", "workqueue": "workqueue", "kthread": "workqueue"}
_ORDER = ("own-tasklet", "threaded-irq", "hardirq", "workqueue")


def direct_calls(prog: Program) -> list[tuple[Fn, int, str]]:
    """Hand-made calls of a descriptor's callback: (function, line, how)."""
    out = []
    for fn in prog.fns.values():
        t = prog.texts[fn.file]
        local_copies = {}
        for u in fn.uses:
            if u["field"] not in ("callback", "callback_result"):
                continue
            how = source.use_context(t, u["line"], u["col"], u["field"])
            if how == "call":
                out.append((fn, u["line"], f"calls ->{u['field']}() itself"))
            elif how == "copy":
                v = source.copy_target(t, u["line"], u["col"])
                if v:
                    local_copies[v] = (u["line"], u["field"])
        for callee, line in fn.calls:
            if callee in local_copies:
                cl, fld = local_copies[callee]
                out.append((fn, line, f"calls {callee}(), a copy of ->{fld} "
                                      f"(line {cl})"))
    return sorted(out, key=lambda x: (x[0].file, x[1]))


def _ctx_json(prog: Program, fn: Fn) -> tuple[list[dict], list[dict]]:
    found, tops = prog.contexts(fn)
    ctx = []
    seen = set()
    for root, chain in found:
        d = root.to_json()
        if (d["context"], d["function"]) in seen:
            continue            # the same root registered twice
        seen.add((d["context"], d["function"]))
        d["chain"] = chain_json(chain)
        ctx.append(d)
    top = []
    for f, chain in tops:
        stored = [f".{fld}" for fld, ents in prog.field_targets.items()
                  for t, _, _ in ents if t is f]
        d = {"function": f.name, "at": f.where(), "chain": chain_json(chain)}
        if stored:
            d["stored_in"] = sorted(set(stored))
        if not f.static:
            d["note"] = "non-static: may be called from outside the provider's files"
        top.append(d)
    ctx.sort(key=lambda d: (d["context"], d["function"], d["at"]))
    return ctx, top


def analyse(prog: Program) -> dict:
    complete_sites = []
    for names, kind in ((kapi.VCHAN_COMPLETE, "virt-dma"), (kapi.COOKIE_COMPLETE, "cookie")):
        for fn, callee, line in prog.calls_of(names):
            ctx, tops = _ctx_json(prog, fn)
            complete_sites.append({"call": callee, "at": f"{fn.file}:{line}", "function": fn.name,
                                   "kind": kind, "parsed": fn.parsed, "contexts": ctx,
                                   "unreached": tops})
    deliver_sites = []
    for fn, callee, line in prog.calls_of(kapi.HELPER_INVOKE):
        ctx, tops = _ctx_json(prog, fn)
        deliver_sites.append({"call": callee, "at": f"{fn.file}:{line}", "function": fn.name,
                              "kind": "helper", "parsed": fn.parsed, "contexts": ctx,
                              "unreached": tops})
    for fn, line, how in direct_calls(prog):
        ctx, tops = _ctx_json(prog, fn)
        deliver_sites.append({"call": how, "at": f"{fn.file}:{line}", "function": fn.name,
                              "kind": "direct", "parsed": fn.parsed, "contexts": ctx,
                              "unreached": tops})
    vchan = [s for s in complete_sites if s["kind"] == "virt-dma"]
    replaced = [r for rs in prog.roots.values() for r in rs
                if r.detail == "replaces the vchan tasklet"]
    methods: Counter = Counter()
    for s in deliver_sites:
        for c in s["contexts"]:
            if c["context"] in _METHOD:
                methods[_METHOD[c["context"]]] += 1
    if vchan:
        method = "virt-dma"
    elif any(s["kind"] == "direct" for s in deliver_sites):
        method = "direct-call"
    elif methods:
        # a deferral the provider set up for it comes first: its IRQ path
        # delivers there; the others are listed (error paths, a client's call)
        method = next(m for m in _ORDER if methods[m])
    else:
        method = "unknown"
    # where descriptors are completed: the contexts of the completing calls
    # (vchan_cookie_complete(), dma_cookie_complete(); the deliveries when
    # there is none); where notifications are delivered: the vchan tasklet
    # for virt-dma, else the contexts of the delivering calls
    completes = _contexts(complete_sites or deliver_sites)
    if vchan:
        delivers = {"tasklet"}
    else:
        delivers = _contexts(deliver_sites)
    out = {
        "method": method,
        "other_methods": sorted(m for m in methods if m != method and method != "virt-dma"),
        "vchan_tasklet": ("replaced: " + ", ".join(
            f"{r.fn.name}() ({r.file}:{r.line})" for r in replaced)) if replaced and vchan
        else ("virt-dma.c vchan_complete()" if vchan else ""),
        "completes_from": sorted(completes),
        "delivers_from": sorted(delivers),
        "complete_sites": complete_sites,
        "deliver_sites": deliver_sites,
    }
    return out


def _contexts(sites: list[dict]) -> set[str]:
    out = set()
    for s in sites:
        kinds = {c["context"] for c in s["contexts"]}
        out |= kinds or {"unknown"}
    return out
