/* resp_impl.h: the RESP frontend's insides, shared by its files: connections, reply slots, the
 * command table and its handlers. */
#ifndef CONCORD_SERVER_RESP_IMPL_H
#define CONCORD_SERVER_RESP_IMPL_H

/*
 * resp_server.c   connections, reply slots, the relay, dispatch, life cycle
 * resp_exec.c     reads batched behind one node_read; writes through the log
 * resp_commands.c the command table: {name, arity, flags, first key, handler}
 * resp_string.c   the string and key commands (GET, SET, DEL, SCAN...)
 * resp_admin.c    connection, server and cluster commands (PING, INFO, CLUSTER...)
 * resp_txn.c      MULTI/EXEC/DISCARD/WATCH/UNWATCH: the queue, one KV_OP_TXN per EXEC
 * resp_util.c     argument parsing and error replies
 * resp_auth.c     AUTH, HELLO AUTH, ACL, CONCORD.USER/ROLE/AUTH, and who may run what
 */

#include "codec/resp.h"
#include "server/auth.h"
#include "driver/order.h"
#include "server/conn.h"
#include "server/resp_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a committed write's struct kv_reply becomes a RESP reply. */
enum reply_kind {
	REPLY_OK,         /* +OK */
	REPLY_OK_OR_NULL, /* +OK if the condition held, else the null bulk (SET NX|XX) */
	REPLY_BOOL,       /* :1 if the condition held, else :0 (SETNX, MSETNX, CAS...) */
	REPLY_INTEGER,    /* :reply.integer (DEL, INCR..., APPEND) */
	REPLY_CLIENT_ID,  /* :reply.client_id (CONCORD.SESSION) */
	REPLY_BULK,       /* inside EXEC: GET's value or the null bulk */
	REPLY_BULKS,      /* inside EXEC: MGET's array */
	REPLY_FIRST_BULK, /* a KV_OP_TXN whose first sub-command is a GET: its value
	                     (GETSET, GETDEL, GETEX, SET ... GET: resp_expire.c) */
	REPLY_DELRANGE,   /* CONCORD.DELRANGE ... PREVKV: [deleted, [key, value, ...]] */
	REPLY_ETXN,       /* CONCORD.TXN: [succeeded, revision, [response...]] */
	REPLY_PUBLISH,    /* PUBLISH: :receivers on this node when it applied the entry
	                     (resp_pubsub_receivers) */
};

/* A connection's transaction: the commands queued since MULTI, the keys watched. */
#define RESP_TXN_QUEUE_MAX   1024u              /* commands queued; keys watched */
#define RESP_TXN_QUEUE_BYTES (4u * 1024 * 1024) /* argument bytes queued */

struct queued {
	const struct command *cmd;
	size_t argc;
	struct resp_arg *argv; /* one allocation with the bytes */
};

struct watched {
	char *key;
	size_t len;
	uint64_t mod_rev; /* when WATCH read it; 0: absent */
};

struct txn_state {
	bool multi;  /* MULTI seen, no EXEC/DISCARD yet */
	bool failed; /* a command was refused while queueing: EXEC answers EXECABORT */
	struct queued *q;
	size_t n, cap, bytes;
	struct watched *w;
	size_t n_watch, cap_watch;
	/* Forward mode on a follower: MULTI or WATCH went to the leader over the relay of
	 * generation relay_gen; until EXEC/DISCARD (UNWATCH for a WATCH alone) every command
	 * follows them there, and if that relay is gone they are refused. */
	bool relayed_multi, relayed_watch;
	uint64_t relay_gen;
};

struct rconn;
struct command;

/* One reply owed to a client, in request order. */
struct slot {
	struct slot *next;       /* the connection's queue */
	struct slot *relay_next; /* the relay's in-flight list */
	struct slot *batch_next; /* a read batch */
	struct rconn *c;
	bool done;      /* `out` holds the whole reply */
	bool holds_ref; /* the node owes a callback: the connection waits for it */
	bool orphan;    /* the connection closed: free on completion */
	bool is_write;  /* a write proposed or a command relayed, in flight */
	bool is_read;   /* a read waiting for its ReadIndex, in flight */
	struct wire_buf out;
	uint8_t proto; /* the connection's protocol when the command came: its reply's */
	/* A pending write. */
	enum reply_kind kind;
	uint8_t *txn_kinds; /* EXEC: how each sub-command renders (NULL: not an EXEC) */
	size_t txn_n;
	uint64_t client_id, seq;
	/* A pending read: the command and a copy of its arguments. */
	const struct command *cmd;
	size_t argc;
	struct resp_arg *argv; /* one allocation with the bytes */
	/* Request latency: the command this slot answers, timed when it leaves the queue. */
	bool timed;
	const struct command *timed_cmd; /* NULL: "other" */
	uint64_t start_ns;
	/* A relayed command sent behind a HELLO that switched the relay's protocol: the
	 * replies to swallow before its own. */
	uint8_t relay_skip;
};

