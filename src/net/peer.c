/* peer.c: a link's outbound connection: dial, handshake, coalesced writes, backoff. */
#include "net/internal.h"

#include "base/alloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void peer_tcp_close_cb(uv_handle_t *h);
static void peer_timer_close_cb(uv_handle_t *h);
static void peer_connect_cb(uv_connect_t *req, int status);
static enum net_log_level peer_refusal_level(struct net_peer *p);

/* ----------------------------------------------------------------------------------
 * Holding frames: the queue bound covers queued, delayed and inflight frames alike.
 */

bool net_peer_has_room(const struct net_peer *p, uint32_t len)
{
	const struct net_config *cfg = &p->n->cfg;
	if (p->held_msgs + 1 > cfg->max_queue_msgs)
		return false;
	return p->held_bytes + len <= cfg->max_queue_bytes;
}

void net_peer_hold(struct net_peer *p, struct net_frame *f)
{
	assert(net_peer_has_room(p, f->len));
	p->held_msgs++;
	p->held_bytes += f->len;
}

void net_peer_release(struct net_peer *p, struct net_frame *f)
{
	assert(p->held_msgs >= 1);
	assert(p->held_bytes >= f->len);
	p->held_msgs--;
	p->held_bytes -= f->len;
	free(f);
}

static void frames_release_all(struct net_peer *p, struct net_frame_list *l)
{
	struct net_frame *f;
	while ((f = net_frame_list_pop(l)) != NULL)
		net_peer_release(p, f);
}

/* ----------------------------------------------------------------------------------
 * Lifecycle of the link
 */

static void peer_handle_init_done(struct net_peer *p)
{
	p->handles_open++;
	net_handle_opened(p->n);
}

struct net_peer *net_peer_create(struct net *n, raft_id id)
{
	struct net_peer *p = xcalloc(1, sizeof(*p));
	p->n = n;
	p->id = id;
	p->state = NET_PEER_IDLE;
	/* One stream per direction of each link and purpose: nodes sharing a seed still
	 * make independent decisions. */
	uint64_t link = n->cfg.self_id * 0x9e3779b97f4a7c15ull + id * 4;
	net_rng_seed(&p->fault_rng, n->cfg.seed, link);
	net_rng_seed(&p->backoff_rng, n->cfg.seed, link + 1);
	int rv = uv_timer_init(n->loop, &p->timer);
	assert(rv == 0);
	p->timer.data = p;
	peer_handle_init_done(p);
	rv = uv_timer_init(n->loop, &p->delay_timer);
	assert(rv == 0);
	(void)rv;
	p->delay_timer.data = p;
	peer_handle_init_done(p);
	return p;
}

/* Counts a closed handle of `p`; frees `p` once it is forgotten and nothing is left. */
static void peer_handle_closed(struct net_peer *p)
{
	struct net *n = p->n;
	assert(p->handles_open >= 1);
	p->handles_open--;
	if (p->removed && p->handles_open == 0) {
		assert(!p->writing);
		assert(p->n_inflight == 0);
		frames_release_all(p, &p->queue);
		frames_release_all(p, &p->delayed);
		assert(p->held_msgs == 0);
		assert(p->held_bytes == 0);
		free(p);
	}
	net_handle_closed(n); /* last: it may free the transport */
}

static void peer_timer_close_cb(uv_handle_t *h)
{
	peer_handle_closed(h->data);
}

/* Starts closing the connection; the tcp close callback schedules what comes next. */
static void peer_tcp_close(struct net_peer *p)
{
	if (!p->tcp_open || p->state == NET_PEER_CLOSING)
		return;
	p->state = NET_PEER_CLOSING;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->tcp, peer_tcp_close_cb);
}

void net_peer_destroy(struct net_peer *p)
{
	assert(!p->removed);
	p->removed = true;
	uv_timer_stop(&p->timer);
	uv_timer_stop(&p->delay_timer);
	if (p->tcp_open)
		peer_tcp_close(p);
	uv_close((uv_handle_t *)&p->timer, peer_timer_close_cb);
	uv_close((uv_handle_t *)&p->delay_timer, peer_timer_close_cb);
}

