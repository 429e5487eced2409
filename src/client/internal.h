/* internal.h: the client library's private parts: endpoints, a RESP connection, the handle. */
#ifndef CONCORD_CLIENT_INTERNAL_H
#define CONCORD_CLIENT_INTERNAL_H

#include "concord/client.h"
#include "codec/resp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ----------------------------------------------------------------------------------
 * Endpoints (endpoint.c)
 */

#define CLIENT_HOST_BYTES_MAX 255u
#define CLIENT_PORT_BYTES_MAX 5u

struct client_endpoint {
	char host[CLIENT_HOST_BYTES_MAX + 1]; /* without the brackets of "[v6]" */
	char port[CLIENT_PORT_BYTES_MAX + 1]; /* decimal, 1..65535 */
};

/* Parses "host:port" or "[v6]:port" (len bytes at s, no NUL needed) into *ep. Returns 0
 * or CONCORD_EINVAL with a reason in errmsg (errmsg_size bytes). */
int client_endpoint_parse(const char *s, size_t len, struct client_endpoint *ep, char *errmsg,
                          size_t errmsg_size);
/* "host:port" (brackets around an IPv6 host) into out. */
void client_endpoint_format(const struct client_endpoint *ep, char *out, size_t out_size);
bool client_endpoint_equal(const struct client_endpoint *a, const struct client_endpoint *b);

/* ----------------------------------------------------------------------------------
 * One blocking connection (conn.c): poll-based connect, send and receive, each bounded
 * by an absolute deadline on the monotonic clock.
 */

/* Milliseconds on the monotonic clock. */
int64_t client_now_ms(void);

/* Sleeps ms milliseconds (restarting after signals). */
void client_sleep_ms(int64_t ms);

enum client_conn_result {
	CONN_OK = 0,
	CONN_ECONNECT, /* no connection: nothing was sent */
	CONN_ESEND,    /* the request was not sent whole: the server cannot have run it */
	CONN_ERECV,    /* sent, but no reply (timeout, reset, close): outcome unknown */
	CONN_EPROTO,   /* sent, and the reply is malformed or past a limit */
	CONN_EIDLE,    /* client_conn_next: nothing whole arrived in time; still open */
};

struct ssl_ctx_st;
struct ssl_st;

struct client_conn {
	int fd;                     /* -1 when closed */
	struct ssl_ctx_st *tls_ctx; /* the handle's, or NULL: plain TCP */
	struct ssl_st *ssl;         /* this connection's TLS session */
	struct client_endpoint ep;
	struct resp_reader rd;
	bool rd_live; /* rd is initialized */
};

void client_conn_init(struct client_conn *cn);
/* Connects to ep before the deadline (any address getaddrinfo gives, in turn). Closes a
 * previous connection first. Returns CONN_OK or CONN_ECONNECT with a message. */
int client_conn_open(struct client_conn *cn, const struct client_endpoint *ep,
                     const struct resp_reader_limits *lim, int64_t deadline_ms, char *errmsg,
                     size_t errmsg_size);
bool client_conn_is_open(const struct client_conn *cn);
/* Sends req[0..len) and reads one reply before the deadline. On CONN_OK *out is the
 * reply, owned by the connection and valid until its next call. Any other result
 * closes the connection. */
int client_conn_roundtrip(struct client_conn *cn, const void *req, size_t len, int64_t deadline_ms,
                          const struct resp_value **out, char *errmsg, size_t errmsg_size);
/* Reads the next reply without sending anything (the push messages a subscription
 * brings) before the deadline. CONN_OK with *out as for a round trip; CONN_EIDLE when the
 * deadline passed first, the connection kept; any other result closes it. */
int client_conn_next(struct client_conn *cn, int64_t deadline_ms, const struct resp_value **out,
                     char *errmsg, size_t errmsg_size);
void client_conn_close(struct client_conn *cn);
/* Raw bytes, for what is not RESP (fetch.c): sends all of p before the deadline
 * (CONN_OK or CONN_ESEND, the connection then closed); receives up to cap bytes, waiting
 * until the deadline: >0 bytes, 0 when the server closed, -1 on a failure or timeout (the
 * connection then closed, the reason in errmsg). */
int client_conn_send(struct client_conn *cn, const void *p, size_t len, int64_t deadline_ms,
                     char *errmsg, size_t errmsg_size);
ssize_t client_conn_recv(struct client_conn *cn, void *buf, size_t cap, int64_t deadline_ms,
                         char *errmsg, size_t errmsg_size);

/* Waits until fd is ready for `events` or the deadline passes. Returns 1 ready, 0 timed
 * out, -1 on a poll error (errno set). */
int client_conn_wait(int fd, short events, int64_t deadline_ms);

/* TLS (tls.c). A client context from the options, or NULL with *rc CONCORD_OK when TLS
 * is off (or an error code and errmsg). */
