# SPDX-License-Identifier: GPL-2.0
"""Which Kconfig symbols build a file, and on which platforms they can be
enabled for real (COMPILE_TEST aside).

- build_symbols(k, path): the CONFIG_ symbols that put path into the
  build: its own obj-$(CONFIG_X) line (through a composite object:
  mod-y += file.o, obj-$(CONFIG_X) += mod.o) and those of the directories
  above it (obj-$(CONFIG_DMADEVICES) += dma/).
- depends(k, sym): the symbol's 'depends on' expressions, with those of
  the if/menu blocks around its entry.
- Platform constraints: an expression is reduced to the platform symbols
  it requires, in conjunctive form (a list of alternatives that must all
  hold): 'depends on ARCH_MXC || COMPILE_TEST' -> [{ARCH_MXC}];
  'depends on PCI && X86_64' -> [{X86_64}]; an alternative with a
  non-platform symbol ('ARCH_X || PCI') constrains nothing.  A platform
  symbol is one defined by an architecture's Kconfig (arch/*/Kconfig*:
  ARCH_*, SOC_*, MACH_*, ARM_AMBA, ...) or an architecture itself.
- Two constraints meet when every pair of their alternatives shares an
  architecture and, where both name a known SoC vendor (a small table of
  name patterns, reviewed data), the same vendor.  Unknown = meets.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass, field

from ..kernel import Kernel

# Architectures by their own Kconfig symbol.
ARCH_SYMBOLS = {
    "ARM": {"arm"}, "ARM64": {"arm64"}, "X86": {"x86"}, "X86_64": {"x86"}, "X86_32": {"x86"},
    "PPC": {"powerpc"}, "PPC32": {"powerpc"}, "PPC64": {"powerpc"}, "MIPS": {"mips"},
    "SUPERH": {"sh"}, "RISCV": {"riscv"}, "LOONGARCH": {"loongarch"}, "M68K": {"m68k"},
    "S390": {"s390"}, "SPARC": {"sparc"}, "PARISC": {"parisc"}, "XTENSA": {"xtensa"},
    "MICROBLAZE": {"microblaze"}, "ARC": {"arc"}, "CSKY": {"csky"}, "NIOS2": {"nios2"},
    "OPENRISC": {"openrisc"}, "ALPHA": {"alpha"}, "HEXAGON": {"hexagon"}, "UML": {"um"},
    "COLDFIRE": {"m68k"},
    # not architectures, but only architectures that have them select them
    "ARM_AMBA": {"arm", "arm64"},
}

# SoC vendors by symbol name (first match).  Reviewed data: two platform
# symbols of different vendors cannot be one SoC.
VENDORS = (
    (r"MXC|IMX|MXS|VF610|LAYERSCAPE|FSL_SOC|QORIQ|LS1021A|LS10|MPC5|MPC8|PPC_MPC|E500|"
     r"FSL_|PPC_83xx|PPC_85xx|PPC_86xx", "nxp"),
    (r"RENESAS|R8A|R9A|R7S|RCAR|RZ|SHMOBILE|EMEV2|SUPERH|SH_|CPU_SH|CPU_SUBTYPE_SH", "renesas"),
    (r"QCOM|MSM", "qcom"),
    (r"EXYNOS|S3C|S5P|S5PV210|SAMSUNG", "samsung"),
    (r"ROCKCHIP", "rockchip"),
    (r"SUNXI|SUN\d|ALLWINNER", "allwinner"),
    (r"TEGRA", "nvidia"),
    (r"OMAP|DAVINCI|KEYSTONE|K3\b|ARCH_K3|TI_|AM33|AM43|DRA7", "ti"),
    (r"MEDIATEK|MTK", "mediatek"),
    (r"STM32", "st"),
    (r"U8500|NOMADIK|UX500", "st-ericsson"),
    (r"SPEAR", "st-spear"),
    (r"AT91|MICROCHIP|SAMA|SAM9", "microchip"),
    (r"BCM|BRCM", "broadcom"),
    (r"MESON", "amlogic"),
    (r"UNIPHIER|MILBEAUT", "socionext"),
    (r"ZYNQ|XILINX", "xilinx"),
    (r"PXA|MMP", "marvell-pxa"),
    (r"MVEBU|ORION|KIRKWOOD|DOVE|ARMADA|BERLIN", "marvell"),
    (r"SPRD", "unisoc"),
    (r"HISI|HI3|HIP0", "hisilicon"),
    (r"INGENIC|JZ47|MACH_JZ", "ingenic"),
    (r"LOONGSON|LS1X|LS2X|CPU_LOONGSON", "loongson"),
    (r"ACTIONS|OWL", "actions"),
    (r"EP93XX", "cirrus"),
    (r"SA1100|SA11", "intel-sa1100"),
    (r"MOXART", "moxa"),
    (r"LPC32XX|LPC18XX", "nxp-lpc"),
    (r"ASPEED", "aspeed"),
    (r"APPLE", "apple"),
    (r"ALPINE", "amazon"),
    (r"DIGICOLOR|CONEXANT", "conexant"),
    (r"REALTEK|RTD", "realtek"),
    (r"THUNDER|OCTEON|CAVIUM", "cavium"),
    (r"XGENE|APM", "apm"),
    (r"INTEL|X86|IOSF", "intel-x86"),
    (r"SOCFPGA|ALTERA", "altera"),
    (r"LGM|LANTIQ|INTEL_LGM", "intel-lgm"),
    (r"SIFIVE|STARFIVE|CANAAN", "riscv-soc"),
)


@functools.lru_cache(maxsize=None)
def vendor(sym: str) -> str | None:
    for pat, v in VENDORS:
        if re.search(pat, sym):
            return v
    return None


_PLATFORM_NAME = re.compile(r"^(ARCH|SOC|MACH|PLAT)_")
# ARCH_ symbols that are features, not platforms
_FEATURE = re.compile(r"^ARCH_(HAS|WANT|SUPPORTS|USE|HAVE|ENABLE|SELECT|MAY|DMA|PHYS|INLINE|"
                      r"STACKWALK|KEEP|SPARSEMEM|FLATMEM|MIGHT|NO|FORCE|CORRECT|SPLIT|PROC|"
                      r"MMAP|OPTIONAL|ATOMIC|HIBERNATION|SUSPEND|CPU|CLOCKSOURCE|WANTS|BINFMT|"
                      r"MULTIPLATFORM|MULTI_|NR_|FLAT|DEFCONFIG|MMAP_|UNIPHIER_LD|SPARSE|HIGHMEM|"
                      r"DISCONTIG|SELECTS|EPHEMERAL|BUG|TRACK|IRQ|PFN|HWEIGHT|GPIO|REQUIRE|"
                      r"PROVIDES|DEFAULT|DISABLE|STRICT|SYS)")


class Kconfig:
    """The tree's Kconfig symbols: where each is defined (one git grep),
    their entries (files parsed on demand), and the platform constraint of
    each symbol, following the symbols it depends on."""

    def __init__(self, k: Kernel, defs: dict[str, list[str]] | None = None):
        self.k = k
        self.defs = defs if defs is not None else kconfig_defs(k)
        self._files: dict[str, dict[str, Entry]] = {}
        self._cons: dict[str, list[frozenset[str]]] = {}
        self._arch: dict[str, set[str]] = {}
        n = len({d.split("/")[1] for fs in self.defs.values() for d in fs
                 if d.startswith("arch/")}) or 1
        self._narch = n

    def entry(self, sym: str) -> Entry | None:
        for f in self.defs.get(sym, ()):
            if f not in self._files:
                self._files[f] = kconfig_entries(self.k, [f])
            e = self._files[f].get(sym)
            if e:
                return e
        return None

    def is_platform(self, sym: str) -> bool:
        if sym in ARCH_SYMBOLS:
            return True
        if _FEATURE.match(sym):
            return False
        if _PLATFORM_NAME.match(sym):
            return sym in self.defs
        fs = self.defs.get(sym, [])
        archs = {f.split("/")[1] for f in fs if f.startswith("arch/")}
        return bool(fs) and all(f.startswith("arch/") for f in fs) and \
            len(archs) < max(3, self._narch // 2)

    def arch(self, sym: str, depth: int = 0) -> set[str]:
        if sym in ARCH_SYMBOLS:
            return set(ARCH_SYMBOLS[sym])
        if sym in self._arch:
            return self._arch[sym]
        self._arch[sym] = set()
        fs = self.defs.get(sym, [])
        out = {f.split("/")[1] for f in fs if f.startswith("arch/")}
        if not out and depth < 6:
            # an ARCH_ symbol of drivers/soc: the architectures of its depends
            e = self.entry(sym)
            for c in constraint(e.depends if e else [], self, depth + 1):
                for a in c - _FALSE:
                    out |= self.arch(a, depth + 1)
        self._arch[sym] = out
        return out

    def symbol_constraint(self, sym: str, depth: int = 0) -> list[frozenset[str]]:
        if sym in self._cons:
            return self._cons[sym]
        self._cons[sym] = []            # recursion guard
        e = self.entry(sym) if depth < 8 else None
        got = constraint(e.depends, self, depth + 1) if e else []
        self._cons[sym] = got
        return got


def kconfig_defs(k: Kernel) -> dict[str, list[str]]:
    """Symbol -> the Kconfig files defining it (one git grep of the tree)."""
    r = subprocess.run(["git", "-C", str(k.path), "grep", "-n", "-E",
                        r"^[[:space:]]*(menu)?config[[:space:]]+[A-Za-z0-9_]+", "--",
                        "*Kconfig*"], capture_output=True, text=True)
    defs: dict[str, list[str]] = {}
    for line in r.stdout.splitlines():
        path, _, text = line.split(":", 2)
        m = re.match(r"\s*(?:menu)?config\s+([A-Za-z0-9_]+)", text)
        if m and path not in defs.get(m.group(1), ()):
            defs.setdefault(m.group(1), []).append(path)
    return defs


# -- Makefiles -----------------------------------------------------------------

_MAKEFILES: dict[tuple[str, str], list[tuple[str, str | None, list[str]]]] = {}
_BUILD: dict[tuple[str, str], list[str]] = {}
_OBJ = re.compile(r"^\s*([\w-]+?)-(\$\(CONFIG_(\w+)\)|y|objs|m)\s*[:+]?=\s*(.*)$")


def _makefile(k: Kernel, d: str) -> list[tuple[str, str | None, list[str]]]:
    """(lhs, CONFIG symbol or None, words) of each assignment of d's Makefile."""
    key = (str(k.path), d)
    if key not in _MAKEFILES:
        out = []
        for name in ("Makefile", "Kbuild"):
            p = k.path / d / name
            if p.exists():
                text = p.read_text(errors="replace").replace("\\\n", " ")
                for ln in text.splitlines():
                    m = _OBJ.match(ln.split("#", 1)[0])
                    if m:
                        out.append((m.group(1), m.group(3), m.group(4).split()))
                break
        _MAKEFILES[key] = out
    return _MAKEFILES[key]


