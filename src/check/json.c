/* json.c: reads and writes histories as JSON lines (docs/history-format.md). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/internal.h"

enum { JSON_MAX_DEPTH = 32 };

struct json_cursor {
	const char *p;
	const char *end;
	char *arena; /* where the next decoded string goes */
	struct check_error *error;
	size_t line;
};

static int json_fail(struct json_cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int json_fail(struct json_cursor *c, const char *fmt, ...)
{
	if (c->error != NULL) {
		c->error->line = c->line;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->error->message, sizeof(c->error->message), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void json_skip_space(struct json_cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int json_expect(struct json_cursor *c, char ch, const char *where)
{
	json_skip_space(c);
	if (c->p >= c->end)
		return json_fail(c, "expected '%c' %s, found the end of the line", ch, where);
	if (*c->p != ch)
		return json_fail(c, "expected '%c' %s, found '%c'", ch, where, *c->p);
	c->p++;
	return 0;
}

static bool json_literal(struct json_cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	const char *after = c->p + n;
	if (after < c->end && ((*after >= 'a' && *after <= 'z') || (*after >= '0' && *after <= '9')))
		return false;
	c->p = after;
	return true;
}

static int json_hex4(struct json_cursor *c, uint32_t *out)
{
	if (c->end - c->p < 4)
		return json_fail(c, "truncated \\u escape in a string");
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char h = c->p[i];
		v <<= 4;
		if (h >= '0' && h <= '9')
			v |= (uint32_t)(h - '0');
		else if (h >= 'a' && h <= 'f')
			v |= (uint32_t)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			v |= (uint32_t)(h - 'A' + 10);
		else
			return json_fail(c, "bad hex digit '%c' in a \\u escape", h);
	}
	c->p += 4;
	*out = v;
	return 0;
}

static char *json_put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		*out++ = (char)cp;
	} else if (cp < 0x800) {
		*out++ = (char)(0xc0 | (cp >> 6));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*out++ = (char)(0xe0 | (cp >> 12));
		*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*out++ = (char)(0xf0 | (cp >> 18));
		*out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	}
	return out;
}

/* Parses a string at c->p (which is at the opening quote) into the arena. */
static int json_string(struct json_cursor *c, struct check_str *out)
{
	assert(c->p < c->end && *c->p == '"');
	c->p++;
	char *start = c->arena;
	char *w = start;
	for (;;) {
		if (c->p >= c->end)
			return json_fail(c, "unterminated string");
		unsigned char ch = (unsigned char)*c->p++;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return json_fail(c, "raw control character 0x%02x in a string (use an escape)",
					 ch);
		if (ch != '\\') {
			*w++ = (char)ch;
			continue;
		}
		if (c->p >= c->end)
			return json_fail(c, "unterminated escape in a string");
		char e = *c->p++;
		switch (e) {
		case '"':
			*w++ = '"';
			break;
		case '\\':
			*w++ = '\\';
			break;
		case '/':
			*w++ = '/';
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'f':
			*w++ = '\f';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'u': {
			uint32_t cp;
			int rc = json_hex4(c, &cp);
			if (rc != 0)
				return rc;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t low;
				if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u')
					return json_fail(c, "unpaired surrogate \\u%04" PRIx32
							    " in a string", cp);
				c->p += 2;
				rc = json_hex4(c, &low);
				if (rc != 0)
					return rc;
				if (low < 0xdc00 || low > 0xdfff)
					return json_fail(c, "unpaired surrogate \\u%04" PRIx32
							    " in a string", cp);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return json_fail(c, "unpaired surrogate \\u%04" PRIx32 " in a string",
						 cp);
			}
			w = json_put_utf8(w, cp);
			break;
		}
		default:
			return json_fail(c, "invalid escape \\%c in a string", e);
		}
	}
	out->bytes = start;
	out->len = (size_t)(w - start);
	out->present = true;
	c->arena = w;
	return 0;
}

