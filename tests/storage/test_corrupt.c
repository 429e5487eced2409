/* test_corrupt.c: damaged data directories: cut at every byte, a bit flipped at every byte. */
/*
 * Damaged data directories: the last record cut at every byte offset, a bit flipped at
 * every byte of a small log; detected every time, never applied.
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

#define DIR           "n1"
#define SEGMENT_BYTES 4096

/* A copy of every file of a data directory, to rebuild it on a fresh crashfs. */
struct image {
	int n;
	struct {
		char path[SIO_PATH_MAX];
		uint8_t *data;
		size_t len;
	} f[16];
};

static void image_add_dir(struct crashfs *fs, struct image *img, const char *dir)
{
	char names[32][SIO_NAME_MAX + 1];
	int n = th_list(fs, dir, names, 32);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i], "wal") == 0 || strcmp(names[i], "snap") == 0)
			continue;
		assert_true(img->n < 16);
		int w = snprintf(img->f[img->n].path, sizeof(img->f[0].path), "%s/%.255s", dir,
		                 names[i]);
		assert_true(w > 0 && (size_t)w < sizeof(img->f[0].path));
		assert_int_equal(crashfs_read_file(fs, img->f[img->n].path, &img->f[img->n].data,
		                                   &img->f[img->n].len),
		                 0);
		img->n++;
	}
}

static void image_capture(struct crashfs *fs, struct image *img)
{
	memset(img, 0, sizeof(*img));
	image_add_dir(fs, img, DIR);
	image_add_dir(fs, img, DIR "/wal");
	image_add_dir(fs, img, DIR "/snap");
}

static void image_free(struct image *img)
{
	for (int i = 0; i < img->n; i++)
		free(img->f[i].data);
}

/* A fresh file system holding the image, with file `which` replaced by data[0..len). */
static struct crashfs *image_restore(const struct image *img, int which, const uint8_t *data,
                                     size_t len)
{
	struct crashfs *fs = crashfs_new(9);
	struct sio *io = crashfs_io(fs);
	assert_int_equal(sio_mkdir(io, DIR), 0);
	assert_int_equal(sio_mkdir(io, DIR "/wal"), 0);
	assert_int_equal(sio_mkdir(io, DIR "/snap"), 0);
	for (int i = 0; i < img->n; i++) {
		int fd;
		assert_int_equal(sio_open(io, img->f[i].path, SIO_RDWR | SIO_CREATE, &fd), 0);
		assert_int_equal(sio_close(io, fd), 0);
		if (i == which)
			assert_int_equal(crashfs_write_file(fs, img->f[i].path, data, len), 0);
		else
			assert_int_equal(
			    crashfs_write_file(fs, img->f[i].path, img->f[i].data, img->f[i].len),
			    0);
	}
	assert_int_equal(sio_sync_dir(io, "/"), 0);
	assert_int_equal(sio_sync_dir(io, DIR), 0);
	assert_int_equal(sio_sync_dir(io, DIR "/wal"), 0);
	assert_int_equal(sio_sync_dir(io, DIR "/snap"), 0);
	return fs;
}

static int image_find(const struct image *img, const char *prefix)
{
	for (int i = 0; i < img->n; i++)
		if (strstr(img->f[i].path, prefix) != NULL)
			return i;
	return -1;
}

/* Record start offsets of a segment's bytes, and the end of its last record. */
static int record_offsets(const uint8_t *d, size_t len, uint64_t *offs, int max, uint64_t *end)
{
	uint64_t off = 8;
	int n = 0;
	while (off + 8 <= len && n < max) {
		uint32_t rlen;
		memcpy(&rlen, d + off, 4);
		if (rlen == 0)
			break;
		offs[n++] = off;
		off += 8 + rlen;
	}
	*end = off;
	return n;
}

struct reference {
	struct image img;
	struct storage_recovered rec;
	int open_seg;
};

/* Builds the small log every test damages: a snapshot at 40 (which deleted the segment
 * holding 1-38), a closed segment, and an open segment of about 24 records, all after the
 * snapshot; the storage is closed without recovery, as after kill -9. */
