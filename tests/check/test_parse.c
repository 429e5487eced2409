/* test_parse.c: the JSONL history parser and writer: fields, escapes, and errors naming the line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check/check.h"
#include "codec/json.h"

static void parse_ok(const char *text, struct check_history *h)
{
	struct check_error err;
	int rc = check_history_parse(text, strlen(text), h, &err);
	if (rc != 0)
		fail_msg("unexpected parse error at line %zu: %s", err.line, err.message);
}

static void test_parse_fields(void **state)
{
	(void)state;
	struct check_history h;
	parse_ok(
	    "{\"client\":3,\"op\":\"put\",\"key\":\"k1\",\"value\":\"v7\",\"expect\":null,"
	    "\"result\":null,\"ok\":true,\"call\":1200,\"return\":1450}\n"
	    "\n"
	    "  {\"op\":\"cas\",\"client\":-4,\"key\":\"k1\",\"expect\":null,\"value\":\"x\","
	    "\"ok\":false,\"call\":-5,\"return\":-5, \"note\": {\"a\":[1,2.5e3,true,null]}}\r\n"
	    "{\"client\":1,\"op\":\"delete\",\"key\":\"k2\",\"result\":true,\"ok\":true,"
	    "\"call\":9223372036854775807,\"return\":9223372036854775807}\n"
	    "{\"client\":1,\"op\":\"incr\",\"key\":\"\",\"value\":\"-3\",\"ok\":\"unknown\","
	    "\"call\":1,\"return\":null}\n"
	    "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"ok\":true,\"call\":1,\"return\":2}",
	    &h);
	assert_int_equal(h.op_count, 5);
	const struct check_op *op = &h.ops[0];
	assert_int_equal(op->client, 3);
	assert_int_equal(op->kind, CHECK_KIND_PUT);
	assert_int_equal(op->ok, CHECK_OK_TRUE);
	assert_int_equal(op->key.len, 2);
	assert_memory_equal(op->key.bytes, "k1", 2);
	assert_true(op->value.present);
	assert_memory_equal(op->value.bytes, "v7", 2);
	assert_false(op->expect.present);
	assert_false(op->result.present);
	assert_int_equal(op->call_time, 1200);
	assert_int_equal(op->return_time, 1450);
	assert_int_equal(op->line, 1);
	op = &h.ops[1];
	assert_int_equal(op->line, 3);
	assert_int_equal(op->client, -4);
	assert_int_equal(op->kind, CHECK_KIND_CAS);
	assert_int_equal(op->ok, CHECK_OK_FALSE);
	assert_false(op->expect.present);
	assert_int_equal(op->call_time, -5);
	op = &h.ops[2];
	assert_int_equal(op->existed, CHECK_EXISTED_YES);
	assert_int_equal(op->call_time, INT64_MAX);
	op = &h.ops[3];
	assert_int_equal(op->kind, CHECK_KIND_INCR);
	assert_int_equal(op->ok, CHECK_OK_UNKNOWN);
	assert_true(op->key.present);
	assert_int_equal(op->key.len, 0);
	op = &h.ops[4];
	assert_int_equal(op->line, 6);
	assert_false(op->result.present); /* a get of an absent key */
	check_history_free(&h);
}

static void test_parse_escapes(void **state)
{
	(void)state;
	struct check_history h;
	parse_ok("{\"client\":1,\"op\":\"put\",\"key\":\"a\\\"b\\\\c\\/d\","
	         "\"value\":\"\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\u0000z\","
	         "\"ok\":true,\"call\":1,\"return\":2}",
	         &h);
	assert_int_equal(h.op_count, 1);
	assert_int_equal(h.ops[0].key.len, 7);
	assert_memory_equal(h.ops[0].key.bytes, "a\"b\\c/d", 7);
	static const char want[] = "\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
	assert_int_equal(h.ops[0].value.len, sizeof(want) - 1);
	assert_memory_equal(h.ops[0].value.bytes, want, sizeof(want) - 1);

	/* The writer produces what the parser reads back. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(check_history_write(f, h.ops, h.op_count), 0);
	fclose(f);
	struct check_history back;
	parse_ok(text, &back);
	assert_int_equal(back.op_count, 1);
	assert_int_equal(back.ops[0].value.len, sizeof(want) - 1);
	assert_memory_equal(back.ops[0].value.bytes, want, sizeof(want) - 1);
	assert_memory_equal(back.ops[0].key.bytes, "a\"b\\c/d", 7);
	free(text);
	check_history_free(&back);
	check_history_free(&h);
}

struct bad_case {
	const char *text;
	size_t line;
	const char *message; /* a part of the message */
};

