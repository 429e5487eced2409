/* txn.c: transactions (MULTI/EXEC): guards, then sub-commands over a staging overlay, written at
 * one revision. */
#include "kv/impl.h"

#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The sub-commands do not touch the store: their writes go to an overlay of staged keys
 * that later sub-commands read through, and only once all of them ran is each staged key
 * written (or deleted) once, at the command's single revision. The store's one-write-per-
 * key-per-revision rule holds by construction, and a key set then deleted inside the
 * transaction leaves no trace.
 */

/* A key the transaction wrote, or whose expiry it changed; `key` points into the
 * command. */
struct staged {
	const void *key;
	size_t key_len;
	bool live;  /* false: deleted */
	bool wrote; /* false: only the expiry changes (EXPIRE, PERSIST) */
	unsigned char *val;
	size_t len;
	struct kv_ttl_set ttl; /* what to leave on the key (touch false: keep its own) */
};

struct txn {
	struct kv *kv;
	struct staged *st;
	size_t n, cap;
	size_t read_bytes; /* value bytes the reads returned so far */
};

/* What a sub-command sees of a key: the staged state, else the store's. */
struct view {
	bool live;
	const unsigned char *data;
	size_t len;
	uint64_t mod_rev;  /* a staged key's is the revision the command will take */
	uint64_t deadline; /* UINT64_MAX: none */
	struct kv_lease *lease;
};

static struct staged *staged_find(struct txn *t, const void *key, size_t len)
{
	/* Linear: a transaction names at most keys_per_cmd_max keys (kv_cmd_check). */
	for (size_t i = 0; i < t->n; i++)
		if (t->st[i].key_len == len && (len == 0 || memcmp(t->st[i].key, key, len) == 0))
			return &t->st[i];
	return NULL;
}

static struct view view_of(struct txn *t, const void *key, size_t len)
{
	struct view v = {.deadline = UINT64_MAX};
	const struct staged *s = staged_find(t, key, len);
	const struct kv_item *it = kv_store_find(t->kv, key, len);
	if (s != NULL && s->wrote) {
		if (s->live)
			v = (struct view){true, s->val, s->len, t->kv->rev + 1, UINT64_MAX, NULL};
	} else if (it != NULL && kv_ver_live(it->head)) {
		v = (struct view){true,
		                  it->head->data,
		                  it->head->len,
		                  it->head->mod_rev,
		                  kv_item_deadline(it),
		                  it->ttl != NULL ? it->ttl->lease : NULL};
	}
	if (s != NULL && s->ttl.touch && v.live) {
		v.deadline = s->ttl.deadline != 0 ? s->ttl.deadline : UINT64_MAX;
		v.lease = s->ttl.lease;
		if (v.lease != NULL && v.lease->node.deadline < v.deadline)
			v.deadline = v.lease->node.deadline;
	}
	return v;
}

static struct staged *staged_get(struct txn *t, const void *key, size_t key_len)
{
	struct staged *s = staged_find(t, key, key_len);
	if (s == NULL) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 8;
			t->st = xrealloc(t->st, t->cap * sizeof(*t->st));
		}
		s = &t->st[t->n++];
		*s = (struct staged){.key = key, .key_len = key_len, .live = true};
	}
	return s;
}

/* Stages a change of the key's expiry only (the key is live in the view). */
static void stage_ttl(struct txn *t, const void *key, size_t key_len, const struct kv_ttl_set *ttl)
{
	staged_get(t, key, key_len)->ttl = *ttl;
}

/* Stages the key's new value a then b (copied), or its deletion (live false); `ttl`
 * NULL keeps the expiry the key has in the view. */
static void stage_write(struct txn *t, const void *key, size_t key_len, bool live, const void *a,
                        size_t alen, const void *b, size_t blen, const struct kv_ttl_set *ttl)
{
	unsigned char *val = NULL;
	if (live) {
		val = xmalloc(alen + blen > 0 ? alen + blen : 1);
		if (alen > 0)
			memcpy(val, a, alen);
		if (blen > 0)
			memcpy(val + alen, b, blen);
	}
	struct staged *s = staged_get(t, key, key_len);
	free(s->val); /* after the copy: a or b may point into it */
	s->live = live;
	s->wrote = true;
	s->val = val;
	s->len = live ? alen + blen : 0;
	if (!live)
		s->ttl = (struct kv_ttl_set){.touch = true};
	else if (ttl != NULL && ttl->touch)
		s->ttl = *ttl; /* KEEP leaves what an earlier EXPIRE of this transaction set */
}

