/* conn.c: the connection layer of the frontends: accept, read, ordered output, limits, linger, reference-counted close (conn.h). */
#include "server/conn.h"
#include "base/alloc.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything is freed and the listener closed: tell the owner, once. */
static void listener_maybe_done(struct conn_listener *l)
{
	if (l->closing && !l->listening && l->n_alive == 0) {
		void (*cb)(void *) = l->close_cb;
		void *arg = l->close_arg;
		free(l);
		if (cb != NULL)
			cb(arg);
	}
}

void conn_ref(struct conn *c)
{
	c->refs++;
}

void conn_unref(struct conn *c)
{
	assert(c->refs > 0);
	if (--c->refs > 0)
		return;
	struct conn_listener *l = c->l;
	const struct conn_ops *ops = l->ops;
	wire_buf_free(&c->out);
	wire_buf_free(&c->writing);
	ops->free(c);
	l->n_alive--;
	listener_maybe_done(l);
}

size_t conn_output_bytes(const struct conn *c)
{
	return c->out.len + c->writing.len;
}

bool conn_output_full(const struct conn *c)
{
	return conn_output_bytes(c) >= c->l->sv->output_soft_bytes;
}

static void on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct conn_listener *l = c->l;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	l->n_conns--;
	l->st->clients = l->n_conns;
	conn_unref(c);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->l->ops->closing(c);
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	c->write_busy = false;
	if (c->writing.cap > ((size_t)1 << 20)) {
		size_t max = c->writing.max_bytes;
		wire_buf_free(&c->writing);
		wire_buf_init(&c->writing, max);
	} else {
		wire_buf_reset(&c->writing);
	}
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	/* The handle outlives this callback (its close callback comes later). */
	conn_flush(c);
	c->l->ops->process(c);
}

void conn_flush(struct conn *c)
{
	if (c->closing || c->write_busy)
		return;
	if (c->out.err != 0) {
		server_logf(c->l->sv, 2, "%s: client %" PRIu64 ": output over %zu bytes; closing",
			    c->l->proto, c->id, c->l->sv->output_hard_bytes);
		conn_close(c);
		return;
	}
	if (c->out.len == 0) {
		c->l->ops->idle(c);
		return;
	}
	struct wire_buf t = c->writing;
	c->writing = c->out;
	c->out = t;
	uv_buf_t buf = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
	if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
		conn_close(c);
		return;
	}
	c->write_busy = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	if (c->lingering) {
		static char sink[65536];
		*buf = uv_buf_init(sink, sizeof(sink));
		return;
	}
	char *space = NULL;
	size_t len = 0;
	if (c->l->ops->space(c, &space, &len) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(space, (unsigned)len);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	(void)buf;
	if (c->closing)
		return;
	if (c->lingering) {
		if (nread < 0 || (c->discarded += (size_t)nread) > ((size_t)1 << 20))
			conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	if (nread > 0) {
		c->l->ops->commit(c, (size_t)nread);
	} else {
		/* No room (the buffer holds one unfinished request), or the end of the input
		 * (the client is gone, or half-closed: printf | nc). */
		uv_read_stop(st);
		c->reading = false;
		c->input_closed = c->input_closed || nread != UV_ENOBUFS;
	}
	c->l->ops->process(c);
}

void conn_set_reading(struct conn *c, bool want)
{
	if (c->closing || c->lingering)
		return;
	want = want && !conn_output_full(c);
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	if (status < 0 && !c->closing)
		conn_close(c);
}

void conn_linger(struct conn *c)
{
	if (c->closing || c->lingering)
		return;
	c->lingering = true;
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
		conn_close(c);
		return;
	}
	if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = true;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct conn_listener *l = h->data;
	l->listening = false;
	listener_maybe_done(l);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct conn_listener *l = server->data;
	if (status < 0 || l->closing)
		return;
	struct conn *c = l->ops->create(l);
	uv_tcp_init(l->sv->loop, &c->tcp);
	c->tcp.data = c;
	c->write_req.data = c;
	c->l = l;
	c->refs = 1;
	c->id = ++l->next_id;
	wire_buf_init(&c->out, l->sv->output_hard_bytes);
	wire_buf_init(&c->writing, l->sv->output_hard_bytes);
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->n_conns++;
	l->n_alive++;
	l->st->clients = l->n_conns;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	l->st->connections++;
	if (l->n_conns > l->sv->max_clients) {
		l->st->rejected++;
		l->ops->reject(c);
		conn_flush(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	l->ops->process(c);
}

int conn_listen(struct conn_listener **out, size_t size, struct server *sv,
		const struct conn_ops *ops, struct server_stats *st, const char *proto,
		const char *flag, const char *address, char *errmsg, size_t len)
{
	struct conn_listener *l = xcalloc(1, size);
	l->sv = sv;
	l->ops = ops;
	l->st = st;
	l->proto = proto;
	struct sockaddr_storage sa;
	int rv = server_addr_parse(address, &sa);
	if (rv != 0) {
		snprintf(errmsg, len, "%s %s: not a numeric host:port", flag, address);
		l->closing = true;
		listener_maybe_done(l);
		return rv;
	}
	l->listening = true;
	rv = server_listen(sv, &l->tcp, &sa, on_connection, flag, address, &l->port, errmsg, len);
	l->tcp.data = l;
	if (rv != 0) {
		l->closing = true;
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		return rv;
	}
	*out = l;
	return 0;
}

void conn_listener_close(struct conn_listener *l, void (*cb)(void *arg), void *arg)
{
	if (l->closing)
		return;
	l->closing = true;
	l->close_cb = cb;
	l->close_arg = arg;
	for (struct conn *c = l->conns; c != NULL; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
