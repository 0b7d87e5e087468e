/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The contract's tables (the .tsv files of kb/), as the C checker reads them.  The audit
 * (scripts/dmacb_lib/contract/tables.py) reads the same files with the same
 * checks: one reviewed source of truth for the hardirq contract.
 *
 *   rules.tsv             rule -> reasons, where it applies
 *   classes.tsv           class -> rule, reason, lock role, decider
 *   kernel-functions.tsv  name -> class (gfp=N for gfp-decided classes)
 *   guards.tsv            guard(T) -> class
 *   irq-requests.tsv      request_irq() family -> handler arguments
 *   gfp.tsv               gfp flags by value
 *   regmap.tsv            regmap constructors -> mmio / bus
 *   lock-forms.tsv        lock calls that lock a member of their argument
 *   polling.tsv           rule 7's polling forms
 */
#ifndef DMACB_KB_H
#define DMACB_KB_H

#include <stddef.h>

enum kb_lock_role { KB_LOCK_NONE, KB_LOCK_ACQUIRE, KB_LOCK_RELEASE, KB_LOCK_BY_NAME };
enum kb_decide { KB_DECIDE_NONE, KB_DECIDE_GFP, KB_DECIDE_REGMAP };
enum kb_applies { KB_APPLIES_ALWAYS, KB_APPLIES_LOCKED, KB_APPLIES_COMPLETION };
enum kb_poll_form { KB_POLL_NONE, KB_POLL_TIME, KB_POLL_TIME_POLL, KB_POLL_SPIN };

struct kb_rule {
	int number;
	char **reasons;
	int nreasons;
	enum kb_applies applies;
};

struct kb_class {
	char *name;
	int rule;		/* 0: breaks no rule by itself */
	char *reason;		/* NULL: gives no reason */
	enum kb_lock_role lock;
	enum kb_decide decide;
};

struct kb_entry {
	char *name;
	int cls;		/* index into kb.classes */
	int gfp_arg;		/* decide=gfp: index of the gfp argument, else -1 */
};

struct kb_named {		/* a name and an index or a string */
	char *name;
	int i, j;
	char *s;
};

struct kb {
	struct kb_rule *rules;
	int nrules;
	struct kb_class *classes;
	int nclasses;
	struct kb_entry *v;	/* kernel functions, sorted by name */
	size_t n;
	struct kb_named *guards;	/* i: class */
	int nguards;
	struct kb_named *irqs;		/* i: hardirq arg, j: thread arg (-1: none) */
	int nirqs;
	struct kb_named *gfp;		/* s: value */
	int ngfp;
	struct kb_named *regmap;	/* name: pattern; i: 1 mmio, 0 bus */
	int nregmap;
	struct kb_named *lockforms;	/* s: member */
	int nlockforms;
	struct kb_named *polling;	/* name: pattern; i: enum kb_poll_form */
	int npolling;
	/* classes the rules refer to by name */
	int c_unknown, c_safe, c_lock, c_bh_lock, c_irq_reenable;
};

/*
 * path: the kb directory, or a file in it (kernel-functions.tsv).
 * Returns 0, or -1 with a message "file:line: why" in err.
 */
int kb_load(struct kb *kb, const char *path, char *err, size_t errlen);
void kb_free(struct kb *kb);
const struct kb_entry *kb_lookup(const struct kb *kb, const char *name);
const char *kb_class_name(const struct kb *kb, int cls);
const struct kb_named *kb_find(const struct kb_named *v, int n, const char *name);
/* The first pattern of v ('*' globs) that name matches, or NULL. */
const struct kb_named *kb_match(const struct kb_named *v, int n, const char *name);
enum kb_poll_form kb_poll_form(const struct kb *kb, const char *name);
const struct kb_rule *kb_rule(const struct kb *kb, int number);
/* The rule whose reasons include reason, or 0. */
int kb_rule_of_reason(const struct kb *kb, const char *reason);

#endif
