/* test_session.c: exactly-once: a retried write reuses its sequence number, applies once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "concord/client.h"
#include "fake_server.h"

/* What the scripted handler does to the next CONCORD.EXEC commands. */
enum script_step {
	STEP_NORMAL = 0,
	STEP_APPLY_THEN_CLOSE,   /* apply, lose the reply by closing */
	STEP_APPLY_THEN_HANG,    /* apply, never answer */
	STEP_UNKNOWN,            /* -UNKNOWN without applying */
	STEP_APPLY_CLOSE_EXPIRE, /* apply, close, and expire every session */
	STEP_HANG,               /* never answer (no apply) */
	STEP_MOVED,              /* -MOVED to `moved_to` */
};

#define SCRIPT_MAX 16
#define SEEN_MAX   64

/* One store shared by the scripted servers (two threads: its own lock). */
struct scripted {
	pthread_mutex_t mu;
	struct fake_kv kv;
	enum script_step steps[SCRIPT_MAX];
	size_t n_steps;
	size_t next_step;
	char moved_to[64];
	/* Each CONCORD.EXEC seen: its session id and sequence number. */
	uint64_t seen_id[SEEN_MAX];
	uint64_t seen_seq[SEEN_MAX];
	size_t n_seen;
	size_t plain_writes; /* SET without a session */
};

static uint64_t arg_u64(const struct resp_arg *a)
{
	char buf[32];
	size_t n = a->len < sizeof(buf) - 1 ? a->len : sizeof(buf) - 1;
	memcpy(buf, a->data, n);
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

static enum fake_action scripted_handle(void *arg, const struct resp_cmd *cmd, struct wire_buf *out)
{
	struct scripted *s = arg;
	pthread_mutex_lock(&s->mu);
	enum fake_action act = FAKE_REPLY;
	if (fake_arg_is(cmd, 0, "CONCORD.EXEC") && cmd->argc >= 4) {
		if (s->n_seen < SEEN_MAX) {
			s->seen_id[s->n_seen] = arg_u64(&cmd->argv[1]);
			s->seen_seq[s->n_seen] = arg_u64(&cmd->argv[2]);
			s->n_seen++;
		}
		enum script_step st =
		    s->next_step < s->n_steps ? s->steps[s->next_step++] : STEP_NORMAL;
		struct wire_buf scratch;
		wire_buf_init(&scratch, 1 << 20);
		switch (st) {
		case STEP_NORMAL:
			act = fake_kv_handle(&s->kv, cmd, out);
			break;
		case STEP_APPLY_THEN_CLOSE:
			fake_kv_handle(&s->kv, cmd, &scratch);
			act = FAKE_CLOSE;
			break;
		case STEP_APPLY_THEN_HANG:
			fake_kv_handle(&s->kv, cmd, &scratch);
			act = FAKE_HANG;
			break;
		case STEP_UNKNOWN:
			resp_write_errorf(out,
			                  "UNKNOWN the write may or may not have been applied: "
			                  "leadership lost");
			break;
		case STEP_APPLY_CLOSE_EXPIRE:
			fake_kv_handle(&s->kv, cmd, &scratch);
			fake_kv_expire_sessions(&s->kv);
			act = FAKE_CLOSE;
			break;
		case STEP_HANG:
			act = FAKE_HANG;
			break;
		case STEP_MOVED:
			resp_write_errorf(out, "MOVED 0 %s", s->moved_to);
			break;
		}
		wire_buf_free(&scratch);
	} else {
		if (fake_arg_is(cmd, 0, "SET")) {
			s->plain_writes++;
		}
		act = fake_kv_handle(&s->kv, cmd, out);
	}
	pthread_mutex_unlock(&s->mu);
	return act;
}

static struct scripted *scripted_new(void)
{
	struct scripted *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	fake_kv_init(&s->kv);
	return s;
}

static void scripted_free(struct scripted *s)
{
	fake_kv_free(&s->kv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void scripted_plan(struct scripted *s, const enum script_step *steps, size_t n)
{
	pthread_mutex_lock(&s->mu);
	if (n > 0) {
		memcpy(s->steps, steps, n * sizeof(*steps));
	}
	s->n_steps = n;
	s->next_step = 0;
	s->n_seen = 0;
	pthread_mutex_unlock(&s->mu);
}

static struct concord_client *client_for(const char *endpoints, uint32_t deadline_ms,
                                         bool no_session)
{
	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.deadline_ms = deadline_ms;
	o.attempt_timeout_ms = 150;
	o.connect_timeout_ms = 200;
	o.backoff_min_ms = 5;
	o.backoff_max_ms = 20;
	o.no_session = no_session;
	struct concord_client *c = NULL;
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	if (concord_client_new(endpoints, &o, &c, err) != 0) {
		fail_msg("concord_client_new: %s", err);
	}
	return c;
}

static int64_t value_of(struct concord_client *c, const char *key)
{
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(c, key, strlen(key), &v, &vl, &found), 0);
	assert_true(found);
	int64_t x = strtoll(v, NULL, 10);
	free(v);
	return x;
}

/* Every EXEC seen carried the same session and sequence number. */
static void assert_same_seq(struct scripted *s, size_t want_n)
{
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->n_seen, want_n);
	for (size_t i = 1; i < s->n_seen; i++) {
		assert_int_equal(s->seen_id[i], s->seen_id[0]);
		assert_int_equal(s->seen_seq[i], s->seen_seq[0]);
	}
	pthread_mutex_unlock(&s->mu);
}

/* The reply of an applied INCR is lost: the retry carries the same number and gets the
 * stored reply; the counter moved once. */
static void test_lost_reply_applies_once(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *srv = fake_server_start(scripted_handle, s);
	struct concord_client *c = client_for(fake_server_addr(srv), 5000, false);
	const enum script_step plan[] = {STEP_APPLY_THEN_CLOSE, STEP_APPLY_THEN_CLOSE};
	scripted_plan(s, plan, 2);
	int64_t r = 0;
	assert_int_equal(concord_client_incr(c, "n", 1, 1, &r), 0);
	assert_int_equal(r, 1);
	assert_same_seq(s, 3);
	assert_int_equal(value_of(c, "n"), 1);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->kv.exec_duplicates, 2);
	pthread_mutex_unlock(&s->mu);
	/* The next write takes the next number. */
	assert_int_equal(concord_client_incr(c, "n", 1, 1, &r), 0);
	assert_int_equal(r, 2);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->seen_seq[3], s->seen_seq[0] + 1);
	pthread_mutex_unlock(&s->mu);
	concord_client_free(c);
	fake_server_stop(srv);
	scripted_free(s);
}

