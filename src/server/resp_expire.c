/* resp_expire.c: SET with its options, SETEX, the EXPIRE family, PERSIST, TTL, and the commands
 * that answer the old value (GETSET, GETDEL, GETEX, SET ... GET), with Redis's replies. */
#include "server/resp_impl.h"
#include "base/alloc.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A TTL argument in `unit_ms` units (1000: seconds) as milliseconds; relative TTLs must
 * be positive unless `any_sign`. Returns 0, or -1 with Redis's error in b->err. */
static int ttl_arg(const struct resp_arg *a, int64_t unit_ms, bool relative, bool any_sign,
                   const char *cmd, struct build *b, int64_t *ms)
{
	int64_t v;
	if (!arg_i64(a, &v)) {
		snprintf(b->err, sizeof(b->err), "ERR value is not an integer or out of range");
		return -1;
	}
	bool bad = (!any_sign && v <= 0) || __builtin_mul_overflow(v, unit_ms, ms) ||
	           (relative && *ms > KV_TTL_MS_LIMIT);
	if (bad) {
		snprintf(b->err, sizeof(b->err), "ERR invalid expire time in '%s' command", cmd);
		return -1;
	}
	return 0;
}

/* One of EX, PX, EXAT, PXAT at argv[i] (its value at argv[i + 1]) into *e; 1 if it was
 * one, 0 if not, -1 on error. */
static int expiry_option(size_t argc, const struct resp_arg *argv, size_t i, const char *cmd,
                         struct build *b, struct kv_expiry *e)
{
	static const struct {
		const char *name;
		int64_t unit;
		enum kv_expiry_mode mode;
	} opts[] = {{"EX", 1000, KV_EXPIRY_IN},
	            {"PX", 1, KV_EXPIRY_IN},
	            {"EXAT", 1000, KV_EXPIRY_AT},
	            {"PXAT", 1, KV_EXPIRY_AT}};
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		if (!arg_is(&argv[i], opts[k].name))
			continue;
		if (i + 1 >= argc || e->mode != KV_EXPIRY_CLEAR) {
			snprintf(b->err, sizeof(b->err), "ERR syntax error");
			return -1;
		}
		e->mode = opts[k].mode;
		bool rel = opts[k].mode == KV_EXPIRY_IN;
		return ttl_arg(&argv[i + 1], opts[k].unit, rel, false, cmd, b, &e->ms) == 0 ? 1
		                                                                            : -1;
	}
	return 0;
}

/* The old value first, then `write`: one transaction, one log entry. */
static void with_get(struct build *b, const struct resp_arg *key, const struct kv_cmd *write)
{
	b->sub[0] =
	    (struct kv_cmd){.op = KV_OP_GET, .put = {.key = key->data, .key_len = key->len}};
	size_t n = 1;
	if (write != NULL)
		b->sub[n++] = *write;
	b->cmd = (struct kv_cmd){.op = KV_OP_TXN, .n_ops = n, .ops = b->sub};
	b->kind = REPLY_FIRST_BULK;
}

static int set_options(size_t argc, const struct resp_arg *argv, struct build *b, bool *get)
{
	struct kv_put *p = &b->cmd.put;
	for (size_t i = 3; i < argc; i++) {
		const struct resp_arg *o = &argv[i];
		int rv = expiry_option(argc, argv, i, "set", b, &p->expiry);
		if (rv < 0)
			return -1;
		if (rv > 0) {
			i++;
		} else if ((arg_is(o, "NX") || arg_is(o, "XX")) && p->cond.kind == KV_COND_NONE) {
			p->cond.kind = arg_is(o, "NX") ? KV_COND_ABSENT : KV_COND_PRESENT;
			b->kind = REPLY_OK_OR_NULL;
		} else if (arg_is(o, "KEEPTTL") && p->expiry.mode == KV_EXPIRY_CLEAR) {
			p->expiry.mode = KV_EXPIRY_KEEP;
		} else if (arg_is(o, "LEASE") && p->expiry.mode == KV_EXPIRY_CLEAR &&
		           i + 1 < argc) {
			/* Concord's: attach to a lease (CONCORD.LEASE GRANT). */
			if (!arg_u64(&argv[++i], &p->expiry.lease) || p->expiry.lease == 0) {
				snprintf(b->err, sizeof(b->err),
				         "ERR lease id must be a positive integer");
				return -1;
			}
			p->expiry.mode = KV_EXPIRY_LEASE;
		} else if (arg_is(o, "GET") && !*get) {
			*get = true;
		} else {
			snprintf(b->err, sizeof(b->err), "ERR syntax error");
			return -1;
		}
	}
	return 0;
}

int build_set(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	b->cmd.op = KV_OP_SET;
	b->kind = REPLY_OK;
	bool get = false;
	if (set_options(argc, argv, b, &get) != 0)
		return -1;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	put_from(&b->cmd.put, &argv[1], &argv[2]);
	if (get) {
		struct kv_cmd set = b->cmd;
		with_get(b, &argv[1], &set);
	}
	return 0;
}

/* SETEX key seconds value, PSETEX key milliseconds value. */
int build_setex(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	bool ms = strncasecmp(argv[0].data, "PSETEX", argv[0].len) == 0;
	b->cmd.op = KV_OP_SET;
	b->kind = REPLY_OK;
	b->cmd.put.expiry.mode = KV_EXPIRY_IN;
	if (ttl_arg(&argv[2], ms ? 1 : 1000, true, false, ms ? "psetex" : "setex", b,
	            &b->cmd.put.expiry.ms) != 0)
		return -1;
	if (check_put(s, b, &argv[1], &argv[3]) != 0)
		return -1;
	put_from(&b->cmd.put, &argv[1], &argv[3]);
	return 0;
}

