/* resp_string.c: the RESP string and key commands: the writes they build and the reads they serve
 * (GET, SET, DEL, INCR, MGET, SCAN...). */
#include "server/resp_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks a key and value against the limits before proposing, for a precise error. */
int check_put(struct resp_server *s, struct build *b, const struct resp_arg *key,
              const struct resp_arg *value)
{
	const struct kv_limits *lim = &s->sv->limits;
	if (key->len > lim->key_bytes_max) {
		snprintf(b->err, sizeof(b->err), "ERR key too large (limit %u bytes)",
		         lim->key_bytes_max);
		return -1;
	}
	if (value != NULL && value->len > lim->value_bytes_max) {
		snprintf(b->err, sizeof(b->err), "ERR value too large (limit %u bytes)",
		         lim->value_bytes_max);
		return -1;
	}
	if (kv_key_reserved(key->data, key->len)) {
		snprintf(b->err, sizeof(b->err),
		         "ERR keys starting with \\x00concord/ are reserved");
		return -1;
	}
	return 0;
}

static int check_count(struct resp_server *s, struct build *b, size_t n)
{
	if (n > s->sv->limits.keys_per_cmd_max) {
		snprintf(b->err, sizeof(b->err), "ERR too many keys (limit %u)",
		         s->sv->limits.keys_per_cmd_max);
		return -1;
	}
	return 0;
}

void put_from(struct kv_put *p, const struct resp_arg *key, const struct resp_arg *value)
{
	p->key = key->data;
	p->key_len = key->len;
	if (value != NULL) {
		p->value = value->data;
		p->value_len = value->len;
	}
}

int build_setnx(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_SET;
	b->kind = REPLY_BOOL;
	put_from(&b->cmd.put, &argv[1], &argv[2]);
	b->cmd.put.cond.kind = KV_COND_ABSENT;
	return 0;
}

int build_del(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	size_t n = argc - 1;
	if (check_count(s, b, n) != 0)
		return -1;
	b->keys = xmalloc(n * sizeof(*b->keys));
	for (size_t i = 0; i < n; i++) {
		if (check_put(s, b, &argv[i + 1], NULL) != 0)
			return -1;
		b->keys[i] = (struct kv_key){.data = argv[i + 1].data, .len = argv[i + 1].len};
	}
	b->cmd.op = KV_OP_DEL;
	b->cmd.n = n;
	b->cmd.keys = b->keys;
	b->kind = REPLY_INTEGER;
	return 0;
}

static int build_incr_common(struct resp_server *s, const struct resp_arg *key, int64_t delta,
                             struct build *b)
{
	if (check_put(s, b, key, NULL) != 0)
		return -1;
	b->cmd.op = KV_OP_INCRBY;
	b->cmd.delta = delta;
	put_from(&b->cmd.put, key, NULL);
	b->kind = REPLY_INTEGER;
	return 0;
}

int build_incr(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	return build_incr_common(s, &argv[1], 1, b);
}

int build_decr(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	return build_incr_common(s, &argv[1], -1, b);
}

int build_incrby(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	int64_t d;
	if (!arg_i64(&argv[2], &d)) {
		snprintf(b->err, sizeof(b->err), "ERR value is not an integer or out of range");
		return -1;
	}
	return build_incr_common(s, &argv[1], d, b);
}

int build_decrby(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	int64_t d;
	if (!arg_i64(&argv[2], &d)) {
		snprintf(b->err, sizeof(b->err), "ERR value is not an integer or out of range");
		return -1;
	}
	if (d == INT64_MIN) {
		snprintf(b->err, sizeof(b->err), "ERR decrement would overflow");
		return -1;
	}
	return build_incr_common(s, &argv[1], -d, b);
}

int build_append(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_APPEND;
	put_from(&b->cmd.put, &argv[1], &argv[2]);
	b->kind = REPLY_INTEGER;
	return 0;
}

