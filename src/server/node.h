/* node.h: a Concord server node: the Raft core, durable storage, the peer transport
 * and the key-value state machine, driven by one libuv event loop. */
#ifndef CONCORD_SERVER_NODE_H
#define CONCORD_SERVER_NODE_H

/*
 * The node is what the client frontends (RESP, HTTP) talk to. Everything happens on the
 * loop thread: every function here must be called from it, and every callback runs on it.
 *
 * Writes. node_write() proposes a key-value command (src/kv/kv.h) and calls back once
 * the outcome is known:
 *   NODE_OK        the command committed and was applied; `reply` is its result (which may
 *                  itself be an error of the state machine, e.g. KV_ENOTINT);
 *   NODE_ENOTLEADER this node does not lead; node_leader() names who does, if known;
 *   NODE_ELOST     another leader's entry took the proposal's index: it had no effect;
 *   NODE_ETIMEOUT  no outcome within the timeout: it may or may not take effect later
 *                  (clients that need exactly-once retry within a session);
 *   NODE_ESTOPPING the node is shutting down (outcome unknown, as for a timeout).
 * Reads. node_read() waits until a read at this moment is linearizable (ReadIndex: the
 * leader confirmed its leadership with a quorum and applied up to the read index), then
 * calls back with NODE_OK; the caller then reads node_kv() directly, within the callback.
 * With `stale` set it calls back at once, from whatever this node has applied.
 *
 * The callback's `arg` is the caller's; the node never touches it. A callback may call
 * any function here, including node_write() and node_read().
 */

#include "base/histogram.h"
#include "base/limits.h"
#include "concord/raft.h"
#include "kv/kv.h"
#include "net/net.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define NODE_ERRORS(X)                                                                             \
	X(NODE_OK, "ok")                                                                           \
	X(NODE_ENOTLEADER, "not the leader")                                                       \
	X(NODE_ELOST, "the proposal was lost to a leader change and had no effect")                \
	X(NODE_ETIMEOUT, "timed out; the outcome is unknown")                                      \
	X(NODE_ESTOPPING, "the node is shutting down")                                             \
	X(NODE_EINVAL, "invalid argument")                                                         \
	X(NODE_EBUSY, "busy: a leadership transfer or configuration change is under way")          \
	X(NODE_ETOOBIG, "command too large")                                                       \
	X(NODE_ESTORAGE, "storage failure")                                                        \
	X(NODE_ECONFIG, "configuration refused")                                                   \
	X(NODE_EALREADY, "already the leader")                                                     \
	X(NODE_ENOMEMBER, "no such member")                                                        \
	X(NODE_EMEMBER, "already a member")                                                        \
	X(NODE_ENOTVOTER, "the member is a learner, not a voter")                                  \
	X(NODE_EVOTER, "the member is already a voter")                                            \
	X(NODE_ELAGGING, "the learner has not caught up with the log yet; retry")                  \
	X(NODE_ELASTVOTER, "cannot remove the last voter")                                         \
	X(NODE_ENOVOTER, "no other voter to hand leadership to")                                   \
	X(NODE_EFULL, "the configuration already has the most voters it can")

enum node_error {
#define NODE_ERROR_ENUM_(name, text) name,
	NODE_ERRORS(NODE_ERROR_ENUM_)
#undef NODE_ERROR_ENUM_
	    NODE_ERROR_COUNT_
};

const char *node_strerror(int err);

#define NODE_MAX_MEMBERS CONCORD_MEMBERS_MAX

/* A member's addresses, as given on the command line (--initial-cluster and friends). */
struct node_member {
	raft_id id;
	char name[64];
	char peer[128];   /* host:port of its peer listener */
	char client[128]; /* host:port of its RESP listener ("" if unknown) */
	char http[128];   /* host:port of its HTTP listener ("" if unknown) */
};

struct ssl_ctx_st;

