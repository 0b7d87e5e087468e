# SPDX-License-Identifier: GPL-2.0
"""verify's checker and checkpatch jobs over GNU parallel --sshlogin.

The hosts file's ssh lines (farm.py: the same hosts as the audit's) run
them.  Each host gets a workspace for the run, `~/dmacb-verify-<run>/<login>/`
(its home is where parallel runs a remote job; the job finds its own from
$PARALLEL_SSHLOGIN, so that hosts sharing a home do not share a workspace),
made over ssh before the first job:

  wt/        a clone (--shared, no object copied) of the host's own kernel
             tree, which must be this tree at the same path and commit (as
             for the audit), with the convert branch fetched from a git
             bundle and checked out: the tree checkpatch and the checker read
  dmacb-check, kb/
             the checker built here and its tables (the host needs the same
             libclang-14; checked)
  ARCH/      per configuration: compile_commands.json with this machine's
             worktree and build directory replaced by the workspace's, and
             b/, the build directory's generated headers (include/,
             arch/*/include/); sent when the checker gets to ARCH
  plan-ARCH.tsv, patches/, job.sh (farm_check_job.sh), env

This machine, when the file lists ':', runs its jobs in a workspace of
links to the worktree and the local compile databases.  A job is believed
only when it exited 0 and its output ends with the job script's end line
naming as many inputs as it was given; the workspace's paths in its output
are put back to this machine's before the output is read, so the entries
are those of a local run.  Whatever no host delivered runs here as it does
without hosts.  A host failing the set-up is left out with one line saying
why and what to do.  The workspaces are removed at the end.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .farm import (LOCAL, Host, _ssh_cmd, count_ssh_log, probe, read_joblog, still_up,
                   ssh_wrapper)
from .kernel import Kernel
from .util import PROJECT, info

JOB_SCRIPT = PROJECT / "scripts" / "dmacb_lib" / "farm_check_job.sh"
END = "DMACB-CHECK-END "
LIBCLANG = Path("/usr/lib/llvm-14/lib/libclang-14.so.1")


@dataclass
class Workspace:
    host: Host
    path: str = ""                      # absolute, on the host
    ready: bool = False
    arches: set = field(default_factory=set)
    jobs: int = 0


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


def _libclang_id() -> str:
    p = LIBCLANG.resolve()
    return f"{p.name} {p.stat().st_size}" if p.exists() else "none"


class CheckFarm:
    """The ssh hosts of one verify run, their workspaces, who ran what."""

    def __init__(self, hosts: list[Host], k: Kernel, wt: Path, binary: Path, kb: Path):
        self.k, self.wt, self.binary, self.kb = k, wt, binary, kb
        self.run_id = f"dmacb-verify-{os.getpid()}-{int(time.time())}"
        self.spaces = [Workspace(h) for h in hosts]
        self.retries = int(os.environ.get("DMACB_FARM_RETRIES", "3"))
        self.timeout = int(os.environ.get("DMACB_FARM_TIMEOUT", "0")) or 600
        self.ran: dict[str, dict[str, str]] = {"checker": {}, "checkpatch": {}}
        self.events: list[str] = []
        self.lock = threading.Lock()
        self._setup: threading.Thread | None = None

    # -- the workspaces ---------------------------------------------------------------------

    def start(self) -> None:
        """Make the workspaces in the background (the builds run meanwhile)."""
        self._setup = threading.Thread(target=self._make_all, daemon=True)
        self._setup.start()

    def _wait(self) -> list[Workspace]:
        if self._setup is not None:
            self._setup.join()
            self._setup = None
        return [w for w in self.spaces if w.ready]

    def _make_all(self) -> None:
        dirty = subprocess.run(["git", "-C", str(self.wt), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True).stdout
        if dirty:
            for w in self.spaces:
                w.host.status, w.host.why = "skipped", "the worktree has uncommitted changes"
            info("farm: the convert worktree has uncommitted changes: the checker and "
                 "checkpatch run here")
            return
        with tempfile.TemporaryDirectory(prefix="dmacb-bundle-") as td:
            bundle = Path(td) / "wt.bundle"
            r = subprocess.run(["git", "-C", str(self.wt), "bundle", "create", "-q",
                                str(bundle), f"{self.k.head}..HEAD"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                for w in self.spaces:
                    w.host.status, w.host.why = "skipped", "no bundle of the branch"
                info(f"farm: cannot bundle the convert branch ({r.stderr.strip()[-200:]}); "
                     f"the checker and checkpatch run here")
                return
            with ThreadPoolExecutor(max(1, min(8, len(self.spaces)))) as ex:
                list(ex.map(lambda w: self._make(w, bundle), self.spaces))
        used = [w.host.sshlogin for w in self.spaces if w.ready]
        info(f"farm: checker and checkpatch workspaces on {len(used)} of {len(self.spaces)} "
             f"hosts: {' '.join(used) or 'none, they run here'}")

    def _ssh(self, h: Host, script: str, stdin: bytes | None = None,
             timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run([*_ssh_cmd(), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                               h.login, script], input=stdin, capture_output=True,
                              timeout=timeout, **({} if stdin is not None else
                                                  {"stdin": subprocess.DEVNULL}))

    def _make(self, w: Workspace, bundle: Path) -> None:
        h = w.host
        try:
            why = self._make_local(w) if h.local else self._make_remote(w, bundle)
        except subprocess.TimeoutExpired:
            why = "did not answer in time; check the host or drop it"
        except OSError as e:
            why = f"cannot run ssh ({e.strerror}); set DMACB_SSH to a working ssh command"
        if why:
            h.status, h.why = "skipped", why
            info(f"farm: {h.login}: {why}; skipped for the checker and checkpatch")
        else:
            w.ready, h.status = True, "used"

    def _make_local(self, w: Workspace) -> str:
        d = Path.home() / self.run_id / LOCAL
        (d / "patches").mkdir(parents=True, exist_ok=True)
        shutil.copy(JOB_SCRIPT, d / "job.sh")
        (d / "env").write_text(f"BIN={shlex.quote(str(self.binary))}\n"
                               f"KB={shlex.quote(str(self.kb))}\n"
                               f"WT={shlex.quote(str(self.wt))}\n")
        w.path = str(d)
        return ""

    def _make_remote(self, w: Workspace, bundle: Path) -> str:
        h, k = w.host, self.k
        kq = shlex.quote(str(k.path))
        why, (lib, path) = probe(h, k, ("git", "perl", "tar"), [
            f"f=$(readlink -f {LIBCLANG} 2>/dev/null) && [ -f \"$f\" ] && "
            "echo \"${f##*/} $(stat -c %s \"$f\")\" || echo none",
            f"mkdir -p {self.run_id}/{shlex.quote(h.login)} && "
            f"cd {self.run_id}/{shlex.quote(h.login)} && pwd"])
        if why:
            return why
        if lib != _libclang_id():
            return (f"has libclang '{lib}', here '{_libclang_id()}': the checker could parse "
                    f"differently; install the same libclang-14 there")
        if not path.startswith("/"):
            return f"could not make its workspace ({path or 'no path'}); check its disk"
        w.path = path
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            tf.add(str(bundle), "wt.bundle")
            tf.add(str(self.binary), "dmacb-check")
            tf.add(str(self.kb), "kb")
            tf.add(str(JOB_SCRIPT), "job.sh")
            _add_bytes(tf, "env", f"BIN={path}/dmacb-check\nKB={path}/kb\nWT={path}/wt\n".encode())
        pq = shlex.quote(path)
        r = self._ssh(h, " && ".join([
            f"cd {pq}", "tar -xf -", "mkdir -p patches",
            f"git clone -q --shared --no-checkout {kq} wt",
            "git -C wt fetch -q ../wt.bundle HEAD",
            "git -C wt -c advice.detachedHead=false checkout -q FETCH_HEAD",
            "git -C wt rev-parse HEAD", "./dmacb-check --help >/dev/null"]),
            stdin=buf.getvalue())
        tip = subprocess.run(["git", "-C", str(self.wt), "rev-parse", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        out = r.stdout.decode(errors="replace").split()
        if r.returncode != 0 or not out or out[-1] != tip:
            err = (r.stderr.decode(errors="replace").strip().splitlines() or
                   [f"exit {r.returncode}"])[-1]
            return f"could not set up its workspace ({err}); check its disk and git"
        return ""

    def ship_arch(self, arch: str, db_dir: Path, bdir: Path, plan: str) -> None:
        """Send one configuration's compile database, generated headers and
        the checker's plan to every workspace that lacks them."""
        def one(w: Workspace) -> None:
            if arch in w.arches:
                self._put(w, f"plan-{arch}.tsv", plan.encode())
                return
            try:
                why = self._ship(w, arch, db_dir, bdir, plan)
            except (subprocess.TimeoutExpired, OSError) as e:
                why = f"{type(e).__name__}"
            if why:
                self._event(f"{w.host.login}: cannot take {arch} ({why}); its files run "
                            f"on the other hosts")
            else:
                w.arches.add(arch)
        with ThreadPoolExecutor(max(1, min(8, len(self.spaces)))) as ex:
            list(ex.map(one, self._wait()))

    def _put(self, w: Workspace, name: str, data: bytes) -> None:
        if w.host.local:
            (Path(w.path) / name).write_bytes(data)
            return
        self._ssh(w.host, f"cat > {shlex.quote(w.path + '/' + name)}", stdin=data, timeout=120)

    def _ship(self, w: Workspace, arch: str, db_dir: Path, bdir: Path, plan: str) -> str:
        if w.host.local:
            d = Path(w.path)
            (d / arch).unlink(missing_ok=True)
            (d / arch).symlink_to(db_dir)
            (d / f"plan-{arch}.tsv").write_text(plan)
            return ""
        text = (db_dir / "compile_commands.json").read_text()
        # the longer path first: the build directory may lie under the worktree's root
        for here, there in sorted([(str(self.wt), f"{w.path}/wt"),
                                   (str(bdir), f"{w.path}/{arch}/b")], key=lambda x: -len(x[0])):
            text = text.replace(here, there)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            _add_bytes(tf, f"{arch}/compile_commands.json", text.encode())
            _add_bytes(tf, f"plan-{arch}.tsv", plan.encode())
            for sub in [bdir / "include", *sorted((bdir / "arch").glob("*/include"))]:
                if sub.is_dir():
                    tf.add(str(sub), f"{arch}/b/{sub.relative_to(bdir)}")
        r = self._ssh(w.host, f"cd {shlex.quote(w.path)} && tar -xf -", stdin=buf.getvalue())
        return "" if r.returncode == 0 else \
            (r.stderr.decode(errors="replace").strip().splitlines() or ["tar failed"])[-1]

    # -- the jobs ---------------------------------------------------------------------------

    def checkpatch(self, patches: list[Path]) -> tuple[str, list[Path]]:
        """checkpatch.pl's output for the patches, as one local run would
        print it (per patch its block, named by the local path); and the
        patches no host delivered."""
        spaces = self._wait()
        if not spaces or not patches:
            return "", list(patches)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for p in patches:
                tf.add(str(p), f"patches/{p.name}")
        for w in spaces:
            if w.host.local:
                for p in patches:
                    shutil.copy(p, Path(w.path) / "patches" / p.name)
            else:
                self._ssh(w.host, f"cd {shlex.quote(w.path)} && tar -xf -", stdin=buf.getvalue(),
                          timeout=120)
        local_dir = str(patches[0].parent)
        jobs = [["checkpatch", *[p.name for p in patches[i:i + 4]]]
                for i in range(0, len(patches), 4)]
        done = self._parallel(spaces, jobs, "checkpatch")
        text, left = [], []
        for job, (login, out, wpath) in zip(jobs, done):
            names = job[1:]
            if out is None:
                left += [p for p in patches if p.name in names]
                continue
            text.append(out.replace(f"{wpath}/patches", local_dir))
            for n in names:
                self.ran["checkpatch"][n] = login
        return "\n".join(text), left

    def checker(self, arch: str, files: list[str], db_dir: Path,
                bdir: Path) -> tuple[list[dict], list[str]]:
        """The checker's entries for files (parsed with arch's database), as
        a local run gives them; and the files no host delivered."""
        spaces = [w for w in self._wait() if arch in w.arches]
        if not spaces or not files:
            return [], list(files)
        per = 2
        jobs = [["checker", arch, *files[i:i + per]] for i in range(0, len(files), per)]
        done = self._parallel(spaces, jobs, f"checker ({arch})")
        entries: list[dict] = []
        left: list[str] = []
        for job, (login, out, wpath) in zip(jobs, done):
            names = job[2:]
            got = None
            if out is not None:
                if not next(w for w in spaces if w.path == wpath).host.local:
                    out = out.replace(f"{wpath}/{arch}/b", str(bdir)).replace(
                        f"{wpath}/wt", str(self.wt))
                try:
                    got = json.loads(out)["files"]
                except (ValueError, KeyError, TypeError):
                    got = None
                if got is not None and sorted(e.get("file") for e in got) != sorted(names):
                    got = None
            if got is None:
                left += names
                continue
            entries += got
            for n in names:
                self.ran["checker"][n] = login
        return entries, left

    def ran_here(self, kind: str, names: list[str]) -> None:
        """What no host delivered and this machine runs itself (LOCAL)."""
        with self.lock:
            for n in names:
                self.ran[kind][n] = LOCAL

    def _parallel(self, spaces: list[Workspace], jobs: list[list[str]],
                  what: str) -> list[tuple[str, str | None, str]]:
        """Run jobs over parallel --sshlogin; per job (host, output or None, workspace)."""
        tmp = Path(tempfile.mkdtemp(prefix="dmacb-farmcheck-"))
        try:
            (tmp / "slf").write_text("".join(w.host.sshlogin + "\n" for w in spaces))
            (tmp / "args").write_text("".join(" ".join(j) + "\n" for j in jobs))
            wrapper, sshlog = ssh_wrapper(tmp)
            cmd = ["parallel", "--ssh", str(wrapper), "--slf", str(tmp / "slf"),
                   "--retries", str(self.retries), "--timeout", str(self.timeout),
                   "--joblog", str(tmp / "joblog"), "--results", str(tmp / "res") + "/{#}",
                   "-a", str(tmp / "args"), f'sh {self.run_id}/"$PARALLEL_SSHLOGIN"/job.sh {{}}']
            info(f"farm: {what}: {len(jobs)} jobs over "
                 f"{' '.join(w.host.sshlogin for w in spaces)}")
            # this machine's jobs run where parallel does: its home, as a remote's
            subprocess.run(cmd, cwd=Path.home(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            final = read_joblog(tmp / "joblog")
            by_login = {w.host.login: w for w in spaces}
            self._lost(spaces, sshlog)
            res = []
            for seq, job in enumerate(jobs, 1):
                host, rc, sig = final.get(seq, ("", -1, 0))
                rc = rc if not sig else -1
                login = LOCAL if host == ":" else host
                out = None
                wpath = ""
                if rc == 0:
                    try:
                        out = (tmp / "res" / str(seq)).read_text()
                    except OSError:
                        out = None
                if out is not None:
                    lines = out.rstrip("\n").split("\n")
                    endf = dict(x.split("=", 1) for x in lines[-1].split()[2:] if "=" in x) \
                        if lines and lines[-1].startswith(END) else {}
                    n = len(job) - (2 if job[0] == "checker" else 1)
                    wpath = endf.get("w", "")
                    if endf.get("n") != str(n) or login not in by_login or \
                            by_login[login].path != wpath:
                        out = None
                    else:
                        out = "\n".join(lines[:-1]) + "\n"
                if out is None:
                    self._event(f"{what} job {seq} ({' '.join(job[1:3])}...): no result "
                                f"(exit {rc}{' on ' + host if host else ''}); runs here")
                else:
                    with self.lock:
                        by_login[login].jobs += 1
                res.append((login, out, wpath))
            return res
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _lost(self, spaces: list[Workspace], sshlog: Path) -> None:
        """Hosts whose job connections failed: parallel retried those jobs
        on another host; one that no longer answers gets no more jobs."""
        remote = [w for w in spaces if not w.host.local]
        before = {id(w): w.host.ssh_failures for w in remote}
        count_ssh_log(sshlog, [w.host for w in remote], self.lock)
        for w in remote:
            h = w.host
            n = h.ssh_failures - before[id(w)]
            if not n:
                continue
            up = still_up(h)
            if not up:
                w.ready = False
            self._event(f"{h.login}: {n} job connections failed (ssh exit 255)"
                        f"{'' if up else ', and it no longer answers: no more jobs go there'}; "
                        f"each such job was retried on another host, or runs here")

    def _event(self, msg: str) -> None:
        info(f"farm: {msg}")
        with self.lock:
            self.events.append(msg)

    # -- the end ------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every workspace (also of hosts that failed half-way)."""
        self._wait()

        def one(w: Workspace) -> None:
            try:
                if w.host.local:
                    shutil.rmtree(Path.home() / self.run_id / LOCAL, ignore_errors=True)
                elif w.path:
                    r = self._ssh(w.host, f"rm -rf {self.run_id}/{shlex.quote(w.host.login)}",
                                  timeout=300)
                    if r.returncode != 0:
                        info(f"farm: {w.host.login}: could not remove {w.path}; remove it "
                             f"by hand")
            except (subprocess.TimeoutExpired, OSError):
                info(f"farm: {w.host.login}: could not remove {w.path}; remove it by hand")
        with ThreadPoolExecutor(max(1, min(8, len(self.spaces)))) as ex:
            list(ex.map(one, self.spaces))
        # the run's directory, where it is empty now (hosts may share a home)
        for w in self.spaces:
            try:
                if w.host.local:
                    (Path.home() / self.run_id).rmdir()
                elif w.path:
                    self._ssh(w.host, f"rmdir {self.run_id} 2>/dev/null; true", timeout=60)
            except (subprocess.TimeoutExpired, OSError):
                pass

    def summary(self) -> list[str]:
        out = []
        for w in self.spaces:
            h = w.host
            what = f"{w.jobs} jobs" if h.status == "used" else h.why
            out.append(f"farm: {h.sshlogin} {h.status} for the checker and checkpatch: {what}")
        return out

    def to_json(self) -> dict:
        return {"ssh": [{"sshlogin": w.host.sshlogin, "status": w.host.status,
                         "why": w.host.why, "jobs": w.jobs} for w in self.spaces],
                "checker": dict(sorted(self.ran["checker"].items())),
                "checkpatch": dict(sorted(self.ran["checkpatch"].items())),
                "events": self.events}
