/* frame.h: the transport's wire format: frame headers and the handshake, pure functions. */
#ifndef CONCORD_NET_FRAME_H
#define CONCORD_NET_FRAME_H

/*
 * A frame is [u32 little-endian payload length][payload]. The first frame each way on a
 * connection is a handshake (a fixed 32-byte payload, below); every later frame from the
 * dialer carries one protobuf-encoded Message (src/proto/codec.h). docs/net.md has the
 * whole story. Nothing here allocates or touches a socket, so a fuzzer can drive it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_FRAME_HEADER_BYTES    4u
#define NET_HANDSHAKE_BYTES       32u
#define NET_HANDSHAKE_FRAME_BYTES (NET_FRAME_HEADER_BYTES + NET_HANDSHAKE_BYTES)
#define NET_HANDSHAKE_MAGIC       0x44434e43u /* "CNCD" as little-endian bytes */
#define NET_PROTOCOL_VERSION      1u
/* The version a dialer with a shared secret speaks: HELLO and a nonce, a challenge, a
 * proof, then ACCEPT or REFUSE (docs/net.md, "Authentication"). */
#define NET_PROTOCOL_VERSION_AUTH 2u
#define NET_NONCE_BYTES           32u
#define NET_MAC_BYTES             32u
/* The challenge frame's payload: the acceptor's nonce and its proof. */
#define NET_CHALLENGE_BYTES (NET_NONCE_BYTES + NET_MAC_BYTES)

/* What a handshake says. A dialer sends HELLO; the node it reached answers ACCEPT or
 * REFUSE with a reason, and closes the connection after a REFUSE. */
enum net_hs_kind {
	NET_HS_HELLO = 1,
	NET_HS_ACCEPT = 2,
	NET_HS_REFUSE = 3,
};

#define NET_HS_REASONS(X)                                                                          \
	X(NET_HS_OK, "ok")                                                                         \
	X(NET_HS_ECLUSTER, "cluster id mismatch")                                                  \
	X(NET_HS_EVERSION, "unsupported protocol version")                                         \
	X(NET_HS_EWRONGNODE, "the dialer expected another node at this address")                   \
	X(NET_HS_EBADID, "the sender's node id is invalid or equals the receiver's")               \
	X(NET_HS_EAUTH, "authentication failed (no proof, a wrong proof, or the other side "       \
	                "has no --peer-secret-file)")                                              \
	X(NET_HS_EREMOVED, "the dialer was removed from the cluster")

enum net_hs_reason {
#define NET_HS_REASON_ENUM_(name, text) name,
	NET_HS_REASONS(NET_HS_REASON_ENUM_)
#undef NET_HS_REASON_ENUM_
	    NET_HS_REASON_COUNT_
};

/* A static string for a refusal reason (any int). */
const char *net_hs_reason_text(int reason);

/* The handshake payload, little-endian:
 *   0  u32 magic       NET_HANDSHAKE_MAGIC
 *   4  u16 version     NET_PROTOCOL_VERSION
 *   6  u8  kind        enum net_hs_kind
 *   7  u8  reason      enum net_hs_reason (REFUSE only, else 0)
 *   8  u64 cluster_id
 *  16  u64 from        the sender's node id
 *  24  u64 to          the node the sender believes it talks to; in a REFUSE for
 *                      NET_HS_EREMOVED, the index of the acceptor's latest committed
 *                      configuration, which leaves the dialer out */
struct net_handshake {
	uint16_t version;
	uint8_t kind;
	uint8_t reason;
	uint64_t cluster_id;
	uint64_t from;
	uint64_t to;
};

void net_put_u32(uint8_t *p, uint32_t v);
uint32_t net_get_u32(const uint8_t *p);

/* Writes a whole handshake frame (header and payload) into `out`. */
void net_handshake_encode(const struct net_handshake *h, uint8_t out[NET_HANDSHAKE_FRAME_BYTES]);

/* How a received handshake frame parses. */
enum net_hs_parse {
	NET_HS_PARSE_OK = 0,
	NET_HS_PARSE_LENGTH, /* the frame length is not NET_HANDSHAKE_BYTES */
	NET_HS_PARSE_MAGIC,  /* not a Concord peer */
	NET_HS_PARSE_KIND,   /* unknown kind or reason */
};

/* Parses a whole handshake frame (header and payload) from `in`. The version is returned
 * as read, for the caller to judge. */
enum net_hs_parse net_handshake_decode(const uint8_t in[NET_HANDSHAKE_FRAME_BYTES],
                                       struct net_handshake *h);

/* Checks a frame header announcing `len` payload bytes against `max_frame_bytes`:
 * returns true if acceptable (1 <= len <= max_frame_bytes). */
bool net_frame_len_ok(uint32_t len, uint32_t max_frame_bytes);

#endif /* CONCORD_NET_FRAME_H */
