/* test_storage.c: the storage API on the crash file system. */
/*
 * The storage API on the crash file system: creation, reopening, hard state, validation,
 * segment rotation, suffix truncation, snapshots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "node1"

struct fixture {
	struct crashfs *fs;
	struct sio *io;
	struct storage *st;
	struct storage_recovered rec;
	uint64_t segment;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->fs = crashfs_new(1);
	f->io = crashfs_io(f->fs);
	f->segment = 4096;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	storage_close(f->st);
	storage_recovered_release(&f->rec);
	crashfs_free(f->fs);
	free(f);
	return 0;
}

static int reopen(struct fixture *f)
{
	storage_close(f->st);
	f->st = NULL;
	storage_recovered_release(&f->rec);
	struct storage_options o = th_options(f->segment);
	char errmsg[STORAGE_ERRMSG_SIZE];
	int rv = storage_open(&f->st, f->io, DIR, &o, &f->rec, errmsg);
	if (rv != 0)
		print_message("open: %s\n", errmsg);
	return rv;
}

/* Appends entries first..last of `term` with payload sizes from `len`. */
static void append_range(struct fixture *f, raft_index first, raft_index last, raft_term term,
                         uint32_t tag, size_t len)
{
	uint32_t n = (uint32_t)(last - first + 1);
	struct raft_entry *v = calloc(n, sizeof(*v));
	for (uint32_t i = 0; i < n; i++)
		v[i] = th_entry(first + i, term, tag, len);
	int rv = storage_append(f->st, v, n);
	if (rv != 0)
		print_message("append: %s\n", storage_errmsg(f->st));
	assert_int_equal(rv, 0);
	th_entries_release(v, n);
	free(v);
}

static void set_term(struct fixture *f, raft_term term, raft_id vote)
{
	struct raft_hard_state hs = {.term = term, .vote = vote};
	assert_int_equal(storage_set_hard_state(f->st, &hs), 0);
}

/* The recovered log holds first..last with these (term, tag) runs. */
static void expect_entry(struct fixture *f, raft_index index, raft_term term, uint32_t tag)
{
	assert_true(index > f->rec.snapshot_index);
	uint64_t i = index - f->rec.snapshot_index - 1;
	assert_true(i < f->rec.n_entries);
	const struct raft_entry *e = &f->rec.entries[i];
	assert_int_equal(e->index, index);
	assert_int_equal(e->term, term);
	uint32_t got;
	assert_true(th_entry_check(e, &got));
	assert_int_equal(got, tag);
}

static void test_create_and_reopen(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	assert_true(f->rec.created);
	assert_int_equal(f->rec.n_entries, 0);
	assert_int_equal(f->rec.conf.n_voters, 3);
	assert_int_equal(f->rec.cluster_id, 7);
	assert_int_equal(f->rec.node_id, 1);
	assert_true(th_boot_ok(&f->rec));
	set_term(f, 1, 1);
	append_range(f, 1, 10, 1, 0, 50);
	assert_int_equal(storage_sync(f->st), 0);
	set_term(f, 2, 0);
	append_range(f, 11, 12, 2, 0, 0);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_false(f->rec.created);
	assert_int_equal(f->rec.hard_state.term, 2);
	assert_int_equal(f->rec.hard_state.vote, 0);
	assert_int_equal(f->rec.n_entries, 12);
	for (raft_index i = 1; i <= 10; i++)
		expect_entry(f, i, 1, 0);
	expect_entry(f, 12, 2, 0);
	assert_string_equal(f->rec.notes, "");
	assert_true(th_boot_ok(&f->rec));
	/* again: each open closes the previous open segment and starts a new one */
	append_range(f, 13, 13, 2, 0, 30);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.n_entries, 13);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.n_entries, 13);
}

static void test_identity_checked(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	storage_close(f->st);
	f->st = NULL;
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage_recovered rec;
	struct storage_options o = th_options(f->segment);
	o.node_id = 2;
	assert_int_equal(storage_open(&f->st, f->io, DIR, &o, &rec, errmsg), STORAGE_EMISMATCH);
	assert_non_null(strstr(errmsg, "node 1"));
	o = th_options(f->segment);
	o.cluster_id = 8;
	assert_int_equal(storage_open(&f->st, f->io, DIR, &o, &rec, errmsg), STORAGE_EMISMATCH);
	o = th_options(f->segment);
	o.create = false;
	assert_int_equal(storage_open(&f->st, f->io, "other", &o, &rec, errmsg), STORAGE_ENOENT);
	assert_null(f->st);
}

