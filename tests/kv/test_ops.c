/* test_ops.c: the semantics of every key-value operation, revisions, history and reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "kv/impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(str) (str), (sizeof(str) - 1)

static struct kv_cmd set_cmd(const void *k, size_t kl, const void *v, size_t vl)
{
	struct kv_cmd c = {.op = KV_OP_SET,
	                   .put = {.key = k, .key_len = kl, .value = v, .value_len = vl}};
	return c;
}

static void test_errors_and_config(void **state)
{
	(void)state;
	for (int e = 0; e < KV_ERROR_COUNT_; e++)
		assert_true(strlen(kv_strerror(e)) > 0);
	assert_string_equal(kv_strerror(KV_OK), "ok");
	assert_string_equal(kv_strerror(-1), "unknown key-value error");
	assert_string_equal(kv_strerror(KV_ERROR_COUNT_), "unknown key-value error");

	struct kv_config cfg;
	kv_config_default(&cfg);
	struct kv *kv = NULL;
	cfg.limits.key_bytes_max = KV_KEY_BYTES_LIMIT + 1;
	assert_int_equal(kv_new(&cfg, &kv), KV_EINVAL);
	kv_config_default(&cfg);
	cfg.limits.value_bytes_max = 10; /* INCR could not write its result */
	assert_int_equal(kv_new(&cfg, &kv), KV_EINVAL);
	kv_config_default(&cfg);
	cfg.sessions_max = 0;
	assert_int_equal(kv_new(&cfg, &kv), KV_EINVAL);
	kv_config_default(&cfg);
	cfg.limits.keys_per_cmd_max = 0;
	assert_int_equal(kv_new(&cfg, &kv), KV_EINVAL);
	assert_null(kv);

	kv = th_kv_new();
	assert_int_equal(kv_revision(kv), 0);
	assert_int_equal(kv_applied_index(kv), 0);
	assert_int_equal(kv_compact_revision(kv), 0);
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.keys, 0);
	kv_free(kv);
	kv_free(NULL);
}

static void test_set_get_binary(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	/* Keys and values with NUL bytes are distinct byte strings. */
	static const char k1[] = "a\0b", k2[] = "a\0c", k3[] = "a";
	static const char v1[] = "x\0y\0", v2[] = "\0";
	struct kv_reply r;
	struct kv_cmd c = set_cmd(k1, 3, v1, 4);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_false(r.existed);
	assert_int_equal(r.revision, 1);
	assert_int_equal(r.mod_revision, 1);
	c = set_cmd(k2, 3, v2, 1);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	c = set_cmd(k3, 1, "", 0); /* empty value */
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	c = set_cmd("", 0, "empty key", 9);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);

	struct kv_value v;
	assert_int_equal(kv_get(kv, k1, 3, 0, &v), KV_OK);
	assert_int_equal(v.value_len, 4);
	assert_memory_equal(v.value, v1, 4);
	assert_int_equal(v.key_len, 3);
	assert_memory_equal(v.key, k1, 3);
	assert_int_equal(kv_get(kv, k2, 3, 0, &v), KV_OK);
	assert_int_equal(v.value_len, 1);
	assert_memory_equal(v.value, v2, 1);
	assert_int_equal(kv_get(kv, k3, 1, 0, &v), KV_OK);
	assert_int_equal(v.value_len, 0);
	assert_int_equal(kv_get(kv, "", 0, 0, &v), KV_OK);
	assert_int_equal(v.value_len, 9);
	assert_int_equal(kv_get(kv, "a\0", 2, 0, &v), KV_ENOTFOUND);
	assert_int_equal(kv_get(kv, "b", 1, 0, &v), KV_ENOTFOUND);
	assert_true(kv_exists(kv, k1, 3));
	assert_false(kv_exists(kv, "a\0", 2));

	/* Overwrite: same create revision, new mod revision, version 2. */
	c = set_cmd(k1, 3, S("new"));
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.existed);
	assert_int_equal(r.revision, 5);
	assert_int_equal(kv_get(kv, k1, 3, 0, &v), KV_OK);
	assert_int_equal(v.create_revision, 1);
	assert_int_equal(v.mod_revision, 5);
	assert_int_equal(v.version, 2);

	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.keys, 4);
	assert_int_equal(st.key_bytes, 3 + 3 + 1 + 0);
	assert_int_equal(st.value_bytes, 3 + 1 + 0 + 9);
	kv_free(kv);
}

static void test_set_conditions(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	struct kv_cmd c = set_cmd(S("k"), S("1"));
	c.put.cond.kind = KV_COND_PRESENT; /* XX on an absent key */
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.succeeded);
	assert_int_equal(r.mod_revision, 0);
	assert_int_equal(r.revision, 0);
	assert_int_equal(th_is(kv, "k", "1"), -1);

	c.put.cond.kind = KV_COND_ABSENT; /* NX */
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(r.revision, 1);
	c = set_cmd(S("k"), S("2"));
	c.put.cond.kind = KV_COND_ABSENT;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.succeeded);
	assert_true(r.existed);
	assert_int_equal(r.mod_revision, 1);
	assert_int_equal(th_is(kv, "k", "1"), 1);
	c.put.cond.kind = KV_COND_PRESENT;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(th_is(kv, "k", "2"), 1);
	assert_int_equal(kv_revision(kv), 2);
	kv_free(kv);
}

