/* frame.c: frame headers and the handshake encoding. */
#include "net/frame.h"

#include <assert.h>
#include <string.h>

_Static_assert(NET_HANDSHAKE_BYTES == 4 + 2 + 1 + 1 + 8 + 8 + 8, "handshake layout");

const char *net_hs_reason_text(int reason)
{
	static const char *const text[] = {
#define NET_HS_REASON_TEXT_(name, t) t,
	    NET_HS_REASONS(NET_HS_REASON_TEXT_)
#undef NET_HS_REASON_TEXT_
	};
	if (reason < 0 || reason >= NET_HS_REASON_COUNT_)
		return "unknown refusal reason";
	return text[reason];
}

void net_put_u32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t net_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void net_handshake_encode(const struct net_handshake *h, uint8_t out[NET_HANDSHAKE_FRAME_BYTES])
{
	assert(h->kind >= NET_HS_HELLO);
	assert(h->kind <= NET_HS_REFUSE);
	assert(h->reason < NET_HS_REASON_COUNT_);
	uint8_t *p = out + NET_FRAME_HEADER_BYTES;
	net_put_u32(out, NET_HANDSHAKE_BYTES);
	net_put_u32(p, NET_HANDSHAKE_MAGIC);
	p[4] = (uint8_t)(h->version & 0xff);
	p[5] = (uint8_t)(h->version >> 8);
	p[6] = h->kind;
	p[7] = h->reason;
	put_u64(p + 8, h->cluster_id);
	put_u64(p + 16, h->from);
	put_u64(p + 24, h->to);
}

enum net_hs_parse net_handshake_decode(const uint8_t in[NET_HANDSHAKE_FRAME_BYTES],
                                       struct net_handshake *h)
{
	if (net_get_u32(in) != NET_HANDSHAKE_BYTES)
		return NET_HS_PARSE_LENGTH;
	const uint8_t *p = in + NET_FRAME_HEADER_BYTES;
	if (net_get_u32(p) != NET_HANDSHAKE_MAGIC)
		return NET_HS_PARSE_MAGIC;
	if (p[6] < NET_HS_HELLO || p[6] > NET_HS_REFUSE)
		return NET_HS_PARSE_KIND;
	if (p[7] >= NET_HS_REASON_COUNT_)
		return NET_HS_PARSE_KIND;
	memset(h, 0, sizeof(*h));
	h->version = (uint16_t)(p[4] | (p[5] << 8));
	h->kind = p[6];
	h->reason = p[7];
	h->cluster_id = get_u64(p + 8);
	h->from = get_u64(p + 16);
	h->to = get_u64(p + 24);
	return NET_HS_PARSE_OK;
}

bool net_frame_len_ok(uint32_t len, uint32_t max_frame_bytes)
{
	if (len == 0)
		return false;
	return len <= max_frame_bytes;
}
