/* test_json.c: the JSON writer (escaping, the bytes convention, base64) and reader (limits,
 * malformed input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/json.h"

#define S(lit) lit, sizeof(lit) - 1

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void assert_buf(const struct wire_buf *b, const char *want)
{
	assert_non_null(want);
	if (b->len != strlen(want) || (b->len > 0 && memcmp(b->data, want, b->len) != 0)) {
		fprintf(stderr, "got:  ");
		fwrite(b->data, 1, b->len, stderr);
		fprintf(stderr, "\nwant: %s\n", want);
	}
	assert_int_equal(b->len, strlen(want));
	if (b->len > 0) {
		assert_memory_equal(b->data, want, b->len);
	}
}

static void test_writer(void **state)
{
	(void)state;
	struct wire_buf b;
	wire_buf_init(&b, 4096);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "cluster_id");
	json_write_cstr(&w, "c1");
	json_write_key(&w, "term");
	json_write_uint(&w, UINT64_MAX);
	json_write_key(&w, "delta");
	json_write_int(&w, INT64_MIN);
	json_write_key(&w, "ok");
	json_write_bool(&w, true);
	json_write_key(&w, "no");
	json_write_bool(&w, false);
	json_write_key(&w, "none");
	json_write_null(&w);
	json_write_key(&w, "ratio");
	json_write_double(&w, 0.1);
	json_write_key(&w, "nan");
	json_write_double(&w, 0.0 / 0.0);
	json_write_key(&w, "nodes");
	json_write_array_begin(&w);
	json_write_int(&w, 1);
	json_write_object_begin(&w);
	json_write_object_end(&w);
	json_write_array_begin(&w);
	json_write_array_end(&w);
	json_write_cstr(&w, "x");
	json_write_array_end(&w);
	json_write_key(&w, "k\"ey");
	json_write_cstr(&w, "");
	assert_false(json_writer_done(&w));
	assert_int_equal(json_write_object_end(&w), 0);
	assert_true(json_writer_done(&w));
	assert_buf(&b, "{\"cluster_id\":\"c1\",\"term\":18446744073709551615,"
	               "\"delta\":-9223372036854775808,\"ok\":true,\"no\":false,\"none\":null,"
	               "\"ratio\":0.1,\"nan\":null,\"nodes\":[1,{},[],\"x\"],\"k\\\"ey\":\"\"}");
	wire_buf_free(&b);
}

static void test_escaping(void **state)
{
	(void)state;
	struct wire_buf b;
	wire_buf_init(&b, 4096);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_string(&w,
	                  S("q\"b\\s/\n\r\t\b\f\x01\x1f\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
	assert_buf(&b, "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f "
	               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");

	/* Invalid UTF-8: each bad byte becomes U+FFFD, and the output stays valid. */
	static const char *const bad[] = {
	    "\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wire_buf_reset(&b);
		json_writer_init(&w, &b);
		json_write_string(&w, bad[i], strlen(bad[i]));
		assert_true(json_utf8_valid(b.data, b.len));
		assert_non_null(memmem(b.data, b.len, "\\ufffd", 6));
		assert_false(json_utf8_valid(bad[i], strlen(bad[i])));
		struct json_doc *doc = NULL;
		assert_int_equal(json_parse(b.data, b.len, NULL, &doc, NULL), 0);
		json_doc_free(doc);
	}

	/* Round trip: every valid string comes back byte for byte. */
	char text[128];
	size_t n = 0;
	for (int c = 0; c < 0x80; c++) {
		text[n++] = (char)c; /* NUL and every control character included */
	}
	wire_buf_reset(&b);
	json_writer_init(&w, &b);
	json_write_string(&w, text, n);
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	assert_int_equal(json_parse(b.data, b.len, NULL, &doc, err), 0);
	const struct json_value *root = json_doc_root(doc);
	assert_int_equal(root->type, JSON_STRING);
	assert_int_equal(root->len, n);
	assert_memory_equal(root->str, text, n);
	json_doc_free(doc);
	wire_buf_free(&b);
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const vectors[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct wire_buf b;
		wire_buf_init(&b, 64);
		json_base64_encode(&b, vectors[i][0], strlen(vectors[i][0]));
		assert_buf(&b, vectors[i][1]);
		char out[16];
		size_t n = 0;
		assert_int_equal(json_base64_decode(b.data, b.len, out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(vectors[i][0]));
		assert_memory_equal(out, vectors[i][0], n);
		wire_buf_free(&b);
	}
	char out[16];
	size_t n = 0;
	assert_int_equal(json_base64_decode(S("Zm9vYg"), out, sizeof(out), &n), 0); /* unpadded */
	assert_int_equal(n, 4);
	assert_int_equal(json_base64_decode(S("Zm9vY"), out, sizeof(out), &n), WIRE_ESYNTAX);
	assert_int_equal(json_base64_decode(S("Zm9v!A=="), out, sizeof(out), &n), WIRE_ESYNTAX);
	assert_int_equal(json_base64_decode(S("Zm 9v"), out, sizeof(out), &n), WIRE_ESYNTAX);
	assert_int_equal(json_base64_decode(S("Zh=="), out, sizeof(out), &n),
	                 WIRE_ESYNTAX); /* bits */
	assert_int_equal(json_base64_decode(S("===="), out, sizeof(out), &n), WIRE_ESYNTAX);
	assert_int_equal(json_base64_decode(S("Zm9vYmFy"), out, 5, &n), WIRE_ELIMIT);
}

