/* inbound.c: the listener and accepted connections: handshake check, frame parsing, delivery. */
#include "net/internal.h"

#include "base/alloc.h"
#include "proto/codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void inbound_close(struct net_inbound *c);

/* ----------------------------------------------------------------------------------
 * Lifecycle of an accepted connection
 */

static void inbound_handle_closed_cb(uv_handle_t *h)
{
	struct net_inbound *c = h->data;
	struct net *n = c->n;
	assert(c->closing);
	assert(c->handles_open >= 1);
	c->handles_open--;
	if (c->handles_open == 0) {
		if (c->tls != NULL) {
			net_tls_free(c->tls);
			free(c->tls);
		}
		free(c->buf);
		free(c);
	}
	net_handle_closed(n); /* last: it may free the transport */
}

static void inbound_unlink(struct net_inbound *c)
{
	struct net *n = c->n;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		n->inbound = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = NULL;
	assert(n->n_inbound >= 1);
	n->n_inbound--;
}

/* Closes the connection; safe to call again, and from inside its own callbacks (the
 * memory lives until both handles' close callbacks ran). */
static void inbound_close(struct net_inbound *c)
{
	if (c->closing)
		return;
	c->closing = true;
	inbound_unlink(c);
	uv_close((uv_handle_t *)&c->tcp, inbound_handle_closed_cb);
	uv_close((uv_handle_t *)&c->timer, inbound_handle_closed_cb);
}

uint32_t net_inbound_drop(struct net *n, raft_id id)
{
	uint32_t dropped = 0;
	for (struct net_inbound *c = n->inbound; c != NULL;) {
		struct net_inbound *next = c->next;
		if (c->handshaken && c->peer_id == id) {
			net_logf(n, NET_LOG_INFO,
			         "connection from %s (node %llu): closed, the node "
			         "was removed",
			         c->remote, (unsigned long long)id);
			inbound_close(c);
			dropped++;
		}
		c = next;
	}
	return dropped;
}

void net_inbound_close_all(struct net *n)
{
	while (n->inbound != NULL)
		inbound_close(n->inbound);
	assert(n->n_inbound == 0);
}

/* Counts a bad frame or handshake against the sender (if handshaken and known), logs it
 * and closes the connection. */
