/* test_deliver.c: delivery, order, reconnects, refusals, queue bounds and peer changes. */
#include "harness.h"

#include "net/frame.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Checks that an APPEND arrived with the entries h_send built, byte for byte. */
static void check_append(const struct raft_message *m, uint32_t n_entries, uint32_t payload_bytes)
{
	assert_int_equal(m->type, RAFT_MSG_APPEND);
	assert_int_equal(m->n_entries, n_entries);
	assert_int_equal(m->index, 100);
	assert_int_equal(m->log_term, 4);
	assert_int_equal(m->commit, 99);
	for (uint32_t k = 0; k < n_entries; k++) {
		const struct raft_entry *e = &m->entries[k];
		assert_int_equal(e->index, 101 + k);
		assert_int_equal(e->term, 5);
		assert_int_equal(raft_entry_len(e), payload_bytes);
		const unsigned char *d = raft_entry_data(e);
		for (uint32_t b = 0; b < payload_bytes; b++)
			assert_int_equal(d[b], (unsigned char)(m->context * 31 + k * 7 + b));
	}
}

/* Three transports: every link carries all its messages, intact and in order. */
static void test_mesh_in_order(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 3, NULL);
	const uint32_t per_link = 300;
	for (uint32_t k = 0; k < per_link; k++) {
		for (int i = 0; i < 3; i++) {
			for (int j = 0; j < 3; j++) {
				if (i == j)
					continue;
				enum raft_msg_type t = (enum raft_msg_type)(1 + k % 9);
				uint32_t n_entries = t == RAFT_MSG_APPEND ? 1 + k % 5 : 0;
				assert_int_equal(h_send(&h, i, j, t, k, n_entries, k % 700),
				                 NET_OK);
			}
		}
	}
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j)
				assert_true(h_wait_received(&h, i, j, per_link));
	for (int i = 0; i < 3; i++) {
		struct h_node *node = &h.nodes[i];
		uint64_t next[4] = {0};
		for (uint32_t k = 0; k < node->n_msgs; k++) {
			const struct raft_message *m = &node->msgs[k].m;
			assert_int_equal(m->to, node->id);
			assert_true(m->from >= 1 && m->from <= 3);
			assert_int_equal(m->context, next[m->from]);
			next[m->from]++;
			assert_int_equal(m->type, 1 + m->context % 9);
			if (m->type == RAFT_MSG_APPEND)
				check_append(m, 1 + m->context % 5, m->context % 700);
			assert_int_equal(m->term, 5);
		}
		struct net_stats s = h_stats(&h, i, -1);
		assert_int_equal(s.received_msgs, 2 * per_link);
		assert_int_equal(s.dropped_queue, 0);
		assert_int_equal(s.malformed, 0);
		assert_int_equal(s.refused, 0);
		assert_int_equal(s.connected, 2);
		assert_int_equal(node->n_warn, 0);
	}
	h_fini(&h);
}

/* A burst of messages queued in one callback leaves in one write. */
static void test_burst_one_write(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	uint64_t writes = h_stats(&h, 0, 1).writes;
	for (uint64_t k = 0; k < 100; k++)
		assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, k, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 100));
	struct net_stats s = h_stats(&h, 0, 1);
	assert_int_equal(s.writes, writes + 1);
	assert_int_equal(s.sent_msgs, 100);
	assert_int_equal(s.queued_msgs, 0);
	assert_int_equal(s.queued_bytes, 0);
	h_fini(&h);
}

/* A large APPEND (several hundred KiB) crosses intact: reads span many chunks. */
static void test_large_append(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, 3, 8, 100000), NET_OK);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 4, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 2));
	check_append(&h.nodes[1].msgs[0].m, 8, 100000);
	assert_int_equal(h.nodes[1].msgs[1].m.context, 4);
	h_fini(&h);
}

/* A peer that restarts on the same port: the link reconnects and delivery resumes,
 * including what was queued while it was away. */
