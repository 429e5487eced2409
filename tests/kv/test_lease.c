/* test_lease.c: expiry and leases in the state machine: the log clock across terms, TTLs,
 * lazy and reaped expiry, leases, determinism of random streams and snapshots with them. */
#include "helpers.h"

#include "base/crc32c.h"
#include "kv.pb-c.h"
#include "kv/impl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct kv_cmd set_px(const char *key, const char *value, int64_t ms)
{
	return (struct kv_cmd){.op = KV_OP_SET,
	                       .put = {.key = key,
	                               .key_len = strlen(key),
	                               .value = value,
	                               .value_len = strlen(value),
	                               .expiry = {.mode = KV_EXPIRY_IN, .ms = ms}}};
}

static struct kv_cmd noop(void)
{
	return (struct kv_cmd){.op = KV_OP_NOOP};
}

static int64_t pttl(struct kv *kv, const char *key)
{
	int64_t ms;
	if (kv_ttl(kv, key, strlen(key), &ms, NULL) != KV_OK)
		return -2;
	return ms;
}

/* The clock runs on one leader's stamps; a new term's first stamp only starts it. */
static void test_clock_terms(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(th_at_term(kv, 1, 1000, set_px("k", "v", 500), NULL), KV_OK);
	assert_int_equal(pttl(kv, "k"), 500);
	assert_int_equal(th_at_term(kv, 1, 1200, noop(), NULL), KV_OK);
	assert_int_equal(pttl(kv, "k"), 300);
	assert_int_equal(kv_clock_at(kv, 1, 1300), kv_clock_ms(kv) + 100);
	/* Term 2: its leader's clock has another origin; the gap is not counted. */
	assert_int_equal(th_at_term(kv, 2, 99999, noop(), NULL), KV_OK);
	assert_int_equal(pttl(kv, "k"), 300);
	assert_true(kv_clock_running(kv, 2));
	assert_int_equal(kv_clock_at(kv, 1, 5000), kv_clock_ms(kv)); /* another term's */
	assert_int_equal(th_at_term(kv, 2, 100199, noop(), NULL), KV_OK);
	assert_int_equal(pttl(kv, "k"), 100);
	/* A stamp going back within a term never moves the clock back. */
	assert_int_equal(th_at_term(kv, 2, 100000, noop(), NULL), KV_OK);
	assert_int_equal(pttl(kv, "k"), 100);
	assert_int_equal(th_at_term(kv, 2, 100299, noop(), NULL), KV_OK);
	assert_int_equal(pttl(kv, "k"), -2); /* expired: absent to reads */
	struct kv_value v;
	assert_int_equal(kv_get(kv, "k", 1, 0, &v), KV_ENOTFOUND);
	assert_false(kv_exists(kv, "k", 1));
	kv_free(kv);
}

/* An expired key is absent to writes too: the command deletes it first, at its own
 * revision, then runs. */
static void test_lazy_and_reaped(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	th_at_term(kv, 1, 10, set_px("a", "1", 100), NULL);
	th_at_term(kv, 1, 10, set_px("b", "1", 100), NULL);
	assert_int_equal(kv_revision(kv), 2);
	th_at_term(kv, 1, 110, noop(), NULL);
	assert_int_equal(kv_next_deadline(kv), 101);
	struct kv_key keys[4];
	uint64_t leases[4];
	size_t nl;
	assert_int_equal(kv_due(kv, kv_clock_ms(kv), keys, 4, leases, 4, &nl), 2);
	/* SET NX on the expired key: deleted at 3, created anew at 4. */
	struct kv_cmd nx = set_px("a", "2", 100);
	nx.put.cond.kind = KV_COND_ABSENT;
	assert_int_equal(th_at_term(kv, 1, 110, nx, &r), KV_OK);
	assert_true(r.succeeded);
	assert_false(r.existed);
	assert_int_equal(r.revision, 4);
	struct kv_value v;
	assert_int_equal(kv_get(kv, "a", 1, 0, &v), KV_OK);
	assert_int_equal(v.create_revision, 4);
	assert_int_equal(v.version, 1);
	assert_int_equal(kv_get(kv, "a", 1, 3, &v), KV_ENOTFOUND);
	/* The reaper's command: "b" expired, "a" did not (listing it changes nothing). */
	struct kv_key list[2] = {{"a", 1}, {"b", 1}};
	struct kv_cmd due = {.op = KV_OP_EXPIRE_DUE, .n = 2, .keys = list};
	assert_int_equal(th_at_term(kv, 1, 111, due, &r), KV_OK);
	assert_int_equal(r.integer, 1);
	assert_int_equal(r.revision, 5);
	assert_int_equal(kv_get(kv, "b", 1, 4, &v), KV_OK); /* history keeps it */
	assert_true(kv_exists(kv, "a", 1));
	/* A session may not send the reaper's command. */
	due.client_id = 7;
	due.seq = 1;
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&due, NULL, &buf, &len), KV_EINVAL);
	kv_free(kv);
}

