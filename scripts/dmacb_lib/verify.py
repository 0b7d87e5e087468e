# SPDX-License-Identifier: GPL-2.0
"""verify: decide which converted drivers may go into a series.

Per driver commit of the convert branch (reports/<release>/convert.json):
  rerun     the rewrites again on the branch: they must change nothing;
  checkpatch  scripts/checkpatch.pl --strict on the commit's patch;
  build     Kbuild object before and after, W=1, on a configuration that
            really builds it, every changed line seen by the compiler
            (kbuild.py);
  checker   the C checker (checker/, libclang) with the converted file's
            real flags: parse, hardirq contract, deleted callbacks,
            completion identity.
A driver passes only if every check passes; one that could not be compiled
on any configuration is "not compile-tested" and stays out of the series
unless the user opts in (--allow-untested).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from . import (chan_notify, checker, convert, csource, dashboard, delivery, farm_cc,
               farm_check, formats, kbuild, rewrite, vchan_notify, worktree)
from .kernel import Kernel
if TYPE_CHECKING:
    from .farm import HostsFile
from .util import Progress, cache_dir, die, dmacb_digest, file_digest, info, reports_dir
from .vocab import MATRIX_RESULTS


def load_convert(k: Kernel, out_root: Path) -> dict:
    p = out_root / k.release / "convert.json"
    doc = formats.load(p, "convert")
    if doc["base_commit"] != k.head:
        die(f"{p} was made from {doc['base_commit'][:12]}, HEAD is {k.head[:12]}; "
            f"run 'make convert' again")
    return doc


def branch_worktree(k: Kernel, doc: dict) -> Path:
    wt = worktree.registered_worktree(k, doc["branch"])
    if wt is None or not wt.is_dir():
        die(f"branch {doc['branch']} has no worktree; run 'make convert' again")
    tip = worktree.git(wt, "rev-parse", "HEAD").stdout.strip()
    if tip != doc["tip"]:
        die(f"branch {doc['branch']} is at {tip[:12]} but convert.json describes "
            f"{doc['tip'][:12]}; run 'make convert' again")
    return wt


# -- the four checks ---------------------------------------------------------------

def rerun_check(k: Kernel, wt: Path, doc: dict, jobs: int,
                stats: dict | None = None) -> dict[str, str]:
    """file -> '' if the rewrites change nothing on the branch, else why.

    What one spatch run per callback would say, for less: a callback whose
    name is gone from the file's code (the completion rewrite deleted it)
    cannot be matched by any rule of its script, so it needs no run; the
    flag script runs once over every file whose code names exactly one of
    the flagged callbacks (rewrite.flag_outputs()).  A file that run
    changes, and every other file, gets one run per callback, which also
    names the culprit."""
    audit = formats.load(Path(doc["_out"]) / "callbacks.json", "callbacks")
    items, _ = convert.plan(audit["callbacks"])
    files = sorted({f for c in doc["commits"] for f in c["files"]})
    # the provider side: its handlers, per file of a converted provider
    handlers: dict[str, list[str]] = {}
    for r in doc.get("providers", []):
        if r["status"] == "converted":
            for f in r["files"]:
                handlers.setdefault(f, []).extend(r["handlers"])

    # the providers' tasklets moved onto the core's path: their script and defines
    moves: dict[str, list[list[str]]] = {}
    for r in doc.get("provider_tasklets", []):
        if r["status"] == "converted":
            for f in r["files"]:
                moves.setdefault(f, []).append(r["defines"])

    # A result depends only on the file's content, the items and the tool:
    # cached on those, so verifying an unchanged branch again runs no spatch.
    tool = file_digest([rewrite.TO_COMPLETION, rewrite.HARDIRQ_FLAG, vchan_notify.SCRIPT,
                        chan_notify.SCRIPT,
                        Path(rewrite.__file__), Path(csource.__file__)])
    cdir = cache_dir() / "verify" / "rerun"
    cdir.mkdir(parents=True, exist_ok=True)
    text = {f: (wt / f).read_text() for f in files}
    key = {f: hashlib.sha1(repr((text[f], [(it.callback, it.action, it.sites, it.completes)
                                           for it in items.get(f, [])],
                                          handlers.get(f, []), moves.get(f, []),
                                          tool)).encode()
                           ).hexdigest() for f in files}
    res: dict[str, str] = {}
    todo: dict[str, list] = {}
    names: dict[str, set[str]] = {}
    for f in files:
        hit = cdir / key[f]
        if hit.exists():
            res[f] = hit.read_text()
            if stats is not None:
                stats["reused"] = stats.get("reused", 0) + 1
            continue
        names[f] = set(rewrite.tokens(text[f]))
        todo[f] = [it for it in items.get(f, [])
                   if not (it.action == "completion" and it.callback not in names[f])]

    single = {f: its[0] for f, its in todo.items()
              if len(its) == 1 and its[0].action != "completion" and f.endswith(".c")}
    for task in (False, True):
        group = {f: it for f, it in single.items() if (it.action == "task") == task}
        cbs = {it.callback for it in group.values()}
        group = {f: it for f, it in group.items() if cbs & names[f] == {it.callback}}
        if not group:
            continue
        out = rewrite.flag_outputs({f: text[f] for f in group}, list(cbs), task=task,
                                   jobs=jobs)
        for f in group if out is not None else ():
            if out[f] == text[f]:
                todo[f] = []

    def one(f: str) -> tuple[str, str, bool]:
        for h in handlers.get(f, []):
            if f"{h}(" not in text[f]:
                continue
            try:
                new = rewrite.run_spatch(vchan_notify.SCRIPT, [f"handler={h}"], text[f],
                                         Path(f).name)
            except Exception as e:
                return f, f"spatch: {e}", False
            if new != text[f]:
                return f, f"a second run of vchan_notify_irq.cocci for {h}() changes the file", True
        for defines in moves.get(f, []):
            try:
                new = rewrite.run_spatch(chan_notify.SCRIPT, defines, text[f], Path(f).name)
            except Exception as e:
                return f, f"spatch: {e}", False
            if new != text[f]:
                return f, (f"a second run of tasklet_to_chan_notify.cocci ({defines[0]}) "
                           f"changes the file"), True
        for it in todo[f]:
            try:
                new, _ = rewrite.apply(text[f], Path(f).name, it)
            except Exception as e:
                return f, f"spatch: {e}", False       # not cached: may be transient
            if new != text[f]:
                return f, f"a second run of the rewrite for {it.callback} changes the file", True
        return f, "", True
    with ThreadPoolExecutor(max(1, jobs)) as ex:
        for f, why, keep in ex.map(one, sorted(todo)):
            res[f] = why
            if keep:
                (cdir / key[f]).write_text(why)
    return res


def checkpatch_check(wt: Path, doc: dict, jobs: int,
                     cfarm: "farm_check.CheckFarm | None" = None,
                     fresh: bool = False) -> dict[str, dict]:
    """commit -> {ok, output} of checkpatch.pl --strict on its patch.

    One checkpatch process per CPU over a share of the patches: perl's
    start-up (MAINTAINERS, spelling lists) costs more than checking a
    small patch.  With several files checkpatch prints a block per file
    ending in '<file> has no obvious style problems ...' or '<file> has
    style problems ...'.  A verdict is reused for the same patch text
    (less its 'From <sha>' line) and the same checkpatch and data files.
    cfarm: the patches go out to its hosts first; what none delivered runs
    here.  fresh: believe no recorded verdict (--rebuild)."""
    out = cache_dir() / "verify" / doc["kernel"] / f"patches-{conv_tag(wt)}"
    out.mkdir(parents=True, exist_ok=True)
    cdir = cache_dir() / "verify" / "checkpatch"
    cdir.mkdir(parents=True, exist_ok=True)
    tool = file_digest([p for p in (wt / "scripts" / n for n in (
        "checkpatch.pl", "spelling.txt", "const_structs.checkpatch", "get_maintainer.pl",
        "spdxcheck.py")) if p.exists()] + [wt / "MAINTAINERS"])
    for old in out.glob("*.patch"):
        old.unlink()
    res: dict[str, dict] = {}
    paths, keys = {}, {}
    for c in doc["commits"]:
        text = worktree.git(wt, "format-patch", "-1", "--stdout", c["commit"]).stdout
        key = hashlib.sha1(repr((text.split("\n", 1)[-1], tool)).encode()).hexdigest()
        hit = cdir / f"{key}.json"
        if hit.exists() and not fresh:
            res[c["commit"]] = dict(json.loads(hit.read_text()), cached=True)
            continue
        p = out / f"{c['commit'][:12]}.patch"
        p.write_text(text)
        paths[str(p)] = c["commit"]
        keys[c["commit"]] = key
    files = sorted(paths)

    def read(text: str) -> None:
        block: list[str] = []
        for line in text.splitlines():
            block.append(line)
            for f in files:
                if line.startswith(f + " has "):
                    ok = "has no obvious style problems" in line
                    res[paths[f]] = {"ok": ok, "output": "" if ok else
                                     "\n".join(block).strip()[-2000:]}
                    (cdir / f"{keys[paths[f]]}.json").write_text(json.dumps(res[paths[f]]))
                    block = []
    if cfarm is not None and files:
        text, left = cfarm.checkpatch([Path(f) for f in files])
        read(text)
        files_here = sorted(str(p) for p in left)
        cfarm.ran_here("checkpatch", [p.name for p in left])
    else:
        files_here = files
    n = max(1, min(jobs, len(files_here)))
    chunks = [files_here[i::n] for i in range(n)]

    def one(chunk: list[str]) -> str:
        r = subprocess.run(["./scripts/checkpatch.pl", "--strict", "--no-color", *chunk],
                           cwd=wt, capture_output=True, text=True)
        return r.stdout
    with ThreadPoolExecutor(n) as ex:
        for text in ex.map(one, [c for c in chunks if c]):
            read(text)
    for c in doc["commits"]:
        res.setdefault(c["commit"], {"ok": False, "output": "checkpatch gave no verdict"})
    return res


def plan_rows(doc: dict) -> list[tuple]:
    rows: list[tuple] = []
    for r in doc["callbacks"]:
        if r["status"] != "converted":
            continue
        if r["action"] == "hardirq":
            # rules 3 and 6 as the audit judged them: unlocked only where
            # every provider serving the driver delivers with no lock held
            rows.append(("hardirq", r["defined_in"] or r["file"], r["callback"],
                         "unlocked" if r.get("locked") is False else "locked"))
        elif r["action"] == "completion":
            rows.append(("completion", r["file"],
                         r["callback"] if r.get("deleted") else None,
                         r.get("completion_struct"), r.get("completion_field")))
    for r in doc.get("providers", []):
        # a provider's desc_result hook, which vchan_notify_irq() runs in
        # hard IRQ with no lock held (vchan_notify.hook_problems())
        if r["status"] == "converted":
            rows.extend(("hardirq", f, fn, "unlocked") for f, fn in r.get("hooks", []))
    return rows


def provider_rows(k: Kernel, doc: dict, jobs: int) -> list[tuple]:
    """Rule 8 for the checker: for each file converted to a completion, one
    row per provider that may serve it, with its bare completion (the
    providers audit of the base tree, with the API series' fixes).  None in
    a tree without providers: the checker then does not judge rule 8."""
    files = sorted({r["file"] for r in doc["callbacks"]
                    if r["status"] == "converted" and r["action"] == "completion"})
    if not files:
        return []
    deliv = delivery.for_tree(k, jobs, files)
    if not deliv.judged():
        return []
    return [("provider", f, p.id, p.bare) for f in files
            for p in deliv.serving([f]).providers]


def tree_tag(src: Path) -> str:
    """What names a source tree's build directories: a digest of its
    resolved path.  Build directories of one release are kept per tree,
    not shared: a directory built from another tree would be wiped and
    rebuilt at each switch (kbuild.prepare()), so two trees of one release
    verified one after the other would keep rebuilding each other's
    objects.  What does not depend on the tree (the base results, keyed
    on the base commit) stays shared."""
    return hashlib.sha1(str(Path(src).resolve()).encode()).hexdigest()[:8]


def conv_tag(wt: Path) -> str:
    """Build directories of the converted tree (convert's worktree, or any
    other); '-llvm' when building with LLVM=1."""
    return f"conv-{tree_tag(wt)}" + ("-llvm" if kbuild.LLVM else "")


def base_tag(src: Path) -> str:
    """Build directories of the user's tree the conversion is compared with."""
    return f"base-{tree_tag(src)}" + ("-llvm" if kbuild.LLVM else "")


def compile_db(wt: Path, kernel: str, arch: str) -> Path | str:
    """compile_commands.json of the converted tree's build directory for
    `arch` (the one the Kbuild test just used: no second build).  With
    LLVM=1 that is clang's own command.  With gcc, a cross gcc becomes
    'clang --target=<triplet>' so that libclang parses the arch's headers
    (inline asm names its registers), and the checker drops the gcc-only
    flags.  Returns the directory, or why there is none."""
    bdir = kbuild.build_dir(kernel, arch, conv_tag(wt))
    dbdir = cache_dir() / "verify" / kernel / f"db-{conv_tag(wt)}-{arch}"
    dbdir.mkdir(parents=True, exist_ok=True)
    db = dbdir / "compile_commands.json"
    r = subprocess.run([sys.executable, "scripts/clang-tools/gen_compile_commands.py",
                        "-d", str(bdir), "-o", str(db)], cwd=wt, capture_output=True, text=True)
    if r.returncode != 0:
        return f"no compile database for {arch}: {r.stderr.strip()[-200:]}"
    entries = json.loads(db.read_text())
    for e in entries:
        cc, _, rest = e["command"].partition(" ")
        if cc.endswith("-gcc"):
            e["command"] = f"clang --target={Path(cc).name[:-len('-gcc')]} {rest}"
    db.write_text(json.dumps(entries))
    return dbdir


def checker_key(wt: Path) -> str:
    """What a checker result depends on besides the file's own build inputs
    (kbuild.object_inputs()): the checker binary and its knowledge base,
    libclang, and the tree's headers as clang sees them (clang reads a few
    that gcc's dependency list cannot name, e.g. compiler-clang.h)."""
    binary = checker.ensure_binary()
    lib = Path("/usr/lib/llvm-14/lib/libclang-14.so.1").resolve()
    st = lib.stat() if lib.exists() else None
    trees = worktree.git(wt, "rev-parse", "HEAD:include", "HEAD:arch").stdout.split()
    dirty = worktree.git(wt, "status", "--porcelain", "--untracked-files=no").stdout
    return repr((file_digest([binary, *sorted(checker.KB.glob("*.tsv"))]), str(lib),
                 st and (st.st_size, st.st_mtime_ns), trees, dirty))


def checker_check(wt: Path, doc: dict, arch_of: dict[str, str], jobs: int,
                  via: dict[str, str] | None = None, extra: list[tuple] = (),
                  cfarm: "farm_check.CheckFarm | None" = None, fresh: bool = False) -> dict:
    """file -> the checker's entry, each file parsed with the flags of the
    configuration that compile-tested it.  A header is checked in the .c
    file it was compiled through (`via`): its plan items move there, so
    a callback or completion that lives in the header itself is reported
    missing (the checker only follows the main file), never passed.

    A file's entry is reused when nothing it was parsed from changed (its
    Kbuild inputs, see checker_key()): verifying the branch again after
    converting one more driver parses one file, not all.  cfarm: the
    files go out to its hosts first (each with its configuration's
    database and headers); what none delivered is parsed here.  fresh:
    believe no recorded entry (--rebuild)."""
    out: dict[str, dict] = {}
    via = via or {}
    rows = [(r[0], via.get(r[1], r[1]), *r[2:]) for r in plan_rows(doc) + list(extra)]
    prog = Progress("checker", len(arch_of))
    cdir = cache_dir() / "verify" / "checker"
    cdir.mkdir(parents=True, exist_ok=True)
    common = checker_key(wt)            # one git status, not one per arch
    memo: dict = {}                     # header digests, shared by the arches
    for arch in sorted(set(arch_of.values())):
        files = sorted(f for f, a in arch_of.items() if a == arch)
        bdir = kbuild.build_dir(doc["kernel"], arch, conv_tag(wt))
        keys = {}
        for f in files:
            inputs = kbuild.object_inputs(bdir, f, memo)
            if inputs is None:
                continue
            mine = [r for r in rows if r[1] == f]
            keys[f] = hashlib.sha1(repr((common, arch, inputs, mine)).encode()).hexdigest()
            hit = cdir / f"{keys[f]}.json"
            if hit.exists() and not fresh:
                out[f] = dict(json.loads(hit.read_text()), cached=True)
                prog.step(f)
        files = [f for f in files if f not in out]
        if not files:
            continue
        db = compile_db(wt, doc["kernel"], arch)
        if isinstance(db, str):
            out.update({f: {"ok": False, "skipped": db} for f in files})
            prog.step(arch, len(files))
            continue

        def keep(e: dict) -> None:
            """Cached as each file is done: an interrupted run keeps them."""
            crashed = any((x.get("message") or "").startswith("checker ") for x in
                          e.get("checks", {}).get("parse", {}).get("errors", []))
            if e["file"] in keys and not e.get("skipped") and not crashed:
                (cdir / f"{keys[e['file']]}.json").write_text(json.dumps(e))
        mine = [r for r in rows if r[1] in files]
        if cfarm is not None:
            present, _ = checker.known(db, files, wt)
            cfarm.ship_arch(arch, db, bdir, checker.plan_text(mine))
            entries, _ = cfarm.checker(arch, present, db, bdir)
            for e in entries:
                keep(e)
                out[e["file"]] = e
                prog.step(e["file"])
            files = [f for f in files if f not in out]
            if not files:
                continue
            cfarm.ran_here("checker", files)
        got = checker.run_checker(db, [r for r in mine if r[1] in files], files=files,
                                  tree=wt, jobs=jobs, progress=prog, on_entry=keep)
        out.update({e["file"]: e for e in got["files"]})
    prog.finish()
    return out


# -- the stage ------------------------------------------------------------------------

def run(k: Kernel, jobs: int, out_root: Path | None = None,
        allow_untested: bool = False, llvm: bool = False,
        hosts: "HostsFile | None" = None, matrix: bool | None = None,
        configs: list[str] | None = None, rebuild: bool = False) -> int:
    """hosts: the --hosts file (its distcc lines compile); matrix: build in
    every configuration of `configs` that builds a file (default: with
    distcc hosts; configs default to kbuild.MATRIX_ARCHES then, else
    kbuild.DEFAULT_ARCHES); rebuild: compile every object again."""
    t0 = time.monotonic()
    kbuild.use_llvm(llvm)
    ccfarm = farm_cc.CompileFarm(hosts.distcc, hosts.source) if hosts and hosts.distcc \
        else None
    if matrix is None:
        matrix = ccfarm is not None
    configs = list(configs or (kbuild.MATRIX_ARCHES if matrix else kbuild.DEFAULT_ARCHES))
    for a in configs:
        kbuild.arch_spec(a)             # an unknown name stops here
    try:
        return _run(k, jobs, out_root, allow_untested, llvm, ccfarm, matrix, configs,
                    rebuild, t0, hosts.ssh if hosts else [])
    finally:
        if ccfarm:
            ccfarm.close()


def _run(k: Kernel, jobs: int, out_root: Path | None, allow_untested: bool, llvm: bool,
         ccfarm: "farm_cc.CompileFarm | None", matrix: bool, configs: list[str],
         rebuild: bool, t0: float, ssh: list | None = None) -> int:
    out_root = reports_dir(out_root)
    doc = load_convert(k, out_root)
    doc["_out"] = str(out_root / k.release)
    wt = branch_worktree(k, doc)
    files = sorted({f for c in doc["commits"] for f in c["files"]})
    info(f"verify: {len(doc['commits'])} driver commits, {len(files)} files on "
         f"{doc['branch']}")
    stage_key = _stage_key(k, wt, doc, allow_untested, llvm, configs, matrix)
    done = None if rebuild else _stage_done(out_root / k.release, stage_key)
    if done is not None:
        info(f"verify: nothing changed since the last run (the same branch, base, tools "
             f"and dmacb): {out_root / k.release}/verify.md kept "
             f"({time.monotonic() - t0:.1f}s)")
        return done
    # the ssh hosts take the checker and checkpatch; their workspaces are
    # made while the rewrites rerun and the objects build
    cfarm = None
    if ssh and not llvm:
        cfarm = farm_check.CheckFarm(ssh, k, wt, checker.ensure_binary(), checker.KB)
        cfarm.start()
    elif ssh:
        info("farm: with --llvm the checker and checkpatch run here")
    try:
        return _stages(k, jobs, out_root, allow_untested, llvm, ccfarm, matrix, configs,
                       rebuild, t0, doc, wt, files, stage_key, cfarm)
    finally:
        if cfarm:
            cfarm.close()


def _stages(k: Kernel, jobs: int, out_root: Path, allow_untested: bool, llvm: bool,
            ccfarm: "farm_cc.CompileFarm | None", matrix: bool, configs: list[str],
            rebuild: bool, t0: float, doc: dict, wt: Path, files: list[str], stage_key: str,
            cfarm: "farm_check.CheckFarm | None") -> int:
    timings = {}

    t = time.monotonic()
    stats: dict = {}
    rerun = rerun_check(k, wt, doc, jobs, stats)
    timings["rerun"] = time.monotonic() - t
    info(f"verify: rerun of the rewrites: {sum(1 for v in rerun.values() if v)} file(s) "
         f"change ({timings['rerun']:.1f}s)")

    def checkpatch() -> dict:
        t = time.monotonic()
        cp = checkpatch_check(wt, doc, jobs, cfarm, fresh=rebuild)
        timings["checkpatch"] = time.monotonic() - t
        info(f"verify: checkpatch --strict: {sum(1 for v in cp.values() if not v['ok'])} "
             f"commit(s) with findings ({timings['checkpatch']:.1f}s)")
        return cp
    if cfarm is None:
        cp = checkpatch()

    t = time.monotonic()
    cc_env, slots = None, None
    if ccfarm:
        ccfarm.check(sorted({kbuild.arch_spec(a).cc for a in configs}))
        if ccfarm.used:
            cc_env, slots = ccfarm.env(), ccfarm.slots(kbuild.jobs())
    builds = kbuild.verify_builds(k.path, wt, doc["kernel"], files, arches=configs,
                                  tags=(base_tag(k.path), conv_tag(wt)), matrix=matrix,
                                  fresh=rebuild, cc_env=cc_env, slots=slots)
    timings["build"] = time.monotonic() - t
    info(f"verify: builds: {sum(1 for b in builds.values() if b.get('passed'))} of "
         f"{len(files)} files pass ({timings['build']:.1f}s)")
    if cfarm is not None:
        cp = checkpatch()

    t = time.monotonic()
    via = {f: b["via"] for f, b in builds.items() if b.get("via")}
    arch_of = {via.get(f, f): b.get("check_arch") or b["arch"] for f, b in builds.items()
               if b.get("conv_ok") and b.get("arch")}
    chk = checker_check(wt, doc, arch_of, jobs, via, provider_rows(k, doc, jobs), cfarm,
                        fresh=rebuild)
    timings["checker"] = time.monotonic() - t
    if ccfarm or cfarm:
        _farm_note(out_root / k.release, ccfarm, cfarm)
    else:
        for f in (FARM_NOTE, FARM_LOG):                                 # of an earlier run
            (out_root / k.release / f).unlink(missing_ok=True)
    info(f"verify: checker: {sum(1 for e in chk.values() if e.get('ok'))} of {len(chk)} "
         f"files pass ({timings['checker']:.1f}s)")

    reused = {"rerun": (stats.get("reused", 0), len(rerun)),
              "checkpatch": (sum(1 for v in cp.values() if v.get("cached")), len(cp)),
              "checker": (sum(1 for v in chk.values() if v.get("cached")), len(chk))}
    drivers = []
    for c in doc["commits"]:
        d = {"commit": c["commit"], "subject": c["subject"], "files": c["files"],
             "checks": {}, "reasons": []}
        # cache hits are of this run (verify.md counts them), as for the checker
        d["checks"]["checkpatch"] = {x: v for x, v in cp[c["commit"]].items() if x != "cached"}
        if not cp[c["commit"]]["ok"]:
            d["reasons"].append("checkpatch --strict has findings")
        for f in c["files"]:
            d["checks"].setdefault("rerun", {})[f] = rerun[f] or "no change"
            if rerun[f]:
                d["reasons"].append(f"{f}: {rerun[f]}")
            b = builds.get(f, {})
            d["checks"].setdefault("build", {})[f] = {x: b.get(x) for x in (
                "config", "configs", "check_arch", "via", "compile_tested", "base_ok",
                "conv_ok", "new_warnings", "lines_seen", "lines_unseen", "passed", "reason")}
            if matrix:
                d["checks"]["build"][f]["matrix"] = b.get("matrix", {})
            if not b.get("compile_tested"):
                d.setdefault("untested", []).append(f"{f}: {b.get('reason', 'not built')}")
            elif not b.get("passed"):
                d["reasons"].append(f"{f}: build: {b.get('reason') or 'failed'}")
            e = chk.get(via.get(f, f))
            if e is None:
                d["checks"].setdefault("checker", {})[f] = {
                    "ok": None, "skipped": "the file was not built: nothing to check"}
            else:
                # wall time and cache hits are of this run (verify.md has
                # them); verify.json holds only what was found
                d["checks"].setdefault("checker", {})[f] = {
                    x: v for x, v in e.items() if x not in ("seconds", "cached")}
                if not e.get("ok"):
                    bad = [n for n, v in e.get("checks", {}).items() if not v.get("ok")]
                    d["reasons"].append(f"{f}: checker: {', '.join(bad) or e.get('skipped')}")
        if d["reasons"]:
            d["verdict"] = "fail"
        elif d.get("untested"):
            d["verdict"] = "pass" if allow_untested else "not-compile-tested"
        else:
            d["verdict"] = "pass"
        drivers.append(d)

    total = time.monotonic() - t0
    report = {"kernel": doc["kernel"], "branch": doc["branch"], "tip": doc["tip"],
              "base_commit": doc["base_commit"], "allow_untested": allow_untested,
              "toolchain": "llvm" if llvm else "gcc",
              "drivers": drivers}
    if matrix:
        report["matrix"] = configs
    elif configs != list(kbuild.DEFAULT_ARCHES):
        report["configs"] = configs
    write_reports(out_root / k.release, report, timings, total, reused)
    dashboard.write(out_root / k.release, k.path)
    n = {v: sum(1 for d in drivers if d["verdict"] == v)
         for v in ("pass", "fail", "not-compile-tested")}
    info(f"verify: {n['pass']} pass, {n['fail']} fail, {n['not-compile-tested']} not "
         f"compile-tested -> {out_root / k.release}/verify.md ({total:.1f}s)")
    rc = 0 if n["fail"] == 0 else 1
    _stage_put(out_root / k.release, stage_key, rc)
    return rc


FARM_NOTE = "verify-farm.json"
FARM_LOG = "verify-farm.log"        # distcc's own log: why a host was left


def _farm_note(outdir: Path, ccfarm: "farm_cc.CompileFarm | None",
               cfarm: "farm_check.CheckFarm | None" = None) -> None:
    """Who compiled, checked and ran checkpatch on what: stderr and
    verify-farm.json; verify.json holds only what was found, the same with
    or without a farm."""
    outdir.mkdir(parents=True, exist_ok=True)
    doc: dict = {}
    if ccfarm is not None:
        where = ccfarm.read_log()
        for ln in ccfarm.summary():
            info(ln)
        if ccfarm.log.exists():
            shutil.copyfile(ccfarm.log, outdir / FARM_LOG)
        doc = {**ccfarm.to_json(), "hosts_file": ccfarm.source,
               "compiled": dict(sorted(where.items()))}
    else:
        (outdir / FARM_LOG).unlink(missing_ok=True)
    if cfarm is not None:
        for ln in cfarm.summary():
            info(ln)
        doc["checks"] = cfarm.to_json()
    formats.write(outdir / FARM_NOTE, "verify-farm", doc, sort_keys=True)


def _stage_key(k: Kernel, wt: Path, doc: dict, allow_untested: bool, llvm: bool,
               configs: list[str] | None = None, matrix: bool = False) -> str:
    """What a whole verify run depends on: the branch and its base (their
    commits, and that neither tree has uncommitted changes), convert.json,
    dmacb's own code, SmPL and knowledge base, the checker and the
    compilers.  The same key: the same verify.json."""
    dirty = [worktree.git(t, "status", "--porcelain", "--untracked-files=no").stdout
             for t in (k.path, wt)]
    configs = list(configs or kbuild.DEFAULT_ARCHES)
    ccs = [kbuild.cc_version(kbuild.arch_spec(a)) for a in configs]
    code = dmacb_digest([checker.ensure_binary(), *checker.KB.glob("*.tsv")])
    stable = {x: v for x, v in doc.items() if not x.startswith("_")}
    how = () if configs == list(kbuild.DEFAULT_ARCHES) and not matrix else (configs, matrix)
    return hashlib.sha256(repr((k.head, doc["tip"], dirty, ccs, code, allow_untested, llvm,
                                json.dumps(stable, sort_keys=True), *how)).encode()).hexdigest()


def _stage_file(outdir: Path) -> Path:
    return cache_dir() / "verify" / "stage" / (
        hashlib.sha1(str(outdir.resolve()).encode()).hexdigest() + ".json")


def _stage_done(outdir: Path, key: str) -> int | None:
    """The exit code of the last run, if it had this key and its verify.json
    is still the one it wrote; else None."""
    try:
        rec = json.loads(_stage_file(outdir).read_text())
        vj = (outdir / "verify.json").read_bytes()
    except (OSError, ValueError):
        return None
    if rec.get("key") != key or rec.get("verify_json") != hashlib.sha256(vj).hexdigest():
        return None
    return rec["rc"]


def _stage_put(outdir: Path, key: str, rc: int) -> None:
    p = _stage_file(outdir)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"key": key, "rc": rc, "verify_json": hashlib.sha256(
        (outdir / "verify.json").read_bytes()).hexdigest()}))


