/* test_faults.c: ENOSPC and EIO on writes and syncs: fail-stop, clear messages, no lost acks. */
/*
 * ENOSPC and EIO on writes and syncs: the storage stops (fail-stop), names file,
 * operation and errno, acknowledges nothing it did not make durable, and the disk
 * recovers to everything acknowledged before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "n1"

struct fault_case {
	uint32_t ops;
	int err;
	const char *op_text; /* what the message must name */
};

static const struct fault_case cases[] = {
    {SIO_OP_BIT(SIO_PWRITE), ENOSPC, "write"},
    {SIO_OP_BIT(SIO_PWRITE), EIO, "write"},
    {SIO_OP_BIT(SIO_FDATASYNC), ENOSPC, "fdatasync"},
    {SIO_OP_BIT(SIO_FDATASYNC), EIO, "fdatasync"},
    {SIO_OP_BIT(SIO_FSYNC), EIO, "fsync"},
    {SIO_OP_BIT(SIO_ALLOCATE), ENOSPC, "fallocate"},
    {SIO_OP_BIT(SIO_SYNC_DIR), EIO, "fsync of directory"},
    {SIO_OP_BIT(SIO_RENAME), EIO, "rename"},
};

static struct storage *open_fs(struct crashfs *fs, struct storage_recovered *rec)
{
	struct storage_options o = th_options(4096);
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage *st = NULL;
	int rv = storage_open(&st, crashfs_io(fs), DIR, &o, rec, errmsg);
	if (rv != 0)
		print_message("open: %s\n", errmsg);
	assert_int_equal(rv, 0);
	return st;
}

/* The workload: batches of entries, each synced, with hard-state changes and rotations.
 * Stops at the first error and returns the index acknowledged durable. */
static raft_index workload(struct storage *st, int *err, raft_term *acked_term)
{
	raft_index acked = 0;
	raft_index next = 1;
	*err = 0;
	for (raft_term term = 1; term <= 6; term++) {
		struct raft_hard_state hs = {.term = term, .vote = term % 3};
		int rv = storage_set_hard_state(st, &hs);
		if (rv != 0) {
			*err = rv;
			return acked;
		}
		*acked_term = term;
		for (int b = 0; b < 5; b++) {
			struct raft_entry v[4];
			for (int i = 0; i < 4; i++)
				v[i] = th_entry(next + (raft_index)i, term, (uint32_t)b, 200);
			rv = storage_append(st, v, 4);
			th_entries_release(v, 4);
			if (rv == 0)
				rv = storage_sync(st);
			if (rv != 0) {
				*err = rv;
				return acked;
			}
			next += 4;
			acked = next - 1;
		}
	}
	return acked;
}

/* For each fault and each position of the failing call in the workload: the failing
 * call's error surfaces, the storage refuses everything after it, and after a crash the
 * disk holds every acknowledged entry and hard state. */
static void test_fail_stop_everywhere(void **state)
{
	(void)state;
	int runs = 0;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int64_t countdown = 0;; countdown++) {
			struct crashfs *fs = crashfs_new((uint64_t)countdown);
			struct storage_recovered rec;
			struct storage *st = open_fs(fs, &rec);
			storage_recovered_release(&rec);
			sio_fault_set(crashfs_fault(fs), cases[c].ops, countdown, 1, cases[c].err);
			int err;
			raft_term acked_term = 0;
			raft_index acked = workload(st, &err, &acked_term);
			bool fired = crashfs_fault(fs)->failed > 0;
			if (!fired) {
				assert_int_equal(err, 0);
				storage_close(st);
				crashfs_free(fs);
				break;
			}
			runs++;
			/* fail-stop, with the message a person needs */
			int want = cases[c].err == ENOSPC ? STORAGE_ENOSPC : STORAGE_EIO;
			assert_int_equal(err, want);
			assert_int_equal(storage_failed(st), want);
			const char *msg = storage_errmsg(st);
			assert_non_null(strstr(msg, DIR));
			assert_non_null(strstr(msg, cases[c].op_text));
			if (cases[c].err == ENOSPC)
				assert_non_null(strstr(msg, "disk full"));
			else
				assert_non_null(strstr(msg, "EIO"));
			/* nothing works any more, even though the fault is gone */
			struct raft_entry e = th_entry(acked + 1, acked_term, 0, 10);
			assert_int_equal(storage_append(st, &e, 1), STORAGE_EFAILED);
			assert_int_equal(storage_sync(st), STORAGE_EFAILED);
			struct raft_hard_state hs = {.term = 99};
			assert_int_equal(storage_set_hard_state(st, &hs), STORAGE_EFAILED);
			raft_buf_unref(e.buf);
			assert_string_equal(storage_errmsg(st), msg); /* the first error stays */
			storage_close(st);
			/* the disk keeps what was acknowledged */
			crashfs_crash(fs, CRASHFS_LOSE);
			st = open_fs(fs, &rec);
			assert_true(rec.snapshot_index + rec.n_entries >= acked);
			assert_true(rec.hard_state.term >= acked_term);
			for (uint32_t i = 0; i < rec.n_entries; i++) {
				uint32_t tag;
				assert_true(th_entry_check(&rec.entries[i], &tag));
			}
			assert_true(th_boot_ok(&rec));
			storage_recovered_release(&rec);
			storage_close(st);
			crashfs_free(fs);
		}
	}
	print_message("%d failing runs\n", runs);
}

