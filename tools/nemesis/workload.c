/* workload.c: client threads running random get/put/append/cas/delete, each op recorded with its outcome. */
#include "workload.h"

#include "base/alloc.h"
#include "nemesis.h"

#include <concord/client.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every client is a thread with its own handle (its own session). It picks one of
 * cfg->keys key slots at random; a slot's key is "k<slot>.<generation>", and the
 * generation moves on after ops_per_key operations, so that no key's history grows
 * long (the checker's cost grows fast with the operations on one key) and no value
 * grows large (appends). Every value written is a token "<client>-<n>," that appears
 * nowhere else, so a read tells which writes it saw.
 */

#define FINAL_CLIENT   1000000
#define ERRORS_MAX     48
#define FINAL_BATCH    200

struct keyslot {
	_Atomic uint32_t gen;
	_Atomic uint32_t ops;
};

struct last_seen {
	uint32_t gen;
	char *val; /* the value this client last saw for the slot's key, NULL: none */
};

struct wclient {
	struct workload *w;
	unsigned id;
	pthread_t th;
	bool started;
	uint64_t rng;
	uint64_t seq;
	struct concord_client *c;
	struct check_op *ops;
	size_t n, cap;
	struct last_seen *last;
	uint64_t counts[WL_KINDS][WL_OUTCOMES];
};

struct err_count {
	char msg[160];
	uint64_t count;
};

struct workload {
	struct workload_config cfg;
	atomic_bool stop;
	struct keyslot *keys;
	struct wclient *clients;
	_Atomic uint32_t *timeline[WL_OUTCOMES];
	uint32_t *timeline_copy[WL_OUTCOMES];
	struct check_op *final_ops;
	size_t n_final, cap_final;
	struct check_op *merged;
	size_t n_merged;
	pthread_mutex_t err_mu;
	struct err_count errors[ERRORS_MAX];
	size_t n_errors;
	uint64_t errors_other;
};

static struct check_str str_dup(const char *p, size_t len)
{
	struct check_str s = {NULL, 0, true};
	char *b = xmalloc(len + 1);
	memcpy(b, p, len);
	b[len] = '\0';
	s.bytes = b;
	s.len = len;
	return s;
}

static void str_free(struct check_str *s)
{
	free((char *)s->bytes);
	s->bytes = NULL;
}

static void push_op(struct check_op **ops, size_t *n, size_t *cap, const struct check_op *op)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		struct check_op *p = xrealloc(*ops, nc * sizeof(*p));
		*ops = p;
		*cap = nc;
	}
	(*ops)[(*n)++] = *op;
}

static void note_error(struct workload *w, const char *msg)
{
	/* Digits vary (attempts, milliseconds, ports): one entry per message shape. */
	char shape[160];
	size_t j = 0;
	for (size_t i = 0; msg[i] != '\0' && j + 1 < sizeof(shape); i++) {
		char ch = msg[i];
		if (ch >= '0' && ch <= '9') {
			if (j > 0 && shape[j - 1] == '#')
				continue;
			ch = '#';
		}
		shape[j++] = ch;
	}
	shape[j] = '\0';
	pthread_mutex_lock(&w->err_mu);
	size_t i;
	for (i = 0; i < w->n_errors; i++) {
		if (strcmp(w->errors[i].msg, shape) == 0)
			break;
	}
	if (i < w->n_errors) {
		w->errors[i].count++;
	} else if (w->n_errors < ERRORS_MAX) {
		snprintf(w->errors[w->n_errors].msg, sizeof(w->errors[0].msg), "%s", shape);
		w->errors[w->n_errors++].count = 1;
	} else {
		w->errors_other++;
	}
	pthread_mutex_unlock(&w->err_mu);
}

static void timeline_add(struct workload *w, int outcome, int64_t t)
{
	if (t < 0)
		t = 0;
	size_t sec = (size_t)(t / 1000000000);
	if (w->cfg.seconds == 0)
		return;
	if (sec >= w->cfg.seconds)
		sec = w->cfg.seconds - 1;
	atomic_fetch_add(&w->timeline[outcome][sec], 1);
}

