// SPDX-License-Identifier: GPL-2.0
/*
 * check_hardirq: every function the plan marks "hardirq", and every
 * function of the main file it reaches, obeys the hardirq contract
 * (DESIGN.md, rules 1-7; kb/rules.tsv).  The rules are data (kb/) and this
 * is the checker's rule file: one function per rule, registered in rules[]
 * below, each over the effects (effects.c) of the reachable functions
 * (reach.c).  The audit runs the same rules over spatch's facts
 * (scripts/dmacb_lib/contract/rules.py); tests/test_parity.py holds the two
 * equal.
 *
 *   rules_classes      rules 1-5 by kb class; gfp by value (gfp.c); regmap
 *                      by the file's regmaps; unknown and indirect calls
 *   rule_lock_shared   rule 2: a lock also taken elsewhere with IRQs on
 *   rule_lock_held     rule 6: a lock held elsewhere across dmaengine calls
 *   rule_poll          rule 7: time-bounded polls, uncounted spins
 */
#include <stdlib.h>
#include <string.h>

#include "effects.h"
#include "gfp.h"
#include "locks.h"
#include "loops.h"
#include "reach.h"

#define MAX_GFP_DEPTH 6

struct rctx {
	struct ctx *c;
	struct effects *h;
	struct locks *l;
	struct gfp_flags *gf;
	int mmio_regmap;
	int locked_delivery;
	const char *root;
	struct reach r;
	struct sbuf *out;
	int bad;
};

static const char *rule_text(int rule)
{
	switch (rule) {
	case 1:
		return "may sleep (rule 1)";
	case 2:
		return "disables or enables bottom halves (rule 2)";
	case 3:
		return "re-enters the dmaengine API (rule 3)";
	case 4:
		return "needs softirq context (rule 4)";
	case 5:
		return "re-enables interrupts (rule 5)";
	default:
		return "";
	}
}

static int applies(const struct rctx *x, int rule)
{
	const struct kb_rule *r = kb_rule(x->c->kb, rule);

	return r && (r->applies == KB_APPLIES_ALWAYS ||
		     (r->applies == KB_APPLIES_LOCKED && x->locked_delivery));
}

static void violation(struct rctx *x, const struct effect *e, const char *cls,
		      const char *reason, const char *why)
{
	struct sbuf *out = x->out;

	sb_sep(out);
	sb_add(out, "{\"function\":");
	sb_json(out, x->root);
	sb_add(out, ",\"class\":");
	sb_json(out, cls);
	sb_add(out, ",\"reason\":");
	sb_json(out, reason);
	sb_addf(out, ",\"rule\":%d", kb_rule_of_reason(x->c->kb, reason));
	if (e) {
		sb_add(out, ",\"call\":");
		sb_json(out, e->name);
		sb_addf(out, ",\"line\":%u,\"path\":[", effect_line(x->h, e));
		reach_path(x->h, &x->r, e, out);
		sb_add(out, "]");
	} else {
		sb_add(out, ",\"call\":null,\"line\":null,\"path\":[]");
	}
	sb_add(out, ",\"why\":");
	sb_json(out, why);
	sb_add(out, "}");
	x->bad = 1;
}

#define FOR_REACHABLE(x, q, i)						\
	for (int q = 0; q < (x)->r.n; q++)				\
		for (size_t i = (x)->h->fn_first[(x)->r.order[q]];	\
		     i < (x)->h->fn_first[(x)->r.order[q]] + (x)->h->fn_n[(x)->r.order[q]]; i++)

/* ---- rules 1-5: calls of a class that breaks a rule -------------------- */

static int param_index(CXCursor fn, const char *name)
{
	int n = clang_Cursor_getNumArguments(fn);

	for (int i = 0; i < n; i++) {
		char *p = cursor_name(clang_Cursor_getArgument(fn, i));
		int eq = !strcmp(p, name);

		free(p);
		if (eq)
			return i;
	}
	return -1;
}

struct gfp_at {
	struct rctx *x;
	int fn;
};

/* Names of function fn the gfp table does not know: a parameter (the
 * argument of every reachable caller), an object-like macro of the file. */
static int gfp_lookup(void *arg, const char *name, int depth, struct gfp_value *out,
		      struct sbuf *why)
{
	struct gfp_at *at = arg;
	struct rctx *x = at->x;
	const struct tu_index *ix = x->h->ix;
	int p = param_index(ix->fns[at->fn].cur, name);
	const struct mmacro *m;

