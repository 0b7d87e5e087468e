// SPDX-License-Identifier: GPL-2.0
/*
 * Effects of each call site of the main file's functions (see effects.h).
 * A site is named by the outermost macro expanded there, else by its
 * callee; kb/ tables classify the name.  Nothing here decides a verdict:
 * the rules (check_hardirq.c) do, from the effects of the functions a
 * callback reaches (reach.c).
 */
#include <stdlib.h>
#include <string.h>

#include "effects.h"

#define MAXARGS 24
#define MAX_MACRO_DEPTH 4

static const char *const keywords[] = {
	"if", "for", "while", "switch", "return", "sizeof", "typeof", "__typeof__",
	"__typeof", "do", "else", "case", "goto", "defined", "__attribute__",
	"__attribute", "asm", "__asm__", "__asm", "volatile", "__volatile__",
	"_Static_assert", "static_assert", "alignof", "__alignof__", "_Alignof",
	"offsetof", "_Generic", "__same_type", "__is_constexpr", NULL
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

static char *fmt(const char *f, const char *a, const char *b)
{
	struct sbuf s;

	sb_init(&s);
	sb_addf(&s, f, a, b ? b : "");
	return s.s;
}

unsigned effect_line(const struct effects *h, const struct effect *e)
{
	return h->ix->calls[e->site].line;
}

static struct effect *new_effect(struct effects *h, size_t site, int fn, const char *name,
				 enum effect_kind kind)
{
	struct effect *e;
	const char *arrow;

	if (h->ne == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 256;
		h->e = xrealloc(h->e, h->cap * sizeof(*h->e));
	}
	e = &h->e[h->ne++];
	memset(e, 0, sizeof(*e));
	e->site = site;
	e->fn = fn;
	e->kind = kind;
	e->cls = -1;
	e->target = -1;
	e->nargs = -1;
	e->name = xstrdup(name);
	arrow = strrchr(name, '>');
	e->base = xstrdup(arrow && arrow > name && arrow[-1] == '-' ? arrow + 2 : name);
	return e;
}

static int have_effect(struct effects *h, size_t site, const char *name)
{
	for (size_t i = h->ne; i-- > 0 && h->e[i].site == site;)
		if (!strcmp(h->e[i].name, name))
			return 1;
	return 0;
}

static void unknown(struct effects *h, size_t site, int fn, const char *name, char *why,
		    enum effect_kind kind)
{
	struct effect *e;

	if (have_effect(h, site, name)) {
		free(why);
		return;
	}
	e = new_effect(h, site, fn, name, kind);
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

enum kb_lock_role effect_lock_role(const struct effects *h, const struct effect *e)
{
	enum kb_lock_role r;

	if (e->kind != EFF_CALL || !e->lock_text)
		return KB_LOCK_NONE;
	r = h->c->kb->classes[e->cls].lock;
	if (r == KB_LOCK_BY_NAME)
		return strstr(e->base, "unlock") ? KB_LOCK_RELEASE : KB_LOCK_ACQUIRE;
	return r;
}

/* ---- effects of a call site ------------------------------------------ */

/*
 * A kb-known name called at site.  a: the written arguments (nargs < 0
 * when they are not visible).  mparams: parameters of the macro whose body
 * holds the call, with the site's own arguments sa to substitute them
 * (gfp only).
 */
struct argv_view {
	char *const *t;
	const struct span *sp;
	int n;
};

static void kb_effect(struct effects *h, size_t site, int fn, const char *label, int cls,
		      int gfp_arg, struct argv_view a, const struct ltoks *mparams,
		      struct argv_view sa)
{
	const struct kb *kb = h->c->kb;
	struct effect *e;
	const struct kb_named *form;

	if (have_effect(h, site, label))
		return;
	e = new_effect(h, site, fn, label, EFF_CALL);
	e->cls = cls;
	if (kb->classes[cls].decide == KB_DECIDE_GFP && gfp_arg >= 0 && a.n > gfp_arg) {
		const struct span *g = &a.sp[gfp_arg];

		e->has_gfp = 1;
		/* a macro parameter: the site's argument */
		if (mparams && g->b == g->a + 1 && sa.n >= 0) {
			for (int p = 0; p < mparams->n; p++) {
				if (!strcmp(mparams->v[p], a.t[g->a]) && p < sa.n) {
					copy_toks(&e->gfp, sa.t, sa.sp[p].a, sa.sp[p].b);
					return;
				}
			}
		}
		copy_toks(&e->gfp, a.t, g->a, g->b);
	}
	if (kb->classes[cls].lock == KB_LOCK_NONE)
		return;
	form = kb_find(kb->lockforms, kb->nlockforms, e->base);
	if (form) {
		e->lock_text = xstrdup(form->s);
		e->lock_show = xstrdup(form->s);
	} else {
		lock_ident(e, h->ix->calls[site].cur);
	}
}

static void edge(struct effects *h, size_t site, int fn, const struct call *cl,
		 struct argv_view a)
{
	struct effect *e;

	for (size_t i = h->ne; i-- > 0 && h->e[i].site == site;)
		if (h->e[i].target == cl->target)
			return;
	e = new_effect(h, site, fn, cl->callee, EFF_EDGE);
	e->target = cl->target;
	if (a.n >= 0) {
		e->nargs = a.n;
		e->args = xcalloc(a.n + 1, sizeof(*e->args));
		for (int i = 0; i < a.n && i < MAXARGS; i++)
			copy_toks(&e->args[i], a.t, a.sp[i].a, a.sp[i].b);
	}
}

/* A call classified by its callee alone. */
static void by_callee(struct effects *h, size_t site, int fn, const struct call *cl,
		      const char *macro, struct argv_view a)
{
	const struct kb *kb = h->c->kb;
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
		unknown(h, site, fn, cl->via ? cl->via : "(indirect)", w, EFF_INDIRECT);
		return;
	}
	if (cl->target >= 0) {
		edge(h, site, fn, cl, a);
		return;
	}
	if (is_builtin(cl->callee))
		return;
	k = kb_lookup(kb, cl->callee);
	if (k) {
		kb_effect(h, site, fn, cl->callee, k->cls, k->gfp_arg, a, NULL, none);
		return;
	}
	/* _raw_spin_lock_irqsave() is what spin_lock_irqsave() expands to */
	if (!strncmp(cl->callee, "_raw_", 5)) {
		k = kb_lookup(kb, cl->callee + 5);
		if (k) {
			kb_effect(h, site, fn, cl->callee + 5, k->cls, k->gfp_arg, none, NULL, none);
			return;
		}
	}
	if (macro)
		unknown(h, site, fn, macro,
			fmt("unknown: neither %s nor %s() is in the knowledge base", macro,
			    cl->callee), EFF_UNKNOWN);
	else
		unknown(h, site, fn, cl->callee,
			fmt("unknown: %s() is not in the knowledge base%s", cl->callee, NULL),
			EFF_UNKNOWN);
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
 * way the audit reads them: each name followed by '(' is a call.
 */
static void macro_body(struct effects *h, size_t site, int fn, const struct mmacro *m,
		       const char *label, int depth, struct names *seen, struct argv_view sa)
{
	struct tu_index *ix = h->ix;
	const struct kb *kb = h->c->kb;
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
		k = kb_lookup(kb, s);
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
			kb_effect(h, site, fn, lab, k->cls, k->gfp_arg, a,
				  depth == 0 ? &m->params : NULL, depth == 0 ? sa : none);
		} else if (inner) {
			macro_body(h, site, fn, inner, lab, depth + 1, seen, none);
		} else {
			unknown(h, site, fn, lab,
				fmt("unknown: %s() is not in the knowledge base (in macro %s)",
				    s, m->name), EFF_UNKNOWN);
		}
		free(lab);
	}
}

