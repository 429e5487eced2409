/* range.c: ranges with etcd's rules: [key, end) reads with limit and count, prefix ends, and
 * DELRANGE (every key of a range deleted at one revision, optionally with the values it had). */
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * The range
 */

static bool end_is_all(const struct kv_range *r)
{
	return r->end_len == 1 && ((const unsigned char *)r->end)[0] == 0;
}

size_t kv_prefix_end(const void *prefix, size_t prefix_len, unsigned char *end)
{
	const unsigned char *p = prefix;
	size_t n = prefix_len;
	while (n > 0 && p[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end[0] = 0; /* every key starts with it: no end */
		return 1;
	}
	memcpy(end, p, n);
	end[n - 1]++;
	return n;
}

bool kv_range_has(const struct kv_range *r, const void *key, size_t key_len)
{
	if (r->end_len == 0)
		return kv_key_cmp(key, key_len, r->key, r->key_len) == 0;
	if (kv_key_cmp(key, key_len, r->key, r->key_len) < 0)
		return false;
	return end_is_all(r) || kv_key_cmp(key, key_len, r->end, r->end_len) < 0;
}

struct kv_item *kv_range_first(const struct kv *kv, const struct kv_range *r)
{
	if (r->end_len == 0)
		return kv_store_find(kv, r->key, r->key_len);
	return kv_store_seek(kv, r->key, r->key_len);
}

bool kv_range_past(const struct kv_range *r, const struct kv_item *it)
{
	if (r->end_len == 0)
		return kv_key_cmp(kv_item_key(it), it->key_len, r->key, r->key_len) != 0;
	if (end_is_all(r))
		return false;
	return kv_key_cmp(kv_item_key(it), it->key_len, r->end, r->end_len) >= 0;
}

/* The next item to look at after `it` (a single-key range has one). */
static struct kv_item *range_next(const struct kv_range *r, const struct kv_item *it)
{
	return r->end_len == 0 ? NULL : it->next[0];
}

/* ----------------------------------------------------------------------------------
 * Reads
 */

int kv_range_read(const struct kv *kv, const struct kv_range *r, const struct kv_range_opts *opts,
                  kv_scan_fn fn, void *arg, uint64_t *count, bool *more)
{
	*count = 0;
	*more = false;
	uint32_t kmax = kv->cfg.limits.key_bytes_max;
	if (r->key_len > kmax || r->end_len > kmax)
		return KV_EKEYTOOBIG;
	uint64_t rev = opts->revision;
	if (rev == 0)
		rev = kv->rev;
	else if (rev > kv->rev)
		return KV_EFUTURE;
	else if (rev < kv->compact_rev)
		return KV_ECOMPACTED;
	size_t visited = 0;
	bool stopped = false;
	for (const struct kv_item *it = kv_range_first(kv, r); it != NULL && !kv_range_past(r, it);
	     it = range_next(r, it)) {
		const struct kv_ver *v = kv_item_at(it, rev);
		if (!kv_ver_live(v))
			continue;
		if (rev == kv->rev && it->ttl != NULL && kv_item_expired(kv, it))
			continue; /* expired by the log clock: its deletion is on its way */
		if (opts->skip_reserved && kv_key_reserved(kv_item_key(it), it->key_len))
			continue;
		(*count)++;
		if (fn == NULL || stopped)
			continue;
		if (opts->limit != 0 && visited == opts->limit) {
			*more = true;
			stopped = true;
			continue;
		}
		struct kv_value val = {kv_item_key(it), it->key_len, v->data,   v->len,
		                       v->create_rev,   v->mod_rev,  v->version};
		visited++;
		if (fn(arg, &val) != 0)
			stopped = true;
	}
	if (fn == NULL)
		*more = false;
	else if (stopped && visited < *count)
		*more = true;
	return KV_OK;
}

/* ----------------------------------------------------------------------------------
 * DELRANGE
 */

static void prev_reset(struct kv_prev_out *o)
{
	o->n = 0;
	o->n_bytes = 0;
}

/* Copies a key and its value; false (nothing copied) past `budget` bytes in all. */
static bool prev_add(struct kv_prev_out *o, const struct kv_item *it, const struct kv_ver *v,
                     size_t budget)
{
	size_t need = it->key_len + v->len;
	if (o->n_bytes + need > budget)
		return false;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->vals = xrealloc(o->vals, o->cap * sizeof(*o->vals));
		o->off = xrealloc(o->off, o->cap * sizeof(*o->off));
	}
	if (o->n_bytes + need > o->cap_bytes) {
		size_t cap = o->cap_bytes ? o->cap_bytes : 256;
		while (cap < o->n_bytes + need)
			cap *= 2;
		o->bytes = xrealloc(o->bytes, cap);
		o->cap_bytes = cap;
	}
	if (it->key_len > 0)
		memcpy(o->bytes + o->n_bytes, kv_item_key(it), it->key_len);
	if (v->len > 0)
		memcpy(o->bytes + o->n_bytes + it->key_len, v->data, v->len);
	o->vals[o->n] = (struct kv_value){NULL,          it->key_len, NULL,      v->len,
	                                  v->create_rev, v->mod_rev,  v->version};
	o->off[o->n] = o->n_bytes;
	o->n_bytes += need;
	o->n++;
	return true;
}

static void prev_finish(struct kv_prev_out *o)
{
	for (size_t i = 0; i < o->n; i++) {
		const unsigned char *base =
		    o->bytes != NULL ? o->bytes + o->off[i] : (const void *)"";
		o->vals[i].key = base;
		o->vals[i].value = o->bytes != NULL ? base + o->vals[i].key_len : base;
	}
}

void kv_prev_out_free(struct kv_prev_out *o)
{
	free(o->vals);
	free(o->off);
	free(o->bytes);
	memset(o, 0, sizeof(*o));
}

int kv_delrange_run(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	struct kv_range rg = {cmd->put.key, cmd->put.key_len, cmd->range_end, cmd->range_end_len};
	uint64_t rev = kv->rev + 1;
	int64_t deleted = 0;
	prev_reset(&kv->prev);
	struct kv_item *it = kv_range_first(kv, &rg);
	while (it != NULL && !kv_range_past(&rg, it)) {
		/* The successor first: the compaction below may not free items, but a deleted
		 * item stays in the list as a tombstone until the compaction point passes. */
		struct kv_item *next = range_next(&rg, it);
		const unsigned char *key = kv_item_key(it);
		if (kv_ver_live(it->head) && !kv_key_reserved(key, it->key_len)) {
			if (cmd->prev_kv && !r->prev_kvs_truncated &&
			    !prev_add(&kv->prev, it, it->head, kv->cfg.limits.txn_bytes_max))
				r->prev_kvs_truncated = true;
			kv_store_delete(kv, it, rev);
			deleted++;
		}
		it = next;
	}
	if (deleted > 0) {
		kv_store_commit(kv, rev);
		r->mod_revision = rev;
	}
	if (cmd->prev_kv) {
		prev_finish(&kv->prev);
		r->prev_kvs = kv->prev.vals;
		r->n_prev_kvs = kv->prev.n;
	}
	r->existed = deleted > 0;
	r->integer = deleted;
	r->succeeded = true;
	return KV_OK;
}
