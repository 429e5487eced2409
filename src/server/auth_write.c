/* auth_write.c: the writes of the auth records (auth.h) that CONCORD.USER/ROLE/AUTH and the
 * /v1/auth routes make, built on the leader from its state, to be proposed through the log. */
#include "server/auth.h"
#include "base/alloc.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RECORD_MAX (16u + 2 * AUTH_PERMS_PER_ROLE * (12 + 2 * AUTH_PREFIX_BYTES_MAX))

/* The reserved key of a record into buf; its length. */
static size_t record_key(char *buf, const char *prefix, size_t plen, const struct resp_arg *name)
{
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, name->data, name->len);
	return plen + name->len;
}

/* b->cmd becomes a SET of key to val (both copied into b->scratch), conditional on the
 * current value `old` (NULL: the key must be absent). */
static int put_record(struct auth_write *b, const char *key, size_t klen, const char *val,
                      size_t vlen, const char *old, size_t olen)
{
	b->scratch = xmalloc(klen + vlen + olen + 1);
	memcpy(b->scratch, key, klen);
	memcpy(b->scratch + klen, val, vlen);
	if (old != NULL)
		memcpy(b->scratch + klen + vlen, old, olen);
	b->cmd = (struct kv_cmd){
	    .op = KV_OP_SET,
	    .put = {.key = b->scratch,
	            .key_len = klen,
	            .value = b->scratch + klen,
	            .value_len = vlen,
	            .cond = {.kind = old != NULL ? KV_COND_VALUE : KV_COND_ABSENT,
	                     .value = b->scratch + klen + vlen,
	                     .value_len = olen}},
	};
	b->reply = AUTH_REPLY_OK_OR_NULL;
	return 0;
}

static int del_record(struct auth_write *b, const char *key, size_t klen)
{
	b->scratch = xmalloc(klen);
	memcpy(b->scratch, key, klen);
	b->key = (struct kv_key){b->scratch, klen};
	b->cmd = (struct kv_cmd){.op = KV_OP_DEL, .n = 1, .keys = &b->key};
	b->reply = AUTH_REPLY_INTEGER;
	return 0;
}

static bool arg_is(const struct resp_arg *a, const char *s)
{
	return a->len == strlen(s) && strncasecmp(a->data, s, a->len) == 0;
}

static int fail(struct auth_write *b, const char *msg)
{
	snprintf(b->err, sizeof(b->err), "%s", msg);
	return -1;
}

/* =================================================================================
 * CONCORD.USER ADD|PASSWD|DEL|GRANT|REVOKE
 */

/* Writes user `u` (its record now `old`, or absent if NULL). */
static int put_user(struct auth_write *b, const struct auth_user *u, const char *old, size_t olen)
{
	char key[AUTH_USER_PREFIX_LEN + AUTH_NAME_MAX];
	struct resp_arg name = {.data = (char *)u->name, .len = strlen(u->name)};
	size_t klen = record_key(key, AUTH_USER_PREFIX, AUTH_USER_PREFIX_LEN, &name);
	char rec[2048];
	int n = auth_user_record(u, rec, sizeof(rec));
	if (n < 0)
		return fail(b, "ERR the user record is too long");
	return put_record(b, key, klen, rec, (size_t)n, old, olen);
}

static int user_add(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                    struct auth_write *b)
{
	struct auth_user u;
	if (argc < 4 || argc - 4 > AUTH_ROLES_PER_USER)
		return fail(b, "ERR usage: CONCORD.USER ADD name password [role ...] (at most 16 "
		               "roles)");
	if (auth_user_get(kv, argv[2].data, argv[2].len, &u) == 0)
		return fail(b, "ERR the user exists already");
	memset(&u, 0, sizeof(u));
	memcpy(u.name, argv[2].data, argv[2].len);
	for (size_t i = 4; i < argc; i++) {
		if (!auth_role_exists(kv, argv[i].data, argv[i].len))
			return fail(b, "ERR no such role");
		memcpy(u.roles[u.n_roles], argv[i].data, argv[i].len);
		u.roles[u.n_roles++][argv[i].len] = '\0';
	}
	if (auth_user_set_password(&u, argv[3].data, argv[3].len) != 0)
		return fail(b, "ERR cannot hash the password (no randomness)");
	return put_user(b, &u, NULL, 0);
}

/* The user argv[2] and a copy of its current record into old (of cap bytes). */
static int user_load(const struct kv *kv, const struct resp_arg *name, struct auth_user *u,
                     char *old, size_t cap, size_t *olen, struct auth_write *b)
{
	char key[AUTH_USER_PREFIX_LEN + AUTH_NAME_MAX];
	size_t klen = record_key(key, AUTH_USER_PREFIX, AUTH_USER_PREFIX_LEN, name);
	struct kv_value v;
	if (auth_user_get(kv, name->data, name->len, u) != 0 || kv_get(kv, key, klen, 0, &v) != 0 ||
	    v.value_len > cap)
		return fail(b, "ERR no such user");
	memcpy(old, v.value, v.value_len);
	*olen = v.value_len;
	return 0;
}

