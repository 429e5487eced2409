/* history.c: reads and writes histories as JSON lines (docs/history-format.md); the JSON reader is
 * src/codec's. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/internal.h"
#include "codec/json.h"

/* A block of a txn's compares or sub-operations: allocated as txns come, never moved, so that
 * the ops can point into them; freed with the history. */
struct history_block {
	struct history_block *next;
	union {
		struct check_compare compares[1];
		struct check_subop subops[1];
	} u;
};

/* Reading state: the line being read, where the next kept string goes. */
struct history_reader {
	char *arena;                  /* kept strings, in the history's one allocation */
	struct check_str *list;       /* where mset's next keys or values go (history->lists) */
	struct history_block *blocks; /* txns' compares and sub-operations, newest first */
	struct check_error *error;
	size_t line;
};

static int history_fail(struct history_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int history_fail(struct history_reader *r, const char *fmt, ...)
{
	if (r->error != NULL) {
		r->error->line = r->line;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->error->message, sizeof(r->error->message), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Copies a string value into the arena (an unescaped string is never longer than its
 * text, so the arena, as long as the input, cannot overflow). */
static void history_keep(struct history_reader *r, const struct json_value *v,
                         struct check_str *out)
{
	assert(v->type == JSON_STRING);
	memcpy(r->arena, v->str, v->len);
	out->bytes = r->arena;
	out->len = v->len;
	out->present = true;
	r->arena += v->len;
}

static bool history_is(const struct json_value *v, const char *word)
{
	size_t n = strlen(word);
	return v->len == n && memcmp(v->str, word, n) == 0;
}

/* A JSON number that must be an integer within 64 bits. */
static int history_integer(struct history_reader *r, const struct json_value *v, const char *field,
                           int64_t *out)
{
	if (v->type != JSON_NUMBER)
		return history_fail(r, "\"%s\" must be an integer", field);
	if (json_value_int64(v, out) == 0)
		return 0;
	if (memchr(v->str, '.', v->len) != NULL || memchr(v->str, 'e', v->len) != NULL ||
	    memchr(v->str, 'E', v->len) != NULL)
		return history_fail(r, "\"%s\" must be an integer, not a fraction or exponent",
		                    field);
	return history_fail(r, "\"%s\" does not fit in 64 bits", field);
}

/* A string or null. */
static int history_nullable_string(struct history_reader *r, const struct json_value *v,
                                   const char *field, struct check_str *out)
{
	if (v->type == JSON_STRING) {
		history_keep(r, v, out);
		return 0;
	}
	if (v->type == JSON_NULL) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return history_fail(r, "\"%s\" must be a string or null", field);
}

enum history_field {
	FIELD_CLIENT = 0,
	FIELD_OP,
	FIELD_KEY,
	FIELD_VALUE,
	FIELD_EXPECT,
	FIELD_RESULT,
	FIELD_OK,
	FIELD_CALL,
	FIELD_RETURN,
	FIELD_KEYS,
	FIELD_VALUES,
	FIELD_END,
	FIELD_COMPARES,
	FIELD_THEN,
	FIELD_ELSE,
	FIELD_BRANCH,
	FIELD_COUNT,
};

static const char *const history_field_names[FIELD_COUNT] = {
    "client", "op",   "key",    "value", "expect",   "result", "ok",   "call",
    "return", "keys", "values", "end",   "compares", "then",   "else", "branch",
};

/* Which field a member name is, or -1. */
static int history_field_of(const char *name, size_t len)
{
	int field;
	switch (len) {
	case 2:
		field = name[1] == 'p' ? FIELD_OP : FIELD_OK;
		break;
	case 3:
		field = name[0] == 'k' ? FIELD_KEY : FIELD_END;
		break;
	case 4:
		field = name[0] == 'c'   ? FIELD_CALL
		        : name[0] == 'k' ? FIELD_KEYS
		        : name[0] == 't' ? FIELD_THEN
		                         : FIELD_ELSE;
		break;
	case 5:
		field = FIELD_VALUE;
		break;
	case 6:
		field = name[0] == 'c'   ? FIELD_CLIENT
		        : name[0] == 'e' ? FIELD_EXPECT
		        : name[0] == 'v' ? FIELD_VALUES
		        : name[0] == 'b' ? FIELD_BRANCH
		        : name[2] == 's' ? FIELD_RESULT
		                         : FIELD_RETURN;
		break;
	case 8:
		field = FIELD_COMPARES;
		break;
	default:
		return -1;
	}
	/* The guess by length and a letter, confirmed. */
	return memcmp(name, history_field_names[field], len) == 0 ? field : -1;
}

static int history_op_kind(struct history_reader *r, const struct json_value *v,
                           enum check_kind *kind)
{
	static const char *const names[] = {"get",  "put",  "delete",   "append", "cas",
	                                    "incr", "mset", "delrange", "expire", "txn"};
	if (v->type != JSON_STRING)
		return history_fail(r, "\"op\" must be a string");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (history_is(v, names[i])) {
			*kind = (enum check_kind)i;
			return 0;
		}
	}
	char shown[64];
	struct check_str name = {.bytes = v->str, .len = v->len, .present = true};
	check_format_str(shown, sizeof(shown), &name, 30, "null");
	return history_fail(r,
	                    "unknown op %s (expected get, put, delete, append, cas, incr, "
	                    "mset, delrange, expire or txn)",
	                    shown);
}

/* mset's "keys" or "values": an array of strings, as long as the other. */
static int history_list(struct history_reader *r, const struct json_value *v, bool keys,
                        struct check_op *op)
{
	const char *field = keys ? "keys" : "values";
	if (v->type != JSON_ARRAY || v->count == 0)
		return history_fail(r, "\"%s\" must be an array of strings, not empty", field);
	if (op->key_count != 0 && op->key_count != v->count)
		return history_fail(r, "\"keys\" and \"values\" differ in length");
	struct check_str *list = r->list;
	size_t n = 0;
	for (const struct json_value *e = v->child; e != NULL; e = e->next) {
		if (e->type != JSON_STRING)
			return history_fail(r, "\"%s\" must be an array of strings", field);
		history_keep(r, e, &list[n++]);
	}
	r->list += n;
	op->key_count = n;
	if (keys)
		op->keys = list;
	else
		op->values = list;
	return 0;
}

/* The member of a txn's compare or sub-operation object: 0 op, 1 key, 2 value, 3 result; -1
 * for any other (ignored, as at the top level). */
static int history_item_field(const struct json_value *m)
{
	static const char *const names[] = {"op", "key", "value", "result"};
	for (int i = 0; i < 4; i++) {
		if (m->key_len == strlen(names[i]) && memcmp(m->key, names[i], m->key_len) == 0)
			return i;
	}
	return -1;
}

/* One element of "compares" (is_compare) or of "then"/"else": an object of strings. */
static int history_item(struct history_reader *r, const struct json_value *e, bool is_compare,
                        const char *field, struct check_str item[4], enum check_kind *kind)
{
	if (e->type != JSON_OBJECT)
		return history_fail(r, "\"%s\" must be an array of objects", field);
	bool seen[4] = {false};
	for (const struct json_value *m = e->child; m != NULL; m = m->next) {
		int f = history_item_field(m);
		if (f < 0 || (is_compare && (f == 0 || f == 3)))
			continue;
		if (seen[f])
			return history_fail(r, "\"%s\": a field appears twice in an item", field);
		seen[f] = true;
		int rc = f == 0 ? history_op_kind(r, m, kind)
		                : history_nullable_string(r, m, field, &item[f]);
		if (rc != 0)
			return rc;
	}
	if (!item[1].present)
		return history_fail(r, "each item of \"%s\" needs a string \"key\"", field);
	if (!is_compare && !seen[0])
		return history_fail(r, "each item of \"%s\" needs an \"op\"", field);
	return 0;
}

/* A txn's "compares", "then" or "else": an array of objects, maybe empty. */
static int history_txn_list(struct history_reader *r, int field, const struct json_value *v,
                            struct check_op *op)
{
	const char *name = history_field_names[field];
	if (v->type != JSON_ARRAY)
		return history_fail(r, "\"%s\" must be an array of objects", name);
	size_t count = 0;
	for (const struct json_value *e = v->child; e != NULL; e = e->next)
		count++;
	struct history_block *b = NULL;
	if (count > 0) {
		size_t item = field == FIELD_COMPARES ? sizeof(struct check_compare)
		                                      : sizeof(struct check_subop);
		b = calloc(1, sizeof(*b) + count * item);
		if (b == NULL) {
			history_fail(r, "out of memory");
			return -ENOMEM;
		}
		b->next = r->blocks;
		r->blocks = b;
	}
	size_t n = 0;
	for (const struct json_value *e = v->child; e != NULL; e = e->next, n++) {
		struct check_str item[4] = {{0}};
		enum check_kind kind = CHECK_KIND_GET;
		int rc = history_item(r, e, field == FIELD_COMPARES, name, item, &kind);
		if (rc != 0)
			return rc;
		if (field == FIELD_COMPARES)
			b->u.compares[n] = (struct check_compare){item[1], item[2]};
		else
			b->u.subops[n] = (struct check_subop){kind, item[1], item[2], item[3]};
	}
	if (field == FIELD_COMPARES) {
		op->compares = b ? b->u.compares : NULL;
		op->compare_count = n;
	} else if (field == FIELD_THEN) {
		op->then_ops = b ? b->u.subops : NULL;
		op->then_count = n;
	} else {
		op->else_ops = b ? b->u.subops : NULL;
		op->else_count = n;
	}
	return 0;
}

static int history_branch(struct history_reader *r, const struct json_value *v, struct check_op *op)
{
	if (v->type == JSON_NULL)
		op->branch = CHECK_BRANCH_UNOBSERVED;
	else if (v->type == JSON_STRING && history_is(v, "then"))
		op->branch = CHECK_BRANCH_THEN;
	else if (v->type == JSON_STRING && history_is(v, "else"))
		op->branch = CHECK_BRANCH_ELSE;
	else
		return history_fail(r, "\"branch\" must be \"then\", \"else\" or null");
	return 0;
}

/* Room for every string of every array: each takes two quotes of the text at least. */
static struct check_str *history_lists(const char *text, size_t text_len)
{
	size_t quotes = 0;
	for (size_t i = 0; i < text_len; i++)
		quotes += text[i] == '"';
	return calloc(quotes / 2 + 1, sizeof(struct check_str));
}

/* Reads one field of an operation. */
static int history_field(struct history_reader *r, int field, const struct json_value *v,
                         struct check_op *op, bool *return_null)
{
	switch (field) {
	case FIELD_CLIENT:
		return history_integer(r, v, "client", &op->client);
	case FIELD_OP:
		return history_op_kind(r, v, &op->kind);
	case FIELD_KEY:
		if (v->type != JSON_STRING)
			return history_fail(r, "\"key\" must be a string");
		history_keep(r, v, &op->key);
		return 0;
	case FIELD_VALUE:
		return history_nullable_string(r, v, "value", &op->value);
	case FIELD_EXPECT:
		return history_nullable_string(r, v, "expect", &op->expect);
	case FIELD_RESULT:
		if (v->type == JSON_BOOL) {
			op->existed = v->boolean ? CHECK_EXISTED_YES : CHECK_EXISTED_NO;
			return 0;
		}
		return history_nullable_string(r, v, "result", &op->result);
	case FIELD_OK:
		if (v->type == JSON_BOOL)
			op->ok = v->boolean ? CHECK_OK_TRUE : CHECK_OK_FALSE;
		else if (v->type == JSON_STRING && history_is(v, "unknown"))
			op->ok = CHECK_OK_UNKNOWN;
		else
			return history_fail(r, "\"ok\" must be true, false or \"unknown\"");
		return 0;
	case FIELD_CALL:
		return history_integer(r, v, "call", &op->call_time);
	case FIELD_KEYS:
	case FIELD_VALUES:
		return history_list(r, v, field == FIELD_KEYS, op);
	case FIELD_END:
		return history_nullable_string(r, v, "end", &op->range_end);
	case FIELD_COMPARES:
	case FIELD_THEN:
	case FIELD_ELSE:
		return history_txn_list(r, field, v, op);
	case FIELD_BRANCH:
		return history_branch(r, v, op);
	case FIELD_RETURN:
		if (v->type == JSON_NULL) {
			*return_null = true;
			return 0;
		}
		return history_integer(r, v, "return", &op->return_time);
	default:
		return 0; /* a field the format does not define: ignored, whatever it holds */
	}
}

/* Reads one operation from a parsed line. */
static int history_op(struct history_reader *r, const struct json_value *root, struct check_op *op)
{
	memset(op, 0, sizeof(*op));
	op->line = r->line;
	assert(root->type == JSON_OBJECT); /* the line starts with '{' */
	if (root->count == 0)
		return history_fail(
		    r, "empty object: an operation needs client, op, key, ok and call");
	bool seen[FIELD_COUNT] = {false};
	bool return_null = false;
	for (const struct json_value *m = root->child; m != NULL; m = m->next) {
		int field = history_field_of(m->key, m->key_len);
		if (field >= 0) {
			if (seen[field])
				return history_fail(r, "field \"%s\" appears twice",
				                    history_field_names[field]);
			seen[field] = true;
		}
		int rc = history_field(r, field, m, op, &return_null);
		if (rc != 0)
			return rc;
	}
	static const int required[] = {FIELD_CLIENT, FIELD_OP, FIELD_KEY, FIELD_OK, FIELD_CALL};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!seen[required[i]])
			return history_fail(r, "missing field \"%s\"",
			                    history_field_names[required[i]]);
	}
	if (op->kind != CHECK_KIND_TXN &&
	    (seen[FIELD_COMPARES] || seen[FIELD_THEN] || seen[FIELD_ELSE] || seen[FIELD_BRANCH]))
		return history_fail(r, "only a txn has \"compares\", \"then\", \"else\" and "
		                       "\"branch\"");
	if (op->existed != CHECK_EXISTED_UNOBSERVED && op->kind != CHECK_KIND_DELETE)
		return history_fail(r, "result true/false is only for delete (did the key exist)");
	if (op->ok == CHECK_OK_UNKNOWN) {
		if (seen[FIELD_RETURN] && !return_null)
			return history_fail(
			    r, "an operation with ok \"unknown\" has \"return\": null");
		op->return_time = op->call_time;
	} else {
		if (!seen[FIELD_RETURN] || return_null)
			return history_fail(r,
			                    "an operation with ok %s needs an integer \"return\"",
			                    op->ok == CHECK_OK_TRUE ? "true" : "false");
		if (op->return_time < op->call_time)
			return history_fail(r, "return %" PRId64 " is before call %" PRId64,
			                    op->return_time, op->call_time);
	}
	char message[160];
	if (check_op_validate(op, message, sizeof(message)) != 0)
		return history_fail(r, "%s", message);
	return 0;
}

