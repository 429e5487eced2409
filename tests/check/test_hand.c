/* test_hand.c: hand-written histories with known verdicts, and the explanation of a violation. */
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

struct hand_case {
	const char *name;
	enum check_verdict verdict;
	const char *jsonl;
};

/* Shorthands keep the histories readable: one operation per line. */
#define OP(c, kind, key, rest, call, ret)                                                          \
	"{\"client\":" #c ",\"op\":\"" kind "\",\"key\":\"" key "\"," rest ",\"call\":" #call      \
	",\"return\":" #ret "}\n"
#define PUT(c, key, v, call, ret) OP(c, "put", key, "\"value\":\"" v "\",\"ok\":true", call, ret)
#define GET(c, key, r, call, ret) OP(c, "get", key, "\"result\":" r ",\"ok\":true", call, ret)
#define PUT_UNKNOWN(c, key, v, call)                                                               \
	OP(c, "put", key, "\"value\":\"" v "\",\"ok\":\"unknown\"", call, null)

static const struct hand_case hand_cases[] = {
    {"empty history", CHECK_LINEARIZABLE, ""},
    {"read of a key never written is null", CHECK_LINEARIZABLE, GET(1, "k", "null", 0, 5)},
    {"read of a key never written is not a value", CHECK_NOT_LINEARIZABLE,
     GET(1, "k", "\"v1\"", 0, 5)},
    {"sequential put then get", CHECK_LINEARIZABLE,
     PUT(1, "k", "v1", 0, 10) GET(2, "k", "\"v1\"", 20, 30)},
    {"concurrent writes, readers agree on an order", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 100) PUT(2, "k", "b", 10, 90) GET(3, "k", "\"a\"", 120, 130)
         GET(4, "k", "\"a\"", 140, 150)},
    {"concurrent writes, the other order", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 100) PUT(2, "k", "b", 10, 90) GET(3, "k", "\"b\"", 120, 130)},
    {"concurrent writes, readers disagree after both finished", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 100) PUT(2, "k", "b", 10, 90) GET(3, "k", "\"a\"", 120, 130)
         GET(4, "k", "\"b\"", 140, 150)},
    {"reads during concurrent writes may see both", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 100) PUT(2, "k", "b", 10, 90) GET(3, "k", "\"b\"", 20, 30)
         GET(4, "k", "\"a\"", 40, 50) GET(5, "k", "\"a\"", 60, 70)},
    {"reads during concurrent writes cannot go back", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 100) PUT(2, "k", "b", 10, 90) GET(3, "k", "\"a\"", 20, 30)
         GET(4, "k", "\"b\"", 40, 50) GET(5, "k", "\"a\"", 60, 70)},
    {"stale read after an overwrite completed", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "v1", 0, 10) PUT(1, "k", "v2", 20, 30) GET(2, "k", "\"v1\"", 40, 50)},
    {"read concurrent with the overwrite may be old", CHECK_LINEARIZABLE,
     PUT(1, "k", "v1", 0, 10) PUT(1, "k", "v2", 20, 30) GET(2, "k", "\"v1\"", 25, 50)},
    {"read observes a value before its write was called", CHECK_NOT_LINEARIZABLE,
     GET(2, "k", "\"v1\"", 0, 10) PUT(1, "k", "v1", 20, 30)},
    {"read returns before the write is called, sees nothing", CHECK_LINEARIZABLE,
     GET(2, "k", "null", 0, 10) PUT(1, "k", "v1", 20, 30)},
    {"new value then old value in sequence", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "v1", 0, 10) PUT(1, "k", "v2", 20, 100) GET(2, "k", "\"v2\"", 30, 40)
         GET(3, "k", "\"v1\"", 50, 60)},
    {"intervals touching exactly are concurrent", CHECK_LINEARIZABLE,
     PUT(1, "k", "v1", 0, 10) GET(2, "k", "null", 10, 20)},
    {"intervals one apart are ordered", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "v1", 0, 10) GET(2, "k", "null", 11, 20)},
    {"touching at the other end: the read may see the later write", CHECK_LINEARIZABLE,
     GET(2, "k", "\"v1\"", 0, 10) PUT(1, "k", "v1", 10, 20)},
    {"cas succeeds on the expected value", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(2, "cas", "k", "\"expect\":\"a\",\"value\":\"b\",\"ok\":true", 20,
                                30) GET(3, "k", "\"b\"", 40, 50)},
    {"cas cannot succeed on another value", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10)
         OP(2, "cas", "k", "\"expect\":\"x\",\"value\":\"b\",\"ok\":true", 20, 30)},
    {"cas with expect null succeeds on an absent key", CHECK_LINEARIZABLE,
     OP(2, "cas", "k", "\"expect\":null,\"value\":\"b\",\"ok\":true", 0, 10)
         GET(3, "k", "\"b\"", 20, 30)},
    {"failed cas: the value differed", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(2, "cas", "k", "\"expect\":\"x\",\"value\":\"b\",\"ok\":false", 20,
                                30) GET(3, "k", "\"a\"", 40, 50)},
    {"failed cas although the value matched", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10)
         OP(2, "cas", "k", "\"expect\":\"a\",\"value\":\"b\",\"ok\":false", 20, 30)},
    {"failed cas has no effect", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(2, "cas", "k", "\"expect\":\"x\",\"value\":\"b\",\"ok\":false", 20,
                                30) GET(3, "k", "\"b\"", 40, 50)},
    {"failed cas explained by a concurrent write", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) PUT(3, "k", "c", 15, 50)
         OP(2, "cas", "k", "\"expect\":\"a\",\"value\":\"b\",\"ok\":false", 20, 30)},
    {"delete then read null", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(1, "delete", "k", "\"ok\":true", 20, 30)
         GET(2, "k", "null", 40, 50)},
    {"read after delete sees the old value", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(1, "delete", "k", "\"ok\":true", 20, 30)
         GET(2, "k", "\"a\"", 40, 50)},
    {"delete reports the key existed", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(1, "delete", "k", "\"result\":true,\"ok\":true", 20, 30)},
    {"delete reports a key that never existed", CHECK_NOT_LINEARIZABLE,
     OP(1, "delete", "k", "\"result\":true,\"ok\":true", 20, 30)},
    {"delete reports no key although one was there", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(1, "delete", "k", "\"result\":false,\"ok\":true", 20, 30)},
    {"two deletes: only one finds the key", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(1, "delete", "k", "\"result\":true,\"ok\":true", 20, 40)
         OP(2, "delete", "k", "\"result\":true,\"ok\":true", 20, 40)},
    {"failed put had no effect", CHECK_NOT_LINEARIZABLE,
     OP(1, "put", "k", "\"value\":\"a\",\"ok\":false", 0, 10) GET(2, "k", "\"a\"", 20, 30)},
    {"failed put is ignored", CHECK_LINEARIZABLE,
     OP(1, "put", "k", "\"value\":\"a\",\"ok\":false", 0, 10) GET(2, "k", "null", 20, 30)},
    {"unknown write assumed to happen later", CHECK_LINEARIZABLE,
     PUT_UNKNOWN(1, "k", "v1", 0) GET(2, "k", "null", 10, 20) GET(2, "k", "\"v1\"", 100, 110)},
    {"unknown write may take effect long after everything else", CHECK_LINEARIZABLE,
     PUT(3, "k", "v0", 0, 5) PUT_UNKNOWN(1, "k", "v1", 10) PUT(3, "k", "v2", 50, 60)
         GET(2, "k", "\"v2\"", 70, 80) GET(2, "k", "\"v1\"", 200, 210)},
    {"unknown write assumed never to have happened", CHECK_LINEARIZABLE,
     PUT(3, "k", "v0", 0, 5) PUT_UNKNOWN(1, "k", "v1", 10) GET(2, "k", "\"v0\"", 50, 60)
         GET(2, "k", "\"v0\"", 70, 80)},
    {"unknown write cannot take effect before its call", CHECK_NOT_LINEARIZABLE,
     GET(2, "k", "\"v1\"", 0, 10) PUT_UNKNOWN(1, "k", "v1", 20)},
    {"unknown write takes effect at most once", CHECK_NOT_LINEARIZABLE,
     PUT_UNKNOWN(1, "k", "v1", 0) GET(2, "k", "\"v1\"", 10, 20) PUT(3, "k", "v2", 30, 40)
         GET(2, "k", "\"v1\"", 50, 60)},
    {"two identical unknown writes can take effect twice", CHECK_LINEARIZABLE,
     PUT_UNKNOWN(1, "k", "v1", 0) PUT_UNKNOWN(4, "k", "v1", 0) GET(2, "k", "\"v1\"", 10, 20)
         PUT(3, "k", "v2", 30, 40) GET(2, "k", "\"v1\"", 50, 60)},
    {"unknown delete explains a null read", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10) OP(4, "delete", "k", "\"ok\":\"unknown\"", 15, null)
         GET(2, "k", "\"a\"", 20, 30) GET(2, "k", "null", 40, 50)},
    {"unknown cas succeeds only on its expected value", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10)
         OP(4, "cas", "k", "\"expect\":\"x\",\"value\":\"b\",\"ok\":\"unknown\"", 15, null)
             GET(2, "k", "\"b\"", 40, 50)},
    {"unknown cas that matched", CHECK_LINEARIZABLE,
     PUT(1, "k", "a", 0, 10)
         OP(4, "cas", "k", "\"expect\":\"a\",\"value\":\"b\",\"ok\":\"unknown\"", 15, null)
             GET(2, "k", "\"b\"", 40, 50)},
    {"unknown read is ignored", CHECK_LINEARIZABLE,
     OP(1, "get", "k", "\"ok\":\"unknown\"", 0, null) PUT(1, "k", "a", 10, 20)},
    {"unknown append chain explains a read", CHECK_LINEARIZABLE,
     OP(1, "append", "k", "\"value\":\"a\",\"ok\":\"unknown\"", 0, null)
         OP(2, "append", "k", "\"value\":\"b\",\"ok\":\"unknown\"", 0, null)
             OP(3, "append", "k", "\"value\":\"c\",\"ok\":\"unknown\"", 0, null)
                 GET(4, "k", "\"cb\"", 10, 20)},
    {"appends in real-time order", CHECK_LINEARIZABLE,
     OP(1, "append", "k", "\"value\":\"a\",\"ok\":true", 0, 10)
         OP(2, "append", "k", "\"value\":\"b\",\"ok\":true", 20, 30) GET(3, "k", "\"ab\"", 40, 50)},
    {"appends out of real-time order", CHECK_NOT_LINEARIZABLE,
     OP(1, "append", "k", "\"value\":\"a\",\"ok\":true", 0, 10)
         OP(2, "append", "k", "\"value\":\"b\",\"ok\":true", 20, 30) GET(3, "k", "\"ba\"", 40, 50)},
    {"concurrent appends in either order", CHECK_LINEARIZABLE,
     OP(1, "append", "k", "\"value\":\"a\",\"ok\":true", 0, 30)
         OP(2, "append", "k", "\"value\":\"b\",\"ok\":true", 0, 30) GET(3, "k", "\"ba\"", 40, 50)},
    {"incr from absent counts from zero", CHECK_LINEARIZABLE,
     OP(1, "incr", "k", "\"result\":\"1\",\"ok\":true", 0, 10)
         OP(2, "incr", "k", "\"value\":\"5\",\"result\":\"6\",\"ok\":true", 20, 30)
             GET(3, "k", "\"6\"", 40, 50)},
    {"two incrs cannot both return 1", CHECK_NOT_LINEARIZABLE,
     OP(1, "incr", "k", "\"result\":\"1\",\"ok\":true", 0, 10)
         OP(2, "incr", "k", "\"result\":\"1\",\"ok\":true", 0, 10)},
    {"concurrent incrs return 1 and 2", CHECK_LINEARIZABLE,
     OP(1, "incr", "k", "\"result\":\"2\",\"ok\":true", 0, 10)
         OP(2, "incr", "k", "\"result\":\"1\",\"ok\":true", 0, 10)},
    {"incr on a string cannot succeed", CHECK_NOT_LINEARIZABLE,
     PUT(1, "k", "abc", 0, 10) OP(2, "incr", "k", "\"result\":null,\"ok\":true", 20, 30)},
    {"unknown incr explains a read", CHECK_LINEARIZABLE,
     PUT(1, "k", "41", 0, 10) OP(2, "incr", "k", "\"ok\":\"unknown\"", 20, null)
         GET(3, "k", "\"42\"", 40, 50)},
    {"escapes: \\u00e9 equals raw UTF-8", CHECK_LINEARIZABLE,
     PUT(1, "k", "\\u00e9\\ud83d\\ude00", 0, 10)
         GET(2, "k", "\"\xc3\xa9\xf0\x9f\x98\x80\"", 20, 30)},
    {"keys are independent", CHECK_LINEARIZABLE,
     PUT(1, "a", "1", 0, 10) PUT(1, "b", "2", 20, 30) GET(2, "a", "\"1\"", 40, 50)
         GET(2, "b", "\"2\"", 40, 50)},
    {"one key of several fails", CHECK_NOT_LINEARIZABLE,
     PUT(1, "a", "1", 0, 10) PUT(1, "b", "2", 20, 30) GET(2, "a", "\"2\"", 40, 50)
         GET(2, "b", "\"2\"", 40, 50)},
};

