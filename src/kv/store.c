/* store.c: the versioned map: a skiplist of keys, per-key version chains, compaction. */
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Allocation: failure aborts (kv.h explains why).
 */

struct kv_ver *kv_ver_new(uint32_t len)
{
	assert(len <= KV_VALUE_BYTES_LIMIT);
	struct kv_ver *v = xmalloc(offsetof(struct kv_ver, data) + len);
	v->older = NULL;
	v->create_rev = 0;
	v->mod_rev = 0;
	v->version = 0;
	v->len = len;
	return v;
}

static struct kv_item *item_new(uint32_t level, const void *key, size_t key_len)
{
	assert(level >= 1);
	assert(level <= KV_SKIP_LEVELS);
	assert(key_len <= KV_KEY_BYTES_LIMIT);
	struct kv_item *it =
	    xmalloc(offsetof(struct kv_item, next) + level * sizeof(it->next[0]) + key_len);
	it->head = NULL;
	it->hnext = NULL;
	it->key_len = (uint32_t)key_len;
	it->level = level;
	it->pending = 0;
	it->ttl = NULL;
	for (uint32_t i = 0; i < level; i++)
		it->next[i] = NULL;
	if (key_len > 0)
		memcpy(kv_item_key(it), key, key_len);
	return it;
}

static void ver_chain_free(struct kv_ver *v)
{
	while (v != NULL) {
		struct kv_ver *older = v->older;
		free(v);
		v = older;
	}
}

/* ----------------------------------------------------------------------------------
 * Skiplist
 */

void kv_store_init(struct kv *kv, const struct kv_config *cfg, size_t expected_items)
{
	memset(kv, 0, sizeof(*kv));
	kv->cfg = *cfg;
	kv->list = item_new(KV_SKIP_LEVELS, NULL, 0);
	kv->list_level = 1;
	kv->rng = 0x9e3779b97f4a7c15ull;
	kv_index_init(&kv->index, expected_items);
	kv_sessions_init(&kv->sessions);
	kv_expiry_init(kv);
}

void kv_store_clear(struct kv *kv)
{
	kv_txn_out_free(&kv->txn);
	kv_prev_out_free(&kv->prev);
	if (kv->list != NULL) {
		struct kv_item *it = kv->list->next[0];
		while (it != NULL) {
			struct kv_item *next = it->next[0];
			ver_chain_free(it->head);
			free(it->ttl);
			free(it);
			it = next;
		}
		free(kv->list);
		kv->list = NULL;
	}
	kv_index_free(&kv->index);
	kv_histq_free(&kv->hist);
	kv_sessions_clear(&kv->sessions);
	kv_expiry_clear(kv);
}

int kv_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int item_cmp(const struct kv_item *it, const void *key, size_t key_len)
{
	return kv_key_cmp(kv_item_key(it), it->key_len, key, key_len);
}

uint32_t kv_store_level(struct kv *kv)
{
	/* xorshift64: the shape of the list only affects speed, never what is stored. */
	uint64_t x = kv->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	kv->rng = x;
	uint32_t level = 1;
	while (level < KV_SKIP_LEVELS && (x & 3) == 0) {
		level++;
		x >>= 2;
	}
	return level;
}

/* Returns the first item >= key; update[i] (if not NULL) gets the last item < key at
 * level i, for every level in use. */
static struct kv_item *seek_update(const struct kv *kv, const void *key, size_t key_len,
                                   struct kv_item **update)
{
	struct kv_item *x = kv->list;
	/* A node found >= key at one level often ends the next level's run too: compare it
	 * once. */
	const struct kv_item *bound = NULL;
	for (uint32_t i = kv->list_level; i-- > 0;) {
		for (;;) {
			struct kv_item *next = x->next[i];
			if (next == NULL || next == bound)
				break;
			if (item_cmp(next, key, key_len) >= 0) {
				bound = next;
				break;
			}
			x = next;
		}
		if (update != NULL)
			update[i] = x;
	}
	return x->next[0];
}

struct kv_item *kv_store_seek(const struct kv *kv, const void *key, size_t key_len)
{
	return seek_update(kv, key, key_len, NULL);
}

struct kv_item *kv_store_find(const struct kv *kv, const void *key, size_t key_len)
{
	uint64_t h = kv_index_hash(&kv->index, key, key_len);
	return kv_index_find(&kv->index, key, key_len, h);
}