	if (p >= 0) {
		int callers = 0;

		if (at->fn == x->r.root) {
			sb_addf(why, "'%s' is a parameter of the callback", name);
			return -1;
		}
		if (depth > MAX_GFP_DEPTH) {
			sb_add(why, "gfp passed through too many calls");
			return -1;
		}
		out->n = 0;
		FOR_REACHABLE(x, q, i) {
			const struct effect *e = &x->h->e[i];
			struct gfp_at up = { x, e->fn };
			struct gfp_value v;

			if (e->kind != EFF_EDGE || e->target != at->fn)
				continue;
			callers++;
			if (e->nargs <= p) {
				sb_addf(why, "'%s': argument not visible at the call in %s()", name,
					ix->fns[e->fn].name);
				return -1;
			}
			if (gfp_eval(x->gf, e->args[p].v, e->args[p].n, gfp_lookup, &up, depth + 1,
				     &v, why))
				return -1;
			for (int k = 0; k < v.n; k++) {
				int dup = 0;

				for (int j = 0; j < out->n; j++)
					dup |= out->v[j] == v.v[k];
				if (!dup && out->n < GFP_MAX_ALTS)
					out->v[out->n++] = v.v[k];
			}
		}
		if (!callers) {
			sb_addf(why, "no caller of %s() passes '%s'", ix->fns[at->fn].name, name);
			return -1;
		}
		return 1;
	}
	m = tu_find_macro(ix, name);
	if (m && !m->funclike && depth <= MAX_GFP_DEPTH)
		return gfp_eval(x->gf, m->body.v, m->body.n, gfp_lookup, at, depth + 1, out,
				why) ? -1 : 1;
	return 0;
}

/* For the evidence: the caller whose argument makes a gfp parameter sleep. */
static void gfp_culprit(struct rctx *x, const struct effect *e, struct sbuf *w)
{
	const struct tu_index *ix = x->h->ix;
	int p;

	if (e->gfp.n != 1)
		return;
	p = param_index(ix->fns[e->fn].cur, e->gfp.v[0]);
	if (p < 0)
		return;
	FOR_REACHABLE(x, q, i) {
		const struct effect *c = &x->h->e[i];
		struct gfp_at up = { x, c->fn };
		struct gfp_value v;
		struct sbuf why;
		int sleeps;

		if (c->kind != EFF_EDGE || c->target != e->fn || c->nargs <= p)
			continue;
		sb_init(&why);
		sleeps = !gfp_eval(x->gf, c->args[p].v, c->args[p].n, gfp_lookup, &up, 1, &v, &why) &&
			 gfp_sleeps(x->gf, &v);
		sb_free(&why);
		if (sleeps) {
			char *a = tu_join(c->args[p].v, 0, c->args[p].n);

			sb_addf(w, " (passed as '%s' = '%s' by %s() line %u)", e->gfp.v[0], a,
				ix->fns[c->fn].name, effect_line(x->h, c));
			free(a);
			return;
		}
	}
}

static void rules_classes(struct rctx *x)
{
	const struct kb *kb = x->c->kb;

	FOR_REACHABLE(x, q, i) {
		const struct effect *e = &x->h->e[i];
		const struct kb_class *c;
		struct sbuf w;

		if (e->kind == EFF_UNKNOWN || e->kind == EFF_INDIRECT) {
			violation(x, e, "unknown", "unknown-call", e->why);
			continue;
		}
		if (e->kind != EFF_CALL)
			continue;
		c = &kb->classes[e->cls];
		sb_init(&w);
		if (e->cls == kb->c_unknown) {
			sb_addf(&w, "unknown: %s() is classified 'unknown' in the knowledge base",
				e->name);
			violation(x, e, c->name, "unknown-call", w.s);
		} else if (!c->rule || !applies(x, c->rule)) {
			/* nothing */
		} else if (c->decide == KB_DECIDE_GFP) {
			struct gfp_at at = { x, e->fn };
			struct gfp_value v;
			struct sbuf why;
			char *g = e->has_gfp ? tu_join(e->gfp.v, 0, e->gfp.n) : xstrdup("?");

			sb_init(&why);
			if (!e->has_gfp) {
				sb_addf(&w, "%s: %s() allocates with a gfp argument this checker "
					"cannot see; assumed to sleep (rule 1)", c->name, e->name);
				violation(x, e, c->name, c->reason, w.s);
			} else if (gfp_eval(x->gf, e->gfp.v, e->gfp.n, gfp_lookup, &at, 0, &v, &why)) {
				sb_addf(&w, "%s: %s() allocates with gfp '%s', not decided: %s (rule 1)",
					c->name, e->name, g, sb_str(&why));
				violation(x, e, c->name, c->reason, w.s);
			} else if (gfp_sleeps(x->gf, &v)) {
				sb_addf(&w, "%s: %s() allocates with gfp '%s', which has %s", c->name,
					e->name, g, x->gf->sleeps_name);
				gfp_culprit(x, e, &w);
				sb_add(&w, " (rule 1)");
				violation(x, e, c->name, c->reason, w.s);
			}
			free(g);
			sb_free(&why);
		} else if (c->decide == KB_DECIDE_REGMAP) {
			if (!x->mmio_regmap) {
				sb_addf(&w, "regmap: %s() may sleep: this file does not create only "
					"MMIO/syscon regmaps (rule 1)", e->name);
				violation(x, e, c->name, c->reason, w.s);
			}
		} else {
			sb_addf(&w, "%s: %s() %s", c->name, e->name, rule_text(c->rule));
			violation(x, e, c->name, c->reason, w.s);
		}
		sb_free(&w);
	}
}