static void stage(struct txn *t, const void *key, size_t key_len, bool live, const void *a,
                  size_t alen, const void *b, size_t blen)
{
	stage_write(t, key, key_len, live, a, alen, b, blen, NULL);
}

static bool view_cond(const struct view *v, const struct kv_cond *c)
{
	switch (c->kind) {
	case KV_COND_NONE:
		return true;
	case KV_COND_ABSENT:
		return !v->live;
	case KV_COND_PRESENT:
		return v->live;
	case KV_COND_VALUE:
		return v->live && v->len == c->value_len &&
		       (v->len == 0 || memcmp(v->data, c->value, v->len) == 0);
	case KV_COND_MOD_REVISION:
		return c->mod_revision == 0 ? !v->live : v->live && v->mod_rev == c->mod_revision;
	}
	return false;
}

/* ----------------------------------------------------------------------------------
 * The outcomes
 */

static void out_reset(struct kv_txn_out *o, size_t n_items)
{
	if (n_items > o->cap_items) {
		o->cap_items = n_items;
		o->items = xrealloc(o->items, n_items * sizeof(*o->items));
		o->first = xrealloc(o->first, n_items * sizeof(*o->first));
		o->first_kv = xrealloc(o->first_kv, n_items * sizeof(*o->first_kv));
	}
	o->n_items = o->n_vals = o->n_bytes = o->n_kvs = 0;
}

static struct kv_txn_item *out_item(struct kv_txn_out *o, enum kv_op op)
{
	assert(o->n_items < o->cap_items);
	size_t i = o->n_items++;
	o->items[i] = (struct kv_txn_item){.op = op, .code = KV_OK};
	o->first[i] = o->n_vals;
	o->first_kv[i] = o->n_kvs;
	return &o->items[i];
}

static void out_bytes_room(struct kv_txn_out *o, size_t len)
{
	if (o->n_bytes + len > o->cap_bytes) {
		size_t cap = o->cap_bytes ? o->cap_bytes : 256;
		while (cap < o->n_bytes + len)
			cap *= 2;
		o->bytes = xrealloc(o->bytes, cap);
		o->cap_bytes = cap;
	}
}

/* A RANGE's key with its value (NULL with keys_only) and revisions. */
static void out_kv(struct kv_txn_out *o, struct kv_txn_item *it, const struct kv_value *v)
{
	if (o->n_kvs == o->cap_kvs) {
		o->cap_kvs = o->cap_kvs ? o->cap_kvs * 2 : 16;
		o->kvs = xrealloc(o->kvs, o->cap_kvs * sizeof(*o->kvs));
		o->kv_off = xrealloc(o->kv_off, o->cap_kvs * sizeof(*o->kv_off));
	}
	out_bytes_room(o, v->key_len + v->value_len);
	if (v->key_len > 0)
		memcpy(o->bytes + o->n_bytes, v->key, v->key_len);
	if (v->value_len > 0)
		memcpy(o->bytes + o->n_bytes + v->key_len, v->value, v->value_len);
	o->kvs[o->n_kvs] = *v;
	o->kv_off[o->n_kvs] = o->n_bytes;
	o->n_bytes += v->key_len + v->value_len;
	o->n_kvs++;
	it->n_kvs++;
}

static void out_value(struct kv_txn_out *o, struct kv_txn_item *it, const void *data, size_t len,
                      bool present)
{
	if (o->n_vals == o->cap_vals) {
		o->cap_vals = o->cap_vals ? o->cap_vals * 2 : 16;
		o->vals = xrealloc(o->vals, o->cap_vals * sizeof(*o->vals));
		o->off = xrealloc(o->off, o->cap_vals * sizeof(*o->off));
	}
	out_bytes_room(o, len);
	if (len > 0)
		memcpy(o->bytes + o->n_bytes, data, len);
	o->vals[o->n_vals] = (struct kv_txn_value){NULL, len, present};
	o->off[o->n_vals] = o->n_bytes;
	o->n_bytes += len;
	o->n_vals++;
	it->n_values++;
}

