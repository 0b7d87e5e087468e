# SPDX-License-Identifier: GPL-2.0
"""The audit's farm (--hosts): the hosts file, the host checks, and (make
check-farm) real runs through sshd daemons on 127.0.0.2 and 127.0.0.3."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import FIXTURE_TREE, ROOT, git_tree, run_dmacb
from dmacb_lib import farm as farmmod
from dmacb_lib import kernel as kernelmod
from dmacb_lib.util import UserError

# -- the hosts file (fixtures only) ------------------------------------------------------------


def test_hosts_file_parsed():
    hosts = farmmod.parse_hosts("\n".join([
        "# the farm",
        "2/root@127.0.0.2",
        "  build-2.example.org   # CPUs as many as it has",
        "",
        "8/localhost",
        "u_1@[::1]",
    ]))
    assert [(h.sshlogin, h.login, h.slots, h.line) for h in hosts] == [
        ("2/root@127.0.0.2", "root@127.0.0.2", 2, 2),
        ("build-2.example.org", "build-2.example.org", None, 3),
        ("8/:", ":", 8, 5),
        ("u_1@[::1]", "u_1@[::1]", None, 6)]
    assert hosts[2].local and not hosts[0].local
    assert [h.sshlogin for h in farmmod.parse_hosts(":\n")] == [":"]


@pytest.mark.parametrize("line,says", [
    ("x/host", "job slots before '/' must be a number"),
    ("0/host", "job slots before '/' must be a number"),
    ("/host", "job slots before '/' must be a number"),
    ("2/", "no host after the slots"),
    ("2//host", "is not a [user@]host"),
    ("ssh -p 2222 host", "a host is one word"),
    ("@host", "is not a [user@]host"),
    ("root@", "is not a [user@]host"),
    ("host;rm", "is not a [user@]host"),
])
def test_hosts_file_malformed(line, says):
    with pytest.raises(UserError) as e:
        farmmod.parse_hosts(f"# ok\n:\n{line}\n", "hosts file F")
    msg = str(e.value)
    assert msg.startswith(f"hosts file F, line 3: '{line}': ") and says in msg, msg
    assert "\n" not in msg


def test_hosts_file_duplicate_and_empty():
    with pytest.raises(UserError, match="line 3: .*h1 is listed twice .first on line 1"):
        farmmod.parse_hosts("h1\n2/h2\n4/h1\n")
    with pytest.raises(UserError, match="no hosts in it"):
        farmmod.parse_hosts("# nothing\n\n")


def test_distcc_lines():
    """verify's compilers: 'distcc HOST[:PORT][/LIMIT]', next to the ssh lines."""
    f = farmmod.parse_file("2/root@127.0.0.2\ndistcc 127.0.0.2/4   # four compiles\n"
                           "distcc build-3:3700\ndistcc [::1]:3632/1\n")
    assert [h.login for h in f.ssh] == ["root@127.0.0.2"]
    assert [(d.spec, d.line) for d in f.distcc] == [
        ("127.0.0.2:3632/4", 2), ("build-3:3700/2", 3), ("[::1]:3632/1", 4)]
    only = farmmod.parse_file("distcc 127.0.0.3\n")
    assert only.ssh == [] and [d.host for d in only.distcc] == ["127.0.0.3"]


@pytest.mark.parametrize("line,says", [
    ("distcc", "one distcc host a line"),
    ("distcc a b", "one distcc host a line"),
    ("distcc h:x", "the port after ':' must be a number"),
    ("distcc h:0/2", "the port after ':' must be a number"),
    ("distcc h/0", "the limit after '/' must be a number"),
    ("distcc h/x", "the limit after '/' must be a number"),
    ("distcc h;rm", "is not a host"),
    ("distcc :3632", "is not a host"),
])
def test_distcc_line_malformed(line, says):
    with pytest.raises(UserError) as e:
        farmmod.parse_file(f":\n{line}\n", "hosts file F")
    msg = str(e.value)
    assert msg.startswith(f"hosts file F, line 2: '{line}': ") and says in msg, msg
    with pytest.raises(UserError, match="line 2: .*distcc h:3632 is listed twice"):
        farmmod.parse_file("distcc h\ndistcc h:3632/8\n")


