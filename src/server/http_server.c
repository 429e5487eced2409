/* http_server.c: the HTTP/JSON frontend (routes of docs/http.md), and the helpers both frontends share (server.h). */
#include "server/http_server.h"
#include "codec/http.h"
#include "codec/json.h"
#include "codec/metrics.h"
#include "codec/web.h"
#include "server/resp_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* =================================================================================
 * Shared helpers (server.h)
 */

void server_init(struct server *sv)
{
	memset(sv, 0, sizeof(*sv));
	snprintf(sv->cluster_id, sizeof(sv->cluster_id), "concord");
	snprintf(sv->version, sizeof(sv->version), "0.1.0");
	sv->resp_follower = SERVER_FOLLOWER_FORWARD;
	sv->http_follower = SERVER_FOLLOWER_FORWARD;
	sv->max_clients = 4096;
	sv->pending_max = 1024;
	sv->output_soft_bytes = (size_t)4 << 20;
	sv->output_hard_bytes = (size_t)256 << 20;
	kv_limits_default(&sv->limits);
	sv->request_timeout_ms = 5000;
	sv->log_level = 1;
}

void server_logf(const struct server *sv, int level, const char *fmt, ...)
{
	if (level < sv->log_level)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, sv->name[0] != '\0' ? sv->name : "concord",
		levels[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

int server_addr_parse(const char *address, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	const char *colon = strrchr(address, ':');
	if (colon == NULL || colon == address || colon[1] == '\0')
		return UV_EINVAL;
	char host[128];
	size_t hlen = (size_t)(colon - address);
	if (hlen >= sizeof(host))
		return UV_EINVAL;
	memcpy(host, address, hlen);
	host[hlen] = '\0';
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		return UV_EINVAL;
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out);
	}
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out);
}

int server_listen(struct server *sv, uv_tcp_t *listener, const struct sockaddr_storage *sa,
		  uv_connection_cb cb, const char *flag, const char *address, int *port,
		  char *errmsg, size_t len)
{
	uv_tcp_init(sv->loop, listener);
	int rv = uv_tcp_bind(listener, (const struct sockaddr *)sa, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)listener, 511, cb);
	if (rv != 0) {
		snprintf(errmsg, len, "%s %s: %s", flag, address, uv_strerror(rv));
		return rv; /* the caller exits on this error */
	}
	struct sockaddr_storage name;
	int nlen = sizeof(name);
	uv_tcp_getsockname(listener, (struct sockaddr *)&name, &nlen);
	*port = name.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&name)->sin6_port)
					   : ntohs(((struct sockaddr_in *)&name)->sin_port);
	return 0;
}

static bool conf_has(const raft_id *ids, uint32_t n, raft_id id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

const char *server_role_name(struct server *sv)
{
	struct node_status st;
	node_status(sv->node, &st);
	switch (st.role) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_CANDIDATE:
	case RAFT_PRECANDIDATE:
		return "candidate";
	default:
		return conf_has(st.conf.learners, st.conf.n_learners, st.id) ? "learner" : "follower";
	}
}

static struct server_fault *fault_find(struct server *sv, raft_id peer, bool create)
{
	for (uint32_t i = 0; i < sv->n_faults; i++)
		if (sv->faults[i].peer == peer)
			return &sv->faults[i];
	if (!create || sv->n_faults == sizeof(sv->faults) / sizeof(sv->faults[0]))
		return NULL;
	struct server_fault *f = &sv->faults[sv->n_faults++];
	memset(f, 0, sizeof(*f));
	f->peer = peer;
	return f;
}

static void fault_forget(struct server *sv, raft_id peer)
{
	for (uint32_t i = 0; i < sv->n_faults; i++) {
		if (sv->faults[i].peer != peer)
			continue;
		sv->faults[i] = sv->faults[--sv->n_faults];
		return;
	}
}

/* Every member id of the configuration in force, once, except this node's. */
static uint32_t conf_peers(struct server *sv, raft_id *out, uint32_t cap)
{
	struct node_status st;
	node_status(sv->node, &st);
	const raft_id *lists[3] = {st.conf.voters, st.conf.voters_old, st.conf.learners};
	uint32_t counts[3] = {st.conf.n_voters, st.conf.n_voters_old, st.conf.n_learners};
	uint32_t n = 0;
	for (int l = 0; l < 3; l++)
		for (uint32_t i = 0; i < counts[l]; i++)
			if (lists[l][i] != st.id && !conf_has(out, n, lists[l][i]) && n < cap)
				out[n++] = lists[l][i];
	return n;
}

int server_fault_set(struct server *sv, raft_id peer, const struct net_fault *f)
{
	int rv = node_fault_set(sv->node, peer, f);
	if (rv != 0)
		return rv;
	raft_id ids[RAFT_MAX_MEMBERS * 3];
	uint32_t n = peer == RAFT_NONE ? conf_peers(sv, ids, RAFT_MAX_MEMBERS * 3) : 1;
	if (peer != RAFT_NONE)
		ids[0] = peer;
	for (uint32_t i = 0; i < n; i++) {
		struct server_fault *sf = fault_find(sv, ids[i], true);
		if (sf != NULL)
			sf->f = *f;
	}
	server_logf(sv, 1, "faults on the link%s to %s%" PRIu64 ": drop %g, request delay %u ms, "
		    "response delay %u ms, duplicate %g, block out %d, block in %d",
		    peer == RAFT_NONE ? "s" : "", peer == RAFT_NONE ? "every member, " : "n", peer,
		    f->drop_probability, f->request_delay_ms, f->response_delay_ms,
		    f->duplicate_probability, f->block_outbound, f->block_inbound);
	return 0;
}

void server_fault_clear(struct server *sv, raft_id peer)
{
	node_fault_clear(sv->node, peer);
	if (peer == RAFT_NONE)
		sv->n_faults = 0;
	else
		fault_forget(sv, peer);
	server_logf(sv, 1, "faults cleared on %s", peer == RAFT_NONE ? "every link" : "one link");
}

static void json_uint_or_null(struct json_writer *w, const char *key, bool known, uint64_t v)
{
	json_write_key(w, key);
	if (known)
		json_write_uint(w, v);
	else
		json_write_null(w);
}

