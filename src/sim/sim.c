/* sim.c: the cluster simulator: simulated time, network, disks, clients and nemesis,
 * with Raft's safety properties checked after every event. */
#include "sim/sim.h"
#include "sim/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Simulated time is in microseconds. */
#define MS UINT64_C(1000)
#define TICK_US (10 * MS)
#define ELECTION_TICKS 10
#define HEARTBEAT_TICKS 2
#define LIVENESS_TICKS 3000 /* after healing, a fresh write must commit within this */

/* ---------------------------------------------------------------------------------
 * Fault names
 */

static const struct {
	const char *name;
	uint32_t bit;
} fault_names[] = {
    {"drop", SIM_FAULT_DROP},         {"delay", SIM_FAULT_DELAY_REQ},
    {"delay-resp", SIM_FAULT_DELAY_RESP}, {"dup", SIM_FAULT_DUP},
    {"reorder", SIM_FAULT_REORDER},   {"partition", SIM_FAULT_PARTITION},
    {"crash", SIM_FAULT_CRASH},       {"transfer", SIM_FAULT_TRANSFER},
    {"snapshot", SIM_FAULT_SNAPSHOT}, {"membership", SIM_FAULT_MEMBERSHIP},
    {"disk", SIM_FAULT_DISK},
};
#define N_FAULT_NAMES (sizeof(fault_names) / sizeof(fault_names[0]))

int sim_faults_parse(const char *list, uint32_t *mask, char *err, size_t err_len)
{
	*mask = 0;
	const char *p = list;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool found = false;
		if (len == 3 && strncmp(p, "all", 3) == 0) {
			*mask |= SIM_FAULT_ALL;
			found = true;
		} else if (len == 4 && strncmp(p, "none", 4) == 0) {
			found = true;
		}
		for (size_t i = 0; i < N_FAULT_NAMES && !found; i++) {
			if (strlen(fault_names[i].name) == len &&
			    strncmp(p, fault_names[i].name, len) == 0) {
				*mask |= fault_names[i].bit;
				found = true;
			}
		}
		if (!found) {
			snprintf(err, err_len, "unknown fault '%.*s' (known: all, none", (int)len,
				 p);
			for (size_t i = 0; i < N_FAULT_NAMES; i++) {
				size_t used = strlen(err);
				snprintf(err + used, err_len - used, ", %s", fault_names[i].name);
			}
			size_t used = strlen(err);
			snprintf(err + used, err_len - used, ")");
			return -1;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

void sim_faults_format(uint32_t mask, char *buf, size_t len)
{
	if (mask == SIM_FAULT_ALL) {
		snprintf(buf, len, "all");
		return;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < N_FAULT_NAMES; i++) {
		if (!(mask & fault_names[i].bit))
			continue;
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", used ? "," : "", fault_names[i].name);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
}

/* ---------------------------------------------------------------------------------
 * Small utilities
 */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct sim *s, uint64_t n)
{
	return n == 0 ? 0 : rng_next(&s->rng) % n;
}

static bool rng_chance(struct sim *s, double p)
{
	if (p <= 0)
		return false;
	return (double)(rng_next(&s->rng) >> 11) * (1.0 / 9007199254740992.0) < p;
}

static void hash_mix(struct sim *s, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		s->hash ^= (v >> (8 * i)) & 0xff;
		s->hash *= 0x100000001b3ull;
	}
}

uint64_t sim_payload_hash(const struct raft_entry *e)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)e->type;
	const unsigned char *p = raft_entry_data(e);
	for (size_t i = 0; i < raft_entry_len(e); i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL) {
		fprintf(stderr, "concord-sim: out of memory\n");
		abort();
	}
	return q;
}

#define VEC_PUSH(vec, n, cap, item)                                                        \
	do {                                                                               \
		if ((n) == (cap)) {                                                        \
			(cap) = (cap) ? (cap) * 2 : 16;                                    \
			(vec) = xrealloc((vec), (cap) * sizeof(*(vec)));                   \
		}                                                                          \
		(vec)[(n)++] = (item);                                                     \
	} while (0)

