/* helpers.h: shared helpers of the kv tests: applying commands, reading, random streams. */
#ifndef CONCORD_TESTS_KV_HELPERS_H
#define CONCORD_TESTS_KV_HELPERS_H

#include "kv/kv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64: the next value of the stream at *s. */
uint64_t th_rng(uint64_t *s);
/* 0 one time in four, else a value of a random bit length (every varint size). */
uint64_t th_draw(uint64_t *s);

/* A store with the default configuration; fails the test on error. */
struct kv *th_kv_new(void);
struct kv *th_kv_new_cfg(const struct kv_config *cfg);

/* Encodes `cmd` (limits: the store's) and applies it at the next index; returns the
 * reply's code. The command must pass the encoder's checks. */
int th_do(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r);
/* Encodes `c` stamped `mono` (the leader's clock, ms) and applies it as a NORMAL entry
 * of `term` at the next index; r may be NULL. Returns kv_apply_entry's result. */
int th_at_term(struct kv *kv, raft_term term, uint64_t mono, struct kv_cmd c, struct kv_reply *r);
/* The same with limits that admit anything, so that kv_apply's own checks are tested. */
int th_do_unchecked(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r);

/* Shorthands over C strings (keys and values without NUL bytes). */
int th_set(struct kv *kv, const char *key, const char *value);
int th_del(struct kv *kv, const char *key);
int th_incrby(struct kv *kv, const char *key, int64_t delta, struct kv_reply *r);
/* 1 if the key holds exactly `value` now, 0 if it holds something else, -1 if absent. */
int th_is(struct kv *kv, const char *key, const char *value);

/* The snapshot of a store (free with free()). */
void *th_snapshot(const struct kv *kv, size_t *len);
/* Whether two stores write byte-identical snapshots. */
bool th_same_state(const struct kv *a, const struct kv *b);

/* xorshift64*: the tests' randomness, seeded explicitly. */
uint64_t th_rand(uint64_t *s);

/* A random command stream over a small key space: every operation, sessions (opened,
 * retried, stale, closed, expired), compactions, advancing log time. */
struct th_gen {
	uint64_t rng;
	uint64_t time_ms;
	uint64_t clients[8]; /* session ids the stream opened (0: none) */
	uint64_t seqs[8];
	int pending_open; /* slot whose open command was just generated, or -1 */
	int last_slot;    /* slot whose session sent the last command, or -1 */
	uint64_t last_rev_hint;
	unsigned char scratch[4][64];
	struct kv_put puts[4];
	struct kv_key keys[4];
};

void th_gen_init(struct th_gen *g, uint64_t seed);
/* Fills *cmd (pointing into g) with the next command, for log index `index`. */
void th_gen_next(struct th_gen *g, raft_index index, struct kv_cmd *cmd);
/* Tells the generator what the last command answered (session ids, revisions). */
void th_gen_result(struct th_gen *g, const struct kv_reply *r);

#endif /* CONCORD_TESTS_KV_HELPERS_H */
