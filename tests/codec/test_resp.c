/* test_resp.c: the RESP request parser (splits, inline, limits, malformed input), reply writer and
 * reply parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/resp.h"

/* ----------------------------------------------------------------------------------
 * Helpers
 */

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Appends a readable transcript of cmd to out: "[n] <len>:<bytes> ...\n". */
static void transcript_add(struct wire_buf *out, const struct resp_cmd *cmd)
{
	wire_buf_printf(out, "[%zu]%s", cmd->argc, cmd->is_inline ? "i" : "");
	for (size_t i = 0; i < cmd->argc; i++) {
		wire_buf_printf(out, " %zu:", cmd->argv[i].len);
		wire_buf_append(out, cmd->argv[i].data, cmd->argv[i].len);
	}
	wire_buf_append_byte(out, '\n');
}

/* Feeds input in pieces whose lengths come from `cuts` (sorted split offsets), parses
 * everything, and returns the transcript; *rc_out gets the last parser result. */
static void parse_with_cuts(const struct resp_limits *lim, const char *input, size_t len,
                            const size_t *cuts, size_t ncuts, struct wire_buf *out, int *rc_out,
                            char errmsg[WIRE_ERRMSG_SIZE])
{
	struct resp_parser p;
	assert_int_equal(resp_parser_init(&p, lim), 0);
	size_t at = 0;
	int rc = WIRE_EAGAIN;
	for (size_t k = 0; k <= ncuts && (rc == WIRE_EAGAIN || rc == 0); k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		assert_true(end >= at);
		rc = resp_parser_feed(&p, input + at, end - at);
		if (rc != 0) {
			break;
		}
		at = end;
		struct resp_cmd cmd;
		while ((rc = resp_parser_next(&p, &cmd)) == 0) {
			transcript_add(out, &cmd);
		}
	}
	*rc_out = rc;
	if (errmsg != NULL) {
		snprintf(errmsg, WIRE_ERRMSG_SIZE, "%s", resp_parser_errmsg(&p));
	}
	resp_parser_free(&p);
}

static void parse_whole(const struct resp_limits *lim, const char *input, size_t len,
                        struct wire_buf *out, int *rc, char errmsg[WIRE_ERRMSG_SIZE])
{
	parse_with_cuts(lim, input, len, NULL, 0, out, rc, errmsg);
}

/* The error a whole input gives (after any commands before it). */
static int parse_error(const struct resp_limits *lim, const char *input, size_t len,
                       char errmsg[WIRE_ERRMSG_SIZE])
{
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	int rc = 0;
	parse_whole(lim, input, len, &out, &rc, errmsg);
	wire_buf_free(&out);
	return rc;
}

#define S(lit) lit, sizeof(lit) - 1

/* ----------------------------------------------------------------------------------
 * Request parser
 */

static void test_array_command(void **state)
{
	(void)state;
	struct resp_parser p;
	assert_int_equal(resp_parser_init(&p, NULL), 0);
	struct resp_cmd cmd;
	assert_int_equal(resp_parser_next(&p, &cmd), WIRE_EAGAIN);
	assert_int_equal(resp_parser_feed(&p, S("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n")),
	                 0);
	assert_int_equal(resp_parser_next(&p, &cmd), 0);
	assert_int_equal(cmd.argc, 3);
	assert_false(cmd.is_inline);
	assert_memory_equal(cmd.argv[0].data, "SET", 3);
	assert_int_equal(cmd.argv[2].len, 5);
	assert_memory_equal(cmd.argv[2].data, "hello", 5);
	assert_int_equal(resp_parser_next(&p, &cmd), WIRE_EAGAIN);
	assert_int_equal(resp_parser_buffered(&p), 0);
	resp_parser_free(&p);
}