static void json_member(struct json_writer *w, struct server *sv, const struct node_status *st,
			raft_id id, bool voter)
{
	const struct node_member *m = node_member(sv->node, id);
	bool self = id == st->id;
	bool leading = st->role == RAFT_LEADER;
	json_write_object_begin(w);
	json_write_key(w, "id");
	json_write_uint(w, id);
	json_write_key(w, "name");
	json_write_cstr(w, m != NULL ? m->name : "");
	json_write_key(w, "role");
	if (self)
		json_write_cstr(w, server_role_name(sv));
	else if (!voter)
		json_write_cstr(w, "learner");
	else if (id == st->leader)
		json_write_cstr(w, "leader");
	else if (st->leader != RAFT_NONE)
		json_write_cstr(w, "follower");
	else
		json_write_cstr(w, "unknown");
	json_write_key(w, "voter");
	json_write_bool(w, voter);
	json_write_key(w, "self");
	json_write_bool(w, self);
	/* A node knows its own numbers; of the others only the leader knows anything, the
	 * match index of its progress tracking. */
	json_write_key(w, "source");
	json_write_cstr(w, self ? "self" : leading ? "leader-progress" : "none");
	json_uint_or_null(w, "term", self, st->term);
	json_uint_or_null(w, "commit", self, st->commit);
	json_uint_or_null(w, "applied", self, st->applied);
	raft_index match = 0, next = 0;
	bool have = false;
	if (self && leading) {
		match = st->last_index;
		have = true;
	} else if (leading) {
		have = node_progress(sv->node, id, &match, &next);
	}
	json_uint_or_null(w, "match", have, match);
	json_write_key(w, "peer");
	json_write_cstr(w, m != NULL ? m->peer : "");
	json_write_key(w, "client");
	json_write_cstr(w, m != NULL ? m->client : "");
	json_write_key(w, "http");
	json_write_cstr(w, m != NULL ? m->http : "");
	/* The transport's per-link state is not exposed by the node. */
	json_write_key(w, "reachable");
	if (self)
		json_write_bool(w, true);
	else
		json_write_null(w);
	json_write_object_end(w);
}

int server_write_cluster_json(struct wire_buf *b, struct server *sv)
{
	struct node_status st;
	node_status(sv->node, &st);
	const struct kv *kv = node_kv(sv->node);
	struct json_writer w;
	json_writer_init(&w, b);
	json_write_object_begin(&w);
	json_write_key(&w, "cluster_id");
	json_write_cstr(&w, sv->cluster_id);
	json_write_key(&w, "node_id");
	json_write_uint(&w, st.id);
	json_write_key(&w, "role");
	json_write_cstr(&w, server_role_name(sv));
	json_write_key(&w, "leader");
	json_write_uint(&w, st.leader);
	json_write_key(&w, "term");
	json_write_uint(&w, st.term);
	json_write_key(&w, "commit");
	json_write_uint(&w, st.commit);
	json_write_key(&w, "applied");
	json_write_uint(&w, st.applied);
	json_write_key(&w, "last_index");
	json_write_uint(&w, st.last_index);
	json_write_key(&w, "snapshot_index");
	json_write_uint(&w, st.snapshot_index);
	json_write_key(&w, "revision");
	json_write_uint(&w, kv_revision(kv));
	json_write_key(&w, "joint");
	json_write_bool(&w, st.conf.n_voters_old > 0);
	json_write_key(&w, "read_mode");
	json_write_cstr(&w, sv->stale_reads ? "stale" : "linearizable");
	json_write_key(&w, "note");
	json_write_cstr(&w, "term, commit and applied are known for this node only (source "
			    "\"self\"); for the others, role is inferred from the configuration and "
			    "the leader, and match comes from the leader's progress tracking "
			    "(source \"leader-progress\"), else null");
	json_write_key(&w, "nodes");
	json_write_array_begin(&w);
	raft_id seen[RAFT_MAX_MEMBERS * 3];
	uint32_t n_seen = 0;
	const raft_id *lists[3] = {st.conf.voters, st.conf.voters_old, st.conf.learners};
	uint32_t counts[3] = {st.conf.n_voters, st.conf.n_voters_old, st.conf.n_learners};
	for (int l = 0; l < 3; l++) {
		for (uint32_t i = 0; i < counts[l]; i++) {
			raft_id id = lists[l][i];
			if (conf_has(seen, n_seen, id))
				continue;
			seen[n_seen++] = id;
			json_member(&w, sv, &st, id, l < 2);
		}
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	return b->err;
}

/* =================================================================================
 * Types
 */

struct hconn;

/* A request relayed to the leader's HTTP port: one connection, "Connection: close". */
struct hrelay {
	struct hconn *c;
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t write_req;
	uv_timer_t timer;
	int closing; /* handles still to close */
	bool done;   /* the client has its answer */
	bool sent;   /* the request was written */
	char address[128];
	struct wire_buf req;
	struct wire_buf resp;
	bool head_only;
};

struct hconn {
	struct hconn *prev, *next;
	struct http_server *s;
	uv_tcp_t tcp;
	uv_write_t write_req;
	struct http_parser parser;
	struct wire_buf out, writing;
	bool write_busy;
	bool closing;
	bool reading;
	bool busy;         /* a request waits for the node or the leader */
	bool close_after;  /* the last response said "Connection: close" */
	bool input_closed; /* EOF from the client */
	bool processing;
	bool lingering;    /* responses sent, write side shut: reading until EOF */
	size_t discarded;  /* bytes read and dropped while lingering */
	uv_shutdown_t shutdown_req;
	uint32_t refs;
	struct http_request req; /* the request being served (valid while busy: no parser
	                            call happens meanwhile) */
	bool head_only;
	/* What a pending operation needs when it completes. */
	int op;
	bool force_base64;
	bool stale;
	uint64_t rev;
	bool raw;
	char *key; /* the key of a pending read or write (copy) */
	size_t key_len;
	uint64_t client_id, seq;
	struct hrelay *relay;
};

struct http_server {
	struct server *sv;
	uv_tcp_t listener;
	bool listening;
	bool closing;
	int port;
	struct hconn *conns;
	uint32_t n_conns;
	uint32_t n_alive;
	uint64_t next_id;
	void (*close_cb)(void *);
	void *close_arg;
	struct http_server_stats st;
};

enum {
	OP_NONE,
	OP_GET,
	OP_LIST,
	OP_PUT,
	OP_DELETE,
	OP_DELETE_CAS,
	OP_SESSION_OPEN,
	OP_SESSION_OTHER,
};

/* =================================================================================
 * Responses
 */

static void hconn_close(struct hconn *c);
static void hconn_process(struct hconn *c);
static void hconn_write(struct hconn *c);

static void respond(struct hconn *c, int status, const char *content_type, const void *body,
		    size_t len, const struct http_header *extra, size_t n_extra)
{
	struct http_server *s = c->s;
	s->st.requests++;
	if (status >= 400)
		s->st.errors++;
	bool close = !c->req.keep_alive || s->closing;
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
	if (http_write_response(&c->out, &r) == WIRE_EINVAL) {
		r.extra_count = 0;
		http_write_response(&c->out, &r);
	}
	if (close)
		c->close_after = true;
}

static void respond_json(struct hconn *c, int status, struct wire_buf *body,
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
static void respond_error(struct hconn *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void respond_error(struct hconn *c, int status, const char *fmt, ...)
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

static void respond_empty_object(struct hconn *c, int status)
{
	respond(c, status, "application/json", "{}", 2, NULL, 0);
}

/* =================================================================================
 * Connections
 */

static void hconn_unref(struct hconn *c)
{
	assert(c->refs > 0);
	if (--c->refs > 0)
		return;
	struct http_server *s = c->s;
	http_parser_free(&c->parser);
	wire_buf_free(&c->out);
	wire_buf_free(&c->writing);
	free(c->key);
	free(c);
	s->n_alive--;
	if (s->closing && s->n_alive == 0 && !s->listening && s->close_cb != NULL) {
		void (*cb)(void *) = s->close_cb;
		s->close_cb = NULL;
		cb(s->close_arg);
		free(s);
	}
}

static void hconn_on_close(uv_handle_t *h)
{
	struct hconn *c = h->data;
	struct http_server *s = c->s;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	s->st.clients = s->n_conns;
	hconn_unref(c);
}

static void hrelay_finish(struct hrelay *r);

static void hconn_close(struct hconn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->relay != NULL)
		hrelay_finish(c->relay);
	uv_close((uv_handle_t *)&c->tcp, hconn_on_close);
}

static void hconn_on_write(uv_write_t *req, int status)
{
	struct hconn *c = req->data;
	c->write_busy = false;
	if (c->writing.cap > ((size_t)1 << 20)) {
		size_t max = c->writing.max_bytes;
		wire_buf_free(&c->writing);
		wire_buf_init(&c->writing, max);
	} else {
		wire_buf_reset(&c->writing);
	}
	if (c->closing)
		return;
	if (status < 0) {
		hconn_close(c);
		return;
	}
	hconn_write(c);
	hconn_process(c);
}

static void hconn_on_shutdown(uv_shutdown_t *req, int status)
{
	struct hconn *c = req->data;
	if (status < 0 && !c->closing)
		hconn_close(c);
}

static void hconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void hconn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void hconn_write(struct hconn *c)
{
	if (c->closing || c->write_busy)
		return;
	if (c->out.err != 0) {
		hconn_close(c);
		return;
	}
	if (c->out.len == 0) {
		if (c->busy || c->lingering || !(c->close_after || c->input_closed))
			return;
		if (c->input_closed) {
			hconn_close(c);
			return;
		}
		/* Closing with unread input would reset the connection and could destroy the
		 * response in flight: shut the write side and drain (bounded) until EOF. */
		c->lingering = true;
		c->shutdown_req.data = c;
		if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, hconn_on_shutdown) != 0) {
			hconn_close(c);
			return;
		}
		if (!c->reading &&
		    uv_read_start((uv_stream_t *)&c->tcp, hconn_alloc, hconn_on_read) == 0)
			c->reading = true;
		return;
	}
	struct wire_buf t = c->writing;
	c->writing = c->out;
	c->out = t;
	uv_buf_t buf = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
	if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, hconn_on_write) != 0) {
		hconn_close(c);
		return;
	}
	c->write_busy = true;
}

