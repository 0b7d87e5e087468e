# SPDX-License-Identifier: GPL-2.0
"""upstream: what of the conversion a tree already has (carry-forward).

On a tree where part of the work has landed, three things are recognised
so that nothing is converted twice:

  - the helper-API series: each patch is present (it reverse-applies),
    missing (it applies) or different (neither: another or an older
    version of the API, which is never converted on top of);
  - client callbacks already marked: the function holding the callback
    assignment passes DMA_PREP_HARDIRQ_CALLBACK or DMA_PREP_TASK_CALLBACK;
  - client descriptors already on a completion: dmaengine_desc_set_completion()
    outside drivers/dma (the callback such a patch removed is gone from the
    tree, so these are sites, not callbacks).

The API check runs 'git apply --cached' against a temporary index read
from the commit: neither the user's index nor the work tree is touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import csource, delivery
from .kernel import Kernel
from .util import PROJECT

FLAGS = {"DMA_PREP_HARDIRQ_CALLBACK": "hardirq", "DMA_PREP_TASK_CALLBACK": "task"}

# The API's states, in the order a report lists them.
API_STATES = ("absent", "partial", "present", "different")


@dataclass
class ApiState:
    state: str                                  # one of API_STATES
    present: list[str] = field(default_factory=list)    # patch file names
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    series: str = ""                            # the series' directory

    def line(self) -> str:
        """One line for a report."""
        n = len(self.present) + len(self.missing) + len(self.different)
        if not self.series:
            return "helper API: dmacb has no series for this release"
        if self.state == "absent":
            return f"helper API: not in the tree ({n} patches of {self.series} to send)"
        if self.state == "present":
            return f"helper API: the tree has all {n} patches of {self.series}; none is sent"
        if self.state == "partial":
            return (f"helper API: the tree has {len(self.present)} of the {n} patches of "
                    f"{self.series}; only the other {len(self.missing)} are sent")
        return (f"helper API: the tree carries a different helper API ({len(self.different)} "
                f"of the {n} patches of {self.series} neither apply nor are present, first "
                f"{self.different[0]}): an earlier version of dmacb's patches or another "
                f"series; nothing is converted on top of it")

    @classmethod
    def from_dict(cls, d: dict) -> "ApiState":
        return cls(d["state"], list(d["present"]), list(d["missing"]), list(d["different"]),
                   d["series"])

    def as_dict(self) -> dict:
        return {"state": self.state, "series": self.series, "present": self.present,
                "missing": self.missing, "different": self.different}


def series_patches(release: str) -> list[Path]:
    """The helper-API series convert would apply to this release (none
    when the project has none for it)."""
    d = delivery.api_dir(release)
    return sorted(d.glob("*.patch")) if d and d.is_dir() else []


def series_name(patches: list[Path]) -> str:
    """The series' directory as reports name it (relative to the project)."""
    if not patches:
        return ""
    d = patches[0].parent
    return str(d.relative_to(PROJECT)) if d.is_relative_to(PROJECT) else str(d)


def _apply(env: dict, cwd: Path, patch: Path, *extra: str) -> bool:
    return subprocess.run(["git", "apply", "--cached", *extra, str(patch)], cwd=cwd, env=env,
                          capture_output=True).returncode == 0


