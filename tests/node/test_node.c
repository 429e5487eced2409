/* test_node.c: three server nodes in one process on real TCP and real data directories:
 * election, writes, linearizable reads, snapshots by fork, restart from disk, and a
 * follower catching up by the leader's snapshot (after a term change, and while its own
 * snapshot is being written), and a node stopped while its snapshot child writes. */
#include "server/node.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define N 3

struct cluster;

/* What a node's log callback knows: which node speaks. */
struct node_log {
	struct cluster *c;
	int i;
};

struct cluster {
	uv_loop_t loop;
	struct node *nodes[N]; /* NULL while a node is stopped */
	struct node_config cfg[N];
	struct node_log logs[N];
	char dir[256];
	int stopped;
	/* While `freeze` is set, the next snapshot child that node freeze_node forks is
	 * frozen (SIGSTOP); zeroed, nothing is. */
	bool freeze;
	int freeze_node;
	pid_t frozen_pid;
	raft_index frozen_index;
};

/* The snapshot child frozen by a test, if any: the teardown kills it should the test
 * fail before it thawed it. */
static pid_t frozen_child;

/* Errors are printed, and everything with CONCORD_TEST_LOG set in the environment. A
 * storage refusal makes the node fail-stop: node.c logs "stopping: <why>" as an error
 * and calls _exit(), which ends this whole process. Say plainly which node and why, so
 * that the test's output names the cause (meson then reports the exit status). */
static void quiet_log(void *ctx, int level, const char *msg)
{
	struct node_log *l = ctx;
	int id = l != NULL ? l->i + 1 : 0;
	if (level >= 3 && strncmp(msg, "stopping:", 9) == 0) {
		fprintf(stderr, "FAIL: node n%d fail-stopped, the test process exits: %s\n", id,
		        msg);
		fflush(stderr);
		return;
	}
	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("CONCORD_TEST_LOG") != NULL;
	if (level >= 3 || verbose)
		fprintf(stderr, "node n%d: %s\n", id, msg);
	/* Freezing a snapshot child: the node logs its pid right after fork() and before
	 * its loop reads anything from the child's pipe, so a child with more to write than
	 * a pipe holds (64 KiB) cannot have finished yet. */
	struct cluster *c = l != NULL ? l->c : NULL;
	unsigned long long index;
	int pid;
	if (c != NULL && c->freeze && c->freeze_node == l->i &&
	    sscanf(msg, "snapshot at index %llu: child %d writing", &index, &pid) == 2) {
		assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);
		c->freeze = false;
		c->frozen_pid = (pid_t)pid;
		c->frozen_index = (raft_index)index;
		frozen_child = (pid_t)pid;
	}
}

/* A port the kernel just handed out as free on 127.0.0.1 (bound, then released). */
static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void cluster_config(struct cluster *c, const uint16_t *ports)
{
	for (int i = 0; i < N; i++) {
		struct node_config *cfg = &c->cfg[i];
		node_config_default(cfg);
		cfg->id = (raft_id)i + 1;
		snprintf(cfg->name, sizeof(cfg->name), "n%d", i + 1);
		snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/n%d", c->dir, i + 1);
		snprintf(cfg->listen_peer, sizeof(cfg->listen_peer), "127.0.0.1:%u", ports[i]);
		cfg->tick_ms = 10;
		/* Nodes 1 and 2 snapshot by entry count, node 3 by bytes of commands. */
		cfg->snapshot_entries = i < 2 ? 50 : 1000000;
		cfg->snapshot_bytes = i < 2 ? 0 : 2000;
		cfg->snapshot_trailing = 5;
		cfg->segment_bytes = 64 * 1024;
		cfg->log = quiet_log;
		c->logs[i] = (struct node_log){.c = c, .i = i};
		cfg->log_ctx = &c->logs[i];
		cfg->n_members = N;
		for (int j = 0; j < N; j++) {
			struct node_member *m = &cfg->members[j];
			memset(m, 0, sizeof(*m));
			m->id = (raft_id)j + 1;
			snprintf(m->name, sizeof(m->name), "n%d", j + 1);
			snprintf(m->peer, sizeof(m->peer), "127.0.0.1:%u", ports[j]);
		}
	}
}

static void on_stopped(void *arg);

