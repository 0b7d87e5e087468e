# SPDX-License-Identifier: GPL-2.0
"""Whether a provider signals a bare completion: a descriptor that carries
no callback (the helper API's dmaengine_desc_set_completion() alone).

The helper API makes the dmaengine helpers (dmaengine_desc_get_callback(),
dmaengine_desc_callback_invoke(), dmaengine_desc_callback_valid(), and
virt-dma's delivery, which uses them) signal the completion; so a provider
signals it on a path exactly when that path goes through the helpers for
the client's own descriptor and nothing there depends on the callback
fields.  Evidence against, each with the path it breaks:

- direct: the provider calls tx->callback (or a copy of it) by hand
  (tsi721): that notification never reaches the helpers;
- guard: a helper (or vchan completion) runs only under a test of the
  descriptor's callback or callback_result (shdma-base: 'if (... &&
  tx->callback) dmaengine_desc_get_callback(tx, &cb)'), or after an early
  return when it is not set;
- copy: the callback and its parameter are copied from one descriptor to
  another (chained descriptors, chunks, cyclic periods: pl330, ep93xx,
  shdma-base): the other descriptor's helpers see no completion;
- cyclic: a callback test decides a cyclic path (the period interrupt is
  enabled, or the period is notified, only with a callback: axi-dmac,
  jz4780, rcar-dmac).  A cyclic descriptor never completes, so this says
  only that period notifications need a callback.
A test of dmaengine_desc_callback_valid() is no evidence: the API extends
it to the completion.

Value (vocab.BARE): all-paths (helpers on every delivery, no evidence
against), some-paths (evidence against on some paths, helpers on others),
never (no delivery reaches the helpers unguarded), unknown (no delivery
found, or a delivering function spatch could not parse).
"""

from __future__ import annotations

import re

from . import kapi, source
from .graph import Fn, Program

_SITES = kapi.HELPER_INVOKE + kapi.HELPER_GET + kapi.VCHAN_COMPLETE
_JUMP = re.compile(r"^\s*\{?\s*(return\b|continue\s*;|break\s*;|goto\b)")


def _tests(prog: Program, fn: Fn) -> list[dict]:
    """Tests of a descriptor's callback fields in fn: the if they decide and
    the region they guard (offsets)."""
    t = prog.texts[fn.file]
    f = t.src.functions.get(fn.name)
    if f is None:
        return []
    out = []
    for u in fn.uses:
        if u["field"] not in ("callback", "callback_result"):
            continue
        if source.use_context(t, u["line"], u["col"], u["field"]) != "test":
            continue
        pos = t.offset(u["line"], u["col"])
        for br in source.branches(t, f):
            if br.kind not in ("if", "while") or not (br.start <= pos < br.then[0]):
                continue
            cond = t.text[br.start:br.then[0]]
            negated = _negated(t.text, pos, br.start)
            then_text = t.text[br.then[0]:br.then[1]]
            if negated:
                if _JUMP.match(then_text):
                    region = (br.end, f.body_start + len(f.body))
                else:
                    region = br.other or (0, 0)
            else:
                region = br.then
            out.append({"line": u["line"], "field": u["field"], "region": region,
                        "cond": " ".join(cond.split())[:120], "negated": negated,
                        "untyped": bool(u.get("untyped"))})
            break
    return out


def _negated(text: str, pos: int, start: int) -> bool:
    """Is the descriptor field at pos negated ('!x->callback')?"""
    i = pos
    while i > start and (text[i - 1].isalnum() or text[i - 1] in "_.>-[] \t\n"):
        if text[i - 1] == ">" and text[i - 2:i] != "->":
            break
        if text[i - 1] == "-" and text[i:i + 1] != ">":
            break
        i -= 1
    return text[i - 1:i] == "!"


