/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reachability: the main-file functions a callback may run, breadth first
 * (each function's parent edge gives a shortest path, for the evidence);
 * every edge between reachable functions counts for what depends on the
 * caller (a gfp parameter).  The audit's contract/reach.py does the same.
 */
#ifndef DMACB_REACH_H
#define DMACB_REACH_H

#include "effects.h"

struct reach {
	int root;
	char *in;		/* per function: reachable */
	long *parent;		/* per function: effect index of the edge that reached it */
	int *order;
	int n;
};

void reach_walk(const struct effects *h, int root, struct reach *r);
void reach_free(struct reach *r);
/* The path from the root to function fn as JSON frames appended to b. */
void reach_path_fn(const struct effects *h, const struct reach *r, int fn, struct sbuf *b);
/* The path from the root to effect e as JSON frames appended to b. */
void reach_path(const struct effects *h, const struct reach *r, const struct effect *e,
		struct sbuf *b);

#endif
