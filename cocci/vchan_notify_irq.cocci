// SPDX-License-Identifier: GPL-2.0-only
/// Let a virt-dma provider deliver hardirq-safe notifications from its
/// interrupt handler (-D handler=NAME) with no lock held: after each
/// spin_unlock() or spin_unlock_irqrestore() of a virtual channel's lock in
/// the handler itself, call vchan_notify_irq() on that channel (helper API
/// v2, drivers/dma/virt-dma.c).  A handler that already calls it after the
/// unlock is left as it is, so a second run changes nothing.
/// The caller (dmacb convert) chooses handlers registered as hard IRQ
/// handlers that take no other lock and are not called from elsewhere, and
/// checks the result against its own computation of the insertions; this
/// script does not check that no other lock is held at the new call.
//
// Confidence: Moderate (the handler is chosen by the caller)
// Copyright: (C) 2026 The dmacb authors.
// Options: --no-includes --include-headers-for-types
// Keywords: dmaengine, virt-dma, vchan_notify_irq, hardirq

virtual patch
virtual context
virtual org
virtual report

@already depends on patch@
identifier virtual.handler;
struct virt_dma_chan VC;
expression F;
position p;
@@

handler(...)
{
<...
(
  spin_unlock@p(&VC.lock);
  vchan_notify_irq(&VC);
|
  spin_unlock_irqrestore@p(&VC.lock, F);
  vchan_notify_irq(&VC);
)
...>
}

@unlock_of_vc depends on patch@
identifier virtual.handler;
struct virt_dma_chan VC;
expression F;
position p != already.p;
@@

handler(...)
{
<...
(
  spin_unlock@p(&VC.lock);
+ vchan_notify_irq(&VC);
|
  spin_unlock_irqrestore@p(&VC.lock, F);
+ vchan_notify_irq(&VC);
)
...>
}

@unlock_of_vc_ctx depends on !patch && (context || org || report)@
identifier virtual.handler;
struct virt_dma_chan VC;
expression F;
position p;
@@

handler(...)
{
<...
(
* spin_unlock@p(&VC.lock);
|
* spin_unlock_irqrestore@p(&VC.lock, F);
)
...>
}

@script:python depends on org@
p << unlock_of_vc_ctx.p;
@@
coccilib.org.print_todo(p[0], "vchan_notify_irq() can go after this unlock")

@script:python depends on report@
p << unlock_of_vc_ctx.p;
@@
coccilib.report.print_report(p[0], "vchan_notify_irq() can go after this unlock")
