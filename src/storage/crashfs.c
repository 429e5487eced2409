/* crashfs.c: the in-memory crash file system behind simulated disks and crash tests. */
#include "storage/crashfs.h"

#include "base/alloc.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define INO_NONE UINT32_MAX
#define INO_ROOT 0u
#define CRASHFS_FDS_MAX 4096u
#define CRASHFS_INODES_MAX (1u << 20)
#define CRASHFS_DEPTH_MAX 64u

/* ----------------------------------------------------------------------------------
 * File content: `len` bytes materialized in `data`, then zeros up to `size` (what an
 * allocation or a truncation upward adds costs no memory).
 */

struct bytes {
	uint8_t *data;
	uint64_t len;
	uint64_t cap;
	uint64_t size;
};

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

static void bytes_write(struct bytes *b, uint64_t off, const uint8_t *src, uint64_t n)
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

static void bytes_truncate(struct bytes *b, uint64_t size)
{
	b->size = size;
	if (b->len > size)
		b->len = size;
}

static void bytes_allocate(struct bytes *b, uint64_t size)
{
	if (size > b->size)
		b->size = size;
}

static void bytes_copy(struct bytes *dst, const struct bytes *src)
{
	bytes_reserve(dst, src->len);
	if (src->len > 0)
		memcpy(dst->data, src->data, src->len);
	dst->len = src->len;
	dst->size = src->size;
}

