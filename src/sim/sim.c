/* sim.c: the run: the event loop that dispatches each event to its node, checks the
 * safety properties after it, heals at the end of the faulty phase and reports. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * The run
 */

static void sim_free(struct sim *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (nd->up) {
			disk_crash(s, nd);
			driver_free(nd->d);
		}
		free(nd->batches);
		disk_free(s, nd);
	}
	while (s->n_heap > 0) {
		struct event ev = ev_pop(s);
		raft_message_release(&ev.msg);
	}
	free(s->heap);
	free(s->evs);
	free(s->ev_free);
	checks_free(s);
	watch_free(s);
	clients_free(s);
	net_free(s);
}

/* A message arrives at node `nd`: a node that is down loses it. */
static void deliver(struct sim *s, struct node *nd, struct raft_message *m)
{
	hash_mix(s, (uint64_t)m->type << 48 | m->from << 40 | m->to << 32 | m->term);
	hash_mix(s, m->index ^ (m->log_term << 20) ^ ((uint64_t)m->n_entries << 40));
	if (!nd->up) {
		sim_log(s, "n%" PRIu64 " -> n%" PRIu64 " %s lost: n%" PRIu64 " is down", m->from,
		        m->to, raft_msg_type_name(m->type), m->to);
		return;
	}
	char snap[64] = "";
	if (m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_SNAPSHOT_RESP)
		snprintf(snap, sizeof(snap), " bytes=%" PRIu64 "+%u/%" PRIu64, m->snap_offset,
		         m->chunk != NULL ? (unsigned)m->chunk->len : 0u, m->snap_size);
	sim_log(s,
	        "n%" PRIu64 " -> n%" PRIu64 " %s term=%" PRIu64 " index=%" PRIu64
	        " logterm=%" PRIu64 " commit=%" PRIu64 " n=%u%s%s",
	        m->from, m->to, raft_msg_type_name(m->type), m->term, m->index, m->log_term,
	        m->commit, m->n_entries, snap, m->reject ? " reject" : "");
	driver_step(nd->d, m);
	if (m->type == RAFT_MSG_SNAPSHOT && (s->opts.faults & SIM_FAULT_DIVERGE) &&
	    m->chunk != NULL && m->snap_offset + m->chunk->len == m->snap_size)
		net_replay_after_snapshot(s, (uint32_t)m->from - 1, (uint32_t)m->to - 1);
	sim_node_input(s, nd);
}

static void handle_event(struct sim *s, struct event *ev)
{
	struct node *nd =
	    ev->type == EV_NEMESIS || ev->type == EV_CLIENT ? NULL : &s->nodes[ev->node];
	hash_mix(s, ev->time);
	hash_mix(s, (uint64_t)ev->type << 32 | ev->node);
	switch (ev->type) {
	case EV_TICK:
		if (!nd->up || ev->epoch != nd->epoch)
			break;
		ev->time += TICK_US;
		ev_push(s, *ev);
		/* The driver's tick is the core's timers, the requests' deadlines, then a
		 * drain: a ready point, as in the server. */
		nd->stepped = 0;
		driver_tick(nd->d);
		disk_check_stall(s, nd);
		node_after(s, nd);
		break;
	case EV_DELIVER:
		deliver(s, nd, &ev->msg);
		break;
	case EV_DISK:
		if (!nd->up || ev->epoch != nd->epoch)
			break;
		node_disk_done(s, nd);
		sim_node_input(s, nd);
		break;
	case EV_DRAIN:
		if (!nd->up || ev->epoch != nd->epoch)
			break;
		nd->drain_armed = false;
		node_handle_ready(s, nd);
		break;
	case EV_RESTART:
		if (nd->up || s->healed || nd->removed)
			break;
		node_start(s, nd);
		if (!nd->up)
			break; /* recovery failed: the run already reports why */
		sim_log(s, "nemesis: restart n%u", nd->idx + 1);
		sim_narrate(
		    s,
		    "nemesis: n%u restarts from its disk (term %" PRIu64 ", %" PRIu64 " entries)",
		    nd->idx + 1, raft_term_current(node_raft(nd)), raft_last_index(node_raft(nd)));
		node_handle_ready(s, nd);
		break;
	case EV_NEMESIS:
		if (!s->healed)
			nemesis_step(s);
		break;
	case EV_CLIENT:
		client_event(s, ev->client, ev->epoch);
		break;
	}
	raft_message_release(&ev->msg);
	if (nd != NULL && nd->up && !s->failed)
		check_node(s, nd);
	if (!s->failed && (s->opts.faults & SIM_FAULT_MEMBERSHIP))
		reap_removed(s);
}

/* A run's cluster, clients and first nemesis event. */
static struct sim *sim_setup(const struct sim_opts *opts, struct sim_result *res, bool record)
{
	struct sim *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	memset(res, 0, sizeof(*res));
	res->linearizable = -2; /* not checked (yet) */
	s->opts = *opts;
	s->res = res;
	s->record = record;
	s->n_initial = opts->nodes;
	assert(s->n_initial >= 1);
	assert(s->n_initial <= SIM_MAX_NODES);
	/* Spare slots for the nodes that membership changes add. */
	s->n = opts->faults & SIM_FAULT_MEMBERSHIP ? SIM_MAX_NODES : s->n_initial;
	s->rng = opts->seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	s->drive_rng = opts->seed * 0xd1b54a32d192ed03ull + 0x8bb84b93962eacc9ull;
	s->txn_rng = opts->seed * 0xa0761d6478bd642full + 0xe7037ed1a0b428dbull;
	s->lease_rng = opts->seed * 0x8ebc6af09c88c6e3ull + 0x589965cc75374cc3ull;
	s->hash = 0xcbf29ce484222325ull;
	draw_faults(s);