/* A connection's relay to the leader's client port (forward mode). */
struct resp_relay {
	struct relay *r;
	raft_id target;
	char address[128];
	uint32_t skip; /* replies to swallow: the CONCORD.RELAY greeting */
	uint8_t proto; /* the protocol the leader answers in on it: follows the client's */
	struct slot *head, *tail;
	uint32_t in_flight;
};

#define SCAN_CURSORS 16

struct scan_cursor {
	uint64_t id; /* 0: free */
	uint64_t used;
	char *start; /* the last key returned plus a zero byte */
	size_t start_len;
};

/* How a command is carried out, decided before it runs (resp_server.c). */
enum route {
	ROUTE_ANSWERED, /* answered already (an error) */
	ROUTE_LOCAL,    /* answered here at once */
	ROUTE_READ,     /* a read of this node's store, once its ReadIndex is confirmed */
	ROUTE_STALE,    /* a read of this node's store as it is */
	ROUTE_WRITE,    /* proposed through this node's log */
	ROUTE_AWAY,     /* needs the leader: relayed to it, or -MOVED */
};

/* A parsed command and its route. Its arguments point into the parser's buffer: a
 * connection holding a plan calls no parser function until it ran. */
struct plan {
	enum route route;
	const struct command *run; /* the command itself, or the one CONCORD.EXEC carries */
	size_t argc, rargc;        /* as sent; of `run` */
	const struct resp_arg *argv, *rargv;
	uint64_t client_id, seq; /* CONCORD.EXEC's, else 0 */
};

struct rconn {
	struct conn conn; /* first: the connection layer's part */
	struct resp_server *s;
	struct resp_parser parser;
	bool quit;    /* QUIT or a protocol error: read no further command */
	bool drained; /* every complete command received was dispatched */
	bool processing;
	bool relayed;  /* a relay from another node: never relay further */
	uint8_t proto; /* RESP_PROTO_2 until HELLO 3 (resp_admin.c) */
	struct slot *head, *tail;
	uint32_t pending;
	/* A connection's commands take effect in the order sent: a read does not start
	 * while a write sent before it is in flight (the read would miss it), and a write
	 * does not start while a read sent before it is (the read, served from the store
	 * as it is once confirmed, would see the write): src/driver/order.h. Until then the command
	 * waits in `held` and nothing further is parsed. */
	struct driver_order order; /* slots with is_write or is_read, unfinished */
	bool holding;
	struct plan held;
	struct resp_relay *relay; /* NULL: none */
	uint64_t relay_gen;       /* relays started so far */
	struct txn_state txn;
	char *name;
	struct scan_cursor cursors[SCAN_CURSORS];
	uint64_t next_cursor;
	uint64_t cursor_clock;
	/* The command being dispatched, until its reply is timed (at once, or by the
	 * first slot created for it). */
	bool timing;
	const struct command *timing_cmd; /* NULL: "other" */
	uint64_t timing_start_ns;
	struct rps *pubsub; /* subscriptions and CONCORD.WATCHes (resp_pubsub.c); NULL: none */
	/* Auth (resp_auth.c): the user this connection authenticated as, and the stored
	 * hash it was verified against (a password change or deletion ends it). */
	bool authed;
	bool member;    /* authenticated as the members' own identity (AUTH_MEMBER_USER) */
	bool auth_busy; /* an AUTH is being verified: nothing further is parsed */
	uint32_t auth_failures;
	char user[AUTH_NAME_MAX + 1];
	uint8_t user_hash[AUTH_HASH_BYTES];
	char *relay_pw; /* the verified password, sent on the relay to the leader */
	size_t relay_pw_len;
};

