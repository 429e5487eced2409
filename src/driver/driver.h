/* driver.h: the node driver: the Raft core and the kv state machine, driven against a seam. */
#ifndef CONCORD_DRIVER_DRIVER_H
#define CONCORD_DRIVER_DRIVER_H

/*
 * The driver is written once and bound twice: the server binds its seam to libuv, the
 * peer transport and the storage threads (src/server/node_io.c); a simulator binds it to
 * its network, its crash file system and simulated time. It knows nothing else of the
 * world: no loop, no socket, no file, no clock, no thread, no fork, no global.
 *
 * What the driver owns: the core (struct raft), the state machine (struct kv), the
 * pending writes and reads and their outcomes, the ready batches between the core and
 * the disk, the soft state it tracks (role), the snapshot policy and the counters.
 * What its host owns: the loop or the scheduler, timers, the disk, the wire, the
 * snapshot job's mechanics (a forked child, or a synchronous write), the address book.
 *
 * Threading: single-threaded. Every function here is called from one thread, and every
 * seam call and callback runs on it, synchronously, from within a driver call. A seam
 * call must not re-enter the driver except where said; a completion (driver_persisted,
 * driver_snapshot_written, driver_snapshot_saved) may come later, from the host's loop,
 * or at once from within the seam call that started it.
 *
 * The contract with the host, step by step:
 *   - the host calls driver_tick() once per tick, driver_step() for each message of a
 *     peer, and driver_drain() whenever driver_dirty() says there is work (e.g. once per
 *     loop iteration: several inputs then share one ready batch and one fsync);
 *   - the driver calls send() for messages (best effort), persist() for each ready batch
 *     that must reach the disk; the host makes it durable (hard state first, then the
 *     snapshot, then the entries) and calls driver_persisted(); batches complete in the
 *     order persist() gave them;
 *   - when the log has grown past the policy's thresholds the driver calls
 *     snapshot_start(); the host serializes driver_kv() as it is at that moment and calls
 *     driver_snapshot_written() with the bytes; the driver then calls snapshot_save(),
 *     and the host calls driver_snapshot_saved() once those bytes are durable;
 *   - a failure of the disk is fatal: the driver calls fail_stop(). A host may return
 *     from it (a simulator's crash); the driver is then dead: it ignores every input,
 *     refuses every request with DRIVER_ESTORAGE, and only driver_free() is left.
 */

#include "base/histogram.h"
#include "concord/raft.h"
#include "kv/kv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The outcomes a callback sees and the errors a call returns (node.h's, value for value). */
enum driver_error {
	DRIVER_OK,
	DRIVER_ENOTLEADER, /* this node does not lead */
	DRIVER_ELOST,      /* another leader's entry took the proposal's index: no effect */
	DRIVER_ETIMEOUT,   /* no outcome in time: it may or may not take effect */
	DRIVER_ESTOPPING,  /* the driver is stopping: outcome unknown */
	DRIVER_EINVAL,
	DRIVER_EBUSY, /* a leadership transfer or configuration change is under way */
	DRIVER_ETOOBIG,
	DRIVER_ESTORAGE, /* the driver failed-stop */
	DRIVER_ECONFIG,  /* configuration refused (lagging learner, no such peer, ...) */
};

/* A raft.h error as a driver error. */
int driver_raft_error(int rv);

#define DRIVER_LOG_INFO  1
#define DRIVER_LOG_WARN  2
#define DRIVER_LOG_ERROR 3

/* A ready batch on its way to the disk; the host holds it between persist() and
 * driver_persisted(), and must not touch it after. */
struct driver_batch;