static void test_del(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "a", "1"), KV_OK);
	assert_int_equal(th_set(kv, "b", "2"), KV_OK);
	struct kv_key keys[] = {{"a", 1}, {"zz", 2}, {"b", 1}, {"a", 1}};
	struct kv_cmd c = {.op = KV_OP_DEL, .n = 4, .keys = keys};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(r.integer, 2);
	assert_true(r.existed);
	assert_int_equal(r.revision, 3); /* one revision for the whole command */
	assert_false(kv_exists(kv, "a", 1));
	assert_false(kv_exists(kv, "b", 1));
	/* Deleting nothing changes nothing, not even the revision. */
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(r.integer, 0);
	assert_false(r.existed);
	assert_int_equal(r.revision, 3);
	/* Recreated: a new life, create revision and version start over. */
	assert_int_equal(th_set(kv, "a", "again"), KV_OK);
	struct kv_value v;
	assert_int_equal(kv_get(kv, "a", 1, 0, &v), KV_OK);
	assert_int_equal(v.create_revision, 4);
	assert_int_equal(v.version, 1);
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.keys, 1);
	kv_free(kv);
}

static void test_incr(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	/* Absent: starts at 0. */
	assert_int_equal(th_incrby(kv, "n", 1, &r), KV_OK);
	assert_int_equal(r.integer, 1);
	assert_false(r.existed);
	assert_int_equal(th_incrby(kv, "n", -6, &r), KV_OK);
	assert_int_equal(r.integer, -5);
	assert_true(r.existed);
	assert_int_equal(th_is(kv, "n", "-5"), 1);

	/* Not integers: refused, value and revision untouched. */
	static const char *bad[] = {"abc",
	                            " 1",
	                            "1 ",
	                            "01",
	                            "-0",
	                            "+1",
	                            "",
	                            "-",
	                            "1.5",
	                            "9223372036854775808",
	                            "-9223372036854775809",
	                            "99999999999999999999",
	                            "123456789012345678901"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(th_set(kv, "x", bad[i]), KV_OK);
		uint64_t rev = kv_revision(kv);
		assert_int_equal(th_incrby(kv, "x", 1, &r), KV_ENOTINT);
		assert_false(r.succeeded);
		assert_int_equal(r.revision, rev);
		assert_int_equal(th_is(kv, "x", bad[i]), 1);
	}
	struct kv_cmd c = set_cmd(S("bin"), "1\0", 2);
	assert_int_equal(th_do(kv, &c, NULL), KV_OK);
	assert_int_equal(th_incrby(kv, "bin", 1, &r), KV_ENOTINT);

	/* The edges of int64. */
	assert_int_equal(th_set(kv, "max", "9223372036854775807"), KV_OK);
	assert_int_equal(th_incrby(kv, "max", 0, &r), KV_OK);
	assert_int_equal(r.integer, INT64_MAX);
	assert_int_equal(th_incrby(kv, "max", 1, &r), KV_EOVERFLOW);
	assert_int_equal(th_is(kv, "max", "9223372036854775807"), 1);
	assert_int_equal(th_set(kv, "min", "-9223372036854775808"), KV_OK);
	assert_int_equal(th_incrby(kv, "min", -1, &r), KV_EOVERFLOW);
	assert_int_equal(th_incrby(kv, "min", 1, &r), KV_OK);
	assert_int_equal(th_is(kv, "min", "-9223372036854775807"), 1);
	assert_int_equal(th_incrby(kv, "new", INT64_MIN, &r), KV_OK);
	assert_int_equal(th_is(kv, "new", "-9223372036854775808"), 1);
	assert_int_equal(th_set(kv, "zero", "0"), KV_OK);
	assert_int_equal(th_incrby(kv, "zero", 7, &r), KV_OK);
	assert_int_equal(r.integer, 7);
	kv_free(kv);
}

static void test_append(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.limits.value_bytes_max = 32;
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct kv_reply r;
	struct kv_cmd c = {.op = KV_OP_APPEND,
	                   .put = {.key = "k", .key_len = 1, .value = "ab\0", .value_len = 3}};
	assert_int_equal(th_do(kv, &c, &r), KV_OK); /* absent: created */
	assert_int_equal(r.integer, 3);
	assert_false(r.existed);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(r.integer, 6);
	assert_true(r.existed);
	struct kv_value v;
	assert_int_equal(kv_get(kv, "k", 1, 0, &v), KV_OK);
	assert_int_equal(v.value_len, 6);
	assert_memory_equal(v.value, "ab\0ab\0", 6);
	assert_int_equal(v.version, 2);
	/* Past the value limit: refused whole. */
	c.put.value = "0123456789012345678901234567";
	c.put.value_len = 27;
	uint64_t rev = kv_revision(kv);
	assert_int_equal(th_do(kv, &c, &r), KV_EVALUETOOBIG);
	assert_int_equal(kv_revision(kv), rev);
	assert_int_equal(kv_get(kv, "k", 1, 0, &v), KV_OK);
	assert_int_equal(v.value_len, 6);
	c.put.value_len = 0; /* appending nothing still writes */
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(r.integer, 6);
	assert_int_equal(kv_revision(kv), rev + 1);
	kv_free(kv);
}

