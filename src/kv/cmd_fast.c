/* cmd_fast.c: the commonest command, a SET of one key with no condition or expiry, read in place.
 */
#include "kv/codec.h"

#include <string.h>

/*
 * Every node decodes every entry it applies; protobuf-c's generic unpacker allocates the
 * message, its Put and a copy of the key and of the value, and frees them again, which
 * was most of the cost of applying a plain SET. This reads the bytes of the one shape
 * that dominates, Command { client_id, seq, time_ms, mono_ms, set = Put { key, value } },
 * in place. It accepts only inputs whose meaning is beyond doubt, each field at most
 * once with its expected wire type, varints no longer than a uint64's, nothing else, and
 * answers false for anything else, which then takes the generic path and gets its
 * verdict there. So on every input it accepts, the command is the one kv_cmd_unpack and
 * kv_cmd_from_pb would have produced (tests/kv/test_cmd_fast.c compares the two over
 * encoded commands and mutations of them).
 */

/* A varint at p[0..end) as an encoder writes a uint64 (a tenth byte only for bit 63):
 * its value, and p moved past it. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned i = 0; i < 10 && *p < end; i++) {
		uint8_t b = *(*p)++;
		if (i == 9 && b != 0x01)
			return false;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = x;
			return true;
		}
	}
	return false;
}

/* A length-delimited field's body: [*p, *p + len) within end. */
static bool span(const uint8_t **p, const uint8_t *end, const uint8_t **body, size_t *len)
{
	uint64_t n;
	if (!varint(p, end, &n) || n > (uint64_t)(end - *p))
		return false;
	*body = *p;
	*len = (size_t)n;
	*p += n;
	return true;
}

/* Put { key = 1, value = 2 }, nothing else. */
static bool put_plain(const uint8_t *p, const uint8_t *end, struct kv_put *put)
{
	bool seen[3] = {false, false, false};
	while (p < end) {
		uint64_t tag;
		if (!varint(&p, end, &tag) || (tag & 7) != 2)
			return false;
		uint64_t field = tag >> 3;
		if (field < 1 || field > 2 || seen[field])
			return false;
		seen[field] = true;
		const uint8_t *body;
		size_t len;
		if (!span(&p, end, &body, &len))
			return false;
		if (field == 1) {
			put->key = body;
			put->key_len = len;
		} else {
			put->value = body;
			put->value_len = len;
		}
	}
	return true;
}

bool kv_cmd_decode_fast(const void *buf, size_t len, struct kv_cmd *cmd)
{
	const uint8_t *p = buf;
	const uint8_t *end = p + len;
	struct kv_cmd c;
	memset(&c, 0, sizeof(c));
	bool seen[5] = {false, false, false, false, false};
	bool have_set = false;
	while (p < end) {
		uint64_t tag;
		if (!varint(&p, end, &tag))
			return false;
		uint64_t field = tag >> 3;
		if (field >= 1 && field <= 4) {
			uint64_t v;
			if ((tag & 7) != 0 || seen[field] || !varint(&p, end, &v))
				return false;
			seen[field] = true;
			uint64_t *slot[5] = {NULL, &c.client_id, &c.seq, &c.time_ms, &c.mono_ms};
			*slot[field] = v;
		} else if (field == 10 && (tag & 7) == 2 && !have_set) {
			const uint8_t *body;
			size_t n;
			if (!span(&p, end, &body, &n) || !put_plain(body, body + n, &c.put))
				return false;
			have_set = true;
		} else {
			return false;
		}
	}
	if (!have_set)
		return false;
	c.op = KV_OP_SET;
	*cmd = c;
	return true;
}