/* Starts the nodes; false (with the started ones stopped) if one could not. */
static bool cluster_try_start(struct cluster *c, char *err, size_t len)
{
	for (int i = 0; i < N; i++) {
		if (node_start(&c->nodes[i], &c->loop, &c->cfg[i], err, len) == 0)
			continue;
		c->stopped = 0;
		for (int j = 0; j < i; j++)
			node_stop(c->nodes[j], on_stopped, c);
		while (c->stopped < i)
			uv_run(&c->loop, UV_RUN_ONCE);
		return false;
	}
	return true;
}

static void cluster_start(struct cluster *c)
{
	char err[512];
	if (!cluster_try_start(c, err, sizeof(err)))
		fail_msg("%s", err);
}

static void on_stopped(void *arg)
{
	((struct cluster *)arg)->stopped++;
}

static void cluster_stop(struct cluster *c)
{
	c->stopped = 0;
	int running = 0;
	for (int i = 0; i < N; i++) {
		if (c->nodes[i] == NULL)
			continue;
		node_stop(c->nodes[i], on_stopped, c);
		running++;
	}
	while (c->stopped < running)
		uv_run(&c->loop, UV_RUN_ONCE);
}

/* A fresh data directory and loop, and the nodes started on free ports (picked again if
 * another process takes one before the nodes bind). `tune`, if not NULL, adjusts each
 * node's configuration first. */
static void cluster_boot(struct cluster *c, void (*tune)(struct node_config *cfg, int i))
{
	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/concord-test-node-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	uv_loop_init(&c->loop);
	char err[512] = "";
	bool started = false;
	for (int attempt = 0; attempt < 5 && !started; attempt++) {
		uint16_t ports[N];
		for (int i = 0; i < N; i++)
			ports[i] = free_port();
		cluster_config(c, ports);
		for (int i = 0; tune != NULL && i < N; i++)
			tune(&c->cfg[i], i);
		started = cluster_try_start(c, err, sizeof(err));
	}
	if (!started)
		fail_msg("could not start the cluster: %s", err);
}

/* Stops every node, even one whose snapshot child is still writing (node_stop kills the
 * child and closes its pipe), and checks that nothing is left on the loop. */
static void cluster_destroy(struct cluster *c)
{
	cluster_stop(c);
	assert_int_equal(uv_loop_close(&c->loop), 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	assert_int_equal(system(cmd), 0);
}

/* Stops node i alone; its data directory stays. */
static void node_stop_one(struct cluster *c, int i)
{
	c->stopped = 0;
	node_stop(c->nodes[i], on_stopped, c);
	c->nodes[i] = NULL;
	while (c->stopped < 1)
		uv_run(&c->loop, UV_RUN_ONCE);
}

/* Starts node i again on its data directory and ports. Its port may have been taken
 * meanwhile by one of the other nodes' outgoing connections: retry for a while. */
static void node_restart_one(struct cluster *c, int i)
{
	char err[512] = "";
	for (int attempt = 0; attempt < 50; attempt++) {
		if (node_start(&c->nodes[i], &c->loop, &c->cfg[i], err, sizeof(err)) == 0)
			return;
		c->nodes[i] = NULL;
		uint64_t end = uv_now(&c->loop) + 100;
		while (uv_now(&c->loop) < end) {
			uv_run(&c->loop, UV_RUN_NOWAIT);
			usleep(5000);
			uv_update_time(&c->loop);
		}
	}
	fail_msg("could not restart n%d: %s", i + 1, err);
}

/* Runs the loop until `done` holds or `ms` pass. */
static bool run_until(struct cluster *c, bool (*done)(struct cluster *, void *), void *arg,
                      uint64_t ms)
{
	uint64_t end = uv_now(&c->loop) + ms;
	uv_timer_t t;
	uv_timer_init(&c->loop, &t);
	uv_timer_start(&t, (uv_timer_cb)(void (*)(void))uv_stop, 20, 20);
	bool ok = false;
	while (uv_now(&c->loop) < end) {
		if (done(c, arg)) {
			ok = true;
			break;
		}
		uv_run(&c->loop, UV_RUN_ONCE);
		uv_update_time(&c->loop);
	}
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&c->loop, UV_RUN_NOWAIT);
	return ok;
}

static int leader_of(struct cluster *c)
{
	for (int i = 0; i < N; i++) {
		if (c->nodes[i] == NULL)
			continue;
		struct node_status s;
		node_status(c->nodes[i], &s);
		if (s.role == RAFT_LEADER)
			return i;
	}
	return -1;
}

