/* test_snap_thread.c: a compaction snapshot's file being written does not hold back the appends
 * queued after it; a leader's snapshot does, and completes first.
 */
/*
 * The I/O seam below holds the snapshot file's write until the test opens a gate. While a
 * compaction snapshot (STORAGE_SNAPSHOT_COMPACT) is held, appends submitted after it must
 * still become durable and complete; once the gate opens, the snapshot completes and
 * recovery finds it with the log after it. A leader's snapshot that keeps the log (no
 * flag) comes in a batch with the entries after it, and the node takes the batch as
 * durable when its last request completes: so nothing queued after it may complete before
 * it (that once freed a batch under the snapshot being written: a SIGSEGV in nemesis seed
 * 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "storage/async.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GATE_MAX_WAIT_S 60 /* a held write goes on by itself after this, so nothing hangs */
#define WAIT_S          30 /* how long the test waits for a condition, loaded machine */
#define N_AFTER         20 /* appends submitted while the snapshot is held */

/* A sio over crashfs whose writes to a snapshot's temporary file wait for the gate. */
struct gate_io {
	struct sio io;
	struct sio *inner;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int snap_fd; /* -1 while no snapshot file is open */
	bool held;   /* a snapshot write is waiting at the gate */
	bool open;
};

static int g_open(void *impl, const char *path, int flags, int *fd)
{
	struct gate_io *g = impl;
	int rv = sio_open(g->inner, path, flags, fd);
	if (rv == 0 && strstr(path, "snapshot-") != NULL && strstr(path, ".tmp") != NULL) {
		pthread_mutex_lock(&g->mu);
		g->snap_fd = *fd;
		pthread_mutex_unlock(&g->mu);
	}
	return rv;
}

static int g_close(void *impl, int fd)
{
	struct gate_io *g = impl;
	pthread_mutex_lock(&g->mu);
	if (fd == g->snap_fd)
		g->snap_fd = -1;
	pthread_mutex_unlock(&g->mu);
	return sio_close(g->inner, fd);
}

static int g_pread(void *impl, int fd, void *buf, size_t len, uint64_t off, size_t *n)
{
	return sio_pread(((struct gate_io *)impl)->inner, fd, buf, len, off, n);
}

static int g_pwritev(void *impl, int fd, const struct iovec *iov, int n_iov, uint64_t off)
{
	struct gate_io *g = impl;
	pthread_mutex_lock(&g->mu);
	if (fd == g->snap_fd) {
		g->held = true;
		pthread_cond_broadcast(&g->cv);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += GATE_MAX_WAIT_S;
		while (!g->open)
			if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0)
				break;
	}
	pthread_mutex_unlock(&g->mu);
	return sio_pwritev(g->inner, fd, iov, n_iov, off);
}

static int g_sync(void *impl, int fd, bool data_only)
{
	return ((struct gate_io *)impl)
	    ->inner->vt->sync(((struct gate_io *)impl)->inner->impl, fd, data_only);
}

static int g_truncate(void *impl, int fd, uint64_t size)
{
	return sio_truncate(((struct gate_io *)impl)->inner, fd, size);
}

static int g_allocate(void *impl, int fd, uint64_t size)
{
	return sio_allocate(((struct gate_io *)impl)->inner, fd, size);
}

static int g_size(void *impl, int fd, uint64_t *size)
{
	return sio_size(((struct gate_io *)impl)->inner, fd, size);
}

static int g_rename(void *impl, const char *from, const char *to)
{
	return sio_rename(((struct gate_io *)impl)->inner, from, to);
}

static int g_unlink(void *impl, const char *path)
{
	return sio_unlink(((struct gate_io *)impl)->inner, path);
}

static int g_mkdir(void *impl, const char *path)
{
	return sio_mkdir(((struct gate_io *)impl)->inner, path);
}

static int g_sync_dir(void *impl, const char *path)
{
	return sio_sync_dir(((struct gate_io *)impl)->inner, path);
}

static int g_list(void *impl, const char *path, struct sio_names *names)
{
	return sio_list(((struct gate_io *)impl)->inner, path, names);
}

static const struct sio_vtable gate_vt = {
    .open = g_open,
    .close = g_close,
    .pread = g_pread,
    .pwritev = g_pwritev,
    .sync = g_sync,
    .truncate = g_truncate,
    .allocate = g_allocate,
    .size = g_size,
    .rename = g_rename,
    .unlink = g_unlink,
    .mkdir = g_mkdir,
    .sync_dir = g_sync_dir,
    .list = g_list,
};

