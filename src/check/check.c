/* check.c: validation, per-key decomposition and verdicts of the linearizability checker. */
#include "check/check.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check/budget.h"
#include "check/internal.h"
#include "check/model.h"
#include "check/search.h"

enum {
	CHECK_DEFAULT_BUDGET_MS = 10000,
};
#define CHECK_DEFAULT_BUDGET_BYTES ((uint64_t)1 << 30)

const char *check_verdict_name(enum check_verdict verdict)
{
	switch (verdict) {
	case CHECK_LINEARIZABLE:
		return "linearizable";
	case CHECK_NOT_LINEARIZABLE:
		return "not linearizable";
	case CHECK_UNKNOWN:
		return "unknown";
	}
	return "?";
}

const char *check_kind_name(enum check_kind kind)
{
	switch (kind) {
	case CHECK_KIND_GET:
		return "get";
	case CHECK_KIND_PUT:
		return "put";
	case CHECK_KIND_DELETE:
		return "delete";
	case CHECK_KIND_APPEND:
		return "append";
	case CHECK_KIND_CAS:
		return "cas";
	case CHECK_KIND_INCR:
		return "incr";
	case CHECK_KIND_MSET:
		return "mset";
	case CHECK_KIND_DELRANGE:
		return "delrange";
	case CHECK_KIND_EXPIRE:
		return "expire";
	case CHECK_KIND_TXN:
		return "txn";
	}
	return "?";
}

const char *check_ok_name(enum check_ok ok)
{
	switch (ok) {
	case CHECK_OK_TRUE:
		return "true";
	case CHECK_OK_FALSE:
		return "false";
	case CHECK_OK_UNKNOWN:
		return "unknown";
	}
	return "?";
}

int check_str_compare(const struct check_str *a, const struct check_str *b)
{
	if (a->present != b->present)
		return a->present ? 1 : -1;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n > 0 ? memcmp(a->bytes, b->bytes, n) : 0;
	if (c != 0)
		return c;
	return a->len < b->len ? -1 : (a->len > b->len);
}

char *check_format_str(char *buf, size_t size, const struct check_str *s, size_t max_chars,
                       const char *none)
{
	assert(buf != NULL && size >= 8);
	if (!s->present) {
		snprintf(buf, size, "%s", none);
		return buf;
	}
	size_t at = 0;
	buf[at++] = '"';
	size_t shown = 0;
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->bytes[i];
		char tmp[8];
		if (c == '"' || c == '\\')
			snprintf(tmp, sizeof(tmp), "\\%c", c);
		else if (c == '\n')
			snprintf(tmp, sizeof(tmp), "\\n");
		else if (c == '\t')
			snprintf(tmp, sizeof(tmp), "\\t");
		else if (c < 0x20 || c == 0x7f)
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		else
			snprintf(tmp, sizeof(tmp), "%c", c);
		size_t len = strlen(tmp);
		if (shown >= max_chars || at + len + 5 >= size) {
			memcpy(buf + at, "...", 3);
			at += 3;
			break;
		}
		memcpy(buf + at, tmp, len);
		at += len;
		shown++;
	}
	buf[at++] = '"';
	buf[at] = '\0';
	return buf;
}

static bool check_is_int(const struct check_str *s)
{
	int64_t v;
	return s->present && model_parse_int(s->bytes, s->len, &v);
}

