/* fuzz_frame.c: libFuzzer target for the peer wire: a byte stream cut into frames as
 * src/net/inbound.c cuts it (a handshake first, then length-prefixed frames), each frame
 * decoded into a raft_message (src/proto/codec.c). Every payload is also offered to the
 * other protobuf decoders (entry, meta, snapshot header). Whatever decodes must re-encode
 * to exactly the size proto_*_size() announced, and decode again to the same value. */
#include "net/frame.h"
#include "proto/codec.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The transport's limit is configurable; a small one keeps the fuzzer's inputs small. */
#define FUZZ_MAX_FRAME_BYTES 65536u

static void same_buf(const struct raft_buf *a, const struct raft_buf *b)
{
	size_t la = a ? a->len : 0, lb = b ? b->len : 0;
	assert(la == lb);
	if (la > 0)
		assert(memcmp(a->data, b->data, la) == 0);
}

static void same_entry(const struct raft_entry *a, const struct raft_entry *b)
{
	assert(a->term == b->term && a->index == b->index && a->type == b->type);
	same_buf(a->buf, b->buf);
}

static void same_conf(const struct raft_conf *a, const struct raft_conf *b)
{
	assert(a->n_voters == b->n_voters && a->n_voters_old == b->n_voters_old &&
	       a->n_learners == b->n_learners);
	assert(memcmp(a->voters, b->voters, a->n_voters * sizeof(raft_id)) == 0);
	assert(memcmp(a->voters_old, b->voters_old, a->n_voters_old * sizeof(raft_id)) == 0);
	assert(memcmp(a->learners, b->learners, a->n_learners * sizeof(raft_id)) == 0);
}

static void check_message(const uint8_t *p, size_t len)
{
	struct raft_message m;
	if (proto_message_decode(p, len, &m) != 0)
		return;
	assert(m.type >= RAFT_MSG_PREVOTE && m.type < RAFT_MSG_TYPE_COUNT_);
	assert(m.from != RAFT_NONE && m.to != RAFT_NONE);
	assert(m.n_entries == 0 || m.type == RAFT_MSG_APPEND);
	for (uint32_t i = 0; i < m.n_entries; i++) {
		assert(m.entries[i].index == m.index + 1 + i);
		assert(m.entries[i].term <= m.term);
		assert(i == 0 || m.entries[i].term >= m.entries[i - 1].term);
	}
	size_t n = proto_message_size(&m);
	uint8_t *buf = malloc(n ? n : 1);
	assert(buf != NULL);
	assert(proto_message_encode(&m, buf) == n);
	struct raft_message again;
	int rv = proto_message_decode(buf, n, &again);
	assert(rv == 0);
	assert(again.type == m.type && again.from == m.from && again.to == m.to);
	assert(again.term == m.term && again.index == m.index && again.log_term == m.log_term);
	assert(again.commit == m.commit && again.reject == m.reject &&
	       again.transfer == m.transfer);
	assert(again.xterm == m.xterm && again.xindex == m.xindex && again.xlen == m.xlen);
	assert(again.context == m.context && again.snap_size == m.snap_size &&
	       again.snap_offset == m.snap_offset);
	assert(again.n_entries == m.n_entries);
	for (uint32_t i = 0; i < m.n_entries; i++)
		same_entry(&again.entries[i], &m.entries[i]);
	same_buf(again.chunk, m.chunk);
	assert((again.snap_conf == NULL) == (m.snap_conf == NULL));
	if (m.snap_conf != NULL)
		same_conf(again.snap_conf, m.snap_conf);
	raft_message_release(&again);
	raft_message_release(&m);
	free(buf);
}

