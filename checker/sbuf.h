/* SPDX-License-Identifier: GPL-2.0 */
/* A growing string buffer and the JSON string escaper the checker writes with. */
#ifndef DMACB_SBUF_H
#define DMACB_SBUF_H

#include <stddef.h>

struct sbuf {
	char *s;
	size_t len, cap;
};

void sb_init(struct sbuf *b);
void sb_free(struct sbuf *b);
void sb_add(struct sbuf *b, const char *s);
void sb_addn(struct sbuf *b, const char *s, size_t n);
void sb_addf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included ("null" for NULL). */
void sb_json(struct sbuf *b, const char *s);
/* Appends ',' unless the buffer is empty or ends with '[' or '{'. */
void sb_sep(struct sbuf *b);
/* Never NULL; "" when empty. */
const char *sb_str(const struct sbuf *b);

/* malloc/realloc/strdup that exit(3) on failure: the checker has no
 * sensible way to continue without memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
