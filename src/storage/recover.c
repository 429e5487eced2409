/* recover.c: opening a data directory: creation, recovery and repair, and offline inspection. */
#include "storage/impl.h"

#include "base/alloc.h"
#include "storage/meta.h"
#include "storage/snap.h"
#include "storage/util.h"
#include "storage/wal.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>

/* A segment file found in DIR/wal. */
struct found_seg {
	char name[SIO_NAME_MAX + 1];
	struct wal_name wn;
	/* filled by the scan */
	bool scanned;
	uint64_t file_size;
	uint64_t n_records;
	raft_index first; /* of its records; 0 if none */
	raft_index last;
	uint64_t end_offset;
	enum wal_scan_end end;
	uint64_t tail_bytes;
	bool discard; /* written after an interrupted write: never acknowledged */
};

/* Everything recovery learns; shared by storage_open (repair) and storage_inspect. */
struct recovery {
	struct sio *io;
	const char *dir;
	char wal_dir[SIO_PATH_MAX];
	char snap_dir[SIO_PATH_MAX];
	bool repair;
	bool keep_payloads;
	const struct storage_inspect_visitor *visitor;
	char *errmsg;
	char *notes;

	struct proto_meta meta;

	bool have_snap;
	struct snap_name snap_name;
	struct proto_snapshot_meta snap;
	struct raft_buf *snap_data;
	struct snap_name *stale_snaps; /* older snapshots and temporary files to delete */
	uint32_t n_stale_snaps;

	struct found_seg *segs; /* closed by first index, then open by sequence number */
	uint32_t n_segs;
	uint64_t max_open_seq;

	/* replay state */
	const char *cur_path;
	bool cur_after_open;   /* the segment follows an open (unfinished) segment */
	bool cur_first_record; /* no record of the segment replayed yet */
	bool cut_rest;         /* the segment and every later one are to be discarded */
	raft_index last_seen; /* index of the last record read (0: none yet) */
	raft_term term_at_snap; /* term of the record at the snapshot's index, 0 if unseen */
	struct raft_entry *entries; /* after the snapshot */
	uint64_t n_entries;
	uint64_t cap_entries;
	bool discard_all; /* the log conflicts with the snapshot: an interrupted install */
};

static void note(struct recovery *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct recovery *r, const char *fmt, ...)
{
	char line[STORAGE_ERRMSG_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (r->visitor && r->visitor->on_note)
		r->visitor->on_note(r->visitor->ctx, line);
	if (r->notes != NULL) {
		size_t used = strlen(r->notes);
		if (used + 1 < STORAGE_NOTES_SIZE)
			snprintf(r->notes + used, STORAGE_NOTES_SIZE - used, "%s\n", line);
	}
}

static void recovery_free(struct recovery *r)
{
	for (uint64_t i = 0; i < r->n_entries; i++)
		raft_buf_unref(r->entries[i].buf);
	free(r->entries);
	raft_buf_unref(r->snap_data);
	free(r->stale_snaps);
	free(r->segs);
}

/* ----------------------------------------------------------------------------------
 * Snapshots
 */

static int cmp_snap_desc(const void *a, const void *b)
{
	const struct snap_name *x = a;
	const struct snap_name *y = b;
	if (x->index != y->index)
		return x->index > y->index ? -1 : 1;
	if (x->term != y->term)
		return x->term > y->term ? -1 : 1;
	return 0;
}

/* Lists a directory. Once a meta file exists, DIR/wal and DIR/snap must too: a missing
 * one would silently lose acknowledged entries, so it is corruption. */
static int list_dir(struct recovery *r, const char *path, struct sio_names *names,
		    bool must_exist)
{
	int rv = sio_list(r->io, path, names);
	if (rv == -ENOENT && must_exist)
		return storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
					  "%s: missing, but %s/" META_FILE " exists", path, r->dir);
	if (rv == -ENOENT) {
		names->v = NULL;
		names->n = 0;
		return STORAGE_OK;
	}
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, "readdir", rv);
	return STORAGE_OK;
}

