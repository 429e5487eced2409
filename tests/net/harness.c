/* harness.c: the 'net' suite's loop, nodes, waits and raw sockets. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct h_node *node_of(void *ctx)
{
	return ctx;
}

static void h_on_message(void *ctx, const struct raft_message *m)
{
	struct h_node *node = node_of(ctx);
	if (node->n_msgs == node->cap_msgs) {
		node->cap_msgs = node->cap_msgs ? node->cap_msgs * 2 : 64;
		assert_true(node->cap_msgs <= 1u << 20);
		node->msgs = realloc(node->msgs, node->cap_msgs * sizeof(*node->msgs));
		assert_non_null(node->msgs);
	}
	struct h_msg *hm = &node->msgs[node->n_msgs++];
	raft_message_copy(&hm->m, m);
	hm->at_ms = uv_now(&node->h->loop);
	if (node->on_message != NULL)
		node->on_message(node, m);
}

static void h_log(void *ctx, enum net_log_level level, const char *msg)
{
	struct h_node *node = node_of(ctx);
	if (level >= NET_LOG_WARN)
		node->n_warn++;
	if (level >= NET_LOG_ERROR)
		node->n_error++;
	if (getenv("NET_TEST_VERBOSE") != NULL)
		fprintf(stderr, "[node %llu] %s: %s\n", (unsigned long long)node->id,
		        net_log_level_name(level), msg);
}

void h_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	assert_int_equal(uv_loop_init(&h->loop), 0);
	for (int i = 0; i < H_NODES_MAX; i++)
		h->nodes[i].h = h;
}

static void h_node_closed_cb(void *ctx)
{
	struct h_node *node = ctx;
	node->closed = true;
}

static bool pred_node_closed(struct harness *h, void *arg)
{
	(void)h;
	return ((struct h_node *)arg)->closed;
}

static void h_node_free_msgs(struct h_node *node)
{
	for (uint32_t k = 0; k < node->n_msgs; k++)
		raft_message_release(&node->msgs[k].m);
	free(node->msgs);
	node->msgs = NULL;
	node->n_msgs = 0;
	node->cap_msgs = 0;
}

void h_node_close(struct harness *h, int i)
{
	struct h_node *node = &h->nodes[i];
	assert_true(node->open);
	node->open = false;
	node->closed = false;
	net_close(node->net, h_node_closed_cb, node);
	node->net = NULL;
	assert_true(h_run_until(h, pred_node_closed, node, H_TIMEOUT_MS));
}

void h_fini(struct harness *h)
{
	for (int i = 0; i < H_NODES_MAX; i++) {
		if (h->nodes[i].open)
			h_node_close(h, i);
		h_node_free_msgs(&h->nodes[i]);
	}
	/* Whatever remains (timers being closed) finishes here; then nothing may be left. */
	uv_run(&h->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&h->loop), 0);
}

int h_node_start(struct harness *h, int i, raft_id id, uint64_t cluster_id, const char *listen,
                 h_config_fn tweak)
{
	struct h_node *node = &h->nodes[i];
	assert_false(node->open);
	h_node_free_msgs(node);
	node->id = id;
	node->cluster_id = cluster_id;
	node->n_warn = 0;
	node->n_error = 0;
	struct net_config cfg;
	net_config_default(&cfg);
	cfg.cluster_id = cluster_id;
	cfg.self_id = id;
	cfg.listen_address = listen;
	cfg.backoff_min_ms = 10;
	cfg.backoff_max_ms = 100;
	cfg.connect_timeout_ms = 2000;
	cfg.seed = 42;
	cfg.on_message = h_on_message;
	cfg.log = h_log;
	cfg.ctx = node;
	if (tweak != NULL)
		tweak(&cfg);
	char errmsg[NET_ERRMSG_SIZE];
	int rv = net_new(&node->net, &h->loop, &cfg, errmsg);
	assert_int_equal(rv, NET_OK);
	node->open = true;
	rv = net_start(node->net);
	if (rv != NET_OK) {
		h_node_close(h, i);
		return rv;
	}
	node->port = net_port(node->net);
	assert_true(node->port > 0);
	return NET_OK;
}

const char *h_address(struct harness *h, int i, const char *host)
{
	static char buf[H_NODES_MAX][NET_ADDRESS_MAX_BYTES];
	if (host == NULL)
		host = "127.0.0.1";
	if (strchr(host, ':') != NULL)
		snprintf(buf[i], sizeof(buf[i]), "[%s]:%d", host, h->nodes[i].port);
	else
		snprintf(buf[i], sizeof(buf[i]), "%s:%d", host, h->nodes[i].port);
	return buf[i];
}

void h_peer(struct harness *h, int i, int j, const char *host)
{
	assert_int_equal(net_peer_set(h->nodes[i].net, h->nodes[j].id, h_address(h, j, host)),
	                 NET_OK);
}

