/* fuzz_meta.c: libFuzzer target for the data directory's small headers: the meta file
 * (src/storage/meta.c, meta_decode) and the protobuf messages behind it and the snapshot
 * header (src/proto/codec.c: Meta, SnapshotMeta, Entry).
 *
 * Input: [u8 selector][bytes]. Checks: no crash or leak on any input; a refusal of the
 * meta file names it and an offset; whatever decodes re-encodes and decodes to the same
 * value (the durable end and segment size included). */
#include "proto/codec.h"
#include "storage/error.h"
#include "storage/meta.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void meta_round_trip(const struct proto_meta *m)
{
	size_t n = proto_meta_size(m);
	uint8_t *buf = malloc(n > 0 ? n : 1);
	assert(buf != NULL);
	assert(proto_meta_encode(m, buf) == n);
	struct proto_meta again;
	assert(proto_meta_decode(buf, n, &again) == PROTO_OK);
	assert(again.format_version == m->format_version && again.cluster_id == m->cluster_id &&
	       again.node_id == m->node_id && again.hard_state.term == m->hard_state.term &&
	       again.hard_state.vote == m->hard_state.vote &&
	       again.durable_index == m->durable_index && again.segment_size == m->segment_size &&
	       again.conf.n_voters == m->conf.n_voters);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t len = size - 1;
	uint8_t *copy = malloc(len > 0 ? len : 1);
	assert(copy != NULL);
	memcpy(copy, p, len);
	switch (data[0] % 4) {
	case 0: {
		struct proto_meta m;
		char errmsg[STORAGE_ERRMSG_SIZE];
		int rv = meta_decode(copy, len, "d/meta", &m, errmsg);
		if (rv == STORAGE_OK)
			meta_round_trip(&m);
		else if (rv == STORAGE_ECORRUPT)
			assert(strstr(errmsg, "d/meta") != NULL &&
			       strstr(errmsg, "offset") != NULL);
		break;
	}
	case 1: {
		struct proto_meta m;
		if (proto_meta_decode(copy, len, &m) == PROTO_OK && m.format_version > 0)
			meta_round_trip(&m);
		break;
	}
	case 2: {
		struct proto_snapshot_meta s;
		(void)proto_snapshot_meta_decode(copy, len, &s);
		break;
	}
	default: {
		struct raft_entry e;
		if (proto_entry_decode(copy, len, &e) == PROTO_OK)
			raft_buf_unref(e.buf);
		break;
	}
	}
	free(copy);
	return 0;
}
