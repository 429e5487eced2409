/* resp_server.c: the RESP frontend's connections: reply slots in request order, the relay to the
 * leader, dispatch through the command table, life cycle. */
#include "server/resp_impl.h"
#include "base/alloc.h"
#include "server/relay.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void rconn_process(struct rconn *c);

static struct rconn *rconn_of(struct conn *c)
{
	return (struct rconn *)c;
}

/* =================================================================================
 * Reply slots
 */

void slot_free(struct slot *sl)
{
	wire_buf_free(&sl->out);
	free(sl->argv);
	free(sl->txn_kinds);
	free(sl);
}

struct slot *slot_new(struct rconn *c)
{
	struct slot *sl = xcalloc(1, sizeof(*sl));
	sl->c = c;
	sl->proto = c->proto;
	wire_buf_init(&sl->out, c->s->sv->output_hard_bytes);
	if (c->tail != NULL)
		c->tail->next = sl;
	else
		c->head = sl;
	c->tail = sl;
	c->pending++;
	if (c->timing) {
		sl->timed = true;
		sl->timed_cmd = c->timing_cmd;
		sl->start_ns = c->timing_start_ns;
		c->timing = false;
	}
	return sl;
}

/* Request latency: dispatch to the reply reaching the output. */
static void latency_observe(struct rconn *c, const struct command *cmd, uint64_t start_ns)
{
	size_t i = cmd != NULL ? command_index(cmd) : SERVER_LATENCY_SLOTS - 1;
	server_latency_observe(&c->s->sv->resp_latency, i, cmd != NULL ? cmd->name : NULL,
	                       start_ns);
}

/* The command just dispatched answered without a slot: timed now. */
static void latency_answered(struct rconn *c)
{
	if (c->timing)
		latency_observe(c, c->timing_cmd, c->timing_start_ns);
	c->timing = false;
}

/* A reply that would pass the output limit is refused, not built further. */
static void reply_too_large(struct rconn *c)
{
	conn_count_overflow(&c->conn);
	reply_errorf(&c->conn.out,
	             "ERR the reply would pass this connection's output limit of "
	             "%zu bytes; not sent",
	             c->s->sv->output_hard_bytes);
}

/* Moves the finished replies at the head of the queue to the output, in order. */
static void rconn_flush(struct rconn *c)
{
	while (c->head != NULL && c->head->done) {
		struct slot *sl = c->head;
		c->head = sl->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->pending--;
		if (sl->timed)
			latency_observe(c, sl->timed_cmd, sl->start_ns);
		if (sl->out.err != 0)
			reply_too_large(c);
		else
			wire_buf_append(&c->conn.out, sl->out.data, sl->out.len);
		slot_free(sl);
	}
	/* More replies owed: those that finish in this loop iteration join this one. */
	if (c->head != NULL)
		conn_flush_soon(&c->conn);
	else
		conn_flush(&c->conn);
}

struct wire_buf *conn_reply_now(struct rconn *c)
{
	if (c->head == NULL)
		return &c->conn.out;
	struct slot *sl = slot_new(c);
	sl->done = true;
	return &sl->out;
}

void slot_finish(struct slot *sl)
{
	struct rconn *c = sl->c;
	bool held = sl->holds_ref;
	sl->holds_ref = false;
	if (sl->orphan) {
		slot_free(sl);
	} else {
		sl->done = true;
		if (sl->is_write)
			driver_order_end(&c->order, DRIVER_ORDER_WRITE);
		if (sl->is_read)
			driver_order_end(&c->order, DRIVER_ORDER_READ);
		rconn_flush(c);
		rconn_process(c);
	}
	if (held)
		conn_unref(&c->conn);
}

/* =================================================================================
 * The relay to the leader (forward mode)
 */

static void relay_drop(struct rconn *c, const char *why);

