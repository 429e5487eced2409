/* search_prepare.c: the search's preparation: local ops, entry list, classes of unknown ops. */
#include "check/search.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check/model.h"
#include "check/search_impl.h"

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

#define SEARCH_ALLOC(s, ptr, count)                                                                \
	do {                                                                                       \
		(ptr) = budget_calloc((s)->budget, (count) > 0 ? (count) : 1, sizeof(*(ptr)));     \
		if ((ptr) == NULL)                                                                 \
			return -ENOMEM;                                                            \
	} while (0)

#define SEARCH_FREE(s, ptr, count)                                                                 \
	budget_free((s)->budget, (ptr), ((count) > 0 ? (count) : 1) * sizeof(*(ptr)))

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

/*
 * Interns the values operations observe (what gets return, what cas expect) first, so that
 * they get the lowest state ids; says whether any append or incr is among the ops.
 */
static int search_intern_observed(struct search *s, const size_t *index, size_t count,
                                  bool *has_append, bool *has_incr)
{
	*has_append = *has_incr = false;
	for (size_t i = 0; i < count; i++) {
		const struct check_op *op = &s->ops[index[i]];
		if (search_op_dropped(op))
			continue;
		uint32_t ignored;
		int rc = 0;
		*has_append |= op->kind == CHECK_KIND_APPEND;
		*has_incr |= op->kind == CHECK_KIND_INCR;
		if (op->kind == CHECK_KIND_GET && op->result.present)
			rc = model_intern(&s->model, op->result.bytes, op->result.len, &ignored);
		if (op->kind == CHECK_KIND_CAS && op->expect.present)
			rc = model_intern(&s->model, op->expect.bytes, op->expect.len, &ignored);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* How the values of one history were interned (see search_prepare_ops). */
struct search_values {
	uint32_t observed_limit; /* states below it are observed */
	bool has_append, has_incr;
	uint64_t seed; /* of the Zobrist keys */
};

/* The model states of op's value, expectation and result into o. */
static int search_op_states(struct search *s, const struct check_op *op, struct search_op *o,
                            const struct search_values *v)
{
	int rc = 0;
	if (op->value.present && op->kind != CHECK_KIND_INCR)
		rc = model_intern(&s->model, op->value.bytes, op->value.len, &o->value);
	int64_t as_int;
	if (rc == 0 && o->value != MODEL_NONE && o->value >= v->observed_limit && !v->has_append &&
	    !(v->has_incr && model_parse_int(op->value.bytes, op->value.len, &as_int))) {
		if (s->opaque == MODEL_NONE)
			rc = model_add_opaque(&s->model, &s->opaque);
		o->value = s->opaque;
	}
	if (rc == 0 && op->kind == CHECK_KIND_CAS) {
		o->expect = MODEL_ABSENT;
		if (op->expect.present)
			rc = model_intern(&s->model, op->expect.bytes, op->expect.len, &o->expect);
	}
	if (rc == 0 && op->kind == CHECK_KIND_GET) {
		o->result = MODEL_ABSENT;
		if (op->result.present)
			rc = model_intern(&s->model, op->result.bytes, op->result.len, &o->result);
	}
	return rc;
}

/* The local op o for ops[global]. */
static int search_local_op(struct search *s, size_t global, struct search_op *o,
                           struct search_values *v)
{
	const struct check_op *op = &s->ops[global];
	o->global = global;
	o->kind = (uint8_t)op->kind;
	o->ok = (uint8_t)op->ok;
	o->existed = (uint8_t)op->existed;
	o->known = op->ok != CHECK_OK_UNKNOWN;
	o->call_time = op->call_time;
	o->return_time = o->known ? op->return_time : INT64_MAX;
	o->z1 = search_splitmix(&v->seed);
	o->z2 = search_splitmix(&v->seed);
	o->ubit = 0;
	o->value = o->expect = o->result = MODEL_NONE;
	o->cls = SEARCH_NIL;
	o->delta = 1;
	int rc = search_op_states(s, op, o, v);
	if (rc != 0)
		return rc;
	if (op->kind == CHECK_KIND_INCR) {
		if (op->value.present) {
			bool ok = model_parse_int(op->value.bytes, op->value.len, &o->delta);
			assert(ok);
			(void)ok;
		}
		if (op->result.present) {
			bool ok = model_parse_int(op->result.bytes, op->result.len, &o->result_int);
			assert(ok);
			(void)ok;
			o->result_present = true;
		}
	}
	o->blind = op->kind == CHECK_KIND_PUT ||
	           (op->kind == CHECK_KIND_DELETE && op->existed == CHECK_EXISTED_UNOBSERVED);
	return 0;
}

/* Work allowed to find invisible writes on one key: unknown writes times observations. */
#define SEARCH_INVISIBLE_WORK (1u << 22)

/* Whether the bytes of `w` occur in `o` (an empty `w` occurs everywhere). */
static bool search_bytes_within(const struct check_str *w, const struct check_str *o)
{
	if (w->len == 0)
		return true;
	if (!o->present || o->len < w->len)
		return false;
	return memmem(o->bytes, o->len, w->bytes, w->len) != NULL;
}

/* Whether the key's ops can tell a write from its absence only through observations
 * of its bytes: none of them needs the value to differ from something (a failed cas) or
 * the key to exist (a delete that found it), and none is an incr (which reads any
 * integer, also one appends made). See "Invisible unknown writes" in docs/checker.md. */
static void search_invisible_allowed(const struct search *s, const size_t *index, size_t count,
                                     bool *appends, bool *puts)
{
	*appends = *puts = true;
	size_t unknown = 0, observed = 0;
	for (size_t i = 0; i < count; i++) {
		const struct check_op *op = &s->ops[index[i]];
		if (search_op_dropped(op))
			continue;
		if ((op->kind == CHECK_KIND_CAS && op->ok == CHECK_OK_FALSE) ||
		    (op->kind == CHECK_KIND_DELETE && op->existed == CHECK_EXISTED_YES) ||
		    op->kind == CHECK_KIND_INCR)
			*appends = *puts = false;
		unknown += op->ok == CHECK_OK_UNKNOWN;
		observed += op->kind == CHECK_KIND_GET || op->kind == CHECK_KIND_CAS;
	}
	if ((uint64_t)unknown * observed > SEARCH_INVISIBLE_WORK)
		*appends = *puts = false; /* not worth it, and bounded */
}

/* Whether op is an unknown put or append whose bytes no observation on the key shows: a
 * linearization placing it can leave it out instead (nothing between it and the next
 * reset of the value observes the value, so nothing changes), so it never happened. */
static bool search_write_invisible(const struct search *s, const size_t *index, size_t count,
                                   const struct check_op *op, bool appends, bool puts)
{
	if (op->ok != CHECK_OK_UNKNOWN || !op->value.present)
		return false;
	if (!(op->kind == CHECK_KIND_APPEND && appends) && !(op->kind == CHECK_KIND_PUT && puts))
		return false;
	for (size_t i = 0; i < count; i++) {
		const struct check_op *o = &s->ops[index[i]];
		if (search_op_dropped(o))
			continue;
		if (o->kind == CHECK_KIND_GET && search_bytes_within(&op->value, &o->result))
			return false;
		if (o->kind == CHECK_KIND_CAS && search_bytes_within(&op->value, &o->expect))
			return false;
	}
	return true;
}

/* The local ops: those not dropped, in call order, with their values as model states. */
static int search_prepare_ops(struct search *s, const size_t *index, size_t count)
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
	struct search_values v;
	int rc = search_intern_observed(s, index, count, &v.has_append, &v.has_incr);
	if (rc != 0)
		return rc;
	s->has_append = v.has_append;
	v.observed_limit = (uint32_t)s->model.state_count;
	v.seed = 0x436f6e636f726421ull; /* fixed: runs are reproducible */
	s->opaque = MODEL_NONE;
	bool appends, puts;
	search_invisible_allowed(s, index, count, &appends, &puts);
	uint32_t n = 0;
	for (size_t i = 0; i < count; i++) {
		const struct check_op *op = &s->ops[index[i]];
		assert(i == 0 || s->ops[index[i - 1]].call_time <= op->call_time);
		if (search_op_dropped(op) ||
		    search_write_invisible(s, index, count, op, appends, puts))
			continue;
		rc = search_local_op(s, index[i], &s->sop[n], &v);
		if (rc != 0)
			return rc;
		n++;
	}
	s->n = n;
	/* With at most 64 unknown ops, which of them are placed is a mask beside the
	 * fingerprint of the known ones, so that the memo can compare masks (search_run.c,
	 * search_memo_find); with more, every op is in the fingerprint and masks stay 0. */
	uint32_t unknown = 0;
	for (uint32_t i = 0; i < n; i++)
		unknown += !s->sop[i].known;
	for (uint32_t i = 0, u = 0; i < n && unknown <= 64; i++) {
		if (s->sop[i].known)
			continue;
		s->sop[i].ubit = (uint64_t)1 << u++;
		s->sop[i].z1 = s->sop[i].z2 = 0;
	}
	return 0;
}

/* The entry list of the known operations: their calls and returns in time order. */
static int search_prepare_entries(struct search *s)
{
	uint32_t n = s->n;
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
	return rc;
}

/* Groups the unknown ops by signature with a hash table over the ops (insertion keeps call
 * order): sets each op's class, and each class's count and a member in first. */
static int search_group_unknown(struct search *s, uint32_t unknown)
{
	SEARCH_ALLOC(s, s->order, unknown);
	uint32_t *order = s->order; /* unknown ops in call order */
	uint32_t u = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		if (!s->sop[i].known)
			order[u++] = i;
	}
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
	s->class_count = classes;
	return 0;
}