static bool history_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

void check_history_free(struct check_history *history)
{
	if (history == NULL)
		return;
	free(history->ops);
	free(history->bytes);
	free(history->lists);
	for (struct history_block *b = history->txn_blocks, *next; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	memset(history, 0, sizeof(*history));
}

/* The number of lines in text[0..text_len): one more than its newlines. */
static size_t history_count_lines(const char *text, size_t text_len)
{
	size_t lines = 1;
	for (const char *p = text; p != NULL && p < text + text_len;) {
		p = memchr(p, '\n', (size_t)(text + text_len - p));
		if (p != NULL) {
			lines++;
			p++;
		}
	}
	return lines;
}

/* The JSON reader's limits for one line of a history. */
static void history_json_limits(struct json_limits *lim)
{
	/* Each line is one document; a line has as many values as bytes at most. Strings
	 * need not be valid UTF-8 (docs/history-format.md). */
	json_limits_default(lim);
	lim->depth_max = JSON_DEPTH_LIMIT;
	lim->values_max = UINT32_MAX;
	lim->input_bytes_max = SIZE_MAX;
	lim->accept_invalid_utf8 = true;
}

int check_history_parse(const char *text, size_t text_len, struct check_history *history,
                        struct check_error *error)
{
	assert(history != NULL);
	assert(text != NULL || text_len == 0);
	memset(history, 0, sizeof(*history));
	if (error != NULL)
		memset(error, 0, sizeof(*error));
	size_t lines = history_count_lines(text, text_len);
	history->ops = calloc(lines, sizeof(*history->ops));
	history->bytes = malloc(text_len + 1);
	history->lists = history_lists(text, text_len);
	if (history->ops == NULL || history->bytes == NULL || history->lists == NULL) {
		check_history_free(history);
		if (error != NULL)
			snprintf(error->message, sizeof(error->message), "out of memory");
		return -ENOMEM;
	}
	struct json_limits lim;
	history_json_limits(&lim);
	struct json_doc *doc = NULL;
	struct history_reader r = {
	    .arena = history->bytes, .list = history->lists, .error = error, .line = 0};
	const char *p = text;
	const char *end = text + text_len;
	int rc = 0;
	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl != NULL ? nl : end;
		r.line++;
		const char *s = p;
		while (s < line_end && history_space(*s))
			s++;
		p = nl != NULL ? nl + 1 : end;
		if (s == line_end)
			continue; /* blank */
		if (*s != '{') {
			rc = history_fail(&r, "expected '{' at the start of an operation");
			break;
		}
		char errmsg[WIRE_ERRMSG_SIZE];
		int jrc = json_parse_into(s, (size_t)(line_end - s), &lim, &doc, errmsg);
		if (jrc == WIRE_ENOMEM) {
			rc = -ENOMEM;
			if (error != NULL) {
				error->line = r.line;
				snprintf(error->message, sizeof(error->message), "out of memory");
			}
		} else if (jrc != 0) {
			rc = history_fail(&r, "%s", errmsg);
		} else {
			assert(history->op_count < lines);
			rc = history_op(&r, json_doc_root(doc), &history->ops[history->op_count]);
			if (rc == 0)
				history->op_count++;
		}
	}
	json_doc_free(doc);
	history->txn_blocks = r.blocks;
	if (rc != 0) {
		check_history_free(history);
		return rc;
	}
	assert(r.arena <= history->bytes + text_len);
	return 0;
}

