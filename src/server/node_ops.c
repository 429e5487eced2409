/* node_ops.c: node.h's operations, status and counters, delegated to the driver. */
#include "server/node_impl.h"

#include <string.h>

/* node.h's errors are the driver's, value for value: callbacks pass through unchanged. */
_Static_assert((int)NODE_OK == (int)DRIVER_OK && (int)NODE_ENOTLEADER == (int)DRIVER_ENOTLEADER &&
                   (int)NODE_ELOST == (int)DRIVER_ELOST &&
                   (int)NODE_ETIMEOUT == (int)DRIVER_ETIMEOUT &&
                   (int)NODE_ESTOPPING == (int)DRIVER_ESTOPPING &&
                   (int)NODE_EINVAL == (int)DRIVER_EINVAL && (int)NODE_EBUSY == (int)DRIVER_EBUSY &&
                   (int)NODE_ETOOBIG == (int)DRIVER_ETOOBIG &&
                   (int)NODE_ESTORAGE == (int)DRIVER_ESTORAGE &&
                   (int)NODE_ECONFIG == (int)DRIVER_ECONFIG,
               "node.h's errors are driver.h's");

int node_write(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg)
{
	return driver_write(n->d, cmd, cb, arg);
}

int node_write_reserved(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg)
{
	return driver_propose(n->d, cmd, cb, arg);
}

int node_read(struct node *n, bool stale, node_read_cb cb, void *arg)
{
	return driver_read(n->d, stale, cb, arg);
}

const struct kv *node_kv(const struct node *n)
{
	return driver_kv(n->d);
}

void node_watch_hook_set(struct node *n, const struct kv_watch_hook *hook)
{
	driver_watch_hook_set(n->d, hook);
}

void node_status(const struct node *n, struct node_status *out)
{
	const struct raft *r = driver_raft(n->d);
	memset(out, 0, sizeof(*out));
	out->id = n->cfg.id;
	out->role = raft_role(r);
	out->term = raft_term_current(r);
	out->leader = raft_leader(r);
	out->commit = raft_commit_index(r);
	out->applied = kv_applied_index(driver_kv(n->d));
	out->last_index = raft_last_index(r);
	out->snapshot_index = raft_snapshot_index(r);
	out->first_index = raft_first_index(r);
	out->conf = *raft_conf_current(r);
	out->proposals_pending = driver_writes_pending(n->d);
	out->reads_pending = driver_reads_pending(n->d);
}

bool node_progress(const struct node *n, raft_id id, raft_index *match, raft_index *next)
{
	return raft_progress(driver_raft(n->d), id, match, next);
}

int node_fault_set(struct node *n, raft_id peer, const struct net_fault *f)
{
	if (peer != RAFT_NONE)
		return net_fault_set(n->net, peer, f) == 0 ? NODE_OK : NODE_EINVAL;
	for (uint32_t i = 0; i < n->n_members; i++)
		if (n->members[i].id != n->cfg.id)
			net_fault_set(n->net, n->members[i].id, f);
	return NODE_OK;
}

void node_fault_clear(struct node *n, raft_id peer)
{
	if (peer != RAFT_NONE)
		net_fault_clear(n->net, peer);
	else
		net_fault_clear_all(n->net);
}

void node_metrics(const struct node *n, struct node_metrics *out)
{
	struct driver_metrics m;
	driver_metrics(n->d, &m);
	*out = (struct node_metrics){
	    .proposals = m.proposals,
	    .proposals_ok = m.proposals_ok,
	    .proposals_lost = m.proposals_lost,
	    .proposals_timeout = m.proposals_timeout,
	    .reads = m.reads,
	    .reads_ok = m.reads_ok,
	    .ready_batches = m.ready_batches,
	    .storage_writes = m.storage_writes,
	    .snapshots = m.snapshots,
	    .elections_won = m.elections_won,
	    .commit_latency_us_sum = m.commit_latency_us_sum,
	    .commit_latency_count = m.commit_latency_count,
	    .leader_changes = m.leader_changes,
	    .disk_stalls = m.disk_stalls,
	    .disk_stalled = m.disk_stalled,
	    .commit_seconds = m.commit_seconds,
	    .apply_seconds = m.apply_seconds,
	    .snapshot_seconds = m.snapshot_seconds,
	};
	histogram_init_latency(&out->append_seconds);
	histogram_init_latency(&out->fsync_seconds);
	if (n->async != NULL) {
		struct storage_async_stats as;
		storage_async_stats_get(n->async, &as);
		out->append_seconds = as.append_seconds;
		out->fsync_seconds = as.fsync_seconds;
	}
}

bool node_net_peer_stats(const struct node *n, raft_id peer, struct net_stats *out)
{
	return net_stats_get(n->net, peer, out) == 0;
}

void node_net_stats(const struct node *n, struct net_stats *out)
{
	net_stats_get(n->net, RAFT_NONE, out);
}
