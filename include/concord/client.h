/* client.h: the Concord C client library: leader discovery, retries, exactly-once writes, admin. */
#ifndef CONCORD_CLIENT_H
#define CONCORD_CLIENT_H

/*
 * A struct concord_client talks RESP2 (docs/resp.md) over TCP to the client ports of a
 * Concord cluster. It is blocking: every call returns once the operation succeeded,
 * failed for good, or ran out of time. A handle is not thread-safe: use one per thread
 * (handles share nothing).
 *
 * Endpoints. The handle starts from a comma-separated list of "host:port" client
 * addresses ("127.0.0.1:6379,127.0.0.1:6380", "[::1]:6379", "node1:6379"). It keeps one
 * connection open. A node that is not the leader either forwards the command (the
 * server's default) or answers "-MOVED <slot> <host:port>": the client then connects to
 * the named leader, adding the address to its list if it is new. "-CLUSTERDOWN" (no
 * leader yet), a refused or broken connection and a timed out attempt make the client
 * back off (exponentially, with jitter) and try the next endpoint. Every call is bounded
 * by a number of attempts (retries_max) and by a total deadline (deadline_ms); each
 * connect by connect_timeout_ms and each attempt by attempt_timeout_ms.
 *
 * Writes are exactly-once (docs/resp.md, Sessions). The first write opens a session
 * (CONCORD.SESSION) and every write then goes as "CONCORD.EXEC id seq command...". A
 * write is given its sequence number once; every retry of it (after a timeout, a broken
 * connection, a leader change or an "-UNKNOWN" reply) sends the same number, so the
 * cluster applies it once and answers a retry with the stored reply. If the session
 * expired before the write could have been applied, the client opens a new one and
 * goes on; if it expired while an earlier attempt might have been applied, or the
 * deadline passes with the outcome unknown, the call returns CONCORD_EUNKNOWN (and the
 * next write starts a new session).
 *
 * Reads (GET, MGET, SCAN) go to the leader (directly or forwarded) and are linearizable
 * (ReadIndex); a read is retried freely.
 *
 * Errors. Every function returns an int: CONCORD_OK (0) or a code of the table below;
 * concord_strerror() gives its text and concord_client_errmsg() a message with context
 * (the server's own error text for CONCORD_ESERVER).
 *
 * Ownership. Input pointers are only read during the call. Every buffer the library
 * returns is allocated with malloc and owned by the caller, who frees it with free()
 * (concord_reply_free for a struct concord_reply); the text of concord_client_errmsg
 * and concord_strerror is owned by the library.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONCORD_CLIENT_ERRORS(X)                                                                   \
	X(CONCORD_OK, "ok")                                                                        \
	X(CONCORD_ENOTFOUND, "not found")                                                          \
	X(CONCORD_EINVAL, "invalid argument")                                                      \
	X(CONCORD_ENOMEM, "out of memory")                                                         \
	X(CONCORD_EUNAVAILABLE, "unavailable: no node served the request in time")                 \
	X(CONCORD_EUNKNOWN, "the write may or may not have been applied")                          \
	X(CONCORD_ESERVER, "the server answered with an error")                                    \
	X(CONCORD_EPROTO, "malformed or unexpected reply")

enum concord_client_error {
#define CONCORD_CLIENT_ERROR_ENUM_(name, text) name,
	CONCORD_CLIENT_ERRORS(CONCORD_CLIENT_ERROR_ENUM_)
#undef CONCORD_CLIENT_ERROR_ENUM_
	    CONCORD_CLIENT_ERROR_COUNT_
};

/* A static string describing `err` (any int; unknown codes get a generic text). */
const char *concord_strerror(int err);

/* ----------------------------------------------------------------------------------
 * Handle
 */

