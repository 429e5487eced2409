/* snap_map.c: a stored snapshot's data as a buffer backed by its file, mapped read-only. */
#include "storage/impl.h"
#include "storage/snap.h"

#include "base/alloc.h"
#include "storage/error.h"
#include "storage/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Why: the Raft core keeps the last snapshot's bytes to send to followers that fall
 * behind, and a copy in the heap is as large as the whole state machine. The file on
 * disk holds the same bytes; mapped, they cost no resident memory until a follower is
 * sent them, and then only clean page-cache pages the kernel may drop.
 *
 * Checked here: the header, its checksum, the meta's index, term and data size against
 * the file's name and length. Not checked: the data's checksum, which would read the
 * whole file; the caller maps a file it has just written from the bytes it holds, or one
 * recovery has just verified. A follower sent the bytes checks the state machine
 * snapshot's own checksum before it installs them.
 *
 * Caveat, as for every mmap-based store (etcd's bbolt, LMDB): a file truncated by hand
 * under a running node makes reads past the new end fault. The node never truncates or
 * rewrites a snapshot file; it only renames new ones in and unlinks old ones, and an
 * unlinked file stays readable while mapped.
 */

struct mapped_buf {
	struct raft_buf b; /* first: the core's pointer is this struct's */
	void *base;
	size_t size;
};

static void mapped_release(struct raft_buf *b)
{
	struct mapped_buf *m = (struct mapped_buf *)b;
	munmap(m->base, m->size);
	free(m);
}

static int check_header(const uint8_t *p, size_t size, raft_index index, raft_term term,
                        uint64_t *data_off, const char *path, char *errmsg)
{
	if (size < SNAP_HEADER_BYTES || get_u32(p) != SNAP_MAGIC)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT, "%s: not a snapshot", path);
	uint32_t n = get_u32(p + 4);
	if (n > SNAP_META_MAX_BYTES || n > size - SNAP_HEADER_BYTES ||
	    snap_header_crc(n, p + SNAP_HEADER_BYTES) != get_u32(p + 8))
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT, "%s: bad header", path);
	struct proto_snapshot_meta m;
	if (proto_snapshot_meta_decode(p + SNAP_HEADER_BYTES, n, &m) != PROTO_OK)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT, "%s: bad meta", path);
	*data_off = SNAP_HEADER_BYTES + (uint64_t)n;
	if (m.index != index || m.term != term || m.data_size_bytes == 0 ||
	    m.data_size_bytes != size - *data_off || m.data_size_bytes > SNAP_DATA_MAX_BYTES)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: meta says index %" PRIu64 " term %" PRIu64
		                          ", %" PRIu64 " bytes",
		                          path, m.index, m.term, m.data_size_bytes);
	return STORAGE_OK;
}

int storage_snapshot_map(const struct storage *st, raft_index index, raft_term term,
                         struct raft_buf **out, char *errmsg)
{
	char name[SIO_NAME_MAX + 1];
	char path[SIO_PATH_MAX];
	snap_name_format(name, index, term, false);
	path_join(path, st->snap_dir, name);
	return storage_snapshot_map_path(path, index, term, out, errmsg);
}

int storage_snapshot_map_path(const char *path, raft_index index, raft_term term,
                              struct raft_buf **out, char *errmsg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return storage_errmsg_io(errmsg, path, "open", -errno);
	struct stat sb;
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0) {
		int err = errno;
		close(fd);
		return storage_errmsg_io(errmsg, path, "fstat", err != 0 ? -err : -EINVAL);
	}
	size_t size = (size_t)sb.st_size;
	void *base = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd); /* the mapping keeps the file */
	if (base == MAP_FAILED)
		return storage_errmsg_io(errmsg, path, "mmap", -err);
	uint64_t off = 0;
	int rv = check_header(base, size, index, term, &off, path, errmsg);
	if (rv != STORAGE_OK) {
		munmap(base, size);
		return rv;
	}
	/* Only the data is read from here on, front to back, by chunks. */
	madvise(base, size, MADV_SEQUENTIAL);
	struct mapped_buf *m = xmalloc(sizeof(*m));
	m->base = base;
	m->size = size;
	raft_buf_init_external(&m->b, (const uint8_t *)base + off, size - (size_t)off,
	                       mapped_release);
	*out = &m->b;
	return STORAGE_OK;
}
