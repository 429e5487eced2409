/* concord-sim: runs simulated Concord clusters under faults, one seed or many, and
 * reports every violation of Raft's safety properties with a command that replays it. */
#include "sim/sim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: concord-sim --seed S [options]\n"
	        "       concord-sim --seeds A-B [options]\n"
	        "\n"
	        "Runs a cluster of real nodes (the driver: Raft core and kv store) in one\n"
	        "process on simulated time, with clients sending kv commands in sessions,\n"
	        "injects faults, and checks after every event: one leader per term, log\n"
	        "matching, leader completeness, the same entry and state at each applied\n"
	        "index everywhere, commit index never decreasing, no acknowledged write lost,\n"
	        "retries applied once, each node's watchers getting exactly the applied changes\n"
	        "in their range (watch=E/C/K: revisions got, of which by catching up after a\n"
	        "restart, catch-ups refused as compacted). Then it heals every fault, requires\n"
	        "a fresh write to commit, and checks the history (get, put, append, incr,\n"
	        "cas, delete; mset, delrange and txns over several keys; expiry of TTLs\n"
	        "and leases) for linearizability. Prints one line per run with a hash of\n"
	        "its trace: the same seed always prints the same hash; retries=R/D counts\n"
	        "retried writes and the duplicates the kv answered from a session, multi=M\n"
	        "the MSETs and DELRANGEs over m0..m2 acknowledged, txn=A/E/X/D the\n"
	        "transactions on m0..m2 acknowledged, of which took the else branch, were\n"
	        "aborted by a WATCH guard, were answered from a session (duplicates),\n"
	        "lease=G/P/R the leases on m0..m2 granted, puts attached to them and\n"
	        "revokes, acknowledged.\n"
	        "\n"
	        "options:\n"
	        "  --seed S          run seed S\n"
	        "  --seeds A-B       run seeds A to B inclusive\n"
	        "  --nodes N         cluster size, 1 to 9 (default: 5 for --seed; for --seeds,\n"
	        "                    3, 5 and 7 in turn)\n"
	        "  --ticks T         length of the faulty phase in node ticks of 10 ms\n"
	        "                    (default 2000)\n"
	        "  --faults LIST     comma-separated: drop, delay, delay-resp, dup, reorder,\n"
	        "                    partition, crash, transfer, snapshot, membership, disk,\n"
	        "                    damage (not in all: once, one voter's durable data),\n"
	        "                    stall (not in all: a disk completes nothing for 2-6 s),\n"
	        "                    diverge (not in all: see README.md);\n"
	        "                    or all, none (default all)\n"
	        "  --clients C       concurrent clients (default 3)\n"
	        "  --trace           print every event\n"
	        "  --narrate         tell the story of the run as it happens\n"
	        "  --pace X          with --narrate: wall seconds per simulated second\n"
	        "  --history FILE    write the client history as JSON lines\n"
	        "  --ready-each      every node takes a ready after every input (by default\n"
	        "                    each node's driver steps several inputs between readies,\n"
	        "                    in a pattern drawn from the seed, as an event loop does)\n"
	        "  --unordered       the nodes ignore the order of a pipelining client's\n"
	        "                    commands (src/driver/order.h), as the server once did:\n"
	        "                    to see the checker catch it\n"
	        "  --watch-lossy     the watchers lose every revision divisible by 97: to\n"
	        "                    see the watch check catch it\n"
	        "  --no-txn          the clients send no transactions (CONCORD.TXN, MULTI/EXEC,\n"
	        "                    WATCH)\n"
	        "  --no-lease        the clients attach no puts on m0..m2 to leases; with\n"
	        "                    --no-txn a seed replays as it did before either existed\n"
	        "  --quiet           print only violations and the final tally\n"
	        "  -h, --help        this text\n"
	        "\n"
	        "exit status: 0 all runs passed, 1 a violation was found, 2 bad usage\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	enum {
		O_SEED = 256,
		O_SEEDS,
		O_NODES,
		O_TICKS,
		O_FAULTS,
		O_CLIENTS,
		O_TRACE,
		O_NARRATE,
		O_PACE,
		O_HISTORY,
		O_QUIET,
		O_READY_EACH,
		O_UNORDERED,
		O_WATCH_LOSSY,
		O_NO_TXN,
		O_NO_LEASE,
	};
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, O_SEED},
	    {"seeds", required_argument, NULL, O_SEEDS},
	    {"nodes", required_argument, NULL, O_NODES},
	    {"ticks", required_argument, NULL, O_TICKS},
	    {"faults", required_argument, NULL, O_FAULTS},
	    {"clients", required_argument, NULL, O_CLIENTS},
	    {"trace", no_argument, NULL, O_TRACE},
	    {"narrate", no_argument, NULL, O_NARRATE},
	    {"pace", required_argument, NULL, O_PACE},
	    {"history", required_argument, NULL, O_HISTORY},
	    {"quiet", no_argument, NULL, O_QUIET},
	    {"ready-each", no_argument, NULL, O_READY_EACH},
	    {"unordered", no_argument, NULL, O_UNORDERED},
	    {"watch-lossy", no_argument, NULL, O_WATCH_LOSSY},
	    {"no-txn", no_argument, NULL, O_NO_TXN},
	    {"no-lease", no_argument, NULL, O_NO_LEASE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t first = 0, last = 0, nodes = 0, ticks = 2000, clients = 3;
	bool have_seed = false, trace = false, narrate = false, quiet = false, ready_each = false;
	bool unordered = false, watch_lossy = false, no_txn = false;
	bool no_lease = false;
	double pace = 0;
	uint32_t faults = SIM_FAULT_ALL;
	const char *faults_text = "all";
	const char *history = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SEED:
			if (parse_u64(optarg, &first) != 0) {
				fprintf(stderr, "concord-sim: --seed needs a number, got '%s'\n",
				        optarg);
				return 2;
			}
			last = first;
			have_seed = true;
			break;
		case O_SEEDS: {
			const char *dash = strchr(optarg, '-');
			char a[32];
			if (dash == NULL || (size_t)(dash - optarg) >= sizeof(a)) {
				fprintf(stderr, "concord-sim: --seeds needs A-B, got '%s'\n",
				        optarg);
				return 2;
			}
			memcpy(a, optarg, (size_t)(dash - optarg));
			a[dash - optarg] = '\0';
			if (parse_u64(a, &first) != 0 || parse_u64(dash + 1, &last) != 0 ||
			    last < first) {
				fprintf(stderr,
				        "concord-sim: --seeds needs A-B with A <= B, got '%s'\n",
				        optarg);
				return 2;
			}
			have_seed = true;
			break;
		}
		case O_NODES:
			if (parse_u64(optarg, &nodes) != 0 || nodes < 1 || nodes > 9) {
				fprintf(stderr, "concord-sim: --nodes must be 1 to 9, got '%s'\n",
				        optarg);
				return 2;
			}
			break;
		case O_TICKS:
			if (parse_u64(optarg, &ticks) != 0 || ticks < 1 || ticks > 10000000) {
				fprintf(stderr,
				        "concord-sim: --ticks must be 1 to 10000000, got '%s'\n",
				        optarg);
				return 2;
			}
			break;
		case O_FAULTS: {
			char err[256];
			if (sim_faults_parse(optarg, &faults, err, sizeof(err)) != 0) {
				fprintf(stderr, "concord-sim: %s\n", err);
				return 2;
			}
			faults_text = optarg;
			break;
		}
		case O_CLIENTS:
			if (parse_u64(optarg, &clients) != 0 || clients < 1 || clients > 16) {
				fprintf(stderr,
				        "concord-sim: --clients must be 1 to 16, got '%s'\n",
				        optarg);
				return 2;
			}
			break;
		case O_TRACE:
			trace = true;
			break;
		case O_NARRATE:
			narrate = true;
			break;
		case O_PACE: {
			char *end;
			pace = strtod(optarg, &end);
			if (*end != '\0' || pace < 0 || pace > 100) {
				fprintf(stderr, "concord-sim: --pace must be 0 to 100, got '%s'\n",
				        optarg);
				return 2;
			}
			break;
		}
		case O_HISTORY:
			history = optarg;
			break;
		case O_QUIET:
			quiet = true;
			break;
		case O_READY_EACH:
			ready_each = true;
			break;
		case O_UNORDERED:
			unordered = true;
			break;
		case O_WATCH_LOSSY:
			watch_lossy = true;
			break;
		case O_NO_TXN:
			no_txn = true;
			break;
		case O_NO_LEASE:
			no_lease = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "concord-sim: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!have_seed) {
		fprintf(stderr, "concord-sim: give --seed S or --seeds A-B\n");
		usage(stderr);
		return 2;
	}
	(void)faults_text;
	char faults_canon[128];
	sim_faults_format(faults, faults_canon, sizeof(faults_canon));

	static const uint32_t sizes[] = {3, 5, 7};
	uint64_t runs = 0, failures = 0;
	double start = wall_now();
	for (uint64_t seed = first; seed <= last; seed++) {
		struct sim_opts o = {
		    .seed = seed,
		    .nodes = nodes ? (uint32_t)nodes : (first == last ? 5 : sizes[seed % 3]),
		    .ticks = (uint32_t)ticks,
		    .faults = faults,
		    .clients = (uint32_t)clients,
		    .trace = trace ? stdout : NULL,
		    .narrate = narrate ? stdout : NULL,
		    .pace = pace,
		    .history_path = history,
		    .ready_each = ready_each,
		    .unordered = unordered,
		    .watch_lossy = watch_lossy,
		    .no_txn = no_txn,
		    .no_lease = no_lease,
		};
		struct sim_result r;
		bool ok = sim_run(&o, &r);
		runs++;
		if (!ok)
			failures++;
		if (ok && quiet)
			continue;
		printf("seed=%" PRIu64 " nodes=%u faults=%s ticks=%u: %s  elections=%" PRIu64
		       " term=%" PRIu64 " committed=%" PRIu64 " acked=%" PRIu64 " reads=%" PRIu64
		       " crashes=%" PRIu64 " partitions=%" PRIu64 " transfers=%" PRIu64
		       " snapshots=%" PRIu64 "/%" PRIu64 " confs=%" PRIu64 " diskfail=%" PRIu64
		       " retries=%" PRIu64 "/%" PRIu64 " expiry=%" PRIu64 " multi=%" PRIu64
		       " txn=%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 " lease=%" PRIu64
		       "/%" PRIu64 "/%" PRIu64 " watch=%" PRIu64 "/%" PRIu64 "/%" PRIu64
		       " held=%" PRIu64 " lin=%s sim=%.1fs hash=%016" PRIx64 "\n",
		       seed, o.nodes, faults_canon, o.ticks, ok ? "ok" : "VIOLATION", r.elections,
		       r.max_term, r.committed, r.acked, r.reads, r.crashes, r.partitions,
		       r.transfers, r.snapshots, r.installs, r.conf_changes, r.disk_faults,
		       r.retries, r.duplicates, r.expiry_writes, r.multi_acked, r.txn_acked,
		       r.txn_else, r.txn_aborted, r.txn_duplicates, r.lease_grants, r.lease_puts,
		       r.lease_revokes, r.watch_events, r.watch_caught_up, r.watch_compacted,
		       r.held,
		       r.linearizable == 1    ? "ok"
		       : r.linearizable == 0  ? "NO"
		       : r.linearizable == -1 ? "unknown"
		                              : "-",
		       (double)r.sim_ms / 1000.0, r.trace_hash);
		if (o.faults & SIM_FAULT_STALL)
			printf("  stall: disks=%" PRIu64 " leaders-stepped-down=%" PRIu64 "\n",
			       r.stalls, r.stalled_leaders);
		if (o.faults & SIM_FAULT_DAMAGE)
			printf("  damage: flips=%" PRIu64 " cuts=%" PRIu64 " repaired=%" PRIu64
			       " refused=%" PRIu64 " clean=%" PRIu64 "\n",
			       r.damage_flips, r.damage_cuts, r.damage_repaired, r.damage_refused,
			       r.damage_clean);
		if (!ok) {
			printf("  property: %s\n  detail: %s\n  %s:\n%s", r.property, r.detail,
			       strcmp(r.property, "linearizability") == 0 ? "explanation"
			                                                  : "events leading to it",
			       r.recent);
			printf("  replay: concord-sim --seed %" PRIu64 " --nodes %u --ticks %u "
			       "--faults %s --clients %u%s%s%s%s%s --trace\n",
			       seed, o.nodes, o.ticks, faults_canon, o.clients,
			       o.ready_each ? " --ready-each" : "",
			       o.unordered ? " --unordered" : "",
			       o.watch_lossy ? " --watch-lossy" : "", o.no_txn ? " --no-txn" : "",
			       o.no_lease ? " --no-lease" : "");
		}
		fflush(stdout);
	}
	if (runs > 1 || quiet)
		printf("%" PRIu64 " runs, %" PRIu64 " passed, %" PRIu64 " violations, %.1fs wall\n",
		       runs, runs - failures, failures, wall_now() - start);
	return failures ? 1 : 0;
}
