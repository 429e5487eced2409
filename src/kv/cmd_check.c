/* cmd_check.c: checking commands against the limits before they are encoded or applied. */
#include "kv/codec.h"
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Checks
 */

static int key_check(size_t len, const struct kv_limits *lim)
{
	return len <= lim->key_bytes_max ? KV_OK : KV_EKEYTOOBIG;
}

static int value_check(size_t len, const struct kv_limits *lim)
{
	return len <= lim->value_bytes_max ? KV_OK : KV_EVALUETOOBIG;
}

static int cond_check(const struct kv_cond *cond, const struct kv_limits *lim)
{
	switch (cond->kind) {
	case KV_COND_NONE:
	case KV_COND_ABSENT:
	case KV_COND_PRESENT:
	case KV_COND_MOD_REVISION:
		return KV_OK;
	case KV_COND_VALUE:
		return value_check(cond->value_len, lim);
	}
	return KV_EINVAL;
}

/* A write's expiry (SET, MSET, CAS): any mode, a TTL within the limit, a lease id. */
static int expiry_check(const struct kv_expiry *e)
{
	switch (e->mode) {
	case KV_EXPIRY_CLEAR:
	case KV_EXPIRY_KEEP:
		return e->ms == 0 && e->lease == 0 ? KV_OK : KV_EINVAL;
	case KV_EXPIRY_IN:
		return e->ms <= KV_TTL_MS_LIMIT && e->lease == 0 ? KV_OK : KV_EINVAL;
	case KV_EXPIRY_AT:
		return e->lease == 0 ? KV_OK : KV_EINVAL;
	case KV_EXPIRY_LEASE:
		return e->lease != 0 && e->ms == 0 ? KV_OK : KV_EINVAL;
	}
	return KV_EINVAL;
}

static int put_check(const struct kv_put *p, const struct kv_limits *lim)
{
	int rv = key_check(p->key_len, lim);
	if (rv == KV_OK)
		rv = value_check(p->value_len, lim);
	if (rv == KV_OK)
		rv = cond_check(&p->cond, lim);
	if (rv == KV_OK)
		rv = expiry_check(&p->expiry);
	return rv;
}

/* EXPIRE: a deadline (IN, AT) or PERSIST (CLEAR), with Redis's compatible flags. */
static int expire_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	int rv = key_check(cmd->put.key_len, lim);
	if (rv != KV_OK)
		return rv;
	const struct kv_expiry *e = &cmd->put.expiry;
	if (e->mode != KV_EXPIRY_IN && e->mode != KV_EXPIRY_AT && e->mode != KV_EXPIRY_CLEAR)
		return KV_EINVAL;
	if (expiry_check(e) != KV_OK)
		return KV_EINVAL;
	unsigned f = cmd->expire_flags;
	if (f & ~(KV_EXPIRE_NX | KV_EXPIRE_XX | KV_EXPIRE_GT | KV_EXPIRE_LT))
		return KV_EINVAL;
	if ((f & KV_EXPIRE_NX) && (f & (KV_EXPIRE_XX | KV_EXPIRE_GT | KV_EXPIRE_LT)))
		return KV_EINVAL;
	if ((f & KV_EXPIRE_GT) && (f & KV_EXPIRE_LT))
		return KV_EINVAL;
	if (e->mode == KV_EXPIRY_CLEAR && f != 0)
		return KV_EINVAL;
	return KV_OK;
}

/* The lease commands and the reaper's. */
static int lease_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	switch (cmd->op) {
	case KV_OP_LEASE_GRANT:
		return cmd->lease_ttl_ms >= 1 && cmd->lease_ttl_ms <= KV_TTL_MS_LIMIT ? KV_OK
		                                                                      : KV_EINVAL;
	case KV_OP_LEASE_REVOKE:
	case KV_OP_LEASE_KEEPALIVE:
		return cmd->lease != 0 ? KV_OK : KV_EINVAL;
	case KV_OP_EXPIRE_DUE:
		if (cmd->client_id != 0)
			return KV_EINVAL; /* the leader's own, never a session's */
		if (cmd->n > lim->keys_per_cmd_max || cmd->n_leases > lim->keys_per_cmd_max)
			return KV_ETOOMANY;
		for (size_t i = 0; i < cmd->n; i++)
			if (key_check(cmd->keys[i].len, lim) != KV_OK)
				return KV_EKEYTOOBIG;
		return KV_OK;
	default:
		return KV_EINVAL;
	}
}

