/* backup.h: backup files: checking one, and seeding a new cluster's data directory from it. */
#ifndef CONCORD_BACKUP_BACKUP_H
#define CONCORD_BACKUP_BACKUP_H

/*
 * A backup file has the format of a snapshot file of DIR/snap (docs/disk-format.md):
 * a checksummed header with the index, term and configuration of the last entry the
 * node had applied, then the store's own snapshot (docs/kv.md: keys, history, revisions,
 * sessions, the members' address book), itself checksummed. backup_read() checks all of
 * it; backup_restore() writes the data directory of one member of a new cluster from it
 * (docs/server.md, "Backup and restore").
 */

#include "concord/raft.h"
#include "kv/kv.h"

#include <stddef.h>
#include <stdint.h>

#define BACKUP_ERRMSG_SIZE 1024

struct backup_info {
	raft_index index; /* the last applied entry's */
	raft_term term;
	struct raft_conf conf;
	uint64_t revision;
	uint64_t compact_revision;
	uint64_t keys;    /* clients' keys that exist (the address book left out) */
	uint64_t members; /* address-book records */
	uint64_t sessions;
	uint64_t file_bytes;
	uint64_t data_bytes; /* the store's snapshot */
	uint32_t data_crc32c;
	uint32_t file_crc32c; /* of the whole file: tells copies apart (the data's own
	                         checksum, over bytes ending in a checksum, is a constant) */
};

/* Reads and checks the file at `path` in full: header, checksums, and the store, which
 * must load. On success fills *info and, if `kv` is not NULL, hands over the loaded
 * store (kv_free it). Returns 0, or -1 with errmsg[BACKUP_ERRMSG_SIZE] saying why. */
int backup_read(const char *path, struct backup_info *info, struct kv **kv, char *errmsg);

/* One member of the new cluster; the addresses may be empty (the member publishes its
 * own once it runs) except `peer`. */
struct backup_member {
	raft_id id;
	const char *name, *peer, *client, *http;
};

struct backup_restore_opts {
	const char *data_dir; /* must not hold a data directory yet */
	uint64_t cluster_id;  /* the new cluster's, as its nodes' --cluster-id gives it */
	raft_id node_id;      /* this member's id: one of `members` */
	const struct backup_member *members;
	uint32_t n_members; /* all voters of the new configuration, 1..RAFT_MAX_MEMBERS */
};

/* Seeds o->data_dir from the backup at `path`: the store as it was, whose address book
 * is replaced by the new members' records in one command applied at index + 1 (so the
 * store's revision is the backup's + 1; every client key keeps its value and its create
 * and mod revisions), as a snapshot at index + 1 of the backup's term whose
 * configuration is the new members, all voters; the hard state holds that term, no vote,
 * and the log is empty. Fills *out with what the directory now holds. Returns 0, or -1
 * with errmsg[BACKUP_ERRMSG_SIZE]. */
int backup_restore(const char *path, const struct backup_restore_opts *o, struct backup_info *out,
                   char *errmsg);

#endif /* CONCORD_BACKUP_BACKUP_H */
