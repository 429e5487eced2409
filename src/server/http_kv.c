/* http_kv.c: the HTTP key-value and session routes: GET, PUT and DELETE of /v1/kv/{key}, GET
 * /v1/kv, /v1/sessions (docs/http.md). */
#include "server/http_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* =================================================================================
 * Query parameters
 */

bool query_flag(const struct http_request *req, const char *name)
{
	char v[16];
	size_t len = 0;
	if (http_query_get(req->query, req->query_len, name, v, sizeof(v), &len) != 0)
		return false;
	return !(len == 1 && v[0] == '0') && !(len == 5 && memcmp(v, "false", 5) == 0);
}

/* 0: absent, 1: present and parsed, -1: malformed. */
int query_u64(const struct http_request *req, const char *name, uint64_t *out)
{
	char v[32];
	size_t len = 0;
	int rv = http_query_get(req->query, req->query_len, name, v, sizeof(v) - 1, &len);
	if (rv == WIRE_ENOTFOUND)
		return 0;
	if (rv != 0 || len == 0)
		return -1;
	v[len] = '\0';
	uint64_t x = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 1;
}

/* A decoded parameter into a new buffer (free it). 0 absent, 1 present, -1 malformed. */
int query_bytes(const struct http_request *req, const char *name, char **out, size_t *len)
{
	char *buf = xmalloc(req->query_len + 1);
	int rv = http_query_get(req->query, req->query_len, name, buf, req->query_len + 1, len);
	if (rv == 0) {
		*out = buf;
		return 1;
	}
	free(buf);
	return rv == WIRE_ENOTFOUND ? 0 : -1;
}

bool want_base64(const struct http_request *req)
{
	char v[16];
	size_t len = 0;
	return http_query_get(req->query, req->query_len, "encoding", v, sizeof(v), &len) == 0 &&
	       len == 6 && memcmp(v, "base64", 6) == 0;
}

void write_kv_fields(struct json_writer *w, const struct kv_value *v, bool b64, bool keys_only)
{
	json_write_bytes_field(w, "key", v->key, v->key_len, b64);
	if (!keys_only)
		json_write_bytes_field(w, "value", v->value, v->value_len, b64);
	json_write_key(w, "create_revision");
	json_write_uint(w, v->create_revision);
	json_write_key(w, "mod_revision");
	json_write_uint(w, v->mod_revision);
	json_write_key(w, "version");
	json_write_uint(w, v->version);
}

static void serve_get(struct hconn *c)
{
	const struct kv *kv = node_kv(c->s->sv->node);
	struct kv_value v;
	int rv = kv_get(kv, c->key, c->key_len, c->rev, &v);
	uint64_t revision = kv_revision(kv);
	struct wire_buf b;
	wire_buf_init(&b, c->s->sv->output_hard_bytes);
	struct json_writer w;
	json_writer_init(&w, &b);
	if (rv == 0 && c->raw) {
		char h[4][24];
		uint64_t vals[4] = {c->rev != 0 ? c->rev : revision, v.create_revision,
		                    v.mod_revision, v.version};
		static const char *const names[4] = {"Concord-Revision", "Concord-Create-Revision",
		                                     "Concord-Mod-Revision", "Concord-Version"};
		struct http_header hs[4];
		for (int i = 0; i < 4; i++) {
			int n = snprintf(h[i], sizeof(h[i]), "%" PRIu64, vals[i]);
			hs[i] = (struct http_header){names[i], strlen(names[i]), h[i], (size_t)n};
		}
		respond(c, 200, "application/octet-stream", v.value, v.value_len, hs, 4);
	} else if (rv == 0) {
		json_write_object_begin(&w);
		write_kv_fields(&w, &v, c->force_base64, false);
		json_write_key(&w, "revision");
		json_write_uint(&w, c->rev != 0 ? c->rev : revision);
		if (c->stale) {
			json_write_key(&w, "stale");
			json_write_bool(&w, true);
		}
		json_write_object_end(&w);
		respond_json(c, 200, &b, NULL, 0);
	} else if (rv == KV_ENOTFOUND) {
		json_write_object_begin(&w);
		json_write_key(&w, "error");
		json_write_cstr(&w, "not found");
		json_write_bytes_field(&w, "key", c->key, c->key_len, c->force_base64);
		json_write_key(&w, "revision");
		json_write_uint(&w, c->rev != 0 ? c->rev : revision);
		json_write_object_end(&w);
		respond_json(c, 404, &b, NULL, 0);
	} else if (rv == KV_ECOMPACTED) {
		wire_buf_printf(&b,
		                "{\"error\": \"revision %" PRIu64 " is compacted\", "
		                "\"compact_revision\": %" PRIu64 "}",
		                c->rev, kv_compact_revision(kv));
		respond_json(c, 410, &b, NULL, 0);
	} else if (rv == KV_EFUTURE) {
		wire_buf_printf(&b,
		                "{\"error\": \"revision %" PRIu64 " is in the future\", "
		                "\"revision\": %" PRIu64 "}",
		                c->rev, revision);
		respond_json(c, 400, &b, NULL, 0);
	} else if (rv == KV_EKEYTOOBIG) {
		respond_error(c, 414, "key too large (limit %u bytes)",
		              c->s->sv->limits.key_bytes_max);
	} else {
		respond_error(c, 500, "%s", kv_strerror(rv));
	}
	wire_buf_free(&b);
}

