/* test_prop.c: property tests: generated histories, injected anomalies, a brute-force oracle,
 * budgets. */
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
#include <time.h>

#include <cmocka.h>

#include "check/check.h"
#include "check/gen.h"

static enum check_verdict prop_run(const struct check_history *h, struct check_result *r)
{
	int rc = check_history_run(h->ops, h->op_count, NULL, r);
	assert_int_equal(rc, 0);
	return r->verdict;
}

static void prop_dump(const struct check_history *h, const struct check_result *r)
{
	check_report_text(stderr, h->ops, h->op_count, r, CHECK_REPORT_NORMAL);
	if (h->op_count <= 60)
		check_history_write(stderr, h->ops, h->op_count);
}

/*
 * Histories generated from a sequential execution with stretched intervals are linearizable.
 * Registers (get, put, cas, delete) with up to 21% unknown outcomes must be decided. With
 * appends and incrs the search can be exponential (docs/checker.md): those run without
 * unknown outcomes and with few clients per key, where they must be decided too.
 */
static void test_prop_generated_linearizable(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 300; seed++) {
		bool registers = seed % 2 == 0;
		struct gen_config cfg = {
		    .seed = seed,
		    .op_count = 20 + (size_t)(seed * 37 % 600),
		    .client_count = 1 + (uint32_t)(seed % 16),
		    .key_count = 1 + (uint32_t)(seed % 5),
		    .unknown_percent = registers ? (uint32_t)(seed % 4) * 7 : 0,
		    .fail_percent = (uint32_t)(seed % 3) * 5,
		    .stretch = 1 + (uint32_t)(seed * 7 % 60),
		    .mix = registers ? GEN_MIX_REGISTER : GEN_MIX_ALL,
		};
		if (!registers)
			cfg.client_count = 1 + (uint32_t)(seed % 4);
		struct check_history h;
		assert_int_equal(gen_history(&cfg, &h), 0);
		struct check_result r;
		if (prop_run(&h, &r) != CHECK_LINEARIZABLE) {
			prop_dump(&h, &r);
			fail_msg("seed %" PRIu64 ": a generated history was judged %s", seed,
			         check_verdict_name(r.verdict));
		}
		check_result_free(&r);
		check_history_free(&h);
	}
}

/* The same histories with one stale, future or phantom read are not. */
static void test_prop_injected_anomalies(void **state)
{
	(void)state;
	int injected[3] = {0, 0, 0};
	for (uint64_t seed = 1; seed <= 300; seed++) {
		enum gen_anomaly anomaly = (enum gen_anomaly)(seed % 3);
		struct gen_config cfg = {
		    .seed = seed * 1000 + 17,
		    .op_count = 30 + (size_t)(seed * 53 % 400),
		    .client_count = 2 + (uint32_t)(seed % 8),
		    .key_count = 1 + (uint32_t)(seed % 3),
		    .unknown_percent = (uint32_t)(seed % 3) * 5,
		    .fail_percent = 3,
		    .stretch = 5 + (uint32_t)(seed % 30),
		    .mix = GEN_MIX_REGISTER,
		};
		struct check_history h;
		assert_int_equal(gen_history(&cfg, &h), 0);
		size_t changed;
		if (gen_inject(&h, anomaly, seed, &changed) != 0) {
			check_history_free(&h);
			continue;
		}
		injected[anomaly]++;
		struct check_result r;
		if (prop_run(&h, &r) != CHECK_NOT_LINEARIZABLE) {
			prop_dump(&h, &r);
			fail_msg("seed %" PRIu64 ": anomaly %d at op %zu (line %zu) judged %s",
			         seed, (int)anomaly, changed, h.ops[changed].line,
			         check_verdict_name(r.verdict));
		}
		/* The explanation is about the key of the changed read. */
		const struct check_str *key = &h.ops[r.keys[r.failed_key].first_op].key;
		assert_int_equal(key->len, h.ops[changed].key.len);
		assert_memory_equal(key->bytes, h.ops[changed].key.bytes, key->len);
		assert_true(r.stuck_count > 0);
		for (size_t i = 0; i < r.prefix_count; i++) {
			const struct check_op *op = &h.ops[r.prefix[i]];
			assert_int_equal(op->key.len, key->len);
			assert_memory_equal(op->key.bytes, key->bytes, key->len);
		}
		check_result_free(&r);
		check_history_free(&h);
	}
	assert_true(injected[GEN_STALE_READ] > 50);
	assert_true(injected[GEN_FUTURE_READ] > 50);
	assert_true(injected[GEN_PHANTOM_READ] > 50);
}