static void test_restart_reconnects(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 0, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));

	int port = h.nodes[1].port;
	h_node_close(&h, 1);
	h_run_for(&h, 50); /* node 0 notices and starts redialing */
	for (uint64_t k = 1; k <= 10; k++)
		assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, k, 0, 0), NET_OK);

	char listen[NET_ADDRESS_MAX_BYTES];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_int_equal(h_node_start(&h, 1, 2, 1, listen, NULL), NET_OK);
	h_peer(&h, 1, 0, NULL);
	assert_true(h_wait_connects(&h, 0, 1, 2));
	assert_true(h_wait_received(&h, 1, 0, 10));
	for (uint32_t k = 0; k < 10; k++)
		assert_int_equal(h.nodes[1].msgs[k].m.context, k + 1);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_VOTE, 11, 0, 0), NET_OK);
	assert_int_equal(h_send(&h, 1, 0, RAFT_MSG_VOTE_RESP, 12, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 11));
	assert_true(h_wait_received(&h, 0, 1, 1));
	struct net_stats s = h_stats(&h, 0, 1);
	assert_true(s.reconnects >= 1);
	assert_true(s.dials >= 2);
	h_fini(&h);
}

/* A node of another cluster is refused on both sides of the handshake, logged, and the
 * good links keep working. */
static void cluster_two(struct net_config *cfg)
{
	cfg->cluster_id = 2;
}

static bool pred_refused(struct harness *h, void *arg)
{
	int *ij = arg;
	return h_stats(h, ij[0], ij[1]).refused >= 1 && h_stats(h, ij[2], -1).refused >= 1;
}

static void test_wrong_cluster_refused(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	assert_int_equal(h_node_start(&h, 2, 3, 2, "127.0.0.1:0", cluster_two), NET_OK);
	/* Node 0 (cluster 1) dials node 2 (cluster 2), and node 2 dials node 1. */
	h_peer(&h, 0, 2, NULL);
	h_peer(&h, 2, 1, NULL);
	int a[3] = {0, 2, 2};
	assert_true(h_run_until(&h, pred_refused, a, H_TIMEOUT_MS));
	int b[3] = {2, 1, 1};
	assert_true(h_run_until(&h, pred_refused, b, H_TIMEOUT_MS));
	assert_true(h.nodes[2].n_warn >= 1);  /* node 2 logged refusing node 0 */
	assert_true(h.nodes[0].n_error >= 1); /* node 0 logged being refused */
	assert_int_equal(h_stats(&h, 0, 2).connects, 0);
	assert_int_equal(h_stats(&h, 2, 1).connects, 0);
	/* Messages to a refusing peer wait (bounded) and are never delivered. */
	assert_int_equal(h_send(&h, 0, 2, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_OK);
	assert_int_equal(h_send(&h, 2, 1, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_OK);
	/* The good link is unaffected. */
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 7, 0, 0), NET_OK);
	assert_int_equal(h_send(&h, 1, 0, RAFT_MSG_HEARTBEAT, 8, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));
	assert_true(h_wait_received(&h, 0, 1, 1));
	h_run_for(&h, 100);
	assert_int_equal(h.nodes[2].n_msgs, 0);
	assert_int_equal(h_count_from(&h, 1, 2), 0);
	h_fini(&h);
}

/* A dialer that finds another node at the address it was given is refused. */
static void test_wrong_node_refused(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	/* Node 0 believes node 9 lives at node 1's address. */
	assert_int_equal(net_peer_set(h.nodes[0].net, 9, h_address(&h, 1, NULL)), NET_OK);
	int a[3] = {0, -1, 1};
	assert_true(h_run_until(&h, pred_refused, a, H_TIMEOUT_MS));
	assert_int_equal(h_stats(&h, 0, 1).refused, 0); /* the real link is fine */
	struct net_stats s;
	assert_int_equal(net_stats_get(h.nodes[0].net, 9, &s), NET_OK);
	assert_true(s.refused >= 1);
	assert_int_equal(s.connects, 0);
	h_fini(&h);
}

/* A peer that accepts TCP but never answers the handshake: frames wait in the queue up to
 * its bound, the rest are dropped and counted, and memory stays bounded. */
static void small_queue(struct net_config *cfg)
{
	cfg->max_queue_msgs = 50;
	cfg->max_frame_bytes = 8192;
	cfg->max_queue_bytes = 40000;
}