static struct kv_cmd expire(const char *key, enum kv_expiry_mode mode, int64_t ms, unsigned f)
{
	return (struct kv_cmd){.op = KV_OP_EXPIRE,
	                       .put = {.key = key, .key_len = strlen(key), .expiry = {mode, ms, 0}},
	                       .expire_flags = f};
}

static void test_expire_ops(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	assert_int_equal(th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_IN, 10, 0), &r), KV_OK);
	assert_int_equal(r.integer, 0); /* no such key */
	assert_int_equal(th_set(kv, "k", "v"), KV_OK);
	uint64_t rev = kv_revision(kv);
	th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_IN, 1000, KV_EXPIRE_XX), &r);
	assert_int_equal(r.integer, 0);
	th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_IN, 1000, KV_EXPIRE_NX), &r);
	assert_int_equal(r.integer, 1);
	assert_int_equal(kv_revision(kv), rev); /* a deadline is not a revision */
	th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_IN, 500, KV_EXPIRE_GT), &r);
	assert_int_equal(r.integer, 0);
	th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_IN, 500, KV_EXPIRE_LT), &r);
	assert_int_equal(r.integer, 1);
	assert_int_equal(pttl(kv, "k"), 500);
	/* AT: Unix time against the command's wall stamp. */
	struct kv_cmd at = expire("k", KV_EXPIRY_AT, 50000, 0);
	at.time_ms = 20000;
	th_at_term(kv, 1, 1, at, &r);
	assert_int_equal(pttl(kv, "k"), 30000);
	th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_CLEAR, 0, 0), &r);
	assert_int_equal(r.integer, 1);
	assert_int_equal(pttl(kv, "k"), -1);
	th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_CLEAR, 0, 0), &r);
	assert_int_equal(r.integer, 0);
	/* Already passed: deleted now, at a revision. */
	th_at_term(kv, 1, 1, expire("k", KV_EXPIRY_IN, -1, 0), &r);
	assert_int_equal(r.integer, 1);
	assert_int_equal(kv_revision(kv), rev + 1);
	assert_false(kv_exists(kv, "k", 1));
	/* Incompatible flags are refused before anything is proposed. */
	void *buf;
	size_t len;
	struct kv_cmd bad = expire("k", KV_EXPIRY_IN, 1, KV_EXPIRE_NX | KV_EXPIRE_GT);
	assert_int_equal(kv_cmd_encode(&bad, NULL, &buf, &len), KV_EINVAL);
	bad = expire("k", KV_EXPIRY_IN, KV_TTL_MS_LIMIT + 1, 0);
	assert_int_equal(kv_cmd_encode(&bad, NULL, &buf, &len), KV_EINVAL);
	kv_free(kv);
}

