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


def _spaces(t: str) -> str:
    """t with every character but newlines made a space."""
    return re.sub(r"[^\n]", " ", t) if "\n" in t else " " * len(t)


def _blank(m: re.Match) -> str:
    t = m.group(0)
    if t[0] in "\"'":
        # keep the quotes, blank the contents
        return t[0] + _spaces(t[1:-1]) + t[-1]
    return _spaces(t)


def strip_comments(text: str) -> str:
    """Blank out comments and string/char literals, keeping line numbers."""
    return _LEXEMES.sub(_blank, text)


def function_span(text: str, fn: str) -> tuple[int, int, int] | None:
    """(start of the declarator's line, its opening brace, one past the
    closing brace) of fn's definition, found in the text by its shape: a
    line that starts in column 0 (kernel style; `\tif (fn(x)) {` in an
    earlier function is a call)."""
    m = re.search(r"^(?![ \t])[^\n;#]*\b" + re.escape(fn) + r"\s*\([^;{]*\)\s*\{", text,
                  re.M)
    if not m:
        return None
    i, depth = m.end(), 1
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return (m.start(), m.end() - 1, i) if depth == 0 else None


_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)


def blank_directives(text: str) -> str:
    """Preprocessor lines (with their continuations) made spaces."""
    return _DIRECTIVE.sub(lambda m: _spaces(m.group(0)), text)


def line_starts(text: str) -> list[int]:
    """Offset of the start of each line (index 0: line 1)."""
    return [0] + [m.end() for m in re.finditer("\n", text)]


@dataclass
class Function:
    name: str
    line: int           # line of the name
    end: int            # line of the closing brace
    body: str           # text between the braces (comments stripped)
    body_line: int      # line of the opening brace
    head_start: int = 0     # offset in Source.text of the name
    body_start: int = 0     # offset in Source.text of the body (after the brace)


@dataclass
class Source:
    text: str                                   # comments and strings blanked
    functions: dict[str, Function] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)    # NAME -> body
    macro_params: dict[str, list[str]] = field(default_factory=dict)    # NAME -> params
    objects: dict[str, str] = field(default_factory=dict)   # object-like NAME -> body


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
        src.macro_params[m.group(1)] = [
            "__VA_ARGS__" if a.strip() == "..." else a.strip()
            for a in m.group(2).split(",") if a.strip()]
    # Object-like macros (a gfp or a lock may hide behind one); the last
    # definition wins, as for the preprocessor (roughly).
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?![\w(])((?:[^\n]*\\\n)*[^\n]*)",
                         text, re.M):
        src.objects[m.group(1)] = " ".join(m.group(2).replace("\\\n", " ").split())
    # Blank preprocessor lines so they do not confuse the brace matcher.
    code = blank_directives(text)
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
                                  body_line=_line_of(code, ob, nl),
                                  head_start=last_top + off, body_start=ob + 1)
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


def split_args(s: str) -> list[str]:
    """A call's argument text split at its top-level commas."""
    if not any(c in s for c in "([{"):
        return [x.strip() for x in s.split(",")] if s.strip() else []
    out, depth, cur = [], 0, []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


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


# Guessing spatch's facts from the text (audit.guess_followups) --------------

# Type names: 'int (' is a cast or a declarator, never a call.
_TYPES = {"int", "char", "long", "short", "unsigned", "signed", "void", "bool", "float",
          "double", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "size_t"}
# (Python's re is slow on patterns that start with an optional group:
# what precedes a match is looked at afterwards, see _after_field.)
_STORE_RHS = re.compile(r"(?<![=!<>+\-*/%&|^])=\s*([A-Za-z_]\w*)\s*;")
_LHS = re.compile(r"([A-Za-z_]\w*)\s*$")


def _after_field(text: str, pos: int) -> bool:
    """Is text[pos:] preceded by '->' or '.' (a field, not a plain name)?"""
    return text[max(0, pos - 8):pos].rstrip().endswith(("->", "."))


_PARENS = re.compile(r"[()]")


def parenthesised(text: str, open_at: int) -> str:
    """What is between the '(' at open_at and its ')'."""
    depth = 0
    for m in _PARENS.finditer(text, open_at):
        depth += 1 if m.group() == "(" else -1
        if depth == 0:
            return " ".join(text[open_at + 1:m.start()].split())
    return " ".join(text[open_at + 1:].split())


