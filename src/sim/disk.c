/* disk.c: each simulated node's disk. The node's real storage (src/storage: WAL
 * segments, meta, snapshots, recovery) runs on its own in-memory crash file system, so a
 * simulated crash exercises the real recovery code. Beside it, a model records what has
 * been acknowledged durable: the oracle that every recovery is checked against, and what
 * the commit-quorum check reads. */
#include "sim/internal.h"
#include "storage/crashfs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void disk_init(struct sim *s, struct node *nd)
{
	memset(&nd->disk, 0, sizeof(nd->disk));
	nd->disk.log_start = 1;
	nd->disk.fs = crashfs_new(sim_rand(s, UINT64_MAX));
	if (nd->disk.fs == NULL)
		abort();
}

/* ---------------------------------------------------------------------------------
 * The oracle: what has been acknowledged durable
 */

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
	struct raft_buf *old = d->snap_data;
	d->snap_data = raft_buf_ref(data);
	raft_buf_unref(old);
	d->snap_index = index;
	d->snap_term = term;
	d->snap_conf = *conf;
}

/* Records batch `rd` as durable in the oracle. */
static void make_durable(struct sim *s, struct node *nd, const struct raft_ready *rd)
{
	struct disk *d = &nd->disk;
	if (rd->has_snapshot) {
		set_snapshot(d, rd->snapshot_index, rd->snapshot_term, &rd->snapshot_conf,
		             rd->snapshot_data);
		if (rd->snapshot_discard_log)
			durable_truncate(d, 0);
		durable_compact(d, rd->snapshot_index);
	}
	if (rd->has_hard_state)
		d->hs = rd->hard_state;
	if (rd->n_entries > 0) {
		raft_index first = rd->entries[0].index;
		durable_truncate(d, first > d->snap_index ? first : d->snap_index + 1);
		for (uint32_t i = 0; i < rd->n_entries; i++)
			if (rd->entries[i].index > d->snap_index)
				durable_append(d, &rd->entries[i]);
	}
	/* What the batches made durable is a log that boots: it follows the snapshot (or
	 * index 1) without a gap. */
	raft_index base = d->snap_data != NULL ? d->snap_index : 0;
	if (d->n_log > 0 && d->log_start != base + 1)
		sim_fail(s, "durable-log-gap",
		         "n%u's durable log starts at %" PRIu64 " after a snapshot at %" PRIu64,
		         nd->idx + 1, d->log_start, base);
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

static void had_clear(struct disk *d)
{
	free(d->had_terms);
	d->had_terms = NULL;
	d->n_had = 0;
	d->had = false;
}

/* Before a repair from peers resets the oracle: what it held, which the node fetches
 * again before it may vote (kept from the first such restart until it has caught up). */
static void had_save(struct disk *d)
{
	if (d->had)
		return;
	d->had = true;
	d->had_snap = d->snap_data != NULL ? d->snap_index : 0;
	d->had_first = d->log_start;
	d->n_had = d->n_log;
	d->had_terms = calloc(d->n_log ? d->n_log : 1, sizeof(*d->had_terms));
	if (d->had_terms == NULL)
		abort();
	for (uint64_t i = 0; i < d->n_log; i++)
		d->had_terms[i] = d->log[i].term;
}

/* Whether a node catching up after damage had (index, term) durable before it: a node
 * that grants no vote until it holds a leader's commit index again (raft_catching_up) is
 * still on the safe side of every election quorum for what it held (Alagappan et al.,
 * protocol-aware recovery). Once it has caught up only disk_has counts. */
bool disk_had(struct node *nd, raft_index index, raft_term term)
{
	struct disk *d = &nd->disk;
	if (!d->had)
		return false;
	if (nd->up && !raft_catching_up(node_raft(nd), NULL)) {
		had_clear(d);
		return false;
	}
	if (index <= d->had_snap)
		return true; /* a snapshot holds committed entries only (check_installed) */
	if (index < d->had_first || index >= d->had_first + d->n_had)
		return false;
	return d->had_terms[index - d->had_first] == term;
}

/* ---------------------------------------------------------------------------------
 * The real storage
 */

static void storage_failed_now(struct sim *s, struct node *nd, const char *what)
{
	struct disk *d = &nd->disk;
	if (d->failed)
		return;
	d->failed = true;
	sim_log(s, "n%u storage failed in %s: %s", nd->idx + 1, what, storage_errmsg(d->st));
}

void disk_submit(struct sim *s, struct node *nd, const struct raft_ready *rd)
{
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
	if (d->failed)
		return;
	/* Written now, durable when the simulated fsync completes (storage_sync), so that
	 * batches taken meanwhile share it: group commit, as in the server. */
	int rv = 0;
	if (rd->has_hard_state)
		rv = storage_set_hard_state(d->st, &rd->hard_state);
	if (rv == 0 && rd->has_snapshot)
		rv = storage_snapshot_put(
		    d->st, rd->snapshot_index, rd->snapshot_term, &rd->snapshot_conf,
		    rd->snapshot_data->data, rd->snapshot_data->len,
		    rd->snapshot_discard_log ? STORAGE_SNAPSHOT_DISCARD_LOG : 0);
	if (rv == 0 && rd->n_entries > 0)
		rv = storage_append(d->st, rd->entries, rd->n_entries);
	if (rv != 0)
		storage_failed_now(s, nd, "a write");
}

struct raft_ready *disk_complete(struct sim *s, struct node *nd)
{
	struct disk *d = &nd->disk;
	assert(d->n_pending > 0);
	if (!d->failed && storage_sync(d->st) != 0)
		storage_failed_now(s, nd, "fsync");
	if (d->failed)
		return NULL; /* fail-stop: nothing more is acknowledged */
	struct raft_ready *rd = d->pending[0];
	memmove(d->pending, d->pending + 1, (d->n_pending - 1) * sizeof(*d->pending));
	d->n_pending--;
	make_durable(s, nd, rd);
	return rd;
}

void disk_crash(struct sim *s, struct node *nd)
{
	struct disk *d = &nd->disk;
	/* Forget the batches in flight; the driver, freed next, releases its own. */
	for (uint32_t i = 0; i < d->n_pending; i++)
		free(d->pending[i]);
	d->n_pending = 0;
	storage_close(d->st);
	d->st = NULL;
	/* Power loss loses or tears what was not synced; a process crash keeps it. */
	static const enum crashfs_crash_mode modes[] = {CRASHFS_LOSE, CRASHFS_TEAR, CRASHFS_TEAR,
	                                                CRASHFS_PROCESS};
	crashfs_crash(d->fs, modes[sim_rand(s, 4)]);
	/* Whatever broke the disk is repaired by the time the node restarts. */
	disk_fault_clear(nd);
	d->failed = false;
}

bool disk_put_snapshot(struct sim *s, struct node *nd, raft_index index, raft_term term,
                       const struct raft_conf *conf, const struct raft_buf *data)
{
	struct disk *d = &nd->disk;
	if (d->failed)
		return false;
	if (storage_snapshot_put(d->st, index, term, conf, data->data, data->len, 0) != 0) {
		storage_failed_now(s, nd, "a snapshot");
		return false;
	}
	/* The oracle takes a reference: a count, not the bytes, changes. */
	set_snapshot(d, index, term, conf, (struct raft_buf *)data);
	durable_compact(d, index);
	return true;
}

void disk_fault(struct sim *s, struct node *nd)
{
	uint32_t ops = sim_rand(s, 2) ? SIO_OPS_SYNC : SIO_OPS_WRITE;
	int err = sim_rand(s, 2) ? EIO : ENOSPC;
	sio_fault_set(crashfs_fault(nd->disk.fs), ops, (int64_t)sim_rand(s, 30), -1, err);
	sim_log(s, "nemesis: n%u's disk will fail %s with %s", nd->idx + 1,
	        ops == SIO_OPS_SYNC ? "syncs" : "writes", err == EIO ? "EIO" : "ENOSPC");
}

void disk_fault_clear(struct node *nd)
{
	sio_fault_clear(crashfs_fault(nd->disk.fs));
}

/* ---------------------------------------------------------------------------------
 * Damage to durable data (SIM_FAULT_DAMAGE)
 */

/* Picks one of the node's files: a WAL segment mostly, else a snapshot or meta. */
static void pick_file(struct sim *s, struct disk *d, const char *dir, char *path)
{
	static const char *const subdirs[] = {"wal", "wal", "wal", "snap", NULL};
	const char *sub = subdirs[sim_rand(s, 5)];
	snprintf(path, SIO_PATH_MAX, "%s/meta", dir);
	if (sub == NULL)
		return;
	char sdir[64];
	snprintf(sdir, sizeof(sdir), "%s/%s", dir, sub);
	struct sio_names names;
	if (sio_list(crashfs_io(d->fs), sdir, &names) != 0)
		return;
	if (names.n > 0)
		snprintf(path, SIO_PATH_MAX, "%s/%s", sdir, names.v[sim_rand(s, names.n)]);
	sio_names_free(&names);
}

void disk_damage(struct sim *s, struct node *nd)
{
	struct disk *d = &nd->disk;
	char dir[32], path[SIO_PATH_MAX];
	snprintf(dir, sizeof(dir), "/n%u", nd->idx + 1);
	pick_file(s, d, dir, path);
	uint8_t *data = NULL;
	size_t len = 0;
	if (crashfs_read_file(d->fs, path, &data, &len) != 0 || len == 0) {
		free(data);
		sim_log(s, "nemesis: n%u: nothing to damage in %s", nd->idx + 1, path);
		return;
	}
	/* Aim at the written bytes, not the preallocated zeros after them. */
	size_t used = len;
	while (used > 1 && data[used - 1] == 0)
		used--;
	d->damaged = true;
	if (sim_rand(s, 4) != 0) {
		uint64_t off = sim_rand(s, used);
		uint8_t mask = (uint8_t)(1u << sim_rand(s, 8));
		crashfs_corrupt(d->fs, path, off, mask);
		s->res->damage_flips++;
		sim_log(s, "nemesis: n%u: bit flipped in %s at offset %" PRIu64, nd->idx + 1, path,
		        off);
	} else {
		size_t keep = (size_t)sim_rand(s, used);
		crashfs_write_file(d->fs, path, data, keep);
		s->res->damage_cuts++;
		sim_log(s, "nemesis: n%u: %s cut to %zu of %zu bytes", nd->idx + 1, path, keep,
		        len);
	}
	free(data);
}

/* ---------------------------------------------------------------------------------
 * A disk that stalls (SIM_FAULT_STALL)
 */

void disk_stall(struct sim *s, struct node *nd, uint64_t us)
{
	/* Completions are ordered after disk_busy_until (node.c): push it out. */
	uint64_t from = nd->disk_busy_until > s->now ? nd->disk_busy_until : s->now;
	nd->disk_busy_until = from + us;
	s->res->stalls++;
	sim_log(s, "nemesis: n%u's disk stalls for %" PRIu64 " ms", nd->idx + 1, us / MS);
	sim_narrate(s, "nemesis: n%u's disk stops completing writes for %" PRIu64 " ms",
	            nd->idx + 1, us / MS);
}

void disk_check_stall(struct sim *s, struct node *nd)
{
	struct disk *d = &nd->disk;
	bool leading = raft_role(driver_raft(nd->d)) == RAFT_LEADER;
	if (!driver_disk_stalled(nd->d) || !leading) {
		if (d->stalled_leader_since != 0 && !leading)
			s->res->stalled_leaders++;
		d->stalled_leader_since = 0;
		return;
	}
	if (d->stalled_leader_since == 0)
		d->stalled_leader_since = s->now;
	/* The step-down hands leadership over within about an election timeout. */
	uint64_t bound = 4 * (uint64_t)ELECTION_TICKS * TICK_US;
	if (s->now - d->stalled_leader_since > bound)
		sim_fail(s, "stalled-leader",
		         "n%u still leads %" PRIu64 " ms after its disk was found stalled",
		         nd->idx + 1, (s->now - d->stalled_leader_since) / MS);
}

/* ---------------------------------------------------------------------------------
 * Recovery, checked against the oracle
 */

static bool recovered_has(const struct storage_recovered *rec, raft_index index, raft_term term)
{
	if (index <= rec->snapshot_index)
		return true; /* the snapshot, itself checked against the commits, covers it */
	uint64_t i = index - rec->snapshot_index - 1;
	return i < rec->n_entries && rec->entries[i].term == term;
}

static bool check_recovery(struct sim *s, struct node *nd)
{
	struct disk *d = &nd->disk;
	const struct storage_recovered *rec = &d->rec;
	/* Figure 2's persistent state never goes back. */
	if (rec->hard_state.term < d->hs.term ||
	    (rec->hard_state.term == d->hs.term && d->hs.vote != RAFT_NONE &&
	     rec->hard_state.vote != d->hs.vote)) {
		sim_fail(s, "storage-durability",
		         "n%u recovered term %" PRIu64 " vote %" PRIu64 " after term %" PRIu64
		         " vote %" PRIu64 " was acknowledged durable",
		         nd->idx + 1, rec->hard_state.term, rec->hard_state.vote, d->hs.term,
		         d->hs.vote);
		return false;
	}
	/* (A damaged snapshot is skipped for an older state, or the node catches up.) */
	if (d->snap_data != NULL && rec->snapshot_index < d->snap_index && !d->damaged) {
		sim_fail(s, "storage-durability",
		         "n%u recovered snapshot %" PRIu64 " after snapshot %" PRIu64
		         " was durable",
		         nd->idx + 1, rec->snapshot_index, d->snap_index);
		return false;
	}
	if (rec->catch_up && !d->damaged) {
		sim_fail(s, "false-damage", "n%u: recovery reports damage nobody did: %s",
		         nd->idx + 1, rec->damage);
		return false;
	}
	/* No committed entry acknowledged durable here may be lost. (An uncommitted
	 * suffix may be: a conflicting truncation can be half done when the power goes.)
	 * After damage the node may lose what follows the damage, not more, and only to
	 * fetch it again (catch-up); what it keeps must be what it had. */
	raft_index kept = rec->snapshot_index + rec->n_entries;
	for (uint64_t i = 0; i < d->n_log; i++) {
		const struct raft_entry *e = &d->log[i];
		if (rec->catch_up && e->index > kept)
			break;
		if (rec->catch_up && !recovered_has(rec, e->index, e->term)) {
			sim_fail(s, "damage-wrong-data",
			         "n%u kept (index %" PRIu64 ") after damage, not the entry it had",
			         nd->idx + 1, e->index);
			return false;
		}
		if (e->index >= s->n_committed || s->committed[e->index].term != e->term)
			continue;
		if (!recovered_has(rec, e->index, e->term)) {
			sim_fail(s, "storage-durability",
			         "n%u lost committed (index %" PRIu64 ", term %" PRIu64
			         ") in recovery, acknowledged durable before the crash",
			         nd->idx + 1, e->index, e->term);
			return false;
		}
	}
	return true;
}

/* The oracle restarts from what recovery found. */
static void oracle_reset(struct disk *d)
{
	durable_truncate(d, 0);
	d->hs = d->rec.hard_state;
	raft_buf_unref(d->snap_data);
	d->snap_data = NULL;
	if (d->rec.snapshot_data != NULL)
		set_snapshot(d, d->rec.snapshot_index, d->rec.snapshot_term, &d->rec.conf,
		             d->rec.snapshot_data);
	d->log_start = d->rec.snapshot_index + 1;
	for (uint32_t i = 0; i < d->rec.n_entries; i++)
		durable_append(d, &d->rec.entries[i]);
}

bool disk_load(struct sim *s, struct node *nd, struct raft_boot *boot)
{
	struct disk *d = &nd->disk;
	char dir[32], errmsg[STORAGE_ERRMSG_SIZE];
	snprintf(dir, sizeof(dir), "/n%u", nd->idx + 1);
	struct storage_options o = {
	    .cluster_id = 1,
	    .node_id = nd->idx + 1,
	    .bootstrap_conf = d->boot_conf.n_voters > 0 ? &d->boot_conf : NULL,
	    .create = true,
	    .segment_size_bytes = s->segment_bytes,
	    .repair_from_peers = s->n_initial > 1,
	};
	assert(d->st == NULL);
	int rv = storage_open(&d->st, crashfs_io(d->fs), dir, &o, &d->rec, errmsg);
	if (rv != 0 && d->damaged && rv == STORAGE_ECORRUPT && strstr(errmsg, "offset") != NULL &&
	    strstr(errmsg, dir) != NULL) {
		/* Damage recovery cannot repair from peers (meta, a snapshot the log no
		 * longer reaches back past): refused with file and offset; stays down. */
		d->st = NULL;
		d->lost = true;
		s->res->damage_refused++;
		sim_log(s, "n%u refuses to start: %s", nd->idx + 1, errmsg);
		sim_narrate(s, "n%u refuses to start on its damaged disk: %s", nd->idx + 1, errmsg);
		return false;
	}
	if (rv != 0) {
		d->st = NULL;
		sim_fail(s, "storage-recovery", "n%u: %s", nd->idx + 1, errmsg);
		return false;
	}
	if (d->rec.notes[0] != '\0')
		sim_log(s, "n%u recovery: %s", nd->idx + 1, d->rec.notes);
	if (d->damaged && !d->counted) {
		/* (Counted at the first restart after the damage only.) */
		d->counted = true;
		if (d->rec.catch_up)
			s->res->damage_repaired++;
		else
			s->res->damage_clean++;
	}
	if (d->rec.catch_up)
		sim_narrate(s,
		            "n%u repairs from its peers: %s; it catches up to %" PRIu64
		            " before it votes",
		            nd->idx + 1, d->rec.damage, d->rec.catch_up_to);
	if (!check_recovery(s, nd)) {
		storage_recovered_release(&d->rec);
		return false;
	}
	if (d->rec.catch_up)
		had_save(d);
	oracle_reset(d);
	storage_recovered_boot(&d->rec, boot);
	return true;
}

void disk_load_done(struct sim *s, struct node *nd, struct raft_boot *boot)
{
	(void)s;
	(void)boot;
	storage_recovered_release(&nd->disk.rec);
}

void disk_free(struct sim *s, struct node *nd)
{
	(void)s;
	struct disk *d = &nd->disk;
	storage_close(d->st);
	crashfs_free(d->fs);
	durable_truncate(d, 0);
	free(d->log);
	free(d->pending);
	raft_buf_unref(d->snap_data);
	had_clear(d);
	memset(d, 0, sizeof(*d));
}
