/* apply.c: applying committed commands deterministically, with exactly-once sessions. */
#include "kv/codec.h"
#include "kv/impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Helpers
 */

/* The current (live) version of a key, or NULL; *item gets the item if there is one. */
static struct kv_ver *current(const struct kv *kv, const void *key, size_t key_len,
                              struct kv_item **item)
{
	struct kv_item *it = kv_store_find(kv, key, key_len);
	if (item != NULL)
		*item = it;
	if (it == NULL || !kv_ver_live(it->head))
		return NULL;
	return it->head;
}

static bool cond_holds(const struct kv_ver *cur, const struct kv_cond *cond)
{
	switch (cond->kind) {
	case KV_COND_NONE:
		return true;
	case KV_COND_ABSENT:
		return cur == NULL;
	case KV_COND_PRESENT:
		return cur != NULL;
	case KV_COND_VALUE:
		return cur != NULL && cur->len == cond->value_len &&
		       (cur->len == 0 || memcmp(cur->data, cond->value, cur->len) == 0);
	case KV_COND_MOD_REVISION:
		if (cond->mod_revision == 0)
			return cur == NULL;
		return cur != NULL && cur->mod_rev == cond->mod_revision;
	}
	assert(false); /* kv_cmd_check admitted only the kinds above */
	return false;
}

/* Writes a value at `rev`; `it` is the key's item if the caller looked it up already.
 * Returns the item. */
static struct kv_item *write_value(struct kv *kv, struct kv_item *it, const void *key,
                                   size_t key_len, const void *value, size_t value_len,
                                   uint64_t rev)
{
	assert(value_len <= kv->cfg.limits.value_bytes_max);
	if (it == NULL)
		it = kv_store_upsert(kv, key, key_len);
	struct kv_ver *v = kv_ver_new((uint32_t)value_len);
	if (value_len > 0)
		memcpy(v->data, value, value_len);
	kv_store_put(kv, it, v, rev);
	return it;
}

/* Notes in the reply that the command wrote `key`, if it is an address-book key. */
static void note_write(struct kv_reply *r, const void *key, size_t key_len)
{
	if (kv_key_member(key, key_len))
		r->members_written = true;
}

/* Parses a value as INCR does, strictly: an optional '-', then decimal digits without a
 * leading zero (except "0" itself; "-0" is refused), within int64_t. */
bool kv_int_parse(const unsigned char *s, size_t len, int64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	bool neg = s[0] == '-';
	size_t i = neg ? 1 : 0;
	if (i == len)
		return false;
	if (s[i] == '0' && (len - i > 1 || neg))
		return false;
	uint64_t mag = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (mag > (UINT64_MAX - d) / 10)
			return false;
		mag = mag * 10 + d;
	}
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return false;
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)mag;
	}
	return true;
}

/* ----------------------------------------------------------------------------------
 * Operations. Each fills the reply; the caller sets code and revision.
 */

static int op_set(struct kv *kv, const struct kv_put *p, struct kv_reply *r)
{
	struct kv_ttl_set ttl;
	int rv = kv_expiry_resolve(kv, &p->expiry, &ttl);
	if (rv != KV_OK)
		return rv;
	struct kv_item *it;
	struct kv_ver *cur = current(kv, p->key, p->key_len, &it);
	r->existed = cur != NULL;
	if (!cond_holds(cur, &p->cond)) {
		r->mod_revision = cur != NULL ? cur->mod_rev : 0;
		return KV_OK;
	}
	uint64_t rev = kv->rev + 1;
	it = write_value(kv, it, p->key, p->key_len, p->value, p->value_len, rev);
	kv_ttl_apply(kv, it, &ttl);
	note_write(r, p->key, p->key_len);
	kv_store_commit(kv, rev);
	r->succeeded = true;
	r->mod_revision = rev;
	return KV_OK;
}