static bool has_leader(struct cluster *c, void *arg)
{
	(void)arg;
	return leader_of(c) >= 0;
}

struct op {
	int done;
	int status;
	struct kv_reply reply;
	char value[64];
	const char *key;
	const struct node *node;
};

static bool op_done(struct cluster *c, void *arg)
{
	(void)c;
	return ((struct op *)arg)->done;
}

static void write_cb(void *arg, int status, const struct kv_reply *r)
{
	struct op *op = arg;
	op->done = 1;
	op->status = status;
	if (r != NULL)
		op->reply = *r;
}

static void read_cb(void *arg, int status)
{
	struct op *op = arg;
	op->done = 1;
	op->status = status;
	struct kv_value v;
	if (status == NODE_OK && kv_get(node_kv(op->node), op->key, strlen(op->key), 0, &v) == 0)
		snprintf(op->value, sizeof(op->value), "%.*s", (int)v.value_len,
		         (const char *)v.value);
}

static int put(struct cluster *c, int i, const char *key, const char *value)
{
	struct op op = {0};
	struct kv_cmd cmd = {
	    .op = KV_OP_SET,
	    .put = {
	        .key = key, .key_len = strlen(key), .value = value, .value_len = strlen(value)}};
	int rv = node_write(c->nodes[i], &cmd, write_cb, &op);
	if (rv != 0)
		return rv;
	assert_true(run_until(c, op_done, &op, 5000));
	return op.status;
}

static int get(struct cluster *c, int i, const char *key, char *out, size_t len)
{
	struct op op = {.key = key, .node = c->nodes[i]};
	int rv = node_read(c->nodes[i], false, read_cb, &op);
	if (rv != 0)
		return rv;
	assert_true(run_until(c, op_done, &op, 5000));
	snprintf(out, len, "%s", op.value);
	return op.status;
}

static void test_cluster(void **state)
{
	(void)state;
	struct cluster c;
	cluster_boot(&c, NULL);
	assert_true(run_until(&c, has_leader, NULL, 10000));
	int l = leader_of(&c);
	int f = (l + 1) % N;
	assert_int_equal(put(&c, l, "greeting", "hello"), NODE_OK);
	char v[64];
	assert_int_equal(get(&c, l, "greeting", v, sizeof(v)), NODE_OK);
	assert_string_equal(v, "hello");
	/* A follower refuses writes and linearizable reads, naming the leader. */
	assert_int_equal(put(&c, f, "x", "y"), NODE_ENOTLEADER);
	assert_int_equal(get(&c, f, "greeting", v, sizeof(v)), NODE_ENOTLEADER);
	assert_non_null(node_leader(c.nodes[f]));
	assert_int_equal(node_leader(c.nodes[f])->id, (raft_id)l + 1);
	/* Reserved keys are refused. */
	struct kv_cmd bad = {
	    .op = KV_OP_SET,
	    .put = {.key = "\0concord/member/9", .key_len = 17, .value = "x", .value_len = 1}};
	assert_int_equal(node_write(c.nodes[l], &bad, write_cb, NULL), NODE_EINVAL);

	/* Enough writes for a snapshot by fork on every node. */
	for (int i = 0; i < 120; i++) {
		char key[32], val[32];
		snprintf(key, sizeof(key), "k%03d", i);
		snprintf(val, sizeof(val), "v%d", i);
		assert_int_equal(put(&c, l, key, val), NODE_OK);
	}
	struct node_metrics m;
	node_metrics(c.nodes[l], &m);
	assert_true(m.proposals_ok >= 121);
	/* Snapshots are written in the background; give them a moment. Every node takes
	 * them, each by its own threshold. */
	for (int i = 0; i < N; i++) {
		for (int tries = 0; tries < 200; tries++) {
			node_metrics(c.nodes[i], &m);
			if (m.snapshots > 0)
				break;
			uv_run(&c.loop, UV_RUN_NOWAIT);
			usleep(20000);
		}
		if (m.snapshots == 0)
			fail_msg("node %d took no snapshot", i + 1);
	}

	/* Every node stops and restarts from its data directory: nothing is lost. */
	cluster_stop(&c);
	cluster_start(&c);
	assert_true(run_until(&c, has_leader, NULL, 10000));
	l = leader_of(&c);
	assert_int_equal(get(&c, l, "greeting", v, sizeof(v)), NODE_OK);
	assert_string_equal(v, "hello");
	assert_int_equal(get(&c, l, "k119", v, sizeof(v)), NODE_OK);
	assert_string_equal(v, "v119");
	assert_int_equal(get(&c, l, "k000", v, sizeof(v)), NODE_OK);
	assert_string_equal(v, "v0");
	cluster_destroy(&c);
}

