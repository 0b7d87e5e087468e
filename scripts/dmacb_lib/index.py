# SPDX-License-Identifier: GPL-2.0
"""The facts of all audited files, indexed by function, and the small
readers of C text the stages share (argument lists, parameter names).

spatch gives calls by line and name only; the argument text is read from
the source on demand (Index.args), since only locks, gfp, guards and
callback parameters need it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from .csource import line_starts, split_args, strip_comments
from .facts import FileFacts


class Index:
    """Facts of all files, indexed for resolution."""

    def __init__(self, files: dict[str, FileFacts], tree: Path | None = None,
                 texts: dict[str, tuple[str, list[int]]] | None = None):
        self.files = files
        self.tree = tree
        # the source as args() reads it; texts: shared with earlier Index
        # objects of the same tree (the audit makes one per round)
        self._text: dict[str, tuple[str, list[int]]] = {} if texts is None else texts
        self.defs: dict[str, dict[str, dict]] = {}       # file -> name -> def record
        self.calls: dict[str, dict[str, list[dict]]] = {}
        self.icalls: dict[str, dict[str, list[dict]]] = {}
        self.stores: dict[str, list[dict]] = {}
        self.defined_where: dict[str, list[str]] = defaultdict(list)
        for p, ff in files.items():
            defs, calls, icalls, stores = {}, defaultdict(list), defaultdict(list), []
            for r in ff.records:
                k = r["k"]
                if k == "def":
                    defs.setdefault(r["name"], r)
                elif k == "call":
                    calls[r["fn"]].append(r)
                elif k == "icall":
                    icalls[r["fn"]].append(r)
                elif k == "store":
                    stores.append(r)
            for fld, ident, line in ff.inits:
                stores.append({"k": "store", "dst": "." + fld, "src": ident, "line": line,
                               "fn": None})
            self.defs[p], self.calls[p], self.icalls[p], self.stores[p] = \
                defs, calls, icalls, stores
            for name in ff.functions:
                self.defined_where[name].append(p)

    def text(self, file: str) -> tuple[str, list[int]]:
        """The file's text with comments and literals blanked, and its line starts."""
        if file not in self._text:
            raw = (self.tree / file).read_text(errors="replace") if self.tree else ""
            text = strip_comments(raw)
            self._text[file] = (text, line_starts(text))
        return self._text[file]

    def args(self, file: str, rec: dict) -> str:
        """The argument text of a call record, read from the source on demand.

        spatch gives the callee's line; the first `name(` on that line is taken
        and its parentheses matched across lines.  Comments and string contents
        are blanked first, so neither can unbalance the match.
        """
        if "args" in rec:
            return rec["args"]
        text, starts = self.text(file)
        args = ""
        line = rec["line"]
        if 0 < line <= len(starts):
            end = starts[line] if line < len(starts) else len(text)
            m = _call_on_line(text, rec["name"], starts[line - 1], end)
            if m:
                depth, i = 1, m.end()
                while i < len(text) and depth:
                    depth += {"(": 1, ")": -1}.get(text[i], 0)
                    i += 1
                args = " ".join(text[m.end():i - 1].split())
        rec["args"] = args
        return args


_WS_PAREN = re.compile(r"\s*\(")


def _call_on_line(text: str, name: str, start: int, end: int) -> re.Match | None:
    """The first `name (` starting in text[start:end], name a whole word (as
    a regex with \\b would find it); the match ends after the '('.  A regex
    per name meant compiling ~1500 of them in an audit (0.3 s)."""
    i = text.find(name, start, end)
    while i >= 0:
        if i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"):
            m = _WS_PAREN.match(text, i + len(name))
            if m:
                return m
        i = text.find(name, i + 1, end)
    return None


def params(defrec: dict) -> list[str]:
    """Parameter names of a function definition record."""
    names = []
    for p in split_args(defrec.get("params", "")):
        m = re.search(r"([A-Za-z_]\w*)\s*(\)\s*\(.*\))?\s*(\[[^\]]*\])?\s*$", p)
        m2 = re.search(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)", p)    # function pointer param
        names.append(m2.group(1) if m2 else (m.group(1) if m else ""))
    return names


