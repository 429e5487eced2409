/* order.c: a connection's ordering rule (order.h): reads wait for earlier writes, writes
 * for earlier reads. */
#include "driver/order.h"

#include <assert.h>

bool driver_order_waits(const struct driver_order *o, enum driver_order_kind k)
{
	switch (k) {
	case DRIVER_ORDER_READ:
		return o->writes > 0;
	case DRIVER_ORDER_WRITE:
		return o->reads > 0;
	default:
		return false;
	}
}

void driver_order_begin(struct driver_order *o, enum driver_order_kind k)
{
	if (k == DRIVER_ORDER_READ)
		o->reads++;
	else if (k == DRIVER_ORDER_WRITE)
		o->writes++;
}

void driver_order_end(struct driver_order *o, enum driver_order_kind k)
{
	if (k == DRIVER_ORDER_READ) {
		assert(o->reads > 0);
		o->reads--;
	} else if (k == DRIVER_ORDER_WRITE) {
		assert(o->writes > 0);
		o->writes--;
	}
}

uint32_t driver_order_in_flight(const struct driver_order *o)
{
	return o->writes + o->reads;
}
