/* resp_auth.c: auth on the RESP port: AUTH and HELLO AUTH verified off the loop, ACL WHOAMI and
 * friends, the CONCORD.USER/ROLE/AUTH writes, and the check of who may run which command. */
#include "server/resp_impl.h"
#include "base/alloc.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* =================================================================================
 * AUTH and HELLO AUTH
 */

struct auth_job {
	struct rconn *c;
	struct slot *sl;
	bool hello;
	int ver;
	char *name; /* HELLO's SETNAME, or NULL */
	char *pw;
	size_t pw_len;
};

static char *copy_arg(const struct resp_arg *a)
{
	char *s = xmalloc(a->len + 1);
	memcpy(s, a->data, a->len);
	s[a->len] = '\0';
	return s;
}

static void job_free(struct auth_job *j)
{
	if (j->pw != NULL)
		OPENSSL_cleanse(j->pw, j->pw_len);
	free(j->pw);
	free(j->name);
	free(j);
}

/* The connection is now `u` (NULL: the default user of a node without auth). */
static void auth_succeeded(struct auth_job *j, const struct auth_user *u)
{
	struct rconn *c = j->c;
	c->auth_failures = 0;
	c->authed = u != NULL;
	if (u != NULL) {
		snprintf(c->user, sizeof(c->user), "%s", u->name);
		memcpy(c->user_hash, u->hash, AUTH_HASH_BYTES);
		if (c->relay_pw != NULL)
			OPENSSL_cleanse(c->relay_pw, c->relay_pw_len);
		free(c->relay_pw);
		c->relay_pw = j->pw;
		c->relay_pw_len = j->pw_len;
		j->pw = NULL;
	}
	/* Commands relayed from now on go as the new user: a new relay authenticates. */
	if (c->relay != NULL)
		resp_relay_reset(c);
	if (!j->hello) {
		resp_write_ok(&j->sl->out);
		return;
	}
	if (j->name != NULL) {
		free(c->name);
		c->name = j->name;
		j->name = NULL;
	}
	c->proto = (uint8_t)j->ver;
	j->sl->proto = c->proto;
	resp_hello_reply(c, &j->sl->out);
}

static void auth_finish(struct auth_job *j, bool ok, const struct auth_user *u)
{
	struct rconn *c = j->c;
	struct slot *sl = j->sl;
	c->auth_busy = false;
	if (!sl->orphan) {
		if (ok) {
			auth_succeeded(j, u);
		} else {
			c->auth_failures++;
			reply_error(&sl->out, "WRONGPASS invalid username-password pair or user is "
			                      "disabled.");
			if (c->auth_failures >= AUTH_FAILURES_MAX)
				c->quit = true; /* rate limit: the connection closes */
		}
	}
	job_free(j);
	slot_finish(sl);
}

static void on_verified(void *arg, bool ok, const struct auth_user *u)
{
	auth_finish(arg, ok, u);
}

/* AUTH as the members' own identity: another member of the cluster, for its own
 * requests; a token, no KDF. */
static void member_auth(struct auth_job *j, const struct kv *kv, const char *uname, size_t ulen,
                        const struct resp_arg *pw)
{
	struct rconn *c = j->c;
	struct server *sv = c->s->sv;
	if (j->hello || !auth_member_check(kv, uname, ulen, pw->data, pw->len)) {
		sv->auth.failures++;
		auth_finish(j, false, NULL);
		return;
	}
	c->member = true;
	c->authed = false;
	c->auth_failures = 0;
	sv->auth.successes++;
	resp_write_ok(&j->sl->out);
	struct slot *sl = j->sl;
	job_free(j);
	slot_finish(sl);
}

