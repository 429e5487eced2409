/* resp_pubsub.c: RESP push messages: SUBSCRIBE and friends, PUBLISH, keyspace notifications and
 * CONCORD.WATCH, with Redis's subscribed-mode rules (docs/resp.md). */
#include "server/resp_impl.h"
#include "server/watch.h"

#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One CONCORD.WATCH of a connection. */
struct rwatch {
	struct watcher w;
	struct rps *ps;
	uint64_t id;
	struct rwatch *next;
};

struct name_set {
	char **name;
	size_t *len;
	size_t n, cap;
};

/* A connection's subscriptions and watches. */
struct rps {
	struct rconn *c;
	struct rps *prev, *next; /* the server's subscribers, while linked */
	bool linked;
	struct name_set chan, pat;
	struct rwatch *watches;
	size_t n_watches;
	uint64_t next_id;
};

/* The server's subscribers (resp_server.pubsub). */
struct rps_reg {
	struct rps *head;
	struct rps *iter_next;
	uint32_t n;
	struct watch_listener listener;
	bool listening;
	/* The last PUBLISH applied while listening: its log index and its receivers. */
	raft_index pub_index;
	int64_t pub_got;
};

/* =================================================================================
 * Push messages
 */

static void push_begin(struct wire_buf *out, int proto, size_t n)
{
	if (proto == RESP_PROTO_3)
		wire_buf_printf(out, ">%zu\r\n", n);
	else
		resp_write_array(out, n);
}

static void bulk(struct wire_buf *out, const void *p, size_t n)
{
	resp_write_bulk(out, p, n);
}

/* Where a push goes now, and its flush afterwards. */
static struct wire_buf *push_out(struct rconn *c)
{
	return conn_reply_now(c);
}

static void push_done(struct rconn *c)
{
	if (c->head == NULL && !c->conn.closing)
		conn_flush(&c->conn);
}

static size_t rps_count(const struct rps *ps)
{
	return ps == NULL ? 0 : ps->chan.n + ps->pat.n + ps->n_watches;
}

static struct rps *rps_of(struct rconn *c)
{
	if (c->pubsub == NULL) {
		c->pubsub = xcalloc(1, sizeof(*c->pubsub));
		c->pubsub->c = c;
	}
	return c->pubsub;
}

/* =================================================================================
 * Name sets (channels, patterns)
 */

static ssize_t set_find(const struct name_set *s, const void *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->len[i] == len && memcmp(s->name[i], name, len) == 0)
			return (ssize_t)i;
	return -1;
}

static void set_add(struct name_set *s, const void *name, size_t len)
{
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 4 : s->cap * 2;
		s->name = xrealloc(s->name, s->cap * sizeof(*s->name));
		s->len = xrealloc(s->len, s->cap * sizeof(*s->len));
	}
	char *b = xmalloc(len + 1);
	if (len > 0)
		memcpy(b, name, len);
	b[len] = '\0';
	s->name[s->n] = b;
	s->len[s->n] = len;
	s->n++;
}

static void set_remove(struct name_set *s, size_t i)
{
	free(s->name[i]);
	s->name[i] = s->name[s->n - 1];
	s->len[i] = s->len[s->n - 1];
	s->n--;
}

static void set_free(struct name_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->name[i]);
	free(s->name);
	free(s->len);
	memset(s, 0, sizeof(*s));
}

/* =================================================================================
 * The server's subscribers, and delivery
 */

static struct rps_reg *reg_of(struct resp_server *s)
{
	if (s->pubsub == NULL)
		s->pubsub = xcalloc(1, sizeof(*s->pubsub));
	return s->pubsub;
}

static void keyspace_events(void *arg, uint64_t rev, const struct kv_event *ev, size_t n);
static void published(void *arg, const void *channel, size_t clen, const void *msg, size_t mlen);

/* Links or unlinks the connection as its subscriptions come and go; the keyspace
 * listener is on while anyone subscribes. */
