/* read.c: local reads (GET, EXISTS, MGET, SCAN), at the latest or an older revision. */
#include "kv/impl.h"

#include <string.h>

/* Resolves a requested revision (0: latest) or says why it cannot be read. */
static int revision_check(const struct kv *kv, uint64_t *revision)
{
	if (*revision == 0) {
		*revision = kv->rev;
		return KV_OK;
	}
	if (*revision > kv->rev)
		return KV_EFUTURE;
	if (*revision < kv->compact_rev)
		return KV_ECOMPACTED;
	return KV_OK;
}

static void value_fill(const struct kv_item *it, const struct kv_ver *v, struct kv_value *out)
{
	assert(kv_ver_live(v));
	out->key = kv_item_key(it);
	out->key_len = it->key_len;
	out->value = v->data;
	out->value_len = v->len;
	out->create_revision = v->create_rev;
	out->mod_revision = v->mod_rev;
	out->version = v->version;
}

/* The version visible at `revision`. A key expired by the log clock is absent from the
 * current state (its deletion has not reached the log yet); older revisions show
 * history as it was. */
static const struct kv_ver *visible(const struct kv *kv, const struct kv_item *it,
                                    uint64_t revision)
{
	if (revision == kv->rev && it->ttl != NULL && kv_item_expired(kv, it))
		return NULL;
	return kv_item_at(it, revision);
}

static const struct kv_ver *lookup(const struct kv *kv, const void *key, size_t key_len,
                                   uint64_t revision, const struct kv_item **item)
{
	const struct kv_item *it = kv_store_find(kv, key, key_len);
	*item = it;
	return it != NULL ? visible(kv, it, revision) : NULL;
}

int kv_get(const struct kv *kv, const void *key, size_t key_len, uint64_t revision,
           struct kv_value *out)
{
	memset(out, 0, sizeof(*out));
	if (key_len > kv->cfg.limits.key_bytes_max)
		return KV_EKEYTOOBIG;
	int rv = revision_check(kv, &revision);
	if (rv != KV_OK)
		return rv;
	const struct kv_item *it;
	const struct kv_ver *v = lookup(kv, key, key_len, revision, &it);
	if (v == NULL)
		return KV_ENOTFOUND;
	value_fill(it, v, out);
	return KV_OK;
}

bool kv_exists(const struct kv *kv, const void *key, size_t key_len)
{
	if (key_len > kv->cfg.limits.key_bytes_max)
		return false;
	const struct kv_item *it = kv_store_find(kv, key, key_len);
	return it != NULL && kv_ver_live(it->head) && !kv_item_expired(kv, it);
}

int kv_mget(const struct kv *kv, size_t n, const struct kv_key *keys, uint64_t revision,
            struct kv_value *out)
{
	if (n > kv->cfg.limits.keys_per_cmd_max)
		return KV_ETOOMANY;
	for (size_t i = 0; i < n; i++)
		if (keys[i].len > kv->cfg.limits.key_bytes_max)
			return KV_EKEYTOOBIG;
	int rv = revision_check(kv, &revision);
	if (rv != KV_OK)
		return rv;
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		const struct kv_item *it;
		const struct kv_ver *v = lookup(kv, keys[i].data, keys[i].len, revision, &it);
		if (v != NULL) {
			value_fill(it, v, &out[i]);
		} else {
			out[i].key = keys[i].data;
			out[i].key_len = keys[i].len;
		}
	}
	return KV_OK;
}

static bool has_prefix(const struct kv_item *it, const void *prefix, size_t prefix_len)
{
	return it->key_len >= prefix_len &&
	       (prefix_len == 0 || memcmp(kv_item_key(it), prefix, prefix_len) == 0);
}

int kv_scan(const struct kv *kv, const void *prefix, size_t prefix_len, const void *start,
            size_t start_len, size_t limit, uint64_t revision, kv_scan_fn fn, void *arg, bool *more)
{
	if (more != NULL)
		*more = false;
	if (limit == 0)
		return KV_EINVAL;
	int rv = revision_check(kv, &revision);
	if (rv != KV_OK)
		return rv;
	/* Begin at the larger of the prefix and the start key. */
	const void *from = prefix;
	size_t from_len = prefix_len;
	if (start != NULL && kv_key_cmp(start, start_len, prefix, prefix_len) > 0) {
		from = start;
		from_len = start_len;
	}
	size_t visited = 0;
	for (const struct kv_item *it = kv_store_seek(kv, from, from_len); it != NULL;
	     it = it->next[0]) {
		if (!has_prefix(it, prefix, prefix_len))
			break;
		const struct kv_ver *v = visible(kv, it, revision);
		if (v == NULL)
			continue;
		if (visited == limit) {
			if (more != NULL)
				*more = true;
			break;
		}
		struct kv_value val;
		value_fill(it, v, &val);
		visited++;
		if (fn(arg, &val) != 0)
			break;
	}
	return KV_OK;
}