void resp_auth_start(struct rconn *c, const struct resp_arg *user, const struct resp_arg *pw,
                     bool hello, int ver, const struct resp_arg *name)
{
	struct server *sv = c->s->sv;
	const char *uname = user != NULL ? user->data : "default";
	size_t ulen = user != NULL ? user->len : 7;
	struct auth_job *j = xcalloc(1, sizeof(*j));
	j->c = c;
	j->sl = slot_new(c);
	j->hello = hello;
	j->ver = ver;
	j->name = name != NULL && name->len > 0 ? copy_arg(name) : NULL;
	j->pw = copy_arg(pw);
	j->pw_len = pw->len;
	const struct kv *kv = node_kv(sv->node);
	if (ulen == AUTH_MEMBER_USER_LEN && memcmp(uname, AUTH_MEMBER_USER, ulen) == 0) {
		member_auth(j, kv, uname, ulen, pw);
		return;
	}
	c->member = false;
	struct auth_user u;
	bool is_default = ulen == 7 && memcmp(uname, "default", 7) == 0;
	if (!auth_enabled(kv) && is_default && auth_user_get(kv, uname, ulen, &u) != 0) {
		/* No auth and no such user: Redis without requirepass. */
		if (user != NULL) {
			auth_finish(j, true, NULL);
			return;
		}
		reply_error(&j->sl->out, "ERR AUTH <password> called without any password "
		                         "configured for the default user. Are you sure your "
		                         "configuration is correct?");
		struct slot *sl = j->sl;
		job_free(j);
		slot_finish(sl);
		return;
	}
	switch (auth_verify(sv, uname, ulen, pw->data, pw->len, &u, on_verified, j)) {
	case AUTH_VERIFY_OK:
		auth_finish(j, true, &u);
		break;
	case AUTH_VERIFY_FAIL:
		auth_finish(j, false, NULL);
		break;
	case AUTH_VERIFY_BUSY: {
		struct slot *sl = j->sl;
		reply_error(&sl->out, "TRYAGAIN too many password checks in progress; retry");
		job_free(j);
		slot_finish(sl);
		break;
	}
	case AUTH_VERIFY_PENDING:
		j->sl->holds_ref = true;
		conn_ref(&c->conn);
		c->auth_busy = true;
		break;
	}
}

bool resp_auth_command(const struct command *cmd, size_t argc, const struct resp_arg *argv)
{
	if (cmd == NULL)
		return false;
	if (cmd->local == local_auth)
		return true;
	if (cmd->local != local_hello)
		return false;
	for (size_t i = 2; i < argc; i++)
		if (arg_is(&argv[i], "AUTH"))
			return true;
	return false;
}

bool resp_auth_relay_hello(struct rconn *c, struct wire_buf *out)
{
	if (!c->authed || c->relay_pw == NULL)
		return false;
	resp_write_array(out, 3);
	resp_write_bulk(out, "AUTH", 4);
	resp_write_bulk(out, c->user, strlen(c->user));
	resp_write_bulk(out, c->relay_pw, c->relay_pw_len);
	return true;
}

void resp_auth_free(struct rconn *c)
{
	if (c->relay_pw != NULL)
		OPENSSL_cleanse(c->relay_pw, c->relay_pw_len);
	free(c->relay_pw);
	c->relay_pw = NULL;
}

/* =================================================================================
 * Who may run what
 */

/* Commands only the root role runs: membership, leadership, faults, users. */
static bool command_root_only(const struct command *cmd)
{
	if ((cmd->flags & CMD_LEADER) != 0 && (cmd->flags & CMD_TXN) == 0)
		return true;
	return cmd->local == local_fault || cmd->build == build_user || cmd->build == build_role ||
	       cmd->build == build_auth;
}

/* Commands whose every argument from the first key on is a key (MSET: every other). */
static size_t key_step(const struct command *cmd, size_t *last, size_t argc)
{
	static const char *const multi[] = {"DEL", "UNLINK", "EXISTS", "MGET", "WATCH"};
	*last = (size_t)cmd->first_key;
	if (strcmp(cmd->name, "MSET") == 0 || strcmp(cmd->name, "MSETNX") == 0) {
		*last = argc - 1;
		return 2;
	}
	for (size_t i = 0; i < sizeof(multi) / sizeof(multi[0]); i++)
		if (strcmp(cmd->name, multi[i]) == 0)
			*last = argc - 1;
	return 1;
}

/* KEYS pattern, SCAN cursor [MATCH pattern]: what every key listed starts with (the
 * pattern's literal prefix; none without MATCH), into out (room for the pattern). */