static void bytes_free(struct bytes *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ----------------------------------------------------------------------------------
 * Unsynced operations, kept so that a tearing crash can replay a prefix of them.
 */

enum wop_kind { WOP_WRITE, WOP_TRUNCATE, WOP_ALLOCATE };

struct wop {
	enum wop_kind kind;
	uint64_t off; /* WRITE: offset; TRUNCATE, ALLOCATE: size */
	uint64_t len;
	uint8_t *data;
};

enum dop_kind { DOP_ADD, DOP_REMOVE, DOP_RENAME };

struct dop {
	enum dop_kind kind;
	char *name;
	char *to;     /* DOP_RENAME */
	uint32_t ino; /* DOP_ADD */
};

struct dent {
	char *name;
	uint32_t ino;
};

struct dents {
	struct dent *v;
	uint32_t n;
};

struct inode {
	bool used;
	bool is_dir;
	bool marked;
	uint32_t nfds;
	/* files */
	struct bytes vol;
	struct bytes dur;
	uint64_t dirty_lo; /* lowest offset changed since the last sync; UINT64_MAX: none */
	struct wop *wops;
	uint32_t n_wops;
	uint32_t cap_wops;
	/* directories */
	struct dents vents;
	struct dents dents;
	struct dop *dops;
	uint32_t n_dops;
	uint32_t cap_dops;
};

struct fdslot {
	bool used;
	bool writable;
	uint32_t ino;
};

struct crashfs {
	struct sio io;
	pthread_mutex_t mu;
	uint64_t rng;
	struct sio_fault fault;
	struct inode *inodes;
	uint32_t n_inodes;
	struct fdslot *fds;
	uint32_t n_fds;
};

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

/* ---- directory entries */

static void dents_free(struct dents *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

static void dents_copy(struct dents *dst, const struct dents *src)
{
	dents_free(dst);
	dst->v = xmalloc(sizeof(*dst->v) * (src->n ? src->n : 1));
	for (uint32_t i = 0; i < src->n; i++) {
		dst->v[i].name = xstrdup(src->v[i].name);
		dst->v[i].ino = src->v[i].ino;
	}
	dst->n = src->n;
}

static int dents_find(const struct dents *d, const char *name)
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
	int i = dents_find(d, name);
	if (i >= 0) {
		d->v[i].ino = ino;
		return;
	}
	d->v = xrealloc(d->v, sizeof(*d->v) * (d->n + 1));
	d->v[d->n].name = xstrdup(name);
	d->v[d->n].ino = ino;
	d->n++;
}

static void dop_apply(struct dents *d, const struct dop *op)
{
	int i;
	switch (op->kind) {
	case DOP_ADD:
		dents_add(d, op->name, op->ino);
		break;
	case DOP_REMOVE:
		i = dents_find(d, op->name);
		if (i >= 0)
			dents_remove_at(d, i);
		break;
	case DOP_RENAME:
		i = dents_find(d, op->name);
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
static void dir_change(struct inode *dir, enum dop_kind kind, const char *name, const char *to,
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
	dop_apply(&dir->vents, op);
}

static void dir_clear_dops(struct inode *dir)
{
	for (uint32_t i = 0; i < dir->n_dops; i++)
		dop_free(&dir->dops[i]);
	dir->n_dops = 0;
}

/* ---- file operations */

static void file_clear_wops(struct inode *f)
{
	for (uint32_t i = 0; i < f->n_wops; i++)
		free(f->wops[i].data);
	f->n_wops = 0;
}

static void file_log(struct inode *f, enum wop_kind kind, uint64_t off, const uint8_t *data,
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

static void wop_apply(struct bytes *b, const struct wop *op, uint64_t len)
{
	switch (op->kind) {
	case WOP_WRITE:
		bytes_write(b, op->off, op->data, len);
		break;
	case WOP_TRUNCATE:
		bytes_truncate(b, op->off);
		break;
	case WOP_ALLOCATE:
		bytes_allocate(b, op->off);
		break;
	}
}

static void file_mark_dirty(struct inode *f, uint64_t lo)
{
	if (lo < f->dirty_lo)
		f->dirty_lo = lo;
}

/* Makes the volatile content durable, copying only what changed since the last sync. */
static void file_sync(struct inode *f)
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
	file_clear_wops(f);
}

/* ---- inodes */

static uint32_t inode_new(struct crashfs *fs, bool is_dir)
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
	bytes_free(&in->vol);
	bytes_free(&in->dur);
	file_clear_wops(in);
	free(in->wops);
	dents_free(&in->vents);
	dents_free(&in->dents);
	dir_clear_dops(in);
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
static void collect(struct crashfs *fs)
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
static int resolve(struct crashfs *fs, const char *path, uint32_t *parent, char *name)
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
			int i = dents_find(&d->vents, name);
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
static int lookup(struct crashfs *fs, const char *path, uint32_t *ino)
{
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = resolve(fs, path, &parent, name);
	if (rv != 0)
		return rv;
	if (parent == INO_NONE) {
		*ino = INO_ROOT;
		return 0;
	}
	int i = dents_find(&fs->inodes[parent].vents, name);
	if (i < 0)
		return -ENOENT;
	*ino = fs->inodes[parent].vents.v[i].ino;
	return 0;
}

static struct inode *fd_file(struct crashfs *fs, int fd)
{
	if (fd < 0 || (uint32_t)fd >= fs->n_fds || !fs->fds[fd].used)
		return NULL;
	return &fs->inodes[fs->fds[fd].ino];
}

/* ----------------------------------------------------------------------------------
 * The vtable
 */

#define FS(impl) ((struct crashfs *)(impl))

#define ENTER(fs, op)                                                                      \
	pthread_mutex_lock(&(fs)->mu);                                                     \
	do {                                                                               \
		int fault_rv_ = sio_fault_check(&(fs)->fault, (op));                       \
		if (fault_rv_ != 0) {                                                      \
			pthread_mutex_unlock(&(fs)->mu);                                   \
			return fault_rv_;                                                  \
		}                                                                          \
	} while (0)

#define LEAVE(fs, rv)                                                                      \
	do {                                                                               \
		int leave_rv_ = (rv);                                                      \
		pthread_mutex_unlock(&(fs)->mu);                                           \
		return leave_rv_;                                                          \
	} while (0)

static int cfs_open(void *impl, const char *path, int flags, int *fd)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_OPEN);
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = resolve(fs, path, &parent, name);
	if (rv != 0)
		LEAVE(fs, rv);
	if (parent == INO_NONE)
		LEAVE(fs, -EISDIR);
	struct inode *dir = &fs->inodes[parent];
	int i = dents_find(&dir->vents, name);
	if (i >= 0 && (flags & SIO_CREATE) && (flags & SIO_EXCL))
		LEAVE(fs, -EEXIST);
	if (i < 0 && !(flags & SIO_CREATE))
		LEAVE(fs, -ENOENT);
	if (i >= 0 && fs->inodes[dir->vents.v[i].ino].is_dir && (flags & SIO_RDWR))
		LEAVE(fs, -EISDIR);
	uint32_t slot = UINT32_MAX;
	for (uint32_t k = 0; k < fs->n_fds; k++) {
		if (!fs->fds[k].used) {
			slot = k;
			break;
		}
	}
	if (slot == UINT32_MAX) {
		if (fs->n_fds >= CRASHFS_FDS_MAX)
			LEAVE(fs, -EMFILE);
		fs->fds = xrealloc(fs->fds, sizeof(*fs->fds) * (fs->n_fds + 1));
		slot = fs->n_fds++;
	}
	uint32_t ino;
	if (i < 0) {
		ino = inode_new(fs, false);
		dir = &fs->inodes[parent]; /* inode_new may have moved the array */
		dir_change(dir, DOP_ADD, name, NULL, ino);
	} else {
		ino = dir->vents.v[i].ino;
	}
	struct inode *f = &fs->inodes[ino];
	if ((flags & SIO_TRUNC) && (flags & SIO_RDWR) && f->vol.size > 0) {
		bytes_truncate(&f->vol, 0);
		file_mark_dirty(f, 0);
		file_log(f, WOP_TRUNCATE, 0, NULL, 0);
	}
	f->nfds++;
	fs->fds[slot].used = true;
	fs->fds[slot].writable = (flags & SIO_RDWR) != 0;
	fs->fds[slot].ino = ino;
	*fd = (int)slot;
	LEAVE(fs, 0);
}

static int cfs_close(void *impl, int fd)
{
	struct crashfs *fs = FS(impl);
	pthread_mutex_lock(&fs->mu);
	sio_fault_check(&fs->fault, SIO_CLOSE); /* counted; a close always releases */
	struct inode *f = fd_file(fs, fd);
	if (f == NULL)
		LEAVE(fs, -EBADF);
	assert(f->nfds > 0);
	f->nfds--;
	fs->fds[fd].used = false;
	if (f->nfds == 0)
		collect(fs);
	LEAVE(fs, 0);
}

static int cfs_pread(void *impl, int fd, void *buf, size_t len, uint64_t off, size_t *n_read)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_PREAD);
	struct inode *f = fd_file(fs, fd);
	if (f == NULL)
		LEAVE(fs, -EBADF);
	if (f->is_dir)
		LEAVE(fs, -EISDIR);
	const struct bytes *b = &f->vol;
	size_t n = 0;
	if (off < b->size) {
		uint64_t avail = b->size - off;
		n = len < avail ? len : (size_t)avail;
	}
	size_t from_data = 0;
	if (off < b->len) {
		uint64_t avail = b->len - off;
		from_data = n < avail ? n : (size_t)avail;
		memcpy(buf, b->data + off, from_data);
	}
	if (n > from_data)
		memset((uint8_t *)buf + from_data, 0, n - from_data);
	*n_read = n;
	LEAVE(fs, 0);
}

