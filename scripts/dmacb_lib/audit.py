# SPDX-License-Identifier: GPL-2.0
"""audit: scan -> facts -> classify -> report, for one kernel tree."""

from __future__ import annotations

import bisect
import copy
import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from . import delivery
from . import facts as factsmod
from . import report, treegrep, upstream
from .classify import PASSTHROUGH_DIRS, Callback, Resolver, Site
from .contract import tables as contract_tables
from .index import Index
from .verdict import Judge
from .kernel import Kernel
from .util import PROJECT, cache_dir, dmacb_digest, info, reports_dir, version_line


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


# git pathspecs: every C file, and every C file of a client
WHOLE_TREE = ("*.c",)
CLIENTS = ("*.c", ":!drivers/dma")


def _files(spec: tuple[str, ...]) -> tuple[list[str], bool] | None:
    """The files a pathspec of Greps names: path prefixes (a git pathspec
    'd/*.c' matches the C files of d and its subdirectories) and whether
    drivers/dma is left out; None for another form."""
    prefixes, no_dma = [], False
    for item in spec:
        if item == ":!drivers/dma":
            no_dma = True
        elif item == "*.c":
            prefixes.append("")
        elif item.endswith("/*.c") and not any(c in item[:-4] for c in "*?[:"):
            prefixes.append(item[:-3])
        else:
            return None
    return prefixes, no_dma


class Greps:
    """`git grep -n -w -F` for some names, each answer kept for the run.

    Every caller keeps only the lines on which one of its own names is
    defined or called (a regex per line), so an earlier answer for more
    names over more files serves as well as a grep of its own, once its
    lines from other files are dropped: the background guess
    (guess_followups) greps, the resolution reuses it.  A grep of the whole
    tree costs about the same for one name or five (reading the tree), and
    more for each further name: names planned for later (plan()) join the
    next one.
    """

    def __init__(self, k: Kernel):
        self.k = k
        self._lock = threading.Lock()
        self._done: list[tuple[tuple[str, ...], frozenset[str], list[str]]] = []
        self._planned: set[str] = set()
        self.limit: int | None = None

    def limited(self, n: int) -> Greps:
        """The same, sharing the answers, but a question for more than n names
        gets no lines and no grep (for a guess: its cost grows with the
        names, and so many means the guess is off, e.g. on a file spatch
        will time out on)."""
        g = copy.copy(self)
        g.limit = n
        return g

    def plan(self, names: set[str]) -> None:
        """Look for names too in the next grep of the whole tree."""
        with self._lock:
            self._planned.update(names)

    def _answer(self, names: set[str], spec: tuple[str, ...]) -> list[str] | None:
        want = _files(spec)
        for sp, ws, lines in self._done:
            if not names <= ws:
                continue
            if sp == spec:
                return lines
            have = _files(sp)
            if want is None or have is None or (have[1] and not want[1]) or \
                    not all(any(w.startswith(h) for h in have[0]) for w in want[0]):
                continue
            return [line for line in lines if line.startswith(tuple(want[0])) and
                    not (want[1] and line.startswith("drivers/dma/"))]
        return None

    def lines(self, names: set[str], spec: list[str]) -> list[str]:
        if self.limit is not None and len(names) > self.limit:
            return []
        spec_t = tuple(spec)
        ask, where = set(names), spec_t
        with self._lock:
            got = self._answer(names, spec_t)
            if got is not None:
                return got
            if spec_t in (WHOLE_TREE, CLIENTS) and self._planned:
                ask, where = ask | self._planned, WHOLE_TREE
                self._planned.clear()
        args = []
        for n in sorted(ask):
            args += ["-e", n]
        # (errors: a line found for another name may not be UTF-8; a
        # stable update greps only its files: treegrep.grep_lines)
        got = treegrep.grep_lines(self.k, ["-w", "-F", *args], where)
        with self._lock:
            self._done.append((where, frozenset(ask), got))
            return self._answer(names, spec_t) or []


