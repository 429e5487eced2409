/* gen.h: random linearizable key-value histories, and injected anomalies, for tests and benches. */
#ifndef CONCORD_CHECK_GEN_H
#define CONCORD_CHECK_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "check/check.h"

enum gen_mix {
	GEN_MIX_REGISTER = 0, /* get, put, cas, delete; every written value is unique */
	GEN_MIX_ALL,          /* also append and incr; values are decimal strings */
	GEN_MIX_APPEND,       /* get, put and append only */
};

struct gen_config {
	uint64_t seed;
	size_t op_count;
	uint32_t client_count;
	uint32_t key_count;
	uint32_t unknown_percent; /* operations whose outcome is unknown */
	uint32_t fail_percent;    /* puts/deletes/appends/incrs that fail without effect */
	uint32_t stretch; /* how far a call or return may lie from the linearization point */
	enum gen_mix mix;
};

/*
 * Generates a history by running a sequential store and stretching each operation's interval
 * around its linearization point at random, so the result is linearizable by construction.
 * *history is owned by the caller (check_history_free).
 */
int gen_history(const struct gen_config *config, struct check_history *history);

enum gen_anomaly {
	GEN_STALE_READ = 0, /* a read returns a value overwritten before the read was called */
	GEN_FUTURE_READ,  /* a read returns a value whose only write was called after it returned */
	GEN_PHANTOM_READ, /* a read returns a value nobody wrote */
};

/*
 * Changes one read of a GEN_MIX_REGISTER history so that the history is not linearizable.
 * Returns 0, or -ENOENT if the history has no place for that anomaly. *changed receives the
 * index of the changed operation.
 */
int gen_inject(struct check_history *history, enum gen_anomaly anomaly, uint64_t seed,
               size_t *changed);

#endif /* CONCORD_CHECK_GEN_H */
