/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DMACB_RUN_H
#define DMACB_RUN_H

#include "cdb.h"
#include "kb.h"
#include "plan.h"
#include "sbuf.h"

/* libclang parse options used for every file */
extern const unsigned dmacb_parse_options;

/*
 * Parse one file with its compile command and run every check on it.
 * rel is the file as the plan names it.  Appends the file's JSON object to
 * out.  Returns 0 when all checks pass, 1 otherwise.
 */
int check_file(const struct kb *kb, const struct plan *plan, const char *rel,
	       const struct tu_cmd *cmd, struct sbuf *out);

#endif
