/* http_impl.h: the HTTP frontend's insides, shared by its files: connections, responses, the route
 * table and its handlers. */
#ifndef CONCORD_SERVER_HTTP_IMPL_H
#define CONCORD_SERVER_HTTP_IMPL_H

/*
 * http_server.c  connections, responses, the relay to the leader, life cycle
 * http_routes.c  the route table: {methods, path, flags, handler}, and routing
 * http_kv.c      the key-value and session routes (/v1/kv, /v1/sessions)
 * http_admin.c   cluster, membership, admin, health and metrics routes
 * http_auth.c    Origin/Host checks, Basic auth, 401/403
 * http_auth_routes.c  the /v1/auth routes
 * http_snapshot.c GET /v1/snapshot: a backup written by the node, streamed
 * http_range.c   etcd-style ranges: GET /v1/kv?key=&range_end=, DELETE /v1/kv (range)
 * http_txn.c     etcd-style transactions: POST /v1/txn
 */

#include "codec/http.h"
#include "codec/json.h"
#include "server/auth.h"
#include "server/conn.h"
#include "server/http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct relay;

/* What a pending operation is (c->op). */
enum {
	OP_NONE,
	OP_GET,
	OP_LIST,
	OP_PUT,
	OP_DELETE,
	OP_DELETE_CAS,
	OP_SESSION_OPEN,
	OP_SESSION_OTHER,
	OP_DELRANGE,
};

struct hconn {
	struct conn conn; /* first: the connection layer's part */
	struct http_server *s;
	struct http_parser parser;
	bool busy;         /* a request waits for the node or the leader */
	uint64_t start_ns; /* uv_hrtime() when the request was parsed, for its latency */
	bool close_after;  /* the last response said "Connection: close" */
	bool processing;
	struct http_request req; /* the request being served (valid while busy: no parser
	                            call happens meanwhile) */
	bool head_only;
	/* What a pending operation needs when it completes. */
	int op;
	bool force_base64;
	bool stale;
	uint64_t rev;
	bool raw;
	char *key; /* the key of a pending read or write (copy) */
	size_t key_len;
	uint64_t client_id, seq;
	struct relay *relay;          /* the request relayed to the leader, if any */
	struct http_watch *watch;     /* GET /v1/watch streaming on this connection, if any */
	char user[AUTH_NAME_MAX + 1]; /* the request's verified user ("" none) */
	uint32_t auth_failures;       /* wrong credentials in a row on this connection */
	/* GET /v1/snapshot (http_snapshot.c): the backup being written, then the file
	 * being sent. */
	struct node_backup *backup;
	bool streaming;
	int stream_fd;
	uint64_t stream_off, stream_size;
};

struct http_server {
	struct conn_listener l; /* first */
	struct server *sv;
};

/* =================================================================================
 * Routes
 */

enum {
	ROUTE_PREFIX = 1u << 0, /* the path starts with `path`; the rest goes to the handler */
	ROUTE_QUIET = 1u << 1,  /* the methods are served but not listed in a 405's Allow */
};

#define ROUTE_METHOD(m) (1u << (m))
#define ROUTE_GET       (ROUTE_METHOD(HTTP_METHOD_GET) | ROUTE_METHOD(HTTP_METHOD_HEAD))
#define ROUTE_ANY       0xffffu

/* Serves a request whose path matched; `rest` is what follows a prefix. */
typedef void (*route_fn)(struct hconn *c, const char *rest, size_t len);

struct route {
	unsigned methods; /* ROUTE_METHOD bits */
	const char *path;
	unsigned flags;
	route_fn handler;
};

/* Serves c->req: the browser and auth checks, then the table (http_routes.c). */
void http_route(struct hconn *c);
/* Serves c->req through the table, checks passed. */
void http_route_table(struct hconn *c);

/* http_auth.c: true if the request may go on to the table now; else it was answered
 * (401, 403) or waits for its password check, which then serves it. */
bool http_auth_gate(struct hconn *c);
/* http_auth_routes.c: /v1/auth/... */
void route_auth(struct hconn *c, const char *rest, size_t len);

/* http_kv.c */
void route_kv_get(struct hconn *c, const char *rest, size_t len);
void route_kv_list(struct hconn *c, const char *rest, size_t len);
void route_kv_put(struct hconn *c, const char *rest, size_t len);
void route_kv_delete(struct hconn *c, const char *rest, size_t len);
void route_sessions(struct hconn *c, const char *rest, size_t len);
/* 0: absent, 1: present and parsed, -1: malformed. */
int query_u64(const struct http_request *req, const char *name, uint64_t *out);
/* A decoded parameter into a new buffer (free it). 0 absent, 1 present, -1 malformed. */
int query_bytes(const struct http_request *req, const char *name, char **out, size_t *len);
/* A parameter present and not "0" or "false". */
bool query_flag(const struct http_request *req, const char *name);
/* ?encoding=base64 */
bool want_base64(const struct http_request *req);
/* A key's fields (key, value unless keys_only, its revisions) into an open object. */
void write_kv_fields(struct json_writer *w, const struct kv_value *v, bool b64, bool keys_only);