/* Loads the newest snapshot that checks out; remembers the others for deletion. */
static int load_snapshot(struct recovery *r)
{
	struct sio_names names;
	int rv = list_dir(r, r->snap_dir, &names, true);
	if (rv != STORAGE_OK)
		return rv;
	struct snap_name *found = xcalloc(names.n, sizeof(*found));
	uint32_t n = 0;
	r->stale_snaps = xcalloc(names.n, sizeof(*r->stale_snaps));
	for (uint32_t i = 0; i < names.n; i++) {
		struct snap_name s;
		if (!snap_name_parse(names.v[i], &s)) {
			note(r, "%s/%s: not a snapshot file; ignored", r->snap_dir, names.v[i]);
			continue;
		}
		if (s.tmp) {
			note(r, "%s/%s: unfinished snapshot (interrupted write); removed",
			     r->snap_dir, names.v[i]);
			r->stale_snaps[r->n_stale_snaps++] = s;
			continue;
		}
		found[n++] = s;
	}
	sio_names_free(&names);
	qsort(found, n, sizeof(*found), cmp_snap_desc);
	rv = STORAGE_OK;
	for (uint32_t i = 0; i < n; i++) {
		if (r->have_snap) {
			r->stale_snaps[r->n_stale_snaps++] = found[i];
			continue;
		}
		char name[SIO_NAME_MAX + 1];
		char path[SIO_PATH_MAX];
		snap_name_format(name, found[i].index, found[i].term, false);
		path_join(path, r->snap_dir, name);
		char why[STORAGE_ERRMSG_SIZE];
		struct raft_buf *data = NULL;
		rv = snap_read(r->io, path, &found[i], &r->snap, &data, why);
		if (rv == STORAGE_ECORRUPT) {
			/* Fall back to an older one; if the log no longer reaches back to it,
			 * the gap check below refuses to start. */
			note(r, "skipping damaged snapshot: %s", why);
			rv = STORAGE_OK;
			continue;
		}
		if (rv != STORAGE_OK) {
			snprintf(r->errmsg, STORAGE_ERRMSG_SIZE, "%s", why);
			break;
		}
		r->have_snap = true;
		r->snap_name = found[i];
		if (r->keep_payloads)
			r->snap_data = data;
		else
			raft_buf_unref(data);
		if (r->visitor && r->visitor->on_snapshot)
			r->visitor->on_snapshot(r->visitor->ctx, path, r->snap.index, r->snap.term,
						&r->snap.conf, r->snap.data_size_bytes);
	}
	free(found);
	if (rv == STORAGE_OK && r->have_snap && r->snap.term > r->meta.hard_state.term)
		rv = storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
					"%s: snapshot term %" PRIu64
					" is above the stored term %" PRIu64 " in %s/" META_FILE,
					r->snap_dir, r->snap.term, r->meta.hard_state.term, r->dir);
	return rv;
}

/* ----------------------------------------------------------------------------------
 * Segments
 */

static int cmp_seg(const void *a, const void *b)
{
	const struct found_seg *x = a;
	const struct found_seg *y = b;
	if (x->wn.kind != y->wn.kind)
		return x->wn.kind == WAL_SEG_CLOSED ? -1 : 1;
	uint64_t kx = x->wn.kind == WAL_SEG_CLOSED ? x->wn.first : x->wn.seq;
	uint64_t ky = y->wn.kind == WAL_SEG_CLOSED ? y->wn.first : y->wn.seq;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	return 0;
}

static int list_segments(struct recovery *r)
{
	struct sio_names names;
	int rv = list_dir(r, r->wal_dir, &names, true);
	if (rv != STORAGE_OK)
		return rv;
	r->segs = xcalloc(names.n, sizeof(*r->segs));
	for (uint32_t i = 0; i < names.n; i++) {
		struct found_seg *s = &r->segs[r->n_segs];
		if (!wal_name_parse(names.v[i], &s->wn)) {
			note(r, "%s/%s: not a segment file; ignored", r->wal_dir, names.v[i]);
			continue;
		}
		snprintf(s->name, sizeof(s->name), "%s", names.v[i]);
		if (s->wn.kind == WAL_SEG_OPEN && s->wn.seq > r->max_open_seq)
			r->max_open_seq = s->wn.seq;
		r->n_segs++;
	}
	sio_names_free(&names);
	qsort(r->segs, r->n_segs, sizeof(*r->segs), cmp_seg);
	/* Closed segments must tile the log: each begins right after the previous one. */
	for (uint32_t i = 1; i < r->n_segs; i++) {
		const struct found_seg *a = &r->segs[i - 1];
		const struct found_seg *b = &r->segs[i];
		if (b->wn.kind != WAL_SEG_CLOSED)
			break;
		if (b->wn.first != a->wn.last + 1)
			return storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
						  "%s: segments %s and %s do not follow each other "
						  "(entries %" PRIu64 "-%" PRIu64 " %s)",
						  r->wal_dir, a->name, b->name,
						  b->wn.first > a->wn.last + 1 ? a->wn.last + 1
									       : b->wn.first,
						  b->wn.first > a->wn.last + 1 ? b->wn.first - 1
									       : a->wn.last,
						  b->wn.first > a->wn.last + 1 ? "are missing"
									       : "overlap");
	}
	return STORAGE_OK;
}

