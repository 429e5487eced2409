/* test_real.c: the storage on the real file system, in a temporary directory. */
/*
 * The storage on the real file system, in a temporary directory: rotation, snapshots,
 * reopening, a torn tail, a full disk, and concord-wal's verdicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *wal_tool; /* path of concord-wal, from argv */

struct fixture {
	char tmp[64];
	char dir[128];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/concord-storage-test-XXXXXX");
	if (mkdtemp(f->tmp) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/node1", f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct storage *open_dir(struct sio *io, const char *dir, struct storage_recovered *rec)
{
	struct storage_options o = th_options(64 << 10);
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage *st = NULL;
	int rv = storage_open(&st, io, dir, &o, rec, errmsg);
	if (rv != 0)
		print_message("open: %s\n", errmsg);
	assert_int_equal(rv, 0);
	return st;
}

/* Runs concord-wal with `args`; returns its exit status and leaves its output in out. */
static int run_tool(const char *args, char *out, size_t cap)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", wal_tool, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	char sink[4096];
	while (fread(sink, 1, sizeof(sink), p) > 0) /* drain: the tool must not see EPIPE */
		;
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void append_batch(struct storage *st, raft_index first, uint32_t n, raft_term term,
                         uint64_t *rng)
{
	struct raft_entry v[64];
	assert_true(n <= 64);
	for (uint32_t i = 0; i < n; i++)
		v[i] =
		    th_entry(first + i, term, (uint32_t)(first + i), (size_t)th_below(rng, 2048));
	assert_int_equal(storage_append(st, v, n), 0);
	th_entries_release(v, n);
}

static void test_real_disk(void **state)
{
	struct fixture *f = *state;
	struct sio *io = sio_posix();
	struct storage_recovered rec;
	struct storage *st = open_dir(io, f->dir, &rec);
	assert_true(rec.created);
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 3, .vote = 1};
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	uint64_t rng = 11;
	raft_index next = 1;
	while (next <= 2000) {
		uint32_t n = 1 + (uint32_t)th_below(&rng, 40);
		append_batch(st, next, n, 3, &rng);
		next += n;
		assert_int_equal(storage_sync(st), 0);
	}
	raft_index last = next - 1;
	assert_true(storage_closed_segments(st) > 10);
	struct raft_conf conf = th_conf3();
	assert_int_equal(storage_snapshot_put(st, 1500, 3, &conf, "real snapshot", 13, 0), 0);
	storage_close(st);

	st = open_dir(io, f->dir, &rec);
	assert_int_equal(rec.snapshot_index, 1500);
	assert_int_equal(rec.snapshot_index + rec.n_entries, last);
	for (uint32_t i = 0; i < rec.n_entries; i++) {
		uint32_t tag;
		assert_true(th_entry_check(&rec.entries[i], &tag));
		assert_int_equal(tag, (uint32_t)rec.entries[i].index);
	}
	assert_string_equal(rec.notes, "");
	assert_true(th_boot_ok(&rec));
	storage_recovered_release(&rec);
	append_batch(st, last + 1, 3, 3, &rng);
	assert_int_equal(storage_sync(st), 0);
	last += 3;
	storage_close(st);

	char out[8192];
	char args[256];
	snprintf(args, sizeof(args), "verify %s", f->dir);
	assert_int_equal(run_tool(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, ": ok:"));
	snprintf(args, sizeof(args), "dump %s", f->dir);
	assert_int_equal(run_tool(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "snapshot index 1500"));
}

/* Finds the open segment of dir and the end of its records. */
static void find_open_segment(const char *dir, char *path, size_t cap, uint64_t *end,
                              uint64_t *last_start)
{
	char wal[256];
	snprintf(wal, sizeof(wal), "%s/wal", dir);
	struct sio_names names;
	assert_int_equal(sio_list(sio_posix(), wal, &names), 0);
	path[0] = '\0';
	for (uint32_t i = 0; i < names.n; i++)
		if (strncmp(names.v[i], "open-", 5) == 0)
			snprintf(path, cap, "%s/%s", wal, names.v[i]);
	sio_names_free(&names);
	assert_true(path[0] != '\0');
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	uint64_t off = 8;
	*last_start = 0;
	for (;;) {
		uint32_t len = 0;
		assert_int_equal(pread(fd, &len, 4, (off_t)off), 4);
		if (len == 0)
			break;
		*last_start = off;
		off += 8 + len;
	}
	close(fd);
	*end = off;
}

static void test_real_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct sio *io = sio_posix();
	struct storage_recovered rec;
	struct storage *st = open_dir(io, f->dir, &rec);
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 1};
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	uint64_t rng = 5;
	append_batch(st, 1, 10, 1, &rng);
	struct raft_entry big = th_entry(11, 1, 11, 500);
	assert_int_equal(storage_append(st, &big, 1), 0);
	raft_buf_unref(big.buf);
	assert_int_equal(storage_sync(st), 0);
	storage_close(st);

	/* a crash in the middle of writing record 12: a prefix of a record lands after the
	 * last one (here: the first 40 bytes of a copy of record 11) */
	char path[512];
	uint64_t end, last_start;
	find_open_segment(f->dir, path, sizeof(path), &end, &last_start);
	int fd = open(path, O_RDWR);
	char torn[40];
	assert_int_equal(pread(fd, torn, sizeof(torn), (off_t)last_start), (ssize_t)sizeof(torn));
	assert_int_equal(pwrite(fd, torn, sizeof(torn), (off_t)end), (ssize_t)sizeof(torn));
	close(fd);

	char out[8192];
	char args[256];
	snprintf(args, sizeof(args), "verify %s", f->dir);
	assert_int_equal(run_tool(args, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "repairable"));
	assert_non_null(strstr(out, "torn write"));

	st = open_dir(io, f->dir, &rec);
	assert_int_equal(rec.n_entries, 11);
	assert_non_null(strstr(rec.notes, "torn write"));
	storage_recovered_release(&rec);
	storage_close(st);
	assert_int_equal(run_tool(args, out, sizeof(out)), 0);
	assert_null(strstr(out, "repairable"));

	/* damage in the middle of a closed segment: refused, with file and offset */
	char wal[256];
	snprintf(wal, sizeof(wal), "%s/wal", f->dir);
	struct sio_names names;
	assert_int_equal(sio_list(io, wal, &names), 0);
	char closed[512] = "";
	for (uint32_t i = 0; i < names.n; i++)
		if (strncmp(names.v[i], "open-", 5) != 0)
			snprintf(closed, sizeof(closed), "%s/%s", wal, names.v[i]);
	sio_names_free(&names);
	assert_true(closed[0] != '\0');
	fd = open(closed, O_RDWR);
	char byte;
	assert_int_equal(pread(fd, &byte, 1, 100), 1);
	byte ^= 4;
	assert_int_equal(pwrite(fd, &byte, 1, 100), 1);
	close(fd);
	assert_int_equal(run_tool(args, out, sizeof(out)), 1);
	assert_non_null(strstr(out, closed));
	assert_non_null(strstr(out, "offset"));
	struct storage_options o = th_options(64 << 10);
	char errmsg[STORAGE_ERRMSG_SIZE];
	assert_int_equal(storage_open(&st, io, f->dir, &o, &rec, errmsg), STORAGE_ECORRUPT);
	assert_non_null(strstr(errmsg, closed));
}

