/* test_range.c: ranges with etcd's rules (single key, [key, end), "\0" ends, prefixes, limits,
 * counts, revisions) and DELRANGE (one revision, counts, prev kvs, reserved keys kept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
	char keys[64][16];
	size_t n;
};

static int collect(void *arg, const struct kv_value *v)
{
	struct got *g = arg;
	assert_true(g->n < 64);
	assert_true(v->key_len < 16);
	memcpy(g->keys[g->n], v->key, v->key_len);
	g->keys[g->n][v->key_len] = '\0';
	g->n++;
	return 0;
}

/* Reads the range [key, end) (end NULL: the key alone; end_len given for "\0") and returns
 * the keys as one space-separated string in `buf`. */
static const char *range(struct kv *kv, const char *key, const void *end, size_t end_len,
                         size_t limit, uint64_t rev, uint64_t *count, bool *more, char *buf)
{
	struct kv_range r = {key, strlen(key), end, end_len};
	struct kv_range_opts o = {.revision = rev, .limit = limit, .skip_reserved = true};
	struct got g = {.n = 0};
	assert_int_equal(kv_range_read(kv, &r, &o, collect, &g, count, more), KV_OK);
	buf[0] = '\0';
	for (size_t i = 0; i < g.n; i++) {
		strcat(buf, i ? " " : "");
		strcat(buf, g.keys[i]);
	}
	return buf;
}

#define E(s) s, sizeof(s) - 1

