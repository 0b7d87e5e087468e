// SPDX-License-Identifier: GPL-2.0
/*
 * check_parse: the translation unit parses with its real compile flags.
 * Reports error-level diagnostics (count and the first few, file:line);
 * warnings are only counted (the Kbuild compile test with W=1 owns them).
 * The caller compares with the base tree.  Also lists the main file's
 * line ranges the preprocessor skipped ("skipped": [[first, last], ...]):
 * code this configuration does not compile, which the checker cannot judge
 * and the audit (reading the text) can; the parity test needs them.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAX_REPORTED 10

/* path relative to the tree when it is inside it */
static const char *rel_to_tree(const struct ctx *c, const char *p)
{
	size_t pl = strlen(c->path), fl = strlen(c->file);

	if (pl > fl && !strcmp(c->path + pl - fl, c->file) && c->path[pl - fl - 1] == '/') {
		size_t rl = pl - fl;	/* root, with the slash */

		if (!strncmp(p, c->path, rl))
			return p + rl;
	}
	return p;
}

int check_parse(struct ctx *c)
{
	unsigned n, errors = 0, warnings = 0, reported = 0;

	if (!c->tu) {
		sb_add(c->out, "\"error_count\":1,\"warning_count\":0,\"errors\":[{\"message\":");
		sb_json(c->out, c->tu_error ? c->tu_error : "no translation unit");
		sb_add(c->out, "}]");
		return 1;
	}
	n = clang_getNumDiagnostics(c->tu);
	sb_add(c->out, "\"errors\":[");
	for (unsigned i = 0; i < n; i++) {
		CXDiagnostic d = clang_getDiagnostic(c->tu, i);
		enum CXDiagnosticSeverity sev = clang_getDiagnosticSeverity(d);

		if (sev == CXDiagnostic_Warning)
			warnings++;
		if (sev >= CXDiagnostic_Error) {
			errors++;
			if (reported++ < MAX_REPORTED) {
				CXFile f;
				unsigned line, col, off;
				char *msg = cx_take(clang_getDiagnosticSpelling(d));

				clang_getFileLocation(clang_getDiagnosticLocation(d), &f, &line,
						      &col, &off);
				sb_sep(c->out);
				sb_add(c->out, "{\"file\":");
				if (f) {
					char *fn = cx_take(clang_getFileName(f));

					sb_json(c->out, rel_to_tree(c, fn));
					free(fn);
				} else {
					sb_add(c->out, "null");
				}
				sb_addf(c->out, ",\"line\":%u,\"message\":", line);
				sb_json(c->out, msg);
				sb_add(c->out, "}");
				free(msg);
			}
		}
		clang_disposeDiagnostic(d);
	}
	sb_addf(c->out, "],\"error_count\":%u,\"warning_count\":%u", errors, warnings);
	{
		CXFile f = clang_getFile(c->tu, c->path);
		CXSourceRangeList *sk = f ? clang_getSkippedRanges(c->tu, f) : NULL;

		sb_add(c->out, ",\"skipped\":[");
		for (unsigned i = 0; sk && i < sk->count; i++) {
			unsigned a, b;

			clang_getFileLocation(clang_getRangeStart(sk->ranges[i]), NULL, &a, NULL, NULL);
			clang_getFileLocation(clang_getRangeEnd(sk->ranges[i]), NULL, &b, NULL, NULL);
			sb_addf(c->out, "%s[%u,%u]", i ? "," : "", a, b);
		}
		sb_add(c->out, "]");
		if (sk)
			clang_disposeSourceRangeList(sk);
	}
	return errors ? 1 : 0;
}