static int raw_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t len = sizeof(sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void test_queue_bound(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	assert_int_equal(h_node_start(&h, 0, 1, 1, "127.0.0.1:0", small_queue), NET_OK);
	int port = 0;
	int lfd = raw_listener(&port);
	char addr[NET_ADDRESS_MAX_BYTES];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(net_peer_set(h.nodes[0].net, 5, addr), NET_OK);
	h.nodes[1].id = 5; /* so that h_send can address it */
	h_run_for(&h, 30);

	/* By count: 500 heartbeats, 50 held. */
	for (uint64_t k = 0; k < 500; k++)
		assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, k, 0, 0), NET_OK);
	struct net_stats s = h_stats(&h, 0, 1);
	assert_int_equal(s.queued_msgs, 50);
	assert_int_equal(s.dropped_queue, 450);
	assert_true(s.queued_bytes <= 40000);
	h_run_for(&h, 50);
	s = h_stats(&h, 0, 1);
	assert_int_equal(s.queued_msgs, 50);
	assert_int_equal(s.sent_msgs, 0);

	/* By bytes, on a fresh link: 4 KB entries fill 40000 bytes after 9 frames. */
	assert_int_equal(net_peer_remove(h.nodes[0].net, 5), NET_OK);
	assert_int_equal(net_peer_set(h.nodes[0].net, 5, addr), NET_OK);
	for (uint64_t k = 0; k < 100; k++)
		assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, k, 1, 4000), NET_OK);
	s = h_stats(&h, 0, 1);
	assert_true(s.queued_bytes <= 40000);
	assert_true(s.queued_bytes > 40000 - 4100);
	assert_int_equal(s.queued_msgs + s.dropped_queue, 100);
	assert_true(s.dropped_queue >= 80);
	close(lfd);
	h_fini(&h);
}

/* A peer that completes the handshake and then stops reading: sends never block, the
 * link holds at most its bound, the rest is dropped and counted; when the peer vanishes
 * with a write under way, that write's frames are counted lost and the rest wait. */
static void mib_queue(struct net_config *cfg)
{
	cfg->max_frame_bytes = 64 * 1024;
	cfg->max_queue_bytes = 1024 * 1024;
}

static bool pred_dialed(struct harness *h, void *arg)
{
	(void)arg;
	return h_stats(h, 0, 1).dials >= 1;
}

static void test_stalled_reader(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	assert_int_equal(h_node_start(&h, 0, 1, 1, "127.0.0.1:0", mib_queue), NET_OK);
	int port = 0;
	int lfd = raw_listener(&port);
	int small = 4096;
	assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	char addr[NET_ADDRESS_MAX_BYTES];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(net_peer_set(h.nodes[0].net, 5, addr), NET_OK);
	h.nodes[1].id = 5;
	assert_true(h_run_until(&h, pred_dialed, NULL, H_TIMEOUT_MS));
	h_run_for(&h, 20);
	int fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	uint8_t hello[NET_HANDSHAKE_FRAME_BYTES];
	assert_int_equal(recv(fd, hello, sizeof(hello), MSG_WAITALL), (ssize_t)sizeof(hello));
	struct net_handshake hs;
	assert_int_equal(net_handshake_decode(hello, &hs), NET_HS_PARSE_OK);
	assert_int_equal(hs.kind, NET_HS_HELLO);
	assert_int_equal(hs.from, 1);
	assert_int_equal(hs.to, 5);
	struct net_handshake accept_hs = {.version = NET_PROTOCOL_VERSION,
	                                  .kind = NET_HS_ACCEPT,
	                                  .cluster_id = 1,
	                                  .from = 5,
	                                  .to = 1};
	uint8_t reply[NET_HANDSHAKE_FRAME_BYTES];
	net_handshake_encode(&accept_hs, reply);
	assert_true(h_raw_write(fd, reply, sizeof(reply)));
	assert_true(h_wait_connects(&h, 0, 1, 1));

	/* Until the queue overflows: how much the kernel absorbs first depends on its
	 * buffer settings, so the test sends until it sees drops (at most 2000 frames). */
	uint32_t total = 0;
	while (total < 2000 && h_stats(&h, 0, 1).dropped_queue == 0) {
		for (uint32_t k = 0; k < 50; k++, total++)
			assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, total, 1, 16000),
			                 NET_OK);
		h_run_for(&h, 5);
	}
	h_run_for(&h, 100);
	struct net_stats s = h_stats(&h, 0, 1);
	if (getenv("NET_TEST_VERBOSE") != NULL)
		fprintf(stderr, "stalled: sent %llu queued %llu (%llu bytes) dropped %llu\n",
		        (unsigned long long)s.sent_msgs, (unsigned long long)s.queued_msgs,
		        (unsigned long long)s.queued_bytes, (unsigned long long)s.dropped_queue);
	assert_true(s.queued_bytes <= 1024 * 1024);
	assert_true(s.dropped_queue > 0);
	assert_int_equal(s.sent_msgs + s.queued_msgs + s.dropped_queue, total);

	/* The reader vanishes (with unread data: a reset). */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	close(lfd);
	for (int k = 0; k < 500; k++) {
		s = h_stats(&h, 0, 1);
		if (s.connected == 0 && s.dropped_conn > 0)
			break;
		h_run_for(&h, 10);
	}
	assert_int_equal(s.connected, 0);
	assert_true(s.dropped_conn > 0);
	assert_int_equal(s.sent_msgs + s.queued_msgs + s.dropped_queue + s.dropped_conn, total);
	h_fini(&h);
}

