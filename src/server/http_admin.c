/* http_admin.c: the HTTP cluster, membership, admin and health routes, and the web page
 * (docs/http.md). */
#include "server/http_impl.h"
#include "codec/web.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void route_cluster(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	server_write_cluster_json(&b, c->s->sv);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

void route_healthz(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct server *sv = c->s->sv;
	struct node_status st;
	node_status(sv->node, &st);
	struct wire_buf b;
	wire_buf_init(&b, 1024);
	if (st.leader == RAFT_NONE) {
		wire_buf_printf(&b,
		                "{\"status\": \"unavailable\", \"reason\": \"no leader\", "
		                "\"node_id\": %" PRIu64 ", \"term\": %" PRIu64 "}",
		                st.id, st.term);
		respond_json(c, 503, &b, NULL, 0);
	} else {
		wire_buf_printf(&b,
		                "{\"status\": \"ok\", \"node_id\": %" PRIu64 ", \"role\": \"%s\", "
		                "\"leader\": %" PRIu64 ", \"term\": %" PRIu64 "}",
		                st.id, server_role_name(sv), st.leader, st.term);
		respond_json(c, 200, &b, NULL, 0);
	}
	wire_buf_free(&b);
}

void route_index(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	respond(c, 200, "text/html; charset=utf-8", concord_web_index, concord_web_index_len, NULL,
	        0);
}

static bool parse_id_path(const char *p, size_t len, uint64_t *id, const char **rest,
                          size_t *rest_len)
{
	size_t i = 0;
	uint64_t v = 0;
	while (i < len && p[i] >= '0' && p[i] <= '9' && i < 20) {
		v = v * 10 + (uint64_t)(p[i] - '0');
		i++;
	}
	if (i == 0 || v == 0)
		return false;
	*id = v;
	*rest = p + i;
	*rest_len = len - i;
	return true;
}

/* `id`: the member the request names (RAFT_NONE: none), for the errors about it. */
static void respond_node_result(struct hconn *c, int rv, int ok_status, struct wire_buf *ok_body,
                                raft_id id)
{
	if (rv == 0) {
		if (ok_body != NULL)
			respond_json(c, ok_status, ok_body, NULL, 0);
		else
			respond_empty_object(c, ok_status);
	} else if (rv == NODE_ENOTLEADER) {
		if (!http_not_leader(c))
			respond_error(c, 503, "not the leader");
	} else if (rv == NODE_EBUSY || rv == NODE_ELAGGING) {
		respond_error(c, 409, "%s", node_strerror(rv));
	} else if (rv == NODE_ENOMEMBER) {
		respond_error(c, 404, "no such member %" PRIu64, id);
	} else if (rv == NODE_EMEMBER || rv == NODE_EVOTER || rv == NODE_ENOTVOTER) {
		respond_error(c, 409, "member %" PRIu64 ": %s", id, node_strerror(rv));
	} else {
		respond_error(c, 400, "%s", node_strerror(rv));
	}
}

