/* internal.h: the simulator's state, shared by its network, disk, client and checker
 * files. */
#ifndef CONCORD_SIM_INTERNAL_H
#define CONCORD_SIM_INTERNAL_H

#include "check/check.h"
#include "concord/raft.h"
#include "driver/driver.h"
#include "driver/order.h"
#include "sim/sim.h"
#include "storage/storage.h"

#include <assert.h>
#include <stddef.h>

#define SIM_MAX_NODES         12 /* initial members plus spare slots for nodes added later */
#define SIM_MAX_CLIENTS       16
#define SIM_RECENT            48
#define SIM_LINE              200
#define SIM_KEYS              5 /* the clients' key space: k0..k4, one key per operation */
#define SIM_MULTI_KEYS        3 /* m0..m2: also written and deleted several at a time */
#define SIM_ALL_KEYS          (SIM_KEYS + SIM_MULTI_KEYS) /* m<i> is key SIM_KEYS + i */
#define SIM_MULTI_PERCENT     25 /* of the operations a client starts, on m0..m2 */
#define SIM_TTL_MIN_MS        30 /* the shortest TTL of a put on m0..m2 */
#define SIM_SIDE_KEYS         4  /* x0..x3: expiry on the side, outside the history */
#define SIM_SIDE_PERCENT      8  /* of the operations a client starts */
#define SIM_CLIENT_TIMEOUT_US 1500000ull
#define SIM_WRITE_TRIES       3 /* a write with no known outcome is proposed again, up to this */
#define SIM_OP_OPEN           UINT64_MAX       /* a request's op when it opens a session */
#define SIM_OP_MEMBER         (UINT64_MAX - 1) /* ...when it records a member (client: its slot) */
#define SIM_NO_OP             UINT64_MAX       /* a client's resend: none */
#define SIM_PIPE_MAX          4 /* operations a pipelining client keeps outstanding, at most */
#define SIM_WATCHERS          2 /* per node: the client keys, the side keys (watch.c) */
#define SIM_WATCH_KEYS        (SIM_KEYS + SIM_SIDE_KEYS)
#define SIM_TXN_PERCENT       12   /* of the operations on m0..m2, drawn from txn_rng */
#define SIM_TXN_SUBS          4    /* sub-operations of a txn's branch, at most */
#define SIM_LEASE_ID_BASE     1000 /* the m keys' leases (lease.c); x0..x3's are 1..3 */

/* Simulated time is in microseconds. */
#define MS              UINT64_C(1000)
#define TICK_US         (10 * MS)
#define ELECTION_TICKS  10
#define HEARTBEAT_TICKS 2
#define LIVENESS_TICKS  3000 /* after healing, a fresh write must commit within this */

enum event_type {
	EV_TICK = 1,
	EV_DELIVER,
	EV_DISK,
	EV_RESTART,
	EV_NEMESIS,
	EV_CLIENT,
	EV_DRAIN, /* a node takes the readies its stepped inputs left (an event loop's
	             check phase) */
};

/* How a node's driver interleaves inputs and readies, drawn per incarnation: a ready
 * after every input, after bursts of inputs, or at random; inputs whose ready is put off
 * wait for a drain a little later, so other inputs arrive in between, as in the
 * server's event loop (step on each message, drain in a check callback). */
enum drive {
	DRIVE_EACH = 1, /* a ready after every input */
	DRIVE_BURST,    /* a ready after `burst` inputs, or at the drain */
	DRIVE_RANDOM,   /* a ready after an input with probability ready_pct% */
};

struct event {
	uint64_t time;
	uint64_t seq;
	enum event_type type;
	uint32_t node;
	uint32_t epoch; /* node incarnation (TICK, DISK) or client operation (CLIENT) */
	uint32_t client;
	struct raft_message msg; /* DELIVER; owned by the event */
};

/* An event's place in the queue: its order, and the slot of its body. 16 bytes, four to
 * a cache line: the sequence number is kept in 32 bits (net.c asserts it fits). */
struct ev_key {
	uint64_t time;
	uint32_t seq;
	uint32_t slot;
};

/* A batch handed to the disk and not yet durable. */
struct disk_batch {
	struct raft_ready *rd;
};