/* The pending request is answered: serve the next one. */
static void hconn_done(struct hconn *c)
{
	c->busy = false;
	c->op = OP_NONE;
	free(c->key);
	c->key = NULL;
	if (!c->closing) {
		hconn_write(c);
		hconn_process(c);
	}
	hconn_unref(c);
}

/* =================================================================================
 * Query parameters
 */

static bool query_flag(const struct http_request *req, const char *name)
{
	char v[16];
	size_t len = 0;
	if (http_query_get(req->query, req->query_len, name, v, sizeof(v), &len) != 0)
		return false;
	return !(len == 1 && v[0] == '0') && !(len == 5 && memcmp(v, "false", 5) == 0);
}

/* 0: absent, 1: present and parsed, -1: malformed. */
static int query_u64(const struct http_request *req, const char *name, uint64_t *out)
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
static int query_bytes(const struct http_request *req, const char *name, char **out, size_t *len)
{
	char *buf = malloc(req->query_len + 1);
	if (buf == NULL)
		abort();
	int rv = http_query_get(req->query, req->query_len, name, buf, req->query_len + 1, len);
	if (rv == 0) {
		*out = buf;
		return 1;
	}
	free(buf);
	return rv == WIRE_ENOTFOUND ? 0 : -1;
}

static bool want_base64(const struct http_request *req)
{
	char v[16];
	size_t len = 0;
	return http_query_get(req->query, req->query_len, "encoding", v, sizeof(v), &len) == 0 &&
	       len == 6 && memcmp(v, "base64", 6) == 0;
}

/* =================================================================================
 * Not the leader
 */

static void hrelay_start(struct hconn *c, const struct node_member *leader);

/* Returns true if the request was answered or relayed: the caller stops. */
static bool not_leader(struct hconn *c)
{
	struct server *sv = c->s->sv;
	struct node_status st;
	node_status(sv->node, &st);
	if (st.role == RAFT_LEADER)
		return false;
	const struct node_member *leader = node_leader(sv->node);
	if (leader == NULL || leader->id == st.id) {
		struct wire_buf b;
		wire_buf_init(&b, 4096);
		wire_buf_printf(&b, "{\"error\": \"no leader\", \"term\": %" PRIu64 "}", st.term);
		struct http_header h = {"Retry-After", 11, "1", 1};
		respond_json(c, 503, &b, &h, 1);
		wire_buf_free(&b);
		return true;
	}
	bool forwarded = http_request_header(&c->req, "Concord-Forwarded") != NULL;
	if (sv->http_follower == SERVER_FOLLOWER_FORWARD && !forwarded && leader->http[0] != '\0') {
		hrelay_start(c, leader);
		return true;
	}
	if (leader->http[0] == '\0') {
		respond_error(c, 503, "not the leader, and the leader (node %" PRIu64
				      ") has no known HTTP address", leader->id);
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
	respond_json(c, 421, &b, &h, url.err == 0 ? 1 : 0);
	wire_buf_free(&url);
	wire_buf_free(&b);
	return true;
}

/* =================================================================================
 * Relays to the leader
 */

static void hrelay_on_close(uv_handle_t *h)
{
	struct hrelay *r = h->data;
	if (--r->closing > 0)
		return;
	struct hconn *c = r->c;
	wire_buf_free(&r->req);
	wire_buf_free(&r->resp);
	free(r);
	hconn_unref(c);
}

/* Answers the client (unless it was) and closes the relay. */
static void hrelay_answer(struct hrelay *r, int status, const char *why)
{
	struct hconn *c = r->c;
	if (r->done)
		return;
	r->done = true;
	c->relay = NULL;
	if (!c->closing && status != 0) {
		if (status == 504)
			respond_error(c, 504, "outcome unknown: %s", why);
		else
			respond_error(c, status, "%s", why);
	}
	r->closing = 2;
	uv_close((uv_handle_t *)&r->tcp, hrelay_on_close);
	uv_close((uv_handle_t *)&r->timer, hrelay_on_close);
	hconn_done(c);
}

static void hrelay_finish(struct hrelay *r)
{
	hrelay_answer(r, 0, "");
}

/* The leader's whole response is in: pass status, type, body and a few headers on. */
static void hrelay_deliver(struct hrelay *r)
{
	struct hconn *c = r->c;
	const char *p = r->resp.data;
	size_t len = r->resp.len;
	const char *end = p != NULL && len > 0 ? memmem(p, len, "\r\n\r\n", 4) : NULL;
	if (len < 12 || end == NULL || memcmp(p, "HTTP/1.", 7) != 0) {
		hrelay_answer(r, 502, "malformed response from the leader");
		return;
	}
	int status = atoi(p + 9);
	if (status < 100 || status > 599) {
		hrelay_answer(r, 502, "malformed status from the leader");
		return;
	}
	const char *body = end + 4;
	size_t body_len = len - (size_t)(body - p);
	char ctype[128] = "";
	struct http_header extra[8];
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
				snprintf(ctype, sizeof(ctype), "%.*s", (int)(vlen < 127 ? vlen : 127), v);
			} else if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
				size_t cl = (size_t)strtoull(v, NULL, 10);
				if (cl < body_len)
					body_len = cl;
			} else if (n_extra < 8 &&
				   ((nlen == 8 && strncasecmp(line, "Location", 8) == 0) ||
				    (nlen == 11 && strncasecmp(line, "Retry-After", 11) == 0) ||
				    (nlen == 5 && strncasecmp(line, "Allow", 5) == 0) ||
				    (nlen > 8 && strncasecmp(line, "Concord-", 8) == 0))) {
				extra[n_extra++] = (struct http_header){line, nlen, v, vlen};
			}
		}
		line = eol + 1;
	}
	r->done = true;
	c->relay = NULL;
	if (!c->closing)
		respond(c, status, ctype[0] != '\0' ? ctype : NULL, body, body_len, extra, n_extra);
	r->closing = 2;
	uv_close((uv_handle_t *)&r->tcp, hrelay_on_close);
	uv_close((uv_handle_t *)&r->timer, hrelay_on_close);
	hconn_done(c);
}

