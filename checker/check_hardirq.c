// SPDX-License-Identifier: GPL-2.0
/*
 * check_hardirq: every function the plan marks "hardirq", and every
 * function of the main file it calls (transitively), obeys the hardirq
 * contract (DESIGN.md):
 *
 *   rule 1  no sleeping: kb class sleep, sleep-gfp with a gfp argument that
 *           is not provably GFP_ATOMIC/GFP_NOWAIT, regmap on a regmap the
 *           file does not create as MMIO/syscon;
 *   rule 2  no bh-lock, and no lock the callback takes that some other
 *           function of the file takes with only BH (or nothing) disabled;
 *   rule 3  no dmaengine re-entry (kb class dmaengine);
 *   rule 4  nothing softirq-only;
 *   rule 5  no irq-reenable.
 *
 * Callees defined in the main file are followed; everything else (including
 * static inline functions and macros from headers) is looked up in
 * kb/kernel-functions.tsv by its source-level name: the outermost macro
 * expanded at the call site first (spin_lock_irqsave, kmalloc, dev_dbg,
 * wait_event_timeout), then the called function.  Conservative: a name in
 * no kb class, a kb class "unknown" and a call through a pointer are
 * violations.  See checker/README.md for the exact resolution order.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAXARGS 24
#define MAX_MACRO_DEPTH 4
#define MAX_GFP_DEPTH 6

enum verdict { V_OK, V_BAD, V_GFP };

struct effect {
	size_t site;		/* ix->calls index of the site's first call */
	int fn;
	int target;		/* edge to a main-file function, else -1 */
	char *name;		/* what is called, as written ("m -> msleep") */
	enum kb_class cls;
	enum verdict v;
	char *why;		/* V_BAD */
	struct ltoks gfp;	/* V_GFP: the gfp argument's tokens */
	struct ltoks *args;	/* edges: the call's arguments, when written out */
	int nargs;
	char *lock_usr;		/* lock classes: the lock (USR of field/global) */
	char *lock_text;	/* ... and its name as written */
	char *lock_show;	/* ... for messages */
};

struct hctx {
	struct ctx *c;
	struct tu_index *ix;
	struct effect *e;
	size_t ne, cap;
	size_t *fn_first, *fn_n;	/* effects of function i */
	int mmio_regmap;
	char *irq_handler;		/* per function: passed to request_irq() */
};

static const char *const keywords[] = {
	"if", "for", "while", "switch", "return", "sizeof", "typeof", "__typeof__",
	"__typeof", "do", "else", "case", "goto", "defined", "__attribute__",
	"__attribute", "asm", "__asm__", "__asm", "volatile", "__volatile__",
	"_Static_assert", "static_assert", "alignof", "__alignof__", "_Alignof",
	"offsetof", "_Generic", "__same_type", "__is_constexpr", NULL
};

/* guard()/scoped_guard() lock types (the same table as the classifier's). */
static const struct {
	const char *kind;
	enum kb_class cls;
} guards[] = {
	{ "spinlock_irqsave", KB_LOCK_IRQSAVE }, { "raw_spinlock_irqsave", KB_LOCK_IRQSAVE },
	{ "read_lock_irqsave", KB_LOCK_IRQSAVE }, { "write_lock_irqsave", KB_LOCK_IRQSAVE },
	{ "irqsave", KB_LOCK_IRQSAVE }, { "uart_port_lock_irqsave", KB_LOCK_IRQSAVE },
	/* the guard's destructor is the unlock: spin_unlock_irq() */
	{ "spinlock_irq", KB_IRQ_REENABLE }, { "raw_spinlock_irq", KB_IRQ_REENABLE },
	{ "read_lock_irq", KB_IRQ_REENABLE }, { "write_lock_irq", KB_IRQ_REENABLE },
	{ "irq", KB_IRQ_REENABLE },
	{ "spinlock", KB_LOCK }, { "raw_spinlock", KB_LOCK }, { "read_lock", KB_LOCK },
	{ "write_lock", KB_LOCK },
	{ "spinlock_bh", KB_BH_LOCK }, { "raw_spinlock_bh", KB_BH_LOCK },
	{ "read_lock_bh", KB_BH_LOCK }, { "write_lock_bh", KB_BH_LOCK },
	{ "mutex", KB_SLEEP }, { "mutex_intr", KB_SLEEP }, { "rwsem_read", KB_SLEEP },
	{ "rwsem_write", KB_SLEEP }, { "srcu", KB_SLEEP }, { "device", KB_SLEEP },
	{ "rcu", KB_SAFE }, { "preempt", KB_SAFE },
	{ NULL, KB_UNKNOWN }
};

