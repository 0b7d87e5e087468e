# SPDX-License-Identifier: GPL-2.0
"""The providers audit: every DMA provider of a tree, how it delivers
client notifications, and which clients it may serve.

A provider is a caller of dma_async_device_register() or
dmaenginem_async_device_register() (discover.py: one registering file is
one provider, with its library, glue and header files).  Per provider:

- delivery.py   how it delivers (vocab.DELIVERY) and from which contexts it
                completes descriptors, each with the chain of calls from
                the root (IRQ handler, IRQ thread, tasklet, work, a client's
                own call) to the completing call;
- prepflags.py  whether each prep function stores the client's prep flags
                in tx->flags (vocab.PREP_FLAGS);
- recycle.py    whether it hands descriptors out again without
                dma_async_tx_descriptor_init() (vocab.RECYCLES);
- bare.py       whether a descriptor with no callback is signalled, on all
                paths, some, or never (vocab.BARE), with the evidence;
- tasklets.py   every tasklet it sets up, its roles and kind;
- serve.py      (with kconfig.py and dt.py) which clients it may serve;
- main.py       the audit, the join with callbacks.json and run(), imported
                only when an audit runs (an unchanged rerun copies cached
                files and needs none of it).

The facts come from cocci/dma_provider_facts.cocci (pfacts.py: one spatch
run over every provider file, through facts.py, cached per git blob),
cross-checked with the text: a function spatch could not parse is listed
and read from the text with every fact from it flagged; a descriptor field
use the typed rule missed (a type spatch could not work out) is taken from
the text and listed under type_gaps.

Writes <out>/<release>/providers.{json,csv,md} ("format":
"dmacb-providers/1", see docs/formats.md).

API for the client audit (rule 8 of the hardirq contract) and the
provider conversions:

  result = audit(k, jobs=2, use_cache=True) -> Result
      the providers of tree k (cached in the process and, for a clean tree,
      on disk per commit).  result.providers: {provider id: dict as in
      providers.json}; result.names: {id: short name}.
  serving(k, client_files, result=None) -> {file: ServeInfo}
      who may serve each client file: ServeInfo.providers (provider ids),
      .basis (vocab.SERVE_BASIS), .reasons, .excluded ({id: why not}).
  bare_completion(result, provider_id, cyclic=False) -> dict
      {"value": vocab.BARE, "why": str, "evidence": [{kind, at, function,
      what, path}]}; cyclic=False leaves out the evidence that concerns
      only cyclic descriptors.
  completion_ok(k, client_file, cyclic=False, result=None) -> (bool, list)
      rule 8: True when every provider that may serve the file signals a
      bare completion on every path; the list names each provider with its
      value and evidence (and the serving basis).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from .. import facts as factsmod
from ..kernel import Kernel
from ..util import PROJECT, cache_dir, file_digest, info, reports_dir

__all__ = ["Result", "ServeInfo", "audit", "serving", "bare_completion", "completion_ok", "files",
           "run"]

_OUTPUTS = ("providers.json", "providers.csv", "providers.md")


def tool_digest() -> str:
    here = Path(__file__).resolve().parent
    cocci = PROJECT / "cocci"
    return file_digest(sorted(here.glob("*.py")) + [cocci / "dma_provider_facts.cocci",
                                                    cocci / "dmacb-provider-macros.h",
                                                    here.parent / "facts.py",
                                                    here.parent / "csource.py",
                                                    here.parent / "vocab.py",
                                                    here.parent / "formats.py"])


# The analysis (main.py and the modules it imports) is imported when an
# audit runs, not for an unchanged rerun, which only copies the cached
# files: importing it and compiling its patterns costs a tenth of a second.

def __getattr__(name: str):
    if name in ("Result", "ServeInfo", "read_callbacks", "join"):
        from . import main
        return getattr(main, name)
    raise AttributeError(name)


def audit(k: Kernel, jobs: int = 2, use_cache: bool = True, quiet: bool = False,
          clients: list[str] | None = None):
    from . import main
    return main.audit(k, jobs, use_cache, quiet, clients)


def serving(k: Kernel, client_files: list[str], result=None):
    from . import main
    return main.serving(k, client_files, result)


def bare_completion(result, provider_id: str, cyclic: bool = False) -> dict:
    from . import main
    return main.bare_completion(result, provider_id, cyclic)


def completion_ok(k: Kernel, client_file: str, cyclic: bool = False, result=None):
    from . import main
    return main.completion_ok(k, client_file, cyclic, result)


def files(k: Kernel) -> list[str]:
    from . import main
    return main.files(k)


def _output_cache(k: Kernel, cbpath: Path) -> Path:
    raw = cbpath.read_bytes() if cbpath.exists() else b""
    key = hashlib.sha1(b"\0".join([k.head.encode(), tool_digest().encode(),
                                    str(cbpath).encode(), raw])).hexdigest()[:20]
    return cache_dir() / "providers-out" / key


def run(k: Kernel, out_root: Path | None = None, jobs: int = 2, use_cache: bool = True,
        callbacks: Path | None = None) -> int:
    """The providers audit of k: <out_root>/<release>/providers.{json,csv,md},
    joined with the client audit's callbacks.json of the same directory (or
    callbacks) when there is one.

    On a clean tree the three files are cached per commit, tool digest and
    callbacks.json: an unchanged rerun copies them."""
    t0 = time.monotonic()
    out_root = reports_dir(out_root)
    outdir = out_root / k.release
    cbpath = callbacks or outdir / "callbacks.json"
    odir = _output_cache(k, cbpath)
    if use_cache and not factsmod.changed_files(k) and all((odir / n).exists() for n in _OUTPUTS):
        outdir.mkdir(parents=True, exist_ok=True)
        for n in _OUTPUTS:
            shutil.copyfile(odir / n, outdir / n)
        info(f"providers: unchanged, {outdir} ({time.monotonic() - t0:.1f}s)")
        return 0
    from . import main
    return main.run(k, out_root, jobs, use_cache, callbacks)
