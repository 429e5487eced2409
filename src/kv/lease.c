/* lease.c: expiry and leases: the log clock, key deadlines, leases, and their commands. */
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/*
 * Nothing here reads a clock. The log clock moves only when a stamped command is
 * applied (kv_clock_advance), by the difference between its stamp and the first stamp
 * of the same term, so every node computes the same clock at the same entry, and a new
 * leader's clock, whatever its origin, only continues where the log left off.
 */

/* Clock values above this are refused (snapshots) or saturate (arithmetic). */
#define CLOCK_MAX ((uint64_t)1 << 62)

/* ----------------------------------------------------------------------------------
 * Deadline heaps
 */

static void heap_set(struct kv_heap *h, size_t i, struct kv_heapnode *n)
{
	h->a[i] = n;
	n->pos = i;
}

static void heap_up(struct kv_heap *h, size_t i)
{
	struct kv_heapnode *n = h->a[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h->a[p]->deadline <= n->deadline)
			break;
		heap_set(h, i, h->a[p]);
		i = p;
	}
	heap_set(h, i, n);
}

static void heap_down(struct kv_heap *h, size_t i)
{
	struct kv_heapnode *n = h->a[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1]->deadline < h->a[c]->deadline)
			c++;
		if (h->a[c]->deadline >= n->deadline)
			break;
		heap_set(h, i, h->a[c]);
		i = c;
	}
	heap_set(h, i, n);
}

static void heap_push(struct kv_heap *h, struct kv_heapnode *n)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->a = xrealloc(h->a, h->cap * sizeof(*h->a));
	}
	heap_set(h, h->n++, n);
	heap_up(h, n->pos);
}

static void heap_remove(struct kv_heap *h, struct kv_heapnode *n)
{
	size_t i = n->pos;
	assert(i < h->n);
	assert(h->a[i] == n);
	n->pos = SIZE_MAX;
	struct kv_heapnode *last = h->a[--h->n];
	if (last == n)
		return;
	heap_set(h, i, last);
	heap_up(h, i);
	heap_down(h, last->pos);
}

/* Gives a node a new deadline (0: out of the heap). */
static void heap_place(struct kv_heap *h, struct kv_heapnode *n, uint64_t deadline)
{
	if (deadline == 0) {
		if (n->pos != SIZE_MAX)
			heap_remove(h, n);
		n->deadline = 0;
		return;
	}
	n->deadline = deadline;
	if (n->pos == SIZE_MAX) {
		heap_push(h, n);
		return;
	}
	heap_up(h, n->pos);
	heap_down(h, n->pos);
}

void kv_expiry_init(struct kv *kv)
{
	kv->clock_ms = 1; /* 0 means "no deadline": every deadline is at least 1 */
}

void kv_expiry_clear(struct kv *kv)
{
	/* The items' kv_ttl were freed with the items. */
	for (size_t i = 0; i < kv->leases.n; i++)
		free(kv->leases.a[i]);
	free(kv->leases.a);
	free(kv->leases.heap.a);
	free(kv->ttl_heap.a);
	memset(&kv->leases, 0, sizeof(kv->leases));
	memset(&kv->ttl_heap, 0, sizeof(kv->ttl_heap));
	kv->n_ttls = 0;
}

/* ----------------------------------------------------------------------------------
 * The log clock
 */

void kv_clock_term(struct kv *kv, raft_term term)
{
	if (term == kv->clock_term)
		return;
	kv->clock_term = term;
	kv->clock_running = false;
	kv->base_mono = 0;
	kv->base_clock = 0;
}

static uint64_t clock_extrapolate(const struct kv *kv, uint64_t mono)
{
	if (!kv->clock_running || mono <= kv->base_mono)
		return kv->clock_ms;
	uint64_t d = mono - kv->base_mono;
	uint64_t c = d > CLOCK_MAX - kv->base_clock ? CLOCK_MAX : kv->base_clock + d;
	return c > kv->clock_ms ? c : kv->clock_ms;
}

