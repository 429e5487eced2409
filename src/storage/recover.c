/* recover.c: opening a data directory: creation, meta, building the storage, and inspection. */
/* (Reading what is on disk lives in recover_scan.c, repairing it in recover_repair.c.) */
#include "storage/impl.h"
#include "storage/recover_impl.h"

#include "base/alloc.h"
#include "storage/meta.h"
#include "storage/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void recovery_free(struct recovery *r)
{
	for (uint64_t i = 0; i < r->n_entries; i++)
		raft_buf_unref(r->entries[i].buf);
	free(r->entries);
	raft_buf_unref(r->snap_data);
	free(r->stale_snaps);
	free(r->stale_tmp);
	free(r->segs);
}

/* ----------------------------------------------------------------------------------
 * Opening
 */

static int check_dir_path(const char *dir, char *errmsg)
{
	/* Room for "/wal/" and the longest segment name. */
	if (strlen(dir) + 64 >= SIO_PATH_MAX)
		return storage_errmsg_set(errmsg, STORAGE_EINVAL, "%s: path too long", dir);
	if (dir[0] == '\0')
		return storage_errmsg_set(errmsg, STORAGE_EINVAL, "empty data directory path");
	return STORAGE_OK;
}

static int make_dir(struct sio *io, const char *path, char *errmsg)
{
	int rv = sio_mkdir(io, path);
	if (rv != 0 && rv != -EEXIST)
		return storage_errmsg_io(errmsg, path, "mkdir", rv);
	return STORAGE_OK;
}

