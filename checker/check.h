/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One check per file, as Smatch does: check_<name>.c defines
 * int check_<name>(struct ctx *), and checks.c is the one registration
 * table.  A check appends its JSON members (no braces) to ctx->out and
 * returns 0 when the file passes, 1 when it fails; the runner wraps them
 * as "<name>": {"ok": bool, <members>}.
 */
#ifndef DMACB_CHECK_H
#define DMACB_CHECK_H

#include <clang-c/Index.h>

#include "kb.h"
#include "plan.h"
#include "sbuf.h"
#include "tu.h"

struct ctx {
	const char *file;		/* as in the plan: relative to the tree */
	const char *path;		/* absolute path that was parsed */
	CXTranslationUnit tu;		/* NULL when libclang produced none */
	const char *tu_error;		/* why there is no TU */
	const struct kb *kb;
	const struct plan *plan;
	struct sbuf *out;		/* the running check's JSON members */
	struct tu_index *ix;		/* use ctx_index() */
	int ix_failed;
};

struct check {
	const char *name;
	int (*run)(struct ctx *);
};

extern const struct check checks[];	/* NULL-terminated */

int check_parse(struct ctx *c);
int check_hardirq(struct ctx *c);
int check_deleted(struct ctx *c);
int check_completion(struct ctx *c);
int check_providers(struct ctx *c);

/* The main-file index, built on first use; NULL (and an "error" member
 * written to c->out) when there is no translation unit. */
struct tu_index *ctx_index(struct ctx *c);

/* Appends {"file":..., "ok":..., "checks":{...}} for c to out.
 * Returns 0 when every check passed, 1 otherwise. */
int run_checks(struct ctx *c, struct sbuf *out);

/* Helpers shared by the checks. */
CXCursor cursor_first_child(CXCursor c, unsigned *nchildren);
/* Strips implicit casts and parentheses. */
CXCursor cursor_strip(CXCursor c);

#endif
