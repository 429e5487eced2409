/* kv.h: the key-value state machine: a versioned sorted map, client sessions, snapshots. */
#ifndef CONCORD_KV_H
#define CONCORD_KV_H

/*
 * The replicated state behind Concord's key-value API. Writes reach it as commands in
 * committed log entries (kv_apply, in log order, on every node); reads are answered from
 * the local state once the node has applied up to a ReadIndex (kv_get and friends).
 *
 * Determinism. The same commands applied in the same order produce bit-identical state
 * (and byte-identical snapshots) on every node: the only clock is "log time", the largest
 * time_ms seen in commands so far, and every eviction order is a function of the state.
 * The configuration below is part of that contract: every node of a cluster must run
 * with the same struct kv_config.
 *
 * Revisions. Every command that changes at least one key takes the next global revision
 * (one revision per command, however many keys it writes). Each key records the revision
 * that created it (create_revision), the one that last changed it (mod_revision) and how
 * many times it was written since creation (version). Older values stay readable for a
 * window of `history_revisions` revisions, then are compacted.
 *
 * Exactly-once. A client opens a session (its id is the log index of the open command),
 * then numbers its writes 1, 2, 3, ... The state keeps, per session, the last sequence
 * number applied and the reply it produced: a retry of that number gets the stored reply
 * and changes nothing; an older number gets KV_ESTALE; a session idle for longer than
 * session_timeout_ms of log time is dropped, and its commands get KV_ESESSION. One write
 * may be outstanding per session at a time.
 *
 * Ownership and lifetime. Pointers passed in stay owned by the caller and are not kept.
 * Pointers handed out by reads (struct kv_value) point into the store and stay valid
 * until the next call that modifies it: kv_apply, kv_apply_skip, kv_compact,
 * kv_snapshot_read*, kv_free. A struct kv_reply owns nothing. Allocation failure aborts
 * the process: a command cannot be left half applied on one node and not on the others.
 *
 * Threads. None inside; a struct kv belongs to one thread at a time, and several may live
 * in one process. kv_snapshot_write only reads the state, so it can run in a child forked
 * from the thread that owns the kv (docs/kv.md: copy-on-write snapshots).
 */

#include "concord/raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ----------------------------------------------------------------------------------
 * Errors
 */

#define KV_ERRORS(X)                                                                               \
	X(KV_OK, "ok")                                                                             \
	X(KV_ENOTFOUND, "key not found")                                                           \
	X(KV_ECOMPACTED, "revision has been compacted")                                            \
	X(KV_EFUTURE, "revision is newer than the store's")                                        \
	X(KV_EKEYTOOBIG, "key longer than the configured maximum")                                 \
	X(KV_EVALUETOOBIG, "value longer than the configured maximum")                             \
	X(KV_ETOOMANY, "too many keys in one command")                                             \
	X(KV_ENOTINT, "value is not an integer or out of range")                                   \
	X(KV_EOVERFLOW, "increment or decrement would overflow")                                   \
	X(KV_EBADCMD, "malformed command")                                                         \
	X(KV_EINVAL, "invalid argument")                                                           \
	X(KV_ESTALE, "stale sequence number: a later command of this session was applied")         \
	X(KV_ESESSION, "session expired or unknown")                                               \
	X(KV_ECORRUPT, "snapshot is corrupt")                                                      \
	X(KV_EFORMAT, "unsupported snapshot format version")                                       \
	X(KV_EIO, "snapshot read or write failed")                                                 \
	X(KV_ELEASE, "lease not found or expired")                                                 \
	X(KV_ELEASEEXISTS, "a lease with this id exists")

enum kv_error {
#define KV_ERROR_ENUM_(name, text) name,
	KV_ERRORS(KV_ERROR_ENUM_)
#undef KV_ERROR_ENUM_
	    KV_ERROR_COUNT_
};

/* A static string describing `err` (any int; unknown values get a generic text). */
const char *kv_strerror(int err);

/* ----------------------------------------------------------------------------------
 * The reserved keyspace
 *
 * Keys that start with KV_RESERVED_PREFIX belong to Concord itself; the address book of
 * the cluster's members lives under KV_MEMBER_PREFIX. Clients can neither write them nor
 * read them: the frontends refuse such keys and leave them out of scans and counts.
 */

