/* storage.c: the running storage: hard state, appends, syncs, truncation, rotation, snapshots. */
/* (Opening and recovery live in recover.c.) */
#include "storage/impl.h"

#include "base/alloc.h"
#include "storage/meta.h"
#include "storage/snap.h"
#include "storage/util.h"
#include "storage/wal.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>

/* Payloads smaller than this are copied next to their record header so that a batch of
 * small entries is one contiguous write; larger ones are written from where they lie. */
#define INLINE_PAYLOAD_MAX_BYTES 1024u

int storage_fail(struct storage *st, int err)
{
	assert(err != STORAGE_OK);
	if (st->failed == STORAGE_OK)
		st->failed = err;
	return err;
}

static int fail_io(struct storage *st, const char *path, const char *op, int neg_errno)
{
	return storage_fail(st, storage_errmsg_io(st->errmsg, path, op, neg_errno));
}

static int refuse_failed(struct storage *st)
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

static raft_term term_at(const struct storage *st, raft_index index)
{
	if (index == st->snap_index)
		return st->snap_term;
	if (index < st->snap_index || index > st->last_index)
		return 0;
	assert(index - st->snap_index - 1 < st->n_terms);
	return st->terms[index - st->snap_index - 1];
}

static void closed_path(const struct storage *st, const struct segment *s, char *path)
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
	int fd;
	int rv = sio_open(st->io, o->path, SIO_RDWR | SIO_CREATE | SIO_EXCL, &fd);
	if (rv != 0)
		return fail_io(st, o->path, "create", rv);
	o->fd = fd;
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
	if (rv != 0)
		return fail_io(st, o->path, "write of the segment header", rv);
	/* Preallocating reserves the blocks now, so that appends cannot meet a full disk
	 * in the middle of a segment, and keeps the tail of the file zero, which is what
	 * lets recovery tell a torn write from corruption. */
	rv = sio_allocate(st->io, fd, st->segment_size_bytes);
	if (rv != 0)
		return fail_io(st, o->path, "preallocation (fallocate)", rv);
	return STORAGE_OK;
}

/* The deferred close of a retired segment: trim it to its records, fdatasync, close, and
 * only then rename it <first>-<last>, so that a closed name always means complete and
 * durable content. The descriptor is closed whatever happens. */
static int retired_close(struct sio *io, const char *wal_dir, struct storage_retired *r,
			 char *errmsg)
{
	char name[SIO_NAME_MAX + 1];
	char open_path[SIO_PATH_MAX];
	char closed[SIO_PATH_MAX];
	wal_name_format_open(name, r->seq);
	path_join(open_path, wal_dir, name);
	wal_name_format_closed(name, r->first, r->last);
	path_join(closed, wal_dir, name);
	const char *op = "ftruncate";
	int rv = sio_truncate(io, r->fd, r->used_bytes);
	if (rv == 0) {
		op = "fdatasync";
		rv = sio_fdatasync(io, r->fd);
	}
	int rv_close = sio_close(io, r->fd);
	r->fd = -1;
	if (rv == 0 && rv_close != 0) {
		op = "close";
		rv = rv_close;
	}
	if (rv == 0) {
		op = "rename";
		rv = sio_rename(io, open_path, closed);
	}
	if (rv != 0)
		return storage_errmsg_io(errmsg, open_path, op, rv);
	return STORAGE_OK;
}

/* Closes retired segments: all of them, whatever fails (the first error is reported). */
static int retired_close_all(struct sio *io, const char *wal_dir, struct storage_retired *v,
			     uint32_t n, char *errmsg)
{
	int rv = STORAGE_OK;
	for (uint32_t i = 0; i < n; i++) {
		if (rv == STORAGE_OK) {
			rv = retired_close(io, wal_dir, &v[i], errmsg);
		} else {
			sio_close(io, v[i].fd);
			v[i].fd = -1;
		}
	}
	return rv;
}

/* Closes the retired segments now, before anything that relies on their closed names. */
static int retired_flush(struct storage *st)
{
	int rv = retired_close_all(st->io, st->wal_dir, st->retired, st->n_retired, st->errmsg);
	st->n_retired = 0;
	if (rv != STORAGE_OK)
		return storage_fail(st, rv);
	return STORAGE_OK;
}

