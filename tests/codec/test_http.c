/* test_http.c: the HTTP/1.1 request parser (splits, keep-alive, decoding, limits, malformed input)
 * and response writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/http.h"
#include "codec/web.h"

#define S(lit) lit, sizeof(lit) - 1

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* A readable transcript line per request. */
static void transcript_add(struct wire_buf *out, const struct http_request *req)
{
	wire_buf_printf(out, "%.*s %d ", (int)req->method_len, req->method_name, req->method);
	wire_buf_append(out, req->path, req->path_len);
	wire_buf_printf(out, " q=%.*s v=1.%d ka=%d h=%zu", (int)req->query_len, req->query,
	                req->version_minor, req->keep_alive, req->header_count);
	for (size_t i = 0; i < req->header_count; i++) {
		const struct http_header *h = &req->headers[i];
		wire_buf_printf(out, " [%.*s=%.*s]", (int)h->name_len, h->name, (int)h->value_len,
		                h->value);
	}
	wire_buf_printf(out, " body=%zu:", req->body_len);
	wire_buf_append(out, req->body, req->body_len);
	wire_buf_append_byte(out, '\n');
}

struct outcome {
	int rc;
	int status;
	char errmsg[WIRE_ERRMSG_SIZE];
};

/* Parses input fed at the given cut points; the transcript goes to out. */
static void parse_with_cuts(const struct http_limits *lim, const char *in, size_t len,
                            const size_t *cuts, size_t ncuts, struct wire_buf *out,
                            struct outcome *res)
{
	struct http_parser p;
	assert_int_equal(http_parser_init(&p, lim), 0);
	size_t at = 0;
	int rc = WIRE_EAGAIN;
	for (size_t k = 0; k <= ncuts && rc == WIRE_EAGAIN; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		rc = http_parser_feed(&p, in + at, end - at);
		if (rc != 0) {
			break;
		}
		at = end;
		struct http_request req;
		while ((rc = http_parser_next(&p, &req)) == 0) {
			transcript_add(out, &req);
		}
	}
	res->rc = rc;
	res->status = http_parser_status(&p);
	snprintf(res->errmsg, sizeof(res->errmsg), "%s", http_parser_errmsg(&p));
	http_parser_free(&p);
}

static struct outcome parse_one(const struct http_limits *lim, const char *in, size_t len)
{
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	struct outcome res;
	parse_with_cuts(lim, in, len, NULL, 0, &out, &res);
	wire_buf_free(&out);
	return res;
}

/* ---------------------------------------------------------------------------------- */

static void test_simple_get(void **state)
{
	(void)state;
	struct http_parser p;
	assert_int_equal(http_parser_init(&p, NULL), 0);
	assert_int_equal(
	    http_parser_feed(&p, S("GET /v1/kv/a%2Fb%20c?rev=12&prefix=a+b HTTP/1.1\r\n"
	                           "Host: localhost\r\nX-Empty:\r\nAccept:  */* \t\r\n\r\n")),
	    0);
	struct http_request req;
	assert_int_equal(http_parser_next(&p, &req), 0);
	assert_int_equal(req.method, HTTP_METHOD_GET);
	assert_int_equal(req.path_len, strlen("/v1/kv/a/b c"));
	assert_memory_equal(req.path, "/v1/kv/a/b c", req.path_len);
	assert_int_equal(req.target_len, strlen("/v1/kv/a%2Fb%20c?rev=12&prefix=a+b"));
	assert_int_equal(req.query_len, strlen("rev=12&prefix=a+b"));
	assert_memory_equal(req.query, "rev=12&prefix=a+b", req.query_len);
	assert_int_equal(req.version_minor, 1);
	assert_true(req.keep_alive);
	assert_int_equal(req.header_count, 3);
	const struct http_header *h = http_request_header(&req, "accept");
	assert_non_null(h);
	assert_int_equal(h->value_len, 3);
	assert_memory_equal(h->value, "*/*", 3);
	h = http_request_header(&req, "X-EMPTY");
	assert_non_null(h);
	assert_int_equal(h->value_len, 0);
	assert_null(http_request_header(&req, "Content-Length"));
	assert_int_equal(req.body_len, 0);

	char value[16];
	size_t n = 0;
	assert_int_equal(http_query_get(req.query, req.query_len, "rev", value, sizeof(value), &n),
	                 0);
	assert_int_equal(n, 2);
	assert_memory_equal(value, "12", 2);
	assert_int_equal(
	    http_query_get(req.query, req.query_len, "prefix", value, sizeof(value), &n), 0);
	assert_memory_equal(value, "a b", 3);
	assert_int_equal(http_query_get(req.query, req.query_len, "re", value, sizeof(value), &n),
	                 WIRE_ENOTFOUND);
	assert_int_equal(http_query_get(req.query, req.query_len, "prefix", value, 2, &n),
	                 WIRE_ELIMIT);
	assert_int_equal(http_parser_next(&p, &req), WIRE_EAGAIN);
	http_parser_free(&p);
}

