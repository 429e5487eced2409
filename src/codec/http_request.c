/* http_request.c: the incremental HTTP/1.1 request parser (request line, fields, framing). */
#include "codec/http.h"
#include "codec/http_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_limits_default(struct http_limits *lim)
{
	assert(lim != NULL);
	*lim = (struct http_limits){
	    .request_line_bytes_max = 8 * 1024,
	    .header_bytes_max = 32 * 1024,
	    .headers_max = 64,
	    .body_bytes_max = (uint64_t)16 << 20,
	};
}

_Static_assert(HTTP_HEADER_BYTES_LIMIT <= UINT32_MAX, "head offsets fit a uint32_t");
_Static_assert((uint64_t)HTTP_HEADER_BYTES_LIMIT + HTTP_BODY_BYTES_LIMIT <= WIRE_BUF_BYTES_LIMIT,
               "a head and a body fit an input buffer");

int http_parser_init(struct http_parser *p, const struct http_limits *lim)
{
	assert(p != NULL);
	struct http_limits l;
	if (lim == NULL) {
		http_limits_default(&l);
	} else {
		l = *lim;
	}
	if (l.header_bytes_max < 16 || l.header_bytes_max > HTTP_HEADER_BYTES_LIMIT) {
		return WIRE_EINVAL;
	}
	if (l.request_line_bytes_max < 16 || l.request_line_bytes_max > l.header_bytes_max) {
		return WIRE_EINVAL;
	}
	if (l.headers_max == 0 || l.headers_max > HTTP_HEADERS_LIMIT) {
		return WIRE_EINVAL;
	}
	if (l.body_bytes_max > HTTP_BODY_BYTES_LIMIT) {
		return WIRE_EINVAL;
	}
	*p = (struct http_parser){.lim = l};
	p->spans = calloc(l.headers_max, sizeof(*p->spans));
	p->headers = calloc(l.headers_max, sizeof(*p->headers));
	p->path = malloc(l.request_line_bytes_max);
	if (p->spans == NULL || p->headers == NULL || p->path == NULL) {
		free(p->spans);
		free(p->headers);
		free(p->path);
		return WIRE_ENOMEM;
	}
	wire_in_init(&p->in, (size_t)l.header_bytes_max + (size_t)l.body_bytes_max);
	return 0;
}

void http_parser_free(struct http_parser *p)
{
	assert(p != NULL);
	wire_in_free(&p->in);
	free(p->spans);
	free(p->headers);
	free(p->path);
	p->spans = NULL;
	p->headers = NULL;
	p->path = NULL;
}

static void http_parser_drop(struct http_parser *p)
{
	assert(p->consumed <= wire_in_len(&p->in));
	p->in.start += p->consumed;
	p->consumed = 0;
}

int http_parser_feed(struct http_parser *p, const void *data, size_t n)
{
	http_parser_drop(p);
	return wire_in_feed(&p->in, data, n);
}

int http_parser_space(struct http_parser *p, size_t want, char **space, size_t *space_len)
{
	http_parser_drop(p);
	return wire_in_space(&p->in, want, space, space_len);
}

void http_parser_commit(struct http_parser *p, size_t n)
{
	assert(p->consumed == 0);
	wire_in_commit(&p->in, n);
}

int http_parser_status(const struct http_parser *p)
{
	return p->status;
}

const char *http_parser_errmsg(const struct http_parser *p)
{
	return p->errmsg;
}

bool http_parser_continue(struct http_parser *p)
{
	bool due = p->continue_due;
	p->continue_due = false;
	return due;
}