struct kv_item *kv_store_upsert(struct kv *kv, const void *key, size_t key_len)
{
	uint64_t h = kv_index_hash(&kv->index, key, key_len);
	struct kv_item *found = kv_index_find(&kv->index, key, key_len, h);
	if (found != NULL)
		return found;
	struct kv_item *update[KV_SKIP_LEVELS];
	found = seek_update(kv, key, key_len, update);
	assert(found == NULL || item_cmp(found, key, key_len) > 0);
	uint32_t level = kv_store_level(kv);
	for (uint32_t i = kv->list_level; i < level; i++)
		update[i] = kv->list;
	if (level > kv->list_level)
		kv->list_level = level;
	struct kv_item *it = item_new(level, key, key_len);
	for (uint32_t i = 0; i < level; i++) {
		it->next[i] = update[i]->next[i];
		update[i]->next[i] = it;
	}
	kv_index_insert(&kv->index, it, h);
	kv->n_items++;
	return it;
}

struct kv_item *kv_store_append(struct kv *kv, const void *key, size_t key_len,
                                struct kv_item **tail)
{
	assert(tail[0] == kv->list || item_cmp(tail[0], key, key_len) < 0);
	uint32_t level = kv_store_level(kv);
	if (level > kv->list_level)
		kv->list_level = level;
	struct kv_item *it = item_new(level, key, key_len);
	for (uint32_t i = 0; i < level; i++) {
		assert(tail[i]->next[i] == NULL);
		tail[i]->next[i] = it;
		tail[i] = it;
	}
	kv_index_insert(&kv->index, it, kv_index_hash(&kv->index, key, key_len));
	kv->n_items++;
	return it;
}

/* Unlinks and frees an item whose only version is a collectable tombstone. */
static void item_remove(struct kv *kv, struct kv_item *it)
{
	struct kv_item *update[KV_SKIP_LEVELS];
	struct kv_item *found = seek_update(kv, kv_item_key(it), it->key_len, update);
	assert(found == it);
	assert(it->ttl == NULL);
	for (uint32_t i = 0; i < it->level; i++) {
		assert(update[i]->next[i] == it);
		update[i]->next[i] = it->next[i];
	}
	while (kv->list_level > 1 && kv->list->next[kv->list_level - 1] == NULL)
		kv->list_level--;
	kv_index_remove(&kv->index, it);
	assert(kv->n_items > 0);
	kv->n_items--;
	assert(kv->n_versions > 0);
	kv->n_versions--;
	ver_chain_free(it->head);
	free(it);
}

/* ----------------------------------------------------------------------------------
 * Versions
 */

const struct kv_ver *kv_item_at(const struct kv_item *it, uint64_t rev)
{
	const struct kv_ver *v = it->head;
	while (v != NULL && v->mod_rev > rev)
		v = v->older;
	return kv_ver_live(v) ? v : NULL;
}

static void item_supersede(struct kv *kv, struct kv_item *it, uint64_t rev)
{
	kv_histq_push(&kv->hist, rev, it);
	it->pending++;
	assert(it->pending != 0);
}

void kv_store_put(struct kv *kv, struct kv_item *it, struct kv_ver *v, uint64_t rev)
{
	assert(rev > kv->rev);
	assert(v->len <= kv->cfg.limits.value_bytes_max);
	struct kv_ver *old = it->head;
	v->mod_rev = rev;
	if (old != NULL && old->mod_rev == rev) {
		/* The same command wrote this key already: the later write wins, as one. */
		assert(kv_ver_live(old));
		v->create_rev = old->create_rev;
		v->version = old->version;
		v->older = old->older;
		kv->value_bytes -= old->len;
		kv->value_bytes += v->len;
		free(old);
		it->head = v;
		return;
	}
	assert(old == NULL || old->mod_rev < rev);
	v->older = old;
	if (kv_ver_live(old)) {
		v->create_rev = old->create_rev;
		v->version = old->version + 1;
		assert(v->version > old->version);
		kv->value_bytes -= old->len;
		kv->hist_bytes += old->len;
	} else {
		v->create_rev = rev;
		v->version = 1;
		kv->n_keys++;
		kv->key_bytes += it->key_len;
	}
	kv->value_bytes += v->len;
	kv->n_versions++;
	it->head = v;
	if (old != NULL)
		item_supersede(kv, it, rev);
	if (kv->watch.events != NULL)
		kv_watch_touch(kv, it);
}

