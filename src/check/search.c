/* search.c: the Wing-Gong/Lowe linearizability search over the operations of a single key. */
#include "check/search.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check/model.h"

/*
 * The search follows Wing & Gong with Lowe's memoization, in the shape Porcupine gives it:
 * the calls and returns of the operations that must be placed ("known" operations) sit in a
 * doubly linked list ordered by time; the calls before the first return are the candidates
 * to linearize next; linearizing one lifts its two entries out of the list, and backtracking
 * puts them back. A configuration (set of linearized operations, value of the key) is
 * visited at most once; the set is kept as a bitset and remembered in the cache as a 128-bit
 * Zobrist fingerprint.
 *
 * Operations with an unknown outcome have no return and need never be placed. They are
 * grouped in classes of identical effect (same kind and arguments): members of a class are
 * interchangeable, so only the earliest pending member of each class is tried. Three
 * dominance rules keep them from multiplying the search (docs/checker.md proves them):
 *   - an unknown operation that would not change the value is never placed;
 *   - right after an unknown operation, no blind write (put, unobserved delete) is placed:
 *     skipping the unknown one reaches the same configuration with more options left;
 *   - a blind unknown write is placed only if some candidate could observe the value it
 *     writes (the candidates' needed values), unless some candidate accepts many values.
 */

enum { SEARCH_NIL = UINT32_MAX };

enum search_phase {
	PHASE_KNOWN = 0, /* known candidates, walking the entry list */
	PHASE_NONBLIND,  /* unknown appends, cas, incr */
	PHASE_BLIND,     /* unknown puts and deletes */
	PHASE_DONE,
};

struct search_op {
	size_t global;
	int64_t call_time;
	int64_t return_time; /* INT64_MAX for unknown */
	uint64_t z1, z2;
	uint32_t value, expect, result; /* model states; result MODEL_NONE if unobserved */
	int64_t delta;
	int64_t result_int;
	uint32_t call_entry, return_entry; /* known only */
	uint32_t cls;                      /* unknown only */
	uint8_t kind;
	uint8_t ok;
	uint8_t existed;
	bool known;
	bool blind;
	bool result_present;
};

struct search_class {
	uint32_t first;  /* index into members[] */
	uint32_t count;
	uint32_t next;   /* members used so far (always a prefix) */
	bool blind;
	bool ordered;      /* an incr by a delta >= 0: commutes with the others like it */
	uint8_t kind;
	uint32_t produces; /* blind: the state it writes */
	uint32_t expect;   /* cas: the state it expects */
};

struct search_memo_entry {
	uint64_t a, b;
	uint32_t state;
	uint32_t tag_plus_one; /* 0: empty slot; else 1 + the node's restriction (search_tag) */
};

struct search_iter {
	uint32_t phase;
	uint32_t pos;
};

struct search_frame {
	uint32_t op;
	uint32_t prev_state;
	uint32_t prev_last_unknown;
	struct search_iter iter; /* where the parent's enumeration resumes */
};

struct search {
	const struct check_op *ops;
	struct budget *budget;
	struct model model;
	int error; /* set when the model or the memo could not allocate */

	struct search_op *sop;
	size_t sop_cap;
	uint32_t n;
	uint32_t known_count;

	/* Entry list: 2 entries per known op, sentinel at index entry_count. */
	uint32_t entry_count;
	uint32_t *entry_next, *entry_prev, *entry_op;
	uint8_t *entry_is_return;
	int64_t *entry_time;

	struct search_class *classes;
	uint32_t class_count;
	uint32_t *members;
	uint32_t *blind_classes, *nonblind_classes;
	uint32_t blind_count, nonblind_count;
	uint32_t *class_by_state; /* blind put class writing a state; indexed by state id */
	uint32_t class_by_state_len;
	uint32_t delete_class;
	uint32_t *cas_classes;
	uint32_t cas_count;
	uint32_t *cas_start;    /* cas_by_expect[cas_start[x] .. cas_start[x + 1]) expect state x */
	uint32_t *cas_by_expect;
	uint32_t *chain_classes;
	uint32_t chain_count;
	/* Unknown members not yet linearized, by what they accept next. */
	uint32_t pending_append, pending_incr;
	uint32_t *cas_expect_pending; /* indexed by state id, like class_by_state */

	struct search_memo_entry *memo;
	size_t memo_cap, memo_count;

	uint64_t *linearized; /* bitset over local ops */
	struct search_frame *stack;
	uint32_t depth;

	/* The node being expanded. */
	uint32_t opaque; /* the state of every unobserved value, or MODEL_NONE */
	bool restricted; /* first pass: try fewer unknown writes (incomplete, see search_key) */
	uint32_t state;
	uint32_t last_unknown; /* class of the op just placed if it was unknown, else SEARCH_NIL */
	uint64_t fp1, fp2;
	uint32_t known_left;
	int64_t r_min;
	bool wildcard;
	uint32_t *needed;
	uint32_t needed_count;

	/* Scratch space of search_prepare (freed there, or by search_release on failure). */
	int64_t (*sorted)[3];
	uint32_t *order, *heads;
	size_t heads_cap;

	/* The deepest configuration reached. */
	uint32_t *best;
	uint32_t best_depth, agree;
	uint32_t best_state;
};

