/* watch.c: the node's watch hub (watch.h): watchers fed from the retained history, then live from
 * the state machine's hook; slow and compacted ones cancelled. */
#include "server/watch.h"

#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Events asked of the store per enumeration during a catch-up. */
#define WATCH_CATCHUP_EVENTS 256

struct watch_hub {
	struct server *sv;
	struct watcher *head;
	struct watch_listener *listeners;
	uint32_t n;
	uint64_t next_id;
	struct watcher *iter_next; /* the live loop's next watcher: watch_stop moves it on */
	uint32_t depth;            /* inside the hook: do not free the hub */
	struct kv_event *scratch;
	size_t cap;
};

static const struct kv *hub_kv(const struct watch_hub *h)
{
	return node_kv(h->sv->node);
}

static void hub_events(void *arg, uint64_t rev, const struct kv_event *ev, size_t n);
static int hub_events_fn(void *arg, uint64_t rev, const struct kv_event *ev, size_t n)
{
	hub_events(arg, rev, ev, n);
	return 0;
}
static void hub_reset(void *arg);
static void hub_publish(void *arg, const void *channel, size_t clen, const void *msg, size_t mlen);

static struct watch_hub *hub_get(struct server *sv)
{
	if (sv->watch != NULL)
		return sv->watch;
	struct watch_hub *h = xmalloc(sizeof(*h));
	memset(h, 0, sizeof(*h));
	h->sv = sv;
	sv->watch = h;
	struct kv_watch_hook hook = {hub_events_fn, hub_reset, h, hub_publish};
	node_watch_hook_set(sv->node, &hook);
	return h;
}

/* Frees the hub once nothing uses it, so that an unwatched node does no extra work. */
static void hub_maybe_free(struct watch_hub *h)
{
	if (h->depth > 0 || h->head != NULL || h->listeners != NULL)
		return;
	node_watch_hook_set(h->sv->node, NULL);
	h->sv->watch = NULL;
	free(h->scratch);
	free(h);
}

static void unlink_watcher(struct watch_hub *h, struct watcher *w)
{
	if (h->iter_next == w)
		h->iter_next = w->next;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		h->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->active = false;
	h->n--;
	h->sv->watch_stats.watchers--;
}

static void cancel(struct watcher *w, const char *reason, uint64_t compact_rev)
{
	struct watch_hub *h = w->hub;
	unlink_watcher(h, w);
	if (compact_rev != 0)
		h->sv->watch_stats.cancel_compacted++;
	else
		h->sv->watch_stats.cancel_slow++;
	w->ops->cancelled(w, reason, compact_rev);
}

static void cancel_slow(struct watcher *w)
{
	char reason[128];
	snprintf(reason, sizeof(reason), "slow watcher: more than %zu bytes of output queued",
	         w->hub->sv->watch_buffer_bytes);
	cancel(w, reason, 0);
}

static void cancel_compacted(struct watcher *w, uint64_t compact_rev)
{
	char reason[128];
	snprintf(reason, sizeof(reason),
	         "required revision %" PRIu64 " has been compacted; compacted revision %" PRIu64,
	         w->next_rev, compact_rev);
	cancel(w, reason, compact_rev);
}

static bool in_range(const struct watcher *w, const struct kv_event *e)
{
	return kv_key_in_range(e->kv.key, e->kv.key_len, w->start, w->start_len, w->end,
	                       w->end_len) &&
	       !kv_key_reserved(e->kv.key, e->kv.key_len);
}

/* Hands the sink a revision's events that are in its range (previous values only if
 * asked); a live revision finding the sink's output over the bound cancels it instead. */
static void deliver(struct watcher *w, uint64_t rev, const struct kv_event *ev, size_t n, bool live)
{
	struct watch_hub *h = w->hub;
	if (n > h->cap) {
		h->cap = n;
		h->scratch = xrealloc(h->scratch, n * sizeof(*h->scratch));
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!in_range(w, &ev[i]))
			continue;
		h->scratch[k] = ev[i];
		if (!w->prev_kv)
			memset(&h->scratch[k].prev, 0, sizeof(h->scratch[k].prev));
		k++;
	}
	if (k == 0)
		return;
	if (live && w->ops->queued(w) > h->sv->watch_buffer_bytes) {
		cancel_slow(w);
		return;
	}
	h->sv->watch_stats.events += k;
	w->ops->deliver(w, rev, h->scratch, k);
}

/* ----------------------------------------------------------------------------------
 * Catch-up from the store's history
 */

struct pump {
	struct watcher *w;
	bool paused;
};

static int pump_fn(void *arg, uint64_t rev, const struct kv_event *ev, size_t n)
{
	struct pump *p = arg;
	struct watcher *w = p->w;
	if (!w->active)
		return 1; /* the sink stopped it while taking the last revision */
	if (w->ops->queued(w) >= w->hub->sv->watch_buffer_bytes / 2) {
		p->paused = true; /* this revision stays for the next pump */
		return 1;
	}
	w->next_rev = rev + 1;
	deliver(w, rev, ev, n, false);
	return 0;
}

void watch_pump(struct watcher *w)
{
	if (w == NULL || !w->active)
		return;
	const struct kv *kv = hub_kv(w->hub);
	for (uint32_t round = 0; round < 1000000 && w->next_rev <= kv_revision(kv); round++) {
		if (w->ops->queued(w) >= w->hub->sv->watch_buffer_bytes / 2)
			return;
		struct pump p = {w, false};
		uint64_t next = 0;
		int rv = kv_events(kv, w->next_rev, w->start, w->start_len, w->end, w->end_len,
		                   WATCH_CATCHUP_EVENTS, pump_fn, &p, &next);
		if (rv == KV_ECOMPACTED) {
			cancel_compacted(w, kv_compact_revision(kv));
			return;
		}
		if (rv != KV_OK || p.paused || !w->active)
			return;
		w->next_rev = next;
	}
}

