/* lincheck.c: hands a run's client history to the linearizability checker. */
#include "check/check.h"
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A state budget, not a time budget, so that the verdict is the same on every machine. */
#define LIN_BUDGET_STATES 5000000u

void check_linearizable(struct sim *s)
{
	static const char *const keys[SIM_KEYS] = {"k0", "k1", "k2", "k3", "k4"};
	struct check_op *ops = calloc(s->n_hist ? s->n_hist : 1, sizeof(*ops));
	char (*text)[24] = calloc(s->n_hist ? s->n_hist : 1, sizeof(*text));
	if (ops == NULL || text == NULL)
		abort();
	size_t n = 0;
	for (uint64_t i = 0; i < s->n_hist; i++) {
		const struct hist_op *h = &s->hist[i];
		if (!h->write && h->ok != 1)
			continue; /* a read that failed or timed out observed nothing */
		struct check_op *op = &ops[n];
		op->client = h->client;
		op->key = (struct check_str){keys[h->key], strlen(keys[h->key]), true};
		op->call_time = (int64_t)h->call;
		op->return_time = (int64_t)(h->ok == -2 ? h->call : h->ret);
		int len = snprintf(text[n], sizeof(text[n]), "v%" PRIu64, h->value);
		struct check_str value = {text[n], (size_t)len, true};
		if (h->write) {
			op->kind = CHECK_KIND_PUT;
			op->value = value;
			op->ok = h->ok == 1 ? CHECK_OK_TRUE
					    : h->ok == 0 ? CHECK_OK_FALSE : CHECK_OK_UNKNOWN;
		} else {
			op->kind = CHECK_KIND_GET;
			op->ok = CHECK_OK_TRUE;
			if (h->value != 0)
				op->result = value;
		}
		n++;
	}
	s->res->linearizable = -1;
	struct check_options o = {.budget_ms = UINT64_MAX, .budget_states = LIN_BUDGET_STATES};
	struct check_result r;
	int rv = check_history_run(ops, n, &o, &r);
	if (rv != 0) {
		sim_fail(s, "history-format", "the checker refused the history: %s", r.reason);
	} else {
		s->res->linearizable = r.verdict == CHECK_LINEARIZABLE ? 1
				       : r.verdict == CHECK_UNKNOWN ? -1 : 0;
		if (r.verdict == CHECK_NOT_LINEARIZABLE) {
			sim_fail(s, "linearizability", "%s", r.reason);
			/* The checker's explanation says more than the last events do. */
			char *report = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&report, &len);
			if (f != NULL) {
				check_report_text(f, ops, n, &r, CHECK_REPORT_NORMAL);
				fprintf(f, "(write the history with --history FILE, then view it with "
					   "concord-check FILE --html page.html)\n");
				fclose(f);
				s->lin_report = report;
			}
		}
		check_result_free(&r);
	}
	free(ops);
	free(text);
}
