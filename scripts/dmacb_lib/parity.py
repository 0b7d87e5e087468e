# SPDX-License-Identifier: GPL-2.0
"""parity: the audit's contract engine and the checker's, on the same functions.

The contract exists once (kb/), but it has two engines: the audit's
(contract/, over spatch's facts, no types) and the checker's (checker/,
over the AST).  This runs both on the same (file, function) pairs and
compares the reasons each gives for rules 1-7 (plus unknown-call).  A
disagreement is allowed only where one side says it cannot decide, and
then it is listed with that cause:

  lock-by-name   the audit names locks by name; the checker compares their
                 declarations and says (name_only_locks) that the name is
                 shared by two different locks
  not-compiled   the audit's finding is in code this configuration skips
                 (the checker's parse lists the skipped ranges)
  unparsed       spatch could not parse a function the callback reaches
  cross-file     the audit followed a call into another file of the
                 driver; the checker sees one translation unit, so the
                 callee is unknown to it

Anything else fails (tests/test_parity.py on every fixture, 'dmacb
parity' on a real tree with a compile database).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import checker as checkermod
from . import formats, kbuild
from .contract import tables
from .kernel import Kernel
from .util import cache_dir, die
from .verdict import Judge


@dataclass
class Item:
    file: str
    function: str
    expect: set[str] | None = None     # a fixture's expected contract reasons
    origin: str = ""                    # where the expectation was written


@dataclass
class Side:
    reasons: set[str] = field(default_factory=set)
    lines: dict[str, set[int]] = field(default_factory=dict)    # reason -> lines
    limits: dict[str, set[str]] = field(default_factory=dict)   # reason -> limits
    locks: dict[str, set[str]] = field(default_factory=dict)    # reason -> lock names
    name_only_locks: set[str] = field(default_factory=set)      # the checker's
    unparsed: bool = False
    cross_file: bool = False
    missing: bool = False
    parse_error: str = ""       # the checker's: its verdicts on a broken TU mean nothing


def contract_reasons(t: tables.Tables) -> set[str]:
    """The reasons both engines give: rules 1-7 and unknown-call."""
    out = {"unknown-call"}
    for r in t.rules.values():
        if r.applies != "completion":
            out |= set(r.reasons)
    return out


def audit_side(k: Kernel, files: list[str], items: list[Item], jobs: int = 2,
               use_cache: bool = True) -> dict[tuple[str, str], Side]:
    judge, facts = Judge.for_files(k, files, jobs, use_cache)
    want = contract_reasons(judge.t)
    out = {}
    for it in items:
        s = Side()
        ff = facts.get(it.file)
        if ff is None or it.function not in ff.functions:
            s.missing = True
            out[(it.file, it.function)] = s
            continue
        ctx, found = judge.findings(it.file, it.function)
        s.unparsed = bool(ff.timeout or ff.spatch_failed) or \
            any(f.reason == "unparsed" for f in found)
        s.cross_file = any(f != it.file for f, _ in ctx.reach.order)
        for f in found:
            if f.reason not in want:
                continue
            s.reasons.add(f.reason)
            s.lines.setdefault(f.reason, set()).add(f.line)
            s.limits.setdefault(f.reason, set()).add(f.limit)
            if f.lock:
                s.locks.setdefault(f.reason, set()).add(f.lock)
        out[(it.file, it.function)] = s
    return out


def checker_side(db: Path | Callable[[], Path], tree: Path, items: list[Item], jobs: int = 2,
                 db_tree: Path | None = None, keys: dict[str, str] | None = None
                 ) -> tuple[dict[tuple[str, str], Side], dict]:
    """Per item the checker's reasons; and per file its skipped line ranges.

    keys: file -> a key over what the file's result depends on (verify's
    checker key with this plan): a file whose key has a result under the
    cache is not parsed again; db may then be a function that makes the
    compile database, called only when a file must be parsed."""
    rows = [("hardirq", it.file, it.function) for it in items]
    cdir = cache_dir() / "parity" / "checker"
    entries, todo = [], []
    for f in dict.fromkeys(it.file for it in items):
        hit = cdir / f"{keys[f]}.json" if keys and f in keys else None
        if hit is not None and hit.exists():
            entries.append(json.loads(hit.read_text()))
        else:
            todo.append(f)
    if todo:
        res = checkermod.run_checker(db() if callable(db) else db,
                                     [r for r in rows if r[1] in todo], files=todo,
                                     tree=tree, db_tree=db_tree, jobs=jobs)
        for e in res["files"]:
            crashed = any((x.get("message") or "").startswith("checker ") for x in
                          e.get("checks", {}).get("parse", {}).get("errors", []))
            if keys and e["file"] in keys and not e.get("skipped") and not crashed:
                cdir.mkdir(parents=True, exist_ok=True)
                (cdir / f"{keys[e['file']]}.json").write_text(json.dumps(e))
        entries += res["files"]
    out: dict[tuple[str, str], Side] = {}
    skipped: dict[str, list[tuple[int, int]]] = {}
    for f in entries:
        chk = f.get("checks", {})
        skipped[f["file"]] = [tuple(r) for r in chk.get("parse", {}).get("skipped", [])]
        h = chk.get("hardirq", {})
        parse = chk.get("parse", {})
        perr = ""
        if parse.get("error_count"):
            e0 = (parse.get("errors") or [{}])[0]
            perr = f"{e0.get('file')}:{e0.get('line')}: {e0.get('message')}"
        for fn in h.get("functions", []):
            out[(f["file"], fn["function"])] = Side(
                missing=not fn["defined"], parse_error=perr,
                name_only_locks=set(fn.get("name_only_locks", [])))
        for v in h.get("violations", []):
            s = out.setdefault((f["file"], v["function"]), Side())
            if v.get("class") == "missing":
                s.missing = True
                continue
            s.reasons.add(v["reason"])
            s.lines.setdefault(v["reason"], set()).add(v["line"] or 0)
        if f.get("skipped") or not chk:
            for it in items:
                if it.file == f["file"]:
                    out.setdefault((it.file, it.function), Side(missing=True))
    return out, skipped


def _in(lines: set[int], ranges: list[tuple[int, int]]) -> bool:
    return bool(lines) and all(any(a <= ln <= b for a, b in ranges) for ln in lines)


def compare(items: list[Item], audit: dict, check: dict, skipped: dict) -> list[dict]:
    rows = []
    for it in items:
        a = audit.get((it.file, it.function), Side(missing=True))
        c = check.get((it.file, it.function), Side(missing=True))
        row = {"file": it.file, "function": it.function, "audit": sorted(a.reasons),
               "checker": sorted(c.reasons), "explained": [], "unexplained": []}
        if it.expect is not None:
            row["expected"] = sorted(it.expect)
        if c.parse_error:
            row["unexplained"].append(f"the checker cannot parse {it.file}: {c.parse_error}")
        if a.missing or c.missing:
            row["unexplained"].append(
                f"{'the audit' if a.missing else 'the checker'} does not find "
                f"{it.function}() in {it.file}")
        for r in sorted(a.reasons - c.reasons):
            lim = a.limits.get(r, set())
            if lim == {"lock-by-name"} and a.locks.get(r) and \
                    a.locks[r] <= c.name_only_locks:
                row["explained"].append(f"{r}: lock-by-name")
            elif _in(a.lines.get(r, set()), skipped.get(it.file, [])):
                row["explained"].append(f"{r}: not-compiled")
            else:
                row["unexplained"].append(f"{r}: only the audit")
        for r in sorted(c.reasons - a.reasons):
            if a.unparsed:
                row["explained"].append(f"{r}: unparsed")
            elif r == "unknown-call" and a.cross_file:
                row["explained"].append(f"{r}: cross-file")
            else:
                row["unexplained"].append(f"{r}: only the checker")
        if it.expect is not None and not a.unparsed and a.reasons != it.expect:
            row["unexplained"].append(
                f"the audit gives {sorted(a.reasons) or '-'}, the fixture expects "
                f"{sorted(it.expect) or '-'} ({it.origin})")
        if it.expect is not None and not row["explained"] and c.reasons != it.expect:
            row["unexplained"].append(
                f"the checker gives {sorted(c.reasons) or '-'}, the fixture expects "
                f"{sorted(it.expect) or '-'} ({it.origin})")
        rows.append(row)
    return rows


def write(outdir: Path, rows: list[dict], title: str) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "parity.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    bad = [r for r in rows if r["unexplained"]]
    expl = [r for r in rows if r["explained"] and not r["unexplained"]]
    md = [f"# Contract parity: {title}", "",
          f"{len(rows)} functions: {len(rows) - len(bad) - len(expl)} agree, "
          f"{len(expl)} disagree with a stated cause, {len(bad)} disagree without one.", ""]
    for what, lst in (("Disagreements without a cause", bad),
                      ("Disagreements with a cause", expl)):
        if not lst:
            continue
        md += [f"## {what}", "", "| file | function | audit | checker | why |",
               "|---|---|---|---|---|"]
        for r in lst:
            md.append(f"| {r['file']} | {r['function']} | {', '.join(r['audit']) or '-'} | "
                      f"{', '.join(r['checker']) or '-'} | "
                      f"{'; '.join(r['unexplained'] + r['explained'])} |")
        md.append("")
    (outdir / "parity.md").write_text("\n".join(md) + "\n")


# -- fixtures ---------------------------------------------------------------

EXPECT = re.compile(r"dmacb-expect: (\w+) group=\S+ action=\S+ reasons=(\S+)")
PARITY = re.compile(r"dmacb-parity: (\w+) reasons=(\S+)")
# A file that expects nothing of its own says so (see the fixture READMEs).
DECLARED = re.compile(r"dmacb-expect(?:-none|-passthrough|-elsewhere)\b|dmacb-parity-none\b")


def fixture_items(root: Path, t: tables.Tables) -> list[Item]:
    """Every expectation of the .c files under root; a file without any
    expectation (or a declaration that it has none) is bad input."""
    want = contract_reasons(t)
    items = []
    for p in sorted(root.rglob("*.c")):
        rel = str(p.relative_to(root))
        text = p.read_text()
        found = False
        for n, line in enumerate(text.splitlines(), 1):
            for rx in (EXPECT, PARITY):
                m = rx.search(line)
                if m:
                    found = True
                    rs = set() if m.group(2) == "-" else set(m.group(2).split(","))
                    if "unresolved" in rs:
                        continue        # nothing to judge
                    items.append(Item(rel, m.group(1), rs & want, f"{rel}:{n}"))
        if not found and not DECLARED.search(text):
            die(f"{p}: no dmacb-expect, dmacb-parity or dmacb-parity-none line: say what "
                f"the fixture expects")
    return items


# -- a real tree: the converted files of the last verify -----------------------

def run(k: Kernel, out_root: Path, jobs: int = 2) -> int:
    """Both engines on every callback defined in the files verify checked,
    in the converted worktree, each file with the compile database of the
    configuration that compile-tested it.  Writes parity.{json,md}."""
    from . import verify, worktree
    from .util import info
    rdir = out_root / k.release
    conv = verify.load_convert(k, out_root)
    wt = verify.branch_worktree(k, conv)
    ver = formats.load(rdir / "verify.json", "verify")
    audit = formats.load(rdir / "callbacks.json", "callbacks")
    if ver["tip"] != conv["tip"]:
        die(f"{rdir}/verify.json is not of the convert branch's tip; run 'make verify' again")
    arch_of: dict[str, str] = {}
    for d in ver["drivers"]:
        for f, b in d["checks"]["build"].items():
            if b.get("conv_ok") and not b.get("via") and f.endswith(".c") and \
                    b.get("check_arch"):
                arch_of[f] = b["check_arch"]
    tip = worktree.git(wt, "rev-parse", "HEAD").stdout.strip()
    kk = Kernel(path=wt, release=k.release, head=tip)
    items = []
    for c in audit["callbacks"]:
        f = c.get("defined_in")
        if f in arch_of:
            items.append(Item(f, c["callback"]))
    text = {f: (wt / f).read_text(errors="replace") for f in arch_of}
    items = [it for it in items if re.search(rf"\b{re.escape(it.function)}\s*\(",
                                             text[it.file])]
    info(f"parity: {len(items)} callbacks in {len(arch_of)} converted files")
    a = audit_side(kk, sorted(arch_of), items, jobs)
    c: dict = {}
    skipped: dict = {}
    common = verify.checker_key(wt)
    memo: dict = {}
    for arch in sorted(set(arch_of.values())):
        mine = [it for it in items if arch_of[it.file] == arch]
        if not mine:
            continue

        def db(arch=arch) -> Path:
            got = verify.compile_db(wt, conv["kernel"], arch)
            if isinstance(got, str):
                die(got)
            return got
        # a file's result is reused while nothing it is parsed from changed
        bdir = kbuild.build_dir(conv["kernel"], arch, verify.conv_tag(wt))
        keys = {}
        for f in {it.file for it in mine}:
            inputs = kbuild.object_inputs(bdir, f, memo)
            if inputs is not None:
                keys[f] = hashlib.sha1(repr((common, arch, inputs, sorted(
                    it.function for it in mine if it.file == f))).encode()).hexdigest()
        got, sk = checker_side(db, wt, mine, jobs, keys=keys)
        c.update(got)
        skipped.update(sk)
    rows = compare(items, a, c, skipped)
    write(rdir, rows, f"Linux {k.release}, {conv['branch']} at {tip[:12]}")
    from . import dashboard
    dashboard.write(rdir, k.path)
    bad = [r for r in rows if r["unexplained"]]
    info(f"parity: {len(rows) - len(bad)} of {len(rows)} agree or differ with a stated cause "
         f"-> {rdir}/parity.md")
    return 1 if bad else 0