/* request_irq() family: index of the hardirq handler argument */
static const struct {
	const char *name;
	int arg;
} irq_requests[] = {
	{ "request_irq", 1 }, { "request_threaded_irq", 1 }, { "request_any_context_irq", 1 },
	{ "devm_request_irq", 2 }, { "devm_request_threaded_irq", 2 },
	{ "devm_request_any_context_irq", 2 }, { NULL, 0 }
};

static int is_keyword(const char *s)
{
	for (int i = 0; keywords[i]; i++)
		if (!strcmp(s, keywords[i]))
			return 1;
	return 0;
}

/* compiler intrinsics and compile-time-only calls: never run */
static int is_builtin(const char *s)
{
	return !strncmp(s, "__builtin_", 10) || !strncmp(s, "__compiletime_assert_", 21) ||
	       !strncmp(s, "__sync_", 7) || !strncmp(s, "__atomic_", 9);
}

static int is_ident(const char *s)
{
	return s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
}

static const char *rule_text(enum kb_class cls)
{
	switch (cls) {
	case KB_SLEEP:
		return "may sleep (rule 1)";
	case KB_BH_LOCK:
		return "disables or enables bottom halves (rule 2)";
	case KB_DMAENGINE:
		return "re-enters the dmaengine API (rule 3)";
	case KB_SOFTIRQ_ONLY:
		return "needs softirq context (rule 4)";
	case KB_IRQ_REENABLE:
		return "re-enables interrupts (rule 5)";
	default:
		return "";
	}
}

static char *fmt(const char *f, const char *a, const char *b)
{
	struct sbuf s;

	sb_init(&s);
	sb_addf(&s, f, a, b ? b : "");
	return s.s;
}

static struct effect *new_effect(struct hctx *h, size_t site, int fn, const char *name)
{
	struct effect *e;

	if (h->ne == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 256;
		h->e = xrealloc(h->e, h->cap * sizeof(*h->e));
	}
	e = &h->e[h->ne++];
	memset(e, 0, sizeof(*e));
	e->site = site;
	e->fn = fn;
	e->target = -1;
	e->name = xstrdup(name);
	e->cls = KB_UNKNOWN;
	return e;
}

static int have_effect(struct hctx *h, size_t site, const char *name)
{
	for (size_t i = h->ne; i-- > 0 && h->e[i].site == site;)
		if (!strcmp(h->e[i].name, name))
			return 1;
	return 0;
}

static void unknown(struct hctx *h, size_t site, int fn, const char *name, char *why)
{
	struct effect *e;

	if (have_effect(h, site, name)) {
		free(why);
		return;
	}
	e = new_effect(h, site, fn, name);
	e->v = V_BAD;
	e->why = why;
}

static void copy_toks(struct ltoks *dst, char *const *t, int a, int b)
{
	dst->n = b - a;
	dst->v = xcalloc(dst->n + 1, sizeof(char *));
	for (int i = a; i < b; i++)
		dst->v[i - a] = xstrdup(t[i]);
}

/* ---- locks ------------------------------------------------------------ */

struct lockfind {
	CXCursor found;
};

static int lock_candidate(CXCursor c)
{
	enum CXCursorKind k = clang_getCursorKind(c);

	if (k == CXCursor_MemberRefExpr)
		return 1;
	if (k == CXCursor_DeclRefExpr) {
		CXCursor r = clang_getCursorReferenced(c);
		enum CXCursorKind rk = clang_getCursorKind(r);

		return rk == CXCursor_VarDecl || rk == CXCursor_ParmDecl;
	}
	return 0;
}

static enum CXChildVisitResult lock_visitor(CXCursor c, CXCursor p, CXClientData d)
{
	struct lockfind *f = d;

	(void)p;
	if (lock_candidate(c)) {
		f->found = c;
		return CXChildVisit_Break;
	}
	return CXChildVisit_Recurse;
}

/* The lock named by a lock call's first argument: the outermost member or
 * variable reference in it ('&p->chan[i].lock' -> lock, 'spinlock_check(&x)'
 * -> x). */
