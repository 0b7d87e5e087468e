# SPDX-License-Identifier: GPL-2.0
"""chan_notify: a provider's own tasklet that only delivers callbacks goes
onto the core's per-channel notification path (helper API v2,
dmaengine_chan_notify_*(); the seed's step 3: "providers need no tasklet
of their own").

The tasklet's function keeps its body and its context: the core's path
runs it in softirq context, never concurrently with itself (a BH work item,
or a tasklet of the core's on a tree without BH workqueues), and
dmaengine_synchronize() now waits for it too.  cocci/
tasklet_to_chan_notify.cocci makes the change; plan_texts() computes from the
text, independently, which lines must change and how, and only a result
equal to it token for token (rewrite.tokens(), as for the clients) is
committed.  Left for a person, with the
reason:

  - a tasklet the providers audit found doing more than delivering
    (starting the next transfer, recovering from errors: kind mixed or
    not-callback), or one it could not read;
  - a tasklet not embedded in a struct with exactly one struct dma_chan
    member (one tasklet for all of a device's channels: the path is per
    channel);
  - any use of the tasklet member other than tasklet_setup(),
    tasklet_schedule(), tasklet_hi_schedule(), tasklet_kill() and the
    function's from_tasklet() (tasklet_disable(), a pointer handed on...);
  - a function that is called directly, uses its tasklet argument for
    anything else, or does not start with the from_tasklet() declaration.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from . import csource, rewrite

SCRIPT = rewrite.COCCI / "tasklet_to_chan_notify.cocci"
NEW = "notify"                   # the member's new name

_SETUP = re.compile(r"\btasklet_setup\s*\(\s*&\s*(\w+)\s*->\s*(\w+)\s*,\s*(\w+)\s*\)\s*;")


@dataclass
class Plan:
    provider: str
    name: str
    files: list[str]
    function: str
    at: str                      # file:line of the set-up
    reason: str = ""             # not attempted: why


def candidates(res) -> list[Plan]:
    """A plan per tasklet of a provider that is not a virt-dma deliverer,
    from the providers audit (res: providers.audit()); a reason for every
    one that is not delivery-only."""
    out = []
    for pid, p in sorted(res.providers.items()):
        files = [f["file"] for f in p.get("files", [])] or [pid]
        for t in p.get("tasklets", ()):
            if not t["registered_at"].startswith("drivers/dma/"):
                continue
            pl = Plan(pid, p["name"], files, t["function"], t["registered_at"])
            if t["kind"] != "delivery-only":
                pl.reason = (f"{t['function']}() is {t['kind']} "
                             f"({', '.join(t['roles']) or 'no role found'}): only a tasklet "
                             f"that just delivers moves onto the core's path as it is")
            elif t.get("detail") == "replaces the vchan tasklet":
                pl.reason = (f"{t['function']}() stands in for virt-dma's tasklet, which the "
                             f"API series replaces")
            elif not t.get("parsed", True):
                pl.reason = f"the providers audit could not parse {t['function']}()"
            elif t["registered"] != "tasklet_setup()":
                pl.reason = (f"set up with {t['registered']}: only tasklet_setup() "
                             f"(a struct tasklet_struct * argument) is rewritten")
            out.append(pl)
    return out


_INCLUDE = re.compile(r'^#include\s+"([\w./-]+\.h)"', re.M)


def with_headers(tree: Path, files: list[str]) -> list[str]:
    """The provider's files and the headers of its directory they include
    ("fsldma.h", "adma.h": where the channel struct is)."""
    out = list(files)
    for f in files:
        try:
            text = (tree / f).read_text(errors="replace")
        except OSError:
            continue
        for h in _INCLUDE.findall(text):
            q = (tree / Path(f).parent / h).resolve()
            try:
                rel = q.relative_to(tree.resolve()).as_posix()
            except ValueError:
                continue
            if q.is_file() and rel.startswith("drivers/dma/") and \
                    rel != "drivers/dma/dmaengine.h" and rel not in out:
                out.append(rel)
    return out


def _body(text: str, fn: str) -> tuple[int, int] | None:
    """(start, end) of fn's definition: the declarator to the closing brace."""
    span = csource.function_span(text, fn)
    return (span[0], span[2]) if span else None


def _struct(text: str, member: str) -> tuple[str, int, int] | None:
    """(name, start, end) of the struct definition with a struct
    tasklet_struct member of that name."""
    for m in re.finditer(r"^struct\s+(\w+)\s*\{", text, re.M):
        i, depth = m.end(), 1
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if re.search(r"\bstruct\s+tasklet_struct\s+" + re.escape(member) + r"\s*;",
                     text[m.end():i]):
            return m.group(1), m.start(), i
    return None


