/* backup.c: checking a backup file, and seeding a data directory from one. */
#include "backup/backup.h"

#include "base/crc32c.h"
#include "storage/snap.h"
#include "storage/storage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

__attribute__((format(printf, 2, 3))) static int fail(char *errmsg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, BACKUP_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	return -1;
}

/* A store that accepts any snapshot a node can have written: the hard ceilings. */
static void config_widest(struct kv_config *cfg)
{
	kv_config_default(cfg);
	cfg->limits.key_bytes_max = KV_KEY_BYTES_LIMIT;
	cfg->limits.value_bytes_max = KV_VALUE_BYTES_LIMIT;
	cfg->limits.keys_per_cmd_max = KV_KEYS_PER_CMD_LIMIT;
	cfg->limits.txn_ops_max = KV_TXN_OPS_LIMIT;
	cfg->limits.txn_bytes_max = KV_TXN_BYTES_LIMIT;
	cfg->sessions_max = KV_SESSIONS_LIMIT;
}

struct count {
	uint64_t keys, members;
};

static int count_key(void *arg, const struct kv_value *v)
{
	struct count *c = arg;
	if (kv_key_member(v->key, v->key_len))
		c->members++;
	else if (v->key_len >= 1 && ((const char *)v->key)[0] != '\0')
		c->keys++;
	return 0;
}

/* Counts the existing keys: clients' keys, and the address book's records (the other
 * reserved keys, which begin with a zero byte as well, are neither). */
static int count_keys(const struct kv *kv, struct count *c)
{
	memset(c, 0, sizeof(*c));
	bool more = false;
	return kv_scan(kv, "", 0, NULL, 0, SIZE_MAX, 0, count_key, c, &more);
}

/* CRC-32C of the whole file. */
static int file_crc(const char *path, uint32_t *out, char *errmsg)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return fail(errmsg, "%s: %s", path, strerror(errno));
	static unsigned char buf[1 << 16];
	uint32_t crc = 0;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crc = crc32c(crc, buf, n);
	bool bad = ferror(f) != 0;
	fclose(f);
	if (bad)
		return fail(errmsg, "%s: read error", path);
	*out = crc;
	return 0;
}

int backup_read(const char *path, struct backup_info *info, struct kv **kv_out, char *errmsg)
{
	memset(info, 0, sizeof(*info));
	struct stat st;
	if (stat(path, &st) != 0)
		return fail(errmsg, "%s: %s", path, strerror(errno));
	uint32_t fcrc = 0;
	if (file_crc(path, &fcrc, errmsg) != 0)
		return -1;
	struct proto_snapshot_meta m;
	struct raft_buf *data = NULL;
	char serr[STORAGE_ERRMSG_SIZE];
	if (snap_read(sio_posix(), path, NULL, &m, &data, serr) != 0)
		return fail(errmsg, "%s", serr);
	struct kv_config cfg;
	config_widest(&cfg);
	struct kv *kv = NULL;
	if (kv_new(&cfg, &kv) != 0) {
		raft_buf_unref(data);
		return fail(errmsg, "cannot create a store");
	}
	static const char empty[1];
	const void *bytes = data != NULL ? (const void *)data->data : empty;
	int rv = kv_snapshot_read_buf(kv, bytes, data != NULL ? data->len : 0);
	raft_buf_unref(data);
	if (rv != 0) {
		fail(errmsg, "%s: the store in the file does not load: %s: %s", path,
		     kv_strerror(rv), kv_errmsg(kv));
		kv_free(kv);
		return -1;
	}
	if (kv_applied_index(kv) != m.index) {
		fail(errmsg,
		     "%s: the header says index %" PRIu64 " but the store was applied to %" PRIu64,
		     path, m.index, kv_applied_index(kv));
		kv_free(kv);
		return -1;
	}
	struct kv_stats ks;
	kv_stats(kv, &ks);
	struct count c;
	if (count_keys(kv, &c) != 0) {
		fail(errmsg, "%s: the store's keys cannot be listed", path);
		kv_free(kv);
		return -1;
	}
	info->index = m.index;
	info->term = m.term;
	info->conf = m.conf;
	info->revision = ks.revision;
	info->compact_revision = ks.compact_revision;
	info->keys = c.keys;
	info->members = c.members;
	info->sessions = ks.sessions;
	info->file_bytes = (uint64_t)st.st_size;
	info->data_bytes = m.data_size_bytes;
	info->data_crc32c = m.data_crc32c;
	info->file_crc32c = fcrc;
	if (kv_out != NULL)
		*kv_out = kv;
	else
		kv_free(kv);
	return 0;
}