def build_symbols(k: Kernel, path: str) -> list[str]:
    """CONFIG_ symbols (without the prefix) that build path."""
    key = (str(k.path), path)
    if key in _BUILD:
        return _BUILD[key]
    d, name = os.path.split(path)
    obj = name[:-2] + ".o" if name.endswith(".c") else name
    syms: list[str] = []
    lines = _makefile(k, d)
    targets = {obj}
    for _ in range(3):          # composite objects, nested
        found = set()
        for lhs, sym, words in lines:
            if not targets & set(words):
                continue
            if lhs != "obj":
                found.add(lhs + ".o")
            if sym:
                syms.append(sym)
        if not found:
            break
        targets = found
    # the directories above
    parts = d.split("/")
    for i in range(len(parts) - 1, 0, -1):
        parent = "/".join(parts[:i])
        sub = parts[i] + "/"
        for lhs, sym, words in _makefile(k, parent):
            if lhs == "obj" and sub in words and sym:
                syms.append(sym)
    _BUILD[key] = list(dict.fromkeys(syms))
    return _BUILD[key]


# -- Kconfig -----------------------------------------------------------------

@dataclass
class Entry:
    sym: str
    file: str
    line: int
    depends: list[str] = field(default_factory=list)


_ENTRY_END = re.compile(r"^(config|menuconfig|choice|endchoice|menu|endmenu|if|endif|source|"
                        r"comment|mainmenu)\b")


