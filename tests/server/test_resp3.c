/* test_resp3.c: HELLO and RESP3 on one in-process node, over real sockets: the HELLO replies
 * byte for byte, nulls and maps under each protocol, EXEC's replies, and the errors. */
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

#include <cmocka.h>

static int setup(void **state)
{
	static struct h_fixture f;
	h_start(&f, "concord-test-resp3", NULL);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	h_stop(*state);
	return 0;
}

static int dial(struct h_fixture *f)
{
	return h_dial(resp_server_port(f->sv.resp));
}

/* Sends `req` on fd and checks that exactly `want` comes back (runs the loop meanwhile). */
static void expect(struct h_fixture *f, int fd, const char *req, const char *want)
{
	size_t len = strlen(req);
	while (len > 0) {
		ssize_t n = send(fd, req, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		req += n;
		len -= (size_t)n;
	}
	char buf[4096];
	size_t got = 0, need = strlen(want);
	for (int i = 0; i < 10000 && got < need && got + 1 < sizeof(buf); i++) {
		h_pump(f);
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n == 0)
			break;
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			continue;
		}
		got += (size_t)n;
	}
	for (int i = 0; i < 20; i++) { /* nothing more may follow */
		h_pump(f);
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	buf[got] = '\0';
	assert_string_equal(buf, want);
}

