/* conn.c: one blocking RESP connection: poll-based connect, send and receive with deadlines. */
#include "internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes asked of the reader per recv(). */
#define CONN_READ_CHUNK_BYTES (64u * 1024u)

int64_t client_now_ms(void)
{
	struct timespec ts;
	int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)rc;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void client_sleep_ms(int64_t ms)
{
	if (ms <= 0) {
		return;
	}
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

void client_conn_init(struct client_conn *cn)
{
	struct ssl_ctx_st *ctx = cn->tls_ctx;
	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
	cn->tls_ctx = ctx;
}

bool client_conn_is_open(const struct client_conn *cn)
{
	return cn->fd >= 0;
}

void client_conn_close(struct client_conn *cn)
{
	client_tls_close(cn);
	if (cn->fd >= 0) {
		close(cn->fd);
		cn->fd = -1;
	}
	if (cn->rd_live) {
		resp_reader_free(&cn->rd);
		cn->rd_live = false;
	}
}

int client_conn_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - client_now_ms();
		if (left <= 0) {
			return 0;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -1;
		}
		if (n > 0) {
			return 1;
		}
	}
}

/* One connect to one resolved address. Returns the fd or -1 with a message. */
static int conn_connect_one(const struct addrinfo *ai, int64_t deadline_ms, char *errmsg,
                            size_t errmsg_size)
{
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		snprintf(errmsg, errmsg_size, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			snprintf(errmsg, errmsg_size, "connect: %s", strerror(errno));
			close(fd);
			return -1;
		}
		int w = client_conn_wait(fd, POLLOUT, deadline_ms);
		if (w <= 0) {
			snprintf(errmsg, errmsg_size, "connect: %s",
			         w == 0 ? "timed out" : strerror(errno));
			close(fd);
			return -1;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			snprintf(errmsg, errmsg_size, "connect: %s",
			         strerror(soerr != 0 ? soerr : errno));
			close(fd);
			return -1;
		}
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int client_conn_open(struct client_conn *cn, const struct client_endpoint *ep,
                     const struct resp_reader_limits *lim, int64_t deadline_ms, char *errmsg,
                     size_t errmsg_size)
{
	client_conn_close(cn);
	cn->ep = *ep;
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG,
	};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(ep->host, ep->port, &hints, &res);
	if (gai != 0) {
		snprintf(errmsg, errmsg_size, "resolve %s: %s", ep->host, gai_strerror(gai));
		return CONN_ECONNECT;
	}
	int fd = -1;
	snprintf(errmsg, errmsg_size, "no address");
	for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (client_now_ms() >= deadline_ms) {
			snprintf(errmsg, errmsg_size, "connect: timed out");
			break;
		}
		fd = conn_connect_one(ai, deadline_ms, errmsg, errmsg_size);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		return CONN_ECONNECT;
	}
	if (resp_reader_init(&cn->rd, lim) != 0) {
		close(fd);
		snprintf(errmsg, errmsg_size, "reply reader: bad limits");
		return CONN_ECONNECT;
	}
	cn->rd_live = true;
	cn->fd = fd;
	if (cn->tls_ctx != NULL) {
		int rc = client_tls_connect(cn, deadline_ms, errmsg, errmsg_size);
		if (rc != CONN_OK) {
			client_conn_close(cn);
			return rc;
		}
	}
	return CONN_OK;
}

/* Fails a round trip: closes the connection, says why. */
static int conn_fail(struct client_conn *cn, int result, char *errmsg, size_t errmsg_size,
                     const char *what, const char *why)
{
	snprintf(errmsg, errmsg_size, "%s: %s", what, why);
	client_conn_close(cn);
	return result;
}

static int conn_send_all(struct client_conn *cn, const char *p, size_t len, int64_t deadline_ms,
                         char *errmsg, size_t errmsg_size)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = cn->ssl != NULL ? client_tls_send(cn, p + off, len - off)
		                            : send(cn->fd, p + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = client_conn_wait(cn->fd, POLLOUT, deadline_ms);
			if (w == 0) {
				return conn_fail(cn, CONN_ESEND, errmsg, errmsg_size, "send",
				                 "timed out");
			}
			if (w < 0) {
				return conn_fail(cn, CONN_ESEND, errmsg, errmsg_size, "send",
				                 strerror(errno));
			}
			continue;
		}
		return conn_fail(cn, CONN_ESEND, errmsg, errmsg_size, "send",
		                 n == 0 ? "no progress" : strerror(errno));
	}
	return CONN_OK;
}

int client_conn_send(struct client_conn *cn, const void *p, size_t len, int64_t deadline_ms,
                     char *errmsg, size_t errmsg_size)
{
	return conn_send_all(cn, p, len, deadline_ms, errmsg, errmsg_size);
}