static size_t listing_prefix(const struct command *cmd, size_t argc, const struct resp_arg *argv,
                             char *out, size_t cap)
{
	const struct resp_arg *pattern = NULL;
	if (cmd->read == read_keys && argc == 2)
		pattern = &argv[1];
	for (size_t i = 2; cmd->read == read_scan && i + 1 < argc; i += 2)
		if (arg_is(&argv[i], "MATCH"))
			pattern = &argv[i + 1]; /* the last wins, as SCAN takes it */
	if (pattern == NULL || pattern->len > cap)
		return 0;
	return resp_glob_prefix(pattern->data, pattern->len, out);
}

/* CONCORD.RANGE and CONCORD.DELRANGE: one permission must cover the whole range. */
static const char *range_denied(const struct kv *kv, const struct auth_user *u,
                                const struct command *cmd, size_t argc, const struct resp_arg *argv)
{
	bool del = cmd->build == build_delrange;
	struct kv_range r;
	unsigned char *owned = NULL;
	const char *why = NULL;
	if (resp_range_bounds(argc, argv, del, &r, &owned) == 0 &&
	    !auth_allows_range(kv, u, &r, del ? AUTH_MODE_READWRITE : AUTH_MODE_READ))
		why = del ? "delete every key of this range" : "read every key of this range";
	free(owned); /* malformed: the command itself says so */
	return why;
}

/* CONCORD.TXN: every compare's key read, every PUT's key written, every GET's range read
 * and every DEL's range written, in both branches. */
static const char *etxn_denied(const struct kv *kv, const struct auth_user *u, size_t argc,
                               const struct resp_arg *argv)
{
	struct build b;
	memset(&b, 0, sizeof(b));
	const char *why = NULL;
	if (build_etxn(NULL, argc, argv, &b) != 0) {
		free(b.scratch);
		return NULL; /* malformed: the command itself says so */
	}
	for (size_t i = 0; why == NULL && i < b.cmd.n_compares; i++)
		if (!auth_allows(kv, u, b.cmd.compares[i].key, b.cmd.compares[i].key_len,
		                 AUTH_MODE_READ))
			why = "compare a key it names";
	for (size_t i = 0; why == NULL && i < b.cmd.n_ops + b.cmd.n_else; i++) {
		const struct kv_cmd *op = &b.cmd.ops[i]; /* the else list follows the then list */
		struct kv_range r = {op->put.key, op->put.key_len, NULL, 0};
		if (op->op != KV_OP_SET) {
			r.end = op->range_end;
			r.end_len = op->range_end_len;
		}
		enum auth_mode mode = op->op == KV_OP_RANGE ? AUTH_MODE_READ : AUTH_MODE_READWRITE;
		if (!auth_allows_range(kv, u, &r, mode))
			why = mode == AUTH_MODE_READ ? "read a range it names"
			                             : "write a key or range it names";
	}
	free(b.scratch);
	return why;
}

/* CONCORD.WATCH key | PREFIX p | RANGE start end: read on every key of the range. */
static const char *watch_denied(const struct kv *kv, const struct auth_user *u, size_t argc,
                                const struct resp_arg *argv)
{
	struct kv_range r = {argv[1].data, argv[1].len, NULL, 0};
	unsigned char pe[AUTH_PREFIX_BYTES_MAX + 1];
	if (arg_is(&argv[1], "PREFIX") && argc >= 3) {
		if (argv[2].len > AUTH_PREFIX_BYTES_MAX)
			return auth_allows(kv, u, "", 0, AUTH_MODE_READ) ? NULL
			                                                 : "watch this prefix";
		r = (struct kv_range){argv[2].data, argv[2].len, pe,
		                      kv_prefix_end(argv[2].data, argv[2].len, pe)};
	} else if (arg_is(&argv[1], "RANGE") && argc >= 4) {
		/* An empty end is no upper bound: every key from start on. */
		r = (struct kv_range){argv[2].data, argv[2].len,
		                      argv[3].len > 0 ? argv[3].data : "",
		                      argv[3].len > 0 ? argv[3].len : 1};
	}
	return auth_allows_range(kv, u, &r, AUTH_MODE_READ) ? NULL
	                                                    : "watch every key of this range";
}

/* Keyspace notifications tell key names (and, per key, what happened): a channel or
 * pattern that can name `__keyspace@0__:K...` needs read on K..., one that can name a
 * `__keyevent@` channel (whose messages are any key) read on every key. Other channels
 * are free, as PUBLISH is. */