/* A pipelined buffer mixing every form the parser accepts. */
static const char pipeline[] =
    "*1\r\n$4\r\nPING\r\n"
    "*3\r\n$3\r\nSET\r\n$4\r\nk\r\nx\r\n$6\r\n\0\r\n\xff\r\n\r\n" /* CRLF and NUL inside bulks */
    "PING\r\n"
    "\r\n"                             /* an empty inline line: skipped */
    "*0\r\n"                           /* an empty array: skipped */
    "*-1\r\n"                          /* so is a null one */
    "set \"a b\" 'c d' \"\\x41\\n\"\n" /* inline with quotes and escapes, bare LF */
    "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"    /* an empty argument */
    "   GET   spaced   \r\n"
    "*2\r\n$4\r\nECHO\r\n$12\r\n*1\r\n$4\r\nPING\r\n"; /* protocol bytes as data */

static const char pipeline_transcript[] = "[1] 4:PING\n"
                                          "[3] 3:SET 4:k\r\nx 6:\0\r\n\xff\r\n\n"
                                          "[1]i 4:PING\n"
                                          "[4]i 3:set 3:a b 3:c d 2:A\n\n"
                                          "[2] 3:GET 0:\n"
                                          "[2]i 3:GET 6:spaced\n"
                                          "[2] 4:ECHO 12:*1\r\n$4\r\nPING\n";

static void check_transcript(const struct wire_buf *out)
{
	assert_int_equal(out->len, sizeof(pipeline_transcript) - 1);
	assert_memory_equal(out->data, pipeline_transcript, out->len);
}

static void test_pipeline_whole(void **state)
{
	(void)state;
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	int rc = 0;
	parse_whole(NULL, pipeline, sizeof(pipeline) - 1, &out, &rc, NULL);
	assert_int_equal(rc, WIRE_EAGAIN);
	check_transcript(&out);
	wire_buf_free(&out);
}

/* Every split of the buffer in two, and every split in three at a coarser grid, gives
 * the same commands. */
static void test_pipeline_every_split(void **state)
{
	(void)state;
	size_t len = sizeof(pipeline) - 1;
	for (size_t a = 0; a <= len; a++) {
		struct wire_buf out;
		wire_buf_init(&out, 1 << 20);
		int rc = 0;
		parse_with_cuts(NULL, pipeline, len, &a, 1, &out, &rc, NULL);
		assert_int_equal(rc, WIRE_EAGAIN);
		check_transcript(&out);
		wire_buf_free(&out);
	}
	for (size_t a = 0; a <= len; a += 3) {
		for (size_t b = a; b <= len; b += 5) {
			size_t cuts[2] = {a, b};
			struct wire_buf out;
			wire_buf_init(&out, 1 << 20);
			int rc = 0;
			parse_with_cuts(NULL, pipeline, len, cuts, 2, &out, &rc, NULL);
			assert_int_equal(rc, WIRE_EAGAIN);
			check_transcript(&out);
			wire_buf_free(&out);
		}
	}
}

static void test_pipeline_byte_at_a_time(void **state)
{
	(void)state;
	size_t len = sizeof(pipeline) - 1;
	size_t cuts[sizeof(pipeline)];
	for (size_t i = 0; i < len; i++) {
		cuts[i] = i;
	}
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	int rc = 0;
	parse_with_cuts(NULL, pipeline, len, cuts, len, &out, &rc, NULL);
	assert_int_equal(rc, WIRE_EAGAIN);
	check_transcript(&out);
	wire_buf_free(&out);
}