/* A line in the trace and in the ring of recent events shown on a violation. */
void sim_log(struct sim *s, const char *fmt, ...)
{
	char line[SIM_LINE];
	va_list ap;
	va_start(ap, fmt);
	int off = snprintf(line, sizeof(line), "%8.3f ", (double)s->now / 1e6);
	vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
	va_end(ap);
	memcpy(s->recent[s->recent_next % SIM_RECENT], line, sizeof(line));
	s->recent_next++;
	if (s->opts.trace != NULL)
		fprintf(s->opts.trace, "%s\n", line);
}

void sim_narrate(struct sim *s, const char *fmt, ...)
{
	if (s->opts.narrate == NULL)
		return;
	if (s->opts.pace > 0 && s->now > s->narrated_at) {
		/* Let a person watch: sleep for the simulated time since the last line. */
		double wall = (double)(s->now - s->narrated_at) / 1e6 * s->opts.pace;
		if (wall > 2.0)
			wall = 2.0;
		struct timespec ts = {(time_t)wall, (long)((wall - (double)(time_t)wall) * 1e9)};
		nanosleep(&ts, NULL);
	}
	s->narrated_at = s->now;
	va_list ap;
	va_start(ap, fmt);
	fprintf(s->opts.narrate, "[%7.3fs] ", (double)s->now / 1e6);
	vfprintf(s->opts.narrate, fmt, ap);
	fprintf(s->opts.narrate, "\n");
	fflush(s->opts.narrate);
	va_end(ap);
}

void sim_fail(struct sim *s, const char *property, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = true;
	snprintf(s->res->property, sizeof(s->res->property), "%s", property);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->res->detail, sizeof(s->res->detail), fmt, ap);
	va_end(ap);
	sim_log(s, "VIOLATION %s: %s", property, s->res->detail);
}

/* ---------------------------------------------------------------------------------
 * The event queue: a binary heap ordered by (time, sequence), so that ties break in
 * the order events were scheduled and runs are reproducible.
 */

static bool ev_before(const struct event *a, const struct event *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void ev_push(struct sim *s, struct event ev)
{
	ev.seq = s->ev_seq++;
	if (s->n_heap == s->cap_heap) {
		s->cap_heap = s->cap_heap ? s->cap_heap * 2 : 256;
		s->heap = xrealloc(s->heap, s->cap_heap * sizeof(*s->heap));
	}
	size_t i = s->n_heap++;
	s->heap[i] = ev;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!ev_before(&s->heap[i], &s->heap[parent]))
			break;
		struct event t = s->heap[i];
		s->heap[i] = s->heap[parent];
		s->heap[parent] = t;
		i = parent;
	}
}

