/* resp_server.c: the RESP frontend: connections, ordered pipelined replies, commands mapped onto the node, relays to the leader. */
#include "server/resp_server.h"
#include "codec/resp.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* =================================================================================
 * Types
 */

/* How a committed write's struct kv_reply becomes a RESP reply. */
enum reply_kind {
	REPLY_OK,         /* +OK */
	REPLY_OK_OR_NULL, /* +OK if the condition held, else the null bulk (SET NX|XX) */
	REPLY_BOOL,       /* :1 if the condition held, else :0 (SETNX, MSETNX, CAS...) */
	REPLY_INTEGER,    /* :reply.integer (DEL, INCR..., APPEND) */
	REPLY_CLIENT_ID,  /* :reply.client_id (CONCORD.SESSION) */
};

struct conn;
struct command;

/* One reply owed to a client, in request order. */
struct slot {
	struct slot *next;       /* the connection's queue */
	struct slot *relay_next; /* a relay's in-flight list */
	struct slot *batch_next; /* a read batch */
	struct conn *c;
	bool done;         /* `out` holds the whole reply */
	bool holds_ref;    /* the node owes a callback: the connection waits for it */
	bool orphan;       /* the connection closed: free on completion */
	struct wire_buf out;
	/* A pending write. */
	enum reply_kind kind;
	uint64_t client_id, seq;
	/* A pending read: the command and a copy of its arguments. */
	const struct command *cmd;
	size_t argc;
	struct resp_arg *argv; /* one allocation with the bytes */
};

/* A client connection to the leader's client port, relaying one connection's commands. */
struct relay {
	struct conn *c;
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t write_req;
	uv_timer_t timer; /* no reply for too long with commands in flight: give up */
	int handles;      /* open handles: the socket and the timer */
	raft_id target;
	char address[128];
	bool connected;
	bool closing;
	bool write_busy;
	struct wire_buf out, writing;
	struct resp_reader reader;
	uint32_t skip; /* replies to swallow: the CONCORD.RELAY greeting */
	struct slot *head, *tail;
	uint32_t in_flight;
};

#define SCAN_CURSORS 16

struct scan_cursor {
	uint64_t id; /* 0: free */
	uint64_t used;
	char *start; /* the last key returned plus a zero byte */
	size_t start_len;
};

struct conn {
	struct conn *prev, *next;
	struct resp_server *s;
	uv_tcp_t tcp;
	uv_write_t write_req;
	struct resp_parser parser;
	struct wire_buf out, writing;
	bool write_busy;
	bool closing;
	bool quit;         /* QUIT or a protocol error: read no further command */
	bool input_closed; /* the client sent EOF: answer what it sent, then close */
	bool drained;      /* every complete command received was dispatched */
	bool reading;
	bool processing;
	bool relayed; /* a relay from another node: never relay further */
	uint32_t refs; /* the handle, the relay, and every slot the node owes */
	uint64_t id;
	struct slot *head, *tail;
	uint32_t pending;
	struct relay *relay;
	char *name;
	struct scan_cursor cursors[SCAN_CURSORS];
	uint64_t next_cursor;
	uint64_t cursor_clock;
};

/* Reads queued while parsing, confirmed together by one node_read. */
struct read_batch {
	struct resp_server *s;
	struct slot *head, *tail;
};

struct resp_server {
	struct server *sv;
	uv_tcp_t listener;
	bool listening;
	bool closing;
	int port;
	struct conn *conns;
	uint32_t n_conns;  /* open connections */
	uint32_t n_alive;  /* connections not yet freed (some wait for the node) */
	uint64_t next_id;
	struct read_batch *batch;
	void (*close_cb)(void *);
	void *close_arg;
	struct resp_server_stats st;
};

/* =================================================================================
 * Commands: a table of names, arities, flags and handlers
 */

enum {
	CMD_LOCAL = 1u << 0,  /* answered here, on any node */
	CMD_READ = 1u << 1,   /* a read of the store: the leader's, unless stale reads */
	CMD_WRITE = 1u << 2,  /* through the log: the leader */
	CMD_LEADER = 1u << 3, /* an admin command the leader carries out */
	CMD_EXEC = 1u << 4,   /* CONCORD.EXEC: runs the command it carries */
};

/* Builds the command of a write; returns 0 or writes an error into *err (static text
 * or err_buf) and returns -1. `puts`/`keys` are scratch the caller frees. */
struct build {
	struct kv_cmd cmd;
	enum reply_kind kind;
	struct kv_put *puts;
	struct kv_key *keys;
	char err[256];
};

typedef void (*local_fn)(struct conn *c, size_t argc, const struct resp_arg *argv,
			 struct wire_buf *out);
typedef int (*build_fn)(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			struct build *b);
typedef void (*read_fn)(struct conn *c, const struct kv *kv, size_t argc,
			const struct resp_arg *argv, struct wire_buf *out);
typedef void (*leader_fn)(struct conn *c, size_t argc, const struct resp_arg *argv,
			  struct wire_buf *out);

struct command {
	const char *name; /* upper case */
	int arity;        /* > 0: exactly; < 0: at least -arity (name included) */
	unsigned flags;
	int first_key;    /* argument index of the first key (for -MOVED), 0 if none */
	local_fn local;
	build_fn build;
	read_fn read;
	leader_fn leader;
};

static const struct command *command_find(const char *name, size_t len);
static size_t command_count(void);

/* =================================================================================
 * Small helpers
 */

static bool arg_is(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);
	return a->len == n && strncasecmp(a->data, s, n) == 0;
}

/* A decimal int64 as Redis accepts it: optional '-', digits, no spaces, no '+'. */
static bool arg_i64(const struct resp_arg *a, int64_t *out)
{
	if (a->len == 0 || a->len > 20)
		return false;
	char buf[24];
	memcpy(buf, a->data, a->len);
	buf[a->len] = '\0';
	if (buf[0] == '+' || buf[0] == ' ' || (buf[0] == '-' && buf[1] == '\0'))
		return false;
	if (a->len > 1 && buf[0] == '0')
		return false;
	if (a->len > 2 && buf[0] == '-' && buf[1] == '0')
		return false;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno != 0 || end != buf + a->len)
		return false;
	*out = v;
	return true;
}

