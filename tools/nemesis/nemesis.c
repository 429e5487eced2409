/* nemesis.c: fault-tests a real 5-node Concord cluster under a seeded schedule and checks the
 * history. */
#include "nemesis.h"

#include "report.h"
#include "workload.h"

#include "check/check.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * A run: five concord processes on loopback, each with its data on its own small file
 * system; client threads (workload.c) doing random operations for --duration seconds
 * while the nemesis applies one fault at a time from a seeded schedule; then heal,
 * converge, read every key, stop, verify every data directory offline, and check the
 * whole history for linearizability and for lost acknowledged writes.
 *
 * The seed fixes the schedule (which faults, in what order, on which nodes, for how
 * long) and the clients' choices of operations; the timing of real processes does not
 * repeat, so a rerun is the same attack, not the same execution.
 */

volatile sig_atomic_t nem_interrupted;
static struct timespec t0;
static FILE *log_file;
static char *log_buf;
static size_t log_len, log_cap;

int64_t nem_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)(ts.tv_sec - t0.tv_sec) * 1000000000 + (ts.tv_nsec - t0.tv_nsec);
}

void nem_log(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char line[2100];
	int n = snprintf(line, sizeof(line), "[%8.3f] %s\n", (double)nem_now() / 1e9, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	fputs(line, stdout);
	fflush(stdout);
	if (log_file != NULL) {
		fputs(line, log_file);
		fflush(log_file);
	}
	if (log_len + (size_t)n + 1 > log_cap) {
		size_t nc = (log_cap ? log_cap * 2 : 65536) + (size_t)n;
		char *p = realloc(log_buf, nc);
		if (p == NULL)
			return;
		log_buf = p;
		log_cap = nc;
	}
	memcpy(log_buf + log_len, line, (size_t)n);
	log_len += (size_t)n;
	log_buf[log_len] = '\0';
}

static void on_signal(int sig)
{
	(void)sig;
	nem_interrupted = 1;
}

/* ---------------------------------------------------------------------------------
 * Options
 */

enum fault_kind {
	F_KILL,
	F_KILL_LEADER,
	F_PAUSE,
	F_PAUSE_LEADER,
	F_PART_HALVES,
	F_PART_LEADER,
	F_PART_BRIDGE,
	F_DELAY_REQ,
	F_DELAY_RESP,
	F_LOSSY,
	F_TRANSFER,
	F_MEMBER,
	F_DISK,
	F_STALL,
	F_COUNT
};

static const char *const fault_names[F_COUNT] = {
    "kill",
    "kill-leader",
    "pause",
    "pause-leader",
    "partition-halves",
    "partition-leader",
    "partition-bridge",
    "delay-req",
    "delay-resp",
    "lossy",
    "transfer",
    "membership",
    "disk-full",
    "disk-stall",
};

struct options {
	uint64_t seed;
	double duration;
	unsigned clients;
	unsigned pipeline_clients;
	uint32_t depth_min, depth_max;
	unsigned keys;
	unsigned ops_per_key;
	uint32_t hold_min_ms, hold_max_ms, quiet_min_ms, quiet_max_ms;
	uint32_t deadline_ms;
	double slow;
	bool faults[F_COUNT];
	bool disks;
	bool keep;
	char dir[PATH_MAX];
	char concord[PATH_MAX];
	char concord_wal[PATH_MAX];
	uint64_t check_ms;
	char faults_arg[512];
	bool tls;        /* --tls */
	char *extra[16]; /* --concord-arg: passed to every node */
	int n_extra;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: nemesis [options]\n"
	    "Starts a 5-node concord cluster on loopback, runs clients and a seeded fault\n"
	    "schedule against it, then heals, reads every key, verifies every data directory\n"
	    "and checks the history (linearizability, acknowledged writes).\n\n"
	    "  --seed N            the schedule and the clients' choices (default 1)\n"
	    "  --duration S        seconds of workload under faults (default 60)\n"
	    "  --clients N         client threads, one session each (default 5)\n"
	    "  --pipeline-clients N  of those, how many pipeline instead: batches of commands\n"
	    "                      on a plain RESP connection (default 2)\n"
	    "  --pipeline-depth MIN:MAX  commands in a batch, drawn per batch (default 4:8)\n"
	    "  --keys N            keys in use at a time (default 8)\n"
	    "  --ops-per-key N     operations before a key is replaced by a fresh one (default "
	    "300)\n"
	    "  --faults LIST       comma-separated kinds, or 'all' (default); kinds:\n"
	    "                      kill kill-leader pause pause-leader partition-halves\n"
	    "                      partition-leader partition-bridge delay-req delay-resp lossy\n"
	    "                      transfer membership disk-full disk-stall\n"
	    "  --hold MIN:MAX      milliseconds a fault lasts (default 2000:6000)\n"
	    "  --quiet MIN:MAX     milliseconds between faults (default 1000:3000)\n"
	    "  --deadline-ms N     a client operation's deadline (default 1000)\n"
	    "  --slow X            scale timeouts (sanitizer builds: 3)\n"
	    "  --no-disks          data in plain directories, not file-system images\n"
	    "  --dir DIR           the run's directory (default: a new /tmp/concord-nemesis.*)\n"
	    "  --keep              keep the data directories after a passing run\n"
	    "  --check-ms N        the linearizability checker's time budget (default 300000)\n"
	    "  --concord PATH      the server binary (default: beside this program)\n"
	    "  --concord-wal PATH  the storage verifier (default: beside this program)\n"
	    "  --tls               TLS on every port of every node, client certificates\n"
	    "                      required, peers mutual (a test CA made with\n"
	    "                      scripts/make-test-certs.sh); every client speaks TLS\n"
	    "  --concord-arg ARG   one more flag for every node (repeatable), e.g.\n"
	    "                      --concord-arg=--stale-reads to see the checker catch it\n\n"
	    "Exit status: 0 every check passed; 1 a check failed; 2 bad usage or the harness\n"
	    "could not run (e.g. no cluster came up).\n");
}

static void range_arg(const char *name, const char *arg, uint32_t *lo, uint32_t *hi)
{
	unsigned a, b;
	if (sscanf(arg, "%u:%u", &a, &b) != 2 || a > b || b > 600000) {
		fprintf(stderr, "nemesis: %s wants MIN:MAX milliseconds, got '%s'\n", name, arg);
		exit(2);
	}
	*lo = a;
	*hi = b;
}

static uint64_t num_arg(const char *name, const char *arg, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "nemesis: %s: '%s' is not a number in [%" PRIu64 ", %" PRIu64 "]\n",
		        name, arg, lo, hi);
		exit(2);
	}
	return v;
}

static void beside_me(const char *rel, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(out, len, "%s", rel);
		return;
	}
	self[n] = '\0';
	snprintf(out, len, "%s/%s", dirname(self), rel);
}

