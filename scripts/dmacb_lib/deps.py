# SPDX-License-Identifier: GPL-2.0
"""'make deps': install what is missing from Debian, print what was found.

Only Debian packages: PyPI is not reachable from our machines.  Stages call
ensure() first, so a new machine needs no manual step; when everything is
installed that costs one dpkg-query.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .util import die, info, version_line

PACKAGES = [
    "coccinelle", "parallel", "clang", "libclang-dev", "python3-clang",
    "python3-pytest", "flex", "bison", "bc", "libelf-dev", "libssl-dev",
    "b4", "git", "make", "gcc", "lld", "llvm",
    "gcc-aarch64-linux-gnu", "gcc-arm-linux-gnueabihf",   # verify: arm64/arm builds
    "gcc-powerpc-linux-gnu",                               # verify: ppc32 builds
    "python3-ply", "python3-git",          # checkpatch.pl's spdxcheck.py
    "chromium",                            # the dashboard test (headless)
]

# Only 'make check-farm' needs these: its sshd and distccd daemons on
# loopback, and GNU parallel's --basefile transfers.  (verify --hosts needs
# distcc; it says so when it is missing.)
FARM_TEST_PACKAGES = ["openssh-server", "openssh-client", "rsync", "distcc"]

VERSION_CMDS = [
    ("spatch", ["spatch", "--version"]),
    ("parallel", ["parallel", "--version"]),
    ("clang", ["clang", "--version"]),
    ("python3", ["/usr/bin/python3", "--version"]),
    ("pytest", ["/usr/bin/python3", "-m", "pytest", "--version"]),
    ("git", ["git", "--version"]),
    ("b4", ["b4", "--version"]),
    ("make", ["make", "--version"]),
]


def missing(pkgs: list[str]) -> list[str]:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *pkgs],
                       capture_output=True, text=True)
    ok = {line.split()[0] for line in r.stdout.splitlines()
          if line.endswith(" installed")}
    return [p for p in pkgs if p not in ok]


def apt_install(pkgs: list[str]) -> None:
    if not pkgs:
        return
    if os.geteuid() != 0 and not shutil.which("sudo"):
        die(f"missing Debian packages: {' '.join(pkgs)}; install them as root "
            f"(apt-get install {' '.join(pkgs)})")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    info(f"installing from Debian: {' '.join(pkgs)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = subprocess.run(sudo + ["apt-get", "install", "-y", "-q", *pkgs], env=env)
    if r.returncode != 0:
        info("apt-get install failed; running apt-get update once and retrying")
        subprocess.run(sudo + ["apt-get", "update", "-q"], env=env)
        r = subprocess.run(sudo + ["apt-get", "install", "-y", "-q", *pkgs], env=env)
    if r.returncode != 0:
        die(f"could not install {' '.join(pkgs)} with apt-get")


def ensure(verbose: bool = False, farm: bool = False) -> None:
    need = missing(PACKAGES + (FARM_TEST_PACKAGES if farm else []))
    apt_install(need)
    if verbose:
        for name, cmd in VERSION_CMDS:
            line = version_line(cmd) or "not found"
            print(f"{name:9} {line}")
