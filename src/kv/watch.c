/* watch.c: the store's change events: enumeration after a revision (catch-up) and the live hook. */
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

bool kv_key_in_range(const void *key, size_t key_len, const void *start, size_t start_len,
                     const void *end, size_t end_len)
{
	if (kv_key_cmp(key, key_len, start, start_len) < 0)
		return false;
	return end_len == 0 || kv_key_cmp(key, key_len, end, end_len) < 0;
}

/* The event that version `v` of `it` stands for. */
static void event_fill(const struct kv_item *it, const struct kv_ver *v, struct kv_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kv.key = kv_item_key(it);
	ev->kv.key_len = it->key_len;
	ev->kv.mod_revision = v->mod_rev;
	if (kv_ver_live(v)) {
		ev->type = KV_EVENT_PUT;
		ev->kv.value = v->data;
		ev->kv.value_len = v->len;
		ev->kv.create_revision = v->create_rev;
		ev->kv.version = v->version;
	} else {
		ev->type = KV_EVENT_DELETE;
		ev->kv.value = "";
	}
	const struct kv_ver *p = v->older;
	if (kv_ver_live(p)) {
		ev->prev.key = ev->kv.key;
		ev->prev.key_len = ev->kv.key_len;
		ev->prev.value = p->data;
		ev->prev.value_len = p->len;
		ev->prev.create_revision = p->create_rev;
		ev->prev.mod_revision = p->mod_rev;
		ev->prev.version = p->version;
	}
}

/* ----------------------------------------------------------------------------------
 * The live hook
 */

void kv_watch_hook_set(struct kv *kv, const struct kv_watch_hook *hook)
{
	assert(kv->n_touched == 0);
	if (hook == NULL || (hook->events == NULL && hook->publish == NULL))
		memset(&kv->watch, 0, sizeof(kv->watch));
	else
		kv->watch = *hook;
}

void kv_watch_touch(struct kv *kv, struct kv_item *it)
{
	if (kv->n_touched == kv->cap_touched) {
		size_t cap = kv->cap_touched == 0 ? 16 : kv->cap_touched * 2;
		kv->touched = xrealloc(kv->touched, cap * sizeof(*kv->touched));
		kv->cap_touched = cap;
	}
	kv->touched[kv->n_touched++] = it;
}

static int item_ptr_cmp(const void *a, const void *b)
{
	const struct kv_item *x = *(struct kv_item *const *)a;
	const struct kv_item *y = *(struct kv_item *const *)b;
	return kv_key_cmp(kv_item_key(x), x->key_len, kv_item_key(y), y->key_len);
}

void kv_watch_commit(struct kv *kv, uint64_t rev)
{
	size_t n = kv->n_touched;
	kv->n_touched = 0;
	if (kv->watch.events == NULL)
		return;
	if (n > 1)
		qsort(kv->touched, n, sizeof(*kv->touched), item_ptr_cmp);
	struct kv_event *ev = xmalloc(n * sizeof(*ev));
	for (size_t i = 0; i < n; i++) {
		assert(kv->touched[i]->head->mod_rev == rev);
		event_fill(kv->touched[i], kv->touched[i]->head, &ev[i]);
	}
	kv->watch.events(kv->watch.arg, rev, ev, n);
	free(ev);
}

void kv_watch_free(struct kv *kv)
{
	free(kv->touched);
	kv->touched = NULL;
	kv->n_touched = kv->cap_touched = 0;
}

/* ----------------------------------------------------------------------------------
 * Enumeration: every retained version newer than `from` of the keys in range, sorted
 * by (revision, key). Items are visited in key order, so their visiting order breaks
 * ties.
 */

struct found {
	uint64_t rev;
	size_t order;
	const struct kv_item *it;
	const struct kv_ver *v;
};

struct found_list {
	struct found *a;
	size_t n, cap;
};

static void found_push(struct found_list *l, const struct kv_item *it, const struct kv_ver *v)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->a = xrealloc(l->a, l->cap * sizeof(*l->a));
	}
	l->a[l->n] = (struct found){v->mod_rev, l->n, it, v};
	l->n++;
}

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	if (x->rev != y->rev)
		return x->rev < y->rev ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void collect(const struct kv *kv, uint64_t from, const void *start, size_t start_len,
                    const void *end, size_t end_len, struct found_list *l)
{
	const struct kv_item *it = kv_store_seek(kv, start, start_len);
	for (; it != NULL; it = it->next[0]) {
		if (end_len > 0 && kv_key_cmp(kv_item_key(it), it->key_len, end, end_len) >= 0)
			break;
		for (const struct kv_ver *v = it->head; v != NULL && v->mod_rev >= from;
		     v = v->older)
			found_push(l, it, v);
	}
}

/* Hands the sorted events to fn, one revision at a time, up to `limit`. */
static uint64_t emit(const struct kv *kv, const struct found_list *l, size_t limit, kv_events_fn fn,
                     void *arg)
{
	struct kv_event *ev = xmalloc((l->n > 0 ? l->n : 1) * sizeof(*ev));
	size_t i = 0, sent = 0;
	uint64_t next = kv->rev + 1;
	while (i < l->n) {
		uint64_t rev = l->a[i].rev;
		if (sent >= limit) {
			next = rev;
			break;
		}
		size_t n = 0;
		for (; i < l->n && l->a[i].rev == rev; i++)
			event_fill(l->a[i].it, l->a[i].v, &ev[n++]);
		sent += n;
		if (fn(arg, rev, ev, n) != 0) {
			next = rev + 1;
			break;
		}
	}
	free(ev);
	return next;
}

int kv_events(const struct kv *kv, uint64_t from, const void *start, size_t start_len,
              const void *end, size_t end_len, size_t limit, kv_events_fn fn, void *arg,
              uint64_t *next)
{
	if (from == 0 || limit == 0)
		return KV_EINVAL;
	if (from <= kv->compact_rev)
		return KV_ECOMPACTED;
	if (from > kv->rev + 1)
		return KV_EFUTURE;
	struct found_list l = {0};
	collect(kv, from, start, start_len, end, end_len, &l);
	if (l.n > 1)
		qsort(l.a, l.n, sizeof(*l.a), found_cmp);
	uint64_t at = emit(kv, &l, limit, fn, arg);
	free(l.a);
	if (next != NULL)
		*next = at;
	return KV_OK;
}