/* ---------------------------------------------------------------------------------
 * A follower catching up by the leader's snapshot
 */

/* Snapshots every 20 entries keeping 5 behind: a follower that misses a few dozen
 * writes can only catch up by the leader's snapshot (thesis 5.1, InstallSnapshot).
 * Elections after 300 ms rather than 100: these tests write to the leader they chose,
 * and a loop held up by a fork under a sanitizer must not cost it its leadership. */
static void tune_small_snapshots(struct node_config *cfg, int i)
{
	(void)i;
	cfg->election_ticks = 30;
	cfg->snapshot_entries = 20;
	cfg->snapshot_bytes = 0;
	cfg->snapshot_trailing = 5;
}

static struct node_status status_of(struct cluster *c, int i)
{
	struct node_status s;
	node_status(c->nodes[i], &s);
	return s;
}

struct wait_node {
	int node;
	int leader;
	raft_index index;
	raft_term term;
	uint64_t count;
};

static bool applied_upto(struct cluster *c, void *arg)
{
	struct wait_node *w = arg;
	return status_of(c, w->node).applied >= w->index;
}

static bool leads_above_term(struct cluster *c, void *arg)
{
	struct wait_node *w = arg;
	struct node_status s = status_of(c, w->node);
	return s.role == RAFT_LEADER && s.term > w->term;
}

static bool snapshot_past(struct cluster *c, void *arg)
{
	struct wait_node *w = arg;
	return status_of(c, w->node).snapshot_index > w->index;
}

/* The node follows the leader in its term and applied everything the leader has. */
static bool caught_up(struct cluster *c, void *arg)
{
	struct wait_node *w = arg;
	struct node_status s = status_of(c, w->node);
	struct node_status ls = status_of(c, w->leader);
	return s.term == ls.term && s.leader == ls.id && s.applied >= ls.last_index &&
	       ls.applied >= ls.last_index;
}

static bool made_batches(struct cluster *c, void *arg)
{
	struct wait_node *w = arg;
	struct node_metrics m;
	node_metrics(c->nodes[w->node], &m);
	return m.ready_batches >= w->count;
}

static bool took_snapshots(struct cluster *c, void *arg)
{
	struct wait_node *w = arg;
	struct node_metrics m;
	node_metrics(c->nodes[w->node], &m);
	return m.snapshots > w->count;
}

/* The node reaped the child: it no longer exists, not even as a zombie. */
static bool child_reaped(struct cluster *c, void *arg)
{
	(void)c;
	pid_t pid = *(pid_t *)arg;
	return kill(pid, 0) == -1 && errno == ESRCH;
}

static void put_many(struct cluster *c, int i, const char *prefix, int count, const char *value)
{
	for (int k = 0; k < count; k++) {
		char key[32];
		snprintf(key, sizeof(key), "%s%03d", prefix, k);
		assert_int_equal(put(c, i, key, value), NODE_OK);
	}
}

/* The value of `key` in node i's state machine, as it applied it ("" if absent). */
static void applied_value(struct cluster *c, int i, const char *key, char *out, size_t len)
{
	struct kv_value v;
	out[0] = '\0';
	if (kv_get(node_kv(c->nodes[i]), key, strlen(key), 0, &v) == 0)
		snprintf(out, len, "%.*s", (int)v.value_len, (const char *)v.value);
}

/* A follower down while the leadership moved restarts with a durable term below the
 * leader's, and the leader, having compacted past its log, sends it a snapshot taken in
 * the new term. The ready batch that carries the snapshot also carries the new term, and
 * the storage refuses a snapshot whose term is above the durable one: the hard state must
 * reach the storage first. Before that fix the follower fail-stopped ("snapshot: term 2
 * above the durable term 1") as soon as it restarted.
 *
 * Why the new term and the snapshot share a batch here: the new leader's messages to
 * the stopped follower wait in its send queue (its vote request, a probe, heartbeats,
 * then the snapshot once it compacted; a handful, far fewer than the transport's 128
 * frames per write), and when the link is back they leave in one write, which the
 * follower reads and steps in one loop iteration, hence one ready batch. The test makes
 * sure the snapshot is queued before the follower restarts (otherwise the leader sends
 * it only once the follower answered a heartbeat, after its new term was durable), and
 * that the follower does not learn the new term first from the old leader, whose link
 * also queued messages for it: the restarted follower ignores the old leader until it
 * has caught up. */
