/* test_malformed.c: malformed, mistyped, oversized or stray replies: errors, never crashes. */
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

/* A server answering every command but CONCORD.SESSION with fixed bytes. */
struct canned {
	struct fake_kv kv;
	char bytes[4096];
	size_t len;
	bool close_after;
	bool session_too; /* also answer CONCORD.SESSION with the bytes */
};

static enum fake_action canned_handle(void *arg, const struct resp_cmd *cmd, struct wire_buf *out)
{
	struct canned *k = arg;
	if (fake_arg_is(cmd, 0, "CONCORD.SESSION") && !k->session_too) {
		return fake_kv_handle(&k->kv, cmd, out);
	}
	wire_buf_append(out, k->bytes, k->len);
	return k->close_after ? FAKE_REPLY_CLOSE : FAKE_REPLY;
}

struct fixture {
	struct canned k;
	struct fake_server *srv;
	struct concord_client *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fake_kv_init(&f->k.kv);
	f->srv = fake_server_start(canned_handle, &f->k);
	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.deadline_ms = 600;
	o.attempt_timeout_ms = 150;
	o.retries_max = 6;
	o.backoff_min_ms = 2;
	o.backoff_max_ms = 10;
	o.reply_bytes_max = 1024;
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	assert_int_equal(concord_client_new(fake_server_addr(f->srv), &o, &f->c, err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	concord_client_free(f->c);
	fake_server_stop(f->srv);
	fake_kv_free(&f->k.kv);
	free(f);
	return 0;
}

static void can(struct fixture *f, const void *bytes, size_t len, bool close_after)
{
	fake_server_lock(f->srv);
	assert_true(len <= sizeof(f->k.bytes));
	memcpy(f->k.bytes, bytes, len);
	f->k.len = len;
	f->k.close_after = close_after;
	fake_server_unlock(f->srv);
}

static int get_rc(struct fixture *f)
{
	char *v = (char *)1;
	size_t vl = 99;
	bool found = true;
	int rc = concord_client_get(f->c, "k", 1, &v, &vl, &found);
	if (rc != 0) {
		assert_null(v);
		assert_false(found);
	} else {
		free(v);
	}
	return rc;
}

static void test_not_resp(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "hello\r\n",                 /* no type byte */
	    "$-5\r\n",                   /* negative length */
	    "$3\r\nabcd\r\n",            /* bytes past the length */
	    "*2\r\n:1\r\n!oops\r\n",     /* bad element */
	    ":12x\r\n",                  /* bad integer */
	    "$99999999999999999999\r\n", /* length overflow */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		can(f, bad[i], strlen(bad[i]), false);
		assert_int_equal(get_rc(f), CONCORD_EPROTO);
		assert_non_null(strstr(concord_client_errmsg(f->c), "malformed"));
	}
}

static void test_past_limits(void **state)
{
	struct fixture *f = *state;
	/* Longer than reply_bytes_max (1024). */
	can(f, "$5000\r\n", 7, false);
	assert_int_equal(get_rc(f), CONCORD_EPROTO);
	/* Deeper than the reader's depth limit. */
	char deep[400];
	size_t n = 0;
	for (int i = 0; i < 64; i++) {
		memcpy(deep + n, "*1\r\n", 4);
		n += 4;
	}
	memcpy(deep + n, ":1\r\n", 4);
	n += 4;
	can(f, deep, n, false);
	assert_int_equal(get_rc(f), CONCORD_EPROTO);
}

static void test_wrong_shapes(void **state)
{
	struct fixture *f = *state;
	can(f, ":5\r\n", 4, false);
	assert_int_equal(get_rc(f), CONCORD_EPROTO);
	can(f, "*0\r\n", 4, false);
	assert_int_equal(concord_client_put(f->c, "k", 1, "v", 1), CONCORD_EPROTO);
	can(f, ":7\r\n", 4, false);
	bool d;
	assert_int_equal(concord_client_del(f->c, "k", 1, &d), CONCORD_EPROTO);
	can(f, "$1\r\nx\r\n", 7, false);
	assert_int_equal(concord_client_incr(f->c, "k", 1, 1, NULL), CONCORD_EPROTO);
	can(f, "+OK\r\n", 5, false);
	char *json = NULL;
	assert_int_equal(concord_client_status(f->c, NULL, &json, NULL), CONCORD_EPROTO);
	assert_null(json);
	can(f, ":1\r\n", 4, false);
	assert_int_equal(concord_client_transfer(f->c, 2), CONCORD_EPROTO);
	/* An error reply where a value is due is the server's error. */
	can(f, "-ERR something broke\r\n", 22, false);
	assert_int_equal(get_rc(f), CONCORD_ESERVER);
	assert_non_null(strstr(concord_client_errmsg(f->c), "something broke"));
}

static int never_cb(void *arg, const char *key, size_t key_len, const char *value, size_t value_len)
{
	(void)arg;
	(void)key;
	(void)key_len;
	(void)value;
	(void)value_len;
	fail_msg("no key should be delivered");
	return 0;
}

static void test_bad_scan_replies(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "*1\r\n$1\r\n0\r\n",                            /* one element */
	    "*2\r\n$2\r\nxx\r\n*0\r\n",                     /* non-numeric cursor */
	    "*2\r\n$1\r\n0\r\n:4\r\n",                      /* keys not an array */
	    "*2\r\n$1\r\n0\r\n*1\r\n:4\r\n",                /* a key not a string */
	    "*2\r\n$21\r\n999999999999999999999\r\n*0\r\n", /* cursor overflow */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		can(f, bad[i], strlen(bad[i]), false);
		assert_int_equal(concord_client_scan(f->c, "p", 1, never_cb, NULL), CONCORD_EPROTO);
	}
	/* SCAN fine, MGET (the same canned bytes) of the wrong shape. */
	can(f, "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n", 23, false);
	assert_int_equal(concord_client_scan(f->c, "", 0, never_cb, NULL), CONCORD_EPROTO);
}

