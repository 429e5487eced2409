/* search.h: the Wing-Gong/Lowe linearizability search over the operations of a single key. */
#ifndef CONCORD_CHECK_SEARCH_H
#define CONCORD_CHECK_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/budget.h"
#include "check/check.h"

struct search_result {
	enum check_verdict verdict;
	size_t checked_count; /* operations kept after dropping those without effect */
	uint64_t states;
	/* Filled for CHECK_NOT_LINEARIZABLE, owned by the caller (free()): */
	size_t *prefix; /* indices into ops[], linearization order */
	size_t prefix_count;
	size_t *stuck; /* indices into ops[], earliest return first */
	size_t stuck_count;
	char *state; /* the key's value after the prefix, NUL-terminated, NULL if absent */
	size_t state_len;
	bool client_order_violated; /* linearizable without client order */
};

/*
 * Decides whether the operations ops[index[0..count)] (all on one key, valid, sorted by call
 * time) are linearizable; with client_order, a client's completed operations must also take
 * effect in the order of their calls. Returns 0 with *out filled; the verdict is CHECK_UNKNOWN when
 * the budget ran out (budget->exhausted says which). Returns -ENOMEM only if a report could not be
 * allocated after the verdict was found.
 */
int search_key(const struct check_op *ops, const size_t *index, size_t count, bool client_order,
               struct budget *budget, struct search_result *out);

/* The same for a group of keys that multi-key operations tie together (ops of every kind,
 * on several keys, sorted by call time): a plain search over the tuple of the group's
 * values, without the single-key pruning rules. (multi.c) */
int search_multi(const struct check_op *ops, const size_t *index, size_t count, bool client_order,
                 struct budget *budget, struct search_result *out);

/* Whether the checker drops op before the search (it can have no effect and observes nothing). */
bool search_op_dropped(const struct check_op *op);

#endif /* CONCORD_CHECK_SEARCH_H */
