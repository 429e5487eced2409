/* net.h: the peer transport: Raft messages over TCP on a libuv loop, with fault injection. */
#ifndef CONCORD_NET_H
#define CONCORD_NET_H

/*
 * One `struct net` per node. It listens for peers' connections, dials one outbound TCP
 * connection to every peer it knows, and carries struct raft_message values encoded with
 * the protobuf codec (src/proto/codec.h) in length-prefixed frames. docs/net.md describes
 * the wire format, the handshake, the backpressure policy and the fault semantics.
 *
 * Direction. A's messages to B travel on the connection A dialed to B; connections a node
 * accepts are only read from. A connection starts with a handshake carrying the cluster
 * id and both node ids; a node of another cluster, or one that dialed the wrong node, is
 * refused, counted and logged, and everyone else keeps being served. With a shared
 * secret the handshake adds a challenge-response over fresh nonces, and with TLS the
 * peer's certificate must name the member (docs/net.md, "Authentication", "TLS"); a
 * message whose sender is not the link's member is dropped and counted.
 *
 * Threads and callbacks. Every function must be called on the loop's thread. Callbacks
 * (on_message, log, the close callback) run on that thread from inside the loop and may
 * call any function here, including net_close() (no further on_message follows it).
 *
 * Sending never blocks and never grows without bound: net_send() encodes the message at
 * once into a frame, and queues it on the link; a link holds at most max_queue_msgs
 * frames and max_queue_bytes bytes (queued, delayed by a fault, or being written), and a
 * message that would exceed either is dropped and counted. Raft tolerates lost messages.
 * Queued frames survive a reconnect; frames being written when a connection breaks are
 * lost. Frames queued during one loop iteration leave in one write.
 *
 * Faults (net_fault_set) are per link and switchable at any time: drop with a
 * probability, delay requests, delay responses, duplicate, reorder (random extra delay)
 * and partition (block outbound, inbound, or both). Decisions come from a PRNG per link
 * seeded from net_config.seed and both node ids, drawing the same number of values for every
 * send while a fault is set, so the same seed and the same sequence of sends give the same
 * decisions.
 *
 * Ownership. Pointers passed in stay owned by the caller and are not retained after the
 * call unless a function says otherwise.
 */

#include "concord/raft.h"

struct ssl_ctx_st;

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* ----------------------------------------------------------------------------------
 * Errors
 */

#define NET_ERRORS(X)                                                                              \
	X(NET_OK, "ok")                                                                            \
	X(NET_EINVAL, "invalid argument")                                                          \
	X(NET_ENOMEM, "out of memory")                                                             \
	X(NET_EADDR, "malformed address (expected ipv4:port or [ipv6]:port)")                      \
	X(NET_ELISTEN, "cannot listen on the address")                                             \
	X(NET_ENOPEER, "no such peer")                                                             \
	X(NET_ETOOMANY, "too many peers")                                                          \
	X(NET_ETOOBIG, "message larger than the frame limit")                                      \
	X(NET_ECLOSING, "the transport is closing")

enum net_error {
#define NET_ERROR_ENUM_(name, text) name,
	NET_ERRORS(NET_ERROR_ENUM_)
#undef NET_ERROR_ENUM_
	    NET_ERROR_COUNT_
};

/* A static string describing `err` (any int). */
const char *net_strerror(int err);

/* Size of every error-message buffer of this module. */
#define NET_ERRMSG_SIZE 256

/* ----------------------------------------------------------------------------------
 * Limits and defaults (a zero in struct net_config selects the default)
 */

