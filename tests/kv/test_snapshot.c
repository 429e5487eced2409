/* test_snapshot.c: determinism, snapshots (round trip, tail replay, fork, corruption) and
 * garbage commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "kv.pb-c.h"
#include "kv/impl.h"
#include "base/crc32c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct kv_config stream_config(void)
{
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.history_revisions = 40;
	cfg.sessions_max = 5;
	cfg.session_timeout_ms = 20000;
	cfg.limits.value_bytes_max = 64;
	return cfg;
}

static void assert_same_reply(const struct kv_reply *a, const struct kv_reply *b)
{
	assert_int_equal(a->code, b->code);
	assert_int_equal(a->duplicate, b->duplicate);
	assert_int_equal(a->succeeded, b->succeeded);
	assert_int_equal(a->existed, b->existed);
	assert_int_equal(a->revision, b->revision);
	assert_int_equal(a->mod_revision, b->mod_revision);
	assert_int_equal(a->integer, b->integer);
	assert_int_equal(a->client_id, b->client_id);
	assert_int_equal(a->failed_index, b->failed_index);
}

/* Applies one generated command to each store given; all must answer alike. */
static void stream_step(struct th_gen *g, struct kv **kvs, int n, struct kv_reply *out)
{
	raft_index index = kv_applied_index(kvs[0]) + 1;
	struct kv_cmd cmd;
	th_gen_next(g, index, &cmd);
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&cmd, &kv_config(kvs[0])->limits, &buf, &len), KV_OK);
	struct kv_reply first;
	for (int i = 0; i < n; i++) {
		assert_int_equal(kv_applied_index(kvs[i]), index - 1);
		struct kv_reply r;
		kv_apply(kvs[i], index, buf, len, &r);
		if (i == 0)
			first = r;
		else
			assert_same_reply(&first, &r);
	}
	free(buf);
	th_gen_result(g, &first);
	if (out != NULL)
		*out = first;
}

/* Snapshots are checksummed with src/base's CRC-32C, whose hardware and portable paths
 * agree (tests/storage/test_codec.c compares them at every length and alignment). */
static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c_portable(0, "123456789", 9), 0xe3069283u);
	unsigned char buf[1000];
	uint64_t s = 3;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)th_rand(&s);
	uint32_t sw = crc32c_portable(0, buf + 1, 777);
	assert_int_equal(crc32c(crc32c(0, buf + 1, 300), buf + 301, 477), sw);
}

/* Two stores fed the same random stream end byte-identical, and every answer on the way
 * is the same; a third one that is repeatedly replaced by a snapshot of the first (so its
 * skiplist and hash index have other shapes) stays identical too. */
static void determinism_run(const struct kv_config *cfg, uint64_t seed, int commands, int *codes,
                            int *dups)
{
	struct kv *a = th_kv_new_cfg(cfg);
	struct kv *b = th_kv_new_cfg(cfg);
	struct kv *c = th_kv_new_cfg(cfg);
	struct th_gen g;
	th_gen_init(&g, seed);
	for (int i = 0; i < commands; i++) {
		struct kv *kvs[] = {a, b, c};
		struct kv_reply r;
		stream_step(&g, kvs, 3, &r);
		codes[r.code]++;
		*dups += r.duplicate;
		if (i % 997 == 500) {
			size_t len;
			void *snap = th_snapshot(a, &len);
			assert_int_equal(kv_snapshot_read_buf(c, snap, len), KV_OK);
			free(snap);
		}
	}
	assert_true(th_same_state(a, b));
	assert_true(th_same_state(a, c));
	kv_free(a);
	kv_free(b);
	kv_free(c);
}

