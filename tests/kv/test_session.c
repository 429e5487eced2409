/* test_session.c: exactly-once writes through client sessions (Raft thesis 6.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "kv.pb-c.h"

#include <stdlib.h>
#include <string.h>

static uint64_t open_at(struct kv *kv, uint64_t time_ms)
{
	struct kv_cmd c = {.op = KV_OP_SESSION_OPEN, .time_ms = time_ms};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	/* The id is the log index of the open command. */
	assert_int_equal(r.client_id, kv_applied_index(kv));
	return r.client_id;
}

static int incr_as(struct kv *kv, uint64_t client, uint64_t seq, uint64_t time_ms,
                   struct kv_reply *r)
{
	struct kv_cmd c = {.op = KV_OP_INCRBY,
	                   .client_id = client,
	                   .seq = seq,
	                   .time_ms = time_ms,
	                   .put = {.key = "n", .key_len = 1},
	                   .delta = 1};
	return th_do(kv, &c, r);
}

static int noop_at(struct kv *kv, uint64_t time_ms)
{
	struct kv_cmd c = {.op = KV_OP_NOOP, .time_ms = time_ms};
	return th_do(kv, &c, NULL);
}

static void test_retry_applied_once(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	uint64_t id = open_at(kv, 1000);
	struct kv_reply r1, r2;
	assert_int_equal(incr_as(kv, id, 1, 1000, &r1), KV_OK);
	assert_int_equal(r1.integer, 1);
	assert_false(r1.duplicate);
	/* Other clients write in between. */
	assert_int_equal(th_set(kv, "other", "x"), KV_OK);
	/* The retry (after a timeout, a reconnect, a new leader) is answered as the first
	 * time, revision included, and does not increment again. */
	assert_int_equal(incr_as(kv, id, 1, 1100, &r2), KV_OK);
	assert_true(r2.duplicate);
	assert_int_equal(r2.integer, 1);
	assert_int_equal(r2.revision, r1.revision);
	assert_int_equal(r2.mod_revision, r1.mod_revision);
	assert_int_equal(th_is(kv, "n", "1"), 1);
	assert_int_equal(kv_revision(kv), 2);

	assert_int_equal(incr_as(kv, id, 2, 1200, &r1), KV_OK);
	assert_int_equal(r1.integer, 2);
	/* Gaps in the numbering are allowed: numbers only have to increase. */
	assert_int_equal(incr_as(kv, id, 5, 1200, &r1), KV_OK);
	assert_int_equal(r1.integer, 3);
	/* An older number than the last applied: a clear error, no effect. */
	assert_int_equal(incr_as(kv, id, 4, 1300, &r2), KV_ESTALE);
	assert_int_equal(incr_as(kv, id, 1, 1300, &r2), KV_ESTALE);
	assert_int_equal(th_is(kv, "n", "3"), 1);
	/* The last one is still answered from the session. */
	assert_int_equal(incr_as(kv, id, 5, 1300, &r2), KV_OK);
	assert_true(r2.duplicate);
	assert_int_equal(r2.integer, 3);
	/* Sequence number 0 is not a sequence number (the builder refuses it too). */
	Concord__Kv__IncrBy incr = CONCORD__KV__INCR_BY__INIT;
	incr.key.data = (uint8_t *)"n";
	incr.key.len = 1;
	incr.delta = 1;
	Concord__Kv__Command raw = CONCORD__KV__COMMAND__INIT;
	raw.client_id = id;
	raw.op_case = CONCORD__KV__COMMAND__OP_INCRBY;
	raw.incrby = &incr;
	uint8_t buf[64];
	size_t len = concord__kv__command__pack(&raw, buf);
	assert_int_equal(kv_apply(kv, kv_applied_index(kv) + 1, buf, len, &r2), KV_EINVAL);
	assert_int_equal(th_is(kv, "n", "3"), 1);
	assert_int_equal(incr_as(kv, id, 5, 1300, &r2), KV_OK); /* the session is unmoved */
	assert_true(r2.duplicate);
	kv_free(kv);
}

