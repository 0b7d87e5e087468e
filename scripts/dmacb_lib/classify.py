# SPDX-License-Identifier: GPL-2.0
"""classify: descriptor callback sites -> the functions really assigned.

Resolver turns each site into the function(s) it stores (through locals,
parameters, struct fields and per-SoC tables, across files); verdict.py
then judges each against the hardirq contract (contract/).

Conservative by construction: an expression that cannot be followed is
reported as unresolved, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


from .csource import split_args
from .index import Index, params

PASSTHROUGH_DIRS = ("crypto/async_tx/",)

@dataclass
class Site:
    file: str
    line: int
    fn: str             # function holding the assignment
    field: str          # callback / callback_result
    rhs: str
    param: str = ""     # callback_param expression at the same descriptor


@dataclass
class Callback:
    name: str
    defined_in: str | None          # None: unresolved
    sites: list[Site] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    group: str = "left-alone"
    action: str = "none"
    shape: str = "other"                # what it does (shape.py), whatever the verdict
    shape_flags: list[str] = field(default_factory=list)
    delivery: dict = field(default_factory=dict)   # what the serving providers do
    reasons: list[str] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    completes: list[str] = field(default_factory=list)     # complete() args
    latent_bug: bool = False
    note: str = ""
    upstream: str = ""          # the flag the tree already passes (upstream.py): hardirq, task


def _strip(expr: str) -> str:
    e = expr.strip()
    while True:
        n = re.sub(r"^\(\s*[A-Za-z_][\w\s]*\**\s*\)\s*", "", e)      # casts
        n = re.sub(r"^&\s*", "", n)
        if n.startswith("(") and n.endswith(")"):
            n = n[1:-1].strip()
        if n == e:
            return e
        e = n


def _alternatives(expr: str) -> list[str]:
    """Split a top-level conditional expression c ? a : b into a and b."""
    e = _strip(expr)
    depth = 0
    q = -1
    for i, c in enumerate(e):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "?" and depth == 0 and q < 0:
            q = i
        elif c == ":" and depth == 0 and q >= 0:
            return _alternatives(e[q + 1:i]) + _alternatives(e[i + 1:])
    return [e]


def _last_field(expr: str) -> str | None:
    m = re.search(r"(?:->|\.)\s*([A-Za-z_]\w*)\s*$", expr)
    return m.group(1) if m else None


class Resolver:
    def __init__(self, idx: Index):
        self.idx = idx
        # functions whose callback parameter no audited file passes: their
        # callers live in files the scan did not list
        self.param_dead_ends: set[str] = set()

    def resolve(self, file: str, fn: str, expr: str, depth: int = 0) -> tuple[set[tuple], str]:
        """Functions an expression may evaluate to, and why not when none.

        Each result is (name, defining file, origin file, origin line); the
        origin is set when the function came in through a parameter: the
        caller that passed it is where the driver chose it.
        """
        out: set[tuple[str, str]] = set()
        why = ""
        if depth > 4:
            return out, "resolution too deep"
        for alt in _alternatives(expr):
            if alt in ("NULL", "0"):
                continue
            if re.fullmatch(r"[A-Za-z_]\w*", alt):
                got, w = self._ident(file, fn, alt, depth)
            elif _last_field(alt):
                got, w = self._field(file, _last_field(alt), depth)
            else:
                got, w = set(), f"cannot follow '{alt}'"
            out |= got
            why = why or w
        return out, why

    def _where(self, file: str, name: str) -> str | None:
        if name in self.idx.files[file].functions:
            return file
        others = self.idx.defined_where.get(name, [])
        if not others:
            return None
        # prefer the same directory: a static helper of another driver
        # with the same name is not ours
        d = file.rsplit("/", 1)[0]
        same = [o for o in others if o.rsplit("/", 1)[0] == d]
        return (same or others)[0] if (same or len(others) == 1) else None

    def _ident(self, file: str, fn: str, name: str, depth: int):
        where = self._where(file, name)
        if where:
            return {(name, where, None, None)}, ""
        # a local variable of fn
        srcs = [s["src"] for s in self.idx.stores[file] if s.get("fn") == fn and s["dst"] == name]
        if srcs:
            out, why = set(), ""
            for s in srcs:
                got, w = self.resolve(file, fn, s, depth + 1)
                out |= got
                why = why or w
            return out, why
        # a parameter of fn: follow its callers
        d = self.idx.defs[file].get(fn)
        if d and name in params(d):
            i = params(d).index(name)
            out, why, callers = set(), "", 0
            for p in self.idx.files:
                for caller, calls in self.idx.calls[p].items():
                    for c in calls:
                        if c["name"] == fn:
                            args = split_args(self.idx.args(p, c))
                            if i < len(args):
                                callers += 1
                                got, w = self.resolve(p, caller, args[i], depth + 1)
                                out |= {(n, wh, of or p, ol or c["line"]) for n, wh, of, ol in got}
                                why = why or w
            if not callers:
                self.param_dead_ends.add(fn)
                return set(), f"'{name}' is a parameter of {fn}() and no caller passes it here"
            return out, why
        return set(), f"'{name}' is not a function defined in the audited files"

    def _field(self, file: str, fld: str, depth: int):
        out = set()
        d = file.rsplit("/", 1)[0]
        # this file first, then the files of the same directory
        order = [file] + sorted(p for p in self.idx.files if p != file and p.startswith(d + "/"))
        for p in order:
            for s in self.idx.stores[p]:
                if s["dst"] == "." + fld:
                    where = self._where(p, s["src"])
                    if where:
                        out.add((s["src"], where, None, None))
            if out:
                break
        if not out:
            return set(), f"no function is stored in field '{fld}' in {d}/"
        return out, ""
