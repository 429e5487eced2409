/* resp_util.c: the RESP frontend's argument parsing and error replies. */
#include "server/resp_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool arg_is(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);
	return a->len == n && strncasecmp(a->data, s, n) == 0;
}

/* A decimal int64 as Redis accepts it: optional '-', digits, no spaces, no '+'. */
bool arg_i64(const struct resp_arg *a, int64_t *out)
{
	if (a->len == 0 || a->len > 20)
		return false;
	char buf[24];
	memcpy(buf, a->data, a->len);
	buf[a->len] = '\0';
	if (buf[0] == '+' || buf[0] == ' ' || (buf[0] == '-' && buf[1] == '\0'))
		return false;
	if (a->len > 1 && buf[0] == '0')
		return false;
	if (a->len > 2 && buf[0] == '-' && buf[1] == '0')
		return false;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno != 0 || end != buf + a->len)
		return false;
	*out = v;
	return true;
}

bool arg_u64(const struct resp_arg *a, uint64_t *out)
{
	if (a->len == 0 || a->len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < a->len; i++) {
		char ch = a->data[i];
		if (ch < '0' || ch > '9')
			return false;
		uint64_t d = (uint64_t)(ch - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool arg_double(const struct resp_arg *a, double *out)
{
	if (a->len == 0 || a->len > 30)
		return false;
	char buf[32];
	memcpy(buf, a->data, a->len);
	buf[a->len] = '\0';
	char *end = NULL;
	double v = strtod(buf, &end);
	if (end != buf + a->len)
		return false;
	*out = v;
	return true;
}

void reply_errorf(struct wire_buf *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp_write_error(out, msg, strlen(msg));
}

void reply_error(struct wire_buf *out, const char *msg)
{
	resp_write_error(out, msg, strlen(msg));
}

void reply_bulk_str(struct wire_buf *out, const char *s)
{
	resp_write_bulk(out, s, strlen(s));
}

void lower_name(const struct resp_arg *a, char *buf, size_t cap)
{
	size_t n = a->len < cap - 1 ? a->len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		char ch = a->data[i];
		buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		if ((unsigned char)buf[i] < 0x20 || buf[i] == '\'')
			buf[i] = '?';
	}
	buf[n] = '\0';
}

void reply_wrong_args(struct wire_buf *out, const struct resp_arg *name)
{
	char lname[64];
	lower_name(name, lname, sizeof(lname));
	reply_errorf(out, "ERR wrong number of arguments for '%s' command", lname);
}

void reply_syntax(struct wire_buf *out)
{
	reply_error(out, "ERR syntax error");
}

void reply_not_int(struct wire_buf *out)
{
	reply_error(out, "ERR value is not an integer or out of range");
}

void write_kv_error(struct wire_buf *out, const struct server *sv, int code, uint64_t client_id,
                    uint64_t seq)
{
	switch (code) {
	case KV_ENOTINT:
		reply_not_int(out);
		break;
	case KV_EOVERFLOW:
		reply_error(out, "ERR increment or decrement would overflow");
		break;
	case KV_EKEYTOOBIG:
		reply_errorf(out, "ERR key too large (limit %u bytes)", sv->limits.key_bytes_max);
		break;
	case KV_EVALUETOOBIG:
		reply_errorf(out, "ERR value too large (limit %u bytes)",
		             sv->limits.value_bytes_max);
		break;
	case KV_ETOOMANY:
		reply_errorf(out, "ERR too many keys (limit %u)", sv->limits.keys_per_cmd_max);
		break;
	case KV_ESTALE:
		reply_errorf(out,
		             "STALE sequence %" PRIu64
		             " is older than the last one session %" PRIu64 " applied",
		             seq, client_id);
		break;
	case KV_ESESSION:
		reply_errorf(out,
		             "SESSION session %" PRIu64 " expired or unknown; the outcome of "
		             "earlier writes is unknown",
		             client_id);
		break;
	default:
		reply_errorf(out, "ERR %s", kv_strerror(code));
		break;
	}
}

/* Up to cap-1 bytes of an argument, as printable text for an error message. */
static void arg_printable(const struct resp_arg *a, char *buf, size_t cap)
{
	size_t n = a->len < cap - 1 ? a->len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a->data[i];
		buf[i] = ch < 0x20 || ch == 0x7f || ch == '\'' ? '?' : (char)ch;
	}
	buf[n] = '\0';
}

void reply_unknown(struct wire_buf *out, size_t argc, const struct resp_arg *argv)
{
	char msg[400];
	char name[64];
	arg_printable(&argv[0], name, sizeof(name));
	int len = snprintf(msg, sizeof(msg),
	                   "ERR unknown command '%s', with args beginning with: ", name);
	for (size_t i = 1; i < argc && len < 300; i++) {
		char a[40];
		arg_printable(&argv[i], a, sizeof(a));
		len += snprintf(msg + len, sizeof(msg) - (size_t)len, "'%s' ", a);
	}
	reply_error(out, msg);
}
