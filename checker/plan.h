/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The verification plan written by the orchestrator (TSV, '#' comments):
 *
 *   hardirq<TAB>FILE<TAB>FUNCTION[<TAB>locked|unlocked]
 *   completion<TAB>FILE<TAB>DELETED_CALLBACK|-<TAB>STRUCT_TAG|-<TAB>FIELD|-
 *   provider<TAB>FILE<TAB>PROVIDER<TAB>BARE
 *
 * The fourth field of a hardirq item says whether a provider that may serve
 * FILE may run the callback with a lock held (rules 3 and 6 then apply,
 * kb/rules.tsv 'locked-delivery'): "locked" when it is missing, the side
 * that checks more.
 *
 * A provider item names one DMA provider that may serve FILE (its id in
 * providers.json, a path) and whether it signals a completion set without
 * a callback: BARE is all-paths, some-paths, never or unknown (rule 8).
 *
 * FILE is relative to the kernel tree.  A '-' field is stored as NULL.
 */
#ifndef DMACB_PLAN_H
#define DMACB_PLAN_H

#include <stddef.h>

enum plan_kind { PLAN_HARDIRQ, PLAN_COMPLETION, PLAN_PROVIDER };

struct plan_item {
	enum plan_kind kind;
	char *file;
	char *func;		/* hardirq: the callback; completion: deleted callback or NULL;
				 * provider: the provider's id */
	char *tag;		/* completion: struct tag, or NULL for a bare struct completion;
				 * provider: its BARE value */
	char *field;		/* completion: field, NULL iff tag is NULL */
	int locked;		/* hardirq: the delivery may hold a lock (rules 3 and 6) */
	int lineno;
};

struct plan {
	struct plan_item *v;
	size_t n;
};

/* Returns 0, or -1 with "file:line: why" in err. */
int plan_load(struct plan *p, const char *path, char *err, size_t errlen);
void plan_free(struct plan *p);

#endif
