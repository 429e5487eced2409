/* raft.h: the Concord Raft core, a pure and deterministic consensus state machine. */
#ifndef CONCORD_RAFT_H
#define CONCORD_RAFT_H

/*
 * The core does no I/O, reads no clock, starts no thread and keeps no global state.
 * The caller owns a `struct raft` and drives it with inputs:
 *
 *   raft_step()            a message received from a peer
 *   raft_tick()            one unit of logical time passed
 *   raft_propose()         a client asks to replicate a payload (leader only)
 *   raft_read_index()      a client asks for a linearizable read (leader only)
 *   raft_transfer_leader(), raft_step_down(), raft_campaign()
 *   raft_change_config()   membership: learners, promotion, removal (joint consensus)
 *   raft_snapshot_taken()  the state machine saved a snapshot; compact the log
 *
 * and drains the output as a *ready* batch (raft_ready), which it acknowledges with
 * raft_advance() once the batch's state is durable. The same inputs always produce the
 * same outputs, bit for bit: randomness (election jitter) comes from a PRNG seeded by
 * `struct raft_config.seed`, time is counted in ticks.
 *
 * Persistence before speech. Each ready batch `rd` asks for five things:
 *
 *   1. Send rd.messages. These never depend on unpersisted state: they are a leader's
 *      AppendEntries/heartbeats (a leader may send entries before its own write is
 *      durable, Raft thesis 10.2.1; it counts itself toward a quorum only once they
 *      are), pre-votes, and heartbeat acknowledgements.
 *   2. Persist rd.snapshot (if rd.has_snapshot: a complete snapshot received from the
 *      leader; store it, then discard the stored entries it covers, or the whole stored
 *      log if rd.snapshot_discard_log), rd.hard_state (if rd.has_hard_state) and
 *      rd.entries: discard every stored entry whose index is >= rd.entries[0].index,
 *      then append rd.entries. All of it durably (fsync'd). The entries go after the
 *      snapshot they follow; the hard state may go first (a storage that refuses a
 *      snapshot above its durable term wants it first, as the server's does).
 *   3. Send rd.persisted_messages. These are vote requests and grants, AppendEntries
 *      acknowledgements and the acknowledgement of an installed snapshot: each promises
 *      that the term, vote or entries it reflects will survive a crash (Raft Figure 2,
 *      "Persistent state ... updated on stable storage before responding to RPCs").
 *   4. If rd.has_snapshot, replace the state machine's state with the snapshot's. Then
 *      apply rd.committed in order; serve each of rd.reads once the state machine has
 *      applied at least its index.
 *   5. Call raft_advance(r, &rd).
 *
 * The numbers name the steps; they are not an order. The dependencies are:
 *
 *   - 3 after 2: persisted messages go only once this batch, and every batch taken
 *     before it, is durable.
 *   - 5 after 1, 2 and 3: advancing says the batch is durable and its messages are
 *     sent (or copied: advancing releases them).
 *   - 4 on its own: rd.committed holds only entries already durable on this node (from
 *     batches advanced earlier), so a state machine kept in memory may install and apply
 *     at once, before step 2, as long as batches are applied in the order taken. A state
 *     machine that is itself durable must wait for step 2 before installing rd.snapshot,
 *     or it could survive a crash ahead of the log.
 *   - 1 whenever, before 5.
 *
 * Both drivers in this tree run 1, 4, 2, 3, 5: send, apply, hand the batch to the disk,
 * and on completion send the persisted messages and advance. Several batches may be
 * outstanding at once (take a ready while an earlier batch is still being fsync'd: this
 * is group commit) provided they are persisted and advanced in the order they were
 * taken. Messages that wait for persistence are held inside the batch that carries the
 * state they depend on, so a caller that keeps these dependencies cannot speak early.
 *
 * Inputs and batches interleave freely: a caller may step any number of messages, ticks
 * and calls between two readies (an event loop steps each message as it arrives and
 * drains once per loop iteration), and take a ready, or not, with batches outstanding.
 * Whatever the interleaving, each batch says exactly how to bring the stored state to
 * the core's, and nothing is acknowledged or handed out for applying before the disk
 * holds it.
 *
 * The core checks what it can see, with assertions that are on in every build of this
 * tree (meson's b_ndebug=false): batches are advanced in the order taken and only once
 * taken, all are advanced before raft_free, messages are sorted correctly between
 * rd.messages and rd.persisted_messages, the hard state handed out never goes back, and
 * its own bookkeeping of what was handed out, persisted and applied stays within the
 * log. It cannot see whether the caller waited for the fsync before step 3: that part
 * of the contract is the caller's.
 *
 * Proposals. raft_propose() returns the (term, index) the entry was given. The proposer
 * has succeeded only if the entry later applied at that index carries that term; if a
 * different entry is applied there, the proposal failed. If the node loses leadership
 * first the outcome is unknown until the index is applied.
 *
 * Ownership. Unless a function says otherwise, pointers passed in stay owned by the
 * caller and are not retained after the call returns; the core takes references to the
 * entry payloads (struct raft_buf) it keeps. Everything reachable from a ready batch is
 * owned by the core and valid until raft_advance() on that batch.
 *
 * Allocation failure inside the core aborts the process: the core cannot report it
 * without leaving a half-applied input behind, and every input the network or disk can
 * produce is bounded by the caller's frame and entry size limits.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t raft_id;    /* a node's id; RAFT_NONE (0) is no node */
