/* json_read.c: the bounded JSON reader (a document in one allocation) and its accessors. */
#include "codec/json.h"
#include "codec/json_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==================================================================================
 * Reader
 */

void json_limits_default(struct json_limits *lim)
{
	assert(lim != NULL);
	*lim = (struct json_limits){
	    .depth_max = 16,
	    .values_max = 4096,
	    .input_bytes_max = (size_t)16 << 20,
	};
}

struct json_doc {
	size_t bytes;              /* of the allocation, this header included */
	struct json_value *values; /* values_cap nodes, in the same allocation */
	size_t values_cap;
	size_t values_used;
	char *strings; /* unescaped strings, each NUL-terminated; never longer than the text */
	size_t strings_cap;
	size_t strings_used;
};

struct json_cursor {
	const unsigned char *s;
	size_t len;
	size_t pos;
	struct json_doc *doc;
	const struct json_limits *lim;
	char *errmsg;
};

static int json_fail(struct json_cursor *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int json_fail(struct json_cursor *c, int err, const char *fmt, ...)
{
	if (c->errmsg != NULL) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(c->errmsg, WIRE_ERRMSG_SIZE, fmt, ap);
		va_end(ap);
		assert(n >= 0);
		if ((size_t)n < WIRE_ERRMSG_SIZE) {
			snprintf(c->errmsg + n, WIRE_ERRMSG_SIZE - (size_t)n, " at offset %zu",
			         c->pos);
		}
	}
	return err;
}

static void json_skip_space(struct json_cursor *c)
{
	while (c->pos < c->len) {
		unsigned char ch = c->s[c->pos];
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			return;
		}
		c->pos++;
	}
}

static int json_new_value(struct json_cursor *c, enum json_type type, struct json_value **out)
{
	struct json_doc *doc = c->doc;
	if (doc->values_used == doc->values_cap) {
		return json_fail(c, WIRE_ELIMIT, "more than %zu values", doc->values_cap);
	}
	struct json_value *v = &doc->values[doc->values_used++];
	*v = (struct json_value){.type = type};
	*out = v;
	return 0;
}

static int json_hex4(struct json_cursor *c, uint32_t *out)
{
	if (c->len - c->pos < 4) {
		return json_fail(c, WIRE_ESYNTAX, "truncated \\u escape");
	}
	uint32_t v = 0;
	for (size_t i = 0; i < 4; i++) {
		unsigned char ch = c->s[c->pos + i];
		uint32_t d;
		if (ch >= '0' && ch <= '9') {
			d = ch - '0';
		} else if (ch >= 'a' && ch <= 'f') {
			d = ch - 'a' + 10u;
		} else if (ch >= 'A' && ch <= 'F') {
			d = ch - 'A' + 10u;
		} else {
			return json_fail(c, WIRE_ESYNTAX, "bad hex digit in \\u escape");
		}
		v = v << 4 | d;
	}
	c->pos += 4;
	*out = v;
	return 0;
}