static void test_restart_behind_a_newer_term(void **state)
{
	(void)state;
	struct cluster c;
	cluster_boot(&c, tune_small_snapshots);
	assert_true(run_until(&c, has_leader, NULL, 10000));
	int a = leader_of(&c);
	int b = (a + 1) % N;
	int f = (a + 2) % N;
	put_many(&c, a, "a", 10, "before");
	struct wait_node w = {.node = f, .index = status_of(&c, a).last_index};
	assert_true(run_until(&c, applied_upto, &w, 5000));
	struct node_status away = status_of(&c, f);
	node_stop_one(&c, f);

	/* The leadership moves to b: a new term, which f never hears of. */
	assert_int_equal(node_transfer(c.nodes[a], (raft_id)b + 1), NODE_OK);
	w = (struct wait_node){.node = b, .term = away.term};
	assert_true(run_until(&c, leads_above_term, &w, 5000));
	/* Enough writes that b's log begins after f's last entry: every entry after it
	 * belongs to the new term, and so does b's snapshot. */
	put_many(&c, b, "b", 100, "after");
	w = (struct wait_node){.node = b, .index = away.last_index + 5 + 20};
	assert_true(run_until(&c, snapshot_past, &w, 5000));
	/* b resends an unanswered probe after 7 idle ticks, and since its log no longer
	 * reaches f's, the resend is the snapshot, which joins the rest in the send queue.
	 * Let that happen: idle, a leader makes one ready batch per heartbeat (every 2
	 * ticks) and next to none otherwise, so 30 more batches take far more than 7 ticks. */
	struct node_metrics m;
	node_metrics(c.nodes[b], &m);
	w = (struct wait_node){.node = b, .count = m.ready_batches + 30};
	assert_true(run_until(&c, made_batches, &w, 5000));

	node_restart_one(&c, f);
	/* Before the loop runs again, so before f reads anything. */
	struct net_fault deaf = {.block_inbound = true};
	assert_int_equal(node_fault_set(c.nodes[f], (raft_id)a + 1, &deaf), NODE_OK);
	w = (struct wait_node){.node = f, .leader = b};
	if (!run_until(&c, caught_up, &w, 10000)) {
		struct node_status s = status_of(&c, f), ls = status_of(&c, b);
		fail_msg("n%d did not catch up: term %" PRIu64 " applied %" PRIu64
		         ", the leader's term %" PRIu64 " last index %" PRIu64,
		         f + 1, s.term, s.applied, ls.term, ls.last_index);
	}
	/* It caught up by the leader's snapshot (its log stopped before the leader's
	 * began), and its state machine holds the writes it missed. */
	assert_true(status_of(&c, f).snapshot_index > away.last_index);
	char v[64];
	applied_value(&c, f, "b099", v, sizeof(v));
	assert_string_equal(v, "after");
	applied_value(&c, f, "a000", v, sizeof(v));
	assert_string_equal(v, "before");
	node_fault_clear(c.nodes[f], RAFT_NONE);
	cluster_destroy(&c);
}

/* A follower forks a child to write its own snapshot at index X; before the child is
 * done, the follower installs the leader's snapshot at Y > X. The storage refuses a
 * snapshot that is not after the one it holds, so the finished child's snapshot must be
 * dropped. Before that fix the follower fail-stopped ("snapshot: index X term T is not
 * after the current snapshot (Y)").
 *
 * In a real cluster this is a race between the child's write (copy-on-write by fork,
 * thesis 5.1) and the leader's transfer.
 * Here it is forced: the test freezes the follower's snapshot child (SIGSTOP) as soon as
 * the node logs its pid, right after fork() and before the node's loop reads anything
 * from its pipe; the state is larger than a pipe holds, so the child cannot have finished
 * by then. The follower is then cut off while the leader moves on and compacts past it,
 * reconnected so that it installs the leader's snapshot, and only then is the child
 * thawed. The test relies on the wording of that log line ("snapshot at index X: child P
 * writing"): if it changes, the test fails saying it saw no child, it does not pass
 * silently. It does not cover the narrower race where the child's snapshot is already
 * queued at the storage when the leader's is installed (snapshot_stored must then not
 * move the node's last snapshot back), whose timing is the storage thread's. */
