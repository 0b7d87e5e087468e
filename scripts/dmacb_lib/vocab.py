# SPDX-License-Identifier: GPL-2.0
"""The words every stage uses: verdict groups, shapes, actions, reasons,
provider delivery methods, and the subsystem of a path.

One module, so that a report, a commit message, a test and the dashboard
cannot each carry a copy that drifts.  Order matters: tables and charts
list the words in the order given here.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# -- client callbacks --------------------------------------------------------

# The verdict: what the conversion does with a callback (DESIGN.md, "Groups").
GROUPS = ("complete-only", "irq-disabled", "chained-tasklet", "task-context",
          "hardirq-safe", "left-alone")

ACTIONS = ("completion", "hardirq", "task", "none")

# The action each group may take (task-context: hardirq when it only queues
# work, task when it may sleep).
GROUP_ACTIONS = {
    "complete-only": ("completion",), "irq-disabled": ("hardirq",),
    "chained-tasklet": ("hardirq",), "task-context": ("hardirq", "task"),
    "hardirq-safe": ("hardirq",), "left-alone": ("none",),
}

# The shape: what the callback does, whatever the verdict (the seed's four,
# restarts-dma, other), and the near cases.
SHAPES = ("complete-only", "irq-disabled", "chained-tasklet", "task-context",
          "restarts-dma", "other")
SHAPE_FLAGS = ("near-complete-only", "irqs-off-whole-body", "wakeup-only", "busy-wait",
               "calls-client-callback")

# Reasons, in the order of the contract's rules; each with the rule it
# stands for (None: not a rule of the contract) and the README wording.
REASONS = {
    "may-sleep": (1, "calls something that may sleep (kb class sleep, an allocation whose "
                     "gfp has __GFP_DIRECT_RECLAIM, a regmap on a bus)"),
    "bh-lock": (2, "uses spin_lock_bh/local_bh_disable"),
    "lock-shared": (2, "takes a lock that another function of the file takes with only "
                       "BH (or nothing) disabled"),
    "restarts-dma": (3, "starts a transfer: dmaengine prep, submit or issue_pending"),
    "reenters-dma": (3, "re-enters dmaengine otherwise: tx_status, terminate, pause, "
                        "slave_config, or a subsystem function that does"),
    "softirq-only": (4, "needs softirq context (netif_receive_skb(), in_softirq(), ...)"),
    "irq-reenable": (5, "re-enables interrupts (spin_unlock_irq(), local_irq_enable())"),
    "lock-held-across-dma": (6, "takes a lock that other code of the file holds across "
                                "dmaengine calls (AB-BA against the provider's channel "
                                "lock)"),
    "time-bounded-poll": (7, "polls with a time bound (jiffies, time_before/after, "
                             "read*_poll_timeout()) or waits for a remote side"),
    "provider-no-completion": (8, "a provider that can serve the driver does not signal "
                                  "a bare completion on every path"),
    "provider-no-task": (None, "a task callback needs every provider that can serve the "
                               "driver to run it in task context (the helper API's "
                               "chan->task_callbacks, virt-dma delivery); one does not"),
    "unknown-call": (None, "calls a function that is neither in its file nor in the "
                           "knowledge base, or calls through a function pointer"),
    "unparsed": (None, "spatch could not parse the callback, a helper, or the function "
                       "holding the assignment"),
    "unresolved": (None, "the assigned expression could not be followed to a function"),
    "uses-result": (None, "(informational) a callback_result callback reads the result: "
                          "no bare completion"),
    "latent-bug": (None, "(informational) may sleep today, in softirq context"),
}

# Reasons that are informational: they never make a callback left alone.
INFO_REASONS = ("uses-result", "latent-bug")

# -- providers ----------------------------------------------------------------

# How a provider delivers client notifications (providers audit).
DELIVERY = ("virt-dma", "own-tasklet", "threaded-irq", "hardirq", "workqueue",
            "direct-call", "unknown")

# The contexts a provider completes descriptors or delivers from: the kind
# of root its call chain starts at (client-call: inside the client's own
# tx_status/issue_pending/terminate/prep/submit call; virt-dma: called by
# virt-dma itself, its desc_free).
CONTEXTS = ("hardirq", "threaded-irq", "any-context-irq", "tasklet", "workqueue", "kthread",
            "timer", "hrtimer", "client-call", "virt-dma", "unknown")

# Whether the prep functions store the client's prep flags in tx->flags.
PREP_FLAGS = ("yes", "some", "no", "unknown")

# Whether descriptors are handed out again without dma_async_tx_descriptor_init().
RECYCLES = ("no", "some", "yes", "never-init", "unknown")

# Whether a descriptor with no callback (a bare completion) is signalled.
BARE = ("all-paths", "some-paths", "never", "unknown")

# What a provider's tasklet does, and its kind.
TASKLET_ROLES = ("callback-delivery", "completion", "descriptor-cleanup",
                 "starts-next-transfer", "error-recovery")
TASKLET_KINDS = ("delivery-only", "mixed", "not-callback")

# Why a provider may serve a client (the most specific evidence found).
SERVE_BASIS = ("probe", "devicetree", "devicetree+kconfig", "kconfig", "any")

# The roles of a provider's files.
PROVIDER_FILE_ROLES = ("register", "included", "library", "glue", "external-glue", "header")

# -- verify ------------------------------------------------------------------

# verify --matrix: a file's result in one configuration (kbuild's words),
# each with the short form of verify.md's and the dashboard's matrix.
MATRIX_RESULTS = {"pass": "ok", "fails alike": "ok*", "lines unseen": "ok-",
                  "new diagnostics": "WARN", "fails": "FAIL"}

# -- subsystems ---------------------------------------------------------------

# Path prefix -> subsystem, first match wins; the series are cut along these.
SUBSYSTEMS = (
    ("drivers/spi/", "spi"), ("drivers/tty/serial/", "serial"), ("drivers/tty/", "tty"),
    ("drivers/mmc/", "mmc"), ("drivers/crypto/", "crypto"), ("drivers/mtd/", "mtd"),
    ("drivers/media/", "media"), ("drivers/i2c/", "i2c"), ("sound/", "sound"),
    ("drivers/iio/", "iio"), ("drivers/net/", "net"), ("drivers/ata/", "ata"),
    ("drivers/ntb/", "ntb"), ("drivers/pci/", "pci"), ("drivers/usb/", "usb"),
    ("drivers/dma/", "dmaengine"),
)


def subsystem(path: str) -> str:
    for prefix, name in SUBSYSTEMS:
        if path.startswith(prefix):
            return name
    parts = PurePosixPath(path).parts
    return parts[1] if parts[0] == "drivers" and len(parts) > 2 else parts[0]
