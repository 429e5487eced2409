/* test_faults.c: fault injection: drop, partitions, delays, duplicates, reorder, seeds. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

/* Sends `count` heartbeats (or `type`) from i to j tagged first, first + 1, ... */
static void send_many(struct harness *h, int i, int j, enum raft_msg_type type, uint64_t first,
                      uint32_t count)
{
	for (uint32_t k = 0; k < count; k++)
		assert_int_equal(h_send(h, i, j, type, first + k, 0, 0), NET_OK);
}

static void set_fault(struct harness *h, int i, int j, const struct net_fault *f)
{
	assert_int_equal(net_fault_set(h->nodes[i].net, h->nodes[j].id, f), NET_OK);
}

/* Drop with probability 1 delivers nothing; clearing the fault restores delivery. */
static void test_drop_all(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	struct net_fault f = {.drop_probability = 1.0};
	set_fault(&h, 0, 1, &f);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 0, 50);
	send_many(&h, 1, 0, RAFT_MSG_HEARTBEAT, 0, 5); /* the other direction is untouched */
	assert_true(h_wait_received(&h, 0, 1, 5));
	h_run_for(&h, 100);
	assert_int_equal(h_count_from(&h, 1, 0), 0);
	assert_int_equal(h_stats(&h, 0, 1).dropped_fault, 50);
	assert_int_equal(net_fault_clear(h.nodes[0].net, 2), NET_OK);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 100, 5);
	assert_true(h_wait_received(&h, 1, 0, 5));
	assert_int_equal(h.nodes[1].msgs[0].m.context, 100);
	h_fini(&h);
}

/* One-way partition on the sending side: A to B is cut, B to A flows. */
static void test_partition_outbound(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	struct net_fault f = {.block_outbound = true};
	set_fault(&h, 0, 1, &f);
	send_many(&h, 0, 1, RAFT_MSG_VOTE, 0, 10);
	send_many(&h, 1, 0, RAFT_MSG_VOTE_RESP, 0, 10);
	assert_true(h_wait_received(&h, 0, 1, 10));
	h_run_for(&h, 100);
	assert_int_equal(h_count_from(&h, 1, 0), 0);
	h_fini(&h);
}

/* One-way partition on the receiving side: B discards what A sends, A still hears B. */
static void test_partition_inbound(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	struct net_fault f = {.block_inbound = true};
	set_fault(&h, 1, 0, &f);
	send_many(&h, 0, 1, RAFT_MSG_VOTE, 0, 10);
	send_many(&h, 1, 0, RAFT_MSG_VOTE_RESP, 0, 10);
	assert_true(h_wait_received(&h, 0, 1, 10));
	h_run_for(&h, 100);
	assert_int_equal(h_count_from(&h, 1, 0), 0);
	assert_int_equal(h_stats(&h, 1, 0).dropped_fault, 10);
	assert_int_equal(h_stats(&h, 0, 1).sent_msgs, 10); /* they did cross the wire */
	h_fini(&h);
}

/* Both ways, set on one node: nothing crosses in either direction; then it heals. */
static void test_partition_both_ways(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 3, NULL);
	struct net_fault f = {.block_outbound = true, .block_inbound = true};
	set_fault(&h, 0, 1, &f);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 0, 10);
	send_many(&h, 1, 0, RAFT_MSG_HEARTBEAT, 0, 10);
	send_many(&h, 0, 2, RAFT_MSG_HEARTBEAT, 0, 10); /* other links are untouched */
	send_many(&h, 2, 0, RAFT_MSG_HEARTBEAT, 0, 10);
	assert_true(h_wait_received(&h, 2, 0, 10));
	assert_true(h_wait_received(&h, 0, 2, 10));
	h_run_for(&h, 100);
	assert_int_equal(h_count_from(&h, 1, 0), 0);
	assert_int_equal(h_count_from(&h, 0, 1), 0);

	net_fault_clear_all(h.nodes[0].net);
	struct net_fault none;
	assert_int_equal(net_fault_get(h.nodes[0].net, 2, &none), NET_OK);
	assert_false(none.block_outbound);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 20, 3);
	send_many(&h, 1, 0, RAFT_MSG_HEARTBEAT, 20, 3);
	assert_true(h_wait_received(&h, 1, 0, 3));
	assert_true(h_wait_received(&h, 0, 1, 3));
	h_fini(&h);
}