static void test_own_snapshot_finishing_after_the_leaders(void **state)
{
	(void)state;
	struct cluster c;
	cluster_boot(&c, tune_small_snapshots);
	assert_true(run_until(&c, has_leader, NULL, 10000));
	int a = leader_of(&c);
	int f = (a + 1) % N;
	/* 60 values of 4 KiB: a snapshot of about 240 KiB, far more than a pipe holds. */
	static char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	put_many(&c, a, "s", 60, big);

	/* Writes until f forks its next snapshot child, which the log callback freezes. */
	c.freeze = true;
	c.freeze_node = f;
	for (int k = 0; k < 100 && c.frozen_pid == 0; k++) {
		char key[32];
		snprintf(key, sizeof(key), "t%03d", k);
		assert_int_equal(put(&c, a, key, big), NODE_OK);
	}
	if (c.frozen_pid == 0)
		fail_msg("n%d forked no snapshot child in 100 writes", f + 1);
	struct node_metrics m;
	node_metrics(c.nodes[f], &m);
	uint64_t snapshots = m.snapshots;

	/* f is cut off while the leader writes on and compacts past f's log. */
	struct net_fault cut = {.block_outbound = true, .block_inbound = true};
	assert_int_equal(node_fault_set(c.nodes[f], RAFT_NONE, &cut), NODE_OK);
	struct node_status away = status_of(&c, f);
	put_many(&c, a, "u", 50, big);
	struct wait_node w = {.node = a, .index = away.last_index + 5 + 20};
	assert_true(run_until(&c, snapshot_past, &w, 5000));
	raft_index leader_snapshot = status_of(&c, a).snapshot_index;

	/* Reconnected, f installs the leader's snapshot (its own cannot move its
	 * snapshot index: the one child it may run is frozen). */
	node_fault_clear(c.nodes[f], RAFT_NONE);
	w = (struct wait_node){.node = f, .index = leader_snapshot - 1};
	assert_true(run_until(&c, snapshot_past, &w, 10000));
	assert_true(status_of(&c, f).snapshot_index > c.frozen_index);
	node_metrics(c.nodes[f], &m);
	assert_int_equal(m.snapshots, snapshots);

	/* The child finishes its older snapshot; the node reaps it and must not hand that
	 * snapshot to the storage. */
	assert_int_equal(kill(c.frozen_pid, SIGCONT), 0);
	assert_true(run_until(&c, child_reaped, &c.frozen_pid, 10000));
	frozen_child = 0;
	/* f goes on: it applies new writes and takes its own snapshots again. */
	put_many(&c, a, "v", 30, "later");
	w = (struct wait_node){.node = f, .count = snapshots};
	assert_true(run_until(&c, took_snapshots, &w, 10000));
	assert_true(status_of(&c, f).snapshot_index > leader_snapshot);
	w = (struct wait_node){.node = f, .leader = a};
	assert_true(run_until(&c, caught_up, &w, 5000));
	char v[64];
	applied_value(&c, f, "v029", v, sizeof(v));
	assert_string_equal(v, "later");
	cluster_destroy(&c);
}

/* ---------------------------------------------------------------------------------
 * A node stopped while its snapshot child writes
 */

static bool stopped_one(struct cluster *c, void *arg)
{
	(void)arg;
	return c->stopped >= 1;
}

static void count_pipes(uv_handle_t *h, void *arg)
{
	if (h->type == UV_NAMED_PIPE)
		(*(int *)arg)++;
}

/* No snapshot child's pipe is open: those are the only pipes on the loop, and a node
 * closes one once its child is done, or when the node stops. */
static bool no_snapshot_pipe(struct cluster *c, void *arg)
{
	(void)arg;
	int pipes = 0;
	uv_walk(&c->loop, count_pipes, &pipes);
	return pipes == 0;
}

/* The state letter of a process in /proc/<pid>/stat ('T' stopped, 'Z' zombie), '?' if
 * there is no such process. */
static char proc_state(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return '?';
	size_t len = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[len] = '\0';
	/* "pid (comm) S ...": the command may hold parentheses, the state follows the last. */
	const char *p = strrchr(line, ')');
	return p != NULL && p[1] == ' ' && p[2] != '\0' ? p[2] : '?';
}

