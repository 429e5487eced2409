/* peer_status.c: the serving node gathers every member's own status over HTTP for the web page (GET
 * /v1/live). */
#include "server/peer_status.h"

#include "base/alloc.h"
#include "codec/json.h"
#include "server/node.h"
#include "server/relay.h"
#include "server/auth.h"

#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Once a second the node asks each member with an HTTP address, itself included, for
 * GET /v1/cluster and GET /v1/admin/faults on one connection, and keeps the last
 * answer: the member's own role, term, commit, applied and last index, how many of its
 * links carry injected faults, and when it answered. It also samples its own view: the
 * leader (a change is remembered, the last PEER_CHANGES of them) and the commit index
 * (the last PEER_RATE_SAMPLES seconds, for the commit-rate sparkline). GET /v1/live
 * serves all of it; the page needs no request of its own to other nodes.
 */

#define PEER_PERIOD_MS    1000u
#define PEER_REPLY_BYTES  (256u * 1024)
#define PEER_CHANGES      16u
#define PEER_RATE_SAMPLES 61u

struct peer_status;

struct peer_entry {
	struct peer_status *ps;
	raft_id id;
	struct relay *relay;
	uint32_t replies; /* of this round */
	bool round_ok;    /* every reply of this round was a 200 with JSON */
	bool answered;    /* ever */
	uint64_t at_ms;   /* uv_now of the last answer */
	char role[16];
	uint64_t term, commit, applied, last_index, leader;
	uint32_t faults; /* links with faults */
	char error[160]; /* of the last round, "" if it answered */
};

struct peer_status {
	struct server *sv;
	uv_timer_t timer;
	bool closing, timer_closed;
	uint32_t relays_open;
	struct peer_entry peers[NODE_MAX_MEMBERS];
	uint32_t n_peers;
	struct {
		uint64_t at_ms, term, leader;
	} changes[PEER_CHANGES];
	uint32_t n_changes, next_change;
	uint64_t last_leader;
	uint64_t commits[PEER_RATE_SAMPLES];
	uint32_t n_commits, next_commit;
};

static void ps_free_maybe(struct peer_status *p)
{
	if (p->closing && p->timer_closed && p->relays_open == 0)
		free(p);
}

/* An HTTP response: the head, then Content-Length bytes. */
static ssize_t http_complete(const char *data, size_t len, bool eof)
{
	(void)eof;
	const char *end = memmem(data, len, "\r\n\r\n", 4);
	if (end == NULL)
		return len > 16384 ? -1 : 0;
	size_t head = (size_t)(end - data) + 4;
	uint64_t body = 0;
	for (const char *l = memmem(data, head, "\r\n", 2); l != NULL && l < end;
	     l = memmem(l + 2, (size_t)(end - l), "\r\n", 2)) {
		if ((size_t)(end - l) > 17 && strncasecmp(l + 2, "Content-Length:", 15) == 0)
			body = strtoull(l + 17, NULL, 10);
	}
	if (body > PEER_REPLY_BYTES)
		return -1;
	return head + body <= len ? (ssize_t)(head + body) : 0;
}

static uint64_t j_u64(const struct json_value *o, const char *k)
{
	uint64_t x = 0;
	const struct json_value *v = json_object_get(o, k);
	return v != NULL && json_value_uint64(v, &x) == 0 ? x : 0;
}

static void parse_cluster(struct peer_entry *e, const struct json_value *root)
{
	const struct json_value *role = json_object_get(root, "role");
	if (role != NULL && role->type == JSON_STRING)
		snprintf(e->role, sizeof(e->role), "%.*s", (int)role->len, role->str);
	e->term = j_u64(root, "term");
	e->commit = j_u64(root, "commit");
	e->applied = j_u64(root, "applied");
	e->last_index = j_u64(root, "last_index");
	e->leader = j_u64(root, "leader");
}

static void parse_faults(struct peer_entry *e, const struct json_value *root)
{
	const struct json_value *links = json_object_get(root, "links");
	e->faults = 0;
	if (links != NULL && links->type == JSON_ARRAY)
		for (const struct json_value *l = links->child; l != NULL; l = l->next)
			e->faults++;
}

static void on_reply(void *arg, const char *data, size_t len)
{
	struct peer_entry *e = arg;
	const char *body = memmem(data, len, "\r\n\r\n", 4);
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	bool ok = body != NULL && strncmp(data, "HTTP/1.1 200", 12) == 0 &&
	          json_parse(body + 4, len - (size_t)(body + 4 - data), NULL, &doc, err) == 0;
	if (ok && json_doc_root(doc)->type == JSON_OBJECT) {
		if (e->replies == 0)
			parse_cluster(e, json_doc_root(doc));
		else
			parse_faults(e, json_doc_root(doc));
	} else if (e->round_ok) {
		/* A refusal (401 without the members' token, say) is no answer: keep the
		 * status line as the error. */
		e->round_ok = false;
		const char *eol = memchr(data, '\r', len);
		size_t n = eol != NULL ? (size_t)(eol - data) : len;
		snprintf(e->error, sizeof(e->error), "answered %.*s", (int)(n > 100 ? 100 : n),
		         data);
	}
	json_doc_free(doc);
	if (++e->replies == 2) {
		if (e->round_ok) {
			e->answered = true;
			e->at_ms = uv_now(e->ps->sv->loop);
			e->error[0] = '\0';
		}
		relay_close(e->relay);
	}
}

