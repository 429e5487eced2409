/* nemesis.h: the nemesis harness's shared state: the cluster of real processes, the log, the clock.
 */
#ifndef CONCORD_NEMESIS_H
#define CONCORD_NEMESIS_H

#include <concord/client.h>

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The harness runs five slots. A slot is a fixed set of loopback ports (peer, client,
 * HTTP) and a disk; the process on it is one incarnation of a member. A membership
 * change retires the slot's member (its data directory is kept for the offline check)
 * and puts a new member, with a new id, on the same ports, so the clients' endpoint
 * list stays valid for the whole run.
 */

#define NEM_SLOTS       5
#define NEM_RETIRED_MAX 256

struct nem_slot {
	int idx;
	char peer[32], client[32], http[32];
	uint64_t id;             /* the member on this slot now */
	char name[32];           /* "n<id>" */
	bool joiner;             /* started with --join (not in --initial-cluster) */
	char base[PATH_MAX];     /* directory (or mount point of a disk image) for data */
	char data_dir[PATH_MAX]; /* base/<name> */
	char image[PATH_MAX];    /* the disk image file, "" when the slot has none */
	bool mounted;
	pid_t pid; /* 0: not running */
	bool paused;
	bool may_exit;   /* an exit now is expected (killed, or a full disk) */
	bool removed;    /* removed from the configuration: it exits with status 3 by itself
	                    (docs/server.md, a removed member knows it) */
	int last_status; /* wait status of the last exit */
	unsigned starts;
	char tls_cert[PATH_MAX + 48], tls_key[PATH_MAX + 48]; /* --tls: this member's */
};

struct nem_retired {
	char name[32];
	char data_dir[PATH_MAX];
};

struct nem_cluster {
	char dir[PATH_MAX]; /* the run's directory */
	char concord[PATH_MAX];
	char concord_wal[PATH_MAX];
	double slow; /* timeouts scale with this (sanitizer builds) */
	uint32_t tick_ms;
	struct nem_slot slots[NEM_SLOTS];
	char initial_cluster[512], initial_client[512], initial_http[512];
	uint64_t next_id;
	struct nem_retired retired[NEM_RETIRED_MAX];
	size_t n_retired;
	bool disks; /* every slot has its own small file system */
	char disk_reason[256];
	unsigned unexpected_exits;
	unsigned unclean_stops; /* SIGTERM did not end in status 0 */
	char endpoints[512];    /* every slot's client address, comma-separated */
	char **extra;           /* more flags for every node */
	int n_extra;
	struct concord_client *admin;
	bool tls; /* --tls: TLS on every port, certificates made in certs/ (tls.c) */
	char certs[PATH_MAX];
	char ca_file[PATH_MAX + 16], client_cert[PATH_MAX + 16], client_key[PATH_MAX + 16];
};

/* ---- log and clock (nemesis.c) */

extern volatile sig_atomic_t nem_interrupted;
/* Nanoseconds on the monotonic clock since the workload's start (negative before it). */
int64_t nem_now(void);
/* splitmix64: the next number of a seeded sequence. */
uint64_t nem_rand(uint64_t *state);
/* Prints "[ssss.sss] message" to stdout and keeps it for the report and nemesis.log. */
void nem_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- TLS (tls.c), all no-ops without cl->tls */

/* Makes the CA and the clients' certificate. Returns 0 or -1 (logged). */
int nem_tls_init(struct nem_cluster *cl);
/* The clients' CA and certificate into the options. */
void nem_tls_client_opts(const struct nem_cluster *cl, struct concord_client_opts *o);
/* Appends a node's TLS flags (making its certificate first) to argv[n..cap); returns the
 * new n, or -1. */
int nem_tls_node_args(struct nem_cluster *cl, struct nem_slot *s, char **argv, int n, int cap);

/* ---- cluster (cluster.c) */

/* Runs argv (a program found in PATH, or a path) and waits; its output goes to out (len
 * bytes, NUL-terminated) if out is not NULL. Returns the exit status, or -1. */
int nem_run(char *const argv[], char *out, size_t len);

/* Picks ports, makes the disks (small ext4 images when the harness may mount them, else
 * plain directories), opens the admin handle. Returns 0 or -1 with a message logged. */
int cluster_init(struct nem_cluster *cl, bool want_disks, uint64_t seed);
/* Starts the process on a slot with its current member. */
int cluster_start(struct nem_cluster *cl, struct nem_slot *s);
/* kill -9 and reap. */
void cluster_kill(struct nem_cluster *cl, struct nem_slot *s);
/* SIGTERM, then SIGKILL after a while; reaps. */
void cluster_stop(struct nem_cluster *cl, struct nem_slot *s);
void cluster_pause(struct nem_cluster *cl, struct nem_slot *s);
void cluster_resume(struct nem_cluster *cl, struct nem_slot *s);
/* Reaps exited processes; an exit nobody expected is logged and counted. */
void cluster_reap(struct nem_cluster *cl);
/* Sleeps ms, reaping as it goes; returns early when interrupted. */
void cluster_nap(struct nem_cluster *cl, uint32_t ms);
/* Retires the slot's member and gives the slot a new member id (fresh data directory). */
void cluster_new_member(struct nem_cluster *cl, struct nem_slot *s);

/* This node's view (CONCORD.STATUS). */
struct nem_status {
	bool ok;
	bool leading;
	uint64_t id, leader, term, commit, applied, last_index, revision;
	bool joint;
	uint64_t voter_ids[16]; /* the configuration it knows */
	int n_voter_ids;
	uint64_t learner_ids[16];
	int n_learner_ids;
};
void cluster_status(struct nem_cluster *cl, struct nem_slot *s, struct nem_status *st);
/* The slot whose process leads in the highest term, among the running, unpaused ones; -1
 * if none. */
int cluster_leader(struct nem_cluster *cl, struct nem_status *st);
/* Waits for a leader, at most ms. */
int cluster_wait_leader(struct nem_cluster *cl, uint32_t ms);

/* Faults on node s's link to member `peer` (CONCORD_PEER_ALL: all). */
int cluster_fault(struct nem_cluster *cl, struct nem_slot *s, uint64_t peer,
                  const struct concord_fault *f);
/* Blocks the links between a and b, both ways, at both ends. */
void cluster_block(struct nem_cluster *cl, struct nem_slot *a, struct nem_slot *b);
/* Clears every link fault on every running node and resumes paused ones. */
void cluster_heal(struct nem_cluster *cl);

/* Fills the slot's file system (a file of zeros until ENOSPC); returns bytes written. */
int64_t cluster_disk_fill(struct nem_cluster *cl, struct nem_slot *s);
void cluster_disk_free(struct nem_cluster *cl, struct nem_slot *s);

/* Runs `concord-wal verify` on a data directory; output to out (bytes). Returns its exit
 * status, or -1 if it could not run. */
int cluster_verify(struct nem_cluster *cl, const char *data_dir, char *out, size_t len);

/* Stops everything, unmounts the disks. */
void cluster_shutdown(struct nem_cluster *cl);
void cluster_unmount(struct nem_cluster *cl);

/* The last line of a slot's log file (for messages). */
void cluster_last_log_line(struct nem_cluster *cl, const char *name, char *out, size_t len);

#endif /* CONCORD_NEMESIS_H */
