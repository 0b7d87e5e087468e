# SPDX-License-Identifier: GPL-2.0
"""diff: what changed between two releases' reports (issue 17).

`dmacb diff OLD NEW` reads two report directories as the audit writes them
(callbacks.json, providers.json, through formats.py) and says which
callbacks appeared, disappeared, moved (file renamed, moved into another
file, or the function renamed) and which changed their shape, verdict or
action, with the evidence and reason entries that changed; providers
likewise.  It writes diff.md, diff.json (dmacb-diff/1, docs/formats.md)
and diff.html (diffpage.py), or the Markdown alone on stdout.

Matching, in this order, each rule only over what the rules before it
left unmatched (docs/formats.md, "diff.json", names them):

callbacks
  same          the same function defined in the same file
  file-renamed  the same name; its old file appears nowhere in NEW and its
                new file nowhere in OLD (sound/soc/sh -> sound/soc/renesas)
  moved         the same name in another file, with evidence of the move:
                one side's file is a user or a site file of the other (a
                callback moved into a shared library whose old driver now
                calls it), or the same shape and alike sites or evidence
  renamed       another name in the same file (or in the file a
                file-renamed match moved it to), with the same sites or the
                same shape and alike evidence
providers
  same          the same registering file
  moved         the same file name in another directory
  renamed       the same directory and the same registering function, or
                shared compatible strings

Line numbers are not compared (every edit above a callback moves them):
evidence is compared as (reason or effect, file, call, via, detail) with
the numbers in `line N`, `lines N-M` and `file.c:N` blanked.
Deterministic: sorted, no timestamps, no paths of the machine.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path, PurePosixPath

from . import formats
from .util import die, info
from .vocab import ACTIONS, GROUPS, SHAPES

# The fields whose change makes a callback "changed": its shape and verdict.
VERDICT_FIELDS = ("shape", "shape_flags", "group", "action", "reasons", "latent_bug")
# Fields reported when they change, but that alone do not make it "changed".
DETAIL_FIELDS = ("file", "completes", "users", "delivery_locked", "providers", "note")

# Provider fields, as providers.csv names them, compared as a verdict.
PROVIDER_FIELDS = ("delivery", "other_delivery", "completes_from", "delivers_from",
                   "uses_virt_dma", "prep_flags", "recycles", "bare_completion",
                   "bare_completion_noncyclic", "tasklet_kinds", "capabilities", "lookup")

_LINE = re.compile(r"\bline \d+")
_LINES = re.compile(r"\blines \d+-\d+")
_FILE_LINE = re.compile(r"(\.[chS]):\d+\b")


def _blank_lines(s: str) -> str:
    s = _LINES.sub("lines N-M", s or "")
    return _FILE_LINE.sub(r"\1", _LINE.sub("line N", s))


# -- input ----------------------------------------------------------------------

def _is_tree(p: Path) -> bool:
    return (p / "Makefile").is_file() and (p / "include" / "linux").is_dir()


def resolve_input(arg: str, tmp: Path, jobs: int, which: str) -> Path:
    """A report directory as given, or the audit of a kernel tree into tmp."""
    p = Path(arg).expanduser()
    if not p.is_dir():
        die(f"{which} {arg}: not a directory; give a report directory "
            f"(<out>/<kernelrelease>/ with callbacks.json) or a kernel tree")
    if (p / "callbacks.json").is_file():
        return p
    if _is_tree(p):
        from . import audit, deps, kernel
        deps.ensure()
        k = kernel.resolve(str(p))
        out = tmp / which.lower()
        info(f"diff: {which} {arg} is a kernel tree: auditing Linux {k.release} into a "
             f"temporary directory")
        rc = audit.run(k, out_root=out, jobs=jobs)
        if rc:
            die(f"{which} {arg}: the audit failed (exit {rc})")
        return out / k.release
    die(f"{which} {arg}: not a report directory (no callbacks.json) nor a kernel tree; "
        f"run 'dmacb audit' first and give <out>/<kernelrelease>/")
    raise AssertionError


def load(rdir: Path) -> tuple[dict, dict | None]:
    cbs = formats.load(formats.path(rdir, "callbacks"), "callbacks")
    pp = formats.path(rdir, "providers")
    prov = formats.load(pp, "providers") if pp.exists() else None
    return cbs, prov


# -- callbacks ----------------------------------------------------------------------

def _home(c: dict) -> str:
    return c.get("defined_in") or c["file"]


def _shared(cbs: list[dict]) -> set[tuple[str, str]]:
    """(defined_in, callback) of the functions with more than one row."""
    n = Counter((_home(c), c["callback"]) for c in cbs)
    return {k for k, v in n.items() if v > 1}


def _ids(cbs: list[dict], shared: set[tuple[str, str]] | None = None) -> dict[str, dict]:
    """id -> callback: 'defined_in:callback', plus '@file' where two rows of
    either report share it (shared: of both reports, so that the ids agree)."""
    shared = _shared(cbs) if shared is None else shared
    out = {}
    for c in cbs:
        i = f"{_home(c)}:{c['callback']}"
        if (_home(c), c["callback"]) in shared:
            i += f"@{c['file']}"
        out[i] = c
    return out


def _files_of(c: dict) -> set[str]:
    """Every file a callback row names: assignment, definition, sites, users."""
    s = {c["file"], _home(c), *c.get("users", [])}
    s.update(x["file"] for x in c.get("sites", []))
    return s


def _ev_key(e: dict, name: str, home: str) -> str:
    """An evidence entry without its line numbers; the callback's own name
    and file written as <cb> and <file>, so that a move or a rename alone
    changes nothing."""
    kind = e.get("reason") or e.get("effect") or "?"
    tag = "reason" if "reason" in e else "effect"
    f = e.get("file", "")
    f = "<file>" if f == home else f
    via = re.sub(rf"\b{re.escape(name)}\b", "<cb>", e.get("via", ""))
    s = f"{tag} {kind}: {e.get('call', '')}() in {f} via {via}"
    if e.get("detail"):
        s += f" ({_blank_lines(e['detail'])})"
    if e.get("limit"):
        s += f" [{e['limit']}]"
    return s


def _ev_show(k: str, name: str, home: str) -> str:
    return k.replace("<cb>", name).replace("<file>", home)


def _site_keys(c: dict) -> set[tuple]:
    name, home = c["callback"], _home(c)
    out = set()
    for s in c.get("sites", []):
        rhs = re.sub(rf"\b{re.escape(name)}\b", "<cb>", s.get("rhs", ""))
        out.add(("<file>" if s["file"] == home else s["file"], s.get("function", ""),
                 s.get("field", ""), rhs, s.get("callback_param", "")))
    return out


def _ev_calls(c: dict) -> Counter:
    return Counter((e.get("reason") or e.get("effect"), e.get("call", ""))
                   for e in c.get("evidence", []))


def _jaccard(a, b) -> float:
    if isinstance(a, Counter):
        inter, union = sum((a & b).values()), sum((a | b).values())
    else:
        inter, union = len(a & b), len(a | b)
    return inter / union if union else 0.0


def _similarity(o: dict, n: dict) -> float:
    """How alike two callback rows are (to choose among candidates)."""
    s = 2 * _jaccard(_site_keys(o), _site_keys(n)) + _jaccard(_ev_calls(o), _ev_calls(n))
    s += (o.get("shape") == n.get("shape")) + 0.5 * (o["group"] == n["group"])
    s += 0.5 * (sorted(o.get("completes", [])) == sorted(n.get("completes", [])))
    s += 0.5 * (PurePosixPath(_home(o)).name == PurePosixPath(_home(n)).name)
    return s


def _alike(o: dict, n: dict) -> bool:
    """Shape evidence that two rows are the same callback."""
    if _site_keys(o) & _site_keys(n):
        return True
    return (o.get("shape") == n.get("shape") and bool(o.get("evidence") or n.get("evidence"))
            and _jaccard(_ev_calls(o), _ev_calls(n)) >= 0.5) or \
        (o.get("shape") == n.get("shape") and not o.get("evidence") and not n.get("evidence")
         and sorted(o.get("completes", [])) == sorted(n.get("completes", [])))


def _cb_rules(old_files: set[str], new_files: set[str], renamed_files: dict[str, str]):
    """The matching rules after 'same', in order: (name, predicate(o, n))."""
    def file_renamed(o, n):
        return (o["callback"] == n["callback"] and _home(o) != _home(n)
                and _home(o) not in new_files and _home(n) not in old_files)

    def moved(o, n):
        if o["callback"] != n["callback"] or _home(o) == _home(n):
            return False
        if _home(o) in _files_of(n) or _home(n) in _files_of(o):
            return True
        return _alike(o, n)

    def renamed(o, n):
        if o["callback"] == n["callback"]:
            return False
        if renamed_files.get(_home(o), _home(o)) != _home(n):
            return False
        return _alike(o, n)

    return [("file-renamed", file_renamed), ("moved", moved), ("renamed", renamed)]


def _greedy(cands: list[tuple[float, str, str]], used_o: set, used_n: set) -> list[tuple]:
    out = []
    for score, oi, ni in sorted(cands, key=lambda t: (-t[0], t[1], t[2])):
        if oi in used_o or ni in used_n:
            continue
        used_o.add(oi)
        used_n.add(ni)
        out.append((oi, ni))
    return out


def match_callbacks(old: dict[str, dict], new: dict[str, dict]) -> list[tuple[str, str, str]]:
    """[(rule, old id, new id)]: every rule in order over what is left."""
    pairs = [("same", i, i) for i in sorted(old) if i in new]
    used_o = {p[1] for p in pairs}
    used_n = {p[2] for p in pairs}
    old_files = set().union(*(_files_of(c) for c in old.values())) if old else set()
    new_files = set().union(*(_files_of(c) for c in new.values())) if new else set()
    renamed_files: dict[str, str] = {}
    for rule, pred in _cb_rules(old_files, new_files, renamed_files):
        cands = [(_similarity(o, n), oi, ni)
                 for oi, o in old.items() if oi not in used_o
                 for ni, n in new.items() if ni not in used_n and pred(o, n)]
        for oi, ni in _greedy(cands, used_o, used_n):
            pairs.append((rule, oi, ni))
            if rule == "file-renamed":
                renamed_files[_home(old[oi])] = _home(new[ni])
    return pairs


def _cb_fields(c: dict) -> dict:
    d = c.get("delivery") or {}
    return {"shape": c.get("shape", ""), "shape_flags": list(c.get("shape_flags", [])),
            "group": c["group"], "action": c["action"], "reasons": list(c["reasons"]),
            "latent_bug": bool(c.get("latent_bug")), "file": c["file"],
            "completes": sorted(c.get("completes", [])), "users": sorted(c.get("users", [])),
            "delivery_locked": d.get("locked"), "providers": sorted(d.get("providers", [])),
            "note": c.get("note", "")}


def _summary(c: dict) -> dict:
    return {"callback": c["callback"], "defined_in": c.get("defined_in", ""),
            "file": c["file"], "line": c["line"], "subsystem": c.get("subsystem", ""),
            "shape": c.get("shape", ""), "group": c["group"], "action": c["action"],
            "reasons": list(c["reasons"])}


def compare_callback(o: dict, n: dict, pmap: dict[str, str] | None = None) -> dict:
    """What changed between two matched rows: {field: {old, new}} and the
    evidence entries that went and came.  pmap: old provider id -> new, for
    the providers that moved (their clients did not change because of it)."""
    fo, fn = _cb_fields(o), _cb_fields(n)
    fo["providers"] = sorted((pmap or {}).get(p, p) for p in fo["providers"])
    ch = {}
    for k in VERDICT_FIELDS + DETAIL_FIELDS:
        a, b = fo[k], fn[k]
        if k == "file":      # the assignment site, in the file it moved to
            a = "<file>" if a == _home(o) else a
            b = "<file>" if b == _home(n) else b
        if a != b:
            ch[k] = {"old": fo[k], "new": fn[k]}
    eo = Counter(_ev_key(e, o["callback"], _home(o)) for e in o.get("evidence", []))
    en = Counter(_ev_key(e, n["callback"], _home(n)) for e in n.get("evidence", []))
    removed = sorted(_ev_show(k, o["callback"], _home(o)) for k in (eo - en).elements())
    added = sorted(_ev_show(k, n["callback"], _home(n)) for k in (en - eo).elements())
    ro, rn = set(fo["reasons"]), set(fn["reasons"])
    po, pn = set(fo["providers"]), set(fn["providers"])
    verdict = any(k in ch for k in VERDICT_FIELDS)
    return {"fields": ch, "verdict_changed": verdict,
            # the verdict changed, but no reason or evidence entry did: the
            # reports do not record why (a store the audit does not list)
            "unexplained": verdict and ro == rn and not added and not removed,
            "reasons_added": sorted(rn - ro), "reasons_removed": sorted(ro - rn),
            "providers_added": sorted(pn - po), "providers_removed": sorted(po - pn),
            "evidence_added": added, "evidence_removed": removed}


def _disappeared_hint(c: dict, new: dict[str, dict]) -> str:
    """Where the old callback's file is in NEW, if anywhere."""
    f = _home(c)
    users = sorted(f"{x['callback']}() ({_home(x)})" for x in new.values()
                   if f in x.get("users", []) or c["file"] in x.get("users", []))
    if users:
        return f"{f} now uses the shared callback {', '.join(users)}"
    others = sorted(x["callback"] for x in new.values() if f in (_home(x), x["file"]))
    if others:
        return f"{f} still has the callbacks {', '.join(others)}"
    return f"{f} has no callback in the new release"


