# SPDX-License-Identifier: GPL-2.0
"""Whether a provider recycles descriptors without
dma_async_tx_descriptor_init().

A descriptor a prep function hands out is (re)initialised when the prep
reaches dma_async_tx_descriptor_init() (or vchan_tx_prep(), which calls
it) on every path.  A function "always initialises" when it makes an
initialising call, or calls a function that always initialises, at a
place that is not conditional in it (source.is_conditional: a loop counts
as executed, a switch's arms as the cases its caller chose, an if/else as
unconditional when both branches initialise; a descriptor returned
before the call, taken from a free list, makes it conditional).

Per prep function:
- no: it always initialises;
- yes: it does not (the chain to the initialising call and the step that
  is conditional are the evidence), or never reaches one while the
  provider initialises descriptors elsewhere (a pool filled in
  device_alloc_chan_resources or probe);
- never-init: no initialising call anywhere.

Provider: no / yes / some (preps differ) / unknown (no prep function).
"""

from __future__ import annotations


from . import kapi, source
from .graph import Fn, Program, chain_json

_INIT = (kapi.DESC_INIT, kapi.VCHAN_TX_PREP)


class _Always:
    def __init__(self, prog: Program):
        self.prog = prog
        self.memo: dict[tuple[str, str], bool] = {}

    def __call__(self, fn: Fn) -> bool:
        if fn.key in self.memo:
            return self.memo[fn.key]
        self.memo[fn.key] = False           # recursion guard
        t = self.prog.texts[fn.file]
        f = t.src.functions.get(fn.name)
        if f is None:
            return False
        ok = lambda a, b: self._covers(fn, t, a, b)     # noqa: E731
        got = False
        for callee, line in fn.calls:
            if callee in _INIT and not source.is_conditional(t, f, line, callee, ok):
                got = True
                break
        if not got:
            for e in self.prog.edges_out.get(fn.key, ()):
                if e.how == "calls" and self(e.callee) and \
                        not source.is_conditional(t, f, e.line, e.callee.name, ok):
                    got = True
                    break
        self.memo[fn.key] = got
        return got

    def _covers(self, fn: Fn, t: source.Text, a: int, b: int) -> bool:
        """Does the text range a..b of fn (the other branch of an if) call an
        initialising function, or one that always initialises?"""
        lo, hi = t.line_of(a), t.line_of(max(a, b - 1))
        for callee, line in fn.calls:
            if lo <= line <= hi and callee in _INIT:
                return True
        for e in self.prog.edges_out.get(fn.key, ()):
            if lo <= e.line <= hi and e.how == "calls" and self.memo.get(e.callee.key, None) \
                    is not False and self(e.callee):
                return True
        return False


def analyse(prog: Program) -> dict:
    inits = prog.calls_of(_INIT)
    always = _Always(prog)
    preps = []
    seen = set()
    for fld, ents in sorted(prog.field_targets.items()):
        if not fld.startswith(kapi.PREP_PREFIX):
            continue
        for p, _, _ in ents:
            if p.key in seen:
                continue
            seen.add(p.key)
            reached = prog.reach(p)
            chains = []
            for fn, callee, line in inits:
                if fn.key in reached:
                    chains.append({"init": f"{fn.file}:{line} {callee}() in {fn.name}()",
                                   "chain": chain_json(reached[fn.key]),
                                   "conditional": _first_conditional(prog, always,
                                                                      reached[fn.key],
                                                                      fn, callee, line)})
            if always(p):
                verdict, why = "no", "initialises on every path"
            elif chains:
                verdict = "yes"
                why = "initialises only on some paths: " + (
                    next((c["conditional"] for c in chains if c["conditional"]), "") or
                    "no unconditional chain")
            elif inits:
                verdict = "yes"
                where = sorted({f"{fn.name}() ({fn.file}:{line})" for fn, _, line in inits})
                why = "never initialises what it hands out; descriptors are initialised in " + \
                    ", ".join(where[:4])
            else:
                verdict = "never-init"
                why = "no dma_async_tx_descriptor_init() or vchan_tx_prep() anywhere"
            preps.append({"field": fld, "function": p.name, "at": p.where(), "verdict": verdict,
                          "why": why, "chains": chains[:4]})
    preps.sort(key=lambda d: (d["field"], d["function"]))
    vs = {p["verdict"] for p in preps}
    if not preps:
        value = "unknown"
    elif vs == {"no"}:
        value = "no"
    elif "no" not in vs:
        value = "yes"
    else:
        value = "some"
    return {"value": value, "preps": preps,
            "init_calls": [f"{fn.file}:{line} {callee}() in {fn.name}()"
                           for fn, callee, line in inits]}


def _first_conditional(prog: Program, always: _Always, path, fn: Fn, callee: str,
                       line: int) -> str:
    """The first conditional step of a chain to an initialising call."""
    steps = [(e.caller, e.line, e.callee.name) for e in path] + [(fn, line, callee)]
    for caller, ln, name in steps:
        t = prog.texts[caller.file]
        f = t.src.functions.get(caller.name)
        if f is None:
            continue
        c = source.is_conditional(t, f, ln, name, lambda a, b, c=caller, t=t:
                                  always._covers(c, t, a, b))
        if c:
            return f"{caller.file}:{ln} {caller.name}() calls {name}() under {c}"
    return ""