#define KV_RESERVED_PREFIX     "\0concord/"
#define KV_RESERVED_PREFIX_LEN 9
#define KV_MEMBER_PREFIX       "\0concord/member/"
#define KV_MEMBER_PREFIX_LEN   16

/* Whether `key` (len bytes) lies in the reserved keyspace. */
bool kv_key_reserved(const void *key, size_t len);
/* Whether `key` is an address-book key (under KV_MEMBER_PREFIX). */
bool kv_key_member(const void *key, size_t len);

/* ----------------------------------------------------------------------------------
 * Configuration
 */

/* Hard ceilings no configuration may exceed: they bound every record a snapshot reader
 * accepts, whatever configuration wrote it. */
#define KV_KEY_BYTES_LIMIT    (64u * 1024)
#define KV_VALUE_BYTES_LIMIT  (64u * 1024 * 1024)
#define KV_KEYS_PER_CMD_LIMIT (64u * 1024)
#define KV_SESSIONS_LIMIT     (16u * 1024 * 1024)
#define KV_TXN_OPS_LIMIT      (64u * 1024)
#define KV_TXN_BYTES_LIMIT    (256u * 1024 * 1024)

/* The defaults of struct kv_limits (kv_limits_default). */
#define KV_DEFAULT_KEY_BYTES    4096u
#define KV_DEFAULT_VALUE_BYTES  (1024u * 1024)
#define KV_DEFAULT_KEYS_PER_CMD 1024u
#define KV_DEFAULT_TXN_OPS      1024u
#define KV_DEFAULT_TXN_BYTES    (4u * 1024 * 1024)

/* Sizes both kv_apply and the command builders enforce. */
struct kv_limits {
	uint32_t key_bytes_max;    /* longest key; at most KV_KEY_BYTES_LIMIT */
	uint32_t value_bytes_max;  /* longest value, APPEND and INCR results included; at
	                              most KV_VALUE_BYTES_LIMIT */
	uint32_t keys_per_cmd_max; /* most keys in one MSET, DEL or MGET, and in one
	                              transaction (its guards and sub-commands together) */
	uint32_t txn_ops_max;      /* most sub-commands in one transaction; at most
	                              KV_TXN_OPS_LIMIT */
	uint32_t txn_bytes_max;    /* most key and value bytes in one transaction, and most
	                              value bytes its reads return; at most
	                              KV_TXN_BYTES_LIMIT */
};

struct kv_config {
	struct kv_limits limits;
	uint64_t history_revisions;  /* revisions of history kept readable; 0: none */
	uint32_t sessions_max;       /* opening one more evicts the least recently active */
	uint64_t session_timeout_ms; /* idle log time after which a session expires */
};

/* Defaults: keys up to 4 KiB, values up to 1 MiB, 1024 keys per command, transactions
 * of up to 1024 sub-commands and 4 MiB, 10000
 * revisions of history, 65536 sessions idle-expiring after 5 minutes. */
void kv_config_default(struct kv_config *cfg);
void kv_limits_default(struct kv_limits *lim);

/* ----------------------------------------------------------------------------------
 * Lifetime
 */

struct kv;

/* Creates an empty store: revision 0, applied index 0. Returns KV_EINVAL (and leaves *out
 * untouched) if `cfg` is out of range; NULL `cfg` means the defaults. */
int kv_new(const struct kv_config *cfg, struct kv **out);
/* Frees everything the store holds. NULL-safe. */
void kv_free(struct kv *kv);
/* The configuration the store runs with. */
const struct kv_config *kv_config(const struct kv *kv);
/* A message with context for the last snapshot read error ("" if none). */
const char *kv_errmsg(const struct kv *kv);

/* ----------------------------------------------------------------------------------
 * Commands (writes): built by the server, carried by the log, applied on every node
 */

