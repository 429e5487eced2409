/* storage.c: the running storage: segments, syncs, hard state, snapshots, closing. */
/* (Appending and truncation live in append.c; opening and recovery in recover.c.) */
#include "storage/impl.h"

#include "base/alloc.h"
#include "storage/meta.h"
#include "storage/snap.h"
#include "storage/util.h"
#include "storage/wal.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>

int storage_fail(struct storage *st, int err)
{
	assert(err != STORAGE_OK);
	if (st->failed == STORAGE_OK)
		st->failed = err;
	return err;
}

int storage_fail_io(struct storage *st, const char *path, const char *op, int neg_errno)
{
	return storage_fail(st, storage_errmsg_io(st->errmsg, path, op, neg_errno));
}

int storage_refuse_failed(struct storage *st)
{
	/* Keep the first failure's message: it names the file and errno that matter. */
	assert(st->failed != STORAGE_OK);
	return STORAGE_EFAILED;
}

void storage_terms_push(struct storage *st, raft_term term)
{
	if (st->n_terms == st->cap_terms) {
		st->cap_terms = st->cap_terms ? st->cap_terms * 2 : 256;
		st->terms = xrealloc(st->terms, st->cap_terms * sizeof(*st->terms));
	}
	st->terms[st->n_terms++] = term;
}

void storage_closed_push(struct storage *st, raft_index first, raft_index last)
{
	assert(first <= last);
	assert(st->n_closed == 0 || st->closed[st->n_closed - 1].last + 1 == first);
	if (st->n_closed == st->cap_closed) {
		st->cap_closed = st->cap_closed ? st->cap_closed * 2 : 16;
		st->closed = xrealloc(st->closed, st->cap_closed * sizeof(*st->closed));
	}
	st->closed[st->n_closed].first = first;
	st->closed[st->n_closed].last = last;
	st->n_closed++;
}

raft_term storage_term_at(const struct storage *st, raft_index index)
{
	if (index == st->snap_index)
		return st->snap_term;
	if (index < st->snap_index || index > st->last_index)
		return 0;
	assert(index - st->snap_index - 1 < st->n_terms);
	return st->terms[index - st->snap_index - 1];
}

void storage_closed_path(const struct storage *st, const struct segment *s, char *path)
{
	char name[SIO_NAME_MAX + 1];
	wal_name_format_closed(name, s->first, s->last);
	path_join(path, st->wal_dir, name);
}

/* ----------------------------------------------------------------------------------
 * Segments
 */

int storage_open_segment_create(struct storage *st, uint64_t seq)
{
	struct open_segment *o = &st->open;
	assert(o->fd < 0);
	char name[SIO_NAME_MAX + 1];
	wal_name_format_open(name, seq);
	path_join(o->path, st->wal_dir, name);
	/* Made whole under a temporary name, then renamed: an open-<seq> file always holds
	 * its header and its preallocated size, so recovery can take any shorter open
	 * segment for one cut after it was written (damage), never for a crash in here. */
	char tmp[SIO_PATH_MAX + sizeof(WAL_TMP_SUFFIX)];
	snprintf(tmp, sizeof(tmp), "%s" WAL_TMP_SUFFIX, o->path);
	int fd;
	int rv = sio_unlink(st->io, tmp);
	if (rv != 0 && rv != -ENOENT)
		return storage_fail_io(st, tmp, "unlink", rv);
	rv = sio_open(st->io, tmp, SIO_RDWR | SIO_CREATE | SIO_EXCL, &fd);
	if (rv != 0)
		return storage_fail_io(st, tmp, "create", rv);
	o->seq = seq;
	o->first = 0;
	o->last = 0;
	o->n_offsets = 0;
	o->used_bytes = WAL_SEGMENT_HEADER_BYTES;
	o->dirty = true;
	st->wal_dir_dirty = true;
	uint8_t header[WAL_SEGMENT_HEADER_BYTES];
	wal_segment_header(header);
	rv = sio_pwrite(st->io, fd, header, sizeof(header), 0);
	if (rv != 0) {
		sio_close(st->io, fd);
		return storage_fail_io(st, tmp, "write of the segment header", rv);
	}
	/* Preallocating reserves the blocks now, so that appends cannot meet a full disk
	 * in the middle of a segment, and keeps the tail of the file zero, which is what
	 * lets recovery tell a torn write from corruption. */
	rv = sio_allocate(st->io, fd, st->segment_size_bytes);
	if (rv != 0) {
		/* A failed fallocate may keep part of the space: give it back, or the empty
		 * segment would hold what a smaller segment size needs (best effort; a
		 * leftover temporary file is removed by the next recovery). */
		sio_close(st->io, fd);
		sio_unlink(st->io, tmp);
		char op[128];
		snprintf(op, sizeof(op),
		         "preallocation (fallocate) of a %" PRIu64
		         "-byte segment (the configured segment size, --wal-segment-bytes)",
		         st->segment_size_bytes);
		return storage_fail_io(st, tmp, op, rv);
	}
	const char *op = "fdatasync";
	rv = sio_fdatasync(st->io, fd);
	if (rv == 0) {
		op = "rename";
		rv = sio_rename(st->io, tmp, o->path);
	}
	if (rv != 0) {
		sio_close(st->io, fd);
		sio_unlink(st->io, tmp);
		return storage_fail_io(st, tmp, op, rv);
	}
	o->fd = fd;
	return STORAGE_OK;
}

