/* cmd.c: building, checking and decoding commands; encoding and decoding replies. */
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

static int put_check(const struct kv_put *p, const struct kv_limits *lim)
{
	int rv = key_check(p->key_len, lim);
	if (rv == KV_OK)
		rv = value_check(p->value_len, lim);
	if (rv == KV_OK)
		rv = cond_check(&p->cond, lim);
	return rv;
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
		return KV_EINVAL; /* only inside a transaction */
	case KV_OP_SET:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		return put_check(&cmd->put, lim);
	case KV_OP_DEL:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		if ((rv = count_check(cmd->n, lim)) != KV_OK)
			return rv;
		for (size_t i = 0; i < cmd->n; i++)
			if ((rv = key_check(cmd->keys[i].len, lim)) != KV_OK)
				return rv;
		return KV_OK;
	case KV_OP_INCRBY:
		if ((rv = seq_check(cmd)) != KV_OK)
			return rv;
		return key_check(cmd->put.key_len, lim);
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
		*bytes += op->put.key_len + op->put.value_len + op->put.cond.value_len;
		return;
	}
}

/* A sub-command: one of the data operations, without session fields. */
static int txn_op_check(const struct kv_cmd *op, const struct kv_limits *lim)
{
	if (op->client_id != 0 || op->seq != 0 || op->n_ops != 0 || op->n_guards != 0)
		return KV_EINVAL;
	switch (op->op) {
	case KV_OP_SET:
	case KV_OP_DEL:
	case KV_OP_INCRBY:
	case KV_OP_APPEND:
	case KV_OP_MSET:
	case KV_OP_CAS:
		return kv_cmd_check(op, lim);
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

static int txn_check(const struct kv_cmd *cmd, const struct kv_limits *lim)
{
	if (cmd->n_ops > lim->txn_ops_max)
		return KV_ETOOMANY;
	if (cmd->n_guards > lim->keys_per_cmd_max)
		return KV_ETOOMANY;
	size_t keys = cmd->n_guards, bytes = 0;
	for (size_t i = 0; i < cmd->n_guards; i++) {
		if (key_check(cmd->guards[i].key_len, lim) != KV_OK)
			return KV_EKEYTOOBIG;
		bytes += cmd->guards[i].key_len;
	}
	for (size_t i = 0; i < cmd->n_ops; i++) {
		int rv = txn_op_check(&cmd->ops[i], lim);
		if (rv != KV_OK)
			return rv;
		op_size(&cmd->ops[i], &keys, &bytes);
	}
	if (keys > lim->keys_per_cmd_max)
		return KV_ETOOMANY;
	if (bytes > lim->txn_bytes_max)
		return KV_EVALUETOOBIG;
	return KV_OK;
}

/* ----------------------------------------------------------------------------------
 * Encoding. The pb structures point into the caller's memory; only MSET and DEL need
 * arrays of their own.
 */

static ProtobufCBinaryData bin(const void *p, size_t len)
{
	ProtobufCBinaryData b = {len, (uint8_t *)p};
	return b;
}

static void cond_to_pb(const struct kv_cond *cond, Concord__Kv__Condition *pc)
{
	concord__kv__condition__init(pc);
	pc->kind = (Concord__Kv__Condition__Kind)cond->kind;
	if (cond->kind == KV_COND_VALUE)
		pc->value = bin(cond->value, cond->value_len);
	if (cond->kind == KV_COND_MOD_REVISION)
		pc->mod_revision = cond->mod_revision;
}

static void put_to_pb(const struct kv_put *p, Concord__Kv__Put *pp, Concord__Kv__Condition *pc)
{
	concord__kv__put__init(pp);
	pp->key = bin(p->key, p->key_len);
	pp->value = bin(p->value, p->value_len);
	if (p->cond.kind != KV_COND_NONE) {
		cond_to_pb(&p->cond, pc);
		pp->cond = pc;
	}
}

/* Allocations of one encoding, freed together. */
struct pb_arena {
	void **p;
	size_t n, cap;
};

static void *arena_alloc(struct pb_arena *a, size_t n, size_t size)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->p = xrealloc(a->p, a->cap * sizeof(*a->p));
	}
	void *x = xcalloc(n > 0 ? n : 1, size);
	a->p[a->n++] = x;
	return x;
}

