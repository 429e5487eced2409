/* http_metrics.c: GET /metrics: every series in Prometheus text format (docs/metrics.md), and the
 * request latency histograms' bookkeeping. */
#include "server/http_impl.h"
#include "codec/metrics.h"

#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void server_latency_observe(struct server_latency *l, size_t slot, const char *name,
                            uint64_t start_ns)
{
	if (slot >= SERVER_LATENCY_SLOTS - 1) {
		slot = SERVER_LATENCY_SLOTS - 1;
		name = "other";
	}
	struct histogram *h = &l->by_command[slot];
	if (h->bucket_count == 0) {
		histogram_init_latency(h);
		l->name[slot] = name;
	}
	histogram_observe(h, (double)(uv_hrtime() - start_ns) / 1e9);
}

static void metric(struct wire_buf *b, const char *name, const char *help, enum metrics_type t,
                   uint64_t v)
{
	metrics_write_family(b, name, help, t);
	metrics_write_u64(b, name, NULL, 0, v);
}

static void histogram_family(struct wire_buf *b, const char *name, const char *help,
                             const struct histogram *h)
{
	metrics_write_family(b, name, help, METRICS_HISTOGRAM);
	metrics_write_histogram(b, name, NULL, 0, h);
}

/* The node's Raft numbers, under etcd's names where etcd has them. */
static void raft_metrics_write(struct wire_buf *b, struct server *sv, const struct node_status *st,
                               const struct node_metrics *m)
{
	const enum metrics_type C = METRICS_COUNTER, G = METRICS_GAUGE;
	metric(b, "concord_raft_term", "Current Raft term.", G, st->term);
	metric(b, "concord_raft_commit_index", "Highest log index known committed.", G, st->commit);
	metric(b, "concord_raft_applied_index", "Highest log index applied to the store.", G,
	       st->applied);
	metric(b, "concord_raft_last_index", "Last index of this node's log.", G, st->last_index);
	metric(b, "concord_raft_snapshot_index", "Index of the last snapshot.", G,
	       st->snapshot_index);
	metric(b, "concord_raft_first_index",
	       "First log index held in memory (the entries kept behind the snapshot start here).",
	       G, st->first_index);
	metric(b, "concord_raft_leader_id", "The leader this node knows of (0: none).", G,
	       st->leader);
	metrics_write_family(b, "concord_raft_role", "1 for this node's current role.", G);
	static const char *const roles[] = {"leader", "follower", "candidate", "learner"};
	const char *mine = server_role_name(sv);
	for (int i = 0; i < 4; i++) {
		struct metrics_label l = {"role", roles[i]};
		metrics_write_u64(b, "concord_raft_role", &l, 1, strcmp(mine, roles[i]) == 0);
	}
	metric(b, "concord_raft_voters", "Voters in the configuration.", G, st->conf.n_voters);
	metric(b, "concord_raft_learners", "Learners in the configuration.", G,
	       st->conf.n_learners);
	metric(b, "concord_server_has_leader", "1 if this node knows a leader.", G,
	       st->leader != RAFT_NONE);
	metric(b, "concord_server_is_leader", "1 if this node is the leader.", G,
	       st->role == RAFT_LEADER);
	metric(b, "concord_server_leader_changes_seen_total", "Times the known leader changed.", C,
	       m->leader_changes);
	metric(b, "concord_server_elections_won_total", "Elections this node won.", C,
	       m->elections_won);
	metric(b, "concord_disk_stalls_total",
	       "Times a WAL write or fsync outlived the stall bound (--disk-stall-ms).", C,
	       m->disk_stalls);
	metric(b, "concord_disk_stalled",
	       "1 while a WAL write or fsync is outstanding beyond the stall bound.", G,
	       m->disk_stalled);
	metric(b, "concord_server_proposals_committed_total", "Writes committed and applied.", C,
	       m->proposals_ok);
	metric(b, "concord_server_proposals_applied_total",
	       "Log index applied (etcd's applied counter).", C, st->applied);
	metric(b, "concord_server_proposals_pending", "Writes awaiting their outcome.", G,
	       st->proposals_pending);
	metric(b, "concord_server_proposals_failed_total",
	       "Writes lost to a leader change or timed out.", C,
	       m->proposals_lost + m->proposals_timeout);
}

