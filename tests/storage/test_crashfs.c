/* test_crashfs.c: the crash file system: what survives which crash, and fault injection. */
/*
 * The crash file system: what survives which crash, directory durability, tearing, fault
 * injection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "storage/crashfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int file_content(struct crashfs *fs, const char *path, const char *want)
{
	uint8_t *d = NULL;
	size_t n = 0;
	int rv = crashfs_read_file(fs, path, &d, &n);
	if (rv != 0)
		return rv;
	int same = n == strlen(want) && (n == 0 || memcmp(d, want, n) == 0);
	free(d);
	return same ? 0 : 1;
}

static void write_str(struct sio *io, int fd, const char *s, uint64_t off)
{
	assert_int_equal(sio_pwrite(io, fd, s, strlen(s), off), 0);
}

static void test_unsynced_lost(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(1);
	struct sio *io = crashfs_io(fs);
	assert_int_equal(sio_mkdir(io, "d"), 0);
	assert_int_equal(sio_sync_dir(io, "/"), 0);
	int fd;
	assert_int_equal(sio_open(io, "d/f", SIO_RDWR | SIO_CREATE, &fd), 0);
	write_str(io, fd, "hello", 0);
	assert_int_equal(sio_fsync(io, fd), 0);
	write_str(io, fd, " world", 5);
	assert_int_equal(file_content(fs, "d/f", "hello world"), 0);
	/* the file's entry in d was never synced: the file vanishes */
	crashfs_crash(fs, CRASHFS_LOSE);
	assert_int_equal(file_content(fs, "d/f", ""), -ENOENT);

	assert_int_equal(sio_open(io, "d/f", SIO_RDWR | SIO_CREATE, &fd), 0);
	write_str(io, fd, "hello", 0);
	assert_int_equal(sio_fdatasync(io, fd), 0);
	assert_int_equal(sio_sync_dir(io, "d"), 0);
	write_str(io, fd, " world", 5);
	crashfs_crash(fs, CRASHFS_LOSE);
	assert_int_equal(file_content(fs, "d/f", "hello"), 0);
	/* a process crash loses nothing */
	assert_int_equal(sio_open(io, "d/f", SIO_RDWR, &fd), 0);
	write_str(io, fd, " again", 5);
	crashfs_crash(fs, CRASHFS_PROCESS);
	assert_int_equal(file_content(fs, "d/f", "hello again"), 0);
	crashfs_free(fs);
}

static void test_rename_needs_dir_sync(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(2);
	struct sio *io = crashfs_io(fs);
	int fd;
	assert_int_equal(sio_open(io, "a", SIO_RDWR | SIO_CREATE, &fd), 0);
	write_str(io, fd, "A", 0);
	assert_int_equal(sio_fsync(io, fd), 0);
	assert_int_equal(sio_close(io, fd), 0);
	assert_int_equal(sio_sync_dir(io, "."), 0);
	assert_int_equal(sio_rename(io, "a", "b"), 0);
	assert_int_equal(file_content(fs, "b", "A"), 0);
	crashfs_crash(fs, CRASHFS_LOSE);
	assert_int_equal(file_content(fs, "a", "A"), 0);
	assert_int_equal(file_content(fs, "b", ""), -ENOENT);
	assert_int_equal(sio_rename(io, "a", "b"), 0);
	assert_int_equal(sio_sync_dir(io, "/"), 0);
	crashfs_crash(fs, CRASHFS_LOSE);
	assert_int_equal(file_content(fs, "b", "A"), 0);
	/* unlink is volatile too */
	assert_int_equal(sio_unlink(io, "b"), 0);
	crashfs_crash(fs, CRASHFS_LOSE);
	assert_int_equal(file_content(fs, "b", "A"), 0);
	crashfs_free(fs);
}

static void test_truncate_allocate(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(3);
	struct sio *io = crashfs_io(fs);
	int fd;
	assert_int_equal(sio_open(io, "f", SIO_RDWR | SIO_CREATE, &fd), 0);
	assert_int_equal(sio_sync_dir(io, "/"), 0);
	write_str(io, fd, "abcdef", 0);
	assert_int_equal(sio_allocate(io, fd, 1 << 20), 0);
	uint64_t size;
	assert_int_equal(sio_size(io, fd, &size), 0);
	assert_int_equal(size, 1 << 20);
	char buf[8];
	size_t n;
	assert_int_equal(sio_pread(io, fd, buf, 8, 4, &n), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "ef\0\0\0\0\0\0", 8);
	assert_int_equal(sio_fdatasync(io, fd), 0);
	assert_int_equal(sio_truncate(io, fd, 3), 0);
	crashfs_crash(fs, CRASHFS_LOSE);
	assert_int_equal(sio_open(io, "f", SIO_RDONLY, &fd), 0);
	assert_int_equal(sio_size(io, fd, &size), 0);
	assert_int_equal(size, 1 << 20);
	assert_true(crashfs_bytes_held(fs) < (1 << 16)); /* allocation costs no memory */
	crashfs_free(fs);
}