void h_start_mesh(struct harness *h, int count, h_config_fn tweak)
{
	assert_true(count <= H_NODES_MAX);
	for (int i = 0; i < count; i++)
		assert_int_equal(h_node_start(h, i, (raft_id)(i + 1), 1, "127.0.0.1:0", tweak),
		                 NET_OK);
	for (int i = 0; i < count; i++)
		for (int j = 0; j < count; j++)
			if (i != j)
				h_peer(h, i, j, NULL);
	for (int i = 0; i < count; i++)
		for (int j = 0; j < count; j++)
			if (i != j)
				assert_true(h_wait_connects(h, i, j, 1));
}

/* A timer that wakes the loop regularly, so that UV_RUN_ONCE returns and the deadline
 * and the predicate are checked even when nothing else happens. */
static void h_tick_cb(uv_timer_t *t)
{
	(void)t;
}

bool h_run_until(struct harness *h, bool (*pred)(struct harness *h, void *arg), void *arg,
                 uint64_t timeout_ms)
{
	uv_timer_t tick;
	assert_int_equal(uv_timer_init(&h->loop, &tick), 0);
	uv_timer_start(&tick, h_tick_cb, 2, 2);
	uv_update_time(&h->loop);
	uint64_t deadline = uv_now(&h->loop) + timeout_ms;
	bool ok = pred(h, arg);
	while (!ok && uv_now(&h->loop) < deadline) {
		uv_run(&h->loop, UV_RUN_ONCE);
		ok = pred(h, arg);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&h->loop, UV_RUN_NOWAIT); /* lets the tick's close finish */
	return ok;
}

static bool pred_never(struct harness *h, void *arg)
{
	(void)h;
	(void)arg;
	return false;
}

void h_run_for(struct harness *h, uint64_t ms)
{
	h_run_until(h, pred_never, NULL, ms);
}

struct link_arg {
	int i;
	int j;
	uint64_t n;
};

static bool pred_connects(struct harness *h, void *arg)
{
	struct link_arg *a = arg;
	struct net_stats s = h_stats(h, a->i, a->j);
	return s.connects >= a->n && s.connected == 1;
}

bool h_wait_connects(struct harness *h, int i, int j, uint64_t connects)
{
	struct link_arg a = {i, j, connects};
	return h_run_until(h, pred_connects, &a, H_TIMEOUT_MS);
}

static bool pred_received(struct harness *h, void *arg)
{
	struct link_arg *a = arg;
	return h_count_from(h, a->i, a->j) >= a->n;
}

bool h_wait_received(struct harness *h, int i, int j, uint32_t count)
{
	struct link_arg a = {i, j, count};
	return h_run_until(h, pred_received, &a, H_TIMEOUT_MS);
}

int h_send(struct harness *h, int i, int j, enum raft_msg_type type, uint64_t context,
           uint32_t n_entries, uint32_t payload_bytes)
{
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = h->nodes[i].id;
	m.to = h->nodes[j].id;
	m.term = 5;
	m.index = 100;
	m.log_term = 4;
	m.commit = 99;
	m.context = context;
	struct raft_entry entries[64];
	assert_true(n_entries <= 64);
	unsigned char *payload = malloc(payload_bytes > 0 ? payload_bytes : 1);
	assert_non_null(payload);
	for (uint32_t k = 0; k < n_entries; k++) {
		for (uint32_t b = 0; b < payload_bytes; b++)
			payload[b] = (unsigned char)(context * 31 + k * 7 + b);
		entries[k].term = 5;
		entries[k].index = m.index + 1 + k;
		entries[k].type = RAFT_ENTRY_NORMAL;
		entries[k].buf = payload_bytes > 0 ? raft_buf_new(payload, payload_bytes) : NULL;
	}
	m.n_entries = n_entries;
	m.entries = n_entries > 0 ? entries : NULL;
	int rv = net_send(h->nodes[i].net, &m);
	/* The transport encoded the message: everything here may go at once. */
	for (uint32_t k = 0; k < n_entries; k++)
		raft_buf_unref(entries[k].buf);
	free(payload);
	return rv;
}

uint32_t h_count_from(struct harness *h, int i, int j)
{
	uint32_t count = 0;
	struct h_node *node = &h->nodes[i];
	for (uint32_t k = 0; k < node->n_msgs; k++)
		if (node->msgs[k].m.from == h->nodes[j].id)
			count++;
	return count;
}

struct net_stats h_stats(struct harness *h, int i, int j)
{
	struct net_stats s;
	memset(&s, 0, sizeof(s));
	raft_id peer = j < 0 ? RAFT_NONE : h->nodes[j].id;
	int rv = net_stats_get(h->nodes[i].net, peer, &s);
	assert_int_equal(rv, NET_OK);
	return s;
}

int h_raw_connect(struct harness *h, int i)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", h->nodes[i].port, &sa);
	/* Loopback connects complete from the kernel's backlog, before the loop accepts. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

bool h_raw_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

static bool pred_raw_closed(struct harness *h, void *arg)
{
	int fd = *(int *)arg;
	(void)h;
	char buf[256];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0)
			continue; /* a handshake reply, say: read on to the end */
		if (r == 0)
			return true;
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	}
}

bool h_raw_wait_closed(struct harness *h, int fd)
{
	return h_run_until(h, pred_raw_closed, &fd, H_TIMEOUT_MS);
}