/* Limits: what a zero field of struct concord_client_opts stands for, and ceilings. */
#define CONCORD_CLIENT_ENDPOINTS_MAX              64u
#define CONCORD_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 1000u
#define CONCORD_CLIENT_DEFAULT_ATTEMPT_TIMEOUT_MS 3000u
#define CONCORD_CLIENT_DEFAULT_DEADLINE_MS        10000u
#define CONCORD_CLIENT_DEFAULT_RETRIES_MAX        64u
#define CONCORD_CLIENT_DEFAULT_BACKOFF_MIN_MS     20u
#define CONCORD_CLIENT_DEFAULT_BACKOFF_MAX_MS     1000u
#define CONCORD_CLIENT_DEFAULT_REPLY_BYTES_MAX    (64u << 20)
#define CONCORD_CLIENT_REPLY_BYTES_LIMIT          (512u << 20)

struct concord_client_opts {
	uint32_t connect_timeout_ms; /* one TCP connect */
	uint32_t attempt_timeout_ms; /* one request: send it and read its reply */
	uint32_t deadline_ms;        /* one call, all attempts and back-offs included */
	uint32_t retries_max;        /* attempts per call (connects that fail included) */
	uint32_t backoff_min_ms;     /* first back-off; doubles up to backoff_max_ms */
	uint32_t backoff_max_ms;
	uint64_t reply_bytes_max; /* a larger reply is refused (CONCORD_EPROTO) */
	bool no_session;          /* plain writes: at-least-once when retried */
	/* Credentials (docs/security.md): with `password` set, every connection sends
	 * AUTH user password (user NULL: "default") before anything else; a refusal fails
	 * the call at once (CONCORD_ESERVER). Copied by concord_client_new. */
	const char *user;
	const char *password;
	/* TLS (docs/client.md), on when `tls` is set or any file is given: the server's
	 * certificate must chain to tls_ca_file (NULL: the system's CAs) and name the
	 * endpoint's host (its DNS name or IP address). A client certificate and its key
	 * (PEM), for servers run with --client-cert-auth. The files are read by
	 * concord_client_new; the strings need not outlive it. */
	bool tls;
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
};

/* Zeroes *opts: every field then means its default. */
void concord_client_opts_default(struct concord_client_opts *opts);

struct concord_client;

/* Size of the buffer concord_client_new may write a message into. */
#define CONCORD_CLIENT_ERRMSG_SIZE 512

/* A new handle for the comma-separated endpoint list (at most
 * CONCORD_CLIENT_ENDPOINTS_MAX, each "host:port" or "[v6]:port"); opts NULL means the
 * defaults. Connects lazily: the first call connects. Returns 0 with *out (free it with
 * concord_client_free), CONCORD_EINVAL (a malformed list or option; *out is NULL, and
 * the reason goes to errmsg, CONCORD_CLIENT_ERRMSG_SIZE bytes, if it is not NULL) or
 * CONCORD_ENOMEM. */
int concord_client_new(const char *endpoints, const struct concord_client_opts *opts,
                       struct concord_client **out, char *errmsg);

/* Closes the connection, ends the session (best effort: a short CONCORD.SESSION CLOSE)
 * and frees the handle. NULL is a no-op. */
void concord_client_free(struct concord_client *c);

/* The message of the last failed call, with context ("" after a success). Owned by the
 * handle; valid until its next call. */
const char *concord_client_errmsg(const struct concord_client *c);

/* The "host:port" the handle is connected to, or last tried ("" before any call).
 * Owned by the handle; valid until its next call. */
const char *concord_client_endpoint(const struct concord_client *c);

/* ----------------------------------------------------------------------------------
 * Key-value operations. Keys and values are byte strings (any bytes, NUL included).
 */

/* SET key value. */
int concord_client_put(struct concord_client *c, const void *key, size_t key_len, const void *value,
                       size_t value_len);

/* GET key. Returns 0 with *found; if found, *value is a new buffer of *value_len bytes
 * plus a NUL after them (the caller frees it), else *value is NULL and *value_len 0. */
int concord_client_get(struct concord_client *c, const void *key, size_t key_len, char **value,
                       size_t *value_len, bool *found);

/* DEL key. Returns 0 with *deleted (may be NULL) telling whether the key existed. */
int concord_client_del(struct concord_client *c, const void *key, size_t key_len, bool *deleted);

