/* fuzz_walscan.c: libFuzzer target for one WAL segment's scanner (src/storage/wal.c),
 * the torn-or-damaged judgement included, on raw bytes.
 *
 * Input: [u8 flags][segment bytes]. Flag bit 0: scan as a closed segment (its name
 * promising entries first..last, from the next two flag-derived values), else as the
 * newest open segment, where an interrupted write may end it. Checks: the scan never
 * reads past the input (the sanitizers), delivered records have consecutive indexes,
 * the outputs describe them (first, last, count, end offset within the input), a refusal
 * names the file and an offset, and the same bytes give the same verdict twice. */
#include "storage/error.h"
#include "storage/wal.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint64_t n;
	raft_index last;
	bool gap;
};

static int on_record(void *ctx, struct raft_entry *e, uint64_t offset, char *errmsg)
{
	struct seen *s = ctx;
	(void)offset;
	(void)errmsg;
	if (s->n > 0 && e->index != s->last + 1)
		s->gap = true;
	s->last = e->index;
	s->n++;
	raft_buf_unref(e->buf);
	return STORAGE_OK;
}

static int scan_once(const uint8_t *buf, size_t len, uint8_t flags, struct wal_scan *out,
                     struct seen *seen, char *errmsg)
{
	memset(seen, 0, sizeof(*seen));
	struct wal_scan s = {
	    .path = "d/wal/seg",
	    .buf = buf,
	    .len = len,
	    .closed = (flags & 1) != 0,
	    .first = 1 + ((flags >> 1) & 7),
	    .last = 1 + ((flags >> 1) & 7) + ((flags >> 4) & 15),
	    .allow_torn = (flags & 1) == 0,
	    .on_record = on_record,
	    .ctx = seen,
	};
	int rv = wal_scan_segment(&s, errmsg);
	*out = s;
	return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	/* A copy of exactly the segment's length, so that any overread is caught. */
	size_t len = size - 1;
	uint8_t *buf = malloc(len > 0 ? len : 1);
	assert(buf != NULL);
	memcpy(buf, data + 1, len);
	struct wal_scan a, b;
	struct seen sa, sb;
	char ea[STORAGE_ERRMSG_SIZE], eb[STORAGE_ERRMSG_SIZE];
	int ra = scan_once(buf, len, flags, &a, &sa, ea);
	int rb = scan_once(buf, len, flags, &b, &sb, eb);
	assert(ra == rb);
	assert(ra == STORAGE_OK || ra == STORAGE_ECORRUPT);
	if (ra == STORAGE_OK) {
		assert(!sa.gap);
		assert(a.n_records == sa.n);
		assert(a.end_offset <= len);
		assert(a.n_records == 0 || (a.first_index != 0 && a.last_index == sa.last &&
		                            a.last_index - a.first_index + 1 == a.n_records));
		if (a.closed)
			assert(a.n_records > 0 && a.first_index == a.first &&
			       a.last_index == a.last);
		assert(a.end == b.end && a.end_offset == b.end_offset &&
		       a.tail_bytes == b.tail_bytes);
	} else {
		assert(strstr(ea, "d/wal/seg") != NULL);
		assert(strstr(ea, "offset") != NULL);
		assert(strcmp(ea, eb) == 0);
	}
	free(buf);
	return 0;
}
