/* workload.h: the nemesis's clients: random operations on rotating keys, recorded as a history. */
#ifndef CONCORD_NEMESIS_WORKLOAD_H
#define CONCORD_NEMESIS_WORKLOAD_H

#include "check/check.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nem_cluster;

struct workload_config {
	const char *endpoints;
	uint64_t seed;
	unsigned clients;
	unsigned keys;        /* keys in use at any moment */
	unsigned ops_per_key; /* a key is retired for a fresh one after this many operations */
	uint32_t deadline_ms; /* one operation, retries included; then it fails or is unknown */
	uint32_t attempt_ms;
	size_t seconds; /* length of the per-second timeline */
	/* The last pipeline_clients of the clients pipeline: each writes batches of
	 * depth_min..depth_max commands on its own RESP connection (docs/nemesis.md). */
	unsigned pipeline_clients;
	unsigned depth_min, depth_max;
	const struct nem_cluster *cl; /* its TLS settings, for every client */
};

#define WL_DEPTH_MAX 64

enum { WL_GET, WL_PUT, WL_APPEND, WL_CAS, WL_DELETE, WL_KINDS };
enum { WL_OK, WL_FAILED, WL_UNKNOWN, WL_OUTCOMES };

struct workload;

int workload_start(struct workload **out, const struct workload_config *cfg);
/* Tells the clients to stop and waits for them (each finishes its operation). */
void workload_stop(struct workload *w);
/* Reads every key ever used (MGET through a fresh handle) and records the reads.
 * Returns 0, or -1 if some key could not be read. */
int workload_final_read(struct workload *w, char *err, size_t errlen);
/* The merged history, in order of call time. Owned by the workload. */
const struct check_op *workload_history(struct workload *w, size_t *count);
/* counts[kind][outcome] (final reads excluded); per-second ok/failed/unknown (after
 * workload_stop; NULL if out of memory). */
void workload_counts(const struct workload *w, uint64_t counts[WL_KINDS][WL_OUTCOMES]);
/* The same counts for the pipelining clients alone, the batches they sent and the times
 * they closed a connection (a deadline passed, or it broke) or could not open one. */
void workload_pipeline_counts(const struct workload *w, uint64_t counts[WL_KINDS][WL_OUTCOMES],
                              uint64_t *batches, uint64_t *reconnects);
const uint32_t *workload_timeline(const struct workload *w, int outcome);
uint64_t workload_keys_used(const struct workload *w);
/* Acknowledged writes that must be in the final state (no write that could have replaced
 * them came later) and were not. Returns the number missing; *checked gets the number of
 * writes this looked at. A description of the first few goes to msg. */
size_t workload_lost_writes(struct workload *w, size_t *checked, char *msg, size_t len);
/* A line per distinct client error message, with its count. */
void workload_errors(struct workload *w, char *out, size_t len);
void workload_free(struct workload *w);

#endif /* CONCORD_NEMESIS_WORKLOAD_H */