static void test_error_replies_remembered(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	uint64_t id = open_at(kv, 0);
	assert_int_equal(th_set(kv, "n", "not a number"), KV_OK);
	struct kv_reply r;
	assert_int_equal(incr_as(kv, id, 1, 0, &r), KV_ENOTINT);
	assert_int_equal(th_set(kv, "n", "41"), KV_OK);
	/* The retry gets the original answer although it would now succeed. */
	assert_int_equal(incr_as(kv, id, 1, 0, &r), KV_ENOTINT);
	assert_true(r.duplicate);
	assert_int_equal(th_is(kv, "n", "41"), 1);
	assert_int_equal(incr_as(kv, id, 2, 0, &r), KV_OK);
	assert_int_equal(r.integer, 42);

	/* A failed condition is an answer too. */
	struct kv_cmd c = {.op = KV_OP_SET,
	                   .client_id = id,
	                   .seq = 3,
	                   .put = {.key = "n",
	                           .key_len = 1,
	                           .value = "x",
	                           .value_len = 1,
	                           .cond = {.kind = KV_COND_ABSENT}}};
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.succeeded);
	assert_int_equal(th_del(kv, "n"), KV_OK);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.duplicate);
	assert_false(r.succeeded);
	assert_false(kv_exists(kv, "n", 1));
	kv_free(kv);
}

static void test_expiry_by_log_time(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.session_timeout_ms = 1000;
	struct kv *kv = th_kv_new_cfg(&cfg);
	uint64_t a = open_at(kv, 10000);
	uint64_t b = open_at(kv, 10000);
	struct kv_reply r;
	assert_int_equal(incr_as(kv, a, 1, 10500, &r), KV_OK);
	/* Exactly the timeout idle: still alive. */
	assert_int_equal(noop_at(kv, 11000), KV_OK);
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.sessions, 2);
	/* b idle 1001 ms of log time: gone at the next command, whoever sends it. */
	assert_int_equal(noop_at(kv, 11001), KV_OK);
	kv_stats(kv, &st);
	assert_int_equal(st.sessions, 1);
	struct kv_cmd k = {.op = KV_OP_SESSION_KEEPALIVE, .client_id = a, .time_ms = 11400};
	assert_int_equal(th_do(kv, &k, &r), KV_OK);
	/* A command stamped by a leader whose clock lags does not move log time back. */
	assert_int_equal(noop_at(kv, 5000), KV_OK);
	assert_int_equal(kv_now_ms(kv), 11400);
	assert_int_equal(incr_as(kv, b, 1, 11400, &r), KV_ESESSION);
	assert_int_equal(incr_as(kv, a, 2, 12400, &r), KV_OK);
	/* The local clock plays no part: only the stamps in the commands. */
	assert_int_equal(noop_at(kv, 13401), KV_OK);
	/* a's retry after expiry: refused, not applied again. */
	assert_int_equal(incr_as(kv, a, 2, 13401, &r), KV_ESESSION);
	assert_false(r.duplicate);
	assert_int_equal(th_is(kv, "n", "2"), 1);
	kv_stats(kv, &st);
	assert_int_equal(st.sessions, 0);
	kv_free(kv);
}

static void test_close_and_misuse(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	uint64_t id = open_at(kv, 0);
	struct kv_reply r;
	struct kv_cmd close = {.op = KV_OP_SESSION_CLOSE, .client_id = id};
	assert_int_equal(th_do(kv, &close, &r), KV_OK);
	assert_int_equal(incr_as(kv, id, 1, 0, &r), KV_ESESSION);
	assert_int_equal(th_do(kv, &close, &r), KV_ESESSION);
	assert_int_equal(incr_as(kv, 424242, 1, 0, &r), KV_ESESSION);
	/* Opening names no id; closing and keepalive need one. */
	void *buf;
	size_t len;
	struct kv_cmd bad = {.op = KV_OP_SESSION_OPEN, .client_id = 7};
	assert_int_equal(kv_cmd_encode(&bad, NULL, &buf, &len), KV_EINVAL);
	bad.op = KV_OP_SESSION_CLOSE;
	bad.client_id = 0;
	assert_int_equal(kv_cmd_encode(&bad, NULL, &buf, &len), KV_EINVAL);
	bad.op = KV_OP_SESSION_KEEPALIVE;
	assert_int_equal(kv_cmd_encode(&bad, NULL, &buf, &len), KV_EINVAL);
	/* Sessions ids are never reused: a new open gets a new index. */
	uint64_t id2 = open_at(kv, 0);
	assert_true(id2 > id);
	kv_free(kv);
}

