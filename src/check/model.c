/* model.c: hash-consed key values (absent, literals, concatenations, integers) for the search. */
#include "check/model.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_P  ((uint64_t)0x1fffffffffffffffull) /* 2^61 - 1 */
#define MODEL_B1 ((uint64_t)0x0a3b1c5d7e9f1327ull)
#define MODEL_B2 ((uint64_t)0x13579bdf2468ace1ull)
enum { MODEL_ARENA_BYTES = 4096 };

static uint64_t model_mulmod(uint64_t a, uint64_t b)
{
	__uint128_t x = (__uint128_t)a * b;
	uint64_t lo = (uint64_t)(x & MODEL_P);
	uint64_t hi = (uint64_t)(x >> 61);
	uint64_t r = lo + hi;
	if (r >= MODEL_P)
		r -= MODEL_P;
	return r;
}

static uint64_t model_addmod(uint64_t a, uint64_t b)
{
	uint64_t r = a + b;
	if (r >= MODEL_P)
		r -= MODEL_P;
	return r;
}

static uint64_t model_mix(uint64_t h1, uint64_t h2, uint64_t len)
{
	uint64_t x = h1 ^ (h2 * 0x9e3779b97f4a7c15ull) ^ (len * 0xc2b2ae3d27d4eb4full);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x;
}

bool model_parse_int(const char *bytes, size_t len, int64_t *value)
{
	size_t i = 0;
	bool negative = false;
	if (len > 0 && bytes[0] == '-') {
		negative = true;
		i = 1;
	}
	if (i == len || len - i > 19 + 1)
		return false;
	uint64_t magnitude = 0;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)bytes[i];
		if (c < '0' || c > '9')
			return false;
		if (magnitude > (UINT64_MAX - 9) / 10)
			return false;
		magnitude = magnitude * 10 + (uint64_t)(c - '0');
	}
	if (negative) {
		if (magnitude > (uint64_t)INT64_MAX + 1)
			return false;
		*value = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
	} else {
		if (magnitude > (uint64_t)INT64_MAX)
			return false;
		*value = (int64_t)magnitude;
	}
	return true;
}

int model_init(struct model *m, struct budget *budget)
{
	assert(m != NULL && budget != NULL);
	memset(m, 0, sizeof(*m));
	m->budget = budget;
	m->state_cap = 64;
	m->states = budget_alloc(budget, m->state_cap * sizeof(*m->states));
	m->table_cap = 128;
	m->table = budget_calloc(budget, m->table_cap, sizeof(*m->table));
	if (m->states == NULL || m->table == NULL) {
		model_free(m);
		return -ENOMEM;
	}
	/* State 0 is the absent value: not a string, so it never collides with "". */
	struct model_state *absent = &m->states[0];
	memset(absent, 0, sizeof(*absent));
	absent->parent = MODEL_NONE;
	absent->piece = MODEL_NONE;
	absent->p1 = absent->p2 = 1;
	absent->int_value = 0;
	absent->int_status = 1;
	m->state_count = 1;
	return 0;
}

void model_free(struct model *m)
{
	if (m->budget == NULL)
		return;
	for (size_t i = 0; i < m->state_count; i++) {
		if (m->states[i].prefix_h1 != NULL)
			budget_free(m->budget, m->states[i].prefix_h1,
			            (m->states[i].len + 1) * sizeof(uint64_t));
	}
	budget_free(m->budget, m->states, m->state_cap * sizeof(*m->states));
	budget_free(m->budget, m->table, m->table_cap * sizeof(*m->table));
	for (size_t i = 0; i < m->arena_count; i++)
		budget_free(m->budget, m->arenas[i], MODEL_ARENA_BYTES);
	budget_free(m->budget, m->arenas, m->arena_cap * sizeof(*m->arenas));
	memset(m, 0, sizeof(*m));
}

static int model_grow_table(struct model *m)
{
	size_t cap = m->table_cap * 2;
	uint32_t *table = budget_calloc(m->budget, cap, sizeof(*table));
	if (table == NULL)
		return -ENOMEM;
	for (size_t id = 1; id < m->state_count; id++) {
		const struct model_state *s = &m->states[id];
		size_t at = (size_t)model_mix(s->h1, s->h2, s->len) & (cap - 1);
		while (table[at] != 0)
			at = (at + 1) & (cap - 1);
		table[at] = (uint32_t)id + 1;
	}
	budget_free(m->budget, m->table, m->table_cap * sizeof(*m->table));
	m->table = table;
	m->table_cap = cap;
	return 0;
}

