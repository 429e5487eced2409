/* wire.c: the codecs' error table and their bounded input and output buffers. */
#include "codec/wire.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wire_error_text[] = {
#define WIRE_ERROR_TEXT_(name, text) text,
    WIRE_ERRORS(WIRE_ERROR_TEXT_)
#undef WIRE_ERROR_TEXT_
};

_Static_assert(sizeof(wire_error_text) / sizeof(wire_error_text[0]) == WIRE_ERROR_COUNT_,
               "one text per error code");

const char *wire_strerror(int err)
{
	if (err < 0 || err >= WIRE_ERROR_COUNT_) {
		return "unknown error";
	}
	return wire_error_text[err];
}

/* Smallest allocation, so that tiny appends do not realloc byte by byte. */
#define WIRE_BUF_BYTES_MIN 256

/* The capacity to grow to so that `need` bytes fit: doubling, capped at `max`. */
static size_t wire_capacity_next(size_t cap, size_t need, size_t max)
{
	assert(need <= max);
	size_t next = cap < WIRE_BUF_BYTES_MIN ? WIRE_BUF_BYTES_MIN : cap;
	while (next < need) {
		next = next > max / 2 ? max : next * 2;
	}
	if (next > max) {
		next = max;
	}
	assert(next >= need);
	return next;
}

void wire_buf_init(struct wire_buf *b, size_t max_bytes)
{
	assert(b != NULL);
	assert(max_bytes >= 1);
	assert(max_bytes <= WIRE_BUF_BYTES_LIMIT);
	*b = (struct wire_buf){.max_bytes = max_bytes};
}

void wire_buf_free(struct wire_buf *b)
{
	assert(b != NULL);
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
}

void wire_buf_reset(struct wire_buf *b)
{
	assert(b != NULL);
	b->len = 0;
	b->err = 0;
}

