/* impl.h: the key-value state machine's internal structures, shared by its source files. */
#ifndef CONCORD_KV_IMPL_H
#define CONCORD_KV_IMPL_H

#include "kv/kv.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ----------------------------------------------------------------------------------
 * The map: a skiplist of items in ascending key order. Each item holds its versions,
 * newest first. A version with version == 0 is a tombstone (the key was deleted at its
 * mod revision). The skiplist's shape comes from a PRNG inside the store; nothing
 * observable depends on it (reads, snapshots and replies see only key order).
 */

/* Levels of the skiplist; with a 1/4 promotion chance this serves 4^20 keys. */
#define KV_SKIP_LEVELS   20
#define KV_ITEM_KEY_BITS 24
_Static_assert(KV_KEY_BYTES_LIMIT < (1u << KV_ITEM_KEY_BITS), "key length must fit");
_Static_assert(KV_SKIP_LEVELS < 256, "level must fit in 8 bits");

struct kv_ver {
	struct kv_ver *older;
	uint64_t create_rev;
	uint64_t mod_rev;
	uint64_t version; /* 0: tombstone */
	uint32_t len;
	unsigned char data[];
};

struct kv_item {
	struct kv_ver *head;   /* newest version; never NULL for an item in the list */
	struct kv_item *hnext; /* the next item in the same bucket of the hash index */
	uint32_t key_len : KV_ITEM_KEY_BITS;
	uint32_t level : 8;     /* entries in next[] */
	uint32_t pending;       /* entries of the compaction queue that name this item */
	struct kv_ttl *ttl;     /* the live key's deadline or lease; NULL: none */
	struct kv_item *next[]; /* followed by the key bytes */
};

static inline unsigned char *kv_item_key(const struct kv_item *it)
{
	return (unsigned char *)&it->next[it->level];
}

static inline bool kv_ver_live(const struct kv_ver *v)
{
	return v != NULL && v->version != 0;
}

/* The hash index: every item of the skiplist, by key, for point reads and writes in
 * constant time. Chained buckets; growth rehashes incrementally (a few buckets per
 * insertion) so that no single command pays for moving a million keys. The hash is
 * SipHash-1-3 keyed per store from getrandom(): clients choose keys, and must not be
 * able to choose collisions. Nothing observable depends on the key or the layout. */
struct kv_index {
	struct kv_item **tab[2]; /* tab[1] is the table being grown into, or NULL */
	size_t size[2];          /* buckets, powers of two */
	size_t used[2];
	size_t rehash;   /* next bucket of tab[0] to move while tab[1] exists */
	uint64_t key[2]; /* SipHash key */
};

/* The compaction queue: one entry per superseded version and per tombstone, in order of
 * the revision at which it became collectable once the compaction point reaches it. */
struct kv_hist {
	uint64_t rev;
	struct kv_item *item;
};

struct kv_histq {
	struct kv_hist *ring;
	size_t cap; /* a power of two, or 0 */
	size_t head;
	size_t len;
};

/* ----------------------------------------------------------------------------------
 * Sessions: an open-addressing table by client id, and a list in order of last activity
 * (least recent first). Log time never goes back, so touching a session moves it to the
 * tail and the list stays sorted by last_active_ms.
 */

struct kv_session {
	uint64_t id;
	uint64_t last_seq;
	uint64_t last_active_ms;
	struct kv_session *prev; /* less recently active */
	struct kv_session *next; /* more recently active */
	struct kv_reply reply;   /* the reply to last_seq */
};

struct kv_sessions {
	struct kv_session **slots; /* NULL: empty slot */
	size_t cap;                /* a power of two */
	size_t count;
	struct kv_session *oldest;
	struct kv_session *newest;
};

/* ----------------------------------------------------------------------------------
 * Expiry (lease.c): a min-heap of deadlines for keys and one for leases; a key with a
 * deadline or a lease has a struct kv_ttl; leases sit in an array sorted by id. The
 * heaps only serve the reaper and kv_next_deadline: nothing observable depends on
 * their layout.
 */

struct kv_heapnode {
	uint64_t deadline;
	size_t pos; /* in the heap; SIZE_MAX: not in it */
};

struct kv_heap {
	struct kv_heapnode **a;
	size_t n, cap;
};

struct kv_lease;

struct kv_ttl {
	struct kv_heapnode node; /* node.deadline 0: none (then not in the heap) */
	struct kv_item *item;
	struct kv_lease *lease;
	struct kv_ttl *lprev, *lnext; /* the lease's keys */
};

struct kv_lease {
	struct kv_heapnode node;
	uint64_t id;
	int64_t ttl_ms;
	struct kv_ttl *keys;
	uint64_t n_keys;
};

struct kv_leases {
	struct kv_lease **a; /* ascending id */
	size_t n, cap;
	struct kv_heap heap;
};

/* ----------------------------------------------------------------------------------
 * A transaction's outcomes (txn.c), rebuilt by every transaction and handed out through
 * struct kv_reply until the next one. Values are gathered as offsets into `bytes` and
 * turned into pointers once the buffers stop growing.
 */

