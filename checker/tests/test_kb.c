// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the contract's table loader: a small kb directory written
 * here, each kind of bad input, and the real kb/ directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../kb.h"
#include "../gfp.h"

static int passed, failed;

#define CHECK(cond) do {						\
	if (cond) {							\
		passed++;						\
	} else {							\
		failed++;						\
		fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

static char dir[64];

static void put(const char *name, const char *text)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static const char *RULES = "1\tmay-sleep\talways\tx\n2\tbh-lock,lock-shared\talways\tx\n"
			   "3\trestarts-dma,reenters-dma\tlocked-delivery\tx\n"
			   "5\tirq-reenable\talways\tx\n";
static const char *CLASSES =
	"unknown\t-\tunknown-call\t-\t-\tx\nsafe\t-\t-\t-\t-\tx\ncomplete\t-\t-\t-\t-\tx\n"
	"lock\t-\t-\tacquire\t-\tx\nunlock\t-\t-\trelease\t-\tx\n"
	"bh-lock\t2\tbh-lock\tby-name\t-\tx\nirq-reenable\t5\tirq-reenable\tby-name\t-\tx\n"
	"sleep\t1\tmay-sleep\t-\t-\tx\nsleep-gfp\t1\tmay-sleep\t-\tgfp\tx\n"
	"dmaengine\t3\treenters-dma\t-\t-\tx\n";
static const char *GFP = "__GFP_IO\tbit\tx\n__GFP_DIRECT_RECLAIM\tsleeps\tx\n"
			 "__GFP_KSWAPD_RECLAIM\tbit\tx\n__GFP_HIGH\tbit\tx\n"
			 "__GFP_RECLAIM\t__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM\tx\n"
			 "GFP_KERNEL\t__GFP_RECLAIM | __GFP_IO\tx\n"
			 "GFP_ATOMIC\t__GFP_HIGH|__GFP_KSWAPD_RECLAIM\tx\n";

/* A complete, valid kb directory; tests then break one file. */
static void write_good(void)
{
	put("rules.tsv", RULES);
	put("classes.tsv", CLASSES);
	put("kernel-functions.tsv", "# comment\nmsleep\tsleep\tsleeps\ncomplete\tcomplete\n"
	    "kmalloc\tsleep-gfp\tgfp=1\nspin_unlock_irq\tirq-reenable\tx\n"
	    "spin_lock\tlock\tx\n");
	put("guards.tsv", "spinlock\tlock\tx\n");
	put("irq-requests.tsv", "request_irq\t1\t-\tx\nrequest_threaded_irq\t1\t2\tx\n");
	put("gfp.tsv", GFP);
	put("regmap.tsv", "devm_regmap_init_mmio*\tmmio\tx\ndevm_regmap_init_*\tbus\tx\n");
	put("lock-forms.tsv", "spin_lock\tlock\tx\n");
	put("polling.tsv", "*_poll_timeout_atomic\t-\tx\n*_poll_timeout\ttime-poll\tx\n"
	    "jiffies\ttime\tx\ncpu_relax\tspin\tx\n");
}

static int load(char *err, size_t len)
{
	struct kb kb;
	int r = kb_load(&kb, dir, err, len);

	if (!r)
		kb_free(&kb);
	return r;
}

static void test_good(void)
{
	struct kb kb;
	char err[256] = "";
	const struct kb_entry *e;
	char path[128];

	write_good();
	CHECK(kb_load(&kb, dir, err, sizeof(err)) == 0);
	if (err[0])
		fprintf(stderr, "%s\n", err);
	CHECK(kb.n == 5);
	e = kb_lookup(&kb, "kmalloc");
	CHECK(e && !strcmp(kb_class_name(&kb, e->cls), "sleep-gfp") && e->gfp_arg == 1);
	CHECK(e && kb.classes[e->cls].rule == 1 && kb.classes[e->cls].decide == KB_DECIDE_GFP);
	e = kb_lookup(&kb, "complete");
	CHECK(e && kb.classes[e->cls].rule == 0);
	e = kb_lookup(&kb, "spin_unlock_irq");
	CHECK(e && kb.classes[e->cls].rule == 5 && kb.classes[e->cls].lock == KB_LOCK_BY_NAME);
	CHECK(kb_lookup(&kb, "nosuchfunction") == NULL);
	CHECK(kb_poll_form(&kb, "readl_poll_timeout") == KB_POLL_TIME_POLL);
	CHECK(kb_poll_form(&kb, "readl_poll_timeout_atomic") == KB_POLL_NONE);
	CHECK(kb_poll_form(&kb, "jiffies") == KB_POLL_TIME);
	CHECK(kb_match(kb.regmap, kb.nregmap, "devm_regmap_init_mmio_clk")->i == 1);
	CHECK(kb_match(kb.regmap, kb.nregmap, "devm_regmap_init_i2c")->i == 0);
	CHECK(kb_find(kb.irqs, kb.nirqs, "request_threaded_irq")->j == 2);
	CHECK(kb_rule_of_reason(&kb, "lock-shared") == 2);
	CHECK(kb_rule(&kb, 3)->applies == KB_APPLIES_LOCKED);
	kb_free(&kb);
	/* a file of the directory names it too */
	snprintf(path, sizeof(path), "%s/kernel-functions.tsv", dir);
	CHECK(kb_load(&kb, path, err, sizeof(err)) == 0);
	kb_free(&kb);
}

static void test_gfp(void)
{
	struct kb kb;
	char err[256] = "";
	struct gfp_flags f;
	static const struct {
		const char *expr;
		int sleeps;	/* -1: undecided */
	} cases[] = {
		{ "GFP_KERNEL", 1 }, { "GFP_ATOMIC", 0 },
		{ "GFP_ATOMIC | __GFP_IO", 0 },
		{ "GFP_ATOMIC | __GFP_DIRECT_RECLAIM", 1 },
		{ "GFP_KERNEL & ~__GFP_DIRECT_RECLAIM", 0 },
		{ "( __force gfp_t ) ( GFP_KERNEL )", 1 },
		{ "0", 0 }, { "GFP_MYSTERY", -1 }, { "0x820", -1 }, { "GFP_KERNEL |", -1 },
	};

	write_good();
	CHECK(kb_load(&kb, dir, err, sizeof(err)) == 0);
	gfp_flags_init(&f, &kb);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ltoks t;
		struct gfp_value v;
		struct sbuf why;
		int r;

		sb_init(&why);
		tu_lex(cases[i].expr, strlen(cases[i].expr), &t);
		r = gfp_eval(&f, t.v, t.n, NULL, NULL, 0, &v, &why);
		if (cases[i].sleeps < 0)
			CHECK(r == -1 && why.len);
		else
			CHECK(r == 0 && gfp_sleeps(&f, &v) == cases[i].sleeps);
		if ((cases[i].sleeps < 0) != (r == -1) ||
		    (r == 0 && gfp_sleeps(&f, &v) != cases[i].sleeps))
			fprintf(stderr, "  gfp case '%s'\n", cases[i].expr);
		ltoks_free(&t);
		sb_free(&why);
	}
	gfp_flags_free(&f);
	kb_free(&kb);
}

