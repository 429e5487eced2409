/* limits.h: the limits that tie modules together, each defined once, with the relations between
 * them asserted. */
#ifndef CONCORD_BASE_LIMITS_H
#define CONCORD_BASE_LIMITS_H

/*
 * A module keeps its own limits in its own header; the ones here are those another
 * module must agree with. The core (src/raft) includes nothing, so where a limit of
 * the core is involved the assertion sits where both are visible: src/server/node.c.
 */

#include <stdint.h>

/* Members of one configuration: the core's RAFT_MAX_MEMBERS and the node's
 * NODE_MAX_MEMBERS (its initial cluster; its address book holds twice as many). */
#define CONCORD_MEMBERS_MAX 16u

/* Largest payload of one log entry: what raft_propose accepts as the node configures
 * the core (max_entry_bytes) and what the WAL stores (WAL_ENTRY_DATA_MAX_BYTES). */
#define CONCORD_ENTRY_BYTES_MAX ((uint32_t)64 << 20)

/* The InstallSnapshot chunk the node configures (raft snapshot_chunk_bytes): one chunk
 * and its message must fit in a peer frame of the transport's default size. */
#define CONCORD_SNAPSHOT_CHUNK_BYTES ((uint32_t)1 << 20)

#endif /* CONCORD_BASE_LIMITS_H */
