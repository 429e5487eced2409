/* crc32c.h: CRC-32C (Castagnoli), the checksum of every WAL record, metadata file and snapshot. */
#ifndef CONCORD_BASE_CRC32C_H
#define CONCORD_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (0 to start) over `len` bytes at `data`: crc32c(crc32c(0, a), b) equals
 * the checksum of a followed by b. crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The same, always through the portable table-driven code (for tests comparing paths). */
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif /* CONCORD_BASE_CRC32C_H */