	for (uint32_t i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		nd->idx = i;
		disk_init(s, nd);
		if (i < s->n_initial) {
			nd->committed_member = true;
			nd->disk.boot_conf.n_voters = s->n_initial;
			for (uint32_t j = 0; j < s->n_initial; j++)
				nd->disk.boot_conf.voters[j] = j + 1;
		}
	}
	sim_narrate(s,
	            "a %u-node cluster starts (pre-vote %s, check-quorum %s); %u clients "
	            "write and read 5 keys",
	            s->n_initial, s->pre_vote ? "on" : "off", s->check_quorum ? "on" : "off",
	            opts->clients ? opts->clients : 3);
	sim_narrate(s,
	            "faults this run: %.0f%% of messages dropped, %.0f%% duplicated, "
	            "%.0f%% of requests and %.0f%% of responses delayed up to %" PRIu64
	            " ms, jitter up to %" PRIu64 " ms; the nemesis acts every ~%" PRIu64 " ms",
	            s->p_drop * 100, s->p_dup * 100, s->p_delay_req * 100, s->p_delay_resp * 100,
	            s->delay_us / MS, s->jitter_us / MS, s->nemesis_gap_us / MS);
	for (uint32_t i = 0; i < s->n_initial; i++)
		node_start(s, &s->nodes[i]);
	clients_init(s, opts->clients ? opts->clients : 3);
	if (opts->faults &
	    (SIM_FAULT_PARTITION | SIM_FAULT_CRASH | SIM_FAULT_TRANSFER | SIM_FAULT_MEMBERSHIP |
	     SIM_FAULT_DISK | SIM_FAULT_DAMAGE | SIM_FAULT_STALL)) {
		struct event ev = {.time = s->nemesis_gap_us, .type = EV_NEMESIS};
		ev_push(s, ev);
	}
	return s;
}

/* The event loop: the faulty phase, the heal, then the wait for a fresh write. */
static void sim_loop(struct sim *s)
{
	uint64_t fault_end = (uint64_t)s->opts.ticks * TICK_US;
	uint64_t live_end = fault_end + (uint64_t)LIVENESS_TICKS * TICK_US;
	while (!s->failed && s->n_heap > 0) {
		if (!s->healed && s->heap[0].time >= fault_end) {
			s->now = fault_end;
			heal(s);
			continue;
		}
		if (s->healed && liveness_done(s))
			break;
		if (s->heap[0].time >= live_end) {
			s->now = live_end;
			sim_fail(s, "liveness",
			         "no fresh write committed and applied everywhere within %u "
			         "ticks after the faults healed",
			         LIVENESS_TICKS);
			break;
		}
		struct event ev = ev_pop(s);
		assert(ev.time >= s->now);
		s->now = ev.time;
		s->res->events++;
		handle_event(s, &ev);
	}
	if (!s->failed)
		final_checks(s);
	if (!s->failed)
		watch_final(s);
	if (!s->failed)
		check_linearizable(s);
}

/* The ring of recent events, as lines, into res->recent. */
static void sim_recent(const struct sim *s, struct sim_result *res)
{
	size_t used = 0;
	uint64_t first = s->recent_next > SIM_RECENT ? s->recent_next - SIM_RECENT : 0;
	for (uint64_t i = first; i < s->recent_next; i++) {
		int w = snprintf(res->recent + used, sizeof(res->recent) - used, "  %s\n",
		                 s->recent[i % SIM_RECENT]);
		if (w < 0 || (size_t)w >= sizeof(res->recent) - used)
			break;
		used += (size_t)w;
	}
}

/* One run. Without `record` (and without a trace) it keeps no recent events; returns
 * false if it failed without them, for the caller to run it again with them. */
static bool sim_once(const struct sim_opts *opts, struct sim_result *res, bool record)
{
	struct sim *s = sim_setup(opts, res, record);
	sim_loop(s);
	if (!s->failed)
		sim_narrate(s,
		            "checked after each of %" PRIu64 " events: one leader per term, "
		            "log matching, leader completeness, one entry applied per index, "
		            "commit never moving back; at the end every acknowledged write "
		            "(%" PRIu64 ") is on every node, and the history of %" PRIu64
		            " client operations is %s. All passed.",
		            res->events, res->acked, res->history_ops,
		            res->linearizable == 1 ? "linearizable"
		                                   : "too large to decide within the budget");
	else
		sim_narrate(s, "VIOLATION of %s: %s", res->property, res->detail);
	res->ok = !s->failed;
	res->trace_hash = s->hash;
	res->sim_ms = s->now / MS;
	bool complete = true;
	if (s->lin_report != NULL) {
		snprintf(res->recent, sizeof(res->recent), "%s", s->lin_report);
		free(s->lin_report);
	} else if (s->failed) {
		sim_recent(s, res);
		complete = s->record || opts->trace != NULL;
	}
	if (complete && opts->history_path != NULL)
		history_write(s, opts->history_path);
	sim_free(s);
	free(s);
	return complete;
}

bool sim_run(const struct sim_opts *opts, struct sim_result *res)
{
	/* With a narration, a run is not run twice: it keeps its recent events throughout. */
	if (!sim_once(opts, res, opts->narrate != NULL)) {
		/* Runs are deterministic: the same run again, keeping its recent events, ends
		 * the same way, and shows the events that led there. */
		sim_once(opts, res, true);
	}
	return res->ok;
}