static void reg_update(struct rconn *c)
{
	struct rps *ps = c->pubsub;
	struct rps_reg *r = reg_of(c->s);
	bool want = ps != NULL && ps->chan.n + ps->pat.n > 0 && !c->conn.closing;
	if (want && !ps->linked) {
		ps->prev = NULL;
		ps->next = r->head;
		if (r->head != NULL)
			r->head->prev = ps;
		r->head = ps;
		ps->linked = true;
		r->n++;
	} else if (!want && ps != NULL && ps->linked) {
		if (r->iter_next == ps)
			r->iter_next = ps->next;
		if (ps->prev != NULL)
			ps->prev->next = ps->next;
		else
			r->head = ps->next;
		if (ps->next != NULL)
			ps->next->prev = ps->prev;
		ps->linked = false;
		r->n--;
	}
	if (r->n > 0 && !r->listening) {
		r->listener = (struct watch_listener){
		    .events = keyspace_events, .publish = published, .arg = c->s};
		watch_listen(c->s->sv, &r->listener);
		r->listening = true;
	} else if (r->n == 0 && r->listening) {
		watch_unlisten(c->s->sv, &r->listener);
		r->listening = false;
	}
}

/* A slow subscriber is disconnected, as Redis does past its pub/sub output limit. */
static bool too_slow(struct rconn *c)
{
	if (conn_output_bytes(&c->conn) <= c->s->sv->watch_buffer_bytes)
		return false;
	c->s->sv->watch_stats.cancel_slow++;
	server_logf(c->s->sv, 2, "resp: closing a slow subscriber (more than %zu bytes queued)",
	            c->s->sv->watch_buffer_bytes);
	conn_close(&c->conn);
	return true;
}

/* Delivers a message to every subscriber of `channel` on this node; returns how many
 * received it (a connection once per matching channel and pattern, as in Redis). */
static int64_t publish_local(struct resp_server *s, const void *channel, size_t clen,
                             const void *msg, size_t mlen)
{
	struct rps_reg *r = reg_of(s);
	int64_t got = 0;
	for (struct rps *ps = r->head; ps != NULL; ps = r->iter_next) {
		r->iter_next = ps->next;
		struct rconn *c = ps->c;
		if (c->conn.closing)
			continue;
		bool to_chan = set_find(&ps->chan, channel, clen) >= 0;
		size_t pats = 0;
		for (size_t i = 0; i < ps->pat.n; i++)
			pats += resp_glob_match(ps->pat.name[i], ps->pat.len[i], channel, clen);
		if (!to_chan && pats == 0)
			continue;
		if (too_slow(c))
			continue;
		struct wire_buf *out = push_out(c);
		if (to_chan) {
			push_begin(out, c->proto, 3);
			bulk(out, "message", 7);
			bulk(out, channel, clen);
			bulk(out, msg, mlen);
			got++;
		}
		for (size_t i = 0; i < ps->pat.n; i++) {
			if (!resp_glob_match(ps->pat.name[i], ps->pat.len[i], channel, clen))
				continue;
			push_begin(out, c->proto, 4);
			bulk(out, "pmessage", 8);
			bulk(out, ps->pat.name[i], ps->pat.len[i]);
			bulk(out, channel, clen);
			bulk(out, msg, mlen);
			got++;
		}
		s->sv->watch_stats.published++;
		push_done(c);
	}
	r->iter_next = NULL;
	return got;
}

/* Redis keyspace notifications, always on: "set" for a put, "del" for a delete. */
static void keyspace_events(void *arg, uint64_t rev, const struct kv_event *ev, size_t n)
{
	(void)rev;
	struct resp_server *s = arg;
	static const char ks[] = "__keyspace@0__:";
	for (size_t i = 0; i < n; i++) {
		const struct kv_value *v = &ev[i].kv;
		if (kv_key_reserved(v->key, v->key_len))
			continue;
		const char *what = ev[i].type == KV_EVENT_PUT ? "set" : "del";
		char *chan = xmalloc(sizeof(ks) + v->key_len);
		memcpy(chan, ks, sizeof(ks) - 1);
		if (v->key_len > 0)
			memcpy(chan + sizeof(ks) - 1, v->key, v->key_len);
		publish_local(s, chan, sizeof(ks) - 1 + v->key_len, what, 3);
		free(chan);
		char evc[32];
		int len = snprintf(evc, sizeof(evc), "__keyevent@0__:%s", what);
		publish_local(s, evc, (size_t)len, v->key, v->key_len);
	}
}

/* =================================================================================
 * SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB
 */