static struct event ev_pop(struct sim *s)
{
	assert(s->n_heap > 0);
	struct event top = s->heap[0];
	s->heap[0] = s->heap[--s->n_heap];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->n_heap && ev_before(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->n_heap && ev_before(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		struct event t = s->heap[i];
		s->heap[i] = s->heap[m];
		s->heap[m] = t;
		i = m;
	}
	return top;
}

/* ---------------------------------------------------------------------------------
 * The network
 */

static bool is_response(enum raft_msg_type t)
{
	return t == RAFT_MSG_PREVOTE_RESP || t == RAFT_MSG_VOTE_RESP ||
	       t == RAFT_MSG_APPEND_RESP || t == RAFT_MSG_HEARTBEAT_RESP;
}

static bool link_cut(const struct sim *s, uint32_t from, uint32_t to)
{
	return s->cut[from][to];
}

static void net_send(struct sim *s, const struct raft_message *m)
{
	uint32_t from = (uint32_t)m->from - 1;
	uint32_t to = (uint32_t)m->to - 1;
	assert(from < s->n);
	assert(to < s->n);
	s->msgs_sent++;
	if (link_cut(s, from, to) || rng_chance(s, s->p_drop)) {
		sim_log(s, "n%u -> n%u %s dropped", from + 1, to + 1, raft_msg_type_name(m->type));
		return;
	}
	int copies = rng_chance(s, s->p_dup) ? 2 : 1;
	for (int c = 0; c < copies; c++) {
		/* A link is FIFO, as TCP is, unless a fault says otherwise: reordering
		 * jitter and delays hold single messages back while later ones pass. */
		uint64_t at = s->now + 500 + rng_below(s, 2500); /* 0.5 to 3 ms */
		if (at <= s->link_last[from][to])
			at = s->link_last[from][to] + 1;
		s->link_last[from][to] = at;
		if (s->jitter_us > 0)
			at += rng_below(s, s->jitter_us);
		bool resp = is_response(m->type);
		if (!resp && rng_chance(s, s->p_delay_req))
			at += rng_below(s, s->delay_us);
		if (resp && rng_chance(s, s->p_delay_resp))
			at += rng_below(s, s->delay_us);
		struct event ev = {.time = at, .type = EV_DELIVER, .node = to};
		raft_message_copy(&ev.msg, m);
		ev_push(s, ev);
	}
}

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

static void node_fail_stop(struct sim *s, struct node *nd);

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

static void node_handle_ready(struct sim *s, struct node *nd)
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
static void node_disk_done(struct sim *s, struct node *nd)
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

static void node_start(struct sim *s, struct node *nd)
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

static void node_crash(struct sim *s, struct node *nd)
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
static void node_fail_stop(struct sim *s, struct node *nd)
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

/* ---------------------------------------------------------------------------------
 * The nemesis: faults that change over time
 */

static void nemesis_disk(struct sim *s)
{
	struct node *nd = &s->nodes[rng_below(s, s->n)];
	if (!nd->up || nd->removed)
		return;
	disk_fault(s, nd);
	sim_narrate(s, "nemesis: n%u's disk starts failing", nd->idx + 1);
}

static void nemesis_partition(struct sim *s)
{
	memset(s->cut, 0, sizeof(s->cut));
	if (rng_chance(s, 0.35)) {
		sim_log(s, "nemesis: network healed");
		sim_narrate(s, "nemesis: the network heals");
		return;
	}
	/* Split the nodes into two random sides; often the leader alone on one side, where
	 * it may go on believing it leads while the others elect a new leader. */
	bool side[SIM_MAX_NODES] = {false};
	uint32_t count = 0;
	int leader = -1;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->nodes[i].up && raft_role(s->nodes[i].r) == RAFT_LEADER)
			leader = (int)i;
	bool isolate_leader = leader >= 0 && rng_chance(s, 0.4);
	for (uint32_t i = 0; i < s->n; i++) {
		side[i] = isolate_leader ? (int)i == leader : rng_chance(s, 0.5);
		count += side[i];
	}
	if (count == 0 || count == s->n)
		side[rng_below(s, s->n)] = !side[0];
	/* 0: both ways, 1: one way, 2: a bridge node */
	int kind = isolate_leader ? 0 : (int)rng_below(s, 3);
	uint32_t bridge = (uint32_t)rng_below(s, s->n);
	char desc[128] = "";
	for (uint32_t i = 0; i < s->n; i++) {
		size_t used = strlen(desc);
		snprintf(desc + used, sizeof(desc) - used, "%sn%u", side[i] ? "A:" : "B:", i + 1);
		if (i + 1 < s->n)
			strncat(desc, " ", sizeof(desc) - strlen(desc) - 1);
		for (uint32_t j = 0; j < s->n; j++) {
			if (side[i] == side[j])
				continue;
			if (kind == 2 && (i == bridge || j == bridge))
				continue;
			if (kind == 1 && !side[i])
				continue; /* only A -> B is cut */
			s->cut[i][j] = true;
		}
	}
	static const char *kinds[] = {"both ways", "one way (A cannot reach B)",
				      "with a bridge node"};
	s->res->partitions++;
	sim_log(s, "nemesis: partition %s, %s (bridge n%u)", desc, kinds[kind], bridge + 1);
	if (kind == 2)
		sim_narrate(s, "nemesis: partition %s, n%u bridges both sides", desc,
			    bridge + 1);
	else
		sim_narrate(s, "nemesis: partition %s, %s", desc, kinds[kind]);
}

