/* test_ack_order.c: no write is acknowledged before an fdatasync that covers it, counted at the I/O
 * seam. */
/*
 * The group-commit layer (async.h) runs over a counting seam on the real disk: every
 * pwritev is numbered and the entries it carries are found by the marker in their
 * payload; every sync records the last write on its descriptor that had returned before
 * the sync began, and on success marks the entries of that descriptor up to that write
 * durable. Each completion then checks that every entry it acknowledges is durable, and
 * the totals compare fdatasyncs with acknowledged writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "storage/async.h"

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_WRITES    3000u
#define N_APPENDERS 64
#define MAX_FD      4096
#define MARK        "ACK:"
#define MARK_DIGITS 10

/* The counting seam. */
struct ack_io {
	struct sio io;
	struct sio *inner;
	pthread_mutex_t mu;
	uint64_t write_seq;                /* pwritev calls returned, in all */
	uint64_t last_write[MAX_FD];       /* per descriptor, the last such call's number */
	uint64_t written_at[N_WRITES + 1]; /* per entry index, the call that wrote it */
	int written_fd[N_WRITES + 1];      /* and on which descriptor */
	bool durable[N_WRITES + 1];
	uint64_t syncs; /* successful sync calls (data or full) */
};

static struct ack_io *impl_of(void *impl)
{
	return impl;
}

static int a_open(void *impl, const char *path, int flags, int *fd)
{
	struct ack_io *a = impl_of(impl);
	int rv = a->inner->vt->open(a->inner->impl, path, flags, fd);
	if (rv == 0 && *fd >= 0 && *fd < MAX_FD) {
		pthread_mutex_lock(&a->mu);
		a->last_write[*fd] = 0;
		pthread_mutex_unlock(&a->mu);
	}
	return rv;
}

static int a_close(void *impl, int fd)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->close(a->inner->impl, fd);
}

static int a_pread(void *impl, int fd, void *buf, size_t len, uint64_t off, size_t *n)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->pread(a->inner->impl, fd, buf, len, off, n);
}

/* Records the entries whose marker lies in this buffer. */
static void note_marks(struct ack_io *a, int fd, uint64_t seq, const char *p, size_t len)
{
	const char *end = p + len;
	while (p < end) {
		const char *m = memmem(p, (size_t)(end - p), MARK, strlen(MARK));
		if (m == NULL || (size_t)(end - m) < strlen(MARK) + MARK_DIGITS)
			return;
		uint64_t index = 0;
		for (int i = 0; i < MARK_DIGITS; i++)
			index = index * 10 + (uint64_t)(m[strlen(MARK) + (size_t)i] - '0');
		if (index >= 1 && index <= N_WRITES) {
			a->written_at[index] = seq;
			a->written_fd[index] = fd;
		}
		p = m + strlen(MARK);
	}
}

static int a_pwritev(void *impl, int fd, const struct iovec *iov, int n_iov, uint64_t off)
{
	struct ack_io *a = impl_of(impl);
	int rv = a->inner->vt->pwritev(a->inner->impl, fd, iov, n_iov, off);
	if (rv != 0 || fd < 0 || fd >= MAX_FD)
		return rv;
	pthread_mutex_lock(&a->mu);
	uint64_t seq = ++a->write_seq;
	a->last_write[fd] = seq;
	for (int i = 0; i < n_iov; i++)
		note_marks(a, fd, seq, iov[i].iov_base, iov[i].iov_len);
	pthread_mutex_unlock(&a->mu);
	return rv;
}

static int a_sync(void *impl, int fd, bool data_only)
{
	struct ack_io *a = impl_of(impl);
	pthread_mutex_lock(&a->mu);
	uint64_t covered = fd >= 0 && fd < MAX_FD ? a->last_write[fd] : 0;
	pthread_mutex_unlock(&a->mu);
	int rv = a->inner->vt->sync(a->inner->impl, fd, data_only);
	if (rv != 0)
		return rv;
	pthread_mutex_lock(&a->mu);
	a->syncs++;
	for (uint32_t i = 1; i <= N_WRITES; i++)
		if (a->written_at[i] != 0 && a->written_fd[i] == fd && a->written_at[i] <= covered)
			a->durable[i] = true;
	pthread_mutex_unlock(&a->mu);
	return rv;
}

static int a_truncate(void *impl, int fd, uint64_t size)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->truncate(a->inner->impl, fd, size);
}

static int a_allocate(void *impl, int fd, uint64_t size)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->allocate(a->inner->impl, fd, size);
}

static int a_size(void *impl, int fd, uint64_t *size)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->size(a->inner->impl, fd, size);
}

static int a_rename(void *impl, const char *from, const char *to)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->rename(a->inner->impl, from, to);
}

static int a_unlink(void *impl, const char *path)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->unlink(a->inner->impl, path);
}

static int a_mkdir(void *impl, const char *path)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->mkdir(a->inner->impl, path);
}

static int a_sync_dir(void *impl, const char *path)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->sync_dir(a->inner->impl, path);
}