/* CAS key expected value: replaces the value if it equals `expected`. Returns 0 with
 * *swapped (may be NULL). */
int concord_client_cas(struct concord_client *c, const void *key, size_t key_len,
                       const void *expected, size_t expected_len, const void *value,
                       size_t value_len, bool *swapped);

/* INCRBY key delta. Returns 0 with *result (may be NULL): the new value. A value that
 * is not an integer is CONCORD_ESERVER. */
int concord_client_incr(struct concord_client *c, const void *key, size_t key_len, int64_t delta,
                        int64_t *result);

/* Called once per key, in the order the server lists them (byte order). `key` and
 * `value` are valid during the call only and are followed by a NUL. Return 0 to go on,
 * anything else to stop the scan (concord_client_scan then returns that value). */
typedef int (*concord_scan_cb)(void *arg, const char *key, size_t key_len, const char *value,
                               size_t value_len);

/* Every key starting with `prefix` (prefix_len 0: every key) with its value, page by page
 * (SCAN MATCH prefix* then MGET). A key deleted between the two is skipped. If the
 * server forgets the cursor (a reconnect), the scan starts over and skips the keys
 * already delivered, so each key is delivered at most once. The scan as a whole is not
 * one snapshot: keys written meanwhile may or may not appear. Returns 0, a callback's
 * non-zero value, or an error. */
#define CONCORD_CLIENT_SCAN_PAGE 100u
int concord_client_scan(struct concord_client *c, const void *prefix, size_t prefix_len,
                        concord_scan_cb cb, void *arg);

/* ----------------------------------------------------------------------------------
 * Cluster administration (docs/resp.md, admin commands).
 */

/* CONCORD.STATUS of one node: the JSON of GET /v1/cluster (docs/http.md) as that node
 * sees the cluster. `node` is a "host:port" client address, or NULL for whichever node
 * the handle reaches. Returns 0 with *json (a new NUL-terminated buffer of *json_len
 * bytes; json_len may be NULL; the caller frees it). */
int concord_client_status(struct concord_client *c, const char *node, char **json,
                          size_t *json_len);

/* CONCORD.TRANSFER to: hands leadership to member `to`. The transfer completes
 * asynchronously (watch the status). */
int concord_client_transfer(struct concord_client *c, uint64_t to);

/* CONCORD.STEPDOWN: the leader steps down; an election follows. */
int concord_client_step_down(struct concord_client *c);

/* CONCORD.MEMBER ADD id name peer client http: adds a learner. The three addresses are
 * "host:port" (client and http may be "" if the node has none). */
int concord_client_member_add(struct concord_client *c, uint64_t id, const char *name,
                              const char *peer, const char *client_addr, const char *http_addr);
/* CONCORD.MEMBER PROMOTE id: a learner becomes a voter. */
int concord_client_member_promote(struct concord_client *c, uint64_t id);
/* CONCORD.MEMBER REMOVE id. */
int concord_client_member_remove(struct concord_client *c, uint64_t id);

/* Fault injection on the links of one node (docs/net.md). Zero fields mean no fault. */
struct concord_fault {
	double drop;            /* probability that a message is dropped */
	uint32_t delay_req_ms;  /* extra latency of requests ... */
	double delay_req_p;     /* ... with this probability (0: always, when delay_req_ms > 0) */
	uint32_t delay_resp_ms; /* extra latency of responses ... */
	double delay_resp_p;    /* ... with this probability (0: always) */
	double dup;             /* probability that a message is sent twice */
	uint32_t jitter_ms;     /* every message delayed by 0..jitter_ms at random: reordering */
	bool block_out;         /* partition: nothing sent on the link arrives */
	bool block_in;          /* partition: what arrives on the link is discarded */
};

/* Every link (the "*" of CONCORD.FAULT). */
#define CONCORD_PEER_ALL 0u

/* CONCORD.FAULT SET peer ...: sets the faults of node `node`'s link to member `peer`
 * (CONCORD_PEER_ALL: every link), replacing earlier ones. `node` is a "host:port" client
 * address (required: faults are per node; a node that is not in the endpoint list is
 * fine). */