static int http_parser_fail(struct http_parser *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the error; the wire error follows from the status. */
static int http_parser_fail(struct http_parser *p, int status, const char *fmt, ...)
{
	assert(status >= 400);
	assert(status <= 599);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
	va_end(ap);
	p->status = status;
	switch (status) {
	case 413:
	case 414:
	case 431:
		p->err = WIRE_ELIMIT;
		break;
	case 411:
	case 417:
	case 501:
	case 505:
		p->err = WIRE_EUNSUPPORTED;
		break;
	default:
		p->err = WIRE_ESYNTAX;
		break;
	}
	return p->err;
}

/* ==================================================================================
 * The head
 */

/* RFC 9110 5.6.2: tchar. */
static bool http_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
		return true;
	}
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool http_is_token(const char *s, size_t len)
{
	if (len == 0) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (!http_is_tchar((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* RFC 9110 5.5: field-value bytes are HTAB, visible ASCII, SP and obs-text. */
static bool http_is_field_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool http_equals_nocase(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* Whether a comma-separated list s[0..len) holds `word` (case-insensitive). */
static bool http_list_has(const char *s, size_t len, const char *word)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != ',') {
			j++;
		}
		size_t a = i;
		size_t z = j;
		while (a < z && (s[a] == ' ' || s[a] == '\t')) {
			a++;
		}
		while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t')) {
			z--;
		}
		if (http_equals_nocase(s + a, z - a, word)) {
			return true;
		}
		i = j + 1;
	}
	return false;
}

static enum http_method http_method_of(const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum http_method method;
	} methods[] = {
	    {"GET", HTTP_METHOD_GET},       {"HEAD", HTTP_METHOD_HEAD},
	    {"POST", HTTP_METHOD_POST},     {"PUT", HTTP_METHOD_PUT},
	    {"DELETE", HTTP_METHOD_DELETE}, {"OPTIONS", HTTP_METHOD_OPTIONS},
	    {"PATCH", HTTP_METHOD_PATCH},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		/* Methods are case-sensitive (RFC 9110 9.1). */
		if (strlen(methods[i].name) == len && memcmp(methods[i].name, s, len) == 0) {
			return methods[i].method;
		}
	}
	return HTTP_METHOD_OTHER;
}

/* "METHOD SP target SP HTTP/1.x" in line[0..len), without its line end. */
static int http_parse_request_line(struct http_parser *p, const char *line, size_t len)
{
	const char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL) {
		return http_parser_fail(p, 400, "malformed request line");
	}
	size_t method_len = (size_t)(sp1 - line);
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', len - method_len - 1);
	if (sp2 == NULL) {
		return http_parser_fail(p, 400,
		                        "malformed request line (HTTP/0.9 is not supported)");
	}
	size_t target_len = (size_t)(sp2 - target);
	const char *version = sp2 + 1;
	size_t version_len = len - (size_t)(version - line);
	if (!http_is_token(line, method_len) || method_len > 32) {
		return http_parser_fail(p, 400, "malformed method");
	}
	if (target_len == 0) {
		return http_parser_fail(p, 400, "malformed request line");
	}
	for (size_t i = 0; i < target_len; i++) {
		unsigned char c = (unsigned char)target[i];
		if (c <= 0x20 || c >= 0x7f) {
			return http_parser_fail(
			    p, 400, "request target holds a byte that must be %%-encoded");
		}
	}
	if (target[0] != '/' && !(target_len == 1 && target[0] == '*')) {
		return http_parser_fail(p, 400, "request target must be a path starting with '/'");
	}
	if (version_len == 8 && memcmp(version, "HTTP/1.", 7) == 0 &&
	    (version[7] == '0' || version[7] == '1')) {
		p->version_minor = version[7] - '0';
	} else if (version_len == 8 && memcmp(version, "HTTP/", 5) == 0 && version[5] >= '0' &&
	           version[5] <= '9' && version[6] == '.' && version[7] >= '0' &&
	           version[7] <= '9') {
		return http_parser_fail(p, 505, "HTTP version %.8s is not supported; use HTTP/1.1",
		                        version);
	} else {
		return http_parser_fail(p, 400, "malformed HTTP version");
	}
	p->method = http_method_of(line, method_len);
	p->method_len = (uint32_t)method_len;
	p->target_off = (uint32_t)(target - line);
	p->target_len = (uint32_t)target_len;
	const char *qmark = memchr(target, '?', target_len);
	size_t raw_path_len = qmark == NULL ? target_len : (size_t)(qmark - target);
	if (qmark != NULL) {
		p->query_off = (uint32_t)(qmark + 1 - line);
		p->query_len = (uint32_t)(target_len - raw_path_len - 1);
	} else {
		p->query_off = 0;
		p->query_len = 0;
	}
	assert(raw_path_len <= p->lim.request_line_bytes_max);
	int rc = http_percent_decode(target, raw_path_len, false, p->path,
	                             p->lim.request_line_bytes_max, &p->path_len);
	if (rc != 0) {
		assert(rc == WIRE_ESYNTAX);
		return http_parser_fail(p, 400, "invalid %%-escape in the request path");
	}
	return 0;
}

/* What the header fields say about framing and the connection. */
struct http_framing {
	bool has_length;
	uint64_t length;
	bool has_te;
	bool chunked;
	bool conn_close;
	bool conn_keep_alive;
	bool expect_continue;
	bool expect_other;
};

