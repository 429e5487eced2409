/* test_multi.c: multi-key operations (mset, delrange, txn): hand-made histories, and
 * agreement with a brute-force oracle over the tuple of all keys on many random tiny
 * histories. */
#include <errno.h>
#include <inttypes.h>
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

enum { KEYS = 3, MAX_OPS = 7 };

static const char *const key_names[KEYS] = {"a", "b", "c"};
static const char *const values[] = {"1", "2", "3"};
static const char *const ends[] = {"a", "b", "bb", "c", "d"};

static struct check_str str(const char *s)
{
	return (struct check_str){s, strlen(s), true};
}

static const struct check_str none = {NULL, 0, false};

/* ---- the oracle: written from history-format.md, apart from the checker ---- */

struct tuple {
	int v[KEYS]; /* index into values[], or -1: absent */
};

static int key_index(const struct check_str *k)
{
	for (int i = 0; i < KEYS; i++) {
		if (k->len == 1 && k->bytes[0] == key_names[i][0])
			return i;
	}
	fail_msg("unknown key");
	return -1;
}

static int value_index(const struct check_str *v)
{
	if (!v->present)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (v->len == 1 && v->bytes[0] == values[i][0])
			return i;
	}
	fail_msg("unknown value");
	return -1;
}

static bool in_range(const char *k, const struct check_op *op)
{
	struct check_str ks = str(k);
	size_t n;
	n = op->key.len < ks.len ? op->key.len : ks.len;
	int lo = memcmp(ks.bytes, op->key.bytes, n);
	bool ge = lo > 0 || (lo == 0 && ks.len >= op->key.len);
	n = op->range_end.len < ks.len ? op->range_end.len : ks.len;
	int hi = memcmp(ks.bytes, op->range_end.bytes, n);
	bool lt = hi < 0 || (hi == 0 && ks.len < op->range_end.len);
	return ge && lt;
}

/* A txn's branch: its sub-operations in order; gets hold only where results were seen. */
static bool oracle_subops(const struct check_subop *subs, size_t n, bool observed, struct tuple *t)
{
	for (size_t i = 0; i < n; i++) {
		int *v = &t->v[key_index(&subs[i].key)];
		if (subs[i].kind == CHECK_KIND_GET && observed &&
		    *v != value_index(&subs[i].result))
			return false;
		if (subs[i].kind == CHECK_KIND_PUT)
			*v = value_index(&subs[i].value);
		if (subs[i].kind == CHECK_KIND_DELETE)
			*v = -1;
	}
	return true;
}

/* history-format.md: the compares on the state now pick the branch, which must be the one
 * observed, if observed. */
static bool oracle_txn(const struct check_op *op, struct tuple *t)
{
	bool held = true;
	for (size_t i = 0; i < op->compare_count; i++)
		held = held &&
		       t->v[key_index(&op->compares[i].key)] == value_index(&op->compares[i].value);
	if (op->branch != CHECK_BRANCH_UNOBSERVED && held != (op->branch == CHECK_BRANCH_THEN))
		return false;
	bool observed = op->ok == CHECK_OK_TRUE && op->branch != CHECK_BRANCH_UNOBSERVED;
	return held ? oracle_subops(op->then_ops, op->then_count, observed, t)
	            : oracle_subops(op->else_ops, op->else_count, observed, t);
}

static bool oracle_apply(const struct check_op *op, struct tuple *t)
{
	if (op->kind == CHECK_KIND_TXN)
		return oracle_txn(op, t);
	int *v = &t->v[key_index(&op->key)];
	switch (op->kind) {
	case CHECK_KIND_GET:
		return *v == value_index(&op->result);
	case CHECK_KIND_PUT:
		*v = value_index(&op->value);
		return true;
	case CHECK_KIND_DELETE:
		if ((op->existed == CHECK_EXISTED_YES && *v < 0) ||
		    (op->existed == CHECK_EXISTED_NO && *v >= 0))
			return false;
		*v = -1;
		return true;
	case CHECK_KIND_CAS:
		if (op->ok == CHECK_OK_FALSE)
			return *v != value_index(&op->expect);
		if (*v != value_index(&op->expect))
			return false;
		*v = value_index(&op->value);
		return true;
	case CHECK_KIND_EXPIRE:
		if (*v != value_index(&op->expect))
			return false;
		*v = -1;
		return true;
	case CHECK_KIND_MSET:
		for (size_t i = 0; i < op->key_count; i++)
			t->v[key_index(&op->keys[i])] = value_index(&op->values[i]);
		return true;
	case CHECK_KIND_DELRANGE: {
		int count = 0;
		for (int i = 0; i < KEYS; i++) {
			if (in_range(key_names[i], op)) {
				count += t->v[i] >= 0;
				t->v[i] = -1;
			}
		}
		return !op->result.present || op->ok != CHECK_OK_TRUE ||
		       count == atoi(op->result.bytes);
	}
	default:
		fail_msg("kind not drawn");
	}
	return false;
}

