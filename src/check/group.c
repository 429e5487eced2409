/* group.c: splits a history into the objects checked one by one: single keys, and groups of
 * keys that multi-key operations (mset, delrange, txn) tie together. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check/internal.h"

/* Every key named in the history, sorted and unique: op keys and mset's other keys. */
struct group_keys {
	const struct check_str **k;
	size_t n;
	size_t *parent; /* union-find over k */
	bool *multi;    /* by root: some multi-key op touches the group */
};

static int group_cmp_ptr(const void *a, const void *b)
{
	return check_str_compare(*(const struct check_str *const *)a,
	                         *(const struct check_str *const *)b);
}

/* The index of s in g->k (present by construction), or the first key >= s. */
static size_t group_lower(const struct group_keys *g, const struct check_str *s)
{
	size_t lo = 0, hi = g->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (check_str_compare(g->k[mid], s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t group_find(struct group_keys *g, size_t x)
{
	while (g->parent[x] != x) {
		g->parent[x] = g->parent[g->parent[x]];
		x = g->parent[x];
	}
	return x;
}

static void group_union(struct group_keys *g, size_t a, size_t b)
{
	a = group_find(g, a);
	b = group_find(g, b);
	bool m = g->multi[a] || g->multi[b];
	if (a != b)
		g->parent[b] = a;
	g->multi[a] = m;
}

/* The i-th key a txn names: compares, then, else in turn. */
static const struct check_str *group_txn_key(const struct check_op *op, size_t i)
{
	if (i < op->compare_count)
		return &op->compares[i].key;
	i -= op->compare_count;
	if (i < op->then_count)
		return &op->then_ops[i].key;
	return &op->else_ops[i - op->then_count].key;
}

size_t check_op_extra_keys(const struct check_op *op)
{
	if (op->kind == CHECK_KIND_MSET)
		return op->key_count;
	if (op->kind == CHECK_KIND_TXN)
		return op->compare_count + op->then_count + op->else_count;
	return 0;
}

const struct check_str *check_op_extra_key(const struct check_op *op, size_t i)
{
	return op->kind == CHECK_KIND_MSET ? &op->keys[i] : group_txn_key(op, i);
}

static int group_collect(struct group_keys *g, const struct check_op *ops, size_t n)
{
	size_t total = n;
	for (size_t i = 0; i < n; i++)
		total += check_op_extra_keys(&ops[i]);
	g->k = malloc((total ? total : 1) * sizeof(*g->k));
	g->parent = malloc((total ? total : 1) * sizeof(*g->parent));
	g->multi = calloc(total ? total : 1, sizeof(*g->multi));
	if (g->k == NULL || g->parent == NULL || g->multi == NULL)
		return -ENOMEM;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		g->k[at++] = &ops[i].key;
		for (size_t j = 0; j < check_op_extra_keys(&ops[i]); j++)
			g->k[at++] = check_op_extra_key(&ops[i], j);
	}
	qsort(g->k, total, sizeof(*g->k), group_cmp_ptr);
	g->n = 0;
	for (size_t i = 0; i < total; i++) {
		if (g->n == 0 || check_str_compare(g->k[g->n - 1], g->k[i]) != 0)
			g->k[g->n++] = g->k[i];
	}
	for (size_t i = 0; i < g->n; i++)
		g->parent[i] = i;
	return 0;
}

/* Joins the keys each multi-key op touches: mset's and txn's keys; for delrange, every key of the
 * history in its range (keys nobody names cannot be observed, so they do not matter). */
static void group_join(struct group_keys *g, const struct check_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct check_op *op = &ops[i];
		size_t first = group_lower(g, &op->key);
		if (op->kind == CHECK_KIND_MSET || op->kind == CHECK_KIND_TXN) {
			g->multi[group_find(g, first)] = true;
			for (size_t j = 0; j < check_op_extra_keys(op); j++)
				group_union(g, first, group_lower(g, check_op_extra_key(op, j)));
		} else if (op->kind == CHECK_KIND_EXPIRE) {
			g->multi[group_find(g, first)] = true;
		} else if (op->kind == CHECK_KIND_DELRANGE) {
			g->multi[group_find(g, first)] = true;
			for (size_t j = first + 1;
			     j < g->n && check_str_compare(g->k[j], &op->range_end) < 0; j++)
				group_union(g, first, j);
		}
	}
}

struct group_item {
	const struct check_str *rep; /* the group's first key */
	int64_t call_time;
	size_t index;
};

static int group_item_cmp(const void *pa, const void *pb)
{
	const struct group_item *a = pa, *b = pb;
	int c = check_str_compare(a->rep, b->rep);
	if (c != 0)
		return c;
	if (a->call_time != b->call_time)
		return a->call_time < b->call_time ? -1 : 1;
	return a->index < b->index ? -1 : (a->index > b->index);
}

static int group_order(struct group_keys *g, const struct check_op *ops, size_t n,
                       struct check_groups *out)
{
	struct group_item *items = malloc((n ? n : 1) * sizeof(*items));
	bool *item_multi = malloc((n ? n : 1) * sizeof(*item_multi));
	out->index = malloc((n ? n : 1) * sizeof(*out->index));
	out->start = malloc((n + 1) * sizeof(*out->start));
	out->multi = malloc((n ? n : 1) * sizeof(*out->multi));
	if (!items || !item_multi || !out->index || !out->start || !out->multi) {
		free(items);
		free(item_multi);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t root = group_find(g, group_lower(g, &ops[i].key));
		items[i] = (struct group_item){g->k[root], ops[i].call_time, i};
		item_multi[i] = g->multi[root];
	}
	qsort(items, n, sizeof(*items), group_item_cmp);
	out->count = 0;
	for (size_t i = 0; i < n; i++) {
		out->index[i] = items[i].index;
		if (i == 0 || items[i - 1].rep != items[i].rep) {
			out->multi[out->count] = item_multi[items[i].index];
			out->start[out->count++] = i;
		}
	}
	out->start[out->count] = n;
	free(items);
	free(item_multi);
	return 0;
}

int check_group(const struct check_op *ops, size_t n, struct check_groups *out)
{
	memset(out, 0, sizeof(*out));
	struct group_keys g = {0};
	int rc = group_collect(&g, ops, n);
	if (rc == 0) {
		group_join(&g, ops, n);
		rc = group_order(&g, ops, n, out);
	}
	free(g.k);
	free(g.parent);
	free(g.multi);
	if (rc != 0)
		check_groups_free(out);
	return rc;
}

void check_groups_free(struct check_groups *g)
{
	free(g->index);
	free(g->start);
	free(g->multi);
	memset(g, 0, sizeof(*g));
}