static void reference_build(struct reference *ref)
{
	struct crashfs *fs = crashfs_new(3);
	struct storage_options o = th_options(SEGMENT_BYTES);
	struct storage *st;
	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage_recovered rec;
	assert_int_equal(storage_open(&st, crashfs_io(fs), DIR, &o, &rec, errmsg), 0);
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 2, .vote = 1};
	assert_int_equal(storage_set_hard_state(st, &hs), 0);
	for (raft_index i = 1; i <= 100; i++) {
		struct raft_entry e = th_entry(i, i < 20 ? 1 : 2, (uint32_t)i, 90 + i % 7);
		assert_int_equal(storage_append(st, &e, 1), 0);
		raft_buf_unref(e.buf);
		if (i % 5 == 0)
			assert_int_equal(storage_sync(st), 0);
	}
	assert_int_equal(storage_sync(st), 0);
	struct raft_conf conf = th_conf3();
	assert_int_equal(storage_snapshot_put(st, 40, 2, &conf, "snapshot@40", 11, 0), 0);
	assert_int_equal(storage_sync(st), 0);
	storage_close(st);
	crashfs_crash(fs, CRASHFS_PROCESS);
	image_capture(fs, &ref->img);
	crashfs_free(fs);
	ref->open_seg = image_find(&ref->img, "/wal/open-");
	assert_true(ref->open_seg >= 0);
	/* what an undamaged directory recovers */
	fs = image_restore(&ref->img, -1, NULL, 0);
	assert_int_equal(storage_open(&st, crashfs_io(fs), DIR, &o, &ref->rec, errmsg), 0);
	assert_string_equal(ref->rec.notes, "");
	assert_int_equal(ref->rec.snapshot_index, 40);
	assert_int_equal(ref->rec.n_entries, 60);
	storage_close(st);
	crashfs_free(fs);
}

static void reference_free(struct reference *ref)
{
	image_free(&ref->img);
	storage_recovered_release(&ref->rec);
}

/* Whether open_damaged opens as a cluster member (storage_options.repair_from_peers). */
static bool g_peers;

/* Opens the image with file `which` replaced; returns the open's result. */
static int open_damaged(const struct reference *ref, int which, const uint8_t *data, size_t len,
                        struct storage_recovered *rec, char *errmsg, bool keep_going)
{
	struct crashfs *fs = image_restore(&ref->img, which, data, len);
	struct storage_options o = th_options(SEGMENT_BYTES);
	o.repair_from_peers = g_peers;
	struct storage *st = NULL;
	int rv = storage_open(&st, crashfs_io(fs), DIR, &o, rec, errmsg);
	/* the read-only checker reaches the same verdict (damage is an error there) */
	struct crashfs *fs2 = image_restore(&ref->img, which, data, len);
	char errmsg2[STORAGE_ERRMSG_SIZE];
	int rv2 = storage_inspect(crashfs_io(fs2), DIR, NULL, errmsg2);
	assert_int_equal(rv == 0 && !rec->catch_up, rv2 == 0);
	if (rv == 0 && rec->catch_up)
		assert_string_equal(rec->damage, errmsg2);
	crashfs_free(fs2);
	if (rv == 0 && keep_going) {
		/* a repaired directory takes new entries and recovers them */
		raft_index next = rec->snapshot_index + rec->n_entries + 1;
		struct raft_entry e = th_entry(next, 2, 5555, 30);
		assert_int_equal(storage_append(st, &e, 1), 0);
		assert_int_equal(storage_sync(st), 0);
		raft_buf_unref(e.buf);
		storage_close(st);
		st = NULL;
		crashfs_crash(fs, CRASHFS_LOSE);
		struct storage_recovered again;
		assert_int_equal(storage_open(&st, crashfs_io(fs), DIR, &o, &again, errmsg), 0);
		assert_int_equal(again.snapshot_index + again.n_entries, next);
		assert_string_equal(again.notes, "");
		storage_recovered_release(&again);
	}
	storage_close(st);
	crashfs_free(fs);
	return rv;
}

