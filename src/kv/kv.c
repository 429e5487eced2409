/* kv.c: the store's lifetime, configuration, error strings and counters. */
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kv_strerror(int err)
{
	static const char *const text[] = {
#define KV_ERROR_TEXT_(name, t) t,
	    KV_ERRORS(KV_ERROR_TEXT_)
#undef KV_ERROR_TEXT_
	};
	_Static_assert(sizeof(text) / sizeof(text[0]) == KV_ERROR_COUNT_, "one text per code");
	if (err < 0 || err >= KV_ERROR_COUNT_)
		return "unknown key-value error";
	return text[err];
}

void kv_limits_default(struct kv_limits *lim)
{
	lim->key_bytes_max = KV_DEFAULT_KEY_BYTES;
	lim->value_bytes_max = KV_DEFAULT_VALUE_BYTES;
	lim->keys_per_cmd_max = KV_DEFAULT_KEYS_PER_CMD;
	lim->txn_ops_max = KV_DEFAULT_TXN_OPS;
	lim->txn_bytes_max = KV_DEFAULT_TXN_BYTES;
}

void kv_config_default(struct kv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	kv_limits_default(&cfg->limits);
	cfg->history_revisions = 10000;
	cfg->sessions_max = 65536;
	cfg->session_timeout_ms = 5 * 60 * 1000;
}

bool kv_key_reserved(const void *key, size_t len)
{
	_Static_assert(sizeof(KV_RESERVED_PREFIX) - 1 == KV_RESERVED_PREFIX_LEN, "prefix length");
	_Static_assert(sizeof(KV_MEMBER_PREFIX) - 1 == KV_MEMBER_PREFIX_LEN, "prefix length");
	return len >= KV_RESERVED_PREFIX_LEN &&
	       memcmp(key, KV_RESERVED_PREFIX, KV_RESERVED_PREFIX_LEN) == 0;
}

bool kv_key_member(const void *key, size_t len)
{
	return len >= KV_MEMBER_PREFIX_LEN &&
	       memcmp(key, KV_MEMBER_PREFIX, KV_MEMBER_PREFIX_LEN) == 0;
}

bool kv_limits_valid(const struct kv_limits *lim)
{
	if (lim->key_bytes_max > KV_KEY_BYTES_LIMIT)
		return false;
	if (lim->value_bytes_max > KV_VALUE_BYTES_LIMIT)
		return false;
	if (lim->keys_per_cmd_max < 1)
		return false;
	if (lim->keys_per_cmd_max > KV_KEYS_PER_CMD_LIMIT)
		return false;
	if (lim->txn_ops_max < 1 || lim->txn_ops_max > KV_TXN_OPS_LIMIT)
		return false;
	if (lim->txn_bytes_max < 1 || lim->txn_bytes_max > KV_TXN_BYTES_LIMIT)
		return false;
	/* INCR writes up to 20 characters; a smaller value limit would be a trap. */
	if (lim->value_bytes_max < 20)
		return false;
	return true;
}

int kv_new(const struct kv_config *cfg, struct kv **out)
{
	struct kv_config def;
	if (cfg == NULL) {
		kv_config_default(&def);
		cfg = &def;
	}
	if (!kv_limits_valid(&cfg->limits))
		return KV_EINVAL;
	if (cfg->sessions_max < 1)
		return KV_EINVAL;
	if (cfg->sessions_max > KV_SESSIONS_LIMIT)
		return KV_EINVAL;
	struct kv *kv = xmalloc(sizeof(*kv));
	kv_store_init(kv, cfg, 0);
	*out = kv;
	return KV_OK;
}

void kv_free(struct kv *kv)
{
	if (kv == NULL)
		return;
	kv_store_clear(kv);
	kv_watch_free(kv);
	free(kv);
}

const struct kv_config *kv_config(const struct kv *kv)
{
	return &kv->cfg;
}

const char *kv_errmsg(const struct kv *kv)
{
	return kv->errmsg;
}

int kv_errmsg_set(struct kv *kv, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(kv->errmsg, sizeof(kv->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

uint64_t kv_revision(const struct kv *kv)
{
	return kv->rev;
}

uint64_t kv_compact_revision(const struct kv *kv)
{
	return kv->compact_rev;
}

raft_index kv_applied_index(const struct kv *kv)
{
	return kv->applied;
}

uint64_t kv_now_ms(const struct kv *kv)
{
	return kv->now_ms;
}

void kv_stats(const struct kv *kv, struct kv_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->keys = kv->n_keys;
	out->key_bytes = kv->key_bytes;
	out->value_bytes = kv->value_bytes;
	out->versions = kv->n_versions;
	out->history_bytes = kv->hist_bytes;
	out->sessions = kv->sessions.count;
	out->revision = kv->rev;
	out->compact_revision = kv->compact_rev;
	out->applied_index = kv->applied;
	out->ttls = kv->n_ttls;
	out->leases = kv->leases.n;
}

int kv_compact(struct kv *kv, uint64_t revision)
{
	if (revision > kv->rev)
		return KV_EFUTURE;
	if (revision <= kv->compact_rev)
		return KV_ECOMPACTED;
	kv_store_compact(kv, revision);
	return KV_OK;
}