/* A failed snapshot write stops the storage too, and leaves the old state intact. */
static void test_snapshot_write_fails(void **state)
{
	(void)state;
	for (int64_t countdown = 0; countdown < 2; countdown++) { /* the write, the fsync */
		struct crashfs *fs = crashfs_new(5);
		struct storage_recovered rec;
		struct storage *st = open_fs(fs, &rec);
		storage_recovered_release(&rec);
		int err;
		raft_term term;
		raft_index acked = workload(st, &err, &term);
		assert_int_equal(err, 0);
		sio_fault_set(crashfs_fault(fs), SIO_OP_BIT(SIO_PWRITE) | SIO_OP_BIT(SIO_FSYNC),
		              countdown, 1, ENOSPC);
		struct raft_conf conf = th_conf3();
		int rv = storage_snapshot_put(st, acked - 5, term, &conf, "abc", 3, 0);
		assert_int_equal(rv, STORAGE_ENOSPC);
		assert_non_null(strstr(storage_errmsg(st), "snap"));
		assert_non_null(strstr(storage_errmsg(st), "disk full"));
		storage_close(st);
		crashfs_crash(fs, CRASHFS_TEAR);
		st = open_fs(fs, &rec);
		assert_int_equal(rec.snapshot_index, 0);
		assert_int_equal(rec.n_entries, acked);
		storage_recovered_release(&rec);
		storage_close(st);
		crashfs_free(fs);
	}
}

/* A meta replacement whose directory fsync fails leaves the new meta in the page cache
 * only. After a process crash the node reopens and sees it; it must not rely on it until
 * it is durable, or a later power loss takes back the term it voted in. Recovery syncs
 * what it read (found by the simulator, seed 8139, 5 nodes). */
static void test_recovered_state_made_durable(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(7);
	struct storage_recovered rec;
	struct storage *st = open_fs(fs, &rec);
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 1, .vote = 1};
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	sio_fault_set(crashfs_fault(fs), SIO_OP_BIT(SIO_SYNC_DIR), 0, 1, ENOSPC);
	hs.term = 3;
	hs.vote = 2;
	assert_int_not_equal(storage_set_hard_state(st, &hs), 0);
	storage_close(st);
	crashfs_crash(fs, CRASHFS_PROCESS); /* the page cache survives */
	sio_fault_clear(crashfs_fault(fs));
	st = open_fs(fs, &rec);
	raft_term seen = rec.hard_state.term;
	storage_recovered_release(&rec);
	storage_close(st);
	crashfs_crash(fs, CRASHFS_LOSE); /* now the power goes */
	st = open_fs(fs, &rec);
	/* Whatever the reopen saw (the new term, or the old one) is what survives. */
	assert_int_equal(rec.hard_state.term, seen);
	storage_recovered_release(&rec);
	storage_close(st);
	crashfs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recovered_state_made_durable),
	    cmocka_unit_test(test_fail_stop_everywhere),
	    cmocka_unit_test(test_snapshot_write_fails),
	};
	return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
