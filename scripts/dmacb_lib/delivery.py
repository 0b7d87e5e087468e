# SPDX-License-Identifier: GPL-2.0
"""delivery: what the providers that can serve a client do with its
notification, under the helper-API series the conversion applies.

Two sources, joined here and nowhere else: the providers audit (providers/:
which providers may serve a client file, how each delivers, whether it
signals a bare completion on every path) and the API series itself
(patches/api/<major.minor>/providers.tsv: what the series guarantees for the
providers it changes; a series without that file is the first one, which
ran flagged callbacks of virt-dma providers under vc->lock).

The audit asks two questions of it (rules 3, 6 and 8 of the contract):
  locked(files)      may a provider serving these files run a flagged
                     callback with a lock held, or inside one of the
                     client's own dmaengine calls?  Then rules 3 and 6
                     apply (kb/rules.tsv 'locked-delivery');
  completion(files)  does every provider that may serve them signal a bare
                     completion on every path (rule 8)?
and the commit messages a third: paragraph(), which providers can serve the
driver and what each does with the flag or the completion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .util import PROJECT

API_ROOT = PROJECT / "patches" / "api"
VIRT_DMA = "drivers/dma/virt-dma.c"
OK_BARE = ("all-paths",)
OK_BARE_API = ("fixed", "signalled")


def api_dir(release: str) -> Path | None:
    """The series convert applies for this release (convert.api_series)."""
    mm = ".".join(release.split(".")[:2])
    d = API_ROOT / mm
    if d.is_dir():
        return d
    dirs = sorted((p for p in API_ROOT.iterdir() if p.is_dir()),
                  key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()])
    return dirs[-1] if dirs else None


def guarantees(d: Path | None) -> dict[str, dict[str, str]] | None:
    """file -> property -> value of the series' providers.tsv; None for a
    series without one (the first API)."""
    p = d / "providers.tsv" if d else None
    if p is None or not p.exists():
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

    def provider(self, pid: str, cyclic: bool) -> Provider:
        p = self.res.providers[pid]
        d = p["delivery"]
        b = p["bare_completion"]
        bare = b["value"] if cyclic else b["value_noncyclic"]
        why = b.get("why", "")
        g = self._guarantee(p)
        if g.get("bare-completion") in OK_BARE_API:
            bare, why = "all-paths", f"the helper-API series: {g['bare-completion']}"
        if self.api is None:
            # the first API: virt-dma providers call a flagged callback
            # from vchan_cookie_complete(), under vc->lock
            # (and a provider that ignores the flag today promises nothing
            # about the lock it will hold once it honours it: locked too)
            vd = d["method"] == "virt-dma"
            locked = True
            flag = ("run{s} it from vchan_cookie_complete() with vc->lock held"
                    if vd and "hardirq" in d["completes_from"] else
                    "run{s} it under vc->lock where {they} complete{s}" if vd else
                    "ignore{s} the flag and keep{s} calling it as before")
        else:
            ctx = g.get("notify-context", "")
            hd = g.get("hardirq-delivery", "deferred" if d["method"] == "virt-dma" else "")
            # only what the series guarantees frees a client of rules 3
            # and 6: a provider it does not list may hold any lock
            locked = not g or "under-lock" in ctx or "in-client-call" in ctx
            flag = {
                "no-lock": "run{s} it from {their} interrupt handler, with no lock held",
                "deferred": "run{s} it from the per-channel deferred context, no lock held "
                            "(the flag changes nothing at run time yet)",
                "provider": f"run{{s}} it where {{they}} notif{{ies}} ({ctx or 'in {their} own context'}): "
                            f"the flag changes nothing at run time",
            }.get(hd, "ignore{s} the flag and keep{s} calling it as before")
        return Provider(pid, p["name"], d["method"], d["completes_from"], d["delivers_from"],
                        bare, why, flag, locked)

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
                       their="its" if one else "their", ies="ies" if one else "y")


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
