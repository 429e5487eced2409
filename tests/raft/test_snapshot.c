/* test_snapshot.c: log compaction and InstallSnapshot (Raft paper section 7, Figure 13;
 * thesis chapter 5), and the lecture notes' snapshot cases. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define R(id) h_raft(&h, (id))

static uint32_t count_queued(struct h *h, raft_id to, enum raft_msg_type type)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < h->n_q; i++)
		n += h->q[i].to == to && h->q[i].type == type;
	return n;
}

/* Section 7: a leader compacts its log into a snapshot; a follower behind the compacted
 * prefix catches up only through InstallSnapshot, then through entries. */
static void test_follower_behind_compaction_gets_snapshot(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_isolate(&h, 3);
	h_propose_n(&h, 1, 30);
	h_snapshot(&h, 1, 500, 0);
	assert_int_equal(raft_first_index(R(1)), raft_snapshot_index(R(1)) + 1);
	assert_true(raft_first_index(R(1)) > raft_last_index(R(3)) + 1);
	h_heal(&h);
	h_propose_n(&h, 1, 3);
	h_tick_all(&h, 6);
	assert_int_equal(h.nodes[2].installs, 1);
	assert_int_equal(h.nodes[2].snap_index, h.nodes[0].snap_index);
	assert_int_equal(raft_last_index(R(3)), raft_last_index(R(1)));
	assert_int_equal(raft_commit_index(R(3)), raft_commit_index(R(1)));
	assert_int_equal(h.nodes[2].applied, h.nodes[0].applied);
	/* The installed snapshot is the leader's, byte for byte. */
	assert_int_equal(h.nodes[2].snap_data->len, 500);
	assert_memory_equal(h.nodes[2].snap_data->data, h.nodes[0].snap_data->data, 500);
	h_free(&h);
}

/* Lecture notes: the leader fails and the new leader brings a lagging follower up to
 * date by sending its own snapshot. */
static void test_new_leader_sends_its_snapshot(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_isolate(&h, 3);
	h_propose_n(&h, 1, 20);
	h_snapshot(&h, 2, 64, 0);
	h.nodes[0].up = false; /* the leader dies */
	h_heal(&h);
	h_isolate(&h, 1);
	h_elect(&h, 2);
	assert_int_equal(raft_role(R(2)), RAFT_LEADER);
	h_tick_all(&h, 6);
	assert_int_equal(h.nodes[2].installs, 1);
	assert_int_equal(raft_last_index(R(3)), raft_last_index(R(2)));
	h.nodes[0].up = true;
	h_free(&h);
}

/* Trailing entries: a follower only a little behind gets entries, not the snapshot. */
static void test_trailing_entries_avoid_snapshot(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_isolate(&h, 3);
	h_propose_n(&h, 1, 5);
	h_snapshot(&h, 1, 64, 100);
	h_heal(&h);
	h_tick_all(&h, 6);
	assert_int_equal(h.nodes[2].installs, 0);
	assert_int_equal(raft_last_index(R(3)), raft_last_index(R(1)));
	h_free(&h);
}

/* Takes the nth (0-based) queued message from `from` to `to` of `type` and steps it into
 * its destination, leaving the others queued. */
static bool deliver_nth(struct h *h, raft_id from, raft_id to, enum raft_msg_type type,
                        uint32_t nth, bool keep_copy)
{
	for (uint32_t i = 0; i < h->n_q; i++) {
		struct raft_message *m = &h->q[i];
		if (m->from != from || m->to != to || m->type != type || nth-- > 0)
			continue;
		struct raft_message taken;
		if (keep_copy) {
			raft_message_copy(&taken, m);
		} else {
			taken = *m;
			memmove(&h->q[i], &h->q[i + 1], (h->n_q - i - 1) * sizeof(*h->q));
			h->n_q--;
		}
		raft_step(h_raft(h, to), &taken);
		raft_message_release(&taken);
		h_ready(h, to);
		return true;
	}
	return false;
}

