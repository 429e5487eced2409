/* cmd_decode.c: decoding commands from the log; encoding and decoding replies. */
#include "kv/codec.h"
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Decoding
 */

static bool field_has_unknown(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	if (f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t which;
		memcpy(&which, base + f->quantifier_offset, sizeof(which));
		if (which != f->id)
			return false;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n;
		memcpy(&n, base + f->quantifier_offset, sizeof(n));
		ProtobufCMessage *const *sub;
		memcpy(&sub, base + f->offset, sizeof(sub));
		for (size_t i = 0; i < n; i++)
			if (kv_pb_has_unknown(sub[i]))
				return true;
		return false;
	}
	const ProtobufCMessage *sub;
	memcpy(&sub, base + f->offset, sizeof(sub));
	return sub != NULL && kv_pb_has_unknown(sub);
}

bool kv_pb_has_unknown(const ProtobufCMessage *m)
{
	/* The schema has no recursive message, so the depth is bounded by it. */
	if (m->n_unknown_fields > 0)
		return true;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (field_has_unknown(m, &d->fields[i]))
			return true;
	return false;
}

Concord__Kv__Command *kv_cmd_unpack(const void *buf, size_t len)
{
	Concord__Kv__Command *c = concord__kv__command__unpack(NULL, len, buf);
	if (c == NULL)
		return NULL;
	if (kv_pb_has_unknown(&c->base)) {
		concord__kv__command__free_unpacked(c, NULL);
		return NULL;
	}
	return c;
}

static int cond_from_pb(const Concord__Kv__Condition *pc, struct kv_cond *cond)
{
	memset(cond, 0, sizeof(*cond));
	if (pc == NULL)
		return KV_OK;
	if ((int)pc->kind < (int)KV_COND_NONE || (int)pc->kind > (int)KV_COND_MOD_REVISION)
		return KV_EBADCMD;
	cond->kind = (enum kv_cond_kind)pc->kind;
	cond->value = pc->value.data;
	cond->value_len = pc->value.len;
	cond->mod_revision = pc->mod_revision;
	return KV_OK;
}

static int expiry_from_pb(const Concord__Kv__Expiry *pe, struct kv_expiry *e)
{
	memset(e, 0, sizeof(*e));
	if (pe == NULL)
		return KV_OK;
	if ((int)pe->mode < (int)KV_EXPIRY_CLEAR || (int)pe->mode > (int)KV_EXPIRY_LEASE)
		return KV_EBADCMD;
	e->mode = (enum kv_expiry_mode)pe->mode;
	e->ms = pe->ms;
	e->lease = pe->lease;
	return KV_OK;
}

static int put_from_pb(const Concord__Kv__Put *pp, struct kv_put *p)
{
	p->key = pp->key.data;
	p->key_len = pp->key.len;
	p->value = pp->value.data;
	p->value_len = pp->value.len;
	if (expiry_from_pb(pp->expiry, &p->expiry) != KV_OK)
		return KV_EBADCMD;
	return cond_from_pb(pp->cond, &p->cond);
}

static int cas_from_pb(const Concord__Kv__Cas *x, struct kv_cmd *op)
{
	op->op = KV_OP_CAS;
	op->put.key = x->key.data;
	op->put.key_len = x->key.len;
	op->put.value = x->value.data;
	op->put.value_len = x->value.len;
	op->cas_delete = x->delete_;
	if (expiry_from_pb(x->expiry, &op->put.expiry) != KV_OK)
		return KV_EBADCMD;
	return cond_from_pb(x->cond, &op->put.cond);
}

static int expire_from_pb(const Concord__Kv__Expire *x, struct kv_cmd *op)
{
	op->op = KV_OP_EXPIRE;
	op->put.key = x->key.data;
	op->put.key_len = x->key.len;
	op->expire_flags = x->flags;
	return expiry_from_pb(x->expiry, &op->put.expiry);
}

void kv_scratch_free(struct kv_scratch *s)
{
	free(s->puts);
	free(s->keys);
	free(s->ops);
	free(s->guards);
	free(s->compares);
	memset(s, 0, sizeof(*s));
}

