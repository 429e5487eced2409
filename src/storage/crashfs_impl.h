/* crashfs_impl.h: crashfs's model (files, directories, unsynced operations), for its files. */
#ifndef CONCORD_STORAGE_CRASHFS_IMPL_H
#define CONCORD_STORAGE_CRASHFS_IMPL_H

#include "storage/crashfs.h"
#include "storage/io.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define INO_NONE           UINT32_MAX
#define INO_ROOT           0u
#define CRASHFS_FDS_MAX    4096u
#define CRASHFS_INODES_MAX (1u << 20)
#define CRASHFS_DEPTH_MAX  64u

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

/* ---- crashfs.c: the model */

void cfs_bytes_write(struct bytes *b, uint64_t off, const uint8_t *src, uint64_t n);
void cfs_bytes_truncate(struct bytes *b, uint64_t size);
void cfs_bytes_allocate(struct bytes *b, uint64_t size);
void cfs_bytes_copy(struct bytes *dst, const struct bytes *src);
void cfs_bytes_free(struct bytes *b);

void cfs_dents_free(struct dents *d);
void cfs_dents_copy(struct dents *dst, const struct dents *src);
/* The index of `name` in `d`, or -1. */
int cfs_dents_find(const struct dents *d, const char *name);
void cfs_dop_apply(struct dents *d, const struct dop *op);
/* Records a directory change in the volatile entries and in the unsynced log. */
void cfs_dir_change(struct inode *dir, enum dop_kind kind, const char *name, const char *to,
                    uint32_t ino);
void cfs_dir_clear_dops(struct inode *dir);

void cfs_file_clear_wops(struct inode *f);
void cfs_file_log(struct inode *f, enum wop_kind kind, uint64_t off, const uint8_t *data,
                  uint64_t len);
/* Applies `op` to `b`, a write cut to its first `len` bytes. */
void cfs_wop_apply(struct bytes *b, const struct wop *op, uint64_t len);
void cfs_file_mark_dirty(struct inode *f, uint64_t lo);
/* Makes the volatile content durable, copying only what changed since the last sync. */
void cfs_file_sync(struct inode *f);

/* A fresh inode (may move fs->inodes). */
uint32_t cfs_inode_new(struct crashfs *fs, bool is_dir);
/* Frees every inode that nothing can reach any more. */
void cfs_collect(struct crashfs *fs);

/* Splits `path` into its parent directory (resolved) and last component. The root itself
 * has no parent: *parent = INO_NONE and name is empty. */
int cfs_resolve(struct crashfs *fs, const char *path, uint32_t *parent, char *name);
/* The inode `path` names, or a negative errno. */
int cfs_lookup(struct crashfs *fs, const char *path, uint32_t *ino);
/* The inode open as `fd`, or NULL. */
struct inode *cfs_fd_file(struct crashfs *fs, int fd);

/* ---- crashfs_sio.c */

extern const struct sio_vtable crashfs_vtable;

#endif /* CONCORD_STORAGE_CRASHFS_IMPL_H */