static int cfs_pwritev(void *impl, int fd, const struct iovec *iov, int n_iov, uint64_t off)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_PWRITE);
	struct inode *f = fd_file(fs, fd);
	if (f == NULL || !fs->fds[fd].writable)
		LEAVE(fs, -EBADF);
	size_t total = 0;
	for (int i = 0; i < n_iov; i++)
		total += iov[i].iov_len;
	if (total == 0)
		LEAVE(fs, 0);
	/* One logged write per call: a tearing crash may cut it anywhere. */
	uint8_t *joined = xmalloc(total);
	size_t at = 0;
	for (int i = 0; i < n_iov; i++) {
		if (iov[i].iov_len > 0)
			memcpy(joined + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	bytes_write(&f->vol, off, joined, total);
	file_mark_dirty(f, off);
	if (f->n_wops == f->cap_wops) {
		f->cap_wops = f->cap_wops ? f->cap_wops * 2 : 8;
		f->wops = xrealloc(f->wops, sizeof(*f->wops) * f->cap_wops);
	}
	struct wop *op = &f->wops[f->n_wops++];
	op->kind = WOP_WRITE;
	op->off = off;
	op->len = total;
	op->data = joined;
	LEAVE(fs, 0);
}

static int cfs_sync(void *impl, int fd, bool data_only)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, data_only ? SIO_FDATASYNC : SIO_FSYNC);
	struct inode *f = fd_file(fs, fd);
	if (f == NULL)
		LEAVE(fs, -EBADF);
	if (f->is_dir)
		LEAVE(fs, -EINVAL); /* storage syncs directories by path */
	file_sync(f);
	LEAVE(fs, 0);
}