/* A list of keys into keys[*k...]; the caller counted them. */
static void keys_from_pb(const Concord__Kv__Del *d, struct kv_cmd *op, struct kv_key *keys,
                         size_t *k)
{
	op->n = d->n_keys;
	op->keys = keys + *k;
	for (size_t i = 0; i < d->n_keys; i++)
		keys[(*k)++] = (struct kv_key){d->keys[i].data, d->keys[i].len};
}

/* A transaction's RANGE or DELRANGE. */
static void range_from_pb(const Concord__Kv__TxnOp *po, struct kv_cmd *op)
{
	if (po->op_case == CONCORD__KV__TXN_OP__OP_DEL_RANGE) {
		op->op = KV_OP_DELRANGE;
		op->put.key = po->del_range->key.data;
		op->put.key_len = po->del_range->key.len;
		op->range_end = po->del_range->range_end.data;
		op->range_end_len = po->del_range->range_end.len;
		op->prev_kv = po->del_range->prev_kv;
		return;
	}
	op->op = KV_OP_RANGE;
	op->put.key = po->range->key.data;
	op->put.key_len = po->range->key.len;
	op->range_end = po->range->range_end.data;
	op->range_end_len = po->range->range_end.len;
	op->limit = po->range->limit;
	op->keys_only = po->range->keys_only;
	op->count_only = po->range->count_only;
}

static int txn_op_from_pb(const Concord__Kv__TxnOp *po, struct kv_cmd *op, struct kv_scratch *s,
                          size_t *p, size_t *k)
{
	memset(op, 0, sizeof(*op));
	switch (po->op_case) {
	case CONCORD__KV__TXN_OP__OP_SET:
		op->op = KV_OP_SET;
		return put_from_pb(po->set, &op->put);
	case CONCORD__KV__TXN_OP__OP_DEL:
		op->op = KV_OP_DEL;
		keys_from_pb(po->del, op, s->keys, k);
		return KV_OK;
	case CONCORD__KV__TXN_OP__OP_INCRBY:
		op->op = KV_OP_INCRBY;
		op->put.key = po->incrby->key.data;
		op->put.key_len = po->incrby->key.len;
		op->delta = po->incrby->delta;
		return KV_OK;
	case CONCORD__KV__TXN_OP__OP_APPEND:
		op->op = KV_OP_APPEND;
		op->put.key = po->append->key.data;
		op->put.key_len = po->append->key.len;
		op->put.value = po->append->value.data;
		op->put.value_len = po->append->value.len;
		return KV_OK;
	case CONCORD__KV__TXN_OP__OP_MSET:
		op->op = KV_OP_MSET;
		op->n = po->mset->n_puts;
		op->puts = s->puts + *p;
		for (size_t i = 0; i < po->mset->n_puts; i++)
			if (put_from_pb(po->mset->puts[i], &s->puts[(*p)++]) != KV_OK)
				return KV_EBADCMD;
		return KV_OK;
	case CONCORD__KV__TXN_OP__OP_CAS:
		return cas_from_pb(po->cas, op);
	case CONCORD__KV__TXN_OP__OP_EXPIRE:
		return expire_from_pb(po->expire, op);
	case CONCORD__KV__TXN_OP__OP_GET_KEY:
	case CONCORD__KV__TXN_OP__OP_STRLEN_KEY: {
		bool get = po->op_case == CONCORD__KV__TXN_OP__OP_GET_KEY;
		const ProtobufCBinaryData *key = get ? &po->get_key : &po->strlen_key;
		op->op = get ? KV_OP_GET : KV_OP_STRLEN;
		op->put.key = key->data;
		op->put.key_len = key->len;
		return KV_OK;
	}
	case CONCORD__KV__TXN_OP__OP_MGET:
		op->op = KV_OP_MGET;
		keys_from_pb(po->mget, op, s->keys, k);
		return KV_OK;
	case CONCORD__KV__TXN_OP__OP_EXISTS:
		op->op = KV_OP_EXISTS;
		keys_from_pb(po->exists, op, s->keys, k);
		return KV_OK;
	case CONCORD__KV__TXN_OP__OP_DEL_RANGE:
	case CONCORD__KV__TXN_OP__OP_RANGE:
		range_from_pb(po, op);
		return KV_OK;
	case CONCORD__KV__TXN_OP__OP__NOT_SET:
	default:
		return KV_EBADCMD;
	}
}

