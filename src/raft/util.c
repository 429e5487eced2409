/* util.c: payload buffers, message copies, names and error strings of the core. */
#include "raft/impl.h"

#include <stdlib.h>
#include <string.h>

void *raft_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		abort(); /* see raft.h: allocation failure is fatal in the core */
	return p;
}

void *raft_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		abort();
	return p;
}

void *raft_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		abort();
	return q;
}

const char *raft_strerror(int err)
{
	static const char *const text[] = {
#define RAFT_ERROR_TEXT_(name, t) t,
	    RAFT_ERRORS(RAFT_ERROR_TEXT_)
#undef RAFT_ERROR_TEXT_
	};
	if (err < 0 || err >= RAFT_ERROR_COUNT_)
		return "unknown error";
	return text[err];
}

const char *raft_msg_type_name(enum raft_msg_type t)
{
	switch (t) {
	case RAFT_MSG_PREVOTE:
		return "PreVote";
	case RAFT_MSG_PREVOTE_RESP:
		return "PreVoteResp";
	case RAFT_MSG_VOTE:
		return "Vote";
	case RAFT_MSG_VOTE_RESP:
		return "VoteResp";
	case RAFT_MSG_APPEND:
		return "Append";
	case RAFT_MSG_APPEND_RESP:
		return "AppendResp";
	case RAFT_MSG_HEARTBEAT:
		return "Heartbeat";
	case RAFT_MSG_HEARTBEAT_RESP:
		return "HeartbeatResp";
	case RAFT_MSG_TIMEOUT_NOW:
		return "TimeoutNow";
	case RAFT_MSG_SNAPSHOT:
		return "Snapshot";
	case RAFT_MSG_SNAPSHOT_RESP:
		return "SnapshotResp";
	case RAFT_MSG_TYPE_COUNT_:
		break;
	}
	return "Unknown";
}

const char *raft_role_name(enum raft_role role)
{
	switch (role) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_PRECANDIDATE:
		return "pre-candidate";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	}
	return "unknown";
}

struct raft_buf *raft_buf_new(const void *data, size_t len)
{
	assert(len <= UINT32_MAX);
	struct raft_buf *b = raft_buf_alloc(len);
	if (len > 0)
		memcpy(b + 1, data, len);
	return b;
}

void raft_buf_init_external(struct raft_buf *b, const void *data, size_t len,
                            void (*release)(struct raft_buf *b))
{
	assert(len <= UINT32_MAX);
	assert(release != NULL);
	b->refs = 1;
	b->len = (uint32_t)len;
	b->data = (unsigned char *)data; /* never written through: shared buffers are immutable */
	b->release = release;
}

struct raft_buf *raft_buf_alloc(size_t len)
{
	assert(len <= UINT32_MAX);
	struct raft_buf *b = raft_xmalloc(sizeof(*b) + len);
	b->refs = 1;
	b->len = (uint32_t)len;
	b->data = (unsigned char *)(b + 1);
	b->release = NULL;
	return b;
}

struct raft_buf *raft_buf_ref(struct raft_buf *b)
{
	if (b != NULL) {
		assert(b->refs > 0);
		assert(b->refs < UINT32_MAX);
		b->refs++;
	}
	return b;
}

void raft_buf_unref(struct raft_buf *b)
{
	if (b == NULL)
		return;
	assert(b->refs > 0);
	if (--b->refs > 0)
		return;
	if (b->release != NULL)
		b->release(b);
	else
		free(b);
}

void raft_entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	raft_buf_ref(dst->buf);
}

void raft_entry_release(struct raft_entry *e)
{
	raft_buf_unref(e->buf);
	e->buf = NULL;
}

