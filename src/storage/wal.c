/* wal.c: segment names and headers, record checksums, and the segment scanner. */
#include "storage/wal.h"

#include "base/alloc.h"
#include "base/crc32c.h"
#include "storage/error.h"
#include "storage/util.h"

#include <assert.h>
#include <inttypes.h>

#define WAL_OPEN_PREFIX "open-"

static bool parse_u64_20(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool wal_name_parse(const char *name, struct wal_name *out)
{
	size_t n = strlen(name);
	size_t plen = strlen(WAL_OPEN_PREFIX);
	struct wal_name w = {0};
	if (n == plen + 20 && strncmp(name, WAL_OPEN_PREFIX, plen) == 0) {
		if (!parse_u64_20(name + plen, &w.seq))
			return false;
		w.kind = WAL_SEG_OPEN;
		*out = w;
		return true;
	}
	if (n != 41 || name[20] != '-')
		return false;
	if (!parse_u64_20(name, &w.first) || !parse_u64_20(name + 21, &w.last))
		return false;
	if (w.first == 0 || w.first > w.last)
		return false;
	w.kind = WAL_SEG_CLOSED;
	*out = w;
	return true;
}

bool wal_name_is_tmp(const char *name)
{
	size_t n = strlen(name);
	size_t plen = strlen(WAL_OPEN_PREFIX);
	size_t slen = strlen(WAL_TMP_SUFFIX);
	struct wal_name w;
	if (n != plen + 20 + slen || strcmp(name + plen + 20, WAL_TMP_SUFFIX) != 0)
		return false;
	char base[SIO_NAME_MAX + 1];
	memcpy(base, name, plen + 20);
	base[plen + 20] = '\0';
	return wal_name_parse(base, &w) && w.kind == WAL_SEG_OPEN;
}

void wal_name_format_closed(char *out, raft_index first, raft_index last)
{
	assert(first > 0);
	assert(first <= last);
	snprintf(out, SIO_NAME_MAX + 1, "%020" PRIu64 "-%020" PRIu64, first, last);
}

void wal_name_format_open(char *out, uint64_t seq)
{
	snprintf(out, SIO_NAME_MAX + 1, WAL_OPEN_PREFIX "%020" PRIu64, seq);
}

void wal_segment_header(uint8_t out[WAL_SEGMENT_HEADER_BYTES])
{
	put_u32(out, WAL_MAGIC);
	put_u32(out + 4, WAL_FORMAT_VERSION);
}

uint32_t wal_record_crc(uint32_t len, const void *a, size_t a_len, const void *b, size_t b_len)
{
	uint8_t len_le[4];
	put_u32(len_le, len);
	uint32_t c = crc32c(0, len_le, 4);
	c = crc32c(c, a, a_len);
	return crc32c(c, b, b_len);
}

/* ----------------------------------------------------------------------------------
 * Scanning
 */

/* Offset just past the last non-zero byte of buf[from, len), or `from` if all zero. */
static uint64_t last_nonzero_end(const uint8_t *buf, uint64_t from, uint64_t len)
{
	uint64_t end = len;
	/* Skip whole zero words from the end first: preallocated tails are long. */
	while (end >= from + 8) {
		uint64_t w;
		memcpy(&w, buf + end - 8, 8);
		if (w != 0)
			break;
		end -= 8;
	}
	while (end > from && buf[end - 1] == 0)
		end--;
	return end;
}

/* Checks the record at `off` without delivering it: its length fits before `limit`, its
 * checksum matches and it decodes. On success stores the entry's index. */
static bool record_valid_at(const uint8_t *buf, uint64_t off, uint64_t limit, raft_index *index,
                            uint64_t *budget)
{
	if (off + WAL_RECORD_HEADER_BYTES > limit)
		return false;
	uint32_t rlen = get_u32(buf + off);
	if (rlen == 0 || rlen > WAL_RECORD_MAX_BYTES)
		return false;
	if (rlen > limit - off - WAL_RECORD_HEADER_BYTES)
		return false;
	if (*budget < rlen) {
		*budget = 0;
		return false;
	}
	*budget -= rlen;
	const uint8_t *payload = buf + off + WAL_RECORD_HEADER_BYTES;
	if (wal_record_crc(rlen, payload, rlen, NULL, 0) != get_u32(buf + off + 4))
		return false;
	struct raft_entry e;
	if (proto_entry_decode(payload, rlen, &e) != PROTO_OK)
		return false;
	*index = e.index;
	raft_buf_unref(e.buf);
	return true;
}

/* Whether the record at `off` is complete and checks out under a length one bit away
 * from the one it claims: a flipped length bit that makes the last record claim more
 * bytes than were written would otherwise look like an interrupted write. */
static bool length_bit_flipped(const struct wal_scan *s, uint64_t off)
{
	if (s->len < off + WAL_RECORD_HEADER_BYTES)
		return false;
	uint32_t rlen = get_u32(s->buf + off);
	uint32_t crc = get_u32(s->buf + off + 4);
	const uint8_t *payload = s->buf + off + WAL_RECORD_HEADER_BYTES;
	for (int b = 0; b < 32; b++) {
		uint32_t cand = rlen ^ (1u << b);
		if (cand == 0 || cand > WAL_RECORD_MAX_BYTES ||
		    cand > s->len - off - WAL_RECORD_HEADER_BYTES)
			continue;
		if (wal_record_crc(cand, payload, cand, NULL, 0) == crc)
			return true;
	}
	return false;
}

/* Work allowed for trying one-bit payload flips (bytes checksummed): the records of a
 * tail are small, and larger ones are taken for torn as before. */
#define WAL_FLIP_BUDGET_BYTES ((uint64_t)64 << 20)

/* Whether the record at `off`, taken at its claimed length (its last bytes may be zeros
 * of its own, indistinguishable from the preallocated ones after it), checks out with
 * one bit of its checksum, or of its payload before `z` (the end of its non-zero bytes),
 * flipped back: a complete record damaged after it was written, not an interrupted write.
 * (A bit after `z` is not tried: a write torn just before a last byte with one bit set
 * would match.) */
static bool complete_bit_flipped(const struct wal_scan *s, uint64_t off, uint32_t rlen, uint64_t z)
{
	if (s->len < off + WAL_RECORD_HEADER_BYTES + rlen)
		return false;
	uint32_t crc = get_u32(s->buf + off + 4);
	const uint8_t *payload = s->buf + off + WAL_RECORD_HEADER_BYTES;
	uint32_t actual = wal_record_crc(rlen, payload, rlen, NULL, 0);
	if (actual == crc || __builtin_popcount(actual ^ crc) == 1)
		return true;
	if ((uint64_t)rlen * rlen * 8 > WAL_FLIP_BUDGET_BYTES)
		return false;
	uint8_t *copy = xmalloc(rlen);
	memcpy(copy, payload, rlen);
	bool found = false;
	uint64_t written = z - off - WAL_RECORD_HEADER_BYTES;
	for (uint32_t i = 0; i < written && !found; i++) {
		for (int b = 0; b < 8 && !found; b++) {
			copy[i] ^= (uint8_t)(1u << b);
			found = wal_record_crc(rlen, copy, rlen, NULL, 0) == crc;
			copy[i] ^= (uint8_t)(1u << b);
		}
	}
	free(copy);
	return found;
}

/*
 * The newest open segment is only ever written at its end, into preallocated zeros, one
 * write per batch. A crash can therefore leave, after the last complete record, a prefix
 * of a batch followed by zeros, and nothing else. The record at `off` failed its checks;
 * it is judged torn (an interrupted write, cut off on repair) only if:
 *
 *   - everything non-zero from `off` on fits in the record's claimed extent, with at
 *     least one byte of that extent still zero (a complete record that fails its
 *     checksum was damaged after it was written, so it is corruption), or only its
 *     length field was (partly) written; and
 *   - no valid record with a later index starts anywhere in that non-zero stretch (else
 *     the damage sits in the middle of acknowledged data, e.g. a flipped length bit).
 *
 * Anything else is corruption.
 */
static bool judge_torn(struct wal_scan *s, uint64_t off, const char **why)
{
	const uint8_t *buf = s->buf;
	uint64_t z = last_nonzero_end(buf, off, s->len);
	s->tail_bytes = z - off;
	if (z <= off + 4)
		return true; /* at most the length field was written */
	/* The length field is complete (z > off + 4 and z <= len). */
	uint32_t rlen = get_u32(buf + off);
	if (rlen == 0 || rlen > WAL_RECORD_MAX_BYTES) {
		*why = "impossible record length";
		return false;
	}
	if (z >= off + WAL_RECORD_HEADER_BYTES + rlen) {
		*why = "a complete record fails its checksum, or data follows it";
		return false;
	}
	if (z > off + WAL_RECORD_HEADER_BYTES && complete_bit_flipped(s, off, rlen, z)) {
		*why = "a complete record (ending in zero bytes) with one bit flipped: damage, "
		       "not an interrupted write";
		return false;
	}
	if (length_bit_flipped(s, off)) {
		*why = "a complete record whose length field has one bit flipped: damage, not an "
		       "interrupted write";
		return false;
	}
	uint64_t budget = WAL_RESYNC_BUDGET_BYTES;
	for (uint64_t o = off + 1; o + WAL_RECORD_HEADER_BYTES < z; o++) {
		raft_index index;
		if (record_valid_at(buf, o, z, &index, &budget) && index > s->last_index) {
			*why = "valid records follow the damaged one";
			return false;
		}
		if (budget == 0) {
			*why = "damaged record; cannot tell a torn write from corruption";
			return false;
		}
	}
	return true;
}

/* The evidence damage at `off` leaves of how far the segment reached: the entry after the
 * last valid record (the damaged bytes were a record: a crash leaves only zeros or a torn
 * prefix, which the caller has ruled out), and any record further on that still checks
 * out (a flipped bit in the middle of acknowledged data). */
static raft_index damage_evidence(const struct wal_scan *s, uint64_t off)
{
	raft_index seen = s->last_index + 1;
	if (s->closed && s->n_records == 0)
		seen = s->first;
	uint64_t z = last_nonzero_end(s->buf, off, s->len);
	uint64_t budget = WAL_RESYNC_BUDGET_BYTES;
	for (uint64_t o = off + 1; o + WAL_RECORD_HEADER_BYTES < z && budget > 0; o++) {
		raft_index index;
		if (record_valid_at(s->buf, o, z, &index, &budget) && index > seen) {
			seen = index;
			o += WAL_RECORD_HEADER_BYTES + get_u32(s->buf + o) - 1;
		}
	}
	return seen;
}

int wal_scan_segment(struct wal_scan *s, char *errmsg)
{
	const uint8_t *buf = s->buf;
	s->end = WAL_SCAN_CLEAN;
	s->n_records = 0;
	s->first_index = 0;
	s->last_index = 0;
	s->end_offset = 0;
	s->tail_bytes = 0;
	s->damage_index = 0;

	uint8_t want[WAL_SEGMENT_HEADER_BYTES];
	wal_segment_header(want);
	if (s->len < WAL_SEGMENT_HEADER_BYTES || memcmp(buf, want, WAL_SEGMENT_HEADER_BYTES) != 0) {
		/* A prefix of the header and zeros: a segment is renamed into place only once
		 * its header and preallocation are durable, so no crash leaves this either. */
		uint64_t z = last_nonzero_end(buf, 0, s->len);
		if (z <= WAL_SEGMENT_HEADER_BYTES && (z == 0 || memcmp(buf, want, z) == 0)) {
			if (s->len < WAL_SEGMENT_HEADER_BYTES)
				return storage_errmsg_set(
				    errmsg, STORAGE_ECORRUPT,
				    "%s: offset %" PRIu64
				    ": the file ends inside the segment header "
				    "(segments are created whole: it was cut)",
				    s->path, s->len);
			return storage_errmsg_set(
			    errmsg, STORAGE_ECORRUPT,
			    "%s: offset %" PRIu64
			    ": the segment header is incomplete (segments are "
			    "created whole: damaged)",
			    s->path, z);
		}
		if (s->len >= 4 && get_u32(buf) == WAL_MAGIC)
			return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
			                          "%s: offset 4: unsupported segment format "
			                          "version",
			                          s->path);
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: offset 0: bad segment header (not a Concord WAL "
		                          "segment, or damaged)",
		                          s->path);
	}

	uint64_t off = WAL_SEGMENT_HEADER_BYTES;
	s->end_offset = off;
	raft_index expect = s->closed ? s->first : 0;
	const char *why = NULL;
	char reason[STORAGE_ERRMSG_SIZE];
	for (;;) {
		if (s->closed && s->n_records > 0 && s->last_index == s->last) {
			/* Every record the name promises was read. */
			s->tail_bytes = s->len - off;
			if (s->tail_bytes > 0)
				s->end = WAL_SCAN_LEFTOVER;
			return STORAGE_OK;
		}
		uint64_t left = s->len - off;
		if (left == 0 ||
		    (left < WAL_RECORD_HEADER_BYTES && bytes_all_zero(buf + off, left)))
			goto end_of_data;
		if (left < WAL_RECORD_HEADER_BYTES) {
			why = "truncated record header";
			goto bad;
		}
		uint32_t rlen = get_u32(buf + off);
		uint32_t crc = get_u32(buf + off + 4);
		if (rlen == 0 && crc == 0 && bytes_all_zero(buf + off, left))
			goto end_of_data;
		if (rlen == 0 || rlen > WAL_RECORD_MAX_BYTES) {
			why = "bad record length";
			goto bad;
		}
		if (rlen > left - WAL_RECORD_HEADER_BYTES) {
			why = "record length runs past the end of the file";
			goto bad;
		}
		const uint8_t *payload = buf + off + WAL_RECORD_HEADER_BYTES;
		if (wal_record_crc(rlen, payload, rlen, NULL, 0) != crc) {
			why = "checksum mismatch";
			goto bad;
		}
		/* From here on the bytes are exactly what was written: any refusal is
		 * corruption (or a bug), never a torn write. */
		struct raft_entry e;
		int rv = proto_entry_decode(payload, rlen, &e);
		if (rv != PROTO_OK) {
			s->damage_index = damage_evidence(s, off);
			return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
			                          "%s: offset %" PRIu64
			                          ": record does not decode as an entry: %s",
			                          s->path, off, proto_strerror(rv));
		}
		if (expect != 0 && e.index != expect) {
			raft_buf_unref(e.buf);
			s->damage_index = damage_evidence(s, off);
			return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
			                          "%s: offset %" PRIu64
			                          ": index gap: expected entry %" PRIu64
			                          ", found %" PRIu64,
			                          s->path, off, expect, e.index);
		}
		raft_index index = e.index;
		rv = s->on_record ? s->on_record(s->ctx, &e, off, reason) : STORAGE_OK;
		if (!s->on_record)
			raft_buf_unref(e.buf);
		if (rv != STORAGE_OK)
			return storage_errmsg_set(errmsg, rv, "%s: offset %" PRIu64 ": %s", s->path,
			                          off, reason);
		if (s->n_records == 0)
			s->first_index = index;
		s->last_index = index;
		s->n_records++;
		expect = index + 1;
		off += WAL_RECORD_HEADER_BYTES + rlen;
		s->end_offset = off;
	}