_CORE_H = re.compile(r'^#include\s+"(?:\.\./)*(?:dmaengine|virt-dma)\.h"', re.M)


def _includes_core_first(text: str, before: int) -> bool:
    """Does the text include drivers/dma's dmaengine.h (itself or through
    virt-dma.h) before offset `before`?  struct dmaengine_chan_notify is
    defined there."""
    m = _CORE_H.search(text)
    return bool(m) and m.start() < before


def includers(texts: dict[str, str], header: str) -> dict[str, int]:
    """.c file -> offset of its #include of the header, among the texts."""
    out = {}
    for f, t in texts.items():
        if not f.endswith(".c"):
            continue
        for m in re.finditer(r'^#include\s+"([\w./-]+)"', t, re.M):
            if posixpath.normpath(posixpath.join(posixpath.dirname(f), m.group(1))) == header:
                out[f] = m.start()
    return out


def plan_texts(texts: dict[str, str], pl: Plan, others: dict[str, str] | None = None
               ) -> tuple[dict[str, str] | None, list[str], str]:
    """(the intended text per file, the spatch defines, '') or (None, [], why
    not): the change the tasklet needs, computed from the text.  others:
    the texts of other drivers/dma files that may include a header of the
    provider (the struct's new member must be defined wherever it is seen)."""
    sf = pl.at.rsplit(":", 1)[0]
    if sf not in texts:
        return None, [], f"{sf} is not among the provider's files"
    # comments and literals blanked, offsets kept (#include lines are read
    # from the texts themselves)
    code = {f: csource.strip_comments(t) for f, t in texts.items()}
    ms = [m for m in _SETUP.finditer(code[sf]) if m.group(3) == pl.function]
    if not ms:
        return None, [], (f"no tasklet_setup(&E->member, {pl.function}) dmacb can read at "
                          f"{pl.at}")
    members = {m.group(2) for m in ms}
    if len(members) != 1:
        return None, [], f"{pl.function}() is set up on several members"
    member = members.pop()
    found = [(f, s) for f in sorted(texts) for s in [_struct(code[f], member)] if s]
    if len(found) != 1:
        return None, [], (f"{'no' if not found else 'more than one'} struct with a tasklet "
                          f"member '{member}' in {', '.join(sorted(texts))}")
    hf, (sname, a, b) = found[0]
    sbody = code[hf][a:b]
    chans = re.findall(r"\bstruct\s+dma_chan\s+(\w+)\s*;", sbody)
    if len(chans) != 1:
        return None, [], (f"struct {sname}, which holds the tasklet, has "
                          f"{'no' if not chans else len(chans)} struct dma_chan member"
                          f"{'s' if len(chans) > 1 else ''}: the core's path belongs to one "
                          f"channel")
    chan = chans[0]
    if hf.endswith(".h"):
        seen = includers({**(others or {}), **texts}, hf)
        late = sorted(f for f, at in seen.items()
                      if not _includes_core_first({**(others or {}), **texts}[f], at))
        if late or not seen:
            return None, [], (f"struct {sname} is in {hf}, which "
                              + (f"{', '.join(late)} include{'s' if len(late) == 1 else ''} "
                                 f"before drivers/dma's dmaengine.h" if late else
                                 "no file of the provider includes")
                              + ": struct dmaengine_chan_notify would not be defined there")
    elif not _includes_core_first(texts[hf], a):
        return None, [], (f"{hf} does not include drivers/dma's dmaengine.h before struct "
                          f"{sname}: struct dmaengine_chan_notify would not be defined there")
    if re.search(r"\b" + NEW + r"\b", sbody):
        return None, [], f"struct {sname} already has a member named '{NEW}'"
    # every use of the member is one the script rewrites
    span = _body(code[sf], pl.function)
    if span is None:
        return None, [], f"{pl.function}() is not defined in {sf}"
    fa, fb = span
    head = re.match(r"[^(]*\(\s*struct\s+tasklet_struct\s*\*\s*(\w+)\s*\)\s*\{\s*"
                    r"struct\s+" + sname + r"\s*\*\s*(\w+)\s*=\s*from_tasklet\s*\(\s*(\w+)\s*,"
                    r"\s*(\w+)\s*,\s*" + member + r"\s*\)\s*;", code[sf][fa:fb])
    if not head or head.group(2) != head.group(3):
        return None, [], (f"{pl.function}() does not start with 'struct {sname} *v = "
                          f"from_tasklet(v, t, {member});'")
    targ = head.group(1)
    if head.group(4) != targ or len(re.findall(r"\b" + targ + r"\b", code[sf][fa:fb])) != 2:
        return None, [], f"{pl.function}() uses its tasklet argument '{targ}' for more"
    clash = sorted({w for w in ("notify", "task")
                    if re.search(r"\b" + w + r"\b", code[sf][head.end() + fa:fb])})
    if clash:
        return None, [], (f"{pl.function}() already uses the name{'s' if len(clash) > 1 else ''} "
                          f"{' and '.join(clash)}, which the new parameters take")
    name_end = code[sf].index("(", fa)
    refs = [m for m in re.finditer(r"\b" + pl.function + r"\b", code[sf])
            if not fa <= m.start() < name_end]
    if len(refs) != len(ms):
        return None, [], f"{pl.function}() is used elsewhere than in its tasklet_setup()"
    for f in sorted(texts):
        for m in re.finditer(r"(->|\.)\s*" + member + r"\b", code[f]):
            lo = code[f].rfind("\n", 0, m.start()) + 1
            ln = code[f][lo:code[f].find("\n", m.end())]
            if f == hf and a <= m.start() < b:
                continue
            if not re.search(r"\btasklet_(setup|schedule|hi_schedule|kill)\s*\(\s*&", ln):
                n = code[f].count("\n", 0, m.start()) + 1
                return None, [], (f"{f}:{n} uses the tasklet otherwise ({ln.strip()}): "
                                  f"a person moves it")
    # the intended text
    out = {}
    for f, t in texts.items():
        new = t
        if f == hf:
            new = new[:a] + re.sub(r"\bstruct\s+tasklet_struct(\s+)" + member + r"\s*;",
                                   "struct dmaengine_chan_notify " + NEW + ";",
                                   new[a:b], count=1) + new[b:]
        new = re.sub(r"\btasklet_setup\s*\(\s*&\s*(\w+)\s*->\s*" + member + r"\s*,\s*" +
                     pl.function + r"\s*\)",
                     lambda m: (f"dmaengine_chan_notify_init(&{m.group(1)}->{chan}, "
                                f"&{m.group(1)}->{NEW}, {pl.function})"), new)
        new = re.sub(r"\btasklet_(schedule|hi_schedule|kill)\s*\(\s*&\s*([^;]+?)\s*->\s*"
                     + member + r"\s*\)",
                     lambda m: (f"dmaengine_chan_notify_"
                                f"{'sync' if m.group(1) == 'kill' else 'schedule'}"
                                f"(&{m.group(2)}->{NEW})"), new)
        if f == sf:
            new = re.sub(r"\b(" + pl.function + r")\s*\(\s*struct\s+tasklet_struct\s*\*\s*"
                         + targ + r"\s*\)",
                         r"\1(struct dmaengine_chan_notify *notify, bool task)", new, count=1)
            new = re.sub(r"from_tasklet\s*\(\s*(\w+)\s*,\s*" + targ + r"\s*,\s*" + member +
                         r"\s*\)", f"container_of(notify, struct {sname}, {NEW})", new,
                         count=1)
        out[f] = new
    defines = [f"fn={pl.function}", f"member={member}", f"sname={sname}", f"chan={chan}"]
    return out, defines, ""