static struct kv *fill(void)
{
	struct kv *kv = th_kv_new();
	const char *keys[] = {"a", "a/1", "a/2", "a\xff", "b", "c", "d"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(th_set(kv, keys[i], "v"), KV_OK);
	return kv;
}

static void test_range_reads(void **state)
{
	(void)state;
	struct kv *kv = fill();
	char buf[512];
	uint64_t n;
	bool more;
	assert_string_equal(range(kv, "b", NULL, 0, 0, 0, &n, &more, buf), "b");
	assert_int_equal(n, 1);
	assert_string_equal(range(kv, "bb", NULL, 0, 0, 0, &n, &more, buf), "");
	assert_int_equal(n, 0);
	assert_string_equal(range(kv, "a/", E("c"), 0, 0, &n, &more, buf), "a/1 a/2 a\xff b");
	assert_string_equal(range(kv, "b", E("\0"), 0, 0, &n, &more, buf), "b c d");
	assert_string_equal(range(kv, "", E("\0"), 0, 0, &n, &more, buf), "a a/1 a/2 a\xff b c d");
	assert_string_equal(range(kv, "c", E("b"), 0, 0, &n, &more, buf), ""); /* end <= key */
	assert_string_equal(range(kv, "c", E("c"), 0, 0, &n, &more, buf), "");
	/* Limit: the count covers the whole range. */
	assert_string_equal(range(kv, "a", E("\0"), 2, 0, &n, &more, buf), "a a/1");
	assert_int_equal(n, 7);
	assert_true(more);
	assert_string_equal(range(kv, "a", E("\0"), 7, 0, &n, &more, buf), "a a/1 a/2 a\xff b c d");
	assert_false(more);
	/* Prefixes. */
	unsigned char end[8];
	size_t el = kv_prefix_end("a/", 2, end);
	assert_int_equal(el, 2);
	assert_memory_equal(end, "a0", 2);
	assert_string_equal(range(kv, "a/", end, el, 0, 0, &n, &more, buf), "a/1 a/2");
	el = kv_prefix_end("a\xff", 2, end);
	assert_int_equal(el, 1);
	assert_memory_equal(end, "b", 1);
	assert_string_equal(range(kv, "a\xff", end, el, 0, 0, &n, &more, buf), "a\xff");
	el = kv_prefix_end("\xff\xff", 2, end);
	assert_int_equal(el, 1);
	assert_int_equal(end[0], 0);
	el = kv_prefix_end("", 0, end);
	assert_int_equal(el, 1);
	assert_int_equal(end[0], 0);
	/* Count only: fn NULL. */
	struct kv_range r = {"a", 1, "b", 1};
	struct kv_range_opts o = {.skip_reserved = true};
	assert_int_equal(kv_range_read(kv, &r, &o, NULL, NULL, &n, &more), KV_OK);
	assert_int_equal(n, 4);
	assert_false(more);
	kv_free(kv);
}

static void test_range_revisions_and_errors(void **state)
{
	(void)state;
	struct kv *kv = fill();
	uint64_t rev = kv_revision(kv);
	assert_int_equal(th_del(kv, "b"), KV_OK);
	assert_int_equal(th_set(kv, "bb", "v"), KV_OK);
	char buf[512];
	uint64_t n;
	bool more;
	assert_string_equal(range(kv, "b", E("c"), 0, 0, &n, &more, buf), "bb");
	assert_string_equal(range(kv, "b", E("c"), 0, rev, &n, &more, buf), "b");
	assert_string_equal(range(kv, "b", NULL, 0, 0, rev, &n, &more, buf), "b");
	assert_string_equal(range(kv, "b", NULL, 0, 0, 0, &n, &more, buf), "");
	struct kv_range r = {"a", 1, NULL, 0};
	struct kv_range_opts o = {.revision = kv_revision(kv) + 1};
	assert_int_equal(kv_range_read(kv, &r, &o, NULL, NULL, &n, &more), KV_EFUTURE);
	assert_int_equal(kv_compact(kv, rev), KV_OK);
	o.revision = rev - 1;
	assert_int_equal(kv_range_read(kv, &r, &o, NULL, NULL, &n, &more), KV_ECOMPACTED);
	char big[KV_DEFAULT_KEY_BYTES + 1];
	memset(big, 'x', sizeof(big));
	r = (struct kv_range){big, sizeof(big), NULL, 0};
	o.revision = 0;
	assert_int_equal(kv_range_read(kv, &r, &o, NULL, NULL, &n, &more), KV_EKEYTOOBIG);
	kv_free(kv);
}

static int delrange(struct kv *kv, const char *key, const void *end, size_t end_len, bool prev,
                    struct kv_reply *r)
{
	struct kv_cmd c = {.op = KV_OP_DELRANGE,
	                   .put = {.key = key, .key_len = strlen(key)},
	                   .range_end = end,
	                   .range_end_len = end_len,
	                   .prev_kv = prev};
	return th_do(kv, &c, r);
}

static void test_delrange_one_revision(void **state)
{
	(void)state;
	struct kv *kv = fill();
	uint64_t rev = kv_revision(kv);
	struct kv_reply r;
	assert_int_equal(delrange(kv, "a/", E("b"), true, &r), KV_OK);
	assert_int_equal(r.integer, 3);
	assert_true(r.existed);
	assert_int_equal(r.revision, rev + 1);
	assert_int_equal(r.mod_revision, rev + 1);
	assert_int_equal(r.n_prev_kvs, 3);
	assert_memory_equal(r.prev_kvs[0].key, "a/1", 3);
	assert_memory_equal(r.prev_kvs[2].key, "a\xff", 2);
	assert_memory_equal(r.prev_kvs[2].value, "v", 1);
	assert_false(r.prev_kvs_truncated);
	char buf[512];
	uint64_t n;
	bool more;
	assert_string_equal(range(kv, "", E("\0"), 0, 0, &n, &more, buf), "a b c d");
	assert_string_equal(range(kv, "", E("\0"), 0, rev, &n, &more, buf),
	                    "a a/1 a/2 a\xff b c d");
	/* Nothing to delete: no revision. */
	assert_int_equal(delrange(kv, "a/", E("b"), false, &r), KV_OK);
	assert_int_equal(r.integer, 0);
	assert_int_equal(r.revision, rev + 1);
	assert_null(r.prev_kvs);
	/* A single key, then everything from c on. */
	assert_int_equal(delrange(kv, "a", NULL, 0, false, &r), KV_OK);
	assert_int_equal(r.integer, 1);
	assert_int_equal(delrange(kv, "c", E("\0"), false, &r), KV_OK);
	assert_int_equal(r.integer, 2);
	assert_int_equal(r.revision, rev + 3);
	assert_string_equal(range(kv, "", E("\0"), 0, 0, &n, &more, buf), "b");
	kv_free(kv);
}

/* Reserved keys survive a range over everything, and are not counted. */
static void test_delrange_keeps_reserved(void **state)
{
	(void)state;
	struct kv *kv = fill();
	struct kv_cmd c = {.op = KV_OP_SET,
	                   .put = {.key = KV_MEMBER_PREFIX "1",
	                           .key_len = KV_MEMBER_PREFIX_LEN + 1,
	                           .value = "x",
	                           .value_len = 1}};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	uint64_t n;
	bool more;
	char buf[512];
	range(kv, "", E("\0"), 0, 0, &n, &more, buf);
	assert_int_equal(n, 7);
	assert_int_equal(delrange(kv, "", E("\0"), true, &r), KV_OK);
	assert_int_equal(r.integer, 7);
	assert_false(r.members_written);
	struct kv_value v;
	assert_int_equal(kv_get(kv, KV_MEMBER_PREFIX "1", KV_MEMBER_PREFIX_LEN + 1, 0, &v), KV_OK);
	kv_free(kv);
}

/* prev kvs stop at txn_bytes_max bytes, and say so; a retry gets the summary only. */
static void test_delrange_prev_bounded_and_sessions(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.limits.txn_bytes_max = 8;
	struct kv *kv = th_kv_new_cfg(&cfg);
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(th_set(kv, k, "vv"), KV_OK);
	}
	struct kv_reply r;
	struct kv_cmd open = {.op = KV_OP_SESSION_OPEN};
	assert_int_equal(th_do(kv, &open, &r), KV_OK);
	struct kv_cmd c = {.op = KV_OP_DELRANGE,
	                   .client_id = r.client_id,
	                   .seq = 1,
	                   .put = {.key = "k", .key_len = 1},
	                   .range_end = "l",
	                   .range_end_len = 1,
	                   .prev_kv = true};
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(r.integer, 5);
	assert_int_equal(r.n_prev_kvs, 2);
	assert_true(r.prev_kvs_truncated);
	uint64_t rev = r.revision;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.duplicate);
	assert_int_equal(r.integer, 5);
	assert_null(r.prev_kvs);
	assert_int_equal(kv_revision(kv), rev);
	kv_free(kv);
}

