/* fuzz_http.c: libFuzzer target for the HTTP/1.1 request parser, percent-decoding and query
 * strings. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const struct http_request *req, const struct http_limits *lim)
{
	assert(req->body_len <= lim->body_bytes_max);
	assert(req->path_len <= req->target_len);
	assert(req->header_count <= lim->headers_max);
	assert(req->version_minor == 0 || req->version_minor == 1);
	char value[256];
	size_t n = 0;
	int rc = http_query_get(req->query, req->query_len, "rev", value, sizeof(value), &n);
	assert(rc == 0 || rc == WIRE_ENOTFOUND || rc == WIRE_ESYNTAX || rc == WIRE_ELIMIT);
	size_t pos = 0;
	struct http_query_param param;
	size_t params = 0;
	while (http_query_next(req->query, req->query_len, &pos, &param)) {
		assert(param.name_len + param.value_len <= req->query_len);
		params++;
	}
	assert(params <= req->query_len);
	(void)http_request_header(req, "content-type");
	/* The decoded path encodes and decodes back to itself. */
	struct wire_buf b;
	wire_buf_init(&b, 1 << 16);
	rc = http_percent_encode(&b, req->path, req->path_len, true);
	assert(rc == 0);
	char *back = malloc(b.len + 1);
	assert(back != NULL);
	rc = http_percent_decode(b.data, b.len, false, back, b.len + 1, &n);
	assert(rc == 0);
	assert(n == req->path_len);
	assert(n == 0 || memcmp(back, req->path, n) == 0);
	free(back);
	wire_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0) {
		return 0;
	}
	size_t chunk = 1 + data[0] % 64;
	data++;
	size--;
	struct http_limits lim;
	http_limits_default(&lim);
	lim.request_line_bytes_max = 256;
	lim.header_bytes_max = 1024;
	lim.headers_max = 16;
	lim.body_bytes_max = 1024;
	struct http_parser p;
	int rc = http_parser_init(&p, &lim);
	assert(rc == 0);
	size_t at = 0;
	rc = WIRE_EAGAIN;
	while (at < size && rc == WIRE_EAGAIN) {
		char *space = NULL;
		size_t space_len = 0;
		rc = http_parser_space(&p, chunk, &space, &space_len);
		if (rc != 0) {
			struct http_request req;
			rc = http_parser_next(&p, &req);
			assert(rc != 0);
			break;
		}
		size_t n = space_len < size - at ? space_len : size - at;
		memcpy(space, data + at, n);
		http_parser_commit(&p, n);
		at += n;
		struct http_request req;
		while ((rc = http_parser_next(&p, &req)) == 0) {
			check_request(&req, &lim);
		}
		(void)http_parser_continue(&p);
	}
	if (rc != WIRE_EAGAIN) {
		int status = http_parser_status(&p);
		assert(status >= 400 && status <= 505);
		assert(http_parser_errmsg(&p)[0] != '\0');
	}
	http_parser_free(&p);
	return 0;
}
