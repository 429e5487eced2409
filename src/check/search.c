/* search.c: the per-key driver of the linearizability search: two passes, and the explanation. */
#include "check/search.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check/model.h"
#include "check/search_impl.h"

static int search_compare_return(const void *pa, const void *pb, const struct check_op *ops)
{
	const size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	if (ops[a].return_time != ops[b].return_time)
		return ops[a].return_time < ops[b].return_time ? -1 : 1;
	if (ops[a].call_time != ops[b].call_time)
		return ops[a].call_time < ops[b].call_time ? -1 : 1;
	return a < b ? -1 : (a > b);
}

/* Fills the explanation of a violation from the deepest configuration reached. */
static int search_explain(struct search *s, struct search_result *out)
{
	uint32_t n = s->n;
	out->prefix = malloc((s->best_depth > 0 ? s->best_depth : 1) * sizeof(size_t));
	out->stuck = malloc((n > 0 ? n : 1) * sizeof(size_t));
	bool *in_prefix = calloc(n > 0 ? n : 1, sizeof(bool));
	if (out->prefix == NULL || out->stuck == NULL || in_prefix == NULL) {
		free(in_prefix);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->best_depth; i++) {
		out->prefix[i] = s->sop[s->best[i]].global;
		in_prefix[s->best[i]] = true;
	}
	out->prefix_count = s->best_depth;
	int64_t r_min = INT64_MAX;
	for (uint32_t i = 0; i < n; i++) {
		if (s->sop[i].known && !in_prefix[i] && s->sop[i].return_time < r_min)
			r_min = s->sop[i].return_time;
	}
	size_t stuck = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (s->sop[i].known && !in_prefix[i] && s->sop[i].call_time <= r_min)
			out->stuck[stuck++] = s->sop[i].global;
	}
	free(in_prefix);
	/* Sort the stuck ops by return time (a small insertion sort: the window is small). */
	for (size_t i = 1; i < stuck; i++) {
		size_t x = out->stuck[i];
		size_t j = i;
		while (j > 0 && search_compare_return(&x, &out->stuck[j - 1], s->ops) < 0) {
			out->stuck[j] = out->stuck[j - 1];
			j--;
		}
		out->stuck[j] = x;
	}
	out->stuck_count = stuck;
	if (s->best_state == s->opaque) {
		/* An unobserved value: the last write of the prefix wrote it. */
		for (uint32_t i = s->best_depth; i-- > 0;) {
			const struct check_op *op = &s->ops[s->sop[s->best[i]].global];
			if (op->kind == CHECK_KIND_PUT || op->kind == CHECK_KIND_CAS) {
				out->state = malloc(op->value.len + 1);
				if (out->state == NULL)
					return -ENOMEM;
				if (op->value.len > 0)
					memcpy(out->state, op->value.bytes, op->value.len);
				out->state[op->value.len] = '\0';
				out->state_len = op->value.len;
				return 0;
			}
		}
		assert(0 && "an opaque state without a write");
	}
	if (s->best_state != MODEL_ABSENT)
		return model_materialize(&s->model, s->best_state, &out->state, &out->state_len);
	return 0;
}

/* After a violation under client order: whether the key is linearizable without it, which
 * makes the client order the cause. The second search gets as many states as the first took
 * plus SEARCH_RECHECK_STATES, so explaining costs about what deciding did; running out of
 * those, or of memory (which is per key), only leaves the cause unnamed. */
static void search_recheck_client_order(const struct check_op *ops, const size_t *index,
                                        size_t count, struct budget *budget,
                                        struct search_result *out)
{
	enum { SEARCH_RECHECK_STATES = 10000 };
	uint64_t limit = budget->limit_states;
	uint64_t allowed = out->states + SEARCH_RECHECK_STATES;
	if (limit == UINT64_MAX || limit - budget->states > allowed)
		budget->limit_states = budget->states + allowed;
	struct search_result alt;
	int rc = search_key(ops, index, count, false, budget, &alt);
	bool capped = budget->limit_states != limit;
	budget->limit_states = limit;
	if (rc != 0)
		return;
	out->client_order_violated = alt.verdict == CHECK_LINEARIZABLE;
	out->states += alt.states;
	free(alt.prefix);
	free(alt.stuck);
	free(alt.state);
	if (budget->exhausted == BUDGET_MEMORY || budget->exhausted == BUDGET_OOM ||
	    (budget->exhausted == BUDGET_STATES && capped))
		budget->exhausted = BUDGET_OK;
}

int search_key(const struct check_op *ops, const size_t *index, size_t count, bool client_order,
               struct budget *budget, struct search_result *out)
{
	assert(ops != NULL && index != NULL && budget != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	out->verdict = CHECK_UNKNOWN;
	if (count >= SEARCH_NIL / 2) {
		budget->exhausted = BUDGET_MEMORY;
		return 0;
	}
	struct search *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		budget->exhausted = BUDGET_OOM;
		return 0;
	}
	s->ops = ops;
	s->budget = budget;
	s->client_order = client_order;
	uint64_t states_before = budget->states;
	int rc = model_init(&s->model, budget);
	if (rc == 0)
		rc = search_prepare(s, index, count);
	out->checked_count = s->n;
	if (rc == 0) {
		/*
		 * With unknown writes around, a first pass tries only those that produce a value
		 * some candidate needs (plus one unobserved value and one delete for candidates
		 * that accept many values). Finding a linearization that way proves the verdict;
		 * failing proves nothing, so the complete search runs next from scratch.
		 */
		s->restricted = s->known_count < s->n;
		out->verdict = search_run(s);
		if (s->restricted && out->verdict == CHECK_NOT_LINEARIZABLE) {
			assert(s->depth == 0 && s->fp1 == 0 && s->fp2 == 0 && s->umask == 0);
			memset(s->memo, 0, s->memo_cap * sizeof(*s->memo));
			s->memo_count = 0;
			s->best_depth = s->agree = 0;
			s->restricted = false;
			out->verdict = search_run(s);
		}
		if (out->verdict == CHECK_NOT_LINEARIZABLE)
			rc = search_explain(s, out);
	} else if (budget->exhausted == BUDGET_OK) {
		budget->exhausted = BUDGET_OOM;
	}
	if (out->verdict == CHECK_UNKNOWN && budget->exhausted == BUDGET_OK)
		budget->exhausted = BUDGET_OOM; /* the only other way to stop early */
	out->states = budget->states - states_before;
	bool chained = rc == 0 && s->client_order; /* some op waits for its client's previous one */
	search_release(s);
	free(s);
	if (rc != 0 && out->verdict == CHECK_NOT_LINEARIZABLE) {
		free(out->prefix);
		free(out->stuck);
		free(out->state);
		out->prefix = out->stuck = NULL;
		out->state = NULL;
		return -ENOMEM;
	}
	if (out->verdict == CHECK_NOT_LINEARIZABLE && chained)
		search_recheck_client_order(ops, index, count, budget, out);
	return 0;
}
