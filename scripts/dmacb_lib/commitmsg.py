# SPDX-License-Identifier: GPL-2.0
"""Subjects and bodies of the per-driver commits.

The subject prefix is what recent commits touching the file used (git
history); a tree without history (a Debian tarball) falls back to the
reviewed per-directory table below.  Bodies are plain kernel English,
wrapped at 75 columns, one paragraph per group.
"""

from __future__ import annotations

import collections
import re
import subprocess
import textwrap
from pathlib import Path, PurePosixPath

# (directory prefix, subject prefix; {name} is the file's base name with a
# subsystem prefix such as 'spi-' or 'i2c-' removed).  First match wins.
PREFIX_TABLE: list[tuple[str, str]] = [
    ("drivers/spi/", "spi: {name}:"),
    ("drivers/tty/serial/", "serial: {name}:"),
    ("drivers/mmc/host/", "mmc: {name}:"),
    ("drivers/i2c/busses/", "i2c: {name}:"),
    ("drivers/crypto/", "crypto: {name} -"),
    ("drivers/mtd/nand/raw/", "mtd: rawnand: {name}:"),
    ("drivers/mtd/nand/onenand/", "mtd: onenand: {name}:"),
    ("drivers/mtd/", "mtd: {name}:"),
    ("drivers/media/", "media: {name}:"),
    ("drivers/iio/adc/", "iio: adc: {name}:"),
    ("drivers/iio/buffer/", "iio: buffer-dmaengine:"),
    ("drivers/iio/", "iio: {name}:"),
    ("sound/soc/", "ASoC: {name}:"),
    ("sound/", "ALSA: {name}:"),
    ("drivers/net/wwan/", "net: wwan: {name}:"),
    ("drivers/net/", "net: {name}:"),
    ("drivers/ata/", "ata: {name}:"),
    ("drivers/ntb/", "NTB: {name}:"),
    ("drivers/pci/endpoint/", "PCI: endpoint: {name}:"),
    ("drivers/slimbus/", "slimbus: {name}:"),
    ("drivers/soc/tegra/", "soc/tegra: {name}:"),
    ("drivers/usb/", "usb: {name}:"),
    ("drivers/gpu/drm/", "drm/{name}:"),
    ("drivers/fpga/", "fpga: {name}:"),
    ("drivers/misc/", "misc: {name}:"),
    ("drivers/input/", "Input: {name} -"),
    ("drivers/dma/", "dmaengine: {name}:"),
    ("drivers/", "{dir}: {name}:"),
    ("arch/arm/", "ARM: {name}:"),
    ("arch/powerpc/", "powerpc: {name}:"),
    ("arch/", "{dir}: {name}:"),
]

# Files whose subsystem uses a name other than the file's (checked
# against each subsystem's recent history upstream).
FILE_PREFIX = {
    "drivers/mtd/nand/raw/atmel/nand-controller.c": "mtd: rawnand: atmel:",
    "drivers/mtd/nand/raw/cadence-nand-controller.c": "mtd: rawnand: cadence:",
    "drivers/mtd/nand/raw/gpmi-nand/gpmi-nand.c": "mtd: rawnand: gpmi:",
    "drivers/pci/endpoint/functions/pci-epf-mhi.c": "PCI: epf-mhi:",
    "drivers/spi/spi-dw-dma.c": "spi: dw:",
    "drivers/tty/serial/atmel_serial.c": "tty: serial: atmel:",
    "drivers/iio/buffer/industrialio-buffer-dmaengine.c": "iio: buffer-dmaengine:",
    "drivers/crypto/starfive/jh7110-aes.c": "crypto: starfive -",
    "drivers/crypto/starfive/jh7110-hash.c": "crypto: starfive -",
    "drivers/crypto/stm32/stm32-hash.c": "crypto: stm32/hash -",
    "drivers/dma/ppc4xx/adma.c": "dmaengine: ppc4xx:",
    "drivers/dma/tegra20-apb-dma.c": "dmaengine: tegra-apb:",
}

_STRIP = re.compile(r"^(spi|i2c|mmc|serial)[-_]")


def table_prefix(path: str) -> str:
    if path in FILE_PREFIX:
        return FILE_PREFIX[path]
    p = PurePosixPath(path)
    name = _STRIP.sub("", p.stem)
    parts = p.parts
    top = parts[1] if len(parts) > 2 else parts[0]
    for d, fmt in PREFIX_TABLE:
        if path.startswith(d):
            return fmt.format(name=name, dir=top)
    return f"{top}: {name}:"


def history_prefix(tree: Path, path: str, base: str) -> str | None:
    """The prefix most used by the last 30 commits touching the file."""
    r = subprocess.run(["git", "-C", str(tree), "log", "-n", "30", "--no-merges",
                        "--format=%s", base, "--", path], capture_output=True, text=True)
    counts: collections.Counter[str] = collections.Counter()
    for s in r.stdout.splitlines():
        m = re.match(r"^((?:[\w./+-]+(?:: | - ))+)", s)
        if m and not s.startswith(("Merge", "Revert")):
            counts[m.group(1).strip()] += 1
    if not counts:
        return None
    return counts.most_common(1)[0][0]


