# SPDX-License-Identifier: GPL-2.0
"""The contract's tables under kb/, loaded and checked.

The C checker reads the same files with the same checks (checker/contract.c):
an unknown class, an unknown rule, a reason that is not a word of vocab.py,
a duplicate name: one line naming the file and the line, exit 2, nothing
written.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import vocab
from ..util import PROJECT, die

KB_DIR = PROJECT / "kb"

LOCK_ROLES = ("acquire", "release", "by-name", "-")
DECIDERS = ("gfp", "regmap", "-")
APPLIES = ("always", "locked-delivery", "completion")
POLL_FORMS = ("time", "time-poll", "spin", "-")
REGMAP_KINDS = ("mmio", "bus")


@dataclass(frozen=True)
class Rule:
    number: int
    reasons: tuple[str, ...]
    applies: str
    text: str


@dataclass(frozen=True)
class Class:
    name: str
    rule: int | None
    reason: str | None
    lock: str
    decide: str
    note: str


@dataclass(frozen=True)
class Function:
    name: str
    cls: str
    note: str
    gfp_arg: int = -1


@dataclass
class Tables:
    rules: dict[int, Rule] = field(default_factory=dict)
    classes: dict[str, Class] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    guards: dict[str, str] = field(default_factory=dict)
    irq_requests: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    gfp: dict[str, str] = field(default_factory=dict)
    regmap: list[tuple[str, str]] = field(default_factory=list)
    lock_forms: dict[str, str] = field(default_factory=dict)
    polling: list[tuple[str, str]] = field(default_factory=list)

    def poll_form(self, name: str) -> str:
        for pat, form in self.polling:
            if fnmatch.fnmatchcase(name, pat):
                return form
        return "-"

    def regmap_kind(self, ident: str) -> str | None:
        for pat, kind in self.regmap:
            if fnmatch.fnmatchcase(ident, pat):
                return kind
        return None

    def rule_of_reason(self, reason: str) -> int | None:
        for r in self.rules.values():
            if reason in r.reasons:
                return r.number
        return None


def _rows(path: Path, ncols: int) -> list[tuple[int, list[str]]]:
    """Non-comment lines split at tabs, each with at least ncols columns."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        die(f"{path}: cannot read a table of the contract ({e.strerror})")
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < ncols or not cols[0]:
            die(f"{path}:{n}: expected {ncols} tab-separated columns")
        out.append((n, cols))
    return out


def _unique(path: Path, n: int, name: str, seen: dict) -> None:
    if name in seen:
        die(f"{path}:{n}: duplicate entry '{name}'")


def load(kb_dir: Path | None = None) -> Tables:
    d = Path(kb_dir or os.environ.get("DMACB_KB_DIR") or KB_DIR)
    t = Tables()

    p = d / "rules.tsv"
    for n, c in _rows(p, 4):
        if not c[0].isdigit():
            die(f"{p}:{n}: rule '{c[0]}' is not a number")
        reasons = tuple(x for x in c[1].split(",") if x)
        for r in reasons:
            if r not in vocab.REASONS:
                die(f"{p}:{n}: unknown reason '{r}' (see scripts/dmacb_lib/vocab.py)")
        if c[2] not in APPLIES:
            die(f"{p}:{n}: unknown 'applies' value '{c[2]}' ({', '.join(APPLIES)})")
        _unique(p, n, c[0], t.rules)
        t.rules[int(c[0])] = Rule(int(c[0]), reasons, c[2], c[3])

    p = d / "classes.tsv"
    for n, c in _rows(p, 6):
        rule = None
        if c[1] != "-":
            if not c[1].isdigit() or int(c[1]) not in t.rules:
                die(f"{p}:{n}: class '{c[0]}' refers to unknown rule '{c[1]}'")
            rule = int(c[1])
        reason = None if c[2] == "-" else c[2]
        if reason is not None and reason not in vocab.REASONS:
            die(f"{p}:{n}: unknown reason '{reason}'")
        if rule is not None and reason not in t.rules[rule].reasons:
            die(f"{p}:{n}: reason '{reason}' is not one of rule {rule}'s")
        if c[3] not in LOCK_ROLES:
            die(f"{p}:{n}: unknown lock role '{c[3]}'")
        if c[4] not in DECIDERS:
            die(f"{p}:{n}: unknown 'decide' value '{c[4]}'")
        _unique(p, n, c[0], t.classes)
        t.classes[c[0]] = Class(c[0], rule, reason, c[3], c[4], c[5] if len(c) > 5 else "")

    p = d / "kernel-functions.tsv"
    for n, c in _rows(p, 2):
        name, cls = c[0], c[1]
        note = c[2] if len(c) > 2 else ""
        if cls not in t.classes:
            die(f"{p}:{n}: unknown class '{cls}'")
        _unique(p, n, name, t.functions)
        gfp = -1
        if t.classes[cls].decide == "gfp":
            m = re.search(r"gfp=(\d+)", note)
            if not m:
                die(f"{p}:{n}: {cls} needs gfp=N in the note")
            gfp = int(m.group(1))
        t.functions[name] = Function(name, cls, note, gfp)

    p = d / "guards.tsv"
    for n, c in _rows(p, 2):
        if c[1] not in t.classes:
            die(f"{p}:{n}: unknown class '{c[1]}'")
        _unique(p, n, c[0], t.guards)
        t.guards[c[0]] = c[1]

    p = d / "irq-requests.tsv"
    for n, c in _rows(p, 3):
        args = []
        for x in c[1:3]:
            if x != "-" and not x.isdigit():
                die(f"{p}:{n}: argument index '{x}' is not a number or '-'")
            args.append(None if x == "-" else int(x))
        _unique(p, n, c[0], t.irq_requests)
        t.irq_requests[c[0]] = (args[0], args[1])

    p = d / "gfp.tsv"
    for n, c in _rows(p, 2):
        _unique(p, n, c[0], t.gfp)
        t.gfp[c[0]] = c[1]
    for name, v in t.gfp.items():
        if v in ("bit", "sleeps"):
            continue
        for ident in re.findall(r"[A-Za-z_]\w*", v):
            if ident not in t.gfp:
                die(f"{p}: {name} refers to '{ident}', which the table does not define")
    if list(t.gfp.values()).count("sleeps") != 1:
        die(f"{p}: exactly one flag must be marked 'sleeps'")

    p = d / "regmap.tsv"
    for n, c in _rows(p, 2):
        if c[1] not in REGMAP_KINDS:
            die(f"{p}:{n}: unknown regmap kind '{c[1]}' ({', '.join(REGMAP_KINDS)})")
        t.regmap.append((c[0], c[1]))

    p = d / "lock-forms.tsv"
    for n, c in _rows(p, 2):
        _unique(p, n, c[0], t.lock_forms)
        f = t.functions.get(c[0])
        if f is None or t.classes[f.cls].lock == "-":
            die(f"{p}:{n}: '{c[0]}' is not a lock function of kb/kernel-functions.tsv")
        t.lock_forms[c[0]] = c[1]

    p = d / "polling.tsv"
    for n, c in _rows(p, 2):
        if c[1] not in POLL_FORMS:
            die(f"{p}:{n}: unknown polling form '{c[1]}' ({', '.join(POLL_FORMS)})")
        t.polling.append((c[0], c[1]))
    return t