/* Reads queued while parsing, confirmed together by one node_read. */
struct read_batch {
	struct resp_server *s;
	struct slot *head, *tail;
};

struct resp_server {
	struct conn_listener l; /* first */
	struct server *sv;
	struct read_batch *batch;
	struct rps_reg *pubsub; /* this node's subscribers (resp_pubsub.c) */
};

/* =================================================================================
 * The command table
 */

enum {
	CMD_LOCAL = 1u << 0,   /* answered here, on any node */
	CMD_READ = 1u << 1,    /* a read of the store: the leader's, unless stale reads */
	CMD_WRITE = 1u << 2,   /* through the log: the leader */
	CMD_LEADER = 1u << 3,  /* an admin command the leader carries out */
	CMD_EXEC = 1u << 4,    /* CONCORD.EXEC: runs the command it carries */
	CMD_SESSION = 1u << 5, /* CONCORD.SESSION: not to be run by CONCORD.EXEC */
	CMD_TXN = 1u << 6,     /* MULTI, EXEC, DISCARD, WATCH, UNWATCH (resp_txn.c): always
	                          the leader's, never a stale read */
	CMD_NOTXN = 1u << 7,   /* a write that is itself a transaction (GETSET...): not
	                          inside MULTI */
};

/* A write's command, built from the arguments; on error, build_fn writes err and
 * returns -1. `puts`/`keys` are scratch the caller frees. */
struct build {
	struct kv_cmd cmd;
	enum reply_kind kind;
	struct kv_put *puts;
	struct kv_key *keys;
	bool reserved;        /* writes reserved keys (auth records): proposed as the node's own */
	void *scratch;        /* bytes the command points into (keys, values, anything else): the
	                         caller frees it with free() */
	struct kv_cmd sub[2]; /* a command built as a transaction (REPLY_FIRST_BULK) */
	char err[256];
};

/* Answers at once (CMD_LOCAL, CMD_LEADER). */
typedef void (*local_fn)(struct rconn *c, size_t argc, const struct resp_arg *argv,
                         struct wire_buf *out);
/* Builds a write (CMD_WRITE). */
typedef int (*build_fn)(struct resp_server *s, size_t argc, const struct resp_arg *argv,
                        struct build *b);
/* Answers from the store once the read is confirmed (CMD_READ). */
typedef void (*read_fn)(struct rconn *c, const struct kv *kv, size_t argc,
                        const struct resp_arg *argv, struct wire_buf *out);

struct command {
	const char *name; /* upper case */
	int arity;        /* > 0: exactly; < 0: at least -arity (name included) */
	unsigned flags;
	int first_key;  /* argument index of the first key (for -MOVED), 0 if none */
	local_fn local; /* CMD_LOCAL and CMD_LEADER */
	build_fn build; /* CMD_WRITE */
	read_fn read;   /* CMD_READ */
};

/* The command named `name` (any case), or NULL. */
const struct command *command_find(const char *name, size_t len);
size_t command_count(void);
/* The index of a command of the table (for /metrics). */
size_t command_index(const struct command *cmd);
/* Whether `name` is a Redis command Concord does not serve (lists, hashes...). */
bool command_unsupported(const char *name, size_t len);
bool command_arity_ok(const struct command *cmd, size_t argc);

