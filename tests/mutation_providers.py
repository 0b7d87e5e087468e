#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Mutation check of tests/test_providers.py: remove one rule of the
providers audit at a time, run the tests, expect a failure, restore.

    /usr/bin/python3 tests/mutation_providers.py

Prints one line per mutation (the tests that failed) and exits 1 if any
mutation left every test passing.  Not part of 'make check' (each run of
the suite takes a few seconds; 17 mutations take a minute).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "scripts" / "dmacb_lib" / "providers"

# (name, file, text, replacement)
MUTATIONS = [
    ("thread fn counted as the hard handler", "kapi.py",
     '"request_threaded_irq": (1, 2, "hardirq")', '"request_threaded_irq": (1, None, "hardirq")'),
    ("no direct-call detection", "delivery.py",
     'if how == "call":', 'if False:'),
    ("direct copy-then-call missed", "delivery.py",
     "if callee in local_copies:", "if False:"),
    ("no guard on ->callback", "bare.py",
     'if source.use_context(t, u["line"], u["col"], u["field"]) != "test":',
     'if True:'),
    ("no copy evidence", "bare.py", "if copied:", "if False:"),
    ("masked flags counted as full", "source.py",
     'masked = not after[1:].lstrip().startswith("~")', 'masked = False'),
    ("vchan_tx_prep not a flags sink", "prepflags.py",
     "if callee == kapi.VCHAN_TX_PREP and not indirect:", "if False:"),
    ("constant flags store not replacing", "prepflags.py",
     'if depth == 0 or (source.idents(rhs) & params):', 'if False:'),
    ("every prep initialises", "recycle.py",
     "if always(p):", "if True:"),
    ("no return-before rule", "source.py",
     '            return "return before (line %d)"', '            pass  # '),
    ("no starts-next role", "tasklets.py",
     'if why and _writes(prog, writes_memo, f):', 'if False:'),
    ("no error-recovery role", "tasklets.py",
     '_ERR = re.compile(r"(^|_)(err\\w*|reset|abort|fault|timeout|recover\\w*)(_|$)", re.I)',
     '_ERR = re.compile(r"(?!)")'),
    ("no devicetree", "serve.py",
     "dtres = self._devicetree(clients) if self.dt else {}", "dtres = {}"),
    ("no filter users", "serve.py",
     "if q in p.filter_users:", "if False:"),
    ("Kconfig always meets", "kconfig.py",
     "if not any(_atoms_meet(x, y, kc) for x in pa for y in ca):", "if False:"),
    ("no client-call roots", "graph.py",
     "if fld.startswith(kapi.PREP_PREFIX) or fld in kapi.CLIENT_FIELDS:", "if False:"),
    ("no glue files", "discover.py",
     "if hit:\n                prov.files.append(q)", "if False:\n                prov.files.append(q)"),
    ("no forced type headers", "pfacts.py",
     '        opts += ["--include", str(k.path / h)]', '        pass'),
    ("unparsed functions dropped", "graph.py",
     "                self.unparsed.append(fn)\n                self._from_text(fn, t, f)",
     "                continue"),
]


def main() -> int:
    survived = []
    for name, fname, old, new in MUTATIONS:
        path = PKG / fname
        orig = path.read_text()
        if old not in orig:
            print(f"?? {name}: pattern not found in {fname}")
            survived.append(name)
            continue
        path.write_text(orig.replace(old, new, 1))
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                str(ROOT / "tests" / "test_providers.py")],
                               capture_output=True, text=True, cwd=ROOT)
        finally:
            path.write_text(orig)
        failed = [ln.split("::")[-1].split(" ")[0] for ln in r.stdout.splitlines()
                  if ln.startswith("FAILED")]
        if r.returncode == 0:
            print(f"SURVIVED {name}")
            survived.append(name)
        else:
            print(f"killed   {name}: {', '.join(failed) or r.stdout.strip().splitlines()[-1]}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
