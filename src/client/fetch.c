/* fetch.c: a GET to a node's HTTP listener with the handle's TLS settings and credentials, the
 * body streamed into a file descriptor (what concordctl snapshot save reads a backup with). */
#include "internal.h"

#include <openssl/evp.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FETCH_HEAD_BYTES_MAX 16384u
#define FETCH_PIECE_BYTES    (256u * 1024u)

/* The response's head as far as it came, and what of the body came with it. */
struct fetch_head {
	char buf[FETCH_HEAD_BYTES_MAX + 1];
	size_t have, body_at;
	int status;
	uint64_t length;
	bool has_length;
};

/* Parses the status line and Content-Length once the head is complete: 1 complete, 0
 * incomplete, -1 malformed. */
static int head_parse(struct fetch_head *h)
{
	h->buf[h->have] = '\0';
	char *end = strstr(h->buf, "\r\n\r\n");
	if (end == NULL)
		return 0;
	h->body_at = (size_t)(end - h->buf) + 4;
	if (sscanf(h->buf, "HTTP/1.%*1[01] %3d", &h->status) != 1 || h->status < 100)
		return -1;
	for (char *l = strstr(h->buf, "\r\n"); l != NULL && l < end; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, "Content-Length:", 15) != 0)
			continue;
		char *e = NULL;
		errno = 0;
		unsigned long long v = strtoull(l + 17, &e, 10);
		if (errno != 0 || e == l + 17)
			return -1;
		h->length = v;
		h->has_length = true;
	}
	return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The request, with HTTP Basic credentials when the handle has a password. */