def uses(texts: dict[str, str], member: str) -> set[str]:
    """The tasklet calls made on the member (for the commit message)."""
    return {m.group(1) for t in texts.values() for m in re.finditer(
        r"\b(tasklet_(?:schedule|hi_schedule|kill))\s*\(\s*&[^;]*?->\s*" + member + r"\s*\)",
        csource.strip_comments(t))}


def kerneldoc(text: str, sname: str, member: str) -> str:
    """The struct's kernel-doc of the member, renamed (its old text
    described a tasklet); only in the comment right before the struct."""
    m = re.search(r"^struct\s+" + sname + r"\s*\{", text, re.M)
    c = text.rfind("/**", 0, m.start()) if m else -1
    if c < 0 or not re.fullmatch(r"/\*\*.*?\*/\s*", text[c:m.start()], re.S):
        return text
    doc = re.sub(r"^(\s*\*\s*)@" + member + r":([ \t]*)[^\n]*(\n\s*\*\s+(?!@)[^\n]*\S[^\n]*)*",
                 r"\1@" + NEW + r":\2notification path that delivers the callbacks", text[c:m.start()], flags=re.M)
    return text[:c] + doc + text[m.start():]


def fn_kerneldoc(text: str, fn: str, targ: str) -> str:
    """The function's kernel-doc: its tasklet parameter's line becomes the
    two new parameters' (W=1 checks kernel-doc against the prototype)."""
    m = re.search(r"^[^\n;#]*\b" + re.escape(fn) + r"\s*\(", text, re.M)
    c = text.rfind("/**", 0, m.start()) if m else -1
    if c < 0 or not re.fullmatch(r"/\*\*.*?\*/\s*", text[c:m.start()], re.S):
        return text
    doc = re.sub(r"^(\s*\*\s*)@" + targ + r":([ \t]*)[^\n]*(\n\s*\*\s+(?!@)[^\n]*\S[^\n]*)*",
                 r"\1@notify:\2the channel's notification path\n"
                 r"\1@task:\2true when run in task context, which this driver never asks for",
                 text[c:m.start()], flags=re.M)
    return text[:c] + doc + text[m.start():]


