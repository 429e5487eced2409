/* helpers.c: shared helpers of the kv tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

struct kv *th_kv_new_cfg(const struct kv_config *cfg)
{
	struct kv *kv = NULL;
	assert_int_equal(kv_new(cfg, &kv), KV_OK);
	assert_non_null(kv);
	return kv;
}

struct kv *th_kv_new(void)
{
	return th_kv_new_cfg(NULL);
}

static int apply_encoded(struct kv *kv, const struct kv_cmd *cmd, const struct kv_limits *lim,
                         struct kv_reply *r)
{
	void *buf = NULL;
	size_t len = 0;
	assert_int_equal(kv_cmd_encode(cmd, lim, &buf, &len), KV_OK);
	struct kv_reply local;
	if (r == NULL)
		r = &local;
	int rv = kv_apply(kv, kv_applied_index(kv) + 1, buf, len, r);
	free(buf);
	assert_int_equal(rv, r->code);
	return rv;
}

int th_at_term(struct kv *kv, raft_term term, uint64_t mono, struct kv_cmd c, struct kv_reply *r)
{
	c.mono_ms = mono;
	void *buf;
	size_t len;
	assert_int_equal(kv_cmd_encode(&c, &kv_config(kv)->limits, &buf, &len), KV_OK);
	struct raft_buf *b = raft_buf_new(buf, len);
	free(buf);
	struct raft_entry e = {term, kv_applied_index(kv) + 1, RAFT_ENTRY_NORMAL, b};
	struct kv_reply rep;
	int rv = kv_apply_entry(kv, &e, r != NULL ? r : &rep);
	raft_buf_unref(b);
	return rv;
}

int th_do(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	return apply_encoded(kv, cmd, &kv_config(kv)->limits, r);
}

int th_do_unchecked(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	struct kv_limits lim = {KV_KEY_BYTES_LIMIT, KV_VALUE_BYTES_LIMIT, KV_KEYS_PER_CMD_LIMIT,
	                        KV_TXN_OPS_LIMIT, KV_TXN_BYTES_LIMIT};
	return apply_encoded(kv, cmd, &lim, r);
}

int th_set(struct kv *kv, const char *key, const char *value)
{
	struct kv_cmd c = {
	    .op = KV_OP_SET,
	    .put = {
	        .key = key, .key_len = strlen(key), .value = value, .value_len = strlen(value)}};
	return th_do(kv, &c, NULL);
}

int th_del(struct kv *kv, const char *key)
{
	struct kv_key k = {key, strlen(key)};
	struct kv_cmd c = {.op = KV_OP_DEL, .n = 1, .keys = &k};
	return th_do(kv, &c, NULL);
}

int th_incrby(struct kv *kv, const char *key, int64_t delta, struct kv_reply *r)
{
	struct kv_cmd c = {
	    .op = KV_OP_INCRBY, .put = {.key = key, .key_len = strlen(key)}, .delta = delta};
	return th_do(kv, &c, r);
}

int th_is(struct kv *kv, const char *key, const char *value)
{
	struct kv_value v;
	int rv = kv_get(kv, key, strlen(key), 0, &v);
	if (rv == KV_ENOTFOUND)
		return -1;
	assert_int_equal(rv, KV_OK);
	return v.value_len == strlen(value) && memcmp(v.value, value, v.value_len) == 0;
}

void *th_snapshot(const struct kv *kv, size_t *len)
{
	void *buf = NULL;
	assert_int_equal(kv_snapshot_write_buf(kv, &buf, len), KV_OK);
	return buf;
}

bool th_same_state(const struct kv *a, const struct kv *b)
{
	size_t alen, blen;
	void *sa = th_snapshot(a, &alen);
	void *sb = th_snapshot(b, &blen);
	bool same = alen == blen && memcmp(sa, sb, alen) == 0;
	free(sa);
	free(sb);
	return same;
}

uint64_t th_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ----------------------------------------------------------------------------------
 * Random command streams
 */

#define GEN_KEYS    24
#define GEN_CLIENTS 8

void th_gen_init(struct th_gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	g->time_ms = 1000000;
	g->pending_open = -1;
	g->last_slot = -1;
}

static uint64_t below(struct th_gen *g, uint64_t n)
{
	return th_rand(&g->rng) % n;
}

/* A key from a small space, binary: some share prefixes, some hold NUL bytes. */
static void gen_key(struct th_gen *g, unsigned char *buf, struct kv_key *k)
{
	unsigned i = (unsigned)below(g, GEN_KEYS);
	size_t n = 0;
	buf[n++] = (unsigned char)('a' + i % 3);
	if (i >= 3)
		buf[n++] = (unsigned char)(i % 2 ? '\0' : '/');
	if (i >= 6)
		buf[n++] = (unsigned char)('0' + i % 7);
	if (i >= 12)
		buf[n++] = (unsigned char)(i % 5 == 0 ? 0xff : i);
	k->data = buf;
	k->len = n;
}

/* A value: random bytes, or a small integer's text so that INCR sometimes works. */
static void gen_value(struct th_gen *g, unsigned char *buf, const void **p, size_t *len)
{
	size_t n;
	if (below(g, 3) == 0) {
		n = (size_t)(1 + below(g, 3));
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)('1' + below(g, 9));
	} else {
		n = (size_t)below(g, 12);
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)below(g, 4); /* few distinct values: CAS hits */
	}
	*p = buf;
	*len = n;
}