static void options_parse(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->duration = 60;
	o->clients = 5;
	o->pipeline_clients = 2;
	o->depth_min = 4;
	o->depth_max = 8;
	o->keys = 8;
	o->ops_per_key = 300;
	o->hold_min_ms = 2000;
	o->hold_max_ms = 6000;
	o->quiet_min_ms = 1000;
	o->quiet_max_ms = 3000;
	o->deadline_ms = 1000;
	o->slow = 1;
	o->disks = true;
	o->check_ms = 300000;
	snprintf(o->faults_arg, sizeof(o->faults_arg), "all");
	for (int i = 0; i < F_COUNT; i++)
		o->faults[i] = true;
	beside_me("../concord/concord", o->concord, sizeof(o->concord));
	beside_me("../concord-wal/concord-wal", o->concord_wal, sizeof(o->concord_wal));
	enum {
		O_SEED = 256,
		O_DUR,
		O_CLIENTS,
		O_KEYS,
		O_OPK,
		O_FAULTS,
		O_HOLD,
		O_QUIET,
		O_DEADLINE,
		O_SLOW,
		O_NODISKS,
		O_DIR,
		O_KEEP,
		O_CHECK,
		O_CONCORD,
		O_WAL,
		O_ARG,
		O_TLS,
		O_PIPE,
		O_DEPTH
	};
	static const struct option longs[] = {
	    {"seed", required_argument, NULL, O_SEED},
	    {"duration", required_argument, NULL, O_DUR},
	    {"clients", required_argument, NULL, O_CLIENTS},
	    {"pipeline-clients", required_argument, NULL, O_PIPE},
	    {"pipeline-depth", required_argument, NULL, O_DEPTH},
	    {"keys", required_argument, NULL, O_KEYS},
	    {"ops-per-key", required_argument, NULL, O_OPK},
	    {"faults", required_argument, NULL, O_FAULTS},
	    {"hold", required_argument, NULL, O_HOLD},
	    {"quiet", required_argument, NULL, O_QUIET},
	    {"deadline-ms", required_argument, NULL, O_DEADLINE},
	    {"slow", required_argument, NULL, O_SLOW},
	    {"no-disks", no_argument, NULL, O_NODISKS},
	    {"dir", required_argument, NULL, O_DIR},
	    {"keep", no_argument, NULL, O_KEEP},
	    {"check-ms", required_argument, NULL, O_CHECK},
	    {"concord", required_argument, NULL, O_CONCORD},
	    {"concord-wal", required_argument, NULL, O_WAL},
	    {"concord-arg", required_argument, NULL, O_ARG},
	    {"tls", no_argument, NULL, O_TLS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case O_SEED:
			o->seed = num_arg("--seed", optarg, 0, UINT64_MAX);
			break;
		case O_DUR:
			o->duration = (double)num_arg("--duration", optarg, 1, 7 * 24 * 3600);
			break;
		case O_CLIENTS:
			o->clients = (unsigned)num_arg("--clients", optarg, 1, 256);
			break;
		case O_PIPE:
			o->pipeline_clients =
			    (unsigned)num_arg("--pipeline-clients", optarg, 0, 256);
			break;
		case O_DEPTH:
			range_arg("--pipeline-depth", optarg, &o->depth_min, &o->depth_max);
			if (o->depth_min < 1 || o->depth_max > WL_DEPTH_MAX) {
				fprintf(stderr,
				        "nemesis: --pipeline-depth wants 1 <= MIN <= MAX <= %d\n",
				        WL_DEPTH_MAX);
				exit(2);
			}
			break;
		case O_KEYS:
			o->keys = (unsigned)num_arg("--keys", optarg, 1, 100000);
			break;
		case O_OPK:
			o->ops_per_key = (unsigned)num_arg("--ops-per-key", optarg, 1, 1000000);
			break;
		case O_FAULTS: {
			snprintf(o->faults_arg, sizeof(o->faults_arg), "%s", optarg);
			bool all = strcmp(optarg, "all") == 0;
			for (int i = 0; i < F_COUNT; i++)
				o->faults[i] = all;
			if (all || strcmp(optarg, "none") == 0)
				break;
			char buf[512];
			snprintf(buf, sizeof(buf), "%s", optarg);
			for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
			     t = strtok_r(NULL, ",", &save)) {
				int k;
				for (k = 0; k < F_COUNT && strcmp(t, fault_names[k]) != 0; k++)
					;
				if (k == F_COUNT) {
					fprintf(stderr,
					        "nemesis: unknown fault kind '%s' (see --help)\n",
					        t);
					exit(2);
				}
				o->faults[k] = true;
			}
			break;
		}
		case O_HOLD:
			range_arg("--hold", optarg, &o->hold_min_ms, &o->hold_max_ms);
			break;
		case O_QUIET:
			range_arg("--quiet", optarg, &o->quiet_min_ms, &o->quiet_max_ms);
			break;
		case O_DEADLINE:
			o->deadline_ms = (uint32_t)num_arg("--deadline-ms", optarg, 100, 600000);
			break;
		case O_SLOW: {
			char *end;
			o->slow = strtod(optarg, &end);
			if (*end != '\0' || !(o->slow >= 1 && o->slow <= 100)) {
				fprintf(stderr, "nemesis: --slow wants a number in [1, 100]\n");
				exit(2);
			}
			break;
		}
		case O_NODISKS:
			o->disks = false;
			break;
		case O_DIR:
			snprintf(o->dir, sizeof(o->dir), "%s", optarg);
			break;
		case O_KEEP:
			o->keep = true;
			break;
		case O_CHECK:
			o->check_ms = num_arg("--check-ms", optarg, 1, UINT64_MAX / 2);
			break;
		case O_CONCORD:
			snprintf(o->concord, sizeof(o->concord), "%s", optarg);
			break;
		case O_WAL:
			snprintf(o->concord_wal, sizeof(o->concord_wal), "%s", optarg);
			break;
		case O_ARG:
			if (o->n_extra == 16) {
				fprintf(stderr, "nemesis: at most 16 --concord-arg\n");
				exit(2);
			}
			o->extra[o->n_extra++] = optarg;
			break;
		case O_TLS:
			o->tls = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nemesis: unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	if (o->pipeline_clients > o->clients)
		o->pipeline_clients = o->clients;
}

/* ---------------------------------------------------------------------------------
 * The schedule
 */

static uint64_t rng_state; /* the schedule's */

uint64_t nem_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	return nem_rand(&rng_state);
}

static uint32_t uniform(uint32_t lo, uint32_t hi)
{
	return hi <= lo ? lo : lo + (uint32_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static void shuffle(int *a, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1));
		int t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

#define SPANS_MAX 100000

struct run {
	struct options o;
	struct nem_cluster cl;
	struct nemesis_span *spans;
	size_t n_spans;
	unsigned applied[F_COUNT];
};

static double secs(void)
{
	return (double)nem_now() / 1e9;
}

/* A running slot chosen at random (the leader excluded when `not` >= 0). */
static int random_running(struct run *r, int not )
{
	int cand[NEM_SLOTS], n = 0;
	for (int i = 0; i < NEM_SLOTS; i++) {
		if (r->cl.slots[i].pid != 0 && !r->cl.slots[i].paused && i != not )
			cand[n++] = i;
	}
	return n == 0 ? -1 : cand[rnd() % (uint64_t)n];
}

static void names_of(struct run *r, const int *idx, int n, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < n && used + 1 < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "",
		                         r->cl.slots[idx[i]].name);
}