/* The recovered log is the reference's, possibly without a suffix: never other data. */
static uint32_t check_subset(const struct reference *ref, const struct storage_recovered *rec)
{
	assert_int_equal(rec->hard_state.term, ref->rec.hard_state.term);
	assert_int_equal(rec->hard_state.vote, ref->rec.hard_state.vote);
	assert_int_equal(rec->snapshot_index, ref->rec.snapshot_index);
	assert_true(rec->n_entries <= ref->rec.n_entries);
	for (uint32_t i = 0; i < rec->n_entries; i++) {
		const struct raft_entry *a = &rec->entries[i];
		const struct raft_entry *b = &ref->rec.entries[i];
		assert_int_equal(a->index, b->index);
		assert_int_equal(a->term, b->term);
		assert_int_equal(raft_entry_len(a), raft_entry_len(b));
		assert_memory_equal(raft_entry_data(a), raft_entry_data(b), raft_entry_len(a));
	}
	return ref->rec.n_entries - rec->n_entries;
}

static void check_cut_file(const struct reference *ref, const uint8_t *buf, size_t len,
                           uint32_t lost, const char *want)
{
	struct storage_recovered rec;
	char errmsg[STORAGE_ERRMSG_SIZE];
	int rv = open_damaged(ref, ref->open_seg, buf, len, &rec, errmsg, false);
	assert_int_equal(rv, STORAGE_ECORRUPT);
	if (strstr(errmsg, want) == NULL || strstr(errmsg, "/wal/open-") == NULL ||
	    strstr(errmsg, "refusing to start") == NULL)
		fail_msg("cut file of %zu bytes: '%s'", len, errmsg);
	g_peers = true;
	rv = open_damaged(ref, ref->open_seg, buf, len, &rec, errmsg, true);
	g_peers = false;
	assert_int_equal(rv, 0);
	assert_true(rec.catch_up);
	assert_true(rec.catch_up_to >= rec.snapshot_index + rec.n_entries);
	assert_non_null(strstr(rec.damage, want));
	assert_non_null(strstr(rec.notes, "damage to durable data"));
	assert_int_equal(check_subset(ref, &rec), lost);
	storage_recovered_release(&rec);
}

/* Every prefix of the open segment, the rest of it zero (the preallocated tail): recovery
 * keeps the complete records and reports the torn one. The rest cut instead (a shorter
 * file): damage, refused, or repaired as a cluster member. An incomplete header is damage
 * either way: a segment is renamed into place only once its header and preallocation are
 * durable (seed 1327/3: cut to one byte, its entries were once dropped as never written). */
static void test_truncated_at_every_offset(void **state)
{
	(void)state;
	struct reference ref;
	reference_build(&ref);
	const uint8_t *seg = ref.img.f[ref.open_seg].data;
	size_t seg_len = ref.img.f[ref.open_seg].len;
	uint64_t offs[64];
	uint64_t end;
	int n = record_offsets(seg, seg_len, offs, 64, &end);
	assert_true(n >= 3);
	uint8_t *buf = malloc(seg_len);
	int checked = 0;
	for (uint64_t k = 0; k <= end; k++) {
		for (int zeros = 0; zeros < 2; zeros++) {
			size_t len = zeros ? seg_len : (size_t)k;
			memset(buf, 0, seg_len);
			memcpy(buf, seg, (size_t)k);
			struct storage_recovered rec;
			char errmsg[STORAGE_ERRMSG_SIZE];
			bool last_record = k >= offs[n - 1];
			/* complete records are kept: those ending at or before k */
			int complete = 0;
			while (complete < n && (complete + 1 < n ? offs[complete + 1] : end) <= k)
				complete++;
			char want[96];
			if (!zeros && k >= 8) {
				/* A shorter file: no crash cuts a preallocated segment, so this
				 * is damage, refused with file and offset on its own, cut off
				 * and caught up as a cluster member. */
				snprintf(want, sizeof(want), "offset %zu: the file ends here", len);
				check_cut_file(&ref, buf, len, n - complete, want);
				checked++;
				continue;
			}
			/* (the header's last bytes are zeros: a prefix may already be whole) */
			if (k < 8 && (!zeros || memcmp(buf, seg, 8) != 0)) {
				if (zeros)
					snprintf(want, sizeof(want),
					         "offset %" PRIu64
					         ": the segment header is incomplete",
					         k);
				else
					snprintf(
					    want, sizeof(want),
					    "offset %zu: the file ends inside the segment header",
					    len);
				check_cut_file(&ref, buf, len, n - complete, want);
				checked++;
				continue;
			}
			int rv = open_damaged(&ref, ref.open_seg, buf, len, &rec, errmsg,
			                      last_record && k % 7 == 0);
			if (rv != 0)
				print_message("cut at %" PRIu64 ": %s\n", k, errmsg);
			assert_int_equal(rv, 0);
			uint32_t missing = check_subset(&ref, &rec);
			assert_int_equal(missing, (uint32_t)(n - complete));
			/* clean if the cut falls on a record boundary, or if what it
			 * zeroed up to the next boundary was zero anyway */
			uint64_t next = k == 0 ? 0 : 8;
			for (int b = 0; next < k && b < n; b++)
				next = b + 1 < n ? offs[b + 1] : end;
			bool at_boundary = k == next;
			if (zeros && !at_boundary) {
				at_boundary = true;
				for (uint64_t b = k; b < next; b++)
					at_boundary = at_boundary && seg[b] == 0;
			}
			if (at_boundary)
				assert_string_equal(rec.notes, "");
			else if (strstr(rec.notes, "torn write") == NULL)
				fail_msg("cut at %" PRIu64 " (zeros %d) of record at %" PRIu64
				         ": notes '%s'",
				         k, zeros, complete < n ? offs[complete] : end, rec.notes);
			storage_recovered_release(&rec);
			checked++;
		}
	}
	free(buf);
	print_message("%d cuts recovered\n", checked);
	reference_free(&ref);
}

