/* http_range.c: etcd-style ranges over HTTP: GET /v1/kv?key=&range_end= (limit, rev, keys_only,
 * count_only) and DELETE /v1/kv by range or prefix, one revision (docs/http.md). */
#include "server/http_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most keys one range read lists (and its default): page on with `next`. */
#define HTTP_RANGE_LIMIT_MAX 1000u

/* The range of a request: key and range_end (etcd's names and rules), or prefix. */
struct qrange {
	struct kv_range r;
	char *key, *end; /* owned */
	unsigned char *pend;
};

static void qrange_free(struct qrange *q)
{
	free(q->key);
	free(q->end);
	free(q->pend);
}

/* 0, or -1 (malformed, or prefix given with key). */
static int qrange_parse(const struct http_request *req, struct qrange *q)
{
	memset(q, 0, sizeof(*q));
	size_t kl = 0, el = 0, pl = 0;
	char *prefix = NULL;
	int k = query_bytes(req, "key", &q->key, &kl);
	int e = query_bytes(req, "range_end", &q->end, &el);
	int p = query_bytes(req, "prefix", &prefix, &pl);
	int rv = k < 0 || e < 0 || p < 0 || (p > 0 && (k > 0 || e > 0)) ? -1 : 0;
	if (rv == 0 && p > 0) {
		q->pend = xmalloc(pl > 0 ? pl : 1);
		q->r = (struct kv_range){prefix, pl, q->pend, kv_prefix_end(prefix, pl, q->pend)};
		q->key = prefix;
		return 0;
	}
	free(prefix);
	if (rv == 0 && k == 0 && e == 0) {
		q->r = (struct kv_range){"", 0, "", 1}; /* everything */
		return 0;
	}
	q->r = (struct kv_range){q->key != NULL ? q->key : "", kl, q->end, el};
	return rv;
}

bool http_range_check(const struct http_request *q,
                      bool (*check)(void *arg, const struct kv_range *r), void *arg)
{
	struct qrange qr;
	bool ok = qrange_parse(q, &qr) != 0 || check(arg, &qr.r);
	qrange_free(&qr);
	return ok;
}

bool http_range_wanted(const struct http_request *q)
{
	char v[8];
	size_t len;
	static const char *const names[] = {"key", "range_end", "count_only"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (http_query_get(q->query, q->query_len, names[i], v, sizeof(v), &len) !=
		    WIRE_ENOTFOUND)
			return true;
	return false;
}

struct range_list {
	struct json_writer *w;
	bool b64, keys_only;
	const void *last;
	size_t last_len;
};

static int range_one(void *arg, const struct kv_value *v)
{
	struct range_list *rl = arg;
	json_write_object_begin(rl->w);
	write_kv_fields(rl->w, v, rl->b64, rl->keys_only);
	json_write_object_end(rl->w);
	rl->last = v->key;
	rl->last_len = v->key_len;
	return 0;
}

static void range_tail(struct hconn *c, struct json_writer *w, const struct range_list *rl,
                       uint64_t count, bool more)
{
	json_write_key(w, "count");
	json_write_uint(w, count);
	json_write_key(w, "more");
	json_write_bool(w, more);
	if (more && rl->last != NULL) {
		char *next = xmalloc(rl->last_len + 1);
		memcpy(next, rl->last, rl->last_len);
		next[rl->last_len] = '\0';
		json_write_bytes_field(w, "next", next, rl->last_len + 1, c->force_base64);
		free(next);
	}
	if (c->stale) {
		json_write_key(w, "stale");
		json_write_bool(w, true);
	}
}

void http_serve_range(struct hconn *c)
{
	const struct kv *kv = node_kv(c->s->sv->node);
	const struct http_request *q = &c->req;
	struct qrange qr;
	uint64_t limit = HTTP_RANGE_LIMIT_MAX;
	if (qrange_parse(q, &qr) != 0 || query_u64(q, "limit", &limit) < 0) {
		qrange_free(&qr);
		respond_error(c, 400, "bad query parameter (key, range_end, prefix, limit)");
		return;
	}
	struct kv_range_opts o = {.revision = c->rev, .skip_reserved = true};
	o.limit = limit == 0 || limit > HTTP_RANGE_LIMIT_MAX ? HTTP_RANGE_LIMIT_MAX : limit;
	bool count_only = query_flag(q, "count_only");
	struct wire_buf b;
	wire_buf_init(&b, c->s->sv->output_hard_bytes);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "kvs");
	json_write_array_begin(&w);
	struct range_list rl = {&w, c->force_base64, query_flag(q, "keys_only"), NULL, 0};
	uint64_t count = 0;
	bool more = false;
	int rv = kv_range_read(kv, &qr.r, &o, count_only ? NULL : range_one, &rl, &count, &more);
	json_write_array_end(&w);
	if (rv == KV_EKEYTOOBIG) {
		respond_error(c, 414, "key too large (limit %u bytes)",
		              c->s->sv->limits.key_bytes_max);
	} else if (rv != 0) {
		respond_error(c, rv == KV_ECOMPACTED ? 410 : 400, "%s", kv_strerror(rv));
	} else {
		json_write_key(&w, "revision");
		json_write_uint(&w, c->rev != 0 ? c->rev : kv_revision(kv));
		range_tail(c, &w, &rl, count, more);
		json_write_object_end(&w);
		respond_json(c, 200, &b, NULL, 0);
	}
	wire_buf_free(&b);
	qrange_free(&qr);
}