/* A DELRANGE replayed on a second store from its encoding reaches the same state. */
static void test_delrange_deterministic(void **state)
{
	(void)state;
	struct kv *a = fill(), *b = fill();
	struct kv_reply r;
	assert_int_equal(delrange(a, "a", E("c"), false, &r), KV_OK);
	assert_int_equal(delrange(b, "a", E("c"), true, &r), KV_OK);
	assert_true(th_same_state(a, b));
	struct kv_cmd bad = {
	    .op = KV_OP_DELRANGE, .put = {.key = "a", .key_len = 1}, .seq = 0, .client_id = 7};
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&bad, NULL, &buf, &len), KV_EINVAL);
	kv_free(a);
	kv_free(b);
}

/* ----------------------------------------------------------------------------------
 * etcd's transactions: compares, then or else, ranges and range deletes inside
 */

static struct kv_compare cmp_num(const char *k, enum kv_cmp_target t, enum kv_cmp_result r,
                                 int64_t n)
{
	return (struct kv_compare){
	    .key = k, .key_len = strlen(k), .target = t, .result = r, .number = n};
}

static struct kv_compare cmp_val(const char *k, enum kv_cmp_result r, const char *v)
{
	return (struct kv_compare){.key = k,
	                           .key_len = strlen(k),
	                           .target = KV_CMP_VALUE,
	                           .result = r,
	                           .value = v,
	                           .value_len = strlen(v)};
}