/* Milliseconds before the next dial: min * 2^attempts, capped, then jittered into
 * [d/2, d] so that nodes restarted together do not dial in lockstep. */
static uint64_t backoff_ms(struct net_peer *p)
{
	const struct net_config *cfg = &p->n->cfg;
	uint64_t d = cfg->backoff_min_ms;
	for (uint32_t i = 0; i < p->attempts && d < cfg->backoff_max_ms; i++)
		d *= 2;
	if (d > cfg->backoff_max_ms)
		d = cfg->backoff_max_ms;
	uint64_t half = d / 2;
	return half + net_rng_next(&p->backoff_rng) % (d - half + 1);
}

static void peer_backoff_cb(uv_timer_t *t)
{
	struct net_peer *p = t->data;
	assert(p->state == NET_PEER_BACKOFF);
	net_peer_dial(p);
}

static void peer_tcp_close_cb(uv_handle_t *h)
{
	struct net_peer *p = h->data;
	struct net *n = p->n;
	assert(p->state == NET_PEER_CLOSING);
	assert(!p->writing);
	p->tcp_open = false;
	p->reply_len = 0;
	if (p->tls != NULL) {
		net_tls_free(p->tls);
		free(p->tls);
		p->tls = NULL;
	}
	if (!p->removed && !n->closing) {
		uint64_t wait_ms = 0;
		if (p->redial)
			p->redial = false;
		else
			wait_ms = backoff_ms(p);
		if (p->attempts < NET_BACKOFF_ATTEMPTS_MAX)
			p->attempts++;
		p->state = NET_PEER_BACKOFF;
		uv_timer_start(&p->timer, peer_backoff_cb, wait_ms, 0);
	}
	peer_handle_closed(p);
}

/* Logs why the connection failed and closes it; the first failure after a working
 * connection is a warning, the ones after it (a peer that stays down) are debug noise. */
__attribute__((format(printf, 3, 4))) static void
peer_fail(struct net_peer *p, enum net_log_level level, const char *fmt, ...)
{
	char what[NET_ERRMSG_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (p->attempts > 0 && level < NET_LOG_ERROR)
		level = NET_LOG_DEBUG; /* still down: said already */
	net_logf(p->n, level, "link to %llu at %s: %s", (unsigned long long)p->id, p->address,
	         what);
	peer_tcp_close(p);
}

static void peer_timeout_cb(uv_timer_t *t)
{
	struct net_peer *p = t->data;
	assert(p->state == NET_PEER_CONNECTING || p->state == NET_PEER_HANDSHAKING);
	peer_fail(p, NET_LOG_WARN, "no handshake within %u ms", p->n->cfg.connect_timeout_ms);
}

void net_peer_dial(struct net_peer *p)
{
	struct net *n = p->n;
	assert(!p->removed);
	assert(!n->closing);
	assert(!p->tcp_open);
	assert(p->state == NET_PEER_IDLE || p->state == NET_PEER_BACKOFF);
	uv_timer_stop(&p->timer);
	int rv = uv_tcp_init(n->loop, &p->tcp);
	assert(rv == 0);
	p->tcp.data = p;
	p->tcp_open = true;
	peer_handle_init_done(p);
	p->state = NET_PEER_CONNECTING;
	p->reply_len = 0;
	p->connect_req.data = p;
	NET_COUNT(n, p, dials, 1);
	uv_timer_start(&p->timer, peer_timeout_cb, n->cfg.connect_timeout_ms, 0);
	rv = uv_tcp_connect(&p->connect_req, &p->tcp, (const struct sockaddr *)&p->addr,
	                    peer_connect_cb);
	if (rv != 0)
		peer_fail(p, NET_LOG_WARN, "connect: %s", uv_strerror(rv));
}

/* The address changed: drop the current connection (keeping the queue) and dial anew. */
void net_peer_readdress(struct net_peer *p)
{
	if (!p->n->started)
		return;
	switch (p->state) {
	case NET_PEER_IDLE:
		net_peer_dial(p);
		break;
	case NET_PEER_BACKOFF:
		net_peer_dial(p);
		break;
	case NET_PEER_CLOSING:
		p->redial = true;
		break;
	case NET_PEER_CONNECTING:
	case NET_PEER_HANDSHAKING:
	case NET_PEER_READY:
		p->redial = true;
		net_logf(p->n, NET_LOG_INFO, "link to %llu: address changed to %s, redialing",
		         (unsigned long long)p->id, p->address);
		peer_tcp_close(p);
		break;
	}
}

/* ----------------------------------------------------------------------------------
 * Handshake
 */

static void peer_hello_written_cb(uv_write_t *req, int status)
{
	struct net_peer *p = req->data;
	if (status < 0 && p->state != NET_PEER_CLOSING)
		peer_fail(p, NET_LOG_WARN, "sending the handshake: %s", uv_strerror(status));
}

/* Reads one handshake frame at a time: its header, then exactly its payload. */
static void peer_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct net_peer *p = h->data;
	(void)suggested;
	uint32_t want = NET_FRAME_HEADER_BYTES;
	if (p->reply_len >= NET_FRAME_HEADER_BYTES)
		want += net_get_u32(p->reply); /* vetted by peer_read_cb: it fits */
	if (p->state == NET_PEER_HANDSHAKING && p->reply_len < want && want <= sizeof(p->reply))
		*buf = uv_buf_init((char *)p->reply + p->reply_len, want - p->reply_len);
	else
		*buf = uv_buf_init((char *)p->scratch, sizeof(p->scratch));
}

