/* test_txn.c: transactions (KV_OP_TXN): atomicity, guards, reads inside, limits, sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define K(s) {.data = s, .len = sizeof(s) - 1}
#define PUT(k, v) {.key = k, .key_len = sizeof(k) - 1, .value = v, .value_len = sizeof(v) - 1}
/* clang-format on */

static struct kv_cmd op_set(const char *k, const char *v)
{
	return (struct kv_cmd){
	    .op = KV_OP_SET,
	    .put = {.key = k, .key_len = strlen(k), .value = v, .value_len = strlen(v)}};
}

static struct kv_cmd op_key(enum kv_op op, const char *k)
{
	return (struct kv_cmd){.op = op, .put = {.key = k, .key_len = strlen(k)}};
}

static uint64_t mod_rev(struct kv *kv, const char *k)
{
	struct kv_value v;
	return kv_get(kv, k, strlen(k), 0, &v) == KV_OK ? v.mod_revision : 0;
}

static void assert_value(const struct kv_txn_item *it, size_t i, const char *want)
{
	assert_true(i < it->n_values);
	if (want == NULL) {
		assert_false(it->values[i].present);
		return;
	}
	assert_true(it->values[i].present);
	assert_int_equal(it->values[i].len, strlen(want));
	assert_memory_equal(it->values[i].data, want, strlen(want));
}

/* Reads see the writes before them; every write takes one revision. */
static void test_reads_see_earlier_writes(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "a", "1"), KV_OK);
	uint64_t rev0 = kv_revision(kv);
	struct kv_cmd incr = op_key(KV_OP_INCRBY, "a");
	incr.delta = 41;
	struct kv_cmd app = {.op = KV_OP_APPEND, .put = PUT("b", "xy")};
	struct kv_key dk[] = {K("a")};
	struct kv_key mk[] = {K("a"), K("b"), K("zz")};
	struct kv_cmd ops[] = {
	    op_key(KV_OP_GET, "a"),
	    incr,
	    op_key(KV_OP_GET, "a"),
	    app,
	    {.op = KV_OP_MGET, .n = 3, .keys = mk},
	    {.op = KV_OP_DEL, .n = 1, .keys = dk},
	    {.op = KV_OP_EXISTS, .n = 3, .keys = mk},
	    op_key(KV_OP_STRLEN, "b"),
	};
	struct kv_cmd t = {.op = KV_OP_TXN, .n_ops = 8, .ops = ops};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &t, &r), KV_OK);
	assert_true(r.succeeded);
	assert_non_null(r.txn);
	assert_int_equal(r.txn->n, 8);
	const struct kv_txn_item *it = r.txn->items;
	assert_value(&it[0], 0, "1");
	assert_int_equal(it[1].integer, 42);
	assert_value(&it[2], 0, "42");
	assert_int_equal(it[3].integer, 2);
	assert_value(&it[4], 0, "42");
	assert_value(&it[4], 1, "xy");
	assert_value(&it[4], 2, NULL);
	assert_int_equal(it[5].integer, 1);
	assert_int_equal(it[6].integer, 1);
	assert_int_equal(it[7].integer, 2);
	/* One command, one revision, final state only. */
	assert_int_equal(kv_revision(kv), rev0 + 1);
	assert_int_equal(r.mod_revision, rev0 + 1);
	assert_int_equal(th_is(kv, "a", "42"), -1);
	assert_int_equal(th_is(kv, "b", "xy"), 1);
	assert_int_equal(mod_rev(kv, "b"), rev0 + 1);
	kv_free(kv);
}

