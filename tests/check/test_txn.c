/* test_txn.c: transactions in the checker: hand-made histories, linearizable and not (the
 * wrong branch, a partial application seen, a read inside a txn missing an earlier
 * sub-operation), outcomes false and unknown, validation, and the JSON-lines form. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check/check.h"

static struct check_str str(const char *s)
{
	return (struct check_str){s, strlen(s), true};
}

static const struct check_str none = {NULL, 0, false};

static struct check_str maybe(const char *s)
{
	return s != NULL ? str(s) : none;
}

static struct check_op op_put(int64_t client, const char *key, const char *value, int64_t call,
                              int64_t ret)
{
	return (struct check_op){.client = client,
	                         .kind = CHECK_KIND_PUT,
	                         .key = str(key),
	                         .value = str(value),
	                         .call_time = call,
	                         .return_time = ret};
}

static struct check_op op_get(int64_t client, const char *key, const char *result, int64_t call,
                              int64_t ret)
{
	return (struct check_op){.client = client,
	                         .kind = CHECK_KIND_GET,
	                         .key = str(key),
	                         .result = maybe(result),
	                         .call_time = call,
	                         .return_time = ret};
}

static struct check_subop sub_put(const char *key, const char *value)
{
	return (struct check_subop){.kind = CHECK_KIND_PUT, .key = str(key), .value = str(value)};
}

static struct check_subop sub_get(const char *key, const char *result)
{
	return (struct check_subop){
	    .kind = CHECK_KIND_GET, .key = str(key), .result = maybe(result)};
}

static struct check_subop sub_del(const char *key)
{
	return (struct check_subop){.kind = CHECK_KIND_DELETE, .key = str(key)};
}

/* A txn of client 2 from call to ret; its key is the first it names. */
static struct check_op op_txn(const struct check_compare *cmp, size_t ncmp,
                              const struct check_subop *then_ops, size_t nthen,
                              const struct check_subop *else_ops, size_t nelse,
                              enum check_branch branch, int64_t call, int64_t ret)
{
	struct check_op op = {.client = 2,
	                      .kind = CHECK_KIND_TXN,
	                      .compares = ncmp ? cmp : NULL,
	                      .compare_count = ncmp,
	                      .then_ops = nthen ? then_ops : NULL,
	                      .then_count = nthen,
	                      .else_ops = nelse ? else_ops : NULL,
	                      .else_count = nelse,
	                      .branch = branch,
	                      .call_time = call,
	                      .return_time = ret};
	op.key = ncmp ? cmp[0].key : nthen ? then_ops[0].key : else_ops[0].key;
	return op;
}

static enum check_verdict run(const struct check_op *ops, size_t n)
{
	struct check_result r;
	assert_int_equal(check_history_run(ops, n, NULL, &r), 0);
	enum check_verdict v = r.verdict;
	if (v == CHECK_NOT_LINEARIZABLE) {
		assert_true(r.failed_group);
		assert_true(r.stuck_count > 0);
		/* The report names the txn in words. */
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		assert_non_null(f);
		assert_int_equal(check_report_text(f, ops, n, &r, CHECK_REPORT_NORMAL), 0);
		fclose(f);
		free(text);
	}
	check_result_free(&r);
	return v;
}

/* If a = 1 then {put b 2; get b; delete a} else {get a}: the branch taken must be the one the
 * state at that instant dictates. */
static void test_txn_branch(void **state)
{
	(void)state;
	struct check_compare cmp[] = {{str("a"), str("1")}, {str("b"), none}};
	struct check_subop then_ops[] = {sub_put("b", "2"), sub_get("b", "2"), sub_del("a")};
	struct check_subop else_ops[] = {sub_get("a", NULL)};
	struct check_op ops[] = {
	    op_put(1, "a", "1", 0, 1),
	    op_txn(cmp, 2, then_ops, 3, else_ops, 1, CHECK_BRANCH_THEN, 2, 3),
	    op_get(3, "a", NULL, 4, 5),
	    op_get(3, "b", "2", 6, 7),
	};
	assert_int_equal(run(ops, 4), CHECK_LINEARIZABLE);
	/* Else, while a certainly holds 1 and b is absent: the wrong branch. */
	ops[1].branch = CHECK_BRANCH_ELSE;
	ops[1].then_ops =
	    (struct check_subop[]){sub_put("b", "2"), sub_get("b", NULL), sub_del("a")};
	ops[1].else_ops = (struct check_subop[]){sub_get("a", "1")};
	ops[2].result = str("1");
	ops[3].result = none;
	assert_int_equal(run(ops, 4), CHECK_NOT_LINEARIZABLE);
	/* With the put of a concurrent, a may still be absent: else is right then. */
	ops[0].return_time = 10;
	ops[1].else_ops = (struct check_subop[]){sub_get("a", NULL)};
	assert_int_equal(run(ops, 4), CHECK_LINEARIZABLE);
}

