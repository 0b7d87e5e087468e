# SPDX-License-Identifier: GPL-2.0
"""One provider's program: its functions, who calls whom, and the roots a
context starts from (IRQ handlers, IRQ threads, tasklets, work, timers, and
the dma_device fields a client's own call enters through).

The facts are spatch's (definitions, calls, indirect calls, field stores,
typed descriptor field uses) for every function spatch parsed.  A function
it could not parse is still in the program, from the text (csource), and
marked: everything read from the text of an unparsed function is flagged
"unparsed" in the evidence, never dropped and never mistaken for a parse.

Edges: a direct call; an indirect call E->fld(...) to every function of
the provider stored in a field of that name (S facts, or a designated
initialiser .fld = f read from the text); and a function of the provider
passed by name to a function of the provider or to an indirect call (the
callee calls it: dw-edma's handle_int(..., dw_edma_done_interrupt, ...)).
A function handed to a registration (request_irq(), tasklet_setup(), ...)
is a root, never an edge: it runs in another context.
"""

from __future__ import annotations

import bisect
import re
from collections import deque
from dataclasses import dataclass, field

from .. import csource
from ..facts import FileFacts
from . import kapi, source
from .discover import Provider


@dataclass
class Fn:
    file: str
    name: str
    line: int
    end: int
    params: list[str]
    parsed: bool
    static: bool
    calls: list[tuple[str, int]] = field(default_factory=list)      # (callee, line)
    icalls: list[tuple[str, int]] = field(default_factory=list)     # (field, line)
    stores: list[tuple[str, str, int]] = field(default_factory=list)  # (field, fn, line)
    uses: list[dict] = field(default_factory=list)                  # typed descriptor uses
    refs: list[tuple[str, int]] = field(default_factory=list)       # names passed on

    @property
    def key(self) -> tuple[str, str]:
        return (self.file, self.name)

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Root:
    kind: str           # hardirq, threaded-irq, any-context-irq, tasklet, workqueue, ...
    fn: Fn
    how: str            # 'request_threaded_irq() thread' ...
    file: str
    line: int
    detail: str = ""    # e.g. the field of a client call, 'replaces the vchan tasklet'

    def to_json(self) -> dict:
        d = {"context": self.kind, "function": self.fn.name, "registered": self.how,
             "at": f"{self.file}:{self.line}"}
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass
class Edge:
    caller: Fn
    callee: Fn
    line: int
    how: str            # 'calls', 'via ->fld()', 'passes it to x()'


_ICALL_TEXT = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)\s*\(")
_STORE_TEXT = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)\s*=\s*&?\s*([A-Za-z_]\w*)\s*;")
_IDENT_NOCALL = re.compile(r"\b([A-Za-z_]\w*)\b(?!\s*\()")
_NOCALL: dict[int, tuple] = {}


def _idents_not_called(t: source.Text) -> tuple[list[int], list[tuple[int, str]]]:
    """Every identifier of the file not followed by '(' (one pass per file,
    shared by the providers that have the file)."""
    got = _NOCALL.get(id(t))
    if got is None or got[0] is not t:
        hits = [(m.start(), m.group(1)) for m in _IDENT_NOCALL.finditer(t.text)]
        got = (t, [h[0] for h in hits], hits)
        _NOCALL[id(t)] = got
    return got[1], got[2]
_REG_NAMES = set(kapi.IRQ_REGISTER) | set(kapi.DEFER_REGISTER) | {kapi.VCHAN_INIT}


