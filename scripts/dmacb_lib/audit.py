# SPDX-License-Identifier: GPL-2.0
"""audit: scan -> facts -> classify -> report, for one kernel tree."""

from __future__ import annotations

import re
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from . import facts as factsmod
from . import kb as kbmod
from . import report
from .classify import PASSTHROUGH_DIRS, Callback, Index, Judge, Resolver, Site
from .kernel import Kernel
from .util import PROJECT, info


def api_gaps(k: Kernel) -> list[str]:
    """What this release's dmaengine.h lacks, each a line for the report."""
    h = k.path / "include" / "linux" / "dmaengine.h"
    if not h.exists():
        return ["include/linux/dmaengine.h is missing: this tree has no dmaengine API; "
                "no client callback can exist, results are empty"]
    text = h.read_text(errors="replace")
    gaps = []
    if "callback_result" not in text:
        gaps.append("this release has no callback_result (added in 4.14): only "
                    "->callback sites were audited")
    if "system_bh_wq" not in (k.path / "include" / "linux" / "workqueue.h").read_text(
            errors="replace"):
        gaps.append("this release has no system_bh_wq: the chained-tasklet rewrite to "
                    "BH work is not available")
    return gaps


def find_definitions(k: Kernel, names: set[str], known: set[str],
                     callers_of: set[str] = frozenset(),
                     dirs: list[str] | None = None) -> list[str]:
    """Files outside `known` that define one of `names` or call one of `callers_of`.

    A fixed-string grep, then a definition-shaped filter in Python: a regex
    grep for definitions over the whole tree is 100x slower.
    """
    if not names and not callers_of:
        return []
    args = []
    for n in sorted(names | callers_of):
        args += ["-e", n]
    spec = [f"{d}/*.c" for d in dirs] if dirs else ["*.c"]
    r = subprocess.run(["git", "-C", str(k.path), "grep", "-n", "-w", "-F", *args, "--",
                        *spec, ":!drivers/dma"], capture_output=True, text=True)
    alt = "|".join(map(re.escape, sorted(names))) or "$^"
    # 'static void foo(' or, kernel style for long ones, 'foo(' at column 0
    defn = re.compile(r"^(?:[A-Za-z_][^;=]*[^A-Za-z0-9_])?(" + alt + r")\s*\([^;]*$")
    call = re.compile(r"\b(" + ("|".join(map(re.escape, sorted(callers_of))) or "$^") +
                      r")\s*\(")
    out = set()
    for line in r.stdout.splitlines():
        path, _, text = line.split(":", 2)
        if defn.match(text) or (path.endswith(".c") and call.search(text)):
            out.add(path)
    return sorted(out - known)


def same_dir_field_stores(k: Kernel, dirs_fields: dict[str, set[str]], known: set[str]) -> list[str]:
    out: set[str] = set()
    for d, flds in dirs_fields.items():
        args = []
        for f in sorted(flds):
            args += ["-e", rf"[.>][[:space:]]*{f}[[:space:]]*=[^=]"]
        r = subprocess.run(["git", "-C", str(k.path), "grep", "-l", "-E", *args, "--",
                            f"{d}/*.c", f"{d}/*.h"], capture_output=True, text=True)
        out |= {p for p in r.stdout.split() if p.rsplit("/", 1)[0] == d}
    return sorted(out - known)


def gather_sites(files: dict[str, factsmod.FileFacts]):
    """Typed sites, plus what the cross-checks found (unparsed, other structs)."""
    sites: list[Site] = []
    passthrough: list[dict] = []
    unparsed_sites: list[dict] = []
    not_desc: list[dict] = []
    unmatched: list[dict] = []
    for p, ff in sorted(files.items()):
        typed = [r for r in ff.records if r["k"] == "site"]
        params = {(r["fn"], r["desc"]): r["rhs"] for r in typed if r["field"] == "callback_param"}
        seen_lines = set()
        for r in typed:
            if r["field"] == "callback_param":
                continue
            seen_lines.add(r["line"])
            s = Site(file=p, line=r["line"], fn=r["fn"], field=r["field"], rhs=r["rhs"],
                     param=params.get((r["fn"], r["desc"]), ""))
            if r["rhs"].strip() in ("NULL", "0"):
                continue            # clearing a callback is not choosing one
            if p.startswith(PASSTHROUGH_DIRS):
                passthrough.append({"file": p, "line": s.line, "function": s.fn, "rhs": s.rhs})
            else:
                sites.append(s)
        for r in ff.records:
            if r["k"] == "init" and "dma_async_tx_descriptor" in r.get("type", ""):
                seen_lines.add(r["line"])
                sites.append(Site(file=p, line=r["line"], fn=r["fn"] or "", field="callback",
                                  rhs=r["rhs"]))
        any_lines = {r["line"]: r for r in ff.records if r["k"] in ("any", "init")}
        for line, r in sorted(any_lines.items()):
            if line not in seen_lines:
                not_desc.append({"file": p, "line": line, "expr": r.get("desc") or r.get("type"),
                                 "rhs": r["rhs"]})
        defs = {r["name"] for r in ff.records if r["k"] == "def"}
        for line, fld, rhs in ff.grep_sites:
            if line in seen_lines or line in any_lines:
                continue
            fn = next((n for n, (a, b) in ff.functions.items() if a <= line <= b), None)
            if fn and fn not in defs:
                unparsed_sites.append({"file": p, "line": line, "function": fn, "field": fld,
                                       "rhs": rhs})
            else:
                unmatched.append({"file": p, "line": line, "field": fld, "rhs": rhs,
                                  "function": fn or ""})
    return sites, passthrough, unparsed_sites, not_desc, unmatched