/* Chunks lost, duplicated and reordered: the follower assembles them in order, answers
 * with what it has, and installs exactly once. */
static void test_chunks_lost_duplicated_reordered(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h.cfg.snapshot_chunk_bytes = 10;
	h.cfg.max_snapshot_chunks = 3;
	for (raft_id i = 1; i <= 3; i++)
		h_restart(&h, i);
	h_elect(&h, 1);
	h_isolate(&h, 3);
	h_propose_n(&h, 1, 10);
	h_snapshot(&h, 1, 95, 0);
	h_heal(&h);
	h_tick(&h, 1, h.cfg.heartbeat_ticks);
	bool reordered = false, duplicated = false, dropped = false;
	uint32_t in_order = 0;
	for (int round = 0; round < 300 && h.nodes[2].installs == 0; round++) {
		uint32_t queued = count_queued(&h, 3, RAFT_MSG_SNAPSHOT);
		if (queued >= 1 && in_order == 0) {
			/* The first chunk starts the transfer. */
			assert_true(deliver_nth(&h, 1, 3, RAFT_MSG_SNAPSHOT, 0, false));
			in_order++;
		} else if (queued >= 2 && !reordered) {
			/* Mid-transfer, the later of two chunks arrives first: a gap, answered
			 * with a rejection naming the bytes received so far. */
			assert_true(deliver_nth(&h, 1, 3, RAFT_MSG_SNAPSHOT, 1, false));
			reordered = true;
		} else if (queued >= 1 && reordered && !duplicated) {
			assert_true(deliver_nth(&h, 1, 3, RAFT_MSG_SNAPSHOT, 0, true));
			assert_true(deliver_nth(&h, 1, 3, RAFT_MSG_SNAPSHOT, 0, false));
			duplicated = true;
		} else if (queued >= 1 && duplicated && !dropped) {
			h_drop(&h, 1, 3, RAFT_MSG_SNAPSHOT);
			dropped = true;
		} else if (queued >= 1) {
			deliver_nth(&h, 1, 3, RAFT_MSG_SNAPSHOT, 0, false);
		} else if (!h_deliver_one(&h, 0, 0, 0)) {
			h_tick(&h, 1, 1);
		}
	}
	assert_true(reordered);
	assert_true(duplicated);
	assert_true(dropped);
	h_stabilize(&h);
	h_tick_all(&h, 6);
	assert_int_equal(h.nodes[2].installs, 1);
	assert_int_equal(h.nodes[2].snap_data->len, 95);
	assert_memory_equal(h.nodes[2].snap_data->data, h.nodes[0].snap_data->data, 95);
	assert_int_equal(raft_last_index(R(3)), raft_last_index(R(1)));
	h_free(&h);
}

/* A crash during a snapshot transfer leaves the old state (nothing was installed) and
 * the transfer starts over cleanly; a follower never installs half a snapshot. */
static void test_crash_during_transfer(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h.cfg.snapshot_chunk_bytes = 8;
	h.cfg.max_snapshot_chunks = 1;
	for (raft_id i = 1; i <= 3; i++)
		h_restart(&h, i);
	h_elect(&h, 1);
	h_isolate(&h, 3);
	h_propose_n(&h, 1, 10);
	h_snapshot(&h, 1, 40, 0);
	raft_index before = raft_last_index(R(3));
	h_heal(&h);
	h_tick(&h, 1, h.cfg.heartbeat_ticks);
	/* Deliver a few chunks, then crash node 3 mid-transfer. */
	int chunks = 0;
	for (int i = 0; i < 100 && chunks < 3; i++) {
		if (h_find(&h, 1, 3, RAFT_MSG_SNAPSHOT) != NULL) {
			h_deliver_one(&h, 1, 3, RAFT_MSG_SNAPSHOT);
			chunks++;
		} else if (!h_deliver_one(&h, 0, 0, 0)) {
			h_tick(&h, 1, 1);
		}
	}
	assert_int_equal(chunks, 3);
	assert_int_equal(h.nodes[2].installs, 0);
	h_restart(&h, 3);
	assert_int_equal(raft_last_index(R(3)), before); /* the old state, intact */
	assert_null(h.nodes[2].snap_data);
	h_tick_all(&h, 30);
	assert_int_equal(h.nodes[2].installs, 1);
	assert_int_equal(raft_last_index(R(3)), raft_last_index(R(1)));
	h_free(&h);
}

