# SPDX-License-Identifier: GPL-2.0
"""Whether a provider's prep functions store the client's prep flags in
tx->flags.

The prep functions are the functions stored in struct dma_device's
device_prep_* fields.  The flags parameter is found by position from the
tree's own include/linux/dmaengine.h (the parameter named flags in the
field's prototype).  From it the value is followed through the prep
function and every provider function it calls, by parameter position
(also into a field of a local struct passed by address: dw-edma's
xfer.flags), to the sinks:

- a store into a descriptor's flags (typed: spatch's use of the flags
  field of a struct dma_async_tx_descriptor), or vchan_tx_prep(vc, vd, f),
  which stores f in tx->flags;
- each sink is 'full' (all the client's bits: the flags, ORed with others,
  or with bits cleared by '& ~X'), 'masked' (only a mask's bits: 'flags &
  DMA_PREP_INTERRUPT': a new flag never arrives), 'replacing' (a value not
  from the client: a constant handed to vchan_tx_prep() or stored by the
  prep function itself, or a helper's parameter the caller bound to a
  constant: ste_dma40's cyclic prep passes DMA_PREP_INTERRUPT), or 'init'
  (a constant stored by a helper, e.g. DMA_CTRL_ACK when a descriptor is
  allocated: not counted, the prep's own store comes after).

Verdict per prep function: yes (a full sink, nothing masked or
replacing), some (a full sink and a masked or replacing one: which one the
returned descriptor gets depends on the path, ioat's xor), no (no full
sink); unknown when a function on the way is unparsed and its text has a
flags store.  The provider's value: yes when every prep says yes, no when
every one says no, else some.
"""

from __future__ import annotations

import re

from . import kapi, source
from .graph import Fn, Program

_PROTO = re.compile(r"\(\s*\*\s*(device_prep_\w+)\s*\)\s*\(([^;]*?)\)\s*;", re.S)


def flags_positions(header_text: str) -> dict[str, int]:
    """device_prep_* field -> index of its flags parameter."""
    out = {}
    from .. import csource
    text = csource.strip_comments(header_text)
    for m in _PROTO.finditer(text):
        names = source.param_names(m.group(2))
        for i, n in enumerate(names):
            if n == "flags":
                out[m.group(1)] = i
    return out


class _Flow:
    def __init__(self, prog: Program, positions: dict[str, int]):
        self.prog = prog
        self.positions = positions
        self.memo: dict = {}
        self.assigns: dict = {}

    def sinks(self, fn: Fn, carriers: dict[str, str], depth: int, path: list[str]) -> list[dict]:
        key = (fn.key, tuple(sorted(carriers.items())), depth == 0)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = []             # recursion guard
        if depth > 6:
            return []
        t = self.prog.texts[fn.file]
        f = t.src.functions.get(fn.name)
        out: list[dict] = []
        if f is None:
            return out
        carriers = dict(carriers)
        params = set(p for p in fn.params if p)
        # locals (and fields of local structs) assigned a carrier
        if fn.key not in self.assigns:
            self.assigns[fn.key] = [
                (re.sub(r"\s+", "", m.group(1)).replace("->", "."), m.group(3))
                for m in _ASSIGN.finditer(f.body)]
        for _ in range(2):
            for lhs, rhs in self.assigns[fn.key]:
                if lhs in carriers or not source.idents(rhs) & _names(carriers):
                    continue
                kind = _kind(rhs, carriers)
                if kind != "none":
                    carriers[lhs] = kind
        # stores into a descriptor's flags
        for u in fn.uses:
            if u["field"] != "flags":
                continue
            st = source.stored_at(t, u["line"], u["col"], "flags")
            if not st:
                continue
            op, rhs = st
            kind = _kind(rhs, carriers)
            if kind == "none":
                if op == "|=":
                    continue
                if depth == 0 or (source.idents(rhs) & params):
                    kind = "replacing"
                else:
                    kind = "init"
            out.append({"kind": kind, "at": f"{fn.file}:{u['line']}", "function": fn.name,
                        "store": f"->flags {op} {rhs}", "path": path + [fn.name],
                        **({"untyped": True} if u.get("untyped") else {})})
        calls = [(c, ln, False) for c, ln in fn.calls] + [(c, ln, True) for c, ln in fn.icalls]
        for callee, line, indirect in calls:
            if callee == kapi.VCHAN_TX_PREP and not indirect:
                args = source.call_args(t, callee, line) or []
                if len(args) >= 3:
                    kind = _kind(args[2], carriers)
                    out.append({"kind": kind if kind != "none" else "replacing",
                                "at": f"{fn.file}:{line}", "function": fn.name,
                                "store": f"vchan_tx_prep(..., {args[2]})",
                                "path": path + [fn.name]})
                continue
            targets = ([c for c, _, _ in self.prog.field_targets.get(callee, ())] if indirect
                       else self.prog.resolve(fn.file, callee))
            if not targets:
                continue
            args = source.call_args(t, callee, line) or []
            for g in targets:
                if g is fn:
                    continue
                sub = {}
                for i, a in enumerate(args):
                    if i >= len(g.params) or not g.params[i]:
                        continue
                    k = _kind(a, carriers)
                    if k != "none":
                        sub[g.params[i]] = k
                    # a local struct passed by address: its carrier fields
                    base = a.lstrip("&").strip()
                    for c, ck in carriers.items():
                        if "." in c and c.split(".", 1)[0] == base:
                            sub[g.params[i] + "." + c.split(".", 1)[1]] = ck
                out += self.sinks(g, sub, depth + 1, path + [fn.name])
        self.memo[key] = out
        return out