/* A closed segment is complete by construction: a cut is corruption, refused. */
static void test_closed_segment_cut_refused(void **state)
{
	(void)state;
	struct reference ref;
	reference_build(&ref);
	int closed = -1;
	for (int i = 0; i < ref.img.n; i++)
		if (strstr(ref.img.f[i].path, "/wal/0") != NULL)
			closed = i;
	assert_true(closed >= 0);
	size_t len = ref.img.f[closed].len;
	for (size_t k = len - 60; k < len; k += 7) {
		struct storage_recovered rec;
		char errmsg[STORAGE_ERRMSG_SIZE];
		int rv = open_damaged(&ref, closed, ref.img.f[closed].data, k, &rec, errmsg, false);
		assert_int_equal(rv, STORAGE_ECORRUPT);
		assert_non_null(strstr(errmsg, ref.img.f[closed].path));
		assert_non_null(strstr(errmsg, "offset"));
	}
	reference_free(&ref);
}

/* One bit flipped at each byte of every file (and of the zeros just after the open
 * segment's records): refused with file and offset, or, only at the very end of the open
 * segment, cut as a torn write. Never different data. */
static void test_bit_flip_every_byte(void **state)
{
	(void)state;
	struct reference ref;
	reference_build(&ref);
	int refused = 0, cut = 0, harmless = 0, caught_up = 0;
	for (int f = 0; f < ref.img.n; f++) {
		size_t len = ref.img.f[f].len;
		uint64_t end = len;
		uint64_t offs[64];
		int n_rec = 0;
		if (f == ref.open_seg) {
			n_rec = record_offsets(ref.img.f[f].data, len, offs, 64, &end);
			end += 16;
		}
		uint8_t *buf = malloc(len);
		for (uint64_t at = 0; at < end && at < len; at++) {
			memcpy(buf, ref.img.f[f].data, len);
			buf[at] ^= (uint8_t)(1u << (at % 8));
			struct storage_recovered rec;
			char errmsg[STORAGE_ERRMSG_SIZE];
			int rv = open_damaged(&ref, f, buf, len, &rec, errmsg, false);
			if (rv != 0) {
				if (strstr(errmsg, "offset") == NULL)
					print_message("%s byte %" PRIu64 ": %s\n",
					              ref.img.f[f].path, at, errmsg);
				assert_int_equal(rv, STORAGE_ECORRUPT);
				assert_non_null(strstr(errmsg, "offset"));
				if (f == ref.open_seg && at >= end - 16 + 8) {
					/* in the zeros after the records: at the flipped byte */
					char want[48];
					snprintf(want, sizeof(want), "offset %" PRIu64 ":", at);
					if (strstr(errmsg, want) == NULL)
						fail_msg("flip at %" PRIu64 ": '%s'", at, errmsg);
				}
				if (f == ref.open_seg && n_rec > 0 && at >= offs[0] &&
				    at < end - 16) {
					/* As a cluster member it catches up at least to the last
					 * entry it had: a damaged record was written whole, and the
					 * valid ones after it show how far the log reached (seed
					 * 2934/3: the target stopped before the damage). */
					g_peers = true;
					rv = open_damaged(&ref, f, buf, len, &rec, errmsg, false);
					g_peers = false;
					assert_int_equal(rv, 0);
					assert_true(rec.catch_up);
					raft_index last =
					    ref.rec.snapshot_index + ref.rec.n_entries;
					if (rec.catch_up_to < last)
						fail_msg("flip at %" PRIu64
						         ": catches up to %" PRIu64 " of %" PRIu64,
						         at, rec.catch_up_to, last);
					storage_recovered_release(&rec);
					caught_up++;
				}
				refused++;
				continue;
			}
			uint32_t missing = check_subset(&ref, &rec);
			if (missing == 0) {
				/* only bytes recovery never needs: the zeros after the records */
				assert_int_equal(f, ref.open_seg);
				assert_true(at >= end - 16);
				harmless++;
			} else {
				/* only the last record, at the very end of the open segment */
				assert_int_equal(f, ref.open_seg);
				assert_int_equal(missing, 1);
				assert_true(at >= offs[n_rec - 1]);
				assert_non_null(strstr(rec.notes, "torn write"));
				cut++;
			}
			storage_recovered_release(&rec);
		}
		free(buf);
	}
	print_message("bit flips: %d refused (%d of them repaired to the whole log's end), %d cut "
	              "as a torn last record, %d in unused zeros\n",
	              refused, caught_up, cut, harmless);
	assert_true(caught_up > 0);
	reference_free(&ref);
}