static int cfs_truncate(void *impl, int fd, uint64_t size_bytes)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_TRUNCATE);
	struct inode *f = fd_file(fs, fd);
	if (f == NULL || !fs->fds[fd].writable)
		LEAVE(fs, -EBADF);
	bytes_truncate(&f->vol, size_bytes);
	file_mark_dirty(f, size_bytes);
	file_log(f, WOP_TRUNCATE, size_bytes, NULL, 0);
	LEAVE(fs, 0);
}

static int cfs_allocate(void *impl, int fd, uint64_t size_bytes)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_ALLOCATE);
	struct inode *f = fd_file(fs, fd);
	if (f == NULL || !fs->fds[fd].writable)
		LEAVE(fs, -EBADF);
	if (size_bytes > f->vol.size) {
		file_mark_dirty(f, f->vol.size);
		bytes_allocate(&f->vol, size_bytes);
		file_log(f, WOP_ALLOCATE, size_bytes, NULL, 0);
	}
	LEAVE(fs, 0);
}

static int cfs_size(void *impl, int fd, uint64_t *size_bytes)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_SIZE);
	struct inode *f = fd_file(fs, fd);
	if (f == NULL)
		LEAVE(fs, -EBADF);
	*size_bytes = f->is_dir ? 0 : f->vol.size;
	LEAVE(fs, 0);
}

static int cfs_rename(void *impl, const char *from, const char *to)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_RENAME);
	char name_from[SIO_NAME_MAX + 1];
	char name_to[SIO_NAME_MAX + 1];
	uint32_t dir_from, dir_to;
	int rv = resolve(fs, from, &dir_from, name_from);
	if (rv == 0)
		rv = resolve(fs, to, &dir_to, name_to);
	if (rv != 0)
		LEAVE(fs, rv);
	if (dir_from == INO_NONE || dir_to == INO_NONE)
		LEAVE(fs, -EBUSY);
	if (dir_from != dir_to)
		LEAVE(fs, -EXDEV); /* storage renames within one directory only */
	struct inode *dir = &fs->inodes[dir_from];
	int i = dents_find(&dir->vents, name_from);
	if (i < 0)
		LEAVE(fs, -ENOENT);
	if (strcmp(name_from, name_to) == 0)
		LEAVE(fs, 0);
	int j = dents_find(&dir->vents, name_to);
	if (j >= 0 && fs->inodes[dir->vents.v[j].ino].is_dir)
		LEAVE(fs, -EISDIR);
	dir_change(dir, DOP_RENAME, name_from, name_to, INO_NONE);
	collect(fs);
	LEAVE(fs, 0);
}

static int cfs_unlink(void *impl, const char *path)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_UNLINK);
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = resolve(fs, path, &parent, name);
	if (rv != 0)
		LEAVE(fs, rv);
	if (parent == INO_NONE)
		LEAVE(fs, -EISDIR);
	struct inode *dir = &fs->inodes[parent];
	int i = dents_find(&dir->vents, name);
	if (i < 0)
		LEAVE(fs, -ENOENT);
	if (fs->inodes[dir->vents.v[i].ino].is_dir)
		LEAVE(fs, -EISDIR);
	dir_change(dir, DOP_REMOVE, name, NULL, INO_NONE);
	collect(fs);
	LEAVE(fs, 0);
}

static int cfs_mkdir(void *impl, const char *path)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_MKDIR);
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = resolve(fs, path, &parent, name);
	if (rv != 0)
		LEAVE(fs, rv);
	if (parent == INO_NONE || dents_find(&fs->inodes[parent].vents, name) >= 0)
		LEAVE(fs, -EEXIST);
	uint32_t ino = inode_new(fs, true);
	dir_change(&fs->inodes[parent], DOP_ADD, name, NULL, ino);
	LEAVE(fs, 0);
}

static int cfs_sync_dir(void *impl, const char *path)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_SYNC_DIR);
	uint32_t ino;
	int rv = lookup(fs, path, &ino);
	if (rv != 0)
		LEAVE(fs, rv);
	struct inode *dir = &fs->inodes[ino];
	if (!dir->is_dir)
		LEAVE(fs, -ENOTDIR);
	dents_copy(&dir->dents, &dir->vents);
	dir_clear_dops(dir);
	collect(fs);
	LEAVE(fs, 0);
}

