/* internal.h: the transport's private structures and the functions its files share. */
#ifndef CONCORD_NET_INTERNAL_H
#define CONCORD_NET_INTERNAL_H

#include "net/frame.h"
#include "net/net.h"
#include "net/tls.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Most frames handed to one uv_write: a burst larger than this takes several writes. */
#define NET_WRITE_BATCH_MAX 128u
/* Read buffers start (and shrink back) at this size; they grow to hold one whole frame. */
#define NET_READ_CHUNK_BYTES (64u << 10)
/* Pending connections the kernel keeps for the listener. */
#define NET_LISTEN_BACKLOG 128
/* Reconnect attempts beyond this no longer lengthen the backoff. */
#define NET_BACKOFF_ATTEMPTS_MAX 30u

_Static_assert(NET_WRITE_BATCH_MAX >= 1, "a write carries at least one frame");
_Static_assert(NET_READ_CHUNK_BYTES >= NET_HANDSHAKE_FRAME_BYTES, "a handshake fits a chunk");
_Static_assert(NET_FRAME_MIN_BYTES >= NET_HANDSHAKE_BYTES, "a handshake fits any frame");
_Static_assert(NET_NONCE_BYTES == NET_MAC_BYTES, "the nonce and proof frames have one size");
_Static_assert(NET_CHALLENGE_BYTES > NET_HANDSHAKE_BYTES, "a challenge is told by its length");

/* What an authentication proof is computed over: a label with the speaker's role, the
 * cluster id, the dialer's and the acceptor's ids, and both nonces. */
#define NET_AUTH_INPUT_BYTES (16u + 24u + 2u * NET_NONCE_BYTES)
/* The dialer's first write with a secret: HELLO, then its nonce in a frame of its own. */
#define NET_HELLO_AUTH_BYTES (NET_HANDSHAKE_FRAME_BYTES + NET_FRAME_HEADER_BYTES + NET_NONCE_BYTES)

/* One encoded frame, header included, waiting on a link. */
struct net_frame {
	struct net_frame *next;
	uint64_t due_ms; /* delayed frames: when to release it (loop time) */
	uint64_t seq;    /* delayed frames: send order, breaks ties between equal due times */
	uint32_t len;    /* bytes in data */
	uint8_t data[];
};

/* A FIFO (or, for delayed frames, a list sorted by due time) of frames. */
struct net_frame_list {
	struct net_frame *head;
	struct net_frame *tail;
	uint32_t n;
};

/* splitmix64: small, fast, and good enough for fault decisions and jitter. */
struct net_rng {
	uint64_t state;
};

/* Where a link's outbound connection stands. */
enum net_peer_state {
	NET_PEER_IDLE = 1,    /* not dialed yet (before net_start) */
	NET_PEER_BACKOFF,     /* waiting for the next dial */
	NET_PEER_CONNECTING,  /* TCP connect under way */
	NET_PEER_HANDSHAKING, /* hello sent, waiting for the reply */
	NET_PEER_READY,       /* frames flow */
	NET_PEER_CLOSING,     /* tcp handle closing; the close callback decides what next */
};

/* A link to one peer: the outbound connection (its tcp handle is reused connection
 * after connection), its queues, faults and stats. Freed once removed (or the transport
 * closed) and all three handles are closed. */