struct node_config {
	raft_id id;
	char name[64];
	uint64_t cluster_id;
	char data_dir[512];
	char listen_peer[128];
	struct node_member members[NODE_MAX_MEMBERS]; /* the initial cluster, self included */
	uint32_t n_members;
	bool join;        /* start empty and wait to be added (as a learner) */
	uint32_t tick_ms; /* one Raft tick */
	uint32_t election_ticks;
	uint32_t heartbeat_ticks;
	uint32_t request_timeout_ms; /* writes and reads give up after this */
	uint64_t snapshot_entries;   /* take a snapshot after this many applied entries... */
	uint64_t snapshot_bytes;     /* ...or this many bytes of applied commands */
	uint64_t snapshot_trailing;  /* entries kept behind a snapshot for slow followers */
	/* Member k's two thresholds are raised by ((k - 1) mod 4) eighths, so that the
	 * members of a cluster written at the same pace do not snapshot at once. */
	bool snapshot_stagger;
	uint64_t segment_bytes;   /* WAL segment size */
	uint32_t disk_stall_ms;   /* a write or fsync outstanding this long: the disk is
	                             stalled (a leader steps down); 0: three election
	                             timeouts (2 * election_ticks * tick_ms * 3 / 2) */
	uint32_t max_frame_bytes; /* largest peer message sent or accepted; 0: the
	                             transport's default */
	struct kv_config kv;      /* must be the same on every node */
	uint64_t fault_seed;
	/* Peer authentication (docs/security.md), handed to the transport (net.h): a shared
	 * secret (NULL: none) and TLS contexts (both or neither; NULL: plain TCP), owned by
	 * the caller and outliving the node. */
	const uint8_t *peer_secret;
	uint32_t peer_secret_len;
	struct ssl_ctx_st *peer_tls_server;
	struct ssl_ctx_st *peer_tls_client;
	void (*log)(void *ctx, int level, const char *msg); /* NULL: stderr */
	void *log_ctx;
	/* Called once when this member learns it was removed from the cluster
	 * (node_removed()); NULL: nothing but the log line. */
	void (*removed)(void *ctx);
	void *removed_ctx;
};

/* Zeroes `cfg` and fills the defaults: 50 ms ticks, election 10 ticks, heartbeat 2,
 * 5 s request timeout, snapshots every 100000 entries or 64 MiB of commands keeping
 * 10000 entries, 64 MiB segments. */
void node_config_default(struct node_config *cfg);

struct node;

/* Opens the data directory (creating it), recovers, and starts the transport and timers on
 * `loop`. Returns 0, or an error with errmsg (of `len` bytes) saying why. */
int node_start(struct node **out, uv_loop_t *loop, const struct node_config *cfg, char *errmsg,
               size_t len);

/* Stops accepting work, fails what is pending with NODE_ESTOPPING, waits for the storage
 * to finish what it was writing, closes every handle, then calls `cb` (after which the
 * node is freed). */
void node_stop(struct node *n, void (*cb)(void *arg), void *arg);

/* ---- Client operations */

typedef void (*node_write_cb)(void *arg, int status, const struct kv_reply *reply);
typedef void (*node_read_cb)(void *arg, int status);

/* Proposes `cmd` (its session fields, if any, are the caller's). Returns 0 if the callback
 * will be called, or an error at once (NODE_ENOTLEADER, NODE_EBUSY, NODE_ETOOBIG,
 * NODE_EINVAL, NODE_ESTOPPING) without calling it. */
int node_write(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg);

/* The same, keys of the reserved keyspace allowed: for the node's own records (the auth
 * users and roles, src/server/auth.h). */
int node_write_reserved(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg);

/* Waits for a linearizable read (or, if `stale`, for nothing). Returns 0 if the callback
 * will be called, else NODE_ENOTLEADER / NODE_ESTOPPING at once. */
int node_read(struct node *n, bool stale, node_read_cb cb, void *arg);

/* The state machine, for reading inside a node_read callback (or for statistics). */
const struct kv *node_kv(const struct node *n);
/* Sets (NULL: clears) the state machine's change hook (watch.c is its one user). */
void node_watch_hook_set(struct node *n, const struct kv_watch_hook *hook);

/* ---- Cluster */

struct node_status {
	raft_id id;
	enum raft_role role;
	raft_term term;
	raft_id leader;
	raft_index commit;
	raft_index applied;
	raft_index last_index;
	raft_index snapshot_index;
	raft_index first_index; /* the first entry the core still holds */
	struct raft_conf conf;
	uint64_t proposals_pending;
	uint64_t reads_pending;
};

void node_status(const struct node *n, struct node_status *out);
/* This node's member record (its addresses), and a member's by id (NULL if unknown). */
const struct node_member *node_self(const struct node *n);
const struct node_member *node_member(const struct node *n, raft_id id);
/* The leader's member record, or NULL if no leader is known. */
const struct node_member *node_leader(const struct node *n);
/* The leader's view of a follower's log (false unless this node leads). */
bool node_progress(const struct node *n, raft_id id, raft_index *match, raft_index *next);

/* Admin: hand leadership to `to`; give it up to the most up-to-date voter.
 * node_transfer() returns NODE_EALREADY (nothing done, not a failure) when `to` is this
 * node and it leads, NODE_ENOMEMBER if `to` is not in the configuration, NODE_ENOTVOTER
 * if it is a learner; node_step_down() NODE_ENOVOTER if no other voter can take over. */
int node_transfer(struct node *n, raft_id to);
int node_step_down(struct node *n);

/* Fault injection (the admin route /v1/admin/faults/disk): for duration_ms from now the
 * storage's writes and syncs wait, as on a hung disk; 0 clears it at once.
 * node_disk_stall_left() gives the ms still to go and the calls that have waited. */