static bool is_root_name(const struct resp_arg *a)
{
	return a->len == 4 && memcmp(a->data, "root", 4) == 0;
}

/* GRANT adds the role argv[3], REVOKE removes it. */
static int user_roles(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                      struct auth_write *b, bool grant)
{
	struct auth_user u;
	char old[2048];
	size_t olen = 0;
	if (argc != 4)
		return fail(b, "ERR usage: CONCORD.USER GRANT|REVOKE name role");
	if (user_load(kv, &argv[2], &u, old, sizeof(old), &olen, b) != 0)
		return -1;
	uint32_t at = u.n_roles;
	for (uint32_t i = 0; i < u.n_roles; i++)
		if (strlen(u.roles[i]) == argv[3].len &&
		    memcmp(u.roles[i], argv[3].data, argv[3].len) == 0)
			at = i;
	if (grant) {
		if (!auth_role_exists(kv, argv[3].data, argv[3].len))
			return fail(b, "ERR no such role");
		if (at < u.n_roles || u.n_roles == AUTH_ROLES_PER_USER)
			return fail(b, at < u.n_roles ? "ERR the user has the role already"
			                              : "ERR the user has the most roles it can");
		memcpy(u.roles[u.n_roles], argv[3].data, argv[3].len);
		u.roles[u.n_roles++][argv[3].len] = '\0';
	} else {
		if (at == u.n_roles)
			return fail(b, "ERR the user does not have the role");
		if (auth_enabled(kv) && is_root_name(&argv[2]) && is_root_name(&argv[3]))
			return fail(b,
			            "ERR the root user keeps the root role while auth is enabled");
		memmove(u.roles[at], u.roles[at + 1], (u.n_roles - at - 1) * sizeof(u.roles[0]));
		u.n_roles--;
	}
	return put_user(b, &u, old, olen);
}

int auth_build_user(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                    struct auth_write *b)
{
	if (!auth_name_ok(argv[2].data, argv[2].len))
		return fail(b, "ERR user names are 1 to 64 of A-Z a-z 0-9 _ . @ -");
	if (arg_is(&argv[1], "ADD"))
		return user_add(kv, argc, argv, b);
	if (arg_is(&argv[1], "GRANT") || arg_is(&argv[1], "REVOKE"))
		return user_roles(kv, argc, argv, b, arg_is(&argv[1], "GRANT"));
	struct auth_user u;
	char old[2048];
	size_t olen = 0;
	if (arg_is(&argv[1], "PASSWD") && argc == 4) {
		if (user_load(kv, &argv[2], &u, old, sizeof(old), &olen, b) != 0)
			return -1;
		if (auth_user_set_password(&u, argv[3].data, argv[3].len) != 0)
			return fail(b, "ERR cannot hash the password (no randomness)");
		return put_user(b, &u, old, olen);
	}
	if (arg_is(&argv[1], "DEL") && argc == 3) {
		if (auth_enabled(kv) && is_root_name(&argv[2]))
			return fail(b, "ERR the root user cannot be deleted while auth is enabled");
		char key[AUTH_USER_PREFIX_LEN + AUTH_NAME_MAX];
		return del_record(
		    b, key, record_key(key, AUTH_USER_PREFIX, AUTH_USER_PREFIX_LEN, &argv[2]));
	}
	return fail(b,
	            "ERR usage: CONCORD.USER ADD name password [role ...] | PASSWD name password "
	            "| DEL name | GRANT name role | REVOKE name role");
}

/* =================================================================================
 * CONCORD.ROLE ADD|DEL|GRANT|REVOKE
 */

static void hex_append(char *out, size_t *len, const char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	if (n == 0)
		out[(*len)++] = '-';
	for (size_t i = 0; i < n; i++) {
		out[(*len)++] = digits[(unsigned char)p[i] >> 4];
		out[(*len)++] = digits[(unsigned char)p[i] & 15];
	}
}

