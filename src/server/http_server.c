/* http_server.c: the HTTP frontend's connections: one request at a time, responses, the relay to
 * the leader, life cycle. */
#include "server/http_impl.h"
#include "base/alloc.h"
#include "server/relay.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void hconn_process(struct hconn *c);

static struct hconn *hconn_of(struct conn *c)
{
	return (struct hconn *)c;
}

/* =================================================================================
 * Responses
 */

void respond(struct hconn *c, int status, const char *content_type, const void *body, size_t len,
             const struct http_header *extra, size_t n_extra)
{
	struct http_server *s = c->s;
	s->sv->http_stats.requests++;
	if (status >= 400)
		s->sv->http_stats.errors++;
	/* Latency by method (a bounded label set); "other" for the rest. */
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};
	size_t m = (size_t)c->req.method;
	if (m >= HTTP_METHOD_GET && m <= HTTP_METHOD_DELETE)
		server_latency_observe(&s->sv->http_latency, m - HTTP_METHOD_GET,
		                       methods[m - HTTP_METHOD_GET], c->start_ns);
	else
		server_latency_observe(&s->sv->http_latency, SERVER_LATENCY_SLOTS - 1, NULL,
		                       c->start_ns);
	bool close = !c->req.keep_alive || s->l.closing;
	struct http_response r = {
	    .status = status,
	    .content_type = content_type,
	    .body = body,
	    .body_len = len,
	    .close = close,
	    .head_only = c->head_only,
	    .extra = extra,
	    .extra_count = n_extra,
	};
	if (http_write_response(&c->conn.out, &r) == WIRE_EINVAL) {
		r.extra_count = 0;
		http_write_response(&c->conn.out, &r);
	}
	if (close)
		c->close_after = true;
}

void respond_json(struct hconn *c, int status, struct wire_buf *body,
                  const struct http_header *extra, size_t n_extra)
{
	if (body->err != 0) {
		static const char oops[] = "{\"error\": \"the response is too large\"}";
		respond(c, 500, "application/json", oops, sizeof(oops) - 1, NULL, 0);
		return;
	}
	respond(c, status, "application/json", body->data, body->len, extra, n_extra);
}

/* {"error": "<msg>"} */
void respond_error(struct hconn *c, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct wire_buf b;
	wire_buf_init(&b, 4096);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "error");
	json_write_cstr(&w, msg);
	json_write_object_end(&w);
	respond_json(c, status, &b, NULL, 0);
	wire_buf_free(&b);
}

void respond_retry(struct hconn *c, const char *fmt, ...)
{
	struct wire_buf b;
	wire_buf_init(&b, 4096);
	va_list ap;
	va_start(ap, fmt);
	char text[512];
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	wire_buf_append_str(&b, text);
	struct http_header h = {"Retry-After", 11, "1", 1};
	respond_json(c, 503, &b, &h, 1);
	wire_buf_free(&b);
}

bool request_json(struct hconn *c, struct json_doc **doc)
{
	char err[WIRE_ERRMSG_SIZE];
	*doc = NULL;
	if (json_parse(c->req.body, c->req.body_len, NULL, doc, err) == 0)
		return true;
	respond_error(c, 400, "bad JSON: %s", err);
	return false;
}

void respond_empty_object(struct hconn *c, int status)
{
	respond(c, status, "application/json", "{}", 2, NULL, 0);
}

void respond_method_not_allowed(struct hconn *c, const char *allow)
{
	struct http_header h = {"Allow", 5, allow, strlen(allow)};
	static const char body[] = "{\"error\": \"method not allowed\"}";
	respond(c, 405, "application/json", body, sizeof(body) - 1, &h, 1);
}

void http_wait(struct hconn *c)
{
	c->busy = true;
	conn_ref(&c->conn);
}

void http_done(struct hconn *c)
{
	c->busy = false;
	c->op = OP_NONE;
	free(c->key);
	c->key = NULL;
	if (!c->conn.closing) {
		conn_flush(&c->conn);
		hconn_process(c);
	}
	conn_unref(&c->conn);
}

/* =================================================================================
 * Not the leader
 */

static void relay_start(struct hconn *c, const struct node_member *leader);