static void test_mset_atomic(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "b", "old"), KV_OK);
	struct kv_put puts[] = {
	    {.key = "a", .key_len = 1, .value = "1", .value_len = 1},
	    {.key = "b",
	     .key_len = 1,
	     .value = "2",
	     .value_len = 1,
	     .cond = {.kind = KV_COND_ABSENT}}, /* fails: b exists */
	    {.key = "c", .key_len = 1, .value = "3", .value_len = 1},
	};
	struct kv_cmd c = {.op = KV_OP_MSET, .n = 3, .puts = puts};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.succeeded);
	assert_int_equal(r.failed_index, 1);
	assert_int_equal(r.mod_revision, 1);
	assert_int_equal(r.revision, 1);
	assert_false(kv_exists(kv, "a", 1)); /* nothing applied */
	assert_false(kv_exists(kv, "c", 1));
	assert_int_equal(th_is(kv, "b", "old"), 1);

	puts[1].cond.kind = KV_COND_VALUE;
	puts[1].cond.value = "old";
	puts[1].cond.value_len = 3;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(r.revision, 2);
	for (const char *k = "abc"; *k; k++) {
		struct kv_value v;
		assert_int_equal(kv_get(kv, k, 1, 0, &v), KV_OK);
		assert_int_equal(v.mod_revision, 2);
	}
	/* A key twice in one MSET: the later value wins, written once. */
	struct kv_put dup[] = {
	    {.key = "d", .key_len = 1, .value = "first", .value_len = 5},
	    {.key = "d", .key_len = 1, .value = "second", .value_len = 6},
	};
	struct kv_cmd c2 = {.op = KV_OP_MSET, .n = 2, .puts = dup};
	assert_int_equal(th_do(kv, &c2, &r), KV_OK);
	struct kv_value v;
	assert_int_equal(kv_get(kv, "d", 1, 0, &v), KV_OK);
	assert_int_equal(v.value_len, 6);
	assert_int_equal(v.version, 1);
	assert_int_equal(v.create_revision, 3);
	assert_int_equal(th_do(kv, &c2, &r), KV_OK);
	assert_int_equal(kv_get(kv, "d", 1, 0, &v), KV_OK);
	assert_int_equal(v.version, 2);
	/* Reading the revision in between shows the value before, not "first". */
	assert_int_equal(kv_get(kv, "d", 1, 3, &v), KV_OK);
	assert_memory_equal(v.value, "second", 6);
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.versions, 1 + 2 + 1 + 2 + 0); /* a:1 b:old,2 c:1 d:2 */
	kv_free(kv);
}

static void test_cas(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	/* By version: 0 means "must not exist". */
	struct kv_cmd c = {.op = KV_OP_CAS,
	                   .put = {.key = "k",
	                           .key_len = 1,
	                           .value = "v1",
	                           .value_len = 2,
	                           .cond = {.kind = KV_COND_MOD_REVISION, .mod_revision = 0}}};
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(r.mod_revision, 1);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.succeeded);
	assert_int_equal(r.mod_revision, 1); /* the current one, to retry with */
	c.put.cond.mod_revision = 1;
	c.put.value = "v2";
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(r.mod_revision, 2);
	assert_int_equal(th_do(kv, &c, &r), KV_OK); /* revision 1 is stale now */
	assert_false(r.succeeded);
	assert_int_equal(r.mod_revision, 2);
	assert_int_equal(th_is(kv, "k", "v2"), 1);

	/* By value, binary. */
	c.put.cond.kind = KV_COND_VALUE;
	c.put.cond.value = "v\0";
	c.put.cond.value_len = 2;
	c.put.value = "v3";
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.succeeded);
	assert_true(r.existed);
	c.put.cond.value = "v2";
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(th_is(kv, "k", "v3"), 1);
	c.put.key = "absent";
	c.put.key_len = 6;
	assert_int_equal(th_do(kv, &c, &r), KV_OK); /* a value compare needs the key */
	assert_false(r.succeeded);
	assert_int_equal(r.mod_revision, 0);

	/* Compare-and-delete. */
	struct kv_cmd d = {.op = KV_OP_CAS,
	                   .put = {.key = "k",
	                           .key_len = 1,
	                           .cond = {.kind = KV_COND_VALUE, .value = "v3", .value_len = 2}},
	                   .cas_delete = true};
	uint64_t rev = kv_revision(kv);
	assert_int_equal(th_do(kv, &d, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(r.mod_revision, rev + 1);
	assert_false(kv_exists(kv, "k", 1));
	d.put.cond.kind = KV_COND_ABSENT; /* deleting what is absent: holds, no write */
	assert_int_equal(th_do(kv, &d, &r), KV_OK);
	assert_true(r.succeeded);
	assert_int_equal(kv_revision(kv), rev + 1);

	/* A CAS must compare something. */
	void *buf;
	size_t len;
	struct kv_cmd none = {.op = KV_OP_CAS, .put = {.key = "k", .key_len = 1}};
	assert_int_equal(kv_cmd_encode(&none, NULL, &buf, &len), KV_EINVAL);
	kv_free(kv);
}

static void test_revisions(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "a", "1"), KV_OK); /* rev 1 */
	assert_int_equal(th_set(kv, "b", "1"), KV_OK); /* rev 2 */
	assert_int_equal(th_set(kv, "a", "2"), KV_OK); /* rev 3 */
	struct kv_reply r;
	assert_int_equal(th_incrby(kv, "c", 5, &r), KV_OK); /* rev 4 */
	assert_int_equal(r.revision, 4);
	assert_int_equal(th_del(kv, "b"), KV_OK); /* rev 5 */
	struct kv_cmd noop = {.op = KV_OP_NOOP};
	assert_int_equal(th_do(kv, &noop, &r), KV_OK); /* no write, no revision */
	assert_int_equal(r.revision, 5);
	assert_int_equal(kv_revision(kv), 5);
	assert_int_equal(kv_applied_index(kv), 6);

	struct kv_value v;
	assert_int_equal(kv_get(kv, "a", 1, 0, &v), KV_OK);
	assert_int_equal(v.create_revision, 1);
	assert_int_equal(v.mod_revision, 3);
	assert_int_equal(v.version, 2);
	/* Every older revision still reads as it was. */
	assert_int_equal(kv_get(kv, "a", 1, 1, &v), KV_OK);
	assert_memory_equal(v.value, "1", 1);
	assert_int_equal(v.mod_revision, 1);
	assert_int_equal(v.version, 1);
	assert_int_equal(kv_get(kv, "a", 1, 2, &v), KV_OK);
	assert_memory_equal(v.value, "1", 1);
	assert_int_equal(kv_get(kv, "a", 1, 3, &v), KV_OK);
	assert_memory_equal(v.value, "2", 1);
	assert_int_equal(kv_get(kv, "b", 1, 1, &v), KV_ENOTFOUND);
	assert_int_equal(kv_get(kv, "b", 1, 4, &v), KV_OK);
	assert_int_equal(kv_get(kv, "b", 1, 5, &v), KV_ENOTFOUND);
	assert_int_equal(kv_get(kv, "a", 1, 6, &v), KV_EFUTURE);

	/* kv_apply_skip advances the applied index only. */
	kv_apply_skip(kv, 10);
	assert_int_equal(kv_applied_index(kv), 10);
	assert_int_equal(kv_revision(kv), 5);

	/* Log entries: a leader's no-op is skipped, a normal entry is a command. */
	struct raft_entry noop_entry = {.term = 2, .index = 11, .type = RAFT_ENTRY_NOOP};
	assert_int_equal(kv_apply_entry(kv, &noop_entry, &r), KV_OK);
	assert_int_equal(r.revision, 5);
	assert_int_equal(kv_applied_index(kv), 11);
	struct kv_cmd c = {.op = KV_OP_SET, .put = {.key = "e", .key_len = 1}};
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&c, NULL, &buf, &len), KV_OK);
	struct raft_entry set_entry = {
	    .term = 2, .index = 12, .type = RAFT_ENTRY_NORMAL, .buf = raft_buf_new(buf, len)};
	free(buf);
	assert_int_equal(kv_apply_entry(kv, &set_entry, &r), KV_OK);
	assert_int_equal(r.revision, 6);
	assert_true(kv_exists(kv, "e", 1));
	raft_buf_unref(set_entry.buf);
	struct raft_entry empty = {.term = 2, .index = 13, .type = RAFT_ENTRY_NORMAL};
	assert_int_equal(kv_apply_entry(kv, &empty, &r), KV_EBADCMD);
	kv_free(kv);
}

