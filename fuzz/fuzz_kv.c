/* fuzz_kv.c: libFuzzer target for the KV command decoder as the log applies it: the
 * input is a sequence of log entries, each [u16 LE length][payload] (a length with the
 * top bit set is a no-op or configuration entry the store skips), applied with kv_apply
 * to a fresh store at indexes 1, 2, ... Any bytes must be accepted (an undecodable
 * command is a no-op answered KV_EBADCMD). At the end the store's snapshot must load
 * into a fresh store and write back byte for byte. */
#include "kv/kv.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void snapshot_roundtrip(const struct kv *kv, const struct kv_config *cfg)
{
	void *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	assert(kv_snapshot_write_buf(kv, &a, &alen) == 0);
	struct kv *copy;
	assert(kv_new(cfg, &copy) == 0);
	int rv = kv_snapshot_read_buf(copy, a, alen);
	assert(rv == 0);
	assert(kv_applied_index(copy) == kv_applied_index(kv));
	assert(kv_revision(copy) == kv_revision(kv));
	assert(kv_snapshot_write_buf(copy, &b, &blen) == 0);
	assert(alen == blen && memcmp(a, b, alen) == 0);
	kv_free(copy);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_config cfg;
	kv_config_default(&cfg);
	/* Small limits, so the fuzzer reaches them. */
	cfg.limits.key_bytes_max = 64;
	cfg.limits.value_bytes_max = 256;
	cfg.limits.keys_per_cmd_max = 8;
	cfg.history_revisions = 4;
	cfg.sessions_max = 4;
	cfg.session_timeout_ms = 1000;
	struct kv *kv;
	assert(kv_new(&cfg, &kv) == 0);
	raft_index index = 0;
	size_t off = 0;
	while (size - off >= 2) {
		uint16_t h = (uint16_t)(data[off] | data[off + 1] << 8);
		off += 2;
		size_t len = h & 0x7fff;
		if (len > size - off)
			len = size - off;
		uint64_t revision = kv_revision(kv);
		index++;
		struct kv_reply reply;
		memset(&reply, 0xa5, sizeof(reply));
		if (h & 0x8000) {
			kv_apply_skip(kv, index);
			assert(kv_revision(kv) == revision);
		} else {
			int rv = kv_apply(kv, index, data + off, len, &reply);
			assert(rv == reply.code);
			assert(rv >= 0 && rv < KV_ERROR_COUNT_);
			/* A duplicate is answered as it was the first time. */
			assert(reply.duplicate || reply.revision == kv_revision(kv));
			assert(kv_revision(kv) >= revision);
			/* A refused command changes nothing, except that expired keys it
			 * touched are deleted first, at one revision of their own
			 * (kv_expire_touched), as Redis's lazy expiry would. */
			if (!reply.succeeded && rv != KV_OK && !reply.duplicate)
				assert(kv_revision(kv) <= revision + 1);
			uint8_t enc[KV_REPLY_MAX_BYTES];
			size_t n = kv_reply_encode(&reply, enc);
			assert(n <= KV_REPLY_MAX_BYTES);
			struct kv_reply back;
			assert(kv_reply_decode(enc, n, &back) == 0);
			assert(back.code == reply.code && back.revision == reply.revision);
			off += len;
		}
		assert(kv_applied_index(kv) == index);
	}
	snapshot_roundtrip(kv, &cfg);
	kv_free(kv);
	return 0;
}