typedef uint64_t raft_term;  /* a term; 0 before any election */
typedef uint64_t raft_index; /* a log index; the first entry is 1, 0 is "no entry" */

#define RAFT_NONE ((raft_id)0)

/* Most voters and most learners a configuration may hold. */
#define RAFT_MAX_MEMBERS 16

/* ----------------------------------------------------------------------------------
 * Errors
 */

#define RAFT_ERRORS(X)                                                                             \
	X(RAFT_OK, "ok")                                                                           \
	X(RAFT_ENOTLEADER, "this node is not the leader")                                          \
	X(RAFT_EBUSY, "a leadership transfer is in progress")                                      \
	X(RAFT_EINVAL, "invalid argument")                                                         \
	X(RAFT_ETOOBIG, "entry larger than the configured maximum")                                \
	X(RAFT_ENOPEER, "no such voter in the configuration")                                      \
	X(RAFT_ECORRUPT, "boot state is inconsistent")                                             \
	X(RAFT_ENOVOTER, "this node is not a voter")                                               \
	X(RAFT_ECHANGING, "a configuration change is in progress")                                 \
	X(RAFT_ELAGGING, "the learner is too far behind the leader to become a voter")             \
	X(RAFT_ECOMPACTED, "the log no longer holds that index")                                   \
	X(RAFT_EDIVERGED, "a leader's log conflicts with an entry this node committed")

enum raft_error {
#define RAFT_ERROR_ENUM_(name, text) name,
	RAFT_ERRORS(RAFT_ERROR_ENUM_)
#undef RAFT_ERROR_ENUM_
	    RAFT_ERROR_COUNT_
};

/* A static string describing `err` (any int; unknown values get a generic text). */
const char *raft_strerror(int err);

/* ----------------------------------------------------------------------------------
 * Payload buffers: immutable, reference counted, shared between the log, messages in
 * flight and ready batches so that no entry is copied on its way through the core.
 * Not thread-safe: a buffer belongs to one thread at a time.
 */

struct raft_buf {
	uint32_t refs;
	uint32_t len;
	unsigned char
	    *data; /* len bytes, immutable once shared: inline after the struct, or the host's */
	/* NULL: the bytes are inline and go with the struct. Otherwise called instead of
	 * free() when the last reference goes: a host's buffer (raft_buf_init_external)
	 * whose bytes live elsewhere, for example a mapped file. */
	void (*release)(struct raft_buf *b);
};

/* A new buffer holding a copy of `len` bytes at `data`, with one reference. */
struct raft_buf *raft_buf_new(const void *data, size_t len);
/* Sets up `b` (the host's, usually at the start of a larger struct of its own) to stand
 * for `len` bytes at `data` that stay valid and unchanged until `release(b)`, which the
 * last raft_buf_unref() calls instead of free(). One reference. */