/* Binary keys and values survive a write and a read, whatever their bytes. */
static void test_bytes_round_trip(void **state)
{
	(void)state;
	uint64_t seed = 5;
	int base64_seen = 0;
	for (int iter = 0; iter < 2000; iter++) {
		unsigned char data[64];
		size_t len = rng_next(&seed) % sizeof(data);
		bool ascii = rng_next(&seed) % 2 == 0;
		for (size_t i = 0; i < len; i++) {
			uint64_t r = rng_next(&seed);
			data[i] = ascii ? (unsigned char)(r % 0x80) : (unsigned char)r;
		}
		bool force = rng_next(&seed) % 4 == 0;
		struct wire_buf b;
		wire_buf_init(&b, 4096);
		struct json_writer w;
		json_writer_init(&w, &b);
		json_write_object_begin(&w);
		json_write_bytes_field(&w, "value", data, len, force);
		json_write_object_end(&w);
		assert_int_equal(b.err, 0);
		bool as_base64 = memmem(b.data, b.len, "value_base64", 12) != NULL;
		assert_true(as_base64 == (force || !json_utf8_valid(data, len)));
		base64_seen += as_base64;
		struct json_doc *doc = NULL;
		assert_int_equal(json_parse(b.data, b.len, NULL, &doc, NULL), 0);
		void *back = NULL;
		size_t back_len = 0;
		assert_int_equal(
		    json_object_get_bytes(json_doc_root(doc), "value", &back, &back_len), 0);
		assert_int_equal(back_len, len);
		assert_memory_equal(back, data, len);
		free(back);
		json_doc_free(doc);
		wire_buf_free(&b);
	}
	assert_true(base64_seen > 500);

	struct json_doc *doc = NULL;
	void *data = NULL;
	size_t len = 0;
	assert_int_equal(json_parse(S("{\"value\":\"a\",\"value_base64\":\"YQ==\",\"n\":1,"
	                              "\"bad_base64\":\"!!\"}"),
	                            NULL, &doc, NULL),
	                 0);
	const struct json_value *root = json_doc_root(doc);
	assert_int_equal(json_object_get_bytes(root, "value", &data, &len), WIRE_EINVAL);
	assert_int_equal(json_object_get_bytes(root, "n", &data, &len), WIRE_EINVAL);
	assert_int_equal(json_object_get_bytes(root, "bad", &data, &len), WIRE_EINVAL);
	assert_int_equal(json_object_get_bytes(root, "missing", &data, &len), WIRE_ENOTFOUND);
	json_doc_free(doc);
}

