/* impl.h: the core's internal state and the functions its source files share. */
#ifndef CONCORD_RAFT_IMPL_H
#define CONCORD_RAFT_IMPL_H

#include "concord/raft.h"

#include <assert.h>

/* ---- util.c */
void *raft_xmalloc(size_t n);
void *raft_xcalloc(size_t n, size_t size);
void *raft_xrealloc(void *p, size_t n);
struct raft_buf *raft_buf_alloc(size_t len); /* uninitialized contents, one reference */
void raft_entry_copy(struct raft_entry *dst, const struct raft_entry *src);
void raft_entry_release(struct raft_entry *e);

/* ---- log.c: the in-memory log. It begins after (offset, offset_term), the last entry
 * covered by a snapshot; e[i] holds index offset + 1 + i. */
struct raft_log {
	struct raft_entry *e;
	uint64_t n;
	uint64_t cap;
	raft_index offset;
	raft_term offset_term;
};

void log_init(struct raft_log *l, raft_index offset, raft_term offset_term);
void log_free(struct raft_log *l);
raft_index log_last_index(const struct raft_log *l);
raft_term log_last_term(const struct raft_log *l);
/* Term at `index`: offset_term at the offset, 0 outside [offset, last]. */
raft_term log_term_at(const struct raft_log *l, raft_index index);
struct raft_entry *log_get(const struct raft_log *l, raft_index index);
/* Appends a copy of `e` (referencing its payload); e->index must be last + 1. */
void log_append(struct raft_log *l, const struct raft_entry *e);
/* Drops every entry with index >= `index` (which must be > offset). */
void log_truncate_from(struct raft_log *l, raft_index index);
/* Drops every entry up to `index` (offset <= index <= last); the log then begins after
 * `index`, whose term it remembers. */
void log_compact(struct raft_log *l, raft_index index);
/* Empties the log, which then begins after (index, term). */
void log_reset(struct raft_log *l, raft_index index, raft_term term);
/* The first index of the run of entries sharing the term at `index` (>= offset + 1). */
raft_index log_first_index_of_term(const struct raft_log *l, raft_index index);
/* The last index holding `term`, or 0 if the log holds no entry of that term. */
raft_index log_last_index_of_term(const struct raft_log *l, raft_term term);

/* ---- quorum.c: majorities over a configuration, joint or simple. */
enum vote_result { VOTE_PENDING, VOTE_WON, VOTE_LOST };

struct vote {
	raft_id id;
	bool granted;
};

enum vote_result quorum_vote_result(const struct raft_conf *c, const struct vote *votes,
                                    uint32_t n_votes);
/* The highest value that a quorum of voters has reached, where value(ctx, id) is each
 * voter's value: for match indexes this is the commit candidate (5.3, 5.4.2). */
uint64_t quorum_value(const struct raft_conf *c, uint64_t (*value)(void *ctx, raft_id id),
                      void *ctx);

/* The distinct voters of both halves of `c` into ids[2 * RAFT_MAX_MEMBERS]. */
uint32_t conf_voter_ids(const struct raft_conf *c, raft_id *ids);
/* Every distinct member, voters and learners, into ids[3 * RAFT_MAX_MEMBERS]. */
uint32_t conf_member_ids(const struct raft_conf *c, raft_id *ids);

/* ---- progress.c: the leader's view of each member (5.3, thesis 3.5 and 10.2). */
enum progress_state {
	PROGRESS_PROBE,     /* one AppendEntries at a time until the match is found */
	PROGRESS_REPLICATE, /* pipelined: send optimistically within the inflight window */
	PROGRESS_SNAPSHOT,  /* behind the compacted log: streaming a snapshot in chunks */
};

struct progress {
	raft_id id;
	raft_index match;
	raft_index next;
	enum progress_state state;
	bool probe_sent;      /* PROBE: an append is unanswered; wait for a reply or a
	                         heartbeat reply before the next */
	bool recent_active;   /* heard from since the last check-quorum round */
	uint64_t read_ack;    /* highest read-index round this member acknowledged */
	uint32_t idle_ticks;  /* ticks spent waiting for an answer to an append */
	raft_index *inflight; /* ring of the last index of each unacknowledged append */
	uint32_t in_start;
	uint32_t in_count;
	uint32_t in_cap;
	/* PROGRESS_SNAPSHOT: the snapshot being sent and how far. */
	raft_index snap_index;
	raft_term snap_term;
	struct raft_buf *snap_data;
	struct raft_conf snap_conf;
	uint64_t snap_sent;  /* bytes sent */
	uint64_t snap_acked; /* bytes acknowledged */
};