/* The parent of `dir`, for syncing the new directory's entry ("." if none). */
static void parent_of(const char *dir, char *out)
{
	snprintf(out, SIO_PATH_MAX, "%s", dir);
	size_t n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	char *slash = strrchr(out, '/');
	if (slash == NULL)
		snprintf(out, SIO_PATH_MAX, ".");
	else if (slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
}

/* Creates the directory layout and the first meta file, each step durable. Refuses to
 * initialize over existing segments or snapshots (their meta file was lost). */
static int create_dir(struct recovery *r, const struct storage_options *opts)
{
	struct sio_names names;
	int rv = recovery_list_dir(r, r->wal_dir, &names, false);
	if (rv != STORAGE_OK)
		return rv;
	uint32_t n = names.n;
	sio_names_free(&names);
	rv = recovery_list_dir(r, r->snap_dir, &names, false);
	if (rv != STORAGE_OK)
		return rv;
	n += names.n;
	sio_names_free(&names);
	if (n > 0)
		return storage_errmsg_set(r->errmsg, STORAGE_ECORRUPT,
		                          "%s/" META_FILE
		                          ": missing, but the directory holds %u log or snapshot "
		                          "files; refusing to start over them",
		                          r->dir, n);
	char parent[SIO_PATH_MAX];
	parent_of(r->dir, parent);
	rv = make_dir(r->io, r->dir, r->errmsg);
	if (rv == STORAGE_OK)
		rv = make_dir(r->io, r->wal_dir, r->errmsg);
	if (rv == STORAGE_OK)
		rv = make_dir(r->io, r->snap_dir, r->errmsg);
	if (rv != STORAGE_OK)
		return rv;
	int err = sio_sync_dir(r->io, parent);
	if (err == 0)
		err = sio_sync_dir(r->io, r->dir);
	if (err != 0)
		return storage_errmsg_io(r->errmsg, r->dir, "fsync of directory", err);
	struct proto_meta m = {
	    .format_version = META_FORMAT_VERSION,
	    .cluster_id = opts->cluster_id,
	    .node_id = opts->node_id,
	};
	if (opts->bootstrap_conf != NULL)
		m.conf = *opts->bootstrap_conf;
	rv = meta_store(r->io, r->dir, &m, r->errmsg);
	if (rv != STORAGE_OK)
		return rv;
	r->meta = m;
	return STORAGE_OK;
}

static int load_or_create_meta(struct recovery *r, const struct storage_options *opts,
                               bool *created)
{
	*created = false;
	int rv = meta_load(r->io, r->dir, &r->meta, r->errmsg);
	if (rv == STORAGE_ENOENT && opts->create) {
		rv = create_dir(r, opts);
		*created = rv == STORAGE_OK;
	}
	if (rv != STORAGE_OK)
		return rv;
	if (opts->cluster_id != 0 && opts->cluster_id != r->meta.cluster_id)
		return storage_errmsg_set(r->errmsg, STORAGE_EMISMATCH,
		                          "%s/" META_FILE ": belongs to cluster %" PRIu64
		                          ", not %" PRIu64,
		                          r->dir, r->meta.cluster_id, opts->cluster_id);
	if (opts->node_id != 0 && opts->node_id != r->meta.node_id)
		return storage_errmsg_set(r->errmsg, STORAGE_EMISMATCH,
		                          "%s/" META_FILE ": belongs to node %" PRIu64
		                          ", not %" PRIu64,
		                          r->dir, r->meta.node_id, opts->node_id);
	return STORAGE_OK;
}

static void recovery_init(struct recovery *r, struct sio *io, const char *dir, char *errmsg)
{
	memset(r, 0, sizeof(*r));
	r->io = io;
	r->dir = dir;
	r->errmsg = errmsg;
	path_join(r->wal_dir, dir, WAL_DIR);
	path_join(r->snap_dir, dir, SNAP_DIR);
}

/* Builds the running storage from a repaired recovery. */
static int storage_build(struct recovery *r, const struct storage_options *opts,
                         struct storage **out)
{
	struct storage *st = xcalloc(1, sizeof(*st));
	st->io = r->io;
	st->open.fd = -1;
	snprintf(st->dir, sizeof(st->dir), "%s", r->dir);
	snprintf(st->wal_dir, sizeof(st->wal_dir), "%s", r->wal_dir);
	snprintf(st->snap_dir, sizeof(st->snap_dir), "%s", r->snap_dir);
	st->segment_size_bytes = opts->segment_size_bytes ? opts->segment_size_bytes
	                                                  : STORAGE_SEGMENT_SIZE_DEFAULT_BYTES;
	if (st->segment_size_bytes < STORAGE_SEGMENT_SIZE_MIN_BYTES)
		st->segment_size_bytes = STORAGE_SEGMENT_SIZE_MIN_BYTES;
	st->meta = r->meta;
	st->snap_index = r->have_snap ? r->snap.index : 0;
	st->snap_term = r->have_snap ? r->snap.term : 0;
	st->last_index = st->snap_index + r->n_entries;
	for (uint64_t i = 0; i < r->n_entries; i++)
		storage_terms_push(st, r->entries[i].term);
	for (uint32_t i = 0; i < r->n_segs; i++) {
		const struct found_seg *s = &r->segs[i];
		if (s->wn.kind != WAL_SEG_CLOSED || s->n_records == 0 || !s->scanned)
			continue;
		if (s->wn.last <= st->snap_index || r->discard_all)
			continue;
		storage_closed_push(st, s->wn.first, s->wn.last);
	}
	/* Everything recovered is durable now (recovery_repair synced it): record that end,
	 * or the end this node must catch up to, and the segment size, before any new
	 * segment is preallocated to it. */
	raft_index durable = st->last_index > r->catch_up_to ? st->last_index : r->catch_up_to;
	int rv = storage_record_durable(st, durable);
	if (rv == STORAGE_OK)
		rv = storage_open_segment_create(st, r->max_open_seq + 1);
	if (rv != STORAGE_OK) {
		snprintf(r->errmsg, STORAGE_ERRMSG_SIZE, "%s", st->errmsg);
		storage_close(st);
		return rv;
	}
	*out = st;
	return STORAGE_OK;
}

static void recovered_fill(struct recovery *r, struct storage_recovered *rec)
{
	rec->cluster_id = r->meta.cluster_id;
	rec->node_id = r->meta.node_id;
	rec->hard_state = r->meta.hard_state;
	rec->snapshot_index = r->have_snap ? r->snap.index : 0;
	rec->snapshot_term = r->have_snap ? r->snap.term : 0;
	rec->conf = r->have_snap ? r->snap.conf : r->meta.conf;
	rec->snapshot_data = r->snap_data;
	r->snap_data = NULL;
	rec->catch_up = r->damaged;
	rec->catch_up_to = r->damaged ? r->catch_up_to : 0;
	snprintf(rec->damage, sizeof(rec->damage), "%s", r->damage);
	rec->n_entries = (uint32_t)r->n_entries;
	rec->entries = r->entries;
	r->entries = NULL;
	r->n_entries = 0;
}

int storage_open(struct storage **out, struct sio *io, const char *dir,
                 const struct storage_options *opts, struct storage_recovered *rec, char *errmsg)
{
	memset(rec, 0, sizeof(*rec));
	errmsg[0] = '\0';
	int rv = check_dir_path(dir, errmsg);
	if (rv != STORAGE_OK)
		return rv;
	struct recovery r;
	recovery_init(&r, io, dir, errmsg);
	r.repair = true;
	r.keep_payloads = true;
	r.repair_from_peers = opts->repair_from_peers;
	r.notes = rec->notes;
	rv = load_or_create_meta(&r, opts, &rec->created);
	if (rv == STORAGE_OK)
		rv = recovery_scan(&r);
	if (rv == STORAGE_OK && r.n_entries > UINT32_MAX)
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT, "%s: more than 2^32 entries",
		                        r.wal_dir);
	if (rv == STORAGE_OK)
		rv = recovery_repair(&r);
	struct storage *st = NULL;
	if (rv == STORAGE_OK)
		rv = storage_build(&r, opts, &st);
	if (rv == STORAGE_OK) {
		recovered_fill(&r, rec);
		*out = st;
	} else {
		memset(rec->notes, 0, sizeof(rec->notes));
	}
	recovery_free(&r);
	return rv;
}

