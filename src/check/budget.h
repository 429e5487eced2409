/* budget.h: time, memory and state budgets of one checker run, and allocation accounting. */
#ifndef CONCORD_CHECK_BUDGET_H
#define CONCORD_CHECK_BUDGET_H

#include <stddef.h>
#include <stdint.h>

enum budget_exhausted {
	BUDGET_OK = 0,
	BUDGET_TIME,
	BUDGET_MEMORY,
	BUDGET_STATES,
	BUDGET_OOM, /* malloc itself failed */
};

struct budget {
	uint64_t limit_bytes;
	uint64_t now_bytes;
	uint64_t peak_bytes;
	uint64_t limit_states;
	uint64_t states;
	uint64_t start_ns;
	uint64_t deadline_ns;     /* UINT64_MAX: none */
	uint32_t clock_countdown; /* reads the clock once every so many calls */
	enum budget_exhausted exhausted;
};

/* Returns the monotonic clock in nanoseconds. */
uint64_t budget_clock_ns(void);
void budget_init(struct budget *b, uint64_t limit_ms, uint64_t limit_bytes, uint64_t limit_states);
/* All return NULL with b->exhausted set when the budget or malloc refuses. */
void *budget_alloc(struct budget *b, size_t size);
void *budget_calloc(struct budget *b, size_t count, size_t size);
void *budget_realloc(struct budget *b, void *p, size_t old_size, size_t new_size);
void budget_free(struct budget *b, void *p, size_t size);
/* Counts one search state; returns 0, or -1 once a budget is exhausted. Cheap. */
int budget_charge_state(struct budget *b);
/* Milliseconds since budget_init. */
uint64_t budget_elapsed_ms(const struct budget *b);

#endif /* CONCORD_CHECK_BUDGET_H */
