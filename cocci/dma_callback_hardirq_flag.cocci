// SPDX-License-Identifier: GPL-2.0-only
/// Mark the descriptors of one dmaengine client callback (-D cb=NAME) with
/// DMA_PREP_HARDIRQ_CALLBACK (or, with -D task, DMA_PREP_TASK_CALLBACK):
/// the flag is ORed into the flags argument of the dmaengine_prep_*() call
/// that produced a descriptor whose ->callback or ->callback_result is set
/// to the callback later in the same function.  When that argument is a
/// local variable assigned in the same function, the flag goes into the
/// variable's assignment (or initializer) instead.  A flags expression that
/// already names the flag is left as it is, so a second run changes nothing.
/// The callback must have been classified as obeying the hardirq contract
/// (dmacb's classifier); this script does not check it.
//
// Confidence: High (the callback is chosen by the caller)
// Copyright: (C) 2026 The dmacb authors.
// Options: --no-includes --include-headers-for-types
// Keywords: dmaengine, callback, hardirq, DMA_PREP_HARDIRQ_CALLBACK

virtual patch
virtual context
virtual org
virtual report
virtual task

@initialize:python@
@@
def dmacb_has_flag(e):
    return "DMA_PREP_HARDIRQ_CALLBACK" in e or "DMA_PREP_TASK_CALLBACK" in e

# (file, function, variable) -> number of prep calls taking it as flags
dmacb_flag_uses = {}

def dmacb_single_use(p, fv):
    key = (p[0].file, p[0].current_element, str(fv))
    return dmacb_flag_uses.get(key, 0) == 1

# How many prep calls share each flags variable: a variable passed to
# several prep calls in one function is not touched (the other descriptors
# may have other callbacks); the flag then goes into the call of cb's
# descriptor only.

@fv_use depends on patch@
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
identifier fv;
position pu;
@@
prepfn@pu(..., fv)

@script:python depends on fv_use@
pu << fv_use.pu;
fv << fv_use.fv;
@@
key = (pu[0].file, pu[0].current_element, str(fv))
dmacb_flag_uses[key] = dmacb_flag_uses.get(key, 0) + 1

// -- flags held in a local variable assigned in the same function -------
// (found first, without modifying anything, so that the call rules below
// can skip those calls; positions cannot be inherited over modifications)

@var_seen depends on patch@
identifier virtual.cb;
expression E2;
identifier fv;
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
expression D, E;
position pc : script:python (fv) { dmacb_single_use(pc, fv) };
type T;
@@
(
fv = E;
|
T fv = E;
)
... when exists
D = prepfn@pc(..., fv);
... when != D = E2
    when exists
(
D->callback = cb;
|
D->callback_result = cb;
)

// -- otherwise straight into the call's flags argument ------------------

@call_hard depends on patch && !task@
identifier virtual.cb;
expression E2;
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
expression D;
expression F : script:python () { not dmacb_has_flag(F) };
position pc != var_seen.pc;
@@
(
D = prepfn@pc(...,
- 0
+ DMA_PREP_HARDIRQ_CALLBACK
 );
|
D = prepfn@pc(...,
  F
+ | DMA_PREP_HARDIRQ_CALLBACK
 );
)
... when != D = E2
    when exists
(
D->callback = cb;
|
D->callback_result = cb;
)

@call_task depends on patch && task@
identifier virtual.cb;
expression E2;
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
expression D;
expression F : script:python () { not dmacb_has_flag(F) };
position pc != var_seen.pc;
@@
(
D = prepfn@pc(...,
- 0
+ DMA_PREP_TASK_CALLBACK
 );
|
D = prepfn@pc(...,
  F
+ | DMA_PREP_TASK_CALLBACK
 );
)
... when != D = E2
    when exists
(
D->callback = cb;
|
D->callback_result = cb;
)

// -- the local variable case ----------------------------------------------

@var_hard depends on patch && !task@
identifier virtual.cb;
expression E2;
identifier fv;
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
expression D;
expression E : script:python () { not dmacb_has_flag(E) };
position pc : script:python (fv) { dmacb_single_use(pc, fv) };
type T;
@@
(
fv = E
+ | DMA_PREP_HARDIRQ_CALLBACK
 ;
|
T fv = E
+ | DMA_PREP_HARDIRQ_CALLBACK
 ;
)
... when exists
D = prepfn@pc(..., fv);
... when != D = E2
    when exists
(
D->callback = cb;
|
D->callback_result = cb;
)

@var_task depends on patch && task@
identifier virtual.cb;
expression E2;
identifier fv;
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
expression D;
expression E : script:python () { not dmacb_has_flag(E) };
position pc : script:python (fv) { dmacb_single_use(pc, fv) };
type T;
@@
(
fv = E
+ | DMA_PREP_TASK_CALLBACK
 ;
|
T fv = E
+ | DMA_PREP_TASK_CALLBACK
 ;
)
... when exists
D = prepfn@pc(..., fv);
... when != D = E2
    when exists
(
D->callback = cb;
|
D->callback_result = cb;
)

// -- report/org/context: show the prep calls that would be marked --------

@ctx depends on context@
identifier virtual.cb;
expression E2;
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
expression D;
@@
* D = prepfn(...);
... when != D = E2
    when exists
(
D->callback = cb;
|
D->callback_result = cb;
)

@rep depends on report || org@
identifier virtual.cb;
expression E2;
identifier prepfn = {dmaengine_prep_slave_single, dmaengine_prep_slave_sg,
		     dmaengine_prep_dma_cyclic, dmaengine_prep_dma_memcpy,
		     dmaengine_prep_interleaved_dma};
expression D;
position p;
@@
D = prepfn@p(...);
... when != D = E2
    when exists
(
D->callback = cb;
|
D->callback_result = cb;
)

@script:python depends on report@
p << rep.p;
cbname << virtual.cb;
@@
coccilib.report.print_report(p[0], "descriptor of %s: candidate for a callback context flag" % cbname)

@script:python depends on org@
p << rep.p;
cbname << virtual.cb;
@@
cocci.print_main("descriptor of %s" % cbname, p)