struct list_state {
	struct json_writer *w;
	bool b64, keys_only;
	size_t count, limit;
	const void *last;
	size_t last_len;
	bool more;
};

static int list_one(void *arg, const struct kv_value *v)
{
	struct list_state *ls = arg;
	if (kv_key_reserved(v->key, v->key_len))
		return 0;
	if (ls->count == ls->limit) {
		ls->more = true;
		return 1;
	}
	json_write_object_begin(ls->w);
	write_kv_fields(ls->w, v, ls->b64, ls->keys_only);
	json_write_object_end(ls->w);
	ls->count++;
	ls->last = v->key;
	ls->last_len = v->key_len;
	return 0;
}

static void serve_list(struct hconn *c)
{
	if (http_range_wanted(&c->req)) {
		http_serve_range(c);
		return;
	}
	const struct kv *kv = node_kv(c->s->sv->node);
	const struct http_request *q = &c->req;
	char *prefix = NULL, *start = NULL;
	size_t plen = 0, slen = 0;
	uint64_t limit = 100;
	if (query_bytes(q, "prefix", &prefix, &plen) < 0 ||
	    query_bytes(q, "start", &start, &slen) < 0 || query_u64(q, "limit", &limit) < 0 ||
	    limit == 0) {
		free(prefix);
		free(start);
		respond_error(c, 400, "bad query parameter (prefix, start, limit)");
		return;
	}
	if (limit > 1000)
		limit = 1000;
	struct wire_buf b;
	wire_buf_init(&b, c->s->sv->output_hard_bytes);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "kvs");
	json_write_array_begin(&w);
	struct list_state ls = {.w = &w,
	                        .b64 = c->force_base64,
	                        .keys_only = query_flag(q, "keys_only"),
	                        .limit = limit};
	bool more = false;
	int rv = kv_scan(kv, prefix != NULL ? prefix : "", plen, start, slen,
	                 limit + 2 * NODE_MAX_MEMBERS, c->rev, list_one, &ls, &more);
	json_write_array_end(&w);
	if (rv != 0) {
		respond_error(c, rv == KV_ECOMPACTED ? 410 : 400, "%s", kv_strerror(rv));
	} else {
		bool any_more = ls.more || (more && ls.count > 0);
		json_write_key(&w, "revision");
		json_write_uint(&w, c->rev != 0 ? c->rev : kv_revision(kv));
		json_write_key(&w, "more");
		json_write_bool(&w, any_more);
		if (any_more) {
			char *next = xmalloc(ls.last_len + 1);
			memcpy(next, ls.last, ls.last_len);
			next[ls.last_len] = '\0';
			json_write_bytes_field(&w, "next", next, ls.last_len + 1, c->force_base64);
			free(next);
		}
		if (c->stale) {
			json_write_key(&w, "stale");
			json_write_bool(&w, true);
		}
		json_write_object_end(&w);
		respond_json(c, 200, &b, NULL, 0);
	}
	wire_buf_free(&b);
	free(prefix);
	free(start);
}

