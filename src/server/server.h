/* server.h: what the RESP and HTTP frontends of one concord process share: settings, the node, the
 * cluster-status JSON. */
#ifndef CONCORD_SERVER_SERVER_H
#define CONCORD_SERVER_SERVER_H

/*
 * A concord process runs one node (node.h) and two frontends on the same libuv loop:
 * RESP on --listen-client (resp_server.h) and HTTP/JSON on --listen-http
 * (http_server.h). Both read the settings below, which main() fills from the command
 * line and which must outlive both servers. Everything runs on the loop thread.
 */

#include "kv/kv.h"
#include "server/node.h"
#include "server/auth.h"
#include "codec/http.h"
#include "codec/resp.h"
#include "codec/wire.h"

#include <netinet/in.h>
#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct resp_server;
struct http_server;
struct watch_hub;
struct peer_status;
struct ssl_ctx_st;

/* The counters of one frontend, which it keeps in struct server for /metrics and INFO. */
struct server_stats {
	uint64_t connections;  /* accepted, total */
	uint64_t rejected;     /* closed at once: too many clients */
	uint64_t requests;     /* commands (RESP) or requests (HTTP) processed */
	uint64_t errors;       /* error replies (RESP: protocol errors; HTTP: 4xx and 5xx) */
	uint64_t forwarded;    /* relayed to the leader */
	uint64_t redirected;   /* RESP -MOVED replies */
	uint64_t timed_out;    /* closed idle, or with an unfinished request too old */
	uint64_t overflows;    /* replies refused for the output limit, or connections
	                          closed for it */
	uint64_t tls_failures; /* TLS handshakes that failed (no or a bad certificate...) */
	uint32_t clients;      /* connections open now */
};

/* Request latency histograms of one frontend, by command: slot i is the i-th command
 * of the frontend's table (name[i] its name, as in the table; NULL while unused), the
 * last slot every other request. A histogram with bucket_count 0 saw nothing yet. */
#define SERVER_LATENCY_SLOTS 128u
struct server_latency {
	struct histogram by_command[SERVER_LATENCY_SLOTS];
	const char *name[SERVER_LATENCY_SLOTS];
};

/* What a follower does with a request that needs the leader. */
enum server_follower_mode {
	SERVER_FOLLOWER_FORWARD = 0, /* relay it to the leader and relay the reply back */
	SERVER_FOLLOWER_REDIRECT,    /* answer with the leader's address (RESP: -MOVED,
	                                HTTP: 421 with a Location) */
};

/* The injected faults of one link, as last set through the admin APIs (the transport
 * keeps its own copy; this one answers GET /v1/admin/faults). */
struct server_fault {
	raft_id peer;
	struct net_fault f;
};

/* The shared state of a process's frontends. */
struct server {
	uv_loop_t *loop;
	struct node *node;
	char cluster_id[128]; /* as given on the command line, for display */
	char name[64];        /* this member's name, for logs */
	char version[32];
	enum server_follower_mode resp_follower;
	enum server_follower_mode http_follower;
	bool stale_reads;               /* every read is served locally: NOT linearizable */
	uint32_t max_clients;           /* connections per frontend; more are closed at once */
	uint32_t relay_reserve;         /* more connections accepted past max_clients, each
	                                   only if it announces itself as a relay from a peer */
	uint32_t pending_max;           /* commands awaiting their reply, per connection */
	size_t output_soft_bytes;       /* a connection with more queued output stops reading */
	size_t output_hard_bytes;       /* ceiling of one connection's queued output (queued
	                                   and in flight together) and of any one reply */
	uint64_t idle_timeout_ms;       /* a client connection with nothing buffered, owed or
	                                   queued for this long is closed; 0: never */
	uint64_t read_timeout_ms;       /* one whose unfinished request made no progress for
	                                   this long is closed; 0: never */
	uint64_t write_timeout_ms;      /* one whose output made no progress (the client does
	                                   not read) for this long is closed; 0: never */
	struct kv_limits limits;        /* the node's key-value limits, checked before proposing */
	struct resp_limits resp_limits; /* the RESP parser's, from server_derive_limits() */
	struct http_limits http_limits; /* the HTTP parser's, likewise */
	uint64_t start_ms;              /* uv_now() when the process started, for uptime */
	uint32_t request_timeout_ms; /* the node's; a relay to the leader gives up after twice it */
	int log_level;               /* 0 debug, 1 info, 2 warn, 3 error */
	struct server_fault faults[NODE_MAX_MEMBERS * 2];
	uint32_t n_faults;
	struct ssl_ctx_st *client_tls; /* both frontends speak TLS with it (--cert-file ...);
	                                  NULL: plain TCP */
	struct ssl_ctx_st *relay_tls;  /* a client context for relays to the leader's client
	                                  ports when they speak TLS; NULL: plain */
	struct resp_server *resp;      /* the frontends, as started (NULL: not running) */
	struct http_server *http;
	struct peer_status *peer_status;    /* every member's live state (GET /v1/live), or NULL */
	struct server_stats resp_stats;     /* each frontend's counters, kept here so that */
	struct server_stats http_stats;     /* /metrics reads them without the other's header */
	struct server_latency resp_latency; /* dispatch to reply, per command */
	struct server_latency http_latency; /* request parsed to response queued */
	/* Watch and pub/sub (watch.h): limits, counters, and the hub while in use. */
	uint32_t watch_max;        /* watchers on this node, both frontends together */
	uint32_t watch_conn_max;   /* watchers (RESP: also subscriptions) per connection */
	size_t watch_buffer_bytes; /* a watcher whose connection has more output queued
	                              when an event comes is cancelled as slow */
	struct watch_stats {
		uint64_t created;          /* watchers started, in all */
		uint64_t refused;          /* refused for watch_max or watch_conn_max */
		uint64_t cancel_slow;      /* cancelled: output over watch_buffer_bytes */
		uint64_t cancel_compacted; /* cancelled or refused: start revision compacted */
		uint64_t events;           /* events delivered to watchers */
		uint64_t published;        /* pub/sub messages delivered to subscribers */
		uint32_t watchers;         /* open now */
		uint32_t subscriptions;    /* RESP channel and pattern subscriptions open now */
	} watch_stats;
	struct watch_hub *watch;
	struct server_auth auth; /* users, protected mode, browser checks (auth.h) */
};