/* Answers every command in flight on the relay with an error. */
static void relay_answer_all(struct resp_relay *rr, bool connected, const char *why)
{
	struct slot *sl = rr->head;
	rr->head = rr->tail = NULL;
	rr->in_flight = 0;
	while (sl != NULL) {
		struct slot *next = sl->relay_next;
		sl->relay_next = NULL;
		/* Commands were sent only once connected: before that nothing happened. */
		if (connected)
			reply_errorf(&sl->out,
			             "UNKNOWN the connection to the leader at %s broke (%s); the "
			             "command may or may not have been applied",
			             rr->address, why);
		else
			reply_errorf(&sl->out,
			             "CLUSTERDOWN cannot reach the leader at %s: %s; retry",
			             rr->address, why);
		slot_finish(sl);
		sl = next;
	}
}

/* The length of one RESP2 or RESP3 value at `p`: > 0 complete, 0 incomplete, -1
 * malformed. */
static ssize_t value_length(const char *p, size_t len, int depth)
{
	const char *nl = len > 0 ? memchr(p, '\n', len) : NULL;
	if (nl == NULL)
		return len > 65536 ? -1 : 0;
	size_t line = (size_t)(nl - p) + 1;
	if (line < 3 || nl[-1] != '\r')
		return -1;
	if (memchr("+-:_,#(", p[0], 7) != NULL)
		return (ssize_t)line;
	bool blob = p[0] == '$' || p[0] == '=' || p[0] == '!';
	if ((!blob && memchr("*%~>|", p[0], 5) == NULL) || depth > 32)
		return -1;
	char *end = NULL;
	long long n = strtoll(p + 1, &end, 10);
	if (end != nl - 1 || n < -1)
		return -1;
	if (n == -1)
		return (ssize_t)line;
	if (blob) {
		size_t total = line + (size_t)n + 2;
		if (len < total)
			return 0;
		return p[total - 2] == '\r' && p[total - 1] == '\n' ? (ssize_t)total : -1;
	}
	if (p[0] == '%' || p[0] == '|')
		n *= 2;
	size_t off = line;
	for (long long i = 0; i < n; i++) {
		ssize_t k = value_length(p + off, len - off, depth + 1);
		if (k <= 0)
			return k;
		off += (size_t)k;
	}
	if (p[0] == '|') { /* an attribute comes before the value it describes */
		ssize_t k = value_length(p + off, len - off, depth + 1);
		return k <= 0 ? k : (ssize_t)off + k;
	}
	return (ssize_t)off;
}

static ssize_t relay_complete(const char *data, size_t len, bool eof)
{
	(void)eof;
	return value_length(data, len, 0);
}

static void relay_reply(void *arg, const char *data, size_t len)
{
	struct rconn *c = arg;
	struct resp_relay *rr = c->relay;
	if (rr->skip > 0) {
		rr->skip--;
		static const char full[] = "-ERR max number of clients";
		if (len > sizeof(full) - 1 && memcmp(data, full, sizeof(full) - 1) == 0) {
			relay_refused(rr->r);
			relay_drop(c, "the leader refused the connection; not applied");
		}
		return;
	}
	struct slot *sl = rr->head;
	if (sl == NULL) {
		relay_drop(c, "a reply nobody asked for");
		return;
	}
	if (sl->relay_skip > 0) { /* the HELLO sent before it */
		sl->relay_skip--;
		return;
	}
	rr->head = sl->relay_next;
	if (rr->head == NULL)
		rr->tail = NULL;
	rr->in_flight--;
	sl->relay_next = NULL;
	wire_buf_append(&sl->out, data, len);
	slot_finish(sl);
}

static void relay_failed(void *arg, enum relay_error e, const char *why)
{
	struct rconn *c = arg;
	struct resp_relay *rr = c->relay;
	(void)e;
	c->relay = NULL;
	relay_answer_all(rr, relay_connected(rr->r), why);
	free(rr);
}

static void relay_closed(void *arg)
{
	struct rconn *c = arg;
	conn_unref(&c->conn);
}

static const struct relay_ops relay_ops = {
    .complete = relay_complete,
    .reply = relay_reply,
    .fail = relay_failed,
    .closed = relay_closed,
};

/* Closes the connection's relay, answering what is in flight on it. */
static void relay_drop(struct rconn *c, const char *why)
{
	struct resp_relay *rr = c->relay;
	if (rr == NULL)
		return;
	c->relay = NULL;
	bool connected = relay_connected(rr->r);
	relay_close(rr->r);
	relay_answer_all(rr, connected, why);
	free(rr);
}