/* The buffers stopped growing: offsets become pointers. */
static void out_finish(struct kv_txn_out *o)
{
	for (size_t i = 0; i < o->n_vals; i++)
		o->vals[i].data = o->bytes != NULL ? o->bytes + o->off[i] : (const void *)"";
	for (size_t i = 0; i < o->n_kvs; i++) {
		const unsigned char *base =
		    o->bytes != NULL ? o->bytes + o->kv_off[i] : (const void *)"";
		o->kvs[i].key = base;
		o->kvs[i].value = o->bytes != NULL ? base + o->kvs[i].key_len : base;
	}
	for (size_t i = 0; i < o->n_items; i++) {
		o->items[i].values = o->items[i].n_values > 0 ? o->vals + o->first[i] : NULL;
		o->items[i].kvs = o->items[i].n_kvs > 0 ? o->kvs + o->first_kv[i] : NULL;
	}
	o->result = (struct kv_txn_result){o->n_items, o->items};
}

void kv_txn_out_free(struct kv_txn_out *o)
{
	free(o->items);
	free(o->first);
	free(o->vals);
	free(o->off);
	free(o->bytes);
	free(o->kvs);
	free(o->kv_off);
	free(o->first_kv);
	memset(o, 0, sizeof(*o));
}

/* ----------------------------------------------------------------------------------
 * Sub-commands
 */

static void sub_set(struct txn *t, const struct kv_put *p, struct kv_txn_item *o)
{
	struct kv_ttl_set ttl;
	if ((o->code = kv_expiry_resolve(t->kv, &p->expiry, &ttl)) != KV_OK)
		return;
	struct view v = view_of(t, p->key, p->key_len);
	o->existed = v.live;
	if (!view_cond(&v, &p->cond))
		return;
	stage_write(t, p->key, p->key_len, true, p->value, p->value_len, NULL, 0, &ttl);
	o->succeeded = true;
}

/* EXPIRE and PERSIST on the view: the key's value stays, its expiry changes. */
static void sub_expire(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	const struct kv_put *p = &op->put;
	struct view v = view_of(t, p->key, p->key_len);
	o->succeeded = true;
	if (!v.live)
		return;
	o->existed = true;
	struct kv_ttl_set ttl;
	if ((o->code = kv_expiry_resolve(t->kv, &p->expiry, &ttl)) != KV_OK)
		return;
	if (p->expiry.mode == KV_EXPIRY_CLEAR) {
		o->integer = v.deadline != UINT64_MAX;
		stage_ttl(t, p->key, p->key_len, &ttl);
		return;
	}
	if (!kv_expire_allowed(op->expire_flags, v.deadline, ttl.deadline))
		return;
	o->integer = 1;
	if (ttl.deadline <= t->kv->clock_ms) {
		stage(t, p->key, p->key_len, false, NULL, 0, NULL, 0);
		return;
	}
	ttl.lease = v.lease;
	stage_ttl(t, p->key, p->key_len, &ttl);
}

static void sub_cas(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	const struct kv_put *p = &op->put;
	struct kv_ttl_set ttl;
	if ((o->code = kv_expiry_resolve(t->kv, &p->expiry, &ttl)) != KV_OK)
		return;
	struct view v = view_of(t, p->key, p->key_len);
	o->existed = v.live;
	if (!view_cond(&v, &p->cond))
		return;
	o->succeeded = true;
	if (!op->cas_delete)
		stage_write(t, p->key, p->key_len, true, p->value, p->value_len, NULL, 0, &ttl);
	else if (v.live)
		stage(t, p->key, p->key_len, false, NULL, 0, NULL, 0);
}

static void sub_del(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	for (size_t i = 0; i < op->n; i++) {
		if (!view_of(t, op->keys[i].data, op->keys[i].len).live)
			continue;
		stage(t, op->keys[i].data, op->keys[i].len, false, NULL, 0, NULL, 0);
		o->integer++;
	}
	o->existed = o->integer > 0;
	o->succeeded = true;
}

static void sub_incrby(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	const struct kv_put *p = &op->put;
	struct view v = view_of(t, p->key, p->key_len);
	int64_t n = 0, sum;
	if (v.live && !kv_int_parse(v.data, v.len, &n)) {
		o->code = KV_ENOTINT;
		return;
	}
	if (__builtin_add_overflow(n, op->delta, &sum)) {
		o->code = KV_EOVERFLOW;
		return;
	}
	char text[24];
	int len = snprintf(text, sizeof(text), "%" PRId64, sum);
	assert(len > 0 && len <= 20);
	stage(t, p->key, p->key_len, true, text, (size_t)len, NULL, 0);
	o->existed = v.live;
	o->succeeded = true;
	o->integer = sum;
}

