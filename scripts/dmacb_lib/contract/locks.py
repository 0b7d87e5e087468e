# SPDX-License-Identifier: GPL-2.0
"""Who takes which lock, and where a lock is held across dmaengine calls.

Locks are named as the audit can name them without types: the last
identifier of the lock call's first argument, array subscripts dropped
('&p->chan[i].lock' -> lock, '&d->locks[n]' -> locks), or the member
kb/lock-forms.tsv gives (uart_port_lock(port) -> lock).  Two locks of the
same name in different structs are the same lock here: conservative; the
checker compares the declarations and says when the two differ.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from ..csource import split_args
from .effects import Effect, Effects
from .tables import Tables


def role(t: Tables, e: Effect) -> str | None:
    """acquire / release for an effect that takes or drops a named lock."""
    if not e.lock or e.cls not in t.classes:
        return None
    r = t.classes[e.cls].lock
    if r == "by-name":
        return "release" if "unlock" in e.name else "acquire"
    return r if r in ("acquire", "release") else None


def irq_handlers(eff: Effects, file: str) -> set[str]:
    """Functions of file registered as hard IRQ handlers (kb/irq-requests.tsv)."""
    idx = eff.idx
    out = set()
    for calls in idx.calls[file].values():
        for c in calls:
            req = eff.t.irq_requests.get(c["name"])
            if not req or req[0] is None:
                continue
            a = split_args(idx.args(file, c))
            if req[0] < len(a):
                h = re.sub(r"^\(\s*[A-Za-z_][\w\s]*\**\s*\)\s*|^&\s*", "", a[req[0]].strip())
                out.add(h.strip())
    return out


@dataclass
class Hold:
    fn: str
    line: int           # where the lock is taken
    call: str           # the dmaengine call made while it is held
    call_line: int


def dma_functions(eff: Effects, file: str) -> dict[str, tuple[str, int]]:
    """Functions of file that reach a dmaengine call through calls inside the
    file: name -> (the dmaengine call, its line)."""
    t = eff.t
    idx = eff.idx
    fns = [f for f in idx.files[file].functions if f in idx.defs[file]]
    out: dict[str, tuple[str, int]] = {}
    for f in fns:
        for e in eff.of(file, f):
            if e.cls in t.classes and t.classes[e.cls].rule == 3:
                out.setdefault(f, (e.name, e.line))
    changed = True
    while changed:
        changed = False
        for f in fns:
            if f in out:
                continue
            for e in eff.of(file, f):
                if e.cls == "edge" and e.target and e.target[0] == file and e.target[1] in out:
                    out[f] = (e.name, e.line)
                    changed = True
                    break
    return out


def held_across_dma(eff: Effects, file: str) -> dict[str, list[Hold]]:
    """lock name -> the places in file that hold it across a dmaengine call.

    A hold runs from the acquisition to the last release of the same lock
    before its next acquisition in the function (error paths release
    early), or to the end of the function when there is none (guard()).
    """
    t = eff.t
    idx = eff.idx
    dma = dma_functions(eff, file)
    out: dict[str, list[Hold]] = defaultdict(list)
    for f in idx.files[file].functions:
        if f not in idx.defs[file]:
            continue
        effs = eff.of(file, f)
        end_of_fn = idx.files[file].functions[f][1]
        ev: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for e in effs:
            r = role(t, e)
            if r:
                ev[e.lock].append((e.line, r))
        for key, lst in ev.items():
            lst.sort()
            acqs = [ln for ln, r in lst if r == "acquire"]
            for i, a in enumerate(acqs):
                nxt = acqs[i + 1] if i + 1 < len(acqs) else 1 << 30
                rels = [ln for ln, r in lst if r == "release" and a < ln < nxt]
                end = max(rels) if rels else end_of_fn
                for e in effs:
                    if not a < e.line <= end:
                        continue
                    if e.cls in t.classes and t.classes[e.cls].rule == 3:
                        out[key].append(Hold(f, a, e.name, e.line))
                        break
                    if e.cls == "edge" and e.target and e.target[0] == file and \
                            e.target[1] in dma:
                        inner = dma[e.target[1]][0]
                        out[key].append(Hold(f, a, f"{e.name}() -> {inner}", e.line))
                        break
    return out


def lock_users(eff: Effects, file: str, exclude: set[str]) -> dict[str, list[dict]]:
    """Acquisitions with interrupts on (plain and BH locks) in functions of
    file outside exclude and the hard IRQ handlers."""
    t = eff.t
    handlers = irq_handlers(eff, file)
    res: dict[str, list[dict]] = defaultdict(list)
    for f in eff.idx.files[file].functions:
        if f in exclude or f in handlers or f not in eff.idx.defs[file]:
            continue
        for e in eff.of(file, f):
            if e.cls in ("lock", "bh-lock") and role(t, e) == "acquire":
                res[e.lock].append({"fn": f, "name": e.name, "line": e.line, "cls": e.cls})
    return res