/* A transfer whose chunks all vanish does not leave the follower stuck: the leader
 * resends from the last acknowledged byte (a known failure of other libraries). */
static void test_stuck_transfer_recovers(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h.cfg.snapshot_chunk_bytes = 16;
	for (raft_id i = 1; i <= 3; i++)
		h_restart(&h, i);
	h_elect(&h, 1);
	h_isolate(&h, 3);
	h_propose_n(&h, 1, 10);
	h_snapshot(&h, 1, 100, 0);
	h_heal(&h);
	h_tick(&h, 1, h.cfg.heartbeat_ticks);
	h_stabilize(&h); /* starts the transfer; the chunks go out */
	for (int i = 0; i < 5; i++) {
		h_drop(&h, 1, 3, RAFT_MSG_SNAPSHOT);
		h_tick(&h, 1, 1);
	}
	assert_true(raft_progress_snapshotting(R(1), 3));
	h_drop(&h, 1, 3, RAFT_MSG_SNAPSHOT);
	h_tick_all(&h, 20);
	assert_int_equal(h.nodes[2].installs, 1);
	assert_false(raft_progress_snapshotting(R(1), 3));
	assert_int_equal(raft_last_index(R(3)), raft_last_index(R(1)));
	h_free(&h);
}

/* The final acknowledgement of an installed snapshot waits for the batch that persists
 * it, like any other promise of durability. */
static void test_install_ack_waits_for_persistence(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	struct raft_conf conf = *raft_conf_current(R(1));
	struct raft_buf *chunk = raft_buf_new("snapshot", 8);
	raft_term t = raft_term_current(R(1));
	struct raft_message m = {.type = RAFT_MSG_SNAPSHOT,
	                         .from = 1,
	                         .to = 2,
	                         .term = t,
	                         .index = 50,
	                         .log_term = t,
	                         .snap_size = 8,
	                         .snap_offset = 0,
	                         .chunk = chunk,
	                         .snap_conf = &conf};
	raft_step(R(2), &m);
	struct raft_ready rd;
	raft_ready(R(2), &rd);
	assert_true(rd.has_snapshot);
	assert_int_equal(rd.snapshot_index, 50);
	assert_true(rd.snapshot_discard_log); /* our log lacks (50, t) */
	assert_int_equal(rd.n_persisted_messages, 1);
	assert_int_equal(rd.persisted_messages[0].type, RAFT_MSG_SNAPSHOT_RESP);
	assert_int_equal(rd.persisted_messages[0].snap_offset, 8);
	for (uint32_t i = 0; i < rd.n_messages; i++)
		assert_int_not_equal(rd.messages[i].type, RAFT_MSG_SNAPSHOT_RESP);
	assert_int_equal(rd.n_committed, 0);
	raft_advance(R(2), &rd);
	assert_int_equal(raft_persisted_index(R(2)), 50);
	assert_int_equal(raft_applied_index(R(2)), 50);
	assert_int_equal(raft_first_index(R(2)), 51);
	raft_buf_unref(chunk);
	h_free(&h);
}

