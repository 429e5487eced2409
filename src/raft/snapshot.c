/* snapshot.c: log compaction and InstallSnapshot (Figure 13, thesis chapter 5), sent in
 * acknowledged chunks with a bound on those in flight. A follower assembles the chunks
 * in order and installs the snapshot only once it is complete. */
#include "raft/impl.h"

#include <stdlib.h>
#include <string.h>

int raft_snapshot_meta(const struct raft *r, raft_index index, raft_term *term,
                       struct raft_conf *conf)
{
	if (index == 0 || index > r->applied)
		return RAFT_EINVAL;
	if (index < r->log.offset && index != r->snap_index)
		return RAFT_ECOMPACTED;
	raft_term t = index == r->snap_index ? r->snap_term : log_term_at(&r->log, index);
	if (t == 0)
		return RAFT_ECOMPACTED;
	if (term != NULL)
		*term = t;
	if (conf != NULL)
		*conf = index == r->snap_index ? r->snap_conf : *conf_at_index(r, index);
	return RAFT_OK;
}

int raft_snapshot_data_replace(struct raft *r, raft_index index, struct raft_buf *data)
{
	if (data == NULL || r->snap_data == NULL || index != r->snap_index ||
	    data->len != r->snap_data->len)
		return RAFT_EINVAL;
	struct raft_buf *old = r->snap_data;
	r->snap_data = raft_buf_ref(data);
	raft_buf_unref(old);
	return RAFT_OK;
}

int raft_snapshot_taken(struct raft *r, raft_index index, struct raft_buf *data,
                        raft_index trailing)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (data == NULL || data->len == 0 || index <= r->snap_index || index > r->applied ||
	    index < r->log.offset)
		return RAFT_EINVAL;
	raft_term term;
	struct raft_conf conf;
	int rv = raft_snapshot_meta(r, index, &term, &conf);
	if (rv != 0)
		return rv;
	raft_buf_unref(r->snap_data);
	r->snap_data = raft_buf_ref(data);
	r->snap_index = index;
	r->snap_term = term;
	r->snap_conf = conf;
	/* Keep `trailing` entries so that followers a little behind get entries rather
	 * than the whole snapshot. */
	raft_index upto = index > trailing ? index - trailing : 0;
	if (upto > r->log.offset) {
		conf_compact(r, upto);
		log_compact(&r->log, upto);
	}
	return RAFT_OK;
}

raft_index raft_snapshot_index(const struct raft *r)
{
	return r->snap_index;
}