/* Parses a JSON number that must be an integer. */
static int json_integer(struct json_cursor *c, const char *field, int64_t *out)
{
	const char *s = c->p;
	bool negative = false;
	if (s < c->end && *s == '-') {
		negative = true;
		s++;
	}
	if (s >= c->end || *s < '0' || *s > '9')
		return json_fail(c, "\"%s\" must be an integer", field);
	if (*s == '0' && s + 1 < c->end && s[1] >= '0' && s[1] <= '9')
		return json_fail(c, "\"%s\": leading zeros are not allowed in JSON numbers", field);
	uint64_t magnitude = 0;
	bool overflow = false;
	while (s < c->end && *s >= '0' && *s <= '9') {
		uint64_t digit = (uint64_t)(*s - '0');
		if (magnitude > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			magnitude = magnitude * 10 + digit;
		s++;
	}
	if (s < c->end && (*s == '.' || *s == 'e' || *s == 'E'))
		return json_fail(c, "\"%s\" must be an integer, not a fraction or exponent", field);
	if (overflow || magnitude > (uint64_t)INT64_MAX + (negative ? 1 : 0))
		return json_fail(c, "\"%s\" does not fit in 64 bits", field);
	if (negative)
		*out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
	else
		*out = (int64_t)magnitude;
	c->p = s;
	return 0;
}

/* Skips any JSON value (for fields the format does not define). */
static int json_skip_value(struct json_cursor *c, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return json_fail(c, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
	json_skip_space(c);
	if (c->p >= c->end)
		return json_fail(c, "expected a value, found the end of the line");
	char ch = *c->p;
	if (ch == '"') {
		char *mark = c->arena;
		struct check_str ignored;
		int rc = json_string(c, &ignored);
		c->arena = mark;
		return rc;
	}
	if (ch == '{' || ch == '[') {
		char close = ch == '{' ? '}' : ']';
		c->p++;
		json_skip_space(c);
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return 0;
		}
		for (;;) {
			if (ch == '{') {
				json_skip_space(c);
				if (c->p >= c->end || *c->p != '"')
					return json_fail(c, "expected a field name in an object");
				int rc = json_skip_value(c, depth + 1);
				if (rc == 0)
					rc = json_expect(c, ':', "after a field name");
				if (rc != 0)
					return rc;
			}
			int rc = json_skip_value(c, depth + 1);
			if (rc != 0)
				return rc;
			json_skip_space(c);
			if (c->p < c->end && *c->p == ',') {
				c->p++;
				continue;
			}
			return json_expect(c, close, "to close an object or array");
		}
	}
	if (json_literal(c, "true") || json_literal(c, "false") || json_literal(c, "null"))
		return 0;
	if (ch == '-' || (ch >= '0' && ch <= '9')) {
		const char *s = c->p;
		if (*s == '-')
			s++;
		if (s >= c->end || *s < '0' || *s > '9')
			return json_fail(c, "malformed number");
		while (s < c->end && ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' ||
				      *s == 'E' || *s == '+' || *s == '-'))
			s++;
		c->p = s;
		return 0;
	}
	return json_fail(c, "unexpected character '%c' where a value should be", ch);
}

/* A string or null. */
static int json_nullable_string(struct json_cursor *c, const char *field, struct check_str *out)
{
	json_skip_space(c);
	if (c->p < c->end && *c->p == '"')
		return json_string(c, out);
	if (json_literal(c, "null")) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return json_fail(c, "\"%s\" must be a string or null", field);
}

enum json_field {
	FIELD_CLIENT = 0,
	FIELD_OP,
	FIELD_KEY,
	FIELD_VALUE,
	FIELD_EXPECT,
	FIELD_RESULT,
	FIELD_OK,
	FIELD_CALL,
	FIELD_RETURN,
	FIELD_COUNT,
};

static const char *const json_field_names[FIELD_COUNT] = {
	"client", "op", "key", "value", "expect", "result", "ok", "call", "return",
};

static int json_op_kind(struct json_cursor *c, const struct check_str *name, enum check_kind *kind)
{
	static const char *const names[] = {"get", "put", "delete", "append", "cas", "incr"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (name->len == strlen(names[i]) && memcmp(name->bytes, names[i], name->len) == 0) {
			*kind = (enum check_kind)i;
			return 0;
		}
	}
	char shown[64];
	check_format_str(shown, sizeof(shown), name, 30, "null");
	return json_fail(c, "unknown op %s (expected get, put, delete, append, cas or incr)", shown);
}

