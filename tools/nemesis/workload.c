/* workload.c: client threads running random get/put/append/cas/delete, each op recorded with its
 * outcome. */
#include "workload.h"

#include "base/alloc.h"
#include "codec/resp.h"
#include "codec/wire.h"
#include "nemesis.h"
#include "pipeline.h"

#include <concord/client.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/*
 * Every client is a thread with its own handle (its own session). It picks one of
 * cfg->keys key slots at random; a slot's key is "k<slot>.<generation>", and the
 * generation moves on after ops_per_key operations, so that no key's history grows
 * long (the checker's cost grows fast with the operations on one key) and no value
 * grows large (appends). Every value written is a token "<client>-<n>," that appears
 * nowhere else, so a read tells which writes it saw.
 */

#define FINAL_CLIENT  1000000
#define ERRORS_MAX    48
#define FINAL_BATCH   200
#define ENDPOINTS_MAX 16

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
	/* Pipelining clients only: */
	bool pipelined;
	struct nem_pipe pipe;
	unsigned node; /* index into the workload's endpoints */
	uint64_t batches, reconnects;
};

struct err_count {
	char msg[160];
	uint64_t count;
};

struct workload {
	struct workload_config cfg;
	struct ssl_ctx_st *pipe_tls; /* the pipelining clients' TLS context, or NULL */
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
	char eps[ENDPOINTS_MAX][64];
	unsigned n_eps;
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

/* Counts the operation, adds it to the client's history and moves the key slot on to a
 * fresh key after ops_per_key operations. */
static void record_op(struct wclient *wc, struct check_op *op, int kind, int outcome, unsigned slot,
                      uint32_t gen)
{
	struct workload *w = wc->w;
	wc->counts[kind][outcome]++;
	timeline_add(w, outcome, outcome == WL_UNKNOWN ? op->call_time : op->return_time);
	push_op(&wc->ops, &wc->n, &wc->cap, op);

	uint32_t done = atomic_fetch_add(&w->keys[slot].ops, 1) + 1;
	if (done >= w->cfg.ops_per_key) {
		uint32_t g = gen;
		if (atomic_compare_exchange_strong(&w->keys[slot].gen, &g, gen + 1))
			atomic_store(&w->keys[slot].ops, 0);
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
	int kind = r < 35   ? WL_GET
	           : r < 55 ? WL_PUT
	           : r < 75 ? WL_APPEND
	           : r < 90 ? WL_CAS
	                    : WL_DELETE;
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
			op.result =
			    flag ? str_dup(got, got_len) : (struct check_str){NULL, 0, false};
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
	} else if ((rc == CONCORD_EUNAVAILABLE && kind != WL_CAS) || kind == WL_GET) {
		/* EUNAVAILABLE: no attempt can have reached a node (client.h). A failed read
		 * observed nothing. */
		outcome = WL_FAILED;
		op.ok = CHECK_OK_FALSE;
		note_error(w, concord_client_errmsg(wc->c));
	} else {
		/* EUNKNOWN, and anything else a write may end with: count it as possibly
		 * applied, which is always sound. So is a cas that never reached a node:
		 * ok false would say its comparison failed, which nobody saw. */
		outcome = rc == CONCORD_EUNAVAILABLE ? WL_FAILED : WL_UNKNOWN;
		op.ok = CHECK_OK_UNKNOWN;
		op.return_time = op.call_time;
		set_last(wc, slot, gen, NULL, 0);
		note_error(w, concord_client_errmsg(wc->c));
	}
	free(got);
	record_op(wc, &op, kind, outcome, slot, gen);
}

static void *client_main(void *arg)
{
	struct wclient *wc = arg;
	while (!atomic_load(&wc->w->stop))
		one_op(wc);
	return NULL;
}

/* ---------------------------------------------------------------------------------
 * Pipelining clients
 *
 * A pipelining client writes a batch of commands on its own RESP connection at once,
 * on one or two key slots so that the batch reads its own writes, then reads the replies
 * in order. The server applies one connection's commands in the order sent, so the
 * history holds each batch as overlapping operations of one client whose calls are in
 * the order sent and which the checker's client-order rule must find in that order.
 * Every call is taken before the batch is written, so all calls precede any return.
 */

/* A key slot a batch works on, and what the batch expects its value to be by now. */
struct pslot {
	unsigned slot;
	uint32_t gen;
	char key[32];
	size_t kl;
	char *guess; /* NULL: absent, or not known */
};

struct pop {
	struct check_op op;
	int kind;
	struct pslot *ps;
};

static void nap_ms(const struct workload *w, unsigned ms)
{
	for (unsigned i = 0; i < ms && !atomic_load(&w->stop); i += 10) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static char *str_cat(const char *a, const char *b, size_t bl)
{
	size_t al = a != NULL ? strlen(a) : 0;
	char *s = xmalloc(al + bl + 1);
	if (al > 0)
		memcpy(s, a, al);
	memcpy(s + al, b, bl);
	s[al + bl] = '\0';
	return s;
}

/* Opens the connection to the client's node; on failure moves to a random other node,
 * after a pause. Returns 0, or -1 (no connection this time). */
static int pipe_open(struct wclient *wc)
{
	struct workload *w = wc->w;
	char err[256];
	int64_t deadline = nem_now() + (int64_t)w->cfg.attempt_ms * 1000000 * 3 / 10;
	if (nem_pipe_connect(&wc->pipe, w->eps[wc->node], deadline, err, sizeof(err)) == 0)
		return 0;
	note_error(w, err);
	wc->reconnects++;
	if (w->n_eps > 1)
		wc->node =
		    (wc->node + 1 + (unsigned)(nem_rand(&wc->rng) % (w->n_eps - 1))) % w->n_eps;
	nap_ms(w, 50);
	return -1;
}

static void encode_cmd(struct wire_buf *b, const char *const *argv, const size_t *lens, size_t n)
{
	resp_write_array(b, n);
	for (size_t i = 0; i < n; i++)
		resp_write_bulk(b, argv[i], lens[i]);
}

/* What the value of ps's key will be after p, if nobody else writes it. */
static void guess_update(struct pslot *ps, const struct pop *p)
{
	const struct check_str *v = &p->op.value;
	char *next;
	switch (p->kind) {
	case WL_PUT:
		next = str_cat(NULL, v->bytes, v->len);
		break;
	case WL_APPEND:
		next = str_cat(ps->guess, v->bytes, v->len);
		break;
	case WL_CAS:
		if (ps->guess == NULL || strcmp(ps->guess, p->op.expect.bytes) != 0)
			return;
		next = str_cat(NULL, v->bytes, v->len);
		break;
	case WL_DELETE:
		next = NULL;
		break;
	default:
		return;
	}
	free(ps->guess);
	ps->guess = next;
}

/* Makes the batch's next operation on ps, appends its command to b and updates the
 * batch's guess of the key's value. */
static void pipe_build(struct wclient *wc, struct pop *p, struct pslot *ps, struct wire_buf *b)
{
	char val[48];
	int vl = snprintf(val, sizeof(val), "%u-%" PRIu64 ",", wc->id, ++wc->seq);
	unsigned r = (unsigned)(nem_rand(&wc->rng) % 100);
	p->kind = r < 35   ? WL_GET
	          : r < 55 ? WL_PUT
	          : r < 75 ? WL_APPEND
	          : r < 90 ? WL_CAS
	                   : WL_DELETE;
	p->ps = ps;
	memset(&p->op, 0, sizeof(p->op));
	p->op.client = wc->id;
	p->op.key = str_dup(ps->key, ps->kl);
	static const enum check_kind kinds[] = {CHECK_KIND_GET, CHECK_KIND_PUT, CHECK_KIND_APPEND,
	                                        CHECK_KIND_CAS, CHECK_KIND_DELETE};
	static const char *const names[] = {"GET", "SET", "APPEND", "CAS", "DEL"};
	p->op.kind = kinds[p->kind];
	if (p->kind != WL_GET && p->kind != WL_DELETE)
		p->op.value = str_dup(val, (size_t)vl);
	const char *argv[4] = {names[p->kind], ps->key, val, NULL};
	size_t lens[4] = {strlen(names[p->kind]), ps->kl, (size_t)vl, 0};
	size_t argc = p->kind == WL_GET || p->kind == WL_DELETE ? 2 : 3;
	if (p->kind == WL_CAS) {
		/* Mostly what the batch expects the value to be, so that swaps succeed. */
		if (ps->guess != NULL && nem_rand(&wc->rng) % 4 != 0) {
			p->op.expect = str_dup(ps->guess, strlen(ps->guess));
		} else {
			char expect[48];
			int el = snprintf(expect, sizeof(expect), "%u-%" PRIu64 ",", wc->id,
			                  nem_rand(&wc->rng) % (wc->seq + 1));
			p->op.expect = str_dup(expect, (size_t)el);
		}
		argv[2] = p->op.expect.bytes;
		lens[2] = p->op.expect.len;
		argv[3] = val;
		lens[3] = (size_t)vl;
		argc = 4;
	}
	guess_update(ps, p);
	encode_cmd(b, argv, lens, argc);
}

/* Whether an error reply to a write says the write had no effect. docs/resp.md: MOVED is
 * a redirection before anything ran; every CLUSTERDOWN and TRYAGAIN a node sends for a
 * write is answered before the write was proposed, or says "it had no effect" (a leader
 * change lost it before it committed). Anything else (UNKNOWN, ERR, ...) may have
 * applied it. */
static bool no_effect(const struct resp_value *v)
{
	static const char *const words[] = {"MOVED ", "CLUSTERDOWN ", "TRYAGAIN "};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t wl = strlen(words[i]);
		if (v->len >= wl && strncasecmp(v->str, words[i], wl) == 0)
			return true;
	}
	return false;
}

static void note_reply_error(struct workload *w, const char *cmd, const struct resp_value *v)
{
	char msg[160];
	if (v->type == RESP_ERROR)
		snprintf(msg, sizeof(msg), "pipeline %s: %.*s", cmd,
		         (int)(v->len < 120 ? v->len : 120), v->str);
	else
		snprintf(msg, sizeof(msg), "pipeline %s: unexpected reply type %d", cmd,
		         (int)v->type);
	note_error(w, msg);
}

/* The outcome of a pipelined operation from its reply; fills op's result and updates
 * what the client last saw of the key. */
static int pipe_outcome(struct wclient *wc, struct pop *p, const struct resp_value *v)
{
	static const char *const names[] = {"GET", "SET", "APPEND", "CAS", "DEL"};
	struct check_op *op = &p->op;
	unsigned slot = p->ps->slot;
	uint32_t gen = p->ps->gen;
	bool fits = false;
	switch (p->kind) {
	case WL_GET:
		fits = v->type == RESP_BULK || v->type == RESP_NULL;
		break;
	case WL_PUT:
		fits = v->type == RESP_SIMPLE && v->len == 2 && memcmp(v->str, "OK", 2) == 0;
		break;
	default:
		fits = v->type == RESP_INTEGER;
		break;
	}
	if (!fits) {
		note_reply_error(wc->w, names[p->kind], v);
		bool none = p->kind == WL_GET || (v->type == RESP_ERROR && no_effect(v));
		if (none && p->kind != WL_CAS) {
			op->ok = CHECK_OK_FALSE; /* a failed read observed nothing */
			return WL_FAILED;
		}
		/* A cas that ok false would record as "the comparison failed", an observation
		 * it did not make: unknown instead (it may also never take effect). */
		op->ok = CHECK_OK_UNKNOWN;
		op->return_time = op->call_time;
		set_last(wc, slot, gen, NULL, 0);
		return none ? WL_FAILED : WL_UNKNOWN;
	}
	op->ok = CHECK_OK_TRUE;
	switch (p->kind) {
	case WL_GET:
		if (v->type == RESP_BULK)
			op->result = str_dup(v->str, v->len);
		set_last(wc, slot, gen, v->type == RESP_BULK ? v->str : NULL, v->len);
		break;
	case WL_PUT:
		set_last(wc, slot, gen, op->value.bytes, op->value.len);
		break;
	case WL_CAS:
		if (v->integer == 1)
			set_last(wc, slot, gen, op->value.bytes, op->value.len);
		else
			op->ok = CHECK_OK_FALSE; /* an observation: the value differed */
		break;
	case WL_DELETE:
		op->existed = v->integer > 0 ? CHECK_EXISTED_YES : CHECK_EXISTED_NO;
		set_last(wc, slot, gen, NULL, 0);
		break;
	default:
		set_last(wc, slot, gen, NULL, 0);
		break;
	}
	return WL_OK;
}

/* Picks one or two key slots for a batch; returns how many. */
static unsigned pipe_slots(struct wclient *wc, struct pslot ps[2])
{
	struct workload *w = wc->w;
	unsigned n = w->cfg.keys > 1 && nem_rand(&wc->rng) % 2 == 0 ? 2 : 1;
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = (unsigned)(nem_rand(&wc->rng) % w->cfg.keys);
		if (i == 1 && slot == ps[0].slot)
			slot = (slot + 1) % w->cfg.keys;
		ps[i].slot = slot;
		ps[i].gen = atomic_load(&w->keys[slot].gen);
		ps[i].kl =
		    (size_t)snprintf(ps[i].key, sizeof(ps[i].key), "k%u.%" PRIu32, slot, ps[i].gen);
		if (wc->last[slot].gen != ps[i].gen)
			set_last(wc, slot, ps[i].gen, NULL, 0);
		const char *seen = wc->last[slot].val;
		ps[i].guess = seen != NULL ? str_cat(NULL, seen, strlen(seen)) : NULL;
	}
	return n;
}

