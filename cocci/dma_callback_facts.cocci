// SPDX-License-Identifier: GPL-2.0-only
/// Collect the facts dmacb's classifier needs about dmaengine client
/// completion callbacks: where a descriptor's callback, callback_result and
/// callback_param are set (type aware), every function definition spatch
/// could parse, every call inside them, and every store of
/// a bare identifier into a variable or a struct field (to follow function
/// pointers through locals, parameters and per-SoC tables).
///
/// In report/org mode only the descriptor callback sites are printed, so the
/// script also works as a plain audit under 'make coccicheck'.  dmacb itself
/// runs it with '-D facts': sites as JSON objects, one per line, and the
/// high-volume facts (definitions D, calls C, indirect calls I, stores S) as
/// tab-separated lines printed from OCaml, which is 20% faster than Python
/// for the ~40000 calls of a 6.12 audit.
//
// Confidence: High (sites: type aware; a site in a function spatch cannot
//   parse is not matched: dmacb cross-checks every site against git grep)
// Copyright: (C) 2026 The dmacb authors.
// Options: --disable-worth-trying-opt
// Keywords: dmaengine, callback, callback_result, tasklet

virtual report
virtual org
virtual facts

@initialize:python@
@@
import json

def emit(kind, p, **kw):
    d = {"k": kind, "file": p[0].file, "line": int(p[0].line),
         "fn": p[0].current_element}
    d.update({key: (val if val is None else str(val)) for key, val in kw.items()})
    print(json.dumps(d), flush=True)

// -- descriptor callback sites, through a pointer or a struct value --------

// The field names are spelled out in each rule: a set constraint alone
// gives spatch's token prefilter nothing to look for.
@site_ptr@
struct dma_async_tx_descriptor *D;
identifier fld = {callback, callback_result, callback_param};
expression F;
position p;
@@
(
 D->callback@fld@p = F
|
 D->callback_result@fld@p = F
|
 D->callback_param@fld@p = F
)

@site_val@
struct dma_async_tx_descriptor D;
identifier fld = {callback, callback_result, callback_param};
expression F;
position p;
@@
(
 D.callback@fld@p = F
|
 D.callback_result@fld@p = F
|
 D.callback_param@fld@p = F
)

@script:python depends on facts@
p << site_ptr.p;
D << site_ptr.D;
F << site_ptr.F;
fld << site_ptr.fld;
@@
emit("site", p, desc=D, rhs=F, field=fld)

@script:python depends on facts@
p << site_val.p;
D << site_val.D;
F << site_val.F;
fld << site_val.fld;
@@
emit("site", p, desc=D, rhs=F, field=fld)

@script:python depends on report@
p << site_ptr.p;
fld << site_ptr.fld;
F << site_ptr.F;
@@
coccilib.report.print_report(p[0], "dmaengine descriptor %s set to %s" % (fld, F))

@script:python depends on org@
p << site_ptr.p;
fld << site_ptr.fld;
F << site_ptr.F;
@@
coccilib.org.print_todo(p[0], "dmaengine descriptor %s set to %s" % (fld, F))

// -- the same shapes untyped: tells "other struct" from "not parsed" -------

@any_site depends on facts@
expression E, F;
position p;
@@
(
 E->callback@p = F
|
 E->callback_result@p = F
|
 E.callback@p = F
|
 E.callback_result@p = F
)

@script:python depends on facts@
p << any_site.p;
E << any_site.E;
F << any_site.F;
@@
emit("any", p, desc=E, rhs=F)

@init_site depends on facts@
identifier x;
type T;
expression F;
position p;
@@
(
 T x = { ..., .callback@p = F, ... };
|
 T x = { ..., .callback_result@p = F, ... };
)

@script:python depends on facts@
p << init_site.p;
T << init_site.T;
F << init_site.F;
@@
emit("init", p, type=T, rhs=F)

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
// calls that need them (locks, gfp, guards), which halves this rule's cost.
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

// -- stores of a bare identifier: locals, parameters, struct fields ---------
// (designated initialisers of per-SoC tables are read by dmacb from the
// source text: SmPL has no pattern for an initialiser element on its own)

@store_var depends on facts@
identifier v, f;
position p;
@@
 v@p = f

@script:ocaml depends on facts@
p << store_var.p;
v << store_var.v;
f << store_var.f;
@@
let p = List.hd p in
Printf.printf "S\t%s\t%d\t%s\t%s\t%s\n%!" p.Coccilib.file p.Coccilib.line
  p.Coccilib.current_element v f

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

@decl_store depends on facts@
identifier v, f;
type T;
position p;
@@
T v@p = f;

@script:ocaml depends on facts@
p << decl_store.p;
v << decl_store.v;
f << decl_store.f;
@@
let p = List.hd p in
Printf.printf "S\t%s\t%d\t%s\t%s\t%s\n%!" p.Coccilib.file p.Coccilib.line
  p.Coccilib.current_element v f

@store_cond depends on facts@
identifier v, f1, f2;
expression C;
type T;
position p;
@@
(
 T v@p = C ? f1 : f2;
|
 v@p = C ? f1 : f2
)

@script:python depends on facts@
p << store_cond.p;
v << store_cond.v;
f1 << store_cond.f1;
f2 << store_cond.f2;
@@
emit("store", p, dst=v, src=f1)
emit("store", p, dst=v, src=f2)
