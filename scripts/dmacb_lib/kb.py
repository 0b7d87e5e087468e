# SPDX-License-Identifier: GPL-2.0
"""kb/kernel-functions.tsv, the reviewed knowledge base of kernel functions.

The C checker (checker/kb.c) reads the same file with the same rules: an
unknown class or a duplicate name is an error, never a silent "unknown".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .util import PROJECT, die

KB_FILE = PROJECT / "kb" / "kernel-functions.tsv"

CLASSES = (
    "unknown", "safe", "debug", "complete", "wake", "notify", "lock-irqsave",
    "unlock-irqrestore", "lock-irq", "irq-reenable", "lock", "unlock", "bh-lock",
    "tasklet", "work", "sleep", "sleep-gfp", "regmap", "softirq-only", "dmaengine",
)


@dataclass(frozen=True)
class Entry:
    name: str
    cls: str
    note: str
    gfp_arg: int = -1


def load(path: Path | None = None) -> dict[str, Entry]:
    path = path or Path(os.environ.get("DMACB_KB") or KB_FILE)
    kb: dict[str, Entry] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        die(f"{path}: cannot read the knowledge base ({e.strerror})")
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0]:
            die(f"{path}:{n}: expected name<TAB>class<TAB>note")
        name, cls, note = parts[0], parts[1], (parts[2] if len(parts) > 2 else "")
        if cls not in CLASSES:
            die(f"{path}:{n}: unknown class '{cls}'")
        if name in kb:
            die(f"{path}:{n}: duplicate entry '{name}'")
        gfp = -1
        if cls == "sleep-gfp":
            m = re.search(r"gfp=(\d+)", note)
            if not m:
                die(f"{path}:{n}: sleep-gfp needs gfp=N in the note")
            gfp = int(m.group(1))
        kb[name] = Entry(name, cls, note, gfp)
    return kb
