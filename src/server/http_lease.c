/* http_lease.c: the HTTP lease routes (grant, keepalive, revoke, timetolive, leases), named after
 * etcd's v3 lease API; a key attaches to a lease or gets a TTL on PUT /v1/kv (http_kv.c). */
#include "server/http_impl.h"
#include "server/node.h"
#include "server/server.h"

#include "base/alloc.h"
#include "codec/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum { LEASE_GRANT = 100, LEASE_KEEPALIVE, LEASE_REVOKE, LEASE_TTL, LEASE_LIST };

static void on_lease_written(void *arg, int status, const struct kv_reply *r)
{
	struct hconn *c = arg;
	if (c->conn.closing) {
		http_done(c);
		return;
	}
	if (status == NODE_ELOST) {
		respond_retry(c, "{\"error\": \"the leader changed before the write committed; it "
		                 "had no effect; retry\"}");
	} else if (status != NODE_OK) {
		respond_error(c, 504, "outcome unknown: %s", node_strerror(status));
	} else if (r->code == KV_ELEASE) {
		respond_error(c, 404, "lease %" PRIu64 " not found or expired", c->rev);
	} else if (r->code != KV_OK) {
		respond_error(c, r->code == KV_ELEASEEXISTS ? 409 : 400, "%s",
		              kv_strerror(r->code));
	} else {
		struct wire_buf b;
		wire_buf_init(&b, 4096);
		uint64_t id = c->op == LEASE_GRANT ? (uint64_t)r->integer : c->rev;
		wire_buf_printf(&b, "{\"id\": %" PRIu64 ", \"revision\": %" PRIu64, id,
		                r->revision);
		if (c->op == LEASE_REVOKE)
			wire_buf_printf(&b, ", \"deleted\": %" PRId64, r->integer);
		else if (c->op == LEASE_KEEPALIVE)
			wire_buf_printf(&b, ", \"ttl_ms\": %" PRId64 ", \"ttl\": %" PRId64,
			                r->integer, r->integer / 1000);
		else
			wire_buf_printf(&b, ", \"ttl_ms\": %" PRIu64 ", \"ttl\": %" PRIu64, c->seq,
			                c->seq / 1000);
		wire_buf_printf(&b, "}");
		respond_json(c, 200, &b, NULL, 0);
		wire_buf_free(&b);
	}
	http_done(c);
}

static void lease_write(struct hconn *c, const struct kv_cmd *cmd)
{
	int rv = node_write(c->s->sv->node, cmd, on_lease_written, c);
	if (rv == 0) {
		http_wait(c);
		return;
	}
	if (rv == NODE_ENOTLEADER && http_not_leader(c))
		return;
	respond_error(c, rv == NODE_EINVAL ? 400 : 503, "%s", node_strerror(rv));
}

/* ?ttl=SECONDS or ?ttl_ms=MS into milliseconds; 0 absent, 1 parsed, -1 malformed. */
int http_query_ttl(const struct http_request *q, int64_t *ms)
{
	uint64_t s = 0, m = 0;
	int a = query_u64(q, "ttl", &s);
	int b = query_u64(q, "ttl_ms", &m);
	if (a < 0 || b < 0 || (a > 0 && b > 0))
		return -1;
	if (a == 0 && b == 0)
		return 0;
	uint64_t v = a > 0 ? s * 1000 : m;
	if ((a > 0 && s > (uint64_t)KV_TTL_MS_LIMIT / 1000) || v < 1 ||
	    v > (uint64_t)KV_TTL_MS_LIMIT)
		return -1;
	*ms = (int64_t)v;
	return 1;
}

static void serve_timetolive(struct hconn *c)
{
	const struct kv *kv = node_kv(c->s->sv->node);
	struct kv_lease_info li;
	if (kv_lease_get(kv, c->rev, &li) != KV_OK) {
		respond_error(c, 404, "lease %" PRIu64 " not found or expired", c->rev);
		return;
	}
	struct wire_buf b;
	wire_buf_init(&b, c->s->sv->output_hard_bytes);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "id");
	json_write_uint(&w, li.id);
	json_write_key(&w, "ttl");
	json_write_uint(&w, (uint64_t)(li.remaining_ms + 999) / 1000);
	json_write_key(&w, "ttl_ms");
	json_write_uint(&w, (uint64_t)li.remaining_ms);
	json_write_key(&w, "granted_ttl");
	json_write_uint(&w, (uint64_t)li.ttl_ms / 1000);
	json_write_key(&w, "granted_ttl_ms");
	json_write_uint(&w, (uint64_t)li.ttl_ms);
	json_write_key(&w, "key_count");
	json_write_uint(&w, li.keys);
	json_write_object_end(&w);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

