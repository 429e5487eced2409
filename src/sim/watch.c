/* watch.c: watchers on every node, through the kv's change hook, checked against the
 * changes the applied log made. */
#include "sim/internal.h"

#include "kv/impl.h"
#include "kv/kv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each node carries two watchers, one over the client keys [k, l) and one over the keys
 * that expire on the side [x, y). A watcher survives its node's crashes: when the node
 * boots again (or a leader's snapshot replaces its state) it catches up from the revision
 * after the last one it got, with kv_events, and then takes the live hook.
 *
 * The oracle does not use the watch code: after every applied entry, the versions of the
 * node's keys in both ranges that the entry's revisions made are read from the store's
 * items (kv_get would hide a key past its deadline, but it is deleted only when a command
 * deletes it: the reaper's, or one that touches it, at a revision of its own before the
 * command's). The first node to apply a revision records a digest of its changes per
 * range; every other node must make the same changes there. A watcher whose node booted
 * from a state older than the watcher's next revision passes over what the node's replay
 * delivers below it. A watcher's deliveries are queued by the hook (which runs inside
 * kv_apply, before the oracle knows the revision) and checked after the entry: revisions
 * strictly increasing (no duplicate), every revision in between with no change in its
 * range (no gap), and the events of each revision equal to the oracle's (order and
 * content). A catch-up refused as compacted restarts the watcher after the compaction
 * point, as etcd's clients do; those are counted, and no gap is claimed across them.
 */

static const char *const range_start[SIM_WATCHERS] = {"k", "x"};
static const char *const range_end[SIM_WATCHERS] = {"l", "y"};

static size_t watch_key_name(uint32_t i, char buf[8])
{
	if (i < SIM_KEYS)
		return sim_key_name(i, buf);
	buf[0] = 'x';
	buf[1] = (char)('0' + (i - SIM_KEYS));
	buf[2] = '\0';
	return 2;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x100000001b3ull;
	return h;
}

static uint64_t mix_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = mix(h, b[i]);
	return mix(h, n);
}

/* One event's share of a revision's digest: key, type, value and mod revision. */
static uint64_t event_digest(uint64_t h, const void *key, size_t key_len, bool put,
                             const void *value, size_t value_len, uint64_t rev)
{
	h = mix_bytes(h, key, key_len);
	h = mix(h, put ? 1 : 2);
	if (put)
		h = mix_bytes(h, value, value_len);
	return mix(h, rev);
}

#define DIGEST_EMPTY 0xcbf29ce484222325ull

static struct wlog_rev *wlog_at(struct sim *s, uint64_t rev)
{
	if (rev >= s->cap_wlog) {
		uint64_t cap = s->cap_wlog == 0 ? 1024 : s->cap_wlog;
		while (cap <= rev)
			cap *= 2;
		s->wlog = sim_xrealloc(s->wlog, cap * sizeof(*s->wlog));
		memset(s->wlog + s->cap_wlog, 0, (cap - s->cap_wlog) * sizeof(*s->wlog));
		s->cap_wlog = cap;
	}
	return &s->wlog[rev];
}

static void watch_queue(struct sim *s, struct node *nd, struct sim_watcher *w, uint64_t rev,
                        uint64_t digest)
{
	if (w->n_pending == w->cap_pending) {
		w->cap_pending = w->cap_pending == 0 ? 16 : w->cap_pending * 2;
		w->pending = sim_xrealloc(w->pending, w->cap_pending * sizeof(*w->pending));
	}
	w->pending[w->n_pending++] = (struct wpending){rev, digest};
	s->res->watch_events++;
	s->res->watch_caught_up += nd->wcatch >= 0;
}