void kv_clock_advance(struct kv *kv, uint64_t mono)
{
	if (mono == 0)
		return;
	if (!kv->clock_running) {
		kv->clock_running = true;
		kv->base_mono = mono;
		kv->base_clock = kv->clock_ms;
		return;
	}
	kv->clock_ms = clock_extrapolate(kv, mono);
}

uint64_t kv_clock_ms(const struct kv *kv)
{
	return kv->clock_ms;
}

uint64_t kv_clock_at(const struct kv *kv, raft_term term, uint64_t mono_ms)
{
	if (term != kv->clock_term)
		return kv->clock_ms;
	return clock_extrapolate(kv, mono_ms);
}

bool kv_clock_running(const struct kv *kv, raft_term term)
{
	return kv->clock_running && kv->clock_term == term;
}

/* ----------------------------------------------------------------------------------
 * Keys' deadlines and leases
 */

struct kv_lease *kv_lease_find(const struct kv *kv, uint64_t id)
{
	size_t lo = 0, hi = kv->leases.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (kv->leases.a[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < kv->leases.n && kv->leases.a[lo]->id == id ? kv->leases.a[lo] : NULL;
}

struct kv_lease *kv_lease_add(struct kv *kv, uint64_t id, int64_t ttl_ms, uint64_t deadline)
{
	struct kv_leases *ls = &kv->leases;
	assert(id != 0);
	assert(kv_lease_find(kv, id) == NULL);
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 16;
		ls->a = xrealloc(ls->a, ls->cap * sizeof(*ls->a));
	}
	size_t i = ls->n;
	while (i > 0 && ls->a[i - 1]->id > id)
		i--;
	memmove(ls->a + i + 1, ls->a + i, (ls->n - i) * sizeof(*ls->a));
	struct kv_lease *l = xcalloc(1, sizeof(*l));
	l->id = id;
	l->ttl_ms = ttl_ms;
	l->node.pos = SIZE_MAX;
	ls->a[i] = l;
	ls->n++;
	heap_place(&ls->heap, &l->node, deadline);
	return l;
}

static void lease_remove(struct kv *kv, struct kv_lease *l)
{
	struct kv_leases *ls = &kv->leases;
	assert(l->n_keys == 0);
	size_t i = 0;
	while (ls->a[i] != l)
		i++;
	memmove(ls->a + i, ls->a + i + 1, (ls->n - i - 1) * sizeof(*ls->a));
	ls->n--;
	heap_place(&ls->heap, &l->node, 0);
	free(l);
}

static bool lease_live(const struct kv *kv, const struct kv_lease *l)
{
	return l != NULL && l->node.deadline > kv->clock_ms;
}

static void ttl_set_lease(struct kv_ttl *t, struct kv_lease *l)
{
	if (t->lease == l)
		return;
	struct kv_lease *old = t->lease;
	if (old != NULL) {
		if (t->lprev != NULL)
			t->lprev->lnext = t->lnext;
		else
			old->keys = t->lnext;
		if (t->lnext != NULL)
			t->lnext->lprev = t->lprev;
		assert(old->n_keys > 0);
		old->n_keys--;
	}
	t->lprev = t->lnext = NULL;
	t->lease = l;
	if (l != NULL) {
		t->lnext = l->keys;
		if (l->keys != NULL)
			l->keys->lprev = t;
		l->keys = t;
		l->n_keys++;
	}
}

void kv_ttl_attach(struct kv *kv, struct kv_item *it, uint64_t deadline, struct kv_lease *l)
{
	struct kv_ttl *t = it->ttl;
	if (t == NULL) {
		if (deadline == 0 && l == NULL)
			return;
		t = xcalloc(1, sizeof(*t));
		t->item = it;
		t->node.pos = SIZE_MAX;
		it->ttl = t;
		kv->n_ttls++;
	}
	heap_place(&kv->ttl_heap, &t->node, deadline);
	ttl_set_lease(t, l);
	if (deadline == 0 && l == NULL) {
		free(t);
		it->ttl = NULL;
		assert(kv->n_ttls > 0);
		kv->n_ttls--;
	}
}

void kv_ttl_drop(struct kv *kv, struct kv_item *it)
{
	kv_ttl_attach(kv, it, 0, NULL);
}

uint64_t kv_item_deadline(const struct kv_item *it)
{
	const struct kv_ttl *t = it->ttl;
	if (t == NULL)
		return UINT64_MAX;
	uint64_t d = t->node.deadline != 0 ? t->node.deadline : UINT64_MAX;
	if (t->lease != NULL && t->lease->node.deadline < d)
		d = t->lease->node.deadline;
	return d;
}

bool kv_item_expired(const struct kv *kv, const struct kv_item *it)
{
	return it->ttl != NULL && kv_item_deadline(it) <= kv->clock_ms;
}

/* A duration from now on the log clock as a deadline; already passed if <= 0. */
static uint64_t deadline_in(const struct kv *kv, int64_t ms)
{
	if (ms <= 0)
		return kv->clock_ms;
	uint64_t d = ms > KV_TTL_MS_LIMIT ? (uint64_t)KV_TTL_MS_LIMIT : (uint64_t)ms;
	return d > CLOCK_MAX - kv->clock_ms ? CLOCK_MAX : kv->clock_ms + d;
}

/* A Unix time in ms (judged against the command's stamp) as a deadline. */
static uint64_t deadline_at(const struct kv *kv, int64_t unix_ms)
{
	int64_t now = kv->cmd_time_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)kv->cmd_time_ms;
	int64_t left;
	if (__builtin_sub_overflow(unix_ms, now, &left))
		left = unix_ms < 0 ? -1 : INT64_MAX;
	return deadline_in(kv, left);
}