static void test_history_window(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.history_revisions = 3;
	struct kv *kv = th_kv_new_cfg(&cfg);
	char val[8];
	for (int i = 1; i <= 10; i++) {
		snprintf(val, sizeof(val), "%d", i);
		assert_int_equal(th_set(kv, "k", val), KV_OK);
	}
	/* Revision 10 now; the window keeps 7, 8, 9 and 10 readable. */
	assert_int_equal(kv_compact_revision(kv), 7);
	struct kv_value v;
	for (uint64_t rev = 7; rev <= 10; rev++) {
		assert_int_equal(kv_get(kv, "k", 1, rev, &v), KV_OK);
		snprintf(val, sizeof(val), "%d", (int)rev);
		assert_int_equal(v.value_len, strlen(val));
		assert_memory_equal(v.value, val, v.value_len);
	}
	assert_int_equal(kv_get(kv, "k", 1, 6, &v), KV_ECOMPACTED);
	assert_int_equal(kv_get(kv, "k", 1, 1, &v), KV_ECOMPACTED);
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.versions, 4);

	/* A deleted key stays readable at older revisions, then leaves entirely. */
	assert_int_equal(th_del(kv, "k"), KV_OK); /* rev 11 */
	assert_int_equal(kv_get(kv, "k", 1, 10, &v), KV_OK);
	assert_int_equal(kv_get(kv, "k", 1, 0, &v), KV_ENOTFOUND);
	for (int i = 0; i < 4; i++)
		assert_int_equal(th_set(kv, "other", "x"), KV_OK);
	kv_stats(kv, &st);
	assert_int_equal(kv_compact_revision(kv), 12);
	assert_int_equal(st.versions, 4); /* "k" gone; "other" at 12..15 */
	assert_int_equal(st.keys, 1);
	assert_int_equal(kv_get(kv, "k", 1, 12, &v), KV_ENOTFOUND);

	/* Explicit compaction, directly and through the log. */
	assert_int_equal(kv_compact(kv, 12), KV_ECOMPACTED);
	assert_int_equal(kv_compact(kv, 99), KV_EFUTURE);
	assert_int_equal(kv_compact(kv, 14), KV_OK);
	assert_int_equal(kv_get(kv, "other", 5, 13, &v), KV_ECOMPACTED);
	struct kv_cmd c = {.op = KV_OP_COMPACT, .revision = 15};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_int_equal(kv_compact_revision(kv), 15);
	assert_int_equal(th_do(kv, &c, &r), KV_ECOMPACTED);
	kv_stats(kv, &st);
	assert_int_equal(st.versions, 1);
	assert_int_equal(st.history_bytes, 0);
	kv_free(kv);

	/* No history at all: only the latest revision is readable. */
	cfg.history_revisions = 0;
	kv = th_kv_new_cfg(&cfg);
	assert_int_equal(th_set(kv, "a", "1"), KV_OK);
	assert_int_equal(th_set(kv, "a", "2"), KV_OK);
	assert_int_equal(th_del(kv, "a"), KV_OK);
	kv_stats(kv, &st);
	assert_int_equal(st.versions, 0);
	assert_int_equal(kv_get(kv, "a", 1, 2, &v), KV_ECOMPACTED);
	kv_free(kv);
}

