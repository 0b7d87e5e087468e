/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the checks need to know about the main file of a translation unit,
 * computed once: its tokens, the macros it defines, its function
 * definitions and every call expression inside them, each mapped back to
 * the main file ("call sites").
 *
 * A call produced by a macro expansion is attributed to the outermost
 * macro expanded at its location in the main file (clang_getFileLocation
 * plus the MACRO_EXPANSION cursor of the detailed preprocessing record), so
 * 'spin_lock_irqsave(&l, f)' is one site named spin_lock_irqsave although
 * the AST calls _raw_spin_lock_irqsave().  A call whose callee is spelled in
 * a macro argument ('WARN_ON(foo(x))') is its own site, at the argument.
 */
#ifndef DMACB_TU_H
#define DMACB_TU_H

#include <stddef.h>
#include <clang-c/Index.h>

struct tok {
	unsigned off, line;
	enum CXTokenKind kind;
	int directive;		/* part of a preprocessor directive line */
	char *s;
};

/* A token list from text (macro bodies), see tu_lex(). */
struct ltoks {
	char **v;
	int n;
};

struct mmacro {			/* a #define in the main file */
	char *name;
	unsigned line;
	int funclike;
	struct ltoks params;	/* "__VA_ARGS__" for "..." */
	struct ltoks body;
};

struct call {
	CXCursor cur;
	int fn;			/* index of the function holding the call */
	unsigned off, line;	/* file location in the main file */
	int in_main;		/* that location is in the main file */
	char *callee;		/* called function's name, NULL for an indirect call */
	char *via;		/* indirect call: the pointer's name, or NULL */
	int target;		/* index of the callee's main-file definition, or -1 */
	char *macro;		/* outermost macro expanded at the site, or NULL
				 * (may equal callee: '#define readl readl') */
	int macro_main;		/* that macro is defined in the main file */
	int tok;		/* index of the token at the site, or -1 */
	size_t site;		/* index of the first call at the same site */
};

struct func {
	char *name;
	CXCursor cur;
	unsigned line;
	unsigned end_line;	/* line of the closing brace */
	size_t first, n;	/* calls[first .. first + n) */
	int tok_first, tok_last;	/* its tokens, toks[tok_first .. tok_last] (-1: none) */
};

struct tu_index {
	CXTranslationUnit tu;
	CXFile file;
	const char *text;
	size_t size;
	struct tok *toks;
	size_t ntoks;
	char **tokstr;		/* toks[i].s, as an array */
	struct mmacro *macros;
	size_t nmacros;
	struct func *fns;
	size_t nfns;
	struct call *calls;
	size_t ncalls;
};

int tu_index_build(struct tu_index *ix, CXTranslationUnit tu);
void tu_index_free(struct tu_index *ix);

int tu_find_fn(const struct tu_index *ix, const char *name);
const struct mmacro *tu_find_macro(const struct tu_index *ix, const char *name);
/* Index of the token starting at off, or -1. */
int tu_tok_at(const struct tu_index *ix, unsigned off);

/* An argument: tokens [a, b) of some token array. */
struct span {
	int a, b;
};

/*
 * The parenthesised argument list starting at token i (which must be '('),
 * of n tokens given as strings.  Fills up to max spans, returns the number
 * of arguments (0 for "()"), or -1 if i is not '(' or the list is not
 * closed; *end gets the index after ')'.
 */
int tu_split_args(char *const *t, int n, int i, struct span *sp, int max, int *end);
/* The same for main-file tokens. */
int tu_site_args(const struct tu_index *ix, int i, struct span *sp, int max, int *end);

/* Tokens of a text (comments blanked): identifiers, numbers, literals, punctuators. */
void tu_lex(const char *s, size_t n, struct ltoks *out);
void ltoks_free(struct ltoks *t);
/* Tokens joined into compact C text. */
char *tu_join(char *const *t, int a, int b);

/* Main-file location of loc; returns 0 and sets off/line when it is there. */
int tu_main_loc(const struct tu_index *ix, CXSourceLocation loc, unsigned *off, unsigned *line);
/* The source text of the line, trimmed (malloc'ed). */
char *tu_line_text(const struct tu_index *ix, unsigned line);
/* Compact text of a cursor's extent (malloc'ed). */
char *tu_cursor_text(const struct tu_index *ix, CXCursor c);

/* Helpers over libclang strings. */
char *cx_take(CXString s);	/* strdup + dispose */
char *cursor_name(CXCursor c);

#endif