def test_malformed_hosts_file_exits_2(tmp_path):
    """One line naming the file, the line and the fix; nothing written."""
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    bad = tmp_path / "hosts"
    bad.write_text("2/root@127.0.0.2\n3x/root@127.0.0.3\n")
    out = tmp_path / "out"
    for args, env in ((["--hosts", str(bad)], {}), ([], {"DMACB_HOSTS": str(bad)})):
        r = run_dmacb("audit", "--kernel", str(tree), "--out", str(out), *args,
                      cache=tmp_path / "cache", env_extra=env)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"dmacb: hosts file {bad}, line 2: '3x/root@127.0.0.3': the job slots before '/' "
            f"must be a number of 1 or more; {farmmod.SYNTAX}"]
        assert not out.exists()
    r = run_dmacb("audit", "--kernel", str(tree), "--hosts", str(tmp_path / "none"),
                  cache=tmp_path / "cache")
    assert r.returncode == 2 and "cannot read it" in r.stderr


# -- the host checks, through a fake ssh that runs here (fixtures only) -----------------------

def _fake_ssh(tmp: Path, path_dirs: str, rc: int | None = None) -> str:
    """An ssh that runs the remote command here with PATH=path_dirs (or
    fails like an unreachable host)."""
    f = tmp / f"ssh-{len(list(tmp.glob('ssh-*')))}"
    body = (f"echo 'ssh: connect to host x port 22: Connection refused' >&2; exit {rc}"
            if rc is not None else
            'while [ $# -gt 2 ]; do shift; done\n'
            f'exec env PATH={path_dirs} /bin/sh -c "$2"')
    f.write_text("#!/bin/sh\n" + body + "\n")
    f.chmod(0o755)
    return str(f)


def _bin_without(tmp: Path, drop: str) -> str:
    d = tmp / f"bin-no-{drop}"
    d.mkdir()
    for tool in ("spatch", "perl", "rsync", "git", "head", "sh", "cat"):
        if tool != drop and shutil.which(tool):
            (d / tool).symlink_to(shutil.which(tool))
    return str(d)


def test_host_checks(tmp_path, monkeypatch):
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    k = kernelmod.resolve(str(tree))
    here = farmmod._spatch_version()

    def check(ssh: str, kk=k) -> str:
        monkeypatch.setenv("DMACB_SSH", ssh)
        return farmmod.Farm([], 1)._check_one(farmmod.Host("h", "root@h", None), kk, here)

    full = "/usr/bin:/bin"
    assert check(_fake_ssh(tmp_path, full)) == ""
    assert check(_fake_ssh(tmp_path, _bin_without(tmp_path, "spatch"))) == \
        "has no spatch; install coccinelle there (apt-get install coccinelle)"
    assert "lacks rsync" in check(_fake_ssh(tmp_path, _bin_without(tmp_path, "rsync")))
    assert check(_fake_ssh(tmp_path, full, rc=255)).startswith(
        "unreachable (ssh: connect to host x port 22: Connection refused)")
    other = dataclasses.replace(k, head="0" * 40)
    assert check(_fake_ssh(tmp_path, full), other) == (
        f"its tree at {tree} is 6.99.0-fixture at {k.head[:12]}, here 6.99.0-fixture at "
        f"000000000000; check out the same commit there")
    gone = dataclasses.replace(k, path=tmp_path / "nowhere")
    assert check(_fake_ssh(tmp_path, full), gone).startswith(
        f"has no kernel git tree at {tmp_path / 'nowhere'}")
    with open(tree / "Makefile", "a") as f:
        f.write("# changed\n")
    assert check(_fake_ssh(tmp_path, full)).startswith(
        f"its tree at {tree} has uncommitted changes (M Makefile)")


