/* snap_encode.c: a snapshot's version record encoded by hand, byte for byte as protobuf-c
 * packs it, without the generic descriptor walk (most of a snapshot's cost). */
#include "kv/codec.h"

#include <assert.h>
#include <string.h>

/*
 * A version record is SnapRecord { version = 2: SnapVersion }, a oneof member, so always
 * present: tag 0x12, the length of the SnapVersion, then its fields in field-number
 * order. Its fields are proto3 scalars and bytes without presence: protobuf-c leaves out
 * a zero integer, a false bool and empty bytes, and so does this. The result is the
 * canonical encoding, the bytes protobuf-c writes (tests/kv/test_snapshot.c compares the
 * two over many records), so snapshots are the same bytes as before.
 */

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* A varint field: its tag byte (field < 16, wire type 0) and value, if not zero. */
static size_t uint_field_size(uint64_t v)
{
	return v != 0 ? 1 + varint_size(v) : 0;
}

static uint8_t *put_uint_field(uint8_t *p, uint32_t field, uint64_t v)
{
	if (v == 0)
		return p;
	*p++ = (uint8_t)(field << 3);
	return put_varint(p, v);
}

/* A bytes field (wire type 2), if not empty. */
static size_t bytes_field_size(size_t len)
{
	return len != 0 ? 1 + varint_size(len) + len : 0;
}

static uint8_t *put_bytes_field(uint8_t *p, uint32_t field, const uint8_t *data, size_t len)
{
	if (len == 0)
		return p;
	*p++ = (uint8_t)(field << 3 | 2);
	p = put_varint(p, len);
	memcpy(p, data, len);
	return p + len;
}

static size_t version_size(const Concord__Kv__SnapVersion *sv)
{
	return bytes_field_size(sv->key.len) + (sv->same_key ? 2 : 0) +
	       uint_field_size(sv->create_revision) + uint_field_size(sv->mod_revision) +
	       uint_field_size(sv->version) + bytes_field_size(sv->value.len) +
	       uint_field_size(sv->deadline) + uint_field_size(sv->lease);
}

size_t kv_snap_version_record_size(const Concord__Kv__SnapVersion *sv)
{
	size_t inner = version_size(sv);
	return 1 + varint_size(inner) + inner;
}

size_t kv_snap_version_record_pack(const Concord__Kv__SnapVersion *sv, uint8_t *out)
{
	size_t inner = version_size(sv);
	uint8_t *p = out;
	*p++ = 2 << 3 | 2; /* SnapRecord.version, length-delimited */
	p = put_varint(p, inner);
	uint8_t *start = p;
	p = put_bytes_field(p, 1, sv->key.data, sv->key.len);
	if (sv->same_key) {
		*p++ = 2 << 3;
		*p++ = 1;
	}
	p = put_uint_field(p, 3, sv->create_revision);
	p = put_uint_field(p, 4, sv->mod_revision);
	p = put_uint_field(p, 5, sv->version);
	p = put_bytes_field(p, 6, sv->value.data, sv->value.len);
	p = put_uint_field(p, 7, sv->deadline);
	p = put_uint_field(p, 8, sv->lease);
	assert((size_t)(p - start) == inner);
	return (size_t)(p - out);
}
