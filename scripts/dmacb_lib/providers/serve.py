# SPDX-License-Identifier: GPL-2.0
"""Which providers may serve a client driver, and what each would do with
its callback's flag or completion.

Per client file, the most specific evidence wins (its basis, vocab.SERVE_BASIS):
- probe: the client instantiates the provider itself (sata_dwc_460ex,
  8250_lpss and catpt call dw_dma_probe(); 8250_mid calls hsu_dma_probe()
  and delivers hsu's IRQs), or names its filter function
  (dma_request_channel(mask, shdma_chan_filter, ...));
- devicetree: the in-tree devicetree nodes that match the client's
  of_device_id table name DMA controllers in their dmas, resolved to the
  providers whose of_device_id tables match those controllers (see dt.py);
  when a node's controller could not be resolved, or the client also has
  an ACPI or PCI table, the Kconfig set below is added;
- kconfig: the providers whose Kconfig dependencies can hold on one
  platform with the client's (architecture, SoC vendor: see kconfig.py),
  and whose capabilities (dma_cap_set()) include one the client asks for
  (DMA_SLAVE for dma_request_chan() and friends, the mask of a
  dma_request_channel());
- any: nothing narrows it (no platform dependency, no table): every
  provider with a matching capability.
Whatever the basis, a client that includes one of a provider's own public
headers (<linux/dma/...>, <linux/platform_data/dma-...>: its platform
data or its API) gets that provider added.
In every basis but probe, a client that asks for its channels by name only
(dma_request_chan() and friends) is not served by a provider that can only
be found by a capability mask or a filter (no of_dma_controller_register(),
no ACPI lookup, no slave map: ioat, idxd, tsi721, ...).

Unknown is never "none": a client nothing is known about gets every
provider.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..kernel import Kernel
from . import dt as dtmod
from . import kconfig as kc
from .discover import Provider

_COMPAT = re.compile(r"\.compatible\s*=\s*\"([^\"]+)\"")
# An AMBA (PrimeCell) driver matches by peripheral id; its devicetree
# nodes say "arm,plNNN": designer 0x41 (ARM), part number NNN.
_AMBA_ID = re.compile(r"\.id\s*=\s*0x[0-9a-fA-F]{0,3}41([0-9a-fA-F]{3})\b")


def compatibles(raw: str) -> set[str]:
    out = set(_COMPAT.findall(raw))
    if "amba_id" in raw:
        out |= {f"arm,pl{p.lower()}" for p in _AMBA_ID.findall(raw)}
    return out
_CAP = re.compile(r"\bdma_cap_set\s*\(\s*(DMA_\w+)")
_SLAVE_API = re.compile(r"\b(dma_request_chan|dma_request_slave_channel\w*|"
                        r"devm_dma_request_chan|of_dma_request_slave_channel|"
                        r"dmaengine_pcm_request_chan_of|snd_dmaengine_pcm_request_channel|"
                        r"devm_snd_dmaengine_pcm_register|snd_dmaengine_pcm_register|"
                        r"dmaengine_prep_slave_\w+|dmaengine_prep_dma_cyclic)\s*\(")
_ACPI = re.compile(r"\bstruct\s+acpi_device_id\b")
# How a client gets its channel: by name (the devicetree, ACPI or a
# provider's slave map find the controller) or by capability mask and
# filter (any registered controller with the capability may answer).
_BY_NAME = re.compile(r"\b(dma_request_chan|devm_dma_request_chan|dma_request_slave_channel|"
                      r"dma_request_slave_channel_reason|of_dma_request_slave_channel|"
                      r"dmaengine_pcm_request_chan_of|devm_snd_dmaengine_pcm_register|"
                      r"snd_dmaengine_pcm_register|dma_request_chan_linked|"
                      r"dma_request_slave_channel_compat)\s*\(")
_BY_MASK = re.compile(r"\b(dma_request_channel|__dma_request_channel|dma_request_chan_by_mask|"
                      r"dma_find_channel|dma_request_slave_channel_compat|async_tx_find_channel|"
                      r"snd_dmaengine_pcm_request_channel|dma_get_any_slave_channel|"
                      r"async_\w+)\s*\(")
# How a provider can be found by name.
# (name, pattern, a word it needs: a cheap test first)
_LOOKUP = (("devicetree", re.compile(r"\b(devm_)?of_dma_(controller|router)_register\s*\("),
            "of_dma_"),
           ("acpi", re.compile(r"\b(devm_)?acpi_dma_controller_register\s*\("), "acpi_dma_"),
           ("slave-map", re.compile(r"\bfilter\s*\.\s*map\b|\bdma_slave_map\b"), "map"))
_PCI = re.compile(r"\bstruct\s+pci_device_id\b|\bPCI_DEVICE\s*\(|\bPCI_VDEVICE\s*\(")


# A provider's own public headers: what a client includes to hand it
# platform data or to call its API (<linux/dma/imx-dma.h>,
# <linux/platform_data/dma-dw.h>, <linux/shdma-base.h>).
_OWN_HEADER = re.compile(r"^(linux/dma/|linux/platform_data/dma-|linux/shdma-base\.h$|"
                         r"linux/sh_dma\.h$|linux/dma/)")


@dataclass
class ProviderSide:
    id: str
    constraint: list
    caps: set[str]
    compatibles: set[str]
    acpi: bool
    lookup: set[str] = field(default_factory=set)   # devicetree, acpi, slave-map
    headers: set[str] = field(default_factory=set)  # its public headers

    def to_json(self) -> dict:
        return {"id": self.id, "constraint": [sorted(c) for c in self.constraint],
                "caps": sorted(self.caps), "compatibles": sorted(self.compatibles),
                "acpi": self.acpi, "lookup": sorted(self.lookup),
                "headers": sorted(self.headers)}

    @classmethod
    def from_json(cls, d: dict) -> "ProviderSide":
        return cls(d["id"], [frozenset(c) for c in d["constraint"]], set(d["caps"]),
                   set(d["compatibles"]), d["acpi"], set(d["lookup"]), set(d["headers"]))


@dataclass
class ServeInfo:
    """Who may serve one client file."""
    file: str
    providers: list[str]                    # provider ids
    basis: str                              # vocab.SERVE_BASIS
    reasons: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)   # provider -> why not
    dt_nodes: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        d = {"file": self.file, "basis": self.basis, "providers": self.providers,
             "reasons": self.reasons}
        if self.dt_nodes:
            d["devicetree"] = self.dt_nodes
        return d


def provider_side(k: Kernel, prov: Provider, texts: dict, kcfg: kc.Kconfig) -> ProviderSide:
    syms = kc.build_symbols(k, prov.id)
    cons = []
    for s in syms:
        cons += kcfg.symbol_constraint(s)
    caps, compats, acpi, lookup, headers = set(), set(), False, set(), set()
    for f in prov.files:
        if prov.roles[f] == "external-glue":
            continue
        t = texts.get(f)
        if t is None:
            continue
        caps |= set(_CAP.findall(t.text))
        raw = _raw(k, f)
        compats |= compatibles(raw)
        acpi = acpi or bool(_ACPI.search(t.text)) or "acpi_dma_controller_register" in t.text
        lookup |= {name for name, pat, word in _LOOKUP if word in t.text and pat.search(t.text)}
        if prov.roles[f] != "header":
            headers |= {h for h in t.includes if _OWN_HEADER.match(h)}
    return ProviderSide(prov.id, cons, caps, compats, acpi, lookup, headers)


_RAW: dict[str, str] = {}


def _raw(k: Kernel, path: str) -> str:
    if path not in _RAW:
        try:
            _RAW[path] = (k.path / path).read_text(errors="replace")
        except OSError:
            _RAW[path] = ""
    return _RAW[path]


def client_wants(raw: str) -> set[str]:
    """The capabilities a client asks for: DMA_SLAVE for the slave APIs, the
    caps it sets in a mask; empty when nothing says (any)."""
    want = set(_CAP.findall(raw))
    if _SLAVE_API.search(raw):
        want.add("DMA_SLAVE")
    return want


def _caps_meet(want: set[str], caps: set[str]) -> bool:
    if not want or not caps:
        return True
    if want & caps:
        return True
    # a cyclic or slave client is served by a slave provider
    return bool({"DMA_SLAVE", "DMA_CYCLIC"} & want and {"DMA_SLAVE", "DMA_CYCLIC"} & caps)


def _module_files(k: Kernel, path: str) -> list[str]:
    """path and the .c files of its directory built by the same symbol."""
    d = os.path.dirname(path)
    mine = set(kc.build_symbols(k, path)[:1])
    out = [path]
    if not mine:
        return out
    try:
        names = sorted(os.listdir(k.path / d))
    except OSError:
        return out
    for n in names:
        q = f"{d}/{n}"
        if n.endswith(".c") and q != path and set(kc.build_symbols(k, q)[:1]) == mine:
            out.append(q)
    return out[:12]


def devicetree(k: Kernel) -> "dtmod.DeviceTree | None":
    """The tree's devicetree sources, scanned (None when it has none)."""
    return dtmod.DeviceTree(k) if (k.path / "arch").is_dir() else None


