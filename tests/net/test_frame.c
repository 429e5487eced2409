/* test_frame.c: the wire format's pure parts: handshake encoding, frame limits, addresses. */
#include "net/internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

static void test_handshake_round_trip(void **state)
{
	(void)state;
	struct net_handshake in = {
	    .version = NET_PROTOCOL_VERSION,
	    .kind = NET_HS_REFUSE,
	    .reason = NET_HS_ECLUSTER,
	    .cluster_id = 0x0102030405060708ull,
	    .from = 3,
	    .to = UINT64_MAX,
	};
	uint8_t buf[NET_HANDSHAKE_FRAME_BYTES];
	net_handshake_encode(&in, buf);
	/* The layout docs/net.md gives: length 32, then "CNCD", version 1 little-endian. */
	const uint8_t head[] = {
	    32, 0, 0, 0, 'C', 'N', 'C', 'D', 1, 0, NET_HS_REFUSE, NET_HS_ECLUSTER,
	    8,  7, 6, 5, 4,   3,   2,   1,   3};
	assert_memory_equal(buf, head, sizeof(head));
	struct net_handshake out;
	assert_int_equal(net_handshake_decode(buf, &out), NET_HS_PARSE_OK);
	assert_int_equal(out.version, in.version);
	assert_int_equal(out.kind, in.kind);
	assert_int_equal(out.reason, in.reason);
	assert_int_equal(out.cluster_id, in.cluster_id);
	assert_int_equal(out.from, in.from);
	assert_int_equal(out.to, in.to);
}

static void test_handshake_refusals(void **state)
{
	(void)state;
	struct net_handshake hs = {
	    .version = 1, .kind = NET_HS_HELLO, .cluster_id = 1, .from = 1, .to = 2};
	uint8_t buf[NET_HANDSHAKE_FRAME_BYTES];
	struct net_handshake out;
	net_handshake_encode(&hs, buf);
	buf[0] = 33;
	assert_int_equal(net_handshake_decode(buf, &out), NET_HS_PARSE_LENGTH);
	net_handshake_encode(&hs, buf);
	buf[5] = 'X';
	assert_int_equal(net_handshake_decode(buf, &out), NET_HS_PARSE_MAGIC);
	net_handshake_encode(&hs, buf);
	buf[10] = 0;
	assert_int_equal(net_handshake_decode(buf, &out), NET_HS_PARSE_KIND);
	buf[10] = 4;
	assert_int_equal(net_handshake_decode(buf, &out), NET_HS_PARSE_KIND);
	net_handshake_encode(&hs, buf);
	buf[11] = NET_HS_REASON_COUNT_;
	assert_int_equal(net_handshake_decode(buf, &out), NET_HS_PARSE_KIND);
	/* Every byte value in every position: decoding never misbehaves. */
	for (unsigned pos = 0; pos < sizeof(buf); pos++) {
		for (unsigned v = 0; v < 256; v++) {
			net_handshake_encode(&hs, buf);
			buf[pos] = (uint8_t)v;
			(void)net_handshake_decode(buf, &out);
		}
	}
	assert_string_equal(net_hs_reason_text(NET_HS_ECLUSTER), "cluster id mismatch");
	assert_non_null(net_hs_reason_text(-1));
}

static void test_frame_limits(void **state)
{
	(void)state;
	assert_false(net_frame_len_ok(0, 1024));
	assert_true(net_frame_len_ok(1, 1024));
	assert_true(net_frame_len_ok(1024, 1024));
	assert_false(net_frame_len_ok(1025, 1024));
	assert_false(net_frame_len_ok(UINT32_MAX, 1024));
	uint8_t b[4];
	net_put_u32(b, 0x11223344u);
	assert_int_equal(b[0], 0x44);
	assert_int_equal(b[3], 0x11);
	assert_int_equal(net_get_u32(b), 0x11223344u);
}

static void test_addresses(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	char s[NET_ADDRESS_MAX_BYTES];
	assert_int_equal(net_addr_parse("127.0.0.1:7000", &ss), NET_OK);
	net_addr_format((struct sockaddr *)&ss, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1:7000");
	assert_int_equal(net_addr_parse("[::1]:0", &ss), NET_OK);
	net_addr_format((struct sockaddr *)&ss, s, sizeof(s));
	assert_string_equal(s, "[::1]:0");
	assert_int_equal(net_addr_parse("0.0.0.0:65535", &ss), NET_OK);
	const char *bad[] = {
	    NULL,
	    "",
	    ":80",
	    "127.0.0.1",
	    "127.0.0.1:",
	    "127.0.0.1:x",
	    "127.0.0.1:123456",
	    "127.0.0.1:65536",
	    "::1:80",
	    "[::1]",
	    "[::1]80",
	    "[]:80",
	    "[zz]:80",
	    "localhost:80",
	    "1.2.3.4.5:80",
	    "127.0.0.1:-1",
	    "123456789012345678901234567890123456789012345678901234567890:1",
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		assert_int_equal(net_addr_parse(bad[k], &ss), NET_EADDR);
}

static void test_rng_streams(void **state)
{
	(void)state;
	struct net_rng a, b, c;
	net_rng_seed(&a, 42, 4);
	net_rng_seed(&b, 42, 4);
	net_rng_seed(&c, 42, 5);
	bool differ = false;
	for (int k = 0; k < 100; k++) {
		uint64_t x = net_rng_next(&a);
		assert_int_equal(x, net_rng_next(&b));
		if (x != net_rng_next(&c))
			differ = true;
		double u = net_rng_unit(&a);
		(void)net_rng_unit(&b);
		(void)net_rng_unit(&c);
		assert_true(u >= 0.0 && u < 1.0);
	}
	assert_true(differ);
	assert_string_equal(net_strerror(NET_ETOOBIG), "message larger than the frame limit");
	assert_non_null(net_strerror(1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_round_trip), cmocka_unit_test(test_handshake_refusals),
	    cmocka_unit_test(test_frame_limits),         cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_rng_streams),
	};
	return cmocka_run_group_tests_name("net-frame", tests, NULL, NULL);
}