def diff_callbacks(old_doc: dict, new_doc: dict, pmap: dict[str, str] | None = None) -> dict:
    shared = _shared(old_doc["callbacks"]) | _shared(new_doc["callbacks"])
    old, new = _ids(old_doc["callbacks"], shared), _ids(new_doc["callbacks"], shared)
    pairs = match_callbacks(old, new)
    mo = {p[1] for p in pairs}
    mn = {p[2] for p in pairs}
    matched = []
    for rule, oi, ni in sorted(pairs, key=lambda p: (p[2], p[1])):
        o, n = old[oi], new[ni]
        r = {"id": ni, "old_id": oi, "match": rule, "callback": n["callback"],
             "old_callback": o["callback"], "defined_in": _home(n), "old_defined_in": _home(o),
             "old": _summary(o), "new": _summary(n), **compare_callback(o, n, pmap)}
        if rule != "same":
            r["match_evidence"] = _match_evidence(rule, o, n)
        matched.append(r)
    appeared = [{"id": i, **_summary(new[i])} for i in sorted(new) if i not in mn]
    disappeared = [{"id": i, **_summary(old[i]), "hint": _disappeared_hint(old[i], new)}
                   for i in sorted(old) if i not in mo]
    return {
        "appeared": appeared, "disappeared": disappeared,
        "moved": [m for m in matched if m["match"] != "same"],
        "changed": [m for m in matched if m["verdict_changed"]],
        "details_changed": [m for m in matched if not m["verdict_changed"] and
                            (m["fields"] or m["evidence_added"] or m["evidence_removed"])],
        "unchanged": sum(1 for m in matched if m["match"] == "same" and not m["fields"]
                         and not m["evidence_added"] and not m["evidence_removed"]),
    }