/* ---- rule 2: a lock the callback takes, taken elsewhere with IRQs on ---- */

/* The callback's acquisitions: a named lock, not irq-reenable or BH. */
static int taken(const struct rctx *x, const struct effect *e)
{
	const struct kb *kb = x->c->kb;

	return effect_lock_role(x->h, e) == KB_LOCK_ACQUIRE && e->cls != kb->c_irq_reenable &&
	       e->cls != kb->c_bh_lock;
}

/* Several acquisitions of one lock on the path: report the first only. */
static int first_taken(const struct rctx *x, const struct effect *e)
{
	FOR_REACHABLE(x, q, i) {
		const struct effect *o = &x->h->e[i];

		if (o == e)
			return 1;
		if (taken(x, o) && lock_match(o, e))
			return 0;
	}
	return 1;
}

static void rule_lock_shared(struct rctx *x)
{
	const struct kb *kb = x->c->kb;

	if (!applies(x, 2))
		return;
	FOR_REACHABLE(x, q, i) {
		const struct effect *e = &x->h->e[i];

		if (!taken(x, e) || !first_taken(x, e))
			continue;
		for (size_t o = 0; o < x->h->ne; o++) {
			const struct effect *y = &x->h->e[o];
			struct sbuf w;

			if (x->r.in[y->fn] || x->l->irq_handler[y->fn] ||
			    (y->cls != kb->c_lock && y->cls != kb->c_bh_lock) || y->kind != EFF_CALL ||
			    effect_lock_role(x->h, y) != KB_LOCK_ACQUIRE || !lock_match(e, y))
				continue;
			sb_init(&w);
			sb_addf(&w, "lock-shared: lock '%s' taken here with %s() is also taken "
				"with %s() in %s() line %u, with interrupts enabled (rule 2)",
				e->lock_show ? e->lock_show : e->lock_text, e->name, y->name,
				x->h->ix->fns[y->fn].name, effect_line(x->h, y));
			violation(x, e, kb_class_name(kb, e->cls), "lock-shared", w.s);
			sb_free(&w);
			break;
		}
	}
}

/* ---- rule 6: a lock the callback takes, held elsewhere across dmaengine -- */

static void rule_lock_held(struct rctx *x)
{
	if (!applies(x, 6))
		return;
	FOR_REACHABLE(x, q, i) {
		const struct effect *e = &x->h->e[i];

		if (!taken(x, e) || !first_taken(x, e))
			continue;
		for (size_t k = 0; k < x->l->nholds; k++) {
			const struct hold *hd = &x->l->holds[k];
			struct sbuf w;

			if (!lock_match(e, hd->acq))
				continue;
			sb_init(&w);
			sb_addf(&w, "lock-held-across-dma: lock '%s' taken here with %s() is held by "
				"%s() from line %u across ", e->lock_show ? e->lock_show : e->lock_text,
				e->name, x->h->ix->fns[hd->acq->fn].name, effect_line(x->h, hd->acq));
			if (hd->inner)
				sb_addf(&w, "%s() -> %s()", hd->dma->name, hd->inner);
			else
				sb_addf(&w, "%s()", hd->dma->name);
			sb_addf(&w, " line %u: AB-BA against the provider's channel lock (rule 6)",
				effect_line(x->h, hd->dma));
			violation(x, e, kb_class_name(x->c->kb, e->cls), "lock-held-across-dma", w.s);
			sb_free(&w);
			break;
		}
	}
}

