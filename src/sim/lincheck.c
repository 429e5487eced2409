/* lincheck.c: hands a run's client history to the linearizability checker, and writes
 * it as JSON lines for concord-check. */
#include "check/check.h"
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A state budget, not a time budget, so that the verdict is the same on every machine. */
#define LIN_BUDGET_STATES 5000000u

/* The text of the check_ops: a value and an expected value per operation. */
struct op_text {
	char key[8];
	char value[32];
	char expect[32];
	/* mset: its keys and values; delrange: the end of its range in keys[0] */
	char keys[SIM_MULTI_KEYS][8];
	char values[SIM_MULTI_KEYS][32];
	struct check_str key_strs[SIM_MULTI_KEYS], value_strs[SIM_MULTI_KEYS];
	struct txn_text *txn;     /* a txn's compares and sub-operations (txn.c) */
	struct check_compare cmp; /* a lease revoke's (lease_ops) */
	struct check_subop sub;
};

_Static_assert(SIM_PIPE_MAX < 7, "a client's calls at one instant rank 0..6 (to_check_op)");

static struct check_str str_of(const char *p, int len)
{
	return (struct check_str){p, (size_t)len, true};
}

static void to_check_op(const struct hist_op *h, struct check_op *op, struct op_text *t)
{
	memset(op, 0, sizeof(*op));
	op->client = h->client;
	op->kind = h->kind;
	op->key = str_of(t->key, (int)sim_key_name(h->key, t->key));
	/* Simulated microseconds, each split in eight: a client's operations called at the
	 * same instant (a pipeline sent at once) are ordered by their rank there, and
	 * returns come after every call of their instant (intervals are closed). */
	op->call_time = (int64_t)(h->call * 8 + h->call_sub);
	op->return_time = (int64_t)(h->ok == -2 ? h->call * 8 + h->call_sub : h->ret * 8 + 7);
	op->ok = h->ok == 1 ? CHECK_OK_TRUE : h->ok == 0 ? CHECK_OK_FALSE : CHECK_OK_UNKNOWN;
	switch (h->kind) {
	case CHECK_KIND_GET:
		op->ok = CHECK_OK_TRUE;
		break;
	case CHECK_KIND_APPEND:
		op->value = str_of(t->value,
		                   snprintf(t->value, sizeof(t->value), "a%" PRIu64 ",", h->value));
		break;
	case CHECK_KIND_CAS:
		if (h->expect != 0)
			op->expect = str_of(t->expect, snprintf(t->expect, sizeof(t->expect),
			                                        "%" PRIu64, h->expect));
		/* the new value, as for a put: */
		__attribute__((fallthrough));
	case CHECK_KIND_PUT:
	case CHECK_KIND_INCR: /* the delta */
		op->value =
		    str_of(t->value, snprintf(t->value, sizeof(t->value), "%" PRIu64, h->value));
		break;
	case CHECK_KIND_DELETE:
		if (h->ok == 1)
			op->existed = h->existed;
		break;
	case CHECK_KIND_MSET:
		for (uint32_t i = 0; i < h->nkeys; i++) {
			t->key_strs[i] =
			    str_of(t->keys[i], (int)sim_key_name(h->key + i, t->keys[i]));
			t->value_strs[i] =
			    str_of(t->values[i], snprintf(t->values[i], sizeof(t->values[i]),
			                                  "%" PRIu64, h->value + i));
		}
		op->keys = t->key_strs;
		op->values = t->value_strs;
		op->key_count = h->nkeys;
		break;
	case CHECK_KIND_EXPIRE: /* made by expiry_op */
		break;
	case CHECK_KIND_TXN:
		txn_check_op(h, op, &t->txn);
		break;
	case CHECK_KIND_DELRANGE:
		op->range_end =
		    str_of(t->keys[0], (int)sim_key_name(h->key + h->nkeys, t->keys[0]));
		break;
	}
	if (h->result != NULL && h->ok == 1)
		op->result = str_of(h->result, (int)strlen(h->result));
}

/*
 * The expiry of a put with a TTL, as an operation of unknown outcome: if the key still holds
 * the put's value, it may become absent at any moment from its call on, or never. Its call
 * is the put's plus the TTL, less SIM_TTL_SLACK_MS. Sound because the log clock that expiry
 * follows (docs/kv.md) advances only by the differences between the stamps of one term's
 * commands, which are the proposing leader's monotonic clock, here the simulation's own
 * clock in whole ms (plus one): from the put's stamp (taken after its call) to any later
 * stamp or read it advances by at most the simulated time between them, rounded to the ms.
 * So the key cannot vanish before call + TTL - 1 ms; a leader change only makes it live
 * longer, which "or never" allows.
 */
enum { SIM_TTL_SLACK_MS = 2 };

/* `at`: its call, in simulated microseconds. */
static void expiry_op(const struct hist_op *h, struct check_op *op, struct op_text *t, uint64_t at)
{
	memset(op, 0, sizeof(*op));
	op->client = h->client;
	op->kind = CHECK_KIND_EXPIRE;
	op->ok = CHECK_OK_UNKNOWN;
	op->key = str_of(t->key, (int)sim_key_name(h->key, t->key));
	op->expect =
	    str_of(t->expect, snprintf(t->expect, sizeof(t->expect), "%" PRIu64, h->value));
	op->call_time = op->return_time = (int64_t)(at * 8);
}

