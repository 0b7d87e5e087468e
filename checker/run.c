// SPDX-License-Identifier: GPL-2.0
/* Parse one translation unit and run the checks on it. */
#include <stdio.h>
#include <string.h>

#include <clang-c/Index.h>

#include "check.h"
#include "run.h"

/*
 * DetailedPreprocessingRecord: MACRO_EXPANSION cursors, to name a call by
 * the macro written at the call site (costs ~nothing measurable).
 * KeepGoing: an AST even after errors (the parse check reports them).
 */
const unsigned dmacb_parse_options = CXTranslationUnit_DetailedPreprocessingRecord |
				     CXTranslationUnit_KeepGoing |
				     CXTranslationUnit_IgnoreNonErrorsFromIncludedFiles;

static const char *parse_error_text(enum CXErrorCode e)
{
	switch (e) {
	case CXError_Failure:
		return "libclang could not parse the file (CXError_Failure)";
	case CXError_Crashed:
		return "libclang crashed while parsing the file";
	case CXError_InvalidArguments:
		return "libclang rejected the arguments";
	case CXError_ASTReadError:
		return "libclang AST read error";
	default:
		return "libclang failed";
	}
}

int check_file(const struct kb *kb, const struct plan *plan, const char *rel,
	       const struct tu_cmd *cmd, struct sbuf *out)
{
	CXIndex index = clang_createIndex(0, 0);
	CXTranslationUnit tu = NULL;
	enum CXErrorCode err;
	struct ctx c = { 0 };
	int r;

	err = clang_parseTranslationUnit2(index, cmd->file, (const char *const *)cmd->argv,
					  cmd->argc, NULL, 0, dmacb_parse_options, &tu);
	c.file = rel;
	c.path = cmd->file;
	c.tu = err == CXError_Success ? tu : NULL;
	c.tu_error = err == CXError_Success ? NULL : parse_error_text(err);
	c.kb = kb;
	c.plan = plan;
	r = run_checks(&c, out);
	if (tu)
		clang_disposeTranslationUnit(tu);
	clang_disposeIndex(index);
	return r;
}