static size_t json_put_utf8(char *out, uint32_t cp)
{
	assert(cp <= 0x10ffff);
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at c->pos (its opening quote), unescaped into the document's string area. */
static int json_parse_string(struct json_cursor *c, const char **str, size_t *len)
{
	assert(c->s[c->pos] == '"');
	c->pos++;
	struct json_doc *doc = c->doc;
	char *out = doc->strings + doc->strings_used;
	size_t w = 0;
	for (;;) {
		if (c->pos >= c->len) {
			return json_fail(c, WIRE_ESYNTAX, "unterminated string");
		}
		/* An unescaped string is never longer than its text, quotes included: the
		 * area (one byte per input byte) cannot overflow. */
		assert(doc->strings_used + w < doc->strings_cap);
		/* A run of plain ASCII (most of any string) is copied in one go. */
		size_t run = c->pos;
		while (run < c->len && c->s[run] >= 0x20 && c->s[run] < 0x80 && c->s[run] != '"' &&
		       c->s[run] != '\\') {
			run++;
		}
		if (run > c->pos) {
			memcpy(out + w, c->s + c->pos, run - c->pos);
			w += run - c->pos;
			c->pos = run;
			continue;
		}
		unsigned char ch = c->s[c->pos];
		if (ch == '"') {
			c->pos++;
			break;
		}
		if (ch < 0x20) {
			return json_fail(c, WIRE_ESYNTAX, "control character in string");
		}
		if (ch >= 0x80) {
			size_t n = json_utf8_seq(c->s + c->pos, c->len - c->pos);
			if (n == 0 && c->lim->accept_invalid_utf8) {
				n = 1;
			} else if (n == 0) {
				return json_fail(c, WIRE_ESYNTAX, "invalid UTF-8 in string");
			}
			memcpy(out + w, c->s + c->pos, n);
			w += n;
			c->pos += n;
			continue;
		}
		if (ch != '\\') {
			out[w++] = (char)ch;
			c->pos++;
			continue;
		}
		c->pos++;
		if (c->pos >= c->len) {
			return json_fail(c, WIRE_ESYNTAX, "unterminated escape");
		}
		ch = c->s[c->pos++];
		switch (ch) {
		case '"':
			out[w++] = '"';
			break;
		case '\\':
			out[w++] = '\\';
			break;
		case '/':
			out[w++] = '/';
			break;
		case 'b':
			out[w++] = '\b';
			break;
		case 'f':
			out[w++] = '\f';
			break;
		case 'n':
			out[w++] = '\n';
			break;
		case 'r':
			out[w++] = '\r';
			break;
		case 't':
			out[w++] = '\t';
			break;
		case 'u': {
			uint32_t cp = 0;
			int rc = json_hex4(c, &cp);
			if (rc != 0) {
				return rc;
			}
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				return json_fail(c, WIRE_ESYNTAX, "lone low surrogate");
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (c->len - c->pos < 2 || c->s[c->pos] != '\\' ||
				    c->s[c->pos + 1] != 'u') {
					return json_fail(c, WIRE_ESYNTAX, "lone high surrogate");
				}
				c->pos += 2;
				uint32_t low = 0;
				rc = json_hex4(c, &low);
				if (rc != 0) {
					return rc;
				}
				if (low < 0xdc00 || low > 0xdfff) {
					return json_fail(c, WIRE_ESYNTAX, "lone high surrogate");
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			}
			w += json_put_utf8(out + w, cp);
			break;
		}
		default:
			return json_fail(c, WIRE_ESYNTAX, "invalid escape");
		}
	}
	assert(doc->strings_used + w < doc->strings_cap);
	out[w] = '\0';
	doc->strings_used += w + 1;
	*str = out;
	*len = w;
	return 0;
}

static bool json_is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

/* A number (RFC 8259 section 6): -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int json_parse_number(struct json_cursor *c, struct json_value *v)
{
	size_t start = c->pos;
	const unsigned char *s = c->s;
	if (c->pos < c->len && s[c->pos] == '-') {
		c->pos++;
	}
	if (c->pos >= c->len || !json_is_digit(s[c->pos])) {
		return json_fail(c, WIRE_ESYNTAX, "malformed number");
	}
	if (s[c->pos] == '0') {
		c->pos++;
		if (c->pos < c->len && json_is_digit(s[c->pos])) {
			return json_fail(c, WIRE_ESYNTAX,
			                 "leading zeros are not allowed in numbers");
		}
	} else {
		while (c->pos < c->len && json_is_digit(s[c->pos])) {
			c->pos++;
		}
	}
	if (c->pos < c->len && s[c->pos] == '.') {
		c->pos++;
		if (c->pos >= c->len || !json_is_digit(s[c->pos])) {
			return json_fail(c, WIRE_ESYNTAX, "malformed number");
		}
		while (c->pos < c->len && json_is_digit(s[c->pos])) {
			c->pos++;
		}
	}
	if (c->pos < c->len && (s[c->pos] == 'e' || s[c->pos] == 'E')) {
		c->pos++;
		if (c->pos < c->len && (s[c->pos] == '+' || s[c->pos] == '-')) {
			c->pos++;
		}
		if (c->pos >= c->len || !json_is_digit(s[c->pos])) {
			return json_fail(c, WIRE_ESYNTAX, "malformed number");
		}
		while (c->pos < c->len && json_is_digit(s[c->pos])) {
			c->pos++;
		}
	}
	/* Keep the text in the string area, NUL-terminated for strtod; it is shorter than
	 * the input it came from, and the area has a byte per input byte plus one. */
	struct json_doc *doc = c->doc;
	size_t n = c->pos - start;
	assert(doc->strings_used + n < doc->strings_cap);
	char *text = doc->strings + doc->strings_used;
	memcpy(text, s + start, n);
	text[n] = '\0';
	doc->strings_used += n + 1;
	v->str = text;
	v->len = n;
	return 0;
}

static bool json_literal(struct json_cursor *c, const char *word)
{
	size_t n = strlen(word);
	if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0) {
		return false;
	}
	c->pos += n;
	return true;
}

static int json_parse_value(struct json_cursor *c, uint32_t depth, struct json_value **out);