enum kv_op {
	KV_OP_SET = 1,           /* put, key value [condition] */
	KV_OP_DEL,               /* keys[0..n) */
	KV_OP_INCRBY,            /* put.key, delta */
	KV_OP_APPEND,            /* put.key, put.value */
	KV_OP_MSET,              /* puts[0..n), each with an optional condition; atomic */
	KV_OP_CAS,               /* put: key, new value, condition (required); cas_delete */
	KV_OP_SESSION_OPEN,      /* client_id must be 0; the reply carries the new id */
	KV_OP_SESSION_CLOSE,     /* client_id */
	KV_OP_SESSION_KEEPALIVE, /* client_id */
	KV_OP_NOOP,              /* only advances log time */
	KV_OP_COMPACT,           /* revision: drop history older than it, on every node */
	KV_OP_TXN,               /* guards[0..n_guards), then ops[0..n_ops) in order: atomic */
	/* Reads, only as sub-commands of a transaction (kv_get and friends serve the others). */
	KV_OP_GET,    /* put.key */
	KV_OP_MGET,   /* keys[0..n) */
	KV_OP_EXISTS, /* keys[0..n): how many exist, a key named twice counting twice */
	KV_OP_STRLEN, /* put.key */
	/* Expiry and leases (docs/kv.md, "Expiry and leases"). */
	KV_OP_EXPIRE,          /* put.key, put.expiry (IN, AT; CLEAR: PERSIST), expire_flags */
	KV_OP_LEASE_GRANT,     /* lease (0: the store picks one), lease_ttl_ms */
	KV_OP_LEASE_REVOKE,    /* lease: deletes its keys */
	KV_OP_LEASE_KEEPALIVE, /* lease: its deadline restarts at its TTL */
	KV_OP_EXPIRE_DUE,      /* the leader's reaper: keys[0..n), leases[0..n_leases) */
	/* Ranges (docs/kv.md): */
	KV_OP_DELRANGE, /* put.key, range_end (struct kv_range's rules): one revision; prev_kv */
	KV_OP_RANGE,    /* only inside a transaction: put.key, range_end, limit, keys_only,
	                   count_only */
	/* Pub/sub: put.key the channel (at most key_bytes_max), put.value the message (at
	 * most value_bytes_max). Changes no key and no revision; the watch hook's `publish`
	 * hears it on every node at apply. Not inside a transaction. */
	KV_OP_PUBLISH,
};

/* etcd's compares (a transaction's `compares`): what of the key is compared, and how. */
enum kv_cmp_target {
	KV_CMP_VALUE = 0, /* the value, as bytes (memcmp order; an absent key fails) */
	KV_CMP_VERSION,   /* writes since creation; 0 for an absent key */
	KV_CMP_CREATE,    /* create revision; 0 for an absent key */
	KV_CMP_MOD,       /* mod revision; 0 for an absent key */
};

enum kv_cmp_result {
	KV_CMP_EQUAL = 0,
	KV_CMP_NOT_EQUAL,
	KV_CMP_LESS,    /* the key's is less than the compare's */
	KV_CMP_GREATER, /* the key's is greater */
};

struct kv_compare {
	const void *key;
	size_t key_len;
	enum kv_cmp_target target;
	enum kv_cmp_result result;
	const void *value; /* KV_CMP_VALUE */
	size_t value_len;
	int64_t number; /* the others */
};

/* What a write does to the key's expiry (struct kv_put.expiry). */
enum kv_expiry_mode {
	KV_EXPIRY_CLEAR = 0, /* the write drops the key's deadline and lease (SET, MSET, CAS) */
	KV_EXPIRY_KEEP,      /* keeps them (SET KEEPTTL); INCRBY and APPEND always keep */
	KV_EXPIRY_IN,        /* the key expires `ms` after the command, on the log clock */
	KV_EXPIRY_AT,        /* the key expires at Unix time `ms` (milliseconds), judged
	                        against the command's wall-clock stamp (time_ms) */
	KV_EXPIRY_LEASE,     /* the key attaches to lease `lease` (and loses its deadline) */
};

struct kv_expiry {
	enum kv_expiry_mode mode;
	int64_t ms;     /* IN: a duration (<= 0: already expired); AT: Unix milliseconds */
	uint64_t lease; /* LEASE */
};

/* The longest TTL a key or a lease may have: about 8900 years. */
#define KV_TTL_MS_LIMIT ((int64_t)1 << 48)
/* The most leases a store holds (kept in an array sorted by id: a revoke moves up to
 * this many pointers). */
#define KV_LEASES_LIMIT (1u << 17)

