/* auth.c: user and role records in the reserved keyspace, permission checks, PBKDF2 on the
 * thread pool with a cache of verified passwords, and protected mode. */
#include "server/auth.h"
#include "base/alloc.h"
#include "server/server.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* =================================================================================
 * Records
 */

/* The reserved key `prefix` + `name` into buf; its length. */
static size_t record_key(char *buf, const char *prefix, size_t plen, const char *name, size_t len)
{
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, name, len);
	return plen + len;
}

bool auth_enabled(const struct kv *kv)
{
	return kv != NULL && kv_exists(kv, AUTH_KEY_ENABLED, AUTH_KEY_ENABLED_LEN);
}

bool auth_member_token(const struct kv *kv, char *out)
{
	struct kv_value v;
	if (kv == NULL || kv_get(kv, AUTH_KEY_ENABLED, AUTH_KEY_ENABLED_LEN, 0, &v) != 0 ||
	    v.value_len != AUTH_MEMBER_TOKEN_HEXLEN)
		return false;
	memcpy(out, v.value, AUTH_MEMBER_TOKEN_HEXLEN);
	out[AUTH_MEMBER_TOKEN_HEXLEN] = '\0';
	return true;
}

bool auth_member_check(const struct kv *kv, const char *user, size_t ulen, const char *pw,
                       size_t plen)
{
	char token[AUTH_MEMBER_TOKEN_HEXLEN + 1];
	if (ulen != AUTH_MEMBER_USER_LEN || memcmp(user, AUTH_MEMBER_USER, ulen) != 0 ||
	    plen != AUTH_MEMBER_TOKEN_HEXLEN || !auth_member_token(kv, token))
		return false;
	bool ok = CRYPTO_memcmp(token, pw, plen) == 0;
	OPENSSL_cleanse(token, sizeof(token));
	return ok;
}

bool auth_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '@' ||
		          ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