/* Whether descriptor `fd` of process `proc` ("self" or a pid) was opened with access
 * mode `mode` (O_RDONLY, O_WRONLY). */
static bool fd_mode_is(const char *proc, const char *fd, unsigned mode)
{
	char path[320], line[128];
	snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", proc, fd);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	unsigned flags = 0;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "flags: %o", &flags) == 1;
	fclose(f);
	return found && (flags & O_ACCMODE) == mode;
}

#define PIPE_ENDS_MAX 64

/* The pipe ends a process holds in one access mode: descriptor and link ("pipe:[inode]"). */
struct pipe_ends {
	int n;
	char fd[PIPE_ENDS_MAX][256];
	char link[PIPE_ENDS_MAX][64];
};

static void pipe_ends(const char *proc, unsigned mode, struct pipe_ends *e)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%s/fd", proc);
	e->n = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char path[320], link[64];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ssize_t len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strncmp(link, "pipe:", 5) != 0 || !fd_mode_is(proc, de->d_name, mode))
			continue;
		assert_true(e->n < PIPE_ENDS_MAX);
		snprintf(e->fd[e->n], sizeof(e->fd[e->n]), "%s", de->d_name);
		snprintf(e->link[e->n], sizeof(e->link[e->n]), "%s", link);
		e->n++;
	}
	closedir(d);
}

static bool pipe_ends_have(const struct pipe_ends *e, const char *link)
{
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->link[i], link) == 0)
			return true;
	return false;
}

/* Opens a second write end of the pipe that snapshot child `pid` writes into, through
 * /proc. That pipe is the one the child holds for writing and this process for reading
 * only: the node closed its write end right after fork(). (The child holds other pipes'
 * write ends: those it inherited, which this process holds too, and libuv's, which it
 * makes anew in a forked child.) */
