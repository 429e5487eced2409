/* resp_etxn.c: CONCORD.TXN, etcd's transaction over RESP (what concordctl txn sends): compares,
 * then the success or the failure list of PUT, GET and DEL, as one KV_OP_TXN (docs/resp.md). */
#include "server/resp_impl.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * CONCORD.TXN ncompares [key target op operand]... nsuccess [request]... nfailure [request]...
 *   target: VALUE | VERSION | CREATE | MOD; op: = | != | < | >; operand: the value, or a
 *   decimal number for the others.
 *   request: PUT key value | GET key end | DEL key end | DELPREV key end (prev_kv), end with etcd's
 * rules ("" the key alone, "\0" every key >= key, else [key, end)).
 */

static int word(const struct resp_arg *a, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (arg_is(a, names[i]))
			return (int)i;
	return -1;
}

static bool compare_parse(const struct resp_arg *a, struct kv_compare *c)
{
	static const char *const targets[] = {"VALUE", "VERSION", "CREATE", "MOD"};
	static const char *const ops[] = {"=", "!=", "<", ">"};
	int t = word(&a[1], targets, 4), o = word(&a[2], ops, 4);
	if (t < 0 || o < 0)
		return false;
	*c = (struct kv_compare){.key = a[0].data,
	                         .key_len = a[0].len,
	                         .target = (enum kv_cmp_target)t,
	                         .result = (enum kv_cmp_result)o};
	if (t == KV_CMP_VALUE) {
		c->value = a[3].data;
		c->value_len = a[3].len;
		return true;
	}
	return arg_i64(&a[3], &c->number);
}

/* One request at argv[*i]; advances *i past it. */
static bool request_parse(size_t argc, const struct resp_arg *argv, size_t *i, struct kv_cmd *op)
{
	static const char *const kinds[] = {"PUT", "GET", "DEL", "DELPREV"};
	if (*i + 3 > argc)
		return false;
	int k = word(&argv[*i], kinds, 4);
	if (k < 0)
		return false;
	const struct resp_arg *a = &argv[*i + 1];
	*op = (struct kv_cmd){.op = k == 0   ? KV_OP_SET
	                            : k == 1 ? KV_OP_RANGE
	                                     : KV_OP_DELRANGE,
	                      .put = {.key = a[0].data, .key_len = a[0].len}};
	if (k == 0) {
		op->put.value = a[1].data;
		op->put.value_len = a[1].len;
	} else {
		op->range_end = a[1].data;
		op->range_end_len = a[1].len;
		op->prev_kv = k == 3; /* DELPREV: the reply lists what went */
	}
	*i += 3;
	return true;
}

/* A count argument at argv[*i] within `max`; advances past it. */
static bool count_parse(size_t argc, const struct resp_arg *argv, size_t *i, size_t max, size_t *n)
{
	uint64_t x;
	if (*i >= argc || !arg_u64(&argv[*i], &x) || x > max)
		return false;
	*n = (size_t)x;
	(*i)++;
	return true;
}

int build_etxn(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	size_t i = 1, nc, ns, nf;
	size_t max = argc; /* no list can be longer than the arguments */
	bool ok = count_parse(argc, argv, &i, max, &nc) && i + 4 * nc <= argc;
	struct kv_compare *cmps = NULL;
	struct kv_cmd *ops = NULL;
	if (ok) {
		/* One allocation for both, freed with the build. */
		size_t head = (nc * sizeof(*cmps) + 15) / 16 * 16;
		b->scratch = xcalloc(1, head + argc * sizeof(*ops));
		cmps = b->scratch;
		ops = (struct kv_cmd *)(void *)((char *)b->scratch + head);
		for (size_t k = 0; ok && k < nc; k++, i += 4)
			ok = compare_parse(&argv[i], &cmps[k]);
	}
	ok = ok && count_parse(argc, argv, &i, max, &ns);
	for (size_t k = 0; ok && k < ns; k++)
		ok = request_parse(argc, argv, &i, &ops[k]);
	ok = ok && count_parse(argc, argv, &i, max, &nf);
	for (size_t k = 0; ok && k < nf; k++)
		ok = request_parse(argc, argv, &i, &ops[ns + k]);
	if (!ok || i != argc) {
		snprintf(b->err, sizeof(b->err),
		         "ERR syntax error: CONCORD.TXN ncompares [key VALUE|VERSION|CREATE|MOD "
		         "=|!=|<|> operand]... nsuccess [PUT key value|GET key end|DEL key "
		         "end|DELPREV key end]... "
		         "nfailure [...]...");
		return -1;
	}
	(void)s;
	b->cmd = (struct kv_cmd){.op = KV_OP_TXN,
	                         .n_compares = nc,
	                         .compares = cmps,
	                         .n_ops = ns,
	                         .ops = ops,
	                         .n_else = nf,
	                         .else_ops = ops + ns};
	b->kind = REPLY_ETXN;
	return 0;
}

static void item_render(struct wire_buf *out, const struct server *sv, const struct kv_txn_item *it)
{
	if (it->code != KV_OK) {
		write_kv_error(out, sv, it->code, 0, 0);
	} else if (it->op == KV_OP_SET) {
		resp_write_ok(out);
	} else if (it->op == KV_OP_DELRANGE && !it->prev_kv) {
		resp_write_integer(out, it->integer);
	} else {
		resp_write_array(out, 2);
		resp_write_integer(out, it->integer);
		resp_write_array(out, 2 * it->n_kvs);
		for (size_t i = 0; i < it->n_kvs; i++) {
			resp_write_bulk(out, it->kvs[i].key, it->kvs[i].key_len);
			resp_write_bulk(out, it->kvs[i].value, it->kvs[i].value_len);
		}
	}
}

void resp_etxn_render(struct wire_buf *out, const struct server *sv, const struct kv_reply *r,
                      int proto)
{
	(void)proto;
	resp_write_array(out, 3);
	resp_write_integer(out, r->succeeded ? 1 : 0);
	resp_write_integer(out, (int64_t)r->revision);
	if (r->txn == NULL) {
		resp_write_nil(out, proto); /* a session retry: the outcomes are not kept */
		return;
	}
	resp_write_array(out, r->txn->n);
	for (size_t i = 0; i < r->txn->n; i++)
		item_render(out, sv, &r->txn->items[i]);
}