static bool arg_u64(const struct resp_arg *a, uint64_t *out)
{
	if (a->len == 0 || a->len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < a->len; i++) {
		char ch = a->data[i];
		if (ch < '0' || ch > '9')
			return false;
		uint64_t d = (uint64_t)(ch - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool arg_double(const struct resp_arg *a, double *out)
{
	if (a->len == 0 || a->len > 30)
		return false;
	char buf[32];
	memcpy(buf, a->data, a->len);
	buf[a->len] = '\0';
	char *end = NULL;
	double v = strtod(buf, &end);
	if (end != buf + a->len)
		return false;
	*out = v;
	return true;
}

static void reply_errorf(struct wire_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply_errorf(struct wire_buf *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp_write_error(out, msg, strlen(msg));
}

static void reply_error(struct wire_buf *out, const char *msg)
{
	resp_write_error(out, msg, strlen(msg));
}

static void reply_bulk_str(struct wire_buf *out, const char *s)
{
	resp_write_bulk(out, s, strlen(s));
}

static void lower_name(const struct resp_arg *a, char *buf, size_t cap)
{
	size_t n = a->len < cap - 1 ? a->len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		char ch = a->data[i];
		buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		if ((unsigned char)buf[i] < 0x20 || buf[i] == '\'')
			buf[i] = '?';
	}
	buf[n] = '\0';
}

static void reply_wrong_args(struct wire_buf *out, const struct resp_arg *name)
{
	char lname[64];
	lower_name(name, lname, sizeof(lname));
	reply_errorf(out, "ERR wrong number of arguments for '%s' command", lname);
}

static void reply_syntax(struct wire_buf *out)
{
	reply_error(out, "ERR syntax error");
}

static void reply_not_int(struct wire_buf *out)
{
	reply_error(out, "ERR value is not an integer or out of range");
}

/* Keys under this prefix are the node's own (the replicated address book). */
#define RESERVED_PREFIX "\0concord/"
#define RESERVED_PREFIX_LEN 9

static bool key_reserved(const void *key, size_t len)
{
	return len >= RESERVED_PREFIX_LEN && memcmp(key, RESERVED_PREFIX, RESERVED_PREFIX_LEN) == 0;
}

/* Writes a parsed reply back out, as it came. */
static void write_value(struct wire_buf *out, const struct resp_value *v)
{
	switch (v->type) {
	case RESP_SIMPLE:
		resp_write_simple(out, v->str, v->len);
		break;
	case RESP_ERROR:
		resp_write_error(out, v->str, v->len);
		break;
	case RESP_INTEGER:
		resp_write_integer(out, v->integer);
		break;
	case RESP_BULK:
		resp_write_bulk(out, v->str, v->len);
		break;
	case RESP_NULL:
		resp_write_null(out);
		break;
	case RESP_ARRAY:
		resp_write_array(out, v->n);
		for (size_t i = 0; i < v->n; i++)
			write_value(out, &v->elems[i]);
		break;
	case RESP_NULL_ARRAY:
		resp_write_null_array(out);
		break;
	}
}

/* =================================================================================
 * Connections: output, reply slots, life cycle
 */

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static void relay_close(struct relay *r, const char *why);

static size_t conn_output_bytes(const struct conn *c)
{
	return c->out.len + c->writing.len;
}

static void conn_unref(struct conn *c)
{
	assert(c->refs > 0);
	if (--c->refs > 0)
		return;
	struct resp_server *s = c->s;
	resp_parser_free(&c->parser);
	wire_buf_free(&c->out);
	wire_buf_free(&c->writing);
	for (int i = 0; i < SCAN_CURSORS; i++)
		free(c->cursors[i].start);
	free(c->name);
	free(c);
	s->n_alive--;
	if (s->closing && s->n_alive == 0 && !s->listening && s->close_cb != NULL) {
		void (*cb)(void *) = s->close_cb;
		s->close_cb = NULL;
		cb(s->close_arg);
		free(s);
	}
}

static void slot_free(struct slot *sl)
{
	wire_buf_free(&sl->out);
	free(sl->argv);
	free(sl);
}

static struct slot *slot_new(struct conn *c)
{
	struct slot *sl = calloc(1, sizeof(*sl));
	if (sl == NULL)
		abort();
	sl->c = c;
	wire_buf_init(&sl->out, c->s->sv->output_hard_bytes);
	if (c->tail != NULL)
		c->tail->next = sl;
	else
		c->head = sl;
	c->tail = sl;
	c->pending++;
	return sl;
}

static void on_write(uv_write_t *req, int status);

static void conn_write(struct conn *c)
{
	if (c->closing || c->write_busy)
		return;
	if (c->out.err != 0) {
		server_logf(c->s->sv, 2, "resp: client %" PRIu64 ": output over %zu bytes; closing",
			    c->id, c->s->sv->output_hard_bytes);
		conn_close(c);
		return;
	}
	if (c->out.len == 0) {
		if ((c->quit || (c->input_closed && c->drained)) && c->pending == 0)
			conn_close(c);
		return;
	}
	struct wire_buf t = c->writing;
	c->writing = c->out;
	c->out = t;
	uv_buf_t buf = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
	int rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
	if (rv != 0) {
		conn_close(c);
		return;
	}
	c->write_busy = true;
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
	if (status < 0 || c->closing) {
		if (!c->closing)
			conn_close(c);
		return;
	}
	/* The handle outlives this callback (its close callback comes later). */
	conn_write(c);
	conn_process(c);
}

/* Moves the finished replies at the head of the queue to the output, in order. */
static void conn_flush(struct conn *c)
{
	while (c->head != NULL && c->head->done) {
		struct slot *sl = c->head;
		c->head = sl->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->pending--;
		if (sl->out.err != 0)
			c->out.err = sl->out.err;
		else
			wire_buf_append(&c->out, sl->out.data, sl->out.len);
		slot_free(sl);
	}
	conn_write(c);
}

/* Where a reply known now goes: straight to the output when nothing is owed before
 * it, else into a finished slot of its own. */
static struct wire_buf *conn_reply_now(struct conn *c)
{
	if (c->head == NULL)
		return &c->out;
	struct slot *sl = slot_new(c);
	sl->done = true;
	return &sl->out;
}

/* A slot's reply is complete (or the connection went away meanwhile). */
static void slot_finish(struct slot *sl)
{
	struct conn *c = sl->c;
	bool held = sl->holds_ref;
	sl->holds_ref = false;
	if (sl->orphan) {
		slot_free(sl);
	} else {
		sl->done = true;
		conn_flush(c);
		conn_process(c);
	}
	if (held)
		conn_unref(c);
}

static void on_close(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct resp_server *s = c->s;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	s->st.clients = s->n_conns;
	conn_unref(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->relay != NULL)
		relay_close(c->relay, "the client closed its connection");
	/* Finished replies go; unfinished ones stay with whoever owes them. */
	struct slot *sl = c->head;
	while (sl != NULL) {
		struct slot *next = sl->next;
		sl->next = NULL;
		if (sl->done)
			slot_free(sl);
		else
			sl->orphan = true;
		sl = next;
	}
	c->head = c->tail = NULL;
	c->pending = 0;
	uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* =================================================================================
 * Relays to the leader (forward mode)
 */

static void relay_on_close(uv_handle_t *h)
{
	struct relay *r = h->data;
	if (--r->handles > 0)
		return;
	struct conn *c = r->c;
	wire_buf_free(&r->out);
	wire_buf_free(&r->writing);
	resp_reader_free(&r->reader);
	free(r);
	conn_unref(c);
}

/* Answers every command in flight with an error and closes the relay. */
static void relay_close(struct relay *r, const char *why)
{
	if (r->closing)
		return;
	r->closing = true;
	if (r->c->relay == r)
		r->c->relay = NULL;
	struct slot *sl = r->head;
	r->head = r->tail = NULL;
	while (sl != NULL) {
		struct slot *next = sl->relay_next;
		sl->relay_next = NULL;
		/* Commands were sent only once connected: before that nothing happened. */
		if (r->connected)
			reply_errorf(&sl->out,
				     "UNKNOWN the connection to the leader at %s broke (%s); the "
				     "command may or may not have been applied",
				     r->address, why);
		else
			reply_errorf(&sl->out, "CLUSTERDOWN cannot reach the leader at %s: %s; retry",
				     r->address, why);
		slot_finish(sl);
		sl = next;
	}
	r->in_flight = 0;
	uv_close((uv_handle_t *)&r->tcp, relay_on_close);
	uv_close((uv_handle_t *)&r->timer, relay_on_close);
}

static void relay_on_timer(uv_timer_t *t)
{
	relay_close(t->data, "no reply in time");
}

/* (Re)arms the timer while commands are in flight. */
static void relay_timer_update(struct relay *r)
{
	if (r->closing)
		return;
	if (r->in_flight == 0) {
		uv_timer_stop(&r->timer);
		return;
	}
	uint64_t ms = 2 * (uint64_t)r->c->s->sv->request_timeout_ms + 1000;
	uv_timer_start(&r->timer, relay_on_timer, ms, 0);
}

static void relay_flush(struct relay *r);

static void relay_on_write(uv_write_t *req, int status)
{
	struct relay *r = req->data;
	r->write_busy = false;
	wire_buf_reset(&r->writing);
	if (r->closing)
		return;
	if (status < 0) {
		relay_close(r, uv_strerror(status));
		return;
	}
	relay_flush(r);
}

static void relay_flush(struct relay *r)
{
	if (r->closing || !r->connected || r->write_busy || r->out.len == 0)
		return;
	if (r->out.err != 0) {
		relay_close(r, "too much output queued");
		return;
	}
	struct wire_buf t = r->writing;
	r->writing = r->out;
	r->out = t;
	uv_buf_t buf = uv_buf_init(r->writing.data, (unsigned)r->writing.len);
	r->write_req.data = r;
	int rv = uv_write(&r->write_req, (uv_stream_t *)&r->tcp, &buf, 1, relay_on_write);
	if (rv != 0) {
		relay_close(r, uv_strerror(rv));
		return;
	}
	r->write_busy = true;
}

static void relay_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct relay *r = h->data;
	(void)suggested;
	char *space = NULL;
	size_t len = 0;
	if (resp_reader_space(&r->reader, 64 * 1024, &space, &len) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(space, (unsigned)len);
}

static void relay_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct relay *r = st->data;
	(void)buf;
	if (r->closing)
		return;
	if (nread < 0) {
		relay_close(r, nread == UV_EOF ? "the leader closed it" : uv_strerror((int)nread));
		return;
	}
	resp_reader_commit(&r->reader, (size_t)nread);
	for (;;) {
		const struct resp_value *v = NULL;
		int rv = resp_reader_next(&r->reader, &v);
		if (rv == WIRE_EAGAIN)
			break;
		if (rv != 0) {
			relay_close(r, resp_reader_errmsg(&r->reader));
			return;
		}
		if (r->skip > 0) {
			r->skip--;
			continue;
		}
		struct slot *sl = r->head;
		if (sl == NULL) {
			relay_close(r, "a reply nobody asked for");
			return;
		}
		r->head = sl->relay_next;
		if (r->head == NULL)
			r->tail = NULL;
		r->in_flight--;
		sl->relay_next = NULL;
		write_value(&sl->out, v);
		slot_finish(sl);
		if (r->closing)
			return;
		relay_timer_update(r);
	}
}

static void relay_on_connect(uv_connect_t *req, int status)
{
	struct relay *r = req->data;
	if (r->closing)
		return;
	if (status < 0) {
		relay_close(r, uv_strerror(status));
		return;
	}
	r->connected = true;
	uv_tcp_nodelay(&r->tcp, 1);
	int rv = uv_read_start((uv_stream_t *)&r->tcp, relay_alloc, relay_on_read);
	if (rv != 0) {
		relay_close(r, uv_strerror(rv));
		return;
	}
	relay_flush(r);
}

static struct relay *relay_open(struct conn *c, const struct node_member *leader)
{
	struct relay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	r->c = c;
	r->target = leader->id;
	snprintf(r->address, sizeof(r->address), "%s", leader->client);
	wire_buf_init(&r->out, c->s->sv->output_hard_bytes);
	wire_buf_init(&r->writing, c->s->sv->output_hard_bytes);
	struct resp_reader_limits lim;
	resp_reader_limits_default(&lim);
	lim.buffer_bytes_max = c->s->sv->output_hard_bytes;
	lim.bulk_bytes_max = c->s->sv->output_hard_bytes;
	if (resp_reader_init(&r->reader, &lim) != 0)
		abort();
	uv_tcp_init(c->s->sv->loop, &r->tcp);
	uv_timer_init(c->s->sv->loop, &r->timer);
	r->handles = 2;
	r->tcp.data = r;
	r->timer.data = r;
	r->connect_req.data = r;
	c->refs++;
	c->relay = r;
	/* Announce: the leader must not relay our commands any further. */
	static const char hello[] = "*1\r\n$13\r\nCONCORD.RELAY\r\n";
	wire_buf_append(&r->out, hello, sizeof(hello) - 1);
	r->skip = 1;
	struct sockaddr_storage sa;
	int rv = server_addr_parse(r->address, &sa);
	if (rv == 0)
		rv = uv_tcp_connect(&r->connect_req, &r->tcp, (const struct sockaddr *)&sa,
				    relay_on_connect);
	if (rv != 0) {
		relay_close(r, uv_strerror(rv));
		return NULL;
	}
	return r;
}

/* Sends the command to the leader; its reply fills a slot. */
static void relay_send(struct conn *c, const struct node_member *leader, size_t argc,
		       const struct resp_arg *argv)
{
	struct relay *r = c->relay;
	/* A relay to a former leader is replaced once nothing is in flight on it; until
	 * then commands keep their order on it (the former leader refuses what it can no
	 * longer do, and the client retries). */
	if (r != NULL && r->target != leader->id && r->in_flight == 0)
		relay_close(r, "the leader changed");
	if (c->relay == NULL && relay_open(c, leader) == NULL) {
		struct wire_buf *out = conn_reply_now(c);
		reply_errorf(out, "CLUSTERDOWN cannot reach the leader at %s; retry", leader->client);
		return;
	}
	r = c->relay;
	resp_write_array(&r->out, argc);
	for (size_t i = 0; i < argc; i++)
		resp_write_bulk(&r->out, argv[i].data, argv[i].len);
	struct slot *sl = slot_new(c);
	if (r->tail != NULL)
		r->tail->relay_next = sl;
	else
		r->head = sl;
	r->tail = sl;
	r->in_flight++;
	if (r->in_flight == 1)
		relay_timer_update(r);
	c->s->st.forwarded++;
	relay_flush(r);
}

/* =================================================================================
 * Reads: batched behind one node_read, then served from the store
 */

static void read_execute(struct slot *sl, const struct kv *kv)
{
	sl->cmd->read(sl->c, kv, sl->argc, sl->argv, &sl->out);
}

static void on_read_batch(void *arg, int status)
{
	struct read_batch *b = arg;
	struct resp_server *s = b->s;
	struct slot *sl = b->head;
	free(b);
	while (sl != NULL) {
		struct slot *next = sl->batch_next;
		sl->batch_next = NULL;
		if (!sl->orphan) {
			if (status == NODE_OK)
				read_execute(sl, node_kv(s->sv->node));
			else if (status == NODE_ENOTLEADER)
				reply_error(&sl->out, "CLUSTERDOWN leadership was lost before the read "
						      "was confirmed; retry");
			else if (status == NODE_ETIMEOUT)
				reply_error(&sl->out, "TRYAGAIN the read timed out waiting for a quorum; retry");
			else
				reply_errorf(&sl->out, "ERR read failed: %s", node_strerror(status));
		}
		slot_finish(sl);
		sl = next;
	}
}

/* Issues the reads collected so far. */
static void read_batch_flush(struct resp_server *s)
{
	struct read_batch *b = s->batch;
	if (b == NULL)
		return;
	s->batch = NULL;
	int rv = node_read(s->sv->node, false, on_read_batch, b);
	if (rv != 0)
		on_read_batch(b, rv);
}

static void read_enqueue(struct conn *c, const struct command *cmd, size_t argc,
			 const struct resp_arg *argv)
{
	struct resp_server *s = c->s;
	struct slot *sl = slot_new(c);
	sl->cmd = cmd;
	size_t bytes = 0;
	for (size_t i = 0; i < argc; i++)
		bytes += argv[i].len + 1;
	sl->argv = malloc(argc * sizeof(*sl->argv) + bytes);
	if (sl->argv == NULL)
		abort();
	char *p = (char *)(sl->argv + argc);
	for (size_t i = 0; i < argc; i++) {
		if (argv[i].len > 0)
			memcpy(p, argv[i].data, argv[i].len);
		p[argv[i].len] = '\0';
		sl->argv[i] = (struct resp_arg){.data = p, .len = argv[i].len};
		p += argv[i].len + 1;
	}
	sl->argc = argc;
	sl->holds_ref = true;
	c->refs++;
	if (s->batch == NULL) {
		s->batch = calloc(1, sizeof(*s->batch));
		if (s->batch == NULL)
			abort();
		s->batch->s = s;
	}
	if (s->batch->tail != NULL)
		s->batch->tail->batch_next = sl;
	else
		s->batch->head = sl;
	s->batch->tail = sl;
}

/* =================================================================================
 * Writes: through the log
 */

static void write_kv_error(struct wire_buf *out, const struct server *sv, int code,
			   uint64_t client_id, uint64_t seq)
{
	switch (code) {
	case KV_ENOTINT:
		reply_not_int(out);
		break;
	case KV_EOVERFLOW:
		reply_error(out, "ERR increment or decrement would overflow");
		break;
	case KV_EKEYTOOBIG:
		reply_errorf(out, "ERR key too large (limit %u bytes)", sv->limits.key_bytes_max);
		break;
	case KV_EVALUETOOBIG:
		reply_errorf(out, "ERR value too large (limit %u bytes)", sv->limits.value_bytes_max);
		break;
	case KV_ETOOMANY:
		reply_errorf(out, "ERR too many keys (limit %u)", sv->limits.keys_per_cmd_max);
		break;
	case KV_ESTALE:
		reply_errorf(out, "STALE sequence %" PRIu64 " is older than the last one session %" PRIu64
				  " applied", seq, client_id);
		break;
	case KV_ESESSION:
		reply_errorf(out, "SESSION session %" PRIu64 " expired or unknown; the outcome of "
				  "earlier writes is unknown", client_id);
		break;
	default:
		reply_errorf(out, "ERR %s", kv_strerror(code));
		break;
	}
}

static void on_write_done(void *arg, int status, const struct kv_reply *reply)
{
	struct slot *sl = arg;
	struct wire_buf *out = &sl->out;
	if (sl->orphan) {
		slot_finish(sl);
		return;
	}
	const struct server *sv = sl->c->s->sv;
	if (status == NODE_OK && reply->code != KV_OK) {
		write_kv_error(out, sv, reply->code, sl->client_id, sl->seq);
	} else if (status == NODE_OK) {
		switch (sl->kind) {
		case REPLY_OK:
			resp_write_ok(out);
			break;
		case REPLY_OK_OR_NULL:
			if (reply->succeeded)
				resp_write_ok(out);
			else
				resp_write_null(out);
			break;
		case REPLY_BOOL:
			resp_write_integer(out, reply->succeeded ? 1 : 0);
			break;
		case REPLY_INTEGER:
			resp_write_integer(out, reply->integer);
			break;
		case REPLY_CLIENT_ID:
			resp_write_integer(out, (int64_t)reply->client_id);
			break;
		}
	} else if (status == NODE_ELOST) {
		reply_error(out, "CLUSTERDOWN the leader changed before the write committed; it had "
				 "no effect; retry");
	} else if (status == NODE_ETIMEOUT) {
		reply_error(out, "UNKNOWN the write may or may not have been applied: timed out "
				 "waiting for a quorum; retry it under a session to apply it once");
	} else if (status == NODE_ESTOPPING) {
		reply_error(out, "UNKNOWN the write may or may not have been applied: the node is "
				 "shutting down");
	} else {
		reply_errorf(out, "UNKNOWN the write may or may not have been applied: %s",
			     node_strerror(status));
	}
	slot_finish(sl);
}

static void write_submit(struct conn *c, const struct command *cmd, size_t argc,
			 const struct resp_arg *argv, uint64_t client_id, uint64_t seq)
{
	struct resp_server *s = c->s;
	struct build b;
	memset(&b, 0, sizeof(b));
	if (cmd->build(s, argc, argv, &b) != 0) {
		free(b.puts);
		free(b.keys);
		reply_error(conn_reply_now(c), b.err);
		return;
	}
	if (client_id != 0) {
		b.cmd.client_id = client_id;
		b.cmd.seq = seq;
	}
	struct slot *sl = slot_new(c);
	sl->kind = b.kind;
	sl->client_id = client_id != 0 ? client_id : b.cmd.client_id;
	sl->seq = seq;
	int rv = node_write(s->sv->node, &b.cmd, on_write_done, sl);
	free(b.puts);
	free(b.keys);
	if (rv == 0) {
		sl->holds_ref = true;
		c->refs++;
		return;
	}
	switch (rv) {
	case NODE_ENOTLEADER:
		reply_error(&sl->out, "CLUSTERDOWN this node just lost leadership; retry");
		break;
	case NODE_EBUSY:
		reply_error(&sl->out, "TRYAGAIN a leadership transfer is under way; retry");
		break;
	case NODE_ETOOBIG:
		reply_error(&sl->out, "ERR command too large");
		break;
	case NODE_EINVAL:
		reply_error(&sl->out, "ERR keys starting with \\x00concord/ are reserved");
		break;
	default:
		reply_errorf(&sl->out, "ERR %s", node_strerror(rv));
		break;
	}
	slot_finish(sl);
}

/* Checks a key and value against the limits before proposing, for a precise error. */
static int check_put(struct resp_server *s, struct build *b, const struct resp_arg *key,
		     const struct resp_arg *value)
{
	const struct kv_limits *lim = &s->sv->limits;
	if (key->len > lim->key_bytes_max) {
		snprintf(b->err, sizeof(b->err), "ERR key too large (limit %u bytes)", lim->key_bytes_max);
		return -1;
	}
	if (value != NULL && value->len > lim->value_bytes_max) {
		snprintf(b->err, sizeof(b->err), "ERR value too large (limit %u bytes)",
			 lim->value_bytes_max);
		return -1;
	}
	if (key_reserved(key->data, key->len)) {
		snprintf(b->err, sizeof(b->err), "ERR keys starting with \\x00concord/ are reserved");
		return -1;
	}
	return 0;
}

static int check_count(struct resp_server *s, struct build *b, size_t n)
{
	if (n > s->sv->limits.keys_per_cmd_max) {
		snprintf(b->err, sizeof(b->err), "ERR too many keys (limit %u)",
			 s->sv->limits.keys_per_cmd_max);
		return -1;
	}
	return 0;
}

static void put_from(struct kv_put *p, const struct resp_arg *key, const struct resp_arg *value)
{
	p->key = key->data;
	p->key_len = key->len;
	if (value != NULL) {
		p->value = value->data;
		p->value_len = value->len;
	}
}

static int build_set(struct resp_server *s, size_t argc, const struct resp_arg *argv,
		     struct build *b)
{
	b->cmd.op = KV_OP_SET;
	b->kind = REPLY_OK;
	for (size_t i = 3; i < argc; i++) {
		const struct resp_arg *o = &argv[i];
		if (arg_is(o, "NX") || arg_is(o, "XX")) {
			if (b->cmd.put.cond.kind != KV_COND_NONE) {
				snprintf(b->err, sizeof(b->err), "ERR syntax error");
				return -1;
			}
			b->cmd.put.cond.kind = arg_is(o, "NX") ? KV_COND_ABSENT : KV_COND_PRESENT;
			b->kind = REPLY_OK_OR_NULL;
		} else if (arg_is(o, "EX") || arg_is(o, "PX") || arg_is(o, "EXAT") ||
			   arg_is(o, "PXAT") || arg_is(o, "KEEPTTL") || arg_is(o, "GET")) {
			char name[16];
			lower_name(o, name, sizeof(name));
			snprintf(b->err, sizeof(b->err),
				 "ERR SET option '%s' is not supported: Concord keeps no TTLs and a "
				 "write does not return the old value", name);
			return -1;
		} else {
			snprintf(b->err, sizeof(b->err), "ERR syntax error");
			return -1;
		}
	}
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	put_from(&b->cmd.put, &argv[1], &argv[2]);
	return 0;
}

static int build_setnx(struct resp_server *s, size_t argc, const struct resp_arg *argv,
		       struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_SET;
	b->kind = REPLY_BOOL;
	put_from(&b->cmd.put, &argv[1], &argv[2]);
	b->cmd.put.cond.kind = KV_COND_ABSENT;
	return 0;
}

static int build_del(struct resp_server *s, size_t argc, const struct resp_arg *argv,
		     struct build *b)
{
	size_t n = argc - 1;
	if (check_count(s, b, n) != 0)
		return -1;
	b->keys = malloc(n * sizeof(*b->keys));
	if (b->keys == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (check_put(s, b, &argv[i + 1], NULL) != 0)
			return -1;
		b->keys[i] = (struct kv_key){.data = argv[i + 1].data, .len = argv[i + 1].len};
	}
	b->cmd.op = KV_OP_DEL;
	b->cmd.n = n;
	b->cmd.keys = b->keys;
	b->kind = REPLY_INTEGER;
	return 0;
}

static int build_incr_common(struct resp_server *s, const struct resp_arg *key, int64_t delta,
			     struct build *b)
{
	if (check_put(s, b, key, NULL) != 0)
		return -1;
	b->cmd.op = KV_OP_INCRBY;
	b->cmd.delta = delta;
	put_from(&b->cmd.put, key, NULL);
	b->kind = REPLY_INTEGER;
	return 0;
}

static int build_incr(struct resp_server *s, size_t argc, const struct resp_arg *argv,
		      struct build *b)
{
	(void)argc;
	return build_incr_common(s, &argv[1], 1, b);
}

static int build_decr(struct resp_server *s, size_t argc, const struct resp_arg *argv,
		      struct build *b)
{
	(void)argc;
	return build_incr_common(s, &argv[1], -1, b);
}

static int build_incrby(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			struct build *b)
{
	(void)argc;
	int64_t d;
	if (!arg_i64(&argv[2], &d)) {
		snprintf(b->err, sizeof(b->err), "ERR value is not an integer or out of range");
		return -1;
	}
	return build_incr_common(s, &argv[1], d, b);
}

static int build_decrby(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			struct build *b)
{
	(void)argc;
	int64_t d;
	if (!arg_i64(&argv[2], &d)) {
		snprintf(b->err, sizeof(b->err), "ERR value is not an integer or out of range");
		return -1;
	}
	if (d == INT64_MIN) {
		snprintf(b->err, sizeof(b->err), "ERR decrement would overflow");
		return -1;
	}
	return build_incr_common(s, &argv[1], -d, b);
}

static int build_append(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_APPEND;
	put_from(&b->cmd.put, &argv[1], &argv[2]);
	b->kind = REPLY_INTEGER;
	return 0;
}

static int build_mset_common(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			     struct build *b, bool nx)
{
	if (argc % 2 != 1) {
		char lname[16];
		lower_name(&argv[0], lname, sizeof(lname));
		snprintf(b->err, sizeof(b->err), "ERR wrong number of arguments for '%s' command", lname);
		return -1;
	}
	size_t n = (argc - 1) / 2;
	if (check_count(s, b, n) != 0)
		return -1;
	b->puts = calloc(n, sizeof(*b->puts));
	if (b->puts == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct resp_arg *k = &argv[1 + 2 * i], *v = &argv[2 + 2 * i];
		if (check_put(s, b, k, v) != 0)
			return -1;
		put_from(&b->puts[i], k, v);
		if (nx)
			b->puts[i].cond.kind = KV_COND_ABSENT;
	}
	b->cmd.op = KV_OP_MSET;
	b->cmd.n = n;
	b->cmd.puts = b->puts;
	b->kind = nx ? REPLY_BOOL : REPLY_OK;
	return 0;
}

static int build_mset(struct resp_server *s, size_t argc, const struct resp_arg *argv,
		      struct build *b)
{
	return build_mset_common(s, argc, argv, b, false);
}

static int build_msetnx(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			struct build *b)
{
	return build_mset_common(s, argc, argv, b, true);
}

static int build_cas(struct resp_server *s, size_t argc, const struct resp_arg *argv,
		     struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[3]) != 0 || check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_CAS;
	put_from(&b->cmd.put, &argv[1], &argv[3]);
	b->cmd.put.cond = (struct kv_cond){
		.kind = KV_COND_VALUE, .value = argv[2].data, .value_len = argv[2].len};
	b->kind = REPLY_BOOL;
	return 0;
}

static int build_cas_rev(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			 struct build *b)
{
	(void)argc;
	uint64_t rev;
	if (!arg_u64(&argv[2], &rev)) {
		snprintf(b->err, sizeof(b->err), "ERR value is not an integer or out of range");
		return -1;
	}
	if (check_put(s, b, &argv[1], &argv[3]) != 0)
		return -1;
	b->cmd.op = KV_OP_CAS;
	put_from(&b->cmd.put, &argv[1], &argv[3]);
	b->cmd.put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = rev};
	b->kind = REPLY_BOOL;
	return 0;
}

static int build_cas_del(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			 struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_CAS;
	b->cmd.cas_delete = true;
	put_from(&b->cmd.put, &argv[1], NULL);
	b->cmd.put.cond = (struct kv_cond){
		.kind = KV_COND_VALUE, .value = argv[2].data, .value_len = argv[2].len};
	b->kind = REPLY_BOOL;
	return 0;
}

static int build_session(struct resp_server *s, size_t argc, const struct resp_arg *argv,
			 struct build *b)
{
	(void)s;
	if (argc == 1) {
		b->cmd.op = KV_OP_SESSION_OPEN;
		b->kind = REPLY_CLIENT_ID;
		return 0;
	}
	uint64_t id;
	if (argc != 3 || !arg_u64(&argv[2], &id) || id == 0) {
		snprintf(b->err, sizeof(b->err),
			 "ERR usage: CONCORD.SESSION | CONCORD.SESSION CLOSE id | CONCORD.SESSION "
			 "KEEPALIVE id");
		return -1;
	}
	if (arg_is(&argv[1], "CLOSE")) {
		b->cmd.op = KV_OP_SESSION_CLOSE;
	} else if (arg_is(&argv[1], "KEEPALIVE")) {
		b->cmd.op = KV_OP_SESSION_KEEPALIVE;
	} else {
		snprintf(b->err, sizeof(b->err), "ERR syntax error");
		return -1;
	}
	b->cmd.client_id = id;
	b->kind = REPLY_OK;
	return 0;
}

/* =================================================================================
 * Reads
 */

static void read_get(struct conn *c, const struct kv *kv, size_t argc,
		     const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	struct kv_value v;
	int rv = kv_get(kv, argv[1].data, argv[1].len, 0, &v);
	if (rv == 0)
		resp_write_bulk(out, v.value, v.value_len);
	else
		resp_write_null(out);
}

static void read_strlen(struct conn *c, const struct kv *kv, size_t argc,
			const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	struct kv_value v;
	int rv = kv_get(kv, argv[1].data, argv[1].len, 0, &v);
	resp_write_integer(out, rv == 0 ? (int64_t)v.value_len : 0);
}

static void read_exists(struct conn *c, const struct kv *kv, size_t argc,
			const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	int64_t n = 0;
	for (size_t i = 1; i < argc; i++)
		n += kv_exists(kv, argv[i].data, argv[i].len) ? 1 : 0;
	resp_write_integer(out, n);
}

static void read_type(struct conn *c, const struct kv *kv, size_t argc,
		      const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	bool e = kv_exists(kv, argv[1].data, argv[1].len);
	resp_write_simple(out, e ? "string" : "none", e ? 6 : 4);
}

static void read_ttl(struct conn *c, const struct kv *kv, size_t argc,
		     const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	resp_write_integer(out, kv_exists(kv, argv[1].data, argv[1].len) ? -1 : -2);
}

static void read_mget(struct conn *c, const struct kv *kv, size_t argc,
		      const struct resp_arg *argv, struct wire_buf *out)
{
	size_t n = argc - 1;
	const struct server *sv = c->s->sv;
	if (n > sv->limits.keys_per_cmd_max) {
		reply_errorf(out, "ERR too many keys (limit %u)", sv->limits.keys_per_cmd_max);
		return;
	}
	struct kv_key *keys = calloc(n, sizeof(*keys));
	struct kv_value *vals = calloc(n, sizeof(*vals));
	if (keys == NULL || vals == NULL)
		abort();
	bool too_big = false;
	for (size_t i = 0; i < n; i++) {
		keys[i] = (struct kv_key){.data = argv[i + 1].data, .len = argv[i + 1].len};
		too_big = too_big || argv[i + 1].len > sv->limits.key_bytes_max;
	}
	int rv = too_big ? KV_EKEYTOOBIG : kv_mget(kv, n, keys, 0, vals);
	if (rv != 0) {
		write_kv_error(out, sv, rv, 0, 0);
	} else {
		resp_write_array(out, n);
		for (size_t i = 0; i < n; i++) {
			if (vals[i].mod_revision == 0)
				resp_write_null(out);
			else
				resp_write_bulk(out, vals[i].value, vals[i].value_len);
		}
	}
	free(keys);
	free(vals);
}

static void read_concord_get(struct conn *c, const struct kv *kv, size_t argc,
			     const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	uint64_t rev = 0;
	if (argc == 4) {
		if (!arg_is(&argv[2], "REV")) {
			reply_syntax(out);
			return;
		}
		if (!arg_u64(&argv[3], &rev)) {
			reply_not_int(out);
			return;
		}
	} else if (argc != 2) {
		reply_syntax(out);
		return;
	}
	struct kv_value v;
	int rv = kv_get(kv, argv[1].data, argv[1].len, rev, &v);
	if (rv == KV_ENOTFOUND) {
		resp_write_null(out);
	} else if (rv == KV_ECOMPACTED) {
		reply_errorf(out, "COMPACTED revision %" PRIu64 " is compacted; oldest readable is %" PRIu64,
			     rev, kv_compact_revision(kv));
	} else if (rv == KV_EFUTURE) {
		reply_errorf(out, "ERR revision %" PRIu64 " is in the future (the store is at %" PRIu64 ")",
			     rev, kv_revision(kv));
	} else if (rv != 0) {
		write_kv_error(out, c->s->sv, rv, 0, 0);
	} else {
		resp_write_array(out, 4);
		resp_write_bulk(out, v.value, v.value_len);
		resp_write_integer(out, (int64_t)v.create_revision);
		resp_write_integer(out, (int64_t)v.mod_revision);
		resp_write_integer(out, (int64_t)v.version);
	}
}

/* A prefix pattern: "abc*" or "*". Returns false for anything else. */
static bool pattern_prefix(const struct resp_arg *p, size_t *prefix_len)
{
	if (p->len == 0 || p->data[p->len - 1] != '*')
		return false;
	for (size_t i = 0; i + 1 < p->len; i++) {
		char ch = p->data[i];
		if (ch == '*' || ch == '?' || ch == '[' || ch == '\\')
			return false;
	}
	*prefix_len = p->len - 1;
	return true;
}

struct scan_collect {
	struct wire_buf keys; /* the keys as bulk replies */
	size_t count;
	size_t max;
	const char *last;
	size_t last_len;
	bool over;
};

static int scan_collect_key(void *arg, const struct kv_value *v)
{
	struct scan_collect *sc = arg;
	if (key_reserved(v->key, v->key_len))
		return 0;
	if (sc->count == sc->max) {
		sc->over = true;
		return 1;
	}
	resp_write_bulk(&sc->keys, v->key, v->key_len);
	sc->count++;
	sc->last = v->key;
	sc->last_len = v->key_len;
	return 0;
}

static void read_keys(struct conn *c, const struct kv *kv, size_t argc,
		      const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	size_t plen;
	if (!pattern_prefix(&argv[1], &plen)) {
		reply_error(out, "ERR only prefix patterns ('abc*') are supported");
		return;
	}
	struct scan_collect sc = {.max = 10000};
	wire_buf_init(&sc.keys, c->s->sv->output_hard_bytes);
	bool more = false;
	int rv = kv_scan(kv, argv[1].data, plen, NULL, 0, 10001 + 2 * NODE_MAX_MEMBERS, 0,
			 scan_collect_key, &sc, &more);
	if (rv != 0)
		write_kv_error(out, c->s->sv, rv, 0, 0);
	else if (sc.over)
		reply_error(out, "ERR too many keys; use SCAN");
	else {
		resp_write_array(out, sc.count);
		wire_buf_append(out, sc.keys.data, sc.keys.len);
	}
	wire_buf_free(&sc.keys);
}

static struct scan_cursor *cursor_find(struct conn *c, uint64_t id)
{
	for (int i = 0; i < SCAN_CURSORS; i++)
		if (c->cursors[i].id == id)
			return &c->cursors[i];
	return NULL;
}

static struct scan_cursor *cursor_new(struct conn *c)
{
	struct scan_cursor *victim = &c->cursors[0];
	for (int i = 0; i < SCAN_CURSORS; i++) {
		if (c->cursors[i].id == 0) {
			victim = &c->cursors[i];
			break;
		}
		if (c->cursors[i].used < victim->used)
			victim = &c->cursors[i];
	}
	free(victim->start);
	memset(victim, 0, sizeof(*victim));
	victim->id = ++c->next_cursor;
	return victim;
}

static void read_scan(struct conn *c, const struct kv *kv, size_t argc,
		      const struct resp_arg *argv, struct wire_buf *out)
{
	uint64_t cursor;
	if (!arg_u64(&argv[1], &cursor)) {
		reply_error(out, "ERR invalid cursor");
		return;
	}
	const char *prefix = "";
	size_t plen = 0;
	uint64_t count = 10;
	for (size_t i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			reply_syntax(out);
			return;
		}
		if (arg_is(&argv[i], "MATCH")) {
			if (!pattern_prefix(&argv[i + 1], &plen)) {
				reply_error(out, "ERR only prefix patterns ('abc*') are supported");
				return;
			}
			prefix = argv[i + 1].data;
		} else if (arg_is(&argv[i], "COUNT")) {
			if (!arg_u64(&argv[i + 1], &count) || count == 0) {
				reply_not_int(out);
				return;
			}
			if (count > 1000)
				count = 1000;
		} else if (arg_is(&argv[i], "TYPE")) {
			if (!arg_is(&argv[i + 1], "string")) {
				resp_write_array(out, 2);
				resp_write_bulk(out, "0", 1);
				resp_write_array(out, 0);
				return;
			}
		} else {
			reply_syntax(out);
			return;
		}
	}
	struct scan_cursor *cur = NULL;
	if (cursor != 0) {
		cur = cursor_find(c, cursor);
		if (cur == NULL) {
			reply_error(out, "ERR invalid cursor");
			return;
		}
	}
	struct scan_collect sc = {.max = count};
	wire_buf_init(&sc.keys, c->s->sv->output_hard_bytes);
	bool more = false;
	int rv = kv_scan(kv, prefix, plen, cur != NULL ? cur->start : NULL,
			 cur != NULL ? cur->start_len : 0, count + 2 * NODE_MAX_MEMBERS, 0,
			 scan_collect_key, &sc, &more);
	if (rv != 0) {
		write_kv_error(out, c->s->sv, rv, 0, 0);
		wire_buf_free(&sc.keys);
		return;
	}
	uint64_t next = 0;
	if (sc.over || (more && sc.count > 0)) {
		if (cur == NULL)
			cur = cursor_new(c);
		char *start = malloc(sc.last_len + 1);
		if (start == NULL)
			abort();
		memcpy(start, sc.last, sc.last_len);
		start[sc.last_len] = '\0';
		free(cur->start);
		cur->start = start;
		cur->start_len = sc.last_len + 1;
		cur->used = ++c->cursor_clock;
		next = cur->id;
	} else if (cur != NULL) {
		free(cur->start);
		memset(cur, 0, sizeof(*cur));
	}
	char nbuf[24];
	int nlen = snprintf(nbuf, sizeof(nbuf), "%" PRIu64, next);
	resp_write_array(out, 2);
	resp_write_bulk(out, nbuf, (size_t)nlen);
	resp_write_array(out, sc.count);
	wire_buf_append(out, sc.keys.data, sc.keys.len);
	wire_buf_free(&sc.keys);
}