/* The zero-copy path: a socket-like reader writes into the parser's own space. */
static void test_space_commit(void **state)
{
	(void)state;
	struct resp_parser p;
	assert_int_equal(resp_parser_init(&p, NULL), 0);
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	size_t len = sizeof(pipeline) - 1;
	size_t at = 0;
	uint64_t seed = 7;
	while (at < len) {
		char *space = NULL;
		size_t space_len = 0;
		size_t want = 1 + rng_next(&seed) % 9;
		assert_int_equal(resp_parser_space(&p, want, &space, &space_len), 0);
		assert_true(space_len >= 1);
		assert_true(space_len <= want);
		size_t n = space_len < len - at ? space_len : len - at;
		memcpy(space, pipeline + at, n);
		resp_parser_commit(&p, n);
		at += n;
		struct resp_cmd cmd;
		int rc;
		while ((rc = resp_parser_next(&p, &cmd)) == 0) {
			transcript_add(&out, &cmd);
		}
		assert_int_equal(rc, WIRE_EAGAIN);
	}
	check_transcript(&out);
	wire_buf_free(&out);
	resp_parser_free(&p);
}

static void test_inline_quoting(void **state)
{
	(void)state;
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	int rc = 0;
	const char in[] = "SET k \"\\\"q\\\" \\t\\r\\a\\b\\z\" 'it\\'s' x\"y z\"\r\n";
	parse_whole(NULL, in, sizeof(in) - 1, &out, &rc, NULL);
	assert_int_equal(rc, WIRE_EAGAIN);
	const char want[] = "[5]i 3:SET 1:k 9:\"q\" \t\r\a\bz 4:it's 4:xy z\n";
	assert_int_equal(out.len, sizeof(want) - 1);
	assert_memory_equal(out.data, want, out.len);
	wire_buf_free(&out);

	char msg[WIRE_ERRMSG_SIZE];
	assert_int_equal(parse_error(NULL, S("SET \"open\r\n"), msg), WIRE_ESYNTAX);
	assert_string_equal(msg, "Protocol error: unbalanced quotes in request");
	assert_int_equal(parse_error(NULL, S("SET 'open\r\n"), msg), WIRE_ESYNTAX);
	assert_int_equal(parse_error(NULL, S("SET \"a\"b\r\n"), msg), WIRE_ESYNTAX);
	assert_int_equal(parse_error(NULL, S("SET 'a'b\r\n"), msg), WIRE_ESYNTAX);
}

