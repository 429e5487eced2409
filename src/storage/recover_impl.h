/* recover_impl.h: the recovery state, shared by recover.c, recover_scan.c and recover_repair.c. */
#ifndef CONCORD_STORAGE_RECOVER_IMPL_H
#define CONCORD_STORAGE_RECOVER_IMPL_H

#include "proto/codec.h"
#include "storage/io.h"
#include "storage/snap.h"
#include "storage/storage.h"
#include "storage/wal.h"

#include <stdbool.h>
#include <stdint.h>

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
	bool discard;    /* written after an interrupted write, or after damage: dropped */
	bool trim_after; /* renamed closed by repair; trimmed once the name is durable */
	bool damaged;    /* damage found in it: only its records before end_offset are kept */
};

/* Everything recovery learns; shared by storage_open (repair) and storage_inspect. */
struct recovery {
	struct sio *io;
	const char *dir;
	char wal_dir[SIO_PATH_MAX];
	char snap_dir[SIO_PATH_MAX];
	bool repair;
	bool keep_payloads;
	bool repair_from_peers; /* damage to durable data is cut off, not refused */
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
	char (*stale_tmp)[SIO_NAME_MAX + 1]; /* open segments whose creation was interrupted */
	uint32_t n_stale_tmp;

	/* replay state */
	const char *cur_path;
	bool cur_after_open;        /* the segment follows an open (unfinished) segment */
	bool cur_first_record;      /* no record of the segment replayed yet */
	bool cut_rest;              /* the segment and every later one are to be discarded */
	raft_index last_seen;       /* index of the last record read (0: none yet) */
	raft_term term_at_snap;     /* term of the record at the snapshot's index, 0 if unseen */
	struct raft_entry *entries; /* after the snapshot */
	uint64_t n_entries;
	uint64_t cap_entries;
	bool discard_all; /* the log conflicts with the snapshot: an interrupted install */

	/* Protocol-aware recovery: what the node can prove it had made durable. */
	raft_index proven_end; /* max of meta's recorded durable end and closed names */
	bool damaged;          /* damage to durable data found; later segments dropped */
	char damage[STORAGE_ERRMSG_SIZE];
	raft_index catch_up_to;                 /* with damage: where the log reached, at least */
	char skipped_snap[STORAGE_ERRMSG_SIZE]; /* why a damaged snapshot was skipped */
	raft_index skipped_snap_index;          /* the newest damaged one's index (its name) */
};

/* ---- recover_scan.c */

/* Lists a directory. Once a meta file exists, DIR/wal and DIR/snap must too: a missing
 * one would silently lose acknowledged entries, so it is corruption. */
int recovery_list_dir(struct recovery *r, const char *path, struct sio_names *names,
                      bool must_exist);
/* The whole read-only part of recovery: snapshot, segments, checks (meta is loaded). */
int recovery_scan(struct recovery *r);

/* ---- recover_repair.c */

/* storage_open only: makes the directory what the recovered state says, then makes
 * everything recovery read durable. */
int recovery_repair(struct recovery *r);

#endif /* CONCORD_STORAGE_RECOVER_IMPL_H */