/* The deferred close of a retired segment: fdatasync, then rename it <first>-<last>, so
 * that a closed name always means complete and durable content. It is trimmed to its
 * records only after its new name is durable (retired_close_all): trimming first would
 * let a crash leave an open segment shorter than its preallocated size, which recovery
 * takes for damage. A closed segment whose trim was lost has leftover bytes after its
 * named records, which recovery trims. */
static int retired_rename(struct sio *io, const char *wal_dir, struct storage_retired *r,
                          char *errmsg)
{
	char name[SIO_NAME_MAX + 1];
	char open_path[SIO_PATH_MAX];
	char closed[SIO_PATH_MAX];
	wal_name_format_open(name, r->seq);
	path_join(open_path, wal_dir, name);
	wal_name_format_closed(name, r->first, r->last);
	path_join(closed, wal_dir, name);
	const char *op = "fdatasync";
	int rv = sio_fdatasync(io, r->fd);
	if (rv == 0) {
		op = "rename";
		rv = sio_rename(io, open_path, closed);
	}
	if (rv != 0)
		return storage_errmsg_io(errmsg, open_path, op, rv);
	return STORAGE_OK;
}

/* Closes retired segments: all of them, whatever fails (the first error is reported), and
 * every descriptor is closed. */
static int retired_close_all(struct sio *io, const char *wal_dir, struct storage_retired *v,
                             uint32_t n, char *errmsg)
{
	int rv = STORAGE_OK;
	for (uint32_t i = 0; i < n && rv == STORAGE_OK; i++)
		rv = retired_rename(io, wal_dir, &v[i], errmsg);
	if (rv == STORAGE_OK && n > 0) {
		int err = sio_sync_dir(io, wal_dir);
		if (err != 0)
			rv = storage_errmsg_io(errmsg, wal_dir, "fsync of directory", err);
	}
	for (uint32_t i = 0; i < n; i++) {
		if (rv == STORAGE_OK) {
			int err = sio_truncate(io, v[i].fd, v[i].used_bytes);
			if (err != 0) {
				char name[SIO_NAME_MAX + 1];
				char path[SIO_PATH_MAX];
				wal_name_format_closed(name, v[i].first, v[i].last);
				path_join(path, wal_dir, name);
				rv = storage_errmsg_io(errmsg, path, "ftruncate", err);
			}
		}
		int err = sio_close(io, v[i].fd);
		v[i].fd = -1;
		if (rv == STORAGE_OK && err != 0)
			rv = storage_errmsg_io(errmsg, wal_dir, "close of a segment", err);
	}
	return rv;
}

/* Closes the retired segments now, before anything that relies on their closed names. */
int storage_retired_flush(struct storage *st)
{
	int rv = retired_close_all(st->io, st->wal_dir, st->retired, st->n_retired, st->errmsg);
	st->n_retired = 0;
	if (rv != STORAGE_OK)
		return storage_fail(st, rv);
	return STORAGE_OK;
}

int storage_sync_wal_dir(struct storage *st)
{
	assert(st->n_retired == 0); /* their renames must follow their data */
	int rv = sio_sync_dir(st->io, st->wal_dir);
	if (rv != 0)
		return storage_fail_io(st, st->wal_dir, "fsync of directory", rv);
	st->wal_dir_dirty = false;
	return STORAGE_OK;
}

/* ----------------------------------------------------------------------------------
 * Syncing
 */