/* The disk of one node. The real storage (WAL segments, meta, snapshots, recovery) runs
 * on an in-memory crash file system; beside it, a model of what has been acknowledged
 * durable serves as the oracle that recovery is checked against. */
struct disk {
	struct crashfs *fs;
	struct storage *st;
	struct storage_recovered rec; /* between disk_load and disk_load_done */
	bool failed;                  /* the storage failed: the node must stop */
	struct raft_hard_state hs;
	struct raft_entry *log; /* durable entries log_start .. log_start + n_log - 1 */
	raft_index log_start;
	uint64_t n_log;
	uint64_t cap_log;
	struct raft_conf boot_conf; /* the configuration a brand-new node starts with */
	raft_index snap_index;      /* durable snapshot, if snap_data */
	raft_term snap_term;
	struct raft_conf snap_conf;
	struct raft_buf *snap_data;
	struct raft_ready **pending; /* FIFO of batches written but not fsync'd */
	uint32_t n_pending;
	uint32_t cap_pending;
	bool damaged; /* SIM_FAULT_DAMAGE hit this disk (its durable data) */
	bool lost;    /* and recovery refused, naming file and offset: the node stays down */
	bool counted; /* its first restart after the damage was counted */
	/* What the oracle held before a repair from peers dropped part of it, kept while the
	 * node catches up (disk_had): such a node grants no vote before it holds a leader's
	 * commit index again, so for the quorum intersection it still counts as holding it. */
	bool had;
	raft_index had_snap; /* entries up to here were in a snapshot (0: none) */
	raft_index had_first;
	raft_term *had_terms; /* the terms of the entries had_first .. had_first + n_had - 1 */
	uint64_t n_had;
	uint64_t stalled_leader_since; /* sim time this leader's disk was found stalled, or 0 */
};

/* A revision a watcher got, and the digest of its events in the watcher's range. */
struct wpending {
	uint64_t rev;
	uint64_t digest;
};

/* A watcher on one node (watch.c): survives the node's crashes. */
struct sim_watcher {
	uint64_t next;            /* the revision it resumes from (0: not started) */
	struct wpending *pending; /* got, not yet checked */
	uint32_t n_pending, cap_pending;
	/* Its node is below `next` (it booted from an older state and replays): what the
	 * replay delivers below `next` was got before and is passed over, as a watch asked
	 * to start at `next` does. */
	bool behind;
};

/* The oracle's record of one revision: the digest of its changes per watcher range. */
struct wlog_rev {
	uint64_t digest[SIM_WATCHERS];
	bool set;
};

struct node {
	struct sim *sim;
	uint32_t idx; /* node id is idx + 1 */
	bool exists;  /* started at least once: it has a disk */
	bool removed; /* decommissioned after leaving the configuration */
	bool joining; /* its address-book record is proposed, its addition not yet */
	uint64_t joining_since;
	bool committed_member;  /* seen in a committed configuration... */
	raft_index member_conf; /* ...whose entry was at this index, the highest such */
	bool up;
	uint32_t epoch;
	struct driver *d; /* the real driver: the core and the kv state machine */
	struct disk disk;
	uint64_t disk_busy_until;
	struct driver_batch **batches; /* FIFO: handed to persist(), not yet completed */
	uint32_t n_batches;
	uint32_t cap_batches;
	bool stop;          /* the driver asked to fail-stop: done once its call returns */
	raft_index applied; /* as the observer saw the state machine apply */
	const struct raft_entry *applying; /* the entry being applied, during callbacks */
	raft_index install_index; /* a leader's snapshot to check once installed (0: none) */
	raft_term install_term;
	uint64_t revision; /* the kv's revision before the entry being applied */
	raft_index last_commit;
	enum raft_role role;
	/* The driver's pattern (enum drive) and the inputs stepped since the last ready. */
	enum drive drive;
	uint32_t burst;
	uint32_t ready_pct;
	uint64_t drain_us; /* how long an input waits at most for its ready */
	uint32_t stepped;
	bool drain_armed; /* an EV_DRAIN for this incarnation is queued */
	struct sim_watcher watchers[SIM_WATCHERS];
	int wcatch;   /* the watcher a catch-up feeds, or -1: all */
	bool wresync; /* a snapshot replaced the state: catch up */
};

