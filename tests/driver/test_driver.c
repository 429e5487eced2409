/* test_driver.c: three drivers in one process over a fake seam: no libuv, no disk, no clock. */
#include "driver/driver.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*
 * The fake seam: an in-memory network (a queue the test delivers by hand), an in-memory
 * "disk" (persist() queues the batch; the test completes it, at once or when it says),
 * a fake clock, and a snapshot job that serializes at snapshot_start() and completes
 * when the test says. This is what a simulator binds, with faults.
 */

#define N         3
#define TICK_MS   10
#define MAX_QUEUE 4096

struct cluster;

struct fake {
	struct cluster *c;
	raft_id id;
	struct driver *d;
	bool manual_disk; /* batches wait for disk_complete() */
	struct driver_batch *disk[256];
	uint32_t n_disk;
	uint32_t persists;
	bool isolated;
	/* The snapshot job */
	uint32_t snap_starts;
	raft_index snap_index;
	void *snap_bytes;
	size_t snap_len;
	uint32_t snap_saves;
	/* Fail-stop */
	bool failed;
	char why[128];
};

struct cluster {
	struct fake f[N];
	struct raft_message q[MAX_QUEUE];
	uint32_t n_q;
	uint64_t now_ms;
};

/* ---- The seam */

static void fake_send(void *ctx, const struct raft_message *m)
{
	struct fake *f = ctx;
	struct cluster *c = f->c;
	assert_true(c->n_q < MAX_QUEUE);
	raft_message_copy(&c->q[c->n_q++], m);
}

static void fake_persist(void *ctx, struct driver_batch *b, const struct raft_ready *rd)
{
	struct fake *f = ctx;
	(void)rd;
	assert_true(f->n_disk < 256);
	f->disk[f->n_disk++] = b;
	f->persists++;
}

static uint64_t fake_now_ms(void *ctx)
{
	struct fake *f = ctx;
	return f->c->now_ms;
}

static uint64_t fake_wall_ms(void *ctx)
{
	struct fake *f = ctx;
	return 1700000000000ull + f->c->now_ms;
}

static int fake_snapshot_start(void *ctx, raft_index index)
{
	struct fake *f = ctx;
	f->snap_starts++;
	f->snap_index = index;
	/* Serialize now, as the state is at this moment (a fork freezes it the same way). */
	assert_int_equal(kv_applied_index(driver_kv(f->d)), index);
	free(f->snap_bytes);
	assert_int_equal(kv_snapshot_write_buf(driver_kv(f->d), &f->snap_bytes, &f->snap_len), 0);
	return 0;
}

static void fake_snapshot_save(void *ctx, raft_index index, raft_term term,
                               const struct raft_conf *conf, const struct raft_buf *data)
{
	struct fake *f = ctx;
	assert_int_equal(index, f->snap_index);
	assert_true(term > 0 && conf->n_voters == N && data->len == f->snap_len);
	f->snap_saves++;
}

static void fake_fail_stop(void *ctx, const char *why)
{
	struct fake *f = ctx;
	f->failed = true;
	snprintf(f->why, sizeof(f->why), "%s", why);
}

/* ---- The cluster */

static void cluster_init(struct cluster *c, uint64_t snapshot_entries)
{
	memset(c, 0, sizeof(*c));
	struct raft_boot boot;
	memset(&boot, 0, sizeof(boot));
	for (raft_id id = 1; id <= N; id++)
		boot.conf.voters[boot.conf.n_voters++] = id;
	for (uint32_t i = 0; i < N; i++) {
		struct fake *f = &c->f[i];
		f->c = c;
		f->id = i + 1;
		struct driver_config cfg = {
		    .request_timeout_ms = 5000,
		    .snapshot_entries = snapshot_entries,
		    .snapshot_trailing = 2,
		    .disk_stall_ms = 1000,
		};
		raft_config_default(&cfg.raft, f->id);
		cfg.raft.seed = 42 + f->id;
		kv_config_default(&cfg.kv);
		struct driver_seam seam = {
		    .ctx = f,
		    .send = fake_send,
		    .persist = fake_persist,
		    .now_ms = fake_now_ms,
		    .wall_ms = fake_wall_ms,
		    .snapshot_start = fake_snapshot_start,
		    .snapshot_save = fake_snapshot_save,
		    .fail_stop = fake_fail_stop,
		};
		char err[256];
		assert_int_equal(driver_new(&f->d, &cfg, &seam, &boot, err, sizeof(err)),
		                 DRIVER_OK);
	}
}