/* Proposals, reads, storage and the duration histograms. */
static void node_metrics_write(struct wire_buf *b, const struct node_status *st,
                               const struct node_metrics *m)
{
	const enum metrics_type C = METRICS_COUNTER, G = METRICS_GAUGE;
	metric(b, "concord_reads_pending", "Reads awaiting confirmation.", G, st->reads_pending);
	metric(b, "concord_proposals_total", "Writes proposed.", C, m->proposals);
	metric(b, "concord_proposals_lost_total", "Writes lost to a leader change.", C,
	       m->proposals_lost);
	metric(b, "concord_proposals_timeout_total", "Writes timed out.", C, m->proposals_timeout);
	metric(b, "concord_reads_total", "Reads asked.", C, m->reads);
	metric(b, "concord_reads_ok_total", "Reads served.", C, m->reads_ok);
	metric(b, "concord_ready_batches_total", "Ready batches drained from the core.", C,
	       m->ready_batches);
	metric(b, "concord_storage_writes_total", "Batches written to storage.", C,
	       m->storage_writes);
	metric(b, "concord_snapshots_total", "Snapshots taken.", C, m->snapshots);
	histogram_family(b, "concord_commit_duration_seconds",
	                 "Proposal to apply, of acknowledged writes.", &m->commit_seconds);
	histogram_family(b, "concord_apply_duration_seconds",
	                 "Applying one log entry to the store.", &m->apply_seconds);
	histogram_family(b, "concord_snapshot_duration_seconds", "A snapshot, started to saved.",
	                 &m->snapshot_seconds);
	histogram_family(b, "concord_disk_wal_append_duration_seconds",
	                 "Writing one group of batches to the WAL, before its sync.",
	                 &m->append_seconds);
	histogram_family(b, "concord_disk_wal_fsync_duration_seconds", "One sync of the WAL.",
	                 &m->fsync_seconds);
}

/* The transport's and the store's numbers. */
/* Auth and browser safety (docs/security.md). */
static void auth_metrics_write(struct wire_buf *b, struct server *sv)
{
	const struct server_auth *a = &sv->auth;
	const enum metrics_type C = METRICS_COUNTER, G = METRICS_GAUGE;
	metric(b, "concord_auth_enabled", "1 if auth is on in this node's state.", G,
	       auth_enabled(node_kv(sv->node)) ? 1 : 0);
	metric(b, "concord_auth_successes_total", "Passwords verified (RESP and HTTP).", C,
	       a->successes);
	metric(b, "concord_auth_failures_total", "Wrong user names or passwords.", C, a->failures);
	metric(b, "concord_auth_denied_total", "Requests refused NOAUTH/NOPERM or 401/403.", C,
	       a->denied);
	metric(b, "concord_auth_verifying", "Password checks running on the thread pool.", G,
	       a->verifying);
	metric(b, "concord_http_browser_refused_total",
	       "HTTP requests refused for a foreign Origin or Host.", C, a->browser_refused);
}