/* Random writes checked against a model that remembers every revision. */
#define MODEL_KEYS 6
#define MODEL_REVS 3000

struct model {
	/* value at each revision per key: -1 absent, else a small number */
	int val[MODEL_REVS + 1][MODEL_KEYS];
};

static void test_history_model(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.history_revisions = 50;
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct model *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	for (int k = 0; k < MODEL_KEYS; k++)
		m->val[0][k] = -1;
	uint64_t rng = 7;
	uint64_t rev = 0;
	while (rev < MODEL_REVS - 1) {
		int k = (int)(th_rand(&rng) % MODEL_KEYS);
		char key[2] = {(char)('a' + k), 0};
		int cur = m->val[rev][k];
		uint64_t op = th_rand(&rng) % 10;
		if (op < 3 && cur >= 0) {
			assert_int_equal(th_del(kv, key), KV_OK);
		} else if (op < 3) {
			assert_int_equal(th_del(kv, key), KV_OK);
			assert_int_equal(kv_revision(kv), rev); /* nothing deleted */
			continue;
		} else if (op == 3 && rev > 10) {
			uint64_t to = rev - th_rand(&rng) % 10;
			int want = to > kv_compact_revision(kv) ? KV_OK : KV_ECOMPACTED;
			assert_int_equal(kv_compact(kv, to), want);
			continue;
		} else {
			char val[16];
			snprintf(val, sizeof(val), "%d", (int)(th_rand(&rng) % 1000));
			assert_int_equal(th_set(kv, key, val), KV_OK);
		}
		rev++;
		assert_int_equal(kv_revision(kv), rev);
		memcpy(m->val[rev], m->val[rev - 1], sizeof(m->val[rev]));
		struct kv_value v;
		if (kv_get(kv, key, 1, 0, &v) == KV_OK) {
			char buf[16] = {0};
			memcpy(buf, v.value, v.value_len);
			m->val[rev][k] = atoi(buf);
		} else {
			m->val[rev][k] = -1;
		}
		/* Probe a few readable revisions. */
		for (int p = 0; p < 4; p++) {
			uint64_t lo = kv_compact_revision(kv);
			uint64_t at = lo + th_rand(&rng) % (rev - lo + 1);
			if (at == 0)
				continue;
			int pk = (int)(th_rand(&rng) % MODEL_KEYS);
			char pkey[2] = {(char)('a' + pk), 0};
			int rv = kv_get(kv, pkey, 1, at, &v);
			if (m->val[at][pk] < 0) {
				assert_int_equal(rv, KV_ENOTFOUND);
			} else {
				assert_int_equal(rv, KV_OK);
				char buf[16] = {0};
				memcpy(buf, v.value, v.value_len);
				assert_int_equal(atoi(buf), m->val[at][pk]);
			}
			if (lo > 1)
				assert_int_equal(kv_get(kv, pkey, 1, lo - 1, &v), KV_ECOMPACTED);
		}
	}
	/* History stays bounded by the window. */
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_true(st.versions <= MODEL_KEYS + 51);
	free(m);
	kv_free(kv);
}

struct scan_out {
	int n;
	char keys[16][8];
	size_t lens[16];
	uint64_t mods[16];
};

static int scan_collect(void *arg, const struct kv_value *v)
{
	struct scan_out *o = arg;
	assert_true(o->n < 16);
	assert_true(v->key_len <= 8);
	memcpy(o->keys[o->n], v->key, v->key_len);
	o->lens[o->n] = v->key_len;
	o->mods[o->n] = v->mod_revision;
	o->n++;
	return 0;
}

static int scan_stop_after_two(void *arg, const struct kv_value *v)
{
	int *n = arg;
	(void)v;
	return ++*n == 2;
}