void storage_sync_prepare(struct storage *st, struct storage_sync_ticket *t)
{
	t->io = st->io;
	t->wal_dir = st->wal_dir;
	t->fd = st->open.fd;
	t->seq = st->open.seq;
	t->sync_fd = st->open.dirty && st->open.fd >= 0;
	t->sync_dir = st->wal_dir_dirty;
	t->n_retired = st->n_retired;
	memcpy(t->retired, st->retired, st->n_retired * sizeof(st->retired[0]));
	t->last_index = st->last_index;
	st->n_retired = 0;
	st->open.dirty = false;
	st->wal_dir_dirty = false;
}

bool storage_sync_ticket_merge(struct storage_sync_ticket *into,
                               const struct storage_sync_ticket *later)
{
	if (into->n_retired + later->n_retired > STORAGE_RETIRED_MAX)
		return false;
	memcpy(into->retired + into->n_retired, later->retired,
	       later->n_retired * sizeof(later->retired[0]));
	into->n_retired += later->n_retired;
	/* The earlier ticket's open segment may have been retired since: then closing it
	 * syncs it. */
	if (into->sync_fd) {
		for (uint32_t i = 0; i < into->n_retired; i++)
			if (into->retired[i].fd == into->fd)
				into->sync_fd = false;
	}
	if (later->sync_fd) {
		assert(!into->sync_fd || into->fd == later->fd);
		into->fd = later->fd;
		into->seq = later->seq;
		into->sync_fd = true;
	}
	into->sync_dir = into->sync_dir || later->sync_dir;
	if (later->last_index > into->last_index)
		into->last_index = later->last_index;
	return true;
}

int storage_sync_run(struct storage_sync_ticket *t, char *errmsg)
{
	/* Retired segments first: their renames must not reach the disk before their
	 * data, and the directory sync below makes the renames durable. */
	int rv = retired_close_all(t->io, t->wal_dir, t->retired, t->n_retired, errmsg);
	t->n_retired = 0;
	if (rv != STORAGE_OK)
		return rv;
	if (t->sync_fd) {
		int err = sio_fdatasync(t->io, t->fd);
		if (err != 0) {
			char name[SIO_NAME_MAX + 1];
			char path[SIO_PATH_MAX];
			wal_name_format_open(name, t->seq);
			path_join(path, t->wal_dir, name);
			return storage_errmsg_io(errmsg, path, "fdatasync", err);
		}
	}
	if (t->sync_dir) {
		int err = sio_sync_dir(t->io, t->wal_dir);
		if (err != 0)
			return storage_errmsg_io(errmsg, t->wal_dir, "fsync of directory", err);
	}
	return STORAGE_OK;
}

void storage_sync_ticket_discard(struct storage_sync_ticket *t)
{
	for (uint32_t i = 0; i < t->n_retired; i++)
		sio_close(t->io, t->retired[i].fd);
	t->n_retired = 0;
}

void storage_sync_finish(struct storage *st, int rv, const char *errmsg)
{
	if (rv == STORAGE_OK)
		return;
	if (st->failed == STORAGE_OK) {
		snprintf(st->errmsg, sizeof(st->errmsg), "%s", errmsg);
		storage_fail(st, rv);
	}
}

void storage_sync_done(struct storage *st, const struct storage_sync_ticket *t)
{
	atomic_store(&st->synced_index, t->last_index);
}

int storage_sync(struct storage *st)
{
	if (st->failed != STORAGE_OK)
		return storage_refuse_failed(st);
	struct storage_sync_ticket t;
	storage_sync_prepare(st, &t);
	char errmsg[STORAGE_ERRMSG_SIZE];
	int rv = storage_sync_run(&t, errmsg);
	storage_sync_finish(st, rv, errmsg);
	if (rv == STORAGE_OK)
		storage_sync_done(st, &t);
	return rv;
}

/* ----------------------------------------------------------------------------------
 * Hard state, and the durable end recorded beside it
 */

static int meta_replace(struct storage *st, const struct proto_meta *m)
{
	int rv = meta_store(st->io, st->dir, m, st->errmsg);
	if (rv != STORAGE_OK)
		return storage_fail(st, rv);
	st->meta = *m;
	return STORAGE_OK;
}

int storage_lower_durable(struct storage *st, raft_index index)
{
	if (st->meta.durable_index <= index)
		return STORAGE_OK;
	struct proto_meta m = st->meta;
	m.durable_index = index;
	return meta_replace(st, &m);
}