static void test_leases(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	struct kv_reply r;
	struct kv_cmd grant = {.op = KV_OP_LEASE_GRANT, .lease_ttl_ms = 1000};
	assert_int_equal(th_at_term(kv, 1, 100, grant, &r), KV_OK);
	uint64_t id = (uint64_t)r.integer;
	assert_int_equal(id, kv_applied_index(kv)); /* the store's choice: the index */
	grant.lease = id;
	assert_int_equal(th_at_term(kv, 1, 100, grant, NULL), KV_ELEASEEXISTS);
	struct kv_cmd put = set_px("a", "1", 0);
	put.put.expiry = (struct kv_expiry){.mode = KV_EXPIRY_LEASE, .lease = id};
	assert_int_equal(th_at_term(kv, 1, 100, put, NULL), KV_OK);
	put.put.key = "b";
	assert_int_equal(th_at_term(kv, 1, 100, put, NULL), KV_OK);
	put.put.expiry.lease = 424242;
	assert_int_equal(th_at_term(kv, 1, 100, put, NULL), KV_ELEASE);
	struct kv_lease_info info;
	assert_int_equal(kv_lease_get(kv, id, &info), KV_OK);
	assert_int_equal(info.keys, 2);
	assert_int_equal(info.remaining_ms, 1000);
	uint64_t lease_of;
	int64_t ms;
	assert_int_equal(kv_ttl(kv, "a", 1, &ms, &lease_of), KV_OK);
	assert_int_equal(lease_of, id);
	assert_int_equal(ms, 1000);
	/* Keepalive restarts the lease's TTL. */
	th_at_term(kv, 1, 900, noop(), NULL);
	struct kv_cmd keep = {.op = KV_OP_LEASE_KEEPALIVE, .lease = id};
	assert_int_equal(th_at_term(kv, 1, 900, keep, &r), KV_OK);
	assert_int_equal(r.integer, 1000);
	assert_int_equal(kv_lease_get(kv, id, &info), KV_OK);
	assert_int_equal(info.remaining_ms, 1000);
	/* A plain SET detaches "b". */
	assert_int_equal(th_set(kv, "b", "2"), KV_OK);
	assert_int_equal(kv_lease_get(kv, id, &info), KV_OK);
	assert_int_equal(info.keys, 1);
	/* Expiry: the lease's keys are absent at once, and the reaper lists them all. */
	th_at_term(kv, 1, 1900, noop(), NULL);
	assert_false(kv_exists(kv, "a", 1));
	assert_int_equal(kv_lease_get(kv, id, &info), KV_ELEASE);
	assert_int_equal(th_at_term(kv, 1, 1900, keep, NULL), KV_ELEASE);
	struct kv_key keys[4];
	uint64_t leases[4];
	size_t nl;
	size_t nk = kv_due(kv, kv_clock_ms(kv), keys, 4, leases, 4, &nl);
	assert_int_equal(nk, 1);
	assert_int_equal(nl, 1);
	assert_int_equal(leases[0], id);
	struct kv_cmd due = {
	    .op = KV_OP_EXPIRE_DUE, .n = nk, .keys = keys, .n_leases = nl, .leases = leases};
	assert_int_equal(th_at_term(kv, 1, 1900, due, &r), KV_OK);
	assert_int_equal(r.integer, 1);
	assert_null(kv_lease_find(kv, id));
	assert_true(kv_exists(kv, "b", 1));
	/* Revoke deletes a live lease's keys in one revision. */
	grant.lease = 0;
	th_at_term(kv, 1, 2000, grant, &r);
	id = (uint64_t)r.integer;
	put.put.expiry.lease = id;
	put.put.key = "c";
	th_at_term(kv, 1, 2000, put, NULL);
	put.put.key = "d";
	th_at_term(kv, 1, 2000, put, NULL);
	uint64_t rev = kv_revision(kv);
	struct kv_cmd revoke = {.op = KV_OP_LEASE_REVOKE, .lease = id};
	assert_int_equal(th_at_term(kv, 1, 2000, revoke, &r), KV_OK);
	assert_int_equal(r.integer, 2);
	assert_int_equal(kv_revision(kv), rev + 1);
	assert_false(kv_exists(kv, "c", 1));
	assert_int_equal(th_at_term(kv, 1, 2000, revoke, NULL), KV_ELEASE);
	assert_false(kv_has_timers(kv));
	kv_free(kv);
}

/* A random stream mixing the ordinary commands with expiry, leases and the reaper,
 * stamped by leaders of changing terms. */