/* Runs compare `c` in a transaction whose branches set "then" or "else"; returns which. */
static bool cmp_holds(struct kv *kv, struct kv_compare c)
{
	struct kv_cmd then = {.op = KV_OP_SET,
	                      .put = {.key = "br", .key_len = 2, .value = "t", .value_len = 1}};
	struct kv_cmd els = then;
	els.put.value = "e";
	struct kv_cmd txn = {.op = KV_OP_TXN,
	                     .n_compares = 1,
	                     .compares = &c,
	                     .n_ops = 1,
	                     .ops = &then,
	                     .n_else = 1,
	                     .else_ops = &els};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &txn, &r), KV_OK);
	assert_non_null(r.txn);
	assert_int_equal(r.txn->n, 1);
	assert_int_equal(th_is(kv, "br", r.succeeded ? "t" : "e"), 1);
	return r.succeeded;
}

static void test_txn_compares(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "k", "b"), KV_OK); /* rev 1 */
	assert_int_equal(th_set(kv, "k", "b"), KV_OK); /* rev 2, version 2 */
	assert_true(cmp_holds(kv, cmp_val("k", KV_CMP_EQUAL, "b")));
	assert_false(cmp_holds(kv, cmp_val("k", KV_CMP_EQUAL, "c")));
	assert_true(cmp_holds(kv, cmp_val("k", KV_CMP_NOT_EQUAL, "c")));
	assert_true(cmp_holds(kv, cmp_val("k", KV_CMP_LESS, "c")));
	assert_true(cmp_holds(kv, cmp_val("k", KV_CMP_GREATER, "a")));
	assert_true(cmp_holds(kv, cmp_val("k", KV_CMP_GREATER, "")));
	assert_false(cmp_holds(kv, cmp_val("k", KV_CMP_LESS, "b")));
	/* A value compare on an absent key fails whatever the result asked. */
	assert_false(cmp_holds(kv, cmp_val("nope", KV_CMP_NOT_EQUAL, "x")));
	assert_true(cmp_holds(kv, cmp_num("k", KV_CMP_VERSION, KV_CMP_EQUAL, 2)));
	assert_true(cmp_holds(kv, cmp_num("k", KV_CMP_CREATE, KV_CMP_EQUAL, 1)));
	assert_true(cmp_holds(kv, cmp_num("k", KV_CMP_MOD, KV_CMP_EQUAL, 2)));
	assert_true(cmp_holds(kv, cmp_num("k", KV_CMP_MOD, KV_CMP_LESS, 3)));
	assert_false(cmp_holds(kv, cmp_num("k", KV_CMP_MOD, KV_CMP_GREATER, 2)));
	assert_true(cmp_holds(kv, cmp_num("k", KV_CMP_VERSION, KV_CMP_NOT_EQUAL, 1)));
	assert_true(cmp_holds(kv, cmp_num("nope", KV_CMP_VERSION, KV_CMP_EQUAL, 0)));
	assert_true(cmp_holds(kv, cmp_num("nope", KV_CMP_CREATE, KV_CMP_LESS, 1)));
	assert_true(cmp_holds(kv, cmp_num("k", KV_CMP_MOD, KV_CMP_GREATER, -1)));
	/* Bad kinds are refused before anything is proposed. */
	struct kv_compare bad = cmp_num("k", KV_CMP_MOD, KV_CMP_EQUAL, 1);
	bad.result = (enum kv_cmp_result)9;
	struct kv_cmd txn = {.op = KV_OP_TXN, .n_compares = 1, .compares = &bad};
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&txn, NULL, &buf, &len), KV_EINVAL);
	kv_free(kv);
}