/* POST /v1/members: {"name", "peer", "client", "http", optional "id"}. */
static void member_add(struct hconn *c)
{
	struct server *sv = c->s->sv;
	struct json_doc *doc = NULL;
	if (!request_json(c, &doc))
		return;
	const struct json_value *root = json_doc_root(doc);
	struct node_member m;
	memset(&m, 0, sizeof(m));
	static const char *const fields[4] = {"name", "peer", "client", "http"};
	char *dst[4] = {m.name, m.peer, m.client, m.http};
	size_t cap[4] = {sizeof(m.name), sizeof(m.peer), sizeof(m.client), sizeof(m.http)};
	bool ok = root->type == JSON_OBJECT;
	for (int i = 0; ok && i < 4; i++) {
		const struct json_value *v = json_object_get(root, fields[i]);
		if (v == NULL && i >= 2)
			continue;
		ok = v != NULL && v->type == JSON_STRING && v->len < cap[i] &&
		     memchr(v->str, '\n', v->len) == NULL && memchr(v->str, '\0', v->len) == NULL;
		if (ok)
			memcpy(dst[i], v->str, v->len);
	}
	const struct json_value *idv = ok ? json_object_get(root, "id") : NULL;
	uint64_t id = 0;
	if (idv != NULL && (json_value_uint64(idv, &id) != 0 || id == 0))
		ok = false;
	json_doc_free(doc);
	struct sockaddr_storage sa;
	if (!ok || server_addr_parse(m.peer, &sa) != 0) {
		respond_error(c, 400,
		              "expected {\"name\": ..., \"peer\": \"host:port\" (numeric), "
		              "\"client\": ..., \"http\": ..., optional \"id\"}");
		return;
	}
	if (id == 0) {
		/* The next id after every member known. */
		raft_id ids[RAFT_MAX_MEMBERS * 3];
		uint32_t n = server_conf_peers(sv, ids, RAFT_MAX_MEMBERS * 3);
		struct node_status st;
		node_status(sv->node, &st);
		id = st.id;
		for (uint32_t i = 0; i < n; i++)
			if (ids[i] > id)
				id = ids[i];
		id++;
	}
	m.id = id;
	struct wire_buf b;
	wire_buf_init(&b, 256);
	wire_buf_printf(&b, "{\"id\": %" PRIu64 "}", id);
	respond_node_result(c, node_member_add_learner(sv->node, &m), 200, &b, id);
	wire_buf_free(&b);
}

void route_members(struct hconn *c, const char *rest, size_t len)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (http_not_leader(c))
		return;
	if (len == 0 && q->method == HTTP_METHOD_POST) {
		member_add(c);
		return;
	}
	uint64_t id;
	const char *tail;
	size_t tail_len;
	if (len > 1 && rest[0] == '/' && parse_id_path(rest + 1, len - 1, &id, &tail, &tail_len)) {
		if (tail_len == 8 && memcmp(tail, "/promote", 8) == 0 &&
		    q->method == HTTP_METHOD_POST) {
			respond_node_result(c, node_member_promote(sv->node, id), 200, NULL, id);
			return;
		}
		if (tail_len == 0 && q->method == HTTP_METHOD_DELETE) {
			respond_node_result(c, node_member_remove(sv->node, id), 200, NULL, id);
			return;
		}
	}
	respond_error(c, 404,
	              "no such route (POST /v1/members, POST /v1/members/{id}/promote, "
	              "DELETE /v1/members/{id})");
}

void route_transfer(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (http_not_leader(c))
		return;
	uint64_t to = 0;
	if (q->body_len > 0) {
		struct json_doc *doc = NULL;
		if (!request_json(c, &doc))
			return;
		const struct json_value *v = json_object_get(json_doc_root(doc), "to");
		int rv = v == NULL ? 0 : json_value_uint64(v, &to);
		json_doc_free(doc);
		if (rv != 0) {
			respond_error(c, 400, "\"to\" must be a node id");
			return;
		}
	}
	struct node_status st;
	node_status(sv->node, &st);
	if (to == 0) {
		/* The most caught-up other voter. */
		raft_index best = 0;
		for (uint32_t i = 0; i < st.conf.n_voters; i++) {
			raft_index match = 0, next = 0;
			raft_id id = st.conf.voters[i];
			if (id != st.id && node_progress(sv->node, id, &match, &next) &&
			    (to == 0 || match > best)) {
				to = id;
				best = match;
			}
		}
		if (to == 0) {
			respond_error(c, 400, "no other voter to transfer to");
			return;
		}
	}
	struct wire_buf b;
	wire_buf_init(&b, 256);
	int rv = node_transfer(sv->node, to);
	if (rv == NODE_EALREADY) {
		wire_buf_printf(&b,
		                "{\"from\": %" PRIu64 ", \"to\": %" PRIu64
		                ", \"note\": \"already the leader\"}",
		                st.id, to);
		respond_json(c, 200, &b, NULL, 0);
	} else {
		wire_buf_printf(&b, "{\"from\": %" PRIu64 ", \"to\": %" PRIu64 "}", st.id, to);
		respond_node_result(c, rv, 202, &b, to);
	}
	wire_buf_free(&b);
}