static void set_last(struct wclient *wc, unsigned slot, uint32_t gen, const char *v, size_t len)
{
	free(wc->last[slot].val);
	wc->last[slot].val = NULL;
	wc->last[slot].gen = gen;
	if (v != NULL) {
		wc->last[slot].val = malloc(len + 1);
		if (wc->last[slot].val != NULL) {
			memcpy(wc->last[slot].val, v, len);
			wc->last[slot].val[len] = '\0';
		}
	}
}

static void one_op(struct wclient *wc)
{
	struct workload *w = wc->w;
	unsigned slot = (unsigned)(nem_rand(&wc->rng) % w->cfg.keys);
	uint32_t gen = atomic_load(&w->keys[slot].gen);
	char key[32], val[48];
	int kl = snprintf(key, sizeof(key), "k%u.%" PRIu32, slot, gen);
	int vl = snprintf(val, sizeof(val), "%u-%" PRIu64 ",", wc->id, ++wc->seq);
	unsigned r = (unsigned)(nem_rand(&wc->rng) % 100);
	int kind = r < 35 ? WL_GET : r < 55 ? WL_PUT : r < 75 ? WL_APPEND : r < 90 ? WL_CAS : WL_DELETE;
	if (wc->last[slot].gen != gen)
		set_last(wc, slot, gen, NULL, 0);

	struct check_op op;
	memset(&op, 0, sizeof(op));
	op.client = wc->id;
	op.key = str_dup(key, (size_t)kl);
	static const enum check_kind kinds[] = {CHECK_KIND_GET, CHECK_KIND_PUT, CHECK_KIND_APPEND,
						CHECK_KIND_CAS, CHECK_KIND_DELETE};
	op.kind = kinds[kind];
	if (kind != WL_GET && kind != WL_DELETE)
		op.value = str_dup(val, (size_t)vl);
	if (kind == WL_CAS) {
		/* Mostly the value this client saw last, so that some swaps succeed; else a
		 * token of its own that is probably not the value. */
		if (wc->last[slot].val != NULL && nem_rand(&wc->rng) % 4 != 0) {
			op.expect = str_dup(wc->last[slot].val, strlen(wc->last[slot].val));
		} else {
			char expect[48];
			int el = snprintf(expect, sizeof(expect), "%u-%" PRIu64 ",", wc->id,
					  nem_rand(&wc->rng) % (wc->seq + 1));
			op.expect = str_dup(expect, (size_t)el);
		}
	}

	op.call_time = nem_now();
	int rc;
	bool flag = false;
	char *got = NULL;
	size_t got_len = 0;
	switch (kind) {
	case WL_GET:
		rc = concord_client_get(wc->c, key, (size_t)kl, &got, &got_len, &flag);
		break;
	case WL_PUT:
		rc = concord_client_put(wc->c, key, (size_t)kl, val, (size_t)vl);
		break;
	case WL_APPEND: {
		const char *argv[] = {"APPEND", key, val};
		size_t lens[] = {6, (size_t)kl, (size_t)vl};
		struct concord_reply reply;
		memset(&reply, 0, sizeof(reply));
		rc = concord_client_command(wc->c, argv, lens, 3, &reply);
		if (rc == 0 && reply.type != CONCORD_REPLY_INTEGER)
			rc = reply.type == CONCORD_REPLY_ERROR ? CONCORD_ESERVER : CONCORD_EPROTO;
		concord_reply_free(&reply);
		break;
	}
	case WL_CAS:
		rc = concord_client_cas(wc->c, key, (size_t)kl, op.expect.bytes, op.expect.len, val,
					(size_t)vl, &flag);
		break;
	default:
		rc = concord_client_del(wc->c, key, (size_t)kl, &flag);
		break;
	}
	op.return_time = nem_now();

	int outcome;
	if (rc == CONCORD_OK) {
		outcome = WL_OK;
		op.ok = CHECK_OK_TRUE;
		switch (kind) {
		case WL_GET:
			op.result = flag ? str_dup(got, got_len)
					 : (struct check_str){NULL, 0, false};
			set_last(wc, slot, gen, flag ? got : NULL, got_len);
			break;
		case WL_PUT:
			set_last(wc, slot, gen, val, (size_t)vl);
			break;
		case WL_CAS:
			if (flag)
				set_last(wc, slot, gen, val, (size_t)vl);
			else
				op.ok = CHECK_OK_FALSE; /* an observation: the value differed */
			break;
		case WL_DELETE:
			op.existed = flag ? CHECK_EXISTED_YES : CHECK_EXISTED_NO;
			set_last(wc, slot, gen, NULL, 0);
			break;
		default:
			set_last(wc, slot, gen, NULL, 0);
			break;
		}
	} else if (rc == CONCORD_EUNAVAILABLE || kind == WL_GET) {
		/* EUNAVAILABLE: no attempt can have reached a node (client.h). A failed read
		 * observed nothing. */
		outcome = WL_FAILED;
		op.ok = CHECK_OK_FALSE;
		note_error(w, concord_client_errmsg(wc->c));
	} else {
		/* EUNKNOWN, and anything else a write may end with: count it as possibly
		 * applied, which is always sound. */
		outcome = WL_UNKNOWN;
		op.ok = CHECK_OK_UNKNOWN;
		op.return_time = op.call_time;
		set_last(wc, slot, gen, NULL, 0);
		note_error(w, concord_client_errmsg(wc->c));
	}
	free(got);
	wc->counts[kind][outcome]++;
	timeline_add(w, outcome, outcome == WL_UNKNOWN ? op.call_time : op.return_time);
	push_op(&wc->ops, &wc->n, &wc->cap, &op);

	uint32_t done = atomic_fetch_add(&w->keys[slot].ops, 1) + 1;
	if (done >= w->cfg.ops_per_key) {
		uint32_t g = gen;
		if (atomic_compare_exchange_strong(&w->keys[slot].gen, &g, gen + 1))
			atomic_store(&w->keys[slot].ops, 0);
	}
}