static void peer_proof_written_cb(uv_write_t *req, int status)
{
	struct net_peer *p = req->data;
	if (status < 0 && p->state != NET_PEER_CLOSING)
		peer_fail(p, NET_LOG_WARN, "sending the proof: %s", uv_strerror(status));
}

/* The acceptor's challenge: its nonce and its proof that it knows the secret. Ours
 * follows; its ACCEPT (or REFUSE) comes next. */
static void peer_challenge(struct net_peer *p)
{
	struct net *n = p->n;
	const uint8_t *na = p->reply + NET_FRAME_HEADER_BYTES;
	if (!net_auth_check(n, 'A', n->cfg.self_id, p->id, p->nonce, na, na + NET_NONCE_BYTES)) {
		NET_COUNT(n, p, auth_failed, 1);
		NET_COUNT(n, p, refused, 1);
		p->attempts = NET_BACKOFF_ATTEMPTS_MAX;
		peer_fail(p, peer_refusal_level(p),
		          "the peer's proof is wrong: it does not know our --peer-secret-file");
		return;
	}
	net_put_u32(p->proof, NET_MAC_BYTES);
	net_auth_mac(n, 'D', n->cfg.self_id, p->id, p->nonce, na,
	             p->proof + NET_FRAME_HEADER_BYTES);
	p->proved = true;
	p->reply_len = 0;
	uv_buf_t b = uv_buf_init((char *)p->proof, sizeof(p->proof));
	p->proof_req.data = p;
	int rv = net_link_write(p->tls, (uv_stream_t *)&p->tcp, &p->proof_req, &b, 1,
	                        peer_proof_written_cb);
	if (rv != 0)
		peer_fail(p, NET_LOG_WARN, "sending the proof: %s", uv_strerror(rv));
}

static enum net_log_level peer_refusal_level(struct net_peer *p)
{
	if (p->refusal_logged)
		return NET_LOG_DEBUG;
	p->refusal_logged = true;
	return NET_LOG_ERROR;
}

/* The peer says this member was removed. It counts only from the peer we dialed, of our
 * cluster, and with a secret only after its proof (TLS checked its certificate already);
 * the node judges the index (docs/net.md, "Removed members"). */
