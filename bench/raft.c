/* bench/raft.c: throughput of the pure Raft core: a 3-node cluster in one process with
 * instant delivery and instant persistence, so the figures are the core's own cost. */
#include "concord/raft.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_raft_main(int argc, char **argv);

#define NODES 3

struct bnode {
	struct raft *r;
	uint64_t applied;
};

struct bq {
	struct raft_message *v;
	size_t n, cap;
	uint64_t total;
};

static void q_push(struct bq *q, const struct raft_message *m)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 1024;
		q->v = realloc(q->v, q->cap * sizeof(*q->v));
		if (q->v == NULL)
			abort();
	}
	raft_message_copy(&q->v[q->n++], m);
	q->total++;
}

static void drain(struct bnode *nd, struct bq *q)
{
	while (raft_has_ready(nd->r)) {
		struct raft_ready rd;
		raft_ready(nd->r, &rd);
		for (uint32_t i = 0; i < rd.n_messages; i++)
			q_push(q, &rd.messages[i]);
		for (uint32_t i = 0; i < rd.n_persisted_messages; i++)
			q_push(q, &rd.persisted_messages[i]);
		nd->applied += rd.n_committed;
		raft_advance(nd->r, &rd);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(uint64_t entries, uint32_t batch, uint32_t size)
{
	struct bnode nodes[NODES];
	struct bq q = {0};
	for (uint32_t i = 0; i < NODES; i++) {
		struct raft_config cfg;
		raft_config_default(&cfg, i + 1);
		struct raft_boot boot = {0};
		boot.conf.n_voters = NODES;
		for (uint32_t j = 0; j < NODES; j++)
			boot.conf.voters[j] = j + 1;
		if (raft_new(&nodes[i].r, &cfg, &boot) != 0)
			abort();
		nodes[i].applied = 0;
	}
	raft_campaign(nodes[0].r);
	char *payload = calloc(1, size ? size : 1);
	double start = 0;
	uint64_t proposed = 0;
	for (;;) {
		if (raft_role(nodes[0].r) == RAFT_LEADER && start == 0) {
			start = now_s(); /* the election is not part of the figure */
			q.total = 0;
		}
		for (uint32_t b = 0; start > 0 && b < batch && proposed < entries; b++, proposed++)
			if (raft_propose(nodes[0].r, payload, size, NULL, NULL) != 0)
				abort();
		for (uint32_t i = 0; i < NODES; i++)
			drain(&nodes[i], &q);
		/* Deliver everything queued, in order, until quiet. */
		size_t head = 0;
		while (head < q.n) {
			struct raft_message *m = &q.v[head++];
			raft_step(nodes[m->to - 1].r, m);
			raft_message_release(m);
			drain(&nodes[m->to - 1], &q);
		}
		q.n = 0;
		if (proposed >= entries && nodes[1].applied >= entries + 1)
			break;
	}
	double secs = now_s() - start;
	printf("  %8" PRIu64 " entries of %5u B, proposed %4u at a time: %10.0f entries/s, "
	       "%6.0f ns/entry, %.2f messages/entry\n",
	       entries, size, batch, (double)entries / secs, secs * 1e9 / (double)entries,
	       (double)q.total / (double)entries);
	for (uint32_t i = 0; i < NODES; i++)
		raft_free(nodes[i].r);
	free(q.v);
	free(payload);
}

int bench_raft_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("raft core: 3 voters in one process, instant network and disk\n");
	if (argc > 1) {
		run(strtoull(argv[1], NULL, 10), 1, 128);
		return 0;
	}
	run(200000, 1, 128);
	run(1000000, 64, 128);
	run(1000000, 256, 128);
	run(20000, 64, 16384);
	return 0;
}