void resp_relay_reset(struct rconn *c)
{
	relay_drop(c, "the client authenticated again");
}

static bool relay_start(struct rconn *c, const struct node_member *leader)
{
	struct server *sv = c->s->sv;
	uint64_t ms = 2 * (uint64_t)sv->request_timeout_ms + 1000;
	struct relay *r = relay_open(sv->loop, leader->client, sv->relay_tls, ms,
	                             sv->output_hard_bytes, &relay_ops, c);
	if (r == NULL)
		return false;
	relay_set_idle(r, sv->idle_timeout_ms / 2); /* before the leader's idle timeout */
	struct resp_relay *rr = xcalloc(1, sizeof(*rr));
	rr->r = r;
	rr->target = leader->id;
	rr->proto = RESP_PROTO_2;
	snprintf(rr->address, sizeof(rr->address), "%s", leader->client);
	conn_ref(&c->conn);
	c->relay = rr;
	c->relay_gen++;
	/* Announce: the leader must not relay our commands any further. */
	static const char hello[] = "*1\r\n$13\r\nCONCORD.RELAY\r\n";
	rr->skip = 1;
	relay_send(r, hello, sizeof(hello) - 1, 1);
	/* The leader checks the user again: the relay authenticates as the client did. */
	struct wire_buf auth;
	wire_buf_init(&auth, 4096);
	if (resp_auth_relay_hello(c, &auth)) {
		rr->skip++;
		relay_send(r, auth.data, auth.len, 1);
	}
	wire_buf_free(&auth);
	return true;
}

static void relay_enqueue(struct rconn *c, size_t argc, const struct resp_arg *argv);

/* Sends the command to the leader; its reply fills a slot. */
static void relay_command(struct rconn *c, const struct node_member *leader, size_t argc,
                          const struct resp_arg *argv)
{
	/* A relay to a former leader is replaced once nothing is in flight on it; until
	 * then commands keep their order on it (the former leader refuses what it can no
	 * longer do, and the client retries). */
	if (c->relay != NULL && c->relay->target != leader->id && c->relay->in_flight == 0)
		relay_drop(c, "the leader changed");
	if (c->relay == NULL && !relay_start(c, leader)) {
		struct wire_buf *out = conn_reply_now(c);
		reply_errorf(out, "CLUSTERDOWN cannot reach the leader at %s; retry",
		             leader->client);
		return;
	}
	relay_enqueue(c, argc, argv);
}

/* Sends the command on the connection's relay; its reply fills a slot. */
static void relay_enqueue(struct rconn *c, size_t argc, const struct resp_arg *argv)
{
	struct resp_relay *rr = c->relay;
	struct wire_buf cmd;
	wire_buf_init(&cmd, c->s->sv->output_hard_bytes);
	/* The leader answers in the client's protocol: a HELLO switches the relay first (the
	 * replies to commands sent before it came back in the protocol they were sent in). */
	uint8_t skip = 0;
	if (rr->proto != c->proto) {
		resp_write_array(&cmd, 2);
		resp_write_bulk(&cmd, "HELLO", 5);
		resp_write_bulk(&cmd, c->proto == RESP_PROTO_3 ? "3" : "2", 1);
		rr->proto = c->proto;
		skip = 1;
	}
	resp_write_array(&cmd, argc);
	for (size_t i = 0; i < argc; i++)
		resp_write_bulk(&cmd, argv[i].data, argv[i].len);
	struct slot *sl = slot_new(c);
	sl->relay_skip = skip;
	if (rr->tail != NULL)
		rr->tail->relay_next = sl;
	else
		rr->head = sl;
	rr->tail = sl;
	rr->in_flight++;
	sl->is_write = true; /* ordered by the leader; reads served here wait for it */
	driver_order_begin(&c->order, DRIVER_ORDER_WRITE);
	c->s->sv->resp_stats.forwarded++;
	relay_send(rr->r, cmd.data, cmd.len, 1u + skip);
	wire_buf_free(&cmd);
}

/* =================================================================================
 * Dispatch
 */

