/* crashfs.c: the in-memory crash file system behind simulated disks and crash tests: its model. */
/* (The sio calls live in crashfs_sio.c; crashes, inspection and tampering in crashfs_crash.c.) */
#include "storage/crashfs_impl.h"

#include "base/alloc.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * File content (struct bytes)
 */

static void bytes_reserve(struct bytes *b, uint64_t n)
{
	if (n <= b->cap)
		return;
	uint64_t cap = b->cap ? b->cap : 4096;
	while (cap < n)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void cfs_bytes_write(struct bytes *b, uint64_t off, const uint8_t *src, uint64_t n)
{
	if (n == 0)
		return;
	bytes_reserve(b, off + n);
	if (off > b->len)
		memset(b->data + b->len, 0, off - b->len);
	memcpy(b->data + off, src, n);
	if (off + n > b->len)
		b->len = off + n;
	if (b->len > b->size)
		b->size = b->len;
}

void cfs_bytes_truncate(struct bytes *b, uint64_t size)
{
	b->size = size;
	if (b->len > size)
		b->len = size;
}

void cfs_bytes_allocate(struct bytes *b, uint64_t size)
{
	if (size > b->size)
		b->size = size;
}

void cfs_bytes_copy(struct bytes *dst, const struct bytes *src)
{
	bytes_reserve(dst, src->len);
	if (src->len > 0)
		memcpy(dst->data, src->data, src->len);
	dst->len = src->len;
	dst->size = src->size;
}

void cfs_bytes_free(struct bytes *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ----------------------------------------------------------------------------------
 * Files, directories, inodes and paths
 */

/* ---- directory entries */

void cfs_dents_free(struct dents *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

void cfs_dents_copy(struct dents *dst, const struct dents *src)
{
	cfs_dents_free(dst);
	dst->v = xmalloc(sizeof(*dst->v) * (src->n ? src->n : 1));
	for (uint32_t i = 0; i < src->n; i++) {
		dst->v[i].name = xstrdup(src->v[i].name);
		dst->v[i].ino = src->v[i].ino;
	}
	dst->n = src->n;
}

int cfs_dents_find(const struct dents *d, const char *name)
{
	for (uint32_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void dents_remove_at(struct dents *d, int i)
{
	assert(i >= 0);
	assert((uint32_t)i < d->n);
	free(d->v[i].name);
	d->v[i] = d->v[d->n - 1];
	d->n--;
}

static void dents_add(struct dents *d, const char *name, uint32_t ino)
{
	int i = cfs_dents_find(d, name);
	if (i >= 0) {
		d->v[i].ino = ino;
		return;
	}
	d->v = xrealloc(d->v, sizeof(*d->v) * (d->n + 1));
	d->v[d->n].name = xstrdup(name);
	d->v[d->n].ino = ino;
	d->n++;
}

void cfs_dop_apply(struct dents *d, const struct dop *op)
{
	int i;
	switch (op->kind) {
	case DOP_ADD:
		dents_add(d, op->name, op->ino);
		break;
	case DOP_REMOVE:
		i = cfs_dents_find(d, op->name);
		if (i >= 0)
			dents_remove_at(d, i);
		break;
	case DOP_RENAME:
		i = cfs_dents_find(d, op->name);
		if (i >= 0) {
			uint32_t ino = d->v[i].ino;
			dents_remove_at(d, i);
			dents_add(d, op->to, ino);
		}
		break;
	}
}

static void dop_free(struct dop *op)
{
	free(op->name);
	free(op->to);
}

/* Records a directory change in the volatile entries and in the unsynced log. */
void cfs_dir_change(struct inode *dir, enum dop_kind kind, const char *name, const char *to,
                    uint32_t ino)
{
	assert(dir->is_dir);
	if (dir->n_dops == dir->cap_dops) {
		dir->cap_dops = dir->cap_dops ? dir->cap_dops * 2 : 8;
		dir->dops = xrealloc(dir->dops, sizeof(*dir->dops) * dir->cap_dops);
	}
	struct dop *op = &dir->dops[dir->n_dops++];
	op->kind = kind;
	op->name = xstrdup(name);
	op->to = to ? xstrdup(to) : NULL;
	op->ino = ino;
	cfs_dop_apply(&dir->vents, op);
}

void cfs_dir_clear_dops(struct inode *dir)
{
	for (uint32_t i = 0; i < dir->n_dops; i++)
		dop_free(&dir->dops[i]);
	dir->n_dops = 0;
}

/* ---- file operations */

void cfs_file_clear_wops(struct inode *f)
{
	for (uint32_t i = 0; i < f->n_wops; i++)
		free(f->wops[i].data);
	f->n_wops = 0;
}

void cfs_file_log(struct inode *f, enum wop_kind kind, uint64_t off, const uint8_t *data,
                  uint64_t len)
{
	if (f->n_wops == f->cap_wops) {
		f->cap_wops = f->cap_wops ? f->cap_wops * 2 : 8;
		f->wops = xrealloc(f->wops, sizeof(*f->wops) * f->cap_wops);
	}
	struct wop *op = &f->wops[f->n_wops++];
	op->kind = kind;
	op->off = off;
	op->len = len;
	op->data = NULL;
	if (len > 0) {
		op->data = xmalloc(len);
		memcpy(op->data, data, len);
	}
}

void cfs_wop_apply(struct bytes *b, const struct wop *op, uint64_t len)
{
	switch (op->kind) {
	case WOP_WRITE:
		cfs_bytes_write(b, op->off, op->data, len);
		break;
	case WOP_TRUNCATE:
		cfs_bytes_truncate(b, op->off);
		break;
	case WOP_ALLOCATE:
		cfs_bytes_allocate(b, op->off);
		break;
	}
}

void cfs_file_mark_dirty(struct inode *f, uint64_t lo)
{
	if (lo < f->dirty_lo)
		f->dirty_lo = lo;
}

/* Makes the volatile content durable, copying only what changed since the last sync. */
void cfs_file_sync(struct inode *f)
{
	assert(!f->is_dir);
	if (f->dirty_lo != UINT64_MAX || f->n_wops > 0) {
		uint64_t lo = f->dirty_lo < f->dur.len ? f->dirty_lo : f->dur.len;
		bytes_reserve(&f->dur, f->vol.len);
		if (f->vol.len > lo)
			memcpy(f->dur.data + lo, f->vol.data + lo, f->vol.len - lo);
		f->dur.len = f->vol.len;
		f->dur.size = f->vol.size;
	}
	f->dirty_lo = UINT64_MAX;
	cfs_file_clear_wops(f);
}

/* ---- inodes */

uint32_t cfs_inode_new(struct crashfs *fs, bool is_dir)
{
	uint32_t ino = INO_NONE;
	for (uint32_t i = 0; i < fs->n_inodes; i++) {
		if (!fs->inodes[i].used) {
			ino = i;
			break;
		}
	}
	if (ino == INO_NONE) {
		assert(fs->n_inodes < CRASHFS_INODES_MAX);
		fs->inodes = xrealloc(fs->inodes, sizeof(*fs->inodes) * (fs->n_inodes + 1));
		ino = fs->n_inodes++;
	}
	struct inode *in = &fs->inodes[ino];
	memset(in, 0, sizeof(*in));
	in->used = true;
	in->is_dir = is_dir;
	in->dirty_lo = UINT64_MAX;
	return ino;
}

static void inode_release(struct inode *in)
{
	cfs_bytes_free(&in->vol);
	cfs_bytes_free(&in->dur);
	cfs_file_clear_wops(in);
	free(in->wops);
	cfs_dents_free(&in->vents);
	cfs_dents_free(&in->dents);
	cfs_dir_clear_dops(in);
	free(in->dops);
	memset(in, 0, sizeof(*in));
}

static void mark(struct crashfs *fs, uint32_t ino, uint32_t depth)
{
	if (ino >= fs->n_inodes || !fs->inodes[ino].used || fs->inodes[ino].marked)
		return;
	assert(depth < CRASHFS_DEPTH_MAX);
	struct inode *in = &fs->inodes[ino];
	in->marked = true;
	if (!in->is_dir)
		return;
	for (uint32_t i = 0; i < in->vents.n; i++)
		mark(fs, in->vents.v[i].ino, depth + 1);
	for (uint32_t i = 0; i < in->dents.n; i++)
		mark(fs, in->dents.v[i].ino, depth + 1);
	for (uint32_t i = 0; i < in->n_dops; i++)
		if (in->dops[i].kind == DOP_ADD)
			mark(fs, in->dops[i].ino, depth + 1);
}

/* Frees every inode that no directory (volatile, durable or pending) names and no
 * descriptor holds: nothing can ever reach it again. */
void cfs_collect(struct crashfs *fs)
{
	for (uint32_t i = 0; i < fs->n_inodes; i++)
		fs->inodes[i].marked = false;
	mark(fs, INO_ROOT, 0);
	for (uint32_t i = 0; i < fs->n_inodes; i++) {
		struct inode *in = &fs->inodes[i];
		if (in->used && !in->marked && in->nfds == 0)
			inode_release(in);
	}
}

/* ---- paths */

/* Splits `path` into its parent directory (resolved) and last component. The root itself
 * has no parent: *parent = INO_NONE and name is empty. */
int cfs_resolve(struct crashfs *fs, const char *path, uint32_t *parent, char *name)
{
	if (strlen(path) >= SIO_PATH_MAX)
		return -ENAMETOOLONG;
	uint32_t dir = INO_ROOT;
	uint32_t up = INO_NONE;
	const char *p = path;
	name[0] = '\0';
	uint32_t depth = 0;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > SIO_NAME_MAX)
			return -ENAMETOOLONG;
		if (n == 1 && p[0] == '.') {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (++depth > CRASHFS_DEPTH_MAX)
			return -ENAMETOOLONG;
		if (name[0] != '\0') {
			/* the previous component must be a directory to go through */
			const struct inode *d = &fs->inodes[dir];
			int i = cfs_dents_find(&d->vents, name);
			if (i < 0)
				return -ENOENT;
			uint32_t next = d->vents.v[i].ino;
			if (!fs->inodes[next].is_dir)
				return -ENOTDIR;
			up = dir;
			dir = next;
		}
		(void)up;
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
	}
	*parent = name[0] == '\0' ? INO_NONE : dir;
	return 0;
}

/* The inode `path` names, or a negative errno. */
int cfs_lookup(struct crashfs *fs, const char *path, uint32_t *ino)
{
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = cfs_resolve(fs, path, &parent, name);
	if (rv != 0)
		return rv;
	if (parent == INO_NONE) {
		*ino = INO_ROOT;
		return 0;
	}
	int i = cfs_dents_find(&fs->inodes[parent].vents, name);
	if (i < 0)
		return -ENOENT;
	*ino = fs->inodes[parent].vents.v[i].ino;
	return 0;
}

struct inode *cfs_fd_file(struct crashfs *fs, int fd)
{
	if (fd < 0 || (uint32_t)fd >= fs->n_fds || !fs->fds[fd].used)
		return NULL;
	return &fs->inodes[fs->fds[fd].ino];
}

/* ----------------------------------------------------------------------------------
 * Creating and freeing
 */

struct crashfs *crashfs_new(uint64_t seed)
{
	struct crashfs *fs = xmalloc(sizeof(*fs));
	memset(fs, 0, sizeof(*fs));
	fs->io.vt = &crashfs_vtable;
	fs->io.impl = fs;
	fs->rng = seed;
	pthread_mutex_init(&fs->mu, NULL);
	uint32_t root = cfs_inode_new(fs, true);
	assert(root == INO_ROOT);
	(void)root;
	return fs;
}

void crashfs_free(struct crashfs *fs)
{
	if (fs == NULL)
		return;
	for (uint32_t i = 0; i < fs->n_inodes; i++)
		if (fs->inodes[i].used)
			inode_release(&fs->inodes[i]);
	free(fs->inodes);
	free(fs->fds);
	pthread_mutex_destroy(&fs->mu);
	free(fs);
}

struct sio *crashfs_io(struct crashfs *fs)
{
	return &fs->io;
}

struct sio_fault *crashfs_fault(struct crashfs *fs)
{
	return &fs->fault;
}
