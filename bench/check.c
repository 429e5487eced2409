/* check.c: the checker's benchmark: operations checked per second and peak memory, by size and
 * keys. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"
#include "check/gen.h"

int bench_check_main(int argc, char **argv);

struct bench_check_row {
	uint64_t ops;
	uint64_t check_ns;
	uint64_t states;
	uint64_t search_bytes;
	int verdict;
};

static uint64_t bench_check_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs one case in this process and fills *row. */
static int bench_check_case(size_t op_count, uint32_t keys, enum gen_mix mix,
                            struct bench_check_row *row)
{
	struct gen_config cfg = {
	    .seed = 42 + op_count + keys,
	    .op_count = op_count,
	    .client_count = 16,
	    .key_count = keys,
	    .unknown_percent = 10,
	    .fail_percent = 2,
	    .stretch = 40,
	    .mix = mix,
	};
	struct check_history h;
	int rc = gen_history(&cfg, &h);
	if (rc != 0)
		return rc;
	/* The append/incr mix can be exponential (docs/checker.md); it gets a short budget. */
	struct check_options options = {.budget_ms = mix == GEN_MIX_REGISTER ? 30000 : 5000,
	                                .budget_bytes = (uint64_t)2 << 30};
	struct check_result r;
	uint64_t t0 = bench_check_now_ns();
	rc = check_history_run(h.ops, h.op_count, &options, &r);
	uint64_t t1 = bench_check_now_ns();
	if (rc == 0) {
		row->ops = op_count;
		row->check_ns = t1 - t0;
		row->states = r.states;
		row->search_bytes = r.peak_bytes;
		row->verdict = (int)r.verdict;
		check_result_free(&r);
	}
	check_history_free(&h);
	return rc;
}

/* Runs a case in a child process, so that its peak RSS (ru_maxrss) is its own. */
static int bench_check_fork(size_t op_count, uint32_t keys, enum gen_mix mix,
                            struct bench_check_row *row, long *maxrss_kb)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -errno;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		close(fds[0]);
		struct bench_check_row mine;
		memset(&mine, 0, sizeof(mine));
		int rc = bench_check_case(op_count, keys, mix, &mine);
		ssize_t n = write(fds[1], &mine, sizeof(mine));
		_exit(rc == 0 && n == (ssize_t)sizeof(mine) ? 0 : 1);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], row, sizeof(*row));
	close(fds[0]);
	int status = 0;
	struct rusage usage;
	if (wait4(pid, &status, 0, &usage) != pid)
		return -errno;
	if (n != (ssize_t)sizeof(*row) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	*maxrss_kb = usage.ru_maxrss;
	return 0;
}

/* Times check_history_parse on a generated history written as JSON lines: best of 5. */
static int bench_check_parse(size_t op_count)
{
	struct gen_config cfg = {
	    .seed = 7,
	    .op_count = op_count,
	    .client_count = 16,
	    .key_count = 100,
	    .unknown_percent = 10,
	    .fail_percent = 2,
	    .stretch = 40,
	    .mix = GEN_MIX_ALL,
	};
	struct check_history h;
	int rc = gen_history(&cfg, &h);
	if (rc != 0)
		return rc;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL) {
		check_history_free(&h);
		return -errno;
	}
	rc = check_history_write(f, h.ops, h.op_count);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	check_history_free(&h);
	uint64_t best = UINT64_MAX;
	for (int round = 0; rc == 0 && round < 5; round++) {
		struct check_history back;
		struct check_error err;
		uint64_t t0 = bench_check_now_ns();
		rc = check_history_parse(text, len, &back, &err);
		uint64_t t1 = bench_check_now_ns();
		if (rc != 0) {
			printf("parse failed at line %zu: %s\n", err.line, err.message);
			break;
		}
		if (back.op_count != op_count)
			rc = -EIO;
		check_history_free(&back);
		if (t1 - t0 < best)
			best = t1 - t0;
	}
	if (rc == 0) {
		double secs = (double)best / 1e9;
		printf("parse     %8zu  ops, %.1f MiB of JSON lines: %.1f ms, %.0f ops/s, %.1f "
		       "MiB/s\n",
		       op_count, (double)len / (1024.0 * 1024.0), secs * 1000.0,
		       (double)op_count / secs, (double)len / (1024.0 * 1024.0) / secs);
	}
	free(text);
	return rc;
}

