/* publish.h: a member that does not lead has the leader publish its addresses for it. */
#ifndef CONCORD_SERVER_PUBLISH_H
#define CONCORD_SERVER_PUBLISH_H

/*
 * etcd members publish their client URLs when they start; a Concord member's own
 * addresses (its --listen-client and --listen-http, or its entries in the
 * --initial-cluster-* lists) go into the replicated address book the same way. The
 * leader writes its own (node_members.c). Every second, a member that does not lead and
 * finds its record missing or different (node_self_unpublished()) sends
 * CONCORD.MEMBER PUBLISH to the leader's client port, one request at a time, until the
 * book holds it. So any member that later leads can be named and reached by the others,
 * with no --initial-cluster-client or --initial-cluster-http given.
 */

#include "server/server.h"

struct server_publisher;

/* Starts the timer on sv->loop; sv->node must be running. */
struct server_publisher *server_publisher_start(struct server *sv);
/* Stops: closes the timer and a request in flight; the memory goes once they closed. */
void server_publisher_close(struct server_publisher *p);

#endif /* CONCORD_SERVER_PUBLISH_H */