/* EXPIRE's conditions (Redis 7's NX, XX, GT, LT), struct kv_cmd.expire_flags. */
#define KV_EXPIRE_NX 1u /* only if the key has no deadline */
#define KV_EXPIRE_XX 2u /* only if it has one */
#define KV_EXPIRE_GT 4u /* only if the new deadline is later (no deadline: infinite) */
#define KV_EXPIRE_LT 8u /* only if it is earlier */

enum kv_cond_kind {
	KV_COND_NONE = 0,     /* always holds */
	KV_COND_ABSENT,       /* the key does not exist (SET NX) */
	KV_COND_PRESENT,      /* the key exists (SET XX) */
	KV_COND_VALUE,        /* the key exists with exactly this value */
	KV_COND_MOD_REVISION, /* the key's mod revision is this; 0: the key does not exist */
};

struct kv_cond {
	enum kv_cond_kind kind;
	const void *value; /* KV_COND_VALUE */
	size_t value_len;
	uint64_t mod_revision; /* KV_COND_MOD_REVISION */
};

struct kv_key {
	const void *data;
	size_t len;
};

struct kv_put {
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	struct kv_cond cond;
	struct kv_expiry expiry; /* SET, MSET, CAS; zero: the write clears any expiry */
};

/* A transaction's guard: the key's mod revision must still be `mod_revision` (0: the
 * key must be absent), as WATCH requires. */
struct kv_guard {
	const void *key;
	size_t key_len;
	uint64_t mod_revision;
};

/* One command, described by pointers into the caller's memory. Fields an op does not
 * use must be zero (designated initializers do that).
 *
 * Transactions (KV_OP_TXN). If every guard holds, the sub-commands run in order in this
 * one command, each seeing the writes of those before it; their writes all take the
 * same single revision. A sub-command is a SET, DEL, INCRBY, APPEND, MSET, CAS, GET,
 * MGET, EXISTS or STRLEN without session fields. A sub-command that fails (INCRBY of a
 * non-integer...) answers its error and the others still run, as in Redis; a guard that
 * fails makes the whole transaction change nothing (reply: succeeded false,
 * failed_index the guard). */
struct kv_cmd {
	enum kv_op op;
	uint64_t client_id; /* 0: no session */
	uint64_t seq;       /* with a session: 1, 2, 3, ... */
	uint64_t time_ms;   /* the leader's wall clock when it proposes the command */
	struct kv_put put;  /* SET, CAS, APPEND (key, value), INCRBY (key) */
	int64_t delta;      /* INCRBY */
	bool cas_delete;    /* CAS: delete the key instead of writing put.value */
	size_t n;           /* MSET: puts; DEL: keys */
	const struct kv_put *puts;
	const struct kv_key *keys;
	uint64_t revision; /* COMPACT */
	size_t n_guards;   /* TXN */
	const struct kv_guard *guards;
	size_t n_ops; /* TXN */
	const struct kv_cmd *ops;
	/* The leader's monotonic clock when it proposes the command, plus one (0: none):
	 * the log clock of expiry advances by its differences within a term. */
	uint64_t mono_ms;
	unsigned expire_flags; /* EXPIRE: KV_EXPIRE_* */
	uint64_t lease;        /* LEASE_GRANT, LEASE_REVOKE, LEASE_KEEPALIVE */
	int64_t lease_ttl_ms;  /* LEASE_GRANT: 1 .. KV_TTL_MS_LIMIT */
	size_t n_leases;       /* EXPIRE_DUE */
	const uint64_t *leases;
	const void *range_end; /* DELRANGE: with put.key, the range (struct kv_range) */
	size_t range_end_len;
	bool prev_kv; /* DELRANGE: the reply lists the deleted keys with their values */
	/* TXN in etcd's form: when every compare holds (with the guards) the ops run, else
	 * the else_ops; the reply says which (succeeded) and has the outcomes either way. */
	size_t n_compares;
	const struct kv_compare *compares;
	size_t n_else;
	const struct kv_cmd *else_ops;
	uint64_t limit;  /* RANGE: keys listed at most; 0: all */
	bool keys_only;  /* RANGE: no values */
	bool count_only; /* RANGE: only the count */
};

/* Checks `cmd` against `lim` (NULL: the defaults) and encodes it into a new buffer *buf
 * of *len bytes, which the caller frees with free(). Returns 0, or KV_EKEYTOOBIG,
 * KV_EVALUETOOBIG, KV_ETOOMANY or KV_EINVAL without allocating. */
