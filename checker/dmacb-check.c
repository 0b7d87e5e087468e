// SPDX-License-Identifier: GPL-2.0
/*
 * dmacb-check: the C verification pass of dmacb.
 *
 *   dmacb-check --db BUILD_DIR --kb kb/kernel-functions.tsv --plan PLAN.tsv
 *               [--tree SRCROOT] [--db-tree DB_SRCROOT] [--file F ...] [--jobs N]
 *               [--progress]
 *
 * Parses each file (relative to the tree) with libclang and its command
 * from BUILD_DIR/compile_commands.json, runs the checks of checks.c and
 * prints one JSON document on stdout.  Exit status: 0 all checks pass,
 * 1 some check failed, 2 bad input (one line on stderr).
 *
 * Files are checked in forked children (--jobs at a time): libclang's
 * memory goes away with each child, a crash costs one file, and two
 * children use both cores of a small machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <clang-c/CXCompilationDatabase.h>

#include "cdb.h"
#include "kb.h"
#include "plan.h"
#include "run.h"
#include "sbuf.h"

/* seconds one file may take (a kernel TU parses in about one) */
#define CHILD_TIMEOUT 300

static const char usage[] =
	"usage: dmacb-check --db BUILD_DIR --kb KB.tsv --plan PLAN.tsv [--tree SRCROOT]\n"
	"                   [--db-tree DB_SRCROOT] [--file F]... [--jobs N] [--progress]\n"
	"  --db       directory holding compile_commands.json (an LLVM=1 build dir)\n"
	"  --kb       kb/kernel-functions.tsv\n"
	"  --plan     plan TSV: hardirq/completion items (see checker/README.md)\n"
	"  --tree     source tree the plan's files are relative to\n"
	"  --db-tree  source tree the database was generated from, when it is not\n"
	"             --tree (a converted worktree checked with the base build dir)\n"
	"  --file     check only these files (default: every file in the plan)\n"
	"  --jobs     files checked in parallel (default 1; 0: no fork, for debugging)\n"
	"  --progress as each file is done, a line 'checked FILE<TAB>ENTRY' on stderr\n"
	"             (ENTRY: the file's JSON object of the final output)\n";

/* --progress: the orchestrator's progress line follows these */
static int progress;