static void dispatch_not_leader(struct rconn *c, unsigned slot, size_t argc,
                                const struct resp_arg *argv)
{
	struct resp_server *s = c->s;
	struct node_status st;
	node_status(s->sv->node, &st);
	raft_index removed = node_removed(s->sv->node);
	if (removed != 0) {
		reply_errorf(conn_reply_now(c),
		             "CLUSTERDOWN this member (node %" PRIu64
		             ") was removed from the cluster "
		             "by the configuration at index %" PRIu64 " and is stopping",
		             st.id, removed);
		return;
	}
	const struct node_member *leader = node_leader(s->sv->node);
	if (leader == NULL || leader->id == st.id) {
		reply_errorf(conn_reply_now(c),
		             "CLUSTERDOWN no leader is known (term %" PRIu64 "); retry", st.term);
		return;
	}
	if (leader->client[0] == '\0') {
		reply_errorf(conn_reply_now(c),
		             "CLUSTERDOWN the leader (node %" PRIu64
		             ") has no known client address; "
		             "retry",
		             leader->id);
		return;
	}
	if (c->relayed) {
		reply_errorf(conn_reply_now(c),
		             "CLUSTERDOWN this node is no longer the leader (node %" PRIu64
		             " at %s is); "
		             "retry",
		             leader->id, leader->client);
		return;
	}
	if (s->sv->resp_follower == SERVER_FOLLOWER_REDIRECT) {
		s->sv->resp_stats.redirected++;
		reply_errorf(conn_reply_now(c), "MOVED %u %s", slot, leader->client);
		return;
	}
	relay_command(c, leader, argc, argv);
}

/* The command CONCORD.EXEC client-id seq carries; false if it was answered instead. */
static bool exec_unwrap(struct rconn *c, size_t argc, const struct resp_arg *argv,
                        const struct command **run, uint64_t *client_id, uint64_t *seq)
{
	if (!arg_u64(&argv[1], client_id) || *client_id == 0 || !arg_u64(&argv[2], seq) ||
	    *seq == 0) {
		reply_error(conn_reply_now(c),
		            "ERR usage: CONCORD.EXEC client-id seq command [arg ...] with "
		            "client-id and seq positive integers");
		return false;
	}
	const struct command *cmd = command_find(argv[3].data, argv[3].len);
	if (cmd == NULL || (cmd->flags & (CMD_READ | CMD_WRITE)) == 0 ||
	    (cmd->flags & (CMD_SESSION | CMD_TXN)) != 0) {
		reply_error(conn_reply_now(c),
		            "ERR CONCORD.EXEC runs a key-value read or write command");
		return false;
	}
	if (!command_arity_ok(cmd, argc - 3)) {
		reply_wrong_args(conn_reply_now(c), &argv[3]);
		return false;
	}
	*run = cmd;
	return true;
}

/* Where the planned command goes now: the node's role may change while it waits. */
static void plan_route(struct rconn *c, struct plan *p)
{
	struct server *sv = c->s->sv;
	const struct command *run = p->run;
	bool stale_ok =
	    (run->flags & CMD_READ) != 0 && (run->flags & CMD_TXN) == 0 && sv->stale_reads;
	bool needs_leader = (run->flags & (CMD_WRITE | CMD_LEADER)) != 0 ||
	                    ((run->flags & CMD_READ) != 0 && !stale_ok);
	struct node_status st;
	node_status(sv->node, &st);
	if (needs_leader && st.role != RAFT_LEADER)
		p->route = ROUTE_AWAY;
	else if (run->local != NULL)
		p->route = ROUTE_LOCAL;
	else if (run->read != NULL)
		p->route = stale_ok ? ROUTE_STALE : ROUTE_READ;
	else
		p->route = ROUTE_WRITE;
}

/* Forward mode: after a relayed MULTI or WATCH every command goes to the same relay,
 * so that the leader queues it, or is refused if that relay is gone (never run alone
 * elsewhere). True if the command was handled so. */
