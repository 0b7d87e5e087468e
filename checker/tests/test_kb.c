// SPDX-License-Identifier: GPL-2.0
/* Unit tests for the knowledge-base loader; also loads the real kb file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../kb.h"

static int passed, failed;

#define CHECK(cond) do {						\
	if (cond) {							\
		passed++;						\
	} else {							\
		failed++;						\
		fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

static const char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;

	strcpy(path, "/tmp/dmacb-kb-XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_good(void)
{
	struct kb kb;
	char err[256] = "";
	const struct kb_entry *e;
	const char *p = write_tmp("# comment\n"
				  "msleep\tsleep\tsleeps\n"
				  "complete\tcomplete\n"
				  "kmalloc\tsleep-gfp\tgfp=1\n"
				  "spin_unlock_irq\tirq-reenable\tx\n");

	CHECK(kb_load(&kb, p, err, sizeof(err)) == 0);
	CHECK(kb.n == 4);
	e = kb_lookup(&kb, "kmalloc");
	CHECK(e && e->cls == KB_SLEEP_GFP && e->gfp_arg == 1);
	e = kb_lookup(&kb, "complete");
	CHECK(e && e->cls == KB_COMPLETE && !kb_class_forbidden_in_hardirq(e->cls));
	e = kb_lookup(&kb, "spin_unlock_irq");
	CHECK(e && kb_class_forbidden_in_hardirq(e->cls));
	CHECK(kb_lookup(&kb, "nosuchfunction") == NULL);
	kb_free(&kb);
	unlink(p);
}

static void test_bad(void)
{
	struct kb kb;
	char err[256] = "";
	const char *p;

	p = write_tmp("foo\tsafe\nbar\tsafest\n");
	CHECK(kb_load(&kb, p, err, sizeof(err)) == -1);
	CHECK(strstr(err, ":2: unknown class 'safest'") != NULL);
	unlink(p);

	p = write_tmp("foo\tsafe\nfoo\tsleep\n");
	CHECK(kb_load(&kb, p, err, sizeof(err)) == -1);
	CHECK(strstr(err, "duplicate entry 'foo'") != NULL);
	unlink(p);

	p = write_tmp("kmalloc\tsleep-gfp\tno index\n");
	CHECK(kb_load(&kb, p, err, sizeof(err)) == -1);
	CHECK(strstr(err, "gfp=N") != NULL);
	unlink(p);

	CHECK(kb_load(&kb, "/nonexistent/kb.tsv", err, sizeof(err)) == -1);
}

static void test_real_file(const char *path)
{
	struct kb kb;
	char err[256] = "";
	const struct kb_entry *e;

	CHECK(kb_load(&kb, path, err, sizeof(err)) == 0);
	if (err[0])
		fprintf(stderr, "%s\n", err);
	/* anchors the audit relies on */
	e = kb_lookup(&kb, "complete");
	CHECK(e && e->cls == KB_COMPLETE);
	e = kb_lookup(&kb, "spin_lock_bh");
	CHECK(e && e->cls == KB_BH_LOCK);
	e = kb_lookup(&kb, "dmaengine_submit");
	CHECK(e && e->cls == KB_DMAENGINE);
	e = kb_lookup(&kb, "msleep");
	CHECK(e && e->cls == KB_SLEEP);
	kb_free(&kb);
}

int main(int argc, char **argv)
{
	test_good();
	test_bad();
	if (argc > 1)
		test_real_file(argv[1]);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
