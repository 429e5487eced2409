/* test_codec.c: the protobuf codec (entries, peer messages, meta, snapshot headers) and CRC-32C. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "proto/codec.h"
#include "base/crc32c.h"

#include <stdlib.h>
#include <string.h>

static void test_crc32c_vectors(void **state)
{
	(void)state;
	/* RFC 3720 appendix B.4 and the classic check value. */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c_portable(0, "123456789", 9), 0xe3069283u);
	unsigned char zeros[32] = {0};
	assert_int_equal(crc32c(0, zeros, 32), 0x8a9136aau);
	unsigned char ones[32];
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(crc32c(0, ones, 32), 0x62a8ab43u);
	unsigned char inc[32];
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	assert_int_equal(crc32c(0, inc, 32), 0x46dd794eu);
}

static void test_crc32c_paths_agree(void **state)
{
	(void)state;
	uint64_t s = 1;
	unsigned char buf[4099];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)th_rand(&s);
	/* every alignment and length, and chaining across pieces */
	for (size_t off = 0; off < 9; off++) {
		for (size_t len = 0; len + off <= sizeof(buf); len += 1 + len / 3) {
			uint32_t a = crc32c(0, buf + off, len);
			uint32_t b = crc32c_portable(0, buf + off, len);
			assert_int_equal(a, b);
			size_t cut = len / 3;
			uint32_t c = crc32c(crc32c(0, buf + off, cut), buf + off + cut, len - cut);
			assert_int_equal(a, c);
		}
	}
}

static void test_entry_roundtrip(void **state)
{
	(void)state;
	size_t lens[] = {0, 1, 12, 127, 128, 1000, 70000};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct raft_entry e = th_entry(1 + i * 1000000007ull, 3 + i, (uint32_t)i, lens[i]);
		e.type = (enum raft_entry_type)(RAFT_ENTRY_NORMAL + i % 3);
		size_t n = proto_entry_size(&e);
		uint8_t *buf = malloc(n);
		assert_int_equal(proto_entry_encode(&e, buf), n);
		/* the scatter form is the same bytes */
		uint8_t head[PROTO_ENTRY_HEAD_MAX_BYTES];
		size_t hl = proto_entry_encode_head(&e, head);
		assert_int_equal(hl + raft_entry_len(&e), n);
		assert_memory_equal(head, buf, hl);
		if (raft_entry_len(&e) > 0)
			assert_memory_equal(raft_entry_data(&e), buf + hl, raft_entry_len(&e));
		struct raft_entry d;
		assert_int_equal(proto_entry_decode(buf, n, &d), PROTO_OK);
		assert_int_equal(d.index, e.index);
		assert_int_equal(d.term, e.term);
		assert_int_equal(d.type, e.type);
		assert_int_equal(raft_entry_len(&d), raft_entry_len(&e));
		if (raft_entry_len(&e) > 0)
			assert_memory_equal(raft_entry_data(&d), raft_entry_data(&e),
			                    raft_entry_len(&e));
		raft_buf_unref(d.buf);
		raft_buf_unref(e.buf);
		free(buf);
	}
}

static void test_entry_refused(void **state)
{
	(void)state;
	struct raft_entry e = th_entry(5, 2, 0, 20);
	uint8_t buf[128];
	struct raft_entry d;
	/* index 0, term 0 and unknown types are refused */
	struct raft_entry bad = e;
	bad.index = 0;
	size_t n = proto_entry_encode(&bad, buf);
	assert_int_equal(proto_entry_decode(buf, n, &d), PROTO_EINVALID);
	bad = e;
	bad.term = 0;
	n = proto_entry_encode(&bad, buf);
	assert_int_equal(proto_entry_decode(buf, n, &d), PROTO_EINVALID);
	/* type field (3) set to 9 by hand: varint tag 0x18 */
	n = proto_entry_encode(&e, buf);
	for (size_t i = 0; i + 1 < n; i++) {
		if (buf[i] == 0x18 && buf[i + 1] == RAFT_ENTRY_NORMAL) {
			buf[i + 1] = 9;
			break;
		}
	}
	assert_int_equal(proto_entry_decode(buf, n, &d), PROTO_EINVALID);
	/* A truncated encoding is refused, or (cut at a field boundary) a valid shorter
	 * entry: protobuf cannot tell, which is why every WAL record carries a checksum.
	 * Never a crash. */
	n = proto_entry_encode(&e, buf);
	int refused = 0;
	for (size_t cut = 1; cut < n; cut++) {
		int rv = proto_entry_decode(buf, cut, &d);
		if (rv == PROTO_OK)
			raft_buf_unref(d.buf);
		else
			refused++;
		assert_true(rv == PROTO_OK || rv == PROTO_EMALFORMED || rv == PROTO_EINVALID);
	}
	assert_true(refused > 0);
	raft_buf_unref(e.buf);
}

