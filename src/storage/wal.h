/* wal.h: write-ahead log segments: names, record framing, and the scanner recovery uses. */
#ifndef CONCORD_STORAGE_WAL_H
#define CONCORD_STORAGE_WAL_H

/*
 * DIR/wal holds segments. Each starts with an 8-byte header [u32 magic "CWAL"][u32 format
 * version] followed by records
 *
 *   [u32 length][u32 crc32c][Entry protobuf of `length` bytes]
 *
 * little-endian, the checksum taken over the length field's four bytes and the payload.
 * Records hold consecutive indexes. The segment being written is named open-<seq> and is
 * preallocated (zeros after the last record), made whole under the name open-<seq>.tmp and
 * renamed into place after an fdatasync; a full segment is trimmed to its records,
 * fsync'd and renamed <first>-<last> after the indexes it holds (20-digit decimals). See
 * docs/disk-format.md.
 */

#include "base/limits.h"
#include "concord/raft.h"
#include "proto/codec.h"
#include "storage/io.h"

#include <stdbool.h>
#include <stdint.h>

#define WAL_DIR                  "wal"
#define WAL_MAGIC                0x4c415743u /* "CWAL" */
#define WAL_FORMAT_VERSION       1u
#define WAL_SEGMENT_HEADER_BYTES 8u
#define WAL_TMP_SUFFIX           ".tmp" /* an open segment being created */
#define WAL_RECORD_HEADER_BYTES  8u
/* Largest payload an entry may carry in the WAL, and largest record. */
#define WAL_ENTRY_DATA_MAX_BYTES ((uint64_t)CONCORD_ENTRY_BYTES_MAX)
#define WAL_RECORD_MAX_BYTES     ((uint32_t)(WAL_ENTRY_DATA_MAX_BYTES + PROTO_ENTRY_HEAD_MAX_BYTES))
/* Largest segment file recovery reads (segments are split at record boundaries once they
 * reach the configured size, so only a misconfiguration or corruption exceeds this). */
_Static_assert(WAL_ENTRY_DATA_MAX_BYTES <= PROTO_ENTRY_DATA_MAX_BYTES,
               "a WAL entry is a proto entry");
_Static_assert(WAL_ENTRY_DATA_MAX_BYTES + PROTO_ENTRY_HEAD_MAX_BYTES <= UINT32_MAX,
               "a record's length fits its 32-bit header field");
#define WAL_SEGMENT_READ_MAX_BYTES ((uint64_t)1 << 30)
/* How many record checksums the torn-tail check may compute hunting for a valid record
 * after a damaged one, in bytes; beyond it the damage is judged corruption (the safe
 * side: refuse rather than cut). */
#define WAL_RESYNC_BUDGET_BYTES ((uint64_t)256 << 20)

_Static_assert(WAL_RECORD_MAX_BYTES < UINT32_MAX, "a record length fits in 32 bits");

enum wal_seg_kind { WAL_SEG_CLOSED, WAL_SEG_OPEN };

struct wal_name {
	enum wal_seg_kind kind;
	raft_index first; /* closed */
	raft_index last;  /* closed */
	uint64_t seq;     /* open */
};

/* Parses a file name of DIR/wal; false if it is not a segment's name. */
bool wal_name_parse(const char *name, struct wal_name *out);
/* Whether `name` is an open segment's temporary name (a creation a crash interrupted). */
bool wal_name_is_tmp(const char *name);
void wal_name_format_closed(char *out, raft_index first, raft_index last);
void wal_name_format_open(char *out, uint64_t seq);

/* The 8-byte segment header. */
void wal_segment_header(uint8_t out[WAL_SEGMENT_HEADER_BYTES]);

/* A record's checksum over its length field and its payload given as two pieces. */
uint32_t wal_record_crc(uint32_t len, const void *a, size_t a_len, const void *b, size_t b_len);

/* ---- Scanning one segment's bytes */

enum wal_scan_end {
	WAL_SCAN_CLEAN,    /* the records end at the end of the data (EOF or zeros to EOF) */
	WAL_SCAN_TORN,     /* the bytes from end_offset on are an interrupted write */
	WAL_SCAN_LEFTOVER, /* closed segment: every named record read, then bytes left by an
	                      interrupted truncation (harmless, trimmed on repair) */
};

/* Called for each valid record, in order. `e` holds a reference to its payload, which the
 * callback takes over. Returns 0, or a STORAGE_E* code after writing a reason (without
 * file or offset: the scanner adds them) into errmsg to refuse the segment. */
typedef int (*wal_record_fn)(void *ctx, struct raft_entry *e, uint64_t offset, char *errmsg);

struct wal_scan {
	/* inputs */
	const char *path;   /* for messages */
	const uint8_t *buf; /* the whole file */
	uint64_t len;
	bool closed;      /* a closed segment: records first..last exactly */
	raft_index first; /* closed: the name's first index */
	raft_index last;  /* closed: the name's last index */
	bool allow_torn;  /* the newest open segment: an interrupted write may end it */
	wal_record_fn on_record;
	void *ctx;
	/* outputs */
	enum wal_scan_end end;
	uint64_t n_records;
	raft_index first_index; /* of the records read (0: none) */
	raft_index last_index;
	uint64_t end_offset; /* just past the last valid record (or the header) */
	uint64_t tail_bytes; /* TORN, LEFTOVER: bytes from end_offset to the last non-zero
	                        byte */
	/* ECORRUPT: the highest index the damaged bytes still show was written (a damaged
	 * record counts as the entry after the last valid one; valid records found after
	 * it count as theirs); recovery's catch-up target is at least this. */
	raft_index damage_index;
};

/* Scans s->buf. Returns 0 with the outputs set, or STORAGE_ECORRUPT with errmsg naming the
 * file and the offset of the first byte that cannot be explained by a crash. */
int wal_scan_segment(struct wal_scan *s, char *errmsg);

#endif /* CONCORD_STORAGE_WAL_H */