static void test_validation(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	struct raft_entry e = th_entry(1, 1, 0, 10);
	/* term above the durable hard state */
	assert_int_equal(storage_append(f->st, &e, 1), STORAGE_EINVAL);
	set_term(f, 3, 2);
	struct raft_hard_state hs = {.term = 2, .vote = 0};
	assert_int_equal(storage_set_hard_state(f->st, &hs), STORAGE_EINVAL);
	hs.term = 3;
	hs.vote = 3;
	assert_int_equal(storage_set_hard_state(f->st, &hs), STORAGE_EINVAL);
	/* a gap */
	e.index = 2;
	assert_int_equal(storage_append(f->st, &e, 1), STORAGE_EINVAL);
	e.index = 1;
	assert_int_equal(storage_append(f->st, &e, 1), 0);
	/* terms may not go down */
	struct raft_entry e2 = th_entry(2, 0, 0, 10);
	assert_int_equal(storage_append(f->st, &e2, 1), STORAGE_EINVAL);
	/* refusals are not failures */
	assert_int_equal(storage_failed(f->st), 0);
	assert_int_equal(storage_sync(f->st), 0);
	raft_buf_unref(e.buf);
	raft_buf_unref(e2.buf);
}

static void test_rotation(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	set_term(f, 1, 0);
	raft_index next = 1;
	for (int batch = 0; batch < 30; batch++) {
		raft_index last = next + (raft_index)(batch % 7);
		append_range(f, next, last, 1, (uint32_t)batch, 100 + (size_t)batch * 3);
		next = last + 1;
		if (batch % 3 == 0)
			assert_int_equal(storage_sync(f->st), 0);
	}
	/* one entry larger than a segment gets a segment of its own */
	append_range(f, next, next, 1, 99, 10000);
	next++;
	append_range(f, next, next + 2, 1, 98, 10);
	next += 3;
	assert_int_equal(storage_sync(f->st), 0);
	assert_true(storage_closed_segments(f->st) > 5);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.n_entries, next - 1);
	assert_int_equal(f->rec.entries[next - 5].index, next - 4);
	assert_int_equal(raft_entry_len(&f->rec.entries[next - 5]), 10000);
	for (raft_index i = 1; i < next; i++) {
		uint32_t tag;
		assert_true(th_entry_check(&f->rec.entries[i - 1], &tag));
	}
	char names[64][SIO_NAME_MAX + 1];
	int n = th_list(f->fs, DIR "/wal", names, 64);
	assert_true(n > 5);
	int open = 0;
	for (int i = 0; i < n; i++)
		open += strncmp(names[i], "open-", 5) == 0;
	assert_int_equal(open, 1);
}

static void test_truncate_in_open_segment(void **state)
{
	struct fixture *f = *state;
	f->segment = 1 << 20;
	assert_int_equal(reopen(f), 0);
	set_term(f, 1, 0);
	append_range(f, 1, 10, 1, 0, 40);
	assert_int_equal(storage_sync(f->st), 0);
	set_term(f, 2, 0);
	append_range(f, 6, 8, 2, 1, 60);
	assert_int_equal(storage_last_index(f->st), 8);
	assert_int_equal(storage_sync(f->st), 0);
	/* truncating the whole open segment, unsynced, then more */
	append_range(f, 1, 2, 2, 2, 10);
	append_range(f, 3, 3, 2, 3, 10);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.n_entries, 3);
	expect_entry(f, 1, 2, 2);
	expect_entry(f, 3, 2, 3);
	/* now within a fresh segment after reopen */
	append_range(f, 4, 9, 2, 4, 10);
	append_range(f, 5, 5, 2, 5, 10);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.n_entries, 5);
	expect_entry(f, 4, 2, 4);
	expect_entry(f, 5, 2, 5);
}

static void test_truncate_across_segments(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	set_term(f, 1, 0);
	append_range(f, 1, 200, 1, 0, 100);
	assert_int_equal(storage_sync(f->st), 0);
	uint32_t before = storage_closed_segments(f->st);
	assert_true(before > 4);
	set_term(f, 2, 0);
	/* into the middle of an early closed segment */
	append_range(f, 30, 31, 2, 1, 100);
	assert_true(storage_closed_segments(f->st) < before);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.n_entries, 31);
	expect_entry(f, 29, 1, 0);
	expect_entry(f, 30, 2, 1);
	expect_entry(f, 31, 2, 1);
	assert_string_equal(f->rec.notes, "");
	/* exactly at a segment boundary: the first index of a closed segment */
	append_range(f, 32, 120, 2, 2, 100);
	assert_int_equal(storage_sync(f->st), 0);
	char names[64][SIO_NAME_MAX + 1];
	int n = th_list(f->fs, DIR "/wal", names, 64);
	raft_index boundary = 0;
	for (int i = 0; i < n; i++) {
		unsigned long long a, b;
		if (sscanf(names[i], "%llu-%llu", &a, &b) == 2 && a > 40 && a < 100)
			boundary = a;
	}
	assert_true(boundary > 0);
	set_term(f, 3, 0);
	append_range(f, boundary, boundary, 3, 3, 100);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.n_entries, boundary);
	expect_entry(f, boundary - 1, 2, 2);
	expect_entry(f, boundary, 3, 3);
	assert_true(th_boot_ok(&f->rec));
}