int storage_inspect(struct sio *io, const char *dir, const struct storage_inspect_visitor *v,
                    char *errmsg)
{
	errmsg[0] = '\0';
	int rv = check_dir_path(dir, errmsg);
	if (rv != STORAGE_OK)
		return rv;
	struct recovery r;
	recovery_init(&r, io, dir, errmsg);
	r.visitor = v;
	rv = meta_load(io, dir, &r.meta, errmsg);
	if (rv == STORAGE_OK && v && v->on_meta) {
		char path[SIO_PATH_MAX];
		path_join(path, dir, META_FILE);
		v->on_meta(v->ctx, path, r.meta.cluster_id, r.meta.node_id, &r.meta.hard_state,
		           &r.meta.conf);
	}
	/* Scan on past damage as a cluster member's open would, then report it. */
	r.repair_from_peers = true;
	if (rv == STORAGE_OK)
		rv = recovery_scan(&r);
	if (rv == STORAGE_OK && r.damaged) {
		if (v && v->on_damage)
			v->on_damage(v->ctx, r.damage, r.catch_up_to);
		rv = storage_errmsg_set(errmsg, STORAGE_ECORRUPT, "%s", r.damage);
	}
	recovery_free(&r);
	return rv;
}

void storage_recovered_boot(const struct storage_recovered *rec, struct raft_boot *boot)
{
	memset(boot, 0, sizeof(*boot));
	boot->hard_state = rec->hard_state;
	boot->snapshot_index = rec->snapshot_index;
	boot->snapshot_term = rec->snapshot_term;
	boot->entries = rec->entries;
	boot->n_entries = rec->n_entries;
	boot->applied = rec->snapshot_index;
	boot->conf = rec->conf;
	boot->snapshot_data = rec->snapshot_data; /* the core takes its own reference */
	boot->catch_up = rec->catch_up;
	boot->catch_up_to = rec->catch_up_to;
}

void storage_recovered_release(struct storage_recovered *rec)
{
	for (uint32_t i = 0; i < rec->n_entries; i++)
		raft_buf_unref(rec->entries[i].buf);
	free(rec->entries);
	rec->entries = NULL;
	rec->n_entries = 0;
	raft_buf_unref(rec->snapshot_data);
	rec->snapshot_data = NULL;
}