static int op_del(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	uint64_t rev = kv->rev + 1;
	int64_t deleted = 0;
	for (size_t i = 0; i < cmd->n; i++) {
		struct kv_item *it;
		if (current(kv, cmd->keys[i].data, cmd->keys[i].len, &it) == NULL)
			continue; /* absent, or deleted earlier in this command */
		kv_store_delete(kv, it, rev);
		note_write(r, cmd->keys[i].data, cmd->keys[i].len);
		deleted++;
	}
	if (deleted > 0) {
		kv_store_commit(kv, rev);
		r->mod_revision = rev;
	}
	r->existed = deleted > 0;
	r->integer = deleted;
	r->succeeded = true;
	return KV_OK;
}

static int op_incrby(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	const struct kv_put *p = &cmd->put;
	struct kv_item *it;
	struct kv_ver *cur = current(kv, p->key, p->key_len, &it);
	int64_t n = 0;
	if (cur != NULL && !kv_int_parse(cur->data, cur->len, &n))
		return KV_ENOTINT;
	int64_t sum;
	if (__builtin_add_overflow(n, cmd->delta, &sum))
		return KV_EOVERFLOW;
	char text[24];
	int len = snprintf(text, sizeof(text), "%" PRId64, sum);
	assert(len > 0);
	assert(len <= 20);
	uint64_t rev = kv->rev + 1;
	write_value(kv, it, p->key, p->key_len, text, (size_t)len, rev);
	note_write(r, p->key, p->key_len);
	kv_store_commit(kv, rev);
	r->existed = cur != NULL;
	r->succeeded = true;
	r->mod_revision = rev;
	r->integer = sum;
	return KV_OK;
}

static int op_append(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	const struct kv_put *p = &cmd->put;
	struct kv_item *it;
	struct kv_ver *cur = current(kv, p->key, p->key_len, &it);
	size_t old_len = cur != NULL ? cur->len : 0;
	if (old_len + p->value_len > kv->cfg.limits.value_bytes_max)
		return KV_EVALUETOOBIG;
	size_t len = old_len + p->value_len;
	struct kv_ver *v = kv_ver_new((uint32_t)len);
	if (old_len > 0)
		memcpy(v->data, cur->data, old_len);
	if (p->value_len > 0)
		memcpy(v->data + old_len, p->value, p->value_len);
	uint64_t rev = kv->rev + 1;
	if (it == NULL)
		it = kv_store_upsert(kv, p->key, p->key_len);
	kv_store_put(kv, it, v, rev);
	note_write(r, p->key, p->key_len);
	kv_store_commit(kv, rev);
	r->existed = cur != NULL;
	r->succeeded = true;
	r->mod_revision = rev;
	r->integer = (int64_t)len;
	return KV_OK;
}

static int op_mset(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	/* Every condition is judged on the state before the command: all or nothing. */
	for (size_t i = 0; i < cmd->n; i++) {
		const struct kv_put *p = &cmd->puts[i];
		struct kv_ver *cur = current(kv, p->key, p->key_len, NULL);
		if (!cond_holds(cur, &p->cond)) {
			r->failed_index = (uint32_t)i;
			r->mod_revision = cur != NULL ? cur->mod_rev : 0;
			return KV_OK;
		}
	}
	for (size_t i = 0; i < cmd->n; i++) {
		struct kv_ttl_set ttl;
		int rv = kv_expiry_resolve(kv, &cmd->puts[i].expiry, &ttl);
		if (rv != KV_OK)
			return rv;
	}
	uint64_t rev = kv->rev + 1;
	for (size_t i = 0; i < cmd->n; i++) {
		const struct kv_put *p = &cmd->puts[i];
		struct kv_ttl_set ttl;
		kv_expiry_resolve(kv, &p->expiry, &ttl);
		struct kv_item *it =
		    write_value(kv, NULL, p->key, p->key_len, p->value, p->value_len, rev);
		kv_ttl_apply(kv, it, &ttl);
		note_write(r, p->key, p->key_len);
	}
	kv_store_commit(kv, rev);
	r->succeeded = true;
	r->mod_revision = rev;
	return KV_OK;
}

