// SPDX-License-Identifier: GPL-2.0-only
/// Replace a complete-only dmaengine client callback by a descriptor
/// completion.  The callback is named on the command line (-D cb=NAME).
/// It must be a static function whose whole body is one of
///
///	T *f = p; complete(&f->fld);	(or 'T *f = (T *)p;')
///	complete(&((T *)p)->fld);
///	complete(p);		(or through a 'struct completion *' local or cast)
///
/// and each assignment site must be the adjacent pair
/// 'D->callback = cb; D->callback_param = P;' (either order), which becomes
/// 'dmaengine_desc_set_completion(D, <completion with p replaced by P>);'
/// (a cast on P is dropped).  The callback and its forward declarations
/// are deleted only when no other reference to it remains in the file,
/// counted both by spatch and textually (a use in code spatch could not
/// parse keeps the function).  Anything else is left untouched, and a
/// second run changes nothing.
//
// Confidence: High (only exact complete-only bodies and adjacent sites)
// Copyright: (C) 2026 The dmacb authors.
// Options: --no-includes --include-headers-for-types
// Keywords: dmaengine, callback, completion

virtual patch
virtual org
virtual report

// -- the callback body: which form of complete-only is it? --------------

@cb_member depends on patch disable drop_cast@
identifier virtual.cb;
identifier p, f, fld;
type T;
@@
static void cb(void *p)
{
(
	T *f = p;
	complete(&f->fld);
|
	T *f = (T *)p;
	complete(&f->fld);
|
	complete(&((T *)p)->fld);
)
}

@cb_direct depends on patch && !cb_member disable drop_cast@
identifier virtual.cb;
identifier p;
identifier c;
@@
static void cb(void *p)
{
(
	complete(p);
|
	complete((struct completion *)p);
|
	struct completion *c = p;
	complete(c);
|
	struct completion *c = (struct completion *)p;
	complete(c);
)
}

// -- the assignment sites ---------------------------------------------
// P must be a plain lvalue path (a, a->b, a.b[i]...), so that '&P->fld'
// and 'P' need no extra parentheses; '&X' as parameter gives '&X.fld'.

@initialize:python@
@@
import re
dmacb_path = re.compile(r"^[A-Za-z_]\w*(\s*(->|\.)\s*[A-Za-z_]\w*|\s*\[[^\[\]]*\])*$")

dmacb_sites = set()      # (file, line) of every rewritten site

def dmacb_simple(e):
    return dmacb_path.match(str(e).strip()) is not None

@site_member depends on patch && cb_member disable drop_cast@
identifier virtual.cb;
identifier cb_member.fld;
expression D;
expression P : script:python () { dmacb_simple(P) };
type T2;
position ps;
@@
(
- D->callback@ps = cb;
- D->callback_param = (T2)P;
+ dmaengine_desc_set_completion(D, &P->fld);
|
- D->callback@ps = cb;
- D->callback_param = P;
+ dmaengine_desc_set_completion(D, &P->fld);
|
- D->callback_param@ps = (T2)P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, &P->fld);
|
- D->callback_param@ps = P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, &P->fld);
|
- D->callback@ps = cb;
- D->callback_param = (T2)&P;
+ dmaengine_desc_set_completion(D, &P.fld);
|
- D->callback@ps = cb;
- D->callback_param = &P;
+ dmaengine_desc_set_completion(D, &P.fld);
|
- D->callback_param@ps = (T2)&P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, &P.fld);
|
- D->callback_param@ps = &P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, &P.fld);
)

@site_direct depends on patch && cb_direct disable drop_cast@
identifier virtual.cb;
expression D;
expression P : script:python () { dmacb_simple(P) };
type T2;
position ps;
@@
(
- D->callback@ps = cb;
- D->callback_param = (T2)P;
+ dmaengine_desc_set_completion(D, P);
|
- D->callback@ps = cb;
- D->callback_param = P;
+ dmaengine_desc_set_completion(D, P);
|
- D->callback_param@ps = (T2)P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, P);
|
- D->callback_param@ps = P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, P);
|
- D->callback@ps = cb;
- D->callback_param = (T2)&P;
+ dmaengine_desc_set_completion(D, &P);
|
- D->callback@ps = cb;
- D->callback_param = &P;
+ dmaengine_desc_set_completion(D, &P);
|
- D->callback_param@ps = (T2)&P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, &P);
|
- D->callback_param@ps = &P;
- D->callback = cb;
+ dmaengine_desc_set_completion(D, &P);
)

// -- delete the callback when nothing else refers to it ----------------

// Any remaining use as an expression (assignment, initializer, argument).
@still_used depends on patch && (site_member || site_direct)@
identifier virtual.cb;
@@
cb

// Textual guard: spatch does not see code it failed to parse.  Every
// occurrence of the name must be the definition, a prototype or a site
// that was just rewritten.

@script:python depends on site_member@
ps << site_member.ps;
@@
dmacb_sites.add((ps[0].file, ps[0].line))

@script:python depends on site_direct@
ps << site_direct.ps;
@@
dmacb_sites.add((ps[0].file, ps[0].line))

@defn depends on patch && (site_member || site_direct) && !still_used@
identifier virtual.cb;
position pd;
@@
static void cb@pd(...) { ... }

@script:python textual depends on defn@
cbname << virtual.cb;
pd << defn.pd;
@@
try:
    with open(pd[0].file, errors="replace") as fh:
        text = fh.read()
except OSError:
    text = None
if text is None:
    cocci.include_match(False)
else:
    # strip comments so a mention in a comment does not count
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    n = len(re.findall(r"\b%s\b" % re.escape(cbname), code))
    # prototypes only ('static void cb(void *p);'), not calls 'cb(x);'
    protos = len(re.findall(r"\bstatic\s+void\s+%s\s*\([^)]*\)\s*;" % re.escape(cbname), code))
    sites = len([s for s in dmacb_sites if s[0] == pd[0].file])
    if n != 1 + protos + sites:
        cocci.include_match(False)

@depends on textual@
identifier virtual.cb;
position defn.pd;
@@
- static void cb@pd(...) { ... }

@depends on textual@
identifier virtual.cb;
@@
- static void cb(...);

// -- report/org: show the sites of a complete-only callback ------

@cbm_any depends on report || org disable drop_cast@
identifier virtual.cb;
identifier p, f, fld;
type T;
@@
static void cb(void *p)
{
(
	T *f = p;
	complete(&f->fld);
|
	T *f = (T *)p;
	complete(&f->fld);
|
	complete(&((T *)p)->fld);
|
	complete(p);
|
	complete((struct completion *)p);
|
	struct completion *c = p;
	complete(c);
|
	struct completion *c = (struct completion *)p;
	complete(c);
)
}

@rep depends on (report || org) && cbm_any@
identifier virtual.cb;
expression D;
position p;
@@
D->callback@p = cb;

@script:python depends on report@
p << rep.p;
cbname << virtual.cb;
@@
coccilib.report.print_report(p[0], "%s is complete-only: use dmaengine_desc_set_completion()" % cbname)

@script:python depends on org@
p << rep.p;
cbname << virtual.cb;
@@
cocci.print_main("complete-only %s" % cbname, p)
