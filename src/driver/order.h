/* order.h: the order a connection's commands take effect in: the rule the server's RESP
 * frontend and the simulator's clients both follow, so the simulator checks the rule the
 * product runs. */
#ifndef CONCORD_DRIVER_ORDER_H
#define CONCORD_DRIVER_ORDER_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A client that pipelines sends several commands before the first answer, and expects
 * them to take effect in the order sent. Writes keep their order by themselves: a node
 * proposes them in order, so they take increasing log indexes in one term, and a later
 * one survives only if the earlier ones do. Reads and writes do not: a read confirmed by
 * ReadIndex sees the store as applied once it is confirmed, so
 *   - a read started while a write sent before it is still being committed misses the
 *     write (its read index may be below the write's entry), and
 *   - a write started while a read sent before it waits for its confirmation may be
 *     applied first, and the read then sees a write sent after it.
 * So a read does not start while an earlier write of the connection is in flight, and a
 * write does not start while an earlier read is. The caller holds the command (and every
 * command after it) until driver_order_waits() says no.
 */

enum driver_order_kind {
	DRIVER_ORDER_NONE,  /* answered at once: needs nothing and holds nothing */
	DRIVER_ORDER_READ,  /* served from the store once confirmed (or as it is: stale) */
	DRIVER_ORDER_WRITE, /* through the log, or relayed to the leader */
};

/* What is in flight on one connection. Zeroed: nothing. */
struct driver_order {
	uint32_t writes;
	uint32_t reads;
};

/* Whether a command of kind `k` must wait for what is in flight before it starts. */
bool driver_order_waits(const struct driver_order *o, enum driver_order_kind k);
/* A command of kind `k` started and owes an outcome... */
void driver_order_begin(struct driver_order *o, enum driver_order_kind k);
/* ...and has it now. */
void driver_order_end(struct driver_order *o, enum driver_order_kind k);
/* Commands in flight. */
uint32_t driver_order_in_flight(const struct driver_order *o);

#endif /* CONCORD_DRIVER_ORDER_H */
