# SPDX-License-Identifier: GPL-2.0
"""vchan_notify: the provider side of convert, first step (issue 15).

A virt-dma provider that completes descriptors from its hard IRQ handler
gets vchan_notify_irq() (helper API v2) as the last step of that handler,
after it dropped the channel's vc.lock: completions and the callbacks
clients flagged with DMA_PREP_HARDIRQ_CALLBACK are then delivered from the
handler with no lock held, everything else stays on the core's deferred
path.  cocci/vchan_notify_irq.cocci makes the change; intent() computes
independently, from the text, what the change must be, and only an exact
match is committed (as rewrite.py does for clients).  What intent() cannot
prove mechanical is left for a person, with the reason:

  - the provider calls callbacks itself somewhere (the providers audit's
    deliver sites), or is not a virt-dma provider completing from hard IRQ;
  - the handler takes a lock other than a virtual channel's (the delivery
    could run under it), or is called from elsewhere in the driver (it may
    then run with a lock held);
  - a vc.lock unlock in the handler is not followed by the handler's
    return (inside a loop over channels, or before the interrupt is
    acknowledged): vchan_notify_irq() must be the last step;
  - the provider sets virt-dma's desc_result hook (k3-udma) and the hardirq
    contract does not hold for it: virt-dma calls the hook just before each
    notification, so vchan_notify_irq() runs it in hard IRQ too.  The hook
    and what it reaches are judged with the audit's rules (hook_problems());
    verify's C checker judges them again (verify.plan_rows()).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import csource, rewrite

SCRIPT = rewrite.COCCI / "vchan_notify_irq.cocci"

_VC_MEMBER = re.compile(r"\bstruct\s+virt_dma_chan\s+(\w+)\s*;")
_LOCK_CALL = re.compile(r"\b((?:raw_)?(?:spin|read|write)_(?:lock|trylock)(?:_irqsave|_irq|_bh)?"
                        r"|mutex_(?:lock|trylock)\w*)\s*\(\s*([^,;]+?)\s*[,)]")
_UNLOCK_LINE = re.compile(r"^([ \t]*)spin_unlock(?:_irqrestore)?\(&(\S+?)\.lock(?:, \w+)?\);[ \t]*$")
_NOTIFY = "vchan_notify_irq"
# virt-dma's per-channel hook (helper API v2, patch 0006): vc.desc_result = fn;
_HOOK = re.compile(r"\bdesc_result\s*=\s*(\w+)\s*;")


@dataclass
class Plan:
    provider: str
    name: str
    files: list[str]
    handlers: list[tuple[str, str]] = field(default_factory=list)   # (file, handler)
    reason: str = ""            # not attempted: why


def candidates(res, removed=lambda pid: False) -> list[Plan]:
    """One plan per virt-dma provider of the providers audit (res:
    providers.audit()) that completes from a hard IRQ handler.  removed(pid):
    whether the helper-API series deletes the provider's own calls of
    client callbacks (delivery.Delivery.own_delivery_removed)."""
    out = []
    for pid, p in sorted(res.providers.items()):
        d = p["delivery"]
        if not p.get("uses_virt_dma") or d["method"] != "virt-dma" or \
                "hardirq" not in d["completes_from"]:
            continue
        files = [f["file"] for f in p.get("files", [])] or [pid]
        pl = Plan(pid, p["name"], files)
        if d.get("deliver_sites") and not removed(pid):
            fns = sorted({f"{s['function']}()" for s in d["deliver_sites"]})
            pl.reason = (f"calls callbacks itself in {', '.join(fns)}, outside the core's "
                         f"path: a person must move that delivery first")
        hs = sorted({c["function"] for s in d["complete_sites"] for c in s["contexts"]
                     if c["context"] == "hardirq"})
        pl.handlers = [(None, h) for h in hs]        # file found by intent()
        out.append(pl)
    return out


def _body(text: str, fn: str) -> tuple[int, int] | None:
    """(start, end) offsets of the body of fn's definition, braces included."""
    span = csource.function_span(text, fn)
    return span[1:] if span else None


def _next_line(lines: list[str], i: int) -> str:
    for ln in lines[i + 1:]:
        s = ln.strip()
        if s and not s.startswith(("/*", "*", "//")):
            return s
    return ""


