# SPDX-License-Identifier: GPL-2.0
"""kbuild: the compile-test half of the verify stage.

For every converted driver file this module answers four questions, on the
user's tree ("base", never modified) and on the converted worktree ("conv"):

  1. Which configuration really builds the object?  x86_64 allmodconfig
     first, then arm64, arm, armv5 and ppc32 (Debian's cross gcc).  "Really" matters:
     `make O=B path/file.o` compiles a file even when its Kconfig option is
     off (KERNEL-FACTS, Kbuild), so a clean build proves nothing on its own.
     in_config() asks Kbuild itself (see there).
  2. Does it build with W=1 before and after?  One batched make per build
     directory; output is attributed to each object and its diagnostics are
     normalised so that base and conv can be compared.
  3. Are there new warnings?  A multiset difference of normalised
     diagnostics (file:function: kind: message, no line numbers).
  4. Were the changed lines compiled at all (JMake's point)?  A changed
     line outside every #if of its file is compiled with the object
     (top_level_only(), no extra work); for the others proof() maps the
     preprocessed `file.i` back to source lines through its linemarkers,
     and lines no configuration compiled send the file on to the next
     architecture that builds it.

Build directories live in cache_dir()/build/<release>/<tag>-<arch>, one per
source tree and architecture (two trees must never share an O= directory),
each protected by an fcntl lock so that two dmacb runs never build in one
directory at the same time.  All makes of one verify_builds() call share a
GNU make jobserver with DMACB_JOBS (default 2) slots: base and conv
directories build at the same time, and dmacb never runs more than two
compiler jobs.

Caches (all written per object as soon as its result is known, so an
interrupted run resumes where it stopped):
  - base results: cache_dir()/kbuild/<release>/<arch>/<key>.json, key over
    base commit (plus any uncommitted diff), file, make arguments, compiler
    and .config: a rerun does not run make on the base tree at all;
  - conv results: <builddir>/.dmacb/results/<file>.json with the object's
    mtime: make decides what to rebuild, and an object make did not touch
    keeps the warnings recorded when it was compiled (make prints nothing
    for an up-to-date object);
  - in_config answers: <builddir>/.dmacb/in_config.json, keyed on .config
    and the Kbuild makefiles on the file's path.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from . import ancestry
from .util import Progress, UserError, cache_dir, info

# The make binary (tests replace it with a fake).
MAKE = os.environ.get("DMACB_MAKE", "make")
DEFAULT_EXTRA = ("W=1",)
STAMP = "dmacb-prepare.json"
META = ".dmacb"             # our files inside a build directory
LOG_KEEP = 20000            # characters of raw make output kept per object


def jobs() -> int:
    """Job slots for all makes together: 2 cores shared with colleagues."""
    try:
        n = int(os.environ.get("DMACB_JOBS", "2"))
    except ValueError:
        n = 2
    return max(1, n)


# ---------------------------------------------------------------------------
# Architectures


@dataclass(frozen=True)
class Arch:
    name: str                   # x86_64, arm64, arm (also the build dir suffix)
    kbuild_arch: str | None     # ARCH=; None: native
    cross: str | None           # CROSS_COMPILE= prefix
    package: str | None         # Debian package that brings <cross>gcc
    llvm: bool = False          # LLVM=1: clang and the LLVM tools, any ARCH=
    allconfig: str = ""         # KCONFIG_ALLCONFIG fragment for the goal
    goal: str = "allmodconfig"  # the configuration target

    def make_args(self) -> list[str]:
        args = []
        if self.kbuild_arch:
            args.append(f"ARCH={self.kbuild_arch}")
        if self.llvm:
            args.append("LLVM=1")
        elif self.cross:
            args.append(f"CROSS_COMPILE={self.cross}")
        return args

    @property
    def cc(self) -> str:
        return "clang" if self.llvm else f"{self.cross or ''}gcc"


ARCHES: dict[str, Arch] = {
    "x86_64": Arch("x86_64", None, None, None),
    "arm64": Arch("arm64", "arm64", "aarch64-linux-gnu-", "gcc-aarch64-linux-gnu"),
    "arm": Arch("arm", "arm", "arm-linux-gnueabihf-", "gcc-arm-linux-gnueabihf"),
    # arm allmodconfig is ARMv7 multiplatform; the ARMv5 SoCs (ARCH_MXS,
    # ...) are a separate multiplatform choice
    "armv5": Arch("armv5", "arm", "arm-linux-gnueabihf-", "gcc-arm-linux-gnueabihf",
                  allconfig="CONFIG_ARCH_MULTI_V7=n\nCONFIG_ARCH_MULTI_V6=n\n"
                            "CONFIG_ARCH_MULTI_V5=y\n"),
    # powerpc allmodconfig is 64-bit Book3S, which has no FSL_SOC; the
    # 32-bit Book3S platforms (83xx, 86xx, 512x) select it: fsldma,
    # mpc512x_dma, bestcomm and their clients
    "ppc32": Arch("ppc32", "powerpc", "powerpc-linux-gnu-", "gcc-powerpc-linux-gnu",
                  allconfig="CONFIG_PPC64=n\nCONFIG_PPC_BOOK3S_32=y\n"),
    # the matrix's further configurations (MATRIX_ARCHES)
    "ppc64": Arch("ppc64", "powerpc", "powerpc64-linux-gnu-", "gcc-powerpc64-linux-gnu"),
    "mips": Arch("mips", "mips", "mips-linux-gnu-", "gcc-mips-linux-gnu"),
    "riscv": Arch("riscv", "riscv", "riscv64-linux-gnu-", "gcc-riscv64-linux-gnu"),
    "sh": Arch("sh", "sh", "sh4-linux-gnu-", "gcc-sh4-linux-gnu"),
    # every driver built in (no -DMODULE): the module_*() and
    # IS_MODULE/IS_BUILTIN paths allmodconfig never compiles
    "x86_64-yes": Arch("x86_64-yes", None, None, None, goal="allyesconfig"),
}
# The order verify_builds() tries them in: x86_64 reaches most clients
# (COMPILE_TEST), arm64 and arm add the AMBA/SoC-only ones, armv5 the
# ARMv5 SoCs' (spi-mxs), ppc32 the Freescale PowerPC ones (fsldma).
DEFAULT_ARCHES = ("x86_64", "arm64", "arm", "armv5", "ppc32")
# verify --matrix builds each file in every one of these that builds it
# (0-day's point: a driver's COMPILE_TEST object meets other compilers'
# and other architectures' headers), not only in the first.
MATRIX_ARCHES = DEFAULT_ARCHES + ("ppc64", "mips", "riscv", "sh", "x86_64-yes")
# use_llvm(): every architecture built with LLVM=1 (clang targets them all,
# no cross compiler needed); the compile database then is clang's own.
LLVM = False


def use_llvm(on: bool = True) -> None:
    global LLVM
    LLVM = on


def arch_spec(arch: str, cross: str | None = None) -> Arch:
    if arch not in ARCHES:
        raise UserError(f"kbuild: unknown architecture {arch}; use one of {', '.join(ARCHES)}")
    a = ARCHES[arch]
    if LLVM:
        return dataclasses.replace(a, cross=None, package=None, llvm=True)
    if cross is not None and cross != a.cross:
        a = dataclasses.replace(a, cross=cross or None, package=None)
    return a


_cc_cache: dict[str, str | None] = {}


def cc_version(a: Arch) -> str | None:
    """'12.2.0' for the architecture's gcc (or clang), None when it is not
    installed."""
    if a.cc not in _cc_cache:
        try:
            # clang 14 knows -dumpversion only; gcc's -dumpversion may say just '12'
            r = subprocess.run([a.cc, "-dumpversion" if a.llvm else "-dumpfullversion"],
                               capture_output=True, text=True, timeout=30)
            _cc_cache[a.cc] = r.stdout.strip() if r.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            _cc_cache[a.cc] = None
    return _cc_cache[a.cc]


def ensure_compiler(a: Arch) -> str | None:
    """Install a missing cross gcc from Debian (~100 MB, about 30 s).

    Returns None when the compiler is usable, else the reason it is not.
    DMACB_NO_INSTALL=1 turns the install off (CI without root, tests).
    """
    if cc_version(a):
        return None
    if not a.package:
        return f"{a.cc} not found"
    if os.environ.get("DMACB_NO_INSTALL"):
        return f"{a.cc} not found (Debian package {a.package}; DMACB_NO_INSTALL is set)"
    from . import deps          # lazy: only needed on a machine without it
    try:
        deps.apt_install([a.package])
    except UserError as e:
        return f"{a.cc} not found and could not be installed: {e}"
    _cc_cache.pop(a.cc, None)
    return None if cc_version(a) else f"{a.cc} still not found after installing {a.package}"


def config_label(a: Arch) -> str:
    cc = f"{a.cc} {cc_version(a) or '?'}"
    if a.allconfig:     # say what the name stands for: ARCH=arm, ARCH_MULTI_V5
        sel = " ".join(ln.split("=")[0].removeprefix("CONFIG_")
                       for ln in a.allconfig.split() if ln.endswith("=y"))
        cc = f"ARCH={a.kbuild_arch} {sel}; {cc}"
    return f"{a.name} {a.goal} ({cc})"


# ---------------------------------------------------------------------------
# Locks and the jobserver


class DirLock:
    """An fcntl lock on <builddir>.lock, re-entrant inside one process.

    flock() locks belong to an open file description: a second open() +
    flock() in the same process would deadlock against the first, so one
    object per directory is shared by every caller (and a threading.RLock
    keeps two threads of one process apart too).  The lock file sits next
    to the build directory so that wiping the directory keeps it.
    """

    _registry: dict[str, "DirLock"] = {}
    _reg_lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rlock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    @classmethod
    def of(cls, builddir: Path) -> "DirLock":
        key = str(Path(builddir).resolve())
        with cls._reg_lock:
            if key not in cls._registry:
                cls._registry[key] = cls(Path(key + ".lock"))
            return cls._registry[key]

    def __enter__(self) -> "DirLock":
        self.rlock.acquire()
        if self.depth == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info(f"kbuild: waiting for {self.path} (another dmacb run builds there)")
                fcntl.flock(fd, fcntl.LOCK_EX)
            self.fd = fd
        self.depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self.depth -= 1
        if self.depth == 0 and self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        self.rlock.release()


class JobServer:
    """A GNU make jobserver (make 4.3: a pipe of tokens) shared by our makes.

    Every make gets one job for free (its "implicit" slot), so we take a
    token from the pipe before starting a make and give it back when it
    ends: with N slots, N makes at most run at once, and all their compiler
    jobs together never exceed N.  A single make alone may use all N.
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.r, self.w = os.pipe()
        os.write(self.w, b"+" * slots)

    def env(self) -> dict[str, str]:
        # No -jN on the command line: a child given both -jN and a
        # jobserver says "-jN forced in submake" and leaves the jobserver.
        return {"MAKEFLAGS": f" -j{self.slots} --jobserver-auth={self.r},{self.w}"}

    def acquire(self) -> bytes:
        # make 4.3 sets O_NONBLOCK on the pipe (one open file description
        # for all of us), so wait with select() and retry a lost race.
        while True:
            select.select([self.r], [], [])
            try:
                tok = os.read(self.r, 1)
            except BlockingIOError:
                continue
            if tok:
                return tok

    def release(self, tok: bytes) -> None:
        os.write(self.w, tok)

    def close(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass


def _make_env(js: JobServer | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS")}
    env.update(extra or {})
    # C locale: gcc then quotes with ' instead of U+2018/2019, and messages
    # are comparable between runs on differently configured machines.
    env.update(LC_ALL="C", LANG="C")
    if js:
        env.update(js.env())
    return env


def _popen_make(args: list[str], js: JobServer | None,
                env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen, bytes | None]:
    tok = js.acquire() if js else None
    cmd = [MAKE, "--no-print-directory", *args]
    if not js:
        cmd.insert(1, f"-j{jobs()}")
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=_make_env(js, env), text=True,
                             errors="replace", bufsize=1,
                             pass_fds=(js.r, js.w) if js else ())
    except BaseException:
        if js and tok:
            js.release(tok)
        raise
    return p, tok


def run_make(args: list[str], js: JobServer | None = None,
             on_line: Callable[[str], None] | None = None,
             env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run one make, feeding each output line to on_line; (rc, whole output).
    env: variables on top of ours (the distcc farm's PATH and DISTCC_*)."""
    p, tok = _popen_make(args, js, env)
    out: list[str] = []
    try:
        assert p.stdout is not None
        for line in p.stdout:
            out.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
        rc = p.wait()
    except BaseException:
        p.kill()
        p.wait()
        raise
    finally:
        if js and tok:
            js.release(tok)
    return rc, "".join(out)


# ---------------------------------------------------------------------------
# prepare


def build_dir(release: str, arch: str, tag: str) -> Path:
    return cache_dir() / "build" / release / f"{tag}-{arch}"


def _git(src: Path, *args: str) -> str:
    r = subprocess.run(["git", "-C", str(src), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise UserError(f"kbuild: git {' '.join(args[:2])} failed in {src}: "
                        f"{r.stderr.strip()[:200]}")
    return r.stdout


# What allmodconfig and modules_prepare read besides the compiler: the
# Kconfig files and the makefiles that set up flags.  A change here (not a
# change of HEAD: every convert run makes new commits) re-runs them.
CONFIG_INPUTS = (":(glob)**/Kconfig*", "Makefile", ":(glob)arch/*/Makefile*",
                 ":(glob)scripts/Makefile*", ":(glob)scripts/kconfig/**",
                 ":(glob)scripts/Kbuild.include")


def _config_inputs_key(src: Path) -> str:
    h = hashlib.sha1()
    h.update(_git(src, "ls-files", "-s", "--", *CONFIG_INPUTS).encode())
    # uncommitted edits of those files (the index is stale for them)
    h.update(_git(src, "diff", "HEAD", "--", *CONFIG_INPUTS).encode())
    return h.hexdigest()[:16]


def _read_stamp(bdir: Path) -> dict | None:
    try:
        return json.loads((bdir / STAMP).read_text())
    except (OSError, ValueError):
        return None


def prepare(src: Path, release: str, arch: str = "x86_64", cross: str | None = None,
            tag: str = "base", extra: Sequence[str] = DEFAULT_EXTRA,
            js: JobServer | None = None) -> Path:
    """An allmodconfig + modules_prepare build directory for `src`, cached.

    The stamp records the source path, its HEAD, the Kconfig/makefile inputs,
    the compiler and the make arguments.  Same source and inputs: nothing
    runs (cost: one `git ls-files`).  Another source tree: the directory is
    wiped (its objects' mtimes say nothing about the new tree).  Changed
    Kconfig inputs or compiler: allmodconfig + modules_prepare again, in
    place (make rebuilds what changed).  modules_prepare runs with the same
    `extra` (W=1) as the builds, else the first build redoes part of it.
    """
    src = Path(src).resolve()
    a = arch_spec(arch, cross)
    bdir = build_dir(release, a.name, tag)
    with DirLock.of(bdir):
        why = ensure_compiler(a)
        if why:
            raise UserError(f"kbuild: cannot prepare {a.name}: {why}")
        key = {"src": str(src), "inputs": _config_inputs_key(src), "cc": cc_version(a),
               "make_args": a.make_args(), "extra": list(extra)}
        if a.allconfig:
            key["allconfig"] = a.allconfig
        if a.goal != "allmodconfig":
            key["goal"] = a.goal
        stamp = _read_stamp(bdir)
        if stamp and all(stamp.get(k) == v for k, v in key.items()) \
                and (bdir / ".config").exists():
            return bdir
        if stamp and stamp.get("src") != str(src) and bdir.exists():
            info(f"kbuild: {bdir} was built from {stamp.get('src')}; starting it afresh")
            shutil.rmtree(bdir)
        (bdir / STAMP).unlink(missing_ok=True)
        bdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        info(f"kbuild: preparing {bdir} ({a.name} {a.goal} + modules_prepare, "
             f"once per tree and configuration)")
        base = ["-C", str(src), f"O={bdir}", *a.make_args()]
        allmod = [a.goal]
        if a.allconfig:
            (bdir / "dmacb-allconfig").write_text(a.allconfig)
            allmod.insert(0, f"KCONFIG_ALLCONFIG={bdir / 'dmacb-allconfig'}")
        for goal in (allmod, [*extra, "modules_prepare"]):
            rc, out = run_make([*base, "-s", *goal], js)
            if rc != 0:
                (bdir / "dmacb-prepare.log").write_text(out)
                raise UserError(f"kbuild: make {' '.join(goal)} failed for {src} ({a.name}); "
                                f"see {bdir / 'dmacb-prepare.log'}")
        head = _git(src, "rev-parse", "HEAD").strip()
        (bdir / STAMP).write_text(json.dumps({**key, "head": head, "release": release,
                                              "seconds": round(time.monotonic() - t0, 1)},
                                             indent=1) + "\n")
        return bdir


def _stamp_of(builddir: Path) -> dict:
    st = _read_stamp(builddir)
    if not st:
        raise UserError(f"kbuild: {builddir} is not prepared (run prepare() first)")
    return st


# ---------------------------------------------------------------------------
# in_config: does this configuration really build the object?
#
# Choice (measured on 6.12, x86_64 allmodconfig): ask Kbuild.  A goal
# dir/__dmacb_q.i makes the top Makefile descend from the root exactly as it
# does for a single object, through each parent's subdir-ym (obj-y/obj-m
# directories of this config).  An --eval'd rule (make passes --eval on to
# sub-makes through MAKEFLAGS) prints, in the make of that directory, the
# lists Makefile.lib computed: real-obj-y, real-obj-m (composite objects
# already expanded into their parts) and lib-y, and whether the parent asked
# for built-in.a / modules.order.  A directory the config does not reach
# prints nothing (its goal lands in an ancestor's make and fails with "No
# rule", ignored under -k).  One make for all files: 2.3 s for the
# directories of 3 files (1.5 s of it Kbuild's fixed prepare check), 7.7 s
# for those of all 144 candidate files of 6.12 (121 in x86_64
# allmodconfig; machine loaded), 0.1 s from the cache afterwards.
#   The trap, measured: `make O=<x86_64 allmodconfig> drivers/mmc/host/mmci.o
# drivers/spi/spi-pl022.o` prints "CC" and writes both objects (18 KB each)
# although neither is in that configuration (ARM_AMBA).
#   Rejected: `CC [M]` in the build output (a built-in object such as
# atmel_serial.o prints "CC" exactly like mmci.o above, and make prints
# nothing at all for an up-to-date object); modules.order or built-in.a
# (a whole directory must be built); parsing Makefiles ourselves (ccflags,
# composite objects, $(CONFIG_...) everywhere).

QUERY = "__dmacb_q.i"
_QUERY_EVAL = (
    "$(obj)/" + QUERY + ": FORCE ; @echo 'DMACB-Q obj=$(obj) b=$(need-builtin) "
    "m=$(need-modorder) Y=$(real-obj-y) M=$(real-obj-m) L=$(lib-y)'\n"
    # The eval is read before each makefile: without this, its rule would
    # become the default goal of every sub-make (scripts/basic, ...).
    ".DEFAULT_GOAL :=\n")
_QLINE = re.compile(r"^DMACB-Q obj=(\S*) b=(\S*) m=(\S*) Y=(.*) M=(.*) L=(.*)$")


@dataclass
class Membership:
    in_config: bool
    module: bool = False        # real-obj-m (compiled with -DMODULE)
    dir: str = ""               # the Kbuild directory listing it


def _ancestors(rel: str) -> list[str]:
    parts = Path(rel).parent.parts
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def parse_query(out: str) -> dict[str, dict[str, set[str]]]:
    """DMACB-Q lines -> {dir: {'y': objs, 'm': objs}} (objects of that config)."""
    res: dict[str, dict[str, set[str]]] = {}
    for line in out.splitlines():
        m = _QLINE.match(line.strip())
        if not m:
            continue
        d, b, mo, y, mm, lib = m.groups()
        # Objects count only if the parent links them: built-in objects when
        # it asked for built-in.a, modules when it collects modules.order.
        # (A directory reached by subdir-y alone gets neither.)
        res[d] = {"y": set((y + " " + lib).split()) if b == "1" else set(),
                  "m": set(mm.split()) if mo == "1" else set()}
    return res


def membership_from_lists(rel: str, lists: Mapping[str, Mapping[str, set[str]]]) -> Membership:
    obj = str(Path(rel).with_suffix(".o"))
    for d in _ancestors(rel):       # innermost first; composite parts may be listed higher
        ent = lists.get(d)
        if not ent:
            continue
        if obj in ent["m"]:
            return Membership(True, True, d)
        if obj in ent["y"]:
            return Membership(True, False, d)
    return Membership(False)


def _inconfig_key(builddir: Path, src: Path, rel: str) -> str:
    h = hashlib.sha1((builddir / ".config").read_bytes())
    for d in ["", *_ancestors(rel)]:
        for name in ("Kbuild", "Makefile"):
            p = src / d / name
            if p.exists():
                h.update(f"{d}/{name}".encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:20]


def memberships(builddir: Path, files: Iterable[str],
                js: JobServer | None = None) -> dict[str, Membership]:
    builddir = Path(builddir)
    st = _stamp_of(builddir)
    src = Path(st["src"])
    files = list(dict.fromkeys(files))
    with DirLock.of(builddir):
        cfile = builddir / META / "in_config.json"
        try:
            cache = json.loads(cfile.read_text())
        except (OSError, ValueError):
            cache = {}
        keys = {f: _inconfig_key(builddir, src, f) for f in files}
        res: dict[str, Membership] = {}
        todo = []
        for f in files:
            c = cache.get(f)
            if c and c.get("key") == keys[f]:
                res[f] = Membership(c["in"], c["module"], c["dir"])
            else:
                todo.append(f)
        if todo:
            dirs = sorted({d for f in todo for d in _ancestors(f)})
            # with the flags of prepare (W=1): the query runs Kbuild's
            # prepare too, and other flags would rebuild scripts/mod,
            # bounds.s, asm-offsets.s for it, and again for the next build
            rc, out = run_make(["-C", str(builddir), *st["make_args"], "-k", "-s",
                                *st.get("extra", ()), f"--eval={_QUERY_EVAL}",
                                *[f"{d}/{QUERY}" for d in dirs]], js)
            lists = parse_query(out)
            if not lists and dirs:
                (builddir / META).mkdir(exist_ok=True)
                (builddir / META / "in_config.log").write_text(out)
                raise UserError(f"kbuild: the Kbuild query printed nothing in {builddir}; "
                                f"see {builddir / META / 'in_config.log'}")
            for f in todo:
                res[f] = mem = membership_from_lists(f, lists)
                cache[f] = {"key": keys[f], "in": mem.in_config, "module": mem.module,
                            "dir": mem.dir}
            (builddir / META).mkdir(exist_ok=True)
            tmp = cfile.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
            tmp.replace(cfile)
        return res


def in_config(builddir: Path, files: Iterable[str], js: JobServer | None = None) -> dict[str, bool]:
    """file -> is its object part of this build directory's configuration."""
    return {f: m.in_config for f, m in memberships(builddir, files, js).items()}


# ---------------------------------------------------------------------------
# Diagnostics: attribution and normalisation

# "  CC [M]  drivers/spi/spi-imx.o", "  CC      drivers/tty/serial/atmel_serial.o",
# "  CPP [M] drivers/spi/spi-imx.i": Kbuild's quiet command lines.
_QUIET = re.compile(r"^  ([A-Z][A-Z0-9_-]*)( \[M\])?\s+(\S+)\s*$")
# make[4]: *** [/src/scripts/Makefile.build:229: drivers/spi/spi-imx.o] Error 1
_MAKE_ERR = re.compile(r"^make(?:\[\d+\])?: \*\*\* \[(?:[^\]]*?: )?([^\]:]+)\] (?:Error|Interrupt)")
# make[3]: *** No rule to make target 'drivers/x/y.o'.
_NO_RULE = re.compile(r"^make(?:\[\d+\])?: \*\*\* No rule to make target '([^']+)'")
_MAKE_LINE = re.compile(r"^make(?:\[\d+\])?: ")

_DIAG = re.compile(r"^(?P<file>[^:\s][^:]*?):(?:(?P<line>\d+):(?:(?P<col>\d+):)?)? "
                   r"(?P<kind>warning|error|fatal error|note): (?P<msg>.*)$")
_FUNC = re.compile(r"^(?P<file>[^:\s][^:]*?): In (?:member |static )?function "
                   r"'(?P<fn>[^']+)':$")
_TOP = re.compile(r"^(?P<file>[^:\s][^:]*?): At top level:$")
# fortify & co: "In function 'memcpy_chk'," then "    inlined from 'foo' at x.c:12:2:"
_INLINE_FN = re.compile(r"^In function '(?P<fn>[^']+)',?$")
_INLINED = re.compile(r"^\s+inlined from '(?P<fn>[^']+)'")


def _strip_path(p: str, prefixes: Sequence[str]) -> str:
    p = os.path.normpath(p) if p.startswith("/") else p
    for pre in prefixes:
        if pre and p.startswith(pre.rstrip("/") + "/"):
            return p[len(pre.rstrip("/")) + 1:]
    return p[2:] if p.startswith("./") else p


def normalise(lines: Iterable[str], prefixes: Sequence[str] = ()) -> list[str]:
    """gcc/kernel-doc/objtool diagnostics -> 'file:function: kind: message'.

    Line and column numbers move with every edit above them, so they go;
    the function (from gcc's "In function 'f':" context) stays, so do file
    and message.  Source and build directory prefixes go, so that trees at
    different paths compare.  With CONFIG_WERROR gcc reports W=1 warnings
    as "error: ... [-Werror=x]": those are written as "warning: ...
    [-Wx]", so a base built without -Werror compares too.  Notes (context
    for the diagnostic before them) and source excerpts are dropped.
    """
    out = []
    fn = ""
    for raw in lines:
        line = raw.rstrip()
        m = _FUNC.match(line)
        if m:
            fn = m.group("fn")
            continue
        if _TOP.match(line):
            fn = ""
            continue
        m = _INLINE_FN.match(line)
        if m:
            fn = m.group("fn")
            continue
        m = _INLINED.match(line)
        if m:
            fn += "<-" + m.group("fn")
            continue
        m = _DIAG.match(line)
        if not m or m.group("kind") == "note":
            continue
        kind = m.group("kind")
        msg = m.group("msg")
        if kind == "error" and "[-Werror=" in msg:
            kind = "warning"
        msg = re.sub(r"\[-Werror=([^\]]+)\]", r"[-W\1]", msg)
        for pre in prefixes:
            if pre:
                msg = msg.replace(pre.rstrip("/") + "/", "")
        # objtool: "func+0x1a: ..." offsets move like line numbers
        msg = re.sub(r"\+0x[0-9a-f]+\b", "", msg)
        # other locations quoted in a message ("declared at x.c:12")
        msg = re.sub(r"(\.[ch]):\d+(?::\d+)?", r"\1", msg)
        f = _strip_path(m.group("file"), prefixes)
        out.append(f"{f}:{fn}: {kind}: {msg}")
    return out


def new_warnings(base: Sequence[str], conv: Sequence[str]) -> list[str]:
    """Diagnostics of conv that base did not have (multiset difference)."""
    return sorted((Counter(conv) - Counter(base)).elements())


class OutputSplitter:
    """Cut a make -Otarget stream into per-target blocks.

    With --output-sync=target make prints each recipe's output (Kbuild's
    quiet line first, then the compiler's diagnostics) in one piece, so a
    block runs from a quiet line to the next quiet line or make message.
    make's own error lines name the failed target explicitly.
    """

    def __init__(self, on_block: Callable[[str, list[str]], None],
                 on_error: Callable[[str, str], None]) -> None:
        self.on_block = on_block
        self.on_error = on_error
        self.target: str | None = None
        self.lines: list[str] = []
        self.other: list[str] = []      # output outside any block (prepare, make)

    def feed(self, line: str) -> None:
        m = _QUIET.match(line)
        if m:
            self.flush()
            self.target = m.group(3)
            self.lines = [line]
            return
        if _MAKE_LINE.match(line):
            self.flush()
            self.other.append(line)
            m = _MAKE_ERR.match(line) or _NO_RULE.match(line)
            if m:
                self.on_error(m.group(1), line)
            return
        if self.target is not None:
            self.lines.append(line)
        else:
            self.other.append(line)

    def flush(self) -> None:
        if self.target is not None:
            self.on_block(self.target, self.lines)
        self.target = None
        self.lines = []


# ---------------------------------------------------------------------------
# build


@dataclass
class ObjResult:
    ok: bool
    warnings: list[str] = field(default_factory=list)
    log: str = ""
    module: bool | None = None      # "CC [M]" seen (None: not compiled this run)
    cached: bool = False            # from a cache, make did not compile it now

    def to_json(self) -> dict:
        return {"ok": self.ok, "warnings": self.warnings, "log": self.log,
                "module": self.module}


def obj_of(rel: str) -> str:
    return str(Path(rel).with_suffix(".o"))


_DEP_WILDCARD = re.compile(r"^\$\(wildcard (\S+)\)$")


def object_inputs(builddir: Path, rel: str,
                  memo: dict[tuple, bytes] | None = None) -> str | None:
    """Digest of everything Kbuild says the object was built from: its
    command and the content of every file in its .cmd dependency list
    (the source, each header, each include/config/ file that exists).
    Equal digests: the same preprocessed input with the same flags, so a
    result computed from that input (the C checker's) can be reused.
    None when the object has no .cmd (not built, or not by Kbuild).
    `memo` shares header digests between objects of one run."""
    obj = Path(obj_of(rel))
    cmd = builddir / obj.parent / f".{obj.name}.cmd"
    try:
        text = cmd.read_text(errors="replace")
    except OSError:
        return None
    memo = {} if memo is None else memo
    h = hashlib.sha1()
    deps: list[str] = []
    in_deps = False
    for line in text.splitlines():
        if line.startswith("savedcmd_"):
            h.update(line.encode())
        elif line.startswith(f"source_{obj} := "):
            deps.append(line.split(" := ", 1)[1].strip())
        elif line.startswith(f"deps_{obj} :="):
            in_deps = True
        elif in_deps:
            item = line.strip().rstrip("\\").strip()
            if not item:
                in_deps = False
                continue
            m = _DEP_WILDCARD.match(item)
            deps.append(m.group(1) if m else item)
    if not deps:
        return None
    for d in deps:
        p = Path(d) if os.path.isabs(d) else builddir / d
        try:
            st = p.stat()
        except OSError:
            h.update(f"{d}\0-\n".encode())
            continue
        k = (str(p), st.st_mtime_ns, st.st_size)
        if k not in memo:
            memo[k] = hashlib.sha1(p.read_bytes()).digest()
        h.update(f"{d}\0".encode() + memo[k])
    return h.hexdigest()


def _flags_key(builddir: Path, st: dict, extra: Sequence[str]) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([st.get("make_args"), list(extra), st.get("cc")]).encode())
    h.update((builddir / ".config").read_bytes())
    return h.hexdigest()[:16]


def tree_key(src: Path) -> str:
    """The base tree's identity: HEAD, plus its uncommitted diff if any."""
    head = _git(src, "rev-parse", "HEAD").strip()
    dirty = _git(src, "diff", "HEAD")
    return head if not dirty else head + "+" + hashlib.sha1(dirty.encode()).hexdigest()[:12]


class ResultCache:
    """One JSON file per object; written atomically as soon as it is known."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, val: dict) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(val, sort_keys=True))
        tmp.replace(p)


def base_cache(release: str, arch: str) -> ResultCache:
    return ResultCache(cache_dir() / "kbuild" / release / arch)


def _has_results(bcache: ResultCache, base_key: str) -> bool:
    return (bcache.root / "bases" / base_key).exists()


def _mark_results(bcache: ResultCache, base_key: str) -> None:
    (bcache.root / "bases").mkdir(parents=True, exist_ok=True)
    (bcache.root / "bases" / base_key).touch()


def base_carry(src: Path, base_key: str, bcache: ResultCache) -> tuple[str, set[str]] | None:
    """(an ancestor base commit with cached results, the files changed
    since) when those results hold for every other object of this base:
    every changed file is a .c file and no file of the tree includes one
    of them (no '<name>.c"' anywhere in a .c or .h file).  An object's
    compile then reads exactly the text it read at the ancestor (its .c,
    the headers, the generated files of the same configuration, the same
    Makefiles and flags), so its result, W=1 diagnostics included, is the
    same.  A stable update of a few drivers then compiles those, also in
    a build directory that never compiled the others (a second tree of
    the release, whose first verify took every base result from this
    cache).  None (compile as before) for anything else."""
    if "+" in base_key:
        return None             # uncommitted changes: no ancestor to speak of
    key = (str(src), base_key, str(bcache.root))
    if key not in _CARRY:       # asked once per build directory of a verify
        _CARRY[key] = _base_carry(src, base_key, bcache)
    return _CARRY[key]


_CARRY: dict[tuple[str, str, str], tuple[str, set[str]] | None] = {}


def _base_carry(src: Path, base_key: str, bcache: ResultCache) -> tuple[str, set[str]] | None:
    old = ancestry.nearest(src, base_key, lambda r: _has_results(bcache, r))
    if old is None:
        return None
    changed = ancestry.changed(src, old, base_key)
    if any(not p.endswith(".c") for p in changed):
        return None
    pats = [a for p in sorted(changed) for a in ("-e", os.path.basename(p) + '"')]
    if pats:
        r = subprocess.run(["git", "-C", str(src), "grep", "-l", "-F", *pats, base_key, "--",
                            "*.c", "*.h"], capture_output=True, text=True)
        if r.returncode != 1:   # a file names one (an #include of it?), or grep failed
            return None
    return old, changed


def _mtime(p: Path) -> int | None:
    try:
        return p.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def build(src: Path, builddir: Path, files: Sequence[str],
          extra: Sequence[str] = DEFAULT_EXTRA, *, preprocess: Sequence[str] = (),
          base_key: str | None = None, release: str | None = None,
          js: JobServer | None = None,
          on_result: Callable[[str, ObjResult], None] | None = None,
          fresh: bool = False,
          cc_env: Mapping[str, str] | None = None) -> dict[str, ObjResult]:
    """Build the objects of `files` (relative .c paths) in one batched make.

    `make -k -Otarget O=B <extra> a.o b.o ... x.i`: one make per build
    directory (separate makes on one O= race on include/config), -k so one
    failure does not hide the others, -Otarget so each object's diagnostics
    come in one block.  `preprocess`: files whose .i is wanted as well
    (proof()), in the same make.

    base_key (the base tree's tree_key()): results are cached across runs
    under it and files with a cached result are not built at all.  For
    both trees, results are also recorded in the build directory with the
    object's mtime: an object make leaves alone keeps its recorded result,
    an object without a valid record is deleted first so that make
    compiles it and prints its warnings again.

    fresh: believe no recorded result, compile every object again (verify
    --rebuild; what was found is recorded as usual).  cc_env: the compiles'
    environment on top of ours (the distcc farm: its PATH puts distcc in
    front of the compiler under the compiler's own name, so Kbuild's command
    lines, and with them its if_changed records, stay those of a local
    build; the .i goals are preprocessed here either way).
    """
    src = Path(src).resolve()
    builddir = Path(builddir)
    files = list(dict.fromkeys(files))
    with DirLock.of(builddir):
        st = _stamp_of(builddir)
        if st["src"] != str(src):
            raise UserError(f"kbuild: {builddir} belongs to {st['src']}, not {src}")
        fkey = _flags_key(builddir, st, extra)
        prefixes = [str(src), str(builddir.resolve()), str(builddir)]
        results: dict[str, ObjResult] = {}
        lock = threading.Lock()
        if base_key:
            bcache = base_cache(release or st.get("release", "unknown"),
                                Path(builddir).name.split("-", 1)[-1])

            def ckey(f: str) -> str:
                return hashlib.sha1(f"{base_key}\0{f}\0{fkey}".encode()).hexdigest()

        # Besides the base cache (keyed on the base commit), every object's
        # result is recorded in its build directory with the object's mtime,
        # for both trees: an object make leaves alone keeps its recorded
        # result.  A new base commit that changed a handful of files (a
        # stable update) then recompiles those, not every object.
        rdir = builddir / META / "results"

        def rpath(f: str) -> Path:
            return rdir / (f.replace("/", "__") + ".json")

        records: dict[str, dict] = {}
        carry = base_carry(src, base_key, bcache) if base_key and not fresh else None
        for f in files:
            c = bcache.get(ckey(f)) if base_key and not fresh else None
            if c is None and carry and f not in carry[1]:
                c = bcache.get(hashlib.sha1(f"{carry[0]}\0{f}\0{fkey}".encode()).hexdigest())
                if c is not None:
                    bcache.put(ckey(f), c)
            if c is not None:
                results[f] = ObjResult(c["ok"], c["warnings"], c["log"], c.get("module"),
                                       cached=True)
                continue
            try:
                rec = None if fresh else json.loads(rpath(f).read_text())
            except (OSError, ValueError):
                rec = None
            o = builddir / obj_of(f)
            if rec and rec.get("fkey") == fkey and rec.get("ok") \
                    and rec.get("mtime") == _mtime(o):
                records[f] = rec
            else:
                # no trustworthy record: make must compile it and show us
                # (an up-to-date object would print nothing)
                o.unlink(missing_ok=True)
        todo = [f for f in files if f not in results]
        # .i goals: make regenerates them when the source or a header
        # changed (if_changed_dep), so proof() always reads a current one.
        want_i = list(dict.fromkeys(preprocess))
        if on_result:
            for f in files:
                if f in results:
                    on_result(f, results[f])
        if base_key:
            _mark_results(bcache, base_key)
        if not todo and not want_i:
            return results

        goals = [obj_of(f) for f in todo] + [str(Path(f).with_suffix(".i")) for f in want_i]
        by_obj = {obj_of(f): f for f in todo}
        before = {f: _mtime(builddir / obj_of(f)) for f in todo}
        seen_block: dict[str, list[str]] = {}
        failed: dict[str, list[str]] = {}

        def finish(f: str, ok: bool, block: list[str], persist: bool = True) -> None:
            res = ObjResult(ok, normalise(block, prefixes), "\n".join(block)[-LOG_KEEP:],
                            any(" [M] " in ln for ln in block[:1]) if block else None)
            with lock:
                if f in results and not results[f].cached and results[f].ok == ok:
                    return
                results[f] = res
            if persist:
                if base_key:
                    bcache.put(ckey(f), res.to_json())
                rdir.mkdir(parents=True, exist_ok=True)
                tmp = rpath(f).with_suffix(".tmp")
                tmp.write_text(json.dumps({**res.to_json(), "fkey": fkey,
                                           "mtime": _mtime(builddir / obj_of(f))}))
                tmp.replace(rpath(f))
            if on_result:
                on_result(f, res)

        def on_block(target: str, lines: list[str]) -> None:
            f = by_obj.get(target)
            if f is None:
                return
            seen_block[f] = lines
            now = _mtime(builddir / target)
            if now is not None and now != before[f] and f not in failed:
                finish(f, True, lines)

        def on_error(target: str, line: str) -> None:
            f = by_obj.get(target)
            if f is None:
                return
            block = seen_block.get(f, []) + [line]
            failed[f] = block
            finish(f, False, block)

        splitter = OutputSplitter(on_block, on_error)
        rc, out = run_make(["-C", str(builddir), *st["make_args"], "-k", "-Otarget",
                            *extra, *goals], js, splitter.feed, cc_env)
        splitter.flush()
        (builddir / META).mkdir(exist_ok=True)
        (builddir / META / "last-build.log").write_text(out)
        tail = "\n".join(splitter.other[-40:])
        for f in todo:
            o = builddir / obj_of(f)
            now = _mtime(o)
            if f in failed:
                continue
            if f in seen_block:
                ok = now is not None and now != before[f]
                if not ok or f not in results:
                    finish(f, ok, seen_block[f] if ok else seen_block[f] + splitter.other[-20:])
            elif f in records and now == records[f]["mtime"]:
                rec = records[f]
                results[f] = ObjResult(rec["ok"], rec["warnings"], rec["log"], rec.get("module"),
                                       cached=True)
                if base_key:
                    bcache.put(ckey(f), results[f].to_json())
                if on_result:
                    on_result(f, results[f])
            else:
                # make never compiled it: an early failure (prepare, disk
                # full, ...), or up to date without a record (cannot happen:
                # deleted above).  Not recorded: the next run tries again.
                finish(f, False, [f"{obj_of(f)}: not compiled by make (rc {rc})", tail],
                       persist=False)
        return results


# ---------------------------------------------------------------------------
# proof: were the changed lines compiled?

# With the newline in front, not ^ and re.M: a literal prefix lets re skip
# ahead (5x faster on a 4 MB .i).
_MARKER_B = re.compile(rb'\n# (\d+) "([^"\n]*)"[^\n]*')
_COND_OPEN = re.compile(r"^\s*#\s*(if|ifdef|ifndef)\b")
_COND_ELSE = re.compile(r"^\s*#\s*(elif|else|elifdef|elifndef)\b")
_COND_END = re.compile(r"^\s*#\s*endif\b")


def visible_lines(ipath: Path, rel: str) -> set[int]:
    """Lines of source file `rel` that left non-blank text in the .i file.

    gcc -E starts each stretch of output with a linemarker `# N "file"
    flags`; every output line after it is the next source line (gcc keeps
    the count with blank lines or a new marker after skipped code).
    Only the stretches of the file itself are split into lines: most of a
    driver's .i (~4 MB) is headers, and a per-line loop over all of it
    cost 65 ms per file (this: ~20 ms).
    """
    data = b"\n" + ipath.read_bytes()
    marks = list(_MARKER_B.finditer(data))
    suffix = ("/" + rel).encode()
    relb = rel.encode()
    vis: set[int] = set()
    for k, m in enumerate(marks):
        path = m.group(2)
        if path != relb and not path.endswith(suffix):
            continue
        end = marks[k + 1].start() if k + 1 < len(marks) else len(data)
        n = int(m.group(1))
        for off, line in enumerate(data[m.end() + 1:end].split(b"\n")):
            if line.strip():
                vis.add(n + off)
    return vis


def _strip_comments(lines: Sequence[str]) -> list[str]:
    """Source lines with comments blanked (strings and chars respected)."""
    out = []
    in_c = False
    for line in lines:
        res = []
        i, n = 0, len(line)
        quote = None
        while i < n:
            if in_c:
                j = line.find("*/", i)
                if j < 0:
                    i = n
                    break
                in_c = False
                i = j + 2
                res.append(" ")
                continue
            c = line[i]
            if quote:
                if c == "\\":
                    res.append(line[i:i + 2])
                    i += 2
                    continue
                if c == quote:
                    quote = None
                res.append(c)
                i += 1
                continue
            if line.startswith("/*", i):
                in_c = True
                i += 2
                continue
            if line.startswith("//", i):
                break
            if c in "\"'":
                quote = c
            res.append(c)
            i += 1
        out.append("".join(res))
    return out


@dataclass
class SourceMap:
    kind: list[str]         # per line (index 0 = line 1): code, blank, directive
    group: list[int]        # conditional group of the line
    parent: list[int]       # parent group of each group (-1 for the file)


def source_map(text: str) -> SourceMap:
    """Each line's preprocessor conditional group.

    A group is one branch (#if/#elif/#else ... next branch or #endif); the
    preprocessor keeps or drops a branch as a whole, so one line of a
    branch with output in the .i shows that all of it was compiled.  That
    also covers lines with no output of their own: the continuation lines
    of a macro call, whose expansion gcc prints on the first line.
    Conditional directives belong to the enclosing group.
    """
    lines = text.split("\n")
    code = _strip_comments(lines)
    parent = [-1]
    stack = [0]
    kind: list[str] = []
    group: list[int] = []
    cont = False            # inside a backslash-continued directive
    for raw in code:
        if cont:
            kind.append("directive")
            group.append(stack[-1])
            cont = raw.rstrip().endswith("\\")
            continue
        s = raw.strip()
        if not s:
            kind.append("blank")
            group.append(stack[-1])
            continue
        if s.startswith("#"):
            cont = raw.rstrip().endswith("\\")
            kind.append("directive")
            if _COND_OPEN.match(raw):
                group.append(stack[-1])
                parent.append(stack[-1])
                stack.append(len(parent) - 1)
            elif _COND_ELSE.match(raw) and len(stack) > 1:
                group.append(stack[-2])
                parent.append(stack[-2])
                stack[-1] = len(parent) - 1
            elif _COND_END.match(raw) and len(stack) > 1:
                stack.pop()
                group.append(stack[-1])
            else:
                group.append(stack[-1])
            continue
        kind.append("code")
        group.append(stack[-1])
    return SourceMap(kind, group, parent)


def classify_lines(smap: SourceMap, visible: set[int],
                   lines: Iterable[int]) -> dict[str, list[int]]:
    """Changed lines -> seen / unseen / ignored (blank or comment only)."""
    active = [False] * len(smap.parent)
    for ln in visible:
        if 1 <= ln <= len(smap.group):
            g = smap.group[ln - 1]
            while g >= 0 and not active[g]:
                active[g] = True
                g = smap.parent[g]
    res: dict[str, list[int]] = {"seen": [], "unseen": [], "ignored": []}
    for ln in sorted(set(lines)):
        if not 1 <= ln <= len(smap.kind):
            res["unseen"].append(ln)
        elif smap.kind[ln - 1] == "blank":
            res["ignored"].append(ln)
        elif ln in visible or active[smap.group[ln - 1]]:
            res["seen"].append(ln)
        else:
            res["unseen"].append(ln)
    return res


def top_level_only(text: str, changed: Iterable[int]) -> dict[str, list[int]] | None:
    """Classify changed lines without a .i when that is sound, else None.

    A line outside every #if/#ifdef of its own file is preprocessed
    whenever the file is compiled, so when all changed code lines are at
    the top level of the file, building the object (verify_builds checks
    that it is in the configuration and that gcc went through it) proves
    them; no .i, no 4 MB parse.  Most conversions are of this kind (a flag
    ORed into a prep call, a completion set).
    """
    sm = source_map(text)
    changed = sorted(set(changed))
    res: dict[str, list[int]] = {"seen": [], "unseen": [], "ignored": []}
    for ln in changed:
        if not 1 <= ln <= len(sm.kind):
            return None
        if sm.kind[ln - 1] == "blank":
            res["ignored"].append(ln)
        elif sm.group[ln - 1] != 0:
            return None
        else:
            res["seen"].append(ln)
    return res


def proof(src: Path, builddir: Path, file: str, changed: Iterable[int],
          js: JobServer | None = None, via: str | None = None) -> dict[str, list[int]]:
    """{seen, unseen, ignored}: which changed lines of `file` the compiler saw.

    Reads <builddir>/<file>.i (<via>.i for a header compiled through the
    .c file `via`), built first (one make) when it is missing or older
    than the sources or the configuration; verify_builds() has it built in
    its batched make already.  Lines outside the .i's reach are unseen;
    blank and comment-only lines are "ignored".
    """
    builddir = Path(builddir)
    via = via or file
    ipath = builddir / Path(via).with_suffix(".i")
    st = _stamp_of(builddir)
    with DirLock.of(builddir):
        im = _mtime(ipath)
        if im is None or any((_mtime(p) or 0) > im for p in (
                Path(src) / file, Path(src) / via,
                builddir / "include" / "generated" / "autoconf.h")):
            run_make(["-C", str(builddir), *st["make_args"], "-k",
                      *st.get("extra", DEFAULT_EXTRA), str(Path(via).with_suffix(".i"))], js)
    changed = list(changed)
    if not ipath.exists():
        return {"seen": [], "unseen": sorted(set(changed)), "ignored": []}
    text = (Path(src) / file).read_text(errors="replace")
    return classify_lines(source_map(text), visible_lines(ipath, file), changed)


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def parse_diff_added(diff: str) -> list[int]:
    """Added/changed lines (new-file numbering) of a `git diff -U0`."""
    out: list[int] = []
    for line in diff.splitlines():
        m = _HUNK.match(line)
        if m:
            start, count = int(m.group(1)), int(m.group(2) or "1")
            out.extend(range(start, start + count))
    return out


def changed_lines(conv_src: Path, base_rev: str, file: str) -> list[int]:
    """Lines of `file` in the converted tree (as it is on disk) that differ
    from the base commit.  Pure deletions have no line to prove."""
    return changed_lines_all(conv_src, base_rev, [file])[file]


def changed_lines_all(conv_src: Path, base_rev: str, files: Sequence[str]) -> dict[str, list[int]]:
    """changed_lines() of many files with one git diff (one per file: ~20 ms each)."""
    res: dict[str, list[int]] = {f: [] for f in files}
    if not files:
        return res
    out = _git(conv_src, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames",
               base_rev, "--", *files)
    cur: list[str] = []
    name = None
    for line in out.splitlines():
        if line.startswith("diff --git "):
            if name in res:
                res[name] = parse_diff_added("\n".join(cur))
            name, cur = None, []
        elif line.startswith("+++ "):
            name = line[6:] if line.startswith("+++ b/") else None
        else:
            cur.append(line)
    if name in res:
        res[name] = parse_diff_added("\n".join(cur))
    return res


# ---------------------------------------------------------------------------
# verify_builds


def werror_only(r: ObjResult) -> bool:
    """The object failed only because CONFIG_WERROR made warnings errors.

    gcc then still reads the whole file and reports every diagnostic, so
    base and conv remain comparable; a hard error (kept as "error" by
    normalise()) or a failure without gcc's note is something else.
    """
    return (not r.ok and "all warnings being treated as errors" in r.log
            and not any(": error: " in w or ": fatal error: " in w for w in r.warnings))


def _first_errors(log: str, prefixes: Sequence[str], n: int = 3) -> str:
    errs = [ln.strip() for ln in log.splitlines() if re.search(r"\berror\b", ln)]
    text = "; ".join(errs[:n])
    for pre in prefixes:
        text = text.replace(pre.rstrip("/") + "/", "")
    return text[:400]


_QUOTED_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def includers(src: Path, header: str) -> list[str]:
    """The .c files next to `header` that #include "it" (sorted)."""
    d = (Path(src) / header).parent
    name = Path(header).name
    out = []
    for c in sorted(d.glob("*.c")):
        text = c.read_text(errors="replace")
        if name in text and name in _QUOTED_INCLUDE.findall(text):
            out.append(str(c.relative_to(src)))
    return out


def verify_builds(base_src: Path, conv_src: Path, release: str,
                  files_with_changed_lines: Mapping[str, Sequence[int] | None] | Sequence[str],
                  *, arches: Sequence[str] = DEFAULT_ARCHES,
                  extra: Sequence[str] = DEFAULT_EXTRA,
                  tags: tuple[str, str] = ("base", "conv"),
                  progress: bool = True, matrix: bool = False, fresh: bool = False,
                  cc_env: Mapping[str, str] | None = None,
                  slots: int | None = None) -> dict[str, dict]:
    """Compile-test each changed file before and after, and prove its lines.

    files_with_changed_lines: relative paths, each with the changed lines of
    the converted file, or None / a plain list to take them from
    `git diff -U0 <base HEAD> -- file` in the converted tree.

    Each file is built on the first architecture (in `arches` order) whose
    allmodconfig really builds its object.  When some changed lines were
    not compiled there (#ifdef CONFIG_ARM64, ...), the file is tried again
    on the next architecture that builds it, and a line counts as seen when
    any of them compiled it (JMake's multi-configuration idea); every
    architecture used must build it without new diagnostics.

    matrix: build each file on every architecture of `arches` that builds
    it, not only until its changed lines are seen; every one must pass, and
    `matrix` in the result says per architecture what it found.  fresh,
    cc_env: as for build().  slots: the jobserver's (default jobs(); a
    farm has more compilers than this machine has cores).

    Returns per file: config (the first one used), configs (all), arch,
    compile_tested, module, base_ok, conv_ok (over all configs),
    new_warnings ("arch: diagnostic" beyond the first config),
    lines_seen, lines_unseen, lines_ignored, passed, reason, conv_log,
    and with matrix: matrix {arch: "pass" | "fails alike" | "new diagnostics"
    | "fails" | "lines unseen"}, arches that do not build the file absent.
    `passed` is what the series needs: compile-tested, the converted object
    builds (or fails exactly like the base, through W=1 warnings that
    allmodconfig's CONFIG_WERROR turns into errors: the diagnostics are
    still compared), no new diagnostic, every changed line compiled.
    tags: build directory names (<tag>-<arch>) for the two trees; each
    source tree needs its own, and a second converted tree (tests) should
    not take the convert stage's.
    """
    base_src = Path(base_src).resolve()
    conv_src = Path(conv_src).resolve()
    if isinstance(files_with_changed_lines, Mapping):
        given = dict(files_with_changed_lines)
    else:
        given = {f: None for f in files_with_changed_lines}
    files = list(given)
    base_rev = _git(base_src, "rev-parse", "HEAD").strip()
    bkey = tree_key(base_src)
    from_git = changed_lines_all(conv_src, base_rev,
                                 [f for f, v in given.items() if v is None])
    lines = {f: (list(v) if v is not None else from_git[f]) for f, v in given.items()}
    out: dict[str, dict] = {f: {"file": f, "config": None, "configs": [], "arch": None,
                                "compile_tested": False, "reason": None, "module": None,
                                "base_ok": None, "conv_ok": None, "new_warnings": [],
                                "lines_seen": 0, "lines_unseen": [], "lines_ignored": 0,
                                "passed": False, "conv_log": ""} for f in files}
    if matrix:
        for r in out.values():
            r["matrix"] = {}
    why: dict[str, list[str]] = {f: [] for f in files}
    notes: dict[str, list[str]] = {f: [] for f in files}
    seen: dict[str, set[int]] = {f: set() for f in files}
    # changed lines that need no .i (all at the top level of the file)
    shortcut: dict[str, dict[str, list[int]] | None] = {}
    # file -> index in `arches` where its next search starts
    pending: dict[str, int] = {}
    # a header is compiled through the .c files of its directory that
    # include it: their objects are built, its changed lines looked up in
    # their .i (never the top-level shortcut: include guards)
    via: dict[str, list[str]] = {}
    for f in files:
        if not (conv_src / f).exists():
            notes[f].append("not in the converted tree")
        elif not f.endswith(".c"):
            via[f] = includers(conv_src, f)
            if via[f]:
                pending[f] = 0
                shortcut[f] = None
            else:
                notes[f].append("not a .c file, and no .c file of its directory includes it")
        else:
            pending[f] = 0
            shortcut[f] = top_level_only((conv_src / f).read_text(errors="replace"), lines[f])

    js = JobServer(slots or jobs())
    usable: dict[int, Arch] = {}
    skipped: list[str] = []
    dirs: dict[str, tuple[Path, Path]] = {}
    prog = None
    plock = threading.Lock()
    try:
        while pending:
            # 1. membership, architecture by architecture, preparing lazily
            plan: list[tuple[int, Arch, Path, Path, list[str], dict[str, str]]] = []
            for i, arch in enumerate(arches):
                look = [f for f, start in pending.items() if start <= i]
                if not look:
                    continue
                a = arch_spec(arch)
                if i not in usable:
                    reason = ensure_compiler(a)
                    if reason:
                        if f"{a.name}: {reason}" not in skipped:
                            skipped.append(f"{a.name}: {reason}")
                        continue
                    usable[i] = a
                if a.name not in dirs:
                    with ThreadPoolExecutor(2) as ex:
                        fb = ex.submit(prepare, base_src, release, a.name, None, tags[0],
                                       extra, js)
                        fc = ex.submit(prepare, conv_src, release, a.name, None, tags[1],
                                       extra, js)
                        dirs[a.name] = (fb.result(), fc.result())
                bdir, cdir = dirs[a.name]
                mb = memberships(bdir, [o for f in look for o in via.get(f, [f])], js)
                obj: dict[str, str] = {}        # file -> the .c compiled for it
                for f in look:
                    o = next((o for o in via.get(f, [f]) if mb[o].in_config), None)
                    if o:
                        obj[f] = o
                hits = [f for f in look if f in obj]
                if not hits:
                    continue
                mc = memberships(cdir, [obj[f] for f in hits], js)
                for f in hits:
                    del pending[f]
                    if not mc[obj[f]].in_config:
                        why[f].append(f"in the base tree's {a.name} {a.goal} but not in "
                                      f"the converted tree's (a Kconfig or Makefile changed?)")
                        continue
                    if out[f]["arch"] is None:
                        out[f]["arch"] = a.name
                        out[f]["config"] = config_label(a)
                        out[f]["module"] = mb[obj[f]].module
                        # the checker parses the header in the first
                        # configuration's object: with --matrix a later
                        # one may build it through another .c file
                        if obj[f] != f:
                            out[f]["via"] = obj[f]
                    out[f]["configs"].append(config_label(a))
                ok_hits = [f for f in hits if mc[obj[f]].in_config]
                if ok_hits:
                    plan.append((i, a, bdir, cdir, ok_hits, obj))
            for f in pending:           # in no (further) configuration
                if out[f]["arch"] is None and not why[f]:
                    tried = [f"{usable[i].name} {usable[i].goal}" for i in sorted(usable)]
                    msg = (f"not built by {' or '.join(tried)}"
                           if tried else "no usable compiler")
                    if skipped:
                        msg += f" (not tried: {'; '.join(skipped)})"
                    why[f].append(msg)
            pending = {}
            if not plan:
                break

            # 2. builds: one make per build directory, all directories at once
            total = sum(2 * len({p[5][f] for f in p[4]}) for p in plan)
            if progress:
                if prog is None:
                    prog = Progress("kbuild", total)
                else:
                    prog.total += total

            def step(f: str, r: ObjResult) -> None:
                if prog:
                    with plock:
                        prog.step(f)

            res: dict[tuple[str, str], ObjResult] = {}
            with ThreadPoolExecutor(2 * len(plan)) as ex:
                futs = []
                for i, a, bdir, cdir, hits, obj in plan:
                    objs = sorted({obj[f] for f in hits})
                    futs.append((("base", a.name), ex.submit(
                        build, base_src, bdir, objs, extra, base_key=bkey, release=release,
                        js=js, on_result=step, fresh=fresh, cc_env=cc_env)))
                    futs.append((("conv", a.name), ex.submit(
                        build, conv_src, cdir, objs, extra,
                        preprocess=sorted({obj[f] for f in hits if shortcut[f] is None}),
                        js=js, on_result=step, fresh=fresh, cc_env=cc_env)))
                for (tag, an), fut in futs:
                    for f, r in fut.result().items():
                        res[(f"{tag}:{an}", f)] = r

            # 3. compare and prove
            for i, a, bdir, cdir, hits, obj in plan:
                first_round = {f: out[f]["arch"] == a.name for f in hits}
                for f in hits:
                    r = out[f]
                    b, c = res[(f"base:{a.name}", obj[f])], res[(f"conv:{a.name}", obj[f])]
                    r["compile_tested"] = True
                    r["base_ok"] = b.ok if r["base_ok"] is None else (r["base_ok"] and b.ok)
                    r["conv_ok"] = c.ok if r["conv_ok"] is None else (r["conv_ok"] and c.ok)
                    new = new_warnings(b.warnings, c.warnings)
                    r["new_warnings"] += new if first_round[f] else [f"{a.name}: {w}"
                                                                      for w in new]
                    alike = not c.ok and werror_only(c) and werror_only(b)
                    if matrix:
                        r["matrix"][a.name] = ("fails" if not c.ok and not alike else
                                               "new diagnostics" if new else
                                               "fails alike" if alike else "pass")
                    if alike:
                        # allmodconfig's CONFIG_WERROR and a W=1 warning the
                        # base has too: compared, not a failure of the conversion
                        notes[f].append(f"base and converted fail alike on {a.name} (W=1 "
                                        f"warnings that CONFIG_WERROR makes errors); "
                                        f"diagnostics compared")
                    elif not c.ok:
                        why[f].append(f"the converted file does not build on {a.name}"
                                      + ("" if b.ok else " (nor did the base)")
                                      + f": {_first_errors(c.log, [str(conv_src)])}")
                    if new:
                        why[f].append(f"{len(new)} new diagnostic(s) on {a.name}")
                    if not c.ok or new:
                        r["conv_log"] += c.log + "\n"
                    pr = shortcut[f]
                    if pr is None:
                        pr = proof(conv_src, cdir, f, lines[f], js, via=obj[f])
                    elif not (c.ok or werror_only(c)):
                        # gcc may have stopped early (a fatal error): prove
                        # nothing from a compile that did not finish
                        pr = {"seen": [], "unseen": pr["seen"], "ignored": pr["ignored"]}
                    if first_round[f] or set(pr["seen"]) - seen[f]:
                        # the C checker parses the file in this configuration:
                        # the one that compiled the changed lines last unseen
                        r["check_arch"] = a.name
                    seen[f] |= set(pr["seen"])
                    r["lines_seen"] = len(seen[f])
                    r["lines_unseen"] = [ln for ln in pr["unseen"] if ln not in seen[f]]
                    r["lines_ignored"] = len(pr["ignored"])
                    if matrix and r["matrix"][a.name] == "pass" and \
                            set(pr["unseen"]) and not set(pr["seen"]):
                        r["matrix"][a.name] = "lines unseen"
                    if (r["lines_unseen"] or matrix) and i + 1 < len(arches):
                        pending[f] = i + 1      # another configuration may compile them
        for f, r in out.items():
            if r["lines_unseen"]:
                why[f].append(f"changed line(s) {r['lines_unseen']} not compiled by "
                              f"{' or '.join(c.split(' (')[0] for c in r['configs'])} "
                              f"(#if/#ifdef)")
            r["passed"] = r["compile_tested"] and not why[f]
            r["reason"] = "; ".join(why[f] + notes[f]) or None
        if prog:
            prog.finish()
    finally:
        js.close()
    return out
