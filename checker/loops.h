/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The loops of a function, from its tokens (preprocessor lines left out):
 * for/while/do statements and iterator macros ('*for_each*(...) {...}'),
 * each from its keyword to its last token.  The audit's csource.loops() is
 * the same algorithm over the same tokens, so both find the same loops.
 */
#ifndef DMACB_LOOPS_H
#define DMACB_LOOPS_H

#include "tu.h"

struct loop {
	const char *kind;	/* for, while, do, or the macro's name */
	unsigned line, end;
	int a, b;		/* indexes into the token list given, [a, b] */
};

struct toklist {
	char **s;
	unsigned *line;
	int n;
};

/* The tokens of function f of ix from its first '{', without directives. */
void loops_fn_tokens(const struct tu_index *ix, int f, struct toklist *out);
void toklist_free(struct toklist *t);
/* Fills *out (malloc'ed) and returns the number of loops. */
int loops_find(const struct toklist *t, struct loop **out);

#endif
