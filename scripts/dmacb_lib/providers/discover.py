# SPDX-License-Identifier: GPL-2.0
"""Which files are DMA providers, and which files form each provider.

A provider is a driver that registers a struct dma_device: a caller of
dma_async_device_register() or dmaenginem_async_device_register(), in
drivers/dma or anywhere else.  One registering file is one provider, even
when it registers several devices (amba-pl08x: memcpy and slave).

Several files may form one provider.  Its files are, from the text of its
directory (no preprocessing; links only through functions defined
non-static in the directory):

- the registering file, and any .c file it #includes;
- library files: files defining a function that the provider's functions
  call or name, followed from function to function (shdma-base.c for
  shdmac.c, fsl-edma-common.c for fsl-edma-main.c and mcf-edma-main.c: a
  library may belong to several providers);
- glue files: files that call or name a non-static function of the
  provider or of its glue, transitively (dw/platform.c -> dw/dw.c ->
  dw/core.c), and, outside the directory, files that call one of those
  files' exported functions (8250_mid.c's IRQ handler calls hsu_dma_do_irq;
  sata_dwc_460ex.c probes its own dw_dmac).

Another registering file never joins a provider, nor does the dmaengine
core (kapi.CORE_FILES).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

from .. import csource
from ..kernel import Kernel
from . import kapi, source


@dataclass
class Provider:
    id: str                             # the registering file
    name: str                           # short name for tables
    registrations: list[dict] = field(default_factory=list)   # {file, function, line, call}
    files: list[str] = field(default_factory=list)            # the registering file first
    roles: dict[str, str] = field(default_factory=dict)       # file -> role
    links: dict[str, list[str]] = field(default_factory=dict)  # file -> why it joined
    # files elsewhere naming one of its exported filter functions (for
    # dma_request_channel()): file -> names
    filter_users: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return self.__dict__

    @classmethod
    def from_json(cls, d: dict) -> "Provider":
        return cls(**d)


def short_name(path: str) -> str:
    p = path[:-2] if path.endswith(".c") else path
    for prefix in ("drivers/dma/", "drivers/"):
        if p.startswith(prefix):
            return p[len(prefix):]
    return p


_REG_CALL = re.compile(r"\b(" + "|".join(kapi.REGISTER) + r")\s*\(")


def registering_files(k: Kernel) -> list[str]:
    """C files with a call of a register function in a function body."""
    args = []
    for n in kapi.REGISTER:
        args += ["-e", n]
    r = subprocess.run(["git", "-C", str(k.path), "grep", "-l", "-w", "-F", *args, "--",
                        "*.c"], capture_output=True, text=True)
    out = []
    for p in r.stdout.split():
        if p in kapi.CORE_FILES or p.startswith("tools/"):
            continue
        try:
            raw = (k.path / p).read_text(errors="replace")
        except OSError:
            continue
        if _REG_CALL.search(csource.strip_comments(raw)):
            out.append(p)
    return sorted(out)


def _dir_files(k: Kernel, d: str) -> list[str]:
    try:
        names = os.listdir(k.path / d)
    except OSError:
        return []
    return sorted(f"{d}/{n}" for n in names if n.endswith(".c") and (k.path / d / n).is_file())


@dataclass
class _Index:
    """The text of one directory's C files: what each function calls or names."""
    texts: dict[str, source.Text]
    # file -> function -> names used, sorted: the walks below stop after a
    # few links per file, so their order must not follow string hashing
    uses: dict[str, dict[str, list[str]]]
    nonstatic: dict[str, list[str]]             # name -> files defining it non-static


def _index(texts: dict[str, source.Text]) -> _Index:
    defined = set()
    for t in texts.values():
        defined |= set(t.src.functions)
    uses: dict[str, dict[str, list[str]]] = {}
    nonstatic: dict[str, list[str]] = {}
    for p, t in texts.items():
        uses[p] = {}
        for name, f in t.src.functions.items():
            uses[p][name] = sorted(source.idents(f.body) & defined)
            if name not in t.static:
                nonstatic.setdefault(name, []).append(p)
    return _Index(texts, uses, nonstatic)


def _read_texts(k: Kernel, paths: list[str]) -> dict[str, source.Text]:
    out = {}
    for p in paths:
        try:
            out[p] = source.read(p, (k.path / p).read_text(errors="replace"))
        except OSError:
            pass
    return out


