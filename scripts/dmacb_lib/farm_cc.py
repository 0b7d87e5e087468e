# SPDX-License-Identifier: GPL-2.0
"""The farm's compilers: verify's Kbuild compiles through distcc.

A hosts file's `distcc HOST[:PORT][/LIMIT]` lines (see farm.py) name distccd
daemons.  Kbuild keeps CC=gcc (or the cross gcc): a directory of this run
holds, for each compiler name a build needs, a symlink to distcc, and goes
first in make's PATH (distcc's "masquerade": it finds the real compiler by
dropping its own directory from PATH).  So Kbuild's command lines, and with
them its .cmd records and its CONFIG_CC_VERSION_TEXT, are those of a local
build, and nothing is rebuilt because the farm came or went.  distcc
preprocesses here and sends the .i: the .i goals of proof(), and every -E,
stay local.

Every host is checked before the run with each compiler the run needs: a
small C file compiled there (DISTCC_FALLBACK=0, that host only) must give
the same object, byte for byte, as the local compiler (the same gcc
release: its version string is in the object's .comment).  A host failing
the check, or unreachable, is left out with one line naming it and what to
do.  During the run distcc itself redoes a compile a host could not do
(lost connection, killed daemon) on another host of the list, or here
(DISTCC_FALLBACK, its default), and backs off that host for a while; a compile error is the
compiler's answer, the same as here.  Who compiled what is read back from
distcc's own log (DISTCC_LOG).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .util import UserError, info

DISTCC = "distcc"
DEFAULT_PORT = 3632
SYNTAX = ("use 'distcc HOST[:PORT][/LIMIT]' (distcc's host syntax: LIMIT compiles at once "
          "on HOST, default 2)")
_NAME = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$")
# a tiny translation unit with some code in it, so that two compilers that
# differ in what they emit differ in the object
_PROBE = ("static int t[16];\n"
          "int dmacb_probe(int x) { int i, s = 0; for (i = 0; i < 16; i++) s += t[i] * x;"
          " return s; }\n")


@dataclass
class DistccHost:
    spec: str                   # as DISTCC_HOSTS takes it: host:port/limit
    host: str
    port: int
    limit: int
    line: int = 0
    status: str = "unchecked"   # used, skipped
    why: str = ""
    compiles: int = 0           # compiles distcc's log says it did
    failed: int = 0             # compiles sent here that ended elsewhere
    files: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"host": self.host, "port": self.port, "limit": self.limit,
                "status": self.status, "why": self.why, "compiles": self.compiles,
                "failed": self.failed}


def parse_distcc(rest: str, where: str, no: int) -> DistccHost:
    """The host part of a 'distcc ...' line; UserError naming the line."""
    rest = rest.strip()
    if not rest or any(c.isspace() for c in rest):
        raise UserError(f"{where}: one distcc host a line; {SYNTAX}")
    m = re.match(r"^(\[[^\]]*\]|[^:/]+)(?::([^/]*))?(?:/(.*))?$", rest)
    if not m or not _NAME.match(m.group(1)):
        raise UserError(f"{where}: '{rest}' is not a host; {SYNTAX}")
    host = m.group(1)
    if host in ("localhost", "127.0.0.1") and m.group(2) is None:
        # distcc's "localhost" means "compile here, not through a daemon"
        pass
    port, limit = DEFAULT_PORT, 2
    if m.group(2) is not None:
        if not m.group(2).isdigit() or not 0 < int(m.group(2)) < 65536:
            raise UserError(f"{where}: the port after ':' must be a number 1-65535; {SYNTAX}")
        port = int(m.group(2))
    if m.group(3) is not None:
        if not m.group(3).isdigit() or int(m.group(3)) < 1:
            raise UserError(f"{where}: the limit after '/' must be a number of 1 or more; "
                            f"{SYNTAX}")
        limit = int(m.group(3))
    return DistccHost(spec=f"{host}:{port}/{limit}", host=host, port=port, limit=limit,
                      line=no)


class CompileFarm:
    """The distcc hosts of one verify run: checks, make's environment, the log."""

    def __init__(self, hosts: list[DistccHost], source: str = ""):
        self.hosts = hosts
        self.source = source
        self.tmp = Path(tempfile.mkdtemp(prefix="dmacb-distcc-"))
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        self.log = self.tmp / "distcc.log"
        (self.tmp / "state").mkdir()
        self.checked: dict[str, bool] = {}      # compiler -> checked on every host
        self.local_compiles = 0
        self.fallbacks = 0
        self.bytes_sent = self.bytes_received = 0

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def used(self) -> list[DistccHost]:
        return [h for h in self.hosts if h.status == "used"]

    def slots(self, local: int) -> int:
        """make's job slots: every host's limit, plus the local ones (distcc
        preprocesses here, and compiles here what no host takes)."""
        return local + sum(h.limit for h in self.used)

    # -- the checks ---------------------------------------------------------------------------

    def check(self, compilers: list[str]) -> None:
        """Check each host with each compiler not checked yet."""
        todo = [c for c in compilers if c not in self.checked]
        if not todo:
            return
        cand = [h for h in self.hosts if h.status != "skipped"]
        with ThreadPoolExecutor(max(1, min(8, len(cand)))) as ex:
            whys = list(ex.map(lambda h: self._check_host(h, todo), cand))
        for h, why in zip(cand, whys):
            if why:
                h.status, h.why = "skipped", why
                info(f"farm: distcc {h.spec}: {why}; skipped, its compiles run on the "
                     f"other hosts or here")
            else:
                h.status = "used"
        for c in todo:
            self.checked[c] = True
            link = self.bin / c
            if not link.exists():
                link.symlink_to(shutil.which(DISTCC) or DISTCC)
        info(f"farm: {len(self.used)} of {len(self.hosts)} distcc hosts usable for "
             f"{', '.join(todo)}: {' '.join(h.spec for h in self.used) or 'none'}"
             + ("" if self.used else "; the compiles run here"))

    def _check_host(self, h: DistccHost, compilers: list[str]) -> str:
        if not shutil.which(DISTCC):
            return "distcc is not installed here (Debian package distcc)"
        d = Path(tempfile.mkdtemp(prefix="probe-", dir=self.tmp))
        (d / "state").mkdir()       # DISTCC_DIR: distcc wants it to exist
        (d / "p.c").write_text(_PROBE)
        for cc in compilers:
            if not shutil.which(cc):
                return f"{cc} is not installed here"
            args = ["-O2", "-c", "p.c"]
            loc = subprocess.run([cc, *args, "-o", "local.o"], cwd=d, capture_output=True,
                                 text=True)
            if loc.returncode:
                return f"{cc} fails here on a probe file: {loc.stderr.strip()[:200]}"
            env = {**os.environ, "DISTCC_HOSTS": f"{h.spec}", "DISTCC_FALLBACK": "0",
                   "DISTCC_NO_REWRITE_CROSS": "1",
                   "DISTCC_DIR": str(d / "state"), "DISTCC_IO_TIMEOUT": "30", "LC_ALL": "C"}
            env.pop("DISTCC_LOG", None)
            try:
                r = subprocess.run([DISTCC, cc, *args, "-o", "remote.o"], cwd=d, env=env,
                                   capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                return f"no answer within 60 s compiling with {cc}"
            if r.returncode:
                err = r.stderr.strip().splitlines()
                last = next((ln for ln in reversed(err) if ln.strip()), "")
                if "failed to connect" in r.stderr or "Connection refused" in r.stderr:
                    return (f"unreachable (no distccd listening on port {h.port}; start "
                            f"'distccd --daemon --allow <this machine>' there)")
                return (f"cannot compile with {cc} (install the same {cc} there, and let "
                        f"distccd run it: Debian's update-distcc-symlinks): {last[:200]}")
            if (d / "remote.o").read_bytes() != (d / "local.o").read_bytes():
                return (f"its {cc} is not the one here (a probe object differs; install "
                        f"the same gcc release there)")
        return ""

    # -- the run ------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """make's environment for the compiles: distcc under the compilers' names."""
        hosts = " ".join(h.spec for h in self.used)
        return {"PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "DISTCC_HOSTS": hosts, "DISTCC_LOG": str(self.log),
                "DISTCC_DIR": str(self.tmp / "state"),
                # distcc renames gcc to x86_64-linux-gnu-gcc, also for the
                # local `gcc --version` of Kbuild's CONFIG_CC_VERSION_TEXT:
                # a new config, and every prepared object rebuilt
                "DISTCC_NO_REWRITE_CROSS": "1",
                # distcc's default waits forever on a host that stopped talking
                "DISTCC_IO_TIMEOUT": os.environ.get("DISTCC_IO_TIMEOUT", "120")}

    _START = re.compile(r"^distcc\[(\d+)\] compile from ")
    _EXEC = re.compile(r"^distcc\[(\d+)\] exec on (\S+): ")
    _DONE = re.compile(r"^distcc\[(\d+)\] compile (\S+) on (\S+) completed ok$")
    _SENT = re.compile(r"^distcc\[\d+\] (\d+) bytes from \S+ compiled on ")
    _RECV = re.compile(r"^distcc\[\d+\] \(dcc_r_file_timed\) (\d+) bytes received")

    def read_log(self) -> dict[str, str]:
        """file -> where it was compiled, from distcc's log; counts per host.

        A distcc process whose host fails tries another host of the list,
        then compiles here: its "exec on HOST" lines say where it went
        before the one "completed ok", and each such host failed once."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        by_spec = {h.spec: h for h in self.hosts}
        for h in self.hosts:
            h.compiles, h.failed, h.files = 0, 0, []
        where: dict[str, str] = {}
        tried: dict[str, list[str]] = {}        # distcc pid -> hosts it was sent to
        self.local_compiles = self.fallbacks = self.retries = 0
        self.bytes_sent = self.bytes_received = 0
        for ln in lines:
            for rx, what in ((self._SENT, "bytes_sent"), (self._RECV, "bytes_received")):
                m = rx.match(ln)
                if m:
                    setattr(self, what, getattr(self, what) + int(m.group(1)))
            m = self._START.match(ln)
            if m:
                tried[m.group(1)] = []
                continue
            m = self._EXEC.match(ln)
            if m:
                if m.group(2) in by_spec:
                    tried.setdefault(m.group(1), []).append(m.group(2))
                continue
            m = self._DONE.match(ln)
            if not m:
                continue
            pid, src, at = m.groups()
            before = [t for t in tried.pop(pid, []) if t != at]
            if src == "(null)":         # Kbuild's compiler probes (/dev/null)
                continue
            for t in before:
                by_spec[t].failed += 1
            h = by_spec.get(at)
            if h:
                h.compiles += 1
                h.files.append(src)
                where[src] = h.host
                self.retries += bool(before)
            else:
                self.local_compiles += 1
                self.fallbacks += bool(before)
                where[src] = "local"
        return where

    def to_json(self) -> dict:
        return {"distcc": [h.to_json() for h in self.hosts],
                "local_compiles": self.local_compiles, "fallbacks": self.fallbacks,
                "retries": self.retries,
                # the preprocessed sources sent, the objects and messages back
                # (for the farm's cost model); distcc's "cpp times" are no
                # measure (it reports 0 s for Kbuild's preprocessing)
                "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received}

    def summary(self) -> list[str]:
        out = [f"farm: distcc {h.spec} {h.status}: {h.compiles} compile(s)"
               + (f", {h.failed} failed and redone elsewhere" if h.failed else "")
               + (f" ({h.why})" if h.why else "") for h in self.hosts]
        out.append(f"farm: compiled here: {self.local_compiles} (of which {self.fallbacks} "
                   f"after a host failed); {self.retries} redone on another host")
        return out
