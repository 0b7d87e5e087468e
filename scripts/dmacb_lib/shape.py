# SPDX-License-Identifier: GPL-2.0
"""shape: what a callback does, whatever the contract says of it.

The seed's four shapes (complete-only, irq-disabled, chained-tasklet,
task-context), restarts-dma and other, plus flags for the near cases; see
vocab.SHAPES and README ("Shape and verdict").  The verdict (group,
action) decides the conversion; the shape answers the seed's question of
what the ~150 callbacks actually do, so it is computed for every callback,
whatever its reasons.

Conventions (issue 13):
  complete-only    complete()/complete_all() or wake_up*() (at least one)
                   and nothing else but debug prints, dmaengine_tx_status(),
                   atomic bit and atomic_t operations, address computations;
                   stores to the driver's own fields are not calls and do
                   not count; no lock;
  restarts-dma     the callback (or a helper) preps, submits or issues the
                   next transfer;
  irq-disabled     everything but a trivial prologue/epilogue (status reads,
                   unmaps, debug prints) runs between the callback's own
                   irqsave lock and its restore (or after a
                   guard(spinlock_irqsave)/uart_port_lock_irqsave());
  chained-tasklet  schedules a tasklet or BH work that carries the work;
  task-context     sleeps for sure, or queues work on a normal workqueue
                   whose function needs process context (it may sleep or
                   calls what cannot be proven not to; a work function the
                   file does not name with INIT_WORK() counts as needing it);
  other            anything else.
Flags: near-complete-only (a complete()/wake_up*()/
spi_finalize_current_transfer() with at most three other unlocked calls,
all hardirq-safe, and no loop), irqs-off-whole-body (a restarting callback
that runs under irqsave throughout), wakeup-only (complete-only through
wake_up*() alone), busy-wait (a loop that spins or polls, or a delay),
calls-client-callback (an indirect call: another client's callback).
"""

from __future__ import annotations

import re

from .contract.reach import Reach
from .csource import blank_directives, loops, tokens

ATOMIC = re.compile(r"(__)?(set|clear|change|test_and_set|test_and_clear|test_and_change)_bit"
                    r"|atomic(64|_long)?_\w+|READ_ONCE|WRITE_ONCE|smp_\w+")
SIGNAL = {"complete", "wake"}
NOTIFY_DONE = {"spi_finalize_current_transfer"}
TRIVIAL = re.compile(r"dma_unmap\w*|dma_sync\w*|dmaengine_tx_status|readl\w*|ioread\w*|"
                     r"\w*_read\w*|dma_descriptor_unmap|dmaengine_unmap_put")
DELAYS = {"udelay", "ndelay", "mdelay", "cpu_relax"}
INIT_WORK = re.compile(r"\b(?:INIT_WORK|INIT_DELAYED_WORK|DECLARE_WORK|DECLARE_DELAYED_WORK)"
                       r"\s*\(\s*&?\s*([^,]+?)\s*,\s*([A-Za-z_]\w*)\s*\)")


def _base(name: str) -> str:
    return name.split(" -> ")[-1]


def _work_function(judge, file: str, name: str, args: str) -> str | None:
    """The function of the work item a queue_work()/schedule_work() call
    queues, when INIT_WORK() in the file names it: the item's last
    identifier (its field) is matched, as locks are."""
    from .csource import split_args
    a = split_args(args)
    if not a:
        return None
    item = next((x for x in a if "&" in x), a[1] if name.startswith("queue") and len(a) > 1
                else a[0])
    key = re.findall(r"[A-Za-z_]\w*", re.sub(r"\[[^\]]*\]", "", item))
    if not key:
        return None
    text = judge.idx.text(file)[0]
    for m in INIT_WORK.finditer(text):
        ids = re.findall(r"[A-Za-z_]\w*", re.sub(r"\[[^\]]*\]", "", m.group(1)))
        if ids and ids[-1] == key[-1]:
            return m.group(2)
    return None


def needs_task(judge, file: str, fn: str) -> bool:
    """Does work function fn need process context: it may sleep, or it
    calls what cannot be proven not to (an unknown or indirect call)?"""
    if fn not in judge.idx.files[file].functions:
        return True
    return any(f.reason in ("may-sleep", "unknown-call", "unparsed")
               for f in judge.findings(file, fn)[1])