static void nemesis_crash(struct sim *s)
{
	uint32_t i = (uint32_t)rng_below(s, s->n);
	struct node *nd = &s->nodes[i];
	if (!nd->up || nd->removed)
		return;
	bool was_leader = raft_role(nd->r) == RAFT_LEADER;
	node_crash(s, nd);
	s->res->crashes++;
	sim_log(s, "nemesis: crash n%u", i + 1);
	sim_narrate(s, "nemesis: n%u crashes%s (unsynced writes are lost)", i + 1,
		    was_leader ? " while leading" : "");
	uint64_t down = 20 * MS + rng_below(s, 2000 * MS);
	struct event ev = {.time = s->now + down, .type = EV_RESTART, .node = i};
	ev_push(s, ev);
}

static void nemesis_transfer(struct sim *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (!nd->up || raft_role(nd->r) != RAFT_LEADER)
			continue;
		int rv;
		if (rng_chance(s, 0.5)) {
			raft_id to = 1 + rng_below(s, s->n);
			rv = raft_transfer_leader(nd->r, to);
			sim_log(s, "nemesis: n%u transfer leadership to n%" PRIu64 ": %s", i + 1, to,
				raft_strerror(rv));
			if (rv == 0)
				sim_narrate(s, "nemesis: leader n%u hands leadership to n%" PRIu64,
					    i + 1, to);
		} else {
			rv = raft_step_down(nd->r);
			sim_log(s, "nemesis: n%u step down: %s", i + 1, raft_strerror(rv));
			if (rv == 0)
				sim_narrate(s, "nemesis: leader n%u steps down", i + 1);
		}
		if (rv == 0)
			s->res->transfers++;
		sim_node_input(s, nd);
	}
}

static void nemesis_membership(struct sim *s)
{
	struct node *leader = sim_newest_leader(s);
	if (leader == NULL)
		return;
	struct raft_conf t = *raft_conf_current(leader->r);
	if (t.n_voters_old > 0)
		return;
	char what[96];
	uint32_t action = (uint32_t)rng_below(s, 4);
	if (action == 0) {
		/* Add a learner: a fresh node with an empty disk; ids are never reused. */
		uint32_t slot = s->n;
		for (uint32_t i = 0; i < s->n && slot == s->n; i++)
			if (!s->nodes[i].exists)
				slot = i;
		if (slot == s->n || t.n_learners >= RAFT_MAX_MEMBERS)
			return;
		t.learners[t.n_learners++] = slot + 1;
		snprintf(what, sizeof(what), "add n%u as a learner", slot + 1);
		if (raft_change_config(leader->r, &t, NULL) != 0)
			return;
		node_start(s, &s->nodes[slot]);
	} else if (action == 1) {
		if (t.n_learners == 0 || t.n_voters >= RAFT_MAX_MEMBERS)
			return;
		uint32_t k = (uint32_t)rng_below(s, t.n_learners);
		raft_id id = t.learners[k];
		t.learners[k] = t.learners[--t.n_learners];
		t.voters[t.n_voters++] = id;
		snprintf(what, sizeof(what), "promote learner n%" PRIu64 " to voter", id);
	} else if (action == 2) {
		if (t.n_voters <= 2)
			return;
		uint32_t k = (uint32_t)rng_below(s, t.n_voters);
		raft_id id = t.voters[k];
		t.voters[k] = t.voters[--t.n_voters];
		snprintf(what, sizeof(what), "remove voter n%" PRIu64 "%s", id,
			 id == leader->idx + 1 ? " (the leader itself)" : "");
	} else {
		if (t.n_learners == 0)
			return;
		uint32_t k = (uint32_t)rng_below(s, t.n_learners);
		raft_id id = t.learners[k];
		t.learners[k] = t.learners[--t.n_learners];
		snprintf(what, sizeof(what), "remove learner n%" PRIu64, id);
	}
	int rv = action == 0 ? 0 : raft_change_config(leader->r, &t, NULL);
	sim_log(s, "nemesis: n%u asked to %s: %s", leader->idx + 1, what, raft_strerror(rv));
	if (rv != 0)
		return;
	s->res->conf_changes++;
	sim_narrate(s, "membership: leader n%u starts to %s", leader->idx + 1, what);
	sim_node_input(s, leader);
}

