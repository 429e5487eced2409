/* disk.c: the simulator's model disk. Batches become durable only when their fsync
 * completes; a crash keeps a random prefix of what was still in flight, as a real
 * page cache may have written some of it back. */
#include "sim/internal.h"

#include <stdlib.h>
#include <string.h>

void disk_init(struct sim *s, struct node *nd)
{
	(void)s;
	memset(&nd->disk, 0, sizeof(nd->disk));
}

static void durable_truncate(struct disk *d, raft_index from)
{
	while (d->n_log >= from && d->n_log > 0) {
		raft_buf_unref(d->log[d->n_log - 1].buf);
		d->n_log--;
	}
}

static void durable_append(struct disk *d, const struct raft_entry *e)
{
	assert(e->index == d->n_log + 1);
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

/* Makes the first `n_entries` entries of batch `rd` (and its hard state, if `hs`)
 * durable. */
static void make_durable(struct disk *d, const struct raft_ready *rd, uint32_t n_entries, bool hs)
{
	if (hs && rd->has_hard_state)
		d->hs = rd->hard_state;
	if (n_entries > 0) {
		/* The contract: drop stored entries from the first index, then append. */
		durable_truncate(d, rd->entries[0].index);
		for (uint32_t i = 0; i < n_entries; i++)
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

void disk_load(struct sim *s, struct node *nd, struct raft_boot *boot)
{
	memset(boot, 0, sizeof(*boot));
	boot->hard_state = nd->disk.hs;
	boot->entries = nd->disk.log;
	boot->n_entries = (uint32_t)nd->disk.n_log;
	boot->conf.n_voters = s->n;
	for (uint32_t i = 0; i < s->n; i++)
		boot->conf.voters[i] = i + 1;
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
	durable_truncate(d, 1);
	free(d->log);
	free(d->pending);
	memset(d, 0, sizeof(*d));
}
