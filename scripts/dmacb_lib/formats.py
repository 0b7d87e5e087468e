# SPDX-License-Identifier: GPL-2.0
"""The stage files, as a contract: each JSON document a stage writes names
its format and version ("format": "dmacb-callbacks/2"), and every stage
reads and writes them through this module only.  docs/formats.md
describes each format.

A document of another format or version, or one without a format (written
before formats had names), is refused with one line: rerun the stage that
writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .util import die

# kind -> (current version, the stage that writes it)
FORMATS = {
    "callbacks": (2, "audit"),
    "providers": (1, "audit"),
    "convert": (2, "convert"),
    "verify": (2, "verify"),
    "verify-farm": (1, "verify"),
    "series": (1, "series"),
    "diff": (1, "diff"),
}


def name(kind: str) -> str:
    return f"dmacb-{kind}/{FORMATS[kind][0]}"


def dumps(kind: str, doc: dict, sort_keys: bool = False) -> str:
    """The document as written: "format" first, then the rest."""
    body = {k: v for k, v in doc.items() if k != "format"}
    if sort_keys:
        body = dict(sorted(body.items()))
    return json.dumps({"format": name(kind), **body}, indent=1, sort_keys=sort_keys) + "\n"


def write(path: Path, kind: str, doc: dict, sort_keys: bool = False) -> None:
    """Atomically: a reader never sees half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(kind, doc, sort_keys))
    tmp.replace(path)


def path(rdir: Path, kind: str) -> Path:
    """Where a stage file lives in a release's report directory."""
    return rdir / f"{kind}.json"


def load(path: Path, kind: str) -> dict:
    want = name(kind)
    stage = FORMATS[kind][1]
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        die(f"{path}: missing; run 'dmacb {stage}' first")
    except (OSError, ValueError) as e:
        die(f"{path}: not a readable {want} document ({e}); run 'dmacb {stage}' again")
    got = doc.get("format") if isinstance(doc, dict) else None
    if got != want:
        what = f"format {got}" if got else "no format version (written by an older dmacb)"
        die(f"{path}: {what}, expected {want}; run 'dmacb {stage}' again")
    return doc
