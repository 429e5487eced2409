/* crashfs_sio.c: crashfs's sio vtable: the thirteen file calls, on the model, under the mutex. */
#include "storage/crashfs_impl.h"

#include "base/alloc.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * The vtable
 */

#define FS(impl) ((struct crashfs *)(impl))

#define ENTER(fs, op)                                                                              \
	pthread_mutex_lock(&(fs)->mu);                                                             \
	do {                                                                                       \
		int fault_rv_ = sio_fault_check(&(fs)->fault, (op));                               \
		if (fault_rv_ != 0) {                                                              \
			pthread_mutex_unlock(&(fs)->mu);                                           \
			return fault_rv_;                                                          \
		}                                                                                  \
	} while (0)

#define LEAVE(fs, rv)                                                                              \
	do {                                                                                       \
		int leave_rv_ = (rv);                                                              \
		pthread_mutex_unlock(&(fs)->mu);                                                   \
		return leave_rv_;                                                                  \
	} while (0)

static int cfs_open(void *impl, const char *path, int flags, int *fd)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_OPEN);
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = cfs_resolve(fs, path, &parent, name);
	if (rv != 0)
		LEAVE(fs, rv);
	if (parent == INO_NONE)
		LEAVE(fs, -EISDIR);
	struct inode *dir = &fs->inodes[parent];
	int i = cfs_dents_find(&dir->vents, name);
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
		ino = cfs_inode_new(fs, false);
		dir = &fs->inodes[parent]; /* cfs_inode_new may have moved the array */
		cfs_dir_change(dir, DOP_ADD, name, NULL, ino);
	} else {
		ino = dir->vents.v[i].ino;
	}
	struct inode *f = &fs->inodes[ino];
	if ((flags & SIO_TRUNC) && (flags & SIO_RDWR) && f->vol.size > 0) {
		cfs_bytes_truncate(&f->vol, 0);
		cfs_file_mark_dirty(f, 0);
		cfs_file_log(f, WOP_TRUNCATE, 0, NULL, 0);
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
	struct inode *f = cfs_fd_file(fs, fd);
	if (f == NULL)
		LEAVE(fs, -EBADF);
	assert(f->nfds > 0);
	f->nfds--;
	fs->fds[fd].used = false;
	if (f->nfds == 0)
		cfs_collect(fs);
	LEAVE(fs, 0);
}

static int cfs_pread(void *impl, int fd, void *buf, size_t len, uint64_t off, size_t *n_read)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_PREAD);
	struct inode *f = cfs_fd_file(fs, fd);
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
	struct inode *f = cfs_fd_file(fs, fd);
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
	cfs_bytes_write(&f->vol, off, joined, total);
	cfs_file_mark_dirty(f, off);
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
	struct inode *f = cfs_fd_file(fs, fd);
	if (f == NULL)
		LEAVE(fs, -EBADF);
	if (f->is_dir)
		LEAVE(fs, -EINVAL); /* storage syncs directories by path */
	cfs_file_sync(f);
	LEAVE(fs, 0);
}

static int cfs_truncate(void *impl, int fd, uint64_t size_bytes)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_TRUNCATE);
	struct inode *f = cfs_fd_file(fs, fd);
	if (f == NULL || !fs->fds[fd].writable)
		LEAVE(fs, -EBADF);
	cfs_bytes_truncate(&f->vol, size_bytes);
	cfs_file_mark_dirty(f, size_bytes);
	cfs_file_log(f, WOP_TRUNCATE, size_bytes, NULL, 0);
	LEAVE(fs, 0);
}

static int cfs_allocate(void *impl, int fd, uint64_t size_bytes)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_ALLOCATE);
	struct inode *f = cfs_fd_file(fs, fd);
	if (f == NULL || !fs->fds[fd].writable)
		LEAVE(fs, -EBADF);
	if (size_bytes > f->vol.size) {
		cfs_file_mark_dirty(f, f->vol.size);
		cfs_bytes_allocate(&f->vol, size_bytes);
		cfs_file_log(f, WOP_ALLOCATE, size_bytes, NULL, 0);
	}
	LEAVE(fs, 0);
}

static int cfs_size(void *impl, int fd, uint64_t *size_bytes)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_SIZE);
	struct inode *f = cfs_fd_file(fs, fd);
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
	int rv = cfs_resolve(fs, from, &dir_from, name_from);
	if (rv == 0)
		rv = cfs_resolve(fs, to, &dir_to, name_to);
	if (rv != 0)
		LEAVE(fs, rv);
	if (dir_from == INO_NONE || dir_to == INO_NONE)
		LEAVE(fs, -EBUSY);
	if (dir_from != dir_to)
		LEAVE(fs, -EXDEV); /* storage renames within one directory only */
	struct inode *dir = &fs->inodes[dir_from];
	int i = cfs_dents_find(&dir->vents, name_from);
	if (i < 0)
		LEAVE(fs, -ENOENT);
	if (strcmp(name_from, name_to) == 0)
		LEAVE(fs, 0);
	int j = cfs_dents_find(&dir->vents, name_to);
	if (j >= 0 && fs->inodes[dir->vents.v[j].ino].is_dir)
		LEAVE(fs, -EISDIR);
	cfs_dir_change(dir, DOP_RENAME, name_from, name_to, INO_NONE);
	cfs_collect(fs);
	LEAVE(fs, 0);
}

static int cfs_unlink(void *impl, const char *path)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_UNLINK);
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = cfs_resolve(fs, path, &parent, name);
	if (rv != 0)
		LEAVE(fs, rv);
	if (parent == INO_NONE)
		LEAVE(fs, -EISDIR);
	struct inode *dir = &fs->inodes[parent];
	int i = cfs_dents_find(&dir->vents, name);
	if (i < 0)
		LEAVE(fs, -ENOENT);
	if (fs->inodes[dir->vents.v[i].ino].is_dir)
		LEAVE(fs, -EISDIR);
	cfs_dir_change(dir, DOP_REMOVE, name, NULL, INO_NONE);
	cfs_collect(fs);
	LEAVE(fs, 0);
}

static int cfs_mkdir(void *impl, const char *path)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_MKDIR);
	char name[SIO_NAME_MAX + 1];
	uint32_t parent;
	int rv = cfs_resolve(fs, path, &parent, name);
	if (rv != 0)
		LEAVE(fs, rv);
	if (parent == INO_NONE || cfs_dents_find(&fs->inodes[parent].vents, name) >= 0)
		LEAVE(fs, -EEXIST);
	uint32_t ino = cfs_inode_new(fs, true);
	cfs_dir_change(&fs->inodes[parent], DOP_ADD, name, NULL, ino);
	LEAVE(fs, 0);
}

static int cfs_sync_dir(void *impl, const char *path)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_SYNC_DIR);
	uint32_t ino;
	int rv = cfs_lookup(fs, path, &ino);
	if (rv != 0)
		LEAVE(fs, rv);
	struct inode *dir = &fs->inodes[ino];
	if (!dir->is_dir)
		LEAVE(fs, -ENOTDIR);
	cfs_dents_copy(&dir->dents, &dir->vents);
	cfs_dir_clear_dops(dir);
	cfs_collect(fs);
	LEAVE(fs, 0);
}

static int cfs_list(void *impl, const char *path, struct sio_names *names)
{
	struct crashfs *fs = FS(impl);
	ENTER(fs, SIO_LIST);
	uint32_t ino;
	int rv = cfs_lookup(fs, path, &ino);
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

const struct sio_vtable crashfs_vtable = {
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
