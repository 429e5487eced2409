/* tls.c: TLS sessions over memory BIO pairs for libuv streams (tls.h). */
#include "net/tls.h"

#include "base/alloc.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reason of the last OpenSSL error on this thread, or `fallback`. */
static void tls_reason(char *out, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();
	if (e == 0) {
		snprintf(out, len, "%s", fallback);
		return;
	}
	ERR_error_string_n(e, out, len);
	ERR_clear_error();
}

static struct ssl_ctx_st *ctx_fail(SSL_CTX *ctx, char *errmsg, size_t len, const char *what,
                                   const char *file)
{
	char why[256];
	tls_reason(why, sizeof(why), "unknown error");
	snprintf(errmsg, len, "%s %s: %s", what, file != NULL ? file : "", why);
	SSL_CTX_free(ctx);
	return NULL;
}

struct ssl_ctx_st *net_tls_ctx_new(bool server, const char *cert_file, const char *key_file,
                                   const char *ca_file, bool require_peer_cert, char *errmsg,
                                   size_t len)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL)
		return ctx_fail(ctx, errmsg, len, "creating a TLS context", NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Writes hand whole buffers to the SSL, which may move between calls. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (server) {
		/* No resumption: tickets would be the only bytes a peer link's acceptor sends
		 * after its handshake reply. */
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	if (cert_file != NULL && SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return ctx_fail(ctx, errmsg, len, "certificate", cert_file);
	if (key_file != NULL && SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(ctx, errmsg, len, "key", key_file);
	if (cert_file != NULL && key_file != NULL && SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(ctx, errmsg, len, "the key does not match the certificate",
		                key_file);
	if (ca_file != NULL && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
		return ctx_fail(ctx, errmsg, len, "CA file", ca_file);
	if (ca_file == NULL && !server && SSL_CTX_set_default_verify_paths(ctx) != 1)
		return ctx_fail(ctx, errmsg, len, "the system's CA certificates", NULL);
	if (!server)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	else if (require_peer_cert)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

void net_tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

int net_tls_init(struct net_tls *t, struct ssl_ctx_st *ctx, bool server, const char *host)
{
	memset(t, 0, offsetof(struct net_tls, rbuf));
	t->ssl = SSL_new(ctx);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
		BIO_free(t->in);
		BIO_free(t->out);
		SSL_free(t->ssl);
		memset(t, 0, offsetof(struct net_tls, rbuf));
		return -1;
	}
	SSL_set_bio(t->ssl, t->in, t->out); /* the SSL owns both now */
	if (server) {
		SSL_set_accept_state(t->ssl);
		return 0;
	}
	SSL_set_connect_state(t->ssl);
	if (host == NULL)
		return 0;
	unsigned char ip[16];
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) == 1 ? 0 : -1;
	if (SSL_set_tlsext_host_name(t->ssl, host) != 1 || SSL_set1_host(t->ssl, host) != 1)
		return -1;
	return 0;
}

void net_tls_free(struct net_tls *t)
{
	if (t->ssl != NULL)
		SSL_free(t->ssl); /* and both BIOs */
	t->ssl = NULL;
	t->in = t->out = NULL;
}

void net_tls_received(struct net_tls *t, size_t n)
{
	assert(n <= sizeof(t->rbuf));
	if (n > 0 && BIO_write(t->in, t->rbuf, (int)n) != (int)n)
		t->failed = true;
}

int net_tls_handshake(struct net_tls *t, char *errmsg, size_t len)
{
	if (t->done)
		return 1;
	if (t->failed) {
		snprintf(errmsg, len, "TLS failed");
		return -1;
	}
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->done = true;
		return 1;
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	t->failed = true;
	char why[256];
	tls_reason(why, sizeof(why), "the peer closed or sent no TLS");
	long v = SSL_get_verify_result(t->ssl);
	if (v != X509_V_OK)
		snprintf(errmsg, len, "TLS handshake: %s (certificate: %s)", why,
		         X509_verify_cert_error_string(v));
	else
		snprintf(errmsg, len, "TLS handshake: %s", why);
	return -1;
}

long net_tls_read(struct net_tls *t, void *buf, size_t cap)
{
	assert(t->done);
	if (cap == 0)
		return 0;
	ERR_clear_error();
	int r = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
	if (r > 0)
		return r;
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e != SSL_ERROR_ZERO_RETURN)
		t->failed = true;
	ERR_clear_error();
	return -1;
}

bool net_tls_has_input(const struct net_tls *t)
{
	return t->ssl != NULL && (SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->in) > 0);
}

size_t net_tls_pending(const struct net_tls *t)
{
	return t->out != NULL ? BIO_ctrl_pending(t->out) : 0;
}

/* One write of ciphertext, with the caller's request to complete. */
struct tls_write {
	uv_write_t req;
	uv_write_t *caller;
	uv_write_cb cb;
	char data[];
};

static void tls_written_cb(uv_write_t *req, int status)
{
	struct tls_write *w = req->data;
	uv_write_t *caller = w->caller;
	uv_write_cb cb = w->cb;
	free(w);
	if (cb != NULL)
		cb(caller, status);
}

int net_tls_send(struct net_tls *t, uv_stream_t *s, uv_write_t *req, uv_write_cb cb)
{
	size_t n = net_tls_pending(t);
	if (n == 0)
		return cb != NULL ? UV_EAGAIN : 0;
	struct tls_write *w = xmalloc(sizeof(*w) + n);
	int got = BIO_read(t->out, w->data, (int)n);
	assert(got == (int)n);
	(void)got;
	w->req.data = w;
	w->caller = req;
	w->cb = cb;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
	int rv = uv_write(&w->req, s, &b, 1, tls_written_cb);
	if (rv != 0)
		free(w);
	return rv;
}

int net_tls_write(struct net_tls *t, uv_stream_t *s, uv_write_t *req, const uv_buf_t *bufs,
                  unsigned n, uv_write_cb cb)
{
	assert(t->done);
	for (unsigned i = 0; i < n; i++) {
		size_t off = 0;
		while (off < bufs[i].len) {
			size_t chunk = bufs[i].len - off;
			if (chunk > (1u << 30))
				chunk = 1u << 30;
			ERR_clear_error();
			int r = SSL_write(t->ssl, bufs[i].base + off, (int)chunk);
			if (r <= 0) {
				t->failed = true;
				ERR_clear_error();
				return UV_EPROTO;
			}
			off += (size_t)r;
		}
	}
	return net_tls_send(t, s, req, cb);
}

void net_tls_shutdown(struct net_tls *t)
{
	if (t->ssl != NULL && t->done && !t->failed) {
		ERR_clear_error();
		SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
}

/* Calls fn for each DNS name in the peer certificate's SAN until it returns true. */
static bool each_dns_name(const struct net_tls *t, bool (*fn)(const char *s, size_t n, void *arg),
                          void *arg)
{
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	if (cert == NULL)
		return false;
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool hit = false;
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && !hit; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_DNS)
			continue;
		const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
		int n = ASN1_STRING_length(g->d.dNSName);
		if (s != NULL && n > 0)
			hit = fn((const char *)s, (size_t)n, arg);
	}
	GENERAL_NAMES_free(names);
	return hit;
}

struct name_match {
	const char *name;
	char id[24];
};

static bool match_name(const char *s, size_t n, void *arg)
{
	const struct name_match *m = arg;
	if (m->name != NULL && strlen(m->name) == n && memcmp(m->name, s, n) == 0)
		return true;
	return m->id[0] != '\0' && strlen(m->id) == n && memcmp(m->id, s, n) == 0;
}

bool net_tls_peer_named(const struct net_tls *t, const char *name, uint64_t id)
{
	if (t->ssl == NULL || !t->done || SSL_get_verify_result(t->ssl) != X509_V_OK)
		return false;
	struct name_match m = {.name = name, .id = ""};
	if (id != 0)
		snprintf(m.id, sizeof(m.id), "%llu", (unsigned long long)id);
	return each_dns_name(t, match_name, &m);
}

struct name_list {
	char *out;
	size_t cap, len;
};

static bool list_name(const char *s, size_t n, void *arg)
{
	struct name_list *l = arg;
	int w =
	    snprintf(l->out + l->len, l->cap - l->len, "%s%.*s", l->len > 0 ? "," : "", (int)n, s);
	if (w > 0)
		l->len += (size_t)w < l->cap - l->len ? (size_t)w : l->cap - l->len - 1;
	return l->len + 1 >= l->cap;
}

void net_tls_peer_names(const struct net_tls *t, char *out, size_t cap)
{
	assert(cap > 0);
	out[0] = '\0';
	struct name_list l = {out, cap, 0};
	if (t->ssl != NULL)
		each_dns_name(t, list_name, &l);
	if (out[0] == '\0')
		snprintf(out, cap, "(none)");
}