def kconfig_entries(k: Kernel, paths: list[str]) -> dict[str, Entry]:
    """config entries of the given Kconfig files, with the depends of the
    if/menu blocks around them."""
    out: dict[str, Entry] = {}
    for p in paths:
        try:
            raw = (k.path / p).read_text(errors="replace")
        except OSError:
            continue
        text = raw.replace("\\\n", " ")
        stack: list[tuple[str, str]] = []       # ('if'|'menu', expr)
        cur: Entry | None = None
        in_help = False
        help_indent = 0
        for i, ln in enumerate(text.splitlines(), 1):
            s = ln.split("#", 1)[0].rstrip() if not in_help else ln.rstrip()
            if in_help:
                if ln.strip() and (len(ln) - len(ln.lstrip())) < help_indent and \
                        not ln.startswith((" ", "\t")):
                    in_help = False
                elif ln.strip() and _ENTRY_END.match(ln):
                    in_help = False
                else:
                    if ln.strip() and help_indent == 0:
                        help_indent = len(ln.expandtabs()) - len(ln.expandtabs().lstrip())
                    continue
            st = s.strip()
            if not st:
                continue
            if _ENTRY_END.match(s):
                cur = None
                m = re.match(r"(menu)?config\s+(\w+)", s)
                if m:
                    cur = Entry(m.group(2), p, i, [e for _, e in stack if e])
                    out.setdefault(cur.sym, cur)
                elif s.startswith("if "):
                    stack.append(("if", s[3:].strip()))
                elif s.startswith("endif"):
                    while stack and stack[-1][0] != "if":
                        stack.pop()
                    if stack:
                        stack.pop()
                elif s.startswith("menu ") or s.startswith("menu\t"):
                    stack.append(("menu", ""))
                elif s.startswith("endmenu"):
                    while stack and stack[-1][0] != "menu":
                        stack.pop()
                    if stack:
                        stack.pop()
                continue
            if st.startswith("depends on"):
                expr = st[len("depends on"):].strip()
                if cur is not None:
                    cur.depends.append(expr)
                elif stack and stack[-1][0] == "menu":
                    stack[-1] = ("menu", (stack[-1][1] + " && " if stack[-1][1] else "") +
                                 f"({expr})")
            elif st in ("help", "---help---"):
                in_help = True
                help_indent = 0
    return out


