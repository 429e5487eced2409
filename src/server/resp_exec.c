/* resp_exec.c: how RESP commands reach the node: reads batched behind one node_read, writes
 * proposed through the log. */
#include "server/resp_impl.h"
#include "base/alloc.h"

#include <assert.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* =================================================================================
 * Reads: batched behind one node_read, then served from the store
 */

/* The read renders in the protocol of its time: a HELLO sent after it may have switched
 * the connection's since. */
static void read_execute(struct slot *sl, const struct kv *kv)
{
	uint8_t now = sl->c->proto;
	sl->c->proto = sl->proto;
	sl->cmd->read(sl->c, kv, sl->argc, sl->argv, &sl->out);
	sl->c->proto = now;
}

static void on_read_batch(void *arg, int status)
{
	struct read_batch *b = arg;
	struct resp_server *s = b->s;
	struct slot *sl = b->head;
	free(b);
	while (sl != NULL) {
		struct slot *next = sl->batch_next;
		sl->batch_next = NULL;
		if (!sl->orphan) {
			if (status == NODE_OK)
				read_execute(sl, node_kv(s->sv->node));
			else if (status == NODE_ENOTLEADER)
				reply_error(&sl->out,
				            "CLUSTERDOWN leadership was lost before the read "
				            "was confirmed; retry");
			else if (status == NODE_ETIMEOUT)
				reply_error(
				    &sl->out,
				    "TRYAGAIN the read timed out waiting for a quorum; retry");
			else
				reply_errorf(&sl->out, "ERR read failed: %s",
				             node_strerror(status));
		}
		slot_finish(sl);
		sl = next;
	}
}

/* Issues the reads collected so far. */
void resp_read_batch_flush(struct resp_server *s)
{
	struct read_batch *b = s->batch;
	if (b == NULL)
		return;
	s->batch = NULL;
	int rv = node_read(s->sv->node, false, on_read_batch, b);
	if (rv != 0)
		on_read_batch(b, rv);
}

void resp_read_enqueue(struct rconn *c, const struct command *cmd, size_t argc,
                       const struct resp_arg *argv)
{
	struct resp_server *s = c->s;
	struct slot *sl = slot_new(c);
	sl->cmd = cmd;
	size_t bytes = 0;
	for (size_t i = 0; i < argc; i++)
		bytes += argv[i].len + 1;
	sl->argv = xmalloc(argc * sizeof(*sl->argv) + bytes);
	char *p = (char *)(sl->argv + argc);
	for (size_t i = 0; i < argc; i++) {
		if (argv[i].len > 0)
			memcpy(p, argv[i].data, argv[i].len);
		p[argv[i].len] = '\0';
		sl->argv[i] = (struct resp_arg){.data = p, .len = argv[i].len};
		p += argv[i].len + 1;
	}
	sl->argc = argc;
	sl->holds_ref = true;
	sl->is_read = true;
	driver_order_begin(&c->order, DRIVER_ORDER_READ);
	conn_ref(&c->conn);
	if (s->batch == NULL) {
		s->batch = xcalloc(1, sizeof(*s->batch));
		s->batch->s = s;
	}
	if (s->batch->tail != NULL)
		s->batch->tail->batch_next = sl;
	else
		s->batch->head = sl;
	s->batch->tail = sl;
}