/* Blocks every link between the two groups. */
static void split(struct run *r, const int *a, int na, const int *b, int nb)
{
	for (int i = 0; i < na; i++) {
		for (int j = 0; j < nb; j++)
			cluster_block(&r->cl, &r->cl.slots[a[i]], &r->cl.slots[b[j]]);
	}
}

/* kill -9 then restart, or SIGSTOP then SIGCONT, of a random node or of the leader. */
static int fault_process(struct run *r, bool leader, bool kill, uint32_t hold, char *d, size_t dl)
{
	int l = cluster_leader(&r->cl, NULL);
	int v = leader ? l : random_running(r, -1);
	if (v < 0)
		return snprintf(d, dl, "no %s to %s", leader ? "leader" : "node",
		                kill ? "kill" : "pause"),
		       -1;
	struct nem_slot *s = &r->cl.slots[v];
	const char *role = v == l ? " (leader)" : "";
	if (kill)
		cluster_kill(&r->cl, s);
	else
		cluster_pause(&r->cl, s);
	nem_log("%s %s%s", kill ? "kill -9" : "SIGSTOP", s->name, role);
	cluster_nap(&r->cl, hold);
	if (kill)
		cluster_start(&r->cl, s);
	else
		cluster_resume(&r->cl, s);
	nem_log("%s %s", kill ? "restarted" : "SIGCONT", s->name);
	if (kill)
		snprintf(d, dl, "kill -9 %s%s, restarted after %.1f s", s->name, role,
		         hold / 1000.0);
	else
		snprintf(d, dl, "SIGSTOP %s%s for %.1f s, then SIGCONT", s->name, role,
		         hold / 1000.0);
	return 0;
}

static int fault_partition(struct run *r, int kind, uint32_t hold, char *d, size_t dl)
{
	int l = cluster_leader(&r->cl, NULL);
	int all[NEM_SLOTS];
	for (int i = 0; i < NEM_SLOTS; i++)
		all[i] = i;
	shuffle(all, NEM_SLOTS);
	char an[128], bn[128], cn[64];
	if (kind == F_PART_HALVES) {
		int minority = 1 + (int)(rnd() % 2);
		split(r, all, minority, all + minority, NEM_SLOTS - minority);
		names_of(r, all, minority, an, sizeof(an));
		names_of(r, all + minority, NEM_SLOTS - minority, bn, sizeof(bn));
		bool in_min = false;
		for (int i = 0; i < minority; i++)
			in_min |= all[i] == l;
		snprintf(d, dl, "{%s} | {%s}%s", an, bn,
		         l < 0    ? ""
		         : in_min ? ", the leader in the minority"
		                  : ", the leader in the majority");
	} else if (kind == F_PART_LEADER) {
		if (l < 0)
			return snprintf(d, dl, "no leader to isolate"), -1;
		int others[NEM_SLOTS], n = 0;
		for (int i = 0; i < NEM_SLOTS; i++) {
			if (i != l)
				others[n++] = i;
		}
		split(r, &l, 1, others, n);
		snprintf(d, dl, "leader %s isolated from the rest", r->cl.slots[l].name);
	} else {
		/* The bridge sees both halves; the halves do not see each other. */
		int bridge = all[0];
		split(r, all + 1, 2, all + 3, 2);
		names_of(r, all + 1, 2, an, sizeof(an));
		names_of(r, all + 3, 2, bn, sizeof(bn));
		names_of(r, all, 1, cn, sizeof(cn));
		snprintf(d, dl, "{%s} | {%s}, bridged by %s%s", an, bn, cn,
		         bridge == l ? " (the leader)" : "");
	}
	nem_log("partition %s", d);
	cluster_nap(&r->cl, hold);
	cluster_heal(&r->cl);
	nem_log("healed the partition");
	size_t used = strlen(d);
	snprintf(d + used, dl - used, " for %.1f s", hold / 1000.0);
	return 0;
}

static int fault_links(struct run *r, int kind, uint32_t hold, char *d, size_t dl)
{
	int l = cluster_leader(&r->cl, NULL);
	int all[NEM_SLOTS];
	for (int i = 0; i < NEM_SLOTS; i++)
		all[i] = i;
	shuffle(all, NEM_SLOTS);
	int n = kind == F_LOSSY ? 2 + (int)(rnd() % 4) : 1 + (int)(rnd() % 2);
	if (l >= 0 && rnd() % 2 == 0) {
		/* Half of the time the leader is among them. */
		for (int i = 0; i < NEM_SLOTS; i++) {
			if (all[i] == l) {
				all[i] = all[0];
				all[0] = l;
			}
		}
	}
	struct concord_fault f = {0};
	uint32_t ms = uniform(50, 400);
	if (kind == F_DELAY_REQ)
		f.delay_req_ms = ms;
	else if (kind == F_DELAY_RESP)
		f.delay_resp_ms = ms;
	else {
		f.drop = (double)uniform(5, 30) / 100.0;
		f.dup = 0.05;
		f.jitter_ms = uniform(5, 40);
	}
	for (int i = 0; i < n; i++)
		cluster_fault(&r->cl, &r->cl.slots[all[i]], CONCORD_PEER_ALL, &f);
	char who[128];
	names_of(r, all, n, who, sizeof(who));
	if (kind == F_LOSSY)
		snprintf(d, dl, "links of {%s}: drop %.0f%%, dup 5%%, jitter %u ms", who,
		         f.drop * 100, (unsigned)f.jitter_ms);
	else
		snprintf(d, dl, "links of {%s}: %s delayed %u ms", who,
		         kind == F_DELAY_REQ ? "requests" : "responses", (unsigned)ms);
	nem_log("%s", d);
	cluster_nap(&r->cl, hold);
	cluster_heal(&r->cl);
	nem_log("healed the links");
	size_t used = strlen(d);
	snprintf(d + used, dl - used, " for %.1f s", hold / 1000.0);
	return 0;
}

static int slot_of_id(struct run *r, uint64_t id)
{
	for (int i = 0; i < NEM_SLOTS; i++) {
		if (r->cl.slots[i].id == id)
			return i;
	}
	return -1;
}

static int fault_transfer(struct run *r, uint32_t hold, char *d, size_t dl)
{
	size_t used = (size_t)snprintf(d, dl, "transfers:");
	int done = 0;
	int64_t until = nem_now() + (int64_t)hold * 1000000;
	while (nem_now() < until && !nem_interrupted) {
		struct nem_status st;
		int l = cluster_leader(&r->cl, &st);
		if (l >= 0 && st.n_voter_ids > 1) {
			uint64_t to;
			do
				to = st.voter_ids[rnd() % (uint64_t)st.n_voter_ids];
			while (to == st.id);
			int rc = concord_client_transfer(r->cl.admin, to);
			int ts = slot_of_id(r, to);
			nem_log("transfer %s -> %s: %s", r->cl.slots[l].name,
			        ts >= 0 ? r->cl.slots[ts].name : "?",
			        rc == 0 ? "asked" : concord_client_errmsg(r->cl.admin));
			if (used + 1 < dl)
				used += (size_t)snprintf(d + used, dl - used, " %s>%s%s",
				                         r->cl.slots[l].name,
				                         ts >= 0 ? r->cl.slots[ts].name : "?",
				                         rc == 0 ? "" : "(refused)");
			if (used >= dl)
				used = dl - 1;
			done++;
		}
		cluster_nap(&r->cl, hold / 3 + 1);
	}
	return done > 0 ? 0 : -1;
}