static void hrelay_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hrelay *r = h->data;
	(void)suggested;
	if (wire_buf_reserve(&r->resp, 65536) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(r->resp.data + r->resp.len, (unsigned)(r->resp.cap - r->resp.len));
}

static void hrelay_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct hrelay *r = st->data;
	(void)buf;
	if (r->done)
		return;
	if (nread == UV_EOF) {
		hrelay_deliver(r);
		return;
	}
	if (nread < 0) {
		hrelay_answer(r, 504, "the connection to the leader broke");
		return;
	}
	r->resp.len += (size_t)nread;
}

static void hrelay_on_write(uv_write_t *req, int status)
{
	struct hrelay *r = req->data;
	if (r->done)
		return;
	if (status < 0)
		hrelay_answer(r, 504, "the connection to the leader broke");
}

static void hrelay_on_connect(uv_connect_t *req, int status)
{
	struct hrelay *r = req->data;
	if (r->done)
		return;
	if (status < 0) {
		hrelay_answer(r, 503, "cannot reach the leader");
		return;
	}
	r->sent = true;
	uv_buf_t b = uv_buf_init(r->req.data, (unsigned)r->req.len);
	r->write_req.data = r;
	int rv = uv_write(&r->write_req, (uv_stream_t *)&r->tcp, &b, 1, hrelay_on_write);
	if (rv == 0)
		rv = uv_read_start((uv_stream_t *)&r->tcp, hrelay_alloc, hrelay_on_read);
	if (rv != 0)
		hrelay_answer(r, 504, "the connection to the leader broke");
}

static void hrelay_on_timer(uv_timer_t *t)
{
	struct hrelay *r = t->data;
	hrelay_answer(r, r->sent ? 504 : 503, "the leader did not answer in time");
}

static void hrelay_start(struct hconn *c, const struct node_member *leader)
{
	struct server *sv = c->s->sv;
	struct hrelay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	r->c = c;
	snprintf(r->address, sizeof(r->address), "%s", leader->http);
	const struct http_request *q = &c->req;
	wire_buf_init(&r->req, (size_t)64 << 20);
	wire_buf_init(&r->resp, sv->output_hard_bytes);
	wire_buf_append(&r->req, q->method_name, q->method_len);
	wire_buf_append(&r->req, " ", 1);
	wire_buf_append(&r->req, q->target, q->target_len);
	wire_buf_printf(&r->req, " HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
				 "Concord-Forwarded: 1\r\nContent-Length: %zu\r\n",
			r->address, q->body_len);
	static const char *const pass[] = {"Content-Type", "Concord-Client-Id", "Concord-Seq",
					   "Accept"};
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		const struct http_header *h = http_request_header(q, pass[i]);
		if (h != NULL) {
			wire_buf_append(&r->req, h->name, h->name_len);
			wire_buf_append(&r->req, ": ", 2);
			wire_buf_append(&r->req, h->value, h->value_len);
			wire_buf_append(&r->req, "\r\n", 2);
		}
	}
	wire_buf_append(&r->req, "\r\n", 2);
	wire_buf_append(&r->req, q->body, q->body_len);
	c->busy = true;
	c->refs += 2; /* the pending request, and the relay's handles */
	c->relay = r;
	c->s->st.forwarded++;
	uv_tcp_init(sv->loop, &r->tcp);
	uv_timer_init(sv->loop, &r->timer);
	r->tcp.data = r;
	r->timer.data = r;
	r->connect_req.data = r;
	uv_timer_start(&r->timer, hrelay_on_timer, 2 * (uint64_t)sv->request_timeout_ms + 1000, 0);
	struct sockaddr_storage sa;
	int rv = r->req.err != 0 ? UV_ENOMEM : server_addr_parse(r->address, &sa);
	if (rv == 0)
		rv = uv_tcp_connect(&r->connect_req, &r->tcp, (const struct sockaddr *)&sa,
				    hrelay_on_connect);
	if (rv != 0)
		hrelay_answer(r, 503, "cannot reach the leader");
}

/* =================================================================================
 * Key-value routes
 */

