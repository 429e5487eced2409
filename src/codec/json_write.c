/* json_write.c: the JSON writer (containers, escaping, numbers, byte-string fields). */
#include "codec/json.h"
#include "codec/json_impl.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(JSON_DEPTH_LIMIT <= 64, "one bit of a uint64_t per depth");

/* ==================================================================================
 * Writer
 */

void json_writer_init(struct json_writer *w, struct wire_buf *b)
{
	assert(w != NULL);
	assert(b != NULL);
	*w = (struct json_writer){.b = b};
}

static bool json_writer_in_object(const struct json_writer *w)
{
	return w->depth > 0 && (w->objects >> (w->depth - 1) & 1) != 0;
}

/* Before any value: the comma, and the checks that a value may go here. */
static void json_writer_value_prefix(struct json_writer *w)
{
	if (w->depth == 0) {
		return;
	}
	if (json_writer_in_object(w)) {
		assert(w->after_key); /* a member's value needs its key first */
		w->after_key = false;
		return;
	}
	uint64_t bit = (uint64_t)1 << (w->depth - 1);
	if ((w->started & bit) != 0) {
		wire_buf_append_byte(w->b, ',');
	}
	w->started |= bit;
}

static const char json_hex[] = "0123456789abcdef";

/* Appends s[0..len) as the inside of a JSON string (without quotes). */
static int json_append_escaped(struct wire_buf *b, const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* Copy the longest run that needs no escaping in one append. */
		size_t run = i;
		while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
		       s[run] != '\\') {
			run++;
		}
		if (run > i) {
			wire_buf_append(b, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t n = json_utf8_seq(s + i, len - i);
			if (n == 0) {
				wire_buf_append(b, "\\ufffd", 6);
				i++;
			} else {
				wire_buf_append(b, s + i, n);
				i += n;
			}
			continue;
		}
		char esc[7] = {'\\', 0};
		size_t esc_len = 2;
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			assert(c < 0x20);
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = json_hex[c >> 4];
			esc[5] = json_hex[c & 15];
			esc_len = 6;
			break;
		}
		wire_buf_append(b, esc, esc_len);
		i++;
	}
	return b->err;
}

static int json_append_string(struct wire_buf *b, const void *data, size_t len)
{
	wire_buf_append_byte(b, '"');
	json_append_escaped(b, data, len);
	return wire_buf_append_byte(b, '"');
}

static int json_writer_open(struct json_writer *w, bool object)
{
	json_writer_value_prefix(w);
	assert(w->depth < JSON_DEPTH_LIMIT);
	uint64_t bit = (uint64_t)1 << w->depth;
	w->depth++;
	if (object) {
		w->objects |= bit;
	} else {
		w->objects &= ~bit;
	}
	w->started &= ~bit;
	return wire_buf_append_byte(w->b, object ? '{' : '[');
}

static int json_writer_close(struct json_writer *w, bool object)
{
	assert(w->depth > 0);
	assert(json_writer_in_object(w) == object);
	assert(!w->after_key); /* a key without its value */
	w->depth--;
	return wire_buf_append_byte(w->b, object ? '}' : ']');
}

int json_write_object_begin(struct json_writer *w)
{
	return json_writer_open(w, true);
}

int json_write_object_end(struct json_writer *w)
{
	return json_writer_close(w, true);
}

int json_write_array_begin(struct json_writer *w)
{
	return json_writer_open(w, false);
}

int json_write_array_end(struct json_writer *w)
{
	return json_writer_close(w, false);
}

int json_write_key(struct json_writer *w, const char *key)
{
	assert(key != NULL);
	assert(json_writer_in_object(w)); /* keys only inside objects */
	assert(!w->after_key);            /* two keys in a row */
	uint64_t bit = (uint64_t)1 << (w->depth - 1);
	if ((w->started & bit) != 0) {
		wire_buf_append_byte(w->b, ',');
	}
	w->started |= bit;
	w->after_key = true;
	json_append_string(w->b, key, strlen(key));
	return wire_buf_append_byte(w->b, ':');
}

int json_write_string(struct json_writer *w, const void *data, size_t len)
{
	assert(data != NULL || len == 0);
	json_writer_value_prefix(w);
	return json_append_string(w->b, data == NULL ? "" : data, len);
}

int json_write_cstr(struct json_writer *w, const char *s)
{
	assert(s != NULL);
	return json_write_string(w, s, strlen(s));
}

int json_write_int(struct json_writer *w, int64_t v)
{
	json_writer_value_prefix(w);
	return wire_buf_append_i64(w->b, v);
}

int json_write_uint(struct json_writer *w, uint64_t v)
{
	json_writer_value_prefix(w);
	return wire_buf_append_u64(w->b, v);
}

int json_write_double(struct json_writer *w, double v)
{
	json_writer_value_prefix(w);
	if (!isfinite(v)) {
		return wire_buf_append(w->b, "null", 4);
	}
	char text[32];
	/* The shortest of %.15g, %.16g, %.17g that reads back the same value. */
	for (int precision = 15; precision <= 17; precision++) {
		snprintf(text, sizeof(text), "%.*g", precision, v);
		if (strtod(text, NULL) == v) {
			break;
		}
	}
	return wire_buf_append_str(w->b, text);
}

int json_write_bool(struct json_writer *w, bool v)
{
	json_writer_value_prefix(w);
	return v ? wire_buf_append(w->b, "true", 4) : wire_buf_append(w->b, "false", 5);
}

int json_write_null(struct json_writer *w)
{
	json_writer_value_prefix(w);
	return wire_buf_append(w->b, "null", 4);
}

int json_write_bytes_field(struct json_writer *w, const char *name, const void *data, size_t len,
                           bool force_base64)
{
	assert(name != NULL);
	assert(data != NULL || len == 0);
	if (!force_base64 && json_utf8_valid(data, len)) {
		json_write_key(w, name);
		return json_write_string(w, data, len);
	}
	char key[128];
	int n = snprintf(key, sizeof(key), "%s_base64", name);
	assert(n > 0);
	assert((size_t)n < sizeof(key));
	json_write_key(w, key);
	json_writer_value_prefix(w);
	wire_buf_append_byte(w->b, '"');
	json_base64_encode(w->b, data == NULL ? "" : data, len);
	return wire_buf_append_byte(w->b, '"');
}

bool json_writer_done(const struct json_writer *w)
{
	return w->depth == 0 && !w->after_key;
}