static void on_read_done(void *arg, int status)
{
	struct hconn *c = arg;
	if (!c->conn.closing) {
		if (status == NODE_OK) {
			if (c->op == OP_GET)
				serve_get(c);
			else
				serve_list(c);
		} else if (status == NODE_ENOTLEADER) {
			respond_retry(c, "{\"error\": \"no leader: leadership was lost before the "
			                 "read was confirmed\"}");
		} else if (status == NODE_ETIMEOUT) {
			respond_error(c, 504, "the read timed out waiting for a quorum");
		} else {
			respond_error(c, 503, "%s", node_strerror(status));
		}
	}
	http_done(c);
}

/* GET /v1/kv/{key} and GET /v1/kv: linearizable unless serializable=1 or --stale-reads. */
static void route_read(struct hconn *c, int op, const char *key, size_t key_len)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	int rv = query_u64(q, "rev", &c->rev);
	if (rv < 0) {
		respond_error(c, 400, "rev must be a revision number");
		return;
	}
	if (rv == 0)
		c->rev = 0;
	c->force_base64 = want_base64(q);
	c->raw = query_flag(q, "raw");
	c->stale = sv->stale_reads || query_flag(q, "serializable");
	c->op = op;
	if (op == OP_GET && key_len > sv->limits.key_bytes_max) {
		respond_error(c, 414, "key too large (limit %u bytes)", sv->limits.key_bytes_max);
		return;
	}
	c->key = xmalloc(key_len + 1);
	if (key_len > 0)
		memcpy(c->key, key, key_len);
	c->key_len = key_len;
	if (c->stale) {
		if (op == OP_GET)
			serve_get(c);
		else
			serve_list(c);
		return;
	}
	if (http_not_leader(c))
		return;
	http_wait(c);
	rv = node_read(sv->node, false, on_read_done, c);
	if (rv != 0)
		on_read_done(c, rv);
}

void route_kv_get(struct hconn *c, const char *rest, size_t len)
{
	route_read(c, OP_GET, rest, len);
}

void route_kv_list(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	route_read(c, OP_LIST, "", 0);
}

static void write_reply_json(struct hconn *c, const struct kv_reply *r)
{
	struct server *sv = c->s->sv;
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	int status = 200;
	json_write_object_begin(&w);
	if (r->code == KV_ESTALE) {
		status = 409;
		json_write_key(&w, "error");
		json_write_cstr(&w, "stale sequence number");
	} else if (r->code == KV_ESESSION) {
		status = 410;
		json_write_key(&w, "error");
		json_write_cstr(&w, "session expired or unknown; outcome unknown");
	} else if (r->code == KV_EVALUETOOBIG || r->code == KV_EKEYTOOBIG) {
		status = r->code == KV_EVALUETOOBIG ? 413 : 414;
		json_write_key(&w, "error");
		char msg[96];
		snprintf(msg, sizeof(msg), "%s (limits: key %u bytes, value %u bytes)",
		         kv_strerror(r->code), sv->limits.key_bytes_max,
		         sv->limits.value_bytes_max);
		json_write_cstr(&w, msg);
	} else if (r->code == KV_ELEASE) {
		status = 404;
		json_write_key(&w, "error");
		json_write_cstr(&w, "lease not found or expired");
	} else if (r->code != KV_OK) {
		status = 400;
		json_write_key(&w, "error");
		json_write_cstr(&w, kv_strerror(r->code));
	} else if (c->op == OP_SESSION_OPEN) {
		json_write_key(&w, "client_id");
		json_write_uint(&w, r->client_id);
	} else if (c->op == OP_SESSION_OTHER) {
		/* {} */
	} else if (!r->succeeded) {
		status = 412;
		json_write_key(&w, "error");
		json_write_cstr(&w, "condition failed");
		json_write_bytes_field(&w, "key", c->key, c->key_len, c->force_base64);
		json_write_key(&w, "mod_revision");
		json_write_uint(&w, r->mod_revision);
		json_write_key(&w, "revision");
		json_write_uint(&w, r->revision);
	} else {
		json_write_bytes_field(&w, "key", c->key, c->key_len, c->force_base64);
		json_write_key(&w, "revision");
		json_write_uint(&w, r->revision);
		if (c->op == OP_PUT) {
			json_write_key(&w, "mod_revision");
			json_write_uint(&w, r->mod_revision);
			json_write_key(&w, "created");
			json_write_bool(&w, !r->existed);
		} else {
			json_write_key(&w, "deleted");
			json_write_uint(&w, c->op == OP_DELETE ? (uint64_t)r->integer
			                                       : (r->existed ? 1 : 0));
		}
	}
	if (r->duplicate) {
		json_write_key(&w, "duplicate");
		json_write_bool(&w, true);
	}
	json_write_object_end(&w);
	respond_json(c, status, &b, NULL, 0);
	wire_buf_free(&b);
}