static void test_hand_verdicts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hand_cases) / sizeof(hand_cases[0]); i++) {
		const struct hand_case *hc = &hand_cases[i];
		struct check_history h;
		struct check_error err;
		int rc = check_history_parse(hc->jsonl, strlen(hc->jsonl), &h, &err);
		if (rc != 0)
			fail_msg("%s: parse error line %zu: %s", hc->name, err.line, err.message);
		struct check_result r;
		rc = check_history_run(h.ops, h.op_count, NULL, &r);
		assert_int_equal(rc, 0);
		if (r.verdict != hc->verdict) {
			check_report_text(stderr, h.ops, h.op_count, &r, CHECK_REPORT_NORMAL);
			fail_msg("%s: expected %s, got %s", hc->name,
			         check_verdict_name(hc->verdict), check_verdict_name(r.verdict));
		}
		if (r.verdict == CHECK_NOT_LINEARIZABLE) {
			assert_true(r.failed_key < r.key_count);
			assert_true(r.stuck_count > 0);
		} else {
			assert_true(r.failed_key == SIZE_MAX);
		}
		/* The reporters run on every case. */
		FILE *sink = fopen("/dev/null", "w");
		assert_non_null(sink);
		assert_int_equal(
		    check_report_text(sink, h.ops, h.op_count, &r, CHECK_REPORT_VERBOSE), 0);
		assert_int_equal(check_report_json(sink, h.ops, h.op_count, &r), 0);
		assert_int_equal(check_report_html(sink, h.ops, h.op_count, &r, hc->name), 0);
		fclose(sink);
		check_result_free(&r);
		check_history_free(&h);
	}
}

