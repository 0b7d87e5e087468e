# SPDX-License-Identifier: GPL-2.0
"""Apply one callback's semantic patch to one file, and check the result.

The SmPL in cocci/ does the rewrite; this module does not trust it.  Each
result is compared token by token with the change that was intended,
computed here independently from the audit's facts:

  completion: every site pair 'D->callback = cb; D->callback_param = P;'
      of the callback became 'dmaengine_desc_set_completion(D, E);' with E
      the completion the callback completed, written in terms of P; the
      callback definition and its prototypes are gone only if nothing
      else refers to it; no other token changed.
  hardirq/task: the only new tokens are the flag ORed into an expression
      (or replacing a literal 0) that ends a call's argument list or an
      assignment, and every function holding a site of the callback now
      names the flag.

Anything else and the callback is left untouched, with the reason.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import csource
from .util import PROJECT, cache_dir, version_line

COCCI = PROJECT / "cocci"
TO_COMPLETION = COCCI / "dma_callback_to_completion.cocci"
HARDIRQ_FLAG = COCCI / "dma_callback_hardirq_flag.cocci"
FLAG = {"hardirq": "DMA_PREP_HARDIRQ_CALLBACK", "task": "DMA_PREP_TASK_CALLBACK"}
SPATCH_TIMEOUT = 120
# kernel coding style: 80 columns preferred, checkpatch warns beyond 100
MAX_PREFERRED = 80
MAX_COLUMNS = 100


@dataclass
class Item:
    """One callback to rewrite in one file."""
    callback: str
    action: str                     # completion | hardirq | task
    sites: list[dict]               # the audit's sites in this file
    completes: list[str] = field(default_factory=list)
    defined_in: str | None = None   # callbacks of one name in two files differ


@dataclass
class Outcome:
    status: str                     # converted | unchanged | failed
    reason: str = ""
    deleted: bool = False           # completion: the callback was deleted
    completions: list[str] = field(default_factory=list)
    # completion: 'struct TAG' and FIELD of the completed member, None for
    # a bare 'struct completion *' (what the C checker verifies)
    struct: str | None = None
    field: str | None = None


def completed_member(text: str, item: Item) -> tuple[str | None, str | None]:
    """(TAG, FIELD) of 'complete(&f->FIELD)' with 'struct TAG *f' in the
    callback's body, from the text before the rewrite."""
    fn = csource.parse(text).functions.get(item.callback)
    fld = _completion_field(item.completes)
    if fn is None or fld is None:
        return None, None
    m = re.search(r"struct\s+(\w+)\s*\*\s*(?:const\s+)?\w+\s*=", fn.body) or \
        re.search(r"\(\s*struct\s+(\w+)\s*\*\s*\)", fn.body)
    return (m.group(1) if m else None), fld


_TOKEN = re.compile(r"[A-Za-z_]\w*|0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|->|<<|>>|&&|\|\||"
                    r"[<>=!]=|\+\+|--|[^\s\w]")


def render(toks: list[str]) -> str:
    """Tokens back to kernel-style text: '&', '->', '.' and brackets bind."""
    out = ""
    for i, t in enumerate(toks):
        prev = toks[i - 1] if i else ""
        tight = (t in ("->", ".", ")", "]", ",", "[") or prev in ("->", ".", "(", "[")
                 or (prev in ("&", "*") and (i == 1 or toks[i - 2] in ("(", ",", "=")))
                 or (t == "(" and prev not in (",", "=", "(", "|", "&")))
        out += t if (not out or tight) else " " + t
    return out.replace(",", ", ")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(csource.strip_comments(text))


def spatch_cmd(script: Path, defines: list[str], *targets: str) -> list[str]:
    """spatch in patch mode, quiet, with dmacb's timeout, rewriting in place."""
    cmd = ["spatch", "--sp-file", str(script), "-D", "patch"]
    for d in defines:
        cmd += ["-D", d]
    return cmd + ["--very-quiet", "--timeout", str(SPATCH_TIMEOUT), "--in-place", *targets]