void respond_write_failed(struct hconn *c, int status)
{
	if (status == NODE_ELOST)
		respond_retry(c, "{\"error\": \"the leader changed before the write "
		                 "committed; it had no effect; retry\"}");
	else if (status == NODE_ETIMEOUT)
		respond_error(c, 504, "outcome unknown: timed out waiting for a quorum");
	else
		respond_error(c, 504, "outcome unknown: %s", node_strerror(status));
}

static void on_write_done(void *arg, int status, const struct kv_reply *reply)
{
	struct hconn *c = arg;
	if (!c->conn.closing) {
		if (status == NODE_OK)
			write_reply_json(c, reply);
		else
			respond_write_failed(c, status);
	}
	http_done(c);
}

static void submit_write(struct hconn *c, struct kv_cmd *cmd, int op)
{
	struct server *sv = c->s->sv;
	if (c->client_id != 0) {
		cmd->client_id = c->client_id;
		cmd->seq = c->seq;
	}
	c->op = op;
	int rv = node_write(sv->node, cmd, on_write_done, c);
	if (rv == 0) {
		http_wait(c);
		return;
	}
	if (rv == NODE_ENOTLEADER && http_not_leader(c))
		return;
	if (rv == NODE_EBUSY)
		respond_error(c, 503, "busy: a leadership transfer is under way; retry");
	else if (rv == NODE_ETOOBIG)
		respond_error(c, 413, "command too large (limits: key %u bytes, value %u bytes)",
		              sv->limits.key_bytes_max, sv->limits.value_bytes_max);
	else if (rv == NODE_EINVAL)
		respond_error(c, 400,
		              "invalid write (keys starting with \\u0000concord/ are reserved)");
	else
		respond_error(c, 503, "%s", node_strerror(rv));
}

/* Concord-Client-Id and Concord-Seq: 0 none, 1 both parsed, -1 malformed. */
static int session_headers(struct hconn *c)
{
	const struct http_header *hid = http_request_header(&c->req, "Concord-Client-Id");
	const struct http_header *hseq = http_request_header(&c->req, "Concord-Seq");
	c->client_id = c->seq = 0;
	if (hid == NULL && hseq == NULL)
		return 0;
	if (hid == NULL || hseq == NULL || hid->value_len == 0 || hid->value_len > 20 ||
	    hseq->value_len == 0 || hseq->value_len > 20)
		return -1;
	char a[24], b[24];
	memcpy(a, hid->value, hid->value_len);
	a[hid->value_len] = '\0';
	memcpy(b, hseq->value, hseq->value_len);
	b[hseq->value_len] = '\0';
	char *e1 = NULL, *e2 = NULL;
	c->client_id = strtoull(a, &e1, 10);
	c->seq = strtoull(b, &e2, 10);
	if (*e1 != '\0' || *e2 != '\0' || c->client_id == 0 || c->seq == 0)
		return -1;
	return 1;
}

static bool key_check(struct hconn *c, const char *key, size_t len)
{
	struct server *sv = c->s->sv;
	if (len > sv->limits.key_bytes_max) {
		respond_error(c, 414, "key too large (limit %u bytes)", sv->limits.key_bytes_max);
		return false;
	}
	if (kv_key_reserved(key, len)) {
		respond_error(c, 400, "keys starting with \\u0000concord/ are reserved");
		return false;
	}
	c->key = xmalloc(len + 1);
	if (len > 0)
		memcpy(c->key, key, len);
	c->key_len = len;
	return true;
}

static bool content_is_json(const struct http_request *q)
{
	const struct http_header *h = http_request_header(q, "Content-Type");
	return h != NULL && h->value_len >= 16 &&
	       strncasecmp(h->value, "application/json", 16) == 0;
}

/* What a PUT carries besides the key: the value and at most one condition, from a JSON
 * body or from the query and the raw body. Buffers to free in put_args_free. */