struct net_peer {
	struct net *n;
	raft_id id;
	char address[NET_ADDRESS_MAX_BYTES];
	struct sockaddr_storage addr;
	enum net_peer_state state;
	bool removed;        /* forgotten by net_peer_remove or net_close */
	bool tcp_open;       /* tcp is initialized and its close callback has not run */
	bool writing;        /* wreq is in flight */
	bool ever_connected; /* a later handshake counts as a reconnect */
	bool redial;         /* the address changed: dial again without backoff */
	bool refusal_logged; /* a refusal was logged since the last completed handshake */
	uint32_t attempts;   /* failed dials since the last completed handshake */
	uint32_t handles_open;

	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t hello_req;
	uint8_t hello[NET_HELLO_AUTH_BYTES]; /* HELLO, and the nonce frame with a secret */
	uint8_t reply[NET_FRAME_HEADER_BYTES + NET_CHALLENGE_BYTES]; /* the frame being read */
	uint32_t reply_len;
	bool proved;                    /* our proof was sent: ACCEPT is next */
	uint8_t nonce[NET_NONCE_BYTES]; /* ours, fresh per connection */
	uv_write_t proof_req;
	uint8_t proof[NET_FRAME_HEADER_BYTES + NET_MAC_BYTES];
	struct net_tls *tls; /* this connection's TLS session (cfg.tls_client); NULL: plain */
	uint8_t scratch[64]; /* absorbs reads after the reply (a protocol error) */
	uv_write_t write_req;
	struct net_frame *inflight[NET_WRITE_BATCH_MAX];
	uint32_t n_inflight;
	uv_timer_t timer;       /* backoff, then the connect-and-handshake deadline */
	uv_timer_t delay_timer; /* releases delayed frames */

	struct net_frame_list queue;   /* to write, in order */
	struct net_frame_list delayed; /* sorted by (due_ms, seq) */
	uint64_t delay_seq;
	uint64_t held_msgs; /* frames in queue, delayed and inflight */
	uint64_t held_bytes;

	struct net_fault fault;
	bool fault_active; /* any field of fault is set: draw from fault_rng per send */
	struct net_rng fault_rng;
	struct net_rng backoff_rng;
	struct net_stats stats;
};

/* An accepted connection: read only, apart from the handshake reply. */
struct net_inbound {
	struct net *n;
	struct net_inbound *prev; /* n->inbound list, while open */
	struct net_inbound *next;
	uv_tcp_t tcp;
	uv_timer_t timer; /* handshake deadline */
	uv_write_t reply_req;
	uint8_t reply[NET_HANDSHAKE_FRAME_BYTES];
	raft_id peer_id; /* the handshaken sender (with a secret: the claimed one until proved) */
	bool handshaken;
	uint8_t auth_stage;               /* with a secret: 0 HELLO, 1 nonce, 2 proof expected */
	struct net_handshake hello;       /* the dialer's HELLO, while it proves itself */
	uint8_t nonce_d[NET_NONCE_BYTES]; /* the dialer's */
	uint8_t nonce_a[NET_NONCE_BYTES]; /* ours */
	uv_write_t challenge_req;
	uint8_t challenge[NET_FRAME_HEADER_BYTES + NET_CHALLENGE_BYTES];
	struct net_tls *tls; /* cfg.tls_server's session; NULL: plain */
	bool refusing;       /* a REFUSE reply is being written; the connection closes after */
	bool closing;
	uint32_t handles_open;
	char remote[NET_ADDRESS_MAX_BYTES];
	uint8_t *buf; /* received bytes not yet parsed */
	size_t cap;
	size_t len;
};

struct net {
	uv_loop_t *loop;
	struct net_config cfg; /* peers and listen_address point into our own copies */
	char listen_address[NET_ADDRESS_MAX_BYTES];
	struct sockaddr_storage listen_addr;
	uv_tcp_t listener;
	bool listener_open;
	bool started;
	bool closing;
	int port;

	uv_idle_t idle;   /* keeps the loop from blocking while a flush is due */
	uv_check_t check; /* runs the flush */
	bool flush_scheduled;

	struct net_peer *peers[NET_PEERS_MAX];
	uint32_t n_peers;
	struct net_inbound *inbound;
	uint32_t n_inbound;

	uint32_t handles_open; /* every initialized handle whose close callback has not run */
	void (*close_cb)(void *ctx);
	void *close_ctx;

	struct net_stats total;
	char errmsg[NET_ERRMSG_SIZE];
	uint8_t secret[NET_SECRET_MAX_BYTES]; /* cfg.secret's copy; secret_len 0: none */
	uint32_t secret_len;
	uint64_t forged_logged_ms; /* uv_now() of the last "dropped a message" line */
};

