# SPDX-License-Identifier: GPL-2.0
"""Throwaway sshd daemons on loopback addresses, for the farm test.

Each daemon listens on one loopback address only (ListenAddress
127.0.0.N:PORT), with its own host key, one throwaway user key for root
and its own config, all in a temporary directory.  Nothing listens outside
loopback; Daemons.stop() ends exactly the processes it started (also their
per-connection children).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def _tree(pid: int) -> list[int]:
    out = [pid]
    for c in _children(pid):
        out += _tree(c)
    return out


def job_under(pid: int, match) -> bytes | None:
    """The command line (NUL-separated bytes) of a process under process
    pid that satisfies match, None if none runs.  One pass over /proc: the
    jobs a test waits for are short."""
    parent, job = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if match(cmd):
            job[int(d.name)] = cmd
    for j, cmd in job.items():
        q = j
        while q > 1:
            q = parent.get(q, 0)
            if q == pid:
                return cmd
    return None


class Daemons:
    def __init__(self, base: Path, addrs: list[str]):
        self.base = base
        self.addrs = addrs
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = {}
        base.mkdir(parents=True, exist_ok=True)
        self.key = base / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
                       check=True)
        (base / "authorized_keys").write_text((base / "id_ed25519.pub").read_text())
        os.chmod(base / "authorized_keys", 0o600)
        self.ssh_config = base / "ssh_config"
        self.known = base / "known_hosts"
        cfg = []
        for a in addrs:
            hk = base / f"hostkey-{a}"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hk)],
                           check=True)
            self.port[a] = free_port(a)
            (base / f"sshd-{a}.conf").write_text("\n".join([
                f"ListenAddress {a}:{self.port[a]}",
                f"HostKey {hk}",
                f"PidFile {base}/sshd-{a}.pid",
                f"AuthorizedKeysFile {base}/authorized_keys",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "MaxStartups 100:30:200",
                "MaxSessions 100",
                "LogLevel ERROR",
                ""]))
            cfg += [f"Host {a}", f"  HostName {a}", f"  Port {self.port[a]}", "  User root",
                    f"  IdentityFile {self.key}", "  IdentitiesOnly yes",
                    f"  UserKnownHostsFile {self.known}", "  StrictHostKeyChecking no",
                    "  BatchMode yes", "  ConnectTimeout 5", "  LogLevel ERROR", ""]
        self.ssh_config.write_text("\n".join(cfg))
        self.ssh = f"ssh -F {self.ssh_config}"

    def start(self, a: str) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)     # sshd's privilege separation dir
        log = open(self.base / f"sshd-{a}.log", "ab")
        p = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.base / f"sshd-{a}.conf")],
                             stdout=log, stderr=log, start_new_session=True)
        self.procs[a] = p
        for _ in range(100):
            if p.poll() is not None:
                raise RuntimeError(f"sshd for {a} exited: "
                                   f"{(self.base / f'sshd-{a}.log').read_text()[-500:]}")
            try:
                with socket.create_connection((a, self.port[a]), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd for {a} does not listen on {self.port[a]}")

    def start_all(self) -> None:
        for a in self.addrs:
            self.start(a)

    def kill(self, a: str) -> None:
        """The daemon and every session it serves, at once (a host that dies)."""
        p = self.procs.get(a)
        if p is None or p.poll() is not None:
            return
        pids = _tree(p.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()

    def stop(self) -> None:
        for a in list(self.procs):
            self.kill(a)