/* Retries an admin call for up to ms, while it fails. */
#define RETRY_ADMIN(rc, ms, call)                                                                  \
	do {                                                                                       \
		int64_t until_ = nem_now() + (int64_t)(ms)*1000000;                                \
		for (;;) {                                                                         \
			(rc) = (call);                                                             \
			if ((rc) == 0 || nem_now() >= until_ || nem_interrupted)                   \
				break;                                                             \
			cluster_nap(&r->cl, 200);                                                  \
		}                                                                                  \
	} while (0)

/* Waits until the leader's configuration is not joint and `id` is (or is not) a voter. */
static bool wait_config(struct run *r, uint64_t id, bool voter, uint32_t ms)
{
	int64_t until = nem_now() + (int64_t)ms * 1000000;
	while (nem_now() < until && !nem_interrupted) {
		struct nem_status st;
		if (cluster_leader(&r->cl, &st) >= 0 && !st.joint) {
			bool is = false;
			for (int i = 0; i < st.n_voter_ids; i++)
				is |= st.voter_ids[i] == id;
			if (is == voter)
				return true;
		}
		cluster_nap(&r->cl, 100);
	}
	return false;
}

static int fault_member(struct run *r, char *d, size_t dl)
{
	struct nem_cluster *cl = &r->cl;
	int v = random_running(r, -1);
	if (v < 0)
		return snprintf(d, dl, "no node to replace"), -1;
	struct nem_slot *s = &cl->slots[v];
	char old[32];
	snprintf(old, sizeof(old), "%s", s->name);
	uint64_t old_id = s->id;
	int l = cluster_leader(cl, NULL);
	double t_start = secs();
	int rc;
	/* Once removed, the member stops by itself with status 3. */
	s->removed = true;
	s->may_exit = true;
	RETRY_ADMIN(rc, 10000 * cl->slow, concord_client_member_remove(cl->admin, old_id));
	if (rc != 0) {
		s->removed = false;
		s->may_exit = false;
		nem_log("remove %s failed: %s", old, concord_client_errmsg(cl->admin));
		return snprintf(d, dl, "remove %s failed: %s", old,
		                concord_client_errmsg(cl->admin)),
		       -1;
	}
	bool removed = wait_config(r, old_id, false, (uint32_t)(10000 * cl->slow));
	nem_log("removed %s%s%s", old, v == l ? " (the leader)" : "",
	        removed ? "" : " (not yet seen in the configuration)");
	double t_removed = secs();
	cluster_stop(cl, s); /* a removed member shuts down gracefully */
	cluster_new_member(cl, s);
	RETRY_ADMIN(
	    rc, 10000 * cl->slow,
	    concord_client_member_add(cl->admin, s->id, s->name, s->peer, s->client, s->http));
	if (rc != 0) {
		nem_log("add %s failed: %s", s->name, concord_client_errmsg(cl->admin));
		return snprintf(d, dl, "removed %s; adding %s failed: %s", old, s->name,
		                concord_client_errmsg(cl->admin)),
		       -1;
	}
	cluster_start(cl, s);
	nem_log("added %s as a learner on %s's ports and started it", s->name, old);
	double t_added = secs();
	RETRY_ADMIN(rc, 20000 * cl->slow, concord_client_member_promote(cl->admin, s->id));
	bool promoted = rc == 0 && wait_config(r, s->id, true, (uint32_t)(10000 * cl->slow));
	nem_log("%s %s", promoted ? "promoted" : "could not promote", s->name);
	snprintf(d, dl, "replaced %s%s by %s: removed in %.1f s, added, %s after %.1f s", old,
	         v == l ? " (leader)" : "", s->name, t_removed - t_start,
	         promoted ? "promoted" : "NOT promoted", secs() - t_added);
	return promoted ? 0 : -1;
}

static int fault_disk(struct run *r, uint32_t hold, char *d, size_t dl)
{
	struct nem_cluster *cl = &r->cl;
	int v = random_running(r, -1);
	if (v < 0)
		return snprintf(d, dl, "no node to fill"), -1;
	struct nem_slot *s = &cl->slots[v];
	s->may_exit = true;
	int64_t filled = cluster_disk_fill(cl, s);
	nem_log("filled %s's file system (%.1f MiB of filler)", s->name,
	        (double)filled / (1 << 20));
	double t_full = secs();
	double stopped_at = -1;
	int64_t until = nem_now() + (int64_t)hold * 1000000;
	while (nem_now() < until && !nem_interrupted) {
		cluster_nap(cl, 50);
		if (s->pid == 0 && stopped_at < 0) {
			stopped_at = secs();
			char line[256];
			cluster_last_log_line(cl, s->name, line, sizeof(line));
			nem_log("%s stopped on the full disk (%s %d): %s", s->name,
			        WIFEXITED(s->last_status) ? "status" : "signal",
			        WIFEXITED(s->last_status) ? WEXITSTATUS(s->last_status)
			                                  : WTERMSIG(s->last_status),
			        line);
		}
	}
	cluster_disk_free(cl, s);
	nem_log("freed %s's file system", s->name);
	/* An exit on ENOSPC just before the space came back is still this fault's. */
	cluster_nap(cl, 300);
	if (s->pid == 0 && stopped_at < 0)
		stopped_at = secs();
	if (s->pid == 0) {
		cluster_start(cl, s);
		nem_log("restarted %s", s->name);
		snprintf(d, dl,
		         "%s's disk full for %.1f s: it stopped after %.1f s (fail-stop), "
		         "restarted once space was freed",
		         s->name, hold / 1000.0, stopped_at - t_full);
	} else {
		s->may_exit = false;
		snprintf(d, dl, "%s's disk full for %.1f s: it kept running (needed no new space)",
		         s->name, hold / 1000.0);
	}
	return 0;
}

/* A hung disk: every write and sync of one node (the leader half of the time) waits
 * for the hold, through the node's own fault seam (CONCORD.FAULT DISK STALL). A leader
 * must step down once the stall passes --disk-stall-ms, and nothing it could not make
 * durable may be acknowledged: the history check says whether that held. */
