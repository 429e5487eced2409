/* crashfs.h: an in-memory file system that tells durable from merely written, and crashes. */
#ifndef CONCORD_STORAGE_CRASHFS_H
#define CONCORD_STORAGE_CRASHFS_H

/*
 * A crashfs models what a power failure does to a POSIX file system, after the crash VFS
 * of SQLite's test suite:
 *
 *   - Each file has a durable content and a volatile one. Writes, truncations and
 *     allocations change the volatile content; fsync/fdatasync make it durable.
 *   - Each directory has durable entries and volatile ones. Creating, renaming and
 *     removing files change the volatile entries; only syncing the directory makes them
 *     durable. A file synced but never made durable in its directory vanishes in a crash.
 *   - crashfs_crash() drops every open descriptor and, per mode, loses what was not
 *     durable (power loss), tears it (keeps a random prefix of each file's and each
 *     directory's unsynced operations, the last kept write possibly cut short at a random
 *     byte), or keeps it (a process crash: the kernel's cache survives).
 *
 * An instance has no global state and draws every random choice from its own seeded
 * generator, so a simulation replays bit for bit. Fault injection (io.h's struct
 * sio_fault) applies to every call of the instance's sio. Calls are serialized by a mutex,
 * so one instance may serve a writer thread and a sync thread at once.
 */

#include "storage/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct crashfs;

enum crashfs_crash_mode {
	CRASHFS_LOSE,    /* power loss: everything not durable disappears */
	CRASHFS_TEAR,    /* power loss mid-flight: a random prefix of what was not durable
	                    survives, the last write possibly torn */
	CRASHFS_PROCESS, /* the process died but the machine did not: nothing is lost */
};

/* A new, empty file system whose root directory exists and is durable. */
struct crashfs *crashfs_new(uint64_t seed);

/* Frees the file system; its sio must no longer be used. */
void crashfs_free(struct crashfs *fs);

/* The instance's I/O seam, valid until crashfs_free. */
struct sio *crashfs_io(struct crashfs *fs);

/* Crashes: closes every descriptor, then loses or tears unsynced state per `mode`. After
 * the crash what survived is durable. */
void crashfs_crash(struct crashfs *fs, enum crashfs_crash_mode mode);

/* The fault applied to every call (arm with sio_fault_set). Its `calls` counts every call
 * made through crashfs_io(fs), which tests use to crash after each call in turn. */
struct sio_fault *crashfs_fault(struct crashfs *fs);

/* ---- Inspection and tampering, for tests and the simulator's disk faults. Each acts on
 * the volatile view and ignores fault injection. Return 0 or a negative errno. */

/* A malloc'd copy of the file's content (NULL when empty). */
int crashfs_read_file(struct crashfs *fs, const char *path, uint8_t **data, size_t *len);

/* Replaces the content of an existing file, volatile and durable alike. */
int crashfs_write_file(struct crashfs *fs, const char *path, const void *data, size_t len);

/* XORs `mask` into the byte at `offset` of an existing file, volatile and durable alike
 * (media corruption). -EINVAL if the offset is beyond the end of the file. */
int crashfs_corrupt(struct crashfs *fs, const char *path, uint64_t offset, uint8_t mask);

/* Bytes of file content held in memory (volatile and durable), for leak checks. */
uint64_t crashfs_bytes_held(const struct crashfs *fs);

#endif /* CONCORD_STORAGE_CRASHFS_H */