static int expire_flags(size_t argc, const struct resp_arg *argv, struct build *b)
{
	unsigned f = 0;
	for (size_t i = 3; i < argc; i++) {
		if (arg_is(&argv[i], "NX"))
			f |= KV_EXPIRE_NX;
		else if (arg_is(&argv[i], "XX"))
			f |= KV_EXPIRE_XX;
		else if (arg_is(&argv[i], "GT"))
			f |= KV_EXPIRE_GT;
		else if (arg_is(&argv[i], "LT"))
			f |= KV_EXPIRE_LT;
		else {
			char name[32];
			lower_name(&argv[i], name, sizeof(name));
			snprintf(b->err, sizeof(b->err), "ERR Unsupported option %s", name);
			return -1;
		}
	}
	if ((f & KV_EXPIRE_NX) && (f & (KV_EXPIRE_XX | KV_EXPIRE_GT | KV_EXPIRE_LT))) {
		snprintf(b->err, sizeof(b->err),
		         "ERR NX and XX, GT or LT options at the same time are not compatible");
		return -1;
	}
	if ((f & KV_EXPIRE_GT) && (f & KV_EXPIRE_LT)) {
		snprintf(b->err, sizeof(b->err),
		         "ERR GT and LT options at the same time are not compatible");
		return -1;
	}
	b->cmd.expire_flags = f;
	return 0;
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT]: 1 if set, 0 if not. */
int build_expire(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	char name[16];
	lower_name(&argv[0], name, sizeof(name));
	bool ms = name[0] == 'p';
	bool at = strstr(name, "at") != NULL;
	if (check_put(s, b, &argv[1], NULL) != 0)
		return -1;
	b->cmd.op = KV_OP_EXPIRE;
	b->kind = REPLY_INTEGER;
	put_from(&b->cmd.put, &argv[1], NULL);
	b->cmd.put.expiry.mode = at ? KV_EXPIRY_AT : KV_EXPIRY_IN;
	if (ttl_arg(&argv[2], ms ? 1 : 1000, !at, true, name, b, &b->cmd.put.expiry.ms) != 0)
		return -1;
	return expire_flags(argc, argv, b);
}

int build_persist(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], NULL) != 0)
		return -1;
	b->cmd.op = KV_OP_EXPIRE;
	b->kind = REPLY_INTEGER;
	put_from(&b->cmd.put, &argv[1], NULL); /* expiry CLEAR: PERSIST */
	return 0;
}

/* GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]: the value, its expiry changed. */
int build_getex(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	if (check_put(s, b, &argv[1], NULL) != 0)
		return -1;
	struct kv_cmd ex = {.op = KV_OP_EXPIRE};
	put_from(&ex.put, &argv[1], NULL);
	bool change = false;
	for (size_t i = 2; i < argc; i++) {
		int rv = change ? 0 : expiry_option(argc, argv, i, "getex", b, &ex.put.expiry);
		if (rv < 0)
			return -1;
		if (rv > 0) {
			change = true;
			i++;
		} else if (!change && arg_is(&argv[i], "PERSIST")) {
			change = true;
		} else {
			snprintf(b->err, sizeof(b->err), "ERR syntax error");
			return -1;
		}
	}
	with_get(b, &argv[1], change ? &ex : NULL);
	return 0;
}

int build_getdel(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], NULL) != 0)
		return -1;
	b->keys = xcalloc(1, sizeof(*b->keys));
	b->keys[0] = (struct kv_key){argv[1].data, argv[1].len};
	struct kv_cmd del = {.op = KV_OP_DEL, .n = 1, .keys = b->keys};
	with_get(b, &argv[1], &del);
	return 0;
}

int build_getset(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	struct kv_cmd set = {.op = KV_OP_SET};
	put_from(&set.put, &argv[1], &argv[2]);
	with_get(b, &argv[1], &set);
	return 0;
}

void resp_expire_render(struct wire_buf *out, const struct server *sv, int proto,
                        const struct kv_reply *reply)
{
	const struct kv_txn_result *t = reply->txn;
	if (t == NULL || t->n < 1) {
		reply_error(out, "ERR the command was applied before (a session retry); its reply "
		                 "is not kept");
		return;
	}
	if (t->n > 1 && t->items[1].code != KV_OK) {
		write_kv_error(out, sv, t->items[1].code, 0, 0);
		return;
	}
	const struct kv_txn_item *get = &t->items[0];
	if (get->code != KV_OK) {
		write_kv_error(out, sv, get->code, 0, 0);
		return;
	}
	if (get->n_values == 1 && get->values[0].present)
		resp_write_bulk(out, get->values[0].data, get->values[0].len);
	else
		resp_write_nil(out, proto);
}

/* TTL and PTTL: -2 absent, -1 no deadline, else the time left (TTL rounds to the
 * nearest second, as Redis does). */
void read_ttl(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
              struct wire_buf *out)
{
	(void)c;
	(void)argc;
	int64_t ms;
	if (kv_ttl(kv, argv[1].data, argv[1].len, &ms, NULL) != KV_OK ||
	    kv_key_reserved(argv[1].data, argv[1].len)) {
		resp_write_integer(out, -2);
		return;
	}
	bool pttl = argv[0].len > 0 && (argv[0].data[0] == 'p' || argv[0].data[0] == 'P');
	if (ms < 0)
		resp_write_integer(out, -1);
	else
		resp_write_integer(out, pttl ? ms : (ms + 500) / 1000);
}