/* A segment whose creation a crash interrupted is left under its temporary name, whole or
 * not: recovery removes it, says so, and loses nothing. */
static void test_unfinished_segment_removed(void **state)
{
	(void)state;
	struct reference ref;
	reference_build(&ref);
	struct crashfs *fs = image_restore(&ref.img, -1, NULL, 0);
	struct sio *io = crashfs_io(fs);
	const char *tmp = DIR "/wal/open-00000000000000000099.tmp";
	int fd;
	assert_int_equal(sio_open(io, tmp, SIO_RDWR | SIO_CREATE | SIO_EXCL, &fd), 0);
	assert_int_equal(sio_pwrite(io, fd, "CWA", 3, 0), 0);
	assert_int_equal(sio_fdatasync(io, fd), 0);
	assert_int_equal(sio_close(io, fd), 0);
	assert_int_equal(sio_sync_dir(io, DIR "/wal"), 0);
	struct storage_options o = th_options(SEGMENT_BYTES);
	struct storage *st;
	struct storage_recovered rec;
	char errmsg[STORAGE_ERRMSG_SIZE];
	assert_int_equal(storage_open(&st, io, DIR, &o, &rec, errmsg), 0);
	assert_non_null(strstr(rec.notes, "open-00000000000000000099.tmp: unfinished segment "
	                                  "(interrupted creation); removed"));
	assert_false(rec.catch_up);
	assert_int_equal(check_subset(&ref, &rec), 0);
	assert_int_equal(sio_open(io, tmp, SIO_RDWR, &fd), -ENOENT);
	storage_recovered_release(&rec);
	storage_close(st);
	crashfs_free(fs);
	reference_free(&ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_truncated_at_every_offset),
	    cmocka_unit_test(test_closed_segment_cut_refused),
	    cmocka_unit_test(test_bit_flip_every_byte),
	    cmocka_unit_test(test_unfinished_segment_removed),
	};
	return cmocka_run_group_tests_name("corrupt", tests, NULL, NULL);
}