void raft_buf_init_external(struct raft_buf *b, const void *data, size_t len,
                            void (*release)(struct raft_buf *b));
/* Takes one more reference; returns `b`. NULL-safe. */
struct raft_buf *raft_buf_ref(struct raft_buf *b);
/* Drops one reference, freeing the buffer with the last one. NULL-safe. */
void raft_buf_unref(struct raft_buf *b);

/* ----------------------------------------------------------------------------------
 * Log entries
 */

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 1, /* an application command */
	RAFT_ENTRY_NOOP = 2,   /* appended by each new leader to commit its term (5.4.2) */
	RAFT_ENTRY_CONFIG = 3, /* a configuration; payload from raft_conf_encode() */
};

struct raft_entry {
	raft_term term;
	raft_index index;
	enum raft_entry_type type;
	struct raft_buf *buf; /* payload; NULL when empty. The holder of the entry holds a
	                         reference. */
};

static inline const void *raft_entry_data(const struct raft_entry *e)
{
	return e->buf ? e->buf->data : NULL;
}

static inline size_t raft_entry_len(const struct raft_entry *e)
{
	return e->buf ? e->buf->len : 0;
}

/* ----------------------------------------------------------------------------------
 * Configuration of the cluster (who votes) and of this node (how it behaves)
 */

/* Members of the cluster. While `n_voters_old` > 0 the cluster is in joint consensus
 * (C_old,new): elections and commitment need a majority of `voters` and a majority of
 * `voters_old`. Learners receive the log but do not vote. */
struct raft_conf {
	uint32_t n_voters;
	raft_id voters[RAFT_MAX_MEMBERS];
	uint32_t n_voters_old;
	raft_id voters_old[RAFT_MAX_MEMBERS];
	uint32_t n_learners;
	raft_id learners[RAFT_MAX_MEMBERS];
};

struct raft_config {
	raft_id id;                    /* this node; must not be RAFT_NONE */
	uint32_t election_ticks;       /* election timeout is random in [e, 2e) ticks */
	uint32_t heartbeat_ticks;      /* leader heartbeat period; < election_ticks */
	uint64_t seed;                 /* PRNG seed for election jitter */
	uint32_t max_msg_entries;      /* most entries in one AppendEntries */
	uint32_t max_msg_bytes;        /* most payload bytes in one AppendEntries (at least
	                                  one entry is always sent) */
	uint32_t max_inflight_msgs;    /* pipelining window per follower */
	uint32_t max_entry_bytes;      /* largest payload raft_propose accepts */
	bool pre_vote;                 /* run a pre-vote round before a real election */
	bool check_quorum;             /* leaders step down without a quorum's contact */
	uint32_t snapshot_chunk_bytes; /* InstallSnapshot chunk size */
	uint32_t max_snapshot_chunks;  /* chunks in flight per follower */
	uint64_t promote_max_lag;      /* a learner is promoted only when it lags the leader's
	                                  log by at most this many entries */
};

/* Fills `cfg` with sensible defaults for node `id`: election 10 ticks, heartbeat 1,
 * 64 entries or 1 MiB per message, 256 messages in flight, pre-vote and check-quorum on,
 * 1 MiB snapshot chunks with 4 in flight, promotion within 1000 entries. */
void raft_config_default(struct raft_config *cfg, raft_id id);

/* ----------------------------------------------------------------------------------
 * Messages between nodes. One flat record for every type; each field says which types
 * use it. A transport encodes the fields its type uses.
 */

enum raft_msg_type {
	RAFT_MSG_PREVOTE = 1,  /* would you vote for me at `term`? (thesis 9.6) */
	RAFT_MSG_PREVOTE_RESP, /* reply; `term` is the asked term when granted */
	RAFT_MSG_VOTE,         /* RequestVote */
	RAFT_MSG_VOTE_RESP,    /* RequestVote reply */
	RAFT_MSG_APPEND,       /* AppendEntries carrying entries */
	RAFT_MSG_APPEND_RESP,  /* AppendEntries reply */
	RAFT_MSG_HEARTBEAT,    /* leader liveness, commit index and read-index rounds */
	RAFT_MSG_HEARTBEAT_RESP,
	RAFT_MSG_TIMEOUT_NOW,   /* leadership transfer: start an election now (thesis 3.10) */
	RAFT_MSG_SNAPSHOT,      /* InstallSnapshot: one chunk (Figure 13) */
	RAFT_MSG_SNAPSHOT_RESP, /* a chunk acknowledged */
	RAFT_MSG_TYPE_COUNT_,
};