static void test_reader(void **state)
{
	(void)state;
	const char text[] =
	    " {\"key\":\"k\\u00e9\\ud83d\\ude00\\u0000z\", \"rev\": 9007199254740993,"
	    " \"neg\": -12, \"big\": 18446744073709551615, \"frac\": 1.5e2,"
	    " \"t\": true, \"f\": false, \"n\": null, \"arr\": [1, [\"x\"], {}],"
	    " \"key\": \"dup\"} \n";
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	assert_int_equal(json_parse(text, sizeof(text) - 1, NULL, &doc, err), 0);
	const struct json_value *root = json_doc_root(doc);
	assert_int_equal(root->type, JSON_OBJECT);
	assert_int_equal(root->count, 10);
	const struct json_value *key = json_object_get(root, "key");
	assert_non_null(key);
	assert_int_equal(key->type, JSON_STRING);
	assert_int_equal(key->len, 1 + 2 + 4 + 1 + 1);
	assert_memory_equal(key->str, "k\xc3\xa9\xf0\x9f\x98\x80\0z", key->len);
	int64_t i64 = 0;
	uint64_t u64 = 0;
	double d = 0;
	assert_int_equal(json_value_int64(json_object_get(root, "rev"), &i64), 0);
	assert_int_equal(i64, 9007199254740993LL);
	assert_int_equal(json_value_int64(json_object_get(root, "neg"), &i64), 0);
	assert_int_equal(i64, -12);
	assert_int_equal(json_value_uint64(json_object_get(root, "neg"), &u64), WIRE_EINVAL);
	assert_int_equal(json_value_uint64(json_object_get(root, "big"), &u64), 0);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(json_value_int64(json_object_get(root, "big"), &i64), WIRE_EINVAL);
	assert_int_equal(json_value_int64(json_object_get(root, "frac"), &i64), WIRE_EINVAL);
	assert_int_equal(json_value_double(json_object_get(root, "frac"), &d), 0);
	assert_true(d == 150.0);
	assert_int_equal(json_value_int64(json_object_get(root, "t"), &i64), WIRE_EINVAL);
	assert_true(json_object_get(root, "t")->boolean);
	assert_int_equal(json_object_get(root, "f")->type, JSON_BOOL);
	assert_false(json_object_get(root, "f")->boolean);
	assert_int_equal(json_object_get(root, "n")->type, JSON_NULL);
	const struct json_value *arr = json_object_get(root, "arr");
	assert_int_equal(arr->type, JSON_ARRAY);
	assert_int_equal(arr->count, 3);
	assert_int_equal(arr->child->next->type, JSON_ARRAY);
	assert_int_equal(arr->child->next->child->type, JSON_STRING);
	assert_int_equal(arr->child->next->next->type, JSON_OBJECT);
	assert_null(arr->child->next->next->next);
	assert_null(json_object_get(root, "absent"));
	assert_null(json_object_get(arr, "key"));
	json_doc_free(doc);

	/* Scalars at the top, and the empty containers. */
	static const char *const fine[] = {"0",    "-0", "1e5", "-1.25E-3", "\"\"",     "true",
	                                   "null", "[]", "{}",  " [ ] ",    "[[],[[]]]"};
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		assert_int_equal(json_parse(fine[i], strlen(fine[i]), NULL, &doc, err), 0);
		json_doc_free(doc);
	}
}