def write_reports(outdir: Path, report: dict, timings: dict, total: float,
                  reused: dict[str, tuple[int, int]]) -> None:
    formats.write(outdir / "verify.json", "verify", report, sort_keys=True)
    L = [f"# dmacb verify: Linux {report['kernel']}", "",
         f"Branch `{report['branch']}` at `{report['tip'][:12]}`.  Wall time "
         f"{total:.0f} s (rerun {timings['rerun']:.0f} s, checkpatch "
         f"{timings['checkpatch']:.0f} s, builds {timings['build']:.0f} s, checker "
         f"{timings['checker']:.0f} s)" + (
             "; reused from earlier runs with the same inputs: " + ", ".join(
                 f"{what} {n} of {m}" for what, (n, m) in reused.items() if n)
             if any(n for n, _ in reused.values()) else "") + ".", "",
         "| verdict | drivers |", "|---|---:|"]
    for v in ("pass", "fail", "not-compile-tested"):
        L.append(f"| {v} | {sum(1 for d in report['drivers'] if d['verdict'] == v)} |")
    L += ["", "One row per file of a driver commit; each check: `ok`, `FAIL` (why: last "
          "column), `-` (not run: the file was not built).", "",
          "| driver | verdict | rerun | checkpatch | build | config | lines seen | checker "
          "| why |", "|---|---|---|---|---|---|---|---|---|"]
    for d in report["drivers"]:
        cp = "ok" if d["checks"]["checkpatch"]["ok"] else "FAIL"
        for f in d["files"]:
            b = d["checks"]["build"][f]
            c = d["checks"]["checker"][f]
            rr = "ok" if d["checks"]["rerun"][f] == "no change" else "FAIL"
            bs = ("-" if not b.get("compile_tested") else "ok" if b.get("passed") else "FAIL")
            cs = "-" if c.get("ok") is None else "ok" if c.get("ok") else "FAIL"
            unseen = b.get("lines_unseen") or []
            seen = f"{b.get('lines_seen') or 0}" + (f" (unseen: {unseen})" if unseen else "")
            why = "; ".join(d["reasons"] + d.get("untested", [])).replace("|", "/")
            conf = ("; ".join(b.get("configs") or []) or "-") + (
                f", through {b['via']}" if b.get("via") else "")
            L.append(f"| {f} | {d['verdict']} | {rr} | {cp} | {bs} | {conf} "
                     f"| {seen} | {cs} | {why} |")
    if report.get("matrix"):
        L += matrix_md(report)
    (outdir / "verify.md").write_text("\n".join(L) + "\n")