const char *raft_msg_type_name(enum raft_msg_type t);

struct raft_message {
	enum raft_msg_type type;
	raft_id from;
	raft_id to;
	raft_term term; /* sender's term (PREVOTE: the term it would campaign in) */

	/* PREVOTE, VOTE: the candidate's last log index and term.
	 * APPEND: prevLogIndex and prevLogTerm.
	 * SNAPSHOT, SNAPSHOT_RESP: the snapshot's last included index and term.
	 * APPEND_RESP: on success the highest index known to match the leader; on
	 * rejection the prevLogIndex that was rejected (log_term unused). */
	raft_index index;
	raft_term log_term;

	raft_index commit; /* APPEND, HEARTBEAT: the leader's commit index (for a
	                      heartbeat, no more than the follower's match) */
	bool reject;       /* *_RESP: the request was refused */
	bool transfer;     /* VOTE: the election follows a TimeoutNow, so voters must not
	                      refuse it for having heard from a leader recently */

	/* APPEND_RESP rejections: the fast-backup hint. xterm is the term of the
	 * follower's entry at the rejected index (0 if it has none there), xindex the
	 * first index the follower holds with xterm, xlen the follower's last index. */
	raft_term xterm;
	raft_index xindex;
	raft_index xlen;

	uint64_t context; /* HEARTBEAT, HEARTBEAT_RESP: read-index round number */

	uint32_t n_entries; /* APPEND */
	struct raft_entry *entries;

	/* SNAPSHOT: the chunk at byte `snap_offset` of a snapshot of `snap_size` bytes, and
	 * the configuration the snapshot carries (owned by the message).
	 * SNAPSHOT_RESP: `snap_offset` is the number of bytes received so far in order;
	 * equal to snap_size once the snapshot is installed and durable. */
	uint64_t snap_size;
	uint64_t snap_offset;
	struct raft_buf *chunk;
	struct raft_conf *snap_conf;
};

/* ----------------------------------------------------------------------------------
 * State
 */

enum raft_role {
	RAFT_FOLLOWER = 1,
	RAFT_PRECANDIDATE,
	RAFT_CANDIDATE,
	RAFT_LEADER,
};

const char *raft_role_name(enum raft_role role);

/* What must survive a crash besides the log: Figure 2's currentTerm and votedFor. */
struct raft_hard_state {
	raft_term term;
	raft_id vote;
};

/* A linearizable read, confirmed: serve it once the state machine applied `index`. */
struct raft_read {
	uint64_t context; /* the caller's tag from raft_read_index() */
	raft_index index;
};

/* What the caller recovered from storage, or zeros for a brand-new node. */
struct raft_boot {
	struct raft_hard_state hard_state;
	raft_index snapshot_index; /* the log begins after this entry (0: no snapshot) */
	raft_term snapshot_term;
	const struct raft_entry *entries; /* stored entries snapshot_index+1 ... in order;
	                                     the core takes references */
	uint32_t n_entries;
	raft_index applied;             /* entries up to here are already in the state machine
	                                   (at least snapshot_index) */
	struct raft_conf conf;          /* the configuration at snapshot_index (or the initial
	                                   one); RAFT_ENTRY_CONFIG entries among `entries`
	                                   apply on top of it */
	struct raft_buf *snapshot_data; /* the snapshot's bytes, for sending to followers
	                                   that fall behind (referenced); NULL without one */
	/* Recovery found damage to entries this node had made durable (and so may have
	 * acknowledged), and cut its log before them. Until the node has heard a leader's
	 * AppendEntries and its durable log reaches both that leader's commit index and
	 * catch_up_to, it grants no vote or pre-vote and never campaigns: a log that lost
	 * acknowledged entries must not help elect a leader without them. It replicates
	 * (and acknowledges what it really holds) as usual. */
	bool catch_up;
	raft_index catch_up_to;
};

