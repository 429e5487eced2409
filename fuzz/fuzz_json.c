/* fuzz_json.c: libFuzzer target for the JSON reader, the writer's fixpoint, and base64 decoding. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes a parsed value back out (keys up to their first NUL). */
static void write_value(struct json_writer *w, const struct json_value *v)
{
	int64_t i64 = 0;
	double d = 0;
	switch (v->type) {
	case JSON_NULL:
		json_write_null(w);
		break;
	case JSON_BOOL:
		json_write_bool(w, v->boolean);
		break;
	case JSON_STRING:
		json_write_string(w, v->str, v->len);
		break;
	case JSON_NUMBER:
		if (json_value_int64(v, &i64) == 0) {
			json_write_int(w, i64);
		} else {
			int rc = json_value_double(v, &d);
			assert(rc == 0);
			json_write_double(w, d);
		}
		break;
	case JSON_ARRAY:
		json_write_array_begin(w);
		for (const struct json_value *c = v->child; c != NULL; c = c->next) {
			write_value(w, c);
		}
		json_write_array_end(w);
		break;
	case JSON_OBJECT:
		json_write_object_begin(w);
		for (const struct json_value *c = v->child; c != NULL; c = c->next) {
			json_write_key(w, c->key);
			write_value(w, c);
		}
		json_write_object_end(w);
		break;
	}
}

static void serialize(const struct json_doc *doc, struct wire_buf *b)
{
	struct json_writer w;
	json_writer_init(&w, b);
	write_value(&w, json_doc_root(doc));
	assert(json_writer_done(&w));
	assert(b->err == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_limits lim;
	json_limits_default(&lim);
	lim.depth_max = 32;
	lim.values_max = 2048;
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	int rc = json_parse((const char *)data, size, &lim, &doc, err);
	if (rc == 0) {
		/* What was read writes out as valid JSON that reads back and writes out the same.
		 */
		struct wire_buf one;
		struct wire_buf two;
		wire_buf_init(&one, 1 << 24);
		wire_buf_init(&two, 1 << 24);
		serialize(doc, &one);
		assert(json_utf8_valid(one.data, one.len));
		struct json_doc *again = NULL;
		rc = json_parse(one.data, one.len, &lim, &again, err);
		assert(rc == 0);
		serialize(again, &two);
		struct json_doc *third = NULL;
		rc = json_parse(two.data, two.len, &lim, &third, err);
		assert(rc == 0);
		struct wire_buf three;
		wire_buf_init(&three, 1 << 24);
		serialize(third, &three);
		assert(two.len == three.len);
		assert(memcmp(two.data, three.data, two.len) == 0);
		json_doc_free(third);
		json_doc_free(again);
		json_doc_free(doc);
		wire_buf_free(&one);
		wire_buf_free(&two);
		wire_buf_free(&three);
	} else {
		assert(rc == WIRE_ESYNTAX || rc == WIRE_EDEPTH || rc == WIRE_ELIMIT);
		assert(err[0] != '\0');
	}
	/* base64: what decodes re-encodes to the canonical form, which decodes the same. */
	unsigned char *out = malloc(size / 4 * 3 + 3);
	assert(out != NULL);
	size_t n = 0;
	if (json_base64_decode((const char *)data, size, out, size / 4 * 3 + 3, &n) == 0) {
		struct wire_buf b;
		wire_buf_init(&b, 1 << 24);
		json_base64_encode(&b, out, n);
		unsigned char *back = malloc(n + 3);
		assert(back != NULL);
		size_t m = 0;
		rc = json_base64_decode(b.data, b.len, back, n + 3, &m);
		assert(rc == 0);
		assert(m == n);
		assert(n == 0 || memcmp(back, out, n) == 0);
		free(back);
		wire_buf_free(&b);
	}
	free(out);
	return 0;
}