static uint64_t search_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool search_bytes_equal(const struct check_str *a, const struct check_str *b)
{
	if (a->present != b->present)
		return false;
	if (!a->present)
		return true;
	return a->len == b->len && (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
}

bool search_op_dropped(const struct check_op *op)
{
	if (op->ok == CHECK_OK_FALSE && op->kind != CHECK_KIND_CAS)
		return true; /* no effect, observed nothing */
	if (op->kind == CHECK_KIND_GET && op->ok == CHECK_OK_UNKNOWN)
		return true; /* a read that returned nothing */
	if (op->ok != CHECK_OK_UNKNOWN)
		return false;
	/* An unknown cas that would write the value it expects cannot change anything. (An
	 * empty append or an incr by 0 can: they create an absent key.) */
	return op->kind == CHECK_KIND_CAS && search_bytes_equal(&op->expect, &op->value);
}

/* ---- allocation helpers ---- */

#define SEARCH_ALLOC(s, ptr, count)                                                               \
	do {                                                                                      \
		(ptr) = budget_calloc((s)->budget, (count) > 0 ? (count) : 1, sizeof(*(ptr)));    \
		if ((ptr) == NULL)                                                                \
			return -ENOMEM;                                                           \
	} while (0)

#define SEARCH_FREE(s, ptr, count)                                                                \
	budget_free((s)->budget, (ptr), ((count) > 0 ? (count) : 1) * sizeof(*(ptr)))

/* ---- the memo ---- */

static size_t search_memo_slot(uint64_t a, uint32_t state, size_t cap)
{
	uint64_t x = a ^ ((uint64_t)state * 0x9e3779b97f4a7c15ull);
	x ^= x >> 32;
	return (size_t)x & (cap - 1);
}

static int search_memo_grow(struct search *s)
{
	size_t cap = s->memo_cap * 2;
	struct search_memo_entry *memo = budget_calloc(s->budget, cap, sizeof(*memo));
	if (memo == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->memo_cap; i++) {
		const struct search_memo_entry *e = &s->memo[i];
		if (e->tag_plus_one == 0)
			continue;
		size_t at = search_memo_slot(e->a, e->state, cap);
		while (memo[at].tag_plus_one != 0)
			at = (at + 1) & (cap - 1);
		memo[at] = *e;
	}
	budget_free(s->budget, s->memo, s->memo_cap * sizeof(*s->memo));
	s->memo = memo;
	s->memo_cap = cap;
	return 0;
}

/* Looks a configuration up; adds it if absent and insert is set. True if it was there. */
static bool search_memo_find(struct search *s, uint64_t a, uint64_t b, uint32_t state, uint32_t tag,
			     bool insert)
{
	size_t at = search_memo_slot(a, state, s->memo_cap);
	for (;;) {
		struct search_memo_entry *e = &s->memo[at];
		if (e->tag_plus_one == 0)
			break;
		if (e->a == a && e->b == b && e->state == state && e->tag_plus_one == tag + 1)
			return true;
		at = (at + 1) & (s->memo_cap - 1);
	}
	if (!insert)
		return false;
	struct search_memo_entry *e = &s->memo[at];
	e->a = a;
	e->b = b;
	e->state = state;
	e->tag_plus_one = tag + 1;
	s->memo_count++;
	if (s->memo_count * 4 > s->memo_cap * 3 && search_memo_grow(s) != 0)
		s->error = -ENOMEM;
	return false;
}

/*
 * Lowe's cache. A node's tag says how its children are restricted: 0 after a known op (no
 * restriction), 1 after an unknown one (no blind write next), 2 + c after an unknown ordered
 * incr of class c (also no ordered incr of a class below c next). A node explores a subset of
 * what the same configuration explores with tag 0, so a visit with tag 0 covers every tag.
 */
static bool search_memo_visit(struct search *s, uint64_t a, uint64_t b, uint32_t state, uint32_t tag)
{
	if (tag != 0 && search_memo_find(s, a, b, state, 0, false))
		return true;
	return search_memo_find(s, a, b, state, tag, true);
}

static uint32_t search_tag(const struct search *s, uint32_t last_unknown)
{
	if (last_unknown == SEARCH_NIL)
		return 0;
	return s->classes[last_unknown].ordered ? 2 + last_unknown : 1;
}

/* ---- the model step ---- */

/* The state after op from state, or MODEL_NONE if op cannot happen there. */
static uint32_t search_step(struct search *s, const struct search_op *op, uint32_t state)
{
	uint32_t next = MODEL_NONE;
	int rc = 0;
	switch (op->kind) {
	case CHECK_KIND_GET:
		return state == op->result ? state : MODEL_NONE;
	case CHECK_KIND_PUT:
		return op->value;
	case CHECK_KIND_DELETE:
		if (op->existed == CHECK_EXISTED_YES && state == MODEL_ABSENT)
			return MODEL_NONE;
		if (op->existed == CHECK_EXISTED_NO && state != MODEL_ABSENT)
			return MODEL_NONE;
		return MODEL_ABSENT;
	case CHECK_KIND_APPEND:
		rc = model_concat(&s->model, state, op->value, &next);
		break;
	case CHECK_KIND_CAS:
		if (op->ok == CHECK_OK_FALSE)
			return state != op->expect ? state : MODEL_NONE;
		if (state != op->expect)
			return op->ok == CHECK_OK_UNKNOWN ? state : MODEL_NONE;
		return op->value;
	case CHECK_KIND_INCR: {
		int64_t cur;
		if (!model_int(&s->model, state, &cur))
			return MODEL_NONE;
		if ((op->delta > 0 && cur > INT64_MAX - op->delta) ||
		    (op->delta < 0 && cur < INT64_MIN - op->delta))
			return MODEL_NONE; /* the store refuses to overflow */
		int64_t sum = cur + op->delta;
		if (op->result_present && op->result_int != sum)
			return MODEL_NONE;
		rc = model_intern_int(&s->model, sum, &next);
		break;
	}
	default:
		assert(0 && "unknown kind");
		return MODEL_NONE;
	}
	if (rc != 0) {
		s->error = rc;
		return MODEL_NONE;
	}
	return next;
}

/* ---- preparation ---- */

static int search_entry_compare(const void *pa, const void *pb)
{
	const int64_t *a = pa, *b = pb; /* {time, is_return, op} */
	for (int i = 0; i < 3; i++) {
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	}
	return 0;
}

static bool search_class_same(const struct search_op *a, const struct search_op *b)
{
	return a->kind == b->kind && a->value == b->value && a->expect == b->expect &&
	       a->delta == b->delta;
}

static int search_prepare(struct search *s, const size_t *index, size_t count)
{
	s->sop_cap = count;
	SEARCH_ALLOC(s, s->sop, count);
	/*
	 * Values no operation observes (no get returns them, no cas expects them) are
	 * indistinguishable from each other by every operation, so they share one opaque state:
	 * unknown writes of such values then fall into one class. Appends and incrs can turn a
	 * value into an observed one, so with appends nothing is merged, and with incrs no
	 * integer is.
	 */
	bool has_append = false, has_incr = false;
	for (size_t i = 0; i < count; i++) {
		const struct check_op *op = &s->ops[index[i]];
		if (search_op_dropped(op))
			continue;
		uint32_t ignored;
		int rc = 0;
		has_append |= op->kind == CHECK_KIND_APPEND;
		has_incr |= op->kind == CHECK_KIND_INCR;
		if (op->kind == CHECK_KIND_GET && op->result.present)
			rc = model_intern(&s->model, op->result.bytes, op->result.len, &ignored);
		if (op->kind == CHECK_KIND_CAS && op->expect.present)
			rc = model_intern(&s->model, op->expect.bytes, op->expect.len, &ignored);
		if (rc != 0)
			return rc;
	}
	uint32_t observed_limit = (uint32_t)s->model.state_count;
	s->opaque = MODEL_NONE;
	uint64_t seed = 0x436f6e636f726421ull; /* fixed: runs are reproducible */
	uint32_t n = 0;
	for (size_t i = 0; i < count; i++) {
		const struct check_op *op = &s->ops[index[i]];
		assert(i == 0 || s->ops[index[i - 1]].call_time <= op->call_time);
		if (search_op_dropped(op))
			continue;
		struct search_op *o = &s->sop[n];
		o->global = index[i];
		o->kind = (uint8_t)op->kind;
		o->ok = (uint8_t)op->ok;
		o->existed = (uint8_t)op->existed;
		o->known = op->ok != CHECK_OK_UNKNOWN;
		o->call_time = op->call_time;
		o->return_time = o->known ? op->return_time : INT64_MAX;
		o->z1 = search_splitmix(&seed);
		o->z2 = search_splitmix(&seed);
		o->value = o->expect = o->result = MODEL_NONE;
		o->cls = SEARCH_NIL;
		o->delta = 1;
		int rc = 0;
		if (op->value.present && op->kind != CHECK_KIND_INCR)
			rc = model_intern(&s->model, op->value.bytes, op->value.len, &o->value);
		int64_t as_int;
		if (rc == 0 && o->value != MODEL_NONE && o->value >= observed_limit && !has_append &&
		    !(has_incr && model_parse_int(op->value.bytes, op->value.len, &as_int))) {
			if (s->opaque == MODEL_NONE)
				rc = model_add_opaque(&s->model, &s->opaque);
			o->value = s->opaque;
		}
		if (rc == 0 && op->kind == CHECK_KIND_CAS) {
			o->expect = MODEL_ABSENT;
			if (op->expect.present)
				rc = model_intern(&s->model, op->expect.bytes, op->expect.len,
						  &o->expect);
		}
		if (rc == 0 && op->kind == CHECK_KIND_GET) {
			o->result = MODEL_ABSENT;
			if (op->result.present)
				rc = model_intern(&s->model, op->result.bytes, op->result.len,
						  &o->result);
		}
		if (rc != 0)
			return rc;
		if (op->kind == CHECK_KIND_INCR) {
			if (op->value.present) {
				bool ok = model_parse_int(op->value.bytes, op->value.len, &o->delta);
				assert(ok);
				(void)ok;
			}
			if (op->result.present) {
				bool ok = model_parse_int(op->result.bytes, op->result.len,
							  &o->result_int);
				assert(ok);
				(void)ok;
				o->result_present = true;
			}
		}
		o->blind = op->kind == CHECK_KIND_PUT ||
			   (op->kind == CHECK_KIND_DELETE && op->existed == CHECK_EXISTED_UNOBSERVED);
		n++;
	}
	s->n = n;

	/* The entry list of the known operations. */
	uint32_t known = 0;
	for (uint32_t i = 0; i < n; i++)
		known += s->sop[i].known;
	s->known_count = known;
	s->entry_count = 2 * known;
	uint32_t e = s->entry_count;
	SEARCH_ALLOC(s, s->sorted, e);
	int64_t(*sorted)[3] = s->sorted;
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!s->sop[i].known)
			continue;
		sorted[k][0] = s->sop[i].call_time;
		sorted[k][1] = 0;
		sorted[k][2] = i;
		k++;
		sorted[k][0] = s->sop[i].return_time;
		sorted[k][1] = 1; /* at equal times calls come first: intervals are closed */
		sorted[k][2] = i;
		k++;
	}
	assert(k == e);
	qsort(sorted, e, sizeof(*sorted), search_entry_compare);
	int rc = 0;
	s->entry_next = budget_calloc(s->budget, e + 1, sizeof(uint32_t));
	s->entry_prev = budget_calloc(s->budget, e + 1, sizeof(uint32_t));
	s->entry_op = budget_calloc(s->budget, e + 1, sizeof(uint32_t));
	s->entry_time = budget_calloc(s->budget, e + 1, sizeof(int64_t));
	s->entry_is_return = budget_calloc(s->budget, e + 1, sizeof(uint8_t));
	if (s->entry_next == NULL || s->entry_prev == NULL || s->entry_op == NULL ||
	    s->entry_time == NULL || s->entry_is_return == NULL)
		rc = -ENOMEM;
	for (uint32_t i = 0; rc == 0 && i < e; i++) {
		uint32_t op = (uint32_t)sorted[i][2];
		s->entry_op[i] = op;
		s->entry_time[i] = sorted[i][0];
		s->entry_is_return[i] = (uint8_t)sorted[i][1];
		if (sorted[i][1] == 0)
			s->sop[op].call_entry = i;
		else
			s->sop[op].return_entry = i;
		s->entry_next[i] = i + 1;
		s->entry_prev[i] = i == 0 ? e : i - 1;
	}
	if (rc == 0) {
		s->entry_next[e] = e == 0 ? e : 0;
		s->entry_prev[e] = e == 0 ? e : e - 1;
		s->entry_op[e] = SEARCH_NIL;
	}
	SEARCH_FREE(s, s->sorted, e);
	s->sorted = NULL;
	if (rc != 0)
		return rc;

	/* Classes of unknown operations with identical effect; members in call order. */
	uint32_t unknown = n - known;
	SEARCH_ALLOC(s, s->classes, unknown);
	SEARCH_ALLOC(s, s->members, unknown);
	SEARCH_ALLOC(s, s->blind_classes, unknown);
	SEARCH_ALLOC(s, s->nonblind_classes, unknown);
	SEARCH_ALLOC(s, s->order, unknown);
	uint32_t *order = s->order; /* unknown ops in call order */
	uint32_t u = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!s->sop[i].known)
			order[u++] = i;
	}
	/* Group by signature with a hash table over the ops (insertion keeps call order). */
	size_t hcap = 16;
	while (hcap < (size_t)unknown * 2)
		hcap *= 2;
	s->heads_cap = hcap;
	SEARCH_ALLOC(s, s->heads, hcap);
	uint32_t *heads = s->heads;
	for (size_t i = 0; i < hcap; i++)
		heads[i] = SEARCH_NIL;
	uint32_t classes = 0;
	for (uint32_t j = 0; j < unknown; j++) {
		struct search_op *o = &s->sop[order[j]];
		uint64_t x = (uint64_t)o->kind * 0x9e3779b97f4a7c15ull ^
			     (uint64_t)o->value * 0xc2b2ae3d27d4eb4full ^
			     (uint64_t)o->expect * 0x165667b19e3779f9ull ^ (uint64_t)o->delta;
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 32;
		size_t at = (size_t)x & (hcap - 1);
		for (;;) {
			if (heads[at] == SEARCH_NIL) {
				heads[at] = classes;
				s->classes[classes].count = 0;
				s->classes[classes].first = order[j]; /* temporarily: a member */
				classes++;
				break;
			}
			if (search_class_same(&s->sop[s->classes[heads[at]].first], o))
				break;
			at = (at + 1) & (hcap - 1);
		}
		o->cls = heads[at];
		s->classes[o->cls].count++;
	}
	/* Lay members out class by class, in call order. */
	uint32_t offset = 0;
	for (uint32_t c = 0; c < classes; c++) {
		struct search_class *cl = &s->classes[c];
		const struct search_op *rep = &s->sop[cl->first];
		cl->blind = rep->blind;
		cl->kind = rep->kind;
		cl->ordered = rep->kind == CHECK_KIND_INCR && rep->delta >= 0;
		cl->produces = rep->kind == CHECK_KIND_PUT ? rep->value : MODEL_ABSENT;
		cl->expect = rep->kind == CHECK_KIND_CAS ? rep->expect : MODEL_NONE;
		cl->first = offset;
		offset += cl->count;
		cl->next = 0;
	}
	assert(offset == unknown);
	for (uint32_t c = 0; c < classes; c++)
		s->classes[c].count = 0;
	for (uint32_t j = 0; j < unknown; j++) {
		uint32_t op = order[j];
		struct search_class *cl = &s->classes[s->sop[op].cls];
		s->members[cl->first + cl->count++] = op;
	}
	s->class_count = classes;
	s->delete_class = SEARCH_NIL;
	s->class_by_state_len = (uint32_t)s->model.state_count;
	SEARCH_ALLOC(s, s->class_by_state, s->class_by_state_len);
	SEARCH_ALLOC(s, s->cas_expect_pending, s->class_by_state_len);
	SEARCH_ALLOC(s, s->cas_classes, unknown);
	for (uint32_t i = 0; i < s->class_by_state_len; i++)
		s->class_by_state[i] = SEARCH_NIL;
	for (uint32_t c = 0; c < classes; c++) {
		struct search_class *cl = &s->classes[c];
		if (cl->blind) {
			s->blind_classes[s->blind_count++] = c;
			if (cl->produces == MODEL_ABSENT)
				s->delete_class = c;
			else
				s->class_by_state[cl->produces] = c;
		} else if (cl->kind == CHECK_KIND_CAS) {
			assert(cl->expect < s->class_by_state_len);
			s->cas_classes[s->cas_count++] = c;
			s->cas_expect_pending[cl->expect] += cl->count;
		} else {
			assert(cl->kind == CHECK_KIND_APPEND || cl->kind == CHECK_KIND_INCR);
			s->nonblind_classes[s->nonblind_count++] = c;
			if (cl->kind == CHECK_KIND_APPEND)
				s->pending_append += cl->count;
			else
				s->pending_incr += cl->count;
		}
	}
	/* Blind classes writing a value some unknown cas expects: they may start a chain. */
	SEARCH_ALLOC(s, s->chain_classes, s->blind_count);
	for (uint32_t i = 0; i < s->blind_count; i++) {
		uint32_t c = s->blind_classes[i];
		if (s->cas_expect_pending[s->classes[c].produces] > 0)
			s->chain_classes[s->chain_count++] = c;
	}
	/* Unknown cas classes bucketed by the state they expect: only that bucket can apply. */
	SEARCH_ALLOC(s, s->cas_start, s->class_by_state_len + 1);
	SEARCH_ALLOC(s, s->cas_by_expect, s->cas_count);
	for (uint32_t i = 0; i < s->cas_count; i++)
		s->cas_start[s->classes[s->cas_classes[i]].expect + 1]++;
	for (uint32_t i = 0; i < s->class_by_state_len; i++)
		s->cas_start[i + 1] += s->cas_start[i];
	for (uint32_t i = 0; i < s->cas_count; i++) {
		uint32_t c = s->cas_classes[i];
		uint32_t at = s->cas_start[s->classes[c].expect]++;
		s->cas_by_expect[at] = c;
	}
	for (uint32_t i = s->class_by_state_len; i > 0; i--)
		s->cas_start[i] = s->cas_start[i - 1];
	s->cas_start[0] = 0;
	SEARCH_FREE(s, s->heads, hcap);
	SEARCH_FREE(s, s->order, unknown);
	s->heads = s->order = NULL;

	SEARCH_ALLOC(s, s->linearized, (n + 63) / 64);
	SEARCH_ALLOC(s, s->stack, n);
	SEARCH_ALLOC(s, s->best, n);
	SEARCH_ALLOC(s, s->needed, n);
	s->memo_cap = 1024;
	SEARCH_ALLOC(s, s->memo, s->memo_cap);
	return 0;
}

