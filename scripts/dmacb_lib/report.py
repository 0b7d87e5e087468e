# SPDX-License-Identifier: GPL-2.0
"""report: callbacks.csv, callbacks.json, summary.md, index.html.

Output is deterministic (sorted, no timestamps) so that the committed
reference reports can be regenerated and diffed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from . import claims, dashboard, formats
from .classify import Callback
from .kernel import Kernel
from .vocab import ACTIONS, GROUPS, SHAPE_FLAGS, SHAPES, subsystem

def row(cb: Callback) -> dict:
    s = cb.sites[0]
    return {"file": s.file, "line": s.line, "callback": cb.name,
            "defined_in": cb.defined_in or "", "group": cb.group, "action": cb.action,
            "reasons": ",".join(cb.reasons), "shape": cb.shape,
            "shape_flags": ",".join(cb.shape_flags), "upstream": cb.upstream}


def to_json(cb: Callback) -> dict:
    d = row(cb)
    d["reasons"] = cb.reasons
    d["shape_flags"] = cb.shape_flags
    d["subsystem"] = subsystem(d["file"])
    d["sites"] = [{"file": s.file, "line": s.line, "function": s.fn, "field": s.field,
                   "rhs": s.rhs, "callback_param": s.param} for s in cb.sites]
    d["evidence"] = cb.evidence
    d["completes"] = cb.completes
    d["latent_bug"] = cb.latent_bug
    if cb.delivery:
        d["delivery"] = cb.delivery
    if cb.users:
        d["users"] = cb.users
    if cb.note:
        d["note"] = cb.note
    return d


def write(outdir: Path, k: Kernel, cbs: list[Callback], extra: dict) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    rows = [row(c) for c in cbs]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else
                       ["file", "line", "callback", "defined_in", "group", "action", "reasons"],
                       lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    _put(outdir / "callbacks.csv", buf.getvalue())
    doc = {"kernel": k.release, "tree_commit": k.head, "callbacks": [to_json(c) for c in cbs],
           **extra}
    formats.write(outdir / "callbacks.json", "callbacks", doc)
    _put(outdir / "summary.md", summary_md(k, cbs, extra))
    dashboard.write(outdir, k.path)


def _put(p: Path, text: str) -> None:
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(p)


def _counts(cbs: list[Callback]):
    g = Counter(c.group for c in cbs)
    a = Counter(c.action for c in cbs)
    r = Counter(r for c in cbs for r in c.reasons)
    return g, a, r


def upstream_md(cbs: list[Callback], extra: dict) -> list[str]:
    """What of the conversion the tree already has (audit.mark_upstream)."""
    api = extra.get("api")
    done = [c for c in cbs if c.upstream]
    comps = extra.get("upstream_completions", [])
    out = ["## Already in the tree (carry-forward)", ""]
    if api:
        out.append(f"- {api['line']}")
    out.append(f"- callbacks whose assignments already pass a flag (converted upstream, not "
               f"converted again): {len(done)}")
    for c in done:
        warn = "" if c.action == c.upstream else (
            f" (the contract's verdict here: {c.group}, action {c.action}"
            + (f": {', '.join(c.reasons)}" if c.reasons else "") + ")")
        out.append(f"  - `{c.name}()` in {c.sites[0].file}: {c.upstream}{warn}")
    out.append(f"- descriptors already on a completion (dmaengine_desc_set_completion() "
               f"outside drivers/dma): {len(comps)} in {len({x['file'] for x in comps})} files")
    for x in comps:
        out.append(f"  - {x['file']}:{x['line']} {x['function'] or '?'}(): "
                   f"`{x['completion']}`")
    return out + [""]


def summary_md(k: Kernel, cbs: list[Callback], extra: dict) -> str:
    g, a, r = _counts(cbs)
    out = [f"# dmaengine client callbacks in Linux {k.release}", "",
           f"{len(cbs)} callbacks in {len({c.sites[0].file for c in cbs})} files "
           f"({extra['candidates']} candidate files outside drivers/dma; "
           f"facts from {extra['files_with_facts']} files).", ""]
    if extra["gaps"]:
        out += ["## Gaps in this release", ""] + [f"- {x}" for x in extra["gaps"]] + [""]
    out += upstream_md(cbs, extra)
    sh = Counter(c.shape for c in cbs)
    fl = Counter(f for c in cbs for f in c.shape_flags)
    out += ["## Shapes (what the callbacks do)", "", "| shape | callbacks |", "|---|---:|"]
    out += [f"| {x} | {sh.get(x, 0)} |" for x in SHAPES] + [""]
    out += ["| near case (flag) | callbacks |", "|---|---:|"]
    out += [f"| {x} | {fl.get(x, 0)} |" for x in SHAPE_FLAGS] + [""]
    out += claims.markdown(claims.answer([to_json(c) for c in cbs]))
    out += ["## Groups (the verdict: what the conversion may do)", "",
            "| group | callbacks |", "|---|---:|"]
    out += [f"| {x} | {g.get(x, 0)} |" for x in GROUPS] + [""]
    out += ["| shape \\ group | " + " | ".join(GROUPS) + " |",
            "|---|" + "---:|" * len(GROUPS)]
    for x in SHAPES:
        row = Counter(c.group for c in cbs if c.shape == x)
        out.append(f"| {x} | " + " | ".join(str(row.get(y, 0)) for y in GROUPS) + " |")
    out.append("")
    out += ["## Actions", "", "| action | callbacks |", "|---|---:|"]
    out += [f"| {x} | {a.get(x, 0)} |" for x in ACTIONS] + [""]
    out += ["## Reasons", "", "| reason | callbacks |", "|---|---:|"]
    out += [f"| {x} | {n} |" for x, n in sorted(r.items(), key=lambda t: (-t[1], t[0]))] + [""]
    subs = sorted({subsystem(c.sites[0].file) for c in cbs})
    out += ["## Per subsystem", "", "| subsystem | " + " | ".join(GROUPS) + " | total |",
            "|---|" + "---:|" * (len(GROUPS) + 1)]
    for s in subs:
        sc = Counter(c.group for c in cbs if subsystem(c.sites[0].file) == s)
        out.append(f"| {s} | " + " | ".join(str(sc.get(x, 0)) for x in GROUPS) +
                   f" | {sum(sc.values())} |")
    out.append("")
    out += ["| subsystem | " + " | ".join(SHAPES) + " | total |",
            "|---|" + "---:|" * (len(SHAPES) + 1)]
    for s in subs:
        sc = Counter(c.shape for c in cbs if subsystem(c.sites[0].file) == s)
        out.append(f"| {s} | " + " | ".join(str(sc.get(x, 0)) for x in SHAPES) +
                   f" | {sum(sc.values())} |")
    out.append("")
    bugs = [c for c in cbs if c.latent_bug]
    out += ["## Latent bugs (may sleep in softirq context today)", ""]
    if not bugs:
        out.append("None found.")
    for c in bugs:
        ev = next((e for e in c.evidence if e.get("reason") == "may-sleep"), {})
        out.append(f"- `{c.name}()` in {c.defined_in}: {ev.get('call', '?')}() at line "
                   f"{ev.get('line', '?')} via {ev.get('via', '?')}")
    out.append("")
    shared = [c for c in cbs if c.users]
    if shared:
        out += ["## Shared callbacks (counted once, in their own file)", ""]
        for c in shared:
            out.append(f"- `{c.name}()` in {c.defined_in}: {len(c.users)} users")
        out.append("")
    out += ["## Not audited: what spatch could not read", ""]
    out.append(f"- files that timed out: {len(extra['timeouts'])}" +
               ("" if not extra["timeouts"] else ": " + ", ".join(extra["timeouts"])))
    out.append(f"- files spatch failed on: {len(extra['spatch_failures'])}")
    for u in extra["spatch_failures"]:
        out.append(f"  - {u['file']}: {u['error']}")
    out.append(f"- callback assignments inside functions spatch could not parse: "
               f"{len(extra['unparsed_sites'])}")
    for u in extra["unparsed_sites"]:
        out.append(f"  - {u['file']}:{u['line']} in {u['function']}(): {u['rhs']}")
    out.append(f"- functions spatch could not parse in the audited files: "
               f"{len(extra['unparsed_functions'])}")
    for u in extra["unparsed_functions"]:
        out.append(f"  - {u['file']}:{u['line']} {u['function']}()")
    out.append(f"- lines that look like a callback store but matched no rule: "
               f"{len(extra['unmatched_lines'])}")
    for u in extra["unmatched_lines"]:
        out.append(f"  - {u['file']}:{u['line']}: {u['rhs']}")
    out.append("")
    out += ["## Not descriptor callbacks", "",
            f"{len(extra['not_descriptor'])} stores to a field named callback of another "
            "struct (type aware), e.g.:", ""]
    for u in extra["not_descriptor"][:10]:
        out.append(f"- {u['file']}:{u['line']}: {u['expr']} = {u['rhs']}")
    out.append("")
    if extra["passthrough"]:
        out += ["## async_tx core pass-through", "",
                "The async_tx core stores its users' callbacks in the descriptor; the "
                "users (md RAID, ...) are not dmaengine slave clients and are not "
                "classified here.", ""]
        for u in extra["passthrough"]:
            out.append(f"- {u['file']}:{u['line']} in {u['function']}(): {u['rhs']}")
        out.append("")
    return "\n".join(out)
