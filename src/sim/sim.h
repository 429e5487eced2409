/* sim.h: a deterministic simulator that runs a whole cluster of real nodes (the driver:
 * Raft core and kv) in one process under network, disk and crash faults, and checks
 * Raft's safety properties and the clients' history as it goes. */
#ifndef CONCORD_SIM_H
#define CONCORD_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Faults the simulator may inject; a run draws their intensities from its seed. */
enum sim_fault {
	SIM_FAULT_DROP = 1u << 0,       /* lose messages with some probability */
	SIM_FAULT_DELAY_REQ = 1u << 1,  /* add latency to requests */
	SIM_FAULT_DELAY_RESP = 1u << 2, /* add latency to responses, so that answers
	                                   arrive after the sender moved on */
	SIM_FAULT_DUP = 1u << 3,        /* deliver some messages twice */
	SIM_FAULT_REORDER = 1u << 4,    /* wide latency jitter */
	SIM_FAULT_PARTITION = 1u << 5,  /* one-way and two-way partitions that change */
	SIM_FAULT_CRASH = 1u << 6,      /* crash nodes (losing what was not fsync'd) and
	                                   restart them later */
	SIM_FAULT_TRANSFER = 1u << 7,   /* leadership transfers and step-downs */
	SIM_FAULT_SNAPSHOT = 1u << 8,   /* nodes snapshot and compact their logs; laggards
	                                   catch up through InstallSnapshot */
	SIM_FAULT_MEMBERSHIP = 1u << 9, /* add learners, promote, remove voters (the leader
	                                   too), through joint consensus */
	SIM_FAULT_DISK = 1u << 10,      /* writes and fsyncs fail (EIO, ENOSPC): the node
	                                   must stop, then recover from its disk */
	SIM_FAULT_ALL = (1u << 11) - 1,
	/* Not in "all": once per run, one node is crashed and a bit of its durable data
	 * (a WAL segment, meta or a snapshot) flipped or a file cut; it must repair itself
	 * from its peers (catch-up) or refuse to start, naming file and offset. */
	SIM_FAULT_DAMAGE = 1u << 11,
	/* Not in "all": a node's disk stops completing writes for 2 to 6 s (a hung fsync).
	 * A leader must step down within the stall bound and two election timeouts. */
	SIM_FAULT_STALL = 1u << 12,
	/* Not in "all": a targeted mode for the snapshot-install bug of issue 12. Snapshots
	 * every few entries with almost no trailing log, partitions that leave a deposed
	 * leader with one follower (which takes a divergent tail from it), many duplicated
	 * and briefly delayed requests (stale appends arriving behind a snapshot), and
	 * drivers that put their readies off, so both are stepped before one ready. */
	SIM_FAULT_DIVERGE = 1u << 13,
};

/* Parses a comma-separated list ("drop,crash", "all", "none") into *mask. Returns 0,
 * or -1 naming the bad word in `err` (of `err_len` bytes). */
int sim_faults_parse(const char *list, uint32_t *mask, char *err, size_t err_len);
/* Writes the canonical list for `mask` into buf. */
void sim_faults_format(uint32_t mask, char *buf, size_t len);

struct sim_opts {
	uint64_t seed;
	uint32_t nodes;           /* 3, 5 or 7 (1 to 9 accepted) */
	uint32_t ticks;           /* length of the faulty phase, in node ticks */
	uint32_t faults;          /* enum sim_fault mask */
	uint32_t clients;         /* concurrent clients; 0 picks 3 */
	FILE *trace;              /* if set, every event is printed here */
	FILE *narrate;            /* if set, a readable story of the run goes here */
	double pace;              /* with narrate: wall seconds per simulated second (0: as
	                             fast as possible) */
	const char *history_path; /* if set, the client history is written here as JSON
	                             lines (docs/history-format.md) */
	bool ready_each;          /* every node takes a ready after every input (otherwise
	                             each node's pattern is drawn from the seed) */
	bool unordered;           /* testing the checker: the nodes start a connection's
	                             commands without the ordering rule (src/driver/order.h),
	                             as the server did before it had one */
	bool watch_lossy;         /* testing the watch check: the watchers lose every
	                             revision divisible by 97 (watch.c) */
	bool no_txn;              /* the clients send no transactions: a seed runs as it
	                             did before they did (txn.c) */
	bool no_lease;            /* likewise, no leases on m0..m2 (lease.c) */
};

struct sim_result {
	bool ok;
	uint64_t trace_hash; /* FNV-1a over every event: equal seeds, equal hashes */
	char property[64];   /* the violated property, if !ok */
	char detail[512];
	char recent[4096]; /* the events leading to the violation */
	/* Figures for the summary line. */
	uint64_t events;
	uint64_t elections; /* leaders elected */
	uint64_t max_term;
	uint64_t committed; /* highest index committed anywhere */
	uint64_t acked;     /* client writes acknowledged */
	uint64_t reads;     /* client reads served */
	uint64_t crashes;
	uint64_t partitions;
	uint64_t transfers;
	uint64_t snapshots;    /* snapshots taken */
	uint64_t installs;     /* snapshots installed from a leader */
	uint64_t conf_changes; /* membership changes started */
	uint64_t disk_faults;  /* nodes stopped by a failed write or sync */
	/* SIM_FAULT_DAMAGE: restarts that repaired from peers (catch-up), that refused
	 * naming file and offset, that found nothing lost (the damage hit no entry) */
	uint64_t damage_repaired, damage_refused, damage_clean;
	uint64_t damage_flips, damage_cuts; /* what was done: bits flipped, files cut */
	uint64_t stalls, stalled_leaders; /* disks stalled; leaders among them that stepped down */
	uint64_t deferred;                /* inputs stepped without a ready after them */
	uint64_t retries;                 /* writes proposed again after no known outcome */
	uint64_t duplicates;              /* retried writes the kv answered from the session */
	uint64_t expiry_writes;           /* unchecked expiry and lease commands (clients.c) */
	uint64_t multi_acked;             /* MSETs and DELRANGEs on m0..m2 acknowledged */
	/* Txns on m0..m2 acknowledged; of which took the else branch, were aborted by a
	 * WATCH guard, were answered from the session (a retry: branch unobserved). */
	uint64_t txn_acked, txn_else, txn_aborted, txn_duplicates;
	/* Leases on m0..m2: grants, puts attached to them and revokes acknowledged. */
	uint64_t lease_grants, lease_puts, lease_revokes;
	uint64_t watch_events;    /* revisions the watchers got (watch.c) */
	uint64_t watch_caught_up; /* of which a restarted watcher got from kv_events */
	uint64_t watch_compacted; /* watcher catch-ups refused as compacted */
	uint64_t held;            /* pipelined operations the ordering rule held back a while */
	uint64_t sim_ms;          /* simulated time at the end */
	uint64_t history_ops;
	int linearizable; /* 1 yes, 0 no, -1 the checker's budget ran out */
};

/* Runs one cluster to completion. Returns true if every check passed. */
bool sim_run(const struct sim_opts *opts, struct sim_result *res);

#endif /* CONCORD_SIM_H */
