/* io.c: the real POSIX implementation of the I/O seam, fault injection, and shared helpers. */
#include "storage/io.h"

#include "base/alloc.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *sio_op_name(enum sio_op op)
{
	static const char *const names[] = {
#define SIO_OP_NAME_(name, text) text,
	    SIO_OPS(SIO_OP_NAME_)
#undef SIO_OP_NAME_
	};
	if ((int)op < 0 || op >= SIO_OP_COUNT_)
		return "unknown";
	return names[op];
}

void sio_names_free(struct sio_names *names)
{
	for (uint32_t i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
	names->v = NULL;
	names->n = 0;
}

int sio_pread_exact(struct sio *io, int fd, void *buf, size_t len, uint64_t off)
{
	size_t n = 0;
	int rv = sio_pread(io, fd, buf, len, off, &n);
	if (rv != 0)
		return rv;
	if (n != len)
		return -EIO;
	return 0;
}

int sio_read_file(struct sio *io, const char *path, uint64_t max_bytes, uint8_t **data, size_t *len)
{
	int fd;
	int rv = sio_open(io, path, SIO_RDONLY, &fd);
	if (rv != 0)
		return rv;
	uint64_t size = 0;
	rv = sio_size(io, fd, &size);
	if (rv == 0 && size > max_bytes)
		rv = -EFBIG;
	uint8_t *buf = NULL;
	if (rv == 0 && size > 0) {
		buf = xmalloc(size);
		rv = sio_pread_exact(io, fd, buf, size, 0);
	}
	sio_close(io, fd);
	if (rv != 0) {
		free(buf);
		return rv;
	}
	*data = buf;
	*len = size;
	return 0;
}

/* ----------------------------------------------------------------------------------
 * POSIX
 */

static int posix_open(void *impl, const char *path, int flags, int *fd)
{
	(void)impl;
	int oflags = O_CLOEXEC;
	oflags |= (flags & SIO_RDWR) ? O_RDWR : O_RDONLY;
	if (flags & SIO_CREATE)
		oflags |= O_CREAT;
	if (flags & SIO_EXCL)
		oflags |= O_EXCL;
	if (flags & SIO_TRUNC)
		oflags |= O_TRUNC;
	int f;
	do {
		f = open(path, oflags, 0644);
	} while (f < 0 && errno == EINTR);
	if (f < 0)
		return -errno;
	*fd = f;
	return 0;
}

static int posix_close(void *impl, int fd)
{
	(void)impl;
	/* Linux releases the descriptor even when close reports an error; retrying on
	 * EINTR could close a descriptor another thread just opened. */
	if (close(fd) != 0 && errno != EINTR)
		return -errno;
	return 0;
}

static int posix_pread(void *impl, int fd, void *buf, size_t len, uint64_t off, size_t *n_read)
{
	(void)impl;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*n_read = done;
	return 0;
}

static int posix_pwritev(void *impl, int fd, const struct iovec *iov, int n_iov, uint64_t off)
{
	(void)impl;
	/* pwritev may write less than asked (signals, IOV_MAX, large counts): advance
	 * through the vector until every byte is written. */
	struct iovec local[256]; /* below IOV_MAX (1024 on Linux) */
	int i = 0;
	size_t skip = 0; /* bytes of iov[i] already written */
	while (i < n_iov) {
		int k = 0;
		for (int j = i; j < n_iov && k < 256; j++, k++) {
			local[k] = iov[j];
			if (j == i) {
				local[k].iov_base = (char *)iov[j].iov_base + skip;
				local[k].iov_len = iov[j].iov_len - skip;
			}
		}
		ssize_t n = pwritev(fd, local, k, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
		size_t left = (size_t)n;
		while (i < n_iov && left >= iov[i].iov_len - skip) {
			left -= iov[i].iov_len - skip;
			skip = 0;
			i++;
		}
		skip += left;
	}
	return 0;
}

static int posix_sync(void *impl, int fd, bool data_only)
{
	(void)impl;
	int rv;
	do {
		rv = data_only ? fdatasync(fd) : fsync(fd);
	} while (rv != 0 && errno == EINTR);
	return rv != 0 ? -errno : 0;
}

static int posix_truncate(void *impl, int fd, uint64_t size_bytes)
{
	(void)impl;
	int rv;
	do {
		rv = ftruncate(fd, (off_t)size_bytes);
	} while (rv != 0 && errno == EINTR);
	return rv != 0 ? -errno : 0;
}

static int posix_size(void *impl, int fd, uint64_t *size_bytes)
{
	(void)impl;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	*size_bytes = (uint64_t)st.st_size;
	return 0;
}

static int posix_allocate(void *impl, int fd, uint64_t size_bytes)
{
	uint64_t cur;
	int rv = posix_size(impl, fd, &cur);
	if (rv != 0 || cur >= size_bytes)
		return rv;
	do {
		rv = fallocate(fd, 0, (off_t)cur, (off_t)(size_bytes - cur));
	} while (rv != 0 && errno == EINTR);
	if (rv == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	/* The file system cannot reserve blocks: write the zeros instead. */
	static const char zeros[65536];
	while (cur < size_bytes) {
		size_t n =
		    size_bytes - cur < sizeof(zeros) ? (size_t)(size_bytes - cur) : sizeof(zeros);
		struct iovec iov = {.iov_base = (void *)zeros, .iov_len = n};
		rv = posix_pwritev(impl, fd, &iov, 1, cur);
		if (rv != 0)
			return rv;
		cur += n;
	}
	return 0;
}

static int posix_rename(void *impl, const char *from, const char *to)
{
	(void)impl;
	return rename(from, to) != 0 ? -errno : 0;
}

static int posix_unlink(void *impl, const char *path)
{
	(void)impl;
	return unlink(path) != 0 ? -errno : 0;
}

static int posix_mkdir(void *impl, const char *path)
{
	(void)impl;
	return mkdir(path, 0755) != 0 ? -errno : 0;
}

static int posix_sync_dir(void *impl, const char *path)
{
	(void)impl;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rv;
	do {
		rv = fsync(fd);
	} while (rv != 0 && errno == EINTR);
	int err = rv != 0 ? -errno : 0;
	close(fd);
	return err;
}

static int posix_list(void *impl, const char *path, struct sio_names *names)
{
	(void)impl;
	DIR *d = opendir(path);
	if (d == NULL)
		return -errno;
	struct sio_names out = {0};
	uint32_t cap = 0;
	int rv = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			rv = errno != 0 ? -errno : 0;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (out.n >= SIO_LIST_MAX) {
			rv = -EFBIG;
			break;
		}
		if (out.n == cap) {
			cap = cap ? cap * 2 : 16;
			out.v = xrealloc(out.v, cap * sizeof(*out.v));
		}
		out.v[out.n] = xstrdup(de->d_name);
		out.n++;
	}
	closedir(d);
	if (rv != 0) {
		sio_names_free(&out);
		return rv;
	}
	*names = out;
	return 0;
}

static const struct sio_vtable posix_vtable = {
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwritev = posix_pwritev,
    .sync = posix_sync,
    .truncate = posix_truncate,
    .allocate = posix_allocate,
    .size = posix_size,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .sync_dir = posix_sync_dir,
    .list = posix_list,
};

struct sio *sio_posix(void)
{
	static struct sio posix = {.vt = &posix_vtable, .impl = NULL};
	return &posix;
}

/* ----------------------------------------------------------------------------------
 * Fault injection
 */

void sio_fault_set(struct sio_fault *f, uint32_t ops, int64_t countdown, int64_t repeat, int err)
{
	assert(countdown >= 0);
	assert(repeat >= -1);
	assert(err > 0);
	f->ops = ops;
	f->countdown = countdown;
	f->repeat = repeat;
	f->err = err;
}

void sio_fault_clear(struct sio_fault *f)
{
	f->ops = 0;
	f->countdown = 0;
	f->repeat = 0;
}

int sio_fault_check(struct sio_fault *f, enum sio_op op)
{
	assert(op < SIO_OP_COUNT_);
	f->calls++;
	f->calls_by_op[op]++;
	if ((f->ops & SIO_OP_BIT(op)) == 0)
		return 0;
	if (f->countdown > 0) {
		f->countdown--;
		return 0;
	}
	if (f->repeat == 0)
		return 0;
	if (f->repeat > 0)
		f->repeat--;
	f->failed++;
	return -f->err;
}

#define FAULTY(impl) ((struct sio_faulty *)(impl))

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Under f->mu: waits while a stall covers `op`. */
static void faulty_wait_stall(struct sio_faulty *f, enum sio_op op)
{
	bool counted = false;
	while ((f->stall_ops & SIO_OP_BIT(op)) != 0 && mono_ns() < f->stall_until_ns) {
		if (!counted)
			f->stalled_calls++;
		counted = true;
		struct timespec ts = {.tv_sec = (time_t)(f->stall_until_ns / 1000000000u),
		                      .tv_nsec = (long)(f->stall_until_ns % 1000000000u)};
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
}

static int faulty_check(struct sio_faulty *f, enum sio_op op)
{
	pthread_mutex_lock(&f->mu);
	faulty_wait_stall(f, op);
	int rv = sio_fault_check(&f->fault, op);
	pthread_mutex_unlock(&f->mu);
	return rv;
}

#define FAULTY_CHECK(impl, op)                                                                     \
	do {                                                                                       \
		int fault_rv_ = faulty_check(FAULTY(impl), (op));                                  \
		if (fault_rv_ != 0)                                                                \
			return fault_rv_;                                                          \
	} while (0)

static int faulty_open(void *impl, const char *path, int flags, int *fd)
{
	FAULTY_CHECK(impl, SIO_OPEN);
	return sio_open(FAULTY(impl)->inner, path, flags, fd);
}

static int faulty_close(void *impl, int fd)
{
	/* A close always releases the descriptor, so it never fails here. */
	faulty_check(FAULTY(impl), SIO_CLOSE);
	return sio_close(FAULTY(impl)->inner, fd);
}

static int faulty_pread(void *impl, int fd, void *buf, size_t len, uint64_t off, size_t *n_read)
{
	FAULTY_CHECK(impl, SIO_PREAD);
	return sio_pread(FAULTY(impl)->inner, fd, buf, len, off, n_read);
}

static int faulty_pwritev(void *impl, int fd, const struct iovec *iov, int n_iov, uint64_t off)
{
	FAULTY_CHECK(impl, SIO_PWRITE);
	return sio_pwritev(FAULTY(impl)->inner, fd, iov, n_iov, off);
}

static int faulty_sync(void *impl, int fd, bool data_only)
{
	FAULTY_CHECK(impl, data_only ? SIO_FDATASYNC : SIO_FSYNC);
	return FAULTY(impl)->inner->vt->sync(FAULTY(impl)->inner->impl, fd, data_only);
}

static int faulty_truncate(void *impl, int fd, uint64_t size_bytes)
{
	FAULTY_CHECK(impl, SIO_TRUNCATE);
	return sio_truncate(FAULTY(impl)->inner, fd, size_bytes);
}

static int faulty_allocate(void *impl, int fd, uint64_t size_bytes)
{
	FAULTY_CHECK(impl, SIO_ALLOCATE);
	return sio_allocate(FAULTY(impl)->inner, fd, size_bytes);
}

static int faulty_size(void *impl, int fd, uint64_t *size_bytes)
{
	FAULTY_CHECK(impl, SIO_SIZE);
	return sio_size(FAULTY(impl)->inner, fd, size_bytes);
}

static int faulty_rename(void *impl, const char *from, const char *to)
{
	FAULTY_CHECK(impl, SIO_RENAME);
	return sio_rename(FAULTY(impl)->inner, from, to);
}

static int faulty_unlink(void *impl, const char *path)
{
	FAULTY_CHECK(impl, SIO_UNLINK);
	return sio_unlink(FAULTY(impl)->inner, path);
}

static int faulty_mkdir(void *impl, const char *path)
{
	FAULTY_CHECK(impl, SIO_MKDIR);
	return sio_mkdir(FAULTY(impl)->inner, path);
}

static int faulty_sync_dir(void *impl, const char *path)
{
	FAULTY_CHECK(impl, SIO_SYNC_DIR);
	return sio_sync_dir(FAULTY(impl)->inner, path);
}

static int faulty_list(void *impl, const char *path, struct sio_names *names)
{
	FAULTY_CHECK(impl, SIO_LIST);
	return sio_list(FAULTY(impl)->inner, path, names);
}

static const struct sio_vtable faulty_vtable = {
    .open = faulty_open,
    .close = faulty_close,
    .pread = faulty_pread,
    .pwritev = faulty_pwritev,
    .sync = faulty_sync,
    .truncate = faulty_truncate,
    .allocate = faulty_allocate,
    .size = faulty_size,
    .rename = faulty_rename,
    .unlink = faulty_unlink,
    .mkdir = faulty_mkdir,
    .sync_dir = faulty_sync_dir,
    .list = faulty_list,
};

void sio_faulty_init(struct sio_faulty *f, struct sio *inner)
{
	memset(f, 0, sizeof(*f));
	f->io.vt = &faulty_vtable;
	f->io.impl = f;
	f->inner = inner;
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
}

void sio_faulty_close(struct sio_faulty *f)
{
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
}

void sio_faulty_stall(struct sio_faulty *f, uint32_t ops, uint64_t duration_ms)
{
	pthread_mutex_lock(&f->mu);
	f->stall_ops = duration_ms > 0 ? ops : 0;
	f->stall_until_ns = duration_ms > 0 ? mono_ns() + duration_ms * 1000000u : 0;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

uint64_t sio_faulty_stall_left_ms(struct sio_faulty *f, uint64_t *stalled_calls)
{
	pthread_mutex_lock(&f->mu);
	uint64_t now = mono_ns();
	uint64_t left = f->stall_ops != 0 && f->stall_until_ns > now
	                    ? (f->stall_until_ns - now + 999999u) / 1000000u
	                    : 0;
	if (stalled_calls != NULL)
		*stalled_calls = f->stalled_calls;
	pthread_mutex_unlock(&f->mu);
	return left;
}
