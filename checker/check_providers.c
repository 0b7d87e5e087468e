// SPDX-License-Identifier: GPL-2.0
/*
 * check_providers: rule 8 of the hardirq contract.  A file the plan
 * converted to a descriptor completion needs every DMA provider that may
 * serve it to signal a completion set without a callback on every path:
 * each "provider" item of the file must say all-paths.  The provider facts
 * come from the providers audit (with what the helper-API series fixes),
 * written into the plan by verify; this check judges them for the
 * conversion the branch actually holds.
 *
 * A plan with no provider item at all is of a tree without providers:
 * rule 8 is not judged ("judged": false).  Otherwise a completion file
 * with no provider item fails: nobody is known to signal its completion.
 */
#include <string.h>

#include "check.h"

/* the one value of the providers audit's bare completion that rule 8
 * accepts (scripts/dmacb_lib/delivery.py OK_BARE) */
static const char OK_BARE[] = "all-paths";

int check_providers(struct ctx *c)
{
	size_t ncomp = 0, nprov_all = 0, nprov = 0;
	int bad = 0;
	struct sbuf viol;

	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_item *it = &c->plan->v[i];

		if (it->kind == PLAN_PROVIDER)
			nprov_all++;
		if (strcmp(it->file, c->file))
			continue;
		ncomp += it->kind == PLAN_COMPLETION;
	}
	sb_addf(c->out, "\"completions\":%zu,\"judged\":%s,\"providers\":[", ncomp,
		ncomp && nprov_all ? "true" : "false");
	if (!ncomp || !nprov_all) {
		sb_add(c->out, "],\"violations\":[]");
		return 0;
	}
	sb_init(&viol);
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_item *it = &c->plan->v[i];
		int ok;

		if (it->kind != PLAN_PROVIDER || strcmp(it->file, c->file))
			continue;
		nprov++;
		ok = !strcmp(it->tag, OK_BARE);
		sb_sep(c->out);
		sb_add(c->out, "{\"provider\":");
		sb_json(c->out, it->func);
		sb_add(c->out, ",\"bare\":");
		sb_json(c->out, it->tag);
		sb_addf(c->out, ",\"ok\":%s}", ok ? "true" : "false");
		if (ok)
			continue;
		bad = 1;
		sb_sep(&viol);
		sb_add(&viol, "{\"rule\":8,\"reason\":\"provider-no-completion\",\"provider\":");
		sb_json(&viol, it->func);
		sb_add(&viol, ",\"why\":");
		sb_json(&viol, it->tag);
		sb_add(&viol, "}");
	}
	if (!nprov) {
		bad = 1;
		sb_sep(&viol);
		sb_add(&viol, "{\"rule\":8,\"reason\":\"provider-no-completion\",\"provider\":null,"
		       "\"why\":\"no provider is known to serve the file\"}");
	}
	sb_add(c->out, "],\"violations\":[");
	sb_add(c->out, sb_str(&viol));
	sb_add(c->out, "]");
	sb_free(&viol);
	return bad;
}
