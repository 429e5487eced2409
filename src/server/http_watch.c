/* http_watch.c: GET /v1/watch: a key, prefix or range watched as a chunked stream of JSON lines,
 * one per revision, served from this node's applied state (docs/http.md). */
#include "server/http_impl.h"
#include "server/watch.h"

#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_watch {
	struct watcher w;
	struct hconn *c;
	bool b64;
	bool ended;
};

/* A decoded query parameter into a new buffer. 0 absent, 1 present, -1 malformed. */
static int param(const struct http_request *q, const char *name, char **out, size_t *len)
{
	char *buf = xmalloc(q->query_len + 1);
	int rv = http_query_get(q->query, q->query_len, name, buf, q->query_len + 1, len);
	if (rv == 0) {
		*out = buf;
		return 1;
	}
	free(buf);
	return rv == WIRE_ENOTFOUND ? 0 : -1;
}

static bool param_is(const struct http_request *q, const char *name, const char *want)
{
	char v[16];
	size_t len = 0;
	return http_query_get(q->query, q->query_len, name, v, sizeof(v), &len) == 0 &&
	       len == strlen(want) && memcmp(v, want, len) == 0;
}

/* One chunk of the response body holding `line` and a newline. */
static void write_chunk(struct wire_buf *out, const struct wire_buf *line)
{
	wire_buf_printf(out, "%zx\r\n", line->len + 1);
	wire_buf_append(out, line->data, line->len);
	wire_buf_append_str(out, "\n\r\n");
}

static void end_stream(struct http_watch *hw, const char *reason, uint64_t compact_rev)
{
	struct hconn *c = hw->c;
	if (hw->ended)
		return;
	hw->ended = true;
	struct wire_buf line;
	wire_buf_init(&line, 4096);
	struct json_writer j;
	json_writer_init(&j, &line);
	json_write_object_begin(&j);
	json_write_key(&j, "canceled");
	json_write_bool(&j, true);
	json_write_key(&j, "reason");
	json_write_cstr(&j, reason);
	if (compact_rev != 0) {
		json_write_key(&j, "compact_revision");
		json_write_uint(&j, compact_rev);
	}
	json_write_object_end(&j);
	write_chunk(&c->conn.out, &line);
	wire_buf_free(&line);
	wire_buf_append_str(&c->conn.out, "0\r\n\r\n");
	c->busy = false;
	c->close_after = true;
	if (!c->conn.closing)
		conn_flush(&c->conn);
}

static size_t on_queued(struct watcher *w)
{
	struct http_watch *hw = w->arg;
	return conn_output_bytes(&hw->c->conn);
}

static void write_value(struct json_writer *j, const struct kv_value *v, bool b64, bool with_key)
{
	if (with_key)
		json_write_bytes_field(j, "key", v->key, v->key_len, b64);
	json_write_bytes_field(j, "value", v->value, v->value_len, b64);
	json_write_key(j, "create_revision");
	json_write_uint(j, v->create_revision);
	json_write_key(j, "mod_revision");
	json_write_uint(j, v->mod_revision);
	json_write_key(j, "version");
	json_write_uint(j, v->version);
}

static void on_deliver(struct watcher *w, uint64_t rev, const struct kv_event *ev, size_t n)
{
	struct http_watch *hw = w->arg;
	struct hconn *c = hw->c;
	struct wire_buf line;
	wire_buf_init(&line, c->s->sv->output_hard_bytes);
	struct json_writer j;
	json_writer_init(&j, &line);
	json_write_object_begin(&j);
	json_write_key(&j, "revision");
	json_write_uint(&j, rev);
	json_write_key(&j, "events");
	json_write_array_begin(&j);
	for (size_t i = 0; i < n; i++) {
		json_write_object_begin(&j);
		json_write_key(&j, "type");
		json_write_cstr(&j, ev[i].type == KV_EVENT_PUT ? "put" : "delete");
		write_value(&j, &ev[i].kv, hw->b64, true);
		if (ev[i].prev.mod_revision != 0) {
			json_write_key(&j, "prev_kv");
			json_write_object_begin(&j);
			write_value(&j, &ev[i].prev, hw->b64, false);
			json_write_object_end(&j);
		}
		json_write_object_end(&j);
	}
	json_write_array_end(&j);
	json_write_object_end(&j);
	size_t mark = conn_reply_begin(&c->conn);
	if (line.err == 0)
		write_chunk(&c->conn.out, &line);
	wire_buf_free(&line);
	if (line.err != 0 || conn_reply_overflowed(&c->conn, mark)) {
		watch_stop(w);
		end_stream(hw, "an event is larger than the output limit", 0);
		return;
	}
	conn_flush(&c->conn);
}