static const char pipeline[] =
    "\r\n" /* a stray empty line before a request is ignored */
    "PUT /v1/kv/k HTTP/1.1\r\nContent-Length: 7\r\nContent-Type: application/octet-stream\r\n\r\n"
    "a\r\n\r\nb\0"
    "GET /v1/kv/k?x HTTP/1.1\nHost: h\n\n" /* bare LF line ends */
    "DELETE /v1/kv/%00%ff HTTP/1.1\r\ncontent-length: 0\r\nConnection: keep-alive, close\r\n\r\n"
    "GET / HTTP/1.0\r\n\r\n"
    "GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
    "POST /v1/admin/step-down HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
    "OPTIONS * HTTP/1.1\r\n\r\n";

static const char pipeline_transcript[] =
    "PUT 4 /v1/kv/k q= v=1.1 ka=1 h=2 [Content-Length=7] [Content-Type=application/octet-stream] "
    "body=7:a\r\n\r\nb\0\n"
    "GET 1 /v1/kv/k q=x v=1.1 ka=1 h=1 [Host=h] body=0:\n"
    "DELETE 5 /v1/kv/\0\xff q= v=1.1 ka=0 h=2 [content-length=0] [Connection=keep-alive, close] "
    "body=0:\n"
    "GET 1 / q= v=1.0 ka=0 h=0 body=0:\n"
    "GET 1 /healthz q= v=1.0 ka=1 h=1 [Connection=Keep-Alive] body=0:\n"
    "POST 3 /v1/admin/step-down q= v=1.1 ka=1 h=2 [Content-Length=2] [Content-Length=2] body=2:{}\n"
    "OPTIONS 6 * q= v=1.1 ka=1 h=0 body=0:\n";

static void check_transcript(const struct wire_buf *out)
{
	if (out->len != sizeof(pipeline_transcript) - 1) {
		fprintf(stderr, "got:\n%.*s\n", (int)out->len, out->data);
	}
	assert_int_equal(out->len, sizeof(pipeline_transcript) - 1);
	assert_memory_equal(out->data, pipeline_transcript, out->len);
}

static void test_pipeline_every_split(void **state)
{
	(void)state;
	size_t len = sizeof(pipeline) - 1;
	for (size_t a = 0; a <= len; a++) {
		struct wire_buf out;
		wire_buf_init(&out, 1 << 20);
		struct outcome res;
		parse_with_cuts(NULL, pipeline, len, &a, 1, &out, &res);
		assert_int_equal(res.rc, WIRE_EAGAIN);
		check_transcript(&out);
		wire_buf_free(&out);
	}
	size_t cuts[sizeof(pipeline)];
	for (size_t i = 0; i < len; i++) {
		cuts[i] = i;
	}
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	struct outcome res;
	parse_with_cuts(NULL, pipeline, len, cuts, len, &out, &res);
	assert_int_equal(res.rc, WIRE_EAGAIN);
	check_transcript(&out);
	wire_buf_free(&out);
}