end_of_data:
	if (s->closed)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: offset %" PRIu64
		                          ": segment ends before entry %" PRIu64
		                          " (its name promises entries %" PRIu64 "-%" PRIu64 ")",
		                          s->path, off, expect, s->first, s->last);
	s->end = WAL_SCAN_CLEAN;
	return STORAGE_OK;

bad:
	if (s->len - off >= WAL_RECORD_HEADER_BYTES && bytes_all_zero(buf + off, 8)) {
		/* Zeros where the next record would begin, yet something non-zero after them:
		 * nothing writes there, so it is damage in the preallocated tail. */
		uint64_t at = off;
		while (at < s->len && buf[at] == 0)
			at++;
		s->damage_index = s->last_index;
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: offset %" PRIu64
		                          ": non-zero byte in the preallocated tail (the records "
		                          "end at offset %" PRIu64 ", and nothing is written after "
		                          "them)",
		                          s->path, at, off);
	}
	s->damage_index = damage_evidence(s, off);
	if (s->allow_torn) {
		const char *torn_why = NULL;
		if (judge_torn(s, off, &torn_why)) {
			s->end = WAL_SCAN_TORN;
			s->damage_index = 0;
			return STORAGE_OK;
		}
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: offset %" PRIu64 ": %s (%s)", s->path, off, why,
		                          torn_why);
	}
	return storage_errmsg_set(errmsg, STORAGE_ECORRUPT, "%s: offset %" PRIu64 ": %s", s->path,
	                          off, why);
}
