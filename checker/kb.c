// SPDX-License-Identifier: GPL-2.0
/*
 * Load kb/kernel-functions.tsv: "name<TAB>class<TAB>note" lines, '#' comments.
 * Unknown classes and duplicate names are errors: the file is reviewed like
 * code, so a typo must not silently turn into "unknown".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"

static const char *const class_names[KB_NR_CLASSES] = {
	[KB_UNKNOWN] = "unknown",
	[KB_SAFE] = "safe",
	[KB_DEBUG] = "debug",
	[KB_COMPLETE] = "complete",
	[KB_WAKE] = "wake",
	[KB_NOTIFY] = "notify",
	[KB_LOCK_IRQSAVE] = "lock-irqsave",
	[KB_UNLOCK_IRQRESTORE] = "unlock-irqrestore",
	[KB_LOCK_IRQ] = "lock-irq",
	[KB_IRQ_REENABLE] = "irq-reenable",
	[KB_LOCK] = "lock",
	[KB_UNLOCK] = "unlock",
	[KB_BH_LOCK] = "bh-lock",
	[KB_TASKLET] = "tasklet",
	[KB_WORK] = "work",
	[KB_SLEEP] = "sleep",
	[KB_SLEEP_GFP] = "sleep-gfp",
	[KB_REGMAP] = "regmap",
	[KB_SOFTIRQ_ONLY] = "softirq-only",
	[KB_DMAENGINE] = "dmaengine",
};

const char *kb_class_name(enum kb_class cls)
{
	return cls < KB_NR_CLASSES ? class_names[cls] : "?";
}

int kb_class_forbidden_in_hardirq(enum kb_class cls)
{
	switch (cls) {
	case KB_UNKNOWN:
	case KB_IRQ_REENABLE:
	case KB_BH_LOCK:
	case KB_SLEEP:
	case KB_SOFTIRQ_ONLY:
	case KB_DMAENGINE:
		return 1;
	default:
		return 0;	/* KB_SLEEP_GFP, KB_REGMAP: depend on the call site */
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct kb_entry *)a)->name,
		      ((const struct kb_entry *)b)->name);
}

static int parse_class(const char *s, enum kb_class *cls)
{
	for (int i = 0; i < KB_NR_CLASSES; i++) {
		if (!strcmp(s, class_names[i])) {
			*cls = i;
			return 0;
		}
	}
	return -1;
}

int kb_load(struct kb *kb, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t cap = 0;
	int lineno = 0;

	kb->v = NULL;
	kb->n = 0;
	if (!f) {
		snprintf(err, errlen, "%s: cannot open", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *name, *cls, *note, *nl;
		struct kb_entry e;

		lineno++;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		name = line;
		cls = strchr(name, '\t');
		if (!cls || cls == name) {
			snprintf(err, errlen, "%s:%d: expected name<TAB>class", path, lineno);
			goto fail;
		}
		*cls++ = '\0';
		note = strchr(cls, '\t');
		if (note)
			*note++ = '\0';
		if (parse_class(cls, &e.cls)) {
			snprintf(err, errlen, "%s:%d: unknown class '%s'", path, lineno, cls);
			goto fail;
		}
		e.gfp_arg = -1;
		if (e.cls == KB_SLEEP_GFP) {
			const char *g = note ? strstr(note, "gfp=") : NULL;

			if (!g) {
				snprintf(err, errlen, "%s:%d: sleep-gfp needs gfp=N in the note",
					 path, lineno);
				goto fail;
			}
			e.gfp_arg = atoi(g + 4);
		}
		if (kb->n == cap) {
			cap = cap ? 2 * cap : 256;
			kb->v = realloc(kb->v, cap * sizeof(*kb->v));
			if (!kb->v) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
		}
		e.name = strdup(name);
		kb->v[kb->n++] = e;
	}
	fclose(f);
	qsort(kb->v, kb->n, sizeof(*kb->v), cmp_entry);
	for (size_t i = 1; i < kb->n; i++) {
		if (!strcmp(kb->v[i - 1].name, kb->v[i].name)) {
			snprintf(err, errlen, "%s: duplicate entry '%s'", path, kb->v[i].name);
			kb_free(kb);
			return -1;
		}
	}
	return 0;
fail:
	fclose(f);
	kb_free(kb);
	return -1;
}

void kb_free(struct kb *kb)
{
	for (size_t i = 0; i < kb->n; i++)
		free(kb->v[i].name);
	free(kb->v);
	kb->v = NULL;
	kb->n = 0;
}

const struct kb_entry *kb_lookup(const struct kb *kb, const char *name)
{
	struct kb_entry key = { .name = (char *)name };

	if (!kb->n)
		return NULL;
	return bsearch(&key, kb->v, kb->n, sizeof(*kb->v), cmp_entry);
}