int wire_buf_reserve(struct wire_buf *b, size_t n)
{
	assert(b != NULL);
	assert(b->len <= b->cap);
	assert(b->len <= b->max_bytes);
	if (b->err != 0) {
		return b->err;
	}
	if (n > b->max_bytes - b->len) {
		b->err = WIRE_ELIMIT;
		return b->err;
	}
	size_t need = b->len + n;
	if (need <= b->cap) {
		return 0;
	}
	size_t cap = wire_capacity_next(b->cap, need, b->max_bytes);
	char *data = realloc(b->data, cap);
	if (data == NULL) {
		b->err = WIRE_ENOMEM;
		return b->err;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

int wire_buf_append(struct wire_buf *b, const void *data, size_t n)
{
	int rc = wire_buf_reserve(b, n);
	if (rc != 0) {
		return rc;
	}
	if (n > 0) {
		assert(data != NULL);
		memcpy(b->data + b->len, data, n);
		b->len += n;
	}
	return 0;
}

int wire_buf_append_str(struct wire_buf *b, const char *s)
{
	assert(s != NULL);
	return wire_buf_append(b, s, strlen(s));
}

int wire_buf_append_byte(struct wire_buf *b, char c)
{
	return wire_buf_append(b, &c, 1);
}

int wire_buf_append_u64(struct wire_buf *b, uint64_t v)
{
	char digits[20];
	size_t n = 0;
	do {
		assert(n < sizeof(digits));
		digits[sizeof(digits) - 1 - n] = (char)('0' + v % 10);
		n++;
		v /= 10;
	} while (v != 0);
	return wire_buf_append(b, digits + sizeof(digits) - n, n);
}

int wire_buf_append_i64(struct wire_buf *b, int64_t v)
{
	if (v >= 0) {
		return wire_buf_append_u64(b, (uint64_t)v);
	}
	int rc = wire_buf_append_byte(b, '-');
	if (rc != 0) {
		return rc;
	}
	/* The magnitude of INT64_MIN does not fit an int64_t; it does fit a uint64_t. */
	return wire_buf_append_u64(b, (uint64_t)0 - (uint64_t)v);
}

int wire_buf_vprintf(struct wire_buf *b, const char *fmt, va_list ap)
{
	assert(fmt != NULL);
	if (b->err != 0) {
		return b->err;
	}
	char small[256];
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	assert(n >= 0);
	if ((size_t)n < sizeof(small)) {
		return wire_buf_append(b, small, (size_t)n);
	}
	int rc = wire_buf_reserve(b, (size_t)n + 1);
	if (rc != 0) {
		return rc;
	}
	int m = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	assert(m == n);
	b->len += (size_t)n;
	return 0;
}

int wire_buf_printf(struct wire_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = wire_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void wire_buf_consume(struct wire_buf *b, size_t n)
{
	assert(b != NULL);
	assert(n <= b->len);
	if (n == 0) {
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* ---------------------------------------------------------------------------------- */

void wire_in_init(struct wire_in *in, size_t max_bytes)
{
	assert(in != NULL);
	assert(max_bytes >= 1);
	assert(max_bytes <= WIRE_BUF_BYTES_LIMIT);
	*in = (struct wire_in){.max_bytes = max_bytes};
}

void wire_in_free(struct wire_in *in)
{
	assert(in != NULL);
	free(in->data);
	*in = (struct wire_in){.max_bytes = in->max_bytes};
}

size_t wire_in_len(const struct wire_in *in)
{
	assert(in->start <= in->end);
	assert(in->end <= in->cap);
	return in->end - in->start;
}

size_t wire_in_compact(struct wire_in *in)
{
	size_t shift = in->start;
	if (shift == 0) {
		return 0;
	}
	size_t len = wire_in_len(in);
	if (len > 0) {
		memmove(in->data, in->data + shift, len);
	}
	in->start = 0;
	in->end = len;
	return shift;
}

/* Makes room for `want` bytes after end (assumes the caller compacted). */
static int wire_in_grow(struct wire_in *in, size_t want)
{
	assert(in->start == 0);
	assert(want <= in->max_bytes - in->end);
	size_t need = in->end + want;
	if (need <= in->cap) {
		return 0;
	}
	size_t cap = wire_capacity_next(in->cap, need, in->max_bytes);
	char *data = realloc(in->data, cap);
	if (data == NULL) {
		return WIRE_ENOMEM;
	}
	in->data = data;
	in->cap = cap;
	return 0;
}

int wire_in_space(struct wire_in *in, size_t want, char **space, size_t *space_len)
{
	assert(want >= 1);
	assert(space != NULL);
	assert(space_len != NULL);
	size_t len = wire_in_len(in);
	if (len >= in->max_bytes) {
		return WIRE_ELIMIT;
	}
	if (want > in->max_bytes - len) {
		want = in->max_bytes - len;
	}
	/* Room already at the end: no need to move anything. */
	if (in->cap - in->end < want) {
		wire_in_compact(in);
		if (in->cap - in->end < want) {
			int rc = wire_in_grow(in, want);
			if (rc != 0) {
				return rc;
			}
		}
	}
	assert(in->cap - in->end >= want);
	*space = in->data + in->end;
	*space_len = want;
	in->granted = want;
	return 0;
}

void wire_in_commit(struct wire_in *in, size_t n)
{
	assert(n <= in->granted);
	assert(in->end + n <= in->cap);
	in->end += n;
	in->granted = 0;
	assert(wire_in_len(in) <= in->max_bytes);
}

int wire_in_feed(struct wire_in *in, const void *data, size_t n)
{
	if (n == 0) {
		return 0;
	}
	assert(data != NULL);
	if (n > in->max_bytes - wire_in_len(in)) {
		return WIRE_ELIMIT;
	}
	char *space = NULL;
	size_t space_len = 0;
	int rc = wire_in_space(in, n, &space, &space_len);
	if (rc != 0) {
		return rc;
	}
	assert(space_len == n);
	memcpy(space, data, n);
	wire_in_commit(in, n);
	return 0;
}