struct kv_txn_out {
	struct kv_txn_item *items;
	size_t *first; /* per item: the index of its first value */
	size_t n_items, cap_items;
	struct kv_txn_value *vals;
	size_t *off; /* per value: its offset in bytes */
	size_t n_vals, cap_vals;
	unsigned char *bytes;
	size_t n_bytes, cap_bytes;
	struct kv_value *kvs; /* RANGE's keys: key and value bytes in `bytes` at kv_off */
	size_t *kv_off;
	size_t *first_kv; /* per item: the index of its first kv */
	size_t n_kvs, cap_kvs;
	struct kv_txn_result result;
};

/* A DELRANGE's deleted keys and values (range.c): offsets into bytes while it grows,
 * then pointers, as for a transaction's outcomes. */
struct kv_prev_out {
	struct kv_value *vals;
	size_t *off; /* per value: its key's offset in bytes; the value follows the key */
	size_t n, cap;
	unsigned char *bytes;
	size_t n_bytes, cap_bytes;
};

/* ----------------------------------------------------------------------------------
 * The store
 */

#define KV_ERRMSG_SIZE 256

struct kv {
	struct kv_config cfg;
	struct kv_item *list; /* skiplist head: KV_SKIP_LEVELS levels, no key */
	uint32_t list_level;  /* levels in use */
	uint64_t rng;         /* skiplist levels */

	uint64_t rev;
	uint64_t compact_rev;
	raft_index applied;
	uint64_t now_ms;

	/* The log clock of expiry (lease.c) and the term whose stamps drive it. */
	uint64_t clock_ms;
	raft_term clock_term;
	bool clock_running;   /* a stamp of clock_term was applied: base_* are set */
	uint64_t base_mono;   /* that first stamp */
	uint64_t base_clock;  /* the clock when it was applied */
	uint64_t cmd_time_ms; /* the wall-clock stamp of the command being applied */
	struct kv_heap ttl_heap;
	struct kv_leases leases;
	uint64_t n_ttls;

	struct kv_index index;
	struct kv_histq hist;
	struct kv_sessions sessions;

	/* Statistics, kept exact. */
	uint64_t n_items;
	uint64_t n_keys;
	uint64_t key_bytes;
	uint64_t value_bytes;
	uint64_t n_versions;
	uint64_t hist_bytes;

	struct kv_txn_out txn;
	struct kv_prev_out prev; /* DELRANGE's prev kvs (range.c) */

	/* Watch (watch.c): the hook, and the items changed by the revision being written
	 * (collected only while a hook is set). Not part of the state: kv_snapshot_read
	 * carries it over. */
	struct kv_watch_hook watch;
	struct kv_item **touched;
	size_t n_touched, cap_touched;

	char errmsg[KV_ERRMSG_SIZE];
};

/* store.c */
/* `expected_items` sizes the hash index (0: small). */
void kv_store_init(struct kv *kv, const struct kv_config *cfg, size_t expected_items);
void kv_store_clear(struct kv *kv);
int kv_key_cmp(const void *a, size_t alen, const void *b, size_t blen);
struct kv_item *kv_store_find(const struct kv *kv, const void *key, size_t key_len);
/* The first item whose key is >= key. */
struct kv_item *kv_store_seek(const struct kv *kv, const void *key, size_t key_len);
/* Finds the item or inserts one without versions (the caller writes one at once). */
struct kv_item *kv_store_upsert(struct kv *kv, const void *key, size_t key_len);
/* Appends an item after every existing one (snapshot restore, keys ascending). */
struct kv_item *kv_store_append(struct kv *kv, const void *key, size_t key_len,
                                struct kv_item **tail);
struct kv_ver *kv_ver_new(uint32_t len);
/* Makes `v` (len and data filled in) the newest version of `it`, written at revision
 * `rev`; create_rev and version follow from the previous head. A second write of the
 * same key in the same revision (a duplicate key in one MSET) replaces the first. */
void kv_store_put(struct kv *kv, struct kv_item *it, struct kv_ver *v, uint64_t rev);
/* Deletes the key of `it` (which exists) at revision `rev`: a tombstone version. */
void kv_store_delete(struct kv *kv, struct kv_item *it, uint64_t rev);
/* After a command that wrote at revision `rev`, moves the store's revision there and
 * compacts what left the history window. */
void kv_store_commit(struct kv *kv, uint64_t rev);
/* The version of `it` visible at `rev`, or NULL. */
const struct kv_ver *kv_item_at(const struct kv_item *it, uint64_t rev);
/* Brings the compaction point to `rev` (compact_rev < rev <= kv->rev). */
void kv_store_compact(struct kv *kv, uint64_t rev);
void kv_histq_push(struct kv_histq *q, uint64_t rev, struct kv_item *it);
void kv_histq_free(struct kv_histq *q);
/* Draws a skiplist level in [1, KV_SKIP_LEVELS]. */
uint32_t kv_store_level(struct kv *kv);

