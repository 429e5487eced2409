/* http_server.h: the HTTP/JSON frontend of a concord node on --listen-http (docs/http.md). */
#ifndef CONCORD_SERVER_HTTP_SERVER_H
#define CONCORD_SERVER_HTTP_SERVER_H

/*
 * Serves the routes of docs/http.md: the key-value store under /v1/kv, sessions, the
 * cluster's status, membership and admin actions, /healthz, /metrics and the web page.
 * A connection carries one request at a time: while a request waits for the node (a
 * write to commit, a read to be confirmed) the connection is not read, so pipelined
 * requests wait in the kernel and in the parser and are answered in order.
 *
 * On a follower, requests that need the leader are relayed to the leader's HTTP port,
 * one connection per request, marked with "Concord-Forwarded: 1" so that they are
 * never relayed twice (forward mode), or answered 421 with the leader's URL (redirect).
 */

#include "server/server.h"

#include <uv.h>

struct http_server;

/* Listens on `address` ("host:port", numeric host) on sv->loop; `sv` must outlive the
 * server. Returns 0, or a uv error code with errmsg (len bytes) filled. */
int http_server_start(struct http_server **out, struct server *sv, const char *address,
                      char *errmsg, size_t len);

int http_server_port(const struct http_server *s);

/* Stops accepting, closes every connection, calls cb once everything is freed (requests
 * still awaited from the node keep their connection's memory until it calls back: call
 * this before node_stop and let the loop run). */
void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg);

/* Its counters are sv->http_stats (server.h). */

#endif /* CONCORD_SERVER_HTTP_SERVER_H */