ssize_t client_conn_recv(struct client_conn *cn, void *buf, size_t cap, int64_t deadline_ms,
                         char *errmsg, size_t errmsg_size)
{
	for (;;) {
		ssize_t n =
		    cn->ssl != NULL ? client_tls_recv(cn, buf, cap) : recv(cn->fd, buf, cap, 0);
		if (n >= 0) {
			return n;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_fail(cn, CONN_ERECV, errmsg, errmsg_size, "receive", strerror(errno));
			return -1;
		}
		int w = client_conn_wait(cn->fd, POLLIN, deadline_ms);
		if (w <= 0) {
			conn_fail(cn, CONN_ERECV, errmsg, errmsg_size, "receive",
			          w == 0 ? "timed out" : strerror(errno));
			return -1;
		}
	}
}

/* Reads one reply before the deadline. With `idle_ok`, a deadline that passes before a
 * whole reply arrived returns CONN_EIDLE and keeps the connection (and any partial reply
 * buffered); otherwise it fails like any other receive error. */
static int conn_read(struct client_conn *cn, int64_t deadline_ms, bool idle_ok,
                     const struct resp_value **out, char *errmsg, size_t errmsg_size)
{
	int rc;
	for (;;) {
		rc = resp_reader_next(&cn->rd, out);
		if (rc == 0) {
			return CONN_OK;
		}
		if (rc != WIRE_EAGAIN) {
			char why[WIRE_ERRMSG_SIZE + 32];
			snprintf(why, sizeof(why), "%s", resp_reader_errmsg(&cn->rd));
			return conn_fail(cn, CONN_EPROTO, errmsg, errmsg_size, "malformed reply",
			                 why);
		}
		char *space = NULL;
		size_t space_len = 0;
		rc = resp_reader_space(&cn->rd, CONN_READ_CHUNK_BYTES, &space, &space_len);
		if (rc != 0) {
			/* The buffer is full of one incomplete reply: the next call says so. */
			rc = resp_reader_next(&cn->rd, out);
			if (rc == 0) {
				return CONN_OK;
			}
			return conn_fail(cn, CONN_EPROTO, errmsg, errmsg_size, "reply",
			                 rc == WIRE_ENOMEM ? "out of memory"
			                                   : "larger than the reply limit");
		}
		ssize_t n = cn->ssl != NULL ? client_tls_recv(cn, space, space_len)
		                            : recv(cn->fd, space, space_len, 0);
		if (n > 0) {
			resp_reader_commit(&cn->rd, (size_t)n);
			continue;
		}
		resp_reader_commit(&cn->rd, 0);
		if (n == 0) {
			return conn_fail(cn, CONN_ERECV, errmsg, errmsg_size, "receive",
			                 "connection closed by the server");
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			return conn_fail(cn, CONN_ERECV, errmsg, errmsg_size, "receive",
			                 strerror(errno));
		}
		int w = client_conn_wait(cn->fd, POLLIN, deadline_ms);
		if (w == 0 && idle_ok) {
			snprintf(errmsg, errmsg_size, "nothing received in time");
			return CONN_EIDLE;
		}
		if (w == 0) {
			return conn_fail(cn, CONN_ERECV, errmsg, errmsg_size, "receive",
			                 "timed out waiting for the reply");
		}
		if (w < 0) {
			return conn_fail(cn, CONN_ERECV, errmsg, errmsg_size, "receive",
			                 strerror(errno));
		}
	}
}

int client_conn_roundtrip(struct client_conn *cn, const void *req, size_t len, int64_t deadline_ms,
                          const struct resp_value **out, char *errmsg, size_t errmsg_size)
{
	if (cn->fd < 0) {
		snprintf(errmsg, errmsg_size, "not connected");
		return CONN_ECONNECT;
	}
	/* One request, one reply: anything already buffered (a late reply to an attempt
	 * that timed out would be closed with its connection, so this is the server
	 * speaking out of turn) means the stream cannot be trusted. */
	const struct resp_value *stray = NULL;
	int rc = resp_reader_next(&cn->rd, &stray);
	if (rc != WIRE_EAGAIN || wire_in_len(&cn->rd.in) != 0) {
		return conn_fail(cn, CONN_ESEND, errmsg, errmsg_size, "connection",
		                 "unexpected bytes from the server; reconnecting");
	}
	rc = conn_send_all(cn, req, len, deadline_ms, errmsg, errmsg_size);
	if (rc != CONN_OK) {
		return rc;
	}
	return conn_read(cn, deadline_ms, false, out, errmsg, errmsg_size);
}

int client_conn_next(struct client_conn *cn, int64_t deadline_ms, const struct resp_value **out,
                     char *errmsg, size_t errmsg_size)
{
	if (cn->fd < 0) {
		snprintf(errmsg, errmsg_size, "not connected");
		return CONN_ECONNECT;
	}
	return conn_read(cn, deadline_ms, true, out, errmsg, errmsg_size);
}
