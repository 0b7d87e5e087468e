// SPDX-License-Identifier: GPL-2.0
/*
 * Load the contract's tables from kb/ with the audit's checks
 * (scripts/dmacb_lib/contract/tables.py): an unknown class, an unknown rule,
 * a duplicate name or a malformed line is an error, never a silent
 * "unknown".
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kb.h"

#define MAXCOLS 8

struct row {
	int lineno;
	char *col[MAXCOLS];
	int ncol;
	char *buf;
};

struct rows {
	struct row *v;
	int n;
	char path[4096];
};

static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static void rows_free(struct rows *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->v[i].buf);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/* Non-comment lines of dir/name split at tabs, each with >= ncols columns. */
static int read_rows(struct rows *r, const char *dir, const char *name, int ncols,
		     char *err, size_t errlen)
{
	FILE *f;
	char line[2048];
	int lineno = 0;

	r->v = NULL;
	r->n = 0;
	snprintf(r->path, sizeof(r->path), "%s/%s", dir, name);
	f = fopen(r->path, "r");
	if (!f) {
		set_err(err, errlen, "%s: cannot read a table of the contract (%s)", r->path,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		struct row w = { 0 };
		char *p, *nl;

		lineno++;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (!*p || line[0] == '#')
			continue;
		w.lineno = lineno;
		w.buf = strdup(line);
		p = w.buf;
		while (p && w.ncol < MAXCOLS) {
			char *t = strchr(p, '\t');

			if (t)
				*t++ = '\0';
			w.col[w.ncol++] = p;
			p = t;
		}
		if (w.ncol < ncols || !w.col[0][0]) {
			set_err(err, errlen, "%s:%d: expected %d tab-separated columns", r->path,
				lineno, ncols);
			free(w.buf);
			fclose(f);
			rows_free(r);
			return -1;
		}
		r->v = realloc(r->v, (r->n + 1) * sizeof(*r->v));
		r->v[r->n++] = w;
	}
	fclose(f);
	return 0;
}

static char *xdup(const char *s)
{
	char *d = strdup(s);

	if (!d) {
		fputs("out of memory\n", stderr);
		exit(2);
	}
	return d;
}

static int class_index(const struct kb *kb, const char *name)
{
	for (int i = 0; i < kb->nclasses; i++)
		if (!strcmp(kb->classes[i].name, name))
			return i;
	return -1;
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct kb_entry *)a)->name, ((const struct kb_entry *)b)->name);
}

static int named_dup(const struct kb_named *v, int n, const char *name)
{
	return kb_find(v, n, name) != NULL;
}

static void named_add(struct kb_named **v, int *n, const char *name, int i, int j,
		      const char *s)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = xdup(name);
	(*v)[*n].i = i;
	(*v)[*n].j = j;
	(*v)[*n].s = s ? xdup(s) : NULL;
	(*n)++;
}

