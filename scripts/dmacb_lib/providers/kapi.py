# SPDX-License-Identifier: GPL-2.0
"""The kernel API the providers audit knows by name: how a provider
registers, completes descriptors, delivers notifications, and defers work.

Plain data, read like the knowledge base: a name missing here is a call the
audit does not understand, never one it silently misreads (the evidence
always names the call it went by).
"""

from __future__ import annotations

# A provider is a caller of one of these.
REGISTER = ("dma_async_device_register", "dmaenginem_async_device_register")

# The dmaengine core and its helpers: not part of any provider.
CORE_FILES = frozenset({
    "drivers/dma/dmaengine.c", "drivers/dma/dmaengine.h", "drivers/dma/virt-dma.c",
    "drivers/dma/virt-dma.h", "drivers/dma/of-dma.c", "drivers/dma/acpi-dma.c",
    "drivers/dma/dmatest.c",
})

# virt-dma: the descriptor is completed here; the vchan tasklet delivers.
VCHAN_COMPLETE = ("vchan_cookie_complete", "vchan_cyclic_callback")
# Other virt-dma calls that end a descriptor (no notification).
VCHAN_OTHER = ("vchan_terminate_vdesc", "vchan_vdesc_fini", "vchan_dma_desc_free_list")
# Completion bookkeeping of providers without virt-dma.
COOKIE_COMPLETE = ("dma_cookie_complete",)
# The dmaengine helpers that deliver (drivers/dma/dmaengine.h).
HELPER_INVOKE = ("dmaengine_desc_get_callback_invoke", "dmaengine_desc_callback_invoke")
HELPER_GET = ("dmaengine_desc_get_callback",)
HELPER_VALID = ("dmaengine_desc_callback_valid",)
# virt-dma's preparation: copies the client's flags (tx->flags = tx_flags)
# and initialises the descriptor (dma_async_tx_descriptor_init).
VCHAN_TX_PREP = "vchan_tx_prep"
VCHAN_INIT = "vchan_init"
DESC_INIT = "dma_async_tx_descriptor_init"

# IRQ registration: name -> (index of the hard handler, of the thread
# function or None, context of the handler).  request_any_context_irq's
# handler runs in hard IRQ or, for a nested irqchip, in a thread.
IRQ_REGISTER = {
    "request_irq": (1, None, "hardirq"),
    "devm_request_irq": (2, None, "hardirq"),
    "request_threaded_irq": (1, 2, "hardirq"),
    "devm_request_threaded_irq": (2, 3, "hardirq"),
    "request_any_context_irq": (1, None, "any-context-irq"),
    "devm_request_any_context_irq": (2, None, "any-context-irq"),
    "pci_request_irq": (2, 3, "hardirq"),
    "request_percpu_irq": (1, None, "hardirq"),
    "request_nmi": (1, None, "hardirq"),
}

# Deferred work: name -> (index of the function, context).
DEFER_REGISTER = {
    "tasklet_setup": (1, "tasklet"),
    "tasklet_init": (1, "tasklet"),
    "INIT_WORK": (1, "workqueue"),
    "INIT_DELAYED_WORK": (1, "workqueue"),
    "INIT_WORK_ONSTACK": (1, "workqueue"),
    "INIT_DEFERRABLE_WORK": (1, "workqueue"),
    "INIT_RCU_WORK": (1, "workqueue"),
    "kthread_init_work": (1, "kthread"),
    "timer_setup": (1, "timer"),
    "kthread_run": (0, "kthread"),
    "kthread_create": (0, "kthread"),
}
TASKLET_REGISTER = ("tasklet_setup", "tasklet_init")
# File-scope declarations (macros outside functions: read from the text).
DECLARE_REGISTER = {
    "DECLARE_TASKLET": (1, "tasklet"),
    "DECLARE_TASKLET_OLD": (1, "tasklet"),
    "DECLARE_TASKLET_DISABLED": (1, "tasklet"),
    "DECLARE_TASKLET_DISABLED_OLD": (1, "tasklet"),
    "DECLARE_WORK": (1, "workqueue"),
    "DECLARE_DELAYED_WORK": (1, "workqueue"),
}
# Stores that register a function: '.function = f' of an hrtimer.
FIELD_REGISTER = {"function": "hrtimer"}

# Fields of struct dma_device (and of a descriptor) a client reaches
# through the dmaengine API: code reached from them runs inside the
# client's own call (in whatever context the client calls from).
CLIENT_FIELDS = (
    "device_tx_status", "device_issue_pending", "device_terminate_all", "device_pause",
    "device_resume", "device_synchronize", "device_config", "device_caps",
    "device_alloc_chan_resources", "device_free_chan_resources", "device_router_config",
    "device_release", "tx_submit", "desc_free",
)
PREP_PREFIX = "device_prep_"

# Calls that free or recycle a descriptor (descriptor cleanup).
CLEANUP_CALLS = frozenset({
    "kfree", "dma_pool_free", "kmem_cache_free", "dma_free_coherent", "dma_descriptor_unmap",
    "dmaengine_desc_free", "dma_run_dependencies", "async_tx_ack", "async_tx_test_ack",
    "vchan_vdesc_fini", "vchan_dma_desc_free_list", "dma_unmap_single", "dma_unmap_page",
    "dma_unmap_sg", "vchan_get_all_descriptors", "gen_pool_free", "dma_free_wc",
    "vchan_terminate_vdesc",
})
# MMIO writes: a function that (transitively) writes a register programs
# the hardware.
MMIO_WRITES = frozenset({
    "writel", "writel_relaxed", "writeq", "writeq_relaxed", "writew", "writew_relaxed",
    "writeb", "writeb_relaxed", "iowrite32", "iowrite32be", "iowrite16", "iowrite16be",
    "iowrite8", "iowrite64", "iowrite64be", "__raw_writel", "__raw_writeq", "__raw_writew",
    "__raw_writeb", "out_be32", "out_le32", "out_be16", "out_le16", "out_8", "lo_hi_writeq",
    "hi_lo_writeq", "regmap_write", "regmap_update_bits", "regmap_set_bits",
    "regmap_clear_bits", "writesl", "iowrite32_rep", "mtdcr", "__raw_writesl",
})

# Devicetree: how a client names a channel, and where DT sources live.
DT_DIRS = ("arch/", "scripts/dtc/include-prefixes/")
