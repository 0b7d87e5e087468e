// SPDX-License-Identifier: GPL-2.0
/* The registration table of the checks, and what they share. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

const struct check checks[] = {
	{ "parse", check_parse },
	{ "hardirq", check_hardirq },
	{ "deleted", check_deleted },
	{ "completion", check_completion },
	{ "providers", check_providers },
	{ NULL, NULL }
};

struct tu_index *ctx_index(struct ctx *c)
{
	if (!c->tu) {
		sb_sep(c->out);
		sb_add(c->out, "\"error\":");
		sb_json(c->out, c->tu_error ? c->tu_error : "no translation unit");
		return NULL;
	}
	if (!c->ix && !c->ix_failed) {
		c->ix = xcalloc(1, sizeof(*c->ix));
		if (tu_index_build(c->ix, c->tu)) {
			free(c->ix);
			c->ix = NULL;
			c->ix_failed = 1;
		}
	}
	if (!c->ix) {
		sb_sep(c->out);
		sb_add(c->out, "\"error\":\"cannot find the main file in the translation unit\"");
	}
	return c->ix;
}

int run_checks(struct ctx *c, struct sbuf *out)
{
	int failed = 0;
	struct sbuf all;

	sb_init(&all);
	for (const struct check *k = checks; k->name; k++) {
		struct sbuf body;
		int r;

		sb_init(&body);
		c->out = &body;
		r = k->run(c);
		c->out = NULL;
		failed |= r != 0;
		sb_sep(&all);
		sb_json(&all, k->name);
		sb_addf(&all, ":{\"ok\":%s", r ? "false" : "true");
		if (body.len) {
			sb_add(&all, ",");
			sb_add(&all, body.s);
		}
		sb_add(&all, "}");
		sb_free(&body);
	}
	sb_add(out, "{\"file\":");
	sb_json(out, c->file);
	sb_addf(out, ",\"ok\":%s,\"checks\":{%s}}", failed ? "false" : "true", sb_str(&all));
	sb_free(&all);
	if (c->ix) {
		tu_index_free(c->ix);
		free(c->ix);
		c->ix = NULL;
	}
	return failed;
}

struct first_child {
	CXCursor c;
	unsigned n;
};

static enum CXChildVisitResult first_child_visitor(CXCursor c, CXCursor p, CXClientData d)
{
	struct first_child *f = d;

	(void)p;
	if (f->n++ == 0)
		f->c = c;
	return CXChildVisit_Continue;
}

CXCursor cursor_first_child(CXCursor c, unsigned *nchildren)
{
	struct first_child f = { clang_getNullCursor(), 0 };

	clang_visitChildren(c, first_child_visitor, &f);
	if (nchildren)
		*nchildren = f.n;
	return f.c;
}

CXCursor cursor_strip(CXCursor c)
{
	for (;;) {
		enum CXCursorKind k = clang_getCursorKind(c);
		unsigned n;
		CXCursor ch;

		if (k != CXCursor_UnexposedExpr && k != CXCursor_ParenExpr)
			return c;
		ch = cursor_first_child(c, &n);
		if (n != 1)
			return c;
		c = ch;
	}
}