/* Offset of the record of entry `index` in an open segment whose first record is entry
 * `first` (walking the record headers). */
static uint64_t record_offset(const char *path, raft_index first, raft_index index)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	uint64_t off = 8;
	for (raft_index i = first; i < index; i++) {
		uint32_t len = 0;
		assert_int_equal(pread(fd, &len, 4, (off_t)off), 4);
		assert_true(len > 0);
		off += 8 + len;
	}
	close(fd);
	return off;
}

/* Entries 1..16 in the open segment; meta records (with the term change of the second
 * hard state) that 1..11 were durable. */
static void durable_workload(const char *dir, char *path, size_t cap)
{
	struct sio *io = sio_posix();
	struct storage_recovered rec;
	struct storage *st = open_dir(io, dir, &rec);
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 1};
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	uint64_t rng = 21;
	append_batch(st, 1, 11, 1, &rng);
	assert_int_equal(storage_sync(st), 0);
	hs.term = 2;
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	append_batch(st, 12, 5, 2, &rng);
	assert_int_equal(storage_sync(st), 0);
	storage_close(st);
	uint64_t end, last_start;
	find_open_segment(dir, path, cap, &end, &last_start);
}

/* Expects damage: refused on its own, `concord-wal verify` says 'damaged:' with `want`,
 * and a cluster member opens, keeping `kept` entries, catching up to at least 11. */
static void expect_damage(const char *dir, const char *want, uint32_t kept)
{
	char out[8192], args[256];
	snprintf(args, sizeof(args), "verify %s", dir);
	assert_int_equal(run_tool(args, out, sizeof(out)), 1);
	if (strstr(out, "damaged:") == NULL || strstr(out, want) == NULL)
		fail_msg("concord-wal: '%s'", out);
	struct storage_options o = th_options(64 << 10);
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage_recovered rec;
	struct storage *st = NULL;
	assert_int_equal(storage_open(&st, sio_posix(), dir, &o, &rec, errmsg), STORAGE_ECORRUPT);
	if (strstr(errmsg, want) == NULL || strstr(errmsg, "refusing to start") == NULL)
		fail_msg("open: '%s'", errmsg);
	assert_null(strstr(errmsg, "never acknowledged"));
	o.repair_from_peers = true;
	assert_int_equal(storage_open(&st, sio_posix(), dir, &o, &rec, errmsg), 0);
	assert_true(rec.catch_up);
	assert_true(rec.catch_up_to >= 11);
	assert_int_equal(rec.n_entries, kept);
	assert_non_null(strstr(rec.damage, want));
	storage_recovered_release(&rec);
	storage_close(st);
	/* still catching up after a restart: the target is kept in meta */
	assert_int_equal(storage_open(&st, sio_posix(), dir, &o, &rec, errmsg), 0);
	assert_true(rec.catch_up);
	assert_true(rec.catch_up_to >= 11);
	storage_recovered_release(&rec);
	storage_close(st);
}