int kv_cmd_encode(const struct kv_cmd *cmd, const struct kv_limits *lim, void **buf, size_t *len);

/* One value a transaction's read returned; `present` false for an absent key. */
struct kv_txn_value {
	const void *data;
	size_t len;
	bool present;
};

/* The outcome of one sub-command of a transaction. */
struct kv_txn_item {
	enum kv_op op;
	int code;        /* KV_OK or this sub-command's error */
	bool succeeded;  /* SET, MSET, CAS: the condition held */
	bool existed;    /* as in struct kv_reply */
	int64_t integer; /* DEL, INCRBY, APPEND, EXISTS, STRLEN */
	size_t n_values; /* GET: 1; MGET: one per key */
	const struct kv_txn_value *values;
	size_t n_kvs; /* RANGE: the keys listed (integer: the range's count; existed: more);
	               * DELRANGE with prev_kv: the keys deleted, as they were */
	bool prev_kv; /* DELRANGE: prev_kv was asked (kvs lists them, maybe none) */
	const struct kv_value *kvs;
};

/* The outcomes of a transaction's sub-commands, in order. */
struct kv_txn_result {
	size_t n;
	const struct kv_txn_item *items;
};

/* The outcome of a command: a plain value, small and fixed in size, so that every
 * session can keep its last one. */
struct kv_reply {
	int code;              /* KV_OK or an error of the table above */
	bool duplicate;        /* answered from the session's stored reply (not encoded) */
	bool succeeded;        /* the conditions held and the command took effect */
	bool existed;          /* SET, CAS, INCRBY, APPEND: the key existed before;
	                          DEL: at least one key did */
	uint64_t revision;     /* the store's revision after the command */
	uint64_t mod_revision; /* the revision written; after a failed condition the key's
	                          current mod revision (0: absent) */
	int64_t integer;       /* INCRBY: new value; APPEND: new length; DEL: keys deleted */
	uint64_t client_id;    /* SESSION_OPEN: the new session's id */
	uint32_t failed_index; /* MSET with a failed condition: the first such put */
	bool members_written;  /* the command wrote or deleted a key under KV_MEMBER_PREFIX:
	                          the address book changed (false for a duplicate; not
	                          encoded) */
	const struct kv_txn_result *txn; /* TXN whose guards held: the sub-commands'
	                          outcomes, in the store's memory until the next kv_apply
	                          (not encoded, not kept by sessions: NULL for a duplicate) */
	const struct kv_value *prev_kvs; /* DELRANGE with prev_kv: the deleted keys and the
	                          values they had, in key order; like txn, in the store's
	                          memory until the next kv_apply, NULL for a duplicate */
	size_t n_prev_kvs;
	bool prev_kvs_truncated; /* more keys were deleted than prev_kvs lists (the list
	                          stops at txn_bytes_max key and value bytes) */
};

/* Largest encoding of a reply. */
#define KV_REPLY_MAX_BYTES 96

/* Encodes `reply` into buf; returns the number of bytes written. */
size_t kv_reply_encode(const struct kv_reply *reply, uint8_t buf[KV_REPLY_MAX_BYTES]);
/* Decodes a reply. Returns 0 or KV_EBADCMD. */
int kv_reply_decode(const void *buf, size_t len, struct kv_reply *reply);

/* Applies the command at log index `index` (> kv_applied_index) and fills `reply`.
 * Returns reply->code. Any bytes are accepted:
 * input that does not decode as a command is applied as a no-op answered KV_EBADCMD, so
 * every node makes the same decision. */
int kv_apply(struct kv *kv, raft_index index, const void *cmd, size_t len, struct kv_reply *reply);

/* Records that the log entry at `index` (> kv_applied_index) was applied without a
 * command for the store (a leader's no-op or a configuration entry). */
void kv_apply_skip(struct kv *kv, raft_index index);

/* Applies a committed log entry: a RAFT_ENTRY_NORMAL entry's payload through kv_apply,
 * any other type through kv_apply_skip (its reply is KV_OK with the current revision).
 * Returns reply->code. */
int kv_apply_entry(struct kv *kv, const struct raft_entry *e, struct kv_reply *reply);

