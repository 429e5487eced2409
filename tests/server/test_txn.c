/* test_txn.c: MULTI/EXEC/DISCARD/WATCH/UNWATCH over raw sockets on one in-process node: the exact
 * reply bytes, the queue's refusals and limits, EXECABORT, WATCH against another connection's
 * write, runtime errors inside EXEC, one-packet pipelines. */
#include "harness.h"

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

static int setup(void **state)
{
	static struct h_fixture f;
	h_start(&f, "concord-test-server", NULL);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	h_stop(*state);
	return 0;
}

/* One command as a RESP array of bulk strings, appended to buf (NULL ends the args). */
static size_t cmd_add(char *buf, size_t cap, size_t len, const char *a0, ...)
{
	const char *args[16];
	size_t n = 0;
	va_list ap;
	va_start(ap, a0);
	for (const char *a = a0; a != NULL && n < 16; a = va_arg(ap, const char *))
		args[n++] = a;
	va_end(ap);
	int w = snprintf(buf + len, cap - len, "*%zu\r\n", n);
	len += (size_t)w;
	for (size_t i = 0; i < n; i++) {
		w = snprintf(buf + len, cap - len, "$%zu\r\n%s\r\n", strlen(args[i]), args[i]);
		len += (size_t)w;
	}
	assert_true(len < cap);
	return len;
}

/* Sends `req` on `fd` and checks that exactly `want` comes back. */
static void expect_on(struct h_fixture *f, int fd, const char *req, const char *want)
{
	h_send_all(fd, req, strlen(req));
	char buf[8192];
	h_recv_some(f, fd, buf, sizeof(buf), strlen(want));
	if (strcmp(buf, want) != 0)
		fail_msg("sent %s\ngot  %s\nwant %s", req, buf, want);
}

/* One command on `fd`, its reply checked. */
#define EXPECT(f, fd, want, ...)                                                                   \
	do {                                                                                       \
		char req_[4096];                                                                   \
		cmd_add(req_, sizeof(req_), 0, __VA_ARGS__, NULL);                                 \
		expect_on(f, fd, req_, want);                                                      \
	} while (0)

static int conn(struct h_fixture *f)
{
	return h_dial(resp_server_port(f->sv.resp));
}

static void test_exec_array(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	EXPECT(f, fd, "+OK\r\n", "SET", "n", "41");
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "a", "1");
	EXPECT(f, fd, "+QUEUED\r\n", "INCR", "n");
	EXPECT(f, fd, "+QUEUED\r\n", "GET", "a");
	EXPECT(f, fd, "+QUEUED\r\n", "GET", "missing");
	EXPECT(f, fd, "+QUEUED\r\n", "MGET", "a", "n", "missing");
	EXPECT(f, fd, "+QUEUED\r\n", "EXISTS", "a", "missing");
	EXPECT(f, fd, "+QUEUED\r\n", "DEL", "a");
	EXPECT(f, fd, "+QUEUED\r\n", "SETNX", "n", "0");
	EXPECT(f, fd,
	       "*8\r\n+OK\r\n:42\r\n$1\r\n1\r\n$-1\r\n*3\r\n$1\r\n1\r\n$2\r\n42\r\n$-1\r\n:1\r\n:"
	       "1\r\n:0\r\n",
	       "EXEC");
	EXPECT(f, fd, "$-1\r\n", "GET", "a");
	EXPECT(f, fd, "$2\r\n42\r\n", "GET", "n");
	/* An empty transaction: the empty array. */
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "*0\r\n", "EXEC");
	close(fd);
}

static void test_discard(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	EXPECT(f, fd, "+OK\r\n", "SET", "k", "old");
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "k", "new");
	EXPECT(f, fd, "+QUEUED\r\n", "DEL", "k");
	EXPECT(f, fd, "+OK\r\n", "DISCARD");
	EXPECT(f, fd, "$3\r\nold\r\n", "GET", "k");
	/* Out of the transaction now: commands run again, EXEC has no MULTI. */
	EXPECT(f, fd, "-ERR EXEC without MULTI\r\n", "EXEC");
	close(fd);
}

static void test_misuse(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	EXPECT(f, fd, "-ERR EXEC without MULTI\r\n", "EXEC");
	EXPECT(f, fd, "-ERR DISCARD without MULTI\r\n", "DISCARD");
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "-ERR MULTI calls can not be nested\r\n", "MULTI");
	EXPECT(f, fd, "-ERR WATCH inside MULTI is not allowed\r\n", "WATCH", "k");
	/* Neither error aborts the transaction (as in Redis). */
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "m", "1");
	EXPECT(f, fd, "*1\r\n+OK\r\n", "EXEC");
	EXPECT(f, fd, "$1\r\n1\r\n", "GET", "m");
	close(fd);
}