/* Retires the full open segment (closed by the next sync) and starts the next one. */
static int rotate(struct storage *st)
{
	struct open_segment *o = &st->open;
	assert(o->fd >= 0);
	assert(o->first != 0);
	if (st->n_retired == STORAGE_RETIRED_MAX) {
		int rv = retired_flush(st);
		if (rv != STORAGE_OK)
			return rv;
	}
	st->retired[st->n_retired++] = (struct storage_retired){
		.fd = o->fd,
		.seq = o->seq,
		.first = o->first,
		.last = o->last,
		.used_bytes = o->used_bytes,
	};
	o->fd = -1;
	st->wal_dir_dirty = true;
	storage_closed_push(st, o->first, o->last);
	return storage_open_segment_create(st, o->seq + 1);
}

static int sync_wal_dir(struct storage *st)
{
	assert(st->n_retired == 0); /* their renames must follow their data */
	int rv = sio_sync_dir(st->io, st->wal_dir);
	if (rv != 0)
		return fail_io(st, st->wal_dir, "fsync of directory", rv);
	st->wal_dir_dirty = false;
	return STORAGE_OK;
}

/* ----------------------------------------------------------------------------------
 * Truncating a conflicting suffix (the rare path)
 */

/* Discards the open segment's records from entry `index` on: ftruncate, re-preallocate,
 * and fdatasync before anything new is written where they were, so that no crash can
 * leave a mix of old and new records there. */
static int truncate_in_open(struct storage *st, raft_index index)
{
	struct open_segment *o = &st->open;
	assert(o->first != 0);
	assert(index >= o->first);
	assert(index <= o->last);
	uint64_t off = o->offsets[index - o->first];
	int rv = sio_truncate(st->io, o->fd, off);
	if (rv != 0)
		return fail_io(st, o->path, "ftruncate", rv);
	rv = sio_allocate(st->io, o->fd, st->segment_size_bytes);
	if (rv != 0)
		return fail_io(st, o->path, "preallocation (fallocate)", rv);
	rv = sio_fdatasync(st->io, o->fd);
	if (rv != 0)
		return fail_io(st, o->path, "fdatasync", rv);
	o->n_offsets = index - o->first;
	o->used_bytes = off;
	if (o->n_offsets == 0) {
		o->first = 0;
		o->last = 0;
	} else {
		o->last = index - 1;
	}
	return STORAGE_OK;
}

/* Finds where entry `index` begins in a closed segment by walking its record headers. */
static int closed_offset_of(struct storage *st, int fd, const char *path,
			    const struct segment *s, raft_index index, uint64_t *offset)
{
	uint64_t off = WAL_SEGMENT_HEADER_BYTES;
	for (raft_index i = s->first; i < index; i++) {
		uint8_t hdr[WAL_RECORD_HEADER_BYTES];
		int rv = sio_pread_exact(st->io, fd, hdr, sizeof(hdr), off);
		if (rv != 0)
			return fail_io(st, path, "read", rv);
		uint32_t len = get_u32(hdr);
		if (len == 0 || len > WAL_RECORD_MAX_BYTES)
			return storage_fail(st, storage_errmsg_set(st->errmsg, STORAGE_ECORRUPT,
								   "%s: offset %" PRIu64
								   ": bad record length",
								   path, off));
		off += WAL_RECORD_HEADER_BYTES + len;
	}
	*offset = off;
	return STORAGE_OK;
}

/*
 * Discards entries from `index` on when they reach below the open segment. The order
 * keeps every crash recoverable: first remove the open segment and the closed ones that
 * start at or after `index` (newest first, so a crash leaves a prefix of the log), make
 * that durable; then rename the segment holding `index` to its shortened range and make
 * that durable; only then cut its file. A crash between the last two steps leaves a
 * closed segment with records beyond its name, which recovery trims (the name is the
 * authority). Finally a fresh open segment takes the new entries.
 */