/* Drops the history older than `revision` (GETs below it then answer KV_ECOMPACTED).
 * Returns 0, KV_ECOMPACTED if `revision` is not above the compaction point, or
 * KV_EFUTURE if it is above the store's revision. A cluster compacts through the log
 * (KV_OP_COMPACT) so that every node agrees; calling this directly changes one node. */
int kv_compact(struct kv *kv, uint64_t revision);

/* ----------------------------------------------------------------------------------
 * Reads: local, served after ReadIndex. `revision` 0 reads the latest state; an older
 * revision reads the state as it was then, down to the compaction point.
 */

/* A key and one of its values; pointers into the store (see Ownership above). */
struct kv_value {
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	uint64_t create_revision;
	uint64_t mod_revision; /* 0 only in kv_mget's answer for an absent key */
	uint64_t version;
};

/* Returns 0 with *out filled, or KV_ENOTFOUND, KV_ECOMPACTED, KV_EFUTURE, KV_EKEYTOOBIG. */
int kv_get(const struct kv *kv, const void *key, size_t key_len, uint64_t revision,
           struct kv_value *out);

/* Whether the key exists now. */
bool kv_exists(const struct kv *kv, const void *key, size_t key_len);

/* Reads n keys at one revision into out[0..n); an absent key gets mod_revision 0 and no
 * value. Returns 0, KV_ETOOMANY (n above keys_per_cmd_max), KV_ECOMPACTED, KV_EFUTURE or
 * KV_EKEYTOOBIG. */
int kv_mget(const struct kv *kv, size_t n, const struct kv_key *keys, uint64_t revision,
            struct kv_value *out);

/* Called for each key of a scan in ascending byte order; a nonzero return stops it. */
typedef int (*kv_scan_fn)(void *arg, const struct kv_value *v);

/* Visits the keys that start with `prefix` and are >= `start` (pass the last key seen
 * plus a zero byte to page on; NULL/0 to begin at the prefix), at most `limit` (>= 1) of
 * them. *more (if not NULL) says whether a further key matched. Returns 0,
 * KV_ECOMPACTED, KV_EFUTURE or KV_EINVAL (limit 0). */
int kv_scan(const struct kv *kv, const void *prefix, size_t prefix_len, const void *start,
            size_t start_len, size_t limit, uint64_t revision, kv_scan_fn fn, void *arg,
            bool *more);

/* Ranges, with etcd's rules. `key` alone (end_len 0) is that one key; an end of one
 * zero byte ("\0", length 1) means every key >= key; any other end means [key, end).
 * A prefix p is the range [p, kv_prefix_end(p)). */
struct kv_range {
	const void *key;
	size_t key_len;
	const void *end;
	size_t end_len;
};

/* Writes into end[] (at least max(prefix_len, 1) bytes) the end of the range of keys
 * that start with `prefix`: the prefix without its trailing 0xff bytes, last byte plus
 * one; "\0" (every key) if nothing is left. Returns its length. */
size_t kv_prefix_end(const void *prefix, size_t prefix_len, unsigned char *end);

/* Whether `key` lies in the range. */
bool kv_range_has(const struct kv_range *r, const void *key, size_t key_len);

struct kv_range_opts {
	uint64_t revision;  /* 0: latest */
	size_t limit;       /* keys handed to fn at most; 0: no limit */
	bool skip_reserved; /* leave out keys in the reserved keyspace (what clients see) */
};

/* Visits the keys of the range at a revision in ascending order, at most opts->limit of
 * them (fn may be NULL: count only; a nonzero return of fn stops the visits). *count gets
 * the number of keys in the whole range, whatever the limit (the walk goes on counting),
 * *more whether keys past the ones visited exist. Returns 0, KV_ECOMPACTED, KV_EFUTURE,
 * KV_EKEYTOOBIG (key or end over the limit). */
int kv_range_read(const struct kv *kv, const struct kv_range *r, const struct kv_range_opts *opts,
                  kv_scan_fn fn, void *arg, uint64_t *count, bool *more);

uint64_t kv_revision(const struct kv *kv);
uint64_t kv_compact_revision(const struct kv *kv);
raft_index kv_applied_index(const struct kv *kv);
/* Log time: the largest time_ms of any command applied so far. */
uint64_t kv_now_ms(const struct kv *kv);

