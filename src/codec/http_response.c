/* http_response.c: the HTTP/1.1 response writer (status line, header fields, whole responses). */
#include "codec/http.h"
#include "codec/http_impl.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==================================================================================
 * Responses
 */

/* The reason phrases of the status codes Concord sends or relays (RFC 9110), by code. */
static const struct {
	int status;
	const char *reason;
} status_reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {507, "Insufficient Storage"},
};

const char *http_status_reason(int status)
{
	for (size_t i = 0; i < sizeof(status_reasons) / sizeof(status_reasons[0]); i++)
		if (status_reasons[i].status == status)
			return status_reasons[i].reason;
	return "Unknown";
}

int http_write_status_line(struct wire_buf *b, int status)
{
	assert(status >= 100);
	assert(status <= 999);
	return wire_buf_printf(b, "HTTP/1.1 %d %s\r\n", status, http_status_reason(status));
}

static bool http_value_is_safe(const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
			return false;
		}
	}
	return true;
}

int http_write_header(struct wire_buf *b, const char *name, const char *value, size_t value_len)
{
	assert(name != NULL);
	assert(http_is_token(name, strlen(name)));
	if (!http_value_is_safe(value, value_len)) {
		return WIRE_EINVAL;
	}
	wire_buf_append_str(b, name);
	wire_buf_append(b, ": ", 2);
	wire_buf_append(b, value, value_len);
	return wire_buf_append(b, "\r\n", 2);
}

int http_write_header_u64(struct wire_buf *b, const char *name, uint64_t value)
{
	assert(http_is_token(name, strlen(name)));
	wire_buf_append_str(b, name);
	wire_buf_append(b, ": ", 2);
	wire_buf_append_u64(b, value);
	return wire_buf_append(b, "\r\n", 2);
}

int http_write_end_head(struct wire_buf *b)
{
	return wire_buf_append(b, "\r\n", 2);
}

int http_write_continue(struct wire_buf *b)
{
	return wire_buf_append_str(b, "HTTP/1.1 100 Continue\r\n\r\n");
}

int http_write_response(struct wire_buf *b, const struct http_response *resp)
{
	assert(resp != NULL);
	assert(resp->body != NULL || resp->body_len == 0);
	for (size_t i = 0; i < resp->extra_count; i++) {
		const struct http_header *h = &resp->extra[i];
		if (!http_is_token(h->name, h->name_len) ||
		    !http_value_is_safe(h->value, h->value_len)) {
			return WIRE_EINVAL;
		}
	}
	if (resp->content_type != NULL &&
	    !http_value_is_safe(resp->content_type, strlen(resp->content_type))) {
		return WIRE_EINVAL;
	}
	http_write_status_line(b, resp->status);
	if (resp->content_type != NULL) {
		http_write_header(b, "Content-Type", resp->content_type,
		                  strlen(resp->content_type));
	}
	http_write_header_u64(b, "Content-Length", resp->body_len);
	const char *conn = resp->close ? "close" : "keep-alive";
	http_write_header(b, "Connection", conn, strlen(conn));
	for (size_t i = 0; i < resp->extra_count; i++) {
		const struct http_header *h = &resp->extra[i];
		wire_buf_append(b, h->name, h->name_len);
		wire_buf_append(b, ": ", 2);
		wire_buf_append(b, h->value, h->value_len);
		wire_buf_append(b, "\r\n", 2);
	}
	int rc = http_write_end_head(b);
	if (!resp->head_only) {
		rc = wire_buf_append(b, resp->body, resp->body_len);
	}
	return rc;
}
