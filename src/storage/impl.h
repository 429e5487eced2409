/* impl.h: the storage object's internals, shared by storage.c, append.c and recover*.c. */
#ifndef CONCORD_STORAGE_IMPL_H
#define CONCORD_STORAGE_IMPL_H

#include "proto/codec.h"
#include "storage/storage.h"

#include <stdatomic.h>
#include <sys/uio.h>

/* A closed segment: DIR/wal/<first>-<last>, records first..last, trimmed, durable. */
struct segment {
	raft_index first;
	raft_index last;
};

/* The segment being written: DIR/wal/open-<seq>, preallocated to the segment size. */
struct open_segment {
	int fd; /* -1 when there is none (only while failing or closing) */
	uint64_t seq;
	char path[SIO_PATH_MAX];
	raft_index first; /* 0 while it holds no record */
	raft_index last;
	uint64_t used_bytes; /* header and records; the next record goes here */
	uint64_t *offsets;   /* offsets[i]: where entry first + i begins */
	uint64_t n_offsets;
	uint64_t cap_offsets;
	bool dirty; /* written since the last sync */
};

struct storage {
	struct sio *io;
	char dir[SIO_PATH_MAX];
	char wal_dir[SIO_PATH_MAX];
	char snap_dir[SIO_PATH_MAX];
	char errmsg[STORAGE_ERRMSG_SIZE];
	int failed; /* fail-stop: the error that stopped the storage, 0 while working */
	uint64_t segment_size_bytes;

	struct proto_meta meta; /* as durable on disk */
	/* Last index a completed sync covered (written by the syncer thread, read by the
	 * writer when it records the durable end in meta). */
	_Atomic uint64_t synced_index;

	raft_index snap_index; /* 0: no snapshot */
	raft_term snap_term;
	raft_index last_index; /* last entry written (>= snap_index) */
	/* terms[i] is the term of entry snap_index + 1 + i, up to last_index. */
	raft_term *terms;
	uint64_t n_terms;
	uint64_t cap_terms;

	struct segment *closed; /* oldest first, contiguous */
	uint32_t n_closed;
	uint32_t cap_closed;
	struct open_segment open;
	/* Full segments waiting for the next sync to become durable and closed. */
	struct storage_retired retired[STORAGE_RETIRED_MAX];
	uint32_t n_retired;
	bool wal_dir_dirty; /* DIR/wal changed since its last fsync */

	/* scratch for encoding appends */
	uint8_t *wbuf;
	size_t wbuf_cap;
	struct iovec *iov;
	uint32_t iov_cap;
};

/* ---- storage.c */

/* Records a failure (fail-stop) and returns `err`. */
int storage_fail(struct storage *st, int err);
/* Records a failed file call (`op` on `path`, -errno `neg_errno`) and fails. */
int storage_fail_io(struct storage *st, const char *path, const char *op, int neg_errno);
/* What every call returns once the storage has failed (STORAGE_EFAILED). */
int storage_refuse_failed(struct storage *st);
/* The term of entry `index`: the snapshot's at snap_index, 0 outside the log. */
raft_term storage_term_at(const struct storage *st, raft_index index);
/* DIR/wal/<first>-<last> for a closed segment. */
void storage_closed_path(const struct storage *st, const struct segment *s, char *path);
/* Creates and preallocates DIR/wal/open-<seq> as the open segment. */
int storage_open_segment_create(struct storage *st, uint64_t seq);
/* Closes the retired segments now, before anything that relies on their closed names. */
int storage_retired_flush(struct storage *st);
/* fsyncs DIR/wal (no retired segment may be pending). */
int storage_sync_wal_dir(struct storage *st);
void storage_terms_push(struct storage *st, raft_term term);
void storage_closed_push(struct storage *st, raft_index first, raft_index last);
/* Before the log's end goes below the durable end recorded in meta (a conflicting suffix
 * truncated, a snapshot installed over the log), records `index` instead, durably. */
int storage_lower_durable(struct storage *st, raft_index index);
/* Records in meta, if they changed, the durable end (at least `index`) and the segment
 * size open segments are now preallocated to. */
int storage_record_durable(struct storage *st, raft_index index);

#endif /* CONCORD_STORAGE_IMPL_H */