/* The connection's id, from CLIENT ID. */
static long client_id(struct h_fixture *f, int fd)
{
	send(fd, "CLIENT ID\r\n", 11, MSG_NOSIGNAL);
	char buf[64];
	size_t got = 0;
	for (int i = 0; i < 10000 && (got < 3 || buf[got - 1] != '\n'); i++) {
		h_pump(f);
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	buf[got] = '\0';
	assert_int_equal(buf[0], ':');
	return strtol(buf + 1, NULL, 10);
}

/* HELLO's map, Redis's seven fields; head is "%7" (RESP3) or "*14" (RESP2). */
static void hello_map(char *buf, size_t cap, const char *head, int proto, long id)
{
	snprintf(buf, cap,
	         "%s\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
	         "$5\r\nproto\r\n:%d\r\n$2\r\nid\r\n:%ld\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"
	         "$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
	         head, proto, id);
}

static void test_hello_3_and_2(void **state)
{
	struct h_fixture *f = *state;
	int fd = dial(f);
	long id = client_id(f, fd);
	char want[1024];
	hello_map(want, sizeof(want), "*14", 2, id);
	expect(f, fd, "HELLO\r\n", want); /* no version: the current protocol */
	hello_map(want, sizeof(want), "%7", 3, id);
	expect(f, fd, "HELLO 3\r\n", want);
	expect(f, fd, "HELLO\r\n", want);
	expect(f, fd, "GET missing\r\n", "_\r\n");
	hello_map(want, sizeof(want), "*14", 2, id);
	expect(f, fd, "HELLO 2\r\n", want);
	expect(f, fd, "GET missing\r\n", "$-1\r\n");
	/* Pipelined: each reply in the protocol of its command's time, though the reads
	 * complete after the HELLOs behind them ran. */
	char w2[1024], w3[1024], all[4096];
	hello_map(w2, sizeof(w2), "*14", 2, id);
	hello_map(w3, sizeof(w3), "%7", 3, id);
	snprintf(all, sizeof(all), "$-1\r\n%s_\r\n_\r\n%s$-1\r\n", w3, w2);
	expect(f, fd,
	       "GET missing\r\nHELLO 3\r\nGET missing\r\nSET x 1 XX\r\nHELLO 2\r\nGET missing\r\n",
	       all);
	close(fd);
}

static void test_resp3_replies(void **state)
{
	struct h_fixture *f = *state;
	int fd = dial(f);
	expect(f, fd, "SET k v\r\n", "+OK\r\n");
	expect(f, fd, "CONFIG GET save\r\nCONFIG GET nope\r\nCLIENT GETNAME\r\n",
	       "*2\r\n$4\r\nsave\r\n$0\r\n\r\n*0\r\n$-1\r\n");
	expect(f, fd, "SET k w NX\r\nMGET k missing\r\n", "$-1\r\n*2\r\n$1\r\nv\r\n$-1\r\n");
	char want[1024];
	hello_map(want, sizeof(want), "%7", 3, client_id(f, fd));
	expect(f, fd, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", want);
	expect(f, fd, "GET missing\r\nGET k\r\n", "_\r\n$1\r\nv\r\n");
	expect(f, fd, "SET k w NX\r\nMGET k missing\r\n", "_\r\n*2\r\n$1\r\nv\r\n_\r\n");
	expect(f, fd, "CONFIG GET save\r\nCONFIG GET nope\r\nCLIENT GETNAME\r\n",
	       "%1\r\n$4\r\nsave\r\n$0\r\n\r\n%0\r\n_\r\n");
	expect(f, fd, "CONCORD.GET missing\r\nPING\r\nINCR n\r\n", "_\r\n+PONG\r\n:1\r\n");
	close(fd);
}

static void test_resp3_exec(void **state)
{
	struct h_fixture *f = *state;
	int fd = dial(f), other = dial(f);
	char want[1024];
	hello_map(want, sizeof(want), "%7", 3, client_id(f, fd));
	expect(f, fd, "HELLO 3\r\n", want);
	expect(f, fd, "SET t 1\r\nMULTI\r\nGET missing\r\nSET t 2 NX\r\nMGET t missing\r\nEXEC\r\n",
	       "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
	       "*3\r\n_\r\n_\r\n*2\r\n$1\r\n1\r\n_\r\n");
	expect(f, fd, "WATCH t\r\n", "+OK\r\n");
	expect(f, other, "SET t 3\r\n", "+OK\r\n");
	expect(f, fd, "MULTI\r\nGET t\r\nEXEC\r\n", "+OK\r\n+QUEUED\r\n_\r\n");
	expect(f, other, "WATCH t\r\n", "+OK\r\n");
	expect(f, fd, "SET t 4\r\n", "+OK\r\n");
	expect(f, other, "MULTI\r\nGET t\r\nEXEC\r\n", "+OK\r\n+QUEUED\r\n*-1\r\n");
	close(fd);
	close(other);
}

static void test_hello_errors_and_options(void **state)
{
	struct h_fixture *f = *state;
	int fd = dial(f);
	long id = client_id(f, fd);
	expect(f, fd, "HELLO 4\r\nHELLO 1\r\nHELLO x\r\n",
	       "-NOPROTO unsupported protocol version\r\n"
	       "-NOPROTO unsupported protocol version\r\n"
	       "-ERR Protocol version is not an integer or out of range\r\n");
	expect(f, fd, "HELLO 3 AUTH bob pw\r\nHELLO 3 SETNAME\r\nHELLO 3 SETNAME \"a b\"\r\n",
	       "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	       "-ERR Syntax error in HELLO option 'SETNAME'\r\n"
	       "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
	expect(f, fd, "GET missing\r\nCLIENT GETNAME\r\n", "$-1\r\n$-1\r\n"); /* unchanged */
	char want[1024];
	hello_map(want, sizeof(want), "%7", 3, id);
	expect(f, fd, "HELLO 3 AUTH default anything SETNAME app\r\n", want);
	expect(f, fd, "CLIENT GETNAME\r\nAUTH default x\r\nAUTH bob x\r\n",
	       "$3\r\napp\r\n+OK\r\n"
	       "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
	expect(f, fd, "HELLO 4\r\nGET missing\r\n",
	       "-NOPROTO unsupported protocol version\r\n_\r\n");
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hello_3_and_2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resp3_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resp3_exec, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hello_errors_and_options, setup, teardown),
	};
	return cmocka_run_group_tests_name("resp3", tests, NULL, NULL);
}