/* ----------------------------------------------------------------------------------
 * Expiry and leases (docs/kv.md). Deadlines are on the log clock: milliseconds of the
 * leaders' monotonic clocks, summed over terms. Within a term it advances by the
 * differences of the leader's stamps (mono_ms); a new term's first stamp only starts
 * it again, so the time between the old leader's last stamped command and the new
 * leader's first one is not counted: remaining TTLs restart on the new leader's clock.
 * A key whose deadline (or lease's) is not after the log clock is absent for every
 * read and write; the leader's reaper (KV_OP_EXPIRE_DUE) deletes it through the log.
 */

/* The log clock. */
uint64_t kv_clock_ms(const struct kv *kv);
/* The log clock as a leader of `term` whose monotonic clock reads `mono_ms` (plus one,
 * as it stamps) sees it now: its stamps of this term extrapolated; the log clock
 * itself if none of them was applied yet. */
uint64_t kv_clock_at(const struct kv *kv, raft_term term, uint64_t mono_ms);
/* Whether a stamp of `term` was applied (the clock runs in that term). */
bool kv_clock_running(const struct kv *kv, raft_term term);
/* The earliest deadline of a key or a lease (UINT64_MAX: none). Some may have passed. */
uint64_t kv_next_deadline(const struct kv *kv);
/* Whether any key has a deadline or a lease, or any lease exists. */
bool kv_has_timers(const struct kv *kv);

/* A key's remaining time: 0 with *ms_out -1 (no deadline nor lease) or the
 * milliseconds left on the log clock (>= 1); KV_ENOTFOUND if absent or expired.
 * *lease_out (may be NULL) gets its lease, 0 if none. */
int kv_ttl(const struct kv *kv, const void *key, size_t key_len, int64_t *ms_out,
           uint64_t *lease_out);

struct kv_lease_info {
	uint64_t id;
	int64_t ttl_ms;       /* as granted */
	int64_t remaining_ms; /* >= 1 */
	uint64_t keys;        /* attached keys */
};

/* A live lease; KV_ELEASE if there is none with this id or it has expired. */
int kv_lease_get(const struct kv *kv, uint64_t id, struct kv_lease_info *out);
/* Visits a live lease's keys, in no particular order; a nonzero return stops it.
 * Returns 0 or KV_ELEASE. */
int kv_lease_keys(const struct kv *kv, uint64_t id, kv_scan_fn fn, void *arg);
/* Visits the live leases in ascending id, from `from` on, at most `limit`; *more says
 * whether more followed. */
void kv_lease_list(const struct kv *kv, uint64_t from, size_t limit,
                   void (*fn)(void *arg, const struct kv_lease_info *l), void *arg, bool *more);

/* What the reaper may propose at log clock `clock`: up to `max_keys` keys (pointers
 * into the store) whose deadline or lease's has passed, and the leases (up to
 * `max_leases`) whose keys all fit in that list. Returns the number of keys. */
size_t kv_due(const struct kv *kv, uint64_t clock, struct kv_key *keys, size_t max_keys,
              uint64_t *leases, size_t max_leases, size_t *n_leases);

struct kv_stats {
	uint64_t keys;          /* keys that exist now */
	uint64_t key_bytes;     /* their key bytes */
	uint64_t value_bytes;   /* their current values' bytes */
	uint64_t versions;      /* every retained version, current ones and tombstones */
	uint64_t history_bytes; /* value bytes of the retained non-current versions */
	uint64_t sessions;
	uint64_t revision;
	uint64_t compact_revision;
	raft_index applied_index;
	uint64_t ttls;   /* keys with a deadline or a lease (expired ones until reaped) */
	uint64_t leases; /* leases, expired ones until reaped */
};

void kv_stats(const struct kv *kv, struct kv_stats *out);

/* ----------------------------------------------------------------------------------
 * Snapshots: the whole state (keys, history, revisions, sessions, applied index and log
 * time) as a checksummed byte stream; format in docs/kv.md.
 */

/* Consumes `len` bytes; returns 0, or nonzero to abort the snapshot (KV_EIO). */
typedef int (*kv_write_fn)(void *arg, const void *buf, size_t len);
/* Fills up to `len` bytes; returns how many (0 at the end), or < 0 on error (KV_EIO). */
typedef ssize_t (*kv_read_fn)(void *arg, void *buf, size_t len);