/* A failed guard applies nothing; a held one lets everything through. */
static void test_guard(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "w", "1"), KV_OK);
	uint64_t watched = mod_rev(kv, "w");
	assert_int_equal(th_set(kv, "w", "2"), KV_OK); /* someone else's write */
	uint64_t rev = kv_revision(kv);
	struct kv_cmd ops[] = {op_set("x", "1"), op_set("w", "3")};
	struct kv_guard g[] = {{"absent", 6, 0}, {"w", 1, watched}};
	struct kv_cmd t = {.op = KV_OP_TXN, .n_guards = 2, .guards = g, .n_ops = 2, .ops = ops};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &t, &r), KV_OK);
	assert_false(r.succeeded);
	assert_null(r.txn);
	assert_int_equal(r.failed_index, 1);
	assert_int_equal(kv_revision(kv), rev);
	assert_int_equal(th_is(kv, "x", "1"), -1);
	assert_int_equal(th_is(kv, "w", "2"), 1);
	g[1].mod_revision = mod_rev(kv, "w");
	assert_int_equal(th_do(kv, &t, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(th_is(kv, "x", "1"), 1);
	assert_int_equal(th_is(kv, "w", "3"), 1);
	/* An absent key's guard is 0; it fails once the key exists. */
	struct kv_guard ga[] = {{"x", 1, 0}};
	struct kv_cmd ta = {.op = KV_OP_TXN, .n_guards = 1, .guards = ga, .n_ops = 1, .ops = ops};
	assert_int_equal(th_do(kv, &ta, &r), KV_OK);
	assert_false(r.succeeded);
	kv_free(kv);
}

/* A failing sub-command answers its error; the rest still applies (Redis semantics). */
static void test_sub_error_and_set_then_delete(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "s", "text"), KV_OK);
	uint64_t rev = kv_revision(kv);
	struct kv_cmd incr = op_key(KV_OP_INCRBY, "s");
	incr.delta = 1;
	struct kv_key dk[] = {K("tmp")};
	struct kv_cmd nx = op_set("s", "no");
	nx.put.cond.kind = KV_COND_ABSENT;
	struct kv_cmd ops[] = {
	    incr, op_set("tmp", "1"), {.op = KV_OP_DEL, .n = 1, .keys = dk}, nx, op_set("ok", "1")};
	struct kv_cmd t = {.op = KV_OP_TXN, .n_ops = 5, .ops = ops};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &t, &r), KV_OK);
	assert_int_equal(r.txn->items[0].code, KV_ENOTINT);
	assert_int_equal(r.txn->items[2].integer, 1);
	assert_false(r.txn->items[3].succeeded);
	assert_true(r.txn->items[4].succeeded);
	assert_int_equal(th_is(kv, "tmp", "1"), -1);
	assert_int_equal(th_is(kv, "s", "text"), 1);
	assert_int_equal(th_is(kv, "ok", "1"), 1);
	assert_int_equal(kv_revision(kv), rev + 1);
	/* Nothing written at all: no revision taken. */
	struct kv_cmd ro[] = {op_key(KV_OP_GET, "s")};
	struct kv_cmd tr = {.op = KV_OP_TXN, .n_ops = 1, .ops = ro};
	assert_int_equal(th_do(kv, &tr, &r), KV_OK);
	assert_int_equal(kv_revision(kv), rev + 1);
	kv_free(kv);
}

/* The same transactions on two stores give byte-identical snapshots. */
static void test_deterministic(void **state)
{
	(void)state;
	struct kv *a = th_kv_new(), *b = th_kv_new();
	for (int round = 0; round < 50; round++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", round % 7);
		struct kv_cmd incr = op_key(KV_OP_INCRBY, "n");
		incr.delta = round;
		struct kv_key dk[] = {{k, strlen(k)}};
		struct kv_cmd ops[] = {op_set(k, "v"),
		                       incr,
		                       {.op = KV_OP_DEL, .n = round % 3 == 0, .keys = dk},
		                       op_key(KV_OP_GET, "n")};
		size_t n = round % 3 == 0 ? 4 : 2;
		if (n == 2)
			ops[1] = ops[3];
		struct kv_cmd t = {.op = KV_OP_TXN, .n_ops = n, .ops = ops};
		struct kv_reply ra, rb;
		assert_int_equal(th_do(a, &t, &ra), KV_OK);
		assert_int_equal(th_do(b, &t, &rb), KV_OK);
		assert_int_equal(ra.revision, rb.revision);
	}
	assert_true(th_same_state(a, b));
	/* And a snapshot restores it. */
	size_t len;
	void *snap = th_snapshot(a, &len);
	struct kv *c = th_kv_new();
	assert_int_equal(kv_snapshot_read_buf(c, snap, len), KV_OK);
	assert_true(th_same_state(a, c));
	free(snap);
	kv_free(a);
	kv_free(b);
	kv_free(c);
}

