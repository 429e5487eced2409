/* codec.c: conversions between raft.h structures and the protobuf-c types of concord.proto. */
#include "proto/codec.h"

#include "base/alloc.h"
#include "concord.pb-c.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const char *proto_strerror(int err)
{
	static const char *const text[] = {
#define PROTO_ERROR_TEXT_(name, t) t,
	    PROTO_ERRORS(PROTO_ERROR_TEXT_)
#undef PROTO_ERROR_TEXT_
	};
	if (err < 0 || err >= PROTO_ERROR_COUNT_)
		return "unknown codec error";
	return text[err];
}

/* The generated enums mirror raft.h's numbering; the codec relies on it. */
_Static_assert((int)CONCORD__ENTRY_TYPE__ENTRY_TYPE_NORMAL == (int)RAFT_ENTRY_NORMAL, "type");
_Static_assert((int)CONCORD__ENTRY_TYPE__ENTRY_TYPE_NOOP == (int)RAFT_ENTRY_NOOP, "type");
_Static_assert((int)CONCORD__ENTRY_TYPE__ENTRY_TYPE_CONFIG == (int)RAFT_ENTRY_CONFIG, "type");
_Static_assert((int)CONCORD__MESSAGE_TYPE__MESSAGE_TYPE_PREVOTE == (int)RAFT_MSG_PREVOTE, "msg");
_Static_assert((int)CONCORD__MESSAGE_TYPE__MESSAGE_TYPE_TIMEOUT_NOW == (int)RAFT_MSG_TIMEOUT_NOW,
               "msg");
_Static_assert((int)CONCORD__MESSAGE_TYPE__MESSAGE_TYPE_SNAPSHOT_RESP ==
                   (int)RAFT_MSG_SNAPSHOT_RESP,
               "msg");
_Static_assert(RAFT_MSG_TYPE_COUNT_ == 12, "a new message type needs a MessageType value");
_Static_assert(sizeof(raft_id) == sizeof(uint64_t), "ids are encoded as uint64");

/* ----------------------------------------------------------------------------------
 * Entry
 */

static void entry_to_pb(const struct raft_entry *e, Concord__Entry *pe)
{
	assert(e->type >= RAFT_ENTRY_NORMAL);
	assert(e->type <= RAFT_ENTRY_CONFIG);
	concord__entry__init(pe);
	pe->term = e->term;
	pe->index = e->index;
	pe->type = (Concord__EntryType)e->type;
	pe->data.len = raft_entry_len(e);
	pe->data.data = (uint8_t *)raft_entry_data(e);
}

/* Checks a decoded entry and converts it; allocates the payload only once all checks
 * passed, so a refusal leaves nothing to free. */
static int entry_from_pb(const Concord__Entry *pe, struct raft_entry *e)
{
	if (pe->index == 0)
		return PROTO_EINVALID;
	if (pe->term == 0)
		return PROTO_EINVALID;
	if ((int)pe->type < (int)RAFT_ENTRY_NORMAL)
		return PROTO_EINVALID;
	if ((int)pe->type > (int)RAFT_ENTRY_CONFIG)
		return PROTO_EINVALID;
	if (pe->data.len > PROTO_ENTRY_DATA_MAX_BYTES)
		return PROTO_EINVALID;
	e->term = pe->term;
	e->index = pe->index;
	e->type = (enum raft_entry_type)pe->type;
	e->buf = pe->data.len > 0 ? raft_buf_new(pe->data.data, pe->data.len) : NULL;
	return PROTO_OK;
}

size_t proto_entry_size(const struct raft_entry *e)
{
	Concord__Entry pe;
	entry_to_pb(e, &pe);
	return concord__entry__get_packed_size(&pe);
}

size_t proto_entry_encode(const struct raft_entry *e, uint8_t *buf)
{
	Concord__Entry pe;
	entry_to_pb(e, &pe);
	return concord__entry__pack(&pe, buf);
}

/* A ProtobufCBuffer that copies every chunk into `head` except the payload, which
 * protobuf-c hands over as one chunk pointing at the caller's bytes (the `data` field is
 * the last one, so it is also the last chunk). */
struct head_buffer {
	ProtobufCBuffer base;
	uint8_t *head;
	size_t len;
	const uint8_t *payload;
	size_t payload_len;
	int payload_seen;
};

static void head_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
	struct head_buffer *h = (struct head_buffer *)b;
	if (h->payload_len > 0 && data == h->payload && len == h->payload_len) {
		assert(!h->payload_seen);
		h->payload_seen = 1;
		return;
	}
	assert(!h->payload_seen); /* nothing may follow the payload */
	assert(h->len + len <= PROTO_ENTRY_HEAD_MAX_BYTES);
	memcpy(h->head + h->len, data, len);
	h->len += len;
}