static int hold_snapshot_pipe(pid_t pid)
{
	static struct pipe_ends child, self_read, self_write;
	char proc[16];
	snprintf(proc, sizeof(proc), "%d", (int)pid);
	pipe_ends(proc, O_WRONLY, &child);
	pipe_ends("self", O_RDONLY, &self_read);
	pipe_ends("self", O_WRONLY, &self_write);
	int found = -1;
	for (int i = 0; i < child.n; i++) {
		if (!pipe_ends_have(&self_read, child.link[i]) ||
		    pipe_ends_have(&self_write, child.link[i]))
			continue;
		if (found >= 0)
			fail_msg("child %d writes to two pipes to this process (%s, %s)", (int)pid,
			         child.link[found], child.link[i]);
		found = i;
	}
	if (found < 0)
		fail_msg("child %d holds no pipe to this process", (int)pid);
	char path[320];
	snprintf(path, sizeof(path), "/proc/%s/fd/%s", proc, child.fd[found]);
	/* The node's read end is open, so this does not wait for a reader. */
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static bool child_stopped(struct cluster *c, void *arg)
{
	(void)c;
	return proc_state(*(pid_t *)arg) == 'T';
}

/* node_stop() on a node whose snapshot child is still writing. The node kills the child;
 * the pipe it reads the child from is part of the node, so the node must close that pipe
 * and reap the child before it frees itself and calls back. Before that fix the node was
 * freed with the pipe still on the loop: the loop then handed the killed child's end of
 * file to the freed node (ASan: heap-use-after-free), nobody reaped the child (a zombie
 * until the process exits), and uv_loop_close() returned UV_EBUSY. Here that node fails
 * "snapshot child P of the stopped nX not reaped", in every build.
 *
 * The child is frozen as in the previous test, as soon as the node logs its pid, and the
 * state is larger than a pipe holds: the snapshot is certainly in progress, its pipe open,
 * when the node stops. The other two nodes go on serving, and the stopped node restarts
 * from its data directory (the killed snapshot left nothing there) and catches up. */
static void test_stop_during_snapshot(void **state)
{
	(void)state;
	struct cluster c;
	cluster_boot(&c, tune_small_snapshots);
	assert_true(run_until(&c, has_leader, NULL, 10000));
	int a = leader_of(&c);
	int f = (a + 1) % N;
	/* 30 values of 4 KiB: a snapshot of about 120 KiB, more than a pipe holds. */
	static char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	put_many(&c, a, "s", 30, big);

	/* Writes until f forks its next snapshot child, which the log callback freezes. */
	c.freeze = true;
	c.freeze_node = f;
	for (int k = 0; k < 100 && c.frozen_pid == 0; k++) {
		char key[32];
		snprintf(key, sizeof(key), "t%03d", k);
		assert_int_equal(put(&c, a, key, big), NODE_OK);
	}
	if (c.frozen_pid == 0)
		fail_msg("n%d forked no snapshot child in 100 writes", f + 1);
	pid_t child = c.frozen_pid;
	/* Still writing: stopped (SIGSTOP takes effect once the child is scheduled), not
	 * exited, and its pipe is on the loop. */
	if (!run_until(&c, child_stopped, &child, 5000))
		fail_msg("snapshot child %d not stopped (state %c)", (int)child, proc_state(child));
	assert_false(no_snapshot_pipe(&c, NULL));
	/* The test holds a second write end of the child's pipe, so that the pipe gives no
	 * end of file even once the child is dead: the node must not count on reading one
	 * before it frees itself. (Without this, a node that left its pipe to the end of
	 * file got away with it whenever the killed child died fast enough.) */
	int held = hold_snapshot_pipe(child);

	/* f stops; the callback comes once the node is freed. */
	c.stopped = 0;
	node_stop(c.nodes[f], on_stopped, &c);
	c.nodes[f] = NULL;
	bool called_back = run_until(&c, stopped_one, NULL, 10000);
	/* It killed and reaped the child before that: no such process, not even a zombie. */
	int rv = kill(child, 0);
	int err = errno;
	char child_state = proc_state(child);
	close(held);
	if (!called_back)
		fail_msg("n%d did not call back within 10 s of node_stop", f + 1);
	if (rv == 0)
		fail_msg("snapshot child %d of the stopped n%d not reaped (state %c)", (int)child,
		         f + 1, child_state);
	assert_int_equal(err, ESRCH);
	frozen_child = 0;
	/* Its pipe is gone from the loop (the other nodes' children, if any, finish). */
	assert_true(run_until(&c, no_snapshot_pipe, NULL, 10000));

	/* The other two nodes go on; f restarts from its data directory and catches up. */
	put_many(&c, a, "u", 30, "after");
	node_restart_one(&c, f);
	struct wait_node w = {.node = f, .leader = a};
	assert_true(run_until(&c, caught_up, &w, 10000));
	char v[64];
	applied_value(&c, f, "u029", v, sizeof(v));
	assert_string_equal(v, "after");
	/* Every node stopped, nothing left on the loop: uv_loop_close() returns 0. */
	cluster_destroy(&c);
}

/* A test that failed with a snapshot child frozen leaves no stopped process behind. */
static int kill_frozen_child(void **state)
{
	(void)state;
	if (frozen_child > 0)
		kill(frozen_child, SIGKILL);
	frozen_child = 0;
	return 0;
}

/* A node whose peer port is taken says so and leaves nothing behind (ASan checks). */
static void test_start_fails_cleanly_on_taken_port(void **state)
{
	(void)state;
	struct cluster c;
	memset(&c, 0, sizeof(c));
	snprintf(c.dir, sizeof(c.dir), "/tmp/concord-test-node-XXXXXX");
	assert_non_null(mkdtemp(c.dir));
	uv_loop_init(&c.loop);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	uint16_t ports[N] = {ntohs(a.sin_port), free_port(), free_port()};
	cluster_config(&c, ports);
	struct node *nd = NULL;
	char err[512];
	assert_int_not_equal(node_start(&nd, &c.loop, &c.cfg[0], err, sizeof(err)), 0);
	assert_null(nd);
	assert_non_null(strstr(err, "peer transport"));
	uv_run(&c.loop, UV_RUN_DEFAULT); /* the transport's close frees the node */
	assert_int_equal(uv_loop_close(&c.loop), 0);
	close(fd);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c.dir);
	assert_int_equal(system(cmd), 0);
}

/* An argument selects the tests by name ("*" and "?" match as in a shell). */
int main(int argc, char **argv)
{
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_fails_cleanly_on_taken_port),
	    cmocka_unit_test(test_cluster),
	    cmocka_unit_test(test_restart_behind_a_newer_term),
	    cmocka_unit_test_teardown(test_own_snapshot_finishing_after_the_leaders,
	                              kill_frozen_child),
	    cmocka_unit_test_teardown(test_stop_during_snapshot, kill_frozen_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
