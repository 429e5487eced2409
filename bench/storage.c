/* bench/storage.c: concord-bench storage: WAL appends and group commit on the real disk. */
/*
 * WAL appends through the group-commit layer on the real disk, printed beside the raw
 * single-record write+fdatasync rate and the disk's sequential durable bandwidth, both
 * measured by the same run on the same file system.
 */
#include "storage/async.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int bench_storage_main(int argc, char **argv);

#define MAX_APPENDERS       256
#define LATENCY_SAMPLES_MAX 4000000u
#define CASE_BYTES_MAX      ((uint64_t)2 << 30) /* stop a case early past this much payload */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t percentile(uint64_t *v, uint64_t n, double p)
{
	if (n == 0)
		return 0;
	uint64_t i = (uint64_t)(p * (double)(n - 1));
	return v[i];
}

/* ----------------------------------------------------------------------------------
 * The disk's own figures
 */

struct disk_figures {
	double single_per_s; /* one small record written and fdatasync'd, in a loop */
	uint64_t single_p50_ns;
	double fresh_mb_per_s;     /* 8 MiB writes + fdatasync into new preallocated files */
	double overwrite_mb_per_s; /* the same over already written blocks */
};

/* Like the WAL does for one record: append at the end of a preallocated file, then
 * fdatasync. */
static int measure_single(const char *dir, double seconds, struct disk_figures *out)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/raw-single", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	if (fallocate(fd, 0, 0, 64 << 20) != 0 || fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	unsigned char rec[136];
	memset(rec, 0xa5, sizeof(rec));
	uint64_t *lat = malloc(sizeof(uint64_t) * 200000);
	uint64_t n = 0;
	uint64_t off = 0;
	double t0 = now_s();
	while (now_s() - t0 < seconds && n < 200000 && off + sizeof(rec) < (64 << 20)) {
		uint64_t s = now_ns();
		if (pwrite(fd, rec, sizeof(rec), (off_t)off) != (ssize_t)sizeof(rec) ||
		    fdatasync(fd) != 0)
			break;
		lat[n++] = now_ns() - s;
		off += sizeof(rec);
	}
	double dt = now_s() - t0;
	close(fd);
	unlink(path);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	out->single_per_s = (double)n / dt;
	out->single_p50_ns = percentile(lat, n, 0.5);
	free(lat);
	return n > 0 ? 0 : -1;
}

#define SEQ_CHUNK_BYTES     ((size_t)8 << 20)
#define SEQ_SEGMENT_BYTES   ((uint64_t)64 << 20)
#define SEQ_OVERWRITE_BYTES ((uint64_t)256 << 20)

/* Large sequential writes, each made durable, the way a write-ahead log lays out new data:
 * into fresh files preallocated 64 MiB at a time. */
static double measure_fresh(const char *dir, double seconds, const unsigned char *buf)
{
	char path[512];
	uint64_t total = 0;
	int files = 0;
	int fd = -1;
	uint64_t off = SEQ_SEGMENT_BYTES;
	double t0 = now_s();
	while (now_s() - t0 < seconds) {
		if (off + SEQ_CHUNK_BYTES > SEQ_SEGMENT_BYTES) {
			if (fd >= 0)
				close(fd);
			snprintf(path, sizeof(path), "%s/raw-fresh-%d", dir, files++);
			fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || fallocate(fd, 0, 0, (off_t)SEQ_SEGMENT_BYTES) != 0)
				break;
			off = 0;
		}
		if (pwrite(fd, buf, SEQ_CHUNK_BYTES, (off_t)off) != (ssize_t)SEQ_CHUNK_BYTES ||
		    fdatasync(fd) != 0)
			break;
		off += SEQ_CHUNK_BYTES;
		total += SEQ_CHUNK_BYTES;
	}
	double dt = now_s() - t0;
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/raw-fresh-%d", dir, i);
		unlink(path);
	}
	return (double)total / 1e6 / dt;
}

/* The same writes over blocks already written and synced: no allocation and no extent
 * conversion for the file system to journal, so this is the device's own ceiling. */
static double measure_overwrite(const char *dir, double seconds, const unsigned char *buf)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/raw-overwrite", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 0;
	for (uint64_t off = 0; off < SEQ_OVERWRITE_BYTES; off += SEQ_CHUNK_BYTES)
		if (pwrite(fd, buf, SEQ_CHUNK_BYTES, (off_t)off) != (ssize_t)SEQ_CHUNK_BYTES)
			break;
	uint64_t total = 0;
	double dt = 0;
	if (fsync(fd) == 0) {
		uint64_t off = 0;
		double t0 = now_s();
		while (now_s() - t0 < seconds) {
			if (off + SEQ_CHUNK_BYTES > SEQ_OVERWRITE_BYTES)
				off = 0;
			if (pwrite(fd, buf, SEQ_CHUNK_BYTES, (off_t)off) !=
			        (ssize_t)SEQ_CHUNK_BYTES ||
			    fdatasync(fd) != 0)
				break;
			off += SEQ_CHUNK_BYTES;
			total += SEQ_CHUNK_BYTES;
		}
		dt = now_s() - t0;
	}
	close(fd);
	unlink(path);
	return dt > 0 ? (double)total / 1e6 / dt : 0;
}

