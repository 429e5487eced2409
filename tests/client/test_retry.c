/* test_retry.c: leader discovery and retries: MOVED, dead nodes, CLUSTERDOWN, hangs, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>

#include "concord/client.h"
#include "fake_server.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct concord_client *client_for(const char *endpoints, uint32_t deadline_ms,
                                         uint32_t attempt_ms, uint32_t retries)
{
	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.deadline_ms = deadline_ms;
	o.attempt_timeout_ms = attempt_ms;
	o.connect_timeout_ms = 200;
	o.retries_max = retries;
	o.backoff_min_ms = 5;
	o.backoff_max_ms = 40;
	struct concord_client *c = NULL;
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	int rc = concord_client_new(endpoints, &o, &c, err);
	if (rc != 0) {
		fail_msg("concord_client_new(%s): %s", endpoints, err);
	}
	return c;
}

/* A follower in "moved" mode: every command is sent to `to`. */
struct mover {
	char to[64];
};

static enum fake_action mover_handle(void *arg, const struct resp_cmd *cmd, struct wire_buf *out)
{
	struct mover *m = arg;
	(void)cmd;
	resp_write_errorf(out, "MOVED 866 %s", m->to);
	return FAKE_REPLY;
}

static void test_moved_is_followed(void **state)
{
	(void)state;
	struct fake_kv kv;
	fake_kv_init(&kv);
	struct fake_server *leader = fake_server_start(fake_kv_handle, &kv);
	struct mover m;
	snprintf(m.to, sizeof(m.to), "%s", fake_server_addr(leader));
	struct fake_server *follower = fake_server_start(mover_handle, &m);

	/* Only the follower is listed: the leader is learnt from the redirection. */
	struct concord_client *c = client_for(fake_server_addr(follower), 5000, 1000, 20);
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), 0);
	assert_string_equal(concord_client_endpoint(c), fake_server_addr(leader));
	uint64_t redirected = fake_server_commands(follower);
	assert_true(redirected >= 1);
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(c, "k", 1, &v, &vl, &found), 0);
	assert_true(found);
	assert_string_equal(v, "v");
	free(v);
	/* Later calls go straight to the leader. */
	assert_int_equal(fake_server_commands(follower), redirected);
	concord_client_free(c);
	fake_server_stop(follower);
	fake_server_stop(leader);
	fake_kv_free(&kv);
}

/* Two nodes that send the client to each other forever: bounded by the retries. */
static void test_moved_loop_is_bounded(void **state)
{
	(void)state;
	struct mover ma, mb;
	struct fake_server *a = fake_server_start(mover_handle, &ma);
	struct fake_server *b = fake_server_start(mover_handle, &mb);
	fake_server_lock(a);
	snprintf(ma.to, sizeof(ma.to), "%s", fake_server_addr(b));
	fake_server_unlock(a);
	fake_server_lock(b);
	snprintf(mb.to, sizeof(mb.to), "%s", fake_server_addr(a));
	fake_server_unlock(b);
	struct concord_client *c = client_for(fake_server_addr(a), 5000, 1000, 10);
	int64_t t0 = now_ms();
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), CONCORD_EUNAVAILABLE);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(concord_client_errmsg(c), "MOVED"));
	assert_true(fake_server_commands(a) + fake_server_commands(b) <= 10);
	concord_client_free(c);
	fake_server_stop(a);
	fake_server_stop(b);
}

static void test_dead_endpoint_is_skipped(void **state)
{
	(void)state;
	struct fake_kv kv;
	fake_kv_init(&kv);
	struct fake_server *s = fake_server_start(fake_kv_handle, &kv);
	char eps[128];
	snprintf(eps, sizeof(eps), "127.0.0.1:%u,%s,127.0.0.1:%u", (unsigned)fake_unused_port(),
	         fake_server_addr(s), (unsigned)fake_unused_port());
	/* The handle starts at a random endpoint: do it a few times. */
	for (int i = 0; i < 8; i++) {
		struct concord_client *c = client_for(eps, 5000, 1000, 20);
		assert_int_equal(concord_client_put(c, "k", 1, "v", 1), 0);
		assert_string_equal(concord_client_endpoint(c), fake_server_addr(s));
		concord_client_free(c);
	}
	fake_server_stop(s);
	fake_kv_free(&kv);
}