static void peer_told_removed(struct net_peer *p, const struct net_handshake *h)
{
	struct net *n = p->n;
	NET_COUNT(n, p, refused, 1);
	bool trusted = h->cluster_id == n->cfg.cluster_id && h->from == p->id &&
	               (n->secret_len == 0 || p->proved);
	raft_id by = p->id;
	uint64_t at = h->to;
	p->attempts = NET_BACKOFF_ATTEMPTS_MAX;
	peer_fail(p, peer_refusal_level(p),
	          "refused by the peer: it says this member (node %llu) was removed from the "
	          "cluster by its configuration at index %llu%s",
	          (unsigned long long)n->cfg.self_id, (unsigned long long)at,
	          trusted ? "" : " (not believed: the reply does not come from that peer)");
	if (trusted && n->cfg.on_removed != NULL)
		n->cfg.on_removed(n->cfg.ctx, by, at); /* last: it may close the transport */
}

/* The reply is complete: a refusal, or the node we meant to reach accepting us. */
static void peer_reply_check(struct net_peer *p)
{
	struct net *n = p->n;
	struct net_handshake h;
	enum net_hs_parse parsed = net_handshake_decode(p->reply, &h);
	if (parsed != NET_HS_PARSE_OK || h.kind == NET_HS_HELLO) {
		NET_COUNT(n, p, malformed, 1);
		peer_fail(p, NET_LOG_WARN, "malformed handshake reply (not a Concord peer?)");
		return;
	}
	if (h.kind == NET_HS_REFUSE && h.reason == NET_HS_EREMOVED) {
		peer_told_removed(p, &h);
		return;
	}
	if (h.kind == NET_HS_REFUSE) {
		NET_COUNT(n, p, refused, 1);
		/* A refusal is a configuration error: retry slowly until someone fixes it, and
		 * say so once rather than at every retry. */
		p->attempts = NET_BACKOFF_ATTEMPTS_MAX;
		peer_fail(p, peer_refusal_level(p),
		          "refused by the peer: %s (our cluster %llu, node %llu)",
		          net_hs_reason_text(h.reason), (unsigned long long)n->cfg.cluster_id,
		          (unsigned long long)n->cfg.self_id);
		return;
	}
	assert(h.kind == NET_HS_ACCEPT);
	const char *wrong = NULL;
	if (h.version != net_hs_version(n) || (n->secret_len > 0 && !p->proved))
		wrong = "protocol version (a --peer-secret-file on one side only?)";
	else if (h.cluster_id != n->cfg.cluster_id)
		wrong = "cluster id";
	else if (h.from != p->id)
		wrong = "node id";
	else if (h.to != n->cfg.self_id)
		wrong = "our node id";
	if (wrong != NULL) {
		NET_COUNT(n, p, refused, 1);
		p->attempts = NET_BACKOFF_ATTEMPTS_MAX;
		peer_fail(p, peer_refusal_level(p),
		          "the reply names a different %s (version %u, cluster %llu, node %llu, "
		          "to %llu)",
		          wrong, (unsigned)h.version, (unsigned long long)h.cluster_id,
		          (unsigned long long)h.from, (unsigned long long)h.to);
		return;
	}
	uv_timer_stop(&p->timer);
	p->state = NET_PEER_READY;
	p->attempts = 0;
	p->refusal_logged = false;
	NET_COUNT(n, p, connects, 1);
	if (p->ever_connected)
		NET_COUNT(n, p, reconnects, 1);
	p->ever_connected = true;
	net_logf(n, NET_LOG_INFO, "link to %llu at %s: connected", (unsigned long long)p->id,
	         p->address);
	net_peer_flush(p);
}

