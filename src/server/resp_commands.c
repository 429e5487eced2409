/* resp_commands.c: the RESP command table, as data: name, arity, flags, first key and handler of
 * every command (docs/resp.md). */
#include "server/resp_impl.h"

#include <string.h>
#include <strings.h>

/* clang-format off */
#define LOCAL(name, arity, fn) {name, arity, CMD_LOCAL, 0, fn, NULL, NULL}
#define READ(name, arity, key, fn) {name, arity, CMD_READ, key, NULL, NULL, fn}
#define WRITE(name, arity, key, fn) {name, arity, CMD_WRITE, key, NULL, fn, NULL}
#define LEADER(name, arity, fn) {name, arity, CMD_LEADER, 0, fn, NULL, NULL}
/* clang-format on */

static const struct command commands[] = {
    READ("GET", 2, 1, read_get),
    WRITE("SET", -3, 1, build_set),
    WRITE("SETNX", 3, 1, build_setnx),
    WRITE("DEL", -2, 1, build_del),
    WRITE("UNLINK", -2, 1, build_del),
    READ("EXISTS", -2, 1, read_exists),
    WRITE("INCR", 2, 1, build_incr),
    WRITE("DECR", 2, 1, build_decr),
    WRITE("INCRBY", 3, 1, build_incrby),
    WRITE("DECRBY", 3, 1, build_decrby),
    WRITE("APPEND", 3, 1, build_append),
    READ("STRLEN", 2, 1, read_strlen),
    READ("MGET", -2, 1, read_mget),
    WRITE("MSET", -3, 1, build_mset),
    WRITE("MSETNX", -3, 1, build_msetnx),
    WRITE("CAS", 4, 1, build_cas),
    WRITE("CAS.REV", 4, 1, build_cas_rev),
    WRITE("CAS.DEL", 3, 1, build_cas_del),
    READ("CONCORD.GET", -2, 1, read_concord_get),
    READ("SCAN", -2, 0, read_scan),
    READ("KEYS", 2, 0, read_keys),
    READ("DBSIZE", 1, 0, read_dbsize),
    READ("TYPE", 2, 1, read_type),
    READ("TTL", 2, 1, read_ttl),
    READ("PTTL", 2, 1, read_ttl),
    LOCAL("PING", -1, local_ping),
    LOCAL("ECHO", 2, local_echo),
    LOCAL("SELECT", 2, local_select),
    LOCAL("QUIT", -1, local_quit),
    LOCAL("INFO", -1, local_info),
    LOCAL("COMMAND", -1, local_command),
    LOCAL("CONFIG", -2, local_config),
    LOCAL("HELLO", -1, local_hello),
    LOCAL("CLIENT", -2, local_client),
    LOCAL("AUTH", -2, local_auth),
    LOCAL("CLUSTER", -2, local_cluster),
    {"CONCORD.SESSION", -1, CMD_WRITE | CMD_SESSION, 0, NULL, build_session, NULL},
    {"CONCORD.EXEC", -4, CMD_EXEC, 0, NULL, NULL, NULL},
    {"MULTI", 1, CMD_LEADER | CMD_TXN, 0, NULL, NULL, NULL},
    {"EXEC", 1, CMD_WRITE | CMD_TXN, 0, NULL, NULL, NULL},
    {"DISCARD", 1, CMD_LEADER | CMD_TXN, 0, NULL, NULL, NULL},
    {"UNWATCH", 1, CMD_LEADER | CMD_TXN, 0, NULL, NULL, NULL},
    {"WATCH", -2, CMD_READ | CMD_TXN, 1, NULL, NULL, read_watch},
    LOCAL("CONCORD.STATUS", 1, local_status),
    LOCAL("CONCORD.FAULT", -3, local_fault),
    LOCAL("CONCORD.RELAY", 1, local_relay),
    LEADER("CONCORD.TRANSFER", 2, leader_transfer),
    LEADER("CONCORD.STEPDOWN", 1, leader_stepdown),
    LEADER("CONCORD.MEMBER", -3, leader_member),
    WRITE("CONCORD.COMPACT", 2, 0, build_compact),
    /* Expiry (resp_expire.c). */
    WRITE("SETEX", 4, 1, build_setex),
    WRITE("PSETEX", 4, 1, build_setex),
    WRITE("EXPIRE", -3, 1, build_expire),
    WRITE("PEXPIRE", -3, 1, build_expire),
    WRITE("EXPIREAT", -3, 1, build_expire),
    WRITE("PEXPIREAT", -3, 1, build_expire),
    WRITE("PERSIST", 2, 1, build_persist),
    {"GETEX", -2, CMD_WRITE | CMD_NOTXN, 1, NULL, build_getex, NULL},
    {"GETDEL", 2, CMD_WRITE | CMD_NOTXN, 1, NULL, build_getdel, NULL},
    {"GETSET", 3, CMD_WRITE | CMD_NOTXN, 1, NULL, build_getset, NULL},
    {"CONCORD.LEASE", -3, CMD_WRITE | CMD_NOTXN, 0, NULL, build_lease, NULL},
    READ("CONCORD.LEASES", -2, 0, read_leases),
    /* Pub/sub and watch (resp_pubsub.c). */
    LOCAL("SUBSCRIBE", -2, local_subscribe),
    LOCAL("PSUBSCRIBE", -2, local_psubscribe),
    LOCAL("UNSUBSCRIBE", -1, local_unsubscribe),
    LOCAL("PUNSUBSCRIBE", -1, local_punsubscribe),
    {"PUBLISH", 3, CMD_WRITE | CMD_NOTXN, 0, NULL, build_publish, NULL},
    LOCAL("PUBSUB", -2, local_pubsub),
    LOCAL("CONCORD.WATCH", -2, local_concord_watch),
    LOCAL("CONCORD.UNWATCH", -1, local_concord_unwatch),
    LOCAL("ACL", -2, local_acl),
    WRITE("CONCORD.USER", -3, 0, build_user),
    WRITE("CONCORD.ROLE", -3, 0, build_role),
    WRITE("CONCORD.AUTH", 2, 0, build_auth),
    READ("CONCORD.RANGE", -2, 1, read_range),
    {"CONCORD.DELRANGE", -2, CMD_WRITE | CMD_NOTXN, 1, NULL, build_delrange, NULL},
    {"CONCORD.TXN", -4, CMD_WRITE | CMD_NOTXN, 0, NULL, build_etxn, NULL},
};