/* A revision's events, in the hook's or kv_events' order, as one digest per watcher. */
static int watch_events_fn(void *arg, uint64_t revision, const struct kv_event *ev, size_t n)
{
	struct node *nd = arg;
	if (nd->sim->opts.watch_lossy && revision % 97 == 0)
		return 0;
	for (uint32_t w = 0; w < SIM_WATCHERS; w++) {
		if (nd->wcatch >= 0 && (uint32_t)nd->wcatch != w)
			continue;
		uint64_t h = DIGEST_EMPTY;
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			const struct kv_value *v = &ev[i].kv;
			if (!kv_key_in_range(v->key, v->key_len, range_start[w], 1, range_end[w],
			                     1))
				continue;
			any = true;
			h = event_digest(h, v->key, v->key_len, ev[i].type == KV_EVENT_PUT,
			                 v->value, v->value_len, v->mod_revision);
		}
		if (any)
			watch_queue(nd->sim, nd, &nd->watchers[w], revision, h);
	}
	return 0;
}

/* Catches watcher w up from its next revision with kv_events. */
static void watch_catch_up(struct sim *s, struct node *nd, uint32_t w)
{
	struct sim_watcher *wt = &nd->watchers[w];
	const struct kv *kv = driver_kv(nd->d);
	if (wt->next > kv_revision(kv) + 1) {
		wt->behind = true;
		return;
	}
	nd->wcatch = (int)w;
	uint64_t from = wt->next; /* the drain moves wt->next as it checks what came */
	for (int round = 0; round < 1000; round++) {
		uint64_t next = 0;
		int rv = kv_events(kv, from, range_start[w], 1, range_end[w], 1, 256,
		                   watch_events_fn, nd, &next);
		if (rv == KV_ECOMPACTED) {
			s->res->watch_compacted++;
			from = wt->next = kv_compact_revision(kv) + 1;
			continue;
		}
		if (rv != 0) {
			sim_fail(s, "watch",
			         "n%u watcher %u: kv_events from %" PRIu64 " failed (%d)",
			         nd->idx + 1, w, from, rv);
			break;
		}
		if (next <= from || next > kv_revision(kv))
			break;
		from = next;
	}
	nd->wcatch = -1;
}

static void watch_reset(void *arg)
{
	struct node *nd = arg;
	/* The hook's reset runs inside the snapshot read; the catch-up waits for
	 * watch_resync, once the node's state is checked. */
	nd->wresync = true;
}

/* The node booted or took a snapshot: its keys are read again, and each watcher catches
 * up from where it was. */
void watch_resync(struct sim *s, struct node *nd)
{
	watch_drain(s, nd);
	for (uint32_t w = 0; w < SIM_WATCHERS; w++) {
		struct sim_watcher *wt = &nd->watchers[w];
		if (wt->next == 0)
			wt->next = 1;
		/* Deliveries already checked set next; the catch-up starts there. */
		watch_catch_up(s, nd, w);
	}
	watch_drain(s, nd);
	nd->wresync = false;
}

void watch_attach(struct sim *s, struct node *nd)
{
	nd->wcatch = -1;
	struct kv_watch_hook hook = {.events = watch_events_fn, .reset = watch_reset, .arg = nd};
	driver_watch_hook_set(nd->d, &hook);
	watch_resync(s, nd);
}

/* The digest, per watcher range, of the changes the store holds at revision `rev`: every
 * watched key's version made at `rev` (a put with its value, or a tombstone). */
static void rev_digest(const struct kv *kv, uint64_t rev, uint64_t h[SIM_WATCHERS])
{
	for (uint32_t w = 0; w < SIM_WATCHERS; w++)
		h[w] = DIGEST_EMPTY;
	for (uint32_t i = 0; i < SIM_WATCH_KEYS; i++) {
		char name[8];
		size_t len = watch_key_name(i, name);
		const struct kv_item *it = kv_store_find(kv, name, len);
		const struct kv_ver *v = it != NULL ? it->head : NULL;
		while (v != NULL && v->mod_rev > rev)
			v = v->older;
		if (v == NULL || v->mod_rev != rev)
			continue;
		uint32_t w = i < SIM_KEYS ? 0 : 1;
		h[w] = event_digest(h[w], name, len, kv_ver_live(v), v->data, v->len, rev);
	}
}

/* The oracle: node nd applied an entry that took its revision from `before` to `after`
 * (two revisions when the command first deleted expired keys it touched). */