/* A node that was in a committed configuration and is not in a later one has been
 * removed for good: committed configurations are never rolled back and ids are never
 * added twice. (An uncommitted addition may still come back, so absence alone proves
 * nothing.) Removed nodes are decommissioned: with pre-vote and check-quorum they are
 * left running, to show they cannot disrupt the cluster; without, they are shut down,
 * as an operator would. */
static void reap_removed(struct sim *s)
{
	struct node *leader = sim_newest_leader(s);
	if (leader == NULL)
		return;
	/* A copy: shutting down a removed node below may free the leader itself (a leader
	 * that removed itself and has not stepped down yet). */
	const struct raft_conf conf = *raft_conf_current(leader->r);
	const struct raft_conf *c = &conf;
	raft_index at = raft_conf_index(leader->r);
	if (c->n_voters_old > 0 || at > raft_commit_index(leader->r))
		return;
	for (uint32_t i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (raft_conf_is_member(c, i + 1)) {
			nd->committed_member = true;
			if (at > nd->member_conf)
				nd->member_conf = at;
			continue;
		}
		/* Only a configuration newer than the last one that held it removes it: a
		 * stale leader may still show an older one. */
		if (!nd->exists || nd->removed || !nd->committed_member || at <= nd->member_conf)
			continue;
		nd->removed = true;
		bool keep = s->pre_vote && s->check_quorum;
		sim_log(s, "n%u left the configuration; %s", i + 1, keep ? "left running" : "shut down");
		sim_narrate(s, "membership: n%u is out of the cluster (%s)", i + 1,
			    keep ? "left running: pre-vote and check-quorum keep it harmless"
				 : "shut down");
		if (!keep && nd->up)
			node_crash(s, nd);
	}
}

static void nemesis_step(struct sim *s)
{
	uint32_t f = s->opts.faults;
	uint32_t choices[5];
	uint32_t n = 0;
	if (f & SIM_FAULT_PARTITION)
		choices[n++] = SIM_FAULT_PARTITION;
	if (f & SIM_FAULT_CRASH)
		choices[n++] = SIM_FAULT_CRASH;
	if (f & SIM_FAULT_TRANSFER)
		choices[n++] = SIM_FAULT_TRANSFER;
	if (f & SIM_FAULT_MEMBERSHIP)
		choices[n++] = SIM_FAULT_MEMBERSHIP;
	if (f & SIM_FAULT_DISK)
		choices[n++] = SIM_FAULT_DISK;
	if (n > 0) {
		switch (choices[rng_below(s, n)]) {
		case SIM_FAULT_PARTITION: nemesis_partition(s); break;
		case SIM_FAULT_CRASH: nemesis_crash(s); break;
		case SIM_FAULT_TRANSFER: nemesis_transfer(s); break;
		case SIM_FAULT_MEMBERSHIP: nemesis_membership(s); break;
		case SIM_FAULT_DISK: nemesis_disk(s); break;
		}
	}
	struct event ev = {.time = s->now + s->nemesis_gap_us / 2 + rng_below(s, s->nemesis_gap_us),
			   .type = EV_NEMESIS};
	ev_push(s, ev);
}

