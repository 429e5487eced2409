/* resp_txn.c: MULTI/EXEC/DISCARD/WATCH/UNWATCH: a connection's queue, applied by EXEC as one
 * KV_OP_TXN log entry. */
#include "server/resp_impl.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* =================================================================================
 * The queue and the watched keys
 */

static void queued_free(struct txn_state *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->q[i].argv);
	t->n = 0;
	t->bytes = 0;
	t->multi = false;
	t->failed = false;
}

static void watched_free(struct txn_state *t)
{
	for (size_t i = 0; i < t->n_watch; i++)
		free(t->w[i].key);
	t->n_watch = 0;
}

void resp_txn_free(struct rconn *c)
{
	queued_free(&c->txn);
	watched_free(&c->txn);
	free(c->txn.q);
	free(c->txn.w);
}

/* The reads a transaction carries, and how their outcome is rendered. */
static bool txn_read_kind(const struct command *cmd, enum reply_kind *kind)
{
	if (cmd->read == read_get)
		*kind = REPLY_BULK;
	else if (cmd->read == read_mget)
		*kind = REPLY_BULKS;
	else if (cmd->read == read_exists || cmd->read == read_strlen)
		*kind = REPLY_INTEGER;
	else
		return false;
	return true;
}

/* Describes a queued command as a sub-command; on error writes b->err. */
static int txn_build(struct resp_server *s, const struct queued *q, struct build *b)
{
	memset(b, 0, sizeof(*b));
	if (q->cmd->build != NULL) {
		int rv = q->cmd->build(s, q->argc, q->argv, b);
		if (rv == 0 && b->cmd.op == KV_OP_TXN) {
			/* SET ... GET is itself a transaction (resp_expire.c): they do not nest. */
			snprintf(b->err, sizeof(b->err),
			         "ERR SET with GET cannot run inside MULTI in Concord");
			return -1;
		}
		return rv;
	}
	if (!txn_read_kind(q->cmd, &b->kind))
		return -1;
	for (size_t i = 1; i < q->argc; i++) {
		if (q->argv[i].len > s->sv->limits.key_bytes_max) {
			snprintf(b->err, sizeof(b->err), "ERR key too large (limit %u bytes)",
			         s->sv->limits.key_bytes_max);
			return -1;
		}
		if (kv_key_reserved(q->argv[i].data, q->argv[i].len)) {
			snprintf(b->err, sizeof(b->err),
			         "ERR keys starting with \\x00concord/ are reserved");
			return -1;
		}
	}
	if (b->kind == REPLY_BULKS || q->cmd->read == read_exists) {
		b->cmd.op = b->kind == REPLY_BULKS ? KV_OP_MGET : KV_OP_EXISTS;
		b->keys = xcalloc(q->argc - 1, sizeof(*b->keys));
		for (size_t i = 1; i < q->argc; i++)
			b->keys[i - 1] = (struct kv_key){q->argv[i].data, q->argv[i].len};
		b->cmd.n = q->argc - 1;
		b->cmd.keys = b->keys;
	} else {
		b->cmd.op = b->kind == REPLY_BULK ? KV_OP_GET : KV_OP_STRLEN;
		b->cmd.put.key = q->argv[1].data;
		b->cmd.put.key_len = q->argv[1].len;
	}
	return 0;
}

/* Whether the command may be queued: the writes and reads a KV_OP_TXN carries. */
static bool txn_allowed(const struct command *cmd)
{
	enum reply_kind kind;
	if (cmd->flags & (CMD_SESSION | CMD_TXN | CMD_EXEC | CMD_NOTXN))
		return false;
	if (cmd->build != NULL)
		return true;
	return cmd->read != NULL && txn_read_kind(cmd, &kind);
}

static struct resp_arg *args_copy(size_t argc, const struct resp_arg *argv, size_t *bytes)
{
	size_t n = 0;
	for (size_t i = 0; i < argc; i++)
		n += argv[i].len + 1;
	struct resp_arg *a = xmalloc(argc * sizeof(*a) + n);
	char *p = (char *)(a + argc);
	for (size_t i = 0; i < argc; i++) {
		if (argv[i].len > 0)
			memcpy(p, argv[i].data, argv[i].len);
		p[argv[i].len] = '\0';
		a[i] = (struct resp_arg){.data = p, .len = argv[i].len};
		p += argv[i].len + 1;
	}
	*bytes = n;
	return a;
}