/* Finds the arrival time at node i of the message from j tagged `context`. */
static uint64_t arrival_ms(struct harness *h, int i, int j, uint64_t context)
{
	struct h_node *node = &h->nodes[i];
	for (uint32_t k = 0; k < node->n_msgs; k++)
		if (node->msgs[k].m.from == h->nodes[j].id && node->msgs[k].m.context == context)
			return node->msgs[k].at_ms;
	fail_msg("message %llu not received", (unsigned long long)context);
	return 0;
}

/* Delay requests: requests arrive late, responses at once (and so overtake them). The
 * bounds are generous: these check behaviour, not speed. */
static void check_delay(bool requests)
{
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	const uint32_t delay_ms = 500;
	struct net_fault f = {0};
	if (requests) {
		f.request_delay_ms = delay_ms;
		f.request_delay_probability = 1.0;
	} else {
		f.response_delay_ms = delay_ms;
		f.response_delay_probability = 1.0;
	}
	set_fault(&h, 0, 1, &f);
	uv_update_time(&h.loop);
	uint64_t t0 = uv_now(&h.loop);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, 1, 1, 10), NET_OK);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND_RESP, 2, 0, 0), NET_OK);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_PREVOTE, 3, 0, 0), NET_OK);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT_RESP, 4, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 4));
	uint64_t slow[2], fast[2];
	if (requests) {
		slow[0] = arrival_ms(&h, 1, 0, 1);
		slow[1] = arrival_ms(&h, 1, 0, 3);
		fast[0] = arrival_ms(&h, 1, 0, 2);
		fast[1] = arrival_ms(&h, 1, 0, 4);
	} else {
		slow[0] = arrival_ms(&h, 1, 0, 2);
		slow[1] = arrival_ms(&h, 1, 0, 4);
		fast[0] = arrival_ms(&h, 1, 0, 1);
		fast[1] = arrival_ms(&h, 1, 0, 3);
	}
	for (int k = 0; k < 2; k++) {
		assert_true(slow[k] >= t0 + delay_ms - 5);
		assert_true(slow[k] < t0 + delay_ms + 3000);
		assert_true(fast[k] < t0 + delay_ms - 50);
	}
	/* The fast ones arrived first. */
	assert_true(h.nodes[1].msgs[0].at_ms == fast[0] || h.nodes[1].msgs[0].at_ms == fast[1]);
	assert_int_equal(h_stats(&h, 0, 1).delayed, 2);
	h_fini(&h);
}

static void test_delay_requests(void **state)
{
	(void)state;
	check_delay(true);
}

static void test_delay_responses(void **state)
{
	(void)state;
	check_delay(false);
}

/* Duplicate with probability 1: every message arrives twice. */
static void test_duplicate(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	struct net_fault f = {.duplicate_probability = 1.0};
	set_fault(&h, 0, 1, &f);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 0, 20);
	assert_true(h_wait_received(&h, 1, 0, 40));
	h_run_for(&h, 50);
	assert_int_equal(h_count_from(&h, 1, 0), 40);
	uint32_t seen[20] = {0};
	for (uint32_t k = 0; k < h.nodes[1].n_msgs; k++)
		seen[h.nodes[1].msgs[k].m.context]++;
	for (int k = 0; k < 20; k++)
		assert_int_equal(seen[k], 2);
	assert_int_equal(h_stats(&h, 0, 1).duplicated, 20);
	h_fini(&h);
}

/* Reorder jitter: everything arrives, not in the order sent. */
static void test_reorder(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	struct net_fault f = {.reorder_jitter_ms = 100};
	set_fault(&h, 0, 1, &f);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 0, 100);
	assert_true(h_wait_received(&h, 1, 0, 100));
	uint32_t inversions = 0;
	uint32_t seen[100] = {0};
	for (uint32_t k = 0; k < 100; k++) {
		uint64_t c = h.nodes[1].msgs[k].m.context;
		seen[c]++;
		if (k > 0 && c < h.nodes[1].msgs[k - 1].m.context)
			inversions++;
	}
	for (int k = 0; k < 100; k++)
		assert_int_equal(seen[k], 1);
	assert_true(inversions > 0);
	h_fini(&h);
}

