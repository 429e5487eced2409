/* fuzz_resp.c: libFuzzer target for the RESP request parser and reply parser: split input, limits,
 * re-encoding. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes cmd as an array of bulks, parses that, and checks it reads back the same. */
static void check_reencode(const struct resp_cmd *cmd)
{
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	resp_write_array(&b, cmd->argc);
	for (size_t i = 0; i < cmd->argc; i++) {
		resp_write_bulk(&b, cmd->argv[i].data, cmd->argv[i].len);
	}
	assert(b.err == 0);
	struct resp_parser p;
	int rc = resp_parser_init(&p, NULL);
	assert(rc == 0);
	rc = resp_parser_feed(&p, b.data, b.len);
	assert(rc == 0);
	struct resp_cmd again;
	rc = resp_parser_next(&p, &again);
	assert(rc == 0);
	assert(again.argc == cmd->argc);
	for (size_t i = 0; i < cmd->argc; i++) {
		assert(again.argv[i].len == cmd->argv[i].len);
		assert(memcmp(again.argv[i].data, cmd->argv[i].data, cmd->argv[i].len) == 0);
	}
	assert(resp_parser_next(&p, &again) == WIRE_EAGAIN);
	resp_parser_free(&p);
	wire_buf_free(&b);
}

static void fuzz_requests(const uint8_t *data, size_t size, size_t chunk)
{
	struct resp_limits lim;
	resp_limits_default(&lim);
	lim.args_max = 64;
	lim.bulk_bytes_max = 4096;
	lim.inline_bytes_max = 512;
	lim.buffer_bytes_max = 8192;
	struct resp_parser p;
	int rc = resp_parser_init(&p, &lim);
	assert(rc == 0);
	size_t at = 0;
	rc = WIRE_EAGAIN;
	while (at < size && rc == WIRE_EAGAIN) {
		char *space = NULL;
		size_t space_len = 0;
		rc = resp_parser_space(&p, chunk, &space, &space_len);
		if (rc != 0) {
			rc = resp_parser_next(&p, &(struct resp_cmd){0});
			assert(rc != 0);
			break;
		}
		size_t n = space_len < size - at ? space_len : size - at;
		memcpy(space, data + at, n);
		resp_parser_commit(&p, n);
		at += n;
		struct resp_cmd cmd;
		while ((rc = resp_parser_next(&p, &cmd)) == 0) {
			assert(cmd.argc >= 1);
			assert(cmd.argc <= lim.args_max);
			check_reencode(&cmd);
		}
	}
	if (rc != WIRE_EAGAIN) {
		assert(rc == WIRE_ESYNTAX || rc == WIRE_ELIMIT);
		assert(strncmp(resp_parser_errmsg(&p), "Protocol error: ", 16) == 0);
	}
	resp_parser_free(&p);
}

static void fuzz_replies(const uint8_t *data, size_t size, size_t chunk)
{
	struct resp_reader_limits lim;
	resp_reader_limits_default(&lim);
	lim.depth_max = 8;
	lim.values_max = 1024;
	lim.bulk_bytes_max = 4096;
	lim.line_bytes_max = 512;
	lim.buffer_bytes_max = 8192;
	struct resp_reader r;
	int rc = resp_reader_init(&r, &lim);
	assert(rc == 0);
	size_t at = 0;
	rc = WIRE_EAGAIN;
	while (at < size && rc == WIRE_EAGAIN) {
		size_t n = chunk < size - at ? chunk : size - at;
		if (resp_reader_feed(&r, data + at, n) != 0) {
			break;
		}
		at += n;
		const struct resp_value *v = NULL;
		while ((rc = resp_reader_next(&r, &v)) == 0) {
			assert(v != NULL);
		}
	}
	resp_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0) {
		return 0;
	}
	/* The first byte chooses how the rest arrives: 1 to 64 bytes per read. */
	size_t chunk = 1 + data[0] % 64;
	fuzz_requests(data + 1, size - 1, chunk);
	fuzz_replies(data + 1, size - 1, chunk);
	return 0;
}