struct ssl_ctx_st *client_tls_ctx_new(const struct concord_client_opts *o, int *rc, char *errmsg,
                                      size_t errmsg_size);
void client_tls_ctx_free(struct ssl_ctx_st *ctx);
/* The handshake on cn->fd, checking that the certificate names cn->ep.host, before the
 * deadline. Returns CONN_OK or CONN_ECONNECT with a message. */
int client_tls_connect(struct client_conn *cn, int64_t deadline_ms, char *errmsg,
                       size_t errmsg_size);
/* Like send(2) and recv(2) on a non-blocking socket (EAGAIN: wait), through the session. */
ssize_t client_tls_send(struct client_conn *cn, const void *p, size_t len);
ssize_t client_tls_recv(struct client_conn *cn, void *p, size_t len);
void client_tls_close(struct client_conn *cn);

/* ----------------------------------------------------------------------------------
 * The handle (client.c, call.c)
 */

struct concord_client {
	struct concord_client_opts opts; /* defaults resolved: no zero fields */
	struct resp_reader_limits rd_lim;
	struct client_endpoint eps[CONCORD_CLIENT_ENDPOINTS_MAX];
	uint32_t n_eps;    /* the listed ones, then addresses learnt from MOVED */
	uint32_t n_listed; /* how many came from the user's list */
	uint32_t cur;      /* the endpoint the connection is to, or to try next */
	struct client_conn conn;
	struct wire_buf req; /* the request being sent */

	/* The exactly-once session (docs/resp.md): opened by the first write. */
	bool session_open;
	uint64_t session_id;
	uint64_t session_seq; /* the last sequence number given to a write */

	char user[65];     /* AUTH on every new connection, if password is set */
	char *password;    /* NULL: none */
	bool auth_refused; /* the last connection's AUTH was refused */
	uint64_t rng;      /* back-off jitter */
	char errmsg[CONCORD_CLIENT_ERRMSG_SIZE];
	char endpoint[CLIENT_HOST_BYTES_MAX + CLIENT_PORT_BYTES_MAX + 4];
};

/* Opens c->conn to `ep` and authenticates it (opts.password). CONN_OK, or CONN_ECONNECT
 * with a message (c->auth_refused says whether the server refused the credentials). */
int client_open(struct concord_client *c, const struct client_endpoint *ep, int64_t deadline_ms,
                char *msg, size_t msg_size);

/* How a command may be retried (call.c). */
enum client_kind {
	CLIENT_READ,  /* retried freely */
	CLIENT_WRITE, /* sent through the session: exactly-once */
	CLIENT_OTHER, /* retried only while it cannot have reached a node */
};

/* A command to send: argc arguments, each data/len. */
struct client_args {
	const char *const *argv;
	const size_t *lens;
	size_t argc;
};

/* Runs one command against the cluster with discovery, retries and (for CLIENT_WRITE,
 * unless sessions are off) the session. On 0, *out is the reply (owned by the
 * connection, valid until the next call on the handle); it may be an error reply that
 * is none of the ones the engine handles itself (MOVED, CLUSTERDOWN, UNKNOWN, SESSION,
 * TRYAGAIN). Sets c->errmsg on failure. */
int client_call(struct concord_client *c, enum client_kind kind, const struct client_args *a,
                const struct resp_value **out);

/* The same, but sent to one node only (no redirection), with retries of connects and
 * timeouts for CLIENT_READ. */
int client_call_node(struct concord_client *c, const struct client_endpoint *ep,
                     enum client_kind kind, const struct client_args *a,
                     const struct resp_value **out);

/* snprintf that may truncate (long host names make long messages), said out loud. */
void client_say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Formats into c->errmsg; returns err. */
int client_fail(struct concord_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs argv[0..n) (lens[i] bytes each) of the given kind through client_call. */
int client_run(struct concord_client *c, enum client_kind kind, const char *const *argv,
               const size_t *lens, size_t n, const struct resp_value **out);

/* Fails a call whose reply has the wrong shape: CONCORD_ESERVER with the server's text
 * for an error reply, CONCORD_EPROTO otherwise. */
int client_unexpected(struct concord_client *c, const char *cmd, const struct resp_value *v);

/* A new buffer holding len bytes of s and a NUL (NULL when out of memory). */
char *client_dup(const char *s, size_t len);

/* The class of an error reply, from its first word. */
enum client_reply_error {
	CLIENT_RERR_OTHER = 0,
	CLIENT_RERR_MOVED,
	CLIENT_RERR_CLUSTERDOWN, /* also TRYAGAIN, LOADING */
	CLIENT_RERR_UNKNOWN,
	CLIENT_RERR_SESSION,
};
enum client_reply_error client_reply_error_class(const struct resp_value *v);

#endif /* CONCORD_CLIENT_INTERNAL_H */