/* The cases: the open segment cut at a record boundary (a shorter file), and its
 * last records zeroed (the file keeps its size): both lose entries meta says were durable;
 * neither is a torn tail. */
static void test_real_durable_cut(void **state)
{
	struct fixture *f = *state;
	char path[512];
	durable_workload(f->dir, path, sizeof(path));
	uint64_t at = record_offset(path, 1, 9);
	assert_int_equal(truncate(path, (off_t)at), 0);
	char want[64];
	snprintf(want, sizeof(want), "offset %" PRIu64 ": the file ends here", at);
	expect_damage(f->dir, want, 8);
}

static void test_real_durable_zeroed(void **state)
{
	struct fixture *f = *state;
	char path[512];
	durable_workload(f->dir, path, sizeof(path));
	uint64_t at = record_offset(path, 1, 9);
	uint64_t end = record_offset(path, 1, 17);
	int fd = open(path, O_RDWR);
	static const char zeros[65536];
	assert_true(end - at <= sizeof(zeros));
	assert_int_equal(pwrite(fd, zeros, end - at, (off_t)at), (ssize_t)(end - at));
	close(fd);
	char want[96];
	snprintf(want, sizeof(want), "offset %" PRIu64 ": the log ends at entry 8, but it reached",
	         at);
	expect_damage(f->dir, want, 8);
}

static void test_real_disk_full(void **state)
{
	struct fixture *f = *state;
	struct sio_faulty faulty;
	sio_faulty_init(&faulty, sio_posix());
	struct storage_recovered rec;
	struct storage *st = open_dir(&faulty.io, f->dir, &rec);
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 1};
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	uint64_t rng = 9;
	append_batch(st, 1, 5, 1, &rng);
	assert_int_equal(storage_sync(st), 0);
	sio_fault_set(&faulty.fault, SIO_OP_BIT(SIO_PWRITE), 0, -1, ENOSPC);
	struct raft_entry e = th_entry(6, 1, 0, 100);
	assert_int_equal(storage_append(st, &e, 1), STORAGE_ENOSPC);
	raft_buf_unref(e.buf);
	const char *msg = storage_errmsg(st);
	print_message("%s\n", msg);
	assert_non_null(strstr(msg, "disk full"));
	assert_non_null(strstr(msg, f->dir));
	assert_non_null(strstr(msg, "write at offset"));
	assert_int_equal(storage_sync(st), STORAGE_EFAILED);
	storage_close(st);
	st = open_dir(sio_posix(), f->dir, &rec);
	assert_int_equal(rec.n_entries, 5);
	storage_recovered_release(&rec);
	storage_close(st);
	/* A restart whose new segment does not fit: the message names the segment size,
	 * and no partly preallocated segment is left holding space. */
	sio_fault_set(&faulty.fault, SIO_OP_BIT(SIO_ALLOCATE), 0, -1, ENOSPC);
	struct storage_options o = th_options(1 << 20);
	char errmsg[STORAGE_ERRMSG_SIZE];
	assert_int_equal(storage_open(&st, &faulty.io, f->dir, &o, &rec, errmsg), STORAGE_ENOSPC);
	print_message("%s\n", errmsg);
	assert_non_null(strstr(errmsg, "disk full"));
	assert_non_null(strstr(errmsg, "1048576-byte segment"));
	char wal[256];
	snprintf(wal, sizeof(wal), "%s/wal", f->dir);
	struct sio_names names;
	assert_int_equal(sio_list(sio_posix(), wal, &names), 0);
	for (uint32_t i = 0; i < names.n; i++)
		assert_true(strncmp(names.v[i], "open-", 5) != 0);
	sio_names_free(&names);
	sio_fault_clear(&faulty.fault);
	st = open_dir(sio_posix(), f->dir, &rec);
	assert_int_equal(rec.n_entries, 5);
	storage_recovered_release(&rec);
	storage_close(st);
	sio_faulty_close(&faulty);
}

int main(int argc, char **argv)
{
	wal_tool = argc > 1 ? argv[1] : "concord-wal";
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_real_disk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_real_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_real_durable_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_real_durable_zeroed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_real_disk_full, setup, teardown),
	};
	return cmocka_run_group_tests_name("real", tests, NULL, NULL);
}