static void watch_record(struct sim *s, struct node *nd, uint64_t before, uint64_t after)
{
	const struct kv *kv = driver_kv(nd->d);
	if (after < before || after > before + 2) {
		sim_fail(s, "watch",
		         "n%u: one entry moved the revision from %" PRIu64 " to %" PRIu64,
		         nd->idx + 1, before, after);
		return;
	}
	for (uint64_t rev = before + 1; rev <= after; rev++) {
		uint64_t h[SIM_WATCHERS];
		rev_digest(kv, rev, h);
		struct wlog_rev *r = wlog_at(s, rev);
		if (!r->set) {
			r->set = true;
			memcpy(r->digest, h, sizeof(h));
		} else if (memcmp(r->digest, h, sizeof(h)) != 0) {
			sim_fail(s, "watch-oracle", "n%u changed other keys at revision %" PRIu64,
			         nd->idx + 1, rev);
		}
	}
}

/* Checks and forgets what the node's watchers got. */
void watch_drain(struct sim *s, struct node *nd)
{
	for (uint32_t w = 0; w < SIM_WATCHERS && !s->failed; w++) {
		struct sim_watcher *wt = &nd->watchers[w];
		for (uint32_t i = 0; i < wt->n_pending && !s->failed; i++) {
			uint64_t rev = wt->pending[i].rev;
			if (wt->next == 0)
				wt->next = 1;
			if (rev < wt->next && wt->behind)
				continue;
			wt->behind = false;
			if (rev < wt->next) {
				sim_fail(s, "watch-duplicate",
				         "n%u watcher %u got revision %" PRIu64
				         " again (next %" PRIu64 ")",
				         nd->idx + 1, w, rev, wt->next);
				break;
			}
			for (uint64_t g = wt->next; g < rev; g++) {
				const struct wlog_rev *o = wlog_at(s, g);
				if (o->set && o->digest[w] != DIGEST_EMPTY) {
					sim_fail(s, "watch-gap",
					         "n%u watcher %u skipped revision %" PRIu64
					         " (got %" PRIu64 ")",
					         nd->idx + 1, w, g, rev);
					break;
				}
			}
			const struct wlog_rev *o = wlog_at(s, rev);
			if (!s->failed && (!o->set || o->digest[w] != wt->pending[i].digest))
				sim_fail(s, "watch-events",
				         "n%u watcher %u got events at revision %" PRIu64
				         " that the applied log did not make there",
				         nd->idx + 1, w, rev);
			wt->next = rev + 1;
		}
		wt->n_pending = 0;
	}
}

/* After each applied entry. */
void watch_applied(struct sim *s, struct node *nd, uint64_t before)
{
	watch_record(s, nd, before, kv_revision(driver_kv(nd->d)));
	watch_drain(s, nd);
}

/* At the end of a run: every watcher on an up node has every change up to its node's
 * revision. */
void watch_final(struct sim *s)
{
	for (uint32_t i = 0; i < SIM_MAX_NODES && !s->failed; i++) {
		struct node *nd = &s->nodes[i];
		if (!nd->up || nd->d == NULL)
			continue;
		watch_drain(s, nd);
		uint64_t top = kv_revision(driver_kv(nd->d));
		for (uint32_t w = 0; w < SIM_WATCHERS && !s->failed; w++)
			for (uint64_t g = nd->watchers[w].next; g <= top; g++) {
				const struct wlog_rev *o = wlog_at(s, g);
				if (o->set && o->digest[w] != DIGEST_EMPTY) {
					sim_fail(s, "watch-gap",
					         "n%u watcher %u never got revision %" PRIu64,
					         i + 1, w, g);
					break;
				}
			}
	}
}

void watch_free(struct sim *s)
{
	for (uint32_t i = 0; i < SIM_MAX_NODES; i++)
		for (uint32_t w = 0; w < SIM_WATCHERS; w++) {
			free(s->nodes[i].watchers[w].pending);
			s->nodes[i].watchers[w].pending = NULL;
		}
	free(s->wlog);
	s->wlog = NULL;
	s->cap_wlog = 0;
}