__attribute__((format(printf, 2, 3))) static void inbound_malformed(struct net_inbound *c,
                                                                    const char *fmt, ...)
{
	struct net *n = c->n;
	char what[NET_ERRMSG_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	struct net_peer *p = c->handshaken ? net_peer_find(n, c->peer_id) : NULL;
	NET_COUNT(n, p, malformed, 1);
	net_logf(n, NET_LOG_WARN, "connection from %s (node %llu): %s; closing it", c->remote,
	         (unsigned long long)c->peer_id, what);
	inbound_close(c);
}

static void inbound_timeout_cb(uv_timer_t *t)
{
	struct net_inbound *c = t->data;
	assert(!c->handshaken || c->refusing);
	if (c->refusing) {
		inbound_close(c);
		return;
	}
	inbound_malformed(c, "no handshake within %u ms", c->n->cfg.connect_timeout_ms);
}

/* ----------------------------------------------------------------------------------
 * Handshake
 */

static void inbound_reply_written_cb(uv_write_t *req, int status)
{
	struct net_inbound *c = req->data;
	if (c->closing)
		return;
	if (c->refusing || status < 0)
		inbound_close(c);
}

/* `to` is the dialer's id, or for NET_HS_EREMOVED the configuration index. */
static int inbound_reply(struct net_inbound *c, enum net_hs_kind kind, enum net_hs_reason reason,
                         uint64_t to)
{
	struct net *n = c->n;
	struct net_handshake h = {
	    .version = net_hs_version(n),
	    .kind = (uint8_t)kind,
	    .reason = (uint8_t)reason,
	    .cluster_id = n->cfg.cluster_id,
	    .from = n->cfg.self_id,
	    .to = to,
	};
	net_handshake_encode(&h, c->reply);
	uv_buf_t b = uv_buf_init((char *)c->reply, sizeof(c->reply));
	c->reply_req.data = c;
	return net_link_write(c->tls, (uv_stream_t *)&c->tcp, &c->reply_req, &b, 1,
	                      inbound_reply_written_cb);
}

/* Answers with a refusal, then closes (after the write, or at the handshake deadline if
 * the write never completes). */
static void inbound_refuse_to(struct net_inbound *c, enum net_hs_reason reason, uint64_t to)
{
	c->refusing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (inbound_reply(c, NET_HS_REFUSE, reason, to) != 0)
		inbound_close(c);
}

static void inbound_refuse(struct net_inbound *c, const struct net_handshake *h,
                           enum net_hs_reason reason)
{
	struct net *n = c->n;
	NET_COUNT(n, net_peer_find(n, h->from), refused, 1);
	net_logf(n, NET_LOG_WARN,
	         "refused connection from %s: %s (it says version %u, cluster %llu, node %llu, "
	         "to %llu; we are cluster %llu, node %llu)",
	         c->remote, net_hs_reason_text(reason), (unsigned)h->version,
	         (unsigned long long)h->cluster_id, (unsigned long long)h->from,
	         (unsigned long long)h->to, (unsigned long long)n->cfg.cluster_id,
	         (unsigned long long)n->cfg.self_id);
	inbound_refuse_to(c, reason, c->peer_id);
}

/* An authenticated dialer the node knows was removed: tell it which configuration says
 * so (docs/net.md, "Removed members"). */
static bool inbound_refuse_removed(struct net_inbound *c, raft_id id)
{
	struct net *n = c->n;
	uint64_t at = 0;
	if (n->cfg.peer_removed == NULL || !n->cfg.peer_removed(n->cfg.ctx, id, &at))
		return false;
	NET_COUNT(n, net_peer_find(n, id), refused, 1);
	net_logf(n, NET_LOG_WARN,
	         "refused connection from %s: node %llu was removed from the cluster (our "
	         "committed configuration at index %llu leaves it out); telling it so",
	         c->remote, (unsigned long long)id, (unsigned long long)at);
	inbound_refuse_to(c, NET_HS_EREMOVED, at);
	return true;
}

static enum net_hs_reason hello_judge(const struct net *n, const struct net_handshake *h)
{
	if (h->version != net_hs_version(n))
		return h->version == NET_PROTOCOL_VERSION || h->version == NET_PROTOCOL_VERSION_AUTH
		           ? NET_HS_EAUTH
		           : NET_HS_EVERSION;
	if (h->cluster_id != n->cfg.cluster_id)
		return NET_HS_ECLUSTER;
	if (h->from == RAFT_NONE || h->from == n->cfg.self_id)
		return NET_HS_EBADID;
	if (h->to != n->cfg.self_id)
		return NET_HS_EWRONGNODE;
	return NET_HS_OK;
}

static void inbound_admit(struct net_inbound *c, const struct net_handshake *hp);

static void challenge_written_cb(uv_write_t *req, int status)
{
	struct net_inbound *c = req->data;
	if (status < 0 && !c->closing)
		inbound_close(c);
}

/* With a secret, after HELLO: the dialer's nonce (answered with ours and our proof), then
 * its proof (answered ACCEPT, or REFUSE for a wrong one). */
static void inbound_auth_frame(struct net_inbound *c, const uint8_t payload[NET_NONCE_BYTES])
{
	struct net *n = c->n;
	raft_id self = n->cfg.self_id;
	if (c->auth_stage == 1) {
		memcpy(c->nonce_d, payload, NET_NONCE_BYTES);
		net_auth_nonce(c->nonce_a);
		net_put_u32(c->challenge, NET_CHALLENGE_BYTES);
		memcpy(c->challenge + NET_FRAME_HEADER_BYTES, c->nonce_a, NET_NONCE_BYTES);
		net_auth_mac(n, 'A', c->hello.from, self, c->nonce_d, c->nonce_a,
		             c->challenge + NET_FRAME_HEADER_BYTES + NET_NONCE_BYTES);
		c->auth_stage = 2;
		uv_buf_t b = uv_buf_init((char *)c->challenge, sizeof(c->challenge));
		c->challenge_req.data = c;
		if (net_link_write(c->tls, (uv_stream_t *)&c->tcp, &c->challenge_req, &b, 1,
		                   challenge_written_cb) != 0)
			inbound_close(c);
		return;
	}
	assert(c->auth_stage == 2);
	if (!net_auth_check(n, 'D', c->hello.from, self, c->nonce_d, c->nonce_a, payload)) {
		NET_COUNT(n, net_peer_find(n, c->hello.from), auth_failed, 1);
		inbound_refuse(c, &c->hello, NET_HS_EAUTH);
		return;
	}
	c->auth_stage = 3;
	inbound_admit(c, &c->hello);
}

static void inbound_hello(struct net_inbound *c, const uint8_t *frame)
{
	struct net *n = c->n;
	struct net_handshake h;
	enum net_hs_parse parsed = net_handshake_decode(frame, &h);
	if (parsed == NET_HS_PARSE_MAGIC) {
		inbound_malformed(c, "bad handshake magic (not a Concord peer)");
		return;
	}
	if (parsed != NET_HS_PARSE_OK || h.kind != NET_HS_HELLO) {
		inbound_malformed(c, "malformed handshake");
		return;
	}
	enum net_hs_reason reason = hello_judge(n, &h);
	if (reason != NET_HS_OK) {
		inbound_refuse(c, &h, reason);
		return;
	}
	char why[NET_ERRMSG_SIZE];
	if (c->tls != NULL && !net_link_identity_ok(n, c->tls, h.from, why, sizeof(why))) {
		NET_COUNT(n, net_peer_find(n, h.from), auth_failed, 1);
		net_logf(n, NET_LOG_WARN, "connection from %s: %s", c->remote, why);
		inbound_refuse(c, &h, NET_HS_EAUTH);
		return;
	}
	if (n->secret_len > 0) {
		/* Nothing it says counts until it proves it knows the secret. */
		c->hello = h;
		c->peer_id = h.from;
		c->auth_stage = 1;
		return;
	}
	inbound_admit(c, &h);
}

/* The dialer is who it says: replace its older connection and answer ACCEPT. */
static void inbound_admit(struct net_inbound *c, const struct net_handshake *hp)
{
	struct net *n = c->n;
	struct net_handshake h = *hp;
	if (inbound_refuse_removed(c, h.from))
		return;
	/* A peer dials one connection to us at a time: an older one from it is dead. */
	for (struct net_inbound *o = n->inbound; o != NULL;) {
		struct net_inbound *next = o->next;
		if (o != c && o->handshaken && o->peer_id == h.from) {
			net_logf(n, NET_LOG_INFO,
			         "connection from %s (node %llu): replaced by a new one", o->remote,
			         (unsigned long long)h.from);
			inbound_close(o);
		}
		o = next;
	}
	c->handshaken = true;
	c->peer_id = h.from;
	uv_timer_stop(&c->timer);
	int rv = inbound_reply(c, NET_HS_ACCEPT, NET_HS_OK, c->peer_id);
	if (rv != 0) {
		net_logf(n, NET_LOG_WARN, "connection from %s: replying: %s", c->remote,
		         uv_strerror(rv));
		inbound_close(c);
		return;
	}
	NET_COUNT(n, net_peer_find(n, h.from), accepted, 1);
	net_logf(n, NET_LOG_INFO, "accepted node %llu from %s", (unsigned long long)h.from,
	         c->remote);
}

/* ----------------------------------------------------------------------------------
 * Frames
 */

/* One message frame from a handshaken peer. */
static void inbound_deliver(struct net_inbound *c, const uint8_t *payload, uint32_t len)
{
	struct net *n = c->n;
	struct net_peer *p = net_peer_find(n, c->peer_id);
	if (p != NULL && p->fault.block_inbound) {
		NET_COUNT(n, p, dropped_fault, 1);
		return;
	}
	struct raft_message m;
	int rv = proto_message_decode(payload, len, &m);
	if (rv != 0) {
		inbound_malformed(c, "undecodable message of %u bytes: %s", len,
		                  proto_strerror(rv));
		return;
	}
	if (net_sender_forged(n, p, c->peer_id, m.from, m.to)) {
		raft_message_release(&m);
		return;
	}
	NET_COUNT(n, p, received_msgs, 1);
	NET_COUNT(n, p, received_bytes, (uint64_t)len + NET_FRAME_HEADER_BYTES);
	/* p may be gone after this call: the callback may remove peers or close us. */
	n->cfg.on_message(n->cfg.ctx, &m);
	raft_message_release(&m);
}

/* Consumes every whole frame in the buffer; stops at the first error or when the
 * connection or the transport starts closing (possibly from on_message). */
static void inbound_parse(struct net_inbound *c)
{
	struct net *n = c->n;
	size_t off = 0;
	while (!c->closing && !c->refusing && !n->closing) {
		size_t avail = c->len - off;
		if (avail < NET_FRAME_HEADER_BYTES)
			break;
		const uint8_t *at = c->buf + off;
		uint32_t flen = net_get_u32(at);
		if (!c->handshaken && c->auth_stage > 0) {
			if (flen != NET_NONCE_BYTES) {
				inbound_malformed(
				    c, "expected a %u-byte %s, got a frame of %u bytes",
				    NET_NONCE_BYTES, c->auth_stage == 1 ? "nonce" : "proof", flen);
				return;
			}
			if (avail < NET_FRAME_HEADER_BYTES + NET_NONCE_BYTES)
				break;
			inbound_auth_frame(c, at + NET_FRAME_HEADER_BYTES);
			off += NET_FRAME_HEADER_BYTES + NET_NONCE_BYTES;
			continue;
		}
		if (!c->handshaken) {
			if (flen != NET_HANDSHAKE_BYTES) {
				inbound_malformed(c,
				                  "expected a handshake, got a frame header of %u "
				                  "bytes",
				                  flen);
				return;
			}
			if (avail < NET_HANDSHAKE_FRAME_BYTES)
				break;
			inbound_hello(c, at);
			off += NET_HANDSHAKE_FRAME_BYTES;
			continue;
		}
		if (flen == 0) {
			inbound_malformed(c, "empty frame");
			return;
		}
		if (!net_frame_len_ok(flen, n->cfg.max_frame_bytes)) {
			inbound_malformed(c, "frame of %u bytes exceeds the limit of %u", flen,
			                  n->cfg.max_frame_bytes);
			return;
		}
		if (avail < NET_FRAME_HEADER_BYTES + (size_t)flen)
			break;
		inbound_deliver(c, at + NET_FRAME_HEADER_BYTES, flen);
		off += NET_FRAME_HEADER_BYTES + (size_t)flen;
	}
	if (c->closing)
		return; /* the buffer goes with the connection */
	assert(off <= c->len);
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	/* After a large frame, give its memory back. */
	if (c->len == 0 && c->cap > 4 * NET_READ_CHUNK_BYTES) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
}

/* Room in c->buf for the next bytes (NULL on no memory). */
static void inbound_room(struct net_inbound *c, uv_buf_t *buf)
{
	/* Room for the frame under way (whose length inbound_parse already vetted), or a
	 * chunk: never more than one frame and one header. */
	size_t want = NET_READ_CHUNK_BYTES;
	if (c->handshaken && c->len >= NET_FRAME_HEADER_BYTES) {
		size_t frame = NET_FRAME_HEADER_BYTES + (size_t)net_get_u32(c->buf);
		if (frame > want)
			want = frame;
	}
	assert(want <= (size_t)c->n->cfg.max_frame_bytes + NET_FRAME_HEADER_BYTES ||
	       want == NET_READ_CHUNK_BYTES);
	if (c->cap < want) {
		uint8_t *grown = realloc(c->buf, want);
		if (grown == NULL) {
			*buf = uv_buf_init(NULL, 0); /* the read callback sees UV_ENOBUFS */
			return;
		}
		c->buf = grown;
		c->cap = want;
	}
	assert(c->cap > c->len);
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void inbound_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct net_inbound *c = h->data;
	(void)suggested;
	if (c->tls != NULL)
		*buf = uv_buf_init(c->tls->rbuf, sizeof(c->tls->rbuf));
	else
		inbound_room(c, buf);
}

/* TLS: the handshake, then plaintext into c->buf, parsed as it comes. */
static void inbound_tls_bytes(struct net_inbound *c, size_t nread)
{
	struct net *n = c->n;
	net_tls_received(c->tls, nread);
	if (!c->tls->done) {
		char why[NET_ERRMSG_SIZE];
		int r = net_tls_handshake(c->tls, why, sizeof(why));
		net_tls_send(c->tls, (uv_stream_t *)&c->tcp, NULL, NULL);
		if (r < 0) {
			NET_COUNT(n, (struct net_peer *)NULL, auth_failed, 1);
			inbound_malformed(c, "%s", why);
		}
		if (r <= 0)
			return;
	}
	while (!c->closing && !c->refusing && !n->closing) {
		uv_buf_t b;
		inbound_room(c, &b);
		if (b.base == NULL) {
			inbound_malformed(c, "no memory for a frame");
			return;
		}
		long got = net_tls_read(c->tls, b.base, b.len);
		if (got == 0)
			return;
		if (got < 0) {
			net_logf(n, NET_LOG_INFO,
			         "connection from %s (node %llu): TLS session closed", c->remote,
			         (unsigned long long)c->peer_id);
			inbound_close(c);
			return;
		}
		c->len += (size_t)got;
		inbound_parse(c);
	}
}

static void inbound_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct net_inbound *c = s->data;
	struct net *n = c->n;
	(void)buf;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && c->len > 0) {
			inbound_malformed(c, "closed in the middle of a frame (%zu bytes of it)",
			                  c->len);
		} else if (nread == UV_EOF && !c->handshaken) {
			inbound_malformed(c, "closed before the handshake");
		} else {
			net_logf(n, nread == UV_EOF ? NET_LOG_INFO : NET_LOG_WARN,
			         "connection from %s (node %llu): %s", c->remote,
			         (unsigned long long)c->peer_id,
			         nread == UV_EOF ? "closed by the peer" : uv_strerror((int)nread));
			inbound_close(c);
		}
		return;
	}
	if (c->tls != NULL) {
		inbound_tls_bytes(c, (size_t)nread);
		return;
	}
	c->len += (size_t)nread;
	assert(c->len <= c->cap);
	inbound_parse(c);
}

