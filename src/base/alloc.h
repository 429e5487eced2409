/* alloc.h: allocation that cannot fail, for the modules outside the core. */
#ifndef CONCORD_BASE_ALLOC_H
#define CONCORD_BASE_ALLOC_H

/*
 * Running out of memory is fatal in Concord, as it is in the core (raft.h): every
 * allocation below either succeeds or calls abort(). A zero size is treated as one
 * byte, so a successful call never returns NULL. Input from the network or the disk is
 * bounded before it is allocated for (limits.h), so abort() here means the machine ran
 * out, not that a peer asked for too much.
 */

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* A copy of `n` bytes at `p` (p may be NULL when n is 0). */
void *xmemdup(const void *p, size_t n);

#endif /* CONCORD_BASE_ALLOC_H */