static void arena_free(struct pb_arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

static Concord__Kv__Del *keys_to_pb(struct pb_arena *a, size_t n, const struct kv_key *keys)
{
	Concord__Kv__Del *d = arena_alloc(a, 1, sizeof(*d));
	concord__kv__del__init(d);
	ProtobufCBinaryData *k = arena_alloc(a, n, sizeof(*k));
	for (size_t i = 0; i < n; i++)
		k[i] = bin(keys[i].data, keys[i].len);
	d->n_keys = n;
	d->keys = k;
	return d;
}

static Concord__Kv__Put *put_pb(struct pb_arena *a, const struct kv_put *p)
{
	Concord__Kv__Put *pp = arena_alloc(a, 1, sizeof(*pp));
	Concord__Kv__Condition *pc = arena_alloc(a, 1, sizeof(*pc));
	put_to_pb(p, pp, pc);
	return pp;
}

static Concord__Kv__MSet *mset_pb(struct pb_arena *a, size_t n, const struct kv_put *puts)
{
	Concord__Kv__MSet *m = arena_alloc(a, 1, sizeof(*m));
	concord__kv__mset__init(m);
	Concord__Kv__Put **pp = arena_alloc(a, n, sizeof(*pp));
	for (size_t i = 0; i < n; i++)
		pp[i] = put_pb(a, &puts[i]);
	m->n_puts = n;
	m->puts = pp;
	return m;
}

static void txn_write_to_pb(struct pb_arena *a, const struct kv_cmd *op, Concord__Kv__TxnOp *po)
{
	if (op->op == KV_OP_INCRBY) {
		Concord__Kv__IncrBy *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__incr_by__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->delta = op->delta;
		po->op_case = CONCORD__KV__TXN_OP__OP_INCRBY;
		po->incrby = x;
	} else if (op->op == KV_OP_APPEND) {
		Concord__Kv__Append *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__append__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->value = bin(op->put.value, op->put.value_len);
		po->op_case = CONCORD__KV__TXN_OP__OP_APPEND;
		po->append = x;
	} else {
		assert(op->op == KV_OP_CAS);
		Concord__Kv__Cas *x = arena_alloc(a, 1, sizeof(*x));
		Concord__Kv__Condition *pc = arena_alloc(a, 1, sizeof(*pc));
		concord__kv__cas__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->value = bin(op->put.value, op->put.value_len);
		cond_to_pb(&op->put.cond, pc);
		x->cond = pc;
		x->delete_ = op->cas_delete;
		po->op_case = CONCORD__KV__TXN_OP__OP_CAS;
		po->cas = x;
	}
}

static void txn_op_to_pb(struct pb_arena *a, const struct kv_cmd *op, Concord__Kv__TxnOp *po)
{
	concord__kv__txn_op__init(po);
	switch (op->op) {
	case KV_OP_SET:
		po->op_case = CONCORD__KV__TXN_OP__OP_SET;
		po->set = put_pb(a, &op->put);
		return;
	case KV_OP_DEL:
		po->op_case = CONCORD__KV__TXN_OP__OP_DEL;
		po->del = keys_to_pb(a, op->n, op->keys);
		return;
	case KV_OP_MSET:
		po->op_case = CONCORD__KV__TXN_OP__OP_MSET;
		po->mset = mset_pb(a, op->n, op->puts);
		return;
	case KV_OP_GET:
		po->op_case = CONCORD__KV__TXN_OP__OP_GET_KEY;
		po->get_key = bin(op->put.key, op->put.key_len);
		return;
	case KV_OP_STRLEN:
		po->op_case = CONCORD__KV__TXN_OP__OP_STRLEN_KEY;
		po->strlen_key = bin(op->put.key, op->put.key_len);
		return;
	case KV_OP_MGET:
		po->op_case = CONCORD__KV__TXN_OP__OP_MGET;
		po->mget = keys_to_pb(a, op->n, op->keys);
		return;
	case KV_OP_EXISTS:
		po->op_case = CONCORD__KV__TXN_OP__OP_EXISTS;
		po->exists = keys_to_pb(a, op->n, op->keys);
		return;
	default:
		txn_write_to_pb(a, op, po);
		return;
	}
}

/* A checked transaction as its pb structures, allocated in `a`. */
static Concord__Kv__Txn *txn_to_pb(struct pb_arena *a, const struct kv_cmd *cmd)
{
	Concord__Kv__Txn *t = arena_alloc(a, 1, sizeof(*t));
	concord__kv__txn__init(t);
	Concord__Kv__Guard *g = arena_alloc(a, cmd->n_guards, sizeof(*g));
	Concord__Kv__Guard **gp = arena_alloc(a, cmd->n_guards, sizeof(*gp));
	for (size_t i = 0; i < cmd->n_guards; i++) {
		concord__kv__guard__init(&g[i]);
		g[i].key = bin(cmd->guards[i].key, cmd->guards[i].key_len);
		g[i].mod_revision = cmd->guards[i].mod_revision;
		gp[i] = &g[i];
	}
	t->n_guards = cmd->n_guards;
	t->guards = gp;
	Concord__Kv__TxnOp *o = arena_alloc(a, cmd->n_ops, sizeof(*o));
	Concord__Kv__TxnOp **op = arena_alloc(a, cmd->n_ops, sizeof(*op));
	for (size_t i = 0; i < cmd->n_ops; i++) {
		txn_op_to_pb(a, &cmd->ops[i], &o[i]);
		op[i] = &o[i];
	}
	t->n_ops = cmd->n_ops;
	t->ops = op;
	return t;
}

int kv_cmd_encode(const struct kv_cmd *cmd, const struct kv_limits *lim, void **buf, size_t *len)
{
	struct kv_limits def;
	if (lim == NULL) {
		kv_limits_default(&def);
		lim = &def;
	}
	int rv = kv_cmd_check(cmd, lim);
	if (rv != KV_OK)
		return rv;

	Concord__Kv__Command c;
	concord__kv__command__init(&c);
	c.client_id = cmd->client_id;
	c.seq = cmd->seq;
	c.time_ms = cmd->time_ms;

	Concord__Kv__Put put;
	Concord__Kv__Condition cond;
	Concord__Kv__Del del;
	Concord__Kv__IncrBy incr;
	Concord__Kv__Append app;
	Concord__Kv__MSet mset;
	Concord__Kv__Cas cas;
	Concord__Kv__SessionOpen open;
	Concord__Kv__SessionClose close;
	Concord__Kv__SessionKeepalive keep;
	Concord__Kv__Noop noop;
	Concord__Kv__Compact compact;
	/* MSET and DEL */
	Concord__Kv__Put *puts = NULL;
	Concord__Kv__Put **put_ptrs = NULL;
	Concord__Kv__Condition *conds = NULL;
	ProtobufCBinaryData *keys = NULL;
	struct pb_arena arena = {0};

	switch (cmd->op) {
	case KV_OP_TXN:
		c.op_case = CONCORD__KV__COMMAND__OP_TXN;
		c.txn = txn_to_pb(&arena, cmd);
		break;
	case KV_OP_GET:
	case KV_OP_MGET:
	case KV_OP_EXISTS:
	case KV_OP_STRLEN:
		break; /* refused by kv_cmd_check */
	case KV_OP_SET:
		put_to_pb(&cmd->put, &put, &cond);
		c.op_case = CONCORD__KV__COMMAND__OP_SET;
		c.set = &put;
		break;
	case KV_OP_DEL:
		concord__kv__del__init(&del);
		keys = xcalloc(cmd->n, sizeof(*keys));
		for (size_t i = 0; i < cmd->n; i++)
			keys[i] = bin(cmd->keys[i].data, cmd->keys[i].len);
		del.n_keys = cmd->n;
		del.keys = keys;
		c.op_case = CONCORD__KV__COMMAND__OP_DEL;
		c.del = &del;
		break;
	case KV_OP_INCRBY:
		concord__kv__incr_by__init(&incr);
		incr.key = bin(cmd->put.key, cmd->put.key_len);
		incr.delta = cmd->delta;
		c.op_case = CONCORD__KV__COMMAND__OP_INCRBY;
		c.incrby = &incr;
		break;
	case KV_OP_APPEND:
		concord__kv__append__init(&app);
		app.key = bin(cmd->put.key, cmd->put.key_len);
		app.value = bin(cmd->put.value, cmd->put.value_len);
		c.op_case = CONCORD__KV__COMMAND__OP_APPEND;
		c.append = &app;
		break;
	case KV_OP_MSET:
		concord__kv__mset__init(&mset);
		puts = xcalloc(cmd->n, sizeof(*puts));
		put_ptrs = xcalloc(cmd->n, sizeof(*put_ptrs));
		conds = xcalloc(cmd->n, sizeof(*conds));
		for (size_t i = 0; i < cmd->n; i++) {
			put_to_pb(&cmd->puts[i], &puts[i], &conds[i]);
			put_ptrs[i] = &puts[i];
		}
		mset.n_puts = cmd->n;
		mset.puts = put_ptrs;
		c.op_case = CONCORD__KV__COMMAND__OP_MSET;
		c.mset = &mset;
		break;
	case KV_OP_CAS:
		concord__kv__cas__init(&cas);
		cas.key = bin(cmd->put.key, cmd->put.key_len);
		cas.value = bin(cmd->put.value, cmd->put.value_len);
		cond_to_pb(&cmd->put.cond, &cond);
		cas.cond = &cond;
		cas.delete_ = cmd->cas_delete;
		c.op_case = CONCORD__KV__COMMAND__OP_CAS;
		c.cas = &cas;
		break;
	case KV_OP_SESSION_OPEN:
		concord__kv__session_open__init(&open);
		c.op_case = CONCORD__KV__COMMAND__OP_SESSION_OPEN;
		c.session_open = &open;
		break;
	case KV_OP_SESSION_CLOSE:
		concord__kv__session_close__init(&close);
		c.op_case = CONCORD__KV__COMMAND__OP_SESSION_CLOSE;
		c.session_close = &close;
		break;
	case KV_OP_SESSION_KEEPALIVE:
		concord__kv__session_keepalive__init(&keep);
		c.op_case = CONCORD__KV__COMMAND__OP_SESSION_KEEPALIVE;
		c.session_keepalive = &keep;
		break;
	case KV_OP_NOOP:
		concord__kv__noop__init(&noop);
		c.op_case = CONCORD__KV__COMMAND__OP_NOOP;
		c.noop = &noop;
		break;
	case KV_OP_COMPACT:
		concord__kv__compact__init(&compact);
		compact.revision = cmd->revision;
		c.op_case = CONCORD__KV__COMMAND__OP_COMPACT;
		c.compact = &compact;
		break;
	}
	assert(c.op_case != CONCORD__KV__COMMAND__OP__NOT_SET);

	size_t n = concord__kv__command__get_packed_size(&c);
	uint8_t *out = xmalloc(n);
	size_t written = concord__kv__command__pack(&c, out);
	assert(written == n);
	free(puts);
	free(put_ptrs);
	free(conds);
	free(keys);
	arena_free(&arena);
	*buf = out;
	*len = written;
	return KV_OK;
}

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

static int put_from_pb(const Concord__Kv__Put *pp, struct kv_put *p)
{
	p->key = pp->key.data;
	p->key_len = pp->key.len;
	p->value = pp->value.data;
	p->value_len = pp->value.len;
	return cond_from_pb(pp->cond, &p->cond);
}

void kv_scratch_free(struct kv_scratch *s)
{
	free(s->puts);
	free(s->keys);
	free(s->ops);
	free(s->guards);
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
		op->op = KV_OP_CAS;
		op->put.key = po->cas->key.data;
		op->put.key_len = po->cas->key.len;
		op->put.value = po->cas->value.data;
		op->put.value_len = po->cas->value.len;
		op->cas_delete = po->cas->delete_;
		return cond_from_pb(po->cas->cond, &op->put.cond);
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
	case CONCORD__KV__TXN_OP__OP__NOT_SET:
	default:
		return KV_EBADCMD;
	}
}

