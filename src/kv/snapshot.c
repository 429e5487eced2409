/* snapshot.c: the whole store as a checksummed stream of records, written and read back. */
#include "kv/codec.h"
#include "kv/impl.h"

#include "base/alloc.h"
#include "base/crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Layout (docs/kv.md):
 *
 *   [u32 magic "CKVS"][u32 format version]
 *   [u32 length][SnapRecord] ...   header, leases, versions, sessions, footer
 *   [u32 crc32c of every byte before it]
 *
 * integers little-endian. The writer streams through one buffer; the reader checks
 * every record as it builds a new store aside and swaps it in only once the checksum
 * at the end matched.
 */

#define SNAP_MAGIC          0x53564b43u /* "CKVS" */
#define SNAP_FORMAT         2u          /* 2: the log clock, leases and key deadlines */
#define SNAP_FORMAT_V1      1u          /* still read: no lease, no deadline */
#define SNAP_PREAMBLE_BYTES 8u
#define SNAP_BUF_BYTES      (256u * 1024)
/* A record's encoding beyond its key and value bytes, generously. */
#define SNAP_RECORD_OVERHEAD_BYTES 256u
/* Revisions above this cannot be advanced without overflow concerns; refused on read. */
#define SNAP_REVISION_MAX ((uint64_t)1 << 62)

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t record_bytes_max(const struct kv_config *cfg)
{
	return (size_t)cfg->limits.key_bytes_max + cfg->limits.value_bytes_max +
	       SNAP_RECORD_OVERHEAD_BYTES;
}

/* ----------------------------------------------------------------------------------
 * Writing
 */

struct writer {
	kv_write_fn fn;
	void *arg;
	uint32_t crc;
	int err;
	uint64_t records;
	size_t len;
	size_t cap;
	uint8_t *buf;
};

static void writer_flush(struct writer *w)
{
	if (w->len == 0 || w->err != KV_OK)
		return;
	w->crc = crc32c(w->crc, w->buf, w->len);
	if (w->fn(w->arg, w->buf, w->len) != 0)
		w->err = KV_EIO;
	w->len = 0;
}

