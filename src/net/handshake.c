/* handshake.c: the authenticated handshake's cryptography: fresh nonces and HMAC-SHA256 proofs
 * that bind both nonces, the cluster id and both member ids (docs/net.md). */
#include "net/internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a proof covers: who speaks (so a proof cannot be reflected back), the cluster, the
 * dialer and the acceptor as each side understands them, and both nonces (so a recorded
 * proof is worth nothing on a later connection). */
static void auth_input(uint8_t out[NET_AUTH_INPUT_BYTES], char role, uint64_t cluster_id,
                       uint64_t dialer, uint64_t acceptor, const uint8_t nd[NET_NONCE_BYTES],
                       const uint8_t na[NET_NONCE_BYTES])
{
	static const char label[16] = "concord-peer-v2";
	memcpy(out, label, sizeof(label));
	out[15] = (uint8_t)role;
	uint8_t *p = out + 16;
	uint64_t ids[3] = {cluster_id, dialer, acceptor};
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < 8; i++)
			*p++ = (uint8_t)(ids[k] >> (8 * i));
	memcpy(p, nd, NET_NONCE_BYTES);
	memcpy(p + NET_NONCE_BYTES, na, NET_NONCE_BYTES);
	assert(p + 2 * NET_NONCE_BYTES == out + NET_AUTH_INPUT_BYTES);
}

void net_auth_mac(const struct net *n, char role, uint64_t dialer, uint64_t acceptor,
                  const uint8_t nd[NET_NONCE_BYTES], const uint8_t na[NET_NONCE_BYTES],
                  uint8_t out[NET_MAC_BYTES])
{
	assert(n->secret_len > 0);
	uint8_t in[NET_AUTH_INPUT_BYTES];
	auth_input(in, role, n->cfg.cluster_id, dialer, acceptor, nd, na);
	unsigned len = NET_MAC_BYTES;
	unsigned char *r =
	    HMAC(EVP_sha256(), n->secret, (int)n->secret_len, in, sizeof(in), out, &len);
	assert(r != NULL);
	assert(len == NET_MAC_BYTES);
	(void)r;
}

bool net_auth_check(const struct net *n, char role, uint64_t dialer, uint64_t acceptor,
                    const uint8_t nd[NET_NONCE_BYTES], const uint8_t na[NET_NONCE_BYTES],
                    const uint8_t mac[NET_MAC_BYTES])
{
	uint8_t want[NET_MAC_BYTES];
	net_auth_mac(n, role, dialer, acceptor, nd, na, want);
	return CRYPTO_memcmp(want, mac, NET_MAC_BYTES) == 0;
}

void net_auth_nonce(uint8_t out[NET_NONCE_BYTES])
{
	/* Without fresh randomness the handshake would be replayable: stop rather than go
	 * on with a predictable nonce. */
	if (RAND_bytes(out, NET_NONCE_BYTES) != 1)
		abort();
}

uint16_t net_hs_version(const struct net *n)
{
	return n->secret_len > 0 ? NET_PROTOCOL_VERSION_AUTH : NET_PROTOCOL_VERSION;
}

bool net_sender_forged(struct net *n, struct net_peer *p, raft_id link, raft_id from, raft_id to)
{
	if (from == link && to == n->cfg.self_id)
		return false;
	NET_COUNT(n, p, dropped_sender, 1);
	uint64_t now = uv_now(n->loop);
	if (n->forged_logged_ms == 0 || now - n->forged_logged_ms >= 1000) {
		n->forged_logged_ms = now;
		net_logf(n, NET_LOG_WARN,
		         "dropped a message from %llu to %llu on the link of member %llu "
		         "(%llu such drops in all; logged at most once a second)",
		         (unsigned long long)from, (unsigned long long)to, (unsigned long long)link,
		         (unsigned long long)n->total.dropped_sender);
	}
	return true;
}

int net_link_write(struct net_tls *tls, uv_stream_t *s, uv_write_t *req, const uv_buf_t *bufs,
                   unsigned n, uv_write_cb cb)
{
	if (tls == NULL)
		return uv_write(req, s, bufs, n, cb);
	return net_tls_write(tls, s, req, bufs, n, cb);
}

bool net_link_identity_ok(struct net *n, const struct net_tls *tls, raft_id id, char *why,
                          size_t len)
{
	const char *name = n->cfg.member_name != NULL ? n->cfg.member_name(n->cfg.ctx, id) : NULL;
	if (net_tls_peer_named(tls, name, id))
		return true;
	char names[256];
	net_tls_peer_names(tls, names, sizeof(names));
	snprintf(why, len, "the peer's certificate (DNS names %s) does not name member %llu (%s)",
	         names, (unsigned long long)id, name != NULL ? name : "name unknown");
	return false;
}