/* Counts the puts and keys of sub-commands; false past the ceilings. */
static bool ops_count(size_t n, Concord__Kv__TxnOp *const *ops, size_t *n_puts, size_t *n_keys)
{
	for (size_t i = 0; i < n; i++) {
		const Concord__Kv__TxnOp *po = ops[i];
		if (po->op_case == CONCORD__KV__TXN_OP__OP_MSET)
			*n_puts += po->mset->n_puts;
		else if (po->op_case == CONCORD__KV__TXN_OP__OP_DEL)
			*n_keys += po->del->n_keys;
		else if (po->op_case == CONCORD__KV__TXN_OP__OP_MGET)
			*n_keys += po->mget->n_keys;
		else if (po->op_case == CONCORD__KV__TXN_OP__OP_EXISTS)
			*n_keys += po->exists->n_keys;
		if (*n_puts > KV_KEYS_PER_CMD_LIMIT || *n_keys > KV_KEYS_PER_CMD_LIMIT)
			return false;
	}
	return true;
}

static int ops_from_pb(size_t n, Concord__Kv__TxnOp *const *ops, struct kv_cmd *out,
                       struct kv_scratch *s, size_t *p, size_t *k)
{
	for (size_t i = 0; i < n; i++) {
		int rv = txn_op_from_pb(ops[i], &out[i], s, p, k);
		if (rv != KV_OK)
			return rv;
	}
	return KV_OK;
}

static void compares_from_pb(const Concord__Kv__Txn *t, struct kv_cmd *cmd, struct kv_scratch *s)
{
	s->compares = xcalloc(t->n_compares > 0 ? t->n_compares : 1, sizeof(*s->compares));
	for (size_t i = 0; i < t->n_compares; i++) {
		const Concord__Kv__Compare *c = t->compares[i];
		/* Out-of-range kinds stay out of range: kv_cmd_check refuses them. */
		s->compares[i] =
		    (struct kv_compare){c->key.data,
		                        c->key.len,
		                        (enum kv_cmp_target)(c->target > 7 ? 7 : c->target),
		                        (enum kv_cmp_result)(c->result > 7 ? 7 : c->result),
		                        c->value.data,
		                        c->value.len,
		                        c->number};
	}
	cmd->n_compares = t->n_compares;
	cmd->compares = s->compares;
}

static int txn_from_pb(const Concord__Kv__Txn *t, struct kv_cmd *cmd, struct kv_scratch *s)
{
	cmd->op = KV_OP_TXN;
	size_t n_puts = 0, n_keys = 0;
	if (t->n_ops > KV_TXN_OPS_LIMIT || t->n_else_ops > KV_TXN_OPS_LIMIT ||
	    t->n_guards > KV_KEYS_PER_CMD_LIMIT || t->n_compares > KV_KEYS_PER_CMD_LIMIT ||
	    !ops_count(t->n_ops, t->ops, &n_puts, &n_keys) ||
	    !ops_count(t->n_else_ops, t->else_ops, &n_puts, &n_keys))
		return KV_ETOOMANY;
	size_t n_all = t->n_ops + t->n_else_ops;
	s->ops = xcalloc(n_all > 0 ? n_all : 1, sizeof(*s->ops));
	s->guards = xcalloc(t->n_guards > 0 ? t->n_guards : 1, sizeof(*s->guards));
	s->puts = xcalloc(n_puts > 0 ? n_puts : 1, sizeof(*s->puts));
	s->keys = xcalloc(n_keys > 0 ? n_keys : 1, sizeof(*s->keys));
	for (size_t i = 0; i < t->n_guards; i++)
		s->guards[i] = (struct kv_guard){t->guards[i]->key.data, t->guards[i]->key.len,
		                                 t->guards[i]->mod_revision};
	cmd->n_guards = t->n_guards;
	cmd->guards = s->guards;
	cmd->n_ops = t->n_ops;
	cmd->ops = s->ops;
	cmd->n_else = t->n_else_ops;
	cmd->else_ops = s->ops + t->n_ops;
	compares_from_pb(t, cmd, s);
	size_t p = 0, k = 0;
	int rv = ops_from_pb(t->n_ops, t->ops, s->ops, s, &p, &k);
	if (rv == KV_OK)
		rv = ops_from_pb(t->n_else_ops, t->else_ops, s->ops + t->n_ops, s, &p, &k);
	return rv;
}