static void sub_append(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	const struct kv_put *p = &op->put;
	struct view v = view_of(t, p->key, p->key_len);
	if (v.len + p->value_len > t->kv->cfg.limits.value_bytes_max) {
		o->code = KV_EVALUETOOBIG;
		return;
	}
	stage(t, p->key, p->key_len, true, v.data, v.len, p->value, p->value_len);
	o->existed = v.live;
	o->succeeded = true;
	o->integer = (int64_t)(v.len + p->value_len);
}

static void sub_mset(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	struct kv_ttl_set ttl;
	for (size_t i = 0; i < op->n; i++) {
		struct view v = view_of(t, op->puts[i].key, op->puts[i].key_len);
		if (!view_cond(&v, &op->puts[i].cond))
			return;
		if ((o->code = kv_expiry_resolve(t->kv, &op->puts[i].expiry, &ttl)) != KV_OK)
			return;
	}
	for (size_t i = 0; i < op->n; i++) {
		const struct kv_put *p = &op->puts[i];
		kv_expiry_resolve(t->kv, &p->expiry, &ttl);
		stage_write(t, p->key, p->key_len, true, p->value, p->value_len, NULL, 0, &ttl);
	}
	o->succeeded = true;
}

/* GET and MGET: the values, within txn_bytes_max for the whole transaction. */
static void sub_get(struct txn *t, size_t n, const struct kv_key *keys, struct kv_txn_item *o)
{
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += view_of(t, keys[i].data, keys[i].len).len;
	if (t->read_bytes + bytes > t->kv->cfg.limits.txn_bytes_max) {
		o->code = KV_EVALUETOOBIG;
		return;
	}
	t->read_bytes += bytes;
	for (size_t i = 0; i < n; i++) {
		struct view v = view_of(t, keys[i].data, keys[i].len);
		out_value(&t->kv->txn, o, v.data, v.len, v.live);
	}
	o->succeeded = true;
}

/* ----------------------------------------------------------------------------------
 * RANGE and DELRANGE inside a transaction: the store's keys of the range merged with the
 * staged ones, in key order, a staged key standing for the store's.
 */

typedef void (*walk_fn)(struct txn *t, const struct kv_value *v, void *arg);

/* The indexes of the staged entries in the range, in key order (insertion sort: a
 * transaction stages at most keys_per_cmd_max keys). */
static size_t staged_sorted(const struct txn *t, const struct kv_range *rg, size_t *idx)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct staged *s = &t->st[i];
		if (!kv_range_has(rg, s->key, s->key_len))
			continue;
		size_t j = n++;
		while (j > 0 && kv_key_cmp(t->st[idx[j - 1]].key, t->st[idx[j - 1]].key_len, s->key,
		                           s->key_len) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	return n;
}

/* The key as the transaction sees it; false if it is deleted. */
static bool walk_value(struct txn *t, const struct kv_item *it, const struct staged *sg,
                       struct kv_value *v)
{
	const struct kv_ver *h = it != NULL && kv_ver_live(it->head) ? it->head : NULL;
	if (sg == NULL) {
		*v = (struct kv_value){kv_item_key(it),
		                       it->key_len,
		                       h != NULL ? h->data : NULL,
		                       h != NULL ? h->len : 0,
		                       h != NULL ? h->create_rev : 0,
		                       h != NULL ? h->mod_rev : 0,
		                       h != NULL ? h->version : 0};
	} else {
		uint64_t rev = t->kv->rev + 1;
		*v = (struct kv_value){sg->key,
		                       sg->key_len,
		                       sg->val,
		                       sg->len,
		                       h != NULL ? h->create_rev : rev,
		                       rev,
		                       h != NULL ? h->version + 1 : 1};
	}
	bool live = sg != NULL ? sg->live : h != NULL;
	return live && !kv_key_reserved(v->key, v->key_len);
}

