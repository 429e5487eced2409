/* test_basic.c: the client API against one well-behaved fake node: kv, scan, admin, raw. */
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

struct fixture {
	struct fake_kv kv;
	struct fake_server *srv;
	struct concord_client *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	fake_kv_init(&f->kv);
	f->srv = fake_server_start(fake_kv_handle, &f->kv);
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	assert_int_equal(concord_client_new(fake_server_addr(f->srv), NULL, &f->c, err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	concord_client_free(f->c);
	fake_server_stop(f->srv);
	fake_kv_free(&f->kv);
	free(f);
	return 0;
}

static void test_put_get_del(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(concord_client_put(f->c, "k", 1, "v1", 2), 0);
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(f->c, "k", 1, &v, &vl, &found), 0);
	assert_true(found);
	assert_int_equal(vl, 2);
	assert_string_equal(v, "v1");
	free(v);

	bool deleted = false;
	assert_int_equal(concord_client_del(f->c, "k", 1, &deleted), 0);
	assert_true(deleted);
	assert_int_equal(concord_client_del(f->c, "k", 1, &deleted), 0);
	assert_false(deleted);
	assert_int_equal(concord_client_get(f->c, "k", 1, &v, &vl, &found), 0);
	assert_false(found);
	assert_null(v);
	assert_int_equal(vl, 0);
	assert_string_equal(concord_client_errmsg(f->c), "");
	assert_string_equal(concord_client_endpoint(f->c), fake_server_addr(f->srv));
}

/* Keys and values are bytes: NUL, CR, LF and high bytes round-trip. */
static void test_binary_safe(void **state)
{
	struct fixture *f = *state;
	const char key[] = {'a', 0, '\r', '\n', (char)0xff};
	const char val[] = {0, 0, '$', '-', '1', '\r', '\n', (char)0x80};
	assert_int_equal(concord_client_put(f->c, key, sizeof(key), val, sizeof(val)), 0);
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(f->c, key, sizeof(key), &v, &vl, &found), 0);
	assert_true(found);
	assert_int_equal(vl, sizeof(val));
	assert_memory_equal(v, val, sizeof(val));
	assert_int_equal(v[vl], '\0');
	free(v);
	/* The empty value is a value. */
	assert_int_equal(concord_client_put(f->c, "e", 1, NULL, 0), 0);
	assert_int_equal(concord_client_get(f->c, "e", 1, &v, &vl, &found), 0);
	assert_true(found);
	assert_int_equal(vl, 0);
	free(v);
}

static void test_incr_cas(void **state)
{
	struct fixture *f = *state;
	int64_t r = 0;
	assert_int_equal(concord_client_incr(f->c, "n", 1, 5, &r), 0);
	assert_int_equal(r, 5);
	assert_int_equal(concord_client_incr(f->c, "n", 1, -7, &r), 0);
	assert_int_equal(r, -2);
	assert_int_equal(concord_client_put(f->c, "s", 1, "abc", 3), 0);
	assert_int_equal(concord_client_incr(f->c, "s", 1, 1, &r), CONCORD_ESERVER);
	assert_non_null(strstr(concord_client_errmsg(f->c), "not an integer"));

	bool swapped = true;
	assert_int_equal(concord_client_cas(f->c, "s", 1, "zzz", 3, "new", 3, &swapped), 0);
	assert_false(swapped);
	assert_int_equal(concord_client_cas(f->c, "s", 1, "abc", 3, "new", 3, &swapped), 0);
	assert_true(swapped);
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	assert_int_equal(concord_client_get(f->c, "s", 1, &v, &vl, &found), 0);
	assert_string_equal(v, "new");
	free(v);
}

/* Every write went through one session, with increasing sequence numbers. */
static void test_writes_use_one_session(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(concord_client_put(f->c, "k", 1, "v", 1), 0);
	}
	fake_server_lock(f->srv);
	assert_int_equal(f->kv.n_sessions, 1);
	assert_int_equal(f->kv.sessions[0].last_seq, 5);
	assert_int_equal(f->kv.writes_applied, 5);
	assert_int_equal(f->kv.exec_duplicates, 0);
	fake_server_unlock(f->srv);
}

