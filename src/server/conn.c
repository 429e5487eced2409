/* conn.c: the connection layer of the frontends: accept, read, ordered output, limits, linger,
 * reference-counted close (conn.h). */
#include "server/conn.h"
#include "base/alloc.h"
#include "server/conn_tls.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything is freed and the listener closed: tell the owner, once. */
static void listener_maybe_done(struct conn_listener *l)
{
	if (l->closing && !l->listening && !l->timer_open && !l->tls_idle_open &&
	    l->soon_open == 0 && l->n_alive == 0) {
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
	conn_tls_free(c);
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

size_t conn_reply_begin(const struct conn *c)
{
	return c->out.err != 0 ? SIZE_MAX : c->out.len;
}

bool conn_reply_overflowed(struct conn *c, size_t mark)
{
	if (mark == SIZE_MAX || c->out.err != WIRE_ELIMIT)
		return false;
	c->out.len = mark;
	c->out.err = 0;
	conn_count_overflow(c);
	return true;
}

void conn_count_overflow(struct conn *c)
{
	c->l->st->overflows++;
}

static size_t conn_buffered(struct conn *c)
{
	return c->l->ops->buffered != NULL ? c->l->ops->buffered(c) : 0;
}

/* After the frontend served input: an unfinished request's clock starts, or restarts
 * when a command was consumed, and stops when nothing is left. */
static void input_progress(struct conn *c)
{
	if (c->closing)
		return;
	size_t buffered = conn_buffered(c);
	uint64_t consumed = c->received - buffered;
	if (buffered == 0)
		c->input_since_ms = 0;
	else if (c->input_since_ms == 0 || consumed != c->consumed)
		c->input_since_ms = uv_now(c->l->sv->loop);
	c->consumed = consumed;
}

static void conn_reject(struct conn *c)
{
	c->provisional = false;
	c->l->st->rejected++;
	c->l->ops->reject(c);
	conn_flush(c);
	conn_linger(c);
}

/* A connection held in the relay reserve: false while it may not be served. */
static bool conn_admit(struct conn *c)
{
	if (!c->provisional)
		return true;
	int r = c->l->ops->relay_check != NULL ? c->l->ops->relay_check(c) : -1;
	if (r > 0) {
		c->provisional = false;
		return true;
	}
	if (r < 0 || c->input_closed)
		conn_reject(c);
	else
		conn_set_reading(c, true);
	return false;
}

static void conn_resume_soon(struct conn *c);

/* Serves the input, once the connection is admitted. */
static void conn_process(struct conn *c)
{
	if (c->closing || !conn_admit(c))
		return;
	c->l->ops->process(c);
	input_progress(c);
}

void conn_serve_input(struct conn *c)
{
	conn_process(c);
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

/* The write of c->writing is over (in the kernel, or failed): its buffer is free again. */
static void write_over(struct conn *c)
{
	c->write_busy = false;
	c->last_active_ms = uv_now(c->l->sv->loop);
	c->out.max_bytes = c->l->sv->output_hard_bytes;
	if (c->writing.cap > ((size_t)1 << 20)) {
		size_t max = c->writing.max_bytes;
		wire_buf_free(&c->writing);
		wire_buf_init(&c->writing, max);
	} else {
		wire_buf_reset(&c->writing);
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	write_over(c);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	/* The handle outlives this callback (its close callback comes later). */
	conn_flush(c);
	if (!c->lingering)
		conn_process(c);
}

void conn_flush(struct conn *c)
{
	if (c->closing || c->write_busy || !conn_tls_ready(c))
		return;
	if (c->out.err != 0) {
		server_logf(c->l->sv, 2, "%s: client %" PRIu64 ": output over %zu bytes; closing",
		            c->l->proto, c->id, c->l->sv->output_hard_bytes);
		conn_count_overflow(c);
		conn_close(c);
		return;
	}
	if (c->out.len == 0) {
		if (!c->lingering)
			c->l->ops->idle(c);
		return;
	}
	struct wire_buf t = c->writing;
	c->writing = c->out;
	c->out = t;
	/* What is queued while this write runs counts against the same limit. */
	size_t hard = c->l->sv->output_hard_bytes;
	c->out.max_bytes = c->writing.len < hard ? hard - c->writing.len : 1;
	uv_buf_t buf = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
	if (c->tls == NULL) {
		/* Straight into the socket when it takes it all, as it mostly does: a write
		 * request would also cost an epoll_ctl() when it completes (libuv re-arms
		 * the watcher after every write). What follows a write (the idle hook,
		 * input paused for output) then runs in this iteration's check phase. */
		int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
		if (n == (int)buf.len) {
			/* Busy until then, as with a write request: replies finishing in this
			 * iteration gather behind it under the same output limit. The stall
			 * clock starts as for one too, should a timer sweep come first. */
			c->write_busy = true;
			c->output_since_ms = uv_now(c->l->sv->loop);
			c->output_left = SIZE_MAX;
			conn_resume_soon(c);
			return;
		}
		if (n < 0 && n != UV_EAGAIN) {
			conn_close(c);
			return;
		}
		if (n > 0)
			buf = uv_buf_init(buf.base + n, buf.len - (unsigned)n);
	}
	int rv = c->tls != NULL
	             ? conn_tls_write(c, on_write)
	             : uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
	if (rv != 0) {
		conn_close(c);
		return;
	}
	c->write_busy = true;
	c->output_since_ms = uv_now(c->l->sv->loop);
	c->output_left = SIZE_MAX;
}

static void soon_idle_cb(uv_idle_t *h)
{
	(void)h; /* being active, it keeps the loop from blocking before the check phase */
}

static void soon_check_cb(uv_check_t *h)
{
	struct conn_listener *l = h->data;
	uv_idle_stop(&l->soon_idle);
	uv_check_stop(&l->soon_check);
	/* Flushing may finish more replies (process() after a write): those go on a new list. */
	struct conn *c = l->soon;
	l->soon = NULL;
	while (c != NULL) {
		struct conn *next = c->soon_next;
		c->soon_next = NULL;
		c->flush_soon = false;
		bool resume = c->resume_soon;
		c->resume_soon = false;
		if (resume)
			write_over(c);
		if (!c->closing) {
			conn_flush(c);
			if (resume && !c->closing && !c->lingering)
				conn_process(c);
		}
		conn_unref(c);
		c = next;
	}
}

/* After a write that the socket took at once: what on_write() does, in this iteration's
 * check phase. */
static void conn_resume_soon(struct conn *c)
{
	if (c->l->closing || c->l->soon_open == 0) {
		write_over(c);
		conn_flush(c);
		return;
	}
	c->resume_soon = true;
	conn_flush_soon(c);
}

void conn_flush_soon(struct conn *c)
{
	struct conn_listener *l = c->l;
	if (c->flush_soon || c->closing)
		return;
	if (l->closing || l->soon_open == 0) {
		conn_flush(c);
		return;
	}
	c->flush_soon = true;
	conn_ref(c);
	c->soon_next = l->soon;
	if (l->soon == NULL) {
		uv_idle_start(&l->soon_idle, soon_idle_cb);
		uv_check_start(&l->soon_check, soon_check_cb);
	}
	l->soon = c;
}

static void on_soon_closed(uv_handle_t *h)
{
	struct conn_listener *l = h->data;
	l->soon_open--;
	listener_maybe_done(l);
}

static void soon_start(struct conn_listener *l)
{
	uv_check_init(l->sv->loop, &l->soon_check);
	uv_idle_init(l->sv->loop, &l->soon_idle);
	l->soon_check.data = l;
	l->soon_idle.data = l;
	l->soon_open = 2;
}

/* The connections waiting for a flush get it now; the handles go. */
static void soon_close(struct conn_listener *l)
{
	if (l->soon_open == 0)
		return;
	soon_check_cb(&l->soon_check);
	uv_close((uv_handle_t *)&l->soon_check, on_soon_closed);
	uv_close((uv_handle_t *)&l->soon_idle, on_soon_closed);
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
	if (c->tls != NULL) {
		conn_tls_alloc(c, buf);
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
	if (c->tls != NULL) {
		conn_tls_read(c, nread);
		return;
	}
	if (nread > 0) {
		c->last_active_ms = uv_now(c->l->sv->loop);
		c->received += (uint64_t)nread;
		c->l->ops->commit(c, (size_t)nread);
	} else {
		/* No room (the buffer holds one unfinished request), or the end of the input
		 * (the client is gone, or half-closed: printf | nc). */
		uv_read_stop(st);
		c->reading = false;
		c->input_closed = c->input_closed || nread != UV_ENOBUFS;
	}
	conn_process(c);
}

void conn_set_reading(struct conn *c, bool want)
{
	if (c->closing || c->lingering)
		return;
	want = want && !conn_output_full(c);
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
		if (c->reading && c->tls != NULL)
			conn_tls_resume(c);
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
	c->last_active_ms = uv_now(c->l->sv->loop);
	if (c->tls != NULL)
		conn_tls_close_notify(c);
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

static void on_timer_closed(uv_handle_t *h)
{
	struct conn_listener *l = h->data;
	l->timer_open = false;
	listener_maybe_done(l);
}

static void on_tls_idle_closed(uv_handle_t *h)
{
	struct conn_listener *l = h->data;
	l->tls_idle_open = false;
	listener_maybe_done(l);
}

static bool timed_out(uint64_t since, uint64_t now, uint64_t limit)
{
	return limit > 0 && since > 0 && now - since >= limit;
}

/* Whether the write in flight made no progress for `limit`: the bytes libuv still holds
 * for the socket did not go down since the sweep that last saw them go down. */
static bool write_stalled(struct conn *c, uint64_t now, uint64_t limit)
{
	size_t left = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
	if (left < c->output_left) {
		c->output_left = left;
		c->output_since_ms = now;
		return false;
	}
	return timed_out(c->output_since_ms, now, limit);
}

/* Closes the connection if one of its timeouts ran out. */
static void conn_check_timeouts(struct conn *c, uint64_t now)
{
	const struct server *sv = c->l->sv;
	const char *why = NULL;
	/* Lingering only lets the last response arrive: a few seconds will do. */
	uint64_t linger_ms =
	    sv->read_timeout_ms > 0 && sv->read_timeout_ms < 5000 ? sv->read_timeout_ms : 5000;
	if (c->lingering) {
		if (timed_out(c->last_active_ms, now, linger_ms))
			why = "lingered too long";
	} else if (!conn_tls_ready(c)) {
		if (timed_out(c->tls_since_ms, now, sv->read_timeout_ms))
			why = "the TLS handshake did not finish (--client-read-timeout)";
	} else if (c->provisional) {
		/* The reserve is for relays, which announce themselves at once: a connection
		 * held there without doing so, idle or trickling, gives its place back. */
		if (timed_out(c->accepted_ms, now, sv->read_timeout_ms))
			why =
			    "held in the relay reserve, no relay announced (--client-read-timeout)";
	} else if (c->write_busy && write_stalled(c, now, sv->write_timeout_ms)) {
		why = "it reads none of its replies (--client-write-timeout)";
	} else if (conn_buffered(c) > 0) {
		if (c->reading && timed_out(c->input_since_ms, now, sv->read_timeout_ms))
			why = "an unfinished request made no progress (--client-read-timeout)";
	} else if (!c->write_busy && c->out.len == 0 &&
	           (c->l->ops->owed == NULL || !c->l->ops->owed(c)) &&
	           timed_out(c->last_active_ms, now, sv->idle_timeout_ms)) {
		why = "idle (--client-idle-timeout)";
	}
	if (why == NULL)
		return;
	server_logf(sv, 0, "%s: client %" PRIu64 ": %s; closing", c->l->proto, c->id, why);
	c->l->st->timed_out++;
	conn_close(c);
}

static void on_sweep(uv_timer_t *t)
{
	struct conn_listener *l = t->data;
	uint64_t now = uv_now(l->sv->loop);
	for (struct conn *c = l->conns; c != NULL; c = c->next)
		if (!c->closing)
			conn_check_timeouts(c, now);
}

/* Sweeps a few times per shortest timeout, at most every second. */
static void sweep_start(struct conn_listener *l)
{
	uint64_t shortest = 0;
	const uint64_t limits[] = {l->sv->idle_timeout_ms, l->sv->read_timeout_ms,
	                           l->sv->write_timeout_ms};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (limits[i] > 0 && (shortest == 0 || limits[i] < shortest))
			shortest = limits[i];
	uv_timer_init(l->sv->loop, &l->timer);
	l->timer.data = l;
	l->timer_open = true;
	if (shortest == 0)
		return;
	uint64_t every = shortest / 4;
	every = every < 10 ? 10 : every > 1000 ? 1000 : every;
	uv_timer_start(&l->timer, on_sweep, every, every);
	uv_unref((uv_handle_t *)&l->timer);
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
	c->last_active_ms = uv_now(l->sv->loop);
	c->accepted_ms = c->last_active_ms;
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
	uv_tcp_nodelay(&c->tcp, 1);
	conn_tls_accept(c);
	if (c->closing)
		return;
	if (l->n_conns > l->sv->max_clients + l->sv->relay_reserve) {
		conn_reject(c);
		return;
	}
	c->provisional = l->n_conns > l->sv->max_clients;
	conn_process(c);
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
	sweep_start(l);
	if (sv->client_tls != NULL)
		conn_tls_listener_init(l);
	soon_start(l);
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
	soon_close(l);
	for (struct conn *c = l->conns; c != NULL; c = c->next)
		conn_close(c);
	if (l->timer_open)
		uv_close((uv_handle_t *)&l->timer, on_timer_closed);
	conn_tls_listener_close(l, on_tls_idle_closed);
	uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