size_t proto_entry_encode_head(const struct raft_entry *e, uint8_t head[PROTO_ENTRY_HEAD_MAX_BYTES])
{
	Concord__Entry pe;
	entry_to_pb(e, &pe);
	struct head_buffer h = {
	    .base = {.append = head_append},
	    .head = head,
	    .payload = raft_entry_data(e),
	    .payload_len = raft_entry_len(e),
	};
	size_t total = concord__entry__pack_to_buffer(&pe, &h.base);
	assert(h.payload_seen == (h.payload_len > 0));
	assert(total == h.len + h.payload_len);
	return h.len;
}

int proto_entry_decode(const uint8_t *buf, size_t len, struct raft_entry *e)
{
	Concord__Entry *pe = concord__entry__unpack(NULL, len, buf);
	if (pe == NULL)
		return PROTO_EMALFORMED;
	int rv = entry_from_pb(pe, e);
	concord__entry__free_unpacked(pe, NULL);
	return rv;
}

/* ----------------------------------------------------------------------------------
 * Configuration
 */

static void conf_to_pb(const struct raft_conf *c, Concord__Conf *pc)
{
	assert(c->n_voters <= RAFT_MAX_MEMBERS);
	assert(c->n_voters_old <= RAFT_MAX_MEMBERS);
	assert(c->n_learners <= RAFT_MAX_MEMBERS);
	concord__conf__init(pc);
	pc->n_voters = c->n_voters;
	pc->voters = (uint64_t *)c->voters;
	pc->n_voters_old = c->n_voters_old;
	pc->voters_old = (uint64_t *)c->voters_old;
	pc->n_learners = c->n_learners;
	pc->learners = (uint64_t *)c->learners;
}

static int ids_from_pb(const uint64_t *src, size_t n, raft_id *dst, uint32_t *n_dst)
{
	if (n > RAFT_MAX_MEMBERS)
		return PROTO_EINVALID;
	for (size_t i = 0; i < n; i++) {
		if (src[i] == RAFT_NONE)
			return PROTO_EINVALID;
		for (size_t j = 0; j < i; j++)
			if (src[j] == src[i])
				return PROTO_EINVALID;
		dst[i] = src[i];
	}
	*n_dst = (uint32_t)n;
	return PROTO_OK;
}

/* A missing Conf decodes as the empty configuration. */
static int conf_from_pb(const Concord__Conf *pc, struct raft_conf *c)
{
	memset(c, 0, sizeof(*c));
	if (pc == NULL)
		return PROTO_OK;
	int rv = ids_from_pb(pc->voters, pc->n_voters, c->voters, &c->n_voters);
	if (rv != PROTO_OK)
		return rv;
	rv = ids_from_pb(pc->voters_old, pc->n_voters_old, c->voters_old, &c->n_voters_old);
	if (rv != PROTO_OK)
		return rv;
	return ids_from_pb(pc->learners, pc->n_learners, c->learners, &c->n_learners);
}

/* ----------------------------------------------------------------------------------
 * Message
 */

struct message_pb {
	Concord__Message pm;
	Concord__Entry *entries;
	Concord__Entry **ptrs;
	Concord__Conf conf;
};

static void message_to_pb(const struct raft_message *m, struct message_pb *out)
{
	assert(m->type >= RAFT_MSG_PREVOTE);
	assert(m->type < RAFT_MSG_TYPE_COUNT_);
	Concord__Message *pm = &out->pm;
	concord__message__init(pm);
	pm->type = (Concord__MessageType)m->type;
	pm->from = m->from;
	pm->to = m->to;
	pm->term = m->term;
	pm->index = m->index;
	pm->log_term = m->log_term;
	pm->commit = m->commit;
	pm->reject = m->reject;
	pm->transfer = m->transfer;
	pm->xterm = m->xterm;
	pm->xindex = m->xindex;
	pm->xlen = m->xlen;
	pm->context = m->context;
	pm->snap_size = m->snap_size;
	pm->snap_offset = m->snap_offset;
	if (m->chunk != NULL) {
		pm->chunk.data = m->chunk->data;
		pm->chunk.len = m->chunk->len;
	}
	if (m->snap_conf != NULL) {
		conf_to_pb(m->snap_conf, &out->conf);
		pm->snap_conf = &out->conf;
	}
	out->entries = NULL;
	out->ptrs = NULL;
	if (m->n_entries > 0) {
		/* As in the core, allocation failure is fatal. */
		out->entries = xmalloc(sizeof(*out->entries) * m->n_entries);
		out->ptrs = xmalloc(sizeof(*out->ptrs) * m->n_entries);
		for (uint32_t i = 0; i < m->n_entries; i++) {
			entry_to_pb(&m->entries[i], &out->entries[i]);
			out->ptrs[i] = &out->entries[i];
		}
	}
	pm->n_entries = m->n_entries;
	pm->entries = out->ptrs;
}

