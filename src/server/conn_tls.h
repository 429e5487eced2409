/* conn_tls.h: TLS under the connection layer (conn.c): the frontends read and write plaintext as
 * before; the socket carries TLS when the server has a client TLS context. */
#ifndef CONCORD_SERVER_CONN_TLS_H
#define CONCORD_SERVER_CONN_TLS_H

/*
 * conn.c calls these only for a connection with c->tls set (conn_tls_accept sets it when
 * sv->client_tls is). Reads: ciphertext goes into the session's buffer, the handshake
 * runs, then plaintext is decrypted into the frontend's space (ops->space/commit) for as
 * long as it offers room and wants input; what the session still holds when the
 * frontend stops reading is delivered from the listener's idle pass once it reads again
 * (the socket may have nothing more to say). Writes: conn_flush encrypts the write in
 * flight and sends it as one uv_write. Output waits until the handshake completed. A
 * failed handshake (a client without a certificate under --client-cert-auth, a client
 * that speaks no TLS) is logged, counted (tls_failures) and the connection lingers out.
 * A handshake not finished within --client-read-timeout is closed like a stalled request.
 */

#include "server/conn.h"

#include <stdbool.h>

/* At accept: starts a server session if the server has a client TLS context. */
void conn_tls_accept(struct conn *c);
/* The read buffer for ciphertext. */
void conn_tls_alloc(struct conn *c, uv_buf_t *buf);
/* nread bytes of ciphertext arrived (or the input ended: nread < 0). */
void conn_tls_read(struct conn *c, ssize_t nread);
/* The frontend asked for input again: deliver what the session holds. */
void conn_tls_resume(struct conn *c);
/* Encrypts and sends c->writing; 0 or a uv error. */
int conn_tls_write(struct conn *c, uv_write_cb cb);
/* Queues and sends a close_notify (before the write side is shut). */
void conn_tls_close_notify(struct conn *c);
/* Whether the handshake is done (output may go). */
bool conn_tls_ready(const struct conn *c);
void conn_tls_free(struct conn *c);

/* The listener's idle pass (only with TLS): init and close with the listener. */
void conn_tls_listener_init(struct conn_listener *l);
void conn_tls_listener_close(struct conn_listener *l, uv_close_cb cb);

/* conn.c's: serve the input once admitted (conn_process). */
void conn_serve_input(struct conn *c);

#endif /* CONCORD_SERVER_CONN_TLS_H */
