// SPDX-License-Identifier: GPL-2.0
/*
 * Compile commands -> libclang arguments.
 *
 * A database from an LLVM=1 build directory parses as it is, once the
 * dependency/output options are gone.  The gcc-only flags below are dropped
 * as well so that a database from a gcc build directory also gets through
 * (best effort: its autoconf.h still describes a gcc build).  None of the
 * dropped flags changes what the preprocessor or the parser see; they are
 * code generation, instrumentation or diagnostics options.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdb.h"
#include "sbuf.h"

/* Dropped when equal. */
static const char *const drop_exact[] = {
	"-c", "-MD", "-MMD", "-MP",
	/* warnings stay warnings: the Kbuild compile test owns -Werror/W=1 */
	"-Werror",
	/* gcc-only (clang 14 rejects or ignores them) */
	"-fconserve-stack", "-mrecord-mcount", "-fno-allow-store-data-races",
	"-mindirect-branch-register", "-mno-fp-ret-in-387", "-mskip-rax-setup",
	"-fno-var-tracking-assignments", "-fno-code-hoisting",
	"-fsanitize=bounds-strict", "-fno-inline-functions-called-once",
	"-mabi=lp64", "-fno-tree-loop-im", "-mindirect-branch-cs-prefix",
	"-fno-partial-inlining", "-fno-reorder-blocks",
	"-mno-fdpic",			/* arm */
	"-mmultiple", "-mno-readonly-in-sdata", "-mno-string",	/* powerpc */
	NULL
};

/* Dropped together with the next argument. */
static const char *const drop_with_value[] = {
	"-o", "-MF", "-MT", "-MQ",
	/* LLVM backend options: irrelevant to parsing, and libclang keeps
	 * them in global state across translation units */
	"-mllvm",
	"--param",
	NULL
};

/* Dropped when the argument starts with one of these. */
static const char *const drop_prefix[] = {
	"-Wp,-MD,", "-Wp,-MMD,",
	"-Werror=unknown-warning-option", "-Werror=unused-command-line-argument",
	"-Werror=ignored-optimization-argument", "-Werror=option-ignored",
	/* gcc-only */
	"-mindirect-branch=", "-mfunction-return=", "-fzero-call-used-regs=",
	"-mpreferred-stack-boundary=", "-fmin-function-alignment=", "--param=",
	"-fno-ipa-", "-fplugin=", "-fplugin-arg-", "-fstrict-flex-arrays=",
	"-ftrivial-auto-var-init=", "-mstack-protector-guard",
	"-fdiagnostics-color", "-fpatchable-function-entry=", "-fasan-shadow-offset=",
	"-falign-jumps=",
	"-ffixed-r",			/* powerpc: -ffixed-r2, the current task */
	NULL
};

const char *const cdb_extra_args[] = {
	"-Wno-unknown-warning-option",
	NULL
};

int cdb_keep_arg(const char *arg, int *drop_next)
{
	*drop_next = 0;
	for (int i = 0; drop_exact[i]; i++)
		if (!strcmp(arg, drop_exact[i]))
			return 0;
	for (int i = 0; drop_with_value[i]; i++) {
		if (!strcmp(arg, drop_with_value[i])) {
			*drop_next = 1;
			return 0;
		}
	}
	for (int i = 0; drop_prefix[i]; i++)
		if (!strncmp(arg, drop_prefix[i], strlen(drop_prefix[i])))
			return 0;
	return 1;
}

/* s with the first occurrence of from (as a path prefix) replaced by to. */
static char *remap(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from);
	const char *p = s;

	while ((p = strstr(p, from)) != NULL) {
		if (p[fl] == '/' || p[fl] == '\0') {
			struct sbuf b;

			sb_init(&b);
			sb_addn(&b, s, p - s);
			sb_add(&b, to);
			sb_add(&b, p + fl);
			return b.s;
		}
		p += fl;
	}
	return xstrdup(s);
}

static int same_file(const char *dir, const char *arg, const char *file)
{
	char a[PATH_MAX], b[PATH_MAX], joined[PATH_MAX * 2];

	if (!strcmp(arg, file))
		return 1;
	if (arg[0] != '/') {
		snprintf(joined, sizeof(joined), "%s/%s", dir, arg);
		arg = joined;
	}
	if (!realpath(arg, a) || !realpath(file, b))
		return 0;
	return !strcmp(a, b);
}