/* ----------------------------------------------------------------------------------
 * Listener
 */

static void inbound_accept(struct net *n)
{
	struct net_inbound *c = xcalloc(1, sizeof(*c));
	c->n = n;
	int rv = uv_tcp_init(n->loop, &c->tcp);
	assert(rv == 0);
	c->tcp.data = c;
	c->handles_open++;
	net_handle_opened(n);
	rv = uv_timer_init(n->loop, &c->timer);
	assert(rv == 0);
	c->timer.data = c;
	c->handles_open++;
	net_handle_opened(n);
	snprintf(c->remote, sizeof(c->remote), "(unknown)");
	/* Linked first so that every exit below goes through inbound_close. */
	c->next = n->inbound;
	if (n->inbound != NULL)
		n->inbound->prev = c;
	n->inbound = c;
	n->n_inbound++;

	rv = uv_accept((uv_stream_t *)&n->listener, (uv_stream_t *)&c->tcp);
	if (rv != 0) {
		net_logf(n, NET_LOG_WARN, "accept: %s", uv_strerror(rv));
		inbound_close(c);
		return;
	}
	struct sockaddr_storage ss;
	int ss_len = sizeof(ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &ss_len) == 0)
		net_addr_format((struct sockaddr *)&ss, c->remote, sizeof(c->remote));
	if (n->n_inbound > NET_INBOUND_MAX) {
		NET_COUNT(n, (struct net_peer *)NULL, refused, 1);
		net_logf(n, NET_LOG_WARN,
		         "connection from %s: already %u inbound connections; "
		         "closing it",
		         c->remote, NET_INBOUND_MAX);
		inbound_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (n->cfg.tls_server != NULL) {
		c->tls = xmalloc(sizeof(*c->tls));
		if (net_tls_init(c->tls, n->cfg.tls_server, true, NULL) != 0) {
			free(c->tls);
			c->tls = NULL;
			inbound_malformed(c, "cannot start a TLS session");
			return;
		}
	}
	uv_timer_start(&c->timer, inbound_timeout_cb, n->cfg.connect_timeout_ms, 0);
	rv = uv_read_start((uv_stream_t *)&c->tcp, inbound_alloc_cb, inbound_read_cb);
	if (rv != 0) {
		net_logf(n, NET_LOG_WARN, "connection from %s: read: %s", c->remote,
		         uv_strerror(rv));
		inbound_close(c);
	}
}