static void test_all_dead_respects_deadline(void **state)
{
	(void)state;
	char eps[128];
	snprintf(eps, sizeof(eps), "127.0.0.1:%u,127.0.0.1:%u", (unsigned)fake_unused_port(),
	         (unsigned)fake_unused_port());
	struct concord_client *c = client_for(eps, 300, 100, 1000);
	int64_t t0 = now_ms();
	char *v = NULL;
	size_t vl = 0;
	bool found = true;
	assert_int_equal(concord_client_get(c, "k", 1, &v, &vl, &found), CONCORD_EUNAVAILABLE);
	int64_t spent = now_ms() - t0;
	assert_true(spent >= 250);
	assert_true(spent < 1500);
	assert_non_null(strstr(concord_client_errmsg(c), "connect"));
	assert_false(found);
	/* Bounded by the number of attempts as well. */
	concord_client_free(c);
	c = client_for(eps, 60000, 100, 3);
	t0 = now_ms();
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), CONCORD_EUNAVAILABLE);
	assert_true(now_ms() - t0 < 1500);
	assert_non_null(strstr(concord_client_errmsg(c), "3 attempts"));
	concord_client_free(c);
}

/* -CLUSTERDOWN for the first `downs` commands, then a working store. */
struct flaky {
	struct fake_kv kv;
	int downs;
	int seen;
};

static enum fake_action flaky_handle(void *arg, const struct resp_cmd *cmd, struct wire_buf *out)
{
	struct flaky *f = arg;
	if (f->seen++ < f->downs) {
		resp_write_error(out, "CLUSTERDOWN no leader is known (term 7); retry", 46);
		return FAKE_REPLY;
	}
	return fake_kv_handle(&f->kv, cmd, out);
}

static void test_clusterdown_is_retried(void **state)
{
	(void)state;
	struct flaky f = {.downs = 4};
	fake_kv_init(&f.kv);
	struct fake_server *s = fake_server_start(flaky_handle, &f);
	struct concord_client *c = client_for(fake_server_addr(s), 5000, 1000, 20);
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), 0);
	fake_server_lock(s);
	assert_int_equal(f.seen, 6); /* 4 refusals, the session, the write */
	assert_int_equal(f.kv.writes_applied, 1);
	fake_server_unlock(s);
	concord_client_free(c);

	/* Forever down: the deadline ends it, and the message says why. */
	fake_server_lock(s);
	f.seen = 0;
	f.downs = 1 << 30;
	fake_server_unlock(s);
	/* Room enough that a loaded machine (CI runs two builds' tests at once) still gets
	 * the refusals, not timeouts, within each attempt. */
	c = client_for(fake_server_addr(s), 1500, 500, 1000);
	int64_t t0 = now_ms();
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), CONCORD_EUNAVAILABLE);
	assert_true(now_ms() - t0 < 4000);
	assert_non_null(strstr(concord_client_errmsg(c), "CLUSTERDOWN"));
	concord_client_free(c);
	fake_server_stop(s);
	fake_kv_free(&f.kv);
}

/* The fake server's command count once it stopped changing (bounded wait). */
static uint64_t settled_commands(struct fake_server *s)
{
	uint64_t n = fake_server_commands(s);
	for (int i = 0; i < 40; i++) {
		usleep(25000);
		uint64_t m = fake_server_commands(s);
		if (m == n)
			return n;
		n = m;
	}
	return n;
}

/* Answers sessions, then never answers anything else. */
static enum fake_action hang_handle(void *arg, const struct resp_cmd *cmd, struct wire_buf *out)
{
	(void)arg;
	if (fake_arg_is(cmd, 0, "CONCORD.SESSION")) {
		resp_write_integer(out, 77);
		return FAKE_REPLY;
	}
	return FAKE_HANG;
}

