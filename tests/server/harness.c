/* harness.c: the in-process server tests' shared harness (see harness.h): node start with
 * retries, the frontends on loopback, the leadership wait, the stop, the socket helpers. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

void h_quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level >= 3 || getenv("CONCORD_TEST_LOG") != NULL)
		fprintf(stderr, "node: %s\n", msg);
}

uint16_t h_free_port(void)
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

void h_pump(struct h_fixture *f)
{
	uv_run(&f->loop, UV_RUN_NOWAIT);
	usleep(1000);
	uv_update_time(&f->loop);
}

static void node_config_one(struct h_fixture *f, uint16_t port)
{
	struct node_config *cfg = &f->cfg;
	node_config_default(cfg);
	cfg->id = 1;
	snprintf(cfg->name, sizeof(cfg->name), "n1");
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/n1", f->dir);
	snprintf(cfg->listen_peer, sizeof(cfg->listen_peer), "127.0.0.1:%u", port);
	cfg->tick_ms = 10;
	cfg->log = h_quiet_log;
	cfg->n_members = 1;
	struct node_member *m = &cfg->members[0];
	memset(m, 0, sizeof(*m));
	m->id = 1;
	snprintf(m->name, sizeof(m->name), "n1");
	snprintf(m->peer, sizeof(m->peer), "127.0.0.1:%u", port);
}

/* The node on a free port: a port freed by h_free_port can be taken again before the node
 * binds it, so a few tries. */
static void start_node(struct h_fixture *f)
{
	char err[512] = "";
	int rv = -1;
	for (int attempt = 0; attempt < 5 && rv != 0; attempt++) {
		node_config_one(f, h_free_port());
		rv = node_start(&f->node, &f->loop, &f->cfg, err, sizeof(err));
	}
	if (rv != 0)
		fail_msg("cannot start the node: %s", err);
}

void h_start(struct h_fixture *f, const char *prefix, h_tweak_fn *tweak)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(f->dir));
	uv_loop_init(&f->loop);
	start_node(f);
	server_init(&f->sv);
	f->sv.loop = &f->loop;
	f->sv.node = f->node;
	f->sv.limits = f->cfg.kv.limits;
	f->sv.start_ms = uv_now(&f->loop);
	f->sv.log_level = 3;
	/* The tests' HTTP requests say "Host: t". */
	snprintf(f->sv.auth.allowed_hosts, sizeof(f->sv.auth.allowed_hosts), "t");
	if (tweak != NULL)
		tweak(&f->sv);
	server_derive_limits(&f->sv);
	char err[512] = "";
	assert_int_equal(resp_server_start(&f->sv.resp, &f->sv, "127.0.0.1:0", err, sizeof(err)),
	                 0);
	assert_int_equal(http_server_start(&f->sv.http, &f->sv, "127.0.0.1:0", err, sizeof(err)),
	                 0);
	struct node_status st;
	for (int i = 0; i < 5000; i++) {
		node_status(f->node, &st);
		if (st.role == RAFT_LEADER)
			break;
		h_pump(f);
	}
	assert_int_equal(st.role, RAFT_LEADER);
}

static void on_stopped(void *arg)
{
	((struct h_fixture *)arg)->stopped++;
}

void h_stop(struct h_fixture *f)
{
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
}

int h_dial(int port)
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

void h_send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

size_t h_recv_some(struct h_fixture *f, int fd, char *buf, size_t cap, size_t want)
{
	size_t len = 0;
	for (int i = 0; i < 10000 && len + 1 < cap && (want == 0 || len < want); i++) {
		h_pump(f);
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
