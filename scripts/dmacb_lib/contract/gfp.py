# SPDX-License-Identifier: GPL-2.0
"""gfp by value: does an allocation's gfp argument hold __GFP_DIRECT_RECLAIM?

The kernel decides whether an allocation may sleep from that one bit of the
evaluated value (gfpflags_allow_blocking()), so dmacb does too: the
expression is evaluated over the flag table kb/gfp.tsv ('|', '&', '~',
parentheses, casts, 0), never judged by the names it contains
(GFP_ATOMIC | GFP_DMA is atomic, GFP_NOWAIT | __GFP_DIRECT_RECLAIM is not).

An identifier the table does not know is resolved by the caller (a
parameter: the value at each call; a macro of the file: its body), else the
expression is undecided, which the rules treat as "may sleep".  The checker
does the same in checker/gfp.c.
"""

from __future__ import annotations

import re
from typing import Callable

from .tables import Tables

# A value is a list of alternatives, each an int bitmask over the table's
# flags: a parameter passed different gfps by different callers has several.
Value = list[int]
MAX_ALTS = 64

_TOKEN = re.compile(r"\s*([A-Za-z_]\w*|0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[|&~()])")


class Undecided(Exception):
    """The expression cannot be evaluated; the message says why."""


class Flags:
    """The table's flags as bits, and its names as values."""

    def __init__(self, t: Tables):
        self.bit: dict[str, int] = {}
        for name, v in t.gfp.items():
            if v in ("bit", "sleeps"):
                self.bit[name] = 1 << len(self.bit)
        self.all = (1 << len(self.bit)) - 1
        self.sleeps = next(self.bit[n] for n, v in t.gfp.items() if v == "sleeps")
        self.sleeps_name = next(n for n, v in t.gfp.items() if v == "sleeps")
        self.defs = t.gfp
        self._memo: dict[str, int] = {}

    def name_value(self, name: str, depth: int = 0) -> int | None:
        if name.startswith("___GFP_"):
            name = name[1:]
        if name in self.bit:
            return self.bit[name]
        if name not in self.defs or depth > 16:
            return None
        if name not in self._memo:
            alts = evaluate(self.defs[name], self, lambda n: None, depth + 1)
            self._memo[name] = alts[0]
        return self._memo[name]


Lookup = Callable[[str], "Value | None"]


def evaluate(expr: str, flags: Flags, lookup: Lookup, depth: int = 0) -> Value:
    """The alternatives of expr's value.  lookup(name) gives the value of a
    name the table does not define (or None: undecided)."""
    toks = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise Undecided(f"cannot read '{expr}'")
        toks.append(m.group(1))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    if not toks:
        raise Undecided("no gfp argument")
    p = _Parser(toks, flags, lookup, depth)
    v = p.expr_or()
    if p.i != len(toks):
        raise Undecided(f"cannot read '{expr}'")
    return v


def _combine(a: Value, b: Value, op) -> Value:
    out = sorted({op(x, y) for x in a for y in b})
    if len(out) > MAX_ALTS:
        raise Undecided("too many gfp values to follow")
    return out


class _Parser:
    def __init__(self, toks, flags: Flags, lookup: Lookup, depth: int):
        self.t, self.i, self.f, self.lookup, self.depth = toks, 0, flags, lookup, depth

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> str:
        s = self.peek()
        if s is None:
            raise Undecided("expression ends early")
        self.i += 1
        return s

    def expr_or(self) -> Value:
        v = self.expr_and()
        while self.peek() == "|":
            self.take()
            v = _combine(v, self.expr_and(), lambda x, y: x | y)
        return v

    def expr_and(self) -> Value:
        v = self.unary()
        while self.peek() == "&":
            self.take()
            v = _combine(v, self.unary(), lambda x, y: x & y)
        return v

    def unary(self) -> Value:
        s = self.take()
        if s == "~":
            return sorted({self.f.all & ~x for x in self.unary()})
        if s == "(":
            # a cast: (gfp_t), (__force gfp_t)
            j = self.i
            while j < len(self.t) and self.t[j] in ("__force", "gfp_t", "unsigned", "int"):
                j += 1
            if j > self.i and j < len(self.t) and self.t[j] == ")":
                self.i = j + 1
                return self.unary()
            v = self.expr_or()
            if self.take() != ")":
                raise Undecided("unbalanced parentheses")
            return v
        if s[0].isdigit():
            if int(re.sub(r"[uUlL]+$", "", s), 0) == 0:
                return [0]
            raise Undecided(f"a numeric gfp '{s}'")
        if s[0].isalpha() or s[0] == "_":
            own = self.lookup(s)
            if own is not None:
                return own
            v = self.f.name_value(s, self.depth)
            if v is None:
                raise Undecided(f"'{s}' is not a gfp flag of kb/gfp.tsv")
            return [v]
        raise Undecided(f"unexpected '{s}'")


def sleeps(v: Value, flags: Flags) -> bool:
    return any(x & flags.sleeps for x in v)