static bool room_for_one(struct rconn *c, struct wire_buf *out)
{
	if (rps_count(c->pubsub) < c->s->sv->watch_conn_max)
		return true;
	c->s->sv->watch_stats.refused++;
	reply_errorf(out, "ERR too many subscriptions on this connection (--watch-conn-max %u)",
	             c->s->sv->watch_conn_max);
	return false;
}

static void confirm(struct rconn *c, struct wire_buf *out, const char *kind, const void *name,
                    size_t len, bool nil)
{
	push_begin(out, c->proto, 3);
	bulk(out, kind, strlen(kind));
	if (nil)
		resp_write_nil(out, c->proto);
	else
		bulk(out, name, len);
	resp_write_integer(out, (int64_t)rps_count(c->pubsub));
}

static void subscribe_to(struct rconn *c, size_t argc, const struct resp_arg *argv,
                         struct wire_buf *out, bool pattern)
{
	struct rps *ps = rps_of(c);
	struct name_set *set = pattern ? &ps->pat : &ps->chan;
	for (size_t i = 1; i < argc; i++) {
		if (set_find(set, argv[i].data, argv[i].len) < 0) {
			if (!room_for_one(c, out))
				break;
			set_add(set, argv[i].data, argv[i].len);
			c->s->sv->watch_stats.subscriptions++;
		}
		confirm(c, out, pattern ? "psubscribe" : "subscribe", argv[i].data, argv[i].len,
		        false);
	}
	reg_update(c);
}

static void unsubscribe_from(struct rconn *c, size_t argc, const struct resp_arg *argv,
                             struct wire_buf *out, bool pattern)
{
	struct rps *ps = rps_of(c);
	struct name_set *set = pattern ? &ps->pat : &ps->chan;
	const char *kind = pattern ? "punsubscribe" : "unsubscribe";
	if (argc == 1) {
		if (set->n == 0)
			confirm(c, out, kind, NULL, 0, true);
		while (set->n > 0) {
			char *name = set->name[set->n - 1];
			size_t len = set->len[set->n - 1];
			set->name[set->n - 1] = NULL;
			set->n--;
			c->s->sv->watch_stats.subscriptions--;
			confirm(c, out, kind, name, len, false);
			free(name);
		}
	}
	for (size_t i = 1; i < argc; i++) {
		ssize_t at = set_find(set, argv[i].data, argv[i].len);
		if (at >= 0) {
			set_remove(set, (size_t)at);
			c->s->sv->watch_stats.subscriptions--;
		}
		confirm(c, out, kind, argv[i].data, argv[i].len, false);
	}
	reg_update(c);
}

LOCAL_FN(local_subscribe)
{
	subscribe_to(c, argc, argv, out, false);
}

LOCAL_FN(local_psubscribe)
{
	subscribe_to(c, argc, argv, out, true);
}

LOCAL_FN(local_unsubscribe)
{
	unsubscribe_from(c, argc, argv, out, false);
}

LOCAL_FN(local_punsubscribe)
{
	unsubscribe_from(c, argc, argv, out, true);
}

/* A PUBLISH this node applied (any node may have proposed it): to the local subscribers. */
static void published(void *arg, const void *channel, size_t clen, const void *msg, size_t mlen)
{
	struct resp_server *s = arg;
	int64_t got = publish_local(s, channel, clen, msg, mlen);
	struct rps_reg *r = reg_of(s);
	r->pub_index = kv_applied_index(node_kv(s->sv->node));
	r->pub_got = got;
}

int64_t resp_pubsub_receivers(struct resp_server *s)
{
	const struct rps_reg *r = s->pubsub;
	if (r == NULL || r->pub_index == 0 ||
	    r->pub_index != kv_applied_index(node_kv(s->sv->node)))
		return 0; /* nobody subscribed here when it was applied */
	return r->pub_got;
}

int build_publish(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	const struct kv_limits *lim = &s->sv->limits;
	if (argv[1].len > lim->key_bytes_max) {
		snprintf(b->err, sizeof(b->err), "ERR channel too large (limit %u bytes, as keys)",
		         lim->key_bytes_max);
		return -1;
	}
	if (argv[2].len > lim->value_bytes_max) {
		snprintf(b->err, sizeof(b->err),
		         "ERR message too large (limit %u bytes, as values)", lim->value_bytes_max);
		return -1;
	}
	b->cmd.op = KV_OP_PUBLISH;
	b->cmd.put.key = argv[1].data;
	b->cmd.put.key_len = argv[1].len;
	b->cmd.put.value = argv[2].data;
	b->cmd.put.value_len = argv[2].len;
	b->kind = REPLY_PUBLISH;
	return 0;
}