/* The seam: everything the driver asks of its host. `ctx` is passed to each. */
struct driver_seam {
	void *ctx;
	/* Sends a Raft message to its peer (best effort, as Raft expects). The message is
	 * the driver's: copy what outlives the call. */
	void (*send)(void *ctx, const struct raft_message *m);
	/* Makes batch `rd` durable: its hard state, then its snapshot (if any: the hard
	 * state must be durable first, since a storage refuses a snapshot above its durable
	 * term), then its entries. Calls driver_persisted(d, b, status) when done. */
	void (*persist)(void *ctx, struct driver_batch *b, const struct raft_ready *rd);
	/* The host's clock for deadlines, in milliseconds (any origin, monotonic). */
	uint64_t (*now_ms)(void *ctx);
	/* A monotonic clock in microseconds for latencies; NULL: now_ms() * 1000. */
	uint64_t (*now_us)(void *ctx);
	/* The wall clock in milliseconds: the log time of commands (sessions expire by it). */
	uint64_t (*wall_ms)(void *ctx);
	/* Starts serializing driver_kv() as it is now (applied through `index`); the host
	 * then calls driver_snapshot_written(). Returns 0, or nonzero if it cannot start (the
	 * policy tries again later). */
	int (*snapshot_start)(void *ctx, raft_index index);
	/* Makes the snapshot durable; the host keeps `data` valid until it calls
	 * driver_snapshot_saved(d, status). */
	void (*snapshot_save)(void *ctx, raft_index index, raft_term term,
	                      const struct raft_conf *conf, const struct raft_buf *data);
	/* The durable copy of snapshot (index, term) as a buffer that does not hold the bytes
	 * in memory (the server maps the stored file), for the core to send to followers in
	 * place of its copy; NULL if there is none. Called once a snapshot is durable: taken,
	 * installed from the leader, or recovered at start. May be NULL (keep the copy). */
	struct raft_buf *(*snapshot_map)(void *ctx, raft_index index, raft_term term);
	/* The disk failed, or a leader's snapshot does not load: stop. */
	void (*fail_stop)(void *ctx, const char *why);
	/* The address book may have changed: `book` true if the reserved member keys were
	 * written (reload them from driver_kv()), false if only the configuration changed.
	 * May be NULL. */
	void (*members_changed)(void *ctx, bool book);
	/* A line for the log; may be NULL (silence). */
	void (*log)(void *ctx, int level, const char *msg);
	/* Observers for a checker (a simulator's): each ready batch as the core hands it
	 * over, before the driver acts on it; each committed entry just after the state
	 * machine applied it, before the write waiting on it learns its outcome. Neither may
	 * call the driver. May be NULL (the server's). */
	void (*observe_ready)(void *ctx, const struct raft_ready *rd);
	void (*observe_applied)(void *ctx, const struct raft_entry *e, const struct kv_reply *r);
};

struct driver_config {
	struct raft_config raft;     /* the core's, seed included */
	struct kv_config kv;         /* the same on every node */
	uint32_t request_timeout_ms; /* writes and reads give up after this */
	uint64_t snapshot_entries;   /* snapshot after this many applied entries... */
	uint64_t snapshot_bytes;     /* ...or this many bytes of applied commands (0: never) */
	uint64_t snapshot_trailing;  /* entries kept behind a snapshot for slow followers */
	/* Hung-disk detection: a batch at the host for longer than this means the disk's
	 * write or fsync has stalled. A leader then steps down (the core hands leadership
	 * to the most caught-up voter) and any node logs it and counts it (metrics): its
	 * acknowledgements wait for that disk, so it acknowledges nothing meanwhile. 0: off. */
	uint32_t disk_stall_ms;
};

struct driver;

/* Creates a driver: the state machine loaded from boot->snapshot_data (if any) and the
 * core started from `boot` (which the caller still owns and releases after). `seam` is
 * copied. Returns 0, or DRIVER_EINVAL / DRIVER_ESTORAGE with errmsg (of `len` bytes). */
int driver_new(struct driver **out, const struct driver_config *cfg, const struct driver_seam *seam,
               const struct raft_boot *boot, char *errmsg, size_t len);
/* Frees the driver. Batches still at the host are released: the host must not complete
 * them. The server frees only once its storage has completed everything. */
void driver_free(struct driver *d);
/* Refuses new work and fails what is pending with DRIVER_ESTOPPING. Completions still
 * come (batches advance, a snapshot in flight is dropped); inputs are ignored. */
void driver_stop(struct driver *d);

/* ---- Inputs from the host */

/* One tick: the core's timers, the requests' deadlines, then driver_drain(). */
void driver_tick(struct driver *d);
/* A message from a peer (stays the caller's). */
void driver_step(struct driver *d, const struct raft_message *m);
/* Whether inputs wait for driver_drain(). */
bool driver_dirty(const struct driver *d);
/* Runs the ready/advance loop until the core has nothing ready; then the snapshot
 * policy. Re-entrant calls (from a callback) return at once. */