static void write_kv_fields(struct json_writer *w, const struct kv_value *v, bool b64,
			    bool keys_only)
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
		uint64_t vals[4] = {c->rev != 0 ? c->rev : revision, v.create_revision, v.mod_revision,
				    v.version};
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
		wire_buf_printf(&b, "{\"error\": \"revision %" PRIu64 " is compacted\", "
				    "\"compact_revision\": %" PRIu64 "}", c->rev, kv_compact_revision(kv));
		respond_json(c, 410, &b, NULL, 0);
	} else if (rv == KV_EFUTURE) {
		wire_buf_printf(&b, "{\"error\": \"revision %" PRIu64 " is in the future\", "
				    "\"revision\": %" PRIu64 "}", c->rev, revision);
		respond_json(c, 400, &b, NULL, 0);
	} else if (rv == KV_EKEYTOOBIG) {
		respond_error(c, 414, "key too large (limit %u bytes)", c->s->sv->limits.key_bytes_max);
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

static bool key_reserved(const void *key, size_t len)
{
	return len >= 9 && memcmp(key, "\0concord/", 9) == 0;
}

static int list_one(void *arg, const struct kv_value *v)
{
	struct list_state *ls = arg;
	if (key_reserved(v->key, v->key_len))
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
	const struct kv *kv = node_kv(c->s->sv->node);
	const struct http_request *q = &c->req;
	char *prefix = NULL, *start = NULL;
	size_t plen = 0, slen = 0;
	uint64_t limit = 100;
	if (query_bytes(q, "prefix", &prefix, &plen) < 0 || query_bytes(q, "start", &start, &slen) < 0 ||
	    query_u64(q, "limit", &limit) < 0 || limit == 0) {
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
	struct list_state ls = {.w = &w, .b64 = c->force_base64,
				.keys_only = query_flag(q, "keys_only"), .limit = limit};
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
			char *next = malloc(ls.last_len + 1);
			if (next == NULL)
				abort();
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
	if (!c->closing) {
		if (status == NODE_OK) {
			if (c->op == OP_GET)
				serve_get(c);
			else
				serve_list(c);
		} else if (status == NODE_ENOTLEADER) {
			struct wire_buf b;
			wire_buf_init(&b, 256);
			wire_buf_printf(&b, "{\"error\": \"no leader: leadership was lost before the read "
					    "was confirmed\"}");
			struct http_header h = {"Retry-After", 11, "1", 1};
			respond_json(c, 503, &b, &h, 1);
			wire_buf_free(&b);
		} else if (status == NODE_ETIMEOUT) {
			respond_error(c, 504, "the read timed out waiting for a quorum");
		} else {
			respond_error(c, 503, "%s", node_strerror(status));
		}
	}
	hconn_done(c);
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
	c->key = malloc(key_len + 1);
	if (c->key == NULL)
		abort();
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
	if (not_leader(c))
		return;
	c->busy = true;
	c->refs++;
	rv = node_read(sv->node, false, on_read_done, c);
	if (rv != 0)
		on_read_done(c, rv);
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
			 kv_strerror(r->code), sv->limits.key_bytes_max, sv->limits.value_bytes_max);
		json_write_cstr(&w, msg);
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

static void on_write_done(void *arg, int status, const struct kv_reply *reply)
{
	struct hconn *c = arg;
	if (!c->closing) {
		if (status == NODE_OK) {
			write_reply_json(c, reply);
		} else if (status == NODE_ELOST) {
			struct http_header h = {"Retry-After", 11, "1", 1};
			struct wire_buf b;
			wire_buf_init(&b, 256);
			wire_buf_printf(&b, "{\"error\": \"the leader changed before the write "
					    "committed; it had no effect; retry\"}");
			respond_json(c, 503, &b, &h, 1);
			wire_buf_free(&b);
		} else if (status == NODE_ETIMEOUT) {
			respond_error(c, 504, "outcome unknown: timed out waiting for a quorum");
		} else {
			respond_error(c, 504, "outcome unknown: %s", node_strerror(status));
		}
	}
	hconn_done(c);
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
		c->busy = true;
		c->refs++;
		return;
	}
	if (rv == NODE_ENOTLEADER && not_leader(c))
		return;
	if (rv == NODE_EBUSY)
		respond_error(c, 503, "busy: a leadership transfer is under way; retry");
	else if (rv == NODE_ETOOBIG)
		respond_error(c, 413, "command too large (limits: key %u bytes, value %u bytes)",
			      sv->limits.key_bytes_max, sv->limits.value_bytes_max);
	else if (rv == NODE_EINVAL)
		respond_error(c, 400, "invalid write (keys starting with \\u0000concord/ are reserved)");
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
	if (key_reserved(key, len)) {
		respond_error(c, 400, "keys starting with \\u0000concord/ are reserved");
		return false;
	}
	c->key = malloc(len + 1);
	if (c->key == NULL)
		abort();
	if (len > 0)
		memcpy(c->key, key, len);
	c->key_len = len;
	return true;
}

static bool content_is_json(const struct http_request *q)
{
	const struct http_header *h = http_request_header(q, "Content-Type");
	return h != NULL && h->value_len >= 16 && strncasecmp(h->value, "application/json", 16) == 0;
}

static void route_put(struct hconn *c, const char *key, size_t key_len)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	c->force_base64 = want_base64(q);
	if (session_headers(c) < 0) {
		respond_error(c, 400, "Concord-Client-Id and Concord-Seq must both be positive integers");
		return;
	}
	if (!key_check(c, key, key_len))
		return;
	struct kv_cmd cmd = {.op = KV_OP_SET};
	cmd.put.key = c->key;
	cmd.put.key_len = c->key_len;
	void *value = NULL, *ifv = NULL;
	char *qifv = NULL;
	size_t vlen = 0, ifvlen = 0;
	int conds = 0;
	struct json_doc *doc = NULL;
	if (content_is_json(q)) {
		char err[WIRE_ERRMSG_SIZE];
		if (json_parse(q->body, q->body_len, NULL, &doc, err) != 0) {
			respond_error(c, 400, "bad JSON: %s", err);
			return;
		}
		const struct json_value *root = json_doc_root(doc);
		if (root->type != JSON_OBJECT ||
		    json_object_get_bytes(root, "value", &value, &vlen) != 0) {
			json_doc_free(doc);
			respond_error(c, 400, "the body must be an object with \"value\" or \"value_base64\"");
			return;
		}
		const struct json_value *v;
		if ((v = json_object_get(root, "if_absent")) != NULL && v->type == JSON_BOOL && v->boolean) {
			cmd.put.cond.kind = KV_COND_ABSENT;
			conds++;
		}
		if ((v = json_object_get(root, "if_present")) != NULL && v->type == JSON_BOOL && v->boolean) {
			cmd.put.cond.kind = KV_COND_PRESENT;
			conds++;
		}
		int rv = json_object_get_bytes(root, "if_value", &ifv, &ifvlen);
		if (rv == 0) {
			cmd.put.cond = (struct kv_cond){.kind = KV_COND_VALUE, .value = ifv, .value_len = ifvlen};
			conds++;
		} else if (rv != WIRE_ENOTFOUND) {
			conds = 99;
		}
		if ((v = json_object_get(root, "if_mod_revision")) != NULL) {
			uint64_t mr;
			if (json_value_uint64(v, &mr) != 0)
				conds = 99;
			cmd.put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = mr};
			conds++;
		}
	} else {
		vlen = q->body_len;
		if (query_flag(q, "if_absent")) {
			cmd.put.cond.kind = KV_COND_ABSENT;
			conds++;
		}
		if (query_flag(q, "if_present")) {
			cmd.put.cond.kind = KV_COND_PRESENT;
			conds++;
		}
		int rv = query_bytes(q, "if_value", &qifv, &ifvlen);
		if (rv > 0) {
			cmd.put.cond = (struct kv_cond){.kind = KV_COND_VALUE, .value = qifv, .value_len = ifvlen};
			conds++;
		} else if (rv < 0) {
			conds = 99;
		}
		uint64_t mr = 0;
		rv = query_u64(q, "if_mod_revision", &mr);
		if (rv > 0) {
			cmd.put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = mr};
			conds++;
		} else if (rv < 0) {
			conds = 99;
		}
	}
	cmd.put.value = value != NULL ? value : q->body;
	cmd.put.value_len = vlen;
	if (conds > 1) {
		respond_error(c, 400, "at most one condition, well formed: if_absent, if_present, "
				      "if_value or if_mod_revision");
	} else if (vlen > sv->limits.value_bytes_max) {
		respond_error(c, 413, "value too large (limit %u bytes)", sv->limits.value_bytes_max);
	} else {
		submit_write(c, &cmd, OP_PUT);
	}
	free(value);
	free(ifv);
	free(qifv);
	json_doc_free(doc);
}