def find_definitions(k: Kernel, names: set[str], known: set[str],
                     callers_of: set[str] = frozenset(),
                     dirs: list[str] | None = None, greps: Greps | None = None) -> list[str]:
    """Files outside `known` that define one of `names` or call one of `callers_of`.

    A fixed-string grep, then a definition-shaped filter in Python: a regex
    grep for definitions over the whole tree is 100x slower.  The filter
    only accepts a line with one of the names as a whole word, which the
    grep for exactly these names would print too: lines grepped for more
    names (greps) give the same files.
    """
    if not names and not callers_of:
        return []
    spec = [f"{d}/*.c" for d in dirs] if dirs else ["*.c"]
    lines = (greps or Greps(k)).lines(names | callers_of, spec + [":!drivers/dma"])
    alt = "|".join(map(re.escape, sorted(names))) or "$^"
    # 'static void foo(' or, kernel style for long ones, 'foo(' at column 0
    defn = re.compile(r"^(?:[A-Za-z_][^;=]*[^A-Za-z0-9_])?(" + alt + r")\s*\([^;]*$")
    call = re.compile(r"\b(" + ("|".join(map(re.escape, sorted(callers_of))) or "$^") +
                      r")\s*\(")
    out = set()
    for line in lines:
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


def _function_at(ext: list[tuple[int, int, str]], line: int) -> str | None:
    """The function whose text holds line; ext: (start, end, name), sorted
    (function extents do not overlap)."""
    i = bisect.bisect_right(ext, (line, 1 << 30, "")) - 1
    return ext[i][2] if i >= 0 and ext[i][1] >= line else None


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
        ext = None
        for line, fld, rhs in ff.grep_sites:
            if line in seen_lines or line in any_lines:
                continue
            if ext is None:
                ext = sorted((a, b, n) for n, (a, b) in ff.functions.items())
            fn = _function_at(ext, line)
            if fn and fn not in defs:
                unparsed_sites.append({"file": p, "line": line, "function": fn, "field": fld,
                                       "rhs": rhs})
            else:
                unmatched.append({"file": p, "line": line, "field": fld, "rhs": rhs,
                                  "function": fn or ""})
    return sites, passthrough, unparsed_sites, not_desc, unmatched


_EXPORT = re.compile(r"EXPORT_SYMBOL(?:_GPL|_NS|_NS_GPL)?\(\s*([A-Za-z_]\w*)\s*[,)]")


def exported_entries(idx: Index, file: str, fn: str, exports: set[str],
                     callers: dict | None = None) -> list[str]:
    """Exported functions of file from which fn is reached (fn itself included).

    exports: the names the file exports (exported_names); callers: the
    file's callee -> callers map (callers_of), shared by the sites of a file.
    """
    if not exports:
        return []
    if callers is None:
        callers = callers_of(idx, file)
    out, seen, todo = [], set(), [fn]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if f in exports:
            out.append(f)
        todo.extend(callers.get(f, ()))
    return sorted(out)


def callers_of(idx: Index, file: str) -> dict[str, set[str]]:
    callers: dict[str, set[str]] = defaultdict(set)
    for caller, calls in idx.calls[file].items():
        for c in calls:
            callers[c["name"]].add(caller)
    return callers


def exported_names(text: str) -> set[str]:
    """Names in EXPORT_SYMBOL*(name, ...): one pass over the file, rather than
    one regex per function reached (0.3 s in a 6.12 audit)."""
    return set(_EXPORT.findall(text))


def entry_points(k: Kernel, idx: Index, cbs: list[Callback]) -> dict[str, list[Callback]]:
    """Exported functions from which a callback's site is reached, and the
    callbacks of each (see shared_users)."""
    exported: dict[str, list[Callback]] = defaultdict(list)
    exports: dict[str, set[str]] = {}
    callers: dict[str, dict] = {}
    for cb in cbs:
        for s in cb.sites:
            if s.file not in exports:
                exports[s.file] = exported_names((k.path / s.file).read_text(errors="replace"))
            if exports[s.file] and s.file not in callers:
                callers[s.file] = callers_of(idx, s.file)
            for e in exported_entries(idx, s.file, s.fn, exports[s.file], callers.get(s.file)):
                if not any(x is cb for x in exported[e]):
                    exported[e].append(cb)
    return exported


def shared_users(k: Kernel, idx: Index, cbs: list[Callback], greps: Greps | None = None) -> None:
    """Users of callbacks set up behind exported library functions.

    Such a callback is counted once, in the library; the files calling the
    library's exported entry points are listed as its users.
    """
    exported = entry_points(k, idx, cbs)
    if not exported:
        return
    # a user is a file with a line calling one of the entry points (only
    # those lines are kept: greps may hold an answer for more names)
    call = re.compile(r"\b(" + "|".join(map(re.escape, sorted(exported))) + r")\s*\(")
    lines = factsmod.memo(k, "users", sorted(exported), lambda: [
        line for line in (greps or Greps(k)).lines(set(exported), list(WHOLE_TREE))
        if call.search(line.split(":", 2)[-1])])
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