static void cluster_free(struct cluster *c)
{
	for (uint32_t i = 0; i < N; i++) {
		struct fake *f = &c->f[i];
		driver_stop(f->d);
		driver_free(f->d); /* releases the batches still on the fake disk */
		f->n_disk = 0;
		free(f->snap_bytes);
	}
	for (uint32_t i = 0; i < c->n_q; i++)
		raft_message_release(&c->q[i]);
	c->n_q = 0;
}

/* Completes the first `count` batches of f's disk with `status`, oldest first. */
static void disk_complete(struct fake *f, uint32_t count, int status)
{
	assert_true(count <= f->n_disk);
	struct driver_batch *done[256];
	memcpy(done, f->disk, count * sizeof(*done));
	memmove(f->disk, f->disk + count, (f->n_disk - count) * sizeof(*f->disk));
	f->n_disk -= count;
	for (uint32_t i = 0; i < count; i++)
		driver_persisted(f->d, done[i], status);
}

/* Delivers what is queued now (not what the deliveries queue); drops the isolated's. */
static uint32_t deliver(struct cluster *c)
{
	uint32_t count = c->n_q;
	struct raft_message *now = malloc((count + 1) * sizeof(*now));
	memcpy(now, c->q, count * sizeof(*now));
	c->n_q = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct raft_message *m = &now[i];
		assert_true(m->to >= 1 && m->to <= N);
		struct fake *to = &c->f[m->to - 1];
		struct fake *from = &c->f[m->from - 1];
		if (!to->isolated && !from->isolated && !to->failed)
			driver_step(to->d, m);
		raft_message_release(m);
	}
	free(now);
	return count;
}

/* Runs drains, disks and the network until nothing moves. */
static void settle(struct cluster *c)
{
	for (int round = 0; round < 1000; round++) {
		bool moved = false;
		for (uint32_t i = 0; i < N; i++) {
			struct fake *f = &c->f[i];
			if (driver_dirty(f->d)) {
				driver_drain(f->d);
				moved = true;
			}
			if (!f->manual_disk && f->n_disk > 0 && !f->failed) {
				disk_complete(f, f->n_disk, 0);
				moved = true;
			}
		}
		if (deliver(c) > 0)
			moved = true;
		if (!moved)
			return;
	}
	fail_msg("the cluster does not settle");
}

static void tick(struct cluster *c, int ticks)
{
	for (int t = 0; t < ticks; t++) {
		c->now_ms += TICK_MS;
		for (uint32_t i = 0; i < N; i++)
			if (!c->f[i].failed)
				driver_tick(c->f[i].d);
		settle(c);
	}
}

/* The one leader among the connected nodes, or NULL. */
static struct fake *leader(struct cluster *c)
{
	struct fake *l = NULL;
	for (uint32_t i = 0; i < N; i++) {
		struct fake *f = &c->f[i];
		if (!f->isolated && raft_role(driver_raft(f->d)) == RAFT_LEADER) {
			assert_null(l);
			l = f;
		}
	}
	return l;
}

static struct fake *elect(struct cluster *c)
{
	for (int t = 0; t < 200 && leader(c) == NULL; t++)
		tick(c, 1);
	struct fake *l = leader(c);
	assert_non_null(l);
	tick(c, 3); /* the leader's no-op commits everywhere */
	return l;
}

/* ---- Callbacks */

struct outcome {
	bool called;
	int status;
	struct kv_reply reply;
	int order;
};

static int order_seq;

static void on_write(void *arg, int status, const struct kv_reply *reply)
{
	struct outcome *o = arg;
	assert_false(o->called);
	o->called = true;
	o->status = status;
	o->order = ++order_seq;
	if (reply != NULL)
		o->reply = *reply;
}

static void on_read(void *arg, int status)
{
	on_write(arg, status, NULL);
}

static int set(struct fake *f, const char *k, const char *v, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	struct kv_cmd cmd = {
	    .op = KV_OP_SET,
	    .put = {.key = k, .key_len = strlen(k), .value = v, .value_len = strlen(v)}};
	return driver_write(f->d, &cmd, on_write, o);
}