int check_history_load(const char *path, struct check_history *history, struct check_error *error)
{
	assert(path != NULL && history != NULL);
	memset(history, 0, sizeof(*history));
	if (error != NULL)
		memset(error, 0, sizeof(*error));
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (f == NULL) {
		int e = errno;
		if (error != NULL)
			snprintf(error->message, sizeof(error->message), "cannot open %s: %s", path,
			         strerror(e));
		return -e;
	}
	size_t cap = 1 << 16, len = 0;
	char *text = malloc(cap);
	int rc = text == NULL ? -ENOMEM : 0;
	while (rc == 0) {
		if (len == cap) {
			char *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(text, cap * 2);
			if (bigger == NULL) {
				rc = -ENOMEM;
				break;
			}
			text = bigger;
			cap *= 2;
		}
		size_t got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f))
				rc = -EIO;
			break;
		}
	}
	if (!is_stdin)
		fclose(f);
	if (rc != 0) {
		if (error != NULL)
			snprintf(error->message, sizeof(error->message), "cannot read %s: %s", path,
			         strerror(-rc));
		free(text);
		return rc;
	}
	rc = check_history_parse(text, len, history, error);
	free(text);
	return rc;
}

int check_write_json_str(FILE *out, const struct check_str *s)
{
	if (!s->present)
		return fputs("null", out) < 0 ? -EIO : 0;
	if (fputc('"', out) == EOF)
		return -EIO;
	for (size_t i = 0; i < s->len; i++) {
		unsigned char ch = (unsigned char)s->bytes[i];
		int rc;
		switch (ch) {
		case '"':
			rc = fputs("\\\"", out);
			break;
		case '\\':
			rc = fputs("\\\\", out);
			break;
		case '\n':
			rc = fputs("\\n", out);
			break;
		case '\r':
			rc = fputs("\\r", out);
			break;
		case '\t':
			rc = fputs("\\t", out);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f)
				rc = fprintf(out, "\\u%04x", ch);
			else
				rc = fputc(ch, out);
			break;
		}
		if (rc < 0)
			return -EIO;
	}
	return fputc('"', out) == EOF ? -EIO : 0;
}