static void lock_ident(struct effect *e, CXCursor call)
{
	struct lockfind f = { clang_getNullCursor() };
	CXCursor arg, ref;

	if (clang_Cursor_getNumArguments(call) < 1)
		return;
	arg = clang_Cursor_getArgument(call, 0);
	if (lock_candidate(arg))
		f.found = arg;
	else
		clang_visitChildren(arg, lock_visitor, &f);
	if (clang_Cursor_isNull(f.found))
		return;
	ref = clang_getCursorReferenced(f.found);
	if (clang_Cursor_isNull(ref))
		return;
	e->lock_text = cursor_name(ref);
	if (clang_getCursorKind(ref) == CXCursor_FieldDecl) {
		char *tag = cursor_name(clang_getCursorSemanticParent(ref));

		e->lock_usr = cx_take(clang_getCursorUSR(ref));
		e->lock_show = fmt(tag[0] ? "%s.%s" : "%s%s", tag, e->lock_text);
		free(tag);
	} else {
		CXCursor parent = clang_getCursorSemanticParent(ref);

		if (clang_getCursorKind(parent) == CXCursor_TranslationUnit)
			e->lock_usr = cx_take(clang_getCursorUSR(ref));
		e->lock_show = xstrdup(e->lock_text);
	}
}

static int is_lock_class(enum kb_class c)
{
	return c == KB_LOCK || c == KB_LOCK_IRQ || c == KB_LOCK_IRQSAVE || c == KB_BH_LOCK ||
	       c == KB_IRQ_REENABLE;
}

/* ---- effects of a call site ------------------------------------------ */

/*
 * A kb-known name called at site.  args: the written arguments (t, sp,
 * nargs; nargs < 0 when they are not visible).  mparams: parameters of
 * the macro whose body holds the call, with the site's own arguments
 * (st, ssp, snargs) to substitute them (gfp only).
 */
struct argv_view {
	char *const *t;
	const struct span *sp;
	int n;
};

static void kb_effect(struct hctx *h, size_t site, int fn, const char *label,
		      const struct kb_entry *k, struct argv_view a,
		      const struct ltoks *mparams, struct argv_view sa)
{
	struct effect *e;

	if (have_effect(h, site, label))
		return;
	e = new_effect(h, site, fn, label);
	e->cls = k->cls;
	if (k->cls == KB_UNKNOWN) {
		e->v = V_BAD;
		e->why = fmt("unknown: %s() is classified 'unknown' in the knowledge base%s",
			     label, NULL);
	} else if (kb_class_forbidden_in_hardirq(k->cls)) {
		struct sbuf s;

		sb_init(&s);
		sb_addf(&s, "%s: %s() %s", kb_class_name(k->cls), label, rule_text(k->cls));
		e->v = V_BAD;
		e->why = s.s;
	} else if (k->cls == KB_SLEEP_GFP) {
		if (a.n > k->gfp_arg && k->gfp_arg >= 0) {
			const struct span *g = &a.sp[k->gfp_arg];

			/* a macro parameter: the site's argument */
			if (mparams && g->b == g->a + 1 && sa.n >= 0) {
				for (int p = 0; p < mparams->n; p++) {
					if (!strcmp(mparams->v[p], a.t[g->a]) && p < sa.n) {
						copy_toks(&e->gfp, sa.t, sa.sp[p].a, sa.sp[p].b);
						e->v = V_GFP;
						return;
					}
				}
			}
			copy_toks(&e->gfp, a.t, g->a, g->b);
			e->v = V_GFP;
		} else {
			struct sbuf s;

			sb_init(&s);
			sb_addf(&s, "sleep-gfp: %s() allocates with a gfp argument this checker "
				"cannot see; assumed to sleep (rule 1)", label);
			e->v = V_BAD;
			e->why = s.s;
		}
	} else if (k->cls == KB_REGMAP && !h->mmio_regmap) {
		struct sbuf s;

		sb_init(&s);
		sb_addf(&s, "regmap: %s() may sleep: this file does not create only MMIO/syscon "
			"regmaps (rule 1)", label);
		e->v = V_BAD;
		e->why = s.s;
	}
	if (is_lock_class(e->cls))
		lock_ident(e, h->ix->calls[site].cur);
}

static void edge(struct hctx *h, size_t site, int fn, const struct call *cl,
		 struct argv_view a)
{
	struct effect *e;

	for (size_t i = h->ne; i-- > 0 && h->e[i].site == site;)
		if (h->e[i].target == cl->target)
			return;
	e = new_effect(h, site, fn, cl->callee);
	e->target = cl->target;
	e->cls = KB_SAFE;
	if (a.n >= 0) {
		e->nargs = a.n;
		e->args = xcalloc(a.n + 1, sizeof(*e->args));
		for (int i = 0; i < a.n && i < MAXARGS; i++)
			copy_toks(&e->args[i], a.t, a.sp[i].a, a.sp[i].b);
	} else {
		e->nargs = -1;
	}
}

