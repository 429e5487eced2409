/* codec.h: encoding and decoding between raft.h structures and Concord's protobuf schema. */
#ifndef CONCORD_PROTO_CODEC_H
#define CONCORD_PROTO_CODEC_H

/*
 * The one place that knows both struct raft_* and the protobuf-c types generated from
 * concord.proto; callers see only raft.h structures and byte buffers.
 *
 * Encoding never fails: the caller sizes the output with the matching *_size() function
 * first. Decoding validates everything it reads (enum ranges, counts, ids, index runs)
 * and returns PROTO_EMALFORMED or PROTO_EINVALID for any input it refuses, whatever the
 * bytes: it never crashes and never leaves allocated memory behind on failure.
 */

#include "concord/raft.h"

#include <stddef.h>
#include <stdint.h>

#define PROTO_ERRORS(X)                                                                            \
	X(PROTO_OK, "ok")                                                                          \
	X(PROTO_EMALFORMED, "malformed protobuf encoding")                                         \
	X(PROTO_EINVALID, "a field holds a value out of range")                                    \
	X(PROTO_ETOOBIG, "encoded input larger than the limit")

enum proto_error {
#define PROTO_ERROR_ENUM_(name, text) name,
	PROTO_ERRORS(PROTO_ERROR_ENUM_)
#undef PROTO_ERROR_ENUM_
	    PROTO_ERROR_COUNT_
};

/* A static string describing `err` (any int). */
const char *proto_strerror(int err);

/* Largest payload an entry may carry (raft_buf lengths are 32 bits). */
#define PROTO_ENTRY_DATA_MAX_BYTES ((size_t)UINT32_MAX)
/* Most entries a decoded Message may carry. */
#define PROTO_MESSAGE_ENTRIES_MAX 65536u
/* Largest encoding of an entry without its payload bytes (see proto_entry_encode_head). */
#define PROTO_ENTRY_HEAD_MAX_BYTES 48u

/* ---- Entry */

/* Bytes proto_entry_encode() writes for `e`. */
size_t proto_entry_size(const struct raft_entry *e);

/* Encodes `e` into `buf`, which holds at least proto_entry_size(e) bytes; returns the
 * number of bytes written. */
size_t proto_entry_encode(const struct raft_entry *e, uint8_t *buf);

/* Encodes `e` for a scatter write without copying its payload: the full encoding is the
 * returned number of bytes written to `head` followed by the raft_entry_len(e) bytes at
 * raft_entry_data(e). The two together equal proto_entry_encode()'s output. */
size_t proto_entry_encode_head(const struct raft_entry *e,
                               uint8_t head[PROTO_ENTRY_HEAD_MAX_BYTES]);

/* Decodes an Entry. On success *e holds the entry and one reference to a new payload
 * buffer (NULL when the payload is empty), which the caller releases with
 * raft_buf_unref(). Index and term must be at least 1 and the type a known one.
 * Returns 0, PROTO_EMALFORMED or PROTO_EINVALID; *e is untouched on failure. */
int proto_entry_decode(const uint8_t *buf, size_t len, struct raft_entry *e);

/* ---- Message */

size_t proto_message_size(const struct raft_message *m);
size_t proto_message_encode(const struct raft_message *m, uint8_t *buf);

/* Decodes a peer message. On success *m owns a malloc'd entries array whose entries
 * hold payload references: release it with raft_message_release(). Refused: an unknown
 * type, `from` or `to` equal to RAFT_NONE, entries on any type but APPEND, more than
 * PROTO_MESSAGE_ENTRIES_MAX entries, entries whose indexes do not run m->index + 1,
 * m->index + 2, ... or whose terms decrease or exceed m->term.
 * Returns 0, PROTO_EMALFORMED or PROTO_EINVALID; *m is untouched on failure. */
int proto_message_decode(const uint8_t *buf, size_t len, struct raft_message *m);

/* ---- Metadata and snapshot headers (the data directory's formats) */

struct proto_meta {
	uint32_t format_version;
	uint64_t cluster_id;
	raft_id node_id;
	struct raft_hard_state hard_state;
	struct raft_conf conf;    /* the bootstrap configuration; may be empty */
	raft_index durable_index; /* the log reached at least this far durably (0: unknown) */
	uint64_t segment_size;    /* open segments were preallocated to this (0: unknown) */
};

size_t proto_meta_size(const struct proto_meta *m);
size_t proto_meta_encode(const struct proto_meta *m, uint8_t *buf);
/* Refuses a missing or zero format version, more than RAFT_MAX_MEMBERS ids in any part
 * of the configuration and RAFT_NONE as an id. */
int proto_meta_decode(const uint8_t *buf, size_t len, struct proto_meta *m);

#define PROTO_SNAPSHOT_PAD_MAX 64u

struct proto_snapshot_meta {
	raft_index index;
	raft_term term;
	struct raft_conf conf;
	uint64_t data_size_bytes;
	uint32_t data_crc32c;
	uint32_t pad_bytes; /* encode only: this many zero bytes of padding (at most 64) */
};

size_t proto_snapshot_meta_size(const struct proto_snapshot_meta *s);
size_t proto_snapshot_meta_encode(const struct proto_snapshot_meta *s, uint8_t *buf);
/* Refuses a configuration as proto_meta_decode() does, and an index or term of 0. */
int proto_snapshot_meta_decode(const uint8_t *buf, size_t len, struct proto_snapshot_meta *s);

#endif /* CONCORD_PROTO_CODEC_H */