#define GOOD                                                                                       \
	"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":1,"       \
	"\"return\":2}\n"

static const struct bad_case bad_cases[] = {
    {GOOD "{\"client\":1,\"op\":\"put\"", 2, "unterminated object"},
    {GOOD GOOD "not json\n", 3, "expected '{'"},
    {"{\"client\":1,\"op\":\"frobnicate\",\"key\":\"k\",\"ok\":true,\"call\":1,\"return\":2}", 1,
     "unknown op \"frobnicate\""},
    {GOOD "{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":5,"
          "\"return\":4}",
     2, "return 4 is before call 5"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":1}", 1,
     "needs an integer \"return\""},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":\"unknown\",\"call\":1,"
     "\"return\":5}",
     1, "\"return\": null"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":\"maybe\",\"call\":1}", 1,
     "\"ok\" must be"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":1.5,"
     "\"return\":2}",
     1, "integer"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":"
     "99999999999999999999,\"return\":2}",
     1, "64 bits"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":01,"
     "\"return\":2}",
     1, "leading zeros"},
    {"{\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":1,\"return\":2}", 1,
     "missing field \"client\""},
    {"{\"client\":1,\"client\":2,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,"
     "\"call\":1,\"return\":2}",
     1, "appears twice"},
    {"{\"client\":1,\"op\":\"put\",\"key\":null,\"value\":\"v\",\"ok\":true,\"call\":1,\"return\":"
     "2}",
     1, "\"key\" must be a string"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"ok\":true,\"call\":1,\"return\":2}", 1,
     "put needs a string value"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":7,\"ok\":true,\"call\":1,\"return\":2}",
     1, "\"value\" must be a string or null"},
    {"{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"result\":true,\"ok\":true,\"call\":1,"
     "\"return\":2}",
     1, "only for delete"},
    {"{\"client\":1,\"op\":\"incr\",\"key\":\"k\",\"value\":\"x\",\"ok\":true,\"call\":1,"
     "\"return\":2}",
     1, "decimal integer"},
    {"{\"client\":1,\"op\":\"incr\",\"key\":\"k\",\"result\":\"1.0\",\"ok\":true,\"call\":1,"
     "\"return\":2}",
     1, "decimal integer"},
    {"{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"result\":\"v\",\"ok\":\"unknown\",\"call\":1}",
     1, "has no result"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"expect\":\"w\",\"ok\":true,"
     "\"call\":1,\"return\":2}",
     1, "takes no expect"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"\\ud800\",\"ok\":true,\"call\":1,"
     "\"return\":2}",
     1, "lone high surrogate"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"\\q\",\"ok\":true,\"call\":1,"
     "\"return\":2}",
     1, "invalid escape"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"\\u12\",\"ok\":true,\"call\":1,"
     "\"return\":2}",
     1, "\\u escape"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"a\tb\",\"ok\":true,\"call\":1,"
     "\"return\":2}",
     1, "control character"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":1,"
     "\"return\":2} x",
     1, "trailing bytes"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ok\":true,\"call\":1,"
     "\"return\":2,}",
     1, "member name"},
    {"{}", 1, "empty object"},
    {"[1,2]", 1, "expected '{'"},
    {"{\"client\":1,\"op\":\"delete\",\"key\":\"k\",\"result\":true,\"ok\":false,\"call\":1,"
     "\"return\":2}",
     1, "observed nothing"},
    {"{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"unterminated", 1, "unterminated"},
};

static void test_parse_errors(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct check_history h;
		struct check_error err;
		int rc = check_history_parse(bc->text, strlen(bc->text), &h, &err);
		if (rc != -EINVAL) {
			print_error("case %zu: expected an error, got %d\n", i, rc);
			failures++;
		} else if (err.line != bc->line || strstr(err.message, bc->message) == NULL) {
			print_error("case %zu: expected line %zu '%s', got line %zu '%s'\n", i,
			            bc->line, bc->message, err.line, err.message);
			failures++;
		}
		assert_null(h.ops);
	}
	assert_int_equal(failures, 0);
}