/* Each bad input: one line naming the file (and line) and what is wrong. */
static void test_bad(void)
{
	char err[256] = "";

	write_good();
	put("kernel-functions.tsv", "foo\tsafe\nbar\tsafest\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "kernel-functions.tsv:2: unknown class 'safest'"));

	write_good();
	put("kernel-functions.tsv", "foo\tsafe\nfoo\tsleep\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "duplicate entry 'foo'"));

	write_good();
	put("kernel-functions.tsv", "kmalloc\tsleep-gfp\tno index\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "gfp=N"));

	write_good();
	put("classes.tsv", "unknown\t-\tunknown-call\t-\t-\tx\nsleep\t9\tmay-sleep\t-\t-\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "classes.tsv:2: class 'sleep' refers to unknown rule '9'"));

	write_good();
	put("classes.tsv", "sleep\t1\tbh-lock\t-\t-\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "reason 'bh-lock' is not one of rule 1's"));

	write_good();
	put("rules.tsv", "1\tmay-sleep\tsometimes\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "rules.tsv:1: unknown 'applies'"));

	write_good();
	put("guards.tsv", "spinlock\tlokc\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "guards.tsv:1: unknown class 'lokc'"));

	write_good();
	put("gfp.tsv", "GFP_KERNEL\t__GFP_NOPE\tx\n__GFP_DIRECT_RECLAIM\tsleeps\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "refers to '__GFP_NOPE'"));

	write_good();
	put("gfp.tsv", "__GFP_IO\tbit\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "exactly one flag"));

	write_good();
	put("polling.tsv", "jiffies\tclock\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "polling.tsv:1: unknown polling form 'clock'"));

	write_good();
	put("lock-forms.tsv", "msleep\tlock\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "'msleep' is not a lock function"));

	write_good();
	put("regmap.tsv", "regmap_init_*\tspi\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "unknown regmap kind 'spi'"));

	write_good();
	put("irq-requests.tsv", "request_irq\tone\t-\tx\n");
	CHECK(load(err, sizeof(err)) == -1 && strstr(err, "is not a number or '-'"));

	CHECK(kb_load(&(struct kb){ 0 }, "/nonexistent/kb", err, sizeof(err)) == -1);
}

static void test_real_dir(const char *path)
{
	struct kb kb;
	char err[256] = "";
	const struct kb_entry *e;

	CHECK(kb_load(&kb, path, err, sizeof(err)) == 0);
	if (err[0]) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	/* anchors the rules rely on */
	e = kb_lookup(&kb, "complete");
	CHECK(e && !strcmp(kb_class_name(&kb, e->cls), "complete"));
	e = kb_lookup(&kb, "spin_lock_bh");
	CHECK(e && e->cls == kb.c_bh_lock);
	e = kb_lookup(&kb, "dmaengine_submit");
	CHECK(e && kb.classes[e->cls].rule == 3);
	e = kb_lookup(&kb, "msleep");
	CHECK(e && kb.classes[e->cls].rule == 1);
	CHECK(kb_poll_form(&kb, "readl_relaxed_poll_timeout") == KB_POLL_TIME_POLL);
	CHECK(kb_poll_form(&kb, "readl_relaxed_poll_timeout_atomic") == KB_POLL_NONE);
	CHECK(kb_poll_form(&kb, "time_after") == KB_POLL_TIME);
	kb_free(&kb);
}

int main(int argc, char **argv)
{
	strcpy(dir, "/tmp/dmacb-kb-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	test_good();
	test_gfp();
	test_bad();
	if (argc > 1)
		test_real_dir(argv[1]);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