/* ---- rule 7: polling bounded by time, spinning with no count ------------ */

static int is_counter(const char *s)
{
	return !strcmp(s, "++") || !strcmp(s, "--") || !strcmp(s, "+=") || !strcmp(s, "-=");
}

static void rule_poll(struct rctx *x)
{
	const struct kb *kb = x->c->kb;

	if (!applies(x, 7))
		return;
	FOR_REACHABLE(x, q, i) {
		const struct effect *e = &x->h->e[i];

		if (e->kind != EFF_EDGE && kb_poll_form(kb, e->base) == KB_POLL_TIME_POLL) {
			struct sbuf w;

			sb_init(&w);
			sb_addf(&w, "time-bounded-poll: %s() polls until a timeout passes (rule 7)",
				e->name);
			violation(x, e, "poll", "time-bounded-poll", w.s);
			sb_free(&w);
		}
	}
	for (int q = 0; q < x->r.n; q++) {
		int f = x->r.order[q];
		struct toklist t;
		struct loop *lp;
		int n;

		loops_fn_tokens(x->h->ix, f, &t);
		n = loops_find(&t, &lp);
		for (int k = 0; k < n; k++) {
			const char *time = NULL, *spin = NULL;
			int counted = 0;
			struct sbuf w;

			for (int j = lp[k].a; j <= lp[k].b; j++) {
				enum kb_poll_form pf = kb_poll_form(kb, t.s[j]);

				if (pf == KB_POLL_TIME && !time)
					time = t.s[j];
				if (pf == KB_POLL_SPIN && !spin && j + 1 <= lp[k].b &&
				    !strcmp(t.s[j + 1], "("))
					spin = t.s[j];
				counted |= is_counter(t.s[j]);
			}
			if (!time && (!spin || counted))
				continue;
			sb_init(&w);
			if (time)
				sb_addf(&w, "time-bounded-poll: the %s loop of lines %u-%u in %s() is "
					"bounded by '%s' (rule 7)", lp[k].kind, lp[k].line, lp[k].end,
					x->h->ix->fns[f].name, time);
			else
				sb_addf(&w, "time-bounded-poll: the %s loop of lines %u-%u in %s() spins "
					"(%s()) with no count: it waits for another side (rule 7)",
					lp[k].kind, lp[k].line, lp[k].end, x->h->ix->fns[f].name, spin);
			/* reported at the loop, with the path to its function */
			sb_sep(x->out);
			sb_add(x->out, "{\"function\":");
			sb_json(x->out, x->root);
			sb_add(x->out, ",\"class\":\"loop\",\"reason\":\"time-bounded-poll\","
			       "\"rule\":7,\"call\":");
			sb_json(x->out, lp[k].kind);
			sb_addf(x->out, ",\"line\":%u,\"path\":[", lp[k].line);
			reach_path_fn(x->h, &x->r, f, x->out);
			sb_add(x->out, "],\"why\":");
			sb_json(x->out, w.s);
			sb_add(x->out, "}");
			x->bad = 1;
			sb_free(&w);
		}
		free(lp);
		toklist_free(&t);
	}
}

/* ---- the rule list ----------------------------------------------------- */

static void (*const rules[])(struct rctx *) = {
	rules_classes, rule_lock_shared, rule_lock_held, rule_poll, NULL
};

static int regmap_is_mmio(const struct ctx *c, const struct tu_index *ix)
{
	int mmio = 0, bus = 0;

	for (size_t i = 0; i < ix->ntoks; i++) {
		const struct kb_named *m;

		if (ix->toks[i].kind != CXToken_Identifier)
			continue;
		m = kb_match(c->kb->regmap, c->kb->nregmap, ix->toks[i].s);
		if (m) {
			mmio |= m->i;
			bus |= !m->i;
		}
	}
	return mmio && !bus;
}

/*
 * Locks the callback takes whose name another lock call of the file uses
 * for a different declaration: the audit, naming locks by name, takes them
 * for one lock (the parity test accepts its stricter verdict then).
 */