/* Nesting in an ignored field is bounded by the JSON reader's one depth limit. */
static void test_parse_depth(void **state)
{
	(void)state;
	for (size_t depth = JSON_DEPTH_LIMIT - 2; depth <= JSON_DEPTH_LIMIT + 1; depth++) {
		char text[512];
		size_t n = (size_t)snprintf(text, sizeof(text), "{\"x\":");
		for (size_t i = 0; i < depth; i++)
			text[n++] = '[';
		for (size_t i = 0; i < depth; i++)
			text[n++] = ']';
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      ",\"client\":1,\"op\":\"get\",\"key\":\"k\",\"ok\":true,"
		                      "\"call\":1,\"return\":2}");
		struct check_history h;
		struct check_error err;
		int rc = check_history_parse(text, n, &h, &err);
		/* The object itself is one level: depth arrays inside make depth + 1. */
		if (depth + 1 <= JSON_DEPTH_LIMIT) {
			if (rc != 0)
				fail_msg("depth %zu: %s", depth + 1, err.message);
			assert_int_equal(h.op_count, 1);
			check_history_free(&h);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(err.message, "nested deeper"));
		}
	}
}

/* Bytes that are not valid UTF-8 are kept as they are (docs/history-format.md). */
static void test_parse_raw_bytes(void **state)
{
	(void)state;
	static const char text[] =
	    "{\"client\":1,\"op\":\"put\",\"key\":\"\xff\xc3\","
	    "\"value\":\"\xc3\xa9\x80\",\"ok\":true,\"call\":1,\"return\":2}";
	struct check_history h;
	parse_ok(text, &h);
	assert_int_equal(h.op_count, 1);
	assert_int_equal(h.ops[0].key.len, 2);
	assert_memory_equal(h.ops[0].key.bytes, "\xff\xc3", 2);
	assert_int_equal(h.ops[0].value.len, 3);
	assert_memory_equal(h.ops[0].value.bytes, "\xc3\xa9\x80", 3);
	check_history_free(&h);
}

/* Every prefix of a valid history, and random byte flips of it, parse or fail cleanly. */
static void test_parse_garbage(void **state)
{
	(void)state;
	static const char base[] =
	    "{\"client\":3,\"op\":\"cas\",\"key\":\"k\\u00e91\",\"value\":\"v7\",\"expect\":\"a\","
	    "\"result\":null,\"ok\":true,\"call\":1200,\"return\":1450,\"x\":{\"y\":[1,-2e5]}}\n"
	    "{\"client\":1,\"op\":\"delete\",\"key\":\"k\",\"result\":false,\"ok\":true,\"call\":1,"
	    "\"return\":2}\n";
	char buf[sizeof(base)];
	uint64_t x = 12345;
	for (int round = 0; round < 20000; round++) {
		memcpy(buf, base, sizeof(base));
		size_t len = sizeof(base) - 1;
		if (round < (int)len) {
			len = (size_t)round;
		} else {
			for (int flips = 0; flips < 3; flips++) {
				x = x * 6364136223846793005ull + 1442695040888963407ull;
				buf[(x >> 33) % len] = (char)(x >> 17);
			}
		}
		struct check_history h;
		struct check_error err;
		int rc = check_history_parse(buf, len, &h, &err);
		assert_true(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			struct check_result r;
			rc = check_history_run(h.ops, h.op_count, NULL, &r);
			assert_int_equal(rc, 0);
			check_result_free(&r);
			check_history_free(&h);
		} else {
			assert_true(err.line >= 1 && err.line <= 5);
			assert_true(err.message[0] != '\0');
		}
	}
}

static void test_parse_load(void **state)
{
	(void)state;
	struct check_history h;
	struct check_error err;
	int rc = check_history_load("/nonexistent/history.jsonl", &h, &err);
	assert_true(rc < 0);
	assert_non_null(strstr(err.message, "cannot open"));
	char path[] = "/tmp/concord-check-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	for (int i = 0; i < 5000; i++)
		fputs(GOOD, f);
	fclose(f);
	assert_int_equal(check_history_load(path, &h, &err), 0);
	assert_int_equal(h.op_count, 5000);
	assert_int_equal(h.ops[4999].line, 5000);
	check_history_free(&h);
	remove(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_fields),    cmocka_unit_test(test_parse_escapes),
	    cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_parse_depth),
	    cmocka_unit_test(test_parse_raw_bytes), cmocka_unit_test(test_parse_garbage),
	    cmocka_unit_test(test_parse_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
