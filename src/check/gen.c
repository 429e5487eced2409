/* gen.c: random linearizable key-value histories, and injected anomalies, for tests and benches. */
#include "check/gen.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/model.h"

struct gen_rng {
	uint64_t s;
};

static uint64_t gen_next(struct gen_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint64_t gen_below(struct gen_rng *r, uint64_t n)
{
	assert(n > 0);
	return gen_next(r) % n;
}

struct gen_ref {
	size_t off, len;
	bool present;
};

struct gen_buf {
	char *bytes;
	size_t len, cap;
};

static int gen_buf_add(struct gen_buf *b, const char *s, size_t len, struct gen_ref *ref)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		char *bytes = realloc(b->bytes, cap);
		if (bytes == NULL)
			return -ENOMEM;
		b->bytes = bytes;
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->bytes + b->len, s, len);
	ref->off = b->len;
	ref->len = len;
	ref->present = true;
	b->len += len;
	return 0;
}

/* The sequential store: one value per key. */
struct gen_value {
	char *bytes;
	size_t len;
	bool present;
};

static int gen_value_set(struct gen_value *v, const char *s, size_t len)
{
	char *bytes = realloc(v->bytes, len + 1);
	if (bytes == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(bytes, s, len);
	bytes[len] = '\0';
	v->bytes = bytes;
	v->len = len;
	v->present = true;
	return 0;
}

static bool gen_value_is(const struct gen_value *v, const char *s, size_t len, bool present)
{
	if (v->present != present)
		return false;
	return !present || (v->len == len && (len == 0 || memcmp(v->bytes, s, len) == 0));
}

static enum check_kind gen_pick_kind(struct gen_rng *r, enum gen_mix mix)
{
	uint64_t x = gen_below(r, 100);
	if (mix == GEN_MIX_REGISTER) {
		if (x < 50)
			return CHECK_KIND_GET;
		if (x < 75)
			return CHECK_KIND_PUT;
		if (x < 90)
			return CHECK_KIND_CAS;
		return CHECK_KIND_DELETE;
	}
	if (mix == GEN_MIX_APPEND)
		return x < 50 ? CHECK_KIND_GET : x < 75 ? CHECK_KIND_PUT : CHECK_KIND_APPEND;
	if (x < 35)
		return CHECK_KIND_GET;
	if (x < 50)
		return CHECK_KIND_PUT;
	if (x < 60)
		return CHECK_KIND_CAS;
	if (x < 65)
		return CHECK_KIND_DELETE;
	if (x < 80)
		return CHECK_KIND_APPEND;
	return CHECK_KIND_INCR;
}

int gen_history(const struct gen_config *config, struct check_history *history)
{
	assert(config != NULL && history != NULL);
	assert(config->client_count > 0 && config->key_count > 0);
	memset(history, 0, sizeof(*history));
	size_t n = config->op_count;
	struct gen_rng rng = {config->seed * 0x2545f4914f6cdd1dull + 1};
	struct check_op *ops = calloc(n > 0 ? n : 1, sizeof(*ops));
	struct gen_ref(*refs)[4] =
	    calloc(n > 0 ? n : 1, sizeof(*refs)); /* key, value, expect, result */
	struct gen_value *values = calloc(config->key_count, sizeof(*values));
	int64_t *free_at = calloc(config->client_count, sizeof(*free_at));
	struct gen_ref *key_refs = calloc(config->key_count, sizeof(*key_refs));
	struct gen_buf buf = {0};
	int rc =
	    ops == NULL || refs == NULL || values == NULL || free_at == NULL || key_refs == NULL
	        ? -ENOMEM
	        : 0;
	for (uint32_t k = 0; rc == 0 && k < config->key_count; k++) {
		char name[32];
		int len = snprintf(name, sizeof(name), "k%" PRIu32, k);
		rc = gen_buf_add(&buf, name, (size_t)len, &key_refs[k]);
	}
	uint64_t counter = 0;
	int64_t lin = 1000;
	uint32_t stretch = config->stretch > 0 ? config->stretch : 1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct check_op *op = &ops[i];
		/* The next linearization point, and a client free at it. */
		lin += 1 + (int64_t)gen_below(&rng, 4);
		uint32_t c = (uint32_t)gen_below(&rng, config->client_count);
		uint32_t tries = 0;
		while (free_at[c] > lin && tries++ < config->client_count)
			c = (c + 1) % config->client_count;
		if (free_at[c] > lin) {
			for (uint32_t j = 0; j < config->client_count; j++) {
				if (free_at[j] < free_at[c])
					c = j;
			}
			lin = free_at[c];
		}
		uint32_t k = (uint32_t)gen_below(&rng, config->key_count);
		struct gen_value *v = &values[k];
		op->client = (int64_t)c;
		op->kind = gen_pick_kind(&rng, config->mix);
		int64_t call = lin - (int64_t)gen_below(&rng, stretch + 1);
		if (call < free_at[c])
			call = free_at[c];
		int64_t ret = lin + (int64_t)gen_below(&rng, stretch + 1);
		op->call_time = call;
		op->return_time = ret;
		bool unknown = gen_below(&rng, 100) < config->unknown_percent;
		bool effect = !unknown || gen_below(&rng, 2) == 0;
		bool fails = !unknown && op->kind != CHECK_KIND_GET && op->kind != CHECK_KIND_CAS &&
		             gen_below(&rng, 100) < config->fail_percent;
		op->ok = unknown ? CHECK_OK_UNKNOWN : fails ? CHECK_OK_FALSE : CHECK_OK_TRUE;
		if (fails)
			effect = false;
		refs[i][0] = key_refs[k];
		char text[48];
		int len;
		switch (op->kind) {
		case CHECK_KIND_GET:
			if (op->ok == CHECK_OK_TRUE && v->present)
				rc = gen_buf_add(&buf, v->bytes, v->len, &refs[i][3]);
			break;
		case CHECK_KIND_PUT:
			len = snprintf(text, sizeof(text), "%" PRIu64, 1000000 + counter++);
			rc = gen_buf_add(&buf, text, (size_t)len, &refs[i][1]);
			if (rc == 0 && effect)
				rc = gen_value_set(v, text, (size_t)len);
			break;
		case CHECK_KIND_DELETE:
			if (op->ok == CHECK_OK_TRUE && gen_below(&rng, 2) == 0)
				op->existed = v->present ? CHECK_EXISTED_YES : CHECK_EXISTED_NO;
			if (effect)
				v->present = false;
			break;
		case CHECK_KIND_APPEND: {
			len = snprintf(text, sizeof(text), "%" PRIu64, 1 + gen_below(&rng, 99));
			rc = gen_buf_add(&buf, text, (size_t)len, &refs[i][1]);
			if (rc == 0 && effect) {
				size_t old = v->present ? v->len : 0;
				char *bytes =
				    realloc(v->present ? v->bytes : NULL, old + (size_t)len + 1);
				if (bytes == NULL) {
					rc = -ENOMEM;
					break;
				}
				if (!v->present)
					free(v->bytes);
				memcpy(bytes + old, text, (size_t)len + 1);
				v->bytes = bytes;
				v->len = old + (size_t)len;
				v->present = true;
			}
			break;
		}
		case CHECK_KIND_CAS: {
			/* Expect the current value half the time, else an older or absent one. */
			bool hit = gen_below(&rng, 2) == 0;
			if (hit && v->present) {
				rc = gen_buf_add(&buf, v->bytes, v->len, &refs[i][2]);
			} else if (!hit && counter > 0 && gen_below(&rng, 4) != 0) {
				len = snprintf(text, sizeof(text), "%" PRIu64,
				               1000000 + gen_below(&rng, counter));
				rc = gen_buf_add(&buf, text, (size_t)len, &refs[i][2]);
			}
			if (rc != 0)
				break;
			const struct gen_ref *e = &refs[i][2];
			bool match = gen_value_is(v, buf.bytes + e->off, e->len, e->present);
			len = snprintf(text, sizeof(text), "%" PRIu64, 1000000 + counter++);
			rc = gen_buf_add(&buf, text, (size_t)len, &refs[i][1]);
			if (!unknown)
				op->ok = match ? CHECK_OK_TRUE : CHECK_OK_FALSE;
			if (rc == 0 && match && effect)
				rc = gen_value_set(v, text, (size_t)len);
			break;
		}
		case CHECK_KIND_INCR: {
			int64_t cur = 0, delta = 1;
			if (gen_below(&rng, 2) == 0) {
				delta = 1 + (int64_t)gen_below(&rng, 5);
				len = snprintf(text, sizeof(text), "%" PRId64, delta);
				rc = gen_buf_add(&buf, text, (size_t)len, &refs[i][1]);
			}
			bool valid = !v->present || model_parse_int(v->bytes, v->len, &cur);
			if (valid && cur > INT64_MAX - delta)
				valid = false;
			if (!valid && !unknown) {
				op->ok = CHECK_OK_FALSE; /* the store refuses: no effect */
				effect = false;
			}
			if (rc == 0 && valid && effect) {
				len = snprintf(text, sizeof(text), "%" PRId64, cur + delta);
				rc = gen_value_set(v, text, (size_t)len);
				if (rc == 0 && op->ok == CHECK_OK_TRUE && gen_below(&rng, 5) != 0)
					rc = gen_buf_add(&buf, text, (size_t)len, &refs[i][3]);
			}
			break;
		}
		case CHECK_KIND_MSET:
		case CHECK_KIND_DELRANGE:
		case CHECK_KIND_EXPIRE:
		case CHECK_KIND_TXN:
			break; /* not drawn: the generator makes single-key histories */
		}
		if (op->ok == CHECK_OK_UNKNOWN) {
			/* The client gave up at some point; the op may take effect even later. */
			op->return_time = call;
			free_at[c] = call + (int64_t)gen_below(&rng, 2 * (uint64_t)stretch + 1);
		} else {
			free_at[c] = ret + (int64_t)gen_below(&rng, 3);
		}
	}
	for (uint32_t k = 0; values != NULL && k < config->key_count; k++)
		free(values[k].bytes);
	free(values);
	free(free_at);
	free(key_refs);
	if (rc != 0) {
		free(ops);
		free(refs);
		free(buf.bytes);
		return rc;
	}
	if (buf.bytes == NULL)
		buf.bytes = malloc(1);
	if (buf.bytes == NULL) {
		free(ops);
		free(refs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct check_str *strs[4] = {&ops[i].key, &ops[i].value, &ops[i].expect,
		                             &ops[i].result};
		for (int f = 0; f < 4; f++) {
			strs[f]->present = refs[i][f].present;
			strs[f]->len = refs[i][f].len;
			strs[f]->bytes = refs[i][f].present ? buf.bytes + refs[i][f].off : NULL;
		}
		ops[i].line = i + 1;
	}
	free(refs);
	history->ops = ops;
	history->op_count = n;
	history->bytes = buf.bytes;
	return 0;
}

static bool gen_same_str(const struct check_str *a, const struct check_str *b)
{
	return a->present == b->present && a->len == b->len &&
	       (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
}

static bool gen_same_key(const struct check_op *a, const struct check_op *b)
{
	return gen_same_str(&a->key, &b->key);
}

static bool gen_is_read(const struct check_op *op)
{
	return op->kind == CHECK_KIND_GET && op->ok == CHECK_OK_TRUE;
}

/* Writes a unique value: a put, or a cas that may have succeeded. */
static bool gen_is_writer(const struct check_op *op)
{
	return op->kind == CHECK_KIND_PUT ||
	       (op->kind == CHECK_KIND_CAS && op->ok != CHECK_OK_FALSE);
}

/* Known to have replaced the value with one nobody else writes (or with absence). */
static bool gen_is_overwrite(const struct check_op *op)
{
	return op->ok == CHECK_OK_TRUE &&
	       (op->kind == CHECK_KIND_PUT || op->kind == CHECK_KIND_CAS ||
	        op->kind == CHECK_KIND_DELETE);
}

int gen_inject(struct check_history *history, enum gen_anomaly anomaly, uint64_t seed,
               size_t *changed)
{
	assert(history != NULL && changed != NULL);
	struct check_op *ops = history->ops;
	size_t n = history->op_count;
	if (n == 0)
		return -ENOENT;
	struct gen_rng rng = {seed * 0x9e3779b97f4a7c15ull + 7};
	size_t start = (size_t)gen_below(&rng, n);
	for (size_t step = 0; step < n; step++) {
		size_t g = (start + step) % n;
		if (!gen_is_read(&ops[g]))
			continue;
		if (anomaly == GEN_PHANTOM_READ) {
			static const char phantom[] = "never-written";
			ops[g].result.bytes = phantom;
			ops[g].result.len = sizeof(phantom) - 1;
			ops[g].result.present = true;
			*changed = g;
			return 0;
		}
		for (size_t p1 = 0; p1 < n; p1++) {
			const struct check_op *w = &ops[p1];
			if (p1 == g || !gen_same_key(w, &ops[g]) || !gen_is_writer(w))
				continue;
			if (gen_same_str(&w->value, &ops[g].result))
				continue;
			bool ok = false;
			if (anomaly == GEN_FUTURE_READ) {
				ok = ops[g].return_time < w->call_time;
			} else if (w->ok == CHECK_OK_TRUE && w->return_time < ops[g].call_time) {
				for (size_t p2 = 0; p2 < n && !ok; p2++) {
					const struct check_op *o = &ops[p2];
					ok = p2 != p1 && gen_same_key(o, w) &&
					     gen_is_overwrite(o) && w->return_time < o->call_time &&
					     o->return_time < ops[g].call_time;
				}
			}
			if (ok) {
				ops[g].result = w->value;
				*changed = g;
				return 0;
			}
		}
	}
	return -ENOENT;
}