static void test_determinism(void **state)
{
	(void)state;
	struct kv_config cfg = stream_config();
	int codes[KV_ERROR_COUNT_] = {0};
	int dups = 0;
	determinism_run(&cfg, 1, 20000, codes, &dups);
	/* The stream exercised what it should. */
	assert_true(codes[KV_OK] > 10000);
	assert_true(codes[KV_ESESSION] > 10);
	assert_true(codes[KV_ESTALE] > 10);
	assert_true(codes[KV_ENOTINT] > 10);
	assert_true(codes[KV_EOVERFLOW] > 2);
	assert_true(codes[KV_ECOMPACTED] > 5);
	assert_true(dups > 50);

	/* Other shapes of the configuration: no history and few sessions; long history,
	 * many sessions. */
	cfg.history_revisions = 0;
	cfg.sessions_max = 2;
	for (uint64_t seed = 2; seed < 4; seed++)
		determinism_run(&cfg, seed, 5000, codes, &dups);
	cfg.history_revisions = 100000;
	cfg.sessions_max = 1000;
	cfg.session_timeout_ms = 1000000;
	for (uint64_t seed = 4; seed < 6; seed++)
		determinism_run(&cfg, seed, 5000, codes, &dups);
}

/* Restoring a snapshot taken at index i and applying the entries after i gives the state
 * of applying everything. */
static void test_snapshot_then_tail(void **state)
{
	(void)state;
	struct kv_config cfg = stream_config();
	for (uint64_t seed = 2; seed < 6; seed++) {
		struct kv *full = th_kv_new_cfg(&cfg);
		struct th_gen g;
		th_gen_init(&g, seed);
		for (int i = 0; i < 1500; i++) {
			struct kv *kvs[] = {full};
			stream_step(&g, kvs, 1, NULL);
		}
		size_t len;
		void *snap = th_snapshot(full, &len);
		struct kv *restored = th_kv_new_cfg(&cfg);
		assert_int_equal(kv_snapshot_read_buf(restored, snap, len), KV_OK);
		free(snap);
		assert_int_equal(kv_applied_index(restored), kv_applied_index(full));
		assert_int_equal(kv_revision(restored), kv_revision(full));
		assert_true(th_same_state(full, restored));
		struct kv_stats s1, s2;
		kv_stats(full, &s1);
		kv_stats(restored, &s2);
		assert_memory_equal(&s1, &s2, sizeof(s1));
		for (int i = 0; i < 1500; i++) {
			struct kv *kvs[] = {full, restored};
			stream_step(&g, kvs, 2, NULL);
		}
		assert_true(th_same_state(full, restored));
		kv_free(full);
		kv_free(restored);
	}
}

struct scan_ctx {
	const struct kv *other;
	uint64_t rev;
	int n;
};

static int scan_compare(void *arg, const struct kv_value *v)
{
	struct scan_ctx *ctx = arg;
	struct kv_value w;
	assert_int_equal(kv_get(ctx->other, v->key, v->key_len, ctx->rev, &w), KV_OK);
	assert_int_equal(w.value_len, v->value_len);
	if (v->value_len > 0)
		assert_memory_equal(w.value, v->value, v->value_len);
	assert_int_equal(w.create_revision, v->create_revision);
	assert_int_equal(w.mod_revision, v->mod_revision);
	assert_int_equal(w.version, v->version);
	ctx->n++;
	return 0;
}