static int build_mset_common(struct resp_server *s, size_t argc, const struct resp_arg *argv,
                             struct build *b, bool nx)
{
	if (argc % 2 != 1) {
		char lname[16];
		lower_name(&argv[0], lname, sizeof(lname));
		snprintf(b->err, sizeof(b->err), "ERR wrong number of arguments for '%s' command",
		         lname);
		return -1;
	}
	size_t n = (argc - 1) / 2;
	if (check_count(s, b, n) != 0)
		return -1;
	b->puts = xcalloc(n, sizeof(*b->puts));
	for (size_t i = 0; i < n; i++) {
		const struct resp_arg *k = &argv[1 + 2 * i], *v = &argv[2 + 2 * i];
		if (check_put(s, b, k, v) != 0)
			return -1;
		put_from(&b->puts[i], k, v);
		if (nx)
			b->puts[i].cond.kind = KV_COND_ABSENT;
	}
	b->cmd.op = KV_OP_MSET;
	b->cmd.n = n;
	b->cmd.puts = b->puts;
	b->kind = nx ? REPLY_BOOL : REPLY_OK;
	return 0;
}

int build_mset(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	return build_mset_common(s, argc, argv, b, false);
}

int build_msetnx(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	return build_mset_common(s, argc, argv, b, true);
}

int build_cas(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[3]) != 0 || check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_CAS;
	put_from(&b->cmd.put, &argv[1], &argv[3]);
	b->cmd.put.cond = (struct kv_cond){
	    .kind = KV_COND_VALUE, .value = argv[2].data, .value_len = argv[2].len};
	b->kind = REPLY_BOOL;
	return 0;
}

int build_cas_rev(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	uint64_t rev;
	if (!arg_u64(&argv[2], &rev)) {
		snprintf(b->err, sizeof(b->err), "ERR value is not an integer or out of range");
		return -1;
	}
	if (check_put(s, b, &argv[1], &argv[3]) != 0)
		return -1;
	b->cmd.op = KV_OP_CAS;
	put_from(&b->cmd.put, &argv[1], &argv[3]);
	b->cmd.put.cond = (struct kv_cond){.kind = KV_COND_MOD_REVISION, .mod_revision = rev};
	b->kind = REPLY_BOOL;
	return 0;
}

int build_cas_del(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)argc;
	if (check_put(s, b, &argv[1], &argv[2]) != 0)
		return -1;
	b->cmd.op = KV_OP_CAS;
	b->cmd.cas_delete = true;
	put_from(&b->cmd.put, &argv[1], NULL);
	b->cmd.put.cond = (struct kv_cond){
	    .kind = KV_COND_VALUE, .value = argv[2].data, .value_len = argv[2].len};
	b->kind = REPLY_BOOL;
	return 0;
}

int build_session(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)s;
	if (argc == 1) {
		b->cmd.op = KV_OP_SESSION_OPEN;
		b->kind = REPLY_CLIENT_ID;
		return 0;
	}
	uint64_t id;
	if (argc != 3 || !arg_u64(&argv[2], &id) || id == 0) {
		snprintf(b->err, sizeof(b->err),
		         "ERR usage: CONCORD.SESSION | CONCORD.SESSION CLOSE id | CONCORD.SESSION "
		         "KEEPALIVE id");
		return -1;
	}
	if (arg_is(&argv[1], "CLOSE")) {
		b->cmd.op = KV_OP_SESSION_CLOSE;
	} else if (arg_is(&argv[1], "KEEPALIVE")) {
		b->cmd.op = KV_OP_SESSION_KEEPALIVE;
	} else {
		snprintf(b->err, sizeof(b->err), "ERR syntax error");
		return -1;
	}
	b->cmd.client_id = id;
	b->kind = REPLY_OK;
	return 0;
}

/* =================================================================================
 * Reads
 */

void read_get(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
              struct wire_buf *out)
{
	(void)argc;
	struct kv_value v;
	int rv = kv_get(kv, argv[1].data, argv[1].len, 0, &v);
	if (rv == 0)
		resp_write_bulk(out, v.value, v.value_len);
	else
		resp_write_nil(out, c->proto);
}

