/* http_query.c: percent-decoding and -encoding, and query strings (name=value&...). */
#include "codec/http.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==================================================================================
 * Percent-decoding and query strings
 */

static int http_hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int http_percent_decode(const char *in, size_t len, bool plus_is_space, char *out, size_t out_cap,
                        size_t *out_len)
{
	assert(in != NULL || len == 0);
	assert(out_len != NULL);
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '%') {
			if (len - i < 3) {
				return WIRE_ESYNTAX;
			}
			int hi = http_hex_value(in[i + 1]);
			int lo = http_hex_value(in[i + 2]);
			if (hi < 0 || lo < 0) {
				return WIRE_ESYNTAX;
			}
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (w == out_cap) {
			return WIRE_ELIMIT;
		}
		out[w++] = c;
	}
	*out_len = w;
	return 0;
}

int http_percent_encode(struct wire_buf *b, const void *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *in = s;
	int rc = wire_buf_reserve(b, len * 3);
	if (rc != 0) {
		return rc;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		             c == '~' || (c == '/' && keep_slash);
		if (plain) {
			b->data[b->len++] = (char)c;
		} else {
			b->data[b->len++] = '%';
			b->data[b->len++] = hex[c >> 4];
			b->data[b->len++] = hex[c & 15];
		}
	}
	return 0;
}

bool http_query_next(const char *query, size_t len, size_t *pos, struct http_query_param *param)
{
	assert(pos != NULL);
	assert(param != NULL);
	while (*pos < len) {
		size_t start = *pos;
		const char *amp = memchr(query + start, '&', len - start);
		size_t end = amp == NULL ? len : (size_t)(amp - query);
		*pos = end + (amp != NULL ? 1 : 0);
		if (end == start) {
			continue;
		}
		const char *eq = memchr(query + start, '=', end - start);
		if (eq == NULL) {
			*param = (struct http_query_param){
			    .name = query + start, .name_len = end - start, .value = query + end};
		} else {
			size_t at = (size_t)(eq - query);
			*param = (struct http_query_param){
			    .name = query + start,
			    .name_len = at - start,
			    .value = eq + 1,
			    .value_len = end - at - 1,
			};
		}
		return true;
	}
	return false;
}

int http_query_get(const char *query, size_t len, const char *name, char *out, size_t out_cap,
                   size_t *out_len)
{
	assert(name != NULL);
	size_t pos = 0;
	struct http_query_param param;
	size_t name_len = strlen(name);
	while (http_query_next(query, len, &pos, &param)) {
		if (param.name_len == name_len && memcmp(param.name, name, name_len) == 0) {
			return http_percent_decode(param.value, param.value_len, true, out, out_cap,
			                           out_len);
		}
	}
	return WIRE_ENOTFOUND;
}