static void route_delete(struct hconn *c, const char *key, size_t key_len)
{
	const struct http_request *q = &c->req;
	c->force_base64 = want_base64(q);
	if (session_headers(c) < 0) {
		respond_error(c, 400, "Concord-Client-Id and Concord-Seq must both be positive integers");
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
		respond_error(c, 400, "at most one condition, well formed: if_value or if_mod_revision");
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
		cmd.put.cond = (struct kv_cond){.kind = KV_COND_VALUE, .value = ifv, .value_len = ifvlen};
	else
		cmd.put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = mr};
	submit_write(c, &cmd, OP_DELETE_CAS);
	free(ifv);
}

static void route_sessions(struct hconn *c, const char *rest, size_t len)
{
	const struct http_request *q = &c->req;
	if (len == 0) {
		if (q->method != HTTP_METHOD_POST) {
			struct http_header h = {"Allow", 5, "POST", 4};
			respond(c, 405, "application/json", "{\"error\": \"method not allowed\"}", 31, &h, 1);
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
		respond_error(c, 404, "no such route (POST /v1/sessions/{id}/keepalive, DELETE "
				      "/v1/sessions/{id})");
		return;
	}
	c->client_id = 0;
	submit_write(c, &cmd, OP_SESSION_OTHER);
}

/* =================================================================================
 * Cluster, admin, health, metrics
 */

static void route_cluster(struct hconn *c)
{
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	server_write_cluster_json(&b, c->s->sv);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

static void route_healthz(struct hconn *c)
{
	struct server *sv = c->s->sv;
	struct node_status st;
	node_status(sv->node, &st);
	struct wire_buf b;
	wire_buf_init(&b, 1024);
	if (st.leader == RAFT_NONE) {
		wire_buf_printf(&b, "{\"status\": \"unavailable\", \"reason\": \"no leader\", "
				    "\"node_id\": %" PRIu64 ", \"term\": %" PRIu64 "}", st.id, st.term);
		respond_json(c, 503, &b, NULL, 0);
	} else {
		wire_buf_printf(&b, "{\"status\": \"ok\", \"node_id\": %" PRIu64 ", \"role\": \"%s\", "
				    "\"leader\": %" PRIu64 ", \"term\": %" PRIu64 "}",
				st.id, server_role_name(sv), st.leader, st.term);
		respond_json(c, 200, &b, NULL, 0);
	}
	wire_buf_free(&b);
}

static void metric(struct wire_buf *b, const char *name, const char *help, enum metrics_type t,
		   uint64_t v)
{
	metrics_write_family(b, name, help, t);
	metrics_write_u64(b, name, NULL, 0, v);
}

static void route_metrics(struct hconn *c)
{
	struct http_server *s = c->s;
	struct server *sv = s->sv;
	struct node_status st;
	node_status(sv->node, &st);
	struct node_metrics m;
	node_metrics(sv->node, &m);
	struct net_stats ns;
	node_net_stats(sv->node, &ns);
	struct kv_stats ks;
	kv_stats(node_kv(sv->node), &ks);
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	const enum metrics_type C = METRICS_COUNTER, G = METRICS_GAUGE;
	metric(&b, "concord_raft_term", "Current Raft term.", G, st.term);
	metric(&b, "concord_raft_commit_index", "Highest log index known committed.", G, st.commit);
	metric(&b, "concord_raft_applied_index", "Highest log index applied to the store.", G, st.applied);
	metric(&b, "concord_raft_last_index", "Last index of this node's log.", G, st.last_index);
	metric(&b, "concord_raft_snapshot_index", "Index of the last snapshot.", G, st.snapshot_index);
	metric(&b, "concord_raft_leader_id", "The leader this node knows of (0: none).", G, st.leader);
	metrics_write_family(&b, "concord_raft_role", "1 for this node's current role.", G);
	static const char *const roles[] = {"leader", "follower", "candidate", "learner"};
	const char *mine = server_role_name(sv);
	for (int i = 0; i < 4; i++) {
		struct metrics_label l = {"role", roles[i]};
		metrics_write_u64(&b, "concord_raft_role", &l, 1, strcmp(mine, roles[i]) == 0);
	}
	metric(&b, "concord_raft_voters", "Voters in the configuration.", G, st.conf.n_voters);
	metric(&b, "concord_raft_learners", "Learners in the configuration.", G, st.conf.n_learners);
	metric(&b, "concord_proposals_pending", "Writes awaiting their outcome.", G, st.proposals_pending);
	metric(&b, "concord_reads_pending", "Reads awaiting confirmation.", G, st.reads_pending);
	metric(&b, "concord_proposals_total", "Writes proposed.", C, m.proposals);
	metric(&b, "concord_proposals_ok_total", "Writes committed and applied.", C, m.proposals_ok);
	metric(&b, "concord_proposals_lost_total", "Writes lost to a leader change.", C, m.proposals_lost);
	metric(&b, "concord_proposals_timeout_total", "Writes timed out.", C, m.proposals_timeout);
	metric(&b, "concord_reads_total", "Reads asked.", C, m.reads);
	metric(&b, "concord_reads_ok_total", "Reads served.", C, m.reads_ok);
	metric(&b, "concord_ready_batches_total", "Ready batches drained from the core.", C, m.ready_batches);
	metric(&b, "concord_storage_writes_total", "Batches written to storage.", C, m.storage_writes);
	metric(&b, "concord_snapshots_total", "Snapshots taken.", C, m.snapshots);
	metric(&b, "concord_elections_won_total", "Elections this node won.", C, m.elections_won);
	metrics_write_family(&b, "concord_commit_latency_seconds_sum",
			     "Sum of proposal-to-apply latencies of acknowledged writes.", C);
	metrics_write_double(&b, "concord_commit_latency_seconds_sum", NULL, 0,
			     (double)m.commit_latency_us_sum / 1e6);
	metric(&b, "concord_commit_latency_count_total", "Acknowledged writes timed.", C,
	       m.commit_latency_count);
	metric(&b, "concord_net_sent_messages_total", "Peer messages sent.", C, ns.sent_msgs);
	metric(&b, "concord_net_sent_bytes_total", "Peer bytes sent.", C, ns.sent_bytes);
	metric(&b, "concord_net_received_messages_total", "Peer messages received.", C, ns.received_msgs);
	metric(&b, "concord_net_received_bytes_total", "Peer bytes received.", C, ns.received_bytes);
	metric(&b, "concord_net_dropped_queue_total", "Messages refused by a full send queue.", C, ns.dropped_queue);
	metric(&b, "concord_net_dropped_fault_total", "Messages dropped by fault injection.", C, ns.dropped_fault);
	metric(&b, "concord_net_dropped_conn_total", "Messages lost with a broken connection.", C, ns.dropped_conn);
	metric(&b, "concord_net_delayed_total", "Messages delayed by fault injection.", C, ns.delayed);
	metric(&b, "concord_net_dials_total", "Outbound connection attempts.", C, ns.dials);
	metric(&b, "concord_net_reconnects_total", "Reconnections.", C, ns.reconnects);
	metric(&b, "concord_net_malformed_total", "Peer connections closed for bad input.", C, ns.malformed);
	metric(&b, "concord_net_refused_total", "Handshakes refused.", C, ns.refused);
	metric(&b, "concord_net_queued_messages", "Peer messages queued.", G, ns.queued_msgs);
	metric(&b, "concord_net_connected_peers", "Outbound links connected.", G, ns.connected);
	metric(&b, "concord_kv_keys", "Keys in the store.", G, ks.keys);
	metric(&b, "concord_kv_key_bytes", "Bytes of keys.", G, ks.key_bytes);
	metric(&b, "concord_kv_value_bytes", "Bytes of current values.", G, ks.value_bytes);
	metric(&b, "concord_kv_versions", "Versions retained, history included.", G, ks.versions);
	metric(&b, "concord_kv_revision", "The store's revision.", G, ks.revision);
	metric(&b, "concord_kv_sessions", "Client sessions.", G, ks.sessions);
	if (sv->resp != NULL) {
		struct resp_server_stats rs;
		resp_server_stats(sv->resp, &rs);
		metric(&b, "concord_resp_connections_total", "RESP connections accepted.", C, rs.connections);
		metric(&b, "concord_resp_clients", "RESP connections open.", G, rs.clients);
		metric(&b, "concord_resp_commands_total", "RESP commands processed.", C, rs.commands);
		metric(&b, "concord_resp_forwarded_total", "RESP commands relayed to the leader.", C, rs.forwarded);
		metric(&b, "concord_resp_redirected_total", "RESP -MOVED replies.", C, rs.redirected);
	}
	metric(&b, "concord_http_requests_total", "HTTP requests answered.", C, s->st.requests);
	metric(&b, "concord_http_errors_total", "HTTP requests answered 4xx or 5xx.", C, s->st.errors);
	metric(&b, "concord_http_forwarded_total", "HTTP requests relayed to the leader.", C, s->st.forwarded);
	metric(&b, "concord_http_clients", "HTTP connections open.", G, s->st.clients);
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL, 0);
	wire_buf_free(&b);
}

static bool parse_id_path(const char *p, size_t len, uint64_t *id, const char **rest, size_t *rest_len)
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

static void respond_node_result(struct hconn *c, int rv, int ok_status, struct wire_buf *ok_body)
{
	if (rv == 0) {
		if (ok_body != NULL)
			respond_json(c, ok_status, ok_body, NULL, 0);
		else
			respond_empty_object(c, ok_status);
	} else if (rv == NODE_ENOTLEADER) {
		if (!not_leader(c))
			respond_error(c, 503, "not the leader");
	} else if (rv == NODE_EBUSY) {
		respond_error(c, 409, "%s", node_strerror(rv));
	} else {
		respond_error(c, 400, "%s", node_strerror(rv));
	}
}

static void route_members(struct hconn *c, const char *rest, size_t len)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (not_leader(c))
		return;
	if (len == 0 && q->method == HTTP_METHOD_POST) {
		struct json_doc *doc = NULL;
		char err[WIRE_ERRMSG_SIZE];
		if (json_parse(q->body, q->body_len, NULL, &doc, err) != 0) {
			respond_error(c, 400, "bad JSON: %s", err);
			return;
		}
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
			respond_error(c, 400, "expected {\"name\": ..., \"peer\": \"host:port\" (numeric), "
					      "\"client\": ..., \"http\": ..., optional \"id\"}");
			return;
		}
		if (id == 0) {
			/* The next id after every member known. */
			raft_id ids[RAFT_MAX_MEMBERS * 3];
			uint32_t n = conf_peers(sv, ids, RAFT_MAX_MEMBERS * 3);
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
		respond_node_result(c, node_member_add_learner(sv->node, &m), 200, &b);
		wire_buf_free(&b);
		return;
	}
	uint64_t id;
	const char *tail;
	size_t tail_len;
	if (len > 1 && rest[0] == '/' && parse_id_path(rest + 1, len - 1, &id, &tail, &tail_len)) {
		if (tail_len == 8 && memcmp(tail, "/promote", 8) == 0 && q->method == HTTP_METHOD_POST) {
			respond_node_result(c, node_member_promote(sv->node, id), 200, NULL);
			return;
		}
		if (tail_len == 0 && q->method == HTTP_METHOD_DELETE) {
			respond_node_result(c, node_member_remove(sv->node, id), 200, NULL);
			return;
		}
	}
	respond_error(c, 404, "no such route (POST /v1/members, POST /v1/members/{id}/promote, "
			      "DELETE /v1/members/{id})");
}