void route_step_down(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct server *sv = c->s->sv;
	if (http_not_leader(c))
		return;
	struct node_status st;
	node_status(sv->node, &st);
	struct wire_buf b;
	wire_buf_init(&b, 256);
	wire_buf_printf(&b, "{\"from\": %" PRIu64 "}", st.id);
	respond_node_result(c, node_step_down(sv->node), 202, &b, RAFT_NONE);
	wire_buf_free(&b);
}

static void fault_json(struct json_writer *w, raft_id to, const struct net_fault *f)
{
	json_write_object_begin(w);
	json_write_key(w, "to");
	json_write_uint(w, to);
	json_write_key(w, "drop_probability");
	json_write_double(w, f->drop_probability);
	json_write_key(w, "request_delay_ms");
	json_write_uint(w, f->request_delay_ms);
	json_write_key(w, "request_delay_probability");
	json_write_double(w, f->request_delay_probability);
	json_write_key(w, "response_delay_ms");
	json_write_uint(w, f->response_delay_ms);
	json_write_key(w, "response_delay_probability");
	json_write_double(w, f->response_delay_probability);
	json_write_key(w, "duplicate_probability");
	json_write_double(w, f->duplicate_probability);
	json_write_key(w, "reorder_jitter_ms");
	json_write_uint(w, f->reorder_jitter_ms);
	json_write_key(w, "block_outbound");
	json_write_bool(w, f->block_outbound);
	json_write_key(w, "block_inbound");
	json_write_bool(w, f->block_inbound);
	json_write_object_end(w);
}

static bool json_prob(const struct json_value *root, const char *name, double *out)
{
	const struct json_value *v = json_object_get(root, name);
	if (v == NULL)
		return true;
	return json_value_double(v, out) == 0 && *out >= 0 && *out <= 1;
}

static bool json_ms(const struct json_value *root, const char *name, uint32_t *out)
{
	const struct json_value *v = json_object_get(root, name);
	uint64_t x;
	if (v == NULL)
		return true;
	if (json_value_uint64(v, &x) != 0 || x > 600000)
		return false;
	*out = (uint32_t)x;
	return true;
}

static bool json_flag(const struct json_value *root, const char *name, bool *out)
{
	const struct json_value *v = json_object_get(root, name);
	if (v == NULL)
		return true;
	if (v->type != JSON_BOOL)
		return false;
	*out = v->boolean;
	return true;
}

/* GET /v1/admin/faults: the faults set on this node's links. */
static void faults_list(struct hconn *c)
{
	struct server *sv = c->s->sv;
	struct wire_buf b;
	wire_buf_init(&b, 1 << 16);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "links");
	json_write_array_begin(&w);
	for (uint32_t i = 0; i < sv->n_faults; i++)
		fault_json(&w, sv->faults[i].peer, &sv->faults[i].f);
	json_write_array_end(&w);
	json_write_object_end(&w);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

