/* http_txn.c: POST /v1/txn, etcd's transaction over HTTP: compares, then the success or the
 * failure list of put, range and delete-range requests, as one KV_OP_TXN (docs/http.md). */
#include "server/http_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What one request body turns into; every pointer of `cmd` points into it. */
struct txn_req {
	struct json_doc *doc;
	void **bufs; /* decoded byte fields, freed together */
	size_t n_bufs, cap_bufs;
	struct kv_compare *cmps;
	struct kv_cmd *ops; /* the success list, then the failure list */
	struct kv_cmd cmd;
	char err[160];
};

static void txn_req_free(struct txn_req *t)
{
	for (size_t i = 0; i < t->n_bufs; i++)
		free(t->bufs[i]);
	free(t->bufs);
	free(t->cmps);
	free(t->ops);
	json_doc_free(t->doc);
}

/* A byte field (name or name_base64) kept for the command's life: 1 found, 0 absent, -1
 * malformed. */
static int bytes_of(struct txn_req *t, const struct json_value *obj, const char *name,
                    const void **data, size_t *len)
{
	void *p = NULL;
	int rv = json_object_get_bytes(obj, name, &p, len);
	if (rv == WIRE_ENOTFOUND) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	if (rv != 0)
		return -1;
	if (t->n_bufs == t->cap_bufs) {
		t->cap_bufs = t->cap_bufs ? t->cap_bufs * 2 : 16;
		t->bufs = xrealloc(t->bufs, t->cap_bufs * sizeof(*t->bufs));
	}
	t->bufs[t->n_bufs++] = p;
	*data = p;
	return 1;
}

/* One of `names` (case-insensitive) or of `alts`, as its index; -1 if none. */
static int word_of(const struct json_value *v, const char *const *names, const char *const *alts,
                   int n)
{
	if (v == NULL || v->type != JSON_STRING)
		return -1;
	for (int i = 0; i < n; i++)
		if ((strlen(names[i]) == v->len && strncasecmp(v->str, names[i], v->len) == 0) ||
		    (alts != NULL && strlen(alts[i]) == v->len &&
		     memcmp(v->str, alts[i], v->len) == 0))
			return i;
	return -1;
}

static bool compare_from_json(struct txn_req *t, const struct json_value *o, struct kv_compare *c)
{
	static const char *const targets[] = {"VALUE", "VERSION", "CREATE", "MOD"};
	static const char *const results[] = {"EQUAL", "NOT_EQUAL", "LESS", "GREATER"};
	static const char *const symbols[] = {"=", "!=", "<", ">"};
	static const char *const numbers[] = {NULL, "version", "create_revision", "mod_revision"};
	int target = word_of(json_object_get(o, "target"), targets, NULL, 4);
	int result = word_of(json_object_get(o, "result"), results, symbols, 4);
	if (o->type != JSON_OBJECT || target < 0 || result < 0 ||
	    bytes_of(t, o, "key", &c->key, &c->key_len) <= 0) {
		snprintf(t->err, sizeof(t->err),
		         "a compare needs key, target (VALUE, VERSION, CREATE, MOD) and result "
		         "(EQUAL, NOT_EQUAL, LESS, GREATER)");
		return false;
	}
	c->target = (enum kv_cmp_target)target;
	c->result = (enum kv_cmp_result)result;
	if (target == KV_CMP_VALUE) {
		if (bytes_of(t, o, "value", &c->value, &c->value_len) < 0) {
			snprintf(t->err, sizeof(t->err), "a compare's value is malformed");
			return false;
		}
		return true;
	}
	const struct json_value *n = json_object_get(o, numbers[target]);
	if (n == NULL || json_value_int64(n, &c->number) != 0) {
		snprintf(t->err, sizeof(t->err), "a %s compare needs \"%s\": an integer",
		         targets[target], numbers[target]);
		return false;
	}
	return true;
}

static bool flag_of(const struct json_value *o, const char *name)
{
	const struct json_value *v = json_object_get(o, name);
	return v != NULL && v->type == JSON_BOOL && v->boolean;
}

