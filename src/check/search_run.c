/* search_run.c: the search proper: depth-first over configurations, with Lowe's memo. */
#include "check/search.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check/model.h"
#include "check/search_impl.h"

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

/*
 * Looks a configuration up; adds it if nothing covers it and insert is set. True if an
 * entry covers it: same fingerprint, value and tag, and a mask of placed unknown ops that
 * is a subset of umask. Unknown ops need never happen, so a configuration that placed fewer
 * of them (the known ones the same) can do everything this one can: it dominates. An
 * entry that this configuration dominates in turn takes its mask, which keeps each
 * configuration's entries few.
 */
static bool search_memo_find(struct search *s, uint64_t a, uint64_t b, uint64_t umask,
                             uint32_t state, uint32_t tag, bool insert)
{
	size_t at = search_memo_slot(a, state, s->memo_cap);
	struct search_memo_entry *dominated = NULL;
	for (;;) {
		struct search_memo_entry *e = &s->memo[at];
		if (e->tag_plus_one == 0)
			break;
		if (e->a == a && e->b == b && e->state == state && e->tag_plus_one == tag + 1) {
			if ((e->umask & ~umask) == 0)
				return true;
			if (dominated == NULL && (umask & ~e->umask) == 0)
				dominated = e;
		}
		at = (at + 1) & (s->memo_cap - 1);
	}
	if (!insert)
		return false;
	if (dominated != NULL) {
		dominated->umask = umask;
		return false;
	}
	struct search_memo_entry *e = &s->memo[at];
	e->a = a;
	e->b = b;
	e->umask = umask;
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
static bool search_memo_visit(struct search *s, uint64_t a, uint64_t b, uint64_t umask,
                              uint32_t state, uint32_t tag)
{
	if (tag != 0 && search_memo_find(s, a, b, umask, state, 0, false))
		return true;
	return search_memo_find(s, a, b, umask, state, tag, true);
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

/* Whether a known op must wait for some of its client's previous ops, not yet linearized. */
static bool search_waits(const struct search *s, const struct search_op *o)
{
	for (uint32_t i = 0; i < o->client_pred_count; i++) {
		if (!search_op_linearized(s, s->client_seq[o->client_pred + i]))
			return true;
	}
	return false;
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

static bool search_grows(struct search *s, uint32_t from, uint32_t to);

/*
 * Whether some operation still to be placed could observe a value that appends made of
 * state: a get or a cas in the list whose value starts with state's bytes, an op that
 * accepts many values (a failed cas, a delete that found the key, an incr), or a pending
 * unknown cas or incr. With the key's set of observed prefixes (search_prepare_prefixes),
 * a lookup there answers for every get and cas at once, placed or not; without it, past the
 * first entries of the list, no claim.
 */
static bool search_grown_observable(struct search *s, uint32_t state)
{
	enum { SEARCH_GROWN_SCAN = 96 };
	if (s->pending_incr > 0)
		return true;
	if (s->prefix_cap > 0) {
		/* Built only for keys with appends, which have no opaque state. */
		assert(state != s->opaque);
		const struct model_state *m = &s->model.states[state];
		return search_prefix_find(s, m->h1, m->len);
	}
	for (uint32_t i = 0; i < s->cas_count; i++) {
		const struct search_class *cl = &s->classes[s->cas_classes[i]];
		if (cl->next < cl->count && search_grows(s, state, cl->expect))
			return true;
	}
	uint32_t head = s->entry_count, seen = 0;
	for (uint32_t e = s->entry_next[head]; e != head; e = s->entry_next[e]) {
		if (s->entry_is_return[e])
			continue;
		if (seen++ == SEARCH_GROWN_SCAN)
			return true;
		const struct search_op *o = &s->sop[s->entry_op[e]];
		switch (o->kind) {
		case CHECK_KIND_GET:
			if (search_grows(s, state, o->result))
				return true;
			break;
		case CHECK_KIND_CAS:
			if (o->ok == CHECK_OK_FALSE || search_grows(s, state, o->expect))
				return true;
			break;
		case CHECK_KIND_DELETE:
			if (o->existed == CHECK_EXISTED_YES)
				return true;
			break;
		case CHECK_KIND_INCR:
			return true;
		default:
			break;
		}
	}
	return false;
}

/*
 * Whether some operation could follow an unknown one that leaves the key holding state and
 * make it matter: a known candidate or a pending unknown operation, not a blind write, that
 * accepts it. If what follows is an append (another pending unknown one, or a known
 * candidate), the value only grows: it matters only if something still to be placed could
 * observe it grown (search_grown_observable). If nothing can, placing the unknown operation
 * is useless: until the next blind write nothing tells the value apart from the one without
 * it, and appends accept either. Over-approximates (ignores call times and which appends
 * are pending), which keeps it sound.
 */
static bool search_state_observable(struct search *s, uint32_t state, bool exact)
{
	int64_t v;
	bool grows = !exact && s->pending_append > 0;
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
			grows = grows || !exact;
			break;
		case CHECK_KIND_INCR:
			if (model_int(&s->model, state, &v)) {
				int64_t sum;
				if (!o->result_present
				        ? !exact
				        : !__builtin_add_overflow(v, o->delta, &sum) &&
				              sum == o->result_int)
					return true;
			}
			break;
		default:
			break;
		}
	}
	return grows && search_grown_observable(s, state);
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
			if ((after_unknown && s->sop[op].blind) || search_waits(s, &s->sop[op]))
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
			/* Consecutive unknown incrs by deltas >= 0 commute: place them in class
			 * order. */
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
				/* The values known candidates need, then those unknown cas expect.
				 */
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
					/* Restricted: a wide acceptor gets an unobserved value, or
					 * none. */
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
		if (!pure || search_waits(s, o))
			continue;
		bool ok = o->kind == CHECK_KIND_GET ? o->result == s->state : o->expect != s->state;
		if (ok)
			return s->entry_op[e];
	}
	return SEARCH_NIL;
}

