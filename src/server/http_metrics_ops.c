/* http_metrics_ops.c: /metrics series for operators: CPU, data-directory sizes, per-peer inflight
 * and last contact, removal. */
#include "server/http_impl.h"

#include "codec/metrics.h"
#include "server/node.h"
#include "server/peer_status.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>

static void gauge(struct wire_buf *b, const char *name, const char *help, uint64_t v)
{
	metrics_write_family(b, name, help, METRICS_GAUGE);
	metrics_write_u64(b, name, NULL, 0, v);
}

/* Per peer of the configuration: entries sent but not acknowledged (leader only) and the
 * seconds since the last message from it. */
static void peer_write(struct wire_buf *b, const struct server *sv, const struct node_status *st)
{
	raft_id ids[3 * RAFT_MAX_MEMBERS];
	uint32_t n = 0;
	const raft_id *lists[3] = {st->conf.voters, st->conf.voters_old, st->conf.learners};
	uint32_t counts[3] = {st->conf.n_voters, st->conf.n_voters_old, st->conf.n_learners};
	for (int l = 0; l < 3; l++)
		for (uint32_t i = 0; i < counts[l]; i++) {
			bool seen = lists[l][i] == st->id;
			for (uint32_t j = 0; j < n && !seen; j++)
				seen = ids[j] == lists[l][i];
			if (!seen)
				ids[n++] = lists[l][i];
		}
	metrics_write_family(b, "concord_raft_follower_inflight_entries",
	                     "Leader only: entries sent to a follower and not acknowledged yet.",
	                     METRICS_GAUGE);
	for (uint32_t i = 0; i < n; i++) {
		raft_index match, next;
		if (!node_progress(sv->node, ids[i], &match, &next))
			continue;
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, ids[i]);
		struct metrics_label l = {"peer", id};
		metrics_write_u64(b, "concord_raft_follower_inflight_entries", &l, 1,
		                  next > match + 1 ? next - match - 1 : 0);
	}
	metrics_write_family(b, "concord_network_peer_last_contact_seconds",
	                     "Seconds since the last message from a peer (absent: none yet).",
	                     METRICS_GAUGE);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t ago_ms;
		if (!node_peer_last_heard(sv->node, ids[i], &ago_ms))
			continue;
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, ids[i]);
		struct metrics_label l = {"peer", id};
		metrics_write_double(b, "concord_network_peer_last_contact_seconds", &l, 1,
		                     (double)ago_ms / 1000.0);
	}
}

void ops_metrics_write(struct wire_buf *b, const struct server *sv, const struct node_status *st)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		metrics_write_family(b, "process_cpu_seconds_total",
		                     "User and system CPU time spent.", METRICS_COUNTER);
		metrics_write_double(b, "process_cpu_seconds_total", NULL, 0, cpu);
	}
	struct node_disk_usage du;
	node_disk_usage(sv->node, &du);
	gauge(b, "concord_disk_data_dir_bytes",
	      "Bytes of the data directory: WAL (preallocation included), snapshots, meta.",
	      du.total_bytes);
	gauge(b, "concord_disk_wal_bytes", "Bytes of the WAL segments.", du.wal_bytes);
	gauge(b, "concord_disk_snapshot_bytes", "Bytes of the snapshot files.", du.snapshot_bytes);
	gauge(b, "concord_server_removed",
	      "1 once this member learned it was removed from the cluster (it then stops).",
	      node_removed(sv->node) != 0 ? 1 : 0);
	peer_write(b, sv, st);
}

void route_live(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct server *sv = c->s->sv;
	if (sv->peer_status == NULL) {
		respond_error(c, 503, "live status is not gathered on this node");
		return;
	}
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	peer_status_write(sv->peer_status, &b);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}