/* Finds or adds the state described by *proto; *id receives its id. */
static int model_insert(struct model *m, const struct model_state *proto, uint32_t *id)
{
	size_t at = (size_t)model_mix(proto->h1, proto->h2, proto->len) & (m->table_cap - 1);
	for (;;) {
		uint32_t slot = m->table[at];
		if (slot == 0)
			break;
		const struct model_state *s = &m->states[slot - 1];
		if (s->h1 == proto->h1 && s->h2 == proto->h2 && s->len == proto->len) {
			*id = slot - 1;
			return 0;
		}
		at = (at + 1) & (m->table_cap - 1);
	}
	if (m->state_count >= MODEL_NONE - 1)
		return -ENOMEM;
	if (m->state_count == m->state_cap) {
		size_t cap = m->state_cap * 2;
		struct model_state *states = budget_realloc(
		    m->budget, m->states, m->state_cap * sizeof(*states), cap * sizeof(*states));
		if (states == NULL)
			return -ENOMEM;
		m->states = states;
		m->state_cap = cap;
	}
	uint32_t new_id = (uint32_t)m->state_count++;
	m->states[new_id] = *proto;
	m->table[at] = new_id + 1;
	*id = new_id;
	if (m->state_count * 2 > m->table_cap)
		return model_grow_table(m);
	return 0;
}

int model_intern(struct model *m, const char *bytes, size_t len, uint32_t *id)
{
	assert(bytes != NULL || len == 0);
	struct model_state s = {
	    .h1 = 0,
	    .h2 = 0,
	    .p1 = 1,
	    .p2 = 1,
	    .len = len,
	    .parent = MODEL_NONE,
	    .piece = MODEL_NONE,
	    .bytes = bytes,
	    .int_status = -1,
	};
	for (size_t i = 0; i < len; i++) {
		uint64_t c = (uint64_t)(unsigned char)bytes[i] + 1;
		s.h1 = model_addmod(model_mulmod(s.h1, MODEL_B1), c);
		s.h2 = model_addmod(model_mulmod(s.h2, MODEL_B2), c);
		s.p1 = model_mulmod(s.p1, MODEL_B1);
		s.p2 = model_mulmod(s.p2, MODEL_B2);
	}
	int64_t v;
	if (model_parse_int(bytes, len, &v)) {
		s.int_status = 1;
		s.int_value = v;
	} else {
		s.int_status = 0;
	}
	int rc = model_insert(m, &s, id);
	if (rc != 0)
		return rc;
	/* The same bytes may already exist as a concatenation: make it a literal, so that every
	 * interned value can serve as an appended piece. */
	struct model_state *found = &m->states[*id];
	if (*id != MODEL_ABSENT && found->parent != MODEL_NONE) {
		found->parent = MODEL_NONE;
		found->piece = MODEL_NONE;
		found->bytes = bytes;
		found->int_status = s.int_status;
		found->int_value = s.int_value;
	}
	return 0;
}

int model_concat(struct model *m, uint32_t a, uint32_t piece, uint32_t *id)
{
	assert(a < m->state_count && piece < m->state_count && piece != MODEL_ABSENT);
	const struct model_state *sa = &m->states[a];
	const struct model_state *sp = &m->states[piece];
	if (sp->len == 0 && a != MODEL_ABSENT) {
		*id = a;
		return 0;
	}
	if (a == MODEL_ABSENT) {
		*id = piece;
		return 0;
	}
	struct model_state s = {
	    .h1 = model_addmod(model_mulmod(sa->h1, sp->p1), sp->h1),
	    .h2 = model_addmod(model_mulmod(sa->h2, sp->p2), sp->h2),
	    .p1 = model_mulmod(sa->p1, sp->p1),
	    .p2 = model_mulmod(sa->p2, sp->p2),
	    .len = sa->len + sp->len,
	    .parent = a,
	    .piece = piece,
	    .bytes = NULL,
	    .int_status = -1,
	};
	return model_insert(m, &s, id);
}

int model_add_opaque(struct model *m, uint32_t *id)
{
	/* Hashes are reduced modulo P, so P itself never occurs: no literal can match. */
	struct model_state s = {
	    .h1 = MODEL_P,
	    .h2 = MODEL_P,
	    .p1 = 1,
	    .p2 = 1,
	    .len = 0,
	    .parent = MODEL_NONE,
	    .piece = MODEL_NONE,
	    .bytes = "",
	    .int_status = 0,
	};
	return model_insert(m, &s, id);
}

static char *model_arena_alloc(struct model *m, size_t size)
{
	assert(size <= MODEL_ARENA_BYTES);
	if (m->arena_left < size) {
		if (m->arena_count == m->arena_cap) {
			size_t cap = m->arena_cap ? m->arena_cap * 2 : 8;
			char **arenas =
			    budget_realloc(m->budget, m->arenas, m->arena_cap * sizeof(*arenas),
			                   cap * sizeof(*arenas));
			if (arenas == NULL)
				return NULL;
			m->arenas = arenas;
			m->arena_cap = cap;
		}
		char *arena = budget_alloc(m->budget, MODEL_ARENA_BYTES);
		if (arena == NULL)
			return NULL;
		m->arenas[m->arena_count++] = arena;
		m->arena_top = arena;
		m->arena_left = MODEL_ARENA_BYTES;
	}
	char *p = m->arena_top;
	m->arena_top += size;
	m->arena_left -= size;
	return p;
}

