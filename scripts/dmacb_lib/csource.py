# SPDX-License-Identifier: GPL-2.0
"""What dmacb reads from C source text, next to spatch's facts.

spatch skips functions it cannot parse, silently.  To notice that, dmacb
lists function definitions from the text too (a brace matcher, no
preprocessing) and compares the two lists.  The text also gives what SmPL
has no pattern for: designated initialisers of per-SoC tables and the
bodies of function-like macros defined in the driver.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

KEYWORDS = {
    "if", "for", "while", "switch", "return", "sizeof", "typeof", "__typeof__",
    "do", "else", "case", "goto", "defined", "__attribute__", "asm", "__asm__",
    "_Static_assert", "alignof", "__alignof__", "offsetof",
}


_LEXEMES = re.compile(r"""/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S)


def _blank(m: re.Match) -> str:
    t = m.group(0)
    if t[0] in "\"'":
        # keep the quotes, blank the contents
        return t[0] + re.sub(r"[^\n]", " ", t[1:-1]) + t[-1]
    return re.sub(r"[^\n]", " ", t)


def strip_comments(text: str) -> str:
    """Blank out comments and string/char literals, keeping line numbers."""
    return _LEXEMES.sub(_blank, text)


@dataclass
class Function:
    name: str
    line: int           # line of the name
    end: int            # line of the closing brace
    body: str           # text between the braces (comments stripped)
    body_line: int      # line of the opening brace


@dataclass
class Source:
    text: str                                   # comments and strings blanked
    functions: dict[str, Function] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)    # NAME -> body


# Sparse annotations that may follow the parameter list.
_TRAILING = {"__acquires", "__releases", "__must_hold", "__attribute__", "__cond_acquires"}


def _line_of(text: str, pos: int, nl: list[int]) -> int:
    """1-based line of offset pos; nl holds the offsets of the newlines."""
    return bisect.bisect_right(nl, pos - 1) + 1


def _function_name(head: str) -> tuple[str, int] | None:
    """Name and offset in head of 'type name(params) attrs' ending head."""
    h = head.rstrip()
    while h.endswith(")"):
        depth = 0
        for j in range(len(h) - 1, -1, -1):
            if h[j] == ")":
                depth += 1
            elif h[j] == "(":
                depth -= 1
                if depth == 0:
                    break
        else:
            return None
        m = re.search(r"([A-Za-z_]\w*)\s*$", h[max(0, j - 200):j])
        if not m:
            return None
        name = m.group(1)
        off = max(0, j - 200) + m.start(1)
        if name in _TRAILING:
            h = h[:off].rstrip()
            continue
        if name in KEYWORDS or "=" in h[off:j]:
            return None
        return name, off
    return None


def parse(raw: str) -> Source:
    text = strip_comments(raw)
    src = Source(text=text)
    nl = [m.start() for m in re.finditer("\n", text)]
    # Function-like macros (continuation lines joined).
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)\(([^)]*)\)((?:[^\n]*\\\n)*[^\n]*)",
                         text, re.M):
        src.macros[m.group(1)] = m.group(3).replace("\\\n", " ")
    # Blank preprocessor lines so they do not confuse the brace matcher.
    code = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)),
                  text, flags=re.M)
    depth = 0
    last_top = 0        # end of the last top-level statement or block
    start = None
    for m in _BRACES.finditer(code):
        c, i = m.group(0), m.start()
        if c == "{":
            if depth == 0:
                found = _function_name(code[max(last_top, i - 4000):i])
                if found:
                    found = (found[0], found[1] + max(last_top, i - 4000) - last_top)
                start = (found, i) if found else None
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if start:
                    (name, off), ob = start
                    fn = Function(name=name, line=_line_of(code, last_top + off, nl),
                                  end=_line_of(code, i, nl), body=code[ob + 1:i],
                                  body_line=_line_of(code, ob, nl))
                    # a name defined twice under #ifdef: keep the first
                    src.functions.setdefault(fn.name, fn)
                last_top = i + 1
                start = None
            elif depth < 0:
                depth = 0
        elif depth == 0:            # ';' at file scope
            last_top = i + 1
    return src


_BRACES = re.compile(r"[{};]")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def calls_in(text: str) -> list[str]:
    return [m.group(1) for m in _CALL.finditer(text) if m.group(1) not in KEYWORDS]


_INIT = re.compile(r"\.\s*([A-Za-z_]\w*)\s*=\s*&?\s*([A-Za-z_]\w*)\s*[,}]")


def initialiser_stores(text: str) -> list[tuple[str, str, int]]:
    """(field, identifier, line) for every `.field = identifier` in the text."""
    nl = [m.start() for m in re.finditer("\n", text)]
    return [(m.group(1), m.group(2), _line_of(text, m.start(), nl))
            for m in _INIT.finditer(text)]


_SITE_LINE = re.compile(r"(?:->|\.)\s*(callback|callback_result)\s*=(?!=)\s*([^;]*);")


def site_lines(text: str) -> list[tuple[int, str, str]]:
    """Every line that looks like a callback store: (line, field, rhs)."""
    nl = [m.start() for m in re.finditer("\n", text)]
    return [(_line_of(text, m.start(), nl), m.group(1), " ".join(m.group(2).split()))
            for m in _SITE_LINE.finditer(text)]