static void hex_write(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes exactly n bytes of hex from s (2n digits). 0 or -1. */
static int hex_read(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int auth_user_record(const struct auth_user *u, char *buf, size_t cap)
{
	char salt[2 * AUTH_SALT_BYTES + 1], hash[2 * AUTH_HASH_BYTES + 1];
	hex_write(salt, u->salt, AUTH_SALT_BYTES);
	hex_write(hash, u->hash, AUTH_HASH_BYTES);
	int n = snprintf(buf, cap, "pbkdf2-sha256 %" PRIu32 " %s %s ", u->iterations, salt, hash);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	size_t len = (size_t)n;
	for (uint32_t i = 0; i < u->n_roles; i++) {
		int k = snprintf(buf + len, cap - len, "%s%s", i > 0 ? "," : "", u->roles[i]);
		if (k < 0 || (size_t)k >= cap - len)
			return -1;
		len += (size_t)k;
	}
	if (u->n_roles == 0) {
		if (len + 2 > cap)
			return -1;
		buf[len++] = '-';
		buf[len] = '\0';
	}
	return (int)len;
}

/* The next space-separated field of [*p, end): its start and length. */
static bool next_field(const char **p, const char *end, const char **f, size_t *flen)
{
	const char *s = *p;
	const char *sp = memchr(s, ' ', (size_t)(end - s));
	const char *e = sp != NULL ? sp : end;
	*f = s;
	*flen = (size_t)(e - s);
	*p = sp != NULL ? sp + 1 : end;
	return *flen > 0;
}

static int parse_roles(const char *f, size_t flen, struct auth_user *u)
{
	u->n_roles = 0;
	if (flen == 1 && f[0] == '-')
		return 0;
	const char *end = f + flen;
	while (f < end) {
		const char *comma = memchr(f, ',', (size_t)(end - f));
		const char *e = comma != NULL ? comma : end;
		size_t n = (size_t)(e - f);
		if (!auth_name_ok(f, n) || u->n_roles == AUTH_ROLES_PER_USER)
			return -1;
		memcpy(u->roles[u->n_roles], f, n);
		u->roles[u->n_roles][n] = '\0';
		u->n_roles++;
		f = comma != NULL ? comma + 1 : end;
	}
	return 0;
}

int auth_user_parse(const char *rec, size_t len, const char *name, size_t name_len,
                    struct auth_user *u)
{
	memset(u, 0, sizeof(*u));
	if (!auth_name_ok(name, name_len))
		return -1;
	memcpy(u->name, name, name_len);
	const char *p = rec, *end = rec + len, *f;
	size_t flen;
	if (!next_field(&p, end, &f, &flen) || flen != 13 || memcmp(f, "pbkdf2-sha256", 13) != 0)
		return -1;
	if (!next_field(&p, end, &f, &flen) || flen > 9)
		return -1;
	char num[10];
	memcpy(num, f, flen);
	num[flen] = '\0';
	char *e = NULL;
	unsigned long it = strtoul(num, &e, 10);
	if (*e != '\0' || it == 0 || it > 100000000ul)
		return -1;
	u->iterations = (uint32_t)it;
	if (!next_field(&p, end, &f, &flen) || hex_read(f, flen, u->salt, AUTH_SALT_BYTES) != 0)
		return -1;
	if (!next_field(&p, end, &f, &flen) || hex_read(f, flen, u->hash, AUTH_HASH_BYTES) != 0)
		return -1;
	if (!next_field(&p, end, &f, &flen) || p != end)
		return -1;
	return parse_roles(f, flen, u);
}

int auth_user_get(const struct kv *kv, const char *name, size_t len, struct auth_user *u)
{
	if (kv == NULL || !auth_name_ok(name, len))
		return -1;
	char key[AUTH_USER_PREFIX_LEN + AUTH_NAME_MAX];
	size_t klen = record_key(key, AUTH_USER_PREFIX, AUTH_USER_PREFIX_LEN, name, len);
	struct kv_value v;
	if (kv_get(kv, key, klen, 0, &v) != 0)
		return -1;
	return auth_user_parse(v.value, v.value_len, name, len, u);
}

bool auth_role_exists(const struct kv *kv, const char *name, size_t len)
{
	if (len == 4 && memcmp(name, AUTH_ROOT_ROLE, 4) == 0)
		return true;
	if (!auth_name_ok(name, len))
		return false;
	char key[AUTH_ROLE_PREFIX_LEN + AUTH_NAME_MAX];
	size_t klen = record_key(key, AUTH_ROLE_PREFIX, AUTH_ROLE_PREFIX_LEN, name, len);
	return kv_exists(kv, key, klen);
}

bool auth_user_is_root(const struct auth_user *u)
{
	for (uint32_t i = 0; i < u->n_roles; i++)
		if (strcmp(u->roles[i], AUTH_ROOT_ROLE) == 0)
			return true;
	return false;
}

/* Whether one permission line "mode prefixhex" grants `mode` on the key. */
/* The end of range r lies at or before the end of prefix p's keys. */
static bool end_within(const uint8_t *p, size_t plen, const struct kv_range *r)
{
	unsigned char pe[AUTH_PREFIX_BYTES_MAX + 1];
	size_t pelen = kv_prefix_end(p, plen, pe);
	if (pelen == 1 && pe[0] == 0)
		return true; /* the prefix's keys have no end */
	if (r->end_len == 1 && ((const uint8_t *)r->end)[0] == 0)
		return false; /* every key from r's start on: past any end */
	size_t n = r->end_len < pelen ? r->end_len : pelen;
	int c = memcmp(r->end, pe, n);
	return c < 0 || (c == 0 && r->end_len <= pelen);
}

/* Whether the permission line grants `mode` on every key of r (a key alone when
 * r->end_len is 0): the range starts within the line's prefix and ends within it. */
static bool line_covers(const char *l, size_t n, const struct kv_range *r, enum auth_mode mode)
{
	const uint8_t *key = r->key;
	size_t klen = r->key_len;
	const char *sp = memchr(l, ' ', n);
	if (sp == NULL)
		return false;
	size_t mlen = (size_t)(sp - l);
	bool rw = mlen == 9 && memcmp(l, "readwrite", 9) == 0;
	bool ro = mlen == 4 && memcmp(l, "read", 4) == 0;
	if (!rw && !(ro && mode == AUTH_MODE_READ))
		return false;
	const char *hex = sp + 1;
	size_t hlen = n - mlen - 1;
	if (hlen == 1 && hex[0] == '-')
		return true;
	if (hlen % 2 != 0 || hlen / 2 > klen || hlen / 2 > AUTH_PREFIX_BYTES_MAX)
		return false;
	uint8_t p[AUTH_PREFIX_BYTES_MAX];
	for (size_t i = 0; i < hlen / 2; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0 || key[i] != (uint8_t)(hi << 4 | lo))
			return false;
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	return r->end_len == 0 || end_within(p, hlen / 2, r);
}

static bool role_covers(const struct kv *kv, const char *role, const struct kv_range *r,
                        enum auth_mode mode)
{
	char rk[AUTH_ROLE_PREFIX_LEN + AUTH_NAME_MAX];
	size_t rklen = record_key(rk, AUTH_ROLE_PREFIX, AUTH_ROLE_PREFIX_LEN, role, strlen(role));
	struct kv_value v;
	if (kv_get(kv, rk, rklen, 0, &v) != 0)
		return false;
	const char *p = v.value, *end = p + v.value_len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end;
		if (line_covers(p, (size_t)(e - p), r, mode))
			return true;
		p = nl != NULL ? nl + 1 : end;
	}
	return false;
}

bool auth_allows_range(const struct kv *kv, const struct auth_user *u, const struct kv_range *r,
                       enum auth_mode mode)
{
	if (auth_user_is_root(u))
		return true;
	for (uint32_t i = 0; i < u->n_roles; i++)
		if (role_covers(kv, u->roles[i], r, mode))
			return true;
	return false;
}

bool auth_allows(const struct kv *kv, const struct auth_user *u, const void *key, size_t len,
                 enum auth_mode mode)
{
	struct kv_range r = {key, len, NULL, 0};
	return auth_allows_range(kv, u, &r, mode);
}

/* =================================================================================
 * Hashing and verification
 */

static int pbkdf2(const void *pw, size_t len, const uint8_t *salt, uint32_t iterations,
                  uint8_t out[AUTH_HASH_BYTES])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)len, salt, AUTH_SALT_BYTES, (int)iterations, EVP_sha256(),
	                         AUTH_HASH_BYTES, out) == 1
	           ? 0
	           : -1;
}

