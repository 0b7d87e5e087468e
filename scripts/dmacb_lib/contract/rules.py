# SPDX-License-Identifier: GPL-2.0
"""The rules of the hardirq contract, one function each, in one list.

Each rule looks at the callback's reachable functions (reach.py) and their
effects (effects.py), with the tables of kb/, and yields findings; RULES at
the end is the one registration point (Smatch's check list).  The checker
runs the same rules over the AST: checker/check_hardirq.c.  What a rule
cannot decide without types it says in a finding's 'limit', so that a
disagreement with the checker is listed with its cause (tests/test_parity.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..csource import blank_directives, loops, tokens
from ..csource import split_args
from ..index import params
from . import gfp as gfpmod
from .effects import Effect, Effects
from .locks import held_across_dma, lock_users, role
from .reach import Node, Reach
from .tables import Tables

MAX_GFP_DEPTH = 6


@dataclass
class Finding:
    reason: str
    file: str
    line: int
    call: str
    via: list[str]
    detail: str = ""
    definite: bool = False      # may-sleep: sleeps for sure (a latent bug today)
    limit: str = ""             # what the audit could not decide (see module doc)
    lock: str = ""              # lock-by-name: the lock's name


@dataclass
class Ctx:
    t: Tables
    eff: Effects
    reach: Reach
    flags: gfpmod.Flags
    locked_delivery: bool = True        # rules 3 and 6 (kb/rules.tsv 'applies')
    regmap_cache: dict = field(default_factory=dict)

    @property
    def root(self) -> Node:
        return self.reach.root

    def applies(self, rule: int) -> bool:
        a = self.t.rules[rule].applies
        return a == "always" or (a == "locked-delivery" and self.locked_delivery)

    def finding(self, reason: str, n: Node, e: Effect, detail: str = "", **kw) -> Finding:
        return Finding(reason, e.file, e.line, e.name, self.reach.path(n), detail, **kw)

    def text(self, file: str) -> str:
        return self.eff.idx.text(file)[0]


# -- rules 1-5: calls of a class that breaks a rule ---------------------------

def _regmap_mmio(ctx: Ctx, file: str) -> bool:
    """Every regmap the file creates is MMIO (kb/regmap.tsv)."""
    if file not in ctx.regmap_cache:
        kinds = {ctx.t.regmap_kind(tok) for tok, _ in tokens(ctx.text(file))
                 if tok[0].isalpha() or tok[0] == "_"}
        kinds.discard(None)
        ctx.regmap_cache[file] = kinds == {"mmio"}
    return ctx.regmap_cache[file]


def _gfp_lookup(ctx: Ctx, n: Node, depth: int):
    """Values of the names of node n the gfp table does not know: a parameter
    (the argument of every reachable caller), an object-like macro."""
    idx = ctx.eff.idx
    file, fn = n

    def lookup(name: str):
        d = idx.defs[file].get(fn)
        ps = params(d) if d else []
        if name in ps:
            if n == ctx.root:
                raise gfpmod.Undecided(f"'{name}' is a parameter of the callback")
            if depth > MAX_GFP_DEPTH:
                raise gfpmod.Undecided("gfp passed through too many calls")
            i = ps.index(name)
            alts: set[int] = set()
            callers = ctx.reach.callers.get(n, [])
            if not callers:
                raise gfpmod.Undecided(f"no caller of {fn}() passes '{name}'")
            for e in callers:
                a = split_args(e.args)
                if i >= len(a):
                    raise gfpmod.Undecided(f"'{name}': argument not visible at the call in "
                                           f"{e.fn}()")
                alts |= set(gfpmod.evaluate(a[i], ctx.flags,
                                            _gfp_lookup(ctx, (e.file, e.fn), depth + 1)))
            return sorted(alts)
        body = idx.files[file].objmacros.get(name)
        if body is not None and depth <= MAX_GFP_DEPTH:
            return gfpmod.evaluate(body, ctx.flags, _gfp_lookup(ctx, n, depth + 1))
        return None
    return lookup


def _gfp_caller(ctx: Ctx, n: Node, e: Effect) -> str:
    """For evidence: which caller passes the sleeping gfp, when it is a parameter."""
    idx = ctx.eff.idx
    d = idx.defs[n[0]].get(n[1])
    g = (e.gfp or "").strip()
    if not d or g not in params(d):
        return ""
    i = params(d).index(g)
    for c in ctx.reach.callers.get(n, []):
        a = split_args(c.args)
        if i < len(a):
            try:
                v = gfpmod.evaluate(a[i], ctx.flags, _gfp_lookup(ctx, (c.file, c.fn), 1))
            except gfpmod.Undecided:
                continue
            if gfpmod.sleeps(v, ctx.flags):
                return f" (passed as '{g}' = '{a[i]}' by {c.fn}() line {c.line})"
    return ""


def rule_classes(ctx: Ctx):
    """Rules 1-5 by kb class (kb/classes.tsv), gfp by value, regmap by bus;
    calls that cannot be proven safe (unknown, indirect, unparsed)."""
    t = ctx.t
    for n, e in ctx.reach.effects():
        if e.cls == "unparsed":
            yield ctx.finding("unparsed", n, e, f"spatch could not parse {e.name}()")
            continue
        if e.cls == "indirect":
            yield ctx.finding("unknown-call", n, e, f"indirect call through ->{e.name}()")
            continue
        if e.cls == "edge" or e.cls not in t.classes:
            continue
        c = t.classes[e.cls]
        if c.reason == "unknown-call":
            base = e.name.split(" -> ")[-1]
            yield ctx.finding("unknown-call", n, e,
                              f"{base}() is neither in this file nor in kb/"
                              if e.cls == "unknown" and base not in t.functions else
                              f"{base}() is classified 'unknown' in kb/")
            continue
        if c.rule is None or not ctx.applies(c.rule):
            continue
        if c.decide == "gfp":
            if e.gfp is None:
                yield ctx.finding(c.reason, n, e, "the gfp argument is not visible")
                continue
            try:
                v = gfpmod.evaluate(e.gfp, ctx.flags, _gfp_lookup(ctx, n, 0))
            except gfpmod.Undecided as why:
                yield ctx.finding(c.reason, n, e, f"gfp '{e.gfp}' not decided: {why}")
                continue
            if gfpmod.sleeps(v, ctx.flags):
                yield ctx.finding(c.reason, n, e, f"gfp '{e.gfp}' has "
                                  f"{ctx.flags.sleeps_name}{_gfp_caller(ctx, n, e)}",
                                  definite=True)
            continue
        if c.decide == "regmap":
            if not _regmap_mmio(ctx, e.file):
                yield ctx.finding(c.reason, n, e, "the file does not create only MMIO "
                                  "regmaps (kb/regmap.tsv)")
            continue
        yield ctx.finding(c.reason, n, e, definite=c.rule == 1)


# -- rule 2: a lock the callback takes, taken elsewhere with IRQs on -----------

def _taken(ctx: Ctx) -> dict[str, tuple[Node, Effect]]:
    out = {}
    for n, e in ctx.reach.effects():
        # (irq-reenable and BH locks break rules 5 and 2 by themselves)
        if e.lock and role(ctx.t, e) == "acquire" and e.cls not in ("irq-reenable", "bh-lock"):
            out.setdefault(e.lock, (n, e))
    return out


def rule_lock_shared(ctx: Ctx):
    """Rule 2, second half: the callback takes a lock that a function of its
    file outside its closure (not a hard IRQ handler) takes with a plain or
    a BH lock, i.e. with interrupts on."""
    if not ctx.applies(2):
        return
    taken = _taken(ctx)
    if not taken:
        return
    file = ctx.root[0]
    closure = {fn for f, fn in ctx.reach.order if f == file}
    others = lock_users(ctx.eff, file, closure)
    for key, (n, e) in taken.items():
        for o in others.get(key, []):
            yield ctx.finding("lock-shared", n, e,
                              f"lock '{key}' is also taken with {o['name']}() in "
                              f"{o['fn']}() line {o['line']}", limit="lock-by-name", lock=key)
            break


# -- rule 6: a lock the callback takes, held elsewhere across dmaengine calls --

def rule_lock_held_across_dma(ctx: Ctx):
    """Rule 6: while the provider holds its channel lock around the callback,
    taking a lock that other code holds across prep/submit/issue_pending/
    terminate/tx_status (which take the channel lock) is an AB-BA deadlock."""
    if not ctx.applies(6):
        return
    taken = _taken(ctx)
    if not taken:
        return
    held = held_across_dma(ctx.eff, ctx.root[0])
    for key, (n, e) in taken.items():
        for h in held.get(key, []):
            yield ctx.finding("lock-held-across-dma", n, e,
                              f"lock '{key}' is held by {h.fn}() from line {h.line} across "
                              f"{h.call}() line {h.call_line}", limit="lock-by-name",
                              lock=key)
            break


# -- rule 7: polling bounded by time, or spinning with no count ----------------

COUNTERS = ("++", "--", "+=", "-=")


def rule_time_poll(ctx: Ctx):
    """Rule 7: a time-bounded poll call (kb/polling.tsv 'time-poll'); a loop
    naming a 'time' form (jiffies stop with interrupts off on the CPU that
    owns the tick); a loop that spins ('spin' form) with no counter."""
    if not ctx.applies(7):
        return
    t = ctx.t
    for n, e in ctx.reach.effects():
        if e.cls != "edge" and t.poll_form(e.name.split(" -> ")[-1]) == "time-poll":
            yield ctx.finding("time-bounded-poll", n, e, f"{e.name}() polls until a "
                              "timeout passes")
    idx = ctx.eff.idx
    for file, fn in ctx.reach.order:
        ext = idx.files[file].functions.get(fn)
        if not ext:
            continue
        text, starts = idx.text(file)
        a = starts[ext[0] - 1]
        b = starts[ext[1]] if ext[1] < len(starts) else len(text)
        body = blank_directives(text[a:b])
        brace = body.find("{")
        if brace < 0:
            continue
        toks = tokens(body[brace:], ext[0] + body.count("\n", 0, brace))
        for lp in loops(toks):
            time = next((x for x in lp.toks if t.poll_form(x) == "time"), None)
            spin = next((x for i, x in enumerate(lp.toks) if t.poll_form(x) == "spin" and
                         i + 1 < len(lp.toks) and lp.toks[i + 1] == "("), None)
            if time:
                yield Finding("time-bounded-poll", file, lp.line, lp.kind,
                              ctx.reach.path((file, fn)),
                              f"the {lp.kind} loop of lines {lp.line}-{lp.end} is bounded "
                              f"by '{time}'")
            elif spin and not any(x in COUNTERS for x in lp.toks):
                yield Finding("time-bounded-poll", file, lp.line, lp.kind,
                              ctx.reach.path((file, fn)),
                              f"the {lp.kind} loop of lines {lp.line}-{lp.end} spins "
                              f"({spin}()) with no count: it waits for another side")


RULES = [rule_classes, rule_lock_shared, rule_lock_held_across_dma, rule_time_poll]


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for r in RULES:
        out.extend(r(ctx))
    return out


def make_ctx(t: Tables, eff: Effects, root: Node, flags: gfpmod.Flags,
             locked_delivery: bool = True) -> Ctx:
    return Ctx(t, eff, Reach(eff, root), flags, locked_delivery)