static void test_limits(void **state)
{
	(void)state;
	struct resp_limits lim;
	resp_limits_default(&lim);
	lim.args_max = 3;
	lim.bulk_bytes_max = 10;
	lim.inline_bytes_max = 20;
	lim.buffer_bytes_max = 64;
	char msg[WIRE_ERRMSG_SIZE];

	/* At each limit: fine. One past it: an error. */
	assert_int_equal(
	    parse_error(&lim, S("*3\r\n$1\r\na\r\n$1\r\nb\r\n$10\r\n0123456789\r\n"), msg),
	    WIRE_EAGAIN);
	assert_int_equal(parse_error(&lim, S("*4\r\n"), msg), WIRE_ESYNTAX);
	assert_string_equal(msg, "Protocol error: invalid multibulk length");
	assert_int_equal(parse_error(&lim, S("*1\r\n$11\r\n"), msg), WIRE_ESYNTAX);
	assert_string_equal(msg, "Protocol error: invalid bulk length");
	assert_int_equal(parse_error(&lim, S("a b c\r\n"), msg), WIRE_EAGAIN);
	assert_int_equal(parse_error(&lim, S("a b c d\r\n"), msg), WIRE_ELIMIT);

	/* An inline line: 20 bytes before its newline is the most. */
	assert_int_equal(parse_error(&lim, S("aaaaaaaaaaaaaaaaaaa\r\n"), msg), WIRE_EAGAIN);
	assert_int_equal(parse_error(&lim, S("aaaaaaaaaaaaaaaaaaaaa\n"), msg), WIRE_ELIMIT);
	assert_string_equal(msg, "Protocol error: too big inline request");
	/* ... also while the newline has not come yet. */
	assert_int_equal(parse_error(&lim, S("aaaaaaaaaaaaaaaaaaaaaaaaa"), msg), WIRE_ELIMIT);
	/* Header lines without their CRLF. */
	assert_int_equal(parse_error(&lim, S("*1111111111111111111111111"), msg), WIRE_ELIMIT);
	assert_string_equal(msg, "Protocol error: too big multibulk count string");
	assert_int_equal(parse_error(&lim, S("*1\r\n$1111111111111111111111111"), msg),
	                 WIRE_ELIMIT);
	assert_string_equal(msg, "Protocol error: too big bulk count string");

	/* The buffer: a command that cannot fit is refused as soon as its size shows. */
	lim.bulk_bytes_max = 100;
	assert_int_equal(parse_error(&lim, S("*1\r\n$70\r\n"), msg), WIRE_ELIMIT);
	assert_int_equal(parse_error(&lim, S("*1\r\n$54\r\n"), msg), WIRE_ELIMIT);
	assert_int_equal(parse_error(&lim, S("*1\r\n$53\r\n"), msg), WIRE_EAGAIN);

	/* Many small commands need no more buffer than one of them. */
	struct resp_parser p;
	assert_int_equal(resp_parser_init(&p, &lim), 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(resp_parser_feed(&p, S("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI")), 0);
		struct resp_cmd cmd;
		assert_int_equal(resp_parser_next(&p, &cmd), 0);
		assert_int_equal(resp_parser_next(&p, &cmd), WIRE_EAGAIN);
		assert_int_equal(resp_parser_feed(&p, S("NG\r\n")), 0);
		assert_int_equal(resp_parser_next(&p, &cmd), 0);
		assert_int_equal(resp_parser_next(&p, &cmd), WIRE_EAGAIN);
	}
	/* feed refuses what does not fit and takes nothing. */
	char big[80];
	memset(big, 'a', sizeof(big));
	assert_int_equal(resp_parser_feed(&p, big, sizeof(big)), WIRE_ELIMIT);
	assert_int_equal(resp_parser_buffered(&p), 0);
	resp_parser_free(&p);

	/* Bad limits. */
	lim.args_max = 0;
	assert_int_equal(resp_parser_init(&p, &lim), WIRE_EINVAL);
	resp_limits_default(&lim);
	lim.bulk_bytes_max = RESP_BULK_BYTES_LIMIT + 1;
	assert_int_equal(resp_parser_init(&p, &lim), WIRE_EINVAL);
}

/* The buffer fills with one inline line when the inline limit is above the buffer's. */
static void test_limit_buffer_full(void **state)
{
	(void)state;
	struct resp_limits lim;
	resp_limits_default(&lim);
	lim.buffer_bytes_max = 32;
	struct resp_parser p;
	assert_int_equal(resp_parser_init(&p, &lim), 0);
	char *space = NULL;
	size_t space_len = 0;
	assert_int_equal(resp_parser_space(&p, 1000, &space, &space_len), 0);
	assert_int_equal(space_len, 32);
	memset(space, 'x', space_len);
	resp_parser_commit(&p, space_len);
	struct resp_cmd cmd;
	assert_int_equal(resp_parser_next(&p, &cmd), WIRE_ELIMIT);
	assert_string_equal(resp_parser_errmsg(&p),
	                    "Protocol error: command larger than the 32-byte input buffer");
	assert_int_equal(resp_parser_space(&p, 1, &space, &space_len), WIRE_ELIMIT);
	resp_parser_free(&p);
}