/* index.c */
void kv_index_init(struct kv_index *x, size_t expected);
void kv_index_free(struct kv_index *x);
uint64_t kv_index_hash(const struct kv_index *x, const void *key, size_t len);
struct kv_item *kv_index_find(const struct kv_index *x, const void *key, size_t len, uint64_t hash);
/* Adds an item whose key is not in the index. */
void kv_index_insert(struct kv_index *x, struct kv_item *it, uint64_t hash);
void kv_index_remove(struct kv_index *x, struct kv_item *it);
/* SipHash with c compression and d finalization rounds (tests check 2-4's vectors). */
uint64_t kv_siphash(const uint64_t key[2], const void *data, size_t len, int c, int d);

/* session.c */
void kv_sessions_init(struct kv_sessions *s);
void kv_sessions_clear(struct kv_sessions *s);
struct kv_session *kv_session_find(const struct kv_sessions *s, uint64_t id);
/* Adds a session as the most recently active; the caller made room. */
struct kv_session *kv_session_add(struct kv_sessions *s, uint64_t id, uint64_t now_ms);
void kv_session_remove(struct kv_sessions *s, struct kv_session *se);
void kv_session_touch(struct kv_sessions *s, struct kv_session *se, uint64_t now_ms);
/* Drops every session idle for more than timeout_ms at now_ms. */
void kv_sessions_expire(struct kv_sessions *s, uint64_t now_ms, uint64_t timeout_ms);

/* apply.c */
/* Parses a value as INCR does: optional '-', decimal digits, no leading zero, int64_t. */
bool kv_int_parse(const unsigned char *s, size_t len, int64_t *out);

/* txn.c */
/* Runs a checked KV_OP_TXN: guards, then the sub-commands; fills r (r->txn included). */
int kv_txn_run(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r);
void kv_txn_out_free(struct kv_txn_out *o);

/* watch.c */
/* Notes that `it` changed at the revision being written (its first change in it). */
void kv_watch_touch(struct kv *kv, struct kv_item *it);
/* Hands the revision's events to the hook; before the history window moves. */
void kv_watch_commit(struct kv *kv, uint64_t rev);
void kv_watch_free(struct kv *kv);
/* lease.c */
void kv_expiry_init(struct kv *kv);
void kv_expiry_clear(struct kv *kv);
/* A new term's entry is applied: the clock waits for its first stamp. */
void kv_clock_term(struct kv *kv, raft_term term);
/* A command stamped `mono` (0: none) is applied. */
void kv_clock_advance(struct kv *kv, uint64_t mono);
/* Whether the live key of `it` has expired by the log clock. */
bool kv_item_expired(const struct kv *kv, const struct kv_item *it);
/* Drops the key's deadline and lease (its deletion, or a write that clears them). */
void kv_ttl_drop(struct kv *kv, struct kv_item *it);
/* A write's expiry resolved against the command: what to leave on the key. */
struct kv_ttl_set {
	bool touch;        /* false: keep what the key has */
	uint64_t deadline; /* 0: none */
	struct kv_lease *lease;
};
/* Resolves `e` for the command being applied. Returns 0 or KV_ELEASE (no such live
 * lease). */
int kv_expiry_resolve(const struct kv *kv, const struct kv_expiry *e, struct kv_ttl_set *out);
/* Leaves `s` on the live key of `it`. */
void kv_ttl_apply(struct kv *kv, struct kv_item *it, const struct kv_ttl_set *s);
/* The key's deadline, the earlier of its own and its lease's (UINT64_MAX: none). */
uint64_t kv_item_deadline(const struct kv_item *it);
/* Before a command runs: deletes the keys it names that have expired, at a revision of
 * their own. */
void kv_expire_touched(struct kv *kv, const struct kv_cmd *cmd);
/* Whether EXPIRE's flags let deadline `d` replace `cur` (UINT64_MAX: none). */
bool kv_expire_allowed(unsigned flags, uint64_t cur, uint64_t d);
/* The expiry commands (EXPIRE, the lease operations, EXPIRE_DUE). */
int kv_expiry_run(struct kv *kv, raft_index index, const struct kv_cmd *cmd, struct kv_reply *r);
struct kv_lease *kv_lease_find(const struct kv *kv, uint64_t id);
/* Adds a lease (the id is free); snapshot restore and LEASE_GRANT. */
struct kv_lease *kv_lease_add(struct kv *kv, uint64_t id, int64_t ttl_ms, uint64_t deadline);
/* Attaches the key to a lease and/or gives it a deadline (0: none); restore. */
void kv_ttl_attach(struct kv *kv, struct kv_item *it, uint64_t deadline, struct kv_lease *l);
/* range.c */
/* Runs a checked KV_OP_DELRANGE; fills r. */
int kv_delrange_run(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r);
void kv_prev_out_free(struct kv_prev_out *o);
/* The first item of the range (NULL: none) and whether `it` lies past its end. */
struct kv_item *kv_range_first(const struct kv *kv, const struct kv_range *r);
bool kv_range_past(const struct kv_range *r, const struct kv_item *it);

/* util */
int kv_errmsg_set(struct kv *kv, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool kv_limits_valid(const struct kv_limits *lim);

#endif /* CONCORD_KV_IMPL_H */