static struct raft_message sample_message(void)
{
	struct raft_message m = {
	    .type = RAFT_MSG_APPEND,
	    .from = 1,
	    .to = 2,
	    .term = 9,
	    .index = 41,
	    .log_term = 8,
	    .commit = 40,
	    .reject = false,
	    .transfer = true,
	    .xterm = 7,
	    .xindex = 30,
	    .xlen = 44,
	    .context = 123456789012345ull,
	    .n_entries = 3,
	};
	m.entries = calloc(3, sizeof(*m.entries));
	for (uint32_t i = 0; i < 3; i++)
		m.entries[i] = th_entry(42 + i, 8 + i / 2, i, i * 100);
	return m;
}

static void test_message_roundtrip(void **state)
{
	(void)state;
	struct raft_message m = sample_message();
	size_t n = proto_message_size(&m);
	uint8_t *buf = malloc(n);
	assert_int_equal(proto_message_encode(&m, buf), n);
	struct raft_message d;
	assert_int_equal(proto_message_decode(buf, n, &d), PROTO_OK);
	assert_int_equal(d.type, m.type);
	assert_int_equal(d.from, m.from);
	assert_int_equal(d.to, m.to);
	assert_int_equal(d.term, m.term);
	assert_int_equal(d.index, m.index);
	assert_int_equal(d.log_term, m.log_term);
	assert_int_equal(d.commit, m.commit);
	assert_int_equal(d.reject, m.reject);
	assert_int_equal(d.transfer, m.transfer);
	assert_int_equal(d.xterm, m.xterm);
	assert_int_equal(d.xindex, m.xindex);
	assert_int_equal(d.xlen, m.xlen);
	assert_int_equal(d.context, m.context);
	assert_int_equal(d.n_entries, m.n_entries);
	for (uint32_t i = 0; i < m.n_entries; i++) {
		uint32_t tag;
		assert_int_equal(d.entries[i].index, m.entries[i].index);
		assert_int_equal(d.entries[i].term, m.entries[i].term);
		assert_true(th_entry_check(&d.entries[i], &tag));
		assert_int_equal(tag, i);
	}
	raft_message_release(&d);
	raft_message_release(&m);
	free(buf);

	/* a snapshot chunk: its bytes, offsets and configuration survive the trip */
	{
		struct raft_conf conf = {
		    .n_voters = 2, .voters = {4, 9}, .n_learners = 1, .learners = {12}};
		struct raft_message s = {.type = RAFT_MSG_SNAPSHOT,
		                         .from = 1,
		                         .to = 2,
		                         .term = 7,
		                         .index = 900,
		                         .log_term = 6,
		                         .snap_size = 5000,
		                         .snap_offset = 4096,
		                         .chunk = raft_buf_new("chunk-bytes", 11),
		                         .snap_conf = &conf};
		uint8_t small[256];
		n = proto_message_encode(&s, small);
		assert_int_equal(proto_message_decode(small, n, &d), PROTO_OK);
		assert_int_equal(d.type, RAFT_MSG_SNAPSHOT);
		assert_int_equal(d.snap_size, 5000);
		assert_int_equal(d.snap_offset, 4096);
		assert_non_null(d.chunk);
		assert_int_equal(d.chunk->len, 11);
		assert_memory_equal(d.chunk->data, "chunk-bytes", 11);
		assert_non_null(d.snap_conf);
		assert_int_equal(d.snap_conf->n_voters, 2);
		assert_int_equal(d.snap_conf->voters[1], 9);
		assert_int_equal(d.snap_conf->learners[0], 12);
		raft_message_release(&d);
		raft_buf_unref(s.chunk);
	}

	/* every type without entries, and a reject */
	for (int t = RAFT_MSG_PREVOTE; t < RAFT_MSG_TYPE_COUNT_; t++) {
		struct raft_conf conf = {.n_voters = 1, .voters = {1}};
		struct raft_message s = {
		    .type = (enum raft_msg_type)t, .from = 3, .to = 1, .term = 2, .reject = true};
		if (t == RAFT_MSG_SNAPSHOT)
			s.snap_conf = &conf; /* a snapshot chunk always names its configuration */
		uint8_t small[256];
		n = proto_message_encode(&s, small);
		assert_int_equal(proto_message_decode(small, n, &d), PROTO_OK);
		assert_int_equal(d.type, t);
		assert_true(d.reject);
		assert_int_equal(d.n_entries, 0);
		raft_message_release(&d);
	}
}

static void test_message_refused(void **state)
{
	(void)state;
	struct raft_message d;
	uint8_t buf[4096];
	/* entries that do not follow prevLogIndex */
	struct raft_message m = sample_message();
	m.entries[1].index = 50;
	size_t n = proto_message_encode(&m, buf);
	assert_int_equal(proto_message_decode(buf, n, &d), PROTO_EINVALID);
	m.entries[1].index = 43;
	/* an entry term above the message term */
	m.entries[2].term = 10;
	n = proto_message_encode(&m, buf);
	assert_int_equal(proto_message_decode(buf, n, &d), PROTO_EINVALID);
	m.entries[2].term = 9;
	/* entries on a vote */
	m.type = RAFT_MSG_VOTE;
	n = proto_message_encode(&m, buf);
	assert_int_equal(proto_message_decode(buf, n, &d), PROTO_EINVALID);
	m.type = RAFT_MSG_APPEND;
	/* from or to RAFT_NONE */
	m.from = RAFT_NONE;
	n = proto_message_encode(&m, buf);
	assert_int_equal(proto_message_decode(buf, n, &d), PROTO_EINVALID);
	m.from = 1;
	raft_message_release(&m);
	/* type 0 (an empty message) */
	assert_int_equal(proto_message_decode(buf, 0, &d), PROTO_EINVALID);
}