static int request_build(const struct concord_client *c, const char *host, const char *path,
                         char *out, size_t cap)
{
	char auth[600] = "";
	if (c->password != NULL) {
		char plain[400];
		int n = snprintf(plain, sizeof(plain), "%s:%s", c->user, c->password);
		if (n < 0 || (size_t)n >= sizeof(plain))
			return -1;
		unsigned char b64[((sizeof(plain) + 2) / 3) * 4 + 1];
		EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n", (const char *)b64);
		OPENSSL_cleanse(plain, sizeof(plain));
	}
	int n = snprintf(out, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n",
	                 path, host, auth);
	OPENSSL_cleanse(auth, sizeof(auth));
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Reads the body after the head into out_fd: Content-Length bytes, or to the end. */
static int body_copy(struct concord_client *c, struct client_conn *cn, struct fetch_head *h,
                     int out_fd, uint64_t *bytes, char *err, size_t err_size)
{
	uint64_t got = h->have - h->body_at;
	if (h->has_length && got > h->length)
		got = h->length;
	if (write_all(out_fd, h->buf + h->body_at, (size_t)got) != 0) {
		snprintf(err, err_size, "writing the body: %s", strerror(errno));
		return -1;
	}
	char *piece = malloc(FETCH_PIECE_BYTES);
	if (piece == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	int rv = 0;
	while (!h->has_length || got < h->length) {
		size_t want = FETCH_PIECE_BYTES;
		if (h->has_length && h->length - got < want)
			want = (size_t)(h->length - got);
		/* Each read may take the attempt timeout: a large body takes what it takes. */
		int64_t deadline = client_now_ms() + c->opts.attempt_timeout_ms;
		ssize_t r = client_conn_recv(cn, piece, want, deadline, err, err_size);
		if (r == 0 && !h->has_length)
			break;
		if (r <= 0) {
			if (r == 0)
				snprintf(err, err_size,
				         "the body ended after %" PRIu64 " of %" PRIu64 " bytes",
				         got, h->length);
			rv = -1;
			break;
		}
		if (write_all(out_fd, piece, (size_t)r) != 0) {
			snprintf(err, err_size, "writing the body: %s", strerror(errno));
			rv = -1;
			break;
		}
		got += (uint64_t)r;
	}
	free(piece);
	*bytes = got;
	return rv;
}

/* Reads the response's head into h before the deadline. */
static int head_read(struct concord_client *c, struct client_conn *cn, struct fetch_head *h,
                     int64_t deadline, const char *host)
{
	char err[512];
	int parsed = 0;
	while (parsed == 0 && h->have < FETCH_HEAD_BYTES_MAX) {
		ssize_t r = client_conn_recv(cn, h->buf + h->have, FETCH_HEAD_BYTES_MAX - h->have,
		                             deadline, err, sizeof(err));
		if (r <= 0) {
			snprintf(c->errmsg, sizeof(c->errmsg), "%s: %.200s", host,
			         r == 0 ? "the connection closed before the response" : err);
			return CONCORD_EUNAVAILABLE;
		}
		h->have += (size_t)r;
		parsed = head_parse(h);
	}
	if (parsed != 1) {
		snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", host,
		         parsed < 0 ? "not an HTTP response" : "the response's head is too long");
		return CONCORD_EPROTO;
	}
	return CONCORD_OK;
}

int concord_client_http_get(struct concord_client *c, const char *http, const char *path,
                            int out_fd, int *status, uint64_t *bytes)
{
	*status = 0;
	*bytes = 0;
	struct client_endpoint ep;
	if (client_endpoint_parse(http, strlen(http), &ep, c->errmsg, sizeof(c->errmsg)) != 0)
		return CONCORD_EINVAL;
	if (path[0] != '/' || strpbrk(path, " \r\n") != NULL) {
		snprintf(c->errmsg, sizeof(c->errmsg), "'%s' is not an HTTP path", path);
		return CONCORD_EINVAL;
	}
	char host[CLIENT_HOST_BYTES_MAX + CLIENT_PORT_BYTES_MAX + 4];
	client_endpoint_format(&ep, host, sizeof(host));
	char req[2048];
	int req_len = request_build(c, host, path, req, sizeof(req));
	if (req_len < 0) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the request to %s is too long", host);
		return CONCORD_EINVAL;
	}
	struct client_conn cn = {.tls_ctx = c->conn.tls_ctx};
	client_conn_init(&cn);
	char err[512];
	int64_t deadline = client_now_ms() + c->opts.connect_timeout_ms;
	int rc = client_conn_open(&cn, &ep, &c->rd_lim, deadline, err, sizeof(err));
	if (rc == CONN_OK) {
		deadline = client_now_ms() + c->opts.attempt_timeout_ms;
		rc = client_conn_send(&cn, req, (size_t)req_len, deadline, err, sizeof(err));
	}
	OPENSSL_cleanse(req, sizeof(req));
	if (rc != CONN_OK) {
		snprintf(c->errmsg, sizeof(c->errmsg), "%s: %.200s", host, err);
		client_conn_close(&cn);
		return CONCORD_EUNAVAILABLE;
	}
	struct fetch_head *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		client_conn_close(&cn);
		return CONCORD_ENOMEM;
	}
	int ret = head_read(c, &cn, h, deadline, host);
	if (ret == CONCORD_OK && h->status != 200) {
		*status = h->status;
		size_t shown = h->have - h->body_at;
		while (shown > 0 && (h->buf[h->body_at + shown - 1] == '\n' ||
		                     h->buf[h->body_at + shown - 1] == '\r'))
			shown--;
		snprintf(c->errmsg, sizeof(c->errmsg), "%s answered %d: %.*s", host, h->status,
		         (int)(shown > 300 ? 300 : shown), h->buf + h->body_at);
		ret = CONCORD_ESERVER;
	} else if (ret == CONCORD_OK) {
		*status = 200;
		if (body_copy(c, &cn, h, out_fd, bytes, err, sizeof(err)) != 0) {
			snprintf(c->errmsg, sizeof(c->errmsg), "%s: %.200s", host, err);
			ret = CONCORD_EUNAVAILABLE;
		}
	}
	free(h);
	client_conn_close(&cn);
	return ret;
}
