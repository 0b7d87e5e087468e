/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Effects: what each call site of each main-file function means for the
 * contract, computed once per function (the audit's contract/effects.py
 * does the same from spatch's facts).  See checker/README.md, "How a call
 * is named (macros)", for how a site gets its name.
 */
#ifndef DMACB_EFFECTS_H
#define DMACB_EFFECTS_H

#include "check.h"

enum effect_kind {
	EFF_CALL,		/* a kb class (functions, macros, guards) */
	EFF_EDGE,		/* a call of a main-file function */
	EFF_UNKNOWN,		/* a name no table knows */
	EFF_INDIRECT,		/* a call through a pointer */
};

struct effect {
	size_t site;		/* ix->calls index of the site's first call */
	int fn;			/* the function holding the call */
	enum effect_kind kind;
	int cls;		/* EFF_CALL: index into kb->classes */
	int target;		/* EFF_EDGE: the function called */
	char *name;		/* what is called, as written ("m -> msleep") */
	char *base;		/* the name the tables know it by ("msleep") */
	char *why;		/* EFF_UNKNOWN / EFF_INDIRECT: what was not known */
	int has_gfp;		/* decide=gfp: the gfp argument is in gfp */
	struct ltoks gfp;
	struct ltoks *args;	/* edges: the call's arguments, when written out */
	int nargs;		/* -1: not visible */
	char *lock_usr;		/* lock classes: the lock (USR of field/global) */
	char *lock_text;	/* ... and its name as written */
	char *lock_show;	/* ... for messages */
};

struct effects {
	struct ctx *c;
	struct tu_index *ix;
	struct effect *e;
	size_t ne, cap;
	size_t *fn_first, *fn_n;	/* effects of function i */
};

void effects_build(struct effects *h, struct ctx *c, struct tu_index *ix);
void effects_free(struct effects *h);
unsigned effect_line(const struct effects *h, const struct effect *e);
/* acquire / release for an effect that takes or drops a named lock, else 0 */
enum kb_lock_role effect_lock_role(const struct effects *h, const struct effect *e);

#endif
