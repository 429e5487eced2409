/* impl.h: the driver's private state and the internal functions its files share. */
#ifndef CONCORD_DRIVER_IMPL_H
#define CONCORD_DRIVER_IMPL_H

/*
 * The driver is cut by concern:
 *   driver.c   create and free, stop, fail-stop, logging, leadership and configuration,
 *              introspection;
 *   ready.c    the ready/advance loop, apply, pending writes and reads with the
 *              proposal-outcome rule, timeouts, proposals;
 *   snapshot.c the snapshot policy and the completions of the host's snapshot job.
 */

#include "driver/driver.h"

#include <stdbool.h>
#include <stdint.h>

struct pending_write {
	raft_index index;
	raft_term term;
	driver_write_cb cb;
	void *arg;
	uint64_t deadline_ms;
	uint64_t start_us;
};

struct pending_read {
	uint64_t ctx;
	raft_index index;
	bool confirmed;
	raft_index after; /* also wait for this index: a stamp of the log clock (expiry.c) */
	driver_read_cb cb;
	void *arg;
	uint64_t deadline_ms;
};

struct driver_batch {
	struct raft_ready rd;
	struct driver_batch *next; /* the next batch at the host, in persist() order */
	uint64_t handed_ms;        /* driver_now_ms() when persist() got it */
};

/* The snapshot job, as far as the driver knows it. */
struct snapshot_job {
	bool running; /* from snapshot_start() to the end of the job */
	bool saving;  /* snapshot_save() called, driver_snapshot_saved() not yet */
	raft_index index;
	raft_term term;
	struct raft_conf conf;
	struct raft_buf *buf;
	uint64_t start_us; /* driver_now_us() when the job started */
};

struct driver {
	struct driver_config cfg;
	struct driver_seam seam;
	struct raft *r;
	struct kv *kv;
	bool dirty;
	bool draining;
	bool stopping;
	bool failed;

	struct pending_write *writes; /* ordered by index */
	uint32_t n_writes, cap_writes;
	struct pending_read *reads; /* ordered by ctx */
	uint32_t n_reads, cap_reads;
	uint64_t read_ctx;

	struct driver_batch *head, *tail; /* at the host, oldest first */
	uint32_t inflight;
	bool disk_stalled;    /* the oldest batch at the host is older than disk_stall_ms */
	uint32_t stall_ticks; /* ticks since the stall was found */

	enum raft_role role;
	raft_id leader; /* as of the last soft state */
	raft_index last_snapshot;
	uint64_t bytes_since_snapshot; /* command bytes applied since the last snapshot began */
	struct snapshot_job snap;
	struct driver_metrics m;

	/* Expiry (expiry.c). */
	bool reaping;           /* a reaper proposal is in flight */
	raft_index clock_index; /* the last stamp proposed for reads, */
	uint64_t clock_mono;    /* its stamp */
	raft_term clock_term;   /* and its term */
};

/* ---- driver.c */

__attribute__((format(printf, 3, 4))) void driver_logf(struct driver *d, int level, const char *fmt,
                                                       ...);
/* Fail-stop: marks the driver dead, then tells the host (which may not return). */
void driver_fail(struct driver *d, const char *why);
uint64_t driver_now_ms(struct driver *d);
uint64_t driver_now_us(struct driver *d);

/* ---- ready.c */

/* Fail pending operations with `status`: the writes up to index `upto`; every read. */
void driver_writes_fail_upto(struct driver *d, raft_index upto, int status);
void driver_reads_fail_all(struct driver *d, int status);
/* Advances and frees the batches still at the host (driver_free). */
void driver_batches_release(struct driver *d);

/* driver_propose, telling the index of the proposal (callbacks it runs may propose more). */
int driver_propose_index(struct driver *d, const struct kv_cmd *cmd, driver_write_cb cb, void *arg,
                         raft_index *index);

/* ---- expiry.c */

/* The leader's clock as it stamps commands (never 0). */
uint64_t driver_mono_stamp(struct driver *d);
/* Per tick on the leader: proposes what expired (bounded), or the first stamp of its
 * term that starts the log clock. */
void driver_expiry_tick(struct driver *d);
/* A linearizable read on the leader: if a deadline lies between the log clock and the
 * leader's clock now, the read must also wait for a stamp proposed now (*after, else
 * 0). Returns 0 or a driver error. */
int driver_expiry_read(struct driver *d, raft_index *after);

/* ---- snapshot.c */

/* Starts a snapshot job if the log has grown past the thresholds and none is running. */
void driver_snapshot_maybe(struct driver *d);
/* The core's snapshot at `index` is durable: swap its bytes for the host's stored copy
 * (seam.snapshot_map), if the host has one and the core's snapshot is still that one. */
void driver_snapshot_map(struct driver *d, raft_index index);
/* A leader's snapshot at `index` replaced the state machine. */
void driver_snapshot_installed(struct driver *d, raft_index index);

#endif /* CONCORD_DRIVER_IMPL_H */
