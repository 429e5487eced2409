/* io.h: the storage I/O seam, a small vtable over the file system calls storage makes. */
#ifndef CONCORD_STORAGE_IO_H
#define CONCORD_STORAGE_IO_H

/*
 * Storage reaches the disk only through a `struct sio`. Three implementations exist:
 *
 *   sio_posix()     the real file system (POSIX calls, fdatasync, fallocate).
 *   sio_faulty      a wrapper over any sio that fails chosen calls (struct sio_fault).
 *   crashfs         an in-memory file system that keeps, per file and per directory, what
 *                   is durable apart from what is merely written, and can crash
 *                   (crashfs.h). The simulator's disks are crashfs instances.
 *
 * Every call returns 0 or a negative errno. A call that fails has no effect unless its
 * description says otherwise. File descriptors are small non-negative ints meaningful only
 * to the sio that returned them. Paths are '/'-separated; crashfs resolves relative paths
 * from its root.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The calls, for fault injection masks and traces. */
#define SIO_OPS(X)                                                                                 \
	X(SIO_OPEN, "open")                                                                        \
	X(SIO_CLOSE, "close")                                                                      \
	X(SIO_PREAD, "read")                                                                       \
	X(SIO_PWRITE, "write")                                                                     \
	X(SIO_FSYNC, "fsync")                                                                      \
	X(SIO_FDATASYNC, "fdatasync")                                                              \
	X(SIO_TRUNCATE, "ftruncate")                                                               \
	X(SIO_ALLOCATE, "fallocate")                                                               \
	X(SIO_SIZE, "fstat")                                                                       \
	X(SIO_RENAME, "rename")                                                                    \
	X(SIO_UNLINK, "unlink")                                                                    \
	X(SIO_MKDIR, "mkdir")                                                                      \
	X(SIO_SYNC_DIR, "fsync of directory")                                                      \
	X(SIO_LIST, "readdir")

enum sio_op {
#define SIO_OP_ENUM_(name, text) name,
	SIO_OPS(SIO_OP_ENUM_)
#undef SIO_OP_ENUM_
	    SIO_OP_COUNT_
};

const char *sio_op_name(enum sio_op op);

#define SIO_OP_BIT(op) (1u << (op))
/* Calls that change a file's content or size. */
#define SIO_OPS_WRITE (SIO_OP_BIT(SIO_PWRITE) | SIO_OP_BIT(SIO_TRUNCATE) | SIO_OP_BIT(SIO_ALLOCATE))
/* Calls that make something durable. */
#define SIO_OPS_SYNC (SIO_OP_BIT(SIO_FSYNC) | SIO_OP_BIT(SIO_FDATASYNC) | SIO_OP_BIT(SIO_SYNC_DIR))
/* Calls that change a directory. */
#define SIO_OPS_DIR (SIO_OP_BIT(SIO_RENAME) | SIO_OP_BIT(SIO_UNLINK) | SIO_OP_BIT(SIO_MKDIR))
#define SIO_OPS_ALL ((1u << SIO_OP_COUNT_) - 1)

/* Flags of sio_open. */
enum {
	SIO_RDONLY = 0,
	SIO_RDWR = 1 << 0,
	SIO_CREATE = 1 << 1, /* create if missing (the directory entry is not durable
	                        until the directory is synced) */
	SIO_EXCL = 1 << 2,   /* with SIO_CREATE: fail with -EEXIST if it exists */
	SIO_TRUNC = 1 << 3,  /* truncate to 0 bytes */
};

/* Most names sio_list returns, and the longest name and path storage uses. */
#define SIO_LIST_MAX 65536u
#define SIO_NAME_MAX 255u
#define SIO_PATH_MAX 4096u

/* A directory listing: `n` malloc'd names (no "." or ".."), released by sio_names_free. */
struct sio_names {
	char **v;
	uint32_t n;
};

void sio_names_free(struct sio_names *names);

struct sio_vtable {
	int (*open)(void *impl, const char *path, int flags, int *fd);
	int (*close)(void *impl, int fd);
	/* Reads up to len bytes at off; *n_read < len only at the end of the file. */
	int (*pread)(void *impl, int fd, void *buf, size_t len, uint64_t off, size_t *n_read);
	/* Writes all the bytes or fails; a failed write may have written a prefix. */
	int (*pwritev)(void *impl, int fd, const struct iovec *iov, int n_iov, uint64_t off);
	int (*sync)(void *impl, int fd, bool data_only);
	int (*truncate)(void *impl, int fd, uint64_t size_bytes);
	/* Makes the file at least size_bytes long, the new bytes zero and their blocks
	 * reserved, so later writes below size_bytes cannot fail for lack of space. */
	int (*allocate)(void *impl, int fd, uint64_t size_bytes);
	int (*size)(void *impl, int fd, uint64_t *size_bytes);
	/* Atomically replaces `to`; both in the same directory. */
	int (*rename)(void *impl, const char *from, const char *to);
	int (*unlink)(void *impl, const char *path);
	int (*mkdir)(void *impl, const char *path);
	/* Makes the directory's entries (creations, renames, removals) durable. */
	int (*sync_dir)(void *impl, const char *path);
	int (*list)(void *impl, const char *path, struct sio_names *names);
};

struct sio {
	const struct sio_vtable *vt;
	void *impl;
};