struct scan_acc {
	char seen[8192];
	int calls;
	int stop_after;
};

static int scan_cb(void *arg, const char *key, size_t key_len, const char *value, size_t value_len)
{
	struct scan_acc *a = arg;
	size_t at = strlen(a->seen);
	snprintf(a->seen + at, sizeof(a->seen) - at, "%.*s=%.*s;", (int)key_len, key,
	         (int)value_len, value);
	a->calls++;
	return a->stop_after > 0 && a->calls >= a->stop_after ? 42 : 0;
}

static void test_scan(void **state)
{
	struct fixture *f = *state;
	/* More keys than one page, around the prefix. */
	char k[32], v[32];
	for (int i = 0; i < 250; i++) {
		snprintf(k, sizeof(k), "p/%03d", i);
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(concord_client_put(f->c, k, strlen(k), v, strlen(v)), 0);
	}
	assert_int_equal(concord_client_put(f->c, "a", 1, "x", 1), 0);
	assert_int_equal(concord_client_put(f->c, "q", 1, "y", 1), 0);

	struct scan_acc acc = {0};
	assert_int_equal(concord_client_scan(f->c, "p/", 2, scan_cb, &acc), 0);
	assert_int_equal(acc.calls, 250);
	assert_memory_equal(acc.seen, "p/000=0;p/001=1;", 16);
	assert_non_null(strstr(acc.seen, "p/249=249;"));
	assert_null(strstr(acc.seen, "a=x"));

	struct scan_acc all = {0};
	assert_int_equal(concord_client_scan(f->c, NULL, 0, scan_cb, &all), 0);
	assert_int_equal(all.calls, 252);

	struct scan_acc none = {0};
	assert_int_equal(concord_client_scan(f->c, "zz", 2, scan_cb, &none), 0);
	assert_int_equal(none.calls, 0);

	struct scan_acc stop = {.stop_after = 3};
	assert_int_equal(concord_client_scan(f->c, "p/", 2, scan_cb, &stop), 42);
	assert_int_equal(stop.calls, 3);
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	char *json = NULL;
	size_t len = 0;
	assert_int_equal(concord_client_status(f->c, NULL, &json, &len), 0);
	assert_int_equal(len, strlen(f->kv.status_json));
	assert_string_equal(json, f->kv.status_json);
	free(json);
	/* The same, asked of the node by address. */
	assert_int_equal(concord_client_status(f->c, fake_server_addr(f->srv), &json, NULL), 0);
	assert_string_equal(json, f->kv.status_json);
	free(json);
	assert_int_equal(concord_client_status(f->c, "nonsense", &json, NULL), CONCORD_EINVAL);
	assert_null(json);
}

static void expect_admin(struct fixture *f, const char *want)
{
	fake_server_lock(f->srv);
	assert_string_equal(f->kv.last_admin, want);
	fake_server_unlock(f->srv);
}