/* A call classified by its callee alone. */
static void by_callee(struct hctx *h, size_t site, int fn, const struct call *cl,
		      const char *macro, struct argv_view a)
{
	const struct kb_entry *k;
	struct argv_view none = { NULL, NULL, -1 };

	if (!cl->callee) {
		char *w;

		if (cl->via)
			w = fmt("unknown indirect call through '%s'%s", cl->via, NULL);
		else
			w = xstrdup("unknown indirect call");
		if (macro) {
			char *w2 = fmt("%s (in macro %s)", w, macro);

			free(w);
			w = w2;
		}
		unknown(h, site, fn, cl->via ? cl->via : "(indirect)", w);
		return;
	}
	if (cl->target >= 0) {
		edge(h, site, fn, cl, a);
		return;
	}
	if (is_builtin(cl->callee))
		return;
	k = kb_lookup(h->c->kb, cl->callee);
	if (k) {
		kb_effect(h, site, fn, cl->callee, k, a, NULL, none);
		return;
	}
	/* _raw_spin_lock_irqsave() is what spin_lock_irqsave() expands to */
	if (!strncmp(cl->callee, "_raw_", 5)) {
		k = kb_lookup(h->c->kb, cl->callee + 5);
		if (k) {
			kb_effect(h, site, fn, cl->callee + 5, k, none, NULL, none);
			return;
		}
	}
	if (macro)
		unknown(h, site, fn, macro,
			fmt("unknown: neither %s nor %s() is in the knowledge base", macro,
			    cl->callee));
	else
		unknown(h, site, fn, cl->callee,
			fmt("unknown: %s() is not in the knowledge base%s", cl->callee, NULL));
}

struct names {
	char **v;
	int n;
	int kb_external;	/* the body calls a kb-known non-local name */
	int pasting;		/* the body pastes tokens (##) */
};

static void names_add(struct names *n, const char *s)
{
	n->v = xrealloc(n->v, (n->n + 1) * sizeof(char *));
	n->v[n->n++] = xstrdup(s);
}

static int names_has(const struct names *n, const char *s)
{
	for (int i = 0; i < n->n; i++)
		if (!strcmp(n->v[i], s))
			return 1;
	return 0;
}

static int is_param(const struct mmacro *m, const char *s)
{
	for (int i = 0; i < m->params.n; i++)
		if (!strcmp(m->params.v[i], s))
			return 1;
	return 0;
}

/*
 * The calls written in the body of a macro defined in the main file, the
 * way the classifier reads them: each name followed by '(' is a call.
 */
static void macro_body(struct hctx *h, size_t site, int fn, const struct mmacro *m,
		       const char *label, int depth, struct names *seen, struct argv_view sa)
{
	struct tu_index *ix = h->ix;
	char *const *t = m->body.v;
	int n = m->body.n;
	struct argv_view none = { NULL, NULL, -1 };

	if (depth > MAX_MACRO_DEPTH)
		return;
	for (int i = 0; i < n; i++) {
		const char *s = t[i];
		int call = i + 1 < n && !strcmp(t[i + 1], "(");
		const struct mmacro *inner;
		const struct kb_entry *k;
		char *lab;

		/* token pasting builds names we cannot see; ', ##__VA_ARGS__'
		 * is only GNU comma elision */
		if (!strcmp(s, "##") && !(i + 1 < n && !strcmp(t[i + 1], "__VA_ARGS__")))
			seen->pasting = 1;
		if (!is_ident(s) || is_keyword(s) || is_builtin(s) || is_param(m, s))
			continue;
		if (i > 0 && (!strcmp(t[i - 1], "->") || !strcmp(t[i - 1], ".") ||
			      !strcmp(t[i - 1], "##")))
			continue;	/* member calls: the AST reports them */
		if (i + 1 < n && !strcmp(t[i + 1], "##"))
			continue;
		if (tu_find_fn(ix, s) >= 0)
			continue;	/* the AST gives the edge */
		k = kb_lookup(h->c->kb, s);
		inner = k ? NULL : tu_find_macro(ix, s);
		if (!call && !(inner && !inner->funclike))
			continue;
		if (names_has(seen, s))
			continue;
		names_add(seen, s);
		lab = fmt("%s -> %s", label, s);
		if (k) {
			struct span sp[MAXARGS];
			struct argv_view a = { t, sp, -1 };

			seen->kb_external = 1;
			if (call)
				a.n = tu_split_args(t, n, i + 1, sp, MAXARGS, NULL);
			kb_effect(h, site, fn, lab, k, a, depth == 0 ? &m->params : NULL,
				  depth == 0 ? sa : none);
		} else if (inner) {
			macro_body(h, site, fn, inner, lab, depth + 1, seen, none);
		} else {
			unknown(h, site, fn, lab,
				fmt("unknown: %s() is not in the knowledge base (in macro %s)",
				    s, m->name));
		}
		free(lab);
	}
}

