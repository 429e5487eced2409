/* http.h: HTTP/1.1: an incremental request parser (pipelining, keep-alive, limits) and a response
 * writer. */
#ifndef CONCORD_SERVER_HTTP_H
#define CONCORD_SERVER_HTTP_H

/*
 * Requests. struct http_parser takes bytes as they arrive, split anywhere, and hands
 * out one complete request (request line, headers and a Content-Length body) per
 * http_parser_next call; several requests may sit back to back in the buffer
 * (pipelining). It does what the server needs and refuses the rest clearly:
 *
 * - Request line "METHOD SP target SP HTTP/1.x". The target is origin-form ("/path?q")
 *   or "*" (OPTIONS). Its path is percent-decoded into binary-safe bytes (%2F is a '/'
 *   byte, %00 a NUL; '+' stays '+'; no dot-segment removal); the query string is kept
 *   raw, for http_query_get. A bad %-escape is 400.
 * - HTTP/1.0 and HTTP/1.1; any other version is 505. Keep-alive: HTTP/1.1 keeps the
 *   connection unless "Connection: close"; HTTP/1.0 closes it unless
 *   "Connection: keep-alive".
 * - Bodies by Content-Length only. Transfer-Encoding chunked is 411 (send a length),
 *   any other transfer coding 501; conflicting Content-Lengths are 400. "Expect:
 *   100-continue" is honoured (http_parser_continue), any other expectation is 417.
 * - Limits: a request line longer than request_line_bytes_max is 414, a header section
 *   longer than header_bytes_max or with more than headers_max fields 431, a declared
 *   body longer than body_bytes_max 413 (said as soon as the headers are in). Anything
 *   malformed is 400. Host is not required.
 *
 * After an error the parser is stuck: the server writes a response with the status of
 * http_parser_status (a JSON body from http_parser_errmsg), "Connection: close", and
 * closes the connection once it is sent.
 */

#include "codec/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_limits {
	uint32_t request_line_bytes_max; /* method, target and version */
	uint32_t header_bytes_max;       /* the whole head: request line and header fields */
	uint32_t headers_max;            /* header fields */
	uint64_t body_bytes_max;         /* Content-Length */
};

/* Ceilings no configuration may exceed. */
#define HTTP_HEADER_BYTES_LIMIT (1u << 20)
#define HTTP_HEADERS_LIMIT      1024u
#define HTTP_BODY_BYTES_LIMIT   ((uint64_t)512 << 20)

/* Defaults: 8 KiB request line, 32 KiB head, 64 header fields, 16 MiB body. */
void http_limits_default(struct http_limits *lim);

enum http_method {
	HTTP_METHOD_OTHER = 0, /* anything else: see method/method_len */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_PATCH,
};

struct http_header {
	const char *name; /* as sent; compare case-insensitively */
	size_t name_len;
	const char *value; /* surrounding spaces and tabs removed */
	size_t value_len;
};

/* One request. Every pointer is into the parser and valid until the next call on it;
 * no string is NUL-terminated. */
struct http_request {
	enum http_method method;
	const char *method_name; /* as sent, e.g. "GET" */
	size_t method_len;
	const char *target; /* raw, e.g. "/v1/kv/a%2Fb?rev=3" */
	size_t target_len;
	const char *path; /* percent-decoded, any bytes, e.g. "/v1/kv/a/b" */
	size_t path_len;
	const char *query; /* raw, after '?' (without it); query_len 0 if none */
	size_t query_len;
	int version_minor; /* HTTP/1.<version_minor>: 0 or 1 */
	bool keep_alive;   /* the connection stays open after the response */
	const struct http_header *headers;
	size_t header_count;
	const char *body; /* Content-Length bytes (body_len 0: none) */
	size_t body_len;
};

/* Internal: a header field as offsets from the request's first byte. */
struct http_span_ {
	uint32_t name_off;
	uint32_t name_len;
	uint32_t value_off;
	uint32_t value_len;
};

struct http_parser {
	struct http_limits lim;
	struct wire_in in;
	size_t consumed; /* length of the request handed out last */
	size_t scan;     /* bytes searched for the end of the head so far */
	size_t head_len; /* 0 until the whole head is in and parsed */
	uint64_t body_len;
	size_t line_len; /* length of the request line once its end was seen, else 0 */
	/* The parsed head, as offsets from the request's first byte, kept while the body
	 * arrives (the buffer may move meanwhile). */
	enum http_method method;
	uint32_t method_len, target_off, target_len, query_off, query_len;
	int version_minor;
	bool keep_alive;
	bool continue_due;           /* Expect: 100-continue seen, not yet reported */
	struct http_span_ *spans;    /* headers_max of them */
	struct http_header *headers; /* headers_max of them, handed out */
	size_t header_count;
	char *path; /* the decoded path, request_line_bytes_max bytes allocated */
	size_t path_len;
	int err;
	int status; /* for the error: 400, 411, 413, 414, 417, 431, 501, 505 */
	char errmsg[WIRE_ERRMSG_SIZE];
};