static void on_fail(void *arg, enum relay_error er, const char *why)
{
	struct peer_entry *e = arg;
	(void)er;
	snprintf(e->error, sizeof(e->error), "%s", why);
}

static void on_closed(void *arg)
{
	struct peer_entry *e = arg;
	struct peer_status *p = e->ps;
	e->relay = NULL;
	p->relays_open--;
	ps_free_maybe(p);
}

static const struct relay_ops peer_ops = {
    .complete = http_complete,
    .reply = on_reply,
    .fail = on_fail,
    .closed = on_closed,
};

/* The entry of member `id`, made if new (NULL if the table is full of busy ones). */
static struct peer_entry *entry_for(struct peer_status *p, raft_id id)
{
	for (uint32_t i = 0; i < p->n_peers; i++)
		if (p->peers[i].id == id)
			return &p->peers[i];
	if (p->n_peers == NODE_MAX_MEMBERS)
		return NULL;
	struct peer_entry *e = &p->peers[p->n_peers++];
	memset(e, 0, sizeof(*e));
	e->ps = p;
	e->id = id;
	return e;
}

static void ask(struct peer_status *p, struct peer_entry *e, const char *http)
{
	if (e->relay != NULL)
		return; /* the last round has not finished: it counts as late */
	e->relay =
	    relay_open(p->sv->loop, http, p->sv->relay_tls, 2000, PEER_REPLY_BYTES, &peer_ops, e);
	if (e->relay == NULL) {
		snprintf(e->error, sizeof(e->error), "cannot connect to %s", http);
		return;
	}
	p->relays_open++;
	e->replies = 0;
	e->round_ok = true;
	/* With auth on, as the members' own identity, which may read just these two. */
	char auth[200] = "";
	char token[AUTH_MEMBER_TOKEN_HEXLEN + 1];
	if (auth_member_token(node_kv(p->sv->node), token)) {
		char plain[AUTH_MEMBER_USER_LEN + 1 + AUTH_MEMBER_TOKEN_HEXLEN + 1];
		int plen = snprintf(plain, sizeof(plain), "%s:%s", AUTH_MEMBER_USER, token);
		struct wire_buf b;
		wire_buf_init(&b, 160);
		wire_buf_append_str(&b, "Authorization: Basic ");
		json_base64_encode(&b, plain, (size_t)plen);
		wire_buf_append_str(&b, "\r\n");
		if (b.len < sizeof(auth)) {
			memcpy(auth, b.data, b.len);
			auth[b.len] = '\0';
		}
		OPENSSL_cleanse(b.data, b.len);
		wire_buf_free(&b);
		OPENSSL_cleanse(plain, sizeof(plain));
		OPENSSL_cleanse(token, sizeof(token));
	}
	char req[1000];
	int n = snprintf(req, sizeof(req),
	                 "GET /v1/cluster HTTP/1.1\r\nHost: %s\r\n%s\r\n"
	                 "GET /v1/admin/faults HTTP/1.1\r\nHost: %s\r\n%sConnection: "
	                 "close\r\n\r\n",
	                 http, auth, http, auth);
	relay_send(e->relay, req, (size_t)n, 2);
	OPENSSL_cleanse(req, sizeof(req));
	OPENSSL_cleanse(auth, sizeof(auth));
}

/* This node's own samples: leader changes and the commit index. */
static void sample_self(struct peer_status *p, const struct node_status *st)
{
	uint64_t now = uv_now(p->sv->loop);
	if (st->leader != p->last_leader) {
		p->changes[p->next_change].at_ms = now;
		p->changes[p->next_change].term = st->term;
		p->changes[p->next_change].leader = st->leader;
		p->next_change = (p->next_change + 1) % PEER_CHANGES;
		if (p->n_changes < PEER_CHANGES)
			p->n_changes++;
		p->last_leader = st->leader;
	}
	p->commits[p->next_commit] = st->commit;
	p->next_commit = (p->next_commit + 1) % PEER_RATE_SAMPLES;
	if (p->n_commits < PEER_RATE_SAMPLES)
		p->n_commits++;
}