void read_strlen(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
                 struct wire_buf *out)
{
	(void)c;
	(void)argc;
	struct kv_value v;
	int rv = kv_get(kv, argv[1].data, argv[1].len, 0, &v);
	resp_write_integer(out, rv == 0 ? (int64_t)v.value_len : 0);
}

void read_exists(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
                 struct wire_buf *out)
{
	(void)c;
	int64_t n = 0;
	for (size_t i = 1; i < argc; i++)
		n += kv_exists(kv, argv[i].data, argv[i].len) ? 1 : 0;
	resp_write_integer(out, n);
}

void read_type(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
               struct wire_buf *out)
{
	(void)c;
	(void)argc;
	bool e = kv_exists(kv, argv[1].data, argv[1].len);
	resp_write_simple(out, e ? "string" : "none", e ? 6 : 4);
}

void read_mget(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
               struct wire_buf *out)
{
	size_t n = argc - 1;
	const struct server *sv = c->s->sv;
	if (n > sv->limits.keys_per_cmd_max) {
		reply_errorf(out, "ERR too many keys (limit %u)", sv->limits.keys_per_cmd_max);
		return;
	}
	struct kv_key *keys = xcalloc(n, sizeof(*keys));
	struct kv_value *vals = xcalloc(n, sizeof(*vals));
	bool too_big = false;
	for (size_t i = 0; i < n; i++) {
		keys[i] = (struct kv_key){.data = argv[i + 1].data, .len = argv[i + 1].len};
		too_big = too_big || argv[i + 1].len > sv->limits.key_bytes_max;
	}
	int rv = too_big ? KV_EKEYTOOBIG : kv_mget(kv, n, keys, 0, vals);
	if (rv != 0) {
		write_kv_error(out, sv, rv, 0, 0);
	} else {
		resp_write_array(out, n);
		for (size_t i = 0; i < n; i++) {
			if (vals[i].mod_revision == 0)
				resp_write_nil(out, c->proto);
			else
				resp_write_bulk(out, vals[i].value, vals[i].value_len);
		}
	}
	free(keys);
	free(vals);
}

void read_concord_get(struct rconn *c, const struct kv *kv, size_t argc,
                      const struct resp_arg *argv, struct wire_buf *out)
{
	uint64_t rev = 0;
	if (argc == 4) {
		if (!arg_is(&argv[2], "REV")) {
			reply_syntax(out);
			return;
		}
		if (!arg_u64(&argv[3], &rev)) {
			reply_not_int(out);
			return;
		}
	} else if (argc != 2) {
		reply_syntax(out);
		return;
	}
	struct kv_value v;
	int rv = kv_get(kv, argv[1].data, argv[1].len, rev, &v);
	if (rv == KV_ENOTFOUND) {
		resp_write_nil(out, c->proto);
	} else if (rv == KV_ECOMPACTED) {
		reply_errorf(
		    out, "COMPACTED revision %" PRIu64 " is compacted; oldest readable is %" PRIu64,
		    rev, kv_compact_revision(kv));
	} else if (rv == KV_EFUTURE) {
		reply_errorf(
		    out, "ERR revision %" PRIu64 " is in the future (the store is at %" PRIu64 ")",
		    rev, kv_revision(kv));
	} else if (rv != 0) {
		write_kv_error(out, c->s->sv, rv, 0, 0);
	} else {
		resp_write_array(out, 4);
		resp_write_bulk(out, v.value, v.value_len);
		resp_write_integer(out, (int64_t)v.create_revision);
		resp_write_integer(out, (int64_t)v.mod_revision);
		resp_write_integer(out, (int64_t)v.version);
	}
}

/* A glob (resp_glob.c) and the literal prefix that bounds the keys it can match. */
struct glob {
	const char *pat; /* NULL: every key */
	size_t plen;
	char *prefix; /* owned */
	size_t prefix_len;
};