static void test_round_trip_reads(void **state)
{
	(void)state;
	struct kv_config cfg = stream_config();
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct th_gen g;
	th_gen_init(&g, 9);
	for (int i = 0; i < 3000; i++) {
		struct kv *kvs[] = {kv};
		stream_step(&g, kvs, 1, NULL);
	}
	size_t len;
	void *snap = th_snapshot(kv, &len);
	struct kv *copy = th_kv_new();
	/* A store with other content first: restoring replaces all of it. */
	assert_int_equal(th_set(copy, "zzz", "gone"), KV_OK);
	struct kv *copy2 = th_kv_new_cfg(&cfg);
	assert_int_equal(kv_snapshot_read_buf(copy2, snap, len), KV_OK);
	free(snap);
	assert_false(kv_exists(copy2, "zzz", 3));
	/* Every readable revision scans the same in both. */
	for (uint64_t rev = kv_compact_revision(kv); rev <= kv_revision(kv); rev++) {
		struct scan_ctx ctx = {copy2, rev, 0};
		assert_int_equal(kv_scan(kv, NULL, 0, NULL, 0, 1000, rev, scan_compare, &ctx, NULL),
		                 KV_OK);
		struct scan_ctx back = {kv, rev, 0};
		assert_int_equal(
		    kv_scan(copy2, NULL, 0, NULL, 0, 1000, rev, scan_compare, &back, NULL), KV_OK);
		assert_int_equal(ctx.n, back.n);
	}
	kv_free(copy);
	kv_free(copy2);
	kv_free(kv);
}

/* The documented background snapshot: fork, the child streams the state as of the fork
 * while the parent keeps applying. */
static void test_fork_snapshot(void **state)
{
	(void)state;
	struct kv_config cfg = stream_config();
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct th_gen g;
	th_gen_init(&g, 11);
	for (int i = 0; i < 2000; i++) {
		struct kv *kvs[] = {kv};
		stream_step(&g, kvs, 1, NULL);
	}
	size_t want_len;
	void *want = th_snapshot(kv, &want_len);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		int rv = kv_snapshot_write_fd(kv, fds[1]);
		close(fds[1]);
		_exit(rv == KV_OK ? 0 : 1);
	}
	close(fds[1]);
	/* The parent moves on; the child's copy-on-write pages keep the old state. */
	for (int i = 0; i < 500; i++) {
		struct kv *kvs[] = {kv};
		stream_step(&g, kvs, 1, NULL);
	}
	struct kv *copy = th_kv_new_cfg(&cfg);
	assert_int_equal(kv_snapshot_read_fd(copy, fds[0]), KV_OK);
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	size_t got_len;
	void *got = th_snapshot(copy, &got_len);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(got);
	free(want);
	kv_free(copy);
	kv_free(kv);
}

/* A small store with every kind of content: keys with history, a tombstone, sessions. */
static struct kv *small_store(void)
{
	struct kv_config cfg = stream_config();
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct kv_cmd open = {.op = KV_OP_SESSION_OPEN, .time_ms = 50};
	struct kv_reply r;
	assert_int_equal(th_do(kv, &open, &r), KV_OK);
	uint64_t id = r.client_id;
	assert_int_equal(th_set(kv, "a", "1"), KV_OK);
	assert_int_equal(th_set(kv, "a\0b", "2"), KV_OK);
	assert_int_equal(th_set(kv, "a", "3"), KV_OK);
	assert_int_equal(th_del(kv, "a"), KV_OK);
	struct kv_cmd incr = {.op = KV_OP_INCRBY,
	                      .client_id = id,
	                      .seq = 1,
	                      .time_ms = 60,
	                      .put = {.key = "n", .key_len = 1},
	                      .delta = 3};
	assert_int_equal(th_do(kv, &incr, &r), KV_OK);
	return kv;
}