def prefix(tree: Path, paths: list[str], base: str) -> tuple[str, str]:
    """(prefix, 'history' | 'table') for a commit touching `paths`."""
    got = history_prefix(tree, paths[0], base)
    if got:
        return got, "history"
    return table_prefix(paths[0]), "table"


def _para(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=75, break_long_words=False,
                         break_on_hyphens=False)


def _names(cbs: list[str]) -> str:
    names = [f"{c}()" for c in cbs]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


WHY = ("Completion callbacks of dmaengine clients run from a tasklet today, "
       "and tasklets are deprecated.")


def contract(locked: bool) -> str:
    """What the audit proved of a flagged callback: rules 3 and 6 only
    where a provider may run it with a lock held (delivery.py)."""
    return ("none of what the hardirq contract forbids: no call that may sleep, no "
            "bottom-half lock and no lock also taken elsewhere with interrupts enabled, "
            + ("no dmaengine call, " if locked else "")
            + "nothing that needs softirq context, no re-enabling of interrupts, "
            + ("no lock that other code of the file holds across dmaengine calls, "
               if locked else "")
            + "no polling bounded by time")


UNLOCKED = ("Every provider that may serve the driver delivers it with no provider "
            "lock held and outside the driver's own dmaengine calls, so the dmaengine "
            "calls it makes and the locks it shares with code that calls dmaengine are "
            "allowed there.")


def message(prefix: str, conv: list[dict], delivery: str = "") -> str:
    """Commit message for one driver; `conv` are its converted callbacks.

    It says what was proved and nothing more: what the audit found in the
    callbacks (verify's own findings go below the '---' line of the
    series, not here), and `delivery`, a paragraph on which providers can
    serve the driver and what they do with the flag or the completion
    (delivery.py), when that is known."""
    by_action: dict[str, list[dict]] = collections.defaultdict(list)
    for c in conv:
        by_action[c["action"]].append(c)
    if set(by_action) == {"completion"}:
        subject = f"{prefix} use a dmaengine descriptor completion"
    elif set(by_action) == {"hardirq"}:
        subject = f"{prefix} mark the DMA callback{'s' if len(conv) > 1 else ''} hardirq-safe"
    elif set(by_action) == {"task"}:
        subject = f"{prefix} ask for a task-context DMA callback"
    else:
        subject = f"{prefix} move DMA callbacks to the new dmaengine contexts"
    paras = [WHY]
    comp = by_action.get("completion", [])
    if comp:
        deleted = [c["callback"] for c in comp if c.get("deleted")]
        kept = [c["callback"] for c in comp if not c.get("deleted")]
        exprs = sorted({e for c in comp for e in c.get("completions", [])})
        t = (f"{_names([c['callback'] for c in comp])} "
             f"{'does' if len(comp) == 1 else 'do'} nothing but complete() a completion. "
             f"Let the dmaengine core signal it instead, with "
             f"dmaengine_desc_set_completion({exprs[0] if len(exprs) == 1 else ''}).")
        if deleted:
            t += f" {_names(deleted)} {'is' if len(deleted) == 1 else 'are'} no longer used and removed."
        if kept:
            t += (f" {_names(kept)} {'stays' if len(kept) == 1 else 'stay'}: still used "
                  f"elsewhere in the file.")
        paras.append(t)
    hard = by_action.get("hardirq", [])
    if hard:
        groups = collections.defaultdict(list)
        for c in hard:
            groups[(c["group"], c.get("locked", True) is not False)].append(c["callback"])
        for (g, locked), cbs in sorted(groups.items()):
            what = {
                "irq-disabled": "does all its work with interrupts disabled "
                                "(spin_lock_irqsave())",
                "chained-tasklet": "only schedules further deferred work",
                "task-context": "only queues work",
            }.get(g, "")
            one = len(cbs) == 1
            lead = f"{_names(cbs)} {what}. " if what else ""
            paras.append(
                f"{lead}dmacb's audit of {_names(cbs) if not lead else ('it' if one else 'them')}"
                f" and of the functions of this file {'it calls' if one else 'they call'} "
                f"finds {contract(locked)}. "
                f"{'' if locked else UNLOCKED + ' '}"
                f"Mark {'its descriptor' if one else 'their descriptors'} "
                f"with DMA_PREP_HARDIRQ_CALLBACK, which lets a provider call "
                f"{'it' if one else 'them'} from hard interrupt context; providers that do "
                f"not look at the flag keep calling {'it' if one else 'them'} as before.")
    task = by_action.get("task", [])
    if task:
        why = sorted({c["sleeps_in"] for c in task if c.get("sleeps_in")})
        bug = any(c.get("latent_bug") for c in task)
        paras.append(
            f"{_names([c['callback'] for c in task])} may sleep"
            f"{' (' + ', '.join(w + '()' for w in why) + ')' if why else ''}"
            f"{', which is a bug in the tasklet it runs in today' if bug else ''}. "
            f"Mark the descriptor "
            f"with DMA_PREP_TASK_CALLBACK so that the dmaengine core calls it in task "
            f"context.")
    if delivery:
        paras.append(delivery)
    scripts = sorted({c["script"] for c in conv})
    paras.append(f"Generated with dmacb's semantic patch{'es' if len(scripts) > 1 else ''} "
                 f"{' and '.join(scripts)}.")
    return subject + "\n\n" + "\n\n".join(_para(p) for p in paras) + "\n"