static int site_calls(struct hctx *h, size_t site, size_t **out)
{
	struct tu_index *ix = h->ix;
	const struct func *f = &ix->fns[ix->calls[site].fn];
	int n = 0;

	*out = NULL;
	for (size_t i = site; i < f->first + f->n; i++) {
		if (ix->calls[i].site == site) {
			*out = xrealloc(*out, (n + 1) * sizeof(size_t));
			(*out)[n++] = i;
		}
	}
	return n;
}

static void resolve_site(struct hctx *h, size_t site)
{
	struct tu_index *ix = h->ix;
	const struct call *c0 = &ix->calls[site];
	const char *M = c0->macro;
	int fn = c0->fn;
	int direct = !M || (c0->callee && !strcmp(M, c0->callee));
	struct span sp[MAXARGS];
	struct argv_view a = { ix->tokstr, sp, -1 };
	struct argv_view none = { NULL, NULL, -1 };
	size_t *calls;
	int nc, end = 0;
	const struct kb_entry *k;

	/* the arguments as written: NAME ( ... ) at the site */
	if (c0->tok >= 0 && (size_t)c0->tok + 1 < ix->ntoks &&
	    ((M && !strcmp(ix->toks[c0->tok].s, M)) ||
	     (c0->callee && !strcmp(ix->toks[c0->tok].s, c0->callee))))
		a.n = tu_site_args(ix, c0->tok + 1, sp, MAXARGS, &end);
	nc = site_calls(h, site, &calls);

	if (direct) {
		for (int i = 0; i < nc; i++)
			by_callee(h, site, fn, &ix->calls[calls[i]], i ? M : NULL, i ? none : a);
		free(calls);
		return;
	}
	if (!strcmp(M, "guard") || !strcmp(M, "scoped_guard")) {
		char *kind = a.n >= 1 ? tu_join(ix->tokstr, sp[0].a, sp[0].b) : xstrdup("?");
		char *lab = fmt("%s(%s)", M, kind);
		int g;

		for (g = 0; guards[g].kind; g++)
			if (!strcmp(guards[g].kind, kind))
				break;
		if (!guards[g].kind) {
			unknown(h, site, fn, lab,
				fmt("unknown: %s is not a known lock guard%s", lab, NULL));
		} else {
			struct kb_entry ke = { lab, guards[g].cls, -1 };

			kb_effect(h, site, fn, lab, &ke, none, NULL, none);
		}
		free(lab);
		free(kind);
		/* the guarded statement of scoped_guard() is not part of the site */
		free(calls);
		return;
	}
	k = kb_lookup(h->c->kb, M);
	if (k) {
		kb_effect(h, site, fn, M, k, a, NULL, none);
		/* main-file functions called from the expansion itself */
		for (int i = 0; i < nc; i++) {
			const struct call *cl = &ix->calls[calls[i]];

			if (cl->target >= 0)
				edge(h, site, fn, cl, none);
		}
		free(calls);
		return;
	}
	if (c0->macro_main) {
		const struct mmacro *m = tu_find_macro(ix, M);
		struct names seen = { 0 };

		if (m)
			macro_body(h, site, fn, m, M, 0, &seen, a);
		for (int i = 0; i < nc; i++) {
			const struct call *cl = &ix->calls[calls[i]];

			if (!cl->callee || cl->target >= 0) {
				by_callee(h, site, fn, cl, M, none);
				continue;
			}
			if (names_has(&seen, cl->callee) || is_builtin(cl->callee))
				continue;
			if (kb_lookup(h->c->kb, cl->callee) ||
			    (!strncmp(cl->callee, "_raw_", 5) &&
			     kb_lookup(h->c->kb, cl->callee + 5))) {
				by_callee(h, site, fn, cl, M, none);
				continue;
			}
			/* expanded from a kb-known macro the body names */
			if (seen.kb_external && !seen.pasting)
				continue;
			by_callee(h, site, fn, cl, M, none);
		}
		for (int i = 0; i < seen.n; i++)
			free(seen.v[i]);
		free(seen.v);
		free(calls);
		return;
	}
	/* a header macro the knowledge base does not know: its calls */
	for (int i = 0; i < nc; i++)
		by_callee(h, site, fn, &ix->calls[calls[i]], M, none);
	free(calls);
}