static void test_space_commit(void **state)
{
	(void)state;
	struct http_parser p;
	assert_int_equal(http_parser_init(&p, NULL), 0);
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	size_t len = sizeof(pipeline) - 1;
	size_t at = 0;
	uint64_t seed = 3;
	while (at < len) {
		char *space = NULL;
		size_t space_len = 0;
		assert_int_equal(
		    http_parser_space(&p, 1 + rng_next(&seed) % 13, &space, &space_len), 0);
		size_t n = space_len < len - at ? space_len : len - at;
		memcpy(space, pipeline + at, n);
		http_parser_commit(&p, n);
		at += n;
		struct http_request req;
		int rc;
		while ((rc = http_parser_next(&p, &req)) == 0) {
			transcript_add(&out, &req);
		}
		assert_int_equal(rc, WIRE_EAGAIN);
	}
	check_transcript(&out);
	wire_buf_free(&out);
	http_parser_free(&p);
}

static bool keep_alive_of(const char *in, size_t len)
{
	struct http_parser p;
	assert_int_equal(http_parser_init(&p, NULL), 0);
	assert_int_equal(http_parser_feed(&p, in, len), 0);
	struct http_request req;
	assert_int_equal(http_parser_next(&p, &req), 0);
	bool ka = req.keep_alive;
	http_parser_free(&p);
	return ka;
}

static void test_keep_alive(void **state)
{
	(void)state;
	assert_true(keep_alive_of(S("GET / HTTP/1.1\r\n\r\n")));
	assert_false(keep_alive_of(S("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")));
	assert_false(keep_alive_of(S("GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n")));
	assert_true(keep_alive_of(S("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n")));
	assert_false(keep_alive_of(S("GET / HTTP/1.0\r\n\r\n")));
	assert_true(keep_alive_of(S("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")));
	assert_false(keep_alive_of(
	    S("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")));
}