def intent(text: str, handler: str, members: set[str]) -> tuple[str | None, str]:
    """(the text with vchan_notify_irq() where it must go, '') or (None,
    why not).  members: the names of struct virt_dma_chan members in the
    provider's files."""
    span = _body(text, handler)
    if span is None:
        return None, f"{handler}() is not defined in this file"
    a, b = span
    body = text[a:b]
    # a reference followed by '(' is a call unless its line declares it
    calls = [m for m in re.finditer(r"\b" + re.escape(handler) + r"\s*\(", text)
             if not re.fullmatch(r"\s*(?:static\s+)?(?:inline\s+)?irqreturn_t\s*",
                                 text[text.rfind("\n", 0, m.start()) + 1:m.start()])]
    if calls:
        line = text.count("\n", 0, calls[0].start()) + 1
        return None, (f"{handler}() is also called directly (line {line}): it may then "
                      f"run with a lock held")

    def is_vc(expr: str) -> bool:
        last = re.split(r"->|\.", expr.strip().lstrip("&").strip())[-1]
        return last in members

    for m in _LOCK_CALL.finditer(body):
        arg = m.group(2).strip()
        if m.group(1).startswith("mutex") or not (arg.startswith("&") and
                                                  arg.endswith(".lock") and
                                                  is_vc(arg[:-len(".lock")])):
            line = text.count("\n", 0, a + m.start()) + 1
            return None, (f"{handler}() also takes {arg} ({m.group(1)}(), line {line}): "
                          f"a delivery after the channel's unlock could run under it")
    first = text.count("\n", 0, a)
    lines = body.split("\n")
    new = text.split("\n")
    inserts = []
    for i, ln in enumerate(lines):
        m = _UNLOCK_LINE.match(ln)
        if not m or not is_vc(m.group(2)):
            if re.search(r"\bspin_unlock\w*\s*\(", ln) and ".lock" in ln:
                return None, (f"{handler}() line {first + i + 1}: an unlock dmacb cannot "
                              f"read as a virtual channel's ({ln.strip()})")
            continue
        nxt = _next_line(lines, i)
        if nxt.startswith(_NOTIFY):
            continue
        if not nxt.startswith("return"):
            return None, (f"{handler}() drops {m.group(2)}.lock at line {first + i + 1} and "
                          f"goes on ({nxt or 'end of block'}): vchan_notify_irq() must be "
                          f"the handler's last step, after its final unlock")
        inserts.append((first + i, f"{m.group(1)}{_NOTIFY}(&{m.group(2)});"))
    if not inserts and _NOTIFY not in body:
        return None, f"{handler}() drops no virtual channel lock itself"
    for at, ins in reversed(inserts):
        new.insert(at + 1, ins)
    return "\n".join(new), ""


def members_of(tree: Path, files: list[str]) -> set[str]:
    """struct virt_dma_chan member names in the provider's files and the
    headers next to them."""
    names: set[str] = set()
    for f in files:
        p = tree / f
        for q in [p, *sorted(p.parent.glob("*.h"))]:
            try:
                names |= set(_VC_MEMBER.findall(q.read_text(errors="replace")))
            except OSError:
                pass
    return names


def rewrite_provider(base_text: dict[str, str], tree: Path, pl: Plan
                     ) -> tuple[dict[str, str], list[tuple[str, str]], str]:
    """(new text per changed file, handlers done, '') or ({}, [], why not)."""
    if pl.reason:
        return {}, [], pl.reason
    members = members_of(tree, pl.files)
    if not members:
        return {}, [], "no struct virt_dma_chan member found in its files"
    texts = dict(base_text)
    done = []
    for _, h in pl.handlers:
        f = next((f for f in pl.files if _body(texts[f], h)), None)
        if f is None:
            return {}, [], f"{h}() is not defined in {', '.join(pl.files)}"
        want, why = intent(texts[f], h, members)
        if want is None:
            return {}, [], why
        try:
            got = rewrite.run_spatch(SCRIPT, [f"handler={h}"], texts[f], Path(f).name)
        except Exception as e:      # noqa: BLE001 - spatch's own message is the reason
            return {}, [], f"spatch: {e}"
        if got != want:
            return {}, [], (f"the semantic patch's change to {h}() is not the intended one "
                            f"(vchan_notify_irq() after each final vc.lock unlock)")
        texts[f] = got
        done.append((f, h))
    changed = {f: t for f, t in texts.items() if t != base_text[f]}
    return changed, done, ""


def hooks(texts: dict[str, str]) -> list[tuple[str, str]]:
    """(file, function) of each desc_result hook the provider's files set."""
    return sorted({(f, fn) for f, t in texts.items()
                   for fn in _HOOK.findall(csource.strip_comments(t))})


def hook_problems(k, jobs: int, show, file: str, fn: str) -> str:
    """'' when virt-dma's desc_result hook fn() of `file` may run in hard IRQ
    with no lock held (what vchan_notify_irq() makes of it), else why not.

    Judged with the audit's contract rules (verdict.Judge.findings()) on the
    facts of the base tree; show(path) -> the file's text at the helper-API
    series' tip: a function the hook reaches must be the same there, or the
    judgement would be of other code."""
    from . import vocab
    from .verdict import Judge
    what = f"virt-dma calls its desc_result hook {fn}() before each notification"
    judge, facts = Judge.for_files(k, [file], jobs)
    ff = facts.get(file)
    if ff is None or fn not in ff.functions:
        return f"{what}, and dmacb cannot find {fn}() in {file} to judge it"
    if ff.timeout or ff.spatch_failed:
        return f"{what}, and spatch could not parse {file} to judge it"
    ctx, found = judge.findings(file, fn, locked_delivery=False)
    bad = [x for x in found if x.reason not in vocab.INFO_REASONS]
    if bad:
        return (f"{what}; vchan_notify_irq() would run it in hard IRQ, where the hardirq "
                f"contract does not hold for it: " +
                ", ".join(f"{x.reason} ({x.call}, {x.file}:{x.line})" for x in bad[:3]))
    texts: dict[str, tuple[str, str]] = {}      # file -> (base text, text at the tip)
    for nf, nfn in ctx.reach.order:
        if nf not in texts:
            try:
                before = (k.path / nf).read_text(errors="replace")
            except OSError:
                before = ""
            texts[nf] = (before, show(nf))
        before, after = texts[nf]
        a, b = csource.function_span(before, nfn), csource.function_span(after, nfn)
        if a is None or b is None or before[a[0]:a[2]] != after[b[0]:b[2]]:
            return (f"{what}, and the helper-API series changes {nfn}(), which it runs: "
                    f"dmacb judged the tree without the series, so a person must judge it")
    return ""
