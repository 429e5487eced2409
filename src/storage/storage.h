/* storage.h: a node's durable state: data directory, write-ahead log, snapshots, recovery. */
#ifndef CONCORD_STORAGE_STORAGE_H
#define CONCORD_STORAGE_STORAGE_H

/*
 * One data directory per node (docs/storage.md, docs/disk-format.md):
 *
 *   DIR/meta        format version, cluster id, node id, term, vote, bootstrap configuration
 *   DIR/wal/        log segments: closed <first>-<last>, and the open (preallocated) one
 *   DIR/snap/       snapshot-<index>-<term>: checksummed state machine snapshots
 *
 * This is the synchronous API; the simulator and tests use it directly, the server through
 * the group-commit layer (async.h), which calls it from its writer thread. A storage object
 * belongs to one thread at a time.
 *
 * Durability. storage_set_hard_state() and storage_snapshot_put() are durable when they
 * return. storage_append() only writes; storage_sync() makes every append since the
 * previous sync durable with one fdatasync of the open segment (plus one fsync of DIR/wal
 * when a segment was created or renamed). That is group commit: append the entries of
 * every batch at hand, sync once, then acknowledge them all (raft_advance, in order).
 * Nothing is durable before the sync returns 0.
 *
 * Fail-stop. After a write, sync or rename fails, the storage refuses every further call
 * with STORAGE_EFAILED: after a failed fsync the page cache no longer tells what is on the
 * disk, so the node must stop and recover from what the disk holds. storage_errmsg() names
 * the file, the operation and errno ("disk full" for ENOSPC).
 */

#include "concord/raft.h"
#include "storage/error.h"
#include "storage/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct storage;

#define STORAGE_SEGMENT_SIZE_DEFAULT_BYTES ((uint64_t)64 << 20)
#define STORAGE_SEGMENT_SIZE_MIN_BYTES     ((uint64_t)4096)
#define STORAGE_NOTES_SIZE                 2048

struct storage_options {
	/* Recorded when the directory is created; afterwards a non-zero value must match
	 * what is recorded (STORAGE_EMISMATCH otherwise). */
	uint64_t cluster_id;
	raft_id node_id;
	/* Recorded when the directory is created and returned by every recovery that
	 * finds no snapshot. NULL: the empty configuration (the node waits for a leader). */
	const struct raft_conf *bootstrap_conf;
	/* Create the directory (one level) and its files if it holds no meta file. */
	bool create;
	/* Size at which the open segment is closed and a new one preallocated; 0 for
	 * STORAGE_SEGMENT_SIZE_DEFAULT_BYTES. Simulations use small segments. */
	uint64_t segment_size_bytes;
	/* The node is one member of a cluster whose other members hold the log too. Damage
	 * to entries this node had made durable (so may have acknowledged) is then not a
	 * refusal: recovery keeps the log before the damage, discards the rest, and sets
	 * rec->catch_up, with which the node must boot (raft_boot.catch_up) and fetch the
	 * lost range from the leader before voting again. Without it (a single node, or
	 * tools), such damage refuses to start, naming file and offset. */
	bool repair_from_peers;
};

/* What recovery found; fills a struct raft_boot (storage_recovered_boot) and the state
 * machine (snapshot_data). */
struct storage_recovered {
	uint64_t cluster_id;
	raft_id node_id;
	struct raft_hard_state hard_state;
	raft_index snapshot_index; /* 0: no snapshot */
	raft_term snapshot_term;
	struct raft_conf conf;          /* the snapshot's, or the bootstrap one */
	struct raft_buf *snapshot_data; /* one reference; NULL if none or empty */
	struct raft_entry *entries;     /* snapshot_index + 1, ... ; each holds one reference
	                                   to its payload */
	uint32_t n_entries;
	bool created; /* this open created the directory */
	/* Damage to durable entries was found and cut off (opts->repair_from_peers): boot
	 * catching up to at least catch_up_to; `damage` names the file, offset and what was
	 * found. */
	bool catch_up;
	raft_index catch_up_to;
	char damage[STORAGE_ERRMSG_SIZE];
	/* Repairs recovery made, one per line: a torn write cut off, leftovers of an
	 * interrupted truncation or snapshot install. Empty when the directory was clean.
	 * The caller logs it. */
	char notes[STORAGE_NOTES_SIZE];
};

/* Points `boot` at `rec` (entries are shared, not copied: keep `rec` until raft_new
 * returned, which takes its own references). boot->applied = snapshot_index. */
void storage_recovered_boot(const struct storage_recovered *rec, struct raft_boot *boot);

/* Drops the references `rec` holds and frees its entries array. */
void storage_recovered_release(struct storage_recovered *rec);

/* Opens (and with opts->create, creates) the data directory `dir` through `io`, recovers
 * its content into *rec and leaves the storage ready to append after the last recovered
 * entry. Recovery loads the newest valid snapshot, replays the segments after it, cuts a
 * torn write off the end of the newest open segment, finishes an interrupted truncation,
 * rotation or snapshot install, and refuses with STORAGE_ECORRUPT (errmsg naming file and
 * offset) anything a crash cannot explain. `io` must outlive the storage.
 * Returns 0, or an error with errmsg[STORAGE_ERRMSG_SIZE] filled and nothing to free. */