/* mset's "keys" and "values" arrays, delrange's "end". */
static int check_write_multi(FILE *out, const struct check_op *op)
{
	int rc = 0;
	if (op->kind == CHECK_KIND_DELRANGE)
		rc = fputs(",\"end\":", out) < 0 || check_write_json_str(out, &op->range_end) != 0;
	for (int list = 0; op->kind == CHECK_KIND_MSET && list < 2 && rc == 0; list++) {
		const struct check_str *strs = list == 0 ? op->keys : op->values;
		rc = fputs(list == 0 ? ",\"keys\":[" : ",\"values\":[", out) < 0;
		for (size_t i = 0; i < op->key_count && rc == 0; i++)
			rc = (i > 0 && fputc(',', out) == EOF) ||
			     check_write_json_str(out, &strs[i]) != 0;
		rc = rc || fputc(']', out) == EOF;
	}
	return rc ? -EIO : 0;
}

/* A txn branch's sub-operations as a JSON array. */
static int check_write_subops(FILE *out, const struct check_subop *subs, size_t n)
{
	int rc = fputc('[', out) == EOF;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct check_subop *s = &subs[i];
		rc = fprintf(out, "%s{\"op\":\"%s\",\"key\":", i ? "," : "",
		             check_kind_name(s->kind)) < 0 ||
		     check_write_json_str(out, &s->key) != 0;
		if (rc == 0 && s->value.present)
			rc = fputs(",\"value\":", out) < 0 ||
			     check_write_json_str(out, &s->value) != 0;
		if (rc == 0 && s->kind == CHECK_KIND_GET)
			rc = fputs(",\"result\":", out) < 0 ||
			     check_write_json_str(out, &s->result) != 0;
		rc = rc || fputc('}', out) == EOF;
	}
	return rc || fputc(']', out) == EOF ? -EIO : 0;
}