int auth_user_set_password(struct auth_user *u, const void *pw, size_t len)
{
	if (RAND_bytes(u->salt, AUTH_SALT_BYTES) != 1)
		return -1;
	u->iterations = AUTH_PBKDF2_ITERATIONS;
	return pbkdf2(pw, len, u->salt, u->iterations, u->hash);
}

/* SHA-256(salt || password): what the cache keeps of a verified password. */
static void cache_check(const struct auth_user *u, const void *pw, size_t len,
                        uint8_t out[AUTH_HASH_BYTES])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, u->salt, AUTH_SALT_BYTES) != 1 ||
	    EVP_DigestUpdate(ctx, pw, len) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1)
		RAND_bytes(out, AUTH_HASH_BYTES); /* matches nothing */
	EVP_MD_CTX_free(ctx);
}

static struct auth_cache_entry *cache_find(struct server_auth *a, const struct auth_user *u)
{
	for (uint32_t i = 0; i < AUTH_CACHE_ENTRIES; i++) {
		struct auth_cache_entry *e = &a->cache[i];
		if (e->used && strcmp(e->name, u->name) == 0 &&
		    CRYPTO_memcmp(e->stored, u->hash, AUTH_HASH_BYTES) == 0)
			return e;
	}
	return NULL;
}

static void cache_put(struct server_auth *a, const struct auth_user *u, const uint8_t *check)
{
	struct auth_cache_entry *e = cache_find(a, u);
	for (uint32_t i = 0; e == NULL && i < AUTH_CACHE_ENTRIES; i++)
		if (!a->cache[i].used)
			e = &a->cache[i];
	for (uint32_t i = 0; e == NULL && i < AUTH_CACHE_ENTRIES; i++) /* least recently used */
		if (i == 0 || a->cache[i].last_used < e->last_used)
			e = &a->cache[i];
	e->used = true;
	e->last_used = ++a->cache_clock;
	snprintf(e->name, sizeof(e->name), "%s", u->name);
	memcpy(e->stored, u->hash, AUTH_HASH_BYTES);
	memcpy(e->check, check, AUTH_HASH_BYTES);
}

struct auth_verify {
	uv_work_t work;
	struct server *sv;
	struct auth_user u;
	uint8_t pw[AUTH_PASSWORD_MAX];
	size_t pw_len;
	bool ok;
	auth_verify_cb cb;
	void *arg;
};