static void route_transfer(struct hconn *c)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (not_leader(c))
		return;
	uint64_t to = 0;
	if (q->body_len > 0) {
		struct json_doc *doc = NULL;
		char err[WIRE_ERRMSG_SIZE];
		if (json_parse(q->body, q->body_len, NULL, &doc, err) != 0) {
			respond_error(c, 400, "bad JSON: %s", err);
			return;
		}
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
	wire_buf_printf(&b, "{\"from\": %" PRIu64 ", \"to\": %" PRIu64 "}", st.id, to);
	respond_node_result(c, node_transfer(sv->node, to), 202, &b);
	wire_buf_free(&b);
}

static void route_step_down(struct hconn *c)
{
	struct server *sv = c->s->sv;
	if (not_leader(c))
		return;
	struct node_status st;
	node_status(sv->node, &st);
	struct wire_buf b;
	wire_buf_init(&b, 256);
	wire_buf_printf(&b, "{\"from\": %" PRIu64 "}", st.id);
	respond_node_result(c, node_step_down(sv->node), 202, &b);
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

static void route_faults(struct hconn *c)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (q->method == HTTP_METHOD_GET || q->method == HTTP_METHOD_HEAD) {
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
		struct http_header h = {"Allow", 5, "GET, PUT, DELETE", 16};
		respond(c, 405, "application/json", "{\"error\": \"method not allowed\"}", 31, &h, 1);
		return;
	}
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	if (json_parse(q->body, q->body_len, NULL, &doc, err) != 0) {
		respond_error(c, 400, "bad JSON: %s", err);
		return;
	}
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
		respond_error(c, 400, "expected a link object with \"to\" (a node id or \"*\") and "
				      "fault fields in range (docs/http.md)");
		return;
	}
	int rv = server_fault_set(sv, all ? RAFT_NONE : to, &f);
	if (rv != 0)
		respond_error(c, 400, "cannot set faults on that link: %s", node_strerror(rv));
	else
		respond_empty_object(c, 200);
}

/* =================================================================================
 * Routing
 */

static bool path_is(const struct http_request *q, const char *p)
{
	size_t n = strlen(p);
	return q->path_len == n && memcmp(q->path, p, n) == 0;
}

static bool path_starts(const struct http_request *q, const char *p)
{
	size_t n = strlen(p);
	return q->path_len >= n && memcmp(q->path, p, n) == 0;
}