_ASSIGN = re.compile(r"(?<![\w>.])([A-Za-z_]\w*(?:\s*(?:\.|->)\s*[A-Za-z_]\w*)?)"
                     r"\s*(\|?=)(?!=)\s*([^;]+);")


def _names(carriers: dict[str, str]) -> set[str]:
    """The identifiers a carrier expression needs (x for x, p for p.flags)."""
    return {c.split(".", 1)[0] for c in carriers}


def _kind(expr: str, carriers: dict[str, str]) -> str:
    """source.flag_kind, with struct-field carriers (x.flags, x->flags)."""
    plain = {c: k for c, k in carriers.items() if "." not in c}
    kind = source.flag_kind(expr, plain) if plain else "none"
    if kind == "full":
        return kind
    for c, k in carriers.items():
        if "." not in c:
            continue
        base, fld = c.split(".", 1)
        pat = re.escape(base) + r"\s*(?:\.|->)\s*" + re.escape(fld) + r"\b"
        m = re.search(pat, expr)
        if m:
            sub = expr[:m.start()] + "__dmacb_c" + expr[m.end():]
            k2 = source.flag_kind(sub, {"__dmacb_c": k})
            if k2 == "full":
                return "full"
            if k2 == "masked":
                kind = "masked"
    return kind


def analyse(prog: Program, positions: dict[str, int]) -> dict:
    flow = _Flow(prog, positions)
    preps = []
    seen = set()
    for fld, ents in sorted(prog.field_targets.items()):
        if not fld.startswith(kapi.PREP_PREFIX):
            continue
        for fn, file, line in ents:
            if (fld, fn.key) in seen:
                continue
            seen.add((fld, fn.key))
            idx = positions.get(fld)
            names = fn.params
            if idx is None or idx >= len(names) or not names[idx]:
                cand = [i for i, n in enumerate(names) if "flag" in n]
                idx = cand[-1] if cand else None
            if idx is None:
                preps.append({"field": fld, "function": fn.name, "at": fn.where(),
                              "verdict": "unknown", "why": "no flags parameter found",
                              "sinks": []})
                continue
            sinks = flow.sinks(fn, {names[idx]: "full"}, 0, [])
            kinds = {s["kind"] for s in sinks}
            unparsed = [f.name for f in _reached(prog, fn) if not f.parsed]
            if "full" in kinds and kinds & {"masked", "replacing"}:
                verdict = "some"
            elif "full" in kinds:
                verdict = "yes"
            else:
                verdict = "no"
            why = ""
            if unparsed and verdict != "yes":
                verdict, why = "unknown", ("reaches functions spatch could not parse: " +
                                           ", ".join(sorted(set(unparsed))))
            if any(s.get("untyped") for s in sinks):
                why = (why + "; " if why else "") + \
                    "a store typed from the text (spatch did not type the descriptor)"
            d = {"field": fld, "function": fn.name, "at": fn.where(), "stored_at":
                 f"{file}:{line}", "flags_param": names[idx], "verdict": verdict,
                 "sinks": [s for s in sinks if s["kind"] != "init"]}
            if why:
                d["why"] = why
            preps.append(d)
    preps.sort(key=lambda d: (d["field"], d["function"]))
    verdicts = {p["verdict"] for p in preps}
    if not preps:
        value = "unknown"
    elif verdicts == {"yes"}:
        value = "yes"
    elif verdicts == {"no"}:
        value = "no"
    elif verdicts <= {"yes", "no", "some"}:
        value = "some"
    else:
        value = "unknown" if "yes" not in verdicts and "some" not in verdicts else "some"
    return {"value": value, "preps": preps}


def _reached(prog: Program, fn: Fn) -> list[Fn]:
    return [prog.fns[k] for k in prog.reach(fn)]
