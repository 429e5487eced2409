/* helpers.h: shared helpers of the storage tests: deterministic entries and their checks. */
#ifndef CONCORD_TESTS_STORAGE_HELPERS_H
#define CONCORD_TESTS_STORAGE_HELPERS_H

#include "concord/raft.h"
#include "storage/crashfs.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A tiny deterministic PRNG for test data (splitmix64). */
uint64_t th_rand(uint64_t *state);
uint64_t th_below(uint64_t *state, uint64_t n);

/* An entry whose payload is derived from (index, term, tag): 12 bytes naming them, then
 * `len - 12` bytes of filler (len is at least 12, or 0 for an empty payload). */
struct raft_entry th_entry(raft_index index, raft_term term, uint32_t tag, size_t len);
/* The tag encoded in a payload th_entry made, after checking that the whole payload is
 * what th_entry(e->index, e->term, tag, len) produces; false if it is not. */
bool th_entry_check(const struct raft_entry *e, uint32_t *tag);
void th_entries_release(struct raft_entry *v, uint32_t n);

/* The configuration {1, 2, 3}. */
struct raft_conf th_conf3(void);

/* Storage options for node 1 of cluster 7 with `segment` bytes per segment. */
struct storage_options th_options(uint64_t segment);

/* Checks that raft_new accepts what storage recovered (node 1). */
bool th_boot_ok(const struct storage_recovered *rec);

/* Paths of the files of a data directory inside a crashfs. */
int th_list(struct crashfs *fs, const char *dir, char names[][SIO_NAME_MAX + 1], int max);

#endif /* CONCORD_TESTS_STORAGE_HELPERS_H */