/* A range inside sees the writes before it; a range delete takes the one revision. */
static void test_txn_range_ops(void **state)
{
	(void)state;
	struct kv *kv = fill(); /* a a/1 a/2 a\xff b c d */
	uint64_t rev = kv_revision(kv);
	struct kv_cmd ops[] = {
	    {.op = KV_OP_SET, .put = {.key = "a/3", .key_len = 3, .value = "new", .value_len = 3}},
	    {.op = KV_OP_CAS,
	     .cas_delete = true,
	     .put = {.key = "a/1", .key_len = 3, .cond = {.kind = KV_COND_PRESENT}}},
	    {.op = KV_OP_RANGE,
	     .put = {.key = "a/", .key_len = 2},
	     .range_end = "a0",
	     .range_end_len = 2},
	    {.op = KV_OP_RANGE,
	     .put = {.key = "", .key_len = 0},
	     .range_end = "",
	     .range_end_len = 1,
	     .limit = 2,
	     .keys_only = true},
	    {.op = KV_OP_DELRANGE,
	     .put = {.key = "a/", .key_len = 2},
	     .range_end = "a0",
	     .range_end_len = 2},
	    {.op = KV_OP_RANGE,
	     .put = {.key = "a", .key_len = 1},
	     .range_end = "b",
	     .range_end_len = 1,
	     .count_only = true},
	};
	struct kv_cmd txn = {.op = KV_OP_TXN, .n_ops = 6, .ops = ops};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &txn, &r), KV_OK);
	assert_true(r.succeeded);
	const struct kv_txn_item *it = r.txn->items;
	assert_int_equal(it[2].integer, 2); /* a/2 and the staged a/3 */
	assert_int_equal(it[2].n_kvs, 2);
	assert_memory_equal(it[2].kvs[0].key, "a/2", 3);
	assert_memory_equal(it[2].kvs[1].key, "a/3", 3);
	assert_memory_equal(it[2].kvs[1].value, "new", 3);
	assert_int_equal(it[2].kvs[1].mod_revision, rev + 1);
	assert_int_equal(it[2].kvs[1].version, 1);
	assert_int_equal(it[3].n_kvs, 2);
	assert_true(it[3].existed); /* more */
	assert_int_equal(it[3].kvs[0].value_len, 0);
	assert_int_equal(it[4].integer, 2);
	assert_int_equal(it[5].integer, 2); /* a and a\xff */
	assert_int_equal(it[5].n_kvs, 0);
	assert_int_equal(kv_revision(kv), rev + 1);
	char buf[512];
	uint64_t n;
	bool more;
	assert_string_equal(range(kv, "", E("\0"), 0, 0, &n, &more, buf), "a a\xff b c d");
	kv_free(kv);
}

/* A range delete inside with prev_kv lists the keys it deletes as the transaction sees
 * them (a staged write included, a staged delete left out), and the flag survives the
 * log's encoding. */
static void test_txn_delrange_prev_kv(void **state)
{
	(void)state;
	struct kv *kv = fill(); /* a a/1 a/2 a\xff b c d */
	struct kv_cmd ops[] = {
	    {.op = KV_OP_SET, .put = {.key = "a/3", .key_len = 3, .value = "new", .value_len = 3}},
	    {.op = KV_OP_CAS,
	     .cas_delete = true,
	     .put = {.key = "a/1", .key_len = 3, .cond = {.kind = KV_COND_PRESENT}}},
	    {.op = KV_OP_DELRANGE,
	     .put = {.key = "a/", .key_len = 2},
	     .range_end = "a0",
	     .range_end_len = 2,
	     .prev_kv = true},
	    {.op = KV_OP_DELRANGE,
	     .put = {.key = "a/", .key_len = 2},
	     .range_end = "a0",
	     .range_end_len = 2,
	     .prev_kv = true},
	    {.op = KV_OP_DELRANGE, .put = {.key = "c", .key_len = 1}},
	};
	struct kv_cmd txn = {.op = KV_OP_TXN, .n_ops = 5, .ops = ops};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &txn, &r), KV_OK); /* through kv_cmd_encode and back */
	const struct kv_txn_item *it = r.txn->items;
	assert_true(it[2].prev_kv);
	assert_int_equal(it[2].integer, 2);
	assert_int_equal(it[2].n_kvs, 2);
	assert_memory_equal(it[2].kvs[0].key, "a/2", 3);
	assert_memory_equal(it[2].kvs[1].key, "a/3", 3);
	assert_memory_equal(it[2].kvs[1].value, "new", 3);
	assert_true(it[3].prev_kv); /* asked, and nothing left to list */
	assert_int_equal(it[3].integer, 0);
	assert_int_equal(it[3].n_kvs, 0);
	assert_false(it[4].prev_kv);
	assert_int_equal(it[4].integer, 1);
	assert_int_equal(it[4].n_kvs, 0);
	kv_free(kv);
}