static void test_reader_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    " ",
	    "{",
	    "}",
	    "[",
	    "[1,]",
	    "[,1]",
	    "{\"a\"}",
	    "{\"a\" 1}",
	    "{\"a\":1,}",
	    "{a:1}",
	    "{\"a\":1 \"b\":2}",
	    "01",
	    "1.",
	    ".5",
	    "+1",
	    "-",
	    "1e",
	    "1e+",
	    "0x10",
	    "tru",
	    "nul",
	    "falsey",
	    "\"abc",
	    "\"a\\\"",
	    "\"\\x41\"",
	    "\"\\u12\"",
	    "\"\\u12g4\"",
	    "\"\\ud800\"",
	    "\"\\ud800\\u0041\"",
	    "\"\\udc00\"",
	    "\"a\nb\"",
	    "\"\xff\"",
	    "\"\xc3\"",
	    "\"\xed\xa0\x80\"",
	    "{}x",
	    "[1] [2]",
	    "'a'",
	    "NaN",
	    "Infinity",
	    "\"\\ud83d\\ude00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_doc *doc = NULL;
		char err[WIRE_ERRMSG_SIZE] = "";
		int rc = json_parse(bad[i], strlen(bad[i]), NULL, &doc, err);
		if (rc != WIRE_ESYNTAX) {
			fprintf(stderr, "case %zu <%s>: %d\n", i, bad[i], rc);
		}
		assert_int_equal(rc, WIRE_ESYNTAX);
		assert_non_null(strstr(err, "at offset"));
	}
}

/* json_parse_into reuses one document's storage across documents, through failures too. */
static void test_reader_reuse(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "{\"a\":1}",
	    "[\"a much longer document, to make the storage grow\",[1,2,3],{}]",
	    "{\"a\":",
	    "7",
	    "{\"b\":\"x\",\"c\":[true,null]}",
	    "[01]",
	    "\"\"",
	};
	static const int want[] = {0, 0, WIRE_ESYNTAX, 0, 0, WIRE_ESYNTAX, 0};
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			int rc = json_parse_into(lines[i], strlen(lines[i]), NULL, &doc, err);
			assert_int_equal(rc, want[i]);
			if (rc != 0)
				continue;
			assert_non_null(doc);
			const struct json_value *root = json_doc_root(doc);
			if (i == 0) {
				int64_t v = 0;
				assert_int_equal(json_value_int64(json_object_get(root, "a"), &v),
				                 0);
				assert_int_equal(v, 1);
			} else if (i == 1) {
				assert_int_equal(root->type, JSON_ARRAY);
				assert_int_equal(root->count, 3);
				assert_int_equal(root->child->next->count, 3);
			} else if (i == 4) {
				const struct json_value *b = json_object_get(root, "b");
				assert_non_null(b);
				assert_int_equal(b->len, 1);
				assert_int_equal(json_object_get(root, "c")->count, 2);
			} else if (i == 6) {
				assert_int_equal(root->type, JSON_STRING);
				assert_int_equal(root->len, 0);
			}
		}
	}
	json_doc_free(doc);
	/* The message for a leading zero says so. */
	assert_int_equal(json_parse(S("[01]"), NULL, &doc, err), WIRE_ESYNTAX);
	assert_non_null(strstr(err, "leading zeros"));
}

/* accept_invalid_utf8 keeps stray bytes as they are; escapes stay strict. */
static void test_reader_lax_utf8(void **state)
{
	(void)state;
	struct json_limits lim;
	json_limits_default(&lim);
	lim.accept_invalid_utf8 = true;
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	static const char text[] = "[\"\xff\xc3\", \"\xed\xa0\x80\xc3\xa9\"]";
	assert_int_equal(json_parse(text, sizeof(text) - 1, NULL, &doc, err), WIRE_ESYNTAX);
	assert_int_equal(json_parse(text, sizeof(text) - 1, &lim, &doc, err), 0);
	const struct json_value *root = json_doc_root(doc);
	assert_int_equal(root->child->len, 2);
	assert_memory_equal(root->child->str, "\xff\xc3", 2);
	assert_int_equal(root->child->next->len, 5);
	assert_memory_equal(root->child->next->str, "\xed\xa0\x80\xc3\xa9", 5);
	json_doc_free(doc);
	assert_int_equal(json_parse(S("\"\\ud800\""), &lim, &doc, err), WIRE_ESYNTAX);
	assert_int_equal(json_parse(S("\"a\nb\""), &lim, &doc, err), WIRE_ESYNTAX);
}

