/* disk.c: the simulator's model disk. Batches become durable only when their fsync
 * completes; a crash keeps a random prefix of what was still in flight, as a real
 * page cache may have written some of it back. Snapshots replace the log they cover. */
#include "sim/internal.h"

#include <stdlib.h>
#include <string.h>

void disk_init(struct sim *s, struct node *nd)
{
	(void)s;
	memset(&nd->disk, 0, sizeof(nd->disk));
	nd->disk.log_start = 1;
}

static void durable_truncate(struct disk *d, raft_index from)
{
	while (d->n_log > 0 && d->log_start + d->n_log - 1 >= from) {
		raft_buf_unref(d->log[d->n_log - 1].buf);
		d->n_log--;
	}
}

/* Drops the entries up to `index`, which a snapshot now covers. */
static void durable_compact(struct disk *d, raft_index index)
{
	uint64_t drop = 0;
	while (drop < d->n_log && d->log[drop].index <= index)
		raft_buf_unref(d->log[drop++].buf);
	if (drop > 0) {
		memmove(d->log, d->log + drop, (d->n_log - drop) * sizeof(*d->log));
		d->n_log -= drop;
	}
	if (d->n_log == 0 || d->log_start <= index)
		d->log_start = d->n_log > 0 ? d->log[0].index : index + 1;
}

static void durable_append(struct disk *d, const struct raft_entry *e)
{
	if (d->n_log == 0)
		d->log_start = e->index;
	assert(e->index == d->log_start + d->n_log);
	if (d->n_log == d->cap_log) {
		d->cap_log = d->cap_log ? d->cap_log * 2 : 64;
		d->log = realloc(d->log, d->cap_log * sizeof(*d->log));
		if (d->log == NULL)
			abort();
	}
	d->log[d->n_log] = *e;
	raft_buf_ref(e->buf);
	d->n_log++;
}

static void set_snapshot(struct disk *d, raft_index index, raft_term term,
			 const struct raft_conf *conf, struct raft_buf *data)
{
	raft_buf_unref(d->snap_data);
	d->snap_data = raft_buf_ref(data);
	d->snap_index = index;
	d->snap_term = term;
	d->snap_conf = *conf;
}

/* Makes the first `n_entries` entries of batch `rd` (and its hard state and snapshot,
 * if `meta`) durable. */
static void make_durable(struct disk *d, const struct raft_ready *rd, uint32_t n_entries,
			 bool meta)
{
	if (meta && rd->has_snapshot) {
		set_snapshot(d, rd->snapshot_index, rd->snapshot_term, &rd->snapshot_conf,
			     rd->snapshot_data);
		if (rd->snapshot_discard_log)
			durable_truncate(d, 0);
		durable_compact(d, rd->snapshot_index);
	}
	if (meta && rd->has_hard_state)
		d->hs = rd->hard_state;
	if (n_entries > 0) {
		/* The contract: drop stored entries from the first index, then append. */
		raft_index first = rd->entries[0].index;
		durable_truncate(d, first > d->snap_index ? first : d->snap_index + 1);
		for (uint32_t i = 0; i < n_entries; i++)
			if (rd->entries[i].index > d->snap_index)
				durable_append(d, &rd->entries[i]);
	}
}

void disk_submit(struct sim *s, struct node *nd, const struct raft_ready *rd)
{
	(void)s;
	struct disk *d = &nd->disk;
	struct raft_ready *copy = malloc(sizeof(*copy));
	if (copy == NULL)
		abort();
	*copy = *rd;
	if (d->n_pending == d->cap_pending) {
		d->cap_pending = d->cap_pending ? d->cap_pending * 2 : 8;
		d->pending = realloc(d->pending, d->cap_pending * sizeof(*d->pending));
		if (d->pending == NULL)
			abort();
	}
	d->pending[d->n_pending++] = copy;
}

struct raft_ready *disk_complete(struct sim *s, struct node *nd)
{
	(void)s;
	struct disk *d = &nd->disk;
	assert(d->n_pending > 0);
	struct raft_ready *rd = d->pending[0];
	memmove(d->pending, d->pending + 1, (d->n_pending - 1) * sizeof(*d->pending));
	d->n_pending--;
	make_durable(d, rd, rd->n_entries, true);
	return rd;
}

void disk_crash(struct sim *s, struct node *nd)
{
	struct disk *d = &nd->disk;
	bool surviving = true;
	for (uint32_t i = 0; i < d->n_pending; i++) {
		struct raft_ready *rd = d->pending[i];
		if (surviving && sim_rand(s, 2) == 0) {
			make_durable(d, rd, rd->n_entries, true);
		} else if (surviving) {
			/* Torn: part of this batch reached the disk, nothing after it. */
			uint32_t keep = rd->n_entries ? (uint32_t)sim_rand(s, rd->n_entries) : 0;
			make_durable(d, rd, keep, sim_rand(s, 2) == 0);
			surviving = false;
		}
		/* Release the batch without sending what it held back. */
		raft_advance(nd->r, rd);
		free(rd);
	}
	d->n_pending = 0;
}

void disk_put_snapshot(struct sim *s, struct node *nd, raft_index index, raft_term term,
		       const struct raft_conf *conf, struct raft_buf *data)
{
	(void)s;
	set_snapshot(&nd->disk, index, term, conf, data);
	durable_compact(&nd->disk, index);
}

bool disk_has(const struct node *nd, raft_index index, raft_term term)
{
	const struct disk *d = &nd->disk;
	if (d->snap_data != NULL && index <= d->snap_index)
		return index < d->snap_index || d->snap_term == term;
	if (index < d->log_start || index >= d->log_start + d->n_log)
		return false;
	return d->log[index - d->log_start].term == term;
}

void disk_load(struct sim *s, struct node *nd, struct raft_boot *boot)
{
	(void)s;
	const struct disk *d = &nd->disk;
	memset(boot, 0, sizeof(*boot));
	boot->hard_state = d->hs;
	boot->conf = d->boot_conf;
	if (d->snap_data != NULL) {
		boot->snapshot_index = d->snap_index;
		boot->snapshot_term = d->snap_term;
		boot->snapshot_data = d->snap_data;
		boot->conf = d->snap_conf;
		boot->applied = d->snap_index;
	}
	assert(d->n_log == 0 || d->log_start == boot->snapshot_index + 1);
	boot->entries = d->log;
	boot->n_entries = (uint32_t)d->n_log;
}

void disk_load_done(struct sim *s, struct node *nd, struct raft_boot *boot)
{
	(void)s;
	(void)nd;
	(void)boot;
}

void disk_free(struct sim *s, struct node *nd)
{
	(void)s;
	struct disk *d = &nd->disk;
	durable_truncate(d, 0);
	free(d->log);
	free(d->pending);
	raft_buf_unref(d->snap_data);
	memset(d, 0, sizeof(*d));
}