/* PUBSUB CHANNELS [pattern] | NUMSUB [channel...] | NUMPAT, over this node. */
static void pubsub_channels(struct rconn *c, size_t argc, const struct resp_arg *argv,
                            struct wire_buf *out)
{
	struct rps_reg *r = reg_of(c->s);
	struct name_set seen = {0};
	for (struct rps *ps = r->head; ps != NULL; ps = ps->next)
		for (size_t i = 0; i < ps->chan.n; i++) {
			if (argc == 3 && !resp_glob_match(argv[2].data, argv[2].len,
			                                  ps->chan.name[i], ps->chan.len[i]))
				continue;
			if (set_find(&seen, ps->chan.name[i], ps->chan.len[i]) < 0)
				set_add(&seen, ps->chan.name[i], ps->chan.len[i]);
		}
	resp_write_array(out, seen.n);
	for (size_t i = 0; i < seen.n; i++)
		bulk(out, seen.name[i], seen.len[i]);
	set_free(&seen);
}

LOCAL_FN(local_pubsub)
{
	struct rps_reg *r = reg_of(c->s);
	if (arg_is(&argv[1], "CHANNELS") && argc <= 3) {
		pubsub_channels(c, argc, argv, out);
	} else if (arg_is(&argv[1], "NUMSUB")) {
		resp_write_map(out, argc - 2, c->proto);
		for (size_t i = 2; i < argc; i++) {
			int64_t n = 0;
			for (struct rps *ps = r->head; ps != NULL; ps = ps->next)
				n += set_find(&ps->chan, argv[i].data, argv[i].len) >= 0;
			bulk(out, argv[i].data, argv[i].len);
			resp_write_integer(out, n);
		}
	} else if (arg_is(&argv[1], "NUMPAT") && argc == 2) {
		int64_t n = 0;
		for (struct rps *ps = r->head; ps != NULL; ps = ps->next)
			n += (int64_t)ps->pat.n;
		resp_write_integer(out, n);
	} else {
		reply_error(out, "ERR unknown PUBSUB subcommand or wrong number of arguments");
	}
}

/* =================================================================================
 * Subscribed mode (RESP2) and CONFIG notify-keyspace-events
 */

static bool allowed_subscribed(const struct command *cmd)
{
	static const char *const ok[] = {"SUBSCRIBE",     "PSUBSCRIBE",     "UNSUBSCRIBE",
	                                 "PUNSUBSCRIBE",  "PING",           "QUIT",
	                                 "CONCORD.WATCH", "CONCORD.UNWATCH"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(cmd->name, ok[i]) == 0)
			return true;
	return false;
}

bool resp_pubsub_intercept(struct rconn *c, const struct command *cmd, size_t argc,
                           const struct resp_arg *argv)
{
	if (cmd == NULL)
		return false;
	if (strcmp(cmd->name, "CONFIG") == 0 && argc >= 3 &&
	    arg_is(&argv[2], "notify-keyspace-events")) {
		struct wire_buf *out = conn_reply_now(c);
		if (arg_is(&argv[1], "SET") && argc == 4) {
			resp_write_ok(out); /* always on: accepted, whatever the flags */
		} else if (arg_is(&argv[1], "GET") && argc == 3) {
			resp_write_map(out, 1, c->proto);
			reply_bulk_str(out, "notify-keyspace-events");
			reply_bulk_str(out, "AKE");
		} else {
			return false;
		}
		return true;
	}
	if (c->proto != RESP_PROTO_2 || rps_count(c->pubsub) == 0)
		return false;
	if (strcmp(cmd->name, "PING") == 0 && argc <= 2) {
		struct wire_buf *out = conn_reply_now(c);
		resp_write_array(out, 2);
		bulk(out, "pong", 4);
		bulk(out, argc == 2 ? argv[1].data : "", argc == 2 ? argv[1].len : 0);
		return true;
	}
	if (allowed_subscribed(cmd))
		return false;
	char name[64];
	lower_name(&argv[0], name, sizeof(name));
	reply_errorf(conn_reply_now(c),
	             "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
	             "QUIT / RESET are allowed in this context",
	             name);
	return true;
}

