/* json_bytes.c: the JSON byte-string convention: UTF-8 validity, base64, bytes members. */
#include "codec/json.h"
#include "codec/json_impl.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==================================================================================
 * UTF-8 and base64
 */

size_t json_utf8_seq(const unsigned char *s, size_t len)
{
	assert(len >= 1);
	unsigned char c = s[0];
	if (c < 0x80) {
		return 1;
	}
	size_t n;
	unsigned char lo = 0x80;
	unsigned char hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0) {
			lo = 0xa0; /* no overlong forms */
		} else if (c == 0xed) {
			hi = 0x9f; /* no surrogates */
		}
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0) {
			lo = 0x90;
		} else if (c == 0xf4) {
			hi = 0x8f; /* nothing above U+10FFFF */
		}
	} else {
		return 0;
	}
	if (len < n) {
		return 0;
	}
	if (s[1] < lo || s[1] > hi) {
		return 0;
	}
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf) {
			return 0;
		}
	}
	return n;
}

bool json_utf8_valid(const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i = 0;
	while (i < len) {
		size_t n = json_utf8_seq(s + i, len - i);
		if (n == 0) {
			return false;
		}
		i += n;
	}
	return true;
}

static const char json_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int json_base64_encode(struct wire_buf *b, const void *data, size_t len)
{
	const unsigned char *s = data;
	if (len == 0) {
		return b->err; /* nothing to write; b->data may still be NULL */
	}
	int rc = wire_buf_reserve(b, (len + 2) / 3 * 4);
	if (rc != 0) {
		return rc;
	}
	size_t i = 0;
	char *out = b->data + b->len;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*out++ = json_b64_alphabet[v >> 18];
		*out++ = json_b64_alphabet[(v >> 12) & 63];
		*out++ = json_b64_alphabet[(v >> 6) & 63];
		*out++ = json_b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		*out++ = json_b64_alphabet[v >> 18];
		*out++ = json_b64_alphabet[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*out++ = json_b64_alphabet[v >> 18];
		*out++ = json_b64_alphabet[(v >> 12) & 63];
		*out++ = json_b64_alphabet[(v >> 6) & 63];
		*out++ = '=';
	}
	b->len = (size_t)(out - b->data);
	assert(b->len <= b->cap);
	return 0;
}

static int json_b64_value(char c)
{
	const char *at = c == '\0' ? NULL : strchr(json_b64_alphabet, c);
	return at == NULL ? -1 : (int)(at - json_b64_alphabet);
}

int json_base64_decode(const char *in, size_t len, void *out, size_t out_cap, size_t *out_len)
{
	assert(out_len != NULL);
	unsigned char *o = out;
	/* Padding: up to two '=' at the very end of a multiple of four. */
	size_t pad = 0;
	if (len % 4 == 0 && len >= 4) {
		pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
	}
	size_t n = len - pad;
	if (n % 4 == 1) {
		return WIRE_ESYNTAX;
	}
	size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (need > out_cap) {
		return WIRE_ELIMIT;
	}
	size_t w = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = json_b64_value(in[i]);
		if (v < 0) {
			return WIRE_ESYNTAX;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			assert(w < need);
			o[w++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero, so that each byte string has one encoding. */
	if (acc != 0) {
		return WIRE_ESYNTAX;
	}
	assert(w == need);
	*out_len = w;
	return 0;
}

/* ==================================================================================
 * A byte-string member ("name" or "name_base64") of a parsed object
 */

int json_object_get_bytes(const struct json_value *obj, const char *name, void **data, size_t *len)
{
	assert(name != NULL);
	assert(data != NULL);
	assert(len != NULL);
	char key[128];
	int n = snprintf(key, sizeof(key), "%s_base64", name);
	assert(n > 0);
	assert((size_t)n < sizeof(key));
	const struct json_value *text = json_object_get(obj, name);
	const struct json_value *b64 = json_object_get(obj, key);
	if (text == NULL && b64 == NULL) {
		return WIRE_ENOTFOUND;
	}
	if (text != NULL && b64 != NULL) {
		return WIRE_EINVAL;
	}
	const struct json_value *v = text != NULL ? text : b64;
	if (v->type != JSON_STRING) {
		return WIRE_EINVAL;
	}
	size_t cap = text != NULL ? v->len : (v->len / 4 + 1) * 3;
	char *buf = malloc(cap == 0 ? 1 : cap);
	if (buf == NULL) {
		return WIRE_ENOMEM;
	}
	if (text != NULL) {
		if (v->len > 0) {
			memcpy(buf, v->str, v->len);
		}
		*len = v->len;
	} else if (json_base64_decode(v->str, v->len, buf, cap, len) != 0) {
		free(buf);
		return WIRE_EINVAL;
	}
	*data = buf;
	return 0;
}