bool raft_progress_snapshotting(const struct raft *r, raft_id id)
{
	for (uint32_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return r->role == RAFT_LEADER && r->prs[i].state == PROGRESS_SNAPSHOT;
	return false;
}

/* ---------------------------------------------------------------------------------
 * Leader
 */

static void send_chunks(struct raft *r, struct progress *p)
{
	assert(p->state == PROGRESS_SNAPSHOT);
	uint64_t size = p->snap_data->len;
	uint64_t chunk = r->cfg.snapshot_chunk_bytes;
	while (p->snap_sent < size) {
		uint64_t in_flight = (p->snap_sent - p->snap_acked + chunk - 1) / chunk;
		if (in_flight >= r->cfg.max_snapshot_chunks)
			break;
		uint64_t len = size - p->snap_sent < chunk ? size - p->snap_sent : chunk;
		struct raft_message m = {
		    .type = RAFT_MSG_SNAPSHOT,
		    .to = p->id,
		    .term = r->term,
		    .index = p->snap_index,
		    .log_term = p->snap_term,
		    .commit = r->commit,
		    .snap_size = size,
		    .snap_offset = p->snap_sent,
		    .chunk = raft_buf_new(p->snap_data->data + p->snap_sent, len),
		};
		m.snap_conf = raft_xmalloc(sizeof(*m.snap_conf));
		*m.snap_conf = p->snap_conf;
		raft_send(r, &m);
		p->snap_sent += len;
	}
}

void snapshot_send(struct raft *r, struct progress *p)
{
	if (p->state != PROGRESS_SNAPSHOT) {
		/* The entries this member needs were compacted away: send the snapshot. */
		assert(r->snap_data != NULL);
		p->state = PROGRESS_SNAPSHOT;
		p->probe_sent = false;
		p->in_start = 0;
		p->in_count = 0;
		p->idle_ticks = 0;
		raft_buf_unref(p->snap_data);
		p->snap_data = raft_buf_ref(r->snap_data);
		p->snap_index = r->snap_index;
		p->snap_term = r->snap_term;
		p->snap_conf = r->snap_conf;
		p->snap_sent = 0;
		p->snap_acked = 0;
	}
	send_chunks(r, p);
}

void snapshot_resend(struct raft *r, struct progress *p)
{
	/* Unanswered chunks were probably lost: resend from the last acknowledged byte.
	 * This is also what gets a follower unstuck after a crash mid-transfer. */
	p->snap_sent = p->snap_acked;
	send_chunks(r, p);
}

void snapshot_recv_response(struct raft *r, const struct raft_message *m)
{
	struct progress *p = raft_progress_of(r, m->from);
	if (p == NULL)
		return;
	p->recent_active = true;
	p->idle_ticks = 0;
	bool done = !m->reject && m->snap_offset == m->snap_size;
	if (p->state != PROGRESS_SNAPSHOT || m->index != p->snap_index) {
		return; /* an answer about a transfer that is over */
	}
	if (done && m->snap_size == p->snap_data->len) {
		/* Installed and durable: continue with the entries after it. */
		if (p->match < p->snap_index)
			p->match = p->snap_index;
		raft_buf_unref(p->snap_data);
		p->snap_data = NULL;
		p->state = PROGRESS_PROBE;
		progress_become_probe(p);
		p->next = p->match + 1;
		if (replication_maybe_commit(r))
			replication_broadcast_commit(r);
		replication_send_append(r, p, true);
		return;
	}
	uint64_t size = p->snap_data->len;
	uint64_t got = m->snap_offset < size ? m->snap_offset : size;
	if (m->reject) {
		/* The follower is missing bytes before what we sent: go back to them. */
		p->snap_acked = got;
		p->snap_sent = got;
	} else if (got > p->snap_acked) {
		p->snap_acked = got;
		if (p->snap_sent < got)
			p->snap_sent = got;
	}
	send_chunks(r, p);
}

/* ---------------------------------------------------------------------------------
 * Follower
 */

void snapshot_recv_reset(struct raft *r)
{
	raft_buf_unref(r->recv.buf);
	memset(&r->recv, 0, sizeof(r->recv));
}

static void answer(struct raft *r, const struct raft_message *m, uint64_t got, bool reject)
{
	struct raft_message resp = {
	    .type = RAFT_MSG_SNAPSHOT_RESP,
	    .to = m->from,
	    .term = r->term,
	    .index = m->index,
	    .log_term = m->log_term,
	    .snap_size = m->snap_size,
	    .snap_offset = got,
	    .reject = reject,
	};
	raft_send(r, &resp);
}

static void install(struct raft *r, const struct raft_message *m)
{
	struct snap_recv *rec = &r->recv;
	raft_index index = rec->index;
	/* Figure 13, step 6: if our log holds the snapshot's last entry, keep what follows
	 * it; otherwise discard the whole log (step 7). */
	bool keep = index <= log_last_index(&r->log) && index >= r->log.offset &&
	            log_term_at(&r->log, index) == rec->term;
	if (keep) {
		log_compact(&r->log, index);
	} else {
		log_reset(&r->log, index, rec->term);
		if (r->persisted > index)
			r->persisted = index;
	}
	/* The stored log may keep the entries after the snapshot only if they are the
	 * right ones: those up to `handed`, whose batches were taken. If nothing past the
	 * snapshot was handed out, the disk may hold entries that a truncation (or an
	 * earlier install not yet taken) condemned and that no batch will replace any
	 * more, because the entries that would have are under the snapshot now. Then the
	 * batch discards the whole stored log and carries everything after the snapshot:
	 * all of it lies past `handed`. */
	bool keep_stored = keep && r->handed >= index;
	/* A pending install that discards the stored log is never downgraded by a later
	 * one: the later index is past the commit, hence past the handed mark it left. */
	assert(!(r->install_pending && r->install_discard_log && keep_stored));
	if (!keep_stored)
		r->handed = index;
	assert(r->persisted <= r->handed);
	assert(r->handed <= log_last_index(&r->log));
	conf_init(r, index, &rec->conf);
	raft_buf_unref(r->snap_data);
	r->snap_data = rec->buf;
	rec->buf = NULL;
	r->snap_index = index;
	r->snap_term = rec->term;
	r->snap_conf = rec->conf;
	if (r->commit < index)
		r->commit = index;
	/* The state machine is replaced by the snapshot when the batch is taken. */
	r->applied = index;
	r->install_pending = true;
	r->install_discard_log = !keep_stored;
	snapshot_recv_reset(r);
	/* Acknowledged once the batch carrying it is durable (raft_send holds it). */
	answer(r, m, m->snap_size, false);
}

void snapshot_recv(struct raft *r, const struct raft_message *m)
{
	assert(r->role == RAFT_FOLLOWER);
	if (m->snap_conf == NULL || m->snap_size == 0 || m->snap_size > UINT32_MAX)
		return;
	uint64_t len = m->chunk != NULL ? m->chunk->len : 0;
	if (m->snap_offset > m->snap_size || len > m->snap_size - m->snap_offset)
		return;
	if (m->index <= r->commit) {
		/* We already hold everything it covers, committed: as good as installed,
		 * unless the snapshot ends on an entry other than the one committed here
		 * (raft.h, "Divergence"). Below the compacted log the term is unknown. */
		raft_term ours = log_term_at(&r->log, m->index);
		if (m->index > 0 && m->index >= r->log.offset && ours != m->log_term) {
			raft_diverge(r, m, m->index, ours, m->log_term);
			return;
		}
		answer(r, m, m->snap_size, false);
		return;
	}
	struct snap_recv *rec = &r->recv;
	if (rec->buf == NULL || rec->index != m->index || rec->term != m->log_term ||
	    rec->size != m->snap_size) {
		if (m->snap_offset != 0) {
			answer(r, m, 0, true); /* start again from the beginning */
			return;
		}
		snapshot_recv_reset(r);
		rec->buf = raft_buf_alloc(m->snap_size);
		rec->index = m->index;
		rec->term = m->log_term;
		rec->size = m->snap_size;
		rec->conf = *m->snap_conf;
	}
	if (m->snap_offset > rec->got) {
		answer(r, m, rec->got, true); /* a chunk went missing */
		return;
	}
	uint64_t end = m->snap_offset + len;
	if (end > rec->got) {
		uint64_t skip = rec->got - m->snap_offset; /* bytes we already have */
		memcpy(rec->buf->data + rec->got, m->chunk->data + skip, end - rec->got);
		rec->got = end;
	}
	if (rec->got < rec->size) {
		answer(r, m, rec->got, false);
		return;
	}
	install(r, m);
}