/* ----------------------------------------------------------------------------------
 * Live events, from the hook
 */

static void live_one(struct watcher *w, uint64_t rev, const struct kv_event *ev, size_t n)
{
	if (w->next_rev > rev)
		return; /* starts later */
	if (w->next_rev < rev) {
		watch_pump(w); /* still catching up: the store has this revision too */
		return;
	}
	w->next_rev = rev + 1;
	deliver(w, rev, ev, n, true);
}

static void hub_events(void *arg, uint64_t rev, const struct kv_event *ev, size_t n)
{
	struct watch_hub *h = arg;
	h->depth++;
	for (struct watcher *w = h->head; w != NULL; w = h->iter_next) {
		h->iter_next = w->next;
		live_one(w, rev, ev, n);
	}
	h->iter_next = NULL;
	for (struct watch_listener *l = h->listeners; l != NULL; l = l->next)
		l->events(l->arg, rev, ev, n);
	h->depth--;
	hub_maybe_free(h);
}

/* An applied PUBLISH: for the listeners that take messages (watchers see keys only). */
static void hub_publish(void *arg, const void *channel, size_t clen, const void *msg, size_t mlen)
{
	struct watch_hub *h = arg;
	h->depth++;
	for (struct watch_listener *l = h->listeners; l != NULL; l = l->next)
		if (l->publish != NULL)
			l->publish(l->arg, channel, clen, msg, mlen);
	h->depth--;
	hub_maybe_free(h);
}

/* A snapshot install replaced the state: catch up from it, or give up if it compacted
 * past a watcher. */
static void hub_reset(void *arg)
{
	struct watch_hub *h = arg;
	const struct kv *kv = hub_kv(h);
	h->depth++;
	for (struct watcher *w = h->head; w != NULL; w = h->iter_next) {
		h->iter_next = w->next;
		if (w->next_rev <= kv_revision(kv) && w->next_rev <= kv_compact_revision(kv))
			cancel_compacted(w, kv_compact_revision(kv));
		else
			watch_pump(w);
	}
	h->iter_next = NULL;
	h->depth--;
	hub_maybe_free(h);
}

/* ----------------------------------------------------------------------------------
 * Watchers and listeners
 */

int watch_start(struct server *sv, struct watcher *w, uint64_t from, uint64_t *compact_rev)
{
	if (!kv_key_in_range(w->start, w->start_len, w->start, w->start_len, w->end, w->end_len))
		return KV_EINVAL; /* start >= end: nothing to watch */
	if (sv->watch_stats.watchers >= sv->watch_max) {
		sv->watch_stats.refused++;
		return KV_ETOOMANY;
	}
	const struct kv *kv = node_kv(sv->node);
	if (from != 0 && from <= kv_compact_revision(kv)) {
		sv->watch_stats.cancel_compacted++;
		*compact_rev = kv_compact_revision(kv);
		return KV_ECOMPACTED;
	}
	struct watch_hub *h = hub_get(sv);
	w->hub = h;
	w->next_rev = from != 0 ? from : kv_revision(kv) + 1;
	w->id = ++h->next_id;
	w->prev = NULL;
	w->next = h->head;
	if (h->head != NULL)
		h->head->prev = w;
	h->head = w;
	w->active = true;
	h->n++;
	sv->watch_stats.watchers++;
	sv->watch_stats.created++;
	return KV_OK;
}

void watch_stop(struct watcher *w)
{
	if (w == NULL || !w->active)
		return;
	struct watch_hub *h = w->hub;
	unlink_watcher(h, w);
	hub_maybe_free(h);
}

void watch_listen(struct server *sv, struct watch_listener *l)
{
	struct watch_hub *h = hub_get(sv);
	l->prev = NULL;
	l->next = h->listeners;
	if (h->listeners != NULL)
		h->listeners->prev = l;
	h->listeners = l;
}

void watch_unlisten(struct server *sv, struct watch_listener *l)
{
	struct watch_hub *h = sv->watch;
	if (h == NULL)
		return;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else if (h->listeners == l)
		h->listeners = l->next;
	else
		return; /* not listening */
	if (l->next != NULL)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
	hub_maybe_free(h);
}

static char *dup_bytes(const void *p, size_t n)
{
	char *b = xmalloc(n + 1);
	if (n > 0)
		memcpy(b, p, n);
	b[n] = '\0';
	return b;
}

void watch_range_key(const void *key, size_t len, char **start, size_t *start_len, char **end,
                     size_t *end_len)
{
	*start = dup_bytes(key, len);
	*start_len = len;
	*end = dup_bytes(key, len); /* the key and the zero byte dup_bytes ends it with */
	*end_len = len + 1;
}

void watch_range_prefix(const void *prefix, size_t len, char **start, size_t *start_len, char **end,
                        size_t *end_len)
{
	*start = dup_bytes(prefix, len);
	*start_len = len;
	*end = dup_bytes(prefix, len);
	size_t n = len;
	while (n > 0 && (unsigned char)(*end)[n - 1] == 0xff)
		n--;
	if (n > 0)
		(*end)[n - 1] = (char)((unsigned char)(*end)[n - 1] + 1);
	*end_len = n; /* 0: every key from the prefix on */
}
