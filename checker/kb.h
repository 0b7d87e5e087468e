/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The knowledge base of kernel functions (kb/kernel-functions.tsv), as the
 * C checker reads it.  The audit (Python) reads the same file: one reviewed
 * source of truth for "may this function run in hardirq context".
 */
#ifndef DMACB_KB_H
#define DMACB_KB_H

#include <stddef.h>

enum kb_class {
	KB_UNKNOWN = 0,		/* not listed, or listed as unknown */
	KB_SAFE,
	KB_DEBUG,
	KB_COMPLETE,
	KB_WAKE,
	KB_NOTIFY,
	KB_LOCK_IRQSAVE,
	KB_UNLOCK_IRQRESTORE,
	KB_LOCK_IRQ,
	KB_IRQ_REENABLE,
	KB_LOCK,
	KB_UNLOCK,
	KB_BH_LOCK,
	KB_TASKLET,
	KB_WORK,
	KB_SLEEP,
	KB_SLEEP_GFP,
	KB_REGMAP,		/* sleeps unless the driver's regmap is MMIO */
	KB_SOFTIRQ_ONLY,
	KB_DMAENGINE,
	KB_NR_CLASSES
};

struct kb_entry {
	char *name;
	enum kb_class cls;
	int gfp_arg;		/* KB_SLEEP_GFP: index of the gfp argument, else -1 */
};

struct kb {
	struct kb_entry *v;
	size_t n;
};

/* Returns 0, or -1 with a message "file:line: why" in err. */
int kb_load(struct kb *kb, const char *path, char *err, size_t errlen);
void kb_free(struct kb *kb);
const struct kb_entry *kb_lookup(const struct kb *kb, const char *name);
const char *kb_class_name(enum kb_class cls);
/* Does this class break the hardirq contract by itself? */
int kb_class_forbidden_in_hardirq(enum kb_class cls);

#endif
