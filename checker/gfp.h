/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gfp by value (kb/gfp.tsv): an allocation may sleep when its gfp argument's
 * value has the flag the table marks 'sleeps' (__GFP_DIRECT_RECLAIM), as
 * gfpflags_allow_blocking() decides.  The audit's contract/gfp.py is the
 * same evaluator: '|', '&', '~', parentheses, casts, 0.
 */
#ifndef DMACB_GFP_H
#define DMACB_GFP_H

#include <stdint.h>

#include "kb.h"
#include "sbuf.h"
#include "tu.h"

#define GFP_MAX_ALTS 64

/* A value: alternatives (a parameter passed different gfps by its callers). */
struct gfp_value {
	uint64_t v[GFP_MAX_ALTS];
	int n;
};

struct gfp_flags {
	const struct kb *kb;
	uint64_t all, sleeps;
	const char *sleeps_name;
	uint64_t *value;	/* per kb->gfp entry, once evaluated */
	char *state;		/* 0 not yet, 1 done, 2 in progress, 3 undecided */
};

/*
 * Resolves a name the table does not define: returns 1 and fills out (a
 * parameter's callers, a macro of the file), 0 when it is not local, -1
 * when it is but cannot be decided (why says why).
 */
typedef int (*gfp_lookup_fn)(void *arg, const char *name, int depth, struct gfp_value *out,
			     struct sbuf *why);

void gfp_flags_init(struct gfp_flags *f, const struct kb *kb);
void gfp_flags_free(struct gfp_flags *f);
/* 0 and out filled, or -1 (undecided, why filled). */
int gfp_eval(struct gfp_flags *f, char *const *t, int n, gfp_lookup_fn lookup, void *arg,
	     int depth, struct gfp_value *out, struct sbuf *why);
int gfp_sleeps(const struct gfp_flags *f, const struct gfp_value *v);

#endif