/* Classes of unknown operations with identical effect; members in call order. */
static int search_prepare_classes(struct search *s)
{
	uint32_t unknown = s->n - s->known_count;
	SEARCH_ALLOC(s, s->classes, unknown);
	SEARCH_ALLOC(s, s->members, unknown);
	SEARCH_ALLOC(s, s->blind_classes, unknown);
	SEARCH_ALLOC(s, s->nonblind_classes, unknown);
	int rc = search_group_unknown(s, unknown);
	if (rc != 0)
		return rc;
	uint32_t classes = s->class_count;
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
		uint32_t op = s->order[j];
		struct search_class *cl = &s->classes[s->sop[op].cls];
		s->members[cl->first + cl->count++] = op;
	}
	return 0;
}

/* The classes sorted by kind: blind ones (and by the state they write), unknown cas (and
 * the pending count of each expected state), unknown appends and incrs. */
static int search_index_classes(struct search *s)
{
	uint32_t unknown = s->n - s->known_count;
	s->delete_class = SEARCH_NIL;
	s->class_by_state_len = (uint32_t)s->model.state_count;
	SEARCH_ALLOC(s, s->class_by_state, s->class_by_state_len);
	SEARCH_ALLOC(s, s->cas_expect_pending, s->class_by_state_len);
	SEARCH_ALLOC(s, s->cas_classes, unknown);
	for (uint32_t i = 0; i < s->class_by_state_len; i++)
		s->class_by_state[i] = SEARCH_NIL;
	for (uint32_t c = 0; c < s->class_count; c++) {
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
	return 0;
}

static int search_client_compare(const void *pa, const void *pb)
{
	const int64_t *a = pa, *b = pb;
	for (int i = 0; i < 3; i++) {
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	}
	return 0;
}

/* Each known op's client predecessors: the same client's known ops called last before it
 * (ops called at the same instant are not ordered among themselves, but all of them come
 * before the client's next call). */
static int search_prepare_clients(struct search *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		s->sop[i].client_pred_count = 0;
	uint32_t k = s->known_count;
	if (!s->client_order || k < 2) {
		s->client_order = false;
		return 0;
	}
	SEARCH_ALLOC(s, s->client_seq, k);
	int64_t(*byc)[3] = budget_calloc(s->budget, k, sizeof(*byc));
	if (byc == NULL)
		return -ENOMEM;
	uint32_t at = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		if (!s->sop[i].known)
			continue;
		byc[at][0] = s->ops[s->sop[i].global].client;
		byc[at][1] = s->sop[i].call_time;
		byc[at][2] = i;
		at++;
	}
	qsort(byc, k, sizeof(*byc), search_client_compare);
	/* The group of ops at the client's previous call time, and that of the current one. */
	uint32_t prev_start = 0, prev_count = 0, cur_start = 0;
	bool chained = false;
	for (uint32_t j = 0; j < k; j++) {
		s->client_seq[j] = (uint32_t)byc[j][2];
		if (j == 0 || byc[j][0] != byc[j - 1][0]) {
			prev_count = 0;
			cur_start = j;
		} else if (byc[j][1] != byc[j - 1][1]) {
			prev_start = cur_start;
			prev_count = j - cur_start;
			cur_start = j;
		}
		struct search_op *o = &s->sop[byc[j][2]];
		/* Real time orders ops that returned before o's call already. */
		bool overlaps = false;
		for (uint32_t p = prev_start; p < prev_start + prev_count && !overlaps; p++)
			overlaps = s->sop[s->client_seq[p]].return_time >= o->call_time;
		o->client_pred = prev_start;
		o->client_pred_count = overlaps ? prev_count : 0;
		chained |= overlaps;
	}
	budget_free(s->budget, byc, k * sizeof(*byc));
	s->client_order = chained; /* false: the order adds nothing on this key */
	return 0;
}