/* Returns true if the request was answered or relayed: the caller stops. */
bool http_not_leader(struct hconn *c)
{
	struct server *sv = c->s->sv;
	struct node_status st;
	node_status(sv->node, &st);
	if (st.role == RAFT_LEADER)
		return false;
	raft_index removed = node_removed(sv->node);
	if (removed != 0) {
		respond_error(c, 410,
		              "this member (node %" PRIu64 ") was removed from the cluster by the "
		              "configuration at index %" PRIu64 " and is stopping",
		              st.id, removed);
		return true;
	}
	const struct node_member *leader = node_leader(sv->node);
	if (leader == NULL || leader->id == st.id) {
		respond_retry(c, "{\"error\": \"no leader\", \"term\": %" PRIu64 "}", st.term);
		return true;
	}
	bool forwarded = http_request_header(&c->req, "Concord-Forwarded") != NULL;
	if (sv->http_follower == SERVER_FOLLOWER_FORWARD && !forwarded && leader->http[0] != '\0') {
		relay_start(c, leader);
		return true;
	}
	if (leader->http[0] == '\0') {
		respond_error(c, 503,
		              "not the leader, and the leader (node %" PRIu64
		              ") has no known HTTP address",
		              leader->id);
		return true;
	}
	struct wire_buf url, b;
	wire_buf_init(&url, 16384);
	wire_buf_printf(&url, "http://%s", leader->http);
	wire_buf_append(&url, c->req.target, c->req.target_len);
	wire_buf_init(&b, 4096);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "error");
	json_write_cstr(&w, "not the leader");
	json_write_key(&w, "leader");
	char base[160];
	snprintf(base, sizeof(base), "http://%s", leader->http);
	json_write_cstr(&w, base);
	json_write_key(&w, "leader_id");
	json_write_uint(&w, leader->id);
	json_write_object_end(&w);
	struct http_header h = {"Location", 8, url.data, url.len};
	c->s->sv->http_stats.redirected++;
	respond_json(c, 421, &b, &h, url.err == 0 ? 1 : 0);
	wire_buf_free(&url);
	wire_buf_free(&b);
	return true;
}

/* =================================================================================
 * The relay to the leader: one connection per request, "Connection: close"
 */

/* The relay is over: the client has its answer (or is gone). */
static void relay_end(struct hconn *c)
{
	struct relay *r = c->relay;
	c->relay = NULL;
	relay_close(r);
	http_done(c);
}

/* The leader's headers to pass on: Content-Type into ctype, a few into extra. */
static size_t relay_headers(const char *p, const char *end, char *ctype, size_t ctype_cap,
                            size_t *body_len, struct http_header *extra, size_t cap)
{
	size_t n_extra = 0;
	const char *line = memchr(p, '\n', (size_t)(end - p));
	while (line != NULL && line < end) {
		line++;
		const char *eol = memchr(line, '\r', (size_t)(end + 2 - line));
		if (eol == NULL)
			break;
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon != NULL) {
			size_t nlen = (size_t)(colon - line);
			const char *v = colon + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(eol - v);
			if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
				snprintf(ctype, ctype_cap, "%.*s",
				         (int)(vlen < ctype_cap - 1 ? vlen : ctype_cap - 1), v);
			} else if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
				size_t cl = (size_t)strtoull(v, NULL, 10);
				if (cl < *body_len)
					*body_len = cl;
			} else if (n_extra < cap &&
			           ((nlen == 8 && strncasecmp(line, "Location", 8) == 0) ||
			            (nlen == 11 && strncasecmp(line, "Retry-After", 11) == 0) ||
			            (nlen == 5 && strncasecmp(line, "Allow", 5) == 0) ||
			            (nlen > 8 && strncasecmp(line, "Concord-", 8) == 0))) {
				extra[n_extra++] = (struct http_header){line, nlen, v, vlen};
			}
		}
		line = eol + 1;
	}
	return n_extra;
}

/* The whole response is in once the leader closes (it was asked to). */
static ssize_t relay_complete(const char *data, size_t len, bool eof)
{
	(void)data;
	if (!eof)
		return 0;
	return len > 0 ? (ssize_t)len : -1;
}