struct mix {
	struct th_gen g;
	uint64_t rng, mono;
	raft_term term;
	uint64_t lease_ids[4];
	char keys[8][4];
	struct kv_key due_keys[16];
	uint64_t due_leases[4];
	uint64_t granted, reaped; /* what the stream exercised */
};

static struct kv_cmd mix_expiry(struct mix *m, struct kv *kv)
{
	uint64_t x = th_rand(&m->rng);
	const char *key = m->keys[x % 8];
	struct kv_cmd c = {.op = KV_OP_EXPIRE, .put = {.key = key, .key_len = strlen(key)}};
	switch ((x >> 8) % 6) {
	case 0:
		c.put.expiry = (struct kv_expiry){KV_EXPIRY_IN, (int64_t)(x >> 16) % 300 - 20, 0};
		c.expire_flags = (unsigned[]){0, KV_EXPIRE_NX, KV_EXPIRE_XX, KV_EXPIRE_GT,
		                              KV_EXPIRE_LT}[(x >> 40) % 5];
		return c;
	case 1:
		return c; /* PERSIST */
	case 2:
		return (struct kv_cmd){.op = KV_OP_LEASE_GRANT,
		                       .lease = (x >> 16) % 3 == 0 ? (x >> 20) % 5 + 1 : 0,
		                       .lease_ttl_ms = (int64_t)((x >> 24) % 400) + 1};
	case 3:
		return (struct kv_cmd){.op = (x >> 16) % 2 ? KV_OP_LEASE_KEEPALIVE
		                                           : KV_OP_LEASE_REVOKE,
		                       .lease = m->lease_ids[(x >> 20) % 4] + 1};
	case 4: {
		size_t nl;
		size_t nk = kv_due(kv, kv_clock_at(kv, m->term, m->mono), m->due_keys, 16,
		                   m->due_leases, 4, &nl);
		return (struct kv_cmd){.op = KV_OP_EXPIRE_DUE,
		                       .n = nk,
		                       .keys = m->due_keys,
		                       .n_leases = nl,
		                       .leases = m->due_leases};
	}
	default: {
		struct kv_cmd s = set_px(key, "v", (int64_t)(x >> 16) % 200);
		if ((x >> 30) % 2)
			s.put.expiry = (struct kv_expiry){.mode = KV_EXPIRY_LEASE,
			                                  .lease = m->lease_ids[(x >> 32) % 4] + 1};
		return s;
	}
	}
}

static void mix_step(struct mix *m, struct kv *kv, struct kv_reply *r)
{
	uint64_t x = th_rand(&m->rng);
	if (x % 50 == 0) {
		m->term++;
		m->mono = (x >> 8) % 100000; /* another leader, another origin */
	}
	m->mono += (x >> 20) % 40;
	struct kv_cmd c;
	if ((x >> 4) % 3 == 0)
		c = mix_expiry(m, kv);
	else
		th_gen_next(&m->g, kv_applied_index(kv) + 1, &c);
	c.time_ms = m->g.time_ms;
	void *buf;
	size_t len;
	if (kv_cmd_encode(&c, &kv_config(kv)->limits, &buf, &len) != KV_OK) {
		c = noop();
		c.time_ms = m->g.time_ms;
	} else {
		free(buf);
	}
	th_at_term(kv, m->term, m->mono + 1, c, r);
	th_gen_result(&m->g, r);
	if (c.op == KV_OP_LEASE_GRANT && r->code == KV_OK) {
		m->lease_ids[x % 4] = (uint64_t)r->integer - 1;
		m->granted++;
	}
	if (c.op == KV_OP_EXPIRE_DUE && r->code == KV_OK)
		m->reaped += (uint64_t)r->integer;
}

static void mix_init(struct mix *m, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	th_gen_init(&m->g, seed);
	m->rng = seed * 2654435761u + 1;
	m->term = 1;
	for (int i = 0; i < 8; i++)
		snprintf(m->keys[i], sizeof(m->keys[i]), "%c", 'a' + i);
}

/* Two stores fed the same stream agree byte for byte; a store restored from a snapshot
 * mid-stream agrees with both at the end. */