/* A parser with the given limits (NULL: the defaults). Returns 0, WIRE_EINVAL (a limit
 * is 0 or above its ceiling, or the request line limit exceeds the head limit) or
 * WIRE_ENOMEM; on error nothing is left to free. */
int http_parser_init(struct http_parser *p, const struct http_limits *lim);
void http_parser_free(struct http_parser *p);

/* Input, as for the RESP parser (resp.h): feed copies; space/commit let a socket read
 * straight into the buffer. The buffer holds at most one request's head plus body
 * (header_bytes_max + body_bytes_max) unconsumed; call http_parser_next until
 * WIRE_EAGAIN before feeding more. */
int http_parser_feed(struct http_parser *p, const void *data, size_t n);
int http_parser_space(struct http_parser *p, size_t want, char **space, size_t *space_len);
void http_parser_commit(struct http_parser *p, size_t n);

/* The next complete request: 0 with *req filled (valid until the next call on the
 * parser), WIRE_EAGAIN, or a sticky error: WIRE_ESYNTAX, WIRE_ELIMIT, WIRE_EUNSUPPORTED
 * or WIRE_ENOMEM, with http_parser_status and http_parser_errmsg set. */
int http_parser_next(struct http_parser *p, struct http_request *req);

/* True once, when the head of a request with "Expect: 100-continue" is in and its body
 * is not: the server then writes http_write_continue so the client sends the body. */
bool http_parser_continue(struct http_parser *p);

/* The status to answer the error with (0 if none) and a sentence saying why. */
int http_parser_status(const struct http_parser *p);
const char *http_parser_errmsg(const struct http_parser *p);

/* The first header field named `name` (case-insensitive), or NULL. */
const struct http_header *http_request_header(const struct http_request *req, const char *name);

/* ----------------------------------------------------------------------------------
 * Percent-decoding and query strings
 */

/* Decodes in[0..len) into out (room for out_cap bytes; len bytes always suffice): %XX
 * becomes the byte 0xXX, '+' a space if plus_is_space. Returns 0 with *out_len, or
 * WIRE_ESYNTAX (a '%' without two hex digits) or WIRE_ELIMIT (out too small). */
int http_percent_decode(const char *in, size_t len, bool plus_is_space, char *out, size_t out_cap,
                        size_t *out_len);

/* Appends s[0..len) percent-encoded: bytes other than A-Z a-z 0-9 - . _ ~ become %XX,
 * '/' too unless keep_slash. */
int http_percent_encode(struct wire_buf *b, const void *s, size_t len, bool keep_slash);

/* One "name=value" of a query string, both raw (not decoded). */
struct http_query_param {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len; /* "name" without '=' has an empty value */
};

/* Iterates over query[0..len): call with *pos 0 first; returns true with *param and
 * *pos advanced, false at the end. Empty fields ("a=1&&b=2") are skipped. */
bool http_query_next(const char *query, size_t len, size_t *pos, struct http_query_param *param);

/* The value of the first parameter named `name` (compared raw, case-sensitively),
 * decoded into out ('+' is a space). Returns 0 with *out_len, WIRE_ENOTFOUND,
 * WIRE_ESYNTAX (bad %-escape) or WIRE_ELIMIT (out_cap too small). */
int http_query_get(const char *query, size_t len, const char *name, char *out, size_t out_cap,
                   size_t *out_len);

/* ----------------------------------------------------------------------------------
 * Responses: appended to a struct wire_buf (errors there are sticky, see wire.h).
 */

/* The reason phrase of a status code ("Not Found"); "Unknown" for codes it lacks. */
const char *http_status_reason(int status);

/* "HTTP/1.1 <status> <reason>\r\n" */
int http_write_status_line(struct wire_buf *b, int status);
/* "<name>: <value>\r\n". A value holding CR, LF or NUL would split the head: it is
 * refused with WIRE_EINVAL and nothing is written (not sticky). */
int http_write_header(struct wire_buf *b, const char *name, const char *value, size_t value_len);
int http_write_header_u64(struct wire_buf *b, const char *name, uint64_t value);
/* The blank line that ends the head. */
int http_write_end_head(struct wire_buf *b);
/* "HTTP/1.1 100 Continue\r\n\r\n" */
int http_write_continue(struct wire_buf *b);

struct http_response {
	int status;
	const char *content_type; /* NULL: no Content-Type (and no body expected) */
	const void *body;
	size_t body_len;
	bool close;     /* "Connection: close" (else "keep-alive") */
	bool head_only; /* a HEAD request: every header, Content-Length included, no body */
	const struct http_header *extra; /* further header fields, e.g. Location */
	size_t extra_count;
};

/* The whole response: status line, Content-Type, Content-Length, Connection, the extra
 * fields, the blank line and the body. Returns 0, WIRE_EINVAL (a bad extra field value;
 * nothing written) or the buffer's sticky error. */
int http_write_response(struct wire_buf *b, const struct http_response *resp);

#endif /* CONCORD_SERVER_HTTP_H */
