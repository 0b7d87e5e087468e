# SPDX-License-Identifier: GPL-2.0
"""The farm: the audit's spatch facts pass over GNU parallel's --sshlogin.

A hosts file (audit --hosts FILE, or env DMACB_HOSTS=FILE) lists hosts in
GNU parallel's sshlogin syntax, one a line:

    2/root@build1        two job slots on build1, as root
    build2               as many slots as build2 has CPUs
    :                    this machine (also: localhost); 4/: with 4 slots
    # a comment          (also after a line's host)

Ports, keys and the like belong in an ssh config (Host aliases); DMACB_SSH
names the ssh command (default "ssh"; e.g. "ssh -F ~/.ssh/farm_config").

Every remote host is checked first (one ssh each): reachable, spatch of
the same version as here, perl and rsync (GNU parallel needs them), and
the kernel tree at the same path at the same commit and release with no
uncommitted changes.  A host failing a check is skipped with one line
saying what to do; its share runs elsewhere.  The facts script and the job
script go out with --basefile (into a directory of this run under the
remote's home, removed with --cleanup).

The files go out a few per job, largest first.  GNU parallel retries a
failed job (ssh lost, killed, --timeout for a slow host) on another host
(--retries); a job is believed only if it exited 0 and its output ends
with the job script's end line; every other one is rerun here, with the
local spatch, before any fact is used.  Hence the same facts as a local
run, whichever hosts fail.  Who ran what goes to stderr and into the
audit's farm.json (docs/formats.md).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import facts as factsmod
from .kernel import Kernel, makefile_release
from .deps import VERSION_CMDS
from .farm_cc import SYNTAX as DISTCC_SYNTAX, DistccHost, parse_distcc
from .util import PROJECT, Progress, die, info, version_line

JOB_SCRIPT = PROJECT / "scripts" / "dmacb_lib" / "farm_job.sh"
LOCAL = ":"
END = "DMACB-FARM-END "
FARM_JSON = "farm.json"
_HOST = re.compile(r"^(?:[A-Za-z0-9._%+-]+@)?(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?|"
                   r"\[[0-9A-Fa-f:.]+\])$")


@dataclass
class Host:
    sshlogin: str           # as written (normalised: localhost -> :)
    login: str              # [user@]host, or ":" for this machine
    slots: int | None       # N of "N/", None: the host's CPU count
    line: int = 0
    status: str = "unchecked"   # used, skipped, failed
    why: str = ""
    jobs: int = 0           # jobs it ran to a believed end
    files: int = 0
    ssh_failures: int = 0   # job connections that failed (ssh exit 255)
    killed: int = 0         # job connections killed by --timeout (a slow host)

    @property
    def local(self) -> bool:
        return self.login == LOCAL

    def to_json(self) -> dict:
        return {"sshlogin": self.sshlogin, "login": self.login, "slots": self.slots,
                "status": self.status, "why": self.why, "jobs": self.jobs,
                "files": self.files, "ssh_failures": self.ssh_failures,
                "killed_slow": self.killed}


SYNTAX = ("use [N/][user@]host, ':' or 'localhost' (GNU parallel sshlogin syntax; "
          "ports and keys go in an ssh config, see DMACB_SSH)")


@dataclass
class HostsFile:
    ssh: list[Host]                 # sshlogin lines: the audit's spatch jobs
    distcc: list[DistccHost]        # 'distcc HOST[:PORT][/LIMIT]' lines: verify's compiles
    source: str = ""


def parse_hosts(text: str, name: str = "hosts file") -> list[Host]:
    """The ssh hosts of a hosts file; UserError (exit 2) on the first bad line."""
    return parse_file(text, name).ssh


def parse_file(text: str, name: str = "hosts file") -> HostsFile:
    """Both kinds of line of a hosts file; UserError (exit 2) on the first
    bad line, or when it lists no host at all."""
    hosts: list[Host] = []
    dcc: list[DistccHost] = []
    seen: dict[str, int] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{name}, line {no}: '{raw.strip()}'"
        if line.split()[0] == "distcc":
            d = parse_distcc(line[len("distcc"):], where, no)
            key = f"distcc {d.host}:{d.port}"
            if key in seen:
                die(f"{where}: {key} is listed twice (first on line {seen[key]}); give it "
                    f"once, with its limit")
            seen[key] = no
            dcc.append(d)
            continue
        slots = None
        login = line
        m = re.match(r"^([^/\s]*)/(.*)$", line)
        if m:
            if not m.group(1).isdigit() or int(m.group(1)) < 1:
                die(f"{where}: the job slots before '/' must be a number of 1 or more; {SYNTAX}")
            slots, login = int(m.group(1)), m.group(2)
        if login in (":", "localhost"):
            login = LOCAL
        elif not login:
            die(f"{where}: no host after the slots; {SYNTAX}")
        elif any(c.isspace() for c in login):
            die(f"{where}: a host is one word (no ssh command lines); {SYNTAX}")
        elif not _HOST.match(login):
            die(f"{where}: '{login}' is not a [user@]host; {SYNTAX}")
        if login in seen:
            die(f"{where}: {login} is listed twice (first on line {seen[login]}); "
                f"give it once, with its slots")
        seen[login] = no
        sshlogin = (f"{slots}/" if slots else "") + login
        hosts.append(Host(sshlogin=sshlogin, login=login, slots=slots, line=no))
    if not hosts and not dcc:
        die(f"{name}: no hosts in it; {SYNTAX}, or {DISTCC_SYNTAX}, one a line")
    return HostsFile(hosts, dcc, name)


def load_hosts(path: str | None) -> list[Host] | None:
    """The ssh hosts of --hosts FILE, else DMACB_HOSTS=FILE, else None (no farm)."""
    f = load_file(path)
    if f is None:
        return None
    if not f.ssh:
        info(f"farm: {f.source} lists distcc hosts only (verify's compiles); the audit's "
             f"spatch runs here")
        return None
    return f.ssh


def load_file(path: str | None) -> HostsFile | None:
    """--hosts FILE, else DMACB_HOSTS=FILE, else None (no farm)."""
    path = path or os.environ.get("DMACB_HOSTS") or None
    if not path:
        return None
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except OSError as e:
        die(f"hosts file {path}: cannot read it ({e.strerror}); give a file listing one "
            f"host a line ([N/][user@]host, ':')")
    return parse_file(text, f"hosts file {path}")


def _ssh_cmd() -> list[str]:
    return shlex.split(os.environ.get("DMACB_SSH") or "ssh")


def _spatch_version() -> str:
    return version_line(dict(VERSION_CMDS)["spatch"]) or "?"


def read_joblog(path: Path) -> dict[int, tuple[str, int, int]]:
    """GNU parallel's --joblog: job number -> (host, exit value, signal);
    a job missing from it never ended (exit -1 where unreadable)."""
    final: dict[int, tuple[str, int, int]] = {}
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        lines = []
    for line in lines:
        f = line.split("\t")
        if len(f) >= 8 and f[0].isdigit():
            final[int(f[0])] = (f[1], int(f[6]) if f[6].lstrip("-").isdigit() else -1,
                                int(f[7]) if f[7].isdigit() else 0)
    return final


def ssh_wrapper(tmp: Path) -> tuple[Path, Path]:
    """parallel's ssh, as a script in tmp: the user's ssh, logging the
    start and the exit status of each job connection with its host (the
    word before parallel's "--") to the returned log.  The joblog keeps only
    a job's last attempt; this log shows the attempts lost on the way (a
    start without an end: a job parallel's --timeout killed)."""
    sshlog, wrapper = tmp / "ssh.log", tmp / "ssh"
    log = shlex.quote(str(sshlog))
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *GNU_Parallel_worker*) job=1;; *) job=;; esac\n'
        'prev=; for a; do [ "$a" = -- ] && break; prev=$a; done\n'
        f'[ -z "$job" ] || echo "S $prev" >> {log}\n'
        + " ".join(map(shlex.quote, _ssh_cmd())) + ' "$@"\nrc=$?\n'
        f'[ -z "$job" ] || echo "E $prev $rc" >> {log}\n'
        'exit $rc\n')
    wrapper.chmod(0o755)
    return wrapper, sshlog


