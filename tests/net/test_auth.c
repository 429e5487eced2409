/* test_auth.c: the handshake with a shared secret: peers that know it connect; strangers,
 * wrong secrets, replayed or misattributed proofs and forged senders get nothing delivered. */
#include "harness.h"

#include "net/frame.h"
#include "proto/codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAW_ID 7

static const char secret_a[] = "correct horse battery staple";
static const char secret_b[] = "another secret of some length";

static void with_secret_a(struct net_config *cfg)
{
	cfg->secret = (const uint8_t *)secret_a;
	cfg->secret_len = (uint32_t)strlen(secret_a);
	cfg->connect_timeout_ms = 500;
	cfg->backoff_max_ms = 200;
}

static void with_secret_b(struct net_config *cfg)
{
	with_secret_a(cfg);
	cfg->secret = (const uint8_t *)secret_b;
	cfg->secret_len = (uint32_t)strlen(secret_b);
}

static void without_secret(struct net_config *cfg)
{
	cfg->connect_timeout_ms = 500;
	cfg->backoff_max_ms = 200;
}

/* The proof as docs/net.md specifies it, computed independently of src/net. */
static void proof(const char *secret, char role, uint64_t cluster, uint64_t dialer,
                  uint64_t acceptor, const uint8_t nd[32], const uint8_t na[32], uint8_t out[32])
{
	uint8_t in[16 + 24 + 64];
	memcpy(in, "concord-peer-v2", 15);
	in[15] = (uint8_t)role;
	uint64_t ids[3] = {cluster, dialer, acceptor};
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 8; i++)
			in[16 + 8 * k + i] = (uint8_t)(ids[k] >> (8 * i));
	memcpy(in + 40, nd, 32);
	memcpy(in + 72, na, 32);
	unsigned len = 32;
	assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), in, sizeof(in), out, &len));
}

/* Reads exactly `len` bytes from the raw socket, running the loop; false on EOF. */
static bool raw_read(struct harness *h, int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	for (int k = 0; k < 2000 && got < len; k++) {
		h_run_for(h, 5);
		ssize_t r = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (r == 0)
			return false;
		if (r > 0)
			got += (size_t)r;
	}
	return got == len;
}

static void frame32(uint8_t out[36], const uint8_t payload[32])
{
	net_put_u32(out, 32);
	memcpy(out + 4, payload, 32);
}

/* A raw dialer: HELLO (version 2, claiming `from`) and a nonce; returns the socket with
 * the acceptor's challenge read into na and its proof checked. */
static int raw_challenged(struct harness *h, raft_id from, uint8_t nd[32], uint8_t na[32])
{
	int fd = h_raw_connect(h, 1);
	assert_true(fd >= 0);
	struct net_handshake hs = {
	    .version = NET_PROTOCOL_VERSION_AUTH,
	    .kind = NET_HS_HELLO,
	    .cluster_id = 1,
	    .from = from,
	    .to = 2,
	};
	uint8_t hello[NET_HANDSHAKE_FRAME_BYTES + 36];
	net_handshake_encode(&hs, hello);
	assert_int_equal(RAND_bytes(nd, 32), 1);
	frame32(hello + NET_HANDSHAKE_FRAME_BYTES, nd);
	assert_true(h_raw_write(fd, hello, sizeof(hello)));
	uint8_t ch[4 + 64];
	assert_true(raw_read(h, fd, ch, sizeof(ch)));
	assert_int_equal(net_get_u32(ch), 64);
	memcpy(na, ch + 4, 32);
	uint8_t want[32];
	proof(secret_a, 'A', 1, from, 2, nd, na, want);
	assert_memory_equal(want, ch + 36, 32); /* the acceptor knows the secret */
	return fd;
}

/* A message frame of `type` claiming `from`, with a high term. */
static size_t message_frame(uint8_t *out, size_t cap, enum raft_msg_type type, raft_id from)
{
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = 2;
	m.term = 1000;
	size_t size = proto_message_size(&m);
	assert_true(size + 4 <= cap);
	net_put_u32(out, (uint32_t)size);
	proto_message_encode(&m, out + 4);
	return size + 4;
}