int kv_expiry_resolve(const struct kv *kv, const struct kv_expiry *e, struct kv_ttl_set *out)
{
	memset(out, 0, sizeof(*out));
	switch (e->mode) {
	case KV_EXPIRY_KEEP:
		return KV_OK;
	case KV_EXPIRY_CLEAR:
		out->touch = true;
		return KV_OK;
	case KV_EXPIRY_IN:
		out->touch = true;
		out->deadline = deadline_in(kv, e->ms);
		return KV_OK;
	case KV_EXPIRY_AT:
		out->touch = true;
		out->deadline = deadline_at(kv, e->ms);
		return KV_OK;
	case KV_EXPIRY_LEASE:
		out->touch = true;
		out->lease = kv_lease_find(kv, e->lease);
		return lease_live(kv, out->lease) ? KV_OK : KV_ELEASE;
	}
	return KV_EINVAL;
}

void kv_ttl_apply(struct kv *kv, struct kv_item *it, const struct kv_ttl_set *s)
{
	assert(kv_ver_live(it->head));
	if (s->touch)
		kv_ttl_attach(kv, it, s->deadline, s->lease);
}

/* ----------------------------------------------------------------------------------
 * Lazy expiry: the keys a command names, deleted first if their time has come
 */

static void touch_key(struct kv *kv, const void *key, size_t len, uint64_t rev, int *found)
{
	struct kv_item *it = kv_store_find(kv, key, len);
	if (it == NULL || !kv_ver_live(it->head) || !kv_item_expired(kv, it))
		return;
	if (rev != 0)
		kv_store_delete(kv, it, rev);
	(*found)++;
}

/* Every key of a range (DELRANGE, RANGE) that has expired. */
static void touch_range(struct kv *kv, const struct kv_cmd *c, uint64_t rev, int *found)
{
	struct kv_range rg = {c->put.key, c->put.key_len, c->range_end, c->range_end_len};
	for (struct kv_item *it = kv_range_first(kv, &rg); it != NULL && !kv_range_past(&rg, it);
	     it = rg.end_len == 0 ? NULL : it->next[0]) {
		if (it->ttl == NULL || !kv_ver_live(it->head) || !kv_item_expired(kv, it))
			continue;
		if (rev != 0)
			kv_store_delete(kv, it, rev);
		(*found)++;
	}
}