/* {"request_put": {...}} | {"request_range": {...}} | {"request_delete_range": {...}} */
static bool op_from_json(struct txn_req *t, const struct json_value *item, struct kv_cmd *op)
{
	const struct json_value *put = json_object_get(item, "request_put");
	const struct json_value *rng = json_object_get(item, "request_range");
	const struct json_value *del = json_object_get(item, "request_delete_range");
	const struct json_value *o = put != NULL ? put : rng != NULL ? rng : del;
	memset(op, 0, sizeof(*op));
	if (o == NULL || o->type != JSON_OBJECT ||
	    bytes_of(t, o, "key", &op->put.key, &op->put.key_len) <= 0) {
		snprintf(t->err, sizeof(t->err),
		         "each request is {\"request_put\" | \"request_range\" | "
		         "\"request_delete_range\": {\"key\": ...}}");
		return false;
	}
	if (put != NULL) {
		op->op = KV_OP_SET;
		if (bytes_of(t, o, "value", &op->put.value, &op->put.value_len) < 0) {
			snprintf(t->err, sizeof(t->err), "a put's value is malformed");
			return false;
		}
		return true;
	}
	op->op = rng != NULL ? KV_OP_RANGE : KV_OP_DELRANGE;
	if (bytes_of(t, o, "range_end", &op->range_end, &op->range_end_len) < 0) {
		snprintf(t->err, sizeof(t->err), "a range_end is malformed");
		return false;
	}
	const struct json_value *lim = json_object_get(o, "limit");
	if (lim != NULL && json_value_uint64(lim, &op->limit) != 0) {
		snprintf(t->err, sizeof(t->err), "a range's limit must be a number");
		return false;
	}
	op->keys_only = flag_of(o, "keys_only");
	op->count_only = flag_of(o, "count_only");
	op->prev_kv = del != NULL && flag_of(o, "prev_kv");
	return true;
}

static bool list_from_json(struct txn_req *t, const struct json_value *list, struct kv_cmd *ops,
                           size_t *n)
{
	*n = 0;
	if (list == NULL)
		return true;
	if (list->type != JSON_ARRAY) {
		snprintf(t->err, sizeof(t->err), "compare, success and failure must be arrays");
		return false;
	}
	for (const struct json_value *v = list->child; v != NULL; v = v->next)
		if (!op_from_json(t, v, &ops[(*n)++]))
			return false;
	return true;
}

static size_t count_of(const struct json_value *list)
{
	return list != NULL && list->type == JSON_ARRAY ? list->count : 0;
}

/* The body as a KV_OP_TXN in t->cmd; false with t->err. */
static bool txn_from_json(struct txn_req *t, const struct json_value *root)
{
	const struct json_value *cmps = json_object_get(root, "compare");
	const struct json_value *succ = json_object_get(root, "success");
	const struct json_value *fail = json_object_get(root, "failure");
	if (root->type != JSON_OBJECT || (cmps != NULL && cmps->type != JSON_ARRAY)) {
		snprintf(t->err, sizeof(t->err),
		         "the body must be an object: {\"compare\": [...], \"success\": [...], "
		         "\"failure\": [...]}");
		return false;
	}
	size_t nc = count_of(cmps), ns = count_of(succ), nf = count_of(fail);
	t->cmps = xcalloc(nc > 0 ? nc : 1, sizeof(*t->cmps));
	t->ops = xcalloc(ns + nf > 0 ? ns + nf : 1, sizeof(*t->ops));
	size_t i = 0;
	for (const struct json_value *v = cmps != NULL ? cmps->child : NULL; v != NULL; v = v->next)
		if (!compare_from_json(t, v, &t->cmps[i++]))
			return false;
	t->cmd = (struct kv_cmd){.op = KV_OP_TXN, .n_compares = nc, .compares = t->cmps};
	t->cmd.ops = t->ops;
	t->cmd.else_ops = t->ops + ns;
	return list_from_json(t, succ, t->ops, &t->cmd.n_ops) &&
	       list_from_json(t, fail, t->ops + ns, &t->cmd.n_else);
}