static void assert_value(struct fake *f, const char *k, const char *v)
{
	struct kv_value got;
	assert_int_equal(kv_get(driver_kv(f->d), k, strlen(k), 0, &got), 0);
	assert_int_equal(got.value_len, strlen(v));
	assert_memory_equal(got.value, v, strlen(v));
}

/* ---- Tests */

static void test_write_applies_everywhere(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *l = elect(c);
	struct fake *follower = &c->f[l->id % N];
	struct outcome o;
	assert_int_equal(set(follower, "k", "v", &o), DRIVER_ENOTLEADER);
	assert_int_equal(set(l, "k", "v", &o), DRIVER_OK);
	assert_false(o.called);
	settle(c);
	assert_true(o.called);
	assert_int_equal(o.status, DRIVER_OK);
	assert_int_equal(o.reply.code, KV_OK);
	assert_true(o.reply.succeeded);
	for (uint32_t i = 0; i < N; i++)
		assert_value(&c->f[i], "k", "v");
	/* Reserved keys are Concord's own. */
	struct kv_cmd reserved = {.op = KV_OP_SET,
	                          .put = {.key = KV_MEMBER_PREFIX "9",
	                                  .key_len = KV_MEMBER_PREFIX_LEN + 1,
	                                  .value = "x",
	                                  .value_len = 1}};
	assert_int_equal(driver_write(l->d, &reserved, on_write, &o), DRIVER_EINVAL);
	/* ...inside a transaction too, in a sub-command or in a guard. */
	struct kv_cmd plain = {.op = KV_OP_SET,
	                       .put = {.key = "a", .key_len = 1, .value = "x", .value_len = 1}};
	struct kv_cmd ops[2] = {plain, reserved};
	struct kv_cmd txn = {.op = KV_OP_TXN, .n_ops = 2, .ops = ops};
	assert_int_equal(driver_write(l->d, &txn, on_write, &o), DRIVER_EINVAL);
	struct kv_guard guard = {.key = KV_MEMBER_PREFIX "9", .key_len = KV_MEMBER_PREFIX_LEN + 1};
	struct kv_cmd guarded = {
	    .op = KV_OP_TXN, .n_guards = 1, .guards = &guard, .n_ops = 1, .ops = &plain};
	assert_int_equal(driver_write(l->d, &guarded, on_write, &o), DRIVER_EINVAL);
	struct driver_metrics m;
	driver_metrics(l->d, &m);
	assert_int_equal(m.proposals, 1);
	assert_int_equal(m.proposals_ok, 1);
	assert_int_equal(m.elections_won, 1);
	cluster_free(c);
	free(c);
}

