/* bench/kv.c: the key-value state machine: SET apply and GET rates, memory per key against
 * the raw data size, snapshot write and read times, and the fork a background snapshot
 * costs the serving process. */
#include "kv/kv.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int bench_kv_main(int argc, char **argv);

#define BENCH_KEYS_DEFAULT        1000000u
#define BENCH_VALUE_BYTES_DEFAULT 256u
#define BENCH_KEYS_MAX            100000000u
#define BENCH_BATCH               4096u /* commands encoded ahead of each timed apply batch */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Resident set size in bytes, from /proc/self/statm. */
static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return 0;
	unsigned long size = 0, resident = 0;
	int n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A scrambling of the index for the GET order. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

#define KEY_BYTES 16

/* Keys in a scattered order, 16 bytes: "key:" and 12 hex digits of i times an odd
 * constant modulo 2^48, which is a bijection, so no two keys collide. */
static void key_of(uint64_t i, char key[KEY_BYTES + 1])
{
	uint64_t k = (i * (uint64_t)0x9e3779b97f4bull) & (((uint64_t)1 << 48) - 1);
	snprintf(key, KEY_BYTES + 1, "key:%012" PRIx64, k);
}

static void value_of(uint64_t i, unsigned char *v, size_t n)
{
	uint64_t s = i * 0x9e3779b97f4a7c15ull + 1;
	for (size_t k = 0; k < n; k++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		v[k] = (unsigned char)s;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: concord-bench kv [--keys N] [--value-bytes B] [--dir DIR]\n"
	           "  Loads N keys (default 1000000) with B-byte values (default 256) through\n"
	           "  kv_apply, then measures GETs, memory, snapshots (written to a file in DIR,\n"
	           "  default /tmp) and the fork of a background snapshot.\n");
}

struct opts {
	uint64_t keys;
	uint32_t value_bytes;
	const char *dir;
};

static int opts_parse(int argc, char **argv, struct opts *o)
{
	o->keys = BENCH_KEYS_DEFAULT;
	o->value_bytes = BENCH_VALUE_BYTES_DEFAULT;
	o->dir = "/tmp";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 1;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return -1;
		}
		if (strcmp(argv[i], "--keys") == 0)
			o->keys = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--value-bytes") == 0)
			o->value_bytes = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--dir") == 0)
			o->dir = argv[++i];
		else {
			usage(stderr);
			return -1;
		}
	}
	if (o->keys == 0 || o->keys > BENCH_KEYS_MAX || o->value_bytes > KV_VALUE_BYTES_LIMIT) {
		fprintf(stderr, "concord-bench kv: --keys 1..%u, --value-bytes 0..%u\n",
		        BENCH_KEYS_MAX, KV_VALUE_BYTES_LIMIT);
		return -1;
	}
	return 0;
}

/* Applies SETs of every key; returns the seconds spent inside kv_apply only. */
static double load(struct kv *kv, const struct opts *o, double *encode_s)
{
	void *bufs[BENCH_BATCH];
	size_t lens[BENCH_BATCH];
	unsigned char *value = malloc(o->value_bytes + 1);
	double apply_s = 0;
	*encode_s = 0;
	for (uint64_t base = 0; base < o->keys; base += BENCH_BATCH) {
		uint64_t n = o->keys - base < BENCH_BATCH ? o->keys - base : BENCH_BATCH;
		double t0 = now_s();
		for (uint64_t i = 0; i < n; i++) {
			char key[KEY_BYTES + 1];
			key_of(base + i, key);
			value_of(base + i, value, o->value_bytes);
			struct kv_cmd c = {.op = KV_OP_SET,
			                   .time_ms = 1000 + base + i,
			                   .put = {.key = key,
			                           .key_len = KEY_BYTES,
			                           .value = value,
			                           .value_len = o->value_bytes}};
			if (kv_cmd_encode(&c, &kv_config(kv)->limits, &bufs[i], &lens[i]) != KV_OK)
				abort();
		}
		double t1 = now_s();
		for (uint64_t i = 0; i < n; i++) {
			struct kv_reply r;
			if (kv_apply(kv, kv_applied_index(kv) + 1, bufs[i], lens[i], &r) != KV_OK)
				abort();
		}
		double t2 = now_s();
		for (uint64_t i = 0; i < n; i++)
			free(bufs[i]);
		*encode_s += t1 - t0;
		apply_s += t2 - t1;
	}
	free(value);
	return apply_s;
}