def count_ssh_log(path: Path, hosts: list[Host], lock: threading.Lock) -> None:
    """Add ssh_wrapper()'s log to the hosts' killed and ssh_failures."""
    by_login = {h.login: h for h in hosts}
    # (parallel may give ssh the user apart, -l USER HOST)
    by_host: dict[str, Host] = {}
    for h in hosts:
        by_host.setdefault(h.login.rsplit("@", 1)[-1], h)
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        f = line.split()
        h = by_login.get(f[1]) or by_host.get(f[1].rsplit("@", 1)[-1]) \
            if len(f) >= 2 else None
        if not h:
            continue
        with lock:
            if f[0] == "S":
                h.killed += 1
            elif f[0] == "E":
                h.killed -= 1
                h.ssh_failures += f[2:] == ["255"]


def probe(h: Host, k: Kernel, tools: tuple[str, ...], extra: list[str],
          timeout: int = 60) -> tuple[str, list[str]]:
    """One ssh to h: does it have tools (GNU parallel's remote side needs
    perl; each stage adds its own) and this tree at the same path, commit
    and release, clean?  Then the output of each shell snippet of extra.
    Returns why h cannot be used ("" if it can) and the snippets' outputs."""
    kq = shlex.quote(str(k.path))
    script = "; ".join([
        f"for t in {' '.join(tools)}; do command -v $t >/dev/null 2>&1 || echo $t; done",
        "echo @@", f"git -C {kq} rev-parse HEAD 2>&1 | head -n 1",
        "echo @@", f"git -C {kq} status --porcelain --untracked-files=no 2>&1 | head -n 3",
        "echo @@", f"head -c 4096 {kq}/Makefile 2>/dev/null",
        *[x for snippet in extra for x in ("echo @@", snippet)]])
    none = [""] * len(extra)
    try:
        r = subprocess.run([*_ssh_cmd(), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                            h.login, script], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"unreachable (ssh did not answer in {timeout} s); check the host or drop it", none
    except OSError as e:
        return f"cannot run ssh ({e.strerror}); set DMACB_SSH to a working ssh command", none
    if r.returncode == 255:
        err = (r.stderr.strip().splitlines() or ["ssh exit 255"])[-1]
        return (f"unreachable ({err}); check ssh to it (key, port in the ssh config) or "
                f"drop it"), none
    parts = r.stdout.split("@@\n")
    if len(parts) != 4 + len(extra):
        return (f"answered the check oddly (ssh exit {r.returncode}: "
                f"{(r.stderr.strip().splitlines() or ['?'])[-1]}); check its shell"), none
    missing, head, dirty, mk, *rest = (p.strip() for p in parts)
    if missing:
        return (f"lacks {' and '.join(missing.split())} (GNU parallel's jobs need "
                f"{'it' if len(missing.split()) == 1 else 'them'}); install "
                f"{'it' if len(missing.split()) == 1 else 'them'} there"), none
    rel = None
    if mk:
        with tempfile.TemporaryDirectory() as td:
            Path(td, "Makefile").write_text(mk + "\n")
            rel = makefile_release(Path(td))
    if not re.fullmatch(r"[0-9a-f]{40}", head) or rel is None:
        return (f"has no kernel git tree at {k.path}; put the same tree there "
                f"(same path, commit {k.head[:12]})"), none
    if head != k.head or rel != k.release:
        return (f"its tree at {k.path} is {rel} at {head[:12]}, here {k.release} at "
                f"{k.head[:12]}; check out the same commit there"), none
    if dirty:
        return (f"its tree at {k.path} has uncommitted changes ({dirty.splitlines()[0]}); "
                f"commit or reset them there"), none
    return "", rest


def alive(h: Host) -> bool:
    """Does the host still answer ssh?"""
    try:
        r = subprocess.run([*_ssh_cmd(), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                            h.login, "true"], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        return r.returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def still_up(h: Host) -> bool:
    """After job connections to h failed: whether it still answers ssh;
    if not, h is marked failed (its jobs went elsewhere)."""
    up = alive(h)
    if not up:
        h.status = "failed"
        h.why = "became unreachable during the run; its jobs went to the other hosts, or ran here"
    return up


class Farm:
    """The hosts of one audit, what they ran, and the note it writes."""

    def __init__(self, hosts: list[Host], jobs: int, source: str = ""):
        self.hosts = hosts
        self.jobs = jobs            # local spatch jobs, for the fallback
        self.source = source
        self.ran: dict[str, str] = {}       # file -> host login (or "local (fallback)")
        self.fallback: list[str] = []
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.checked = False
        self._check_lock = threading.Lock()
        self.retries = int(os.environ.get("DMACB_FARM_RETRIES", "3"))
        self.seconds = 0.0

    # -- the checks ---------------------------------------------------------------------------

    def check(self, k: Kernel) -> None:
        """Check every remote host once (in parallel); skip the bad ones."""
        with self._check_lock:
            if not self.checked:
                self._check(k)
                self.checked = True

    def _check(self, k: Kernel) -> None:
        here = _spatch_version()
        remote = [h for h in self.hosts if not h.local]
        with ThreadPoolExecutor(max(1, min(8, len(remote)))) as ex:
            for h, why in zip(remote, ex.map(lambda h: self._check_one(h, k, here), remote)):
                if why:
                    h.status, h.why = "skipped", why
                    info(f"farm: {h.login}: {why}; skipped, its share runs on the other hosts")
                else:
                    h.status = "used"
        for h in self.hosts:
            if h.local:
                h.status = "used"
        used = [h.sshlogin for h in self.hosts if h.status == "used"]
        info(f"farm: {len(used)} of {len(self.hosts)} hosts usable: {' '.join(used) or 'none'}"
             + ("" if used else "; the facts run here"))

    def _check_one(self, h: Host, k: Kernel, here: str) -> str:
        why, (ver,) = probe(h, k, ("perl", "rsync"), [
            "(command -v spatch >/dev/null 2>&1 && spatch --version 2>&1 | head -n 1) "
            "|| echo NOSPATCH"])
        if why:
            return why
        if ver == "NOSPATCH":
            return "has no spatch; install coccinelle there (apt-get install coccinelle)"
        if ver != here:
            return (f"has '{ver}', here '{here}': facts could differ; install the same "
                    f"coccinelle version there")
        return ""

    def usable(self) -> list[Host]:
        return [h for h in self.hosts if h.status == "used"]

    # -- a facts pass -------------------------------------------------------------------------

    def spatch(self) -> "FarmSpatch":
        return FarmSpatch(self)

    def run(self, k: Kernel, paths: list[str],
            quiet: bool = False) -> dict[str, tuple[list[dict], str]]:
        """Facts for paths, as factsmod.Spatch.run gives them."""
        self.check(k)
        t0 = time.monotonic()
        out: dict[str, tuple[list[dict], str]] = {p: ([], "") for p in paths}
        # A file changed here (or next to a changed file) is not what the
        # remote trees hold: those run here.
        changed = factsmod.changed_files(k)
        dirty_dirs = {os.path.dirname(p) for p in changed}
        here = [p for p in paths if os.path.dirname(p) in dirty_dirs]
        farmed = [p for p in paths if p not in here]
        hosts = self.usable()
        if not hosts:
            here, farmed = list(paths), []
        left = self._parallel(k, farmed, hosts, out, quiet) if farmed else []
        if left:
            info(f"farm: {len(left)} files got no believable result from any host; "
                 f"running them here")
        rest = here + left
        if rest:
            got = factsmod.Spatch(self.jobs).run(k, rest, quiet=True)
            out.update(got)
            with self.lock:
                for p in rest:
                    self.ran[p] = "local (fallback)" if p in left else "local (changed here)" \
                        if p in here and hosts else "local (no usable host)"
                self.fallback += left
        with self.lock:
            self.seconds += time.monotonic() - t0
        return out

    def _parallel(self, k: Kernel, paths: list[str], hosts: list[Host],
                  out: dict, quiet: bool) -> list[str]:
        """Run paths over parallel; fill out; return the paths left undone."""
        slots = sum(h.slots or 2 for h in hosts)
        order = sorted(paths, key=lambda p: -factsmod._size(str(k.path / p)))
        per = max(1, min(8, math.ceil(len(order) / (slots * 3))))
        groups = [order[i::math.ceil(len(order) / per)] for i in range(math.ceil(len(order) / per))]
        tmp = Path(tempfile.mkdtemp(prefix="dmacb-farm-"))
        run = f"dmacb-farm-{os.getpid()}-{os.path.basename(tmp)[11:]}"
        rdir = tmp / run
        rdir.mkdir()
        shutil.copy(factsmod.COCCI, rdir / factsmod.COCCI.name)
        shutil.copy(JOB_SCRIPT, rdir / JOB_SCRIPT.name)
        wrapper, _ = ssh_wrapper(tmp)
        (tmp / "slf").write_text("".join(h.sshlogin + "\n" for h in hosts))
        (tmp / "args").write_text("".join(" ".join(g) + "\n" for g in groups))
        job_timeout = int(os.environ.get("DMACB_FARM_TIMEOUT", "0")) or \
            factsmod.SPATCH_TIMEOUT * per + 60
        job = " ".join(map(shlex.quote, ["sh", f"{run}/{JOB_SCRIPT.name}", str(k.path)])) + \
            " {} " + " ".join(map(shlex.quote, factsmod.SPATCH_OPTS))
        cmd = ["parallel", "--ssh", str(wrapper), "--slf", str(tmp / "slf"),
               "--basefile", f"{run}/{factsmod.COCCI.name}",
               "--basefile", f"{run}/{JOB_SCRIPT.name}", "--cleanup",
               "--retries", str(self.retries), "--timeout", str(job_timeout),
               "--joblog", str(tmp / "joblog"), "--results", str(tmp / "res") + "/{#}",
               "-a", str(tmp / "args"), job]
        if not quiet:
            info(f"farm: {len(paths)} files in {len(groups)} jobs over "
                 f"{' '.join(h.sshlogin for h in hosts)}")
        prog = factsmod._Silent() if quiet else Progress("spatch (farm)", len(groups))
        try:
            proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            assert proc.stderr
            perr = proc.stderr.read()
            proc.wait()
            left = self._harvest(k, tmp, groups, hosts, out, prog, job_timeout)
            prog.finish()
            if proc.returncode > 100 and len(left) == len(paths):
                info(f"farm: parallel exited {proc.returncode}: "
                     f"{(perr.strip().splitlines() or ['?'])[-1]}")
            return left
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _harvest(self, k: Kernel, tmp: Path, groups: list[list[str]], hosts: list[Host],
                 out: dict, prog, timeout: int) -> list[str]:
        by_login = {h.login: h for h in hosts}
        final = read_joblog(tmp / "joblog")
        # connections lost or refused on the way (each retried elsewhere)
        count_ssh_log(tmp / "ssh.log", hosts, self.lock)
        left: list[str] = []
        for seq, group in enumerate(groups, 1):
            host, rc, sig = final.get(seq, ("", -1, 0))
            login = LOCAL if host == ":" else host
            got = self._read_job(k, tmp / "res", seq, group) if rc == 0 and not sig else None
            prog.step(group[0], 1)
            if got is None:
                left += group
                why = f"exit {rc}" + (f", signal {sig}" if sig else "") if host else "never ran"
                self._event(f"job {seq} ({len(group)} files, {group[0]}...): no result "
                            f"({why}{' on ' + host if host else ''})"
                            f"{' after the retries' if self.retries > 1 else ''}")
                continue
            for p, v in got.items():
                out[p] = v
            with self.lock:
                h = by_login.get(login)
                if h:
                    h.jobs += 1
                    h.files += len(group)
                for p in group:
                    self.ran[p] = login
        for h in hosts:
            if h.killed > 0:
                self._event(f"{h.login}: {h.killed} jobs killed after {timeout} s (--timeout: "
                            f"slow or stuck), each retried on another host")
            if h.ssh_failures and not h.local:
                up = still_up(h)
                self._event(f"{h.login}: {h.ssh_failures} job connections failed (ssh exit "
                            f"255){'' if up else ', and it no longer answers'}; each such "
                            f"job was retried on another host (farm.json: where each file ran)")
        return left

    def _event(self, msg: str) -> None:
        info(f"farm: {msg}")
        with self.lock:
            self.events.append(msg)

    def _read_job(self, k: Kernel, res: Path, seq: int,
                  group: list[str]) -> dict[str, tuple[list[dict], str]] | None:
        """One job's facts, or None if its output is not believable."""
        try:
            stdout = (res / str(seq)).read_text()
            stderr = (res / f"{seq}.err").read_text()
        except OSError:
            return None
        lines = stdout.splitlines(keepends=True)
        if not lines or not lines[-1].startswith(END) or \
                f"files={len(group)} " not in lines[-1] + " ":
            return None
        absmap = {str(k.path / p): p for p in group}
        got: dict[str, tuple[list[dict], str]] = {p: ([], "") for p in group}
        try:
            failed = factsmod.parse_output(lines[:-1], stderr.splitlines(keepends=True),
                                           absmap, got)
        except RuntimeError as e:
            self._event(f"job {seq}: {e}; rerun here")
            return None
        for rel, why in failed.items():
            got[rel] = (got[rel][0], why)
        return got

    # -- the note -----------------------------------------------------------------------------

    def summary(self) -> None:
        for h in self.hosts:
            what = f"{h.jobs} jobs, {h.files} files" if h.status != "skipped" else h.why
            if h.status == "failed":
                what += f" ({h.why})"
            info(f"farm: {h.sshlogin} {h.status}: {what}"
                 + (f"; {h.ssh_failures} lost connections" if h.ssh_failures else "")
                 + (f"; {h.killed} jobs killed as too slow" if h.killed > 0 else ""))
        local = sum(1 for v in self.ran.values() if v.startswith("local ("))
        if local:
            info(f"farm: {local} files ran here outside the farm (see farm.json)")

    def write(self, outdir: Path) -> None:
        doc = {"format": "dmacb-farm/1", "hosts_file": self.source,
               "retries": self.retries, "spatch_seconds": round(self.seconds, 1),
               "hosts": [h.to_json() for h in self.hosts],
               "files": dict(sorted(self.ran.items())),
               "fallback": sorted(self.fallback), "events": self.events}
        outdir.mkdir(parents=True, exist_ok=True)
        tmp = outdir / (FARM_JSON + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(outdir / FARM_JSON)


class FarmSpatch:
    """factsmod.Spatch's interface (run once, close), over the farm."""

    def __init__(self, farm: Farm):
        self.farm = farm
        self.used = False

    def close(self) -> None:
        self.used = True

    def run(self, k: Kernel, paths: list[str],
            quiet: bool = False) -> dict[str, tuple[list[dict], str]]:
        assert not self.used, "a Spatch runs once"
        self.used = True
        return self.farm.run(k, paths, quiet)
