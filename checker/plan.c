// SPDX-License-Identifier: GPL-2.0
/* Load the verification plan (see plan.h).  Malformed lines are errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "sbuf.h"

static int is_ident(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

static char *opt_ident(const char *s)
{
	return strcmp(s, "-") ? xstrdup(s) : NULL;
}

int plan_load(struct plan *p, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	size_t cap = 0;
	int lineno = 0;

	p->v = NULL;
	p->n = 0;
	if (!f) {
		snprintf(err, errlen, "%s: cannot open", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *fld[8];
		int nf = 0;
		char *s = line, *nl;
		struct plan_item it = { 0 };

		lineno++;
		nl = strchr(line, '\n');
		if (!nl && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		if (nl)
			*nl = '\0';
		nl = strchr(line, '\r');
		if (nl)
			*nl = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		while (nf < 8) {
			char *t = strchr(s, '\t');

			fld[nf++] = s;
			if (!t)
				break;
			*t = '\0';
			s = t + 1;
		}
		for (int i = 0; i < nf; i++) {
			if (!fld[i][0]) {
				snprintf(err, errlen, "%s:%d: empty field %d", path, lineno, i + 1);
				goto fail;
			}
		}
		it.lineno = lineno;
		if (!strcmp(fld[0], "hardirq")) {
			if (nf != 3 && nf != 4) {
				snprintf(err, errlen, "%s:%d: expected hardirq<TAB>file<TAB>function"
					 "[<TAB>locked|unlocked]", path, lineno);
				goto fail;
			}
			if (nf == 4 && strcmp(fld[3], "locked") && strcmp(fld[3], "unlocked")) {
				snprintf(err, errlen, "%s:%d: '%s' is not locked or unlocked",
					 path, lineno, fld[3]);
				goto fail;
			}
			it.locked = nf == 3 || !strcmp(fld[3], "locked");
			if (!is_ident(fld[2])) {
				snprintf(err, errlen, "%s:%d: '%s' is not a function name",
					 path, lineno, fld[2]);
				goto fail;
			}
			it.kind = PLAN_HARDIRQ;
			it.func = xstrdup(fld[2]);
		} else if (!strcmp(fld[0], "completion")) {
			if (nf != 5) {
				snprintf(err, errlen, "%s:%d: expected completion<TAB>file<TAB>"
					 "callback|-<TAB>struct|-<TAB>field|-", path, lineno);
				goto fail;
			}
			for (int i = 2; i < 5; i++) {
				if (strcmp(fld[i], "-") && !is_ident(fld[i])) {
					snprintf(err, errlen, "%s:%d: '%s' is not an identifier or '-'",
						 path, lineno, fld[i]);
					goto fail;
				}
			}
			if (!strcmp(fld[3], "-") != !strcmp(fld[4], "-")) {
				snprintf(err, errlen, "%s:%d: struct and field must both be '-' or "
					 "both be given", path, lineno);
				goto fail;
			}
			it.kind = PLAN_COMPLETION;
			it.func = opt_ident(fld[2]);
			it.tag = opt_ident(fld[3]);
			it.field = opt_ident(fld[4]);
		} else if (!strcmp(fld[0], "provider")) {
			static const char *const bare[] = { "all-paths", "some-paths", "never",
							    "unknown", NULL };
			int ok = 0;

			if (nf != 4) {
				snprintf(err, errlen, "%s:%d: expected provider<TAB>file<TAB>"
					 "provider<TAB>bare", path, lineno);
				goto fail;
			}
			for (int i = 0; bare[i]; i++)
				ok |= !strcmp(fld[3], bare[i]);
			if (!ok) {
				snprintf(err, errlen, "%s:%d: '%s' is not all-paths, some-paths, "
					 "never or unknown", path, lineno, fld[3]);
				goto fail;
			}
			it.kind = PLAN_PROVIDER;
			it.func = xstrdup(fld[2]);
			it.tag = xstrdup(fld[3]);
		} else {
			snprintf(err, errlen, "%s:%d: unknown plan item '%s' (hardirq, completion, "
				 "provider)", path, lineno, fld[0]);
			goto fail;
		}
		if (fld[1][0] == '/') {
			snprintf(err, errlen, "%s:%d: file '%s' must be relative to the tree",
				 path, lineno, fld[1]);
			free(it.func);
			free(it.tag);
			free(it.field);
			goto fail;
		}
		it.file = xstrdup(fld[1]);
		if (p->n == cap) {
			cap = cap ? 2 * cap : 32;
			p->v = xrealloc(p->v, cap * sizeof(*p->v));
		}
		p->v[p->n++] = it;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	plan_free(p);
	return -1;
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].file);
		free(p->v[i].func);
		free(p->v[i].tag);
		free(p->v[i].field);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}