static void test_corrupt_snapshots(void **state)
{
	(void)state;
	struct kv *src = small_store();
	size_t len;
	uint8_t *snap = th_snapshot(src, &len);
	assert_true(len < 1000);
	struct kv_config cfg = stream_config();
	struct kv *dst = th_kv_new_cfg(&cfg);
	assert_int_equal(th_set(dst, "keep", "me"), KV_OK);
	size_t before_len;
	void *before = th_snapshot(dst, &before_len);

	/* Truncated at every byte. */
	for (size_t cut = 0; cut < len; cut++) {
		int rv = kv_snapshot_read_buf(dst, snap, cut);
		assert_int_equal(rv, KV_ECORRUPT);
		assert_true(strlen(kv_errmsg(dst)) > 0);
	}
	/* Every single bit flipped. */
	uint8_t *bad = malloc(len + 1);
	assert_non_null(bad);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, snap, len);
			bad[i] ^= (uint8_t)(1u << bit);
			int rv = kv_snapshot_read_buf(dst, bad, len);
			assert_int_not_equal(rv, KV_OK);
			if (i >= 4 && i < 8)
				assert_int_equal(rv, KV_EFORMAT);
		}
	}
	/* A byte too many. */
	memcpy(bad, snap, len);
	bad[len] = 0;
	assert_int_equal(kv_snapshot_read_buf(dst, bad, len + 1), KV_ECORRUPT);
	/* Random bytes and random overwrites. */
	uint64_t s = 5;
	for (int t = 0; t < 300; t++) {
		memcpy(bad, snap, len);
		for (int k = 0; k < 1 + t % 4; k++)
			bad[th_rand(&s) % len] = (uint8_t)th_rand(&s);
		if (memcmp(bad, snap, len) != 0)
			assert_int_not_equal(kv_snapshot_read_buf(dst, bad, len), KV_OK);
	}
	free(bad);

	/* The failed restores left dst as it was. */
	size_t after_len;
	void *after = th_snapshot(dst, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_int_equal(th_is(dst, "keep", "me"), 1);
	free(after);
	free(before);

	/* And the intact snapshot still loads. */
	assert_int_equal(kv_snapshot_read_buf(dst, snap, len), KV_OK);
	assert_true(th_same_state(src, dst));
	free(snap);
	kv_free(src);
	kv_free(dst);
}

/* ----------------------------------------------------------------------------------
 * Hand-made snapshots with a valid checksum: the reader's checks beyond the checksum.
 */

struct craft {
	uint8_t buf[4096];
	size_t len;
	uint64_t records;
};

static void craft_u32(struct craft *c, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		c->buf[c->len++] = (uint8_t)(v >> (8 * i));
}

static void craft_begin(struct craft *c)
{
	memset(c, 0, sizeof(*c));
	craft_u32(c, 0x53564b43u);
	craft_u32(c, 1);
}

static void craft_record(struct craft *c, Concord__Kv__SnapRecord *rec)
{
	size_t n = concord__kv__snap_record__get_packed_size(rec);
	assert_true(c->len + 4 + n < sizeof(c->buf));
	craft_u32(c, (uint32_t)n);
	c->len += concord__kv__snap_record__pack(rec, c->buf + c->len);
	c->records++;
}

static void craft_header(struct craft *c, uint64_t rev, uint64_t compact, uint64_t items,
                         uint64_t versions, uint64_t sessions)
{
	Concord__Kv__SnapHeader h = CONCORD__KV__SNAP_HEADER__INIT;
	h.applied_index = 100;
	h.revision = rev;
	h.compact_revision = compact;
	h.now_ms = 1000;
	h.n_items = items;
	h.n_versions = versions;
	h.n_sessions = sessions;
	Concord__Kv__SnapRecord r = CONCORD__KV__SNAP_RECORD__INIT;
	r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_HEADER;
	r.header = &h;
	craft_record(c, &r);
}

static void craft_version(struct craft *c, const char *key, uint64_t create, uint64_t mod,
                          uint64_t version, const char *value)
{
	Concord__Kv__SnapVersion v = CONCORD__KV__SNAP_VERSION__INIT;
	if (key != NULL) {
		v.key.data = (uint8_t *)key;
		v.key.len = strlen(key);
	} else {
		v.same_key = true;
	}
	v.create_revision = create;
	v.mod_revision = mod;
	v.version = version;
	v.value.data = (uint8_t *)value;
	v.value.len = strlen(value);
	Concord__Kv__SnapRecord r = CONCORD__KV__SNAP_RECORD__INIT;
	r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_VERSION;
	r.version = &v;
	craft_record(c, &r);
}