static int op_cas(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	const struct kv_put *p = &cmd->put;
	struct kv_ttl_set ttl;
	int rv = kv_expiry_resolve(kv, &p->expiry, &ttl);
	if (rv != KV_OK)
		return rv;
	struct kv_item *it;
	struct kv_ver *cur = current(kv, p->key, p->key_len, &it);
	r->existed = cur != NULL;
	if (!cond_holds(cur, &p->cond)) {
		r->mod_revision = cur != NULL ? cur->mod_rev : 0;
		return KV_OK;
	}
	r->succeeded = true;
	uint64_t rev = kv->rev + 1;
	if (cmd->cas_delete) {
		if (cur == NULL)
			return KV_OK; /* "delete if absent": holds, and nothing to do */
		kv_store_delete(kv, it, rev);
	} else {
		it = write_value(kv, it, p->key, p->key_len, p->value, p->value_len, rev);
		kv_ttl_apply(kv, it, &ttl);
	}
	note_write(r, p->key, p->key_len);
	kv_store_commit(kv, rev);
	r->mod_revision = rev;
	return KV_OK;
}

/* Carries out a checked command that belongs to no session bookkeeping. */
static int op_run(struct kv *kv, const struct kv_cmd *cmd, struct kv_reply *r)
{
	if (cmd->op == KV_OP_PUBLISH) {
		/* Before any expiry: the channel is no key, and a publish changes nothing. */
		if (kv->watch.publish != NULL)
			kv->watch.publish(kv->watch.arg, cmd->put.key, cmd->put.key_len,
			                  cmd->put.value, cmd->put.value_len);
		r->succeeded = true;
		return KV_OK;
	}
	kv_expire_touched(kv, cmd);
	switch (cmd->op) {
	case KV_OP_SET:
		return op_set(kv, &cmd->put, r);
	case KV_OP_DEL:
		return op_del(kv, cmd, r);
	case KV_OP_INCRBY:
		return op_incrby(kv, cmd, r);
	case KV_OP_APPEND:
		return op_append(kv, cmd, r);
	case KV_OP_MSET:
		return op_mset(kv, cmd, r);
	case KV_OP_CAS:
		return op_cas(kv, cmd, r);
	case KV_OP_NOOP:
		r->succeeded = true;
		return KV_OK;
	case KV_OP_COMPACT: {
		int rv = kv_compact(kv, cmd->revision);
		r->succeeded = rv == KV_OK;
		return rv;
	}
	case KV_OP_TXN:
		return kv_txn_run(kv, cmd, r);
	case KV_OP_EXPIRE:
	case KV_OP_LEASE_GRANT:
	case KV_OP_LEASE_REVOKE:
	case KV_OP_LEASE_KEEPALIVE:
	case KV_OP_EXPIRE_DUE:
		return kv_expiry_run(kv, kv->applied, cmd, r);
	case KV_OP_DELRANGE:
		return kv_delrange_run(kv, cmd, r);
	case KV_OP_SESSION_OPEN:
	case KV_OP_SESSION_CLOSE:
	case KV_OP_SESSION_KEEPALIVE:
	case KV_OP_GET:
	case KV_OP_MGET:
	case KV_OP_EXISTS:
	case KV_OP_STRLEN:
	case KV_OP_RANGE:
	case KV_OP_PUBLISH:
		break;
	}
	assert(false); /* sessions are the caller's; reads exist only inside a TXN */
	return KV_EINVAL;
}

/* ----------------------------------------------------------------------------------
 * Sessions (Raft thesis 6.3: "Implementing linearizable semantics")
 */

static void session_open(struct kv *kv, raft_index index, struct kv_reply *r)
{
	/* The id is the log index of the open command: unique across the cluster's life,
	 * so an expired session's id is never handed out again. */
	if (kv_session_find(&kv->sessions, index) != NULL) {
		r->code = KV_EINVAL; /* only a doctored snapshot could hold this id already */
		return;
	}
	while (kv->sessions.count >= kv->cfg.sessions_max)
		kv_session_remove(&kv->sessions, kv->sessions.oldest);
	kv_session_add(&kv->sessions, index, kv->now_ms);
	r->code = KV_OK;
	r->succeeded = true;
	r->client_id = index;
}

