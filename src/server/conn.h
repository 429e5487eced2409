/* conn.h: the connection layer both frontends use: a listener, its libuv TCP streams, ordered
 * output with soft/hard limits, reference-counted close. */
#ifndef CONCORD_SERVER_CONN_H
#define CONCORD_SERVER_CONN_H

/*
 * A frontend embeds a struct conn_listener in its server and a struct conn in each of
 * its connections, and gives the layer a table of callbacks (struct conn_ops). The
 * layer accepts, counts and refuses connections (server.max_clients), reads into the
 * space the protocol's parser offers, writes the output queue `out` in order (one write
 * in flight; bytes appended while it runs go out next; conn_flush_soon() defers the write
 * to the loop's check phase so that one iteration's replies leave together), and frees a connection
 * when its last reference goes: the handle holds one until it is closed, and whoever owes a
 * connection a callback (the node, a relay) holds one more.
 *
 * Output limits: `out` refuses growth that would take the output queued and in flight
 * past server.output_hard_bytes (wire_buf error), and the connection is then closed,
 * unless the frontend took the failed reply back (conn_reply_overflowed); and
 * conn_set_reading() never reads while the queued output is at
 * server.output_soft_bytes or more.
 *
 * Admission: past server.max_clients connections a frontend's reject() refuses the
 * newcomer, but up to server.relay_reserve more are held until their first bytes say
 * whether they come from a peer's relay (ops->relay_check): those are served, the rest
 * rejected. A rejected connection lingers (conn_linger) so that its refusal arrives.
 *
 * Timeouts (a timer per listener): a connection with nothing buffered, owed or queued
 * for server.idle_timeout_ms is closed; so is one holding an unfinished request that
 * made no progress (no command consumed) for server.read_timeout_ms while reading, and
 * a lingering one after that long or 5 s, whichever is shorter; and one whose write in
 * flight made no progress (the client reads nothing) for server.write_timeout_ms.
 * Everything runs on the loop thread.
 *
 * TLS: with server.client_tls set, every connection is TLS, and conn_tls.c sits between
 * the socket and the callbacks above, which see plaintext only.
 */

#include "codec/wire.h"
#include "server/server.h"

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct conn_listener;
struct net_tls;

struct conn_ops {
	/* A zeroed connection of the protocol's own type that embeds a struct conn; the
	 * layer initializes that member. */
	struct conn *(*create)(struct conn_listener *l);
	/* An accepted connection over the client limit: queue a refusal in c->out and see
	 * that idle() closes the connection. */
	void (*reject)(struct conn *c);
	/* Where the next bytes read go (the parser's free space); nonzero: no room. */
	int (*space)(struct conn *c, char **buf, size_t *len);
	/* n bytes arrived in that space. */
	void (*commit)(struct conn *c, size_t n);
	/* Serve what the input holds, as far as the output allows: when a connection is
	 * admitted, after input arrived (or ended: c->input_closed; or found no room),
	 * and after each write. */
	void (*process)(struct conn *c);
	/* No output is queued or in flight: close, linger or wait, as the protocol says. */
	void (*idle)(struct conn *c);
	/* The connection is being closed (once, whoever closes it): drop what it owes. */
	void (*closing)(struct conn *c);
	/* The last reference went: free the protocol's part and the memory of `c`. */
	void (*free)(struct conn *c);
	/* Bytes received and not consumed yet (an unfinished request, or requests waiting
	 * their turn). */
	size_t (*buffered)(struct conn *c);
	/* Whether replies are owed (commands in flight): the connection is not idle. */
	bool (*owed)(struct conn *c);
	/* Whether the input received so far begins as a relay from a peer does: 1 yes,
	 * 0 not known yet, -1 no. */
	int (*relay_check)(struct conn *c);
};