/* Then {put a 5; put b 5}: a reader seeing one of the writes and not the other. */
static void test_txn_partial(void **state)
{
	(void)state;
	struct check_subop then_ops[] = {sub_put("a", "5"), sub_put("b", "5")};
	struct check_op ops[] = {
	    op_txn(NULL, 0, then_ops, 2, NULL, 0, CHECK_BRANCH_THEN, 0, 10),
	    op_get(1, "a", "5", 1, 2),
	    op_get(1, "b", NULL, 3, 4),
	};
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[2].result = str("5");
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	ops[1].result = none; /* both before it */
	ops[2].result = none;
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	/* Unknown: all or nothing still. */
	ops[0].ok = CHECK_OK_UNKNOWN;
	ops[0].branch = CHECK_BRANCH_UNOBSERVED;
	ops[1].result = str("5");
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[2].result = str("5");
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	/* Failed: nothing applied, so nothing may be seen. */
	ops[0].ok = CHECK_OK_FALSE;
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[1].result = none;
	ops[2].result = none;
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
}

/* A get inside the txn sees the sub-operations before it, in order. */
static void test_txn_read_own_write(void **state)
{
	(void)state;
	struct check_subop then_ops[] = {sub_get("a", "1"), sub_put("a", "7"), sub_get("a", "7"),
	                                 sub_del("a"), sub_get("a", NULL)};
	struct check_op ops[] = {
	    op_put(1, "a", "1", 0, 1),
	    op_txn(NULL, 0, then_ops, 5, NULL, 0, CHECK_BRANCH_THEN, 2, 3),
	};
	assert_int_equal(run(ops, 2), CHECK_LINEARIZABLE);
	then_ops[2].result = str("1"); /* misses the put before it */
	assert_int_equal(run(ops, 2), CHECK_NOT_LINEARIZABLE);
	then_ops[2].result = str("7");
	then_ops[4].result = str("7"); /* misses the delete */
	assert_int_equal(run(ops, 2), CHECK_NOT_LINEARIZABLE);
	then_ops[4].result = none;
	then_ops[0].result = str("7"); /* sees a write that comes after it */
	assert_int_equal(run(ops, 2), CHECK_NOT_LINEARIZABLE);
}

/* Unknown: either branch, as the state dictates, or never. */
static void test_txn_unknown(void **state)
{
	(void)state;
	struct check_compare cmp[] = {{str("a"), str("1")}};
	struct check_subop then_ops[] = {sub_put("b", "t")};
	struct check_subop else_ops[] = {sub_put("b", "e")};
	struct check_op ops[] = {
	    op_put(1, "a", "1", 0, 1),
	    op_txn(cmp, 1, then_ops, 1, else_ops, 1, CHECK_BRANCH_UNOBSERVED, 2, 2),
	    op_get(3, "b", "t", 4, 5),
	};
	ops[1].ok = CHECK_OK_UNKNOWN;
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	ops[2].result = none; /* never happened */
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	ops[2].result = str("e"); /* a was 1 from before its call: else is impossible */
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[0].return_time = 9; /* unless the put may come after it */
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	/* Known, branch unobserved: it happened, one way or the other. */
	ops[0].return_time = 1;
	ops[1].ok = CHECK_OK_TRUE;
	ops[1].return_time = 3;
	ops[2].result = none;
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[2].result = str("t");
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
}

/* A WATCH + MULTI/EXEC as the simulator records it: the value read before, as a compare that
 * held. A write of another client that must fall between read and EXEC breaks it. */
static void test_txn_watch(void **state)
{
	(void)state;
	struct check_compare cmp[] = {{str("a"), str("1")}};
	struct check_subop then_ops[] = {sub_put("a", "2")};
	struct check_op ops[] = {
	    op_put(1, "a", "1", 0, 1),
	    op_put(1, "a", "9", 2, 3),
	    op_txn(cmp, 1, then_ops, 1, NULL, 0, CHECK_BRANCH_THEN, 4, 5),
	};
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[1].call_time = 4; /* concurrent with the txn: it may come after */
	ops[1].return_time = 8;
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	/* Aborted: recorded as failed, nothing claimed. */
	ops[1].call_time = 2;
	ops[1].return_time = 3;
	ops[2].ok = CHECK_OK_FALSE;
	ops[2].branch = CHECK_BRANCH_UNOBSERVED;
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
}

