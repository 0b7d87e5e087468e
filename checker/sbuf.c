// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fputs("dmacb-check: out of memory\n", stderr);
		exit(3);
	}
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p) {
		fputs("dmacb-check: out of memory\n", stderr);
		exit(3);
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("dmacb-check: out of memory\n", stderr);
		exit(3);
	}
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

void sb_init(struct sbuf *b)
{
	b->s = NULL;
	b->len = b->cap = 0;
}

void sb_free(struct sbuf *b)
{
	free(b->s);
	sb_init(b);
}

void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

void sb_addf(struct sbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sb_addn(b, small, n);
		return;
	}
	char *big = xmalloc(n + 1);

	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	sb_addn(b, big, n);
	free(big);
}

/* Length of the valid UTF-8 sequence at p, 0 if there is none. */
static int utf8_len(const unsigned char *p)
{
	int n;

	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	for (int i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void sb_json(struct sbuf *b, const char *s)
{
	if (!s) {
		sb_add(b, "null");
		return;
	}
	sb_add(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			sb_add(b, "\\\"");
			break;
		case '\\':
			sb_add(b, "\\\\");
			break;
		case '\n':
			sb_add(b, "\\n");
			break;
		case '\t':
			sb_add(b, "\\t");
			break;
		case '\r':
			sb_add(b, "\\r");
			break;
		default:
			if (*p < 0x20) {
				sb_addf(b, "\\u%04x", *p);
			} else if (*p < 0x80) {
				sb_addn(b, (const char *)p, 1);
			} else {
				int n = utf8_len(p);

				if (n) {
					sb_addn(b, (const char *)p, n);
					p += n - 1;
				} else {
					/* not UTF-8 (a Latin-1 comment): keep it valid JSON */
					sb_addf(b, "\\u%04x", *p);
				}
			}
		}
	}
	sb_add(b, "\"");
}

void sb_sep(struct sbuf *b)
{
	if (b->len && b->s[b->len - 1] != '[' && b->s[b->len - 1] != '{')
		sb_add(b, ",");
}

const char *sb_str(const struct sbuf *b)
{
	return b->s ? b->s : "";
}