/* ----------------------------------------------------------------------------------
 * Restore
 */

#define MEMBER_KEY_MAX    64
#define MEMBER_RECORD_MAX 600

/* The address book's records: key and value as src/server/node_members.c stores them
 * (the prefix, then the id in decimal; "name\npeer\nclient\nhttp"). */
struct book {
	char old_keys[2 * RAFT_MAX_MEMBERS][MEMBER_KEY_MAX];
	size_t old_lens[2 * RAFT_MAX_MEMBERS];
	uint32_t n_old;
	bool overflow;
	char keys[RAFT_MAX_MEMBERS][MEMBER_KEY_MAX];
	char values[RAFT_MAX_MEMBERS][MEMBER_RECORD_MAX];
	struct kv_key del_keys[2 * RAFT_MAX_MEMBERS];
	struct kv_cmd ops[3 * RAFT_MAX_MEMBERS];
};

static int collect_member(void *arg, const struct kv_value *v)
{
	struct book *b = arg;
	if (b->n_old == 2 * RAFT_MAX_MEMBERS || v->key_len > MEMBER_KEY_MAX) {
		b->overflow = true;
		return 1;
	}
	memcpy(b->old_keys[b->n_old], v->key, v->key_len);
	b->old_lens[b->n_old++] = v->key_len;
	return 0;
}

/* One command at index + 1: delete the old records, write the new ones. */
static int rewrite_book(struct kv *kv, const struct backup_restore_opts *o, struct book *b,
                        char *errmsg)
{
	bool more = false;
	if (kv_scan(kv, KV_MEMBER_PREFIX, KV_MEMBER_PREFIX_LEN, NULL, 0, 2 * RAFT_MAX_MEMBERS, 0,
	            collect_member, b, &more) != 0 ||
	    b->overflow || more)
		return fail(errmsg,
		            "the backup's address book holds more records than a cluster has");
	size_t n_ops = 0;
	for (uint32_t i = 0; i < b->n_old; i++) {
		b->del_keys[i] = (struct kv_key){.data = b->old_keys[i], .len = b->old_lens[i]};
		b->ops[n_ops++] = (struct kv_cmd){.op = KV_OP_DEL, .n = 1, .keys = &b->del_keys[i]};
	}
	for (uint32_t i = 0; i < o->n_members; i++) {
		const struct backup_member *m = &o->members[i];
		int kl = snprintf(b->keys[i], MEMBER_KEY_MAX, "%*s%" PRIu64, KV_MEMBER_PREFIX_LEN,
		                  "", m->id);
		memcpy(b->keys[i], KV_MEMBER_PREFIX, KV_MEMBER_PREFIX_LEN);
		int vl = snprintf(b->values[i], MEMBER_RECORD_MAX, "%s\n%s\n%s\n%s", m->name,
		                  m->peer, m->client ? m->client : "", m->http ? m->http : "");
		if (vl < 0 || vl >= MEMBER_RECORD_MAX)
			return fail(errmsg, "member %s: addresses too long", m->name);
		b->ops[n_ops++] = (struct kv_cmd){.op = KV_OP_SET,
		                                  .put = {.key = b->keys[i],
		                                          .key_len = (size_t)kl,
		                                          .value = b->values[i],
		                                          .value_len = (size_t)vl}};
	}
	struct kv_cmd txn = {
	    .op = KV_OP_TXN, .time_ms = kv_now_ms(kv), .n_ops = n_ops, .ops = b->ops};
	void *buf = NULL;
	size_t len = 0;
	int rv = kv_cmd_encode(&txn, &kv_config(kv)->limits, &buf, &len);
	if (rv != 0)
		return fail(errmsg, "encoding the address book: %s", kv_strerror(rv));
	struct kv_reply reply;
	rv = kv_apply(kv, kv_applied_index(kv) + 1, buf, len, &reply);
	free(buf);
	if (rv != 0 || !reply.members_written)
		return fail(errmsg, "rewriting the address book: %s", kv_strerror(rv));
	return 0;
}