int storage_record_durable(struct storage *st, raft_index index)
{
	struct proto_meta m = st->meta;
	if (index > m.durable_index)
		m.durable_index = index;
	m.segment_size = st->segment_size_bytes;
	if (m.durable_index == st->meta.durable_index && m.segment_size == st->meta.segment_size)
		return STORAGE_OK;
	return meta_replace(st, &m);
}

int storage_set_hard_state(struct storage *st, const struct raft_hard_state *hs)
{
	if (st->failed != STORAGE_OK)
		return storage_refuse_failed(st);
	const struct raft_hard_state *cur = &st->meta.hard_state;
	if (hs->term < cur->term)
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                          "hard state: term %" PRIu64 " below the durable %" PRIu64,
		                          hs->term, cur->term);
	/* Figure 2: a vote is cast at most once per term. */
	if (hs->term == cur->term && cur->vote != RAFT_NONE && hs->vote != cur->vote)
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                          "hard state: vote for %" PRIu64 " in term %" PRIu64
		                          " after voting for %" PRIu64,
		                          hs->vote, hs->term, cur->vote);
	if (hs->term == cur->term && hs->vote == cur->vote)
		return STORAGE_OK;
	struct proto_meta m = st->meta;
	m.hard_state = *hs;
	/* The durable end rides along with every meta write (elections): free evidence
	 * for recovery of how far the log reached. */
	raft_index synced = atomic_load(&st->synced_index);
	if (synced > st->last_index)
		synced = st->last_index;
	if (synced > m.durable_index)
		m.durable_index = synced;
	int rv = meta_store(st->io, st->dir, &m, st->errmsg);
	if (rv != STORAGE_OK)
		return storage_fail(st, rv);
	st->meta = m;
	return STORAGE_OK;
}

int storage_persist_ready(struct storage *st, const struct raft_ready *rd)
{
	int rv = STORAGE_OK;
	if (rd->has_hard_state)
		rv = storage_set_hard_state(st, &rd->hard_state);
	/* A snapshot from the leader replaces the log it covers (or all of it), before
	 * the batch's entries, which follow it. */
	if (rv == STORAGE_OK && rd->has_snapshot)
		rv = storage_snapshot_put(
		    st, rd->snapshot_index, rd->snapshot_term, &rd->snapshot_conf,
		    rd->snapshot_data->data, rd->snapshot_data->len,
		    rd->snapshot_discard_log ? STORAGE_SNAPSHOT_DISCARD_LOG : 0);
	if (rv == STORAGE_OK)
		rv = storage_append(st, rd->entries, rd->n_entries);
	if (rv == STORAGE_OK)
		rv = storage_sync(st);
	return rv;
}

/* ----------------------------------------------------------------------------------
 * Snapshots
 */

static bool conf_fits(const struct raft_conf *c)
{
	return c->n_voters <= RAFT_MAX_MEMBERS && c->n_voters_old <= RAFT_MAX_MEMBERS &&
	       c->n_learners <= RAFT_MAX_MEMBERS;
}

static int check_snapshot(struct storage *st, raft_index index, raft_term term,
                          const struct raft_conf *conf, size_t len, unsigned flags)
{
	if (index == 0 || term == 0 || index <= st->snap_index)
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                          "snapshot: index %" PRIu64 " term %" PRIu64
		                          " is not after the current snapshot (%" PRIu64 ")",
		                          index, term, st->snap_index);
	if (term > st->meta.hard_state.term)
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                          "snapshot: term %" PRIu64
		                          " above the durable term %" PRIu64,
		                          term, st->meta.hard_state.term);
	if (!(flags & STORAGE_SNAPSHOT_DISCARD_LOG) &&
	    (index > st->last_index || storage_term_at(st, index) != term))
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                          "snapshot: the log holds no entry %" PRIu64
		                          " of term %" PRIu64 " to compact up to",
		                          index, term);
	if (!conf_fits(conf))
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                          "snapshot: configuration too large");
	if ((uint64_t)len > SNAP_DATA_MAX_BYTES)
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                          "snapshot: %zu bytes exceed the limit", len);
	return STORAGE_OK;
}

