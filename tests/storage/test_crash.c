/* test_crash.c: crash consistency, with a crash injected at every I/O call in turn. */
/*
 * Crash consistency: random appends, truncations, hard-state changes and snapshots, with
 * a crash injected at every I/O call in turn (unsynced state lost, or torn); recovery
 * must hold everything acknowledged durable, and nothing that never was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR           "n1"
#define SEGMENT_BYTES 4096
#define OPS_PER_SEED  80
#define MAX_ENTRIES   512
#define MAX_HISTORY   64

/* ----------------------------------------------------------------------------------
 * The model: what the log logically holds after each operation.
 */

struct ment {
	raft_term term;
	uint32_t tag;
	uint32_t len;
};

struct mstate {
	raft_index base; /* snapshot index: entries are base + 1 ... */
	raft_term base_term;
	uint32_t n;
	struct ment v[MAX_ENTRIES];
};

enum op_kind { OP_APPEND, OP_HARD_STATE, OP_SYNC, OP_COMPACT, OP_INSTALL };

struct op {
	enum op_kind kind;
	raft_index first; /* APPEND: first index; COMPACT, INSTALL: snapshot index */
	uint32_t n;
	raft_term term; /* APPEND: entries' term; HARD_STATE: term; snapshots: term */
	raft_id vote;
	uint32_t tag;
	uint32_t len[8];
};

static raft_index mlast(const struct mstate *m)
{
	return m->base + m->n;
}

static raft_term mterm_at(const struct mstate *m, raft_index i)
{
	if (i == m->base)
		return m->base_term;
	assert_true(i > m->base && i <= mlast(m));
	return m->v[i - m->base - 1].term;
}

/* Applies an operation to the model. */
static void mapply(struct mstate *m, const struct op *op)
{
	switch (op->kind) {
	case OP_APPEND:
		assert_true(op->first > m->base);
		assert_true(op->first <= mlast(m) + 1);
		m->n = (uint32_t)(op->first - m->base - 1);
		for (uint32_t i = 0; i < op->n; i++) {
			assert_true(m->n < MAX_ENTRIES);
			m->v[m->n].term = op->term;
			m->v[m->n].tag = op->tag;
			m->v[m->n].len = op->len[i];
			m->n++;
		}
		break;
	case OP_COMPACT: {
		uint32_t drop = (uint32_t)(op->first - m->base);
		memmove(m->v, m->v + drop, (m->n - drop) * sizeof(m->v[0]));
		m->n -= drop;
		m->base = op->first;
		m->base_term = op->term;
		break;
	}
	case OP_INSTALL:
		m->n = 0;
		m->base = op->first;
		m->base_term = op->term;
		break;
	case OP_HARD_STATE:
	case OP_SYNC:
		break;
	}
}

static size_t random_len(uint64_t *rng)
{
	uint64_t r = th_below(rng, 100);
	if (r < 10)
		return 0;
	if (r < 13)
		return 5000; /* larger than a segment */
	return 12 + (size_t)th_below(rng, 300);
}

/* Draws a valid sequence of operations for `seed`. */
static int generate(uint64_t seed, struct op *ops, int max)
{
	uint64_t rng = seed * 7919 + 1;
	static struct mstate m;
	memset(&m, 0, sizeof(m));
	raft_term term = 0;
	raft_id vote = 0;
	int n = 0;
	while (n < max) {
		struct op op = {0};
		uint64_t r = th_below(&rng, 100);
		if (term == 0 || r < 10) {
			op.kind = OP_HARD_STATE;
			bool bump = term == 0 || th_below(&rng, 2) == 0;
			op.term = term + (bump ? 1 : 0);
			op.vote = bump || vote == 0 ? th_below(&rng, 4) : vote;
			term = op.term;
			vote = op.vote;
		} else if (r < 60) {
			op.kind = OP_APPEND;
			op.first = mlast(&m) + 1;
			if (m.n > 0 && th_below(&rng, 5) == 0)
				op.first = m.base + 1 + th_below(&rng, m.n);
			op.n = 1 + (uint32_t)th_below(&rng, 6);
			op.term = term;
			op.tag = (uint32_t)n;
			for (uint32_t i = 0; i < op.n; i++)
				op.len[i] = (uint32_t)random_len(&rng);
		} else if (r < 85) {
			op.kind = OP_SYNC;
		} else if (r < 95 && m.n > 0) {
			op.kind = OP_COMPACT;
			op.first = m.base + 1 + th_below(&rng, m.n);
			op.term = mterm_at(&m, op.first);
		} else if (r >= 95) {
			op.kind = OP_INSTALL;
			op.first = mlast(&m) + th_below(&rng, 4);
			if (op.first == m.base)
				op.first++;
			op.term = term;
		} else {
			continue;
		}
		mapply(&m, &op);
		ops[n++] = op;
	}
	return n;
}

