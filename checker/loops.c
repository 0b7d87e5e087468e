// SPDX-License-Identifier: GPL-2.0
/* Loops from tokens (see loops.h); mirrors csource.loops() line for line. */
#include <stdlib.h>
#include <string.h>

#include "loops.h"
#include "sbuf.h"

void loops_fn_tokens(const struct tu_index *ix, int f, struct toklist *out)
{
	const struct func *fn = &ix->fns[f];
	int started = 0;

	memset(out, 0, sizeof(*out));
	if (fn->tok_first < 0)
		return;
	out->s = xcalloc(fn->tok_last - fn->tok_first + 2, sizeof(char *));
	out->line = xcalloc(fn->tok_last - fn->tok_first + 2, sizeof(unsigned));
	for (int i = fn->tok_first; i <= fn->tok_last && (size_t)i < ix->ntoks; i++) {
		const struct tok *t = &ix->toks[i];

		if (t->directive)
			continue;
		if (!started && strcmp(t->s, "{"))
			continue;
		started = 1;
		out->s[out->n] = t->s;
		out->line[out->n] = t->line;
		out->n++;
	}
}

void toklist_free(struct toklist *t)
{
	free(t->s);
	free(t->line);
	memset(t, 0, sizeof(*t));
}

static int is(const struct toklist *t, int i, const char *s)
{
	return i >= 0 && i < t->n && !strcmp(t->s[i], s);
}

static int iter_macro(const char *s)
{
	return strstr(s, "for_each") && (s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') ||
					 (s[0] >= 'A' && s[0] <= 'Z'));
}

static int match(const struct toklist *t, int i, const char *open, const char *close)
{
	int depth = 0;

	for (int j = i; j < t->n; j++) {
		if (!strcmp(t->s[j], open)) {
			depth++;
		} else if (!strcmp(t->s[j], close)) {
			if (--depth == 0)
				return j;
		}
	}
	return t->n - 1;
}

static int statement_end(const struct toklist *t, int i)
{
	int depth = 0;

	if (i >= t->n)
		return t->n - 1;
	if (is(t, i, "{"))
		return match(t, i, "{", "}");
	if ((is(t, i, "for") || is(t, i, "while") || strstr(t->s[i], "for_each")) &&
	    is(t, i + 1, "("))
		return statement_end(t, match(t, i + 1, "(", ")") + 1);
	if (is(t, i, "do")) {
		int j = statement_end(t, i + 1) + 1;

		if (is(t, j, "while") && j + 1 < t->n)
			j = match(t, j + 1, "(", ")") + 1;
		return j < t->n - 1 ? j : t->n - 1;
	}
	if (is(t, i, "if")) {
		int j = statement_end(t, match(t, i + 1, "(", ")") + 1);

		if (is(t, j + 1, "else"))
			j = statement_end(t, j + 2);
		return j;
	}
	for (int j = i; j < t->n; j++) {
		const char *s = t->s[j];

		if (!strcmp(s, "(") || !strcmp(s, "[") || !strcmp(s, "{"))
			depth++;
		else if (!strcmp(s, ")") || !strcmp(s, "]") || !strcmp(s, "}"))
			depth--;
		else if (!strcmp(s, ";") && depth <= 0)
			return j;
	}
	return t->n - 1;
}

int loops_find(const struct toklist *t, struct loop **out)
{
	char *skip = xcalloc(t->n + 1, 1);
	int n = 0;

	*out = NULL;
	for (int i = 0; i < t->n; i++) {
		const char *s = t->s[i];
		int end;

		if (!strcmp(s, "do")) {
			end = statement_end(t, i);
			for (int j = i + 1; j <= end; j++)
				if (is(t, j, "while") && j + 1 <= end && is(t, j + 1, "(") &&
				    (is(t, j - 1, "}") || is(t, j - 1, ";")))
					skip[j] = 1;
		} else if ((!strcmp(s, "for") || !strcmp(s, "while") || iter_macro(s)) &&
			   is(t, i + 1, "(") && !skip[i]) {
			end = statement_end(t, i);
		} else {
			continue;
		}
		*out = xrealloc(*out, (n + 1) * sizeof(**out));
		(*out)[n].kind = s;
		(*out)[n].line = t->line[i];
		(*out)[n].end = t->line[end];
		(*out)[n].a = i;
		(*out)[n].b = end;
		n++;
	}
	free(skip);
	return n;
}
