# SPDX-License-Identifier: GPL-2.0
"""The provider facts pass: cocci/dma_provider_facts.cocci over every
provider file, in one spatch run, through facts.py's machinery (one file
per group, --jobs, cached per file on git blob ids, give-ups never cached).

Types: spatch reads the headers next to a file (its local includes).  A
provider whose descriptor struct embeds struct dma_async_tx_descriptor in
a header under include/ (shdma-base.h) would hide its uses from the typed
rules; such headers (those that declare a descriptor member by value and
that a provider file includes) are forced in with --include, for types
only.  Their blob ids are part of the cache key.
"""

from __future__ import annotations

import re
import subprocess

from .. import facts as factsmod
from ..kernel import Kernel
from ..util import PROJECT, file_digest

COCCI = PROJECT / "cocci" / "dma_provider_facts.cocci"
# scoped_guard() bodies are otherwise lost with their function (loongson1,
# rz-dmac, dw-edma in 6.12)
MACROS = PROJECT / "cocci" / "dmacb-provider-macros.h"

_MEMBER_RE = re.compile(r"^\s*struct dma_async_tx_descriptor\s+[A-Za-z_]\w*;")


def type_headers(k: Kernel) -> list[str]:
    """Headers under include/ that declare a descriptor member by value (a
    fixed-string grep, the exact pattern checked here: git's -E is slow)."""
    r = subprocess.run(["git", "-C", str(k.path), "grep", "-n", "-F",
                        "struct dma_async_tx_descriptor ", "--", "include/*.h"],
                       capture_output=True, text=True, errors="replace")
    out = set()
    for line in r.stdout.splitlines():
        path, _, text = line.split(":", 2)
        if _MEMBER_RE.match(text):
            out.add(path)
    return sorted(out)


def forced(k: Kernel, headers: list[str], includes: set[str]) -> list[str]:
    """The type headers some provider file includes (<linux/shdma-base.h>)."""
    out = []
    for h in headers:
        rel = h[len("include/"):] if h.startswith("include/") else h
        if rel in includes:
            out.append(h)
    return out


def options(k: Kernel, headers: list[str]) -> tuple[str, ...]:
    # --recursive-includes: local headers of local headers (dw/core.c gets
    # struct dw_desc from regs.h through internal.h); without -I no header
    # under include/ is found, so it costs nothing measurable
    opts: list[str] = ["--macro-file", str(MACROS), "--recursive-includes"]
    for h in headers:
        opts += ["--include", str(k.path / h)]
    opts.append("--include-headers-for-types")
    return tuple(opts)


def salt(k: Kernel, headers: list[str]) -> str:
    ids = factsmod.blob_ids(k, headers)
    return "\0".join([file_digest([MACROS])] + [f"{h}={ids.get(h, '')}" for h in headers])


def spatch(jobs: int, opts: tuple[str, ...]) -> factsmod.Spatch:
    return factsmod.Spatch(jobs, COCCI, opts)


def collect(k: Kernel, paths: list[str], jobs: int, use_cache: bool, headers: list[str],
            texts=None, sp: factsmod.Spatch | None = None, quiet: bool = False):
    return factsmod.collect(k, paths, jobs, use_cache, texts=texts, quiet=quiet, spatch=sp,
                            cocci=COCCI, opts=options(k, headers), salt=salt(k, headers))


def uncached(k: Kernel, paths: list[str], use_cache: bool, headers: list[str]) -> list[str]:
    return factsmod.uncached(k, paths, use_cache, COCCI, options(k, headers), salt(k, headers))


def text_facts(texts: dict, paths: list[str]) -> dict[str, factsmod.FileFacts]:
    """The text half of the facts (facts.read_text_facts) from the texts the
    providers audit has read already (no second csource parse)."""
    from .. import csource
    out = {}
    for p in paths:
        t = texts.get(p)
        if t is None:
            continue
        src = t.src
        out[p] = factsmod.FileFacts(
            path=p, blob="", functions={n: [f.line, f.end] for n, f in src.functions.items()},
            macros=src.macros, inits=[list(x) for x in csource.initialiser_stores(src.text)],
            grep_sites=[list(x) for x in csource.site_lines(src.text)])
    return out