/* The leader's whole response is in: pass status, type, body and a few headers on. */
static void relay_reply(void *arg, const char *p, size_t len)
{
	struct hconn *c = arg;
	const char *end = p != NULL && len > 0 ? memmem(p, len, "\r\n\r\n", 4) : NULL;
	int status = len >= 12 && end != NULL && memcmp(p, "HTTP/1.", 7) == 0 ? atoi(p + 9) : 0;
	if (c->conn.closing) {
		/* nobody to answer */
	} else if (len < 12 || end == NULL || memcmp(p, "HTTP/1.", 7) != 0) {
		respond_error(c, 502, "malformed response from the leader");
	} else if (status < 100 || status > 599) {
		respond_error(c, 502, "malformed status from the leader");
	} else {
		const char *body = end + 4;
		size_t body_len = len - (size_t)(body - p);
		char ctype[128] = "";
		struct http_header extra[8];
		size_t n_extra = relay_headers(p, end, ctype, sizeof(ctype), &body_len, extra, 8);
		respond(c, status, ctype[0] != '\0' ? ctype : NULL, body, body_len, extra, n_extra);
	}
	relay_end(c);
}

static void relay_failed(void *arg, enum relay_error e, const char *why)
{
	struct hconn *c = arg;
	(void)why;
	bool sent = relay_connected(c->relay);
	c->relay = NULL;
	if (!c->conn.closing) {
		if (e == RELAY_ECONNECT)
			respond_error(c, 503, "cannot reach the leader");
		else if (e == RELAY_ETIMEOUT && !sent)
			respond_error(c, 503, "the leader did not answer in time");
		else if (e == RELAY_ETIMEOUT)
			respond_error(c, 504, "outcome unknown: the leader did not answer in time");
		else if (e == RELAY_EMALFORMED)
			respond_error(c, 502, "malformed response from the leader");
		else
			respond_error(c, 504,
			              "outcome unknown: the connection to the leader broke");
	}
	http_done(c);
}

static void relay_closed(void *arg)
{
	struct hconn *c = arg;
	conn_unref(&c->conn);
}

static const struct relay_ops relay_ops = {
    .complete = relay_complete,
    .reply = relay_reply,
    .fail = relay_failed,
    .closed = relay_closed,
};

/* The request as the leader gets it: marked forwarded, "Connection: close". */
static void relay_request(struct wire_buf *b, const struct http_request *q, const char *address)
{
	wire_buf_append(b, q->method_name, q->method_len);
	wire_buf_append(b, " ", 1);
	wire_buf_append(b, q->target, q->target_len);
	wire_buf_printf(b,
	                " HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	                "Concord-Forwarded: 1\r\nContent-Length: %zu\r\n",
	                address, q->body_len);
	/* Authorization too: the leader checks the user again. */
	static const char *const pass[] = {"Content-Type", "Concord-Client-Id", "Concord-Seq",
	                                   "Accept", "Authorization"};
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		const struct http_header *h = http_request_header(q, pass[i]);
		if (h != NULL) {
			wire_buf_append(b, h->name, h->name_len);
			wire_buf_append(b, ": ", 2);
			wire_buf_append(b, h->value, h->value_len);
			wire_buf_append(b, "\r\n", 2);
		}
	}
	wire_buf_append(b, "\r\n", 2);
	wire_buf_append(b, q->body, q->body_len);
}

static void relay_start(struct hconn *c, const struct node_member *leader)
{
	struct server *sv = c->s->sv;
	struct wire_buf req;
	wire_buf_init(&req, (size_t)64 << 20);
	relay_request(&req, &c->req, leader->http);
	uint64_t ms = 2 * (uint64_t)sv->request_timeout_ms + 1000;
	struct relay *r = req.err != 0 ? NULL
	                               : relay_open(sv->loop, leader->http, sv->relay_tls, ms,
	                                            sv->output_hard_bytes, &relay_ops, c);
	sv->http_stats.forwarded++;
	if (r == NULL) {
		wire_buf_free(&req);
		respond_error(c, 503, "cannot reach the leader");
		return;
	}
	http_wait(c);       /* the pending request */
	conn_ref(&c->conn); /* the relay's handles */
	c->relay = r;
	relay_send(r, req.data, req.len, 1);
	wire_buf_free(&req);
}

/* =================================================================================
 * The connection layer's callbacks
 */