static int fault_stall(struct run *r, uint32_t hold, char *d, size_t dl)
{
	struct nem_cluster *cl = &r->cl;
	int l = cluster_leader(cl, NULL);
	int v = l >= 0 && rnd() % 2 == 0 ? l : random_running(r, -1);
	if (v < 0)
		return snprintf(d, dl, "no node to stall"), -1;
	struct nem_slot *s = &cl->slots[v];
	if (concord_client_disk_stall(cl->admin, s->client, hold + 1000) != 0)
		return snprintf(d, dl, "stalling %s: %s", s->name,
		                concord_client_errmsg(cl->admin)),
		       -1;
	nem_log("stalled %s's disk%s", s->name, v == l ? " (the leader)" : "");
	cluster_nap(cl, hold);
	int led = cluster_leader(cl, NULL);
	for (int attempt = 0; attempt < 5; attempt++) {
		if (concord_client_disk_stall(cl->admin, s->client, 0) == 0)
			break;
		if (attempt == 4)
			nem_log("clearing %s's disk stall failed: %s", s->name,
			        concord_client_errmsg(cl->admin));
		cluster_nap(cl, 200);
	}
	nem_log("cleared %s's disk stall", s->name);
	snprintf(d, dl, "%s's disk stalled for %.1f s%s; %s leads at its end", s->name,
	         hold / 1000.0, v == l ? " (it led)" : "",
	         led >= 0 ? cl->slots[led].name : "nobody");
	return 0;
}

static void add_span(struct run *r, int kind, double start, double end, const char *detail)
{
	if (r->n_spans >= SPANS_MAX)
		return;
	struct nemesis_span *sp = &r->spans[r->n_spans++];
	memset(sp, 0, sizeof(*sp));
	sp->start_s = start;
	sp->end_s = end;
	snprintf(sp->kind, sizeof(sp->kind), "%s", fault_names[kind]);
	snprintf(sp->detail, sizeof(sp->detail), "%s", detail);
}

static void schedule(struct run *r)
{
	const struct options *o = &r->o;
	int kinds[F_COUNT], nk = 0, pos = 0;
	int64_t end = (int64_t)(o->duration * 1e9);
	while (!nem_interrupted) {
		if (pos == nk) {
			/* Every round applies each enabled kind once, in a seeded order. */
			nk = 0;
			for (int k = 0; k < F_COUNT; k++) {
				if (o->faults[k] && !(k == F_DISK && !r->cl.disks))
					kinds[nk++] = k;
			}
			if (nk == 0)
				break;
			shuffle(kinds, nk);
			pos = 0;
		}
		int kind = kinds[pos++];
		uint32_t quiet = uniform(o->quiet_min_ms, o->quiet_max_ms);
		uint32_t hold = uniform(o->hold_min_ms, o->hold_max_ms);
		int64_t left = end - nem_now();
		if (left <= 0)
			break;
		cluster_nap(&r->cl,
		            (int64_t)quiet * 1000000 < left ? quiet : (uint32_t)(left / 1000000));
		left = end - nem_now();
		if (left < (int64_t)o->hold_min_ms * 1000000)
			break;
		if ((int64_t)hold * 1000000 > left)
			hold = (uint32_t)(left / 1000000);
		double start = secs();
		char detail[160] = "";
		int rc;
		switch (kind) {
		case F_KILL:
		case F_KILL_LEADER:
		case F_PAUSE:
		case F_PAUSE_LEADER:
			rc = fault_process(r, kind == F_KILL_LEADER || kind == F_PAUSE_LEADER,
			                   kind == F_KILL || kind == F_KILL_LEADER, hold, detail,
			                   sizeof(detail));
			break;
		case F_PART_HALVES:
		case F_PART_LEADER:
		case F_PART_BRIDGE:
			rc = fault_partition(r, kind, hold, detail, sizeof(detail));
			break;
		case F_DELAY_REQ:
		case F_DELAY_RESP:
		case F_LOSSY:
			rc = fault_links(r, kind, hold, detail, sizeof(detail));
			break;
		case F_TRANSFER:
			rc = fault_transfer(r, hold, detail, sizeof(detail));
			break;
		case F_MEMBER:
			rc = fault_member(r, detail, sizeof(detail));
			break;
		case F_STALL:
			rc = fault_stall(r, hold, detail, sizeof(detail));
			break;
		default:
			rc = fault_disk(r, hold, detail, sizeof(detail));
			break;
		}
		if (rc == 0)
			r->applied[kind]++;
		else
			nem_log("%s: not applied: %s", fault_names[kind], detail);
		add_span(r, kind, start, secs(), detail);
		/* A process that died meanwhile (an unexpected exit, already logged) is
		 * restarted, so the run goes on. */
		for (int i = 0; i < NEM_SLOTS; i++) {
			if (r->cl.slots[i].pid == 0) {
				nem_log("starting %s again", r->cl.slots[i].name);
				cluster_start(&r->cl, &r->cl.slots[i]);
			}
		}
	}
}

/* ---------------------------------------------------------------------------------
 * The end: heal, converge, verify
 */

/* Waits until every member runs and has applied everything the leader committed.
 * Returns the seconds it took, or -1. */
static double converge(struct run *r, char *why, size_t len)
{
	struct nem_cluster *cl = &r->cl;
	double start = secs();
	int64_t until = nem_now() + (int64_t)(60000 * cl->slow) * 1000000;
	snprintf(why, len, "no leader");
	while (nem_now() < until && !nem_interrupted) {
		cluster_nap(cl, 200);
		struct nem_status ls;
		int l = cluster_leader(cl, &ls);
		if (l < 0) {
			snprintf(why, len, "no leader");
			continue;
		}
		if (ls.joint || ls.commit != ls.last_index) {
			snprintf(why, len, "the leader %s has commit %" PRIu64 " of %" PRIu64 "%s",
			         cl->slots[l].name, ls.commit, ls.last_index,
			         ls.joint ? " (joint configuration)" : "");
			continue;
		}
		bool all = true;
		for (int i = 0; i < NEM_SLOTS && all; i++) {
			struct nem_slot *s = &cl->slots[i];
			struct nem_status st;
			cluster_status(cl, s, &st);
			if (!st.ok || st.leader != ls.id || st.term != ls.term ||
			    st.applied != ls.commit || st.revision != ls.revision) {
				snprintf(why, len,
				         "%s: %s leader %" PRIu64 " term %" PRIu64
				         " applied %" PRIu64 " revision %" PRIu64
				         "; the leader's commit %" PRIu64 " revision %" PRIu64,
				         s->name, st.ok ? "sees" : "no status;", st.leader, st.term,
				         st.applied, st.revision, ls.commit, ls.revision);
				all = false;
			}
		}
		if (all) {
			nem_log("converged: leader %s, term %" PRIu64 ", %" PRIu64
			        " entries applied on every node, revision %" PRIu64,
			        cl->slots[l].name, ls.term, ls.commit, ls.revision);
			return secs() - start;
		}
	}
	return -1;
}

static void remove_tree(const char *path)
{
	char *argv[] = {"rm", "-rf", (char *)path, NULL};
	nem_run(argv, NULL, 0);
}