static void search_release(struct search *s)
{
	uint32_t n = s->n;
	uint32_t e = s->entry_count;
	uint32_t unknown = n - s->known_count;
	SEARCH_FREE(s, s->sop, s->sop_cap);
	if (s->entry_next != NULL) {
		budget_free(s->budget, s->entry_next, (e + 1) * sizeof(uint32_t));
		budget_free(s->budget, s->entry_prev, (e + 1) * sizeof(uint32_t));
		budget_free(s->budget, s->entry_op, (e + 1) * sizeof(uint32_t));
		budget_free(s->budget, s->entry_time, (e + 1) * sizeof(int64_t));
		budget_free(s->budget, s->entry_is_return, (e + 1) * sizeof(uint8_t));
	}
	SEARCH_FREE(s, s->classes, unknown);
	SEARCH_FREE(s, s->members, unknown);
	SEARCH_FREE(s, s->blind_classes, unknown);
	SEARCH_FREE(s, s->nonblind_classes, unknown);
	SEARCH_FREE(s, s->class_by_state, s->class_by_state_len);
	SEARCH_FREE(s, s->cas_expect_pending, s->class_by_state_len);
	SEARCH_FREE(s, s->cas_classes, unknown);
	SEARCH_FREE(s, s->cas_start, s->class_by_state_len + 1);
	SEARCH_FREE(s, s->cas_by_expect, s->cas_count);
	SEARCH_FREE(s, s->chain_classes, s->blind_count);
	SEARCH_FREE(s, s->linearized, (n + 63) / 64);
	SEARCH_FREE(s, s->stack, n);
	SEARCH_FREE(s, s->best, n);
	SEARCH_FREE(s, s->needed, n);
	SEARCH_FREE(s, s->memo, s->memo_cap);
	SEARCH_FREE(s, s->sorted, e);
	SEARCH_FREE(s, s->order, unknown);
	SEARCH_FREE(s, s->heads, s->heads_cap);
	model_free(&s->model);
}

