/* resp_server.h: the Redis-protocol (RESP2) frontend of a concord node on --listen-client. */
#ifndef CONCORD_SERVER_RESP_SERVER_H
#define CONCORD_SERVER_RESP_SERVER_H

/*
 * Serves docs/resp.md: every command there, mapped onto node_write (writes through the
 * Raft log), node_read (ReadIndex, then a read of node_kv) or local answers. Clients may
 * pipeline: each connection keeps a queue of reply slots in request order, and a reply
 * leaves only once every reply before it has, although writes complete asynchronously
 * and out of order. Commands take effect in the order sent: a read waits for the writes
 * sent before it on its connection, a write for the reads before it. A connection with
 * too many commands pending or too much output queued stops being read until it drains
 * (bounded memory per connection).
 *
 * On a follower, commands that need the leader are relayed to the leader's client port
 * over a connection this server opens per client connection (forward mode), or answered
 * "-MOVED <slot> <leader>" (redirect mode). A relayed connection announces itself with
 * CONCORD.RELAY, and the leader never relays its commands further, so relays never loop.
 */

#include "server/server.h"

#include <uv.h>

struct resp_server;

/* Listens on `address` ("host:port", numeric host) on sv->loop; `sv` must outlive the
 * server. Returns 0, or a uv error code with errmsg (len bytes) filled. */
int resp_server_start(struct resp_server **out, struct server *sv, const char *address,
                      char *errmsg, size_t len);

/* The port it listens on (useful with port 0). */
int resp_server_port(const struct resp_server *s);

/* Stops accepting, closes every connection (replies still owed are dropped; callbacks
 * the node owes them are absorbed), then calls cb and frees the server. Commands still
 * awaited from the node keep their memory until the node calls them back, so call this
 * before node_stop and let the loop run. */
void resp_server_close(struct resp_server *s, void (*cb)(void *arg), void *arg);

/* Its counters are sv->resp_stats (server.h). */

#endif /* CONCORD_SERVER_RESP_SERVER_H */