static int count_reserved(void *arg, const struct kv_value *v)
{
	(void)v;
	(*(uint64_t *)arg)++;
	return 0;
}

static uint64_t user_keys(const struct kv *kv)
{
	struct kv_stats st;
	kv_stats(kv, &st);
	uint64_t reserved = 0;
	kv_scan(kv, RESERVED_PREFIX, RESERVED_PREFIX_LEN, NULL, 0, 4 * NODE_MAX_MEMBERS, 0,
		count_reserved, &reserved, NULL);
	return st.keys >= reserved ? st.keys - reserved : 0;
}

static void read_dbsize(struct conn *c, const struct kv *kv, size_t argc,
			const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	(void)argv;
	resp_write_integer(out, (int64_t)user_keys(kv));
}

/* =================================================================================
 * Local commands
 */

static void local_ping(struct conn *c, size_t argc, const struct resp_arg *argv,
		       struct wire_buf *out)
{
	(void)c;
	if (argc == 1)
		resp_write_simple(out, "PONG", 4);
	else if (argc == 2)
		resp_write_bulk(out, argv[1].data, argv[1].len);
	else
		reply_wrong_args(out, &argv[0]);
}

static void local_echo(struct conn *c, size_t argc, const struct resp_arg *argv,
		       struct wire_buf *out)
{
	(void)c;
	(void)argc;
	resp_write_bulk(out, argv[1].data, argv[1].len);
}