/* ---- Calls through the vtable */

static inline int sio_open(struct sio *io, const char *path, int flags, int *fd)
{
	return io->vt->open(io->impl, path, flags, fd);
}
static inline int sio_close(struct sio *io, int fd)
{
	return io->vt->close(io->impl, fd);
}
static inline int sio_pread(struct sio *io, int fd, void *buf, size_t len, uint64_t off,
                            size_t *n_read)
{
	return io->vt->pread(io->impl, fd, buf, len, off, n_read);
}
static inline int sio_pwritev(struct sio *io, int fd, const struct iovec *iov, int n_iov,
                              uint64_t off)
{
	return io->vt->pwritev(io->impl, fd, iov, n_iov, off);
}
static inline int sio_pwrite(struct sio *io, int fd, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	return io->vt->pwritev(io->impl, fd, &iov, 1, off);
}
static inline int sio_fsync(struct sio *io, int fd)
{
	return io->vt->sync(io->impl, fd, false);
}
static inline int sio_fdatasync(struct sio *io, int fd)
{
	return io->vt->sync(io->impl, fd, true);
}
static inline int sio_truncate(struct sio *io, int fd, uint64_t size_bytes)
{
	return io->vt->truncate(io->impl, fd, size_bytes);
}
static inline int sio_allocate(struct sio *io, int fd, uint64_t size_bytes)
{
	return io->vt->allocate(io->impl, fd, size_bytes);
}
static inline int sio_size(struct sio *io, int fd, uint64_t *size_bytes)
{
	return io->vt->size(io->impl, fd, size_bytes);
}
static inline int sio_rename(struct sio *io, const char *from, const char *to)
{
	return io->vt->rename(io->impl, from, to);
}
static inline int sio_unlink(struct sio *io, const char *path)
{
	return io->vt->unlink(io->impl, path);
}
static inline int sio_mkdir(struct sio *io, const char *path)
{
	return io->vt->mkdir(io->impl, path);
}
static inline int sio_sync_dir(struct sio *io, const char *path)
{
	return io->vt->sync_dir(io->impl, path);
}
static inline int sio_list(struct sio *io, const char *path, struct sio_names *names)
{
	return io->vt->list(io->impl, path, names);
}

/* Reads exactly len bytes at off: -EIO if the file ends first ("short read"). */
int sio_pread_exact(struct sio *io, int fd, void *buf, size_t len, uint64_t off);

/* Reads a whole file of at most max_bytes into a malloc'd buffer (NULL when empty).
 * -EFBIG if the file is larger. */
int sio_read_file(struct sio *io, const char *path, uint64_t max_bytes, uint8_t **data,
                  size_t *len);

/* ---- The real file system. Stateless: one shared instance. */
struct sio *sio_posix(void);

/* ---- Fault injection (the countdown-and-repeat scheme of SQLite's and canonical raft's
 * test harnesses): after `countdown` matching calls succeed, the next `repeat` matching
 * calls (-1: all of them) fail with -err and do nothing. */
struct sio_fault {
	uint32_t ops;      /* SIO_OP_BIT()s the fault applies to; 0: disarmed */
	int64_t countdown; /* matching calls that still succeed */
	int64_t repeat;    /* matching calls to fail after that; -1 forever */
	int err;           /* positive errno, e.g. EIO or ENOSPC */
	uint64_t calls;    /* every call seen, matching or not */
	uint64_t failed;   /* calls failed so far */
	uint64_t calls_by_op[SIO_OP_COUNT_];
};

void sio_fault_set(struct sio_fault *f, uint32_t ops, int64_t countdown, int64_t repeat, int err);
void sio_fault_clear(struct sio_fault *f);
/* Counts the call; returns 0 if it may proceed, -err if it must fail. */
int sio_fault_check(struct sio_fault *f, enum sio_op op);

/* A sio that passes every call to `inner` unless `fault` says it fails. The fault is
 * consulted under a mutex, so the wrapper may serve several threads; arm it while no
 * call is in flight. It can also stall calls (a hung disk): see sio_faulty_stall. */
struct sio_faulty {
	struct sio io;
	struct sio *inner;
	struct sio_fault fault;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* signalled when a stall is changed or cleared */
	uint32_t stall_ops;      /* SIO_OP_BIT()s that wait while stalled; 0: no stall */
	uint64_t stall_until_ns; /* CLOCK_MONOTONIC time the stall ends */
	uint64_t stalled_calls;  /* calls that waited on a stall */
};

void sio_faulty_init(struct sio_faulty *f, struct sio *inner);
void sio_faulty_close(struct sio_faulty *f);

/* Stalls: for duration_ms from now, every call in `ops` (e.g. SIO_OPS_WRITE |
 * SIO_OPS_SYNC) waits before it runs, as on a disk that stopped completing I/O; calls
 * already waiting pick up the new bound. Thread-safe, any time. ops 0 or duration 0
 * clears the stall and releases the waiting calls at once. */
void sio_faulty_stall(struct sio_faulty *f, uint32_t ops, uint64_t duration_ms);
/* The ms the stall still lasts (0: none), and how many calls have waited on stalls. */
uint64_t sio_faulty_stall_left_ms(struct sio_faulty *f, uint64_t *stalled_calls);

#endif /* CONCORD_STORAGE_IO_H */