static unsigned char *seq_buffer(void)
{
	unsigned char *buf = malloc(SEQ_CHUNK_BYTES);
	for (size_t i = 0; i < SEQ_CHUNK_BYTES; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	return buf;
}

/* ----------------------------------------------------------------------------------
 * Appenders on the group-commit layer
 */

struct appender;

struct run {
	uv_loop_t loop;
	struct storage_async *a;
	struct appender *apps;
	int n_apps;
	raft_index next;
	double deadline;
	bool stopping;
	uint64_t outstanding;
	uint64_t done;
	uint64_t bytes;
	uint64_t *lat;
	uint64_t n_lat;
	int error;
	char errmsg[STORAGE_ERRMSG_SIZE];
};

struct appender {
	struct storage_async_req req;
	struct run *run;
	struct raft_entry entry;
	uint64_t submitted_ns;
};

static void submit(struct appender *ap);

static void on_stopped(void *arg)
{
	(void)arg;
}

static void on_done(struct storage_async_req *req, int status)
{
	struct appender *ap = req->data;
	struct run *r = ap->run;
	r->outstanding--;
	if (status != 0 && r->error == 0) {
		r->error = status;
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", storage_async_errmsg(r->a));
	}
	if (status == 0) {
		r->done++;
		r->bytes += raft_entry_len(&ap->entry);
		if (r->n_lat < LATENCY_SAMPLES_MAX)
			r->lat[r->n_lat++] = now_ns() - ap->submitted_ns;
	}
	/* Checking the clock once per completion costs a little; the figures include it. */
	if (!r->stopping && (r->error != 0 || now_s() >= r->deadline || r->bytes >= CASE_BYTES_MAX))
		r->stopping = true;
	if (!r->stopping)
		submit(ap);
	else if (r->outstanding == 0)
		storage_async_stop(r->a, on_stopped, NULL);
}

static void submit(struct appender *ap)
{
	struct run *r = ap->run;
	ap->entry.index = r->next++;
	ap->submitted_ns = now_ns();
	r->outstanding++;
	storage_async_write(r->a, &ap->req, NULL, &ap->entry, 1, on_done);
}

struct case_figures {
	double appends_per_s;
	double mb_per_s;
	uint64_t p50_ns;
	uint64_t p99_ns;
	double entries_per_sync;
};

static int run_case(const char *base, size_t size, int n_apps, double seconds,
                    struct case_figures *out)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/wal-%zu-%d", base, size, n_apps);
	struct sio_faulty counted; /* no faults: counts the fdatasyncs */
	sio_faulty_init(&counted, sio_posix());
	struct storage_options o = {.cluster_id = 1, .node_id = 1, .create = true};
	struct storage_recovered rec;
	struct storage *st;
	char errmsg[STORAGE_ERRMSG_SIZE];
	if (storage_open(&st, &counted.io, dir, &o, &rec, errmsg) != 0) {
		fprintf(stderr, "bench storage: %s\n", errmsg);
		return -1;
	}
	storage_recovered_release(&rec);
	struct raft_hard_state hs = {.term = 1, .vote = 1};
	if (storage_set_hard_state(st, &hs) != 0) {
		fprintf(stderr, "bench storage: %s\n", storage_errmsg(st));
		storage_close(st);
		return -1;
	}

	static struct run r;
	memset(&r, 0, sizeof(r));
	r.lat = malloc(sizeof(uint64_t) * LATENCY_SAMPLES_MAX);
	r.apps = calloc((size_t)n_apps, sizeof(*r.apps));
	r.n_apps = n_apps;
	r.next = 1;
	unsigned char *payload = malloc(size);
	for (size_t i = 0; i < size; i++)
		payload[i] = (unsigned char)(i * 7 + 3);
	/* Every appender sends the same immutable payload; the storage only reads it. */
	struct raft_buf *buf = raft_buf_new(payload, size);
	free(payload);
	uv_loop_init(&r.loop);
	storage_async_start(&r.a, &r.loop, st);
	uint64_t syncs0 = counted.fault.calls_by_op[SIO_FDATASYNC];
	double t0 = now_s();
	r.deadline = t0 + seconds;
	for (int i = 0; i < n_apps; i++) {
		struct appender *ap = &r.apps[i];
		ap->run = &r;
		ap->req.data = ap;
		ap->entry.term = 1;
		ap->entry.type = RAFT_ENTRY_NORMAL;
		ap->entry.buf = buf;
		submit(ap);
	}
	uv_run(&r.loop, UV_RUN_DEFAULT);
	double dt = now_s() - t0;
	uv_loop_close(&r.loop);
	uint64_t syncs = counted.fault.calls_by_op[SIO_FDATASYNC] - syncs0;
	storage_close(st);
	sio_faulty_close(&counted);
	raft_buf_unref(buf);
	rm_tree(dir);

	if (r.error != 0) {
		fprintf(stderr, "bench storage: %s\n", r.errmsg);
		free(r.lat);
		free(r.apps);
		return -1;
	}
	qsort(r.lat, r.n_lat, sizeof(*r.lat), cmp_u64);
	out->appends_per_s = (double)r.done / dt;
	out->mb_per_s = (double)r.bytes / 1e6 / dt;
	out->p50_ns = percentile(r.lat, r.n_lat, 0.50);
	out->p99_ns = percentile(r.lat, r.n_lat, 0.99);
	out->entries_per_sync = syncs ? (double)r.done / (double)syncs : 0;
	free(r.lat);
	free(r.apps);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: concord-bench storage [--dir DIR] [--seconds S]\n"
	                "  --dir DIR     where to write (a temporary directory is made inside;\n"
	                "                default $TMPDIR or /tmp)\n"
	                "  --seconds S   duration of each measurement (default 1.5)\n");
}