static void test_admin_commands(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(concord_client_transfer(f->c, 3), 0);
	expect_admin(f, "CONCORD.TRANSFER 3");
	assert_int_equal(concord_client_step_down(f->c), 0);
	expect_admin(f, "CONCORD.STEPDOWN");
	assert_int_equal(concord_client_member_add(f->c, 6, "n6", "127.0.0.1:7006",
	                                           "127.0.0.1:6006", "127.0.0.1:8006"),
	                 0);
	expect_admin(f, "CONCORD.MEMBER ADD 6 n6 127.0.0.1:7006 127.0.0.1:6006 127.0.0.1:8006");
	assert_int_equal(concord_client_member_promote(f->c, 6), 0);
	expect_admin(f, "CONCORD.MEMBER PROMOTE 6");
	assert_int_equal(concord_client_member_remove(f->c, 2), 0);
	expect_admin(f, "CONCORD.MEMBER REMOVE 2");
	assert_int_equal(concord_client_member_add(f->c, 0, "x", "a:1", NULL, NULL),
	                 CONCORD_EINVAL);

	const char *node = fake_server_addr(f->srv);
	struct concord_fault flt = {.drop = 0.01, .delay_req_ms = 50, .delay_req_p = 0.05};
	assert_int_equal(concord_client_fault_set(f->c, node, CONCORD_PEER_ALL, &flt), 0);
	expect_admin(f, "CONCORD.FAULT SET * drop 0.01 delay-req 50 delay-req-p 0.05");
	struct concord_fault part = {.block_out = true, .block_in = true, .delay_resp_ms = 7};
	assert_int_equal(concord_client_fault_set(f->c, node, 2, &part), 0);
	expect_admin(f, "CONCORD.FAULT SET 2 delay-resp 7 block-out 1 block-in 1");
	struct concord_fault bad = {.drop = 1.5};
	assert_int_equal(concord_client_fault_set(f->c, node, 2, &bad), CONCORD_EINVAL);
	assert_int_equal(concord_client_fault_clear(f->c, node, CONCORD_PEER_ALL), 0);
	expect_admin(f, "CONCORD.FAULT CLEAR *");
	assert_int_equal(concord_client_fault_clear(f->c, node, 4), 0);
	expect_admin(f, "CONCORD.FAULT CLEAR 4");
	/* After talking to a node by address, ordinary calls still work. */
	assert_int_equal(concord_client_put(f->c, "k", 1, "v", 1), 0);
}

static void test_raw_command(void **state)
{
	struct fixture *f = *state;
	struct concord_reply r;
	const char *set[] = {"set", "rk", "rv"};
	assert_int_equal(concord_client_command(f->c, set, NULL, 3, &r), 0);
	assert_int_equal(r.type, CONCORD_REPLY_STATUS);
	assert_string_equal(r.str, "OK");
	concord_reply_free(&r);
	/* A raw SET is a known write: it went through the session. */
	fake_server_lock(f->srv);
	assert_int_equal(f->kv.n_sessions, 1);
	fake_server_unlock(f->srv);

	const char *mget[] = {"MGET", "rk", "missing"};
	assert_int_equal(concord_client_command(f->c, mget, NULL, 3, &r), 0);
	assert_int_equal(r.type, CONCORD_REPLY_ARRAY);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.elems[0].type, CONCORD_REPLY_STRING);
	assert_string_equal(r.elems[0].str, "rv");
	assert_int_equal(r.elems[1].type, CONCORD_REPLY_NIL);
	concord_reply_free(&r);

	const char *bogus[] = {"BOGUS", "x"};
	size_t lens[] = {5, 1};
	assert_int_equal(concord_client_command(f->c, bogus, lens, 2, &r), 0);
	assert_int_equal(r.type, CONCORD_REPLY_ERROR);
	assert_non_null(strstr(r.str, "unknown command"));
	concord_reply_free(&r);

	assert_int_equal(concord_client_command(f->c, bogus, lens, 0, &r), CONCORD_EINVAL);
}

static void test_new_rejects_bad_endpoints(void **state)
{
	(void)state;
	struct concord_client *c = NULL;
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	const char *bad[] = {"",        ",",     "host",   "host:",   ":80",   "h:0",
	                     "h:65536", "h:12a", "::1:80", "[::1:80", "[::1]", "a b:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(concord_client_new(bad[i], NULL, &c, err), CONCORD_EINVAL);
		assert_null(c);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(concord_client_new("[::1]:80,localhost:1,,127.0.0.1:65535", NULL, &c, err),
	                 0);
	concord_client_free(c);
	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.backoff_min_ms = 100;
	o.backoff_max_ms = 10;
	assert_int_equal(concord_client_new("a:1", &o, &c, NULL), CONCORD_EINVAL);
	assert_string_equal(concord_strerror(CONCORD_EUNKNOWN),
	                    "the write may or may not have been applied");
	assert_string_equal(concord_strerror(-1), "unknown error code");
	assert_string_equal(concord_strerror(CONCORD_CLIENT_ERROR_COUNT_), "unknown error code");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_safe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incr_cas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writes_use_one_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_raw_command, setup, teardown),
	    cmocka_unit_test(test_new_rejects_bad_endpoints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