static void listener_connection_cb(uv_stream_t *server, int status)
{
	struct net *n = server->data;
	if (n->closing)
		return;
	if (status < 0) {
		net_logf(n, NET_LOG_WARN, "listener on %s: %s", n->listen_address,
		         uv_strerror(status));
		return;
	}
	inbound_accept(n);
}

static void listener_close_cb(uv_handle_t *h)
{
	net_handle_closed(h->data);
}

int net_listen(struct net *n)
{
	assert(!n->listener_open);
	int rv = uv_tcp_init(n->loop, &n->listener);
	assert(rv == 0);
	n->listener.data = n;
	n->listener_open = true;
	net_handle_opened(n);
	const char *step = "bind";
	rv = uv_tcp_bind(&n->listener, (const struct sockaddr *)&n->listen_addr, 0);
	if (rv == 0) {
		step = "listen";
		rv = uv_listen((uv_stream_t *)&n->listener, NET_LISTEN_BACKLOG,
		               listener_connection_cb);
	}
	struct sockaddr_storage ss;
	int ss_len = sizeof(ss);
	if (rv == 0) {
		step = "getsockname";
		rv = uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss, &ss_len);
	}
	if (rv != 0) {
		n->listener_open = false;
		uv_close((uv_handle_t *)&n->listener, listener_close_cb);
		return net_errmsg_set(n, NET_ELISTEN, "listen on %s: %s: %s", n->listen_address,
		                      step, uv_strerror(rv));
	}
	if (ss.ss_family == AF_INET6)
		n->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		n->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return NET_OK;
}
