/* fuzz_history.c: libFuzzer target for the checker's history reader (check_history_parse,
 * JSON lines). What parses must validate, write back with check_history_write and parse
 * again to the same operations; small histories are also checked, under a search-state
 * budget so that every run is bounded and deterministic. */
#include "check/check.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_str(const struct check_str *a, const struct check_str *b)
{
	assert(a->present == b->present);
	assert(a->len == b->len);
	if (a->len > 0)
		assert(memcmp(a->bytes, b->bytes, a->len) == 0);
}

static void same_subops(const struct check_subop *a, const struct check_subop *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert(a[i].kind == b[i].kind);
		same_str(&a[i].key, &b[i].key);
		same_str(&a[i].value, &b[i].value);
		same_str(&a[i].result, &b[i].result);
	}
}

/* A txn's compares, branches and branch taken. */
static void same_txn(const struct check_op *a, const struct check_op *b)
{
	assert(a->compare_count == b->compare_count && a->branch == b->branch);
	assert(a->then_count == b->then_count && a->else_count == b->else_count);
	for (size_t i = 0; i < a->compare_count; i++) {
		same_str(&a->compares[i].key, &b->compares[i].key);
		same_str(&a->compares[i].value, &b->compares[i].value);
	}
	same_subops(a->then_ops, b->then_ops, a->then_count);
	same_subops(a->else_ops, b->else_ops, a->else_count);
}

static void same_op(const struct check_op *a, const struct check_op *b)
{
	assert(a->client == b->client && a->kind == b->kind && a->ok == b->ok);
	same_str(&a->key, &b->key);
	same_str(&a->value, &b->value);
	same_str(&a->expect, &b->expect);
	same_str(&a->result, &b->result);
	assert(a->existed == b->existed);
	same_txn(a, b);
	assert(a->call_time == b->call_time);
	if (a->ok != CHECK_OK_UNKNOWN)
		assert(a->return_time == b->return_time);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct check_history h;
	struct check_error err;
	int rv = check_history_parse((const char *)data, size, &h, &err);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "parse %d: %zu ops%s%s\n", rv, rv ? 0 : h.op_count, rv ? ", " : "",
		        rv ? err.message : "");
	if (rv != 0) {
		assert(rv == -EINVAL || rv == -ENOMEM);
		assert(err.message[0] != '\0');
		return 0;
	}
	char msg[256];
	for (size_t i = 0; i < h.op_count; i++)
		assert(check_op_validate(&h.ops[i], msg, sizeof(msg)) == 0);

	char *text = NULL;
	size_t text_len = 0;
	FILE *f = open_memstream(&text, &text_len);
	assert(f != NULL);
	assert(check_history_write(f, h.ops, h.op_count) == 0);
	assert(fclose(f) == 0);
	struct check_history again;
	rv = check_history_parse(text, text_len, &again, &err);
	if (rv != 0)
		fprintf(stderr, "written history does not parse: line %zu: %s\n", err.line,
		        err.message);
	assert(rv == 0);
	assert(again.op_count == h.op_count);
	for (size_t i = 0; i < h.op_count; i++)
		same_op(&h.ops[i], &again.ops[i]);
	check_history_free(&again);
	free(text);

	if (h.op_count <= 64) {
		struct check_options opt = {
		    .budget_ms = UINT64_MAX, .budget_bytes = 64u << 20, .budget_states = 20000};
		struct check_result res;
		rv = check_history_run(h.ops, h.op_count, &opt, &res);
		assert(rv == 0 || rv == -ENOMEM);
		if (rv == 0) {
			assert(res.verdict == CHECK_LINEARIZABLE ||
			       res.verdict == CHECK_NOT_LINEARIZABLE ||
			       res.verdict == CHECK_UNKNOWN);
			check_result_free(&res);
		}
	}
	check_history_free(&h);
	return 0;
}
