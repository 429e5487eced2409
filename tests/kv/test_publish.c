/* test_publish.c: KV_OP_PUBLISH: it leaves the store as it was (no key, no revision, no
 * expiry reaped), survives the log's encoding, is checked against the limits, and reaches
 * the watch hook's publish callback once per applied entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "kv/codec.h"
#include "kv/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the hook heard: "channel=message;" per publish, and the event calls. */
struct heard {
	char buf[256];
	unsigned publishes;
	unsigned events;
};

static void on_publish(void *arg, const void *channel, size_t clen, const void *msg, size_t mlen)
{
	struct heard *h = arg;
	size_t at = strlen(h->buf);
	snprintf(h->buf + at, sizeof(h->buf) - at, "%.*s=%.*s;", (int)clen, (const char *)channel,
	         (int)mlen, (const char *)msg);
	h->publishes++;
}

static int on_events(void *arg, uint64_t rev, const struct kv_event *ev, size_t n)
{
	(void)rev;
	(void)ev;
	(void)n;
	struct heard *h = arg;
	h->events++;
	return 0;
}

static struct kv_cmd publish(const char *channel, const char *msg)
{
	return (struct kv_cmd){.op = KV_OP_PUBLISH,
	                       .put = {.key = channel,
	                               .key_len = strlen(channel),
	                               .value = msg,
	                               .value_len = strlen(msg)}};
}

static void test_publish_changes_nothing(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv *ref = th_kv_new();
	struct heard h = {0};
	struct kv_watch_hook hook = {.events = on_events, .arg = &h, .publish = on_publish};
	kv_watch_hook_set(kv, &hook);
	struct kv_reply r;
	/* The same history on both stores, but for PUBLISH where `ref` gets a NOOP: a key
	 * that expires (named as the channel after its deadline) and a plain one. */
	struct kv_cmd setx = {.op = KV_OP_SET,
	                      .put = {.key = "t",
	                              .key_len = 1,
	                              .value = "1",
	                              .value_len = 1,
	                              .expiry = {.mode = KV_EXPIRY_IN, .ms = 5}}};
	struct kv_cmd set = {.op = KV_OP_SET,
	                     .put = {.key = "a", .key_len = 1, .value = "v", .value_len = 1}};
	for (int i = 0; i < 2; i++) {
		struct kv *k = i == 0 ? kv : ref;
		assert_int_equal(th_at_term(k, 1, 10, setx, &r), KV_OK);
		assert_int_equal(th_at_term(k, 1, 11, set, &r), KV_OK);
	}
	assert_int_equal(h.events, 2);
	uint64_t rev = kv_revision(kv);
	assert_int_equal(th_at_term(kv, 1, 100, publish("t", "hello"), &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(r.revision, rev);
	assert_int_equal(r.integer, 0);
	assert_int_equal(th_at_term(kv, 1, 101, publish("a", ""), &r), KV_OK);
	assert_int_equal(th_at_term(ref, 1, 100, (struct kv_cmd){.op = KV_OP_NOOP}, &r), KV_OK);
	assert_int_equal(th_at_term(ref, 1, 101, (struct kv_cmd){.op = KV_OP_NOOP}, &r), KV_OK);
	assert_int_equal(kv_revision(kv), rev);
	assert_int_equal(h.events, 2); /* no event: nothing changed */
	assert_int_equal(h.publishes, 2);
	assert_string_equal(h.buf, "t=hello;a=;");
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.keys, 2);
	assert_int_equal(st.ttls, 1); /* "t" expired but was not reaped by the publish */
	/* Byte-identical snapshots: a publish leaves no state beyond what a no-op does. */
	assert_true(th_same_state(kv, ref));
	kv_free(kv);
	kv_free(ref);
}

static void test_publish_encoding(void **state)
{
	(void)state;
	static const char chan[] = {'c', 0, 'h'};
	static const char msg[] = {'m', 0, (char)0xff, 's'};
	struct kv_cmd c = {.op = KV_OP_PUBLISH,
	                   .time_ms = 42,
	                   .put = {.key = chan, .key_len = 3, .value = msg, .value_len = 4}};
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&c, NULL, &buf, &len), KV_OK);
	Concord__Kv__Command *pb = kv_cmd_unpack(buf, len);
	assert_non_null(pb);
	struct kv_cmd d;
	struct kv_scratch s;
	assert_int_equal(kv_cmd_from_pb(pb, &d, &s), KV_OK);
	assert_int_equal(d.op, KV_OP_PUBLISH);
	assert_int_equal(d.time_ms, 42);
	assert_int_equal(d.put.key_len, 3);
	assert_memory_equal(d.put.key, chan, 3);
	assert_int_equal(d.put.value_len, 4);
	assert_memory_equal(d.put.value, msg, 4);
	struct kv_limits lim;
	kv_limits_default(&lim);
	assert_int_equal(kv_cmd_check(&d, &lim), KV_OK);
	kv_scratch_free(&s);
	concord__kv__command__free_unpacked(pb, NULL);
	free(buf);
}

static void test_publish_limits(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.limits.key_bytes_max = 4;
	cfg.limits.value_bytes_max = 20;
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct heard h = {0};
	struct kv_watch_hook hook = {.arg = &h, .publish = on_publish};
	kv_watch_hook_set(kv, &hook);
	void *buf;
	size_t len;
	struct kv_cmd c = publish("abcde", "m");
	assert_int_equal(kv_cmd_encode(&c, &cfg.limits, &buf, &len), KV_EKEYTOOBIG);
	c = publish("abcd", "123456789012345678901");
	assert_int_equal(kv_cmd_encode(&c, &cfg.limits, &buf, &len), KV_EVALUETOOBIG);
	/* kv_apply's own checks refuse them too, and the hook hears nothing. */
	struct kv_reply r;
	assert_int_equal(th_do_unchecked(kv, &c, &r), KV_EVALUETOOBIG);
	c = publish("abcde", "m");
	assert_int_equal(th_do_unchecked(kv, &c, &r), KV_EKEYTOOBIG);
	assert_int_equal(h.publishes, 0);
	c = publish("abcd", "12345678901234567890");
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(h.publishes, 1);
	/* Not a transaction's sub-command. */
	struct kv_cmd sub = publish("x", "y");
	struct kv_cmd txn = {.op = KV_OP_TXN, .n_ops = 1, .ops = &sub};
	assert_int_equal(kv_cmd_encode(&txn, NULL, &buf, &len), KV_EINVAL);
	kv_free(kv);
}

/* Under a session a retried publish is answered from the session and not delivered again. */
static void test_publish_session(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct heard h = {0};
	struct kv_watch_hook hook = {.arg = &h, .publish = on_publish};
	kv_watch_hook_set(kv, &hook);
	struct kv_reply r;
	assert_int_equal(th_do(kv, &(struct kv_cmd){.op = KV_OP_SESSION_OPEN}, &r), KV_OK);
	struct kv_cmd c = publish("ch", "once");
	c.client_id = r.client_id;
	c.seq = 1;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.duplicate);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.duplicate);
	assert_int_equal(h.publishes, 1);
	assert_string_equal(h.buf, "ch=once;");
	/* With the hook cleared, nothing is called. */
	kv_watch_hook_set(kv, NULL);
	c.seq = 2;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(h.publishes, 1);
	assert_int_equal(kv_revision(kv), 0);
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_publish_changes_nothing),
	    cmocka_unit_test(test_publish_encoding),
	    cmocka_unit_test(test_publish_limits),
	    cmocka_unit_test(test_publish_session),
	};
	return cmocka_run_group_tests_name("kv publish", tests, NULL, NULL);
}