static void verify_work(uv_work_t *w)
{
	struct auth_verify *v = w->data;
	uint8_t got[AUTH_HASH_BYTES];
	v->ok = pbkdf2(v->pw, v->pw_len, v->u.salt, v->u.iterations, got) == 0 &&
	        CRYPTO_memcmp(got, v->u.hash, AUTH_HASH_BYTES) == 0;
}

static void verify_done(uv_work_t *w, int status)
{
	struct auth_verify *v = w->data;
	struct server_auth *a = &v->sv->auth;
	a->verifying--;
	bool ok = status == 0 && v->ok && v->u.name[0] != '\0';
	if (ok) {
		uint8_t check[AUTH_HASH_BYTES];
		cache_check(&v->u, v->pw, v->pw_len, check);
		cache_put(a, &v->u, check);
		a->successes++;
	} else {
		a->failures++;
	}
	OPENSSL_cleanse(v->pw, sizeof(v->pw));
	v->cb(v->arg, ok, &v->u);
	free(v);
}

enum auth_verify_result auth_verify(struct server *sv, const char *user, size_t ulen,
                                    const char *pw, size_t pwlen, struct auth_user *u,
                                    auth_verify_cb cb, void *arg)
{
	struct server_auth *a = &sv->auth;
	if (pwlen > AUTH_PASSWORD_MAX) {
		a->failures++;
		return AUTH_VERIFY_FAIL;
	}
	if (auth_user_get(node_kv(sv->node), user, ulen, u) != 0) {
		/* No such user: a check against a hash nothing matches, so that the answer
		 * takes as long as for a real user (no probing of which names exist). */
		memset(u, 0, sizeof(*u));
		u->iterations = AUTH_PBKDF2_ITERATIONS;
		RAND_bytes(u->hash, AUTH_HASH_BYTES);
	}
	struct auth_cache_entry *e = cache_find(a, u);
	if (e != NULL) {
		uint8_t check[AUTH_HASH_BYTES];
		cache_check(u, pw, pwlen, check);
		if (CRYPTO_memcmp(check, e->check, AUTH_HASH_BYTES) == 0) {
			e->last_used = ++a->cache_clock;
			a->successes++;
			return AUTH_VERIFY_OK;
		}
	}
	if (a->verifying >= AUTH_VERIFY_MAX)
		return AUTH_VERIFY_BUSY;
	struct auth_verify *v = xcalloc(1, sizeof(*v));
	v->sv = sv;
	v->u = *u;
	memcpy(v->pw, pw, pwlen);
	v->pw_len = pwlen;
	v->cb = cb;
	v->arg = arg;
	v->work.data = v;
	if (uv_queue_work(sv->loop, &v->work, verify_work, verify_done) != 0) {
		free(v);
		return AUTH_VERIFY_BUSY;
	}
	a->verifying++;
	return AUTH_VERIFY_PENDING;
}

/* =================================================================================
 * Protected mode
 */

bool auth_address_loopback(const char *address)
{
	const char *colon = strrchr(address, ':');
	size_t n = colon != NULL ? (size_t)(colon - address) : strlen(address);
	char host[128];
	if (n >= sizeof(host))
		return false;
	memcpy(host, address, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "::1") == 0)
		return true;
	return strncmp(host, "127.", 4) == 0;
}

int auth_protected_check(const struct server *sv, const char *client, const char *http, bool tls,
                         char *errmsg, size_t len)
{
	if (sv->auth.insecure || tls || auth_enabled(node_kv(sv->node)))
		return 0;
	const char *exposed = NULL, *flag = NULL;
	if (client != NULL && !auth_address_loopback(client)) {
		exposed = client;
		flag = "--listen-client";
	} else if (http != NULL && strcmp(http, "none") != 0 && !auth_address_loopback(http)) {
		exposed = http;
		flag = "--listen-http";
	}
	if (exposed == NULL)
		return 0;
	snprintf(errmsg, len,
	         "protected mode: %s %s is not a loopback address, and this node has neither "
	         "auth enabled (concordctl auth enable) nor TLS (--cert-file): anyone who can "
	         "reach it could read and write every key and run admin commands. Listen on "
	         "127.0.0.1, enable auth first, give --cert-file, or pass --insecure to start "
	         "anyway",
	         flag, exposed);
	return -1;
}
