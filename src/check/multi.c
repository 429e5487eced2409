/* multi.c: the search for a group of keys tied together by multi-key operations (mset,
 * delrange, txn). The object is the tuple of the group's values; the search is Wing & Gong's
 * with Lowe's memoization, without the single-key pruning rules of search_run.c: it is
 * meant for small groups, and spends states (the budget) where those rules would not. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check/internal.h"
#include "check/model.h"
#include "check/search.h"

/* Ops in one group at most: the search recurses once per placed op. */
#define MULTI_OPS_MAX 20000

struct mop {
	size_t global;
	int64_t call, ret; /* ret INT64_MAX for unknown */
	uint64_t z1, z2;
	uint32_t touch, touch_n; /* keys[m->touch[touch .. + touch_n)], values alike */
	uint32_t ncmp, nthen;    /* txn: its touches are ncmp compares, nthen then-ops, else-ops */
	uint32_t expect, result; /* model states (cas expect; get result), MODEL_NONE: none */
	int64_t delta, count;    /* incr's delta; incr's result or delrange's count */
	bool counted;            /* count was observed */
	uint32_t client, need;   /* client order: same-client known ops called before it */
	uint32_t call_prev, call_next, ret_prev, ret_next; /* the two lists of pending ops */
	bool known, done;
};

struct mmemo {
	uint64_t a, b;
	uint32_t tuple, used;
};

struct multi {
	const struct check_op *ops;
	struct budget *budget;
	struct model model;
	struct mop *op;
	uint32_t n, known_left, head_call, head_ret; /* list heads: n means empty */
	const struct check_str **keys;
	uint32_t key_count;
	uint32_t *touch, *touch_value, touch_count;
	uint8_t *touch_kind; /* txn sub-operations: their enum check_kind */
	uint32_t *placed_by_client;
	bool client_order;
	uint32_t *tuples, tuple_count, tuple_cap; /* key_count ids per tuple */
	uint32_t *ttable;                         /* tuple id + 1 */
	size_t ttable_cap;
	struct mmemo *memo;
	size_t memo_cap, memo_count;
	uint64_t fp1, fp2;
	uint32_t *path, depth, *best, best_depth, best_tuple;
	uint32_t *scratch; /* key_count ids */
	int error;
};