/* One row of pipelining-scale histories: 50 clients, get/put/append, 5% unknown outcomes; with
 * broken set, one read is made stale, so the verdict must be "not linearizable". Figures only. */
static int bench_check_verdicts(size_t op_count, uint32_t keys, bool broken, uint64_t seed,
                                uint32_t unknown_percent, bool quiet, uint64_t *elapsed_ns)
{
	struct gen_config cfg = {
	    .seed = seed,
	    .op_count = op_count,
	    .client_count = 50,
	    .key_count = keys,
	    .unknown_percent = unknown_percent,
	    .fail_percent = 2,
	    .stretch = 40,
	    .mix = GEN_MIX_APPEND,
	};
	struct check_history h;
	int rc = gen_history(&cfg, &h);
	if (rc != 0)
		return rc;
	size_t changed = 0;
	if (broken)
		rc = gen_inject(&h, GEN_STALE_READ, cfg.seed, &changed);
	struct check_options options = {.budget_ms = 30000};
	struct check_result r;
	uint64_t t0 = bench_check_now_ns();
	if (rc == 0)
		rc = check_history_run(h.ops, h.op_count, &options, &r);
	uint64_t t1 = bench_check_now_ns();
	if (rc == 0) {
		enum check_verdict want = broken ? CHECK_NOT_LINEARIZABLE : CHECK_LINEARIZABLE;
		bool wrong = r.verdict != want && r.verdict != CHECK_UNKNOWN;
		if (elapsed_ns != NULL)
			*elapsed_ns = t1 - t0;
		if (!quiet || wrong || r.verdict == CHECK_UNKNOWN)
			printf("%-9s %8zu %5" PRIu32 " %12.0f %10.1f %12" PRIu64
			       " %12.1f %12s  %s%s\n",
			       broken ? "app-stale" : "append", op_count, keys,
			       (double)op_count / ((double)(t1 - t0) / 1e9),
			       (double)(t1 - t0) / 1e6, r.states,
			       (double)r.peak_bytes / (1024.0 * 1024.0), "-",
			       check_verdict_name(r.verdict), wrong ? " (WRONG)" : "");
		if (quiet && (wrong || r.verdict == CHECK_UNKNOWN))
			printf("  (seed %" PRIu64 ")\n", seed);
		if (wrong)
			rc = -EPROTO;
		check_result_free(&r);
	}
	check_history_free(&h);
	return rc;
}

/* The rows of both verdicts; returns how many failed. */
static int bench_check_verdict_rows(void)
{
	int failures = 0;
	/* Both verdicts at pipelining scale: a refutation should cost about what a proof does. */
	static const size_t verdict_sizes[] = {3000, 30000};
	static const uint32_t verdict_keys[] = {10, 100};
	for (size_t i = 0; i < 2; i++) {
		for (int broken = 0; broken < 2; broken++) {
			int vrc =
			    bench_check_verdicts(verdict_sizes[i], verdict_keys[i], broken != 0,
			                         5 + verdict_sizes[i], 5, false, NULL);
			if (vrc != 0) {
				printf("verdict row %zu ops: failed: %s\n", verdict_sizes[i],
				       strerror(-vrc));
				failures++;
			}
		}
	}
	/* The class of issue 12: 50 clients over 10 keys, 3000 operations, 10% unknown, both
	 * verdicts, several seeds: every one should settle in well under a second. */
	for (uint64_t seed = 1; seed <= 6; seed++) {
		for (int broken = 0; broken < 2; broken++) {
			if (bench_check_verdicts(3000, 10, broken != 0, seed, 10, false, NULL) != 0)
				failures++;
		}
	}
	return failures;
}

static int bench_check_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* "concord-bench check class A-B": the class of issue 12 (50 clients, 10 keys, 3000
 * operations, 10% unknown) for every seed in A..B, both verdicts; prints only wrong or
 * unknown verdicts and, per verdict, the median, the 99th percentile and the slowest seed. */