static void entries_push(struct recovery *r, struct raft_entry *e)
{
	if (r->n_entries == r->cap_entries) {
		r->cap_entries = r->cap_entries ? r->cap_entries * 2 : 1024;
		r->entries = xrealloc(r->entries, r->cap_entries * sizeof(*r->entries));
	}
	r->entries[r->n_entries++] = *e;
}

/* Replays one valid record: checks it continues the log, keeps it if the snapshot does
 * not cover it. Takes over e's payload reference. */
static int replay_record(void *ctx, struct raft_entry *e, uint64_t offset, char *why)
{
	struct recovery *r = ctx;
	if (r->visitor && r->visitor->on_record)
		r->visitor->on_record(r->visitor->ctx, r->cur_path, offset, e);
	int rv = STORAGE_OK;
	raft_index snap_index = r->have_snap ? r->snap.index : 0;
	raft_term prev_term = r->n_entries > 0 ? r->entries[r->n_entries - 1].term
			      : r->have_snap   ? r->snap.term
					       : 0;
	bool first_of_segment = r->cur_first_record;
	r->cur_first_record = false;
	raft_index expected = r->last_seen != 0 ? r->last_seen + 1 : snap_index + 1 + r->n_entries;
	if (e->index > expected && first_of_segment && r->cur_after_open) {
		/* The segment before this one was retired but never closed, and lost its last
		 * records in the crash. A sync that acknowledged anything in this segment
		 * would have closed that one first (storage_sync_run), so nothing from here
		 * on was acknowledged. */
		r->cut_rest = true;
		rv = storage_errmsg_set(why, STORAGE_ECORRUPT, "entry %" PRIu64 " after %" PRIu64,
					e->index, expected - 1);
	} else if (r->last_seen != 0 && e->index != r->last_seen + 1) {
		rv = storage_errmsg_set(why, STORAGE_ECORRUPT,
					"index gap: entry %" PRIu64 " follows entry %" PRIu64,
					e->index, r->last_seen);
	} else if (e->index <= snap_index) {
		if (e->index == snap_index)
			r->term_at_snap = e->term;
	} else if (e->index != snap_index + 1 + r->n_entries) {
		rv = storage_errmsg_set(why, STORAGE_ECORRUPT,
					"index gap: the log resumes at entry %" PRIu64
					" but the snapshot ends at %" PRIu64,
					e->index, snap_index);
	} else if (e->term < prev_term && !(r->n_entries == 0 && r->term_at_snap != 0)) {
		/* (A first entry below the snapshot's term is judged with the snapshot
		 * consistency check instead.) */
		rv = storage_errmsg_set(why, STORAGE_ECORRUPT,
					"entry %" PRIu64 " has term %" PRIu64
					", below its predecessor's %" PRIu64,
					e->index, e->term, prev_term);
	} else if (e->term > r->meta.hard_state.term) {
		rv = storage_errmsg_set(why, STORAGE_ECORRUPT,
					"entry %" PRIu64 " has term %" PRIu64
					", above the stored term %" PRIu64,
					e->index, e->term, r->meta.hard_state.term);
	} else {
		r->last_seen = e->index;
		if (!r->keep_payloads) {
			raft_buf_unref(e->buf);
			e->buf = NULL;
		}
		entries_push(r, e);
		return STORAGE_OK;
	}
	if (rv == STORAGE_OK)
		r->last_seen = e->index;
	raft_buf_unref(e->buf);
	return rv;
}