static void craft_session(struct craft *c, uint64_t id, uint64_t active, uint32_t code)
{
	Concord__Kv__Reply reply = CONCORD__KV__REPLY__INIT;
	reply.code = code;
	Concord__Kv__SnapSession s = CONCORD__KV__SNAP_SESSION__INIT;
	s.client_id = id;
	s.last_seq = 1;
	s.last_active_ms = active;
	s.reply = &reply;
	Concord__Kv__SnapRecord r = CONCORD__KV__SNAP_RECORD__INIT;
	r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_SESSION;
	r.session = &s;
	craft_record(c, &r);
}

static void craft_end(struct craft *c, int64_t footer_adjust)
{
	Concord__Kv__SnapFooter f = CONCORD__KV__SNAP_FOOTER__INIT;
	f.n_records = (uint64_t)((int64_t)c->records + footer_adjust);
	Concord__Kv__SnapRecord r = CONCORD__KV__SNAP_RECORD__INIT;
	r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_FOOTER;
	r.footer = &f;
	craft_record(c, &r);
	craft_u32(c, crc32c(0, c->buf, c->len));
}

static int craft_load(struct kv *kv, struct craft *c)
{
	return kv_snapshot_read_buf(kv, c->buf, c->len);
}

static void test_crafted_snapshots(void **state)
{
	(void)state;
	struct kv_config cfg = stream_config();
	struct kv *kv = th_kv_new_cfg(&cfg);
	struct craft c;

	/* A sound one: "a" with history and a deletion, "b" alive, one session. */
	craft_begin(&c);
	craft_header(&c, 10, 2, 2, 4, 1);
	craft_version(&c, "a", 0, 9, 0, "");    /* deleted at 9 */
	craft_version(&c, NULL, 3, 5, 2, "a2"); /* written at 5 */
	craft_version(&c, NULL, 3, 3, 1, "a1"); /* created at 3 */
	craft_version(&c, "b", 4, 10, 3, "b3");
	craft_session(&c, 77, 900, KV_OK);
	craft_end(&c, 0);
	assert_int_equal(craft_load(kv, &c), KV_OK);
	struct kv_value v;
	assert_int_equal(kv_get(kv, "a", 1, 4, &v), KV_OK);
	assert_memory_equal(v.value, "a1", 2);
	assert_int_equal(kv_get(kv, "a", 1, 9, &v), KV_ENOTFOUND);
	assert_int_equal(kv_get(kv, "b", 1, 0, &v), KV_OK);
	assert_int_equal(v.version, 3);
	assert_int_equal(kv_applied_index(kv), 100);
	/* Compacting past the deletion removes "a" entirely. */
	assert_int_equal(kv_compact(kv, 10), KV_OK);
	struct kv_stats st;
	kv_stats(kv, &st);
	assert_int_equal(st.versions, 1);
	assert_int_equal(st.keys, 1);
	assert_int_equal(st.sessions, 1);

	size_t ref_len;
	void *ref = th_snapshot(kv, &ref_len);
	struct {
		const char *what;
		int want;
	} cases[] = {
	    {"keys out of order", KV_ECORRUPT},
	    {"continued version first", KV_ECORRUPT},
	    {"versions out of order", KV_ECORRUPT},
	    {"tombstone with a value", KV_ECORRUPT},
	    {"version count beyond revisions", KV_ECORRUPT},
	    {"two tombstones", KV_ECORRUPT},
	    {"recreated key not at version 1", KV_ECORRUPT},
	    {"version not following", KV_ECORRUPT},
	    {"mod revision above the store's", KV_ECORRUPT},
	    {"revision too large", KV_ECORRUPT},
	    {"compaction above revision", KV_ECORRUPT},
	    {"duplicate session", KV_ECORRUPT},
	    {"session from the future", KV_ECORRUPT},
	    {"sessions out of order", KV_ECORRUPT},
	    {"session reply code unknown", KV_ECORRUPT},
	    {"footer count", KV_ECORRUPT},
	    {"wrong record kind", KV_ECORRUPT},
	    {"item count", KV_ECORRUPT},
	    {"too many sessions", KV_EINVAL},
	    {"value too long for this store", KV_EINVAL},
	    {"empty", KV_ECORRUPT},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		craft_begin(&c);
		switch (i) {
		case 0:
			craft_header(&c, 10, 0, 2, 2, 0);
			craft_version(&c, "b", 1, 1, 1, "x");
			craft_version(&c, "a", 2, 2, 1, "x");
			break;
		case 1:
			craft_header(&c, 10, 0, 0, 1, 0);
			craft_version(&c, NULL, 1, 1, 1, "x");
			break;
		case 2:
			craft_header(&c, 10, 0, 1, 2, 0);
			craft_version(&c, "a", 1, 2, 2, "x");
			craft_version(&c, NULL, 1, 3, 1, "x");
			break;
		case 3:
			craft_header(&c, 10, 0, 1, 2, 0);
			craft_version(&c, "a", 0, 2, 0, "ghost");
			craft_version(&c, NULL, 1, 1, 1, "x");
			break;
		case 4:
			craft_header(&c, 10, 0, 1, 1, 0);
			craft_version(&c, "a", 1, 3, UINT64_MAX, "x");
			break;
		case 5:
			craft_header(&c, 10, 0, 1, 3, 0);
			craft_version(&c, "a", 0, 3, 0, "");
			craft_version(&c, NULL, 0, 2, 0, "");
			craft_version(&c, NULL, 1, 1, 1, "x");
			break;
		case 6:
			craft_header(&c, 10, 0, 1, 3, 0);
			craft_version(&c, "a", 1, 3, 2, "x");
			craft_version(&c, NULL, 0, 2, 0, "");
			craft_version(&c, NULL, 1, 1, 1, "x");
			break;
		case 7:
			craft_header(&c, 10, 0, 1, 2, 0);
			craft_version(&c, "a", 1, 3, 3, "x");
			craft_version(&c, NULL, 1, 1, 1, "x");
			break;
		case 8:
			craft_header(&c, 10, 0, 1, 1, 0);
			craft_version(&c, "a", 1, 11, 1, "x");
			break;
		case 9:
			craft_header(&c, UINT64_MAX, 0, 0, 0, 0);
			break;
		case 10:
			craft_header(&c, 10, 11, 0, 0, 0);
			break;
		case 11:
			craft_header(&c, 10, 0, 0, 0, 2);
			craft_session(&c, 5, 1, KV_OK);
			craft_session(&c, 5, 2, KV_OK);
			break;
		case 12:
			craft_header(&c, 10, 0, 0, 0, 1);
			craft_session(&c, 5, 1001, KV_OK);
			break;
		case 13:
			craft_header(&c, 10, 0, 0, 0, 2);
			craft_session(&c, 5, 20, KV_OK);
			craft_session(&c, 6, 10, KV_OK);
			break;
		case 14:
			craft_header(&c, 10, 0, 0, 0, 1);
			craft_session(&c, 5, 20, 999);
			break;
		case 15:
			craft_header(&c, 10, 0, 0, 0, 0);
			craft_end(&c, 1);
			break;
		case 16:
			craft_header(&c, 10, 0, 1, 1, 0);
			craft_session(&c, 5, 20, KV_OK);
			break;
		case 17:
			craft_header(&c, 10, 0, 2, 2, 0);
			craft_version(&c, "a", 1, 1, 1, "x");
			craft_version(&c, NULL, 1, 1, 1, "x"); /* out of order anyway */
			break;
		case 18:
			craft_header(&c, 10, 0, 0, 0, 6);
			break;
		case 19: {
			char big[80];
			memset(big, 'v', sizeof(big) - 1);
			big[sizeof(big) - 1] = '\0';
			craft_header(&c, 10, 0, 1, 1, 0);
			craft_version(&c, "a", 1, 1, 1, big);
			break;
		}
		case 20:
			c.len = 0;
			break;
		}
		if (i != 15 && i != 20)
			craft_end(&c, 0);
		int rv = craft_load(kv, &c);
		if (rv != cases[i].want)
			print_error("case %zu (%s): got %s (%s)\n", i, cases[i].what,
			            kv_strerror(rv), kv_errmsg(kv));
		assert_int_equal(rv, cases[i].want);
		assert_true(strlen(kv_errmsg(kv)) > 0);
	}
	/* An item count that disagrees with the versions. */
	craft_begin(&c);
	craft_header(&c, 10, 0, 1, 2, 0);
	craft_version(&c, "a", 1, 1, 1, "x");
	craft_version(&c, "b", 1, 1, 1, "x");
	craft_end(&c, 0);
	assert_int_equal(craft_load(kv, &c), KV_ECORRUPT);
	/* A newer format is refused as such. */
	craft_begin(&c);
	c.buf[4] = 3;
	craft_header(&c, 10, 0, 0, 0, 0);
	craft_end(&c, 0);
	assert_int_equal(craft_load(kv, &c), KV_EFORMAT);

	size_t now_len;
	void *now = th_snapshot(kv, &now_len);
	assert_int_equal(now_len, ref_len);
	assert_memory_equal(now, ref, ref_len);
	free(now);
	free(ref);
	kv_free(kv);
}

