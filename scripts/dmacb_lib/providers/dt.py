# SPDX-License-Identifier: GPL-2.0
"""Devicetree sources: which DMA controller nodes a client's nodes name in
their dmas = <&label ...> properties.

Read from arch/*/boot/dts (the tree's .dts and .dtsi files) with two git
greps (the dmas, dma-masters and include lines; every compatible line and
its continuation lines), then locally around the lines they found: a node
is the header above a line (braces counted backwards, comments blanked)
and its own properties (braces counted forwards).  No file is parsed as a
whole: 5600 files, 40 MB.

A label is resolved only within a devicetree that contains both the
reference and the definition (a .dts and the files it includes,
transitively): 'dmac0' is a different node in every SoC.  The definitions
looked at are the nodes whose compatible a provider or a client matches
and the DMA routers (nodes with dma-masters: dmamux, crossbar), which are
followed to their masters; a label defined anywhere else is not a known
controller and is reported unresolved.  Overrides ('&uart1 { dmas = ...; };'
in a board file) count for the node they name.

What is not read: overlays outside the tree, ACPI tables, board files
(those go by filter functions), and bindings' examples (an example is not
a board).
"""

from __future__ import annotations

import bisect
import os
import re
import subprocess
from dataclasses import dataclass, field

from ..kernel import Kernel

DTS = "arch/*/boot/dts/*"


@dataclass
class Node:
    file: str
    line: int                     # the header's line
    labels: list[str]
    ref: str                      # 'uart1' for an override block '&uart1 {'
    compatible: list[str] = field(default_factory=list)
    dmas: list[str] = field(default_factory=list)           # labels
    dma_masters: list[str] = field(default_factory=list)
    dmas_line: int = 0


_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_PHANDLE = re.compile(r"&([A-Za-z_]\w*)")
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"')


def _blank(m: re.Match) -> str:
    return re.sub(r"[^\n]", " ", m.group(0))


_PUNCT = re.compile(r"[{};]")
_WANTED = re.compile(r"\s*(compatible|dmas|dma-masters)\s*=\s*", re.S)