static void list_one(void *arg, const struct kv_lease_info *l)
{
	struct wire_buf *b = arg;
	wire_buf_printf(b, "%s{\"id\": %" PRIu64 ", \"ttl_ms\": %" PRId64 "}",
	                b->len > 12 ? ", " : "", l->id, l->remaining_ms);
}

static void serve_list(struct hconn *c)
{
	struct wire_buf b;
	wire_buf_init(&b, c->s->sv->output_hard_bytes);
	wire_buf_printf(&b, "{\"leases\": [");
	bool more = false;
	kv_lease_list(node_kv(c->s->sv->node), c->rev, 1000, list_one, &b, &more);
	wire_buf_printf(&b, "], \"more\": %s}", more ? "true" : "false");
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

static void on_lease_read(void *arg, int status)
{
	struct hconn *c = arg;
	if (!c->conn.closing) {
		if (status != NODE_OK)
			respond_retry(c, "{\"error\": \"the read could not be confirmed: %s\"}",
			              node_strerror(status));
		else if (c->op == LEASE_TTL)
			serve_timetolive(c);
		else
			serve_list(c);
	}
	http_done(c);
}

static void lease_read(struct hconn *c, int op)
{
	c->op = op;
	if (http_not_leader(c))
		return;
	http_wait(c);
	int rv = node_read(c->s->sv->node, false, on_lease_read, c);
	if (rv != 0)
		on_lease_read(c, rv);
}

/* POST /v1/lease/grant?ttl=S[&id=N], POST /v1/lease/keepalive?id=N, POST
 * /v1/lease/revoke?id=N, GET /v1/lease/timetolive?id=N, GET /v1/lease/leases[?from=N]. */
void route_lease(struct hconn *c, const char *rest, size_t len)
{
	const struct http_request *q = &c->req;
	bool post = q->method == HTTP_METHOD_POST;
	uint64_t id = 0;
	int has_id = query_u64(q, len == 7 && memcmp(rest, "/leases", 7) == 0 ? "from" : "id", &id);
	c->rev = id; /* the lease id, for the reply */
	if (has_id < 0) {
		respond_error(c, 400, "id must be a lease id (a positive integer)");
	} else if (len == 6 && memcmp(rest, "/grant", 6) == 0 && post) {
		int64_t ms = 0;
		if (http_query_ttl(q, &ms) <= 0) {
			respond_error(c, 400, "grant needs ttl=SECONDS or ttl_ms=MS (>= 1 ms)");
			return;
		}
		c->op = LEASE_GRANT;
		c->seq = (uint64_t)ms;
		lease_write(
		    c, &(struct kv_cmd){.op = KV_OP_LEASE_GRANT, .lease = id, .lease_ttl_ms = ms});
	} else if ((len == 10 && memcmp(rest, "/keepalive", 10) == 0 && post) ||
	           (len == 7 && memcmp(rest, "/revoke", 7) == 0 && post)) {
		if (id == 0) {
			respond_error(c, 400, "id=N is required");
			return;
		}
		c->op = len == 10 ? LEASE_KEEPALIVE : LEASE_REVOKE;
		lease_write(c, &(struct kv_cmd){.op = len == 10 ? KV_OP_LEASE_KEEPALIVE
		                                                : KV_OP_LEASE_REVOKE,
		                                .lease = id});
	} else if (len == 11 && memcmp(rest, "/timetolive", 11) == 0 && !post && id != 0) {
		lease_read(c, LEASE_TTL);
	} else if (len == 7 && memcmp(rest, "/leases", 7) == 0 && !post) {
		lease_read(c, LEASE_LIST);
	} else {
		respond_error(c, 404,
		              "no such route (POST /v1/lease/grant?ttl=S, /keepalive?id=N, "
		              "/revoke?id=N; GET /v1/lease/timetolive?id=N, /v1/lease/leases)");
	}
}
