# SPDX-License-Identifier: GPL-2.0
"""Effects: what each call of a function means for the contract.

Per function, not per path: each call site becomes one effect (a kb class,
an edge to a function of the driver, a guard, an unknown or indirect call),
computed once whoever reaches the function.  The walk (reach.py) and the
rules (rules.py) then see every function on every path with the same
effects; only what depends on the caller (a gfp passed as a parameter) is
decided per call edge.

The checker builds the same effects from the AST (checker/effects.c).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..csource import KEYWORDS
from ..csource import split_args
from ..index import Index
from .tables import Tables

BH_WQ = re.compile(r"\bsystem_bh(_highpri)?_wq\b")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
MAX_MACRO_DEPTH = 3


@dataclass
class Effect:
    file: str
    fn: str             # the function holding the call
    line: int
    name: str           # what is called, as written (guard(T), M -> f for macro bodies)
    cls: str            # a kb class, or edge / unknown / indirect / unparsed
    args: str = ""
    target: tuple[str, str] | None = None   # edge: (file, function)
    lock: str = ""      # lock classes: the lock's name
    gfp: str | None = None                  # decide=gfp: the gfp argument as written


def lock_key(args: str) -> str:
    """The lock a lock call's first argument names: its last identifier,
    array subscripts dropped ('&p->chan[i].lock' -> lock, '&d->locks[n]' ->
    locks).  By name: the audit has no types (the checker compares the
    declarations where it can, see locks.py)."""
    a = split_args(args)
    if not a:
        return ""
    e = a[0]
    while True:
        n = re.sub(r"\[[^\[\]]*\]", "", e)
        if n == e:
            break
        e = n
    m = re.findall(r"[A-Za-z_]\w*", e)
    return m[-1] if m else ""


def _macro_calls(body: str) -> list[tuple[str, str]]:
    """(name, argument text) of each call written in a macro body."""
    out = []
    for m in _CALL.finditer(body):
        if m.group(1) in KEYWORDS:
            continue
        depth, i = 1, m.end()
        while i < len(body) and depth:
            depth += {"(": 1, ")": -1}.get(body[i], 0)
            i += 1
        out.append((m.group(1), " ".join(body[m.end():i - 1].split())))
    return out


class Effects:
    def __init__(self, idx: Index, t: Tables):
        self.idx = idx
        self.t = t
        self._of: dict[tuple[str, str], list[Effect]] = {}

    def sibling_definition(self, file: str, name: str) -> str | None:
        """Another audited .c file of the same directory that defines name."""
        d = file.rsplit("/", 1)[0]
        for p in self.idx.defined_where.get(name, []):
            if p != file and p.rsplit("/", 1)[0] == d and p.endswith(".c"):
                return p
        return None

    def of(self, file: str, fn: str) -> list[Effect]:
        key = (file, fn)
        if key not in self._of:
            self._of[key] = self._build(file, fn)
        return self._of[key]

    def _build(self, file: str, fn: str) -> list[Effect]:
        ff = self.idx.files[file]
        out: list[Effect] = []
        if fn not in self.idx.defs[file]:
            line = ff.functions.get(fn, [0])[0]
            return [Effect(file, fn, line, fn, "unparsed")]
        for c in sorted(self.idx.calls[file].get(fn, []), key=lambda c: c["line"]):
            self._call(out, file, fn, c["name"], self.idx.args(file, c), c["line"], 0, {})
        for c in self.idx.icalls[file].get(fn, []):
            out.append(Effect(file, fn, c["line"], c["name"], "indirect"))
        return out

    def _call(self, out: list[Effect], file: str, fn: str, name: str, args: str, line: int,
              depth: int, subst: dict[str, str], label: str = "") -> None:
        ff = self.idx.files[file]
        shown = f"{label} -> {name}" if label else name
        if name in ("guard", "scoped_guard"):
            a = split_args(args)
            kind = a[0] if a else ""
            cls = self.t.guards.get(kind, "unknown")
            out.append(Effect(file, fn, line, f"{name}({kind})", cls, args,
                              lock=lock_key(", ".join(a[1:]))))
            return
        if name in ff.functions:
            out.append(Effect(file, fn, line, name, "edge", args, target=(file, name)))
            return
        e = self.t.functions.get(name)
        if e is None:
            other = self.sibling_definition(file, name)
            if other:
                out.append(Effect(file, fn, line, f"{name}@{other.rsplit('/', 1)[1]}", "edge",
                                  args, target=(other, name)))
                return
        if e is None and name in ff.macros and depth < MAX_MACRO_DEPTH:
            params = ff.macro_params.get(name, [])
            mine = split_args(args)
            sub = {p: (mine[i] if i < len(mine) else "") for i, p in enumerate(params)}
            for inner, iargs in _macro_calls(ff.macros[name]):
                if inner in params:
                    continue
                # a macro parameter used as an argument: the site's argument
                iargs = ", ".join(sub.get(x.strip(), x) for x in split_args(iargs))
                self._call(out, file, fn, inner, iargs, line, depth + 1, sub,
                           label=shown if not label else label + " -> " + name)
            return
        if e is None:
            out.append(Effect(file, fn, line, shown, "unknown", args))
            return
        cls = e.cls
        c = self.t.classes[cls]
        eff = Effect(file, fn, line, shown, cls, args)
        if c.decide == "gfp":
            a = split_args(args)
            eff.gfp = a[e.gfp_arg] if 0 <= e.gfp_arg < len(a) else None
        if cls == "work" and BH_WQ.search(args):
            eff.cls = "tasklet"      # BH work: scheduled like a tasklet (shape only)
        if c.lock != "-":
            member = self.t.lock_forms.get(name)
            eff.lock = member if member else lock_key(args)
        out.append(eff)