static int site_calls(struct effects *h, size_t site, size_t **out)
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

static void resolve_site(struct effects *h, size_t site)
{
	struct tu_index *ix = h->ix;
	const struct kb *kb = h->c->kb;
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
		const struct kb_named *g = kb_find(kb->guards, kb->nguards, kind);

		if (!g)
			unknown(h, site, fn, lab,
				fmt("unknown: %s is not a known lock guard%s", lab, NULL),
				EFF_UNKNOWN);
		else
			kb_effect(h, site, fn, lab, g->i, -1, none, NULL, none);
		free(lab);
		free(kind);
		/* the guarded statement of scoped_guard() is not part of the site */
		free(calls);
		return;
	}
	k = kb_lookup(kb, M);
	if (k) {
		kb_effect(h, site, fn, M, k->cls, k->gfp_arg, a, NULL, none);
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
			if (kb_lookup(kb, cl->callee) ||
			    (!strncmp(cl->callee, "_raw_", 5) && kb_lookup(kb, cl->callee + 5))) {
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

void effects_build(struct effects *h, struct ctx *c, struct tu_index *ix)
{
	memset(h, 0, sizeof(*h));
	h->c = c;
	h->ix = ix;
	h->fn_first = xcalloc(ix->nfns + 1, sizeof(size_t));
	h->fn_n = xcalloc(ix->nfns + 1, sizeof(size_t));
	for (size_t f = 0; f < ix->nfns; f++) {
		const struct func *fn = &ix->fns[f];

		h->fn_first[f] = h->ne;
		for (size_t i = fn->first; i < fn->first + fn->n; i++)
			if (ix->calls[i].site == i)
				resolve_site(h, i);
		h->fn_n[f] = h->ne - h->fn_first[f];
	}
}

void effects_free(struct effects *h)
{
	for (size_t i = 0; i < h->ne; i++) {
		struct effect *e = &h->e[i];

		free(e->name);
		free(e->base);
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
}