/* Runs a decoded command under the session rules; `rv` is what the checks said of it. */
static void command_run(struct kv *kv, raft_index index, const struct kv_cmd *cmd, int rv,
                        struct kv_reply *r)
{
	if (rv == KV_OK && cmd->op == KV_OP_SESSION_OPEN) {
		session_open(kv, index, r);
		return;
	}
	if (cmd->client_id == 0) {
		r->code = rv == KV_OK ? op_run(kv, cmd, r) : rv;
		return;
	}
	struct kv_session *se = kv_session_find(&kv->sessions, cmd->client_id);
	if (se == NULL) {
		r->code = KV_ESESSION;
		return;
	}
	kv_session_touch(&kv->sessions, se, kv->now_ms);
	if (rv == KV_OK && cmd->op == KV_OP_SESSION_CLOSE) {
		kv_session_remove(&kv->sessions, se);
		r->code = KV_OK;
		r->succeeded = true;
		return;
	}
	if (rv == KV_OK && cmd->op == KV_OP_SESSION_KEEPALIVE) {
		r->code = KV_OK;
		r->succeeded = true;
		return;
	}
	if (cmd->seq != 0 && cmd->seq == se->last_seq) {
		*r = se->reply; /* applied before: answer as then, change nothing */
		r->duplicate = true;
		r->members_written = false;
		return;
	}
	if (cmd->seq != 0 && cmd->seq < se->last_seq) {
		r->code = KV_ESTALE;
		return;
	}
	/* A command the checks refused is answered and remembered like any other, so that
	 * its retry gets the same error. A zero seq (refused) never enters the session. */
	r->code = rv == KV_OK ? op_run(kv, cmd, r) : rv;
	if (cmd->seq != 0) {
		r->revision = kv->rev;
		se->last_seq = cmd->seq;
		se->reply = *r;
		se->reply.txn = NULL; /* the outcomes are not kept: a retry gets the summary */
		se->reply.prev_kvs = NULL;
		se->reply.n_prev_kvs = 0;
	}
}

/* ----------------------------------------------------------------------------------
 * Entry points
 */

int kv_apply(struct kv *kv, raft_index index, const void *buf, size_t len, struct kv_reply *reply)
{
	assert(index > kv->applied);
	kv->applied = index;
	memset(reply, 0, sizeof(*reply));
	Concord__Kv__Command *c = NULL;
	struct kv_cmd cmd;
	struct kv_scratch scratch = {0};
	int rv = KV_OK;
	if (!kv_cmd_decode_fast(buf, len, &cmd)) {
		c = kv_cmd_unpack(buf, len);
		rv = c != NULL ? kv_cmd_from_pb(c, &cmd, &scratch) : KV_EBADCMD;
	}
	if (rv == KV_EBADCMD) {
		/* Not a command at all: nothing changes, not even log time. */
		reply->code = KV_EBADCMD;
		reply->revision = kv->rev;
	} else {
		if (rv == KV_OK)
			rv = kv_cmd_check(&cmd, &kv->cfg.limits);
		/* Log time: the leader's clock as carried by the log, never moving back, so
		 * that every node expires the same sessions at the same command. */
		if (cmd.time_ms > kv->now_ms)
			kv->now_ms = cmd.time_ms;
		/* The log clock of expiry, from the leader's monotonic stamps. */
		kv->cmd_time_ms = cmd.time_ms;
		kv_clock_advance(kv, cmd.mono_ms);
		kv_sessions_expire(&kv->sessions, kv->now_ms, kv->cfg.session_timeout_ms);
		command_run(kv, index, &cmd, rv, reply);
		if (!reply->duplicate)
			reply->revision = kv->rev;
	}
	kv_scratch_free(&scratch);
	if (c != NULL)
		concord__kv__command__free_unpacked(c, NULL);
	assert(reply->code >= 0);
	assert(reply->code < KV_ERROR_COUNT_);
	return reply->code;
}

void kv_apply_skip(struct kv *kv, raft_index index)
{
	assert(index > kv->applied);
	kv->applied = index;
}

int kv_apply_entry(struct kv *kv, const struct raft_entry *e, struct kv_reply *reply)
{
	kv_clock_term(kv, e->term);
	if (e->type == RAFT_ENTRY_NORMAL)
		return kv_apply(kv, e->index, raft_entry_data(e), raft_entry_len(e), reply);
	kv_apply_skip(kv, e->index);
	memset(reply, 0, sizeof(*reply));
	reply->code = KV_OK;
	reply->revision = kv->rev;
	return KV_OK;
}