static const char *channel_denied(const struct kv *kv, const struct auth_user *u,
                                  const struct resp_arg *ch, bool pattern)
{
	static const char ks[] = "__keyspace@0__:", ke[] = "__keyevent@";
	char lit[AUTH_PREFIX_BYTES_MAX + sizeof(ks)];
	size_t n = ch->len;
	if (pattern && ch->len <= sizeof(lit))
		n = resp_glob_prefix(ch->data, ch->len, lit);
	else if (!pattern && ch->len <= sizeof(lit))
		memcpy(lit, ch->data, n);
	else
		n = 0; /* too long to judge: as a pattern matching anything */
	size_t kl = sizeof(ks) - 1, el = sizeof(ke) - 1;
	if (n >= kl && memcmp(lit, ks, kl) == 0) {
		return auth_allows(kv, u, lit + kl, n - kl, AUTH_MODE_READ)
		           ? NULL
		           : "subscribe to these keys' notifications (it needs read on them)";
	}
	bool may_name = (n >= el && memcmp(lit, ke, el) == 0) ||
	                (pattern && ((n < kl && memcmp(lit, ks, n) == 0) ||
	                             (n < el && memcmp(lit, ke, n) == 0)));
	if (may_name && !auth_allows(kv, u, "", 0, AUTH_MODE_READ))
		return "subscribe to keyspace notifications of every key (it needs read on every "
		       "key)";
	return NULL;
}

static const char *subscribe_denied(const struct kv *kv, const struct auth_user *u,
                                    const struct command *cmd, size_t argc,
                                    const struct resp_arg *argv)
{
	for (size_t i = 1; i < argc; i++) {
		const char *why = channel_denied(kv, u, &argv[i], cmd->local == local_psubscribe);
		if (why != NULL)
			return why;
	}
	return NULL;
}

/* NULL if `u` may run the command, else what it may not do. */
static const char *command_denied(const struct kv *kv, const struct auth_user *u,
                                  const struct command *cmd, size_t argc,
                                  const struct resp_arg *argv, int depth)
{
	if (auth_user_is_root(u))
		return NULL;
	if ((cmd->flags & CMD_EXEC) != 0 && argc >= 4 && depth == 0) {
		const struct command *in = command_find(argv[3].data, argv[3].len);
		return in == NULL ? NULL : command_denied(kv, u, in, argc - 3, argv + 3, 1);
	}
	if (command_root_only(cmd))
		return "run this command: it needs the root role";
	if (cmd->local == local_concord_watch)
		return watch_denied(kv, u, argc, argv);
	if (cmd->local == local_subscribe || cmd->local == local_psubscribe)
		return subscribe_denied(kv, u, cmd, argc, argv);
	/* A channel is not a key: any authenticated user may publish, as before PUBLISH
	 * went through the log. */
	if (cmd->build == build_publish)
		return NULL;
	/* Leases: granting and keeping one alive touch no key; revoking deletes the keys
	 * attached to it, whoever wrote them. */
	if (cmd->build == build_lease)
		return !arg_is(&argv[1], "REVOKE") || auth_allows(kv, u, "", 0, AUTH_MODE_READWRITE)
		           ? NULL
		           : "revoke a lease: it deletes its keys, so it needs readwrite on every "
		             "key";
	if ((cmd->flags & (CMD_READ | CMD_WRITE)) == 0 || (cmd->flags & CMD_SESSION) != 0 ||
	    (cmd->build == NULL && cmd->read == NULL))
		return NULL;
	if (cmd->read == read_range || cmd->build == build_delrange)
		return range_denied(kv, u, cmd, argc, argv);
	if (cmd->build == build_etxn)
		return etxn_denied(kv, u, argc, argv);
	enum auth_mode mode = (cmd->flags & CMD_WRITE) != 0 ? AUTH_MODE_READWRITE : AUTH_MODE_READ;
	if (cmd->first_key == 0) {
		/* KEYS and SCAN list what their pattern's literal prefix allows; the rest
		 * (DBSIZE, a SCAN without MATCH) need every key. */
		char prefix[AUTH_PREFIX_BYTES_MAX];
		size_t plen = listing_prefix(cmd, argc, argv, prefix, sizeof(prefix));
		return auth_allows(kv, u, prefix, plen, AUTH_MODE_READ)
		           ? NULL
		           : "list these keys: it needs read on the pattern's literal prefix "
		             "(KEYS, "
		             "SCAN MATCH) or on every key";
	}
	size_t last = 0;
	size_t step = key_step(cmd, &last, argc);
	for (size_t i = (size_t)cmd->first_key; i <= last && i < argc; i += step)
		if (!auth_allows(kv, u, argv[i].data, argv[i].len, mode))
			return mode == AUTH_MODE_READ ? "read a key it names"
			                              : "write a key it names";
	return NULL;
}