def guess_records(src: Source) -> list[dict]:
    """Callback sites, definitions, direct calls and identifier stores, as
    the facts SmPL prints them, guessed from the text (a site's struct is
    not known: every site_lines() store counts).

    Only for guessing which other files an audit will need while spatch
    still runs: nothing is ever classified from these.
    """
    nl = [m.start() for m in re.finditer("\n", src.text)]
    out: list[dict] = []
    for name, f in src.functions.items():
        head = src.text[f.head_start:f.body_start - 1]
        p = head.find("(", len(name))
        out.append({"k": "def", "line": f.line, "fn": name, "name": name,
                    "params": parenthesised(head, p) if p >= 0 else ""})
        for m in _CALL.finditer(f.body):
            callee = m.group(1)
            # ->f() is an indirect call; for_each*() an iterator, not a call
            if callee in KEYWORDS or callee in _TYPES or "for_each" in callee or \
                    _after_field(f.body, m.start()):
                continue
            out.append({"k": "call", "line": _line_of(src.text, f.body_start + m.start(), nl),
                        "fn": name, "name": callee})
        for m in _STORE_RHS.finditer(f.body):
            lhs = _LHS.search(f.body, max(0, m.start() - 80), m.start())
            if not lhs:
                continue
            field = _after_field(f.body, lhs.start())
            out.append({"k": "store", "line": _line_of(src.text, f.body_start + lhs.start(), nl),
                        "fn": name, "dst": ("." if field else "") + lhs.group(1),
                        "src": m.group(1)})
    for line, fld, rhs in site_lines(src.text):
        fn = next((f.name for f in src.functions.values() if f.line <= line <= f.end), None)
        out.append({"k": "site", "line": line, "fn": fn, "field": fld, "rhs": rhs, "desc": ""})
    return out


# Tokens and loops (rule 7) ---------------------------------------------------

_TOK = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|->|\+\+|--|\+=|-=|<<=|>>=|<=|>=|==|!=|&&|\|\||"
                  r"<<|>>|[*/%&|^]=|\S")


def tokens(text: str, first_line: int = 1) -> list[tuple[str, int]]:
    """(token, line) for text with comments and literals already blanked
    (strip_comments): the same tokens as the checker's clang_tokenize for
    identifiers and punctuators."""
    out = []
    line = first_line
    pos = 0
    for m in _TOK.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        out.append((m.group(0), line))
    return out


@dataclass
class Loop:
    kind: str           # for, while, do, or the name of a *for_each* macro
    line: int           # line of the keyword
    end: int            # line of its last token
    toks: list[str]     # every token from the keyword to the end


def _match(toks: list[tuple[str, int]], i: int, open_: str, close: str) -> int:
    """Index of the token closing the one at i (open_), or len(toks) - 1."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][0] == open_:
            depth += 1
        elif toks[j][0] == close:
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _statement_end(toks: list[tuple[str, int]], i: int) -> int:
    """Index of the last token of the statement starting at i."""
    if i >= len(toks):
        return len(toks) - 1
    if toks[i][0] == "{":
        return _match(toks, i, "{", "}")
    if toks[i][0] in ("for", "while") or "for_each" in toks[i][0]:
        j = i + 1
        if j < len(toks) and toks[j][0] == "(":
            return _statement_end(toks, _match(toks, j, "(", ")") + 1)
    if toks[i][0] == "do":
        j = _statement_end(toks, i + 1) + 1          # body, then 'while (...) ;'
        if j < len(toks) and toks[j][0] == "while" and j + 1 < len(toks):
            j = _match(toks, j + 1, "(", ")") + 1
        return min(j, len(toks) - 1)
    if toks[i][0] == "if":
        j = _statement_end(toks, _match(toks, i + 1, "(", ")") + 1)
        if j + 1 < len(toks) and toks[j + 1][0] == "else":
            j = _statement_end(toks, j + 2)
        return j
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j][0]
        if t in "([{":
            depth += 1
        elif t in ")]}":
            depth -= 1
        elif t == ";" and depth <= 0:
            return j
    return len(toks) - 1


def loops(toks: list[tuple[str, int]]) -> list[Loop]:
    """Every loop of a function body's tokens: for/while/do statements and
    iterator macros (list_for_each_entry(...) { ... }), each from its keyword
    to its last token.  A do-while's 'while' is part of its loop."""
    out = []
    skip_while: set[int] = set()
    for i, (t, line) in enumerate(toks):
        nxt = toks[i + 1][0] if i + 1 < len(toks) else ""
        if t == "do":
            end = _statement_end(toks, i)
            for j in range(i + 1, end + 1):
                if toks[j][0] == "while" and j + 1 <= end and toks[j + 1][0] == "(" and \
                        toks[j - 1][0] in ("}", ";"):
                    skip_while.add(j)
            out.append(Loop("do", line, toks[end][1], [x for x, _ in toks[i:end + 1]]))
        elif (t in ("for", "while") or ("for_each" in t and (t[0].isalpha() or t[0] == "_"))) \
                and nxt == "(" and i not in skip_while:
            end = _statement_end(toks, i)
            out.append(Loop(t, line, toks[end][1], [x for x, _ in toks[i:end + 1]]))
    return out
