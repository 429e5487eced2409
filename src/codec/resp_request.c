/* resp_request.c: the incremental RESP2 request parser (arrays of bulks, and inline commands). */
#include "codec/resp.h"
#include "codec/resp_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==================================================================================
 * Shared helpers (resp_impl.h): the request parser and the reply parser use them
 */

bool resp_parse_i64(const char *s, size_t len, int64_t *out)
{
	bool negative = false;
	size_t i = 0;
	if (len > 0 && s[0] == '-') {
		negative = true;
		i = 1;
	}
	if (i == len || len - i > 19) {
		return false;
	}
	uint64_t v = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
		v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot overflow a uint64_t */
	}
	if (negative) {
		if (v > (uint64_t)INT64_MAX + 1) {
			return false;
		}
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX) {
			return false;
		}
		*out = (int64_t)v;
	}
	return true;
}

size_t resp_find_cr(const char *s, size_t from, size_t len)
{
	if (from >= len) {
		return len;
	}
	const char *cr = memchr(s + from, '\r', len - from);
	return cr == NULL ? len : (size_t)(cr - s);
}

/* ==================================================================================
 * Request parser
 */

void resp_limits_default(struct resp_limits *lim)
{
	assert(lim != NULL);
	*lim = (struct resp_limits){
	    .args_max = 65536,
	    .bulk_bytes_max = (uint64_t)64 << 20,
	    .inline_bytes_max = 64 * 1024,
	    .buffer_bytes_max = (uint64_t)96 << 20,
	};
}

_Static_assert(RESP_ARGS_LIMIT <= SIZE_MAX / sizeof(struct resp_span_), "spans fit");
_Static_assert(RESP_BULK_BYTES_LIMIT <= RESP_BUFFER_BYTES_LIMIT, "a bulk fits a buffer");

int resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
	assert(p != NULL);
	struct resp_limits l;
	if (lim == NULL) {
		resp_limits_default(&l);
	} else {
		l = *lim;
	}
	if (l.args_max == 0 || l.args_max > RESP_ARGS_LIMIT) {
		return WIRE_EINVAL;
	}
	if (l.bulk_bytes_max == 0 || l.bulk_bytes_max > RESP_BULK_BYTES_LIMIT) {
		return WIRE_EINVAL;
	}
	if (l.inline_bytes_max == 0 || l.inline_bytes_max > RESP_INLINE_BYTES_LIMIT) {
		return WIRE_EINVAL;
	}
	if (l.buffer_bytes_max < 16 || l.buffer_bytes_max > RESP_BUFFER_BYTES_LIMIT) {
		return WIRE_EINVAL;
	}
	*p = (struct resp_parser){
	    .lim = l,
	    .args_expected = -1,
	    .bulk_len = -1,
	};
	wire_in_init(&p->in, (size_t)l.buffer_bytes_max);
	return 0;
}

void resp_parser_free(struct resp_parser *p)
{
	assert(p != NULL);
	wire_in_free(&p->in);
	free(p->spans);
	free(p->argv);
	p->spans = NULL;
	p->argv = NULL;
	p->args_cap = 0;
}

/* Drops the bytes of the command handed out last: its pointers are now invalid. */
static void resp_parser_drop(struct resp_parser *p)
{
	assert(p->consumed <= wire_in_len(&p->in));
	p->in.start += p->consumed;
	p->consumed = 0;
}

int resp_parser_feed(struct resp_parser *p, const void *data, size_t n)
{
	resp_parser_drop(p);
	return wire_in_feed(&p->in, data, n);
}

int resp_parser_space(struct resp_parser *p, size_t want, char **space, size_t *space_len)
{
	resp_parser_drop(p);
	return wire_in_space(&p->in, want, space, space_len);
}

void resp_parser_commit(struct resp_parser *p, size_t n)
{
	assert(p->consumed == 0);
	wire_in_commit(&p->in, n);
}

const char *resp_parser_errmsg(const struct resp_parser *p)
{
	return p->errmsg;
}

size_t resp_parser_buffered(const struct resp_parser *p)
{
	return wire_in_len(&p->in) - p->consumed;
}

