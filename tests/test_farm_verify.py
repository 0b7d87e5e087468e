# SPDX-License-Identifier: GPL-2.0
"""verify through a farm (make check-farm; needs kernel-tree): its
compiles through distcc, its checker and checkpatch jobs over GNU parallel
--sshlogin.

Two distccd daemons on 127.0.0.2 and 127.0.0.3, plus two hosts that must
be left out: one whose gcc is not this machine's (127.0.0.4, a wrapper
that adds -O0) and one where nothing listens; two sshd daemons on
127.0.0.2 and 127.0.0.3, plus an ssh host that does not answer.  A few
driver commits of the 6.12 convert branch are verified with --rebuild
(every object compiled, every file checked again) in an x86_64 + arm64
matrix: here, through the farm, and through the farm with one distcc
daemon killed in the middle of the run.  verify.json must be the same
every time; verify-farm.json must show both daemons compiling and both ssh
hosts checking.  Last, one sshd killed while it runs a checker job: the
same verify.json, the host reported failed and given nothing more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_dmacb
from dmacb_lib import kernel
from dmacb_lib.util import cache_dir

pytestmark = pytest.mark.farm

TREE = ROOT / "kernel-tree"
REL = kernel.makefile_release(TREE) or "6.12"
# x86_64 and arm64 both build the first two; the third is arm64 only
FILES = ["drivers/dma/dma-axi-dmac.c", "drivers/spi/spi-sun6i.c", "drivers/dma/bcm2835-dma.c"]
CONFIGS = "x86_64,arm64"


@pytest.fixture(scope="module")
def vfarm(tmp_path_factory):
    from farm_distccd import Distccd
    from farm_sshd import Daemons
    if not (TREE / "Makefile").exists():
        pytest.fail("no kernel-tree: run 'make kernel-tree'")
    base = tmp_path_factory.mktemp("vfarm")
    out = base / "reports"
    r = run_dmacb("convert", "--kernel", str(TREE), "--out", str(out), cache=cache_dir())
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / REL / "convert.json").read_text())
    commits = [c for c in doc["commits"] if c["files"][0] in FILES and len(c["files"]) == 1]
    assert sorted(c["files"][0] for c in commits) == sorted(FILES), "a test driver moved"
    doc = {**doc, "commits": commits,
           "callbacks": [x for x in doc["callbacks"] if x["file"] in FILES]}
    (out / REL / "convert.json").write_text(json.dumps(doc))
    # distccd drops root for its own user: the fake compilers must be where
    # that user can reach them (pytest's base directory is root's only)
    fake = Path(tempfile.mkdtemp(prefix="dmacb-fakecc-"))
    fake.chmod(0o755)
    for cc in ("x86_64-linux-gnu-gcc", "aarch64-linux-gnu-gcc"):
        (fake / cc).write_text(f'#!/bin/sh\nexec /usr/bin/{cc} "$@" -O0\n')
        (fake / cc).chmod(0o755)
    d = Distccd(base / "distccd")
    ssh = Daemons(base / "ssh", ["127.0.0.2", "127.0.0.3"])
    try:
        d.start("127.0.0.2", 2)
        d.start("127.0.0.3", 2)
        d.start("127.0.0.4", 1, path=f"{fake}:/usr/bin:/bin")
        ssh.start_all()
        yield {"base": base, "out": out, "d": d, "ssh": ssh}
    finally:
        d.stop()
        ssh.stop()
        shutil.rmtree(fake, ignore_errors=True)


def _verify(vf, name: str, hosts: str | None, popen: bool = False):
    out = vf["base"] / name
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(vf["out"] / REL, out / REL)      # the audit's and convert's files
    args = ["verify", "--kernel", str(TREE), "--out", str(out), "--rebuild", "--matrix",
            "--configs", CONFIGS]
    if hosts is not None:
        hf = vf["base"] / f"hosts-{name}"
        hf.write_text(hosts)
        args += ["--hosts", str(hf)]
    ssh = {"DMACB_SSH": vf["ssh"].ssh}
    if popen:
        env = {**os.environ, "DMACB_CACHE": str(cache_dir()), "KERNEL": "", "KVER": "",
               "DMACB_HOSTS": "", **ssh}
        return subprocess.Popen([str(ROOT / "scripts" / "dmacb"), *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE), out / REL
    r = run_dmacb(*args, cache=cache_dir(), env_extra=ssh)
    return r, out / REL


def _found(rdir: Path) -> dict:
    return json.loads((rdir / "verify.json").read_text())


@pytest.fixture(scope="module")
def local(vfarm):
    t0 = time.monotonic()
    r, rdir = _verify(vfarm, "local", None)
    assert r.returncode == 0, r.stderr
    doc = _found(rdir)
    assert doc["matrix"] == CONFIGS.split(",")
    m = {d["files"][0]: d["checks"]["build"][d["files"][0]]["matrix"] for d in doc["drivers"]}
    assert m["drivers/dma/bcm2835-dma.c"] == {"arm64": "pass"}
    assert m["drivers/spi/spi-sun6i.c"] == {"x86_64": "pass", "arm64": "pass"}
    assert "## Configuration matrix" in (rdir / "verify.md").read_text()
    assert '"matrix": {"configs": ["x86_64", "arm64"], "rows": [{' in \
        (rdir / "index.html").read_text()              # the dashboard's Matrix tab
    assert not (rdir / "verify-farm.json").exists()
    return doc, time.monotonic() - t0


def _hosts(vf, extra: str = "") -> str:
    d = vf["d"]
    return (f"# two daemons; the audit's ssh lines would go here too\n"
            f"distcc {d.spec('127.0.0.2', 2)}\ndistcc {d.spec('127.0.0.3', 2)}\n{extra}")


def test_farm_verify_same_results(vfarm, local):
    t0 = time.monotonic()
    nobody = f"127.0.0.5:{vfarm['d'].port['127.0.0.2']}"
    # the ssh lines take the checker and checkpatch; 127.0.0.6 has no sshd
    # of the test (and no key of it, where the machine runs one)
    before = set(Path.home().glob("dmacb-verify-*"))
    r, rdir = _verify(vfarm, "farm", _hosts(vfarm, f"distcc {vfarm['d'].spec('127.0.0.4')}\n"
                                                   f"distcc {nobody}/1\n"
                                                   "1/127.0.0.2\n1/127.0.0.3\n127.0.0.6\n"))
    farm_s = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert _found(rdir) == local[0]
    note = json.loads((rdir / "verify-farm.json").read_text())
    assert note["format"] == "dmacb-verify-farm/1"
    by = {h["host"]: h for h in note["distcc"]}
    assert by["127.0.0.2"]["status"] == by["127.0.0.3"]["status"] == "used"
    assert by["127.0.0.2"]["compiles"] and by["127.0.0.3"]["compiles"], note
    # base and converted tree, every configuration that builds each file
    assert by["127.0.0.2"]["compiles"] + by["127.0.0.3"]["compiles"] + \
        note["local_compiles"] == 2 * 5, note
    assert by["127.0.0.4"]["status"] == "skipped" and "not the one here" in by["127.0.0.4"]["why"]
    assert by["127.0.0.5"]["status"] == "skipped" and "unreachable" in by["127.0.0.5"]["why"]
    assert "farm: distcc 127.0.0.4:" in r.stderr and "not the one here" in r.stderr
    # the checker's and checkpatch's jobs ran on the two ssh hosts only,
    # every one of them (no ':' in the list: none ran here)
    chk = note["checks"]
    st = {h["sshlogin"]: h for h in chk["ssh"]}
    assert st["1/127.0.0.2"]["status"] == st["1/127.0.0.3"]["status"] == "used", chk
    assert st["127.0.0.6"]["status"] == "skipped" and "unreachable" in st["127.0.0.6"]["why"]
    assert sorted(chk["checker"]) == sorted(FILES), chk
    assert len(chk["checkpatch"]) == len(FILES), chk
    ran = set(chk["checker"].values()) | set(chk["checkpatch"].values())
    assert ran <= {"127.0.0.2", "127.0.0.3"} and st["1/127.0.0.2"]["jobs"] + \
        st["1/127.0.0.3"]["jobs"] >= 3, chk
    assert not chk["events"], chk
    assert set(Path.home().glob("dmacb-verify-*")) == before    # the workspaces are gone
    print(f"\nfarm verify {farm_s:.1f}s, local {local[1]:.1f}s on {len(FILES)} files")


def _compiling(pid: int) -> bool:
    """Is a kernel object (not verify's probe of the host) being compiled
    under the daemon pid?  Kbuild's flags reach cc1; the probe's do not."""
    from farm_sshd import _tree
    for q in _tree(pid)[1:]:
        try:
            argv = Path(f"/proc/{q}/cmdline").read_bytes().split(b"\0")
            if b"cc1" in argv[0] and b"-fshort-wchar" in argv:
                return True
        except OSError:
            pass
    return False


def test_farm_verify_host_killed_midrun(vfarm, local):
    d = vfarm["d"]
    if d.procs["127.0.0.3"].poll() is not None:
        d.start("127.0.0.3", 2)
    p, rdir = _verify(vfarm, "killed", _hosts(vfarm), popen=True)
    killed = False
    deadline = time.monotonic() + 600
    while p.poll() is None and time.monotonic() < deadline:
        if not killed and _compiling(d.procs["127.0.0.3"].pid):
            d.kill("127.0.0.3")
            killed = True
        time.sleep(0.05)
    out, err = p.communicate(timeout=600)
    assert killed, "no compile ever reached 127.0.0.3"
    assert p.returncode == 0, err
    assert _found(rdir) == local[0]
    note = json.loads((rdir / "verify-farm.json").read_text())
    # the compiles the kill cut short were redone, on 127.0.0.2 or here
    by = {h["host"]: h for h in note["distcc"]}
    assert by["127.0.0.3"]["failed"] >= 1, note
    assert note["retries"] + note["fallbacks"] >= 1, note
    assert len(note["compiled"]) == 2 * len(FILES), note
    assert "failed and redone elsewhere" in err


def test_farm_verify_ssh_host_killed_midrun(vfarm, local):
    """127.0.0.3's sshd and its sessions killed while it runs a checker
    job: the job is redone on 127.0.0.2 or here, the host is not given
    later jobs, verify.json is the same, and its workspace, which nobody
    can reach now, is named for removal by hand."""
    from farm_sshd import job_under
    ssh = vfarm["ssh"]
    before = set(Path.home().glob("dmacb-verify-*"))
    killed = b""                    # the command line of the checker job killed
    # where parallel puts the checker jobs is its choice: a run in which
    # none went to 127.0.0.3 (the other host and this one took them all)
    # shows nothing, and is made again
    for _ in range(3):
        p, rdir = _verify(vfarm, "sshkilled", "1/127.0.0.2\n1/127.0.0.3\n", popen=True)
        try:
            deadline = time.monotonic() + 600
            while p.poll() is None and time.monotonic() < deadline:
                if not killed:
                    killed = job_under(ssh.procs["127.0.0.3"].pid,
                                       lambda c: b"job.sh" in c and b"checker" in c) or b""
                    if killed:
                        ssh.kill("127.0.0.3")
                time.sleep(0.005)
            out, err = p.communicate(timeout=600)
        finally:
            if ssh.procs["127.0.0.3"].poll() is not None:
                ssh.start("127.0.0.3")
            for d in set(Path.home().glob("dmacb-verify-*")) - before:
                shutil.rmtree(d)
        if killed:
            break
    assert killed, "in three runs no checker job ran on 127.0.0.3"
    assert p.returncode == 0, err
    assert _found(rdir) == local[0]
    chk = json.loads((rdir / "verify-farm.json").read_text())["checks"]
    st = {h["sshlogin"]: h for h in chk["ssh"]}
    assert st["1/127.0.0.3"]["status"] == "failed", chk
    assert "became unreachable" in st["1/127.0.0.3"]["why"], chk
    # every file checked and every patch checkpatched somewhere (checkpatch
    # runs before the checker: 127.0.0.3 may have done it); the files of
    # the checker job killed there were checked elsewhere
    assert sorted(chk["checker"]) == sorted(FILES), chk
    assert len(chk["checkpatch"]) == len(FILES), chk
    words = killed.replace(b"\0", b" ").decode().split()
    lost = [f for f in FILES if f in words]
    assert lost and all(chk["checker"][f] != "127.0.0.3" for f in lost), (lost, chk)
    assert "farm: 127.0.0.3: " in err and "no longer answers" in err, err
    assert "could not remove" in err and "by hand" in err, err