/* ----------------------------------------------------------------------------------
 * Running a sequence against the storage, recording what was acknowledged.
 */

struct run {
	struct crashfs *fs;
	struct storage *st;
	/* acknowledged: durable by the storage's contract */
	struct raft_hard_state acked_hs;
	struct raft_hard_state attempted_hs; /* in flight at the crash (if any) */
	bool hs_in_flight;
	raft_index acked_snap;
	raft_index attempted_snap;
	raft_term attempted_snap_term;
	bool snap_in_flight;
	bool install_since_ack; /* a log-discarding snapshot was attempted since the ack */
	raft_index install_index;
	raft_index truncated_from; /* lowest truncation point since the ack (0: none) */
	struct mstate *acked;      /* the log at the last acknowledgement */
	struct mstate *history;    /* every state since then, the attempted one last */
	int n_history;
	bool crashed; /* an operation failed: the process is considered dead */
};

static char snapshot_data[64];

static const char *snap_bytes(raft_index index, size_t *len)
{
	*len = (size_t)snprintf(snapshot_data, sizeof(snapshot_data), "snapshot %" PRIu64, index);
	return snapshot_data;
}

static void history_push(struct run *r, const struct mstate *m)
{
	assert_true(r->n_history < MAX_HISTORY);
	r->history[r->n_history++] = *m;
}

static void ack_log(struct run *r, const struct mstate *m)
{
	*r->acked = *m;
	r->n_history = 0;
	history_push(r, m);
	r->install_since_ack = false;
	r->truncated_from = 0;
}

static int do_op(struct run *r, struct mstate *m, const struct op *op)
{
	int rv = 0;
	switch (op->kind) {
	case OP_HARD_STATE: {
		struct raft_hard_state hs = {.term = op->term, .vote = op->vote};
		r->attempted_hs = hs;
		r->hs_in_flight = true;
		rv = storage_set_hard_state(r->st, &hs);
		if (rv == 0) {
			r->acked_hs = hs;
			r->hs_in_flight = false;
		}
		return rv;
	}
	case OP_APPEND: {
		struct raft_entry v[8];
		for (uint32_t i = 0; i < op->n; i++)
			v[i] = th_entry(op->first + i, op->term, op->tag, op->len[i]);
		if (op->first <= mlast(m) &&
		    (r->truncated_from == 0 || op->first < r->truncated_from))
			r->truncated_from = op->first;
		mapply(m, op);
		history_push(r, m);
		rv = storage_append(r->st, v, op->n);
		th_entries_release(v, op->n);
		return rv;
	}
	case OP_SYNC:
		rv = storage_sync(r->st);
		if (rv == 0)
			ack_log(r, m);
		return rv;
	case OP_COMPACT:
	case OP_INSTALL: {
		size_t len;
		const char *data = snap_bytes(op->first, &len);
		struct raft_conf conf = th_conf3();
		r->attempted_snap = op->first;
		r->attempted_snap_term = op->term;
		r->snap_in_flight = true;
		if (op->kind == OP_INSTALL) {
			r->install_since_ack = true;
			r->install_index = op->first;
		}
		mapply(m, op);
		history_push(r, m);
		rv =
		    storage_snapshot_put(r->st, op->first, op->term, &conf, data, len,
		                         op->kind == OP_INSTALL ? STORAGE_SNAPSHOT_DISCARD_LOG : 0);
		if (rv == 0) {
			r->acked_snap = op->first;
			r->snap_in_flight = false;
			if (op->kind == OP_INSTALL)
				ack_log(r, m);
		}
		return rv;
	}
	}
	return -1;
}