/* ---- a brute-force oracle for tiny single-key histories ---- */

struct oracle_value {
	char bytes[64];
	size_t len;
	bool present;
};

static bool oracle_equal(const struct oracle_value *v, const struct check_str *s)
{
	if (v->present != s->present)
		return false;
	return !v->present || (v->len == s->len && memcmp(v->bytes, s->bytes, s->len) == 0);
}

static bool oracle_int(const char *s, size_t len, int64_t *out)
{
	char buf[32];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || buf[0] == '+' || buf[0] == ' ' || buf[0] == '\t' ||
	    buf[0] == '\n' || buf[0] == '\v' || buf[0] == '\f' || buf[0] == '\r')
		return false;
	*out = v;
	return true;
}

/* Applies op to *v; false if op cannot happen in state *v. Written from the docs, separately
 * from the checker's model. */
static bool oracle_apply(const struct check_op *op, struct oracle_value *v)
{
	switch (op->kind) {
	case CHECK_KIND_GET:
		return oracle_equal(v, &op->result);
	case CHECK_KIND_PUT:
		memcpy(v->bytes, op->value.bytes, op->value.len);
		v->len = op->value.len;
		v->present = true;
		return true;
	case CHECK_KIND_DELETE:
		if (op->existed == CHECK_EXISTED_YES && !v->present)
			return false;
		if (op->existed == CHECK_EXISTED_NO && v->present)
			return false;
		v->present = false;
		return true;
	case CHECK_KIND_APPEND:
		if (!v->present)
			v->len = 0;
		if (v->len + op->value.len > sizeof(v->bytes))
			return false;
		memcpy(v->bytes + v->len, op->value.bytes, op->value.len);
		v->len += op->value.len;
		v->present = true;
		return true;
	case CHECK_KIND_CAS: {
		bool match = oracle_equal(v, &op->expect);
		if (op->ok == CHECK_OK_FALSE)
			return !match;
		if (!match)
			return op->ok == CHECK_OK_UNKNOWN; /* an unknown cas may have failed */
		memcpy(v->bytes, op->value.bytes, op->value.len);
		v->len = op->value.len;
		v->present = true;
		return true;
	}
	case CHECK_KIND_INCR: {
		int64_t cur = 0, delta = 1, result;
		if (v->present && !oracle_int(v->bytes, v->len, &cur))
			return false;
		if (op->value.present && !oracle_int(op->value.bytes, op->value.len, &delta))
			return false;
		if ((delta > 0 && cur > INT64_MAX - delta) ||
		    (delta < 0 && cur < INT64_MIN - delta))
			return false;
		if (op->result.present && (!oracle_int(op->result.bytes, op->result.len, &result) ||
		                           result != cur + delta))
			return false;
		v->len = (size_t)snprintf(v->bytes, sizeof(v->bytes), "%" PRId64, cur + delta);
		v->present = true;
		return true;
	}
	case CHECK_KIND_MSET:
	case CHECK_KIND_DELRANGE:
	case CHECK_KIND_EXPIRE:
	case CHECK_KIND_TXN:
		break; /* test_multi.c */
	}
	return false;
}

static bool oracle_considered(const struct check_op *op)
{
	if (op->ok == CHECK_OK_FALSE && op->kind != CHECK_KIND_CAS)
		return false;
	return !(op->kind == CHECK_KIND_GET && op->ok == CHECK_OK_UNKNOWN);
}

/* Whether the oracle also requires client order (known ops of a client in call order). */
static bool oracle_client_order;

static bool oracle_known(const struct check_op *op)
{
	return oracle_considered(op) && op->ok != CHECK_OK_UNKNOWN;
}

/* Whether b may go next: no unplaced known op returned before b was called, nor (with client
 * order, b known) was called before b by the same client. */
static bool oracle_allowed(const struct check_op *ops, size_t n, const bool *placed, size_t b)
{
	for (size_t a = 0; a < n; a++) {
		if (a == b || placed[a] || !oracle_known(&ops[a]))
			continue;
		if (ops[a].return_time < ops[b].call_time)
			return false;
		if (oracle_client_order && oracle_known(&ops[b]) &&
		    ops[a].client == ops[b].client && ops[a].call_time < ops[b].call_time)
			return false;
	}
	return true;
}