/*
 * A put attached to a lease ends with it, in two ways:
 * - The lease expires: as for a TTL (above), but from the grant's call, or the call of a
 *   keepalive that was acknowledged (the lease was alive when it applied, and it then ran
 *   for the TTL again): the latest of those, alive_from. A keepalive without a known
 *   outcome may not have applied, so it moves nothing; a later revoke, nothing either.
 * - A revoke: at one instant within it, if the key still holds the put's value (so is
 *   still attached: any other write of m0..m2 detaches or deletes it), the key goes. A
 *   txn says exactly that: compare the value, then delete. Acknowledged, it did happen
 *   (ok true); without a known outcome, perhaps (unknown); with no effect, not at all.
 *   One such txn per attached put, all in the revoke's window: a txn that finds its key
 *   holding another value changes nothing, so placing them at one instant is the revoke.
 *   Their client is one of their own, since the revoke does not go in the order of the
 *   client's connection.
 */
static size_t lease_ops(const struct sim *s, const struct hist_op *h, struct check_op *ops,
                        struct op_text *text)
{
	assert(h->lease >= 1 && h->lease <= s->n_leases);
	const struct sim_lease *l = &s->leases[h->lease - 1];
	expiry_op(h, &ops[0], &text[0], l->alive_from + (l->ttl_ms - SIM_TTL_SLACK_MS) * MS);
	if (l->revoke_call == 0 || l->revoke_ok == 0)
		return 1;
	struct check_op *op = &ops[1];
	struct op_text *t = &text[1];
	memset(op, 0, sizeof(*op));
	op->client = SIM_MAX_CLIENTS + h->lease - 1;
	op->kind = CHECK_KIND_TXN;
	op->ok = l->revoke_ok == 1 ? CHECK_OK_TRUE : CHECK_OK_UNKNOWN;
	op->key = str_of(t->key, (int)sim_key_name(h->key, t->key));
	t->cmp = (struct check_compare){
	    op->key, str_of(t->value, snprintf(t->value, sizeof(t->value), "%" PRIu64, h->value))};
	t->sub = (struct check_subop){.kind = CHECK_KIND_DELETE, .key = op->key};
	op->compares = &t->cmp;
	op->compare_count = 1;
	op->then_ops = &t->sub;
	op->then_count = 1;
	op->call_time = (int64_t)(l->revoke_call * 8);
	op->return_time = (int64_t)(l->revoke_ok == 1 ? l->revoke_ret * 8 + 7 : l->revoke_call * 8);
	return 2;
}

/* The history as check_ops; reads that failed or timed out observed nothing and are
 * left out. Returns the count; the caller frees *ops and *text (text_free). */
static size_t history_ops(const struct sim *s, struct check_op **ops, struct op_text **text)
{
	/* Room for expiries and revokes. */
	*ops = calloc(s->n_hist ? 3 * s->n_hist : 1, sizeof(**ops));
	*text = calloc(s->n_hist ? 3 * s->n_hist : 1, sizeof(**text));
	if (*ops == NULL || *text == NULL)
		abort();
	size_t n = 0;
	for (uint64_t i = 0; i < s->n_hist; i++) {
		const struct hist_op *h = &s->hist[i];
		if ((!h->write && h->ok != 1) || h->ok == -3)
			continue;
		if (h->txn != NULL && h->txn->shape == TXN_WATCH && !h->txn->watched)
			continue; /* given up during its WATCH: EXEC was never sent */
		to_check_op(h, &(*ops)[n], &(*text)[n]);
		n++;
		/* A put still pending at the end may have taken effect too, and expired
		 * (seed 17 of 5 nodes with damage read one, then found it gone). */
		if (h->kind == CHECK_KIND_PUT && h->ttl_ms > 0 && h->ok != 0) {
			uint64_t at = h->call + ((uint64_t)h->ttl_ms - SIM_TTL_SLACK_MS) * MS;
			expiry_op(h, &(*ops)[n], &(*text)[n], at);
			n++;
		}
		if (h->kind == CHECK_KIND_PUT && h->lease != 0 && h->ok != 0)
			n += lease_ops(s, h, &(*ops)[n], &(*text)[n]);
	}
	return n;
}

static void text_free(struct op_text *text, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(text[i].txn);
	free(text);
}

void check_linearizable(struct sim *s)
{
	struct check_op *ops;
	struct op_text *text;
	size_t n = history_ops(s, &ops, &text);
	s->res->linearizable = -1;
	struct check_options o = {.budget_ms = UINT64_MAX, .budget_states = LIN_BUDGET_STATES};
	struct check_result r;
	int rv = check_history_run(ops, n, &o, &r);
	if (rv != 0) {
		sim_fail(s, "history-format", "the checker refused the history: %s", r.reason);
	} else {
		s->res->linearizable = r.verdict == CHECK_LINEARIZABLE ? 1
		                       : r.verdict == CHECK_UNKNOWN    ? -1
		                                                       : 0;
		if (r.verdict == CHECK_NOT_LINEARIZABLE) {
			sim_fail(s, "linearizability", "%s", r.reason);
			/* The checker's explanation says more than the last events do. */
			char *report = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&report, &len);
			if (f != NULL) {
				check_report_text(f, ops, n, &r, CHECK_REPORT_NORMAL);
				fprintf(f,
				        "(write the history with --history FILE, then view it with "
				        "concord-check FILE --html page.html)\n");
				fclose(f);
				s->lin_report = report;
			}
		}
		check_result_free(&r);
	}
	free(ops);
	text_free(text, n);
}

void history_write(const struct sim *s, const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "concord-sim: cannot write history to %s\n", path);
		return;
	}
	struct check_op *ops;
	struct op_text *text;
	size_t n = history_ops(s, &ops, &text);
	if (check_history_write(f, ops, n) != 0)
		fprintf(stderr, "concord-sim: cannot write history to %s\n", path);
	fclose(f);
	free(ops);
	text_free(text, n);
}
