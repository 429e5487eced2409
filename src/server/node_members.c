/* node_members.c: the address book (reserved kv keys) and membership changes. */
#include "server/node_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * Address book
 */

static struct node_member *member_find(struct node *n, raft_id id)
{
	for (uint32_t i = 0; i < n->n_members; i++)
		if (n->members[i].id == id)
			return &n->members[i];
	return NULL;
}

const struct node_member *node_member(const struct node *n, raft_id id)
{
	return member_find((struct node *)n, id);
}

const struct node_member *node_self(const struct node *n)
{
	return node_member(n, n->cfg.id);
}

const struct node_member *node_leader(const struct node *n)
{
	raft_id l = raft_leader(driver_raft(n->d));
	return l == RAFT_NONE ? NULL : node_member(n, l);
}

void node_member_put(struct node *n, const struct node_member *m)
{
	struct node_member *have = member_find(n, m->id);
	if (have == NULL) {
		if (n->n_members == sizeof(n->members) / sizeof(n->members[0]))
			return;
		have = &n->members[n->n_members++];
	}
	*have = *m;
}

/* The transport can reach every node of the address book, members of the configuration
 * in force or not: a node that joins knows no configuration until the log reaches it,
 * yet it must answer the leader that brings it the log. */
void node_peers_sync(struct node *n)
{
	for (uint32_t i = 0; i < n->n_members; i++) {
		const struct node_member *m = &n->members[i];
		if (m->id == n->cfg.id || m->peer[0] == '\0')
			continue;
		net_peer_set(n->net, m->id, m->peer);
	}
}

/* A field that does not fit is refused, never cut: a cut address would name another. */
static bool field_copy(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);
	if (len >= size)
		return false;
	memcpy(dst, src, len + 1);
	return true;
}

/* A member record as stored in the replicated address book: "name\npeer\nclient\nhttp". */
static bool member_decode(raft_id id, const void *value, size_t len, struct node_member *m)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	char buf[600];
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, value, len);
	buf[len] = '\0';
	char *fields[4] = {0};
	char *p = buf;
	for (int i = 0; i < 4; i++) {
		fields[i] = p;
		char *nl = strchr(p, '\n');
		if (nl == NULL) {
			if (i < 3)
				return false;
			break;
		}
		*nl = '\0';
		p = nl + 1;
	}
	return field_copy(m->name, sizeof(m->name), fields[0]) &&
	       field_copy(m->peer, sizeof(m->peer), fields[1]) &&
	       field_copy(m->client, sizeof(m->client), fields[2]) &&
	       field_copy(m->http, sizeof(m->http), fields[3]);
}

/* ---------------------------------------------------------------------------------
 * Address book loading (the reserved keys)
 */

static int member_scan(void *arg, const struct kv_value *v)
{
	struct node *n = arg;
	if (!kv_key_member(v->key, v->key_len))
		return 0;
	char idbuf[32];
	size_t idlen = v->key_len - KV_MEMBER_PREFIX_LEN;
	if (idlen == 0 || idlen >= sizeof(idbuf))
		return 0;
	memcpy(idbuf, (const char *)v->key + KV_MEMBER_PREFIX_LEN, idlen);
	idbuf[idlen] = '\0';
	raft_id id = strtoull(idbuf, NULL, 10);
	struct node_member m;
	if (id != RAFT_NONE && member_decode(id, v->value, v->value_len, &m))
		node_member_put(n, &m);
	return 0;
}

void node_members_reload(struct node *n)
{
	bool more = false;
	kv_scan(driver_kv(n->d), KV_MEMBER_PREFIX, KV_MEMBER_PREFIX_LEN, NULL, 0,
	        2 * NODE_MAX_MEMBERS, 0, member_scan, n, &more);
}

/* ---------------------------------------------------------------------------------
 * Leadership and membership
 */

static bool leads(const struct node *n)
{
	return raft_role(driver_raft(n->d)) == RAFT_LEADER;
}

