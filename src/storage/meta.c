/* meta.c: reading and atomically replacing the data directory's meta file. */
#include "storage/meta.h"

#include "base/crc32c.h"
#include "storage/error.h"
#include "storage/util.h"

#include <assert.h>
#include <errno.h>

static uint32_t meta_crc(uint32_t len, const uint8_t *payload)
{
	uint8_t len_le[4];
	put_u32(len_le, len);
	return crc32c(crc32c(0, len_le, 4), payload, len);
}

int meta_decode(const uint8_t *buf, size_t len, const char *path, struct proto_meta *m,
                char *errmsg)
{
	if (len < META_HEADER_BYTES)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: file is %zu bytes, shorter than its 12-byte header "
		                          "(offset 0)",
		                          path, len);
	if (get_u32(buf) != META_MAGIC)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: bad magic number at offset 0: not a Concord meta "
		                          "file",
		                          path);
	uint32_t n = get_u32(buf + 4);
	if (n > len - META_HEADER_BYTES)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: bad length %u at offset 4: the file holds only %zu "
		                          "bytes after its header",
		                          path, n, len - META_HEADER_BYTES);
	if (n < len - META_HEADER_BYTES)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: %zu unexpected bytes after the record at offset %u",
		                          path, len - META_HEADER_BYTES - n, META_HEADER_BYTES + n);
	const uint8_t *payload = buf + META_HEADER_BYTES;
	if (meta_crc(n, payload) != get_u32(buf + 8))
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: checksum mismatch over the record at offset %u",
		                          path, META_HEADER_BYTES);
	struct proto_meta out;
	int rv = proto_meta_decode(payload, n, &out);
	if (rv != PROTO_OK)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: record at offset %u does not decode: %s", path,
		                          META_HEADER_BYTES, proto_strerror(rv));
	if (out.format_version != META_FORMAT_VERSION)
		return storage_errmsg_set(errmsg, STORAGE_EFORMAT,
		                          "%s: format version %u; this build reads version %u",
		                          path, out.format_version, META_FORMAT_VERSION);
	*m = out;
	return STORAGE_OK;
}

int meta_load(struct sio *io, const char *dir, struct proto_meta *m, char *errmsg)
{
	char path[SIO_PATH_MAX];
	path_join(path, dir, META_FILE);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = sio_read_file(io, path, META_FILE_MAX_BYTES, &buf, &len);
	if (rv == -ENOENT)
		return storage_errmsg_set(errmsg, STORAGE_ENOENT, "%s: no such file", path);
	if (rv == -EFBIG)
		return storage_errmsg_set(errmsg, STORAGE_ECORRUPT,
		                          "%s: larger than the %u bytes a meta file may hold "
		                          "(offset %u)",
		                          path, META_FILE_MAX_BYTES, META_FILE_MAX_BYTES);
	if (rv != 0)
		return storage_errmsg_io(errmsg, path, "read", rv);
	rv = meta_decode(buf, len, path, m, errmsg);
	free(buf);
	return rv;
}

int meta_store(struct sio *io, const char *dir, const struct proto_meta *m, char *errmsg)
{
	assert(m->format_version == META_FORMAT_VERSION);
	char path[SIO_PATH_MAX];
	char tmp[SIO_PATH_MAX];
	path_join(path, dir, META_FILE);
	path_join(tmp, dir, META_TMP_FILE);

	size_t n = proto_meta_size(m);
	assert(n + META_HEADER_BYTES <= META_FILE_MAX_BYTES);
	uint8_t buf[META_FILE_MAX_BYTES];
	size_t got = proto_meta_encode(m, buf + META_HEADER_BYTES);
	assert(got == n);
	put_u32(buf, META_MAGIC);
	put_u32(buf + 4, (uint32_t)n);
	put_u32(buf + 8, meta_crc((uint32_t)n, buf + META_HEADER_BYTES));

	int fd;
	int rv = sio_open(io, tmp, SIO_RDWR | SIO_CREATE | SIO_TRUNC, &fd);
	if (rv != 0)
		return storage_errmsg_io(errmsg, tmp, "open", rv);
	rv = sio_pwrite(io, fd, buf, n + META_HEADER_BYTES, 0);
	if (rv != 0) {
		sio_close(io, fd);
		return storage_errmsg_io(errmsg, tmp, "write", rv);
	}
	rv = sio_fsync(io, fd);
	if (rv != 0) {
		sio_close(io, fd);
		return storage_errmsg_io(errmsg, tmp, "fsync", rv);
	}
	rv = sio_close(io, fd);
	if (rv != 0)
		return storage_errmsg_io(errmsg, tmp, "close", rv);
	rv = sio_rename(io, tmp, path);
	if (rv != 0)
		return storage_errmsg_io(errmsg, tmp, "rename to meta", rv);
	rv = sio_sync_dir(io, dir);
	if (rv != 0)
		return storage_errmsg_io(errmsg, dir, "fsync of directory", rv);
	return STORAGE_OK;
}