static int cfs_list(void *impl, const char *path, struct sio_names *names)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_LIST);
	uint32_t ino;
	int rv = lookup(fs, path, &ino);
	if (rv != 0)
		LEAVE(fs, rv);
	const struct inode *dir = &fs->inodes[ino];
	if (!dir->is_dir)
		LEAVE(fs, -ENOTDIR);
	names->n = dir->vents.n;
	names->v = xmalloc(sizeof(*names->v) * (dir->vents.n ? dir->vents.n : 1));
	for (uint32_t i = 0; i < dir->vents.n; i++)
		names->v[i] = xstrdup(dir->vents.v[i].name);
	LEAVE(fs, 0);
}

static const struct sio_vtable crashfs_vtable = {
	.open = cfs_open,
	.close = cfs_close,
	.pread = cfs_pread,
	.pwritev = cfs_pwritev,
	.sync = cfs_sync,
	.truncate = cfs_truncate,
	.allocate = cfs_allocate,
	.size = cfs_size,
	.rename = cfs_rename,
	.unlink = cfs_unlink,
	.mkdir = cfs_mkdir,
	.sync_dir = cfs_sync_dir,
	.list = cfs_list,
};

/* ----------------------------------------------------------------------------------
 * Public API
 */

struct crashfs *crashfs_new(uint64_t seed)
{
	struct crashfs *fs = xmalloc(sizeof(*fs));
	memset(fs, 0, sizeof(*fs));
	fs->io.vt = &crashfs_vtable;
	fs->io.impl = fs;
	fs->rng = seed;
	pthread_mutex_init(&fs->mu, NULL);
	uint32_t root = inode_new(fs, true);
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

static void crash_file(struct crashfs *fs, struct inode *f, enum crashfs_crash_mode mode)
{
	if (f->dirty_lo == UINT64_MAX && f->n_wops == 0)
		return; /* nothing unsynced: volatile equals durable */
	struct bytes next = {0};
	bytes_copy(&next, &f->dur);
	if (mode == CRASHFS_TEAR) {
		uint32_t keep = (uint32_t)rng_upto(fs, f->n_wops);
		for (uint32_t i = 0; i < keep; i++)
			wop_apply(&next, &f->wops[i], f->wops[i].len);
		if (keep < f->n_wops && f->wops[keep].kind == WOP_WRITE)
			wop_apply(&next, &f->wops[keep], rng_upto(fs, f->wops[keep].len));
	}
	bytes_free(&f->vol);
	f->vol = next;
	/* What survived the crash is what the disk holds: durable from now on. */
	bytes_copy(&f->dur, &f->vol);
	f->dirty_lo = UINT64_MAX;
	file_clear_wops(f);
}

static void crash_dir(struct crashfs *fs, struct inode *d, enum crashfs_crash_mode mode)
{
	if (d->n_dops == 0)
		return;
	struct dents next = {0};
	dents_copy(&next, &d->dents);
	if (mode == CRASHFS_TEAR) {
		uint32_t keep = (uint32_t)rng_upto(fs, d->n_dops);
		for (uint32_t i = 0; i < keep; i++)
			dop_apply(&next, &d->dops[i]);
	}
	dents_free(&d->vents);
	d->vents = next;
	dents_copy(&d->dents, &d->vents);
	dir_clear_dops(d);
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
	collect(fs);
	pthread_mutex_unlock(&fs->mu);
}

int crashfs_read_file(struct crashfs *fs, const char *path, uint8_t **data, size_t *len)
{
	pthread_mutex_lock(&fs->mu);
	uint32_t ino;
	int rv = lookup(fs, path, &ino);
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
	int rv = lookup(fs, path, &ino);
	if (rv == 0 && fs->inodes[ino].is_dir)
		rv = -EISDIR;
	if (rv == 0) {
		struct inode *f = &fs->inodes[ino];
		bytes_truncate(&f->vol, 0);
		bytes_write(&f->vol, 0, data, len);
		f->vol.size = len;
		f->dirty_lo = 0;
		file_sync(f);
	}
	pthread_mutex_unlock(&fs->mu);
	return rv;
}

int crashfs_corrupt(struct crashfs *fs, const char *path, uint64_t offset, uint8_t mask)
{
	pthread_mutex_lock(&fs->mu);
	uint32_t ino;
	int rv = lookup(fs, path, &ino);
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
			bytes_write(b, offset, &byte, 1);
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