static void local_select(struct conn *c, size_t argc, const struct resp_arg *argv,
			 struct wire_buf *out)
{
	(void)c;
	(void)argc;
	int64_t db;
	if (!arg_i64(&argv[1], &db))
		reply_not_int(out);
	else if (db != 0)
		reply_error(out, "ERR DB index is out of range");
	else
		resp_write_ok(out);
}

static void local_quit(struct conn *c, size_t argc, const struct resp_arg *argv,
		       struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	resp_write_ok(out);
	c->quit = true;
}

static void local_command(struct conn *c, size_t argc, const struct resp_arg *argv,
			  struct wire_buf *out)
{
	(void)c;
	if (argc >= 2 && arg_is(&argv[1], "COUNT"))
		resp_write_integer(out, (int64_t)command_count());
	else
		resp_write_array(out, 0);
}

static void local_config(struct conn *c, size_t argc, const struct resp_arg *argv,
			 struct wire_buf *out)
{
	(void)c;
	if (arg_is(&argv[1], "GET")) {
		if (argc != 3) {
			reply_error(out, "ERR wrong number of arguments for 'config|get' command");
		} else if (arg_is(&argv[2], "save")) {
			resp_write_array(out, 2);
			reply_bulk_str(out, "save");
			reply_bulk_str(out, "");
		} else if (arg_is(&argv[2], "appendonly")) {
			resp_write_array(out, 2);
			reply_bulk_str(out, "appendonly");
			reply_bulk_str(out, "yes");
		} else {
			resp_write_array(out, 0);
		}
	} else if (arg_is(&argv[1], "SET") || arg_is(&argv[1], "RESETSTAT") ||
		   arg_is(&argv[1], "REWRITE")) {
		reply_error(out, "ERR CONFIG SET is not supported; use concord's flags");
	} else {
		reply_error(out, "ERR unknown CONFIG subcommand");
	}
}