/* resp_string.c */
int build_set(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_setnx(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_del(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_incr(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_decr(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_incrby(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_decrby(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_append(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_mset(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_msetnx(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_cas(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_cas_rev(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_cas_del(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_session(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
/* CONCORD.COMPACT rev: drop the history older than `rev` on every node (resp_admin.c). */
int build_compact(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
/* Key and value checks of the writes (resp_string.c), for a precise error in b->err. */
int check_put(struct resp_server *s, struct build *b, const struct resp_arg *key,
              const struct resp_arg *value);
void put_from(struct kv_put *p, const struct resp_arg *key, const struct resp_arg *value);

/* resp_expire.c: SET's options, the expiry commands and the ones returning the old
 * value */
int build_setex(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_expire(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_persist(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_getex(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_getdel(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_getset(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
/* resp_lease.c: CONCORD.LEASE (writes) and CONCORD.LEASES (reads) */
int build_lease(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
/* A REPLY_FIRST_BULK write's reply. */
void resp_expire_render(struct wire_buf *out, const struct server *sv, int proto,
                        const struct kv_reply *reply);
#define READ_FN(name)                                                                              \
	void name(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,  \
	          struct wire_buf *out)
READ_FN(read_get);
READ_FN(read_strlen);
READ_FN(read_exists);
READ_FN(read_type);
READ_FN(read_ttl);
READ_FN(read_mget);
READ_FN(read_concord_get);
READ_FN(read_keys);
READ_FN(read_scan);
READ_FN(read_dbsize);
READ_FN(read_watch);
READ_FN(read_leases);
/* Keys in the store outside the reserved keyspace. */
uint64_t resp_user_keys(const struct kv *kv);

/* resp_admin.c */
#define LOCAL_FN(name)                                                                             \
	void name(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
LOCAL_FN(local_ping);
LOCAL_FN(local_echo);
LOCAL_FN(local_select);
LOCAL_FN(local_quit);
LOCAL_FN(local_command);
LOCAL_FN(local_config);
LOCAL_FN(local_hello);
LOCAL_FN(local_auth);
LOCAL_FN(local_client);
LOCAL_FN(local_relay);
LOCAL_FN(local_info);
LOCAL_FN(local_cluster);
LOCAL_FN(local_status);
LOCAL_FN(local_fault);
LOCAL_FN(leader_transfer);
LOCAL_FN(leader_stepdown);
LOCAL_FN(leader_member);
LOCAL_FN(local_acl);
/* The HELLO reply (resp_admin.c), in c->proto. */
void resp_hello_reply(struct rconn *c, struct wire_buf *out);

/* resp_auth.c */
int build_user(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_role(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
int build_auth(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
/* Whether the connection may run the command (auth off: always); if not, the NOAUTH or
 * NOPERM error is answered. */
bool resp_auth_check(struct rconn *c, const struct command *cmd, size_t argc,
                     const struct resp_arg *argv);
/* AUTH [user] password, and HELLO ver AUTH user password [SETNAME name] (`hello`):
 * verified off the loop; the reply comes in a slot of its own. */
void resp_auth_start(struct rconn *c, const struct resp_arg *user, const struct resp_arg *pw,
                     bool hello, int ver, const struct resp_arg *name);
/* Whether the command is AUTH, or a HELLO that authenticates. */
bool resp_auth_command(const struct command *cmd, size_t argc, const struct resp_arg *argv);
/* The AUTH a relay sends after its greeting, if the connection authenticated. */
bool resp_auth_relay_hello(struct rconn *c, struct wire_buf *out);
void resp_auth_free(struct rconn *c);
/* resp_server.c: closes the connection's relay (nothing may be in flight on it). */
void resp_relay_reset(struct rconn *c);

/* resp_glob.c */
/* Whether `str` matches the Redis glob `pattern` (bytes, case-sensitive). */
bool resp_glob_match(const void *pattern, size_t plen, const void *str, size_t slen);
/* The literal bytes every match starts with, unescaped into out[] (plen bytes at most);
 * returns their number. */
size_t resp_glob_prefix(const void *pattern, size_t plen, char *out);

/* resp_range.c */
READ_FN(read_range);
/* The range a CONCORD.RANGE (delrange false) or CONCORD.DELRANGE names, for the auth
 * check: 0, or -1 if malformed. A prefix's end is in *owned (free it). */
int resp_range_bounds(size_t argc, const struct resp_arg *argv, bool delrange, struct kv_range *r,
                      unsigned char **owned);
int build_delrange(struct resp_server *s, size_t argc, const struct resp_arg *argv,
                   struct build *b);
/* resp_etxn.c: CONCORD.TXN, etcd's transaction */
int build_etxn(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
void resp_etxn_render(struct wire_buf *out, const struct server *sv, const struct kv_reply *r,
                      int proto);
/* A committed CONCORD.DELRANGE PREVKV's reply. */
void resp_delrange_render(struct wire_buf *out, const struct kv_reply *r, int proto);

/* =================================================================================
 * resp_server.c: slots
 */

/* A new slot at the end of the connection's queue. */
struct slot *slot_new(struct rconn *c);
/* The slot's reply is complete (or the connection went away meanwhile): flush what is
 * in order, resume the connection, and drop the slot's reference if it held one. */
void slot_finish(struct slot *sl);
void slot_free(struct slot *sl);
/* Where a reply known now goes: the output, or a finished slot behind the owed ones. */
struct wire_buf *conn_reply_now(struct rconn *c);

/* resp_exec.c */
/* Queues a read for the batch flushed by resp_read_batch_flush(). */
void resp_read_enqueue(struct rconn *c, const struct command *cmd, size_t argc,
                       const struct resp_arg *argv);
/* Issues the reads collected so far behind one node_read. */
void resp_read_batch_flush(struct resp_server *s);
/* Builds and proposes a write; its reply fills a slot. */
void resp_write_submit(struct rconn *c, const struct command *cmd, size_t argc,
                       const struct resp_arg *argv, uint64_t client_id, uint64_t seq);

/* Proposes a built KV_OP_TXN; the slot renders it with kinds[0..n) (taken over). */
void resp_txn_propose(struct rconn *c, const struct kv_cmd *cmd, uint8_t *kinds, size_t n);

/* resp_pubsub.c */
LOCAL_FN(local_subscribe);
LOCAL_FN(local_psubscribe);
LOCAL_FN(local_unsubscribe);
LOCAL_FN(local_punsubscribe);
/* PUBLISH channel message: a KV_OP_PUBLISH through the log; each node delivers it to its
 * own subscribers when it applies the entry. */
int build_publish(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b);
/* How many of this node's subscriptions received the PUBLISH applied last, if that is the
 * entry being applied now; else 0. For the reply of a write this node proposed. */
int64_t resp_pubsub_receivers(struct resp_server *s);
LOCAL_FN(local_pubsub);
LOCAL_FN(local_concord_watch);
LOCAL_FN(local_concord_unwatch);
/* Answers what subscribed mode refuses (RESP2), PING there, and CONFIG SET|GET
 * notify-keyspace-events; true if it answered. */
bool resp_pubsub_intercept(struct rconn *c, const struct command *cmd, size_t argc,
                           const struct resp_arg *argv);
/* The connection's output drained: CONCORD.WATCH catch-ups continue. */
void resp_pubsub_drained(struct rconn *c);
void resp_pubsub_closing(struct rconn *c);
void resp_pubsub_free(struct rconn *c);
void resp_pubsub_server_free(struct resp_server *s);

/* resp_txn.c */
/* After MULTI: queues (or refuses) the command; true if it was answered. With `cmd`
 * NULL or of the wrong arity, marks the transaction failed and returns false. */
bool resp_txn_intercept(struct rconn *c, const struct command *cmd, size_t argc,
                        const struct resp_arg *argv);
/* MULTI, EXEC, DISCARD, UNWATCH on this node (the leader). */
void resp_txn_run(struct rconn *c, const struct command *run, size_t argc,
                  const struct resp_arg *argv);
/* EXEC's reply in protocol `proto`: the array of the sub-commands' replies, or the null
 * array if a guard failed. */
void resp_txn_render(struct wire_buf *out, const struct server *sv, int proto, const uint8_t *kinds,
                     size_t n, const struct kv_reply *reply);
void resp_txn_free(struct rconn *c);

/* =================================================================================
 * resp_util.c: arguments and replies
 */

bool arg_is(const struct resp_arg *a, const char *s);
/* A decimal int64 as Redis accepts it: optional '-', digits, no spaces, no '+'. */
bool arg_i64(const struct resp_arg *a, int64_t *out);
bool arg_u64(const struct resp_arg *a, uint64_t *out);
bool arg_double(const struct resp_arg *a, double *out);
/* Up to cap-1 bytes of an argument in lower case, unprintable bytes as '?'. */
void lower_name(const struct resp_arg *a, char *buf, size_t cap);
void reply_errorf(struct wire_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_error(struct wire_buf *out, const char *msg);
void reply_bulk_str(struct wire_buf *out, const char *s);
void reply_wrong_args(struct wire_buf *out, const struct resp_arg *name);
void reply_syntax(struct wire_buf *out);
void reply_not_int(struct wire_buf *out);
/* "ERR unknown command 'x', with args beginning with: ..." */
void reply_unknown(struct wire_buf *out, size_t argc, const struct resp_arg *argv);
/* A KV_ error code as Redis-style text. */
void write_kv_error(struct wire_buf *out, const struct server *sv, int code, uint64_t client_id,
                    uint64_t seq);

#endif /* CONCORD_SERVER_RESP_IMPL_H */