static void glob_init(struct glob *g, const struct resp_arg *p)
{
	g->pat = p->data;
	g->plen = p->len;
	g->prefix = xmalloc(p->len > 0 ? p->len : 1);
	g->prefix_len = resp_glob_prefix(p->data, p->len, g->prefix);
	if (p->len == 1 && p->data[0] == '*')
		g->pat = NULL; /* "*": no need to match */
}

/* The keys SCAN or KEYS returns, and where the walk stopped. `max` bounds the keys
 * examined (SCAN's COUNT: Redis's unit of work, so a page may hold fewer matches). */
struct scan_collect {
	struct wire_buf keys; /* the keys as bulk replies */
	const struct glob *g;
	size_t count;    /* keys matched */
	size_t examined; /* keys looked at */
	size_t max;
	const char *last; /* the last key examined */
	size_t last_len;
	bool over;
};

static int scan_collect_key(void *arg, const struct kv_value *v)
{
	struct scan_collect *sc = arg;
	if (kv_key_reserved(v->key, v->key_len))
		return 0;
	if (sc->examined == sc->max) {
		sc->over = true;
		return 1;
	}
	sc->examined++;
	sc->last = v->key;
	sc->last_len = v->key_len;
	if (sc->g->pat != NULL && !resp_glob_match(sc->g->pat, sc->g->plen, v->key, v->key_len))
		return 0;
	resp_write_bulk(&sc->keys, v->key, v->key_len);
	sc->count++;
	return 0;
}

/* KEYS pattern: every matching key, refused past 10000 keys examined (use SCAN). */
void read_keys(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
               struct wire_buf *out)
{
	(void)argc;
	struct glob g;
	glob_init(&g, &argv[1]);
	struct scan_collect sc = {.g = &g, .max = 10000};
	wire_buf_init(&sc.keys, c->s->sv->output_hard_bytes);
	bool more = false;
	int rv = kv_scan(kv, g.prefix, g.prefix_len, NULL, 0, 10001 + 2 * NODE_MAX_MEMBERS, 0,
	                 scan_collect_key, &sc, &more);
	if (rv != 0)
		write_kv_error(out, c->s->sv, rv, 0, 0);
	else if (sc.over)
		reply_error(out, "ERR too many keys; use SCAN");
	else {
		resp_write_array(out, sc.count);
		wire_buf_append(out, sc.keys.data, sc.keys.len);
	}
	wire_buf_free(&sc.keys);
	free(g.prefix);
}

static struct scan_cursor *cursor_find(struct rconn *c, uint64_t id)
{
	for (int i = 0; i < SCAN_CURSORS; i++)
		if (c->cursors[i].id == id)
			return &c->cursors[i];
	return NULL;
}

static struct scan_cursor *cursor_new(struct rconn *c)
{
	struct scan_cursor *victim = &c->cursors[0];
	for (int i = 0; i < SCAN_CURSORS; i++) {
		if (c->cursors[i].id == 0) {
			victim = &c->cursors[i];
			break;
		}
		if (c->cursors[i].used < victim->used)
			victim = &c->cursors[i];
	}
	free(victim->start);
	memset(victim, 0, sizeof(*victim));
	victim->id = ++c->next_cursor;
	return victim;
}

struct scan_options {
	struct glob g;
	uint64_t count;
};

/* SCAN's MATCH, COUNT and TYPE, in any order and repeated as Redis takes them (the last
 * wins); false after the reply (an error, or the empty answer for a type other than
 * string). */