void node_disk_stall(struct node *n, uint64_t duration_ms);
uint64_t node_disk_stall_left(struct node *n, uint64_t *stalled_calls);
/* Membership (leader only): add `m` as a learner (its addresses are recorded), promote
 * a learner to voter, remove a member. Returns 0 once the change is proposed; it is done
 * when node_status().conf shows it. Besides NODE_ENOTLEADER and NODE_EBUSY: add
 * NODE_EMEMBER (already in the configuration); promote NODE_ENOMEMBER, NODE_EVOTER,
 * NODE_ELAGGING (not caught up), NODE_EFULL; remove NODE_ENOMEMBER, NODE_ELASTVOTER. */
int node_member_add_learner(struct node *n, const struct node_member *m);
int node_member_promote(struct node *n, raft_id id);
int node_member_remove(struct node *n, raft_id id);
/* Records member `m`'s addresses in the replicated address book (leader only; `m->id`
 * must be in the configuration, else NODE_ENOMEMBER): how a member publishes its own
 * addresses. Returns 0 once proposed; nothing is proposed if the book holds them already. */
int node_member_publish(struct node *n, const struct node_member *m);
/* Whether this node, a member that does not lead, has its own addresses (its flags')
 * missing from the replicated address book: then *own holds them, for the leader to
 * publish (CONCORD.MEMBER PUBLISH, src/server/publish.c). */
bool node_self_unpublished(const struct node *n, struct node_member *own);

/* The index of the committed configuration that removed this member from the cluster,
 * or 0 while it is a member (node_removed.c). A removed node no longer campaigns; the
 * frontends answer its clients that it was removed. */
raft_index node_removed(const struct node *n);

/* How long ago (ms) the last message from peer `id` arrived; false if none did yet. */
bool node_peer_last_heard(const struct node *n, raft_id id, uint64_t *ago_ms);

/* The data directory's size in bytes (node_disk.c): WAL segments, snapshots, and all of
 * it (meta included). Reads the directories: for status and metrics, not hot paths. */
struct node_disk_usage {
	uint64_t wal_bytes;
	uint64_t snapshot_bytes;
	uint64_t total_bytes;
};
void node_disk_usage(const struct node *n, struct node_disk_usage *out);

/* ---- Backups (node_backup.c)
 *
 * node_backup_start() takes a consistent snapshot of this node's state as applied now:
 * a forked child writes it, in the snapshot file format of docs/disk-format.md (index,
 * term and configuration of the applied entry, the store with its revision, checksums),
 * into a private file of DIR/backup while the node keeps serving. `cb` gets NODE_OK with
 * an open, already unlinked file descriptor of `size` bytes (the callee owns and closes
 * it), or an error with a message (fd -1). Returns 0 if `cb` will be called, else
 * NODE_ESTOPPING, NODE_EBUSY (nothing applied yet, or the applied entry's term and
 * configuration are not known yet: retry) or NODE_ESTORAGE at once. */
struct node_backup;
typedef void (*node_backup_cb)(void *arg, int status, int fd, uint64_t size, raft_index index,
                               const char *errmsg);
int node_backup_start(struct node *n, node_backup_cb cb, void *arg, struct node_backup **out);
/* The caller no longer wants the result: `cb` is not called; the file goes. */
void node_backup_cancel(struct node_backup *b);

/* Fault injection on the links to `peer` (RAFT_NONE: every peer). */
int node_fault_set(struct node *n, raft_id peer, const struct net_fault *f);
void node_fault_clear(struct node *n, raft_id peer);

/* Counters for /metrics. */
struct node_metrics {
	uint64_t proposals; /* writes proposed */
	uint64_t proposals_ok;
	uint64_t proposals_lost;
	uint64_t proposals_timeout;
	uint64_t reads;
	uint64_t reads_ok;
	uint64_t ready_batches;
	uint64_t storage_writes; /* batches written (group commit shares their fsyncs) */
	uint64_t snapshots;
	uint64_t elections_won;
	uint64_t commit_latency_us_sum; /* proposal to apply, for acknowledged writes */
	uint64_t commit_latency_count;
	uint64_t leader_changes;           /* the known leader became another node */
	uint64_t disk_stalls;              /* times a write or fsync outlived disk_stall_ms */
	uint64_t disk_stalled;             /* 1 while one does */
	struct histogram commit_seconds;   /* proposal to apply, acknowledged writes */
	struct histogram apply_seconds;    /* one entry into the store */
	struct histogram snapshot_seconds; /* a snapshot job, start to saved */
	struct histogram append_seconds;   /* one group written to the WAL, before its sync */
	struct histogram fsync_seconds;    /* one sync of the WAL */
};

void node_metrics(const struct node *n, struct node_metrics *out);
/* The transport's counters, totals over all peers. */
void node_net_stats(const struct node *n, struct net_stats *out);
/* One link's counters; false if `peer` has no link. */
bool node_net_peer_stats(const struct node *n, raft_id peer, struct net_stats *out);

#endif /* CONCORD_SERVER_NODE_H */
