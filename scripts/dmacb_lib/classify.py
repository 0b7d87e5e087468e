# SPDX-License-Identifier: GPL-2.0
"""classify: facts -> one verdict per (file, callback).

Two steps.  resolve() turns each descriptor callback site into the
function(s) really assigned (through locals, parameters, struct fields and
per-SoC tables, across files).  judge() walks each callback's body and the
helpers it calls in its file, looks every other callee up in the knowledge
base, checks the hardirq contract (DESIGN.md) and picks the group.

Conservative by construction: anything not proven safe (an unknown callee,
an indirect call, a function spatch could not parse) is a reason to leave
the callback alone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from pathlib import Path

from .csource import line_starts, strip_comments
from .facts import FileFacts
from .kb import Entry

PASSTHROUGH_DIRS = ("crypto/async_tx/",)

ATOMIC_GFP = re.compile(r"\bGFP_(ATOMIC|NOWAIT)\b")
SLEEPING_GFP = re.compile(r"\bGFP_(KERNEL|NOIO|NOFS|USER|HIGHUSER\w*|DMA32|DMA)\b")
BH_WQ = re.compile(r"\bsystem_bh(_highpri)?_wq\b")

# guard()/scoped_guard() lock classes, by the guard's type name.
GUARDS = {
    "spinlock_irqsave": "lock-irqsave", "raw_spinlock_irqsave": "lock-irqsave",
    "read_lock_irqsave": "lock-irqsave", "write_lock_irqsave": "lock-irqsave",
    "irqsave": "lock-irqsave", "uart_port_lock_irqsave": "lock-irqsave",
    "spinlock_irq": "irq-reenable", "raw_spinlock_irq": "irq-reenable",
    "read_lock_irq": "irq-reenable", "write_lock_irq": "irq-reenable", "irq": "irq-reenable",
    "spinlock": "lock", "raw_spinlock": "lock", "read_lock": "lock", "write_lock": "lock",
    "spinlock_bh": "bh-lock", "raw_spinlock_bh": "bh-lock", "read_lock_bh": "bh-lock",
    "write_lock_bh": "bh-lock",
    "mutex": "sleep", "mutex_intr": "sleep", "rwsem_read": "sleep", "rwsem_write": "sleep",
    "rcu": "safe", "preempt": "safe", "srcu": "sleep", "device": "sleep",
}

RESTART = re.compile(r"prep|submit|issue_pending")

# Address computations and annotations: no work of their own, so they do not
# count when deciding a callback's shape (as debug prints do not).
PURE = re.compile(r"(container_of|container_of_const|from_\w+|to_\w+|\w+_get_drvdata|"
                  r"\w+_get_devdata|netdev_priv|likely|unlikely|READ_ONCE|min|max|min_t|"
                  r"max_t|BIT|GENMASK|FIELD_\w+|ARRAY_SIZE|IS_ENABLED|WARN_ON\w*)")

# Contract violations (DESIGN.md, hardirq contract) and what they are called.
VIOLATION = {
    "sleep": "may-sleep",
    "sleep-maybe": "may-sleep",     # depends on the bus or a gfp we cannot see
    "bh-lock": "bh-lock",
    "softirq-only": "softirq-only",
    "irq-reenable": "irq-reenable",
}


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
    reasons: list[str] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    completes: list[str] = field(default_factory=list)     # complete() args
    latent_bug: bool = False
    note: str = ""


class Index:
    """Facts of all files, indexed for resolution."""

    def __init__(self, files: dict[str, FileFacts], tree: Path | None = None,
                 texts: dict[str, tuple[str, list[int]]] | None = None):
        self.files = files
        self.tree = tree
        # the source as args() reads it; texts: shared with earlier Index
        # objects of the same tree (the audit makes one per round)
        self._text: dict[str, tuple[str, list[int]]] = {} if texts is None else texts
        self.defs: dict[str, dict[str, dict]] = {}       # file -> name -> def record
        self.calls: dict[str, dict[str, list[dict]]] = {}
        self.icalls: dict[str, dict[str, list[dict]]] = {}
        self.stores: dict[str, list[dict]] = {}
        self.defined_where: dict[str, list[str]] = defaultdict(list)
        for p, ff in files.items():
            defs, calls, icalls, stores = {}, defaultdict(list), defaultdict(list), []
            for r in ff.records:
                k = r["k"]
                if k == "def":
                    defs.setdefault(r["name"], r)
                elif k == "call":
                    calls[r["fn"]].append(r)
                elif k == "icall":
                    icalls[r["fn"]].append(r)
                elif k == "store":
                    stores.append(r)
            for fld, ident, line in ff.inits:
                stores.append({"k": "store", "dst": "." + fld, "src": ident, "line": line,
                               "fn": None})
            self.defs[p], self.calls[p], self.icalls[p], self.stores[p] = \
                defs, calls, icalls, stores
            for name in ff.functions:
                self.defined_where[name].append(p)

    def args(self, file: str, rec: dict) -> str:
        """The argument text of a call record, read from the source on demand.

        spatch gives the callee's line; the first `name(` on that line is taken
        and its parentheses matched across lines.  Comments and string contents
        are blanked first, so neither can unbalance the match.
        """
        if "args" in rec:
            return rec["args"]
        if file not in self._text:
            raw = (self.tree / file).read_text(errors="replace") if self.tree else ""
            text = strip_comments(raw)
            self._text[file] = (text, line_starts(text))
        text, starts = self._text[file]
        args = ""
        line = rec["line"]
        if 0 < line <= len(starts):
            end = starts[line] if line < len(starts) else len(text)
            m = _call_on_line(text, rec["name"], starts[line - 1], end)
            if m:
                depth, i = 1, m.end()
                while i < len(text) and depth:
                    depth += {"(": 1, ")": -1}.get(text[i], 0)
                    i += 1
                args = " ".join(text[m.end():i - 1].split())
        rec["args"] = args
        return args


_WS_PAREN = re.compile(r"\s*\(")


def _call_on_line(text: str, name: str, start: int, end: int) -> re.Match | None:
    """The first `name (` starting in text[start:end], name a whole word (as
    a regex with \\b would find it); the match ends after the '('.  A regex
    per name meant compiling ~1500 of them in an audit (0.3 s)."""
    i = text.find(name, start, end)
    while i >= 0:
        if i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"):
            m = _WS_PAREN.match(text, i + len(name))
            if m:
                return m
        i = text.find(name, i + 1, end)
    return None


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


def _params(defrec: dict) -> list[str]:
    """Parameter names of a function definition record."""
    names = []
    for p in _split_args(defrec.get("params", "")):
        m = re.search(r"([A-Za-z_]\w*)\s*(\)\s*\(.*\))?\s*(\[[^\]]*\])?\s*$", p)
        m2 = re.search(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)", p)    # function pointer param
        names.append(m2.group(1) if m2 else (m.group(1) if m else ""))
    return names


def _split_args(s: str) -> list[str]:
    out, depth, cur = [], 0, []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


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
        if d and name in _params(d):
            i = _params(d).index(name)
            out, why, callers = set(), "", 0
            for p in self.idx.files:
                for caller, calls in self.idx.calls[p].items():
                    for c in calls:
                        if c["name"] == fn:
                            args = _split_args(self.idx.args(p, c))
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


# ---------------------------------------------------------------------------

class Judge:
    def __init__(self, idx: Index, kb: dict[str, Entry], tree: Path | None):
        self.idx = idx
        self.kb = kb
        self.tree = tree
        self._regmap: dict[str, bool] = {}
        self._effects: dict[tuple[str, str], list[dict]] = {}

    def _lock_key(self, args: str) -> str:
        a = _split_args(args)
        if not a:
            return ""
        m = re.findall(r"[A-Za-z_]\w*", a[0])
        return m[-1] if m else a[0]

    def effects(self, file: str, fn: str) -> list[dict]:
        """Every effect of fn and its helpers: [{cls, name, line, path, args}] (memoised)."""
        key = (file, fn)
        if key not in self._effects:
            out: list[dict] = []
            self._walk(file, fn, [fn], out, set(), None)
            self._effects[key] = out
        return self._effects[key]

    def _walk(self, file: str, fn: str, path: list[str], out: list[dict], seen: set[str],
              top: int | None):
        """top: line of the call in the callback's own body that led here."""
        if (file, fn) in seen:
            return
        seen.add((file, fn))
        ff = self.idx.files[file]
        if fn not in self.idx.defs[file]:
            line = ff.functions.get(fn, [0])[0]
            out.append({"cls": "unparsed", "name": fn, "line": line, "path": path,
                        "file": file, "top": top or line, "args": ""})
            return
        for c in sorted(self.idx.calls[file].get(fn, []), key=lambda c: c["line"]):
            self._call(file, c["name"], self.idx.args(file, c), c["line"], path, out, seen,
                       top if top is not None else c["line"])
        for c in self.idx.icalls[file].get(fn, []):
            out.append({"cls": "indirect", "name": c["name"], "line": c["line"], "path": path,
                        "file": file, "top": top if top is not None else c["line"], "args": ""})

    def _call(self, file, name, args, line, path, out, seen, top, depth=0):
        ff = self.idx.files[file]
        ev = {"name": name, "line": line, "path": path, "args": args, "file": file, "top": top}
        if name in ("guard", "scoped_guard"):
            kind = (_split_args(args) or [""])[0]
            cls = GUARDS.get(kind, "unknown")
            out.append({**ev, "cls": cls, "lock": self._lock_key(", ".join(_split_args(args)[1:])),
                        "name": f"{name}({kind})"})
            return
        if name in ff.functions:
            self._walk(file, name, path + [name], out, seen, top)
            return
        e = self.kb.get(name)
        if e is None:
            other = self.sibling_definition(file, name)
            if other:
                self._walk(other, name, path + [f"{name}@{other.rsplit('/', 1)[1]}"], out, seen,
                           top)
                return
        if e is None and name in ff.macros and depth < 3:
            from .csource import calls_in
            for inner in calls_in(ff.macros[name]):
                self._call(file, inner, "", line, path + [name + "()"], out, seen, top, depth + 1)
            return
        if e is None:
            out.append({**ev, "cls": "unknown"})
            return
        cls = e.cls
        if cls == "sleep-gfp":
            a = _split_args(args)
            g = a[e.gfp_arg] if e.gfp_arg < len(a) else ""
            cls = self._gfp_class(file, path, g)
        elif cls == "regmap":
            cls = "safe" if self.mmio_regmap(file) else "sleep-maybe"
        if cls == "work" and BH_WQ.search(args):
            cls = "tasklet"
        rec = {**ev, "cls": cls}
        if cls.startswith(("lock", "unlock", "bh-lock", "irq-reenable")):
            rec["lock"] = self._lock_key(args)
        out.append(rec)

    def _gfp_class(self, file: str, path: list[str], g: str) -> str:
        """safe, sleep, or sleep-maybe for an allocation with gfp expression g.

        A gfp that is a parameter of the helper making the call is followed
        one call up the path: helpers often take the caller's gfp.
        """
        if ATOMIC_GFP.search(g) and not SLEEPING_GFP.search(g):
            return "safe"
        if SLEEPING_GFP.search(g):
            return "sleep"
        g = g.strip()
        if len(path) >= 2 and re.fullmatch(r"[A-Za-z_]\w*", g):
            fn, parent = path[-1], path[-2]
            d = self.idx.defs[file].get(fn)
            if d and g in _params(d) and "@" not in fn + parent:
                i = _params(d).index(g)
                verdicts = set()
                for c in self.idx.calls[file].get(parent, []):
                    if c["name"] == fn:
                        a = _split_args(self.idx.args(file, c))
                        verdicts.add(self._gfp_class(file, path[:-1], a[i]) if i < len(a)
                                     else "sleep-maybe")
                if verdicts:
                    for v in ("sleep", "sleep-maybe", "safe"):
                        if v in verdicts:
                            return v
        return "sleep-maybe"

    def mmio_regmap(self, file: str) -> bool:
        """Does this driver create only MMIO regmaps (spinlock, no bus to sleep on)?"""
        if file not in self._regmap:
            text = (self.tree / file).read_text(errors="replace") if self.tree else ""
            inits = set(re.findall(r"\bregmap_init_(\w+)|\bdevm_regmap_init_(\w+)", text))
            kinds = {a or b for a, b in inits}
            mmio = {k for k in kinds if k.startswith("mmio")}
            syscon = re.search(r"\bsyscon_\w*regmap\w*\(", text) is not None
            self._regmap[file] = bool(mmio or syscon) and not (kinds - mmio)
        return self._regmap[file]

    def sibling_definition(self, file: str, name: str) -> str | None:
        """Another audited file of the same directory that defines name."""
        d = file.rsplit("/", 1)[0]
        for p in self.idx.defined_where.get(name, []):
            if p != file and p.rsplit("/", 1)[0] == d and p.endswith(".c"):
                return p
        return None

    def unknown_callees(self, file: str, name: str) -> set[str]:
        return {e["name"] for e in self.effects(file, name) if e["cls"] == "unknown"}

    # -- locks taken elsewhere in the file -----------------------------------
    def _irq_handlers(self, file: str) -> set[str]:
        hs = set()
        for calls in self.idx.calls[file].values():
            for c in calls:
                if c["name"] in ("request_irq", "devm_request_irq", "request_any_context_irq",
                                 "devm_request_any_context_irq", "request_threaded_irq",
                                 "devm_request_threaded_irq"):
                    a = _split_args(self.idx.args(file, c))
                    i = 2 if c["name"].startswith("devm") else 1
                    if i < len(a):
                        hs.add(_strip(a[i]))
        return hs

    def lock_users(self, file: str, exclude: set[str]) -> dict[str, list[dict]]:
        """Plain and BH lock acquisitions outside exclude and IRQ handlers."""
        handlers = self._irq_handlers(file)
        res: dict[str, list[dict]] = defaultdict(list)
        for fn, calls in self.idx.calls[file].items():
            if fn in exclude or fn in handlers:
                continue
            for c in calls:
                cls = None
                if c["name"] in ("guard", "scoped_guard"):
                    a = _split_args(self.idx.args(file, c))
                    cls = GUARDS.get((a or [""])[0])
                    key = self._lock_key(", ".join(a[1:]))
                else:
                    e = self.kb.get(c["name"])
                    cls = e.cls if e else None
                    if cls not in ("lock", "bh-lock"):
                        continue
                    key = self._lock_key(self.idx.args(file, c))
                if cls in ("lock", "bh-lock") and key:
                    res[key].append({"fn": fn, "name": c["name"], "line": c["line"], "cls": cls})
        return res

    # -- verdict ---------------------------------------------------------------
    def judge(self, cb: Callback) -> None:
        file = cb.defined_in
        assert file
        ff = self.idx.files[file]
        effs = self.effects(file, cb.name)
        uses_result = any(s.field == "callback_result" for s in cb.sites) and \
            self._reads_result(file, cb.name)
        reasons: list[str] = []
        evidence: list[dict] = []

        def why(reason: str, e: dict | None, text: str = ""):
            if reason not in reasons:
                reasons.append(reason)
            if e is not None:
                evidence.append({"reason": reason, "file": e.get("file", file),
                                 "line": e["line"], "call": e["name"],
                                 "via": " -> ".join(e["path"]), **({"detail": text} if text else {})})

        if ff.timeout or ff.spatch_failed:
            why("unparsed", {"line": 0, "name": "spatch", "path": [cb.name]},
                "spatch timed out on this file" if ff.timeout else
                f"spatch failed on this file: {ff.spatch_failed}")
        for e in effs:
            c = e["cls"]
            if c == "dmaengine":
                # starting a transfer vs any other re-entry (status, terminate,
                # or a subsystem function that reaches them): both deadlock on
                # a provider lock held around the callback
                why("restarts-dma" if RESTART.search(e["name"]) else "reenters-dma", e)
            elif c in VIOLATION:
                why(VIOLATION[c], e)
            elif c == "unparsed":
                why("unparsed", e, f"spatch could not parse {e['name']}()")
            elif c == "unknown":
                why("unknown-call", e, f"{e['name']}() is neither in this file nor in kb/")
            elif c == "indirect":
                why("unknown-call", e, f"indirect call through ->{e['name']}()")

        # locks the callback takes, also taken elsewhere without IRQs off
        closure = {n for e in effs for n in e["path"]}
        taken = {e["lock"]: e for e in effs if e.get("lock") and
                 e["cls"] in ("lock", "lock-irqsave", "lock-irq", "bh-lock")}
        if taken:
            others = self.lock_users(file, closure)
            for key, e in taken.items():
                for o in others.get(key, []):
                    why("lock-shared", e, f"lock '{key}' is also taken with {o['name']}() "
                        f"in {o['fn']}() line {o['line']}")
                    break

        cb.completes = [_split_args(e["args"])[0] if e["args"] else "" for e in effs
                        if e["cls"] == "complete"]
        if uses_result:
            reasons.append("uses-result")
        # a latent bug is claimed only for a call that sleeps for sure
        definite_sleep = any(e["cls"] == "sleep" for e in effs)
        if definite_sleep:
            cb.latent_bug = True
        hard = [r for r in reasons if r != "uses-result"]
        if not hard:
            cb.group, cb.action = self._shape(file, cb, effs, uses_result)
        elif set(hard) == {"may-sleep"} and definite_sleep and not any(
                e["cls"] in ("lock", "bh-lock") for e in effs):
            # Already a bug in softirq context; process context is what it wants.
            cb.group, cb.action = "task-context", "task"
        else:
            cb.group, cb.action = "left-alone", "none"
        if cb.latent_bug:
            reasons.append("latent-bug")
        cb.reasons = reasons
        cb.evidence = evidence + self._shape_evidence(effs)

    def _shape(self, file: str, cb: Callback, effs: list[dict], uses_result: bool):
        real = [e for e in effs if e["cls"] != "debug" and
                not (e["cls"] == "safe" and PURE.fullmatch(e["name"]))]
        classes = {e["cls"] for e in real}
        # the core signals the descriptor's completion with complete(): one
        # waiter.  complete_all() callbacks are not equivalent: keep them.
        if classes <= {"complete"} and classes and not uses_result and \
                all(e["name"] == "complete" for e in real) and \
                self._only_completes(file, cb.name):
            return "complete-only", "completion"
        # irq-disabled: every effect happens between the callback's own
        # irqsave and irqrestore (or after its guard(spinlock_irqsave)).
        # The shape is only a label: the contract checks above decided safety.
        own = [e for e in real if e["path"] == [cb.name]]
        lo = min((e["line"] for e in own if e["cls"] == "lock-irqsave"), default=None)
        hi = max((e["line"] for e in own if e["cls"] == "unlock-irqrestore"), default=None)
        if lo is not None and any(e["name"].startswith("guard") for e in own
                                  if e["cls"] == "lock-irqsave" and e["line"] == lo):
            hi = 1 << 30
        if lo is not None and hi is not None and all(lo <= e["top"] <= hi for e in real):
            return "irq-disabled", "hardirq"
        if "tasklet" in classes:
            return "chained-tasklet", "hardirq"
        if "work" in classes:
            return "task-context", "hardirq"
        return "hardirq-safe", "hardirq"

    def _shape_evidence(self, effs: list[dict]) -> list[dict]:
        keep = ("complete", "tasklet", "work", "lock-irqsave", "notify", "wake")
        return [{"effect": e["cls"], "file": e["file"], "line": e["line"], "call": e["name"],
                 "via": " -> ".join(e["path"])} for e in effs if e["cls"] in keep][:12]

    def _only_completes(self, file: str, name: str) -> bool:
        """The body is declarations, complete*()/debug calls and returns only."""
        body = self.body(file, name)
        if body is None:
            return False
        stmts = [s.strip() for s in re.split(r"[;{}]", body) if s.strip()]
        for s in stmts:
            if re.match(r"(complete|complete_all)\s*\(", s):
                continue
            if re.match(r"return\b", s) and s in ("return",):
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
        ps = _params(d)
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
