/* test_hiredis.c: hiredis pipelines (redisAppendCommand, then the replies) against one node's RESP
 * frontend in-process: every read sees the writes sent before it. */
#include "server/resp_server.h"
#include "server/server.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* The client thread's outcome: the loop thread serves while it runs. */
struct client {
	int port;
	int rounds;
	char error[512]; /* "" when every reply was right */
	atomic_int finished;
};

static void quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level >= 3 || getenv("CONCORD_TEST_LOG") != NULL)
		fprintf(stderr, "node: %s\n", msg);
}

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

/* Whether reply `r` is what `want` says: "+OK", ":5", "$v" (bulk v) or "$" (null). */
static bool reply_is(const redisReply *r, const char *want)
{
	switch (want[0]) {
	case '+':
		return r->type == REDIS_REPLY_STATUS && strcmp(r->str, want + 1) == 0;
	case ':':
		return r->type == REDIS_REPLY_INTEGER && r->integer == strtoll(want + 1, NULL, 10);
	default:
		if (want[1] == '\0')
			return r->type == REDIS_REPLY_NIL;
		return r->type == REDIS_REPLY_STRING && strcmp(r->str, want + 1) == 0;
	}
}

/* One round: eight commands appended, then their eight replies checked. */
static bool round_ok(redisContext *ctx, int i, char *err, size_t len)
{
	char v[16], n[24];
	snprintf(v, sizeof(v), "v%d", i);
	snprintf(n, sizeof(n), "%d", i + 1);
	redisAppendCommand(ctx, "SET hk %s", v);
	redisAppendCommand(ctx, "GET hk");
	redisAppendCommand(ctx, "DEL hk");
	redisAppendCommand(ctx, "EXISTS hk");
	redisAppendCommand(ctx, "INCR hn");
	redisAppendCommand(ctx, "GET hn");
	redisAppendCommand(ctx, "SET hk %s", v);
	redisAppendCommand(ctx, "EXISTS hk");
	char want[8][32] = {"+OK", "", ":1", ":0", "", "", "+OK", ":1"};
	snprintf(want[1], sizeof(want[1]), "$%s", v);
	snprintf(want[4], sizeof(want[4]), ":%d", i + 1);
	snprintf(want[5], sizeof(want[5]), "$%s", n);
	for (int k = 0; k < 8; k++) {
		redisReply *r = NULL;
		if (redisGetReply(ctx, (void **)&r) != REDIS_OK || r == NULL) {
			snprintf(err, len, "round %d reply %d: %s", i, k, ctx->errstr);
			return false;
		}
		bool ok = reply_is(r, want[k]);
		if (!ok)
			snprintf(err, len, "round %d reply %d: type %d '%s' %lld, want %s", i, k,
			         r->type, r->str != NULL ? r->str : "", r->integer, want[k]);
		freeReplyObject(r);
		if (!ok)
			return false;
	}
	return true;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct timeval tv = {.tv_sec = 20};
	redisContext *ctx = redisConnectWithTimeout("127.0.0.1", cl->port, tv);
	if (ctx == NULL || ctx->err != 0) {
		snprintf(cl->error, sizeof(cl->error), "connect: %s", ctx ? ctx->errstr : "?");
	} else {
		redisSetTimeout(ctx, tv);
		for (int i = 0; i < cl->rounds; i++)
			if (!round_ok(ctx, i, cl->error, sizeof(cl->error)))
				break;
	}
	if (ctx != NULL)
		redisFree(ctx);
	cl->finished = 1;
	return NULL;
}

static int stopped;

static void on_stopped(void *arg)
{
	(void)arg;
	stopped++;
}

static void test_hiredis_pipeline(void **state)
{
	(void)state;
	char dir[] = "/tmp/concord-test-hiredis-XXXXXX";
	assert_non_null(mkdtemp(dir));
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct node_config cfg;
	node_config_default(&cfg);
	uint16_t port = free_port();
	cfg.id = 1;
	snprintf(cfg.name, sizeof(cfg.name), "n1");
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/n1", dir);
	snprintf(cfg.listen_peer, sizeof(cfg.listen_peer), "127.0.0.1:%u", port);
	cfg.tick_ms = 10;
	cfg.log = quiet_log;
	cfg.n_members = 1;
	memset(&cfg.members[0], 0, sizeof(cfg.members[0]));
	cfg.members[0].id = 1;
	snprintf(cfg.members[0].peer, sizeof(cfg.members[0].peer), "127.0.0.1:%u", port);
	char err[512];
	struct node *node = NULL;
	if (node_start(&node, &loop, &cfg, err, sizeof(err)) != 0)
		fail_msg("node: %s", err);
	struct server sv;
	server_init(&sv);
	sv.loop = &loop;
	sv.node = node;
	sv.limits = cfg.kv.limits;
	sv.log_level = 3;
	assert_int_equal(resp_server_start(&sv.resp, &sv, "127.0.0.1:0", err, sizeof(err)), 0);
	uv_timer_t tick; /* wakes the loop: for the election, then to look at cl.finished */
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, (uv_timer_cb)(void (*)(void))uv_stop, 5, 5);
	struct node_status st;
	for (int i = 0; i < 2000; i++) {
		node_status(node, &st);
		if (st.role == RAFT_LEADER)
			break;
		uv_run(&loop, UV_RUN_ONCE);
	}
	assert_int_equal(st.role, RAFT_LEADER);
	struct client cl = {.port = resp_server_port(sv.resp), .rounds = 200};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, client_main, &cl), 0);
	for (int i = 0; i < 20000 && !cl.finished; i++)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	assert_true(cl.finished);
	pthread_join(th, NULL);
	stopped = 0;
	resp_server_close(sv.resp, on_stopped, NULL);
	node_stop(node, on_stopped, NULL);
	while (stopped < 2)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(uv_loop_close(&loop), 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	if (cl.error[0] != '\0')
		fail_msg("%s", cl.error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hiredis_pipeline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