/* Writes the data directory: meta (new cluster, this member, the new configuration),
 * the hard state, the snapshot. */
static int write_dir(const struct backup_restore_opts *o, const struct raft_conf *conf,
                     raft_index index, raft_term term, const void *data, size_t len, char *errmsg)
{
	struct storage_options so = {
	    .cluster_id = o->cluster_id,
	    .node_id = o->node_id,
	    .bootstrap_conf = conf,
	    .create = true,
	};
	struct storage *st = NULL;
	struct storage_recovered rec;
	char serr[STORAGE_ERRMSG_SIZE];
	if (storage_open(&st, sio_posix(), o->data_dir, &so, &rec, serr) != 0)
		return fail(errmsg, "%s", serr);
	bool created = rec.created;
	storage_recovered_release(&rec);
	if (!created) {
		storage_close(st);
		return fail(errmsg,
		            "%s already holds a data directory: restore seeds only a new one",
		            o->data_dir);
	}
	struct raft_hard_state hs = {.term = term, .vote = RAFT_NONE};
	int rv = storage_set_hard_state(st, &hs);
	if (rv == 0)
		rv = storage_snapshot_put(st, index, term, conf, data, len,
		                          STORAGE_SNAPSHOT_DISCARD_LOG);
	if (rv == 0)
		rv = storage_sync(st);
	if (rv != 0)
		fail(errmsg, "%s: %s", o->data_dir, storage_errmsg(st));
	storage_close(st);
	return rv == 0 ? 0 : -1;
}

static int check_opts(const struct backup_restore_opts *o, struct raft_conf *conf, char *errmsg)
{
	memset(conf, 0, sizeof(*conf));
	if (o->n_members == 0 || o->n_members > RAFT_MAX_MEMBERS)
		return fail(errmsg, "a cluster has 1 to %d members", RAFT_MAX_MEMBERS);
	bool self = false;
	for (uint32_t i = 0; i < o->n_members; i++) {
		const struct backup_member *m = &o->members[i];
		if (m->id == RAFT_NONE || m->peer == NULL || m->peer[0] == '\0')
			return fail(errmsg, "member %s needs an id and a peer address", m->name);
		for (uint32_t j = 0; j < i; j++)
			if (o->members[j].id == m->id)
				return fail(errmsg, "member id %" PRIu64 " appears twice", m->id);
		self = self || m->id == o->node_id;
		conf->voters[conf->n_voters++] = m->id;
	}
	if (!self)
		return fail(errmsg, "member %" PRIu64 " (this one) is not in the new cluster",
		            o->node_id);
	if (o->cluster_id == 0)
		return fail(errmsg, "the cluster id must not be 0");
	return 0;
}

int backup_restore(const char *path, const struct backup_restore_opts *o, struct backup_info *out,
                   char *errmsg)
{
	struct raft_conf conf;
	if (check_opts(o, &conf, errmsg) != 0)
		return -1;
	struct backup_info info;
	struct kv *kv = NULL;
	if (backup_read(path, &info, &kv, errmsg) != 0)
		return -1;
	struct book *b = calloc(1, sizeof(*b));
	int rv = b != NULL ? rewrite_book(kv, o, b, errmsg) : fail(errmsg, "out of memory");
	free(b);
	void *data = NULL;
	size_t len = 0;
	if (rv == 0 && kv_snapshot_write_buf(kv, &data, &len) != 0)
		rv = fail(errmsg, "serializing the store failed");
	raft_index index = kv_applied_index(kv);
	if (rv == 0)
		rv = write_dir(o, &conf, index, info.term, data, len, errmsg);
	if (rv == 0) {
		struct count c;
		count_keys(kv, &c);
		struct kv_stats ks;
		kv_stats(kv, &ks);
		info.index = index;
		info.conf = conf;
		info.revision = ks.revision;
		info.keys = c.keys;
		info.members = c.members;
		info.data_bytes = len;
		*out = info;
	}
	free(data);
	kv_free(kv);
	return rv;
}