static int load_rules(struct kb *kb, const char *dir, char *err, size_t errlen)
{
	struct rows r;

	if (read_rows(&r, dir, "rules.tsv", 4, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		struct row *w = &r.v[i];
		struct kb_rule *k;
		char *p, *save = NULL;

		if (!is_number(w->col[0])) {
			set_err(err, errlen, "%s:%d: rule '%s' is not a number", r.path, w->lineno,
				w->col[0]);
			goto fail;
		}
		if (kb_rule(kb, atoi(w->col[0]))) {
			set_err(err, errlen, "%s:%d: duplicate entry '%s'", r.path, w->lineno,
				w->col[0]);
			goto fail;
		}
		kb->rules = realloc(kb->rules, (kb->nrules + 1) * sizeof(*kb->rules));
		k = &kb->rules[kb->nrules++];
		memset(k, 0, sizeof(*k));
		k->number = atoi(w->col[0]);
		for (p = strtok_r(w->col[1], ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			k->reasons = realloc(k->reasons, (k->nreasons + 1) * sizeof(char *));
			k->reasons[k->nreasons++] = xdup(p);
		}
		if (!strcmp(w->col[2], "always")) {
			k->applies = KB_APPLIES_ALWAYS;
		} else if (!strcmp(w->col[2], "locked-delivery")) {
			k->applies = KB_APPLIES_LOCKED;
		} else if (!strcmp(w->col[2], "completion")) {
			k->applies = KB_APPLIES_COMPLETION;
		} else {
			set_err(err, errlen, "%s:%d: unknown 'applies' value '%s'", r.path, w->lineno,
				w->col[2]);
			goto fail;
		}
	}
	rows_free(&r);
	return 0;
fail:
	rows_free(&r);
	return -1;
}

static int load_classes(struct kb *kb, const char *dir, char *err, size_t errlen)
{
	static const char *const roles[] = { "-", "acquire", "release", "by-name", NULL };
	static const char *const deciders[] = { "-", "gfp", "regmap", NULL };
	struct rows r;

	if (read_rows(&r, dir, "classes.tsv", 6, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		struct row *w = &r.v[i];
		struct kb_class *c;
		int role = -1, dec = -1;

		if (class_index(kb, w->col[0]) >= 0) {
			set_err(err, errlen, "%s:%d: duplicate entry '%s'", r.path, w->lineno,
				w->col[0]);
			goto fail;
		}
		kb->classes = realloc(kb->classes, (kb->nclasses + 1) * sizeof(*kb->classes));
		c = &kb->classes[kb->nclasses++];
		memset(c, 0, sizeof(*c));
		c->name = xdup(w->col[0]);
		if (strcmp(w->col[1], "-")) {
			if (!is_number(w->col[1]) || !kb_rule(kb, atoi(w->col[1]))) {
				set_err(err, errlen, "%s:%d: class '%s' refers to unknown rule '%s'",
					r.path, w->lineno, w->col[0], w->col[1]);
				goto fail;
			}
			c->rule = atoi(w->col[1]);
		}
		if (strcmp(w->col[2], "-")) {
			c->reason = xdup(w->col[2]);
			if (c->rule && kb_rule_of_reason(kb, c->reason) != c->rule) {
				set_err(err, errlen, "%s:%d: reason '%s' is not one of rule %d's",
					r.path, w->lineno, c->reason, c->rule);
				goto fail;
			}
			if (!c->rule && strcmp(c->reason, "unknown-call")) {
				set_err(err, errlen, "%s:%d: unknown reason '%s'", r.path, w->lineno,
					c->reason);
				goto fail;
			}
		}
		for (int k = 0; roles[k]; k++)
			if (!strcmp(w->col[3], roles[k]))
				role = k;
		for (int k = 0; deciders[k]; k++)
			if (!strcmp(w->col[4], deciders[k]))
				dec = k;
		if (role < 0 || dec < 0) {
			set_err(err, errlen, "%s:%d: unknown %s '%s'", r.path, w->lineno,
				role < 0 ? "lock role" : "'decide' value",
				role < 0 ? w->col[3] : w->col[4]);
			goto fail;
		}
		c->lock = (enum kb_lock_role)role;
		c->decide = (enum kb_decide)dec;
	}
	rows_free(&r);
	return 0;
fail:
	rows_free(&r);
	return -1;
}

static int load_functions(struct kb *kb, const char *dir, char *err, size_t errlen)
{
	struct rows r;
	size_t cap = 0;

	if (read_rows(&r, dir, "kernel-functions.tsv", 2, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		struct row *w = &r.v[i];
		struct kb_entry e;
		int c = class_index(kb, w->col[1]);

		if (c < 0) {
			set_err(err, errlen, "%s:%d: unknown class '%s'", r.path, w->lineno,
				w->col[1]);
			goto fail;
		}
		e.cls = c;
		e.gfp_arg = -1;
		if (kb->classes[c].decide == KB_DECIDE_GFP) {
			const char *g = w->ncol > 2 ? strstr(w->col[2], "gfp=") : NULL;

			if (!g || !isdigit((unsigned char)g[4])) {
				set_err(err, errlen, "%s:%d: %s needs gfp=N in the note", r.path,
					w->lineno, w->col[1]);
				goto fail;
			}
			e.gfp_arg = atoi(g + 4);
		}
		if (kb->n == cap) {
			cap = cap ? 2 * cap : 512;
			kb->v = realloc(kb->v, cap * sizeof(*kb->v));
		}
		e.name = xdup(w->col[0]);
		kb->v[kb->n++] = e;
	}
	qsort(kb->v, kb->n, sizeof(*kb->v), cmp_entry);
	for (size_t i = 1; i < kb->n; i++) {
		if (!strcmp(kb->v[i - 1].name, kb->v[i].name)) {
			set_err(err, errlen, "%s: duplicate entry '%s'", r.path, kb->v[i].name);
			goto fail;
		}
	}
	rows_free(&r);
	return 0;
fail:
	rows_free(&r);
	return -1;
}

static int load_small(struct kb *kb, const char *dir, char *err, size_t errlen)
{
	struct rows r;

	if (read_rows(&r, dir, "guards.tsv", 2, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		int c = class_index(kb, r.v[i].col[1]);

		if (c < 0 || named_dup(kb->guards, kb->nguards, r.v[i].col[0])) {
			set_err(err, errlen, c < 0 ? "%s:%d: unknown class '%s'" :
				"%s:%d: duplicate entry '%s'", r.path, r.v[i].lineno,
				c < 0 ? r.v[i].col[1] : r.v[i].col[0]);
			rows_free(&r);
			return -1;
		}
		named_add(&kb->guards, &kb->nguards, r.v[i].col[0], c, 0, NULL);
	}
	rows_free(&r);

	if (read_rows(&r, dir, "irq-requests.tsv", 3, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		struct row *w = &r.v[i];
		int a[2];

		for (int k = 0; k < 2; k++) {
			if (!strcmp(w->col[1 + k], "-")) {
				a[k] = -1;
			} else if (is_number(w->col[1 + k])) {
				a[k] = atoi(w->col[1 + k]);
			} else {
				set_err(err, errlen, "%s:%d: argument index '%s' is not a number or '-'",
					r.path, w->lineno, w->col[1 + k]);
				rows_free(&r);
				return -1;
			}
		}
		named_add(&kb->irqs, &kb->nirqs, w->col[0], a[0], a[1], NULL);
	}
	rows_free(&r);

	if (read_rows(&r, dir, "gfp.tsv", 2, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		if (named_dup(kb->gfp, kb->ngfp, r.v[i].col[0])) {
			set_err(err, errlen, "%s:%d: duplicate entry '%s'", r.path, r.v[i].lineno,
				r.v[i].col[0]);
			rows_free(&r);
			return -1;
		}
		named_add(&kb->gfp, &kb->ngfp, r.v[i].col[0], 0, 0, r.v[i].col[1]);
	}
	rows_free(&r);
	{
		int sleeps = 0;

		for (int i = 0; i < kb->ngfp; i++) {
			const char *v = kb->gfp[i].s;

			sleeps += !strcmp(v, "sleeps");
			if (!strcmp(v, "bit") || !strcmp(v, "sleeps"))
				continue;
			for (const char *p = v; *p;) {
				if (isalpha((unsigned char)*p) || *p == '_') {
					const char *q = p;
					char name[128];

					while (isalnum((unsigned char)*q) || *q == '_')
						q++;
					snprintf(name, sizeof(name), "%.*s", (int)(q - p), p);
					if (!kb_find(kb->gfp, kb->ngfp, name)) {
						set_err(err, errlen, "%s/gfp.tsv: %s refers to '%s', which "
							"the table does not define", dir, kb->gfp[i].name,
							name);
						return -1;
					}
					p = q;
				} else {
					p++;
				}
			}
		}
		if (sleeps != 1) {
			set_err(err, errlen, "%s/gfp.tsv: exactly one flag must be marked 'sleeps'",
				dir);
			return -1;
		}
	}

	if (read_rows(&r, dir, "regmap.tsv", 2, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		const char *k = r.v[i].col[1];

		if (strcmp(k, "mmio") && strcmp(k, "bus")) {
			set_err(err, errlen, "%s:%d: unknown regmap kind '%s' (mmio, bus)", r.path,
				r.v[i].lineno, k);
			rows_free(&r);
			return -1;
		}
		named_add(&kb->regmap, &kb->nregmap, r.v[i].col[0], !strcmp(k, "mmio"), 0, NULL);
	}
	rows_free(&r);

	if (read_rows(&r, dir, "lock-forms.tsv", 2, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		const struct kb_entry *e = kb_lookup(kb, r.v[i].col[0]);

		if (!e || kb->classes[e->cls].lock == KB_LOCK_NONE) {
			set_err(err, errlen, "%s:%d: '%s' is not a lock function of "
				"kb/kernel-functions.tsv", r.path, r.v[i].lineno, r.v[i].col[0]);
			rows_free(&r);
			return -1;
		}
		named_add(&kb->lockforms, &kb->nlockforms, r.v[i].col[0], 0, 0, r.v[i].col[1]);
	}
	rows_free(&r);

	if (read_rows(&r, dir, "polling.tsv", 2, err, errlen))
		return -1;
	for (int i = 0; i < r.n; i++) {
		static const char *const forms[] = { "-", "time", "time-poll", "spin", NULL };
		int f = -1;

		for (int k = 0; forms[k]; k++)
			if (!strcmp(r.v[i].col[1], forms[k]))
				f = k;
		if (f < 0) {
			set_err(err, errlen, "%s:%d: unknown polling form '%s'", r.path,
				r.v[i].lineno, r.v[i].col[1]);
			rows_free(&r);
			return -1;
		}
		named_add(&kb->polling, &kb->npolling, r.v[i].col[0], f, 0, NULL);
	}
	rows_free(&r);
	return 0;
}

int kb_load(struct kb *kb, const char *path, char *err, size_t errlen)
{
	char dir[4096];
	struct stat st;
	static const char *const needed[] = { "unknown", "safe", "lock", "bh-lock",
					      "irq-reenable", NULL };

	memset(kb, 0, sizeof(*kb));
	snprintf(dir, sizeof(dir), "%s", path);
	if (stat(dir, &st)) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');

		if (slash)
			*slash = '\0';
		else
			strcpy(dir, ".");
	}
	if (load_rules(kb, dir, err, errlen) || load_classes(kb, dir, err, errlen) ||
	    load_functions(kb, dir, err, errlen) || load_small(kb, dir, err, errlen)) {
		kb_free(kb);
		return -1;
	}
	for (int i = 0; needed[i]; i++) {
		if (class_index(kb, needed[i]) < 0) {
			set_err(err, errlen, "%s/classes.tsv: the rules need class '%s'", dir,
				needed[i]);
			kb_free(kb);
			return -1;
		}
	}
	kb->c_unknown = class_index(kb, "unknown");
	kb->c_safe = class_index(kb, "safe");
	kb->c_lock = class_index(kb, "lock");
	kb->c_bh_lock = class_index(kb, "bh-lock");
	kb->c_irq_reenable = class_index(kb, "irq-reenable");
	return 0;
}

static void named_free(struct kb_named *v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].s);
	}
	free(v);
}

void kb_free(struct kb *kb)
{
	for (int i = 0; i < kb->nrules; i++) {
		for (int k = 0; k < kb->rules[i].nreasons; k++)
			free(kb->rules[i].reasons[k]);
		free(kb->rules[i].reasons);
	}
	free(kb->rules);
	for (int i = 0; i < kb->nclasses; i++) {
		free(kb->classes[i].name);
		free(kb->classes[i].reason);
	}
	free(kb->classes);
	for (size_t i = 0; i < kb->n; i++)
		free(kb->v[i].name);
	free(kb->v);
	named_free(kb->guards, kb->nguards);
	named_free(kb->irqs, kb->nirqs);
	named_free(kb->gfp, kb->ngfp);
	named_free(kb->regmap, kb->nregmap);
	named_free(kb->lockforms, kb->nlockforms);
	named_free(kb->polling, kb->npolling);
	memset(kb, 0, sizeof(*kb));
}

const struct kb_entry *kb_lookup(const struct kb *kb, const char *name)
{
	struct kb_entry key = { .name = (char *)name };

	if (!kb->n)
		return NULL;
	return bsearch(&key, kb->v, kb->n, sizeof(*kb->v), cmp_entry);
}

const char *kb_class_name(const struct kb *kb, int cls)
{
	return cls >= 0 && cls < kb->nclasses ? kb->classes[cls].name : "?";
}

const struct kb_named *kb_find(const struct kb_named *v, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

const struct kb_named *kb_match(const struct kb_named *v, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!fnmatch(v[i].name, name, 0))
			return &v[i];
	return NULL;
}

enum kb_poll_form kb_poll_form(const struct kb *kb, const char *name)
{
	const struct kb_named *m = kb_match(kb->polling, kb->npolling, name);

	return m ? (enum kb_poll_form)m->i : KB_POLL_NONE;
}

const struct kb_rule *kb_rule(const struct kb *kb, int number)
{
	for (int i = 0; i < kb->nrules; i++)
		if (kb->rules[i].number == number)
			return &kb->rules[i];
	return NULL;
}

int kb_rule_of_reason(const struct kb *kb, const char *reason)
{
	for (int i = 0; i < kb->nrules; i++)
		for (int k = 0; k < kb->rules[i].nreasons; k++)
			if (!strcmp(kb->rules[i].reasons[k], reason))
				return kb->rules[i].number;
	return 0;
}