int bench_storage_main(int argc, char **argv)
{
	const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	double seconds = 1.5;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			parent = argv[++i];
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else {
			usage();
			return 2;
		}
	}
	if (seconds <= 0)
		seconds = 1.5;
	char base[256];
	if (strlen(parent) > sizeof(base) - 40) {
		fprintf(stderr, "bench storage: %s: path too long\n", parent);
		return 2;
	}
	snprintf(base, sizeof(base), "%s/concord-bench-storage-XXXXXX", parent);
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "bench storage: mkdtemp in %s: %s\n", parent, strerror(errno));
		return 1;
	}

	struct disk_figures disk = {0};
	unsigned char *seq = seq_buffer();
	if (measure_single(base, seconds, &disk) != 0) {
		fprintf(stderr, "bench storage: measuring the disk in %s failed: %s\n", base,
		        strerror(errno));
		free(seq);
		rm_tree(base);
		return 1;
	}
	disk.fresh_mb_per_s = measure_fresh(base, seconds, seq);
	disk.overwrite_mb_per_s = measure_overwrite(base, seconds, seq);
	printf("disk under %s (measured by this run):\n", parent);
	printf("  raw single-record write+fdatasync (136 B, preallocated file): %.0f/s "
	       "(p50 %.0f us)\n",
	       disk.single_per_s, (double)disk.single_p50_ns / 1e3);
	printf("  sequential durable bandwidth, 8 MiB writes + fdatasync:\n");
	printf("    into new preallocated files (as the WAL writes): %.0f MB/s\n",
	       disk.fresh_mb_per_s);
	printf("    over already written blocks (the device's ceiling): %.0f MB/s\n",
	       disk.overwrite_mb_per_s);
	printf("\nWAL appends through group commit (one entry per batch, closed loop):\n");
	printf("  %8s %9s %12s %9s %9s %9s %11s\n", "entry", "appenders", "appends/s", "MB/s",
	       "p50 us", "p99 us", "entries/sync");

	static const size_t sizes[] = {128, 1024, 16384};
	static const int appenders[] = {1, 16, 256};
	struct case_figures small256 = {0}, big256 = {0};
	int rv = 0;
	for (size_t s = 0; s < 3 && rv == 0; s++) {
		for (size_t a = 0; a < 3 && rv == 0; a++) {
			struct case_figures f;
			if (run_case(base, sizes[s], appenders[a], seconds, &f) != 0) {
				rv = 1;
				break;
			}
			printf("  %6zu B %9d %12.0f %9.1f %9.0f %9.0f %11.1f\n", sizes[s],
			       appenders[a], f.appends_per_s, f.mb_per_s, (double)f.p50_ns / 1e3,
			       (double)f.p99_ns / 1e3, f.entries_per_sync);
			fflush(stdout);
			if (sizes[s] == 128 && appenders[a] == 256)
				small256 = f;
			if (sizes[s] == 16384 && appenders[a] == 256) {
				big256 = f;
				/* The disk's speed drifts on shared and virtual disks: take
				 * the ceiling again right after the case it judges, and keep
				 * the higher figure. */
				double ceiling = measure_overwrite(base, seconds, seq);
				if (ceiling > disk.overwrite_mb_per_s)
					disk.overwrite_mb_per_s = ceiling;
			}
		}
	}
	free(seq);
	rm_tree(base);
	if (rv != 0)
		return rv;
	printf("\n  128 B x 256 appenders: %.1fx the raw single-record write+fdatasync rate "
	       "(aim: 20x)\n",
	       small256.appends_per_s / disk.single_per_s);
	printf("  16 KiB x 256 appenders: %.0f%% of the sequential durable bandwidth (the\n"
	       "    overwrite ceiling, the higher of two passes; aim: 80%%), %.0f%% of the serial\n"
	       "    write+fdatasync rate into new preallocated files\n",
	       100.0 * big256.mb_per_s / disk.overwrite_mb_per_s,
	       100.0 * big256.mb_per_s / disk.fresh_mb_per_s);
	return 0;
}