def analyse(prog: Program, deliver: dict) -> dict:
    evidence: list[dict] = []
    sites: list[dict] = []
    fns_with_get = {fn.key for fn, _, _ in prog.calls_of(kapi.HELPER_GET)}
    fns_with_invoke = {fn.key for fn, _, _ in prog.calls_of(kapi.HELPER_INVOKE)}
    for fn, callee, line in prog.calls_of(_SITES):
        # dmaengine_desc_get_callback() without an invoke only reads it
        if callee in kapi.HELPER_GET and fn.key not in fns_with_invoke:
            continue
        # where a function copies the callback out with
        # dmaengine_desc_get_callback(), that call decides, not the invoke
        if callee == "dmaengine_desc_callback_invoke" and fn.key in fns_with_get:
            continue
        t = prog.texts[fn.file]
        pos = t.offset(line)
        guard = None
        for g in _tests(prog, fn):
            a, b = g["region"]
            if a <= pos < b:
                guard = g
                break
        site = {"call": callee, "at": f"{fn.file}:{line}", "function": fn.name,
                "parsed": fn.parsed}
        if guard:
            site["verdict"] = "guarded"
            evidence.append({"kind": "guard", "at": f"{fn.file}:{guard['line']}",
                             "function": fn.name, "what":
                             f"{callee}() at line {line} runs only when "
                             f"{'no ' if guard['negated'] else ''}->{guard['field']} "
                             f"{'is not set' if guard['negated'] else 'is set'}: "
                             f"{guard['cond']}", "path": _path_label(fn, guard["cond"])})
        else:
            site["verdict"] = "ok"
        sites.append(site)
    for s in deliver.get("deliver_sites", ()):
        if s["kind"] == "direct":
            sites.append({"call": s["call"], "at": s["at"], "function": s["function"],
                          "parsed": s["parsed"], "verdict": "direct"})
            evidence.append({"kind": "direct", "at": s["at"], "function": s["function"],
                             "what": f"{s['call']}: bypasses the helpers",
                             "path": "every path through it"})
    site_lines = {(s["at"]) for s in sites}
    for fn in prog.fns.values():
        t = prog.texts[fn.file]
        for u in fn.uses:
            if u["field"] not in ("callback", "callback_result", "callback_param"):
                continue
            st = source.stored_at(t, u["line"], u["col"], u["field"])
            if st and st[1] not in ("NULL", "0"):
                rhs = st[1]
                copied = re.search(r"(->|\.)\s*callback(_result|_param)?\b", rhs) or \
                    _local_copy(prog, fn, rhs)
                if copied:
                    conds = _conditions(t, fn, t.offset(u["line"], u["col"]))
                    evidence.append({"kind": "copy", "at": f"{fn.file}:{u['line']}",
                                     "function": fn.name,
                                     "what": f"->{u['field']} = {rhs}: only the callback "
                                             f"fields are copied to another descriptor" +
                                             (f" (under {conds})" if conds else ""),
                                     "path": _path_label(fn, rhs + " " + conds,
                                                         "chained descriptors")})
        for g in _tests(prog, fn):
            a, b = g["region"]
            if any(fn.file == s["at"].rsplit(":", 1)[0] and
                   a <= t.offset(int(s["at"].rsplit(":", 1)[1])) < b for s in sites):
                continue            # a guard, counted above
            ctx = t.text[max(0, a - 400):min(len(t.text), b)] + g["cond"] + fn.name
            if "cyclic" in ctx.lower():
                evidence.append({"kind": "cyclic", "at": f"{fn.file}:{g['line']}",
                                 "function": fn.name, "what":
                                 f"a cyclic path depends on ->{g['field']}: {g['cond']}",
                                 "path": "cyclic"})
    del site_lines
    ok = [s for s in sites if s["verdict"] == "ok"]
    against = [e for e in evidence if e["kind"] in ("guard", "direct", "copy", "cyclic")]
    unparsed = [s for s in sites if not s["parsed"]]
    if not sites:
        value = "unknown"
        why = "no delivering call found"
    elif not ok:
        value = "never"
        why = "no delivery goes through the helpers unconditionally"
    elif against:
        value = "some-paths"
        why = "; ".join(sorted({e["path"] for e in against}))
    else:
        value = "all-paths"
        why = "every delivery goes through the dmaengine helpers"
    if unparsed and value == "all-paths":
        value, why = "unknown", "a delivering function spatch could not parse: " + \
            ", ".join(s["function"] for s in unparsed)
    # the same without the cyclic paths (a client that never preps a cyclic
    # descriptor only meets the others)
    noncyclic = value
    if value == "some-paths" and all(e["path"] == "cyclic" for e in against):
        noncyclic = "all-paths"
    return {"value": value, "value_noncyclic": noncyclic, "why": why, "evidence": evidence,
            "sites": sites}


def _local_copy(prog: Program, fn: Fn, rhs: str) -> bool:
    """Is rhs a local that holds a copy of a descriptor's callback field?"""
    m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*", rhs)
    if not m:
        return False
    t = prog.texts[fn.file]
    for u in fn.uses:
        if u["field"] in ("callback", "callback_result", "callback_param") and \
                source.use_context(t, u["line"], u["col"], u["field"]) == "copy" and \
                source.copy_target(t, u["line"], u["col"]) == m.group(1):
            return True
    return False


def _conditions(t: source.Text, fn: Fn, pos: int) -> str:
    """The conditions of the ifs around pos (innermost last)."""
    f = t.src.functions.get(fn.name)
    if f is None or pos < 0:
        return ""
    out = []
    for br in source.branches(t, f):
        if br.kind == "if" and br.then[0] <= pos < br.then[1]:
            out.append(" ".join(t.text[br.start:br.then[0]].split()))
        elif br.kind == "if" and br.other and br.other[0] <= pos < br.other[1]:
            out.append("else of " + " ".join(t.text[br.start:br.then[0]].split()))
    return "; ".join(out)[:160]


def _path_label(fn: Fn, text: str, default: str = "") -> str:
    s = (text + " " + fn.name).lower()
    if "cyclic" in s:
        return "cyclic"
    if "chunk" in s:
        return "chunks"
    if "submit" in fn.name:
        return "chained descriptors (tx_submit)"
    return default or f"{fn.name}()"