static void test_determinism(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct kv *a = th_kv_new(), *b = th_kv_new(), *c = th_kv_new();
		struct mix ma, mb, mc;
		mix_init(&ma, seed);
		mix_init(&mb, seed);
		struct kv_reply ra, rb, rc;
		bool restored = false;
		for (int i = 0; i < 3000; i++) {
			mix_step(&ma, a, &ra);
			mix_step(&mb, b, &rb);
			assert_int_equal(ra.code, rb.code);
			assert_int_equal(ra.revision, rb.revision);
			if (restored) {
				mix_step(&mc, c, &rc);
				assert_int_equal(ra.code, rc.code);
			}
			if (i == 1500) {
				size_t len;
				void *snap = th_snapshot(a, &len);
				assert_int_equal(kv_snapshot_read_buf(c, snap, len), KV_OK);
				free(snap);
				mc = ma;
				restored = true;
			}
		}
		assert_true(th_same_state(a, b));
		assert_true(th_same_state(a, c));
		assert_true(ma.granted > 0);
		assert_true(ma.reaped > 0);
		kv_free(a);
		kv_free(b);
		kv_free(c);
	}
}

/* Restore then continue: the same bytes as never restoring. */
static void test_snapshot_round_trip(void **state)
{
	(void)state;
	for (uint64_t seed = 20; seed <= 26; seed++) {
		struct kv *a = th_kv_new();
		struct mix m;
		mix_init(&m, seed);
		struct kv_reply r;
		for (int i = 0; i < 1000; i++)
			mix_step(&m, a, &r);
		size_t len;
		void *snap = th_snapshot(a, &len);
		struct kv *b = th_kv_new();
		assert_int_equal(kv_snapshot_read_buf(b, snap, len), KV_OK);
		assert_true(th_same_state(a, b));
		struct mix m2 = m;
		for (int i = 0; i < 1000; i++) {
			mix_step(&m, a, &r);
			mix_step(&m2, b, &r);
		}
		assert_true(th_same_state(a, b));
		/* Every truncation is refused, and leaves the store as it was. */
		for (size_t cut = 0; cut < len; cut += 1 + len / 200) {
			assert_int_not_equal(kv_snapshot_read_buf(b, snap, cut), KV_OK);
		}
		assert_true(th_same_state(a, b));
		free(snap);
		kv_free(a);
		kv_free(b);
	}
}

/* ---- Hand-made format 2 snapshots with valid checksums, each breaking one rule. */

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

static void craft_record(struct craft *c, Concord__Kv__SnapRecord *rec)
{
	size_t n = concord__kv__snap_record__get_packed_size(rec);
	craft_u32(c, (uint32_t)n);
	c->len += concord__kv__snap_record__pack(rec, c->buf + c->len);
	c->records++;
}

/* Leave the lease record out (and the header's clock: a format 1 snapshot's shape). */
static bool craft_v1_shape;