static void gate_open(struct gate_io *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static bool gate_held(struct gate_io *g)
{
	pthread_mutex_lock(&g->mu);
	bool held = g->held;
	pthread_mutex_unlock(&g->mu);
	return held;
}

struct req {
	struct storage_async_req req;
	struct raft_entry entry;
	int *done;
	int status;
	int seq; /* the order callbacks ran in, from 1 */
};

static int completions;

static void on_done(struct storage_async_req *r, int status)
{
	struct req *q = r->data;
	q->status = status;
	q->seq = ++completions;
	(*q->done)++;
	raft_buf_unref(q->entry.buf);
	q->entry.buf = NULL;
}

/* Runs the loop until *count reaches want or `seconds` pass. */
static void run_until_for(uv_loop_t *loop, const int *count, int want, int seconds)
{
	time_t end = time(NULL) + seconds;
	while (*count < want && time(NULL) < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

static void run_until(uv_loop_t *loop, const int *count, int want)
{
	run_until_for(loop, count, want, WAIT_S);
}

static void submit(struct storage_async *a, struct req *q, raft_index index, int *done)
{
	static const struct raft_hard_state hs = {.term = 1};
	q->req.data = q;
	q->done = done;
	q->status = -1;
	q->entry = th_entry(index, 1, (uint32_t)index, 200);
	storage_async_write(a, &q->req, index == 1 ? &hs : NULL, &q->entry, 1, on_done);
}

/* A snapshot at 5 with `flags`, its file held; appends 6.. queued after it. */
static void held_snapshot(unsigned flags)
{
	completions = 0;
	struct crashfs *fs = crashfs_new(1);
	struct gate_io g = {.io = {.vt = &gate_vt}, .inner = crashfs_io(fs), .snap_fd = -1};
	g.io.impl = &g;
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	struct storage_options o = th_options(64 << 10);
	struct storage_recovered rec;
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage *st = NULL;
	assert_int_equal(storage_open(&st, &g.io, "n1", &o, &rec, errmsg), 0);
	storage_recovered_release(&rec);
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct storage_async *a;
	assert_int_equal(storage_async_start(&a, &loop, st), 0);

	static struct req before[5], after[N_AFTER], snap;
	int done_before = 0, done_after = 0, done_snap = 0;
	for (int i = 0; i < 5; i++)
		submit(a, &before[i], (raft_index)i + 1, &done_before);
	run_until(&loop, &done_before, 5);
	assert_int_equal(done_before, 5);

	struct raft_conf conf = th_conf3();
	snap.req.data = &snap;
	snap.done = &done_snap;
	snap.status = -1;
	storage_async_snapshot(a, &snap.req, 5, 1, &conf, "state at five", 13, flags, on_done);
	time_t end = time(NULL) + WAIT_S;
	while (!gate_held(&g) && time(NULL) < end)
		usleep(1000);
	bool held = gate_held(&g);
	for (int i = 0; i < N_AFTER; i++)
		submit(a, &after[i], (raft_index)i + 6, &done_after);
	bool compact = (flags & STORAGE_SNAPSHOT_COMPACT) != 0;
	/* A leader's snapshot holds them all back: a second is enough to see it. */
	run_until_for(&loop, &done_after, N_AFTER, compact ? WAIT_S : 1);
	int passed = done_after;
	int snap_early = done_snap;
	gate_open(&g); /* before any assertion, so that nothing stays blocked */
	run_until(&loop, &done_snap, 1);
	run_until(&loop, &done_after, N_AFTER);
	storage_async_stop(a, NULL, NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);

	assert_true(held);
	assert_int_equal(snap_early, 0); /* the snapshot did not complete while held */
	if (compact) {
		assert_int_equal(passed, N_AFTER); /* every append completed meanwhile */
	} else {
		assert_int_equal(passed, 0);           /* none did */
		assert_int_equal(snap.seq, 5 + 1);     /* the snapshot came first */
		assert_int_equal(after[0].seq, 5 + 2); /* then the appends, in order */
		assert_int_equal(after[N_AFTER - 1].seq, 5 + 1 + N_AFTER);
	}
	assert_int_equal(done_snap, 1);
	assert_int_equal(snap.status, 0);
	for (int i = 0; i < N_AFTER; i++)
		assert_int_equal(after[i].status, 0);
	assert_int_equal(storage_snapshot_index(st), 5);
	storage_close(st);

	assert_int_equal(storage_open(&st, crashfs_io(fs), "n1", &o, &rec, errmsg), 0);
	assert_int_equal(rec.snapshot_index, 5);
	assert_int_equal(rec.n_entries, N_AFTER);
	assert_int_equal(rec.entries[0].index, 6);
	storage_recovered_release(&rec);
	storage_close(st);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mu);
	crashfs_free(fs);
}

static void test_appends_pass_a_held_compaction_snapshot(void **state)
{
	(void)state;
	held_snapshot(STORAGE_SNAPSHOT_COMPACT);
}

static void test_a_leaders_snapshot_completes_before_later_writes(void **state)
{
	(void)state;
	held_snapshot(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_appends_pass_a_held_compaction_snapshot),
	    cmocka_unit_test(test_a_leaders_snapshot_completes_before_later_writes),
	};
	return cmocka_run_group_tests_name("snap_thread", tests, NULL, NULL);
}
