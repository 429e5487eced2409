/* append.c: appending entries: encoding, segment rotation, truncating a conflicting suffix. */
#include "storage/impl.h"

#include "base/alloc.h"
#include "storage/util.h"
#include "storage/wal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Payloads smaller than this are copied next to their record header so that a batch of
 * small entries is one contiguous write; larger ones are written from where they lie. */
#define INLINE_PAYLOAD_MAX_BYTES 1024u

/* ----------------------------------------------------------------------------------
 * Rotation
 */

/* Retires the full open segment (closed by the next sync) and starts the next one. */
static int rotate(struct storage *st)
{
	struct open_segment *o = &st->open;
	assert(o->fd >= 0);
	assert(o->first != 0);
	if (st->n_retired == STORAGE_RETIRED_MAX) {
		int rv = storage_retired_flush(st);
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

/* ----------------------------------------------------------------------------------
 * Truncating a conflicting suffix (the rare path)
 */

/* Finds where entry `index` begins in a closed segment by walking its record headers. */
static int closed_offset_of(struct storage *st, int fd, const char *path, const struct segment *s,
                            raft_index index, uint64_t *offset)
{
	uint64_t off = WAL_SEGMENT_HEADER_BYTES;
	for (raft_index i = s->first; i < index; i++) {
		uint8_t hdr[WAL_RECORD_HEADER_BYTES];
		int rv = sio_pread_exact(st->io, fd, hdr, sizeof(hdr), off);
		if (rv != 0)
			return storage_fail_io(st, path, "read", rv);
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
static int cut_closed_from(struct storage *st, raft_index index)
{
	struct open_segment *o = &st->open;
	int rv;
	char path[SIO_PATH_MAX];
	while (st->n_closed > 0 && st->closed[st->n_closed - 1].first >= index) {
		storage_closed_path(st, &st->closed[st->n_closed - 1], path);
		rv = sio_unlink(st->io, path);
		if (rv != 0)
			return storage_fail_io(st, path, "unlink", rv);
		st->n_closed--;
	}
	rv = storage_sync_wal_dir(st);
	if (rv != STORAGE_OK)
		return rv;
	if (st->n_closed > 0 && st->closed[st->n_closed - 1].last >= index) {
		struct segment *s = &st->closed[st->n_closed - 1];
		assert(s->first < index);
		struct segment cut = {.first = s->first, .last = index - 1};
		char cut_path[SIO_PATH_MAX];
		storage_closed_path(st, s, path);
		storage_closed_path(st, &cut, cut_path);
		rv = sio_rename(st->io, path, cut_path);
		if (rv != 0)
			return storage_fail_io(st, path, "rename", rv);
		*s = cut;
		rv = storage_sync_wal_dir(st);
		if (rv != STORAGE_OK)
			return rv;
		int fd;
		rv = sio_open(st->io, cut_path, SIO_RDWR, &fd);
		if (rv != 0)
			return storage_fail_io(st, cut_path, "open", rv);
		uint64_t off = 0;
		rv = closed_offset_of(st, fd, cut_path, s, index, &off);
		if (rv == STORAGE_OK) {
			int err = sio_truncate(st->io, fd, off);
			if (err == 0)
				err = sio_fdatasync(st->io, fd);
			if (err != 0)
				rv = storage_fail_io(st, cut_path, "ftruncate and fdatasync", err);
		}
		sio_close(st->io, fd);
		if (rv != STORAGE_OK)
			return rv;
	}
	return storage_open_segment_create(st, o->seq + 1);
}

static int truncate_below_open(struct storage *st, raft_index index)
{
	struct open_segment *o = &st->open;
	int rv = sio_close(st->io, o->fd);
	o->fd = -1;
	if (rv != 0)
		return storage_fail_io(st, o->path, "close", rv);
	rv = sio_unlink(st->io, o->path);
	if (rv != 0)
		return storage_fail_io(st, o->path, "unlink", rv);
	return cut_closed_from(st, index);
}

/*
 * Discards the open segment's records from entry `index` on. The open segment is never
 * shortened in place: a crash between an ftruncate and the preallocation after it would
 * leave an open segment shorter than its preallocated size, which recovery takes for
 * damage (a cut file). Instead it is closed as it stands (fdatasync, renamed
 * <first>-<last>) and then cut like any closed segment: renamed to <first>-<index-1>,
 * trimmed, and a fresh open segment takes the new entries.
 */
static int truncate_in_open(struct storage *st, raft_index index)
{
	struct open_segment *o = &st->open;
	assert(o->first != 0);
	assert(index >= o->first);
	assert(index <= o->last);
	if (index == o->first)
		return truncate_below_open(st, index);
	int rv = sio_fdatasync(st->io, o->fd);
	if (rv != 0)
		return storage_fail_io(st, o->path, "fdatasync", rv);
	rv = sio_close(st->io, o->fd);
	o->fd = -1;
	if (rv != 0)
		return storage_fail_io(st, o->path, "close", rv);
	char closed[SIO_PATH_MAX];
	struct segment whole = {.first = o->first, .last = o->last};
	storage_closed_path(st, &whole, closed);
	rv = sio_rename(st->io, o->path, closed);
	if (rv != 0)
		return storage_fail_io(st, o->path, "rename", rv);
	storage_closed_push(st, whole.first, whole.last);
	return cut_closed_from(st, index);
}

static int truncate_from(struct storage *st, raft_index index)
{
	assert(index > st->snap_index);
	assert(index <= st->last_index);
	int rv = storage_retired_flush(st);
	if (rv == STORAGE_OK)
		rv = storage_lower_durable(st, index - 1);
	if (rv != STORAGE_OK)
		return rv;
	if (atomic_load(&st->synced_index) >= index)
		atomic_store(&st->synced_index, index - 1);
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
	raft_term prev = storage_term_at(st, first - 1);
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
			return storage_errmsg_set(
			    st->errmsg, STORAGE_EINVAL,
			    "append: entry %" PRIu64 " is larger than the WAL's limit", e->index);
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
static uint32_t fit_count(const struct storage *st, const struct raft_entry *entries, uint32_t n)
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
		return storage_fail_io(st, o->path, op, rv);
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
		return storage_refuse_failed(st);
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

bool storage_append_is_plain(const struct storage *st, const struct raft_entry *entries, uint32_t n)
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