/* Queues a command after MULTI, or refuses it (and the transaction with it). */
static void txn_queue(struct rconn *c, const struct command *cmd, size_t argc,
                      const struct resp_arg *argv)
{
	struct txn_state *t = &c->txn;
	struct wire_buf *out = conn_reply_now(c);
	char name[64];
	lower_name(&argv[0], name, sizeof(name));
	if (!txn_allowed(cmd)) {
		reply_errorf(
		    out,
		    "ERR '%s' cannot run inside MULTI in Concord (transactions carry "
		    "SET, SETNX, SETEX, PSETEX, DEL, INCR/DECR[BY], APPEND, MSET[NX], CAS*, "
		    "[P]EXPIRE[AT], PERSIST, GET, MGET, EXISTS, STRLEN)",
		    name);
		t->failed = true;
		return;
	}
	size_t need = 0;
	for (size_t i = 0; i < argc; i++)
		need += argv[i].len + 1;
	if (t->n >= RESP_TXN_QUEUE_MAX || t->bytes + need > RESP_TXN_QUEUE_BYTES) {
		reply_errorf(out, "ERR transaction too large (limit %u commands, %u bytes)",
		             RESP_TXN_QUEUE_MAX, RESP_TXN_QUEUE_BYTES);
		t->failed = true;
		return;
	}
	struct queued q = {.cmd = cmd, .argc = argc};
	size_t bytes;
	q.argv = args_copy(argc, argv, &bytes);
	struct build b;
	if (txn_build(c->s, &q, &b) != 0) {
		reply_error(out, b.err[0] != '\0' ? b.err : "ERR syntax error");
		free(b.puts);
		free(b.keys);
		free(b.scratch);
		free(q.argv);
		t->failed = true;
		return;
	}
	free(b.puts);
	free(b.keys);
	free(b.scratch);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->q = xrealloc(t->q, t->cap * sizeof(*t->q));
	}
	t->q[t->n++] = q;
	t->bytes += bytes;
	resp_write_simple(out, "QUEUED", 6);
}

bool resp_txn_intercept(struct rconn *c, const struct command *cmd, size_t argc,
                        const struct resp_arg *argv)
{
	if (!c->txn.multi)
		return false;
	if (cmd == NULL || !command_arity_ok(cmd, argc)) {
		c->txn.failed = true; /* answered by the caller */
		return false;
	}
	if (cmd->flags & CMD_TXN) {
		if (cmd->read == read_watch) {
			reply_error(conn_reply_now(c), "ERR WATCH inside MULTI is not allowed");
			return true;
		}
		return false; /* MULTI, EXEC, DISCARD, UNWATCH */
	}
	txn_queue(c, cmd, argc, argv);
	return true;
}

READ_FN(read_watch)
{
	(void)kv;
	struct txn_state *t = &c->txn;
	for (size_t i = 1; i < argc; i++) {
		bool known = false;
		for (size_t j = 0; j < t->n_watch && !known; j++)
			known = t->w[j].len == argv[i].len &&
			        memcmp(t->w[j].key, argv[i].data, argv[i].len) == 0;
		if (known)
			continue; /* the first WATCH of a key says since when */
		if (t->n_watch >= RESP_TXN_QUEUE_MAX ||
		    argv[i].len > c->s->sv->limits.key_bytes_max) {
			reply_errorf(out, "ERR too many or too large watched keys (limit %u keys)",
			             RESP_TXN_QUEUE_MAX);
			return;
		}
		struct kv_value v;
		uint64_t mod =
		    kv_get(kv, argv[i].data, argv[i].len, 0, &v) == KV_OK ? v.mod_revision : 0;
		if (t->n_watch == t->cap_watch) {
			t->cap_watch = t->cap_watch ? t->cap_watch * 2 : 8;
			t->w = xrealloc(t->w, t->cap_watch * sizeof(*t->w));
		}
		char *key = xmalloc(argv[i].len + 1);
		memcpy(key, argv[i].data, argv[i].len);
		t->w[t->n_watch++] = (struct watched){key, argv[i].len, mod};
	}
	resp_write_ok(out);
}

/* =================================================================================
 * EXEC
 */

