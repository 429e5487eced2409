/* fuzz_kvsnap.c: libFuzzer target for the KV snapshot loader (kv_snapshot_read_buf).
 * The first input byte is a flag; the rest is the snapshot. With bit 0 of the flag set
 * the trailing CRC-32C is recomputed before loading, so the fuzzer gets past the checksum
 * to the records. A refused snapshot must leave the store untouched; an accepted one
 * must write back byte for byte and keep applying commands. */
#include "base/crc32c.h"
#include "kv/kv.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flag = data[0];
	size_t len = size - 1;
	uint8_t *snap = malloc(len ? len : 1);
	assert(snap != NULL);
	memcpy(snap, data + 1, len);
	if ((flag & 1) && len >= 4) {
		uint32_t crc = crc32c(0, snap, len - 4);
		for (int i = 0; i < 4; i++)
			snap[len - 4 + i] = (uint8_t)(crc >> (8 * i));
	}
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.limits.key_bytes_max = 64;
	cfg.limits.value_bytes_max = 256;
	cfg.limits.keys_per_cmd_max = 8;
	cfg.history_revisions = 4;
	cfg.sessions_max = 4;
	if (flag & 2)
		cfg.sessions_max = 1; /* a snapshot holding more sessions must be refused */
	struct kv *kv;
	assert(kv_new(&cfg, &kv) == 0);
	void *empty = NULL;
	size_t empty_len = 0;
	assert(kv_snapshot_write_buf(kv, &empty, &empty_len) == 0);

	int rv = kv_snapshot_read_buf(kv, snap, len);
	void *out = NULL;
	size_t out_len = 0;
	assert(kv_snapshot_write_buf(kv, &out, &out_len) == 0);
	if (rv != 0) {
		assert(rv == KV_ECORRUPT || rv == KV_EFORMAT || rv == KV_EINVAL || rv == KV_EIO);
		assert(kv_errmsg(kv)[0] != '\0');
		assert(out_len == empty_len && memcmp(out, empty, out_len) == 0);
	} else {
		/* The loaded state is one the store can serialize identically and go on
		 * from; bytes that encode the same state differently need not match the
		 * input, but the store's own encoding must be a fixed point. */
		struct kv *copy;
		assert(kv_new(&cfg, &copy) == 0);
		assert(kv_snapshot_read_buf(copy, out, out_len) == 0);
		void *again = NULL;
		size_t again_len = 0;
		assert(kv_snapshot_write_buf(copy, &again, &again_len) == 0);
		assert(again_len == out_len && memcmp(again, out, out_len) == 0);
		free(again);
		kv_free(copy);
		struct kv_stats st;
		kv_stats(kv, &st);
		struct kv_reply reply;
		static const uint8_t junk[] = {0x08, 0x01};
		kv_apply(kv, st.applied_index + 1, junk, sizeof(junk), &reply);
		assert(kv_applied_index(kv) == st.applied_index + 1);
	}
	free(out);
	free(empty);
	kv_free(kv);
	free(snap);
	return 0;
}
