/* test_limits.c: the bounds of client connections, in-process over loopback: the input buffer, the
 * output limit, idle and read timeouts, the relay reserve. */
#include "harness.h"

#include <errno.h>
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

/* Sends while the loop runs; false if the peer stopped taking bytes (closed, or a
 * full window for 2 s). */
static bool send_pumped(struct h_fixture *f, int fd, const char *data, size_t len)
{
	for (int idle = 0; len > 0 && idle < 2000;) {
		h_pump(f);
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			idle++;
			continue;
		}
		if (n <= 0)
			return false;
		idle = 0;
		data += n;
		len -= (size_t)n;
	}
	return len == 0;
}

/* Resident memory of this process, in bytes. */
static size_t rss_bytes(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	assert_non_null(fp);
	unsigned long pages = 0, rss = 0;
	assert_int_equal(fscanf(fp, "%lu %lu", &pages, &rss), 2);
	fclose(fp);
	return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether the server closed `fd` within about `ms`, dropping what it sent. */
static bool closed_within(struct h_fixture *f, int fd, int ms)
{
	char buf[4096];
	for (int i = 0; i < ms; i++) {
		h_pump(f);
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return true;
	}
	return false;
}

/* An unfinished command: arguments of 512 KiB each, sent for ever. */
static void test_unfinished_command_is_cut(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-limits", NULL);
	int fd = h_dial(resp_server_port(f.sv.resp));
	size_t chunk = 512 * 1024;
	char *arg = malloc(chunk + 64);
	int n = snprintf(arg, 64, "$%zu\r\n", chunk);
	memset(arg + n, 'x', chunk);
	memcpy(arg + n + chunk, "\r\n", 2);
	h_send_all(fd, "*100000\r\n$3\r\nSET\r\n", 18);
	size_t before = rss_bytes();
	int sent = 0;
	while (sent < 64 && send_pumped(&f, fd, arg, (size_t)n + chunk + 2))
		sent++;
	free(arg);
	/* The buffer holds key + value + 1 MiB (about 2 MiB): the rest was refused. */
	assert_true(sent < 16);
	char buf[4096];
	h_recv_some(&f, fd, buf, sizeof(buf), 0);
	assert_non_null(strstr(buf, "-ERR Protocol error"));
	assert_true(rss_bytes() < before + ((size_t)16 << 20));
	close(fd);
	h_stop(&f);
}

/* MGET of one 1 MiB value 64 times: refused, the connection and the node fine. */
static void test_large_reply_is_refused(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-limits", NULL);
	int fd = h_dial(resp_server_port(f.sv.resp));
	size_t vlen = 1u << 20;
	char *set = malloc(vlen + 64);
	int n = snprintf(set, 64, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%zu\r\n", vlen);
	memset(set + n, 'v', vlen);
	memcpy(set + n + vlen, "\r\n", 2);
	assert_true(send_pumped(&f, fd, set, (size_t)n + vlen + 2));
	free(set);
	char buf[4096];
	h_recv_some(&f, fd, buf, sizeof(buf), 5);
	assert_string_equal(buf, "+OK\r\n");
	char mget[2048];
	size_t len = (size_t)snprintf(mget, sizeof(mget), "*65\r\n$4\r\nMGET\r\n");
	for (int i = 0; i < 64; i++)
		len += (size_t)snprintf(mget + len, sizeof(mget) - len, "$3\r\nbig\r\n");
	size_t before = rss_bytes();
	h_send_all(fd, mget, len);
	h_send_all(fd, "PING\r\n", 6);
	static const char want[] = "-ERR the reply would pass this connection's output limit";
	/* The refusal, then PONG, in one read or several. */
	size_t got = 0;
	buf[0] = '\0';
	for (int i = 0; i < 50 && strstr(buf, "\r\n+PONG\r\n") == NULL; i++)
		got += h_recv_some(&f, fd, buf + got, sizeof(buf) - got, 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	const char *pong = strstr(buf, "\r\n+PONG\r\n");
	assert_non_null(pong);
	assert_string_equal(pong, "\r\n+PONG\r\n");
	assert_int_equal(f.sv.resp_stats.overflows, 1);
	assert_true(rss_bytes() < before + ((size_t)32 << 20));
	close(fd);
	h_stop(&f);
}

static void short_timeouts(struct server *sv)
{
	sv->idle_timeout_ms = 300;
	sv->read_timeout_ms = 300;
}

static void test_idle_connection_is_closed(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-limits", short_timeouts);
	int fd = h_dial(resp_server_port(f.sv.resp));
	h_send_all(fd, "PING\r\n", 6);
	char buf[64];
	h_recv_some(&f, fd, buf, sizeof(buf), 7);
	assert_string_equal(buf, "+PONG\r\n");
	assert_true(closed_within(&f, fd, 3000));
	assert_int_equal(f.sv.resp_stats.timed_out, 1);
	close(fd);
	h_stop(&f);
}

/* A head sent a header a time, each well within the timeout, never finished. */
static void test_slow_http_head_is_cut(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-limits", short_timeouts);
	int fd = h_dial(http_server_port(f.sv.http));
	h_send_all(fd, "GET /v1/cluster HTTP/1.1\r\nHost: t\r\n", 35);
	bool cut = false;
	for (int i = 0; i < 40 && !cut; i++) {
		cut = closed_within(&f, fd, 50) || !send_pumped(&f, fd, "X-Slow: 1\r\n", 11);
	}
	assert_true(cut);
	assert_int_equal(f.sv.http_stats.timed_out, 1);
	close(fd);
	h_stop(&f);
}

/* A body over the limit (3 values + 6 keys + 64 KiB) is refused from its Content-Length. */
static void test_http_body_over_limit(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-limits", NULL);
	int fd = h_dial(http_server_port(f.sv.http));
	static const char req[] =
	    "PUT /v1/kv/a HTTP/1.1\r\nHost: t\r\nContent-Length: 4194304\r\n\r\n";
	h_send_all(fd, req, sizeof(req) - 1);
	char buf[4096];
	h_recv_some(&f, fd, buf, sizeof(buf), 12);
	assert_memory_equal(buf, "HTTP/1.1 413", 12);
	close(fd);
	h_stop(&f);
}

static void two_clients(struct server *sv)
{
	sv->max_clients = 2;
	sv->relay_reserve = 2;
}

/* With every client slot taken, a plain client is refused and relays still served. */
static void test_full_server_serves_relays(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-limits", two_clients);
	int port = resp_server_port(f.sv.resp);
	int fds[2];
	char buf[256];
	for (int i = 0; i < 2; i++) {
		fds[i] = h_dial(port);
		h_send_all(fds[i], "PING\r\n", 6);
		h_recv_some(&f, fds[i], buf, sizeof(buf), 7);
		assert_string_equal(buf, "+PONG\r\n");
	}
	int plain = h_dial(port);
	h_send_all(plain, "PING\r\n", 6);
	h_recv_some(&f, plain, buf, sizeof(buf), 0);
	assert_string_equal(buf, "-ERR max number of clients reached\r\n");
	close(plain);
	int relay = h_dial(port);
	static const char hello[] = "*1\r\n$13\r\nCONCORD.RELAY\r\n*1\r\n$4\r\nPING\r\n";
	h_send_all(relay, hello, sizeof(hello) - 1);
	h_recv_some(&f, relay, buf, sizeof(buf), 12);
	assert_string_equal(buf, "+OK\r\n+PONG\r\n");
	int hfd[3];
	for (int i = 0; i < 3; i++)
		hfd[i] = h_dial(http_server_port(f.sv.http));
	static const char fwd[] = "GET /v1/cluster HTTP/1.1\r\nHost: t\r\nConcord-Forwarded: 1\r\n"
	                          "Connection: close\r\n\r\n";
	h_send_all(hfd[2], fwd, sizeof(fwd) - 1);
	h_recv_some(&f, hfd[2], buf, sizeof(buf), 12);
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	for (int i = 0; i < 3; i++)
		close(hfd[i]);
	close(relay);
	close(fds[0]);
	close(fds[1]);
	h_stop(&f);
}

static void one_client_short_reserve(struct server *sv)
{
	sv->max_clients = 1;
	sv->relay_reserve = 1;
	sv->read_timeout_ms = 300;
}

/* A connection in the reserve that sent one byte, never a relay announcement, gives its
 * place back after the read timeout, and a relay then gets in. */
static void test_reserve_holder_times_out(void **state)
{
	(void)state;
	static struct h_fixture f;
	h_start(&f, "concord-test-limits", one_client_short_reserve);
	int port = resp_server_port(f.sv.resp);
	char buf[256];
	int first = h_dial(port);
	h_send_all(first, "PING\r\n", 6);
	h_recv_some(&f, first, buf, sizeof(buf), 7);
	int holder = h_dial(port);
	h_send_all(holder, "*", 1);
	assert_true(closed_within(&f, holder, 3000));
	assert_true(f.sv.resp_stats.timed_out >= 1);
	int relay = h_dial(port);
	static const char hello[] = "*1\r\n$13\r\nCONCORD.RELAY\r\n*1\r\n$4\r\nPING\r\n";
	h_send_all(relay, hello, sizeof(hello) - 1);
	h_recv_some(&f, relay, buf, sizeof(buf), 12);
	assert_string_equal(buf, "+OK\r\n+PONG\r\n");
	close(relay);
	close(holder);
	close(first);
	h_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unfinished_command_is_cut),
	    cmocka_unit_test(test_large_reply_is_refused),
	    cmocka_unit_test(test_idle_connection_is_closed),
	    cmocka_unit_test(test_slow_http_head_is_cut),
	    cmocka_unit_test(test_http_body_over_limit),
	    cmocka_unit_test(test_full_server_serves_relays),
	    cmocka_unit_test(test_reserve_holder_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
