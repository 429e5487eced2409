/* async.h: group commit on libuv: batches persisted off the loop thread, completed in order. */
#ifndef CONCORD_STORAGE_ASYNC_H
#define CONCORD_STORAGE_ASYNC_H

/*
 * The server's loop thread hands every ready batch (hard state + entries) to
 * storage_async_write() and goes on receiving and replicating. Two threads do the disk
 * work:
 *
 *   writer   takes every request queued so far, writes them (hard state first, durably;
 *            then the entries of consecutive batches in one write), and hands one sync
 *            ticket covering them to the sync thread; then it takes the next requests,
 *            writing them while the previous fdatasync runs;
 *   syncer   runs the ticket's fdatasync (one for every batch it covers) and moves the
 *            batches to the completed list;
 *   snapper  writes compaction snapshots' files (storage_snapshot_job_run), which the
 *            writer then finishes (compacting the log) between groups.
 *
 * Completions run on the loop thread (uv_async_t), in submission order, only after the
 * fdatasync covering the batch returned success: then the caller sends the batch's
 * persisted messages and calls raft_advance(). Batches arriving while an fsync runs go into
 * the next one. A failed write or sync completes that batch and every later one with an
 * error (fail-stop); storage_async_errmsg() names the file, operation and errno.
 *
 * Between storage_async_start() and the close callback of storage_async_stop(), the
 * storage object belongs to the writer thread: call nothing on it. Entry payloads and
 * snapshot data must stay valid and unchanged until the request's callback (a ready
 * batch's entries do, until raft_advance); the threads only read them and never touch
 * their reference counts.
 */

#include "base/histogram.h"
#include "concord/raft.h"
#include "storage/storage.h"

#include <uv.h>

struct storage_async;
struct storage_async_req;

/* Runs on the loop thread. status is 0 when the request is durable, else a STORAGE_E*. */
typedef void (*storage_async_cb)(struct storage_async_req *req, int status);

enum storage_async_kind { STORAGE_ASYNC_WRITE = 1, STORAGE_ASYNC_SNAPSHOT };

/* A request; the caller owns the memory (embed it in its own structure) until the
 * callback. Fields are set by the submitting function. */
struct storage_async_req {
	void *data; /* free for the caller */
	/* private */
	enum storage_async_kind kind;
	storage_async_cb cb;
	int status;
	struct storage_async_req *next;
	bool has_hard_state;
	struct raft_hard_state hard_state;
	const struct raft_entry *entries;
	uint32_t n_entries;
	raft_index snap_index;
	raft_term snap_term;
	struct raft_conf snap_conf;
	const void *snap_data;
	size_t snap_len;
	unsigned snap_flags;
	const char *snap_file; /* storage_async_snapshot_file()'s */
	bool snap_async;       /* a compaction snapshot handed to the snapshot thread */
	struct storage_snapshot_job snap_job;
};

/* Starts the threads on `loop` for storage `st`. Returns 0 or STORAGE_EIO. */
int storage_async_start(struct storage_async **out, uv_loop_t *loop, struct storage *st);

/* Queues the hard state (if hs != NULL) and entries[0..n) for persistence. */
void storage_async_write(struct storage_async *a, struct storage_async_req *req,
                         const struct raft_hard_state *hs, const struct raft_entry *entries,
                         uint32_t n, storage_async_cb cb);

/* The same for a ready batch: its hard state and entries. A batch that carries a
 * snapshot (rd->has_snapshot) first needs storage_async_snapshot() with
 * STORAGE_SNAPSHOT_DISCARD_LOG as rd->snapshot_discard_log says; requests complete in
 * order, so this one's callback means both are durable. */
void storage_async_write_ready(struct storage_async *a, struct storage_async_req *req,
                               const struct raft_ready *rd, storage_async_cb cb);

/* Queues storage_snapshot_put(). A compaction snapshot (STORAGE_SNAPSHOT_COMPACT) is
 * checked in order, then its file is written on a third thread, the snapshot thread, so
 * that appends and syncs queued after it never wait for that write; once the file is
 * durable the writer compacts the log and the callback runs, possibly after the callbacks
 * of writes queued later. Any other snapshot (a leader's, whether it replaces the log or
 * not) is taken in order with the writes, after every earlier snapshot finished, and
 * completes before anything queued after it. */
void storage_async_snapshot(struct storage_async *a, struct storage_async_req *req,
                            raft_index index, raft_term term, const struct raft_conf *conf,
                            const void *data, size_t len, unsigned flags, storage_async_cb cb);

/* storage_async_snapshot() of a compaction snapshot whose file is already written
 * (storage_snapshot_job_prepare_file()): the snapshot thread only moves it in. `file`
 * must stay valid until the callback. */
void storage_async_snapshot_file(struct storage_async *a, struct storage_async_req *req,
                                 raft_index index, raft_term term, const struct raft_conf *conf,
                                 size_t len, const char *file, storage_async_cb cb);

/* Lets queued requests finish (their callbacks run, here or from the loop), stops the
 * threads and closes the loop handle; then calls close_cb, after which `a` is freed and
 * the storage is the caller's again. Blocks the loop thread while the last sync runs. */
void storage_async_stop(struct storage_async *a, void (*close_cb)(void *arg), void *arg);

/* The first failure's message, or "" while none. */
const char *storage_async_errmsg(const struct storage_async *a);

/* Durations measured on the disk threads, for /metrics. */
struct storage_async_stats {
	struct histogram append_seconds; /* one group written (hard states, entries,
	                                    snapshots), before its sync */
	struct histogram fsync_seconds;  /* one sync ticket run (fdatasync of the WAL and
	                                    of what it covers) */
};

/* A copy of the durations so far, taken under the pipeline's lock. Loop thread. */
void storage_async_stats_get(struct storage_async *a, struct storage_async_stats *out);

#endif /* CONCORD_STORAGE_ASYNC_H */