static char *test_capture_text(const struct check_op *ops, size_t n, const struct check_result *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(check_report_text(f, ops, n, r, CHECK_REPORT_NORMAL), 0);
	fclose(f);
	return text;
}

/* The explanation names the prefix, the value after it, and the op that cannot be placed. */
static void test_hand_explanation(void **state)
{
	(void)state;
	static const char jsonl[] = PUT(1, "k", "v1", 0, 10) PUT(1, "k", "v2", 20, 30)
	    GET(2, "k", "\"v1\"", 40, 50) PUT(1, "other", "x", 0, 10);
	struct check_history h;
	struct check_error err;
	assert_int_equal(check_history_parse(jsonl, strlen(jsonl), &h, &err), 0);
	struct check_result r;
	assert_int_equal(check_history_run(h.ops, h.op_count, NULL, &r), 0);
	assert_int_equal(r.verdict, CHECK_NOT_LINEARIZABLE);
	assert_int_equal(r.key_count, 2);
	assert_int_equal(r.failed_key, 0); /* "k" sorts before "other" */
	assert_int_equal(r.prefix_count, 2);
	assert_int_equal(r.prefix[0], 0);
	assert_int_equal(r.prefix[1], 1);
	assert_true(r.prefix_state.present);
	assert_int_equal(r.prefix_state.len, 2);
	assert_memory_equal(r.prefix_state.bytes, "v2", 2);
	assert_int_equal(r.stuck_count, 1);
	assert_int_equal(r.stuck[0], 2);
	assert_int_equal(r.keys[1].verdict, CHECK_LINEARIZABLE);
	char *text = test_capture_text(h.ops, h.op_count, &r);
	assert_non_null(strstr(text, "it read \"v1\", but the key holds \"v2\""));
	assert_non_null(strstr(text, "line 3"));
	assert_non_null(strstr(text, "not linearizable"));
	free(text);
	check_result_free(&r);
	check_history_free(&h);
}

