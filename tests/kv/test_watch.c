/* test_watch.c: the store's change events: enumeration after a revision, the live hook, and
 * both agreeing with each other over random command streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "kv/kv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(str) (str), (sizeof(str) - 1)

/* Events rendered as text, one line each, so that whole streams compare with strcmp. */
struct log {
	char *buf;
	size_t len, cap;
	uint64_t last_rev;
	uint64_t calls;
	uint64_t resets;
	bool gap; /* a live revision was not the one after the previous */
	size_t stop_after;
};

static void log_add(struct log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_add(struct log *l, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	if (l->len + (size_t)n + 1 > l->cap) {
		l->cap = (l->cap + (size_t)n + 1) * 2;
		l->buf = realloc(l->buf, l->cap);
		assert_non_null(l->buf);
	}
	memcpy(l->buf + l->len, line, (size_t)n + 1);
	l->len += (size_t)n;
}

static void log_event(struct log *l, uint64_t rev, const struct kv_event *e)
{
	assert_int_equal(e->kv.mod_revision, rev);
	log_add(l, "%" PRIu64 " %s %.*s=%.*s c%" PRIu64 " v%" PRIu64, rev,
	        e->type == KV_EVENT_PUT ? "put" : "del", (int)e->kv.key_len,
	        (const char *)e->kv.key, (int)e->kv.value_len, (const char *)e->kv.value,
	        e->kv.create_revision, e->kv.version);
	if (e->prev.mod_revision != 0)
		log_add(l, " prev=%.*s@%" PRIu64 "v%" PRIu64, (int)e->prev.value_len,
		        (const char *)e->prev.value, e->prev.mod_revision, e->prev.version);
	log_add(l, "\n");
}

static int on_events(void *arg, uint64_t rev, const struct kv_event *ev, size_t n)
{
	struct log *l = arg;
	assert_true(n >= 1);
	if (l->last_rev != 0 && rev != l->last_rev + 1)
		l->gap = true;
	assert_true(rev > l->last_rev);
	l->last_rev = rev;
	l->calls++;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(memcmp(ev[i - 1].kv.key, ev[i].kv.key,
			                   ev[i - 1].kv.key_len < ev[i].kv.key_len
			                       ? ev[i - 1].kv.key_len
			                       : ev[i].kv.key_len) <= 0);
		log_event(l, rev, &ev[i]);
	}
	return l->stop_after != 0 && l->calls >= l->stop_after;
}

static void on_reset(void *arg)
{
	((struct log *)arg)->resets++;
}

static const char *all(const struct kv *kv, uint64_t from, struct log *l)
{
	memset(l, 0, sizeof(*l));
	uint64_t next = 0;
	assert_int_equal(kv_events(kv, from, NULL, 0, NULL, 0, SIZE_MAX, on_events, l, &next), 0);
	assert_int_equal(next, kv_revision(kv) + 1);
	return l->buf != NULL ? l->buf : "";
}

static void test_enumerate_basic(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "a", "1"), 0); /* 1 */
	assert_int_equal(th_set(kv, "b", "2"), 0); /* 2 */
	assert_int_equal(th_set(kv, "a", "3"), 0); /* 3 */
	assert_int_equal(th_del(kv, "a"), 0);      /* 4 */
	struct kv_put puts[2] = {{.key = "c", .key_len = 1, .value = "5", .value_len = 1},
	                         {.key = "a", .key_len = 1, .value = "6", .value_len = 1}};
	struct kv_cmd mset = {.op = KV_OP_MSET, .n = 2, .puts = puts};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &mset, &r), 0); /* 5: a and c, in key order */
	struct log l;
	assert_string_equal(all(kv, 1, &l), "1 put a=1 c1 v1\n"
	                                    "2 put b=2 c2 v1\n"
	                                    "3 put a=3 c1 v2 prev=1@1v1\n"
	                                    "4 del a= c0 v0 prev=3@3v2\n"
	                                    "5 put a=6 c5 v1\n"
	                                    "5 put c=5 c5 v1\n");
	free(l.buf);
	assert_string_equal(all(kv, 4, &l), "4 del a= c0 v0 prev=3@3v2\n"
	                                    "5 put a=6 c5 v1\n"
	                                    "5 put c=5 c5 v1\n");
	free(l.buf);
	assert_string_equal(all(kv, 6, &l), ""); /* caught up: nothing, next 6 */
	free(l.buf);

	/* A single key ([a, a\0)), a range, an open-ended range. */
	memset(&l, 0, sizeof(l));
	uint64_t next = 0;
	assert_int_equal(kv_events(kv, 1, S("a"), "a\0", 2, 100, on_events, &l, &next), 0);
	assert_int_equal(l.calls, 4);
	assert_int_equal(next, 6);
	free(l.buf);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_events(kv, 1, S("b"), S("c"), 100, on_events, &l, &next), 0);
	assert_string_equal(l.buf, "2 put b=2 c2 v1\n");
	free(l.buf);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_events(kv, 1, S("b"), NULL, 0, 100, on_events, &l, &next), 0);
	assert_string_equal(l.buf, "2 put b=2 c2 v1\n5 put c=5 c5 v1\n");
	free(l.buf);
	kv_free(kv);
}