static void gen_cond(struct th_gen *g, struct kv_cond *cond, bool required, unsigned char *buf)
{
	memset(cond, 0, sizeof(*cond));
	switch (below(g, required ? 4 : 6)) {
	case 0:
		cond->kind = KV_COND_VALUE;
		gen_value(g, buf, &cond->value, &cond->value_len);
		break;
	case 1:
		cond->kind = KV_COND_MOD_REVISION;
		cond->mod_revision = g->last_rev_hint > 4 ? g->last_rev_hint - below(g, 5) : 0;
		break;
	case 2:
		cond->kind = KV_COND_ABSENT;
		break;
	case 3:
		cond->kind = KV_COND_PRESENT;
		break;
	default:
		cond->kind = KV_COND_NONE;
		break;
	}
}

static void gen_put(struct th_gen *g, int slot, struct kv_put *p, bool cond)
{
	struct kv_key k;
	gen_key(g, g->scratch[slot], &k);
	p->key = k.data;
	p->key_len = k.len;
	gen_value(g, g->scratch[slot] + 8, &p->value, &p->value_len);
	if (cond)
		gen_cond(g, &p->cond, false, g->scratch[slot] + 32);
	else
		memset(&p->cond, 0, sizeof(p->cond));
}

/* Chooses who sends a data command: nobody, a session (next, repeated or stale
 * sequence number) or a client the store never heard of. */
static void gen_sender(struct th_gen *g, struct kv_cmd *cmd)
{
	uint64_t r = below(g, 100);
	int slot = (int)below(g, GEN_CLIENTS);
	if (r < 40 || g->clients[slot] == 0)
		return;
	cmd->client_id = g->clients[slot];
	g->last_slot = slot;
	if (r < 80) {
		cmd->seq = ++g->seqs[slot];
	} else if (r < 92) {
		cmd->seq = g->seqs[slot] > 0 ? g->seqs[slot] : 1; /* a retry */
	} else if (r < 97) {
		cmd->seq = g->seqs[slot] > 1 ? g->seqs[slot] - 1 : 1; /* stale */
	} else {
		cmd->client_id = 999999999; /* unknown */
		g->last_slot = -1;
		cmd->seq = 1;
	}
}

void th_gen_next(struct th_gen *g, raft_index index, struct kv_cmd *cmd)
{
	(void)index;
	memset(cmd, 0, sizeof(*cmd));
	g->pending_open = -1;
	g->last_slot = -1;
	g->time_ms += below(g, 8) == 0 ? below(g, 3000) : below(g, 40);
	cmd->time_ms = g->time_ms;
	uint64_t r = below(g, 100);
	if (r < 25) {
		cmd->op = KV_OP_SET;
		gen_put(g, 0, &cmd->put, below(g, 3) == 0);
	} else if (r < 35) {
		cmd->op = KV_OP_DEL;
		cmd->n = (size_t)(1 + below(g, 3));
		for (size_t i = 0; i < cmd->n; i++)
			gen_key(g, g->scratch[i], &g->keys[i]);
		cmd->keys = g->keys;
	} else if (r < 45) {
		cmd->op = KV_OP_INCRBY;
		gen_put(g, 0, &cmd->put, false);
		cmd->put.value = NULL;
		cmd->put.value_len = 0;
		cmd->delta = below(g, 10) == 0 ? INT64_MAX - (int64_t)below(g, 3)
		                               : (int64_t)below(g, 21) - 10;
	} else if (r < 53) {
		cmd->op = KV_OP_APPEND;
		gen_put(g, 0, &cmd->put, false);
	} else if (r < 61) {
		cmd->op = KV_OP_MSET;
		cmd->n = (size_t)(1 + below(g, 4));
		for (size_t i = 0; i < cmd->n; i++)
			gen_put(g, (int)i, &g->puts[i], below(g, 4) == 0);
		cmd->puts = g->puts;
	} else if (r < 71) {
		cmd->op = KV_OP_CAS;
		gen_put(g, 0, &cmd->put, false);
		gen_cond(g, &cmd->put.cond, true, g->scratch[0] + 32);
		cmd->cas_delete = below(g, 4) == 0;
	} else if (r < 76) {
		int slot = (int)below(g, GEN_CLIENTS);
		cmd->op = KV_OP_SESSION_OPEN;
		g->pending_open = slot;
		return;
	} else if (r < 78) {
		int slot = (int)below(g, GEN_CLIENTS);
		cmd->op = KV_OP_SESSION_CLOSE;
		cmd->client_id = g->clients[slot] != 0 ? g->clients[slot] : 12345;
		return;
	} else if (r < 82) {
		int slot = (int)below(g, GEN_CLIENTS);
		cmd->op = KV_OP_SESSION_KEEPALIVE;
		cmd->client_id = g->clients[slot] != 0 ? g->clients[slot] : 12345;
		return;
	} else if (r < 83) {
		cmd->op = KV_OP_COMPACT;
		cmd->revision = g->last_rev_hint > 60 ? g->last_rev_hint - below(g, 60) : 1;
	} else {
		cmd->op = KV_OP_NOOP;
	}
	gen_sender(g, cmd);
}

void th_gen_result(struct th_gen *g, const struct kv_reply *r)
{
	if (g->pending_open >= 0 && r->code == KV_OK) {
		g->clients[g->pending_open] = r->client_id;
		g->seqs[g->pending_open] = 0;
	}
	g->pending_open = -1;
	/* A session the store dropped is forgotten, as a client would after the error. */
	if (g->last_slot >= 0 && r->code == KV_ESESSION)
		g->clients[g->last_slot] = 0;
	g->last_slot = -1;
	if (r->revision > g->last_rev_hint)
		g->last_rev_hint = r->revision;
}

uint64_t th_rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t th_draw(uint64_t *s)
{
	uint64_t r = th_rng(s);
	if (r % 4 == 0)
		return 0;
	unsigned bits = (unsigned)(th_rng(s) % 64) + 1;
	return bits == 64 ? th_rng(s) : th_rng(s) & ((UINT64_C(1) << bits) - 1);
}