/* The role's record without the line of `prefix`, then (if mode) with a new one for it. */
static int role_edit(const struct kv *kv, const struct resp_arg *role, const char *mode,
                     const struct resp_arg *prefix, struct auth_write *b)
{
	char key[AUTH_ROLE_PREFIX_LEN + AUTH_NAME_MAX];
	size_t klen = record_key(key, AUTH_ROLE_PREFIX, AUTH_ROLE_PREFIX_LEN, role);
	struct kv_value v;
	if (kv_get(kv, key, klen, 0, &v) != 0)
		return fail(b, "ERR no such role");
	if (prefix->len > AUTH_PREFIX_BYTES_MAX)
		return fail(b, "ERR the prefix is longer than 1024 bytes");
	char hex[2 * AUTH_PREFIX_BYTES_MAX + 2];
	size_t hlen = 0;
	hex_append(hex, &hlen, prefix->data, prefix->len);
	char *rec = xmalloc(v.value_len + hlen + 16);
	size_t len = 0, lines = 0;
	bool found = false;
	const char *p = v.value, *end = p + v.value_len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp = nl != NULL ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
		if (sp == NULL) /* not a record this code wrote: dropped */
			break;
		bool same = (size_t)(nl - sp - 1) == hlen && memcmp(sp + 1, hex, hlen) == 0;
		found |= same;
		if (!same) {
			memcpy(rec + len, p, (size_t)(nl - p) + 1);
			len += (size_t)(nl - p) + 1;
			lines++;
		}
		p = nl + 1;
	}
	if (mode != NULL) {
		len += (size_t)sprintf(rec + len, "%s ", mode);
		memcpy(rec + len, hex, hlen);
		len += hlen;
		rec[len++] = '\n';
		lines++;
	}
	int rv = 0;
	if (mode == NULL && !found)
		rv = fail(b, "ERR the role has no permission on that prefix");
	else if (lines > AUTH_PERMS_PER_ROLE)
		rv = fail(b, "ERR the role has the most permissions it can (64)");
	else
		rv = put_record(b, key, klen, rec, len, v.value, v.value_len);
	free(rec);
	return rv;
}

int auth_build_role(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                    struct auth_write *b)
{
	if (!auth_name_ok(argv[2].data, argv[2].len))
		return fail(b, "ERR role names are 1 to 64 of A-Z a-z 0-9 _ . @ -");
	if (is_root_name(&argv[2]))
		return fail(b, "ERR the root role is built in: it allows everything");
	char key[AUTH_ROLE_PREFIX_LEN + AUTH_NAME_MAX];
	size_t klen = record_key(key, AUTH_ROLE_PREFIX, AUTH_ROLE_PREFIX_LEN, &argv[2]);
	if (arg_is(&argv[1], "ADD") && argc == 3) {
		if (auth_role_exists(kv, argv[2].data, argv[2].len))
			return fail(b, "ERR the role exists already");
		return put_record(b, key, klen, "", 0, NULL, 0);
	}
	if (arg_is(&argv[1], "DEL") && argc == 3)
		return del_record(b, key, klen);
	if (arg_is(&argv[1], "GRANT") && argc == 5) {
		bool rw = arg_is(&argv[3], "readwrite") || arg_is(&argv[3], "write");
		if (!rw && !arg_is(&argv[3], "read"))
			return fail(b, "ERR the permission is read or readwrite");
		return role_edit(kv, &argv[2], rw ? "readwrite" : "read", &argv[4], b);
	}
	if (arg_is(&argv[1], "REVOKE") && argc == 4)
		return role_edit(kv, &argv[2], NULL, &argv[3], b);
	return fail(b, "ERR usage: CONCORD.ROLE ADD name | DEL name | GRANT name read|readwrite "
	               "prefix | REVOKE name prefix");
}

/* =================================================================================
 * CONCORD.AUTH ENABLE|DISABLE
 */

int auth_build_auth(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                    struct auth_write *b)
{
	(void)argc;
	if (arg_is(&argv[1], "ENABLE")) {
		struct auth_user u;
		if (auth_user_get(kv, "root", 4, &u) != 0 || !auth_user_is_root(&u))
			return fail(b, "ERR auth needs a user named root with the root role first "
			               "(CONCORD.USER ADD root <password> root)");
		if (auth_enabled(kv))
			return fail(b, "ERR auth is enabled already");
		/* The record's value is the members' token: the leader draws it here, the
		 * log carries it to every member. */
		uint8_t raw[AUTH_MEMBER_TOKEN_BYTES];
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return fail(b, "ERR no randomness for the members' token");
		b->scratch = xmalloc(AUTH_KEY_ENABLED_LEN + AUTH_MEMBER_TOKEN_HEXLEN);
		memcpy(b->scratch, AUTH_KEY_ENABLED, AUTH_KEY_ENABLED_LEN);
		static const char digits[] = "0123456789abcdef";
		for (size_t i = 0; i < sizeof(raw); i++) {
			b->scratch[AUTH_KEY_ENABLED_LEN + 2 * i] = digits[raw[i] >> 4];
			b->scratch[AUTH_KEY_ENABLED_LEN + 2 * i + 1] = digits[raw[i] & 15];
		}
		OPENSSL_cleanse(raw, sizeof(raw));
		b->cmd = (struct kv_cmd){.op = KV_OP_SET,
		                         .put = {.key = b->scratch,
		                                 .key_len = AUTH_KEY_ENABLED_LEN,
		                                 .value = b->scratch + AUTH_KEY_ENABLED_LEN,
		                                 .value_len = AUTH_MEMBER_TOKEN_HEXLEN}};
		b->reply = AUTH_REPLY_OK;
		return 0;
	}
	if (arg_is(&argv[1], "DISABLE")) {
		int rv = del_record(b, AUTH_KEY_ENABLED, AUTH_KEY_ENABLED_LEN);
		b->reply = AUTH_REPLY_OK;
		return rv;
	}
	return fail(b, "ERR usage: CONCORD.AUTH ENABLE | DISABLE (status: ACL STATUS)");
}