static bool considered(const struct check_op *op)
{
	if (op->ok == CHECK_OK_FALSE && op->kind != CHECK_KIND_CAS)
		return false;
	return !(op->kind == CHECK_KIND_GET && op->ok == CHECK_OK_UNKNOWN);
}

static bool known(const struct check_op *op)
{
	return considered(op) && op->ok != CHECK_OK_UNKNOWN;
}

/* The group of each key: keys that some mset or delrange of the history ties together,
 * within which (and only within which) client order holds across keys (history-format.md). */
static int key_group[KEYS];

static int group_root(int k)
{
	while (key_group[k] != k)
		k = key_group[k];
	return k;
}

static void oracle_groups(const struct check_op *ops, size_t n)
{
	for (int i = 0; i < KEYS; i++)
		key_group[i] = i;
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < KEYS; k++) {
			bool touched =
			    ops[i].kind == CHECK_KIND_DELRANGE && in_range(key_names[k], &ops[i]);
			for (size_t j = 0;
			     ops[i].kind == CHECK_KIND_TXN && j < ops[i].compare_count; j++)
				touched = touched || key_index(&ops[i].compares[j].key) == k;
			for (size_t j = 0; ops[i].kind == CHECK_KIND_TXN && j < ops[i].then_count;
			     j++)
				touched = touched || key_index(&ops[i].then_ops[j].key) == k;
			for (size_t j = 0; ops[i].kind == CHECK_KIND_TXN && j < ops[i].else_count;
			     j++)
				touched = touched || key_index(&ops[i].else_ops[j].key) == k;
			for (size_t j = 0; ops[i].kind == CHECK_KIND_MSET && j < ops[i].key_count;
			     j++)
				touched = touched || key_index(&ops[i].keys[j]) == k;
			if (touched)
				key_group[group_root(k)] = group_root(key_index(&ops[i].key));
		}
	}
	for (int k = 0; k < KEYS; k++)
		key_group[k] = group_root(k);
}

static bool same_group(const struct check_op *a, const struct check_op *b)
{
	return key_group[key_index(&a->key)] == key_group[key_index(&b->key)];
}

static bool oracle_allowed(const struct check_op *ops, size_t n, const bool *placed, size_t b,
                           bool client_order)
{
	for (size_t a = 0; a < n; a++) {
		if (a == b || placed[a] || !known(&ops[a]))
			continue;
		if (ops[a].return_time < ops[b].call_time)
			return false;
		if (client_order && known(&ops[b]) && ops[a].client == ops[b].client &&
		    ops[a].call_time < ops[b].call_time && same_group(&ops[a], &ops[b]))
			return false;
	}
	return true;
}

static bool oracle_search(const struct check_op *ops, size_t n, bool *placed, struct tuple t,
                          bool client_order)
{
	bool done = true;
	for (size_t i = 0; i < n; i++)
		done = done && (placed[i] || !known(&ops[i]));
	if (done)
		return true;
	for (size_t b = 0; b < n; b++) {
		if (placed[b] || !considered(&ops[b]) ||
		    !oracle_allowed(ops, n, placed, b, client_order))
			continue;
		struct tuple next = t;
		if (!oracle_apply(&ops[b], &next))
			continue;
		placed[b] = true;
		bool ok = oracle_search(ops, n, placed, next, client_order);
		placed[b] = false;
		if (ok)
			return true;
	}
	return false;
}

/* ---- random tiny histories ---- */

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

struct texts {
	struct check_str keys[KEYS], values[KEYS];
	struct check_compare cmp[2];
	struct check_subop subs[4];
};

static const char *const counts[] = {"0", "1", "2", "3"};

static void random_mset(uint64_t *x, struct check_op *op, struct texts *t)
{
	size_t n = 1 + (size_t)(rnd(x) % KEYS);
	int first = (int)(rnd(x) % KEYS);
	for (size_t i = 0; i < n; i++) {
		t->keys[i] = str(key_names[(first + (int)i) % KEYS]);
		t->values[i] = str(values[rnd(x) % 3]);
	}
	op->key = t->keys[0];
	op->keys = t->keys;
	op->values = t->values;
	op->key_count = n;
}