/* The core of a node that is up. */
static inline const struct raft *node_raft(const struct node *nd)
{
	assert(nd->up && nd->d != NULL);
	return driver_raft(nd->d);
}

struct committed {
	raft_term term;
	uint64_t hash;
	raft_term observed_in; /* the observer's term when first seen committed */
	uint64_t state;        /* hash of the state machine after applying it (0: unseen) */
};

struct entry_key {
	raft_index index;
	raft_term term;
	uint64_t hash;
	raft_term prev_term;
	bool used;
};

/* The three shapes of transaction the server's frontends build (txn.c). */
enum txn_shape {
	TXN_COMPARE = 1, /* CONCORD.TXN: value compares, then and else of PUT, GET, DEL */
	TXN_MULTI,       /* MULTI/EXEC: SET, GET, DEL applied together, no guard */
	TXN_WATCH,       /* WATCH, then MULTI/EXEC guarded on the mod revisions read */
};

/* One sub-operation of a txn: a get, put or delete of m<key - SIM_KEYS>. */
struct txn_sub {
	enum check_kind kind;
	uint32_t key;
	uint64_t value; /* put: the unique value written */
	char *result;   /* get in the branch taken, observed: the value read (NULL: absent) */
};

/* A txn's compares (TXN_COMPARE) or watched keys (TXN_WATCH): key holds value, 0 for
 * absent. A WATCH's values and revisions are what its read found. */
struct txn_cmp {
	uint32_t key;
	uint64_t value;
	uint64_t mod_rev;   /* TXN_WATCH: the guard */
	uint32_t absent_as; /* TXN_COMPARE, value 0: MOD, VERSION or CREATE = 0 (kv_cmp_target) */
};

struct hist_txn {
	enum txn_shape shape;
	uint32_t n_cmp, n_then, n_else;
	struct txn_cmp cmp[SIM_MULTI_KEYS];
	struct txn_sub then[SIM_TXN_SUBS], els[SIM_TXN_SUBS];
	bool watched;  /* TXN_WATCH: the read is done, cmp holds what it found */
	bool watching; /* TXN_WATCH: the read is in flight: the connection holds the rest */
	enum check_branch branch;
};

struct hist_op {
	uint32_t client;
	enum check_kind kind;
	bool write;
	uint32_t key;
	uint32_t nkeys;  /* mset, delrange: the keys key .. key + nkeys - 1 (of m0..m2) */
	uint32_t ttl_ms; /* a put on m0..m2: its TTL, 0 for none (one in three has one) */
	uint64_t value;  /* put, append, cas: the unique value written; incr: the delta; mset:
	                    the first of nkeys consecutive values */
	uint64_t expect; /* cas: the value expected (0: the key must be absent) */
	uint64_t seq;    /* a write's sequence number in its client's session */
	uint32_t tries;  /* proposals of a write: retries carry the same sequence number */
	char *result;    /* get: the value read (NULL: absent); incr: the new value */
	enum check_existed existed; /* delete */
	/* 1 ok, 0 failed (no effect; cas: the comparison failed), -1 unknown, -2 pending,
	 * -3 never applied (left out of the history). */
	int ok;
	uint64_t call;
	uint32_t call_sub; /* its rank among its client's operations called at `call` */
	uint64_t ret;
	raft_index index; /* where an acknowledged write was applied */
	raft_term term;
	struct hist_txn *txn; /* CHECK_KIND_TXN */
	uint32_t lease;       /* a put on m0..m2 attached to a lease: its index in s->leases
	                         plus one (0: none) */
};

/* A lease a client granted on m0..m2 (lease.c); its outcomes as seen. */
struct sim_lease {
	uint64_t id;
	uint32_t client;
	uint32_t ttl_ms;
	uint64_t grant_call;
	bool granted;         /* the grant was acknowledged: puts may attach */
	uint64_t alive_from;  /* the latest call of the grant or an acknowledged keepalive */
	uint64_t revoke_call; /* a revoke was proposed then (0: none) */
	uint64_t revoke_ret;
	int revoke_ok; /* 1 acknowledged, 0 no effect, -1 unknown, -2 pending */
};

