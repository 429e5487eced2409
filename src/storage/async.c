/* async.c: the group-commit pipeline: a writer thread, a sync thread, in-order completion. */
#include "storage/async.h"

#include "base/alloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* A FIFO of requests linked through req->next. */
struct req_list {
	struct storage_async_req *head;
	struct storage_async_req *tail;
};

static void list_push(struct req_list *l, struct storage_async_req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_splice(struct req_list *into, struct req_list *from)
{
	if (from->head == NULL)
		return;
	if (into->tail)
		into->tail->next = from->head;
	else
		into->head = from->head;
	into->tail = from->tail;
	from->head = NULL;
	from->tail = NULL;
}

static struct storage_async_req *list_pop(struct req_list *l)
{
	struct storage_async_req *r = l->head;
	if (r == NULL)
		return NULL;
	l->head = r->next;
	if (l->head == NULL)
		l->tail = NULL;
	r->next = NULL;
	return r;
}

static struct req_list list_take(struct req_list *l)
{
	struct req_list out = *l;
	l->head = NULL;
	l->tail = NULL;
	return out;
}

struct storage_async {
	uv_loop_t *loop;
	uv_async_t wake;
	struct storage *st;
	uv_thread_t writer;
	uv_thread_t syncer;
	uv_thread_t snapper;

	uv_mutex_t mu;         /* guards everything below */
	uv_cond_t writer_cond; /* incoming work or stopping */
	uv_cond_t syncer_cond; /* a ticket is pending or the writer exited */
	uv_cond_t idle_cond;   /* no ticket pending or running */
	uv_cond_t snap_cond;   /* a snapshot to write, or the snapper may exit */
	struct req_list incoming;
	struct req_list written; /* covered by `pending` */
	struct storage_sync_ticket pending;
	bool have_pending;
	bool sync_running;
	struct req_list done;
	bool stopping;
	bool writer_exited;
	struct req_list snap_queue;   /* prepared, for the snapshot thread */
	struct req_list snap_written; /* run, for the writer to finish */
	uint32_t snaps_in_flight;     /* handed off and not finished yet */
	bool snapper_stop;
	char snap_errmsg[STORAGE_ERRMSG_SIZE]; /* the first failed snapshot write's */
	int failed;
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage_async_stats stats;

	/* writer thread only */
	struct storage_async_req **group;
	uint32_t cap_group;
	struct raft_entry *run;
	uint32_t cap_run;

	void (*close_cb)(void *arg);
	void *close_arg;
};

static void record_failure(struct storage_async *a, int rv, const char *errmsg)
{
	uv_mutex_lock(&a->mu);
	if (a->failed == STORAGE_OK) {
		a->failed = rv;
		snprintf(a->errmsg, sizeof(a->errmsg), "%s", errmsg);
	}
	uv_mutex_unlock(&a->mu);
}

/* Waits until no sync ticket is pending or running: required before anything but a plain
 * append (storage.h: a ticket's run may only overlap plain appends). */
static void wait_idle(struct storage_async *a)
{
	uv_mutex_lock(&a->mu);
	while (a->have_pending || a->sync_running)
		uv_cond_wait(&a->idle_cond, &a->mu);
	uv_mutex_unlock(&a->mu);
}

static bool is_plain_write(const struct storage_async_req *r)
{
	return r->kind == STORAGE_ASYNC_WRITE && !r->has_hard_state;
}

/* Collects the entries of plain writes group[i], group[i+1], ... that continue each
 * other into a->run; returns how many requests it took (at least 1). */
static uint32_t gather_run(struct storage_async *a, uint32_t i, uint32_t n, uint32_t *n_run)
{
	uint32_t j = i;
	uint32_t m = 0;
	while (j < n && is_plain_write(a->group[j])) {
		const struct storage_async_req *r = a->group[j];
		if (m > 0 && r->n_entries > 0 && r->entries[0].index != a->run[m - 1].index + 1)
			break;
		if (m + r->n_entries > a->cap_run) {
			a->cap_run = (m + r->n_entries) * 2;
			a->run = xrealloc(a->run, a->cap_run * sizeof(*a->run));
		}
		/* Shallow copies: the storage only reads payloads, no references move. A
		 * request may carry a hard state and no entries at all. */
		if (r->n_entries > 0)
			memcpy(a->run + m, r->entries, r->n_entries * sizeof(*r->entries));
		m += r->n_entries;
		j++;
	}
	*n_run = m;
	return j - i;
}

/* Writer thread: finishes the snapshots the snapshot thread has written (compacting the
 * log; no ticket may run meanwhile) and queues their completions. */
static void finish_snapshots(struct storage_async *a)
{
	uv_mutex_lock(&a->mu);
	struct req_list l = list_take(&a->snap_written);
	uv_mutex_unlock(&a->mu);
	if (l.head == NULL)
		return;
	wait_idle(a);
	for (struct storage_async_req *r = l.head; r != NULL; r = r->next) {
		uv_mutex_lock(&a->mu);
		int failed = a->failed;
		uv_mutex_unlock(&a->mu);
		if (failed != STORAGE_OK) {
			storage_sync_finish(a->st, failed, a->errmsg);
			r->status = STORAGE_EFAILED;
			continue;
		}
		r->status =
		    storage_snapshot_job_finish(a->st, &r->snap_job, r->status, a->snap_errmsg);
		if (r->status != STORAGE_OK)
			record_failure(a, r->status, storage_errmsg(a->st));
	}
	uv_mutex_lock(&a->mu);
	for (struct storage_async_req *r = l.head; r != NULL; r = r->next)
		a->snaps_in_flight--;
	list_splice(&a->done, &l);
	uv_mutex_unlock(&a->mu);
	uv_async_send(&a->wake);
}

/* Writer thread: waits until every handed-off snapshot is finished. */
static void drain_snapshots(struct storage_async *a)
{
	uv_mutex_lock(&a->mu);
	while (a->snaps_in_flight > 0) {
		while (a->snap_written.head == NULL)
			uv_cond_wait(&a->writer_cond, &a->mu);
		uv_mutex_unlock(&a->mu);
		finish_snapshots(a);
		uv_mutex_lock(&a->mu);
	}
	uv_mutex_unlock(&a->mu);
}

/* Writer thread: checks a compaction snapshot and hands it to the snapshot thread. */
static int hand_off_snapshot(struct storage_async *a, struct storage_async_req *r)
{
	int rv =
	    r->snap_file != NULL
	        ? storage_snapshot_job_prepare_file(a->st, &r->snap_job, r->snap_index,
	                                            r->snap_term, &r->snap_conf, r->snap_len,
	                                            r->snap_file)
	        : storage_snapshot_job_prepare(a->st, &r->snap_job, r->snap_index, r->snap_term,
	                                       &r->snap_conf, r->snap_data, r->snap_len);
	if (rv != STORAGE_OK)
		return rv;
	r->snap_async = true;
	uv_mutex_lock(&a->mu);
	list_push(&a->snap_queue, r);
	a->snaps_in_flight++;
	uv_cond_signal(&a->snap_cond);
	uv_mutex_unlock(&a->mu);
	return STORAGE_OK;
}

static int process_one(struct storage_async *a, struct storage_async_req *r)
{
	struct storage *st = a->st;
	if (r->kind == STORAGE_ASYNC_SNAPSHOT && (r->snap_flags & STORAGE_SNAPSHOT_COMPACT) &&
	    !(r->snap_flags & STORAGE_SNAPSHOT_DISCARD_LOG))
		return hand_off_snapshot(a, r);
	/* Anything but an append waits for earlier snapshots: a truncation or an installed
	 * snapshot must not change the log under one being written. */
	if (r->kind == STORAGE_ASYNC_SNAPSHOT ||
	    (r->n_entries > 0 && !storage_append_is_plain(st, r->entries, r->n_entries)))
		drain_snapshots(a);
	wait_idle(a);
	if (r->kind == STORAGE_ASYNC_SNAPSHOT)
		return storage_snapshot_put(st, r->snap_index, r->snap_term, &r->snap_conf,
		                            r->snap_data, r->snap_len, r->snap_flags);
	int rv = STORAGE_OK;
	/* The hard state is durable before the batch's entries reach the disk. */
	if (r->has_hard_state)
		rv = storage_set_hard_state(st, &r->hard_state);
	if (rv == STORAGE_OK)
		rv = storage_append(st, r->entries, r->n_entries);
	return rv;
}

/* Writes one group of requests; every request gets its write status. */
static void process_group(struct storage_async *a, uint32_t n)
{
	struct storage *st = a->st;
	uint32_t i = 0;
	while (i < n) {
		uv_mutex_lock(&a->mu);
		int failed = a->failed;
		uv_mutex_unlock(&a->mu);
		if (failed != STORAGE_OK) {
			/* A sync failed meanwhile: the storage stops too. */
			storage_sync_finish(st, failed, a->errmsg);
			for (; i < n; i++)
				a->group[i]->status = STORAGE_EFAILED;
			return;
		}
		uint32_t n_run = 0;
		uint32_t k = is_plain_write(a->group[i]) ? gather_run(a, i, n, &n_run) : 0;
		if (k > 0 && (n_run == 0 || storage_append_is_plain(st, a->run, n_run))) {
			int rv = storage_append(st, a->run, n_run);
			for (uint32_t j = i; j < i + k; j++)
				a->group[j]->status = rv;
			if (rv != STORAGE_OK)
				record_failure(a, rv, storage_errmsg(st));
			i += k;
			continue;
		}
		int rv = process_one(a, a->group[i]);
		if (a->group[i]->snap_async) {
			i++; /* the snapshot thread owns its status now */
			continue;
		}
		a->group[i]->status = rv;
		if (rv != STORAGE_OK && storage_failed(st) != STORAGE_OK)
			record_failure(a, rv, storage_errmsg(st));
		else if (rv != STORAGE_OK)
			/* Refused (STORAGE_EINVAL): a caller bug, but later batches may depend
			 * on this one, so stop as for a disk failure. */
			record_failure(a, rv, storage_errmsg(st));
		i++;
	}
}

/* Runs ticket t (or, with skip, discards it) and completes `batch` with its outcome. The
 * caller holds no lock and has set sync_running; it is clear again on return. */
static void sync_batch(struct storage_async *a, struct storage_sync_ticket *t,
                       struct req_list batch, bool skip)
{
	char errmsg[STORAGE_ERRMSG_SIZE];
	/* Durability is claimed only after this returns success. */
	int rv = STORAGE_EFAILED;
	uint64_t t0 = uv_hrtime();
	if (skip)
		storage_sync_ticket_discard(t);
	else
		rv = storage_sync_run(t, errmsg);
	if (rv == STORAGE_OK)
		storage_sync_done(a->st, t);
	uint64_t synced_ns = uv_hrtime() - t0;

	uv_mutex_lock(&a->mu);
	assert(a->sync_running);
	a->sync_running = false;
	if (!skip)
		histogram_observe(&a->stats.fsync_seconds, (double)synced_ns / 1e9);
	if (rv != STORAGE_OK && a->failed == STORAGE_OK) {
		a->failed = rv;
		snprintf(a->errmsg, sizeof(a->errmsg), "%s", errmsg);
	}
	for (struct storage_async_req *r = batch.head; r != NULL; r = r->next)
		if (r->status == STORAGE_OK && rv != STORAGE_OK)
			r->status = rv;
	list_splice(&a->done, &batch);
	uv_cond_broadcast(&a->idle_cond);
	uv_mutex_unlock(&a->mu);
	uv_async_send(&a->wake);
}

static void writer_main(void *arg)
{
	struct storage_async *a = arg;
	uv_mutex_lock(&a->mu);
	for (;;) {
		while (a->incoming.head == NULL && a->snap_written.head == NULL &&
		       !(a->stopping && a->snaps_in_flight == 0))
			uv_cond_wait(&a->writer_cond, &a->mu);
		if (a->snap_written.head != NULL) {
			uv_mutex_unlock(&a->mu);
			finish_snapshots(a);
			uv_mutex_lock(&a->mu);
			continue;
		}
		if (a->incoming.head == NULL)
			break; /* stopping, and nothing left */
		struct req_list group = list_take(&a->incoming);
		uv_mutex_unlock(&a->mu);

		uint32_t n = 0;
		for (struct storage_async_req *r = group.head; r != NULL; r = r->next) {
			if (n == a->cap_group) {
				a->cap_group = a->cap_group ? a->cap_group * 2 : 64;
				a->group = xrealloc(a->group, a->cap_group * sizeof(*a->group));
			}
			a->group[n++] = r;
		}
		uint64_t t0 = uv_hrtime();
		process_group(a, n);
		/* Snapshots handed to the snapshot thread complete from there. */
		group = (struct req_list){0};
		for (uint32_t i = 0; i < n; i++)
			if (!a->group[i]->snap_async)
				list_push(&group, a->group[i]);
		struct storage_sync_ticket t;
		storage_sync_prepare(a->st, &t);
		uint64_t wrote_ns = uv_hrtime() - t0;

		uv_mutex_lock(&a->mu);
		histogram_observe(&a->stats.append_seconds, (double)wrote_ns / 1e9);
		if (!a->have_pending && !a->sync_running && a->incoming.head == NULL) {
			/* Nothing to overlap the sync with: run it here rather than wake the
			 * sync thread, a hand-off that costs more than it saves when one write
			 * waits for it (a client at a time). */
			a->sync_running = true;
			bool skip = a->failed != STORAGE_OK;
			uv_mutex_unlock(&a->mu);
			sync_batch(a, &t, group, skip);
			uv_mutex_lock(&a->mu);
			continue;
		}
		if (a->have_pending && !storage_sync_ticket_merge(&a->pending, &t)) {
			/* Too many retired segments for one ticket: let the pending one go
			 * first. */
			while (a->have_pending)
				uv_cond_wait(&a->idle_cond, &a->mu);
		}
		if (!a->have_pending)
			a->pending = t;
		a->have_pending = true;
		list_splice(&a->written, &group);
		uv_cond_signal(&a->syncer_cond);
	}
	a->writer_exited = true;
	uv_cond_signal(&a->syncer_cond);
	uv_mutex_unlock(&a->mu);
}

static void snapper_main(void *arg)
{
	struct storage_async *a = arg;
	char errmsg[STORAGE_ERRMSG_SIZE];
	uv_mutex_lock(&a->mu);
	for (;;) {
		while (a->snap_queue.head == NULL && !a->snapper_stop)
			uv_cond_wait(&a->snap_cond, &a->mu);
		struct storage_async_req *r = list_pop(&a->snap_queue);
		if (r == NULL)
			break;
		uv_mutex_unlock(&a->mu);
		int rv = storage_snapshot_job_run(&r->snap_job, errmsg);
		uv_mutex_lock(&a->mu);
		r->status = rv;
		if (rv != STORAGE_OK && a->snap_errmsg[0] == '\0')
			snprintf(a->snap_errmsg, sizeof(a->snap_errmsg), "%s", errmsg);
		list_push(&a->snap_written, r);
		uv_cond_signal(&a->writer_cond);
	}
	uv_mutex_unlock(&a->mu);
}

static void syncer_main(void *arg)
{
	struct storage_async *a = arg;
	uv_mutex_lock(&a->mu);
	for (;;) {
		while (!a->have_pending && !a->writer_exited)
			uv_cond_wait(&a->syncer_cond, &a->mu);
		if (!a->have_pending)
			break; /* the writer exited and everything is synced */
		struct storage_sync_ticket t = a->pending;
		struct req_list batch = list_take(&a->written);
		a->have_pending = false;
		a->sync_running = true;
		bool skip = a->failed != STORAGE_OK;
		uv_mutex_unlock(&a->mu);
		sync_batch(a, &t, batch, skip);
		uv_mutex_lock(&a->mu);
	}
	uv_mutex_unlock(&a->mu);
}

/* Loop thread: run the callbacks of completed requests, in order. */
static void deliver(struct storage_async *a)
{
	uv_mutex_lock(&a->mu);
	struct req_list done = list_take(&a->done);
	uv_mutex_unlock(&a->mu);
	struct storage_async_req *r = done.head;
	while (r != NULL) {
		struct storage_async_req *next = r->next; /* the callback may reuse r */
		r->cb(r, r->status);
		r = next;
	}
}

static void on_wake(uv_async_t *h)
{
	deliver(h->data);
}

int storage_async_start(struct storage_async **out, uv_loop_t *loop, struct storage *st)
{
	struct storage_async *a = xcalloc(1, sizeof(*a));
	a->loop = loop;
	a->st = st;
	histogram_init_latency(&a->stats.append_seconds);
	histogram_init_latency(&a->stats.fsync_seconds);
	if (uv_mutex_init(&a->mu) != 0 || uv_cond_init(&a->writer_cond) != 0 ||
	    uv_cond_init(&a->syncer_cond) != 0 || uv_cond_init(&a->idle_cond) != 0 ||
	    uv_cond_init(&a->snap_cond) != 0)
		abort();
	if (uv_async_init(loop, &a->wake, on_wake) != 0)
		abort();
	a->wake.data = a;
	if (uv_thread_create(&a->writer, writer_main, a) != 0)
		abort();
	if (uv_thread_create(&a->syncer, syncer_main, a) != 0)
		abort();
	if (uv_thread_create(&a->snapper, snapper_main, a) != 0)
		abort();
	*out = a;
	return STORAGE_OK;
}

static void submit(struct storage_async *a, struct storage_async_req *req)
{
	req->status = STORAGE_OK;
	uv_mutex_lock(&a->mu);
	assert(!a->stopping);
	list_push(&a->incoming, req);
	uv_cond_signal(&a->writer_cond);
	uv_mutex_unlock(&a->mu);
}

void storage_async_write(struct storage_async *a, struct storage_async_req *req,
                         const struct raft_hard_state *hs, const struct raft_entry *entries,
                         uint32_t n, storage_async_cb cb)
{
	void *data = req->data;
	memset(req, 0, sizeof(*req));
	req->data = data;
	req->kind = STORAGE_ASYNC_WRITE;
	req->cb = cb;
	req->has_hard_state = hs != NULL;
	if (hs != NULL)
		req->hard_state = *hs;
	req->entries = entries;
	req->n_entries = n;
	submit(a, req);
}

void storage_async_write_ready(struct storage_async *a, struct storage_async_req *req,
                               const struct raft_ready *rd, storage_async_cb cb)
{
	storage_async_write(a, req, rd->has_hard_state ? &rd->hard_state : NULL, rd->entries,
	                    rd->n_entries, cb);
}

/* A snapshot request with everything but where its bytes are. */
static void snapshot_req_init(struct storage_async_req *req, raft_index index, raft_term term,
                              const struct raft_conf *conf, size_t len, unsigned flags,
                              storage_async_cb cb)
{
	void *user = req->data;
	memset(req, 0, sizeof(*req));
	req->data = user;
	req->kind = STORAGE_ASYNC_SNAPSHOT;
	req->cb = cb;
	req->snap_index = index;
	req->snap_term = term;
	req->snap_conf = *conf;
	req->snap_len = len;
	req->snap_flags = flags;
}

void storage_async_snapshot(struct storage_async *a, struct storage_async_req *req,
                            raft_index index, raft_term term, const struct raft_conf *conf,
                            const void *data, size_t len, unsigned flags, storage_async_cb cb)
{
	snapshot_req_init(req, index, term, conf, len, flags, cb);
	req->snap_data = data;
	submit(a, req);
}

void storage_async_snapshot_file(struct storage_async *a, struct storage_async_req *req,
                                 raft_index index, raft_term term, const struct raft_conf *conf,
                                 size_t len, const char *file, storage_async_cb cb)
{
	snapshot_req_init(req, index, term, conf, len, STORAGE_SNAPSHOT_COMPACT, cb);
	req->snap_file = file;
	submit(a, req);
}

static void on_closed(uv_handle_t *h)
{
	struct storage_async *a = h->data;
	void (*cb)(void *) = a->close_cb;
	void *arg = a->close_arg;
	uv_mutex_destroy(&a->mu);
	uv_cond_destroy(&a->writer_cond);
	uv_cond_destroy(&a->syncer_cond);
	uv_cond_destroy(&a->idle_cond);
	uv_cond_destroy(&a->snap_cond);
	free(a->group);
	free(a->run);
	free(a);
	if (cb)
		cb(arg);
}

void storage_async_stop(struct storage_async *a, void (*close_cb)(void *arg), void *arg)
{
	uv_mutex_lock(&a->mu);
	a->stopping = true;
	uv_cond_signal(&a->writer_cond);
	uv_mutex_unlock(&a->mu);
	uv_thread_join(&a->writer);
	uv_thread_join(&a->syncer);
	/* The writer exited after every snapshot finished: the snapshot thread is idle. */
	uv_mutex_lock(&a->mu);
	a->snapper_stop = true;
	uv_cond_signal(&a->snap_cond);
	uv_mutex_unlock(&a->mu);
	uv_thread_join(&a->snapper);
	deliver(a);
	a->close_cb = close_cb;
	a->close_arg = arg;
	uv_close((uv_handle_t *)&a->wake, on_closed);
}

const char *storage_async_errmsg(const struct storage_async *a)
{
	return a->errmsg;
}

void storage_async_stats_get(struct storage_async *a, struct storage_async_stats *out)
{
	uv_mutex_lock(&a->mu);
	*out = a->stats;
	uv_mutex_unlock(&a->mu);
}