def families(k: Kernel, regs: list[str], jobs: int = 2,
             external: bool = True) -> tuple[list[Provider], dict]:
    """The providers of the registering files, and the texts read (path ->
    source.Text, to share with the analysis).  external=False leaves the
    files outside the providers' directories to external() (a whole-tree
    grep: the caller may start spatch on the rest meanwhile)."""
    dirs = sorted({os.path.dirname(p) for p in regs})
    all_paths = sorted({p for d in dirs for p in _dir_files(k, d)} | set(regs))
    texts = _read_texts(k, all_paths)
    by_dir = {d: _index({p: t for p, t in texts.items() if os.path.dirname(p) == d})
              for d in dirs}
    regset = set(regs)
    provs = []
    ext_names: dict[str, set[str]] = {}     # exported name -> provider ids
    for p in regs:
        d = os.path.dirname(p)
        idx = by_dir[d]
        prov = Provider(id=p, name=short_name(p), files=[p], roles={p: "register"},
                        links={p: ["registers a dma_device"]})
        t = texts[p]
        for name, f in t.src.functions.items():
            for m in _REG_CALL.finditer(f.body):
                prov.registrations.append({"file": p, "function": name, "call": m.group(1),
                                           "line": t.line_of(f.body_start + m.start())})
        # .c files the registering file includes are part of it
        for inc in t.includes_c:
            q = os.path.normpath(os.path.join(d, inc))
            if q in texts and q not in prov.roles:
                prov.files.append(q)
                prov.roles[q] = "included"
                prov.links[q] = [f"#include \"{inc}\" in {os.path.basename(p)}"]
        own = list(prov.files)
        _library(idx, prov, regset)
        _glue(idx, prov, regset, own)
        provs.append(prov)
        for name in _external_names(idx, prov):
            ext_names.setdefault(name, set()).add(p)
    _headers(k, provs, texts)
    if external:
        globals()["external"](k, provs, texts, ext_names, regset)
    else:
        for p in provs:
            p._external = (ext_names, regset)
    return provs, texts


def external(k: Kernel, provs: list[Provider], texts: dict, ext_names: dict | None = None,
             regset: set[str] | None = None) -> list[str]:
    """Add the external glue and the filter users of every provider (one
    whole-tree grep); returns the files added."""
    if ext_names is None:
        ext_names, regset = provs[0]._external if provs else ({}, set())
    before = {f for p in provs for f in p.files}
    _external_glue(k, provs, ext_names, regset)
    _headers(k, provs, texts)
    for p in provs:
        p.__dict__.pop("_external", None)
    return sorted({f for p in provs for f in p.files} - before)


def _headers(k: Kernel, provs: list[Provider], texts: dict[str, source.Text]) -> None:
    """Local headers a provider's files include that define functions (static
    inline helpers are part of its call graph: dw-edma's handle_int)."""
    for prov in provs:
        for q in list(prov.files):
            t = texts.get(q)
            if t is None:
                continue
            for inc in t.includes_local:
                h = os.path.normpath(os.path.join(os.path.dirname(q), inc))
                if h in kapi.CORE_FILES or h in prov.roles:
                    continue
                if h not in texts:
                    got = _read_texts(k, [h])
                    if not got:
                        continue
                    texts.update(got)
                if texts[h].src.functions:
                    prov.files.append(h)
                    prov.roles[h] = "header"
                    prov.links[h] = [f"included by {os.path.basename(q)}, defines "
                                     f"{len(texts[h].src.functions)} functions"]


_KEY_CALLS = re.compile(r"\b(" + "|".join(
    kapi.REGISTER + kapi.VCHAN_COMPLETE + kapi.COOKIE_COMPLETE + kapi.HELPER_INVOKE) +
    r")\s*\(")


def _external_names(idx: _Index, prov: Provider) -> list[str]:
    """Exported functions of the provider (and its glue) that files elsewhere
    may call to run it: those from which the text reaches the registration
    or a descriptor completion (a probe, an IRQ entry), and its filter
    functions (dma_request_channel() filters, for the clients it serves).
    Few on purpose: a whole-tree grep costs a second per ten names."""
    out = []
    for q in prov.files:
        if q not in idx.texts:
            continue
        t = idx.texts[q]
        own = prov.roles[q] in ("register", "included", "glue")
        for e in sorted(t.exports):
            if e not in t.src.functions:
                continue
            # a library's filter too (shdma_chan_filter() of shdma-base.c)
            if "filter" in e or own and _reaches(idx, q, e):
                out.append(e)
    return out


