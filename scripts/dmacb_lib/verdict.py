# SPDX-License-Identifier: GPL-2.0
"""verdict: one callback -> its group and action, with reasons and evidence.

The contract (contract/: the rules over kb/'s tables) says what breaks
hardirq safety; this module turns the findings into a verdict: no finding
and the group's shape fits -> the group's action; a definite sleep and
nothing else a task can't do -> task; anything else -> left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import shape as shapemod
from . import vocab
from .classify import Callback
from .contract import gfp as gfpmod
from .contract import rules
from .contract.effects import Effects
from .contract.reach import Reach
from .contract.tables import Tables
from .csource import strip_comments
from .index import Index, params

# Address computations and annotations: no work of their own, so they do not
# count when deciding a callback's shape (as debug prints do not).
PURE = re.compile(r"(container_of|container_of_const|from_\w+|to_\w+|\w+_get_drvdata|"
                  r"\w+_get_devdata|netdev_priv|likely|unlikely|READ_ONCE|min|max|min_t|"
                  r"max_t|BIT|GENMASK|FIELD_\w+|ARRAY_SIZE|IS_ENABLED|WARN_ON\w*)")

# Reasons a task callback may have: process context may sleep and poll.
TASK_OK = {"may-sleep", "time-bounded-poll"}


# the providers audit's bare-completion values, for the evidence of rule 8
BARE_TEXT = {"never": "on no path", "some-paths": "on some paths only",
             "unknown": "on paths dmacb could not read"}


def _provider_evidence(reason: str, bad: list, file: str, cb: str, detail) -> list[dict]:
    """One evidence entry per provider that fails a question of delivery.py
    (detail(provider) says how), or one saying nobody is known to serve."""
    return [{"reason": reason, "file": p.id if p else file, "line": 0,
             "call": p.name if p else "?", "via": cb,
             "detail": detail(p) if p else "no provider is known to serve this driver"}
            for p in bad or [None]]


class Judge:
    def __init__(self, idx: Index, t: Tables, tree: Path | None):
        self.idx = idx
        self.t = t
        self.tree = tree
        self.eff = Effects(idx, t)
        self.flags = gfpmod.Flags(t)

    @classmethod
    def for_files(cls, k, files: list[str], jobs: int, use_cache: bool = True):
        """(a judge over the facts of `files` of k's tree, those facts): for
        judging a few functions outside an audit (parity, a provider's hook)."""
        from . import facts as factsmod
        from .contract import tables
        facts = factsmod.collect(k, sorted(set(files)), jobs, use_cache, quiet=True)
        return cls(Index(facts, k.path), tables.load(), k.path), facts

    def findings(self, file: str, fn: str, locked_delivery: bool = True):
        """(context, findings) of the contract's rules for function fn of
        file: what every caller of the rules asks."""
        ctx = rules.make_ctx(self.t, self.eff, (file, fn), self.flags, locked_delivery)
        return ctx, rules.check(ctx)

    def unknown_callees(self, file: str, name: str) -> set[str]:
        """Names a callback reaches that neither its file nor kb/ knows (the
        audit then looks for them in the files of the directory)."""
        r = Reach(self.eff, (file, name))
        return {e.name.split(" -> ")[-1] for _, e in r.effects() if e.cls == "unknown"}

    def judge(self, cb: Callback, deliv=None, files: list[str] | None = None) -> None:
        """deliv: delivery.Delivery (who serves the client files and what
        they do); without it, every provider is assumed to run a flagged
        callback under its channel lock and rule 8 is not judged."""
        file = cb.defined_in
        assert file
        ff = self.idx.files[file]
        files = files or [file]
        locked_delivery = deliv.locked(files) if deliv else True
        cb.delivery = {"locked": locked_delivery}
        if deliv is not None:
            sv = deliv.serving(files)
            cb.delivery.update(basis=sv.basis, providers=[p.id for p in sv.providers])
        ctx, found = self.findings(file, cb.name, locked_delivery)
        if ff.timeout or ff.spatch_failed:
            found.insert(0, rules.Finding(
                "unparsed", file, 0, "spatch", [cb.name],
                "spatch timed out on this file" if ff.timeout else
                f"spatch failed on this file: {ff.spatch_failed}"))
        reasons = sorted({f.reason for f in found}, key=list(vocab.REASONS).index)
        evidence = [{"reason": f.reason, "file": f.file, "line": f.line, "call": f.call,
                     "via": " -> ".join(f.via), **({"detail": f.detail} if f.detail else {}),
                     **({"limit": f.limit} if f.limit else {})} for f in found]
        effs = list(ctx.reach.effects())
        cb.completes = [(_first_arg(e.args)) for _, e in effs if e.cls == "complete"]
        uses_result = any(s.field == "callback_result" for s in cb.sites) and \
            self._reads_result(file, cb.name)
        if uses_result:
            reasons.append("uses-result")
        cb.latent_bug = any(f.reason == "may-sleep" and f.definite for f in found)
        hard = [r for r in reasons if r not in vocab.INFO_REASONS]
        locks = any(e.lock and e.cls in self.t.classes and
                    self.t.classes[e.cls].lock != "-" for _, e in effs)
        if not hard:
            cb.group, cb.action = self._shape(ctx, cb, uses_result)
        elif set(hard) <= TASK_OK and cb.latent_bug and not locks:
            # Already a bug in softirq context; process context is what it wants.
            cb.group, cb.action = "task-context", "task"
        else:
            cb.group, cb.action = "left-alone", "none"
        if cb.action == "completion" and deliv is not None:
            ok, bad = deliv.completion(files)
            if not ok:
                # rule 8: no bare completion everywhere; the callback does
                # nothing but complete(), so it keeps its callback, flagged
                cb.group, cb.action = "hardirq-safe", "hardirq"
                reasons.append("provider-no-completion")
                evidence += _provider_evidence(
                    "provider-no-completion", bad, file, cb.name,
                    lambda p: f"{p.name} signals a completion set without a callback "
                              f"{BARE_TEXT.get(p.bare, p.bare)}: {p.bare_why}")
        if cb.action == "task" and deliv is not None:
            ok, bad = deliv.task(files)
            if not ok:
                # with the v2 series the task flag on such a channel fails
                # the prep, or the provider calls the callback where it is:
                # the latent bug stays a bug, reported, not converted
                cb.group, cb.action = "left-alone", "none"
                reasons.append("provider-no-task")
                evidence += _provider_evidence("provider-no-task", bad, file, cb.name,
                                               lambda p: f"{p.name} {p.task_why}")
        if cb.latent_bug:
            reasons.append("latent-bug")
        cb.reasons = sorted(reasons, key=list(vocab.REASONS).index)
        cb.evidence = evidence + self._shape_evidence(ctx)
        cb.shape, cb.shape_flags = shapemod.classify(self, file, cb.name, found, ctx.reach)

    # -- shape (the group of a callback that passes the contract) --------------

    def _real(self, ctx) -> list:
        return [(n, e) for n, e in ctx.reach.effects()
                if e.cls not in ("debug", "edge") and
                not (e.cls == "safe" and PURE.fullmatch(e.name))]

    def _shape(self, ctx, cb: Callback, uses_result: bool) -> tuple[str, str]:
        file = cb.defined_in
        real = self._real(ctx)
        classes = {e.cls for _, e in real}
        # the core signals the descriptor's completion with complete(): one
        # waiter.  complete_all() callbacks are not equivalent: keep them.
        if classes == {"complete"} and not uses_result and \
                all(e.name == "complete" for _, e in real) and \
                self._only_completes(file, cb.name):
            return "complete-only", "completion"
        # irq-disabled: every effect happens between the callback's own
        # irqsave and irqrestore (or after its guard(spinlock_irqsave)).
        own = [e for n, e in real if n == ctx.root]
        lo = min((e.line for e in own if e.cls == "lock-irqsave"), default=None)
        hi = max((e.line for e in own if e.cls == "unlock-irqrestore"), default=None)
        if lo is not None and any(e.name.startswith("guard") for e in own
                                  if e.cls == "lock-irqsave" and e.line == lo):
            hi = 1 << 30
        if lo is not None and hi is not None and \
                all(lo <= x <= hi for n, e in real for x in ctx.reach.top_lines(n, e)):
            return "irq-disabled", "hardirq"
        if "tasklet" in classes:
            return "chained-tasklet", "hardirq"
        if "work" in classes:
            return "task-context", "hardirq"
        return "hardirq-safe", "hardirq"

    def _shape_evidence(self, ctx) -> list[dict]:
        keep = ("complete", "tasklet", "work", "lock-irqsave", "notify", "wake")
        return [{"effect": e.cls, "file": e.file, "line": e.line, "call": e.name,
                 "via": " -> ".join(ctx.reach.path(n))}
                for n, e in ctx.reach.effects() if e.cls in keep][:12]

    def _only_completes(self, file: str, name: str) -> bool:
        """The body is declarations, complete*()/debug calls and returns only."""
        body = self.body(file, name)
        if body is None:
            return False
        stmts = [s.strip() for s in re.split(r"[;{}]", body) if s.strip()]
        for s in stmts:
            if re.match(r"(complete|complete_all)\s*\(", s):
                continue
            if s == "return":
                continue
            if re.match(r"(dev_|pr_)\w*\s*\(", s) or re.match(r"\w*dbg\w*\s*\(", s):
                continue
            # declaration initialised from the parameter or container_of()
            if re.match(r"(const\s+)?(struct\s+)?[A-Za-z_]\w*[\s\*]+[A-Za-z_]\w*\s*=\s*"
                        r"(\(\s*[\w\s\*]+\)\s*)?[A-Za-z_][\w\->\.]*\s*$", s):
                continue
            if re.match(r"(const\s+)?(struct\s+)?[A-Za-z_]\w*[\s\*]+[A-Za-z_]\w*\s*=\s*"
                        r"(container_of|from_tasklet|from_timer)\s*\(", s):
                continue
            if re.match(r"^\)?\s*$", s):
                continue
            return False
        return True

    def _reads_result(self, file: str, name: str) -> bool:
        body = self.body(file, name)
        d = self.idx.defs[file].get(name)
        if body is None or d is None:
            return True      # cannot tell: assume it does
        ps = params(d)
        if len(ps) < 2 or not ps[1]:
            return False
        return re.search(rf"\b{re.escape(ps[1])}\b", body) is not None

    def body(self, file: str, name: str) -> str | None:
        """Text between the braces of a function, comments blanked."""
        ext = self.idx.files[file].functions.get(name)
        if not ext or self.tree is None:
            return None
        lines = (self.tree / file).read_text(errors="replace").splitlines(True)
        text = strip_comments("".join(lines[ext[0] - 1:ext[1]]))
        a, b = text.find("{"), text.rfind("}")
        return text[a + 1:b] if 0 <= a < b else None


def _first_arg(args: str) -> str:
    from .csource import split_args
    a = split_args(args)
    return a[0] if a else ""
