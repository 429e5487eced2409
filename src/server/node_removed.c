/* node_removed.c: a member learns it was removed from the cluster, stops campaigning and says so.
 */
#include "server/node_impl.h"

#include <inttypes.h>

/*
 * Raft itself never tells a member it was removed: once the leader works in C_new it no
 * longer writes to the member, which, hearing nothing, would campaign forever. But the
 * member can tell from the configuration it holds. Removing a voter takes joint
 * consensus (thesis 4.3): the member is in C_old of C_old,new, so it receives that
 * entry, and once it is committed every later leader holds it and completes the change
 * to C_new, which leaves the member out: committed, it settles the removal. The same
 * holds for any committed configuration whose new half (voters and learners) leaves the
 * member out. A configuration that does not name the member may also be one from before
 * it joined (a joining node replays the log from the start), so the check only counts
 * for a member that has seen itself in the configuration in force: an initial member,
 * or a joined one since it saw its own addition.
 *
 * Once removed, the node stops ticking the core (no more elections), logs it once,
 * answers clients with an error that says so (node_removed()) and calls cfg.removed:
 * `concord` then stops and exits with status 3.
 */

static bool in_new_half(const struct raft_conf *c, raft_id id)
{
	for (uint32_t i = 0; i < c->n_voters; i++)
		if (c->voters[i] == id)
			return true;
	for (uint32_t i = 0; i < c->n_learners; i++)
		if (c->learners[i] == id)
			return true;
	return false;
}

void node_removed_tick(struct node *n)
{
	if (n->removed_at != 0 || n->stopping)
		return;
	const struct raft *r = driver_raft(n->d);
	const struct raft_conf *c = raft_conf_current(r);
	if (in_new_half(c, n->cfg.id)) {
		n->was_member = true;
		return;
	}
	if (!n->was_member || c->n_voters == 0)
		return;
	raft_index at = raft_conf_index(r);
	if (at == 0 || at > raft_applied_index(r))
		return; /* not committed yet: a leader change could still undo it */
	n->removed_at = at;
	node_logf(n, LOG_ERROR,
	          "this member (node %" PRIu64 ") was removed from the cluster by the "
	          "configuration at index %" PRIu64 "%s: it stops campaigning and serving",
	          n->cfg.id, at, c->n_voters_old > 0 ? " (joint, leaving)" : "");
	if (n->cfg.removed != NULL)
		n->cfg.removed(n->cfg.removed_ctx);
}

raft_index node_removed(const struct node *n)
{
	return n->removed_at;
}
