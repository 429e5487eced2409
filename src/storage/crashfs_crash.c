/* crashfs_crash.c: crashing a crashfs (loss, tearing), and inspection and tampering for tests. */
#include "storage/crashfs_impl.h"

#include "base/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Crashes
 */

/* splitmix64: small, fast and good enough to pick crash outcomes. */
static uint64_t rng_next(struct crashfs *fs)
{
	uint64_t z = (fs->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n]. */
static uint64_t rng_upto(struct crashfs *fs, uint64_t n)
{
	return n == UINT64_MAX ? rng_next(fs) : rng_next(fs) % (n + 1);
}

static void crash_file(struct crashfs *fs, struct inode *f, enum crashfs_crash_mode mode)
{
	if (f->dirty_lo == UINT64_MAX && f->n_wops == 0)
		return; /* nothing unsynced: volatile equals durable */
	struct bytes next = {0};
	cfs_bytes_copy(&next, &f->dur);
	if (mode == CRASHFS_TEAR) {
		uint32_t keep = (uint32_t)rng_upto(fs, f->n_wops);
		for (uint32_t i = 0; i < keep; i++)
			cfs_wop_apply(&next, &f->wops[i], f->wops[i].len);
		if (keep < f->n_wops && f->wops[keep].kind == WOP_WRITE)
			cfs_wop_apply(&next, &f->wops[keep], rng_upto(fs, f->wops[keep].len));
	}
	cfs_bytes_free(&f->vol);
	f->vol = next;
	/* What survived the crash is what the disk holds: durable from now on. */
	cfs_bytes_copy(&f->dur, &f->vol);
	f->dirty_lo = UINT64_MAX;
	cfs_file_clear_wops(f);
}

static void crash_dir(struct crashfs *fs, struct inode *d, enum crashfs_crash_mode mode)
{
	if (d->n_dops == 0)
		return;
	struct dents next = {0};
	cfs_dents_copy(&next, &d->dents);
	if (mode == CRASHFS_TEAR) {
		uint32_t keep = (uint32_t)rng_upto(fs, d->n_dops);
		for (uint32_t i = 0; i < keep; i++)
			cfs_dop_apply(&next, &d->dops[i]);
	}
	cfs_dents_free(&d->vents);
	d->vents = next;
	cfs_dents_copy(&d->dents, &d->vents);
	cfs_dir_clear_dops(d);
}

void crashfs_crash(struct crashfs *fs, enum crashfs_crash_mode mode)
{
	pthread_mutex_lock(&fs->mu);
	for (uint32_t i = 0; i < fs->n_fds; i++) {
		if (fs->fds[i].used) {
			fs->inodes[fs->fds[i].ino].nfds--;
			fs->fds[i].used = false;
		}
	}
	if (mode != CRASHFS_PROCESS) {
		for (uint32_t i = 0; i < fs->n_inodes; i++) {
			struct inode *in = &fs->inodes[i];
			if (!in->used)
				continue;
			if (in->is_dir)
				crash_dir(fs, in, mode);
			else
				crash_file(fs, in, mode);
		}
	}
	cfs_collect(fs);
	pthread_mutex_unlock(&fs->mu);
}

/* ----------------------------------------------------------------------------------
 * Inspection and tampering
 */

int crashfs_read_file(struct crashfs *fs, const char *path, uint8_t **data, size_t *len)
{
	pthread_mutex_lock(&fs->mu);
	uint32_t ino;
	int rv = cfs_lookup(fs, path, &ino);
	if (rv == 0 && fs->inodes[ino].is_dir)
		rv = -EISDIR;
	if (rv == 0) {
		const struct bytes *b = &fs->inodes[ino].vol;
		*len = (size_t)b->size;
		*data = NULL;
		if (b->size > 0) {
			*data = xmalloc(b->size);
			if (b->len > 0)
				memcpy(*data, b->data, b->len);
			memset(*data + b->len, 0, b->size - b->len);
		}
	}
	pthread_mutex_unlock(&fs->mu);
	return rv;
}

int crashfs_write_file(struct crashfs *fs, const char *path, const void *data, size_t len)
{
	pthread_mutex_lock(&fs->mu);
	uint32_t ino;
	int rv = cfs_lookup(fs, path, &ino);
	if (rv == 0 && fs->inodes[ino].is_dir)
		rv = -EISDIR;
	if (rv == 0) {
		struct inode *f = &fs->inodes[ino];
		cfs_bytes_truncate(&f->vol, 0);
		cfs_bytes_write(&f->vol, 0, data, len);
		f->vol.size = len;
		f->dirty_lo = 0;
		cfs_file_sync(f);
	}
	pthread_mutex_unlock(&fs->mu);
	return rv;
}

int crashfs_corrupt(struct crashfs *fs, const char *path, uint64_t offset, uint8_t mask)
{
	pthread_mutex_lock(&fs->mu);
	uint32_t ino;
	int rv = cfs_lookup(fs, path, &ino);
	if (rv == 0 && fs->inodes[ino].is_dir)
		rv = -EISDIR;
	if (rv == 0 && offset >= fs->inodes[ino].vol.size)
		rv = -EINVAL;
	if (rv == 0) {
		struct inode *f = &fs->inodes[ino];
		struct bytes *views[2] = {&f->vol, &f->dur};
		for (int k = 0; k < 2; k++) {
			struct bytes *b = views[k];
			if (offset >= b->size)
				continue;
			uint8_t byte = offset < b->len ? b->data[offset] : 0;
			byte ^= mask;
			uint64_t size = b->size;
			cfs_bytes_write(b, offset, &byte, 1);
			b->size = size;
		}
	}
	pthread_mutex_unlock(&fs->mu);
	return rv;
}

uint64_t crashfs_bytes_held(const struct crashfs *fs)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < fs->n_inodes; i++) {
		const struct inode *in = &fs->inodes[i];
		if (!in->used)
			continue;
		n += in->vol.cap + in->dur.cap;
		for (uint32_t k = 0; k < in->n_wops; k++)
			n += in->wops[k].len;
	}
	return n;
}