static int count_check(size_t n, const struct kv_limits *lim)
{
	if (n == 0)
		return KV_EINVAL;
	if (n > lim->keys_per_cmd_max)
		return KV_ETOOMANY;
	return KV_OK;
}

/* Operations on data need a sequence number inside a session. */
static int seq_check(const struct kv_cmd *cmd)
{
	if (cmd->client_id != 0 && cmd->seq == 0)
		return KV_EINVAL;
	return KV_OK;
}

static int txn_check(const struct kv_cmd *cmd, const struct kv_limits *lim);

static int expiry_cmd_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	int rv = seq_check(cmd);
	if (rv != KV_OK)
		return rv;
	return cmd->op == KV_OP_EXPIRE ? expire_check(cmd, lim) : lease_check(cmd, lim);
}

static int del_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	int rv = seq_check(cmd);
	if (rv == KV_OK)
		rv = count_check(cmd->n, lim);
	for (size_t i = 0; rv == KV_OK && i < cmd->n; i++)
		rv = key_check(cmd->keys[i].len, lim);
	return rv;
}

static int delrange_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	int rv = seq_check(cmd);
	if (rv == KV_OK)
		rv = key_check(cmd->put.key_len, lim);
	if (rv == KV_OK)
		rv = key_check(cmd->range_end_len, lim);
	return rv;
}

/* The channel is held to the key limit, the message to the value limit. */
static int publish_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	int rv = seq_check(cmd);
	if (rv == KV_OK)
		rv = key_check(cmd->put.key_len, lim);
	if (rv == KV_OK)
		rv = value_check(cmd->put.value_len, lim);
	return rv;
}

int kv_cmd_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	int rv;
	switch (cmd->op) {
	case KV_OP_TXN:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		return txn_check(cmd, lim);
	case KV_OP_GET:
	case KV_OP_MGET:
	case KV_OP_EXISTS:
	case KV_OP_STRLEN:
	case KV_OP_RANGE:
		return KV_EINVAL; /* only inside a transaction */
	case KV_OP_SET:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		return put_check(&cmd->put, lim);
	case KV_OP_DEL:
		return del_check(cmd, lim);
	case KV_OP_INCRBY:
		return seq_check(cmd) != KV_OK ? KV_EINVAL : key_check(cmd->put.key_len, lim);
	case KV_OP_APPEND:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		if ((rv = key_check(cmd->put.key_len, lim)) != KV_OK)
			return rv;
		return value_check(cmd->put.value_len, lim);
	case KV_OP_MSET:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		if ((rv = count_check(cmd->n, lim)) != KV_OK)
			return rv;
		for (size_t i = 0; i < cmd->n; i++)
			if ((rv = put_check(&cmd->puts[i], lim)) != KV_OK)
				return rv;
		return KV_OK;
	case KV_OP_CAS:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		if (cmd->put.cond.kind == KV_COND_NONE)
			return KV_EINVAL; /* a CAS without a comparison is a SET */
		return put_check(&cmd->put, lim);
	case KV_OP_SESSION_OPEN:
		return cmd->client_id == 0 ? KV_OK : KV_EINVAL;
	case KV_OP_SESSION_CLOSE:
	case KV_OP_SESSION_KEEPALIVE:
		return cmd->client_id != 0 ? KV_OK : KV_EINVAL;
	case KV_OP_NOOP:
		return seq_check(cmd);
	case KV_OP_COMPACT:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		return cmd->revision > 0 ? KV_OK : KV_EINVAL;
	case KV_OP_EXPIRE:
	case KV_OP_LEASE_GRANT:
	case KV_OP_LEASE_REVOKE:
	case KV_OP_LEASE_KEEPALIVE:
	case KV_OP_EXPIRE_DUE:
		return expiry_cmd_check(cmd, lim);
	case KV_OP_DELRANGE:
		return delrange_check(cmd, lim);
	case KV_OP_PUBLISH:
		return publish_check(cmd, lim);
	}
	return KV_EINVAL;
}

