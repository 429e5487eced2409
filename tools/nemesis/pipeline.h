/* pipeline.h: one plain RESP connection for the nemesis's pipelining clients: connect, send a
 * batch, read replies by a deadline. */
#ifndef CONCORD_NEMESIS_PIPELINE_H
#define CONCORD_NEMESIS_PIPELINE_H

#include "codec/resp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A pipelining client talks RESP over its own TCP (or TLS) connection, without the client
 * library: no session, no retries, no redirection. It writes a batch of commands at once
 * and reads their replies in order with the codec's reply reader. Deadlines are times on
 * the nemesis clock (nem_now, nanoseconds). Any failure leaves the connection closed.
 */

struct ssl_ctx_st;
struct ssl_st;

struct nem_pipe {
	int fd;                     /* -1: closed */
	struct ssl_ctx_st *tls_ctx; /* set after nem_pipe_init: connections speak TLS */
	struct ssl_st *ssl;
	struct resp_reader rd;
	bool rd_init;
};

void nem_pipe_init(struct nem_pipe *p);
/* Connects to "host:port" (IPv4) by the deadline. Returns 0, or -1 with a message. */
int nem_pipe_connect(struct nem_pipe *p, const char *hostport, int64_t deadline, char *err,
                     size_t errlen);
/* Writes all len bytes by the deadline. Returns 0, or -1 (closed) with a message. */
int nem_pipe_send(struct nem_pipe *p, const void *buf, size_t len, int64_t deadline, char *err,
                  size_t errlen);
/* The next reply, waiting until the deadline: 0 with *v (valid until the next call), or -1
 * (timeout, connection closed by the peer, protocol error; the connection is then closed)
 * with a message. */
int nem_pipe_next(struct nem_pipe *p, int64_t deadline, const struct resp_value **v, char *err,
                  size_t errlen);
void nem_pipe_close(struct nem_pipe *p);

/* A client TLS context for the pipes (CA, client certificate and key, PEM), or NULL. */
struct ssl_ctx_st *nem_pipe_tls_ctx(const char *ca, const char *cert, const char *key);
void nem_pipe_tls_ctx_free(struct ssl_ctx_st *ctx);

#endif /* CONCORD_NEMESIS_PIPELINE_H */