/* Reads the final handshake frame and checks it is a REFUSE for authentication. */
static void expect_refused(struct harness *h, int fd)
{
	uint8_t reply[NET_HANDSHAKE_FRAME_BYTES];
	assert_true(raw_read(h, fd, reply, sizeof(reply)));
	struct net_handshake hs;
	assert_int_equal(net_handshake_decode(reply, &hs), NET_HS_PARSE_OK);
	assert_int_equal(hs.kind, NET_HS_REFUSE);
	assert_int_equal(hs.reason, NET_HS_EAUTH);
	assert_true(h_raw_wait_closed(h, fd));
	close(fd);
}

static void test_secret_mesh_delivers(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 3, with_secret_a);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, 5, 2, 64), NET_OK);
	assert_int_equal(h_send(&h, 2, 1, RAFT_MSG_VOTE, 6, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));
	assert_true(h_wait_received(&h, 1, 2, 1));
	assert_int_equal(h_stats(&h, 1, -1).auth_failed, 0);
	h_fini(&h);
}

/* Two nodes with different secrets, or one without: no link comes up, both refuse. */
static void mismatch(h_config_fn a, h_config_fn b)
{
	struct harness h;
	h_init(&h);
	assert_int_equal(h_node_start(&h, 0, 1, 1, "127.0.0.1:0", a), 0);
	assert_int_equal(h_node_start(&h, 1, 2, 1, "127.0.0.1:0", b), 0);
	h_peer(&h, 0, 1, NULL);
	h_peer(&h, 1, 0, NULL);
	for (int k = 0; k < 300 && h_stats(&h, 0, -1).refused + h_stats(&h, 1, -1).refused < 4; k++)
		h_run_for(&h, 10);
	assert_true(h_stats(&h, 0, -1).refused >= 2);
	assert_true(h_stats(&h, 1, -1).refused >= 2);
	assert_int_equal(h_stats(&h, 0, -1).connects, 0);
	assert_int_equal(h_stats(&h, 1, -1).connects, 0);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_OK);
	h_run_for(&h, 100);
	assert_int_equal(h.nodes[1].n_msgs, 0);
	h_fini(&h);
}

static void test_wrong_secret_refused(void **state)
{
	(void)state;
	mismatch(with_secret_a, with_secret_b);
}

static void test_secret_on_one_side_refused(void **state)
{
	(void)state;
	mismatch(with_secret_a, without_secret);
	mismatch(without_secret, with_secret_a);
}

static void setup_secret(struct harness *h)
{
	h_init(h);
	h_start_mesh(h, 2, with_secret_a);
}

/* The plain handshake (which only needs the cluster id), then forged messages: a
 * TIMEOUT_NOW and an append of a high term. Refused, nothing delivered. */
static void test_plain_hello_refused(void **state)
{
	(void)state;
	struct harness h;
	setup_secret(&h);
	int fd = h_raw_connect(&h, 1);
	assert_true(fd >= 0);
	struct net_handshake hs = {
	    .version = NET_PROTOCOL_VERSION,
	    .kind = NET_HS_HELLO,
	    .cluster_id = 1,
	    .from = 1,
	    .to = 2,
	};
	uint8_t buf[NET_HANDSHAKE_FRAME_BYTES + 512];
	net_handshake_encode(&hs, buf);
	size_t len = NET_HANDSHAKE_FRAME_BYTES;
	len += message_frame(buf + len, sizeof(buf) - len, RAFT_MSG_TIMEOUT_NOW, 1);
	len += message_frame(buf + len, sizeof(buf) - len, RAFT_MSG_APPEND, 1);
	assert_true(h_raw_write(fd, buf, len));
	expect_refused(&h, fd);
	assert_int_equal(h.nodes[1].n_msgs, 0);
	h_fini(&h);
}

/* Version 2 with a proof made without the secret: refused after the challenge. */
static void test_wrong_proof_refused(void **state)
{
	(void)state;
	struct harness h;
	setup_secret(&h);
	uint8_t nd[32], na[32], mac[32];
	int fd = raw_challenged(&h, 1, nd, na);
	proof("a guess at the secret", 'D', 1, 1, 2, nd, na, mac);
	uint8_t buf[36 + 512];
	frame32(buf, mac);
	size_t len = 36 + message_frame(buf + 36, sizeof(buf) - 36, RAFT_MSG_TIMEOUT_NOW, 1);
	assert_true(h_raw_write(fd, buf, len));
	expect_refused(&h, fd);
	assert_int_equal(h.nodes[1].n_msgs, 0);
	assert_int_equal(h_stats(&h, 1, -1).auth_failed, 1);
	h_fini(&h);
}