/* Builds the transaction from the queue; kinds[i] says how sub-command i renders. */
static void txn_submit(struct rconn *c)
{
	struct txn_state *t = &c->txn;
	size_t n = t->n;
	struct kv_cmd *ops = xcalloc(n > 0 ? n : 1, sizeof(*ops));
	struct build *bs = xcalloc(n > 0 ? n : 1, sizeof(*bs));
	uint8_t *kinds = xcalloc(n > 0 ? n : 1, 1);
	struct kv_guard *g = xcalloc(t->n_watch > 0 ? t->n_watch : 1, sizeof(*g));
	for (size_t i = 0; i < t->n_watch; i++)
		g[i] = (struct kv_guard){t->w[i].key, t->w[i].len, t->w[i].mod_rev};
	int rv = 0;
	for (size_t i = 0; i < n && rv == 0; i++) {
		rv = txn_build(c->s, &t->q[i], &bs[i]);
		ops[i] = bs[i].cmd;
		kinds[i] = (uint8_t)bs[i].kind;
	}
	struct kv_cmd cmd = {
	    .op = KV_OP_TXN, .n_guards = t->n_watch, .guards = g, .n_ops = n, .ops = ops};
	if (rv == 0)
		resp_txn_propose(c, &cmd, kinds, n);
	else
		reply_error(conn_reply_now(c),
		            "EXECABORT Transaction discarded because of previous errors.");
	for (size_t i = 0; i < n; i++) {
		free(bs[i].puts);
		free(bs[i].keys);
	}
	free(ops);
	free(bs);
	free(g);
	if (rv != 0)
		free(kinds);
}

void resp_txn_run(struct rconn *c, const struct command *run, size_t argc,
                  const struct resp_arg *argv)
{
	(void)argc;
	(void)argv;
	struct txn_state *t = &c->txn;
	struct wire_buf *out;
	if (strcmp(run->name, "MULTI") == 0) {
		out = conn_reply_now(c);
		if (t->multi) {
			reply_error(out, "ERR MULTI calls can not be nested");
			return;
		}
		t->multi = true;
		resp_write_ok(out);
	} else if (strcmp(run->name, "DISCARD") == 0) {
		out = conn_reply_now(c);
		if (!t->multi) {
			reply_error(out, "ERR DISCARD without MULTI");
			return;
		}
		queued_free(t);
		watched_free(t);
		resp_write_ok(out);
	} else if (strcmp(run->name, "UNWATCH") == 0) {
		watched_free(t);
		resp_write_ok(conn_reply_now(c));
	} else {
		if (!t->multi) {
			reply_error(conn_reply_now(c), "ERR EXEC without MULTI");
			return;
		}
		if (t->failed)
			reply_error(conn_reply_now(c),
			            "EXECABORT Transaction discarded because of previous errors.");
		else
			txn_submit(c);
		queued_free(t);
		watched_free(t);
	}
}

/* One sub-command's outcome as RESP. */
static void render_item(struct wire_buf *out, const struct server *sv, int proto,
                        enum reply_kind kind, const struct kv_txn_item *it)
{
	if (it->code != KV_OK) {
		write_kv_error(out, sv, it->code, 0, 0);
		return;
	}
	switch (kind) {
	case REPLY_OK:
		resp_write_ok(out);
		break;
	case REPLY_OK_OR_NULL:
		if (it->succeeded)
			resp_write_ok(out);
		else
			resp_write_nil(out, proto);
		break;
	case REPLY_BOOL:
		resp_write_integer(out, it->succeeded ? 1 : 0);
		break;
	case REPLY_INTEGER:
	case REPLY_CLIENT_ID:
	case REPLY_DELRANGE: /* never queued (CMD_NOTXN) */
	case REPLY_ETXN:
		resp_write_integer(out, it->integer);
		break;
	case REPLY_FIRST_BULK: /* never queued (CMD_NOTXN) */
	case REPLY_PUBLISH:    /* never queued (CMD_NOTXN) */
	case REPLY_BULK:
	case REPLY_BULKS:
		if (kind == REPLY_BULKS)
			resp_write_array(out, it->n_values);
		for (size_t i = 0; i < it->n_values; i++) {
			if (it->values[i].present)
				resp_write_bulk(out, it->values[i].data, it->values[i].len);
			else
				resp_write_nil(out, proto);
		}
		break;
	}
}

void resp_txn_render(struct wire_buf *out, const struct server *sv, int proto, const uint8_t *kinds,
                     size_t n, const struct kv_reply *reply)
{
	if (reply->code != KV_OK) {
		write_kv_error(out, sv, reply->code, 0, 0);
		return;
	}
	if (!reply->succeeded) {
		resp_write_nil_array(out, proto); /* a watched key changed */
		return;
	}
	if (reply->txn == NULL || reply->txn->n != n) {
		reply_error(out, "ERR the transaction was applied before (a session retry); its "
		                 "replies are not kept");
		return;
	}
	resp_write_array(out, n);
	for (size_t i = 0; i < n; i++)
		render_item(out, sv, proto, (enum reply_kind)kinds[i], &reply->txn->items[i]);
}