static void test_percent_decoding(void **state)
{
	(void)state;
	struct outcome res = parse_one(NULL, S("GET /v1/kv/%zz HTTP/1.1\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_ESYNTAX);
	assert_int_equal(res.status, 400);
	res = parse_one(NULL, S("GET /v1/kv/%4 HTTP/1.1\r\n\r\n"));
	assert_int_equal(res.status, 400);
	res = parse_one(NULL, S("GET /v1/kv/% HTTP/1.1\r\n\r\n"));
	assert_int_equal(res.status, 400);
	/* The query is not decoded with the path: a bad escape there is the router's. */
	res = parse_one(NULL, S("GET /v1/kv/a?x=%zz HTTP/1.1\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_EAGAIN);

	/* Every byte survives encode then decode; '/' kept or not. */
	char all[256];
	for (int i = 0; i < 256; i++) {
		all[i] = (char)i;
	}
	for (int keep = 0; keep <= 1; keep++) {
		struct wire_buf b;
		wire_buf_init(&b, 4096);
		assert_int_equal(http_percent_encode(&b, all, sizeof(all), keep != 0), 0);
		assert_null(memchr(b.data, ' ', b.len));
		assert_true((memchr(b.data, '/', b.len) != NULL) == (keep != 0));
		char back[256];
		size_t n = 0;
		assert_int_equal(http_percent_decode(b.data, b.len, false, back, sizeof(back), &n),
		                 0);
		assert_int_equal(n, 256);
		assert_memory_equal(back, all, 256);
		wire_buf_free(&b);
	}
	char out[8];
	size_t n = 0;
	assert_int_equal(http_percent_decode(S("a+b%2b"), true, out, sizeof(out), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "a b+", 4);
	assert_int_equal(http_percent_decode(S("a+b"), false, out, sizeof(out), &n), 0);
	assert_memory_equal(out, "a+b", 3);
	assert_int_equal(http_percent_decode(S("%g0"), false, out, sizeof(out), &n), WIRE_ESYNTAX);
	assert_int_equal(http_percent_decode(S("abc"), false, out, 2, &n), WIRE_ELIMIT);

	/* Query iteration: empty fields skipped, names without values. */
	const char q[] = "a=1&&b&c=&=d";
	size_t pos = 0;
	struct http_query_param param;
	const char *want[][2] = {{"a", "1"}, {"b", ""}, {"c", ""}, {"", "d"}};
	for (size_t i = 0; i < 4; i++) {
		assert_true(http_query_next(q, sizeof(q) - 1, &pos, &param));
		assert_int_equal(param.name_len, strlen(want[i][0]));
		assert_memory_equal(param.name, want[i][0], param.name_len);
		assert_int_equal(param.value_len, strlen(want[i][1]));
		assert_memory_equal(param.value, want[i][1], param.value_len);
	}
	assert_false(http_query_next(q, sizeof(q) - 1, &pos, &param));
}

static void test_limits(void **state)
{
	(void)state;
	struct http_limits lim;
	http_limits_default(&lim);
	lim.request_line_bytes_max = 32;
	lim.header_bytes_max = 128;
	lim.headers_max = 3;
	lim.body_bytes_max = 10;

	struct outcome res = parse_one(&lim, S("GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_EAGAIN); /* 32 bytes exactly */
	res = parse_one(&lim, S("GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_ELIMIT);
	assert_int_equal(res.status, 414);
	res = parse_one(&lim, S("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_int_equal(res.status, 414); /* without waiting for the line end */

	res = parse_one(&lim, S("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_EAGAIN);
	res = parse_one(&lim, S("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_ELIMIT);
	assert_int_equal(res.status, 431);

	char big[256];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nx: %0120d\r\n\r\n", 0);
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	size_t cuts[2] = {100, 130}; /* fed in pieces, as the server reads */
	parse_with_cuts(&lim, big, (size_t)n, cuts, 2, &out, &res);
	wire_buf_free(&out);
	assert_int_equal(res.status, 431);
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nx: %0120d", 0); /* no end in sight */
	wire_buf_init(&out, 1 << 20);
	parse_with_cuts(&lim, big, (size_t)n, cuts, 2, &out, &res);
	wire_buf_free(&out);
	assert_int_equal(res.status, 431);

	res = parse_one(&lim, S("PUT /k HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"));
	assert_int_equal(res.rc, WIRE_EAGAIN);
	/* 413 as soon as the head is in, before any of the body. */
	res = parse_one(&lim, S("PUT /k HTTP/1.1\r\nContent-Length: 11\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_ELIMIT);
	assert_int_equal(res.status, 413);

	res = parse_one(NULL, S("PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
	assert_int_equal(res.rc, WIRE_EUNSUPPORTED);
	assert_int_equal(res.status, 411);
	res = parse_one(NULL, S("PUT /k HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"));
	assert_int_equal(res.status, 501);
	res = parse_one(NULL, S("GET / HTTP/2.0\r\n\r\n"));
	assert_int_equal(res.status, 505);
	res = parse_one(NULL, S("PUT /k HTTP/1.1\r\nExpect: 200-ok\r\n\r\n"));
	assert_int_equal(res.status, 417);

	struct http_parser p;
	lim.request_line_bytes_max = 8;
	assert_int_equal(http_parser_init(&p, &lim), WIRE_EINVAL);
	http_limits_default(&lim);
	lim.headers_max = HTTP_HEADERS_LIMIT + 1;
	assert_int_equal(http_parser_init(&p, &lim), WIRE_EINVAL);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const cases[] = {
	    "GET\r\n\r\n",
	    "GET /\r\n\r\n",
	    "GET  / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1 \r\n\r\n",
	    "G(T / HTTP/1.1\r\n\r\n",
	    "GET v1/kv HTTP/1.1\r\n\r\n",
	    "GET /a\x01 HTTP/1.1\r\n\r\n",
	    "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.x\r\n\r\n",
	    "GET / http/1.1\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	    "GET / HTTP/1.1\r\n: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost x\r\n\r\n",
	    "GET / HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n",
	    "GET / HTTP/1.1\r\nA: a\x7f\r\n\r\n",
	    "GET / HTTP/1.1\r\nA: a\rb\r\n\r\n",
	    "PUT / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
	    "PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	    "PUT / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n",
	    "PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n",
	    "PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome res = parse_one(NULL, cases[i], strlen(cases[i]));
		if (res.status != 400) {
			fprintf(stderr, "case %zu: rc %d status %d\n", i, res.rc, res.status);
		}
		assert_int_equal(res.rc, WIRE_ESYNTAX);
		assert_int_equal(res.status, 400);
		assert_true(strlen(res.errmsg) > 0);
	}

	/* The error sticks; the requests before it were handed out. */
	struct http_parser p;
	assert_int_equal(http_parser_init(&p, NULL), 0);
	assert_int_equal(
	    http_parser_feed(&p, S("GET / HTTP/1.1\r\n\r\nBAD\r\n\r\nGET / HTTP/1.1\r\n\r\n")), 0);
	struct http_request req;
	assert_int_equal(http_parser_next(&p, &req), 0);
	assert_int_equal(http_parser_next(&p, &req), WIRE_ESYNTAX);
	assert_int_equal(http_parser_next(&p, &req), WIRE_ESYNTAX);
	assert_int_equal(http_parser_status(&p), 400);
	http_parser_free(&p);
}

static void test_expect_continue(void **state)
{
	(void)state;
	struct http_parser p;
	assert_int_equal(http_parser_init(&p, NULL), 0);
	assert_int_equal(http_parser_feed(&p, S("PUT /v1/kv/k HTTP/1.1\r\nExpect: 100-Continue\r\n"
	                                        "Content-Length: 3\r\n\r\nab")),
	                 0);
	struct http_request req;
	assert_int_equal(http_parser_next(&p, &req), WIRE_EAGAIN);
	assert_true(http_parser_continue(&p));
	assert_false(http_parser_continue(&p));
	assert_int_equal(http_parser_feed(&p, S("c")), 0);
	assert_int_equal(http_parser_next(&p, &req), 0);
	assert_int_equal(req.body_len, 3);
	assert_false(http_parser_continue(&p));
	http_parser_free(&p);
}

static void test_response_writer(void **state)
{
	(void)state;
	struct wire_buf b;
	wire_buf_init(&b, 4096);
	const struct http_header extra[] = {
	    {.name = "Location", .name_len = 8, .value = "http://n2/", .value_len = 10},
	};
	struct http_response resp = {
	    .status = 307,
	    .content_type = "application/json",
	    .body = "{}",
	    .body_len = 2,
	    .extra = extra,
	    .extra_count = 1,
	};
	assert_int_equal(http_write_response(&b, &resp), 0);
	const char want[] =
	    "HTTP/1.1 307 Temporary Redirect\r\nContent-Type: application/json\r\n"
	    "Content-Length: 2\r\nConnection: keep-alive\r\nLocation: http://n2/\r\n\r\n{}";
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);

	wire_buf_reset(&b);
	resp = (struct http_response){.status = 404,
	                              .content_type = "text/plain",
	                              .body = "no",
	                              .body_len = 2,
	                              .close = true,
	                              .head_only = true};
	assert_int_equal(http_write_response(&b, &resp), 0);
	const char want2[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
	                     "Content-Length: 2\r\nConnection: close\r\n\r\n";
	assert_int_equal(b.len, sizeof(want2) - 1);
	assert_memory_equal(b.data, want2, b.len);

	/* A value that would split the head is refused and nothing is written. */
	wire_buf_reset(&b);
	const struct http_header evil[] = {
	    {.name = "X", .name_len = 1, .value = "a\r\nSet-Cookie: x", .value_len = 16},
	};
	resp = (struct http_response){.status = 200, .extra = evil, .extra_count = 1};
	assert_int_equal(http_write_response(&b, &resp), WIRE_EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(http_write_header(&b, "X", S("a\nb")), WIRE_EINVAL);
	assert_int_equal(http_write_continue(&b), 0);
	assert_int_equal(b.len, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
	assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_reason(299), "Unknown");
	wire_buf_free(&b);
}

static void test_random_bytes(void **state)
{
	(void)state;
	static const char *const pieces[] = {
	    "GET ",
	    "PUT ",
	    "/v1/kv/",
	    "%2F",
	    "%z",
	    "?a=b",
	    " HTTP/1.1",
	    " HTTP/1.0",
	    "\r\n",
	    "\n",
	    "Content-Length: ",
	    "1",
	    "0",
	    "Connection: close",
	    "Expect: 100-continue",
	    "Transfer-Encoding: chunked",
	    ": ",
	    " ",
	    "x",
	};
	struct http_limits lim;
	http_limits_default(&lim);
	lim.request_line_bytes_max = 40;
	lim.header_bytes_max = 120;
	lim.headers_max = 4;
	lim.body_bytes_max = 16;
	uint64_t seed = 99;
	size_t requests = 0;
	for (int iter = 0; iter < 50000; iter++) {
		char buf[160];
		size_t len = 0;
		if (rng_next(&seed) % 2 == 0) {
			/* A valid start, so that many inputs get past the request line. */
			memcpy(buf, "GET /v1/kv/x HTTP/1.1\r\n", 23);
			len = 23;
		}
		size_t count = rng_next(&seed) % 16;
		for (size_t i = 0; i < count; i++) {
			uint64_t r = rng_next(&seed);
			if (r % 6 == 0 && len < sizeof(buf)) {
				buf[len++] = (char)(r >> 8);
				continue;
			}
			const char *piece = pieces[(r >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t n = strlen(piece);
			if (len + n > sizeof(buf)) {
				break;
			}
			memcpy(buf + len, piece, n);
			len += n;
		}
		struct http_parser p;
		assert_int_equal(http_parser_init(&p, &lim), 0);
		size_t at = 0;
		int rc = WIRE_EAGAIN;
		while (at < len && rc == WIRE_EAGAIN) {
			size_t n = 1 + rng_next(&seed) % 11;
			n = n < len - at ? n : len - at;
			rc = http_parser_feed(&p, buf + at, n);
			assert_int_equal(rc, 0);
			at += n;
			struct http_request req;
			while ((rc = http_parser_next(&p, &req)) == 0) {
				assert_true(req.body_len <= lim.body_bytes_max);
				assert_true(req.path_len <= req.target_len);
				requests++;
			}
			(void)http_parser_continue(&p);
		}
		if (rc != WIRE_EAGAIN) {
			int status = http_parser_status(&p);
			assert_true(status >= 400);
			assert_true(status <= 505);
		}
		http_parser_free(&p);
	}
	assert_true(requests > 100);
}

/* The page embedded at build time is the whole of web/index.html. */
static void test_web_page(void **state)
{
	(void)state;
	assert_true(concord_web_index_len > 1000);
	assert_int_equal(strlen(concord_web_index), concord_web_index_len);
	assert_memory_equal(concord_web_index, "<!doctype html>", 15);
	assert_non_null(strstr(concord_web_index, "/v1/cluster"));
	assert_non_null(strstr(concord_web_index, "</html>"));
	/* No external resources: the page works offline. */
	assert_null(strstr(concord_web_index, "http://cdn"));
	assert_null(strstr(concord_web_index, "src=\"http"));
	assert_null(strstr(concord_web_index, "href=\"http"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_get),       cmocka_unit_test(test_pipeline_every_split),
	    cmocka_unit_test(test_space_commit),     cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_percent_decoding), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_malformed),        cmocka_unit_test(test_expect_continue),
	    cmocka_unit_test(test_response_writer),  cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_web_page),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
