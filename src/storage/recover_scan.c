/* recover_scan.c: the read-only part of recovery: the snapshot, the segments, replay, checks. */
#include "storage/recover_impl.h"

#include "base/alloc.h"
#include "storage/meta.h"
#include "storage/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
int recovery_list_dir(struct recovery *r, const char *path, struct sio_names *names,
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

/* A damaged snapshot: fall back to an older one (if the log no longer reaches back to
 * it, the gap check below refuses to start), and keep its index: its name still proves
 * the state up to there durable (scan_segments). */
static int snapshot_skipped(struct recovery *r, const struct snap_name *s, const char *why)
{
	note(r, "skipping damaged snapshot: %s", why);
	if (r->skipped_snap[0] == '\0')
		snprintf(r->skipped_snap, sizeof(r->skipped_snap), "%s", why);
	if (s->index > r->skipped_snap_index)
		r->skipped_snap_index = s->index;
	return STORAGE_OK;
}

/* Loads the newest snapshot that checks out; remembers the others for deletion. */
static int load_snapshot(struct recovery *r)
{
	struct sio_names names;
	int rv = recovery_list_dir(r, r->snap_dir, &names, true);
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
		if (s.tmp || s.child) {
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
			rv = snapshot_skipped(r, &found[i], why);
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
	int rv = recovery_list_dir(r, r->wal_dir, &names, true);
	if (rv != STORAGE_OK)
		return rv;
	r->segs = xcalloc(names.n, sizeof(*r->segs));
	for (uint32_t i = 0; i < names.n; i++) {
		struct found_seg *s = &r->segs[r->n_segs];
		if (wal_name_is_tmp(names.v[i])) {
			note(r, "%s/%s: unfinished segment (interrupted creation); %s", r->wal_dir,
			     names.v[i], r->repair ? "removed" : "will be removed");
			r->stale_tmp =
			    xrealloc(r->stale_tmp, (r->n_stale_tmp + 1) * sizeof(*r->stale_tmp));
			snprintf(r->stale_tmp[r->n_stale_tmp++], SIO_NAME_MAX + 1, "%s",
			         names.v[i]);
			continue;
		}
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
			return storage_errmsg_set(
			    r->errmsg, STORAGE_ECORRUPT,
			    "%s: segments %s and %s do not follow each other "
			    "(entries %" PRIu64 "-%" PRIu64 " %s)",
			    r->wal_dir, a->name, b->name,
			    b->wn.first > a->wn.last + 1 ? a->wn.last + 1 : b->wn.first,
			    b->wn.first > a->wn.last + 1 ? b->wn.first - 1 : a->wn.last,
			    b->wn.first > a->wn.last + 1 ? "are missing" : "overlap");
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

/* The last index the log recovered so far reaches. */
static raft_index log_end(const struct recovery *r)
{
	return (r->have_snap ? r->snap.index : 0) + r->n_entries;
}

/* Damage to durable data: with repair_from_peers the log is kept up to the damage (the
 * segment's valid records), everything after it is dropped, and the node catches up;
 * otherwise recovery refuses, naming file and offset. */
static int record_damage(struct recovery *r, const char *why)
{
	r->damaged = true;
	if (r->skipped_snap[0] != '\0' && r->n_entries == 0)
		storage_errmsg_set(r->damage, STORAGE_ECORRUPT,
		                   "%s; no older state is complete without it (%s)",
		                   r->skipped_snap, why);
	else
		storage_errmsg_set(r->damage, STORAGE_ECORRUPT, "%s", why);
	if (!r->repair_from_peers)
		return storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
		                          "%s (damage to data this node had made durable; with no "
		                          "peer to fetch it from, refusing to start)",
		                          r->damage);
	/* (Inspection reports it through on_damage instead, not as a routine repair.) */
	if (r->repair)
		note(r,
		     "damage to durable data: %s; the log is kept up to entry %" PRIu64
		     ", the rest dropped: the node catches up from the leader before it votes",
		     r->damage, log_end(r));
	return STORAGE_OK;
}

static int segment_damaged(struct recovery *r, struct found_seg *s, const struct wal_scan *scan,
                           const char *why)
{
	s->scanned = true;
	s->damaged = true;
	s->n_records = scan->n_records;
	s->first = scan->first_index;
	s->last = scan->last_index;
	s->end_offset = scan->end_offset;
	s->end = WAL_SCAN_TORN;
	/* What the damaged bytes still show was written counts as reached: the node must
	 * fetch it again before it votes (seed 2934/3: the entry after a flipped bit had been
	 * acknowledged, and only the commit index the node heard held it back). */
	if (scan->damage_index > r->proven_end)
		r->proven_end = scan->damage_index;
	return record_damage(r, why);
}

/* What a cleanly scanned segment means: damage (a cut file, a damaged record below the
 * durable end), or the notes of a torn tail or leftovers. */
static int segment_verdict(struct recovery *r, struct found_seg *s, const struct wal_scan *scan,
                           const char *path, size_t len, bool newest_open)
{
	if (s->wn.kind == WAL_SEG_OPEN && r->meta.segment_size > 0 && len < r->meta.segment_size) {
		/* Open segments are preallocated and synced under a temporary name before
		 * they are renamed into place, and never shortened in place (only closed, then
		 * cut), so a crash cannot explain a shorter file: it was cut after it was
		 * written, and records after the cut may be lost (seed 1327/3: cut to its
		 * first byte, it once passed for a crash during its creation). */
		char why[STORAGE_ERRMSG_SIZE];
		storage_errmsg_set(
		    why, STORAGE_ECORRUPT,
		    "%s: offset %zu: the file ends here, but open segments are preallocated "
		    "to %" PRIu64 " bytes: it was cut after entry %" PRIu64
		    " was written, and entries after it may be lost",
		    path, len, r->meta.segment_size, scan->last_index);
		return segment_damaged(r, s, scan, why);
	}
	raft_index end = log_end(r);
	if (scan->end == WAL_SCAN_TORN && scan->tail_bytes > 0 && end < r->proven_end) {
		char why[STORAGE_ERRMSG_SIZE];
		storage_errmsg_set(
		    why, STORAGE_ECORRUPT,
		    "%s: offset %" PRIu64 ": damaged record after entry %" PRIu64
		    " (it looks like an interrupted write, but the log reached entry %" PRIu64
		    " durably, as %s/" META_FILE " or the segment names record)",
		    path, scan->end_offset, end, r->proven_end, r->dir);
		return segment_damaged(r, s, scan, why);
	}
	if (scan->end == WAL_SCAN_TORN && scan->tail_bytes > 0)
		note(r,
		     "%s: torn write at offset %" PRIu64 " (%" PRIu64 " bytes after entry %" PRIu64
		     ") %s: an incomplete write, beyond the durable end recorded (entry %" PRIu64
		     ")",
		     path, scan->end_offset, scan->tail_bytes, scan->last_index,
		     r->repair ? "cut off" : "will be cut off on the next start", r->proven_end);
	if (scan->end == WAL_SCAN_TORN && !newest_open && scan->tail_bytes > 0)
		note(r, "%s: (not the newest open segment; entries after it are checked for gaps)",
		     path);
	if (scan->end == WAL_SCAN_LEFTOVER)
		note(r,
		     "%s: %" PRIu64 " bytes after entry %" PRIu64
		     " left by an interrupted truncation or close %s",
		     path, scan->tail_bytes, s->wn.last, r->repair ? "removed" : "will be removed");
	return STORAGE_OK;
}

static int scan_segment(struct recovery *r, struct found_seg *s, bool newest_open)
{
	char path[SIO_PATH_MAX];
	path_join(path, r->wal_dir, s->name);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = sio_read_file(r->io, path, WAL_SEGMENT_READ_MAX_BYTES, &buf, &len);
	if (rv == -EFBIG)
		return storage_errmsg_set(
		    r->errmsg, STORAGE_ECORRUPT,
		    "%s: larger than the %" PRIu64 " bytes a segment may hold (offset %" PRIu64 ")",
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
	if (rv == STORAGE_ECORRUPT && !r->cut_rest) {
		char why[STORAGE_ERRMSG_SIZE];
		storage_errmsg_set(why, STORAGE_ECORRUPT, "%s", r->errmsg);
		return segment_damaged(r, s, &scan, why);
	}
	if (rv != STORAGE_OK && r->cut_rest) {
		raft_index kept = (r->have_snap ? r->snap.index : 0) + r->n_entries;
		note(r,
		     "%s and later segments: the entries after %" PRIu64
		     " were written after an interrupted write to the segment before, which no "
		     "sync that covered them would have left unclosed; %s",
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
	return segment_verdict(r, s, &scan, path, len, newest_open);
}

static int scan_segments(struct recovery *r)
{
	raft_index snap_index = r->have_snap ? r->snap.index : 0;
	uint32_t newest_open = UINT32_MAX;
	for (uint32_t i = 0; i < r->n_segs; i++)
		if (r->segs[i].wn.kind == WAL_SEG_OPEN)
			newest_open = i;
	r->proven_end = r->meta.durable_index;
	for (uint32_t i = 0; i < r->n_segs; i++)
		if (r->segs[i].wn.kind == WAL_SEG_CLOSED && r->segs[i].wn.last > r->proven_end)
			r->proven_end = r->segs[i].wn.last;
	/* A snapshot's name proves the state up to its index was durable (it is renamed into
	 * place only after its fsync), damaged or not: a node whose only snapshot is damaged
	 * and whose log it had compacted away must catch up to it, not start empty and vote
	 * (seed 213/3: meta's durable end was older, the segments were gone). */
	if (r->skipped_snap_index > r->proven_end)
		r->proven_end = r->skipped_snap_index;
	bool after_open = false;
	for (uint32_t i = 0; i < r->n_segs; i++) {
		struct found_seg *s = &r->segs[i];
		if (r->cut_rest || r->damaged) {
			s->discard = true;
			continue;
		}
		if (s->wn.kind == WAL_SEG_CLOSED && s->wn.last <= snap_index)
			continue; /* wholly covered by the snapshot: deleted on repair */
		r->cur_after_open = after_open;
		int rv = scan_segment(r, s, i == newest_open);
		if (rv != STORAGE_OK)
			return rv;
		if (r->cut_rest && !s->damaged)
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
		     r->snap.index + 1, r->snap.index + r->n_entries, r->snap.index,
		     r->term_at_snap, r->snap.term, r->repair ? "discarded" : "will be discarded");
		for (uint64_t i = 0; i < r->n_entries; i++)
			raft_buf_unref(r->entries[i].buf);
		r->n_entries = 0;
		r->discard_all = true;
		/* The names of closed segments in that condemned log prove nothing: the install
		 * lowered the durable end in meta before it wrote the snapshot (seed 73329/3). */
		raft_index floor = r->snap.index;
		r->proven_end = r->meta.durable_index > floor ? r->meta.durable_index : floor;
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

/* Every segment read cleanly, yet the log ends before the durable end meta or the closed
 * segment names record: durable entries are missing (a segment cut at a record boundary,
 * a file lost). Names the newest segment and where its records end. */
static int missing_durable(struct recovery *r)
{
	const struct found_seg *last = NULL;
	for (uint32_t i = 0; i < r->n_segs; i++)
		if (r->segs[i].scanned && !r->segs[i].discard)
			last = &r->segs[i];
	char why[STORAGE_ERRMSG_SIZE];
	if (last != NULL)
		storage_errmsg_set(
		    why, STORAGE_ECORRUPT,
		    "%s/%s: offset %" PRIu64 ": the log ends at entry %" PRIu64
		    ", but it reached entry %" PRIu64 " durably (recorded in %s/" META_FILE
		    "): durable entries are missing",
		    r->wal_dir, last->name, last->end_offset, log_end(r), r->proven_end, r->dir);
	else
		storage_errmsg_set(why, STORAGE_ECORRUPT,
		                   "%s: no segment holds entries after %" PRIu64
		                   ", but the log reached entry %" PRIu64
		                   " durably (recorded in %s/" META_FILE
		                   "): durable entries are missing",
		                   r->wal_dir, log_end(r), r->proven_end, r->dir);
	return record_damage(r, why);
}

/* The whole read-only part of recovery: meta, snapshot, segments, checks. */
int recovery_scan(struct recovery *r)
{
	int rv = load_snapshot(r);
	if (rv == STORAGE_OK)
		rv = list_segments(r);
	if (rv == STORAGE_OK)
		rv = scan_segments(r);
	if (rv == STORAGE_OK)
		rv = check_log(r);
	if (rv == STORAGE_OK && !r->damaged && r->proven_end > log_end(r))
		rv = missing_durable(r);
	if (rv == STORAGE_OK && r->damaged)
		r->catch_up_to = r->proven_end > log_end(r) ? r->proven_end : log_end(r);
	if (rv == STORAGE_ECORRUPT && !r->damaged && r->skipped_snap[0] != '\0') {
		/* The real finding is the snapshot's damage, not what it left missing. */
		char was[STORAGE_ERRMSG_SIZE];
		snprintf(was, sizeof(was), "%s", r->errmsg);
		storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
		                   "%s; no older state is complete without it (%s)",
		                   r->skipped_snap, was);
	}
	return rv;
}