/* Streams the snapshot to `fn`. Reads the store only, allocates one buffer, takes no
 * lock: safe in a child process forked from the owner. Returns 0 or KV_EIO. */
int kv_snapshot_write(const struct kv *kv, kv_write_fn fn, void *arg);
/* The same into a file descriptor (short writes and EINTR retried; no fsync). */
int kv_snapshot_write_fd(const struct kv *kv, int fd);
/* The same into a new buffer *buf of *len bytes (free with free()). */
int kv_snapshot_write_buf(const struct kv *kv, void **buf, size_t *len);

/* Replaces the state of `kv` with the snapshot read from `fn`, checked in full (format,
 * checksum, every invariant the store relies on) before it replaces anything: on error
 * `kv` is unchanged. Returns 0, KV_ECORRUPT, KV_EFORMAT, KV_EINVAL (the snapshot does
 * not fit this store's configuration) or KV_EIO; kv_errmsg says more. */
int kv_snapshot_read(struct kv *kv, kv_read_fn fn, void *arg);
int kv_snapshot_read_fd(struct kv *kv, int fd);
int kv_snapshot_read_buf(struct kv *kv, const void *buf, size_t len);

/* ----------------------------------------------------------------------------------
 * Watch: the changes after a revision, and a hook for live ones (watch.c, docs/kv.md).
 *
 * An event is one key's change at one revision: a put (the key's new value, its
 * create and mod revisions and version) or a delete (value empty, create revision and
 * version 0, mod revision the deleting one). `prev` is the key's value just before,
 * when it existed then (prev.mod_revision 0 otherwise). A command that changes several
 * keys yields one event per key, in ascending key order, all at its one revision.
 * Every revision above the compaction point can be enumerated: compaction keeps every
 * version newer than it and the one visible at it.
 */

enum kv_event_type {
	KV_EVENT_PUT = 1,
	KV_EVENT_DELETE,
};

struct kv_event {
	enum kv_event_type type;
	struct kv_value kv;
	struct kv_value prev;
};

/* The events of one revision, n >= 1 of them, in key order; pointers into the store,
 * valid during the call only. A nonzero return stops an enumeration (kv_events). */
typedef int (*kv_events_fn)(void *arg, uint64_t revision, const struct kv_event *ev, size_t n);

/* Called inside kv_apply for each applied KV_OP_PUBLISH (not for a session's duplicate),
 * in log order: the channel and the message, valid during the call only. */
typedef void (*kv_publish_fn)(void *arg, const void *channel, size_t channel_len,
                              const void *message, size_t message_len);

/* The live hook: `events` is called inside kv_apply (and whatever else commits a
 * revision) once per revision that changed keys, after the change and before the
 * history window moves; `reset` after kv_snapshot_read replaced the state (revisions may
 * have jumped: enumerate to catch up); `publish` (optional) once per applied PUBLISH.
 * None may modify the store. With no hook set the store does no extra work. The hook
 * survives snapshot reads; NULL (or a hook with neither events nor publish) clears it. */
struct kv_watch_hook {
	kv_events_fn events;
	void (*reset)(void *arg);
	void *arg;
	kv_publish_fn publish;
};

void kv_watch_hook_set(struct kv *kv, const struct kv_watch_hook *hook);

/* Enumerates, in revision order, the events of revisions >= `from` that touch keys in
 * [start, end) (end_len 0: no upper bound), one call of fn per revision with matching
 * events, and stops after the revision that reached `limit` events (>= 1; a revision
 * is never split). *next (if not NULL) gets the revision to resume from: the store's
 * revision + 1 when everything was enumerated. Returns 0, KV_ECOMPACTED (from at or
 * below the compaction point, which history no longer covers; kv_compact_revision names
 * it), KV_EFUTURE (from above revision + 1) or KV_EINVAL (from 0 or limit 0). */
int kv_events(const struct kv *kv, uint64_t from, const void *start, size_t start_len,
              const void *end, size_t end_len, size_t limit, kv_events_fn fn, void *arg,
              uint64_t *next);

/* Whether `key` lies in [start, end) (end_len 0: no upper bound). */
bool kv_key_in_range(const void *key, size_t key_len, const void *start, size_t start_len,
                     const void *end, size_t end_len);

#endif /* CONCORD_KV_H */
