/* model.h: the values one key can hold during the search, hash-consed into small integer ids. */
#ifndef CONCORD_CHECK_MODEL_H
#define CONCORD_CHECK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/budget.h"

/*
 * A model state is the value of one key: absent (MODEL_ABSENT) or a byte string. Strings are
 * hash-consed: two states are equal iff their ids are equal. Identity is decided by length and
 * two polynomial hashes modulo 2^61-1 (about 122 bits), not by comparing bytes, so that an
 * append is O(1) however long the value grows: a state made by appending keeps a pointer to
 * its parent state and the appended piece instead of a copy (docs/checker.md gives the
 * collision bound). Bytes are materialized only for reports.
 */
#define MODEL_ABSENT 0u
#define MODEL_NONE   UINT32_MAX /* no state: a failed step, or an unobserved result */

struct model_state {
	uint64_t h1, h2; /* hashes of the bytes */
	uint64_t p1, p2; /* base^len, to hash concatenations */
	uint64_t len;
	uint32_t parent;     /* concatenation: the prefix state; MODEL_NONE for a literal */
	uint32_t piece;      /* concatenation: the appended literal state */
	const char *bytes;   /* literal: the bytes (owned by the caller or the model's arena) */
	uint64_t *prefix_h1; /* literal, on demand: h1 of each prefix, len + 1 entries */
	int64_t int_value;   /* decimal value, valid when int_status == 1 */
	int8_t int_status;   /* -1 not yet parsed, 0 not a decimal integer, 1 integer */
};

struct model {
	struct budget *budget;
	struct model_state *states;
	size_t state_count, state_cap;
	uint32_t *table; /* open addressing: state id + 1, 0 = empty */
	size_t table_cap;
	char **arenas; /* small allocations for formatted integers */
	size_t arena_count, arena_cap;
	char *arena_top;
	size_t arena_left;
};

int model_init(struct model *m, struct budget *budget);
void model_free(struct model *m);
/* Interns a literal string. bytes must stay valid for the model's life. */
int model_intern(struct model *m, const char *bytes, size_t len, uint32_t *id);
/* Interns the state whose bytes are those of a followed by those of literal state piece. */
int model_concat(struct model *m, uint32_t a, uint32_t piece, uint32_t *id);
/* Adds a state equal to no string: stands for every value no operation observes. */
int model_add_opaque(struct model *m, uint32_t *id);
/* Interns the decimal representation of value. */
int model_intern_int(struct model *m, int64_t value, uint32_t *id);
/* True and *value set if state id holds a decimal integer (absent counts as 0). */
bool model_int(struct model *m, uint32_t id, int64_t *value);
/* Whether appends alone could turn state a into state b: a is absent, or a's bytes are a
 * prefix of b's (b absent: only if a is too). Sets *maybe to false only when they certainly
 * cannot (by length and hash: equal bytes always hash alike, so a "no" is exact). b must be
 * a literal; its table of prefix hashes is built on first use. 0 or -ENOMEM. */
int model_may_grow_into(struct model *m, uint32_t a, uint32_t b, bool *maybe);
/* The same for bytes of hash h1 and length len (a state's h1 and len; 0 and 0 for none)
 * followed by those of literal state piece (not absent): whether they could be a prefix of
 * b's. *next_h1 receives the concatenation's hash. Interns nothing. */
int model_may_extend(struct model *m, uint64_t h1, uint64_t len, uint32_t piece, uint32_t b,
                     uint64_t *next_h1, bool *maybe);
/* The h1 of each prefix of literal state b (len + 1 of them, the empty one first), built on
 * first use and owned by the model; *table is NULL for absent, opaque and concatenated
 * states. 0 or -ENOMEM. */
int model_prefix_table(struct model *m, uint32_t b, const uint64_t **table);
/* Copies the bytes of state id into a fresh malloc'd buffer (NUL-terminated). -ENOMEM. */
int model_materialize(const struct model *m, uint32_t id, char **bytes, size_t *len);

/* Parses a decimal int64: optional '-', digits only. */
bool model_parse_int(const char *bytes, size_t len, int64_t *value);

#endif /* CONCORD_CHECK_MODEL_H */