static int make_dir(struct options *o)
{
	if (o->dir[0] == '\0') {
		snprintf(o->dir, sizeof(o->dir), "%s/concord-nemesis.XXXXXX",
		         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(o->dir) == NULL) {
			fprintf(stderr, "nemesis: mkdtemp: %s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (mkdir(o->dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "nemesis: %s: %s\n", o->dir, strerror(errno));
		return -1;
	}
	/* An earlier run's data in the same directory belongs to another cluster. */
	char disk[PATH_MAX + 8];
	snprintf(disk, sizeof(disk), "%s/disk", o->dir);
	remove_tree(disk);
	return 0;
}

struct summary {
	char keys[48][48];
	char vals[48][512];
	const char *kp[48];
	const char *vp[48];
	size_t n;
};

static void row(struct summary *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void row(struct summary *s, const char *key, const char *fmt, ...)
{
	if (s->n >= 48)
		return;
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->vals[s->n], sizeof(s->vals[0]), fmt, ap);
	va_end(ap);
	s->kp[s->n] = s->keys[s->n];
	s->vp[s->n] = s->vals[s->n];
	s->n++;
	printf("  %-24s %s\n", key, s->vals[s->n - 1]);
	if (log_file != NULL)
		fprintf(log_file, "  %-24s %s\n", key, s->vals[s->n - 1]);
}

/* The pipelining clients' share of the operations, and their throughput. */
static void pipeline_rows(struct summary *sm, const struct workload *w, const struct options *o,
                          double workload_s)
{
	if (o->pipeline_clients == 0) {
		row(sm, "pipelined", "none (--pipeline-clients 0)");
		return;
	}
	uint64_t pc[WL_KINDS][WL_OUTCOMES], batches, reconnects;
	workload_pipeline_counts(w, pc, &batches, &reconnects);
	uint64_t t[WL_OUTCOMES] = {0};
	for (int k = 0; k < WL_KINDS; k++) {
		for (int oc = 0; oc < WL_OUTCOMES; oc++)
			t[oc] += pc[k][oc];
	}
	double s = workload_s > 0 ? workload_s : 1;
	row(sm, "pipelined",
	    "%" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " unknown (%.0f ok/s) "
	    "by %u of the clients, in %" PRIu64 " batches of %u-%u (%.0f batches/s), "
	    "%" PRIu64 " reconnects",
	    t[WL_OK], t[WL_FAILED], t[WL_UNKNOWN], (double)t[WL_OK] / s, o->pipeline_clients,
	    batches, o->depth_min, o->depth_max, (double)batches / s, reconnects);
	static const char *const names[WL_KINDS] = {"get", "put", "append", "cas", "delete"};
	char by[512];
	size_t u = 0;
	for (int k = 0; k < WL_KINDS && u + 1 < sizeof(by); k++)
		u += (size_t)snprintf(by + u, sizeof(by) - u,
		                      "%s%s %" PRIu64 "/%" PRIu64 "/%" PRIu64, k ? ", " : "",
		                      names[k], pc[k][WL_OK], pc[k][WL_FAILED], pc[k][WL_UNKNOWN]);
	row(sm, "pipelined by kind", "%s (ok/failed/unknown)", by);
}

int main(int argc, char **argv)
{
	static struct run r;
	options_parse(argc, argv, &r.o);
	struct options *o = &r.o;
	if (access(o->concord, X_OK) != 0 || access(o->concord_wal, X_OK) != 0) {
		fprintf(stderr,
		        "nemesis: %s or %s is not an executable (--concord, --concord-wal)\n",
		        o->concord, o->concord_wal);
		return 2;
	}
	if (make_dir(o) != 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rng_state = o->seed;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/nemesis.log", o->dir);
	log_file = fopen(path, "w");
	r.spans = calloc(SPANS_MAX, sizeof(*r.spans));
	if (r.spans == NULL)
		return 2;

	char reproducer[1024], slow_s[32];
	snprintf(slow_s, sizeof(slow_s), "%g", o->slow);
	snprintf(reproducer, sizeof(reproducer),
	         "nemesis --seed %" PRIu64
	         " --duration %.0f --clients %u --keys %u --ops-per-key %u "
	         "--pipeline-clients %u --pipeline-depth %u:%u "
	         "--faults %s --hold %u:%u --quiet %u:%u --deadline-ms %u%s%s%s",
	         o->seed, o->duration, o->clients, o->keys, o->ops_per_key, o->pipeline_clients,
	         o->depth_min, o->depth_max, o->faults_arg, o->hold_min_ms, o->hold_max_ms,
	         o->quiet_min_ms, o->quiet_max_ms, o->deadline_ms, o->slow > 1 ? " --slow " : "",
	         o->slow > 1 ? slow_s : "", o->disks ? "" : " --no-disks");
	if (o->tls)
		snprintf(reproducer + strlen(reproducer), sizeof(reproducer) - strlen(reproducer),
		         " --tls");
	for (int i = 0; i < o->n_extra; i++) {
		size_t used = strlen(reproducer);
		snprintf(reproducer + used, sizeof(reproducer) - used, " --concord-arg=%s",
		         o->extra[i]);
	}
	nem_log("nemesis: seed %" PRIu64 ", %.0f s, %u clients, run directory %s", o->seed,
	        o->duration, o->clients, o->dir);
	nem_log("reproduce with: %s", reproducer);

	struct nem_cluster *cl = &r.cl;
	snprintf(cl->dir, sizeof(cl->dir), "%s", o->dir);
	snprintf(cl->concord, sizeof(cl->concord), "%s", o->concord);
	snprintf(cl->concord_wal, sizeof(cl->concord_wal), "%s", o->concord_wal);
	cl->slow = o->slow;
	cl->tick_ms = 25;
	cl->extra = o->extra;
	cl->n_extra = o->n_extra;
	cl->tls = o->tls;
	int exit_code = 2;
	struct workload *w = NULL;
	if (cluster_init(cl, o->disks, o->seed) != 0)
		goto out;
	for (int i = 0; i < NEM_SLOTS; i++)
		cluster_start(cl, &cl->slots[i]);
	int l = cluster_wait_leader(cl, (uint32_t)(30000 * o->slow));
	if (l < 0) {
		nem_log("no leader within %.0f s: giving up", 30 * o->slow);
		goto out;
	}
	nem_log("cluster up: leader %s; clients on %s", cl->slots[l].name, cl->endpoints);

	struct workload_config wc = {
	    .endpoints = cl->endpoints,
	    .seed = o->seed,
	    .clients = o->clients,
	    .keys = o->keys,
	    .ops_per_key = o->ops_per_key,
	    .deadline_ms = (uint32_t)(o->deadline_ms * o->slow),
	    .attempt_ms = (uint32_t)(1000 * o->slow),
	    .seconds = (size_t)ceil(o->duration) + 1,
	    .pipeline_clients = o->pipeline_clients,
	    .depth_min = o->depth_min,
	    .depth_max = o->depth_max,
	    .cl = cl,
	};
	/* The timeline starts with the workload. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (workload_start(&w, &wc) != 0) {
		nem_log("could not start the clients");
		goto out;
	}
	schedule(&r);
	int64_t end = (int64_t)(o->duration * 1e9);
	while (nem_now() < end && !nem_interrupted)
		cluster_nap(cl, 100);
	double workload_s = secs();
	workload_stop(w);
	nem_log("clients stopped");
	if (nem_interrupted) {
		nem_log("interrupted");
		exit_code = 130;
		goto out;
	}

	/* Heal everything and let the cluster converge. */
	exit_code = 0;
	cluster_heal(cl);
	for (int i = 0; i < NEM_SLOTS; i++) {
		cluster_disk_free(cl, &cl->slots[i]);
		if (cl->slots[i].pid == 0)
			cluster_start(cl, &cl->slots[i]);
	}
	char why[512];
	double conv = converge(&r, why, sizeof(why));
	if (conv < 0) {
		nem_log("FAILED: no convergence within %.0f s: %s", 60 * o->slow, why);
		exit_code = 1;
	}
	char read_err[512] = "";
	int read_rc = workload_final_read(w, read_err, sizeof(read_err));
	if (read_rc != 0) {
		nem_log("FAILED: %s", read_err);
		exit_code = 1;
	}
	cluster_shutdown(cl);
	nem_log("cluster stopped");

	/* Offline verification of every data directory, retired ones included. */
	unsigned verified = 0, verify_failed = 0;
	char verify_text[2048] = "";
	size_t vused = 0;
	for (size_t i = 0; i < NEM_SLOTS + cl->n_retired; i++) {
		const char *name =
		    i < NEM_SLOTS ? cl->slots[i].name : cl->retired[i - NEM_SLOTS].name;
		const char *dir =
		    i < NEM_SLOTS ? cl->slots[i].data_dir : cl->retired[i - NEM_SLOTS].data_dir;
		char out[8192];
		int rc = cluster_verify(cl, dir, out, sizeof(out));
		verified++;
		snprintf(path, sizeof(path), "%s/logs/verify-%s.txt", o->dir, name);
		FILE *f = fopen(path, "w");
		if (f != NULL) {
			fputs(out, f);
			fclose(f);
		}
		if (rc != 0) {
			verify_failed++;
			exit_code = 1;
			char *nl = strchr(out, '\n');
			if (nl != NULL)
				*nl = '\0';
			nem_log("FAILED: concord-wal verify %s: exit %d: %s", dir, rc, out);
			if (vused + 1 < sizeof(verify_text))
				vused += (size_t)snprintf(verify_text + vused,
				                          sizeof(verify_text) - vused,
				                          "%s: %.200s; ", name, out);
			if (vused >= sizeof(verify_text))
				vused = sizeof(verify_text) - 1;
		}
	}
	nem_log("concord-wal verify: %u data directories, %u failed", verified, verify_failed);
	cluster_unmount(cl);

	/* The history. */
	size_t n_ops;
	const struct check_op *ops = workload_history(w, &n_ops);
	snprintf(path, sizeof(path), "%s/history.jsonl", o->dir);
	FILE *hf = fopen(path, "w");
	if (hf != NULL) {
		check_history_write(hf, ops, n_ops);
		fclose(hf);
	}
	size_t lost_checked = 0;
	char lost_msg[1024];
	size_t lost = workload_lost_writes(w, &lost_checked, lost_msg, sizeof(lost_msg));
	if (lost > 0) {
		nem_log("FAILED: %zu acknowledged writes missing from the final state:\n%s", lost,
		        lost_msg);
		exit_code = 1;
	}
	nem_log("checking %zu operations for linearizability", n_ops);
	struct check_options copt = {.budget_ms = o->check_ms};
	struct check_result res;
	memset(&res, 0, sizeof(res));
	int crc = check_history_run(ops, n_ops, &copt, &res);
	const char *verdict;
	if (crc != 0) {
		verdict = "FAILED";
		nem_log("the checker failed: %s", strerror(-crc));
		exit_code = 1;
	} else {
		verdict = res.verdict == CHECK_LINEARIZABLE       ? "linearizable"
		          : res.verdict == CHECK_NOT_LINEARIZABLE ? "NOT linearizable"
		                                                  : "unknown";
		nem_log("checker: %s (%zu keys, %" PRIu64 " states, %" PRIu64 " ms)%s%s", verdict,
		        res.key_count, res.states, res.elapsed_ms, res.reason[0] ? ": " : "",
		        res.reason);
		if (res.verdict != CHECK_LINEARIZABLE)
			exit_code = 1;
		snprintf(path, sizeof(path), "%s/check.txt", o->dir);
		FILE *cf = fopen(path, "w");
		if (cf != NULL) {
			check_report_text(cf, ops, n_ops, &res, CHECK_REPORT_NORMAL);
			fclose(cf);
		}
		if (res.verdict == CHECK_NOT_LINEARIZABLE) {
			snprintf(path, sizeof(path), "%s/check.html", o->dir);
			cf = fopen(path, "w");
			if (cf != NULL) {
				check_report_html(cf, ops, n_ops, &res, "nemesis history");
				fclose(cf);
			}
		}
	}
	if (cl->unexpected_exits > 0 || cl->unclean_stops > 0)
		exit_code = 1;

	/* Figures. */
	uint64_t counts[WL_KINDS][WL_OUTCOMES];
	workload_counts(w, counts);
	uint64_t tot[WL_OUTCOMES] = {0};
	for (int k = 0; k < WL_KINDS; k++) {
		for (int oc = 0; oc < WL_OUTCOMES; oc++)
			tot[oc] += counts[k][oc];
	}
	const uint32_t *tl_ok = workload_timeline(w, WL_OK);
	size_t seconds = (size_t)ceil(workload_s);
	if (seconds > wc.seconds)
		seconds = wc.seconds;
	/* Which kinds of fault touched each second (bit k: fault_names[k]). */
	uint16_t *touched = calloc(seconds + 1, sizeof(*touched));
	for (size_t i = 0; i < r.n_spans && touched != NULL; i++) {
		int k = 0;
		while (k < F_COUNT - 1 && strcmp(r.spans[i].kind, fault_names[k]) != 0)
			k++;
		size_t from = (size_t)floor(r.spans[i].start_s);
		size_t to = (size_t)ceil(r.spans[i].end_s);
		for (size_t sec = from; sec < to && sec < seconds; sec++)
			touched[sec] |= (uint16_t)(1u << k);
	}
	/* Availability: ok operations per second inside fault spans and outside them. */
	double in_sum = 0, out_sum = 0;
	size_t in_n = 0, out_n = 0, zero_s = 0, longest_zero = 0, run_zero = 0;
	for (size_t sec = 0; sec < seconds && tl_ok != NULL && touched != NULL; sec++) {
		if (touched[sec] != 0) {
			in_sum += tl_ok[sec];
			in_n++;
		} else {
			out_sum += tl_ok[sec];
			out_n++;
		}
		if (tl_ok[sec] == 0) {
			zero_s++;
			run_zero++;
			if (run_zero > longest_zero)
				longest_zero = run_zero;
		} else {
			run_zero = 0;
		}
	}

	/* The raw figures behind the graph, for other tools. */
	snprintf(path, sizeof(path), "%s/timeline.csv", o->dir);
	FILE *tf = fopen(path, "w");
	if (tf != NULL) {
		const uint32_t *tl_f = workload_timeline(w, WL_FAILED);
		const uint32_t *tl_u = workload_timeline(w, WL_UNKNOWN);
		fprintf(tf, "second,ok,failed,unknown\n");
		for (size_t sec = 0; sec < seconds && tl_ok != NULL && tl_f != NULL && tl_u != NULL;
		     sec++)
			fprintf(tf, "%zu,%" PRIu32 ",%" PRIu32 ",%" PRIu32 "\n", sec, tl_ok[sec],
			        tl_f[sec], tl_u[sec]);
		fclose(tf);
	}
	snprintf(path, sizeof(path), "%s/faults.tsv", o->dir);
	tf = fopen(path, "w");
	if (tf != NULL) {
		fprintf(tf, "start_s\tend_s\tkind\tdetail\n");
		for (size_t i = 0; i < r.n_spans; i++)
			fprintf(tf, "%.3f\t%.3f\t%s\t%s\n", r.spans[i].start_s, r.spans[i].end_s,
			        r.spans[i].kind, r.spans[i].detail);
		fclose(tf);
	}

	printf("\nSummary\n");
	if (log_file != NULL)
		fprintf(log_file, "\nSummary\n");
	struct summary sm;
	memset(&sm, 0, sizeof(sm));
	static const char *const kind_names[WL_KINDS] = {"get", "put", "append", "cas", "delete"};
	row(&sm, "verdict", "%s%s", exit_code == 0 ? "PASS" : "FAIL",
	    exit_code == 0 ? "" : " (see the log)");
	row(&sm, "seed", "%" PRIu64, o->seed);
	row(&sm, "workload",
	    "%.1f s, 5 nodes, %u clients (%u pipelining), %u keys at a time, %" PRIu64
	    " keys in all",
	    workload_s, o->clients, o->pipeline_clients, o->keys, workload_keys_used(w));
	row(&sm, "operations",
	    "%" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " unknown (%.0f ok/s)", tot[WL_OK],
	    tot[WL_FAILED], tot[WL_UNKNOWN], (double)tot[WL_OK] / workload_s);
	for (int k = 0; k < WL_KINDS; k++)
		row(&sm, kind_names[k], "%" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " unknown",
		    counts[k][WL_OK], counts[k][WL_FAILED], counts[k][WL_UNKNOWN]);
	pipeline_rows(&sm, w, o, workload_s);
	char fl[512];
	size_t fu = 0;
	unsigned nf = 0;
	fl[0] = '\0';
	for (int k = 0; k < F_COUNT; k++) {
		nf += r.applied[k];
		if (r.applied[k] > 0 && fu + 1 < sizeof(fl))
			fu += (size_t)snprintf(fl + fu, sizeof(fl) - fu, "%s%s %u", fu ? ", " : "",
			                       fault_names[k], r.applied[k]);
		if (fu >= sizeof(fl))
			fu = sizeof(fl) - 1;
	}
	row(&sm, "faults", "%u applied: %s", nf, fl);
	if (!cl->disks)
		row(&sm, "disk faults", "skipped: %s", cl->disk_reason);
	row(&sm, "throughput", "%.0f ok/s during faults (%zu s), %.0f ok/s between (%zu s)",
	    in_n ? in_sum / (double)in_n : 0.0, in_n, out_n ? out_sum / (double)out_n : 0.0, out_n);
	row(&sm, "unavailability", "%zu seconds with no successful operation, longest run %zu s",
	    zero_s, longest_zero);
	/* Per kind: the seconds its spans touched. */
	for (int k = 0; k < F_COUNT && tl_ok != NULL && touched != NULL; k++) {
		double sum = 0;
		size_t n = 0;
		uint32_t lo = UINT32_MAX;
		for (size_t sec = 0; sec < seconds; sec++) {
			if (!(touched[sec] & (1u << k)))
				continue;
			sum += tl_ok[sec];
			n++;
			if (tl_ok[sec] < lo)
				lo = tl_ok[sec];
		}
		if (n == 0)
			continue;
		char key[48];
		snprintf(key, sizeof(key), "during %s", fault_names[k]);
		row(&sm, key, "%.0f ok/s on average, %" PRIu32 " in the worst second (%zu s)",
		    sum / (double)n, lo, n);
	}
	free(touched);
	row(&sm, "unexpected exits", "%u while running, %u unclean stops at the end",
	    cl->unexpected_exits, cl->unclean_stops);
	if (conv >= 0)
		row(&sm, "convergence", "%.1f s after healing", conv);
	else
		row(&sm, "convergence", "FAILED: %s", why);
	row(&sm, "final read", "%s", read_rc == 0 ? "every key read" : read_err);
	row(&sm, "acknowledged writes", "%zu checked against the final state, %zu missing",
	    lost_checked, lost);
	row(&sm, "offline verify", "%u data directories, %u failed %s", verified, verify_failed,
	    verify_text);
	if (crc == 0)
		row(&sm, "linearizability",
		    "%s: %zu operations on %zu keys, %" PRIu64 " states, %" PRIu64 " ms%s%s",
		    verdict, n_ops, res.key_count, res.states, res.elapsed_ms,
		    res.reason[0] ? ", " : "", res.reason);
	row(&sm, "reproduce", "%s", reproducer);
	char errs[4096];
	workload_errors(w, errs, sizeof(errs));
	if (errs[0] != '\0')
		nem_log("client errors by message:\n%s", errs);

	char title[128];
	snprintf(title, sizeof(title), "Concord nemesis, seed %" PRIu64, o->seed);
	char detail[1024];
	snprintf(detail, sizeof(detail), "%s. %s",
	         exit_code == 0 ? "Every check passed" : "A check failed",
	         crc == 0 && res.reason[0] ? res.reason : "");
	struct nemesis_report rep = {
	    .title = title,
	    .verdict = exit_code == 0
	                   ? verdict
	                   : (crc == 0 && res.verdict != CHECK_LINEARIZABLE ? verdict : "FAILED"),
	    .verdict_ok = exit_code == 0,
	    .verdict_detail = detail,
	    .reproducer = reproducer,
	    .seconds = seconds,
	    .ok = tl_ok,
	    .failed = workload_timeline(w, WL_FAILED),
	    .unknown = workload_timeline(w, WL_UNKNOWN),
	    .spans = r.spans,
	    .n_spans = r.n_spans,
	    .summary_keys = sm.kp,
	    .summary_values = sm.vp,
	    .n_summary = sm.n,
	    .log_text = log_buf,
	};
	snprintf(path, sizeof(path), "%s/report.html", o->dir);
	char rerr[256];
	if (nemesis_report_html(path, &rep, rerr, sizeof(rerr)) != 0)
		nem_log("report: %s", rerr);
	else
		nem_log("report: %s", path);
	if (crc == 0)
		check_result_free(&res);

out:
	cluster_shutdown(cl);
	cluster_unmount(cl);
	if (exit_code == 0 && !o->keep) {
		/* The data is not needed; the logs, history and report stay. */
		snprintf(path, sizeof(path), "%s/disk", o->dir);
		remove_tree(path);
	}
	workload_free(w);
	nem_log("%s", exit_code == 0 ? "PASS" : exit_code == 130 ? "INTERRUPTED" : "FAIL");
	if (log_file != NULL)
		fclose(log_file);
	free(log_buf);
	free(r.spans);
	return exit_code;
}