/* ----------------------------------------------------------------------------------
 * The response
 */

/* The item's keys (a range's, or what a range delete removed) as an array. */
static void kvs_json(struct json_writer *w, const struct kv_txn_item *it, bool b64)
{
	json_write_array_begin(w);
	for (size_t i = 0; i < it->n_kvs; i++) {
		json_write_object_begin(w);
		write_kv_fields(w, &it->kvs[i], b64, false);
		json_write_object_end(w);
	}
	json_write_array_end(w);
}

static void item_json(struct json_writer *w, const struct kv_txn_item *it, bool b64)
{
	json_write_object_begin(w);
	if (it->code != KV_OK) {
		json_write_key(w, "error");
		json_write_cstr(w, kv_strerror(it->code));
	} else if (it->op == KV_OP_SET) {
		json_write_key(w, "response_put");
		json_write_object_begin(w);
		json_write_object_end(w);
	} else if (it->op == KV_OP_DELRANGE) {
		json_write_key(w, "response_delete_range");
		json_write_object_begin(w);
		json_write_key(w, "deleted");
		json_write_int(w, it->integer);
		if (it->prev_kv) {
			json_write_key(w, "prev_kvs");
			kvs_json(w, it, b64);
		}
		json_write_object_end(w);
	} else {
		json_write_key(w, "response_range");
		json_write_object_begin(w);
		json_write_key(w, "kvs");
		kvs_json(w, it, b64);
		json_write_key(w, "count");
		json_write_int(w, it->integer);
		json_write_key(w, "more");
		json_write_bool(w, it->existed);
		json_write_object_end(w);
	}
	json_write_object_end(w);
}

static void txn_json(struct hconn *c, const struct kv_reply *r)
{
	struct wire_buf b;
	wire_buf_init(&b, c->s->sv->output_hard_bytes);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "succeeded");
	json_write_bool(&w, r->succeeded);
	json_write_key(&w, "revision");
	json_write_uint(&w, r->revision);
	json_write_key(&w, "responses");
	json_write_array_begin(&w);
	for (size_t i = 0; r->txn != NULL && i < r->txn->n; i++)
		item_json(&w, &r->txn->items[i], c->force_base64);
	json_write_array_end(&w);
	json_write_object_end(&w);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

static void on_txn_done(void *arg, int status, const struct kv_reply *reply)
{
	struct hconn *c = arg;
	if (!c->conn.closing) {
		if (status == NODE_OK && reply->code == KV_OK)
			txn_json(c, reply);
		else if (status == NODE_OK)
			respond_error(c, 400, "%s", kv_strerror(reply->code));
		else
			respond_write_failed(c, status);
	}
	http_done(c);
}

void route_txn(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	c->force_base64 = want_base64(&c->req);
	struct txn_req t = {0};
	if (!request_json(c, &t.doc))
		return;
	if (!txn_from_json(&t, json_doc_root(t.doc))) {
		respond_error(c, 400, "%s", t.err);
		txn_req_free(&t);
		return;
	}
	int rv = node_write(c->s->sv->node, &t.cmd, on_txn_done, c);
	txn_req_free(&t); /* node_write encoded the command */
	if (rv == 0) {
		http_wait(c);
		return;
	}
	if (rv == NODE_ENOTLEADER && http_not_leader(c))
		return;
	if (rv == NODE_ETOOBIG)
		respond_error(c, 413,
		              "transaction too large (limits: %u requests, %u keys, key %u bytes, "
		              "value %u bytes)",
		              c->s->sv->limits.txn_ops_max, c->s->sv->limits.keys_per_cmd_max,
		              c->s->sv->limits.key_bytes_max, c->s->sv->limits.value_bytes_max);
	else if (rv == NODE_EINVAL)
		respond_error(c, 400,
		              "invalid transaction (keys starting with \\u0000concord/ are "
		              "reserved)");
	else if (rv == NODE_EBUSY)
		respond_error(c, 503, "busy: a leadership transfer is under way; retry");
	else
		respond_error(c, 503, "%s", node_strerror(rv));
}