/* A txn's sub-operations: gets (with a result if observed), puts and deletes. */
static void random_subops(uint64_t *x, struct check_subop *subs, size_t n, bool observed)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rnd(x) % 4;
		subs[i] = (struct check_subop){.key = str(key_names[rnd(x) % KEYS])};
		subs[i].kind = r < 2 ? CHECK_KIND_GET : r < 3 ? CHECK_KIND_PUT : CHECK_KIND_DELETE;
		uint64_t v = rnd(x) % 4;
		if (subs[i].kind == CHECK_KIND_PUT)
			subs[i].value = str(values[v % 3]);
		if (subs[i].kind == CHECK_KIND_GET && observed)
			subs[i].result = v < 3 ? str(values[v]) : none;
	}
}

/* Up to two compares, then and else of up to two sub-operations each, a branch seen or not. */
static void random_txn(uint64_t *x, struct check_op *op, struct texts *t)
{
	size_t ncmp = (size_t)(rnd(x) % 3), nthen = 1 + (size_t)(rnd(x) % 2);
	size_t nelse = ncmp > 0 ? (size_t)(rnd(x) % 3) : 0;
	for (size_t i = 0; i < ncmp; i++) {
		uint64_t v = rnd(x) % 4;
		t->cmp[i] = (struct check_compare){str(key_names[rnd(x) % KEYS]),
		                                   v < 3 ? str(values[v]) : none};
	}
	op->branch = CHECK_BRANCH_UNOBSERVED;
	if (op->ok == CHECK_OK_TRUE && rnd(x) % 4 != 0)
		op->branch = ncmp > 0 && rnd(x) % 2 ? CHECK_BRANCH_ELSE : CHECK_BRANCH_THEN;
	random_subops(x, t->subs, nthen, op->branch == CHECK_BRANCH_THEN);
	random_subops(x, t->subs + nthen, nelse, op->branch == CHECK_BRANCH_ELSE);
	op->compares = ncmp ? t->cmp : NULL;
	op->compare_count = ncmp;
	op->then_ops = t->subs;
	op->then_count = nthen;
	op->else_ops = nelse ? t->subs + nthen : NULL;
	op->else_count = nelse;
	op->key = ncmp ? t->cmp[0].key : t->subs[0].key;
}

static size_t random_history(uint64_t *x, struct check_op *ops, struct texts *t, uint32_t clients,
                             bool txns)
{
	size_t n = 1 + (size_t)(rnd(x) % MAX_OPS);
	for (size_t i = 0; i < n; i++) {
		struct check_op *op = &ops[i];
		memset(op, 0, sizeof(*op));
		op->client = clients > 0 ? (int64_t)(rnd(x) % clients) : (int64_t)i;
		op->key = str(key_names[rnd(x) % KEYS]);
		static const enum check_kind kinds[] = {
		    CHECK_KIND_GET, CHECK_KIND_GET,  CHECK_KIND_PUT,      CHECK_KIND_DELETE,
		    CHECK_KIND_CAS, CHECK_KIND_MSET, CHECK_KIND_DELRANGE, CHECK_KIND_MSET};
		op->kind = rnd(x) % 9 == 0 ? CHECK_KIND_EXPIRE : kinds[rnd(x) % 8];
		if (txns && rnd(x) % 3 == 0)
			op->kind = CHECK_KIND_TXN;
		uint64_t okr = rnd(x) % 10;
		op->ok = okr < 6 ? CHECK_OK_TRUE : okr < 8 ? CHECK_OK_UNKNOWN : CHECK_OK_FALSE;
		op->call_time = (int64_t)(rnd(x) % 12);
		op->return_time = op->call_time + (int64_t)(rnd(x) % 8);
		bool returned = op->ok == CHECK_OK_TRUE;
		uint64_t r = rnd(x) % 4;
		switch (op->kind) {
		case CHECK_KIND_GET:
			op->result = returned && r < 3 ? str(values[r]) : none;
			break;
		case CHECK_KIND_PUT:
			op->value = str(values[r % 3]);
			break;
		case CHECK_KIND_DELETE:
			if (returned)
				op->existed = (enum check_existed)(r % 3);
			break;
		case CHECK_KIND_CAS:
			op->expect = r < 3 ? str(values[r]) : none;
			op->value = str(values[rnd(x) % 3]);
			break;
		case CHECK_KIND_MSET:
			random_mset(x, op, &t[i]);
			break;
		case CHECK_KIND_EXPIRE:
			op->ok = CHECK_OK_UNKNOWN;
			op->expect = str(values[r % 3]);
			break;
		case CHECK_KIND_DELRANGE:
			op->range_end = str(ends[rnd(x) % 5]);
			op->result = returned && r < 3 ? str(counts[rnd(x) % 4]) : none;
			break;
		case CHECK_KIND_TXN:
			random_txn(x, op, &t[i]);
			break;
		default:
			break;
		}
	}
	return n;
}

