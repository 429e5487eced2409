/* snap.h: snapshot files in DIR/snap: written under a temporary name, fsync'd, renamed. */
#ifndef CONCORD_STORAGE_SNAP_H
#define CONCORD_STORAGE_SNAP_H

/*
 * DIR/snap/snapshot-<index>-<term> (both 20-digit decimal) holds
 *
 *   [u32 magic "CSNP"][u32 length][u32 crc32c][SnapshotMeta protobuf][data]
 *
 * little-endian; the header checksum covers the length field and the SnapshotMeta, which
 * records the index, term and configuration, and the size and CRC-32C of the data. A
 * snapshot is written as snapshot-...tmp, fsync'd, renamed to its final name and the
 * directory fsync'd, so a file with a final name was complete and durable before it got
 * it: any damage found later is media corruption. A node's own snapshots are written by
 * a forked child as snapshot-...child (through snapshot-...child.tmp) and renamed to the
 * final name by the storage; recovery removes both kinds of leftovers, as it does .tmp.
 */

#include "concord/raft.h"
#include "proto/codec.h"
#include "storage/io.h"

#include <stdbool.h>

#define SNAP_DIR            "snap"
#define SNAP_MAGIC          0x504e5343u /* "CSNP" */
#define SNAP_HEADER_BYTES   12u
#define SNAP_META_MAX_BYTES 4096u
#define SNAP_DATA_MAX_BYTES ((uint64_t)UINT32_MAX) /* a raft_buf's length is 32 bits */

struct snap_name {
	raft_index index;
	raft_term term;
	bool child; /* .child: a forked child's file (snap_write_stream), not moved in yet */
	bool tmp;   /* .tmp: being written */
};

/* The header checksum: CRC-32C of the little-endian length field, then the meta. */
uint32_t snap_header_crc(uint32_t len, const uint8_t *meta);

/* Parses a file name of DIR/snap; false if it is not a snapshot's name. */
bool snap_name_parse(const char *name, struct snap_name *out);
/* Formats the name of snapshot (index, term) into out[SIO_NAME_MAX + 1]. */
void snap_name_format(char *out, raft_index index, raft_term term, bool tmp);
/* The same for any name snap_name_parse() accepts. */
void snap_name_format_as(char *out, const struct snap_name *s);

/* Writes a snapshot durably under its final name in snap_dir (see above). */
int snap_write(struct sio *io, const char *snap_dir, const struct proto_snapshot_meta *meta,
               const void *data, char *errmsg);

/* Where snap_write_stream() takes the data from: the producer calls write(warg, ...) for
 * each piece, in order, and returns 0, or nonzero to give up (so does write, on an
 * error). */
typedef int (*snap_write_fn)(void *warg, const void *data, size_t len);
typedef int (*snap_produce_fn)(const void *arg, snap_write_fn write, void *warg);

/* snap_write() for data that comes as a stream, never whole in memory: the file's head
 * is reserved for the largest meta first (the unused room is the meta's pad field), the
 * data follows as it comes, and the head is filled in once its size and checksum are
 * known; then fsync, rename to `name` (its .tmp while written) and the directory's fsync
 * as for snap_write(). Same format, same guarantees. meta's data size and checksum are
 * ignored. */
int snap_write_stream(struct sio *io, const char *dir, const struct snap_name *name,
                      const struct proto_snapshot_meta *meta, snap_produce_fn produce,
                      const void *arg, char *errmsg);

/* The bytes snap_write_stream() reserves for the header and meta of a snapshot like
 * `meta`, whatever its data's size (at most SNAP_DATA_MAX_BYTES) and checksum. */
size_t snap_stream_head_bytes(const struct proto_snapshot_meta *meta);
/* Encodes the header and meta of `m` into head[want], padding the meta to take exactly
 * `want` bytes in all; false if that cannot be done. */
bool snap_head_encode(struct proto_snapshot_meta m, size_t want, uint8_t *head);

/* Reads and checks the snapshot at `path`: header, meta, sizes and the data checksum,
 * and that the name's index and term match the content (unless `name` is NULL: a backup
 * file of any name, docs/server.md). On success *data holds one
 * reference to the data (NULL if empty). Returns 0, STORAGE_ECORRUPT (errmsg names file
 * and offset) or STORAGE_EIO. */
int snap_read(struct sio *io, const char *path, const struct snap_name *name,
              struct proto_snapshot_meta *meta, struct raft_buf **data, char *errmsg);

#endif /* CONCORD_STORAGE_SNAP_H */