void progress_init(struct progress *p, raft_id id, raft_index next, uint32_t inflight_cap);
void progress_free(struct progress *p);
void progress_become_probe(struct progress *p);
void progress_become_replicate(struct progress *p);
bool progress_inflight_full(const struct progress *p);
void progress_inflight_add(struct progress *p, raft_index last);
void progress_inflight_free_to(struct progress *p, raft_index index);
/* Whether the leader should hold back further appends to this member. */
bool progress_paused(const struct progress *p);

/* ---- the node */
struct msg_queue {
	struct raft_message *v;
	uint32_t n;
	uint32_t cap;
};

struct pending_read {
	uint64_t context;
	raft_index index;
	uint64_t round; /* read-index round whose quorum confirms it; 0: not started */
};

struct read_queue {
	struct pending_read *v;
	uint32_t n;
	uint32_t cap;
};

struct done_reads {
	struct raft_read *v;
	uint32_t n;
	uint32_t cap;
};

/* A configuration and the index of the entry (or snapshot) it comes from. */
struct conf_at {
	raft_index index;
	struct raft_conf conf;
};

/* A follower's snapshot arriving in chunks. */
struct snap_recv {
	raft_index index;
	raft_term term;
	uint64_t size;
	uint64_t got;
	struct raft_buf *buf;
	struct raft_conf conf;
};

struct raft {
	struct raft_config cfg;
	raft_id id;

	/* Figure 2, persistent state on all servers (the log is `log`). */
	raft_term term;
	raft_id vote;
	struct raft_log log;

	/* Volatile state. */
	enum raft_role role;
	raft_id leader;
	raft_index commit;
	struct raft_conf conf; /* in force: the last configuration in the log (thesis 4.1) */
	struct conf_at *confs; /* the base configuration and every one in the log after it */
	uint32_t n_confs;
	uint32_t cap_confs;

	/* The last snapshot: what a follower behind the compacted log is sent. */
	raft_index snap_index;
	raft_term snap_term;
	struct raft_conf snap_conf;
	struct raft_buf *snap_data;
	struct snap_recv recv; /* follower: a snapshot arriving */
	bool install_pending;  /* follower: a received snapshot awaits a ready batch */
	bool install_discard_log;

	uint32_t election_elapsed;   /* ticks since the last reset of the election timer
	                                (for a leader: since the last check-quorum) */
	uint32_t heartbeat_elapsed;  /* leader: ticks since the last heartbeat */
	uint32_t randomized_timeout; /* this term's election timeout, [e, 2e) */
	uint64_t prng;

	/* Candidate and pre-candidate: the votes received. */
	struct vote votes[2 * RAFT_MAX_MEMBERS];
	uint32_t n_votes;

	/* Leader. */
	struct progress *prs;
	uint32_t n_prs;
	raft_id transferee;
	uint32_t transfer_elapsed;
	bool committed_in_term; /* an entry of the current term is committed (5.4.2) */
	bool append_pending;    /* proposals appended since the last broadcast */
	struct read_queue reads;
	uint64_t read_round; /* last read-index round started */

	/* Persistence bookkeeping for the ready/advance contract. */
	struct raft_hard_state handed_hs; /* hard state last handed out in a batch */
	raft_index handed;                /* last index handed out for persisting */
	raft_index persisted;             /* last index known durable */
	raft_index applied;               /* last index handed out for applying */
	uint64_t ready_seq;               /* last batch taken */
	uint64_t advanced_seq;            /* last batch advanced */

	/* Output not yet taken. */
	struct msg_queue msgs;           /* may be sent at once */
	struct msg_queue msgs_persisted; /* must wait for the batch to be durable */
	struct done_reads reads_done;

	/* The soft state last reported in a batch. */
	enum raft_role reported_role;
	raft_id reported_leader;
	raft_term reported_term;

	/* Fail-stop (raft.h, "Divergence"): set once a leader's log contradicted a
	 * committed entry; the node then takes no more input. */
	/* raft_boot.catch_up: no votes or campaigns until the durable log reaches
	 * catch_up_to and the commit index of a leader's AppendEntries (catch_up_heard). */
	bool catch_up;
	bool catch_up_heard;
	raft_index catch_up_to;