static void *client_main(void *arg)
{
	struct wclient *wc = arg;
	while (!atomic_load(&wc->w->stop))
		one_op(wc);
	return NULL;
}

static int new_handle(const struct workload_config *cfg, struct concord_client **c)
{
	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.connect_timeout_ms = 300;
	o.attempt_timeout_ms = cfg->attempt_ms;
	o.deadline_ms = cfg->deadline_ms;
	o.retries_max = 64;
	o.backoff_min_ms = 10;
	o.backoff_max_ms = 250;
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	int rc = concord_client_new(cfg->endpoints, &o, c, err);
	if (rc != 0)
		nem_log("client: %s", err);
	return rc;
}

int workload_start(struct workload **out, const struct workload_config *cfg)
{
	struct workload *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->cfg = *cfg;
	pthread_mutex_init(&w->err_mu, NULL);
	w->keys = calloc(cfg->keys, sizeof(*w->keys));
	w->clients = calloc(cfg->clients, sizeof(*w->clients));
	for (int i = 0; i < WL_OUTCOMES; i++)
		w->timeline[i] = calloc(cfg->seconds + 1, sizeof(*w->timeline[i]));
	if (w->keys == NULL || w->clients == NULL || w->timeline[0] == NULL ||
	    w->timeline[1] == NULL || w->timeline[2] == NULL) {
		workload_free(w);
		return -1;
	}
	for (unsigned i = 0; i < cfg->clients; i++) {
		struct wclient *wc = &w->clients[i];
		wc->w = w;
		wc->id = i + 1;
		wc->rng = cfg->seed * 1000003ULL + i + 1;
		wc->last = calloc(cfg->keys, sizeof(*wc->last));
		if (wc->last == NULL || new_handle(cfg, &wc->c) != 0) {
			workload_stop(w);
			workload_free(w);
			return -1;
		}
	}
	for (unsigned i = 0; i < cfg->clients; i++) {
		struct wclient *wc = &w->clients[i];
		if (pthread_create(&wc->th, NULL, client_main, wc) != 0) {
			workload_stop(w);
			workload_free(w);
			return -1;
		}
		wc->started = true;
	}
	*out = w;
	return 0;
}