static void test_timeout_retry_applies_once(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *srv = fake_server_start(scripted_handle, s);
	struct concord_client *c = client_for(fake_server_addr(srv), 5000, false);
	const enum script_step plan[] = {STEP_APPLY_THEN_HANG};
	scripted_plan(s, plan, 1);
	int64_t r = 0;
	assert_int_equal(concord_client_incr(c, "n", 1, 5, &r), 0);
	assert_int_equal(r, 5);
	assert_same_seq(s, 2);
	assert_int_equal(value_of(c, "n"), 5);
	concord_client_free(c);
	fake_server_stop(srv);
	scripted_free(s);
}

static void test_unknown_reply_is_retried(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *srv = fake_server_start(scripted_handle, s);
	struct concord_client *c = client_for(fake_server_addr(srv), 5000, false);
	const enum script_step plan[] = {STEP_UNKNOWN, STEP_UNKNOWN};
	scripted_plan(s, plan, 2);
	int64_t r = 0;
	assert_int_equal(concord_client_incr(c, "n", 1, 1, &r), 0);
	assert_int_equal(r, 1);
	assert_same_seq(s, 3);
	concord_client_free(c);
	fake_server_stop(srv);
	scripted_free(s);
}

/* The old leader applies the write and dies before answering; the retry reaches the new
 * leader through a redirection (the two share the replicated store). */
static void test_leader_change_applies_once(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *a = fake_server_start(scripted_handle, s);
	struct fake_server *b = fake_server_start(scripted_handle, s);
	pthread_mutex_lock(&s->mu);
	snprintf(s->moved_to, sizeof(s->moved_to), "%s", fake_server_addr(b));
	pthread_mutex_unlock(&s->mu);
	struct concord_client *c = client_for(fake_server_addr(a), 5000, false);
	assert_int_equal(concord_client_put(c, "warm", 4, "up", 2), 0); /* opens the session */
	const enum script_step plan[] = {STEP_APPLY_THEN_CLOSE, STEP_MOVED};
	scripted_plan(s, plan, 2);
	int64_t r = 0;
	assert_int_equal(concord_client_incr(c, "n", 1, 10, &r), 0);
	assert_int_equal(r, 10);
	assert_same_seq(s, 3);
	assert_string_equal(concord_client_endpoint(c), fake_server_addr(b));
	assert_int_equal(value_of(c, "n"), 10);
	concord_client_free(c);
	fake_server_stop(a);
	fake_server_stop(b);
	scripted_free(s);
}

