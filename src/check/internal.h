/* internal.h: helpers shared by the checker's source files (not part of the public API). */
#ifndef CONCORD_CHECK_INTERNAL_H
#define CONCORD_CHECK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "check/check.h"

/* Writes s as a JSON string literal (with quotes), or null. */
int check_write_json_str(FILE *out, const struct check_str *s);
/* Formats s for people into buf: "quoted", with escapes, cut at max_chars with "..."; or
 * "absent"/"null" text given by none. Always NUL-terminates; returns buf. */
char *check_format_str(char *buf, size_t size, const struct check_str *s, size_t max_chars,
                       const char *none);
/* Compares two strings by bytes (null sorts first). */
int check_str_compare(const struct check_str *a, const struct check_str *b);

/* Describes op for people: "client 3 put "v7" (called 1200, returned 1450; line 4)". */
char *check_describe_op(char *buf, size_t size, const struct check_op *op);
/* Why op cannot be the next operation when the key holds state. */
char *check_explain_stuck(char *buf, size_t size, const struct check_op *op,
                          const struct check_str *state);

/* The objects a history is checked as (group.c): a key, or the keys that multi-key
 * operations tie together, checked as one object (linearizability is local to objects, and
 * no operation spans two groups). Group g is ops[index[start[g] .. start[g + 1])], sorted by
 * call time; multi[g]: it holds multi-key operations (search_multi decides it). */
struct check_groups {
	size_t *index;
	size_t *start; /* count + 1 entries */
	bool *multi;
	size_t count;
};
/* How many keys op names besides its key, with repeats (mset: its keys; txn: every compare's
 * and sub-operation's), and the i-th of them. */
size_t check_op_extra_keys(const struct check_op *op);
const struct check_str *check_op_extra_key(const struct check_op *op, size_t i);
int check_group(const struct check_op *ops, size_t n, struct check_groups *out);
void check_groups_free(struct check_groups *g);

#endif /* CONCORD_CHECK_INTERNAL_H */