/* Parses one line holding one object into *op. */
static int json_parse_op(struct json_cursor *c, struct check_op *op)
{
	memset(op, 0, sizeof(*op));
	op->line = c->line;
	bool seen[FIELD_COUNT] = {false};
	bool return_null = false;
	int rc = json_expect(c, '{', "at the start of an operation");
	if (rc != 0)
		return rc;
	json_skip_space(c);
	if (c->p < c->end && *c->p == '}')
		return json_fail(c, "empty object: an operation needs client, op, key, ok and call");
	for (;;) {
		json_skip_space(c);
		if (c->p >= c->end || *c->p != '"')
			return json_fail(c, "expected a field name in quotes");
		char *mark = c->arena;
		struct check_str name;
		rc = json_string(c, &name);
		if (rc != 0)
			return rc;
		c->arena = mark; /* the name is not kept */
		int field = -1;
		for (int i = 0; i < FIELD_COUNT; i++) {
			if (name.len == strlen(json_field_names[i]) &&
			    memcmp(name.bytes, json_field_names[i], name.len) == 0)
				field = i;
		}
		rc = json_expect(c, ':', "after a field name");
		if (rc != 0)
			return rc;
		json_skip_space(c);
		if (field >= 0) {
			if (seen[field])
				return json_fail(c, "field \"%s\" appears twice", json_field_names[field]);
			seen[field] = true;
		}
		switch (field) {
		case FIELD_CLIENT:
			rc = json_integer(c, "client", &op->client);
			break;
		case FIELD_OP: {
			struct check_str kind;
			if (c->p >= c->end || *c->p != '"')
				return json_fail(c, "\"op\" must be a string");
			char *opmark = c->arena;
			rc = json_string(c, &kind);
			if (rc == 0)
				rc = json_op_kind(c, &kind, &op->kind);
			c->arena = opmark;
			break;
		}
		case FIELD_KEY:
			if (c->p >= c->end || *c->p != '"')
				return json_fail(c, "\"key\" must be a string");
			rc = json_string(c, &op->key);
			break;
		case FIELD_VALUE:
			rc = json_nullable_string(c, "value", &op->value);
			break;
		case FIELD_EXPECT:
			rc = json_nullable_string(c, "expect", &op->expect);
			break;
		case FIELD_RESULT:
			if (json_literal(c, "true"))
				op->existed = CHECK_EXISTED_YES;
			else if (json_literal(c, "false"))
				op->existed = CHECK_EXISTED_NO;
			else
				rc = json_nullable_string(c, "result", &op->result);
			break;
		case FIELD_OK:
			if (json_literal(c, "true")) {
				op->ok = CHECK_OK_TRUE;
			} else if (json_literal(c, "false")) {
				op->ok = CHECK_OK_FALSE;
			} else if (c->p < c->end && *c->p == '"') {
				char *okmark = c->arena;
				struct check_str word;
				rc = json_string(c, &word);
				c->arena = okmark;
				if (rc == 0 && !(word.len == 7 && memcmp(word.bytes, "unknown", 7) == 0))
					return json_fail(c, "\"ok\" must be true, false or \"unknown\"");
				op->ok = CHECK_OK_UNKNOWN;
			} else {
				return json_fail(c, "\"ok\" must be true, false or \"unknown\"");
			}
			break;
		case FIELD_CALL:
			rc = json_integer(c, "call", &op->call_time);
			break;
		case FIELD_RETURN:
			if (json_literal(c, "null"))
				return_null = true;
			else
				rc = json_integer(c, "return", &op->return_time);
			break;
		default:
			rc = json_skip_value(c, 1);
			break;
		}
		if (rc != 0)
			return rc;
		json_skip_space(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		rc = json_expect(c, '}', "or ',' after a field");
		if (rc != 0)
			return rc;
		break;
	}
	json_skip_space(c);
	if (c->p < c->end)
		return json_fail(c, "unexpected text after the operation's closing '}'");
	static const int required[] = {FIELD_CLIENT, FIELD_OP, FIELD_KEY, FIELD_OK, FIELD_CALL};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!seen[required[i]])
			return json_fail(c, "missing field \"%s\"", json_field_names[required[i]]);
	}
	if (op->existed != CHECK_EXISTED_UNOBSERVED && op->kind != CHECK_KIND_DELETE)
		return json_fail(c, "result true/false is only for delete (did the key exist)");
	if (op->ok == CHECK_OK_UNKNOWN) {
		if (seen[FIELD_RETURN] && !return_null)
			return json_fail(c, "an operation with ok \"unknown\" has \"return\": null");
		op->return_time = op->call_time;
	} else {
		if (!seen[FIELD_RETURN] || return_null)
			return json_fail(c, "an operation with ok %s needs an integer \"return\"",
					 op->ok == CHECK_OK_TRUE ? "true" : "false");
		if (op->return_time < op->call_time)
			return json_fail(c, "return %" PRId64 " is before call %" PRId64,
					 op->return_time, op->call_time);
	}
	char message[160];
	if (check_op_validate(op, message, sizeof(message)) != 0)
		return json_fail(c, "%s", message);
	return 0;
}