/* Heals every fault: the liveness phase begins. */
static void heal(struct sim *s)
{
	s->healed = true;
	s->heal_time = s->now;
	memset(s->cut, 0, sizeof(s->cut));
	s->p_drop = s->p_dup = s->p_delay_req = s->p_delay_resp = 0;
	s->jitter_us = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		disk_fault_clear(nd);
		if (nd->exists && !nd->removed && !nd->up) {
			node_start(s, nd);
			sim_log(s, "heal: restart n%u", i + 1);
		}
	}
	sim_log(s, "heal: all faults cleared; a fresh write must commit");
	sim_narrate(s, "all faults healed: every node is up, the network is whole; "
		       "now a fresh write must commit within %u ticks",
		    LIVENESS_TICKS);
}

/* Draws this run's fault intensities from its seed. */
static void draw_faults(struct sim *s)
{
	uint32_t f = s->opts.faults;
	if (f & SIM_FAULT_DROP)
		s->p_drop = (double)rng_below(s, 15) / 100.0;
	s->delay_us = (20 + rng_below(s, 300)) * MS;
	if (f & SIM_FAULT_DELAY_REQ)
		s->p_delay_req = (double)rng_below(s, 10) / 100.0;
	if (f & SIM_FAULT_DELAY_RESP)
		s->p_delay_resp = (double)rng_below(s, 10) / 100.0;
	if (f & SIM_FAULT_DUP)
		s->p_dup = (double)rng_below(s, 10) / 100.0;
	if (f & SIM_FAULT_REORDER)
		s->jitter_us = rng_below(s, 30 * MS);
	s->nemesis_gap_us = (200 + rng_below(s, 1500)) * MS;
	/* The protocol options vary too: a deposed leader lingers without check-quorum, and
	 * a returning node disrupts without pre-vote; safety must hold either way. */
	s->pre_vote = rng_below(s, 4) != 0;
	s->check_quorum = rng_below(s, 4) != 0;
	s->disk_us_min = 200 + rng_below(s, 3000);
	if (f & SIM_FAULT_SNAPSHOT) {
		s->snap_every = rng_below(s, 8) == 0 ? 0 : 5 + (uint32_t)rng_below(s, 200);
		s->snap_trailing = (uint32_t)rng_below(s, 40);
		s->snap_pad = (uint32_t)rng_below(s, 4000);
	}
	s->chunk_bytes = 16 + (uint32_t)rng_below(s, 1024);
	s->segment_bytes = 4096 * (1 + rng_below(s, 8));
	s->disk_us_spread = 1 + rng_below(s, 5000);
}

/* ---------------------------------------------------------------------------------
 * The run
 */

static void sim_free(struct sim *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (nd->up) {
			disk_crash(s, nd);
			raft_free(nd->r);
		}
		disk_free(s, nd);
	}
	while (s->n_heap > 0) {
		struct event ev = ev_pop(s);
		raft_message_release(&ev.msg);
	}
	free(s->heap);
	checks_free(s);
	clients_free(s);
}

