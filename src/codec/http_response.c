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

const char *http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
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
		if (!http_is_token(h->name, h->name_len) || !http_value_is_safe(h->value, h->value_len)) {
			return WIRE_EINVAL;
		}
	}
	if (resp->content_type != NULL &&
	    !http_value_is_safe(resp->content_type, strlen(resp->content_type))) {
		return WIRE_EINVAL;
	}
	http_write_status_line(b, resp->status);
	if (resp->content_type != NULL) {
		http_write_header(b, "Content-Type", resp->content_type, strlen(resp->content_type));
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
