/* tls.h: TLS (OpenSSL) over memory BIOs for libuv streams, shared by the peer transport and the
 * client connections: the socket code reads and writes ciphertext, this layer turns it into
 * plaintext and back, so the protocols above never see TLS. */
#ifndef CONCORD_NET_TLS_H
#define CONCORD_NET_TLS_H

/*
 * Contexts. net_tls_ctx_new() makes a server or a client SSL_CTX from PEM files: a
 * certificate chain and its key (optional for a client context), and a CA bundle that
 * peers' certificates must chain to (NULL: the system's, for a client; none, for a server
 * that does not ask for client certificates). TLS 1.2 is the floor.
 *
 * Sessions. struct net_tls is one connection's TLS state. The owner reads ciphertext into
 * `rbuf` (net_tls_read_space), hands it over with net_tls_received(), drives the
 * handshake with net_tls_handshake() until it returns 1, then reads plaintext with
 * net_tls_read(). It writes plaintext with net_tls_write(), which encrypts at once and
 * submits the ciphertext with uv_write; ciphertext the TLS layer produces by itself
 * (handshake records, alerts) goes out with net_tls_send(..., NULL, NULL), in the same
 * order as everything else. Memory is bounded: the ciphertext waiting to be decrypted is
 * at most what the owner fed (one read buffer per read), and what is encrypted leaves in
 * a write of its own at once.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

/* One read of ciphertext: a bit more than one largest TLS record. */
#define NET_TLS_READ_BYTES (17u << 10)

struct net_tls {
	struct ssl_st *ssl;
	struct bio_st *in;  /* ciphertext received, for the SSL to read */
	struct bio_st *out; /* ciphertext the SSL wrote, to be sent */
	bool done;          /* the handshake completed */
	bool failed;        /* the handshake or a record failed: close */
	char rbuf[NET_TLS_READ_BYTES];
};

/* A context from PEM files. `server`: accepts connections; `require_peer_cert`: the peer
 * must present a certificate that chains to `ca_file` (a server asks clients for one).
 * Returns the context, or NULL with errmsg saying which file and why. */
struct ssl_ctx_st *net_tls_ctx_new(bool server, const char *cert_file, const char *key_file,
                                   const char *ca_file, bool require_peer_cert, char *errmsg,
                                   size_t len);
void net_tls_ctx_free(struct ssl_ctx_st *ctx);

/* Starts a session on `ctx` (a server session accepts, a client one connects). `host`:
 * for a client, the name (or numeric address) the server's certificate must carry, and
 * the SNI sent; NULL: no name check (the caller checks names itself). Returns 0 or -1. */
int net_tls_init(struct net_tls *t, struct ssl_ctx_st *ctx, bool server, const char *host);
void net_tls_free(struct net_tls *t);

/* `n` bytes of ciphertext were read into t->rbuf. */
void net_tls_received(struct net_tls *t, size_t n);

/* Advances the handshake: 1 done, 0 needs more input, -1 failed (errmsg says why; the
 * alert, if any, is pending: net_tls_send it before closing). */
int net_tls_handshake(struct net_tls *t, char *errmsg, size_t len);

/* Plaintext into buf: > 0 bytes, 0 none until more ciphertext comes, -1 the peer closed
 * the session (close_notify) or a record was bad (t->failed). */
long net_tls_read(struct net_tls *t, void *buf, size_t cap);

/* Whether decrypted or undecrypted input is waiting in the session (read it before
 * waiting for the socket). */
bool net_tls_has_input(const struct net_tls *t);

/* Ciphertext waiting to be sent. */
size_t net_tls_pending(const struct net_tls *t);

/* Sends the pending ciphertext in one uv_write; cb(req, status) is called when it
 * completes, like uv_write's (req and cb may be NULL: nobody waits). With nothing
 * pending and a cb, returns UV_EAGAIN and calls nothing. Returns 0 or a uv error. */
int net_tls_send(struct net_tls *t, uv_stream_t *s, uv_write_t *req, uv_write_cb cb);

/* Encrypts the buffers (after the handshake) and sends them as net_tls_send does. */
int net_tls_write(struct net_tls *t, uv_stream_t *s, uv_write_t *req, const uv_buf_t *bufs,
                  unsigned n, uv_write_cb cb);

/* Queues a close_notify (send it with net_tls_send). */
void net_tls_shutdown(struct net_tls *t);

/* Whether the peer's (verified) certificate names `name` or, if id is not 0, the decimal
 * `id` among its subject alternative names (DNS entries), exactly. */
bool net_tls_peer_named(const struct net_tls *t, const char *name, uint64_t id);

/* The peer's certificate's DNS names, comma-separated, for logs. */
void net_tls_peer_names(const struct net_tls *t, char *out, size_t cap);

#endif /* CONCORD_NET_TLS_H */
