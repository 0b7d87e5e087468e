#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Benchmark verify's compile farm: the verify stage with 0, 1, 2 and 3
distcc hosts on loopback (127.0.0.2-4), each run with --rebuild so that
every object is compiled again.

On one machine the hosts bring no cores of their own: the figures show the
farm's overhead (preprocessing here, the transfers, distcc's scheduling),
not a speed-up.  They also measure what a model of a real farm needs, per
compiled object: the whole CPU cost (the 0-host run, every CPU second of
the machine counted from /proc/stat, so the daemons' compiles count too),
the part that stays here (the CPU of verify's own process tree: make,
distcc, the preprocessing, the checker; not the daemons, which this script
started) and the bytes sent and received.  README ("Farm") turns them into verify time against host
count.

The drivers: the first --files driver commits of the convert branch whose
file x86_64 builds (the committed reference verify.json says which), on
--configs (default x86_64), without --matrix: the same objects in every
run.  The convert run's outputs go to the cache (bench-farm/), never to
reports/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dmacb_lib import kernel                          # noqa: E402
from dmacb_lib.util import PROJECT, cache_dir          # noqa: E402

DMACB = PROJECT / "scripts" / "dmacb"
ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def cpu_seconds() -> float:
    """Every CPU second this machine spent (user, nice, system), all processes."""
    f = open("/proc/stat").readline().split()
    return (int(f[1]) + int(f[2]) + int(f[3])) / os.sysconf("SC_CLK_TCK")


def cpu_here() -> float:
    """CPU seconds of the children this script has waited for: a dmacb
    run and all it ran, not the distccd daemons (still running)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def dmacb(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DMACB_HOSTS": "", "KERNEL": "", "KVER": ""}
    return subprocess.run([str(DMACB), *args], env=env, text=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=str(PROJECT / "kernel-tree"))
    ap.add_argument("--files", type=int, default=24, help="driver commits (default 24)")
    ap.add_argument("--configs", default="x86_64")
    ap.add_argument("--hosts-max", type=int, default=3, choices=(1, 2, 3))
    ap.add_argument("--slots", type=int, default=2, help="distccd --jobs of each host")
    a = ap.parse_args()

    from farm_distccd import Distccd
    k = kernel.resolve(a.kernel)
    work = cache_dir() / "bench-farm"
    out = work / "out"
    r = dmacb("convert", "--kernel", str(k.path), "--out", str(out))
    if r.returncode:
        print(r.stderr, file=sys.stderr)
        return 1
    ref = json.loads((PROJECT / "reports" / k.release / "verify.json").read_text())
    x86 = [d["commit"] for d in ref["drivers"] if len(d["files"]) == 1 and
           (d["checks"]["build"][d["files"][0]].get("config") or "").startswith("x86_64")]
    cj = out / k.release / "convert.json"
    doc = json.loads(cj.read_text())
    subj = {d["commit"]: d["subject"] for d in ref["drivers"]}
    want = {subj[c] for c in x86}
    commits = [c for c in doc["commits"] if c["subject"] in want][:a.files]
    files = {f for c in commits for f in c["files"]}
    doc = {**doc, "commits": commits,
           "callbacks": [x for x in doc["callbacks"] if x["file"] in files]}
    base_doc = json.dumps(doc)
    print(f"bench-farm: {len(commits)} driver commits on {a.configs}, Linux {k.release}; "
          f"distccd --jobs {a.slots} on {' '.join(ADDRS[:a.hosts_max])} (loopback)")

    tmp = Path(tempfile.mkdtemp(prefix="dmacb-bench-farm-"))
    d = Distccd(tmp / "distccd")
    rows = []
    try:
        for addr in ADDRS[:a.hosts_max]:
            d.start(addr, a.slots)
        # a first, unmeasured run without hosts: the stages around the
        # builds (rerun, checker) then start warm in every measured run
        for n in [0, *range(a.hosts_max + 1)]:
            warmup = not rows and not (tmp / "out-0").exists()
            rdir = tmp / f"out-{n}"
            shutil.rmtree(rdir, ignore_errors=True)
            shutil.copytree(out / k.release, rdir / k.release)
            (rdir / k.release / "convert.json").write_text(base_doc)
            args = ["verify", "--kernel", str(k.path), "--out", str(rdir), "--rebuild",
                    "--no-matrix", "--configs", a.configs]
            if n:
                hf = tmp / f"hosts-{n}"
                hf.write_text("".join(f"distcc {d.spec(x, a.slots)}\n" for x in ADDRS[:n]))
                args += ["--hosts", str(hf)]
            c0, h0, t0 = cpu_seconds(), cpu_here(), time.monotonic()
            r = dmacb(*args)
            wall, cpu, here = time.monotonic() - t0, cpu_seconds() - c0, cpu_here() - h0
            if r.returncode not in (0, 1):
                print(r.stderr, file=sys.stderr)
                return 1
            vj = json.loads((rdir / k.release / "verify.json").read_text())
            note = {}
            if n:
                note = json.loads((rdir / k.release / "verify-farm.json").read_text())
            build = next((ln for ln in r.stderr.splitlines() if "verify: builds:" in ln), "")
            if warmup:
                print(f"  warm-up run: wall {wall:6.1f} s (not counted)", flush=True)
                continue
            rows.append({"hosts": n, "wall": wall, "cpu": cpu, "here": here, "note": note,
                         "build": build,
                         "verdicts": [x["verdict"] for x in vj["drivers"]]})
            remote = sum(h["compiles"] for h in note.get("distcc", []))
            print(f"  {n} host(s): wall {wall:6.1f} s, machine CPU {cpu:6.1f} s, verify's own "
                  f"{here:6.1f} s; "
                  f"{build.split('dmacb: ')[-1]}"
                  + (f"; remote compiles {remote}, here {note['local_compiles']}, "
                     f"sent {note['bytes_sent'] / 1e6:.1f} MB, back "
                     f"{note['bytes_received'] / 1e6:.1f} MB" if n else ""), flush=True)
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    same = all(r["verdicts"] == rows[0]["verdicts"] for r in rows)
    objs = 2 * len(files)
    last = rows[-1]["note"]
    print(f"bench-farm: verdicts {'identical' if same else 'DIFFER'} in every run; "
          f"{objs} objects (base and converted tree) a run")
    print(f"bench-farm: per object: {rows[0]['here'] / objs:.2f} CPU-s with no host, of "
          f"which {rows[-1]['here'] / objs:.2f} stay here with {rows[-1]['hosts']} host(s); "
          f"{last['bytes_sent'] / objs / 1e3:.0f} kB out, "
          f"{last['bytes_received'] / objs / 1e3:.0f} kB back")
    for r in rows[1:]:
        print(f"bench-farm: {r['hosts']} host(s) / 0 hosts: wall "
              f"{r['wall'] / rows[0]['wall']:.2f}x, CPU {r['cpu'] / rows[0]['cpu']:.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