static void test_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *msg;
	} cases[] = {
	    {S("*1\r\n+PING\r\n"), "Protocol error: expected '$', got '+'"},
	    {S("*1\r\n\x01"), "Protocol error: expected '$', got byte 0x01"},
	    {S("*-2\r\n"), "Protocol error: invalid multibulk length"},
	    {S("*1\r\n$-1\r\n"), "Protocol error: invalid bulk length"},
	    {S("*1\r\n$-2\r\n"), "Protocol error: invalid bulk length"},
	    {S("*x\r\n"), "Protocol error: invalid multibulk length"},
	    {S("*\r\n"), "Protocol error: invalid multibulk length"},
	    {S("*+1\r\n"), "Protocol error: invalid multibulk length"},
	    {S("* 1\r\n"), "Protocol error: invalid multibulk length"},
	    {S("*1\r\n$1x\r\n"), "Protocol error: invalid bulk length"},
	    {S("*1\r\n$99999999999999999999\r\n"), "Protocol error: invalid bulk length"},
	    {S("*1\rX"), "Protocol error: invalid multibulk length"},
	    {S("*1\r\n$1\r\nab\r\n"), "Protocol error: expected CRLF after bulk string"},
	    {S("*1\r\n$1\r\na\n\r"), "Protocol error: expected CRLF after bulk string"},
	    {S("*2\r\n$1\r\na\r\n*1\r\n"), "Protocol error: expected '$', got '*'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[WIRE_ERRMSG_SIZE];
		int rc = parse_error(NULL, cases[i].in, cases[i].len, msg);
		assert_int_equal(rc, WIRE_ESYNTAX);
		assert_string_equal(msg, cases[i].msg);
	}

	/* The error sticks, and the commands before it were handed out. */
	struct resp_parser p;
	assert_int_equal(resp_parser_init(&p, NULL), 0);
	assert_int_equal(resp_parser_feed(&p, S("PING\r\n*1\r\n$x\r\n")), 0);
	struct resp_cmd cmd;
	assert_int_equal(resp_parser_next(&p, &cmd), 0);
	assert_int_equal(resp_parser_next(&p, &cmd), WIRE_ESYNTAX);
	assert_int_equal(resp_parser_feed(&p, S("PING\r\n")), 0);
	assert_int_equal(resp_parser_next(&p, &cmd), WIRE_ESYNTAX);
	resp_parser_free(&p);
}

/* Random bytes, biased towards the protocol's own, in random pieces: never a crash,
 * only commands, WIRE_EAGAIN or a protocol error (run under ASan and UBSan). */
static void test_random_bytes(void **state)
{
	(void)state;
	static const char alphabet[] = "*$\r\n\r\n0123-19 \"'\\xaAGET";
	struct resp_limits lim;
	resp_limits_default(&lim);
	lim.args_max = 8;
	lim.bulk_bytes_max = 16;
	lim.inline_bytes_max = 24;
	lim.buffer_bytes_max = 64;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t commands = 0;
	size_t errors = 0;
	for (int iter = 0; iter < 100000; iter++) {
		char buf[48];
		size_t len = rng_next(&seed) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			uint64_t r = rng_next(&seed);
			buf[i] = r % 4 == 0 ? (char)(r >> 8)
			                    : alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
		}
		struct resp_parser p;
		assert_int_equal(resp_parser_init(&p, &lim), 0);
		size_t at = 0;
		int rc = WIRE_EAGAIN;
		while (at < len && rc == WIRE_EAGAIN) {
			size_t n = 1 + rng_next(&seed) % 8;
			n = n < len - at ? n : len - at;
			rc = resp_parser_feed(&p, buf + at, n);
			at += n;
			struct resp_cmd cmd;
			while (rc == 0 && (rc = resp_parser_next(&p, &cmd)) == 0) {
				assert_true(cmd.argc >= 1);
				assert_true(cmd.argc <= lim.args_max);
				for (size_t i = 0; i < cmd.argc; i++) {
					assert_true(cmd.argv[i].len <= lim.buffer_bytes_max);
				}
				commands++;
			}
		}
		if (rc != WIRE_EAGAIN) {
			assert_true(rc == WIRE_ESYNTAX || rc == WIRE_ELIMIT);
			assert_memory_equal(resp_parser_errmsg(&p), "Protocol error: ", 16);
			errors++;
		}
		resp_parser_free(&p);
	}
	assert_true(commands > 1000);
	assert_true(errors > 1000);
}

/* ----------------------------------------------------------------------------------
 * Reply writer
 */