static void local_hello(struct conn *c, size_t argc, const struct resp_arg *argv,
			struct wire_buf *out)
{
	(void)c;
	(void)argc;
	(void)argv;
	reply_error(out, "NOPROTO this server speaks RESP2 only");
}

static void local_auth(struct conn *c, size_t argc, const struct resp_arg *argv,
		       struct wire_buf *out)
{
	(void)c;
	(void)argc;
	(void)argv;
	reply_error(out, "ERR AUTH <password> called without any password configured for the "
			 "default user. Are you sure your configuration is correct?");
}

static void local_client(struct conn *c, size_t argc, const struct resp_arg *argv,
			 struct wire_buf *out)
{
	if (arg_is(&argv[1], "SETNAME") && argc == 3) {
		if (argv[2].len > 256 || memchr(argv[2].data, ' ', argv[2].len) != NULL ||
		    memchr(argv[2].data, '\n', argv[2].len) != NULL) {
			reply_error(out, "ERR Client names cannot contain spaces, newlines or special "
					 "characters.");
			return;
		}
		free(c->name);
		c->name = NULL;
		if (argv[2].len > 0) {
			c->name = strndup(argv[2].data, argv[2].len);
			if (c->name == NULL)
				abort();
		}
		resp_write_ok(out);
	} else if (arg_is(&argv[1], "SETINFO") && argc == 4) {
		resp_write_ok(out);
	} else if (arg_is(&argv[1], "GETNAME") && argc == 2) {
		if (c->name == NULL)
			resp_write_null(out);
		else
			reply_bulk_str(out, c->name);
	} else if (arg_is(&argv[1], "ID") && argc == 2) {
		resp_write_integer(out, (int64_t)c->id);
	} else {
		reply_error(out, "ERR unknown CLIENT subcommand or wrong number of arguments; "
				 "supported: SETNAME, SETINFO, GETNAME, ID");
	}
}