static void on_cancelled(struct watcher *w, const char *reason, uint64_t compact_rev)
{
	end_stream(w->arg, reason, compact_rev);
}

static const struct watcher_ops http_watch_ops = {on_queued, on_deliver, on_cancelled};

static void http_watch_free(struct http_watch *hw)
{
	free(hw->w.start);
	free(hw->w.end);
	free(hw);
}

/* The range the query names: key=, prefix=, or start= and end= (none: every key). */
static bool parse_range(struct hconn *c, struct http_watch *hw)
{
	const struct http_request *q = &c->req;
	char *v = NULL;
	size_t len = 0;
	int rv;
	if ((rv = param(q, "key", &v, &len)) != 0) {
		if (rv > 0)
			watch_range_key(v, len, &hw->w.start, &hw->w.start_len, &hw->w.end,
			                &hw->w.end_len);
	} else if ((rv = param(q, "prefix", &v, &len)) != 0) {
		if (rv > 0)
			watch_range_prefix(v, len, &hw->w.start, &hw->w.start_len, &hw->w.end,
			                   &hw->w.end_len);
	} else {
		rv = param(q, "start", &hw->w.start, &hw->w.start_len);
		if (rv >= 0 && param(q, "end", &hw->w.end, &hw->w.end_len) < 0)
			rv = -1;
	}
	free(v);
	if (rv < 0) {
		respond_error(c, 400, "malformed key, prefix, start or end parameter");
		return false;
	}
	return true;
}

/* The head of the stream and its first line: where it starts. */
static void write_head(struct hconn *c, const struct http_watch *hw, uint64_t kv_rev)
{
	struct wire_buf *out = &c->conn.out;
	http_write_status_line(out, 200);
	http_write_header(out, "Content-Type", "application/x-ndjson", 20);
	http_write_header(out, "Transfer-Encoding", "chunked", 7);
	http_write_header(out, "Cache-Control", "no-cache", 8);
	http_write_header(out, "Connection", "close", 5);
	http_write_end_head(out);
	struct wire_buf line;
	wire_buf_init(&line, 256);
	wire_buf_printf(&line,
	                "{\"watching\": true, \"start_revision\": %" PRIu64
	                ", \"revision\": %" PRIu64 "}",
	                hw->w.next_rev, kv_rev);
	write_chunk(out, &line);
	wire_buf_free(&line);
}

static int start_error(struct hconn *c, int rv, uint64_t from, uint64_t compact_rev)
{
	if (rv == KV_ECOMPACTED)
		respond_error(c, 410,
		              "required revision %" PRIu64
		              " has been compacted; compacted revision %" PRIu64,
		              from, compact_rev);
	else if (rv == KV_ETOOMANY)
		respond_error(c, 429, "too many watchers on this node (--watch-max)");
	else
		respond_error(c, 400, "empty range: start must be below end");
	return rv;
}

void route_watch(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	uint64_t from = 0;
	if (query_u64(&c->req, "rev", &from) < 0) {
		respond_error(c, 400, "rev must be a revision number");
		return;
	}
	struct http_watch *hw = xcalloc(1, sizeof(*hw));
	hw->c = c;
	hw->b64 = param_is(&c->req, "encoding", "base64");
	hw->w.prev_kv = param_is(&c->req, "prev_kv", "true") || param_is(&c->req, "prev_kv", "1");
	hw->w.ops = &http_watch_ops;
	hw->w.arg = hw;
	if (!parse_range(c, hw)) {
		http_watch_free(hw);
		return;
	}
	uint64_t compact_rev = 0;
	int rv = watch_start(c->s->sv, &hw->w, from, &compact_rev);
	if (rv != KV_OK) {
		start_error(c, rv, from, compact_rev);
		http_watch_free(hw);
		return;
	}
	c->watch = hw;
	c->busy = true; /* owed: no further request is parsed, the idle timeout waits */
	c->s->sv->http_stats.requests++;
	write_head(c, hw, kv_revision(node_kv(c->s->sv->node)));
	watch_pump(&hw->w);
	conn_flush(&c->conn);
}

bool http_watch_process(struct hconn *c)
{
	struct http_watch *hw = c->watch;
	if (hw == NULL || hw->ended)
		return false;
	if (c->conn.input_closed) {
		watch_stop(&hw->w); /* the client went away */
		hw->ended = true;
		c->busy = false;
		conn_close(&c->conn);
		return true;
	}
	watch_pump(&hw->w);
	return true;
}

void http_watch_closing(struct hconn *c)
{
	if (c->watch != NULL)
		watch_stop(&c->watch->w);
}

void http_watch_release(struct hconn *c)
{
	if (c->watch != NULL)
		http_watch_free(c->watch);
	c->watch = NULL;
}