static void hconn_process(struct hconn *c)
{
	if (c->processing || c->conn.closing)
		return;
	if (http_watch_process(c))
		return;
	c->processing = true;
	conn_ref(&c->conn);
	while (!c->conn.closing && !c->busy && !c->close_after && !conn_output_full(&c->conn)) {
		c->start_ns = uv_hrtime();
		int rv = http_parser_next(&c->parser, &c->req);
		if (rv == WIRE_EAGAIN) {
			if (http_parser_continue(&c->parser))
				http_write_continue(&c->conn.out);
			break;
		}
		if (rv != 0) {
			int status = http_parser_status(&c->parser);
			c->req = (struct http_request){.keep_alive = false};
			c->head_only = false;
			respond_error(c, status != 0 ? status : 400, "%s",
			              http_parser_errmsg(&c->parser));
			c->close_after = true;
			break;
		}
		http_route(c);
	}
	c->processing = false;
	if (!c->conn.closing && !c->conn.lingering) {
		conn_set_reading(&c->conn, !c->busy && !c->close_after && !c->conn.input_closed);
		conn_flush(&c->conn);
	}
	conn_unref(&c->conn);
}

static struct conn *on_create(struct conn_listener *l)
{
	struct hconn *c = xcalloc(1, sizeof(*c));
	c->s = (struct http_server *)l;
	if (http_parser_init(&c->parser, &c->s->sv->http_limits) != 0 &&
	    http_parser_init(&c->parser, NULL) != 0)
		abort();
	return &c->conn;
}

static void on_reject(struct conn *conn)
{
	struct hconn *c = hconn_of(conn);
	c->req.keep_alive = false;
	respond_error(c, 503, "too many clients");
}

static int on_space(struct conn *conn, char **buf, size_t *len)
{
	return http_parser_space(&hconn_of(conn)->parser, 64 * 1024, buf, len);
}

static void on_commit(struct conn *conn, size_t n)
{
	http_parser_commit(&hconn_of(conn)->parser, n);
}

static void on_process(struct conn *conn)
{
	if (http_snapshot_pump(hconn_of(conn)))
		return;
	hconn_process(hconn_of(conn));
}

static void on_idle(struct conn *conn)
{
	struct hconn *c = hconn_of(conn);
	if (c->busy || conn->lingering || !(c->close_after || c->conn.input_closed))
		return;
	if (c->conn.input_closed)
		conn_close(conn);
	else
		conn_linger(conn);
}

static void on_closing(struct conn *conn)
{
	struct hconn *c = hconn_of(conn);
	if (c->relay != NULL)
		relay_end(c);
	http_watch_closing(c);
	http_snapshot_closing(c);
}

static void on_free(struct conn *conn)
{
	struct hconn *c = hconn_of(conn);
	http_parser_free(&c->parser);
	http_watch_release(c);
	free(c->key);
	free(c);
}

static size_t on_buffered(struct conn *conn)
{
	return wire_in_len(&hconn_of(conn)->parser.in);
}

static bool on_owed(struct conn *conn)
{
	return hconn_of(conn)->busy;
}

/* Whether the head received so far carries the header a relay adds. */
static int on_relay_check(struct conn *conn)
{
	const struct wire_in *in = &hconn_of(conn)->parser.in;
	size_t len = wire_in_len(in);
	const char *p = len > 0 ? in->data + in->start : NULL;
	const char *end = p != NULL ? memmem(p, len, "\r\n\r\n", 4) : NULL;
	if (end == NULL)
		return len < hconn_of(conn)->parser.lim.header_bytes_max ? 0 : -1;
	static const char name[] = "\r\nconcord-forwarded:";
	for (const char *q = p; q + sizeof(name) - 1 <= end + 2; q++)
		if (strncasecmp(q, name, sizeof(name) - 1) == 0)
			return 1;
	return -1;
}

static const struct conn_ops http_conn_ops = {
    .create = on_create,
    .reject = on_reject,
    .space = on_space,
    .commit = on_commit,
    .process = on_process,
    .idle = on_idle,
    .closing = on_closing,
    .free = on_free,
    .buffered = on_buffered,
    .owed = on_owed,
    .relay_check = on_relay_check,
};

/* =================================================================================
 * Life cycle
 */

int http_server_start(struct http_server **out, struct server *sv, const char *address,
                      char *errmsg, size_t len)
{
	struct conn_listener *l = NULL;
	int rv = conn_listen(&l, sizeof(struct http_server), sv, &http_conn_ops, &sv->http_stats,
	                     "http", "--listen-http", address, errmsg, len);
	if (rv != 0)
		return rv;
	struct http_server *s = (struct http_server *)l;
	s->sv = sv;
	*out = s;
	return 0;
}

int http_server_port(const struct http_server *s)
{
	return s->l.port;
}

void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg)
{
	conn_listener_close(&s->l, cb, arg);
}