/* Of two failing keys, the one with fewer operations is explained. */
static void test_hand_smallest_key(void **state)
{
	(void)state;
	static const char jsonl[] = PUT(1, "a", "1", 0, 10) PUT(1, "a", "2", 20, 30)
	    PUT(1, "a", "3", 40, 50) GET(2, "a", "\"1\"", 60, 70) GET(2, "b", "\"9\"", 0, 10);
	struct check_history h;
	struct check_error err;
	assert_int_equal(check_history_parse(jsonl, strlen(jsonl), &h, &err), 0);
	struct check_result r;
	assert_int_equal(check_history_run(h.ops, h.op_count, NULL, &r), 0);
	assert_int_equal(r.verdict, CHECK_NOT_LINEARIZABLE);
	assert_int_equal(r.keys[0].verdict, CHECK_NOT_LINEARIZABLE);
	assert_int_equal(r.keys[1].verdict, CHECK_NOT_LINEARIZABLE);
	assert_int_equal(r.failed_key, 1);
	assert_int_equal(r.prefix_count, 0);
	assert_false(r.prefix_state.present);
	assert_int_equal(r.stuck_count, 1);
	assert_int_equal(r.stuck[0], 4);
	check_result_free(&r);
	check_history_free(&h);
}

/* Refuting needs no exhaustive search where a read can no longer be met: 24 unknown appends
 * of distinct letters are pending, and a read of "zz" must come before anything but an
 * append can reset the value. Once one append is placed, the value cannot grow into "zz";
 * the search cuts there instead of trying every order of the appends (2^24 sets). */