#define NET_PEERS_MAX                  64u        /* peers a transport knows at once */
#define NET_INBOUND_MAX                256u       /* accepted connections open at once */
#define NET_ADDRESS_MAX_BYTES          64u        /* longest "host:port" string, with its NUL */
#define NET_FRAME_MIN_BYTES            1024u      /* smallest max_frame_bytes accepted */
#define NET_FRAME_MAX_BYTES            (1u << 30) /* largest max_frame_bytes accepted */
#define NET_DEFAULT_MAX_FRAME_BYTES    (16u << 20)
#define NET_DEFAULT_MAX_QUEUE_MSGS     4096u
#define NET_DEFAULT_MAX_QUEUE_BYTES    (64u << 20)
#define NET_DEFAULT_BACKOFF_MIN_MS     50u
#define NET_DEFAULT_BACKOFF_MAX_MS     2000u
#define NET_DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define NET_DELAY_MAX_MS               600000u /* longest injected delay or jitter: 10 minutes */
#define NET_SECRET_MIN_BYTES           16u     /* shortest shared secret accepted */
#define NET_SECRET_MAX_BYTES           1024u   /* longest */

_Static_assert(NET_DEFAULT_BACKOFF_MIN_MS <= NET_DEFAULT_BACKOFF_MAX_MS, "backoff range");
_Static_assert(NET_FRAME_MIN_BYTES <= NET_DEFAULT_MAX_FRAME_BYTES, "frame limits");
_Static_assert(NET_DEFAULT_MAX_FRAME_BYTES <= NET_FRAME_MAX_BYTES, "frame limits");
_Static_assert(NET_FRAME_MAX_BYTES <= UINT32_MAX - 64, "a frame and its header fit 32 bits");

/* ----------------------------------------------------------------------------------
 * Configuration
 */

enum net_log_level {
	NET_LOG_DEBUG = 0,
	NET_LOG_INFO,
	NET_LOG_WARN,
	NET_LOG_ERROR,
};

const char *net_log_level_name(enum net_log_level level);

/* A peer and the address it listens on: numeric "a.b.c.d:port" or "[ipv6]:port". */
struct net_peer_addr {
	raft_id id;
	const char *address;
};

struct net_config {
	uint64_t cluster_id;               /* both ends of a connection must agree */
	raft_id self_id;                   /* not RAFT_NONE */
	const char *listen_address;        /* "a.b.c.d:port" or "[ipv6]:port"; port 0 picks
	                                      a free port (see net_port) */
	const struct net_peer_addr *peers; /* initial peers, copied; may be NULL */
	uint32_t n_peers;

	uint32_t max_frame_bytes;    /* largest encoded message sent or accepted */
	uint32_t max_queue_msgs;     /* per link: frames held before drops begin */
	uint64_t max_queue_bytes;    /* per link: bytes held before drops begin */
	uint32_t backoff_min_ms;     /* first reconnect delay */
	uint32_t backoff_max_ms;     /* reconnect delays double up to this */
	uint32_t connect_timeout_ms; /* dial plus handshake, both directions */
	uint64_t seed;               /* fault decisions and reconnect jitter */
	/* Optional shared secret (copied): with one, every connection proves in its handshake
	 * that both ends know it (HMAC-SHA256 over fresh nonces, the cluster id and both
	 * ids), and peers without it are refused. NULL or 0 bytes: the plain handshake. */
	const uint8_t *secret;
	uint32_t secret_len; /* 0, or NET_SECRET_MIN_BYTES .. NET_SECRET_MAX_BYTES */
	/* Optional TLS (net/tls.h contexts, owned by the caller and outliving the
	 * transport): both or neither. Every connection is then TLS with certificates
	 * checked both ways, and the peer's certificate must name the member it claims or
	 * was dialed as: member_name(ctx, id)'s result, or the decimal id, among its
	 * subject alternative names (DNS entries). */
	struct ssl_ctx_st *tls_server; /* accepted connections */
	struct ssl_ctx_st *tls_client; /* dialed connections */
	/* The name of member `id`, or NULL if unknown; valid until the next call. */
	const char *(*member_name)(void *ctx, raft_id id);

