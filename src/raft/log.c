/* log.c: the in-memory Raft log, which may begin after a snapshot's last entry. */
#include "raft/impl.h"

#include <stdlib.h>
#include <string.h>

void log_init(struct raft_log *l, raft_index offset, raft_term offset_term)
{
	l->e = NULL;
	l->n = 0;
	l->cap = 0;
	l->offset = offset;
	l->offset_term = offset_term;
}

void log_free(struct raft_log *l)
{
	for (uint64_t i = 0; i < l->n; i++)
		raft_entry_release(&l->e[i]);
	free(l->e);
	l->e = NULL;
	l->n = 0;
	l->cap = 0;
}

raft_index log_last_index(const struct raft_log *l)
{
	return l->offset + l->n;
}

raft_term log_last_term(const struct raft_log *l)
{
	return l->n > 0 ? l->e[l->n - 1].term : l->offset_term;
}

raft_term log_term_at(const struct raft_log *l, raft_index index)
{
	if (index == l->offset)
		return l->offset_term;
	if (index < l->offset || index > log_last_index(l))
		return 0;
	return l->e[index - l->offset - 1].term;
}

struct raft_entry *log_get(const struct raft_log *l, raft_index index)
{
	if (index <= l->offset || index > log_last_index(l))
		return NULL;
	struct raft_entry *e = &l->e[index - l->offset - 1];
	assert(e->index == index);
	return e;
}

void log_append(struct raft_log *l, const struct raft_entry *e)
{
	assert(e->index == log_last_index(l) + 1);
	/* Terms never decrease along a log (Figure 2, log matching). */
	assert(e->term >= log_last_term(l));
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = raft_xrealloc(l->e, l->cap * sizeof(*l->e));
	}
	raft_entry_copy(&l->e[l->n++], e);
}

void log_truncate_from(struct raft_log *l, raft_index index)
{
	assert(index > l->offset);
	while (log_last_index(l) >= index) {
		assert(l->n > 0);
		raft_entry_release(&l->e[--l->n]);
	}
}

raft_index log_first_index_of_term(const struct raft_log *l, raft_index index)
{
	assert(index > l->offset);
	assert(index <= log_last_index(l));
	raft_term t = log_term_at(l, index);
	while (index > l->offset + 1 && log_term_at(l, index - 1) == t)
		index--;
	return index;
}

raft_index log_last_index_of_term(const struct raft_log *l, raft_term term)
{
	for (raft_index i = log_last_index(l); i > l->offset; i--) {
		raft_term t = log_term_at(l, i);
		if (t == term)
			return i;
		if (t < term)
			return 0;
	}
	return l->offset_term == term && l->offset > 0 ? l->offset : 0;
}

void log_compact(struct raft_log *l, raft_index index)
{
	assert(index >= l->offset);
	assert(index <= log_last_index(l));
	if (index == l->offset)
		return;
	raft_term t = log_term_at(l, index);
	uint64_t drop = index - l->offset;
	for (uint64_t i = 0; i < drop; i++)
		raft_entry_release(&l->e[i]);
	memmove(l->e, l->e + drop, (l->n - drop) * sizeof(*l->e));
	l->n -= drop;
	l->offset = index;
	l->offset_term = t;
}

void log_reset(struct raft_log *l, raft_index index, raft_term term)
{
	for (uint64_t i = 0; i < l->n; i++)
		raft_entry_release(&l->e[i]);
	l->n = 0;
	l->offset = index;
	l->offset_term = term;
}
