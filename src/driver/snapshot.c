/* snapshot.c: the snapshot policy, and the completions of the host's snapshot job. */
#include "driver/impl.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>

/*
 * When: once the applied log has grown past snapshot_entries entries or snapshot_bytes
 * bytes of commands since the last snapshot, and no job is running. How: the host's
 * (a forked child in the server, a synchronous write in a simulator), behind
 * snapshot_start(), driver_snapshot_written(), snapshot_save() and driver_snapshot_saved().
 */

void driver_snapshot_maybe(struct driver *d)
{
	struct snapshot_job *j = &d->snap;
	if (j->running || d->stopping)
		return;
	raft_index applied = kv_applied_index(d->kv);
	bool entries = applied >= d->last_snapshot + d->cfg.snapshot_entries;
	bool bytes = d->cfg.snapshot_bytes > 0 && d->bytes_since_snapshot >= d->cfg.snapshot_bytes;
	if (!entries && !bytes)
		return;
	if (raft_applied_index(d->r) != applied)
		return;
	if (raft_snapshot_meta(d->r, applied, &j->term, &j->conf) != 0)
		return;
	/* Marked running first: the host may complete the job from within the call. */
	j->running = true;
	j->saving = false;
	j->index = applied;
	j->start_us = driver_now_us(d);
	if (d->seam.snapshot_start(d->seam.ctx, applied) != 0) {
		j->running = false;
		return;
	}
	d->bytes_since_snapshot = 0;
}

static void job_end(struct driver *d)
{
	struct snapshot_job *j = &d->snap;
	raft_buf_unref(j->buf);
	j->buf = NULL;
	j->running = false;
	j->saving = false;
}

void driver_snapshot_written(struct driver *d, int status, const void *data, size_t len)
{
	bool ok = status == 0 && len > 0;
	driver_snapshot_written_buf(d, ok ? 0 : -1, ok ? raft_buf_new(data, len) : NULL);
}

void driver_snapshot_written_buf(struct driver *d, int status, struct raft_buf *buf)
{
	struct snapshot_job *j = &d->snap;
	assert(j->running && !j->saving && j->buf == NULL);
	/* The job holds the reference from here on: job_end() drops it. */
	j->buf = status == 0 ? buf : NULL;
	if (status != 0)
		raft_buf_unref(buf);
	if (d->stopping) {
		job_end(d);
		return;
	}
	if (j->buf == NULL || j->buf->len == 0) {
		driver_logf(d, DRIVER_LOG_WARN, "snapshot at %" PRIu64 " failed in the job",
		            j->index);
		job_end(d);
		return;
	}
	/* A leader's snapshot installed while the job wrote makes this one older than what
	 * the storage holds now. */
	if (j->index <= d->last_snapshot) {
		driver_logf(d, DRIVER_LOG_INFO,
		            "snapshot at %" PRIu64 " dropped: a snapshot at %" PRIu64
		            " was installed meanwhile",
		            j->index, d->last_snapshot);
		job_end(d);
		return;
	}
	j->saving = true;
	d->seam.snapshot_save(d->seam.ctx, j->index, j->term, &j->conf, j->buf);
}

/* How many entries to keep behind a snapshot at `index`: snapshot_trailing, but no more
 * than a quarter of snapshot_bytes of commands, so that a log of large entries (MSETs of
 * hundreds of keys) does not keep a second copy of the data in memory. */
static raft_index trailing_for(const struct driver *d, raft_index index)
{
	uint64_t max_bytes = d->cfg.snapshot_bytes / 4;
	if (max_bytes == 0)
		return d->cfg.snapshot_trailing;
	uint64_t bytes = 0;
	raft_index n = 0;
	while (n < d->cfg.snapshot_trailing && n < index) {
		const struct raft_entry *e = raft_entry_at(d->r, index - n);
		if (e == NULL)
			break;
		bytes += raft_entry_len(e);
		if (bytes > max_bytes)
			break;
		n++;
	}
	return n;
}

void driver_snapshot_saved(struct driver *d, int status)
{
	struct snapshot_job *j = &d->snap;
	if (d->failed)
		return;
	assert(j->running && j->saving && j->buf != NULL);
	if (status != 0) {
		driver_fail(d, "a snapshot did not persist");
		return;
	}
	if (!d->stopping) {
		int rv = raft_snapshot_taken(d->r, j->index, j->buf, trailing_for(d, j->index));
		if (rv != 0)
			driver_logf(d, DRIVER_LOG_WARN, "snapshot at %" PRIu64 " not used: %s",
			            j->index, raft_strerror(rv));
		else
			driver_logf(d, DRIVER_LOG_INFO,
			            "snapshot at index %" PRIu64 " (%" PRIu32 " bytes) stored",
			            j->index, j->buf->len);
		if (rv == 0)
			driver_snapshot_map(d, j->index);
	}
	if (j->index > d->last_snapshot)
		d->last_snapshot = j->index;
	d->m.snapshots++;
	histogram_observe_us(&d->m.snapshot_seconds, driver_now_us(d) - j->start_us);
	job_end(d);
}

void driver_snapshot_map(struct driver *d, raft_index index)
{
	if (d->seam.snapshot_map == NULL || index == 0 || index != raft_snapshot_index(d->r))
		return;
	struct raft_buf *b = d->seam.snapshot_map(d->seam.ctx, index, raft_term_at(d->r, index));
	if (b == NULL)
		return;
	int rv = raft_snapshot_data_replace(d->r, index, b);
	raft_buf_unref(b);
	if (rv != 0)
		driver_logf(d, DRIVER_LOG_WARN,
		            "the stored snapshot at %" PRIu64 " does not match the core's: %s",
		            index, raft_strerror(rv));
}

void driver_snapshot_installed(struct driver *d, raft_index index)
{
	d->last_snapshot = index;
}