/* Sends the batch and reads its replies by the deadline; returns how many ops came back
 * ok. The ops without a reply are unknown and the connection is closed: the next batch
 * goes to another node. */
static unsigned pipe_exchange(struct wclient *wc, struct pop *ops, unsigned depth,
                              const struct wire_buf *b)
{
	struct workload *w = wc->w;
	char err[256] = "";
	int64_t last_call = ops[depth - 1].op.call_time;
	int64_t deadline = nem_now() + (int64_t)w->cfg.deadline_ms * 1000000;
	unsigned done = 0, ok = 0;
	if (b->err == 0 &&
	    nem_pipe_send(&wc->pipe, b->data, b->len, deadline, err, sizeof(err)) == 0) {
		for (; done < depth; done++) {
			const struct resp_value *v;
			if (nem_pipe_next(&wc->pipe, deadline, &v, err, sizeof(err)) != 0)
				break;
			int64_t now = nem_now();
			ops[done].op.return_time = now > last_call ? now : last_call;
			int outcome = pipe_outcome(wc, &ops[done], v);
			ok += outcome == WL_OK;
			record_op(wc, &ops[done].op, ops[done].kind, outcome, ops[done].ps->slot,
			          ops[done].ps->gen);
		}
	} else if (b->err != 0) {
		snprintf(err, sizeof(err), "pipeline: cannot encode the batch");
	}
	if (done < depth) {
		note_error(w, err);
		nem_pipe_close(&wc->pipe);
		wc->reconnects++;
		if (w->n_eps > 1)
			wc->node =
			    (wc->node + 1 + (unsigned)(nem_rand(&wc->rng) % (w->n_eps - 1))) %
			    w->n_eps;
	}
	for (; done < depth; done++) {
		/* No reply by the deadline: the command may still take effect. */
		ops[done].op.ok = CHECK_OK_UNKNOWN;
		ops[done].op.return_time = ops[done].op.call_time;
		set_last(wc, ops[done].ps->slot, ops[done].ps->gen, NULL, 0);
		record_op(wc, &ops[done].op, ops[done].kind, WL_UNKNOWN, ops[done].ps->slot,
		          ops[done].ps->gen);
	}
	return ok;
}