struct conn {
	struct conn *prev, *next; /* the listener's open connections */
	struct conn_listener *l;
	uv_tcp_t tcp;
	uv_write_t write_req;
	uv_shutdown_t shutdown_req;
	struct wire_buf out;     /* queued output, in order */
	struct wire_buf writing; /* the write in flight */
	bool write_busy;
	bool closing;
	bool reading;
	bool input_closed;        /* the client's EOF (or a read error): nothing more comes */
	bool lingering;           /* write side shut: reading and dropping input until EOF */
	bool provisional;         /* held in the relay reserve until relay_check() decides */
	size_t discarded;         /* bytes dropped while lingering */
	uint64_t last_active_ms;  /* uv_now() of the last read or write, or the accept */
	uint64_t accepted_ms;     /* uv_now() of the accept */
	uint64_t input_since_ms;  /* since when the unfinished input made no progress; 0: none */
	uint64_t output_since_ms; /* since when the write in flight made no progress */
	size_t output_left;       /* its bytes not yet in the kernel, when last looked at */
	uint64_t received;        /* bytes committed, in all */
	uint64_t consumed;        /* received - buffered() when last looked at */
	uint32_t refs;
	uint64_t id;            /* 1, 2, ... per listener */
	struct net_tls *tls;    /* NULL: plain TCP (conn_tls.c) */
	uint64_t tls_since_ms;  /* the accept, for the handshake's deadline */
	bool tls_pump;          /* the session holds input for a frontend that reads again */
	struct conn *soon_next; /* the listener's conn_flush_soon() list */
	bool flush_soon;        /* on that list (holding a reference) */
	bool resume_soon;       /* and then conn_process(): a write finished at once */
};

struct conn_listener {
	struct server *sv;
	const struct conn_ops *ops;
	struct server_stats *st; /* the frontend's counters in struct server */
	const char *proto;       /* "resp", "http": for logs */
	uv_tcp_t tcp;
	bool listening;
	bool closing;
	int port;
	struct conn *conns;
	uint32_t n_conns; /* open connections */
	uint32_t n_alive; /* connections not yet freed */
	uint64_t next_id;
	uv_timer_t timer; /* the timeouts' sweep */
	bool timer_open;
	uv_idle_t tls_idle; /* delivers input held in TLS sessions (conn_tls.c) */
	bool tls_idle_open;
	/* conn_flush_soon(): the connections to flush in the loop's check phase; the idle
	 * handle keeps the loop from blocking in between. */
	struct conn *soon;
	uv_check_t soon_check;
	uv_idle_t soon_idle;
	uint8_t soon_open;           /* those two handles not closed yet */
	void (*close_cb)(void *arg); /* conn_listener_close()'s */
	void *close_arg;
};

/* Allocates `size` zeroed bytes, the frontend's server, which begins with its struct
 * conn_listener, and listens on `address` for the frontend named by `flag`
 * ("--listen-client"). Returns 0 with *out set, or a uv error with errmsg filled (the
 * memory then goes by itself). */
int conn_listen(struct conn_listener **out, size_t size, struct server *sv,
                const struct conn_ops *ops, struct server_stats *st, const char *proto,
                const char *flag, const char *address, char *errmsg, size_t len);

/* Stops accepting and closes every connection; once all are freed, frees the server's
 * memory (conn_listen's) and calls cb(arg), if cb is not NULL. */
void conn_listener_close(struct conn_listener *l, void (*cb)(void *arg), void *arg);

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Bytes queued and in flight. */
size_t conn_output_bytes(const struct conn *c);
/* Whether the output has reached the soft limit (stop taking input). */
bool conn_output_full(const struct conn *c);

/* A reply about to be written straight into c->out: a mark for
 * conn_reply_overflowed(). */
size_t conn_reply_begin(const struct conn *c);
/* Whether that reply ran into the output limit; if so it is taken back (c->out as it
 * was at `mark`, its error cleared) and counted, and the caller answers an error. */
bool conn_reply_overflowed(struct conn *c, size_t mark);
/* A reply that was built elsewhere and refused for the limit is counted. */
void conn_count_overflow(struct conn *c);

/* Starts the next write if none is in flight; closes the connection if `out` went past
 * the hard limit; calls ops->idle when nothing is left to write. */
void conn_flush(struct conn *c);
/* conn_flush() later in this loop iteration (its check phase), so that the replies
 * finished meanwhile leave in the same write: one write per connection per iteration. */
void conn_flush_soon(struct conn *c);

/* Reads while `want` holds and the output is under the soft limit; else stops. */
void conn_set_reading(struct conn *c, bool want);

/* Shuts the write side once the output is gone and reads (dropping it, at most 1 MiB)
 * until the client's EOF, then closes: closing with unread input would reset the
 * connection and could destroy the last response in flight. */
void conn_linger(struct conn *c);

/* Closes the handle (once); the memory goes with the last reference. */
void conn_close(struct conn *c);

#endif /* CONCORD_SERVER_CONN_H */
