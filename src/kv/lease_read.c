/* lease_read.c: reads of expiry and leases (TTL, lease info and lists) and the reaper's due list.
 */
#include "kv/impl.h"

#include <string.h>

uint64_t kv_next_deadline(const struct kv *kv)
{
	uint64_t d = UINT64_MAX;
	if (kv->ttl_heap.n > 0)
		d = kv->ttl_heap.a[0]->deadline;
	if (kv->leases.heap.n > 0 && kv->leases.heap.a[0]->deadline < d)
		d = kv->leases.heap.a[0]->deadline;
	return d;
}

bool kv_has_timers(const struct kv *kv)
{
	return kv->n_ttls > 0 || kv->leases.n > 0;
}

int kv_ttl(const struct kv *kv, const void *key, size_t key_len, int64_t *ms_out,
           uint64_t *lease_out)
{
	*ms_out = -1;
	if (lease_out != NULL)
		*lease_out = 0;
	if (key_len > kv->cfg.limits.key_bytes_max)
		return KV_ENOTFOUND;
	const struct kv_item *it = kv_store_find(kv, key, key_len);
	if (it == NULL || !kv_ver_live(it->head) || kv_item_expired(kv, it))
		return KV_ENOTFOUND;
	uint64_t d = kv_item_deadline(it);
	if (d != UINT64_MAX)
		*ms_out = (int64_t)(d - kv->clock_ms);
	if (lease_out != NULL && it->ttl != NULL && it->ttl->lease != NULL)
		*lease_out = it->ttl->lease->id;
	return KV_OK;
}

static bool lease_info(const struct kv *kv, const struct kv_lease *l, struct kv_lease_info *out)
{
	if (l == NULL || l->node.deadline <= kv->clock_ms)
		return false;
	out->id = l->id;
	out->ttl_ms = l->ttl_ms;
	out->remaining_ms = (int64_t)(l->node.deadline - kv->clock_ms);
	out->keys = l->n_keys;
	return true;
}

int kv_lease_get(const struct kv *kv, uint64_t id, struct kv_lease_info *out)
{
	memset(out, 0, sizeof(*out));
	return lease_info(kv, kv_lease_find(kv, id), out) ? KV_OK : KV_ELEASE;
}

int kv_lease_keys(const struct kv *kv, uint64_t id, kv_scan_fn fn, void *arg)
{
	const struct kv_lease *l = kv_lease_find(kv, id);
	struct kv_lease_info info;
	if (!lease_info(kv, l, &info))
		return KV_ELEASE;
	for (const struct kv_ttl *t = l->keys; t != NULL; t = t->lnext) {
		const struct kv_item *it = t->item;
		if (kv_item_expired(kv, it))
			continue; /* its own deadline passed before the lease's */
		struct kv_value v = {
		    .key = kv_item_key(it),
		    .key_len = it->key_len,
		    .value = it->head->data,
		    .value_len = it->head->len,
		    .create_revision = it->head->create_rev,
		    .mod_revision = it->head->mod_rev,
		    .version = it->head->version,
		};
		if (fn(arg, &v) != 0)
			break;
	}
	return KV_OK;
}

void kv_lease_list(const struct kv *kv, uint64_t from, size_t limit,
                   void (*fn)(void *arg, const struct kv_lease_info *l), void *arg, bool *more)
{
	if (more != NULL)
		*more = false;
	size_t lo = 0, hi = kv->leases.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (kv->leases.a[mid]->id < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t seen = 0;
	for (size_t i = lo; i < kv->leases.n; i++) {
		struct kv_lease_info info;
		if (!lease_info(kv, kv->leases.a[i], &info))
			continue;
		if (seen == limit) {
			if (more != NULL)
				*more = true;
			return;
		}
		seen++;
		fn(arg, &info);
	}
}

/* ----------------------------------------------------------------------------------
 * The reaper's list: a walk of the heaps' subtrees whose root is due, bounded by the
 * room left (every node below a due one is no earlier, so the walk stops at the first
 * node not due on each path).
 */

struct due {
	const struct kv *kv;
	uint64_t clock;
	struct kv_key *keys;
	size_t n_keys, max_keys;
	uint64_t *leases;
	size_t n_leases, max_leases;
};

/* A key due by both its deadline and its lease may be listed twice: the second one
 * finds it deleted. */
static void due_key(struct due *d, const struct kv_item *it)
{
	assert(d->n_keys < d->max_keys);
	d->keys[d->n_keys++] = (struct kv_key){kv_item_key(it), it->key_len};
}

static void due_keys(struct due *d, size_t i)
{
	const struct kv_heap *h = &d->kv->ttl_heap;
	/* Depth-first with an explicit stack: a heap of 2^64 nodes is 64 levels deep. */
	size_t stack[130];
	size_t top = 0;
	stack[top++] = i;
	while (top > 0 && d->n_keys < d->max_keys) {
		size_t at = stack[--top];
		if (at >= h->n || h->a[at]->deadline > d->clock)
			continue;
		const struct kv_ttl *t = (const struct kv_ttl *)h->a[at];
		due_key(d, t->item);
		if (top + 2 <= sizeof(stack) / sizeof(stack[0])) {
			stack[top++] = 2 * at + 2;
			stack[top++] = 2 * at + 1;
		}
	}
}

static void due_leases(struct due *d)
{
	const struct kv_heap *h = &d->kv->leases.heap;
	size_t stack[130];
	size_t top = 0;
	stack[top++] = 0;
	while (top > 0 && d->n_leases < d->max_leases) {
		size_t at = stack[--top];
		if (at >= h->n || h->a[at]->deadline > d->clock)
			continue;
		const struct kv_lease *l = (const struct kv_lease *)h->a[at];
		if (l->n_keys > d->max_keys - d->n_keys) {
			/* Too many keys for this proposal: as many as fit, and the lease in a
			 * later one, once its last keys fit. */
			for (const struct kv_ttl *t = l->keys; t != NULL && d->n_keys < d->max_keys;
			     t = t->lnext)
				due_key(d, t->item);
			return;
		}
		for (const struct kv_ttl *t = l->keys; t != NULL; t = t->lnext)
			due_key(d, t->item);
		d->leases[d->n_leases++] = l->id;
		if (top + 2 <= sizeof(stack) / sizeof(stack[0])) {
			stack[top++] = 2 * at + 2;
			stack[top++] = 2 * at + 1;
		}
	}
}

size_t kv_due(const struct kv *kv, uint64_t clock, struct kv_key *keys, size_t max_keys,
              uint64_t *leases, size_t max_leases, size_t *n_leases)
{
	_Static_assert(offsetof(struct kv_ttl, node) == 0, "a heap node is its kv_ttl");
	_Static_assert(offsetof(struct kv_lease, node) == 0, "a heap node is its kv_lease");
	struct due d = {kv, clock, keys, 0, max_keys, leases, 0, max_leases};
	due_leases(&d);
	due_keys(&d, 0);
	*n_leases = d.n_leases;
	return d.n_keys;
}