static void test_scan(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	/* Inserted out of order; byte order is "a" < "a\0" < "a\0x" < "aa" < "a\xff" < "b". */
	struct kv_key keys[] = {{"b", 1},    {"aa", 2}, {"a\xff", 2},
	                        {"a\0x", 3}, {"a", 1},  {"a\0", 2}};
	for (size_t i = 0; i < 6; i++) {
		struct kv_cmd c = set_cmd(keys[i].data, keys[i].len, "v", 1);
		assert_int_equal(th_do(kv, &c, NULL), KV_OK);
	}
	struct scan_out o = {0};
	bool more;
	assert_int_equal(kv_scan(kv, NULL, 0, NULL, 0, 100, 0, scan_collect, &o, &more), KV_OK);
	assert_false(more);
	assert_int_equal(o.n, 6);
	static const struct kv_key want[] = {{"a", 1},  {"a\0", 2},   {"a\0x", 3},
	                                     {"aa", 2}, {"a\xff", 2}, {"b", 1}};
	for (int i = 0; i < 6; i++) {
		assert_int_equal(o.lens[i], want[i].len);
		assert_memory_equal(o.keys[i], want[i].data, want[i].len);
	}
	/* Prefix "a\0": two keys. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "a\0", 2, NULL, 0, 100, 0, scan_collect, &o, &more), KV_OK);
	assert_int_equal(o.n, 2);
	assert_memory_equal(o.keys[1], "a\0x", 3);
	/* Limit and paging: start after the last key seen (append a zero byte). */
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "a", 1, NULL, 0, 2, 0, scan_collect, &o, &more), KV_OK);
	assert_int_equal(o.n, 2);
	assert_true(more);
	char next[9];
	memcpy(next, o.keys[1], o.lens[1]);
	next[o.lens[1]] = '\0';
	size_t next_len = o.lens[1] + 1;
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "a", 1, next, next_len, 2, 0, scan_collect, &o, &more), KV_OK);
	assert_int_equal(o.n, 2);
	assert_memory_equal(o.keys[0], "a\0x", 3);
	assert_memory_equal(o.keys[1], "aa", 2);
	assert_true(more);
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "a", 1, "a\x80", 2, 2, 0, scan_collect, &o, &more), KV_OK);
	assert_int_equal(o.n, 1);
	assert_memory_equal(o.keys[0], "a\xff", 2);
	assert_false(more);
	/* A start key before the prefix begins at the prefix. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "aa", 2, "0", 1, 9, 0, scan_collect, &o, &more), KV_OK);
	assert_int_equal(o.n, 1);
	/* The callback can stop early. */
	int seen = 0;
	assert_int_equal(kv_scan(kv, NULL, 0, NULL, 0, 100, 0, scan_stop_after_two, &seen, NULL),
	                 KV_OK);
	assert_int_equal(seen, 2);
	/* Deleted keys are skipped at the latest revision and seen at older ones. */
	assert_int_equal(th_del(kv, "aa"), KV_OK);
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "a", 1, NULL, 0, 100, 0, scan_collect, &o, NULL), KV_OK);
	assert_int_equal(o.n, 4);
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "a", 1, NULL, 0, 100, 6, scan_collect, &o, NULL), KV_OK);
	assert_int_equal(o.n, 5);
	memset(&o, 0, sizeof(o));
	assert_int_equal(kv_scan(kv, "a", 1, NULL, 0, 100, 3, scan_collect, &o, NULL), KV_OK);
	assert_int_equal(o.n, 2); /* at revision 3: "aa" (2) and "a\xff" (3) */
	assert_int_equal(kv_scan(kv, "a", 1, NULL, 0, 0, 0, scan_collect, &o, NULL), KV_EINVAL);
	assert_int_equal(kv_scan(kv, "a", 1, NULL, 0, 1, 99, scan_collect, &o, NULL), KV_EFUTURE);
	kv_free(kv);
}

static void test_mget(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_set(kv, "a", "1"), KV_OK);
	assert_int_equal(th_set(kv, "c", "3"), KV_OK);
	assert_int_equal(th_set(kv, "a", "one"), KV_OK);
	struct kv_key keys[] = {{"a", 1}, {"b", 1}, {"c", 1}};
	struct kv_value out[3];
	assert_int_equal(kv_mget(kv, 3, keys, 0, out), KV_OK);
	assert_int_equal(out[0].value_len, 3);
	assert_int_equal(out[1].mod_revision, 0);
	assert_null(out[1].value);
	assert_int_equal(out[2].mod_revision, 2);
	assert_int_equal(kv_mget(kv, 3, keys, 1, out), KV_OK);
	assert_int_equal(out[0].value_len, 1);
	assert_int_equal(out[2].mod_revision, 0);
	assert_int_equal(kv_mget(kv, 3, keys, 4, out), KV_EFUTURE);
	kv_free(kv);
}