static int http_parse_content_length(struct http_parser *p, struct http_framing *f, const char *v,
                                     size_t len)
{
	if (len == 0 || len > 19) {
		return http_parser_fail(p, 400, "invalid Content-Length");
	}
	uint64_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9') {
			return http_parser_fail(p, 400, "invalid Content-Length");
		}
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (f->has_length && f->length != n) {
		return http_parser_fail(p, 400, "conflicting Content-Length fields");
	}
	f->has_length = true;
	f->length = n;
	return 0;
}

/* One header field line[0..len) at offset `off` of the request. */
static int http_parse_field(struct http_parser *p, struct http_framing *f, const char *line,
                            size_t len, size_t off)
{
	if (line[0] == ' ' || line[0] == '\t') {
		return http_parser_fail(p, 400, "folded header lines are not allowed");
	}
	const char *colon = memchr(line, ':', len);
	if (colon == NULL) {
		return http_parser_fail(p, 400, "header line without ':'");
	}
	size_t name_len = (size_t)(colon - line);
	if (!http_is_token(line, name_len)) {
		return http_parser_fail(p, 400, "malformed header name");
	}
	size_t a = name_len + 1;
	size_t z = len;
	while (a < z && (line[a] == ' ' || line[a] == '\t')) {
		a++;
	}
	while (z > a && (line[z - 1] == ' ' || line[z - 1] == '\t')) {
		z--;
	}
	for (size_t i = a; i < z; i++) {
		if (!http_is_field_byte((unsigned char)line[i])) {
			return http_parser_fail(p, 400, "header value holds a control byte");
		}
	}
	if (p->header_count == p->lim.headers_max) {
		return http_parser_fail(p, 431, "more than %u header fields", p->lim.headers_max);
	}
	p->spans[p->header_count++] = (struct http_span_){
	    .name_off = (uint32_t)off,
	    .name_len = (uint32_t)name_len,
	    .value_off = (uint32_t)(off + a),
	    .value_len = (uint32_t)(z - a),
	};
	const char *value = line + a;
	size_t value_len = z - a;
	if (http_equals_nocase(line, name_len, "content-length")) {
		return http_parse_content_length(p, f, value, value_len);
	}
	if (http_equals_nocase(line, name_len, "transfer-encoding")) {
		f->has_te = true;
		f->chunked = f->chunked || http_list_has(value, value_len, "chunked");
	} else if (http_equals_nocase(line, name_len, "connection")) {
		f->conn_close = f->conn_close || http_list_has(value, value_len, "close");
		f->conn_keep_alive =
		    f->conn_keep_alive || http_list_has(value, value_len, "keep-alive");
	} else if (http_equals_nocase(line, name_len, "expect")) {
		if (http_equals_nocase(value, value_len, "100-continue")) {
			f->expect_continue = true;
		} else {
			f->expect_other = true;
		}
	}
	return 0;
}

/* Parses the head base[0..head_len) once it is complete. */
static int http_parse_head(struct http_parser *p, const char *base, size_t head_len)
{
	struct http_framing f = {0};
	p->header_count = 0;
	size_t pos = 0;
	bool first = true;
	for (;;) {
		assert(pos < head_len);
		const char *nl = memchr(base + pos, '\n', head_len - pos);
		assert(nl != NULL);
		size_t end = (size_t)(nl - base);
		size_t line_end = end > pos && base[end - 1] == '\r' ? end - 1 : end;
		size_t len = line_end - pos;
		int rc;
		if (first) {
			rc = http_parse_request_line(p, base + pos, len);
			first = false;
		} else if (len == 0) {
			assert(end + 1 == head_len);
			break;
		} else {
			rc = http_parse_field(p, &f, base + pos, len, pos);
		}
		if (rc != 0) {
			return rc;
		}
		pos = end + 1;
	}
	if (f.has_te) {
		if (f.chunked) {
			return http_parser_fail(
			    p, 411,
			    "chunked request bodies are not supported; send Content-Length");
		}
		return http_parser_fail(p, 501, "Transfer-Encoding is not supported");
	}
	if (f.expect_other) {
		return http_parser_fail(p, 417, "only \"Expect: 100-continue\" is supported");
	}
	if (f.has_length && f.length > p->lim.body_bytes_max) {
		return http_parser_fail(
		    p, 413, "body of %llu bytes is longer than the limit of %llu",
		    (unsigned long long)f.length, (unsigned long long)p->lim.body_bytes_max);
	}
	p->body_len = f.has_length ? f.length : 0;
	if (p->version_minor == 1) {
		p->keep_alive = !f.conn_close;
	} else {
		p->keep_alive = f.conn_keep_alive && !f.conn_close;
	}
	p->continue_due = f.expect_continue && p->body_len > 0;
	return 0;
}