static void test_limits(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.limits.txn_ops_max = 4;
	cfg.limits.txn_bytes_max = 64;
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct kv_cmd ops[5];
	for (int i = 0; i < 5; i++)
		ops[i] = op_set("k", "v");
	struct kv_cmd t = {.op = KV_OP_TXN, .n_ops = 5, .ops = ops};
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&t, &cfg.limits, &buf, &len), KV_ETOOMANY);
	struct kv_reply r;
	assert_int_equal(th_do_unchecked(kv, &t, &r), KV_ETOOMANY);
	assert_int_equal(th_is(kv, "k", "v"), -1);
	char big[80];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct kv_cmd one[] = {op_set("k", big)};
	struct kv_cmd tb = {.op = KV_OP_TXN, .n_ops = 1, .ops = one};
	assert_int_equal(kv_cmd_encode(&tb, &cfg.limits, &buf, &len), KV_EVALUETOOBIG);
	/* Reads are bounded too: two GETs of a 40-byte value pass 64 bytes. */
	assert_int_equal(th_set(kv, "big", "0123456789012345678901234567890123456789"), KV_OK);
	struct kv_cmd gets[] = {op_key(KV_OP_GET, "big"), op_key(KV_OP_GET, "big")};
	struct kv_cmd tg = {.op = KV_OP_TXN, .n_ops = 2, .ops = gets};
	assert_int_equal(th_do(kv, &tg, &r), KV_OK);
	assert_int_equal(r.txn->items[0].code, KV_OK);
	assert_int_equal(r.txn->items[1].code, KV_EVALUETOOBIG);
	/* Reads and nested transactions are refused outside/inside. */
	struct kv_cmd get = op_key(KV_OP_GET, "k");
	assert_int_equal(kv_cmd_encode(&get, NULL, &buf, &len), KV_EINVAL);
	struct kv_cmd nested[] = {tg};
	struct kv_cmd tn = {.op = KV_OP_TXN, .n_ops = 1, .ops = nested};
	assert_int_equal(kv_cmd_encode(&tn, NULL, &buf, &len), KV_EINVAL);
	kv_free(kv);
}

/* Under a session a transaction is one command: its retry applies nothing again. */
static void test_session_retry(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_cmd open = {.op = KV_OP_SESSION_OPEN};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &open, &r), KV_OK);
	uint64_t id = r.client_id;
	struct kv_cmd incr = op_key(KV_OP_INCRBY, "n");
	incr.delta = 5;
	struct kv_cmd ops[] = {incr, op_key(KV_OP_GET, "n")};
	struct kv_cmd t = {.op = KV_OP_TXN, .client_id = id, .seq = 1, .n_ops = 2, .ops = ops};
	assert_int_equal(th_do(kv, &t, &r), KV_OK);
	assert_false(r.duplicate);
	assert_value(&r.txn->items[1], 0, "5");
	uint64_t rev = kv_revision(kv);
	assert_int_equal(th_do(kv, &t, &r), KV_OK);
	assert_true(r.duplicate);
	assert_true(r.succeeded);
	assert_null(r.txn);
	assert_int_equal(kv_revision(kv), rev);
	assert_int_equal(th_is(kv, "n", "5"), 1);
	t.seq = 2;
	assert_int_equal(th_do(kv, &t, &r), KV_OK);
	assert_int_equal(th_is(kv, "n", "10"), 1);
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads_see_earlier_writes),
	    cmocka_unit_test(test_guard),
	    cmocka_unit_test(test_sub_error_and_set_then_delete),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_session_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
