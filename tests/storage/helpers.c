/* helpers.c: deterministic entries, options and boot checks for the storage tests. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t th_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t th_below(uint64_t *state, uint64_t n)
{
	return n == 0 ? 0 : th_rand(state) % n;
}

static void fill(unsigned char *p, raft_index index, raft_term term, uint32_t tag, size_t len)
{
	uint64_t s = index * 1000003u + term * 101u + tag;
	memcpy(p, &index, 4);
	memcpy(p + 4, &term, 4);
	memcpy(p + 8, &tag, 4);
	for (size_t i = 12; i < len; i++)
		p[i] = (unsigned char)(th_rand(&s) | 1); /* never zero: torn tails are visible */
}

struct raft_entry th_entry(raft_index index, raft_term term, uint32_t tag, size_t len)
{
	struct raft_entry e = {.term = term, .index = index, .type = RAFT_ENTRY_NORMAL};
	if (len == 0)
		return e;
	if (len < 12)
		len = 12;
	unsigned char *p = malloc(len);
	fill(p, index, term, tag, len);
	e.buf = raft_buf_new(p, len);
	free(p);
	return e;
}

bool th_entry_check(const struct raft_entry *e, uint32_t *tag)
{
	size_t len = raft_entry_len(e);
	if (len == 0) {
		*tag = 0;
		return true;
	}
	if (len < 12)
		return false;
	const unsigned char *d = raft_entry_data(e);
	uint32_t t;
	memcpy(&t, d + 8, 4);
	unsigned char *want = malloc(len);
	fill(want, e->index, e->term, t, len);
	bool ok = memcmp(want, d, len) == 0;
	free(want);
	*tag = t;
	return ok;
}

void th_entries_release(struct raft_entry *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		raft_buf_unref(v[i].buf);
}

struct raft_conf th_conf3(void)
{
	struct raft_conf c = {.n_voters = 3, .voters = {1, 2, 3}};
	return c;
}

struct storage_options th_options(uint64_t segment)
{
	static struct raft_conf conf;
	conf = th_conf3();
	struct storage_options o = {
	    .cluster_id = 7,
	    .node_id = 1,
	    .bootstrap_conf = &conf,
	    .create = true,
	    .segment_size_bytes = segment,
	};
	return o;
}

bool th_boot_ok(const struct storage_recovered *rec)
{
	struct raft_config cfg;
	raft_config_default(&cfg, 1);
	struct raft_boot boot;
	storage_recovered_boot(rec, &boot);
	struct raft *r = NULL;
	int rv = raft_new(&r, &cfg, &boot);
	if (rv != 0)
		return false;
	raft_free(r);
	return true;
}

int th_list(struct crashfs *fs, const char *dir, char names[][SIO_NAME_MAX + 1], int max)
{
	struct sio_names n;
	struct sio *io = crashfs_io(fs);
	if (sio_list(io, dir, &n) != 0)
		return -1;
	int k = 0;
	for (uint32_t i = 0; i < n.n && k < max; i++)
		snprintf(names[k++], SIO_NAME_MAX + 1, "%s", n.v[i]);
	sio_names_free(&n);
	return k;
}