static void test_snapshot_compacts(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	set_term(f, 1, 0);
	append_range(f, 1, 100, 1, 0, 100);
	set_term(f, 2, 0);
	append_range(f, 101, 150, 2, 0, 100);
	assert_int_equal(storage_sync(f->st), 0);
	uint32_t before = storage_closed_segments(f->st);
	struct raft_conf conf = th_conf3();
	conf.n_learners = 1;
	conf.learners[0] = 4;
	const char data[] = "state machine at 120";
	/* the term must be the log's at that index */
	assert_int_equal(storage_snapshot_put(f->st, 120, 1, &conf, data, sizeof(data), 0),
	                 STORAGE_EINVAL);
	assert_int_equal(storage_snapshot_put(f->st, 120, 2, &conf, data, sizeof(data), 0), 0);
	assert_true(storage_closed_segments(f->st) < before);
	assert_int_equal(storage_snapshot_put(f->st, 110, 2, &conf, data, sizeof(data), 0),
	                 STORAGE_EINVAL);
	append_range(f, 151, 152, 2, 1, 10);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.snapshot_index, 120);
	assert_int_equal(f->rec.snapshot_term, 2);
	assert_int_equal(f->rec.conf.n_learners, 1);
	assert_non_null(f->rec.snapshot_data);
	assert_int_equal(f->rec.snapshot_data->len, sizeof(data));
	assert_memory_equal(f->rec.snapshot_data->data, data, sizeof(data));
	assert_int_equal(f->rec.n_entries, 32);
	expect_entry(f, 121, 2, 0);
	expect_entry(f, 152, 2, 1);
	assert_true(th_boot_ok(&f->rec));
	/* a second snapshot replaces the first */
	assert_int_equal(storage_snapshot_put(f->st, 150, 2, &conf, "x", 1, 0), 0);
	char names[8][SIO_NAME_MAX + 1];
	assert_int_equal(th_list(f->fs, DIR "/snap", names, 8), 1);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.snapshot_index, 150);
	assert_int_equal(f->rec.n_entries, 2);
}

static void test_snapshot_discards_log(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	set_term(f, 1, 0);
	append_range(f, 1, 80, 1, 0, 100);
	assert_int_equal(storage_sync(f->st), 0);
	set_term(f, 4, 2);
	struct raft_conf conf = th_conf3();
	assert_int_equal(
	    storage_snapshot_put(f->st, 500, 3, &conf, "leader's", 8, STORAGE_SNAPSHOT_DISCARD_LOG),
	    0);
	assert_int_equal(storage_last_index(f->st), 500);
	assert_int_equal(storage_closed_segments(f->st), 0);
	append_range(f, 501, 503, 4, 1, 10);
	assert_int_equal(storage_sync(f->st), 0);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.snapshot_index, 500);
	assert_int_equal(f->rec.snapshot_term, 3);
	assert_int_equal(f->rec.n_entries, 3);
	expect_entry(f, 501, 4, 1);
	assert_int_equal(f->rec.hard_state.vote, 2);
	assert_true(th_boot_ok(&f->rec));
}

static void test_persist_ready(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(reopen(f), 0);
	struct raft_entry v[2] = {th_entry(1, 5, 0, 20), th_entry(2, 5, 0, 20)};
	struct raft_ready rd = {.seq = 1,
	                        .has_hard_state = true,
	                        .hard_state = {.term = 5, .vote = 1},
	                        .entries = v,
	                        .n_entries = 2};
	assert_int_equal(storage_persist_ready(f->st, &rd), 0);
	th_entries_release(v, 2);
	assert_int_equal(reopen(f), 0);
	assert_int_equal(f->rec.hard_state.term, 5);
	assert_int_equal(f->rec.n_entries, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncate_in_open_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncate_across_segments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_compacts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_discards_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persist_ready, setup, teardown),
	};
	return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