/* ----------------------------------------------------------------------------------
 * Checking a recovery against the run
 */

static char failure[1024];

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(failure, sizeof(failure), __VA_ARGS__);                           \
			return false;                                                              \
		}                                                                                  \
	} while (0)

/* True if every recovered entry equals state s's entry at its index. */
static bool matches_state(const struct storage_recovered *rec, const struct mstate *s)
{
	raft_index last = rec->snapshot_index + rec->n_entries;
	if (rec->n_entries > 0 && (s->base > rec->snapshot_index || last > mlast(s)))
		return false;
	for (uint32_t i = 0; i < rec->n_entries; i++) {
		const struct raft_entry *e = &rec->entries[i];
		const struct ment *w = &s->v[e->index - s->base - 1];
		uint32_t tag;
		if (!th_entry_check(e, &tag))
			return false;
		/* (an empty payload carries no tag) */
		if (e->term != w->term || raft_entry_len(e) != w->len)
			return false;
		if (w->len > 0 && tag != w->tag)
			return false;
	}
	return true;
}

static bool check_recovery(const struct run *r, const struct storage_recovered *rec)
{
	/* Hard state: the acknowledged one, or the one being written at the crash. */
	bool hs_ok =
	    rec->hard_state.term == r->acked_hs.term && rec->hard_state.vote == r->acked_hs.vote;
	if (r->hs_in_flight)
		hs_ok = hs_ok || (rec->hard_state.term == r->attempted_hs.term &&
		                  rec->hard_state.vote == r->attempted_hs.vote);
	CHECK(hs_ok, "hard state %" PRIu64 "/%" PRIu64 ", acknowledged %" PRIu64 "/%" PRIu64,
	      rec->hard_state.term, rec->hard_state.vote, r->acked_hs.term, r->acked_hs.vote);

	/* Snapshot: the acknowledged one, or the one being written. */
	bool snap_ok = rec->snapshot_index == r->acked_snap ||
	               (r->snap_in_flight && rec->snapshot_index == r->attempted_snap);
	CHECK(snap_ok, "snapshot %" PRIu64 ", acknowledged %" PRIu64, rec->snapshot_index,
	      r->acked_snap);
	if (rec->snapshot_index > 0) {
		size_t len;
		const char *want = snap_bytes(rec->snapshot_index, &len);
		CHECK(rec->snapshot_data != NULL && rec->snapshot_data->len == len &&
		          memcmp(rec->snapshot_data->data, want, len) == 0,
		      "snapshot %" PRIu64 " data differs", rec->snapshot_index);
	}
	CHECK(rec->conf.n_voters == 3, "configuration lost");

	/* Nothing that was never written: the log is a prefix of some state since the
	 * acknowledgement. */
	bool some = false;
	for (int j = 0; j < r->n_history && !some; j++)
		some = matches_state(rec, &r->history[j]);
	CHECK(some,
	      "recovered log (snapshot %" PRIu64 ", %u entries) is no prefix of any state "
	      "since the last acknowledgement",
	      rec->snapshot_index, rec->n_entries);

	/* Everything acknowledged: the acknowledged log up to the first truncation since,
	 * unless a snapshot install legitimately replaced it. */
	if (r->install_since_ack && rec->snapshot_index == r->install_index)
		return true;
	const struct mstate *a = r->acked;
	raft_index from = rec->snapshot_index > a->base ? rec->snapshot_index : a->base;
	raft_index to = mlast(a);
	if (r->truncated_from != 0 && r->truncated_from - 1 < to)
		to = r->truncated_from - 1;
	for (raft_index i = from + 1; i <= to; i++) {
		CHECK(i <= rec->snapshot_index + rec->n_entries,
		      "acknowledged entry %" PRIu64 " lost (recovered up to %" PRIu64 ")", i,
		      rec->snapshot_index + rec->n_entries);
		const struct raft_entry *e = &rec->entries[i - rec->snapshot_index - 1];
		const struct ment *w = &a->v[i - a->base - 1];
		uint32_t tag;
		CHECK(th_entry_check(e, &tag) && (w->len == 0 || tag == w->tag) &&
		          e->term == w->term && raft_entry_len(e) == w->len,
		      "acknowledged entry %" PRIu64 " differs", i);
	}
	return true;
}

