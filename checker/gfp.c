// SPDX-License-Identifier: GPL-2.0
/* gfp expressions by value over kb/gfp.tsv (see gfp.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gfp.h"

struct parser {
	struct gfp_flags *f;
	char *const *t;
	int n, i, depth;
	gfp_lookup_fn lookup;
	void *arg;
	struct sbuf *why;
};

static int expr_or(struct parser *p, struct gfp_value *out);

void gfp_flags_init(struct gfp_flags *f, const struct kb *kb)
{
	int bit = 0;

	memset(f, 0, sizeof(*f));
	f->kb = kb;
	f->value = xcalloc(kb->ngfp + 1, sizeof(uint64_t));
	f->state = xcalloc(kb->ngfp + 1, 1);
	for (int i = 0; i < kb->ngfp; i++) {
		const char *v = kb->gfp[i].s;

		if (strcmp(v, "bit") && strcmp(v, "sleeps"))
			continue;
		f->value[i] = (uint64_t)1 << bit++;
		f->state[i] = 1;
		f->all |= f->value[i];
		if (!strcmp(v, "sleeps")) {
			f->sleeps = f->value[i];
			f->sleeps_name = kb->gfp[i].name;
		}
	}
}

void gfp_flags_free(struct gfp_flags *f)
{
	free(f->value);
	free(f->state);
}

static int add_alt(struct gfp_value *v, uint64_t x)
{
	for (int i = 0; i < v->n; i++)
		if (v->v[i] == x)
			return 0;
	if (v->n == GFP_MAX_ALTS)
		return -1;
	v->v[v->n++] = x;
	return 0;
}

static int combine(struct parser *p, struct gfp_value *a, const struct gfp_value *b, int op)
{
	struct gfp_value r = { .n = 0 };

	for (int i = 0; i < a->n; i++)
		for (int j = 0; j < b->n; j++)
			if (add_alt(&r, op == '|' ? a->v[i] | b->v[j] : a->v[i] & b->v[j])) {
				sb_add(p->why, "too many gfp values to follow");
				return -1;
			}
	*a = r;
	return 0;
}

/* The value of a name of the table (___GFP_X is read as __GFP_X). */
static int table_value(struct gfp_flags *f, const char *name, int depth, uint64_t *out,
		       struct sbuf *why)
{
	const struct kb *kb = f->kb;
	const char *n = !strncmp(name, "___GFP_", 7) ? name + 1 : name;
	const struct kb_named *e = kb_find(kb->gfp, kb->ngfp, n);
	int i;

	if (!e)
		return 0;
	i = (int)(e - kb->gfp);
	if (f->state[i] == 0 && depth < 16) {
		struct ltoks t;
		struct gfp_value v;
		struct sbuf w;

		f->state[i] = 2;
		tu_lex(e->s, strlen(e->s), &t);
		sb_init(&w);
		if (!gfp_eval(f, t.v, t.n, NULL, NULL, depth + 1, &v, &w) && v.n == 1) {
			f->value[i] = v.v[0];
			f->state[i] = 1;
		} else {
			f->state[i] = 3;
		}
		sb_free(&w);
		ltoks_free(&t);
	}
	if (f->state[i] != 1) {
		sb_addf(why, "'%s' cannot be evaluated from kb/gfp.tsv", name);
		return -1;
	}
	*out = f->value[i];
	return 1;
}

static int is_cast_word(const char *s)
{
	return !strcmp(s, "__force") || !strcmp(s, "gfp_t") || !strcmp(s, "unsigned") ||
	       !strcmp(s, "int");
}

static int unary(struct parser *p, struct gfp_value *out)
{
	const char *s;

	if (p->i >= p->n) {
		sb_add(p->why, "expression ends early");
		return -1;
	}
	s = p->t[p->i++];
	if (!strcmp(s, "~")) {
		if (unary(p, out))
			return -1;
		for (int i = 0; i < out->n; i++)
			out->v[i] = p->f->all & ~out->v[i];
		return 0;
	}
	if (!strcmp(s, "(")) {
		int j = p->i;

		while (j < p->n && is_cast_word(p->t[j]))
			j++;
		if (j > p->i && j < p->n && !strcmp(p->t[j], ")")) {
			p->i = j + 1;
			return unary(p, out);
		}
		if (expr_or(p, out))
			return -1;
		if (p->i >= p->n || strcmp(p->t[p->i], ")")) {
			sb_add(p->why, "unbalanced parentheses");
			return -1;
		}
		p->i++;
		return 0;
	}
	if (isdigit((unsigned char)s[0])) {
		if (strtoull(s, NULL, 0) == 0) {
			out->n = 1;
			out->v[0] = 0;
			return 0;
		}
		sb_addf(p->why, "a numeric gfp '%s'", s);
		return -1;
	}
	if (isalpha((unsigned char)s[0]) || s[0] == '_') {
		uint64_t v;
		int r = p->lookup ? p->lookup(p->arg, s, p->depth, out, p->why) : 0;

		if (r)
			return r > 0 ? 0 : -1;
		r = table_value(p->f, s, p->depth, &v, p->why);
		if (r < 0)
			return -1;
		if (r == 0) {
			sb_addf(p->why, "'%s' is not a gfp flag of kb/gfp.tsv", s);
			return -1;
		}
		out->n = 1;
		out->v[0] = v;
		return 0;
	}
	sb_addf(p->why, "unexpected '%s'", s);
	return -1;
}

static int expr_and(struct parser *p, struct gfp_value *out)
{
	if (unary(p, out))
		return -1;
	while (p->i < p->n && !strcmp(p->t[p->i], "&")) {
		struct gfp_value b;

		p->i++;
		if (unary(p, &b) || combine(p, out, &b, '&'))
			return -1;
	}
	return 0;
}

static int expr_or(struct parser *p, struct gfp_value *out)
{
	if (expr_and(p, out))
		return -1;
	while (p->i < p->n && !strcmp(p->t[p->i], "|")) {
		struct gfp_value b;

		p->i++;
		if (expr_and(p, &b) || combine(p, out, &b, '|'))
			return -1;
	}
	return 0;
}

int gfp_eval(struct gfp_flags *f, char *const *t, int n, gfp_lookup_fn lookup, void *arg,
	     int depth, struct gfp_value *out, struct sbuf *why)
{
	struct parser p = { f, t, n, 0, depth, lookup, arg, why };

	out->n = 0;
	if (n <= 0) {
		sb_add(why, "no gfp argument");
		return -1;
	}
	if (expr_or(&p, out))
		return -1;
	if (p.i != n) {
		char *s = tu_join(t, 0, n);

		sb_addf(why, "cannot read '%s'", s);
		free(s);
		return -1;
	}
	return 0;
}

int gfp_sleeps(const struct gfp_flags *f, const struct gfp_value *v)
{
	for (int i = 0; i < v->n; i++)
		if (v->v[i] & f->sleeps)
			return 1;
	return 0;
}