static int scan_segment(struct recovery *r, struct found_seg *s, bool newest_open)
{
	char path[SIO_PATH_MAX];
	path_join(path, r->wal_dir, s->name);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = sio_read_file(r->io, path, WAL_SEGMENT_READ_MAX_BYTES, &buf, &len);
	if (rv == -EFBIG)
		return storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
					  "%s: larger than the %" PRIu64
					  " bytes a segment may hold (offset %" PRIu64 ")",
					  path, WAL_SEGMENT_READ_MAX_BYTES, WAL_SEGMENT_READ_MAX_BYTES);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, path, "read", rv);
	struct wal_scan scan = {
		.path = path,
		.buf = buf,
		.len = len,
		.closed = s->wn.kind == WAL_SEG_CLOSED,
		.first = s->wn.first,
		.last = s->wn.last,
		.allow_torn = s->wn.kind == WAL_SEG_OPEN,
		.on_record = replay_record,
		.ctx = r,
	};
	r->cur_path = path;
	r->cur_first_record = true;
	rv = wal_scan_segment(&scan, r->errmsg);
	r->cur_path = NULL;
	free(buf);
	if (rv != STORAGE_OK && r->cut_rest) {
		raft_index kept = (r->have_snap ? r->snap.index : 0) + r->n_entries;
		note(r,
		     "%s and later segments: the entries after %" PRIu64
		     " were written after an interrupted write to the segment before, so they "
		     "were never acknowledged; %s",
		     path, kept, r->repair ? "discarded" : "will be discarded");
		return STORAGE_OK;
	}
	if (rv != STORAGE_OK)
		return rv;
	s->scanned = true;
	s->file_size = len;
	s->n_records = scan.n_records;
	s->first = scan.first_index;
	s->last = scan.last_index;
	s->end_offset = scan.end_offset;
	s->end = scan.end;
	s->tail_bytes = scan.tail_bytes;
	if (r->visitor && r->visitor->on_segment)
		r->visitor->on_segment(r->visitor->ctx, path, s->wn.kind == WAL_SEG_OPEN, s->first,
				       s->last, s->n_records, len);
	if (scan.end == WAL_SCAN_TORN && scan.tail_bytes > 0)
		note(r,
		     "%s: torn write at offset %" PRIu64 " (%" PRIu64
		     " bytes after entry %" PRIu64 ") %s: it was never acknowledged",
		     path, scan.end_offset, scan.tail_bytes, scan.last_index,
		     r->repair ? "cut off" : "will be cut off on the next start");
	if (scan.end == WAL_SCAN_TORN && !newest_open && scan.tail_bytes > 0)
		note(r, "%s: (not the newest open segment; entries after it are checked for gaps)",
		     path);
	if (scan.end == WAL_SCAN_LEFTOVER)
		note(r,
		     "%s: %" PRIu64 " bytes after entry %" PRIu64
		     " left by an interrupted truncation %s",
		     path, scan.tail_bytes, s->wn.last, r->repair ? "removed" : "will be removed");
	return STORAGE_OK;
}

static int scan_segments(struct recovery *r)
{
	raft_index snap_index = r->have_snap ? r->snap.index : 0;
	uint32_t newest_open = UINT32_MAX;
	for (uint32_t i = 0; i < r->n_segs; i++)
		if (r->segs[i].wn.kind == WAL_SEG_OPEN)
			newest_open = i;
	bool after_open = false;
	for (uint32_t i = 0; i < r->n_segs; i++) {
		struct found_seg *s = &r->segs[i];
		if (r->cut_rest) {
			s->discard = true;
			continue;
		}
		if (s->wn.kind == WAL_SEG_CLOSED && s->wn.last <= snap_index)
			continue; /* wholly covered by the snapshot: deleted on repair */
		r->cur_after_open = after_open;
		int rv = scan_segment(r, s, i == newest_open);
		if (rv != STORAGE_OK)
			return rv;
		if (r->cut_rest)
			s->discard = true;
		after_open = s->wn.kind == WAL_SEG_OPEN;
	}
	return STORAGE_OK;
}