static int bench_check_class(const char *range)
{
	uint64_t first = 0, last = 0;
	char tail = 0;
	if (sscanf(range, "%" SCNu64 "-%" SCNu64 "%c", &first, &last, &tail) != 2 || first == 0 ||
	    last < first || last - first >= 100000) {
		fprintf(stderr,
		        "concord-bench check class: expected A-B (at most 100000 seeds), "
		        "not \"%s\"\n",
		        range);
		return 2;
	}
	size_t n = (size_t)(last - first + 1);
	int failures = 0;
	printf("concord-check: the issue-12 class, 50 clients, 10 keys, 3000 ops, 10%% unknown, "
	       "seeds %" PRIu64 "-%" PRIu64 "\n",
	       first, last);
	for (int broken = 0; broken < 2; broken++) {
		uint64_t *ns = calloc(n, sizeof(*ns));
		if (ns == NULL)
			return 1;
		uint64_t worst_seed = first, worst = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t seed = first + i;
			if (bench_check_verdicts(3000, 10, broken != 0, seed, 10, true, &ns[i]) !=
			    0)
				failures++;
			if (ns[i] > worst) {
				worst = ns[i];
				worst_seed = seed;
			}
		}
		qsort(ns, n, sizeof(*ns), bench_check_cmp_u64);
		printf("%-9s %zu histories: median %.1f ms, p99 %.1f ms, slowest %.1f ms (seed "
		       "%" PRIu64 ")\n",
		       broken ? "app-stale" : "append", n, (double)ns[n / 2] / 1e6,
		       (double)ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6,
		       (double)worst / 1e6, worst_seed);
		free(ns);
	}
	printf("%d wrong verdicts\n", failures);
	return failures == 0 ? 0 : 1;
}

int bench_check_main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "class") == 0)
		return bench_check_class(argv[2]);
	/* "concord-bench check parse": only the parser's row. */
	bool parse_only = argc >= 2 && strcmp(argv[1], "parse") == 0;
	/* "concord-bench check verdicts": only the rows of both verdicts at pipelining scale. */
	bool verdicts_only = argc >= 2 && strcmp(argv[1], "verdicts") == 0;
	static const size_t sizes[] = {10000, 100000};
	static const uint32_t key_counts[] = {1, 10, 100};
	printf("concord-check: generated histories, 16 clients, 10%% unknown outcomes, "
	       "get/put/cas/delete (and a mix with append/incr)\n");
	printf("%-9s %8s %5s %12s %10s %12s %12s %12s  %s\n", "mix", "ops", "keys", "ops/s",
	       "time ms", "states", "search MiB", "peak RSS MiB", "verdict");
	int failures = 0;
	for (int mix = 0; mix < 2 && !parse_only && !verdicts_only; mix++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (size_t j = 0; j < sizeof(key_counts) / sizeof(key_counts[0]); j++) {
				/* Appends and incrs on few keys with unknown outcomes can be
				 * exponential; the mix row runs only where keys share the load. */
				if (mix == GEN_MIX_ALL && key_counts[j] < 100)
					continue;
				struct bench_check_row row;
				long rss_kb = 0;
				int rc = bench_check_fork(sizes[i], key_counts[j],
				                          (enum gen_mix)mix, &row, &rss_kb);
				const char *mix_name =
				    mix == GEN_MIX_REGISTER ? "register" : "all-ops";
				if (rc != 0) {
					printf("%-9s %8zu %5" PRIu32 "  failed: %s\n", mix_name,
					       sizes[i], key_counts[j], strerror(-rc));
					failures++;
					continue;
				}
				double secs = (double)row.check_ns / 1e9;
				printf("%-9s %8" PRIu64 " %5" PRIu32 " %12.0f %10.1f %12" PRIu64
				       " %12.1f %12.1f  %s\n",
				       mix_name, row.ops, key_counts[j], (double)row.ops / secs,
				       secs * 1000.0, row.states,
				       (double)row.search_bytes / (1024.0 * 1024.0),
				       (double)rss_kb / 1024.0,
				       check_verdict_name((enum check_verdict)row.verdict));
				/* Generated histories are linearizable: "not" is a bug, "unknown"
				 * for the append/incr mix is a known limit. */
				if (row.verdict == CHECK_NOT_LINEARIZABLE ||
				    (mix == GEN_MIX_REGISTER && row.verdict != CHECK_LINEARIZABLE))
					failures++;
			}
		}
	}
	if (!parse_only)
		failures += bench_check_verdict_rows();
	int rc = verdicts_only ? 0 : bench_check_parse(200000);
	if (rc != 0) {
		printf("parse: failed: %s\n", strerror(-rc));
		failures++;
	}
	return failures == 0 ? 0 : 1;
}