def matrix_md(report: dict) -> list[str]:
    """verify --matrix: each file in each configuration that builds it."""
    cols = report["matrix"]
    L = ["", "## Configuration matrix", "",
         "Each file in every configuration of the list that builds it (allmodconfig of "
         "each architecture, x86_64-yes the x86_64 allyesconfig; Kbuild itself says "
         "which build the object).  `ok`: builds, "
         "no new diagnostic; `ok*`: base and converted fail alike (W=1 warnings that "
         "CONFIG_WERROR makes errors; compared); `ok-`: builds, none of the changed lines "
         "in this configuration; `WARN`: new diagnostics; `FAIL`: does not build; `.`: "
         "the configuration does not build the file.", "",
         "| file | " + " | ".join(cols) + " | configs |",
         "|---|" + "---|" * len(cols) + "---:|"]
    per = {c: 0 for c in cols}
    for d in report["drivers"]:
        for f in d["files"]:
            m = d["checks"]["build"][f].get("matrix") or {}
            for c in m:
                per[c] = per.get(c, 0) + 1
            L.append(f"| {f} | " + " | ".join(MATRIX_RESULTS.get(m.get(c, ""), ".")
                                              for c in cols) + f" | {len(m)} |")
    L.append("| files built | " + " | ".join(str(per[c]) for c in cols) + " | |")
    return L