/* The keys and the key and value bytes a sub-command carries, for the totals. */
static void op_size(const struct kv_cmd *op, size_t *keys, size_t *bytes)
{
	switch (op->op) {
	case KV_OP_DEL:
	case KV_OP_MGET:
	case KV_OP_EXISTS:
		*keys += op->n;
		for (size_t i = 0; i < op->n; i++)
			*bytes += op->keys[i].len;
		return;
	case KV_OP_MSET:
		*keys += op->n;
		for (size_t i = 0; i < op->n; i++)
			*bytes += op->puts[i].key_len + op->puts[i].value_len +
			          op->puts[i].cond.value_len;
		return;
	default:
		*keys += 1;
		*bytes += op->put.key_len + op->put.value_len + op->put.cond.value_len +
		          op->range_end_len;
		return;
	}
}

/* A sub-command: one of the data operations, without session fields. */
static int txn_op_check(const struct kv_cmd *op, const struct kv_limits *lim)
{
	if (op->client_id != 0 || op->seq != 0 || op->n_ops != 0 || op->n_guards != 0 ||
	    op->n_else != 0 || op->n_compares != 0)
		return KV_EINVAL;
	switch (op->op) {
	case KV_OP_SET:
	case KV_OP_DEL:
	case KV_OP_INCRBY:
	case KV_OP_APPEND:
	case KV_OP_MSET:
	case KV_OP_CAS:
	case KV_OP_EXPIRE:
	case KV_OP_DELRANGE:
		return kv_cmd_check(op, lim);
	case KV_OP_RANGE:
		return delrange_check(op, lim);
	case KV_OP_GET:
	case KV_OP_STRLEN:
		return key_check(op->put.key_len, lim);
	case KV_OP_MGET:
	case KV_OP_EXISTS: {
		int rv = count_check(op->n, lim);
		for (size_t i = 0; rv == KV_OK && i < op->n; i++)
			rv = key_check(op->keys[i].len, lim);
		return rv;
	}
	default:
		return KV_EINVAL;
	}
}

static int compares_check(const struct kv_cmd *cmd, const struct kv_limits *lim, size_t *keys,
                          size_t *bytes)
{
	for (size_t i = 0; i < cmd->n_compares; i++) {
		const struct kv_compare *c = &cmd->compares[i];
		if ((unsigned)c->target > KV_CMP_MOD || (unsigned)c->result > KV_CMP_GREATER)
			return KV_EINVAL;
		if (key_check(c->key_len, lim) != KV_OK)
			return KV_EKEYTOOBIG;
		if (value_check(c->value_len, lim) != KV_OK)
			return KV_EVALUETOOBIG;
		*keys += 1;
		*bytes += c->key_len + c->value_len;
	}
	return KV_OK;
}

static int txn_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	int rv;
	if (cmd->n_ops > lim->txn_ops_max || cmd->n_else > lim->txn_ops_max)
		return KV_ETOOMANY;
	if (cmd->n_guards > lim->keys_per_cmd_max)
		return KV_ETOOMANY;
	size_t keys = cmd->n_guards, bytes = 0;
	for (size_t i = 0; i < cmd->n_guards; i++) {
		if (key_check(cmd->guards[i].key_len, lim) != KV_OK)
			return KV_EKEYTOOBIG;
		bytes += cmd->guards[i].key_len;
	}
	for (size_t i = 0; i < cmd->n_ops + cmd->n_else; i++) {
		const struct kv_cmd *op =
		    i < cmd->n_ops ? &cmd->ops[i] : &cmd->else_ops[i - cmd->n_ops];
		rv = txn_op_check(op, lim);
		if (rv != KV_OK)
			return rv;
		op_size(op, &keys, &bytes);
	}
	if ((rv = compares_check(cmd, lim, &keys, &bytes)) != KV_OK)
		return rv;
	if (keys > lim->keys_per_cmd_max)
		return KV_ETOOMANY;
	if (bytes > lim->txn_bytes_max)
		return KV_EVALUETOOBIG;
	return KV_OK;
}
