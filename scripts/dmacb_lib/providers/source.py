# SPDX-License-Identifier: GPL-2.0
"""Reading C source text next to spatch's facts: the arguments of a call
spatch reported, the parameter names of a definition, what is stored at a
position spatch reported, and whether a call is conditional in its function.

All of it works on csource's stripped text (comments and string contents
blanked, line numbers kept), and only ever at places spatch pointed to or
inside functions spatch parsed.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field

from .. import csource
from ..csource import split_args


@dataclass
class Text:
    """One file's stripped text and its functions."""
    path: str
    src: csource.Source
    starts: list[int] = field(default_factory=list)      # line -> offset (index line-1)
    static: set[str] = field(default_factory=set)        # functions defined static
    exports: set[str] = field(default_factory=set)       # EXPORT_SYMBOL*() names
    includes_c: list[str] = field(default_factory=list)  # #include "x.c"
    includes: list[str] = field(default_factory=list)    # #include <x> and "x"
    includes_local: list[str] = field(default_factory=list)  # #include "x.h"

    @property
    def text(self) -> str:
        return self.src.text

    def offset(self, line: int, col: int = 0) -> int:
        if line < 1 or line > len(self.starts):
            return -1
        return self.starts[line - 1] + col

    def line_of(self, off: int) -> int:
        return bisect.bisect_right(self.starts, off)

    def function_at(self, line: int) -> csource.Function | None:
        for f in self.src.functions.values():
            if f.line <= line <= f.end:
                return f
        return None


