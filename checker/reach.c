// SPDX-License-Identifier: GPL-2.0
/* Reachability over the effects' edges (see reach.h). */
#include <stdlib.h>

#include "reach.h"

void reach_walk(const struct effects *h, int root, struct reach *r)
{
	size_t nf = h->ix->nfns;

	r->root = root;
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
			int t = h->e[i].kind == EFF_EDGE ? h->e[i].target : -1;

			if (t >= 0 && !r->in[t]) {
				r->in[t] = 1;
				r->parent[t] = (long)i;
				r->order[r->n++] = t;
			}
		}
	}
}

void reach_free(struct reach *r)
{
	free(r->in);
	free(r->parent);
	free(r->order);
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

void reach_path_fn(const struct effects *h, const struct reach *r, int fn, struct sbuf *b)
{
	long chain[256];
	int n = 0;

	for (int f = fn; r->parent[f] >= 0 && n < 256; f = h->e[r->parent[f]].fn)
		chain[n++] = r->parent[f];
	while (n-- > 0) {
		const struct effect *x = &h->e[chain[n]];

		frame(b, h->ix->fns[x->fn].name, h->ix->fns[x->target].name, h->c->file,
		      effect_line(h, x));
	}
}

void reach_path(const struct effects *h, const struct reach *r, const struct effect *e,
		struct sbuf *b)
{
	reach_path_fn(h, r, e->fn, b);
	frame(b, h->ix->fns[e->fn].name, e->name, h->c->file, effect_line(h, e));
}
