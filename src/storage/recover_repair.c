/* recover_repair.c: repair after recovery (storage_open only): trims, renames, deletes, syncs. */
#include "storage/recover_impl.h"

#include "storage/meta.h"
#include "storage/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Repair (storage_open only): make the directory what the recovered state says.
 */

static int repair_unlink(struct recovery *r, const char *dir, const char *name)
{
	char path[SIO_PATH_MAX];
	path_join(path, dir, name);
	int rv = sio_unlink(r->io, path);
	if (rv != 0 && rv != -ENOENT)
		return storage_errmsg_io(r->errmsg, path, "unlink", rv);
	return STORAGE_OK;
}

static int repair_trim(struct recovery *r, const char *path, uint64_t size)
{
	int fd;
	int rv = sio_open(r->io, path, SIO_RDWR, &fd);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, "open", rv);
	const char *op = "ftruncate";
	rv = sio_truncate(r->io, fd, size);
	if (rv == 0) {
		op = "fdatasync";
		rv = sio_fdatasync(r->io, fd);
	}
	sio_close(r->io, fd);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, op, rv);
	return STORAGE_OK;
}

static int repair_snapshots(struct recovery *r)
{
	if (r->n_stale_snaps == 0)
		return STORAGE_OK;
	for (uint32_t i = 0; i < r->n_stale_snaps; i++) {
		char name[SIO_NAME_MAX + 1];
		snap_name_format_as(name, &r->stale_snaps[i]);
		int rv = repair_unlink(r, r->snap_dir, name);
		if (rv != STORAGE_OK)
			return rv;
	}
	int rv = sio_sync_dir(r->io, r->snap_dir);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, r->snap_dir, "fsync of directory", rv);
	return STORAGE_OK;
}

/* Turns an open segment into a closed one (or removes it): made durable as it stands,
 * renamed <first>-<last>, and trimmed to its valid records only once that name is durable
 * (repair_segments), so that no crash leaves an open segment shorter than its
 * preallocation. */
static int repair_close_open(struct recovery *r, struct found_seg *s, raft_index snap_index)
{
	char path[SIO_PATH_MAX];
	path_join(path, r->wal_dir, s->name);
	if (s->n_records == 0 || s->last <= snap_index)
		return repair_unlink(r, r->wal_dir, s->name);
	int fd;
	int rv = sio_open(r->io, path, SIO_RDWR, &fd);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, "open", rv);
	rv = sio_fdatasync(r->io, fd);
	sio_close(r->io, fd);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, "fdatasync", rv);
	char closed[SIO_PATH_MAX];
	char name[SIO_NAME_MAX + 1];
	wal_name_format_closed(name, s->first, s->last);
	path_join(closed, r->wal_dir, name);
	rv = sio_rename(r->io, path, closed);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, "rename", rv);
	s->wn.kind = WAL_SEG_CLOSED;
	s->wn.first = s->first;
	s->wn.last = s->last;
	s->trim_after = true;
	snprintf(s->name, sizeof(s->name), "%s", name);
	return STORAGE_OK;
}

/* A closed segment with damage: renamed to the valid records it still holds (trimmed once
 * that name is durable), or removed if none, or if the snapshot covers all of them (kept,
 * it would end before the segment that resumes the log after the snapshot). */
static int repair_cut_closed(struct recovery *r, struct found_seg *s, raft_index snap_index)
{
	if (s->n_records == 0 || s->last <= snap_index) {
		s->n_records = 0;
		return repair_unlink(r, r->wal_dir, s->name);
	}
	char path[SIO_PATH_MAX];
	char cut[SIO_PATH_MAX];
	char name[SIO_NAME_MAX + 1];
	path_join(path, r->wal_dir, s->name);
	wal_name_format_closed(name, s->first, s->last);
	path_join(cut, r->wal_dir, name);
	int rv = sio_rename(r->io, path, cut);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, "rename", rv);
	s->wn.first = s->first;
	s->wn.last = s->last;
	s->trim_after = true;
	snprintf(s->name, sizeof(s->name), "%s", name);
	return STORAGE_OK;
}

static int repair_sync_wal_dir(struct recovery *r)
{
	int rv = sio_sync_dir(r->io, r->wal_dir);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, r->wal_dir, "fsync of directory", rv);
	return STORAGE_OK;
}