class Program:
    def __init__(self, prov: Provider, facts: dict[str, FileFacts],
                 texts: dict[str, source.Text], extra_texts: tuple[str, ...] = ()):
        """extra_texts: headers outside the provider that declare descriptor
        members (virt-dma.h's vd.tx, the forced type headers)."""
        self.prov = prov
        self.texts = texts
        self.fns: dict[tuple[str, str], Fn] = {}
        self.by_name: dict[str, list[Fn]] = {}
        self.unparsed: list[Fn] = []
        self.type_gaps: list[dict] = []         # uses only the text saw
        self.members = source.descriptor_members(
            [texts[p].text for p in prov.files if p in texts] + list(extra_texts))
        self.spatch_gaps: list[dict] = []       # files spatch gave up on
        for p in prov.files:
            ff = facts.get(p)
            t = texts.get(p)
            if ff is None or t is None:
                continue
            if ff.timeout or ff.spatch_failed:
                self.spatch_gaps.append({"file": p, "error": "timeout" if ff.timeout
                                         else ff.spatch_failed})
            self._load(p, ff, t)
        self.field_targets: dict[str, list[tuple[Fn, str, int]]] = {}
        self._fields()
        self.edges_in: dict[tuple[str, str], list[Edge]] = {}
        self.edges_out: dict[tuple[str, str], list[Edge]] = {}
        self.roots: dict[tuple[str, str], list[Root]] = {}
        self.registrations: list[dict] = []     # every registration call seen
        self._edges_and_roots()

    # -- loading ---------------------------------------------------------------

    def _load(self, p: str, ff: FileFacts, t: source.Text) -> None:
        defs = {}
        for r in ff.records:
            if r["k"] == "def":
                defs.setdefault(r["name"], r)
        for name, f in t.src.functions.items():
            d = defs.get(name)
            fn = Fn(file=p, name=name, line=f.line, end=f.end,
                    params=source.param_names(d["params"]) if d else
                    _text_params(t, f), parsed=d is not None, static=name in t.static)
            self.fns[fn.key] = fn
            self.by_name.setdefault(name, []).append(fn)
            if d is None:
                self.unparsed.append(fn)
                self._from_text(fn, t, f)
        # spatch's facts for parsed functions (current_element names the function)
        for r in ff.records:
            fn = self.fns.get((p, r.get("fn") or ""))
            if fn is None or not fn.parsed:
                continue
            k = r["k"]
            if k == "call":
                fn.calls.append((r["name"], r["line"]))
            elif k == "icall":
                fn.icalls.append((r["name"], r["line"]))
            elif k == "store" and r["dst"].startswith("."):
                fn.stores.append((r["dst"][1:], r["src"], r["line"]))
            elif k == "use":
                fn.uses.append({"field": r["field"], "line": r["line"], "col": r["col"]})
        for fn in [f for f in self.fns.values() if f.file == p and f.parsed]:
            self._refs(fn, t)
            # cross-check: descriptor field uses the text sees and the typed
            # rule did not (a type spatch could not work out: fsldma.h's
            # struct ends in an attribute spatch cannot parse)
            have = {(u["line"], u["field"]) for u in fn.uses}
            for u in source.text_uses(t, t.src.functions[fn.name], self.members):
                if (u["line"], u["field"]) not in have:
                    u["untyped"] = True
                    fn.uses.append(u)
                    self.type_gaps.append({"at": f"{p}:{u['line']}", "function": fn.name,
                                           "field": u["field"]})

    def _from_text(self, fn: Fn, t: source.Text, f: csource.Function) -> None:
        base = f.body_start
        for m in csource._CALL.finditer(f.body):
            name = m.group(1)
            if name in csource.KEYWORDS:
                continue
            line = t.line_of(base + m.start())
            if f.body[max(0, m.start() - 2):m.start()].rstrip().endswith(("->", ".")) or \
                    f.body[:m.start()].rstrip().endswith(("->", ".")):
                fn.icalls.append((name, line))
            else:
                fn.calls.append((name, line))
        for m in _STORE_TEXT.finditer(f.body):
            fn.stores.append((m.group(1), m.group(2), t.line_of(base + m.start())))
        for u in source.text_uses(t, f, self.members):
            u["untyped"] = True
            fn.uses.append(u)
        self._refs(fn, t)

    def _refs(self, fn: Fn, t: source.Text) -> None:
        """Functions of the provider named in fn's body without being called."""
        f = t.src.functions.get(fn.name)
        if f is None:
            return
        names = self.by_name_all()
        offs, hits = _idents_not_called(t)
        lo = bisect.bisect_left(offs, f.body_start)
        hi = bisect.bisect_left(offs, f.body_start + len(f.body))
        for off, name in hits[lo:hi]:
            if name in names and name != fn.name:
                fn.refs.append((name, t.line_of(off)))

    def by_name_all(self) -> set[str]:
        if not hasattr(self, "_names"):
            self._names = {n for p in self.prov.files if p in self.texts
                           for n in self.texts[p].src.functions}
        return self._names

    # -- resolution ------------------------------------------------------------

    def resolve(self, file: str, name: str) -> list[Fn]:
        fn = self.fns.get((file, name))
        if fn:
            return [fn]
        # a static inline of a header is every includer's own
        return [f for f in self.by_name.get(name, ()) if not f.static or f.file.endswith(".h")]

    def _fields(self) -> None:
        for fn in self.fns.values():
            for fld, target, line in fn.stores:
                for t in self.resolve(fn.file, target):
                    self.field_targets.setdefault(fld, []).append((t, fn.file, line))
        for p in self.prov.files:
            t = self.texts.get(p)
            if t is None:
                continue
            for fld, ident, line in csource.initialiser_stores(t.text):
                for target in self.resolve(p, ident):
                    ent = (target, p, line)
                    if ent not in self.field_targets.setdefault(fld, []):
                        self.field_targets[fld].append(ent)

    def targets(self, expr: str, file: str) -> list[Fn]:
        """Functions an argument expression names: an identifier (or &f), a
        ?: of two, or a field whose stores are known (x->handler)."""
        expr = expr.strip()
        m = re.fullmatch(r"&?\s*\(?\s*([A-Za-z_]\w*)\s*\)?", expr)
        if m:
            return self.resolve(file, m.group(1))
        m = re.search(r"(?:->|\.)\s*([A-Za-z_]\w*)\s*$", expr)
        if m:
            return [t for t, _, _ in self.field_targets.get(m.group(1), ())]
        if "?" in expr:
            out = []
            for part in re.split(r"[?:]", expr)[1:]:
                out += self.targets(part, file)
            return out
        return []

    # -- edges and roots -------------------------------------------------------

    def _add_edge(self, caller: Fn, callee: Fn, line: int, how: str) -> None:
        e = Edge(caller, callee, line, how)
        self.edges_out.setdefault(caller.key, []).append(e)
        self.edges_in.setdefault(callee.key, []).append(e)

    def _add_root(self, r: Root) -> None:
        lst = self.roots.setdefault(r.fn.key, [])
        if not any(x.kind == r.kind and x.how == r.how and x.line == r.line for x in lst):
            lst.append(r)

    def _passed(self, fn: Fn, g: Fn, line: int, t: source.Text) -> None:
        """fn names g on line: as an argument of a call of a provider
        function (or an indirect call), remember which parameter."""
        best = None
        for callee, cline in fn.calls + [("->" + f, ln) for f, ln in fn.icalls]:
            if cline > line:
                continue
            name = callee[2:] if callee.startswith("->") else callee
            span = source.call_span(t, name, cline)
            if not span or not (cline <= line <= span[1]):
                continue
            if best is None or cline >= best[1]:
                best = (callee, cline, span[0])
        if best is None:
            return
        callee, cline, args = best
        recvs = ([c for c, _, _ in self.field_targets.get(callee[2:], ())]
                 if callee.startswith("->") else self.resolve(fn.file, callee))
        for idx, a in enumerate(args):
            if re.fullmatch(r"&?\s*" + re.escape(g.name), a):
                for r in recvs:
                    self._passes.append((fn, g, cline, r, idx))

    def _param_flow(self, fn: Fn, g: Fn, line: int, recv: Fn, idx: int) -> None:
        """recv got g as its parameter idx: an edge where recv calls it, a
        field target where recv stores it, and on where it passes it on."""
        if idx >= len(recv.params) or not recv.params[idx]:
            return
        p = recv.params[idx]
        for callee, cline in recv.calls:
            if callee == p:
                self._add_edge(recv, g, cline, f"calls its parameter {p} "
                               f"({fn.name}() passes {g.name}, {fn.file}:{line})")
        for fld, src, sline in recv.stores:
            if src == p:
                ent = (g, recv.file, sline)
                if ent not in self.field_targets.setdefault(fld, []):
                    self.field_targets[fld].append(ent)
                    # indirect calls of that field reach g now
                    for caller in self.fns.values():
                        for f2, l2 in caller.icalls:
                            if f2 == fld:
                                self._add_edge(caller, g, l2, f"via ->{fld}() (stored by "
                                               f"{recv.name}(), {recv.file}:{sline})")
        t = self.texts[recv.file]
        # passed on: recv names p as an argument
        f = t.src.functions.get(recv.name)
        if f is not None and re.search(r"\b" + re.escape(p) + r"\b", f.body):
            for callee, cline in recv.calls + [("->" + x, ln) for x, ln in recv.icalls]:
                name = callee[2:] if callee.startswith("->") else callee
                args = source.call_args(t, name, cline) or []
                targets = ([c for c, _, _ in self.field_targets.get(name, ())]
                           if callee.startswith("->") else self.resolve(recv.file, callee))
                for i2, a in enumerate(args):
                    if a == p:
                        for r in targets:
                            if r is not recv:
                                self._passes.append((fn, g, line, r, i2))

    def _edges_and_roots(self) -> None:
        self._passes: list[tuple[Fn, Fn, int, Fn, int]] = []
        for fn in list(self.fns.values()):
            t = self.texts[fn.file]
            reg_args: set[tuple[str, int]] = set()
            for callee, line in fn.calls:
                if callee in _REG_NAMES:
                    self._registration(fn, callee, line, t, reg_args)
                    continue
                for c in self.resolve(fn.file, callee):
                    self._add_edge(fn, c, line, "calls")
            for fld, line in fn.icalls:
                for c, _, _ in self.field_targets.get(fld, ()):
                    self._add_edge(fn, c, line, f"via ->{fld}()")
            stored = {(target, line) for _, target, line in fn.stores}
            for name, line in fn.refs:
                if (name, line) in reg_args or (name, line) in stored:
                    continue
                for g in self.resolve(fn.file, name):
                    if g is not fn:
                        self._passed(fn, g, line, t)
        # what the receivers do with the functions passed to them
        for _ in range(3):
            pending, self._passes = self._passes, []
            for fn, g, line, recv, idx in pending:
                self._param_flow(fn, g, line, recv, idx)
            if not self._passes:
                break
        # file-scope declarations: DECLARE_TASKLET(name, fn), DECLARE_WORK(...)
        for p in self.prov.files:
            t = self.texts.get(p)
            if t is None:
                continue
            for m in re.finditer(r"\b(" + "|".join(kapi.DECLARE_REGISTER) + r")\s*\(", t.text):
                args = source.split_args(t.text[m.end():source._match_paren(t.text, m.end() - 1) - 1])
                idx, kind = kapi.DECLARE_REGISTER[m.group(1)]
                line = t.line_of(m.start())
                if len(args) > idx:
                    for target in self.targets(args[idx], p):
                        self._add_root(Root(kind, target, f"{m.group(1)}()", p, line))
                        self.registrations.append({"kind": kind, "call": m.group(1),
                                                   "at": f"{p}:{line}", "function": target.name,
                                                   "args": args})
        # fields: client calls, hrtimer functions, virt-dma's desc_free
        for fld, ents in self.field_targets.items():
            for target, p, line in ents:
                if fld.startswith(kapi.PREP_PREFIX) or fld in kapi.CLIENT_FIELDS:
                    kind = "virt-dma" if fld == "desc_free" else "client-call"
                    self._add_root(Root(kind, target, f".{fld} =", p, line, detail=fld))
                elif fld in kapi.FIELD_REGISTER:
                    self._add_root(Root(kapi.FIELD_REGISTER[fld], target, f".{fld} =", p, line))

    def _registration(self, fn: Fn, callee: str, line: int, t: source.Text,
                      reg_args: set) -> None:
        args = source.call_args(t, callee, line) or []
        rec = {"call": callee, "at": f"{fn.file}:{line}", "in": fn.name, "args": args,
               "parsed": fn.parsed}
        if callee in kapi.IRQ_REGISTER:
            hard, thread, kind = kapi.IRQ_REGISTER[callee]
            for idx, k, what in ((hard, kind, "handler"), (thread, "threaded-irq", "thread")):
                if idx is None or idx >= len(args):
                    continue
                for target in self.targets(args[idx], fn.file):
                    reg_args.add((target.name, line))
                    self._add_root(Root(k, target, f"{callee}() {what}", fn.file, line))
                    rec.setdefault("functions", []).append(f"{what}={target.name}")
            rec["kind"] = "irq"
        elif callee in kapi.DEFER_REGISTER:
            idx, kind = kapi.DEFER_REGISTER[callee]
            rec["kind"] = kind
            if idx < len(args):
                detail = ""
                if callee in kapi.TASKLET_REGISTER and re.search(r"\bvc(han)?\s*\.\s*task\b",
                                                                args[0]):
                    detail = "replaces the vchan tasklet"
                for target in self.targets(args[idx], fn.file):
                    reg_args.add((target.name, line))
                    self._add_root(Root(kind, target, f"{callee}()", fn.file, line, detail))
                    rec.setdefault("functions", []).append(target.name)
                if detail:
                    rec["detail"] = detail
        elif callee == kapi.VCHAN_INIT:
            rec["kind"] = "vchan"
        self.registrations.append(rec)

    # -- queries ---------------------------------------------------------------

    def contexts(self, fn: Fn, limit: int = 400) -> tuple[list[tuple[Root, list[Edge]]],
                                                        list[tuple[Fn, list[Edge]]]]:
        """Every root from which fn is reached, each with the shortest chain
        of calls (from the root down to fn), and the tops: functions with no
        caller in the provider that are not roots either."""
        found: list[tuple[Root, list[Edge]]] = []
        tops: list[tuple[Fn, list[Edge]]] = []
        seen = {fn.key}
        q: deque[tuple[Fn, list[Edge]]] = deque([(fn, [])])
        while q and len(seen) < limit:
            cur, path = q.popleft()
            for r in self.roots.get(cur.key, ()):
                found.append((r, list(reversed(path))))
            ins = self.edges_in.get(cur.key, [])
            if not ins and not self.roots.get(cur.key):
                tops.append((cur, list(reversed(path))))
            for e in ins:
                if e.caller.key in seen:
                    continue
                seen.add(e.caller.key)
                q.append((e.caller, path + [e]))
        return found, tops

    def reach(self, fn: Fn) -> dict[tuple[str, str], list[Edge]]:
        """Functions reached from fn (fn included), each with the chain."""
        out: dict[tuple[str, str], list[Edge]] = {fn.key: []}
        q = deque([fn])
        while q:
            cur = q.popleft()
            for e in self.edges_out.get(cur.key, ()):
                if e.callee.key not in out:
                    out[e.callee.key] = out[cur.key] + [e]
                    q.append(e.callee)
        return out

    def calls_of(self, names: tuple[str, ...] | set[str]) -> list[tuple[Fn, str, int]]:
        out = []
        for fn in self.fns.values():
            for callee, line in fn.calls:
                if callee in names:
                    out.append((fn, callee, line))
        return sorted(out, key=lambda x: (x[0].file, x[2]))


def _text_params(t: source.Text, f: csource.Function) -> list[str]:
    head = t.text[f.head_start:f.body_start - 1]
    i = head.find("(")
    if i < 0:
        return []
    j = source._match_paren(head, i)
    return source.param_names(head[i + 1:j - 1])


def chain_json(edges: list[Edge]) -> list[str]:
    """A chain as evidence lines: 'file:line caller() calls callee()'."""
    out = []
    for e in edges:
        how = e.how if e.how != "calls" else "calls"
        flag = " (unparsed: from the text)" if not e.caller.parsed else ""
        out.append(f"{e.caller.file}:{e.line} {e.caller.name}() {how} {e.callee.name}(){flag}")
    return out
