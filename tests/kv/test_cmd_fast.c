/* test_cmd_fast.c: the in-place decoding of plain SETs agrees with protobuf-c's on every input it
 * accepts, and accepts every plain SET kv_cmd_encode writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kv.pb-c.h"
#include "helpers.h"
#include "kv/codec.h"

#include <stdlib.h>
#include <string.h>

static bool same_bytes(const void *a, size_t na, const void *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

/* Counts of what the comparison saw. */
struct tally {
	unsigned fast;     /* accepted by the fast path (and agreed with) */
	unsigned fallback; /* declined */
};

/* If the fast path accepts buf, the generic path must decode it to the same command. */
static void compare(const void *buf, size_t len, struct tally *t)
{
	struct kv_cmd f;
	if (!kv_cmd_decode_fast(buf, len, &f)) {
		t->fallback++;
		return;
	}
	t->fast++;
	Concord__Kv__Command *c = kv_cmd_unpack(buf, len);
	assert_non_null(c);
	struct kv_cmd g;
	struct kv_scratch s;
	assert_int_equal(kv_cmd_from_pb(c, &g, &s), KV_OK);
	assert_int_equal(f.op, g.op);
	assert_int_equal(g.op, KV_OP_SET);
	assert_true(f.client_id == g.client_id && f.seq == g.seq);
	assert_true(f.time_ms == g.time_ms && f.mono_ms == g.mono_ms);
	assert_true(same_bytes(f.put.key, f.put.key_len, g.put.key, g.put.key_len));
	assert_true(same_bytes(f.put.value, f.put.value_len, g.put.value, g.put.value_len));
	assert_int_equal(g.put.cond.kind, KV_COND_NONE);
	assert_int_equal(f.put.cond.kind, KV_COND_NONE);
	assert_true(g.put.expiry.mode == f.put.expiry.mode && g.put.expiry.ms == f.put.expiry.ms &&
	            g.put.expiry.lease == f.put.expiry.lease);
	assert_int_equal(f.n, 0);
	assert_int_equal(g.n, 0);
	kv_scratch_free(&s);
	concord__kv__command__free_unpacked(c, NULL);
}

/* Plain SETs at every varint length of every field, and their mutations: each byte
 * changed, cut short, grown by a byte, and doubled (protobuf merges a message sent
 * twice: repeated fields that the fast path must leave to protobuf-c). */
static void test_agrees_with_protobuf_c(void **state)
{
	(void)state;
	static uint8_t data[400];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	uint64_t seed = 11;
	struct tally t = {0};
	unsigned plain = 0;
	for (int i = 0; i < 3000; i++) {
		struct kv_cmd cmd = {.op = KV_OP_SET};
		cmd.client_id = th_draw(&seed);
		cmd.seq = cmd.client_id != 0 ? 1 + th_draw(&seed) % 1000000 : 0;
		cmd.time_ms = th_draw(&seed);
		cmd.mono_ms = th_draw(&seed);
		cmd.put.key = data;
		cmd.put.key_len = 1 + th_rng(&seed) % 40;
		cmd.put.value = data + 50;
		cmd.put.value_len = th_rng(&seed) % 300;
		bool extra = th_rng(&seed) % 5 == 0;
		if (extra && th_rng(&seed) % 2 == 0) {
			cmd.put.cond.kind = KV_COND_ABSENT;
		} else if (extra) {
			cmd.put.expiry.mode = KV_EXPIRY_IN;
			cmd.put.expiry.ms = 1 + (int64_t)(th_rng(&seed) % 100000);
		}
		if (i % 50 == 0)
			cmd = (struct kv_cmd){.op = KV_OP_INCRBY, .put = cmd.put, .delta = 3};
		void *buf;
		size_t len;
		assert_int_equal(kv_cmd_encode(&cmd, NULL, &buf, &len), 0);
		struct kv_cmd f;
		bool is_plain = cmd.op == KV_OP_SET && !extra;
		assert_int_equal(kv_cmd_decode_fast(buf, len, &f), is_plain);
		plain += is_plain;
		compare(buf, len, &t);
		uint8_t *m = malloc(2 * len + 1);
		for (size_t k = 0; k < len; k++) {
			memcpy(m, buf, len);
			m[k] ^= (uint8_t)(1 + th_rng(&seed) % 255);
			compare(m, len, &t);
		}
		compare(buf, th_rng(&seed) % len, &t);
		memcpy(m, buf, len);
		m[len] = (uint8_t)th_rng(&seed);
		compare(m, len + 1, &t);
		memcpy(m + len, buf, len);
		compare(m, 2 * len, &t);
		free(m);
		free(buf);
	}
	print_message("%u plain SETs; %u inputs decoded in place and agreed, %u left to "
	              "protobuf-c\n",
	              plain, t.fast, t.fallback);
	assert_true(plain > 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agrees_with_protobuf_c),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
