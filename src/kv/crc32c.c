/* crc32c.c: CRC-32C for snapshot checksums, by slicing-by-8 tables or the SSE4.2 instruction. */
#include "kv/impl.h"

#include <string.h>

/* The reflected Castagnoli polynomial, as in iSCSI, ext4 and Concord's storage. */
#define CRC32C_POLY 0x82f63b78u

void kv_crc_init(struct kv_crc *c)
{
	/* table[0] is the byte-at-a-time table; table[k][b] is the CRC of byte b followed by
	 * k zero bytes, which folds eight input bytes per step. */
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t x = i;
		for (int k = 0; k < 8; k++)
			x = (x & 1) ? (x >> 1) ^ CRC32C_POLY : x >> 1;
		c->table[0][i] = x;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			c->table[t][i] =
			    (c->table[t - 1][i] >> 8) ^ c->table[0][c->table[t - 1][i] & 0xff];
	c->hw = false;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	c->hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_tables(const struct kv_crc *c, uint32_t crc, const unsigned char *p, size_t len)
{
	uint32_t x = ~crc;
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		x = c->table[0][(x ^ *p++) & 0xff] ^ (x >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		w ^= x;
		x = c->table[7][w & 0xff] ^ c->table[6][(w >> 8) & 0xff] ^
		    c->table[5][(w >> 16) & 0xff] ^ c->table[4][(w >> 24) & 0xff] ^
		    c->table[3][(w >> 32) & 0xff] ^ c->table[2][(w >> 40) & 0xff] ^
		    c->table[1][(w >> 48) & 0xff] ^ c->table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len > 0) {
		x = c->table[0][(x ^ *p++) & 0xff] ^ (x >> 8);
		len--;
	}
	return ~x;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
                                                         size_t len)
{
	uint64_t x = (uint32_t)~crc;
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		x = __builtin_ia32_crc32qi((uint32_t)x, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		x = __builtin_ia32_crc32di(x, w);
		p += 8;
		len -= 8;
	}
	while (len > 0) {
		x = __builtin_ia32_crc32qi((uint32_t)x, *p++);
		len--;
	}
	return ~(uint32_t)x;
}
#endif

uint32_t kv_crc_update(const struct kv_crc *c, uint32_t crc, const void *data, size_t len)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	if (c->hw)
		return crc_hw(crc, data, len);
#endif
	return crc_tables(c, crc, data, len);
}