class Server:
    """The serving relation for a set of client files."""

    def __init__(self, k: Kernel, provs: list[Provider], texts: dict, kcfg: kc.Kconfig,
                 use_dt: bool = True, dt: "dtmod.DeviceTree | None" = None,
                 sides: "dict[str, ProviderSide] | None" = None):
        """sides: each provider's provider_side(), when known (texts are
        then not read)."""
        self.k = k
        self.provs = {p.id: p for p in provs}
        self.kcfg = kcfg
        self.side = sides if sides is not None else \
            {p.id: provider_side(k, p, texts, kcfg) for p in provs}
        self.by_compat: dict[str, set[str]] = {}
        for pid, s in self.side.items():
            for c in s.compatibles:
                self.by_compat.setdefault(c, set()).add(pid)
        self.dt = dt if dt is not None else (devicetree(k) if use_dt else None)

    def serve(self, files: list[str]) -> dict[str, ServeInfo]:
        clients = {}
        for f in sorted(set(files)):
            mod = _module_files(self.k, f)
            raw = "\n".join(_raw(self.k, q) for q in mod)
            syms = kc.build_symbols(self.k, f)
            cons = []
            for s in syms:
                cons += self.kcfg.symbol_constraint(s)
            clients[f] = {"mod": mod, "raw": raw, "cons": cons, "syms": syms,
                          "compats": compatibles(raw), "want": client_wants(raw),
                          "acpi": bool(_ACPI.search(raw)), "pci": bool(_PCI.search(raw)),
                          "by_name": bool(_BY_NAME.search(raw)),
                          "by_mask": bool(_BY_MASK.search(raw)),
                          "includes": set(re.findall(r'^[ \t]*#[ \t]*include[ \t]*<([^>]+)>',
                                                     raw, re.M))}
        dtres = self._devicetree(clients) if self.dt else {}
        out = {}
        for f, c in clients.items():
            out[f] = self._one(f, c, dtres.get(f))
        return out

    def _kconfig_set(self, c: dict) -> tuple[list[str], dict[str, str]]:
        ok, why = [], {}
        for pid, s in self.side.items():
            m = kc.meets(s.constraint, c["cons"], self.kcfg)
            if m:
                why[pid] = m
            elif not _caps_meet(c["want"], s.caps):
                why[pid] = f"it offers {', '.join(sorted(s.caps)) or 'no capability'}, the " \
                           f"client wants {', '.join(sorted(c['want']))}"
            elif c["by_name"] and not c["by_mask"] and not s.lookup:
                why[pid] = "the client asks for its channels by name, and this provider " \
                           "registers no devicetree, ACPI or slave-map lookup (only a filter " \
                           "or a capability mask finds it)"
            else:
                ok.append(pid)
        return sorted(ok), why

    def _one(self, f: str, c: dict, dtr: dict | None) -> ServeInfo:
        si = self._one_basis(f, c, dtr)
        # platform data: a client that includes a provider's own header (its
        # platform data, its API) may be served by it, whatever else says
        for pid, side in self.side.items():
            hit = sorted(side.headers & c["includes"])
            if hit and pid not in si.providers:
                si.providers = sorted(set(si.providers) | {pid})
                si.reasons.append(f"includes <{hit[0]}> of {self.provs[pid].name}: added")
        return si

    def _one_basis(self, f: str, c: dict, dtr: dict | None) -> ServeInfo:
        # probe / filter: the client names the provider itself
        exact, filt, reasons = set(), set(), []
        for pid, p in self.provs.items():
            if f in p.roles and p.roles[f] == "external-glue":
                exact.add(pid)
                reasons.append(f"{f} {', '.join(p.links.get(f, []))} of {p.name}")
            for q in c["mod"]:
                if q in p.filter_users:
                    filt.add(pid)
                    reasons.append(f"{q} names {', '.join(p.filter_users[q])}() of {p.name}")
        ks, excluded = self._kconfig_set(c)
        if exact or (filt and not c["by_name"]):
            return ServeInfo(f, sorted(exact | filt), "probe", reasons, excluded)
        if filt:
            # a filter next to a lookup by name (dma_request_slave_channel_compat()):
            # both ways may find a channel
            si = self._one_basis(f, dict(c, mod=[]), dtr)
            si.providers = sorted(set(si.providers) | filt)
            si.reasons = reasons + ["it asks by name too: "] + si.reasons
            return si
        if dtr and dtr["providers"]:
            provs = set(dtr["providers"])
            basis = "devicetree"
            reasons = [f"{len(dtr['nodes'])} devicetree node(s) with dmas: "
                       f"{', '.join(sorted(self.provs[p].name for p in provs))}"]
            # a controller no devicetree describes (platform data, board
            # files: shdma on SuperH) cannot be excluded by the devicetree
            nodt = sorted(p for p in ks if not self.side[p].compatibles and p not in provs)
            if nodt:
                provs |= set(nodt)
                reasons.append("providers without an of_device_id table that Kconfig allows "
                               f"are kept: {', '.join(self.provs[p].name for p in nodt)}")
            if dtr["unresolved"]:
                provs |= set(ks)
                basis = "devicetree+kconfig"
                reasons.append("some dmas could not be resolved to a provider "
                               f"({', '.join(sorted(dtr['unresolved'])[:5])}): the Kconfig set "
                               "is added")
            if c["acpi"] or c["pci"]:
                provs |= set(ks)
                basis = "devicetree+kconfig"
                reasons.append("the client has an ACPI or PCI table too: the Kconfig set is "
                               "added")
            return ServeInfo(f, sorted(provs), basis, reasons, excluded, dtr["nodes"][:20])
        if c["cons"]:
            cons = " && ".join("(" + " || ".join(sorted(x - {"<false>"})) + ")"
                               for x in c["cons"] if x - {"<false>"})
            reasons = [f"Kconfig {', '.join(c['syms'][:2])}: {cons}"]
            if c["want"]:
                reasons.append(f"asks for {', '.join(sorted(c['want']))}")
            return ServeInfo(f, ks, "kconfig", reasons, excluded)
        reasons = ["no platform dependency in Kconfig"]
        if c["compats"] and self.dt:
            reasons.append("no devicetree node of the tree names a DMA controller for it")
        if c["want"]:
            reasons.append(f"asks for {', '.join(sorted(c['want']))}")
        return ServeInfo(f, ks, "any", reasons, excluded)

    def _devicetree(self, clients: dict) -> dict[str, dict]:
        dt = self.dt
        want = set().union(*(c["compats"] for c in clients.values())) if clients else set()
        hits = dt.find_compatibles(want | set(self.by_compat))
        # the controllers: provider nodes and DMA routers
        dt.add_controllers([h for c in self.by_compat for h in hits.get(c, ())])
        out = {}
        for f, c in clients.items():
            pairs = []
            for comp in sorted(c["compats"]):
                for path, line in hits.get(comp, ()):
                    n = dt.node_of(path, line)
                    if n is None or comp not in n.compatible:
                        continue
                    if n.dmas:
                        pairs.append((n, n))
                    for lb in n.labels:         # board files: '&uart1 { dmas = ...'
                        pairs += [(n, o) for o in dt.overrides(lb, n.file)]
            if not pairs:
                continue
            provs, unresolved, nodes, seen = set(), set(), [], set()
            for n, src in pairs:
                if (src.file, src.line) in seen:
                    continue
                seen.add((src.file, src.line))
                got = set()
                for lb in src.dmas:
                    ps = self._resolve(lb, src.file, 0)
                    if ps:
                        got |= ps
                    else:
                        unresolved.add(lb)
                provs |= got
                nodes.append({"node": f"{n.file}:{n.line}", "dmas": f"{src.file}:{src.dmas_line}",
                              "controllers": sorted(set(src.dmas)),
                              "providers": sorted(self.provs[p].name for p in got)})
            out[f] = {"providers": sorted(provs), "unresolved": unresolved, "nodes": nodes}
        return out

    def _resolve(self, label: str, ref_file: str, depth: int) -> set[str]:
        out = set()
        for n in self.dt.definition(label, ref_file):
            for comp in n.compatible:
                out |= self.by_compat.get(comp, set())
            if n.dma_masters and depth < 3:
                for m in n.dma_masters:
                    out |= self._resolve(m, n.file, depth + 1)
        return out