void workload_stop(struct workload *w)
{
	atomic_store(&w->stop, true);
	for (unsigned i = 0; i < w->cfg.clients; i++) {
		struct wclient *wc = &w->clients[i];
		if (wc->started)
			pthread_join(wc->th, NULL);
		wc->started = false;
		if (wc->c != NULL)
			concord_client_free(wc->c);
		wc->c = NULL;
	}
	/* No client counts any more: plain copies for the report. */
	for (int o = 0; o < WL_OUTCOMES; o++) {
		free(w->timeline_copy[o]);
		w->timeline_copy[o] = calloc(w->cfg.seconds + 1, sizeof(uint32_t));
		for (size_t i = 0; w->timeline_copy[o] != NULL && i < w->cfg.seconds; i++)
			w->timeline_copy[o][i] = atomic_load(&w->timeline[o][i]);
	}
}

/* ---------------------------------------------------------------------------------
 * The final read
 */

static int read_batch(struct workload *w, struct concord_client *c, char keys[][32],
		      const size_t *lens, size_t n)
{
	const char *argv[FINAL_BATCH + 1];
	size_t argl[FINAL_BATCH + 1];
	argv[0] = "MGET";
	argl[0] = 4;
	for (size_t i = 0; i < n; i++) {
		argv[i + 1] = keys[i];
		argl[i + 1] = lens[i];
	}
	struct concord_reply reply;
	memset(&reply, 0, sizeof(reply));
	int64_t call = nem_now();
	int rc = concord_client_command(c, argv, argl, n + 1, &reply);
	int64_t ret = nem_now();
	if (rc != 0 || reply.type != CONCORD_REPLY_ARRAY || reply.n != n) {
		if (rc == 0)
			nem_log("final read: unexpected MGET reply (type %d, %zu elements)",
				(int)reply.type, reply.n);
		else
			nem_log("final read: %s", concord_client_errmsg(c));
		concord_reply_free(&reply);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct concord_reply *e = &reply.elems[i];
		struct check_op op;
		memset(&op, 0, sizeof(op));
		op.client = FINAL_CLIENT;
		op.kind = CHECK_KIND_GET;
		op.ok = CHECK_OK_TRUE;
		op.key = str_dup(keys[i], lens[i]);
		if (e->type == CONCORD_REPLY_STRING)
			op.result = str_dup(e->str, e->len);
		op.call_time = call;
		op.return_time = ret;
		push_op(&w->final_ops, &w->n_final, &w->cap_final, &op);
	}
	concord_reply_free(&reply);
	return 0;
}

int workload_final_read(struct workload *w, char *err, size_t errlen)
{
	struct workload_config cfg = w->cfg;
	cfg.deadline_ms *= 3;
	struct concord_client *c;
	if (new_handle(&cfg, &c) != 0) {
		snprintf(err, errlen, "no client handle");
		return -1;
	}
	static char keys[FINAL_BATCH][32];
	size_t lens[FINAL_BATCH];
	size_t n = 0;
	int rc = 0;
	for (unsigned s = 0; s < w->cfg.keys && rc == 0; s++) {
		uint32_t gens = atomic_load(&w->keys[s].gen);
		for (uint32_t g = 0; g <= gens && rc == 0; g++) {
			lens[n] = (size_t)snprintf(keys[n], sizeof(keys[n]), "k%u.%" PRIu32, s, g);
			n++;
			bool last = s + 1 == w->cfg.keys && g == gens;
			if (n == FINAL_BATCH || last) {
				rc = -1;
				for (int attempt = 0; attempt < 5 && rc != 0; attempt++)
					rc = read_batch(w, c, keys, lens, n);
				if (rc != 0)
					snprintf(err, errlen, "the final read of %zu keys from %s failed: %s",
						 n, keys[0], concord_client_errmsg(c));
				n = 0;
			}
		}
	}
	concord_client_free(c);
	return rc;
}