struct put_args {
	void *value, *ifv;
	char *qifv;
	size_t vlen, ifvlen;
	int conds; /* conditions given; 99: one was malformed */
	struct json_doc *doc;
};

static void put_args_free(struct put_args *a)
{
	free(a->value);
	free(a->ifv);
	free(a->qifv);
	json_doc_free(a->doc);
}

static bool json_true(const struct json_value *root, const char *name)
{
	const struct json_value *v = json_object_get(root, name);
	return v != NULL && v->type == JSON_BOOL && v->boolean;
}

/* {"value" | "value_base64", if_absent, if_present, if_value(_base64), if_mod_revision}.
 * Returns false after answering 400. */
static bool put_from_json(struct hconn *c, struct kv_cmd *cmd, struct put_args *a)
{
	if (!request_json(c, &a->doc))
		return false;
	const struct json_value *root = json_doc_root(a->doc);
	if (root->type != JSON_OBJECT ||
	    json_object_get_bytes(root, "value", &a->value, &a->vlen) != 0) {
		respond_error(c, 400,
		              "the body must be an object with \"value\" or \"value_base64\"");
		return false;
	}
	if (json_true(root, "if_absent")) {
		cmd->put.cond.kind = KV_COND_ABSENT;
		a->conds++;
	}
	if (json_true(root, "if_present")) {
		cmd->put.cond.kind = KV_COND_PRESENT;
		a->conds++;
	}
	int rv = json_object_get_bytes(root, "if_value", &a->ifv, &a->ifvlen);
	if (rv == 0) {
		cmd->put.cond = (struct kv_cond){
		    .kind = KV_COND_VALUE, .value = a->ifv, .value_len = a->ifvlen};
		a->conds++;
	} else if (rv != WIRE_ENOTFOUND) {
		a->conds = 99;
	}
	const struct json_value *v = json_object_get(root, "if_mod_revision");
	if (v != NULL) {
		uint64_t mr = 0;
		if (json_value_uint64(v, &mr) != 0)
			a->conds = 99;
		cmd->put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = mr};
		a->conds++;
	}
	return true;
}

/* The raw body is the value; the conditions come from the query. */
static void put_from_query(const struct http_request *q, struct kv_cmd *cmd, struct put_args *a)
{
	a->vlen = q->body_len;
	if (query_flag(q, "if_absent")) {
		cmd->put.cond.kind = KV_COND_ABSENT;
		a->conds++;
	}
	if (query_flag(q, "if_present")) {
		cmd->put.cond.kind = KV_COND_PRESENT;
		a->conds++;
	}
	int rv = query_bytes(q, "if_value", &a->qifv, &a->ifvlen);
	if (rv > 0) {
		cmd->put.cond = (struct kv_cond){
		    .kind = KV_COND_VALUE, .value = a->qifv, .value_len = a->ifvlen};
		a->conds++;
	} else if (rv < 0) {
		a->conds = 99;
	}
	uint64_t mr = 0;
	rv = query_u64(q, "if_mod_revision", &mr);
	if (rv > 0) {
		cmd->put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = mr};
		a->conds++;
	} else if (rv < 0) {
		a->conds = 99;
	}
}