static void name_only_locks(struct rctx *x, struct sbuf *fns)
{
	int n = 0;

	sb_add(fns, ",\"name_only_locks\":[");
	FOR_REACHABLE(x, q, i) {
		const struct effect *e = &x->h->e[i];

		if (!taken(x, e) || !first_taken(x, e) || !e->lock_usr)
			continue;
		for (size_t o = 0; o < x->h->ne; o++) {
			const struct effect *y = &x->h->e[o];

			if (y->lock_text && y->lock_usr && !strcmp(y->lock_text, e->lock_text) &&
			    strcmp(y->lock_usr, e->lock_usr)) {
				sb_addf(fns, "%s", n++ ? "," : "");
				sb_json(fns, e->lock_text);
				break;
			}
		}
	}
	sb_add(fns, "]");
}

static int check_root(struct rctx *x, const char *root, struct sbuf *fns)
{
	struct tu_index *ix = x->h->ix;
	int f = tu_find_fn(ix, root);

	x->root = root;
	sb_sep(fns);
	sb_add(fns, "{\"function\":");
	sb_json(fns, root);
	if (f < 0) {
		struct sbuf w;

		sb_add(fns, ",\"defined\":false,\"reachable\":[]}");
		sb_init(&w);
		sb_addf(&w, "%s() is not defined in %s", root, x->c->file);
		sb_sep(x->out);
		sb_add(x->out, "{\"function\":");
		sb_json(x->out, root);
		sb_add(x->out, ",\"class\":\"missing\",\"reason\":\"unresolved\",\"rule\":0,"
			"\"call\":null,\"line\":null,\"path\":[],\"why\":");
		sb_json(x->out, w.s);
		sb_add(x->out, "}");
		sb_free(&w);
		return 1;
	}
	reach_walk(x->h, f, &x->r);
	sb_addf(fns, ",\"defined\":true,\"line\":%u,\"reachable\":[", ix->fns[f].line);
	for (int q = 0; q < x->r.n; q++) {
		sb_sep(fns);
		sb_json(fns, ix->fns[x->r.order[q]].name);
	}
	sb_add(fns, "]");
	x->bad = 0;
	for (int k = 0; rules[k]; k++)
		rules[k](x);
	name_only_locks(x, fns);
	sb_add(fns, "}");
	reach_free(&x->r);
	return x->bad;
}

int check_hardirq(struct ctx *c)
{
	struct tu_index *ix;
	struct effects h;
	struct locks l;
	struct gfp_flags gf;
	struct sbuf fns, viol;
	struct rctx x = { 0 };
	int any = 0, bad = 0;

	for (size_t i = 0; i < c->plan->n; i++)
		if (c->plan->v[i].kind == PLAN_HARDIRQ && !strcmp(c->plan->v[i].file, c->file))
			any = 1;
	if (!any) {
		sb_add(c->out, "\"functions\":[],\"violations\":[]");
		return 0;
	}
	ix = ctx_index(c);
	if (!ix)
		return 1;
	effects_build(&h, c, ix);
	locks_build(&l, &h);
	gfp_flags_init(&gf, c->kb);
	sb_init(&fns);
	sb_init(&viol);
	x.c = c;
	x.h = &h;
	x.l = &l;
	x.gf = &gf;
	x.mmio_regmap = regmap_is_mmio(c, ix);
	x.out = &viol;
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_item *it = &c->plan->v[i];
		int dup = 0;

		if (it->kind != PLAN_HARDIRQ || strcmp(it->file, c->file))
			continue;
		for (size_t j = 0; j < i; j++)
			if (c->plan->v[j].kind == PLAN_HARDIRQ && !strcmp(c->plan->v[j].file, c->file) &&
			    !strcmp(c->plan->v[j].func, it->func))
				dup = 1;
		if (dup)
			continue;
		/* one root, judged once: locked if any of its items says so */
		x.locked_delivery = 0;
		for (size_t j = i; j < c->plan->n; j++)
			if (c->plan->v[j].kind == PLAN_HARDIRQ && !strcmp(c->plan->v[j].file, c->file) &&
			    !strcmp(c->plan->v[j].func, it->func))
				x.locked_delivery |= c->plan->v[j].locked;
		bad |= check_root(&x, it->func, &fns);
	}
	sb_addf(c->out, "\"functions\":[%s],\"violations\":[%s]", sb_str(&fns), sb_str(&viol));
	sb_free(&fns);
	sb_free(&viol);
	gfp_flags_free(&gf);
	locks_free(&l);
	effects_free(&h);
	return bad;
}