int node_transfer(struct node *n, raft_id to)
{
	if (!leads(n))
		return NODE_ENOTLEADER;
	const struct raft_conf *conf = raft_conf_current(driver_raft(n->d));
	if (to == n->cfg.id)
		return NODE_EALREADY;
	if (!raft_conf_is_member(conf, to))
		return NODE_ENOMEMBER;
	if (!raft_conf_is_voter(conf, to))
		return NODE_ENOTVOTER;
	int rv = driver_transfer(n->d, to);
	return rv == NODE_ECONFIG ? NODE_ENOMEMBER : rv;
}

int node_step_down(struct node *n)
{
	int rv = driver_step_down(n->d);
	return rv == NODE_ECONFIG ? NODE_ENOVOTER : rv;
}

static bool conf_drop(raft_id *ids, uint32_t *count, raft_id id)
{
	for (uint32_t i = 0; i < *count; i++) {
		if (ids[i] != id)
			continue;
		ids[i] = ids[--*count];
		return true;
	}
	return false;
}

struct member_add {
	struct node *n;
	raft_id id;
};

static void member_recorded(void *arg, int status, const struct kv_reply *reply)
{
	struct member_add *ma = arg;
	struct node *n = ma->n;
	(void)reply;
	if (status != NODE_OK) {
		node_logf(n, LOG_WARN, "adding n%" PRIu64 ": its address was not recorded: %s",
		          ma->id, node_strerror(status));
	} else if (!n->stopping) {
		struct raft_conf t = *raft_conf_current(driver_raft(n->d));
		if (!raft_conf_is_member(&t, ma->id) && t.n_learners < RAFT_MAX_MEMBERS) {
			t.learners[t.n_learners++] = ma->id;
			int rv = driver_change_config(n->d, &t);
			node_logf(n, rv == 0 ? LOG_INFO : LOG_WARN,
			          "adding n%" PRIu64 " as a learner: %s", ma->id,
			          node_strerror(rv));
		}
	}
	free(ma);
}

/* The reserved key of member `id`'s record, and the record of `m`. */
struct member_record {
	char key[64], value[600];
	size_t key_len, value_len;
};

static void member_record(const struct node_member *m, struct member_record *r)
{
	/* The prefix holds a NUL, so print the id after room for it, then copy it in. */
	int klen = snprintf(r->key, sizeof(r->key), "%*s%" PRIu64, KV_MEMBER_PREFIX_LEN, "", m->id);
	memcpy(r->key, KV_MEMBER_PREFIX, KV_MEMBER_PREFIX_LEN);
	int vlen = snprintf(r->value, sizeof(r->value), "%s\n%s\n%s\n%s", m->name, m->peer,
	                    m->client, m->http);
	r->key_len = (size_t)klen;
	r->value_len = (size_t)vlen;
}

static int member_record_propose(struct node *n, const struct node_member *m, node_write_cb cb,
                                 void *arg)
{
	struct member_record r;
	member_record(m, &r);
	struct kv_cmd c = {
	    .op = KV_OP_SET,
	    .put = {
	        .key = r.key, .key_len = r.key_len, .value = r.value, .value_len = r.value_len}};
	return driver_propose(n->d, &c, cb, arg);
}

int node_member_add_learner(struct node *n, const struct node_member *m)
{
	if (!leads(n))
		return NODE_ENOTLEADER;
	if (m->id == RAFT_NONE || m->peer[0] == '\0')
		return NODE_EINVAL;
	if (raft_conf_is_member(raft_conf_current(driver_raft(n->d)), m->id))
		return NODE_EMEMBER;
	/* First the address book, replicated, so every node can reach the new member; then
	 * the configuration. */
	struct member_add *ma = xmalloc(sizeof(*ma));
	ma->n = n;
	ma->id = m->id;
	int rv = member_record_propose(n, m, member_recorded, ma);
	if (rv != 0)
		free(ma);
	return rv;
}