_SPATCH_VERSION: list[str] = []


def _memo(script: Path, defines: list[str], text: str, name: str) -> Path:
    """Where run_spatch() keeps its output for these inputs: a key over
    spatch's version, the script, the defines, the file's name and text.
    spatch is a pure function of them, so a rerun on an unchanged file
    (convert on the same tree, verify's rerun of the rewrites, a new
    release that changed a handful of files) runs no spatch for it.
    DMACB_REWRITE_CACHE: another place (bench-convert: an empty one, so
    that it measures the rewrites cold)."""
    if not _SPATCH_VERSION:
        _SPATCH_VERSION.append(version_line(["spatch", "--version"]) or "?")
    h = hashlib.sha256()
    for part in (_SPATCH_VERSION[0].encode(), script.read_bytes(),
                 "\0".join(defines).encode(), name.encode(), text.encode()):
        h.update(hashlib.sha256(part).digest())
    k = h.hexdigest()
    root = Path(os.environ["DMACB_REWRITE_CACHE"]) if os.environ.get("DMACB_REWRITE_CACHE") \
        else cache_dir() / "rewrite"
    return root / k[:2] / k


def run_spatch(script: Path, defines: list[str], text: str, name: str) -> str:
    """The script's output for `text` (run on a copy outside any tree:
    a kernel tree's .cocciconfig makes spatch grep the whole tree);
    remembered (_memo()), failures are not."""
    memo = _memo(script, defines, text, name)
    try:
        return memo.read_text()
    except OSError:
        pass
    out = _run_spatch(script, defines, text, name)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f"{memo.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(out)
    tmp.replace(memo)
    return out


def _run_spatch(script: Path, defines: list[str], text: str, name: str) -> str:
    with tempfile.TemporaryDirectory(prefix="dmacb-rw-") as tmp:
        src = Path(tmp) / name
        src.write_text(text)
        proc = subprocess.run(spatch_cmd(script, defines, str(src)), capture_output=True, text=True, cwd=tmp,
                              timeout=SPATCH_TIMEOUT + 60)
        if proc.returncode != 0:
            msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise RuntimeError(f"spatch exited {proc.returncode}: {msg[-1] if msg else ''}")
        return src.read_text()


def flag_outputs(texts: dict[str, str], callbacks: list[str], task: bool = False,
                 jobs: int = 2) -> dict[str, str] | None:
    """The flag script's output for many files in ONE spatch run: its
    start-up (SmPL parse, OCaml compile; ~0.4 s) costs more than a small
    driver.  `cb` becomes the set of callbacks.  That matches what one run
    per callback would only for a file whose code names exactly one of
    them, so the caller gives only such files.  None if spatch failed
    (the caller falls back to one run per callback)."""
    sp = HARDIRQ_FLAG.read_text()
    if "identifier virtual.cb;" not in sp:
        return None         # the script changed shape: one run per callback it is
    sp = sp.replace("identifier virtual.cb;",
                    "identifier cb = {%s};" % ", ".join(sorted(set(callbacks))))
    with tempfile.TemporaryDirectory(prefix="dmacb-rwb-") as tmp:
        (Path(tmp) / "batch.cocci").write_text(sp)
        src = Path(tmp) / "src"
        for f, text in texts.items():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_text(text)
        # -D cb: the report/org rules still name virtual.cb; patch mode never runs them
        cmd = spatch_cmd(Path(tmp) / "batch.cocci",
                         ["cb=dmacb_batch", *(["task"] if task else [])],
                         "--jobs", str(max(1, jobs)), "--dir", str(src))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp,
                                  timeout=SPATCH_TIMEOUT * 2 + 60)
        except subprocess.TimeoutExpired:
            return None
        if proc.returncode != 0:
            return None
        return {f: (src / f).read_text() for f in texts}


# -- the completion rewrite ---------------------------------------------------