static double get_all(const struct kv *kv, const struct opts *o)
{
	double t0 = now_s();
	uint64_t found = 0;
	for (uint64_t i = 0; i < o->keys; i++) {
		char key[KEY_BYTES + 1];
		key_of(mix(i + 7) % o->keys, key); /* another order than the load's */
		struct kv_value v;
		if (kv_get(kv, key, KEY_BYTES, 0, &v) == KV_OK)
			found++;
	}
	double t = now_s() - t0;
	if (found != o->keys)
		fprintf(stderr, "concord-bench kv: %" PRIu64 " of %" PRIu64 " keys found\n", found,
		        o->keys);
	return t;
}

static void rate(const char *what, uint64_t n, double s)
{
	printf("  %-28s %10.0f ops/s   (%.3f s, %.0f ns/op)\n", what, (double)n / s, s,
	       s * 1e9 / (double)n);
}

int bench_kv_main(int argc, char **argv)
{
	struct opts o;
	int rv = opts_parse(argc, argv, &o);
	if (rv != 0)
		return rv > 0 ? 0 : 2;

	struct kv_config cfg;
	kv_config_default(&cfg);
	if (o.value_bytes > cfg.limits.value_bytes_max)
		cfg.limits.value_bytes_max = o.value_bytes;
	uint64_t raw = o.keys * (uint64_t)(KEY_BYTES + o.value_bytes);
	printf("kv: %" PRIu64 " keys of %d bytes, values of %" PRIu32 " bytes (raw %.1f MiB)\n",
	       o.keys, KEY_BYTES, o.value_bytes, (double)raw / 1048576);

	uint64_t rss0 = rss_bytes();
	struct kv *kv;
	if (kv_new(&cfg, &kv) != KV_OK)
		return 1;
	double encode_s;
	double apply_s = load(kv, &o, &encode_s);
	uint64_t rss1 = rss_bytes();
	rate("SET apply (kv_apply)", o.keys, apply_s);
	rate("SET encode (kv_cmd_encode)", o.keys, encode_s);
	rate("GET (kv_get, latest)", o.keys, get_all(kv, &o));

	uint64_t used = rss1 > rss0 ? rss1 - rss0 : 0;
	printf("  memory: %.1f MiB resident for %.1f MiB of keys and values: %.0f B per key, "
	       "%.0f B over the raw %u, x%.2f\n",
	       (double)used / 1048576, (double)raw / 1048576, (double)used / (double)o.keys,
	       ((double)used - (double)raw) / (double)o.keys, KEY_BYTES + o.value_bytes,
	       raw > 0 ? (double)used / (double)raw : 0.0);

	/* Snapshot to a file and back. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/concord-bench-kv-%ld.snap", o.dir, (long)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		kv_free(kv);
		return 1;
	}
	unlink(path);
	double t0 = now_s();
	rv = kv_snapshot_write_fd(kv, fd);
	double write_s = now_s() - t0;
	struct stat st;
	fstat(fd, &st);
	printf("  snapshot write: %.3f s, %.1f MiB (%.0f MiB/s, into the page cache of %s)\n",
	       write_s, (double)st.st_size / 1048576, (double)st.st_size / 1048576 / write_s,
	       o.dir);
	if (rv != KV_OK) {
		fprintf(stderr, "concord-bench kv: snapshot write: %s\n", kv_strerror(rv));
		close(fd);
		kv_free(kv);
		return 1;
	}

	/* fork() copies the page tables: the pause a background snapshot costs. */
	fflush(stdout);
	t0 = now_s();
	pid_t pid = fork();
	double fork_s = now_s() - t0;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		_exit(kv_snapshot_write_fd(kv, null) == KV_OK ? 0 : 1);
	}
	int status = 0;
	t0 = now_s();
	if (pid > 0)
		waitpid(pid, &status, 0);
	double child_s = now_s() - t0;
	printf("  fork for a background snapshot: parent paused %.1f ms; child streamed it in "
	       "%.3f s (exit %d)\n",
	       fork_s * 1e3, child_s, WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	struct kv *copy;
	if (kv_new(&cfg, &copy) != KV_OK)
		return 1;
	lseek(fd, 0, SEEK_SET);
	t0 = now_s();
	rv = kv_snapshot_read_fd(copy, fd);
	double read_s = now_s() - t0;
	close(fd);
	printf("  snapshot read: %.3f s (%s)\n", read_s,
	       rv == KV_OK ? "restored" : kv_errmsg(copy));
	if (rv == KV_OK && kv_revision(copy) != kv_revision(kv))
		rv = 1;
	kv_free(copy);
	kv_free(kv);
	return rv == KV_OK ? 0 : 1;
}
