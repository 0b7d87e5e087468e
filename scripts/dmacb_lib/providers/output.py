# SPDX-License-Identifier: GPL-2.0
"""providers.json, providers.csv and providers.md (docs/formats.md,
"Providers")."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from .. import formats, vocab
from ..kernel import Kernel

CSV_COLUMNS = ("provider", "registers_in", "files", "delivery", "other_delivery",
               "completes_from", "delivers_from", "uses_virt_dma", "prep_flags", "prep_flags_per_prep",
               "recycles", "bare_completion", "bare_completion_noncyclic", "bare_evidence",
               "tasklets", "tasklet_kinds", "capabilities", "lookup", "kconfig_platforms",
               "clients", "unparsed_functions", "type_gaps")


def counts(res) -> dict:
    ps = list(res.providers.values())
    tl = [t for p in ps for t in p["tasklets"]]
    return {
        "providers": len(ps),
        "delivery": _count(p["delivery"]["method"] for p in ps),
        "uses_virt_dma": sum(1 for p in ps if p["uses_virt_dma"]),
        "completes_from": _count(c for p in ps for c in p["delivery"]["completes_from"]),
        "delivers_from": _count(c for p in ps for c in p["delivery"]["delivers_from"]),
        "prep_flags": _count(p["prep_flags"]["value"] for p in ps),
        "recycles": _count(p["recycles"]["value"] for p in ps),
        "recycles_without_virt_dma_delivery": _count(
            p["recycles"]["value"] for p in ps if p["delivery"]["method"] != "virt-dma"),
        "bare_completion": _count(p["bare_completion"]["value"] for p in ps),
        "bare_completion_noncyclic": _count(p["bare_completion"]["value_noncyclic"]
                                            for p in ps),
        "tasklets": len(tl),
        "tasklet_kinds": _count(t["kind"] for t in tl),
        "unparsed_functions": sum(len(p["unparsed_functions"]) for p in ps),
        "type_gaps": sum(len(p["type_gaps"]) for p in ps),
    }


def _count(it) -> dict:
    return dict(sorted(Counter(it).items()))


def write(outdir: Path, k: Kernel, res, joined: list[dict], si: dict, callbacks: Path | None
          ) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    served: dict[str, list[str]] = {}
    for f, s in si.items():
        for pid in s.providers:
            served.setdefault(pid, []).append(f)
    doc = {
        "kernel": k.release, "tree_commit": k.head,
        "counts": counts(res),
        "providers": [dict(res.providers[pid], clients=sorted(served.get(pid, [])))
                      for pid in sorted(res.providers, key=lambda x: res.names[x])],
        "clients": [si[f].to_json() for f in sorted(si)],
        "callbacks": joined,
        # the audit's own file beside it by name, so that the file does not
        # depend on where the reports directory is
        "callbacks_from": (None if not callbacks else callbacks.name
                           if callbacks.resolve().parent == outdir.resolve()
                           else str(callbacks)),
    }
    formats.write(outdir / "providers.json", "providers", doc)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in doc["providers"]:
        w.writerow(_row(p))
    _atomic(outdir / "providers.csv", buf.getvalue())
    _atomic(outdir / "providers.md", _markdown(doc, res))


def _row(p: dict) -> list:
    d = p["delivery"]
    b = p["bare_completion"]
    return [p["name"], p["id"], len(p["files"]), d["method"], " ".join(d["other_methods"]),
            " ".join(d["completes_from"]), " ".join(d["delivers_from"]),
            "yes" if p["uses_virt_dma"] else "no",
            p["prep_flags"]["value"],
            " ".join(f"{x['field'][len('device_prep_'):]}:{x['function']}={x['verdict']}"
                     for x in p["prep_flags"]["preps"]),
            p["recycles"]["value"], b["value"], b["value_noncyclic"],
            " | ".join(f"{e['kind']} {e['at']}" for e in b["evidence"]),
            " ".join(t["function"] for t in p["tasklets"]),
            " ".join(f"{t['function']}={t['kind']}" for t in p["tasklets"]),
            " ".join(x.replace("DMA_", "") for x in p["capabilities"]), " ".join(p["lookup"]),
            " && ".join("(" + "|".join(c) + ")" for c in p["kconfig"]["platforms"] if c),
            len(p.get("clients", [])), len(p["unparsed_functions"]), len(p["type_gaps"])]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _table(counts: dict, order: tuple) -> str:
    keys = [x for x in order if x in counts] + sorted(x for x in counts if x not in order)
    return ", ".join(f"{x} {counts[x]}" for x in keys)


def _markdown(doc: dict, res) -> str:
    c = doc["counts"]
    out = [f"# DMA providers of Linux {doc['kernel']}", "",
           f"{c['providers']} providers (callers of dma_async_device_register() or "
           f"dmaenginem_async_device_register()); {c['uses_virt_dma']} use virt-dma.", "",
           "| | |", "|---|---|",
           f"| delivery | {_table(c['delivery'], vocab.DELIVERY)} |",
           f"| completes descriptors from | {_table(c['completes_from'], vocab.CONTEXTS)} |",
           f"| delivers notifications from | {_table(c['delivers_from'], vocab.CONTEXTS)} |",
           f"| prep flags in tx->flags | {_table(c['prep_flags'], vocab.PREP_FLAGS)} |",
           f"| recycles descriptors without init | {_table(c['recycles'], vocab.RECYCLES)} |",
           f"| ... of those not delivering through virt-dma | "
           f"{_table(c['recycles_without_virt_dma_delivery'], vocab.RECYCLES)} |",
           f"| bare completion signalled | {_table(c['bare_completion'], vocab.BARE)} |",
           f"| ... not counting cyclic paths | "
           f"{_table(c['bare_completion_noncyclic'], vocab.BARE)} |",
           f"| tasklets | {c['tasklets']}: {_table(c['tasklet_kinds'], vocab.TASKLET_KINDS)} |",
           f"| functions spatch could not parse | {c['unparsed_functions']} |",
           f"| descriptor uses typed from the text | {c['type_gaps']} |", "",
           "## Providers", "",
           "| provider | delivery | completes from | delivers from | prep flags | recycles "
           "| bare completion | tasklets | clients |",
           "|---|---|---|---|---|---|---|---|---:|"]
    for p in doc["providers"]:
        d = p["delivery"]
        b = p["bare_completion"]
        bare = b["value"] + (f" ({b['value_noncyclic']} non-cyclic)"
                             if b["value_noncyclic"] != b["value"] else "")
        out.append(f"| {p['name']} | {d['method']}"
                   f"{' (+' + ', '.join(d['other_methods']) + ')' if d['other_methods'] else ''}"
                   f" | {', '.join(d['completes_from'])} | {', '.join(d['delivers_from'])} | "
                   f"{p['prep_flags']['value']} | "
                   f"{p['recycles']['value']} | {bare} | "
                   f"{', '.join(t['function'] + ' (' + t['kind'] + ')' for t in p['tasklets'])}"
                   f" | {len(p.get('clients', []))} |")
    out += ["", "## Evidence against a bare completion", ""]
    for p in doc["providers"]:
        ev = p["bare_completion"]["evidence"]
        if not ev:
            continue
        out.append(f"- **{p['name']}** ({p['bare_completion']['value']}):")
        for e in ev:
            out.append(f"  - {e['kind']}, {e['path']}: `{e['at']}` {e['what']}")
    out += ["", "## Prep functions that drop the client's flags", ""]
    for p in doc["providers"]:
        bad = [x for x in p["prep_flags"]["preps"] if x["verdict"] != "yes"]
        if bad:
            out.append(f"- **{p['name']}**: " + "; ".join(
                f"{x['function']}() ({x['field']}) {x['verdict']}" for x in bad))
    if doc["clients"]:
        out += ["", "## Clients and the providers that may serve them", "",
                "| client file | basis | providers |", "|---|---|---|"]
        for s in doc["clients"]:
            names = [res.names[p] for p in s["providers"]]
            shown = ", ".join(names) if len(names) <= 12 else \
                f"{len(names)} providers ({', '.join(names[:6])}, ...)"
            out.append(f"| {s['file']} | {s['basis']} | {shown} |")
    if doc["callbacks"]:
        bad = [c for c in doc["callbacks"] if c["completion_signalled"] is False]
        out += ["", "## Callbacks whose completion some serving provider would not signal",
                "", f"{len(bad)} of {len(doc['callbacks'])} callbacks.", ""]
        for c in bad:
            who = [r["provider"] for r in c["providers"] if r["completion"] != "all-paths"]
            out.append(f"- {c['file']} {c['callback']}() ({c['action']}): "
                       f"{', '.join(who[:8])}{' ...' if len(who) > 8 else ''}")
    unp = [(p["name"], u) for p in doc["providers"] for u in p["unparsed_functions"]]
    if unp:
        out += ["", "## Functions spatch could not parse", ""]
        out += [f"- {n}: `{u['file']}:{u['line']}` {u['function']}()" for n, u in unp]
    return "\n".join(out) + "\n"