/* Adds `amount` to a counter of the totals and, if `p` is not NULL, of the link. */
#define NET_COUNT(n, p, field, amount)                                                             \
	do {                                                                                       \
		(n)->total.field += (amount);                                                      \
		if ((p) != NULL)                                                                   \
			(p)->stats.field += (amount);                                              \
	} while (0)

/* net.c */
void net_logf(struct net *n, enum net_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int net_errmsg_set(struct net *n, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
struct net_peer *net_peer_find(const struct net *n, raft_id id);
void net_handle_opened(struct net *n);
void net_handle_closed(struct net *n);
void net_flush_schedule(struct net *n);

/* addr.c */
int net_addr_parse(const char *s, struct sockaddr_storage *out);
void net_addr_format(const struct sockaddr *sa, char *out, size_t cap);

/* frames and lists (net.c) */
struct net_frame *net_frame_new(uint32_t len);
void net_frame_list_push(struct net_frame_list *l, struct net_frame *f);
struct net_frame *net_frame_list_pop(struct net_frame_list *l);

/* fault.c */
void net_rng_seed(struct net_rng *r, uint64_t seed, uint64_t stream);
uint64_t net_rng_next(struct net_rng *r);
double net_rng_unit(struct net_rng *r);
struct net_fault_decision {
	bool drop;
	uint32_t copies;      /* 1, or 2 when duplicated */
	uint32_t delay_ms[2]; /* per copy */
};
void net_fault_decide(struct net_peer *p, enum raft_msg_type type, struct net_fault_decision *d);
void net_peer_delay(struct net_peer *p, struct net_frame *f, uint32_t delay_ms);
void net_delay_timer_cb(uv_timer_t *t);

/* peer.c */
struct net_peer *net_peer_create(struct net *n, raft_id id);
void net_peer_dial(struct net_peer *p);
void net_peer_readdress(struct net_peer *p);
void net_peer_destroy(struct net_peer *p);
void net_peer_flush(struct net_peer *p);
void net_peer_hold(struct net_peer *p, struct net_frame *f);
void net_peer_release(struct net_peer *p, struct net_frame *f);
bool net_peer_has_room(const struct net_peer *p, uint32_t len);

/* handshake.c */
void net_auth_mac(const struct net *n, char role, uint64_t dialer, uint64_t acceptor,
                  const uint8_t nd[NET_NONCE_BYTES], const uint8_t na[NET_NONCE_BYTES],
                  uint8_t out[NET_MAC_BYTES]);
bool net_auth_check(const struct net *n, char role, uint64_t dialer, uint64_t acceptor,
                    const uint8_t nd[NET_NONCE_BYTES], const uint8_t na[NET_NONCE_BYTES],
                    const uint8_t mac[NET_MAC_BYTES]);
void net_auth_nonce(uint8_t out[NET_NONCE_BYTES]);
/* The protocol version this transport speaks and expects. */
uint16_t net_hs_version(const struct net *n);
/* Whether a message on the link authenticated as `link` claims another sender (or is
 * not addressed to us): then it is counted as dropped_sender and logged, at most once a
 * second, and the caller drops it. */
bool net_sender_forged(struct net *n, struct net_peer *p, raft_id link, raft_id from, raft_id to);

/* Writes bufs on the link: through its TLS session if it has one, else as uv_write. */
int net_link_write(struct net_tls *tls, uv_stream_t *s, uv_write_t *req, const uv_buf_t *bufs,
                   unsigned n, uv_write_cb cb);
/* Whether the link's verified certificate names member `id` (its name, from
 * cfg.member_name, or its decimal id among the SAN's DNS entries); else a sentence in why. */
bool net_link_identity_ok(struct net *n, const struct net_tls *tls, raft_id id, char *why,
                          size_t len);

/* inbound.c */
int net_listen(struct net *n);
void net_inbound_close_all(struct net *n);

#endif /* CONCORD_NET_INTERNAL_H */