def kconfig_files(k: Kernel, dirs: list[str]) -> list[str]:
    """Kconfig files of these directories and their parents."""
    out = set()
    for d in dirs:
        parts = d.split("/")
        for i in range(len(parts), 0, -1):
            dd = "/".join(parts[:i])
            try:
                names = os.listdir(k.path / dd)
            except OSError:
                continue
            out |= {f"{dd}/{n}" for n in names if n.startswith("Kconfig")}
    return sorted(out)


# -- platform constraints ------------------------------------------------------

_TOK = re.compile(r"\s*(\|\||&&|!=|!|\(|\)|=|[A-Za-z0-9_]+|\"[^\"]*\"|'[^']*'|\S)")


def _parse(expr: str):
    toks = [t for t in _TOK.findall(expr) if t]
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def orx():
        n = andx()
        while peek() == "||":
            take()
            n = ("or", n, andx())
        return n

    def andx():
        n = notx()
        while peek() == "&&":
            take()
            n = ("and", n, notx())
        return n

    def notx():
        if peek() == "!":
            take()
            return ("not", notx())
        return prim()

    def prim():
        t = peek()
        if t is None:
            return ("sym", "")
        if t == "(":
            take()
            n = orx()
            if peek() == ")":
                take()
            return n
        take()
        if peek() in ("=", "!="):
            op = take()
            rhs = take() if peek() is not None else ""
            return ("cmp", t, op, rhs)
        return ("sym", t)

    return orx()


def constraint(exprs: list[str], kc: "Kconfig", depth: int = 0) -> list[frozenset[str]]:
    """The platform alternatives the expressions require (all must hold)."""
    out: list[frozenset[str]] = []
    for e in exprs:
        out += _cnf(_parse(e), kc, depth)
    seen, res = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            res.append(c)
    return res


_FALSE = frozenset({"<false>"})


def _cnf(n, kc: "Kconfig", depth: int) -> list[frozenset[str]]:
    kind = n[0]
    if kind == "sym":
        s = n[1]
        if s == "COMPILE_TEST":
            return [_FALSE]
        if not s or s in ("y", "m", "n"):
            return []
        if kc.is_platform(s):
            return [frozenset({s})]
        # a symbol that depends on platforms itself (SH_DMAE -> SH_DMAE_BASE
        # -> SUPERH)
        return kc.symbol_constraint(s, depth) if depth < 8 else []
    if kind in ("cmp", "not"):
        return []
    if kind == "and":
        return _cnf(n[1], kc, depth) + _cnf(n[2], kc, depth)
    if kind == "or":
        a, b = _cnf(n[1], kc, depth), _cnf(n[2], kc, depth)
        if not a or not b:
            return []
        # (a1 & a2) | (b1 & b2): approximated by the union of all atoms
        atoms = frozenset().union(*a, *b) - _FALSE
        return [atoms] if atoms else [_FALSE]
    return []


def meets(p: list[frozenset[str]], c: list[frozenset[str]], kc: "Kconfig") -> str | None:
    """None when the two constraints can hold together, else why not."""
    for pa in p:
        pa = pa - _FALSE
        if not pa:
            continue
        for ca in c:
            ca = ca - _FALSE
            if not ca:
                continue
            if not any(_atoms_meet(x, y, kc) for x in pa for y in ca):
                return f"it needs {' or '.join(sorted(pa))}, the client " \
                       f"{' or '.join(sorted(ca))}"
    return None


def _atoms_meet(a: str, b: str, kc: "Kconfig") -> bool:
    if a == b:
        return True
    aa, ab = kc.arch(a), kc.arch(b)
    if aa and ab and not (aa & ab):
        return False
    if a in ARCH_SYMBOLS or b in ARCH_SYMBOLS:
        return True         # an architecture meets any SoC of it
    va, vb = vendor(a), vendor(b)
    if va and vb and va != vb:
        return False
    return True