static const char *const unsupported[] = {
    "LPUSH",         "RPUSH",       "LPOP",        "RPOP",     "LRANGE",    "LLEN",      "LINDEX",
    "LSET",          "LREM",        "LTRIM",       "LINSERT",  "LPOS",      "LMOVE",     "BLPOP",
    "BRPOP",         "RPOPLPUSH",   "SADD",        "SREM",     "SMEMBERS",  "SISMEMBER", "SCARD",
    "SPOP",          "SRANDMEMBER", "SINTER",      "SUNION",   "SDIFF",     "SSCAN",     "HSET",
    "HGET",          "HDEL",        "HGETALL",     "HMSET",    "HMGET",     "HINCRBY",   "HKEYS",
    "HVALS",         "HLEN",        "HEXISTS",     "HSCAN",    "HSETNX",    "ZADD",      "ZREM",
    "ZRANGE",        "ZSCORE",      "ZCARD",       "ZINCRBY",  "ZRANK",     "ZPOPMIN",   "ZPOPMAX",
    "ZRANGEBYSCORE", "ZSCAN",       "XADD",        "XREAD",    "XRANGE",    "XLEN",      "GEOADD",
    "GEORADIUS",     "PFADD",       "PFCOUNT",     "PFMERGE",  "SETBIT",    "GETBIT",    "BITCOUNT",
    "BITOP",         "BITFIELD",    "EVAL",        "EVALSHA",  "SCRIPT",    "FUNCTION",  "FCALL",
    "GETRANGE",      "SETRANGE",    "INCRBYFLOAT", "FLUSHALL", "FLUSHDB",   "RENAME",    "RENAMENX",
    "MOVE",          "OBJECT",      "DUMP",        "RESTORE",  "WAIT",      "SAVE",      "BGSAVE",
    "BGREWRITEAOF",  "REPLICAOF",   "SLAVEOF",     "SWAPDB",   "COPY",      "RANDOMKEY", "SORT",
    "MONITOR",       "SYNC",        "PSYNC",       "SHUTDOWN", "DEBUG",     "LATENCY",   "MEMORY",
    "SLOWLOG",       "LASTSAVE",    "TIME",        "READONLY", "READWRITE", "ASKING",    "RESET",
};

const struct command *command_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *cn = commands[i].name;
		if (strlen(cn) == len && strncasecmp(cn, name, len) == 0)
			return &commands[i];
	}
	return NULL;
}

size_t command_count(void)
{
	return sizeof(commands) / sizeof(commands[0]);
}

size_t command_index(const struct command *cmd)
{
	return (size_t)(cmd - commands);
}

bool command_unsupported(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (strlen(unsupported[i]) == len && strncasecmp(unsupported[i], name, len) == 0)
			return true;
	return false;
}

bool command_arity_ok(const struct command *cmd, size_t argc)
{
	return cmd->arity > 0 ? argc == (size_t)cmd->arity : argc >= (size_t)-cmd->arity;
}