/* PUT /v1/admin/faults: a link object (docs/http.md). */
static void faults_set(struct hconn *c)
{
	struct server *sv = c->s->sv;
	struct json_doc *doc = NULL;
	if (!request_json(c, &doc))
		return;
	const struct json_value *root = json_doc_root(doc);
	struct net_fault f;
	memset(&f, 0, sizeof(f));
	uint64_t to = 0;
	const struct json_value *tov = json_object_get(root, "to");
	bool all = tov != NULL && tov->type == JSON_STRING && tov->len == 1 && tov->str[0] == '*';
	bool ok = root->type == JSON_OBJECT && tov != NULL &&
	          (all || (json_value_uint64(tov, &to) == 0 && to != 0)) &&
	          json_prob(root, "drop_probability", &f.drop_probability) &&
	          json_ms(root, "request_delay_ms", &f.request_delay_ms) &&
	          json_prob(root, "request_delay_probability", &f.request_delay_probability) &&
	          json_ms(root, "response_delay_ms", &f.response_delay_ms) &&
	          json_prob(root, "response_delay_probability", &f.response_delay_probability) &&
	          json_prob(root, "duplicate_probability", &f.duplicate_probability) &&
	          json_ms(root, "reorder_jitter_ms", &f.reorder_jitter_ms) &&
	          json_flag(root, "block_outbound", &f.block_outbound) &&
	          json_flag(root, "block_inbound", &f.block_inbound);
	/* A delay given without its probability applies to every message. */
	if (f.request_delay_ms > 0 && json_object_get(root, "request_delay_probability") == NULL)
		f.request_delay_probability = 1;
	if (f.response_delay_ms > 0 && json_object_get(root, "response_delay_probability") == NULL)
		f.response_delay_probability = 1;
	json_doc_free(doc);
	if (!ok) {
		respond_error(c, 400,
		              "expected a link object with \"to\" (a node id or \"*\") and "
		              "fault fields in range (docs/http.md)");
		return;
	}
	int rv = server_fault_set(sv, all ? RAFT_NONE : to, &f);
	if (rv != 0)
		respond_error(c, 400, "cannot set faults on that link: %s", node_strerror(rv));
	else
		respond_empty_object(c, 200);
}

void route_faults(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (q->method == HTTP_METHOD_GET || q->method == HTTP_METHOD_HEAD) {
		faults_list(c);
		return;
	}
	if (q->method == HTTP_METHOD_DELETE) {
		uint64_t to = 0;
		int rv = query_u64(q, "to", &to);
		if (rv < 0) {
			respond_error(c, 400, "to must be a node id");
			return;
		}
		server_fault_clear(sv, rv > 0 ? to : RAFT_NONE);
		respond_empty_object(c, 200);
		return;
	}
	if (q->method != HTTP_METHOD_PUT && q->method != HTTP_METHOD_POST) {
		respond_method_not_allowed(c, "GET, PUT, DELETE");
		return;
	}
	faults_set(c);
}

/* /v1/admin/faults/disk: a hung disk on this node (GET: the stall in force; PUT or POST
 * {"stall_ms": N}: writes and syncs wait N ms from now; DELETE: clear). */
void route_disk_fault(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (q->method == HTTP_METHOD_PUT || q->method == HTTP_METHOD_POST) {
		struct json_doc *doc = NULL;
		if (!request_json(c, &doc))
			return;
		const struct json_value *root = json_doc_root(doc);
		uint32_t ms = 0;
		bool ok = root->type == JSON_OBJECT && json_object_get(root, "stall_ms") != NULL &&
		          json_ms(root, "stall_ms", &ms);
		json_doc_free(doc);
		if (!ok) {
			respond_error(c, 400, "expected {\"stall_ms\": N} with N at most 600000");
			return;
		}
		node_disk_stall(sv->node, ms);
	} else if (q->method == HTTP_METHOD_DELETE) {
		node_disk_stall(sv->node, 0);
	} else if (q->method != HTTP_METHOD_GET && q->method != HTTP_METHOD_HEAD) {
		respond_method_not_allowed(c, "GET, PUT, DELETE");
		return;
	}
	uint64_t calls = 0;
	uint64_t left = node_disk_stall_left(sv->node, &calls);
	struct wire_buf b;
	wire_buf_init(&b, 128);
	wire_buf_printf(&b, "{\"stall_ms_left\": %" PRIu64 ", \"stalled_calls\": %" PRIu64 "}",
	                left, calls);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}