/* ---------------------------------------------------------------------------------
 * Results
 */

const struct check_op *workload_history(struct workload *w, size_t *count)
{
	if (w->merged == NULL) {
		size_t total = w->n_final;
		for (unsigned i = 0; i < w->cfg.clients; i++)
			total += w->clients[i].n;
		w->merged = malloc((total ? total : 1) * sizeof(*w->merged));
		if (w->merged == NULL) {
			*count = 0;
			return NULL;
		}
		size_t n = 0;
		for (unsigned i = 0; i < w->cfg.clients; i++) {
			memcpy(w->merged + n, w->clients[i].ops, w->clients[i].n * sizeof(*w->merged));
			n += w->clients[i].n;
		}
		if (w->n_final > 0)
			memcpy(w->merged + n, w->final_ops, w->n_final * sizeof(*w->merged));
		w->n_merged = total;
	}
	*count = w->n_merged;
	return w->merged;
}

void workload_counts(const struct workload *w, uint64_t counts[WL_KINDS][WL_OUTCOMES])
{
	memset(counts, 0, sizeof(uint64_t) * WL_KINDS * WL_OUTCOMES);
	for (unsigned i = 0; i < w->cfg.clients; i++) {
		for (int k = 0; k < WL_KINDS; k++) {
			for (int o = 0; o < WL_OUTCOMES; o++)
				counts[k][o] += w->clients[i].counts[k][o];
		}
	}
}

const uint32_t *workload_timeline(const struct workload *w, int outcome)
{
	return w->timeline_copy[outcome];
}

uint64_t workload_keys_used(const struct workload *w)
{
	uint64_t n = 0;
	for (unsigned s = 0; s < w->cfg.keys; s++)
		n += atomic_load(&w->keys[s].gen) + 1;
	return n;
}

static int cmp_key_call(const void *a, const void *b)
{
	const struct check_op *x = *(const struct check_op *const *)a;
	const struct check_op *y = *(const struct check_op *const *)b;
	size_t l = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = memcmp(x->key.bytes, y->key.bytes, l);
	if (c != 0)
		return c;
	if (x->key.len != y->key.len)
		return x->key.len < y->key.len ? -1 : 1;
	return (x->call_time > y->call_time) - (x->call_time < y->call_time);
}

/* Whether `tok` ("3-17,") is one of the comma-terminated tokens of v. */
static bool has_token(const struct check_str *v, const struct check_str *tok)
{
	if (!v->present || tok->len == 0)
		return false;
	for (size_t i = 0; i + tok->len <= v->len; i++) {
		if ((i == 0 || v->bytes[i - 1] == ',') &&
		    memcmp(v->bytes + i, tok->bytes, tok->len) == 0)
			return true;
	}
	return false;
}

static bool destructive(const struct check_op *op)
{
	if (op->ok == CHECK_OK_FALSE)
		return false;
	return op->kind == CHECK_KIND_PUT || op->kind == CHECK_KIND_DELETE ||
	       op->kind == CHECK_KIND_CAS;
}

static int64_t end_of(const struct check_op *op)
{
	return op->ok == CHECK_OK_UNKNOWN ? INT64_MAX : op->return_time;
}