int concord_client_fault_set(struct concord_client *c, const char *node, uint64_t peer,
                             const struct concord_fault *f);
/* CONCORD.FAULT CLEAR peer. */
int concord_client_fault_clear(struct concord_client *c, const char *node, uint64_t peer);
/* CONCORD.FAULT DISK STALL ms on `node`: its storage waits until ms from now (0: CLEAR,
 * the stall ends). */
int concord_client_disk_stall(struct concord_client *c, const char *node, uint32_t ms);

/* ----------------------------------------------------------------------------------
 * Any command.
 */

enum concord_reply_type {
	CONCORD_REPLY_STATUS = 1, /* +text */
	CONCORD_REPLY_ERROR,      /* -text */
	CONCORD_REPLY_INTEGER,    /* :n */
	CONCORD_REPLY_STRING,     /* $bulk */
	CONCORD_REPLY_NIL,        /* $-1 or *-1 */
	CONCORD_REPLY_ARRAY,      /* *n */
};

/* A reply, deep-copied out of the connection's buffer. */
struct concord_reply {
	enum concord_reply_type type;
	int64_t integer; /* INTEGER */
	char *str;       /* STATUS, ERROR, STRING: len bytes plus a NUL; NULL otherwise */
	size_t len;
	struct concord_reply *elems; /* ARRAY: n elements */
	size_t n;
};

/* Frees what a reply holds (not the struct itself, which the caller provides) and
 * zeroes it. */
void concord_reply_free(struct concord_reply *r);

/* Sends argv[0..argc) (argv[i] of argv_len[i] bytes; argv_len NULL: NUL-terminated
 * strings) and fills *reply (the caller frees it with concord_reply_free). Returns 0
 * whenever the server answered, an error reply included (reply->type
 * CONCORD_REPLY_ERROR). Redirections and "no leader" are followed and retried as for
 * every call. Known writes (SET, DEL, INCR, MSET, CAS, ...) go through the session and
 * are exactly-once; known reads are retried freely; any other command is retried only
 * when it cannot have reached a node, else the call returns CONCORD_EUNKNOWN. */
int concord_client_command(struct concord_client *c, const char *const *argv,
                           const size_t *argv_len, size_t argc, struct concord_reply *reply);

/* GET `path` from a node's HTTP listener `http` ("host:port"; an address the nodes list
 * as "http" in CONCORD.STATUS), with the handle's TLS settings and credentials (HTTP
 * Basic): a 200 response's body is written to out_fd as it comes, its size in *bytes.
 * One attempt, no retries; each read may take the attempt timeout. Returns CONCORD_OK
 * (*status 200), CONCORD_ESERVER (*status the HTTP status, the start of the body in
 * concord_client_errmsg), CONCORD_EUNAVAILABLE (no connection, or it broke: part of the
 * body may have been written), CONCORD_EPROTO or CONCORD_EINVAL. */
int concord_client_http_get(struct concord_client *c, const char *http, const char *path,
                            int out_fd, int *status, uint64_t *bytes);

/* Reads the next reply on the handle's connection without sending anything: the push
 * messages that follow a CONCORD.WATCH or SUBSCRIBE sent with concord_client_command
 * (docs/resp.md; RESP2, so they arrive as arrays). Waits at most timeout_ms. Returns 0
 * with *got true and *reply filled (free it with concord_reply_free), or 0 with *got
 * false when no whole reply arrived in time (the connection stays open and keeps what
 * part of one it has). CONCORD_EUNAVAILABLE: there is no connection, or it broke or was
 * closed by the server (the subscriptions are gone with it); CONCORD_EPROTO: a malformed
 * reply (the connection is closed). Nothing is retried: after a failure, subscribe
 * again, which connects anew. Any other command on the handle meanwhile ends the stream
 * (the client reconnects rather than mix replies with pushes). */
int concord_client_next_reply(struct concord_client *c, uint32_t timeout_ms,
                              struct concord_reply *reply, bool *got);

#endif /* CONCORD_CLIENT_H */