/* Counts one request of slot `slot` (its name `name`; slot >= SERVER_LATENCY_SLOTS - 1:
 * the last, "other", name ignored) that began at uv_hrtime() `start_ns` (http_metrics.c). */
void server_latency_observe(struct server_latency *l, size_t slot, const char *name,
                            uint64_t start_ns);

/* Fills the defaults (loop and node stay NULL): forward on both protocols, linearizable
 * reads, 4096 clients plus 64 relays, 1024 pending commands, 2 MiB / 8 MiB of output
 * per connection, a 300 s idle and a 30 s read timeout, and the parser limits derived
 * from the default key-value limits. */
void server_init(struct server *sv);

/* Derives the parsers' limits from sv->limits (call it again after changing those):
 * RESP buffers at most key + value + 1 MiB of one unfinished command (the largest legal
 * SET fits, with room for its framing), HTTP a 32 KiB head and a body of 3 values + 6
 * keys + 64 KiB (a JSON PUT with its value and if_value in base64); the output hard limit is raised
 * to 6 values + 1 MiB if below (a value JSON-escaped may grow six-fold), the soft one kept below
 * the hard one. */
void server_derive_limits(struct server *sv);

/* The JSON of GET /v1/cluster and CONCORD.STATUS (docs/http.md) into `b`. */
int server_write_cluster_json(struct wire_buf *b, struct server *sv);

/* "leader", "follower", "candidate" (pre-candidates included) for this node, or
 * "learner" when the configuration lists it as one. */
const char *server_role_name(struct server *sv);

/* Sets the faults of the link to `peer` (RAFT_NONE: every member's) and records them.
 * Returns a NODE_ error. Clearing forgets them. */
int server_fault_set(struct server *sv, raft_id peer, const struct net_fault *f);
void server_fault_clear(struct server *sv, raft_id peer);

/* Parses "host:port" with a numeric host ("127.0.0.1:7001", "[::1]:7001") into *out.
 * Returns 0 or a uv error code. */
int server_addr_parse(const char *address, struct sockaddr_storage *out);
/* Initializes `listener` on the server's loop, binds it to `sa` and listens with `cb`;
 * *port gets the bound port. Returns 0 or a libuv error, with errmsg naming `flag` and
 * `address`. */
int server_listen(struct server *sv, uv_tcp_t *listener, const struct sockaddr_storage *sa,
                  uv_connection_cb cb, const char *flag, const char *address, int *port,
                  char *errmsg, size_t len);

/* Logs a line on stderr, like the node does, when `level` >= sv->log_level. */
void server_logf(const struct server *sv, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every member id of the configuration in force, once, except this node's; at most
 * `cap` of them into `out`. Returns the count. */
uint32_t server_conf_peers(struct server *sv, raft_id *out, uint32_t cap);

#endif /* CONCORD_SERVER_SERVER_H */
