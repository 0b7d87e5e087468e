# SPDX-License-Identifier: GPL-2.0
"""Throwaway distccd daemons on loopback addresses, for the farm test.

Each daemon listens on one loopback address only (--listen 127.0.0.N),
accepts 127.0.0.0/8 only, runs in the foreground of a process this module
started (--no-detach) and logs to a file of the test's temporary directory.
Daemons.stop() ends exactly the processes it started and their children
(distccd forks one child per job slot).  A daemon may be given a PATH of
its own (with --enable-tcp-insecure, which lets distccd run a compiler
outside Debian's /usr/lib/distcc list): the test's host whose compiler is
not the one here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from farm_sshd import _tree, free_port

DISTCCD = "/usr/bin/distccd"


class Distccd:
    def __init__(self, base: Path):
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.port: dict[str, int] = {}

    def spec(self, a: str, limit: int = 1) -> str:
        return f"{a}:{self.port[a]}/{limit}"

    def start(self, a: str, jobs: int = 1, path: str | None = None) -> None:
        self.port[a] = free_port(a)
        log = open(self.base / f"distccd-{a}.log", "ab")
        env = {**os.environ}
        args = [DISTCCD, "--no-detach", "--daemon", "--listen", a, "--port", str(self.port[a]),
                "--allow", "127.0.0.0/8", "--jobs", str(jobs), "--log-stderr",
                "--log-level", "warning"]
        if path:
            env["PATH"] = path
            args.append("--enable-tcp-insecure")
        p = subprocess.Popen(args, stdout=log, stderr=log, env=env, start_new_session=True)
        self.procs[a] = p
        for _ in range(100):
            if p.poll() is not None:
                raise RuntimeError(f"distccd for {a} exited: "
                                   f"{(self.base / f'distccd-{a}.log').read_text()[-500:]}")
            try:
                with socket.create_connection((a, self.port[a]), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"distccd for {a} does not listen on {self.port[a]}")

    def kill(self, a: str) -> None:
        """The daemon and the compiles it is running, at once (a host that dies)."""
        p = self.procs.get(a)
        if p is None or p.poll() is not None:
            return
        for pid in _tree(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()

    def stop(self) -> None:
        for a in list(self.procs):
            self.kill(a)