static void pipe_batch(struct wclient *wc)
{
	struct workload *w = wc->w;
	if (wc->pipe.fd < 0 && pipe_open(wc) != 0)
		return;
	const struct workload_config *cfg = &w->cfg;
	unsigned depth =
	    cfg->depth_min + (unsigned)(nem_rand(&wc->rng) % (cfg->depth_max - cfg->depth_min + 1));
	struct pslot ps[2];
	unsigned n_ps = pipe_slots(wc, ps);
	struct pop ops[WL_DEPTH_MAX];
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	int64_t last = INT64_MIN;
	for (unsigned i = 0; i < depth; i++) {
		pipe_build(wc, &ops[i], &ps[nem_rand(&wc->rng) % n_ps], &b);
		/* Distinct calls in the order sent, so that the order is in the history. */
		int64_t t = nem_now();
		ops[i].op.call_time = t > last ? t : last + 1;
		last = ops[i].op.call_time;
	}
	wc->batches++;
	unsigned ok = pipe_exchange(wc, ops, depth, &b);
	wire_buf_free(&b);
	for (unsigned i = 0; i < n_ps; i++)
		free(ps[i].guess);
	if (ok == 0)
		nap_ms(w, 20 + (unsigned)(nem_rand(&wc->rng) %
		                          80)); /* back off: nothing got through */
}