/* The session expired before the write was sent: a new session, the write applies. */
static void test_expired_session_is_reopened(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *srv = fake_server_start(scripted_handle, s);
	struct concord_client *c = client_for(fake_server_addr(srv), 5000, false);
	assert_int_equal(concord_client_put(c, "k", 1, "1", 1), 0);
	pthread_mutex_lock(&s->mu);
	fake_kv_expire_sessions(&s->kv);
	pthread_mutex_unlock(&s->mu);
	assert_int_equal(concord_client_put(c, "k", 1, "2", 1), 0);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->kv.n_sessions, 2);
	assert_int_equal(s->kv.sessions[1].last_seq, 1);
	pthread_mutex_unlock(&s->mu);
	assert_int_equal(value_of(c, "k"), 2);
	concord_client_free(c);
	fake_server_stop(srv);
	scripted_free(s);
}

/* The session expired while a possibly applied write was being retried: the outcome is
 * unknown, and said so; the next write opens a new session. */
static void test_expiry_during_retry_is_unknown(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *srv = fake_server_start(scripted_handle, s);
	struct concord_client *c = client_for(fake_server_addr(srv), 5000, false);
	const enum script_step plan[] = {STEP_APPLY_CLOSE_EXPIRE};
	scripted_plan(s, plan, 1);
	assert_int_equal(concord_client_incr(c, "n", 1, 1, NULL), CONCORD_EUNKNOWN);
	assert_non_null(strstr(concord_client_errmsg(c), "expired"));
	assert_int_equal(value_of(c, "n"), 1); /* it was, in fact, applied once */
	assert_int_equal(concord_client_incr(c, "n", 1, 1, NULL), 0);
	assert_int_equal(value_of(c, "n"), 2);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->kv.n_sessions, 2);
	pthread_mutex_unlock(&s->mu);
	concord_client_free(c);
	fake_server_stop(srv);
	scripted_free(s);
}

/* Unknown until the deadline: the call says so and the session is not reused. */
static void test_deadline_with_unknown_outcome(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *srv = fake_server_start(scripted_handle, s);
	struct concord_client *c = client_for(fake_server_addr(srv), 400, false);
	const enum script_step plan[] = {STEP_HANG, STEP_HANG, STEP_HANG, STEP_HANG,
	                                 STEP_HANG, STEP_HANG, STEP_HANG, STEP_HANG};
	scripted_plan(s, plan, 8);
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), CONCORD_EUNKNOWN);
	scripted_plan(s, NULL, 0);
	assert_int_equal(concord_client_put(c, "k", 1, "w", 1), 0);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->kv.n_sessions, 2);
	pthread_mutex_unlock(&s->mu);
	concord_client_free(c);
	fake_server_stop(srv);
	scripted_free(s);
}

/* Without sessions, writes are plain and a lost reply is an unknown outcome. */
static void test_no_session_mode(void **state)
{
	(void)state;
	struct scripted *s = scripted_new();
	struct fake_server *srv = fake_server_start(scripted_handle, s);
	struct concord_client *c = client_for(fake_server_addr(srv), 2000, true);
	assert_int_equal(concord_client_put(c, "k", 1, "v", 1), 0);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->kv.n_sessions, 0);
	assert_int_equal(s->plain_writes, 1);
	pthread_mutex_unlock(&s->mu);
	concord_client_free(c);
	fake_server_stop(srv);
	scripted_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lost_reply_applies_once),
	    cmocka_unit_test(test_timeout_retry_applies_once),
	    cmocka_unit_test(test_unknown_reply_is_retried),
	    cmocka_unit_test(test_leader_change_applies_once),
	    cmocka_unit_test(test_expired_session_is_reopened),
	    cmocka_unit_test(test_expiry_during_retry_is_unknown),
	    cmocka_unit_test(test_deadline_with_unknown_outcome),
	    cmocka_unit_test(test_no_session_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