def _strip_cast(toks: list[str]) -> list[str]:
    """'( T * ) P' -> 'P' (the SmPL drops a cast on the parameter)."""
    if toks and toks[0] == "(" and ")" in toks:
        close = toks.index(")")
        inner = toks[1:close]
        if inner and inner[-1] == "*" and all(re.match(r"\w+$|\*$", t) for t in inner):
            return toks[close + 1:]
    return toks


def _completion_field(completes: list[str]) -> str | None:
    """'&f->done' -> 'done'; a direct complete(p) -> None."""
    fields = set()
    for c in completes:
        m = re.search(r"(?:->|\.)\s*(\w+)\s*$", c)
        if not m:
            return None
        fields.add(m.group(1))
    return fields.pop() if len(fields) == 1 else None


def _find_site_pairs(toks: list[str], cb: str) -> list[tuple[int, int, list[str], list[str]]]:
    """(start, end, D, P) of each 'D->callback = cb; D->callback_param = P;'
    (either order) in the token list."""
    out = []
    stmt_starts = [0] + [i + 1 for i, t in enumerate(toks) if t in (";", "{", "}")]
    stmts = []
    for a, b in zip(stmt_starts, stmt_starts[1:]):
        if b - a > 0 and toks[b - 1] == ";":
            stmts.append((a, b))
    i = 0
    while i < len(stmts) - 1:
        (a1, b1), (a2, b2) = stmts[i], stmts[i + 1]
        if b1 != a2:
            i += 1
            continue
        s1, s2 = toks[a1:b1], toks[a2:b2]
        got = None
        for first, second in ((s1, s2), (s2, s1)):
            d1 = _lhs(first, "callback")
            d2 = _lhs(second, "callback_param")
            if d1 is not None and d1 == d2 and first[len(d1) + 3:-1] == [cb]:
                got = (a1, b2, d1, second[len(d2) + 3:-1])
        if got:
            out.append(got)
            i += 2
        else:
            i += 1
    return out


def _lhs(stmt: list[str], fld: str) -> list[str] | None:
    for j in range(len(stmt) - 3):
        if stmt[j] == "->" and stmt[j + 1] == fld and stmt[j + 2] == "=":
            return stmt[:j]
    return None


def expected_completion(old: str, new: str, item: Item) -> tuple[list[str] | None, str, bool, list[str]]:
    """The token list the completion rewrite should give, or None + why."""
    ot = tokens(old)
    nt = tokens(new)
    pairs = _find_site_pairs(ot, item.callback)
    if len(pairs) != len(item.sites):
        return None, (f"{len(item.sites)} site(s) of {item.callback} in this file, "
                      f"{len(pairs)} are an adjacent callback/callback_param pair"), False, []
    fld = _completion_field(item.completes)
    direct = not item.completes or all(re.fullmatch(r"\(?\s*(\(\s*struct completion\s*\*\s*\))?"
                                                    r"\s*\w+\s*\)?", c) for c in item.completes)
    want: list[str] = []
    pos = 0
    exprs = []
    for a, b, d, p in pairs:
        p = _strip_cast(p)
        if p and p[0] == "&":
            base = p[1:]
            expr = ["&", *base] if direct else ["&", *base, ".", fld or "?"]
        else:
            expr = list(p) if direct else ["&", *p, "->", fld or "?"]
        if not direct and fld is None:
            return None, "the completed field could not be named from the audit", False, []
        want += ot[pos:a] + ["dmaengine_desc_set_completion", "(", *d, ",", *expr, ")", ";"]
        exprs.append(render(expr))
        pos = b
    want += ot[pos:]
    # The definition and prototypes go only when the new text has no
    # definition left; then they must all go.
    src_new = csource.parse(new)
    deleted = item.callback not in src_new.functions
    if deleted:
        want = _drop_function(want, item.callback)
    elif item.callback not in _drop_function(tokens(new), item.callback):
        return None, (f"{item.callback}() was kept but nothing uses it any more (it would "
                      f"be an unused static function)"), False, []
    return want, "", deleted, exprs


