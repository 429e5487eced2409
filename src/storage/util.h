/* util.h: little-endian fields, paths and allocation helpers shared by the storage files. */
#ifndef CONCORD_STORAGE_UTIL_H
#define CONCORD_STORAGE_UTIL_H

#include "storage/io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Joins dir and name into out[SIO_PATH_MAX]; aborts if the result would not fit (the
 * directory path was checked against the limit when storage opened). */
void path_join(char *out, const char *dir, const char *name);

/* True if every byte of buf[0, len) is zero. */
bool bytes_all_zero(const uint8_t *buf, size_t len);

#endif /* CONCORD_STORAGE_UTIL_H */