static void find_irq_handlers(struct hctx *h)
{
	struct tu_index *ix = h->ix;

	h->irq_handler = xcalloc(ix->nfns + 1, 1);
	for (size_t i = 0; i < ix->ncalls; i++) {
		const struct call *cl = &ix->calls[i];

		if (!cl->callee)
			continue;
		for (int r = 0; irq_requests[r].name; r++) {
			CXCursor a, ref;
			char *n;
			int f;

			if (strcmp(cl->callee, irq_requests[r].name))
				continue;
			if ((int)clang_Cursor_getNumArguments(cl->cur) <= irq_requests[r].arg)
				continue;
			a = cursor_strip(clang_Cursor_getArgument(cl->cur, irq_requests[r].arg));
			if (clang_getCursorKind(a) != CXCursor_DeclRefExpr)
				continue;
			ref = clang_getCursorReferenced(a);
			if (clang_getCursorKind(ref) != CXCursor_FunctionDecl)
				continue;
			n = cursor_name(ref);
			f = tu_find_fn(ix, n);
			if (f >= 0)
				h->irq_handler[f] = 1;
			free(n);
		}
	}
}

static void find_mmio_regmap(struct hctx *h)
{
	struct tu_index *ix = h->ix;
	int mmio = 0, other = 0, syscon = 0;

	for (size_t i = 0; i < ix->ntoks; i++) {
		const char *s = ix->toks[i].s, *kind = NULL;

		if (ix->toks[i].kind != CXToken_Identifier)
			continue;
		if (!strncmp(s, "regmap_init_", 12))
			kind = s + 12;
		else if (!strncmp(s, "devm_regmap_init_", 17))
			kind = s + 17;
		else if (!strncmp(s, "syscon_", 7) && strstr(s, "regmap"))
			syscon = 1;
		if (kind) {
			if (!strncmp(kind, "mmio", 4))
				mmio = 1;
			else
				other = 1;
		}
	}
	h->mmio_regmap = (mmio || syscon) && !other;
}

static void build_effects(struct hctx *h)
{
	struct tu_index *ix = h->ix;

	h->fn_first = xcalloc(ix->nfns + 1, sizeof(size_t));
	h->fn_n = xcalloc(ix->nfns + 1, sizeof(size_t));
	find_mmio_regmap(h);
	find_irq_handlers(h);
	for (size_t f = 0; f < ix->nfns; f++) {
		const struct func *fn = &ix->fns[f];

		h->fn_first[f] = h->ne;
		for (size_t i = fn->first; i < fn->first + fn->n; i++)
			if (ix->calls[i].site == i)
				resolve_site(h, i);
		h->fn_n[f] = h->ne - h->fn_first[f];
	}
}

static void free_effects(struct hctx *h)
{
	for (size_t i = 0; i < h->ne; i++) {
		struct effect *e = &h->e[i];

		free(e->name);
		free(e->why);
		ltoks_free(&e->gfp);
		for (int a = 0; a < e->nargs; a++)
			ltoks_free(&e->args[a]);
		free(e->args);
		free(e->lock_usr);
		free(e->lock_text);
		free(e->lock_show);
	}
	free(h->e);
	free(h->fn_first);
	free(h->fn_n);
	free(h->irq_handler);
}

/* ---- per callback ------------------------------------------------------ */

struct reach {
	char *in;		/* per function: reachable */
	long *parent;		/* per function: effect index of the edge that reached it */
	int *order;
	int n;
};

static void walk(struct hctx *h, int root, struct reach *r)
{
	size_t nf = h->ix->nfns;

	r->in = xcalloc(nf + 1, 1);
	r->parent = xcalloc(nf + 1, sizeof(long));
	r->order = xcalloc(nf + 1, sizeof(int));
	r->n = 0;
	for (size_t i = 0; i < nf; i++)
		r->parent[i] = -1;
	r->in[root] = 1;
	r->order[r->n++] = root;
	for (int q = 0; q < r->n; q++) {
		int f = r->order[q];

		for (size_t i = h->fn_first[f]; i < h->fn_first[f] + h->fn_n[f]; i++) {
			int t = h->e[i].target;

			if (t >= 0 && !r->in[t]) {
				r->in[t] = 1;
				r->parent[t] = (long)i;
				r->order[r->n++] = t;
			}
		}
	}
}

static void free_reach(struct reach *r)
{
	free(r->in);
	free(r->parent);
	free(r->order);
}

static int param_index(CXCursor fn, const char *name)
{
	int n = clang_Cursor_getNumArguments(fn);

	for (int i = 0; i < n; i++) {
		char *p = cursor_name(clang_Cursor_getArgument(fn, i));
		int eq = !strcmp(p, name);

		free(p);
		if (eq)
			return i;
	}
	return -1;
}

