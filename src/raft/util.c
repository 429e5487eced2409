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
	case RAFT_MSG_PREVOTE: return "PreVote";
	case RAFT_MSG_PREVOTE_RESP: return "PreVoteResp";
	case RAFT_MSG_VOTE: return "Vote";
	case RAFT_MSG_VOTE_RESP: return "VoteResp";
	case RAFT_MSG_APPEND: return "Append";
	case RAFT_MSG_APPEND_RESP: return "AppendResp";
	case RAFT_MSG_HEARTBEAT: return "Heartbeat";
	case RAFT_MSG_HEARTBEAT_RESP: return "HeartbeatResp";
	case RAFT_MSG_TIMEOUT_NOW: return "TimeoutNow";
	case RAFT_MSG_TYPE_COUNT_: break;
	}
	return "Unknown";
}

const char *raft_role_name(enum raft_role role)
{
	switch (role) {
	case RAFT_FOLLOWER: return "follower";
	case RAFT_PRECANDIDATE: return "pre-candidate";
	case RAFT_CANDIDATE: return "candidate";
	case RAFT_LEADER: return "leader";
	}
	return "unknown";
}

struct raft_buf *raft_buf_new(const void *data, size_t len)
{
	assert(len <= UINT32_MAX);
	struct raft_buf *b = raft_xmalloc(sizeof(*b) + len);
	b->refs = 1;
	b->len = (uint32_t)len;
	if (len > 0)
		memcpy(b->data, data, len);
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
	if (--b->refs == 0)
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