static void test_session_limit_evicts_lru(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.sessions_max = 3;
	struct kv *kv = th_kv_new_cfg(&cfg);
	uint64_t s1 = open_at(kv, 100);
	uint64_t s2 = open_at(kv, 200);
	uint64_t s3 = open_at(kv, 300);
	struct kv_reply r;
	assert_int_equal(incr_as(kv, s1, 1, 400, &r), KV_OK); /* s1 most recent now */
	uint64_t s4 = open_at(kv, 500);                       /* evicts s2 */
	assert_int_equal(incr_as(kv, s2, 1, 600, &r), KV_ESESSION);
	assert_int_equal(incr_as(kv, s3, 1, 600, &r), KV_OK);
	assert_int_equal(incr_as(kv, s1, 2, 600, &r), KV_OK);
	assert_int_equal(incr_as(kv, s4, 1, 600, &r), KV_OK);
	/* Equal activity times: the order of activity decides (s3, s1, s4). */
	uint64_t s5 = open_at(kv, 600); /* evicts s3 */
	assert_int_equal(incr_as(kv, s3, 2, 600, &r), KV_ESESSION);
	assert_int_equal(incr_as(kv, s5, 1, 600, &r), KV_OK);
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.sessions, 3);
	kv_free(kv);
}

static void test_many_sessions(void **state)
{
	(void)state;
	/* Enough sessions to grow and churn the table (opens, closes, expiry, eviction). */
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.sessions_max = 500;
	cfg.session_timeout_ms = 100000;
	struct kv *kv = th_kv_new_cfg(&cfg);
	uint64_t ids[2000];
	for (int i = 0; i < 2000; i++) {
		ids[i] = open_at(kv, (uint64_t)i * 10);
		struct kv_reply r;
		assert_int_equal(incr_as(kv, ids[i], 1, (uint64_t)i * 10, &r), KV_OK);
		if (i % 3 == 0) {
			struct kv_cmd c = {.op = KV_OP_SESSION_CLOSE,
			                   .client_id = ids[i],
			                   .time_ms = (uint64_t)i * 10};
			assert_int_equal(th_do(kv, &c, NULL), KV_OK);
		}
	}
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_true(st.sessions <= 500);
	/* The newest survivors all answer duplicates; the oldest are gone. */
	int alive = 0;
	for (int i = 0; i < 2000; i++) {
		struct kv_reply r;
		int rv = incr_as(kv, ids[i], 1, 20000, &r);
		if (rv == KV_OK) {
			assert_true(r.duplicate);
			alive++;
		} else {
			assert_int_equal(rv, KV_ESESSION);
		}
	}
	assert_int_equal((uint64_t)alive, st.sessions);
	assert_int_equal(th_is(kv, "n", "2000"), 1);
	kv_free(kv);
}

static void test_sessions_in_snapshot(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.session_timeout_ms = 1000;
	struct kv *kv = th_kv_new_cfg(&cfg);
	uint64_t a = open_at(kv, 100);
	uint64_t b = open_at(kv, 200);
	struct kv_reply r;
	assert_int_equal(incr_as(kv, a, 1, 300, &r), KV_OK);
	assert_int_equal(incr_as(kv, b, 7, 400, &r), KV_OK);

	/* A node restored from the snapshot answers the retries as the original would. */
	size_t len;
	void *snap = th_snapshot(kv, &len);
	struct kv *copy = th_kv_new_cfg(&cfg);
	assert_int_equal(kv_snapshot_read_buf(copy, snap, len), KV_OK);
	free(snap);
	assert_int_equal(kv_now_ms(copy), 400);
	assert_int_equal(incr_as(copy, a, 1, 450, &r), KV_OK);
	assert_true(r.duplicate);
	assert_int_equal(r.integer, 1);
	assert_int_equal(incr_as(copy, b, 6, 900, &r), KV_ESTALE);
	/* Expiry continues from the snapshot's log time and activity order. */
	assert_int_equal(noop_at(copy, 1451), KV_OK);
	assert_int_equal(incr_as(copy, a, 2, 1451, &r), KV_ESESSION);
	assert_int_equal(incr_as(copy, b, 8, 1451, &r), KV_OK);
	kv_free(copy);
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_applied_once),
	    cmocka_unit_test(test_error_replies_remembered),
	    cmocka_unit_test(test_expiry_by_log_time),
	    cmocka_unit_test(test_close_and_misuse),
	    cmocka_unit_test(test_session_limit_evicts_lru),
	    cmocka_unit_test(test_many_sessions),
	    cmocka_unit_test(test_sessions_in_snapshot),
	};
	return cmocka_run_group_tests_name("kv sessions", tests, NULL, NULL);
}