def _match_evidence(rule: str, o: dict, n: dict) -> str:
    bits = []
    if rule == "file-renamed":
        bits.append(f"{_home(o)} is in no row of the new report, {_home(n)} in none of the old")
    if rule == "moved":
        if _home(o) in _files_of(n):
            bits.append(f"{_home(o)} is a site or user file of the new callback")
        if _home(n) in _files_of(o):
            bits.append(f"{_home(n)} was a site or user file of the old callback")
    common = sorted(_site_keys(o) & _site_keys(n))
    if common:
        bits.append("same sites: " + "; ".join(f"{s[1]}() ->{s[2]} = {s[3]}" for s in common))
    if o.get("shape") == n.get("shape"):
        bits.append(f"same shape {n.get('shape')}")
    j = _jaccard(_ev_calls(o), _ev_calls(n))
    if o.get("evidence") or n.get("evidence"):
        bits.append(f"evidence calls {round(100 * j)}% alike")
    return "; ".join(bits)


# -- providers ----------------------------------------------------------------------

def _p_fields(p: dict) -> dict:
    d, b = p.get("delivery", {}), p.get("bare_completion", {})
    kinds = Counter(t.get("kind", "") for t in p.get("tasklets", []))
    return {"delivery": d.get("method", ""), "other_delivery": sorted(d.get("other_methods", [])),
            "completes_from": sorted(d.get("completes_from", [])),
            "delivers_from": sorted(d.get("delivers_from", [])),
            "uses_virt_dma": bool(p.get("uses_virt_dma")),
            "prep_flags": p.get("prep_flags", {}).get("value", ""),
            "recycles": p.get("recycles", {}).get("value", ""),
            "bare_completion": b.get("value", ""),
            "bare_completion_noncyclic": b.get("value_noncyclic", ""),
            "tasklet_kinds": [f"{k} x{kinds[k]}" for k in sorted(kinds)],
            "capabilities": sorted(p.get("capabilities", [])),
            "lookup": sorted(p.get("lookup", []))}


