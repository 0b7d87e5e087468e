# SPDX-License-Identifier: GPL-2.0
"""Small helpers shared by every stage: errors, progress, paths."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def version_line(cmd: list[str]) -> str | None:
    """The first line a tool prints of its version (`cmd`), or None when
    it cannot be run or prints nothing."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def die(msg: str) -> None:
    raise UserError(msg)


def info(msg: str) -> None:
    print(f"dmacb: {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """Per-user cache, outside the repository (facts, build dirs)."""
    base = os.environ.get("DMACB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dmacb")
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p


def reports_dir(out: Path | str | None = None) -> Path:
    """Where a run writes its reports: --out, else DMACB_OUT, else
    $XDG_DATA_HOME/dmacb/reports (~/.local/share/dmacb/reports): outside
    the checkout, whose reports/ holds the references that only 'make
    check-reports' writes."""
    if out:
        return Path(out).expanduser().resolve()
    if os.environ.get("DMACB_OUT"):
        return Path(os.environ["DMACB_OUT"]).expanduser().resolve()
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "dmacb" / "reports"


def file_digest(paths: list[Path]) -> str:
    """Hash of tool inputs (SmPL, knowledge base, code): part of cache keys."""
    h = hashlib.sha1()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def dmacb_digest(extra: list[Path] = ()) -> str:
    """file_digest() of dmacb itself (its Python, SmPL, knowledge base and
    command) and `extra`: what a whole stage's result depends on besides
    its inputs (the audit's and verify's skip of an unchanged rerun)."""
    lib = PROJECT / "scripts" / "dmacb_lib"
    return file_digest([*lib.rglob("*.py"), *(PROJECT / "cocci").glob("*"),
                        *(PROJECT / "kb").glob("*.tsv"), PROJECT / "scripts" / "dmacb",
                        *extra])


class Progress:
    """One status line on a terminal, sparse lines otherwise (CI logs)."""

    def __init__(self, what: str, total: int) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.last = 0.0

    def step(self, label: str = "", n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty:
            if now - self.last < 0.1 and self.done < self.total:
                return
            self.last = now
            line = f"\r{self.what}: {self.done}/{self.total} {label[:50]:<50}"
            sys.stderr.write(line)
            sys.stderr.flush()
        else:
            # about ten lines per stage in a log
            step = max(1, self.total // 10)
            if self.done % step == 0 or self.done == self.total:
                info(f"{self.what}: {self.done}/{self.total}")

    def finish(self) -> float:
        elapsed = time.monotonic() - self.start
        if self.tty:
            sys.stderr.write("\r" + " " * 80 + "\r")
        info(f"{self.what}: {self.total} done in {elapsed:.1f}s")
        return elapsed
