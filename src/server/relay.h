/* relay.h: a client connection to the leader's client or HTTP port that relays requests and reads
 * back their replies. */
#ifndef CONCORD_SERVER_RELAY_H
#define CONCORD_SERVER_RELAY_H

/*
 * A relay connects to `address`, sends what relay_send() queues (in order, once
 * connected) and cuts what comes back into replies with the protocol's complete()
 * test, handing each to reply(). While replies are owed, a timer runs; it restarts at
 * every reply. A failure (cannot connect, the connection broke, no reply in time, a
 * malformed or oversized reply) is reported once through fail(); the relay is then
 * closing. After fail() or relay_close() no callback comes but closed(), when the
 * relay's handles are closed and its memory is gone. Everything runs on the loop thread.
 */

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum relay_error {
	RELAY_ECONNECT = 1, /* the leader could not be reached: nothing was sent */
	RELAY_EBROKEN,      /* the connection broke, or the leader closed it */
	RELAY_ETIMEOUT,     /* no reply in time */
	RELAY_EMALFORMED,   /* a reply the protocol cannot read, or one nobody asked for */
	RELAY_ETOOBIG,      /* a reply, or queued output, over the byte limit */
	RELAY_EIDLE,        /* nothing was owed for the idle time (relay_set_idle) */
};

struct relay_ops {
	/* The length of the complete reply at the start of `data` (len bytes), 0 if it is
	 * not complete yet, -1 if it is malformed. `eof`: the leader closed its side. */
	ssize_t (*complete)(const char *data, size_t len, bool eof);
	void (*reply)(void *arg, const char *data, size_t len);
	void (*fail)(void *arg, enum relay_error e, const char *why);
	void (*closed)(void *arg);
};

struct relay;
struct ssl_ctx_st;

/* Starts connecting to `address` ("host:port", numeric host). `tls`: a client TLS
 * context (net/tls.h) when the leader's port speaks TLS; its certificate must then name
 * the address's host (its IP among the SAN), and the relay counts as connected only once
 * the handshake is done. NULL: plain TCP. `timeout_ms` bounds the wait for each reply,
 * `max_bytes` the output queued and the reply buffered. Returns NULL (and calls nothing,
 * ever) if the connection cannot even be started. */
struct relay *relay_open(uv_loop_t *loop, const char *address, struct ssl_ctx_st *tls,
                         uint64_t timeout_ms, size_t max_bytes, const struct relay_ops *ops,
                         void *arg);

/* Queues `len` bytes that `replies` replies will answer. */
void relay_send(struct relay *r, const void *data, size_t len, uint32_t replies);

/* Whether the connection was established (so something may have been sent and
 * applied), and not refused since (relay_refused). */
bool relay_connected(const struct relay *r);

/* The leader answered the first request with a refusal (too many clients): it read
 * nothing further, so nothing sent was applied; relay_connected() says false. */
void relay_refused(struct relay *r);

/* Closes the relay, through fail(RELAY_EIDLE), once no reply was owed for `ms` (0:
 * never): before the leader's own idle timeout cuts it with a request on the way. */
void relay_set_idle(struct relay *r, uint64_t ms);

/* Closes the relay (once; without fail()); closed() follows. */
void relay_close(struct relay *r);

#endif /* CONCORD_SERVER_RELAY_H */
