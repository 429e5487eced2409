/* driver.c: the driver's life cycle, fail-stop, logging, leadership changes and introspection. */
#include "driver/impl.h"
#include "base/alloc.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int driver_raft_error(int rv)
{
	switch (rv) {
	case RAFT_OK:
		return DRIVER_OK;
	case RAFT_ENOTLEADER:
		return DRIVER_ENOTLEADER;
	case RAFT_EBUSY:
	case RAFT_ECHANGING:
		return DRIVER_EBUSY;
	case RAFT_ETOOBIG:
		return DRIVER_ETOOBIG;
	case RAFT_ELAGGING:
	case RAFT_ENOPEER:
	case RAFT_ENOVOTER:
		return DRIVER_ECONFIG;
	default:
		return DRIVER_EINVAL;
	}
}

/* ---------------------------------------------------------------------------------
 * The seam's small helpers
 */

void driver_logf(struct driver *d, int level, const char *fmt, ...)
{
	if (d->seam.log == NULL)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->seam.log(d->seam.ctx, level, msg);
}

void driver_fail(struct driver *d, const char *why)
{
	d->failed = true;
	d->stopping = true;
	d->seam.fail_stop(d->seam.ctx, why);
}

uint64_t driver_now_ms(struct driver *d)
{
	return d->seam.now_ms(d->seam.ctx);
}

uint64_t driver_now_us(struct driver *d)
{
	if (d->seam.now_us == NULL)
		return d->seam.now_ms(d->seam.ctx) * 1000u;
	return d->seam.now_us(d->seam.ctx);
}

/* ---------------------------------------------------------------------------------
 * Life cycle
 */

static bool seam_complete(const struct driver_seam *s)
{
	return s->send != NULL && s->persist != NULL && s->now_ms != NULL && s->wall_ms != NULL &&
	       s->snapshot_start != NULL && s->snapshot_save != NULL && s->fail_stop != NULL;
}

int driver_new(struct driver **out, const struct driver_config *cfg, const struct driver_seam *seam,
               const struct raft_boot *boot, char *errmsg, size_t len)
{
	assert(seam_complete(seam));
	struct driver *d = xcalloc(1, sizeof(*d));
	d->cfg = *cfg;
	d->seam = *seam;
	d->role = RAFT_FOLLOWER;
	histogram_init_latency(&d->m.commit_seconds);
	histogram_init_latency(&d->m.apply_seconds);
	histogram_init_latency(&d->m.snapshot_seconds);
	if (kv_new(&cfg->kv, &d->kv) != 0) {
		snprintf(errmsg, len, "invalid key-value configuration");
		free(d);
		return DRIVER_EINVAL;
	}
	const struct raft_buf *snap = boot->snapshot_data;
	if (snap != NULL && kv_snapshot_read_buf(d->kv, snap->data, snap->len) != 0) {
		snprintf(errmsg, len, "the snapshot at index %" PRIu64 " does not load: %s",
		         boot->snapshot_index, kv_errmsg(d->kv));
		goto fail;
	}
	d->last_snapshot = boot->snapshot_index;
	int rv = raft_new(&d->r, &cfg->raft, boot);
	if (rv != 0) {
		snprintf(errmsg, len,
		         "cannot start Raft: %s (term %" PRIu64 ", snapshot %" PRIu64
		         ", %u entries, %u voters)",
		         raft_strerror(rv), boot->hard_state.term, boot->snapshot_index,
		         boot->n_entries, boot->conf.n_voters);
		goto fail;
	}
	driver_snapshot_map(d, boot->snapshot_index);
	*out = d;
	return DRIVER_OK;

fail:
	kv_free(d->kv);
	free(d);
	return DRIVER_ESTORAGE;
}

void driver_free(struct driver *d)
{
	if (d == NULL)
		return;
	driver_batches_release(d);
	assert(d->inflight == 0);
	raft_buf_unref(d->snap.buf);
	raft_free(d->r);
	kv_free(d->kv);
	free(d->writes);
	free(d->reads);
	free(d);
}

void driver_stop(struct driver *d)
{
	d->stopping = true;
	driver_writes_fail_upto(d, UINT64_MAX, DRIVER_ESTOPPING);
	driver_reads_fail_all(d, DRIVER_ESTOPPING);
}

/* ---------------------------------------------------------------------------------
 * Leadership and configuration
 */

static int refused(const struct driver *d)
{
	if (d->failed)
		return DRIVER_ESTORAGE;
	return d->stopping ? DRIVER_ESTOPPING : DRIVER_OK;
}

int driver_transfer(struct driver *d, raft_id to)
{
	if (refused(d) != DRIVER_OK)
		return refused(d);
	d->dirty = true;
	return driver_raft_error(raft_transfer_leader(d->r, to));
}

int driver_step_down(struct driver *d)
{
	if (refused(d) != DRIVER_OK)
		return refused(d);
	d->dirty = true;
	return driver_raft_error(raft_step_down(d->r));
}

int driver_change_config(struct driver *d, const struct raft_conf *target)
{
	if (refused(d) != DRIVER_OK)
		return refused(d);
	d->dirty = true;
	return driver_raft_error(raft_change_config(d->r, target, NULL));
}

/* ---------------------------------------------------------------------------------
 * Introspection
 */

const struct raft *driver_raft(const struct driver *d)
{
	return d->r;
}

const struct kv *driver_kv(const struct driver *d)
{
	return d->kv;
}

void driver_watch_hook_set(struct driver *d, const struct kv_watch_hook *hook)
{
	kv_watch_hook_set(d->kv, hook);
}

uint64_t driver_writes_pending(const struct driver *d)
{
	return d->n_writes;
}

uint64_t driver_reads_pending(const struct driver *d)
{
	return d->n_reads;
}

uint32_t driver_inflight(const struct driver *d)
{
	return d->inflight;
}

bool driver_snapshotting(const struct driver *d)
{
	return d->snap.running;
}

bool driver_failed(const struct driver *d)
{
	return d->failed;
}

void driver_metrics(const struct driver *d, struct driver_metrics *out)
{
	*out = d->m;
}