def _drop_function(toks: list[str], name: str) -> list[str]:
    out = []
    i = 0
    while i < len(toks):
        if (toks[i] == "static" and toks[i + 1:i + 4] == ["void", name, "("]):
            j = toks.index(")", i)
            if toks[j + 1] == ";":
                i = j + 2
                continue
            if toks[j + 1] == "{":
                depth = 0
                k = j + 1
                while k < len(toks):
                    depth += toks[k] == "{"
                    depth -= toks[k] == "}"
                    k += 1
                    if depth == 0:
                        break
                i = k
                continue
        out.append(toks[i])
        i += 1
    return out


# -- the flag rewrite -----------------------------------------------------------

def opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes of a -> b, computed on what lies between their
    common prefix and suffix: a rewrite changes a few tokens of a file of
    tens of thousands, and SequenceMatcher on the whole of both (no
    autojunk: every ';' matters) is most of a conversion's time."""
    p = 0
    n = min(len(a), len(b))
    while p < n and a[p] == b[p]:
        p += 1
    q = 0
    while q < n - p and a[len(a) - 1 - q] == b[len(b) - 1 - q]:
        q += 1
    sm = difflib.SequenceMatcher(a=a[p:len(a) - q], b=b[p:len(b) - q], autojunk=False)
    out = [("equal", 0, p, 0, p)] if p else []
    out += [(op, a1 + p, a2 + p, b1 + p, b2 + p) for op, a1, a2, b1, b2 in sm.get_opcodes()
            if a1 != a2 or b1 != b2]
    if q:
        out.append(("equal", len(a) - q, len(a), len(b) - q, len(b)))
    return out


def check_flag(old: str, new: str, item: Item) -> tuple[str, list[tuple[int, int, str]]]:
    """('', edits) when the only change is the flag where it belongs, else
    (why, []).  The edits are (start, end, text) on `old`: spatch decides
    where the flag goes; the text is then changed at exactly that place, so
    the diff is minimal whatever spatch's pretty printer did to the line."""
    flag = FLAG[item.action]
    ospans = [(m.start(), m.end()) for m in _TOKEN.finditer(csource.strip_comments(old))]
    ot, nt = tokens(old), tokens(new)
    edits = []
    for op, a1, a2, b1, b2 in opcodes(ot, nt):
        if op == "equal":
            continue
        old_t, new_t = ot[a1:a2], nt[b1:b2]
        nxt = ot[a2] if a2 < len(ot) else ""
        if op == "insert" and new_t == ["|", flag] and nxt in (")", ";") and a1 > 0:
            end = ospans[a1 - 1][1]
            edits.append((end, end, f" | {flag}"))
        elif op == "replace" and old_t == ["0"] and new_t == [flag] and nxt in (")", ";"):
            edits.append((ospans[a1][0], ospans[a1][1], flag))
        else:
            return f"unexpected change: '{' '.join(old_t)}' -> '{' '.join(new_t)}'", []
    if not edits:
        return "no prep call of this callback's descriptor could be marked", []
    src = csource.parse(new)
    for s in item.sites:
        fn = src.functions.get(s["function"])
        if fn is None or flag not in fn.body:
            return (f"the flags of the descriptor set in {s['function']}() are not visible "
                    f"there (passed in from elsewhere or shared): needs manual conversion"), []
    return "", edits


def apply_edits(old: str, edits: list[tuple[int, int, str]]) -> tuple[str, str]:
    """Apply the flag edits to `old`, wrapping a line only if it got too long."""
    text = old
    touched = set()
    for start, end, rep in sorted(edits, reverse=True):
        text = text[:start] + rep + text[end:]
        touched.add(old.count("\n", 0, start))
    lines = text.split("\n")
    olines = old.split("\n")
    out = []
    for i, ln in enumerate(lines):
        limit = max(MAX_PREFERRED, len(olines[i].expandtabs(8)))
        if i in touched and len(ln.expandtabs(8)) > limit:
            w = _wrap(ln, limit)
            if w is None:
                return old, f"rewritten line is longer than {limit} columns: {ln.strip()}"
            out += w
        else:
            out.append(ln)
    return "\n".join(out), ""