static void test_execabort(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	/* An unknown command. */
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "x", "1");
	EXPECT(f, fd, "-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n", "NOSUCH",
	       "a");
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "y", "1");
	EXPECT(f, fd, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	EXPECT(f, fd, ":0\r\n", "EXISTS", "x", "y");
	/* A wrong arity. */
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "x", "1");
	EXPECT(f, fd, "-ERR wrong number of arguments for 'get' command\r\n", "GET");
	EXPECT(f, fd, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	EXPECT(f, fd, ":0\r\n", "EXISTS", "x");
	/* A command a transaction cannot carry. */
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "x", "1");
	EXPECT(
	    f, fd,
	    "-ERR 'ping' cannot run inside MULTI in Concord (transactions carry SET, SETNX, SETEX, "
	    "PSETEX, DEL, INCR/DECR[BY], APPEND, MSET[NX], CAS*, [P]EXPIRE[AT], PERSIST, GET, "
	    "MGET, EXISTS, STRLEN)\r\n",
	    "PING");
	EXPECT(f, fd, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	EXPECT(f, fd, ":0\r\n", "EXISTS", "x");
	/* A syntax error a builder finds. */
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "-ERR value is not an integer or out of range\r\n", "INCRBY", "x", "one");
	EXPECT(f, fd, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	close(fd);
}

static void test_watch_conflict(void **state)
{
	struct h_fixture *f = *state;
	int a = conn(f), b = conn(f);
	EXPECT(f, a, "+OK\r\n", "SET", "w", "0");
	EXPECT(f, a, "+OK\r\n", "WATCH", "w");
	EXPECT(f, b, "+OK\r\n", "SET", "w", "other");
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+QUEUED\r\n", "SET", "w", "mine");
	EXPECT(f, a, "+QUEUED\r\n", "SET", "w2", "mine");
	EXPECT(f, a, "*-1\r\n", "EXEC");
	EXPECT(f, a, "$5\r\nother\r\n", "GET", "w");
	EXPECT(f, a, ":0\r\n", "EXISTS", "w2");
	/* EXEC forgot the watched keys: the next transaction applies. */
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+QUEUED\r\n", "SET", "w", "mine");
	EXPECT(f, a, "*1\r\n+OK\r\n", "EXEC");
	/* A watched key created by another connection. */
	EXPECT(f, a, "+OK\r\n", "WATCH", "fresh");
	EXPECT(f, b, "+OK\r\n", "SET", "fresh", "1");
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+QUEUED\r\n", "DEL", "fresh");
	EXPECT(f, a, "*-1\r\n", "EXEC");
	EXPECT(f, a, "$1\r\n1\r\n", "GET", "fresh");
	close(a);
	close(b);
}

static void test_watch_applies_unwatch(void **state)
{
	struct h_fixture *f = *state;
	int a = conn(f), b = conn(f);
	EXPECT(f, a, "+OK\r\n", "SET", "u", "0");
	EXPECT(f, a, "+OK\r\n", "WATCH", "u", "absent");
	EXPECT(f, b, "+OK\r\n", "SET", "unrelated", "1");
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+QUEUED\r\n", "INCR", "u");
	EXPECT(f, a, "*1\r\n:1\r\n", "EXEC");
	/* UNWATCH: a later write elsewhere no longer aborts. */
	EXPECT(f, a, "+OK\r\n", "WATCH", "u");
	EXPECT(f, a, "+OK\r\n", "UNWATCH");
	EXPECT(f, b, "+OK\r\n", "SET", "u", "10");
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+QUEUED\r\n", "INCR", "u");
	EXPECT(f, a, "*1\r\n:11\r\n", "EXEC");
	/* DISCARD forgets the watched keys too. */
	EXPECT(f, a, "+OK\r\n", "WATCH", "u");
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+OK\r\n", "DISCARD");
	EXPECT(f, b, "+OK\r\n", "SET", "u", "20");
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+QUEUED\r\n", "INCR", "u");
	EXPECT(f, a, "*1\r\n:21\r\n", "EXEC");
	/* UNWATCH inside MULTI is accepted and does not end it. */
	EXPECT(f, a, "+OK\r\n", "MULTI");
	EXPECT(f, a, "+OK\r\n", "UNWATCH");
	EXPECT(f, a, "+QUEUED\r\n", "GET", "u");
	EXPECT(f, a, "*1\r\n$2\r\n21\r\n", "EXEC");
	close(a);
	close(b);
}

static void test_runtime_error(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	EXPECT(f, fd, "+OK\r\n", "SET", "s", "abc");
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	EXPECT(f, fd, "+QUEUED\r\n", "SET", "r1", "1");
	EXPECT(f, fd, "+QUEUED\r\n", "INCR", "s");
	EXPECT(f, fd, "+QUEUED\r\n", "APPEND", "s", "d");
	EXPECT(f, fd, "+QUEUED\r\n", "INCR", "r1");
	EXPECT(f, fd, "*4\r\n+OK\r\n-ERR value is not an integer or out of range\r\n:4\r\n:2\r\n",
	       "EXEC");
	EXPECT(f, fd, "$4\r\nabcd\r\n", "GET", "s");
	EXPECT(f, fd, "$1\r\n2\r\n", "GET", "r1");
	close(fd);
}