/* Whether a known op that the list holds can change the value other than by appending. */
static bool search_op_resets(const struct search_op *o)
{
	switch (o->kind) {
	case CHECK_KIND_GET:
	case CHECK_KIND_APPEND:
		return false;
	case CHECK_KIND_CAS:
		return o->ok != CHECK_OK_FALSE;
	default:
		return true;
	}
}

/* Whether appends alone could turn state from into state to (equality if the key has none). */
static bool search_grows(struct search *s, uint32_t from, uint32_t to)
{
	if (from == to)
		return true;
	if (!s->has_append || from == MODEL_NONE)
		return from == MODEL_NONE;
	bool maybe = true;
	int rc = model_may_grow_into(&s->model, from, to, &maybe);
	if (rc != 0)
		s->error = rc;
	return maybe;
}

/*
 * Whether appends still to be placed by time deadline, each used once, could extend bytes of
 * hash h1 and length len (a prefix of state to) into to: a word-break search by hash over the
 * known appends in the list called by then and the pending unknown ones. Appends in use are
 * marked linearized (known) or taken from their class (unknown) and given back on the way
 * out. Past the first entries of the list, or after *steps tries, no claim.
 */
static bool search_appends_fit(struct search *s, uint64_t h1, uint64_t len, uint32_t piece,
                               uint32_t to, uint64_t *next)
{
	bool maybe;
	int rc = model_may_extend(&s->model, h1, len, piece, to, next, &maybe);
	if (rc != 0)
		s->error = rc; /* the search stops; answering "fits" claims nothing */
	return maybe || rc != 0;
}

static bool search_appends_complete(struct search *s, uint64_t h1, uint64_t len, uint32_t to,
                                    int64_t deadline, uint32_t *steps)
{
	enum { SEARCH_APPEND_SCAN = 64 };
	if (len == s->model.states[to].len)
		return true;
	if (*steps == 0)
		return true;
	(*steps)--;
	uint32_t head = s->entry_count, seen = 0;
	uint64_t next;
	for (uint32_t e = s->entry_next[head]; e != head && s->entry_time[e] <= deadline;
	     e = s->entry_next[e]) {
		if (seen++ == SEARCH_APPEND_SCAN)
			return true;
		uint32_t op = s->entry_op[e];
		const struct search_op *o = &s->sop[op];
		if (s->entry_is_return[e] || o->kind != CHECK_KIND_APPEND ||
		    search_op_linearized(s, op))
			continue;
		if (!search_appends_fit(s, h1, len, o->value, to, &next))
			continue;
		s->linearized[op / 64] |= (uint64_t)1 << (op % 64);
		bool done = search_appends_complete(s, next, len + s->model.states[o->value].len,
		                                    to, deadline, steps);
		s->linearized[op / 64] &= ~((uint64_t)1 << (op % 64));
		if (done)
			return true;
	}
	for (uint32_t c = 0; c < s->class_count; c++) {
		struct search_class *cl = &s->classes[c];
		if (cl->kind != CHECK_KIND_APPEND || cl->next == cl->count)
			continue;
		const struct search_op *o = &s->sop[s->members[cl->first + cl->next]];
		if (o->call_time > deadline)
			continue;
		if (!search_appends_fit(s, h1, len, o->value, to, &next))
			continue;
		cl->next++;
		bool done = search_appends_complete(s, next, len + s->model.states[o->value].len,
		                                    to, deadline, steps);
		cl->next--;
		if (done)
			return true;
	}
	return false;
}

/* Whether appends still to be placed by deadline could turn state from into state to, of
 * which from's bytes are a prefix (search_grows said so) but which from does not equal. */
