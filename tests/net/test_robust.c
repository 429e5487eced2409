/* test_robust.c: raw sockets that misbehave; the transport closes them and keeps serving. */
#include "harness.h"

#include "net/frame.h"
#include "proto/codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The raw client claims to be node 7, which the transports do not know as a peer. */
#define RAW_ID 7

static void short_handshake(struct net_config *cfg)
{
	cfg->connect_timeout_ms = 300;
	cfg->max_frame_bytes = 64 * 1024;
}

/* Nodes 0 and 1 of cluster 1, connected. */
static void setup(struct harness *h)
{
	h_init(h);
	h_start_mesh(h, 2, short_handshake);
}

/* After each attack: node 0 still reaches node 1 and back. */
static void check_still_serving(struct harness *h)
{
	uint32_t before_1 = h_count_from(h, 1, 0);
	uint32_t before_0 = h_count_from(h, 0, 1);
	assert_int_equal(h_send(h, 0, 1, RAFT_MSG_APPEND, 5, 2, 64), NET_OK);
	assert_int_equal(h_send(h, 1, 0, RAFT_MSG_APPEND_RESP, 6, 0, 0), NET_OK);
	assert_true(h_wait_received(h, 1, 0, before_1 + 1));
	assert_true(h_wait_received(h, 0, 1, before_0 + 1));
}

static void hello_frame(uint8_t out[NET_HANDSHAKE_FRAME_BYTES], uint64_t cluster, raft_id to)
{
	struct net_handshake hs = {
	    .version = NET_PROTOCOL_VERSION,
	    .kind = NET_HS_HELLO,
	    .cluster_id = cluster,
	    .from = RAW_ID,
	    .to = to,
	};
	net_handshake_encode(&hs, out);
}

/* Connects to node 1 and completes the handshake as node RAW_ID; checks the ACCEPT. */
static int raw_handshaken(struct harness *h)
{
	int fd = h_raw_connect(h, 1);
	assert_true(fd >= 0);
	uint8_t hello[NET_HANDSHAKE_FRAME_BYTES];
	hello_frame(hello, 1, 2);
	assert_true(h_raw_write(fd, hello, sizeof(hello)));
	return fd;
}

/* Sends `bytes` on a connection (handshaken first if asked), expects the transport to
 * close it and count one malformed connection. */
static void attack(const void *bytes, size_t len, bool handshake_first, bool close_after)
{
	struct harness h;
	setup(&h);
	int fd = handshake_first ? raw_handshaken(&h) : h_raw_connect(&h, 1);
	assert_true(fd >= 0);
	if (len > 0)
		assert_true(h_raw_write(fd, bytes, len));
	if (close_after) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		assert_true(h_raw_wait_closed(&h, fd));
		close(fd);
	}
	struct net_stats s;
	for (int k = 0; k < 500; k++) {
		s = h_stats(&h, 1, -1);
		if (s.malformed >= 1)
			break;
		h_run_for(&h, 10);
	}
	assert_int_equal(s.malformed, 1);
	assert_true(h.nodes[1].n_warn >= 1);
	check_still_serving(&h);
	s = h_stats(&h, 1, -1);
	assert_int_equal(s.inbound, 1); /* only node 0's connection is left */
	h_fini(&h);
}

static void test_garbage_before_handshake(void **state)
{
	(void)state;
	const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	attack(req, sizeof(req) - 1, false, false);
}

static void test_bad_magic(void **state)
{
	(void)state;
	uint8_t hello[NET_HANDSHAKE_FRAME_BYTES];
	hello_frame(hello, 1, 2);
	hello[NET_FRAME_HEADER_BYTES] ^= 0xff;
	attack(hello, sizeof(hello), false, false);
}

static void test_truncated_handshake(void **state)
{
	(void)state;
	uint8_t hello[NET_HANDSHAKE_FRAME_BYTES];
	hello_frame(hello, 1, 2);
	attack(hello, 20, false, true);
}

static void test_silent_connection_times_out(void **state)
{
	(void)state;
	attack(NULL, 0, false, false);
}

static void test_oversized_frame(void **state)
{
	(void)state;
	uint8_t header[4];
	net_put_u32(header, 0xfffffff0u);
	attack(header, sizeof(header), true, false);
}

static void test_limit_plus_one(void **state)
{
	(void)state;
	uint8_t header[4];
	net_put_u32(header, 64 * 1024 + 1);
	attack(header, sizeof(header), true, false);
}

static void test_zero_length(void **state)
{
	(void)state;
	uint8_t header[4] = {0, 0, 0, 0};
	attack(header, sizeof(header), true, false);
}

static void test_half_frame_then_close(void **state)
{
	(void)state;
	uint8_t frame[4 + 50];
	net_put_u32(frame, 100);
	memset(frame + 4, 0xab, 50);
	attack(frame, sizeof(frame), true, true);
}

static void test_undecodable_payload(void **state)
{
	(void)state;
	uint8_t frame[4 + 40];
	net_put_u32(frame, 40);
	memset(frame + 4, 0xff, 40);
	attack(frame, sizeof(frame), true, false);
}

/* A well-formed message that claims another sender than the handshake did: dropped. */
static void test_spoofed_sender(void **state)
{
	(void)state;
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_HEARTBEAT;
	m.from = 1; /* the handshake said RAW_ID */
	m.to = 2;
	m.term = 1;
	size_t size = proto_message_size(&m);
	uint8_t frame[256];
	assert_true(size + 4 <= sizeof(frame));
	net_put_u32(frame, (uint32_t)size);
	proto_message_encode(&m, frame + 4);
	/* Dropped, counted and logged; the connection itself stays. */
	struct harness h;
	setup(&h);
	int fd = raw_handshaken(&h);
	assert_true(h_raw_write(fd, frame, size + 4));
	for (int k = 0; k < 500 && h_stats(&h, 1, -1).dropped_sender == 0; k++)
		h_run_for(&h, 10);
	assert_int_equal(h_stats(&h, 1, -1).dropped_sender, 1);
	assert_int_equal(h_stats(&h, 1, -1).malformed, 0);
	assert_int_equal(h_count_from(&h, 1, 0), 0);
	assert_true(h.nodes[1].n_warn >= 1);
	close(fd);
	check_still_serving(&h);
	h_fini(&h);
}