int model_intern_int(struct model *m, int64_t value, uint32_t *id)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, value);
	assert(n > 0 && (size_t)n < sizeof(buf));
	char *bytes = model_arena_alloc(m, (size_t)n);
	if (bytes == NULL)
		return -ENOMEM;
	memcpy(bytes, buf, (size_t)n);
	return model_intern(m, bytes, (size_t)n, id);
}

bool model_int(struct model *m, uint32_t id, int64_t *value)
{
	assert(id < m->state_count);
	struct model_state *s = &m->states[id];
	if (s->int_status < 0) {
		/* A concatenation: only short ones can be integers. */
		s->int_status = 0;
		if (s->len <= 20) {
			char *bytes;
			size_t len;
			if (model_materialize(m, id, &bytes, &len) == 0) {
				int64_t v;
				if (model_parse_int(bytes, len, &v)) {
					s->int_status = 1;
					s->int_value = v;
				}
				free(bytes);
			} else {
				s->int_status = -1;
				return false;
			}
		}
	}
	if (s->int_status == 1)
		*value = s->int_value;
	return s->int_status == 1;
}

int model_prefix_table(struct model *m, uint32_t b, const uint64_t **table)
{
	assert(b < m->state_count);
	struct model_state *sb = &m->states[b];
	*table = NULL;
	if (b == MODEL_ABSENT || sb->h1 == MODEL_P || sb->parent != MODEL_NONE)
		return 0;
	if (sb->prefix_h1 == NULL) {
		uint64_t *t = budget_alloc(m->budget, (sb->len + 1) * sizeof(uint64_t));
		if (t == NULL)
			return -ENOMEM;
		t[0] = 0;
		for (uint64_t i = 0; i < sb->len; i++)
			t[i + 1] = model_addmod(model_mulmod(t[i], MODEL_B1),
			                        (uint64_t)(unsigned char)sb->bytes[i] + 1);
		sb->prefix_h1 = t;
	}
	*table = sb->prefix_h1;
	return 0;
}

/* Whether bytes of length len and hash h1 could be a prefix of literal state b; see
 * model_may_grow_into. */
static int model_may_prefix(struct model *m, uint64_t h1, uint64_t len, uint32_t b, bool *maybe)
{
	*maybe = true;
	if (len > m->states[b].len && m->states[b].parent == MODEL_NONE &&
	    m->states[b].h1 != MODEL_P) {
		*maybe = false;
		return 0;
	}
	const uint64_t *t;
	int rc = model_prefix_table(m, b, &t);
	if (rc == 0 && t != NULL)
		*maybe = t[len] == h1;
	return rc;
}

int model_may_grow_into(struct model *m, uint32_t a, uint32_t b, bool *maybe)
{
	assert(a < m->state_count && b < m->state_count);
	*maybe = true;
	if (a == b || a == MODEL_ABSENT)
		return 0;
	if (b == MODEL_ABSENT) {
		*maybe = false;
		return 0;
	}
	const struct model_state *sa = &m->states[a];
	if (sa->h1 == MODEL_P)
		return 0;
	return model_may_prefix(m, sa->h1, sa->len, b, maybe);
}

int model_may_extend(struct model *m, uint64_t h1, uint64_t len, uint32_t piece, uint32_t b,
                     uint64_t *next_h1, bool *maybe)
{
	assert(piece < m->state_count && piece != MODEL_ABSENT && b < m->state_count);
	const struct model_state *sp = &m->states[piece];
	*next_h1 = model_addmod(model_mulmod(h1, sp->p1), sp->h1);
	*maybe = true;
	if (b == MODEL_ABSENT) {
		*maybe = false;
		return 0;
	}
	if (h1 == MODEL_P || sp->h1 == MODEL_P)
		return 0;
	return model_may_prefix(m, *next_h1, len + sp->len, b, maybe);
}

int model_materialize(const struct model *m, uint32_t id, char **bytes, size_t *len)
{
	assert(id < m->state_count);
	const struct model_state *s = &m->states[id];
	char *out = malloc(s->len + 1);
	if (out == NULL)
		return -ENOMEM;
	size_t end = s->len;
	uint32_t at = id;
	while (at != MODEL_ABSENT) {
		const struct model_state *cur = &m->states[at];
		if (cur->parent == MODEL_NONE) {
			assert(end == cur->len);
			if (cur->len > 0)
				memcpy(out, cur->bytes, cur->len);
			end = 0;
			break;
		}
		const struct model_state *piece = &m->states[cur->piece];
		assert(piece->parent == MODEL_NONE && end >= piece->len);
		end -= piece->len;
		if (piece->len > 0)
			memcpy(out + end, piece->bytes, piece->len);
		at = cur->parent;
	}
	assert(end == 0);
	out[s->len] = '\0';
	*bytes = out;
	*len = s->len;
	return 0;
}