static int lease_from_pb(const Concord__Kv__Command *c, struct kv_cmd *cmd, struct kv_scratch *s)
{
	switch (c->op_case) {
	case CONCORD__KV__COMMAND__OP_EXPIRE:
		return expire_from_pb(c->expire, cmd);
	case CONCORD__KV__COMMAND__OP_LEASE_GRANT:
		cmd->op = KV_OP_LEASE_GRANT;
		cmd->lease = c->lease_grant->id;
		cmd->lease_ttl_ms = c->lease_grant->ttl_ms;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_LEASE_REVOKE:
		cmd->op = KV_OP_LEASE_REVOKE;
		cmd->lease = c->lease_revoke->id;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_LEASE_KEEPALIVE:
		cmd->op = KV_OP_LEASE_KEEPALIVE;
		cmd->lease = c->lease_keepalive->id;
		return KV_OK;
	default: {
		const Concord__Kv__ExpireDue *x = c->expire_due;
		cmd->op = KV_OP_EXPIRE_DUE;
		if (x->n_keys > KV_KEYS_PER_CMD_LIMIT || x->n_leases > KV_KEYS_PER_CMD_LIMIT)
			return KV_ETOOMANY;
		s->keys = xcalloc(x->n_keys > 0 ? x->n_keys : 1, sizeof(*s->keys));
		for (size_t i = 0; i < x->n_keys; i++)
			s->keys[i] = (struct kv_key){x->keys[i].data, x->keys[i].len};
		cmd->n = x->n_keys;
		cmd->keys = s->keys;
		cmd->n_leases = x->n_leases;
		cmd->leases = x->leases;
		return KV_OK;
	}
	}
}

