/* test_snap_stream.c: snapshot files written as a stream (snap_write_stream) and moved into the
 * storage (storage_snapshot_job_prepare_file), on the crash file system.
 */
/*
 * A streamed file reserves its head before the data is known and pads the meta to fill
 * it: every (size, checksum) pair must encode to exactly the reserved bytes and decode
 * back. The file must read back with snap_read, byte for byte, as snap_write's does; a
 * producer that gives up leaves nothing behind; and a file moved in by the storage is the
 * snapshot recovery loads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "storage/snap.h"
#include "storage/util.h"

#include <stdlib.h>
#include <string.h>

#define DIR "node1"

static struct proto_snapshot_meta meta_of(raft_index index, raft_term term)
{
	struct proto_snapshot_meta m = {.index = index, .term = term, .conf = th_conf3()};
	return m;
}

/* Every size and checksum, the varint boundaries and random ones, fills the head exactly. */
static void test_head_exact(void **state)
{
	(void)state;
	uint64_t seed = 7;
	uint8_t head[SNAP_HEADER_BYTES + SNAP_META_MAX_BYTES];
	const uint64_t edges[] = {1,       127,     128,       16383,     16384,
	                          2097151, 2097152, 268435455, 268435456, SNAP_DATA_MAX_BYTES};
	for (int i = 0; i < 200000; i++) {
		struct proto_snapshot_meta m =
		    meta_of(1 + th_below(&seed, UINT32_MAX), 1 + th_below(&seed, 1000));
		size_t want = snap_stream_head_bytes(&m);
		m.data_size_bytes = i < 10 ? edges[i] : 1 + th_below(&seed, SNAP_DATA_MAX_BYTES);
		m.data_crc32c = i % 7 == 0 ? 0 : (uint32_t)th_rand(&seed);
		assert_true(snap_head_encode(m, want, head));
		assert_int_equal(get_u32(head), SNAP_MAGIC);
		uint32_t n = get_u32(head + 4);
		assert_int_equal(SNAP_HEADER_BYTES + n, want);
		assert_int_equal(get_u32(head + 8), snap_header_crc(n, head + SNAP_HEADER_BYTES));
		struct proto_snapshot_meta got;
		assert_int_equal(proto_snapshot_meta_decode(head + SNAP_HEADER_BYTES, n, &got), 0);
		assert_int_equal(got.index, m.index);
		assert_int_equal(got.term, m.term);
		assert_int_equal(got.data_size_bytes, m.data_size_bytes);
		assert_int_equal(got.data_crc32c, m.data_crc32c);
		assert_int_equal(got.conf.n_voters, 3);
	}
}

/* A producer of `len` bytes (a pattern of the offset) in pieces of random sizes, that
 * gives up after `fail_after` bytes if that is below len. */
struct producer {
	size_t len;
	size_t fail_after;
	uint64_t seed;
};

static uint8_t pattern(size_t off)
{
	return (uint8_t)(off * 131 + (off >> 9));
}

static int produce(const void *arg, snap_write_fn write, void *warg)
{
	const struct producer *p = arg;
	uint64_t seed = p->seed;
	static uint8_t piece[70000];
	size_t off = 0;
	while (off < p->len) {
		size_t n = 1 + th_below(&seed, sizeof(piece));
		if (n > p->len - off)
			n = p->len - off;
		if (off + n > p->fail_after)
			return -1;
		for (size_t i = 0; i < n; i++)
			piece[i] = pattern(off + i);
		if (write(warg, piece, n) != 0)
			return -1;
		off += n;
	}
	return 0;
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(1);
	struct sio *io = crashfs_io(fs);
	assert_int_equal(sio_mkdir(io, "job"), 0);
	const size_t sizes[] = {
	    1, 127, 128, 5000, (size_t)1 << 20, ((size_t)1 << 20) + 1, 3 * ((size_t)1 << 20) + 17};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct producer p = {.len = sizes[i], .fail_after = SIZE_MAX, .seed = i + 1};
		struct proto_snapshot_meta m = meta_of(100 + i, 3);
		struct snap_name sn = {.index = m.index, .term = m.term};
		char err[STORAGE_ERRMSG_SIZE];
		assert_int_equal(snap_write_stream(io, "job", &sn, &m, produce, &p, err), 0);
		char name[SIO_NAME_MAX + 1], path[SIO_PATH_MAX];
		snap_name_format(name, m.index, m.term, false);
		path_join(path, "job", name);
		struct proto_snapshot_meta got;
		struct raft_buf *data = NULL;
		assert_int_equal(snap_read(io, path, &sn, &got, &data, err), 0);
		assert_non_null(data);
		assert_int_equal(data->len, sizes[i]);
		for (size_t k = 0; k < sizes[i]; k++)
			if (data->data[k] != pattern(k))
				fail_msg("byte %zu of %zu differs", k, sizes[i]);
		assert_int_equal(got.conf.n_voters, 3);
		raft_buf_unref(data);
	}
	/* Only the final names are left: no temporary file. */
	char names[16][SIO_NAME_MAX + 1];
	assert_int_equal(th_list(fs, "job", names, 16), 7);
	crashfs_free(fs);
}