/* Tries every order: placed[i] marks ops already in the sequence. */
static bool oracle_search(const struct check_op *ops, size_t n, bool *placed, struct oracle_value v)
{
	bool all_known = true;
	for (size_t i = 0; i < n; i++) {
		if (!placed[i] && ops[i].ok != CHECK_OK_UNKNOWN && oracle_considered(&ops[i]))
			all_known = false;
	}
	if (all_known)
		return true;
	for (size_t b = 0; b < n; b++) {
		if (placed[b] || !oracle_considered(&ops[b]))
			continue;
		if (!oracle_allowed(ops, n, placed, b))
			continue;
		struct oracle_value next = v;
		if (!oracle_apply(&ops[b], &next))
			continue;
		placed[b] = true;
		bool ok = oracle_search(ops, n, placed, next);
		placed[b] = false;
		if (ok)
			return true;
	}
	return false;
}

static uint64_t prop_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static const char *const prop_values[] = {"a", "b", "ab", "1", "2", "3", "-1"};
enum { PROP_VALUES = sizeof(prop_values) / sizeof(prop_values[0]) };

static struct check_str prop_value(uint64_t *x, bool nullable)
{
	uint64_t r = prop_rand(x) % (PROP_VALUES + (nullable ? 2 : 0));
	if (r >= PROP_VALUES)
		return (struct check_str){NULL, 0, false};
	return (struct check_str){prop_values[r], strlen(prop_values[r]), true};
}

static struct check_str prop_int_value(uint64_t *x, bool nullable)
{
	static const char *const ints[] = {"1", "2", "3", "0", "-1"};
	uint64_t r = prop_rand(x) % (5 + (nullable ? 3 : 0));
	if (r >= 5)
		return (struct check_str){NULL, 0, false};
	return (struct check_str){ints[r], strlen(ints[r]), true};
}

/* A random tiny history: random values, results and intervals, often not linearizable.
 * clients > 0: the ops share that many clients (which then pipeline); else one client each. */
static size_t prop_tiny_history(uint64_t *x, struct check_op *ops, size_t max, uint32_t clients)
{
	size_t n = 1 + (size_t)(prop_rand(x) % max);
	for (size_t i = 0; i < n; i++) {
		struct check_op *op = &ops[i];
		memset(op, 0, sizeof(*op));
		op->client = clients > 0 ? (int64_t)(prop_rand(x) % clients) : (int64_t)i;
		op->key = (struct check_str){"k", 1, true};
		op->kind = (enum check_kind)(prop_rand(x) % 6);
		uint64_t okr = prop_rand(x) % 10;
		op->ok = okr < 6 ? CHECK_OK_TRUE : okr < 8 ? CHECK_OK_UNKNOWN : CHECK_OK_FALSE;
		op->call_time = (int64_t)(prop_rand(x) % 12);
		op->return_time = op->call_time + (int64_t)(prop_rand(x) % 8);
		bool returned = op->ok == CHECK_OK_TRUE;
		switch (op->kind) {
		case CHECK_KIND_GET:
			if (returned)
				op->result = prop_value(x, true);
			break;
		case CHECK_KIND_PUT:
		case CHECK_KIND_APPEND:
			op->value = prop_value(x, false);
			break;
		case CHECK_KIND_DELETE:
			if (returned)
				op->existed = (enum check_existed)(prop_rand(x) % 3);
			break;
		case CHECK_KIND_CAS:
			op->expect = prop_value(x, true);
			op->value = prop_value(x, false);
			break;
		case CHECK_KIND_INCR:
			op->value = prop_int_value(x, true);
			if (returned)
				op->result = prop_int_value(x, true);
			break;
		case CHECK_KIND_MSET:
		case CHECK_KIND_DELRANGE:
		case CHECK_KIND_EXPIRE:
		case CHECK_KIND_TXN:
			break; /* not drawn */
		}
	}
	return n;
}

typedef size_t (*prop_generator)(uint64_t *x, struct check_op *ops, size_t max);

/* Runs rounds random histories of at most 9 ops from gen against the brute-force oracle;
 * each verdict must come up at least min_each times. */
