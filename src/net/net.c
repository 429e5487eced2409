/* net.c: the transport object: configuration, peers, sending, flushing, stats, closing. */
#include "net/internal.h"

#include "base/alloc.h"
#include "proto/codec.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Errors, logging, small helpers
 */

const char *net_strerror(int err)
{
	static const char *const text[] = {
#define NET_ERROR_TEXT_(name, t) t,
	    NET_ERRORS(NET_ERROR_TEXT_)
#undef NET_ERROR_TEXT_
	};
	if (err < 0 || err >= NET_ERROR_COUNT_)
		return "unknown transport error";
	return text[err];
}

const char *net_log_level_name(enum net_log_level level)
{
	switch (level) {
	case NET_LOG_DEBUG:
		return "debug";
	case NET_LOG_INFO:
		return "info";
	case NET_LOG_WARN:
		return "warn";
	case NET_LOG_ERROR:
		return "error";
	}
	return "unknown";
}

void net_logf(struct net *n, enum net_log_level level, const char *fmt, ...)
{
	if (n->cfg.log == NULL)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n->cfg.log(n->cfg.ctx, level, line);
}

int net_errmsg_set(struct net *n, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n->errmsg, sizeof(n->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

const char *net_errmsg(const struct net *n)
{
	return n->errmsg;
}

bool net_msg_is_response(enum raft_msg_type type)
{
	switch (type) {
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_APPEND_RESP:
	case RAFT_MSG_HEARTBEAT_RESP:
	case RAFT_MSG_SNAPSHOT_RESP:
		return true;
	case RAFT_MSG_SNAPSHOT:
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_TIMEOUT_NOW:
	case RAFT_MSG_TYPE_COUNT_:
		break;
	}
	return false;
}

/* ----------------------------------------------------------------------------------
 * Frames
 */

/* Fixed-size structures come from base/alloc.h and abort when memory runs out; a frame,
 * whose size a peer or the caller chooses, is a plain malloc whose failure is handled. */
struct net_frame *net_frame_new(uint32_t len)
{
	struct net_frame *f = malloc(sizeof(*f) + len);
	if (f == NULL)
		return NULL;
	f->next = NULL;
	f->due_ms = 0;
	f->seq = 0;
	f->len = len;
	return f;
}

void net_frame_list_push(struct net_frame_list *l, struct net_frame *f)
{
	f->next = NULL;
	if (l->tail != NULL)
		l->tail->next = f;
	else
		l->head = f;
	l->tail = f;
	l->n++;
}

struct net_frame *net_frame_list_pop(struct net_frame_list *l)
{
	struct net_frame *f = l->head;
	if (f == NULL)
		return NULL;
	l->head = f->next;
	if (l->head == NULL)
		l->tail = NULL;
	assert(l->n >= 1);
	l->n--;
	f->next = NULL;
	return f;
}

/* ----------------------------------------------------------------------------------
 * Handles and flushing
 */

void net_handle_opened(struct net *n)
{
	n->handles_open++;
}

void net_handle_closed(struct net *n)
{
	assert(n->handles_open >= 1);
	n->handles_open--;
	if (!n->closing || n->handles_open > 0)
		return;
	assert(n->n_peers == 0);
	assert(n->inbound == NULL);
	void (*cb)(void *ctx) = n->close_cb;
	void *ctx = n->close_ctx;
	free(n);
	if (cb != NULL)
		cb(ctx);
}

static void net_idle_cb(uv_idle_t *h)
{
	(void)h; /* its being active keeps the loop from blocking before the check phase */
}

static void net_check_cb(uv_check_t *h)
{
	struct net *n = h->data;
	uv_idle_stop(&n->idle);
	uv_check_stop(&n->check);
	n->flush_scheduled = false;
	for (uint32_t i = 0; i < n->n_peers; i++)
		net_peer_flush(n->peers[i]);
}

/* Frames queued anywhere in this loop iteration leave together in the check phase. An
 * active idle handle makes the loop poll without blocking, so the check phase follows
 * promptly even when the frames were queued from a timer. */
void net_flush_schedule(struct net *n)
{
	if (n->flush_scheduled || n->closing)
		return;
	n->flush_scheduled = true;
	uv_idle_start(&n->idle, net_idle_cb);
	uv_check_start(&n->check, net_check_cb);
}

/* ----------------------------------------------------------------------------------
 * Creating, starting, closing
 */

void net_config_default(struct net_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_frame_bytes = NET_DEFAULT_MAX_FRAME_BYTES;
	cfg->max_queue_msgs = NET_DEFAULT_MAX_QUEUE_MSGS;
	cfg->max_queue_bytes = NET_DEFAULT_MAX_QUEUE_BYTES;
	cfg->backoff_min_ms = NET_DEFAULT_BACKOFF_MIN_MS;
	cfg->backoff_max_ms = NET_DEFAULT_BACKOFF_MAX_MS;
	cfg->connect_timeout_ms = NET_DEFAULT_CONNECT_TIMEOUT_MS;
}

__attribute__((format(printf, 3, 4))) static int config_error(char *errmsg, int err,
                                                              const char *fmt, ...)
{
	if (errmsg == NULL)
		return err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, NET_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	return err;
}

/* Fills zero limits with defaults and checks the rest. */
/* Fills the defaults of the fields left 0. */
static void config_defaults(struct net_config *c)
{
	if (c->max_frame_bytes == 0)
		c->max_frame_bytes = NET_DEFAULT_MAX_FRAME_BYTES;
	if (c->max_queue_msgs == 0)
		c->max_queue_msgs = NET_DEFAULT_MAX_QUEUE_MSGS;
	if (c->max_queue_bytes == 0)
		c->max_queue_bytes = NET_DEFAULT_MAX_QUEUE_BYTES;
	if (c->backoff_min_ms == 0)
		c->backoff_min_ms = NET_DEFAULT_BACKOFF_MIN_MS;
	if (c->backoff_max_ms == 0)
		c->backoff_max_ms = c->backoff_min_ms > NET_DEFAULT_BACKOFF_MAX_MS
		                        ? c->backoff_min_ms
		                        : NET_DEFAULT_BACKOFF_MAX_MS;
	if (c->connect_timeout_ms == 0)
		c->connect_timeout_ms = NET_DEFAULT_CONNECT_TIMEOUT_MS;
}

/* The sizes and delays, against each other and their bounds. */
static int config_check_limits(const struct net_config *c, char *errmsg)
{
	if (c->self_id == RAFT_NONE)
		return config_error(errmsg, NET_EINVAL, "self_id must not be 0");
	if (c->on_message == NULL)
		return config_error(errmsg, NET_EINVAL, "on_message is required");
	if (c->max_frame_bytes < NET_FRAME_MIN_BYTES)
		return config_error(errmsg, NET_EINVAL,
		                    "max_frame_bytes %u is below the minimum %u",
		                    c->max_frame_bytes, NET_FRAME_MIN_BYTES);
	if (c->max_frame_bytes > NET_FRAME_MAX_BYTES)
		return config_error(errmsg, NET_EINVAL,
		                    "max_frame_bytes %u is above the maximum %u",
		                    c->max_frame_bytes, NET_FRAME_MAX_BYTES);
	if (c->max_queue_bytes < (uint64_t)c->max_frame_bytes + NET_FRAME_HEADER_BYTES)
		return config_error(errmsg, NET_EINVAL,
		                    "max_queue_bytes %llu cannot hold one frame of max_frame_bytes "
		                    "%u",
		                    (unsigned long long)c->max_queue_bytes, c->max_frame_bytes);
	if (c->backoff_min_ms > c->backoff_max_ms)
		return config_error(errmsg, NET_EINVAL,
		                    "backoff_min_ms %u exceeds backoff_max_ms %u",
		                    c->backoff_min_ms, c->backoff_max_ms);
	if (c->backoff_max_ms > NET_DELAY_MAX_MS)
		return config_error(errmsg, NET_EINVAL, "backoff_max_ms %u exceeds %u ms",
		                    c->backoff_max_ms, NET_DELAY_MAX_MS);
	if (c->connect_timeout_ms > NET_DELAY_MAX_MS)
		return config_error(errmsg, NET_EINVAL, "connect_timeout_ms %u exceeds %u ms",
		                    c->connect_timeout_ms, NET_DELAY_MAX_MS);
	return NET_OK;
}

/* The listen address and the peers: ids distinct and not this node's, addresses valid. */
static int config_check_peers(const struct net_config *c, char *errmsg)
{
	if (c->n_peers > NET_PEERS_MAX)
		return config_error(errmsg, NET_ETOOMANY, "%u peers; at most %u", c->n_peers,
		                    NET_PEERS_MAX);
	if (c->n_peers > 0 && c->peers == NULL)
		return config_error(errmsg, NET_EINVAL, "n_peers is %u but peers is NULL",
		                    c->n_peers);
	struct sockaddr_storage ss;
	if (net_addr_parse(c->listen_address, &ss) != NET_OK)
		return config_error(errmsg, NET_EADDR, "listen address \"%s\": %s",
		                    c->listen_address ? c->listen_address : "(null)",
		                    net_strerror(NET_EADDR));
	for (uint32_t i = 0; i < c->n_peers; i++) {
		const struct net_peer_addr *pa = &c->peers[i];
		if (pa->id == RAFT_NONE || pa->id == c->self_id)
			return config_error(errmsg, NET_EINVAL,
			                    "peer %u: id %llu is 0 or this node's own id", i,
			                    (unsigned long long)pa->id);
		for (uint32_t j = 0; j < i; j++)
			if (c->peers[j].id == pa->id)
				return config_error(errmsg, NET_EINVAL,
				                    "peer id %llu is listed twice",
				                    (unsigned long long)pa->id);
		if (net_addr_parse(pa->address, &ss) != NET_OK)
			return config_error(errmsg, NET_EADDR, "peer %llu: address \"%s\": %s",
			                    (unsigned long long)pa->id,
			                    pa->address ? pa->address : "(null)",
			                    net_strerror(NET_EADDR));
	}
	return NET_OK;
}

static int config_check(struct net_config *c, char *errmsg)
{
	config_defaults(c);
	int rv = config_check_limits(c, errmsg);
	if (rv == NET_OK && c->secret_len > 0 &&
	    (c->secret == NULL || c->secret_len < NET_SECRET_MIN_BYTES ||
	     c->secret_len > NET_SECRET_MAX_BYTES))
		rv = config_error(errmsg, NET_EINVAL,
		                  "the shared secret has %u bytes; it needs %u to %u",
		                  c->secret_len, NET_SECRET_MIN_BYTES, NET_SECRET_MAX_BYTES);
	if (rv == NET_OK && (c->tls_server == NULL) != (c->tls_client == NULL))
		rv = config_error(errmsg, NET_EINVAL,
		                  "TLS needs both a server and a client context");
	return rv != NET_OK ? rv : config_check_peers(c, errmsg);
}

int net_new(struct net **out, uv_loop_t *loop, const struct net_config *cfg, char *errmsg)
{
	assert(out != NULL);
	assert(loop != NULL);
	assert(cfg != NULL);
	struct net_config c = *cfg;
	int rv = config_check(&c, errmsg);
	if (rv != NET_OK)
		return rv;
	struct net *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return config_error(errmsg, NET_ENOMEM, "allocating the transport");
	n->loop = loop;
	n->cfg = c;
	snprintf(n->listen_address, sizeof(n->listen_address), "%s", c.listen_address);
	n->cfg.listen_address = n->listen_address;
	n->cfg.peers = NULL;
	n->cfg.n_peers = 0;
	if (c.secret_len > 0)
		memcpy(n->secret, c.secret, c.secret_len);
	n->secret_len = c.secret_len;
	n->cfg.secret = NULL;
	rv = net_addr_parse(n->listen_address, &n->listen_addr);
	assert(rv == NET_OK);

	/* From here on nothing fails: the handles exist and only net_close frees them. */
	rv = uv_idle_init(loop, &n->idle);
	assert(rv == 0);
	n->idle.data = n;
	net_handle_opened(n);
	rv = uv_check_init(loop, &n->check);
	assert(rv == 0);
	n->check.data = n;
	net_handle_opened(n);
	for (uint32_t i = 0; i < c.n_peers; i++) {
		rv = net_peer_set(n, c.peers[i].id, c.peers[i].address);
		assert(rv == NET_OK); /* config_check vetted them */
	}
	*out = n;
	return NET_OK;
}

int net_start(struct net *n)
{
	assert(!n->started);
	if (n->closing)
		return NET_ECLOSING;
	int rv = net_listen(n);
	if (rv != NET_OK)
		return rv;
	n->started = true;
	for (uint32_t i = 0; i < n->n_peers; i++)
		net_peer_dial(n->peers[i]);
	net_logf(n, NET_LOG_INFO, "node %llu of cluster %llu listening on %s (port %d)",
	         (unsigned long long)n->cfg.self_id, (unsigned long long)n->cfg.cluster_id,
	         n->listen_address, n->port);
	return NET_OK;
}

int net_port(const struct net *n)
{
	return n->port;
}

static void net_plain_close_cb(uv_handle_t *h)
{
	net_handle_closed(h->data);
}

void net_close(struct net *n, void (*cb)(void *ctx), void *ctx)
{
	assert(!n->closing);
	n->closing = true;
	n->close_cb = cb;
	n->close_ctx = ctx;
	while (n->n_peers > 0) {
		struct net_peer *p = n->peers[--n->n_peers];
		n->peers[n->n_peers] = NULL;
		net_peer_destroy(p);
	}
	net_inbound_close_all(n);
	if (n->listener_open) {
		n->listener_open = false;
		uv_close((uv_handle_t *)&n->listener, net_plain_close_cb);
	}
	uv_close((uv_handle_t *)&n->idle, net_plain_close_cb);
	uv_close((uv_handle_t *)&n->check, net_plain_close_cb);
}

/* ----------------------------------------------------------------------------------
 * Peers
 */

struct net_peer *net_peer_find(const struct net *n, raft_id id)
{
	for (uint32_t i = 0; i < n->n_peers; i++)
		if (n->peers[i]->id == id)
			return n->peers[i];
	return NULL;
}

int net_peer_set(struct net *n, raft_id id, const char *address)
{
	if (n->closing)
		return NET_ECLOSING;
	if (id == RAFT_NONE || id == n->cfg.self_id)
		return net_errmsg_set(n, NET_EINVAL, "peer id %llu is 0 or this node's own id",
		                      (unsigned long long)id);
	struct sockaddr_storage ss;
	if (net_addr_parse(address, &ss) != NET_OK)
		return net_errmsg_set(n, NET_EADDR, "peer %llu: address \"%s\": %s",
		                      (unsigned long long)id, address ? address : "(null)",
		                      net_strerror(NET_EADDR));
	struct net_peer *p = net_peer_find(n, id);
	if (p != NULL) {
		if (strcmp(p->address, address) == 0)
			return NET_OK;
		snprintf(p->address, sizeof(p->address), "%s", address);
		p->addr = ss;
		net_peer_readdress(p);
		return NET_OK;
	}
	if (n->n_peers >= NET_PEERS_MAX)
		return net_errmsg_set(n, NET_ETOOMANY, "peer %llu: already %u peers",
		                      (unsigned long long)id, NET_PEERS_MAX);
	p = net_peer_create(n, id);
	snprintf(p->address, sizeof(p->address), "%s", address);
	p->addr = ss;
	n->peers[n->n_peers++] = p;
	if (n->started)
		net_peer_dial(p);
	return NET_OK;
}

int net_peer_remove(struct net *n, raft_id id)
{
	for (uint32_t i = 0; i < n->n_peers; i++) {
		struct net_peer *p = n->peers[i];
		if (p->id != id)
			continue;
		n->peers[i] = n->peers[n->n_peers - 1];
		n->peers[--n->n_peers] = NULL;
		net_logf(n, NET_LOG_INFO, "link to %llu: removed", (unsigned long long)id);
		net_peer_destroy(p);
		return NET_OK;
	}
	return net_errmsg_set(n, NET_ENOPEER, "no peer %llu", (unsigned long long)id);
}

uint32_t net_peer_list(const struct net *n, raft_id *ids, uint32_t cap)
{
	for (uint32_t i = 0; i < n->n_peers && i < cap; i++)
		ids[i] = n->peers[i]->id;
	return n->n_peers;
}

/* ----------------------------------------------------------------------------------
 * Sending
 */

/* Queues or delays one copy; false if the link's bound refused it. */
static bool send_copy(struct net_peer *p, const struct net_frame *src, uint32_t delay_ms)
{
	struct net *n = p->n;
	if (!net_peer_has_room(p, src->len)) {
		NET_COUNT(n, p, dropped_queue, 1);
		return false;
	}
	struct net_frame *f = net_frame_new(src->len);
	if (f == NULL) {
		NET_COUNT(n, p, dropped_queue, 1);
		return false;
	}
	memcpy(f->data, src->data, src->len);
	net_peer_hold(p, f);
	if (delay_ms > 0) {
		NET_COUNT(n, p, delayed, 1);
		net_peer_delay(p, f, delay_ms);
	} else {
		net_frame_list_push(&p->queue, f);
		net_flush_schedule(n);
	}
	return true;
}

int net_send(struct net *n, const struct raft_message *m)
{
	if (n->closing)
		return NET_ECLOSING;
	if (m->from != n->cfg.self_id || m->to == RAFT_NONE || m->to == n->cfg.self_id)
		return net_errmsg_set(n, NET_EINVAL, "send: message from %llu to %llu on node %llu",
		                      (unsigned long long)m->from, (unsigned long long)m->to,
		                      (unsigned long long)n->cfg.self_id);
	if (m->type < RAFT_MSG_PREVOTE || m->type >= RAFT_MSG_TYPE_COUNT_)
		return net_errmsg_set(n, NET_EINVAL, "send: unknown message type %d", (int)m->type);
	struct net_peer *p = net_peer_find(n, m->to);
	if (p == NULL)
		return net_errmsg_set(n, NET_ENOPEER, "send: no peer %llu",
		                      (unsigned long long)m->to);
	size_t size = proto_message_size(m);
	if (size > n->cfg.max_frame_bytes) {
		NET_COUNT(n, p, dropped_too_big, 1);
		return net_errmsg_set(
		    n, NET_ETOOBIG,
		    "send: %s to %llu encodes to %zu bytes, above the frame limit "
		    "of %u",
		    raft_msg_type_name(m->type), (unsigned long long)m->to, size,
		    n->cfg.max_frame_bytes);
	}
	struct net_fault_decision d;
	net_fault_decide(p, m->type, &d);
	if (d.drop) {
		NET_COUNT(n, p, dropped_fault, 1);
		return NET_OK;
	}
	uint32_t len = (uint32_t)size + NET_FRAME_HEADER_BYTES;
	if (!net_peer_has_room(p, len)) {
		NET_COUNT(n, p, dropped_queue, d.copies);
		return NET_OK;
	}
	struct net_frame *f = net_frame_new(len);
	if (f == NULL) {
		NET_COUNT(n, p, dropped_queue, d.copies);
		return net_errmsg_set(n, NET_ENOMEM, "send: no memory for a frame of %u bytes",
		                      len);
	}
	net_put_u32(f->data, (uint32_t)size);
	size_t written = proto_message_encode(m, f->data + NET_FRAME_HEADER_BYTES);
	assert(written == size);
	(void)written;
	net_peer_hold(p, f);
	if (d.delay_ms[0] > 0) {
		NET_COUNT(n, p, delayed, 1);
		net_peer_delay(p, f, d.delay_ms[0]);
	} else {
		net_frame_list_push(&p->queue, f);
		net_flush_schedule(n);
	}
	/* The copy follows the original, as on a network that repeats a packet; f stays
	 * valid until the flush, which cannot run before we return. */
	if (d.copies == 2 && send_copy(p, f, d.delay_ms[1]))
		NET_COUNT(n, p, duplicated, 1);
	return NET_OK;
}

/* ----------------------------------------------------------------------------------
 * Stats
 */

static void stats_gauges(const struct net *n, const struct net_peer *p, struct net_stats *s)
{
	s->queued_msgs += p->held_msgs;
	s->queued_bytes += p->held_bytes;
	if (p->state == NET_PEER_READY)
		s->connected++;
	(void)n;
}

int net_stats_get(const struct net *n, raft_id peer, struct net_stats *out)
{
	if (peer == RAFT_NONE) {
		*out = n->total;
		out->queued_msgs = 0;
		out->queued_bytes = 0;
		out->connected = 0;
		for (uint32_t i = 0; i < n->n_peers; i++)
			stats_gauges(n, n->peers[i], out);
		out->inbound = n->n_inbound;
		return NET_OK;
	}
	const struct net_peer *p = net_peer_find(n, peer);
	if (p == NULL)
		return NET_ENOPEER;
	*out = p->stats;
	out->queued_msgs = 0;
	out->queued_bytes = 0;
	out->connected = 0;
	out->inbound = 0;
	stats_gauges(n, p, out);
	for (const struct net_inbound *c = n->inbound; c != NULL; c = c->next)
		if (c->handshaken && c->peer_id == peer)
			out->inbound++;
	return NET_OK;
}