static void on_timer(uv_timer_t *t)
{
	struct peer_status *p = t->data;
	struct server *sv = p->sv;
	if (p->closing || sv->node == NULL)
		return;
	struct node_status st;
	node_status(sv->node, &st);
	sample_self(p, &st);
	const raft_id *lists[3] = {st.conf.voters, st.conf.voters_old, st.conf.learners};
	uint32_t counts[3] = {st.conf.n_voters, st.conf.n_voters_old, st.conf.n_learners};
	for (int l = 0; l < 3; l++)
		for (uint32_t i = 0; i < counts[l]; i++) {
			const struct node_member *m = node_member(sv->node, lists[l][i]);
			struct peer_entry *e = entry_for(p, lists[l][i]);
			if (e == NULL)
				continue;
			if (m == NULL || m->http[0] == '\0')
				snprintf(e->error, sizeof(e->error), "no known HTTP address");
			else
				ask(p, e, m->http);
		}
}

struct peer_status *peer_status_start(struct server *sv)
{
	struct peer_status *p = xcalloc(1, sizeof(*p));
	p->sv = sv;
	uv_timer_init(sv->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, on_timer, 0, PEER_PERIOD_MS);
	return p;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct peer_status *p = h->data;
	p->timer_closed = true;
	ps_free_maybe(p);
}

void peer_status_close(struct peer_status *p)
{
	if (p == NULL || p->closing)
		return;
	p->closing = true;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
	for (uint32_t i = 0; i < p->n_peers; i++)
		if (p->peers[i].relay != NULL)
			relay_close(p->peers[i].relay);
}

static void write_member(struct json_writer *w, const struct peer_status *p,
                         const struct peer_entry *e, uint64_t top_commit, uint64_t now)
{
	const struct node_member *m = node_member(p->sv->node, e->id);
	json_write_object_begin(w);
	json_write_key(w, "id");
	json_write_uint(w, e->id);
	json_write_key(w, "name");
	json_write_cstr(w, m != NULL ? m->name : "");
	json_write_key(w, "answered");
	json_write_bool(w, e->answered);
	if (e->answered) {
		json_write_key(w, "role");
		json_write_cstr(w, e->role);
		json_write_key(w, "term");
		json_write_uint(w, e->term);
		json_write_key(w, "commit");
		json_write_uint(w, e->commit);
		json_write_key(w, "applied");
		json_write_uint(w, e->applied);
		json_write_key(w, "last_index");
		json_write_uint(w, e->last_index);
		json_write_key(w, "lag");
		json_write_uint(w, top_commit > e->applied ? top_commit - e->applied : 0);
		json_write_key(w, "last_contact_ms");
		json_write_uint(w, now - e->at_ms);
		json_write_key(w, "faults");
		json_write_uint(w, e->faults);
	}
	json_write_key(w, "error");
	json_write_cstr(w, e->error);
	json_write_object_end(w);
}

void peer_status_write(const struct peer_status *p, struct wire_buf *b)
{
	struct node_status st;
	node_status(p->sv->node, &st);
	uint64_t now = uv_now(p->sv->loop);
	uint64_t top = st.commit;
	for (uint32_t i = 0; i < p->n_peers; i++)
		if (p->peers[i].answered && p->peers[i].commit > top)
			top = p->peers[i].commit;
	struct json_writer w;
	json_writer_init(&w, b);
	json_write_object_begin(&w);
	json_write_key(&w, "node_id");
	json_write_uint(&w, st.id);
	json_write_key(&w, "leader");
	json_write_uint(&w, st.leader);
	json_write_key(&w, "term");
	json_write_uint(&w, st.term);
	json_write_key(&w, "commit");
	json_write_uint(&w, top);
	json_write_key(&w, "members");
	json_write_array_begin(&w);
	for (uint32_t i = 0; i < p->n_peers; i++)
		if (raft_conf_is_member(&st.conf, p->peers[i].id))
			write_member(&w, p, &p->peers[i], top, now);
	json_write_array_end(&w);
	json_write_key(&w, "leader_changes"); /* newest first */
	json_write_array_begin(&w);
	for (uint32_t k = 0; k < p->n_changes; k++) {
		uint32_t i = (p->next_change + PEER_CHANGES - 1 - k) % PEER_CHANGES;
		json_write_object_begin(&w);
		json_write_key(&w, "ago_ms");
		json_write_uint(&w, now - p->changes[i].at_ms);
		json_write_key(&w, "term");
		json_write_uint(&w, p->changes[i].term);
		json_write_key(&w, "leader");
		json_write_uint(&w, p->changes[i].leader);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_key(&w, "commit_rate"); /* entries committed per second, oldest first */
	json_write_array_begin(&w);
	for (uint32_t k = 1; k < p->n_commits; k++) {
		uint32_t a =
		    (p->next_commit + PEER_RATE_SAMPLES - p->n_commits + k - 1) % PEER_RATE_SAMPLES;
		uint32_t c = (a + 1) % PEER_RATE_SAMPLES;
		json_write_uint(&w,
		                p->commits[c] >= p->commits[a] ? p->commits[c] - p->commits[a] : 0);
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
}