static void test_writer(void **state)
{
	(void)state;
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	resp_write_ok(&b);
	resp_write_simple(&b, S("PONG"));
	resp_write_error(&b, S("ERR bad\r\nthing"));
	resp_write_errorf(&b, "NOTLEADER %s", "127.0.0.1:7001");
	resp_write_integer(&b, 0);
	resp_write_integer(&b, -42);
	resp_write_integer(&b, INT64_MIN);
	resp_write_bulk(&b, S("a\r\nb"));
	resp_write_bulk(&b, "", 0);
	resp_write_null(&b);
	resp_write_array(&b, 2);
	resp_write_array(&b, 1);
	resp_write_integer(&b, 1);
	resp_write_null_array(&b);
	assert_int_equal(resp_write_array(&b, 0), 0);
	const char want[] = "+OK\r\n+PONG\r\n-ERR bad  thing\r\n-NOTLEADER 127.0.0.1:7001\r\n"
	                    ":0\r\n:-42\r\n:-9223372036854775808\r\n$4\r\na\r\nb\r\n$0\r\n\r\n"
	                    "$-1\r\n*2\r\n*1\r\n:1\r\n*-1\r\n*0\r\n";
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	wire_buf_free(&b);

	/* The ceiling: the error sticks and the contents stay as they were. */
	wire_buf_init(&b, 8);
	assert_int_equal(resp_write_ok(&b), 0);
	assert_int_equal(resp_write_bulk(&b, S("abc")), WIRE_ELIMIT);
	assert_int_equal(resp_write_ok(&b), WIRE_ELIMIT);
	assert_int_equal(b.len, 5 + 2); /* "$3" fit before the rest did not */
	wire_buf_reset(&b);
	assert_int_equal(resp_write_ok(&b), 0);
	wire_buf_free(&b);
}

/* ----------------------------------------------------------------------------------
 * Reply parser
 */

/* A reply tree as text, to compare. */
static void dump_value(struct wire_buf *out, const struct resp_value *v)
{
	switch (v->type) {
	case RESP_SIMPLE:
		wire_buf_printf(out, "+%.*s", (int)v->len, v->str);
		break;
	case RESP_ERROR:
		wire_buf_printf(out, "-%.*s", (int)v->len, v->str);
		break;
	case RESP_INTEGER:
		wire_buf_printf(out, ":%lld", (long long)v->integer);
		break;
	case RESP_BULK:
		wire_buf_printf(out, "$%zu:", v->len);
		wire_buf_append(out, v->str, v->len);
		break;
	case RESP_NULL:
		wire_buf_append_str(out, "nil");
		break;
	case RESP_NULL_ARRAY:
		wire_buf_append_str(out, "*nil");
		break;
	case RESP_ARRAY:
		wire_buf_printf(out, "[%zu", v->n);
		for (size_t i = 0; i < v->n; i++) {
			wire_buf_append_byte(out, ' ');
			dump_value(out, &v->elems[i]);
		}
		wire_buf_append_byte(out, ']');
		break;
	}
}

static int read_all(const struct resp_reader_limits *lim, const char *in, size_t len, size_t step,
                    struct wire_buf *out)
{
	struct resp_reader r;
	assert_int_equal(resp_reader_init(&r, lim), 0);
	size_t at = 0;
	int rc = WIRE_EAGAIN;
	while (rc == WIRE_EAGAIN || rc == 0) {
		if (rc == WIRE_EAGAIN) {
			if (at == len) {
				break;
			}
			size_t n = step < len - at ? step : len - at;
			assert_int_equal(resp_reader_feed(&r, in + at, n), 0);
			at += n;
		}
		const struct resp_value *v = NULL;
		rc = resp_reader_next(&r, &v);
		if (rc == 0) {
			dump_value(out, v);
			wire_buf_append_byte(out, '\n');
		}
	}
	resp_reader_free(&r);
	return rc;
}