/* A raw client that follows the protocol is served: the wire format is what docs/net.md
 * says. */
static void test_raw_valid_peer(void **state)
{
	(void)state;
	struct harness h;
	setup(&h);
	int fd = raw_handshaken(&h);
	uint8_t reply[NET_HANDSHAKE_FRAME_BYTES];
	size_t got = 0;
	for (int k = 0; k < 1000 && got < sizeof(reply); k++) {
		h_run_for(&h, 5);
		ssize_t r = recv(fd, reply + got, sizeof(reply) - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
	}
	assert_int_equal(got, sizeof(reply));
	struct net_handshake hs;
	assert_int_equal(net_handshake_decode(reply, &hs), NET_HS_PARSE_OK);
	assert_int_equal(hs.kind, NET_HS_ACCEPT);
	assert_int_equal(hs.from, 2);
	assert_int_equal(hs.to, RAW_ID);
	assert_int_equal(hs.cluster_id, 1);

	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_VOTE;
	m.from = RAW_ID;
	m.to = 2;
	m.term = 9;
	m.index = 3;
	m.log_term = 2;
	size_t size = proto_message_size(&m);
	uint8_t frame[256];
	net_put_u32(frame, (uint32_t)size);
	proto_message_encode(&m, frame + 4);
	/* Two frames in one write, the second split across two writes. */
	uint8_t two[512];
	memcpy(two, frame, size + 4);
	memcpy(two + size + 4, frame, size + 4);
	assert_true(h_raw_write(fd, two, size + 4 + 3));
	h_run_for(&h, 20);
	assert_true(h_raw_write(fd, two + size + 4 + 3, size + 4 - 3));
	struct h_node *b = &h.nodes[1];
	for (int k = 0; k < 1000 && b->n_msgs < 2; k++)
		h_run_for(&h, 5);
	assert_int_equal(b->n_msgs, 2);
	assert_int_equal(b->msgs[0].m.from, RAW_ID);
	assert_int_equal(b->msgs[1].m.term, 9);
	assert_int_equal(h_stats(&h, 1, -1).malformed, 0);
	close(fd);
	check_still_serving(&h);
	h_fini(&h);
}

/* A raw client of another cluster receives a REFUSE naming the reason, then EOF. */
static void test_raw_wrong_cluster(void **state)
{
	(void)state;
	struct harness h;
	setup(&h);
	int fd = h_raw_connect(&h, 1);
	assert_true(fd >= 0);
	uint8_t hello[NET_HANDSHAKE_FRAME_BYTES];
	hello_frame(hello, 99, 2);
	assert_true(h_raw_write(fd, hello, sizeof(hello)));
	uint8_t reply[NET_HANDSHAKE_FRAME_BYTES];
	size_t got = 0;
	for (int k = 0; k < 1000 && got < sizeof(reply); k++) {
		h_run_for(&h, 5);
		ssize_t r = recv(fd, reply + got, sizeof(reply) - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
	}
	assert_int_equal(got, sizeof(reply));
	struct net_handshake hs;
	assert_int_equal(net_handshake_decode(reply, &hs), NET_HS_PARSE_OK);
	assert_int_equal(hs.kind, NET_HS_REFUSE);
	assert_int_equal(hs.reason, NET_HS_ECLUSTER);
	assert_true(h_raw_wait_closed(&h, fd));
	close(fd);
	struct net_stats s = h_stats(&h, 1, -1);
	assert_int_equal(s.refused, 1);
	assert_int_equal(s.malformed, 0);
	check_still_serving(&h);
	h_fini(&h);
}

/* Many bad connections in a row, then the good peers still talk. */
static void test_many_bad_connections(void **state)
{
	(void)state;
	struct harness h;
	setup(&h);
	int fds[40];
	for (int k = 0; k < 40; k++) {
		fds[k] = h_raw_connect(&h, 1);
		assert_true(fds[k] >= 0);
		uint8_t junk[16];
		for (int b = 0; b < 16; b++)
			junk[b] = (uint8_t)(k * 13 + b * 7);
		assert_true(h_raw_write(fds[k], junk, sizeof(junk)));
	}
	for (int k = 0; k < 40; k++) {
		assert_true(h_raw_wait_closed(&h, fds[k]));
		close(fds[k]);
	}
	assert_int_equal(h_stats(&h, 1, -1).malformed, 40);
	check_still_serving(&h);
	h_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_garbage_before_handshake),
	    cmocka_unit_test(test_bad_magic),
	    cmocka_unit_test(test_truncated_handshake),
	    cmocka_unit_test(test_silent_connection_times_out),
	    cmocka_unit_test(test_oversized_frame),
	    cmocka_unit_test(test_limit_plus_one),
	    cmocka_unit_test(test_zero_length),
	    cmocka_unit_test(test_half_frame_then_close),
	    cmocka_unit_test(test_undecodable_payload),
	    cmocka_unit_test(test_spoofed_sender),
	    cmocka_unit_test(test_raw_valid_peer),
	    cmocka_unit_test(test_raw_wrong_cluster),
	    cmocka_unit_test(test_many_bad_connections),
	};
	return cmocka_run_group_tests_name("net-robust", tests, NULL, NULL);
}