static void net_kv_metrics_write(struct wire_buf *b, struct server *sv)
{
	struct net_stats ns;
	node_net_stats(sv->node, &ns);
	struct kv_stats ks;
	kv_stats(node_kv(sv->node), &ks);
	const enum metrics_type C = METRICS_COUNTER, G = METRICS_GAUGE;
	metric(b, "concord_net_sent_messages_total", "Peer messages sent.", C, ns.sent_msgs);
	metric(b, "concord_net_sent_bytes_total", "Peer bytes sent.", C, ns.sent_bytes);
	metric(b, "concord_net_received_messages_total", "Peer messages received.", C,
	       ns.received_msgs);
	metric(b, "concord_net_received_bytes_total", "Peer bytes received.", C, ns.received_bytes);
	metric(b, "concord_net_dropped_queue_total", "Messages refused by a full send queue.", C,
	       ns.dropped_queue);
	metric(b, "concord_net_dropped_fault_total", "Messages dropped by fault injection.", C,
	       ns.dropped_fault);
	metric(b, "concord_net_dropped_conn_total", "Messages lost with a broken connection.", C,
	       ns.dropped_conn);
	metric(b, "concord_net_delayed_total", "Messages delayed by fault injection.", C,
	       ns.delayed);
	metric(b, "concord_net_dials_total", "Outbound connection attempts.", C, ns.dials);
	metric(b, "concord_net_reconnects_total", "Reconnections.", C, ns.reconnects);
	metric(b, "concord_net_malformed_total", "Peer connections closed for bad input.", C,
	       ns.malformed);
	metric(b, "concord_net_refused_total", "Handshakes refused.", C, ns.refused);
	metric(b, "concord_net_auth_failed_total",
	       "Peer handshakes refused for a missing or wrong proof or certificate.", C,
	       ns.auth_failed);
	metric(b, "concord_net_dropped_sender_total",
	       "Peer messages dropped: their sender is not the link's authenticated member.", C,
	       ns.dropped_sender);
	metric(b, "concord_net_queued_messages", "Peer messages queued.", G, ns.queued_msgs);
	metric(b, "concord_net_connected_peers", "Outbound links connected.", G, ns.connected);
	metric(b, "concord_kv_keys", "Keys in the store.", G, ks.keys);
	metric(b, "concord_kv_key_bytes", "Bytes of keys.", G, ks.key_bytes);
	metric(b, "concord_kv_value_bytes", "Bytes of current values.", G, ks.value_bytes);
	metric(b, "concord_kv_versions", "Versions retained, history included.", G, ks.versions);
	metric(b, "concord_kv_revision", "The store's revision.", G, ks.revision);
	metric(b, "concord_kv_sessions", "Client sessions.", G, ks.sessions);
}

/* One frontend's counters (struct server_stats), named concord_<proto>_<name>; what it
 * serves (RESP commands, HTTP requests) is counted under concord_<proto>_<served>_total. */
static void frontend_stats_write(struct wire_buf *b, const char *proto, const char *served,
                                 const struct server_stats *st)
{
	const struct {
		const char *name; /* NULL: <served>_total */
		const char *help;
		enum metrics_type type;
		uint64_t value;
	} rows[] = {
	    {"connections_total", "Connections accepted.", METRICS_COUNTER, st->connections},
	    {"rejected_total", "Connections refused: too many clients.", METRICS_COUNTER,
	     st->rejected},
	    {NULL, "Commands or requests processed.", METRICS_COUNTER, st->requests},
	    {"errors_total", "Error replies (RESP: protocol errors; HTTP: 4xx and 5xx).",
	     METRICS_COUNTER, st->errors},
	    {"forwarded_total", "Relayed to the leader.", METRICS_COUNTER, st->forwarded},
	    {"redirected_total", "Answered with the leader's address instead.", METRICS_COUNTER,
	     st->redirected},
	    {"timed_out_total", "Connections closed idle, or with an unfinished request too old.",
	     METRICS_COUNTER, st->timed_out},
	    {"overflows_total", "Replies refused, or connections closed, at the output limit.",
	     METRICS_COUNTER, st->overflows},
	    {"tls_failures_total", "TLS handshakes that failed (no or a bad certificate, no TLS).",
	     METRICS_COUNTER, st->tls_failures},
	    {"clients", "Connections open.", METRICS_GAUGE, st->clients},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char name[96];
		if (rows[i].name != NULL)
			snprintf(name, sizeof(name), "concord_%s_%s", proto, rows[i].name);
		else
			snprintf(name, sizeof(name), "concord_%s_%s_total", proto, served);
		metric(b, name, rows[i].help, rows[i].type, rows[i].value);
	}
}