/* =================================================================================
 * CONCORD.WATCH
 */

static size_t rw_queued(struct watcher *w)
{
	struct rwatch *rw = w->arg;
	return conn_output_bytes(&rw->ps->c->conn);
}

static void rw_deliver(struct watcher *w, uint64_t rev, const struct kv_event *ev, size_t n)
{
	struct rwatch *rw = w->arg;
	struct rconn *c = rw->ps->c;
	struct wire_buf *out = push_out(c);
	push_begin(out, c->proto, 4);
	bulk(out, "concord.events", 14);
	resp_write_integer(out, (int64_t)rw->id);
	resp_write_integer(out, (int64_t)rev);
	resp_write_array(out, n);
	for (size_t i = 0; i < n; i++) {
		const struct kv_event *e = &ev[i];
		resp_write_array(out, 7);
		bulk(out, e->type == KV_EVENT_PUT ? "put" : "delete",
		     e->type == KV_EVENT_PUT ? 3 : 6);
		bulk(out, e->kv.key, e->kv.key_len);
		bulk(out, e->kv.value, e->kv.value_len);
		resp_write_integer(out, (int64_t)e->kv.create_revision);
		resp_write_integer(out, (int64_t)e->kv.mod_revision);
		resp_write_integer(out, (int64_t)e->kv.version);
		if (e->prev.mod_revision != 0)
			bulk(out, e->prev.value, e->prev.value_len);
		else
			resp_write_nil(out, c->proto);
	}
	push_done(c);
}

static void rwatch_unlink(struct rps *ps, struct rwatch *rw)
{
	for (struct rwatch **p = &ps->watches; *p != NULL; p = &(*p)->next)
		if (*p == rw) {
			*p = rw->next;
			ps->n_watches--;
			return;
		}
}

static void rwatch_free(struct rwatch *rw)
{
	free(rw->w.start);
	free(rw->w.end);
	free(rw);
}

static void rw_cancelled(struct watcher *w, const char *reason, uint64_t compact_rev)
{
	struct rwatch *rw = w->arg;
	struct rconn *c = rw->ps->c;
	rwatch_unlink(rw->ps, rw);
	if (!c->conn.closing) {
		struct wire_buf *out = push_out(c);
		push_begin(out, c->proto, 4);
		bulk(out, "concord.cancel", 14);
		resp_write_integer(out, (int64_t)rw->id);
		bulk(out, reason, strlen(reason));
		resp_write_integer(out, (int64_t)compact_rev);
		push_done(c);
	}
	rwatch_free(rw);
}

static const struct watcher_ops rw_ops = {rw_queued, rw_deliver, rw_cancelled};

/* key | PREFIX p | RANGE start end, then REV n and PREV_KV in any order. */
static bool watch_parse(size_t argc, const struct resp_arg *argv, struct rwatch *rw, uint64_t *rev,
                        struct wire_buf *out)
{
	size_t i = 1;
	struct watcher *w = &rw->w;
	if (arg_is(&argv[1], "PREFIX") && argc >= 3) {
		watch_range_prefix(argv[2].data, argv[2].len, &w->start, &w->start_len, &w->end,
		                   &w->end_len);
		i = 3;
	} else if (arg_is(&argv[1], "RANGE") && argc >= 4) {
		watch_range_key(argv[2].data, argv[2].len, &w->start, &w->start_len, &w->end,
		                &w->end_len);
		free(w->end);
		w->end = xmalloc(argv[3].len + 1);
		memcpy(w->end, argv[3].data, argv[3].len);
		w->end_len = argv[3].len; /* "" : no upper bound */
		i = 4;
	} else {
		watch_range_key(argv[1].data, argv[1].len, &w->start, &w->start_len, &w->end,
		                &w->end_len);
		i = 2;
	}
	for (; i < argc; i++) {
		if (arg_is(&argv[i], "REV") && i + 1 < argc && arg_u64(&argv[i + 1], rev)) {
			i++;
		} else if (arg_is(&argv[i], "PREV_KV")) {
			w->prev_kv = true;
		} else {
			reply_syntax(out);
			return false;
		}
	}
	return true;
}