static void prop_oracle_rounds(uint64_t seed, int rounds, prop_generator gen, size_t max,
                               int min_each)
{
	uint64_t x = seed;
	int verdicts[2] = {0, 0};
	assert_true(max <= 9);
	for (int round = 0; round < rounds; round++) {
		struct check_op ops[9];
		size_t n = gen(&x, ops, max);
		bool placed[9] = {false};
		bool want = oracle_search(ops, n, placed, (struct oracle_value){.present = false});
		struct check_result r;
		assert_int_equal(check_history_run(ops, n, NULL, &r), 0);
		enum check_verdict expect = want ? CHECK_LINEARIZABLE : CHECK_NOT_LINEARIZABLE;
		if (r.verdict != expect) {
			check_history_write(stderr, ops, n);
			fail_msg("round %d: oracle says %s, checker says %s", round,
			         check_verdict_name(expect), check_verdict_name(r.verdict));
		}
		verdicts[want]++;
		check_result_free(&r);
	}
	/* Both verdicts are well represented. */
	assert_true(verdicts[0] > min_each);
	assert_true(verdicts[1] > min_each);
}

static size_t prop_tiny_solo(uint64_t *x, struct check_op *ops, size_t max)
{
	return prop_tiny_history(x, ops, max, 0);
}

/* The checker agrees with the brute-force oracle on many random tiny histories. */
static void test_prop_oracle(void **state)
{
	(void)state;
	prop_oracle_rounds(0x5eed5eed5eedull, 30000, prop_tiny_solo, 7, 3000);
}

/* With clients that pipeline, the checker agrees with the oracle with client order on and
 * off; where only client order fails, the result says so. */
static void test_prop_oracle_client_order(void **state)
{
	(void)state;
	uint64_t x = 0xc11e47ull;
	int only_client = 0, verdicts[2] = {0, 0};
	for (int round = 0; round < 15000; round++) {
		struct check_op ops[7];
		size_t n = prop_tiny_history(&x, ops, 7, 2);
		bool want[2];
		for (int on = 0; on < 2; on++) {
			bool placed[7] = {false};
			oracle_client_order = on;
			want[on] =
			    oracle_search(ops, n, placed, (struct oracle_value){.present = false});
			struct check_options o = {.no_client_order = !on};
			struct check_result r;
			assert_int_equal(check_history_run(ops, n, &o, &r), 0);
			enum check_verdict expect =
			    want[on] ? CHECK_LINEARIZABLE : CHECK_NOT_LINEARIZABLE;
			if (r.verdict != expect) {
				check_history_write(stderr, ops, n);
				fail_msg(
				    "round %d, client order %s: oracle says %s, checker says %s",
				    round, on ? "on" : "off", check_verdict_name(expect),
				    check_verdict_name(r.verdict));
			}
			if (on && r.verdict == CHECK_NOT_LINEARIZABLE)
				assert_true(r.client_order_violated == want[0]);
			check_result_free(&r);
		}
		oracle_client_order = false;
		assert_true(want[0] || !want[1]); /* client order only removes orders */
		only_client += want[0] && !want[1];
		verdicts[want[1]]++;
	}
	assert_true(only_client > 300);
	assert_true(verdicts[0] > 1500 && verdicts[1] > 1500);
}

/* A hard history: many concurrent unknown appends, of 1, 2, 3... a's, and a read of more a's
 * than all of them make. Every subset of the appends leaves a prefix of what it read, so no
 * configuration is dead before the read, and the memo holds one per subset. */
static struct check_op *prop_hard_history(size_t unknowns, size_t *count)
{
	static char run[512];
	size_t total = unknowns * (unknowns + 1) / 2 + 1;
	assert_true(total < sizeof(run));
	memset(run, 'a', total);
	struct check_op *ops = calloc(unknowns + 1, sizeof(*ops));
	assert_non_null(ops);
	for (size_t i = 0; i < unknowns; i++) {
		ops[i].client = (int64_t)i;
		ops[i].kind = CHECK_KIND_APPEND;
		ops[i].ok = CHECK_OK_UNKNOWN;
		ops[i].key = (struct check_str){"k", 1, true};
		ops[i].value = (struct check_str){run, i + 1, true};
		ops[i].call_time = 0;
	}
	struct check_op *g = &ops[unknowns];
	g->client = 999;
	g->kind = CHECK_KIND_GET;
	g->ok = CHECK_OK_TRUE;
	g->key = (struct check_str){"k", 1, true};
	g->result = (struct check_str){run, total, true};
	g->call_time = 10;
	g->return_time = 20;
	*count = unknowns + 1;
	return ops;
}