/* nread more bytes of the handshake frame under way arrived in p->reply. */
static void peer_reply_bytes(struct net_peer *p, size_t nread)
{
	if (p->state == NET_PEER_READY) {
		NET_COUNT(p->n, p, malformed, 1);
		peer_fail(p, NET_LOG_WARN, "unexpected bytes on an outbound connection");
		return;
	}
	assert(p->state == NET_PEER_HANDSHAKING);
	assert(p->reply_len + nread <= sizeof(p->reply));
	p->reply_len += (uint32_t)nread;
	if (p->reply_len < NET_FRAME_HEADER_BYTES)
		return;
	uint32_t len = net_get_u32(p->reply);
	bool challenge = p->n->secret_len > 0 && !p->proved && len == NET_CHALLENGE_BYTES;
	if (len != NET_HANDSHAKE_BYTES && !challenge) {
		NET_COUNT(p->n, p, malformed, 1);
		peer_fail(p, NET_LOG_WARN, "malformed handshake reply (not a Concord peer?)");
		return;
	}
	if (p->reply_len < NET_FRAME_HEADER_BYTES + len)
		return;
	if (challenge)
		peer_challenge(p);
	else
		peer_reply_check(p);
}

static void peer_send_hello(struct net_peer *p);

/* TLS: the handshake, then the peer's certificate must name the member we dialed; then
 * the plaintext, one handshake frame at a time, as peer_alloc_cb would read it. */
static void peer_tls_bytes(struct net_peer *p, size_t nread)
{
	struct net *n = p->n;
	net_tls_received(p->tls, nread);
	if (!p->tls->done) {
		char why[NET_ERRMSG_SIZE];
		int r = net_tls_handshake(p->tls, why, sizeof(why));
		net_tls_send(p->tls, (uv_stream_t *)&p->tcp, NULL, NULL);
		if (r == 0)
			return;
		if (r < 0 || !net_link_identity_ok(n, p->tls, p->id, why, sizeof(why))) {
			NET_COUNT(n, p, auth_failed, 1);
			NET_COUNT(n, p, refused, 1);
			p->attempts = NET_BACKOFF_ATTEMPTS_MAX;
			peer_fail(p, peer_refusal_level(p), "%s", why);
			return;
		}
		peer_send_hello(p);
	}
	while (p->state == NET_PEER_HANDSHAKING || p->state == NET_PEER_READY) {
		uv_buf_t b;
		peer_alloc_cb((uv_handle_t *)&p->tcp, 0, &b);
		long got = net_tls_read(p->tls, b.base, b.len);
		if (got == 0)
			return;
		if (got < 0) {
			peer_fail(p, NET_LOG_WARN, "the peer closed the TLS session");
			return;
		}
		if (b.base == (char *)p->scratch && p->state != NET_PEER_READY) {
			NET_COUNT(n, p, malformed, 1);
			peer_fail(p, NET_LOG_WARN, "malformed handshake reply");
			return;
		}
		peer_reply_bytes(p, (size_t)got);
	}
}

static void peer_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct net_peer *p = s->data;
	(void)buf;
	if (nread == 0 || p->state == NET_PEER_CLOSING)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			peer_fail(p, NET_LOG_WARN, "connection closed by the peer");
		else
			peer_fail(p, NET_LOG_WARN, "read: %s", uv_strerror((int)nread));
		return;
	}
	if (p->tls != NULL)
		peer_tls_bytes(p, (size_t)nread);
	else
		peer_reply_bytes(p, (size_t)nread);
}

static void peer_tls_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct net_peer *p = h->data;
	(void)suggested;
	*buf = uv_buf_init(p->tls->rbuf, sizeof(p->tls->rbuf));
}

/* HELLO (and, with a secret, our nonce): after TCP connects, or after TLS's handshake. */
static void peer_send_hello(struct net_peer *p)
{
	struct net *n = p->n;
	struct net_handshake h = {
	    .version = net_hs_version(n),
	    .kind = NET_HS_HELLO,
	    .reason = NET_HS_OK,
	    .cluster_id = n->cfg.cluster_id,
	    .from = n->cfg.self_id,
	    .to = p->id,
	};
	net_handshake_encode(&h, p->hello);
	size_t len = NET_HANDSHAKE_FRAME_BYTES;
	p->proved = false;
	if (n->secret_len > 0) {
		net_auth_nonce(p->nonce);
		net_put_u32(p->hello + len, NET_NONCE_BYTES);
		memcpy(p->hello + len + NET_FRAME_HEADER_BYTES, p->nonce, NET_NONCE_BYTES);
		len = NET_HELLO_AUTH_BYTES;
	}
	uv_buf_t b = uv_buf_init((char *)p->hello, (unsigned)len);
	p->hello_req.data = p;
	int rv = net_link_write(p->tls, (uv_stream_t *)&p->tcp, &p->hello_req, &b, 1,
	                        peer_hello_written_cb);
	if (rv != 0)
		peer_fail(p, NET_LOG_WARN, "sending the handshake: %s", uv_strerror(rv));
}

