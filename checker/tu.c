// SPDX-License-Identifier: GPL-2.0
/* The main-file index shared by the checks (see tu.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "tu.h"

char *cx_take(CXString s)
{
	const char *c = clang_getCString(s);
	char *r = xstrdup(c ? c : "");

	clang_disposeString(s);
	return r;
}

char *cursor_name(CXCursor c)
{
	return cx_take(clang_getCursorSpelling(c));
}

/* ---- a small lexer for macro bodies -------------------------------- */

static void lt_push(struct ltoks *t, const char *s, size_t n)
{
	if ((t->n & 15) == 0)
		t->v = xrealloc(t->v, (t->n + 16) * sizeof(char *));
	t->v[t->n++] = xstrndup(s, n);
}

void ltoks_free(struct ltoks *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

static int ident_start(int c)
{
	return c == '_' || isalpha(c);
}

static int ident_char(int c)
{
	return c == '_' || isalnum(c);
}

void tu_lex(const char *s, size_t n, struct ltoks *out)
{
	static const char *const two[] = {
		"->", "##", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "++", "--",
		"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", NULL
	};
	size_t i = 0;

	out->v = NULL;
	out->n = 0;
	while (i < n) {
		size_t j = i;
		int c = (unsigned char)s[i];

		if (isspace(c) || (c == '\\' && i + 1 < n && s[i + 1] == '\n')) {
			i++;
			continue;
		}
		if (ident_start(c)) {
			while (j < n && ident_char((unsigned char)s[j]))
				j++;
		} else if (isdigit(c)) {
			while (j < n && (ident_char((unsigned char)s[j]) || s[j] == '.'))
				j++;
		} else if (c == '"' || c == '\'') {
			j++;
			while (j < n && s[j] != c) {
				if (s[j] == '\\')
					j++;
				j++;
			}
			if (j < n)
				j++;
		} else if (i + 2 < n && !strncmp(s + i, "...", 3)) {
			j = i + 3;
		} else {
			j = i + 1;
			for (int k = 0; two[k]; k++) {
				if (i + 1 < n && s[i] == two[k][0] && s[i + 1] == two[k][1]) {
					j = i + 2;
					break;
				}
			}
		}
		if (j > n)
			j = n;
		lt_push(out, s + i, j - i);
		i = j;
	}
}

char *tu_join(char *const *t, int a, int b)
{
	struct sbuf sb;

	sb_init(&sb);
	for (int i = a; i < b; i++) {
		if (i > a && sb.len && ident_char((unsigned char)sb.s[sb.len - 1]) &&
		    ident_char((unsigned char)t[i][0]))
			sb_add(&sb, " ");
		sb_add(&sb, t[i]);
	}
	if (!sb.s)
		return xstrdup("");
	return sb.s;
}

int tu_split_args(char *const *t, int n, int i, struct span *sp, int max, int *end)
{
	int depth = 0, nargs = 0, start;

	if (i < 0 || i >= n || strcmp(t[i], "("))
		return -1;
	start = i + 1;
	for (int k = i; k < n; k++) {
		const char *s = t[k];

		if (!strcmp(s, "(") || !strcmp(s, "[") || !strcmp(s, "{")) {
			depth++;
		} else if (!strcmp(s, ")") || !strcmp(s, "]") || !strcmp(s, "}")) {
			if (--depth == 0) {
				if (k > start || nargs > 0) {
					if (nargs < max) {
						sp[nargs].a = start;
						sp[nargs].b = k;
					}
					nargs++;
				}
				if (end)
					*end = k + 1;
				return nargs;
			}
		} else if (depth == 1 && !strcmp(s, ",")) {
			if (nargs < max) {
				sp[nargs].a = start;
				sp[nargs].b = k;
			}
			nargs++;
			start = k + 1;
		}
	}
	return -1;
}

int tu_site_args(const struct tu_index *ix, int i, struct span *sp, int max, int *end)
{
	return tu_split_args(ix->tokstr, (int)ix->ntoks, i, sp, max, end);
}

/* ---- main-file macros ----------------------------------------------- */

/* Copy of the text with comments and literal contents blanked. */
static char *blank_text(const char *s, size_t n)
{
	char *o = xstrndup(s, n);

	for (size_t i = 0; i < n; i++) {
		if (o[i] == '/' && i + 1 < n && o[i + 1] == '*') {
			size_t j = i;

			while (j < n && !(o[j] == '*' && j + 1 < n && o[j + 1] == '/')) {
				if (o[j] != '\n')
					o[j] = ' ';
				j++;
			}
			if (j < n)
				o[j] = o[j + 1] = ' ';
			i = j + 1;
		} else if (o[i] == '/' && i + 1 < n && o[i + 1] == '/') {
			while (i < n && o[i] != '\n') {
				/* a backslash-newline continues a // comment */
				o[i] = ' ';
				i++;
			}
		} else if (o[i] == '"' || o[i] == '\'') {
			char q = o[i];
			size_t j = i + 1;

			while (j < n && o[j] != q && o[j] != '\n') {
				if (o[j] == '\\' && j + 1 < n) {
					if (o[j + 1] != '\n')
						o[j + 1] = ' ';
					o[j] = ' ';
					j++;
				} else {
					o[j] = ' ';
				}
				j++;
			}
			i = j;
		}
	}
	return o;
}

static void parse_macros(struct tu_index *ix)
{
	char *t = blank_text(ix->text, ix->size);
	size_t n = ix->size, i = 0, cap = 0;
	unsigned line = 1;

	while (i < n) {
		size_t ls = i, le = i, p;
		unsigned lline = line;

		/* logical line [ls, le) */
		while (le < n && !(t[le] == '\n' && (le == 0 || t[le - 1] != '\\')))
			le++;
		for (size_t k = ls; k < le; k++)
			if (t[k] == '\n')
				line++;
		i = le + 1;
		line++;
		p = ls;
		while (p < le && (t[p] == ' ' || t[p] == '\t'))
			p++;
		if (p >= le || t[p] != '#')
			continue;
		p++;
		while (p < le && (t[p] == ' ' || t[p] == '\t'))
			p++;
		if (le - p < 7 || strncmp(t + p, "define", 6) || !isspace((unsigned char)t[p + 6]))
			continue;
		p += 6;
		while (p < le && isspace((unsigned char)t[p]))
			p++;
		size_t ns = p;

		while (p < le && ident_char((unsigned char)t[p]))
			p++;
		if (p == ns)
			continue;

		struct mmacro m = { 0 };

		m.name = xstrndup(t + ns, p - ns);
		m.line = lline;
		if (p < le && t[p] == '(') {
			size_t q = p + 1;
			struct ltoks pt;

			m.funclike = 1;
			while (q < le && t[q] != ')')
				q++;
			tu_lex(t + p + 1, q - p - 1, &pt);
			for (int k = 0; k < pt.n; k++) {
				if (!strcmp(pt.v[k], ","))
					continue;
				if (!strcmp(pt.v[k], "..."))
					lt_push(&m.params, "__VA_ARGS__", 11);
				else if (ident_start((unsigned char)pt.v[k][0]))
					lt_push(&m.params, pt.v[k], strlen(pt.v[k]));
			}
			ltoks_free(&pt);
			p = q < le ? q + 1 : le;
		}
		tu_lex(t + p, le - p, &m.body);
		if (ix->nmacros == cap) {
			cap = cap ? 2 * cap : 16;
			ix->macros = xrealloc(ix->macros, cap * sizeof(*ix->macros));
		}
		ix->macros[ix->nmacros++] = m;
	}
	free(t);
}

/* ---- tokens and calls ------------------------------------------------ */

int tu_main_loc(const struct tu_index *ix, CXSourceLocation loc, unsigned *off, unsigned *line)
{
	CXFile f;
	unsigned l, c, o;

	clang_getFileLocation(loc, &f, &l, &c, &o);
	if (!f || !clang_File_isEqual(f, ix->file))
		return -1;
	*off = o;
	*line = l;
	return 0;
}

/* Is the line holding offset off continued by a backslash at its end? */
static int continued(const struct tu_index *ix, unsigned off)
{
	size_t e = off;

	while (e < ix->size && ix->text[e] != '\n')
		e++;
	while (e > off && (ix->text[e - 1] == ' ' || ix->text[e - 1] == '\t' ||
			   ix->text[e - 1] == '\r'))
		e--;
	return e > off && ix->text[e - 1] == '\\';
}

/*
 * Tokens of preprocessor directives: a '#' first on its line, to the end of
 * the logical line.  The audit blanks the same lines before it looks for
 * loops (csource.blank_directives).
 */
static void mark_directives(struct tu_index *ix)
{
	for (size_t i = 0; i < ix->ntoks; i++) {
		unsigned line;

		if (strcmp(ix->toks[i].s, "#") || (i > 0 && ix->toks[i - 1].line == ix->toks[i].line))
			continue;
		line = ix->toks[i].line;
		for (;;) {
			int more = 0;

			while (i < ix->ntoks && ix->toks[i].line == line) {
				ix->toks[i].directive = 1;
				more = continued(ix, ix->toks[i].off);
				i++;
			}
			if (!more || i >= ix->ntoks)
				break;
			line = ix->toks[i].line;
		}
		i--;
	}
}

static void tokenize_main(struct tu_index *ix)
{
	CXSourceLocation b = clang_getLocationForOffset(ix->tu, ix->file, 0);
	CXSourceLocation e = clang_getLocationForOffset(ix->tu, ix->file, (unsigned)ix->size);
	CXToken *toks = NULL;
	unsigned n = 0;

	clang_tokenize(ix->tu, clang_getRange(b, e), &toks, &n);
	ix->toks = xcalloc(n, sizeof(*ix->toks));
	ix->tokstr = xcalloc(n, sizeof(char *));
	for (unsigned i = 0; i < n; i++) {
		struct tok *t = &ix->toks[ix->ntoks];
		CXFile f;
		unsigned l, c, o;

		if (clang_getTokenKind(toks[i]) == CXToken_Comment)
			continue;
		clang_getSpellingLocation(clang_getTokenLocation(ix->tu, toks[i]), &f, &l, &c, &o);
		t->off = o;
		t->line = l;
		t->kind = clang_getTokenKind(toks[i]);
		t->s = cx_take(clang_getTokenSpelling(ix->tu, toks[i]));
		ix->tokstr[ix->ntoks] = t->s;
		ix->ntoks++;
	}
	clang_disposeTokens(ix->tu, toks, n);
	mark_directives(ix);
}

int tu_tok_at(const struct tu_index *ix, unsigned off)
{
	size_t lo = 0, hi = ix->ntoks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ix->toks[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->ntoks && ix->toks[lo].off == off ? (int)lo : -1;
}

/* Index of the first token at or after off. */
static int tok_at_or_after(const struct tu_index *ix, unsigned off)
{
	size_t lo = 0, hi = ix->ntoks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ix->toks[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int)lo;
}

int tu_find_fn(const struct tu_index *ix, const char *name)
{
	for (size_t i = 0; i < ix->nfns; i++)
		if (!strcmp(ix->fns[i].name, name))
			return (int)i;
	return -1;
}

const struct mmacro *tu_find_macro(const struct tu_index *ix, const char *name)
{
	/* the last definition wins, as for the preprocessor (roughly) */
	for (size_t i = ix->nmacros; i-- > 0;)
		if (!strcmp(ix->macros[i].name, name))
			return &ix->macros[i];
	return NULL;
}

struct fnvisit {
	struct tu_index *ix;
	int fn;
	size_t cap;
};

static int in_main(CXCursor c)
{
	return clang_Location_isFromMainFile(clang_getCursorLocation(c));
}

static void add_call(struct fnvisit *v, CXCursor c)
{
	struct tu_index *ix = v->ix;
	struct call *k;
	CXCursor ref, def;

	if (ix->ncalls == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 256;
		ix->calls = xrealloc(ix->calls, v->cap * sizeof(*ix->calls));
	}
	k = &ix->calls[ix->ncalls];
	memset(k, 0, sizeof(*k));
	k->cur = c;
	k->fn = v->fn;
	k->target = -1;
	k->tok = -1;
	k->in_main = !tu_main_loc(ix, clang_getCursorLocation(c), &k->off, &k->line);

	ref = clang_getCursorReferenced(c);
	if (!clang_Cursor_isNull(ref) && clang_getCursorKind(ref) == CXCursor_FunctionDecl) {
		k->callee = cursor_name(ref);
		def = clang_getCursorDefinition(ref);
		if (!clang_Cursor_isNull(def) && in_main(def))
			k->target = tu_find_fn(ix, k->callee);
	} else if (!clang_Cursor_isNull(ref)) {
		k->via = cursor_name(ref);
	}

	/* the site: same function, same main-file location */
	k->site = ix->ncalls;
	if (k->in_main) {
		struct func *f = &ix->fns[v->fn];

		for (size_t i = f->first; i < ix->ncalls; i++) {
			if (ix->calls[i].in_main && ix->calls[i].off == k->off) {
				k->site = ix->calls[i].site;
				break;
			}
		}
	}
	if (k->site != ix->ncalls) {
		const struct call *s = &ix->calls[k->site];

		if (s->macro) {
			k->macro = xstrdup(s->macro);
			k->macro_main = s->macro_main;
		}
		k->tok = s->tok;
	} else if (k->in_main) {
		CXSourceLocation l = clang_getLocationForOffset(ix->tu, ix->file, k->off);
		CXCursor at = clang_getCursor(ix->tu, l);

		k->tok = tu_tok_at(ix, k->off);
		if (clang_getCursorKind(at) == CXCursor_MacroExpansion) {
			k->macro = cursor_name(at);
			k->macro_main = in_main(clang_getCursorReferenced(at));
		} else if (k->callee && k->tok >= 0 &&
			   ix->toks[k->tok].kind == CXToken_Identifier &&
			   strcmp(ix->toks[k->tok].s, k->callee)) {
			/*
			 * The record misses expansions inside arguments that a
			 * macro pastes ('dev_err(dev, fmt, my_readl(a))' with
			 * ##__VA_ARGS__).  The identifier written where the call
			 * is, which is not the callee's name, is that macro.
			 */
			k->macro = xstrdup(ix->toks[k->tok].s);
			k->macro_main = tu_find_macro(ix, k->macro) != NULL;
		}
	}
	ix->ncalls++;
	ix->fns[v->fn].n++;
}

static enum CXChildVisitResult call_visitor(CXCursor c, CXCursor parent, CXClientData d)
{
	(void)parent;
	if (clang_getCursorKind(c) == CXCursor_CallExpr)
		add_call(d, c);
	return CXChildVisit_Recurse;
}

struct topvisit {
	struct tu_index *ix;
	size_t cap;
};

static enum CXChildVisitResult top_visitor(CXCursor c, CXCursor parent, CXClientData d)
{
	struct topvisit *v = d;
	struct tu_index *ix = v->ix;
	struct func *f;

	(void)parent;
	if (clang_getCursorKind(c) != CXCursor_FunctionDecl || !clang_isCursorDefinition(c) ||
	    !in_main(c))
		return CXChildVisit_Continue;
	if (ix->nfns == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 64;
		ix->fns = xrealloc(ix->fns, v->cap * sizeof(*ix->fns));
	}
	f = &ix->fns[ix->nfns++];
	memset(f, 0, sizeof(*f));
	f->name = cursor_name(c);
	f->cur = c;
	f->tok_first = f->tok_last = -1;
	{
		unsigned off, eoff;
		CXSourceRange r = clang_getCursorExtent(c);

		if (tu_main_loc(ix, clang_getCursorLocation(c), &off, &f->line))
			f->line = 0;
		if (!tu_main_loc(ix, clang_getRangeStart(r), &off, &f->end_line) &&
		    !tu_main_loc(ix, clang_getRangeEnd(r), &eoff, &f->end_line)) {
			f->tok_first = tok_at_or_after(ix, off);
			f->tok_last = tok_at_or_after(ix, eoff) - 1;
		}
	}
	return CXChildVisit_Continue;
}

int tu_index_build(struct tu_index *ix, CXTranslationUnit tu)
{
	struct topvisit tv = { ix, 0 };
	struct fnvisit fv = { ix, 0, 0 };
	char *path;

	memset(ix, 0, sizeof(*ix));
	ix->tu = tu;
	path = cx_take(clang_getTranslationUnitSpelling(tu));
	ix->file = clang_getFile(tu, path);
	free(path);
	if (!ix->file)
		return -1;
	ix->text = clang_getFileContents(tu, ix->file, &ix->size);
	if (!ix->text) {
		ix->text = "";
		ix->size = 0;
	}
	tokenize_main(ix);
	parse_macros(ix);
	clang_visitChildren(clang_getTranslationUnitCursor(tu), top_visitor, &tv);
	for (size_t i = 0; i < ix->nfns; i++) {
		fv.fn = (int)i;
		ix->fns[i].first = ix->ncalls;
		ix->fns[i].n = 0;
		clang_visitChildren(ix->fns[i].cur, call_visitor, &fv);
	}
	return 0;
}

void tu_index_free(struct tu_index *ix)
{
	for (size_t i = 0; i < ix->ntoks; i++)
		free(ix->toks[i].s);
	free(ix->toks);
	free(ix->tokstr);
	for (size_t i = 0; i < ix->nmacros; i++) {
		free(ix->macros[i].name);
		ltoks_free(&ix->macros[i].params);
		ltoks_free(&ix->macros[i].body);
	}
	free(ix->macros);
	for (size_t i = 0; i < ix->nfns; i++)
		free(ix->fns[i].name);
	free(ix->fns);
	for (size_t i = 0; i < ix->ncalls; i++) {
		free(ix->calls[i].callee);
		free(ix->calls[i].via);
		free(ix->calls[i].macro);
	}
	free(ix->calls);
	memset(ix, 0, sizeof(*ix));
}

char *tu_line_text(const struct tu_index *ix, unsigned line)
{
	const char *p = ix->text, *end = ix->text + ix->size, *e;

	for (unsigned l = 1; l < line && p < end; p++)
		if (*p == '\n')
			l++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	e = p;
	while (e < end && *e != '\n')
		e++;
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	return xstrndup(p, e - p);
}

char *tu_cursor_text(const struct tu_index *ix, CXCursor c)
{
	CXToken *toks = NULL;
	unsigned n = 0;
	char **s;
	char *r;

	clang_tokenize(ix->tu, clang_getCursorExtent(c), &toks, &n);
	s = xcalloc(n, sizeof(char *));
	for (unsigned i = 0; i < n; i++)
		s[i] = cx_take(clang_getTokenSpelling(ix->tu, toks[i]));
	r = tu_join(s, 0, (int)n);
	for (unsigned i = 0; i < n; i++)
		free(s[i]);
	free(s);
	clang_disposeTokens(ix->tu, toks, n);
	return r;
}
