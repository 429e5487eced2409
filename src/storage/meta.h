/* meta.h: the data directory's `meta` file: format version, identity and hard state. */
#ifndef CONCORD_STORAGE_META_H
#define CONCORD_STORAGE_META_H

/*
 * DIR/meta holds one record: [u32 magic "CNCM"][u32 length][u32 crc32c][Meta protobuf],
 * little-endian, the checksum taken over the length field's four bytes and the payload.
 * It is replaced atomically: written whole to DIR/meta.tmp, fsync'd, renamed over
 * DIR/meta, and DIR fsync'd. A reader therefore only ever sees a complete file that was
 * durable before it got its name, so any damage to it is media corruption, never a torn
 * write, and is refused rather than papered over.
 */

#include "proto/codec.h"
#include "storage/io.h"

#define META_FILE           "meta"
#define META_TMP_FILE       "meta.tmp"
#define META_MAGIC          0x4d434e43u /* "CNCM" */
#define META_FORMAT_VERSION 1u
#define META_HEADER_BYTES   12u
#define META_FILE_MAX_BYTES 4096u

/* Reads DIR/meta into *m. Returns 0; STORAGE_ENOENT if there is no meta file;
 * STORAGE_ECORRUPT (errmsg names the file and offset); STORAGE_EFORMAT for a format version
 * this code does not know; STORAGE_EIO. */
int meta_load(struct sio *io, const char *dir, struct proto_meta *m, char *errmsg);

/* Makes *m the durable content of DIR/meta (tmp, fsync, rename, fsync DIR). On failure
 * the previous meta file is intact, and errmsg names the file and operation. */
int meta_store(struct sio *io, const char *dir, const struct proto_meta *m, char *errmsg);

/* Checks and decodes a meta file's bytes (as meta_load does after reading). */
int meta_decode(const uint8_t *buf, size_t len, const char *path, struct proto_meta *m,
                char *errmsg);

#endif /* CONCORD_STORAGE_META_H */