/* Deletes every segment (the snapshot replaced the log) and starts a fresh open one. */
static int discard_log(struct storage *st, raft_index index)
{
	struct open_segment *o = &st->open;
	int rv = sio_close(st->io, o->fd);
	o->fd = -1;
	if (rv != 0)
		return storage_fail_io(st, o->path, "close", rv);
	rv = sio_unlink(st->io, o->path);
	if (rv != 0)
		return storage_fail_io(st, o->path, "unlink", rv);
	char path[SIO_PATH_MAX];
	while (st->n_closed > 0) {
		storage_closed_path(st, &st->closed[st->n_closed - 1], path);
		rv = sio_unlink(st->io, path);
		if (rv != 0)
			return storage_fail_io(st, path, "unlink", rv);
		st->n_closed--;
	}
	/* Durable before anything is written after the snapshot: recovery must never see
	 * old entries next to new ones. */
	rv = storage_sync_wal_dir(st);
	if (rv != STORAGE_OK)
		return rv;
	if (atomic_load(&st->synced_index) > index)
		atomic_store(&st->synced_index, index);
	st->last_index = index;
	st->n_terms = 0;
	return storage_open_segment_create(st, o->seq + 1);
}

/* Deletes the closed segments the snapshot wholly covers, oldest first. A lost unlink is
 * harmless (recovery skips and deletes covered segments), so the directory is synced
 * with the next storage_sync(). */
static int compact_log(struct storage *st, raft_index index)
{
	uint32_t gone = 0;
	char path[SIO_PATH_MAX];
	while (gone < st->n_closed && st->closed[gone].last <= index) {
		storage_closed_path(st, &st->closed[gone], path);
		int rv = sio_unlink(st->io, path);
		if (rv != 0)
			return storage_fail_io(st, path, "unlink", rv);
		gone++;
	}
	if (gone > 0) {
		memmove(st->closed, st->closed + gone, (st->n_closed - gone) * sizeof(*st->closed));
		st->n_closed -= gone;
		st->wal_dir_dirty = true;
	}
	uint64_t drop = index - st->snap_index;
	assert(drop <= st->n_terms);
	memmove(st->terms, st->terms + drop, (st->n_terms - drop) * sizeof(*st->terms));
	st->n_terms -= drop;
	return STORAGE_OK;
}

/* The new snapshot is durable: the one it replaces can go. */
static int unlink_old_snapshot(struct storage *st, raft_index old_index, raft_term old_term)
{
	if (old_index == 0)
		return STORAGE_OK;
	char name[SIO_NAME_MAX + 1];
	char path[SIO_PATH_MAX];
	snap_name_format(name, old_index, old_term, false);
	path_join(path, st->snap_dir, name);
	int rv = sio_unlink(st->io, path);
	if (rv != 0 && rv != -ENOENT)
		return storage_fail_io(st, path, "unlink", rv);
	return STORAGE_OK;
}

int storage_snapshot_job_prepare(struct storage *st, struct storage_snapshot_job *j,
                                 raft_index index, raft_term term, const struct raft_conf *conf,
                                 const void *data, size_t len)
{
	if (st->failed != STORAGE_OK)
		return storage_refuse_failed(st);
	int rv = check_snapshot(st, index, term, conf, len, 0);
	if (rv != STORAGE_OK)
		return rv;
	*j = (struct storage_snapshot_job){
	    .io = st->io,
	    .snap_dir = st->snap_dir,
	    .index = index,
	    .term = term,
	    .conf = *conf,
	    .data = data,
	    .len = len,
	};
	return STORAGE_OK;
}

int storage_snapshot_job_prepare_file(struct storage *st, struct storage_snapshot_job *j,
                                      raft_index index, raft_term term,
                                      const struct raft_conf *conf, size_t len, const char *file)
{
	int rv = storage_snapshot_job_prepare(st, j, index, term, conf, NULL, len);
	if (rv == STORAGE_OK)
		j->file = file;
	return rv;
}

int storage_snapshot_job_run(const struct storage_snapshot_job *j, char *errmsg)
{
	if (j->file != NULL) {
		char name[SIO_NAME_MAX + 1];
		char path[SIO_PATH_MAX];
		snap_name_format(name, j->index, j->term, false);
		path_join(path, j->snap_dir, name);
		int rv = sio_rename(j->io, j->file, path);
		if (rv != 0)
			return storage_errmsg_io(errmsg, j->file, "rename", rv);
		rv = sio_sync_dir(j->io, j->snap_dir);
		if (rv != 0)
			return storage_errmsg_io(errmsg, j->snap_dir, "fsync of directory", rv);
		return STORAGE_OK;
	}
	struct proto_snapshot_meta m = {
	    .index = j->index,
	    .term = j->term,
	    .conf = j->conf,
	    .data_size_bytes = j->len,
	};
	return snap_write(j->io, j->snap_dir, &m, j->data, errmsg);
}