/* Budgets end a hopeless search with "unknown" and a reason, quickly. */
static void test_prop_budgets(void **state)
{
	(void)state;
	size_t n;
	struct check_op *ops = prop_hard_history(24, &n);
	struct check_result r;

	struct check_options states = {.budget_states = 20000};
	assert_int_equal(check_history_run(ops, n, &states, &r), 0);
	assert_int_equal(r.verdict, CHECK_UNKNOWN);
	assert_non_null(strstr(r.reason, "state budget of 20000 states"));
	assert_non_null(strstr(r.reason, "key \"k\""));
	assert_true(r.states <= 20001);
	check_result_free(&r);

	struct check_options time = {.budget_ms = 200};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(check_history_run(ops, n, &time, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(r.verdict, CHECK_UNKNOWN);
	assert_non_null(strstr(r.reason, "time budget of 200 ms"));
	assert_true(elapsed < 5.0);
	check_result_free(&r);

	struct check_options memory = {.budget_bytes = 200000};
	assert_int_equal(check_history_run(ops, n, &memory, &r), 0);
	assert_int_equal(r.verdict, CHECK_UNKNOWN);
	assert_non_null(strstr(r.reason, "memory budget of 200000 bytes"));
	assert_true(r.peak_bytes <= 200000);
	check_result_free(&r);

	/* A second, easy key is still decided after the first ran out of memory. */
	struct check_op *more = realloc(ops, (n + 1) * sizeof(*ops));
	assert_non_null(more);
	ops = more;
	memset(&ops[n], 0, sizeof(ops[n]));
	ops[n].kind = CHECK_KIND_GET;
	ops[n].ok = CHECK_OK_TRUE;
	ops[n].key = (struct check_str){"z", 1, true};
	ops[n].result = (struct check_str){"nope", 4, true};
	ops[n].call_time = 1;
	ops[n].return_time = 2;
	assert_int_equal(check_history_run(ops, n + 1, &memory, &r), 0);
	assert_int_equal(r.verdict, CHECK_NOT_LINEARIZABLE);
	assert_int_equal(r.keys[0].verdict, CHECK_UNKNOWN);
	assert_int_equal(r.keys[1].verdict, CHECK_NOT_LINEARIZABLE);
	check_result_free(&r);
	free(ops);
}

/* Tiny histories of appends over values that are prefixes of one another, with many unknown
 * outcomes: where the rules about unknown appends and resets (dead configurations, placed
 * unknown ops as a mask in the memo) have something to decide. */
static size_t prop_append_history(uint64_t *x, struct check_op *ops, size_t max)
{
	static const char *const pieces[] = {"a", "b", "ab", "x"};
	static const char *const reads[] = {"a", "ab", "aba", "abab", "b",   "ba",  "bab",
	                                    "x", "xa", "xab", "xb",   "xba", "abb", "aab"};
	size_t n = 2 + (size_t)(prop_rand(x) % (max - 1));
	for (size_t i = 0; i < n; i++) {
		struct check_op *op = &ops[i];
		memset(op, 0, sizeof(*op));
		op->client = (int64_t)i;
		op->key = (struct check_str){"k", 1, true};
		uint64_t kr = prop_rand(x) % 10;
		op->kind = kr < 3   ? CHECK_KIND_GET
		           : kr < 5 ? CHECK_KIND_PUT
		           : kr < 9 ? CHECK_KIND_APPEND
		                    : CHECK_KIND_DELETE;
		bool unknown = op->kind != CHECK_KIND_GET && prop_rand(x) % 2 == 0;
		op->ok = unknown ? CHECK_OK_UNKNOWN : CHECK_OK_TRUE;
		op->call_time = (int64_t)(prop_rand(x) % 10);
		op->return_time = op->call_time + (int64_t)(prop_rand(x) % 6);
		const char *v = pieces[prop_rand(x) % 4];
		if (op->kind == CHECK_KIND_PUT || op->kind == CHECK_KIND_APPEND)
			op->value = (struct check_str){v, strlen(v), true};
		if (op->kind == CHECK_KIND_GET) {
			uint64_t r = prop_rand(x) % 15;
			if (r < 14)
				op->result = (struct check_str){reads[r], strlen(reads[r]), true};
		}
	}
	return n;
}

/* The checker agrees with the brute-force oracle on append-heavy tiny histories. */
static void test_prop_oracle_appends(void **state)
{
	(void)state;
	prop_oracle_rounds(0xa99e4d5ull, 40000, prop_append_history, 9, 4000);
}

/* Generated append histories at the scale of issue 12's class (many clients on few keys,
 * 10% unknown outcomes) are never judged not linearizable. */
static void test_prop_generated_appends(void **state)
{
	(void)state;
	int decided = 0;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct gen_config cfg = {
		    .seed = seed + 9000,
		    .op_count = 200 + (size_t)(seed * 53 % 600),
		    .client_count = 10 + (uint32_t)(seed * 11 % 41),
		    .key_count = 2 + (uint32_t)(seed % 3),
		    .unknown_percent = 10,
		    .fail_percent = 2,
		    .stretch = 40,
		    .mix = GEN_MIX_APPEND,
		};
		struct check_history h;
		assert_int_equal(gen_history(&cfg, &h), 0);
		struct check_result r;
		struct check_options budget = {.budget_states = 500000};
		assert_int_equal(check_history_run(h.ops, h.op_count, &budget, &r), 0);
		if (r.verdict == CHECK_NOT_LINEARIZABLE) {
			prop_dump(&h, &r);
			fail_msg("seed %" PRIu64
			         ": a generated append history was judged not linearizable",
			         seed);
		}
		decided += r.verdict == CHECK_LINEARIZABLE;
		check_result_free(&r);
		check_history_free(&h);
	}
	assert_true(decided > 30);
}

/* With appends, incrs and unknown outcomes the answer is right or "unknown", never wrong. */
static void test_prop_generated_sound(void **state)
{
	(void)state;
	int decided = 0;
	for (uint64_t seed = 1; seed <= 60; seed++) {
		struct gen_config cfg = {
		    .seed = seed + 5000,
		    .op_count = 50 + (size_t)(seed * 37 % 300),
		    .client_count = 2 + (uint32_t)(seed % 8),
		    .key_count = 1 + (uint32_t)(seed % 3),
		    .unknown_percent = 5 + (uint32_t)(seed % 3) * 5,
		    .fail_percent = 3,
		    .stretch = 5 + (uint32_t)(seed * 7 % 40),
		    .mix = GEN_MIX_ALL,
		};
		struct check_history h;
		assert_int_equal(gen_history(&cfg, &h), 0);
		struct check_result r;
		struct check_options budget = {.budget_states = 200000};
		assert_int_equal(check_history_run(h.ops, h.op_count, &budget, &r), 0);
		if (r.verdict == CHECK_NOT_LINEARIZABLE) {
			prop_dump(&h, &r);
			fail_msg("seed %" PRIu64
			         ": a generated history was judged not linearizable",
			         seed);
		}
		decided += r.verdict == CHECK_LINEARIZABLE;
		check_result_free(&r);
		check_history_free(&h);
	}
	assert_true(decided > 20);
}

/* Larger generated histories stay fast: a smoke test of the benchmark's shape. */
static void test_prop_large(void **state)
{
	(void)state;
	struct gen_config cfg = {
	    .seed = 99,
	    .op_count = 20000,
	    .client_count = 16,
	    .key_count = 1,
	    .unknown_percent = 10,
	    .fail_percent = 2,
	    .stretch = 40,
	    .mix = GEN_MIX_REGISTER,
	};
	for (int keys = 1; keys <= 100; keys *= 10) {
		cfg.key_count = (uint32_t)keys;
		struct check_history h;
		assert_int_equal(gen_history(&cfg, &h), 0);
		struct check_result r;
		if (prop_run(&h, &r) != CHECK_LINEARIZABLE) {
			prop_dump(&h, &r);
			fail_msg("%d keys: large history judged %s", keys,
			         check_verdict_name(r.verdict));
		}
		check_result_free(&r);
		check_history_free(&h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prop_generated_linearizable),
	    cmocka_unit_test(test_prop_injected_anomalies),
	    cmocka_unit_test(test_prop_oracle),
	    cmocka_unit_test(test_prop_oracle_client_order),
	    cmocka_unit_test(test_prop_budgets),
	    cmocka_unit_test(test_prop_generated_sound),
	    cmocka_unit_test(test_prop_oracle_appends),
	    cmocka_unit_test(test_prop_generated_appends),
	    cmocka_unit_test(test_prop_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