/* ---- the search proper ---- */

static void search_lift(struct search *s, uint32_t op)
{
	const struct search_op *o = &s->sop[op];
	uint32_t es[2] = {o->call_entry, o->return_entry};
	for (int i = 0; i < 2; i++) {
		uint32_t x = es[i];
		s->entry_next[s->entry_prev[x]] = s->entry_next[x];
		s->entry_prev[s->entry_next[x]] = s->entry_prev[x];
	}
}

static void search_unlift(struct search *s, uint32_t op)
{
	const struct search_op *o = &s->sop[op];
	uint32_t es[2] = {o->return_entry, o->call_entry};
	for (int i = 0; i < 2; i++) {
		uint32_t x = es[i];
		s->entry_next[s->entry_prev[x]] = x;
		s->entry_prev[s->entry_next[x]] = x;
	}
}

static bool search_op_linearized(const struct search *s, uint32_t op)
{
	return (s->linearized[op / 64] >> (op % 64)) & 1;
}

/* Computes r_min and, for unknown blind writes, the values the candidates need. */
static void search_scan_node(struct search *s)
{
	uint32_t head = s->entry_count;
	s->wildcard = s->pending_append > 0 || s->pending_incr > 0;
	s->needed_count = 0;
	s->r_min = INT64_MAX;
	for (uint32_t e = s->entry_next[head]; e != head; e = s->entry_next[e]) {
		if (s->entry_is_return[e]) {
			s->r_min = s->entry_time[e];
			break;
		}
		const struct search_op *o = &s->sop[s->entry_op[e]];
		uint32_t need = MODEL_NONE;
		switch (o->kind) {
		case CHECK_KIND_GET:
			need = o->result;
			break;
		case CHECK_KIND_CAS:
			if (o->ok == CHECK_OK_FALSE)
				s->wildcard = true;
			else
				need = o->expect;
			break;
		case CHECK_KIND_DELETE:
			if (o->existed == CHECK_EXISTED_YES)
				s->wildcard = true;
			else if (o->existed == CHECK_EXISTED_NO)
				need = MODEL_ABSENT;
			break;
		case CHECK_KIND_APPEND:
		case CHECK_KIND_INCR:
			s->wildcard = true;
			break;
		default:
			break;
		}
		if (need != MODEL_NONE) {
			bool dup = false;
			for (uint32_t i = 0; i < s->needed_count && !dup; i++)
				dup = s->needed[i] == need;
			if (!dup)
				s->needed[s->needed_count++] = need;
		}
	}
}