/* An array or object at c->pos (its opening bracket). */
static int json_parse_container(struct json_cursor *c, uint32_t depth, struct json_value *v)
{
	bool object = v->type == JSON_OBJECT;
	char close = object ? '}' : ']';
	if (depth >= c->lim->depth_max) {
		return json_fail(c, WIRE_EDEPTH, "nested deeper than %u", c->lim->depth_max);
	}
	c->pos++;
	json_skip_space(c);
	if (c->pos < c->len && c->s[c->pos] == close) {
		c->pos++;
		return 0;
	}
	struct json_value *tail = NULL;
	for (;;) {
		const char *key = NULL;
		size_t key_len = 0;
		int rc;
		if (object) {
			json_skip_space(c);
			if (c->pos >= c->len || c->s[c->pos] != '"') {
				return json_fail(c, WIRE_ESYNTAX, "expected a member name");
			}
			rc = json_parse_string(c, &key, &key_len);
			if (rc != 0) {
				return rc;
			}
			json_skip_space(c);
			if (c->pos >= c->len || c->s[c->pos] != ':') {
				return json_fail(c, WIRE_ESYNTAX, "expected ':'");
			}
			c->pos++;
		}
		struct json_value *item = NULL;
		rc = json_parse_value(c, depth + 1, &item);
		if (rc != 0) {
			return rc;
		}
		item->key = key;
		item->key_len = key_len;
		if (tail == NULL) {
			v->child = item;
		} else {
			tail->next = item;
		}
		tail = item;
		v->count++;
		json_skip_space(c);
		if (c->pos >= c->len) {
			return json_fail(c, WIRE_ESYNTAX, "unterminated %s",
			                 object ? "object" : "array");
		}
		if (c->s[c->pos] == ',') {
			c->pos++;
			continue;
		}
		if (c->s[c->pos] == close) {
			c->pos++;
			return 0;
		}
		return json_fail(c, WIRE_ESYNTAX, "expected ',' or '%c'", close);
	}
}

static int json_parse_value(struct json_cursor *c, uint32_t depth, struct json_value **out)
{
	json_skip_space(c);
	if (c->pos >= c->len) {
		return json_fail(c, WIRE_ESYNTAX, "unexpected end of input");
	}
	unsigned char ch = c->s[c->pos];
	struct json_value *v = NULL;
	int rc;
	switch (ch) {
	case '{':
	case '[':
		rc = json_new_value(c, ch == '{' ? JSON_OBJECT : JSON_ARRAY, &v);
		if (rc == 0) {
			rc = json_parse_container(c, depth, v);
		}
		break;
	case '"':
		rc = json_new_value(c, JSON_STRING, &v);
		if (rc == 0) {
			rc = json_parse_string(c, &v->str, &v->len);
		}
		break;
	case 't':
	case 'f':
	case 'n':
		rc = json_new_value(c, ch == 'n' ? JSON_NULL : JSON_BOOL, &v);
		if (rc != 0) {
			break;
		}
		if (json_literal(c, "true")) {
			v->boolean = true;
		} else if (!json_literal(c, "false") && !json_literal(c, "null")) {
			rc = json_fail(c, WIRE_ESYNTAX, "unknown literal");
		}
		break;
	default:
		if (ch != '-' && !json_is_digit(ch)) {
			rc = json_fail(c, WIRE_ESYNTAX, "unexpected character 0x%02x", ch);
			break;
		}
		rc = json_new_value(c, JSON_NUMBER, &v);
		if (rc == 0) {
			rc = json_parse_number(c, v);
		}
		break;
	}
	if (rc != 0) {
		return rc;
	}
	*out = v;
	return 0;
}