int node_member_promote(struct node *n, raft_id id)
{
	if (!leads(n))
		return NODE_ENOTLEADER;
	struct raft_conf t = *raft_conf_current(driver_raft(n->d));
	if (raft_conf_is_voter(&t, id))
		return NODE_EVOTER;
	if (!conf_drop(t.learners, &t.n_learners, id))
		return NODE_ENOMEMBER;
	if (t.n_voters >= RAFT_MAX_MEMBERS)
		return NODE_EFULL;
	t.voters[t.n_voters++] = id;
	int rv = driver_change_config(n->d, &t);
	return rv == NODE_ECONFIG ? NODE_ELAGGING : rv;
}

int node_member_remove(struct node *n, raft_id id)
{
	if (!leads(n))
		return NODE_ENOTLEADER;
	struct raft_conf t = *raft_conf_current(driver_raft(n->d));
	t.n_voters_old = 0;
	bool found =
	    conf_drop(t.voters, &t.n_voters, id) || conf_drop(t.learners, &t.n_learners, id);
	if (!found)
		return NODE_ENOMEMBER;
	if (t.n_voters == 0)
		return NODE_ELASTVOTER;
	return driver_change_config(n->d, &t);
}

/* ---------------------------------------------------------------------------------
 * Publishing a member's own addresses
 */

/* Whether the replicated book holds exactly `m`'s record. */
static bool member_published(const struct node *n, const struct node_member *m)
{
	struct member_record r;
	member_record(m, &r);
	struct kv_value v;
	if (kv_get(driver_kv(n->d), r.key, r.key_len, 0, &v) != 0)
		return false;
	return v.value_len == r.value_len && memcmp(v.value, r.value, r.value_len) == 0;
}

static void publish_written(void *arg, int status, const struct kv_reply *reply)
{
	struct node *n = arg;
	(void)reply;
	n->publishing = false;
	if (status != NODE_OK && !n->stopping)
		node_logf(n, LOG_WARN, "publishing a member's addresses: %s",
		          node_strerror(status));
}

int node_member_publish(struct node *n, const struct node_member *m)
{
	if (!leads(n))
		return NODE_ENOTLEADER;
	if (m->id == RAFT_NONE || m->peer[0] == '\0')
		return NODE_EINVAL;
	if (!raft_conf_is_member(raft_conf_current(driver_raft(n->d)), m->id))
		return NODE_ENOMEMBER;
	if (member_published(n, m))
		return NODE_OK;
	return member_record_propose(n, m, publish_written, n);
}

static const struct node_member *own_record(const struct node *n)
{
	for (uint32_t i = 0; i < n->cfg.n_members; i++)
		if (n->cfg.members[i].id == n->cfg.id)
			return &n->cfg.members[i];
	return NULL;
}

void node_members_publish_tick(struct node *n)
{
	if (n->stopping || n->publishing || n->publish_wait-- > 0)
		return;
	n->publish_wait = 20; /* ticks: about a second at the default tick */
	const struct node_member *self = own_record(n);
	const struct raft *r = driver_raft(n->d);
	if (self == NULL || self->peer[0] == '\0' ||
	    !raft_conf_is_member(raft_conf_current(r), self->id) || member_published(n, self))
		return;
	/* A follower's record goes through the leader: the frontends send CONCORD.MEMBER
	 * PUBLISH for it (src/server/publish.c, node_self_unpublished()). */
	if (leads(n))
		n->publishing = member_record_propose(n, self, publish_written, n) == NODE_OK;
}

bool node_self_unpublished(const struct node *n, struct node_member *own)
{
	const struct node_member *self = own_record(n);
	const struct raft *r = driver_raft(n->d);
	if (n->stopping || self == NULL || self->peer[0] == '\0' || leads(n) ||
	    !raft_conf_is_member(raft_conf_current(r), self->id) || member_published(n, self))
		return false;
	*own = *self;
	return true;
}