def provider_message(prefix: str, name: str, handlers: list[tuple[str, str]],
                     hooks: list[tuple[str, str]] = ()) -> str:
    """Commit message for one provider given vchan_notify_irq() (the
    checks of vchan_notify.intent() and, for a desc_result hook,
    vchan_notify.hook_problems(); nothing more)."""
    hs = [h for _, h in handlers]
    one = len(hs) == 1
    subject = f"{prefix} deliver hardirq-safe notifications from the interrupt handler"
    paras = [
        f"{_names(hs)} {'is' if one else 'are'} {name}'s hard interrupt "
        f"handler{'' if one else 's'}: {'it completes' if one else 'they complete'} "
        f"descriptors of a virtual channel under its vc.lock and return"
        f"{'s' if one else ''} right after dropping it, "
        f"{'takes' if one else 'take'} no other lock and "
        f"{'is' if one else 'are'} not called from elsewhere in the driver.",
        "Call vchan_notify_irq() after that final unlock, as the last step of the "
        "handler with no lock held: completions and callbacks their clients flagged "
        "with DMA_PREP_HARDIRQ_CALLBACK are then delivered from the interrupt "
        "handler instead of the dmaengine core's deferred path, so a flagged callback "
        "may restart the channel, read its status or terminate it. Every other "
        "notification, and freeing the descriptors, stays on the deferred path."]
    for _, fn in hooks:
        paras.append(
            f"virt-dma calls {name}'s desc_result hook, {fn}(), just before each "
            f"notification, so for those delivered from the interrupt handler it now "
            f"runs there too, with no lock held. The rules of dmacb's hardirq contract "
            f"that apply with no lock held (no sleeping call, no _bh lock, no lock "
            f"other code takes with interrupts on, nothing softirq-only, no re-enabling "
            f"of interrupts, no time-bounded poll) find nothing in it or in the "
            f"functions it calls.")
    paras.append("Generated with dmacb's semantic patch cocci/vchan_notify_irq.cocci.")
    return subject + "\n\n" + "\n\n".join(_para(p) for p in paras) + "\n"


def tasklet_message(prefix: str, name: str, function: str, roles: list[str],
                    uses: set[str], bh_wq: bool) -> str:
    """Commit message for a provider's delivery-only tasklet moved onto the
    core's notification path (the checks of chan_notify.plan_texts())."""
    does = []
    if "completion" in roles:
        does.append("completes them")
    if "descriptor-cleanup" in roles:
        does.append("frees or acks them")
    does.append("delivers their callbacks")
    backend = "a BH work item" if bh_wq else \
        "a tasklet of the core's: this tree has no BH workqueue"
    subject = f"{prefix} deliver callbacks from the core's notification path"
    paras = [
        f"{function}() is {name}'s tasklet for completed descriptors: it "
        f"{_names(does).replace('()', '')} (what dmacb's providers audit found it "
        f"doing; it found no start of a transfer and no error recovery there).",
        f"Run it from the channel's notification path in the dmaengine core "
        f"(dmaengine_chan_notify_init()), as virt-dma channels do, instead of a "
        f"tasklet of the driver's own: "
        + " and ".join(x for x in (
            _names(sorted(uses & {"tasklet_schedule", "tasklet_hi_schedule"}))
            + (" become " if len(uses & {"tasklet_schedule", "tasklet_hi_schedule"}) > 1
               else " becomes ") + "dmaengine_chan_notify_schedule()"
            if uses & {"tasklet_schedule", "tasklet_hi_schedule"} else "",
            "tasklet_kill() becomes dmaengine_chan_notify_sync()"
            if "tasklet_kill" in uses else "") if x) + ". "
        f"The function's body is not changed, and it keeps its context: softirq, "
        f"at high priority, never concurrently with itself ({backend}). "
        f"dmaengine_synchronize() now also waits for it.",
        "This removes one of the tasklets of drivers/dma." if bh_wq else
        "The driver sets up no tasklet of its own any more; the core's backend is "
        "chosen in one place.",
        "Generated with dmacb's semantic patch cocci/tasklet_to_chan_notify.cocci."]
    return subject + "\n\n" + "\n\n".join(_para(p) for p in paras) + "\n"