static void walk(struct txn *t, const struct kv_range *rg, walk_fn fn, void *arg)
{
	size_t *idx = xmalloc((t->n > 0 ? t->n : 1) * sizeof(*idx));
	size_t ns = staged_sorted(t, rg, idx), si = 0;
	const struct kv_item *it = kv_range_first(t->kv, rg);
	for (;;) {
		bool have = it != NULL && !kv_range_past(rg, it);
		const struct staged *sg = si < ns ? &t->st[idx[si]] : NULL;
		if (!have && sg == NULL)
			break;
		int c = !have ? 1
		        : sg == NULL
		            ? -1
		            : kv_key_cmp(kv_item_key(it), it->key_len, sg->key, sg->key_len);
		const struct kv_item *cur = c <= 0 ? it : NULL;
		if (c <= 0)
			it = rg->end_len == 0 ? NULL : it->next[0];
		if (c >= 0)
			si++;
		struct kv_value v;
		if (walk_value(t, cur, c >= 0 ? sg : NULL, &v))
			fn(t, &v, arg);
	}
	free(idx);
}

struct range_walk {
	const struct kv_cmd *op;
	struct kv_txn_item *o;
	uint64_t listed;
};

static void range_one(struct txn *t, const struct kv_value *v, void *arg)
{
	struct range_walk *w = arg;
	w->o->integer++;
	if (w->op->count_only || w->o->code != KV_OK)
		return;
	if (w->op->limit != 0 && w->listed == w->op->limit) {
		w->o->existed = true; /* more */
		return;
	}
	struct kv_value copy = *v;
	if (w->op->keys_only)
		copy.value_len = 0;
	size_t bytes = copy.key_len + copy.value_len;
	if (t->read_bytes + bytes > t->kv->cfg.limits.txn_bytes_max) {
		w->o->code = KV_EVALUETOOBIG;
		return;
	}
	t->read_bytes += bytes;
	out_kv(&t->kv->txn, w->o, &copy);
	w->listed++;
}

static void count_one(struct txn *t, const struct kv_value *v, void *arg)
{
	(void)t;
	(void)v;
	(*(size_t *)arg)++;
}

static void delete_one(struct txn *t, const struct kv_value *v, void *arg)
{
	(void)arg;
	stage(t, v->key, v->key_len, false, NULL, 0, NULL, 0);
}

static void sub_range(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	struct kv_range rg = {op->put.key, op->put.key_len, op->range_end, op->range_end_len};
	if (op->op == KV_OP_RANGE) {
		struct range_walk w = {op, o, 0};
		walk(t, &rg, range_one, &w);
		o->succeeded = o->code == KV_OK;
		return;
	}
	size_t n = 0;
	walk(t, &rg, count_one, &n);
	if (t->n + n > t->kv->cfg.limits.keys_per_cmd_max) {
		o->code = KV_ETOOMANY; /* the staging overlay is bounded */
		return;
	}
	if (op->prev_kv) {
		/* The keys about to go, as the transaction sees them, within the bytes a
		 * transaction may read; past that the request fails and deletes nothing. */
		struct range_walk w = {op, o, 0};
		walk(t, &rg, range_one, &w);
		if (o->code != KV_OK)
			return;
		o->prev_kv = true;
	}
	walk(t, &rg, delete_one, NULL);
	o->integer = (int64_t)n;
	o->existed = n > 0;
	o->succeeded = true;
}

static void sub_run(struct txn *t, const struct kv_cmd *op, struct kv_txn_item *o)
{
	struct kv_key one = {op->put.key, op->put.key_len};
	switch (op->op) {
	case KV_OP_SET:
		sub_set(t, &op->put, o);
		return;
	case KV_OP_CAS:
		sub_cas(t, op, o);
		return;
	case KV_OP_DEL:
		sub_del(t, op, o);
		return;
	case KV_OP_INCRBY:
		sub_incrby(t, op, o);
		return;
	case KV_OP_APPEND:
		sub_append(t, op, o);
		return;
	case KV_OP_MSET:
		sub_mset(t, op, o);
		return;
	case KV_OP_GET:
		sub_get(t, 1, &one, o);
		return;
	case KV_OP_MGET:
		sub_get(t, op->n, op->keys, o);
		return;
	case KV_OP_EXISTS:
		for (size_t i = 0; i < op->n; i++)
			o->integer += view_of(t, op->keys[i].data, op->keys[i].len).live ? 1 : 0;
		o->succeeded = true;
		return;
	case KV_OP_STRLEN:
		o->integer = (int64_t)view_of(t, op->put.key, op->put.key_len).len;
		o->succeeded = true;
		return;
	case KV_OP_EXPIRE:
		sub_expire(t, op, o);
		return;
	case KV_OP_RANGE:
	case KV_OP_DELRANGE:
		sub_range(t, op, o);
		return;
	default:
		assert(false); /* kv_cmd_check admits only the kinds above */
		o->code = KV_EINVAL;
		return;
	}
}

