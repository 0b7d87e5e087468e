// SPDX-License-Identifier: GPL-2.0-only
/// Collect the facts dmacb's providers audit needs about dmaengine
/// providers (DMA controller drivers): every use of a descriptor's
/// notification fields (callback, callback_result, callback_param) and of
/// its flags, type aware, with the value stored; every function definition
/// spatch could parse, every call and indirect call inside them, and every
/// store of a bare identifier (to follow the functions a driver stores in
/// struct dma_device's device_prep_* fields, its IRQ and tasklet functions,
/// and its ops tables).
///
/// From these dmacb works out, per provider, how it delivers client
/// notifications (virt-dma, its own tasklet, an IRQ thread, the hard IRQ
/// handler, a workqueue, or a hand-made call of tx->callback), from which
/// context it completes descriptors, whether its prep functions store the
/// client's prep flags in tx->flags, whether it recycles descriptors, and
/// whether a descriptor that carries no callback is still signalled.
///
/// In report/org mode only the uses of the notification fields are
/// printed (a provider that reads them bypasses the dmaengine helpers), so
/// the script also works as a plain audit under 'make coccicheck'.  dmacb
/// runs it with '-D facts': field uses as JSON objects, one per line, and
/// the high-volume facts (definitions D, calls C, indirect calls I, stores
/// S) as tab-separated lines printed from OCaml, in the format of
/// dma_callback_facts.cocci.
//
// Confidence: High (field uses: type aware; a use in a function spatch
//   cannot parse is not matched: dmacb lists every function spatch did not
//   report and every notification field it sees in the text but no rule
//   matched)
// Copyright: (C) 2026 The dmacb authors.
// Options: --disable-worth-trying-opt
// Keywords: dmaengine, provider, callback, tasklet, virt-dma, tx->flags

virtual report
virtual org
virtual facts

@initialize:python@
@@
import json

def emit(kind, p, **kw):
    d = {"k": kind, "file": p[0].file, "line": int(p[0].line),
         "col": int(p[0].column), "fn": p[0].current_element}
    d.update({key: (val if val is None else str(val)) for key, val in kw.items()})
    print(json.dumps(d), flush=True)

// -- uses of a descriptor's notification fields and flags -------------------
// (through a pointer or a struct value; the field names are spelled out in
// each rule: a set constraint alone gives spatch's token prefilter nothing)

@use@
struct dma_async_tx_descriptor *D;
struct dma_async_tx_descriptor V;
identifier fld = {callback, callback_result, callback_param, flags};
position p;
@@
(
 D->callback@fld@p
|
 D->callback_result@fld@p
|
 D->callback_param@fld@p
|
 D->flags@fld@p
|
 V.callback@fld@p
|
 V.callback_result@fld@p
|
 V.callback_param@fld@p
|
 V.flags@fld@p
)

// The value stored (a store, a '|=', a copy into a local, a call, a test)
// is read by dmacb from the source at the position: a second typed rule
// for the stores would cost a tenth of the pass.
@script:python depends on facts@
p << use.p;
fld << use.fld;
@@
emit("use", p, field=fld)

@script:python depends on report@
p << use.p;
fld << use.fld;
@@
if fld != "flags":
    coccilib.report.print_report(p[0], "provider reads descriptor %s itself" % fld)

@script:python depends on org@
p << use.p;
fld << use.fld;
@@
if fld != "flags":
    coccilib.org.print_todo(p[0], "provider reads descriptor %s itself" % fld)

// -- function definitions and calls ----------------------------------------

@fndef depends on facts@
identifier fn;
parameter list ps;
type T;
position p;
@@
T fn@p(ps) { ... }

@script:ocaml depends on facts@
p << fndef.p;
fn << fndef.fn;
ps << fndef.ps;
@@
let p = List.hd p in
Printf.printf "D\t%s\t%d\t%s\t%s\n%!" p.Coccilib.file p.Coccilib.line fn ps

// Arguments are not printed: dmacb reads them from the source for the few
// calls that need them (IRQ, tasklet and work registrations, vchan_tx_prep).
@call depends on facts@
identifier g;
position p;
@@
g@p(...)

@script:ocaml depends on facts@
p << call.p;
g << call.g;
@@
let p = List.hd p in
Printf.printf "C\t%s\t%d\t%s\t%s\n%!" p.Coccilib.file p.Coccilib.line
  p.Coccilib.current_element g

@icall depends on facts@
expression E;
identifier fld;
expression list es;
position p;
@@
(
 E->fld@p(es)
|
 E.fld@p(es)
)

@script:ocaml depends on facts@
p << icall.p;
fld << icall.fld;
@@
let p = List.hd p in
Printf.printf "I\t%s\t%d\t%s\t%s\n%!" p.Coccilib.file p.Coccilib.line
  p.Coccilib.current_element fld

// -- stores of a bare identifier: device_prep_* fields, ops, locals ---------
// (designated initialisers of ops tables are read by dmacb from the
// source text: SmPL has no pattern for an initialiser element on its own)

@store_fld depends on facts@
expression E;
identifier fld, f;
position p;
@@
(
 E->fld@p = f
|
 E.fld@p = f
)

@script:ocaml depends on facts@
p << store_fld.p;
fld << store_fld.fld;
f << store_fld.f;
@@
let p = List.hd p in
Printf.printf "S\t%s\t%d\t%s\t.%s\t%s\n%!" p.Coccilib.file p.Coccilib.line
  p.Coccilib.current_element fld f