static void die2(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die2(const char *fmt, ...)
{
	va_list ap;

	fputs("dmacb-check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

struct job {
	const char *rel;
	struct tu_cmd cmd;
	FILE *tmp;
	pid_t pid;
	struct timespec t0;
	double seconds;
	int status;		/* 0 ok, 1 failed */
	char *json;
};

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static char *read_all(FILE *f)
{
	struct sbuf b;
	char buf[65536];
	size_t n;

	sb_init(&b);
	rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_addn(&b, buf, n);
	return b.s ? b.s : xstrdup("");
}

static char *crash_json(const char *rel, const char *what)
{
	struct sbuf b;

	sb_init(&b);
	sb_add(&b, "{\"file\":");
	sb_json(&b, rel);
	sb_add(&b, ",\"ok\":false,\"checks\":{\"parse\":{\"ok\":false,\"errors\":[{\"message\":");
	sb_json(&b, what);
	sb_add(&b, "}],\"error_count\":1,\"warning_count\":0}}}");
	return b.s;
}

static void finish(struct job *j, int wstatus)
{
	j->seconds = since(&j->t0);
	if (WIFEXITED(wstatus) && (WEXITSTATUS(wstatus) == 0 || WEXITSTATUS(wstatus) == 1)) {
		j->json = read_all(j->tmp);
		j->status = WEXITSTATUS(wstatus);
		if (!j->json[0]) {
			free(j->json);
			j->json = crash_json(j->rel, "checker child wrote nothing");
			j->status = 1;
		}
	} else {
		char what[128];

		if (WIFSIGNALED(wstatus))
			snprintf(what, sizeof(what), "checker crashed (signal %d)",
				 WTERMSIG(wstatus));
		else
			snprintf(what, sizeof(what), "checker failed (exit %d)",
				 WEXITSTATUS(wstatus));
		j->json = crash_json(j->rel, what);
		j->status = 1;
	}
	fclose(j->tmp);
	j->tmp = NULL;
}

/*
 * --progress: the file's entry as soon as it is done, so that the caller
 * can keep it even if this run is interrupted before the final document.
 */
static void done_one(const struct job *j)
{
	if (progress) {
		fprintf(stderr, "checked %s\t{\"seconds\":%.2f,%s\n", j->rel, j->seconds,
			j->json + 1);
		fflush(stderr);
	}
}

static void run_jobs(struct job *jobs, int n, int par, const struct kb *kb,
		     const struct plan *plan)
{
	int next = 0, running = 0;

	if (par <= 0) {
		for (int i = 0; i < n; i++) {
			struct sbuf out;

			sb_init(&out);
			clock_gettime(CLOCK_MONOTONIC, &jobs[i].t0);
			jobs[i].status = check_file(kb, plan, jobs[i].rel, &jobs[i].cmd, &out);
			jobs[i].seconds = since(&jobs[i].t0);
			jobs[i].json = out.s;
			done_one(&jobs[i]);
		}
		return;
	}
	while (next < n || running > 0) {
		while (running < par && next < n) {
			struct job *j = &jobs[next++];

			j->tmp = tmpfile();
			if (!j->tmp)
				die2("cannot create a temporary file: %s", strerror(errno));
			fflush(NULL);
			clock_gettime(CLOCK_MONOTONIC, &j->t0);
			j->pid = fork();
			if (j->pid < 0)
				die2("fork: %s", strerror(errno));
			if (j->pid == 0) {
				struct sbuf out;
				int r;

				/* a hung parse costs one file: SIGALRM is reported */
				alarm(CHILD_TIMEOUT);
				sb_init(&out);
				r = check_file(kb, plan, j->rel, &j->cmd, &out);
				if (fwrite(sb_str(&out), 1, out.len, j->tmp) != out.len ||
				    fflush(j->tmp))
					_exit(3);
				_exit(r);
			}
			running++;
		}
		int ws;
		pid_t p = wait(&ws);

		if (p < 0) {
			if (errno == EINTR)
				continue;
			die2("wait: %s", strerror(errno));
		}
		for (int i = 0; i < next; i++) {
			if (jobs[i].pid == p && jobs[i].tmp) {
				finish(&jobs[i], ws);
				done_one(&jobs[i]);
				running--;
				break;
			}
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "kb", required_argument, NULL, 'k' },
		{ "plan", required_argument, NULL, 'p' },
		{ "tree", required_argument, NULL, 't' },
		{ "db-tree", required_argument, NULL, 'T' },
		{ "file", required_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *db_dir = NULL, *kb_path = NULL, *plan_path = NULL;
	char *tree = NULL, *db_tree = NULL;
	const char **files = NULL;
	int nfiles = 0, par = 1, o, failed = 0;
	char err[512];
	struct kb kb;
	struct plan plan;
	CXCompilationDatabase_Error dberr;
	CXCompilationDatabase db;
	struct job *jobs;
	struct sbuf out;

	while ((o = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (o) {
		case 'd':
			db_dir = optarg;
			break;
		case 'k':
			kb_path = optarg;
			break;
		case 'p':
			plan_path = optarg;
			break;
		case 't':
		case 'T': {
			char rp[PATH_MAX];

			if (!realpath(optarg, rp))
				die2("%s: %s", optarg, strerror(errno));
			if (o == 't')
				tree = xstrdup(rp);
			else
				db_tree = xstrdup(rp);
			break;
		}
		case 'f':
			files = xrealloc(files, (nfiles + 1) * sizeof(*files));
			files[nfiles++] = optarg;
			break;
		case 'j': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 0 || v > 64)
				die2("--jobs wants a number 0..64, not '%s'", optarg);
			par = (int)v;
			break;
		}
		case 'P':
			progress = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc)
		die2("unexpected argument '%s' (files go after --file)", argv[optind]);
	if (!db_dir || !kb_path || !plan_path) {
		fputs(usage, stderr);
		die2("--db, --kb and --plan are required");
	}
	if (db_tree && !tree)
		die2("--db-tree needs --tree");
	if (kb_load(&kb, kb_path, err, sizeof(err)))
		die2("%s", err);
	if (plan_load(&plan, plan_path, err, sizeof(err)))
		die2("%s", err);
	if (!nfiles) {
		for (size_t i = 0; i < plan.n; i++) {
			int seen = 0;

			for (int k = 0; k < nfiles; k++)
				if (!strcmp(files[k], plan.v[i].file))
					seen = 1;
			if (!seen) {
				files = xrealloc(files, (nfiles + 1) * sizeof(*files));
				files[nfiles++] = plan.v[i].file;
			}
		}
	}
	if (!nfiles)
		die2("nothing to check: the plan names no file and no --file was given");
	{
		struct stat st;
		char p[PATH_MAX + 32];

		snprintf(p, sizeof(p), "%s/compile_commands.json", db_dir);
		if (stat(p, &st))
			die2("%s: %s", p, strerror(errno));
	}
	db = clang_CompilationDatabase_fromDirectory(db_dir, &dberr);
	if (dberr != CXCompilationDatabase_NoError || !db)
		die2("%s/compile_commands.json: libclang cannot load it", db_dir);

	jobs = xcalloc(nfiles, sizeof(*jobs));
	for (int i = 0; i < nfiles; i++) {
		char *path = NULL;

		if (files[i][0] == '/')
			die2("%s: --file wants a path relative to the tree", files[i]);
		jobs[i].rel = files[i];
		if (tree) {
			struct sbuf b;

			sb_init(&b);
			sb_addf(&b, "%s/%s", tree, files[i]);
			path = b.s;
		} else {
			int m = cdb_find_suffix(db, files[i], &path);

			if (m == 0)
				die2("%s: not in %s/compile_commands.json (build its object with "
				     "LLVM=1 and rerun gen_compile_commands.py)", files[i], db_dir);
			if (m > 1)
				die2("%s: several files of %s/compile_commands.json end with it; "
				     "give --tree", files[i], db_dir);
		}
		if (cdb_get(db, path, db_tree, tree, &jobs[i].cmd, err, sizeof(err)))
			die2("%s", err);
		if (access(jobs[i].cmd.file, R_OK))
			die2("%s: %s", jobs[i].cmd.file, strerror(errno));
		free(path);
	}
	clang_CompilationDatabase_dispose(db);

	run_jobs(jobs, nfiles, par, &kb, &plan);

	sb_init(&out);
	sb_add(&out, "{\"files\":[");
	for (int i = 0; i < nfiles; i++) {
		struct job *j = &jobs[i];

		failed |= j->status != 0;
		sb_sep(&out);
		/* {"seconds":S, <the child's members>} */
		sb_addf(&out, "{\"seconds\":%.2f,", j->seconds);
		sb_add(&out, j->json + 1);
		free(j->json);
		cdb_cmd_free(&j->cmd);
	}
	sb_addf(&out, "],\"ok\":%s,\"jobs\":%d}\n", failed ? "false" : "true", par);
	fputs(sb_str(&out), stdout);
	if (fflush(stdout))
		die2("writing the result: %s", strerror(errno));
	sb_free(&out);
	free(jobs);
	free(files);
	free(tree);
	free(db_tree);
	kb_free(&kb);
	plan_free(&plan);
	return failed ? 1 : 0;
}