def classify(judge, file: str, name: str, found: list, reach: Reach) -> tuple[str, list[str]]:
    """(shape, flags) of callback name defined in file; found: the
    contract's findings for it (rules.check)."""
    t = judge.t
    effs = [(n, e) for n, e in reach.effects() if e.cls != "edge"]
    root = reach.root
    real = [(n, e) for n, e in effs
            if e.cls != "debug" and not (e.cls == "safe" and
                                         (judge_pure(e.name) or ATOMIC.fullmatch(_base(e.name))))]
    classes = {e.cls for _, e in real}
    bases = {_base(e.name) for _, e in real}
    flags: list[str] = []

    def lock_role(e):
        return t.classes[e.cls].lock if e.cls in t.classes else "-"

    locked = any(lock_role(e) != "-" for _, e in real)
    signals = [e for _, e in real if e.cls in SIGNAL]
    others = [e for _, e in real if e.cls not in SIGNAL and _base(e.name) != "dmaengine_tx_status"]
    restarts = any(e.cls == "dmaengine-start" for _, e in real)

    # busy-wait: a loop that spins or polls, or a delay
    if any(f.reason == "time-bounded-poll" for f in found) or bases & DELAYS:
        flags.append("busy-wait")
    elif _has_spin_loop(judge, reach):
        flags.append("busy-wait")
    if any(e.cls == "indirect" for _, e in effs):
        flags.append("calls-client-callback")

    # irq-disabled region of the callback's own body
    own = [e for n, e in real if n == root]
    lo = min((e.line for e in own if e.cls == "lock-irqsave"), default=None)
    hi = max((e.line for e in own if e.cls == "unlock-irqrestore"), default=None)
    if lo is not None and any(e.name.startswith("guard") or _base(e.name).startswith("uart_port_lock")
                              for e in own if e.cls == "lock-irqsave" and e.line == lo):
        hi = hi if hi and hi > lo else 1 << 30
    inside = lo is not None and hi is not None and all(
        lo <= x <= hi or TRIVIAL.fullmatch(_base(e.name))
        for n, e in real for x in reach.top_lines(n, e))

    if signals and not others and not locked and not restarts:
        if all(e.cls == "wake" for e in signals):
            flags.append("wakeup-only")
        return "complete-only", flags
    done = signals or any(_base(e.name) in NOTIFY_DONE for _, e in real)
    if done and not locked and not restarts and "busy-wait" not in flags:
        rest = [e for e in others if _base(e.name) not in NOTIFY_DONE]
        if len(rest) <= 3 and all(e.cls in ("safe", "notify", "wake", "complete")
                                  for e in rest):
            flags.append("near-complete-only")
    if restarts:
        if inside:
            flags.append("irqs-off-whole-body")
        return "restarts-dma", flags
    if inside:
        return "irq-disabled", flags
    if "tasklet" in classes:
        return "chained-tasklet", flags
    if any(f.reason == "may-sleep" and f.definite for f in found):
        return "task-context", flags
    works = [(n, e) for n, e in real if e.cls == "work"]
    if works:
        fns = [_work_function(judge, n[0], _base(e.name), e.args) for n, e in works]
        if any(f is None or needs_task(judge, n[0], f) for (n, _), f in zip(works, fns)):
            return "task-context", flags
    return "other", flags


def judge_pure(name: str) -> bool:
    from .verdict import PURE
    return bool(PURE.fullmatch(_base(name)))


def _has_spin_loop(judge, reach: Reach) -> bool:
    """A loop of a reachable function that calls a spin form of kb/polling.tsv."""
    t = judge.t
    for file, fn in reach.order:
        ext = judge.idx.files[file].functions.get(fn)
        if not ext:
            continue
        text, starts = judge.idx.text(file)
        a = starts[ext[0] - 1]
        b = starts[ext[1]] if ext[1] < len(starts) else len(text)
        body = blank_directives(text[a:b])
        brace = body.find("{")
        if brace < 0:
            continue
        for lp in loops(tokens(body[brace:])):
            if any(t.poll_form(x) == "spin" for x in lp.toks):
                return True
    return False
