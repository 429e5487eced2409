/* harness.h: transports on one libuv loop for the 'net' suite: start, connect, send, wait. */
#ifndef CONCORD_TESTS_NET_HARNESS_H
#define CONCORD_TESTS_NET_HARNESS_H

#include "net/net.h"

#include <stdbool.h>
#include <stdint.h>

#define H_NODES_MAX 4
/* Every wait in the suite gives up after this long: nothing may hang. */
#define H_TIMEOUT_MS 10000

/* A received message with the loop time it arrived at. */
struct h_msg {
	struct raft_message m; /* a copy, released by the harness */
	uint64_t at_ms;
};

struct h_node {
	struct harness *h;
	struct net *net;
	raft_id id;
	uint64_t cluster_id;
	int port;
	bool open;
	bool closed; /* the close callback ran */
	struct h_msg *msgs;
	uint32_t n_msgs;
	uint32_t cap_msgs;
	uint32_t n_warn;  /* log lines at NET_LOG_WARN and above */
	uint32_t n_error; /* log lines at NET_LOG_ERROR */
	void (*on_message)(struct h_node *node, const struct raft_message *m); /* optional */
};

struct harness {
	uv_loop_t loop;
	struct h_node nodes[H_NODES_MAX];
};

/* Adjusts a node's configuration before net_new (optional). */
typedef void (*h_config_fn)(struct net_config *cfg);

void h_init(struct harness *h);
/* Closes every open node, runs the loop until all is closed, checks nothing is left. */
void h_fini(struct harness *h);

/* Starts node `i` with `id` in `cluster_id` listening on `listen` (e.g. "127.0.0.1:0");
 * returns net_start's result (0, or NET_ELISTEN when the address is unavailable). */
int h_node_start(struct harness *h, int i, raft_id id, uint64_t cluster_id, const char *listen,
                 h_config_fn tweak);
/* "127.0.0.1:<port of node i>" (or with `host`), in a static buffer per node. */
const char *h_address(struct harness *h, int i, const char *host);
/* Tells node i about node j, at j's address. */
void h_peer(struct harness *h, int i, int j, const char *host);
/* Starts `count` nodes 0.. with ids 1.. in cluster 1 on 127.0.0.1, all peers of each other,
 * and waits until every link is connected. */
void h_start_mesh(struct harness *h, int count, h_config_fn tweak);
/* Closes node i and runs the loop until its close callback ran. */
void h_node_close(struct harness *h, int i);

/* Runs the loop until pred(arg) holds or `timeout_ms` passed; returns pred's last value. */
bool h_run_until(struct harness *h, bool (*pred)(struct harness *h, void *arg), void *arg,
                 uint64_t timeout_ms);
/* Runs the loop for `ms` milliseconds. */
void h_run_for(struct harness *h, uint64_t ms);
/* Waits until node i's link to node j completed a handshake `connects` times. */
bool h_wait_connects(struct harness *h, int i, int j, uint64_t connects);
/* Waits until node i received `count` messages from node j. */
bool h_wait_received(struct harness *h, int i, int j, uint32_t count);

/* Sends a message of `type` from node i to node j with `context` as its tag (and, for
 * APPEND, `n_entries` entries with distinct payloads of `payload_bytes` each). */
int h_send(struct harness *h, int i, int j, enum raft_msg_type type, uint64_t context,
           uint32_t n_entries, uint32_t payload_bytes);
/* Messages node i received from node j. */
uint32_t h_count_from(struct harness *h, int i, int j);
struct net_stats h_stats(struct harness *h, int i, int j);

/* A blocking client socket connected to node i (for raw-protocol tests); -1 on failure. */
int h_raw_connect(struct harness *h, int i);
/* Writes all of buf; false on error. */
bool h_raw_write(int fd, const void *buf, size_t len);
/* True once the transport has closed the raw connection (recv gives 0 or an error),
 * running the loop meanwhile. */
bool h_raw_wait_closed(struct harness *h, int fd);

#endif /* CONCORD_TESTS_NET_HARNESS_H */