def _reaches(idx: _Index, file: str, fn: str) -> bool:
    seen = set()
    todo = [(file, fn)]
    while todo:
        q, n = todo.pop()
        if (q, n) in seen or len(seen) > 400:
            continue
        seen.add((q, n))
        f = idx.texts[q].src.functions.get(n) if q in idx.texts else None
        if f is None:
            continue
        if _KEY_CALLS.search(f.body):
            return True
        for used in idx.uses[q].get(n, ()):
            if used in idx.uses[q]:
                todo.append((q, used))
            else:
                todo += [(o, used) for o in idx.nonstatic.get(used, ())]
    return False


def _library(idx: _Index, prov: Provider, regset: set[str]) -> None:
    """Files whose functions the provider's functions call or name, from
    function to function."""
    seen: set[tuple[str, str]] = set()
    todo = [(q, n) for q in prov.files for n in idx.uses.get(q, {})]
    while todo:
        q, n = todo.pop()
        if (q, n) in seen:
            continue
        seen.add((q, n))
        for used in idx.uses.get(q, {}).get(n, ()):
            if used in idx.uses.get(q, {}):
                todo.append((q, used))          # same file (static or not)
                continue
            for other in idx.nonstatic.get(used, ()):
                if other in regset or other in kapi.CORE_FILES:
                    continue
                if other not in prov.roles:
                    prov.files.append(other)
                    prov.roles[other] = "library"
                    prov.links[other] = []
                if prov.roles[other] == "library" and len(prov.links[other]) < 5 and \
                        f"defines {used}()" not in prov.links[other]:
                    prov.links[other].append(f"defines {used}()")
                todo.append((other, used))


def _glue(idx: _Index, prov: Provider, regset: set[str], own: list[str]) -> None:
    """Files of the directory that call or name a non-static function of the
    provider's own files (not of its library: a library may serve other
    drivers), or of its glue, transitively."""
    frontier = list(own)
    while frontier:
        names = {n for q in frontier if q in idx.texts for n in idx.texts[q].src.functions
                 if n not in idx.texts[q].static}
        new = []
        for q, fns in idx.uses.items():
            if q in prov.roles or q in regset or q in kapi.CORE_FILES:
                continue
            hit = sorted({u for us in fns.values() for u in us} & names)
            if hit:
                prov.files.append(q)
                prov.roles[q] = "glue"
                prov.links[q] = [f"uses {h}()" for h in hit[:5]]
                new.append(q)
        frontier = new


_PROTO_HEAD = re.compile(r"^\s*((static|extern|inline|__always_inline)\s+)*"
                         r"((const|unsigned|signed|struct|enum|union)\s+)*[A-Za-z_]\w*[\s*]+$")


def _prototype(code: str, start: int, end: int) -> bool:
    """Is the name at start..end declared (a prototype), not called?"""
    head = code[:start]
    if re.match(r"\s*(return|else|case|goto|do)\b", head) or not _PROTO_HEAD.match(head):
        return False
    return bool(re.match(r"\s*\([^;]*\)\s*;\s*$", code[end:]))


def _external_glue(k: Kernel, provs: list[Provider], exported_by: dict[str, set[str]],
                   regset: set[str]) -> None:
    """Files outside a provider's directory calling (or naming: a filter
    function) one of its exported entry points."""
    if not exported_by:
        return
    args = []
    for n in sorted(exported_by):
        args += ["-e", n]
    r = subprocess.run(["git", "-C", str(k.path), "grep", "-n", "-w", "-F", *args, "--",
                        "*.c"], capture_output=True, text=True, errors="replace")
    pat = re.compile(r"\b(" + "|".join(map(re.escape, sorted(exported_by))) + r")\b")
    byid = {p.id: p for p in provs}
    for line in r.stdout.splitlines():
        path, _, text = line.split(":", 2)
        if path in kapi.CORE_FILES or path in regset:
            continue
        code = text.split("//")[0]
        if "EXPORT_SYMBOL" in code:
            continue
        for m in pat.finditer(code):
            name = m.group(1)
            for pid in exported_by[name]:
                prov = byid[pid]
                if os.path.dirname(path) == os.path.dirname(pid):
                    continue            # the directory's own files: _glue decided
                if "filter" in name:
                    # a filter handed to dma_request_channel() (or its prototype)
                    users = prov.filter_users.setdefault(path, [])
                    if name not in users:
                        users.append(name)
                    continue
                if _prototype(code, m.start(), m.end()):
                    continue            # a prototype, not a call
                if path not in prov.roles:
                    prov.files.append(path)
                    prov.roles[path] = "external-glue"
                    prov.links[path] = []
                if prov.roles[path] == "external-glue" and \
                        f"uses {name}()" not in prov.links[path]:
                    prov.links[path].append(f"uses {name}()")