/* Finds the end of the head: the empty line. Returns true with *head_len. */
static bool http_find_head_end(struct http_parser *p, const char *base, size_t len,
                               size_t *head_len)
{
	size_t i = p->scan;
	while (i < len) {
		const char *nl = memchr(base + i, '\n', len - i);
		if (nl == NULL) {
			p->scan = len;
			return false;
		}
		size_t at = (size_t)(nl - base);
		if (p->line_len == 0) {
			p->line_len = at + 1;
		}
		/* The line after this one is empty if it is "\n" or "\r\n". */
		if (at + 1 < len && base[at + 1] == '\n') {
			*head_len = at + 2;
			return true;
		}
		if (at + 2 < len && base[at + 1] == '\r' && base[at + 2] == '\n') {
			*head_len = at + 3;
			return true;
		}
		if (at + 2 >= len) {
			/* Too few bytes to tell yet: look at this line end again next time. */
			p->scan = at;
			return false;
		}
		i = at + 1;
	}
	p->scan = len;
	return false;
}

/* Hands out the request at the front of the buffer and resets for the next one. */
static int http_parser_emit(struct http_parser *p, struct http_request *req)
{
	const char *base = p->in.data + p->in.start;
	for (size_t i = 0; i < p->header_count; i++) {
		const struct http_span_ *s = &p->spans[i];
		p->headers[i] = (struct http_header){
		    .name = base + s->name_off,
		    .name_len = s->name_len,
		    .value = base + s->value_off,
		    .value_len = s->value_len,
		};
	}
	*req = (struct http_request){
	    .method = p->method,
	    .method_name = base,
	    .method_len = p->method_len,
	    .target = base + p->target_off,
	    .target_len = p->target_len,
	    .path = p->path,
	    .path_len = p->path_len,
	    .query = p->query_len > 0 ? base + p->query_off : base + p->target_off + p->target_len,
	    .query_len = p->query_len,
	    .version_minor = p->version_minor,
	    .keep_alive = p->keep_alive,
	    .headers = p->headers,
	    .header_count = p->header_count,
	    .body = base + p->head_len,
	    .body_len = (size_t)p->body_len,
	};
	p->consumed = p->head_len + (size_t)p->body_len;
	p->head_len = 0;
	p->body_len = 0;
	p->scan = 0;
	p->line_len = 0;
	p->continue_due = false;
	return 0;
}

int http_parser_next(struct http_parser *p, struct http_request *req)
{
	assert(p != NULL);
	assert(req != NULL);
	if (p->err != 0) {
		return p->err;
	}
	http_parser_drop(p);
	if (p->head_len == 0) {
		/* Empty lines before a request line are ignored (RFC 9112 2.2). */
		while (wire_in_len(&p->in) > 0 && p->scan == 0 &&
		       (p->in.data[p->in.start] == '\r' || p->in.data[p->in.start] == '\n')) {
			p->in.start++;
		}
		size_t len = wire_in_len(&p->in);
		if (len == 0) {
			p->in.start = 0;
			p->in.end = 0;
			return WIRE_EAGAIN;
		}
		const char *base = p->in.data + p->in.start;
		size_t head_len = 0;
		bool found = http_find_head_end(p, base, len, &head_len);
		size_t line_len = p->line_len != 0 ? p->line_len : len;
		if (line_len > p->lim.request_line_bytes_max + (size_t)2) {
			return http_parser_fail(p, 414, "request line longer than %u bytes",
			                        p->lim.request_line_bytes_max);
		}
		if (!found) {
			if (len > p->lim.header_bytes_max) {
				return http_parser_fail(p, 431,
				                        "header section longer than %u bytes",
				                        p->lim.header_bytes_max);
			}
			return WIRE_EAGAIN;
		}
		if (head_len > p->lim.header_bytes_max) {
			return http_parser_fail(p, 431, "header section longer than %u bytes",
			                        p->lim.header_bytes_max);
		}
		int rc = http_parse_head(p, base, head_len);
		if (rc != 0) {
			return rc;
		}
		p->head_len = head_len;
	}
	size_t len = wire_in_len(&p->in);
	assert(len >= p->head_len);
	if (len - p->head_len < p->body_len) {
		return WIRE_EAGAIN;
	}
	return http_parser_emit(p, req);
}

const struct http_header *http_request_header(const struct http_request *req, const char *name)
{
	assert(req != NULL);
	assert(name != NULL);
	for (size_t i = 0; i < req->header_count; i++) {
		const struct http_header *h = &req->headers[i];
		if (http_equals_nocase(h->name, h->name_len, name)) {
			return h;
		}
	}
	return NULL;
}
