/* node_io.c: the driver's seam bound to libuv, the storage threads and the transport. */
#include "server/node_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------
 * Clocks, the wire, the log, fail-stop
 */

static uint64_t seam_now_ms(void *ctx)
{
	struct node *n = ctx;
	return uv_now(n->loop);
}

static uint64_t seam_now_us(void *ctx)
{
	(void)ctx;
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

static uint64_t seam_wall_ms(void *ctx)
{
	(void)ctx;
	return node_wall_ms();
}

static void seam_send(void *ctx, const struct raft_message *m)
{
	struct node *n = ctx;
	net_send(n->net, m);
}

static void seam_log(void *ctx, int level, const char *msg)
{
	node_logf(ctx, level, "%s", msg);
}

/* A storage failure stops the process: after a failed write or fsync the node cannot know
 * what its disk holds, and answering from state it did not persist would break Raft. */
__attribute__((noreturn)) static void seam_fail_stop(void *ctx, const char *why)
{
	struct node *n = ctx;
	const char *serr = n->async != NULL ? storage_async_errmsg(n->async) : NULL;
	if (serr != NULL && serr[0] != '\0')
		node_logf(n, LOG_ERROR, "stopping: %s: %s", why, serr);
	else
		node_logf(n, LOG_ERROR, "stopping: %s", why);
	fflush(stderr);
	_exit(EXIT_FAILURE);
}

static void seam_members_changed(void *ctx, bool book)
{
	struct node *n = ctx;
	if (book)
		node_members_reload(n);
	node_peers_sync(n);
}

/* ---------------------------------------------------------------------------------
 * Persisting a batch at the storage threads
 */

/* A batch's requests at the storage: the hard state (ahead of a leader's snapshot), the
 * snapshot, the entries. */
struct batch_reqs {
	struct node *n;
	struct driver_batch *b;
	struct storage_async_req hs_req;
	struct storage_async_req snap_req;
	struct storage_async_req write_req;
};

static void batch_persisted(struct storage_async_req *req, int status)
{
	struct batch_reqs *br = req->data;
	if (status == 0 && (req == &br->snap_req || req == &br->hs_req))
		return; /* the write request that follows completes the batch */
	/* A failure fail-stops in the driver, which does not return here. */
	driver_persisted(br->n->d, br->b, status);
	free(br);
}

static void seam_persist(void *ctx, struct driver_batch *b, const struct raft_ready *rd)
{
	struct node *n = ctx;
	struct batch_reqs *br = xcalloc(1, sizeof(*br));
	br->n = n;
	br->b = b;
	br->hs_req.data = br;
	br->snap_req.data = br;
	br->write_req.data = br;
	if (!rd->has_snapshot) {
		storage_async_write_ready(n->async, &br->write_req, rd, batch_persisted);
		return;
	}
	/* The storage queue is ordered: first the hard state (the snapshot may come from a
	 * leader of a term this node has not made durable yet, and the storage refuses a
	 * snapshot above the durable term), then the snapshot, then the entries after it. */
	if (rd->has_hard_state)
		storage_async_write(n->async, &br->hs_req, &rd->hard_state, NULL, 0,
		                    batch_persisted);
	storage_async_snapshot(n->async, &br->snap_req, rd->snapshot_index, rd->snapshot_term,
	                       &rd->snapshot_conf, rd->snapshot_data->data, rd->snapshot_data->len,
	                       rd->snapshot_discard_log ? STORAGE_SNAPSHOT_DISCARD_LOG : 0,
	                       batch_persisted);
	storage_async_write(n->async, &br->write_req, NULL, rd->entries, rd->n_entries,
	                    batch_persisted);
}

/* The stored snapshot file, mapped: the core sends followers its bytes from the page
 * cache instead of a copy of the whole state machine in the heap. */
static struct raft_buf *seam_snapshot_map(void *ctx, raft_index index, raft_term term)
{
	struct node *n = ctx;
	struct raft_buf *b = NULL;
	char err[STORAGE_ERRMSG_SIZE];
	if (storage_snapshot_map(n->st, index, term, &b, err) != STORAGE_OK) {
		node_logf(n, LOG_WARN, "the snapshot at %" PRIu64 " stays in memory: %s", index,
		          err);
		return NULL;
	}
	return b;
}

void node_seam(struct node *n, struct driver_seam *seam)
{
	*seam = (struct driver_seam){
	    .ctx = n,
	    .send = seam_send,
	    .persist = seam_persist,
	    .now_ms = seam_now_ms,
	    .now_us = seam_now_us,
	    .wall_ms = seam_wall_ms,
	    .snapshot_start = node_snapshot_start,
	    .snapshot_save = node_snapshot_save,
	    .snapshot_map = seam_snapshot_map,
	    .fail_stop = seam_fail_stop,
	    .members_changed = seam_members_changed,
	    .log = seam_log,
	};
}

/* ---------------------------------------------------------------------------------
 * The loop's callbacks: the driver does the work
 */

void node_on_check(uv_check_t *h)
{
	struct node *n = h->data;
	if (driver_dirty(n->d))
		driver_drain(n->d);
}

void node_on_tick(uv_timer_t *t)
{
	struct node *n = t->data;
	if (node_removed(n) != 0)
		return; /* no more elections: it is not a member any more */
	driver_tick(n->d);
	node_members_publish_tick(n);
	node_removed_tick(n);
}

void node_on_message(void *ctx, const struct raft_message *m)
{
	struct node *n = ctx;
	node_peer_heard(n, m->from);
	driver_step(n->d, m);
}
