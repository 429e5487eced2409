/* conn_tls.c: TLS for client connections, under conn.c, over memory BIOs (conn_tls.h). */
#include "server/conn_tls.h"

#include "base/alloc.h"
#include "net/tls.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>

void conn_tls_accept(struct conn *c)
{
	struct server *sv = c->l->sv;
	if (sv->client_tls == NULL)
		return;
	c->tls = xmalloc(sizeof(*c->tls));
	if (net_tls_init(c->tls, sv->client_tls, true, NULL) != 0) {
		free(c->tls);
		c->tls = NULL;
		conn_close(c);
		return;
	}
	c->tls_since_ms = uv_now(sv->loop);
}

void conn_tls_free(struct conn *c)
{
	if (c->tls == NULL)
		return;
	net_tls_free(c->tls);
	free(c->tls);
	c->tls = NULL;
}

bool conn_tls_ready(const struct conn *c)
{
	return c->tls == NULL || c->tls->done;
}

void conn_tls_alloc(struct conn *c, uv_buf_t *buf)
{
	*buf = uv_buf_init(c->tls->rbuf, sizeof(c->tls->rbuf));
}

/* Sends whatever ciphertext the session produced on its own (handshake, alerts). */
static void tls_send_pending(struct conn *c)
{
	if (!c->closing && net_tls_send(c->tls, (uv_stream_t *)&c->tcp, NULL, NULL) != 0)
		conn_close(c);
}

static void input_ended(struct conn *c)
{
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
	c->input_closed = true;
}

/* Advances the handshake; false while it is not done (or failed: lingering out). */
static bool tls_handshaken(struct conn *c)
{
	if (c->tls->done)
		return true;
	char why[512];
	int r = net_tls_handshake(c->tls, why, sizeof(why));
	tls_send_pending(c);
	if (r < 0) {
		c->l->st->tls_failures++;
		server_logf(c->l->sv, 1, "%s: client %" PRIu64 ": %s; closing", c->l->proto, c->id,
		            why);
		conn_linger(c);
		return false;
	}
	if (r == 0)
		return false;
	conn_flush(c); /* output queued before the handshake (a refusal) may go now */
	return true;
}

/* Decrypts into the frontend's space while it offers room and wants input. */
static void tls_pump(struct conn *c)
{
	if (c->closing || c->lingering || !tls_handshaken(c) || c->closing || c->lingering)
		return;
	while (c->reading && !c->input_closed) {
		char *space = NULL;
		size_t len = 0;
		if (c->l->ops->space(c, &space, &len) != 0 || len == 0) {
			/* No room: like UV_ENOBUFS, stop until the frontend asks again. */
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
			break;
		}
		long n = net_tls_read(c->tls, space, len);
		if (n == 0)
			break;
		if (n < 0) {
			input_ended(c);
			break;
		}
		c->received += (uint64_t)n;
		c->l->ops->commit(c, (size_t)n);
	}
	tls_send_pending(c);
	conn_serve_input(c);
}

void conn_tls_read(struct conn *c, ssize_t nread)
{
	if (nread < 0 && !c->tls->done) {
		conn_close(c); /* gone before its handshake finished: nothing is owed */
		return;
	}
	if (nread < 0) {
		/* No room cannot happen (the buffer is the session's): the end of the input. */
		input_ended(c);
		conn_serve_input(c);
		return;
	}
	c->last_active_ms = uv_now(c->l->sv->loop);
	net_tls_received(c->tls, (size_t)nread);
	tls_pump(c);
}

static void on_tls_idle(uv_idle_t *h)
{
	struct conn_listener *l = h->data;
	bool again = false;
	for (struct conn *c = l->conns; c != NULL; c = c->next) {
		if (!c->tls_pump)
			continue;
		c->tls_pump = false;
		if (!c->closing && c->reading)
			tls_pump(c);
		again = again || c->tls_pump;
	}
	if (!again)
		uv_idle_stop(h);
}

void conn_tls_resume(struct conn *c)
{
	struct conn_listener *l = c->l;
	if (!net_tls_has_input(c->tls) || c->tls_pump)
		return;
	c->tls_pump = true;
	if (!uv_is_active((uv_handle_t *)&l->tls_idle))
		uv_idle_start(&l->tls_idle, on_tls_idle);
}

void conn_tls_listener_init(struct conn_listener *l)
{
	uv_idle_init(l->sv->loop, &l->tls_idle);
	l->tls_idle.data = l;
	l->tls_idle_open = true;
}

void conn_tls_listener_close(struct conn_listener *l, uv_close_cb cb)
{
	if (l->tls_idle_open)
		uv_close((uv_handle_t *)&l->tls_idle, cb);
}

int conn_tls_write(struct conn *c, uv_write_cb cb)
{
	uv_buf_t buf = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
	return net_tls_write(c->tls, (uv_stream_t *)&c->tcp, &c->write_req, &buf, 1, cb);
}

void conn_tls_close_notify(struct conn *c)
{
	net_tls_shutdown(c->tls);
	tls_send_pending(c);
}