static void agree(struct check_op *ops, size_t n, bool client_order, int round, int *verdicts)
{
	bool placed[MAX_OPS] = {false};
	oracle_groups(ops, n);
	bool want = oracle_search(ops, n, placed, (struct tuple){{-1, -1, -1}}, client_order);
	struct check_options o = {.no_client_order = !client_order};
	struct check_result r;
	assert_int_equal(check_history_run(ops, n, &o, &r), 0);
	enum check_verdict expect = want ? CHECK_LINEARIZABLE : CHECK_NOT_LINEARIZABLE;
	if (r.verdict != expect) {
		check_history_write(stderr, ops, n);
		fail_msg("round %d, client order %s: oracle says %s, checker says %s", round,
		         client_order ? "on" : "off", check_verdict_name(expect),
		         check_verdict_name(r.verdict));
	}
	verdicts[want]++;
	check_result_free(&r);
}

/* The checker (its grouping of keys, the single-key search for keys no multi-key op touches,
 * the tuple search for the others) agrees with the oracle over all keys at once. */
static void test_multi_oracle(void **state)
{
	(void)state;
	uint64_t x = 0x3a17c0deull;
	int verdicts[2] = {0, 0};
	for (int round = 0; round < 20000; round++) {
		struct check_op ops[MAX_OPS];
		struct texts t[MAX_OPS];
		size_t n = random_history(&x, ops, t, round % 2 ? 2 : 0, false);
		agree(ops, n, true, round, verdicts);
		agree(ops, n, false, round, verdicts);
	}
	assert_true(verdicts[0] > 4000);
	assert_true(verdicts[1] > 4000);
}

/* The same with a third of the operations txns: compares, both branches, the branch seen or
 * not, gets inside them seeing the sub-operations before. */
static void test_multi_txn_oracle(void **state)
{
	(void)state;
	uint64_t x = 0x7c0ffee5ull;
	int verdicts[2] = {0, 0};
	for (int round = 0; round < 20000; round++) {
		struct check_op ops[MAX_OPS];
		struct texts t[MAX_OPS];
		size_t n = random_history(&x, ops, t, round % 2 ? 2 : 0, true);
		agree(ops, n, true, round, verdicts);
		agree(ops, n, false, round, verdicts);
	}
	assert_true(verdicts[0] > 4000);
	assert_true(verdicts[1] > 4000);
}

/* ---- hand-made histories ---- */

static struct check_op op_get(int64_t client, const char *key, const char *result, int64_t call,
                              int64_t ret)
{
	return (struct check_op){.client = client,
	                         .kind = CHECK_KIND_GET,
	                         .key = str(key),
	                         .result = result ? str(result) : none,
	                         .call_time = call,
	                         .return_time = ret};
}

static struct check_str ab_keys[2] = {{"a", 1, true}, {"b", 1, true}};
static struct check_str ab_values[2] = {{"1", 1, true}, {"1", 1, true}};

static struct check_op op_mset_ab(int64_t call, int64_t ret)
{
	return (struct check_op){.client = 9,
	                         .kind = CHECK_KIND_MSET,
	                         .key = ab_keys[0],
	                         .keys = ab_keys,
	                         .values = ab_values,
	                         .key_count = 2,
	                         .call_time = call,
	                         .return_time = ret};
}

static enum check_verdict run(const struct check_op *ops, size_t n)
{
	struct check_result r;
	assert_int_equal(check_history_run(ops, n, NULL, &r), 0);
	enum check_verdict v = r.verdict;
	if (v == CHECK_NOT_LINEARIZABLE) {
		assert_true(r.prefix_state.present);
		assert_true(r.stuck_count > 0);
	}
	check_result_free(&r);
	return v;
}

/* One client sees a's new value, then b's old one, both while the mset runs: each key alone
 * is linearizable, the two together are not. */
static void test_multi_torn_mset(void **state)
{
	(void)state;
	struct check_op ops[] = {op_mset_ab(0, 10), op_get(1, "a", "1", 1, 5),
	                         op_get(1, "b", NULL, 6, 7)};
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[2].result = str("1");
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	ops[1].result = none; /* both old: the mset comes after */
	ops[2].result = none;
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
}

