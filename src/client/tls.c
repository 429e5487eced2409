/* tls.c: the client library's TLS: a context from the options, and sessions on the blocking
 * connections' non-blocking sockets (OpenSSL's socket BIO, waits through poll). */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

static void tls_reason(char *out, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(out, len, "the server closed the connection or speaks no TLS");
	else
		ERR_error_string_n(e, out, len);
	ERR_clear_error();
}

static struct ssl_ctx_st *ctx_fail(SSL_CTX *ctx, int *rc, char *errmsg, size_t errmsg_size,
                                   const char *what)
{
	char why[256];
	tls_reason(why, sizeof(why));
	snprintf(errmsg, errmsg_size, "TLS: %s: %s", what, why);
	SSL_CTX_free(ctx);
	*rc = CONCORD_EINVAL;
	return NULL;
}

struct ssl_ctx_st *client_tls_ctx_new(const struct concord_client_opts *o, int *rc, char *errmsg,
                                      size_t errmsg_size)
{
	*rc = CONCORD_OK;
	if (!o->tls && o->tls_ca_file == NULL && o->tls_cert_file == NULL &&
	    o->tls_key_file == NULL)
		return NULL;
	if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
		snprintf(errmsg, errmsg_size, "TLS: a client certificate and its key go together");
		*rc = CONCORD_EINVAL;
		return NULL;
	}
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return ctx_fail(ctx, rc, errmsg, errmsg_size, "a context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (o->tls_ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, o->tls_ca_file, NULL) != 1
	                           : SSL_CTX_set_default_verify_paths(ctx) != 1)
		return ctx_fail(ctx, rc, errmsg, errmsg_size, "the CA file");
	if (o->tls_cert_file != NULL &&
	    SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert_file) != 1)
		return ctx_fail(ctx, rc, errmsg, errmsg_size, "the certificate file");
	if (o->tls_key_file != NULL &&
	    SSL_CTX_use_PrivateKey_file(ctx, o->tls_key_file, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(ctx, rc, errmsg, errmsg_size, "the key file");
	return ctx;
}

void client_tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

/* The name or address the server's certificate must carry. */
static int expect_host(SSL *ssl, const char *host)
{
	unsigned char ip[16];
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
	if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
		return -1;
	return 0;
}

int client_tls_connect(struct client_conn *cn, int64_t deadline_ms, char *errmsg,
                       size_t errmsg_size)
{
	ERR_clear_error();
	cn->ssl = SSL_new(cn->tls_ctx);
	if (cn->ssl == NULL || SSL_set_fd(cn->ssl, cn->fd) != 1 ||
	    expect_host(cn->ssl, cn->ep.host) != 0) {
		snprintf(errmsg, errmsg_size, "TLS: cannot start a session");
		return CONN_ECONNECT;
	}
	for (;;) {
		int r = SSL_connect(cn->ssl);
		if (r == 1)
			return CONN_OK;
		int e = SSL_get_error(cn->ssl, r);
		short ev = e == SSL_ERROR_WANT_READ    ? POLLIN
		           : e == SSL_ERROR_WANT_WRITE ? POLLOUT
		                                       : 0;
		if (ev == 0) {
			char why[256];
			tls_reason(why, sizeof(why));
			long v = SSL_get_verify_result(cn->ssl);
			snprintf(errmsg, errmsg_size, "TLS handshake: %s%s%s", why,
			         v != X509_V_OK ? ": " : "",
			         v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
			return CONN_ECONNECT;
		}
		int w = client_conn_wait(cn->fd, ev, deadline_ms);
		if (w <= 0) {
			snprintf(errmsg, errmsg_size, "TLS handshake: %s",
			         w == 0 ? "timed out" : strerror(errno));
			return CONN_ECONNECT;
		}
	}
}

/* After SSL_read or SSL_write returned r <= 0: -1 with errno EAGAIN (wait and retry), 0
 * (the server closed the session), or -1 with errno EPROTO. */
static ssize_t tls_result(struct client_conn *cn, int r)
{
	int e = SSL_get_error(cn->ssl, r);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = e == SSL_ERROR_SYSCALL && errno != 0 ? errno : EPROTO;
	return -1;
}

ssize_t client_tls_send(struct client_conn *cn, const void *p, size_t len)
{
	int n = len > (1u << 30) ? 1 << 30 : (int)len;
	int r = SSL_write(cn->ssl, p, n);
	return r > 0 ? r : tls_result(cn, r);
}

ssize_t client_tls_recv(struct client_conn *cn, void *p, size_t len)
{
	int n = len > (1u << 30) ? 1 << 30 : (int)len;
	int r = SSL_read(cn->ssl, p, n);
	return r > 0 ? r : tls_result(cn, r);
}

void client_tls_close(struct client_conn *cn)
{
	if (cn->ssl == NULL)
		return;
	(void)SSL_shutdown(cn->ssl); /* one non-blocking close_notify, best effort */
	ERR_clear_error();
	SSL_free(cn->ssl);
	cn->ssl = NULL;
}