static void test_producer_fails(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(1);
	struct sio *io = crashfs_io(fs);
	assert_int_equal(sio_mkdir(io, "job"), 0);
	struct producer p = {.len = 3 << 20, .fail_after = 2 << 20, .seed = 9};
	struct proto_snapshot_meta m = meta_of(5, 1);
	struct snap_name sn = {.index = 5, .term = 1, .child = true};
	char err[STORAGE_ERRMSG_SIZE];
	assert_int_not_equal(snap_write_stream(io, "job", &sn, &m, produce, &p, err), 0);
	assert_non_null(strstr(err, "producer"));
	char names[4][SIO_NAME_MAX + 1];
	assert_int_equal(th_list(fs, "job", names, 4), 0);
	crashfs_free(fs);
}

/* A streamed file moved in by the storage compacts the log and is what recovery loads. */
static void test_moved_in(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(1);
	struct sio *io = crashfs_io(fs);
	struct storage_options o = th_options(4096);
	struct storage *st = NULL;
	struct storage_recovered rec;
	char err[STORAGE_ERRMSG_SIZE];
	assert_int_equal(storage_open(&st, io, DIR, &o, &rec, err), 0);
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 1};
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	struct raft_entry v[200];
	for (uint32_t i = 0; i < 200; i++)
		v[i] = th_entry(i + 1, 1, 0, 100);
	assert_int_equal(storage_append(st, v, 200), 0);
	th_entries_release(v, 200);
	assert_int_equal(storage_sync(st), 0);

	/* As a node's child writes it: DIR/snap/snapshot-...child. */
	struct producer p = {.len = 100000, .fail_after = SIZE_MAX, .seed = 3};
	struct proto_snapshot_meta m = meta_of(150, 1);
	struct snap_name sn = {.index = 150, .term = 1, .child = true};
	assert_int_equal(snap_write_stream(io, DIR "/snap", &sn, &m, produce, &p, err), 0);
	char name[SIO_NAME_MAX + 1], path[SIO_PATH_MAX];
	snap_name_format_as(name, &sn);
	path_join(path, DIR "/snap", name);
	/* A second child's file, never taken: recovery removes it. */
	struct snap_name left = {.index = 160, .term = 1, .child = true};
	struct proto_snapshot_meta m2 = meta_of(160, 1);
	assert_int_equal(snap_write_stream(io, DIR "/snap", &left, &m2, produce, &p, err), 0);
	struct storage_snapshot_job j;
	/* The log must hold the snapshot's entry with its term. */
	assert_int_equal(storage_snapshot_job_prepare_file(st, &j, 150, 2, &m.conf, p.len, path),
	                 STORAGE_EINVAL);
	assert_int_equal(storage_snapshot_job_prepare_file(st, &j, 150, 1, &m.conf, p.len, path),
	                 0);
	int rv = storage_snapshot_job_run(&j, err);
	if (rv != 0)
		print_message("run: %s\n", err);
	rv = storage_snapshot_job_finish(st, &j, rv, err);
	if (rv != 0)
		print_message("finish: %s\n", storage_errmsg(st));
	assert_int_equal(rv, 0);
	char names[4][SIO_NAME_MAX + 1];
	assert_int_equal(th_list(fs, DIR "/snap", names, 4), 2);
	storage_close(st);

	assert_int_equal(storage_open(&st, io, DIR, &o, &rec, err), 0);
	assert_int_equal(rec.snapshot_index, 150);
	assert_int_equal(rec.snapshot_term, 1);
	assert_non_null(rec.snapshot_data);
	assert_int_equal(rec.snapshot_data->len, p.len);
	for (size_t k = 0; k < p.len; k++)
		if (rec.snapshot_data->data[k] != pattern(k))
			fail_msg("byte %zu differs", k);
	assert_true(th_boot_ok(&rec));
	assert_int_equal(th_list(fs, DIR "/snap", names, 4), 1);
	char final[SIO_NAME_MAX + 1];
	snap_name_format(final, 150, 1, false);
	assert_string_equal(names[0], final);
	storage_recovered_release(&rec);
	storage_close(st);
	crashfs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_head_exact),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_producer_fails),
	    cmocka_unit_test(test_moved_in),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
