# SPDX-License-Identifier: GPL-2.0
"""Shared fixtures: a git copy of the fake kernel tree, and a runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DMACB = ROOT / "scripts" / "dmacb"
FIXTURE_TREE = ROOT / "tests" / "fixtures" / "kernel"

sys.path.insert(0, str(ROOT / "scripts"))


def pytest_configure(config):
    config.addinivalue_line("markers", "real: needs the real 6.12 kernel-tree (make check-real)")
    config.addinivalue_line("markers", "farm: starts sshd daemons on loopback (make check-farm)")


def pytest_collection_modifyitems(config, items):
    skips = [(m, pytest.mark.skip(reason=why)) for m, env, why in (
        ("real", "DMACB_REAL", "real-tree test: run 'make check-real'"),
        ("farm", "DMACB_FARM", "farm test (sshd on loopback): run 'make check-farm'"))
        if not os.environ.get(env)]
    for item in items:
        for m, skip in skips:
            if m in item.keywords:
                item.add_marker(skip)


def git_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    # a base commit of 2000: a commit dated now by a stage stands out from it
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
    subprocess.run(["git", "init", "-q", "-b", "master", str(dst)], check=True)
    subprocess.run(["git", "-C", str(dst), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(dst), "commit", "-q", "-m", "base"], check=True, env=env)
    return dst


def run_dmacb(*args: str, cache: Path, env_extra: dict | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DMACB_CACHE": str(cache), "KERNEL": "", "KVER": "", "DMACB_HOSTS": "",
           **(env_extra or {})}
    return subprocess.run([str(DMACB), *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT)


@pytest.fixture(scope="session")
def fixture_audit(tmp_path_factory):
    """Audit of the fake kernel tree, run once per session."""
    base = tmp_path_factory.mktemp("fx")
    tree = git_tree(FIXTURE_TREE, base / "linux")
    out = base / "reports"
    r = run_dmacb("audit", "--kernel", str(tree), "--out", str(out), cache=base / "cache")
    assert r.returncode == 0, r.stderr
    rel = "6.99.0-fixture"
    doc = json.loads((out / rel / "callbacks.json").read_text())
    return {"tree": tree, "out": out / rel, "doc": doc, "stderr": r.stderr,
            "cache": base / "cache"}
