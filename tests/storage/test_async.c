/* test_async.c: the group-commit layer on a libuv loop. */
/*
 * Concurrent appenders share syncs, completions arrive in order and only once durable,
 * hard state rides along, failures stop everything after them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "storage/async.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_APPENDERS 64

struct appender {
	struct storage_async_req req;
	struct bench_ctx *ctx;
	struct raft_entry entry;
	uint64_t seq;
	bool has_hs;
};

struct bench_ctx {
	uv_loop_t loop;
	struct storage_async *a;
	raft_index next;
	raft_term term;
	uint64_t submitted;
	uint64_t completed;
	uint64_t budget; /* submissions left */
	uint64_t ok;
	int first_error;
	uint64_t acked_last; /* highest index completed with status 0 */
	bool error_then_ok;  /* a success after a failure: forbidden */
	int hs_every;        /* every n-th submission raises the term */
	struct appender apps[MAX_APPENDERS];
	int n_apps;
	bool stopped;
	char errmsg[STORAGE_ERRMSG_SIZE];
};

static void submit(struct appender *ap);

static void on_stopped(void *arg)
{
	struct bench_ctx *c = arg;
	c->stopped = true;
}

static void on_done(struct storage_async_req *req, int status)
{
	struct appender *ap = req->data;
	struct bench_ctx *c = ap->ctx;
	/* completions arrive in submission order */
	assert_int_equal(ap->seq, c->completed);
	c->completed++;
	if (status == 0) {
		if (c->first_error != 0)
			c->error_then_ok = true;
		c->ok++;
		c->acked_last = ap->entry.index;
	} else if (c->first_error == 0) {
		c->first_error = status;
		snprintf(c->errmsg, sizeof(c->errmsg), "%s", storage_async_errmsg(c->a));
	}
	raft_buf_unref(ap->entry.buf);
	ap->entry.buf = NULL;
	if (c->budget > 0 && c->first_error == 0)
		submit(ap);
	else if (c->completed == c->submitted && !c->stopped)
		storage_async_stop(c->a, on_stopped, c);
}

static void submit(struct appender *ap)
{
	struct bench_ctx *c = ap->ctx;
	c->budget--;
	ap->seq = c->submitted++;
	struct raft_hard_state hs;
	ap->has_hs = c->hs_every > 0 && ap->seq % (uint64_t)c->hs_every == 0;
	if (ap->has_hs) {
		c->term++;
		hs.term = c->term;
		hs.vote = 1;
	}
	ap->entry = th_entry(c->next, c->term, (uint32_t)ap->seq, 64 + ap->seq % 200);
	c->next++;
	ap->req.data = ap;
	storage_async_write(c->a, &ap->req, ap->has_hs ? &hs : NULL, &ap->entry, 1, on_done);
}

static void run(struct bench_ctx *c, struct storage *st, int n_apps, uint64_t total)
{
	assert_int_equal(uv_loop_init(&c->loop), 0);
	assert_int_equal(storage_async_start(&c->a, &c->loop, st), 0);
	c->n_apps = n_apps;
	c->budget = total;
	for (int i = 0; i < n_apps && c->budget > 0; i++) {
		c->apps[i].ctx = c;
		submit(&c->apps[i]);
	}
	assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
	assert_true(c->stopped);
	assert_int_equal(uv_loop_close(&c->loop), 0);
}

