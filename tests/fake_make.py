#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A stand-in for Kbuild's make, for tests/test_kbuild.py (no kernel tree).

It speaks just enough of Kbuild to drive scripts/dmacb_lib/kbuild.py:
  make -C SRC O=B [ARCH=..] allmodconfig|allyesconfig|modules_prepare
  make -C B [-k] [-Otarget] [W=1] dir/x.o dir/x.i ...   (quiet lines, gcc-style
       diagnostics for lines containing 'warnme', an error for 'BROKEN',
       make's "*** [...: x.o] Error 1", up-to-date objects left alone)
  make -C B --eval=... dir/__dmacb_q.i ...              (DMACB-Q lines from
       SRC/fake-config.json: {"dir": {"y": [objs], "m": [objs]}})
x.i: a '# 1 "SRC/x.c"' linemarker, then the source with directive lines and
the bodies of '#ifdef HIDDEN' blocks (and of '#ifdef ARM64ONLY' ones
without ARCH=arm64) blank, as gcc -E does; '#include "h.h"' of a file next
to it is expanded between linemarkers.
Every call is appended to B/../fake-make.calls (goals, then [W= flags]).
"""

import json
import os
import sys
from pathlib import Path


def preprocess(c: Path, arch: str) -> list[str]:
    """c as gcc -E would leave it: linemarkers, directives blank, the
    HIDDEN/ARM64ONLY blocks blank, '#include "x.h"' of a file next to it
    expanded between markers."""
    out = [f'# 1 "{c}"']
    hidden = False
    for n, line in enumerate(c.read_text().split("\n"), 1):
        s = line.strip()
        if s.startswith("#ifdef HIDDEN") or (s.startswith("#ifdef ARM64ONLY")
                                             and arch != "arm64"):
            hidden = True
        if s.startswith("#endif"):
            hidden = False
        inc = s[len("#include"):].strip().strip('"') if s.startswith('#include "') else ""
        if inc and not hidden and (c.parent / inc).exists():
            out += preprocess(c.parent / inc, arch)
            out.append(f'# {n + 1} "{c}"')
            continue
        out.append("" if hidden or s.startswith("#") else line)
    return out


def main() -> int:
    args = sys.argv[1:]
    cdir = None
    out_dir = None
    goals = []
    arch = "x86_64"
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-C":
            cdir = Path(args[i + 1])
            i += 2
            continue
        if a.startswith("O="):
            out_dir = Path(a[2:])
        elif a.startswith("ARCH="):
            arch = a[5:]
        elif a.startswith("-") or "=" in a:
            pass
        else:
            goals.append(a)
        i += 1
    if out_dir is not None:             # prepare mode: -C SRC O=B
        src, b = cdir, out_dir
        b.mkdir(parents=True, exist_ok=True)
        (b.parent / "fake-make.calls").open("a").write(f"{b.name}: {' '.join(goals)}\n")
        if "allmodconfig" in goals or "allyesconfig" in goals:
            kconfig = (src / "Kconfig").read_text() if (src / "Kconfig").exists() else ""
            (b / ".config").write_text("CONFIG_FAKE=y\n" + kconfig)
            (b / ".fake-src").write_text(str(src))
        return 0
    b = cdir
    src = Path((b / ".fake-src").read_text())
    flags = " ".join(a for a in args if a.startswith("W="))
    (b.parent / "fake-make.calls").open("a").write(f"{b.name}: {' '.join(goals)} [{flags}]\n")
    try:
        conf = json.loads((src / "fake-config.json").read_text())
    except OSError:
        conf = {}
    rc = 0
    for g in goals:
        if g.endswith("/__dmacb_q.i"):
            d = g[: -len("/__dmacb_q.i")]
            if d in conf:
                print(f"DMACB-Q obj={d} b=1 m=1 Y={' '.join(conf[d].get('y', []))} "
                      f"M={' '.join(conf[d].get('m', []))} L=")
            else:
                print(f"make[3]: *** No rule to make target '{g}'.")
                rc = 2
            continue
        c = src / (g[:-2] + ".c")
        target = b / g
        if not c.exists():
            print(f"make[3]: *** No rule to make target '{g}'.")
            rc = 2
            continue
        if target.exists() and target.stat().st_mtime_ns >= c.stat().st_mtime_ns:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        text = c.read_text().split("\n")
        if g.endswith(".i"):
            print(f"  CPP [M] {g}")
            target.write_text("\n".join(preprocess(c, arch)) + "\n")
            continue
        print(f"  CC [M]  {g}")
        if os.environ.get("FAKE_MAKE_CCLOG"):       # who would compile it (the farm's env)
            with open(os.environ["FAKE_MAKE_CCLOG"], "a") as log:
                log.write(f"{g} DISTCC_HOSTS={os.environ.get('DISTCC_HOSTS', '')}\n")
        print(f"{c}: In function 'f':")
        broken = False
        for n, line in enumerate(text, 1):
            if "warnme" in line:
                print(f"{c}:{n}:5: warning: warnme here [-Wfake]")
                print(f"  {n} | {line}")
                print("      |     ^~~~~~")
            if "werrorme" in line:          # CONFIG_WERROR and a W=1 warning
                print(f"{c}:{n}:5: error: werrorme here [-Werror=fake]")
                broken = True
            if "BROKEN" in line:
                print(f"{c}:{n}:5: error: 'BROKEN' undeclared (first use in this function)")
                broken = True
        sys.stdout.flush()
        if broken:
            if "werrorme" in "".join(text):
                print("cc1: all warnings being treated as errors")
            target.unlink(missing_ok=True)
            print(f"make[4]: *** [{src}/scripts/Makefile.build:234: {g}] Error 1")
            rc = 2
        else:
            target.write_text("obj\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