class _File:
    """One DT source, comments blanked; string contents blanked too in a
    copy for brace counting."""

    def __init__(self, text: str):
        self.raw = _COMMENTS.sub(_blank, text)
        self.code = _STRINGS.sub(lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', self.raw)
        self.starts = [0] + [m.end() for m in re.finditer("\n", self.code)]
        self._nodes: dict[int, Node] = {}

    def _line(self, off: int) -> int:
        return bisect.bisect_right(self.starts, off)

    def header_above(self, line: int) -> int:
        """Line (1-based) of the header of the node containing line."""
        if line < 1 or line > len(self.starts):
            return 0
        code = self.code
        end = self.starts[line - 1]
        nl = code.find("\n", end)
        seg = code[end:nl if nl >= 0 else len(code)]
        end += len(seg.split("{")[0])
        depth = 0
        i = end
        while True:
            j = max(code.rfind("{", 0, i), code.rfind("}", 0, i))
            if j < 0:
                return 0
            if code[j] == "}":
                depth += 1
            elif depth == 0:
                return self._line(j)
            else:
                depth -= 1
            i = j

    def node(self, path: str, header: int) -> Node | None:
        if header in self._nodes:
            return self._nodes[header]
        if header < 1:
            return None
        start = self.starts[header - 1]
        brace = self.code.find("{", start)
        # the header: back from the brace to the previous statement's end
        hs = max(self.code.rfind(";", 0, brace), self.code.rfind("{", 0, brace),
                 self.code.rfind("}", 0, brace)) + 1
        head = " ".join(self.code[hs:brace].split())
        if head.startswith("&"):
            node = Node(path, header, [], head[1:].strip())
        else:
            parts = head.split(":")
            node = Node(path, header, [x.strip() for x in parts[:-1] if x.strip().isidentifier()],
                        "")
        depth, stmt = 0, brace + 1
        for m in _PUNCT.finditer(self.code, brace + 1):
            c = m.group(0)
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0:
                    break
                depth -= 1
                stmt = m.end()
            else:
                if depth == 0:
                    w = _WANTED.match(self.raw, stmt)
                    if w:
                        self._prop(node, w.group(1), self.raw[w.end():m.start()],
                                   self._line(w.start(1)))
                stmt = m.end()
            if c == "{" and depth == 1:
                stmt = m.end()
        self._nodes[header] = node
        return node

    @staticmethod
    def _prop(node: Node, name: str, val: str, line: int) -> None:
        if name == "compatible":
            node.compatible = re.findall(r'"([^"]*)"', val)
        elif name == "dmas":
            node.dmas = _PHANDLE.findall(val)
            node.dmas_line = line
        else:
            node.dma_masters = _PHANDLE.findall(val)


class DeviceTree:
    def __init__(self, k: Kernel):
        self.k = k
        self._files: dict[str, _File] = {}
        self.included_by: dict[str, set[str]] = {}
        self.dmas_lines: list[tuple[str, int]] = []
        self.router_lines: list[tuple[str, int]] = []
        self._units: dict[str, frozenset[str]] = {}
        self.labels: dict[str, list[Node]] = {}      # label -> controller nodes
        self._overrides: dict[str, list[Node]] | None = None
        self._scan()

    def _grep(self, args: list[str], mode: str = "-F") -> list[str] | None:
        r = subprocess.run(["git", "-C", str(self.k.path), "grep", "-n", mode, *args, "--", DTS],
                           capture_output=True, text=True, errors="replace")
        if r.returncode > 1 and mode == "-P":
            return None         # git without PCRE
        return r.stdout.splitlines()

    def _scan(self) -> None:
        inc = re.compile(r'^\s*(?:#include|/include/)\s*[<"]([^">]+)[">]')
        for ln in self._grep(["-e", "dmas", "-e", "include", "-e", "dma-masters"]) or []:
            path, no, text = ln.split(":", 2)
            m = inc.match(text)
            if m:
                if m.group(1).endswith((".dtsi", ".dts")):
                    tgt = self._resolve(path, m.group(1))
                    if tgt:
                        self.included_by.setdefault(tgt, set()).add(path)
            elif re.match(r"\s*dmas\s*=", text):
                self.dmas_lines.append((path, int(no)))
            elif re.match(r"\s*dma-masters\s*=", text):
                self.router_lines.append((path, int(no)))

    def _resolve(self, src: str, name: str) -> str | None:
        cands = [os.path.normpath(os.path.join(os.path.dirname(src), name))]
        parts = src.split("/")
        arch = parts[1] if len(parts) > 1 else ""
        cands.append(f"arch/{arch}/boot/dts/{name}")
        m = re.match(r"([a-z0-9]+)/(.*)", name)
        if m:                   # include-prefixes: <arm/...>, <arm64/...>
            cands.append(f"arch/{m.group(1)}/boot/dts/{m.group(2)}")
        for c in cands:
            if (self.k.path / c).is_file():
                return c
        return None

    def file(self, path: str) -> _File:
        if path not in self._files:
            try:
                text = (self.k.path / path).read_text(errors="replace")
            except OSError:
                text = ""
            self._files[path] = _File(text)
        return self._files[path]

    def node_of(self, path: str, line: int) -> Node | None:
        """The node a property line belongs to."""
        f = self.file(path)
        return f.node(path, f.header_above(line))

    def units(self, path: str) -> frozenset[str]:
        """The .dts files whose devicetree contains path."""
        if path in self._units:
            return self._units[path]
        out, todo, seen = set(), [path], set()
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            if p.endswith(".dts"):
                out.add(p)
            todo.extend(self.included_by.get(p, ()))
        self._units[path] = frozenset(out or {path})
        return self._units[path]

    def find_compatibles(self, compats: set[str]) -> dict[str, list[tuple[str, int]]]:
        """compatible -> (file, line) of each DT line naming it: one grep of
        every compatible line and its continuation lines (a value list may
        span lines), filtered here (a grep for hundreds of fixed strings
        costs seconds)."""
        if not compats:
            return {}
        lines = self._grep(["-e", r'^\s*(compatible\s*=\s*)?"'], "-P")
        if lines is None:
            lines = self._grep(["-e", r'^[[:space:]]*(compatible[[:space:]]*=[[:space:]]*)?"'],
                               "-E") or []
        out: dict[str, list[tuple[str, int]]] = {}
        pat = re.compile(r'"([^"]+)"')
        for ln in lines:
            path, no, text = ln.split(":", 2)
            for c in pat.findall(text):
                if c in compats:
                    out.setdefault(c, []).append((path, int(no)))
        return out

    def add_controllers(self, hits: list[tuple[str, int]]) -> None:
        """Index the labels of the nodes at these compatible lines, and of
        the DMA routers."""
        for path, line in list(hits) + self.router_lines:
            n = self.node_of(path, line)
            if n is None:
                continue
            for lb in n.labels:
                if n not in self.labels.setdefault(lb, []):
                    self.labels[lb].append(n)

    def definition(self, label: str, ref_file: str) -> list[Node]:
        """Controller nodes label names in a devicetree that contains ref_file."""
        ru = self.units(ref_file)
        return [n for n in self.labels.get(label, ()) if n.file == ref_file or
                ru & self.units(n.file)]

    def overrides(self, label: str, near: str) -> list[Node]:
        """Override blocks '&label { dmas = ... }' in a devicetree with near."""
        if self._overrides is None:
            self._overrides = {}
            for path, line in self.dmas_lines:
                n = self.node_of(path, line)
                if n is not None and n.ref:
                    if n not in self._overrides.setdefault(n.ref, []):
                        self._overrides[n.ref].append(n)
        nu = self.units(near)
        return [o for o in self._overrides.get(label, ())
                if o.file == near or nu & self.units(o.file)]
