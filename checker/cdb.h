/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Compile commands from compile_commands.json (Kbuild's
 * scripts/clang-tools/gen_compile_commands.py), turned into the arguments
 * libclang gets.  See checker/README.md, "Compile database", for the list
 * of flags that are dropped and why.
 */
#ifndef DMACB_CDB_H
#define DMACB_CDB_H

#include <stddef.h>
#include <clang-c/CXCompilationDatabase.h>

struct tu_cmd {
	char *file;		/* absolute path of the file to parse */
	char *dir;		/* the command's working directory */
	char **argv;		/* filtered arguments: no compiler, no file */
	int argc;
};

/*
 * Should this compiler argument reach libclang?  Returns 1 to keep it, 0 to
 * drop it; *drop_next is set to 1 when the argument takes a separate value
 * that must be dropped with it.
 */
int cdb_keep_arg(const char *arg, int *drop_next);

/*
 * Arguments appended to every command (after the filtered ones).
 */
extern const char *const cdb_extra_args[];

/*
 * Find the command for path in db and filter it.  When db_tree and tree are
 * both given and differ, path is looked up under db_tree and every
 * occurrence of db_tree in the command is rewritten to tree (a converted
 * worktree checked with the base tree's build directory).
 * Returns 0, or -1 with a message in err.
 */
int cdb_get(CXCompilationDatabase db, const char *path, const char *db_tree,
	    const char *tree, struct tu_cmd *out, char *err, size_t errlen);

/*
 * Files in db whose path ends with "/" rel: for plans without --tree.
 * Returns the number of matches (0, 1, or more: ambiguous); *match gets the
 * first (malloc'ed) when there is at least one.
 */
int cdb_find_suffix(CXCompilationDatabase db, const char *rel, char **match);

void cdb_cmd_free(struct tu_cmd *c);

#endif