static void handle_event(struct sim *s, struct event *ev)
{
	struct node *nd = ev->type == EV_NEMESIS || ev->type == EV_CLIENT ? NULL
									: &s->nodes[ev->node];
	hash_mix(s, ev->time);
	hash_mix(s, (uint64_t)ev->type << 32 | ev->node);
	switch (ev->type) {
	case EV_TICK:
		if (!nd->up || ev->epoch != nd->epoch)
			break;
		raft_tick(nd->r);
		ev->time += TICK_US;
		ev_push(s, *ev);
		sim_node_input(s, nd);
		break;
	case EV_DELIVER: {
		struct raft_message *m = &ev->msg;
		hash_mix(s, (uint64_t)m->type << 48 | m->from << 40 | m->to << 32 | m->term);
		hash_mix(s, m->index ^ (m->log_term << 20) ^ ((uint64_t)m->n_entries << 40));
		if (!nd->up) {
			sim_log(s, "n%" PRIu64 " -> n%" PRIu64 " %s lost: n%" PRIu64 " is down",
				m->from, m->to, raft_msg_type_name(m->type), m->to);
			break;
		}
		sim_log(s,
			"n%" PRIu64 " -> n%" PRIu64 " %s term=%" PRIu64 " index=%" PRIu64
			" logterm=%" PRIu64 " commit=%" PRIu64 " n=%u%s",
			m->from, m->to, raft_msg_type_name(m->type), m->term, m->index, m->log_term,
			m->commit, m->n_entries, m->reject ? " reject" : "");
		raft_step(nd->r, m);
		sim_node_input(s, nd);
		break;
	}
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
		sim_narrate(s, "nemesis: n%u restarts from its disk (term %" PRIu64
			       ", %" PRIu64 " entries)",
			    nd->idx + 1, raft_term_current(nd->r), raft_last_index(nd->r));
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

bool sim_run(const struct sim_opts *opts, struct sim_result *res)
{
	struct sim *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	memset(res, 0, sizeof(*res));
	res->linearizable = -2; /* not checked (yet) */
	s->opts = *opts;
	s->res = res;
	s->n_initial = opts->nodes;
	assert(s->n_initial >= 1);
	assert(s->n_initial <= SIM_MAX_NODES);
	/* Spare slots for the nodes that membership changes add. */
	s->n = opts->faults & SIM_FAULT_MEMBERSHIP ? SIM_MAX_NODES : s->n_initial;
	s->rng = opts->seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	s->drive_rng = opts->seed * 0xd1b54a32d192ed03ull + 0x8bb84b93962eacc9ull;
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
	sim_narrate(s, "a %u-node cluster starts (pre-vote %s, check-quorum %s); %u clients "
		       "write and read 5 keys",
		    s->n_initial, s->pre_vote ? "on" : "off", s->check_quorum ? "on" : "off",
		    opts->clients ? opts->clients : 3);
	sim_narrate(s, "faults this run: %.0f%% of messages dropped, %.0f%% duplicated, "
		       "%.0f%% of requests and %.0f%% of responses delayed up to %" PRIu64
		       " ms, jitter up to %" PRIu64 " ms; the nemesis acts every ~%" PRIu64 " ms",
		    s->p_drop * 100, s->p_dup * 100, s->p_delay_req * 100, s->p_delay_resp * 100,
		    s->delay_us / MS, s->jitter_us / MS, s->nemesis_gap_us / MS);
	for (uint32_t i = 0; i < s->n_initial; i++)
		node_start(s, &s->nodes[i]);
	clients_init(s, opts->clients ? opts->clients : 3);
	if (opts->faults & (SIM_FAULT_PARTITION | SIM_FAULT_CRASH | SIM_FAULT_TRANSFER |
			    SIM_FAULT_MEMBERSHIP | SIM_FAULT_DISK)) {
		struct event ev = {.time = s->nemesis_gap_us, .type = EV_NEMESIS};
		ev_push(s, ev);
	}

	uint64_t fault_end = (uint64_t)opts->ticks * TICK_US;
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
		res->events++;
		handle_event(s, &ev);
	}
	if (!s->failed)
		final_checks(s);
	if (!s->failed)
		check_linearizable(s);

	if (!s->failed)
		sim_narrate(s, "checked after each of %" PRIu64 " events: one leader per term, "
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
	if (s->lin_report != NULL) {
		snprintf(res->recent, sizeof(res->recent), "%s", s->lin_report);
		free(s->lin_report);
	} else if (s->failed) {
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
	if (opts->history_path != NULL)
		history_write(s, opts->history_path);
	sim_free(s);
	free(s);
	return res->ok;
}
