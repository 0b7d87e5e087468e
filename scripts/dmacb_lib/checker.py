# SPDX-License-Identifier: GPL-2.0
"""The C verification pass (checker/dmacb-check) from Python.

  run_checker(db, plan_rows, files)     write the plan TSV, run the binary,
                                        return its JSON as a dict
  plan_text(plan_rows), known(db, files)  the plan TSV; the files the
                                        database has (farm_check.py's jobs)

The compile database is verify's (verify.compile_db()): that of the build
directory that compile-tested the file, clang's own with `verify --llvm`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable

from .util import PROJECT, Progress, cache_dir, die

CHECKER_DIR = PROJECT / "checker"
CHECKER = CHECKER_DIR / "build" / "dmacb-check"
# the contract's tables (kb/*.tsv); DMACB_KB_DIR as for the audit
KB = Path(os.environ.get("DMACB_KB_DIR") or PROJECT / "kb")


def db_files(db: Path) -> set[str]:
    """Absolute paths of the files compile_commands.json has entries for."""
    entries = json.loads((db / "compile_commands.json").read_text())
    out = set()
    for e in entries:
        f = e["file"]
        if not os.path.isabs(f):
            f = os.path.join(e["directory"], f)
        out.add(os.path.realpath(f))
    return out


def _plan_line(row: tuple) -> str:
    kind = row[0]
    if kind == "hardirq":
        if len(row) not in (3, 4) or (len(row) == 4 and row[3] not in ("locked", "unlocked")):
            die(f"plan row {row!r}: want ('hardirq', file, function[, 'locked'|'unlocked'])")
    elif kind == "completion":
        if len(row) != 5:
            die(f"plan row {row!r}: want ('completion', file, callback|None, "
                "struct|None, field|None)")
    elif kind == "provider":
        if len(row) != 4:
            die(f"plan row {row!r}: want ('provider', file, provider id, bare)")
    else:
        die(f"plan row {row!r}: unknown kind {kind!r}")
    fields = ["-" if v in (None, "") else str(v) for v in row]
    if any("\t" in v or "\n" in v for v in fields):
        die(f"plan row {row!r}: tab or newline in a field")
    return "\t".join(fields)


def plan_text(plan_rows: list[tuple]) -> str:
    """The plan TSV dmacb-check reads (--plan)."""
    return ("# dmacb verification plan (written by scripts/dmacb_lib/checker.py)\n" +
            "".join(_plan_line(row) + "\n" for row in plan_rows))


def known(db: Path, files: list[str], tree: Path | None = None,
          db_tree: Path | None = None) -> tuple[list[str], list[str]]:
    """files split into those the database has an entry for and the others
    (which dmacb-check would refuse the whole run for)."""
    entries = db_files(db)
    base = (db_tree or tree)
    present, skipped = [], []
    for f in files:
        if base is not None:
            ok = os.path.realpath(os.path.join(base, f)) in entries
        else:
            ok = any(k.endswith("/" + f) for k in entries)
        (present if ok else skipped).append(f)
    return present, skipped


def ensure_binary() -> Path:
    """Builds checker/build/dmacb-check when it is missing or stale."""
    r = subprocess.run(["make", "-s", "-C", str(CHECKER_DIR), "build/dmacb-check"],
                       capture_output=True, text=True)
    if r.returncode != 0 or not CHECKER.exists():
        die(f"cannot build {CHECKER}: {(r.stderr or r.stdout).strip()[-300:]} "
            "(needs libclang-14-dev)")
    return CHECKER


def _run_streaming(cmd: list[str], progress: Progress | None,
                   on_entry: Callable[[dict], None] | None = None
                   ) -> subprocess.CompletedProcess:
    """Run the binary; each 'checked FILE<TAB>ENTRY' line on stderr steps
    `progress` and hands the file's entry to `on_entry` at once."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", errors="replace")
    err: list[str] = []

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if not line.startswith("checked "):
                err.append(line)
                continue
            rel, _, entry = line[8:].rstrip("\n").partition("\t")
            if progress is not None:
                progress.step(rel)
            if on_entry is not None and entry:
                on_entry(json.loads(entry))
    t = threading.Thread(target=read_err, daemon=True)
    t.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    t.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "".join(err))


def run_checker(db: Path, plan_rows: list[tuple], files: list[str] | None = None,
                tree: Path | None = None, db_tree: Path | None = None, jobs: int = 2,
                kb: Path = KB, progress: Progress | None = None,
                on_entry: Callable[[dict], None] | None = None) -> dict:
    """Run dmacb-check on files (relative to the tree; default: every file
    named in plan_rows) and return its JSON: {"files": [...], "ok": bool}.

    plan_rows: ('hardirq', file, function[, 'locked'|'unlocked']) and
               ('completion', file, deleted_callback|None, struct|None, field|None),
               ('provider', file, provider id, bare completion) (rule 8).
    tree: the tree the files are relative to (default: found by suffix in
    the database); db_tree: the tree the database was generated from when
    it is not tree (a converted worktree checked with the base build dir).
    Files without an entry in the database are not given to the binary
    (it would refuse the whole run): they come back as failed entries with
    "skipped": "not in compile_commands.json".  progress: stepped as each
    file is done; on_entry: called with each file's entry as soon as it is
    done (what an interrupted run can still keep).
    """
    binary = ensure_binary()
    if files is None:
        files = list(dict.fromkeys(r[1] for r in plan_rows))
    present, skipped = known(db, files, tree, db_tree)
    result: dict = {"files": [], "ok": True, "jobs": jobs}
    if present:
        with tempfile.NamedTemporaryFile("w", prefix="dmacb-plan-", suffix=".tsv",
                                         dir=cache_dir(), delete=False) as fh:
            fh.write(plan_text(plan_rows))
            plan = Path(fh.name)
        try:
            cmd = [str(binary), "--db", str(db), "--kb", str(kb), "--plan", str(plan),
                   "--jobs", str(jobs)]
            if tree is not None:
                cmd += ["--tree", str(tree)]
            if db_tree is not None:
                cmd += ["--db-tree", str(db_tree)]
            for f in present:
                cmd += ["--file", f]
            if progress is not None or on_entry is not None:
                cmd.append("--progress")
            r = _run_streaming(cmd, progress, on_entry)
        finally:
            plan.unlink(missing_ok=True)
        if r.returncode not in (0, 1):
            die(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else
                f"dmacb-check exited {r.returncode}")
        result = json.loads(r.stdout)
    for f in skipped:
        result["files"].append({"file": f, "ok": False, "skipped": "not in compile_commands.json",
                                "checks": {}})
        result["ok"] = False
    return result