static void touch_cmd(struct kv *kv, const struct kv_cmd *c, uint64_t rev, int *found)
{
	switch (c->op) {
	case KV_OP_DELRANGE:
	case KV_OP_RANGE:
		touch_range(kv, c, rev, found);
		return;
	case KV_OP_DEL:
	case KV_OP_MGET:
	case KV_OP_EXISTS:
		for (size_t i = 0; i < c->n; i++)
			touch_key(kv, c->keys[i].data, c->keys[i].len, rev, found);
		return;
	case KV_OP_MSET:
		for (size_t i = 0; i < c->n; i++)
			touch_key(kv, c->puts[i].key, c->puts[i].key_len, rev, found);
		return;
	case KV_OP_TXN:
		for (size_t i = 0; i < c->n_guards; i++)
			touch_key(kv, c->guards[i].key, c->guards[i].key_len, rev, found);
		for (size_t i = 0; i < c->n_ops; i++)
			touch_cmd(kv, &c->ops[i], rev, found);
		for (size_t i = 0; i < c->n_compares; i++)
			touch_key(kv, c->compares[i].key, c->compares[i].key_len, rev, found);
		for (size_t i = 0; i < c->n_else; i++)
			touch_cmd(kv, &c->else_ops[i], rev, found);
		return;
	case KV_OP_SET:
	case KV_OP_INCRBY:
	case KV_OP_APPEND:
	case KV_OP_CAS:
	case KV_OP_GET:
	case KV_OP_STRLEN:
	case KV_OP_EXPIRE:
		touch_key(kv, c->put.key, c->put.key_len, rev, found);
		return;
	default:
		return;
	}
}

void kv_expire_touched(struct kv *kv, const struct kv_cmd *cmd)
{
	if (kv->n_ttls == 0)
		return;
	int found = 0;
	touch_cmd(kv, cmd, 0, &found);
	if (found == 0)
		return;
	uint64_t rev = kv->rev + 1;
	touch_cmd(kv, cmd, rev, &found);
	kv_store_commit(kv, rev);
}

/* ----------------------------------------------------------------------------------
 * The commands
 */

bool kv_expire_allowed(unsigned flags, uint64_t cur, uint64_t d)
{
	bool has = cur != UINT64_MAX;
	if ((flags & KV_EXPIRE_NX) && has)
		return false;
	if ((flags & KV_EXPIRE_XX) && !has)
		return false;
	if ((flags & KV_EXPIRE_GT) && (!has || d <= cur))
		return false;
	if ((flags & KV_EXPIRE_LT) && has && d >= cur)
		return false;
	return true;
}

/* EXPIRE and friends; PERSIST is expiry CLEAR. The key's value and revision stay. */
static int op_expire(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	struct kv_item *it = kv_store_find(kv, cmd->put.key, cmd->put.key_len);
	r->succeeded = true;
	if (it == NULL || !kv_ver_live(it->head))
		return KV_OK; /* integer 0: no such key */
	r->existed = true;
	const struct kv_expiry *e = &cmd->put.expiry;
	if (e->mode == KV_EXPIRY_CLEAR) {
		r->integer = it->ttl != NULL;
		kv_ttl_drop(kv, it);
		return KV_OK;
	}
	struct kv_ttl_set s;
	int rv = kv_expiry_resolve(kv, e, &s);
	if (rv != KV_OK || !s.touch || s.lease != NULL)
		return rv != KV_OK ? rv : KV_EINVAL;
	if (!kv_expire_allowed(cmd->expire_flags, kv_item_deadline(it), s.deadline))
		return KV_OK;
	r->integer = 1;
	if (s.deadline <= kv->clock_ms) {
		/* A deadline already passed deletes the key now, as Redis does. */
		uint64_t rev = kv->rev + 1;
		kv_store_delete(kv, it, rev);
		kv_store_commit(kv, rev);
		r->mod_revision = rev;
		return KV_OK;
	}
	kv_ttl_attach(kv, it, s.deadline, it->ttl != NULL ? it->ttl->lease : NULL);
	return KV_OK;
}