static void message_pb_release(struct message_pb *out)
{
	free(out->entries);
	free(out->ptrs);
}

size_t proto_message_size(const struct raft_message *m)
{
	struct message_pb mp;
	message_to_pb(m, &mp);
	size_t n = concord__message__get_packed_size(&mp.pm);
	message_pb_release(&mp);
	return n;
}

size_t proto_message_encode(const struct raft_message *m, uint8_t *buf)
{
	struct message_pb mp;
	message_to_pb(m, &mp);
	size_t n = concord__message__pack(&mp.pm, buf);
	message_pb_release(&mp);
	return n;
}

static int message_check(const Concord__Message *pm)
{
	if ((int)pm->type < (int)RAFT_MSG_PREVOTE)
		return PROTO_EINVALID;
	if ((int)pm->type >= (int)RAFT_MSG_TYPE_COUNT_)
		return PROTO_EINVALID;
	if (pm->from == RAFT_NONE)
		return PROTO_EINVALID;
	if (pm->to == RAFT_NONE)
		return PROTO_EINVALID;
	if (pm->n_entries > PROTO_MESSAGE_ENTRIES_MAX)
		return PROTO_EINVALID;
	if (pm->n_entries > 0 && (int)pm->type != (int)RAFT_MSG_APPEND)
		return PROTO_EINVALID;
	if ((int)pm->type == (int)RAFT_MSG_SNAPSHOT && pm->snap_conf == NULL)
		return PROTO_EINVALID;
	if (pm->chunk.len > PROTO_ENTRY_DATA_MAX_BYTES)
		return PROTO_EINVALID;
	raft_term prev_term = pm->log_term;
	for (size_t i = 0; i < pm->n_entries; i++) {
		const Concord__Entry *pe = pm->entries[i];
		/* 5.3: an AppendEntries carries the entries right after prevLogIndex. */
		if (pe->index != pm->index + 1 + i)
			return PROTO_EINVALID;
		if (pe->index <= pm->index) /* wrapped around */
			return PROTO_EINVALID;
		if (pe->term < prev_term)
			return PROTO_EINVALID;
		if (pe->term > pm->term)
			return PROTO_EINVALID;
		prev_term = pe->term;
	}
	return PROTO_OK;
}

int proto_message_decode(const uint8_t *buf, size_t len, struct raft_message *m)
{
	Concord__Message *pm = concord__message__unpack(NULL, len, buf);
	if (pm == NULL)
		return PROTO_EMALFORMED;
	int rv = message_check(pm);
	if (rv != PROTO_OK) {
		concord__message__free_unpacked(pm, NULL);
		return rv;
	}
	struct raft_entry *entries = NULL;
	uint32_t n = (uint32_t)pm->n_entries;
	if (n > 0) {
		entries = xcalloc(n, sizeof(*entries));
	}
	for (uint32_t i = 0; i < n; i++) {
		rv = entry_from_pb(pm->entries[i], &entries[i]);
		if (rv != PROTO_OK) {
			for (uint32_t j = 0; j < i; j++)
				raft_buf_unref(entries[j].buf);
			free(entries);
			concord__message__free_unpacked(pm, NULL);
			return rv;
		}
	}
	struct raft_conf *conf = NULL;
	if (pm->snap_conf != NULL) {
		conf = xmalloc(sizeof(*conf));
		rv = conf_from_pb(pm->snap_conf, conf);
		if (rv != PROTO_OK) {
			for (uint32_t j = 0; j < n; j++)
				raft_buf_unref(entries[j].buf);
			free(entries);
			free(conf);
			concord__message__free_unpacked(pm, NULL);
			return rv;
		}
	}
	memset(m, 0, sizeof(*m));
	m->snap_conf = conf;
	m->snap_size = pm->snap_size;
	m->snap_offset = pm->snap_offset;
	if (pm->chunk.len > 0)
		m->chunk = raft_buf_new(pm->chunk.data, pm->chunk.len);
	m->type = (enum raft_msg_type)pm->type;
	m->from = pm->from;
	m->to = pm->to;
	m->term = pm->term;
	m->index = pm->index;
	m->log_term = pm->log_term;
	m->commit = pm->commit;
	m->reject = pm->reject != 0;
	m->transfer = pm->transfer != 0;
	m->xterm = pm->xterm;
	m->xindex = pm->xindex;
	m->xlen = pm->xlen;
	m->context = pm->context;
	m->n_entries = n;
	m->entries = entries;
	concord__message__free_unpacked(pm, NULL);
	return PROTO_OK;
}