/* ----------------------------------------------------------------------------------
 * Divergence: the core's one fatal condition
 *
 * Raft never replaces a committed entry (Leader Completeness, 5.4). If a leader's
 * AppendEntries or InstallSnapshot names, at an index this node has committed, a term
 * other than the one this node committed there, then either the cluster broke Raft's
 * safety (a lost or rolled-back disk, a node booted from another node's directory, a
 * bug) or this node's log is damaged. Nothing the core could answer would be true: an
 * acknowledgement would make the leader count a match that does not exist, a rejection
 * would make it back up into entries both sides committed. So the core fail-stops:
 *
 *   - The message that revealed it gets no answer, and raft_step() returns
 *     RAFT_EDIVERGED.
 *   - From then on the node takes no input: raft_step() returns RAFT_EDIVERGED and
 *     ignores the message, raft_tick() does nothing, the client calls return
 *     RAFT_EDIVERGED. raft_error() reports the condition.
 *   - Output not yet taken is dropped (messages, reads), and every batch taken after it
 *     carries rd.error = RAFT_EDIVERGED and rd.divergence, and nothing else: no entries,
 *     hard state, snapshot, committed entries or messages. raft_has_ready() is true
 *     until one such batch was taken.
 *
 * The driver must stop the node: not send, persist or apply anything more, report
 * rd.divergence loudly, keep the data directory as it is for inspection, and exit
 * (or otherwise stay down) rather than restart, since a restarted node would diverge
 * again on the leader's next append. It may raft_advance() the failed batch, and must
 * advance every batch taken before raft_free(), as always; advancing a failed batch
 * promises nothing about durability. Batches taken before the failure keep their
 * meaning: they may still be persisted and advanced in order, but messages and
 * committed entries in them should be dropped too, as the node is going down. */
struct raft_divergence {
	raft_index index;      /* the committed index in conflict */
	raft_term term;        /* the term of this node's entry there */
	raft_term leader_term; /* the term the sender's log has there */
	raft_index commit;     /* this node's commit index when it noticed */
	raft_id from;          /* the sender */
	raft_term msg_term;    /* the sender's term */
	enum raft_msg_type msg_type;
};

/* ----------------------------------------------------------------------------------
 * Output
 */

struct raft_ready {
	uint64_t seq; /* batches are numbered 1, 2, ... and must be advanced in order */

	bool has_hard_state;
	struct raft_hard_state hard_state;

	struct raft_entry *entries; /* to persist, see the contract at the top */
	uint32_t n_entries;

	struct raft_message *messages; /* send now */
	uint32_t n_messages;
	struct raft_message *persisted_messages; /* send after this batch is durable */
	uint32_t n_persisted_messages;

	struct raft_entry *committed; /* to apply, in order */
	uint32_t n_committed;

	struct raft_read *reads; /* confirmed reads */
	uint32_t n_reads;

	/* A complete snapshot received from the leader, to persist and install. */
	bool has_snapshot;
	raft_index snapshot_index;
	raft_term snapshot_term;
	struct raft_conf snapshot_conf;
	struct raft_buf *snapshot_data;
	bool snapshot_discard_log; /* the stored log conflicts: discard all of it */

	/* The role, leader or term changed since the previous batch. */
	bool soft_state_changed;
	enum raft_role role;
	raft_id leader;
	raft_term term;

	/* 0, or RAFT_EDIVERGED: the node fail-stopped (see "Divergence" above); every other
	 * field but seq and the soft state is empty, and `divergence` says why. */
	int error;
	struct raft_divergence divergence;
};

/* ----------------------------------------------------------------------------------
 * The API
 */

struct raft;

/* Creates a node. `cfg` and `boot` are copied; boot entries are referenced. The node's
 * own id must appear in boot->conf (as voter or learner) unless the configuration is
 * empty, in which case it waits to be told its configuration by a leader.
 * Returns 0, or RAFT_EINVAL / RAFT_ECORRUPT with *out untouched. */
