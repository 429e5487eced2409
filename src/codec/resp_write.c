/* resp_write.c: the RESP2 and RESP3 reply writer, and the Redis Cluster key slot. */
#include "codec/resp.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==================================================================================
 * Reply writer
 */

/* Appends "<type><s>\r\n" with CR and LF in s replaced by spaces. */
static int resp_write_line(struct wire_buf *b, char type, const char *s, size_t len)
{
	int rc = wire_buf_reserve(b, len + 3);
	if (rc != 0) {
		return rc;
	}
	b->data[b->len++] = type;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		b->data[b->len++] = c == '\r' || c == '\n' ? ' ' : c;
	}
	b->data[b->len++] = '\r';
	b->data[b->len++] = '\n';
	return 0;
}

int resp_write_simple(struct wire_buf *b, const char *s, size_t len)
{
	return resp_write_line(b, '+', s, len);
}

int resp_write_ok(struct wire_buf *b)
{
	return wire_buf_append(b, "+OK\r\n", 5);
}

int resp_write_error(struct wire_buf *b, const char *msg, size_t len)
{
	return resp_write_line(b, '-', msg, len);
}

int resp_write_errorf(struct wire_buf *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	assert(n >= 0);
	size_t len = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
	return resp_write_error(b, msg, len);
}

/* Appends "<type><v>\r\n". */
static int resp_write_number(struct wire_buf *b, char type, int64_t v)
{
	wire_buf_append_byte(b, type);
	wire_buf_append_i64(b, v);
	return wire_buf_append(b, "\r\n", 2);
}

int resp_write_integer(struct wire_buf *b, int64_t v)
{
	return resp_write_number(b, ':', v);
}

int resp_write_bulk(struct wire_buf *b, const void *data, size_t len)
{
	wire_buf_append_byte(b, '$');
	wire_buf_append_u64(b, len);
	wire_buf_append(b, "\r\n", 2);
	wire_buf_append(b, data, len);
	return wire_buf_append(b, "\r\n", 2);
}

int resp_write_null(struct wire_buf *b)
{
	return wire_buf_append(b, "$-1\r\n", 5);
}

int resp_write_array(struct wire_buf *b, size_t n)
{
	wire_buf_append_byte(b, '*');
	wire_buf_append_u64(b, n);
	return wire_buf_append(b, "\r\n", 2);
}

int resp_write_null_array(struct wire_buf *b)
{
	return wire_buf_append(b, "*-1\r\n", 5);
}

int resp_write_nil(struct wire_buf *b, int proto)
{
	return proto == RESP_PROTO_3 ? wire_buf_append(b, "_\r\n", 3) : resp_write_null(b);
}

int resp_write_nil_array(struct wire_buf *b, int proto)
{
	return proto == RESP_PROTO_3 ? wire_buf_append(b, "_\r\n", 3) : resp_write_null_array(b);
}

int resp_write_map(struct wire_buf *b, size_t n, int proto)
{
	if (proto != RESP_PROTO_3)
		return resp_write_array(b, 2 * n);
	wire_buf_append_byte(b, '%');
	wire_buf_append_u64(b, n);
	return wire_buf_append(b, "\r\n", 2);
}

int resp_write_double(struct wire_buf *b, double v, int proto)
{
	char text[64];
	int n;
	if (isnan(v)) {
		n = snprintf(text, sizeof(text), "nan");
	} else if (isinf(v)) {
		n = snprintf(text, sizeof(text), v > 0 ? "inf" : "-inf");
	} else {
		n = snprintf(text, sizeof(text), "%.15g", v);
		if (strtod(text, NULL) != v)
			n = snprintf(text, sizeof(text), "%.17g", v);
	}
	assert(n > 0 && (size_t)n < sizeof(text));
	if (proto != RESP_PROTO_3)
		return resp_write_bulk(b, text, (size_t)n);
	return resp_write_line(b, ',', text, (size_t)n);
}

int resp_write_bool(struct wire_buf *b, bool v, int proto)
{
	if (proto != RESP_PROTO_3)
		return resp_write_integer(b, v ? 1 : 0);
	return wire_buf_append(b, v ? "#t\r\n" : "#f\r\n", 4);
}

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection, as Redis
 * Cluster uses. Bit by bit: keys are short and this runs once per redirection. */
static uint16_t resp_crc16(const unsigned char *s, size_t len)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(s[i] << 8);
		for (int bit = 0; bit < 8; bit++) {
			crc = (crc & 0x8000) != 0 ? (uint16_t)(crc << 1 ^ 0x1021)
			                          : (uint16_t)(crc << 1);
		}
	}
	return crc;
}

unsigned resp_key_slot(const void *key, size_t len)
{
	const unsigned char *s = key;
	assert(s != NULL || len == 0);
	const unsigned char *open = len > 0 ? memchr(s, '{', len) : NULL;
	if (open != NULL) {
		size_t from = (size_t)(open - s) + 1;
		const unsigned char *close = memchr(s + from, '}', len - from);
		if (close != NULL && close > s + from) {
			return resp_crc16(s + from, (size_t)(close - s) - from) & 16383u;
		}
	}
	return resp_crc16(s, len) & 16383u;
}