int kv_cmd_from_pb(const Concord__Kv__Command *c, struct kv_cmd *cmd, struct kv_scratch *s)
{
	memset(cmd, 0, sizeof(*cmd));
	memset(s, 0, sizeof(*s));
	cmd->client_id = c->client_id;
	cmd->seq = c->seq;
	cmd->time_ms = c->time_ms;
	cmd->mono_ms = c->mono_ms;
	switch (c->op_case) {
	case CONCORD__KV__COMMAND__OP_SET:
		cmd->op = KV_OP_SET;
		return put_from_pb(c->set, &cmd->put);
	case CONCORD__KV__COMMAND__OP_DEL:
		cmd->op = KV_OP_DEL;
		if (c->del->n_keys > KV_KEYS_PER_CMD_LIMIT)
			return KV_ETOOMANY;
		cmd->n = c->del->n_keys;
		s->keys = xcalloc(cmd->n, sizeof(*s->keys));
		for (size_t i = 0; i < cmd->n; i++) {
			s->keys[i].data = c->del->keys[i].data;
			s->keys[i].len = c->del->keys[i].len;
		}
		cmd->keys = s->keys;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_INCRBY:
		cmd->op = KV_OP_INCRBY;
		cmd->put.key = c->incrby->key.data;
		cmd->put.key_len = c->incrby->key.len;
		cmd->delta = c->incrby->delta;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_APPEND:
		cmd->op = KV_OP_APPEND;
		cmd->put.key = c->append->key.data;
		cmd->put.key_len = c->append->key.len;
		cmd->put.value = c->append->value.data;
		cmd->put.value_len = c->append->value.len;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_MSET:
		cmd->op = KV_OP_MSET;
		if (c->mset->n_puts > KV_KEYS_PER_CMD_LIMIT)
			return KV_ETOOMANY;
		cmd->n = c->mset->n_puts;
		s->puts = xcalloc(cmd->n, sizeof(*s->puts));
		cmd->puts = s->puts;
		for (size_t i = 0; i < cmd->n; i++) {
			int rv = put_from_pb(c->mset->puts[i], &s->puts[i]);
			if (rv != KV_OK)
				return rv;
		}
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_CAS:
		return cas_from_pb(c->cas, cmd);
	case CONCORD__KV__COMMAND__OP_SESSION_OPEN:
		cmd->op = KV_OP_SESSION_OPEN;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_SESSION_CLOSE:
		cmd->op = KV_OP_SESSION_CLOSE;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_SESSION_KEEPALIVE:
		cmd->op = KV_OP_SESSION_KEEPALIVE;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_NOOP:
		cmd->op = KV_OP_NOOP;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_COMPACT:
		cmd->op = KV_OP_COMPACT;
		cmd->revision = c->compact->revision;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_TXN:
		return txn_from_pb(c->txn, cmd, s);
	case CONCORD__KV__COMMAND__OP_EXPIRE:
	case CONCORD__KV__COMMAND__OP_LEASE_GRANT:
	case CONCORD__KV__COMMAND__OP_LEASE_REVOKE:
	case CONCORD__KV__COMMAND__OP_LEASE_KEEPALIVE:
	case CONCORD__KV__COMMAND__OP_EXPIRE_DUE:
		return lease_from_pb(c, cmd, s);
	case CONCORD__KV__COMMAND__OP_DEL_RANGE:
		cmd->op = KV_OP_DELRANGE;
		cmd->put.key = c->del_range->key.data;
		cmd->put.key_len = c->del_range->key.len;
		cmd->range_end = c->del_range->range_end.data;
		cmd->range_end_len = c->del_range->range_end.len;
		cmd->prev_kv = c->del_range->prev_kv;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP_PUBLISH:
		cmd->op = KV_OP_PUBLISH;
		cmd->put.key = c->publish->channel.data;
		cmd->put.key_len = c->publish->channel.len;
		cmd->put.value = c->publish->message.data;
		cmd->put.value_len = c->publish->message.len;
		return KV_OK;
	case CONCORD__KV__COMMAND__OP__NOT_SET:
	default:
		return KV_EBADCMD;
	}
}

/* ----------------------------------------------------------------------------------
 * Replies
 */

void kv_reply_to_pb(const struct kv_reply *r, Concord__Kv__Reply *pr)
{
	assert(r->code >= 0);
	assert(r->code < KV_ERROR_COUNT_);
	concord__kv__reply__init(pr);
	pr->code = (uint32_t)r->code;
	pr->revision = r->revision;
	pr->succeeded = r->succeeded;
	pr->existed = r->existed;
	pr->mod_revision = r->mod_revision;
	pr->integer = r->integer;
	pr->client_id = r->client_id;
	pr->failed_index = r->failed_index;
}

int kv_reply_from_pb(const Concord__Kv__Reply *pr, struct kv_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (pr->code >= KV_ERROR_COUNT_)
		return KV_EBADCMD;
	r->code = (int)pr->code;
	r->revision = pr->revision;
	r->succeeded = pr->succeeded;
	r->existed = pr->existed;
	r->mod_revision = pr->mod_revision;
	r->integer = pr->integer;
	r->client_id = pr->client_id;
	r->failed_index = pr->failed_index;
	return KV_OK;
}

size_t kv_reply_encode(const struct kv_reply *reply, uint8_t buf[KV_REPLY_MAX_BYTES])
{
	Concord__Kv__Reply pr;
	kv_reply_to_pb(reply, &pr);
	size_t n = concord__kv__reply__get_packed_size(&pr);
	assert(n <= KV_REPLY_MAX_BYTES);
	size_t written = concord__kv__reply__pack(&pr, buf);
	assert(written == n);
	return written;
}

int kv_reply_decode(const void *buf, size_t len, struct kv_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	if (len > KV_REPLY_MAX_BYTES)
		return KV_EBADCMD;
	Concord__Kv__Reply *pr = concord__kv__reply__unpack(NULL, len, buf);
	if (pr == NULL)
		return KV_EBADCMD;
	int rv = kv_reply_from_pb(pr, reply);
	concord__kv__reply__free_unpacked(pr, NULL);
	return rv;
}