/* ----------------------------------------------------------------------------------
 * DELETE /v1/kv
 */

static void delrange_json(struct hconn *c, const struct kv_reply *r)
{
	struct wire_buf b;
	wire_buf_init(&b, c->s->sv->output_hard_bytes);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "deleted");
	json_write_uint(&w, (uint64_t)r->integer);
	json_write_key(&w, "revision");
	json_write_uint(&w, r->revision);
	if (c->op == OP_DELRANGE && c->raw) { /* raw: prev_kv asked */
		json_write_key(&w, "prev_kvs");
		json_write_array_begin(&w);
		for (size_t i = 0; i < r->n_prev_kvs; i++) {
			json_write_object_begin(&w);
			write_kv_fields(&w, &r->prev_kvs[i], c->force_base64, false);
			json_write_object_end(&w);
		}
		json_write_array_end(&w);
		json_write_key(&w, "prev_kvs_truncated");
		json_write_bool(&w, r->prev_kvs_truncated);
	}
	json_write_object_end(&w);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

static void on_delrange_done(void *arg, int status, const struct kv_reply *reply)
{
	struct hconn *c = arg;
	if (!c->conn.closing) {
		if (status == NODE_OK && reply->code == KV_OK)
			delrange_json(c, reply);
		else if (status == NODE_OK)
			respond_error(c, 400, "%s", kv_strerror(reply->code));
		else
			respond_write_failed(c, status);
	}
	http_done(c);
}

void route_kv_delrange(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	const struct http_request *q = &c->req;
	struct qrange qr;
	if (qrange_parse(q, &qr) != 0 || (qr.key == NULL && qr.end == NULL)) {
		qrange_free(&qr);
		respond_error(c, 400, "DELETE /v1/kv needs key (and range_end) or prefix");
		return;
	}
	c->force_base64 = want_base64(q);
	c->raw = query_flag(q, "prev_kv");
	c->op = OP_DELRANGE;
	struct kv_cmd cmd = {.op = KV_OP_DELRANGE,
	                     .put = {.key = qr.r.key, .key_len = qr.r.key_len},
	                     .range_end = qr.r.end,
	                     .range_end_len = qr.r.end_len,
	                     .prev_kv = c->raw};
	int rv = node_write(c->s->sv->node, &cmd, on_delrange_done, c);
	qrange_free(&qr);
	if (rv == 0) {
		http_wait(c);
		return;
	}
	if (rv == NODE_ENOTLEADER && http_not_leader(c))
		return;
	if (rv == NODE_ETOOBIG)
		respond_error(c, 414, "key too large (limit %u bytes)",
		              c->s->sv->limits.key_bytes_max);
	else if (rv == NODE_EBUSY)
		respond_error(c, 503, "busy: a leadership transfer is under way; retry");
	else
		respond_error(c, 503, "%s", node_strerror(rv));
}