def api_state(k: Kernel, patches: list[Path], rev: str | None = None) -> ApiState:
    """Which patches of the series the tree's commit (HEAD) has.

    Two passes on a temporary index.  Newest first, each patch that
    reverse-applies is taken out, so that an older patch is tried in the
    context it was made in (later API patches and driver patches touch the
    same files).  Then oldest first on what is left: a patch taken out is
    present (and is put back), one that applies is missing (and is applied,
    for its successors), one that does neither differs."""
    st = ApiState("absent", series=series_name(patches))
    with tempfile.TemporaryDirectory(prefix="dmacb-api-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        # an index of only the files the series touches: a whole tree's
        # read-tree costs more than all the checks
        ls = subprocess.run(["git", "ls-tree", "-r", "--full-tree", rev or k.head, "--",
                             *sorted(series_files(patches))], cwd=k.path, check=True,
                            capture_output=True, text=True).stdout
        subprocess.run(["git", "update-index", "--index-info"], cwd=k.path, env=env,
                       input=ls, check=True, capture_output=True, text=True)
        out = set()
        for p in reversed(patches):
            if _apply(env, k.path, p, "-R"):
                out.add(p.name)
        for p in patches:
            if p.name in out:
                _apply(env, k.path, p)
                st.present.append(p.name)
            elif _apply(env, k.path, p):
                st.missing.append(p.name)
            else:
                st.different.append(p.name)
    if st.different:
        st.state = "different"
    elif st.present and st.missing:
        st.state = "partial"
    elif st.present:
        st.state = "present"
    elif _has_api_words(k):
        # every patch applies, yet dmaengine.h knows the flag: someone
        # else's API under our names; converting would define it twice
        st.state, st.different = "different", ["include/linux/dmaengine.h"]
    return st


def _has_api_words(k: Kernel) -> bool:
    h = k.path / "include" / "linux" / "dmaengine.h"
    try:
        text = csource.strip_comments(h.read_text(errors="replace"))
    except OSError:
        return False
    return bool(re.search(r"\bDMA_PREP_HARDIRQ_CALLBACK\b", text))


def site_flag(src: csource.Source, fn: str) -> str:
    """'hardirq' or 'task' when fn's body (comments and strings blanked)
    names the flag, else ''.  src: csource.parse() of the file (a text
    search for the definition would take `if (fn(x)) {` for one)."""
    f = src.functions.get(fn)
    if f is None:
        return ""
    for flag, action in FLAGS.items():
        if re.search(rf"\b{flag}\b", f.body):
            return action
    return ""


def callback_flags(k: Kernel, sites_by_file: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """(file, function holding an assignment) -> the flag it passes."""
    out = {}
    for f, fns in sites_by_file.items():
        try:
            src = csource.parse((k.path / f).read_text(errors="replace"))
        except OSError:
            continue
        for fn in fns:
            a = site_flag(src, fn)
            if a:
                out[(f, fn)] = a
    return out


def completions(k: Kernel) -> list[dict]:
    """Every dmaengine_desc_set_completion() of a client (outside
    drivers/dma): file, line, the function holding it, the completion."""
    r = subprocess.run(["git", "grep", "-l", "-w", "dmaengine_desc_set_completion",
                        "--", "*.c", ":!drivers/dma", ":!Documentation"],
                       cwd=k.path, capture_output=True, text=True)
    out = []
    for f in r.stdout.split():
        src = csource.parse((k.path / f).read_text(errors="replace"))
        for m in re.finditer(r"\bdmaengine_desc_set_completion\s*\(", src.text):
            line = src.text.count("\n", 0, m.start()) + 1
            fn = next((n for n, d in src.functions.items() if d.line <= line <= d.end), "")
            args = csource.split_args(csource.parenthesised(src.text, m.end() - 1))
            out.append({"file": f, "line": line, "function": fn,
                        "completion": " ".join(args[1].split()) if len(args) > 1 else ""})
    return out


def series_files(patches: list[Path]) -> set[str]:
    """The files a series writes (its '+++ b/' lines)."""
    out = set()
    for p in patches:
        out |= set(re.findall(r"^\+\+\+ b/(\S+)", p.read_text(errors="replace"), re.M))
    return out


def chan_notify_users(tree: Path, rev: str, api: set[str]) -> list[str]:
    """drivers/dma files outside the API series that already deliver
    through the core's per-channel path (a provider tasklet moved by an
    earlier conversion)."""
    r = subprocess.run(["git", "grep", "-l", "-w", "dmaengine_chan_notify_init", rev, "--",
                        "drivers/dma/*.c"], cwd=tree, capture_output=True, text=True)
    return sorted(f for f in (h.split(":", 1)[1] for h in r.stdout.split()) if f not in api)