static void local_relay(struct conn *c, size_t argc, const struct resp_arg *argv,
			struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	c->relayed = true;
	resp_write_ok(out);
}

static void local_info(struct conn *c, size_t argc, const struct resp_arg *argv,
		       struct wire_buf *out)
{
	struct resp_server *s = c->s;
	struct server *sv = s->sv;
	bool all = argc == 1 || arg_is(&argv[1], "all") || arg_is(&argv[1], "everything") ||
		   arg_is(&argv[1], "default");
	struct wire_buf t;
	wire_buf_init(&t, 1 << 20);
	struct node_status st;
	node_status(sv->node, &st);
	if (all || arg_is(&argv[1], "server")) {
		wire_buf_printf(&t,
				"# Server\r\nredis_version:7.0.0\r\nconcord_version:%s\r\n"
				"redis_mode:standalone\r\nprocess_id:%d\r\ntcp_port:%d\r\n"
				"uptime_in_seconds:%" PRIu64 "\r\n\r\n",
				sv->version, (int)getpid(), s->port,
				(uv_now(sv->loop) - sv->start_ms) / 1000);
	}
	if (all || arg_is(&argv[1], "clients")) {
		wire_buf_printf(&t, "# Clients\r\nconnected_clients:%u\r\n\r\n", s->n_conns);
	}
	if (all || arg_is(&argv[1], "replication")) {
		wire_buf_printf(&t, "# Replication\r\nrole:%s\r\n\r\n",
				st.role == RAFT_LEADER ? "master" : "slave");
	}
	if (all || arg_is(&argv[1], "concord")) {
		const struct node_member *self = node_self(sv->node);
		const struct node_member *leader = node_leader(sv->node);
		const struct kv *kv = node_kv(sv->node);
		wire_buf_printf(&t,
				"# Concord\r\nnode_id:%" PRIu64 "\r\nnode_name:%s\r\ncluster_id:%s\r\n"
				"raft_role:%s\r\nraft_term:%" PRIu64 "\r\nleader_id:%" PRIu64 "\r\n"
				"leader_client_addr:%s\r\ncommit_index:%" PRIu64 "\r\n"
				"applied_index:%" PRIu64 "\r\nrevision:%" PRIu64 "\r\nread_mode:%s\r\n"
				"follower_mode:%s\r\n\r\n",
				st.id, self != NULL ? self->name : "", sv->cluster_id, server_role_name(sv),
				st.term, st.leader, leader != NULL ? leader->client : "", st.commit,
				st.applied, kv_revision(kv), sv->stale_reads ? "stale" : "linearizable",
				sv->resp_follower == SERVER_FOLLOWER_FORWARD ? "forward" : "moved");
	}
	if (all || arg_is(&argv[1], "keyspace")) {
		wire_buf_printf(&t, "# Keyspace\r\ndb0:keys=%" PRIu64 ",expires=0,avg_ttl=0\r\n",
				user_keys(node_kv(sv->node)));
	}
	resp_write_bulk(out, t.data, t.len);
	wire_buf_free(&t);
}

/* CLUSTER SLOTS: one range, 0..16383, served by the leader, the followers as replicas. */
static void cluster_slots(struct conn *c, struct wire_buf *out)
{
	struct server *sv = c->s->sv;
	const struct node_member *leader = node_leader(sv->node);
	if (leader == NULL || leader->client[0] == '\0') {
		struct node_status st;
		node_status(sv->node, &st);
		reply_errorf(out, "CLUSTERDOWN no leader is known (term %" PRIu64 "); retry", st.term);
		return;
	}
	struct node_status st;
	node_status(sv->node, &st);
	const struct node_member *members[RAFT_MAX_MEMBERS * 3];
	size_t n = 0;
	members[n++] = leader;
	const raft_id *lists[2] = {st.conf.voters, st.conf.learners};
	uint32_t counts[2] = {st.conf.n_voters, st.conf.n_learners};
	for (int l = 0; l < 2; l++) {
		for (uint32_t i = 0; i < counts[l]; i++) {
			const struct node_member *m = node_member(sv->node, lists[l][i]);
			if (m != NULL && m->id != leader->id && m->client[0] != '\0')
				members[n++] = m;
		}
	}
	resp_write_array(out, 1);
	resp_write_array(out, 2 + n);
	resp_write_integer(out, 0);
	resp_write_integer(out, 16383);
	for (size_t i = 0; i < n; i++) {
		const char *addr = members[i]->client;
		const char *colon = strrchr(addr, ':');
		const char *host = addr;
		size_t hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
		if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
			host++;
			hlen -= 2;
		}
		char idbuf[64];
		int idlen = snprintf(idbuf, sizeof(idbuf), "concord-node-%040" PRIu64, members[i]->id);
		resp_write_array(out, 3);
		resp_write_bulk(out, host, hlen);
		resp_write_integer(out, colon != NULL ? strtol(colon + 1, NULL, 10) : 0);
		resp_write_bulk(out, idbuf, (size_t)idlen);
	}
}

static void local_cluster(struct conn *c, size_t argc, const struct resp_arg *argv,
			  struct wire_buf *out)
{
	if (arg_is(&argv[1], "SLOTS") && argc == 2) {
		cluster_slots(c, out);
	} else if (arg_is(&argv[1], "KEYSLOT") && argc == 3) {
		resp_write_integer(out, (int64_t)resp_key_slot(argv[2].data, argv[2].len));
	} else {
		char lname[32];
		lower_name(&argv[1], lname, sizeof(lname));
		reply_errorf(out, "ERR unsupported command 'cluster %s': only CLUSTER SLOTS and CLUSTER "
				  "KEYSLOT are served", lname);
	}
}

static void local_status(struct conn *c, size_t argc, const struct resp_arg *argv,
			 struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	struct wire_buf t;
	wire_buf_init(&t, 1 << 20);
	server_write_cluster_json(&t, c->s->sv);
	resp_write_bulk(out, t.data, t.len);
	wire_buf_free(&t);
}

/* CONCORD.FAULT SET peer|* [drop P] [delay-req MS] [delay-resp MS] [dup P] [block-out 0|1]
 * [block-in 0|1] / CONCORD.FAULT CLEAR peer|*: this node's links. */
static void local_fault(struct conn *c, size_t argc, const struct resp_arg *argv,
			struct wire_buf *out)
{
	struct server *sv = c->s->sv;
	raft_id peer = RAFT_NONE;
	if (!(argv[2].len == 1 && argv[2].data[0] == '*') &&
	    (!arg_u64(&argv[2], &peer) || peer == RAFT_NONE)) {
		reply_error(out, "ERR peer must be a node id or *");
		return;
	}
	if (arg_is(&argv[1], "CLEAR")) {
		if (argc != 3) {
			reply_syntax(out);
			return;
		}
		server_fault_clear(sv, peer);
		resp_write_ok(out);
		return;
	}
	if (!arg_is(&argv[1], "SET")) {
		reply_error(out, "ERR usage: CONCORD.FAULT SET peer|* [drop P] [delay-req MS] "
				 "[delay-resp MS] [dup P] [block-out 0|1] [block-in 0|1] | "
				 "CONCORD.FAULT CLEAR peer|*");
		return;
	}
	struct net_fault f;
	memset(&f, 0, sizeof(f));
	for (size_t i = 3; i < argc; i += 2) {
		if (i + 1 >= argc) {
			reply_syntax(out);
			return;
		}
		const struct resp_arg *o = &argv[i], *v = &argv[i + 1];
		double d = 0;
		uint64_t u = 0;
		if (arg_is(o, "drop") || arg_is(o, "dup")) {
			if (!arg_double(v, &d) || !(d >= 0 && d <= 1)) {
				reply_error(out, "ERR a probability must lie in [0, 1]");
				return;
			}
			if (arg_is(o, "drop"))
				f.drop_probability = d;
			else
				f.duplicate_probability = d;
		} else if (arg_is(o, "delay-req") || arg_is(o, "delay-resp") ||
			   arg_is(o, "jitter")) {
			if (!arg_u64(v, &u) || u > 600000) {
				reply_error(out, "ERR a delay is whole milliseconds, at most 600000");
				return;
			}
			if (arg_is(o, "delay-req")) {
				f.request_delay_ms = (uint32_t)u;
				f.request_delay_probability = u > 0 ? 1 : 0;
			} else if (arg_is(o, "delay-resp")) {
				f.response_delay_ms = (uint32_t)u;
				f.response_delay_probability = u > 0 ? 1 : 0;
			} else {
				f.reorder_jitter_ms = (uint32_t)u;
			}
		} else if (arg_is(o, "delay-req-p") || arg_is(o, "delay-resp-p")) {
			if (!arg_double(v, &d) || !(d >= 0 && d <= 1)) {
				reply_error(out, "ERR a probability must lie in [0, 1]");
				return;
			}
			if (arg_is(o, "delay-req-p"))
				f.request_delay_probability = d;
			else
				f.response_delay_probability = d;
		} else if (arg_is(o, "block-out") || arg_is(o, "block-in")) {
			if (!arg_u64(v, &u) || u > 1) {
				reply_error(out, "ERR block-out and block-in take 0 or 1");
				return;
			}
			if (arg_is(o, "block-out"))
				f.block_outbound = u == 1;
			else
				f.block_inbound = u == 1;
		} else {
			reply_syntax(out);
			return;
		}
	}
	int rv = server_fault_set(sv, peer, &f);
	if (rv != 0)
		reply_errorf(out, "ERR cannot set faults on the link to %" PRIu64 ": %s", peer,
			     node_strerror(rv));
	else
		resp_write_ok(out);
}