static void *pipe_main(void *arg)
{
	struct wclient *wc = arg;
	while (!atomic_load(&wc->w->stop))
		pipe_batch(wc);
	nem_pipe_close(&wc->pipe);
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
	if (cfg->cl != NULL)
		nem_tls_client_opts(cfg->cl, &o);
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	int rc = concord_client_new(cfg->endpoints, &o, c, err);
	if (rc != 0)
		nem_log("client: %s", err);
	return rc;
}

/* The comma-separated "host:port" list the session clients get, for the pipelining ones. */
static void parse_endpoints(struct workload *w)
{
	const char *p = w->cfg.endpoints;
	while (p != NULL && *p != '\0' && w->n_eps < ENDPOINTS_MAX) {
		size_t len = strcspn(p, ",");
		if (len > 0 && len < sizeof(w->eps[0])) {
			memcpy(w->eps[w->n_eps], p, len);
			w->eps[w->n_eps++][len] = '\0';
		}
		p += len;
		if (*p == ',')
			p++;
	}
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
	if (cfg->cl != NULL && cfg->cl->tls)
		w->pipe_tls =
		    nem_pipe_tls_ctx(cfg->cl->ca_file, cfg->cl->client_cert, cfg->cl->client_key);
	for (unsigned i = 0; w->clients != NULL && i < cfg->clients; i++) {
		nem_pipe_init(&w->clients[i].pipe); /* closed, before anything may free it */
		w->clients[i].pipe.tls_ctx = w->pipe_tls;
	}
	for (int i = 0; i < WL_OUTCOMES; i++)
		w->timeline[i] = calloc(cfg->seconds + 1, sizeof(*w->timeline[i]));
	if (w->keys == NULL || w->clients == NULL || w->timeline[0] == NULL ||
	    w->timeline[1] == NULL || w->timeline[2] == NULL) {
		workload_free(w);
		return -1;
	}
	parse_endpoints(w);
	for (unsigned i = 0; i < cfg->clients; i++) {
		struct wclient *wc = &w->clients[i];
		wc->w = w;
		wc->id = i + 1;
		wc->rng = cfg->seed * 1000003ULL + i + 1;
		wc->last = calloc(cfg->keys, sizeof(*wc->last));
		wc->pipelined = i + cfg->pipeline_clients >= cfg->clients && w->n_eps > 0;
		if (wc->pipelined)
			wc->node = (unsigned)(nem_rand(&wc->rng) % w->n_eps);
		if (wc->last == NULL || (!wc->pipelined && new_handle(cfg, &wc->c) != 0)) {
			workload_stop(w);
			workload_free(w);
			return -1;
		}
	}
	for (unsigned i = 0; i < cfg->clients; i++) {
		struct wclient *wc = &w->clients[i];
		if (pthread_create(&wc->th, NULL, wc->pipelined ? pipe_main : client_main, wc) !=
		    0) {
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
					snprintf(err, errlen,
					         "the final read of %zu keys from %s failed: %s", n,
					         keys[0], concord_client_errmsg(c));
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
			memcpy(w->merged + n, w->clients[i].ops,
			       w->clients[i].n * sizeof(*w->merged));
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

void workload_pipeline_counts(const struct workload *w, uint64_t counts[WL_KINDS][WL_OUTCOMES],
                              uint64_t *batches, uint64_t *reconnects)
{
	memset(counts, 0, sizeof(uint64_t) * WL_KINDS * WL_OUTCOMES);
	*batches = *reconnects = 0;
	for (unsigned i = 0; i < w->cfg.clients; i++) {
		const struct wclient *wc = &w->clients[i];
		if (!wc->pipelined)
			continue;
		*batches += wc->batches;
		*reconnects += wc->reconnects;
		for (int k = 0; k < WL_KINDS; k++) {
			for (int o = 0; o < WL_OUTCOMES; o++)
				counts[k][o] += wc->counts[k][o];
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
				     memcmp(final->result.bytes, op->value.bytes, op->value.len) ==
				         0;
			}
			if (!must)
				continue;
			(*checked)++;
			if (ok)
				continue;
			lost++;
			if (lost <= 5 && used + 1 < len)
				used += (size_t)snprintf(
				    msg + used, len - used,
				    "%s %.*s by client %" PRId64
				    " acknowledged, final value %s%.*s%s\n",
				    check_kind_name(op->kind), (int)op->key.len, op->key.bytes,
				    op->client, final->result.present ? "\"" : "",
				    final->result.present ? (int) final->result.len : 6,
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
		nem_pipe_close(&wc->pipe);
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
	nem_pipe_tls_ctx_free(w->pipe_tls);
	pthread_mutex_destroy(&w->err_mu);
	free(w);
}
