/* error.h: the storage layer's error codes (one table) and its error-message helpers. */
#ifndef CONCORD_STORAGE_ERROR_H
#define CONCORD_STORAGE_ERROR_H

#include <stddef.h>

/* Every storage function returns 0 or one of these; the object (or the caller's buffer)
 * holds a message naming the file, the operation and, for I/O errors, errno. */
#define STORAGE_ERRORS(X)                                                                          \
	X(STORAGE_OK, "ok")                                                                        \
	X(STORAGE_EIO, "input/output error")                                                       \
	X(STORAGE_ENOSPC, "disk full")                                                             \
	X(STORAGE_ECORRUPT, "the data directory is corrupt")                                       \
	X(STORAGE_EFAILED, "storage stopped after an earlier write or sync failure")               \
	X(STORAGE_EINVAL, "invalid argument")                                                      \
	X(STORAGE_EMISMATCH, "the data directory belongs to another node or cluster")              \
	X(STORAGE_ENOENT, "no data directory")                                                     \
	X(STORAGE_EFORMAT, "unsupported data directory format version")

enum storage_error {
#define STORAGE_ERROR_ENUM_(name, text) name,
	STORAGE_ERRORS(STORAGE_ERROR_ENUM_)
#undef STORAGE_ERROR_ENUM_
	    STORAGE_ERROR_COUNT_
};

/* Size of every storage error-message buffer. */
#define STORAGE_ERRMSG_SIZE 512

/* A static string describing `err` (any int). */
const char *storage_strerror(int err);

/* Maps a negative errno from the I/O seam to a storage error: -ENOSPC and -EDQUOT to
 * STORAGE_ENOSPC, -ENOENT to STORAGE_ENOENT, anything else to STORAGE_EIO. */
int storage_error_from_errno(int neg_errno);

/* Writes "<path>: <op>: <what>" into msg, where <what> says "disk full (...)" for ENOSPC
 * and the errno's name and text otherwise; returns storage_error_from_errno(neg_errno). */
int storage_errmsg_io(char *msg, const char *path, const char *op, int neg_errno);

/* printf into an error-message buffer of STORAGE_ERRMSG_SIZE bytes; returns `err`. */
int storage_errmsg_set(char *msg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* CONCORD_STORAGE_ERROR_H */
