/* sim.c: the simulator's benchmark: five-node seeds with every fault, run one after
 * another on one core, in seeds per second and CPU seconds per 1000 seeds. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim.h"

int bench_sim_main(int argc, char **argv);

static double bench_sim_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_sim_main(int argc, char **argv)
{
	uint64_t seeds = 200;
	uint32_t nodes = 5;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
			seeds = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
			nodes = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: concord-bench sim [--seeds N] [--nodes N]\n");
			return 2;
		}
	}
	if (seeds == 0 || nodes < 1 || nodes > 9) {
		fprintf(stderr, "concord-bench sim: --seeds at least 1, --nodes 1 to 9\n");
		return 2;
	}
	double wall0 = bench_sim_clock(CLOCK_MONOTONIC);
	double cpu0 = bench_sim_clock(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t events = 0, failed = 0;
	for (uint64_t seed = 1; seed <= seeds; seed++) {
		struct sim_opts o = {
		    .seed = seed, .nodes = nodes, .ticks = 2000, .faults = SIM_FAULT_ALL};
		struct sim_result r;
		if (!sim_run(&o, &r))
			failed++;
		events += r.events;
	}
	double wall = bench_sim_clock(CLOCK_MONOTONIC) - wall0;
	double cpu = bench_sim_clock(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	printf("sim: %" PRIu64 " %u-node seeds, all faults, 2000 ticks: %" PRIu64
	       " failed, %" PRIu64 " events\n",
	       seeds, nodes, failed, events);
	printf("  %.1f seeds/s (wall), %.1f seeds/s (CPU); %.1f CPU s per 1000 seeds; "
	       "%.0f events/CPU s\n",
	       (double)seeds / wall, (double)seeds / cpu, cpu * 1000.0 / (double)seeds,
	       (double)events / cpu);
	return 0;
}
