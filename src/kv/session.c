/* session.c: client sessions for exactly-once writes: a table by id, a list by activity. */
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* The table holds at most half its slots, so a probe meets an empty slot quickly. */
#define SESSIONS_CAP_MIN 16

static uint64_t id_hash(uint64_t x)
{
	/* splitmix64's finalizer: ids are log indexes, consecutive, so they need mixing. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

void kv_sessions_init(struct kv_sessions *s)
{
	memset(s, 0, sizeof(*s));
}

void kv_sessions_clear(struct kv_sessions *s)
{
	struct kv_session *se = s->oldest;
	while (se != NULL) {
		struct kv_session *next = se->next;
		free(se);
		se = next;
	}
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

static size_t slot_of(const struct kv_sessions *s, uint64_t id)
{
	assert(s->cap > 0);
	size_t mask = s->cap - 1;
	size_t i = (size_t)id_hash(id) & mask;
	for (size_t probes = 0; probes < s->cap; probes++) {
		if (s->slots[i] == NULL || s->slots[i]->id == id)
			return i;
		i = (i + 1) & mask;
	}
	abort(); /* unreachable: the table is never full */
}

struct kv_session *kv_session_find(const struct kv_sessions *s, uint64_t id)
{
	if (s->count == 0)
		return NULL;
	return s->slots[slot_of(s, id)];
}

static void table_grow(struct kv_sessions *s)
{
	size_t cap = s->cap == 0 ? SESSIONS_CAP_MIN : s->cap * 2;
	assert(cap > s->cap);
	struct kv_session **old = s->slots;
	size_t old_cap = s->cap;
	s->slots = xcalloc(cap, sizeof(*s->slots));
	s->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] != NULL)
			s->slots[slot_of(s, old[i]->id)] = old[i];
	free(old);
}

static void list_append(struct kv_sessions *s, struct kv_session *se)
{
	se->prev = s->newest;
	se->next = NULL;
	if (s->newest != NULL)
		s->newest->next = se;
	else
		s->oldest = se;
	s->newest = se;
}

static void list_unlink(struct kv_sessions *s, struct kv_session *se)
{
	if (se->prev != NULL)
		se->prev->next = se->next;
	else
		s->oldest = se->next;
	if (se->next != NULL)
		se->next->prev = se->prev;
	else
		s->newest = se->prev;
	se->prev = NULL;
	se->next = NULL;
}

struct kv_session *kv_session_add(struct kv_sessions *s, uint64_t id, uint64_t now_ms)
{
	assert(id != 0);
	assert(s->newest == NULL || s->newest->last_active_ms <= now_ms);
	if ((s->count + 1) * 2 > s->cap)
		table_grow(s);
	size_t i = slot_of(s, id);
	assert(s->slots[i] == NULL);
	struct kv_session *se = xcalloc(1, sizeof(*se));
	se->id = id;
	se->last_active_ms = now_ms;
	s->slots[i] = se;
	s->count++;
	list_append(s, se);
	return se;
}

void kv_session_remove(struct kv_sessions *s, struct kv_session *se)
{
	size_t mask = s->cap - 1;
	size_t i = slot_of(s, se->id);
	assert(s->slots[i] == se);
	/* Backward-shift deletion: move later members of the probe run into the hole so
	 * that every lookup still reaches its entry without tombstones. */
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (s->slots[j] == NULL)
			break;
		size_t home = (size_t)id_hash(s->slots[j]->id) & mask;
		/* Move slots[j] into the hole at i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		s->slots[i] = s->slots[j];
		i = j;
	}
	s->slots[i] = NULL;
	assert(s->count > 0);
	s->count--;
	list_unlink(s, se);
	free(se);
}

void kv_session_touch(struct kv_sessions *s, struct kv_session *se, uint64_t now_ms)
{
	assert(now_ms >= se->last_active_ms);
	se->last_active_ms = now_ms;
	if (s->newest != se) {
		list_unlink(s, se);
		list_append(s, se);
	}
}

void kv_sessions_expire(struct kv_sessions *s, uint64_t now_ms, uint64_t timeout_ms)
{
	/* The list is sorted by last activity, so the idle ones are at its front. */
	while (s->oldest != NULL) {
		struct kv_session *se = s->oldest;
		assert(se->last_active_ms <= now_ms);
		if (now_ms - se->last_active_ms <= timeout_ms)
			break;
		kv_session_remove(s, se);
	}
}
