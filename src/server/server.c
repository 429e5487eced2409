/* server.c: what both frontends share: settings, logging, listening, faults and the cluster-status
 * JSON (server.h). */
#include "server/server.h"
#include "codec/json.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void server_init(struct server *sv)
{
	memset(sv, 0, sizeof(*sv));
	snprintf(sv->cluster_id, sizeof(sv->cluster_id), "concord");
	snprintf(sv->version, sizeof(sv->version), "0.1.0");
	sv->resp_follower = SERVER_FOLLOWER_FORWARD;
	sv->http_follower = SERVER_FOLLOWER_FORWARD;
	sv->max_clients = 4096;
	sv->relay_reserve = 64;
	sv->pending_max = 1024;
	sv->output_soft_bytes = (size_t)2 << 20;
	sv->output_hard_bytes = (size_t)8 << 20;
	sv->idle_timeout_ms = 300 * 1000;
	sv->read_timeout_ms = 30 * 1000;
	sv->write_timeout_ms = 60 * 1000;
	kv_limits_default(&sv->limits);
	sv->request_timeout_ms = 5000;
	sv->log_level = 1;
	sv->watch_max = 4096;
	sv->watch_conn_max = 64;
	sv->watch_buffer_bytes = (size_t)1 << 20;
	server_derive_limits(sv);
}

void server_derive_limits(struct server *sv)
{
	uint64_t key = sv->limits.key_bytes_max, value = sv->limits.value_bytes_max;
	uint64_t command = key + value + ((uint64_t)1 << 20);
	resp_limits_default(&sv->resp_limits);
	sv->resp_limits.buffer_bytes_max = command;
	sv->resp_limits.bulk_bytes_max = command;
	http_limits_default(&sv->http_limits);
	/* A JSON PUT: the value and an if_value in base64, the key escaped. */
	sv->http_limits.body_bytes_max = 3 * value + 6 * key + 64 * 1024;
	size_t reply = (size_t)(6 * value + ((uint64_t)1 << 20));
	if (sv->output_hard_bytes < reply)
		sv->output_hard_bytes = reply;
	if (sv->output_hard_bytes > WIRE_BUF_BYTES_LIMIT)
		sv->output_hard_bytes = WIRE_BUF_BYTES_LIMIT;
	if (sv->output_soft_bytes > sv->output_hard_bytes)
		sv->output_soft_bytes = sv->output_hard_bytes;
	/* A watcher is canceled as slow well before its connection could overflow. */
	if (sv->watch_buffer_bytes > sv->output_hard_bytes / 4)
		sv->watch_buffer_bytes = sv->output_hard_bytes / 4;
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
	        levels[level < 0   ? 0
	               : level > 3 ? 3
	                           : level],
	        msg);
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
		return conf_has(st.conf.learners, st.conf.n_learners, st.id) ? "learner"
		                                                             : "follower";
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
uint32_t server_conf_peers(struct server *sv, raft_id *out, uint32_t cap)
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
	uint32_t n = peer == RAFT_NONE ? server_conf_peers(sv, ids, RAFT_MAX_MEMBERS * 3) : 1;
	if (peer != RAFT_NONE)
		ids[0] = peer;
	for (uint32_t i = 0; i < n; i++) {
		struct server_fault *sf = fault_find(sv, ids[i], true);
		if (sf != NULL)
			sf->f = *f;
	}
	server_logf(sv, 1,
	            "faults on the link%s to %s%" PRIu64 ": drop %g, request delay %u ms, "
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

/* The version, the store's size and the data directory's (endpoint status). */
static void json_write_status_sizes(struct json_writer *w, const struct server *sv,
                                    const struct kv *kv)
{
	struct kv_stats ks;
	kv_stats(kv, &ks);
	struct node_disk_usage du;
	node_disk_usage(sv->node, &du);
	json_write_key(w, "version");
	json_write_cstr(w, sv->version);
	json_write_key(w, "kv_bytes");
	json_write_uint(w, ks.key_bytes + ks.value_bytes + ks.history_bytes);
	json_write_key(w, "data_dir_bytes");
	json_write_uint(w, du.total_bytes);
	json_write_key(w, "wal_bytes");
	json_write_uint(w, du.wal_bytes);
	json_write_key(w, "snapshot_bytes");
	json_write_uint(w, du.snapshot_bytes);
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
	json_write_status_sizes(&w, sv, kv);
	json_write_key(&w, "note");
	json_write_cstr(&w,
	                "term, commit and applied are known for this node only (source "
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