def _p_why(p: dict) -> dict[str, set[str]]:
    """The entries behind each verdict field, line numbers blanked, the
    provider's own directory written as <dir>/."""
    base = str(PurePosixPath(p["id"]).parent) + "/"

    def norm(s: str) -> str:
        return _blank_lines(s).replace(base, "<dir>/")
    d, b = p.get("delivery", {}), p.get("bare_completion", {})
    sites = set()
    for s in d.get("complete_sites", []) + d.get("deliver_sites", []):
        ctx = ",".join(sorted({c.get("context", "") for c in s.get("contexts", [])}))
        sites.add(norm(f"{s.get('call')}() in {s.get('function')}() from {ctx or 'no root'}"))
    return {
        "delivery": sites,
        "prep_flags": {norm(f"{x.get('field')}:{x.get('function')}={x.get('verdict')}")
                       for x in p.get("prep_flags", {}).get("preps", [])},
        "recycles": {norm(f"{x.get('field')}:{x.get('function')}={x.get('verdict')}"
                          f" ({x.get('why', '')})")
                     for x in p.get("recycles", {}).get("preps", [])},
        "bare_completion": {norm(f"{e.get('kind')}: {e.get('what')} in {e.get('function')}()"
                                 f" breaks {e.get('path')}") for e in b.get("evidence", [])},
        "tasklets": {norm(f"{t.get('function')}(): {t.get('kind')} "
                          f"[{', '.join(t.get('roles', []))}]") for t in p.get("tasklets", [])},
        "compatibles": set(p.get("compatibles", [])),
        "clients": set(p.get("clients", [])),
    }