static int resp_parser_fail(struct resp_parser *p, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int resp_parser_fail(struct resp_parser *p, int err, const char *fmt, ...)
{
	assert(err != 0);
	assert(err != WIRE_EAGAIN);
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(p->errmsg, sizeof(p->errmsg), "Protocol error: ");
	assert(n > 0);
	vsnprintf(p->errmsg + n, sizeof(p->errmsg) - (size_t)n, fmt, ap);
	va_end(ap);
	p->err = err;
	return err;
}

/* Room for one more argument. Grows by doubling, never past args_max. */
static int resp_parser_grow_args(struct resp_parser *p)
{
	assert(p->argc <= p->lim.args_max);
	if (p->argc < p->args_cap) {
		return 0;
	}
	size_t cap = p->args_cap == 0 ? 8 : p->args_cap * 2;
	if (cap > p->lim.args_max) {
		cap = p->lim.args_max;
	}
	assert(cap > p->argc);
	struct resp_span_ *spans = realloc(p->spans, cap * sizeof(*spans));
	if (spans == NULL) {
		p->err = WIRE_ENOMEM;
		return p->err;
	}
	p->spans = spans;
	struct resp_arg *argv = realloc(p->argv, cap * sizeof(*argv));
	if (argv == NULL) {
		p->err = WIRE_ENOMEM;
		return p->err;
	}
	p->argv = argv;
	p->args_cap = cap;
	return 0;
}

/* Hands out the command whose arguments are in spans, `len` bytes long from the start
 * of the buffer, and resets the state for the next command. */
static int resp_parser_emit(struct resp_parser *p, size_t len, bool is_inline, struct resp_cmd *cmd)
{
	assert(p->argc >= 1);
	assert(p->argc <= p->args_cap);
	assert(len <= wire_in_len(&p->in));
	const char *base = p->in.data + p->in.start;
	for (size_t i = 0; i < p->argc; i++) {
		assert(p->spans[i].off + p->spans[i].len <= len);
		p->argv[i] =
		    (struct resp_arg){.data = base + p->spans[i].off, .len = p->spans[i].len};
	}
	*cmd = (struct resp_cmd){.argc = p->argc, .argv = p->argv, .is_inline = is_inline};
	p->consumed = len;
	p->pos = 0;
	p->scan = 0;
	p->argc = 0;
	p->args_expected = -1;
	p->bulk_len = -1;
	return 0;
}

static bool resp_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int resp_hex_digit(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Splits the line base[0..end) into arguments the way redis-cli and Redis's inline
 * commands do (sdssplitargs): words separated by spaces; "double quotes" with \xHH,
 * \n, \r, \t, \b, \a and \<any> escapes; 'single quotes' with \' only; a closing quote
 * must be followed by a space or the end. Unquoted bytes are written in place (an
 * argument never grows when unescaped), so the arguments stay in the buffer. */
static int resp_parser_split_inline(struct resp_parser *p, char *base, size_t end)
{
	size_t i = 0;
	assert(p->argc == 0);
	for (;;) {
		while (i < end && resp_is_space(base[i])) {
			i++;
		}
		if (i == end) {
			return 0;
		}
		if (p->argc == p->lim.args_max) {
			return resp_parser_fail(p, WIRE_ELIMIT,
			                        "too many arguments in inline request");
		}
		int rc = resp_parser_grow_args(p);
		if (rc != 0) {
			return rc;
		}
		size_t w = i; /* write cursor: never ahead of i */
		size_t first = w;
		bool in_double = false;
		bool in_single = false;
		for (;;) {
			assert(w <= i);
			if (in_double) {
				if (i == end) {
					return resp_parser_fail(p, WIRE_ESYNTAX,
					                        "unbalanced quotes in request");
				}
				if (base[i] == '\\' && i + 3 < end && base[i + 1] == 'x' &&
				    resp_hex_digit(base[i + 2]) >= 0 &&
				    resp_hex_digit(base[i + 3]) >= 0) {
					base[w++] = (char)(resp_hex_digit(base[i + 2]) * 16 +
					                   resp_hex_digit(base[i + 3]));
					i += 4;
				} else if (base[i] == '\\' && i + 1 < end) {
					char c = base[i + 1];
					switch (c) {
					case 'n':
						c = '\n';
						break;
					case 'r':
						c = '\r';
						break;
					case 't':
						c = '\t';
						break;
					case 'b':
						c = '\b';
						break;
					case 'a':
						c = '\a';
						break;
					default:
						break;
					}
					base[w++] = c;
					i += 2;
				} else if (base[i] == '"') {
					if (i + 1 < end && !resp_is_space(base[i + 1])) {
						return resp_parser_fail(
						    p, WIRE_ESYNTAX,
						    "unbalanced quotes in request");
					}
					i++;
					break;
				} else {
					base[w++] = base[i++];
				}
			} else if (in_single) {
				if (i == end) {
					return resp_parser_fail(p, WIRE_ESYNTAX,
					                        "unbalanced quotes in request");
				}
				if (base[i] == '\\' && i + 1 < end && base[i + 1] == '\'') {
					base[w++] = '\'';
					i += 2;
				} else if (base[i] == '\'') {
					if (i + 1 < end && !resp_is_space(base[i + 1])) {
						return resp_parser_fail(
						    p, WIRE_ESYNTAX,
						    "unbalanced quotes in request");
					}
					i++;
					break;
				} else {
					base[w++] = base[i++];
				}
			} else {
				if (i == end || resp_is_space(base[i])) {
					break;
				}
				if (base[i] == '"') {
					in_double = true;
					i++;
				} else if (base[i] == '\'') {
					in_single = true;
					i++;
				} else {
					base[w++] = base[i++];
				}
			}
		}
		p->spans[p->argc] = (struct resp_span_){.off = first, .len = w - first};
		p->argc++;
	}
}

/* An inline command: a line at the front of the buffer. */
static int resp_parser_next_inline(struct resp_parser *p, struct resp_cmd *cmd, bool *skipped)
{
	char *base = p->in.data + p->in.start;
	size_t len = wire_in_len(&p->in);
	assert(p->scan <= len);
	const char *nl = len > p->scan ? memchr(base + p->scan, '\n', len - p->scan) : NULL;
	if (nl == NULL) {
		if (len > p->lim.inline_bytes_max) {
			return resp_parser_fail(p, WIRE_ELIMIT, "too big inline request");
		}
		p->scan = len;
		return WIRE_EAGAIN;
	}
	size_t line = (size_t)(nl - base);
	if (line > p->lim.inline_bytes_max) {
		return resp_parser_fail(p, WIRE_ELIMIT, "too big inline request");
	}
	size_t end = line > 0 && base[line - 1] == '\r' ? line - 1 : line;
	int rc = resp_parser_split_inline(p, base, end);
	if (rc != 0) {
		return rc;
	}
	if (p->argc == 0) {
		/* An empty line (or only spaces): nothing to run, as in Redis. */
		p->in.start += line + 1;
		p->scan = 0;
		*skipped = true;
		return WIRE_EAGAIN;
	}
	return resp_parser_emit(p, line + 1, true, cmd);
}

/* Reads the "<c><number>\r\n" line at p->pos. Returns 0 with *v and p->pos past the
 * line, WIRE_EAGAIN, or an error (`what` names the number in the message). */
static int resp_parser_header(struct resp_parser *p, const char *what, int64_t *v)
{
	const char *base = p->in.data + p->in.start;
	size_t len = wire_in_len(&p->in);
	size_t from = p->scan > p->pos + 1 ? p->scan : p->pos + 1;
	size_t cr = resp_find_cr(base, from, len);
	if (cr == len || cr + 1 == len) {
		if (len - p->pos > p->lim.inline_bytes_max) {
			return resp_parser_fail(p, WIRE_ELIMIT, "too big %s count string", what);
		}
		/* Resume at a trailing '\r': its '\n' may come next. */
		p->scan = cr;
		return WIRE_EAGAIN;
	}
	if (base[cr + 1] != '\n') {
		return resp_parser_fail(p, WIRE_ESYNTAX, "invalid %s length", what);
	}
	if (!resp_parse_i64(base + p->pos + 1, cr - p->pos - 1, v)) {
		return resp_parser_fail(p, WIRE_ESYNTAX, "invalid %s length", what);
	}
	p->pos = cr + 2;
	p->scan = p->pos;
	return 0;
}

/* A command sent as an array of bulk strings, resumed where the last call stopped. */
static int resp_parser_next_array(struct resp_parser *p, struct resp_cmd *cmd, bool *skipped)
{
	int rc;
	if (p->args_expected < 0) {
		assert(p->pos == 0);
		int64_t n = 0;
		rc = resp_parser_header(p, "multibulk", &n);
		if (rc != 0) {
			return rc;
		}
		if (n == 0 || n == -1) {
			/* Empty commands: Redis skips them without a reply. */
			p->in.start += p->pos;
			p->pos = 0;
			p->scan = 0;
			*skipped = true;
			return WIRE_EAGAIN;
		}
		if (n < 0 || n > (int64_t)p->lim.args_max) {
			return resp_parser_fail(p, WIRE_ESYNTAX, "invalid multibulk length");
		}
		p->args_expected = n;
	}
	while ((int64_t)p->argc < p->args_expected) {
		const char *base = p->in.data + p->in.start;
		size_t len = wire_in_len(&p->in);
		if (p->bulk_len < 0) {
			if (p->pos >= len) {
				return WIRE_EAGAIN;
			}
			if (base[p->pos] != '$') {
				unsigned char c = (unsigned char)base[p->pos];
				if (c >= 0x20 && c < 0x7f) {
					return resp_parser_fail(p, WIRE_ESYNTAX,
					                        "expected '$', got '%c'", c);
				}
				return resp_parser_fail(p, WIRE_ESYNTAX,
				                        "expected '$', got byte 0x%02x", c);
			}
			int64_t blen = 0;
			rc = resp_parser_header(p, "bulk", &blen);
			if (rc != 0) {
				return rc;
			}
			if (blen < 0 || (uint64_t)blen > p->lim.bulk_bytes_max) {
				return resp_parser_fail(p, WIRE_ESYNTAX, "invalid bulk length");
			}
			/* A command that cannot fit the buffer will never complete: say so now
			 * rather than after buffering all of it. */
			if ((uint64_t)blen + 2 > p->lim.buffer_bytes_max - p->pos) {
				return resp_parser_fail(
				    p, WIRE_ELIMIT,
				    "command larger than the %llu-byte input buffer",
				    (unsigned long long)p->lim.buffer_bytes_max);
			}
			p->bulk_len = blen;
		}
		size_t blen = (size_t)p->bulk_len;
		if (len - p->pos < blen + 2) {
			return WIRE_EAGAIN;
		}
		if (base[p->pos + blen] != '\r' || base[p->pos + blen + 1] != '\n') {
			return resp_parser_fail(p, WIRE_ESYNTAX, "expected CRLF after bulk string");
		}
		rc = resp_parser_grow_args(p);
		if (rc != 0) {
			return rc;
		}
		p->spans[p->argc] = (struct resp_span_){.off = p->pos, .len = blen};
		p->argc++;
		p->pos += blen + 2;
		p->scan = p->pos;
		p->bulk_len = -1;
	}
	return resp_parser_emit(p, p->pos, false, cmd);
}

int resp_parser_next(struct resp_parser *p, struct resp_cmd *cmd)
{
	assert(p != NULL);
	assert(cmd != NULL);
	if (p->err != 0) {
		return p->err;
	}
	resp_parser_drop(p);
	for (;;) {
		size_t len = wire_in_len(&p->in);
		if (len == 0) {
			assert(p->args_expected < 0);
			p->in.start = 0; /* nothing held: reuse the buffer from its start */
			p->in.end = 0;
			return WIRE_EAGAIN;
		}
		bool skipped = false;
		int rc;
		if (p->args_expected >= 0 || p->in.data[p->in.start] == '*') {
			rc = resp_parser_next_array(p, cmd, &skipped);
		} else {
			rc = resp_parser_next_inline(p, cmd, &skipped);
		}
		if (skipped) {
			continue;
		}
		if (rc == WIRE_EAGAIN && wire_in_len(&p->in) >= p->lim.buffer_bytes_max) {
			return resp_parser_fail(p, WIRE_ELIMIT,
			                        "command larger than the %llu-byte input buffer",
			                        (unsigned long long)p->lim.buffer_bytes_max);
		}
		return rc;
	}
}