static int check_fail(char *message, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int check_fail(char *message, size_t size, const char *fmt, ...)
{
	if (message != NULL && size > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(message, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool check_str_sound(const struct check_str *s)
{
	return !s->present || s->len == 0 || s->bytes != NULL;
}

/* The first key a txn names: its first compare's, else its first sub-operation's. */
static const struct check_str *check_txn_first_key(const struct check_op *op)
{
	if (op->compare_count > 0)
		return &op->compares[0].key;
	if (op->then_count > 0)
		return &op->then_ops[0].key;
	return op->else_count > 0 ? &op->else_ops[0].key : NULL;
}

/* One branch of a txn; taken: its gets may carry results. */
static int check_validate_subops(const struct check_subop *subs, size_t n, bool taken,
                                 char *message, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		const struct check_subop *s = &subs[i];
		if (s->kind != CHECK_KIND_GET && s->kind != CHECK_KIND_PUT &&
		    s->kind != CHECK_KIND_DELETE && s->kind != CHECK_KIND_APPEND)
			return check_fail(message, size,
			                  "a txn's sub-operation is a get, put, delete or append");
		if (!s->key.present || !check_str_sound(&s->key) || !check_str_sound(&s->value) ||
		    !check_str_sound(&s->result))
			return check_fail(message, size,
			                  "a txn's sub-operation needs a string key");
		bool writes = s->kind == CHECK_KIND_PUT || s->kind == CHECK_KIND_APPEND;
		if (writes != s->value.present)
			return check_fail(message, size, "a txn's %s %s", check_kind_name(s->kind),
			                  writes ? "needs a string value" : "takes no value");
		if (s->result.present && (s->kind != CHECK_KIND_GET || !taken))
			return check_fail(message, size,
			                  "only a get of the branch taken, observed, has a result");
	}
	return 0;
}

/* A txn's compares, branches and the branch taken. */
static int check_validate_txn(const struct check_op *op, char *message, size_t size)
{
	if (op->value.present || op->expect.present || op->result.present)
		return check_fail(message, size, "txn takes no value, expect or result");
	if ((op->compare_count && !op->compares) || (op->then_count && !op->then_ops) ||
	    (op->else_count && !op->else_ops))
		return check_fail(message, size, "a txn's list has a length but no items");
	for (size_t i = 0; i < op->compare_count; i++) {
		if (!op->compares[i].key.present || !check_str_sound(&op->compares[i].key) ||
		    !check_str_sound(&op->compares[i].value))
			return check_fail(message, size, "a txn's compare needs a string key");
	}
	if ((unsigned)op->branch > CHECK_BRANCH_ELSE)
		return check_fail(message, size, "invalid branch %d", (int)op->branch);
	if (op->ok != CHECK_OK_TRUE && op->branch != CHECK_BRANCH_UNOBSERVED)
		return check_fail(message, size, "a txn with ok %s observed no branch",
		                  check_ok_name(op->ok));
	if (op->compare_count == 0 && op->branch == CHECK_BRANCH_ELSE)
		return check_fail(message, size, "a txn without compares cannot take else");
	bool then_taken = op->branch == CHECK_BRANCH_THEN;
	bool else_taken = op->branch == CHECK_BRANCH_ELSE;
	if (check_validate_subops(op->then_ops, op->then_count, then_taken, message, size) != 0 ||
	    check_validate_subops(op->else_ops, op->else_count, else_taken, message, size) != 0)
		return -EINVAL;
	const struct check_str *first = check_txn_first_key(op);
	if (first == NULL)
		return check_fail(message, size, "a txn must name a key");
	if (check_str_compare(first, &op->key) != 0)
		return check_fail(message, size, "a txn's key must be the first key it names");
	return 0;
}

/* The fields only some kinds take (the multi-key kinds' among them). */
static int check_validate_fields(const struct check_op *op, char *message, size_t size)
{
	const char *kind = check_kind_name(op->kind);
	if (op->kind == CHECK_KIND_EXPIRE &&
	    (op->ok != CHECK_OK_UNKNOWN || !op->expect.present || op->value.present))
		return check_fail(message, size, "expire needs an expect and ok \"unknown\"");
	if (op->kind != CHECK_KIND_CAS && op->kind != CHECK_KIND_EXPIRE && op->expect.present)
		return check_fail(message, size, "%s takes no expect", kind);
	if (op->kind != CHECK_KIND_DELETE && op->existed != CHECK_EXISTED_UNOBSERVED)
		return check_fail(message, size, "only delete reports whether the key existed");
	if (op->kind != CHECK_KIND_MSET && (op->key_count != 0 || op->keys || op->values))
		return check_fail(message, size, "only mset takes keys and values");
	if (op->kind != CHECK_KIND_DELRANGE && op->range_end.present)
		return check_fail(message, size, "only delrange takes an end");
	if (op->kind != CHECK_KIND_TXN &&
	    (op->compare_count || op->then_count || op->else_count || op->compares ||
	     op->then_ops || op->else_ops || op->branch != CHECK_BRANCH_UNOBSERVED))
		return check_fail(message, size, "only txn takes compares, branches and a branch");
	if (op->kind == CHECK_KIND_TXN)
		return check_validate_txn(op, message, size);
	if (op->kind == CHECK_KIND_MSET) {
		if (op->key_count == 0 || op->keys == NULL || op->values == NULL)
			return check_fail(message, size, "mset needs keys and values");
		for (size_t i = 0; i < op->key_count; i++) {
			if (!op->keys[i].present || !op->values[i].present ||
			    (op->keys[i].len > 0 && op->keys[i].bytes == NULL) ||
			    (op->values[i].len > 0 && op->values[i].bytes == NULL))
				return check_fail(message, size,
				                  "mset's keys and values are strings");
		}
		if (check_str_compare(&op->keys[0], &op->key) != 0)
			return check_fail(message, size, "mset's key must be its first key");
	}
	if (op->kind == CHECK_KIND_DELRANGE) {
		if (!op->range_end.present || (op->range_end.len > 0 && !op->range_end.bytes))
			return check_fail(message, size, "delrange needs an end (a string)");
		if (op->result.present && !check_is_int(&op->result))
			return check_fail(message, size, "delrange's result is a count or null");
	}
	if ((op->kind == CHECK_KIND_MSET || op->kind == CHECK_KIND_DELRANGE) &&
	    (op->value.present || (op->kind == CHECK_KIND_MSET && op->result.present)))
		return check_fail(message, size, "%s takes no value and no result", kind);
	return 0;
}

int check_op_validate(const struct check_op *op, char *message, size_t size)
{
	assert(op != NULL);
	if ((unsigned)op->kind > CHECK_KIND_TXN)
		return check_fail(message, size, "unknown op kind %d", (int)op->kind);
	if ((unsigned)op->ok > CHECK_OK_UNKNOWN)
		return check_fail(message, size, "invalid ok %d", (int)op->ok);
	if ((unsigned)op->existed > CHECK_EXISTED_YES)
		return check_fail(message, size, "invalid existed %d", (int)op->existed);
	const char *kind = check_kind_name(op->kind);
	const struct check_str *strs[] = {&op->key, &op->value, &op->expect, &op->result};
	for (size_t i = 0; i < 4; i++) {
		if (strs[i]->present && strs[i]->len > 0 && strs[i]->bytes == NULL)
			return check_fail(message, size, "a string has length but no bytes");
	}
	if (!op->key.present)
		return check_fail(message, size, "key must be a string");
	if (op->ok != CHECK_OK_UNKNOWN && op->return_time < op->call_time)
		return check_fail(message, size, "return %" PRId64 " is before call %" PRId64,
		                  op->return_time, op->call_time);
	if (check_validate_fields(op, message, size) != 0)
		return -EINVAL;
	bool returned = op->ok == CHECK_OK_TRUE;
	switch (op->kind) {
	case CHECK_KIND_GET:
		if (op->value.present)
			return check_fail(message, size, "get takes no value");
		break;
	case CHECK_KIND_PUT:
	case CHECK_KIND_APPEND:
	case CHECK_KIND_CAS:
		if (!op->value.present)
			return check_fail(message, size, "%s needs a string value", kind);
		if (op->result.present)
			return check_fail(message, size, "%s has no result (it must be null)",
			                  kind);
		break;
	case CHECK_KIND_DELETE:
		if (op->value.present)
			return check_fail(message, size, "delete takes no value");
		if (op->result.present)
			return check_fail(message, size,
			                  "delete's result is true, false or null, not a string");
		if (!returned && op->existed != CHECK_EXISTED_UNOBSERVED)
			return check_fail(
			    message, size,
			    "a delete with ok %s observed nothing: result must be null",
			    check_ok_name(op->ok));
		break;
	case CHECK_KIND_INCR:
		if (op->value.present && !check_is_int(&op->value))
			return check_fail(
			    message, size,
			    "incr's value (the delta) must be a decimal integer string");
		if (op->result.present && !check_is_int(&op->result))
			return check_fail(message, size,
			                  "incr's result must be a decimal integer string or null");
		break;
	case CHECK_KIND_MSET:
	case CHECK_KIND_DELRANGE:
	case CHECK_KIND_EXPIRE:
	case CHECK_KIND_TXN:
		break; /* check_validate_fields */
	}
	if (!returned && op->result.present)
		return check_fail(message, size, "an operation with ok %s has no result (null)",
		                  check_ok_name(op->ok));
	return 0;
}

static const char *check_budget_reason(enum budget_exhausted e)
{
	switch (e) {
	case BUDGET_TIME:
		return "the time budget";
	case BUDGET_MEMORY:
		return "the memory budget";
	case BUDGET_STATES:
		return "the state budget";
	case BUDGET_OOM:
		return "memory (allocation failed)";
	default:
		return "nothing";
	}
}

void check_result_free(struct check_result *result)
{
	if (result == NULL)
		return;
	free(result->keys);
	free(result->prefix);
	free(result->stuck);
	free((char *)result->prefix_state.bytes);
	memset(result, 0, sizeof(*result));
	result->failed_key = SIZE_MAX;
}

int check_history_run(const struct check_op *ops, size_t op_count,
                      const struct check_options *options, struct check_result *result)
{
	assert(result != NULL);
	assert(ops != NULL || op_count == 0);
	memset(result, 0, sizeof(*result));
	result->failed_key = SIZE_MAX;
	for (size_t i = 0; i < op_count; i++) {
		char message[160];
		if (check_op_validate(&ops[i], message, sizeof(message)) != 0) {
			if (ops[i].line > 0)
				snprintf(result->reason, sizeof(result->reason), "line %zu: %s",
				         ops[i].line, message);
			else
				snprintf(result->reason, sizeof(result->reason),
				         "operation %zu: %s", i, message);
			return -EINVAL;
		}
	}
	struct check_options o = {0};
	if (options != NULL)
		o = *options;
	if (o.budget_ms == 0)
		o.budget_ms = CHECK_DEFAULT_BUDGET_MS;
	if (o.budget_bytes == 0)
		o.budget_bytes = CHECK_DEFAULT_BUDGET_BYTES;
	if (o.budget_states == 0)
		o.budget_states = UINT64_MAX;
	struct budget budget;
	budget_init(&budget, o.budget_ms, o.budget_bytes, o.budget_states);

	struct check_groups groups;
	if (check_group(ops, op_count, &groups) != 0)
		return -ENOMEM;
	size_t *index = groups.index;
	size_t key_count = groups.count;
	result->keys = calloc(key_count > 0 ? key_count : 1, sizeof(*result->keys));
	if (result->keys == NULL) {
		check_groups_free(&groups);
		return -ENOMEM;
	}
	result->key_count = key_count;

	int rc = 0;
	enum budget_exhausted stopped = BUDGET_OK; /* a global budget ran out */
	size_t stopped_key = SIZE_MAX;             /* the first undecided key */
	enum budget_exhausted cause = BUDGET_OK;   /* why it is undecided */
	size_t failed = 0, unknown = 0;
	size_t k = 0;
	for (; k < key_count; k++) {
		size_t start = groups.start[k], end = groups.start[k + 1];
		struct check_key_result *kr = &result->keys[k];
		kr->first_op = index[start];
		kr->op_count = end - start;
		kr->verdict = CHECK_UNKNOWN;
		if (stopped == BUDGET_OK) {
			struct search_result sr;
			rc = (groups.multi[k] ? search_multi : search_key)(
			    ops, index + start, end - start, !o.no_client_order, &budget, &sr);
			if (rc != 0)
				break;
			kr->verdict = sr.verdict;
			kr->checked_count = sr.checked_count;
			kr->states = sr.states;
			if (sr.verdict == CHECK_NOT_LINEARIZABLE) {
				failed++;
				bool smaller = result->failed_key == SIZE_MAX ||
				               kr->checked_count <
				                   result->keys[result->failed_key].checked_count;
				if (smaller) {
					free(result->prefix);
					free(result->stuck);
					free((char *)result->prefix_state.bytes);
					result->failed_key = k;
					result->prefix = sr.prefix;
					result->prefix_count = sr.prefix_count;
					result->stuck = sr.stuck;
					result->stuck_count = sr.stuck_count;
					result->prefix_state.bytes = sr.state;
					result->prefix_state.len = sr.state_len;
					result->prefix_state.present = sr.state != NULL;
					result->client_order_violated = sr.client_order_violated;
					result->failed_group = groups.multi[k];
				} else {
					free(sr.prefix);
					free(sr.stuck);
					free(sr.state);
				}
			} else if (sr.verdict == CHECK_UNKNOWN) {
				unknown++;
				if (stopped_key == SIZE_MAX) {
					stopped_key = k;
					cause = budget.exhausted;
				}
				/* Memory is per key: the next key may fit. Time and states are
				 * global. */
				if (budget.exhausted == BUDGET_MEMORY ||
				    budget.exhausted == BUDGET_OOM)
					budget.exhausted = BUDGET_OK;
				else
					stopped = budget.exhausted;
			}
		} else {
			unknown++;
		}
	}
	check_groups_free(&groups);
	if (rc != 0) {
		check_result_free(result);
		return rc;
	}
	assert(k == key_count);
	result->states = budget.states;
	result->client_order = !o.no_client_order;
	result->peak_bytes = budget.peak_bytes;
	result->elapsed_ms = budget_elapsed_ms(&budget);
	char key_text[96];
	if (failed > 0) {
		result->verdict = CHECK_NOT_LINEARIZABLE;
		const struct check_key_result *kr = &result->keys[result->failed_key];
		check_format_str(key_text, sizeof(key_text), &ops[kr->first_op].key, 60, "null");
		snprintf(
		    result->reason, sizeof(result->reason),
		    "%zu of %zu keys are not linearizable; the smallest is key %s (%zu operations)",
		    failed, key_count, key_text, kr->checked_count);
	} else if (unknown > 0) {
		result->verdict = CHECK_UNKNOWN;
		assert(stopped_key != SIZE_MAX);
		check_format_str(key_text, sizeof(key_text),
		                 &ops[result->keys[stopped_key].first_op].key, 60, "null");
		const char *what = check_budget_reason(cause);
		uint64_t limit = cause == BUDGET_TIME     ? o.budget_ms
		                 : cause == BUDGET_STATES ? o.budget_states
		                                          : o.budget_bytes;
		const char *unit = cause == BUDGET_TIME     ? "ms"
		                   : cause == BUDGET_STATES ? "states"
		                                            : "bytes";
		snprintf(result->reason, sizeof(result->reason),
		         "%s of %" PRIu64 " %s ran out while checking key %s; %zu of %zu keys "
		         "undecided",
		         what, limit, unit, key_text, unknown, key_count);
	} else {
		result->verdict = CHECK_LINEARIZABLE;
		result->reason[0] = '\0';
	}
	return 0;
}