/* A message whose encoding exceeds the frame limit is refused with a clear error. */
static void small_frames(struct net_config *cfg)
{
	cfg->max_frame_bytes = 4096;
}

static void test_too_big(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, small_frames);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, 1, 1, 5000), NET_ETOOBIG);
	assert_non_null(strstr(net_errmsg(h.nodes[0].net), "4096"));
	assert_int_equal(h_stats(&h, 0, 1).dropped_too_big, 1);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, 2, 1, 3000), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));
	check_append(&h.nodes[1].msgs[0].m, 1, 3000);
	h_fini(&h);
}

/* Membership changes: a removed peer is unknown to net_send; re-added it reconnects; an
 * address change redials. */
static void test_peer_changes(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 3, NULL);
	struct net *a = h.nodes[0].net;
	raft_id ids[NET_PEERS_MAX];
	assert_int_equal(net_peer_list(a, ids, NET_PEERS_MAX), 2);
	assert_int_equal(net_peer_remove(a, 2), NET_OK);
	assert_int_equal(net_peer_remove(a, 2), NET_ENOPEER);
	assert_int_equal(net_peer_list(a, ids, NET_PEERS_MAX), 1);
	assert_int_equal(ids[0], 3);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_ENOPEER);
	/* Node 1 still reaches node 0 over its own connection. */
	assert_int_equal(h_send(&h, 1, 0, RAFT_MSG_HEARTBEAT, 2, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 0, 1, 1));

	/* Back again, first at a wrong address (node 2's), then moved to the right one. */
	assert_int_equal(net_peer_set(a, 2, h_address(&h, 2, NULL)), NET_OK);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 3, 0, 0), NET_OK);
	h_run_for(&h, 100);
	assert_int_equal(h_stats(&h, 0, 1).connects, 0);
	assert_int_equal(net_peer_set(a, 2, h_address(&h, 1, NULL)), NET_OK);
	assert_true(h_wait_connects(&h, 0, 1, 1));
	assert_true(h_wait_received(&h, 1, 0, 1));
	assert_int_equal(h.nodes[1].msgs[0].m.context, 3);

	/* Bad input. */
	assert_int_equal(net_peer_set(a, 0, "127.0.0.1:1"), NET_EINVAL);
	assert_int_equal(net_peer_set(a, 1, "127.0.0.1:1"), NET_EINVAL);
	assert_int_equal(net_peer_set(a, 7, "localhost:1"), NET_EADDR);
	assert_int_equal(net_peer_set(a, 7, "::1:80"), NET_EADDR);
	assert_int_equal(net_peer_set(a, 7, "127.0.0.1:65536"), NET_EADDR);
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_HEARTBEAT;
	m.from = 1;
	m.to = 1;
	assert_int_equal(net_send(a, &m), NET_EINVAL);
	m.from = 2;
	m.to = 3;
	assert_int_equal(net_send(a, &m), NET_EINVAL);
	h_fini(&h);
}

/* net_new refuses bad configurations with a sentence naming the field. */
static void dummy_on_message(void *ctx, const struct raft_message *m)
{
	(void)ctx;
	(void)m;
}

