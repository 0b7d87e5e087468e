// SPDX-License-Identifier: GPL-2.0
/* Locks of the main file (see locks.h). */
#include <stdlib.h>
#include <string.h>

#include "locks.h"

int lock_match(const struct effect *a, const struct effect *b)
{
	if (!a->lock_text || !b->lock_text)
		return 0;
	if (a->lock_usr && b->lock_usr)
		return !strcmp(a->lock_usr, b->lock_usr);
	return !strcmp(a->lock_text, b->lock_text);
}

static void find_irq_handlers(struct locks *l, const struct effects *h)
{
	const struct tu_index *ix = h->ix;
	const struct kb *kb = h->c->kb;

	l->irq_handler = xcalloc(ix->nfns + 1, 1);
	for (size_t i = 0; i < ix->ncalls; i++) {
		const struct call *cl = &ix->calls[i];
		const struct kb_named *r;
		CXCursor a, ref;
		char *n;
		int f;

		if (!cl->callee)
			continue;
		r = kb_find(kb->irqs, kb->nirqs, cl->callee);
		if (!r || r->i < 0 || (int)clang_Cursor_getNumArguments(cl->cur) <= r->i)
			continue;
		a = cursor_strip(clang_Cursor_getArgument(cl->cur, r->i));
		if (clang_getCursorKind(a) != CXCursor_DeclRefExpr)
			continue;
		ref = clang_getCursorReferenced(a);
		if (clang_getCursorKind(ref) != CXCursor_FunctionDecl)
			continue;
		n = cursor_name(ref);
		f = tu_find_fn(ix, n);
		if (f >= 0)
			l->irq_handler[f] = 1;
		free(n);
	}
}

static int is_dma(const struct effects *h, const struct effect *e)
{
	return e->kind == EFF_CALL && h->c->kb->classes[e->cls].rule == 3;
}

/* Functions that reach a dmaengine call through calls inside the file. */
static void find_dma_functions(struct locks *l, const struct effects *h)
{
	size_t nf = h->ix->nfns;
	int changed = 1;

	l->dma_fn = xcalloc(nf + 1, sizeof(int));
	for (size_t f = 0; f < nf; f++) {
		l->dma_fn[f] = -1;
		for (size_t i = h->fn_first[f]; i < h->fn_first[f] + h->fn_n[f]; i++)
			if (is_dma(h, &h->e[i])) {
				l->dma_fn[f] = (int)i;
				break;
			}
	}
	while (changed) {
		changed = 0;
		for (size_t f = 0; f < nf; f++) {
			if (l->dma_fn[f] >= 0)
				continue;
			for (size_t i = h->fn_first[f]; i < h->fn_first[f] + h->fn_n[f]; i++) {
				const struct effect *e = &h->e[i];

				if (e->kind == EFF_EDGE && l->dma_fn[e->target] >= 0) {
					l->dma_fn[f] = l->dma_fn[e->target];
					changed = 1;
					break;
				}
			}
		}
	}
}

/*
 * Holds: from an acquisition to the last release of the same lock before
 * its next acquisition in the function (error paths release early), or to
 * the end of the function when there is none (guard()); a dmaengine call
 * in between, direct or through a function of the file, makes it a hold
 * across dmaengine calls.
 */
static void find_holds(struct locks *l, const struct effects *h)
{
	const struct tu_index *ix = h->ix;

	for (size_t f = 0; f < ix->nfns; f++) {
		size_t a0 = h->fn_first[f], a1 = a0 + h->fn_n[f];

		for (size_t i = a0; i < a1; i++) {
			const struct effect *acq = &h->e[i];
			unsigned a = effect_line(h, acq), nxt = ~0u, end = 0;

			if (effect_lock_role(h, acq) != KB_LOCK_ACQUIRE)
				continue;
			for (size_t j = a0; j < a1; j++) {
				unsigned ln = effect_line(h, &h->e[j]);

				if (j != i && ln > a && ln < nxt && lock_match(acq, &h->e[j]) &&
				    effect_lock_role(h, &h->e[j]) == KB_LOCK_ACQUIRE)
					nxt = ln;
			}
			for (size_t j = a0; j < a1; j++) {
				unsigned ln = effect_line(h, &h->e[j]);

				if (ln > a && ln < nxt && ln > end && lock_match(acq, &h->e[j]) &&
				    effect_lock_role(h, &h->e[j]) == KB_LOCK_RELEASE)
					end = ln;
			}
			if (!end)
				end = ix->fns[f].end_line;
			/* the first dmaengine call of the region, in line order */
			{
				const struct effect *best = NULL;
				const char *inner = NULL;

				for (size_t j = a0; j < a1; j++) {
					const struct effect *e = &h->e[j];
					unsigned ln = effect_line(h, e);

					if (ln <= a || ln > end)
						continue;
					if (best && ln >= effect_line(h, best))
						continue;
					if (is_dma(h, e)) {
						best = e;
						inner = NULL;
					} else if (e->kind == EFF_EDGE && l->dma_fn[e->target] >= 0) {
						best = e;
						inner = h->e[l->dma_fn[e->target]].name;
					}
				}
				if (best) {
					l->holds = xrealloc(l->holds, (l->nholds + 1) * sizeof(*l->holds));
					l->holds[l->nholds].acq = acq;
					l->holds[l->nholds].dma = best;
					l->holds[l->nholds].inner = inner;
					l->nholds++;
				}
			}
		}
	}
}

void locks_build(struct locks *l, const struct effects *h)
{
	memset(l, 0, sizeof(*l));
	find_irq_handlers(l, h);
	find_dma_functions(l, h);
	find_holds(l, h);
}

void locks_free(struct locks *l)
{
	free(l->irq_handler);
	free(l->dma_fn);
	free(l->holds);
	memset(l, 0, sizeof(*l));
}
