/* concord-bench: Concord's benchmarks, one subcommand per subsystem. Figures are
 * printed, never judged: tests do not pass or fail on time. */
#include <stdio.h>
#include <string.h>

struct bench {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
};

int bench_raft_main(int argc, char **argv);
int bench_storage_main(int argc, char **argv);
int bench_check_main(int argc, char **argv);
int bench_kv_main(int argc, char **argv);
int bench_sim_main(int argc, char **argv);

static const struct bench benches[] = {
    {"raft", bench_raft_main, "the pure core's throughput in a 3-node in-process cluster"},
    {"storage", bench_storage_main, "write-ahead log appends and group commit on the real disk"},
    {"check", bench_check_main, "the linearizability checker on generated histories"},
    {"kv", bench_kv_main, "the key-value state machine: apply, reads, memory, snapshots"},
    {"sim", bench_sim_main, "the simulator: five-node seeds with every fault, per second"},
};
#define N_BENCHES (sizeof(benches) / sizeof(benches[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: concord-bench all | SUBSYSTEM [options]\n\nsubsystems:\n");
	for (size_t i = 0; i < N_BENCHES; i++)
		fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].what);
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "all") == 0) {
		int rv = 0;
		for (size_t i = 0; i < N_BENCHES; i++) {
			char *sub_argv[] = {(char *)benches[i].name, NULL};
			printf("== %s\n", benches[i].name);
			fflush(stdout);
			rv |= benches[i].run(1, sub_argv);
			printf("\n");
		}
		return rv;
	}
	for (size_t i = 0; i < N_BENCHES; i++)
		if (strcmp(argv[1], benches[i].name) == 0)
			return benches[i].run(argc - 1, argv + 1);
	fprintf(stderr, "concord-bench: unknown subsystem '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