int storage_open(struct storage **out, struct sio *io, const char *dir,
                 const struct storage_options *opts, struct storage_recovered *rec, char *errmsg);

/* Closes the files and frees the storage. Syncs nothing: what was not synced may or may
 * not survive, as after a crash. NULL-safe. */
void storage_close(struct storage *st);

/* Makes `hs` the durable hard state (Figure 2: currentTerm, votedFor) before returning.
 * The term may not decrease, nor the vote change within a term (STORAGE_EINVAL). */
int storage_set_hard_state(struct storage *st, const struct raft_hard_state *hs);

/* Appends entries[0..n) after discarding every stored entry with index >=
 * entries[0].index (raft.h's ready contract; the rare conflicting-suffix path truncates
 * segments physically). Indexes must be consecutive, from at most last_index + 1 and
 * above the snapshot; terms must not decrease and not exceed the hard state's term
 * (persist the hard state of a batch before its entries). Payloads are read, not
 * retained. Not durable until storage_sync(). */
int storage_append(struct storage *st, const struct raft_entry *entries, uint32_t n);

/* Makes everything appended so far durable. */
int storage_sync(struct storage *st);

/* A whole ready batch, synchronously: the hard state (if any), the entries, one sync.
 * When it returns 0 the caller may send rd->persisted_messages and call raft_advance. */
int storage_persist_ready(struct storage *st, const struct raft_ready *rd);

enum {
	/* The snapshot replaces the log (a snapshot installed from the leader): every
	 * entry is discarded and the next append must be index + 1. Without it, the
	 * snapshot compacts the log (taken locally at an applied index the log holds). */
	STORAGE_SNAPSHOT_DISCARD_LOG = 1 << 0,
	/* The snapshot was taken locally to compact the log: storage_async may write its
	 * file on its snapshot thread and complete it after writes queued later. A leader's
	 * snapshot never carries it, even one that keeps the log: the batch that brings it
	 * also brings entries, and the batch is done only once all of it is durable, in
	 * order. storage_snapshot_put() itself ignores the flag. */
	STORAGE_SNAPSHOT_COMPACT = 1 << 1,
};

/* Writes a snapshot covering the log up to `index` (of term `term`) with configuration
 * `conf` and the state machine's `len` bytes at `data`, durably; then deletes older
 * snapshots and every closed segment the snapshot wholly covers. */
int storage_snapshot_put(struct storage *st, raft_index index, raft_term term,
                         const struct raft_conf *conf, const void *data, size_t len,
                         unsigned flags);

/* A compaction snapshot (no STORAGE_SNAPSHOT_DISCARD_LOG) in three steps, so that its
 * file is written on another thread while the owner keeps appending:
 *
 *   prepare  (owner thread) checks the request as storage_snapshot_put() would;
 *   run      (any thread) writes, fsyncs and renames the file and fsyncs DIR/snap. It
 *            touches no storage state: meanwhile the owner may append, sync, set the
 *            hard state, but not truncate the log below `index` nor put another snapshot;
 *   finish   (owner thread, no sync ticket running) records the outcome: a failure stops
 *            the storage; a success compacts the log and deletes the older snapshot.
 *
 * storage_snapshot_put() without the flag is prepare + run + finish. `data` must stay
 * valid until run returned. */
struct storage_snapshot_job {
	struct sio *io;
	const char *snap_dir;
	raft_index index;
	raft_term term;
	struct raft_conf conf;
	const void *data;
	size_t len;
	const char *file; /* NULL, or a finished snapshot file that run moves in */
};

int storage_snapshot_job_prepare(struct storage *st, struct storage_snapshot_job *j,
                                 raft_index index, raft_term term, const struct raft_conf *conf,
                                 const void *data, size_t len);
/* The same for a snapshot some other process already wrote, checked and fsync'd as a
 * whole file (snap_write_stream() into a directory of the same file system): run renames
 * `file` into DIR/snap and fsyncs the directory. `len` is its data's size; `file` must
 * stay valid until run returned. */
int storage_snapshot_job_prepare_file(struct storage *st, struct storage_snapshot_job *j,
                                      raft_index index, raft_term term,
                                      const struct raft_conf *conf, size_t len, const char *file);
/* Returns 0 or an error with errmsg[STORAGE_ERRMSG_SIZE] filled. */
int storage_snapshot_job_run(const struct storage_snapshot_job *j, char *errmsg);
/* rv, errmsg: what run returned. Returns 0 or the error that stopped the storage. */
int storage_snapshot_job_finish(struct storage *st, const struct storage_snapshot_job *j, int rv,
                                const char *errmsg);

/* The data of stored snapshot (index, term) as a buffer backed by its file, mapped
 * read-only rather than held in memory (snap_map.c says what is checked and why); one
 * reference. Touches no storage state but the directory's name: any thread. Only for a
 * storage on the real file system. Returns 0, STORAGE_ECORRUPT or STORAGE_EIO (errmsg
 * says why; the caller keeps its copy in memory). */
