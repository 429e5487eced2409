/* pipeline.c: a plain RESP connection over loopback TCP with deadlines, for the pipelining clients.
 */
#include "pipeline.h"

#include "nemesis.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void nem_pipe_init(struct nem_pipe *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

void nem_pipe_close(struct nem_pipe *p)
{
	if (p->ssl != NULL)
		SSL_free(p->ssl);
	p->ssl = NULL;
	ERR_clear_error();
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	if (p->rd_init)
		resp_reader_free(&p->rd);
	p->rd_init = false;
}

/* Milliseconds left until the deadline, for poll: at least 0, at most a minute. */
static int ms_left(int64_t deadline)
{
	int64_t left = (deadline - nem_now()) / 1000000;
	if (left < 0)
		return 0;
	return left > 60000 ? 60000 : (int)left;
}

/* Waits for `events` on the socket: 1 ready, 0 deadline passed, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (int i = 0; i < 1000; i++) {
		struct pollfd pf = {.fd = fd, .events = events};
		int n = poll(&pf, 1, ms_left(deadline));
		if (n > 0)
			return 1;
		if (n == 0)
			return nem_now() >= deadline ? 0 : 1;
		if (errno != EINTR)
			return -1;
	}
	return -1;
}

static int parse_addr(const char *hostport, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
		return -1;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (*end != '\0' || port <= 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	return 0;
}

struct ssl_ctx_st *nem_pipe_tls_ctx(const char *ca, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void nem_pipe_tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

/* SSL_read or SSL_write's result r <= 0: 1 wait for `*ev` and retry, 0 closed, -1 error. */
static int tls_wait_for(struct nem_pipe *p, int r, short *ev)
{
	int e = SSL_get_error(p->ssl, r);
	ERR_clear_error();
	*ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
	if (*ev != 0)
		return 1;
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

/* The handshake; the node's certificate must name the host (127.0.0.1). */
static int pipe_tls_connect(struct nem_pipe *p, const char *hostport, int64_t deadline)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	p->ssl = SSL_new(p->tls_ctx);
	if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1 ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->ssl), host) != 1)
		return -1;
	for (int i = 0; i < 1000; i++) {
		int r = SSL_connect(p->ssl);
		if (r == 1)
			return 0;
		short ev;
		if (tls_wait_for(p, r, &ev) != 1 || wait_fd(p->fd, ev, deadline) <= 0)
			return -1;
	}
	return -1;
}

int nem_pipe_connect(struct nem_pipe *p, const char *hostport, int64_t deadline, char *err,
                     size_t errlen)
{
	nem_pipe_close(p);
	struct sockaddr_in sa;
	if (parse_addr(hostport, &sa) != 0) {
		snprintf(err, errlen, "pipeline: bad address %s", hostport);
		return -1;
	}
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		snprintf(err, errlen, "pipeline: socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(p->fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc != 0 && errno == EINPROGRESS) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		int w = wait_fd(p->fd, POLLOUT, deadline);
		if (w <= 0) {
			soerr = w == 0 ? ETIMEDOUT : errno;
		} else if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
			soerr = errno;
		}
		errno = soerr;
		rc = soerr == 0 ? 0 : -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "pipeline: connect %s: %s", hostport, strerror(errno));
		nem_pipe_close(p);
		return -1;
	}
	if (p->tls_ctx != NULL && pipe_tls_connect(p, hostport, deadline) != 0) {
		snprintf(err, errlen, "pipeline: TLS handshake with %s failed", hostport);
		nem_pipe_close(p);
		return -1;
	}
	if (resp_reader_init(&p->rd, NULL) != 0) {
		snprintf(err, errlen, "pipeline: out of memory");
		nem_pipe_close(p);
		return -1;
	}
	p->rd_init = true;
	return 0;
}

int nem_pipe_send(struct nem_pipe *p, const void *buf, size_t len, int64_t deadline, char *err,
                  size_t errlen)
{
	const char *b = buf;
	size_t off = 0;
	while (off < len && p->fd >= 0) {
		if (p->ssl != NULL) {
			int r = SSL_write(p->ssl, b + off,
			                  (int)(len - off > (1u << 30) ? 1u << 30 : len - off));
			short ev = 0;
			if (r > 0)
				off += (size_t)r;
			else if (tls_wait_for(p, r, &ev) != 1 || wait_fd(p->fd, ev, deadline) <= 0)
				break;
			continue;
		}
		ssize_t n = send(p->fd, b + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(p->fd, POLLOUT, deadline) > 0)
			continue;
		snprintf(err, errlen, "pipeline: send: %s",
		         n < 0 && errno != EAGAIN ? strerror(errno) : "timed out");
		nem_pipe_close(p);
		return -1;
	}
	if (p->fd >= 0 && off < len) {
		snprintf(err, errlen, "pipeline: TLS send failed or timed out");
		nem_pipe_close(p);
	}
	return p->fd >= 0 ? 0 : -1;
}

int nem_pipe_next(struct nem_pipe *p, int64_t deadline, const struct resp_value **v, char *err,
                  size_t errlen)
{
	while (p->fd >= 0) {
		int rc = resp_reader_next(&p->rd, v);
		if (rc == 0)
			return 0;
		if (rc != WIRE_EAGAIN) {
			snprintf(err, errlen, "pipeline: bad reply: %s",
			         resp_reader_errmsg(&p->rd));
			break;
		}
		/* A TLS session may hold decrypted bytes the socket no longer signals. */
		int w = p->ssl != NULL && SSL_pending(p->ssl) > 0
		            ? 1
		            : wait_fd(p->fd, POLLIN, deadline);
		if (w <= 0) {
			snprintf(err, errlen, "pipeline: %s",
			         w == 0 ? "no reply by the deadline" : strerror(errno));
			break;
		}
		char *space;
		size_t room;
		if (resp_reader_space(&p->rd, 65536, &space, &room) != 0) {
			snprintf(err, errlen, "pipeline: reply too large");
			break;
		}
		ssize_t n;
		if (p->ssl != NULL) {
			int r = SSL_read(p->ssl, space, (int)(room > (1u << 30) ? 1u << 30 : room));
			short ev = 0;
			int t = r > 0 ? 1 : tls_wait_for(p, r, &ev);
			n = r > 0 ? r : t == 1 ? -1 : t == 0 ? 0 : -2;
			errno = n == -1 ? EAGAIN : n == -2 ? EPROTO : errno;
			if (n == -2)
				n = -1;
		} else {
			n = recv(p->fd, space, room, 0);
		}
		if (n > 0) {
			resp_reader_commit(&p->rd, (size_t)n);
			continue;
		}
		resp_reader_commit(&p->rd, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		snprintf(err, errlen, "pipeline: %s",
		         n == 0 ? "the node closed the connection" : strerror(errno));
		break;
	}
	nem_pipe_close(p);
	return -1;
}