/*
 * Whether some operation could directly follow an unknown one that leaves the key holding
 * state: a known candidate or a pending unknown operation that accepts it and is not a blind
 * write. If none can, placing the unknown operation is useless: whatever follows would be a
 * blind write, or nothing. Over-approximates (ignores call times), which keeps it sound.
 */
static bool search_state_observable(struct search *s, uint32_t state, bool exact)
{
	int64_t v;
	if (!exact && s->pending_append > 0)
		return true;
	if (!exact && s->pending_incr > 0 && model_int(&s->model, state, &v))
		return true;
	if (state < s->class_by_state_len && s->cas_expect_pending[state] > 0)
		return true;
	uint32_t head = s->entry_count;
	for (uint32_t e = s->entry_next[head]; e != head && !s->entry_is_return[e];
	     e = s->entry_next[e]) {
		const struct search_op *o = &s->sop[s->entry_op[e]];
		switch (o->kind) {
		case CHECK_KIND_GET:
			if (o->result == state)
				return true;
			break;
		case CHECK_KIND_CAS:
			if (o->ok == CHECK_OK_FALSE ? !exact && o->expect != state
						    : o->expect == state)
				return true;
			break;
		case CHECK_KIND_DELETE:
			if ((!exact && o->existed == CHECK_EXISTED_YES && state != MODEL_ABSENT) ||
			    (o->existed == CHECK_EXISTED_NO && state == MODEL_ABSENT))
				return true;
			break;
		case CHECK_KIND_APPEND:
			if (!exact)
				return true;
			break;
		case CHECK_KIND_INCR:
			if (model_int(&s->model, state, &v)) {
				int64_t sum;
				if (!o->result_present ? !exact
						       : !__builtin_add_overflow(v, o->delta, &sum) &&
								 sum == o->result_int)
					return true;
			}
			break;
		default:
			break;
		}
	}
	return false;
}

