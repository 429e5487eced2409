/* node_impl.h: the node's private state (the driver's host) and the functions its files share. */
#ifndef CONCORD_SERVER_NODE_IMPL_H
#define CONCORD_SERVER_NODE_IMPL_H

/*
 * The node is the host of one driver (src/driver/driver.h), which holds the core, the
 * state machine and the pending requests. The node's files are cut by concern:
 *   node.c          configuration, start and stop, logging;
 *   node_ops.c      node.h's operations, status and counters, delegated to the driver;
 *   node_io.c       the driver's seam bound to libuv, the storage threads and the
 *                   transport, and the loop's callbacks that feed the driver;
 *   node_snapshot.c the snapshot job behind the seam: a forked child and its pipe;
 *   node_members.c  the address book and membership changes;
 *   node_backup.c   backups: a forked child writes a snapshot file for a client;
 *   node_removed.c  a removed member learns it from its configuration and stops.
 */

#include "driver/driver.h"
#include "server/node.h"
#include "storage/async.h"
#include "storage/io.h"
#include "storage/snap.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

/* The forked child serializing the state machine, and what it wrote. */
struct snapshot_child {
	pid_t pid;
	uv_pipe_t pipe;
	bool pipe_open; /* reading the child's output; not closing yet */
	raft_index index;
	raft_term term;
	char file[SIO_PATH_MAX]; /* the child's snapshot file, DIR/snap/...child */
	unsigned char *data;     /* what the child said on the pipe: an error */
	size_t len;
	size_t cap;
	struct storage_async_req req; /* moving the file in (snapshot_save) */
};

struct node {
	uv_loop_t *loop;
	struct node_config cfg;
	struct storage *st;
	struct sio_faulty disk; /* the storage's I/O: the real file system, stallable */
	struct storage_async *async;
	struct driver *d;
	struct net *net;
	uv_timer_t tick;
	uv_check_t check;
	bool stopping;
	int closing;
	void (*stop_cb)(void *);
	void *stop_arg;

	struct node_member members[NODE_MAX_MEMBERS * 2];
	uint32_t n_members;

	struct snapshot_child snap;
	struct node_backup *backups; /* backups being written (node_backup.c) */

	/* Publishing this node's own addresses in the replicated address book
	 * (node_members.c): ticks until the next check, a write under way. */
	uint32_t publish_wait;
	bool publishing;

	/* Removal (node_removed.c): whether this node saw itself in the configuration in
	 * force, and the index of the committed configuration that removed it (0: none). */
	bool was_member;
	raft_index removed_at;
	/* Members seen in a configuration this process held, so that one left out of the
	 * committed configuration can be told so when it dials (node_peer_removed); and a
	 * peer's word that this member was removed, acted on at the next tick. */
	struct {
		raft_id id;
		bool dropped; /* its links were closed once it left the committed configuration */
	} seen[2 * RAFT_MAX_MEMBERS];
	uint32_t n_seen;
	raft_index seen_conf_index;
	raft_index told_removed_at;
	raft_id told_removed_by;

	/* When a message from each peer last arrived (uv_now), for /metrics (node_disk.c). */
	struct {
		raft_id id;
		uint64_t at_ms;
	} heard[NODE_MAX_MEMBERS * 2];
};

/* ---- node.c */

#define LOG_INFO  DRIVER_LOG_INFO
#define LOG_WARN  DRIVER_LOG_WARN
#define LOG_ERROR DRIVER_LOG_ERROR

/* Logs through cfg.log, or to stderr with a time stamp and the node's name. */
__attribute__((format(printf, 3, 4))) void node_logf(struct node *n, int level, const char *fmt,
                                                     ...);
/* One of the node's handles closed: the last frees the node (node_stop). */
void node_stop_step(struct node *n);

/* ---- node_members.c */

/* Every few ticks: if this node leads and the address book lacks its own addresses (or
 * holds others), it writes them. */
void node_members_publish_tick(struct node *n);

/* ---- The seam (node_io.c) */

/* The wall clock, for the log time of commands (sessions) and seeds. */
uint64_t node_wall_ms(void);
/* Fills `seam` with the node's bindings (ctx: `n`). */
void node_seam(struct node *n, struct driver_seam *seam);
/* The loop's callbacks feeding the driver; `ctx` is the node. */
void node_on_check(uv_check_t *h);
void node_on_tick(uv_timer_t *t);
void node_on_message(void *ctx, const struct raft_message *m);

/* ---- The snapshot job (node_snapshot.c), behind the seam's snapshot calls */

int node_snapshot_start(void *ctx, raft_index index);
void node_snapshot_save(void *ctx, raft_index index, raft_term term, const struct raft_conf *conf,
                        const struct raft_buf *data);
/* For node_stop: kills a running child; if its pipe was open, closes it and returns true:
 * node_stop_step() follows once the child is reaped. */
bool node_snapshot_cancel(struct node *n);

/* ---- Removal (node_removed.c) */

/* Every tick: if a committed configuration left this member out, mark it removed, log
 * it and tell cfg.removed (once). */
void node_removed_tick(struct node *n);
/* The transport's hooks (net_config.peer_removed and .on_removed): whether dialer `id`
 * was removed by the committed configuration (its index in *index), and a peer telling
 * this member it was removed by the configuration at `index`. */
bool node_peer_removed(void *ctx, raft_id id, uint64_t *index);
void node_told_removed(void *ctx, raft_id by, uint64_t index);

/* ---- Peers (node_disk.c) */

/* A message from `id` arrived now. */
void node_peer_heard(struct node *n, raft_id id);

/* ---- Backups (node_backup.c) */

/* For node_stop: kills every backup child and closes its pipe; returns how many pipes
 * close (each calls node_stop_step() once its child is reaped). */
int node_backup_stop_all(struct node *n);
/* At start: removes the job directories a crash left under DIR/backup (logged). */
void node_backup_clean(struct node *n);
/* A forked child's end: on failure (rv != 0) it writes `err` to its pipe `fd` for the
 * parent to log; the exit status says which. */
_Noreturn void node_child_exit(int fd, int rv, const char *err);
/* A snap_produce_fn that streams the kv store `arg` (a forked child's). */
int node_produce_kv(const void *arg, snap_write_fn write, void *warg);

/* ---- The address book and membership (node_members.c) */

/* Adds or replaces a member record (dropped if the book is full). */
void node_member_put(struct node *n, const struct node_member *m);
/* Reloads the address book from the reserved keys of the store. */
void node_members_reload(struct node *n);
/* Gives the transport every address of the book. */
void node_peers_sync(struct node *n);

#endif /* CONCORD_SERVER_NODE_IMPL_H */