def make_callbacks(sites: list[Site], res: Resolver, unparsed_sites: list[dict]) -> list[Callback]:
    """One Callback per function chosen (file, name, where), with its sites."""
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
    return callbacks


def _no_memo(k: Kernel, name: str, query: list[str], compute):
    return compute()


def needed_files(k: Kernel, sites: list[Site], res: Resolver, judge: Judge,
                 greps: Greps | None = None, memo=factsmod.memo) -> list[str]:
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
    extra = memo(k, "defs", sorted(missing_names) + ["--"] + sorted(param_fns),
                 lambda: find_definitions(k, missing_names, set(), param_fns, greps=greps))
    dfq = [f"{d}:{f}" for d in sorted(dirs_fields) for f in sorted(dirs_fields[d])]
    extra += memo(k, "fields", dfq, lambda: same_dir_field_stores(k, dirs_fields, set()))
    if unknown:
        names = set().union(*unknown.values())
        hits = memo(k, "helpers", sorted(names) + ["--"] + sorted(unknown),
                    lambda: find_definitions(k, names, set(), dirs=sorted(unknown), greps=greps))
        extra += [p for p in hits if p.rsplit("/", 1)[0] in unknown]
    return extra


# The real resolution of 6.12 greps for at most 12 names at a time; a guess
# asking for many more is off (8000 helpers of a file spatch will time out
# on), and its grep would take minutes.
GUESS_MAX_NAMES = 40


def guess_followups(k: Kernel, kb: dict, texts: dict[str, factsmod.FileFacts],
                    greps: Greps, stripped: dict) -> tuple[list[str], set[str]]:
    """Files the resolution will probably ask for, guessed from the text
    alone, and the exported entry points shared_users() will grep for.

    The resolution's own code, on facts guessed from the text
    (csource.guess_records) in place of spatch's: the right-hand sides of
    the callback stores lead to definitions in other files, per-SoC tables,
    callers passing a callback parameter, and from the callbacks to helpers
    in sibling files.  On 6.12 and 6.1 this finds every file the resolution
    asks for, and one more (a callback of a command struct, not a
    descriptor, that only types tell apart).
    """
    files = dict(texts)
    guessed: list[str] = []
    greps = greps.limited(GUESS_MAX_NAMES)
    for rnd in range(4):
        sites = gather_sites(files)[0]
        idx = Index(files, k.path, stripped)
        res = Resolver(idx)
        if rnd == 0:
            # shared_users' names, from the candidates: they join the grep
            # for definitions (one read of the tree instead of two).  (A
            # Resolver of its own: needed_files() reads what resolve() leaves
            # in param_dead_ends.)
            entries = set(entry_points(k, idx, make_callbacks(sites, Resolver(idx), [])))
            if len(entries) <= GUESS_MAX_NAMES:
                greps.plan(entries)
        extra = sorted(set(needed_files(k, sites, res, Judge(idx, kb, k.path), greps,
                                        memo=_no_memo)) - set(files))
        if not extra:
            break
        files.update(factsmod.read_text_facts(k, extra, True, stripped))
        guessed += extra
    return guessed, set(entry_points(k, idx, make_callbacks(sites, res, [])))


def prefetch_followups(k: Kernel, kb: dict, texts: Future, greps: Greps, stripped: dict,
                       jobs: int, use_cache: bool, farm=None) -> dict[str, factsmod.FileFacts]:
    """The resolution's work, done ahead while spatch works on the
    candidates: the facts of the guessed follow-up files (a second spatch,
    its start-up hidden behind the guess) and the greps (kept in greps).

    Only files the real resolution asks for are ever used, and greps only
    answer questions they cover, so a wrong guess costs time, never a
    different result; a failed one costs nothing more.
    """
    spatch = farm.spatch() if farm else factsmod.Spatch(jobs)  # starts up while the guess runs
    try:
        extra, entries = guess_followups(k, kb, texts.result(), greps, stripped)
        ahead = {}
        if extra:
            info(f"resolve: fetching the facts of {len(extra)} files the resolution will "
                 f"likely need, in the background")
            ahead = factsmod.collect(k, extra, jobs, use_cache, quiet=True, spatch=spatch)
        if entries:
            greps.limited(GUESS_MAX_NAMES).lines(entries, list(WHOLE_TREE))
        return ahead
    except Exception as e:          # noqa: BLE001 -- a guess must never fail the audit
        info(f"resolve: no facts fetched in advance ({e})")
        return {}
    finally:
        spatch.close()