/* After replay: the log must fit the snapshot and the hard state. */
static int check_log(struct recovery *r)
{
	if (!r->have_snap)
		return STORAGE_OK;
	if (r->n_entries > 0 && r->term_at_snap != 0 && r->term_at_snap != r->snap.term) {
		/* Raft Figure 13: a log whose entry at the snapshot's index has another term
		 * is replaced by the snapshot. Only an install interrupted between writing
		 * the snapshot and deleting the segments leaves this behind. */
		note(r,
		     "entries %" PRIu64 "-%" PRIu64 " conflict with snapshot %" PRIu64
		     " (term %" PRIu64 " there, snapshot term %" PRIu64
		     "): left by an interrupted snapshot install, %s",
		     r->snap.index + 1, r->snap.index + r->n_entries, r->snap.index, r->term_at_snap,
		     r->snap.term, r->repair ? "discarded" : "will be discarded");
		for (uint64_t i = 0; i < r->n_entries; i++)
			raft_buf_unref(r->entries[i].buf);
		r->n_entries = 0;
		r->discard_all = true;
		return STORAGE_OK;
	}
	if (r->n_entries > 0 && r->entries[0].term < r->snap.term)
		return storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
					  "%s: entry %" PRIu64 " has term %" PRIu64
					  ", below the snapshot's term %" PRIu64,
					  r->wal_dir, r->entries[0].index, r->entries[0].term,
					  r->snap.term);
	return STORAGE_OK;
}

/* The whole read-only part of recovery: meta, snapshot, segments, checks. */
static int recover(struct recovery *r)
{
	int rv = load_snapshot(r);
	if (rv == STORAGE_OK)
		rv = list_segments(r);
	if (rv == STORAGE_OK)
		rv = scan_segments(r);
	if (rv == STORAGE_OK)
		rv = check_log(r);
	return rv;
}

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
		snap_name_format(name, r->stale_snaps[i].index, r->stale_snaps[i].term,
				 r->stale_snaps[i].tmp);
		int rv = repair_unlink(r, r->snap_dir, name);
		if (rv != STORAGE_OK)
			return rv;
	}
	int rv = sio_sync_dir(r->io, r->snap_dir);
	if (rv != 0)
		return storage_errmsg_io(r->errmsg, r->snap_dir, "fsync of directory", rv);
	return STORAGE_OK;
}

/* Turns an open segment into a closed one (or removes it): trimmed to its valid records,
 * durable, renamed <first>-<last>. */
static int repair_close_open(struct recovery *r, struct found_seg *s, raft_index snap_index)
{
	char path[SIO_PATH_MAX];
	path_join(path, r->wal_dir, s->name);
	if (s->n_records == 0 || s->last <= snap_index)
		return repair_unlink(r, r->wal_dir, s->name);
	int rv = repair_trim(r, path, s->end_offset);
	if (rv != STORAGE_OK)
		return rv;
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
	bool removed = false;
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
	return repair_sync_wal_dir(r);
}

/* ----------------------------------------------------------------------------------
 * Opening
 */

static int check_dir_path(const char *dir, char *errmsg)
{
	/* Room for "/wal/" and the longest segment name. */
	if (strlen(dir) + 64 >= SIO_PATH_MAX)
		return storage_errmsg_set(errmsg, STORAGE_EINVAL, "%s: path too long", dir);
	if (dir[0] == '\0')
		return storage_errmsg_set(errmsg, STORAGE_EINVAL, "empty data directory path");
	return STORAGE_OK;
}

static int make_dir(struct sio *io, const char *path, char *errmsg)
{
	int rv = sio_mkdir(io, path);
	if (rv != 0 && rv != -EEXIST)
		return storage_errmsg_io(errmsg, path, "mkdir", rv);
	return STORAGE_OK;
}

/* The parent of `dir`, for syncing the new directory's entry ("." if none). */
static void parent_of(const char *dir, char *out)
{
	snprintf(out, SIO_PATH_MAX, "%s", dir);
	size_t n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	char *slash = strrchr(out, '/');
	if (slash == NULL)
		snprintf(out, SIO_PATH_MAX, ".");
	else if (slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
}

/* Creates the directory layout and the first meta file, each step durable. Refuses to
 * initialize over existing segments or snapshots (their meta file was lost). */
static int create_dir(struct recovery *r, const struct storage_options *opts)
{
	struct sio_names names;
	int rv = list_dir(r, r->wal_dir, &names, false);
	if (rv != STORAGE_OK)
		return rv;
	uint32_t n = names.n;
	sio_names_free(&names);
	rv = list_dir(r, r->snap_dir, &names, false);
	if (rv != STORAGE_OK)
		return rv;
	n += names.n;
	sio_names_free(&names);
	if (n > 0)
		return storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
					  "%s/" META_FILE
					  ": missing, but the directory holds %u log or snapshot "
					  "files; refusing to start over them",
					  r->dir, n);
	char parent[SIO_PATH_MAX];
	parent_of(r->dir, parent);
	rv = make_dir(r->io, r->dir, r->errmsg);
	if (rv == STORAGE_OK)
		rv = make_dir(r->io, r->wal_dir, r->errmsg);
	if (rv == STORAGE_OK)
		rv = make_dir(r->io, r->snap_dir, r->errmsg);
	if (rv != STORAGE_OK)
		return rv;
	int err = sio_sync_dir(r->io, parent);
	if (err == 0)
		err = sio_sync_dir(r->io, r->dir);
	if (err != 0)
		return storage_errmsg_io(r->errmsg, r->dir, "fsync of directory", err);
	struct proto_meta m = {
		.format_version = META_FORMAT_VERSION,
		.cluster_id = opts->cluster_id,
		.node_id = opts->node_id,
	};
	if (opts->bootstrap_conf != NULL)
		m.conf = *opts->bootstrap_conf;
	rv = meta_store(r->io, r->dir, &m, r->errmsg);
	if (rv != STORAGE_OK)
		return rv;
	r->meta = m;
	return STORAGE_OK;
}