int raft_new(struct raft **out, const struct raft_config *cfg, const struct raft_boot *boot);

/* Frees the node. Outstanding ready batches must have been advanced first. */
void raft_free(struct raft *r);

/* Feeds one received message. Malformed or stale messages are ignored; the message
 * stays owned by the caller. Returns 0, RAFT_EINVAL if m->to is not this node, or
 * RAFT_EDIVERGED if the node has fail-stopped, by this message or before (see
 * "Divergence" above). */
int raft_step(struct raft *r, const struct raft_message *m);

/* Advances logical time by one tick (nothing once the node diverged). */
void raft_tick(struct raft *r);

/* Appends a command to the leader's log, copying `len` bytes from `data`. On success
 * stores the entry's term and index in *term and *index (either may be NULL).
 * Returns 0, RAFT_ENOTLEADER, RAFT_EBUSY (leadership transfer under way) or
 * RAFT_ETOOBIG. */
int raft_propose(struct raft *r, const void *data, size_t len, raft_term *term, raft_index *index);

/* Asks for a linearizable read tagged `context`. It appears later in a ready batch's
 * `reads` once a quorum confirmed this node still leads (thesis 6.4). Reads pending
 * when the node loses leadership are dropped: the caller times them out.
 * Returns 0 or RAFT_ENOTLEADER. */
int raft_read_index(struct raft *r, uint64_t context);

/* Hands leadership to voter `to` (thesis 3.10): brings it up to date, then tells it to
 * campaign. Proposals are refused with RAFT_EBUSY meanwhile; the transfer is abandoned
 * after an election timeout. Returns 0, RAFT_ENOTLEADER, RAFT_ENOPEER or RAFT_EINVAL. */
int raft_transfer_leader(struct raft *r, raft_id to);

/* The leader gives up leadership by transferring it to its most up-to-date voter.
 * Returns 0, RAFT_ENOTLEADER, or RAFT_ENOPEER when no other voter exists. */
int raft_step_down(struct raft *r);

/* The leader becomes a follower of its term at once, handing leadership to nobody: the
 * others elect a new leader when their election timers fire. For a leader that must stop
 * leading whatever its peers can do (its disk hangs: driver.h, disk_stall_ms). Its vote
 * in the term stays its own. Returns 0, RAFT_ENOTLEADER or RAFT_EDIVERGED. */
int raft_resign(struct raft *r);

/* Starts an election now (after a pre-vote if enabled). Returns 0 or RAFT_ENOVOTER. */
int raft_campaign(struct raft *r);

/* Asks the leader to move the cluster to configuration `target` (voters and learners;
 * target->n_voters_old must be 0). Changes of learners alone take one entry; a change of
 * voters goes through joint consensus (thesis 4.3): C_old,new is appended now and the
 * leader appends C_new once it commits. One change at a time. A learner becomes a voter
 * only when its log is within cfg.promote_max_lag entries of the leader's. A leader left
 * out of C_new steps down once C_new commits. On success *index (may be NULL) is the
 * index of the first configuration entry.
 * Returns 0, RAFT_ENOTLEADER, RAFT_EINVAL (malformed target, or no voters),
 * RAFT_ECHANGING (a change is under way) or RAFT_ELAGGING. */
int raft_change_config(struct raft *r, const struct raft_conf *target, raft_index *index);

/* The term and configuration of the entry at `index`, for labelling a snapshot taken
 * there. `index` must be applied and still in the log (or the last snapshot's).
 * Returns 0 or RAFT_ECOMPACTED / RAFT_EINVAL. */
int raft_snapshot_meta(const struct raft *r, raft_index index, raft_term *term,
                       struct raft_conf *conf);

/* The caller made durable a snapshot of the state machine at applied `index` (labelled
 * with raft_snapshot_meta's term and configuration). The core keeps a reference to
 * `data` to send to followers that fall behind, and drops the log up to
 * index - trailing, keeping `trailing` entries for followers that are only a little
 * behind. Returns 0 or RAFT_EINVAL. */
