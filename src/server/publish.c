/* publish.c: a member that does not lead sends CONCORD.MEMBER PUBLISH for itself to the leader. */
#include "server/publish.h"

#include "base/alloc.h"
#include "codec/resp.h"
#include "server/node.h"
#include "server/relay.h"
#include "server/auth.h"

#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUBLISH_PERIOD_MS     1000u
#define PUBLISH_REPLY_MAX     4096u
#define PUBLISH_ERRTEXT_BYTES 256u

struct server_publisher {
	struct server *sv;
	uv_timer_t timer;
	struct relay *relay; /* the request in flight, if any */
	uint32_t skip;       /* replies still to skip (CONCORD.RELAY's) */
	uint64_t leader;
	bool closing;
	bool timer_closed;
	char last_error[PUBLISH_ERRTEXT_BYTES]; /* logged once, not every second */
};

static void publisher_free_maybe(struct server_publisher *p)
{
	if (p->closing && p->timer_closed && p->relay == NULL)
		free(p);
}

/* One status or error line: the only replies PUBLISH and CONCORD.RELAY give. */
static ssize_t reply_complete(const char *data, size_t len, bool eof)
{
	(void)eof;
	if (len == 0)
		return 0;
	if (data[0] != '+' && data[0] != '-')
		return -1;
	const char *nl = memchr(data, '\n', len);
	if (nl == NULL)
		return len >= PUBLISH_REPLY_MAX ? -1 : 0;
	return (ssize_t)(nl - data + 1);
}

static void on_reply(void *arg, const char *data, size_t len)
{
	struct server_publisher *p = arg;
	if (p->skip > 0) {
		p->skip--;
		return;
	}
	size_t n = len;
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	if (data[0] == '+') {
		server_logf(p->sv, 1,
		            "the leader (node %" PRIu64 ") published this member's addresses",
		            p->leader);
		p->last_error[0] = '\0';
	} else if (strncmp(p->last_error, data, n) != 0 || p->last_error[n] != '\0') {
		snprintf(p->last_error, sizeof(p->last_error), "%.*s", (int)n, data);
		server_logf(p->sv, 2,
		            "publishing this member's addresses through node %" PRIu64 ": %s",
		            p->leader, p->last_error);
	}
	relay_close(p->relay);
}

static void on_fail(void *arg, enum relay_error e, const char *why)
{
	struct server_publisher *p = arg;
	(void)e;
	if (strcmp(p->last_error, why) != 0) {
		snprintf(p->last_error, sizeof(p->last_error), "%s", why);
		server_logf(p->sv, 2,
		            "publishing this member's addresses through node %" PRIu64 ": %s",
		            p->leader, why);
	}
}

static void on_closed(void *arg)
{
	struct server_publisher *p = arg;
	p->relay = NULL;
	publisher_free_maybe(p);
}

static const struct relay_ops publish_ops = {
    .complete = reply_complete,
    .reply = on_reply,
    .fail = on_fail,
    .closed = on_closed,
};

static void append_bulk(struct wire_buf *b, const char *s)
{
	resp_write_bulk(b, s, strlen(s));
}

static void on_timer(uv_timer_t *t)
{
	struct server_publisher *p = t->data;
	struct server *sv = p->sv;
	struct node_member own;
	if (p->closing || p->relay != NULL || sv->node == NULL ||
	    !node_self_unpublished(sv->node, &own))
		return;
	const struct node_member *leader = node_leader(sv->node);
	if (leader == NULL || leader->client[0] == '\0' || leader->id == own.id)
		return;
	uint64_t ms = 2 * (uint64_t)sv->request_timeout_ms + 1000;
	p->relay =
	    relay_open(sv->loop, leader->client, sv->relay_tls, ms, 64 * 1024, &publish_ops, p);
	if (p->relay == NULL)
		return;
	p->leader = leader->id;
	struct wire_buf b;
	wire_buf_init(&b, 16 * 1024);
	/* Announced as a peer's relay: the leader serves it from its relay reserve and
	 * does not relay it further. */
	resp_write_array(&b, 1);
	append_bulk(&b, "CONCORD.RELAY");
	uint32_t replies = 2;
	/* With auth on, as the members' own identity (docs/security.md). */
	char token[AUTH_MEMBER_TOKEN_HEXLEN + 1];
	if (auth_member_token(node_kv(sv->node), token)) {
		resp_write_array(&b, 3);
		append_bulk(&b, "AUTH");
		append_bulk(&b, AUTH_MEMBER_USER);
		append_bulk(&b, token);
		OPENSSL_cleanse(token, sizeof(token));
		replies++;
	}
	char id[24];
	snprintf(id, sizeof(id), "%" PRIu64, own.id);
	resp_write_array(&b, 7);
	append_bulk(&b, "CONCORD.MEMBER");
	append_bulk(&b, "PUBLISH");
	append_bulk(&b, id);
	append_bulk(&b, own.name);
	append_bulk(&b, own.peer);
	append_bulk(&b, own.client);
	append_bulk(&b, own.http);
	p->skip = replies - 1;
	relay_send(p->relay, b.data, b.len, replies);
	OPENSSL_cleanse(b.data, b.len);
	wire_buf_free(&b);
}

struct server_publisher *server_publisher_start(struct server *sv)
{
	struct server_publisher *p = xcalloc(1, sizeof(*p));
	p->sv = sv;
	uv_timer_init(sv->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, on_timer, PUBLISH_PERIOD_MS, PUBLISH_PERIOD_MS);
	return p;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct server_publisher *p = h->data;
	p->timer_closed = true;
	publisher_free_maybe(p);
}

void server_publisher_close(struct server_publisher *p)
{
	if (p == NULL || p->closing)
		return;
	p->closing = true;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
	if (p->relay != NULL)
		relay_close(p->relay);
}