/* 1: provably atomic; 0: not (why gets the gfp text) */
static int gfp_atomic(struct hctx *h, struct reach *r, int root, const struct ltoks *g,
		      int fn, int depth, struct sbuf *why)
{
	int atomic = 0, sleeping = 0;

	for (int i = 0; i < g->n; i++) {
		const char *s = g->v[i];

		if (!strcmp(s, "GFP_ATOMIC") || !strcmp(s, "GFP_NOWAIT"))
			atomic = 1;
		else if ((!strncmp(s, "GFP_", 4) && strcmp(s, "GFP_DMA") && strcmp(s, "GFP_DMA32")) ||
			 !strcmp(s, "__GFP_DIRECT_RECLAIM") || !strcmp(s, "__GFP_RECLAIM"))
			sleeping = 1;
	}
	if (sleeping || depth > MAX_GFP_DEPTH)
		goto no;
	if (atomic)
		return 1;
	if (g->n == 1 && is_ident(g->v[0])) {
		const struct mmacro *m = tu_find_macro(h->ix, g->v[0]);
		int p = param_index(h->ix->fns[fn].cur, g->v[0]);

		if (p >= 0 && fn != root) {
			/* every reachable caller must pass an atomic gfp */
			int callers = 0;

			for (int q = 0; q < r->n; q++) {
				int f = r->order[q];

				for (size_t i = h->fn_first[f]; i < h->fn_first[f] + h->fn_n[f]; i++) {
					const struct effect *e = &h->e[i];

					if (e->target != fn)
						continue;
					callers++;
					if (e->nargs <= p) {
						sb_addf(why, "'%s' (argument not visible at the "
							"call in %s())", g->v[0], h->ix->fns[f].name);
						return 0;
					}
					if (!gfp_atomic(h, r, root, &e->args[p], f, depth + 1, why)) {
						sb_addf(why, " (passed as '%s' to %s())", g->v[0],
							h->ix->fns[fn].name);
						return 0;
					}
				}
			}
			return callers > 0;
		}
		if (m && !m->funclike)
			return gfp_atomic(h, r, root, &m->body, fn, depth + 1, why);
	}
no:
	{
		char *t = tu_join(g->v, 0, g->n);

		sb_addf(why, "'%s'", t);
		free(t);
	}
	return 0;
}

static void frame(struct sbuf *b, const char *fn, const char *call, const char *file,
		  unsigned line)
{
	sb_sep(b);
	sb_add(b, "{\"function\":");
	sb_json(b, fn);
	sb_add(b, ",\"call\":");
	sb_json(b, call);
	sb_add(b, ",\"file\":");
	sb_json(b, file);
	sb_addf(b, ",\"line\":%u}", line);
}

static void path_to(struct hctx *h, struct reach *r, int fn, struct sbuf *b)
{
	long chain[256];
	int n = 0;

	for (int f = fn; r->parent[f] >= 0 && n < 256; f = h->e[r->parent[f]].fn)
		chain[n++] = r->parent[f];
	while (n-- > 0) {
		const struct effect *e = &h->e[chain[n]];

		frame(b, h->ix->fns[e->fn].name, h->ix->fns[e->target].name, h->c->file,
		      h->ix->calls[e->site].line);
	}
}

static void violation(struct hctx *h, struct reach *r, const char *root,
		      const struct effect *e, const char *why, struct sbuf *out)
{
	sb_sep(out);
	sb_add(out, "{\"function\":");
	sb_json(out, root);
	sb_add(out, ",\"class\":");
	if (e) {
		sb_json(out, e->v == V_GFP ? "sleep-gfp" : kb_class_name(e->cls));
		sb_add(out, ",\"call\":");
		sb_json(out, e->name);
		sb_addf(out, ",\"line\":%u,\"path\":[", h->ix->calls[e->site].line);
		path_to(h, r, e->fn, out);
		frame(out, h->ix->fns[e->fn].name, e->name, h->c->file,
		      h->ix->calls[e->site].line);
		sb_add(out, "]");
	} else {
		sb_add(out, "\"missing\",\"call\":null,\"line\":null,\"path\":[]");
	}
	sb_add(out, ",\"why\":");
	sb_json(out, why);
	sb_add(out, "}");
}

static int lock_match(const struct effect *a, const struct effect *b)
{
	if (!a->lock_text || !b->lock_text)
		return 0;
	if (a->lock_usr && b->lock_usr)
		return !strcmp(a->lock_usr, b->lock_usr);
	return !strcmp(a->lock_text, b->lock_text);
}

/* taking a lock with interrupts enabled: plain lock or BH lock */
static int acquires_irqs_on(const struct effect *e)
{
	if (e->cls != KB_LOCK && e->cls != KB_BH_LOCK)
		return 0;
	return e->lock_text && !strstr(e->name, "unlock");
}

