/* node.c: one simulated node's life cycle: driving its core through ready/advance,
 * applying, snapshots, disk completions, start, crash and fail-stop. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * Nodes: driving the core through the ready/advance contract
 */

uint64_t sim_state_hash(const struct node *nd)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint32_t k = 0; k < SIM_KEYS; k++) {
		h ^= nd->kv[k];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A snapshot of the state machine: the applied index, the values of the keys, and
 * filler bytes that make the transfer span several chunks. */
static struct raft_buf *snapshot_encode(struct sim *s, const struct node *nd)
{
	size_t len = 8 * (1 + SIM_KEYS) + s->snap_pad;
	unsigned char *p = malloc(len);
	if (p == NULL)
		abort();
	memcpy(p, &nd->applied, 8);
	memcpy(p + 8, nd->kv, 8 * SIM_KEYS);
	for (size_t i = 8 * (1 + SIM_KEYS); i < len; i++)
		p[i] = (unsigned char)(i * 31 + nd->applied);
	struct raft_buf *b = raft_buf_new(p, len);
	free(p);
	return b;
}

static bool snapshot_decode(struct node *nd, const struct raft_buf *b, raft_index index)
{
	uint64_t at;
	if (b == NULL || b->len < 8 * (1 + SIM_KEYS))
		return false;
	memcpy(&at, b->data, 8);
	if (at != index)
		return false;
	memcpy(nd->kv, b->data + 8, 8 * SIM_KEYS);
	nd->applied = index;
	return true;
}


static void maybe_snapshot(struct sim *s, struct node *nd)
{
	if (s->snap_every == 0 || nd->applied < raft_snapshot_index(nd->r) + s->snap_every)
		return;
	raft_term term;
	struct raft_conf conf;
	if (raft_snapshot_meta(nd->r, nd->applied, &term, &conf) != 0)
		return;
	struct raft_buf *data = snapshot_encode(s, nd);
	if (!disk_put_snapshot(s, nd, nd->applied, term, &conf, data)) {
		raft_buf_unref(data);
		return; /* the caller sees the failed disk and stops the node */
	}
	int rv = raft_snapshot_taken(nd->r, nd->applied, data, s->snap_trailing);
	raft_buf_unref(data);
	if (rv != 0) {
		sim_fail(s, "snapshot", "n%u could not compact at %" PRIu64 ": %s", nd->idx + 1,
			 nd->applied, raft_strerror(rv));
		return;
	}
	s->res->snapshots++;
	sim_log(s, "n%u snapshot at %" PRIu64 " (term %" PRIu64 "), log from %" PRIu64,
		nd->idx + 1, nd->applied, term, raft_first_index(nd->r));
}

static void kv_apply(struct sim *s, struct node *nd, const struct raft_entry *e)
{
	if (e->type != RAFT_ENTRY_NORMAL)
		return;
	struct sim_cmd cmd;
	if (raft_entry_len(e) != sizeof(cmd)) {
		sim_fail(s, "applied-entry-format", "n%u applied a %zu-byte entry at %" PRIu64,
			 nd->idx + 1, raft_entry_len(e), e->index);
		return;
	}
	memcpy(&cmd, raft_entry_data(e), sizeof(cmd));
	if (cmd.key < SIM_KEYS)
		nd->kv[cmd.key] = cmd.value;
}

static void node_apply(struct sim *s, struct node *nd, const struct raft_entry *e)
{
	/* The same entry must be applied at each index on every node: it is the one the
	 * checker saw committed there. */
	if (e->index != nd->applied + 1) {
		sim_fail(s, "apply-order", "n%u applied index %" PRIu64 " after %" PRIu64,
			 nd->idx + 1, e->index, nd->applied);
		return;
	}
	/* Only what this node's disk holds is applied (raft.h: rd.committed is durable). */
	if (!disk_has(nd, e->index, e->term)) {
		sim_fail(s, "apply-durable", "n%u applies (index %" PRIu64 ", term %" PRIu64
			 ") that its disk does not hold", nd->idx + 1, e->index, e->term);
		return;
	}
	check_applied(s, nd, e);
	nd->applied = e->index;
	kv_apply(s, nd, e);
	check_state_after_apply(s, nd, e->index);
	client_on_apply(s, nd, e);
}

static void node_send_all(struct sim *s, struct raft_message *msgs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		net_send(s, &msgs[i]);
}

void node_handle_ready(struct sim *s, struct node *nd)
{
	nd->stepped = 0;
	while (nd->up && raft_has_ready(nd->r)) {
		struct raft_ready rd;
		raft_ready(nd->r, &rd);
		hash_mix(s, rd.seq ^ ((uint64_t)nd->idx << 56));
		if (rd.soft_state_changed)
			observe_soft_state(s, nd, &rd);
		check_new_entries(s, nd, &rd);
		/* 1. Messages that depend on nothing unpersisted go at once. */
		node_send_all(s, rd.messages, rd.n_messages);
		/* 4. Install a snapshot from the leader, then apply; committed entries are
		 * already durable here. */
		if (rd.has_snapshot) {
			if (!snapshot_decode(nd, rd.snapshot_data, rd.snapshot_index)) {
				sim_fail(s, "snapshot-install", "n%u received a snapshot that does "
					 "not decode at %" PRIu64, nd->idx + 1, rd.snapshot_index);
			}
			s->res->installs++;
			sim_log(s, "n%u installs a snapshot at %" PRIu64 " (term %" PRIu64 ")%s",
				nd->idx + 1, rd.snapshot_index, rd.snapshot_term,
				rd.snapshot_discard_log ? ", discarding its log" : "");
			check_installed(s, nd, rd.snapshot_index, rd.snapshot_term);
		}
		for (uint32_t i = 0; i < rd.n_committed; i++)
			node_apply(s, nd, &rd.committed[i]);
		for (uint32_t i = 0; i < rd.n_reads; i++)
			client_on_read_index(s, nd, &rd.reads[i]);
		/* 2. Persist: the disk completes batches in order, after a latency. */
		uint64_t lat = s->disk_us_min + rng_below(s, s->disk_us_spread);
		uint64_t done = s->now + lat;
		if (done <= nd->disk_busy_until)
			done = nd->disk_busy_until + 1;
		nd->disk_busy_until = done;
		disk_submit(s, nd, &rd);
		struct event ev = {.time = done, .type = EV_DISK, .node = nd->idx,
				   .epoch = nd->epoch};
		ev_push(s, ev);
		if (s->failed)
			return;
		if (!nd->disk.failed)
			maybe_snapshot(s, nd);
		if (nd->disk.failed) {
			node_fail_stop(s, nd);
			return;
		}
	}
	client_serve_reads(s, nd);
}

void sim_node_ready(struct sim *s, struct node *nd)
{
	node_handle_ready(s, nd);
}

static uint64_t drive_below(struct sim *s, uint64_t n)
{
	return n == 0 ? 0 : rng_next(&s->drive_rng) % n;
}

/* Draws the pattern of a node's driver for this incarnation. */
static void drive_draw(struct sim *s, struct node *nd)
{
	nd->stepped = 0;
	nd->drain_armed = false;
	nd->drive = DRIVE_EACH;
	if (s->opts.ready_each)
		return;
	switch (drive_below(s, 3)) {
	case 0:
		break;
	case 1:
		nd->drive = DRIVE_BURST;
		nd->burst = 2 + (uint32_t)drive_below(s, 15);
		break;
	default:
		nd->drive = DRIVE_RANDOM;
		nd->ready_pct = 10 + (uint32_t)drive_below(s, 61);
		break;
	}
	/* How long a put-off ready waits: sometimes no time at all (drained after the
	 * events already due now), mostly about a message's latency, sometimes a loop
	 * stalled for a few ticks; long enough for other inputs to arrive meanwhile. */
	switch (drive_below(s, 4)) {
	case 0:
		nd->drain_us = 0;
		break;
	case 3:
		nd->drain_us = 1 + drive_below(s, 30000);
		break;
	default:
		nd->drain_us = 1 + drive_below(s, 3000);
		break;
	}
}

static const char *drive_name(const struct node *nd)
{
	switch (nd->drive) {
	case DRIVE_BURST: return "bursts";
	case DRIVE_RANDOM: return "random";
	default: return "each";
	}
}

void sim_node_input(struct sim *s, struct node *nd)
{
	if (!nd->up)
		return;
	nd->stepped++;
	bool now;
	switch (nd->drive) {
	case DRIVE_BURST:
		now = nd->stepped >= nd->burst;
		break;
	case DRIVE_RANDOM:
		now = drive_below(s, 100) < nd->ready_pct;
		break;
	default:
		now = true;
		break;
	}
	if (now) {
		node_handle_ready(s, nd);
		return;
	}
	s->res->deferred++;
	if (!nd->drain_armed) {
		nd->drain_armed = true;
		struct event ev = {.time = s->now + nd->drain_us, .type = EV_DRAIN,
				   .node = nd->idx, .epoch = nd->epoch};
		ev_push(s, ev);
	}
}

void sim_schedule(struct sim *s, struct event ev)
{
	ev_push(s, ev);
}

uint64_t sim_rand(struct sim *s, uint64_t below)
{
	return rng_below(s, below);
}

/* The disk finished the oldest outstanding batch of node `nd`. */
void node_disk_done(struct sim *s, struct node *nd)
{
	struct raft_ready *rd = disk_complete(s, nd);
	if (rd == NULL) {
		node_fail_stop(s, nd);
		return;
	}
	/* 3. Now the batch is durable: speak. 5. Advance. */
	node_send_all(s, rd->persisted_messages, rd->n_persisted_messages);
	raft_advance(nd->r, rd);
	free(rd);
}

void node_start(struct sim *s, struct node *nd)
{
	struct raft_config cfg;
	raft_config_default(&cfg, nd->idx + 1);
	cfg.election_ticks = ELECTION_TICKS;
	cfg.heartbeat_ticks = HEARTBEAT_TICKS;
	cfg.seed = rng_next(&s->rng);
	cfg.max_msg_entries = 1 + (uint32_t)rng_below(s, 32);
	cfg.max_inflight_msgs = 1 + (uint32_t)rng_below(s, 16);
	cfg.pre_vote = s->pre_vote;
	cfg.check_quorum = s->check_quorum;
	cfg.snapshot_chunk_bytes = s->chunk_bytes;
	cfg.max_snapshot_chunks = 1 + (uint32_t)rng_below(s, 4);
	cfg.promote_max_lag = 20 + rng_below(s, 200);
	struct raft_boot boot;
	if (!disk_load(s, nd, &boot))
		return;
	int rv = raft_new(&nd->r, &cfg, &boot);
	disk_load_done(s, nd, &boot);
	if (rv != 0) {
		sim_fail(s, "boot", "n%u could not boot from its disk: %s", nd->idx + 1,
			 raft_strerror(rv));
		return;
	}
	nd->up = true;
	nd->exists = true;
	/* The state machine starts from the snapshot, if any, then replays the log. */
	memset(nd->kv, 0, sizeof(nd->kv));
	nd->applied = 0;
	if (nd->disk.snap_data != NULL &&
	    !snapshot_decode(nd, nd->disk.snap_data, nd->disk.snap_index))
		sim_fail(s, "snapshot-load", "n%u cannot load its own snapshot", nd->idx + 1);
	nd->last_commit = raft_commit_index(nd->r);
	nd->role = RAFT_FOLLOWER;
	drive_draw(s, nd);
	if (nd->drive != DRIVE_EACH)
		sim_log(s, "n%u drives its core in %s (burst %u, %u%%, drain %" PRIu64 " us)",
			nd->idx + 1, drive_name(nd), nd->burst, nd->ready_pct, nd->drain_us);
	/* Ticks start at a random phase so that nodes do not tick in lockstep. */
	struct event ev = {.time = s->now + 1 + rng_below(s, TICK_US), .type = EV_TICK,
			   .node = nd->idx, .epoch = nd->epoch};
	ev_push(s, ev);
}

void node_crash(struct sim *s, struct node *nd)
{
	assert(nd->up);
	nd->up = false;
	nd->epoch++;
	disk_crash(s, nd); /* loses what was not fsync'd; releases the pending batches */
	raft_free(nd->r);
	nd->r = NULL;
	client_on_crash(s, nd);
}

/* A failed write or fsync stops the node (fail-stop): after a failed fsync the page cache
 * no longer says what is on the disk. It restarts later from what the disk holds. */
void node_fail_stop(struct sim *s, struct node *nd)
{
	s->res->disk_faults++;
	sim_log(s, "n%u stops: its storage failed", nd->idx + 1);
	sim_narrate(s, "disk: n%u's storage failed (%s); the node stops rather than answer "
		       "from state it did not persist",
		    nd->idx + 1, storage_errmsg(nd->disk.st));
	node_crash(s, nd);
	if (!s->healed) {
		struct event ev = {.time = s->now + 20 * MS + rng_below(s, 1000 * MS),
				   .type = EV_RESTART, .node = nd->idx};
		ev_push(s, ev);
	} else {
		node_start(s, nd);
	}
}