	bool diverged;
	bool diverged_reported; /* a batch carrying the error was taken */
	struct raft_divergence divergence;
};

/* ---- conf.c: the configuration history (thesis 4.1: a server uses the latest
 * configuration in its log, committed or not). */
void conf_init(struct raft *r, raft_index index, const struct raft_conf *base);
void conf_free(struct raft *r);
/* Appends an entry to the log, taking its configuration into force if it has one. */
void conf_log_append(struct raft *r, const struct raft_entry *e);
/* Truncates the log from `index`, reverting configurations that came from it. */
void conf_log_truncate(struct raft *r, raft_index index);
/* The configuration in force at `index`. */
const struct raft_conf *conf_at_index(const struct raft *r, raft_index index);
/* The index of the entry that brought the configuration in force. */
raft_index conf_index(const struct raft *r);
/* Forgets configurations older than the one in force at `index`. */
void conf_compact(struct raft *r, raft_index index);
/* Leader: after the configuration changed, tracks exactly its members. */
void conf_sync_progress(struct raft *r);
/* Leader: after commit advanced, finishes joint consensus or steps down. */
void conf_on_commit(struct raft *r);
bool conf_transition_pending(const struct raft *r);

/* ---- snapshot.c */
void snapshot_send(struct raft *r, struct progress *p);
void snapshot_resend(struct raft *r, struct progress *p);
void snapshot_recv(struct raft *r, const struct raft_message *m);
void snapshot_recv_response(struct raft *r, const struct raft_message *m);
void snapshot_recv_reset(struct raft *r);

/* ---- raft.c */
void raft_send(struct raft *r, struct raft_message *m);
bool raft_msg_needs_persistence(const struct raft_message *m);
/* The node fail-stops: `m` says that index `index`, committed here with term `ours`,
 * has term `theirs` in the sender's log. Drops output not yet taken. */
void raft_diverge(struct raft *r, const struct raft_message *m, raft_index index, raft_term ours,
                  raft_term theirs);
void raft_reset_election_timer(struct raft *r);
struct progress *raft_progress_of(struct raft *r, raft_id id);
bool raft_is_voter(const struct raft *r);

/* ---- election.c */
void election_become_follower(struct raft *r, raft_term term, raft_id leader);
/* Forgets the leader's progress, transfer and pending reads (no-op for a follower). */
void election_drop_leader_state(struct raft *r);
void election_start(struct raft *r, bool pre_vote, bool transfer);
void election_recv_vote_request(struct raft *r, const struct raft_message *m);
void election_recv_vote_response(struct raft *r, const struct raft_message *m);
void election_become_leader(struct raft *r);
/* Election restriction (5.4.1): is a log ending at (index, term) at least as
 * up-to-date as ours? */
bool election_log_up_to_date(const struct raft *r, raft_index index, raft_term term);
/* Whether the node still catches up after damage (raft_boot.catch_up); ends the mode once
 * its conditions hold. A node catching up neither votes nor campaigns. */
bool election_catching_up(struct raft *r);
bool election_catch_up_done(const struct raft *r);
/* A leader's commit index, from an AppendEntries (`append`) or a heartbeat. */
void election_note_leader_commit(struct raft *r, raft_index commit, bool append);

/* ---- replication.c */
void replication_send_append(struct raft *r, struct progress *p, bool send_empty);
void replication_broadcast_append(struct raft *r);
void replication_broadcast_heartbeat(struct raft *r, uint64_t context);
void replication_recv_append(struct raft *r, const struct raft_message *m);
void replication_recv_append_response(struct raft *r, const struct raft_message *m);
void replication_recv_heartbeat(struct raft *r, const struct raft_message *m);
void replication_recv_heartbeat_response(struct raft *r, const struct raft_message *m);
/* Leader: advances the commit index if a quorum matches an entry of its term. */
bool replication_maybe_commit(struct raft *r);
/* Leader: tells followers a new commit index (an append, empty if need be). */
void replication_broadcast_commit(struct raft *r);
void replication_commit_to(struct raft *r, raft_index index);
raft_index replication_self_match(const struct raft *r);

/* ---- read.c */
/* Starts a confirmation round for reads waiting for one, if the leader may. */
void read_flush(struct raft *r);
bool read_flush_pending(const struct raft *r);
/* A member acknowledged a round: release the reads a quorum confirmed. */
void read_on_ack(struct raft *r);
void read_drop_all(struct raft *r);

#endif /* CONCORD_RAFT_IMPL_H */
