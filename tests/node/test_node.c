/* test_node.c: three server nodes in one process on real TCP and real data directories:
 * election, writes, linearizable reads, snapshots by fork, restart from disk. */
#include "server/node.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define N 3

struct cluster {
	uv_loop_t loop;
	struct node *nodes[N];
	struct node_config cfg[N];
	char dir[256];
	int stopped;
};

static void quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level >= 3)
		fprintf(stderr, "node: %s\n", msg);
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
	for (int i = 0; i < N; i++)
		node_stop(c->nodes[i], on_stopped, c);
	while (c->stopped < N)
		uv_run(&c->loop, UV_RUN_ONCE);
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
		snprintf(op->value, sizeof(op->value), "%.*s", (int)v.value_len, (const char *)v.value);
}

static int put(struct cluster *c, int i, const char *key, const char *value)
{
	struct op op = {0};
	struct kv_cmd cmd = {.op = KV_OP_SET,
			     .put = {.key = key, .key_len = strlen(key), .value = value,
				     .value_len = strlen(value)}};
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
	memset(&c, 0, sizeof(c));
	snprintf(c.dir, sizeof(c.dir), "/tmp/concord-test-node-XXXXXX");
	assert_non_null(mkdtemp(c.dir));
	uv_loop_init(&c.loop);
	/* Free ports, picked again if another process takes one before the nodes bind. */
	char err[512] = "";
	bool started = false;
	for (int attempt = 0; attempt < 5 && !started; attempt++) {
		uint16_t ports[N];
		for (int i = 0; i < N; i++)
			ports[i] = free_port();
		cluster_config(&c, ports);
		started = cluster_try_start(&c, err, sizeof(err));
	}
	if (!started)
		fail_msg("could not start the cluster: %s", err);

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
	struct kv_cmd bad = {.op = KV_OP_SET,
			     .put = {.key = "\0concord/member/9", .key_len = 17, .value = "x",
				     .value_len = 1}};
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
	cluster_stop(&c);
	uv_loop_close(&c.loop);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c.dir);
	assert_int_equal(system(cmd), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_fails_cleanly_on_taken_port),
	    cmocka_unit_test(test_cluster),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