/* ----------------------------------------------------------------------------------
 * Meta
 */

static void meta_to_pb(const struct proto_meta *m, Concord__Meta *pm, Concord__Conf *pc)
{
	assert(m->format_version > 0);
	concord__meta__init(pm);
	conf_to_pb(&m->conf, pc);
	pm->format_version = m->format_version;
	pm->cluster_id = m->cluster_id;
	pm->node_id = m->node_id;
	pm->term = m->hard_state.term;
	pm->vote = m->hard_state.vote;
	pm->durable_index = m->durable_index;
	pm->segment_size = m->segment_size;
	pm->conf = pc;
}

size_t proto_meta_size(const struct proto_meta *m)
{
	Concord__Meta pm;
	Concord__Conf pc;
	meta_to_pb(m, &pm, &pc);
	return concord__meta__get_packed_size(&pm);
}

size_t proto_meta_encode(const struct proto_meta *m, uint8_t *buf)
{
	Concord__Meta pm;
	Concord__Conf pc;
	meta_to_pb(m, &pm, &pc);
	return concord__meta__pack(&pm, buf);
}

int proto_meta_decode(const uint8_t *buf, size_t len, struct proto_meta *m)
{
	Concord__Meta *pm = concord__meta__unpack(NULL, len, buf);
	if (pm == NULL)
		return PROTO_EMALFORMED;
	struct proto_meta out;
	memset(&out, 0, sizeof(out));
	int rv = conf_from_pb(pm->conf, &out.conf);
	if (rv == PROTO_OK && pm->format_version == 0)
		rv = PROTO_EINVALID;
	if (rv == PROTO_OK) {
		out.format_version = pm->format_version;
		out.cluster_id = pm->cluster_id;
		out.node_id = pm->node_id;
		out.hard_state.term = pm->term;
		out.hard_state.vote = pm->vote;
		out.durable_index = pm->durable_index;
		out.segment_size = pm->segment_size;
		*m = out;
	}
	concord__meta__free_unpacked(pm, NULL);
	return rv;
}

/* ----------------------------------------------------------------------------------
 * SnapshotMeta
 */

static void snapshot_meta_to_pb(const struct proto_snapshot_meta *s, Concord__SnapshotMeta *ps,
                                Concord__Conf *pc)
{
	assert(s->index > 0);
	assert(s->term > 0);
	concord__snapshot_meta__init(ps);
	conf_to_pb(&s->conf, pc);
	ps->index = s->index;
	ps->term = s->term;
	ps->conf = pc;
	ps->data_size = s->data_size_bytes;
	ps->data_crc32c = s->data_crc32c;
	static const uint8_t zeros[PROTO_SNAPSHOT_PAD_MAX];
	assert(s->pad_bytes <= PROTO_SNAPSHOT_PAD_MAX);
	ps->pad.len = s->pad_bytes;
	ps->pad.data = (uint8_t *)zeros;
}

size_t proto_snapshot_meta_size(const struct proto_snapshot_meta *s)
{
	Concord__SnapshotMeta ps;
	Concord__Conf pc;
	snapshot_meta_to_pb(s, &ps, &pc);
	return concord__snapshot_meta__get_packed_size(&ps);
}

size_t proto_snapshot_meta_encode(const struct proto_snapshot_meta *s, uint8_t *buf)
{
	Concord__SnapshotMeta ps;
	Concord__Conf pc;
	snapshot_meta_to_pb(s, &ps, &pc);
	return concord__snapshot_meta__pack(&ps, buf);
}

int proto_snapshot_meta_decode(const uint8_t *buf, size_t len, struct proto_snapshot_meta *s)
{
	Concord__SnapshotMeta *ps = concord__snapshot_meta__unpack(NULL, len, buf);
	if (ps == NULL)
		return PROTO_EMALFORMED;
	struct proto_snapshot_meta out;
	memset(&out, 0, sizeof(out));
	int rv = conf_from_pb(ps->conf, &out.conf);
	if (rv == PROTO_OK && ps->index == 0)
		rv = PROTO_EINVALID;
	if (rv == PROTO_OK && ps->term == 0)
		rv = PROTO_EINVALID;
	if (rv == PROTO_OK) {
		out.index = ps->index;
		out.term = ps->term;
		out.data_size_bytes = ps->data_size;
		out.data_crc32c = ps->data_crc32c;
		*s = out;
	}
	concord__snapshot_meta__free_unpacked(ps, NULL);
	return rv;
}
