# SPDX-License-Identifier: GPL-2.0
"""Every tasklet a provider sets up (tasklet_setup(), tasklet_init(),
DECLARE_TASKLET*()), and what it does.

Roles (vocab.TASKLET_ROLES), from the functions the tasklet function
reaches in the provider (each with the chain to the call that decided):
- callback-delivery: a dmaengine helper delivers (or the callback is
  called by hand), or it is the provider's replacement of the vchan
  tasklet;
- completion: descriptors are completed there (dma_cookie_complete(),
  vchan_cookie_complete(): virt-dma then delivers from its own tasklet);
- descriptor-cleanup: descriptors are freed, unmapped, acked or their
  dependencies run (kapi.CLEANUP_CALLS);
- starts-next-transfer: it reaches a function that writes a device
  register and that device_issue_pending also reaches, or whose name says
  it starts a transfer (start, issue, xfer, kick, next, ...: k3dma's
  scheduling tasklet calls k3_dma_start_txd());
- error-recovery: the tasklet, or a function it calls directly, is named
  for an error, reset, abort, fault or timeout and writes a register
  (xilinx_dpdma_chan_err_task), or the tasklet writes registers and its
  body names such a thing (pl330_dotask: dmac_tbd.reset_chan).

Kind (vocab.TASKLET_KINDS): delivery-only (delivery, with completion or
cleanup at most), mixed (delivery and starting the next transfer or
error recovery), not-callback (no delivery: seed step 2's tasklets to a
threaded IRQ or a workqueue).
"""

from __future__ import annotations

import re

from . import kapi
from .delivery import direct_calls
from .graph import Fn, Program, chain_json

_ERR = re.compile(r"(^|_)(err\w*|reset|abort|fault|timeout|recover\w*)(_|$)", re.I)
# in the tasklet's body: a name of several words with one of them (a bare
# 'err' or 'ret' is a return code, not error handling)
_ERR_WORD = re.compile(r"\b[A-Za-z]\w*_\w+\b")
_START = re.compile(r"start|issue|xfer|launch|kick|exec|next|trigger|resume|program", re.I)


def _writes(prog: Program, memo: dict, fn: Fn) -> bool:
    """Does fn (transitively, in the provider) write a device register?"""
    if fn.key in memo:
        return memo[fn.key]
    memo[fn.key] = False
    macros = prog.texts[fn.file].src.macros
    got = False
    for callee, _ in fn.calls:
        if callee in kapi.MMIO_WRITES or (callee in macros and any(
                w in macros[callee] for w in kapi.MMIO_WRITES)):
            got = True
            break
    if not got:
        got = any(_writes(prog, memo, e.callee) for e in prog.edges_out.get(fn.key, ()))
    memo[fn.key] = got
    return got


def analyse(prog: Program) -> list[dict]:
    issue = set()
    for rs in prog.roots.values():
        for r in rs:
            if r.kind == "client-call" and r.detail == "device_issue_pending":
                issue |= set(prog.reach(r.fn))
    direct = {fn.key for fn, _, _ in direct_calls(prog)}
    writes_memo: dict = {}
    out = []
    for key, rs in sorted(prog.roots.items()):
        for r in rs:
            if r.kind != "tasklet":
                continue
            t = r.fn
            reached = prog.reach(t)
            roles: dict[str, str] = {}

            def found(role: str, fkey, call: str, line: int) -> None:
                if role in roles:
                    return
                f = prog.fns[fkey]
                chain = chain_json(reached[fkey])
                roles[role] = "; ".join(chain + [f"{f.file}:{line} {f.name}() calls {call}()"])

            if r.detail == "replaces the vchan tasklet":
                roles["callback-delivery"] = f"{r.detail} ({r.file}:{r.line})"
            for fkey in reached:
                f = prog.fns[fkey]
                invokes = any(c in kapi.HELPER_INVOKE for c, _ in f.calls)
                for callee, line in f.calls:
                    # dmaengine_desc_get_callback() alone only reads it (bam_dma
                    # decides an interrupt flag with it)
                    if callee in kapi.HELPER_INVOKE or (callee in kapi.HELPER_GET and invokes):
                        found("callback-delivery", fkey, callee, line)
                    elif callee in kapi.VCHAN_COMPLETE or callee in kapi.COOKIE_COMPLETE:
                        found("completion", fkey, callee, line)
                    elif callee in kapi.CLEANUP_CALLS:
                        found("descriptor-cleanup", fkey, callee, line)
                if fkey in direct and "callback-delivery" not in roles:
                    roles["callback-delivery"] = f"{f.file}:{f.line} {f.name}() calls the " \
                                                 f"callback by hand"
            for fkey in reached:
                if fkey == t.key:
                    continue
                f = prog.fns[fkey]
                why = "also reached from device_issue_pending" if fkey in issue else \
                    ("named for starting a transfer" if _START.search(f.name) else "")
                if why and _writes(prog, writes_memo, f):
                    chain = chain_json(reached[fkey])
                    roles["starts-next-transfer"] = "; ".join(chain) + \
                        f" ({f.name}() is {why} and writes registers)"
                    break
            cands = [t] + [e.callee for e in prog.edges_out.get(t.key, ())]
            for f in cands:
                if _ERR.search(f.name) and _writes(prog, writes_memo, f):
                    roles["error-recovery"] = f"{f.file}:{f.line} {f.name}()" + \
                        ("" if f is t else f" called by {t.name}()")
                    break
            if "error-recovery" not in roles and _writes(prog, writes_memo, t):
                body = prog.texts[t.file].src.functions.get(t.name)
                words = sorted({w for w in _ERR_WORD.findall(body.body if body else "")
                                if _ERR.search(w)})
                if words:
                    roles["error-recovery"] = f"{t.where()} {t.name}() handles " + \
                        ", ".join(words[:4])
            order = ("callback-delivery", "completion", "descriptor-cleanup",
                     "starts-next-transfer", "error-recovery")
            names = [x for x in order if x in roles]
            if "callback-delivery" not in roles:
                kind = "not-callback"
            elif roles.keys() & {"starts-next-transfer", "error-recovery"}:
                kind = "mixed"
            else:
                kind = "delivery-only"
            out.append({"function": t.name, "at": t.where(), "registered": r.how,
                        "registered_at": f"{r.file}:{r.line}", "roles": names, "kind": kind,
                        "evidence": {x: roles[x] for x in names},
                        **({"detail": r.detail} if r.detail else {}),
                        "parsed": t.parsed})
    return out