/* A request in the driver's hands; its callback finds the client through it. */
struct request {
	struct sim *sim;
	uint32_t client;
	uint64_t op;
	uint32_t node;
	uint32_t epoch;
	uint32_t conn;        /* the client's connection it came on (its gen) */
	struct request *next; /* all requests of the run, freed at its end */
};

/* One operation sent on a connection and not answered yet. */
struct conn_op {
	uint64_t op;   /* its history index */
	uint64_t sent; /* when the client sent it */
	bool started;  /* in the driver's hands; else held back by the ordering rule */
	bool held;     /* the rule held it back (counted once) */
};

/* A client's connection to one incarnation of a node, and the node's side of it
 * (conn.c): the operations sent and not answered yet, oldest first. The node starts
 * them in order as far as src/driver/order.h allows, the rule the RESP frontend
 * follows, and holds back the rest. */
struct sim_conn {
	bool open;
	bool broken; /* it refused a command (not the leader...): the client sends no more */
	bool processing;
	uint32_t node, epoch;
	uint32_t gen; /* connections the client opened: answers on older ones are ignored */
	struct conn_op ops[SIM_PIPE_MAX];
	uint32_t n;
	struct driver_order order;
};

struct client {
	uint32_t id;
	uint32_t guess; /* node it believes leads */
	/* Operations it keeps outstanding at most: 1, or 2..SIM_PIPE_MAX if it pipelines.
	 * A client of depth 1 writes under its session and sends a write whose outcome is
	 * unknown again; a pipelining one writes without a session and never resends. */
	uint32_t depth;
	struct sim_conn conn;
	uint64_t resend;    /* an operation to send (again) once it can (SIM_NO_OP: none) */
	uint64_t resend_at; /* ...not before this */
	uint64_t next_at;   /* when it may start its next operation */
	uint64_t timer_at;  /* when its armed timer fires (UINT64_MAX: none) */
	uint64_t last_call; /* the call time of its latest operation, and how many share it */
	uint32_t n_same_call;
	uint32_t gen;                /* its timer; older timer events are ignored */
	uint64_t seen[SIM_ALL_KEYS]; /* the last value it wrote or read per key, for cas */
	uint64_t session; /* its kv session (0: none yet), as the server's clients have */
	uint32_t lease;   /* the lease it attaches puts to: index in s->leases plus one */
	uint64_t seq;     /* the sequence number of its latest write */
	bool opening;     /* a session open is under way, on this node incarnation */
	uint32_t open_node, open_epoch;
};

struct sim {
	struct sim_opts opts;
	struct sim_result *res;
	uint64_t rng;
	uint64_t drive_rng; /* the drivers' patterns: a stream of its own, so that with a
	                       ready after every input a run is what it was without them */
	uint64_t txn_rng;   /* the txns' draws (txn.c): a stream of its own, so that with
	                       txns off a run is what it was before there were any */
	uint64_t lease_rng; /* the m keys' leases (lease.c): likewise */
	struct sim_lease *leases;
	uint32_t n_leases, cap_leases;
	struct lease_rq *lease_rqs;
	uint64_t hash;
	uint64_t now;
	bool failed;
	bool healed;
	bool damage_done; /* SIM_FAULT_DAMAGE struck (once per run) */
	uint64_t heal_time;

	uint32_t n;
	struct node nodes[SIM_MAX_NODES];

	struct ev_key *heap; /* the queue: keys of events, whose bodies are in evs */
	size_t n_heap;
	size_t cap_heap;
	struct event *evs;
	size_t cap_evs;
	uint32_t *ev_free; /* free slots of evs */
	size_t n_ev_free;
	uint64_t ev_seq;