/* A txn ties its keys into one group with the others that multi-key ops touch, and client
 * order holds across the group. */
static void test_txn_group(void **state)
{
	(void)state;
	struct check_subop then_ops[] = {sub_put("a", "1"), sub_put("c", "1")};
	struct check_op ops[] = {
	    op_txn(NULL, 0, then_ops, 2, NULL, 0, CHECK_BRANCH_THEN, 0, 10),
	    op_get(1, "c", "1", 1, 2),
	    op_get(1, "b", NULL, 1, 2),
	    op_get(4, "a", NULL, 3, 4),
	};
	struct check_result r;
	assert_int_equal(check_history_run(ops, 4, NULL, &r), 0);
	assert_int_equal(r.verdict, CHECK_NOT_LINEARIZABLE);
	assert_int_equal(r.key_count, 2); /* {a, c} and b */
	check_result_free(&r);
}

static void expect_invalid(const struct check_op *op, const char *words)
{
	char msg[160];
	assert_int_equal(check_op_validate(op, msg, sizeof(msg)), -EINVAL);
	if (strstr(msg, words) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", msg, words);
}

static void test_txn_validate(void **state)
{
	(void)state;
	char msg[160];
	struct check_compare cmp[] = {{str("a"), str("1")}};
	struct check_subop then_ops[] = {sub_put("b", "2"), sub_get("a", "1")};
	struct check_op ok = op_txn(cmp, 1, then_ops, 2, NULL, 0, CHECK_BRANCH_THEN, 0, 1);
	assert_int_equal(check_op_validate(&ok, msg, sizeof(msg)), 0);
	struct check_op op = ok;
	op.key = str("b");
	expect_invalid(&op, "first key");
	op = ok;
	op.ok = CHECK_OK_UNKNOWN;
	expect_invalid(&op, "no branch");
	op = ok;
	op.compare_count = 0;
	op.compares = NULL;
	op.key = str("b");
	op.branch = CHECK_BRANCH_ELSE;
	expect_invalid(&op, "cannot take else");
	op = ok;
	op.branch = CHECK_BRANCH_ELSE; /* then's get has a result, but then was not taken */
	expect_invalid(&op, "result");
	op = ok;
	op.value = str("x");
	expect_invalid(&op, "no value");
	struct check_subop bad[] = {{.kind = CHECK_KIND_CAS, .key = str("a"), .value = str("1")}};
	op = ok;
	op.then_ops = bad;
	op.then_count = 1;
	expect_invalid(&op, "get, put, delete or append");
	struct check_subop novalue[] = {{.kind = CHECK_KIND_PUT, .key = str("a")}};
	op.then_ops = novalue;
	expect_invalid(&op, "needs a string value");
	op = op_put(1, "a", "1", 0, 1);
	op.compares = cmp;
	op.compare_count = 1;
	expect_invalid(&op, "only txn");
	op = (struct check_op){.kind = CHECK_KIND_TXN, .key = str("a"), .return_time = 1};
	expect_invalid(&op, "must name a key");
}

static char *write_text(const struct check_op *ops, size_t n, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	assert_non_null(f);
	assert_int_equal(check_history_write(f, ops, n), 0);
	fclose(f);
	return text;
}

/* Written and parsed back, a txn is the same txn, and written again the same text. */
static void test_txn_roundtrip(void **state)
{
	(void)state;
	struct check_compare cmp[] = {{str("a"), str("1")}, {str("b\"q"), none}};
	struct check_subop then_ops[] = {
	    sub_put("b\"q", "2"),
	    sub_get("b\"q", "2"),
	    sub_del("a"),
	    {.kind = CHECK_KIND_APPEND, .key = str("c"), .value = str("x")}};
	struct check_subop else_ops[] = {sub_get("a", NULL)};
	struct check_op ops[] = {
	    op_put(1, "a", "1", 0, 1),
	    op_txn(cmp, 2, then_ops, 4, else_ops, 1, CHECK_BRANCH_THEN, 2, 3),
	    op_txn(cmp, 1, then_ops, 1, NULL, 0, CHECK_BRANCH_UNOBSERVED, 4, 4),
	};
	ops[2].ok = CHECK_OK_UNKNOWN;
	size_t len, len2;
	char *text = write_text(ops, 3, &len);
	struct check_history h;
	struct check_error err;
	assert_int_equal(check_history_parse(text, len, &h, &err), 0);
	assert_int_equal(h.op_count, 3);
	const struct check_op *t = &h.ops[1];
	assert_int_equal(t->kind, CHECK_KIND_TXN);
	assert_int_equal(t->compare_count, 2);
	assert_int_equal(t->then_count, 4);
	assert_int_equal(t->else_count, 1);
	assert_int_equal(t->branch, CHECK_BRANCH_THEN);
	assert_false(t->compares[1].value.present);
	assert_int_equal(t->then_ops[3].kind, CHECK_KIND_APPEND);
	assert_memory_equal(t->then_ops[1].result.bytes, "2", 1);
	assert_false(t->else_ops[0].result.present);
	assert_int_equal(h.ops[2].branch, CHECK_BRANCH_UNOBSERVED);
	assert_int_equal(h.ops[2].else_count, 0);
	char *again = write_text(h.ops, h.op_count, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(text, again, len);
	assert_int_equal(run(h.ops, h.op_count), CHECK_LINEARIZABLE);
	check_history_free(&h);
	free(text);
	free(again);
}

static void expect_bad_line(const char *line, const char *words)
{
	struct check_history h;
	struct check_error err;
	assert_int_equal(check_history_parse(line, strlen(line), &h, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	if (strstr(err.message, words) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.message, words);
}

/* Malformed txn lines are refused with a message that says what is wrong. */
static void test_txn_parse_errors(void **state)
{
	(void)state;
#define TXN_HEAD "{\"client\":1,\"op\":\"txn\",\"key\":\"a\","
#define TXN_TAIL ",\"ok\":true,\"call\":0,\"return\":1}"
	expect_bad_line(TXN_HEAD "\"compares\":{}" TXN_TAIL, "array of objects");
	expect_bad_line(TXN_HEAD "\"compares\":[\"a\"]" TXN_TAIL, "array of objects");
	expect_bad_line(TXN_HEAD "\"compares\":[{\"value\":\"1\"}]" TXN_TAIL, "needs a string");
	expect_bad_line(TXN_HEAD "\"then\":[{\"key\":\"a\"}]" TXN_TAIL, "needs an \"op\"");
	expect_bad_line(TXN_HEAD "\"then\":[{\"op\":\"mset\",\"key\":\"a\"}]" TXN_TAIL,
	                "get, put, delete or append");
	expect_bad_line(TXN_HEAD "\"then\":[{\"op\":\"frob\",\"key\":\"a\"}]" TXN_TAIL,
	                "unknown op");
	expect_bad_line(TXN_HEAD "\"then\":[{\"op\":\"put\",\"key\":\"a\",\"key\":\"b\"}]" TXN_TAIL,
	                "twice");
	expect_bad_line(TXN_HEAD "\"then\":[{\"op\":\"put\",\"key\":\"a\",\"value\":1}]" TXN_TAIL,
	                "string or null");
	expect_bad_line(TXN_HEAD
	                "\"then\":[{\"op\":\"get\",\"key\":\"a\"}],\"branch\":\"maybe\"" TXN_TAIL,
	                "\"branch\"");
	expect_bad_line(TXN_HEAD "\"then\":[{\"op\":\"get\",\"key\":\"b\"}]" TXN_TAIL, "first key");
	expect_bad_line(TXN_HEAD "\"then\":[]" TXN_TAIL, "must name a key");
	expect_bad_line("{\"client\":1,\"op\":\"put\",\"key\":\"a\",\"value\":\"1\",\"then\":[]"
	                ",\"ok\":true,\"call\":0,\"return\":1}",
	                "txn");
	expect_bad_line("{\"client\":1,\"op\":\"txn\",\"key\":\"a\",\"then\":[{\"op\":\"get\","
	                "\"key\":\"a\"}],\"branch\":\"then\",\"ok\":\"unknown\",\"call\":0}",
	                "no branch");
#undef TXN_HEAD
#undef TXN_TAIL
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_txn_branch),         cmocka_unit_test(test_txn_partial),
	    cmocka_unit_test(test_txn_read_own_write), cmocka_unit_test(test_txn_unknown),
	    cmocka_unit_test(test_txn_watch),          cmocka_unit_test(test_txn_group),
	    cmocka_unit_test(test_txn_validate),       cmocka_unit_test(test_txn_roundtrip),
	    cmocka_unit_test(test_txn_parse_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