/* ----------------------------------------------------------------------------------
 * The transaction
 */

/* Writes what was staged, each key once, at the next revision. */
static void txn_write(struct txn *t, struct kv_reply *r)
{
	struct kv *kv = t->kv;
	uint64_t rev = kv->rev + 1;
	bool wrote = false;
	for (size_t i = 0; i < t->n; i++) {
		const struct staged *s = &t->st[i];
		struct kv_item *it = kv_store_find(kv, s->key, s->key_len);
		if (s->live && !s->wrote) {
			kv_ttl_apply(kv, it, &s->ttl); /* EXPIRE, PERSIST: no new revision */
			continue;
		}
		if (s->live) {
			if (it == NULL)
				it = kv_store_upsert(kv, s->key, s->key_len);
			struct kv_ver *v = kv_ver_new((uint32_t)s->len);
			if (s->len > 0)
				memcpy(v->data, s->val, s->len);
			kv_store_put(kv, it, v, rev);
			kv_ttl_apply(kv, it, &s->ttl);
		} else if (it != NULL && kv_ver_live(it->head)) {
			kv_store_delete(kv, it, rev);
		} else {
			continue; /* created and deleted inside the transaction, or never there */
		}
		wrote = true;
		if (kv_key_member(s->key, s->key_len))
			r->members_written = true;
	}
	if (wrote) {
		kv_store_commit(kv, rev);
		r->mod_revision = rev;
	}
}

/* etcd's compare of one key, on the state before the transaction. */
static bool compare_holds(const struct kv *kv, const struct kv_compare *c)
{
	const struct kv_item *it = kv_store_find(kv, c->key, c->key_len);
	const struct kv_ver *v = it != NULL && kv_ver_live(it->head) ? it->head : NULL;
	int cmp;
	if (c->target == KV_CMP_VALUE) {
		if (v == NULL)
			return false; /* as etcd: a value compare on an absent key fails */
		cmp = kv_key_cmp(v->data, v->len, c->value, c->value_len);
	} else {
		uint64_t have = 0;
		if (v != NULL)
			have = c->target == KV_CMP_VERSION  ? v->version
			       : c->target == KV_CMP_CREATE ? v->create_rev
			                                    : v->mod_rev;
		int64_t want = c->number;
		cmp = want < 0 || have > (uint64_t)want ? 1 : have < (uint64_t)want ? -1 : 0;
	}
	switch (c->result) {
	case KV_CMP_EQUAL:
		return cmp == 0;
	case KV_CMP_NOT_EQUAL:
		return cmp != 0;
	case KV_CMP_LESS:
		return cmp < 0;
	case KV_CMP_GREATER:
		return cmp > 0;
	}
	return false;
}

int kv_txn_run(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	for (size_t i = 0; i < cmd->n_guards; i++) {
		const struct kv_guard *g = &cmd->guards[i];
		const struct kv_item *it = kv_store_find(kv, g->key, g->key_len);
		uint64_t mod = it != NULL && kv_ver_live(it->head) ? it->head->mod_rev : 0;
		if (mod != g->mod_revision) {
			r->failed_index = (uint32_t)i;
			r->mod_revision = mod;
			return KV_OK; /* aborted: nothing changes */
		}
	}
	bool held = true;
	for (size_t i = 0; held && i < cmd->n_compares; i++)
		held = compare_holds(kv, &cmd->compares[i]);
	size_t n = held ? cmd->n_ops : cmd->n_else;
	const struct kv_cmd *ops = held ? cmd->ops : cmd->else_ops;
	out_reset(&kv->txn, n);
	struct txn t = {.kv = kv};
	for (size_t i = 0; i < n; i++)
		sub_run(&t, &ops[i], out_item(&kv->txn, ops[i].op));
	txn_write(&t, r);
	for (size_t i = 0; i < t.n; i++)
		free(t.st[i].val);
	free(t.st);
	out_finish(&kv->txn);
	r->succeeded = held;
	r->integer = (int64_t)n;
	r->txn = &kv->txn.result;
	return KV_OK;
}