/* A partition set while frames are delayed also cuts those frames. */
static void test_partition_cuts_delayed(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	struct net_fault f = {.request_delay_ms = 100, .request_delay_probability = 1.0};
	set_fault(&h, 0, 1, &f);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 0, 5);
	f.block_outbound = true;
	set_fault(&h, 0, 1, &f);
	h_run_for(&h, 250);
	assert_int_equal(h_count_from(&h, 1, 0), 0);
	struct net_stats s = h_stats(&h, 0, 1);
	assert_int_equal(s.dropped_fault, 5);
	assert_int_equal(s.queued_msgs, 0);
	h_fini(&h);
}

/* Drop with probability 0.5: which messages arrive depends on the seed only. */
static uint64_t seed_value;

static void with_seed(struct net_config *cfg)
{
	cfg->seed = seed_value;
}

static void delivered_set(uint64_t seed, bool out[200])
{
	struct harness h;
	h_init(&h);
	seed_value = seed;
	h_start_mesh(&h, 2, with_seed);
	struct net_fault f = {.drop_probability = 0.5};
	set_fault(&h, 0, 1, &f);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 0, 200);
	/* A marker after clearing the fault: once it arrives, everything else has too. */
	assert_int_equal(net_fault_clear(h.nodes[0].net, 2), NET_OK);
	send_many(&h, 0, 1, RAFT_MSG_HEARTBEAT, 1000, 1);
	struct net_stats s = h_stats(&h, 0, 1);
	assert_true(h_wait_received(&h, 1, 0, (uint32_t)(201 - s.dropped_fault)));
	memset(out, 0, 200 * sizeof(bool));
	for (uint32_t k = 0; k < h.nodes[1].n_msgs; k++) {
		uint64_t c = h.nodes[1].msgs[k].m.context;
		if (c < 200)
			out[c] = true;
	}
	assert_true(s.dropped_fault > 50);
	assert_true(s.dropped_fault < 150);
	h_fini(&h);
}

static void test_same_seed_same_decisions(void **state)
{
	(void)state;
	bool a[200], b[200], c[200];
	delivered_set(42, a);
	delivered_set(42, b);
	delivered_set(43, c);
	assert_memory_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, c, sizeof(a));
}

/* Invalid faults and unknown peers are refused. */
static void test_fault_errors(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_start_mesh(&h, 2, NULL);
	struct net *n = h.nodes[0].net;
	struct net_fault f = {.drop_probability = 1.5};
	assert_int_equal(net_fault_set(n, 2, &f), NET_EINVAL);
	f.drop_probability = -0.1;
	assert_int_equal(net_fault_set(n, 2, &f), NET_EINVAL);
	f.drop_probability = 0;
	f.request_delay_ms = NET_DELAY_MAX_MS + 1;
	assert_int_equal(net_fault_set(n, 2, &f), NET_EINVAL);
	f.request_delay_ms = 0;
	assert_int_equal(net_fault_set(n, 9, &f), NET_ENOPEER);
	assert_int_equal(net_fault_clear(n, 9), NET_ENOPEER);
	assert_int_equal(net_fault_get(n, 9, &f), NET_ENOPEER);
	assert_true(net_msg_is_response(RAFT_MSG_VOTE_RESP));
	assert_true(net_msg_is_response(RAFT_MSG_HEARTBEAT_RESP));
	assert_false(net_msg_is_response(RAFT_MSG_TIMEOUT_NOW));
	assert_false(net_msg_is_response(RAFT_MSG_APPEND));
	h_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_drop_all),
	    cmocka_unit_test(test_partition_outbound),
	    cmocka_unit_test(test_partition_inbound),
	    cmocka_unit_test(test_partition_both_ways),
	    cmocka_unit_test(test_delay_requests),
	    cmocka_unit_test(test_delay_responses),
	    cmocka_unit_test(test_duplicate),
	    cmocka_unit_test(test_reorder),
	    cmocka_unit_test(test_partition_cuts_delayed),
	    cmocka_unit_test(test_same_seed_same_decisions),
	    cmocka_unit_test(test_fault_errors),
	};
	return cmocka_run_group_tests_name("net-faults", tests, NULL, NULL);
}