static bool search_appends_reach(struct search *s, uint32_t from, uint32_t to, int64_t deadline)
{
	enum { SEARCH_APPEND_STEPS = 256 };
	const struct model_state *f = &s->model.states[from];
	uint32_t steps = SEARCH_APPEND_STEPS;
	return search_appends_complete(s, f->h1, f->len, to, deadline, &steps);
}

/* Whether op, taken as the last op before a get (by deadline, its return) that is not an
 * append or a read, could leave a value that the appends left turn into state to. */
static bool search_reset_reaches(struct search *s, const struct search_op *o, uint32_t to,
                                 int64_t deadline)
{
	uint32_t from;
	switch (o->kind) {
	case CHECK_KIND_PUT:
	case CHECK_KIND_CAS:
		from = o->value;
		break;
	case CHECK_KIND_DELETE:
		from = MODEL_ABSENT;
		break;
	default:
		return true; /* an incr: no claim */
	}
	if (!search_grows(s, from, to))
		return false;
	return from == to || search_appends_reach(s, from, to, deadline);
}

/* Whether a pending unknown op, not an append, may be placed by time t and lead to state to. */
static bool search_unknown_reset_by(struct search *s, int64_t t, uint32_t to)
{
	for (uint32_t c = 0; c < s->class_count; c++) {
		const struct search_class *cl = &s->classes[c];
		if (cl->kind == CHECK_KIND_APPEND || cl->next == cl->count)
			continue;
		const struct search_op *o = &s->sop[s->members[cl->first + cl->next]];
		if (o->call_time <= t && search_reset_reaches(s, o, to, t))
			return true;
	}
	return false;
}

/*
 * Whether the configuration is dead: some get still to be placed must come before every op
 * that could reset the value (anything but an append or a read) and could lead to what it
 * read, yet reads a value the current one cannot become by appends alone (by nothing at all,
 * if the key has no appends). A reset can come before the get only if it is called by the
 * get's return; the last one before the get decides, so it must write a value that appends
 * can turn into the read one. The search would find the dead end too, but only after every
 * order of the ops in between, and pending unknown ops multiply those orders: one-step
 * look-ahead cannot see it, since a pending unknown append "could observe" any value.
 * Looks at the first entries of the list only, which keeps it cheap and still sound.
 */
static bool search_dead(struct search *s)
{
	enum { SEARCH_DEAD_SCAN = 48 };
	uint32_t resets[SEARCH_DEAD_SCAN];
	uint32_t reset_count = 0, seen = 0;
	uint32_t head = s->entry_count;
	for (uint32_t e = s->entry_next[head]; e != head && seen++ < SEARCH_DEAD_SCAN;
	     e = s->entry_next[e]) {
		const struct search_op *o = &s->sop[s->entry_op[e]];
		if (!s->entry_is_return[e]) {
			if (search_op_resets(o))
				resets[reset_count++] = s->entry_op[e];
			continue;
		}
		if (o->kind != CHECK_KIND_GET ||
		    (search_grows(s, s->state, o->result) &&
		     (s->state == o->result ||
		      search_appends_reach(s, s->state, o->result, o->return_time))))
			continue;
		bool reachable = false;
		for (uint32_t i = 0; i < reset_count && !reachable; i++)
			reachable =
			    search_reset_reaches(s, &s->sop[resets[i]], o->result, o->return_time);
		if (!reachable && !search_unknown_reset_by(s, o->return_time, o->result))
			return s->error == 0;
	}
	return false;
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

enum check_verdict search_run(struct search *s)
{
	s->state = MODEL_ABSENT;
	s->last_unknown = SEARCH_NIL;
	s->umask = 0;
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
				assert(cl->next > 0 &&
				       s->members[cl->first + cl->next - 1] == f->op);
				cl->next--;
				search_pending_update(s, cl, +1);
			}
			s->linearized[f->op / 64] &= ~((uint64_t)1 << (f->op % 64));
			s->fp1 ^= o->z1;
			s->fp2 ^= o->z2;
			s->umask &= ~o->ubit;
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
		uint64_t fp1 = s->fp1 ^ o->z1, fp2 = s->fp2 ^ o->z2, umask = s->umask | o->ubit;
		uint32_t last_unknown = o->known ? SEARCH_NIL : o->cls;
		/* A forced read's child is not remembered: the cache is only an optimization, and
		 * half the nodes are such children. */
		if (!is_forced &&
		    search_memo_visit(s, fp1, fp2, umask, next, search_tag(s, last_unknown)))
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
		s->umask = umask;
		s->state = next;
		s->last_unknown = last_unknown;
		if (s->known_left == 0)
			return CHECK_LINEARIZABLE;
		search_record_best(s);
		search_scan_node(s);
		it.phase = PHASE_KNOWN;
		it.pos = s->entry_next[s->entry_count];
		forced = SEARCH_NIL;
		if (search_dead(s))
			it.phase = PHASE_DONE; /* a leaf: backtrack at once */
		else
			forced = search_forced_read(s);
	}
}
