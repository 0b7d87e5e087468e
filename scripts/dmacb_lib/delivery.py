# SPDX-License-Identifier: GPL-2.0
"""delivery: what the providers that can serve a client do with its
notification, under the helper-API series the conversion applies.

Two sources, joined here and nowhere else: the providers audit (providers/:
which providers may serve a client file, how each delivers, whether it
signals a bare completion on every path) and the API series itself
(patches/api/providers.tsv, or <series>/providers.tsv: what the series
guarantees for the providers it changes; a series without that file
guarantees nothing, and every provider is then taken to run a flagged
callback with a lock held).

The audit asks three questions of it (rules 3, 6 and 8 of the contract,
and the task action):
  locked(files)      may a provider serving these files run a flagged
                     callback with a lock held, or inside one of the
                     client's own dmaengine calls?  Then rules 3 and 6
                     apply (kb/rules.tsv 'locked-delivery');
  completion(files)  does every provider that may serve them signal a bare
                     completion on every path (rule 8)?
  task(files)        does every provider that may serve them run a
                     DMA_PREP_TASK_CALLBACK callback in task context?  With
                     the v2 series a channel without chan->task_callbacks
                     refuses the prep, and a provider that calls callbacks
                     itself runs them where it is;
and the commit messages a fourth: paragraph(), which providers can serve the
driver and what each does with the flag or the completion.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .util import PROJECT

API_ROOT = PROJECT / "patches" / "api"
VIRT_DMA = "drivers/dma/virt-dma.c"
OK_BARE = ("all-paths",)
OK_BARE_API = ("fixed", "signalled")


def api_dir(release: str) -> Path | None:
    """The series convert applies for this release: DMACB_API_SERIES (the
    tests' series for trees without drivers/dma), patches/api/<major.minor>/,
    else the newest one."""
    if os.environ.get("DMACB_API_SERIES"):
        return Path(os.environ["DMACB_API_SERIES"]).resolve()
    mm = ".".join(release.split(".")[:2])
    d = API_ROOT / mm
    if d.is_dir():
        return d
    dirs = sorted((p for p in API_ROOT.iterdir()
                   if p.is_dir() and re.fullmatch(r"\d+\.\d+", p.name)),
                  key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()])
    return dirs[-1] if dirs else None


def guarantees(d: Path | None) -> dict[str, dict[str, str]] | None:
    """file -> property -> value of the series' providers.tsv (its own, or
    the one patches/api/ holds for all its releases); None for a series
    without one."""
    if d is None:
        return None
    p = d / "providers.tsv"
    if not p.exists() and d.parent == API_ROOT:
        p = API_ROOT / "providers.tsv"
    if not p.exists():
        return None
    out: dict[str, dict[str, str]] = {}
    for line in p.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) >= 3:
            out.setdefault(cols[0], {})[cols[1]] = cols[2]
    return out


@dataclass
class Provider:
    id: str
    name: str
    method: str                 # vocab.DELIVERY
    completes_from: list[str]
    delivers_from: list[str]
    bare: str                   # vocab.BARE, with the series' fixes
    bare_why: str
    flag: str                   # what the flag does at run time (text)
    locked: bool                # may run a flagged callback with a lock held
    task: bool                  # runs a DMA_PREP_TASK_CALLBACK callback in task context
    task_why: str = ""


@dataclass
class Serving:
    files: list[str]
    basis: list[str]
    providers: list[Provider] = field(default_factory=list)


class Delivery:
    def __init__(self, k, result, serve: dict, release: str, cyclic: dict[str, bool]):
        """result: providers.audit(); serve: providers.serving(); cyclic:
        per client file, whether it preps cyclic transfers."""
        self.k = k
        self.res = result
        self.serve = serve
        self.api = guarantees(api_dir(release))
        self.cyclic = cyclic
        # providers convert gave vchan_notify_irq() (vchan_notify.py): with
        # the series they deliver flagged callbacks from their handler
        self.notify_irq: set[str] = set()

    def _guarantee(self, p: dict) -> dict[str, str]:
        files = [f["file"] for f in p.get("files", [])] or [p["id"]]
        g: dict[str, str] = {}
        if self.api is None:
            return g
        if p.get("uses_virt_dma") and p["delivery"]["method"] == "virt-dma":
            g.update(self.api.get(VIRT_DMA, {}))
        for f in files:
            g.update(self.api.get(f, {}))
        return g

    def own_delivery_removed(self, pid: str) -> bool:
        """The series deletes the provider's own calls of client callbacks
        (providers.tsv own-delivery=removed): the providers audit of the
        unpatched tree still sees them, the converted tree has none."""
        return self._guarantee(self.res.providers[pid]).get("own-delivery") == "removed"

    def provider(self, pid: str, cyclic: bool) -> Provider:
        p = self.res.providers[pid]
        d = p["delivery"]
        b = p["bare_completion"]
        bare = b["value"] if cyclic else b["value_noncyclic"]
        why = b.get("why", "")
        g = self._guarantee(p)
        if g.get("bare-completion") in OK_BARE_API:
            bare, why = "all-paths", f"the helper-API series: {g['bare-completion']}"
        # calls a descriptor's callback itself somewhere, not through
        # vchan_cookie_complete()/vchan_cyclic_callback(): there the core's
        # path is bypassed, whatever the series does to virt-dma
        direct = [] if self.own_delivery_removed(pid) else \
            sorted({f"{s['function']}()" for s in d.get("deliver_sites", [])})
        if self.api is None:
            # a series that guarantees nothing: every provider may run a
            # flagged callback under its lock (the first API did, from
            # vchan_cookie_complete()), and none is known to honour the
            # task flag
            locked, task = True, False
            task_why = "the helper-API series guarantees nothing about the task flag"
            flag = ("ignore{s} the flag and keep{s} calling it as before")
        else:
            ctx = g.get("notify-context", "")
            hd = g.get("hardirq-delivery", "")
            if hd == "deferred" and pid in self.notify_irq:
                hd = "no-lock"
            # only what the series guarantees frees a client of rules 3
            # and 6: a provider it does not list may hold any lock
            locked = (not hd or "under-lock" in ctx or "in-client-call" in ctx
                      or bool(direct))
            task = g.get("task-callbacks") == "honoured" and not direct
            task_why = ("" if task else
                        "has no chan->task_callbacks with the helper-API series (it does "
                        "not deliver through virt-dma): the prep would fail"
                        if g.get("task-callbacks") != "honoured" else
                        f"calls callbacks itself in {', '.join(direct)}, where a task "
                        f"callback would run in its context")
            flag = {
                "no-lock": "run{s} it from {their} interrupt handler, with no lock held",
                "deferred": "run{s} it from the core's per-channel deferred context, with "
                            "no lock held (the flag changes nothing at run time yet)",
            }.get(hd, "ignore{s} the flag and keep{s} calling it as before")
            if hd and direct:
                flag = (f"run{{s}} it from the core's per-channel deferred context, but "
                        f"call{{s}} callbacks {{them}}sel{{ves}} in {', '.join(direct)}")
        return Provider(pid, p["name"], d["method"], d["completes_from"], d["delivers_from"],
                        bare, why, flag, locked, task, task_why)

    def serving(self, files: list[str]) -> Serving:
        ids: set[str] = set()
        basis: set[str] = set()
        cyc = False
        for f in files:
            si = self.serve.get(f)
            if si is None:
                continue
            ids |= set(si.providers)
            basis.add(si.basis)
            cyc = cyc or self.cyclic.get(f, False)
        return Serving(list(files), sorted(basis),
                       [self.provider(i, cyc) for i in sorted(ids)])

    def locked(self, files: list[str]) -> bool:
        s = self.serving(files)
        if not s.providers:
            return True         # nobody known: conservative
        return any(p.locked for p in s.providers)

    def judged(self) -> bool:
        """Rule 8 needs providers to judge: a tree that registers none (a
        fixture tree of clients only) says nothing either way."""
        return bool(self.res.providers)

    def completion(self, files: list[str]) -> tuple[bool, list[Provider]]:
        """(ok, the providers that fail).  Not ok also when nobody is known
        to serve the files in a tree that has providers: serving() falls
        back to 'any' provider, so an empty set means the files are not
        clients at all, and a completion there would be a guess."""
        if not self.judged():
            return True, []
        s = self.serving(files)
        bad = [p for p in s.providers if p.bare not in OK_BARE]
        return (bool(s.providers) and not bad), bad

    def task(self, files: list[str]) -> tuple[bool, list[Provider]]:
        """(ok, the providers that fail) for the task action; like
        completion(), not ok when nobody is known to serve the files."""
        if not self.judged():
            return True, []
        s = self.serving(files)
        bad = [p for p in s.providers if not p.task]
        return (bool(s.providers) and not bad), bad

    def paragraph(self, action: str, files: list[str]) -> str:
        """For the commit message: which providers can serve the driver and
        what each does with the flag or the completion."""
        if not self.judged():
            return ""
        s = self.serving(files)
        if not s.providers:
            return ("dmacb could not tell which DMA providers serve this driver; on those "
                    "that do not look at the flag the patch changes nothing at run time.")
        basis = {"devicetree": "the devicetree bindings of the tree",
                 "kconfig": "its Kconfig dependencies", "any": "nothing (any provider)",
                 "probe": "its probe code", "devicetree+kconfig": "the devicetree and Kconfig",
                 "filter": "its filter function", "platform-data": "its platform data"}
        src = ", ".join(basis.get(b, b) for b in s.basis)
        names = [p.name for p in s.providers]
        head = (f"The DMA providers that may serve this driver, going by {src}: "
                f"{_list(names)}.")
        if action == "completion":
            return head + (" Each signals a completion set without a callback on every "
                           "path" + (" (with the helper-API series' fixes)"
                                     if any("helper-API" in p.bare_why for p in s.providers)
                                     else "") + ".")
        groups: dict[str, list[str]] = {}
        for p in s.providers:
            groups.setdefault(p.flag, []).append(p.name)
        parts = [f"{_list(v)} {_agree(k, len(v))}" for k, v in sorted(groups.items())]
        noop = all("changes nothing" in p.flag or "ignore{s} the flag" in p.flag
                   for p in s.providers)
        tail = (" So for now the patch changes nothing at run time; it takes effect as "
                "the providers deliver flagged callbacks from their interrupt handlers."
                if noop else "")
        return head + " With the flag, " + "; ".join(parts) + "." + tail


_CYCLIC = re.compile(r"\bdmaengine_prep_dma_cyclic\s*\(|\bdevice_prep_dma_cyclic\b")


def preps_cyclic(k, f: str) -> bool:
    """Does the client file prep cyclic transfers (the file, not the
    function: a helper may prep for it)?"""
    try:
        return bool(_CYCLIC.search((k.path / f).read_text(errors="replace")))
    except OSError:
        return False


def _agree(text: str, n: int) -> str:
    """A flag's predicate for one provider or several."""
    one = n == 1
    return text.format(s="s" if one else "", they="it" if one else "they",
                       their="its" if one else "their", ies="ies" if one else "y",
                       them="it" if one else "them", ves="f" if one else "ves")


def _list(xs: list[str]) -> str:
    xs = list(xs)
    if len(xs) > 12:
        return ", ".join(xs[:12]) + f" and {len(xs) - 12} more"
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def for_tree(k, jobs: int, files: list[str]) -> Delivery:
    """The Delivery of a tree's client files, from the providers audit
    (cached after the audit has run it)."""
    from . import providers
    res = providers.audit(k, jobs, True, True)
    return Delivery(k, res, providers.serving(k, files, res), k.release,
                    {f: preps_cyclic(k, f) for f in files})