def _p_dir(p: dict) -> str:
    return str(PurePosixPath(p["id"]).parent)


def _p_regs(p: dict) -> set[str]:
    return {r.get("function", "") for r in p.get("registrations", [])}


def match_providers(old: dict[str, dict], new: dict[str, dict]) -> list[tuple[str, str, str]]:
    pairs = [("same", i, i) for i in sorted(old) if i in new]
    used_o = {p[1] for p in pairs}
    used_n = {p[2] for p in pairs}

    def moved(o, n):
        return PurePosixPath(o["id"]).name == PurePosixPath(n["id"]).name

    def renamed(o, n):
        return (_p_dir(o) == _p_dir(n) and bool(_p_regs(o) & _p_regs(n))) or \
            bool(set(o.get("compatibles", [])) & set(n.get("compatibles", [])))

    for rule, pred in (("moved", moved), ("renamed", renamed)):
        cands = []
        for oi, o in old.items():
            for ni, n in new.items():
                if oi in used_o or ni in used_n or not pred(o, n):
                    continue
                score = (len(_p_regs(o) & _p_regs(n)) +
                         _jaccard(set(o.get("compatibles", [])), set(n.get("compatibles", []))) +
                         (_p_dir(o) == _p_dir(n)))
                cands.append((score, oi, ni))
        pairs += [(rule, oi, ni) for oi, ni in _greedy(cands, used_o, used_n)]
    return pairs


def _p_match_evidence(o: dict, n: dict) -> str:
    bits = []
    if PurePosixPath(o["id"]).name == PurePosixPath(n["id"]).name:
        bits.append(f"same file name {PurePosixPath(n['id']).name}")
    regs = sorted(_p_regs(o) & _p_regs(n))
    if regs:
        bits.append("registered by " + ", ".join(f"{r}()" for r in regs) +
                    (" in the same directory" if _p_dir(o) == _p_dir(n) else ""))
    comp = sorted(set(o.get("compatibles", [])) & set(n.get("compatibles", [])))
    if comp:
        bits.append("compatibles " + ", ".join(comp))
    return "; ".join(bits)


def compare_provider(o: dict, n: dict) -> dict:
    fo, fn = _p_fields(o), _p_fields(n)
    ch = {k: {"old": fo[k], "new": fn[k]} for k in PROVIDER_FIELDS if fo[k] != fn[k]}
    wo, wn = _p_why(o), _p_why(n)
    why = {}
    for k in sorted(wo):
        a, b = wo[k], wn[k]
        if a != b:
            why[k] = {"removed": sorted(a - b), "added": sorted(b - a)}
    return {"fields": ch, "verdict_changed": bool(ch), "why": why}