static void test_hand_dead_end(void **state)
{
	(void)state;
	char jsonl[8192];
	size_t at = 0;
	for (int i = 0; i < 24; i++)
		at += (size_t)snprintf(
		    jsonl + at, sizeof(jsonl) - at,
		    "{\"client\":%d,\"op\":\"append\",\"key\":\"k\",\"value\":\"%c\","
		    "\"ok\":\"unknown\",\"call\":0,\"return\":null}\n",
		    i, 'a' + i);
	at += (size_t)snprintf(jsonl + at, sizeof(jsonl) - at, "%s",
	                       GET(99, "k", "\"zz\"", 5, 6) PUT(98, "k", "zz", 7, 8));
	struct check_history h;
	struct check_error err;
	assert_int_equal(check_history_parse(jsonl, at, &h, &err), 0);
	struct check_result r;
	struct check_options o = {.budget_states = 5000};
	assert_int_equal(check_history_run(h.ops, h.op_count, &o, &r), 0);
	assert_int_equal(r.verdict, CHECK_NOT_LINEARIZABLE);
	assert_true(r.states < 1000);
	assert_int_equal(r.stuck_count, 1);
	assert_int_equal(r.stuck[0], 24);
	check_result_free(&r);
	check_history_free(&h);
}

/* Client order: client 1 pipelines a put and a get of k (calls 1 and 2, both outstanding);
 * under real time the get may go first and read null, but the client sent the put first. */