def mark_upstream(k: Kernel, callbacks: list[Callback]) -> dict:
    """Carry-forward: the flag each callback's sites already pass, the
    completions clients already set, and how much of the helper-API series
    the tree has (upstream.py); the report's "api" and
    "upstream_completions"."""
    by_file: dict[str, set[str]] = defaultdict(set)
    for cb in callbacks:
        for s in cb.sites:
            by_file[s.file].add(s.fn)
    flags = upstream.callback_flags(k, by_file)
    for cb in callbacks:
        got = {flags.get((s.file, s.fn), "") for s in cb.sites}
        if len(got) == 1 and "" not in got:
            cb.upstream = got.pop()
        elif got - {""}:
            cb.note = ((cb.note + "; ") if cb.note else "") + (
                "some of its assignments already pass " + ", ".join(sorted(got - {""})) +
                ", others do not")
    api = upstream.api_state(k, upstream.series_patches(k.release))
    return {"api": api.as_dict() | {"line": api.line()},
            "upstream_completions": upstream.completions(k)}


# What the audit writes itself (the dashboard, index.html, is rewritten
# from every stage's files on each run; providers.* are the providers
# audit's, cached on their own).
_OUTPUTS = ("callbacks.json", "callbacks.csv", "summary.md")


def _output_key(k: Kernel, outdir: Path) -> str:
    """What an audit's outputs depend on, on a tree without changes: its
    commit, where it and the outputs are, spatch's version, and all of
    dmacb that the audit runs (code, SmPL, knowledge base, the helper-API
    series it looks for)."""
    kb = Path(os.environ.get("DMACB_KB_DIR") or contract_tables.KB_DIR)
    code = dmacb_digest([*kb.glob("*.tsv"),
                         *(q for q in (PROJECT / "patches" / "api").rglob("*") if q.is_file())])
    return hashlib.sha1(repr((k.head, k.release, str(k.path.resolve()), str(outdir.resolve()),
                              version_line(["spatch", "--version"]), code)).encode()
                        ).hexdigest()[:20]


def _unchanged(k: Kernel, outdir: Path, key: str) -> bool:
    """Copy the outputs of an earlier audit with this key, if there is one."""
    odir = cache_dir() / "audit-out" / key
    if not all((odir / n).exists() for n in _OUTPUTS):
        return False
    outdir.mkdir(parents=True, exist_ok=True)
    for n in _OUTPUTS:
        shutil.copyfile(odir / n, outdir / n)
    return True