	/* A message arrived. `m` and everything it points to are valid during the call
	 * only: keep entries with raft_buf_ref() or the whole message with
	 * raft_message_copy(). m->to is this node and m->from the handshaken sender. */
	void (*on_message)(void *ctx, const struct raft_message *m);
	/* Optional: one line of text, without a newline, valid during the call only. The
	 * transport never prints. It must not call back into the transport. */
	void (*log)(void *ctx, enum net_log_level level, const char *msg);
	/* Optional, removed members (docs/net.md, "Removed members"). Asked once a dialer
	 * is authenticated: whether member `id` is known to have been removed from the
	 * cluster; if so, *index is set to the configuration that says so and the link is
	 * refused with NET_HS_EREMOVED carrying it. */
	bool (*peer_removed)(void *ctx, raft_id id, uint64_t *index);
	/* Optional: peer `by` refused our link because it knows this member was removed by
	 * its committed configuration at `index`. With a secret, only after `by` proved it
	 * knows it. The transport decides nothing more; the callback may close it. */
	void (*on_removed)(void *ctx, raft_id by, uint64_t index);
	void *ctx; /* passed to on_message, log, peer_removed and on_removed */
};

/* Zeroes `cfg` and fills every limit with its default. */
void net_config_default(struct net_config *cfg);

/* ----------------------------------------------------------------------------------
 * Lifecycle
 */

struct net;

/* Creates a transport on `loop` (which the caller owns and runs). `cfg` is copied,
 * including the peers and their addresses; nothing is listened on or dialed until
 * net_start(). Returns 0, or NET_EINVAL / NET_EADDR / NET_ETOOMANY / NET_ENOMEM with *out
 * untouched and, if `errmsg` is not NULL, a sentence saying which field is wrong in it
 * (NET_ERRMSG_SIZE bytes). */
int net_new(struct net **out, uv_loop_t *loop, const struct net_config *cfg, char *errmsg);

/* Binds and listens on the configured address, then dials every peer. Returns 0, or
 * NET_ELISTEN with net_errmsg() naming the address and the system's reason. A transport
 * whose start failed can still only be closed. */
int net_start(struct net *n);

/* Closes every connection, timer and the listener, frees every queued frame, and calls
 * cb(ctx) (cb may be NULL) from the loop once all handles are closed; `n` is freed right
 * after cb returns. No on_message call follows net_close(). Call it once. */
void net_close(struct net *n, void (*cb)(void *ctx), void *ctx);

/* The port the transport listens on (useful with port 0), or 0 before net_start(). */
int net_port(const struct net *n);

/* The detail of the last failed call on `n`: valid until the next call. */
const char *net_errmsg(const struct net *n);

/* ----------------------------------------------------------------------------------
 * Peers (membership changes update them at run time)
 */

/* Adds peer `id` at `address`, or moves it there (its connection is redialed; queued
 * frames are kept). The address is copied. Returns 0, NET_EINVAL (id is RAFT_NONE or this
 * node), NET_EADDR, NET_ETOOMANY or NET_ECLOSING. */
int net_peer_set(struct net *n, raft_id id, const char *address);

/* Forgets peer `id`: closes its outbound connection and drops its queued frames and
 * faults. Connections it dialed to us stay open until it closes them; their messages are
 * still delivered. Returns 0 or NET_ENOPEER. */
int net_peer_remove(struct net *n, raft_id id);

/* Closes every accepted connection from member `id` (a removed member's links, so that
 * it must dial again and be refused); returns how many were open. */
uint32_t net_inbound_drop(struct net *n, raft_id id);

/* Writes up to `cap` known peer ids into `ids`; returns how many peers there are. */
uint32_t net_peer_list(const struct net *n, raft_id *ids, uint32_t cap);

/* ----------------------------------------------------------------------------------
 * Sending
 */

/* Encodes `m` into a frame at once (the caller may free m and its ready batch right
 * after) and queues it for m->to, subject to the link's faults and queue bound. A message
 * dropped by a fault or a full queue still returns 0: it is counted in the link's stats.
 * Returns 0, NET_EINVAL (m->from is not this node, or m->to is this node or RAFT_NONE),
 * NET_ENOPEER (m->to unknown), NET_ETOOBIG (encoding exceeds max_frame_bytes; counted as
 * dropped_too_big) or NET_ECLOSING. */