static bool txn_follows_relay(struct rconn *c, size_t argc, const struct resp_arg *argv)
{
	struct txn_state *t = &c->txn;
	if (!t->relayed_multi && !t->relayed_watch)
		return false;
	bool exec = arg_is(&argv[0], "EXEC");
	bool ends = exec || arg_is(&argv[0], "DISCARD");
	bool unwatch = arg_is(&argv[0], "UNWATCH") && !t->relayed_multi;
	if (c->relay == NULL || c->relay_gen != t->relay_gen) {
		if (exec && t->relayed_multi)
			reply_error(conn_reply_now(c),
			            "EXECABORT Transaction discarded because the "
			            "connection to the leader broke");
		else
			reply_error(conn_reply_now(c),
			            "ERR the connection to the leader broke inside "
			            "WATCH/MULTI: the transaction is discarded; send "
			            "EXEC, DISCARD or UNWATCH");
	} else {
		relay_enqueue(c, argc, argv);
	}
	if (ends)
		t->relayed_multi = t->relayed_watch = false;
	if (unwatch)
		t->relayed_watch = false;
	return true;
}

/* A MULTI or WATCH just went away: relayed, later commands follow it (forward mode).
 * A MULTI answered here instead (-MOVED, CLUSTERDOWN) opens a transaction that EXEC
 * aborts: what the client sends until EXEC/DISCARD is queued, never run one by one. */
static void txn_note_relayed(struct rconn *c, const struct command *run, uint64_t forwarded)
{
	if ((run->flags & CMD_TXN) == 0)
		return;
	if (c->s->sv->resp_stats.forwarded == forwarded || c->relay == NULL) {
		if (strcmp(run->name, "MULTI") == 0)
			c->txn.multi = c->txn.failed = true;
		return;
	}
	if (strcmp(run->name, "MULTI") == 0)
		c->txn.relayed_multi = true;
	else if (run->read == read_watch)
		c->txn.relayed_watch = true;
	else
		return;
	c->txn.relay_gen = c->relay_gen;
}

/* Looks the command up and checks it; errors are answered at once (ROUTE_ANSWERED). */
static void plan_command(struct rconn *c, size_t argc, const struct resp_arg *argv, struct plan *p)
{
	*p = (struct plan){.route = ROUTE_ANSWERED, .argc = argc, .argv = argv};
	c->s->sv->resp_stats.requests++;
	c->timing = true;
	c->timing_cmd = NULL;
	c->timing_start_ns = uv_hrtime();
	const struct command *cmd = command_find(argv[0].data, argv[0].len);
	c->timing_cmd = cmd;
	/* Who may run it is checked here, where it was received, before it is queued,
	 * relayed or run (the leader checks a relayed command again). */
	if (!resp_auth_check(c, cmd, argc, argv))
		return;
	if (txn_follows_relay(c, argc, argv))
		return;
	if (resp_txn_intercept(c, cmd, argc, argv))
		return; /* queued after MULTI, or refused */
	if (cmd == NULL) {
		char name[64];
		lower_name(&argv[0], name, sizeof(name));
		if (command_unsupported(argv[0].data, argv[0].len))
			reply_errorf(conn_reply_now(c),
			             "ERR unsupported command '%s': Concord stores strings only",
			             name);
		else
			reply_unknown(conn_reply_now(c), argc, argv);
		return;
	}
	if (!command_arity_ok(cmd, argc)) {
		reply_wrong_args(conn_reply_now(c), &argv[0]);
		return;
	}
	if (resp_pubsub_intercept(c, cmd, argc, argv))
		return;
	/* CONCORD.EXEC id seq command args...: a write under a session, or a read. */
	p->run = cmd;
	p->rargc = argc;
	p->rargv = argv;
	if ((cmd->flags & CMD_EXEC) && !exec_unwrap(c, argc, argv, &p->run, &p->client_id, &p->seq))
		return;
	if (p->run != cmd) {
		p->rargc = argc - 3;
		p->rargv = argv + 3;
	}
	plan_route(c, p);
}

/* Whether the command must wait for what is in flight on the connection. */
static bool plan_waits(const struct rconn *c, const struct plan *p)
{
	/* AUTH replaces the relay: nothing may be in flight on it. */
	if (p->route == ROUTE_LOCAL && resp_auth_command(p->run, p->rargc, p->rargv))
		return c->order.writes > 0 || c->order.reads > 0;
	switch (p->route) {
	case ROUTE_READ:
	case ROUTE_STALE:
		return driver_order_waits(&c->order, DRIVER_ORDER_READ);
	case ROUTE_WRITE:
	case ROUTE_AWAY:
		return driver_order_waits(&c->order, DRIVER_ORDER_WRITE);
	default:
		return false;
	}
}