static int check_root(struct hctx *h, const char *root, struct sbuf *fns, struct sbuf *out)
{
	struct tu_index *ix = h->ix;
	int f = tu_find_fn(ix, root), bad = 0;
	struct reach r;

	sb_sep(fns);
	sb_add(fns, "{\"function\":");
	sb_json(fns, root);
	if (f < 0) {
		sb_add(fns, ",\"defined\":false,\"reachable\":[]}");
		{
			struct sbuf w;

			sb_init(&w);
			sb_addf(&w, "%s() is not defined in %s", root, h->c->file);
			violation(h, NULL, root, NULL, w.s, out);
			sb_free(&w);
		}
		return 1;
	}
	walk(h, f, &r);
	sb_addf(fns, ",\"defined\":true,\"line\":%u,\"reachable\":[", ix->fns[f].line);
	for (int q = 0; q < r.n; q++) {
		sb_sep(fns);
		sb_json(fns, ix->fns[r.order[q]].name);
	}
	sb_add(fns, "]}");

	for (int q = 0; q < r.n; q++) {
		int g = r.order[q];

		for (size_t i = h->fn_first[g]; i < h->fn_first[g] + h->fn_n[g]; i++) {
			const struct effect *e = &h->e[i];

			if (e->v == V_BAD) {
				violation(h, &r, root, e, e->why, out);
				bad = 1;
			} else if (e->v == V_GFP) {
				struct sbuf why, msg;

				sb_init(&why);
				if (!gfp_atomic(h, &r, f, &e->gfp, g, 0, &why)) {
					sb_init(&msg);
					sb_addf(&msg, "sleep-gfp: %s() allocates with gfp %s, not "
						"provably GFP_ATOMIC/GFP_NOWAIT (rule 1)", e->name,
						sb_str(&why));
					violation(h, &r, root, e, msg.s, out);
					sb_free(&msg);
					bad = 1;
				}
				sb_free(&why);
			}
		}
	}

	/* rule 2: a lock taken here, taken elsewhere with interrupts enabled */
	for (int q = 0; q < r.n; q++) {
		int g = r.order[q];

		for (size_t i = h->fn_first[g]; i < h->fn_first[g] + h->fn_n[g]; i++) {
			const struct effect *e = &h->e[i];

			if (!e->lock_text || e->cls == KB_BH_LOCK || e->cls == KB_IRQ_REENABLE ||
			    strstr(e->name, "unlock"))
				continue;
			for (size_t o = 0; o < h->ne; o++) {
				const struct effect *x = &h->e[o];
				struct sbuf w;

				if (r.in[x->fn] || h->irq_handler[x->fn] || !acquires_irqs_on(x) ||
				    !lock_match(e, x))
					continue;
				sb_init(&w);
				sb_addf(&w, "lock-shared: lock '%s' taken here with %s() is also taken "
					"with %s() in %s() line %u, with interrupts enabled (rule 2)",
					e->lock_show ? e->lock_show : e->lock_text, e->name, x->name,
					ix->fns[x->fn].name, ix->calls[x->site].line);
				violation(h, &r, root, e, w.s, out);
				sb_free(&w);
				bad = 1;
				break;
			}
		}
	}
	free_reach(&r);
	return bad;
}

int check_hardirq(struct ctx *c)
{
	struct tu_index *ix;
	struct hctx h = { 0 };
	struct sbuf fns, viol;
	int any = 0, bad = 0;

	for (size_t i = 0; i < c->plan->n; i++)
		if (c->plan->v[i].kind == PLAN_HARDIRQ && !strcmp(c->plan->v[i].file, c->file))
			any = 1;
	if (!any) {
		sb_add(c->out, "\"functions\":[],\"violations\":[]");
		return 0;
	}
	ix = ctx_index(c);
	if (!ix)
		return 1;
	h.c = c;
	h.ix = ix;
	build_effects(&h);
	sb_init(&fns);
	sb_init(&viol);
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_item *it = &c->plan->v[i];
		int dup = 0;

		if (it->kind != PLAN_HARDIRQ || strcmp(it->file, c->file))
			continue;
		for (size_t j = 0; j < i; j++)
			if (c->plan->v[j].kind == PLAN_HARDIRQ && !strcmp(c->plan->v[j].file, c->file) &&
			    !strcmp(c->plan->v[j].func, it->func))
				dup = 1;
		if (!dup)
			bad |= check_root(&h, it->func, &fns, &viol);
	}
	sb_addf(c->out, "\"functions\":[%s],\"violations\":[%s]", sb_str(&fns), sb_str(&viol));
	sb_free(&fns);
	sb_free(&viol);
	free_effects(&h);
	return bad;
}