static void test_reader_limits(void **state)
{
	(void)state;
	struct json_limits lim;
	json_limits_default(&lim);
	char text[200001];
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	/* depth_max nested containers are fine; one more is not. */
	for (int depth = 15; depth <= 17; depth++) {
		for (int i = 0; i < depth; i++) {
			text[i] = '[';
			text[2 * depth - 1 - i] = ']';
		}
		int rc = json_parse(text, (size_t)(2 * depth), &lim, &doc, err);
		if (depth <= 16) {
			assert_int_equal(rc, 0);
			json_doc_free(doc);
		} else {
			assert_int_equal(rc, WIRE_EDEPTH);
		}
	}
	/* Deep input fails fast, without deep recursion. */
	memset(text, '[', sizeof(text));
	assert_int_equal(json_parse(text, sizeof(text), &lim, &doc, err), WIRE_EDEPTH);
	memset(text, '{', sizeof(text));
	assert_int_equal(json_parse(text, sizeof(text), &lim, &doc, err), WIRE_ESYNTAX);
	/* Values. */
	lim.values_max = 4;
	assert_int_equal(json_parse(S("[1,2,3]"), &lim, &doc, err), 0);
	json_doc_free(doc);
	assert_int_equal(json_parse(S("[1,2,3,4]"), &lim, &doc, err), WIRE_ELIMIT);
	/* Text. */
	lim.input_bytes_max = 6;
	assert_int_equal(json_parse(S("[1,2]"), &lim, &doc, err), 0);
	json_doc_free(doc);
	assert_int_equal(json_parse(S("[1, 2]"), &lim, &doc, err), 0);
	json_doc_free(doc);
	assert_int_equal(json_parse(S("[1,  2]"), &lim, &doc, err), WIRE_ELIMIT);
}

/* Random bytes and random mutations of a valid document: never a crash. */
static void test_reader_random(void **state)
{
	(void)state;
	const char base[] =
	    "{\"key\":\"a\\u00e9\",\"value_base64\":\"YQ==\",\"n\":[1,-2.5e3,true,null],"
	    "\"o\":{\"x\":\"\\ud83d\\ude00\"}}";
	static const char alphabet[] = "{}[]\",:\\u0123456789eE.-+ truefalsn";
	uint64_t seed = 11;
	size_t parsed = 0;
	for (int iter = 0; iter < 50000; iter++) {
		char text[sizeof(base)];
		size_t len;
		if (iter % 2 == 0) {
			memcpy(text, base, sizeof(base) - 1);
			len = sizeof(base) - 1;
			size_t flips = 1 + rng_next(&seed) % 3;
			for (size_t f = 0; f < flips; f++) {
				uint64_t r = rng_next(&seed);
				text[r % len] = r % 3 == 0
				                    ? (char)(r >> 8)
				                    : alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
			}
			len = rng_next(&seed) % 8 == 0 ? rng_next(&seed) % len : len;
		} else {
			len = rng_next(&seed) % 32;
			for (size_t i = 0; i < len; i++) {
				text[i] = alphabet[rng_next(&seed) % (sizeof(alphabet) - 1)];
			}
		}
		struct json_doc *doc = NULL;
		char err[WIRE_ERRMSG_SIZE];
		int rc = json_parse(text, len, NULL, &doc, err);
		if (rc == 0) {
			parsed++;
			json_doc_free(doc);
		} else {
			assert_true(rc == WIRE_ESYNTAX || rc == WIRE_EDEPTH || rc == WIRE_ELIMIT);
		}
	}
	assert_true(parsed > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writer),          cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_base64),          cmocka_unit_test(test_bytes_round_trip),
	    cmocka_unit_test(test_reader),          cmocka_unit_test(test_reader_malformed),
	    cmocka_unit_test(test_reader_limits),   cmocka_unit_test(test_reader_reuse),
	    cmocka_unit_test(test_reader_lax_utf8), cmocka_unit_test(test_reader_random),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
