/* node_removed.c: a member learns it was removed from the cluster, stops campaigning and says so.
 */
#include "server/node_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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
 * A member cut off while it was removed never receives those entries: nobody writes to
 * it any more. So the others tell it when it dials them. Each node remembers the members
 * it saw in a configuration since it started; when its committed configuration leaves
 * one out, it closes that member's links, and refuses its next dial with the index of
 * that configuration (NET_HS_EREMOVED). The dialer believes it only if it was a member
 * and holds no configuration newer than that index: then a committed configuration at
 * least as recent as anything it knows leaves it out. (A member removed and added again
 * under the same id while cut off could be told wrongly by a peer that has not applied
 * the addition yet; ids are not reused in practice, as in etcd.) The memory is not kept
 * across restarts, so a member still cut off after every other one restarted is not
 * told.
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

static bool conf_has(const struct raft_conf *c, raft_id id)
{
	return in_new_half(c, id) || raft_conf_is_voter(c, id);
}

static int seen_find(const struct node *n, raft_id id)
{
	for (uint32_t i = 0; i < n->n_seen; i++)
		if (n->seen[i].id == id)
			return (int)i;
	return -1;
}

/* Remembers every member of `c`; when full, the oldest memory goes. */
static void seen_note(struct node *n, const struct raft_conf *c)
{
	const raft_id *lists[] = {c->voters, c->voters_old, c->learners};
	const uint32_t counts[] = {c->n_voters, c->n_voters_old, c->n_learners};
	const uint32_t cap = sizeof(n->seen) / sizeof(n->seen[0]);
	for (int l = 0; l < 3; l++) {
		for (uint32_t i = 0; i < counts[l]; i++) {
			raft_id id = lists[l][i];
			int at = seen_find(n, id);
			if (at >= 0) {
				n->seen[at].dropped = false; /* a member again */
				continue;
			}
			if (n->n_seen == cap) {
				memmove(&n->seen[0], &n->seen[1], (cap - 1) * sizeof(n->seen[0]));
				n->n_seen--;
			}
			n->seen[n->n_seen].id = id;
			n->seen[n->n_seen].dropped = false;
			n->n_seen++;
		}
	}
}

/* The committed configuration `c` leaves out members seen before: close their links
 * once, so that their next dial is refused and tells them. */
static void seen_drop_links(struct node *n, const struct raft_conf *c)
{
	for (uint32_t i = 0; i < n->n_seen; i++) {
		raft_id id = n->seen[i].id;
		if (n->seen[i].dropped || id == n->cfg.id || conf_has(c, id))
			continue;
		n->seen[i].dropped = true;
		uint32_t closed = net_inbound_drop(n->net, id);
		node_logf(n, LOG_INFO,
		          "n%" PRIu64 " was removed from the cluster: %" PRIu32
		          " of its links closed; its next dial is refused and tells it so",
		          id, closed);
	}
}

static void mark_removed(struct node *n, raft_index at, const char *how)
{
	const struct raft_conf *c = raft_conf_current(driver_raft(n->d));
	n->removed_at = at;
	node_logf(n, LOG_ERROR,
	          "this member (node %" PRIu64 ") was removed from the cluster by the "
	          "configuration at index %" PRIu64 "%s%s: it stops campaigning and serving",
	          n->cfg.id, at, c->n_voters_old > 0 ? " (joint, leaving)" : "", how);
	if (n->cfg.removed != NULL)
		n->cfg.removed(n->cfg.removed_ctx);
}

bool node_peer_removed(void *ctx, raft_id id, uint64_t *index)
{
	struct node *n = ctx;
	if (n->removed_at != 0 || n->stopping)
		return false;
	const struct raft *r = driver_raft(n->d);
	raft_index at = raft_conf_index(r);
	if (at == 0 || at > raft_applied_index(r))
		return false; /* only a committed configuration says so */
	if (conf_has(raft_conf_current(r), id) || seen_find(n, id) < 0)
		return false; /* a member, or one this node never saw (joining, say) */
	*index = at;
	return true;
}

void node_told_removed(void *ctx, raft_id by, uint64_t index)
{
	struct node *n = ctx;
	if (index > n->told_removed_at) {
		n->told_removed_at = index;
		n->told_removed_by = by;
	}
}

/* A peer said this member was removed at `told_removed_at`: judge it. */
static void told_check(struct node *n)
{
	raft_index at = n->told_removed_at;
	raft_id by = n->told_removed_by;
	n->told_removed_at = 0;
	raft_index own = raft_conf_index(driver_raft(n->d));
	if (!n->was_member || at < own) {
		node_logf(n, LOG_WARN,
		          "n%" PRIu64 " says this member was removed by its configuration at index "
		          "%" PRIu64 "; not believed: %s",
		          by, at,
		          !n->was_member ? "this node has not seen itself in a configuration yet"
		                         : "this node holds a newer configuration");
		return;
	}
	char how[64];
	snprintf(how, sizeof(how), " (n%" PRIu64 " refused its link and said so)", by);
	mark_removed(n, at, how);
}

void node_removed_tick(struct node *n)
{
	if (n->removed_at != 0 || n->stopping)
		return;
	const struct raft *r = driver_raft(n->d);
	const struct raft_conf *c = raft_conf_current(r);
	raft_index at = raft_conf_index(r);
	if (n->n_seen == 0 || at != n->seen_conf_index) {
		seen_note(n, c);
		n->seen_conf_index = at;
	}
	bool committed = at != 0 && at <= raft_applied_index(r);
	if (committed)
		seen_drop_links(n, c);
	if (n->told_removed_at != 0) {
		told_check(n);
		if (n->removed_at != 0)
			return;
	}
	if (in_new_half(c, n->cfg.id)) {
		n->was_member = true;
		return;
	}
	if (!n->was_member || c->n_voters == 0 || !committed)
		return; /* not committed yet: a leader change could still undo it */
	mark_removed(n, at, "");
}

raft_index node_removed(const struct node *n)
{
	return n->removed_at;
}