/* ----------------------------------------------------------------------------------
 * I/O errors
 */

struct failing {
	size_t budget;
};

static int failing_write(void *arg, const void *buf, size_t len)
{
	(void)buf;
	struct failing *f = arg;
	if (len > f->budget)
		return -1;
	f->budget -= len;
	return 0;
}

struct failing_src {
	const uint8_t *data;
	size_t len;
	size_t off;
	size_t fail_at;
};

static ssize_t failing_read(void *arg, void *buf, size_t len)
{
	struct failing_src *s = arg;
	if (s->off >= s->fail_at) {
		errno = EIO;
		return -1;
	}
	size_t n = s->fail_at - s->off;
	if (n > len)
		n = len;
	if (n > 7)
		n = 7; /* dribble: the reader must cope with short reads */
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void test_snapshot_io_errors(void **state)
{
	(void)state;
	struct kv *kv = small_store();
	size_t len;
	uint8_t *snap = th_snapshot(kv, &len);
	struct failing f = {len - 5};
	assert_int_equal(kv_snapshot_write(kv, failing_write, &f), KV_EIO);
	f.budget = len;
	assert_int_equal(kv_snapshot_write(kv, failing_write, &f), KV_OK);

	struct kv *dst = th_kv_new();
	for (size_t at = 0; at < len; at += 13) {
		struct failing_src s = {snap, len, 0, at};
		assert_int_equal(kv_snapshot_read(dst, failing_read, &s), KV_EIO);
		assert_true(strlen(kv_errmsg(dst)) > 0);
	}
	struct kv_stats st;
	kv_stats(dst, &st);
	assert_int_equal(st.keys, 0);
	struct failing_src ok = {snap, len, 0, len};
	/* All bytes then an error instead of the end: still an I/O error. */
	assert_int_equal(kv_snapshot_read(dst, failing_read, &ok), KV_EIO);

	/* Through a real file. */
	char path[] = "/tmp/kv-test-snap-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(kv_snapshot_write_fd(kv, fd), KV_OK);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(kv_snapshot_read_fd(dst, fd), KV_OK);
	close(fd);
	assert_true(th_same_state(kv, dst));
	free(snap);
	kv_free(dst);
	kv_free(kv);
}

/* ----------------------------------------------------------------------------------
 * Garbage commands
 */

/* Random bytes never crash kv_apply; whatever does not decode as a command changes
 * nothing (a twin that skips those entries stays identical); and the answers are the same
 * on every node. */
static void test_garbage_commands(void **state)
{
	(void)state;
	struct kv_config cfg = stream_config();
	struct kv *a = th_kv_new_cfg(&cfg);
	struct kv *b = th_kv_new_cfg(&cfg);
	struct kv *twin = th_kv_new_cfg(&cfg);
	struct th_gen g;
	th_gen_init(&g, 21);
	uint64_t s = 99;
	int bad = 0, decoded = 0;
	uint8_t junk[96];
	for (int i = 0; i < 6000; i++) {
		raft_index index = kv_applied_index(a) + 1;
		if (i % 4 == 0) {
			/* A real command now and then, so that there is state to damage. */
			struct kv *kvs[] = {a, b, twin};
			stream_step(&g, kvs, 3, NULL);
			continue;
		}
		size_t len = (size_t)(th_rand(&s) % sizeof(junk));
		for (size_t k = 0; k < len; k++)
			junk[k] = (uint8_t)th_rand(&s);
		if (i % 4 == 1 && len > 0) {
			/* Half-plausible: a real encoding, cut and bit-flipped. */
			struct kv_cmd cmd;
			th_gen_next(&g, index, &cmd);
			void *buf;
			size_t blen;
			if (kv_cmd_encode(&cmd, &cfg.limits, &buf, &blen) == KV_OK) {
				len = blen < len ? blen : len;
				memcpy(junk, buf, len);
				junk[th_rand(&s) % len] ^= (uint8_t)(1u << (th_rand(&s) % 8));
				free(buf);
			}
			g.pending_open = -1;
		}
		struct kv_reply ra, rb, rt;
		int rv = kv_apply(a, index, junk, len, &ra);
		kv_apply(b, index, junk, len, &rb);
		assert_same_reply(&ra, &rb);
		if (rv == KV_EBADCMD) {
			bad++;
			assert_int_equal(ra.revision, kv_revision(a));
			kv_apply_skip(twin, index);
		} else {
			decoded++;
			kv_apply(twin, index, junk, len, &rt);
			assert_same_reply(&ra, &rt);
		}
	}
	assert_true(bad > 3000);
	assert_true(th_same_state(a, b));
	assert_true(th_same_state(a, twin));
	/* Pinned cases: empty input, no operation, an unknown field, a bad enum. */
	struct kv_reply r;
	raft_index index = kv_applied_index(a);
	uint64_t rev = kv_revision(a);
	assert_int_equal(kv_apply(a, ++index, NULL, 0, &r), KV_EBADCMD);
	assert_int_equal(kv_apply(a, ++index, "\x08\x01", 2, &r), KV_EBADCMD);
	assert_int_equal(kv_apply(a, ++index, "\x9a\x01\x00\xf8\x07\x01", 6, &r), KV_EBADCMD);
	assert_int_equal(kv_apply(a, ++index, "\x52\x05\x0a\x01k\x1a\x00", 7, &r), KV_OK);
	assert_int_equal(kv_apply(a, ++index, "\x52\x04\x1a\x02\x08\x09", 6, &r), KV_EBADCMD);
	assert_int_equal(kv_revision(a), rev + 1);
	(void)decoded;
	kv_free(a);
	kv_free(b);
	kv_free(twin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c),
	    cmocka_unit_test(test_determinism),
	    cmocka_unit_test(test_snapshot_then_tail),
	    cmocka_unit_test(test_round_trip_reads),
	    cmocka_unit_test(test_fork_snapshot),
	    cmocka_unit_test(test_corrupt_snapshots),
	    cmocka_unit_test(test_crafted_snapshots),
	    cmocka_unit_test(test_snapshot_io_errors),
	    cmocka_unit_test(test_garbage_commands),
	};
	return cmocka_run_group_tests_name("kv snapshots and determinism", tests, NULL, NULL);
}