void check_history_free(struct check_history *history)
{
	if (history == NULL)
		return;
	free(history->ops);
	free(history->bytes);
	memset(history, 0, sizeof(*history));
}

int check_history_parse(const char *text, size_t text_len, struct check_history *history,
			struct check_error *error)
{
	assert(history != NULL);
	assert(text != NULL || text_len == 0);
	memset(history, 0, sizeof(*history));
	if (error != NULL)
		memset(error, 0, sizeof(*error));
	size_t lines = 1;
	for (const char *p = text; p != NULL && p < text + text_len;) {
		p = memchr(p, '\n', (size_t)(text + text_len - p));
		if (p != NULL) {
			lines++;
			p++;
		}
	}
	history->ops = calloc(lines, sizeof(*history->ops));
	history->bytes = malloc(text_len + 1);
	if (history->ops == NULL || history->bytes == NULL) {
		check_history_free(history);
		if (error != NULL)
			snprintf(error->message, sizeof(error->message), "out of memory");
		return -ENOMEM;
	}
	struct json_cursor c = {.arena = history->bytes, .error = error, .line = 0};
	const char *p = text;
	const char *end = text + text_len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl != NULL ? nl : end;
		c.line++;
		c.p = p;
		c.end = line_end;
		json_skip_space(&c);
		if (c.p < c.end) {
			assert(history->op_count < lines);
			int rc = json_parse_op(&c, &history->ops[history->op_count]);
			if (rc != 0) {
				check_history_free(history);
				return rc;
			}
			history->op_count++;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	assert(c.arena <= history->bytes + text_len);
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

int check_history_write(FILE *out, const struct check_op *ops, size_t op_count)
{
	assert(out != NULL && (ops != NULL || op_count == 0));
	for (size_t i = 0; i < op_count; i++) {
		const struct check_op *op = &ops[i];
		int rc = fprintf(out, "{\"client\":%" PRId64 ",\"op\":\"%s\",\"key\":", op->client,
				 check_kind_name(op->kind)) < 0;
		rc = rc || check_write_json_str(out, &op->key) != 0;
		rc = rc || fputs(",\"value\":", out) < 0 || check_write_json_str(out, &op->value) != 0;
		rc = rc || fputs(",\"expect\":", out) < 0 ||
		     check_write_json_str(out, &op->expect) != 0;
		rc = rc || fputs(",\"result\":", out) < 0;
		if (op->kind == CHECK_KIND_DELETE && op->existed != CHECK_EXISTED_UNOBSERVED)
			rc = rc || fputs(op->existed == CHECK_EXISTED_YES ? "true" : "false", out) < 0;
		else
			rc = rc || check_write_json_str(out, &op->result) != 0;
		if (op->ok == CHECK_OK_UNKNOWN)
			rc = rc || fprintf(out, ",\"ok\":\"unknown\",\"call\":%" PRId64
						",\"return\":null}\n",
					   op->call_time) < 0;
		else
			rc = rc || fprintf(out, ",\"ok\":%s,\"call\":%" PRId64 ",\"return\":%" PRId64 "}\n",
					   op->ok == CHECK_OK_TRUE ? "true" : "false", op->call_time,
					   op->return_time) < 0;
		if (rc)
			return -EIO;
	}
	return 0;
}
