/* resp_range.c: CONCORD.RANGE and CONCORD.DELRANGE, etcd's range reads and range deletes over RESP
 * (docs/resp.md). */
#include "server/resp_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most keys one CONCORD.RANGE returns (and its default limit): page on with the last
 * key plus a zero byte. */
#define RANGE_LIMIT_MAX 10000u

struct range_args {
	struct kv_range r;
	unsigned char *end; /* a prefix's end (owned) */
	uint64_t limit, rev;
	bool keys_only, count_only, prev_kv;
};

/* key [END end | PREFIX | FROMKEY] then options; `delrange` admits PREVKV, the read the
 * others. Returns 0, or -1 with the error in err. */
static int range_parse(size_t argc, const struct resp_arg *argv, bool delrange,
                       struct range_args *a, char *err, size_t err_cap)
{
	*a = (struct range_args){.r = {argv[1].data, argv[1].len, NULL, 0}};
	bool have_end = false;
	for (size_t i = 2; i < argc; i++) {
		const struct resp_arg *o = &argv[i];
		bool more = i + 1 < argc;
		if (arg_is(o, "END") && more && !have_end) {
			a->r.end = argv[++i].data;
			a->r.end_len = argv[i].len;
			have_end = true;
			if (a->r.end_len == 0)
				a->r.end = NULL; /* empty: the key alone, as in etcd */
		} else if (arg_is(o, "FROMKEY") && !have_end) {
			a->r.end = "";
			a->r.end_len = 1; /* "\0": every key >= key */
			have_end = true;
		} else if (arg_is(o, "PREFIX") && !have_end) {
			a->end = xmalloc(argv[1].len > 0 ? argv[1].len : 1);
			a->r.end_len = kv_prefix_end(argv[1].data, argv[1].len, a->end);
			a->r.end = a->end;
			have_end = true;
		} else if (delrange && arg_is(o, "PREVKV")) {
			a->prev_kv = true;
		} else if (!delrange && arg_is(o, "LIMIT") && more) {
			if (!arg_u64(&argv[++i], &a->limit)) {
				snprintf(err, err_cap,
				         "ERR value is not an integer or out of range");
				return -1;
			}
		} else if (!delrange && arg_is(o, "REV") && more) {
			if (!arg_u64(&argv[++i], &a->rev)) {
				snprintf(err, err_cap,
				         "ERR value is not an integer or out of range");
				return -1;
			}
		} else if (!delrange && arg_is(o, "KEYSONLY")) {
			a->keys_only = true;
		} else if (!delrange && arg_is(o, "COUNTONLY")) {
			a->count_only = true;
		} else {
			snprintf(err, err_cap, "ERR syntax error");
			return -1;
		}
	}
	return 0;
}

int resp_range_bounds(size_t argc, const struct resp_arg *argv, bool delrange, struct kv_range *r,
                      unsigned char **owned)
{
	struct range_args a;
	char err[64];
	int rv = range_parse(argc, argv, delrange, &a, err, sizeof(err));
	*r = a.r;
	*owned = a.end;
	return rv;
}

struct range_out {
	struct wire_buf *kvs;
	bool keys_only;
	size_t n;
	const void *last;
	size_t last_len;
};

static int range_one(void *arg, const struct kv_value *v)
{
	struct range_out *ro = arg;
	resp_write_bulk(ro->kvs, v->key, v->key_len);
	if (!ro->keys_only)
		resp_write_bulk(ro->kvs, v->value, v->value_len);
	ro->n++;
	return 0;
}

/* CONCORD.RANGE key [END end | PREFIX | FROMKEY] [LIMIT n] [REV r] [KEYSONLY] [COUNTONLY]:
 * [revision, count, more, [key, value, ...]] (keys alone with KEYSONLY, [] with COUNTONLY). */
void read_range(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
                struct wire_buf *out)
{
	struct range_args a;
	char err[128];
	if (range_parse(argc, argv, false, &a, err, sizeof(err)) != 0) {
		reply_error(out, err);
		free(a.end);
		return;
	}
	struct kv_range_opts o = {.revision = a.rev, .skip_reserved = true};
	o.limit = a.limit == 0 || a.limit > RANGE_LIMIT_MAX ? RANGE_LIMIT_MAX : a.limit;
	struct wire_buf kvs;
	wire_buf_init(&kvs, c->s->sv->output_hard_bytes);
	struct range_out ro = {.kvs = &kvs, .keys_only = a.keys_only};
	uint64_t count = 0;
	bool more = false;
	int rv = kv_range_read(kv, &a.r, &o, a.count_only ? NULL : range_one, &ro, &count, &more);
	if (rv == KV_ECOMPACTED) {
		reply_errorf(
		    out, "ERR revision %" PRIu64 " is compacted (the oldest kept is %" PRIu64 ")",
		    a.rev, kv_compact_revision(kv));
	} else if (rv == KV_EFUTURE) {
		reply_errorf(
		    out, "ERR revision %" PRIu64 " is in the future (the store is at %" PRIu64 ")",
		    a.rev, kv_revision(kv));
	} else if (rv != 0) {
		write_kv_error(out, c->s->sv, rv, 0, 0);
	} else {
		resp_write_array(out, 4);
		resp_write_integer(out, (int64_t)(a.rev != 0 ? a.rev : kv_revision(kv)));
		resp_write_integer(out, (int64_t)count);
		resp_write_integer(out, more ? 1 : 0);
		resp_write_array(out, ro.n * (a.keys_only ? 1 : 2));
		wire_buf_append(out, kvs.data, kvs.len);
	}
	wire_buf_free(&kvs);
	free(a.end);
}

/* CONCORD.DELRANGE key [END end | PREFIX | FROMKEY] [PREVKV]: one revision for all. */
int build_delrange(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	struct range_args a;
	if (range_parse(argc, argv, true, &a, b->err, sizeof(b->err)) != 0) {
		free(a.end);
		return -1;
	}
	const struct kv_limits *lim = &s->sv->limits;
	if (a.r.key_len > lim->key_bytes_max || a.r.end_len > lim->key_bytes_max) {
		snprintf(b->err, sizeof(b->err), "ERR key too large (limit %u bytes)",
		         lim->key_bytes_max);
		free(a.end);
		return -1;
	}
	b->cmd.op = KV_OP_DELRANGE;
	b->cmd.put.key = a.r.key;
	b->cmd.put.key_len = a.r.key_len;
	b->scratch = a.end; /* the prefix's end must outlive this call */
	b->cmd.range_end = a.r.end;
	b->cmd.range_end_len = a.r.end_len;
	b->cmd.prev_kv = a.prev_kv;
	b->kind = a.prev_kv ? REPLY_DELRANGE : REPLY_INTEGER;
	return 0;
}

/* The reply of a committed CONCORD.DELRANGE. */
void resp_delrange_render(struct wire_buf *out, const struct kv_reply *r, int proto)
{
	resp_write_array(out, 2);
	resp_write_integer(out, r->integer);
	if (r->prev_kvs == NULL && r->integer > 0) {
		resp_write_nil(out, proto); /* a retry: the values are not kept */
		return;
	}
	resp_write_array(out, 2 * r->n_prev_kvs);
	for (size_t i = 0; i < r->n_prev_kvs; i++) {
		resp_write_bulk(out, r->prev_kvs[i].key, r->prev_kvs[i].key_len);
		resp_write_bulk(out, r->prev_kvs[i].value, r->prev_kvs[i].value_len);
	}
}