static void method_not_allowed(struct hconn *c, const char *allow)
{
	struct http_header h = {"Allow", 5, allow, strlen(allow)};
	static const char body[] = "{\"error\": \"method not allowed\"}";
	respond(c, 405, "application/json", body, sizeof(body) - 1, &h, 1);
}

static void route(struct hconn *c)
{
	const struct http_request *q = &c->req;
	enum http_method m = q->method;
	bool get = m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD;
	c->head_only = m == HTTP_METHOD_HEAD;
	c->client_id = c->seq = 0;
	free(c->key);
	c->key = NULL;
	c->key_len = 0;
	if (path_starts(q, "/v1/kv/")) {
		const char *key = q->path + 7;
		size_t klen = q->path_len - 7;
		if (get)
			route_read(c, OP_GET, key, klen);
		else if (m == HTTP_METHOD_PUT || m == HTTP_METHOD_POST)
			route_put(c, key, klen);
		else if (m == HTTP_METHOD_DELETE)
			route_delete(c, key, klen);
		else
			method_not_allowed(c, "GET, HEAD, PUT, DELETE");
	} else if (path_is(q, "/v1/kv")) {
		if (get)
			route_read(c, OP_LIST, "", 0);
		else
			method_not_allowed(c, "GET, HEAD");
	} else if (path_starts(q, "/v1/sessions")) {
		route_sessions(c, q->path + 12, q->path_len - 12);
	} else if (path_is(q, "/v1/cluster")) {
		if (get)
			route_cluster(c);
		else
			method_not_allowed(c, "GET, HEAD");
	} else if (path_starts(q, "/v1/members")) {
		route_members(c, q->path + 11, q->path_len - 11);
	} else if (path_is(q, "/v1/admin/transfer")) {
		if (m == HTTP_METHOD_POST)
			route_transfer(c);
		else
			method_not_allowed(c, "POST");
	} else if (path_is(q, "/v1/admin/step-down")) {
		if (m == HTTP_METHOD_POST)
			route_step_down(c);
		else
			method_not_allowed(c, "POST");
	} else if (path_is(q, "/v1/admin/faults")) {
		route_faults(c);
	} else if (path_is(q, "/healthz")) {
		if (get)
			route_healthz(c);
		else
			method_not_allowed(c, "GET, HEAD");
	} else if (path_is(q, "/metrics")) {
		if (get)
			route_metrics(c);
		else
			method_not_allowed(c, "GET, HEAD");
	} else if (path_is(q, "/") || path_is(q, "/index.html")) {
		if (get)
			respond(c, 200, "text/html; charset=utf-8", concord_web_index,
				concord_web_index_len, NULL, 0);
		else
			method_not_allowed(c, "GET, HEAD");
	} else {
		respond_error(c, 404, "no such route");
	}
}

/* =================================================================================
 * Reading requests
 */

static void hconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hconn *c = h->data;
	(void)suggested;
	if (c->lingering) {
		static char sink[65536];
		*buf = uv_buf_init(sink, sizeof(sink));
		return;
	}
	char *space = NULL;
	size_t len = 0;
	if (http_parser_space(&c->parser, 64 * 1024, &space, &len) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(space, (unsigned)len);
}

static void hconn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct hconn *c = st->data;
	(void)buf;
	if (c->closing)
		return;
	if (c->lingering) {
		if (nread < 0 || (c->discarded += (size_t)nread) > ((size_t)1 << 20))
			hconn_close(c);
		return;
	}
	if (nread == UV_ENOBUFS) {
		uv_read_stop(st);
		c->reading = false;
		hconn_process(c);
		return;
	}
	if (nread < 0) {
		uv_read_stop(st);
		c->reading = false;
		c->input_closed = true;
		hconn_process(c);
		return;
	}
	http_parser_commit(&c->parser, (size_t)nread);
	hconn_process(c);
}

static void hconn_process(struct hconn *c)
{
	if (c->processing || c->closing)
		return;
	c->processing = true;
	c->refs++;
	while (!c->closing && !c->busy && !c->close_after &&
	       c->out.len + c->writing.len < c->s->sv->output_soft_bytes) {
		int rv = http_parser_next(&c->parser, &c->req);
		if (rv == WIRE_EAGAIN) {
			if (http_parser_continue(&c->parser))
				http_write_continue(&c->out);
			break;
		}
		if (rv != 0) {
			int status = http_parser_status(&c->parser);
			c->req = (struct http_request){.keep_alive = false};
			c->head_only = false;
			respond_error(c, status != 0 ? status : 400, "%s", http_parser_errmsg(&c->parser));
			c->close_after = true;
			break;
		}
		route(c);
	}
	c->processing = false;
	if (!c->closing && !c->lingering) {
		bool want = !c->busy && !c->close_after && !c->input_closed;
		if (want && !c->reading) {
			if (uv_read_start((uv_stream_t *)&c->tcp, hconn_alloc, hconn_on_read) == 0)
				c->reading = true;
		} else if (!want && c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
		}
		hconn_write(c);
	}
	hconn_unref(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct http_server *s = server->data;
	if (status < 0 || s->closing)
		return;
	struct hconn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	uv_tcp_init(s->sv->loop, &c->tcp);
	c->tcp.data = c;
	c->write_req.data = c;
	c->s = s;
	c->refs = 1;
	wire_buf_init(&c->out, s->sv->output_hard_bytes);
	wire_buf_init(&c->writing, s->sv->output_hard_bytes);
	if (http_parser_init(&c->parser, NULL) != 0)
		abort();
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	s->n_alive++;
	s->st.clients = s->n_conns;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		hconn_close(c);
		return;
	}
	s->st.connections++;
	if (s->n_conns > s->sv->max_clients) {
		s->st.rejected++;
		c->req.keep_alive = false;
		respond_error(c, 503, "too many clients");
		hconn_write(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	hconn_process(c);
}

/* =================================================================================
 * Life cycle
 */

int http_server_start(struct http_server **out, struct server *sv, const char *address,
		      char *errmsg, size_t len)
{
	struct sockaddr_storage sa;
	int rv = server_addr_parse(address, &sa);
	if (rv != 0) {
		snprintf(errmsg, len, "--listen-http %s: not a numeric host:port", address);
		return rv;
	}
	struct http_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->sv = sv;
	s->listening = true;
	rv = server_listen(sv, &s->listener, &sa, on_connection, "--listen-http", address,
			   &s->port, errmsg, len);
	s->listener.data = s;
	if (rv != 0)
		return rv;
	*out = s;
	return 0;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;
	s->listening = false;
	if (s->n_alive == 0 && s->close_cb != NULL) {
		void (*cb)(void *) = s->close_cb;
		s->close_cb = NULL;
		cb(s->close_arg);
		free(s);
	}
}

void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg)
{
	if (s->closing)
		return;
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	for (struct hconn *c = s->conns; c != NULL; c = c->next)
		hconn_close(c);
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

void http_server_stats(const struct http_server *s, struct http_server_stats *out)
{
	*out = s->st;
}