static void test_read_index(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *l = elect(c);
	struct outcome w, r, stale;
	assert_int_equal(set(l, "a", "1", &w), DRIVER_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(driver_read(l->d, false, on_read, &r), DRIVER_OK);
	assert_false(r.called); /* a quorum must confirm the leadership first */
	assert_int_equal(driver_reads_pending(l->d), 1);
	settle(c);
	assert_true(w.called && r.called);
	assert_int_equal(r.status, DRIVER_OK);
	assert_true(w.order < r.order); /* the read came after the write was applied */
	assert_value(l, "a", "1");
	/* A follower refuses linearizable reads; a stale one is served at once. */
	struct fake *follower = &c->f[l->id % N];
	assert_int_equal(driver_read(follower->d, false, on_read, &r), DRIVER_ENOTLEADER);
	memset(&stale, 0, sizeof(stale));
	assert_int_equal(driver_read(follower->d, true, on_read, &stale), DRIVER_OK);
	assert_true(stale.called);
	cluster_free(c);
	free(c);
}

static void test_lost_to_leader_change(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *old = elect(c);
	old->isolated = true;
	struct outcome lost, won;
	assert_int_equal(set(old, "x", "old", &lost), DRIVER_OK);
	settle(c);
	struct fake *l = NULL;
	for (int t = 0; t < 300 && (l = leader(c)) == NULL; t++)
		tick(c, 1);
	assert_non_null(l);
	assert_ptr_not_equal(l, old);
	assert_int_equal(set(l, "x", "new", &won), DRIVER_OK);
	settle(c);
	assert_true(won.called);
	assert_int_equal(won.status, DRIVER_OK);
	assert_false(lost.called);
	old->isolated = false;
	tick(c, 30);
	assert_true(lost.called);
	assert_int_equal(lost.status, DRIVER_ELOST);
	assert_value(old, "x", "new");
	struct driver_metrics m;
	driver_metrics(old->d, &m);
	assert_int_equal(m.proposals_lost, 1);
	cluster_free(c);
	free(c);
}

static void test_timeout(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *l = elect(c);
	/* Cut off from its followers the leader cannot commit: the write times out. */
	l->isolated = true;
	struct outcome o;
	assert_int_equal(set(l, "t", "1", &o), DRIVER_OK);
	tick(c, 5000 / TICK_MS - 10);
	assert_false(o.called);
	tick(c, 20);
	assert_true(o.called);
	assert_int_equal(o.status, DRIVER_ETIMEOUT);
	assert_int_equal(driver_writes_pending(l->d), 0);
	cluster_free(c);
	free(c);
}

static void test_batches_in_flight_in_order(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *l = elect(c);
	l->manual_disk = true;
	struct outcome o[3];
	const char *keys[3] = {"b1", "b2", "b3"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(set(l, keys[i], "v", &o[i]), DRIVER_OK);
		driver_drain(l->d); /* one batch per write */
	}
	assert_int_equal(driver_inflight(l->d), 3);
	assert_int_equal(l->n_disk, 3);
	/* The followers' acknowledgements commit the writes before the leader's own disk
	 * returns (Raft allows it); the batches still complete one at a time, in order. */
	for (int rounds = 0; l->n_disk > 0; rounds++) {
		assert_true(rounds < 50);
		uint32_t before = driver_inflight(l->d);
		assert_int_equal(before, l->n_disk);
		disk_complete(l, 1, 0); /* the driver asserts it is the oldest */
		assert_int_equal(driver_inflight(l->d), before - 1);
		settle(c); /* may queue more batches behind the others */
	}
	l->manual_disk = false;
	tick(c, 2);
	for (int i = 0; i < 3; i++) {
		assert_true(o[i].called);
		assert_int_equal(o[i].status, DRIVER_OK);
		if (i > 0)
			assert_true(o[i - 1].order < o[i].order);
		assert_value(l, keys[i], "v");
	}
	cluster_free(c);
	free(c);
}

/* Hung-disk detection: the leader's disk stops completing; past disk_stall_ms it steps
 * down (another node leads and takes writes), counts the stall, and says so once; when
 * the disk returns the stall ends. */
static void test_disk_stall_leader_steps_down(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *l = elect(c);
	l->manual_disk = true;
	struct outcome o;
	assert_int_equal(set(l, "s", "1", &o), DRIVER_OK);
	tick(c, 900 / TICK_MS);
	struct driver_metrics m;
	driver_metrics(l->d, &m);
	assert_int_equal(m.disk_stalls, 0);
	assert_int_equal(raft_role(driver_raft(l->d)), RAFT_LEADER);
	tick(c, 20);
	driver_metrics(l->d, &m);
	assert_int_equal(m.disk_stalls, 1);
	assert_int_equal(m.disk_stalled, 1);
	struct fake *now = NULL;
	for (int t = 0; t < 300 && (now == NULL || now == l); t++) {
		tick(c, 1);
		now = leader(c);
	}
	assert_non_null(now);
	assert_ptr_not_equal(now, l);
	assert_int_not_equal(raft_role(driver_raft(l->d)), RAFT_LEADER);
	struct outcome o2;
	assert_int_equal(set(now, "t", "2", &o2), DRIVER_OK);
	tick(c, 5);
	assert_true(o2.called);
	assert_int_equal(o2.status, DRIVER_OK);
	driver_metrics(l->d, &m);
	assert_int_equal(m.disk_stalls, 1); /* one stall, counted once */
	/* The disk returns. */
	while (l->n_disk > 0)
		disk_complete(l, l->n_disk, 0);
	l->manual_disk = false;
	tick(c, 5);
	driver_metrics(l->d, &m);
	assert_int_equal(m.disk_stalled, 0);
	assert_value(l, "t", "2");
	cluster_free(c);
	free(c);
}

static void test_snapshot_policy(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 8);
	struct fake *l = elect(c);
	struct outcome o;
	char key[16];
	for (int i = 0; i < 12; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		assert_int_equal(set(l, key, "v", &o), DRIVER_OK);
		settle(c);
		assert_int_equal(o.status, DRIVER_OK);
	}
	for (uint32_t i = 0; i < N; i++) {
		struct fake *f = &c->f[i];
		/* Past 8 applied entries, once per node, and not again while it runs. */
		assert_int_equal(f->snap_starts, 1);
		assert_true(driver_snapshotting(f->d));
		assert_true(f->snap_index >= 8);
		raft_index first = raft_first_index(driver_raft(f->d));
		driver_snapshot_written(f->d, 0, f->snap_bytes, f->snap_len);
		assert_int_equal(f->snap_saves, 1);
		driver_snapshot_saved(f->d, 0);
		assert_false(driver_snapshotting(f->d));
		/* The log was compacted up to the snapshot, less the trailing entries. */
		assert_int_equal(raft_snapshot_index(driver_raft(f->d)), f->snap_index);
		assert_true(raft_first_index(driver_raft(f->d)) > first);
		assert_int_equal(raft_first_index(driver_raft(f->d)), f->snap_index - 2 + 1);
		struct driver_metrics m;
		driver_metrics(f->d, &m);
		assert_int_equal(m.snapshots, 1);
	}
	/* The cluster goes on after compaction. */
	assert_int_equal(set(l, "after", "v", &o), DRIVER_OK);
	settle(c);
	assert_int_equal(o.status, DRIVER_OK);
	for (uint32_t i = 0; i < N; i++)
		assert_value(&c->f[i], "after", "v");
	cluster_free(c);
	free(c);
}

