/* resp_lease.c: leases over RESP, a Concord extension (CONCORD.LEASE GRANT|KEEPALIVE|REVOKE as
 * writes, CONCORD.LEASES TTL|INFO|KEYS|LIST as reads); SET key value LEASE id attaches a key. */
#include "server/resp_impl.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

/* The lease commands' upper bounds on what one reply lists. */
#define LEASE_LIST_MAX 10000u

static int lease_id_arg(const struct resp_arg *a, struct build *b, uint64_t *id)
{
	if (!arg_u64(a, id) || *id == 0) {
		snprintf(b->err, sizeof(b->err), "ERR lease id must be a positive integer");
		return -1;
	}
	return 0;
}

/* CONCORD.LEASE GRANT ttl-ms [id] -> :id; KEEPALIVE id -> :ttl-ms; REVOKE id -> :keys. */
int build_lease(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)s;
	b->kind = REPLY_INTEGER;
	if (arg_is(&argv[1], "GRANT") && (argc == 3 || argc == 4)) {
		int64_t ms;
		if (!arg_i64(&argv[2], &ms) || ms < 1 || ms > KV_TTL_MS_LIMIT) {
			snprintf(b->err, sizeof(b->err), "ERR invalid lease TTL (1 ms and up)");
			return -1;
		}
		b->cmd = (struct kv_cmd){.op = KV_OP_LEASE_GRANT, .lease_ttl_ms = ms};
		return argc == 4 ? lease_id_arg(&argv[3], b, &b->cmd.lease) : 0;
	}
	if ((arg_is(&argv[1], "KEEPALIVE") || arg_is(&argv[1], "REVOKE")) && argc == 3) {
		b->cmd.op = arg_is(&argv[1], "REVOKE") ? KV_OP_LEASE_REVOKE : KV_OP_LEASE_KEEPALIVE;
		return lease_id_arg(&argv[2], b, &b->cmd.lease);
	}
	snprintf(b->err, sizeof(b->err),
	         "ERR usage: CONCORD.LEASE GRANT ttl-ms [id] | KEEPALIVE id | REVOKE id");
	return -1;
}

static void list_id(void *arg, const struct kv_lease_info *l)
{
	struct wire_buf *ids = arg;
	wire_buf_append(ids, &l->id, sizeof(l->id));
}

struct lease_keys {
	struct wire_buf *out;
	size_t n;
};

static int key_out(void *arg, const struct kv_value *v)
{
	struct lease_keys *k = arg;
	resp_write_bulk(k->out, v->key, v->key_len);
	return ++k->n >= LEASE_LIST_MAX;
}

static void leases_list(const struct kv *kv, struct wire_buf *out)
{
	struct wire_buf ids;
	wire_buf_init(&ids, LEASE_LIST_MAX * sizeof(uint64_t));
	kv_lease_list(kv, 0, LEASE_LIST_MAX, list_id, &ids, NULL);
	size_t n = ids.len / sizeof(uint64_t);
	resp_write_array(out, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t id;
		memcpy(&id, ids.data + i * sizeof(id), sizeof(id));
		resp_write_integer(out, (int64_t)id);
	}
	wire_buf_free(&ids);
}

/* CONCORD.LEASES TTL id -> :ms left (-2: none); INFO id -> [id, ttl-ms, ms left, keys]
 * or null; KEYS id -> its keys (at most LEASE_LIST_MAX); LIST -> live ids, ascending. */
void read_leases(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
                 struct wire_buf *out)
{
	uint64_t id = 0;
	bool with_id = argc == 3 && arg_u64(&argv[2], &id) && id != 0;
	struct kv_lease_info li;
	bool live = with_id && kv_lease_get(kv, id, &li) == KV_OK;
	if (arg_is(&argv[1], "LIST") && argc == 2) {
		leases_list(kv, out);
	} else if (arg_is(&argv[1], "TTL") && with_id) {
		resp_write_integer(out, live ? li.remaining_ms : -2);
	} else if (arg_is(&argv[1], "INFO") && with_id) {
		if (!live) {
			resp_write_nil(out, c->proto);
			return;
		}
		resp_write_array(out, 4);
		resp_write_integer(out, (int64_t)li.id);
		resp_write_integer(out, li.ttl_ms);
		resp_write_integer(out, li.remaining_ms);
		resp_write_integer(out, (int64_t)li.keys);
	} else if (arg_is(&argv[1], "KEYS") && with_id) {
		struct wire_buf keys;
		wire_buf_init(&keys, c->s->sv->output_hard_bytes);
		struct lease_keys k = {&keys, 0};
		if (live)
			kv_lease_keys(kv, id, key_out, &k);
		resp_write_array(out, k.n);
		if (keys.len > 0)
			wire_buf_append(out, keys.data, keys.len);
		wire_buf_free(&keys);
	} else {
		reply_error(out, "ERR usage: CONCORD.LEASES TTL id | INFO id | KEYS id | LIST");
	}
}
