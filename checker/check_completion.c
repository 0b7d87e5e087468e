// SPDX-License-Identifier: GPL-2.0
/*
 * check_completion: every dmaengine_desc_set_completion(D, X) call in a
 * file the plan converted to a descriptor completion passes the planned
 * completion:
 *
 *   plan "completion FILE CB TAG FIELD": X is &E->FIELD with E of type
 *       struct TAG * (or &E.FIELD with E of type struct TAG);
 *   plan "completion FILE CB - -": X has type struct completion *
 *       (before any implicit conversion).
 *
 * A call that matches no plan entry of the file fails, and so does a plan
 * entry that no call matches.  Files without completion entries only get
 * their calls listed.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define API "dmaengine_desc_set_completion"

struct arg_info {
	char *text;		/* the argument's source */
	char *type;		/* its canonical type, before implicit conversions */
	char *tag, *field;	/* &E->FIELD / &E.FIELD: E's struct tag and FIELD */
};

static char *canon_type(CXType t)
{
	return cx_take(clang_getTypeSpelling(clang_getCanonicalType(t)));
}

static void analyse_arg(struct tu_index *ix, CXCursor arg, struct arg_info *ai)
{
	CXCursor e = cursor_strip(arg);

	memset(ai, 0, sizeof(*ai));
	ai->text = tu_cursor_text(ix, arg);
	ai->type = canon_type(clang_getCursorType(e));
	if (clang_getCursorKind(e) != CXCursor_UnaryOperator)
		return;
	{
		char *t = tu_cursor_text(ix, e);
		int amp = t[0] == '&' && t[1] != '&';

		free(t);
		if (!amp)
			return;
	}
	CXCursor m = cursor_strip(cursor_first_child(e, NULL));

	if (clang_getCursorKind(m) != CXCursor_MemberRefExpr)
		return;
	CXCursor base = cursor_first_child(m, NULL);
	CXType bt;

	if (clang_Cursor_isNull(base))
		return;
	bt = clang_getCanonicalType(clang_getCursorType(base));
	if (bt.kind == CXType_Pointer)
		bt = clang_getCanonicalType(clang_getPointeeType(bt));
	if (bt.kind != CXType_Record)
		return;
	{
		CXCursor decl = clang_getTypeDeclaration(bt);

		if (clang_getCursorKind(decl) != CXCursor_StructDecl)
			return;
		ai->tag = cursor_name(decl);
		ai->field = cursor_name(m);
	}
}

static int matches(const struct plan_item *it, const struct arg_info *ai)
{
	if (it->tag)
		return ai->tag && ai->field && !strcmp(ai->tag, it->tag) &&
		       !strcmp(ai->field, it->field);
	return ai->type && !strcmp(ai->type, "struct completion *");
}

static void expect_text(struct sbuf *b, const struct plan_item *it)
{
	if (it->tag)
		sb_addf(b, "&E->%s with E a struct %s *", it->field, it->tag);
	else
		sb_add(b, "a struct completion *");
}

int check_completion(struct ctx *c)
{
	struct tu_index *ix;
	const struct plan_item **items = NULL;
	int *used;
	size_t ni = 0;
	int failed = 0;
	struct sbuf calls, problems, missing;

	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_item *it = &c->plan->v[i];

		if (it->kind == PLAN_COMPLETION && !strcmp(it->file, c->file)) {
			items = xrealloc(items, (ni + 1) * sizeof(*items));
			items[ni++] = it;
		}
	}
	if (!c->tu) {
		free(items);
		if (!ni)
			return 0;
		ctx_index(c);
		return 1;
	}
	ix = ctx_index(c);
	if (!ix) {
		free(items);
		return ni ? 1 : 0;
	}
	used = xcalloc(ni + 1, sizeof(int));
	sb_init(&calls);
	sb_init(&problems);
	sb_init(&missing);
	for (size_t k = 0; k < ix->ncalls; k++) {
		const struct call *cl = &ix->calls[k];
		struct arg_info ai = { 0 };
		int ok = 0;

		if (!cl->callee || strcmp(cl->callee, API) || !cl->in_main)
			continue;
		if (clang_Cursor_getNumArguments(cl->cur) == 2)
			analyse_arg(ix, clang_Cursor_getArgument(cl->cur, 1), &ai);
		for (size_t i = 0; i < ni; i++) {
			if (ai.text && matches(items[i], &ai)) {
				used[i] = 1;
				ok = 1;
			}
		}
		sb_sep(&calls);
		sb_addf(&calls, "{\"function\":");
		sb_json(&calls, ix->fns[cl->fn].name);
		sb_addf(&calls, ",\"line\":%u,\"arg\":", cl->line);
		sb_json(&calls, ai.text);
		sb_add(&calls, ",\"type\":");
		sb_json(&calls, ai.type);
		sb_add(&calls, ",\"struct\":");
		sb_json(&calls, ai.tag);
		sb_add(&calls, ",\"field\":");
		sb_json(&calls, ai.field);
		sb_addf(&calls, ",\"matched\":%s}", ni ? (ok ? "true" : "false") : "null");
		if (ni && !ok) {
			struct sbuf why;

			sb_init(&why);
			sb_addf(&why, "%s() argument '%s' is not ", API, ai.text ? ai.text : "?");
			for (size_t i = 0; i < ni; i++) {
				if (i)
					sb_add(&why, " or ");
				expect_text(&why, items[i]);
			}
			sb_sep(&problems);
			sb_add(&problems, "{\"file\":");
			sb_json(&problems, c->file);
			sb_addf(&problems, ",\"line\":%u,\"why\":", cl->line);
			sb_json(&problems, why.s);
			sb_add(&problems, "}");
			sb_free(&why);
			failed = 1;
		}
		free(ai.text);
		free(ai.type);
		free(ai.tag);
		free(ai.field);
	}
	for (size_t i = 0; i < ni; i++) {
		struct sbuf why;

		if (used[i])
			continue;
		sb_init(&why);
		sb_addf(&why, "no %s() call passes ", API);
		expect_text(&why, items[i]);
		sb_sep(&missing);
		sb_add(&missing, "{\"callback\":");
		sb_json(&missing, items[i]->func);
		sb_add(&missing, ",\"struct\":");
		sb_json(&missing, items[i]->tag);
		sb_add(&missing, ",\"field\":");
		sb_json(&missing, items[i]->field);
		sb_add(&missing, ",\"why\":");
		sb_json(&missing, why.s);
		sb_add(&missing, "}");
		sb_free(&why);
		failed = 1;
	}
	sb_addf(c->out, "\"calls\":[%s],\"problems\":[%s],\"missing\":[%s]",
		sb_str(&calls), sb_str(&problems), sb_str(&missing));
	sb_free(&calls);
	sb_free(&problems);
	sb_free(&missing);
	free(used);
	free(items);
	return failed;
}