size_t workload_lost_writes(struct workload *w, size_t *checked, char *msg, size_t len)
{
	size_t n;
	const struct check_op *ops = workload_history(w, &n);
	*checked = 0;
	if (len > 0)
		msg[0] = '\0';
	if (n == 0)
		return 0;
	const struct check_op **idx = malloc(n * sizeof(*idx));
	if (idx == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		idx[i] = &ops[i];
	qsort(idx, n, sizeof(*idx), cmp_key_call);
	size_t lost = 0, used = 0;
	for (size_t a = 0; a < n;) {
		size_t b = a;
		while (b < n && idx[b]->key.len == idx[a]->key.len &&
		       memcmp(idx[b]->key.bytes, idx[a]->key.bytes, idx[a]->key.len) == 0)
			b++;
		/* The final read of this key, and the two latest ends among the writes that
		 * replace the value. */
		const struct check_op *final = NULL;
		const struct check_op *top = NULL;
		int64_t max1 = INT64_MIN, max2 = INT64_MIN;
		for (size_t i = a; i < b; i++) {
			const struct check_op *op = idx[i];
			if (op->client == FINAL_CLIENT)
				final = op;
			if (!destructive(op))
				continue;
			int64_t e = end_of(op);
			if (e > max1) {
				max2 = max1;
				max1 = e;
				top = op;
			} else if (e > max2) {
				max2 = e;
			}
		}
		for (size_t i = a; final != NULL && i < b; i++) {
			const struct check_op *op = idx[i];
			if (op->ok != CHECK_OK_TRUE || op->client == FINAL_CLIENT)
				continue;
			bool must = false, ok = true;
			if (op->kind == CHECK_KIND_APPEND) {
				/* Every replacing write ended before this append began. */
				must = max1 <= op->call_time;
				ok = has_token(&final->result, &op->value);
			} else if (op->kind == CHECK_KIND_PUT || op->kind == CHECK_KIND_CAS) {
				int64_t others = op == top ? max2 : max1;
				must = others <= op->call_time;
				ok = final->result.present && final->result.len >= op->value.len &&
				     memcmp(final->result.bytes, op->value.bytes, op->value.len) == 0;
			}
			if (!must)
				continue;
			(*checked)++;
			if (ok)
				continue;
			lost++;
			if (lost <= 5 && used + 1 < len)
				used += (size_t)snprintf(msg + used, len - used,
							 "%s %.*s by client %" PRId64
							 " acknowledged, final value %s%.*s%s\n",
							 check_kind_name(op->kind), (int)op->key.len,
							 op->key.bytes, op->client,
							 final->result.present ? "\"" : "",
							 final->result.present ? (int)final->result.len : 6,
							 final->result.present ? final->result.bytes : "absent",
							 final->result.present ? "\"" : "");
			if (used >= len)
				used = len - 1;
		}
		a = b;
	}
	free(idx);
	return lost;
}

static int cmp_err(const void *a, const void *b)
{
	const struct err_count *x = a, *y = b;
	return (x->count < y->count) - (x->count > y->count);
}

void workload_errors(struct workload *w, char *out, size_t len)
{
	pthread_mutex_lock(&w->err_mu);
	qsort(w->errors, w->n_errors, sizeof(w->errors[0]), cmp_err);
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < w->n_errors && used + 1 < len; i++) {
		used += (size_t)snprintf(out + used, len - used, "%8" PRIu64 "  %s\n",
					 w->errors[i].count, w->errors[i].msg);
		if (used >= len)
			used = len - 1;
	}
	if (w->errors_other > 0 && used + 1 < len)
		snprintf(out + used, len - used, "%8" PRIu64 "  (other messages)\n",
			 w->errors_other);
	pthread_mutex_unlock(&w->err_mu);
}

static void free_ops(struct check_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		str_free(&ops[i].key);
		str_free(&ops[i].value);
		str_free(&ops[i].expect);
		str_free(&ops[i].result);
	}
	free(ops);
}

void workload_free(struct workload *w)
{
	if (w == NULL)
		return;
	for (unsigned i = 0; w->clients != NULL && i < w->cfg.clients; i++) {
		struct wclient *wc = &w->clients[i];
		if (wc->c != NULL)
			concord_client_free(wc->c);
		free_ops(wc->ops, wc->n);
		for (unsigned k = 0; wc->last != NULL && k < w->cfg.keys; k++)
			free(wc->last[k].val);
		free(wc->last);
	}
	free_ops(w->final_ops, w->n_final);
	free(w->merged);
	free(w->clients);
	free(w->keys);
	for (int i = 0; i < WL_OUTCOMES; i++) {
		free((void *)w->timeline[i]);
		free(w->timeline_copy[i]);
	}
	pthread_mutex_destroy(&w->err_mu);
	free(w);
}