def test_verify_host_checks(tmp_path, monkeypatch):
    # verify's ssh hosts go through the audit's checks (farm.probe) plus
    # their own: tar and git, and the libclang the checker was built with
    from dmacb_lib import farm_check
    tree = git_tree(FIXTURE_TREE, tmp_path / "linux")
    k = kernelmod.resolve(str(tree))
    monkeypatch.chdir(tmp_path)             # where the fake ssh makes the workspace
    cf = farm_check.CheckFarm([], k, tree, Path("/bin/true"), tmp_path)

    def check(ssh: str, kk=k) -> str:
        monkeypatch.setenv("DMACB_SSH", ssh)
        cf.k = kk
        w = farm_check.Workspace(farmmod.Host("h", "root@h", None))
        return cf._make_remote(w, tmp_path / "no.bundle")
    full = "/usr/bin:/bin"
    assert check(_fake_ssh(tmp_path, _bin_without(tmp_path, "tar"))).startswith("lacks tar")
    assert check(_fake_ssh(tmp_path, full), dataclasses.replace(k, head="0" * 40)).startswith(
        f"its tree at {tree} is 6.99.0-fixture at {k.head[:12]}")
    assert check(_fake_ssh(tmp_path, full, rc=255)).startswith("unreachable (")
    monkeypatch.setattr(farm_check, "_libclang_id", lambda: "libclang-13.so.1 1")
    assert check(_fake_ssh(tmp_path, full)).startswith("has libclang '")
    assert "here 'libclang-13.so.1 1'" in check(_fake_ssh(tmp_path, full))


# -- real runs through sshd on loopback (make check-farm) -------------------------------------

# Real 6.12 client files (with the headers of their directories): a small
# tree of them, so that three audits stay within a minute on 2 cores.
FARM_FILES = [
    "drivers/spi/spi-pxa2xx-dma.c", "drivers/mtd/hyperbus/hbmc-am654.c",
    "drivers/spi/spi-mxs.c", "drivers/mmc/host/moxart-mmc.c", "drivers/spi/spi-sun6i.c",
    "drivers/crypto/atmel-tdes.c", "drivers/mmc/host/uniphier-sd.c",
    "drivers/tty/serial/8250/8250_dma.c", "drivers/spi/spi-rockchip.c",
    "drivers/i2c/busses/i2c-qcom-geni.c", "drivers/crypto/omap-des.c",
    "drivers/spi/spi-davinci.c", "drivers/ata/pata_arasan_cf.c",
    "drivers/mtd/nand/raw/lpc32xx_mlc.c",
]
REAL = ROOT / "kernel-tree"


def _small_real_tree(dst: Path) -> Path:
    files = ["Makefile", "include/linux/dmaengine.h", "include/linux/workqueue.h", *FARM_FILES]
    for d in sorted({os.path.dirname(f) for f in FARM_FILES}):
        files += [f"{d}/{h.name}" for h in sorted((REAL / d).glob("*.h"))]
    for f in files:
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REAL / f, dst / f)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
    subprocess.run(["git", "init", "-q", "-b", "master", str(dst)], check=True)
    subprocess.run(["git", "-C", str(dst), "add", "-f", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(dst), "commit", "-q", "-m", "base"], check=True, env=env)
    return dst


def _verdicts(rdir: Path) -> dict:
    """callbacks.json without run metadata (it has none today: all of it)."""
    return json.loads((rdir / "callbacks.json").read_text())


@pytest.fixture(scope="module")
def farm_env(tmp_path_factory):
    from farm_sshd import Daemons
    if not (REAL / "Makefile").exists():
        pytest.fail("no kernel-tree: run 'make kernel-tree'")
    base = tmp_path_factory.mktemp("farm")
    tree = _small_real_tree(base / "linux")
    d = Daemons(base / "ssh", ["127.0.0.2", "127.0.0.3"])
    try:
        d.start_all()
        t0 = time.monotonic()
        r = run_dmacb("audit", "--kernel", str(tree), "--out", str(base / "local"), "--no-cache",
                      cache=base / "cache")
        local_s = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        rel = kernelmod.makefile_release(tree)
        yield {"tree": tree, "base": base, "d": d, "rel": rel, "local_s": local_s,
               "local": base / "local" / rel,
               "env": {"DMACB_SSH": d.ssh}}
    finally:
        d.stop()


