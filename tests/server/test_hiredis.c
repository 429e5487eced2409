/* test_hiredis.c: hiredis pipelines (redisAppendCommand, then the replies) against one node's RESP
 * frontend in-process: every read sees the writes sent before it. */
#include "harness.h"

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The client thread's outcome: the loop thread serves while it runs. */
struct client {
	int port;
	int rounds;
	char error[512]; /* "" when every reply was right */
	atomic_int finished;
};

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

/* Nothing to do: the timer only makes each UV_RUN_ONCE return within 5 ms. */
static void wake(uv_timer_t *t)
{
	(void)t;
}

static void test_hiredis_pipeline(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-hiredis", NULL);
	uv_timer_t tick; /* wakes the loop to look at cl.finished */
	uv_timer_init(&f.loop, &tick);
	uv_timer_start(&tick, wake, 5, 5);
	struct client cl = {.port = resp_server_port(f.sv.resp), .rounds = 200};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, client_main, &cl), 0);
	for (int i = 0; i < 20000 && !cl.finished; i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	assert_true(cl.finished);
	pthread_join(th, NULL);
	h_stop(&f);
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