static int truncate_below_open(struct storage *st, raft_index index)
{
	struct open_segment *o = &st->open;
	int rv = sio_close(st->io, o->fd);
	o->fd = -1;
	if (rv != 0)
		return fail_io(st, o->path, "close", rv);
	rv = sio_unlink(st->io, o->path);
	if (rv != 0)
		return fail_io(st, o->path, "unlink", rv);
	char path[SIO_PATH_MAX];
	while (st->n_closed > 0 && st->closed[st->n_closed - 1].first >= index) {
		closed_path(st, &st->closed[st->n_closed - 1], path);
		rv = sio_unlink(st->io, path);
		if (rv != 0)
			return fail_io(st, path, "unlink", rv);
		st->n_closed--;
	}
	rv = sync_wal_dir(st);
	if (rv != STORAGE_OK)
		return rv;
	if (st->n_closed > 0 && st->closed[st->n_closed - 1].last >= index) {
		struct segment *s = &st->closed[st->n_closed - 1];
		assert(s->first < index);
		struct segment cut = {.first = s->first, .last = index - 1};
		char cut_path[SIO_PATH_MAX];
		closed_path(st, s, path);
		closed_path(st, &cut, cut_path);
		rv = sio_rename(st->io, path, cut_path);
		if (rv != 0)
			return fail_io(st, path, "rename", rv);
		*s = cut;
		rv = sync_wal_dir(st);
		if (rv != STORAGE_OK)
			return rv;
		int fd;
		rv = sio_open(st->io, cut_path, SIO_RDWR, &fd);
		if (rv != 0)
			return fail_io(st, cut_path, "open", rv);
		uint64_t off = 0;
		rv = closed_offset_of(st, fd, cut_path, s, index, &off);
		if (rv == STORAGE_OK) {
			int err = sio_truncate(st->io, fd, off);
			if (err == 0)
				err = sio_fdatasync(st->io, fd);
			if (err != 0)
				rv = fail_io(st, cut_path, "ftruncate and fdatasync", err);
		}
		sio_close(st->io, fd);
		if (rv != STORAGE_OK)
			return rv;
	}
	return storage_open_segment_create(st, o->seq + 1);
}

static int truncate_from(struct storage *st, raft_index index)
{
	assert(index > st->snap_index);
	assert(index <= st->last_index);
	int rv = retired_flush(st);
	if (rv != STORAGE_OK)
		return rv;
	if (st->open.first != 0 && index >= st->open.first)
		rv = truncate_in_open(st, index);
	else
		rv = truncate_below_open(st, index);
	if (rv != STORAGE_OK)
		return rv;
	st->last_index = index - 1;
	st->n_terms = st->last_index - st->snap_index;
	return STORAGE_OK;
}

/* ----------------------------------------------------------------------------------
 * Appending
 */

static int check_entries(struct storage *st, const struct raft_entry *entries, uint32_t n)
{
	raft_index first = entries[0].index;
	if (first <= st->snap_index || first > st->last_index + 1)
		return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
					  "append: entry %" PRIu64
					  " is not in the log's range (snapshot %" PRIu64
					  ", last %" PRIu64 ")",
					  first, st->snap_index, st->last_index);
	raft_term prev = term_at(st, first - 1);
	for (uint32_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		if (e->index != first + i)
			return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
						  "append: entries are not consecutive at %" PRIu64,
						  e->index);
		if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
			return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
						  "append: entry %" PRIu64 " has unknown type %d",
						  e->index, (int)e->type);
		if (e->term == 0 || e->term < prev)
			return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
						  "append: entry %" PRIu64 " has term %" PRIu64
						  ", below its predecessor's %" PRIu64,
						  e->index, e->term, prev);
		if (e->term > st->meta.hard_state.term)
			return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
						  "append: entry %" PRIu64 " has term %" PRIu64
						  " above the durable term %" PRIu64
						  " (persist the hard state first)",
						  e->index, e->term, st->meta.hard_state.term);
		if (raft_entry_len(e) > WAL_ENTRY_DATA_MAX_BYTES)
			return storage_errmsg_set(st->errmsg, STORAGE_EINVAL,
						  "append: entry %" PRIu64
						  " is larger than the WAL's limit",
						  e->index);
		prev = e->term;
	}
	return STORAGE_OK;
}

static uint64_t record_size(const struct raft_entry *e)
{
	return WAL_RECORD_HEADER_BYTES + proto_entry_size(e);
}

/* How many of entries[0..n) fit in the open segment: at least one if it is empty, so a
 * record larger than a segment gets a segment of its own. */