	/* Fault intensities, drawn from the seed. */
	double p_drop, p_dup, p_delay_req, p_delay_resp;
	uint64_t delay_us, jitter_us, nemesis_gap_us, disk_us_min, disk_us_spread;
	bool pre_vote, check_quorum;
	uint32_t snap_every;    /* entries between snapshots (0: never) */
	uint32_t snap_trailing; /* entries kept behind a snapshot */
	uint32_t chunk_bytes;
	uint32_t n_initial;     /* initial voters: ids 1..n_initial */
	uint64_t segment_bytes; /* WAL segment size: small, so segments rotate often */
	char *lin_report;       /* the checker's explanation of a violation, if any */
	bool cut[SIM_MAX_NODES][SIM_MAX_NODES];
	uint64_t link_last[SIM_MAX_NODES][SIM_MAX_NODES]; /* FIFO: last delivery time */
	/* diverge: the last AppendEntries sent on each link, which the network may deliver
	 * again right behind a snapshot that completes (a stale packet). */
	struct raft_message *last_append; /* [from * SIM_MAX_NODES + to] */
	/* diverge's script (nemesis.c): its phase (0: not running) and the pair it keeps. */
	uint32_t diverge_phase;
	uint32_t diverge_a, diverge_b;
	uint64_t msgs_sent;
	uint32_t n_existing; /* nodes started at least once */
	/* reap_removed's last full pass: its members (bit i: node i + 1), configuration
	 * index and existing nodes. */
	bool reap_done;
	uint32_t reap_members;
	raft_index reap_at;
	uint32_t reap_existing;

	/* Checker state. */
	raft_id *leader_of_term;
	uint64_t n_leader_of_term;
	struct committed *committed;
	uint64_t n_committed;
	struct entry_key *entries; /* open-addressing set of (index, term) */
	uint64_t cap_entries;
	uint64_t n_entries;

	/* Clients and their history. */
	struct client clients[SIM_MAX_CLIENTS];
	uint32_t n_clients;
	struct hist_op *hist;
	uint64_t n_hist;
	uint64_t cap_hist;
	uint64_t next_value;
	struct request *requests;
	struct wlog_rev *wlog; /* the oracle of the watchers, by revision (watch.c) */
	uint64_t cap_wlog;
	bool fresh_acked; /* a write called after healing was acknowledged */
	raft_index fresh_index;
	raft_index max_acked_index;

	bool record; /* sim_log keeps the recent ring (otherwise, without a trace, it does
	                nothing: a failed run is run again with it on) */
	char recent[SIM_RECENT][SIM_LINE];
	uint64_t recent_next;
	uint64_t narrated_at;
	uint64_t narrated_commit;
};