static void plan_run(struct rconn *c, const struct plan *p)
{
	const struct command *run = p->run;
	struct server *sv = c->s->sv;
	/* After a local MULTI, EXEC and DISCARD stay here (EXEC then fails unless leader). */
	if ((run->flags & CMD_TXN) && run->read == NULL &&
	    (p->route != ROUTE_AWAY || c->txn.multi)) {
		resp_txn_run(c, run, p->rargc, p->rargv);
		return;
	}
	switch (p->route) {
	case ROUTE_AWAY: {
		/* A relay sends the whole command, CONCORD.EXEC included; -MOVED names the
		 * slot of the key of the command it carries. */
		unsigned slot = 0;
		if (run->first_key > 0 && (size_t)run->first_key < p->rargc)
			slot = resp_key_slot(p->rargv[run->first_key].data,
			                     p->rargv[run->first_key].len);
		uint64_t forwarded = sv->resp_stats.forwarded;
		dispatch_not_leader(c, slot, p->argc, p->argv);
		txn_note_relayed(c, run, forwarded);
		break;
	}
	case ROUTE_LOCAL:
	case ROUTE_STALE: {
		size_t mark = conn_reply_begin(&c->conn);
		if (p->route == ROUTE_LOCAL)
			run->local(c, p->rargc, p->rargv, conn_reply_now(c));
		else
			run->read(c, node_kv(sv->node), p->rargc, p->rargv, conn_reply_now(c));
		if (c->head == NULL && conn_reply_overflowed(&c->conn, mark))
			reply_too_large(c);
		break;
	}
	case ROUTE_READ:
		resp_read_enqueue(c, run, p->rargc, p->rargv);
		break;
	case ROUTE_WRITE:
		resp_write_submit(c, run, p->rargc, p->rargv, p->client_id, p->seq);
		break;
	case ROUTE_ANSWERED:
		break;
	}
}

/* The next command: the one held (routed again), or the next parsed, held unless it
 * was answered at once. Returns 0, WIRE_EAGAIN (no complete command) or a protocol
 * error. */
static int next_command(struct rconn *c)
{
	if (c->holding) {
		plan_route(c, &c->held);
		return 0;
	}
	struct resp_cmd cmd;
	int rv = resp_parser_next(&c->parser, &cmd);
	if (rv != 0)
		return rv;
	plan_command(c, cmd.argc, cmd.argv, &c->held);
	c->holding = c->held.route != ROUTE_ANSWERED;
	return 0;
}

/* =================================================================================
 * The connection layer's callbacks
 */

static void rconn_process(struct rconn *c)
{
	struct resp_server *s = c->s;
	if (c->processing || c->conn.closing)
		return;
	c->processing = true;
	conn_ref(&c->conn);
	bool paused = false;
	c->drained = false;
	while (!c->conn.closing && !c->quit) {
		/* Behind an AUTH being verified, the next command waits: it may depend
		 * on who the connection is. */
		if (c->pending >= s->sv->pending_max || conn_output_full(&c->conn) ||
		    c->auth_busy) {
			paused = true;
			break;
		}
		int rv = next_command(c);
		if (rv == WIRE_EAGAIN) {
			c->drained = true;
			break;
		}
		if (rv != 0) {
			const char *msg = resp_parser_errmsg(&c->parser);
			reply_errorf(conn_reply_now(c), "ERR %s",
			             msg[0] != '\0' ? msg : wire_strerror(rv));
			s->sv->resp_stats.errors++;
			c->quit = true;
			break;
		}
		if (!c->holding) {
			latency_answered(c);
			continue; /* answered at once */
		}
		if (plan_waits(c, &c->held)) {
			paused = true; /* and the parser is left alone: `held` points into it */
			break;
		}
		c->holding = false;
		plan_run(c, &c->held);
		latency_answered(c);
	}
	c->processing = false;
	resp_read_batch_flush(s);
	conn_set_reading(&c->conn, !paused && !c->quit && !c->conn.input_closed);
	conn_flush(&c->conn);
	conn_unref(&c->conn);
}

