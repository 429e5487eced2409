/* relay.c: the relay to the leader both frontends use: connect, send in order, cut replies, time
 * out, close (relay.h). */
#include "server/relay.h"
#include "base/alloc.h"
#include "codec/wire.h"
#include "net/tls.h"
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct relay {
	const struct relay_ops *ops;
	void *arg;
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t write_req;
	uv_timer_t timer;
	int handles; /* open handles: the socket and the timer */
	uint64_t timeout_ms;
	uint64_t idle_ms; /* close when nothing was owed for this long; 0: never */
	bool connected;
	bool refused; /* the leader refused it before reading anything */
	bool closing;
	bool quiet; /* closed before it was ever started: no callback at all */
	bool write_busy;
	struct wire_buf out, writing, in;
	uint32_t owed;              /* replies still to come */
	struct ssl_ctx_st *tls_ctx; /* the leader's port speaks TLS; NULL: plain */
	struct net_tls *tls;        /* the session, once connected */
	char host[64];              /* the leader's numeric host, which its certificate names */
};

static void on_handle_closed(uv_handle_t *h)
{
	struct relay *r = h->data;
	if (--r->handles > 0)
		return;
	wire_buf_free(&r->out);
	wire_buf_free(&r->writing);
	wire_buf_free(&r->in);
	if (r->tls != NULL) {
		net_tls_free(r->tls);
		free(r->tls);
	}
	if (!r->quiet)
		r->ops->closed(r->arg);
	free(r);
}

void relay_close(struct relay *r)
{
	if (r->closing)
		return;
	r->closing = true;
	uv_close((uv_handle_t *)&r->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&r->timer, on_handle_closed);
}

static void relay_fail(struct relay *r, enum relay_error e, const char *why)
{
	if (r->closing)
		return;
	relay_close(r);
	r->ops->fail(r->arg, e, why);
}

bool relay_connected(const struct relay *r)
{
	return r->connected && !r->refused;
}

void relay_refused(struct relay *r)
{
	r->refused = true;
}

static void on_timer(uv_timer_t *t)
{
	struct relay *r = t->data;
	if (r->owed == 0)
		relay_fail(r, RELAY_EIDLE, "idle");
	else
		relay_fail(r, RELAY_ETIMEOUT, "no reply in time");
}

/* (Re)arms the timer: a reply's deadline while replies are owed, else the idle one. */
static void timer_update(struct relay *r)
{
	if (r->closing)
		return;
	if (r->owed > 0)
		uv_timer_start(&r->timer, on_timer, r->timeout_ms, 0);
	else if (r->idle_ms > 0)
		uv_timer_start(&r->timer, on_timer, r->idle_ms, 0);
	else
		uv_timer_stop(&r->timer);
}

void relay_set_idle(struct relay *r, uint64_t ms)
{
	r->idle_ms = ms;
	timer_update(r);
}

static void flush(struct relay *r);

static void on_write(uv_write_t *req, int status)
{
	struct relay *r = req->data;
	r->write_busy = false;
	wire_buf_reset(&r->writing);
	if (r->closing)
		return;
	if (status < 0) {
		relay_fail(r, RELAY_EBROKEN, uv_strerror(status));
		return;
	}
	flush(r);
}

static void flush(struct relay *r)
{
	if (r->closing || !r->connected || r->write_busy || r->out.len == 0)
		return;
	if (r->out.err != 0) {
		relay_fail(r, RELAY_ETOOBIG, "too much output queued");
		return;
	}
	struct wire_buf t = r->writing;
	r->writing = r->out;
	r->out = t;
	uv_buf_t buf = uv_buf_init(r->writing.data, (unsigned)r->writing.len);
	r->write_req.data = r;
	int rv =
	    r->tls != NULL
	        ? net_tls_write(r->tls, (uv_stream_t *)&r->tcp, &r->write_req, &buf, 1, on_write)
	        : uv_write(&r->write_req, (uv_stream_t *)&r->tcp, &buf, 1, on_write);
	if (rv != 0) {
		relay_fail(r, RELAY_EBROKEN, uv_strerror(rv));
		return;
	}
	r->write_busy = true;
}

void relay_send(struct relay *r, const void *data, size_t len, uint32_t replies)
{
	if (r->closing)
		return;
	wire_buf_append(&r->out, data, len);
	bool idle = r->owed == 0;
	r->owed += replies;
	if (idle)
		timer_update(r);
	flush(r);
}

static void on_tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct relay *r = h->data;
	(void)suggested;
	*buf = uv_buf_init(r->tls->rbuf, sizeof(r->tls->rbuf));
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct relay *r = h->data;
	(void)suggested;
	if (wire_buf_reserve(&r->in, 65536) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(r->in.data + r->in.len, (unsigned)(r->in.cap - r->in.len));
}