/* util.c */
uint64_t rng_next(uint64_t *state);
uint64_t rng_below(struct sim *s, uint64_t n);
bool rng_chance(struct sim *s, double p);
/* Folds `v` into the run's trace hash. */
void hash_mix(struct sim *s, uint64_t v);
void *sim_xrealloc(void *p, size_t n);
/* A driver.h error's name. */
const char *sim_driver_error(int rv);
void sim_log(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_narrate(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_fail(struct sim *s, const char *property, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t sim_payload_hash(const struct raft_entry *e);

/* net.c */
void ev_push(struct sim *s, struct event ev);
struct event ev_pop(struct sim *s);
/* Sends `m` over the simulated network, where faults may drop, copy or delay it. */
void net_send(struct sim *s, const struct raft_message *m);
/* diverge: node `to` just stepped a complete snapshot from `from`; the network may
 * deliver the last append `from` sent it again, right behind. */
void net_replay_after_snapshot(struct sim *s, uint32_t from, uint32_t to);
void net_free(struct sim *s);

/* node.c */
void sim_schedule(struct sim *s, struct event ev);
uint64_t sim_rand(struct sim *s, uint64_t below);
void node_start(struct sim *s, struct node *nd);
void node_crash(struct sim *s, struct node *nd);
/* The node's storage failed: it stops, and restarts later from its disk. */
void node_fail_stop(struct sim *s, struct node *nd);
void node_handle_ready(struct sim *s, struct node *nd);
/* The disk finished the node's oldest outstanding batch. */
void node_disk_done(struct sim *s, struct node *nd);
void sim_node_ready(struct sim *s, struct node *nd);
/* An input was stepped into node `nd`: takes its readies now or arms a drain, as its
 * driver's pattern says. */
void sim_node_input(struct sim *s, struct node *nd);

/* The state machine's fingerprint, compared wherever the same index is applied. */
uint64_t sim_state_hash(const struct node *nd);
/* The client key `key` as the store names it ("k0" ...); returns its length. */
size_t sim_key_name(uint32_t key, char buf[8]);
/* After a call into node `nd`'s driver: stops the node if the driver asked to. */
void node_after(struct sim *s, struct node *nd);

/* nemesis.c */
void nemesis_step(struct sim *s);
/* The address-book key of node `id` (under KV_MEMBER_PREFIX); returns its length. */
size_t sim_member_key(raft_id id, char buf[40]);
/* Decommissions nodes that a committed configuration removed. */
void reap_removed(struct sim *s);
/* Heals every fault: the liveness phase begins. */
void heal(struct sim *s);
/* Draws this run's fault intensities from its seed. */
void draw_faults(struct sim *s);

/* disk.c: the model disk */
void disk_init(struct sim *s, struct node *nd);
void disk_free(struct sim *s, struct node *nd);
/* Hands batch `rd` (copied; the copy is owned by the disk) to the disk. */
void disk_submit(struct sim *s, struct node *nd, const struct raft_ready *rd);
/* The oldest pending batch is now durable; returns it (caller advances and frees), or
 * NULL if the sync failed and the node must stop. */
struct raft_ready *disk_complete(struct sim *s, struct node *nd);
/* Power loss: a random prefix of the pending batches may survive. Releases them. */
void disk_crash(struct sim *s, struct node *nd);
/* Opens the node's storage and recovers it into `boot`, checked against the oracle;
 * disk_load_done releases what it lent. Returns false (with the run failed) if
 * recovery refused the data directory or lost acknowledged state. */
bool disk_load(struct sim *s, struct node *nd, struct raft_boot *boot);
void disk_load_done(struct sim *s, struct node *nd, struct raft_boot *boot);
/* Arms a disk fault: writes or syncs fail with EIO or ENOSPC after a few calls. */
void disk_fault(struct sim *s, struct node *nd);
void disk_fault_clear(struct node *nd);
/* A snapshot the node took itself, made durable at once (false: the storage failed). */
bool disk_put_snapshot(struct sim *s, struct node *nd, raft_index index, raft_term term,
                       const struct raft_conf *conf, const struct raft_buf *data);
/* Whether the durable state holds (index, term), in the log or under the snapshot. */
bool disk_has(const struct node *nd, raft_index index, raft_term term);
bool disk_had(struct node *nd, raft_index index, raft_term term);
/* Damages the durable data of a crashed node: a bit flipped or a file cut in a WAL
 * segment, its meta or a snapshot. */
void disk_damage(struct sim *s, struct node *nd);
/* SIM_FAULT_STALL: the node's disk completes nothing for `us`. */
void disk_stall(struct sim *s, struct node *nd, uint64_t us);
/* After a tick: a leader whose disk the driver found stalled must step down in time. */
void disk_check_stall(struct sim *s, struct node *nd);

/* checks.c */
void observe_soft_state(struct sim *s, struct node *nd, const struct raft_ready *rd);
void check_new_entries(struct sim *s, struct node *nd, const struct raft_ready *rd);
void check_applied(struct sim *s, struct node *nd, const struct raft_entry *e);
/* A leader's snapshot at (index, term) replaced node `nd`'s state; `state`: the state
 * machine is as the snapshot left it (no later entry applied yet), so compare it too. */
void check_installed(struct sim *s, struct node *nd, raft_index index, raft_term term, bool state);
void check_state_after_apply(struct sim *s, struct node *nd, raft_index index);
/* The up leader of the highest term, or NULL. */
struct node *sim_newest_leader(struct sim *s);
/* The configuration of the newest leader, or NULL; members are up to date with it. */
const struct raft_conf *sim_current_conf(struct sim *s);
void check_node(struct sim *s, struct node *nd);
void final_checks(struct sim *s);
void checks_free(struct sim *s);

/* lincheck.c */
void check_linearizable(struct sim *s);

/* clients.c */
/* Hands operation `op` of client `c` to node `nd`'s driver; returns its error at once. */
int client_op_start(struct sim *s, struct client *c, struct node *nd, uint64_t op);
/* The node refused operation `op` at once with `rv`: it had no effect. */
void client_op_refused(struct sim *s, struct client *c, uint64_t op, int rv);
/* The client gave up its connection with `op` outstanding (`started`: in the driver). */
void client_op_abandoned(struct sim *s, struct client *c, uint64_t op, bool started);
void clients_init(struct sim *s, uint32_t n);
void clients_free(struct sim *s);
void client_event(struct sim *s, uint32_t client, uint32_t epoch);
bool liveness_done(struct sim *s);
void history_write(const struct sim *s, const char *path);
/* For txn.c: a request for operation `op` on node nd, a write sent under the client's
 * session (or none, pipelining), the client still waiting for a request (taken off its
 * connection), and what follows an answer. */
struct request *client_request(struct sim *s, struct client *c, struct node *nd, uint64_t op);
int client_send_write(const struct client *c, struct node *nd, const struct hist_op *op,
                      struct kv_cmd *cmd, struct request *rq);
struct client *client_of(const struct request *rq);
void client_answered(struct sim *s, struct client *c);

/* lease.c */
/* Expiry on the side: a TTL or lease command on x0..x3, outside the history. */
void expiry_side(struct sim *s, struct client *c);
/* Before an operation starts: the client may grant, keep alive or revoke its lease. */
void lease_step(struct sim *s, struct client *c);
/* An operation on m0..m2 just drawn may become a put attached to the client's lease. */
void lease_attach(struct sim *s, const struct client *c, struct hist_op *op);
void lease_free(struct sim *s);

/* txn.c */
/* Turns the operation on m0..m2 just drawn into a txn, SIM_TXN_PERCENT of the time. */
void txn_draw(struct sim *s, struct client *c, struct hist_op *op);
/* Starts txn `op`: a WATCH's read first, or the command. Returns its error at once. */
int txn_start(struct sim *s, struct client *c, struct node *nd, uint64_t op, struct request *rq);
/* Whether the applied entry carries the txn (one of its put's unique values). */
bool txn_carries(const struct raft_entry *e, const struct hist_op *op);
/* The txn's reply, recorded: 1 it ran (a branch), 0 a WATCH guard failed. */
int txn_outcome(struct sim *s, struct client *c, struct hist_op *op, const struct kv_reply *r);
/* Whether the connection must hold operation `op` (and the ones after it) back: a WATCH
 * txn waits for nothing to be in flight, and holds the rest until its read is done. */
bool txn_holds(const struct sim *s, uint64_t op, bool started, const struct driver_order *o);
/* The txn as the checker's operation; *text (freed by the caller) holds its strings. */
struct txn_text;
void txn_check_op(const struct hist_op *h, struct check_op *op, struct txn_text **text);
void txn_free(struct hist_op *op);

/* watch.c */
/* Sets node nd's change hook (after it booted) and catches its watchers up. */
void watch_attach(struct sim *s, struct node *nd);
/* A snapshot replaced the node's state: its watchers catch up. */
void watch_resync(struct sim *s, struct node *nd);
/* After an applied entry that found the store at revision `before`. */
void watch_applied(struct sim *s, struct node *nd, uint64_t before);
void watch_drain(struct sim *s, struct node *nd);
void watch_final(struct sim *s);
void watch_free(struct sim *s);

/* conn.c: the node's side of a client's connection */
void conn_open(struct sim *s, struct client *c, struct node *nd);
/* Whether the connection is open to a node incarnation that is still up. */
bool conn_alive(const struct sim *s, const struct client *c);
/* Queues operation `op` on the connection (the caller then runs conn_process). */
void conn_push(struct sim *s, struct client *c, uint64_t op);
/* Starts what the ordering rule lets start, in order. With `input`, the node then
 * takes its ready as its pattern says (a client's event); without (from within a
 * driver callback), the driver's own drain picks the new requests up. */
void conn_process(struct sim *s, struct client *c, bool input);
/* An answer to `op` on connection `gen` came: takes it off the connection (the ordering
 * rule's count drops). Returns false if the answer is stale (an older connection, or an
 * operation no longer on it). */
bool conn_take(struct sim *s, struct client *c, uint32_t gen, uint64_t op);
/* Whether `op` is still on connection `gen`, started (its answer is awaited). */
bool conn_has(const struct client *c, uint32_t gen, uint64_t op);
/* Closes the connection; outstanding operations go to client_op_abandoned. */
void conn_close(struct sim *s, struct client *c);

#endif /* CONCORD_SIM_INTERNAL_H */