static void test_hang_times_out(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(hang_handle, NULL);
	struct concord_client *c = client_for(fake_server_addr(s), 450, 100, 1000);
	/* A read: retried until the deadline, then unavailable. */
	int64_t t0 = now_ms();
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(c, "k", 1, &v, &vl, &found), CONCORD_EUNAVAILABLE);
	int64_t spent = now_ms() - t0;
	assert_true(spent >= 400);
	assert_true(spent < 2000);
	assert_non_null(strstr(concord_client_errmsg(c), "timed out"));
	/* A write that was sent and never answered: its outcome is unknown. */
	t0 = now_ms();
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), CONCORD_EUNKNOWN);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(concord_client_errmsg(c), "may have been applied"));
	/* An admin command is not retried once sent. The server thread may still be
	 * counting what the timed-out calls sent, so count once the number settles. */
	uint64_t before = settled_commands(s);
	assert_int_equal(concord_client_step_down(c), CONCORD_EUNKNOWN);
	assert_int_equal(settled_commands(s), before + 1);
	concord_client_free(c);
	fake_server_stop(s);
}

/* A MOVED to an address nobody listens on: the client falls back to its list. */
struct moved_once {
	struct fake_kv kv;
	char to[64];
	int moved;
};

static enum fake_action moved_once_handle(void *arg, const struct resp_cmd *cmd,
                                          struct wire_buf *out)
{
	struct moved_once *m = arg;
	if (m->moved++ == 0) {
		resp_write_errorf(out, "MOVED 0 %s", m->to);
		return FAKE_REPLY;
	}
	return fake_kv_handle(&m->kv, cmd, out);
}

static void test_moved_to_dead_node(void **state)
{
	(void)state;
	struct moved_once m = {0};
	fake_kv_init(&m.kv);
	snprintf(m.to, sizeof(m.to), "127.0.0.1:%u", (unsigned)fake_unused_port());
	struct fake_server *s = fake_server_start(moved_once_handle, &m);
	struct concord_client *c = client_for(fake_server_addr(s), 5000, 1000, 20);
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), 0);
	assert_string_equal(concord_client_endpoint(c), fake_server_addr(s));
	concord_client_free(c);
	fake_server_stop(s);
	fake_kv_free(&m.kv);
}

/* A server that closes every connection at once, then recovers. */
struct closer {
	struct fake_kv kv;
	int closes;
};

static enum fake_action closer_handle(void *arg, const struct resp_cmd *cmd, struct wire_buf *out)
{
	struct closer *k = arg;
	if (k->closes > 0 && !fake_arg_is(cmd, 0, "CONCORD.SESSION")) {
		k->closes--;
		return FAKE_CLOSE;
	}
	return fake_kv_handle(&k->kv, cmd, out);
}

static void test_reads_survive_resets(void **state)
{
	(void)state;
	struct closer k = {.closes = 0};
	fake_kv_init(&k.kv);
	struct fake_server *s = fake_server_start(closer_handle, &k);
	struct concord_client *c = client_for(fake_server_addr(s), 5000, 1000, 20);
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), 0);
	fake_server_lock(s);
	k.closes = 3;
	fake_server_unlock(s);
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(c, "k", 1, &v, &vl, &found), 0);
	assert_true(found);
	free(v);
	assert_true(fake_server_accepts(s) >= 4);
	concord_client_free(c);
	fake_server_stop(s);
	fake_kv_free(&k.kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_moved_is_followed),
	    cmocka_unit_test(test_moved_loop_is_bounded),
	    cmocka_unit_test(test_dead_endpoint_is_skipped),
	    cmocka_unit_test(test_all_dead_respects_deadline),
	    cmocka_unit_test(test_clusterdown_is_retried),
	    cmocka_unit_test(test_hang_times_out),
	    cmocka_unit_test(test_moved_to_dead_node),
	    cmocka_unit_test(test_reads_survive_resets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
