/* index.c: the hash index over the map's items: chained buckets, incremental rehashing. */
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define INDEX_SIZE_MIN 64
/* Buckets moved per insertion while growing: the new table, twice the old, fills up at
 * one item per insertion, so moving more than one bucket per insertion always finishes
 * before the next growth. */
#define INDEX_REHASH_STEP 8
/* Empty buckets skipped per step, on top of the moved ones, to bound a step's work. */
#define INDEX_REHASH_EMPTY_MAX 64
/* Most buckets presized for a snapshot's announced item count (which may lie): 32 MiB
 * of table; beyond it the index grows as items arrive. */
#define INDEX_PRESIZE_MAX ((size_t)1 << 22)

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIP_ROUND(v0, v1, v2, v3)                                                                  \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t kv_siphash(const uint64_t key[2], const void *data, size_t len, int c, int d)
{
	const unsigned char *p = data;
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = key[1] ^ 0x7465646279746573ull;
	size_t n = len;
	while (n >= 8) {
		uint64_t m = load_le64(p);
		v3 ^= m;
		for (int i = 0; i < c; i++)
			SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
		p += 8;
		n -= 8;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < n; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	for (int i = 0; i < c; i++)
		SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int i = 0; i < d; i++)
		SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t kv_index_hash(const struct kv_index *x, const void *key, size_t len)
{
	return kv_siphash(x->key, key, len, 1, 3);
}

static struct kv_item **table_new(size_t size)
{
	assert(size >= INDEX_SIZE_MIN);
	assert((size & (size - 1)) == 0);
	struct kv_item **t = xcalloc(size, sizeof(*t));
	return t;
}

void kv_index_init(struct kv_index *x, size_t expected)
{
	memset(x, 0, sizeof(*x));
	size_t size = INDEX_SIZE_MIN;
	while (size < expected && size < INDEX_PRESIZE_MAX)
		size *= 2;
	x->tab[0] = table_new(size);
	x->size[0] = size;
	/* The key only spreads keys over buckets; without randomness a fixed key still
	 * works, it just makes collisions predictable. */
	if (getrandom(x->key, sizeof(x->key), GRND_NONBLOCK) != (ssize_t)sizeof(x->key)) {
		x->key[0] = 0x0706050403020100ull;
		x->key[1] = 0x0f0e0d0c0b0a0908ull;
	}
}

void kv_index_free(struct kv_index *x)
{
	free(x->tab[0]);
	free(x->tab[1]);
	memset(x, 0, sizeof(*x));
}

static bool item_is(const struct kv_item *it, const void *key, size_t len)
{
	return it->key_len == len && (len == 0 || memcmp(kv_item_key(it), key, len) == 0);
}

struct kv_item *kv_index_find(const struct kv_index *x, const void *key, size_t len, uint64_t hash)
{
	for (int t = 0; t < 2; t++) {
		if (x->tab[t] == NULL)
			break;
		size_t b = (size_t)hash & (x->size[t] - 1);
		/* Buckets below `rehash` have moved to the new table already. */
		if (t == 0 && x->tab[1] != NULL && b < x->rehash)
			continue;
		for (struct kv_item *it = x->tab[t][b]; it != NULL; it = it->hnext)
			if (item_is(it, key, len))
				return it;
	}
	return NULL;
}

static void rehash_step(struct kv_index *x)
{
	if (x->tab[1] == NULL)
		return;
	size_t moved = 0, empty = 0;
	while (x->rehash < x->size[0] && moved < INDEX_REHASH_STEP &&
	       empty < INDEX_REHASH_EMPTY_MAX) {
		struct kv_item *it = x->tab[0][x->rehash];
		if (it == NULL)
			empty++;
		else
			moved++;
		while (it != NULL) {
			struct kv_item *next = it->hnext;
			uint64_t h = kv_index_hash(x, kv_item_key(it), it->key_len);
			size_t b = (size_t)h & (x->size[1] - 1);
			it->hnext = x->tab[1][b];
			x->tab[1][b] = it;
			assert(x->used[0] > 0);
			x->used[0]--;
			x->used[1]++;
			it = next;
		}
		x->tab[0][x->rehash] = NULL;
		x->rehash++;
	}
	if (x->rehash == x->size[0]) {
		assert(x->used[0] == 0);
		free(x->tab[0]);
		x->tab[0] = x->tab[1];
		x->size[0] = x->size[1];
		x->used[0] = x->used[1];
		x->tab[1] = NULL;
		x->size[1] = 0;
		x->used[1] = 0;
		x->rehash = 0;
	}
}

void kv_index_insert(struct kv_index *x, struct kv_item *it, uint64_t hash)
{
	rehash_step(x);
	if (x->tab[1] == NULL && x->used[0] >= x->size[0]) {
		/* Load factor 1: grow to twice the size, moving buckets bit by bit. */
		x->size[1] = x->size[0] * 2;
		assert(x->size[1] > x->size[0]);
		x->tab[1] = table_new(x->size[1]);
		x->rehash = 0;
	}
	int t = x->tab[1] != NULL ? 1 : 0;
	size_t b = (size_t)hash & (x->size[t] - 1);
	it->hnext = x->tab[t][b];
	x->tab[t][b] = it;
	x->used[t]++;
}

void kv_index_remove(struct kv_index *x, struct kv_item *it)
{
	uint64_t hash = kv_index_hash(x, kv_item_key(it), it->key_len);
	for (int t = 0; t < 2; t++) {
		if (x->tab[t] == NULL)
			break;
		size_t b = (size_t)hash & (x->size[t] - 1);
		if (t == 0 && x->tab[1] != NULL && b < x->rehash)
			continue;
		for (struct kv_item **link = &x->tab[t][b]; *link != NULL; link = &(*link)->hnext) {
			if (*link == it) {
				*link = it->hnext;
				it->hnext = NULL;
				assert(x->used[t] > 0);
				x->used[t]--;
				rehash_step(x);
				return;
			}
		}
	}
	assert(false); /* every item of the map is in the index */
}
