/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Locks: which functions are hard IRQ handlers (kb/irq-requests.tsv), when
 * two lock calls name the same lock, and where a main-file function holds a
 * lock across dmaengine calls (rule 6).  The audit's contract/locks.py is
 * the same over names only; here a member or a global is compared by its
 * declaration (USR), a local or parameter by name.
 */
#ifndef DMACB_LOCKS_H
#define DMACB_LOCKS_H

#include "effects.h"

struct hold {
	const struct effect *acq;	/* the acquisition */
	const struct effect *dma;	/* the dmaengine call (or the edge to it) */
	const char *inner;		/* edge: the dmaengine call it reaches */
};

struct locks {
	char *irq_handler;	/* per function */
	int *dma_fn;		/* per function: effect index of a dmaengine call it reaches, or -1 */
	struct hold *holds;
	size_t nholds;
};

void locks_build(struct locks *l, const struct effects *h);
void locks_free(struct locks *l);
int lock_match(const struct effect *a, const struct effect *b);

#endif
