/* auth.h: users, roles and permissions kept in the replicated state (reserved kv keys), password
 * hashing with PBKDF2, the verification cache, and the protected-mode and browser checks' settings.
 */
#ifndef CONCORD_SERVER_AUTH_H
#define CONCORD_SERVER_AUTH_H

/*
 * Records (docs/security.md). Everything lives under AUTH_PREFIX in the kv's reserved
 * keyspace, written through the log like the address book, so every node holds the same
 * records and snapshots carry them; clients can neither read nor write them as keys.
 *   AUTH_KEY_ENABLED        "1" while auth is on (absent: off)
 *   AUTH_USER_PREFIX<name>  "pbkdf2-sha256 <iterations> <salt hex> <hash hex> <roles>"
 *                           roles comma-separated, "-" for none
 *   AUTH_ROLE_PREFIX<name>  one line per permission: "read <prefix hex>\n" or
 *                           "readwrite <prefix hex>\n" ("-" is the empty prefix)
 * The role AUTH_ROOT_ROLE is built in: it allows every key and every admin command.
 * The proposing node (the leader) draws the salt and computes the hash; the log entry
 * carries both, so every replica stores the same bytes.
 *
 * Verification. PBKDF2 costs ~35 ms by design, so it runs on libuv's thread pool, never
 * on the loop; at most AUTH_VERIFY_MAX run at once (more are refused, "try again"). A
 * verified password is remembered in a small cache as SHA-256(salt || password) next to
 * the user's stored hash, so HTTP Basic requests and reconnects cost one SHA-256, and a
 * password change (a new stored hash) invalidates it.
 */

#include "codec/resp.h"
#include "kv/kv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define AUTH_PREFIX          "\0concord/auth/"
#define AUTH_PREFIX_LEN      14
#define AUTH_KEY_ENABLED     "\0concord/auth/enabled"
#define AUTH_KEY_ENABLED_LEN 21
#define AUTH_USER_PREFIX     "\0concord/auth/user/"
#define AUTH_USER_PREFIX_LEN 19
#define AUTH_ROLE_PREFIX     "\0concord/auth/role/"
#define AUTH_ROLE_PREFIX_LEN 19
#define AUTH_ROOT_ROLE       "root"
#define AUTH_NAME_MAX        64u  /* user and role names: [A-Za-z0-9_.@-], 1..64 */
#define AUTH_PASSWORD_MAX    256u /* bytes */
/* The members' own identity once auth is on (docs/security.md, "Members' own requests"):
 * the user name, which no user can take ('+' is not a name character), and the token,
 * drawn by the leader at auth enable as the enabled record's value, in hex. */
#define AUTH_MEMBER_USER         "+member"
#define AUTH_MEMBER_USER_LEN     7
#define AUTH_MEMBER_TOKEN_BYTES  32u
#define AUTH_MEMBER_TOKEN_HEXLEN (2 * AUTH_MEMBER_TOKEN_BYTES)
#define AUTH_ROLES_PER_USER      16u
#define AUTH_PERMS_PER_ROLE      64u
#define AUTH_PREFIX_BYTES_MAX    1024u
#define AUTH_PBKDF2_ITERATIONS   100000u
#define AUTH_SALT_BYTES          16u
#define AUTH_HASH_BYTES          32u
#define AUTH_CACHE_ENTRIES       64u
#define AUTH_VERIFY_MAX          16u /* PBKDF2 runs in flight per process */
#define AUTH_FAILURES_MAX        10u /* failed attempts per connection before it is closed */

enum auth_mode {
	AUTH_MODE_READ = 1,
	AUTH_MODE_READWRITE = 2,
};

struct auth_user {
	char name[AUTH_NAME_MAX + 1];
	uint32_t iterations;
	uint8_t salt[AUTH_SALT_BYTES];
	uint8_t hash[AUTH_HASH_BYTES];
	uint32_t n_roles;
	char roles[AUTH_ROLES_PER_USER][AUTH_NAME_MAX + 1];
};

struct auth_cache_entry {
	bool used;
	uint64_t last_used;
	char name[AUTH_NAME_MAX + 1];
	uint8_t stored[AUTH_HASH_BYTES]; /* the user's hash when verified */
	uint8_t check[AUTH_HASH_BYTES];  /* SHA-256(salt || password) */
};

/* The process's auth settings and state, inside struct server (zero is valid). */
struct server_auth {
	bool insecure;            /* --insecure: protected mode off */
	char allowed_hosts[1024]; /* --allowed-hosts, comma-separated host names */
	struct auth_cache_entry cache[AUTH_CACHE_ENTRIES];
	uint64_t cache_clock;
	uint32_t verifying; /* PBKDF2 runs in flight */
	uint64_t failures;  /* failed attempts, every frontend */
	uint64_t successes;
	uint64_t denied;          /* requests refused NOAUTH/NOPERM/401/403 */
	uint64_t browser_refused; /* HTTP requests refused for their Origin or Host */
};