int storage_snapshot_map(const struct storage *st, raft_index index, raft_term term,
                         struct raft_buf **out, char *errmsg);
/* The same for the snapshot file at `path`, of any name. */
int storage_snapshot_map_path(const char *path, raft_index index, raft_term term,
                              struct raft_buf **out, char *errmsg);

/* 0 while working; the error that stopped the storage after a failure. */
int storage_failed(const struct storage *st);
/* The message of the last error (empty if none). */
const char *storage_errmsg(const struct storage *st);

/* Introspection. */
raft_index storage_last_index(const struct storage *st);
raft_index storage_snapshot_index(const struct storage *st);
struct raft_hard_state storage_hard_state(const struct storage *st);
uint32_t storage_closed_segments(const struct storage *st);

/* ---- Group commit support (async.c). A sync is split in three so that a second thread
 * can run the fdatasync while the owner thread keeps appending:
 *
 *   prepare   (owner thread) captures what needs syncing and marks it clean;
 *   run       (any thread) performs the syncs. It touches no storage state, so meanwhile
 *             the owner may call storage_append() for appends storage_append_is_plain()
 *             approved, and nothing else;
 *   finish    (owner thread) records the outcome (a failure stops the storage).
 *
 * storage_sync() is prepare + run + finish. A segment filled by an append is retired: it
 * stays open-<seq> until the next ticket runs, which trims it, fdatasyncs it, closes it and
 * only then renames it <first>-<last>, so the writer never waits for that fdatasync and a
 * closed name never points at content that is not durable. */

#define STORAGE_RETIRED_MAX 8

struct storage_retired {
	int fd;
	uint64_t seq;
	raft_index first;
	raft_index last;
	uint64_t used_bytes;
};

struct storage_sync_ticket {
	struct sio *io;
	const char *wal_dir;
	int fd; /* the open segment's descriptor, if sync_fd */
	uint64_t seq;
	bool sync_fd;
	bool sync_dir;
	uint32_t n_retired;
	struct storage_retired retired[STORAGE_RETIRED_MAX];
	raft_index last_index; /* everything up to here is durable once run returns 0 */
};

void storage_sync_prepare(struct storage *st, struct storage_sync_ticket *t);
/* Merges a later ticket into an earlier one that has not run. Returns false if the
 * merged ticket would retire too many segments (then run `into` first). */
bool storage_sync_ticket_merge(struct storage_sync_ticket *into,
                               const struct storage_sync_ticket *later);
/* Returns 0 or an error with errmsg[STORAGE_ERRMSG_SIZE] filled. Closes the retired
 * segments' descriptors whatever happens. */
int storage_sync_run(struct storage_sync_ticket *t, char *errmsg);
/* For a ticket that will not run (the storage failed): closes its retired descriptors. */
void storage_sync_ticket_discard(struct storage_sync_ticket *t);
void storage_sync_finish(struct storage *st, int rv, const char *errmsg);
/* A ticket ran successfully: its entries are durable (any thread; the recorded durable
 * end written into meta reads it). */
void storage_sync_done(struct storage *st, const struct storage_sync_ticket *t);

/* True if appending entries[0..n) only appends: no truncation, and no more segments to
 * retire than a ticket holds. Such appends may overlap a ticket's run. */
bool storage_append_is_plain(const struct storage *st, const struct raft_entry *entries,
                             uint32_t n);

/* ---- Offline inspection (concord-wal): reads a directory without changing it. */

struct storage_inspect_visitor {
	void *ctx;
	void (*on_meta)(void *ctx, const char *path, uint64_t cluster_id, raft_id node_id,
	                const struct raft_hard_state *hs, const struct raft_conf *conf);
	void (*on_snapshot)(void *ctx, const char *path, raft_index index, raft_term term,
	                    const struct raft_conf *conf, uint64_t data_size_bytes);
	void (*on_segment)(void *ctx, const char *path, bool open, raft_index first,
	                   raft_index last, uint64_t n_records, uint64_t size_bytes);
	void (*on_record)(void *ctx, const char *path, uint64_t offset, const struct raft_entry *e);
	/* A finding recovery repairs by itself (torn tail, leftovers), one line. */
	void (*on_note)(void *ctx, const char *note);
	/* Damage to durable data that a cluster member repairs from its peers (it starts
	 * catching up to `catch_up_to`) and a single node refuses; then inspection goes on
	 * as a repairing open would, and returns STORAGE_ECORRUPT with this message. */
	void (*on_damage)(void *ctx, const char *damage, raft_index catch_up_to);
};

/* Runs recovery's checks over `dir` without changing anything. Returns 0 if the directory
 * would open (possibly after the repairs reported through on_note), or the error
 * storage_open would return, with errmsg[STORAGE_ERRMSG_SIZE] filled. Any callback may be
 * NULL. */
int storage_inspect(struct sio *io, const char *dir, const struct storage_inspect_visitor *v,
                    char *errmsg);

#endif /* CONCORD_STORAGE_STORAGE_H */