def _p_summary(p: dict) -> dict:
    f = _p_fields(p)
    return {"id": p["id"], "name": p.get("name", ""), **{k: f[k] for k in (
        "delivery", "prep_flags", "recycles", "bare_completion", "bare_completion_noncyclic")},
        "clients": len(p.get("clients", []))}


def diff_providers(old_doc: dict | None, new_doc: dict | None) -> dict:
    if old_doc is None or new_doc is None:
        missing = "OLD" if old_doc is None else "NEW"
        return {"compared": False, "note": f"{missing} has no providers.json",
                "appeared": [], "disappeared": [], "moved": [], "changed": [],
                "details_changed": [], "unchanged": 0}
    old = {p["id"]: p for p in old_doc.get("providers", [])}
    new = {p["id"]: p for p in new_doc.get("providers", [])}
    pairs = match_providers(old, new)
    mo = {p[1] for p in pairs}
    mn = {p[2] for p in pairs}
    matched = []
    for rule, oi, ni in sorted(pairs, key=lambda p: (p[2], p[1])):
        r = {"id": ni, "old_id": oi, "match": rule, "old": _p_summary(old[oi]),
             "new": _p_summary(new[ni]), **compare_provider(old[oi], new[ni])}
        if rule != "same":
            r["match_evidence"] = _p_match_evidence(old[oi], new[ni])
        matched.append(r)
    return {
        "compared": True,
        "appeared": [_p_summary(new[i]) for i in sorted(new) if i not in mn],
        "disappeared": [_p_summary(old[i]) for i in sorted(old) if i not in mo],
        "moved": [m for m in matched if m["match"] != "same"],
        "changed": [m for m in matched if m["verdict_changed"]],
        "details_changed": [m for m in matched if not m["verdict_changed"] and m["why"]],
        "unchanged": sum(1 for m in matched if m["match"] == "same" and not m["fields"]
                         and not m["why"]),
    }


# -- the document ---------------------------------------------------------------------

def _side(cbs: dict, prov: dict | None) -> dict:
    rows = cbs["callbacks"]
    return {"kernel": cbs.get("kernel", ""), "tree_commit": cbs.get("tree_commit", ""),
            "callbacks": len(rows), "providers": len(prov["providers"]) if prov else None,
            "counts": {"group": {g: sum(1 for c in rows if c["group"] == g) for g in GROUPS},
                       "action": {a: sum(1 for c in rows if c["action"] == a)
                                  for a in ACTIONS},
                       "shape": {s: sum(1 for c in rows if c.get("shape") == s)
                                 for s in SHAPES}}}


def build(old_dir: Path, new_dir: Path) -> dict:
    oc, op = load(old_dir)
    nc, np_ = load(new_dir)
    pv = diff_providers(op, np_)
    pmap = {m["old_id"]: m["id"] for m in pv["moved"]}
    cb = diff_callbacks(oc, nc, pmap)

    def counts(d):
        return {k: len(d[k]) for k in ("appeared", "disappeared", "moved", "changed",
                                       "details_changed")} | {"unchanged": d["unchanged"]}
    # of the changed callbacks, how many changed each verdict field
    by = {k: sum(1 for m in cb["changed"] if k in m["fields"]) for k in VERDICT_FIELDS}
    return {"old": _side(oc, op), "new": _side(nc, np_),
            "counts": {"callbacks": counts(cb), "providers": counts(pv),
                       "callbacks_changed_by": by},
            "callbacks": cb, "providers": pv}


# -- Markdown -----------------------------------------------------------------------

def _code(s: str) -> str:
    return f"`{s}`" if s else ""


def text_of(s) -> str:
    """A field's value as a table shows it (Markdown here, HTML in diffpage)."""
    if isinstance(s, list):
        s = ", ".join(str(x) for x in s) or "-"
    elif isinstance(s, bool):
        s = "yes" if s else "no"
    elif s is None or s == "":
        s = "-"
    return str(s)


def _cell(s) -> str:
    return text_of(s).replace("|", "\\|").replace("\n", " ")


def _cb_line(m: dict) -> str:
    name = m["callback"] if m["callback"] == m["old_callback"] else \
        f"{m['old_callback']} -> {m['callback']}"
    where = m["defined_in"] if m["defined_in"] == m["old_defined_in"] else \
        f"{m['old_defined_in']} -> {m['defined_in']}"
    return f"`{name}()` in {where}"