def exported_entries(idx: Index, file: str, fn: str, text: str) -> list[str]:
    """Exported functions of file from which fn is reached (fn itself included)."""
    callers: dict[str, set[str]] = defaultdict(set)
    for caller, calls in idx.calls[file].items():
        for c in calls:
            callers[c["name"]].add(caller)
    out, seen, todo = [], set(), [fn]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if re.search(rf"EXPORT_SYMBOL(_GPL|_NS|_NS_GPL)?\(\s*{re.escape(f)}\s*[,)]", text):
            out.append(f)
        todo.extend(callers.get(f, ()))
    return sorted(out)


def shared_users(k: Kernel, idx: Index, cbs: list[Callback]) -> None:
    """Users of callbacks set up behind exported library functions.

    Such a callback is counted once, in the library; the files calling the
    library's exported entry points are listed as its users.
    """
    exported: dict[str, list[Callback]] = defaultdict(list)
    texts: dict[str, str] = {}
    for cb in cbs:
        for s in cb.sites:
            if s.file not in texts:
                texts[s.file] = (k.path / s.file).read_text(errors="replace")
            for e in exported_entries(idx, s.file, s.fn, texts[s.file]):
                if cb not in exported[e]:
                    exported[e].append(cb)
    if not exported:
        return
    args = []
    for fn in sorted(exported):
        args += ["-e", fn]
    # a user is a file with a line calling one of the entry points
    lines = factsmod.memo(k, "users", sorted(exported), lambda: subprocess.run(
        ["git", "-C", str(k.path), "grep", "-n", "-w", "-F", *args, "--", "*.c"],
        capture_output=True, text=True).stdout.splitlines())
    call = re.compile(r"\b(" + "|".join(map(re.escape, sorted(exported))) + r")\s*\(")
    for line in lines:
        p, _, text = line.split(":", 2)
        for fn in {m.group(1) for m in call.finditer(text)}:
            for cb in exported[fn]:
                if p not in cb.users and p != cb.defined_in and \
                        all(p != s.file for s in cb.sites):
                    cb.users.append(p)
    for lst in exported.values():
        for cb in lst:
            cb.users.sort()


def needed_files(k: Kernel, sites: list[Site], res: Resolver, judge: Judge) -> list[str]:
    missing_names: set[str] = set()
    param_fns: set[str] = set()
    dirs_fields: dict[str, set[str]] = defaultdict(set)
    unknown: dict[str, set[str]] = defaultdict(set)
    for s in sites:
        got, why = res.resolve(s.file, s.fn, s.rhs)
        if not got and res.param_dead_ends:
            param_fns |= res.param_dead_ends    # fetch the files that call them
            res.param_dead_ends = set()
            continue
        if not got:
            missing_names.update(re.findall(r"[A-Za-z_]\w*", s.rhs)[-1:])
            m = re.search(r"(?:->|\.)\s*([A-Za-z_]\w*)\s*$", s.rhs)
            if m:
                dirs_fields[s.file.rsplit("/", 1)[0]].add(m.group(1))
        for name, where, _, _ in got:
            for u in judge.unknown_callees(where, name):
                unknown[where.rsplit("/", 1)[0]].add(u)
    extra = factsmod.memo(k, "defs", sorted(missing_names) + ["--"] + sorted(param_fns),
                          lambda: find_definitions(k, missing_names, set(), param_fns))
    dfq = [f"{d}:{f}" for d in sorted(dirs_fields) for f in sorted(dirs_fields[d])]
    extra += factsmod.memo(k, "fields", dfq,
                           lambda: same_dir_field_stores(k, dirs_fields, set()))
    if unknown:
        names = set().union(*unknown.values())
        hits = factsmod.memo(k, "helpers", sorted(names) + ["--"] + sorted(unknown),
                             lambda: find_definitions(k, names, set(), dirs=sorted(unknown)))
        extra += [p for p in hits if p.rsplit("/", 1)[0] in unknown]
    return extra