void driver_drain(struct driver *d);
/* Batch `b` is durable (status 0) or failed (fail-stop). */
void driver_persisted(struct driver *d, struct driver_batch *b, int status);
/* The snapshot job's bytes (status 0), or its failure; the bytes are copied. */
void driver_snapshot_written(struct driver *d, int status, const void *data, size_t len);
/* The same with the bytes in a buffer, whose reference the driver takes (NULL with a
 * failure): no copy of a snapshot that may be most of the process's memory. */
void driver_snapshot_written_buf(struct driver *d, int status, struct raft_buf *buf);
/* The bytes of snapshot_save() are durable (status 0), or failed (fail-stop). */
void driver_snapshot_saved(struct driver *d, int status);

/* ---- Client operations (node.h's rules: see there) */

typedef void (*driver_write_cb)(void *arg, int status, const struct kv_reply *reply);
typedef void (*driver_read_cb)(void *arg, int status);

/* Proposes a client command: keys of the reserved keyspace are refused (DRIVER_EINVAL).
 * Returns 0 if `cb` will be called once the outcome is known, else an error at once. */
int driver_write(struct driver *d, const struct kv_cmd *cmd, driver_write_cb cb, void *arg);
/* The same, reserved keys allowed: for the host's own records (the address book). */
int driver_propose(struct driver *d, const struct kv_cmd *cmd, driver_write_cb cb, void *arg);
/* A linearizable read (ReadIndex), or with `stale` an immediate one. Returns 0 if `cb`
 * will be called (with DRIVER_OK: read driver_kv() within it), else an error at once. */
int driver_read(struct driver *d, bool stale, driver_read_cb cb, void *arg);

/* ---- Leadership and configuration (leader only; 0 once under way) */

int driver_transfer(struct driver *d, raft_id to);
int driver_step_down(struct driver *d);
int driver_change_config(struct driver *d, const struct raft_conf *target);

/* ---- Introspection */

const struct raft *driver_raft(const struct driver *d);
const struct kv *driver_kv(const struct driver *d);
/* Sets (NULL: clears) the state machine's change hook (kv.h: kv_watch_hook_set); it
 * stays across snapshot installs. */
void driver_watch_hook_set(struct driver *d, const struct kv_watch_hook *hook);
uint64_t driver_writes_pending(const struct driver *d);
uint64_t driver_reads_pending(const struct driver *d);
/* Batches handed to persist() and not yet completed. */
uint32_t driver_inflight(const struct driver *d);
/* Whether a snapshot job is under way (started, not yet saved or dropped). */
bool driver_snapshotting(const struct driver *d);
/* Whether the driver failed-stop. */
bool driver_failed(const struct driver *d);

struct driver_metrics {
	uint64_t proposals; /* writes proposed */
	uint64_t proposals_ok;
	uint64_t proposals_lost;
	uint64_t proposals_timeout;
	uint64_t reads;
	uint64_t reads_ok;
	uint64_t ready_batches;
	uint64_t storage_writes; /* batches given to persist() */
	uint64_t snapshots;
	uint64_t elections_won;
	uint64_t commit_latency_us_sum; /* proposal to apply, for acknowledged writes */
	uint64_t commit_latency_count;
	/* Times the known leader changed to another node (etcd's leader_changes_seen: none
	 * to some counts, some to none does not). */
	uint64_t leader_changes;
	/* Hung-disk detection (driver_config.disk_stall_ms): times the disk was found
	 * stalled, and whether it is now. */
	uint64_t disk_stalls;
	uint64_t disk_stalled;
	struct histogram commit_seconds;   /* proposal to apply, acknowledged writes */
	struct histogram apply_seconds;    /* one entry into the store */
	struct histogram snapshot_seconds; /* a snapshot job, start to saved */
};

void driver_metrics(const struct driver *d, struct driver_metrics *out);
/* Whether the oldest batch at the host is older than disk_stall_ms (as of the last tick). */
bool driver_disk_stalled(const struct driver *d);

#endif /* CONCORD_DRIVER_DRIVER_H */