/* =================================================================================
 * Admin commands the leader carries out
 */

static void reply_node_error(struct wire_buf *out, int rv)
{
	if (rv == 0)
		resp_write_ok(out);
	else if (rv == NODE_ENOTLEADER)
		reply_error(out, "CLUSTERDOWN this node is not the leader; retry");
	else if (rv == NODE_EBUSY)
		reply_error(out, "TRYAGAIN a leadership transfer or configuration change is under way");
	else
		reply_errorf(out, "ERR %s", node_strerror(rv));
}

static void leader_transfer(struct conn *c, size_t argc, const struct resp_arg *argv,
			    struct wire_buf *out)
{
	(void)argc;
	uint64_t to;
	if (!arg_u64(&argv[1], &to) || to == 0) {
		reply_error(out, "ERR usage: CONCORD.TRANSFER node-id");
		return;
	}
	reply_node_error(out, node_transfer(c->s->sv->node, to));
}

static void leader_stepdown(struct conn *c, size_t argc, const struct resp_arg *argv,
			    struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	reply_node_error(out, node_step_down(c->s->sv->node));
}

static void leader_member(struct conn *c, size_t argc, const struct resp_arg *argv,
			  struct wire_buf *out)
{
	struct node *n = c->s->sv->node;
	uint64_t id;
	if (argc < 3 || !arg_u64(&argv[2], &id) || id == 0) {
		reply_error(out, "ERR usage: CONCORD.MEMBER ADD id name peer client http | "
				 "CONCORD.MEMBER PROMOTE id | CONCORD.MEMBER REMOVE id");
		return;
	}
	if (arg_is(&argv[1], "ADD") && argc == 7) {
		struct node_member m;
		memset(&m, 0, sizeof(m));
		m.id = id;
		const struct resp_arg *f[4] = {&argv[3], &argv[4], &argv[5], &argv[6]};
		char *dst[4] = {m.name, m.peer, m.client, m.http};
		size_t cap[4] = {sizeof(m.name), sizeof(m.peer), sizeof(m.client), sizeof(m.http)};
		for (int i = 0; i < 4; i++) {
			if (f[i]->len >= cap[i] || memchr(f[i]->data, '\n', f[i]->len) != NULL ||
			    memchr(f[i]->data, '\0', f[i]->len) != NULL) {
				reply_error(out, "ERR a member's name or address is too long or holds a "
						 "newline");
				return;
			}
			memcpy(dst[i], f[i]->data, f[i]->len);
		}
		struct sockaddr_storage sa;
		if (server_addr_parse(m.peer, &sa) != 0) {
			reply_error(out, "ERR the peer address must be numeric host:port");
			return;
		}
		reply_node_error(out, node_member_add_learner(n, &m));
	} else if (arg_is(&argv[1], "PROMOTE") && argc == 3) {
		reply_node_error(out, node_member_promote(n, id));
	} else if (arg_is(&argv[1], "REMOVE") && argc == 3) {
		reply_node_error(out, node_member_remove(n, id));
	} else {
		reply_syntax(out);
	}
}

/* =================================================================================
 * The table
 */

#define LOCAL(name, arity, fn) {name, arity, CMD_LOCAL, 0, fn, NULL, NULL, NULL}
#define READ(name, arity, key, fn) {name, arity, CMD_READ, key, NULL, NULL, fn, NULL}
#define WRITE(name, arity, key, fn) {name, arity, CMD_WRITE, key, NULL, fn, NULL, NULL}
#define LEADER(name, arity, fn) {name, arity, CMD_LEADER, 0, NULL, NULL, NULL, fn}

static const struct command commands[] = {
	READ("GET", 2, 1, read_get),
	WRITE("SET", -3, 1, build_set),
	WRITE("SETNX", 3, 1, build_setnx),
	WRITE("DEL", -2, 1, build_del),
	WRITE("UNLINK", -2, 1, build_del),
	READ("EXISTS", -2, 1, read_exists),
	WRITE("INCR", 2, 1, build_incr),
	WRITE("DECR", 2, 1, build_decr),
	WRITE("INCRBY", 3, 1, build_incrby),
	WRITE("DECRBY", 3, 1, build_decrby),
	WRITE("APPEND", 3, 1, build_append),
	READ("STRLEN", 2, 1, read_strlen),
	READ("MGET", -2, 1, read_mget),
	WRITE("MSET", -3, 1, build_mset),
	WRITE("MSETNX", -3, 1, build_msetnx),
	WRITE("CAS", 4, 1, build_cas),
	WRITE("CAS.REV", 4, 1, build_cas_rev),
	WRITE("CAS.DEL", 3, 1, build_cas_del),
	READ("CONCORD.GET", -2, 1, read_concord_get),
	READ("SCAN", -2, 0, read_scan),
	READ("KEYS", 2, 0, read_keys),
	READ("DBSIZE", 1, 0, read_dbsize),
	READ("TYPE", 2, 1, read_type),
	READ("TTL", 2, 1, read_ttl),
	READ("PTTL", 2, 1, read_ttl),
	LOCAL("PING", -1, local_ping),
	LOCAL("ECHO", 2, local_echo),
	LOCAL("SELECT", 2, local_select),
	LOCAL("QUIT", -1, local_quit),
	LOCAL("INFO", -1, local_info),
	LOCAL("COMMAND", -1, local_command),
	LOCAL("CONFIG", -2, local_config),
	LOCAL("HELLO", -1, local_hello),
	LOCAL("CLIENT", -2, local_client),
	LOCAL("AUTH", -2, local_auth),
	LOCAL("CLUSTER", -2, local_cluster),
	WRITE("CONCORD.SESSION", -1, 0, build_session),
	{"CONCORD.EXEC", -4, CMD_EXEC, 0, NULL, NULL, NULL, NULL},
	LOCAL("CONCORD.STATUS", 1, local_status),
	LOCAL("CONCORD.FAULT", -3, local_fault),
	LOCAL("CONCORD.RELAY", 1, local_relay),
	LEADER("CONCORD.TRANSFER", 2, leader_transfer),
	LEADER("CONCORD.STEPDOWN", 1, leader_stepdown),
	LEADER("CONCORD.MEMBER", -3, leader_member),
};

static const char *const unsupported[] = {
	"LPUSH", "RPUSH", "LPOP", "RPOP", "LRANGE", "LLEN", "LINDEX", "LSET", "LREM", "LTRIM",
	"LINSERT", "LPOS", "LMOVE", "BLPOP", "BRPOP", "RPOPLPUSH", "SADD", "SREM", "SMEMBERS",
	"SISMEMBER", "SCARD", "SPOP", "SRANDMEMBER", "SINTER", "SUNION", "SDIFF", "SSCAN",
	"HSET", "HGET", "HDEL", "HGETALL", "HMSET", "HMGET", "HINCRBY", "HKEYS", "HVALS", "HLEN",
	"HEXISTS", "HSCAN", "HSETNX", "ZADD", "ZREM", "ZRANGE", "ZSCORE", "ZCARD", "ZINCRBY",
	"ZRANK", "ZPOPMIN", "ZPOPMAX", "ZRANGEBYSCORE", "ZSCAN", "XADD", "XREAD", "XRANGE",
	"XLEN", "GEOADD", "GEORADIUS", "PFADD", "PFCOUNT", "PFMERGE", "SETBIT", "GETBIT",
	"BITCOUNT", "BITOP", "BITFIELD", "SUBSCRIBE", "PUBLISH", "PSUBSCRIBE", "UNSUBSCRIBE",
	"EVAL", "EVALSHA", "SCRIPT", "FUNCTION", "FCALL", "MULTI", "EXEC", "DISCARD", "WATCH",
	"UNWATCH", "GETSET", "GETDEL", "GETEX", "GETRANGE", "SETRANGE", "INCRBYFLOAT", "EXPIRE",
	"PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST", "SETEX", "PSETEX", "FLUSHALL", "FLUSHDB",
	"RENAME", "RENAMENX", "MOVE", "OBJECT", "DUMP", "RESTORE", "WAIT", "SAVE", "BGSAVE",
	"BGREWRITEAOF", "REPLICAOF", "SLAVEOF", "SWAPDB", "COPY", "RANDOMKEY", "SORT", "MONITOR",
	"SYNC", "PSYNC", "SHUTDOWN", "DEBUG", "LATENCY", "MEMORY", "SLOWLOG", "ACL", "LASTSAVE",
	"TIME", "READONLY", "READWRITE", "ASKING", "RESET",
};

