/* test_server.c: one node with its RESP and HTTP frontends on one loop, in-process, checked over
 * real sockets: commands, pipelines, routes, /metrics, and a clean stop. */
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

/* Sends `req` on a fresh RESP connection and checks that exactly `want` comes back. */
static void resp_expect(struct fixture *f, const char *req, const char *want)
{
	int fd = dial(resp_server_port(f->sv.resp));
	send_all(fd, req, strlen(req));
	char buf[4096];
	recv_some(f, fd, buf, sizeof(buf), strlen(want));
	assert_string_equal(buf, want);
	close(fd);
}

/* One HTTP/1.1 request with "Connection: close"; the whole response into buf. */
static void http_do(struct fixture *f, const char *method, const char *path, const char *body,
                    char *buf, size_t cap)
{
	int fd = dial(http_server_port(f->sv.http));
	char req[1024];
	int n = snprintf(
	    req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, strlen(body), body);
	send_all(fd, req, (size_t)n);
	recv_some(f, fd, buf, cap, 0);
	close(fd);
}

static void test_resp_set_get(void **state)
{
	struct fixture *f = *state;
	resp_expect(f, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", "+OK\r\n");
	resp_expect(f, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "$5\r\nhello\r\n");
	resp_expect(f, "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n", "$-1\r\n");
}

static void test_resp_pipeline(void **state)
{
	struct fixture *f = *state;
	resp_expect(
	    f,
	    "PING\r\n*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\n"
	    "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\n",
	    "+PONG\r\n+OK\r\n:2\r\n$2\r\nhi\r\n:3\r\n");
}

static void test_resp_unknown_command(void **state)
{
	struct fixture *f = *state;
	resp_expect(f, "*2\r\n$6\r\nNOSUCH\r\n$1\r\nx\r\n",
	            "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n");
	resp_expect(f, "*1\r\n$5\r\nLPUSH\r\n",
	            "-ERR unsupported command 'lpush': Concord stores strings only\r\n");
	resp_expect(f, "*1\r\n$3\r\nGET\r\n",
	            "-ERR wrong number of arguments for 'get' command\r\n");
}

static void test_http_kv(void **state)
{
	struct fixture *f = *state;
	char buf[8192];
	http_do(f, "PUT", "/v1/kv/hk", "v1", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	if (strstr(buf, "\"created\":true") == NULL)
		fail_msg("%s", buf);
	http_do(f, "GET", "/v1/kv/hk", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "\"value\":\"v1\""));
	http_do(f, "GET", "/v1/kv/nope", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 404"));
	/* A key written over RESP reads back over HTTP: one store. */
	resp_expect(f, "*3\r\n$3\r\nSET\r\n$2\r\nrk\r\n$2\r\nrv\r\n", "+OK\r\n");
	http_do(f, "GET", "/v1/kv/rk", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"value\":\"rv\""));
}

static void test_http_routes(void **state)
{
	struct fixture *f = *state;
	char buf[8192];
	http_do(f, "GET", "/no/such/route", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 404"));
	assert_non_null(strstr(buf, "no such route"));
	http_do(f, "PATCH", "/v1/kv/x", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 405"));
	assert_non_null(strstr(buf, "Allow: GET, HEAD, PUT, DELETE\r\n"));
	http_do(f, "DELETE", "/v1/admin/transfer", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "Allow: POST\r\n"));
	http_do(f, "GET", "/healthz", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
}

static void test_metrics(void **state)
{
	struct fixture *f = *state;
	resp_expect(f, "PING\r\n", "+PONG\r\n");
	char buf[65536];
	http_do(f, "GET", "/metrics", "", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "\nconcord_raft_term "));
	const char *p = strstr(buf, "\nconcord_resp_commands_total ");
	assert_non_null(p);
	assert_true(strtoull(p + strlen("\nconcord_resp_commands_total "), NULL, 10) >= 1);
	assert_non_null(strstr(buf, "\nconcord_resp_connections_total "));
	/* The HTTP counters: earlier requests are counted, this one is being answered. */
	http_do(f, "GET", "/healthz", "", buf, sizeof(buf));
	http_do(f, "GET", "/metrics", "", buf, sizeof(buf));
	p = strstr(buf, "\nconcord_http_requests_total ");
	assert_non_null(p);
	assert_true(strtoull(p + strlen("\nconcord_http_requests_total "), NULL, 10) >= 2);
	assert_non_null(strstr(buf, "\nconcord_http_clients 1"));
}

/* One connection, one packet per round: every read sees the writes sent before it
 * (issue 12: SET k v + GET k answered +OK, $-1). */
static void test_resp_pipeline_reads_its_writes(void **state)
{
	struct fixture *f = *state;
	int fd = dial(resp_server_port(f->sv.resp));
	for (int i = 0; i < 200; i++) {
		char req[512], want[256], buf[512];
		int n = snprintf(
		    req, sizeof(req),
		    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv%03d\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
		    "*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n"
		    "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*2\r\n$3\r\nGET\r\n$1\r\nn\r\n"
		    "*2\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n",
		    i);
		char num[16];
		int nl = snprintf(num, sizeof(num), "%d", i + 1);
		snprintf(want, sizeof(want),
		         "+OK\r\n$4\r\nv%03d\r\n:1\r\n:0\r\n:%d\r\n$%d\r\n%d\r\n:0\r\n", i, i + 1,
		         nl, i + 1);
		send_all(fd, req, (size_t)n);
		recv_some(f, fd, buf, sizeof(buf), strlen(want));
		if (strcmp(buf, want) != 0)
			fail_msg("round %d: got %s, want %s", i, buf, want);
	}
	close(fd);
}

/* HTTP/1.1 keep-alive, requests sent together: a GET after a PUT sees it. */
static void test_http_pipeline_reads_its_writes(void **state)
{
	struct fixture *f = *state;
	int fd = dial(http_server_port(f->sv.http));
	for (int i = 0; i < 50; i++) {
		char req[512], buf[4096], want[64];
		int n =
		    snprintf(req, sizeof(req),
		             "PUT /v1/kv/pk HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nv%03d"
		             "GET /v1/kv/pk?raw=1 HTTP/1.1\r\nHost: t\r\n\r\n"
		             "DELETE /v1/kv/pk HTTP/1.1\r\nHost: t\r\n\r\n"
		             "GET /v1/kv/pk HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		             i);
		if (i > 0)
			fd = dial(http_server_port(f->sv.http));
		send_all(fd, req, (size_t)n);
		recv_some(f, fd, buf, sizeof(buf), 0);
		close(fd);
		snprintf(want, sizeof(want), "\r\n\r\nv%03d", i);
		const char *get = strstr(buf, "Concord-Revision");
		if (get == NULL || strstr(get, want) == NULL)
			fail_msg("round %d: the GET missed the PUT: %s", i, buf);
		const char *last = strstr(get, "HTTP/1.1 404");
		if (last == NULL)
			fail_msg("round %d: the last GET missed the DELETE: %s", i, buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_resp_set_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resp_pipeline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resp_unknown_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_kv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resp_pipeline_reads_its_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_pipeline_reads_its_writes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