static void search_pending_update(struct search *s, const struct search_class *cl, int delta)
{
	if (cl->kind == CHECK_KIND_APPEND)
		s->pending_append = (uint32_t)((int64_t)s->pending_append + delta);
	else if (cl->kind == CHECK_KIND_INCR)
		s->pending_incr = (uint32_t)((int64_t)s->pending_incr + delta);
	else if (cl->kind == CHECK_KIND_CAS)
		s->cas_expect_pending[cl->expect] =
			(uint32_t)((int64_t)s->cas_expect_pending[cl->expect] + delta);
}

/* The class of unknown ops whose earliest pending member may be placed now, or SEARCH_NIL. */
static uint32_t search_class_candidate(const struct search *s, uint32_t c)
{
	if (c == SEARCH_NIL)
		return SEARCH_NIL;
	const struct search_class *cl = &s->classes[c];
	if (cl->next == cl->count)
		return SEARCH_NIL;
	uint32_t op = s->members[cl->first + cl->next];
	if (s->sop[op].call_time > s->r_min)
		return SEARCH_NIL;
	return op;
}

/* In the restricted pass: whether an unknown cas writing state is worth trying here. */
static bool search_needed(const struct search *s, uint32_t state)
{
	for (uint32_t i = 0; i < s->needed_count; i++) {
		if (s->needed[i] == state)
			return true;
	}
	return state < s->class_by_state_len && s->cas_expect_pending[state] > 0;
}

/* Advances the iterator to the next candidate op; SEARCH_NIL when the node is exhausted. */
static uint32_t search_next_candidate(struct search *s, struct search_iter *it)
{
	uint32_t head = s->entry_count;
	bool after_unknown = s->last_unknown != SEARCH_NIL;
	for (;;) {
		switch (it->phase) {
		case PHASE_KNOWN: {
			uint32_t e = it->pos;
			if (e == head || s->entry_is_return[e]) {
				it->phase = PHASE_NONBLIND;
				it->pos = 0;
				continue;
			}
			it->pos = s->entry_next[e];
			uint32_t op = s->entry_op[e];
			if (after_unknown && s->sop[op].blind)
				continue;
			return op;
		}
		case PHASE_NONBLIND: {
			uint32_t c;
			if (it->pos < s->nonblind_count) {
				c = s->nonblind_classes[it->pos++];
			} else {
				uint32_t bucket = it->pos - s->nonblind_count;
				uint32_t x = s->state;
				if (x >= s->class_by_state_len ||
				    s->cas_start[x] + bucket >= s->cas_start[x + 1]) {
					it->phase = PHASE_BLIND;
					it->pos = 0;
					continue;
				}
				c = s->cas_by_expect[s->cas_start[x] + bucket];
				it->pos++;
			}
			/* Consecutive unknown incrs by deltas >= 0 commute: place them in class order. */
			if (after_unknown && s->classes[c].ordered &&
			    s->classes[s->last_unknown].ordered && c < s->last_unknown)
				continue;
			uint32_t op = search_class_candidate(s, c);
			if (op != SEARCH_NIL)
				return op;
			continue;
		}
		case PHASE_BLIND: {
			if (after_unknown) {
				it->phase = PHASE_DONE;
				continue;
			}
			uint32_t c;
			if (s->wildcard && !s->restricted) {
				if (it->pos >= s->blind_count) {
					it->phase = PHASE_DONE;
					continue;
				}
				c = s->blind_classes[it->pos++];
			} else {
				/* The values known candidates need, then those unknown cas expect. */
				uint32_t need;
				if (it->pos < s->needed_count) {
					need = s->needed[it->pos++];
				} else if (it->pos < s->needed_count + s->chain_count) {
					c = s->chain_classes[it->pos++ - s->needed_count];
					if (s->cas_expect_pending[s->classes[c].produces] == 0)
						continue;
					need = s->classes[c].produces;
				} else if (s->wildcard &&
					   it->pos < s->needed_count + s->chain_count + 2) {
					/* Restricted: a wide acceptor gets an unobserved value, or none. */
					bool first = it->pos++ == s->needed_count + s->chain_count;
					need = first ? s->opaque : MODEL_ABSENT;
					if (need == MODEL_NONE)
						continue;
				} else {
					it->phase = PHASE_DONE;
					continue;
				}
				if (need == s->state)
					continue;
				if (need == MODEL_ABSENT)
					c = s->delete_class;
				else
					c = need < s->class_by_state_len ? s->class_by_state[need]
									 : SEARCH_NIL;
			}
			uint32_t op = search_class_candidate(s, c);
			if (op != SEARCH_NIL)
				return op;
			continue;
		}
		default:
			return SEARCH_NIL;
		}
	}
}