struct tmpdir {
	char path[64];
	char dir[128];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmpdir_make(struct tmpdir *t)
{
	snprintf(t->path, sizeof(t->path), "/tmp/concord-async-test-XXXXXX");
	assert_non_null(mkdtemp(t->path));
	snprintf(t->dir, sizeof(t->dir), "%s/node1", t->path);
}

static void tmpdir_remove(struct tmpdir *t)
{
	nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct storage *open_io(struct sio *io, const char *dir, struct storage_recovered *rec)
{
	struct storage_options o = th_options(256 << 10);
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage *st = NULL;
	int rv = storage_open(&st, io, dir, &o, rec, errmsg);
	if (rv != 0)
		print_message("open: %s\n", errmsg);
	assert_int_equal(rv, 0);
	return st;
}

/* 64 appenders on the real disk: every batch durable and in order, far fewer fdatasyncs
 * than batches. */
static void test_group_commit(void **state)
{
	(void)state;
	struct tmpdir t;
	tmpdir_make(&t);
	struct sio_faulty counted;
	sio_faulty_init(&counted, sio_posix());
	struct storage_recovered rec;
	struct storage *st = open_io(&counted.io, t.dir, &rec);
	storage_recovered_release(&rec);
	static struct bench_ctx c;
	memset(&c, 0, sizeof(c));
	c.next = 1;
	c.hs_every = 500;
	run(&c, st, 64, 3000);
	assert_int_equal(c.completed, 3000);
	assert_int_equal(c.ok, 3000);
	uint64_t syncs = counted.fault.calls_by_op[SIO_FDATASYNC];
	print_message("3000 batches from 64 appenders: %" PRIu64 " fdatasyncs\n", syncs);
	assert_true(syncs < 3000 / 4);
	storage_close(st);
	st = open_io(sio_posix(), t.dir, &rec);
	assert_int_equal(rec.n_entries, 3000);
	assert_int_equal(rec.hard_state.term, c.term);
	for (uint32_t i = 0; i < rec.n_entries; i++) {
		uint32_t tag;
		assert_true(th_entry_check(&rec.entries[i], &tag));
		assert_int_equal(tag, i); /* entry i + 1 was submission i */
	}
	assert_true(th_boot_ok(&rec));
	storage_recovered_release(&rec);
	storage_close(st);
	sio_faulty_close(&counted);
	tmpdir_remove(&t);
}

/* A failed fdatasync: that batch and every later one fail, none after it succeeds, and
 * the message names the file and the call. What was acknowledged is on disk. */
static void test_sync_failure_stops(void **state)
{
	(void)state;
	for (int64_t countdown = 0; countdown < 12; countdown += 3) {
		struct crashfs *fs = crashfs_new((uint64_t)countdown);
		struct storage_recovered rec;
		struct storage *st = open_io(crashfs_io(fs), "n1", &rec);
		storage_recovered_release(&rec);
		sio_fault_set(crashfs_fault(fs), SIO_OP_BIT(SIO_FDATASYNC), countdown, -1, EIO);
		static struct bench_ctx c;
		memset(&c, 0, sizeof(c));
		c.next = 1;
		c.hs_every = 100;
		run(&c, st, 16, 400);
		assert_false(c.error_then_ok);
		assert_int_equal(c.completed, c.submitted);
		if (crashfs_fault(fs)->failed == 0) {
			/* fewer syncs than the countdown: nothing may have failed */
			assert_int_equal(c.ok, c.submitted);
			storage_close(st);
			crashfs_free(fs);
			continue;
		}
		assert_true(c.first_error == STORAGE_EIO || c.first_error == STORAGE_EFAILED);
		assert_int_equal(c.completed, c.submitted);
		assert_true(c.ok < c.submitted);
		assert_non_null(strstr(c.errmsg, "fdatasync"));
		assert_non_null(strstr(c.errmsg, "n1/wal/open-"));
		storage_close(st);
		sio_fault_clear(crashfs_fault(fs));
		crashfs_crash(fs, CRASHFS_LOSE);
		st = open_io(crashfs_io(fs), "n1", &rec);
		assert_true(rec.n_entries >= c.acked_last);
		storage_recovered_release(&rec);
		storage_close(st);
		crashfs_free(fs);
	}
}

struct seq_req {
	struct storage_async_req req;
	struct raft_entry entry;
	int *done;
	struct storage_async *a;
	int total;
	int status;
};

static void on_seq_done(struct storage_async_req *req, int status)
{
	struct seq_req *r = req->data;
	r->status = status;
	(*r->done)++;
	raft_buf_unref(r->entry.buf);
	r->entry.buf = NULL;
	if (*r->done == r->total)
		storage_async_stop(r->a, NULL, NULL);
}

/* A snapshot queued between writes is taken in order with them. */
static void test_snapshot_in_order(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(1);
	struct storage_recovered rec;
	struct storage *st = open_io(crashfs_io(fs), "n1", &rec);
	storage_recovered_release(&rec);
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct storage_async *a;
	assert_int_equal(storage_async_start(&a, &loop, st), 0);
	static struct seq_req reqs[21];
	int done = 0;
	struct raft_hard_state hs = {.term = 1};
	struct raft_conf conf = th_conf3();
	for (int i = 0; i < 21; i++) {
		reqs[i].req.data = &reqs[i];
		reqs[i].done = &done;
		reqs[i].a = a;
		reqs[i].total = 21;
		reqs[i].status = -1;
		if (i == 10) {
			storage_async_snapshot(a, &reqs[i].req, 5, 1, &conf, "five", 4, 0,
			                       on_seq_done);
			continue;
		}
		raft_index index = (raft_index)(i < 10 ? i + 1 : i);
		reqs[i].entry = th_entry(index, 1, (uint32_t)i, 100);
		storage_async_write(a, &reqs[i].req, i == 0 ? &hs : NULL, &reqs[i].entry, 1,
		                    on_seq_done);
	}
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (int i = 0; i < 21; i++)
		assert_int_equal(reqs[i].status, 0);
	storage_close(st);
	st = open_io(crashfs_io(fs), "n1", &rec);
	assert_int_equal(rec.snapshot_index, 5);
	assert_int_equal(rec.snapshot_index + rec.n_entries, 20);
	storage_recovered_release(&rec);
	storage_close(st);
	crashfs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_commit),
	    cmocka_unit_test(test_sync_failure_stops),
	    cmocka_unit_test(test_snapshot_in_order),
	};
	return cmocka_run_group_tests_name("async", tests, NULL, NULL);
}
