/* watch.h: the node's watch hub: watchers of key ranges fed from the applied state, with catch-up
 * from the retained history and cancellation of slow ones. */
#ifndef CONCORD_SERVER_WATCH_H
#define CONCORD_SERVER_WATCH_H

/*
 * A frontend embeds a struct watcher in its own memory, fills range, from and prev_kv,
 * gives a table of sink callbacks, and calls watch_start(). The hub then hands it, in
 * revision order and one whole revision at a time, every change of a key in its range
 * from revision `from` on: first from the store's retained history (kv_events), as fast
 * as the sink's output drains, then live from the state machine's hook as each revision
 * is applied on this node (leader or follower alike). A revision is never handed twice
 * nor skipped: `next_rev` is the first revision not yet handed.
 *
 * Cancellation: an event arriving while the sink holds more than
 * server.watch_buffer_bytes of output cancels the watcher as slow; a watcher whose next
 * revision falls below the compaction point (it lagged, or a snapshot install jumped
 * past it) is cancelled as compacted. The hub calls `cancelled` after removing it.
 *
 * The hub exists while it has watchers or listeners and sets the node's hook only then:
 * a node without watchers applies at full speed. Everything runs on the loop thread.
 */

#include "kv/kv.h"
#include "server/server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watcher;

struct watcher_ops {
	/* Bytes the sink has queued for its client now. */
	size_t (*queued)(struct watcher *w);
	/* One revision's events in the watcher's range (n >= 1, key order; pointers valid
	 * during the call). */
	void (*deliver)(struct watcher *w, uint64_t rev, const struct kv_event *ev, size_t n);
	/* The hub dropped the watcher: tell the client why (`reason`; compact_rev: the
	 * compaction point if that was the reason, else 0). The watcher is out of the hub. */
	void (*cancelled)(struct watcher *w, const char *reason, uint64_t compact_rev);
};

struct watcher {
	/* Filled by the sink before watch_start. */
	const struct watcher_ops *ops;
	void *arg;
	char *start, *end; /* [start, end); end_len 0: no upper bound (owned by the sink) */
	size_t start_len, end_len;
	bool prev_kv; /* deliver events with their previous values (else prev is zeroed) */
	/* The hub's. */
	struct watcher *prev, *next;
	struct watch_hub *hub;
	uint64_t next_rev;
	uint64_t id;
	bool active;
};

/* Something that wants every live revision (RESP keyspace notifications) and, if it sets
 * `publish`, every PUBLISH this node applies, in log order (RESP pub/sub). */
struct watch_listener {
	void (*events)(void *arg, uint64_t rev, const struct kv_event *ev, size_t n);
	void (*publish)(void *arg, const void *channel, size_t channel_len, const void *message,
	                size_t message_len);
	void *arg;
	struct watch_listener *prev, *next;
};

/* Starts `w` from revision `from` (0: the next one applied). Returns 0, or KV_ETOOMANY
 * (server.watch_max reached), KV_ECOMPACTED (from at or below the compaction point,
 * *compact_rev set) or KV_EINVAL (an empty range). */
int watch_start(struct server *sv, struct watcher *w, uint64_t from, uint64_t *compact_rev);
/* Removes `w` (no callback). Safe on a watcher not started or already cancelled. */
void watch_stop(struct watcher *w);
/* The sink's output drained: continue a catch-up. */
void watch_pump(struct watcher *w);

void watch_listen(struct server *sv, struct watch_listener *l);
void watch_unlisten(struct server *sv, struct watch_listener *l);

/* [start, end) of a key (end = key plus a zero byte) or a prefix (end = the prefix with
 * its last byte below 0xff incremented, the rest dropped; none: no bound) into new
 * buffers the caller frees. */
void watch_range_key(const void *key, size_t len, char **start, size_t *start_len, char **end,
                     size_t *end_len);
void watch_range_prefix(const void *prefix, size_t len, char **start, size_t *start_len, char **end,
                        size_t *end_len);

#endif /* CONCORD_SERVER_WATCH_H */
