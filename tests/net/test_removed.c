/* test_removed.c: a removed member's dial is refused with NET_HS_EREMOVED and the index of
 * the configuration that removed it; the dialer hears it (and only from the peer it
 * dialed, after that peer's proof when there is a secret); net_inbound_drop closes the
 * links a member still holds, so that it must dial again and be told. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define REMOVED_AT 42

static const char secret[] = "a secret both members share";

/* What the acceptor knows and what the dialer was told (one test at a time). */
static raft_id removed_id;
static uint32_t told_count;
static raft_id told_by;
static uint64_t told_index;

static bool says_removed(void *ctx, raft_id id, uint64_t *index)
{
	(void)ctx;
	if (id != removed_id)
		return false;
	*index = REMOVED_AT;
	return true;
}

static void told(void *ctx, raft_id by, uint64_t index)
{
	(void)ctx;
	told_count++;
	told_by = by;
	told_index = index;
}

static void hooks(struct net_config *cfg)
{
	cfg->peer_removed = says_removed;
	cfg->on_removed = told;
}

static void hooks_secret(struct net_config *cfg)
{
	hooks(cfg);
	cfg->secret = (const uint8_t *)secret;
	cfg->secret_len = (uint32_t)strlen(secret);
}

static bool was_told(struct harness *h, void *arg)
{
	(void)h;
	(void)arg;
	return told_count > 0;
}

static void reset(raft_id removed)
{
	removed_id = removed;
	told_count = 0;
	told_by = 0;
	told_index = 0;
}

/* Node 0 (id 1) dials node 1 (id 2), which knows id 1 was removed. */
static void refused_and_told(h_config_fn tweak)
{
	struct harness h;
	h_init(&h);
	reset(1);
	assert_int_equal(h_node_start(&h, 0, 1, 1, "127.0.0.1:0", tweak), 0);
	assert_int_equal(h_node_start(&h, 1, 2, 1, "127.0.0.1:0", tweak), 0);
	h_peer(&h, 0, 1, NULL);
	assert_true(h_run_until(&h, was_told, NULL, H_TIMEOUT_MS));
	assert_int_equal(told_by, 2);
	assert_int_equal(told_index, REMOVED_AT);
	assert_int_equal(h_stats(&h, 0, 1).connects, 0);
	assert_true(h_stats(&h, 1, -1).refused >= 1);
	/* Nothing it sends gets through. */
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_OK);
	h_run_for(&h, 200);
	assert_int_equal(h.nodes[1].n_msgs, 0);
	h_fini(&h);
}

static void test_removed_dialer_told(void **state)
{
	(void)state;
	refused_and_told(hooks);
}

static void test_removed_dialer_told_with_secret(void **state)
{
	(void)state;
	refused_and_told(hooks_secret);
}

/* A member the acceptor does not call removed connects as always; the hook is asked
 * about the dialer's own id, not anyone else's. */
static void test_other_member_not_told(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	reset(3);
	assert_int_equal(h_node_start(&h, 0, 1, 1, "127.0.0.1:0", hooks), 0);
	assert_int_equal(h_node_start(&h, 1, 2, 1, "127.0.0.1:0", hooks), 0);
	h_peer(&h, 0, 1, NULL);
	assert_true(h_wait_connects(&h, 0, 1, 1));
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));
	assert_int_equal(told_count, 0);
	h_fini(&h);
}

/* A member connected before its removal: dropping its links makes it dial again, and
 * that dial is refused and tells it. */
static void test_inbound_drop_then_told(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	reset(RAFT_NONE);
	h_start_mesh(&h, 2, hooks);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));
	assert_int_equal(told_count, 0);
	removed_id = 1;
	assert_int_equal(net_inbound_drop(h.nodes[1].net, 1), 1);
	assert_int_equal(net_inbound_drop(h.nodes[1].net, 7), 0);
	assert_true(h_run_until(&h, was_told, NULL, H_TIMEOUT_MS));
	assert_int_equal(told_by, 2);
	assert_int_equal(told_index, REMOVED_AT);
	h_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_removed_dialer_told),
	    cmocka_unit_test(test_removed_dialer_told_with_secret),
	    cmocka_unit_test(test_other_member_not_told),
	    cmocka_unit_test(test_inbound_drop_then_told),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