static void test_fail_stop_on_persist_error(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *l = elect(c);
	l->manual_disk = true;
	struct outcome o, again;
	assert_int_equal(set(l, "f", "1", &o), DRIVER_OK);
	driver_drain(l->d);
	assert_int_equal(l->n_disk, 1);
	disk_complete(l, 1, -1);
	assert_true(l->failed);
	assert_string_equal(l->why, "a ready batch did not persist");
	assert_true(driver_failed(l->d));
	/* A dead driver refuses everything and ignores its inputs. */
	assert_int_equal(set(l, "f", "2", &again), DRIVER_ESTORAGE);
	assert_int_equal(driver_read(l->d, true, on_read, &again), DRIVER_ESTORAGE);
	assert_false(driver_dirty(l->d));
	tick(c, 5);
	assert_false(again.called);
	cluster_free(c);
	free(c);
}

/* A leader's append that contradicts an entry a follower has committed (raft.h,
 * "Divergence") stops that follower for good. */
static void test_fail_stop_on_divergence(void **state)
{
	(void)state;
	struct cluster *c = malloc(sizeof(*c));
	cluster_init(c, 100000);
	struct fake *l = elect(c);
	struct outcome o;
	assert_int_equal(set(l, "d", "1", &o), DRIVER_OK);
	settle(c);
	assert_int_equal(o.status, DRIVER_OK);
	struct fake *f = &c->f[0] == l ? &c->f[1] : &c->f[0];
	const struct raft *fr = driver_raft(f->d);
	raft_index committed = raft_commit_index(fr);
	assert_true(committed >= 1);
	struct raft_message m = {.type = RAFT_MSG_APPEND,
	                         .from = raft_self(driver_raft(l->d)),
	                         .to = raft_self(fr),
	                         .term = raft_term_current(fr),
	                         .index = committed,
	                         .log_term = raft_term_current(fr) + 7,
	                         .commit = committed};
	driver_step(f->d, &m);
	driver_drain(f->d);
	assert_true(f->failed);
	assert_true(driver_failed(f->d));
	assert_non_null(strstr(f->why, "contradicts a committed entry"));
	cluster_free(c);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_applies_everywhere),
	    cmocka_unit_test(test_read_index),
	    cmocka_unit_test(test_lost_to_leader_change),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_batches_in_flight_in_order),
	    cmocka_unit_test(test_snapshot_policy),
	    cmocka_unit_test(test_disk_stall_leader_steps_down),
	    cmocka_unit_test(test_fail_stop_on_persist_error),
	    cmocka_unit_test(test_fail_stop_on_divergence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