void raft_message_copy(struct raft_message *dst, const struct raft_message *src)
{
	*dst = *src;
	raft_buf_ref(dst->chunk);
	if (src->snap_conf != NULL) {
		dst->snap_conf = raft_xmalloc(sizeof(*dst->snap_conf));
		*dst->snap_conf = *src->snap_conf;
	}
	dst->entries = NULL;
	if (src->n_entries > 0) {
		dst->entries = raft_xmalloc(sizeof(*dst->entries) * src->n_entries);
		for (uint32_t i = 0; i < src->n_entries; i++)
			raft_entry_copy(&dst->entries[i], &src->entries[i]);
	}
}

void raft_message_release(struct raft_message *m)
{
	for (uint32_t i = 0; i < m->n_entries; i++)
		raft_entry_release(&m->entries[i]);
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
	raft_buf_unref(m->chunk);
	m->chunk = NULL;
	free(m->snap_conf);
	m->snap_conf = NULL;
}

bool raft_conf_is_voter(const struct raft_conf *c, raft_id id)
{
	for (uint32_t i = 0; i < c->n_voters; i++)
		if (c->voters[i] == id)
			return true;
	for (uint32_t i = 0; i < c->n_voters_old; i++)
		if (c->voters_old[i] == id)
			return true;
	return false;
}

bool raft_conf_is_member(const struct raft_conf *c, raft_id id)
{
	if (raft_conf_is_voter(c, id))
		return true;
	for (uint32_t i = 0; i < c->n_learners; i++)
		if (c->learners[i] == id)
			return true;
	return false;
}

/* The configuration encoding: version 1, then voters, voters_old and learners, each a
 * little-endian u32 count followed by little-endian u64 ids. */
#define CONF_VERSION 1

size_t raft_conf_encoded_size(const struct raft_conf *c)
{
	return 1 + 3 * 4 + 8 * ((size_t)c->n_voters + c->n_voters_old + c->n_learners);
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static unsigned char *put_ids(unsigned char *p, const raft_id *ids, uint32_t n)
{
	p = put_u32(p, n);
	for (uint32_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			*p++ = (unsigned char)(ids[i] >> (8 * b));
	return p;
}

void raft_conf_encode(const struct raft_conf *c, void *buf)
{
	unsigned char *p = buf;
	*p++ = CONF_VERSION;
	p = put_ids(p, c->voters, c->n_voters);
	p = put_ids(p, c->voters_old, c->n_voters_old);
	p = put_ids(p, c->learners, c->n_learners);
	assert((size_t)(p - (unsigned char *)buf) == raft_conf_encoded_size(c));
}

static int get_ids(const unsigned char **p, const unsigned char *end, raft_id *ids, uint32_t *n)
{
	if (end - *p < 4)
		return RAFT_ECORRUPT;
	uint32_t count = 0;
	for (int i = 0; i < 4; i++)
		count |= (uint32_t)(*p)[i] << (8 * i);
	*p += 4;
	if (count > RAFT_MAX_MEMBERS || (size_t)(end - *p) < (size_t)count * 8)
		return RAFT_ECORRUPT;
	for (uint32_t i = 0; i < count; i++) {
		raft_id id = 0;
		for (int b = 0; b < 8; b++)
			id |= (raft_id)(*p)[b] << (8 * b);
		*p += 8;
		if (id == RAFT_NONE)
			return RAFT_ECORRUPT;
		for (uint32_t j = 0; j < i; j++)
			if (ids[j] == id)
				return RAFT_ECORRUPT;
		ids[i] = id;
	}
	*n = count;
	return RAFT_OK;
}

int raft_conf_decode(const void *buf, size_t len, struct raft_conf *c)
{
	const unsigned char *p = buf;
	const unsigned char *end = p + len;
	struct raft_conf out;
	memset(&out, 0, sizeof(out));
	if (len < 1 || *p++ != CONF_VERSION)
		return RAFT_ECORRUPT;
	if (get_ids(&p, end, out.voters, &out.n_voters) != 0 ||
	    get_ids(&p, end, out.voters_old, &out.n_voters_old) != 0 ||
	    get_ids(&p, end, out.learners, &out.n_learners) != 0 || p != end)
		return RAFT_ECORRUPT;
	*c = out;
	return RAFT_OK;
}