bool resp_auth_check(struct rconn *c, const struct command *cmd, size_t argc,
                     const struct resp_arg *argv)
{
	struct server *sv = c->s->sv;
	const struct kv *kv = node_kv(sv->node);
	if (cmd == NULL || !auth_enabled(kv))
		return true;
	if (cmd->local == local_auth || cmd->local == local_hello || cmd->local == local_quit ||
	    cmd->local == local_relay)
		return true;
	if (c->member) {
		/* The members' identity may publish a member's addresses, nothing else. */
		if (cmd->local == leader_member && argc >= 2 && arg_is(&argv[1], "PUBLISH") &&
		    auth_enabled(kv))
			return true;
		sv->auth.denied++;
		reply_error(conn_reply_now(c), "NOPERM the members' identity may only publish a "
		                               "member's addresses");
		return false;
	}
	struct auth_user u;
	if (!c->authed || auth_user_get(kv, c->user, strlen(c->user), &u) != 0 ||
	    memcmp(u.hash, c->user_hash, AUTH_HASH_BYTES) != 0) {
		c->authed = false;
		sv->auth.denied++;
		reply_error(conn_reply_now(c), "NOAUTH Authentication required.");
		return false;
	}
	const char *why = command_denied(kv, &u, cmd, argc, argv, 0);
	if (why == NULL)
		return true;
	sv->auth.denied++;
	reply_errorf(conn_reply_now(c), "NOPERM User %s has no permissions to %s", u.name, why);
	return false;
}

/* =================================================================================
 * CONCORD.USER, CONCORD.ROLE, CONCORD.AUTH: auth_write.c builds them
 */

typedef int (*auth_build_fn)(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                             struct auth_write *w);

static int build_with(auth_build_fn fn, struct resp_server *s, size_t argc,
                      const struct resp_arg *argv, struct build *b)
{
	struct auth_write w;
	memset(&w, 0, sizeof(w));
	if (fn(node_kv(s->sv->node), argc, argv, &w) != 0) {
		free(w.scratch);
		snprintf(b->err, sizeof(b->err), "%s", w.err);
		return -1;
	}
	b->cmd = w.cmd;
	b->scratch = w.scratch;
	b->reserved = true;
	if (w.cmd.op == KV_OP_DEL) {
		b->keys = xmalloc(sizeof(*b->keys));
		b->keys[0] = w.key;
		b->cmd.keys = b->keys;
	}
	b->kind = w.reply == AUTH_REPLY_OK           ? REPLY_OK
	          : w.reply == AUTH_REPLY_OK_OR_NULL ? REPLY_OK_OR_NULL
	                                             : REPLY_INTEGER;
	return 0;
}

int build_user(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	return build_with(auth_build_user, s, argc, argv, b);
}

int build_role(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	return build_with(auth_build_role, s, argc, argv, b);
}

int build_auth(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	return build_with(auth_build_auth, s, argc, argv, b);
}

/* =================================================================================
 * ACL: WHOAMI, USERS, GETUSER, ROLES, GETROLE, STATUS (local: this node's copy)
 */

struct name_list {
	struct wire_buf *out;
	size_t plen;
	size_t n;
	bool count_only;
};

static int list_name(void *arg, const struct kv_value *v)
{
	struct name_list *l = arg;
	if (!l->count_only)
		resp_write_bulk(l->out, (const char *)v->key + l->plen, v->key_len - l->plen);
	l->n++;
	return 0;
}

static void list_names(const struct kv *kv, const char *prefix, size_t plen, struct wire_buf *out)
{
	struct name_list l = {.out = out, .plen = plen, .count_only = true};
	kv_scan(kv, prefix, plen, NULL, 0, 1u << 20, 0, list_name, &l, NULL);
	resp_write_array(out, l.n);
	l.count_only = false;
	kv_scan(kv, prefix, plen, NULL, 0, 1u << 20, 0, list_name, &l, NULL);
}