int raft_snapshot_taken(struct raft *r, raft_index index, struct raft_buf *data,
                        raft_index trailing);

/* The caller holds the same bytes as the core's snapshot at `index` in another buffer
 * (the stored file, mapped): the core keeps a reference to `data` instead, so that the
 * copy in memory can go. Snapshot sends under way finish from the old buffer. Returns
 * 0, or RAFT_EINVAL if the core's snapshot is not at `index` or has another length. */
int raft_snapshot_data_replace(struct raft *r, raft_index index, struct raft_buf *data);

/* True if raft_ready would return anything. */
bool raft_has_ready(const struct raft *r);

/* Takes the output accumulated since the previous batch. */
void raft_ready(struct raft *r, struct raft_ready *rd);

/* Acknowledges batch `rd`: its state is durable and its messages are sent. Releases
 * everything the batch held. */
void raft_advance(struct raft *r, struct raft_ready *rd);

/* 0, or RAFT_EDIVERGED once the node fail-stopped; then fills *d (may be NULL). The
 * client calls (propose, read index, transfer, step down, campaign, configuration
 * change, snapshot taken) return RAFT_EDIVERGED from then on. */
int raft_error(const struct raft *r, struct raft_divergence *d);

/* Introspection. None of these change the node. */
raft_id raft_self(const struct raft *r);
enum raft_role raft_role(const struct raft *r);
raft_term raft_term_current(const struct raft *r);
raft_id raft_vote(const struct raft *r);
raft_id raft_leader(const struct raft *r);
raft_index raft_commit_index(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
raft_term raft_last_term(const struct raft *r);
/* Highest index known durable on this node's disk. */
raft_index raft_persisted_index(const struct raft *r);
/* Highest index handed out for applying. */
raft_index raft_applied_index(const struct raft *r);
/* True while the node catches up after damage (raft_boot.catch_up): no votes, no
 * campaigns. The index it must reach (0 until a leader's commit index is known). */
bool raft_catching_up(const struct raft *r, raft_index *target);
/* Term of the entry at `index`; 0 if the log does not hold it (and it is not the
 * snapshot's last entry). */
raft_term raft_term_at(const struct raft *r, raft_index index);
/* The entry at `index` or NULL; valid until the next call that changes the node. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);
/* First index held in the log (snapshot_index + 1). */
raft_index raft_first_index(const struct raft *r);
const struct raft_conf *raft_conf_current(const struct raft *r);
/* A leader's view of follower `id`: match and next index. Returns false if this node
 * is not the leader or `id` is not a member. */
bool raft_progress(const struct raft *r, raft_id id, raft_index *match, raft_index *next);
/* The voter a leadership transfer targets, or RAFT_NONE. */
raft_id raft_transferee(const struct raft *r);
/* The index of the entry that brought the configuration in force (the snapshot's index
 * or 0 if none did); the change is complete once this is committed and the
 * configuration is not joint. */
raft_index raft_conf_index(const struct raft *r);
/* The last snapshot's index (0 if none). */
raft_index raft_snapshot_index(const struct raft *r);
/* Whether the leader is sending a snapshot to `id`. */
bool raft_progress_snapshotting(const struct raft *r, raft_id id);

/* Helpers for callers that keep messages beyond a ready batch (a transport queue, a
 * simulated network): a deep copy sharing payload buffers, and its release. */
void raft_message_copy(struct raft_message *dst, const struct raft_message *src);
void raft_message_release(struct raft_message *m);

/* Configuration helpers. */
bool raft_conf_is_voter(const struct raft_conf *c, raft_id id);
bool raft_conf_is_member(const struct raft_conf *c, raft_id id);
/* Configurations as carried in RAFT_ENTRY_CONFIG payloads and snapshots: a version
 * byte, then three counted lists of little-endian 64-bit ids. */
size_t raft_conf_encoded_size(const struct raft_conf *c);
void raft_conf_encode(const struct raft_conf *c, void *buf);
/* Returns 0, or RAFT_ECORRUPT for bytes that are not a valid configuration. */
int raft_conf_decode(const void *buf, size_t len, struct raft_conf *c);

#endif /* CONCORD_RAFT_H */