static const struct command *command_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *cn = commands[i].name;
		if (strlen(cn) == len && strncasecmp(cn, name, len) == 0)
			return &commands[i];
	}
	return NULL;
}

static size_t command_count(void)
{
	return sizeof(commands) / sizeof(commands[0]);
}

static bool command_unsupported(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (strlen(unsupported[i]) == len && strncasecmp(unsupported[i], name, len) == 0)
			return true;
	return false;
}

static bool arity_ok(const struct command *cmd, size_t argc)
{
	return cmd->arity > 0 ? argc == (size_t)cmd->arity : argc >= (size_t)-cmd->arity;
}

/* =================================================================================
 * Dispatch
 */

/* Up to cap-1 bytes of an argument, as printable text for an error message. */
static void arg_printable(const struct resp_arg *a, char *buf, size_t cap)
{
	size_t n = a->len < cap - 1 ? a->len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a->data[i];
		buf[i] = ch < 0x20 || ch == 0x7f || ch == '\'' ? '?' : (char)ch;
	}
	buf[n] = '\0';
}

static void reply_unknown(struct wire_buf *out, size_t argc, const struct resp_arg *argv)
{
	char msg[400];
	char name[64];
	arg_printable(&argv[0], name, sizeof(name));
	int len = snprintf(msg, sizeof(msg), "ERR unknown command '%s', with args beginning with: ",
			   name);
	for (size_t i = 1; i < argc && len < 300; i++) {
		char a[40];
		arg_printable(&argv[i], a, sizeof(a));
		len += snprintf(msg + len, sizeof(msg) - (size_t)len, "'%s' ", a);
	}
	reply_error(out, msg);
}

/* A command that needs the leader reached a follower. */
static void dispatch_not_leader(struct conn *c, unsigned slot, size_t argc,
				const struct resp_arg *argv)
{
	struct resp_server *s = c->s;
	struct node_status st;
	node_status(s->sv->node, &st);
	const struct node_member *leader = node_leader(s->sv->node);
	if (leader == NULL || leader->id == st.id) {
		reply_errorf(conn_reply_now(c), "CLUSTERDOWN no leader is known (term %" PRIu64 "); retry",
			     st.term);
		return;
	}
	if (leader->client[0] == '\0') {
		reply_errorf(conn_reply_now(c),
			     "CLUSTERDOWN the leader (node %" PRIu64 ") has no known client address; "
			     "retry", leader->id);
		return;
	}
	if (c->relayed) {
		reply_errorf(conn_reply_now(c),
			     "CLUSTERDOWN this node is no longer the leader (node %" PRIu64 " at %s is); "
			     "retry", leader->id, leader->client);
		return;
	}
	if (s->sv->resp_follower == SERVER_FOLLOWER_REDIRECT) {
		s->st.redirected++;
		reply_errorf(conn_reply_now(c), "MOVED %u %s", slot, leader->client);
		return;
	}
	relay_send(c, leader, argc, argv);
}

static void dispatch(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	struct resp_server *s = c->s;
	s->st.commands++;
	const struct command *cmd = command_find(argv[0].data, argv[0].len);
	if (cmd == NULL) {
		char name[64];
		lower_name(&argv[0], name, sizeof(name));
		if (command_unsupported(argv[0].data, argv[0].len))
			reply_errorf(conn_reply_now(c),
				     "ERR unsupported command '%s': Concord stores strings only", name);
		else
			reply_unknown(conn_reply_now(c), argc, argv);
		return;
	}
	if (!arity_ok(cmd, argc)) {
		reply_wrong_args(conn_reply_now(c), &argv[0]);
		return;
	}
	/* CONCORD.EXEC id seq command args...: a write under a session, or a read. */
	const struct command *run = cmd;
	size_t rargc = argc;
	const struct resp_arg *rargv = argv;
	uint64_t client_id = 0, seq = 0;
	if (cmd->flags & CMD_EXEC) {
		if (!arg_u64(&argv[1], &client_id) || client_id == 0 || !arg_u64(&argv[2], &seq) ||
		    seq == 0) {
			reply_error(conn_reply_now(c),
				    "ERR usage: CONCORD.EXEC client-id seq command [arg ...] with "
				    "client-id and seq positive integers");
			return;
		}
		rargc = argc - 3;
		rargv = argv + 3;
		run = command_find(rargv[0].data, rargv[0].len);
		if (run == NULL || (run->flags & (CMD_READ | CMD_WRITE)) == 0 ||
		    run->build == build_session) {
			reply_error(conn_reply_now(c),
				    "ERR CONCORD.EXEC runs a key-value read or write command");
			return;
		}
		if (!arity_ok(run, rargc)) {
			reply_wrong_args(conn_reply_now(c), &rargv[0]);
			return;
		}
	}
	bool stale_ok = (run->flags & CMD_READ) != 0 && s->sv->stale_reads;
	bool needs_leader = (run->flags & (CMD_WRITE | CMD_LEADER)) != 0 ||
			    ((run->flags & CMD_READ) != 0 && !stale_ok);
	if (needs_leader) {
		struct node_status st;
		node_status(s->sv->node, &st);
		if (st.role != RAFT_LEADER) {
			/* A relay sends the whole command, CONCORD.EXEC included; -MOVED names
			 * the slot of the key of the command it carries. */
			unsigned slot = 0;
			if (run->first_key > 0 && (size_t)run->first_key < rargc)
				slot = resp_key_slot(rargv[run->first_key].data,
						     rargv[run->first_key].len);
			dispatch_not_leader(c, slot, argc, argv);
			return;
		}
	}
	if (run->local != NULL) {
		run->local(c, rargc, rargv, conn_reply_now(c));
	} else if (run->leader != NULL) {
		run->leader(c, rargc, rargv, conn_reply_now(c));
	} else if (run->read != NULL) {
		if (stale_ok)
			run->read(c, node_kv(s->sv->node), rargc, rargv, conn_reply_now(c));
		else
			read_enqueue(c, run, rargc, rargv);
	} else {
		write_submit(c, run, rargc, rargv, client_id, seq);
	}
}

/* =================================================================================
 * Reading from clients
 */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	char *space = NULL;
	size_t len = 0;
	if (resp_parser_space(&c->parser, 64 * 1024, &space, &len) != 0) {
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
	if (nread == UV_ENOBUFS) {
		/* The buffer is full of one unfinished command: the parser says so. */
		uv_read_stop(st);
		c->reading = false;
		conn_process(c);
		return;
	}
	if (nread < 0) {
		/* EOF: the client is gone, or half-closed (printf | nc). Answer what was
		 * asked, then close. */
		uv_read_stop(st);
		c->reading = false;
		c->input_closed = true;
		conn_process(c);
		return;
	}
	resp_parser_commit(&c->parser, (size_t)nread);
	conn_process(c);
}

static void conn_process(struct conn *c)
{
	struct resp_server *s = c->s;
	if (c->processing || c->closing)
		return;
	c->processing = true;
	c->refs++;
	bool paused = false;
	c->drained = false;
	while (!c->closing && !c->quit) {
		if (c->pending >= s->sv->pending_max || conn_output_bytes(c) >= s->sv->output_soft_bytes) {
			paused = true;
			break;
		}
		struct resp_cmd cmd;
		int rv = resp_parser_next(&c->parser, &cmd);
		if (rv == WIRE_EAGAIN) {
			c->drained = true;
			break;
		}
		if (rv != 0) {
			const char *msg = resp_parser_errmsg(&c->parser);
			reply_errorf(conn_reply_now(c), "ERR %s", msg[0] != '\0' ? msg : wire_strerror(rv));
			s->st.errors++;
			c->quit = true;
			break;
		}
		dispatch(c, cmd.argc, cmd.argv);
	}
	c->processing = false;
	read_batch_flush(s);
	if (!c->closing) {
		bool want = !paused && !c->quit && !c->input_closed;
		if (want && !c->reading) {
			if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
				c->reading = true;
		} else if (!want && c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
		}
		conn_write(c);
	}
	conn_unref(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct resp_server *s = server->data;
	if (status < 0 || s->closing)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	uv_tcp_init(s->sv->loop, &c->tcp);
	c->tcp.data = c;
	c->write_req.data = c;
	c->s = s;
	c->refs = 1;
	c->id = ++s->next_id;
	wire_buf_init(&c->out, s->sv->output_hard_bytes);
	wire_buf_init(&c->writing, s->sv->output_hard_bytes);
	resp_parser_init(&c->parser, NULL);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	s->n_alive++;
	s->st.clients = s->n_conns;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	s->st.connections++;
	if (s->n_conns > s->sv->max_clients) {
		s->st.rejected++;
		reply_error(&c->out, "ERR max number of clients reached");
		c->quit = true;
		conn_write(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_process(c);
}

/* =================================================================================
 * Life cycle
 */

int resp_server_start(struct resp_server **out, struct server *sv, const char *address,
		      char *errmsg, size_t len)
{
	struct sockaddr_storage sa;
	int rv = server_addr_parse(address, &sa);
	if (rv != 0) {
		snprintf(errmsg, len, "--listen-client %s: not a numeric host:port", address);
		return rv;
	}
	struct resp_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->sv = sv;
	s->listening = true;
	rv = server_listen(sv, &s->listener, &sa, on_connection, "--listen-client", address,
			   &s->port, errmsg, len);
	s->listener.data = s;
	if (rv != 0)
		return rv;
	*out = s;
	return 0;
}

int resp_server_port(const struct resp_server *s)
{
	return s->port;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct resp_server *s = h->data;
	s->listening = false;
	if (s->n_alive == 0 && s->close_cb != NULL) {
		void (*cb)(void *) = s->close_cb;
		s->close_cb = NULL;
		cb(s->close_arg);
		free(s);
	}
}

void resp_server_close(struct resp_server *s, void (*cb)(void *arg), void *arg)
{
	if (s->closing)
		return;
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

void resp_server_stats(const struct resp_server *s, struct resp_server_stats *out)
{
	*out = s->st;
}
