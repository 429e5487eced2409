/* codec.h: between the kv API's structures and the protobuf-c types of kv.proto (internal). */
#ifndef CONCORD_KV_CODEC_H
#define CONCORD_KV_CODEC_H

#include "kv.pb-c.h"
#include "kv/kv.h"

#include <stdbool.h>

/* Checks a command against limits; the one rule book of kv_cmd_encode and kv_apply.
 * Returns 0, KV_EKEYTOOBIG, KV_EVALUETOOBIG, KV_ETOOMANY or KV_EINVAL. */
int kv_cmd_check(const struct kv_cmd *cmd, const struct kv_limits *lim);

/* Decodes a command; NULL if the bytes are not one, or carry fields this version does not
 * know (a node that ignored them would silently disagree with one that did not). Free
 * with concord__kv__command__free_unpacked(c, NULL). */
Concord__Kv__Command *kv_cmd_unpack(const void *buf, size_t len);

/* The plain SET (one key and value, no condition or expiry, fields 1-4 of Command) read
 * in place, pointing into buf; false for anything else, which kv_cmd_unpack and
 * kv_cmd_from_pb then decode. What it accepts, it decodes as they would (cmd_fast.c). */
bool kv_cmd_decode_fast(const void *buf, size_t len, struct kv_cmd *cmd);

/* The arrays a decoded command needs (MSET's puts, DEL's keys; a transaction's
 * sub-commands and guards, and the puts and keys of all its sub-commands together). */
struct kv_scratch {
	struct kv_put *puts;
	struct kv_key *keys;
	struct kv_cmd *ops;
	struct kv_guard *guards;
	struct kv_compare *compares;
};

void kv_scratch_free(struct kv_scratch *s);

/* Describes a decoded command as a struct kv_cmd pointing into it and into `s` (free it
 * with kv_scratch_free, even on error). Returns 0, KV_EBADCMD (no operation, unknown
 * condition kind) or KV_ETOOMANY. */
int kv_cmd_from_pb(const Concord__Kv__Command *c, struct kv_cmd *cmd, struct kv_scratch *s);

/* A snapshot's version record (SnapRecord { version }), packed by hand into the bytes
 * protobuf-c would write (snap_encode.c): its size, and the packing, which returns it. */
size_t kv_snap_version_record_size(const Concord__Kv__SnapVersion *sv);
size_t kv_snap_version_record_pack(const Concord__Kv__SnapVersion *sv, uint8_t *out);

void kv_reply_to_pb(const struct kv_reply *r, Concord__Kv__Reply *pr);
/* Returns 0 or KV_EBADCMD (an out-of-range code). */
int kv_reply_from_pb(const Concord__Kv__Reply *pr, struct kv_reply *r);

/* Whether any message reachable from `m` holds fields unknown to this schema. */
bool kv_pb_has_unknown(const ProtobufCMessage *m);

#endif /* CONCORD_KV_CODEC_H */