/* A pure read (a get, a failed cas) that can go next and succeeds on the current value.
 * Placing it first loses nothing: it changes no value, and nothing that must precede it is
 * pending, so any linearization from here stays one with the read moved to the front. The
 * node then has this single child. */
static uint32_t search_forced_read(struct search *s)
{
	uint32_t head = s->entry_count;
	for (uint32_t e = s->entry_next[head]; e != head && !s->entry_is_return[e];
	     e = s->entry_next[e]) {
		const struct search_op *o = &s->sop[s->entry_op[e]];
		bool pure = o->kind == CHECK_KIND_GET ||
			    (o->kind == CHECK_KIND_CAS && o->ok == CHECK_OK_FALSE);
		if (!pure)
			continue;
		bool ok = o->kind == CHECK_KIND_GET ? o->result == s->state : o->expect != s->state;
		if (ok)
			return s->entry_op[e];
	}
	return SEARCH_NIL;
}

static void search_record_best(struct search *s)
{
	if (s->depth <= s->best_depth)
		return;
	for (uint32_t i = s->agree; i < s->depth; i++)
		s->best[i] = s->stack[i].op;
	s->agree = s->depth;
	s->best_depth = s->depth;
	s->best_state = s->state;
}

/* Runs the search; returns the verdict. */
static enum check_verdict search_run(struct search *s)
{
	s->state = MODEL_ABSENT;
	s->last_unknown = SEARCH_NIL;
	s->known_left = s->known_count;
	s->best_state = MODEL_ABSENT;
	if (s->known_left == 0)
		return CHECK_LINEARIZABLE;
	search_scan_node(s);
	struct search_iter it = {PHASE_KNOWN, s->entry_next[s->entry_count]};
	uint32_t forced = search_forced_read(s);
	for (;;) {
		if (budget_charge_state(s->budget) != 0 || s->error != 0)
			return CHECK_UNKNOWN;
		uint32_t op;
		bool is_forced = forced != SEARCH_NIL;
		if (is_forced) {
			op = forced;
			forced = SEARCH_NIL;
			it.phase = PHASE_DONE; /* the forced read is the node's only child */
		} else {
			op = search_next_candidate(s, &it);
		}
		if (op == SEARCH_NIL) {
			if (s->depth == 0)
				return CHECK_NOT_LINEARIZABLE;
			struct search_frame *f = &s->stack[--s->depth];
			if (s->agree > s->depth)
				s->agree = s->depth;
			struct search_op *o = &s->sop[f->op];
			if (o->known) {
				search_unlift(s, f->op);
				s->known_left++;
			} else {
				struct search_class *cl = &s->classes[o->cls];
				assert(cl->next > 0 && s->members[cl->first + cl->next - 1] == f->op);
				cl->next--;
				search_pending_update(s, cl, +1);
			}
			s->linearized[f->op / 64] &= ~((uint64_t)1 << (f->op % 64));
			s->fp1 ^= o->z1;
			s->fp2 ^= o->z2;
			s->state = f->prev_state;
			s->last_unknown = f->prev_last_unknown;
			search_scan_node(s);
			it = f->iter;
			continue;
		}
		struct search_op *o = &s->sop[op];
		assert(!search_op_linearized(s, op));
		uint32_t next = search_step(s, o, s->state);
		if (s->error != 0)
			return CHECK_UNKNOWN;
		if (next == MODEL_NONE)
			continue;
		if (!o->known) {
			/* Pointless unknown ops: no change, or nothing could observe the change. */
			if (next == s->state)
				continue;
			struct search_class *cl = &s->classes[o->cls];
			if (s->restricted && cl->kind == CHECK_KIND_CAS && !search_needed(s, next))
				continue;
			search_pending_update(s, cl, -1);
			/* The restricted pass places unknown appends, cas and incrs only where a
			 * candidate observes exactly the value they make. */
			bool exact = s->restricted && !cl->blind;
			bool observable = search_state_observable(s, next, exact);
			search_pending_update(s, cl, +1);
			if (!observable)
				continue;
		}
		uint64_t fp1 = s->fp1 ^ o->z1, fp2 = s->fp2 ^ o->z2;
		uint32_t last_unknown = o->known ? SEARCH_NIL : o->cls;
		/* A forced read's child is not remembered: the cache is only an optimization, and
		 * half the nodes are such children. */
		if (!is_forced && search_memo_visit(s, fp1, fp2, next, search_tag(s, last_unknown)))
			continue;
		if (s->error != 0)
			return CHECK_UNKNOWN;
		struct search_frame *f = &s->stack[s->depth++];
		assert(s->depth <= s->n);
		f->op = op;
		f->prev_state = s->state;
		f->prev_last_unknown = s->last_unknown;
		f->iter = it;
		if (o->known) {
			search_lift(s, op);
			s->known_left--;
		} else {
			struct search_class *cl = &s->classes[o->cls];
			assert(s->members[cl->first + cl->next] == op);
			cl->next++;
			search_pending_update(s, cl, -1);
		}
		s->linearized[op / 64] |= (uint64_t)1 << (op % 64);
		s->fp1 = fp1;
		s->fp2 = fp2;
		s->state = next;
		s->last_unknown = last_unknown;
		if (s->known_left == 0)
			return CHECK_LINEARIZABLE;
		search_record_best(s);
		search_scan_node(s);
		it.phase = PHASE_KNOWN;
		it.pos = s->entry_next[s->entry_count];
		forced = search_forced_read(s);
	}
}