_PARAMS = re.compile(r"^(\w[^\n(]*\b\w+\()struct dmaengine_chan_notify \*notify,\n"
                     r"[ \t]*bool task\)", re.M)
_CONTAINER = re.compile(r"^([ \t]+struct \w+ \*\w+ = container_of\()(notify,[^;]*)\);", re.M)
_MEMBER = re.compile(r"^([ \t]*)struct tasklet_struct([ \t]+)(\w+);", re.M)


def _fill(head: str, args: list[str], tail: str) -> str:
    """head + args + tail, filled to 80 columns, continuation lines aligned
    with the open parenthesis (the kernel's style)."""
    col = len(head.expandtabs(8))
    pad = "\t" * (col // 8) + " " * (col % 8)
    lines, cur = [], head
    for i, a in enumerate(args):
        piece = a + (", " if i < len(args) - 1 else tail)
        if cur.strip() and cur != head and len((cur + piece).rstrip().expandtabs(8)) > 80:
            lines.append(cur.rstrip())
            cur = pad
        cur += piece
    return "\n".join(lines + [cur])


def tidy(text: str, base: str) -> str:
    """Layout spatch does not keep: the parameter list and container_of()
    it breaks at every argument are filled to 80 columns, and the new
    member keeps the column the old one was aligned to."""
    def params(m: re.Match) -> str:
        return _fill(m.group(1), ["struct dmaengine_chan_notify *notify", "bool task"], ")")

    def container(m: re.Match) -> str:
        args = [a.strip() for a in m.group(2).split(",")]
        return _fill(m.group(1), args, ");")
    text = _PARAMS.sub(params, text)
    text = _CONTAINER.sub(container, text)
    old = {m.group(3): m for m in _MEMBER.finditer(base)}
    for m in old.values():
        ws = m.group(2)
        if "\t" not in ws:
            continue
        want = len((m.group(1) + "struct tasklet_struct" + ws).expandtabs(8))
        new = m.group(1) + "struct dmaengine_chan_notify"
        have = len(new.expandtabs(8))
        if have < want:
            tabs = (want - (have - have % 8)) // 8
            text = text.replace(new + " " + NEW + ";", new + "\t" * max(1, tabs) + NEW + ";", 1)
    return text


def rewrite_provider(base_text: dict[str, str], pl: Plan, others: dict[str, str] | None = None
                     ) -> tuple[dict[str, str], list[str], str]:
    """(new text per changed file, the script's defines, '') or ({}, [], why
    not); others as for plan_texts()."""
    if pl.reason:
        return {}, [], pl.reason
    want, defines, why = plan_texts(base_text, pl, others)
    if want is None:
        return {}, [], why
    fn, member, sname = (d.split("=", 1)[1] for d in defines[0:3])
    targ = re.search(r"\b" + re.escape(fn) + r"\s*\(\s*struct\s+tasklet_struct\s*\*\s*(\w+)",
                     base_text[pl.at.rsplit(":", 1)[0]]).group(1)
    changed = {}
    for f, t in base_text.items():
        try:
            got = rewrite.run_spatch(SCRIPT, defines, t, Path(f).name)
        except Exception as e:      # noqa: BLE001 - spatch's own message is the reason
            return {}, [], f"spatch: {e}"
        if rewrite.tokens(got) != rewrite.tokens(want[f]):
            return {}, [], (f"the semantic patch's change to {f} is not the intended one "
                            f"({pl.function}() onto the core's notification path)")
        got = tidy(fn_kerneldoc(kerneldoc(got, sname, member), fn, targ), t)
        if got != t:
            changed[f] = got
    return changed, defines, ""