static struct conn *on_create(struct conn_listener *l)
{
	struct rconn *c = xcalloc(1, sizeof(*c));
	c->s = (struct resp_server *)l;
	c->proto = RESP_PROTO_2;
	if (resp_parser_init(&c->parser, &c->s->sv->resp_limits) != 0)
		resp_parser_init(&c->parser, NULL);
	return &c->conn;
}

static void on_reject(struct conn *conn)
{
	reply_error(&conn->out, "ERR max number of clients reached");
	rconn_of(conn)->quit = true;
}

static int on_space(struct conn *conn, char **buf, size_t *len)
{
	return resp_parser_space(&rconn_of(conn)->parser, 64 * 1024, buf, len);
}

static void on_commit(struct conn *conn, size_t n)
{
	resp_parser_commit(&rconn_of(conn)->parser, n);
}

static void on_process(struct conn *conn)
{
	resp_pubsub_drained(rconn_of(conn));
	rconn_process(rconn_of(conn));
}

static void on_idle(struct conn *conn)
{
	struct rconn *c = rconn_of(conn);
	if ((c->quit || (c->conn.input_closed && c->drained)) && c->pending == 0)
		conn_close(conn);
}

static void on_closing(struct conn *conn)
{
	struct rconn *c = rconn_of(conn);
	relay_drop(c, "the client closed its connection");
	resp_pubsub_closing(c);
	/* Finished replies go; unfinished ones stay with whoever owes them. */
	struct slot *sl = c->head;
	while (sl != NULL) {
		struct slot *next = sl->next;
		sl->next = NULL;
		if (sl->done)
			slot_free(sl);
		else
			sl->orphan = true;
		sl = next;
	}
	c->head = c->tail = NULL;
	c->pending = 0;
	c->order = (struct driver_order){0};
	c->holding = false;
}

static void on_free(struct conn *conn)
{
	struct rconn *c = rconn_of(conn);
	resp_parser_free(&c->parser);
	resp_txn_free(c);
	resp_pubsub_free(c);
	resp_auth_free(c);
	for (int i = 0; i < SCAN_CURSORS; i++)
		free(c->cursors[i].start);
	free(c->name);
	free(c);
}

static size_t on_buffered(struct conn *conn)
{
	return resp_parser_buffered(&rconn_of(conn)->parser);
}

static bool on_owed(struct conn *conn)
{
	return rconn_of(conn)->pending > 0;
}

/* Whether the input begins with the greeting relay_start() sends. */
static int on_relay_check(struct conn *conn)
{
	static const char hello[] = "*1\r\n$13\r\nCONCORD.RELAY\r\n";
	const struct wire_in *in = &rconn_of(conn)->parser.in;
	size_t n = wire_in_len(in), k = n < sizeof(hello) - 1 ? n : sizeof(hello) - 1;
	if (k == 0)
		return 0;
	if (memcmp(in->data + in->start, hello, k) != 0)
		return -1;
	return k == sizeof(hello) - 1 ? 1 : 0;
}

static const struct conn_ops resp_conn_ops = {
    .create = on_create,
    .reject = on_reject,
    .space = on_space,
    .commit = on_commit,
    .process = on_process,
    .idle = on_idle,
    .closing = on_closing,
    .free = on_free,
    .buffered = on_buffered,
    .owed = on_owed,
    .relay_check = on_relay_check,
};

/* =================================================================================
 * Life cycle
 */

int resp_server_start(struct resp_server **out, struct server *sv, const char *address,
                      char *errmsg, size_t len)
{
	struct conn_listener *l = NULL;
	int rv = conn_listen(&l, sizeof(struct resp_server), sv, &resp_conn_ops, &sv->resp_stats,
	                     "resp", "--listen-client", address, errmsg, len);
	if (rv != 0)
		return rv;
	struct resp_server *s = (struct resp_server *)l;
	s->sv = sv;
	*out = s;
	return 0;
}

int resp_server_port(const struct resp_server *s)
{
	return s->l.port;
}

void resp_server_close(struct resp_server *s, void (*cb)(void *arg), void *arg)
{
	conn_listener_close(&s->l, cb, arg);
	resp_pubsub_server_free(s); /* every connection closed: no subscriber is left */
}