/* A delrange over a and b counts the keys it deleted, and leaves them absent. */
static void test_multi_delrange(void **state)
{
	(void)state;
	struct check_op ops[] = {
	    op_mset_ab(0, 1),
	    {.client = 2,
	     .kind = CHECK_KIND_DELRANGE,
	     .key = str("a"),
	     .range_end = str("c"),
	     .result = str("2"),
	     .call_time = 2,
	     .return_time = 3},
	    op_get(3, "b", NULL, 4, 5),
	};
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	ops[1].result = str("1"); /* one of two existing keys */
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[1].result = str("2");
	ops[2].result = str("1"); /* b survived the range delete */
	assert_int_equal(run(ops, 3), CHECK_NOT_LINEARIZABLE);
	ops[1].range_end = str("b"); /* [a, b): b is outside */
	ops[1].result = str("1");
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	/* An unknown delrange may have happened, or not. */
	ops[1].ok = CHECK_OK_UNKNOWN;
	ops[1].result = none;
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
	ops[2].result = none;
	ops[1].range_end = str("c");
	assert_int_equal(run(ops, 3), CHECK_LINEARIZABLE);
}

/* Validation of the new fields. */
static void test_multi_validate(void **state)
{
	(void)state;
	char msg[160];
	struct check_op op = op_mset_ab(0, 1);
	assert_int_equal(check_op_validate(&op, msg, sizeof(msg)), 0);
	op.key = str("b");
	assert_int_equal(check_op_validate(&op, msg, sizeof(msg)), -EINVAL);
	op = op_mset_ab(0, 1);
	op.key_count = 0;
	assert_int_equal(check_op_validate(&op, msg, sizeof(msg)), -EINVAL);
	op = (struct check_op){.kind = CHECK_KIND_DELRANGE, .key = str("a"), .return_time = 1};
	assert_int_equal(check_op_validate(&op, msg, sizeof(msg)), -EINVAL); /* no end */
	op.range_end = str("b");
	assert_int_equal(check_op_validate(&op, msg, sizeof(msg)), 0);
	op.result = str("x");
	assert_int_equal(check_op_validate(&op, msg, sizeof(msg)), -EINVAL);
	struct check_op get = op_get(1, "a", NULL, 0, 1);
	get.range_end = str("b");
	assert_int_equal(check_op_validate(&get, msg, sizeof(msg)), -EINVAL);
}

/* The new fields survive writing and parsing, and the verdict with them. */
static void test_multi_roundtrip(void **state)
{
	(void)state;
	struct check_op ops[] = {
	    op_mset_ab(0, 1),
	    {.client = 2,
	     .kind = CHECK_KIND_DELRANGE,
	     .key = str("a"),
	     .range_end = str("c"),
	     .result = str("1"),
	     .call_time = 2,
	     .return_time = 3},
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(check_history_write(f, ops, 2), 0);
	fclose(f);
	struct check_history h;
	struct check_error err;
	assert_int_equal(check_history_parse(text, len, &h, &err), 0);
	assert_int_equal(h.op_count, 2);
	assert_int_equal(h.ops[0].kind, CHECK_KIND_MSET);
	assert_int_equal(h.ops[0].key_count, 2);
	assert_memory_equal(h.ops[0].keys[1].bytes, "b", 1);
	assert_memory_equal(h.ops[0].values[1].bytes, "1", 1);
	assert_int_equal(h.ops[1].kind, CHECK_KIND_DELRANGE);
	assert_memory_equal(h.ops[1].range_end.bytes, "c", 1);
	assert_int_equal(run(h.ops, 2), CHECK_NOT_LINEARIZABLE); /* it deleted two, not one */
	check_history_free(&h);
	free(text);
	const char *bad = "{\"client\":1,\"op\":\"mset\",\"key\":\"a\",\"keys\":[\"a\"],"
	                  "\"values\":[\"1\",\"2\"],\"ok\":true,\"call\":0,\"return\":1}\n";
	assert_int_equal(check_history_parse(bad, strlen(bad), &h, &err), -EINVAL);
	assert_non_null(strstr(err.message, "differ in length"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multi_torn_mset), cmocka_unit_test(test_multi_delrange),
	    cmocka_unit_test(test_multi_validate),  cmocka_unit_test(test_multi_roundtrip),
	    cmocka_unit_test(test_multi_oracle),    cmocka_unit_test(test_multi_txn_oracle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