void kv_store_delete(struct kv *kv, struct kv_item *it, uint64_t rev)
{
	struct kv_ver *old = it->head;
	assert(kv_ver_live(old));
	assert(old->mod_rev < rev);
	assert(rev > kv->rev);
	kv_ttl_drop(kv, it);
	struct kv_ver *t = kv_ver_new(0);
	t->mod_rev = rev;
	t->older = old;
	it->head = t;
	assert(kv->n_keys > 0);
	kv->n_keys--;
	kv->key_bytes -= it->key_len;
	kv->value_bytes -= old->len;
	kv->hist_bytes += old->len;
	kv->n_versions++;
	item_supersede(kv, it, rev);
	if (kv->watch.events != NULL)
		kv_watch_touch(kv, it);
}

void kv_store_commit(struct kv *kv, uint64_t rev)
{
	assert(rev == kv->rev + 1);
	kv->rev = rev;
	if (kv->n_touched > 0)
		kv_watch_commit(kv, rev);
	if (rev > kv->cfg.history_revisions) {
		uint64_t target = rev - kv->cfg.history_revisions;
		if (target > kv->compact_rev)
			kv_store_compact(kv, target);
	}
}

/* ----------------------------------------------------------------------------------
 * Compaction. A version superseded at revision m is needed while some readable revision
 * r < m still sees it, that is while the compaction point c < m. Each supersession
 * queued (m, item); reaching c >= m, the item keeps only the version visible at c and
 * the newer ones, minus that version if it is a tombstone (a read finding no version
 * answers "not found" just as a tombstone does). An item left with only a collectable
 * tombstone leaves the map once no queue entry names it any more.
 */

static void chain_drop(struct kv *kv, struct kv_ver *v)
{
	while (v != NULL) {
		struct kv_ver *older = v->older;
		assert(kv->n_versions > 0);
		kv->n_versions--;
		assert(kv->hist_bytes >= v->len);
		kv->hist_bytes -= v->len;
		free(v);
		v = older;
	}
}

static void item_trim(struct kv *kv, struct kv_item *it, uint64_t c)
{
	struct kv_ver **link = &it->head;
	struct kv_ver *v = it->head;
	assert(v != NULL);
	while (v != NULL && v->mod_rev > c) {
		link = &v->older;
		v = v->older;
	}
	if (v == NULL)
		return;
	chain_drop(kv, v->older);
	v->older = NULL;
	if (kv_ver_live(v))
		return;
	if (v != it->head) {
		*link = NULL;
		chain_drop(kv, v);
		return;
	}
	/* Only a tombstone at or below c is left: the key is gone for every readable
	 * revision. The last queue entry naming the item removes it. */
	if (it->pending == 0)
		item_remove(kv, it);
}

void kv_store_compact(struct kv *kv, uint64_t rev)
{
	assert(rev > kv->compact_rev);
	assert(rev <= kv->rev);
	kv->compact_rev = rev;
	struct kv_histq *q = &kv->hist;
	while (q->len > 0) {
		struct kv_hist h = q->ring[q->head];
		if (h.rev > rev)
			break;
		q->head = (q->head + 1) & (q->cap - 1);
		q->len--;
		assert(h.item->pending > 0);
		h.item->pending--;
		item_trim(kv, h.item, rev);
	}
	/* The next commits compact the next entries, whose items were last touched some
	 * history_revisions ago and are cold: start loading the next item now, and the
	 * versions of the one after it, whose item the previous call asked for. */
	if (q->len > 1) {
		__builtin_prefetch(q->ring[(q->head + 1) & (q->cap - 1)].item);
		__builtin_prefetch(q->ring[q->head].item->head);
	} else if (q->len == 1) {
		__builtin_prefetch(q->ring[q->head].item);
	}
}

void kv_histq_push(struct kv_histq *q, uint64_t rev, struct kv_item *it)
{
	if (q->len == q->cap) {
		size_t cap = q->cap == 0 ? 64 : q->cap * 2;
		assert(cap > q->cap);
		struct kv_hist *ring = xmalloc(cap * sizeof(*ring));
		for (size_t i = 0; i < q->len; i++)
			ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
		free(q->ring);
		q->ring = ring;
		q->cap = cap;
		q->head = 0;
	}
	/* Entries arrive in revision order, so the ring stays sorted. */
	assert(q->len == 0 || q->ring[(q->head + q->len - 1) & (q->cap - 1)].rev <= rev);
	q->ring[(q->head + q->len) & (q->cap - 1)] = (struct kv_hist){rev, it};
	q->len++;
}

void kv_histq_free(struct kv_histq *q)
{
	free(q->ring);
	memset(q, 0, sizeof(*q));
}
