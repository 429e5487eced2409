/* resp_reply.c: the RESP2 reply parser (a reply stream into trees), for the client library. */
#include "codec/resp.h"
#include "codec/resp_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==================================================================================
 * Reply parser
 *
 * Each call parses the reply at the front of the buffer from its first byte, twice: a
 * first walk checks it is complete and well formed and counts its values, a second
 * builds the tree into an array of exactly that many nodes. Re-parsing from the start
 * keeps the state trivial; `need` (the least length at which the reply could be
 * complete) keeps a large bulk fed in small pieces from being re-walked on every piece.
 */

void resp_reader_limits_default(struct resp_reader_limits *lim)
{
	assert(lim != NULL);
	*lim = (struct resp_reader_limits){
	    .depth_max = 16,
	    .values_max = 1u << 20,
	    .bulk_bytes_max = RESP_BULK_BYTES_LIMIT,
	    .line_bytes_max = 64 * 1024,
	    .buffer_bytes_max = WIRE_BUF_BYTES_LIMIT,
	};
}

int resp_reader_init(struct resp_reader *r, const struct resp_reader_limits *lim)
{
	assert(r != NULL);
	struct resp_reader_limits l;
	if (lim == NULL) {
		resp_reader_limits_default(&l);
	} else {
		l = *lim;
	}
	if (l.depth_max == 0 || l.depth_max > RESP_DEPTH_LIMIT) {
		return WIRE_EINVAL;
	}
	if (l.values_max == 0 || l.values_max > (1u << 24)) {
		return WIRE_EINVAL;
	}
	if (l.bulk_bytes_max == 0 || l.bulk_bytes_max > RESP_BULK_BYTES_LIMIT) {
		return WIRE_EINVAL;
	}
	if (l.line_bytes_max == 0 || l.buffer_bytes_max < 16 ||
	    l.buffer_bytes_max > WIRE_BUF_BYTES_LIMIT) {
		return WIRE_EINVAL;
	}
	*r = (struct resp_reader){.lim = l};
	wire_in_init(&r->in, (size_t)l.buffer_bytes_max);
	return 0;
}

void resp_reader_free(struct resp_reader *r)
{
	assert(r != NULL);
	wire_in_free(&r->in);
	free(r->values);
	r->values = NULL;
	r->values_cap = 0;
}

static void resp_reader_drop(struct resp_reader *r)
{
	assert(r->consumed <= wire_in_len(&r->in));
	r->in.start += r->consumed;
	r->consumed = 0;
}

int resp_reader_feed(struct resp_reader *r, const void *data, size_t n)
{
	resp_reader_drop(r);
	return wire_in_feed(&r->in, data, n);
}

int resp_reader_space(struct resp_reader *r, size_t want, char **space, size_t *space_len)
{
	resp_reader_drop(r);
	return wire_in_space(&r->in, want, space, space_len);
}

void resp_reader_commit(struct resp_reader *r, size_t n)
{
	assert(r->consumed == 0);
	wire_in_commit(&r->in, n);
}

const char *resp_reader_errmsg(const struct resp_reader *r)
{
	return r->errmsg;
}