/* A tearing crash keeps a prefix of the unsynced writes, the last one possibly cut. */
static void test_tear_prefix(void **state)
{
	(void)state;
	int seen_partial = 0, seen_none = 0, seen_all = 0;
	for (uint64_t seed = 0; seed < 200; seed++) {
		struct crashfs *fs = crashfs_new(seed);
		struct sio *io = crashfs_io(fs);
		int fd;
		assert_int_equal(sio_open(io, "f", SIO_RDWR | SIO_CREATE, &fd), 0);
		assert_int_equal(sio_sync_dir(io, "/"), 0);
		write_str(io, fd, "0123", 0);
		assert_int_equal(sio_fsync(io, fd), 0);
		write_str(io, fd, "4567", 4);
		write_str(io, fd, "89ab", 8);
		crashfs_crash(fs, CRASHFS_TEAR);
		uint8_t *d;
		size_t len;
		assert_int_equal(crashfs_read_file(fs, "f", &d, &len), 0);
		assert_true(len >= 4);
		assert_true(len <= 12);
		assert_memory_equal(d, "0123456789ab", len);
		seen_none += len == 4;
		seen_all += len == 12;
		seen_partial += len != 4 && len != 8 && len != 12;
		free(d);
		crashfs_free(fs);
	}
	assert_true(seen_none > 0);
	assert_true(seen_all > 0);
	assert_true(seen_partial > 0);
}

static void test_faults(void **state)
{
	(void)state;
	struct crashfs *fs = crashfs_new(4);
	struct sio *io = crashfs_io(fs);
	int fd;
	assert_int_equal(sio_open(io, "f", SIO_RDWR | SIO_CREATE, &fd), 0);
	/* the third write and the one after fail, then writes work again */
	sio_fault_set(crashfs_fault(fs), SIO_OP_BIT(SIO_PWRITE), 2, 2, ENOSPC);
	write_str(io, fd, "a", 0);
	assert_int_equal(sio_fsync(io, fd), 0); /* not matching: not counted down */
	write_str(io, fd, "b", 1);
	assert_int_equal(sio_pwrite(io, fd, "c", 1, 2), -ENOSPC);
	assert_int_equal(sio_pwrite(io, fd, "c", 1, 2), -ENOSPC);
	write_str(io, fd, "c", 2);
	assert_int_equal(file_content(fs, "f", "abc"), 0);
	assert_int_equal(crashfs_fault(fs)->failed, 2);
	/* a failing call does nothing */
	sio_fault_set(crashfs_fault(fs), SIO_OPS_ALL, 0, -1, EIO);
	assert_int_equal(sio_rename(io, "f", "g"), -EIO);
	sio_fault_clear(crashfs_fault(fs));
	assert_int_equal(file_content(fs, "f", "abc"), 0);
	crashfs_free(fs);
}

static void test_determinism(void **state)
{
	(void)state;
	/* the same seed tears the same way */
	for (int rep = 0; rep < 2; rep++) {
		size_t lens[2];
		for (int k = 0; k < 2; k++) {
			struct crashfs *fs = crashfs_new(77);
			struct sio *io = crashfs_io(fs);
			int fd;
			assert_int_equal(sio_open(io, "f", SIO_RDWR | SIO_CREATE, &fd), 0);
			assert_int_equal(sio_sync_dir(io, "/"), 0);
			for (int i = 0; i < 20; i++)
				write_str(io, fd, "xxxxxxxxxx", (uint64_t)i * 10);
			crashfs_crash(fs, CRASHFS_TEAR);
			uint8_t *d;
			assert_int_equal(crashfs_read_file(fs, "f", &d, &lens[k]), 0);
			free(d);
			crashfs_free(fs);
		}
		assert_int_equal(lens[0], lens[1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unsynced_lost),
	    cmocka_unit_test(test_rename_needs_dir_sync),
	    cmocka_unit_test(test_truncate_allocate),
	    cmocka_unit_test(test_tear_prefix),
	    cmocka_unit_test(test_faults),
	    cmocka_unit_test(test_determinism),
	};
	return cmocka_run_group_tests_name("crashfs", tests, NULL, NULL);
}