/* Watchers and pub/sub (watch.h). */
static void watch_metrics_write(struct wire_buf *b, const struct server *sv)
{
	const enum metrics_type C = METRICS_COUNTER, G = METRICS_GAUGE;
	const struct watch_stats *w = &sv->watch_stats;
	metric(b, "concord_watchers", "Watchers open on this node (HTTP and RESP).", G,
	       w->watchers);
	metric(b, "concord_watchers_created_total", "Watchers started.", C, w->created);
	metric(b, "concord_watchers_refused_total",
	       "Watchers and subscriptions refused for --watch-max or --watch-conn-max.", C,
	       w->refused);
	metric(b, "concord_watchers_canceled_slow_total",
	       "Watchers canceled and subscribers disconnected for --watch-buffer-bytes.", C,
	       w->cancel_slow);
	metric(b, "concord_watchers_canceled_compacted_total",
	       "Watchers refused or canceled: their start revision was compacted.", C,
	       w->cancel_compacted);
	metric(b, "concord_watch_events_total", "Events delivered to watchers.", C, w->events);
	metric(b, "concord_pubsub_subscriptions", "RESP channel and pattern subscriptions open.", G,
	       w->subscriptions);
	metric(b, "concord_pubsub_deliveries_total",
	       "Pub/sub pushes to subscribers (messages and keyspace notifications).", C,
	       w->published);
}

/* The frontends' counters, from struct server: no frontend includes the other. */
static void frontend_metrics_write(struct wire_buf *b, const struct server *sv)
{
	if (sv->resp != NULL)
		frontend_stats_write(b, "resp", "commands", &sv->resp_stats);
	frontend_stats_write(b, "http", "requests", &sv->http_stats);
	watch_metrics_write(b, sv);
}

/* The peers in the configuration other than this node, with their label values. */
static uint32_t peers_of(const struct node_status *st, raft_id *ids)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < st->conf.n_voters; i++)
		if (st->conf.voters[i] != st->id)
			ids[n++] = st->conf.voters[i];
	for (uint32_t i = 0; i < st->conf.n_learners; i++)
		if (st->conf.learners[i] != st->id)
			ids[n++] = st->conf.learners[i];
	return n;
}

/* One sample per peer of a net_stats field, labelled with the peer's id. */
static void peer_series(struct wire_buf *b, struct server *sv, const raft_id *ids, uint32_t n,
                        const char *name, const char *help, enum metrics_type t, size_t offset)
{
	metrics_write_family(b, name, help, t);
	for (uint32_t i = 0; i < n; i++) {
		struct net_stats ns;
		if (!node_net_peer_stats(sv->node, ids[i], &ns))
			continue;
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, ids[i]);
		struct metrics_label l = {"peer", id};
		uint64_t v;
		memcpy(&v, (const char *)&ns + offset, sizeof(v));
		metrics_write_u64(b, name, &l, 1, v);
	}
}

/* Per-peer transport series, and the leader's view of each follower's match lag. */
static void peer_metrics_write(struct wire_buf *b, struct server *sv, const struct node_status *st)
{
	raft_id ids[2 * RAFT_MAX_MEMBERS];
	uint32_t n = peers_of(st, ids);
	const enum metrics_type C = METRICS_COUNTER;
	peer_series(b, sv, ids, n, "concord_network_peer_sent_bytes_total", "Bytes sent to a peer.",
	            C, offsetof(struct net_stats, sent_bytes));
	peer_series(b, sv, ids, n, "concord_network_peer_received_bytes_total",
	            "Bytes received from a peer.", C, offsetof(struct net_stats, received_bytes));
	peer_series(b, sv, ids, n, "concord_network_peer_sent_messages_total",
	            "Messages sent to a peer.", C, offsetof(struct net_stats, sent_msgs));
	peer_series(b, sv, ids, n, "concord_network_peer_received_messages_total",
	            "Messages received from a peer.", C, offsetof(struct net_stats, received_msgs));
	peer_series(b, sv, ids, n, "concord_network_peer_dropped_messages_total",
	            "Messages to a peer refused by a full queue.", C,
	            offsetof(struct net_stats, dropped_queue));
	peer_series(b, sv, ids, n, "concord_network_peer_reconnects_total",
	            "Reconnections to a peer.", C, offsetof(struct net_stats, reconnects));
	metrics_write_family(b, "concord_raft_follower_match_lag",
	                     "Leader only: entries of the leader's log a follower lacks.",
	                     METRICS_GAUGE);
	for (uint32_t i = 0; i < n; i++) {
		raft_index match, next;
		if (!node_progress(sv->node, ids[i], &match, &next))
			continue;
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, ids[i]);
		struct metrics_label l = {"peer", id};
		metrics_write_u64(b, "concord_raft_follower_match_lag", &l, 1,
		                  st->last_index > match ? st->last_index - match : 0);
	}
}

