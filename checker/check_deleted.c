// SPDX-License-Identifier: GPL-2.0
/*
 * check_deleted: a callback the plan says the conversion deleted is gone
 * from the main file: no identifier token spells it (definition,
 * prototype, use, a use in code under a false #if) and no expression
 * refers to it (also through a macro that pastes the name together).
 * Comments do not count.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

struct refs {
	struct tu_index *ix;
	const char *name;
	unsigned *lines;
	size_t n, cap;
};

static void add_line(struct refs *r, unsigned line)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->lines[i] == line)
			return;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 8;
		r->lines = xrealloc(r->lines, r->cap * sizeof(*r->lines));
	}
	r->lines[r->n++] = line;
}

static enum CXChildVisitResult ref_visitor(CXCursor c, CXCursor p, CXClientData d)
{
	struct refs *r = d;
	enum CXCursorKind k = clang_getCursorKind(c);
	unsigned off, line;

	(void)p;
	if (k == CXCursor_DeclRefExpr || k == CXCursor_FunctionDecl) {
		char *n = cursor_name(c);

		if (!strcmp(n, r->name) &&
		    !tu_main_loc(r->ix, clang_getCursorLocation(c), &off, &line))
			add_line(r, line);
		free(n);
	}
	return CXChildVisit_Recurse;
}

static enum CXChildVisitResult top_visitor(CXCursor c, CXCursor p, CXClientData d)
{
	(void)p;
	if (clang_Location_isFromMainFile(clang_getCursorLocation(c))) {
		ref_visitor(c, p, d);
		clang_visitChildren(c, ref_visitor, d);
	}
	return CXChildVisit_Continue;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

int check_deleted(struct ctx *c)
{
	struct tu_index *ix;
	int failed = 0, any = 0;

	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_item *it = &c->plan->v[i];

		if (it->kind == PLAN_COMPLETION && it->func && !strcmp(it->file, c->file))
			any = 1;
	}
	if (!any) {
		sb_add(c->out, "\"callbacks\":[],\"remaining\":[]");
		return 0;
	}
	ix = ctx_index(c);
	if (!ix)
		return 1;
	sb_add(c->out, "\"callbacks\":[");
	struct sbuf rem;

	sb_init(&rem);
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_item *it = &c->plan->v[i];
		struct refs r = { ix, NULL, NULL, 0, 0 };
		int dup = 0;

		if (it->kind != PLAN_COMPLETION || !it->func || strcmp(it->file, c->file))
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct plan_item *o = &c->plan->v[j];

			if (o->kind == PLAN_COMPLETION && o->func && !strcmp(o->file, c->file) &&
			    !strcmp(o->func, it->func))
				dup = 1;
		}
		if (dup)
			continue;
		sb_sep(c->out);
		sb_json(c->out, it->func);
		r.name = it->func;
		for (size_t t = 0; t < ix->ntoks; t++)
			if (ix->toks[t].kind == CXToken_Identifier && !strcmp(ix->toks[t].s, it->func))
				add_line(&r, ix->toks[t].line);
		clang_visitChildren(clang_getTranslationUnitCursor(c->tu), top_visitor, &r);
		qsort(r.lines, r.n, sizeof(*r.lines), cmp_uint);
		for (size_t k = 0; k < r.n; k++) {
			char *text = tu_line_text(ix, r.lines[k]);

			sb_sep(&rem);
			sb_add(&rem, "{\"callback\":");
			sb_json(&rem, it->func);
			sb_add(&rem, ",\"file\":");
			sb_json(&rem, c->file);
			sb_addf(&rem, ",\"line\":%u,\"text\":", r.lines[k]);
			sb_json(&rem, text);
			sb_add(&rem, "}");
			free(text);
			failed = 1;
		}
		free(r.lines);
	}
	sb_addf(c->out, "],\"remaining\":[%s]", sb_str(&rem));
	sb_free(&rem);
	return failed;
}