static void test_config_errors(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct net_config cfg;
	net_config_default(&cfg);
	cfg.cluster_id = 1;
	cfg.self_id = 1;
	cfg.listen_address = "127.0.0.1:0";
	cfg.on_message = dummy_on_message;
	struct net *n = NULL;
	char err[NET_ERRMSG_SIZE];

	struct net_config c = cfg;
	c.self_id = 0;
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EINVAL);
	assert_non_null(strstr(err, "self_id"));
	c = cfg;
	c.on_message = NULL;
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EINVAL);
	c = cfg;
	c.listen_address = "nowhere";
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EADDR);
	assert_non_null(strstr(err, "nowhere"));
	c = cfg;
	c.max_frame_bytes = 10;
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EINVAL);
	assert_non_null(strstr(err, "max_frame_bytes"));
	c.max_frame_bytes = NET_FRAME_MAX_BYTES + 1;
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EINVAL);
	c.max_frame_bytes = 4096;
	c.max_queue_bytes = 4096;
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EINVAL);
	assert_non_null(strstr(err, "max_queue_bytes"));
	c = cfg;
	c.backoff_min_ms = 500;
	c.backoff_max_ms = 100;
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EINVAL);
	struct net_peer_addr peers[2] = {{2, "127.0.0.1:1"}, {2, "127.0.0.1:2"}};
	c = cfg;
	c.peers = peers;
	c.n_peers = 2;
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EINVAL);
	assert_non_null(strstr(err, "twice"));
	peers[1].id = 1;
	assert_int_equal(net_new(&n, &loop, &c, NULL), NET_EINVAL);
	peers[1].id = 3;
	peers[1].address = "[::1]80";
	assert_int_equal(net_new(&n, &loop, &c, err), NET_EADDR);
	assert_null(n);

	/* A port already taken: net_start fails with the reason, net_close cleans up. */
	peers[1].address = "[::1]:80";
	assert_int_equal(net_new(&n, &loop, &c, err), NET_OK);
	assert_int_equal(net_start(n), NET_OK);
	char taken[NET_ADDRESS_MAX_BYTES];
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", net_port(n));
	struct net *n2 = NULL;
	c = cfg;
	c.listen_address = taken;
	assert_int_equal(net_new(&n2, &loop, &c, err), NET_OK);
	assert_int_equal(net_start(n2), NET_ELISTEN);
	assert_non_null(strstr(net_errmsg(n2), taken));
	net_close(n2, NULL, NULL);
	net_close(n, NULL, NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* IPv6 loopback, when the host has it. */
static void test_ipv6(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	if (h_node_start(&h, 0, 1, 1, "[::1]:0", NULL) != NET_OK) {
		h_fini(&h);
		skip();
	}
	assert_int_equal(h_node_start(&h, 1, 2, 1, "[::1]:0", NULL), NET_OK);
	h_peer(&h, 0, 1, "::1");
	h_peer(&h, 1, 0, "::1");
	assert_true(h_wait_connects(&h, 0, 1, 1));
	assert_true(h_wait_connects(&h, 1, 0, 1));
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, 1, 3, 100), NET_OK);
	assert_int_equal(h_send(&h, 1, 0, RAFT_MSG_APPEND_RESP, 2, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));
	assert_true(h_wait_received(&h, 0, 1, 1));
	check_append(&h.nodes[1].msgs[0].m, 3, 100);
	h_fini(&h);
}

/* on_message may close the transport: nothing more is delivered and nothing leaks. */
static void close_on_third(struct h_node *node, const struct raft_message *m)
{
	(void)m;
	if (node->n_msgs == 3) {
		node->open = false;
		node->closed = false;
		net_close(node->net, NULL, NULL);
		node->net = NULL;
	}
}

static void test_close_from_callback(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	h.nodes[1].on_message = close_on_third;
	for (uint64_t k = 0; k < 20; k++)
		assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, k, 0, 0), NET_OK);
	h_run_for(&h, 200);
	assert_int_equal(h.nodes[1].n_msgs, 3);
	h_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mesh_in_order),
	    cmocka_unit_test(test_burst_one_write),
	    cmocka_unit_test(test_large_append),
	    cmocka_unit_test(test_restart_reconnects),
	    cmocka_unit_test(test_wrong_cluster_refused),
	    cmocka_unit_test(test_wrong_node_refused),
	    cmocka_unit_test(test_queue_bound),
	    cmocka_unit_test(test_stalled_reader),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_peer_changes),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_close_from_callback),
	};
	return cmocka_run_group_tests_name("net-deliver", tests, NULL, NULL);
}