def _keep(outdir: Path, key: str) -> None:
    odir = cache_dir() / "audit-out" / key
    tmp = odir.with_name(odir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for n in _OUTPUTS:
        shutil.copyfile(outdir / n, tmp / n)
    shutil.rmtree(odir, ignore_errors=True)
    tmp.rename(odir)


def run(k: Kernel, out_root: Path | None = None, jobs: int = 2, use_cache: bool = True,
        farm=None) -> int:
    """farm: a farm.Farm to run the client facts' spatch on (--hosts); the
    providers' spatch stays here.

    On a tree without uncommitted changes the outputs are cached per commit
    and dmacb version (_output_key()): an unchanged rerun copies them."""
    t0 = time.monotonic()
    out_root = reports_dir(out_root)
    kb = contract_tables.load()        # a bad table stops here, before anything is written
    gaps = api_gaps(k)
    for g in gaps:
        info(f"note: {g}")
    outdir = out_root / k.release
    okey = _output_key(k, outdir) if use_cache and farm is None and \
        not factsmod.changed_files(k) else None
    if okey and _unchanged(k, outdir, okey):
        from . import dashboard, providers
        (outdir / "farm.json").unlink(missing_ok=True)     # an earlier farm run's note
        info(f"audit: unchanged, {outdir} ({time.monotonic() - t0:.1f}s)")
        rc = providers.run(k, out_root, jobs, use_cache)
        dashboard.write(outdir, k.path)         # with this run's providers.json
        return rc
    # Background work, overlapping the scan and spatch: git ls-tree for the
    # cache keys, the text reader, the guess at the follow-up files.
    bg = ThreadPoolExecutor(2)
    # the providers audit (its own spatch) meanwhile: rules 3, 6 and 8 need
    # to know who may serve each client
    from . import providers
    pbg = ThreadPoolExecutor(1)
    pfut = pbg.submit(providers.audit, k, jobs, use_cache, True)
    spatch = None
    try:
        bg.submit(factsmod.tree_ids, k)
        if not use_cache or not factsmod.scan_cached(k):
            # Most likely a cold audit: start spatch now, its start-up
            # overlapping the scan's grep; it gets its files after.
            spatch = farm.spatch() if farm else factsmod.Spatch(jobs)
        cands = factsmod.candidates(k)
        info(f"scan: {len(cands)} candidate files in Linux {k.release} ({k.path})")
        greps = Greps(k)
        stripped: dict = {}         # the source as classify.Index reads it, per file
        texts = prefetch = None
        todo = factsmod.uncached(k, cands, use_cache)
        if len(todo) * 2 > len(cands):
            # A cold cache: the files the resolution adds will be uncached
            # too, each round of them a spatch start-up after this one.
            # Guess them from the text and fetch them meanwhile.
            texts = bg.submit(factsmod.read_text_facts, k, cands, True, stripped)
            prefetch = bg.submit(prefetch_followups, k, kb, texts, greps, stripped, jobs,
                                 use_cache, farm)
        files = factsmod.collect(k, cands, jobs, use_cache, texts=texts, spatch=spatch)
        sites, passthrough, unparsed_sites, not_desc, unmatched = gather_sites(files)

        # Files the scan did not list but the verdicts need: definitions of
        # assigned functions, stores into the fields assigned from, callers of
        # functions passing a callback parameter, and helpers the callbacks
        # call from other files of their directory.  Fetched together (one
        # spatch start-up, if any: most were fetched in the background),
        # repeated only while something new turns up.
        for rnd in range(4):
            idx = Index(files, k.path, stripped)
            res = Resolver(idx)
            judge = Judge(idx, kb, k.path)
            extra = sorted(set(needed_files(k, sites, res, judge, greps)) - set(files))
            if not extra or rnd == 3:
                break
            info(f"resolve: {len(extra)} more files define, store, pass or help callbacks")
            ahead = prefetch.result() if prefetch else {}
            rest = [p for p in extra if p not in ahead]
            fetched = factsmod.collect(k, rest, jobs, use_cache,
                                       spatch=farm.spatch() if farm else None) if rest else {}
            # in extra's order, as collect() gives them
            files.update({p: ahead[p] if p in ahead else fetched[p] for p in extra})
    finally:
        if spatch:
            spatch.close()
        bg.shutdown()

    callbacks = make_callbacks(sites, res, unparsed_sites)
    try:
        pres = pfut.result()
    finally:
        pbg.shutdown()
    site_files = sorted({s.file for cb in callbacks for s in cb.sites})
    deliv = delivery.Delivery(k, pres, providers.serving(k, site_files, pres), k.release,
                              {f: delivery.preps_cyclic(k, f) for f in site_files})
    for cb in callbacks:
        if cb.defined_in:
            judge.judge(cb, deliv, sorted({s.file for s in cb.sites}))
    shared_users(k, idx, callbacks, greps)
    landed = mark_upstream(k, callbacks)

    unparsed_functions = []
    for p, ff in sorted(files.items()):
        defs = {r["name"] for r in ff.records if r["k"] == "def"}
        for n, (a, b) in sorted(ff.functions.items(), key=lambda x: x[1][0]):
            if n not in defs:
                unparsed_functions.append({"file": p, "function": n, "line": a})
    timeouts = sorted(p for p, ff in files.items() if ff.timeout)
    failures = [{"file": p, "error": ff.spatch_failed} for p, ff in sorted(files.items())
                if ff.spatch_failed]

    report.write(outdir, k, callbacks, {
        "candidates": len(cands), "files_with_facts": len(files),
        "passthrough": passthrough, "unparsed_functions": unparsed_functions,
        "unparsed_sites": unparsed_sites, "timeouts": timeouts, "spatch_failures": failures,
        "not_descriptor": not_desc, "unmatched_lines": unmatched, "gaps": gaps,
        **landed,
    })
    k._changed = None       # changed_files() again: an edit made while this ran
    if okey and not factsmod.changed_files(k):
        _keep(outdir, okey)
    info(f"audit: {len(callbacks)} callbacks in {len({c.sites[0].file for c in callbacks})} "
         f"files -> {outdir} ({time.monotonic() - t0:.1f}s)")
    if farm:
        farm.summary()
        farm.write(outdir)
        info(f"farm: who ran what -> {outdir / 'farm.json'}")
    elif (outdir / "farm.json").exists():
        (outdir / "farm.json").unlink()     # an earlier farm run's note: not this run's

    # -- the providers audit, joined with the callbacks.json just written ------
    # (scripts/dmacb_lib/providers: providers.{json,csv,md} in the same place)
    return providers.run(k, out_root, jobs, use_cache)