static int search_compare_return(const void *pa, const void *pb, const struct check_op *ops)
{
	const size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	if (ops[a].return_time != ops[b].return_time)
		return ops[a].return_time < ops[b].return_time ? -1 : 1;
	if (ops[a].call_time != ops[b].call_time)
		return ops[a].call_time < ops[b].call_time ? -1 : 1;
	return a < b ? -1 : (a > b);
}

/* Fills the explanation of a violation from the deepest configuration reached. */
static int search_explain(struct search *s, struct search_result *out)
{
	uint32_t n = s->n;
	out->prefix = malloc((s->best_depth > 0 ? s->best_depth : 1) * sizeof(size_t));
	out->stuck = malloc((n > 0 ? n : 1) * sizeof(size_t));
	bool *in_prefix = calloc(n > 0 ? n : 1, sizeof(bool));
	if (out->prefix == NULL || out->stuck == NULL || in_prefix == NULL) {
		free(in_prefix);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->best_depth; i++) {
		out->prefix[i] = s->sop[s->best[i]].global;
		in_prefix[s->best[i]] = true;
	}
	out->prefix_count = s->best_depth;
	int64_t r_min = INT64_MAX;
	for (uint32_t i = 0; i < n; i++) {
		if (s->sop[i].known && !in_prefix[i] && s->sop[i].return_time < r_min)
			r_min = s->sop[i].return_time;
	}
	size_t stuck = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (s->sop[i].known && !in_prefix[i] && s->sop[i].call_time <= r_min)
			out->stuck[stuck++] = s->sop[i].global;
	}
	free(in_prefix);
	/* Sort the stuck ops by return time (a small insertion sort: the window is small). */
	for (size_t i = 1; i < stuck; i++) {
		size_t x = out->stuck[i];
		size_t j = i;
		while (j > 0 && search_compare_return(&x, &out->stuck[j - 1], s->ops) < 0) {
			out->stuck[j] = out->stuck[j - 1];
			j--;
		}
		out->stuck[j] = x;
	}
	out->stuck_count = stuck;
	if (s->best_state == s->opaque) {
		/* An unobserved value: the last write of the prefix wrote it. */
		for (uint32_t i = s->best_depth; i-- > 0;) {
			const struct check_op *op = &s->ops[s->sop[s->best[i]].global];
			if (op->kind == CHECK_KIND_PUT || op->kind == CHECK_KIND_CAS) {
				out->state = malloc(op->value.len + 1);
				if (out->state == NULL)
					return -ENOMEM;
				if (op->value.len > 0)
					memcpy(out->state, op->value.bytes, op->value.len);
				out->state[op->value.len] = '\0';
				out->state_len = op->value.len;
				return 0;
			}
		}
		assert(0 && "an opaque state without a write");
	}
	if (s->best_state != MODEL_ABSENT)
		return model_materialize(&s->model, s->best_state, &out->state, &out->state_len);
	return 0;
}

int search_key(const struct check_op *ops, const size_t *index, size_t count, struct budget *budget,
	       struct search_result *out)
{
	assert(ops != NULL && index != NULL && budget != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	out->verdict = CHECK_UNKNOWN;
	if (count >= SEARCH_NIL / 2) {
		budget->exhausted = BUDGET_MEMORY;
		return 0;
	}
	struct search *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		budget->exhausted = BUDGET_OOM;
		return 0;
	}
	s->ops = ops;
	s->budget = budget;
	uint64_t states_before = budget->states;
	int rc = model_init(&s->model, budget);
	if (rc == 0)
		rc = search_prepare(s, index, count);
	out->checked_count = s->n;
	if (rc == 0) {
		/*
		 * With unknown writes around, a first pass tries only those that produce a value
		 * some candidate needs (plus one unobserved value and one delete for candidates
		 * that accept many values). Finding a linearization that way proves the verdict;
		 * failing proves nothing, so the complete search runs next from scratch.
		 */
		s->restricted = s->known_count < s->n;
		out->verdict = search_run(s);
		if (s->restricted && out->verdict == CHECK_NOT_LINEARIZABLE) {
			assert(s->depth == 0 && s->fp1 == 0 && s->fp2 == 0);
			memset(s->memo, 0, s->memo_cap * sizeof(*s->memo));
			s->memo_count = 0;
			s->best_depth = s->agree = 0;
			s->restricted = false;
			out->verdict = search_run(s);
		}
		if (out->verdict == CHECK_NOT_LINEARIZABLE)
			rc = search_explain(s, out);
	} else if (budget->exhausted == BUDGET_OK) {
		budget->exhausted = BUDGET_OOM;
	}
	if (out->verdict == CHECK_UNKNOWN && budget->exhausted == BUDGET_OK)
		budget->exhausted = BUDGET_OOM; /* the only other way to stop early */
	out->states = budget->states - states_before;
	search_release(s);
	free(s);
	if (rc != 0 && out->verdict == CHECK_NOT_LINEARIZABLE) {
		free(out->prefix);
		free(out->stuck);
		free(out->state);
		out->prefix = out->stuck = NULL;
		out->state = NULL;
		return -ENOMEM;
	}
	return 0;
}
