// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the checks, on the fixture translation units in
 * tests/fixtures/ (small driver-like files over a fake kernel header).
 *
 *   test_checks FIXTURES_DIR KB.tsv DMACB_CHECK_BINARY
 *
 * Writes a compile_commands.json for the fixtures into a temporary
 * directory (with the Kbuild-style flags the checker must drop), runs each
 * check in-process through check_file() and the CLI through the binary.
 * Expected lines come from "L:name" markers in the fixtures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cdb.h"
#include "../kb.h"
#include "../plan.h"
#include "../run.h"
#include "../sbuf.h"
#include "../tu.h"

static int passed, failed;
static char fixtures[PATH_MAX];
static char tmpdir[64];
static const char *kb_path, *binary;
static struct kb kb;

#define CHECK(cond) check(cond, __FILE__, __LINE__, #cond, NULL)
#define CHECK_HAS(hay, needle) check_has(hay, needle, __FILE__, __LINE__, 1)
#define CHECK_HASNT(hay, needle) check_has(hay, needle, __FILE__, __LINE__, 0)

static void check(int ok, const char *file, int line, const char *what, const char *ctx)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
	if (ctx)
		fprintf(stderr, "  in: %s\n", ctx);
}

static void check_has(const char *hay, const char *needle, const char *file, int line, int want)
{
	int has = hay && strstr(hay, needle) != NULL;

	if (has == want) {
		passed++;
		return;
	}
	failed++;
	fprintf(stderr, "%s:%d: FAILED: output %s\n  %s\n  output: %s\n", file, line,
		want ? "lacks" : "has", needle, hay ? hay : "(null)");
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* line of the "L:name" marker in a fixture */
static unsigned line_of(const char *file, const char *name)
{
	char *p = fmt("%s/%s", fixtures, file), *m = fmt("L:%s ", name);
	FILE *f = fopen(p, "r");
	char buf[1024];
	unsigned line = 0, found = 0;

	while (f && fgets(buf, sizeof(buf), f)) {
		line++;
		if (strstr(buf, m)) {
			found = line;
			break;
		}
	}
	if (f)
		fclose(f);
	if (!found) {
		fprintf(stderr, "fixture %s has no marker %s\n", file, m);
		exit(2);
	}
	free(p);
	free(m);
	return found;
}

static const char *const fixture_files[] = {
	"hardirq_ok.c", "hardirq_bad.c", "completion_ok.c", "completion_bad.c",
	"completion_type.c", "parse_bad.c", NULL
};

/* compile_commands.json as Kbuild writes it for a gcc-ish command line */
static void write_db(void)
{
	char *p = fmt("%s/compile_commands.json", tmpdir);
	FILE *f = fopen(p, "w");

	fputs("[\n", f);
	for (int i = 0; fixture_files[i]; i++) {
		const char *b = fixture_files[i];

		fprintf(f, "%s{\"directory\": \"%s\", \"file\": \"%s/%s\", \"command\": "
			"\"gcc -Wp,-MMD,build/.%s.d -nostdinc -Iinclude -fconserve-stack "
			"-mrecord-mcount -fno-allow-store-data-races -mindirect-branch=thunk-extern "
			"-fzero-call-used-regs=used-gpr -mpreferred-stack-boundary=3 "
			"-fmin-function-alignment=16 --param=allow-store-data-races=0 "
			"--param asan-globals=1 -fno-ipa-sra -Werror "
			"-Werror=unknown-warning-option -Wno-no-such-warning "
			"-mllvm -asan-stack=0 -std=gnu11 -Wall "
			"-DKBUILD_MODNAME='\\\"fixture\\\"' -c -o build/%s.o %s\"}\n",
			i ? "," : "", fixtures, fixtures, b, b, b, b);
	}
	fputs("]\n", f);
	fclose(f);
	free(p);
}

static const char plan_text[] =
	"# the fixture plan\n"
	"hardirq\thardirq_ok.c\tokdrv_dma_callback\n"
	"hardirq\thardirq_ok.c\tokdrv_rx_callback\n"
	"hardirq\thardirq_ok.c\tokdrv_err_callback\n"
	"hardirq\thardirq_bad.c\tbad_cb_mutex\n"
	"hardirq\thardirq_bad.c\tbad_cb_irq\n"
	"hardirq\thardirq_bad.c\tbad_cb_gfp\n"
	"hardirq\thardirq_bad.c\tbad_cb_gfp_param\n"
	"hardirq\thardirq_bad.c\tbad_cb_bh\n"
	"hardirq\thardirq_bad.c\tbad_cb_dma\n"
	"hardirq\thardirq_bad.c\tbad_cb_unknown\n"
	"hardirq\thardirq_bad.c\tbad_cb_indirect\n"
	"hardirq\thardirq_bad.c\tbad_cb_shared\n"
	"hardirq\thardirq_bad.c\tbad_cb_macro\n"
	"hardirq\thardirq_bad.c\tbad_cb_guard\n"
	"hardirq\thardirq_bad.c\tbad_cb_softirq\n"
	"hardirq\thardirq_bad.c\tbad_cb_regmap\n"
	"hardirq\thardirq_bad.c\tbad_cb_warn\n"
	"hardirq\thardirq_bad.c\tbad_cb_missing\n"
	"hardirq\thardirq_bad.c\tbad_cb_plain\n"
	"completion\tcompletion_ok.c\tc_dma_done\tcdev\txfer_done\n"
	"completion\tcompletion_ok.c\t-\t-\t-\n"
	"completion\tcompletion_ok.c\tc_dot_done\tcdev2\tdone\n"
	"completion\tcompletion_bad.c\tc_dma_done\tcdev\txfer_done\n"
	"completion\tcompletion_type.c\t-\t-\t-\n"
	"provider\tcompletion_ok.c\tdrivers/dma/fx-vchan.c\tall-paths\n"
	"provider\tcompletion_bad.c\tdrivers/dma/fx-vchan.c\tall-paths\n"
	"provider\tcompletion_bad.c\tdrivers/dma/sh/fx-shdma.c\tsome-paths\n";

static char *write_file(const char *name, const char *text)
{
	char *p = fmt("%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");

	fputs(text, f);
	fclose(f);
	return p;
}

/* Runs all checks on one fixture in-process; returns the JSON. */
static char *run_one(const char *file, const char *plan_file, int *status)
{
	CXCompilationDatabase_Error e;
	CXCompilationDatabase db = clang_CompilationDatabase_fromDirectory(tmpdir, &e);
	struct plan plan;
	struct tu_cmd cmd;
	struct sbuf out;
	char err[512];
	char *path = fmt("%s/%s", fixtures, file);

	if (e != CXCompilationDatabase_NoError || plan_load(&plan, plan_file, err, sizeof(err))) {
		fprintf(stderr, "cannot load the test database or plan\n");
		exit(2);
	}
	if (cdb_get(db, path, NULL, fixtures, &cmd, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		exit(2);
	}
	sb_init(&out);
	*status = check_file(&kb, &plan, file, &cmd, &out);
	cdb_cmd_free(&cmd);
	plan_free(&plan);
	clang_CompilationDatabase_dispose(db);
	free(path);
	return out.s;
}

/* ---- pure helpers ------------------------------------------------------ */

static void test_filter(void)
{
	int next;

	CHECK(!cdb_keep_arg("-Wp,-MMD,drivers/spi/.spi-imx.o.d", &next) && !next);
	CHECK(!cdb_keep_arg("-c", &next) && !next);
	CHECK(!cdb_keep_arg("-o", &next) && next);
	CHECK(!cdb_keep_arg("-mllvm", &next) && next);
	CHECK(!cdb_keep_arg("--param", &next) && next);
	CHECK(!cdb_keep_arg("--param=allow-store-data-races=0", &next) && !next);
	CHECK(!cdb_keep_arg("-fconserve-stack", &next));
	CHECK(!cdb_keep_arg("-mrecord-mcount", &next));
	CHECK(!cdb_keep_arg("-fno-allow-store-data-races", &next));
	CHECK(!cdb_keep_arg("-mindirect-branch=thunk-extern", &next));
	CHECK(!cdb_keep_arg("-fzero-call-used-regs=used-gpr", &next));
	CHECK(!cdb_keep_arg("-mpreferred-stack-boundary=3", &next));
	CHECK(!cdb_keep_arg("-fmin-function-alignment=16", &next));
	CHECK(!cdb_keep_arg("-fno-ipa-sra", &next));
	CHECK(!cdb_keep_arg("-mno-fp-ret-in-387", &next));
	CHECK(!cdb_keep_arg("-mskip-rax-setup", &next));
	CHECK(!cdb_keep_arg("-mindirect-branch-cs-prefix", &next));
	CHECK(!cdb_keep_arg("-fno-partial-inlining", &next));
	CHECK(!cdb_keep_arg("-fasan-shadow-offset=0xdffffc0000000000", &next));
	CHECK(!cdb_keep_arg("-fno-ipa-cp-clone", &next));
	CHECK(!cdb_keep_arg("-Werror", &next));
	CHECK(!cdb_keep_arg("-Werror=unknown-warning-option", &next));
	CHECK(cdb_keep_arg("-Werror=implicit-function-declaration", &next));
	CHECK(cdb_keep_arg("-I./include", &next) && !next);
	CHECK(cdb_keep_arg("-DMODULE", &next));
	CHECK(cdb_keep_arg("-include", &next) && !next);
	CHECK(cdb_keep_arg("-fsanitize=kernel-address", &next));
}

static void test_plan(void)
{
	struct plan p;
	char err[256] = "";
	char *f;

	f = write_file("plan_good.tsv", "# c\nhardirq\ta/b.c\tcb\n"
			"completion\ta/b.c\t-\t-\t-\ncompletion\ta/b.c\tcb2\tfoo\tdone\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == 0);
	CHECK(p.n == 3);
	CHECK(p.n == 3 && p.v[0].kind == PLAN_HARDIRQ && !strcmp(p.v[0].func, "cb"));
	CHECK(p.n == 3 && p.v[1].kind == PLAN_COMPLETION && !p.v[1].func && !p.v[1].tag);
	CHECK(p.n == 3 && !strcmp(p.v[2].tag, "foo") && !strcmp(p.v[2].field, "done"));
	plan_free(&p);
	free(f);

	f = write_file("plan_lock.tsv", "hardirq\ta.c\tcb\tunlocked\nhardirq\ta.c\tcb2\tlocked\n"
		       "hardirq\ta.c\tcb3\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == 0);
	CHECK(p.n == 3 && !p.v[0].locked && p.v[1].locked && p.v[2].locked);
	plan_free(&p);
	free(f);
	f = write_file("plan_bad7.tsv", "hardirq\ta.c\tcb\tsometimes\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == -1 &&
	      strstr(err, ":1: 'sometimes' is not locked or unlocked"));
	free(f);

	f = write_file("plan_bad1.tsv", "hardirq\ta.c\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == -1 && strstr(err, ":1: expected hardirq"));
	free(f);
	f = write_file("plan_bad2.tsv", "hardirq\ta.c\tcb\nsoftirq\ta.c\tcb\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == -1 && strstr(err, ":2: unknown plan item"));
	free(f);
	f = write_file("plan_bad3.tsv", "completion\ta.c\tcb\tfoo\t-\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == -1 && strstr(err, "both"));
	free(f);
	f = write_file("plan_bad5.tsv", "provider\ta.c\tdrivers/dma/x.c\tsometimes\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == -1 && strstr(err, ":1: 'sometimes' is not"));
	f = write_file("plan_bad6.tsv", "provider\ta.c\tdrivers/dma/x.c\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == -1 && strstr(err, ":1: expected provider"));
	f = write_file("plan_bad4.tsv", "hardirq\t/abs/a.c\tcb\n");
	CHECK(plan_load(&p, f, err, sizeof(err)) == -1 && strstr(err, "relative"));
	free(f);
}

static void test_json(void)
{
	struct sbuf b;

	sb_init(&b);
	sb_json(&b, "a\"b\\c\n\x01 \xc3\xa9 \xe9!");
	CHECK(!strcmp(sb_str(&b), "\"a\\\"b\\\\c\\n\\u0001 \xc3\xa9 \\u00e9!\""));
	sb_free(&b);
}

static void test_lex(void)
{
	const char *s = "foo((a), b[1, 2], \"x,y\") -> ## ... x";
	struct ltoks t;
	struct span sp[8];
	int end = 0, n;

	tu_lex(s, strlen(s), &t);
	CHECK(t.n == 19);
	CHECK(t.n > 0 && !strcmp(t.v[0], "foo"));
	n = tu_split_args(t.v, t.n, 1, sp, 8, &end);
	CHECK(n == 3);
	CHECK(n == 3 && sp[0].b - sp[0].a == 3 && sp[1].b - sp[1].a == 6);
	CHECK(n == 3 && !strcmp(t.v[sp[2].a], "\"x,y\""));
	CHECK(end == 15 && !strcmp(t.v[end], "->") && !strcmp(t.v[end + 1], "##"));
	{
		char *j = tu_join(t.v, sp[1].a, sp[1].b);

		CHECK(!strcmp(j, "b[1,2]"));
		free(j);
	}
	ltoks_free(&t);
}

/* ---- checks ------------------------------------------------------------ */

static char *plan_file;

static void test_parse(void)
{
	int st;
	char *o = run_one("parse_bad.c", plan_file, &st), *want;

	CHECK(st == 1);
	CHECK_HAS(o, "\"parse\":{\"ok\":false");
	want = fmt("{\"file\":\"parse_bad.c\",\"line\":%u,\"message\":\"use of undeclared "
		   "identifier 'no_such_variable'\"}", line_of("parse_bad.c", "undeclared"));
	CHECK_HAS(o, want);
	CHECK_HAS(o, "\"error_count\":1");
	free(want);
	free(o);

	/* the gcc-only flags of the database did not reach libclang */
	o = run_one("completion_ok.c", plan_file, &st);
	CHECK_HAS(o, "\"parse\":{\"ok\":true,\"errors\":[],\"error_count\":0");
	free(o);
}

static void test_hardirq_ok(void)
{
	int st;
	char *o = run_one("hardirq_ok.c", plan_file, &st);

	CHECK(st == 0);
	CHECK_HAS(o, "\"hardirq\":{\"ok\":true");
	CHECK_HAS(o, "\"reachable\":[\"okdrv_dma_callback\",\"okdrv_read\",\"okdrv_alloc\"]");
	CHECK_HAS(o, "\"violations\":[]");
	free(o);
}

struct want {
	const char *fn, *cls, *reason;
	int rule;
	const char *call, *marker;
	const char *via, *via_marker;	/* a 2-step path: the helper and its call line */
	const char *why;
};

static void test_hardirq_bad(void)
{
	static const struct want wants[] = {
		{ "bad_cb_mutex", "sleep", "may-sleep", 1, "mutex_lock", "mutex", "bad_helper_sleep", "helper",
		  "sleep: mutex_lock() may sleep (rule 1)" },
		{ "bad_cb_irq", "irq-reenable", "irq-reenable", 5, "spin_unlock_irq", "unlock_irq", NULL, NULL,
		  "re-enables interrupts (rule 5)" },
		{ "bad_cb_gfp", "sleep-gfp", "may-sleep", 1, "kmalloc", "gfp_kernel", NULL, NULL,
		  "gfp 'GFP_KERNEL'" },
		{ "bad_cb_gfp_param", "sleep-gfp", "may-sleep", 1, "kmalloc", "alloc", "bad_alloc", "gfp_param",
		  "gfp 'gfp', which has __GFP_DIRECT_RECLAIM (passed as 'gfp' = 'GFP_KERNEL' by "
		  "bad_cb_gfp_param() line " },
		{ "bad_cb_bh", "bh-lock", "bh-lock", 2, "spin_lock_bh", "bh", NULL, NULL, "(rule 2)" },
		{ "bad_cb_dma", "dmaengine-start", "restarts-dma", 3, "dmaengine_submit", "submit", NULL, NULL,
		  "re-enters the dmaengine API (rule 3)" },
		{ "bad_cb_unknown", "unknown", "unknown-call", 0, "fake_unknown_function", "unknown", NULL, NULL,
		  "unknown: fake_unknown_function() is not in the knowledge base" },
		{ "bad_cb_indirect", "unknown", "unknown-call", 0, "kick", "indirect", NULL, NULL,
		  "unknown indirect call through 'kick'" },
		{ "bad_cb_shared", "lock-irqsave", "lock-shared", 2, "spin_lock_irqsave", "shared", NULL, NULL,
		  "lock-shared: lock 'baddrv.lock' taken here with spin_lock_irqsave() is also "
		  "taken with spin_lock_bh() in bad_process() line " },
		{ "bad_cb_macro", "sleep", "may-sleep", 1, "bad_sleep_macro -> msleep", "macro", NULL, NULL,
		  "(rule 1)" },
		{ "bad_cb_guard", "irq-reenable", "irq-reenable", 5, "guard(spinlock_irq)", "guard", NULL, NULL,
		  "(rule 5)" },
		{ "bad_cb_softirq", "softirq-only", "softirq-only", 4, "lockdep_assert_in_softirq", "softirq", NULL,
		  NULL, "(rule 4)" },
		{ "bad_cb_regmap", "regmap", "may-sleep", 1, "regmap_write", "regmap", NULL, NULL,
		  "does not create only MMIO" },
		{ "bad_cb_warn", "sleep", "may-sleep", 1, "msleep", "warn_arg", NULL, NULL, "(rule 1)" },
		{ NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
	};
	int st;
	char *o = run_one("hardirq_bad.c", plan_file, &st);

	CHECK(st == 1);
	CHECK_HAS(o, "\"hardirq\":{\"ok\":false");
	for (int i = 0; wants[i].fn; i++) {
		const struct want *w = &wants[i];
		unsigned l = line_of("hardirq_bad.c", w->marker);
		char *head = fmt("{\"function\":\"%s\",\"class\":\"%s\",\"reason\":\"%s\","
				  "\"rule\":%d,\"call\":\"%s\",\"line\":%u,\"path\":[", w->fn, w->cls,
				  w->reason, w->rule, w->call, l);
		char *path, *needle;

		if (w->via)
			path = fmt("{\"function\":\"%s\",\"call\":\"%s\",\"file\":\"hardirq_bad.c\","
				   "\"line\":%u},{\"function\":\"%s\",\"call\":\"%s\",\"file\":"
				   "\"hardirq_bad.c\",\"line\":%u}]", w->fn, w->via,
				   line_of("hardirq_bad.c", w->via_marker), w->via, w->call, l);
		else
			path = fmt("{\"function\":\"%s\",\"call\":\"%s\",\"file\":\"hardirq_bad.c\","
				   "\"line\":%u}]", w->fn, w->call, l);
		needle = fmt("%s%s,\"why\":", head, path);
		CHECK_HAS(o, needle);
		{
			/* the why of that very violation */
			const char *at = o ? strstr(o, needle) : NULL;
			const char *end = at ? strstr(at, "\"}") : NULL;
			char *obj = at && end ? strndup(at, end - at) : NULL;

			CHECK_HAS(obj, w->why);
			free(obj);
		}
		free(head);
		free(path);
		free(needle);
	}
	CHECK_HAS(o, "\"why\":\"bad_cb_missing() is not defined in hardirq_bad.c\"");
	/* a plain spin_lock() in process context conflicts as well */
	{
		char *w = fmt("\"function\":\"bad_cb_plain\",\"class\":\"lock-irqsave\","
			      "\"reason\":\"lock-shared\",\"rule\":2,"
			      "\"call\":\"spin_lock_irqsave\",\"line\":%u,",
			      line_of("hardirq_bad.c", "plain"));
		char *w2 = fmt("lock-shared: lock 'baddrv.plain_lock' taken here with "
			       "spin_lock_irqsave() is also taken with spin_lock() in bad_worker() "
			       "line %u", line_of("hardirq_bad.c", "worker"));

		CHECK_HAS(o, w);
		CHECK_HAS(o, w2);
		free(w);
		free(w2);
	}
	/* the BH user of the shared lock is named with its line */
	{
		char *w = fmt("in bad_process() line %u, with interrupts enabled (rule 2)",
			      line_of("hardirq_bad.c", "process_bh"));

		CHECK_HAS(o, w);
		free(w);
	}
	free(o);
}

/*
 * Rules 3 and 6 only where the delivery may hold a lock: with "unlocked"
 * the restart in bad_cb_dma is allowed, while a rule that applies always
 * (bad_cb_mutex, rule 1) still fires; a root named twice is locked if
 * either item says so.
 */
static void test_hardirq_unlocked(void)
{
	char *f = write_file("plan_unlocked.tsv",
			     "hardirq\thardirq_bad.c\tbad_cb_dma\tunlocked\n"
			     "hardirq\thardirq_bad.c\tbad_cb_mutex\tunlocked\n");
	int st;
	char *o = run_one("hardirq_bad.c", f, &st);

	CHECK(st == 1);
	CHECK(o && !strstr(o, "\"reason\":\"restarts-dma\""));
	CHECK_HAS(o, "\"function\":\"bad_cb_mutex\",\"class\":\"sleep\"");
	free(o);
	free(f);

	f = write_file("plan_unlocked2.tsv", "hardirq\thardirq_bad.c\tbad_cb_dma\tunlocked\n");
	o = run_one("hardirq_bad.c", f, &st);
	CHECK(st == 0);
	CHECK_HAS(o, "\"violations\":[]");
	free(o);
	free(f);

	f = write_file("plan_unlocked3.tsv", "hardirq\thardirq_bad.c\tbad_cb_dma\tunlocked\n"
		       "hardirq\thardirq_bad.c\tbad_cb_dma\tlocked\n");
	o = run_one("hardirq_bad.c", f, &st);
	CHECK(st == 1);
	CHECK_HAS(o, "\"reason\":\"restarts-dma\"");
	free(o);
	free(f);
}

static void test_deleted(void)
{
	int st;
	char *o = run_one("completion_ok.c", plan_file, &st), *w;

	CHECK(st == 0);
	CHECK_HAS(o, "\"deleted\":{\"ok\":true,\"callbacks\":[\"c_dma_done\",\"c_dot_done\"],"
		  "\"remaining\":[]}");
	free(o);

	o = run_one("completion_bad.c", plan_file, &st);
	CHECK(st == 1);
	CHECK_HAS(o, "\"deleted\":{\"ok\":false");
	w = fmt("{\"callback\":\"c_dma_done\",\"file\":\"completion_bad.c\",\"line\":%u,",
		line_of("completion_bad.c", "def"));
	CHECK_HAS(o, w);
	free(w);
	/* built by token pasting: only the AST sees it */
	w = fmt("{\"callback\":\"c_dma_done\",\"file\":\"completion_bad.c\",\"line\":%u,",
		line_of("completion_bad.c", "pasted"));
	CHECK_HAS(o, w);
	free(w);
	free(o);
}

/* rule 8: every provider that may serve a completion file signals it */
static void test_providers(void)
{
	int st;
	char *o = run_one("completion_ok.c", plan_file, &st), *np;

	CHECK(st == 0);
	CHECK_HAS(o, "\"providers\":{\"ok\":true,\"completions\":3,\"judged\":true,"
		  "\"providers\":[{\"provider\":\"drivers/dma/fx-vchan.c\",\"bare\":\"all-paths\","
		  "\"ok\":true}],\"violations\":[]}");
	free(o);

	o = run_one("completion_bad.c", plan_file, &st);
	CHECK(st == 1);
	CHECK_HAS(o, "\"providers\":{\"ok\":false");
	CHECK_HAS(o, "{\"rule\":8,\"reason\":\"provider-no-completion\",\"provider\":"
		  "\"drivers/dma/sh/fx-shdma.c\",\"why\":\"some-paths\"}");
	CHECK(!strstr(o, "\"provider\":\"drivers/dma/fx-vchan.c\",\"why\""));
	free(o);

	/* a completion file nobody is known to serve */
	o = run_one("completion_type.c", plan_file, &st);
	CHECK_HAS(o, "\"providers\":{\"ok\":false");
	CHECK_HAS(o, "\"provider\":null,\"why\":\"no provider is known to serve the file\"");
	free(o);

	/* a plan without providers (a tree that registers none): not judged */
	np = write_file("plan_noprov.tsv", "completion\tcompletion_ok.c\tc_dma_done\tcdev\t"
			"xfer_done\ncompletion\tcompletion_ok.c\t-\t-\t-\ncompletion\t"
			"completion_ok.c\tc_dot_done\tcdev2\tdone\n");
	o = run_one("completion_ok.c", np, &st);
	CHECK(st == 0);
	CHECK_HAS(o, "\"providers\":{\"ok\":true,\"completions\":3,\"judged\":false");
	free(o);
	free(np);
}

static void test_completion(void)
{
	int st;
	char *o = run_one("completion_ok.c", plan_file, &st), *w;

	CHECK(st == 0);
	CHECK_HAS(o, "\"arg\":\"&bd->xfer_done\",\"type\":\"struct completion *\","
		  "\"struct\":\"cdev\",\"field\":\"xfer_done\",\"matched\":true");
	CHECK_HAS(o, "\"arg\":\"&finished\",\"type\":\"struct completion *\",\"struct\":null,"
		  "\"field\":null,\"matched\":true");
	CHECK_HAS(o, "\"arg\":\"&c2[1].done\",\"type\":\"struct completion *\","
		  "\"struct\":\"cdev2\",\"field\":\"done\",\"matched\":true");
	CHECK_HAS(o, "\"problems\":[],\"missing\":[]");
	free(o);

	o = run_one("completion_bad.c", plan_file, &st);
	CHECK(st == 1);
	CHECK_HAS(o, "\"completion\":{\"ok\":false");
	w = fmt("{\"file\":\"completion_bad.c\",\"line\":%u,\"why\":\"dmaengine_desc_set_"
		"completion() argument '&bd->other_done' is not &E->xfer_done with E a struct "
		"cdev *\"}", line_of("completion_bad.c", "wrong"));
	CHECK_HAS(o, w);
	free(w);
	CHECK_HAS(o, "\"missing\":[{\"callback\":\"c_dma_done\",\"struct\":\"cdev\","
		  "\"field\":\"xfer_done\"");
	free(o);

	o = run_one("completion_type.c", plan_file, &st);
	CHECK(st == 1);
	w = fmt("{\"file\":\"completion_type.c\",\"line\":%u,\"why\":\"dmaengine_desc_set_"
		"completion() argument 'done' is not a struct completion *\"}",
		line_of("completion_type.c", "void"));
	CHECK_HAS(o, w);
	free(w);
	free(o);

	/* no completion entries for the file: calls are listed, nothing fails */
	{
		char *p = write_file("plan_none.tsv", "hardirq\thardirq_ok.c\tokdrv_dma_callback\n");

		o = run_one("completion_bad.c", p, &st);
		CHECK(st == 0);
		CHECK_HAS(o, "\"matched\":null");
		free(o);
		free(p);
	}
}

/* ---- the command line ---------------------------------------------------- */

/* the whole file, "" if it cannot be read */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct sbuf b;
	char buf[4096];
	size_t n;

	sb_init(&b);
	while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_addn(&b, buf, n);
	if (f)
		fclose(f);
	return b.s ? b.s : strdup("");
}

static int run_cli(char *const argv[], char **out)
{
	char *p = fmt("%s/cli.out", tmpdir);
	pid_t pid;
	int ws, fd;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		close(fd);
		fd = open(fmt("%s/cli.err", tmpdir), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		close(fd);
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &ws, 0);
	if (out)
		*out = slurp(p);
	free(p);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128;
}

static char *cli_err(void)
{
	char *p = fmt("%s/cli.err", tmpdir);
	FILE *f = fopen(p, "r");
	static char buf[1024];

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	free(p);
	return buf;
}

static char *cli_err_all(void)
{
	char *p = fmt("%s/cli.err", tmpdir);
	char *s = slurp(p);

	free(p);
	return s;
}

static void test_cli(void)
{
	char *out = NULL;
	char *okplan = write_file("plan_ok.tsv", "hardirq\thardirq_ok.c\tokdrv_dma_callback\n"
				  "completion\tcompletion_ok.c\tc_dma_done\tcdev\txfer_done\n"
				  "completion\tcompletion_ok.c\t-\t-\t-\n"
				  "completion\tcompletion_ok.c\tc_dot_done\tcdev2\tdone\n");
	char *nodb = fmt("%s/nodb", tmpdir);

	{
		char *argv[] = { (char *)binary, "--db", tmpdir, "--kb", (char *)kb_path,
				 "--plan", okplan, "--tree", fixtures, "--jobs", "2", NULL };

		CHECK(run_cli(argv, &out) == 0);
		/* no --progress: nothing on stderr */
		{
			char *e = cli_err_all();

			CHECK(!strcmp(e, ""));
			free(e);
		}
		CHECK_HAS(out, "{\"files\":[{\"seconds\":");
		CHECK_HAS(out, "\"file\":\"hardirq_ok.c\",\"ok\":true");
		CHECK_HAS(out, "],\"ok\":true,\"jobs\":2}");
		/* plan order is kept with parallel children */
		CHECK(out && strstr(out, "hardirq_ok.c") < strstr(out, "completion_ok.c"));
		free(out);
	}
	{
		/* --progress: one line per file as it is done, the final JSON unchanged */
		char *argv[] = { (char *)binary, "--db", tmpdir, "--kb", (char *)kb_path,
				 "--plan", okplan, "--tree", fixtures, "--jobs", "2", "--progress",
				 NULL };
		char *e;

		CHECK(run_cli(argv, &out) == 0);
		CHECK_HAS(out, "],\"ok\":true,\"jobs\":2}");
		e = cli_err_all();
		/* one line per file: its entry, as in the final document */
		CHECK_HAS(e, "checked hardirq_ok.c\t{\"seconds\":");
		CHECK_HAS(e, "\"file\":\"hardirq_ok.c\",\"ok\":true");
		CHECK_HAS(e, "checked completion_ok.c\t{\"seconds\":");
		{
			int lines = 0;

			for (char *q = e; *q; q++)
				lines += *q == '\n';
			CHECK(lines == 2);
		}
		free(e);
		free(out);
	}
	{
		/* no --tree: files are found by suffix in the database */
		char *argv[] = { (char *)binary, "--db", tmpdir, "--kb", (char *)kb_path,
				 "--plan", plan_file, "--jobs", "0", NULL };

		CHECK(run_cli(argv, &out) == 1);
		CHECK_HAS(out, "\"file\":\"hardirq_bad.c\",\"ok\":false");
		CHECK_HAS(out, "],\"ok\":false,\"jobs\":0}");
		free(out);
	}
	{
		char *argv[] = { (char *)binary, "--db", nodb, "--kb", (char *)kb_path,
				 "--plan", okplan, NULL };

		CHECK(run_cli(argv, NULL) == 2);
		CHECK_HAS(cli_err(), "compile_commands.json");
	}
	{
		char *argv[] = { (char *)binary, "--db", tmpdir, "--kb", (char *)kb_path,
				 "--plan", "/nonexistent/plan.tsv", NULL };

		CHECK(run_cli(argv, NULL) == 2);
		CHECK_HAS(cli_err(), "dmacb-check: /nonexistent/plan.tsv: cannot open");
	}
	{
		char *argv[] = { (char *)binary, "--db", tmpdir, "--kb", (char *)kb_path,
				 "--plan", okplan, "--tree", fixtures, "--file", "nosuch.c", NULL };

		CHECK(run_cli(argv, NULL) == 2);
		CHECK_HAS(cli_err(), "nosuch.c: not in compile_commands.json");
	}
	{
		/* --db-tree: the database of one tree, the files of another (a
		 * converted worktree): the copy is what gets parsed */
		char *copy = fmt("%s/tree", tmpdir);
		char *cmd = fmt("cp -r '%s' '%s' && sed -i 's/bd->xfer_done)/bd->other_done)/' "
				"'%s/completion_ok.c'", fixtures, copy, copy);
		char *argv[] = { (char *)binary, "--db", tmpdir, "--kb", (char *)kb_path,
				 "--plan", okplan, "--tree", copy, "--db-tree", fixtures,
				 "--file", "completion_ok.c", NULL };

		CHECK(system(cmd) == 0);
		CHECK(run_cli(argv, &out) == 1);
		CHECK_HAS(out, "\"arg\":\"&bd->other_done\"");
		free(out);
		free(cmd);
		free(copy);
	}
	{
		/* exists, but has no entry: libclang would guess a command from a
		 * neighbour; the checker refuses */
		char *argv[] = { (char *)binary, "--db", tmpdir, "--kb", (char *)kb_path,
				 "--plan", okplan, "--tree", fixtures, "--file",
				 "include/fake_kernel.h", NULL };

		CHECK(run_cli(argv, NULL) == 2);
		CHECK_HAS(cli_err(), "include/fake_kernel.h: not in compile_commands.json");
	}
	{
		char *argv[] = { (char *)binary, "--kb", (char *)kb_path, NULL };

		CHECK(run_cli(argv, NULL) == 2);
	}
	free(okplan);
	free(nodb);
}

int main(int argc, char **argv)
{
	char err[256];

	if (argc != 4) {
		fprintf(stderr, "usage: %s FIXTURES_DIR KB.tsv DMACB_CHECK\n", argv[0]);
		return 2;
	}
	if (!realpath(argv[1], fixtures)) {
		perror(argv[1]);
		return 2;
	}
	/* absolute: libclang chdir()s to a command's -working-directory */
	kb_path = realpath(argv[2], NULL);
	binary = realpath(argv[3], NULL);
	if (!kb_path || !binary) {
		perror("realpath");
		return 2;
	}
	if (kb_load(&kb, kb_path, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	strcpy(tmpdir, "/tmp/dmacb-checks-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	write_db();
	plan_file = write_file("plan.tsv", plan_text);

	test_filter();
	test_plan();
	test_json();
	test_lex();
	test_parse();
	test_hardirq_ok();
	test_hardirq_bad();
	test_hardirq_unlocked();
	test_deleted();
	test_completion();
	test_providers();
	test_cli();

	kb_free(&kb);
	if (!failed) {
		char *cmd = fmt("rm -rf '%s'", tmpdir);

		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", tmpdir);
		free(cmd);
	} else {
		fprintf(stderr, "left %s for inspection\n", tmpdir);
	}
	free(plan_file);
	free((char *)kb_path);
	free((char *)binary);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
