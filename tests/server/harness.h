/* harness.h: the in-process server tests' shared harness: one node with its RESP and HTTP
 * frontends on one loop over loopback, started and stopped, and the client-socket helpers. */
#ifndef CONCORD_TESTS_SERVER_HARNESS_H
#define CONCORD_TESTS_SERVER_HARNESS_H

#include "server/http_server.h"
#include "server/resp_server.h"
#include "server/server.h"

#include <stddef.h>
#include <stdint.h>

/* One node (id 1, "n1") and both frontends on `loop`; `dir` is the node's temp directory. */
struct h_fixture {
	uv_loop_t loop;
	struct node *node;
	struct node_config cfg;
	struct server sv;
	char dir[128];
	int stopped;
};

/* Adjusts the server's settings after server_init, before the frontends start. */
typedef void h_tweak_fn(struct server *sv);

/* The node's log callback: warnings and errors, or everything with CONCORD_TEST_LOG set. */
void h_quiet_log(void *ctx, int level, const char *msg);

/* A port the kernel just handed out as free on 127.0.0.1 (bound, then released). */
uint16_t h_free_port(void);

/* Runs the loop a little (the frontends and the node are on it). */
void h_pump(struct h_fixture *f);

/* Starts the node in a fresh /tmp/<prefix>-XXXXXX on a free port (retrying), then RESP and
 * HTTP on 127.0.0.1:0 with the settings `tweak` (may be NULL) adjusts; waits for leadership. */
void h_start(struct h_fixture *f, const char *prefix, h_tweak_fn *tweak);

/* Stops both frontends and the node, closes the loop and removes the temp directory. */
void h_stop(struct h_fixture *f);

/* A client socket to `port` on 127.0.0.1, non-blocking once connected. */
int h_dial(int port);

/* Sends all of `data`; the socket is non-blocking, so this is for sends it can take at once. */
void h_send_all(int fd, const char *data, size_t len);

/* Reads until `want` bytes came, or EOF when want is 0; runs the loop meanwhile.
 * Returns the bytes read (NUL-terminated in buf). */
size_t h_recv_some(struct h_fixture *f, int fd, char *buf, size_t cap, size_t want);

#endif