static void writer_bytes(struct writer *w, const void *p, size_t n)
{
	assert(n <= w->cap);
	if (w->len + n > w->cap)
		writer_flush(w);
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void writer_record(struct writer *w, const Concord__Kv__SnapRecord *rec)
{
	size_t n = concord__kv__snap_record__get_packed_size(rec);
	assert(4 + n <= w->cap);
	if (w->len + 4 + n > w->cap)
		writer_flush(w);
	put_u32(w->buf + w->len, (uint32_t)n);
	size_t written = concord__kv__snap_record__pack(rec, w->buf + w->len + 4);
	assert(written == n);
	w->len += 4 + n;
	w->records++;
}

/* A version record, the bulk of a snapshot: packed by hand, to the same bytes. */
static void writer_version(struct writer *w, const Concord__Kv__SnapVersion *sv)
{
	size_t n = kv_snap_version_record_size(sv);
	assert(4 + n <= w->cap);
	if (w->len + 4 + n > w->cap)
		writer_flush(w);
	put_u32(w->buf + w->len, (uint32_t)n);
	size_t written = kv_snap_version_record_pack(sv, w->buf + w->len + 4);
	assert(written == n);
	w->len += 4 + n;
	w->records++;
}

static void write_header(struct writer *w, const struct kv *kv)
{
	Concord__Kv__SnapHeader h;
	concord__kv__snap_header__init(&h);
	h.applied_index = kv->applied;
	h.revision = kv->rev;
	h.compact_revision = kv->compact_rev;
	h.now_ms = kv->now_ms;
	h.n_items = kv->n_items;
	h.n_versions = kv->n_versions;
	h.n_sessions = kv->sessions.count;
	h.clock_ms = kv->clock_ms;
	h.clock_term = kv->clock_term;
	h.clock_running = kv->clock_running;
	h.base_mono = kv->base_mono;
	h.base_clock = kv->base_clock;
	h.n_leases = kv->leases.n;
	Concord__Kv__SnapRecord rec;
	concord__kv__snap_record__init(&rec);
	rec.record_case = CONCORD__KV__SNAP_RECORD__RECORD_HEADER;
	rec.header = &h;
	writer_record(w, &rec);
}

/* Writes an item's versions, newest first; returns how many. */
static uint64_t write_item(struct writer *w, const struct kv_item *it)
{
	uint64_t n = 0;
	for (const struct kv_ver *v = it->head; v != NULL && w->err == KV_OK; v = v->older) {
		Concord__Kv__SnapVersion sv = CONCORD__KV__SNAP_VERSION__INIT;
		if (v == it->head) {
			sv.key.data = kv_item_key(it);
			sv.key.len = it->key_len;
			if (it->ttl != NULL) {
				sv.deadline = it->ttl->node.deadline;
				sv.lease = it->ttl->lease != NULL ? it->ttl->lease->id : 0;
			}
		} else {
			sv.same_key = true;
		}
		sv.create_revision = v->create_rev;
		sv.mod_revision = v->mod_rev;
		sv.version = v->version;
		sv.value.data = (uint8_t *)v->data;
		sv.value.len = v->len;
		writer_version(w, &sv);
		n++;
	}
	return n;
}

static void write_lease(struct writer *w, const struct kv_lease *l)
{
	Concord__Kv__SnapLease sl;
	concord__kv__snap_lease__init(&sl);
	sl.id = l->id;
	sl.ttl_ms = l->ttl_ms;
	sl.deadline = l->node.deadline;
	Concord__Kv__SnapRecord rec;
	concord__kv__snap_record__init(&rec);
	rec.record_case = CONCORD__KV__SNAP_RECORD__RECORD_LEASE;
	rec.lease = &sl;
	writer_record(w, &rec);
}

static void write_session(struct writer *w, const struct kv_session *se)
{
	Concord__Kv__Reply pr;
	kv_reply_to_pb(&se->reply, &pr);
	Concord__Kv__SnapSession ss;
	concord__kv__snap_session__init(&ss);
	ss.client_id = se->id;
	ss.last_seq = se->last_seq;
	ss.last_active_ms = se->last_active_ms;
	ss.reply = &pr;
	Concord__Kv__SnapRecord rec;
	concord__kv__snap_record__init(&rec);
	rec.record_case = CONCORD__KV__SNAP_RECORD__RECORD_SESSION;
	rec.session = &ss;
	writer_record(w, &rec);
}

int kv_snapshot_write(const struct kv *kv, kv_write_fn fn, void *arg)
{
	/* One allocation: the writer, its CRC tables and its buffer, big enough for any
	 * record. */
	size_t cap = SNAP_BUF_BYTES + record_bytes_max(&kv->cfg);
	struct writer *w = xmalloc(sizeof(*w) + cap);
	memset(w, 0, sizeof(*w));
	w->fn = fn;
	w->arg = arg;
	w->buf = (uint8_t *)(w + 1);
	w->cap = cap;

	uint8_t pre[SNAP_PREAMBLE_BYTES];
	put_u32(pre, SNAP_MAGIC);
	put_u32(pre + 4, SNAP_FORMAT);
	writer_bytes(w, pre, sizeof(pre));
	write_header(w, kv);
	for (size_t i = 0; i < kv->leases.n; i++)
		write_lease(w, kv->leases.a[i]);
	uint64_t versions = 0;
	for (const struct kv_item *it = kv->list->next[0]; it != NULL && w->err == KV_OK;
	     it = it->next[0])
		versions += write_item(w, it);
	assert(w->err != KV_OK || versions == kv->n_versions);
	for (const struct kv_session *se = kv->sessions.oldest; se != NULL; se = se->next)
		write_session(w, se);

	Concord__Kv__SnapFooter f;
	concord__kv__snap_footer__init(&f);
	f.n_records = w->records;
	Concord__Kv__SnapRecord rec;
	concord__kv__snap_record__init(&rec);
	rec.record_case = CONCORD__KV__SNAP_RECORD__RECORD_FOOTER;
	rec.footer = &f;
	writer_record(w, &rec);
	writer_flush(w);
	uint8_t tail[4];
	put_u32(tail, w->crc);
	if (w->err == KV_OK && fn(arg, tail, sizeof(tail)) != 0)
		w->err = KV_EIO;
	int err = w->err;
	free(w);
	return err;
}

static int fd_write(void *arg, const void *buf, size_t len)
{
	int fd = *(const int *)arg;
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kv_snapshot_write_fd(const struct kv *kv, int fd)
{
	return kv_snapshot_write(kv, fd_write, &fd);
}

struct membuf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

static int mem_write(void *arg, const void *buf, size_t len)
{
	struct membuf *m = arg;
	if (m->len + len > m->cap) {
		size_t cap = m->cap == 0 ? 4096 : m->cap;
		while (cap < m->len + len)
			cap *= 2;
		uint8_t *data = xrealloc(m->data, cap);
		m->data = data;
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

int kv_snapshot_write_buf(const struct kv *kv, void **buf, size_t *len)
{
	struct membuf m = {0};
	int rv = kv_snapshot_write(kv, mem_write, &m);
	assert(rv == KV_OK); /* memory writes do not fail */
	*buf = m.data;
	*len = m.len;
	return rv;
}

/* ----------------------------------------------------------------------------------
 * Reading
 */

struct reader {
	kv_read_fn fn;
	void *arg;
	uint32_t crc;    /* over the bytes consumed */
	uint64_t offset; /* of the next byte to consume */
	size_t start;    /* unconsumed bytes are buf[start, end) */
	size_t end;
	size_t cap;
	bool eof;
	uint8_t *buf;
};

/* Makes n bytes available at r->buf + r->start. Returns 0, KV_EIO, or KV_ECORRUPT at a
 * premature end of input. */
static int reader_fill(struct reader *r, size_t n)
{
	assert(n <= r->cap);
	if (r->end - r->start >= n)
		return KV_OK;
	if (r->cap - r->start < n) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	while (r->end - r->start < n) {
		if (r->eof)
			return KV_ECORRUPT;
		ssize_t got = r->fn(r->arg, r->buf + r->end, r->cap - r->end);
		if (got < 0)
			return KV_EIO;
		if (got == 0)
			r->eof = true;
		assert((size_t)got <= r->cap - r->end);
		r->end += (size_t)got;
	}
	return KV_OK;
}

static const uint8_t *reader_take(struct reader *r, size_t n)
{
	assert(r->end - r->start >= n);
	const uint8_t *p = r->buf + r->start;
	r->crc = crc32c(r->crc, p, n);
	r->start += n;
	r->offset += n;
	return p;
}

/* The state being rebuilt, and what the checks remember between records. */
struct restore {
	struct kv *kv; /* the store being built: a private copy, not the caller's */
	struct reader *rd;
	char *errmsg;
	struct kv_item *tail[KV_SKIP_LEVELS];
	struct kv_item *item;  /* the item whose versions are being read */
	struct kv_ver *oldest; /* its oldest version read so far */
	uint64_t revision;     /* the header's */
	uint32_t format;
	struct kv_hist *hist; /* compaction queue entries, sorted at the end */
	size_t n_hist;
	size_t hist_cap;
};

static int corrupt(struct restore *rs, uint64_t offset, const char *what)
{
	snprintf(rs->errmsg, KV_ERRMSG_SIZE, "snapshot offset %" PRIu64 ": %s", offset, what);
	return KV_ECORRUPT;
}

/* A sound snapshot that this store's configuration cannot hold. */
static int misfit(struct restore *rs, uint64_t offset, const char *what)
{
	snprintf(rs->errmsg, KV_ERRMSG_SIZE, "snapshot offset %" PRIu64 ": %s", offset, what);
	return KV_EINVAL;
}

/* Reads one record. Returns 0 with *out (free with ..._free_unpacked), or an error. */
static int read_record(struct restore *rs, Concord__Kv__SnapRecord **out)
{
	struct reader *rd = rs->rd;
	uint64_t at = rd->offset;
	int rv = reader_fill(rd, 4);
	if (rv == KV_EIO)
		return KV_EIO;
	if (rv != KV_OK)
		return corrupt(rs, at, "truncated record length");
	uint32_t n = get_u32(reader_take(rd, 4));
	if (n > record_bytes_max(&rs->kv->cfg))
		return corrupt(rs, at, "record longer than any this store accepts");
	rv = reader_fill(rd, n);
	if (rv == KV_EIO)
		return KV_EIO;
	if (rv != KV_OK)
		return corrupt(rs, at, "truncated record");
	const uint8_t *p = reader_take(rd, n);
	Concord__Kv__SnapRecord *rec = concord__kv__snap_record__unpack(NULL, n, p);
	if (rec == NULL)
		return corrupt(rs, at, "record does not decode");
	*out = rec;
	return KV_OK;
}

static void hist_add(struct restore *rs, uint64_t rev, struct kv_item *it)
{
	if (rs->n_hist == rs->hist_cap) {
		size_t cap = rs->hist_cap == 0 ? 64 : rs->hist_cap * 2;
		struct kv_hist *h = xrealloc(rs->hist, cap * sizeof(*h));
		rs->hist = h;
		rs->hist_cap = cap;
	}
	rs->hist[rs->n_hist++] = (struct kv_hist){rev, it};
	it->pending++;
}

/* Accounts for a complete item: counters, and the compaction queue entries the live
 * path would hold for it (one per version that superseded another, and one for a
 * tombstone with nothing older, so that compaction collects it). */
static void item_finish(struct restore *rs)
{
	struct kv *kv = rs->kv;
	struct kv_item *it = rs->item;
	if (it == NULL)
		return;
	struct kv_ver *head = it->head;
	assert(head != NULL);
	if (kv_ver_live(head)) {
		kv->n_keys++;
		kv->key_bytes += it->key_len;
		kv->value_bytes += head->len;
	}
	for (struct kv_ver *v = head; v != NULL; v = v->older) {
		if (v != head)
			kv->hist_bytes += v->len;
		if (v->older != NULL || !kv_ver_live(v))
			hist_add(rs, v->mod_rev, it);
	}
	rs->item = NULL;
}

/* Checks one version on its own, and against the next newer one of the same key (NULL
 * for a key's newest). The rules are the ones kv_store_put and kv_store_delete follow,
 * so that later commands find the invariants they assert. */
static const char *version_problem(const Concord__Kv__SnapVersion *sv, const struct kv_ver *newer,
                                   uint64_t revision)
{
	if (sv->mod_revision == 0 || sv->mod_revision > revision)
		return "version's mod revision out of range";
	bool live = sv->version != 0;
	if (!live && (sv->create_revision != 0 || sv->value.len != 0))
		return "tombstone with a value or a create revision";
	/* The n-th version of a key took at least n revisions from its creation. */
	if (live && (sv->create_revision == 0 || sv->create_revision > sv->mod_revision))
		return "create revision out of range";
	if (live && sv->mod_revision - sv->create_revision < sv->version - 1)
		return "version count out of range";
	if (newer == NULL)
		return NULL;
	if (sv->mod_revision >= newer->mod_rev)
		return "versions of a key out of order";
	if (!live && !kv_ver_live(newer))
		return "two tombstones in a row";
	if (!live && (newer->version != 1 || newer->create_rev != newer->mod_rev))
		return "a key recreated after a deletion must restart at version 1";
	if (live && kv_ver_live(newer) &&
	    (newer->create_rev != sv->create_revision || newer->version != sv->version + 1))
		return "version does not follow the previous one";
	return NULL;
}

/* A key's deadline and lease, on its newest version (just read), if live. */
static int read_version_ttl(struct restore *rs, const Concord__Kv__SnapVersion *sv, uint64_t at)
{
	struct kv *kv = rs->kv;
	if (sv->deadline == 0 && sv->lease == 0)
		return KV_OK;
	if (rs->format == SNAP_FORMAT_V1)
		return corrupt(rs, at, "a format 1 version with a deadline or lease");
	if (sv->same_key || sv->version == 0)
		return corrupt(rs, at, "a deadline or lease on an old version or a tombstone");
	if (sv->deadline > kv->clock_ms + (uint64_t)KV_TTL_MS_LIMIT)
		return corrupt(rs, at, "a key's deadline beyond the longest TTL");
	struct kv_lease *l = NULL;
	if (sv->lease != 0 && (l = kv_lease_find(kv, sv->lease)) == NULL)
		return corrupt(rs, at, "a key attached to a lease that does not exist");
	kv_ttl_attach(kv, rs->item, sv->deadline, l);
	return KV_OK;
}

static int read_lease(struct restore *rs, const Concord__Kv__SnapLease *sl, uint64_t at)
{
	struct kv *kv = rs->kv;
	if (sl->id == 0)
		return corrupt(rs, at, "lease id 0");
	if (kv->leases.n > 0 && kv->leases.a[kv->leases.n - 1]->id >= sl->id)
		return corrupt(rs, at, "leases out of order");
	if (sl->ttl_ms < 1 || sl->ttl_ms > KV_TTL_MS_LIMIT)
		return corrupt(rs, at, "lease TTL out of range");
	/* Granted or kept alive at some clock <= now: its deadline is at most a TTL on. */
	if (sl->deadline < 1 || sl->deadline > kv->clock_ms + (uint64_t)sl->ttl_ms)
		return corrupt(rs, at, "lease deadline out of range");
	kv_lease_add(kv, sl->id, sl->ttl_ms, sl->deadline);
	return KV_OK;
}

static int read_version(struct restore *rs, const Concord__Kv__SnapVersion *sv, uint64_t at)
{
	struct kv *kv = rs->kv;
	const struct kv_limits *lim = &kv->cfg.limits;
	if (!sv->same_key) {
		if (sv->key.len > lim->key_bytes_max)
			return misfit(rs, at, "key longer than this store's key_bytes_max");
		struct kv_item *last = rs->tail[0];
		if (last != kv->list &&
		    kv_key_cmp(kv_item_key(last), last->key_len, sv->key.data, sv->key.len) >= 0)
			return corrupt(rs, at, "keys out of order");
		item_finish(rs);
		rs->item = kv_store_append(kv, sv->key.data, sv->key.len, rs->tail);
		rs->oldest = NULL;
	} else {
		if (rs->item == NULL)
			return corrupt(rs, at, "a version without a key");
		if (sv->key.len != 0)
			return corrupt(rs, at, "a continued version repeats a key");
	}
	if (sv->value.len > lim->value_bytes_max)
		return misfit(rs, at, "value longer than this store's value_bytes_max");
	const char *problem = version_problem(sv, rs->oldest, rs->revision);
	if (problem != NULL)
		return corrupt(rs, at, problem);
	struct kv_ver *v = kv_ver_new((uint32_t)sv->value.len);
	v->create_rev = sv->create_revision;
	v->mod_rev = sv->mod_revision;
	v->version = sv->version;
	if (sv->value.len > 0)
		memcpy(v->data, sv->value.data, sv->value.len);
	if (rs->oldest == NULL)
		rs->item->head = v;
	else
		rs->oldest->older = v;
	rs->oldest = v;
	kv->n_versions++;
	return read_version_ttl(rs, sv, at);
}

static int read_session(struct restore *rs, const Concord__Kv__SnapSession *ss, uint64_t at)
{
	struct kv *kv = rs->kv;
	if (ss->client_id == 0)
		return corrupt(rs, at, "session id 0");
	if (kv_session_find(&kv->sessions, ss->client_id) != NULL)
		return corrupt(rs, at, "duplicate session");
	if (ss->last_active_ms > kv->now_ms)
		return corrupt(rs, at, "session active after the log time");
	const struct kv_session *newest = kv->sessions.newest;
	if (newest != NULL && ss->last_active_ms < newest->last_active_ms)
		return corrupt(rs, at, "sessions out of activity order");
	struct kv_reply reply;
	memset(&reply, 0, sizeof(reply));
	if (ss->reply != NULL && kv_reply_from_pb(ss->reply, &reply) != KV_OK)
		return corrupt(rs, at, "session reply with an unknown code");
	struct kv_session *se = kv_session_add(&kv->sessions, ss->client_id, ss->last_active_ms);
	se->last_seq = ss->last_seq;
	se->reply = reply;
	return KV_OK;
}

/* The log clock of format 2; format 1 has none (the clock starts at 1, no lease). */
static int read_header_clock(struct restore *rs, const Concord__Kv__SnapHeader *h, uint64_t at)
{
	struct kv *kv = rs->kv;
	bool any = h->clock_ms != 0 || h->clock_term != 0 || h->clock_running ||
	           h->base_mono != 0 || h->base_clock != 0 || h->n_leases != 0;
	if (rs->format == SNAP_FORMAT_V1) {
		if (any)
			return corrupt(rs, at, "a format 1 header with format 2 fields");
		kv->clock_ms = 1;
		return KV_OK;
	}
	if (h->clock_ms < 1 || h->clock_ms > ((uint64_t)1 << 62))
		return corrupt(rs, at, "log clock out of range");
	if (h->base_clock > h->clock_ms)
		return corrupt(rs, at, "clock base above the clock");
	if (!h->clock_running && (h->base_mono != 0 || h->base_clock != 0))
		return corrupt(rs, at, "a clock base while the clock waits");
	if (h->n_leases > KV_LEASES_LIMIT)
		return corrupt(rs, at, "more leases than any store holds");
	kv->clock_ms = h->clock_ms;
	kv->clock_term = h->clock_term;
	kv->clock_running = h->clock_running;
	kv->base_mono = h->base_mono;
	kv->base_clock = h->base_clock;
	return KV_OK;
}

static int read_header(struct restore *rs, const Concord__Kv__SnapRecord *rec, uint64_t at)
{
	struct kv *kv = rs->kv;
	if (rec->record_case != CONCORD__KV__SNAP_RECORD__RECORD_HEADER)
		return corrupt(rs, at, "the first record is not a header");
	const Concord__Kv__SnapHeader *h = rec->header;
	if (h->revision > SNAP_REVISION_MAX)
		return corrupt(rs, at, "revision out of range");
	if (h->compact_revision > h->revision)
		return corrupt(rs, at, "compaction point above the revision");
	if (h->n_items > h->n_versions)
		return corrupt(rs, at, "more keys than versions");
	if (h->n_sessions > kv->cfg.sessions_max) {
		snprintf(rs->errmsg, KV_ERRMSG_SIZE,
		         "snapshot holds %" PRIu64
		         " sessions, this store's sessions_max is %" PRIu32,
		         h->n_sessions, kv->cfg.sessions_max);
		return KV_EINVAL;
	}
	/* Size the index for the announced keys at once rather than growing it. */
	assert(kv->n_items == 0);
	kv_index_free(&kv->index);
	kv_index_init(&kv->index, h->n_items);
	kv->applied = h->applied_index;
	kv->rev = h->revision;
	kv->compact_rev = h->compact_revision;
	kv->now_ms = h->now_ms;
	rs->revision = h->revision;
	return read_header_clock(rs, h, at);
}

static int hist_cmp(const void *a, const void *b)
{
	const struct kv_hist *x = a;
	const struct kv_hist *y = b;
	return x->rev < y->rev ? -1 : x->rev > y->rev;
}

/* Reads everything into rs->kv; the caller swaps it in or throws it away. */
static int restore_run(struct restore *rs)
{
	struct reader *rd = rs->rd;
	int rv = reader_fill(rd, SNAP_PREAMBLE_BYTES);
	if (rv == KV_EIO)
		return rv;
	if (rv != KV_OK)
		return corrupt(rs, 0, "shorter than a snapshot preamble");
	const uint8_t *pre = reader_take(rd, SNAP_PREAMBLE_BYTES);
	if (get_u32(pre) != SNAP_MAGIC)
		return corrupt(rs, 0, "not a key-value snapshot (bad magic)");
	rs->format = get_u32(pre + 4);
	if (rs->format != SNAP_FORMAT && rs->format != SNAP_FORMAT_V1) {
		snprintf(rs->errmsg, KV_ERRMSG_SIZE, "snapshot format %" PRIu32 ", expected %u",
		         rs->format, SNAP_FORMAT);
		return KV_EFORMAT;
	}

	Concord__Kv__SnapRecord *rec = NULL;
	uint64_t at = rd->offset;
	if ((rv = read_record(rs, &rec)) != KV_OK)
		return rv;
	rv = read_header(rs, rec, at);
	/* `header` shares a union with the other record kinds: read it only from a record
	 * read_header() accepted as a header. */
	bool is_header = rv == KV_OK;
	uint64_t n_items = is_header ? rec->header->n_items : 0;
	uint64_t n_versions = is_header ? rec->header->n_versions : 0;
	uint64_t n_sessions = is_header ? rec->header->n_sessions : 0;
	uint64_t n_leases = is_header ? rec->header->n_leases : 0;
	concord__kv__snap_record__free_unpacked(rec, NULL);
	if (rv != KV_OK)
		return rv;

	/* Leases, versions and sessions, as many as the header announced, then the footer. */
	uint64_t records = 1;
	for (uint64_t i = 0; i < n_leases; i++) {
		at = rd->offset;
		if ((rv = read_record(rs, &rec)) != KV_OK)
			return rv;
		records++;
		if (rec->record_case != CONCORD__KV__SNAP_RECORD__RECORD_LEASE)
			rv = corrupt(rs, at, "record of an unexpected kind");
		else
			rv = read_lease(rs, rec->lease, at);
		concord__kv__snap_record__free_unpacked(rec, NULL);
		if (rv != KV_OK)
			return rv;
	}
	for (uint64_t i = 0; i < n_versions + n_sessions + 1; i++) {
		at = rd->offset;
		if ((rv = read_record(rs, &rec)) != KV_OK)
			return rv;
		records++;
		Concord__Kv__SnapRecord__RecordCase want =
		    i < n_versions                ? CONCORD__KV__SNAP_RECORD__RECORD_VERSION
		    : i < n_versions + n_sessions ? CONCORD__KV__SNAP_RECORD__RECORD_SESSION
		                                  : CONCORD__KV__SNAP_RECORD__RECORD_FOOTER;
		if (rec->record_case != want)
			rv = corrupt(rs, at, "record of an unexpected kind");
		else if (want == CONCORD__KV__SNAP_RECORD__RECORD_VERSION)
			rv = read_version(rs, rec->version, at);
		else if (want == CONCORD__KV__SNAP_RECORD__RECORD_SESSION)
			rv = read_session(rs, rec->session, at);
		else if (rec->footer->n_records != records - 1)
			rv = corrupt(rs, at, "footer's record count does not match");
		concord__kv__snap_record__free_unpacked(rec, NULL);
		if (rv != KV_OK)
			return rv;
		if (i + 1 == n_versions)
			item_finish(rs);
	}
	if (rs->kv->n_items != n_items)
		return corrupt(rs, at, "header's key count does not match");

	/* The checksum covers everything before it; nothing may follow it. */
	uint32_t want_crc = rd->crc;
	at = rd->offset;
	rv = reader_fill(rd, 4);
	if (rv == KV_EIO)
		return rv;
	if (rv != KV_OK)
		return corrupt(rs, at, "truncated checksum");
	if (get_u32(reader_take(rd, 4)) != want_crc)
		return corrupt(rs, at, "checksum mismatch");
	rv = reader_fill(rd, 1);
	if (rv == KV_EIO)
		return rv;
	if (rv == KV_OK)
		return corrupt(rs, rd->offset, "bytes after the checksum");

	if (rs->n_hist > 0)
		qsort(rs->hist, rs->n_hist, sizeof(*rs->hist), hist_cmp);
	for (size_t i = 0; i < rs->n_hist; i++)
		kv_histq_push(&rs->kv->hist, rs->hist[i].rev, rs->hist[i].item);
	return KV_OK;
}

int kv_snapshot_read(struct kv *kv, kv_read_fn fn, void *arg)
{
	kv->errmsg[0] = '\0';
	size_t cap = SNAP_BUF_BYTES + 4 + record_bytes_max(&kv->cfg);
	struct reader *rd = xmalloc(sizeof(*rd) + cap);
	memset(rd, 0, sizeof(*rd));
	rd->fn = fn;
	rd->arg = arg;
	rd->buf = (uint8_t *)(rd + 1);
	rd->cap = cap;

	struct kv *fresh = xmalloc(sizeof(*fresh));
	kv_store_init(fresh, &kv->cfg, 0);
	struct restore rs;
	memset(&rs, 0, sizeof(rs));
	rs.kv = fresh;
	rs.rd = rd;
	rs.errmsg = kv->errmsg;
	for (uint32_t i = 0; i < KV_SKIP_LEVELS; i++)
		rs.tail[i] = fresh->list;

	int rv = restore_run(&rs);
	if (rv == KV_EIO && kv->errmsg[0] == '\0')
		snprintf(kv->errmsg, KV_ERRMSG_SIZE, "snapshot read failed at offset %" PRIu64,
		         rd->offset);
	free(rs.hist);
	free(rd);
	if (rv != KV_OK) {
		kv_store_clear(fresh);
		free(fresh);
		return rv;
	}
	/* Swap: the old state goes, the rebuilt one takes its place. */
	char errmsg[KV_ERRMSG_SIZE];
	memcpy(errmsg, kv->errmsg, sizeof(errmsg));
	kv_store_clear(kv);
	struct kv_watch_hook hook = kv->watch; /* not state: the watchers stay */
	struct kv_item **touched = kv->touched;
	size_t cap_touched = kv->cap_touched;
	*kv = *fresh;
	memcpy(kv->errmsg, errmsg, sizeof(errmsg));
	free(fresh);
	kv->watch = hook;
	kv->touched = touched;
	kv->cap_touched = cap_touched;
	if (hook.reset != NULL)
		hook.reset(hook.arg);
	return KV_OK;
}

static ssize_t fd_read(void *arg, void *buf, size_t len)
{
	int fd = *(const int *)arg;
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

int kv_snapshot_read_fd(struct kv *kv, int fd)
{
	return kv_snapshot_read(kv, fd_read, &fd);
}

struct memsrc {
	const uint8_t *data;
	size_t len;
	size_t off;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct memsrc *m = arg;
	size_t n = m->len - m->off;
	if (n > len)
		n = len;
	if (n > 0)
		memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

int kv_snapshot_read_buf(struct kv *kv, const void *buf, size_t len)
{
	struct memsrc m = {buf, len, 0};
	return kv_snapshot_read(kv, mem_read, &m);
}