static void test_limits(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.limits.key_bytes_max = 8;
	cfg.limits.value_bytes_max = 32;
	cfg.limits.keys_per_cmd_max = 2;
	struct kv *kv = th_kv_new_cfg(&cfg);
	char big[64];
	memset(big, 'x', sizeof(big));
	void *buf;
	size_t len;

	/* The builders refuse with the same limits... */
	struct kv_cmd c = set_cmd(big, 9, "v", 1);
	assert_int_equal(kv_cmd_encode(&c, &cfg.limits, &buf, &len), KV_EKEYTOOBIG);
	c = set_cmd(big, 8, big, 33);
	assert_int_equal(kv_cmd_encode(&c, &cfg.limits, &buf, &len), KV_EVALUETOOBIG);
	struct kv_key keys[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
	struct kv_cmd d = {.op = KV_OP_DEL, .n = 3, .keys = keys};
	assert_int_equal(kv_cmd_encode(&d, &cfg.limits, &buf, &len), KV_ETOOMANY);
	d.n = 0;
	assert_int_equal(kv_cmd_encode(&d, &cfg.limits, &buf, &len), KV_EINVAL);
	struct kv_cmd cmp = {.op = KV_OP_COMPACT};
	assert_int_equal(kv_cmd_encode(&cmp, &cfg.limits, &buf, &len), KV_EINVAL);
	struct kv_cmd nos = {.op = KV_OP_SET, .client_id = 5, .put = {.key = "k", .key_len = 1}};
	assert_int_equal(kv_cmd_encode(&nos, &cfg.limits, &buf, &len), KV_EINVAL);

	/* ...and kv_apply refuses what a more permissive builder let through. */
	struct kv_reply r;
	c = set_cmd(big, 9, "v", 1);
	assert_int_equal(th_do_unchecked(kv, &c, &r), KV_EKEYTOOBIG);
	c = set_cmd(big, 8, big, 33);
	assert_int_equal(th_do_unchecked(kv, &c, &r), KV_EVALUETOOBIG);
	c.put.value_len = 32;
	assert_int_equal(th_do_unchecked(kv, &c, &r), KV_OK);
	d.n = 3;
	assert_int_equal(th_do_unchecked(kv, &d, &r), KV_ETOOMANY);
	struct kv_put puts[2] = {{.key = "a", .key_len = 1},
	                         {.key = "b", .key_len = 1, .value = big, .value_len = 40}};
	struct kv_cmd m = {.op = KV_OP_MSET, .n = 2, .puts = puts};
	assert_int_equal(th_do_unchecked(kv, &m, &r), KV_EVALUETOOBIG);
	assert_false(kv_exists(kv, "a", 1));
	struct kv_cmd cv = {
	    .op = KV_OP_CAS,
	    .put = {.key = "k",
	            .key_len = 1,
	            .cond = {.kind = KV_COND_VALUE, .value = big, .value_len = 40}}};
	assert_int_equal(th_do_unchecked(kv, &cv, &r), KV_EVALUETOOBIG);
	assert_int_equal(kv_revision(kv), 1);
	/* Reads too. */
	struct kv_value v;
	assert_int_equal(kv_get(kv, big, 9, 0, &v), KV_EKEYTOOBIG);
	assert_false(kv_exists(kv, big, 9));
	struct kv_value out[3];
	assert_int_equal(kv_mget(kv, 3, keys, 0, out), KV_ETOOMANY);
	kv_free(kv);
}

static int scan_count(void *arg, const struct kv_value *v)
{
	(void)v;
	(*(int *)arg)++;
	return 0;
}

/* Enough keys to grow the hash index several times while keys come and go, checked
 * against the ordered list. */
static void test_many_keys(void **state)
{
	(void)state;
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.history_revisions = 0; /* deleted keys leave the map at once */
	struct kv *kv = th_kv_new_cfg(&cfg);
	enum { N = 40000 };
	char key[16], val[16];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%07d", (i * 7919) % N);
		snprintf(val, sizeof(val), "%d", i);
		assert_int_equal(th_set(kv, key, val), KV_OK);
		if (i % 3 == 2) {
			snprintf(key, sizeof(key), "k%07d", ((i - 1) * 7919) % N);
			assert_int_equal(th_del(kv, key), KV_OK);
		}
	}
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.keys, N - N / 3);
	assert_int_equal(st.versions, st.keys);
	int n = 0;
	assert_int_equal(kv_scan(kv, "k", 1, NULL, 0, N, 0, scan_count, &n, NULL), KV_OK);
	assert_int_equal(n, (int)st.keys);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%07d", (i * 7919) % N);
		bool deleted = i % 3 == 1;
		assert_int_equal(kv_exists(kv, key, strlen(key)), !deleted);
	}
	kv_free(kv);
}