int storage_snapshot_job_finish(struct storage *st, const struct storage_snapshot_job *j, int rv,
                                const char *errmsg)
{
	if (st->failed != STORAGE_OK)
		return storage_refuse_failed(st);
	if (rv != STORAGE_OK) {
		snprintf(st->errmsg, sizeof(st->errmsg), "%s", errmsg);
		return storage_fail(st, rv);
	}
	/* Only appends ran meanwhile, so the log still holds the entry; anything else is a
	 * caller bug, and the storage stops rather than compact a log it does not match. */
	if (j->index <= st->snap_index || j->index > st->last_index ||
	    storage_term_at(st, j->index) != j->term)
		return storage_fail(st, storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
		                                           "snapshot %" PRIu64
		                                           ": the log changed under it",
		                                           j->index));
	rv = storage_retired_flush(st);
	if (rv != STORAGE_OK)
		return rv;
	raft_index old_index = st->snap_index;
	raft_term old_term = st->snap_term;
	rv = compact_log(st, j->index);
	if (rv != STORAGE_OK)
		return rv;
	st->snap_index = j->index;
	st->snap_term = j->term;
	return unlink_old_snapshot(st, old_index, old_term);
}

int storage_snapshot_put(struct storage *st, raft_index index, raft_term term,
                         const struct raft_conf *conf, const void *data, size_t len, unsigned flags)
{
	if (!(flags & STORAGE_SNAPSHOT_DISCARD_LOG)) {
		struct storage_snapshot_job j;
		int rv = storage_snapshot_job_prepare(st, &j, index, term, conf, data, len);
		if (rv != STORAGE_OK)
			return rv;
		char errmsg[STORAGE_ERRMSG_SIZE];
		rv = storage_snapshot_job_run(&j, errmsg);
		return storage_snapshot_job_finish(st, &j, rv, errmsg);
	}
	if (st->failed != STORAGE_OK)
		return storage_refuse_failed(st);
	int rv = check_snapshot(st, index, term, conf, len, flags);
	if (rv != STORAGE_OK)
		return rv;
	rv = storage_retired_flush(st);
	/* A snapshot that replaces the log may end below the recorded durable end: lower
	 * it first, so that no crash leaves the snapshot next to a durable end above it. */
	if (rv == STORAGE_OK && (flags & STORAGE_SNAPSHOT_DISCARD_LOG))
		rv = storage_lower_durable(st, index);
	if (rv != STORAGE_OK)
		return rv;
	struct proto_snapshot_meta m = {
	    .index = index,
	    .term = term,
	    .conf = *conf,
	    .data_size_bytes = len,
	};
	rv = snap_write(st->io, st->snap_dir, &m, data, st->errmsg);
	if (rv != STORAGE_OK)
		return storage_fail(st, rv);
	raft_index old_index = st->snap_index;
	raft_term old_term = st->snap_term;
	/* The new snapshot is durable: the old one and the log it covers can go. */
	if (flags & STORAGE_SNAPSHOT_DISCARD_LOG)
		rv = discard_log(st, index);
	else
		rv = compact_log(st, index);
	if (rv != STORAGE_OK)
		return rv;
	st->snap_index = index;
	st->snap_term = term;
	return unlink_old_snapshot(st, old_index, old_term);
}

/* ----------------------------------------------------------------------------------
 * The rest
 */

void storage_close(struct storage *st)
{
	if (st == NULL)
		return;
	if (st->open.fd >= 0)
		sio_close(st->io, st->open.fd);
	for (uint32_t i = 0; i < st->n_retired; i++)
		sio_close(st->io, st->retired[i].fd);
	free(st->open.offsets);
	free(st->terms);
	free(st->closed);
	free(st->wbuf);
	free(st->iov);
	free(st);
}

int storage_failed(const struct storage *st)
{
	return st->failed;
}

const char *storage_errmsg(const struct storage *st)
{
	return st->errmsg;
}

raft_index storage_last_index(const struct storage *st)
{
	return st->last_index;
}

raft_index storage_snapshot_index(const struct storage *st)
{
	return st->snap_index;
}

struct raft_hard_state storage_hard_state(const struct storage *st)
{
	return st->meta.hard_state;
}

uint32_t storage_closed_segments(const struct storage *st)
{
	return st->n_closed;
}
