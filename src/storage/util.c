/* util.c: allocation, path and buffer helpers shared by the storage files. */
#include "storage/util.h"

#include <assert.h>

void path_join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, SIO_PATH_MAX, "%s/%s", dir, name);
	assert(n > 0);
	if ((size_t)n >= SIO_PATH_MAX)
		abort();
}

bool bytes_all_zero(const uint8_t *buf, size_t len)
{
	/* Word at a time over the aligned middle: recovery scans megabytes of
	 * preallocated zeros this way. */
	size_t i = 0;
	while (i < len && ((uintptr_t)(buf + i) & 7) != 0) {
		if (buf[i] != 0)
			return false;
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, buf + i, 8);
		if (w != 0)
			return false;
	}
	for (; i < len; i++)
		if (buf[i] != 0)
			return false;
	return true;
}