/* http_range.c */
/* Calls check(arg, range) with the range a /v1/kv request names (key and range_end, or
 * prefix; every key without them) and returns what it says; true if malformed (the
 * route answers 400). */
bool http_range_check(const struct http_request *q,
                      bool (*check)(void *arg, const struct kv_range *r), void *arg);
/* Whether GET /v1/kv asks for an etcd-style range (key, range_end or count_only). */
bool http_range_wanted(const struct http_request *q);
/* Serves it from the store as it is now (after the read was confirmed). */
void http_serve_range(struct hconn *c);
/* DELETE /v1/kv?key=..&range_end=.. or ?prefix=..: one DELRANGE. */
void route_kv_delrange(struct hconn *c, const char *rest, size_t len);

/* http_txn.c: POST /v1/txn, etcd's transaction. */
void route_txn(struct hconn *c, const char *rest, size_t len);

/* http_watch.c */
void route_watch(struct hconn *c, const char *rest, size_t len);
/* While a watch streams: serves the connection's turn (true), else false. */
bool http_watch_process(struct hconn *c);
void http_watch_closing(struct hconn *c);
void http_watch_release(struct hconn *c);
/* http_lease.c */
void route_lease(struct hconn *c, const char *rest, size_t len);
/* ?ttl=SECONDS or ?ttl_ms=MS as milliseconds: 0 absent, 1 parsed, -1 malformed. */
int http_query_ttl(const struct http_request *q, int64_t *ms);

/* http_admin.c */
void route_cluster(struct hconn *c, const char *rest, size_t len);
void route_healthz(struct hconn *c, const char *rest, size_t len);
void route_metrics(struct hconn *c, const char *rest, size_t len);
void route_members(struct hconn *c, const char *rest, size_t len);
void route_transfer(struct hconn *c, const char *rest, size_t len);
void route_step_down(struct hconn *c, const char *rest, size_t len);
void route_faults(struct hconn *c, const char *rest, size_t len);
void route_disk_fault(struct hconn *c, const char *rest, size_t len);
void route_index(struct hconn *c, const char *rest, size_t len);

/* http_metrics_ops.c: the operator's series of /metrics (CPU, disk sizes, per-peer
 * inflight and last contact, removal). */
struct node_status;
void ops_metrics_write(struct wire_buf *b, const struct server *sv, const struct node_status *st);
/* GET /v1/live: every member's live state, gathered by this node (peer_status.c). */
void route_live(struct hconn *c, const char *rest, size_t len);

/* http_snapshot.c */
void route_snapshot(struct hconn *c, const char *rest, size_t len);
/* While a snapshot streams: queue more of it as the output drains; true if it did (the
 * connection serves nothing else meanwhile). */
bool http_snapshot_pump(struct hconn *c);
/* The connection closes: drop the backup or the file. */
void http_snapshot_closing(struct hconn *c);

/* =================================================================================
 * http_server.c: responses and the leader
 */

/* Queues a response to c->req (keep-alive as the request asked, unless closing). */
void respond(struct hconn *c, int status, const char *content_type, const void *body, size_t len,
             const struct http_header *extra, size_t n_extra);
/* `body` as application/json (500 if it overflowed). */
void respond_json(struct hconn *c, int status, struct wire_buf *body,
                  const struct http_header *extra, size_t n_extra);
/* {"error": "<msg>"} */
void respond_error(struct hconn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void respond_empty_object(struct hconn *c, int status);
/* 503 with "Retry-After: 1" and the JSON body `fmt` makes. */
void respond_retry(struct hconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A write that did not commit (status not NODE_OK): 503 to retry when it had no effect,
 * 504 "outcome unknown" otherwise (http_kv.c). */
void respond_write_failed(struct hconn *c, int status);
/* Parses the request's body as JSON into *doc (free it); false after answering 400. */
bool request_json(struct hconn *c, struct json_doc **doc);
/* 405 with Allow: `allow`. */
void respond_method_not_allowed(struct hconn *c, const char *allow);

/* On a follower, answers the request (503, 421) or relays it to the leader, and
 * returns true: the caller stops. On the leader, returns false. */
bool http_not_leader(struct hconn *c);

/* The request waits for the node: the connection holds still until http_done(). */
void http_wait(struct hconn *c);
/* The pending request is answered: serve the next one. */
void http_done(struct hconn *c);

#endif /* CONCORD_SERVER_HTTP_IMPL_H */