/* A range delete inside may stage at most keys_per_cmd_max keys. */
static void test_txn_delrange_bounded(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.limits.keys_per_cmd_max = 4;
	struct kv *kv = th_kv_new_cfg(&cfg);
	for (int i = 0; i < 6; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(th_set(kv, k, "v"), KV_OK);
	}
	uint64_t rev = kv_revision(kv);
	struct kv_cmd op = {.op = KV_OP_DELRANGE,
	                    .put = {.key = "k", .key_len = 1},
	                    .range_end = "l",
	                    .range_end_len = 1};
	struct kv_cmd txn = {.op = KV_OP_TXN, .n_ops = 1, .ops = &op};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &txn, &r), KV_OK);
	assert_int_equal(r.txn->items[0].code, KV_ETOOMANY);
	assert_int_equal(kv_revision(kv), rev);
	kv_free(kv);
}

/* ----------------------------------------------------------------------------------
 * With expiry: an expired key is out of ranges, and a range delete does not count it
 */

static void test_range_expiry(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	const char *keys[] = {"e/1", "e/2", "e/3"};
	for (int i = 0; i < 3; i++) {
		struct kv_cmd c = {
		    .op = KV_OP_SET,
		    .put = {.key = keys[i], .key_len = 3, .value = "v", .value_len = 1}};
		if (i == 1)
			c.put.expiry = (struct kv_expiry){.mode = KV_EXPIRY_IN, .ms = 50};
		assert_int_equal(th_at_term(kv, 1, 10, c, &r), KV_OK);
	}
	struct kv_cmd noop = {.op = KV_OP_NOOP};
	assert_int_equal(th_at_term(kv, 1, 100, noop, &r), KV_OK); /* e/2's time has come */
	char buf[512];
	uint64_t n;
	bool more;
	assert_string_equal(range(kv, "e/", E("e0"), 0, 0, &n, &more, buf), "e/1 e/3");
	assert_int_equal(n, 2);
	/* A transaction's range and compares see it gone too. */
	struct kv_compare c = {.key = "e/2",
	                       .key_len = 3,
	                       .target = KV_CMP_VERSION,
	                       .result = KV_CMP_EQUAL,
	                       .number = 0};
	struct kv_cmd rg = {.op = KV_OP_RANGE,
	                    .put = {.key = "e/", .key_len = 2},
	                    .range_end = "e0",
	                    .range_end_len = 2,
	                    .count_only = true};
	struct kv_cmd txn = {
	    .op = KV_OP_TXN, .n_compares = 1, .compares = &c, .n_ops = 1, .ops = &rg};
	assert_int_equal(th_at_term(kv, 1, 100, txn, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(r.txn->items[0].integer, 2);
	uint64_t rev = kv_revision(kv);
	struct kv_cmd del = {.op = KV_OP_DELRANGE,
	                     .put = {.key = "e/", .key_len = 2},
	                     .range_end = "e0",
	                     .range_end_len = 2};
	assert_int_equal(th_at_term(kv, 1, 100, del, &r), KV_OK);
	assert_int_equal(r.integer, 2);
	assert_true(r.revision >= rev + 1);
	assert_string_equal(range(kv, "", E("\0"), 0, 0, &n, &more, buf), "");
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range_reads),
	    cmocka_unit_test(test_range_revisions_and_errors),
	    cmocka_unit_test(test_delrange_one_revision),
	    cmocka_unit_test(test_delrange_keeps_reserved),
	    cmocka_unit_test(test_delrange_prev_bounded_and_sessions),
	    cmocka_unit_test(test_delrange_deterministic),
	    cmocka_unit_test(test_txn_compares),
	    cmocka_unit_test(test_txn_range_ops),
	    cmocka_unit_test(test_txn_delrange_prev_kv),
	    cmocka_unit_test(test_txn_delrange_bounded),
	    cmocka_unit_test(test_range_expiry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