static void acl_getuser(const struct kv *kv, const struct resp_arg *name, struct wire_buf *out)
{
	struct auth_user u;
	if (auth_user_get(kv, name->data, name->len, &u) != 0) {
		resp_write_nil(out, RESP_PROTO_2);
		return;
	}
	resp_write_array(out, 4);
	reply_bulk_str(out, "name");
	reply_bulk_str(out, u.name);
	reply_bulk_str(out, "roles");
	resp_write_array(out, u.n_roles);
	for (uint32_t i = 0; i < u.n_roles; i++)
		reply_bulk_str(out, u.roles[i]);
}

/* A role's permissions, one "read PREFIX" or "readwrite PREFIX" each (prefix as bytes). */
static void acl_getrole(const struct kv *kv, const struct resp_arg *name, struct wire_buf *out)
{
	char key[AUTH_ROLE_PREFIX_LEN + AUTH_NAME_MAX];
	struct kv_value v;
	if (!auth_name_ok(name->data, name->len)) {
		resp_write_nil(out, RESP_PROTO_2);
		return;
	}
	memcpy(key, AUTH_ROLE_PREFIX, AUTH_ROLE_PREFIX_LEN);
	memcpy(key + AUTH_ROLE_PREFIX_LEN, name->data, name->len);
	if (kv_get(kv, key, AUTH_ROLE_PREFIX_LEN + name->len, 0, &v) != 0) {
		resp_write_nil(out, RESP_PROTO_2);
		return;
	}
	const char *p = v.value, *end = p + v.value_len;
	size_t n = 0;
	for (const char *q = p; q < end; q++)
		n += *q == '\n' || q + 1 == end; /* lines, the last one ended or not */
	resp_write_array(out, n);
	char line[16 + AUTH_PREFIX_BYTES_MAX];
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp = nl != NULL ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
		if (sp == NULL || sp - p > 9) { /* not a record this code wrote */
			resp_write_bulk(out, "?", 1);
			p = nl != NULL ? nl + 1 : end;
			continue;
		}
		size_t mlen = (size_t)(sp - p), hlen = (size_t)(nl - sp - 1), len = mlen + 1;
		memcpy(line, p, len);
		for (size_t i = 0; hlen != 1 && i + 1 < hlen && len < sizeof(line); i += 2) {
			unsigned b = 0;
			sscanf(sp + 1 + i, "%2x", &b);
			line[len++] = (char)b;
		}
		resp_write_bulk(out, line, len);
		p = nl + 1;
	}
}

void local_acl(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	const struct kv *kv = node_kv(c->s->sv->node);
	bool on = auth_enabled(kv);
	if (arg_is(&argv[1], "WHOAMI") && argc == 2) {
		reply_bulk_str(out, c->authed ? c->user : "default");
		return;
	}
	if (arg_is(&argv[1], "STATUS") && argc == 2) {
		reply_bulk_str(out, on ? "enabled" : "disabled");
		return;
	}
	struct auth_user u;
	if (on &&
	    (auth_user_get(kv, c->user, strlen(c->user), &u) != 0 || !auth_user_is_root(&u))) {
		reply_errorf(out,
		             "NOPERM User %s has no permissions to run this ACL subcommand: it "
		             "needs the root role",
		             c->user);
		return;
	}
	if (arg_is(&argv[1], "USERS") && argc == 2)
		list_names(kv, AUTH_USER_PREFIX, AUTH_USER_PREFIX_LEN, out);
	else if (arg_is(&argv[1], "ROLES") && argc == 2)
		list_names(kv, AUTH_ROLE_PREFIX, AUTH_ROLE_PREFIX_LEN, out);
	else if (arg_is(&argv[1], "GETUSER") && argc == 3)
		acl_getuser(kv, &argv[2], out);
	else if (arg_is(&argv[1], "GETROLE") && argc == 3)
		acl_getrole(kv, &argv[2], out);
	else
		reply_error(out,
		            "ERR unknown ACL subcommand or wrong number of arguments; "
		            "supported: WHOAMI, STATUS, USERS, GETUSER, ROLES, GETROLE "
		            "(users and roles are changed with CONCORD.USER and CONCORD.ROLE)");
}