static void test_pipelined(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	char req[4096];
	size_t n = cmd_add(req, sizeof(req), 0, "MULTI", NULL);
	n = cmd_add(req, sizeof(req), n, "SET", "p", "1", NULL);
	n = cmd_add(req, sizeof(req), n, "INCRBY", "p", "5", NULL);
	n = cmd_add(req, sizeof(req), n, "GET", "p", NULL);
	n = cmd_add(req, sizeof(req), n, "EXEC", NULL);
	n = cmd_add(req, sizeof(req), n, "GET", "p", NULL);
	n = cmd_add(req, sizeof(req), n, "WATCH", "p", NULL);
	n = cmd_add(req, sizeof(req), n, "MULTI", NULL);
	n = cmd_add(req, sizeof(req), n, "DEL", "p", NULL);
	n = cmd_add(req, sizeof(req), n, "EXEC", NULL);
	n = cmd_add(req, sizeof(req), n, "EXISTS", "p", NULL);
	(void)n;
	expect_on(
	    f, fd, req,
	    "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:6\r\n$1\r\n6\r\n$1\r\n6\r\n"
	    "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:1\r\n:0\r\n");
	close(fd);
}

/* Sends `count` copies of `one` after MULTI, reads `count` replies of `each`. */
static void queue_many(struct h_fixture *f, int fd, const char *one, size_t count, const char *each)
{
	size_t len = strlen(one), wl = strlen(each);
	char *req = malloc(len * count + 1), *want = malloc(wl * count + 1),
	     *got = malloc(wl * count + 1);
	assert_non_null(req);
	assert_non_null(want);
	assert_non_null(got);
	for (size_t i = 0; i < count; i++) {
		memcpy(req + i * len, one, len);
		memcpy(want + i * wl, each, wl);
	}
	want[wl * count] = '\0';
	h_send_all(fd, req, len * count);
	size_t have = 0;
	for (int i = 0; i < 100 && have < wl * count; i++)
		have += h_recv_some(f, fd, got + have, wl * count + 1 - have, wl * count - have);
	got[have] = '\0';
	assert_string_equal(got, want);
	free(req);
	free(want);
	free(got);
}

static void test_queue_limit_commands(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	char one[128];
	cmd_add(one, sizeof(one), 0, "SET", "q", "1", NULL);
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	queue_many(f, fd, one, 1024, "+QUEUED\r\n");
	expect_on(f, fd, one,
	          "-ERR transaction too large (limit 1024 commands, 4194304 bytes)\r\n");
	EXPECT(f, fd, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	EXPECT(f, fd, ":0\r\n", "EXISTS", "q");
	/* 1024 commands exactly apply. */
	char incr[128];
	cmd_add(incr, sizeof(incr), 0, "INCR", "q", NULL);
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	queue_many(f, fd, incr, 1024, "+QUEUED\r\n");
	char buf[16384];
	cmd_add(buf, sizeof(buf), 0, "EXEC", NULL);
	h_send_all(fd, buf, strlen(buf));
	size_t have = 0;
	for (int i = 0; i < 100 && have < 7 + 1024 * 4; i++)
		have += h_recv_some(f, fd, buf + have, sizeof(buf) - have, 7 + 1024 * 4 - have);
	assert_int_equal(strncmp(buf, "*1024\r\n:1\r\n:2\r\n", 15), 0);
	EXPECT(f, fd, "$4\r\n1024\r\n", "GET", "q");
	close(fd);
}

/* The byte limit: four values just under 1 MiB fit, a fifth does not. */
static void test_queue_limit_bytes(void **state)
{
	struct h_fixture *f = *state;
	int fd = conn(f);
	size_t vlen = 1024 * 1024 - 64;
	char *req = malloc(vlen + 128);
	assert_non_null(req);
	int h = snprintf(req, 128, "*3\r\n$3\r\nSET\r\n$2\r\nbk\r\n$%zu\r\n", vlen);
	memset(req + h, 'v', vlen);
	memcpy(req + h + vlen, "\r\n\0", 3);
	EXPECT(f, fd, "+OK\r\n", "MULTI");
	for (int i = 0; i < 4; i++)
		expect_on(f, fd, req, "+QUEUED\r\n");
	expect_on(f, fd, req,
	          "-ERR transaction too large (limit 1024 commands, 4194304 bytes)\r\n");
	EXPECT(f, fd, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	EXPECT(f, fd, ":0\r\n", "EXISTS", "bk");
	free(req);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exec_array, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_execabort, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_applies_unwatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runtime_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_limit_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_limit_bytes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