/* A proof that is right for another connection (another nonce) or another member id. */
static void test_replayed_or_misattributed_proof_refused(void **state)
{
	(void)state;
	struct harness h;
	setup_secret(&h);
	uint8_t nd[32], na[32], mac[32], frame[36];
	/* The proof member 7 would give, presented by a dialer claiming to be member 1. */
	int fd = raw_challenged(&h, 1, nd, na);
	proof(secret_a, 'D', 1, RAW_ID, 2, nd, na, mac);
	frame32(frame, mac);
	assert_true(h_raw_write(fd, frame, sizeof(frame)));
	expect_refused(&h, fd);
	/* A proof recorded on one connection, replayed on the next (a new nonce there). */
	uint8_t nd2[32], na2[32];
	fd = raw_challenged(&h, RAW_ID, nd2, na2);
	proof(secret_a, 'D', 1, RAW_ID, 2, nd, na, mac);
	frame32(frame, mac);
	assert_true(h_raw_write(fd, frame, sizeof(frame)));
	expect_refused(&h, fd);
	/* The acceptor's own proof reflected back to it. */
	fd = raw_challenged(&h, RAW_ID, nd2, na2);
	proof(secret_a, 'A', 1, RAW_ID, 2, nd2, na2, mac);
	frame32(frame, mac);
	assert_true(h_raw_write(fd, frame, sizeof(frame)));
	expect_refused(&h, fd);
	assert_int_equal(h_stats(&h, 1, -1).auth_failed, 3);
	assert_int_equal(h.nodes[1].n_msgs, 0);
	h_fini(&h);
}

/* A dialer with the secret, authenticated as member 7, sends messages claiming member
 * 1: dropped and counted; its own are delivered. */
static void test_authenticated_link_forged_sender_dropped(void **state)
{
	(void)state;
	struct harness h;
	setup_secret(&h);
	uint8_t nd[32], na[32], mac[32];
	int fd = raw_challenged(&h, RAW_ID, nd, na);
	proof(secret_a, 'D', 1, RAW_ID, 2, nd, na, mac);
	uint8_t buf[36 + 1024];
	frame32(buf, mac);
	assert_true(h_raw_write(fd, buf, 36));
	uint8_t reply[NET_HANDSHAKE_FRAME_BYTES];
	assert_true(raw_read(&h, fd, reply, sizeof(reply)));
	struct net_handshake hs;
	assert_int_equal(net_handshake_decode(reply, &hs), NET_HS_PARSE_OK);
	assert_int_equal(hs.kind, NET_HS_ACCEPT);
	assert_int_equal(hs.version, NET_PROTOCOL_VERSION_AUTH);
	size_t len = message_frame(buf, sizeof(buf), RAFT_MSG_TIMEOUT_NOW, 1);
	len += message_frame(buf + len, sizeof(buf) - len, RAFT_MSG_APPEND, 1);
	len += message_frame(buf + len, sizeof(buf) - len, RAFT_MSG_HEARTBEAT, RAW_ID);
	assert_true(h_raw_write(fd, buf, len));
	struct h_node *b = &h.nodes[1];
	for (int k = 0; k < 500 && b->n_msgs < 1; k++)
		h_run_for(&h, 5);
	assert_int_equal(b->n_msgs, 1);
	assert_int_equal(b->msgs[0].m.from, RAW_ID);
	assert_int_equal(b->msgs[0].m.type, RAFT_MSG_HEARTBEAT);
	assert_int_equal(h_stats(&h, 1, -1).dropped_sender, 2);
	close(fd);
	h_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secret_mesh_delivers),
	    cmocka_unit_test(test_wrong_secret_refused),
	    cmocka_unit_test(test_secret_on_one_side_refused),
	    cmocka_unit_test(test_plain_hello_refused),
	    cmocka_unit_test(test_wrong_proof_refused),
	    cmocka_unit_test(test_replayed_or_misattributed_proof_refused),
	    cmocka_unit_test(test_authenticated_link_forged_sender_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