static int load_or_create_meta(struct recovery *r, const struct storage_options *opts,
			       bool *created)
{
	*created = false;
	int rv = meta_load(r->io, r->dir, &r->meta, r->errmsg);
	if (rv == STORAGE_ENOENT && opts->create) {
		rv = create_dir(r, opts);
		*created = rv == STORAGE_OK;
	}
	if (rv != STORAGE_OK)
		return rv;
	if (opts->cluster_id != 0 && opts->cluster_id != r->meta.cluster_id)
		return storage_errmsg_set(r->errmsg, STORAGE_EMISMATCH,
					  "%s/" META_FILE ": belongs to cluster %" PRIu64
					  ", not %" PRIu64,
					  r->dir, r->meta.cluster_id, opts->cluster_id);
	if (opts->node_id != 0 && opts->node_id != r->meta.node_id)
		return storage_errmsg_set(r->errmsg, STORAGE_EMISMATCH,
					  "%s/" META_FILE ": belongs to node %" PRIu64
					  ", not %" PRIu64,
					  r->dir, r->meta.node_id, opts->node_id);
	return STORAGE_OK;
}

static void recovery_init(struct recovery *r, struct sio *io, const char *dir, char *errmsg)
{
	memset(r, 0, sizeof(*r));
	r->io = io;
	r->dir = dir;
	r->errmsg = errmsg;
	path_join(r->wal_dir, dir, WAL_DIR);
	path_join(r->snap_dir, dir, SNAP_DIR);
}

/* Builds the running storage from a repaired recovery. */
static int storage_build(struct recovery *r, const struct storage_options *opts,
			 struct storage **out)
{
	struct storage *st = xcalloc(1, sizeof(*st));
	st->io = r->io;
	st->open.fd = -1;
	snprintf(st->dir, sizeof(st->dir), "%s", r->dir);
	snprintf(st->wal_dir, sizeof(st->wal_dir), "%s", r->wal_dir);
	snprintf(st->snap_dir, sizeof(st->snap_dir), "%s", r->snap_dir);
	st->segment_size_bytes = opts->segment_size_bytes ? opts->segment_size_bytes
							  : STORAGE_SEGMENT_SIZE_DEFAULT_BYTES;
	if (st->segment_size_bytes < STORAGE_SEGMENT_SIZE_MIN_BYTES)
		st->segment_size_bytes = STORAGE_SEGMENT_SIZE_MIN_BYTES;
	st->meta = r->meta;
	st->snap_index = r->have_snap ? r->snap.index : 0;
	st->snap_term = r->have_snap ? r->snap.term : 0;
	st->last_index = st->snap_index + r->n_entries;
	for (uint64_t i = 0; i < r->n_entries; i++)
		storage_terms_push(st, r->entries[i].term);
	for (uint32_t i = 0; i < r->n_segs; i++) {
		const struct found_seg *s = &r->segs[i];
		if (s->wn.kind != WAL_SEG_CLOSED || s->n_records == 0 || !s->scanned)
			continue;
		if (s->wn.last <= st->snap_index || r->discard_all)
			continue;
		storage_closed_push(st, s->wn.first, s->wn.last);
	}
	int rv = storage_open_segment_create(st, r->max_open_seq + 1);
	if (rv != STORAGE_OK) {
		snprintf(r->errmsg, STORAGE_ERRMSG_SIZE, "%s", st->errmsg);
		storage_close(st);
		return rv;
	}
	*out = st;
	return STORAGE_OK;
}