static uint32_t fit_count(const struct storage *st, const struct raft_entry *entries,
			  uint32_t n)
{
	uint64_t used = st->open.used_bytes;
	bool empty = st->open.first == 0;
	uint32_t k = 0;
	while (k < n) {
		uint64_t size = record_size(&entries[k]);
		if (used + size > st->segment_size_bytes && !(empty && k == 0))
			break;
		used += size;
		k++;
	}
	return k;
}

static void offsets_push(struct open_segment *o, uint64_t off)
{
	if (o->n_offsets == o->cap_offsets) {
		o->cap_offsets = o->cap_offsets ? o->cap_offsets * 2 : 1024;
		o->offsets = xrealloc(o->offsets, o->cap_offsets * sizeof(*o->offsets));
	}
	o->offsets[o->n_offsets++] = off;
}

/* Encodes entries[0..n) as records and writes them to the open segment in one call. */
static int write_records(struct storage *st, const struct raft_entry *entries, uint32_t n)
{
	struct open_segment *o = &st->open;
	/* Reserve the scratch once, so the iovecs may point into it. */
	size_t need = 0;
	for (uint32_t i = 0; i < n; i++) {
		need += WAL_RECORD_HEADER_BYTES + PROTO_ENTRY_HEAD_MAX_BYTES;
		if (raft_entry_len(&entries[i]) < INLINE_PAYLOAD_MAX_BYTES)
			need += raft_entry_len(&entries[i]);
	}
	if (need > st->wbuf_cap) {
		st->wbuf_cap = need * 2;
		free(st->wbuf);
		st->wbuf = xmalloc(st->wbuf_cap);
	}
	if (2 * (size_t)n + 1 > st->iov_cap) {
		st->iov_cap = 2 * n + 16;
		free(st->iov);
		st->iov = xmalloc(st->iov_cap * sizeof(*st->iov));
	}
	uint8_t *p = st->wbuf;
	uint32_t n_iov = 0;
	uint64_t off = o->used_bytes;
	st->iov[0].iov_base = p;
	st->iov[0].iov_len = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		const uint8_t *data = raft_entry_data(e);
		size_t len = raft_entry_len(e);
		uint8_t *hdr = p;
		size_t head_len = proto_entry_encode_head(e, hdr + WAL_RECORD_HEADER_BYTES);
		size_t rlen = head_len + len;
		assert(rlen <= WAL_RECORD_MAX_BYTES);
		put_u32(hdr, (uint32_t)rlen);
		put_u32(hdr + 4, wal_record_crc((uint32_t)rlen, hdr + WAL_RECORD_HEADER_BYTES,
						head_len, data, len));
		p += WAL_RECORD_HEADER_BYTES + head_len;
		if (len < INLINE_PAYLOAD_MAX_BYTES) {
			if (len > 0)
				memcpy(p, data, len);
			p += len;
		} else {
			/* close the inline run, point at the payload, open a new run */
			st->iov[n_iov].iov_len = (size_t)(p - (uint8_t *)st->iov[n_iov].iov_base);
			n_iov++;
			st->iov[n_iov].iov_base = (void *)data;
			st->iov[n_iov].iov_len = len;
			n_iov++;
			st->iov[n_iov].iov_base = p;
			st->iov[n_iov].iov_len = 0;
		}
		offsets_push(o, off);
		off += WAL_RECORD_HEADER_BYTES + rlen;
	}
	st->iov[n_iov].iov_len = (size_t)(p - (uint8_t *)st->iov[n_iov].iov_base);
	n_iov++;
	assert(n_iov <= st->iov_cap);

	int rv = sio_pwritev(st->io, o->fd, st->iov, (int)n_iov, o->used_bytes);
	if (rv != 0) {
		o->n_offsets -= n;
		char op[64];
		snprintf(op, sizeof(op), "write at offset %" PRIu64, o->used_bytes);
		return fail_io(st, o->path, op, rv);
	}
	o->used_bytes = off;
	if (o->first == 0)
		o->first = entries[0].index;
	o->last = entries[n - 1].index;
	o->dirty = true;
	for (uint32_t i = 0; i < n; i++)
		storage_terms_push(st, entries[i].term);
	st->last_index = entries[n - 1].index;
	return STORAGE_OK;
}