static void on_write_done(void *arg, int status, const struct kv_reply *reply)
{
	struct slot *sl = arg;
	struct wire_buf *out = &sl->out;
	if (sl->orphan) {
		slot_finish(sl);
		return;
	}
	const struct server *sv = sl->c->s->sv;
	if (status == NODE_OK && sl->txn_kinds != NULL) {
		resp_txn_render(out, sv, sl->proto, sl->txn_kinds, sl->txn_n, reply);
	} else if (status == NODE_OK && reply->code != KV_OK) {
		write_kv_error(out, sv, reply->code, sl->client_id, sl->seq);
	} else if (status == NODE_OK) {
		switch (sl->kind) {
		case REPLY_OK:
			resp_write_ok(out);
			break;
		case REPLY_OK_OR_NULL:
			if (reply->succeeded)
				resp_write_ok(out);
			else
				resp_write_nil(out, sl->proto);
			break;
		case REPLY_BOOL:
			resp_write_integer(out, reply->succeeded ? 1 : 0);
			break;
		case REPLY_INTEGER:
			resp_write_integer(out, reply->integer);
			break;
		case REPLY_CLIENT_ID:
			resp_write_integer(out, (int64_t)reply->client_id);
			break;
		case REPLY_DELRANGE:
			resp_delrange_render(out, reply, sl->proto);
			break;
		case REPLY_ETXN:
			resp_etxn_render(out, sv, reply, sl->proto);
			break;
		case REPLY_FIRST_BULK:
			resp_expire_render(out, sv, sl->proto, reply);
			break;
		case REPLY_PUBLISH:
			/* Called right after the entry's apply: the count is this node's. */
			resp_write_integer(out,
			                   reply->duplicate ? 0 : resp_pubsub_receivers(sl->c->s));
			break;
		case REPLY_BULK:
		case REPLY_BULKS:
			assert(false); /* only inside EXEC */
			break;
		}
	} else if (status == NODE_ELOST) {
		reply_error(out,
		            "CLUSTERDOWN the leader changed before the write committed; it had "
		            "no effect; retry");
	} else if (status == NODE_ETIMEOUT) {
		reply_error(out, "UNKNOWN the write may or may not have been applied: timed out "
		                 "waiting for a quorum; retry it under a session to apply it once");
	} else if (status == NODE_ESTOPPING) {
		reply_error(out, "UNKNOWN the write may or may not have been applied: the node is "
		                 "shutting down");
	} else {
		reply_errorf(out, "UNKNOWN the write may or may not have been applied: %s",
		             node_strerror(status));
	}
	slot_finish(sl);
}

static void write_proposed(struct rconn *c, struct slot *sl, int rv);

void resp_write_submit(struct rconn *c, const struct command *cmd, size_t argc,
                       const struct resp_arg *argv, uint64_t client_id, uint64_t seq)
{
	struct resp_server *s = c->s;
	struct build b;
	memset(&b, 0, sizeof(b));
	if (cmd->build(s, argc, argv, &b) != 0) {
		free(b.puts);
		free(b.keys);
		free(b.scratch);
		reply_error(conn_reply_now(c), b.err);
		return;
	}
	if (client_id != 0) {
		b.cmd.client_id = client_id;
		b.cmd.seq = seq;
	}
	struct slot *sl = slot_new(c);
	sl->kind = b.kind;
	sl->client_id = client_id != 0 ? client_id : b.cmd.client_id;
	sl->seq = seq;
	int rv = b.reserved ? node_write_reserved(s->sv->node, &b.cmd, on_write_done, sl)
	                    : node_write(s->sv->node, &b.cmd, on_write_done, sl);
	free(b.puts);
	free(b.keys);
	free(b.scratch);
	write_proposed(c, sl, rv);
}

void resp_txn_propose(struct rconn *c, const struct kv_cmd *cmd, uint8_t *kinds, size_t n)
{
	struct slot *sl = slot_new(c);
	sl->txn_kinds = kinds;
	sl->txn_n = n;
	write_proposed(c, sl, node_write(c->s->sv->node, cmd, on_write_done, sl));
}

/* The write of slot `sl` was proposed (rv 0) or refused at once. */
static void write_proposed(struct rconn *c, struct slot *sl, int rv)
{
	if (rv == 0) {
		sl->holds_ref = true;
		sl->is_write = true;
		driver_order_begin(&c->order, DRIVER_ORDER_WRITE);
		conn_ref(&c->conn);
		return;
	}
	switch (rv) {
	case NODE_ENOTLEADER:
		reply_error(&sl->out, "CLUSTERDOWN this node just lost leadership; retry");
		break;
	case NODE_EBUSY:
		reply_error(&sl->out, "TRYAGAIN a leadership transfer is under way; retry");
		break;
	case NODE_ETOOBIG:
		reply_error(&sl->out, "ERR command too large");
		break;
	case NODE_EINVAL:
		reply_error(&sl->out, "ERR keys starting with \\x00concord/ are reserved");
		break;
	default:
		reply_errorf(&sl->out, "ERR %s", node_strerror(rv));
		break;
	}
	slot_finish(sl);
}