/* Hands every complete reply at the start of the input on; false if the relay closed. */
static bool cut_replies(struct relay *r, bool eof)
{
	size_t off = 0;
	while (!r->closing) {
		ssize_t n = r->ops->complete(r->in.data + off, r->in.len - off, eof);
		if (n < 0) {
			relay_fail(r, RELAY_EMALFORMED, "a malformed reply");
			break;
		}
		if (n == 0)
			break;
		if (r->owed == 0) {
			relay_fail(r, RELAY_EMALFORMED, "a reply nobody asked for");
			break;
		}
		r->owed--;
		r->ops->reply(r->arg, r->in.data + off, (size_t)n);
		off += (size_t)n;
		timer_update(r);
	}
	if (r->closing)
		return false;
	if (off > 0) {
		memmove(r->in.data, r->in.data + off, r->in.len - off);
		r->in.len -= off;
	}
	return true;
}

/* TLS: the handshake (the relay counts as connected once it is done), then plaintext
 * into r->in, cut into replies as it comes; false if the relay closed. */
static bool tls_input(struct relay *r, ssize_t nread)
{
	net_tls_received(r->tls, (size_t)nread);
	if (!r->tls->done) {
		char why[512];
		int hs = net_tls_handshake(r->tls, why, sizeof(why));
		net_tls_send(r->tls, (uv_stream_t *)&r->tcp, NULL, NULL);
		if (hs < 0)
			relay_fail(r, RELAY_ECONNECT, why);
		if (hs <= 0)
			return false;
		r->connected = true;
		flush(r);
	}
	while (!r->closing) {
		if (wire_buf_reserve(&r->in, 65536) != 0) {
			relay_fail(r, RELAY_ETOOBIG, "a reply too large");
			return false;
		}
		long got = net_tls_read(r->tls, r->in.data + r->in.len, r->in.cap - r->in.len);
		if (got == 0)
			break;
		if (got < 0) {
			if (cut_replies(r, true))
				relay_fail(r, RELAY_EBROKEN, "the leader closed it");
			return false;
		}
		r->in.len += (size_t)got;
		if (!cut_replies(r, false))
			return false;
	}
	return !r->closing;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct relay *r = st->data;
	(void)buf;
	if (r->closing)
		return;
	if (r->tls != NULL && nread > 0) {
		tls_input(r, nread);
		return;
	}
	if (nread == UV_ENOBUFS) {
		relay_fail(r, RELAY_ETOOBIG, "a reply too large");
		return;
	}
	if (nread < 0 && nread != UV_EOF) {
		relay_fail(r, RELAY_EBROKEN, uv_strerror((int)nread));
		return;
	}
	if (nread > 0)
		r->in.len += (size_t)nread;
	if (!cut_replies(r, nread == UV_EOF))
		return;
	if (nread == UV_EOF)
		relay_fail(r, RELAY_EBROKEN, "the leader closed it");
}

static void on_connect(uv_connect_t *req, int status)
{
	struct relay *r = req->data;
	if (r->closing)
		return;
	if (status < 0) {
		relay_fail(r, RELAY_ECONNECT, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&r->tcp, 1);
	if (r->tls_ctx != NULL) {
		r->tls = xmalloc(sizeof(*r->tls));
		char why[512];
		if (net_tls_init(r->tls, r->tls_ctx, false, r->host) != 0 ||
		    net_tls_handshake(r->tls, why, sizeof(why)) < 0 ||
		    net_tls_send(r->tls, (uv_stream_t *)&r->tcp, NULL, NULL) != 0) {
			relay_fail(r, RELAY_ECONNECT, "cannot start TLS");
			return;
		}
	} else {
		r->connected = true;
	}
	int rv = uv_read_start((uv_stream_t *)&r->tcp, r->tls != NULL ? on_tls_alloc : on_alloc,
	                       on_read);
	if (rv != 0) {
		relay_fail(r, RELAY_EBROKEN, uv_strerror(rv));
		return;
	}
	flush(r);
}

/* The numeric host of "a.b.c.d:port" or "[v6]:port". */
static void host_of(const char *address, char *out, size_t cap)
{
	const char *colon = strrchr(address, ':');
	size_t n = colon != NULL ? (size_t)(colon - address) : strlen(address);
	if (n >= 2 && address[0] == '[' && address[n - 1] == ']') {
		address++;
		n -= 2;
	}
	snprintf(out, cap, "%.*s", (int)n, address);
}

struct relay *relay_open(uv_loop_t *loop, const char *address, struct ssl_ctx_st *tls,
                         uint64_t timeout_ms, size_t max_bytes, const struct relay_ops *ops,
                         void *arg)
{
	struct relay *r = xcalloc(1, sizeof(*r));
	r->tls_ctx = tls;
	host_of(address, r->host, sizeof(r->host));
	r->ops = ops;
	r->arg = arg;
	r->timeout_ms = timeout_ms;
	wire_buf_init(&r->out, max_bytes);
	wire_buf_init(&r->writing, max_bytes);
	wire_buf_init(&r->in, max_bytes);
	uv_tcp_init(loop, &r->tcp);
	uv_timer_init(loop, &r->timer);
	r->handles = 2;
	r->tcp.data = r;
	r->timer.data = r;
	r->connect_req.data = r;
	struct sockaddr_storage sa;
	int rv = server_addr_parse(address, &sa);
	if (rv == 0)
		rv = uv_tcp_connect(&r->connect_req, &r->tcp, (const struct sockaddr *)&sa,
		                    on_connect);
	if (rv != 0) {
		r->quiet = true;
		relay_close(r);
		return NULL;
	}
	return r;
}