static bool scan_options(size_t argc, const struct resp_arg *argv, struct scan_options *o,
                         struct wire_buf *out)
{
	static const struct resp_arg all = {.data = "*", .len = 1};
	o->count = 10;
	glob_init(&o->g, &all);
	for (size_t i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			reply_syntax(out);
			return false;
		}
		if (arg_is(&argv[i], "MATCH")) {
			free(o->g.prefix);
			glob_init(&o->g, &argv[i + 1]);
		} else if (arg_is(&argv[i], "COUNT")) {
			int64_t n;
			if (!arg_i64(&argv[i + 1], &n)) {
				reply_not_int(out);
				return false;
			}
			if (n < 1) {
				reply_syntax(out);
				return false;
			}
			o->count = (uint64_t)n > 1000 ? 1000 : (uint64_t)n;
		} else if (arg_is(&argv[i], "TYPE")) {
			if (!arg_is(&argv[i + 1], "string")) {
				resp_write_array(out, 2);
				resp_write_bulk(out, "0", 1);
				resp_write_array(out, 0);
				return false;
			}
		} else {
			reply_syntax(out);
			return false;
		}
	}
	return true;
}

/* Keeps the cursor's place after the last key examined; returns the cursor to answer. */
static uint64_t cursor_keep(struct rconn *c, struct scan_cursor *cur, const struct scan_collect *sc,
                            bool more)
{
	if (sc->over || (more && sc->examined > 0)) {
		if (cur == NULL)
			cur = cursor_new(c);
		char *start = xmalloc(sc->last_len + 1);
		memcpy(start, sc->last, sc->last_len);
		start[sc->last_len] = '\0';
		free(cur->start);
		cur->start = start;
		cur->start_len = sc->last_len + 1;
		cur->used = ++c->cursor_clock;
		return cur->id;
	}
	if (cur != NULL) {
		free(cur->start);
		memset(cur, 0, sizeof(*cur));
	}
	return 0;
}

void read_scan(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
               struct wire_buf *out)
{
	uint64_t cursor;
	if (!arg_u64(&argv[1], &cursor)) {
		reply_error(out, "ERR invalid cursor");
		return;
	}
	struct scan_options o;
	bool ok = scan_options(argc, argv, &o, out);
	struct scan_cursor *cur = NULL;
	if (ok && cursor != 0) {
		cur = cursor_find(c, cursor);
		if (cur == NULL) {
			reply_error(out, "ERR invalid cursor");
			ok = false;
		}
	}
	if (!ok) {
		free(o.g.prefix);
		return;
	}
	struct scan_collect sc = {.g = &o.g, .max = o.count};
	wire_buf_init(&sc.keys, c->s->sv->output_hard_bytes);
	bool more = false;
	int rv = kv_scan(kv, o.g.prefix, o.g.prefix_len, cur != NULL ? cur->start : NULL,
	                 cur != NULL ? cur->start_len : 0, o.count + 2 * NODE_MAX_MEMBERS, 0,
	                 scan_collect_key, &sc, &more);
	if (rv != 0) {
		write_kv_error(out, c->s->sv, rv, 0, 0);
	} else {
		uint64_t next = cursor_keep(c, cur, &sc, more);
		char nbuf[24];
		int nlen = snprintf(nbuf, sizeof(nbuf), "%" PRIu64, next);
		resp_write_array(out, 2);
		resp_write_bulk(out, nbuf, (size_t)nlen);
		resp_write_array(out, sc.count);
		wire_buf_append(out, sc.keys.data, sc.keys.len);
	}
	wire_buf_free(&sc.keys);
	free(o.g.prefix);
}

static int count_reserved(void *arg, const struct kv_value *v)
{
	(void)v;
	(*(uint64_t *)arg)++;
	return 0;
}

uint64_t resp_user_keys(const struct kv *kv)
{
	struct kv_stats st;
	kv_stats(kv, &st);
	uint64_t reserved = 0;
	kv_scan(kv, KV_RESERVED_PREFIX, KV_RESERVED_PREFIX_LEN, NULL, 0, 4 * NODE_MAX_MEMBERS, 0,
	        count_reserved, &reserved, NULL);
	return st.keys >= reserved ? st.keys - reserved : 0;
}

void read_dbsize(struct rconn *c, const struct kv *kv, size_t argc, const struct resp_arg *argv,
                 struct wire_buf *out)
{
	(void)c;
	(void)argc;
	(void)argv;
	resp_write_integer(out, (int64_t)resp_user_keys(kv));
}