/* RESP3 next to RESP2: under proto 2 each writes exactly the RESP2 bytes. */
static void test_writer_resp3(void **state)
{
	(void)state;
	for (int proto = RESP_PROTO_2; proto <= RESP_PROTO_3; proto++) {
		struct wire_buf b;
		wire_buf_init(&b, 1 << 20);
		resp_write_nil(&b, proto);
		resp_write_nil_array(&b, proto);
		resp_write_map(&b, 2, proto);
		resp_write_bulk(&b, S("k"));
		resp_write_integer(&b, 1);
		resp_write_map(&b, 0, proto);
		resp_write_double(&b, 1.5, proto);
		resp_write_double(&b, 0.1, proto);
		resp_write_double(&b, -3, proto);
		resp_write_double(&b, 1.0 / 0.0, proto);
		resp_write_double(&b, -1.0 / 0.0, proto);
		resp_write_bool(&b, true, proto);
		assert_int_equal(resp_write_bool(&b, false, proto), 0);
		const char *want =
		    proto == RESP_PROTO_3
		        ? "_\r\n_\r\n%2\r\n$1\r\nk\r\n:1\r\n%0\r\n,1.5\r\n,0.1\r\n,-3\r\n"
		          ",inf\r\n,-inf\r\n#t\r\n#f\r\n"
		        : "$-1\r\n*-1\r\n*4\r\n$1\r\nk\r\n:1\r\n*0\r\n$3\r\n1.5\r\n$3\r\n0.1\r\n"
		          "$2\r\n-3\r\n$3\r\ninf\r\n$4\r\n-inf\r\n:1\r\n:0\r\n";
		assert_int_equal(b.len, strlen(want));
		assert_memory_equal(b.data, want, b.len);
		wire_buf_free(&b);
	}
}

static void test_reader_round_trip(void **state)
{
	(void)state;
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	resp_write_ok(&b);
	resp_write_error(&b, S("MOVED 0 127.0.0.1:7002"));
	resp_write_integer(&b, -7);
	resp_write_bulk(&b, S("x\r\ny"));
	resp_write_null(&b);
	resp_write_array(&b, 3);
	resp_write_bulk(&b, S("k"));
	resp_write_array(&b, 2);
	resp_write_null(&b);
	resp_write_array(&b, 0);
	resp_write_null_array(&b);
	const char want[] = "+OK\n-MOVED 0 127.0.0.1:7002\n:-7\n$4:x\r\ny\nnil\n"
	                    "[3 $1:k [2 nil [0]] *nil]\n";
	for (size_t step = 1; step <= b.len; step++) {
		struct wire_buf out;
		wire_buf_init(&out, 1 << 20);
		assert_int_equal(read_all(NULL, b.data, b.len, step, &out), WIRE_EAGAIN);
		assert_int_equal(out.len, sizeof(want) - 1);
		assert_memory_equal(out.data, want, out.len);
		wire_buf_free(&out);
	}
	wire_buf_free(&b);
}

static void test_reader_limits_and_malformed(void **state)
{
	(void)state;
	struct resp_reader_limits lim;
	resp_reader_limits_default(&lim);
	lim.depth_max = 2;
	lim.values_max = 4;
	lim.bulk_bytes_max = 8;
	lim.line_bytes_max = 8;
	struct wire_buf out;
	wire_buf_init(&out, 1 << 20);
	assert_int_equal(read_all(&lim, S("*1\r\n*1\r\n:1\r\n"), 1, &out), WIRE_EAGAIN);
	assert_int_equal(read_all(&lim, S("*1\r\n*1\r\n*1\r\n"), 1, &out), WIRE_EDEPTH);
	assert_int_equal(read_all(&lim, S("*5\r\n"), 1, &out), WIRE_ELIMIT);
	assert_int_equal(read_all(&lim, S("*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n"), 1, &out), WIRE_ELIMIT);
	assert_int_equal(read_all(&lim, S("$9\r\n"), 1, &out), WIRE_ELIMIT);
	assert_int_equal(read_all(&lim, S("+123456789\r\n"), 1, &out), WIRE_ELIMIT);
	assert_int_equal(read_all(&lim, S("+123456789"), 100, &out), WIRE_ELIMIT);
	assert_int_equal(read_all(NULL, S("$-2\r\n"), 1, &out), WIRE_ESYNTAX);
	assert_int_equal(read_all(NULL, S("*-2\r\n"), 1, &out), WIRE_ESYNTAX);
	assert_int_equal(read_all(NULL, S("?\r\n"), 1, &out), WIRE_ESYNTAX);
	assert_int_equal(read_all(NULL, S(":1x\r\n"), 1, &out), WIRE_ESYNTAX);
	assert_int_equal(read_all(NULL, S("$1\r\nab\r\n"), 1, &out), WIRE_ESYNTAX);
	assert_int_equal(read_all(NULL, S("+a\rb"), 1, &out), WIRE_ESYNTAX);
	wire_buf_free(&out);
}