static void check_entry(const uint8_t *p, size_t len)
{
	struct raft_entry e;
	if (proto_entry_decode(p, len, &e) != 0)
		return;
	assert(e.index >= 1 && e.term >= 1);
	size_t n = proto_entry_size(&e);
	uint8_t *buf = malloc(n ? n : 1);
	assert(buf != NULL);
	assert(proto_entry_encode(&e, buf) == n);
	/* The scatter form is the same bytes. */
	uint8_t head[PROTO_ENTRY_HEAD_MAX_BYTES];
	size_t h = proto_entry_encode_head(&e, head);
	assert(h + raft_entry_len(&e) == n);
	assert(memcmp(head, buf, h) == 0);
	if (raft_entry_len(&e) > 0)
		assert(memcmp(buf + h, raft_entry_data(&e), raft_entry_len(&e)) == 0);
	struct raft_entry again;
	assert(proto_entry_decode(buf, n, &again) == 0);
	same_entry(&again, &e);
	raft_buf_unref(again.buf);
	raft_buf_unref(e.buf);
	free(buf);
}

static void check_meta(const uint8_t *p, size_t len)
{
	struct proto_meta m;
	if (proto_meta_decode(p, len, &m) != 0)
		return;
	size_t n = proto_meta_size(&m);
	uint8_t *buf = malloc(n ? n : 1);
	assert(buf != NULL);
	assert(proto_meta_encode(&m, buf) == n);
	struct proto_meta again;
	assert(proto_meta_decode(buf, n, &again) == 0);
	assert(again.format_version == m.format_version && again.cluster_id == m.cluster_id &&
	       again.node_id == m.node_id);
	assert(again.hard_state.term == m.hard_state.term &&
	       again.hard_state.vote == m.hard_state.vote);
	same_conf(&again.conf, &m.conf);
	free(buf);
}

static void check_snapshot_meta(const uint8_t *p, size_t len)
{
	struct proto_snapshot_meta s;
	if (proto_snapshot_meta_decode(p, len, &s) != 0)
		return;
	assert(s.index >= 1 && s.term >= 1);
	size_t n = proto_snapshot_meta_size(&s);
	uint8_t *buf = malloc(n ? n : 1);
	assert(buf != NULL);
	assert(proto_snapshot_meta_encode(&s, buf) == n);
	struct proto_snapshot_meta again;
	assert(proto_snapshot_meta_decode(buf, n, &again) == 0);
	assert(again.index == s.index && again.term == s.term &&
	       again.data_size_bytes == s.data_size_bytes && again.data_crc32c == s.data_crc32c);
	same_conf(&again.conf, &s.conf);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The handshake: a fixed-size frame, whatever its bytes say. */
	if (size < NET_HANDSHAKE_FRAME_BYTES)
		return 0;
	struct net_handshake hs;
	enum net_hs_parse hp = net_handshake_decode(data, &hs);
	if (hp == NET_HS_PARSE_OK) {
		assert(hs.kind >= NET_HS_HELLO && hs.kind <= NET_HS_REFUSE);
		assert(net_hs_reason_text(hs.reason) != NULL);
		uint8_t again[NET_HANDSHAKE_FRAME_BYTES];
		net_handshake_encode(&hs, again);
		assert(memcmp(again, data, NET_HANDSHAKE_FRAME_BYTES) == 0);
	}
	/* Then frames, as inbound.c cuts them, up to the first bad header or the end. The
	 * stream goes on after a bad handshake too, to reach the message decoder. */
	size_t off = NET_HANDSHAKE_FRAME_BYTES;
	while (size - off >= NET_FRAME_HEADER_BYTES) {
		uint32_t flen = net_get_u32(data + off);
		if (!net_frame_len_ok(flen, FUZZ_MAX_FRAME_BYTES)) {
			assert(flen == 0 || flen > FUZZ_MAX_FRAME_BYTES);
			break;
		}
		if (size - off - NET_FRAME_HEADER_BYTES < flen)
			break;
		const uint8_t *p = data + off + NET_FRAME_HEADER_BYTES;
		check_message(p, flen);
		check_entry(p, flen);
		check_meta(p, flen);
		check_snapshot_meta(p, flen);
		off += NET_FRAME_HEADER_BYTES + flen;
	}
	return 0;
}
