/* fuzz_storage.c: libFuzzer target for recovery: the meta reader, the WAL segment scan
 * and the snapshot reader, over a data directory whose files are the fuzz input.
 *
 * The input is a list of files, each [u8 path length][path][u32 LE length][content],
 * written into an in-memory crash file system (src/storage/crashfs.h) under d/, whose
 * d/wal and d/snap exist. A path must be "meta"/"meta.tmp" or "wal/NAME" or "snap/NAME"
 * with NAME free of '/' and NUL; other records are skipped. No real disk is touched.
 *
 * Checks: storage_inspect() (read only) and storage_open() agree on whether the
 * directory opens; what opens is a consistent boot (entries run from the snapshot on,
 * terms never above the stored term), accepts one more append, and opens again after
 * closing with the same log plus that entry. */
#include "storage/crashfs.h"
#include "storage/storage.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIR_NAME "d"

static bool path_ok(const char *p, size_t n)
{
	if (n == 4 && memcmp(p, "meta", 4) == 0)
		return true;
	if (n == 8 && memcmp(p, "meta.tmp", 8) == 0)
		return true;
	size_t skip;
	if (n > 4 && memcmp(p, "wal/", 4) == 0)
		skip = 4;
	else if (n > 5 && memcmp(p, "snap/", 5) == 0)
		skip = 5;
	else
		return false;
	for (size_t i = skip; i < n; i++)
		if (p[i] == '/' || p[i] == '\0')
			return false;
	/* "." and ".." are not file names. */
	if ((n - skip == 1 && p[skip] == '.') ||
	    (n - skip == 2 && p[skip] == '.' && p[skip + 1] == '.'))
		return false;
	return true;
}

static void write_file(struct sio *io, const char *rel, size_t rel_len, const uint8_t *content,
                       size_t len)
{
	char path[SIO_PATH_MAX];
	snprintf(path, sizeof(path), DIR_NAME "/%.*s", (int)rel_len, rel);
	int fd;
	if (sio_open(io, path, SIO_RDWR | SIO_CREATE | SIO_TRUNC, &fd) != 0)
		return;
	if (len > 0) {
		int rv = sio_pwrite(io, fd, content, len, 0);
		assert(rv == 0);
	}
	assert(sio_fsync(io, fd) == 0);
	assert(sio_close(io, fd) == 0);
}

static void no_note(void *ctx, const char *note)
{
	(void)ctx;
	assert(note != NULL);
}

static void check_boot(const struct storage_recovered *rec)
{
	for (uint32_t i = 0; i < rec->n_entries; i++) {
		const struct raft_entry *e = &rec->entries[i];
		assert(e->index == rec->snapshot_index + 1 + i);
		assert(e->term <= rec->hard_state.term);
		assert(e->type >= RAFT_ENTRY_NORMAL && e->type <= RAFT_ENTRY_CONFIG);
		assert(i == 0 ? e->term >= rec->snapshot_term
		              : e->term >= rec->entries[i - 1].term);
	}
	assert(rec->snapshot_term <= rec->hard_state.term);
	struct raft_boot boot;
	storage_recovered_boot(rec, &boot);
	assert(boot.n_entries == rec->n_entries);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crashfs *fs = crashfs_new(1);
	struct sio *io = crashfs_io(fs);
	assert(sio_mkdir(io, DIR_NAME) == 0);
	assert(sio_mkdir(io, DIR_NAME "/wal") == 0);
	assert(sio_mkdir(io, DIR_NAME "/snap") == 0);

	size_t off = 0;
	while (size - off >= 1) {
		size_t plen = data[off];
		if (size - off < 1 + plen + 4)
			break;
		const char *p = (const char *)data + off + 1;
		const uint8_t *lp = data + off + 1 + plen;
		uint32_t clen = (uint32_t)lp[0] | (uint32_t)lp[1] << 8 | (uint32_t)lp[2] << 16 |
		                (uint32_t)lp[3] << 24;
		off += 1 + plen + 4;
		size_t take = clen < size - off ? clen : size - off;
		if (path_ok(p, plen))
			write_file(io, p, plen, data + off, take);
		off += take;
	}
	assert(sio_sync_dir(io, DIR_NAME) == 0);
	assert(sio_sync_dir(io, DIR_NAME "/wal") == 0);
	assert(sio_sync_dir(io, DIR_NAME "/snap") == 0);

	char errmsg[STORAGE_ERRMSG_SIZE];
	struct storage_inspect_visitor v = {.on_note = no_note};
	int inspected = storage_inspect(io, DIR_NAME, &v, errmsg);

	struct storage_options opts = {.segment_size_bytes = STORAGE_SEGMENT_SIZE_MIN_BYTES};
	struct storage *st = NULL;
	struct storage_recovered rec;
	int rv = storage_open(&st, io, DIR_NAME, &opts, &rec, errmsg);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "inspect %d, open %d: %s\n", inspected, rv, rv ? errmsg : "ok");
	assert((rv == 0) == (inspected == 0));
	if (rv != 0) {
		assert(errmsg[0] != '\0');
		crashfs_free(fs);
		return 0;
	}
	check_boot(&rec);
	raft_index last = rec.snapshot_index + rec.n_entries;
	raft_term term = rec.n_entries ? rec.entries[rec.n_entries - 1].term : rec.snapshot_term;
	assert(storage_last_index(st) == last);
	struct raft_hard_state hs = rec.hard_state;
	if (hs.term == 0 || hs.term < term) {
		hs.term = term > 0 ? term : 1;
		hs.vote = RAFT_NONE;
	}
	bool appended = false;
	if (storage_set_hard_state(st, &hs) == 0) {
		struct raft_entry e = {.term = hs.term,
		                       .index = last + 1,
		                       .type = RAFT_ENTRY_NORMAL,
		                       .buf = raft_buf_new("fuzz", 4)};
		appended = storage_append(st, &e, 1) == 0 && storage_sync(st) == 0;
		raft_buf_unref(e.buf);
	}
	storage_close(st);
	uint32_t n_before = rec.n_entries;
	raft_index snap_before = rec.snapshot_index;
	storage_recovered_release(&rec);

	/* What opened and was written to opens again, with that entry at the end. */
	rv = storage_open(&st, io, DIR_NAME, &opts, &rec, errmsg);
	if (rv != 0)
		fprintf(stderr, "reopen failed: %s\n", errmsg);
	assert(rv == 0);
	check_boot(&rec);
	assert(rec.snapshot_index == snap_before);
	assert(rec.n_entries == n_before + (appended ? 1 : 0));
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "snapshot %llu, %u entries, appended %d\n",
		        (unsigned long long)rec.snapshot_index, rec.n_entries, appended);
	storage_recovered_release(&rec);
	storage_close(st);
	crashfs_free(fs);
	return 0;
}