def run(k: Kernel, out_root: Path | None = None, jobs: int = 2, use_cache: bool = True) -> int:
    t0 = time.monotonic()
    out_root = out_root or PROJECT / "reports"
    gaps = api_gaps(k)
    for g in gaps:
        info(f"note: {g}")
    kb = kbmod.load()
    cands = factsmod.candidates(k)
    info(f"scan: {len(cands)} candidate files in Linux {k.release} ({k.path})")
    files = factsmod.collect(k, cands, jobs, use_cache)

    sites, passthrough, unparsed_sites, not_desc, unmatched = gather_sites(files)

    # Files the scan did not list but the verdicts need: definitions of
    # assigned functions, stores into the fields assigned from, callers of
    # functions passing a callback parameter, and helpers the callbacks
    # call from other files of their directory.  Fetched together (one
    # spatch start-up), repeated only while something new turns up.
    for rnd in range(4):
        idx = Index(files, k.path)
        res = Resolver(idx)
        judge = Judge(idx, kb, k.path)
        extra = sorted(set(needed_files(k, sites, res, judge)) - set(files))
        if not extra or rnd == 3:
            break
        info(f"resolve: {len(extra)} more files define, store, pass or help callbacks")
        files.update(factsmod.collect(k, extra, jobs, use_cache))

    by_key: dict[tuple, Callback] = {}
    for s in sites:
        got, why = res.resolve(s.file, s.fn, s.rhs)
        if not got:
            key = (s.file, s.rhs, None)
            cb = by_key.setdefault(key, Callback(name=s.rhs, defined_in=None,
                                                 reasons=["unresolved"], note=why))
            cb.sites.append(s)
            continue
        for name, where, ofile, oline in sorted(got, key=str):
            origin = s if ofile is None else Site(file=ofile, line=oline, fn=s.fn,
                                                  field=s.field, rhs=name, param=s.param)
            cb = by_key.setdefault((origin.file, name, where),
                                   Callback(name=name, defined_in=where))
            cb.sites.append(origin)
    for u in unparsed_sites:
        cb = by_key.setdefault((u["file"], u["rhs"], None), Callback(
            name=u["rhs"], defined_in=None, reasons=["unparsed"],
            note=f"assigned in {u['function']}(), which spatch could not parse"))
        cb.sites.append(Site(file=u["file"], line=u["line"], fn=u["function"],
                             field=u["field"], rhs=u["rhs"]))
    callbacks = sorted(by_key.values(), key=lambda c: (c.sites[0].file, c.sites[0].line, c.name))
    for cb in callbacks:
        cb.sites.sort(key=lambda s: (s.file, s.line))
        if cb.defined_in:
            judge.judge(cb)
    shared_users(k, idx, callbacks)

    unparsed_functions = []
    for p, ff in sorted(files.items()):
        defs = {r["name"] for r in ff.records if r["k"] == "def"}
        for n, (a, b) in sorted(ff.functions.items(), key=lambda x: x[1][0]):
            if n not in defs:
                unparsed_functions.append({"file": p, "function": n, "line": a})
    timeouts = sorted(p for p, ff in files.items() if ff.timeout)
    failures = [{"file": p, "error": ff.spatch_failed} for p, ff in sorted(files.items())
                if ff.spatch_failed]

    outdir = out_root / k.release
    report.write(outdir, k, callbacks, {
        "candidates": len(cands), "files_with_facts": len(files),
        "passthrough": passthrough, "unparsed_functions": unparsed_functions,
        "unparsed_sites": unparsed_sites, "timeouts": timeouts, "spatch_failures": failures,
        "not_descriptor": not_desc, "unmatched_lines": unmatched, "gaps": gaps,
    })
    info(f"audit: {len(callbacks)} callbacks in {len({c.sites[0].file for c in callbacks})} "
         f"files -> {outdir} ({time.monotonic() - t0:.1f}s)")
    return 0