def _changes_md(m: dict, fields: tuple[str, ...]) -> list[str]:
    out = []
    for k in fields:
        if k == "providers" and k in m["fields"]:
            out.append("  - providers that may serve it: " + ", ".join(
                [f"+{x}" for x in m["providers_added"]] +
                [f"-{x}" for x in m["providers_removed"]]))
        elif k == "reasons":        # said below, as the reasons added and gone
            continue
        elif k in m["fields"]:
            v = m["fields"][k]
            out.append(f"  - {k}: {_cell(v['old'])} -> {_cell(v['new'])}")
    if m.get("reasons_added"):
        out.append(f"  - reasons added: {', '.join(m['reasons_added'])}")
    if m.get("reasons_removed"):
        out.append(f"  - reasons gone: {', '.join(m['reasons_removed'])}")
    for what, key in (("gone", "evidence_removed"), ("new", "evidence_added")):
        n = Counter(m.get(key, []))
        out += [f"  - evidence {what}: {e}" + (f" (x{n[e]})" if n[e] > 1 else "")
                for e in sorted(n)]
    return out


def markdown(doc: dict) -> str:
    o, n = doc["old"], doc["new"]
    cb, pv = doc["callbacks"], doc["providers"]
    L = [f"# dmacb diff: Linux {o['kernel']} -> {n['kernel']}", "",
         f"Old: {o['kernel']} (`{o['tree_commit'][:12]}`), new: {n['kernel']} "
         f"(`{n['tree_commit'][:12]}`).  Line numbers are not compared.", "",
         f"| | {o['kernel']} | {n['kernel']} |", "|---|---:|---:|",
         f"| callbacks | {o['callbacks']} | {n['callbacks']} |",
         f"| providers | {_cell(o['providers'])} | {_cell(n['providers'])} |"]
    for kind in ("group", "action"):
        for k in o["counts"][kind]:
            a, b = o["counts"][kind][k], n["counts"][kind][k]
            if a or b:
                L.append(f"| {kind} {k} | {a} | {b} |")
    L += ["", "| | callbacks | providers |", "|---|---:|---:|"]
    for k in ("appeared", "disappeared", "moved", "changed", "details_changed", "unchanged"):
        label = {"changed": "changed (shape, flags, verdict, reasons or action)",
                 "details_changed": "other changes only (evidence, providers, ...)"}.get(k, k)
        L.append(f"| {label} | {doc['counts']['callbacks'][k]} | "
                 f"{doc['counts']['providers'][k] if pv['compared'] else '-'} |")

    L += ["", "## Callbacks", "", f"### Appeared ({len(cb['appeared'])})", ""]
    if cb["appeared"]:
        L += ["| callback | defined in | shape | verdict | action | reasons |",
              "|---|---|---|---|---|---|"]
        L += [f"| `{c['callback']}` | {c['defined_in'] or c['file']} | {c['shape']} | "
              f"{c['group']} | {c['action']} | {_cell(c['reasons'])} |" for c in cb["appeared"]]
    L += ["", f"### Disappeared ({len(cb['disappeared'])})", ""]
    if cb["disappeared"]:
        L += ["| callback | defined in | verdict | action | where its file is now |",
              "|---|---|---|---|---|"]
        L += [f"| `{c['callback']}` | {c['defined_in'] or c['file']} | {c['group']} | "
              f"{c['action']} | {_cell(c['hint'])} |" for c in cb["disappeared"]]
    L += ["", f"### Moved or renamed ({len(cb['moved'])})", ""]
    for m in cb["moved"]:
        L.append(f"- {_cb_line(m)}: **{m['match']}** ({m['match_evidence']})"
                 + ("; its verdict changed too, see below" if m["verdict_changed"] else ""))
    by = doc["counts"]["callbacks_changed_by"]
    L += ["", f"### Changed: shape, verdict or action ({len(cb['changed'])})", "",
          "Of these: " + ", ".join(f"{k} {v}" for k, v in by.items()) + ".", ""]
    for m in cb["changed"]:
        L.append(f"- {_cb_line(m)}: {m['old']['group']}/{m['old']['action']} -> "
                 f"{m['new']['group']}/{m['new']['action']}")
        L += _changes_md(m, VERDICT_FIELDS + DETAIL_FIELDS)
        if m["unexplained"]:
            L.append("  - no reason or evidence entry changed: the reports do not say why "
                     "(compare the source)")
    L += ["", f"### Other changes, same verdict ({len(cb['details_changed'])})", "",
          "The evidence (line numbers aside), the serving providers, the sites' file, the "
          "users or the completions changed; shape, verdict and action did not.", ""]
    only_p = [m for m in cb["details_changed"] if _providers_only(m)]
    for m in cb["details_changed"]:
        if not _providers_only(m):
            L.append(f"- {_cb_line(m)} ({m['new']['group']}/{m['new']['action']})")
            L += _changes_md(m, DETAIL_FIELDS)
    if only_p:
        plus = Counter(x for m in only_p for x in m["providers_added"])
        minus = Counter(x for m in only_p for x in m["providers_removed"])
        L += ["", f"{len(only_p)} more differ only in the providers that may serve them "
              "(diff.json lists each):", "", "| provider | added to | removed from |",
              "|---|---:|---:|"]
        L += [f"| `{p}` | {plus[p]} | {minus[p]} |" for p in sorted(set(plus) | set(minus))]

    L += ["", "## Providers", ""]
    if not pv["compared"]:
        L += [f"Not compared: {pv['note']}."]
    else:
        L += [f"### Appeared ({len(pv['appeared'])})", ""]
        L += _p_table(pv["appeared"])
        L += ["", f"### Disappeared ({len(pv['disappeared'])})", ""]
        L += _p_table(pv["disappeared"])
        L += ["", f"### Moved or renamed ({len(pv['moved'])})", ""]
        L += [f"- `{m['old_id']}` -> `{m['id']}`: **{m['match']}** ({m['match_evidence']})"
              + ("; its verdict changed too, see below" if m["verdict_changed"] else "")
              for m in pv["moved"]]
        L += ["", f"### Changed ({len(pv['changed'])})", ""]
        for m in pv["changed"]:
            L.append(f"- `{m['id']}`" + (f" (was `{m['old_id']}`)" if m["old_id"] != m["id"]
                                         else ""))
            L += [f"  - {k}: {_cell(v['old'])} -> {_cell(v['new'])}"
                  for k, v in m["fields"].items()]
            L += _why_md(m)
        L += ["", f"### Other changes, same verdict ({len(pv['details_changed'])})", ""]
        for m in pv["details_changed"]:
            L.append(f"- `{m['id']}`: " + ", ".join(
                f"{k} (+{len(v['added'])} -{len(v['removed'])})" for k, v in m["why"].items()))
    return "\n".join(L) + "\n"