static void test_hand_client_order(void **state)
{
	(void)state;
	static const char pipelined[] = PUT(1, "k", "a", 1, 10) GET(1, "k", "null", 2, 9);
	/* A timed-out put is exempt: it may take effect after the client's later get. */
	static const char timed_out[] =
	    PUT_UNKNOWN(1, "k", "a", 1) GET(1, "k", "null", 2, 9) GET(2, "k", "\"a\"", 20, 30);
	/* Two clients: no order between them. */
	static const char two[] = PUT(1, "k", "a", 1, 10) GET(2, "k", "null", 2, 9);
	/* A violation of values, not of client order. */
	static const char values[] = PUT(1, "k", "a", 1, 10) GET(1, "k", "\"b\"", 2, 9);
	const struct {
		const char *jsonl;
		bool client_order;
		enum check_verdict verdict;
		bool blamed;
	} cases[] = {
	    {pipelined, true, CHECK_NOT_LINEARIZABLE, true},
	    {pipelined, false, CHECK_LINEARIZABLE, false},
	    {timed_out, true, CHECK_LINEARIZABLE, false},
	    {two, true, CHECK_LINEARIZABLE, false},
	    {values, true, CHECK_NOT_LINEARIZABLE, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct check_history h;
		struct check_error err;
		assert_int_equal(
		    check_history_parse(cases[i].jsonl, strlen(cases[i].jsonl), &h, &err), 0);
		struct check_options o = {.no_client_order = !cases[i].client_order};
		struct check_result r;
		assert_int_equal(check_history_run(h.ops, h.op_count, &o, &r), 0);
		if (r.verdict != cases[i].verdict)
			fail_msg("case %zu: got %s", i, check_verdict_name(r.verdict));
		assert_true(r.client_order_violated == cases[i].blamed);
		if (cases[i].blamed) {
			char *text = test_capture_text(h.ops, h.op_count, &r);
			assert_non_null(strstr(text, "what is violated is client order"));
			free(text);
		}
		check_result_free(&r);
		check_history_free(&h);
	}
}

/* The in-process API, without JSON: what the simulator calls. */
static void test_hand_api(void **state)
{
	(void)state;
	struct check_op ops[3];
	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < 3; i++) {
		ops[i].client = i;
		ops[i].key = (struct check_str){"key", 3, true};
		ops[i].ok = CHECK_OK_TRUE;
	}
	ops[0].kind = CHECK_KIND_PUT;
	ops[0].value = (struct check_str){"x", 1, true};
	ops[0].call_time = 1;
	ops[0].return_time = 2;
	ops[1].kind = CHECK_KIND_GET;
	ops[1].result = (struct check_str){"x", 1, true};
	ops[1].call_time = 3;
	ops[1].return_time = 4;
	ops[2].kind = CHECK_KIND_DELETE;
	ops[2].existed = CHECK_EXISTED_YES;
	ops[2].call_time = 5;
	ops[2].return_time = 6;
	struct check_result r;
	struct check_options opt = {
	    .budget_ms = 1000, .budget_bytes = 1 << 20, .budget_states = 1000};
	assert_int_equal(check_history_run(ops, 3, &opt, &r), 0);
	assert_int_equal(r.verdict, CHECK_LINEARIZABLE);
	assert_int_equal(r.key_count, 1);
	assert_int_equal(r.keys[0].op_count, 3);
	check_result_free(&r);

	/* Malformed operations are refused with a message naming them. */
	ops[1].return_time = 2;
	assert_int_equal(check_history_run(ops, 3, NULL, &r), -EINVAL);
	assert_non_null(strstr(r.reason, "operation 1"));
	assert_non_null(strstr(r.reason, "before call"));
	ops[1].return_time = 4;
	ops[0].value.present = false;
	assert_int_equal(check_history_run(ops, 3, NULL, &r), -EINVAL);
	assert_non_null(strstr(r.reason, "put needs a string value"));
	ops[0].value.present = true;
	ops[2].kind = (enum check_kind)42;
	assert_int_equal(check_history_run(ops, 3, NULL, &r), -EINVAL);
	assert_non_null(strstr(r.reason, "unknown op kind"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hand_verdicts),     cmocka_unit_test(test_hand_explanation),
	    cmocka_unit_test(test_hand_smallest_key), cmocka_unit_test(test_hand_dead_end),
	    cmocka_unit_test(test_hand_client_order), cmocka_unit_test(test_hand_api),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
