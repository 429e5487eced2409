/* search_impl.h: the search's state, shared by search.c, search_prepare.c and search_run.c. */
#ifndef CONCORD_CHECK_SEARCH_IMPL_H
#define CONCORD_CHECK_SEARCH_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/budget.h"
#include "check/check.h"
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
	uint64_t z1, z2;     /* Zobrist keys (0 for an unknown op that has a ubit) */
	uint64_t ubit;       /* unknown only, with at most 64 of them: its bit in the mask */
	uint32_t value, expect, result; /* model states; result MODEL_NONE if unobserved */
	int64_t delta;
	int64_t result_int;
	uint32_t call_entry, return_entry; /* known only */
	/* Known only, with client order: the same client's ops called last before this one, all
	 * to be linearized first: client_seq[client_pred .. + client_pred_count). */
	uint32_t client_pred, client_pred_count;
	uint32_t cls; /* unknown only */
	uint8_t kind;
	uint8_t ok;
	uint8_t existed;
	bool known;
	bool blind;
	bool result_present;
};

struct search_class {
	uint32_t first; /* index into members[] */
	uint32_t count;
	uint32_t next; /* members used so far (always a prefix) */
	bool blind;
	bool ordered; /* an incr by a delta >= 0: commutes with the others like it */
	uint8_t kind;
	uint32_t produces; /* blind: the state it writes */
	uint32_t expect;   /* cas: the state it expects */
};

struct search_memo_entry {
	uint64_t a, b;  /* fingerprint of the placed ops (the known ones, given masks) */
	uint64_t umask; /* the unknown ops placed (0 without masks) */
	uint32_t state;
	uint32_t tag_plus_one; /* 0: empty slot; else 1 + the node's restriction (search_tag) */
};

/* One prefix of an observed value: its hash and length (len_plus_one 0: an empty slot). */
struct search_prefix {
	uint64_t h1;
	uint64_t len_plus_one;
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
	bool has_append;      /* some op on the key appends */
	bool client_order;    /* a known op waits for its client's previous known ops */
	uint32_t *client_seq; /* known ops by client, then call time (known_count of them) */

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
	uint32_t *cas_start; /* cas_by_expect[cas_start[x] .. cas_start[x + 1]) expect state x */
	uint32_t *cas_by_expect;
	uint32_t *chain_classes;
	uint32_t chain_count;
	/* Unknown members not yet linearized, by what they accept next. */
	uint32_t pending_append, pending_incr;
	uint32_t *cas_expect_pending; /* indexed by state id, like class_by_state */

	struct search_memo_entry *memo;
	size_t memo_cap, memo_count;

	/* Every prefix of every value a get read or a cas expected, on the key; built unless
	 * the key has ops that accept many values (failed cas, delete that found the key, incr)
	 * or the prefixes are too many (search_grown_observable). */
	struct search_prefix *prefixes;
	size_t prefix_cap; /* 0: not built */

	uint64_t *linearized; /* bitset over local ops */
	struct search_frame *stack;
	uint32_t depth;

	/* The node being expanded. */
	uint32_t opaque; /* the state of every unobserved value, or MODEL_NONE */
	bool restricted; /* first pass: try fewer unknown writes (incomplete, see search_key) */
	uint32_t state;
	uint32_t last_unknown; /* class of the op just placed if it was unknown, else SEARCH_NIL */
	uint64_t fp1, fp2;
	uint64_t umask; /* the unknown ops placed, by ubit */
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

/* Builds the search over ops[index[0..count)] (search_key's arguments) into s, whose ops,
 * budget and model are set: the local ops, the entry list, the classes of unknown ops and
 * their indexes, the stack and the memo. 0 or a negative errno; on failure, what was
 * allocated is freed by search_release all the same. (search_prepare.c) */
int search_prepare(struct search *s, const size_t *index, size_t count);
/* Whether the prefix set holds bytes of hash h1 and length len; prefix_cap must not be 0.
 * (search_prepare.c) */
bool search_prefix_find(const struct search *s, uint64_t h1, uint64_t len);
/* Frees everything search_prepare allocated, and the model. (search_prepare.c) */
void search_release(struct search *s);

/* Runs the search from the empty configuration; returns the verdict. CHECK_UNKNOWN when
 * the budget ran out or s->error was set. Leaves the deepest configuration reached in
 * best/best_depth/best_state. (search_run.c) */
enum check_verdict search_run(struct search *s);

#endif /* CONCORD_CHECK_SEARCH_IMPL_H */