int storage_append(struct storage *st, const struct raft_entry *entries, uint32_t n)
{
	if (st->failed != STORAGE_OK)
		return refuse_failed(st);
	if (n == 0)
		return STORAGE_OK;
	int rv = check_entries(st, entries, n);
	if (rv != STORAGE_OK)
		return rv;
	assert(st->open.fd >= 0);
	if (entries[0].index <= st->last_index) {
		rv = truncate_from(st, entries[0].index);
		if (rv != STORAGE_OK)
			return rv;
	}
	assert(entries[0].index == st->last_index + 1);
	uint32_t done = 0;
	while (done < n) {
		uint32_t k = fit_count(st, entries + done, n - done);
		if (k == 0) {
			rv = rotate(st);
			if (rv != STORAGE_OK)
				return rv;
			continue;
		}
		rv = write_records(st, entries + done, k);
		if (rv != STORAGE_OK)
			return rv;
		done += k;
	}
	return STORAGE_OK;
}

bool storage_append_is_plain(const struct storage *st, const struct raft_entry *entries,
			     uint32_t n)
{
	if (st->failed != STORAGE_OK || n == 0 || st->open.fd < 0)
		return false;
	if (entries[0].index != st->last_index + 1)
		return false;
	/* Count the segments this append would retire, as storage_append fills them. */
	uint64_t used = st->open.used_bytes;
	bool empty = st->open.first == 0;
	uint32_t rotations = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t size = record_size(&entries[i]);
		if (used + size > st->segment_size_bytes && !empty) {
			rotations++;
			used = WAL_SEGMENT_HEADER_BYTES;
		}
		used += size;
		empty = false;
	}
	return st->n_retired + rotations <= STORAGE_RETIRED_MAX;
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

int storage_sync(struct storage *st)
{
	if (st->failed != STORAGE_OK)
		return refuse_failed(st);
	struct storage_sync_ticket t;
	storage_sync_prepare(st, &t);
	char errmsg[STORAGE_ERRMSG_SIZE];
	int rv = storage_sync_run(&t, errmsg);
	storage_sync_finish(st, rv, errmsg);
	return rv;
}

/* ----------------------------------------------------------------------------------
 * Hard state
 */

int storage_set_hard_state(struct storage *st, const struct raft_hard_state *hs)
{
	if (st->failed != STORAGE_OK)
		return refuse_failed(st);
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
		rv = storage_snapshot_put(st, rd->snapshot_index, rd->snapshot_term,
					  &rd->snapshot_conf, rd->snapshot_data->data,
					  rd->snapshot_data->len,
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
					  "snapshot: term %" PRIu64 " above the durable term %" PRIu64,
					  term, st->meta.hard_state.term);
	if (!(flags & STORAGE_SNAPSHOT_DISCARD_LOG) &&
	    (index > st->last_index || term_at(st, index) != term))
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
		return fail_io(st, o->path, "close", rv);
	rv = sio_unlink(st->io, o->path);
	if (rv != 0)
		return fail_io(st, o->path, "unlink", rv);
	char path[SIO_PATH_MAX];
	while (st->n_closed > 0) {
		closed_path(st, &st->closed[st->n_closed - 1], path);
		rv = sio_unlink(st->io, path);
		if (rv != 0)
			return fail_io(st, path, "unlink", rv);
		st->n_closed--;
	}
	/* Durable before anything is written after the snapshot: recovery must never see
	 * old entries next to new ones. */
	rv = sync_wal_dir(st);
	if (rv != STORAGE_OK)
		return rv;
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
		closed_path(st, &st->closed[gone], path);
		int rv = sio_unlink(st->io, path);
		if (rv != 0)
			return fail_io(st, path, "unlink", rv);
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

int storage_snapshot_put(struct storage *st, raft_index index, raft_term term,
			 const struct raft_conf *conf, const void *data, size_t len,
			 unsigned flags)
{
	if (st->failed != STORAGE_OK)
		return refuse_failed(st);
	int rv = check_snapshot(st, index, term, conf, len, flags);
	if (rv != STORAGE_OK)
		return rv;
	rv = retired_flush(st);
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
	if (old_index > 0) {
		char name[SIO_NAME_MAX + 1];
		char path[SIO_PATH_MAX];
		snap_name_format(name, old_index, old_term, false);
		path_join(path, st->snap_dir, name);
		rv = sio_unlink(st->io, path);
		if (rv != 0 && rv != -ENOENT)
			return fail_io(st, path, "unlink", rv);
	}
	return STORAGE_OK;
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