/* Counts the puts and keys of a transaction's sub-commands; false past the ceilings. */
static bool txn_count(const Concord__Kv__Txn *t, size_t *n_puts, size_t *n_keys)
{
	*n_puts = *n_keys = 0;
	for (size_t i = 0; i < t->n_ops; i++) {
		const Concord__Kv__TxnOp *po = t->ops[i];
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

static int txn_from_pb(const Concord__Kv__Txn *t, struct kv_cmd *cmd, struct kv_scratch *s)
{
	cmd->op = KV_OP_TXN;
	size_t n_puts, n_keys;
	if (t->n_ops > KV_TXN_OPS_LIMIT || t->n_guards > KV_KEYS_PER_CMD_LIMIT ||
	    !txn_count(t, &n_puts, &n_keys))
		return KV_ETOOMANY;
	s->ops = xcalloc(t->n_ops > 0 ? t->n_ops : 1, sizeof(*s->ops));
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
	size_t p = 0, k = 0;
	for (size_t i = 0; i < t->n_ops; i++) {
		int rv = txn_op_from_pb(t->ops[i], &s->ops[i], s, &p, &k);
		if (rv != KV_OK)
			return rv;
	}
	return KV_OK;
}

int kv_cmd_from_pb(const Concord__Kv__Command *c, struct kv_cmd *cmd, struct kv_scratch *s)
{
	memset(cmd, 0, sizeof(*cmd));
	memset(s, 0, sizeof(*s));
	cmd->client_id = c->client_id;
	cmd->seq = c->seq;
	cmd->time_ms = c->time_ms;
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
		cmd->op = KV_OP_CAS;
		cmd->put.key = c->cas->key.data;
		cmd->put.key_len = c->cas->key.len;
		cmd->put.value = c->cas->value.data;
		cmd->put.value_len = c->cas->value.len;
		cmd->cas_delete = c->cas->delete_;
		return cond_from_pb(c->cas->cond, &cmd->put.cond);
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