static int op_lease_grant(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	uint64_t id = cmd->lease;
	if (id != 0 && kv_lease_find(kv, id) != NULL)
		return KV_ELEASEEXISTS;
	if (kv->leases.n >= KV_LEASES_LIMIT)
		return KV_ETOOMANY;
	if (id == 0) {
		/* The store's choice: the log index, or the next free id above it. */
		id = kv->applied;
		while (kv_lease_find(kv, id) != NULL)
			id++;
	}
	kv_lease_add(kv, id, cmd->lease_ttl_ms, deadline_in(kv, cmd->lease_ttl_ms));
	r->succeeded = true;
	r->integer = (int64_t)id;
	return KV_OK;
}

/* Deletes every key of `l` at `rev` (the caller commits); returns how many. */
static int64_t lease_delete_keys(struct kv *kv, struct kv_lease *l, uint64_t rev)
{
	int64_t n = 0;
	while (l->keys != NULL) {
		struct kv_item *it = l->keys->item;
		kv_store_delete(kv, it, rev); /* drops the key's kv_ttl, unlinking it */
		n++;
	}
	return n;
}

static int op_lease_revoke(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	struct kv_lease *l = kv_lease_find(kv, cmd->lease);
	if (l == NULL)
		return KV_ELEASE;
	uint64_t rev = kv->rev + 1;
	int64_t n = lease_delete_keys(kv, l, rev);
	lease_remove(kv, l);
	if (n > 0) {
		kv_store_commit(kv, rev);
		r->mod_revision = rev;
	}
	r->succeeded = true;
	r->integer = n;
	return KV_OK;
}

static int op_lease_keepalive(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	struct kv_lease *l = kv_lease_find(kv, cmd->lease);
	if (!lease_live(kv, l))
		return KV_ELEASE;
	heap_place(&kv->leases.heap, &l->node, deadline_in(kv, l->ttl_ms));
	r->succeeded = true;
	r->integer = l->ttl_ms;
	return KV_OK;
}

/* The reaper's command: the listed keys that expired are deleted, at one revision; a
 * listed lease that expired goes once it has no key left. */
static int op_expire_due(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	uint64_t rev = kv->rev + 1;
	int64_t n = 0;
	for (size_t i = 0; i < cmd->n; i++) {
		struct kv_item *it = kv_store_find(kv, cmd->keys[i].data, cmd->keys[i].len);
		if (it == NULL || !kv_ver_live(it->head) || !kv_item_expired(kv, it))
			continue;
		kv_store_delete(kv, it, rev);
		n++;
	}
	for (size_t i = 0; i < cmd->n_leases; i++) {
		struct kv_lease *l = kv_lease_find(kv, cmd->leases[i]);
		if (l != NULL && !lease_live(kv, l) && l->n_keys == 0)
			lease_remove(kv, l);
	}
	if (n > 0) {
		kv_store_commit(kv, rev);
		r->mod_revision = rev;
	}
	r->succeeded = true;
	r->integer = n;
	return KV_OK;
}

int kv_expiry_run(struct kv *kv, raft_index index, const struct kv_cmd *cmd, struct kv_reply *r)
{
	(void)index;
	switch (cmd->op) {
	case KV_OP_EXPIRE:
		return op_expire(kv, cmd, r);
	case KV_OP_LEASE_GRANT:
		return op_lease_grant(kv, cmd, r);
	case KV_OP_LEASE_REVOKE:
		return op_lease_revoke(kv, cmd, r);
	case KV_OP_LEASE_KEEPALIVE:
		return op_lease_keepalive(kv, cmd, r);
	case KV_OP_EXPIRE_DUE:
		return op_expire_due(kv, cmd, r);
	default:
		assert(false);
		return KV_EINVAL;
	}
}
