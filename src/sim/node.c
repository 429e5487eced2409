/* node.c: one simulated node: the real driver (core and kv) bound to a seam of simulated
 * network, disk and clocks; its observers, drive patterns, start, crash and fail-stop. */
#include "sim/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The simulated wall clock starts here (2026-01-01), the same in every run. */
#define SIM_WALL_EPOCH_MS UINT64_C(1767225600000)

_Static_assert(SIM_KEYS <= 10 && SIM_MULTI_KEYS < 10, "sim_key_name writes one digit");

size_t sim_key_name(uint32_t key, char buf[8])
{
	assert(key <= SIM_ALL_KEYS); /* SIM_ALL_KEYS: "m3", the end of a range over m0..m2 */
	buf[0] = key < SIM_KEYS ? 'k' : 'm';
	buf[1] = (char)('0' + (key < SIM_KEYS ? key : key - SIM_KEYS));
	buf[2] = '\0';
	return 2;
}

/* A digest of the client keyspace: each key's value, revisions and version, and the
 * store's revision. Cheap enough to take after every applied entry. */
/* The expiry on the side (clients.c): the log clock, the side keys' values and time
 * left, the leases' time left. */
static uint64_t expiry_hash(const struct kv *kv, uint64_t h)
{
	uint64_t words[5 + 2 * SIM_SIDE_KEYS] = {kv_clock_ms(kv), kv_next_deadline(kv)};
	for (uint64_t id = 1; id <= 3; id++) {
		struct kv_lease_info li;
		if (kv_lease_get(kv, id, &li) == KV_OK)
			words[1 + id] = (uint64_t)li.remaining_ms << 16 | li.keys;
	}
	for (uint32_t k = 0; k < SIM_SIDE_KEYS; k++) {
		char name[3] = {'x', (char)('0' + k), '\0'};
		struct kv_value v;
		int64_t ms;
		uint64_t lease;
		if (kv_get(kv, name, 2, 0, &v) == 0 && kv_ttl(kv, name, 2, &ms, &lease) == 0) {
			words[5 + 2 * k] = v.mod_revision;
			words[6 + 2 * k] = (uint64_t)ms ^ lease << 48;
		}
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		h ^= words[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t sim_state_hash(const struct node *nd)
{
	const struct kv *kv = driver_kv(nd->d);
	uint64_t h = expiry_hash(kv, 0xcbf29ce484222325ull ^ kv_revision(kv));
	for (uint32_t k = 0; k < SIM_ALL_KEYS; k++) {
		char name[8];
		size_t len = sim_key_name(k, name);
		struct kv_value v;
		uint64_t words[3] = {0, 0, 0};
		const unsigned char *p = NULL;
		size_t n = 0;
		if (kv_get(kv, name, len, 0, &v) == 0) {
			words[0] = v.create_revision;
			words[1] = v.mod_revision;
			words[2] = v.version;
			p = v.value;
			n = v.value_len;
		}
		for (int w = 0; w < 3; w++) {
			h ^= words[w];
			h *= 0x100000001b3ull;
		}
		for (size_t i = 0; i < n; i++) {
			h ^= p[i];
			h *= 0x100000001b3ull;
		}
		h ^= n;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ---------------------------------------------------------------------------------
 * The seam: what the driver asks of the simulated world
 */

static void seam_send(void *ctx, const struct raft_message *m)
{
	struct node *nd = ctx;
	net_send(nd->sim, m);
}

/* The disk completes batches in order, after a latency; storage_sync at completion. */
static void seam_persist(void *ctx, struct driver_batch *b, const struct raft_ready *rd)
{
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	uint64_t lat = s->disk_us_min + rng_below(s, s->disk_us_spread);
	uint64_t done = s->now + lat;
	if (done <= nd->disk_busy_until)
		done = nd->disk_busy_until + 1;
	nd->disk_busy_until = done;
	disk_submit(s, nd, rd);
	if (nd->n_batches == nd->cap_batches) {
		nd->cap_batches = nd->cap_batches ? nd->cap_batches * 2 : 8;
		nd->batches = sim_xrealloc(nd->batches, nd->cap_batches * sizeof(*nd->batches));
	}
	nd->batches[nd->n_batches++] = b;
	assert(nd->n_batches == nd->disk.n_pending);
	struct event ev = {.time = done, .type = EV_DISK, .node = nd->idx, .epoch = nd->epoch};
	ev_push(s, ev);
}

static uint64_t seam_now_ms(void *ctx)
{
	return ((struct node *)ctx)->sim->now / MS;
}

static uint64_t seam_now_us(void *ctx)
{
	return ((struct node *)ctx)->sim->now;
}

static uint64_t seam_wall_ms(void *ctx)
{
	return SIM_WALL_EPOCH_MS + ((struct node *)ctx)->sim->now / MS;
}

/* The snapshot job, synchronously: the kv's own deterministic serialization. */
static int seam_snapshot_start(void *ctx, raft_index index)
{
	struct node *nd = ctx;
	const struct kv *kv = driver_kv(nd->d);
	assert(kv_applied_index(kv) == index);
	void *buf = NULL;
	size_t len = 0;
	int rv = kv_snapshot_write_buf(kv, &buf, &len);
	driver_snapshot_written(nd->d, rv, buf, len);
	free(buf);
	return 0;
}

static void seam_snapshot_save(void *ctx, raft_index index, raft_term term,
                               const struct raft_conf *conf, const struct raft_buf *data)
{
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	if (!disk_put_snapshot(s, nd, index, term, conf, data)) {
		driver_snapshot_saved(nd->d, EIO);
		return;
	}
	driver_snapshot_saved(nd->d, 0);
	if (nd->stop)
		return;
	s->res->snapshots++;
	sim_log(s, "n%u snapshot at %" PRIu64 " (term %" PRIu64 ", %u bytes), log from %" PRIu64,
	        nd->idx + 1, index, term, data->len, raft_first_index(driver_raft(nd->d)));
}

static void seam_fail_stop(void *ctx, const char *why)
{
	struct node *nd = ctx;
	sim_log(nd->sim, "n%u's driver fails-stop: %s", nd->idx + 1, why);
	/* Only a failed disk may stop a node; anything else (a leader's snapshot that does
	 * not load) is a bug in the product. */
	if (!nd->disk.failed)
		sim_fail(nd->sim, "fail-stop", "n%u stopped with a healthy disk: %s", nd->idx + 1,
		         why);
	nd->stop = true;
}

static void seam_log(void *ctx, int level, const char *msg)
{
	struct node *nd = ctx;
	if (level >= DRIVER_LOG_WARN)
		sim_log(nd->sim, "n%u driver: %s", nd->idx + 1, msg);
}

/* ---------------------------------------------------------------------------------
 * The observers: the checks see every ready and every applied entry
 */

/* A leader's snapshot, checked once the state machine holds it. `applied`: an entry
 * after it was applied in the same batch already (inputs stepped before the ready
 * committed more than the snapshot), so its state is checked through that entry's. */
static void check_install_done(struct sim *s, struct node *nd, bool applied)
{
	if (nd->install_index == 0 || nd->stop)
		return;
	check_installed(s, nd, nd->install_index, nd->install_term, !applied);
	nd->install_index = 0;
	nd->revision = kv_revision(driver_kv(nd->d));
	watch_resync(s, nd);
}

static void observe_ready(void *ctx, const struct raft_ready *rd)
{
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	check_install_done(s, nd, false);
	nd->stepped = 0;
	hash_mix(s, rd->seq ^ ((uint64_t)nd->idx << 56));
	if (rd->soft_state_changed)
		observe_soft_state(s, nd, rd);
	check_new_entries(s, nd, rd);
	if (rd->has_snapshot) {
		s->res->installs++;
		sim_log(s, "n%u installs a snapshot at %" PRIu64 " (term %" PRIu64 ")%s",
		        nd->idx + 1, rd->snapshot_index, rd->snapshot_term,
		        rd->snapshot_discard_log ? ", discarding its log" : "");
		nd->install_index = rd->snapshot_index;
		nd->install_term = rd->snapshot_term;
		nd->applied = rd->snapshot_index;
	}
}

static void observe_applied(void *ctx, const struct raft_entry *e, const struct kv_reply *r)
{
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	check_install_done(s, nd, true);
	/* The same entry must be applied at each index on every node: it is the one the
	 * checker saw committed there. */
	if (e->index != nd->applied + 1) {
		sim_fail(s, "apply-order", "n%u applied index %" PRIu64 " after %" PRIu64,
		         nd->idx + 1, e->index, nd->applied);
		return;
	}
	/* Only what this node's disk holds is applied (raft.h: rd.committed is durable). */
	if (!disk_has(nd, e->index, e->term)) {
		sim_fail(s, "apply-durable",
		         "n%u applies (index %" PRIu64 ", term %" PRIu64
		         ") that its disk does not hold",
		         nd->idx + 1, e->index, e->term);
		return;
	}
	if (e->type == RAFT_ENTRY_NORMAL && r->code == KV_EBADCMD) {
		sim_fail(s, "applied-entry-format",
		         "n%u applied a %zu-byte entry at %" PRIu64 " that is no command",
		         nd->idx + 1, raft_entry_len(e), e->index);
		return;
	}
	/* Exactly-once: a retried command answered from its session's stored reply
	 * changes nothing. */
	uint64_t revision = kv_revision(driver_kv(nd->d));
	if (r->duplicate && revision != nd->revision) {
		sim_fail(s, "exactly-once",
		         "n%u applied a duplicate at %" PRIu64 " and its "
		         "revision moved from %" PRIu64 " to %" PRIu64,
		         nd->idx + 1, e->index, nd->revision, revision);
		return;
	}
	watch_applied(s, nd, nd->revision);
	nd->revision = revision;
	check_applied(s, nd, e);
	nd->applied = e->index;
	nd->applying = e;
	check_state_after_apply(s, nd, e->index);
}

/* ---------------------------------------------------------------------------------
 * Driving: ready points and inputs
 */

void node_after(struct sim *s, struct node *nd)
{
	if (!nd->up)
		return;
	nd->applying = NULL;
	check_install_done(s, nd, false);
	if (nd->stop || nd->disk.failed)
		node_fail_stop(s, nd);
}

void node_handle_ready(struct sim *s, struct node *nd)
{
	nd->stepped = 0;
	driver_drain(nd->d);
	node_after(s, nd);
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
	if (s->opts.faults & SIM_FAULT_DIVERGE) {
		/* Readies put off often and long: a snapshot and the stale append behind it. */
		nd->drive = DRIVE_RANDOM;
		nd->ready_pct = 5 + (uint32_t)drive_below(s, 30);
		nd->drain_us = 2000 + drive_below(s, 30000);
		return;
	}
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
	case DRIVE_BURST:
		return "bursts";
	case DRIVE_RANDOM:
		return "random";
	default:
		return "each";
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
		struct event ev = {.time = s->now + nd->drain_us,
		                   .type = EV_DRAIN,
		                   .node = nd->idx,
		                   .epoch = nd->epoch};
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
	assert(nd->n_batches > 0);
	struct driver_batch *b = nd->batches[0];
	memmove(nd->batches, nd->batches + 1, (nd->n_batches - 1) * sizeof(*nd->batches));
	nd->n_batches--;
	struct raft_ready *rd = disk_complete(s, nd);
	/* The disk's copy is its record only: the driver advances its own batch. */
	free(rd);
	driver_persisted(nd->d, b, rd == NULL ? EIO : 0);
	node_after(s, nd);
}

/* ---------------------------------------------------------------------------------
 * Life cycle
 */

static void node_config(struct sim *s, struct node *nd, struct driver_config *dc)
{
	memset(dc, 0, sizeof(*dc));
	struct raft_config *cfg = &dc->raft;
	raft_config_default(cfg, nd->idx + 1);
	cfg->election_ticks = ELECTION_TICKS;
	cfg->heartbeat_ticks = HEARTBEAT_TICKS;
	cfg->seed = rng_next(&s->rng);
	cfg->max_msg_entries = 1 + (uint32_t)rng_below(s, 32);
	cfg->max_inflight_msgs = 1 + (uint32_t)rng_below(s, 16);
	cfg->pre_vote = s->pre_vote;
	cfg->check_quorum = s->check_quorum;
	cfg->snapshot_chunk_bytes = s->chunk_bytes;
	cfg->max_snapshot_chunks = 1 + (uint32_t)rng_below(s, 4);
	cfg->promote_max_lag = 20 + rng_below(s, 200);
	kv_config_default(&dc->kv);
	dc->request_timeout_ms = (uint32_t)(SIM_CLIENT_TIMEOUT_US / MS);
	/* Hung-disk detection as the server sets it: three mean election timeouts. The
	 * simulated disks' latencies stay far below it, so only a stall trips it. */
	dc->disk_stall_ms = (uint32_t)(3 * ELECTION_TICKS * 3 / 2 * (TICK_US / MS));
	/* snapshot_every 0: never (a threshold no run reaches, without overflow). */
	dc->snapshot_entries = s->snap_every ? s->snap_every : UINT64_MAX / 4;
	dc->snapshot_bytes = 0;
	dc->snapshot_trailing = s->snap_trailing;
}

void node_start(struct sim *s, struct node *nd)
{
	struct driver_config dc;
	node_config(s, nd, &dc);
	struct raft_boot boot;
	if (!disk_load(s, nd, &boot))
		return;
	struct driver_seam seam = {
	    .ctx = nd,
	    .send = seam_send,
	    .persist = seam_persist,
	    .now_ms = seam_now_ms,
	    .now_us = seam_now_us,
	    .wall_ms = seam_wall_ms,
	    .snapshot_start = seam_snapshot_start,
	    .snapshot_save = seam_snapshot_save,
	    .fail_stop = seam_fail_stop,
	    .log = seam_log,
	    .observe_ready = observe_ready,
	    .observe_applied = observe_applied,
	};
	nd->sim = s;
	char err[256];
	int rv = driver_new(&nd->d, &dc, &seam, &boot, err, sizeof(err));
	/* The state machine starts from the snapshot, if any, then replays the log. */
	nd->applied = boot.snapshot_index;
	nd->revision = rv == 0 ? kv_revision(driver_kv(nd->d)) : 0;
	disk_load_done(s, nd, &boot);
	if (rv != 0) {
		nd->d = NULL;
		sim_fail(s, "boot", "n%u could not boot from its disk: %s", nd->idx + 1, err);
		return;
	}
	nd->up = true;
	s->n_existing += !nd->exists;
	nd->exists = true;
	nd->stop = false;
	nd->install_index = 0;
	nd->n_batches = 0;
	watch_attach(s, nd);
	nd->last_commit = raft_commit_index(driver_raft(nd->d));
	nd->role = RAFT_FOLLOWER;
	drive_draw(s, nd);
	if (nd->drive != DRIVE_EACH)
		sim_log(s, "n%u drives its core in %s (burst %u, %u%%, drain %" PRIu64 " us)",
		        nd->idx + 1, drive_name(nd), nd->burst, nd->ready_pct, nd->drain_us);
	/* Ticks start at a random phase so that nodes do not tick in lockstep. */
	struct event ev = {.time = s->now + 1 + rng_below(s, TICK_US),
	                   .type = EV_TICK,
	                   .node = nd->idx,
	                   .epoch = nd->epoch};
	ev_push(s, ev);
}

void node_crash(struct sim *s, struct node *nd)
{
	assert(nd->up);
	nd->up = false;
	nd->epoch++;
	disk_crash(s, nd);  /* loses what was not fsync'd; forgets the pending batches */
	driver_free(nd->d); /* releases its batches; pending requests are dropped */
	nd->d = NULL;
	nd->n_batches = 0;
	nd->applying = NULL;
}

/* A failed write or fsync stops the node (fail-stop): after a failed fsync the page cache
 * no longer says what is on the disk. It restarts later from what the disk holds. */
void node_fail_stop(struct sim *s, struct node *nd)
{
	s->res->disk_faults++;
	sim_log(s, "n%u stops: its storage failed", nd->idx + 1);
	sim_narrate(s,
	            "disk: n%u's storage failed (%s); the node stops rather than answer "
	            "from state it did not persist",
	            nd->idx + 1, nd->disk.st != NULL ? storage_errmsg(nd->disk.st) : "?");
	node_crash(s, nd);
	if (!s->healed) {
		struct event ev = {.time = s->now + 20 * MS + rng_below(s, 1000 * MS),
		                   .type = EV_RESTART,
		                   .node = nd->idx};
		ev_push(s, ev);
	} else {
		node_start(s, nd);
	}
}