static void test_reader_random_bytes(void **state)
{
	(void)state;
	static const char alphabet[] = "*$+-:\r\n\r\n0123-1 ab";
	struct resp_reader_limits lim;
	resp_reader_limits_default(&lim);
	lim.depth_max = 4;
	lim.values_max = 16;
	lim.bulk_bytes_max = 16;
	lim.line_bytes_max = 16;
	lim.buffer_bytes_max = 64;
	uint64_t seed = 42;
	for (int iter = 0; iter < 50000; iter++) {
		char buf[40];
		size_t len = rng_next(&seed) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			uint64_t r = rng_next(&seed);
			buf[i] = r % 5 == 0 ? (char)(r >> 8)
			                    : alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
		}
		struct wire_buf out;
		wire_buf_init(&out, 1 << 20);
		int rc = read_all(&lim, buf, len, 1 + rng_next(&seed) % 7, &out);
		assert_true(rc == WIRE_EAGAIN || rc == WIRE_ESYNTAX || rc == WIRE_ELIMIT ||
		            rc == WIRE_EDEPTH);
		wire_buf_free(&out);
	}
}

/* Values from Redis Cluster's specification and CLUSTER KEYSLOT. */
static void test_key_slot(void **state)
{
	(void)state;
	assert_int_equal(resp_key_slot(S("123456789")), 0x31c3 & 16383);
	assert_int_equal(resp_key_slot(S("foo")), 12182);
	assert_int_equal(resp_key_slot(S("{user1000}.following")), resp_key_slot(S("user1000")));
	/* The cases of the specification: the first '{' and the first '}' after it. */
	assert_int_equal(resp_key_slot(S("foo{{bar}}zap")), resp_key_slot(S("{bar")));
	assert_int_equal(resp_key_slot(S("foo{bar}{zap}")), resp_key_slot(S("bar")));
	assert_int_not_equal(resp_key_slot(S("a{b")),
	                     resp_key_slot(S("x{b"))); /* no '}': whole key */
	assert_int_not_equal(resp_key_slot(S("{}a")),
	                     resp_key_slot(S("{}b"))); /* empty tag: whole key */
	assert_int_equal(resp_key_slot("", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_array_command),
	    cmocka_unit_test(test_pipeline_whole),
	    cmocka_unit_test(test_pipeline_every_split),
	    cmocka_unit_test(test_pipeline_byte_at_a_time),
	    cmocka_unit_test(test_space_commit),
	    cmocka_unit_test(test_inline_quoting),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_limit_buffer_full),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_writer),
	    cmocka_unit_test(test_writer_resp3),
	    cmocka_unit_test(test_reader_round_trip),
	    cmocka_unit_test(test_reader_limits_and_malformed),
	    cmocka_unit_test(test_reader_random_bytes),
	    cmocka_unit_test(test_key_slot),
	};
	return cmocka_run_group_tests_name("resp", tests, NULL, NULL);
}
