/* test_txn.c: MULTI/EXEC/DISCARD/WATCH/UNWATCH over raw sockets on one in-process node: the exact
 * reply bytes, the queue's refusals and limits, EXECABORT, WATCH against another connection's
 * write, runtime errors inside EXEC, one-packet pipelines. */
#include "server/http_server.h"
#include "server/resp_server.h"
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

struct fixture {
	uv_loop_t loop;
	struct node *node;
	struct node_config cfg;
	struct server sv;
	char dir[128];
	int stopped;
};

static void quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level >= 3 || getenv("CONCORD_TEST_LOG") != NULL)
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

/* Runs the loop a little (the frontends and the node are on it). */
static void pump(struct fixture *f)
{
	uv_run(&f->loop, UV_RUN_NOWAIT);
	usleep(1000);
	uv_update_time(&f->loop);
}

static void node_config_one(struct fixture *f, uint16_t port)
{
	struct node_config *cfg = &f->cfg;
	node_config_default(cfg);
	cfg->id = 1;
	snprintf(cfg->name, sizeof(cfg->name), "n1");
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/n1", f->dir);
	snprintf(cfg->listen_peer, sizeof(cfg->listen_peer), "127.0.0.1:%u", port);
	cfg->tick_ms = 10;
	cfg->log = quiet_log;
	cfg->n_members = 1;
	struct node_member *m = &cfg->members[0];
	memset(m, 0, sizeof(*m));
	m->id = 1;
	snprintf(m->name, sizeof(m->name), "n1");
	snprintf(m->peer, sizeof(m->peer), "127.0.0.1:%u", port);
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/concord-test-server-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	uv_loop_init(&f.loop);
	char err[512] = "";
	int rv = -1;
	for (int attempt = 0; attempt < 5 && rv != 0; attempt++) {
		node_config_one(&f, free_port());
		rv = node_start(&f.node, &f.loop, &f.cfg, err, sizeof(err));
	}
	if (rv != 0)
		fail_msg("cannot start the node: %s", err);
	server_init(&f.sv);
	f.sv.loop = &f.loop;
	f.sv.node = f.node;
	f.sv.limits = f.cfg.kv.limits;
	f.sv.start_ms = uv_now(&f.loop);
	f.sv.log_level = 3;
	assert_int_equal(resp_server_start(&f.sv.resp, &f.sv, "127.0.0.1:0", err, sizeof(err)), 0);
	assert_int_equal(http_server_start(&f.sv.http, &f.sv, "127.0.0.1:0", err, sizeof(err)), 0);
	struct node_status st;
	for (int i = 0; i < 5000; i++) {
		node_status(f.node, &st);
		if (st.role == RAFT_LEADER)
			break;
		pump(&f);
	}
	assert_int_equal(st.role, RAFT_LEADER);
	*state = &f;
	return 0;
}

static void on_stopped(void *arg)
{
	((struct fixture *)arg)->stopped++;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	f->stopped = 0;
	resp_server_close(f->sv.resp, on_stopped, f);
	http_server_close(f->sv.http, on_stopped, f);
	node_stop(f->node, on_stopped, f);
	while (f->stopped < 3)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A client socket to `port`, non-blocking once connected. */
static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

/* Reads until `want` bytes came, or EOF when want is 0; runs the loop meanwhile.
 * Returns the bytes read (NUL-terminated in buf). */
static size_t recv_some(struct fixture *f, int fd, char *buf, size_t cap, size_t want)
{
	size_t len = 0;
	for (int i = 0; i < 10000 && len + 1 < cap && (want == 0 || len < want); i++) {
		pump(f);
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n == 0)
			break;
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			continue;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
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
static void expect_on(struct fixture *f, int fd, const char *req, const char *want)
{
	send_all(fd, req, strlen(req));
	char buf[8192];
	recv_some(f, fd, buf, sizeof(buf), strlen(want));
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

static int conn(struct fixture *f)
{
	return dial(resp_server_port(f->sv.resp));
}

static void test_exec_array(void **state)
{
	struct fixture *f = *state;
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
	struct fixture *f = *state;
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
	struct fixture *f = *state;
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
	struct fixture *f = *state;
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
	    "-ERR 'ping' cannot run inside MULTI in Concord (transactions carry SET, SETNX, DEL, "
	    "INCR/DECR[BY], APPEND, MSET[NX], CAS*, GET, MGET, EXISTS, STRLEN)\r\n",
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
	struct fixture *f = *state;
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
	struct fixture *f = *state;
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
	struct fixture *f = *state;
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
	struct fixture *f = *state;
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
static void queue_many(struct fixture *f, int fd, const char *one, size_t count, const char *each)
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
	send_all(fd, req, len * count);
	size_t have = 0;
	for (int i = 0; i < 100 && have < wl * count; i++)
		have += recv_some(f, fd, got + have, wl * count + 1 - have, wl * count - have);
	got[have] = '\0';
	assert_string_equal(got, want);
	free(req);
	free(want);
	free(got);
}

static void test_queue_limit_commands(void **state)
{
	struct fixture *f = *state;
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
	send_all(fd, buf, strlen(buf));
	size_t have = 0;
	for (int i = 0; i < 100 && have < 7 + 1024 * 4; i++)
		have += recv_some(f, fd, buf + have, sizeof(buf) - have, 7 + 1024 * 4 - have);
	assert_int_equal(strncmp(buf, "*1024\r\n:1\r\n:2\r\n", 15), 0);
	EXPECT(f, fd, "$4\r\n1024\r\n", "GET", "q");
	close(fd);
}

/* The byte limit: four values just under 1 MiB fit, a fifth does not. */
static void test_queue_limit_bytes(void **state)
{
	struct fixture *f = *state;
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