/* Blind classes that may start a chain, and unknown cas classes bucketed by expectation. */
static int search_index_chains(struct search *s)
{
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
	return 0;
}

static size_t search_prefix_slot(uint64_t h1, uint64_t len, size_t cap)
{
	uint64_t x = h1 ^ (len * 0x9e3779b97f4a7c15ull);
	x ^= x >> 29;
	return (size_t)x & (cap - 1);
}

bool search_prefix_find(const struct search *s, uint64_t h1, uint64_t len)
{
	assert(s->prefix_cap > 0);
	for (size_t at = search_prefix_slot(h1, len, s->prefix_cap);;
	     at = (at + 1) & (s->prefix_cap - 1)) {
		const struct search_prefix *p = &s->prefixes[at];
		if (p->len_plus_one == 0)
			return false;
		if (p->h1 == h1 && p->len_plus_one == len + 1)
			return true;
	}
}

/* The set of prefixes of observed values (search_impl.h), when the key allows it. */
static int search_prepare_prefixes(struct search *s)
{
	enum { SEARCH_PREFIX_LIMIT = 1 << 20 };
	if (!s->has_append)
		return 0;
	uint64_t total = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct search_op *o = &s->sop[i];
		if ((o->kind == CHECK_KIND_CAS && o->ok == CHECK_OK_FALSE) ||
		    (o->kind == CHECK_KIND_DELETE && o->existed == CHECK_EXISTED_YES) ||
		    o->kind == CHECK_KIND_INCR)
			return 0;
		uint32_t v = o->kind == CHECK_KIND_GET   ? o->result
		             : o->kind == CHECK_KIND_CAS ? o->expect
		                                         : MODEL_NONE;
		if (v != MODEL_NONE && v != MODEL_ABSENT)
			total += s->model.states[v].len + 1;
	}
	if (total > SEARCH_PREFIX_LIMIT)
		return 0;
	size_t cap = 16;
	while (cap < 2 * total)
		cap *= 2;
	SEARCH_ALLOC(s, s->prefixes, cap);
	memset(s->prefixes, 0, cap * sizeof(*s->prefixes));
	s->prefix_cap = cap;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct search_op *o = &s->sop[i];
		uint32_t v = o->kind == CHECK_KIND_GET   ? o->result
		             : o->kind == CHECK_KIND_CAS ? o->expect
		                                         : MODEL_NONE;
		if (v == MODEL_NONE || v == MODEL_ABSENT)
			continue;
		const uint64_t *t;
		int rc = model_prefix_table(&s->model, v, &t);
		if (rc != 0)
			return rc;
		if (t == NULL) { /* not a literal: no claim for this key */
			SEARCH_FREE(s, s->prefixes, s->prefix_cap);
			s->prefixes = NULL;
			s->prefix_cap = 0;
			return 0;
		}
		for (uint64_t len = 0; len <= s->model.states[v].len; len++) {
			if (search_prefix_find(s, t[len], len))
				continue;
			size_t at = search_prefix_slot(t[len], len, cap);
			while (s->prefixes[at].len_plus_one != 0)
				at = (at + 1) & (cap - 1);
			s->prefixes[at] = (struct search_prefix){t[len], len + 1};
		}
	}
	return 0;
}

