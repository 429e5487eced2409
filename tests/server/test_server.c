/* test_server.c: one node with its RESP and HTTP frontends on one loop, in-process, checked over
 * real sockets: commands, pipelines, routes, /metrics, and a clean stop. */
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

/* Sends `req` on a fresh RESP connection and checks that exactly `want` comes back. */
static void resp_expect(struct h_fixture *f, const char *req, const char *want)
{
	int fd = h_dial(resp_server_port(f->sv.resp));
	h_send_all(fd, req, strlen(req));
	char buf[4096];
	h_recv_some(f, fd, buf, sizeof(buf), strlen(want));
	assert_string_equal(buf, want);
	close(fd);
}

/* One HTTP/1.1 request with "Connection: close"; the whole response into buf. */
static void http_do(struct h_fixture *f, const char *method, const char *path, const char *body,
                    char *buf, size_t cap)
{
	int fd = h_dial(http_server_port(f->sv.http));
	char req[1024];
	int n = snprintf(
	    req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, strlen(body), body);
	h_send_all(fd, req, (size_t)n);
	h_recv_some(f, fd, buf, cap, 0);
	close(fd);
}

static void test_resp_set_get(void **state)
{
	struct h_fixture *f = *state;
	resp_expect(f, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", "+OK\r\n");
	resp_expect(f, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "$5\r\nhello\r\n");
	resp_expect(f, "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n", "$-1\r\n");
}

static void test_resp_pipeline(void **state)
{
	struct h_fixture *f = *state;
	resp_expect(
	    f,
	    "PING\r\n*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\n"
	    "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\n",
	    "+PONG\r\n+OK\r\n:2\r\n$2\r\nhi\r\n:3\r\n");
}

static void test_resp_unknown_command(void **state)
{
	struct h_fixture *f = *state;
	resp_expect(f, "*2\r\n$6\r\nNOSUCH\r\n$1\r\nx\r\n",
	            "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n");
	resp_expect(f, "*1\r\n$5\r\nLPUSH\r\n",
	            "-ERR unsupported command 'lpush': Concord stores strings only\r\n");
	resp_expect(f, "*1\r\n$3\r\nGET\r\n",
	            "-ERR wrong number of arguments for 'get' command\r\n");
}

static void test_http_kv(void **state)
{
	struct h_fixture *f = *state;
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
	struct h_fixture *f = *state;
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
	struct h_fixture *f = *state;
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
	struct h_fixture *f = *state;
	int fd = h_dial(resp_server_port(f->sv.resp));
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
		h_send_all(fd, req, (size_t)n);
		h_recv_some(f, fd, buf, sizeof(buf), strlen(want));
		if (strcmp(buf, want) != 0)
			fail_msg("round %d: got %s, want %s", i, buf, want);
	}
	close(fd);
}

/* HTTP/1.1 keep-alive, requests sent together: a GET after a PUT sees it. */
static void test_http_pipeline_reads_its_writes(void **state)
{
	struct h_fixture *f = *state;
	int fd = h_dial(http_server_port(f->sv.http));
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
			fd = h_dial(http_server_port(f->sv.http));
		h_send_all(fd, req, (size_t)n);
		h_recv_some(f, fd, buf, sizeof(buf), 0);
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
