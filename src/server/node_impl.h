/* node_impl.h: the node's private state and the internal functions its files share. */
#ifndef CONCORD_SERVER_NODE_IMPL_H
#define CONCORD_SERVER_NODE_IMPL_H

/*
 * The node is cut by concern:
 *   node.c          configuration, start and stop, status, metrics and faults;
 *   node_ready.c    the driver: the ready/advance loop, pending writes and reads, timeouts,
 *                   proposals. It reaches the loop, the disk and the wire only through the
 *                   seam below;
 *   node_io.c       the seam bound to libuv, the storage threads and the transport;
 *   node_snapshot.c the snapshot policy and the forked snapshot job;
 *   node_members.c  the address book and membership changes.
 */

#include "server/node.h"
#include "storage/async.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct pending_write {
	raft_index index;
	raft_term term;
	node_write_cb cb;
	void *arg;
	uint64_t deadline_ms;
	uint64_t start_us;
};

struct pending_read {
	uint64_t ctx;
	raft_index index;
	bool confirmed;
	node_read_cb cb;
	void *arg;
	uint64_t deadline_ms;
};

/* A ready batch on its way to the disk. */
struct batch {
	struct node *n;
	struct raft_ready rd;
	struct storage_async_req hs_req; /* the hard state, ahead of a leader's snapshot */
	struct storage_async_req snap_req;
	struct storage_async_req write_req;
};

struct snapshot_job {
	bool running;
	pid_t pid;
	uv_pipe_t pipe;
	bool pipe_open; /* reading the child's output; not closing yet */
	raft_index index;
	raft_term term;
	struct raft_conf conf;
	unsigned char *data;
	size_t len;
	size_t cap;
	struct raft_buf *buf;
	struct storage_async_req req;
};

struct node {
	uv_loop_t *loop;
	struct node_config cfg;
	struct storage *st;
	struct storage_async *async;
	struct raft *r;
	struct kv *kv;
	struct net *net;
	uv_timer_t tick;
	uv_check_t check;
	bool dirty;
	bool draining;
	bool stopping;
	int closing;
	void (*stop_cb)(void *);
	void *stop_arg;

	struct node_member members[NODE_MAX_MEMBERS * 2];
	uint32_t n_members;

	struct pending_write *writes; /* ordered by index */
	uint32_t n_writes, cap_writes;
	struct pending_read *reads;
	uint32_t n_reads, cap_reads;
	uint64_t read_ctx;
	uint32_t inflight; /* batches at the storage */

	enum raft_role role;
	raft_index last_snapshot;
	uint64_t bytes_since_snapshot; /* command bytes applied since the last snapshot began */
	struct snapshot_job snap;
	struct node_metrics m;
};

/* ---- node.c */

#define LOG_INFO 1
#define LOG_WARN 2
#define LOG_ERROR 3

/* Logs through cfg.log, or to stderr with a time stamp and the node's name. */
__attribute__((format(printf, 3, 4))) void node_logf(struct node *n, int level,
						     const char *fmt, ...);
/* A raft.h error as the node's (node.h). */
int node_raft_error(int rv);
/* One of the node's handles closed: the last frees the node (node_stop). */
void node_stop_step(struct node *n);

/* ---- The seam (node_io.c): all the driver knows of time, the disk and the wire */

/* The loop's time, for deadlines. */
uint64_t node_now_ms(const struct node *n);
/* A monotonic clock in microseconds, for latencies. */
uint64_t node_now_us(void);
/* The wall clock, for the log time of commands (sessions) and seeds. */
uint64_t node_wall_ms(void);
/* Sends a Raft message to its peer (best effort, as Raft expects). */
void node_send(struct node *n, const struct raft_message *m);
/* Queues a batch's hard state, snapshot and entries at the storage, in that order; once
 * durable, node_batch_persisted(). */
void node_persist_batch(struct node *n, struct batch *b);
/* A storage failure stops the process: after a failed write or fsync the node cannot know
 * what its disk holds, and answering from state it did not persist would break Raft. */
__attribute__((noreturn)) void node_fail_stop(struct node *n, const char *what);

/* ---- The driver (node_ready.c) */

/* Runs the ready/advance loop until the core has nothing ready. */
void node_drain(struct node *n);
/* One tick: the core's timers, the requests' deadlines, then drain. */
void node_on_tick(struct node *n);
/* A message from a peer, for the core. */
void node_on_message(struct node *n, const struct raft_message *m);
/* The storage made `b` durable: its messages go out and the core advances. */
void node_batch_persisted(struct node *n, struct batch *b);
/* Proposes a command, reserved keys allowed (node_write refuses them). */
int node_propose(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg);
/* Fail pending operations with `status`: the writes up to index `upto`; every read. */
void node_writes_fail_upto(struct node *n, raft_index upto, int status);
void node_reads_fail_all(struct node *n, int status);

/* ---- Snapshots (node_snapshot.c) */

/* Starts a snapshot job if the log has grown past the thresholds and none is running. */
void node_snapshot_maybe(struct node *n);
/* For node_stop: kills a running child; if its pipe was open, closes it and returns true:
 * node_stop_step() follows once the child is reaped. */
bool node_snapshot_cancel(struct node *n);

/* ---- The address book and membership (node_members.c) */

/* Adds or replaces a member record (dropped if the book is full). */
void node_member_put(struct node *n, const struct node_member *m);
/* Reloads the address book from the reserved keys of the store. */
void node_members_reload(struct node *n);
/* Gives the transport every address of the book. */
void node_peers_sync(struct node *n);

#endif /* CONCORD_SERVER_NODE_IMPL_H */