static int a_list(void *impl, const char *path, struct sio_names *names)
{
	struct ack_io *a = impl_of(impl);
	return a->inner->vt->list(a->inner->impl, path, names);
}

static const struct sio_vtable ack_vt = {
    .open = a_open,
    .close = a_close,
    .pread = a_pread,
    .pwritev = a_pwritev,
    .sync = a_sync,
    .truncate = a_truncate,
    .allocate = a_allocate,
    .size = a_size,
    .rename = a_rename,
    .unlink = a_unlink,
    .mkdir = a_mkdir,
    .sync_dir = a_sync_dir,
    .list = a_list,
};

/* The appenders. */
struct ctx;

struct appender {
	struct storage_async_req req;
	struct ctx *c;
	struct raft_entry entry;
};

struct ctx {
	struct ack_io *io;
	struct storage_async *a;
	uint32_t next; /* the next index to submit */
	uint32_t in_flight;
	uint64_t acked;
	uint64_t early; /* acknowledged while not durable */
	raft_index first_early;
	int first_error;
	bool stopped;
	struct appender apps[N_APPENDERS];
};

static void submit(struct appender *ap);

static void on_stopped(void *arg)
{
	struct ctx *c = arg;
	c->stopped = true;
}

static void on_done(struct storage_async_req *req, int status)
{
	struct appender *ap = req->data;
	struct ctx *c = ap->c;
	raft_index index = ap->entry.index;
	c->in_flight--;
	if (status != 0 && c->first_error == 0)
		c->first_error = status;
	if (status == 0) {
		c->acked++;
		pthread_mutex_lock(&c->io->mu);
		bool durable = c->io->durable[index];
		pthread_mutex_unlock(&c->io->mu);
		if (!durable && c->early++ == 0)
			c->first_early = index;
	}
	raft_buf_unref(ap->entry.buf);
	ap->entry.buf = NULL;
	if (c->next <= N_WRITES && c->first_error == 0)
		submit(ap);
	else if (c->in_flight == 0 && !c->stopped)
		storage_async_stop(c->a, on_stopped, c);
}

static void submit(struct appender *ap)
{
	struct ctx *c = ap->c;
	uint32_t index = c->next++;
	char payload[96];
	memset(payload, '.', sizeof(payload));
	char mark[32];
	int n = snprintf(mark, sizeof(mark), MARK "%0*u", MARK_DIGITS, index);
	memcpy(payload + 8, mark, (size_t)n);
	ap->entry = (struct raft_entry){.term = 1, .index = index, .type = RAFT_ENTRY_NORMAL};
	ap->entry.buf = raft_buf_new(payload, 32 + index % 64);
	ap->req.data = ap;
	c->in_flight++;
	struct raft_hard_state hs = {.term = 1, .vote = 1};
	storage_async_write(c->a, &ap->req, index == 1 ? &hs : NULL, &ap->entry, 1, on_done);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void test_ack_after_fsync(void **state)
{
	(void)state;
	char root[] = "/tmp/concord-ack-order.XXXXXX";
	assert_non_null(mkdtemp(root));
	char dir[64];
	snprintf(dir, sizeof(dir), "%s/n1", root);
	static struct ack_io io;
	memset(&io, 0, sizeof(io));
	io.inner = sio_posix();
	io.io = (struct sio){.vt = &ack_vt, .impl = &io};
	pthread_mutex_init(&io.mu, NULL);
	struct storage_options o = th_options(256 << 10);
	struct storage_recovered rec;
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage *st = NULL;
	assert_int_equal(storage_open(&st, &io.io, dir, &o, &rec, errmsg), 0);
	storage_recovered_release(&rec);
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	static struct ctx c;
	memset(&c, 0, sizeof(c));
	c.io = &io;
	c.next = 1;
	assert_int_equal(storage_async_start(&c.a, &loop, st), 0);
	for (int i = 0; i < N_APPENDERS; i++) {
		c.apps[i].c = &c;
		submit(&c.apps[i]);
	}
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_true(c.stopped);
	assert_int_equal(uv_loop_close(&loop), 0);
	print_message("%" PRIu64 " writes acknowledged after %" PRIu64 " syncs (%.1f per sync); "
	              "%" PRIu64 " acknowledged before their sync (first: index %" PRIu64 ")\n",
	              c.acked, io.syncs, io.syncs > 0 ? (double)c.acked / (double)io.syncs : 0.0,
	              c.early, (uint64_t)c.first_early);
	assert_int_equal(c.first_error, 0);
	assert_int_equal(c.acked, N_WRITES);
	assert_int_equal(c.early, 0);
	/* Every entry was seen written, so the marks were found: the check above had teeth. */
	for (uint32_t i = 1; i <= N_WRITES; i++)
		assert_true(io.written_at[i] != 0);
	/* Group commit folds writes, and never acknowledges without a sync at all. */
	assert_true(io.syncs >= 1);
	assert_true(io.syncs <= c.acked);
	storage_close(st);
	pthread_mutex_destroy(&io.mu);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ack_after_fsync),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