/* ----------------------------------------------------------------------------------
 * The sweep
 */

static int open_storage(struct crashfs *fs, struct storage **st, struct storage_recovered *rec)
{
	struct storage_options o = th_options(SEGMENT_BYTES);
	char errmsg[STORAGE_ERRMSG_SIZE];
	int rv = storage_open(st, crashfs_io(fs), DIR, &o, rec, errmsg);
	if (rv != 0)
		snprintf(failure, sizeof(failure), "open: %s", errmsg);
	return rv;
}

/* After recovery the storage must keep working: append, sync, crash, recover again. */
static bool check_continues(struct crashfs *fs, struct storage *st,
                            const struct storage_recovered *rec)
{
	raft_term term = rec->hard_state.term;
	if (term == 0) {
		struct raft_hard_state hs = {.term = 1};
		CHECK(storage_set_hard_state(st, &hs) == 0, "hard state after recovery: %s",
		      storage_errmsg(st));
		term = 1;
	}
	raft_index next = rec->snapshot_index + rec->n_entries + 1;
	struct raft_entry v[3];
	for (int i = 0; i < 3; i++)
		v[i] = th_entry(next + (raft_index)i, term, 7777, 40);
	int rv = storage_append(st, v, 3);
	if (rv == 0)
		rv = storage_sync(st);
	th_entries_release(v, 3);
	CHECK(rv == 0, "append after recovery: %s", storage_errmsg(st));
	storage_close(st);
	crashfs_crash(fs, CRASHFS_LOSE);
	struct storage_recovered again;
	struct storage *st2;
	if (open_storage(fs, &st2, &again) != 0)
		return false;
	bool ok = again.snapshot_index + again.n_entries == next + 2;
	for (uint32_t i = 0; ok && i < rec->n_entries; i++) {
		raft_index idx = rec->entries[i].index;
		if (idx <= again.snapshot_index)
			continue;
		const struct raft_entry *e = &again.entries[idx - again.snapshot_index - 1];
		ok = e->term == rec->entries[i].term &&
		     raft_entry_len(e) == raft_entry_len(&rec->entries[i]);
	}
	storage_close(st2);
	storage_recovered_release(&again);
	CHECK(ok, "second recovery lost entries");
	return true;
}

static void debug_state(const char *what, const struct mstate *s)
{
	fprintf(stderr, "  %s: base %" PRIu64 "/%" PRIu64 ":", what, s->base, s->base_term);
	for (uint32_t i = 0; i < s->n; i++)
		fprintf(stderr, " %" PRIu64 "t%" PRIu64 "#%u", s->base + 1 + i, s->v[i].term,
		        s->v[i].tag);
	fprintf(stderr, "\n");
}