/* A txn's "compares", "then", "else" and "branch". */
static int check_write_txn(FILE *out, const struct check_op *op)
{
	int rc = fputs(",\"compares\":[", out) < 0;
	for (size_t i = 0; i < op->compare_count && rc == 0; i++) {
		rc = fputs(i ? ",{\"key\":" : "{\"key\":", out) < 0 ||
		     check_write_json_str(out, &op->compares[i].key) != 0 ||
		     fputs(",\"value\":", out) < 0 ||
		     check_write_json_str(out, &op->compares[i].value) != 0 ||
		     fputc('}', out) == EOF;
	}
	rc = rc || fputs("],\"then\":", out) < 0 ||
	     check_write_subops(out, op->then_ops, op->then_count) != 0;
	rc = rc || fputs(",\"else\":", out) < 0 ||
	     check_write_subops(out, op->else_ops, op->else_count) != 0;
	static const char *const branches[] = {"null", "\"then\"", "\"else\""};
	rc = rc || fprintf(out, ",\"branch\":%s", branches[op->branch]) < 0;
	return rc ? -EIO : 0;
}

int check_history_write(FILE *out, const struct check_op *ops, size_t op_count)
{
	assert(out != NULL && (ops != NULL || op_count == 0));
	for (size_t i = 0; i < op_count; i++) {
		const struct check_op *op = &ops[i];
		int rc = fprintf(out, "{\"client\":%" PRId64 ",\"op\":\"%s\",\"key\":", op->client,
		                 check_kind_name(op->kind)) < 0;
		rc = rc || check_write_json_str(out, &op->key) != 0;
		rc = rc || fputs(",\"value\":", out) < 0 ||
		     check_write_json_str(out, &op->value) != 0;
		rc = rc || fputs(",\"expect\":", out) < 0 ||
		     check_write_json_str(out, &op->expect) != 0;
		rc = rc || check_write_multi(out, op) != 0;
		rc = rc || (op->kind == CHECK_KIND_TXN && check_write_txn(out, op) != 0);
		rc = rc || fputs(",\"result\":", out) < 0;
		if (op->kind == CHECK_KIND_DELETE && op->existed != CHECK_EXISTED_UNOBSERVED)
			rc = rc ||
			     fputs(op->existed == CHECK_EXISTED_YES ? "true" : "false", out) < 0;
		else
			rc = rc || check_write_json_str(out, &op->result) != 0;
		if (op->ok == CHECK_OK_UNKNOWN)
			rc = rc ||
			     fprintf(out,
			             ",\"ok\":\"unknown\",\"call\":%" PRId64 ",\"return\":null}\n",
			             op->call_time) < 0;
		else
			rc = rc ||
			     fprintf(out,
			             ",\"ok\":%s,\"call\":%" PRId64 ",\"return\":%" PRId64 "}\n",
			             op->ok == CHECK_OK_TRUE ? "true" : "false", op->call_time,
			             op->return_time) < 0;
		if (rc)
			return -EIO;
	}
	return 0;
}