/* A restarted node loads its snapshot, then the log after it. */
static void test_restart_from_snapshot(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_propose_n(&h, 1, 10);
	h_snapshot(&h, 2, 32, 0);
	h_propose_n(&h, 1, 5);
	raft_index last = raft_last_index(R(2));
	raft_index snap = h.nodes[1].snap_index;
	h_restart(&h, 2);
	assert_int_equal(raft_snapshot_index(R(2)), snap);
	assert_int_equal(raft_first_index(R(2)), snap + 1);
	assert_int_equal(raft_last_index(R(2)), last);
	assert_int_equal(raft_applied_index(R(2)), snap);
	h_tick_all(&h, 3);
	assert_int_equal(h.nodes[1].applied, raft_commit_index(R(1)));
	h_free(&h);
}

static void test_snapshot_api_errors(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_propose_n(&h, 1, 3);
	struct raft_buf *b = raft_buf_new("x", 1);
	raft_index applied = raft_applied_index(R(1));
	assert_int_equal(raft_snapshot_taken(R(1), applied + 1, b, 0), RAFT_EINVAL);
	assert_int_equal(raft_snapshot_taken(R(1), applied, NULL, 0), RAFT_EINVAL);
	assert_int_equal(raft_snapshot_meta(R(1), applied + 5, NULL, NULL), RAFT_EINVAL);
	assert_int_equal(raft_snapshot_taken(R(1), applied, b, 0), 0);
	assert_int_equal(raft_snapshot_taken(R(1), applied, b, 0), RAFT_EINVAL); /* not newer */
	raft_buf_unref(b);
	h_free(&h);
}

/* A host's buffer over bytes of its own (the server's maps the stored file). */
static int external_released;

static void external_release(struct raft_buf *b)
{
	(void)b;
	external_released++;
}

static void test_snapshot_data_replace(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_propose_n(&h, 1, 3);
	raft_index applied = raft_applied_index(R(1));
	struct raft_buf *heap = raft_buf_new("abc", 3);
	assert_int_equal(raft_snapshot_taken(R(1), applied, heap, 0), 0);
	static const char bytes[] = "abc";
	struct raft_buf ext, shorter;
	external_released = 0;
	raft_buf_init_external(&ext, bytes, 3, external_release);
	raft_buf_init_external(&shorter, bytes, 2, external_release);
	assert_int_equal(raft_snapshot_data_replace(R(1), applied - 1, &ext), RAFT_EINVAL);
	assert_int_equal(raft_snapshot_data_replace(R(1), applied, &shorter), RAFT_EINVAL);
	assert_int_equal(raft_snapshot_data_replace(R(2), applied, &ext), RAFT_EINVAL); /* none */
	assert_int_equal(raft_snapshot_data_replace(R(1), applied, &ext), 0);
	assert_int_equal(heap->refs, 1); /* the core let its copy go */
	raft_buf_unref(heap);
	raft_buf_unref(&shorter);
	assert_int_equal(external_released, 1);
	raft_buf_unref(&ext); /* ours; the core's reference remains */
	assert_int_equal(external_released, 1);
	assert_int_equal(ext.refs, 1);
	/* A newer snapshot drops the core's reference: the host's release runs. */
	h_propose_n(&h, 1, 1);
	struct raft_buf *next = raft_buf_new("abcd", 4);
	assert_int_equal(raft_snapshot_taken(R(1), raft_applied_index(R(1)), next, 0), 0);
	raft_buf_unref(next);
	assert_int_equal(external_released, 2);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_follower_behind_compaction_gets_snapshot),
	    cmocka_unit_test(test_new_leader_sends_its_snapshot),
	    cmocka_unit_test(test_trailing_entries_avoid_snapshot),
	    cmocka_unit_test(test_chunks_lost_duplicated_reordered),
	    cmocka_unit_test(test_crash_during_transfer),
	    cmocka_unit_test(test_stuck_transfer_recovers),
	    cmocka_unit_test(test_install_ack_waits_for_persistence),
	    cmocka_unit_test(test_restart_from_snapshot),
	    cmocka_unit_test(test_snapshot_api_errors),
	    cmocka_unit_test(test_snapshot_data_replace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