static void recovered_fill(struct recovery *r, struct storage_recovered *rec)
{
	rec->cluster_id = r->meta.cluster_id;
	rec->node_id = r->meta.node_id;
	rec->hard_state = r->meta.hard_state;
	rec->snapshot_index = r->have_snap ? r->snap.index : 0;
	rec->snapshot_term = r->have_snap ? r->snap.term : 0;
	rec->conf = r->have_snap ? r->snap.conf : r->meta.conf;
	rec->snapshot_data = r->snap_data;
	r->snap_data = NULL;
	rec->n_entries = (uint32_t)r->n_entries;
	rec->entries = r->entries;
	r->entries = NULL;
	r->n_entries = 0;
}

/* fsyncs every file of `path` (a directory), then the directory itself. */
static int sync_tree(struct recovery *r, const char *path)
{
	struct sio_names names;
	int rv = list_dir(r, path, &names, false);
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

int storage_open(struct storage **out, struct sio *io, const char *dir,
		 const struct storage_options *opts, struct storage_recovered *rec, char *errmsg)
{
	memset(rec, 0, sizeof(*rec));
	errmsg[0] = '\0';
	int rv = check_dir_path(dir, errmsg);
	if (rv != STORAGE_OK)
		return rv;
	struct recovery r;
	recovery_init(&r, io, dir, errmsg);
	r.repair = true;
	r.keep_payloads = true;
	r.notes = rec->notes;
	rv = load_or_create_meta(&r, opts, &rec->created);
	if (rv == STORAGE_OK)
		rv = recover(&r);
	if (rv == STORAGE_OK && r.n_entries > UINT32_MAX)
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT, "%s: more than 2^32 entries",
					r.wal_dir);
	if (rv == STORAGE_OK) {
		/* A leftover of an interrupted meta_store: the meta file itself is intact. */
		rv = repair_unlink(&r, dir, META_TMP_FILE);
	}
	if (rv == STORAGE_OK)
		rv = repair_snapshots(&r);
	if (rv == STORAGE_OK)
		rv = repair_segments(&r);
	if (rv == STORAGE_OK)
		rv = sync_recovered(&r);
	struct storage *st = NULL;
	if (rv == STORAGE_OK)
		rv = storage_build(&r, opts, &st);
	if (rv == STORAGE_OK) {
		recovered_fill(&r, rec);
		*out = st;
	} else {
		memset(rec->notes, 0, sizeof(rec->notes));
	}
	recovery_free(&r);
	return rv;
}

int storage_inspect(struct sio *io, const char *dir, const struct storage_inspect_visitor *v,
		    char *errmsg)
{
	errmsg[0] = '\0';
	int rv = check_dir_path(dir, errmsg);
	if (rv != STORAGE_OK)
		return rv;
	struct recovery r;
	recovery_init(&r, io, dir, errmsg);
	r.visitor = v;
	rv = meta_load(io, dir, &r.meta, errmsg);
	if (rv == STORAGE_OK && v && v->on_meta) {
		char path[SIO_PATH_MAX];
		path_join(path, dir, META_FILE);
		v->on_meta(v->ctx, path, r.meta.cluster_id, r.meta.node_id, &r.meta.hard_state,
			   &r.meta.conf);
	}
	if (rv == STORAGE_OK)
		rv = recover(&r);
	recovery_free(&r);
	return rv;
}

void storage_recovered_boot(const struct storage_recovered *rec, struct raft_boot *boot)
{
	memset(boot, 0, sizeof(*boot));
	boot->hard_state = rec->hard_state;
	boot->snapshot_index = rec->snapshot_index;
	boot->snapshot_term = rec->snapshot_term;
	boot->entries = rec->entries;
	boot->n_entries = rec->n_entries;
	boot->applied = rec->snapshot_index;
	boot->conf = rec->conf;
	boot->snapshot_data = rec->snapshot_data; /* the core takes its own reference */
}

void storage_recovered_release(struct storage_recovered *rec)
{
	for (uint32_t i = 0; i < rec->n_entries; i++)
		raft_buf_unref(rec->entries[i].buf);
	free(rec->entries);
	rec->entries = NULL;
	rec->n_entries = 0;
	raft_buf_unref(rec->snapshot_data);
	rec->snapshot_data = NULL;
}