def _farm_audit(fe, name: str, hosts: str, **popen):
    hf = fe["base"] / f"hosts-{name}"
    hf.write_text(hosts)
    env = {**os.environ, "DMACB_CACHE": str(fe["base"] / "cache"), "KERNEL": "", "KVER": "",
           **fe["env"]}
    return subprocess.Popen([str(ROOT / "scripts" / "dmacb"), "audit", "--kernel",
                             str(fe["tree"]), "--out", str(fe["base"] / name), "--no-cache",
                             "--hosts", str(hf)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


@pytest.mark.farm
def test_farm_audit_same_verdicts(farm_env):
    fe = farm_env
    t0 = time.monotonic()
    p = _farm_audit(fe, "farm", "# two loopback hosts and this machine\n"
                    "1/root@127.0.0.2\n1/root@127.0.0.3\n1/localhost\n")
    out, err = p.communicate(timeout=600)
    farm_s = time.monotonic() - t0
    assert p.returncode == 0, err
    rdir = fe["base"] / "farm" / fe["rel"]
    assert _verdicts(rdir) == _verdicts(fe["local"])
    for f in ("callbacks.csv", "summary.md", "providers.json"):
        assert (rdir / f).read_bytes() == (fe["local"] / f).read_bytes(), f
    note = json.loads((rdir / "farm.json").read_text())
    assert note["format"] == "dmacb-farm/1"
    assert sorted(note["files"]) == sorted(FARM_FILES)
    ran = {h["login"]: h for h in note["hosts"]}
    assert all(ran[h]["status"] == "used" for h in ("root@127.0.0.2", "root@127.0.0.3", ":"))
    assert ran["root@127.0.0.2"]["files"] and ran["root@127.0.0.3"]["files"], note
    assert note["fallback"] == []
    assert "farm: 1/root@127.0.0.2 used: " in err
    # nothing of the run is left behind: no ssh (parallel's -M control
    # masters outlived it), nothing under the remote's home
    assert _ssh_left(fe["d"].ssh_config) == []
    assert not list(Path.home().glob("dmacb-farm-*"))
    print(f"\nfarm audit {farm_s:.1f}s, local {fe['local_s']:.1f}s on {len(FARM_FILES)} files")


def _ssh_left(cfg: Path) -> list[str]:
    out = []
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes() if d.name.isdigit() else b""
        except OSError:
            continue
        if str(cfg).encode() in cmd and not (d / "status").read_text().count("zombie"):
            out.append(cmd.replace(b"\0", b" ").decode(errors="replace"))
    return out


def _job_under(pid: int) -> bool:
    """Is a farm job (its script, or its spatch) running under process pid?"""
    from farm_sshd import job_under
    return bool(job_under(pid, lambda cmd: b"farm_job.sh" in cmd or cmd.startswith(b"spatch\0")))


@pytest.mark.farm
def test_farm_host_killed_midrun(farm_env):
    """127.0.0.2's sshd (and its sessions) killed while it runs a job; 127.0.0.4
    has no sshd at all: the same verdicts, the jobs retried elsewhere."""
    fe = farm_env
    d = fe["d"]
    try:
        p = _farm_audit(fe, "killed", "2/root@127.0.0.2\n1/root@127.0.0.3\n"
                        "1/root@127.0.0.4   # nobody listens\n1/:\n")
        killed = threading.Event()

        def killer():
            pid = d.procs["127.0.0.2"].pid
            end = time.monotonic() + 300
            while time.monotonic() < end and p.poll() is None:
                if _job_under(pid):
                    d.kill("127.0.0.2")
                    killed.set()
                    return
                time.sleep(0.005)

        t = threading.Thread(target=killer)
        t.start()
        out, err = p.communicate(timeout=600)
        t.join()
        print(err)
    finally:
        if d.procs["127.0.0.2"].poll() is not None:
            d.start("127.0.0.2")        # for the tests after this one
    assert killed.is_set(), "127.0.0.2 never ran a job: " + err
    assert p.returncode == 0, err
    rdir = fe["base"] / "killed" / fe["rel"]
    assert _verdicts(rdir) == _verdicts(fe["local"])
    assert "farm: root@127.0.0.4: unreachable (" in err
    assert "skipped, its share runs on the other hosts" in err
    assert "farm: root@127.0.0.2: " in err and "job connections failed (ssh exit 255)" in err
    note = json.loads((rdir / "farm.json").read_text())
    ran = {h["login"]: h for h in note["hosts"]}
    assert ran["root@127.0.0.4"]["status"] == "skipped"
    assert ran["root@127.0.0.2"]["status"] == "failed" and ran["root@127.0.0.2"]["ssh_failures"]
    # the lost jobs were retried by parallel on the other hosts, not left to
    # the local fallback
    assert sorted(note["files"]) == sorted(FARM_FILES)
    assert note["fallback"] == [], note
    assert set(note["files"].values()) <= {"root@127.0.0.2", "root@127.0.0.3", ":"}


@pytest.mark.farm
def test_farm_slow_host(farm_env):
    """127.0.0.3 answers, but each job there takes longer than the farm's
    --timeout (an ssh that waits 60 s first): the jobs are killed and
    retried on the other hosts; the same verdicts."""
    fe = farm_env
    slow = fe["base"] / "slow-ssh"
    slow.write_text("#!/bin/sh\n"
                    'case "$*" in *127.0.0.3*GNU_Parallel_worker*) sleep 60;; esac\n'
                    f'exec {fe["env"]["DMACB_SSH"]} "$@"\n')
    slow.chmod(0o755)
    saved = fe["env"]
    fe["env"] = {"DMACB_SSH": str(slow), "DMACB_FARM_TIMEOUT": "10"}
    try:
        p = _farm_audit(fe, "slow", "1/root@127.0.0.2\n1/root@127.0.0.3\n1/:\n")
        out, err = p.communicate(timeout=600)
    finally:
        fe["env"] = saved
    print(err)
    assert p.returncode == 0, err
    rdir = fe["base"] / "slow" / fe["rel"]
    assert _verdicts(rdir) == _verdicts(fe["local"])
    assert "farm: root@127.0.0.3: " in err and "killed after 10 s (--timeout" in err, err
    note = json.loads((rdir / "farm.json").read_text())
    ran = {h["login"]: h for h in note["hosts"]}
    assert ran["root@127.0.0.3"]["killed_slow"] >= 1 and ran["root@127.0.0.3"]["files"] == 0
    assert ran["root@127.0.0.3"]["status"] == "used"        # it answers: slow, not gone
    assert note["fallback"] == [], note


def test_audit_without_hosts_drops_a_stale_note(fixture_audit, tmp_path):
    """Without --hosts the audit writes what it always wrote; an earlier
    farm run's farm.json (not this run's) goes."""
    out = tmp_path / "out"
    rel = fixture_audit["out"].name
    (out / rel).mkdir(parents=True)
    (out / rel / "farm.json").write_text("{}\n")
    r = run_dmacb("audit", "--kernel", str(fixture_audit["tree"]), "--out", str(out),
                  cache=fixture_audit["cache"], env_extra={"DMACB_HOSTS": ""})
    assert r.returncode == 0, r.stderr
    assert not (out / rel / "farm.json").exists()
    assert "farm" not in r.stderr
    for f in ("callbacks.json", "callbacks.csv", "summary.md"):
        assert (out / rel / f).read_bytes() == (fixture_audit["out"] / f).read_bytes(), f