/* Random bytes and mutated valid encodings must decode cleanly or be refused: never a
 * crash, a leak (ASan) or an out-of-range value. */
static void test_decode_garbage(void **state)
{
	(void)state;
	uint64_t s = 42;
	uint8_t buf[512];
	struct raft_message good = sample_message();
	size_t good_n = proto_message_encode(&good, buf);
	uint8_t valid[512];
	memcpy(valid, buf, good_n);
	int accepted = 0;
	for (int round = 0; round < 20000; round++) {
		size_t n;
		if (round % 2 == 0) {
			n = (size_t)th_below(&s, sizeof(buf));
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)th_rand(&s);
		} else {
			n = good_n;
			memcpy(buf, valid, n);
			int flips = 1 + (int)th_below(&s, 4);
			for (int f = 0; f < flips; f++)
				buf[th_below(&s, n)] ^= (uint8_t)(1u << th_below(&s, 8));
			if (th_below(&s, 4) == 0)
				n = (size_t)th_below(&s, n);
		}
		struct raft_message m;
		if (proto_message_decode(buf, n, &m) == PROTO_OK) {
			accepted++;
			assert_true(m.type >= RAFT_MSG_PREVOTE && m.type < RAFT_MSG_TYPE_COUNT_);
			assert_true(m.from != RAFT_NONE);
			for (uint32_t i = 0; i < m.n_entries; i++)
				assert_int_equal(m.entries[i].index, m.index + 1 + i);
			raft_message_release(&m);
		}
		struct raft_entry e;
		if (proto_entry_decode(buf, n, &e) == PROTO_OK) {
			assert_true(e.index > 0);
			assert_true(e.type >= RAFT_ENTRY_NORMAL && e.type <= RAFT_ENTRY_CONFIG);
			raft_buf_unref(e.buf);
		}
		struct proto_meta pm;
		(void)proto_meta_decode(buf, n, &pm);
		struct proto_snapshot_meta ps;
		(void)proto_snapshot_meta_decode(buf, n, &ps);
	}
	assert_true(accepted > 0); /* some mutations land in ignorable places */
	raft_message_release(&good);
}

static void test_meta_roundtrip(void **state)
{
	(void)state;
	struct proto_meta m = {
	    .format_version = 1,
	    .cluster_id = 99,
	    .node_id = 3,
	    .hard_state = {.term = 12, .vote = 2},
	    .conf = {.n_voters = 3,
	             .voters = {1, 2, 3},
	             .n_voters_old = 1,
	             .voters_old = {4},
	             .n_learners = 2,
	             .learners = {5, 6}},
	};
	uint8_t buf[1024];
	size_t n = proto_meta_encode(&m, buf);
	assert_int_equal(n, proto_meta_size(&m));
	struct proto_meta d;
	assert_int_equal(proto_meta_decode(buf, n, &d), PROTO_OK);
	assert_int_equal(d.format_version, m.format_version);
	assert_int_equal(d.cluster_id, m.cluster_id);
	assert_int_equal(d.node_id, m.node_id);
	assert_int_equal(d.hard_state.term, m.hard_state.term);
	assert_int_equal(d.hard_state.vote, m.hard_state.vote);
	assert_memory_equal(&d.conf, &m.conf, sizeof(m.conf));
	/* a duplicate voter is refused */
	m.conf.voters[2] = 1;
	n = proto_meta_encode(&m, buf);
	assert_int_equal(proto_meta_decode(buf, n, &d), PROTO_EINVALID);

	struct proto_snapshot_meta sm = {.index = 100,
	                                 .term = 4,
	                                 .conf = d.conf,
	                                 .data_size_bytes = 77,
	                                 .data_crc32c = 0xdeadbeef};
	n = proto_snapshot_meta_encode(&sm, buf);
	struct proto_snapshot_meta sd;
	assert_int_equal(proto_snapshot_meta_decode(buf, n, &sd), PROTO_OK);
	assert_int_equal(sd.index, sm.index);
	assert_int_equal(sd.term, sm.term);
	assert_int_equal(sd.data_size_bytes, sm.data_size_bytes);
	assert_int_equal(sd.data_crc32c, sm.data_crc32c);
	assert_memory_equal(&sd.conf, &sm.conf, sizeof(sm.conf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_vectors),    cmocka_unit_test(test_crc32c_paths_agree),
	    cmocka_unit_test(test_entry_roundtrip),   cmocka_unit_test(test_entry_refused),
	    cmocka_unit_test(test_message_roundtrip), cmocka_unit_test(test_message_refused),
	    cmocka_unit_test(test_decode_garbage),    cmocka_unit_test(test_meta_roundtrip),
	};
	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
