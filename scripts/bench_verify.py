#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark the verify stage's compile test against the floor.

  floor   one plain `make -k -j2 W=1 <objects>` in the converted tree's
          prepared build directory, right after `touch`ing the objects'
          sources there: exactly the compiles a verify run must do when the
          convert stage has rewritten those files.  (`touch` rather than a
          fresh copy of the build directory: a copy would also rebuild
          everything that depends on the copy's new mtimes, and we want
          the cost of the N objects, nothing else.)
  verify  `touch` again, then kbuild.verify_builds() on the same files: the
          same compiles plus the line proof (a .i for files whose changed
          lines sit under an #if), the in_config answers (cached), the base
          results (cached: no base make at all), output attribution and
          bookkeeping.
"Changed lines": the bench worktree changes no driver, so each file's
dmaengine prep calls and callback assignments stand in for them (that is
where the convert stage edits): the real mix of top-level lines and lines
under #ifdef, so the proof costs what it costs on a real conversion.
Target: verify <= 1.5 x floor, after the one-time prepare and base build
(run once first, reported as "cold").

The converted tree: --conv WORKTREE, or by default a detached worktree of
the base tree with the helper-API patches applied, made once in the cache.
Files: --files, or by default every audit candidate file (facts.candidates)
that the first architecture's allmodconfig builds.  Only the source mtimes
of the converted tree are touched; the base tree is never written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dmacb_lib import facts, kbuild, kernel, verify, worktree  # noqa: E402
from dmacb_lib.util import PROJECT, cache_dir       # noqa: E402


def bench_worktree(k: kernel.Kernel) -> Path:
    """base HEAD + patches/api/<major.minor> (or 6.12), made once."""
    wt = cache_dir() / "bench-verify" / k.release / "wt"
    mm = ".".join(k.release.split(".")[:2])
    pdir = PROJECT / "patches" / "api" / mm
    if not pdir.is_dir():
        pdir = PROJECT / "patches" / "api" / "6.12"
    patches = sorted(pdir.glob("*.patch"))
    want = k.head + " " + hashlib.sha1(
        b"".join(p.read_bytes() for p in patches)).hexdigest()
    env = {**os.environ, "GIT_COMMITTER_NAME": "dmacb", "GIT_COMMITTER_EMAIL": "dmacb@localhost"}

    def populate(wt: Path) -> None:
        subprocess.run(["git", "-C", str(wt), "am", "-q", *map(str, patches)], check=True,
                       env=env)
    return worktree.scratch_worktree(k, wt, want, populate)


PROXY = re.compile(r"dmaengine_prep_\w+\s*\(|(->|\.)\s*callback(_result)?\s*=[^=]")


def proxy_lines(tree: Path, files: list[str]) -> dict[str, list[int]]:
    """Where convert would edit: prep calls and callback assignments."""
    return {f: [n for n, line in enumerate((tree / f).read_text(errors="replace")
                                            .split("\n"), 1) if PROXY.search(line)]
            for f in files}


def cpu() -> float:
    """CPU seconds of this process and its waited-for children.  On a
    shared 2-core machine wall times swing with the other users' load;
    CPU time hardly does, so the ratio is printed for both."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def touch(tree: Path, files: list[str]) -> None:
    now = time.time()
    for f in files:
        os.utime(tree / f, (now, now))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or None)
    ap.add_argument("--conv", help="converted worktree (default: base + API patches)")
    ap.add_argument("--files", nargs="*", help="relative .c files (default: candidates)")
    ap.add_argument("--arch", default="x86_64")
    ap.add_argument("--limit", type=int, default=0, help="only the first N files")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--all-i", action="store_true",
                    help="worst case: a .i and its proof for every file, as if every "
                         "changed line sat under an #if")
    ap.add_argument("--stage", action="store_true",
                    help="the whole 'dmacb verify' stage (rerun, checkpatch, builds, "
                         "checker) on the convert branch against the floor: one batched "
                         "make per build directory of the same objects, on the convert "
                         "branch the committed references describe (their verify.json "
                         "gives each file's architecture; the bench verifies into a "
                         "reports directory of its own)")
    ap.add_argument("--llvm", action="store_true",
                    help="with --stage: the LLVM=1 build directories (dmacb verify --llvm)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)     # figures as they come, also in a log
    if args.stage:
        return stage(args)

    if args.all_i:
        kbuild.top_level_only = lambda text, changed: None     # type: ignore[assignment]
    k = kernel.resolve(args.kernel)
    conv = Path(args.conv).resolve() if args.conv else bench_worktree(k)
    # the bench's own worktree must not take the convert stage's build dir
    tags = (verify.base_tag(k.path), verify.conv_tag(conv) if args.conv else "conv-bench")
    files = args.files or facts.candidates(k)
    # only what the chosen configuration builds: the floor is one make
    t = time.monotonic()
    bdir = kbuild.prepare(k.path, k.release, args.arch, tag=tags[0])
    cdir = kbuild.prepare(conv, k.release, args.arch, tag=tags[1])
    files = [f for f, ok in kbuild.in_config(bdir, files).items() if ok]
    if args.limit:
        files = files[:args.limit]
    t_prep = time.monotonic() - t
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores; other users make every "
          f"figure noisy)")
    print(f"{len(files)} objects on {kbuild.config_label(kbuild.arch_spec(args.arch))}; "
          f"prepare + in_config {t_prep:.1f}s (0 when already prepared)")

    lines = proxy_lines(conv, files) if not args.conv else dict.fromkeys(files)
    under_if = sum(1 for f in files if lines[f] is not None and kbuild.top_level_only(
        (conv / f).read_text(errors="replace"), lines[f]) is None)
    print(f"{under_if} of them with a changed line under #if (these get a .i)")

    def verify() -> tuple[float, float]:
        t, c = time.monotonic(), cpu()
        res = kbuild.verify_builds(k.path, conv, k.release, lines, arches=(args.arch,),
                                   tags=tags, progress=False)
        dt, dc = time.monotonic() - t, cpu() - c
        bad = [f for f, r in res.items() if not r["compile_tested"] or not r["conv_ok"]]
        if bad:
            print(f"  note: {len(bad)} file(s) not built OK in the converted tree, "
                  f"e.g. {bad[:3]}")
        return dt, dc

    t_cold, _ = verify()
    print(f"first   {t_cold:7.1f}s  verify_builds with the caches as they were (one-time: "
          f"builds what they lack, base and/or conv)")
    floors, verifies, floors_cpu, verifies_cpu = [], [], [], []
    objs = [kbuild.obj_of(f) for f in files]
    st = kbuild._stamp_of(cdir)
    for i in range(args.repeat):
        touch(conv, files)
        t, c = time.monotonic(), cpu()
        r = subprocess.run(["make", "-C", str(cdir), *st["make_args"], "-k", "-j2",
                            "--no-print-directory", *kbuild.DEFAULT_EXTRA, *objs],
                           capture_output=True, text=True,
                           env={**os.environ, "LC_ALL": "C", "MAKEFLAGS": ""})
        floors.append(time.monotonic() - t)
        floors_cpu.append(cpu() - c)
        print(f"floor   {floors[-1]:7.1f}s  (cpu {floors_cpu[-1]:6.1f}s, load "
              f"{os.getloadavg()[0]:.1f})  make -k -j2 W=1 <{len(objs)} objects> "
              f"(rc {r.returncode})")
        touch(conv, files)
        dt, dc = verify()
        verifies.append(dt)
        verifies_cpu.append(dc)
        print(f"verify  {dt:7.1f}s  (cpu {dc:6.1f}s, load {os.getloadavg()[0]:.1f})  "
              f"verify_builds after touch (base cached)")
    t_noop, _ = verify()
    print(f"no-op   {t_noop:7.1f}s  verify_builds again, nothing changed")
    f, v = statistics.median(floors), statistics.median(verifies)
    fc, vc = statistics.median(floors_cpu), statistics.median(verifies_cpu)
    print(f"ratio   {v / f:7.2f}   verify / floor, wall (target <= 1.5); "
          f"cpu {vc / fc:.2f}")
    return 0 if v <= 1.5 * f else 1


def run_verify(k: kernel.Kernel, what: str, out: Path) -> float:
    """dmacb verify into the bench's own reports directory (never the
    project's references); a run that did not verify stops the bench."""
    t, c = time.monotonic(), cpu()
    r = subprocess.run([str(Path(__file__).resolve().parent / "dmacb"), "verify",
                        "--kernel", str(k.path), "--out", str(out),
                        *(["--llvm"] if kbuild.LLVM else [])],
                       capture_output=True, text=True)
    dt, dc = time.monotonic() - t, cpu() - c
    if r.returncode not in (0, 1):
        sys.exit(f"bench-verify: dmacb verify failed (rc {r.returncode}): "
                 f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
    parts = [ln.split("verify: ", 1)[1] for ln in r.stderr.splitlines()
             if "verify: " in ln and "(" in ln]
    print(f"verify  {dt:7.1f}s  {what} (cpu {dc:.0f}s; rc {r.returncode}; "
          f"load {os.getloadavg()[0]:.1f})")
    for p in parts:
        print(f"          {p}")
    return dt


def stage(args) -> int:
    """Whole verify stage vs the floor, after touching the converted files
    (so every converted object really rebuilds) and with the caches of the
    rerun, checkpatch and checker results emptied: the first verify of a new
    conversion.  Base-tree builds stay cached, as in real use.  Then once
    more with nothing changed (the caches' and make's incremental case)."""
    import json
    import shutil
    from dmacb_lib import verify
    from dmacb_lib.util import PROJECT, cache_dir
    k = kernel.resolve(args.kernel)
    kbuild.use_llvm(args.llvm)
    # the references of this tree (convert.json and the stage files verify
    # reads), verified in a directory of the bench's own
    out = cache_dir() / "bench-verify" / "out"
    shutil.rmtree(out / k.release, ignore_errors=True)
    shutil.copytree(PROJECT / "reports" / k.release, out / k.release)
    vj = json.loads((PROJECT / "reports" / k.release / "verify.json").read_text())
    if vj.get("toolchain", "gcc") != ("llvm" if args.llvm else "gcc"):
        # each file's architecture comes from a verify run with this toolchain
        run_verify(k, "first, to prepare and to know each file's architecture", out)
        vj = json.loads((out / k.release / "verify.json").read_text())
    conv = verify.branch_worktree(k, json.loads(
        (PROJECT / "reports" / k.release / "convert.json").read_text()))
    by_arch: dict[str, list[str]] = {}
    for d in vj["drivers"]:
        for f, b in d["checks"]["build"].items():
            if b.get("config"):
                arch = b["config"].split()[0]
                by_arch.setdefault(arch, []).append(f)
    files = [f for fs in by_arch.values() for f in fs]
    # the provider commits (vchan_notify_irq(), provider tasklets) are
    # verified with the clients': their objects are in the floor and the stage
    cj = json.loads((PROJECT / "reports" / k.release / "convert.json").read_text())
    pc = {r.get("commit") for r in cj.get("providers", []) + cj.get("provider_tasklets", [])
          if r["status"] == "converted"}
    prov = {f for c in cj["commits"] if c["commit"] in pc for f in c["files"]}
    print(f"load average: {os.getloadavg()[0]:.2f}; {len(files)} objects: "
          + ", ".join(f"{a} {len(fs)} ({sum(1 for f in fs if f in prov)} of providers)"
                      for a, fs in sorted(by_arch.items())))
    floors, stages = [], []
    for i in range(args.repeat):
        touch(conv, files)
        t, c = time.monotonic(), cpu()
        for arch, fs in sorted(by_arch.items()):
            cdir = kbuild.build_dir(k.release, arch, verify.conv_tag(conv))
            st = kbuild._stamp_of(cdir)
            subprocess.run(["make", "-C", str(cdir), *st["make_args"], "-k", "-j2",
                            "--no-print-directory", *kbuild.DEFAULT_EXTRA,
                            *[kbuild.obj_of(f) for f in fs]], capture_output=True,
                           env={**os.environ, "LC_ALL": "C", "MAKEFLAGS": ""})
        floors.append(time.monotonic() - t)
        print(f"floor   {floors[-1]:7.1f}s  one make -k -j2 W=1 per build directory "
              f"(cpu {cpu() - c:.0f}s; load {os.getloadavg()[0]:.1f})")
        touch(conv, files)
        for what in ("rerun", "checkpatch", "checker"):
            shutil.rmtree(cache_dir() / "verify" / what, ignore_errors=True)
        stages.append(run_verify(k, "whole stage", out))
    run_verify(k, "again, nothing changed", out)
    f, v = statistics.median(floors), statistics.median(stages)
    print(f"ratio   {v / f:7.2f}   verify stage / floor, wall (target <= 1.5)")
    return 0 if v <= 1.5 * f else 1


if __name__ == "__main__":
    sys.exit(main())