int search_prepare(struct search *s, const size_t *index, size_t count)
{
	int rc = search_prepare_ops(s, index, count);
	if (rc == 0)
		rc = search_prepare_entries(s);
	if (rc == 0)
		rc = search_prepare_clients(s);
	if (rc == 0)
		rc = search_prepare_classes(s);
	if (rc == 0)
		rc = search_index_classes(s);
	if (rc == 0)
		rc = search_index_chains(s);
	if (rc == 0)
		rc = search_prepare_prefixes(s);
	if (rc != 0)
		return rc;
	uint32_t n = s->n;
	uint32_t unknown = n - s->known_count;
	SEARCH_FREE(s, s->heads, s->heads_cap);
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

void search_release(struct search *s)
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
	SEARCH_FREE(s, s->client_seq, s->known_count);
	SEARCH_FREE(s, s->linearized, (n + 63) / 64);
	SEARCH_FREE(s, s->stack, n);
	SEARCH_FREE(s, s->best, n);
	SEARCH_FREE(s, s->needed, n);
	SEARCH_FREE(s, s->memo, s->memo_cap);
	SEARCH_FREE(s, s->prefixes, s->prefix_cap);
	SEARCH_FREE(s, s->sorted, e);
	SEARCH_FREE(s, s->order, unknown);
	SEARCH_FREE(s, s->heads, s->heads_cap);
	model_free(&s->model);
}
