/* resp_glob.c: Redis's glob patterns for KEYS and SCAN MATCH ('*', '?', '[abc]', '[^a]', '[a-z]',
 * '\' escapes), matched over bytes, and the literal prefix that bounds a scan. */
#include "server/resp_impl.h"

#include <string.h>

/*
 * The rules, as Redis applies them: '*' matches any run of bytes (empty included), '?'
 * one byte, '[...]' one byte of the set, '[^...]' one byte not in it; inside brackets
 * 'a-z' is a range (its ends in either order) and '\x' the byte x; outside them '\x' is x.
 * A '[' without its ']' takes the rest of the pattern as its set; a lone '\' at the end
 * is a backslash. Matching here is iterative (the last '*' seen is the only one ever
 * retried), so a pattern of many stars costs O(pattern x key), never exponential.
 */

/* The bracket set starting after '[' at p[0..n): whether byte ch is in it; *used gets
 * the bytes the set spans, its closing ']' included when there is one. */
static bool set_match(const unsigned char *p, size_t n, unsigned char ch, size_t *used)
{
	size_t i = 0;
	bool neg = n > 0 && p[0] == '^';
	if (neg)
		i++;
	bool match = false;
	for (;;) {
		if (i >= n)
			break; /* unterminated: the set ends with the pattern */
		if (p[i] == '\\' && i + 1 < n) {
			match |= p[i + 1] == ch;
			i += 2;
		} else if (p[i] == ']') {
			i++;
			break;
		} else if (i + 2 < n && p[i + 1] == '-') {
			unsigned char lo = p[i], hi = p[i + 2];
			if (lo > hi) {
				unsigned char t = lo;
				lo = hi;
				hi = t;
			}
			match |= ch >= lo && ch <= hi;
			i += 3;
		} else {
			match |= p[i] == ch;
			i++;
		}
	}
	*used = i;
	return neg ? !match : match;
}

/* Whether the one-byte token at p[i..n) (not '*') matches ch; *next gets its end. */
static bool token_match(const unsigned char *p, size_t n, size_t i, unsigned char ch, size_t *next)
{
	size_t used;
	switch (p[i]) {
	case '?':
		*next = i + 1;
		return true;
	case '[': {
		bool m = set_match(p + i + 1, n - i - 1, ch, &used);
		*next = i + 1 + used;
		return m;
	}
	case '\\':
		if (i + 1 < n) {
			*next = i + 2;
			return p[i + 1] == ch;
		}
		*next = i + 1;
		return ch == '\\';
	default:
		*next = i + 1;
		return p[i] == ch;
	}
}

bool resp_glob_match(const void *pattern, size_t plen, const void *str, size_t slen)
{
	const unsigned char *p = pattern, *s = str;
	size_t pi = 0, si = 0;
	size_t star_p = SIZE_MAX, star_s = 0; /* after the last '*', and where it resumes */
	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			while (pi < plen && p[pi] == '*')
				pi++;
			if (pi == plen)
				return true;
			star_p = pi;
			star_s = si;
			continue;
		}
		size_t next;
		if (pi < plen && token_match(p, plen, pi, s[si], &next)) {
			pi = next;
			si++;
			continue;
		}
		if (star_p == SIZE_MAX)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

size_t resp_glob_prefix(const void *pattern, size_t plen, char *out)
{
	const unsigned char *p = pattern;
	size_t n = 0;
	for (size_t i = 0; i < plen; i++) {
		if (p[i] == '*' || p[i] == '?' || p[i] == '[')
			break;
		if (p[i] == '\\' && i + 1 < plen)
			i++;
		out[n++] = (char)p[i];
	}
	return n;
}
