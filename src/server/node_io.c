/* node_io.c: the driver's seam bound to libuv, the storage threads and the transport. */
#include "server/node_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t node_now_ms(const struct node *n)
{
	return uv_now(n->loop);
}

uint64_t node_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t node_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void node_send(struct node *n, const struct raft_message *m)
{
	net_send(n->net, m);
}

__attribute__((noreturn)) void node_fail_stop(struct node *n, const char *what)
{
	node_logf(n, LOG_ERROR, "stopping: %s", what);
	fflush(stderr);
	_exit(EXIT_FAILURE);
}

static void batch_persisted(struct storage_async_req *req, int status)
{
	struct batch *b = req->data;
	struct node *n = b->n;
	if (status != 0)
		node_fail_stop(n, storage_async_errmsg(n->async));
	if (req == &b->snap_req || req == &b->hs_req)
		return; /* the write request that follows completes the batch */
	node_batch_persisted(n, b);
}

void node_persist_batch(struct node *n, struct batch *b)
{
	struct raft_ready *rd = &b->rd;
	b->hs_req.data = b;
	b->snap_req.data = b;
	b->write_req.data = b;
	if (!rd->has_snapshot) {
		storage_async_write_ready(n->async, &b->write_req, rd, batch_persisted);
		return;
	}
	/* The storage queue is ordered: first the hard state (the snapshot may come from a
	 * leader of a term this node has not made durable yet, and the storage refuses a
	 * snapshot above the durable term), then the snapshot, then the entries after it. */
	if (rd->has_hard_state)
		storage_async_write(n->async, &b->hs_req, &rd->hard_state, NULL, 0,
				    batch_persisted);
	storage_async_snapshot(n->async, &b->snap_req, rd->snapshot_index, rd->snapshot_term,
			       &rd->snapshot_conf, rd->snapshot_data->data, rd->snapshot_data->len,
			       rd->snapshot_discard_log ? STORAGE_SNAPSHOT_DISCARD_LOG : 0,
			       batch_persisted);
	storage_async_write(n->async, &b->write_req, NULL, rd->entries, rd->n_entries,
			    batch_persisted);
}