static void test_siphash(void **state)
{
	(void)state;
	/* The reference vectors of SipHash-2-4 (Aumasson and Bernstein), key 00..0f. */
	uint64_t key[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
	unsigned char msg[15];
	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	assert_true(kv_siphash(key, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ull);
	assert_true(kv_siphash(key, msg, 15, 2, 4) == 0xa129ca6149be45e5ull);
	assert_true(kv_siphash(key, msg, 8, 2, 4) == 0x93f5f5799a932462ull);
}

/* kv_reply.members_written is set exactly when a command wrote or deleted a key under
 * KV_MEMBER_PREFIX: the node reloads its address book from it. */
static void test_members_written(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	static const char member[] = KV_MEMBER_PREFIX "7";
	static const char other_reserved[] = KV_RESERVED_PREFIX "other";
	const size_t mlen = sizeof(member) - 1;
	assert_true(kv_key_member(member, mlen));
	assert_false(kv_key_member(other_reserved, sizeof(other_reserved) - 1));
	assert_false(kv_key_member(member, KV_MEMBER_PREFIX_LEN - 1));

	/* Plain keys and other reserved keys: never. */
	struct kv_cmd c = set_cmd(S("k"), S("v"));
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.succeeded);
	assert_false(r.members_written);
	c = set_cmd(other_reserved, sizeof(other_reserved) - 1, S("v"));
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.members_written);
	/* SET of a member key; not when its condition fails. */
	c = set_cmd(member, mlen, S("addr"));
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.members_written);
	c.put.cond.kind = KV_COND_ABSENT;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_false(r.succeeded);
	assert_false(r.members_written);
	/* A read-only command in between says nothing. */
	struct kv_cmd noop = {.op = KV_OP_NOOP};
	assert_int_equal(th_do(kv, &noop, &r), KV_OK);
	assert_false(r.members_written);
	/* APPEND and INCRBY write. */
	struct kv_cmd app = {.op = KV_OP_APPEND,
	                     .put = {.key = member, .key_len = mlen, .value = "x", .value_len = 1}};
	assert_int_equal(th_do(kv, &app, &r), KV_OK);
	assert_true(r.members_written);
	static const char counter[] = KV_MEMBER_PREFIX "n";
	struct kv_cmd inc = {.op = KV_OP_INCRBY,
	                     .put = {.key = counter, .key_len = sizeof(counter) - 1},
	                     .delta = 1};
	assert_int_equal(th_do(kv, &inc, &r), KV_OK);
	assert_true(r.members_written);
	/* MSET: one member key among others; none when a condition fails. */
	struct kv_put puts[] = {
	    {.key = "a", .key_len = 1, .value = "1", .value_len = 1},
	    {.key = member, .key_len = mlen, .value = "2", .value_len = 1},
	};
	struct kv_cmd ms = {.op = KV_OP_MSET, .n = 2, .puts = puts};
	assert_int_equal(th_do(kv, &ms, &r), KV_OK);
	assert_true(r.members_written);
	puts[0].cond.kind = KV_COND_ABSENT; /* "a" exists: all or nothing */
	assert_int_equal(th_do(kv, &ms, &r), KV_OK);
	assert_false(r.succeeded);
	assert_false(r.members_written);
	/* DEL: only when a member key existed. */
	struct kv_key keys[] = {{"a", 1}, {member, mlen}};
	struct kv_cmd del = {.op = KV_OP_DEL, .n = 2, .keys = keys};
	assert_int_equal(th_do(kv, &del, &r), KV_OK);
	assert_true(r.members_written);
	assert_int_equal(th_do(kv, &del, &r), KV_OK);
	assert_int_equal(r.integer, 0);
	assert_false(r.members_written);
	/* CAS, writing and deleting; a failed comparison writes nothing. */
	struct kv_cmd cas = {.op = KV_OP_CAS,
	                     .put = {.key = member,
	                             .key_len = mlen,
	                             .value = "3",
	                             .value_len = 1,
	                             .cond = {.kind = KV_COND_ABSENT}}};
	assert_int_equal(th_do(kv, &cas, &r), KV_OK);
	assert_true(r.succeeded);
	assert_true(r.members_written);
	assert_int_equal(th_do(kv, &cas, &r), KV_OK);
	assert_false(r.succeeded);
	assert_false(r.members_written);
	struct kv_cmd cas_del = {
	    .op = KV_OP_CAS,
	    .cas_delete = true,
	    .put = {.key = member, .key_len = mlen, .cond = {.kind = KV_COND_PRESENT}}};
	assert_int_equal(th_do(kv, &cas_del, &r), KV_OK);
	assert_true(r.succeeded);
	assert_true(r.members_written);
	/* A session's retry is answered from the stored reply and writes nothing. */
	struct kv_cmd open = {.op = KV_OP_SESSION_OPEN};
	assert_int_equal(th_do(kv, &open, &r), KV_OK);
	uint64_t id = r.client_id;
	c = set_cmd(member, mlen, S("again"));
	c.client_id = id;
	c.seq = 1;
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.members_written);
	assert_int_equal(th_do(kv, &c, &r), KV_OK);
	assert_true(r.duplicate);
	assert_false(r.members_written);
	kv_free(kv);
}

static void test_reply_codec(void **state)
{
	(void)state;
	struct kv_reply r = {.code = KV_ENOTINT,
	                     .succeeded = true,
	                     .existed = true,
	                     .revision = UINT64_MAX,
	                     .mod_revision = 77,
	                     .integer = INT64_MIN,
	                     .client_id = 12,
	                     .failed_index = 3,
	                     .duplicate = true};
	uint8_t buf[KV_REPLY_MAX_BYTES];
	size_t n = kv_reply_encode(&r, buf);
	assert_true(n <= KV_REPLY_MAX_BYTES);
	struct kv_reply back;
	assert_int_equal(kv_reply_decode(buf, n, &back), KV_OK);
	assert_int_equal(back.code, KV_ENOTINT);
	assert_true(back.succeeded);
	assert_true(back.existed);
	assert_false(back.duplicate); /* local, not encoded */
	assert_int_equal(back.revision, UINT64_MAX);
	assert_int_equal(back.mod_revision, 77);
	assert_int_equal(back.integer, INT64_MIN);
	assert_int_equal(back.client_id, 12);
	assert_int_equal(back.failed_index, 3);
	/* The largest reply fits the bound. */
	struct kv_reply max = {.code = KV_ERROR_COUNT_ - 1,
	                       .succeeded = true,
	                       .existed = true,
	                       .revision = UINT64_MAX,
	                       .mod_revision = UINT64_MAX,
	                       .integer = INT64_MIN,
	                       .client_id = UINT64_MAX,
	                       .failed_index = UINT32_MAX};
	assert_true(kv_reply_encode(&max, buf) <= KV_REPLY_MAX_BYTES);
	assert_int_equal(kv_reply_decode("\x08\x7f", 2, &back), KV_EBADCMD); /* code 127 */
	assert_int_equal(kv_reply_decode("\xff\xff", 2, &back), KV_EBADCMD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errors_and_config),
	    cmocka_unit_test(test_set_get_binary),
	    cmocka_unit_test(test_set_conditions),
	    cmocka_unit_test(test_del),
	    cmocka_unit_test(test_incr),
	    cmocka_unit_test(test_append),
	    cmocka_unit_test(test_mset_atomic),
	    cmocka_unit_test(test_cas),
	    cmocka_unit_test(test_revisions),
	    cmocka_unit_test(test_history_window),
	    cmocka_unit_test(test_history_model),
	    cmocka_unit_test(test_scan),
	    cmocka_unit_test(test_mget),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_siphash),
	    cmocka_unit_test(test_reply_codec),
	    cmocka_unit_test(test_members_written),
	};
	return cmocka_run_group_tests_name("kv ops", tests, NULL, NULL);
}