static void debug_dump(const struct run *r, const struct op *ops, int n_ops,
                       const struct storage_recovered *rec)
{
	static const char *names[] = {"append", "hs", "sync", "compact", "install"};
	for (int i = 0; i < n_ops; i++)
		fprintf(stderr,
		        "op %d: %s first %" PRIu64 " n %u term %" PRIu64 " vote %" PRIu64 "\n", i,
		        names[ops[i].kind], ops[i].first, ops[i].n, ops[i].term, ops[i].vote);
	debug_state("acked", r->acked);
	for (int j = 0; j < r->n_history; j++)
		debug_state("history", &r->history[j]);
	fprintf(stderr, "  recovered: snapshot %" PRIu64 ":", rec->snapshot_index);
	for (uint32_t i = 0; i < rec->n_entries; i++) {
		uint32_t tag = 0;
		th_entry_check(&rec->entries[i], &tag);
		fprintf(stderr, " %" PRIu64 "t%" PRIu64 "#%u", rec->entries[i].index,
		        rec->entries[i].term, tag);
	}
	fprintf(stderr, "\n  notes: %s\n", rec->notes);
}

struct sweep_stats {
	uint64_t runs;
	uint64_t notes;
	uint64_t max_calls;
};

/* One run: the sequence with the k-th I/O call (and every later one) failing, which is
 * the process dying there; then a crash and recovery. Returns false when the whole
 * sequence completed without reaching call k. */
static bool run_once(uint64_t seed, const struct op *ops, int n_ops, uint64_t k,
                     enum crashfs_crash_mode mode, struct sweep_stats *stats)
{
	static struct mstate m, acked, history[MAX_HISTORY];
	memset(&m, 0, sizeof(m));
	struct run r = {.acked = &acked, .history = history};
	memset(&acked, 0, sizeof(acked));
	history_push(&r, &m);
	r.fs = crashfs_new(seed * 1000003 + k);
	sio_fault_set(crashfs_fault(r.fs), SIO_OPS_ALL, (int64_t)k, -1, EIO);

	struct storage_recovered rec0;
	bool completed = false;
	if (open_storage(r.fs, &r.st, &rec0) == 0) {
		storage_recovered_release(&rec0);
		int i = 0;
		for (; i < n_ops; i++)
			if (do_op(&r, &m, &ops[i]) != 0)
				break;
		completed = i == n_ops;
		storage_close(r.st);
	}
	stats->max_calls = crashfs_fault(r.fs)->calls;
	completed = completed && crashfs_fault(r.fs)->failed == 0;
	sio_fault_clear(crashfs_fault(r.fs));
	crashfs_crash(r.fs, mode);
	if (mode == CRASHFS_TEAR) {
		/* Crash again in the middle of the recovery's own repairs: recovery must be
		 * restartable at any point. */
		uint64_t j = (seed * 31 + k * 17) % 64;
		sio_fault_set(crashfs_fault(r.fs), SIO_OPS_ALL, (int64_t)j, -1, EIO);
		struct storage *st0;
		struct storage_options o = th_options(SEGMENT_BYTES);
		char errmsg[STORAGE_ERRMSG_SIZE];
		if (storage_open(&st0, crashfs_io(r.fs), DIR, &o, &rec0, errmsg) == 0) {
			storage_close(st0);
			storage_recovered_release(&rec0);
		}
		sio_fault_clear(crashfs_fault(r.fs));
		crashfs_crash(r.fs, CRASHFS_TEAR);
	}

	struct storage_recovered rec;
	struct storage *st;
	failure[0] = '\0';
	/* CRASH_DEBUG=<seed> CRASH_K=<call> lists the files recovery is about to read. */
	if (getenv("CRASH_DEBUG") && seed == strtoull(getenv("CRASH_DEBUG"), NULL, 10) &&
	    getenv("CRASH_K") && k == strtoull(getenv("CRASH_K"), NULL, 10)) {
		char names[64][SIO_NAME_MAX + 1];
		int n = th_list(r.fs, DIR "/wal", names, 64);
		for (int i = 0; i < n; i++) {
			char path[600];
			snprintf(path, sizeof(path), DIR "/wal/%.255s", names[i]);
			uint8_t *d;
			size_t len;
			crashfs_read_file(r.fs, path, &d, &len);
			fprintf(stderr, "file %s %zu bytes\n", names[i], len);
			free(d);
		}
		n = th_list(r.fs, DIR "/snap", names, 64);
		for (int i = 0; i < n; i++)
			fprintf(stderr, "snap %s\n", names[i]);
		debug_state("acked", r.acked);
		for (int j = 0; j < r.n_history; j++)
			debug_state("history", &r.history[j]);
	}
	bool ok = open_storage(r.fs, &st, &rec) == 0;
	if (ok) {
		ok = check_recovery(&r, &rec);
		ok = ok && th_boot_ok(&rec);
		if (ok && failure[0] == '\0')
			ok = check_continues(r.fs, st, &rec);
		else
			storage_close(st);
		stats->notes += rec.notes[0] != '\0';
		if (!ok && getenv("CRASH_DEBUG"))
			debug_dump(&r, ops, n_ops, &rec);
		storage_recovered_release(&rec);
	}
	if (!ok) {
		print_message("seed %" PRIu64 " crash after I/O call %" PRIu64 " (%s): %s\n", seed,
		              k, mode == CRASHFS_TEAR ? "torn" : "lost", failure);
		fail();
	}
	stats->runs++;
	crashfs_free(r.fs);
	return !completed;
}

