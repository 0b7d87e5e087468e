# SPDX-License-Identifier: GPL-2.0
"""Reachability: every function a callback may run, every edge between them.

Breadth first from the callback, so the path kept for each function (for
the evidence) is a shortest one; but every call edge between reachable
functions is kept as well, so that what depends on the caller (a gfp
parameter) is judged for every caller, not the first one found.  The
checker does the same (checker/reach.c).
"""

from __future__ import annotations

from collections import defaultdict

from .effects import Effect, Effects

Node = tuple[str, str]          # (file, function)


class Reach:
    def __init__(self, eff: Effects, root: Node):
        self.eff = eff
        self.root = root
        self.order: list[Node] = [root]
        self.parent: dict[Node, Effect | None] = {root: None}
        self.callers: dict[Node, list[Effect]] = defaultdict(list)
        # per function: the lines of the calls in the callback's own body
        # through which it is reached (the shape looks at them)
        self.tops: dict[Node, set[int]] = defaultdict(set)
        q = 0
        while q < len(self.order):
            n = self.order[q]
            q += 1
            for e in eff.of(*n):
                if e.cls != "edge" or e.target is None:
                    continue
                t = e.target
                self.callers[t].append(e)
                if t not in self.parent:
                    self.parent[t] = e
                    self.order.append(t)
        # tops: a fixed point over the edges (the graph is small)
        for e in eff.of(*root):
            if e.cls == "edge" and e.target:
                self.tops[e.target].add(e.line)
        changed = True
        while changed:
            changed = False
            for n in self.order:
                for e in eff.of(*n):
                    if e.cls == "edge" and e.target and n != root:
                        before = len(self.tops[e.target])
                        self.tops[e.target] |= self.tops[n]
                        changed |= len(self.tops[e.target]) != before

    def __contains__(self, n: Node) -> bool:
        return n in self.parent

    def path(self, n: Node) -> list[str]:
        """Names from the callback to n, as the evidence shows them."""
        out = []
        while True:
            e = self.parent[n]
            if e is None:
                out.append(n[1])
                break
            out.append(e.name)
            n = (e.file, e.fn)
        return out[::-1]

    def effects(self):
        """(node, effect) for every effect of every reachable function."""
        for n in self.order:
            for e in self.eff.of(*n):
                yield n, e

    def top_lines(self, n: Node, e: Effect) -> set[int]:
        """Lines in the callback's body that lead to effect e of n."""
        return {e.line} if n == self.root else self.tops[n]