struct server;

/* Whether auth is on in this node's copy of the state. */
bool auth_enabled(const struct kv *kv);
/* The member token into out (AUTH_MEMBER_TOKEN_HEXLEN + 1 bytes): true if auth is on and
 * its record carries one (a record written before tokens existed does not). */
bool auth_member_token(const struct kv *kv, char *out);
/* Whether user/password are the member identity of this cluster (constant time). */
bool auth_member_check(const struct kv *kv, const char *user, size_t ulen, const char *pw,
                       size_t plen);
/* Whether `name` is a valid user or role name. */
bool auth_name_ok(const char *name, size_t len);
/* Loads user `name`: 0, or -1 if absent or unreadable. */
int auth_user_get(const struct kv *kv, const char *name, size_t len, struct auth_user *u);
/* Whether the role exists (the root role always does). */
bool auth_role_exists(const struct kv *kv, const char *name, size_t len);
bool auth_user_is_root(const struct auth_user *u);
/* Whether user `u` may access every key of range r in `mode` (one permission must
 * cover all of it: a prefix the range starts with and does not end past). */
bool auth_allows_range(const struct kv *kv, const struct auth_user *u, const struct kv_range *r,
                       enum auth_mode mode);
/* Whether user `u` may access the key in `mode` (read or readwrite). */
bool auth_allows(const struct kv *kv, const struct auth_user *u, const void *key, size_t len,
                 enum auth_mode mode);

/* The record of a user (into buf of cap bytes, NUL-terminated): its length, or -1. */
int auth_user_record(const struct auth_user *u, char *buf, size_t cap);
/* Parses a user record. 0 or -1. */
int auth_user_parse(const char *rec, size_t len, const char *name, size_t name_len,
                    struct auth_user *u);
/* Fills u->salt (random), u->iterations and u->hash from the password (on the loop:
 * ~35 ms; used by the rare user writes). 0 or -1 (no randomness). */
int auth_user_set_password(struct auth_user *u, const void *pw, size_t len);

/* ---- Writes: the commands of CONCORD.USER, CONCORD.ROLE and CONCORD.AUTH */

enum auth_reply {
	AUTH_REPLY_OK,         /* done */
	AUTH_REPLY_OK_OR_NULL, /* done if the condition held, else changed meanwhile: retry */
	AUTH_REPLY_INTEGER,    /* DEL: how many records went */
};

/* A write of the auth records, pointing into `scratch` (free it) and `key`. */
struct auth_write {
	struct kv_cmd cmd;
	struct kv_key key;
	char *scratch;
	enum auth_reply reply;
	char err[256]; /* on error, a RESP-style message ("ERR ...") */
};

/* argv as the RESP commands take them, argv[0] being the command's name:
 *   CONCORD.USER ADD name password [role ...] | PASSWD name password | DEL name |
 *                GRANT name role | REVOKE name role
 *   CONCORD.ROLE ADD name | DEL name | GRANT name read|readwrite prefix | REVOKE name prefix
 *   CONCORD.AUTH ENABLE | DISABLE
 * built from this node's (the leader's) state. 0 with *w filled, or -1 with w->err. A
 * password is hashed here, on the calling thread (~35 ms). */
int auth_build_user(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                    struct auth_write *w);
int auth_build_role(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                    struct auth_write *w);
int auth_build_auth(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                    struct auth_write *w);

/* ---- Verification */

struct auth_verify;
/* Called on the loop thread with the outcome (ok: the password matched). */
typedef void (*auth_verify_cb)(void *arg, bool ok, const struct auth_user *u);

enum auth_verify_result {
	AUTH_VERIFY_OK = 0,  /* the cache confirmed it: *u filled, no callback */
	AUTH_VERIFY_FAIL,    /* no such user, or the cache says wrong: no callback */
	AUTH_VERIFY_PENDING, /* the callback will say */
	AUTH_VERIFY_BUSY,    /* too many verifications in flight: no callback */
};

/* Checks user/password against this node's state. */
enum auth_verify_result auth_verify(struct server *sv, const char *user, size_t ulen,
                                    const char *pw, size_t pwlen, struct auth_user *u,
                                    auth_verify_cb cb, void *arg);

/* ---- Protected mode */

/* Whether `address` ("host:port") is on a loopback interface. */
bool auth_address_loopback(const char *address);
/* Protected mode: 0, or -1 with errmsg saying which listener is exposed and why. */
int auth_protected_check(const struct server *sv, const char *client, const char *http, bool tls,
                         char *errmsg, size_t len);

#endif /* CONCORD_SERVER_AUTH_H */