static int repair_segments(struct recovery *r)
{
	raft_index snap_index = r->have_snap ? r->snap.index : 0;
	/* First, durably, the segments that hold nothing acknowledged after a gap: once an
	 * older unfinished segment is renamed closed below, a crash must not leave them
	 * behind it, where the gap would read as corruption. */
	bool removed = r->n_stale_tmp > 0;
	for (uint32_t i = 0; i < r->n_stale_tmp; i++) {
		int rv = repair_unlink(r, r->wal_dir, r->stale_tmp[i]);
		if (rv != STORAGE_OK)
			return rv;
	}
	for (uint32_t i = 0; i < r->n_segs; i++) {
		struct found_seg *s = &r->segs[i];
		if (!s->discard && !r->discard_all)
			continue;
		int rv = repair_unlink(r, r->wal_dir, s->name);
		if (rv != STORAGE_OK)
			return rv;
		s->n_records = 0;
		s->scanned = false;
		removed = true;
	}
	if (removed) {
		int rv = repair_sync_wal_dir(r);
		if (rv != STORAGE_OK)
			return rv;
	}
	for (uint32_t i = 0; i < r->n_segs; i++) {
		struct found_seg *s = &r->segs[i];
		int rv = STORAGE_OK;
		if (s->discard || r->discard_all)
			continue;
		if (s->wn.kind == WAL_SEG_OPEN) {
			rv = repair_close_open(r, s, snap_index);
		} else if (s->damaged) {
			rv = repair_cut_closed(r, s, snap_index);
		} else if (s->wn.last <= snap_index) {
			rv = repair_unlink(r, r->wal_dir, s->name);
			s->n_records = 0;
		} else if (s->end == WAL_SCAN_LEFTOVER) {
			char path[SIO_PATH_MAX];
			path_join(path, r->wal_dir, s->name);
			rv = repair_trim(r, path, s->end_offset);
		}
		if (rv != STORAGE_OK)
			return rv;
	}
	if (r->n_segs == 0)
		return STORAGE_OK;
	int rv = repair_sync_wal_dir(r);
	for (uint32_t i = 0; i < r->n_segs && rv == STORAGE_OK; i++) {
		struct found_seg *s = &r->segs[i];
		if (!s->trim_after)
			continue;
		char path[SIO_PATH_MAX];
		path_join(path, r->wal_dir, s->name);
		rv = repair_trim(r, path, s->end_offset);
	}
	return rv;
}

/* fsyncs every file of `path` (a directory), then the directory itself. */
static int sync_tree(struct recovery *r, const char *path)
{
	struct sio_names names;
	int rv = recovery_list_dir(r, path, &names, false);
	if (rv != STORAGE_OK)
		return rv;
	for (uint32_t i = 0; i < names.n && rv == STORAGE_OK; i++) {
		char file[SIO_PATH_MAX];
		path_join(file, path, names.v[i]);
		/* wal/ and snap/ are synced on their own. */
		if (strcmp(file, r->wal_dir) == 0 || strcmp(file, r->snap_dir) == 0)
			continue;
		int fd;
		int err = sio_open(r->io, file, SIO_RDONLY, &fd);
		if (err == 0) {
			err = sio_fsync(r->io, fd);
			sio_close(r->io, fd);
		}
		if (err != 0)
			rv = storage_errmsg_io(r->errmsg, file, "fsync", err);
	}
	sio_names_free(&names);
	if (rv == STORAGE_OK) {
		int err = sio_sync_dir(r->io, path);
		if (err != 0)
			rv = storage_errmsg_io(r->errmsg, path, "fsync of directory", err);
	}
	return rv;
}

/* What recovery read may still sit in the page cache only: after a process crash the
 * kernel keeps writes that were never synced (a meta rename whose directory fsync
 * failed, say). Before the node acts on any of it, make all of it durable, so that a
 * later power loss cannot take back a term, a vote or an entry it already relied on. */
static int sync_recovered(struct recovery *r)
{
	int rv = sync_tree(r, r->wal_dir);
	if (rv == STORAGE_OK)
		rv = sync_tree(r, r->snap_dir);
	if (rv == STORAGE_OK)
		rv = sync_tree(r, r->dir);
	return rv;
}

int recovery_repair(struct recovery *r)
{
	/* A leftover of an interrupted meta_store: the meta file itself is intact. */
	int rv = repair_unlink(r, r->dir, META_TMP_FILE);
	if (rv == STORAGE_OK && r->damaged && r->catch_up_to > r->meta.durable_index) {
		/* Before anything that proved how far the log reached (closed names) is
		 * deleted: a crash during the repair must find the same target. */
		struct proto_meta m = r->meta;
		m.durable_index = r->catch_up_to;
		rv = meta_store(r->io, r->dir, &m, r->errmsg);
		if (rv == STORAGE_OK)
			r->meta = m;
	}
	if (rv == STORAGE_OK)
		rv = repair_snapshots(r);
	if (rv == STORAGE_OK)
		rv = repair_segments(r);
	if (rv == STORAGE_OK)
		rv = sync_recovered(r);
	return rv;
}
