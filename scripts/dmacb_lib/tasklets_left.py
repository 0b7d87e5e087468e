# SPDX-License-Identifier: GPL-2.0
"""The tasklets drivers/dma still sets up on the converted branch, each
with the reason it is still there.

The seed's goal is a drivers/dma without tasklets; the convert stage
removes virt-dma's (the API series) and moves the providers' own
delivery-only tasklets onto the core's path (chan_notify.py).  This is
what is left, the count the issue asks for, read off the branch's
tip (git grep of its set-ups, not the audit's memory of the base), each
joined with what the providers audit found the tasklet doing
(providers/tasklets.py: kind, roles, evidence), so that the reason is
the tasklet's, not a blanket "not done".  A set-up the helper-API
series wrote itself (git blame of the line) is said to be the series'.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from . import csource, worktree

# A set-up and the function it registers: tasklet_setup(&t, fn),
# tasklet_init(&t, fn, data), DECLARE_TASKLET*(name, fn[, data]).
SETUP = re.compile(r"\b(tasklet_setup|tasklet_init|DECLARE_TASKLET\w*)\s*\(([^;]*)")
_ARG = re.compile(r"^\s*[^,]+,\s*([A-Za-z_]\w*)")

# Why a tasklet of each kind is left (vocab.TASKLET_KINDS); the evidence
# that decided the kind follows in the record.
WHY = {
    "delivery-only": "it only delivers callbacks (with completing or freeing descriptors): "
                     "removing it means moving the driver's descriptor lists onto the "
                     "core's per-channel path, a rewrite this version does not generate",
    "mixed": "it delivers callbacks and also {extra}: a person must split it before its "
             "delivery can move to the core",
    "not-callback": "it is not part of the callback mechanism ({roles}): the seed's step 2 "
                    "moves such a tasklet to a threaded IRQ or a workqueue where its body "
                    "allows, a rewrite this version does not generate",
}
_EXTRA = {"starts-next-transfer": "starts the next transfer", "error-recovery": "recovers from errors"}
API_WHY = "set up by the helper-API series itself, in its patch \"{subject}\""
UNKNOWN_WHY = "not a provider tasklet the providers audit found (no provider registers " \
              "this file): left for a person"


def setups(wt: Path, under: str = "drivers/dma") -> list[tuple[str, int, str, str]]:
    """(file, line, how, function) of every tasklet set-up under the path
    at the worktree's HEAD (a call's arguments may span lines)."""
    files = worktree.git(wt, "grep", "-l", "-I", "-E",
                         r"\b(tasklet_setup|tasklet_init|DECLARE_TASKLET[A-Z_]*)[[:space:]]*\(",
                         "HEAD", "--", under, check=False).stdout.split()
    out = []
    for hf in files:
        f = hf.split(":", 1)[1]
        # kernel sources are not all UTF-8
        text = subprocess.run(["git", "-C", str(wt), "show", hf], capture_output=True,
                              check=True).stdout.decode("utf-8", "replace")
        # comments, literals and #define bodies are not set-ups
        code = csource.blank_directives(csource.strip_comments(text))
        for m in SETUP.finditer(code):
            a = _ARG.match(m.group(2))
            out.append((f, code.count("\n", 0, m.start()) + 1, m.group(1) + "()",
                        a.group(1) if a else ""))
    return out


def _reason(t: dict) -> str:
    if t["kind"] == "mixed":
        extra = " and ".join(_EXTRA[r] for r in t["roles"] if r in _EXTRA)
        return WHY["mixed"].format(extra=extra)
    if t["kind"] == "not-callback":
        return WHY["not-callback"].format(roles=", ".join(t["roles"]) or "no role found")
    return WHY[t["kind"]]


def _api_patch(wt: Path, f: str, line: int, api: dict[str, str]) -> str | None:
    """The subject of the helper-API commit that wrote the line, if one did
    (6.1's core path is a tasklet; the KUnit test has one of its own)."""
    r = worktree.git(wt, "blame", "--porcelain", "-L", f"{line},{line}", "HEAD", "--", f,
                     check=False)
    sha = r.stdout.split(" ", 1)[0] if r.returncode == 0 else ""
    return api.get(sha)


def inventory(wt: Path, providers: dict[str, dict], moves: list[dict] = (),
              api: dict[str, str] | None = None) -> list[dict]:
    """A record per tasklet set-up under drivers/dma at the branch's tip;
    moves: convert's provider_tasklets records (chan_notify.py), whose
    reason is the more precise one for a delivery-only tasklet left; api:
    the helper-API commits on the branch, sha -> subject."""
    refused = {(r["at"].rsplit(":", 1)[0], r["tasklet"]): r["reason"] for r in moves
               if r["status"] != "converted"}
    known: dict[tuple[str, str], tuple[dict, dict]] = {}
    for p in providers.values():
        for t in p.get("tasklets", ()):
            known[(t["registered_at"].rsplit(":", 1)[0], t["function"])] = (p, t)
    recs = []
    for f, line, how, fn in setups(wt):
        rec = {"file": f, "line": line, "registered": how, "function": fn}
        hit = known.get((f, fn))
        if hit:
            p, t = hit
            why = _reason(t)
            if t["kind"] == "delivery-only" and (f, fn) in refused:
                why = "it only delivers callbacks, but is not moved onto the core's path: " + \
                    refused[(f, fn)]
            rec.update(provider=p["name"], kind=t["kind"], roles=t["roles"],
                       reason=why, evidence=t["evidence"])
        elif (subject := _api_patch(wt, f, line, api or {})):
            rec.update(kind="api", roles=[], reason=API_WHY.format(subject=subject))
        else:
            rec.update(kind="unknown", roles=[], reason=UNKNOWN_WHY)
        recs.append(rec)
    return recs
