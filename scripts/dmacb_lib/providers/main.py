# SPDX-License-Identifier: GPL-2.0
"""The providers audit's implementation (see the package docstring): the
audit itself, serving, the join with callbacks.json, and run()."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .. import ancestry
from .. import facts as factsmod
from .. import formats
from ..kernel import Kernel
from ..util import cache_dir, info, reports_dir
from . import bare as baremod
from . import delivery as deliverymod
from . import discover, graph, kapi, output, pfacts, prepflags, recycle, tasklets
from . import kconfig as kcmod
from . import serve as servemod
from .serve import ServeInfo
from . import tool_digest, _OUTPUTS, _output_cache


@dataclass
class Result:
    kernel: str
    commit: str
    providers: dict[str, dict] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # the providers' exported names the external-glue grep looked for
    glue_names: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # for serving() in the same process
    _provs: list = field(default_factory=list, repr=False)
    _texts: dict = field(default_factory=dict, repr=False)
    _server: object = field(default=None, repr=False)
    _served: dict = field(default_factory=dict, repr=False)
    # taken from this ancestor's result (_from_ancestor), with the files
    # changed since
    _ancestor: str = field(default="", repr=False)
    _changed: set = field(default_factory=set, repr=False)
    # provider id -> serve.ProviderSide (the Server's view of each provider)
    _sides: dict | None = field(default=None, repr=False)


def _result_file(k: Kernel) -> Path:
    return _result_file_of(k.head)


def audit(k: Kernel, jobs: int = 2, use_cache: bool = True, quiet: bool = False,
          clients: list[str] | None = None) -> Result:
    """The providers of k; see the module docstring.  clients: client files
    whose serving to work out in the background meanwhile (serving() then
    answers from it)."""
    got = getattr(k, "_providers", None)
    if got is not None:
        return got
    clean = not factsmod.changed_files(k)
    cf = _result_file(k)
    res = None
    if use_cache and clean:
        res = _load(cf) or _from_ancestor(k)
        if res is not None and res.commit == k.head:
            k._providers = res
            return res
    if res is None:
        res = _audit(k, jobs, use_cache, quiet, clients)
    if clean:
        cf.parent.mkdir(parents=True, exist_ok=True)
        tmp = cf.with_name(cf.name + f".{os.getpid()}")
        tmp.write_text(json.dumps({"kernel": res.kernel, "commit": res.commit,
                                   "providers": res.providers, "names": res.names,
                                   "files": res.files, "glue_names": res.glue_names,
                                   "discovered": [p.to_json() for p in res._provs],
                                   "sides": {i: v.to_json() for i, v in (
                                       res._sides if res._sides is not None
                                       else _server(k, res).side).items()}}))
        tmp.replace(cf)
    k._providers = res
    return res


def _load(cf: Path) -> Result | None:
    try:
        d = json.loads(cf.read_text())
        res = Result(d["kernel"], d["commit"], d["providers"], d["names"], d["files"],
                     d["glue_names"])
        res._provs = [discover.Provider.from_json(p) for p in d["discovered"]]
        res._sides = {i: servemod.ProviderSide.from_json(v) for i, v in d["sides"].items()}
        return res
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _from_ancestor(k: Kernel) -> Result | None:
    """The result of a recent ancestor of HEAD, when nothing changed since
    can change it (a stable update of a few client drivers); None else.

    What the result is made of: the registering .c files (a whole-tree grep
    for the register calls), the .c files of the providers' directories,
    the .c files naming one of the providers' exported functions (a
    whole-tree grep for them), headers (the providers' own, include/),
    Kconfig files and Makefiles.  So it holds when every file changed since
    is a .c file, none of the providers' files nor in the directory of a
    registering file, and names (before and after) neither a register call nor
    an exported name.  Anything else: None, the audit runs."""
    old = ancestry.nearest(k.path, k.head, lambda r: _result_file_of(r).exists())
    res = _load(_result_file_of(old)) if old else None
    if res is None:
        return None
    changed = sorted(ancestry.changed(k.path, old, k.head))
    # the directories families() lists: the registering files' (the ids)
    dirs = {os.path.dirname(pid) for pid in res.providers}
    if any(not p.endswith(".c") or p in res.files or os.path.dirname(p) in dirs
           for p in changed):
        return None
    words = [a for n in sorted(set(kapi.REGISTER) | set(res.glue_names)) for a in ("-e", n)]
    for rev in (old, k.head) if changed else ():
        r = subprocess.run(["git", "-C", str(k.path), "grep", "-l", "-w", "-F", *words, rev,
                            "--", *changed], capture_output=True, text=True)
        if r.returncode != 1:       # a match, or grep failed
            return None
    res.commit = k.head
    res._ancestor, res._changed = old, set(changed)
    return res


def _result_file_of(commit: str) -> Path:
    return cache_dir() / "providers" / f"{commit}-{tool_digest()}.json"


def _audit(k: Kernel, jobs: int, use_cache: bool, quiet: bool,
           clients: list[str] | None) -> Result:
    t0 = time.monotonic()
    timings = {}
    bg = ThreadPoolExecutor(4)
    sp = None
    try:
        # the greps at once (each reads a part of the tree); spatch starts up
        # (SmPL parse, OCaml compile) as soon as the type headers are known,
        # while the providers are found
        f_headers = bg.submit(pfacts.type_headers, k)
        f_regs = bg.submit(discover.registering_files, k)
        f_kdefs = bg.submit(kcmod.kconfig_defs, k)
        f_dt = bg.submit(servemod.devicetree, k)
        headers = f_headers.result()
        opts = pfacts.options(k, headers)
        sp = pfacts.spatch(jobs, opts)
        # the providers' own directories first: spatch gets those files while
        # the whole-tree grep for the external glue runs
        provs, texts = discover.families(k, f_regs.result(), external=False)
        glue_names = sorted(provs[0]._external[0]) if provs else []
        first = sorted({f for p in provs for f in p.files})
        f_ext = bg.submit(discover.external, k, provs, texts)
        timings["discover"] = time.monotonic() - t0
        f_first = bg.submit(pfacts.collect, k, first, jobs, use_cache, headers,
                            _done(pfacts.text_facts(texts, first)), sp, quiet)
        sp = None
        later = f_ext.result()
        files = sorted(set(first) | set(later))
        if not quiet:
            info(f"providers: {len(provs)} providers in {len(files)} files")
        missing = [f for f in files if f not in texts]
        texts.update(discover._read_texts(k, missing))
        # who may serve the clients needs no facts: worked out meanwhile
        f_server = bg.submit(_make_server, k, provs, texts, f_kdefs, f_dt, clients)
        ff = dict(pfacts.collect(k, later, jobs, use_cache, headers,
                                 _done(pfacts.text_facts(texts, later)), quiet=True)
                  if later else {})
        ff.update(f_first.result())
        timings["facts"] = time.monotonic() - t0
        extra = [_read(k, "drivers/dma/virt-dma.h")] + [_read(k, h) for h in headers]
        positions = prepflags.flags_positions(_read(k, "include/linux/dmaengine.h"))
        kc = kcmod.Kconfig(k, f_kdefs.result())
        res = Result(k.release, k.head, files=files, glue_names=glue_names)
        for prov in provs:
            prog = graph.Program(prov, ff, texts, tuple(extra))
            res.providers[prov.id] = analyse(k, prov, prog, positions, kc, texts)
            res.names[prov.id] = prov.name
        res._provs = provs
        res._texts = texts
        res._server, res._served = f_server.result()
    finally:
        if sp is not None:
            sp.close()
        bg.shutdown()
    timings["analysis"] = time.monotonic() - t0
    res.timings = timings
    return res


def files(k: Kernel) -> list[str]:
    """The files the provider facts pass runs spatch on (for the benchmark's
    floor): every provider's files."""
    provs, _ = discover.families(k, discover.registering_files(k))
    return sorted({f for p in provs for f in p.files})


def _done(value):
    """value as a finished Future (facts.collect's texts argument)."""
    from concurrent.futures import Future
    f: Future = Future()
    f.set_result(value)
    return f


def _make_server(k: Kernel, provs, texts, f_kdefs, f_dt, clients):
    server = servemod.Server(k, provs, texts, kcmod.Kconfig(k, f_kdefs.result()),
                             dt=f_dt.result())
    served = server.serve(clients) if clients else {}
    return server, served


def _read(k: Kernel, rel: str) -> str:
    try:
        return (k.path / rel).read_text(errors="replace")
    except OSError:
        return ""


def analyse(k: Kernel, prov: discover.Provider, prog: graph.Program,
            positions: dict[str, int], kc: kcmod.Kconfig, texts: dict) -> dict:
    """Every column of one provider."""
    deliv = deliverymod.analyse(prog)
    side = servemod.provider_side(k, prov, texts, kc)
    d = {
        "id": prov.id, "name": prov.name,
        "files": [{"file": f, "role": prov.roles[f], "why": prov.links.get(f, [])}
                  for f in prov.files],
        "registrations": prov.registrations,
        "kconfig": {"symbols": kcmod.build_symbols(k, prov.id),
                    "platforms": [sorted(c - {"<false>"}) for c in side.constraint]},
        "capabilities": sorted(side.caps),
        "lookup": sorted(side.lookup),
        "compatibles": sorted(side.compatibles),
        "uses_virt_dma": bool(prog.calls_of((kapi.VCHAN_INIT,))),
        "delivery": deliv,
        "prep_flags": prepflags.analyse(prog, positions),
        "recycles": recycle.analyse(prog),
        "bare_completion": baremod.analyse(prog, deliv),
        "tasklets": tasklets.analyse(prog),
        "context_registrations": prog.registrations,
        "unparsed_functions": [{"file": f.file, "function": f.name, "line": f.line}
                               for f in prog.unparsed],
        "type_gaps": prog.type_gaps,
        "spatch_gaps": prog.spatch_gaps,
        "filter_users": prov.filter_users,
    }
    return d


def _server(k: Kernel, res: Result) -> servemod.Server:
    if res._server is None and res._sides is not None:
        res._server = servemod.Server(k, res._provs, {}, kcmod.Kconfig(k), sides=res._sides)
    if res._server is None:
        if not res._texts:
            files = sorted({f for p in res._provs for f in p.files})
            res._texts = discover._read_texts(k, files)
        res._server = servemod.Server(k, res._provs, res._texts, kcmod.Kconfig(k))
    return res._server


def serving(k: Kernel, client_files: list[str], result: Result | None = None
            ) -> dict[str, ServeInfo]:
    """Who may serve each client file (see serve.py)."""
    res = result or audit(k)
    want = list(dict.fromkeys(client_files))
    # a clean tree: remembered per commit and file (the audit and convert
    # both ask, in two processes; the Kconfig and devicetree scans behind
    # it cost seconds)
    memo = _serving_file(k) if res.commit == k.head and not factsmod.changed_files(k) \
        else None
    known: dict = {}
    if memo is not None:
        try:
            known = json.loads(memo.read_text())
        except (OSError, ValueError):
            known = {}
        for f in want:
            if f not in res._served and f in known:
                res._served[f] = ServeInfo(**known[f])
    missing = [f for f in want if f not in res._served]
    if missing and res._ancestor:
        # the result holds since the ancestor (only client .c files
        # changed): so does its serving of a client none of whose module
        # files (the .c files of its directory) changed
        try:
            anc = json.loads(_serving_file_of(res._ancestor).read_text())
        except (OSError, ValueError):
            anc = {}
        def module(f: str) -> str:
            # the first symbol building f: its module files share it
            # (serve._module_files)
            return (kcmod.build_symbols(k, f)[:1] or [f])[0]
        for f in missing:
            if f in anc and f not in res._changed and not any(
                    os.path.dirname(q) == os.path.dirname(f) and module(q) == module(f)
                    for q in res._changed):
                res._served[f] = ServeInfo(**anc[f])
        missing = [f for f in want if f not in res._served]
    if missing:
        res._served.update(_server(k, res).serve(missing))
    if memo is not None and any(f not in known for f in want):
        known.update({f: dataclasses.asdict(res._served[f]) for f in want})
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(memo.name + f".{os.getpid()}")
        tmp.write_text(json.dumps(known))   # key order kept: the report follows it
        tmp.replace(memo)
    return {f: res._served[f] for f in want}


def _serving_file(k: Kernel) -> Path:
    return _serving_file_of(k.head)


def _serving_file_of(commit: str) -> Path:
    return cache_dir() / "providers" / f"{commit}-{tool_digest()}-serving.json"


def bare_completion(result: Result, provider_id: str, cyclic: bool = False) -> dict:
    b = result.providers[provider_id]["bare_completion"]
    ev = b["evidence"] if cyclic else [e for e in b["evidence"] if e["path"] != "cyclic"]
    return {"value": b["value"] if cyclic else b["value_noncyclic"], "why": b["why"],
            "evidence": ev}


def completion_ok(k: Kernel, client_file: str, cyclic: bool = False,
                  result: Result | None = None) -> tuple[bool, list[dict]]:
    res = result or audit(k)
    si = serving(k, [client_file], res)[client_file]
    out = []
    ok = True
    for pid in si.providers:
        b = bare_completion(res, pid, cyclic)
        out.append({"provider": res.names[pid], "id": pid, "value": b["value"],
                    "evidence": b["evidence"][:3], "basis": si.basis})
        ok = ok and b["value"] == "all-paths"
    return ok, out


# -- the join with the client audit ---------------------------------------------

def read_callbacks(path: Path) -> dict | None:
    """The client audit's callbacks.json, or None when there is none.

    The one place that reads it: through formats.py when the document names
    its format (dmacb-callbacks/2), as plain JSON when it was written before
    formats had names.
    """
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(doc, dict) and doc.get("format"):
        return formats.load(path, "callbacks")
    return doc if isinstance(doc, dict) and "callbacks" in doc else None


_CYCLIC = re.compile(r"\bdmaengine_prep_dma_cyclic\s*\(|\bdevice_prep_dma_cyclic\b|"
                     r"snd_dmaengine_pcm|\bdmaengine_pcm_")


def join(k: Kernel, res: Result, doc: dict) -> tuple[list[dict], dict[str, ServeInfo]]:
    """For every client callback: the providers that may run it and what each
    would do with its flag (prep flags) or its completion."""
    cbs = doc.get("callbacks", [])
    files = _client_files(doc)
    si = serving(k, files, res) if files else {}
    cyc: dict[str, bool] = {}
    out = []
    for c in cbs:
        sites = c.get("sites") or [{"file": c["file"], "function": ""}]
        cyclic = False
        provs: set[str] = set()
        bases = set()
        for s in sites:
            f = s["file"]
            if f not in si:
                continue
            provs |= set(si[f].providers)
            bases.add(si[f].basis)
            # (the file, not the function: a helper may prep for it)
            if f not in cyc:
                cyc[f] = bool(_CYCLIC.search(_read(k, f)))
            cyclic = cyclic or cyc[f]
        rows = []
        for pid in sorted(provs):
            p = res.providers[pid]
            b = bare_completion(res, pid, cyclic)
            rows.append({"provider": p["name"], "delivery": p["delivery"]["method"],
                         "completes_from": p["delivery"]["completes_from"],
                         "delivers_from": p["delivery"]["delivers_from"],
                         "flag": p["prep_flags"]["value"], "completion": b["value"]})
        out.append({
            "file": c.get("file"), "callback": c.get("callback"),
            "defined_in": c.get("defined_in"), "action": c.get("action"),
            "cyclic": cyclic, "basis": sorted(bases),
            "providers": rows,
            "completion_signalled": (all(r["completion"] == "all-paths" for r in rows)
                                     if rows else None),
            "flag_reaches_tx": _flag_summary(rows),
        })
    return out, si


def _flag_summary(rows: list[dict]) -> str:
    if not rows:
        return "unknown"
    vals = {r["flag"] for r in rows}
    if vals == {"yes"}:
        return "all"
    if "yes" in vals or "some" in vals:
        return "some"
    return "none"


def _client_files(doc: dict | None) -> list[str]:
    if not doc:
        return []
    cbs = doc.get("callbacks", [])
    return sorted({s["file"] for c in cbs for s in c.get("sites", [])} |
                  {c["file"] for c in cbs if c.get("file")})


def run(k: Kernel, out_root: Path | None = None, jobs: int = 2, use_cache: bool = True,
        callbacks: Path | None = None) -> int:
    """The providers audit of k: <out_root>/<release>/providers.{json,csv,md},
    joined with the client audit's callbacks.json of the same directory (or
    callbacks) when there is one.

    (The package's run() answers an unchanged rerun from the cache.)"""
    t0 = time.monotonic()
    out_root = reports_dir(out_root)
    outdir = out_root / k.release
    cbpath = callbacks or outdir / "callbacks.json"
    odir = _output_cache(k, cbpath)
    clean = not factsmod.changed_files(k)
    doc = read_callbacks(cbpath)
    res = audit(k, jobs, use_cache, clients=_client_files(doc))
    joined, si = join(k, res, doc) if doc else ([], {})
    output.write(outdir, k, res, joined, si, cbpath if doc else None)
    if clean:
        odir.mkdir(parents=True, exist_ok=True)
        for n in _OUTPUTS:
            shutil.copyfile(outdir / n, odir / n)
    info(f"providers: {len(res.providers)} providers -> {outdir} "
         f"({time.monotonic() - t0:.1f}s)")
    return 0

