/* harness.h: a hand-driven cluster for the core's unit tests. Messages wait in one
 * queue until a test delivers, drops or filters them; disks persist instantly. */
#ifndef CONCORD_TEST_HARNESS_H
#define CONCORD_TEST_HARNESS_H

#include "concord/raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H_MAX 7

struct h_node {
	struct raft *r;
	bool up;
	struct raft_hard_state hs; /* the node's durable state */
	struct raft_entry *log;
	uint32_t n_log;
	raft_index applied;
	raft_term applied_terms[1024]; /* term of the entry applied at each index */
	struct raft_read reads[64];
	uint32_t n_reads;
	/* The durable snapshot, and how many were installed from a leader. */
	raft_index snap_index;
	raft_term snap_term;
	struct raft_conf snap_conf;
	struct raft_buf *snap_data;
	uint32_t installs;
	struct raft_conf boot_conf;
	/* Committed entries handed out for applying that were not on the disk, neither in
	 * the stored log nor under the snapshot: the core must never do that. */
	uint32_t applied_unstored;
	/* The error a ready batch reported (RAFT_EDIVERGED: the node fail-stopped), else 0. */
	int error;
};

struct h {
	uint32_t n;
	struct h_node nodes[H_MAX];
	struct raft_message *q; /* messages in flight */
	uint32_t n_q;
	uint32_t cap_q;
	bool cut[H_MAX + 1][H_MAX + 1]; /* by id: cut[from][to] drops the message */
	struct raft_config cfg;         /* template; id is set per node */
	/* Every ready batch's messages, in order, as seen; tests inspect it. */
	uint32_t n_sent_persisted;
	uint32_t n_sent_now;
};

/* A cluster of n voters (ids 1..n) with pre-vote and check-quorum as given. */
void h_init(struct h *h, uint32_t n, bool pre_vote, bool check_quorum);
/* n_voters voters, and nodes n_voters+1..n_total started empty, knowing no
 * configuration, waiting to be added. */
void h_init_spares(struct h *h, uint32_t n_total, uint32_t n_voters, bool pre_vote,
                   bool check_quorum);
/* Node `id` snapshots its applied state (payload: `size` bytes derived from the applied
 * index) and compacts, keeping `trailing` entries. */
void h_snapshot(struct h *h, raft_id id, uint32_t size, raft_index trailing);
/* Asks leader `id` for a configuration of the given voters and learners. */
int h_change(struct h *h, raft_id id, const raft_id *voters, uint32_t n_voters,
             const raft_id *learners, uint32_t n_learners);
/* Boots node `id` from a log given by terms (index 1..n_terms) and a hard-state term. */
void h_boot(struct h *h, raft_id id, const raft_term *terms, uint32_t n_terms, raft_term term);
void h_free(struct h *h);
struct raft *h_raft(struct h *h, raft_id id);

/* Drains node id's output: persists, queues messages, applies. */
void h_ready(struct h *h, raft_id id);
/* Step 2 of the contract for one batch of node `id`, on its instant disk. For tests that
 * take batches themselves (raft_ready), e.g. to keep several in flight. */
void h_persist(struct h *h, raft_id id, const struct raft_ready *rd);
/* Whether node id's disk is a log that boots and agrees with the core: the stored
 * entries follow the stored snapshot without a gap, every one of them is the core's
 * entry at its index, and the last one is the core's last (call it once every batch
 * taken is persisted). Otherwise says why in `why`. */
bool h_disk_consistent(struct h *h, raft_id id, char *why, size_t len);
/* Delivers every queued message (and what they cause) until quiet, honouring cuts.
 * Returns the number delivered. */
uint32_t h_stabilize(struct h *h);
/* Delivers the first queued message matching (from, to, type); type 0 matches any.
 * Returns false if none is queued. */
bool h_deliver_one(struct h *h, raft_id from, raft_id to, enum raft_msg_type type);
/* Removes queued messages matching (from, to, type); 0 matches any. */
uint32_t h_drop(struct h *h, raft_id from, raft_id to, enum raft_msg_type type);
/* Finds a queued message; NULL if none. */
struct raft_message *h_find(struct h *h, raft_id from, raft_id to, enum raft_msg_type type);
void h_isolate(struct h *h, raft_id id);
void h_heal(struct h *h);
void h_tick(struct h *h, raft_id id, uint32_t ticks);
/* Ticks every up node `ticks` times, stabilizing after each round. */
void h_tick_all(struct h *h, uint32_t ticks);
/* Makes `id` leader: campaigns and stabilizes. */
void h_elect(struct h *h, raft_id id);
raft_id h_leader(struct h *h);
int h_propose(struct h *h, raft_id id, const char *text, raft_term *term, raft_index *index);
/* Leader `id` proposes `n` entries, each delivered everywhere before the next. */
void h_propose_n(struct h *h, raft_id id, int n);
/* Simulates a crash and restart of `id` from its durable state. */
void h_restart(struct h *h, raft_id id);
/* Restarts `id` as recovery does after damage to durable entries: its stored log cut to
 * its first `keep` entries, booted with raft_boot.catch_up (and catch_up_to). */
void h_restart_damaged(struct h *h, raft_id id, uint32_t keep, raft_index catch_up_to);

#endif