# -- one item -----------------------------------------------------------------------

def apply(text: str, name: str, item: Item) -> tuple[str, Outcome]:
    """Rewrite `text` (the file called `name`) for one callback."""
    if item.action == "completion":
        new = run_spatch(TO_COMPLETION, [f"cb={item.callback}"], text, name)
    else:
        defines = [f"cb={item.callback}"] + (["task"] if item.action == "task" else [])
        new = run_spatch(HARDIRQ_FLAG, defines, text, name)
    if new == text:
        return text, Outcome("unchanged", explain_unapplied(text, item))
    if item.action == "completion":
        want, why, deleted, exprs = expected_completion(text, new, item)
        if want is None:
            return text, Outcome("failed", why)
        if want != tokens(new):
            sm = difflib.SequenceMatcher(a=want, b=tokens(new), autojunk=False)
            bad = next(o for o in sm.get_opcodes() if o[0] != "equal")
            _, a1, a2, b1, b2 = bad
            return text, Outcome("failed", "result differs from the intended change: expected "
                                 f"'{' '.join(want[a1:a2])}', got '{' '.join(tokens(new)[b1:b2])}'")
        tag, fld = completed_member(text, item)
        out = Outcome("converted", deleted=deleted, completions=exprs, struct=tag, field=fld)
    else:
        why, edits = check_flag(text, new, item)
        if why:
            return text, Outcome("failed", why)
        mine, why = apply_edits(text, edits)
        if why:
            return text, Outcome("failed", why)
        if tokens(mine) != tokens(new):
            return text, Outcome("failed", "internal: the flag edit differs from spatch's")
        return mine, Outcome("converted")
    return tidy(text, new), out


def tidy(old: str, new: str) -> str:
    """One blank line between top-level blocks around what was deleted.

    spatch's pretty printer drops or doubles the blank line around a
    deleted function or prototype.  Lines the rewrite did not touch are
    never changed.
    """
    ol, nl = old.split("\n"), new.split("\n")
    sm = difflib.SequenceMatcher(a=ol, b=nl, autojunk=False)
    out: list[str] = []
    skip_blank = False
    for op, a1, a2, b1, b2 in sm.get_opcodes():
        seg = nl[b1:b2]
        if op == "equal":
            if skip_blank and seg and not seg[0].strip():
                seg = seg[1:]
            skip_blank = False
            out += seg
            continue
        gone = ol[a1:a2]
        if not seg and any(re.match(r"static\s+void\s+\w+\s*\(", g) for g in gone) \
                and out and out[-1].rstrip().endswith("*/"):
            # the deleted function's own comment goes with it
            j = len(out) - 1
            while j > 0 and "/*" not in out[j]:
                j -= 1
            if out[j].lstrip().startswith("/*"):
                gone = out[j:] + gone
                del out[j:]
        if gone and not seg and (not gone[0].strip() or not gone[-1].strip()):
            nxt = nl[b2] if b2 < len(nl) else None
            prev_blank = bool(out) and not out[-1].strip()
            next_blank = nxt is not None and not nxt.strip()
            if out and nxt is not None and not prev_blank and not next_blank:
                seg = [""]
            elif prev_blank and next_blank:
                skip_blank = True
        out += seg
    return "\n".join(out)


