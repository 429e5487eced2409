/* report.c: text and JSON reports of a checker result, in words a person can follow. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/internal.h"
#include "check/model.h"

enum {
	REPORT_SHOWN_CHARS = 40,  /* characters of a value shown in a sentence */
	REPORT_KEYS_LISTED = 20,  /* keys listed one per line in a normal report */
	REPORT_PREFIX_TAIL = 30,  /* prefix operations listed (the last ones) */
	REPORT_STUCK_LISTED = 20, /* stuck operations listed */
};

static char *report_str(char *buf, size_t size, const struct check_str *s, const char *none)
{
	return check_format_str(buf, size, s, REPORT_SHOWN_CHARS, none);
}

/* Appends to buf (of size, holding *at bytes) what fmt says, cut at the end. */
static void report_add(char *buf, size_t size, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report_add(char *buf, size_t size, size_t *at, const char *fmt, ...)
{
	if (*at >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *at, size - *at, fmt, ap);
	va_end(ap);
	*at = n < 0 ? size : *at + (size_t)n;
	if (*at >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

/* "put "m0" := "v"; get "m1" -> absent": a txn branch, results only where observed. */
static void report_subops(char *buf, size_t size, size_t *at, const struct check_subop *subs,
                          size_t n, bool observed)
{
	for (size_t i = 0; i < n; i++) {
		char k[64], v[64];
		check_format_str(k, sizeof(k), &subs[i].key, 16, "null");
		const char *sep = i ? "; " : "";
		const char *kind = check_kind_name(subs[i].kind);
		if (subs[i].kind == CHECK_KIND_GET && observed)
			report_add(buf, size, at, "%sget %s -> %s", sep, k,
			           check_format_str(v, sizeof(v), &subs[i].result, 16, "absent"));
		else if (subs[i].kind == CHECK_KIND_PUT || subs[i].kind == CHECK_KIND_APPEND)
			report_add(buf, size, at, "%s%s %s %s", sep, kind, k,
			           check_format_str(v, sizeof(v), &subs[i].value, 16, "null"));
		else
			report_add(buf, size, at, "%s%s %s", sep, kind, k);
	}
}

/* "txn if "m0" = "a", "m1" absent then {put "m0" "b"} else {get "m0" -> "c"}, took else". */
static void report_txn(char *buf, size_t size, const struct check_op *op)
{
	size_t at = 0;
	buf[0] = '\0';
	report_add(buf, size, &at, "txn");
	for (size_t i = 0; i < op->compare_count; i++) {
		char k[64], v[64];
		check_format_str(k, sizeof(k), &op->compares[i].key, 16, "null");
		if (op->compares[i].value.present)
			report_add(buf, size, &at, "%s%s = %s", i ? ", " : " if ", k,
			           check_format_str(v, sizeof(v), &op->compares[i].value, 16, ""));
		else
			report_add(buf, size, &at, "%s%s absent", i ? ", " : " if ", k);
	}
	bool observed = op->ok == CHECK_OK_TRUE && op->branch != CHECK_BRANCH_UNOBSERVED;
	report_add(buf, size, &at, " then {");
	report_subops(buf, size, &at, op->then_ops, op->then_count,
	              observed && op->branch == CHECK_BRANCH_THEN);
	report_add(buf, size, &at, "}");
	if (op->compare_count > 0) {
		report_add(buf, size, &at, " else {");
		report_subops(buf, size, &at, op->else_ops, op->else_count,
		              observed && op->branch == CHECK_BRANCH_ELSE);
		report_add(buf, size, &at, "}");
	}
	if (op->branch != CHECK_BRANCH_UNOBSERVED)
		report_add(buf, size, &at, ", took %s",
		           op->branch == CHECK_BRANCH_THEN ? "then" : "else");
	else if (op->ok == CHECK_OK_FALSE)
		report_add(buf, size, &at, ", failed");
}

char *check_describe_op(char *buf, size_t size, const struct check_op *op)
{
	char v[128], e[128], r[128];
	char what[420];
	report_str(v, sizeof(v), &op->value, "null");
	report_str(e, sizeof(e), &op->expect, "absent");
	report_str(r, sizeof(r), &op->result, "absent");
	switch (op->kind) {
	case CHECK_KIND_GET:
		if (op->ok == CHECK_OK_TRUE)
			snprintf(what, sizeof(what), "get -> %s", r);
		else
			snprintf(what, sizeof(what), "get");
		break;
	case CHECK_KIND_PUT:
		snprintf(what, sizeof(what), "put %s", v);
		break;
	case CHECK_KIND_DELETE:
		snprintf(what, sizeof(what), "delete%s",
		         op->existed == CHECK_EXISTED_YES  ? " -> it existed"
		         : op->existed == CHECK_EXISTED_NO ? " -> it did not exist"
		                                           : "");
		break;
	case CHECK_KIND_APPEND:
		snprintf(what, sizeof(what), "append %s", v);
		break;
	case CHECK_KIND_CAS:
		snprintf(what, sizeof(what), "cas %s -> %s%s", e, v,
		         op->ok == CHECK_OK_FALSE ? " failed" : "");
		break;
	case CHECK_KIND_INCR:
		if (op->result.present)
			snprintf(what, sizeof(what), "incr by %s -> %s",
			         op->value.present ? v : "1", r);
		else
			snprintf(what, sizeof(what), "incr by %s", op->value.present ? v : "1");
		break;
	case CHECK_KIND_MSET: {
		char k0[128];
		report_str(k0, sizeof(k0), &op->keys[0], "null");
		report_str(v, sizeof(v), &op->values[0], "null");
		snprintf(what, sizeof(what), "mset of %zu keys: %s := %s%s", op->key_count, k0, v,
		         op->key_count > 1 ? ", ..." : "");
		break;
	}
	case CHECK_KIND_EXPIRE:
		snprintf(what, sizeof(what), "expiry of %s", e);
		break;
	case CHECK_KIND_DELRANGE:
		report_str(e, sizeof(e), &op->range_end, "null");
		snprintf(what, sizeof(what), "delrange up to %s%s%.*s", e,
		         op->result.present ? " -> deleted " : "", (int)op->result.len,
		         op->result.present ? op->result.bytes : "");
		break;
	case CHECK_KIND_TXN:
		report_txn(what, sizeof(what), op);
		break;
	}
	char when[96];
	if (op->ok == CHECK_OK_UNKNOWN)
		snprintf(when, sizeof(when), "called %" PRId64 ", outcome unknown", op->call_time);
	else
		snprintf(when, sizeof(when), "called %" PRId64 ", returned %" PRId64, op->call_time,
		         op->return_time);
	char line[32] = "";
	if (op->line > 0)
		snprintf(line, sizeof(line), "; line %zu", op->line);
	snprintf(buf, size, "client %" PRId64 " %s (%s%s)", op->client, what, when, line);
	return buf;
}

static bool report_str_equal(const struct check_str *a, const struct check_str *b)
{
	return check_str_compare(a, b) == 0;
}

char *check_explain_stuck(char *buf, size_t size, const struct check_op *op,
                          const struct check_str *state)
{
	char s[128], x[128];
	report_str(s, sizeof(s), state, "absent");
	const char *later = "it could go next, but then the operations that must follow it "
	                    "cannot all be placed";
	switch (op->kind) {
	case CHECK_KIND_GET:
		if (!report_str_equal(&op->result, state)) {
			snprintf(buf, size, "it read %s, but the key holds %s",
			         report_str(x, sizeof(x), &op->result, "absent"), s);
			return buf;
		}
		break;
	case CHECK_KIND_CAS:
		if (op->ok == CHECK_OK_FALSE && report_str_equal(&op->expect, state)) {
			snprintf(buf, size, "its comparison failed, but the key holds exactly %s",
			         s);
			return buf;
		}
		if (op->ok == CHECK_OK_TRUE && !report_str_equal(&op->expect, state)) {
			snprintf(buf, size, "it succeeded expecting %s, but the key holds %s",
			         report_str(x, sizeof(x), &op->expect, "absent"), s);
			return buf;
		}
		break;
	case CHECK_KIND_DELETE:
		if (op->existed == CHECK_EXISTED_YES && !state->present) {
			snprintf(buf, size, "it found the key, but the key is absent");
			return buf;
		}
		if (op->existed == CHECK_EXISTED_NO && state->present) {
			snprintf(buf, size, "it found no key, but the key holds %s", s);
			return buf;
		}
		break;
	case CHECK_KIND_INCR: {
		int64_t cur = 0, delta = 1, result = 0;
		if (state->present && !model_parse_int(state->bytes, state->len, &cur)) {
			snprintf(buf, size, "it incremented, but the key holds %s, not an integer",
			         s);
			return buf;
		}
		if (op->value.present)
			(void)model_parse_int(op->value.bytes, op->value.len, &delta);
		if ((delta > 0 && cur > INT64_MAX - delta) ||
		    (delta < 0 && cur < INT64_MIN - delta)) {
			snprintf(buf, size, "adding %" PRId64 " to %s would overflow", delta, s);
			return buf;
		}
		if (op->result.present &&
		    model_parse_int(op->result.bytes, op->result.len, &result) &&
		    result != cur + delta) {
			snprintf(buf, size,
			         "it returned %" PRId64
			         ", but the key holds %s, so it would return %" PRId64,
			         result, s, cur + delta);
			return buf;
		}
		break;
	}
	default:
		break;
	}
	snprintf(buf, size, "%s", later);
	return buf;
}

static const char *report_verdict_word(enum check_verdict v)
{
	return check_verdict_name(v);
}

static void report_key_line(FILE *out, const struct check_op *ops,
                            const struct check_key_result *kr)
{
	char key[128];
	report_str(key, sizeof(key), &ops[kr->first_op].key, "null");
	fprintf(out, "  key %s: %s (%zu operations, %zu checked, %" PRIu64 " states)\n", key,
	        report_verdict_word(kr->verdict), kr->op_count, kr->checked_count, kr->states);
}

/* In a group of keys: "on "k1": " before an op (a delrange: its range); else "". */
static const char *report_on_key(char *buf, size_t size, const struct check_result *r,
                                 const struct check_op *op)
{
	char key[128];
	buf[0] = '\0';
	if (r->failed_group && op->kind == CHECK_KIND_DELRANGE)
		snprintf(buf, size, "from %s: ", report_str(key, sizeof(key), &op->key, "null"));
	else if (r->failed_group)
		snprintf(buf, size, "on %s: ", report_str(key, sizeof(key), &op->key, "null"));
	return buf;
}

static void report_prefix_state(FILE *out, const struct check_result *r)
{
	char state[400];
	if (r->failed_group)
		fprintf(out, "After them the keys hold: %.*s.\n", (int)r->prefix_state.len,
		        r->prefix_state.bytes);
	else
		fprintf(out, "After them the key holds %s.\n",
		        report_str(state, sizeof(state), &r->prefix_state, "nothing (absent)"));
}

static void report_violation(FILE *out, const struct check_op *ops, const struct check_result *r)
{
	const struct check_key_result *kr = &r->keys[r->failed_key];
	char key[128], line[640], why[400], on[160];
	report_str(key, sizeof(key), &ops[kr->first_op].key, "null");
	fprintf(out,
	        "\n%s %s%s is not linearizable: no order of its %zu operations respects %s "
	        "and the values they saw.\n",
	        r->failed_group ? "The group of keys of" : "Key", key,
	        r->failed_group ? " (keys that multi-key operations tie together)" : "",
	        kr->checked_count, r->client_order ? "real time, client order" : "real time");
	if (r->client_order_violated)
		fprintf(
		    out,
		    "Under real time alone it would be linearizable: what is violated is client "
		    "order (a client's completed operations on a key take effect in the order "
		    "of their calls).\n");
	if (r->prefix_count == 0) {
		fprintf(out, "Not even a first operation can be placed: the key starts absent.\n");
	} else {
		fprintf(out, "The longest linearizable prefix found has %zu operations%s:\n",
		        r->prefix_count,
		        r->prefix_count > REPORT_PREFIX_TAIL ? " (the last ones shown)" : "");
		size_t from =
		    r->prefix_count > REPORT_PREFIX_TAIL ? r->prefix_count - REPORT_PREFIX_TAIL : 0;
		for (size_t i = from; i < r->prefix_count; i++) {
			const struct check_op *op = &ops[r->prefix[i]];
			fprintf(
			    out, "  %4zu. %s%s%s\n", i + 1, report_on_key(on, sizeof(on), r, op),
			    check_describe_op(line, sizeof(line), op),
			    op->ok == CHECK_OK_UNKNOWN ? " -- taken to have happened here" : "");
		}
		report_prefix_state(out, r);
	}
	fprintf(out, "None of these operations can be placed next:\n");
	for (size_t i = 0; i < r->stuck_count && i < REPORT_STUCK_LISTED; i++) {
		const struct check_op *op = &ops[r->stuck[i]];
		fprintf(out, "  - %s%s:\n      %s.\n", report_on_key(on, sizeof(on), r, op),
		        check_describe_op(line, sizeof(line), op),
		        r->failed_group
		            ? "it cannot go next on these values, or the operations "
		              "that must follow it then cannot all be placed"
		            : check_explain_stuck(why, sizeof(why), op, &r->prefix_state));
	}
	if (r->stuck_count > REPORT_STUCK_LISTED)
		fprintf(out, "  ... and %zu more\n", r->stuck_count - REPORT_STUCK_LISTED);
	if (r->stuck_count > 0) {
		const struct check_op *first = &ops[r->stuck[0]];
		fprintf(out,
		        "The first of them returned at %" PRId64
		        ", so it must be placed before anything called after that; "
		        "every other order was tried and fails as well.\n",
		        first->return_time);
	}
}

int check_report_text(FILE *out, const struct check_op *ops, size_t op_count,
                      const struct check_result *r, enum check_report_detail detail)
{
	assert(out != NULL && r != NULL);
	(void)op_count;
	if (r->verdict == CHECK_LINEARIZABLE)
		fprintf(out, "linearizable\n");
	else
		fprintf(out, "%s: %s\n", check_verdict_name(r->verdict), r->reason);
	if (detail == CHECK_REPORT_QUIET)
		return ferror(out) ? -EIO : 0;
	size_t counts[3] = {0, 0, 0};
	for (size_t i = 0; i < r->key_count; i++)
		counts[r->keys[i].verdict]++;
	fprintf(out,
	        "%zu operations on %zu keys: %zu linearizable, %zu not, %zu unknown; %" PRIu64
	        " states in %" PRIu64 " ms, peak %.1f MiB\n",
	        op_count, r->key_count, counts[0], counts[1], counts[2], r->states, r->elapsed_ms,
	        (double)r->peak_bytes / (1024.0 * 1024.0));
	size_t listed = 0;
	for (size_t i = 0; i < r->key_count; i++) {
		const struct check_key_result *kr = &r->keys[i];
		bool all = detail == CHECK_REPORT_VERBOSE || r->key_count <= REPORT_KEYS_LISTED;
		if (!all && (kr->verdict == CHECK_LINEARIZABLE || listed >= REPORT_KEYS_LISTED))
			continue;
		report_key_line(out, ops, kr);
		listed++;
	}
	if (r->failed_key != SIZE_MAX)
		report_violation(out, ops, r);
	return ferror(out) ? -EIO : 0;
}

static void report_json_op_ref(FILE *out, const struct check_op *ops, size_t index)
{
	fprintf(out, "{\"index\":%zu,\"line\":%zu,\"client\":%" PRId64 ",\"op\":\"%s\"", index,
	        ops[index].line, ops[index].client, check_kind_name(ops[index].kind));
}

int check_report_json(FILE *out, const struct check_op *ops, size_t op_count,
                      const struct check_result *r)
{
	assert(out != NULL && r != NULL);
	struct check_str reason = {r->reason, strlen(r->reason), true};
	fprintf(out, "{\"verdict\":\"%s\",\"exit\":%d,\"reason\":", check_verdict_name(r->verdict),
	        (int)r->verdict);
	check_write_json_str(out, &reason);
	fprintf(out,
	        ",\"operations\":%zu,\"states\":%" PRIu64 ",\"elapsed_ms\":%" PRIu64
	        ",\"peak_bytes\":%" PRIu64 ",\"keys\":[",
	        op_count, r->states, r->elapsed_ms, r->peak_bytes);
	for (size_t i = 0; i < r->key_count; i++) {
		const struct check_key_result *kr = &r->keys[i];
		fprintf(out, "%s{\"key\":", i > 0 ? "," : "");
		check_write_json_str(out, &ops[kr->first_op].key);
		fprintf(out,
		        ",\"verdict\":\"%s\",\"operations\":%zu,\"checked\":%zu,\"states\":%" PRIu64
		        "}",
		        check_verdict_name(kr->verdict), kr->op_count, kr->checked_count,
		        kr->states);
	}
	fprintf(out, "]");
	if (r->failed_key != SIZE_MAX) {
		char why[400];
		fprintf(out, ",\"violation\":{\"key\":");
		check_write_json_str(out, &ops[r->keys[r->failed_key].first_op].key);
		fprintf(out, ",\"prefix\":[");
		for (size_t i = 0; i < r->prefix_count; i++) {
			fprintf(out, "%s", i > 0 ? "," : "");
			report_json_op_ref(out, ops, r->prefix[i]);
			fprintf(out, "}");
		}
		fprintf(out, "],\"state\":");
		check_write_json_str(out, &r->prefix_state);
		fprintf(out, ",\"stuck\":[");
		for (size_t i = 0; i < r->stuck_count; i++) {
			fprintf(out, "%s", i > 0 ? "," : "");
			report_json_op_ref(out, ops, r->stuck[i]);
			check_explain_stuck(why, sizeof(why), &ops[r->stuck[i]], &r->prefix_state);
			struct check_str w = {why, strlen(why), true};
			fprintf(out, ",\"reason\":");
			check_write_json_str(out, &w);
			fprintf(out, "}");
		}
		fprintf(out, "],\"client_order_violated\":%s}",
		        r->client_order_violated ? "true" : "false");
	}
	fprintf(out, "}\n");
	return ferror(out) ? -EIO : 0;
}