int net_send(struct net *n, const struct raft_message *m);

/* True for the replies (the *_RESP types), which the response-delay fault delays;
 * everything else is a request. */
bool net_msg_is_response(enum raft_msg_type type);

/* ----------------------------------------------------------------------------------
 * Fault injection, per link, switchable at run time. Zero fields mean "no fault".
 */

struct net_fault {
	double drop_probability;           /* each outbound message is dropped */
	uint32_t request_delay_ms;         /* extra delay for requests ... */
	double request_delay_probability;  /* ... applied with this probability */
	uint32_t response_delay_ms;        /* extra delay for responses ... */
	double response_delay_probability; /* ... applied with this probability */
	double duplicate_probability;      /* the message is sent twice */
	uint32_t reorder_jitter_ms;        /* every message is delayed by a uniform random
	                                      0..jitter ms, so messages overtake each other */
	bool block_outbound;               /* partition: nothing we send reaches the peer */
	bool block_inbound;                /* partition: we discard what the peer sends */
};

/* Sets the faults of the link to `peer` (replacing earlier ones); `f` is copied.
 * Probabilities must lie in [0, 1] and delays be at most NET_DELAY_MAX_MS. Frames already
 * delayed keep their release time; at release a blocked link drops them. Returns 0,
 * NET_ENOPEER or NET_EINVAL. */
int net_fault_set(struct net *n, raft_id peer, const struct net_fault *f);

/* Copies the faults of the link to `peer` into *f. Returns 0 or NET_ENOPEER. */
int net_fault_get(const struct net *n, raft_id peer, struct net_fault *f);

/* Clears the faults of the link to `peer`. Returns 0 or NET_ENOPEER. */
int net_fault_clear(struct net *n, raft_id peer);

/* Clears the faults of every link. */
void net_fault_clear_all(struct net *n);

/* ----------------------------------------------------------------------------------
 * Statistics (for /metrics). Counters only grow; gauges say how things are now.
 */

struct net_stats {
	/* counters */
	uint64_t sent_msgs;       /* frames fully written to a socket */
	uint64_t sent_bytes;      /* their bytes, headers included */
	uint64_t writes;          /* uv_write calls carrying them (a burst is one write) */
	uint64_t received_msgs;   /* messages delivered to on_message */
	uint64_t received_bytes;  /* their frames' bytes, headers included */
	uint64_t dropped_queue;   /* refused by a full send queue */
	uint64_t dropped_fault;   /* dropped by fault injection (either side) */
	uint64_t dropped_conn;    /* lost in a write when a connection broke */
	uint64_t dropped_too_big; /* refused by net_send for exceeding the frame limit */
	uint64_t delayed;         /* held back by a delay or reorder fault */
	uint64_t duplicated;      /* extra copies made by the duplicate fault */
	uint64_t dials;           /* outbound connection attempts */
	uint64_t connects;        /* outbound handshakes completed */
	uint64_t reconnects;      /* connects after the first, per link */
	uint64_t accepted;        /* inbound handshakes completed */
	uint64_t malformed;       /* connections closed for a bad frame or handshake */
	uint64_t refused;         /* handshakes refused, by us or by the peer */
	uint64_t auth_failed;     /* handshakes refused for a missing or wrong proof */
	uint64_t dropped_sender;  /* messages dropped: their sender is not the link's member */
	/* gauges */
	uint64_t queued_msgs; /* frames held: queued, delayed or being written */
	uint64_t queued_bytes;
	uint32_t connected; /* outbound links with a completed handshake */
	uint32_t inbound;   /* inbound connections open */
};

/* Per link when `peer` is a peer id, or totals over every link, past and present (and
 * over connections from unknown or refused nodes) when `peer` is RAFT_NONE. Returns 0 or
 * NET_ENOPEER. */
int net_stats_get(const struct net *n, raft_id peer, struct net_stats *out);

#endif /* CONCORD_NET_H */