int json_parse(const char *text, size_t len, const struct json_limits *lim, struct json_doc **out,
               char errmsg[WIRE_ERRMSG_SIZE])
{
	assert(out != NULL);
	struct json_doc *doc = NULL;
	int rc = json_parse_into(text, len, lim, &doc, errmsg);
	if (rc != 0) {
		free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

int json_parse_into(const char *text, size_t len, const struct json_limits *lim,
                    struct json_doc **doc_io, char errmsg[WIRE_ERRMSG_SIZE])
{
	assert(text != NULL || len == 0);
	assert(doc_io != NULL);
	struct json_limits l;
	if (lim == NULL) {
		json_limits_default(&l);
	} else {
		l = *lim;
	}
	assert(l.depth_max >= 1);
	assert(l.depth_max <= JSON_DEPTH_LIMIT);
	assert(l.values_max >= 1);
	struct json_cursor c = {
	    .s = (const unsigned char *)text, .len = len, .lim = &l, .errmsg = errmsg};
	if (errmsg != NULL) {
		errmsg[0] = '\0';
	}
	if (len > l.input_bytes_max) {
		return json_fail(&c, WIRE_ELIMIT, "document longer than %zu bytes",
		                 l.input_bytes_max);
	}
	/* Every value takes at least one byte of text, and every unescaped string or number
	 * (plus its NUL) at most as many bytes as its text plus one. */
	size_t values_cap = len < l.values_max ? (len == 0 ? 1 : len) : l.values_max;
	size_t strings_cap = len + 1;
	size_t header = sizeof(struct json_doc);
	size_t values_bytes = values_cap * sizeof(struct json_value);
	size_t need = header + values_bytes + strings_cap;
	struct json_doc *doc = *doc_io;
	if (doc == NULL || doc->bytes < need) {
		/* Grown documents at least double, so a run of lines reallocates rarely. */
		size_t bytes = need;
		if (doc != NULL && doc->bytes <= SIZE_MAX / 2 && doc->bytes * 2 > need) {
			bytes = doc->bytes * 2;
		}
		free(doc);
		*doc_io = NULL;
		doc = malloc(bytes);
		if (doc == NULL) {
			return json_fail(&c, WIRE_ENOMEM, "out of memory");
		}
		doc->bytes = bytes;
		*doc_io = doc;
	}
	*doc = (struct json_doc){
	    .bytes = doc->bytes,
	    .values = (struct json_value *)(void *)(doc + 1),
	    .values_cap = values_cap,
	    .strings = (char *)(doc + 1) + values_bytes,
	    .strings_cap = strings_cap,
	};
	c.doc = doc;
	struct json_value *root = NULL;
	int rc = json_parse_value(&c, 0, &root);
	if (rc == 0) {
		json_skip_space(&c);
		if (c.pos != c.len) {
			rc = json_fail(&c, WIRE_ESYNTAX, "trailing bytes after the document");
		}
	}
	if (rc != 0) {
		doc->values_used = 0;
		return rc;
	}
	assert(root == &doc->values[0]);
	return 0;
}

void json_doc_free(struct json_doc *doc)
{
	free(doc);
}

const struct json_value *json_doc_root(const struct json_doc *doc)
{
	assert(doc != NULL);
	assert(doc->values_used >= 1);
	return &doc->values[0];
}

const struct json_value *json_object_get(const struct json_value *obj, const char *key)
{
	assert(key != NULL);
	if (obj == NULL || obj->type != JSON_OBJECT) {
		return NULL;
	}
	size_t n = strlen(key);
	for (const struct json_value *m = obj->child; m != NULL; m = m->next) {
		if (m->key_len == n && memcmp(m->key, key, n) == 0) {
			return m;
		}
	}
	return NULL;
}

/* The magnitude of an integer's digits text[0..len), exactly: 0, or WIRE_EINVAL for an
 * empty text, any non-digit (a fraction or an exponent) or more than 64 bits. */
static int json_digits_u64(const char *text, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20) {
		return WIRE_EINVAL;
	}
	uint64_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (!json_is_digit((unsigned char)text[i])) {
			return WIRE_EINVAL;
		}
		uint64_t d = (uint64_t)(text[i] - '0');
		if (n > (UINT64_MAX - d) / 10) {
			return WIRE_EINVAL;
		}
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

int json_value_uint64(const struct json_value *v, uint64_t *out)
{
	if (v == NULL || v->type != JSON_NUMBER) {
		return WIRE_EINVAL;
	}
	return json_digits_u64(v->str, v->len, out);
}

int json_value_int64(const struct json_value *v, int64_t *out)
{
	if (v == NULL || v->type != JSON_NUMBER) {
		return WIRE_EINVAL;
	}
	bool negative = v->str[0] == '-';
	uint64_t n = 0;
	if (json_digits_u64(v->str + negative, v->len - negative, &n) != 0) {
		return WIRE_EINVAL;
	}
	if (negative) {
		if (n > (uint64_t)INT64_MAX + 1) {
			return WIRE_EINVAL;
		}
		*out = n == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n;
	} else {
		if (n > (uint64_t)INT64_MAX) {
			return WIRE_EINVAL;
		}
		*out = (int64_t)n;
	}
	return 0;
}

int json_value_double(const struct json_value *v, double *out)
{
	if (v == NULL || v->type != JSON_NUMBER) {
		return WIRE_EINVAL;
	}
	*out = strtod(v->str, NULL);
	return 0;
}