static int resp_reader_fail(struct resp_reader *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int resp_reader_fail(struct resp_reader *r, int err, const char *fmt, ...)
{
	assert(err != 0);
	assert(err != WIRE_EAGAIN);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
	r->err = err;
	return err;
}

/* One walk over the reply at the front of the buffer. */
struct resp_walk {
	const char *base;
	size_t len;
	size_t pos;
	size_t count; /* values seen (first walk) */
	size_t need;  /* on WIRE_EAGAIN: the least buffer length that could complete it */
	bool build;   /* second walk: fill nodes */
};

/* The line at w->pos (after its type byte) up to "\r\n": its offset and length. */
static int resp_walk_line(struct resp_reader *r, struct resp_walk *w, size_t *off, size_t *n)
{
	size_t from = w->pos + 1;
	size_t cr = resp_find_cr(w->base, from, w->len);
	if (cr == w->len || cr + 1 == w->len) {
		if (w->len - from > r->lim.line_bytes_max) {
			return resp_reader_fail(r, WIRE_ELIMIT, "reply line longer than %u bytes",
			                        r->lim.line_bytes_max);
		}
		w->need = w->len + 1;
		return WIRE_EAGAIN;
	}
	if (cr - from > r->lim.line_bytes_max) {
		return resp_reader_fail(r, WIRE_ELIMIT, "reply line longer than %u bytes",
		                        r->lim.line_bytes_max);
	}
	if (w->base[cr + 1] != '\n') {
		return resp_reader_fail(r, WIRE_ESYNTAX, "CR without LF at offset %zu", cr);
	}
	*off = from;
	*n = cr - from;
	w->pos = cr + 2;
	return 0;
}

static int resp_walk_value(struct resp_reader *r, struct resp_walk *w, uint32_t depth,
                           struct resp_value *out)
{
	if (w->pos >= w->len) {
		w->need = w->len + 1;
		return WIRE_EAGAIN;
	}
	if (!w->build) {
		if (w->count == r->lim.values_max) {
			return resp_reader_fail(r, WIRE_ELIMIT, "reply holds more than %u values",
			                        r->lim.values_max);
		}
		w->count++;
	}
	char type = w->base[w->pos];
	size_t off = 0;
	size_t n = 0;
	int64_t v = 0;
	int rc;
	switch (type) {
	case '+':
	case '-':
		rc = resp_walk_line(r, w, &off, &n);
		if (rc != 0) {
			return rc;
		}
		if (w->build) {
			*out = (struct resp_value){.type = type == '+' ? RESP_SIMPLE : RESP_ERROR,
			                           .str = w->base + off,
			                           .len = n};
		}
		return 0;
	case ':':
		rc = resp_walk_line(r, w, &off, &n);
		if (rc != 0) {
			return rc;
		}
		if (!resp_parse_i64(w->base + off, n, &v)) {
			return resp_reader_fail(r, WIRE_ESYNTAX, "invalid integer reply");
		}
		if (w->build) {
			*out = (struct resp_value){.type = RESP_INTEGER, .integer = v};
		}
		return 0;
	case '$':
		rc = resp_walk_line(r, w, &off, &n);
		if (rc != 0) {
			return rc;
		}
		if (!resp_parse_i64(w->base + off, n, &v) || v < -1) {
			return resp_reader_fail(r, WIRE_ESYNTAX, "invalid bulk length");
		}
		if (v == -1) {
			if (w->build) {
				*out = (struct resp_value){.type = RESP_NULL};
			}
			return 0;
		}
		if ((uint64_t)v > r->lim.bulk_bytes_max) {
			return resp_reader_fail(
			    r, WIRE_ELIMIT, "bulk of %lld bytes is over the limit", (long long)v);
		}
		if ((uint64_t)v + 2 > r->lim.buffer_bytes_max - w->pos) {
			return resp_reader_fail(r, WIRE_ELIMIT,
			                        "reply larger than the input buffer");
		}
		if (w->len - w->pos < (size_t)v + 2) {
			w->need = w->pos + (size_t)v + 2;
			return WIRE_EAGAIN;
		}
		if (w->base[w->pos + (size_t)v] != '\r' ||
		    w->base[w->pos + (size_t)v + 1] != '\n') {
			return resp_reader_fail(r, WIRE_ESYNTAX, "expected CRLF after bulk string");
		}
		if (w->build) {
			*out = (struct resp_value){
			    .type = RESP_BULK, .str = w->base + w->pos, .len = (size_t)v};
		}
		w->pos += (size_t)v + 2;
		return 0;
	case '*':
		rc = resp_walk_line(r, w, &off, &n);
		if (rc != 0) {
			return rc;
		}
		if (!resp_parse_i64(w->base + off, n, &v) || v < -1) {
			return resp_reader_fail(r, WIRE_ESYNTAX, "invalid multibulk length");
		}
		if (v == -1) {
			if (w->build) {
				*out = (struct resp_value){.type = RESP_NULL_ARRAY};
			}
			return 0;
		}
		if ((uint64_t)v > r->lim.values_max) {
			return resp_reader_fail(
			    r, WIRE_ELIMIT, "array of %lld values is over the limit", (long long)v);
		}
		if (depth == r->lim.depth_max) {
			return resp_reader_fail(
			    r, WIRE_EDEPTH, "reply nested deeper than %u arrays", r->lim.depth_max);
		}
		struct resp_value *elems = NULL;
		if (w->build) {
			assert(r->values_used + (size_t)v <= r->values_cap);
			elems = r->values + r->values_used;
			r->values_used += (size_t)v;
			*out =
			    (struct resp_value){.type = RESP_ARRAY, .elems = elems, .n = (size_t)v};
		}
		for (size_t i = 0; i < (size_t)v; i++) {
			rc = resp_walk_value(r, w, depth + 1, w->build ? &elems[i] : NULL);
			if (rc != 0) {
				return rc;
			}
		}
		return 0;
	default:
		return resp_reader_fail(r, WIRE_ESYNTAX, "unknown reply type byte 0x%02x",
		                        (unsigned char)type);
	}
}

int resp_reader_next(struct resp_reader *r, const struct resp_value **out)
{
	assert(r != NULL);
	assert(out != NULL);
	if (r->err != 0) {
		return r->err;
	}
	resp_reader_drop(r);
	size_t len = wire_in_len(&r->in);
	if (len == 0) {
		r->in.start = 0;
		r->in.end = 0;
		r->need = 0;
		return WIRE_EAGAIN;
	}
	if (len < r->need) {
		return WIRE_EAGAIN;
	}
	struct resp_walk w = {.base = r->in.data + r->in.start, .len = len};
	int rc = resp_walk_value(r, &w, 0, NULL);
	if (rc == WIRE_EAGAIN) {
		assert(w.need > len);
		r->need = w.need;
		if (len >= r->lim.buffer_bytes_max) {
			return resp_reader_fail(r, WIRE_ELIMIT,
			                        "reply larger than the input buffer");
		}
		return rc;
	}
	if (rc != 0) {
		return rc;
	}
	size_t end = w.pos;
	size_t count = w.count;
	assert(count >= 1);
	if (count > r->values_cap) {
		struct resp_value *values = realloc(r->values, count * sizeof(*values));
		if (values == NULL) {
			r->err = WIRE_ENOMEM;
			return r->err;
		}
		r->values = values;
		r->values_cap = count;
	}
	r->values_used = 1;
	w = (struct resp_walk){.base = r->in.data + r->in.start, .len = len, .build = true};
	rc = resp_walk_value(r, &w, 0, &r->values[0]);
	assert(rc == 0);
	assert(w.pos == end);
	assert(r->values_used == count);
	r->consumed = end;
	r->need = 0;
	*out = &r->values[0];
	return 0;
}