LOCAL_FN(local_concord_watch)
{
	if (!room_for_one(c, out))
		return;
	struct rps *ps = rps_of(c);
	struct rwatch *rw = xcalloc(1, sizeof(*rw));
	rw->ps = ps;
	rw->w.ops = &rw_ops;
	rw->w.arg = rw;
	uint64_t from = 0, compact = 0;
	if (!watch_parse(argc, argv, rw, &from, out)) {
		rwatch_free(rw);
		return;
	}
	int rv = watch_start(c->s->sv, &rw->w, from, &compact);
	if (rv != KV_OK) {
		if (rv == KV_ECOMPACTED)
			reply_errorf(out,
			             "COMPACTED required revision %" PRIu64
			             " has been compacted; compacted revision %" PRIu64,
			             from, compact);
		else if (rv == KV_ETOOMANY)
			reply_error(out, "ERR too many watchers on this node (--watch-max)");
		else
			reply_error(out, "ERR empty range: start must be below end");
		rwatch_free(rw);
		return;
	}
	rw->id = ++ps->next_id;
	rw->next = ps->watches;
	ps->watches = rw;
	ps->n_watches++;
	push_begin(out, c->proto, 3);
	bulk(out, "concord.watch", 13);
	resp_write_integer(out, (int64_t)rw->id);
	resp_write_integer(out, (int64_t)rw->w.next_rev);
	watch_pump(&rw->w);
}

static void unwatch_one(struct rconn *c, struct rwatch *rw, struct wire_buf *out)
{
	uint64_t id = rw->id;
	rwatch_unlink(rw->ps, rw);
	watch_stop(&rw->w);
	rwatch_free(rw);
	push_begin(out, c->proto, 3);
	bulk(out, "concord.unwatch", 15);
	resp_write_integer(out, (int64_t)id);
	resp_write_integer(out, (int64_t)rps_count(c->pubsub));
}

LOCAL_FN(local_concord_unwatch)
{
	struct rps *ps = rps_of(c);
	if (argc == 1) {
		while (ps->watches != NULL)
			unwatch_one(c, ps->watches, out);
		return;
	}
	for (size_t i = 1; i < argc; i++) {
		uint64_t id = 0;
		struct rwatch *rw = ps->watches;
		if (arg_u64(&argv[i], &id))
			while (rw != NULL && rw->id != id)
				rw = rw->next;
		else
			rw = NULL;
		if (rw != NULL)
			unwatch_one(c, rw, out);
		else
			reply_errorf(out, "ERR no watch %.*s on this connection",
			             (int)(argv[i].len > 32 ? 32 : argv[i].len), argv[i].data);
	}
}

/* =================================================================================
 * Life cycle
 */

void resp_pubsub_drained(struct rconn *c)
{
	if (c->pubsub == NULL)
		return;
	for (struct rwatch *rw = c->pubsub->watches; rw != NULL;) {
		struct rwatch *next = rw->next; /* a pump may cancel (and free) rw */
		watch_pump(&rw->w);
		rw = next;
	}
}

void resp_pubsub_closing(struct rconn *c)
{
	struct rps *ps = c->pubsub;
	if (ps == NULL)
		return;
	c->s->sv->watch_stats.subscriptions -= (uint32_t)(ps->chan.n + ps->pat.n);
	set_free(&ps->chan);
	set_free(&ps->pat);
	reg_update(c);
	/* Stopped now, freed with the connection: a close can happen inside a delivery. */
	for (struct rwatch *rw = ps->watches; rw != NULL; rw = rw->next)
		watch_stop(&rw->w);
}

void resp_pubsub_free(struct rconn *c)
{
	struct rps *ps = c->pubsub;
	if (ps == NULL)
		return;
	while (ps->watches != NULL) {
		struct rwatch *rw = ps->watches;
		ps->watches = rw->next;
		rwatch_free(rw);
	}
	free(ps);
	c->pubsub = NULL;
}

void resp_pubsub_server_free(struct resp_server *s)
{
	if (s->pubsub != NULL && s->pubsub->listening)
		watch_unlisten(s->sv, &s->pubsub->listener);
	free(s->pubsub);
	s->pubsub = NULL;
}