/* One frontend's latency histograms: the table's commands seen so far, then "other". */
static void latency_write(struct wire_buf *b, const char *protocol, const struct server_latency *l)
{
	for (size_t i = 0; i < SERVER_LATENCY_SLOTS; i++) {
		const struct histogram *h = &l->by_command[i];
		if (h->bucket_count == 0 || l->name[i] == NULL)
			continue;
		char name[32];
		size_t k = 0;
		for (; l->name[i][k] != '\0' && k < sizeof(name) - 1; k++)
			name[k] = (char)tolower((unsigned char)l->name[i][k]);
		name[k] = '\0';
		struct metrics_label labels[] = {{"protocol", protocol}, {"command", name}};
		metrics_write_histogram(b, "concord_request_duration_seconds", labels, 2, h);
	}
}

/* A number from /proc/self/stat or /proc/self/status; -1 if unreadable. */
static long long proc_status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long long v = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = atoll(line + n + 1);
			break;
		}
	fclose(f);
	return v;
}

static long long proc_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	long long n = 0;
	for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* process_* (Prometheus's client conventions) and build info. */
static void process_metrics_write(struct wire_buf *b, const struct server *sv)
{
	static double start_s;
	if (start_s == 0) {
		uv_timeval64_t tv;
		uv_gettimeofday(&tv);
		double up_s = (double)(uv_now(sv->loop) - sv->start_ms) / 1000.0;
		start_s = (double)tv.tv_sec + tv.tv_usec / 1e6 - up_s;
	}
	metrics_write_family(b, "process_start_time_seconds", "Start time since the epoch.",
	                     METRICS_GAUGE);
	metrics_write_double(b, "process_start_time_seconds", NULL, 0, start_s);
	long long fds = proc_open_fds(), rss_kb = proc_status_kb("VmRSS");
	if (fds >= 0)
		metric(b, "process_open_fds", "Open file descriptors.", METRICS_GAUGE,
		       (uint64_t)fds);
	long max_fds = sysconf(_SC_OPEN_MAX);
	if (max_fds > 0)
		metric(b, "process_max_fds", "Most open file descriptors.", METRICS_GAUGE,
		       (uint64_t)max_fds);
	if (rss_kb >= 0)
		metric(b, "process_resident_memory_bytes", "Resident memory.", METRICS_GAUGE,
		       (uint64_t)rss_kb * 1024);
	metrics_write_family(b, "concord_build_info", "Always 1; the build's version as a label.",
	                     METRICS_GAUGE);
	struct metrics_label l = {"version", sv->version};
	metrics_write_u64(b, "concord_build_info", &l, 1, 1);
}

void route_metrics(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct server *sv = c->s->sv;
	struct wire_buf b;
	wire_buf_init(&b, 4 << 20);
	struct node_status st;
	node_status(sv->node, &st);
	struct node_metrics m;
	node_metrics(sv->node, &m);
	raft_metrics_write(&b, sv, &st, &m);
	node_metrics_write(&b, &st, &m);
	net_kv_metrics_write(&b, sv);
	auth_metrics_write(&b, sv);
	peer_metrics_write(&b, sv, &st);
	frontend_metrics_write(&b, sv);
	metrics_write_family(&b, "concord_request_duration_seconds",
	                     "Request latency, dispatch to reply, by protocol and command.",
	                     METRICS_HISTOGRAM);
	latency_write(&b, "resp", &sv->resp_latency);
	latency_write(&b, "http", &sv->http_latency);
	process_metrics_write(&b, sv);
	ops_metrics_write(&b, sv, &st);
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL, 0);
	wire_buf_free(&b);
}