def _providers_only(m: dict) -> bool:
    return set(m["fields"]) == {"providers"} and not m["evidence_added"] and \
        not m["evidence_removed"]


def _p_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    return ["| provider | delivery | prep flags | recycles | bare completion | clients |",
            "|---|---|---|---|---|---:|"] + [
        f"| `{p['id']}` | {p['delivery']} | {p['prep_flags']} | {p['recycles']} | "
        f"{p['bare_completion']} | {p['clients']} |" for p in rows]


def _why_md(m: dict) -> list[str]:
    out = []
    for k, v in m["why"].items():
        if k == "clients":
            out.append(f"  - clients: +{len(v['added'])} -{len(v['removed'])}")
            continue
        out += [f"  - {k} gone: {x}" for x in v["removed"]]
        out += [f"  - {k} new: {x}" for x in v["added"]]
    return out


# -- the verb -------------------------------------------------------------------------

def write(doc: dict, out: Path) -> None:
    from . import diffpage
    out.mkdir(parents=True, exist_ok=True)
    formats.write(out / "diff.json", "diff", doc)
    for name, text in (("diff.md", markdown(doc)), ("diff.html", diffpage.build(doc))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / name)


def run(old: str, new: str, out: Path | None, jobs: int = 2, exit_code: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="dmacb-diff-") as tmp:
        od = resolve_input(old, Path(tmp), jobs, "OLD")
        nd = resolve_input(new, Path(tmp), jobs, "NEW")
        doc = build(od, nd)
    c = doc["counts"]["callbacks"]
    if out is None:
        print(markdown(doc), end="")
    else:
        write(doc, out)
        info(f"diff: {doc['old']['kernel']} -> {doc['new']['kernel']}: {c['appeared']} "
             f"appeared, {c['disappeared']} disappeared, {c['moved']} moved, {c['changed']} "
             f"changed; {out}/diff.md, diff.json, diff.html")
    differs = any(v for k, v in doc["counts"]["callbacks"].items() if k != "unchanged") or \
        any(v for k, v in doc["counts"]["providers"].items() if k != "unchanged")
    return 1 if exit_code and differs else 0