void route_kv_put(struct hconn *c, const char *key, size_t key_len)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	c->force_base64 = want_base64(q);
	if (session_headers(c) < 0) {
		respond_error(c, 400,
		              "Concord-Client-Id and Concord-Seq must both be positive integers");
		return;
	}
	if (!key_check(c, key, key_len))
		return;
	struct kv_cmd cmd = {.op = KV_OP_SET};
	cmd.put.key = c->key;
	cmd.put.key_len = c->key_len;
	struct put_args a;
	memset(&a, 0, sizeof(a));
	if (content_is_json(q)) {
		if (!put_from_json(c, &cmd, &a)) {
			put_args_free(&a);
			return;
		}
	} else {
		put_from_query(q, &cmd, &a);
	}
	cmd.put.value = a.value != NULL ? a.value : q->body;
	cmd.put.value_len = a.vlen;
	/* Expiry: ?lease=ID (etcd's) or ?ttl=SECONDS / ?ttl_ms=MS, or ?keep_ttl=1. */
	uint64_t lease = 0;
	int has_lease = query_u64(q, "lease", &lease);
	int has_ttl = http_query_ttl(q, &cmd.put.expiry.ms);
	if (has_lease < 0 || has_ttl < 0 || (has_lease > 0 && (has_ttl > 0 || lease == 0))) {
		respond_error(c, 400,
		              "at most one of lease=ID (> 0) and ttl=S / ttl_ms=MS (>= 1 ms)");
		put_args_free(&a);
		return;
	}
	if (has_lease > 0)
		cmd.put.expiry = (struct kv_expiry){.mode = KV_EXPIRY_LEASE, .lease = lease};
	else if (has_ttl > 0)
		cmd.put.expiry.mode = KV_EXPIRY_IN;
	else if (query_flag(q, "keep_ttl"))
		cmd.put.expiry.mode = KV_EXPIRY_KEEP;
	if (a.conds > 1)
		respond_error(c, 400,
		              "at most one condition, well formed: if_absent, if_present, "
		              "if_value or if_mod_revision");
	else if (a.vlen > sv->limits.value_bytes_max)
		respond_error(c, 413, "value too large (limit %u bytes)",
		              sv->limits.value_bytes_max);
	else
		submit_write(c, &cmd, OP_PUT);
	put_args_free(&a);
}

void route_kv_delete(struct hconn *c, const char *key, size_t key_len)
{
	const struct http_request *q = &c->req;
	c->force_base64 = want_base64(q);
	if (session_headers(c) < 0) {
		respond_error(c, 400,
		              "Concord-Client-Id and Concord-Seq must both be positive integers");
		return;
	}
	if (!key_check(c, key, key_len))
		return;
	char *ifv = NULL;
	size_t ifvlen = 0;
	uint64_t mr = 0;
	int a = query_bytes(q, "if_value", &ifv, &ifvlen);
	int b = query_u64(q, "if_mod_revision", &mr);
	if (a < 0 || b < 0 || (a > 0 && b > 0)) {
		free(ifv);
		respond_error(c, 400,
		              "at most one condition, well formed: if_value or if_mod_revision");
		return;
	}
	if (a == 0 && b == 0) {
		struct kv_key k = {.data = c->key, .len = c->key_len};
		struct kv_cmd cmd = {.op = KV_OP_DEL, .n = 1, .keys = &k};
		submit_write(c, &cmd, OP_DELETE);
		return;
	}
	struct kv_cmd cmd = {.op = KV_OP_CAS, .cas_delete = true};
	cmd.put.key = c->key;
	cmd.put.key_len = c->key_len;
	if (a > 0)
		cmd.put.cond =
		    (struct kv_cond){.kind = KV_COND_VALUE, .value = ifv, .value_len = ifvlen};
	else
		cmd.put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = mr};
	submit_write(c, &cmd, OP_DELETE_CAS);
	free(ifv);
}

void route_sessions(struct hconn *c, const char *rest, size_t len)
{
	const struct http_request *q = &c->req;
	if (len == 0) {
		if (q->method != HTTP_METHOD_POST) {
			respond_method_not_allowed(c, "POST");
			return;
		}
		struct kv_cmd cmd = {.op = KV_OP_SESSION_OPEN};
		submit_write(c, &cmd, OP_SESSION_OPEN);
		return;
	}
	char buf[64];
	if (len >= sizeof(buf) || rest[0] != '/') {
		respond_error(c, 404, "no such route");
		return;
	}
	memcpy(buf, rest + 1, len - 1);
	buf[len - 1] = '\0';
	char *end = NULL;
	uint64_t id = strtoull(buf, &end, 10);
	if (end == buf || id == 0) {
		respond_error(c, 404, "no such route");
		return;
	}
	struct kv_cmd cmd = {.client_id = id};
	if (strcmp(end, "/keepalive") == 0 && q->method == HTTP_METHOD_POST) {
		cmd.op = KV_OP_SESSION_KEEPALIVE;
	} else if (*end == '\0' && q->method == HTTP_METHOD_DELETE) {
		cmd.op = KV_OP_SESSION_CLOSE;
	} else {
		respond_error(c, 404,
		              "no such route (POST /v1/sessions/{id}/keepalive, DELETE "
		              "/v1/sessions/{id})");
		return;
	}
	c->client_id = 0;
	submit_write(c, &cmd, OP_SESSION_OTHER);
}
