/* budget.c: bounded allocation and the clock/state budget of a checker run. */
#include "check/budget.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BUDGET_CLOCK_EVERY = 4096 };

uint64_t budget_clock_ns(void)
{
	struct timespec ts;
	int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
	assert(rc == 0);
	(void)rc;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void budget_init(struct budget *b, uint64_t limit_ms, uint64_t limit_bytes, uint64_t limit_states)
{
	assert(b != NULL);
	memset(b, 0, sizeof(*b));
	b->limit_bytes = limit_bytes;
	b->limit_states = limit_states;
	b->start_ns = budget_clock_ns();
	if (limit_ms == UINT64_MAX || limit_ms > (UINT64_MAX - b->start_ns) / 1000000u)
		b->deadline_ns = UINT64_MAX;
	else
		b->deadline_ns = b->start_ns + limit_ms * 1000000u;
	b->clock_countdown = BUDGET_CLOCK_EVERY;
}

static int budget_reserve_bytes(struct budget *b, size_t size)
{
	if (b->exhausted != BUDGET_OK)
		return -1;
	if (size > b->limit_bytes || b->now_bytes > b->limit_bytes - size) {
		b->exhausted = BUDGET_MEMORY;
		return -1;
	}
	b->now_bytes += size;
	if (b->now_bytes > b->peak_bytes)
		b->peak_bytes = b->now_bytes;
	return 0;
}

void *budget_alloc(struct budget *b, size_t size)
{
	assert(b != NULL);
	if (budget_reserve_bytes(b, size) != 0)
		return NULL;
	void *p = malloc(size > 0 ? size : 1);
	if (p == NULL) {
		b->now_bytes -= size;
		b->exhausted = BUDGET_OOM;
	}
	return p;
}

void *budget_calloc(struct budget *b, size_t count, size_t size)
{
	assert(b != NULL);
	if (size != 0 && count > SIZE_MAX / size) {
		b->exhausted = BUDGET_MEMORY;
		return NULL;
	}
	void *p = budget_alloc(b, count * size);
	if (p != NULL)
		memset(p, 0, count * size);
	return p;
}

void *budget_realloc(struct budget *b, void *p, size_t old_size, size_t new_size)
{
	assert(b != NULL);
	assert(p != NULL || old_size == 0);
	if (new_size > old_size) {
		if (budget_reserve_bytes(b, new_size - old_size) != 0)
			return NULL;
	}
	void *q = realloc(p, new_size > 0 ? new_size : 1);
	if (q == NULL) {
		if (new_size > old_size)
			b->now_bytes -= new_size - old_size;
		b->exhausted = BUDGET_OOM;
		return NULL;
	}
	if (new_size < old_size) {
		assert(b->now_bytes >= old_size - new_size);
		b->now_bytes -= old_size - new_size;
	}
	return q;
}

void budget_free(struct budget *b, void *p, size_t size)
{
	assert(b != NULL);
	if (p == NULL)
		return;
	assert(b->now_bytes >= size);
	b->now_bytes -= size;
	free(p);
}

int budget_charge_state(struct budget *b)
{
	if (b->exhausted != BUDGET_OK)
		return -1;
	b->states++;
	if (b->limit_states != UINT64_MAX && b->states > b->limit_states) {
		b->exhausted = BUDGET_STATES;
		return -1;
	}
	if (--b->clock_countdown == 0) {
		b->clock_countdown = BUDGET_CLOCK_EVERY;
		if (b->deadline_ns != UINT64_MAX && budget_clock_ns() >= b->deadline_ns) {
			b->exhausted = BUDGET_TIME;
			return -1;
		}
	}
	return 0;
}

uint64_t budget_elapsed_ms(const struct budget *b)
{
	return (budget_clock_ns() - b->start_ns) / 1000000u;
}