static void test_bad_redirection_and_session(void **state)
{
	struct fixture *f = *state;
	can(f, "-MOVED 12 nonsense\r\n", 20, false);
	assert_int_equal(get_rc(f), CONCORD_EPROTO);
	assert_non_null(strstr(concord_client_errmsg(f->c), "redirection"));
	can(f, "-MOVED\r\n", 8, false);
	assert_int_equal(get_rc(f), CONCORD_EPROTO);
	fake_server_lock(f->srv);
	f->k.session_too = true;
	fake_server_unlock(f->srv);
	can(f, "$2\r\n12\r\n", 8, false);
	assert_int_equal(concord_client_put(f->c, "k", 1, "v", 1), CONCORD_EPROTO);
	can(f, ":-4\r\n", 5, false);
	assert_int_equal(concord_client_put(f->c, "k", 1, "v", 1), CONCORD_EPROTO);
	can(f, "-ERR no sessions here\r\n", 23, false);
	assert_int_equal(concord_client_put(f->c, "k", 1, "v", 1), CONCORD_ESERVER);
	assert_non_null(strstr(concord_client_errmsg(f->c), "no sessions here"));
}

/* A truncated reply and a close: the read is retried, then gives up within bounds. */
static void test_truncated_then_close(void **state)
{
	struct fixture *f = *state;
	can(f, "$5\r\nab", 6, true);
	assert_int_equal(get_rc(f), CONCORD_EUNAVAILABLE);
	assert_non_null(strstr(concord_client_errmsg(f->c), "closed"));
}

/* Two replies for one request: the second is noticed before the next request, and the
 * client reconnects rather than take it as the answer. */
static void test_reply_out_of_turn(void **state)
{
	struct fixture *f = *state;
	can(f, "$1\r\na\r\n$1\r\nb\r\n", 14, false);
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(f->c, "k", 1, &v, &vl, &found), 0);
	assert_string_equal(v, "a");
	free(v);
	uint64_t accepts = fake_server_accepts(f->srv);
	assert_int_equal(concord_client_get(f->c, "k", 1, &v, &vl, &found), 0);
	assert_string_equal(v, "a");
	free(v);
	assert_int_equal(fake_server_accepts(f->srv), accepts + 1);
}

/* Random bytes as replies: any outcome but a crash, a leak or a hang. */
static void test_random_replies(void **state)
{
	struct fixture *f = *state;
	/* Short limits: an incomplete reply without a close waits for the attempt timeout. */
	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.deadline_ms = 100;
	o.attempt_timeout_ms = 30;
	o.retries_max = 4;
	o.backoff_min_ms = 1;
	o.backoff_max_ms = 2;
	o.reply_bytes_max = 1024;
	concord_client_free(f->c);
	assert_int_equal(concord_client_new(fake_server_addr(f->srv), &o, &f->c, NULL), 0);
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	static const char alphabet[] = "+-:$*\r\n0123456789-abc";
	for (int round = 0; round < 300; round++) {
		char buf[64];
		seed ^= seed >> 12;
		seed ^= seed << 25;
		seed ^= seed >> 27;
		uint64_t r = seed * 0x2545F4914F6CDD1DULL;
		size_t len = 1 + (size_t)(r % sizeof(buf));
		for (size_t i = 0; i < len; i++) {
			r = r * 6364136223846793005ULL + 1442695040888963407ULL;
			buf[i] = (r >> 60) < 12 ? alphabet[(r >> 33) % (sizeof(alphabet) - 1)]
			                        : (char)(r >> 40);
		}
		can(f, buf, len, round % 4 != 0);
		int rc = get_rc(f);
		assert_true(rc == CONCORD_OK || rc == CONCORD_EPROTO || rc == CONCORD_ESERVER ||
		            rc == CONCORD_EUNAVAILABLE);
		struct concord_reply rep;
		const char *argv[] = {"PING"};
		rc = concord_client_command(f->c, argv, NULL, 1, &rep);
		if (rc == 0) {
			concord_reply_free(&rep);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_not_resp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_past_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_shapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_scan_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_redirection_and_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_then_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_out_of_turn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_replies, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