static void test_enumerate_limit_and_errors(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	for (int i = 0; i < 5; i++)
		assert_int_equal(th_set(kv, "k", "v"), 0);
	struct kv_put puts[3] = {{.key = "x", .key_len = 1, .value = "1", .value_len = 1},
	                         {.key = "y", .key_len = 1, .value = "1", .value_len = 1},
	                         {.key = "z", .key_len = 1, .value = "1", .value_len = 1}};
	struct kv_cmd mset = {.op = KV_OP_MSET, .n = 3, .puts = puts};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &mset, &r), 0); /* revision 6: three events */
	struct log l = {0};
	uint64_t next = 0;
	/* A limit of 2 stops after two revisions; a revision is never split. */
	assert_int_equal(kv_events(kv, 1, NULL, 0, NULL, 0, 2, on_events, &l, &next), 0);
	assert_int_equal(l.calls, 2);
	assert_int_equal(next, 3);
	free(l.buf);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_events(kv, 6, NULL, 0, NULL, 0, 1, on_events, &l, &next), 0);
	assert_int_equal(l.calls, 1);
	assert_int_equal(next, 7);
	assert_string_equal(l.buf, "6 put x=1 c6 v1\n6 put y=1 c6 v1\n6 put z=1 c6 v1\n");
	free(l.buf);
	/* The callback stops the enumeration: resume after the revision it took. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 3;
	assert_int_equal(kv_events(kv, 1, NULL, 0, NULL, 0, 100, on_events, &l, &next), 0);
	assert_int_equal(next, 4);
	free(l.buf);

	assert_int_equal(kv_events(kv, 0, NULL, 0, NULL, 0, 1, on_events, &l, &next), KV_EINVAL);
	assert_int_equal(kv_events(kv, 1, NULL, 0, NULL, 0, 0, on_events, &l, &next), KV_EINVAL);
	assert_int_equal(kv_events(kv, 8, NULL, 0, NULL, 0, 1, on_events, &l, &next), KV_EFUTURE);
	assert_int_equal(kv_compact(kv, 3), 0);
	assert_int_equal(kv_events(kv, 3, NULL, 0, NULL, 0, 1, on_events, &l, &next),
	                 KV_ECOMPACTED);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_events(kv, 4, S("k"), "k\0", 2, 100, on_events, &l, &next), 0);
	assert_string_equal(l.buf, "4 put k=v c1 v4 prev=v@3v3\n5 put k=v c1 v5 prev=v@4v4\n");
	free(l.buf);
	kv_free(kv);
}

/* Random streams with compaction and a small history window: the live hook sees every
 * revision once, in order, without a gap, and enumerating the retained history after
 * the fact yields exactly what the hook saw above the compaction point. */
static void check_stream(uint64_t seed)
{
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.history_revisions = 50;
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct log live = {0};
	struct kv_watch_hook hook = {on_events, on_reset, &live, NULL};
	kv_watch_hook_set(kv, &hook);
	struct th_gen g;
	th_gen_init(&g, seed);
	for (raft_index i = 1; i <= 2000; i++) {
		struct kv_cmd cmd;
		th_gen_next(&g, i, &cmd);
		void *buf;
		size_t len;
		assert_int_equal(kv_cmd_encode(&cmd, NULL, &buf, &len), 0);
		struct kv_reply r;
		kv_apply(kv, i, buf, len, &r);
		free(buf);
		th_gen_result(&g, &r);
	}
	assert_false(live.gap);
	assert_int_equal(live.last_rev, kv_revision(kv));
	uint64_t c = kv_compact_revision(kv);
	assert_true(c > 0);
	/* The live log from revision c + 1 on. */
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "%" PRIu64 " ", c + 1);
	const char *from = live.buf;
	if (strncmp(from, prefix, strlen(prefix)) != 0) {
		snprintf(prefix, sizeof(prefix), "\n%" PRIu64 " ", c + 1);
		from = strstr(live.buf, prefix);
		assert_non_null(from);
		from++;
	}
	struct log l;
	assert_string_equal(all(kv, c + 1, &l), from);
	free(l.buf);
	/* A snapshot read keeps the hook and reports the reset. */
	void *snap;
	size_t snap_len;
	assert_int_equal(kv_snapshot_write_buf(kv, &snap, &snap_len), 0);
	assert_int_equal(kv_snapshot_read_buf(kv, snap, snap_len), 0);
	free(snap);
	assert_int_equal(live.resets, 1);
	assert_int_equal(th_set(kv, "after", "snap"), 0);
	assert_int_equal(live.last_rev, kv_revision(kv));
	free(live.buf);
	kv_free(kv);
}

static void test_live_matches_enumeration(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 8; seed++)
		check_stream(seed);
}

static void test_no_hook_no_events(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct log live = {0};
	struct kv_watch_hook hook = {on_events, NULL, &live, NULL};
	kv_watch_hook_set(kv, &hook);
	assert_int_equal(th_set(kv, "a", "1"), 0);
	kv_watch_hook_set(kv, NULL);
	assert_int_equal(th_set(kv, "a", "2"), 0);
	assert_int_equal(live.calls, 1);
	free(live.buf);
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enumerate_basic),
	    cmocka_unit_test(test_enumerate_limit_and_errors),
	    cmocka_unit_test(test_live_matches_enumeration),
	    cmocka_unit_test(test_no_hook_no_events),
	};
	return cmocka_run_group_tests_name("kv watch", tests, NULL, NULL);
}