static char *strip_slash(const char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		n--;
	return xstrndup(s, n);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Is path one of the database's own entries?  libclang's JSON database
 * interpolates a command for any other file (from a "similar" entry), which
 * would parse a file that was never built with a neighbour's flags.  The
 * list of entries is loaded once per database.
 */
static int cdb_has_entry(CXCompilationDatabase db, const char *path)
{
	static CXCompilationDatabase cached;
	static char **files;
	static size_t nfiles;
	char rp[PATH_MAX];
	const char *key = path;

	if (db != cached) {
		CXCompileCommands cmds = clang_CompilationDatabase_getAllCompileCommands(db);
		unsigned n = cmds ? clang_CompileCommands_getSize(cmds) : 0;

		for (size_t i = 0; i < nfiles; i++)
			free(files[i]);
		free(files);
		files = xcalloc(n + 1, sizeof(char *));
		nfiles = 0;
		for (unsigned i = 0; i < n; i++) {
			CXCompileCommand cmd = clang_CompileCommands_getCommand(cmds, i);
			CXString f = clang_CompileCommand_getFilename(cmd);
			CXString d = clang_CompileCommand_getDirectory(cmd);
			const char *fs = clang_getCString(f);
			struct sbuf b;

			sb_init(&b);
			if (fs[0] != '/')
				sb_addf(&b, "%s/", clang_getCString(d));
			sb_add(&b, fs);
			files[nfiles++] = realpath(b.s, rp) ? xstrdup(rp) : xstrdup(b.s);
			sb_free(&b);
			clang_disposeString(f);
			clang_disposeString(d);
		}
		if (cmds)
			clang_CompileCommands_dispose(cmds);
		qsort(files, nfiles, sizeof(char *), cmp_str);
		cached = db;
	}
	if (realpath(path, rp))
		key = rp;
	return bsearch(&key, files, nfiles, sizeof(char *), cmp_str) != NULL;
}

int cdb_get(CXCompilationDatabase db, const char *path, const char *db_tree,
	    const char *tree, struct tu_cmd *out, char *err, size_t errlen)
{
	CXCompileCommands cmds;
	CXCompileCommand cmd;
	CXString s;
	char *from = NULL, *to = NULL, *lookup;
	unsigned n;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (db_tree && tree) {
		from = strip_slash(db_tree);
		to = strip_slash(tree);
		if (!strcmp(from, to)) {
			free(from);
			free(to);
			from = to = NULL;
		}
	}
	lookup = from ? remap(path, to, from) : xstrdup(path);
	cmds = cdb_has_entry(db, lookup) ?
		clang_CompilationDatabase_getCompileCommands(db, lookup) : NULL;
	if (!cmds || clang_CompileCommands_getSize(cmds) == 0) {
		snprintf(err, errlen, "%s: not in compile_commands.json (build its object "
			 "with LLVM=1 and rerun gen_compile_commands.py)", lookup);
		goto out;
	}
	cmd = clang_CompileCommands_getCommand(cmds, 0);
	s = clang_CompileCommand_getDirectory(cmd);
	out->dir = from ? remap(clang_getCString(s), from, to) : xstrdup(clang_getCString(s));
	clang_disposeString(s);
	s = clang_CompileCommand_getFilename(cmd);
	{
		const char *fn = clang_getCString(s);
		char joined[PATH_MAX * 2];

		if (fn[0] != '/') {
			snprintf(joined, sizeof(joined), "%s/%s", out->dir, fn);
			fn = joined;
		}
		out->file = from ? remap(fn, from, to) : xstrdup(fn);
	}
	clang_disposeString(s);

	n = clang_CompileCommand_getNumArgs(cmd);
	out->argv = xcalloc(n + 8, sizeof(char *));
	/* argv[0] is the compiler */
	for (unsigned i = 1; i < n; i++) {
		int drop_next;
		const char *a;

		s = clang_CompileCommand_getArg(cmd, i);
		a = clang_getCString(s);
		if (!cdb_keep_arg(a, &drop_next)) {
			clang_disposeString(s);
			i += drop_next;
			continue;
		}
		if (a[0] != '-' && i > 0) {
			char *m = from ? remap(a, from, to) : xstrdup(a);

			if (same_file(out->dir, m, out->file)) {
				free(m);
				clang_disposeString(s);
				continue;
			}
			out->argv[out->argc++] = m;
		} else {
			out->argv[out->argc++] = from ? remap(a, from, to) : xstrdup(a);
		}
		clang_disposeString(s);
	}
	for (int i = 0; cdb_extra_args[i]; i++)
		out->argv[out->argc++] = xstrdup(cdb_extra_args[i]);
	{
		struct sbuf wd;

		sb_init(&wd);
		sb_add(&wd, "-working-directory=");
		sb_add(&wd, out->dir);
		out->argv[out->argc++] = wd.s;
	}
	rc = 0;
out:
	if (cmds)
		clang_CompileCommands_dispose(cmds);
	if (rc)
		cdb_cmd_free(out);
	free(lookup);
	free(from);
	free(to);
	return rc;
}

int cdb_find_suffix(CXCompilationDatabase db, const char *rel, char **match)
{
	CXCompileCommands cmds = clang_CompilationDatabase_getAllCompileCommands(db);
	unsigned n = cmds ? clang_CompileCommands_getSize(cmds) : 0;
	size_t rl = strlen(rel);
	int found = 0;

	*match = NULL;
	for (unsigned i = 0; i < n; i++) {
		CXCompileCommand cmd = clang_CompileCommands_getCommand(cmds, i);
		CXString s = clang_CompileCommand_getFilename(cmd);
		const char *f = clang_getCString(s);
		size_t fl = strlen(f);

		if (fl > rl && f[fl - rl - 1] == '/' && !strcmp(f + fl - rl, rel)) {
			if (!*match) {
				*match = xstrdup(f);
				found = 1;
			} else if (strcmp(*match, f)) {
				found++;
			}
		}
		clang_disposeString(s);
	}
	if (cmds)
		clang_CompileCommands_dispose(cmds);
	return found;
}

void cdb_cmd_free(struct tu_cmd *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->file);
	free(c->dir);
	memset(c, 0, sizeof(*c));
}
