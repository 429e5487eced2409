/* snap.c: writing, naming and checking snapshot files. */
#include "storage/snap.h"

#include "base/alloc.h"
#include "base/crc32c.h"
#include "storage/error.h"
#include "storage/util.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>

#define SNAP_PREFIX       "snapshot-"
#define SNAP_TMP_SUFFIX   ".tmp"
#define SNAP_CHILD_SUFFIX ".child"

static bool parse_u64_20(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool snap_name_parse(const char *name, struct snap_name *out)
{
	/* snapshot-<20 digits>-<20 digits>[.child][.tmp] */
	size_t plen = strlen(SNAP_PREFIX);
	size_t base = plen + 20 + 1 + 20;
	size_t n = strlen(name);
	if (strncmp(name, SNAP_PREFIX, plen) != 0 || n < base)
		return false;
	struct snap_name s = {0};
	const char *rest = name + base;
	if (strncmp(rest, SNAP_CHILD_SUFFIX, strlen(SNAP_CHILD_SUFFIX)) == 0) {
		s.child = true;
		rest += strlen(SNAP_CHILD_SUFFIX);
	}
	if (strcmp(rest, SNAP_TMP_SUFFIX) == 0)
		s.tmp = true;
	else if (rest[0] != '\0')
		return false;
	if (!parse_u64_20(name + plen, &s.index) || name[plen + 20] != '-' ||
	    !parse_u64_20(name + plen + 21, &s.term))
		return false;
	*out = s;
	return true;
}

void snap_name_format(char *out, raft_index index, raft_term term, bool tmp)
{
	snprintf(out, SIO_NAME_MAX + 1, SNAP_PREFIX "%020" PRIu64 "-%020" PRIu64 "%s", index, term,
	         tmp ? SNAP_TMP_SUFFIX : "");
}

void snap_name_format_as(char *out, const struct snap_name *s)
{
	snprintf(out, SIO_NAME_MAX + 1, SNAP_PREFIX "%020" PRIu64 "-%020" PRIu64 "%s%s", s->index,
	         s->term, s->child ? SNAP_CHILD_SUFFIX : "", s->tmp ? SNAP_TMP_SUFFIX : "");
}

uint32_t snap_header_crc(uint32_t len, const uint8_t *meta)
{
	uint8_t len_le[4];
	put_u32(len_le, len);
	return crc32c(crc32c(0, len_le, 4), meta, len);
}

int snap_write(struct sio *io, const char *snap_dir, const struct proto_snapshot_meta *meta,
               const void *data, char *errmsg)
{
	assert(meta->data_size_bytes <= SNAP_DATA_MAX_BYTES);
	char name[SIO_NAME_MAX + 1];
	char tmp[SIO_PATH_MAX];
	char path[SIO_PATH_MAX];
	snap_name_format(name, meta->index, meta->term, true);
	path_join(tmp, snap_dir, name);
	snap_name_format(name, meta->index, meta->term, false);
	path_join(path, snap_dir, name);

	struct proto_snapshot_meta m = *meta;
	m.data_crc32c = crc32c(0, data, m.data_size_bytes);
	size_t n = proto_snapshot_meta_size(&m);
	assert(n <= SNAP_META_MAX_BYTES);
	uint8_t head[SNAP_HEADER_BYTES + SNAP_META_MAX_BYTES];
	size_t got = proto_snapshot_meta_encode(&m, head + SNAP_HEADER_BYTES);
	assert(got == n);
	put_u32(head, SNAP_MAGIC);
	put_u32(head + 4, (uint32_t)n);
	put_u32(head + 8, snap_header_crc((uint32_t)n, head + SNAP_HEADER_BYTES));

	int fd;
	int rv = sio_open(io, tmp, SIO_RDWR | SIO_CREATE | SIO_TRUNC, &fd);
	if (rv != 0)
		return storage_errmsg_io(errmsg, tmp, "open", rv);
	struct iovec iov[2] = {
	    {.iov_base = head, .iov_len = SNAP_HEADER_BYTES + n},
	    {.iov_base = (void *)data, .iov_len = (size_t)m.data_size_bytes},
	};
	rv = sio_pwritev(io, fd, iov, m.data_size_bytes > 0 ? 2 : 1, 0);
	const char *op = "write";
	if (rv == 0) {
		rv = sio_fsync(io, fd);
		op = "fsync";
	}
	int rv_close = sio_close(io, fd);
	if (rv == 0 && rv_close != 0) {
		rv = rv_close;
		op = "close";
	}
	if (rv != 0)
		return storage_errmsg_io(errmsg, tmp, op, rv);
	rv = sio_rename(io, tmp, path);
	if (rv != 0)
		return storage_errmsg_io(errmsg, tmp, "rename", rv);
	rv = sio_sync_dir(io, snap_dir);
	if (rv != 0)
		return storage_errmsg_io(errmsg, snap_dir, "fsync of directory", rv);
	return STORAGE_OK;
}

bool snap_head_encode(struct proto_snapshot_meta m, size_t want, uint8_t *head)
{
	m.pad_bytes = 0;
	size_t n = proto_snapshot_meta_size(&m);
	if (SNAP_HEADER_BYTES + n > want)
		return false;
	size_t gap = want - SNAP_HEADER_BYTES - n;
	/* A pad field costs a tag and a length byte before its zeros, and an empty one is
	 * not written at all (proto3): it takes 3 bytes or more. */
	if ((gap > 0 && gap < 3) || gap > PROTO_SNAPSHOT_PAD_MAX + 2)
		return false;
	m.pad_bytes = gap == 0 ? 0 : (uint32_t)(gap - 2);
	n = proto_snapshot_meta_encode(&m, head + SNAP_HEADER_BYTES);
	assert(SNAP_HEADER_BYTES + n == want);
	put_u32(head, SNAP_MAGIC);
	put_u32(head + 4, (uint32_t)n);
	put_u32(head + 8, snap_header_crc((uint32_t)n, head + SNAP_HEADER_BYTES));
	return true;
}

size_t snap_stream_head_bytes(const struct proto_snapshot_meta *meta)
{
	/* The meta at its largest, plus the smallest pad field. */
	struct proto_snapshot_meta m = *meta;
	m.data_size_bytes = SNAP_DATA_MAX_BYTES;
	m.data_crc32c = UINT32_MAX;
	m.pad_bytes = 0;
	size_t want = SNAP_HEADER_BYTES + proto_snapshot_meta_size(&m) + 3;
	assert(want <= SNAP_HEADER_BYTES + SNAP_META_MAX_BYTES);
	return want;
}

#define SNAP_STREAM_CHUNK ((size_t)1 << 20)

struct snap_stream {
	struct sio *io;
	int fd;
	uint64_t off; /* where the next chunk goes */
	uint64_t len; /* data bytes so far */
	uint32_t crc; /* of those */
	uint8_t *buf; /* SNAP_STREAM_CHUNK bytes gathered before a write */
	size_t n_buf;
	int rv; /* the first write's error */
};

static int stream_flush(struct snap_stream *w)
{
	if (w->rv == 0 && w->n_buf > 0) {
		w->rv = sio_pwrite(w->io, w->fd, w->buf, w->n_buf, w->off);
		w->off += w->n_buf;
	}
	w->n_buf = 0;
	return w->rv;
}

static int stream_write(void *warg, const void *data, size_t len)
{
	struct snap_stream *w = warg;
	const uint8_t *p = data;
	w->crc = crc32c(w->crc, p, len);
	w->len += len;
	while (len > 0 && w->rv == 0) {
		size_t take = SNAP_STREAM_CHUNK - w->n_buf;
		if (take > len)
			take = len;
		memcpy(w->buf + w->n_buf, p, take);
		w->n_buf += take;
		p += take;
		len -= take;
		if (w->n_buf == SNAP_STREAM_CHUNK)
			stream_flush(w);
	}
	return w->rv;
}

int snap_write_stream(struct sio *io, const char *dir, const struct snap_name *name,
                      const struct proto_snapshot_meta *meta, snap_produce_fn produce,
                      const void *arg, char *errmsg)
{
	assert(name->index == meta->index && name->term == meta->term && !name->tmp);
	char file[SIO_NAME_MAX + 1];
	char tmp[SIO_PATH_MAX];
	char path[SIO_PATH_MAX];
	struct snap_name t = *name;
	t.tmp = true;
	snap_name_format_as(file, &t);
	path_join(tmp, dir, file);
	snap_name_format_as(file, name);
	path_join(path, dir, file);

	struct proto_snapshot_meta m = *meta;
	size_t want = snap_stream_head_bytes(&m);
	uint8_t head[SNAP_HEADER_BYTES + SNAP_META_MAX_BYTES];

	struct snap_stream w = {.io = io, .off = want};
	int rv = sio_open(io, tmp, SIO_RDWR | SIO_CREATE | SIO_TRUNC, &w.fd);
	if (rv != 0)
		return storage_errmsg_io(errmsg, tmp, "open", rv);
	w.buf = xmalloc(SNAP_STREAM_CHUNK);
	int produced = produce(arg, stream_write, &w);
	rv = stream_flush(&w);
	free(w.buf);
	const char *op = "write";
	if (rv == 0 && produced != 0) {
		int rv_close = sio_close(io, w.fd);
		(void)rv_close;
		sio_unlink(io, tmp);
		return storage_errmsg_set(errmsg, STORAGE_EIO, "%s: the data's producer failed",
		                          tmp);
	}
	if (rv == 0 && (w.len == 0 || w.len > SNAP_DATA_MAX_BYTES))
		rv = -EFBIG;
	if (rv == 0) {
		m.data_size_bytes = w.len;
		m.data_crc32c = w.crc;
		bool fits = snap_head_encode(m, want, head);
		assert(fits); /* room was made for the largest size and checksum */
		(void)fits;
		rv = sio_pwrite(io, w.fd, head, want, 0);
	}
	if (rv == 0) {
		rv = sio_fsync(io, w.fd);
		op = "fsync";
	}
	int rv_close = sio_close(io, w.fd);
	if (rv == 0 && rv_close != 0) {
		rv = rv_close;
		op = "close";
	}
	if (rv == 0) {
		rv = sio_rename(io, tmp, path);
		op = "rename";
	}
	if (rv != 0) {
		sio_unlink(io, tmp);
		return storage_errmsg_io(errmsg, tmp, op, rv);
	}
	rv = sio_sync_dir(io, dir);
	if (rv != 0)
		return storage_errmsg_io(errmsg, dir, "fsync of directory", rv);
	return STORAGE_OK;
}

int snap_read(struct sio *io, const char *path, const struct snap_name *name,
              struct proto_snapshot_meta *meta, struct raft_buf **data, char *errmsg)
{
	int fd;
	int rv = sio_open(io, path, SIO_RDONLY, &fd);
	if (rv != 0)
		return storage_errmsg_io(errmsg, path, "open", rv);
	uint64_t size = 0;
	uint8_t head[SNAP_HEADER_BYTES + SNAP_META_MAX_BYTES];
	uint8_t *bytes = NULL;
	struct proto_snapshot_meta m;
	rv = sio_size(io, fd, &size);
	if (rv != 0) {
		rv = storage_errmsg_io(errmsg, path, "fstat", rv);
		goto out;
	}
	if (size < SNAP_HEADER_BYTES) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: file is %" PRIu64 " bytes, shorter than its header "
		                        "(offset 0)",
		                        path, size);
		goto out;
	}
	rv = sio_pread_exact(io, fd, head, SNAP_HEADER_BYTES, 0);
	if (rv != 0) {
		rv = storage_errmsg_io(errmsg, path, "read", rv);
		goto out;
	}
	if (get_u32(head) != SNAP_MAGIC) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: bad magic number at offset 0: not a Concord snapshot",
		                        path);
		goto out;
	}
	uint32_t n = get_u32(head + 4);
	if (n > SNAP_META_MAX_BYTES || n > size - SNAP_HEADER_BYTES) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: bad header length %u at offset 4", path, n);
		goto out;
	}
	rv = sio_pread_exact(io, fd, head + SNAP_HEADER_BYTES, n, SNAP_HEADER_BYTES);
	if (rv != 0) {
		rv = storage_errmsg_io(errmsg, path, "read", rv);
		goto out;
	}
	if (snap_header_crc(n, head + SNAP_HEADER_BYTES) != get_u32(head + 8)) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: header checksum mismatch at offset %u", path,
		                        SNAP_HEADER_BYTES);
		goto out;
	}
	rv = proto_snapshot_meta_decode(head + SNAP_HEADER_BYTES, n, &m);
	if (rv != PROTO_OK) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: header at offset %u does not decode: %s", path,
		                        SNAP_HEADER_BYTES, proto_strerror(rv));
		goto out;
	}
	uint64_t data_off = SNAP_HEADER_BYTES + (uint64_t)n;
	if (m.data_size_bytes > SNAP_DATA_MAX_BYTES || m.data_size_bytes != size - data_off) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: header says %" PRIu64
		                        " bytes of data at offset %" PRIu64
		                        " but the file holds %" PRIu64,
		                        path, m.data_size_bytes, data_off, size - data_off);
		goto out;
	}
	if (name != NULL && (m.index != name->index || m.term != name->term)) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: header at offset %u says index %" PRIu64
		                        " term %" PRIu64 ", unlike the file's name",
		                        path, SNAP_HEADER_BYTES, m.index, m.term);
		goto out;
	}
	if (m.data_size_bytes > 0) {
		/* raft.h offers no uninitialized buffer, so the data passes through a
		 * temporary copy (see docs/storage.md, "Left to do"). */
		bytes = xmalloc(m.data_size_bytes);
		rv = sio_pread_exact(io, fd, bytes, m.data_size_bytes, data_off);
		if (rv != 0) {
			rv = storage_errmsg_io(errmsg, path, "read", rv);
			goto out;
		}
	}
	if (crc32c(0, bytes, m.data_size_bytes) != m.data_crc32c) {
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                        "%s: data checksum mismatch over %" PRIu64
		                        " bytes at offset %" PRIu64,
		                        path, m.data_size_bytes, data_off);
		goto out;
	}
	*meta = m;
	*data = bytes ? raft_buf_new(bytes, m.data_size_bytes) : NULL;
	rv = STORAGE_OK;
out:
	free(bytes);
	sio_close(io, fd);
	return rv;
}