/* One lease (id 5, TTL ttl, deadline ld) and key "a" (deadline kd, lease kl), clock 100. */
static int craft_load(struct kv *kv, uint32_t format, int64_t ttl, uint64_t ld, uint64_t kd,
                      uint64_t kl, bool tombstone)
{
	struct craft c = {0};
	craft_u32(&c, 0x53564b43u);
	craft_u32(&c, format);
	Concord__Kv__SnapHeader h = CONCORD__KV__SNAP_HEADER__INIT;
	h.applied_index = 10;
	h.revision = 2;
	h.n_items = 1;
	h.n_versions = tombstone ? 2 : 1;
	h.clock_ms = craft_v1_shape ? 0 : 100;
	h.n_leases = craft_v1_shape ? 0 : 1;
	Concord__Kv__SnapRecord r = CONCORD__KV__SNAP_RECORD__INIT;
	r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_HEADER;
	r.header = &h;
	craft_record(&c, &r);
	Concord__Kv__SnapLease l = CONCORD__KV__SNAP_LEASE__INIT;
	if (!craft_v1_shape) {
		l.id = 5;
		l.ttl_ms = ttl;
		l.deadline = ld;
		r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_LEASE;
		r.lease = &l;
		craft_record(&c, &r);
	}
	Concord__Kv__SnapVersion v = CONCORD__KV__SNAP_VERSION__INIT;
	v.key.data = (uint8_t *)"a";
	v.key.len = 1;
	v.create_revision = tombstone ? 0 : 1;
	v.mod_revision = tombstone ? 2 : 1;
	v.version = tombstone ? 0 : 1;
	v.deadline = kd;
	v.lease = kl;
	r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_VERSION;
	r.version = &v;
	craft_record(&c, &r);
	if (tombstone) {
		Concord__Kv__SnapVersion o = CONCORD__KV__SNAP_VERSION__INIT;
		o.same_key = true;
		o.create_revision = 1;
		o.mod_revision = 1;
		o.version = 1;
		r.version = &o;
		craft_record(&c, &r);
	}
	Concord__Kv__SnapFooter f = CONCORD__KV__SNAP_FOOTER__INIT;
	f.n_records = c.records;
	r.record_case = CONCORD__KV__SNAP_RECORD__RECORD_FOOTER;
	r.footer = &f;
	craft_record(&c, &r);
	craft_u32(&c, crc32c(0, c.buf, c.len));
	return kv_snapshot_read_buf(kv, c.buf, c.len);
}

static void test_crafted(void **state)
{
	(void)state;
	struct kv *kv = th_kv_new();
	assert_int_equal(craft_load(kv, 2, 50, 150, 120, 5, false), KV_OK);
	int64_t ms;
	uint64_t lease;
	assert_int_equal(kv_ttl(kv, "a", 1, &ms, &lease), KV_OK);
	assert_int_equal(ms, 20);
	assert_int_equal(lease, 5);
	size_t len;
	void *ref = th_snapshot(kv, &len);
	struct {
		int rv;
		uint32_t format;
		int64_t ttl;
		uint64_t ld, kd, kl;
		bool tomb;
	} bad[] = {
	    {KV_ECORRUPT, 2, 50, 151, 0, 0, false},  /* lease deadline beyond clock + TTL */
	    {KV_ECORRUPT, 2, 0, 100, 0, 0, false},   /* lease TTL 0 */
	    {KV_ECORRUPT, 2, 50, 0, 0, 0, false},    /* lease deadline 0 */
	    {KV_ECORRUPT, 2, 50, 150, 0, 6, false},  /* key on a lease that does not exist */
	    {KV_ECORRUPT, 2, 50, 150, 120, 0, true}, /* a deadline on a tombstone */
	    {KV_ECORRUPT, 2, 50, 150, (uint64_t)1 << 60, 0, false}, /* beyond the longest TTL */
	    {KV_ECORRUPT, 1, 50, 150, 0, 0, false}, /* format 1 with format 2 fields */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rv = craft_load(kv, bad[i].format, bad[i].ttl, bad[i].ld, bad[i].kd, bad[i].kl,
		                    bad[i].tomb);
		if (rv != bad[i].rv)
			print_error("case %zu: %s (%s)\n", i, kv_strerror(rv), kv_errmsg(kv));
		assert_int_equal(rv, bad[i].rv);
		size_t now_len;
		void *now = th_snapshot(kv, &now_len);
		assert_int_equal(now_len, len); /* refused: the store is as it was */
		assert_memory_equal(now, ref, len);
		free(now);
	}
	/* Format 1: read without lease or clock, a deadline refused. */
	craft_v1_shape = true;
	assert_int_equal(craft_load(kv, 1, 50, 150, 0, 0, false), KV_OK);
	assert_int_equal(kv_clock_ms(kv), 1);
	assert_int_equal(craft_load(kv, 1, 50, 150, 120, 0, false), KV_ECORRUPT);
	craft_v1_shape = false;
	free(ref);
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clock_terms), cmocka_unit_test(test_lazy_and_reaped),
	    cmocka_unit_test(test_expire_ops),  cmocka_unit_test(test_leases),
	    cmocka_unit_test(test_determinism), cmocka_unit_test(test_snapshot_round_trip),
	    cmocka_unit_test(test_crafted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