static uint64_t multi_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t multi_key_index(const struct multi *m, const struct check_str *k)
{
	uint32_t lo = 0, hi = m->key_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (check_str_compare(m->keys[mid], k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int multi_intern(struct multi *m, const struct check_str *s, uint32_t *id)
{
	if (!s->present) {
		*id = MODEL_ABSENT;
		return 0;
	}
	return model_intern(&m->model, s->len ? s->bytes : "", s->len, id);
}

/* ---- tuples ---- */

static uint64_t multi_tuple_hash(const struct multi *m, const uint32_t *t)
{
	uint64_t h = 0x243f6a8885a308d3ull;
	for (uint32_t i = 0; i < m->key_count; i++)
		h = multi_mix(h ^ t[i]);
	return h;
}

static int multi_tuple_grow(struct multi *m)
{
	size_t k = m->key_count;
	size_t cap = m->tuple_cap ? m->tuple_cap * 2 : 64;
	uint32_t *t = budget_realloc(m->budget, m->tuples, m->tuple_cap * k * sizeof(*t),
	                             cap * k * sizeof(*t));
	uint32_t *table = budget_calloc(m->budget, cap * 2, sizeof(*table));
	if (t == NULL || table == NULL) {
		if (t != NULL)
			m->tuples = t, m->tuple_cap = cap;
		budget_free(m->budget, table, cap * 2 * sizeof(*table));
		return -ENOMEM;
	}
	m->tuples = t;
	for (uint32_t id = 0; id < m->tuple_count; id++) {
		size_t at = multi_tuple_hash(m, t + id * k) & (cap * 2 - 1);
		while (table[at] != 0)
			at = (at + 1) & (cap * 2 - 1);
		table[at] = id + 1;
	}
	budget_free(m->budget, m->ttable, m->ttable_cap * sizeof(*m->ttable));
	m->ttable = table;
	m->ttable_cap = cap * 2;
	m->tuple_cap = cap;
	return 0;
}

static int multi_tuple_intern(struct multi *m, const uint32_t *t, uint32_t *id)
{
	size_t k = m->key_count;
	if (m->tuple_count == m->tuple_cap && multi_tuple_grow(m) != 0)
		return -ENOMEM;
	size_t at = multi_tuple_hash(m, t) & (m->ttable_cap - 1);
	for (; m->ttable[at] != 0; at = (at + 1) & (m->ttable_cap - 1)) {
		uint32_t cand = m->ttable[at] - 1;
		if (memcmp(m->tuples + cand * k, t, k * sizeof(*t)) == 0) {
			*id = cand;
			return 0;
		}
	}
	memcpy(m->tuples + m->tuple_count * k, t, k * sizeof(*t));
	m->ttable[at] = m->tuple_count + 1;
	*id = m->tuple_count++;
	return 0;
}

/* ---- the sequential specification, on the tuple ---- */

static bool multi_incr(struct multi *m, const struct mop *o, uint32_t *v)
{
	int64_t cur, sum;
	if (!model_int(&m->model, *v, &cur) || __builtin_add_overflow(cur, o->delta, &sum))
		return false;
	uint32_t id;
	if (model_intern_int(&m->model, sum, &id) != 0) {
		m->error = -ENOMEM;
		return false;
	}
	if (o->counted && o->count != sum)
		return false;
	*v = id;
	return true;
}

/* A txn on the values t: the compares at this instant pick the branch, which must be the one
 * observed; its sub-operations apply in order, each seeing the ones before. */
static bool multi_txn(struct multi *m, const struct mop *o, const struct check_op *op, uint32_t *t)
{
	uint32_t cmp_end = o->touch + o->ncmp;
	bool held = true;
	for (uint32_t at = o->touch; at < cmp_end; at++)
		held = held && t[m->touch[at]] == m->touch_value[at];
	if ((op->branch == CHECK_BRANCH_THEN && !held) || (op->branch == CHECK_BRANCH_ELSE && held))
		return false;
	/* The gets' results are observations only where the client saw the branch. */
	bool observed = op->ok == CHECK_OK_TRUE && op->branch != CHECK_BRANCH_UNOBSERVED;
	uint32_t from = held ? cmp_end : cmp_end + o->nthen;
	uint32_t to = held ? cmp_end + o->nthen : o->touch + o->touch_n;
	for (uint32_t at = from; at < to; at++) {
		uint32_t *v = &t[m->touch[at]];
		switch ((enum check_kind)m->touch_kind[at]) {
		case CHECK_KIND_GET:
			if (observed && *v != m->touch_value[at])
				return false;
			break;
		case CHECK_KIND_PUT:
			*v = m->touch_value[at];
			break;
		case CHECK_KIND_DELETE:
			*v = MODEL_ABSENT;
			break;
		case CHECK_KIND_APPEND:
			if (model_concat(&m->model, *v, m->touch_value[at], v) != 0) {
				m->error = -ENOMEM;
				return false;
			}
			break;
		default:
			assert(false); /* check_op_validate admits no other sub-operation */
			return false;
		}
	}
	return true;
}

/* Applies op to the values t (in place); false if it cannot take effect on them. */
static bool multi_step(struct multi *m, const struct mop *o, uint32_t *t)
{
	const struct check_op *op = &m->ops[o->global];
	uint32_t *v = &t[m->touch[o->touch]];
	uint32_t val = m->touch_value[o->touch];
	switch (op->kind) {
	case CHECK_KIND_GET:
		return *v == o->result;
	case CHECK_KIND_PUT:
		*v = val;
		return true;
	case CHECK_KIND_DELETE:
		if ((op->existed == CHECK_EXISTED_YES && *v == MODEL_ABSENT) ||
		    (op->existed == CHECK_EXISTED_NO && *v != MODEL_ABSENT))
			return false;
		*v = MODEL_ABSENT;
		return true;
	case CHECK_KIND_APPEND:
		if (model_concat(&m->model, *v, val, v) != 0)
			m->error = -ENOMEM;
		return m->error == 0;
	case CHECK_KIND_CAS:
		if (op->ok == CHECK_OK_FALSE)
			return *v != o->expect;
		if (*v != o->expect)
			return false;
		*v = val;
		return true;
	case CHECK_KIND_INCR:
		return multi_incr(m, o, v);
	case CHECK_KIND_MSET:
		for (uint32_t j = 0; j < o->touch_n; j++)
			t[m->touch[o->touch + j]] = m->touch_value[o->touch + j];
		return true;
	case CHECK_KIND_EXPIRE:
		if (*v != o->expect)
			return false;
		*v = MODEL_ABSENT;
		return true;
	case CHECK_KIND_DELRANGE: {
		int64_t existed = 0;
		for (uint32_t j = 0; j < o->touch_n; j++) {
			existed += t[m->touch[o->touch + j]] != MODEL_ABSENT;
			t[m->touch[o->touch + j]] = MODEL_ABSENT;
		}
		return !o->counted || o->count == existed;
	}
	case CHECK_KIND_TXN:
		return multi_txn(m, o, op, t);
	}
	return false;
}

/* ---- memo: (set of placed ops, tuple) seen ---- */

static int multi_memo_add(struct multi *m, uint32_t tuple, bool *seen)
{
	if ((m->memo_count + 1) * 2 > m->memo_cap) {
		size_t cap = m->memo_cap ? m->memo_cap * 2 : 1024;
		struct mmemo *memo = budget_calloc(m->budget, cap, sizeof(*memo));
		if (memo == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < m->memo_cap; i++) {
			if (!m->memo[i].used)
				continue;
			size_t at = (m->memo[i].a ^ m->memo[i].tuple) & (cap - 1);
			while (memo[at].used)
				at = (at + 1) & (cap - 1);
			memo[at] = m->memo[i];
		}
		budget_free(m->budget, m->memo, m->memo_cap * sizeof(*memo));
		m->memo = memo;
		m->memo_cap = cap;
	}
	size_t at = (m->fp1 ^ tuple) & (m->memo_cap - 1);
	for (; m->memo[at].used; at = (at + 1) & (m->memo_cap - 1)) {
		const struct mmemo *e = &m->memo[at];
		if (e->a == m->fp1 && e->b == m->fp2 && e->tuple == tuple) {
			*seen = true;
			return 0;
		}
	}
	m->memo[at] = (struct mmemo){m->fp1, m->fp2, tuple, 1};
	m->memo_count++;
	*seen = false;
	return 0;
}

/* ---- the search ---- */

static void multi_place(struct multi *m, uint32_t i)
{
	struct mop *o = &m->op[i];
	uint32_t *head = &m->head_call;
	if (o->call_prev == m->n)
		*head = o->call_next;
	else
		m->op[o->call_prev].call_next = o->call_next;
	if (o->call_next != m->n)
		m->op[o->call_next].call_prev = o->call_prev;
	if (o->known) {
		if (o->ret_prev == m->n)
			m->head_ret = o->ret_next;
		else
			m->op[o->ret_prev].ret_next = o->ret_next;
		if (o->ret_next != m->n)
			m->op[o->ret_next].ret_prev = o->ret_prev;
		m->known_left--;
		m->placed_by_client[o->client]++;
	}
	o->done = true;
	m->fp1 ^= o->z1;
	m->fp2 ^= o->z2;
	m->path[m->depth++] = i;
}

static void multi_unplace(struct multi *m, uint32_t i)
{
	struct mop *o = &m->op[i];
	if (o->call_prev == m->n)
		m->head_call = i;
	else
		m->op[o->call_prev].call_next = i;
	if (o->call_next != m->n)
		m->op[o->call_next].call_prev = i;
	if (o->known) {
		if (o->ret_prev == m->n)
			m->head_ret = i;
		else
			m->op[o->ret_prev].ret_next = i;
		if (o->ret_next != m->n)
			m->op[o->ret_next].ret_prev = i;
		m->known_left++;
		m->placed_by_client[o->client]--;
	}
	o->done = false;
	m->fp1 ^= o->z1;
	m->fp2 ^= o->z2;
	m->depth--;
}

/* The tuple op i leaves after tuple, in *next; false if it cannot go there. */
static bool multi_try(struct multi *m, uint32_t i, uint32_t tuple, uint32_t *next)
{
	size_t k = m->key_count;
	memcpy(m->scratch, m->tuples + tuple * k, k * sizeof(*m->scratch));
	if (!multi_step(m, &m->op[i], m->scratch))
		return false;
	if (multi_tuple_intern(m, m->scratch, next) != 0) {
		m->error = -ENOMEM;
		return false;
	}
	return true;
}

/* 1: every known op placed; 0: none from here; -1: a budget ran out (or no memory). */
static int multi_dfs(struct multi *m, uint32_t tuple)
{
	if (m->known_left == 0)
		return 1;
	bool seen;
	if (multi_memo_add(m, tuple, &seen) != 0 || budget_charge_state(m->budget) != 0)
		return -1;
	if (seen)
		return 0;
	if (m->depth > m->best_depth || m->best_depth == 0) {
		memcpy(m->best, m->path, m->depth * sizeof(*m->best));
		m->best_depth = m->depth;
		m->best_tuple = tuple;
	}
	int64_t r_min = m->op[m->head_ret].ret;
	for (uint32_t i = m->head_call; i != m->n && m->op[i].call <= r_min;
	     i = m->op[i].call_next) {
		const struct mop *o = &m->op[i];
		if (o->known && m->client_order && m->placed_by_client[o->client] < o->need)
			continue;
		uint32_t next;
		if (!multi_try(m, i, tuple, &next)) {
			if (m->error != 0)
				return -1;
			continue;
		}
		if (!o->known && next == tuple)
			continue; /* changes nothing: leaving it out reaches the same, and more */
		multi_place(m, i);
		int rc = multi_dfs(m, next);
		multi_unplace(m, i);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- preparation ---- */

static int multi_cmp_key(const void *a, const void *b)
{
	return check_str_compare(*(const struct check_str *const *)a,
	                         *(const struct check_str *const *)b);
}

/* The group's keys, sorted and unique, and room for what every op touches. */
static int multi_keys(struct multi *m, const size_t *index, size_t count)
{
	size_t total = 0;
	for (size_t i = 0; i < count; i++)
		total += check_op_extra_keys(&m->ops[index[i]]) + 1;
	m->keys = malloc((total + 1) * sizeof(*m->keys));
	if (m->keys == NULL)
		return -ENOMEM;
	size_t at = 0;
	for (size_t i = 0; i < count; i++) {
		const struct check_op *op = &m->ops[index[i]];
		m->keys[at++] = &op->key;
		for (size_t j = 0; j < check_op_extra_keys(op); j++)
			m->keys[at++] = check_op_extra_key(op, j);
	}
	qsort(m->keys, at, sizeof(*m->keys), multi_cmp_key);
	m->key_count = 0;
	for (size_t i = 0; i < at; i++) {
		if (m->key_count == 0 || check_str_compare(m->keys[m->key_count - 1], m->keys[i]))
			m->keys[m->key_count++] = m->keys[i];
	}
	/* A delrange touches every key of the group in its range, at most all of them. */
	size_t touches = total + count * (size_t)m->key_count + 1;
	m->touch = calloc(touches, sizeof(*m->touch));
	m->touch_value = calloc(touches, sizeof(*m->touch_value));
	m->touch_kind = calloc(touches, sizeof(*m->touch_kind));
	return m->touch && m->touch_value && m->touch_kind ? 0 : -ENOMEM;
}

static void multi_touch(struct multi *m, uint32_t key, uint32_t value)
{
	m->touch_kind[m->touch_count] = CHECK_KIND_GET;
	m->touch[m->touch_count] = key;
	m->touch_value[m->touch_count++] = value;
}

/* A txn's touches: each compare (key, value or absent), then each sub-operation of then and
 * else (key, value written or appended, or a get's result) with its kind. */
static int multi_txn_fill(struct multi *m, const struct check_op *op, struct mop *o)
{
	int rc = 0;
	uint32_t value;
	for (size_t j = 0; j < op->compare_count && rc == 0; j++) {
		rc = multi_intern(m, &op->compares[j].value, &value);
		multi_touch(m, multi_key_index(m, &op->compares[j].key), value);
	}
	o->ncmp = (uint32_t)op->compare_count;
	o->nthen = (uint32_t)op->then_count;
	for (size_t j = 0; j < op->then_count + op->else_count && rc == 0; j++) {
		const struct check_subop *s =
		    j < op->then_count ? &op->then_ops[j] : &op->else_ops[j - op->then_count];
		rc = multi_intern(m, s->kind == CHECK_KIND_GET ? &s->result : &s->value, &value);
		m->touch_kind[m->touch_count] = (uint8_t)s->kind;
		m->touch[m->touch_count] = multi_key_index(m, &s->key);
		m->touch_value[m->touch_count++] = value;
	}
	o->touch_n = m->touch_count - o->touch;
	return rc;
}

/* The keys op touches and the values it writes there; its expected and observed values. */
static int multi_op_fill(struct multi *m, const struct check_op *op, struct mop *o)
{
	uint32_t first = multi_key_index(m, &op->key), value = MODEL_NONE;
	o->touch = m->touch_count;
	int rc = 0;
	if (op->kind == CHECK_KIND_TXN)
		return multi_txn_fill(m, op, o);
	if (op->kind == CHECK_KIND_MSET) {
		for (size_t j = 0; j < op->key_count && rc == 0; j++) {
			rc = multi_intern(m, &op->values[j], &value);
			multi_touch(m, multi_key_index(m, &op->keys[j]), value);
		}
	} else if (op->kind == CHECK_KIND_DELRANGE) {
		for (uint32_t j = first;
		     j < m->key_count && check_str_compare(m->keys[j], &op->range_end) < 0; j++)
			multi_touch(m, j, MODEL_ABSENT);
	} else {
		if (op->kind != CHECK_KIND_INCR)
			rc = multi_intern(m, &op->value, &value);
		multi_touch(m, first, value);
	}
	o->touch_n = m->touch_count - o->touch;
	if (rc == 0 && (op->kind == CHECK_KIND_CAS || op->kind == CHECK_KIND_EXPIRE))
		rc = multi_intern(m, &op->expect, &o->expect);
	if (rc == 0 && op->kind == CHECK_KIND_GET)
		rc = multi_intern(m, &op->result, &o->result);
	o->delta = 1;
	if (op->kind == CHECK_KIND_INCR && op->value.present)
		model_parse_int(op->value.bytes, op->value.len, &o->delta);
	o->counted = (op->kind == CHECK_KIND_INCR || op->kind == CHECK_KIND_DELRANGE) &&
	             op->result.present && op->ok == CHECK_OK_TRUE &&
	             model_parse_int(op->result.bytes, op->result.len, &o->count);
	return rc;
}

static int multi_cmp_client(const void *pa, const void *pb, void *arg)
{
	const struct multi *m = arg;
	const struct mop *a = &m->op[*(const uint32_t *)pa], *b = &m->op[*(const uint32_t *)pb];
	int64_t ca = m->ops[a->global].client, cb = m->ops[b->global].client;
	if (ca != cb)
		return ca < cb ? -1 : 1;
	return a->call < b->call ? -1 : (a->call > b->call);
}

static int multi_cmp_ret(const void *pa, const void *pb, void *arg)
{
	const struct multi *m = arg;
	const struct mop *a = &m->op[*(const uint32_t *)pa], *b = &m->op[*(const uint32_t *)pb];
	if (a->ret != b->ret)
		return a->ret < b->ret ? -1 : 1;
	return a->call < b->call ? -1 : (a->call > b->call);
}

/* Client order (each known op waits for its client's known ops called before it) and the
 * list of pending known ops by return time. */
static int multi_lists(struct multi *m)
{
	uint32_t *order = malloc((m->n + 1) * sizeof(*order)), known = 0;
	m->placed_by_client = calloc(m->n + 1, sizeof(*m->placed_by_client));
	if (order == NULL || m->placed_by_client == NULL) {
		free(order);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		m->op[i].call_prev = i == 0 ? m->n : i - 1;
		m->op[i].call_next = i + 1;
		if (m->op[i].known)
			order[known++] = i;
	}
	m->head_call = 0;
	qsort_r(order, known, sizeof(*order), multi_cmp_client, m);
	for (uint32_t i = 0, client = 0, run = 0; i < known; i++) {
		struct mop *o = &m->op[order[i]], *p = i ? &m->op[order[i - 1]] : NULL;
		if (p != NULL && m->ops[p->global].client != m->ops[o->global].client)
			client++, run = i;
		o->client = client;
		o->need =
		    p != NULL && p->client == client && p->call == o->call ? p->need : i - run;
	}
	qsort_r(order, known, sizeof(*order), multi_cmp_ret, m);
	m->head_ret = known ? order[0] : m->n;
	for (uint32_t i = 0; i < known; i++) {
		m->op[order[i]].ret_prev = i == 0 ? m->n : order[i - 1];
		m->op[order[i]].ret_next = i + 1 < known ? order[i + 1] : m->n;
	}
	m->known_left = known;
	free(order);
	return 0;
}

static int multi_prepare(struct multi *m, const size_t *index, size_t count)
{
	int rc = multi_keys(m, index, count);
	m->op = calloc(count + 1, sizeof(*m->op));
	m->path = malloc((count + 1) * sizeof(*m->path));
	m->best = malloc((count + 1) * sizeof(*m->best));
	m->scratch = malloc((m->key_count + 1) * sizeof(*m->scratch));
	if (rc != 0 || !m->op || !m->path || !m->best || !m->scratch)
		return -ENOMEM;
	uint64_t seed = 0x5eed;
	for (size_t i = 0; i < count && rc == 0; i++) {
		const struct check_op *op = &m->ops[index[i]];
		if (search_op_dropped(op))
			continue;
		struct mop *o = &m->op[m->n++];
		o->global = index[i];
		o->call = op->call_time;
		o->known = op->ok != CHECK_OK_UNKNOWN;
		o->ret = o->known ? op->return_time : INT64_MAX;
		o->z1 = multi_mix(seed += 2);
		o->z2 = multi_mix(seed + 1);
		o->expect = o->result = MODEL_NONE;
		rc = multi_op_fill(m, op, o);
	}
	if (rc == 0)
		rc = multi_lists(m);
	for (uint32_t i = 0; i < m->key_count && rc == 0; i++)
		m->scratch[i] = MODEL_ABSENT;
	uint32_t start;
	return rc == 0 ? multi_tuple_intern(m, m->scratch, &start) : rc;
}

static void multi_release(struct multi *m)
{
	free(m->keys);
	free(m->touch);
	free(m->touch_value);
	free(m->touch_kind);
	free(m->op);
	free(m->path);
	free(m->best);
	free(m->scratch);
	free(m->placed_by_client);
	budget_free(m->budget, m->tuples, m->tuple_cap * m->key_count * sizeof(*m->tuples));
	budget_free(m->budget, m->ttable, m->ttable_cap * sizeof(*m->ttable));
	budget_free(m->budget, m->memo, m->memo_cap * sizeof(*m->memo));
	model_free(&m->model);
}

/* "k1=v k2=(absent)": the group's values after the prefix, for the report. */
static int multi_describe(struct multi *m, uint32_t tuple, struct search_result *out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->key_count; i++) {
		uint32_t v = m->tuples[tuple * m->key_count + i];
		char *bytes = NULL;
		size_t n = 0;
		if (v != MODEL_ABSENT && model_materialize(&m->model, v, &bytes, &n) != 0)
			break;
		fprintf(f, "%s%.*s=", i ? " " : "", (int)m->keys[i]->len, m->keys[i]->bytes);
		if (v == MODEL_ABSENT)
			fputs("(absent)", f);
		else
			fwrite(bytes, 1, n, f);
		free(bytes);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	out->state = text;
	out->state_len = len;
	return 0;
}

/* The deepest configuration as the explanation: its prefix, and the known ops that could
 * have gone next by real time, earliest return first. */
static int multi_explain(struct multi *m, struct search_result *out)
{
	out->prefix = malloc((m->best_depth + 1) * sizeof(*out->prefix));
	out->stuck = malloc((m->n + 1) * sizeof(*out->stuck));
	if (out->prefix == NULL || out->stuck == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->n; i++)
		m->op[i].done = false;
	for (uint32_t i = 0; i < m->best_depth; i++) {
		out->prefix[i] = m->op[m->best[i]].global;
		m->op[m->best[i]].done = true;
	}
	out->prefix_count = m->best_depth;
	int64_t r_min = INT64_MAX;
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->op[i].known && !m->op[i].done && m->op[i].ret < r_min)
			r_min = m->op[i].ret;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->op[i].known && !m->op[i].done && m->op[i].call <= r_min)
			out->stuck[out->stuck_count++] = m->op[i].global;
	}
	return multi_describe(m, m->best_tuple, out);
}

int search_multi(const struct check_op *ops, const size_t *index, size_t count, bool client_order,
                 struct budget *budget, struct search_result *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = CHECK_UNKNOWN;
	if (count > MULTI_OPS_MAX) {
		budget->exhausted = BUDGET_MEMORY; /* the search recurses once per op */
		return 0;
	}
	struct multi m = {.ops = ops, .budget = budget, .client_order = client_order};
	uint64_t states_before = budget->states;
	int rc = model_init(&m.model, budget);
	if (rc == 0)
		rc = multi_prepare(&m, index, count);
	out->checked_count = m.n;
	if (rc == 0) {
		int found = multi_dfs(&m, 0);
		out->verdict = found > 0    ? CHECK_LINEARIZABLE
		               : found == 0 ? CHECK_NOT_LINEARIZABLE
		                            : CHECK_UNKNOWN;
		if (found == 0)
			rc = multi_explain(&m, out);
	}
	if (out->verdict == CHECK_UNKNOWN && budget->exhausted == BUDGET_OK)
		budget->exhausted = BUDGET_OOM;
	out->states = budget->states - states_before;
	multi_release(&m);
	if (rc != 0 && out->verdict == CHECK_NOT_LINEARIZABLE) {
		free(out->prefix);
		free(out->stuck);
		free(out->state);
		memset(out, 0, sizeof(*out));
		return -ENOMEM;
	}
	return 0;
}
