/* peer_status.h: every member's live state as the serving node gathers it, for GET /v1/live. */
#ifndef CONCORD_SERVER_PEER_STATUS_H
#define CONCORD_SERVER_PEER_STATUS_H

#include "codec/wire.h"
#include "server/server.h"

struct peer_status;

/* Starts gathering (once a second) on sv->loop; sv->node must be running. */
struct peer_status *peer_status_start(struct server *sv);
/* Stops: the timer and the requests in flight close; the memory goes after them. */
void peer_status_close(struct peer_status *p);
/* The JSON of GET /v1/live (docs/http.md) into `b`. */
void peer_status_write(const struct peer_status *p, struct wire_buf *b);

#endif /* CONCORD_SERVER_PEER_STATUS_H */