static void sweep(uint64_t seed_first, uint64_t seeds)
{
	static struct op ops[OPS_PER_SEED];
	struct sweep_stats stats = {0};
	for (uint64_t seed = seed_first; seed < seed_first + seeds; seed++) {
		int n = generate(seed, ops, OPS_PER_SEED);
		for (uint64_t k = 0;; k++) {
			bool crashed_lose = run_once(seed, ops, n, k, CRASHFS_LOSE, &stats);
			bool crashed_tear = run_once(seed, ops, n, k, CRASHFS_TEAR, &stats);
			if (!crashed_lose && !crashed_tear)
				break;
		}
	}
	print_message("%" PRIu64 " crash-and-recover runs, %" PRIu64
	              " needed repairs, last sequence %" PRIu64 " I/O calls\n",
	              stats.runs, stats.notes, stats.max_calls);
}

/* CRASH_SEEDS=n runs n seeds per sweep instead (a deeper run by hand). */
static uint64_t seeds_per_sweep(void)
{
	const char *e = getenv("CRASH_SEEDS");
	return e ? strtoull(e, NULL, 10) : 15;
}

static void test_crash_sweep_a(void **state)
{
	(void)state;
	sweep(1, seeds_per_sweep());
}

static void test_crash_sweep_b(void **state)
{
	(void)state;
	sweep(1 + seeds_per_sweep(), seeds_per_sweep());
}

/* Meta atomicity: a crash at any point of a hard-state change leaves the old or the new
 * state, never a mix and never an unreadable file. */
static void test_meta_atomic(void **state)
{
	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		for (uint64_t k = 0; k < 12; k++) {
			struct crashfs *fs = crashfs_new(k);
			struct storage *st;
			struct storage_recovered rec;
			assert_int_equal(open_storage(fs, &st, &rec), 0);
			storage_recovered_release(&rec);
			struct raft_hard_state a = {.term = 5, .vote = 2};
			struct raft_hard_state b = {.term = 6, .vote = 3};
			assert_int_equal(storage_set_hard_state(st, &a), 0);
			sio_fault_set(crashfs_fault(fs), SIO_OPS_ALL, (int64_t)k, -1, EIO);
			int rv = storage_set_hard_state(st, &b);
			storage_close(st);
			sio_fault_clear(crashfs_fault(fs));
			crashfs_crash(fs, mode ? CRASHFS_TEAR : CRASHFS_LOSE);
			assert_int_equal(open_storage(fs, &st, &rec), 0);
			bool is_a = rec.hard_state.term == 5 && rec.hard_state.vote == 2;
			bool is_b = rec.hard_state.term == 6 && rec.hard_state.vote == 3;
			assert_true(is_a || is_b);
			if (rv == 0)
				assert_true(is_b);
			storage_close(st);
			storage_recovered_release(&rec);
			crashfs_free(fs);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_meta_atomic),
	    cmocka_unit_test(test_crash_sweep_a),
	    cmocka_unit_test(test_crash_sweep_b),
	};
	return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