def _wrap(line: str, limit: int) -> list[str] | None:
    """'<indent>... A | B | FLAG);' -> '... A | B |' + 'FLAG);' aligned with
    the open parenthesis of the call (or the start of an assignment's
    right-hand side), as checkpatch --strict wants."""
    for flag in FLAG.values():
        cut = line.rfind(f" | {flag}")
        if cut < 0:
            continue
        depth = 0
        start = 0
        for i in range(cut - 1, -1, -1):
            ch = line[i]
            if ch in ")]":
                depth += 1
            elif ch in "([":
                if depth == 0:
                    start = i + 1
                    break
                depth -= 1
            elif depth == 0 and ch == "=" and line[i - 1:i] not in "=!<>" \
                    and line[i + 1:i + 2] != "=":
                start = i + 1
                break
        while start < cut and line[start] in " \t":
            start += 1
        col = len(line[:start].expandtabs(8))
        head = line[:cut] + " |"
        tail = "\t" * (col // 8) + " " * (col % 8) + line[cut + 3:]
        if len(head.expandtabs(8)) <= limit and len(tail.expandtabs(8)) <= MAX_COLUMNS:
            return [head, tail]
    # a literal 0 replaced by the flag: the flag becomes the next line's
    # argument, aligned with the open parenthesis
    for flag in FLAG.values():
        cut = line.rfind(f", {flag}")
        if cut < 0:
            continue
        depth = 0
        start = len(line) - len(line.lstrip())     # a continuation line
        for i in range(cut - 1, -1, -1):
            if line[i] == ")":
                depth += 1
            elif line[i] == "(":
                if depth == 0:
                    start = i + 1
                    break
                depth -= 1
        col = len(line[:start].expandtabs(8))
        head = line[:cut + 1]
        tail = "\t" * (col // 8) + " " * (col % 8) + line[cut + 2:]
        if len(head.expandtabs(8)) <= limit and len(tail.expandtabs(8)) <= MAX_COLUMNS:
            return [head, tail]
    return None


# -- why a rewrite did not apply ---------------------------------------------------

def explain_unapplied(text: str, item: Item) -> str:
    """A reviewer's reason for 'the semantic patch changed nothing'."""
    for s in item.sites:
        if s.get("rhs") and s["rhs"] != item.callback:
            return (f"{item.callback} is assigned through '{s['rhs']}' in {s['function']}(); "
                    f"the semantic patch rewrites only 'D->{s['field']} = "
                    f"{item.callback};': needs manual conversion")
    if item.action == "completion":
        pairs = _find_site_pairs(tokens(text), item.callback)
        if len(pairs) != len(item.sites):
            return ("->callback and ->callback_param are not set in adjacent statements "
                    "at every site: needs manual conversion")
        what = ", ".join(item.completes) or "?"
        return (f"the callback completes {what}: not one of the forms the semantic patch "
                f"rewrites (complete(&p->field) via a local or a cast, complete(p)); "
                f"needs manual conversion")
    src = csource.parse(text)
    for s in item.sites:
        fn = src.functions.get(s["function"])
        if fn is None:
            return (f"{item.callback} is passed to {s['function']}(), defined in another "
                    f"file, which sets the descriptor's callback from its parameter: the "
                    f"flag belongs to that function's caller-provided flags; needs manual "
                    f"conversion")
        line = text.split("\n")[s["line"] - 1]
        m = re.search(r"([\w.\->\[\]]+?)\s*->\s*callback(?:_result)?\s*=", line)
        d = m.group(1) if m else None
        if d is None:
            continue
        assign = re.search(re.escape(d) + r"\s*=\s*([\w.\->]+)\s*\(", fn.body)
        if not assign:
            return (f"the descriptor {d} is not produced by a call in {s['function']}() "
                    f"(another variable or function): flags not visible, needs manual "
                    f"conversion")
        callee = assign.group(1)
        if "device_prep_" in callee:
            return (f"the descriptor comes from the provider operation {callee}() called "
                    f"directly, not a dmaengine_prep_*() wrapper: needs manual conversion")
        if not callee.startswith("dmaengine_prep_"):
            return (f"the descriptor comes from {callee}(), not a dmaengine_prep_*() call "
                    f"in {s['function']}(): flags not visible, needs manual conversion")
    return ("the flags argument could not be rewritten (shared by several prep calls, or "
            "set outside the function): needs manual conversion")