_EXPORT = re.compile(r"EXPORT_SYMBOL(?:_GPL|_NS|_NS_GPL)?\(\s*([A-Za-z_]\w*)\s*[,)]")
_INCLUDE_C = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+\.c)"', re.M)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^">]+)[">]', re.M)


def read(path: str, raw: str) -> Text:
    src = csource.parse(raw)
    t = Text(path=path, src=src, starts=csource.line_starts(src.text))
    for name, f in src.functions.items():
        # the words before the name, back to the previous declaration
        head = src.text[max(0, f.head_start - 300):f.head_start]
        head = re.split(r"[;}]", head)[-1]
        if re.search(r"\bstatic\b", head):
            t.static.add(name)
    t.exports = set(_EXPORT.findall(src.text))
    # (#include lines are blanked in csource's text only as strings: read raw)
    t.includes_c = _INCLUDE_C.findall(raw)
    t.includes = _INCLUDE.findall(raw)
    t.includes_local = re.findall(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+\.h)"', raw, re.M)
    return t


@functools.lru_cache(maxsize=None)
def call_re(name: str) -> re.Pattern:
    """'name(' as a word (compiled once per name)."""
    return re.compile(r"\b" + re.escape(name) + r"\s*\(")


def _match_paren(text: str, i: int) -> int:
    """Offset just past the ')' matching the '(' at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def call_args(t: Text, name: str, line: int) -> list[str] | None:
    """Arguments of the first call of name on line (spatch's C record)."""
    got = call_span(t, name, line)
    return got[0] if got else None


def call_span(t: Text, name: str, line: int) -> tuple[list[str], int] | None:
    """Arguments of the first call of name on line, and the line of its ')'."""
    start = t.offset(line)
    if start < 0:
        return None
    end = t.offset(line + 1) if line < len(t.starts) else len(t.text)
    m = call_re(name).search(t.text, start, max(end, start + 1))
    if not m:
        return None
    close = _match_paren(t.text, m.end() - 1)
    return ([" ".join(a.split()) for a in split_args(t.text[m.end():close - 1])],
            t.line_of(close - 1))


def param_names(params: str) -> list[str]:
    """Names in a parameter list as spatch prints it ('struct x *a, int b')."""
    names = []
    for p in split_args(params):
        m2 = re.search(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)", p)      # function pointer
        m = re.search(r"([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$", p)
        names.append(m2.group(1) if m2 else (m.group(1) if m and p.strip() != "void" else ""))
    return names


_ASSIGN = re.compile(r"\s*(\|=|=(?!=))")


def stored_at(t: Text, line: int, col: int, name: str) -> tuple[str, str] | None:
    """If the field name at line:col is the target of an assignment, the
    operator ('=' or '|=') and the value stored."""
    off = t.offset(line, col)
    if off < 0 or t.text[off:off + len(name)] != name:
        # spatch's column counts a tab as one character, as Python does:
        # a mismatch means the text moved; look for the name on the line
        lo = t.offset(line)
        hi = t.offset(line + 1) if line < len(t.starts) else len(t.text)
        m = re.compile(r"\b" + re.escape(name) + r"\b").search(t.text, lo, hi)
        if not m:
            return None
        off = m.start()
    m = _ASSIGN.match(t.text, off + len(name))
    if not m:
        return None
    i = m.end()
    depth = 0
    j = i
    while j < len(t.text):
        c = t.text[j]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif c in ";," and depth == 0:
            break
        j += 1
    return m.group(1), " ".join(t.text[i:j].split())


def use_context(t: Text, line: int, col: int, name: str) -> str:
    """How the field name at line:col is used: 'store', 'call' (followed by
    an argument list), 'copy' (its value assigned to a variable or another
    field), 'test' (in an if/while condition or a ?: or &&/||), or 'read'."""
    off = t.offset(line, col)
    if off < 0 or t.text[off:off + len(name)] != name:
        lo = t.offset(line)
        hi = t.offset(line + 1) if line < len(t.starts) else len(t.text)
        m = re.compile(r"\b" + re.escape(name) + r"\b").search(t.text, max(lo, 0), hi)
        if not m:
            return "read"
        off = m.start()
    after = t.text[off + len(name):off + len(name) + 40].lstrip()
    if _ASSIGN.match(t.text, off + len(name)):
        return "store"
    if after.startswith("("):
        return "call"
    # what precedes the expression the field ends: back over the
    # expression's own tokens (identifiers, '->', '.', '&', '*', parens of
    # a cast would be unusual here)
    i = off
    while i > 0:
        seg = t.text[max(0, i - 2):i]
        if seg == "->":
            i -= 2
        elif t.text[i - 1] in ". \t\n" or t.text[i - 1].isalnum() or t.text[i - 1] in "_&*[]":
            i -= 1
        else:
            break
    before = t.text[max(0, i - 3):i]
    prev = before.rstrip()[-1:] if before.strip() else t.text[i - 1:i]
    stmt_start = max(t.text.rfind(";", 0, off), t.text.rfind("{", 0, off),
                     t.text.rfind("}", 0, off))
    stmt = t.text[stmt_start + 1:off]
    if prev == "=" and not t.text[max(0, i - 2):i].strip().endswith(("==", "!=", "<=", ">=")):
        return "copy"
    if re.search(r"\b(if|while)\s*\(", stmt) or "?" in t.text[off:off + 60].split(";")[0] or \
            prev in ("!", "(", "&", "|") and re.search(r"\b(if|while)\b|&&|\|\|", stmt):
        return "test"
    if re.search(r"&&|\|\|", stmt):
        return "test"
    return "read"


def copy_target(t: Text, line: int, col: int) -> str | None:
    """For a 'copy' use: the variable (or field) the value is assigned to."""
    off = t.offset(line, col)
    stmt_start = max(t.text.rfind(";", 0, off), t.text.rfind("{", 0, off),
                     t.text.rfind("}", 0, off))
    stmt = t.text[stmt_start + 1:off]
    m = re.search(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*=[^=]*$", stmt)
    return m.group(1) if m else None


@dataclass
class Branch:
    """A control statement of a function body: its kind and the ranges
    (offsets in the file's text) of its parts."""
    kind: str                   # if, switch, loop, do
    start: int
    end: int
    then: tuple[int, int] = (0, 0)
    other: tuple[int, int] | None = None     # the else branch of an if


_BRANCHES: dict[tuple[int, str], list[Branch]] = {}


def branches(t: Text, fn: csource.Function) -> list[Branch]:
    """Every if/switch/loop of fn's body, by a small statement scanner
    (blocks, if/else, for/while, do/while, switch; anything else runs to
    its ';')."""
    key = (id(t), fn.name)
    if key not in _BRANCHES:
        _BRANCHES[key] = _branches(t, fn)
    return _BRANCHES[key]


def _branches(t: Text, fn: csource.Function) -> list[Branch]:
    text = t.text
    out: list[Branch] = []

    def skip_ws(i: int) -> int:
        while i < len(text) and text[i] in " \t\n":
            i += 1
        return i

    def stmt(i: int, limit: int) -> int:
        i = skip_ws(i)
        if i >= limit:
            return limit
        if text[i] == "{":
            j = i + 1
            while True:
                j = skip_ws(j)
                if j >= limit or text[j] == "}":
                    return min(j + 1, limit)
                nj = stmt(j, limit)
                j = nj if nj > j else j + 1
        m = re.match(r"(if|switch|for|while|do)\b", text[i:i + 7])
        if m and m.group(1) in ("if", "switch", "for", "while"):
            p = text.find("(", i)
            close = _match_paren(text, p)
            then_end = stmt(close, limit)
            kind = {"for": "loop"}.get(m.group(1), m.group(1))
            br = Branch(kind, i, then_end, (close, then_end))
            out.append(br)
            if m.group(1) == "if":
                k = skip_ws(then_end)
                if text.startswith("else", k) and not (text[k + 4:k + 5].isalnum() or
                                                       text[k + 4:k + 5] == "_"):
                    else_end = stmt(k + 4, limit)
                    br.other = (k + 4, else_end)
                    br.end = else_end
            return br.end
        if m and m.group(1) == "do":
            body_end = stmt(i + 2, limit)
            k = text.find(";", body_end)
            end = k + 1 if 0 <= k < limit else limit
            out.append(Branch("do", i, end, (i + 2, body_end)))
            return end
        # an iterator macro: list_for_each_entry(...) { ... }
        mi = re.match(r"[A-Za-z_]\w*\s*\(", text[i:i + 80])
        if mi:
            close = _match_paren(text, i + mi.end() - 1)
            k = skip_ws(close)
            if k < limit and text[k] == "{":
                body_end = stmt(k, limit)
                out.append(Branch("loop", i, body_end, (k, body_end)))
                return body_end
        # an expression statement, declaration, label, return...: to its ';'
        depth = 0
        for j in range(i, limit):
            c = text[j]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    return j            # a stray close: the enclosing block ends
                depth -= 1
            elif c == ";" and depth == 0:
                return j + 1
        return limit

    stmt(fn.body_start - 1, fn.body_start + len(fn.body) + 1)
    return out


def is_conditional(t: Text, fn: csource.Function, line: int, name: str,
                   also_ok=None) -> str:
    """Whether the call of name on line is conditional in fn: '' when it is
    executed on every path that gets that far, else why ('if', 'else',
    'while', '?:', 'return before (line N)').  for loops and iterator
    macros count as executed (a prep gets a descriptor per sg entry), so
    do while loops, except one on a list being empty (while
    (list_empty(&free)) alloc(): rcar-dmac); a switch
    does not make a call conditional (its arms are the cases a caller
    chose).  also_ok(start, end): whether the other branch of an if
    covers the case too (it reaches what the call reaches), which makes
    the call unconditional at that if.  A text approximation."""
    start = t.offset(line)
    if start < 0:
        return ""
    m = call_re(name).search(
        t.text, start, t.offset(line + 1) if line < len(t.starts) else len(t.text))
    if not m:
        return ""
    pos = m.start()
    text = t.text
    before = text[fn.body_start:pos]
    for r in re.finditer(r"\breturn\b([^;]*);", before):
        val = r.group(1).strip()
        if val and not re.match(r"^(NULL|0|ERR_PTR\b|-|false\b|\(\s*\w+\s*\*\s*\)\s*NULL)", val) \
                and not call_re(name).search(val):
            return "return before (line %d)" % (t.line_of(fn.body_start + r.start()))
    stmt_start = max(text.rfind(";", fn.body_start, pos), text.rfind("{", fn.body_start, pos),
                     text.rfind("}", fn.body_start, pos), fn.body_start - 1)
    if "?" in text[stmt_start + 1:pos]:
        return "?:"
    for br in branches(t, fn):
        if br.kind == "while" and br.then[0] <= pos < br.then[1] and \
                re.search(r"\blist_empty\w*\s*\(", text[br.start:br.then[0]]):
            return f"while (line {t.line_of(br.start)}), only when a list is empty"
        if br.kind != "if" or not (br.start <= pos < br.end):
            continue
        if br.then[0] <= pos < br.then[1]:
            where, other = "if", br.other
        elif br.other and br.other[0] <= pos < br.other[1]:
            where, other = "else", br.then
        else:
            continue            # in the condition
        if other and also_ok and also_ok(*other):
            continue
        return f"{where} (line {t.line_of(br.start)})"
    return ""


_IDENT = re.compile(r"[A-Za-z_]\w*")


def idents(expr: str) -> set[str]:
    return set(_IDENT.findall(expr))


def flag_kind(expr: str, carriers: dict[str, str]) -> str:
    """How expr passes a carrier of the client's prep flags on: 'full' (all
    bits: the carrier itself, ORed, or with some bits cleared by '& ~X'),
    'masked' (only the bits of a mask: 'flags & DMA_PREP_INTERRUPT'), or
    'none' (no carrier in it).  carriers: name -> 'full' | 'masked'."""
    best = "none"
    for m in _IDENT.finditer(expr):
        kind = carriers.get(m.group(0))
        if not kind:
            continue
        before = expr[:m.start()].rstrip()
        after = expr[m.end():].lstrip()
        # a member of a struct (x.flags, x->flags) is not the variable
        if before.endswith((".", "->")):
            continue
        masked = False
        if after.startswith("&") and not after.startswith("&&"):
            masked = not after[1:].lstrip().startswith("~")
        if before.endswith("&") and not before.endswith("&&"):
            lhs = before[:-1].rstrip()
            if lhs and (lhs[-1].isalnum() or lhs[-1] in ")_"):
                # a binary '&' (an operand before it, not '&x'): its other
                # operand, back to an operator of lower precedence
                operand = re.split(r"[|=(,?:]", lhs)[-1].strip()
                masked = not operand.startswith("~")
        if "!!" in before[-3:] or after.startswith(("==", "!=")) or before.endswith("!"):
            masked = True           # a truth value, not the flags
        kind = "masked" if masked or kind == "masked" else "full"
        if kind == "full":
            return "full"
        best = "masked"
    return best


# Descriptor expressions by text: the cross-check of spatch's typed uses ----

_MEMBER_VAL = re.compile(r"\bstruct\s+dma_async_tx_descriptor\s+([A-Za-z_]\w*)\s*;")
_MEMBER_PTR = re.compile(r"\bstruct\s+dma_async_tx_descriptor\s*\*\s*([A-Za-z_]\w*)\s*;")
_DESC_VAR = re.compile(r"\bstruct\s+dma_async_tx_descriptor\s*\*\s*(?:const\s+)?([A-Za-z_]\w*)")
# the field first (a pattern that starts with an identifier is slow in
# Python's re), the base looked at afterwards
_FIELD_USE = re.compile(r"[.>]\s*(callback_result|callback_param|callback|flags)\b(?!\s*\w)")
_BASE = re.compile(r"([A-Za-z_]\w*)\s*(?:\]\s*)?$")


def descriptor_members(texts: list[str]) -> tuple[set[str], set[str]]:
    """Names of struct members holding a descriptor (by value, by pointer)."""
    val, ptr = set(), set()
    for t in texts:
        val |= set(_MEMBER_VAL.findall(t))
        ptr |= set(_MEMBER_PTR.findall(t))
    return val, ptr


_FILE_USES: dict[int, tuple] = {}


def text_uses(t: Text, f: csource.Function, members: tuple[set[str], set[str]]) -> list[dict]:
    """Uses of a descriptor's callback/callback_result/callback_param/flags
    in f, by text: the base is a member known to hold a descriptor, or a
    variable declared struct dma_async_tx_descriptor *."""
    key = id(t)
    if key not in _FILE_USES or _FILE_USES[key][0] is not t:
        # one pass over the file: the candidate uses, by offset
        ms = list(_FIELD_USE.finditer(t.text))
        _FILE_USES[key] = (t, [m.start() for m in ms], ms)
    _, offs, ms = _FILE_USES[key]
    lo = bisect.bisect_left(offs, f.body_start)
    hi = bisect.bisect_left(offs, f.body_start + len(f.body))
    cands = ms[lo:hi]
    if not cands:
        return []
    val, ptr = members
    head = t.text[f.head_start:f.body_start]
    ptr_vars = set(_DESC_VAR.findall(head)) | set(_DESC_VAR.findall(f.body))
    out = []
    text = t.text
    for m in cands:
        fld = m.group(1)
        if text[m.start()] == ">":
            if text[m.start() - 1:m.start()] != "-":
                continue
            op, opstart = "->", m.start() - 1
        else:
            op, opstart = ".", m.start()
        b = _BASE.search(text, max(0, opstart - 80), opstart)
        if not b:
            continue
        base = b.group(1)
        if op == "." and base in val or op == "->" and (base in ptr_vars or base in ptr):
            off = m.start(1)
            line = t.line_of(off)
            out.append({"field": fld, "line": line, "col": off - t.starts[line - 1]})
    return out