static void peer_connect_cb(uv_connect_t *req, int status)
{
	struct net_peer *p = req->data;
	struct net *n = p->n;
	if (p->state == NET_PEER_CLOSING)
		return;
	assert(p->state == NET_PEER_CONNECTING);
	if (status < 0) {
		peer_fail(p, NET_LOG_WARN, "connect: %s", uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&p->tcp, 1);
	p->state = NET_PEER_HANDSHAKING;
	if (n->cfg.tls_client != NULL) {
		p->tls = xmalloc(sizeof(*p->tls));
		if (net_tls_init(p->tls, n->cfg.tls_client, false, NULL) != 0) {
			free(p->tls);
			p->tls = NULL;
			peer_fail(p, NET_LOG_ERROR, "cannot start a TLS session");
			return;
		}
		char why[NET_ERRMSG_SIZE];
		if (net_tls_handshake(p->tls, why, sizeof(why)) < 0 ||
		    net_tls_send(p->tls, (uv_stream_t *)&p->tcp, NULL, NULL) != 0) {
			peer_fail(p, NET_LOG_WARN, "%s", why);
			return;
		}
	} else {
		peer_send_hello(p);
		if (p->state == NET_PEER_CLOSING)
			return;
	}
	int rv = uv_read_start((uv_stream_t *)&p->tcp,
	                       p->tls != NULL ? peer_tls_alloc_cb : peer_alloc_cb, peer_read_cb);
	if (rv != 0)
		peer_fail(p, NET_LOG_WARN, "read: %s", uv_strerror(rv));
}

/* ----------------------------------------------------------------------------------
 * Writing: everything queued leaves in one uv_write of up to NET_WRITE_BATCH_MAX frames.
 */

static void peer_frames_written_cb(uv_write_t *req, int status)
{
	struct net_peer *p = req->data;
	struct net *n = p->n;
	assert(p->writing);
	for (uint32_t i = 0; i < p->n_inflight; i++) {
		struct net_frame *f = p->inflight[i];
		if (status == 0) {
			NET_COUNT(n, p, sent_msgs, 1);
			NET_COUNT(n, p, sent_bytes, f->len);
		} else {
			NET_COUNT(n, p, dropped_conn, 1);
		}
		net_peer_release(p, f);
		p->inflight[i] = NULL;
	}
	p->n_inflight = 0;
	p->writing = false;
	if (status < 0) {
		if (p->state != NET_PEER_CLOSING)
			peer_fail(p, NET_LOG_WARN, "write: %s", uv_strerror(status));
		return;
	}
	net_peer_flush(p);
}

void net_peer_flush(struct net_peer *p)
{
	if (p->state != NET_PEER_READY || p->writing || p->queue.head == NULL)
		return;
	uv_buf_t bufs[NET_WRITE_BATCH_MAX];
	uint32_t k = 0;
	while (k < NET_WRITE_BATCH_MAX && p->queue.head != NULL) {
		struct net_frame *f = net_frame_list_pop(&p->queue);
		p->inflight[k] = f;
		bufs[k] = uv_buf_init((char *)f->data, f->len);
		k++;
	}
	assert(k >= 1);
	p->n_inflight = k;
	p->writing = true;
	NET_COUNT(p->n, p, writes, 1);
	p->write_req.data = p;
	int rv = net_link_write(p->tls, (uv_stream_t *)&p->tcp, &p->write_req, bufs, k,
	                        peer_frames_written_cb);
	if (rv != 0) {
		/* Nothing was submitted: settle the batch as the callback would. */
		peer_frames_written_cb(&p->write_req, rv);
	}
}
