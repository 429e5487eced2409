/* node.c: a Concord server node: drives the Raft core through the ready/advance contract
 * with group-committed storage, the TCP transport and the key-value state machine. */
#include "server/node.h"
#include "base/alloc.h"
#include "storage/async.h"
#include "storage/storage.h"
#include "storage/wal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The limits this node ties together (base/limits.h): the core's, the transport's, the
 * WAL's and the store's meet here. */
_Static_assert(NODE_MAX_MEMBERS == RAFT_MAX_MEMBERS, "the node's and the core's member limits");
_Static_assert(CONCORD_MEMBERS_MAX <= NET_PEERS_MAX, "every member is a peer of the transport");
_Static_assert(CONCORD_ENTRY_BYTES_MAX <= WAL_ENTRY_DATA_MAX_BYTES, "every entry fits the WAL");
_Static_assert(CONCORD_ENTRY_BYTES_MAX < NET_FRAME_MAX_BYTES,
	       "a transport configured at its largest frame carries the largest entry");
_Static_assert(CONCORD_SNAPSHOT_CHUNK_BYTES < NET_DEFAULT_MAX_FRAME_BYTES,
	       "a snapshot chunk and its message fit a default frame");
_Static_assert(KV_DEFAULT_KEY_BYTES + KV_DEFAULT_VALUE_BYTES < NET_DEFAULT_MAX_FRAME_BYTES,
	       "a default-sized command fits a default frame");
_Static_assert(KV_DEFAULT_KEY_BYTES <= KV_KEY_BYTES_LIMIT && KV_DEFAULT_VALUE_BYTES <= KV_VALUE_BYTES_LIMIT &&
	       KV_DEFAULT_KEYS_PER_CMD <= KV_KEYS_PER_CMD_LIMIT, "kv defaults within its ceilings");
_Static_assert(KV_DEFAULT_KEY_BYTES + KV_DEFAULT_VALUE_BYTES < CONCORD_ENTRY_BYTES_MAX,
	       "a default-sized command is a valid entry");

const char *node_strerror(int err)
{
	static const char *const text[] = {
#define NODE_ERROR_TEXT_(name, t) t,
	    NODE_ERRORS(NODE_ERROR_TEXT_)
#undef NODE_ERROR_TEXT_
	};
	if (err < 0 || err >= NODE_ERROR_COUNT_)
		return "unknown error";
	return text[err];
}

void node_config_default(struct node_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cluster_id = 1;
	cfg->tick_ms = 50;
	cfg->election_ticks = 10;
	cfg->heartbeat_ticks = 2;
	cfg->request_timeout_ms = 5000;
	cfg->snapshot_entries = 100000;
	cfg->snapshot_bytes = 64u << 20;
	cfg->snapshot_trailing = 10000;
	cfg->segment_bytes = 64u << 20;
	kv_config_default(&cfg->kv);
	cfg->fault_seed = 1;
}

/* ---------------------------------------------------------------------------------
 * State
 */

struct pending_write {
	raft_index index;
	raft_term term;
	node_write_cb cb;
	void *arg;
	uint64_t deadline_ms;
	uint64_t start_us;
};

struct pending_read {
	uint64_t ctx;
	raft_index index;
	bool confirmed;
	node_read_cb cb;
	void *arg;
	uint64_t deadline_ms;
};

/* A ready batch on its way to the disk. */
struct batch {
	struct node *n;
	struct raft_ready rd;
	struct storage_async_req hs_req; /* the hard state, ahead of a leader's snapshot */
	struct storage_async_req snap_req;
	struct storage_async_req write_req;
};

struct snapshot_job {
	bool running;
	pid_t pid;
	uv_pipe_t pipe;
	bool pipe_open; /* reading the child's output; not closing yet */
	raft_index index;
	raft_term term;
	struct raft_conf conf;
	unsigned char *data;
	size_t len;
	size_t cap;
	struct raft_buf *buf;
	struct storage_async_req req;
};

struct node {
	uv_loop_t *loop;
	struct node_config cfg;
	struct storage *st;
	struct storage_async *async;
	struct raft *r;
	struct kv *kv;
	struct net *net;
	uv_timer_t tick;
	uv_check_t check;
	bool dirty;
	bool draining;
	bool stopping;
	int closing;
	void (*stop_cb)(void *);
	void *stop_arg;

	struct node_member members[NODE_MAX_MEMBERS * 2];
	uint32_t n_members;

	struct pending_write *writes; /* ordered by index */
	uint32_t n_writes, cap_writes;
	struct pending_read *reads;
	uint32_t n_reads, cap_reads;
	uint64_t read_ctx;
	uint32_t inflight; /* batches at the storage */

	enum raft_role role;
	raft_index last_snapshot;
	uint64_t bytes_since_snapshot; /* command bytes applied since the last snapshot began */
	struct snapshot_job snap;
	struct node_metrics m;
};

/* ---------------------------------------------------------------------------------
 * Logging and time
 */

__attribute__((format(printf, 3, 4))) static void logf_(struct node *n, int level,
							 const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n->cfg.log != NULL) {
		n->cfg.log(n->cfg.log_ctx, level, msg);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, n->cfg.name, levels[level < 0 ? 0 : level > 3 ? 3 : level],
		msg);
}

#define LOG_INFO 1
#define LOG_WARN 2
#define LOG_ERROR 3

static uint64_t now_ms(const struct node *n)
{
	return uv_now(n->loop);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A storage failure stops the node: after a failed write or fsync it cannot know what
 * its disk holds, and answering from state it did not persist would break Raft. */
__attribute__((noreturn)) static void fail_stop(struct node *n, const char *what)
{
	logf_(n, LOG_ERROR, "stopping: %s", what);
	fflush(stderr);
	_exit(EXIT_FAILURE);
}

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
	raft_id l = raft_leader(n->r);
	return l == RAFT_NONE ? NULL : node_member(n, l);
}

static void member_put(struct node *n, const struct node_member *m)
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
static void sync_peers(struct node *n)
{
	for (uint32_t i = 0; i < n->n_members; i++) {
		const struct node_member *m = &n->members[i];
		if (m->id == n->cfg.id || m->peer[0] == '\0')
			continue;
		net_peer_set(n->net, m->id, m->peer);
	}
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
	snprintf(m->name, sizeof(m->name), "%s", fields[0]);
	snprintf(m->peer, sizeof(m->peer), "%s", fields[1]);
	snprintf(m->client, sizeof(m->client), "%s", fields[2]);
	snprintf(m->http, sizeof(m->http), "%s", fields[3]);
	return true;
}

static void reload_members(struct node *n);

/* ---------------------------------------------------------------------------------
 * Pending client operations
 */

static void writes_fail_upto(struct node *n, raft_index upto, int status)
{
	uint32_t done = 0;
	while (done < n->n_writes && n->writes[done].index <= upto)
		done++;
	struct pending_write *taken = NULL;
	if (done > 0) {
		taken = xmalloc(done * sizeof(*taken));
		memcpy(taken, n->writes, done * sizeof(*taken));
		memmove(n->writes, n->writes + done, (n->n_writes - done) * sizeof(*n->writes));
		n->n_writes -= done;
	}
	for (uint32_t i = 0; i < done; i++) {
		if (status == NODE_ETIMEOUT)
			n->m.proposals_timeout++;
		taken[i].cb(taken[i].arg, status, NULL);
	}
	free(taken);
}

static void reads_fail_all(struct node *n, int status)
{
	struct pending_read *taken = n->reads;
	uint32_t count = n->n_reads;
	n->reads = NULL;
	n->n_reads = n->cap_reads = 0;
	for (uint32_t i = 0; i < count; i++)
		taken[i].cb(taken[i].arg, status);
	free(taken);
}

/* Writes whose index was applied learn their outcome (raft.h: success only if the entry
 * applied at the index carries the proposal's term). */
static void writes_on_apply(struct node *n, const struct raft_entry *e, const struct kv_reply *r)
{
	while (n->n_writes > 0 && n->writes[0].index <= e->index) {
		struct pending_write w = n->writes[0];
		memmove(n->writes, n->writes + 1, (n->n_writes - 1) * sizeof(*n->writes));
		n->n_writes--;
		if (w.index == e->index && w.term == e->term) {
			n->m.proposals_ok++;
			n->m.commit_latency_us_sum += now_us() - w.start_us;
			n->m.commit_latency_count++;
			w.cb(w.arg, NODE_OK, r);
		} else if (w.index == e->index) {
			n->m.proposals_lost++;
			w.cb(w.arg, NODE_ELOST, NULL);
		} else {
			/* Covered by a snapshot: the outcome is not known here. */
			w.cb(w.arg, NODE_ETIMEOUT, NULL);
		}
	}
}

/* The pending read tagged `ctx`: the array is sorted by ctx, since reads are appended
 * with increasing contexts and removals keep the order. */
static struct pending_read *read_find(struct node *n, uint64_t ctx)
{
	uint32_t lo = 0, hi = n->n_reads;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (n->reads[mid].ctx < ctx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n->n_reads && n->reads[lo].ctx == ctx ? &n->reads[lo] : NULL;
}

/* ReadIndex, last step: a confirmed read is served once its index is applied. */
static void reads_serve(struct node *n)
{
	raft_index applied = kv_applied_index(n->kv);
	struct pending_read *ready = NULL;
	uint32_t n_ready = 0, kept = 0;
	for (uint32_t i = 0; i < n->n_reads; i++) {
		struct pending_read r = n->reads[i];
		if (!r.confirmed || r.index > applied) {
			n->reads[kept++] = r;
			continue;
		}
		if (ready == NULL) {
			ready = xmalloc(n->n_reads * sizeof(*ready));
		}
		ready[n_ready++] = r;
	}
	n->n_reads = kept;
	/* Callbacks run after the list is consistent: they may queue new reads. */
	for (uint32_t i = 0; i < n_ready; i++) {
		n->m.reads_ok++;
		ready[i].cb(ready[i].arg, NODE_OK);
	}
	free(ready);
}

static void sweep_timeouts(struct node *n)
{
	uint64_t now = now_ms(n);
	/* Writes time out in index order (they were proposed in order, with one timeout). */
	raft_index upto = 0;
	for (uint32_t i = 0; i < n->n_writes && n->writes[i].deadline_ms <= now; i++)
		upto = n->writes[i].index;
	if (upto > 0)
		writes_fail_upto(n, upto, NODE_ETIMEOUT);
	uint32_t kept = 0;
	struct pending_read expired[64];
	uint32_t n_expired = 0;
	for (uint32_t i = 0; i < n->n_reads; i++) {
		if (n->reads[i].deadline_ms <= now && n_expired < 64)
			expired[n_expired++] = n->reads[i];
		else
			n->reads[kept++] = n->reads[i];
	}
	n->n_reads = kept;
	for (uint32_t i = 0; i < n_expired; i++)
		expired[i].cb(expired[i].arg, NODE_ETIMEOUT);
}

/* ---------------------------------------------------------------------------------
 * Snapshots: a forked child serializes the state machine while the parent keeps
 * serving; copy-on-write keeps the child's view frozen at the snapshot's index.
 */

static void snapshot_stored(struct storage_async_req *req, int status)
{
	struct node *n = req->data;
	struct snapshot_job *j = &n->snap;
	if (status != 0)
		fail_stop(n, storage_async_errmsg(n->async));
	if (!n->stopping) {
		int rv = raft_snapshot_taken(n->r, j->index, j->buf, n->cfg.snapshot_trailing);
		if (rv != 0)
			logf_(n, LOG_WARN, "snapshot at %" PRIu64 " not used: %s", j->index,
			      raft_strerror(rv));
		else
			logf_(n, LOG_INFO, "snapshot at index %" PRIu64 " (%zu bytes) stored",
			      j->index, j->len);
	}
	if (j->index > n->last_snapshot)
		n->last_snapshot = j->index;
	n->m.snapshots++;
	raft_buf_unref(j->buf);
	j->buf = NULL;
	j->running = false;
}

static void snapshot_pipe_closed(uv_handle_t *h)
{
	struct node *n = h->data;
	struct snapshot_job *j = &n->snap;
	int wstatus = 0;
	/* Only a child that finished cleanly, having written something, made a snapshot. */
	bool ok = waitpid(j->pid, &wstatus, 0) == j->pid && WIFEXITED(wstatus) &&
		  WEXITSTATUS(wstatus) == 0 && j->len > 0;
	/* A leader's snapshot installed while the child wrote makes this one older than
	 * what the storage holds now. */
	bool stale = ok && j->index <= n->last_snapshot;
	if (!ok || stale || n->stopping) {
		if (!ok)
			logf_(n, LOG_WARN, "snapshot at %" PRIu64 " failed in the child", j->index);
		else if (stale && !n->stopping)
			logf_(n, LOG_INFO,
			      "snapshot at %" PRIu64 " dropped: a snapshot at %" PRIu64
			      " was installed meanwhile",
			      j->index, n->last_snapshot);
		free(j->data);
		j->data = NULL;
		j->cap = 0;
		j->running = false;
		return;
	}
	j->buf = raft_buf_new(j->data, j->len);
	free(j->data);
	j->data = NULL;
	j->cap = 0;
	j->req.data = n;
	storage_async_snapshot(n->async, &j->req, j->index, j->term, &j->conf, j->buf->data,
			       j->buf->len, 0, snapshot_stored);
}

static void snapshot_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct node *n = h->data;
	struct snapshot_job *j = &n->snap;
	if (j->cap - j->len < suggested) {
		j->cap = j->cap * 2 > j->len + suggested ? j->cap * 2 : j->len + suggested;
		j->data = xrealloc(j->data, j->cap);
	}
	*buf = uv_buf_init((char *)j->data + j->len, (unsigned)(j->cap - j->len));
}

static void snapshot_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct node *n = s->data;
	if (nread > 0) {
		n->snap.len += (size_t)nread;
		return;
	}
	if (nread < 0 && n->snap.pipe_open) {
		n->snap.pipe_open = false;
		uv_close((uv_handle_t *)s, snapshot_pipe_closed);
	}
}

static void maybe_snapshot(struct node *n)
{
	struct snapshot_job *j = &n->snap;
	raft_index applied = kv_applied_index(n->kv);
	if (j->running || n->stopping)
		return;
	/* The log has grown past either threshold since the last snapshot. */
	bool entries = applied >= n->last_snapshot + n->cfg.snapshot_entries;
	bool bytes = n->cfg.snapshot_bytes > 0 && n->bytes_since_snapshot >= n->cfg.snapshot_bytes;
	if (!entries && !bytes)
		return;
	if (raft_applied_index(n->r) != applied)
		return;
	if (raft_snapshot_meta(n->r, applied, &j->term, &j->conf) != 0)
		return;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		logf_(n, LOG_WARN, "snapshot: pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		logf_(n, LOG_WARN, "snapshot: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		/* The child: write the frozen state and leave. Nothing else is safe here,
		 * since the parent's threads did not come along. */
		close(fds[0]);
		int rv = kv_snapshot_write_fd(n->kv, fds[1]);
		_exit(rv == 0 ? 0 : 1);
	}
	close(fds[1]);
	n->bytes_since_snapshot = 0;
	j->running = true;
	j->pid = pid;
	j->index = applied;
	j->len = 0;
	uv_pipe_init(n->loop, &j->pipe, 0);
	j->pipe_open = true;
	j->pipe.data = n;
	uv_pipe_open(&j->pipe, fds[0]);
	uv_read_start((uv_stream_t *)&j->pipe, snapshot_alloc, snapshot_read);
	logf_(n, LOG_INFO, "snapshot at index %" PRIu64 ": child %d writing", applied, (int)pid);
}

/* ---------------------------------------------------------------------------------
 * The ready/advance loop (raft.h's contract, step by step)
 */

static void drain(struct node *n);

static void batch_done(struct node *n, struct batch *b)
{
	/* 3. Durable: speak. 5. Advance. */
	for (uint32_t i = 0; i < b->rd.n_persisted_messages; i++)
		net_send(n->net, &b->rd.persisted_messages[i]);
	raft_advance(n->r, &b->rd);
	free(b);
}

static void batch_persisted(struct storage_async_req *req, int status)
{
	struct batch *b = req->data;
	struct node *n = b->n;
	if (status != 0)
		fail_stop(n, storage_async_errmsg(n->async));
	if (req == &b->snap_req || req == &b->hs_req)
		return; /* the write request that follows completes the batch */
	n->inflight--;
	batch_done(n, b);
	n->dirty = true;
}

static void apply_entry(struct node *n, const struct raft_entry *e)
{
	struct kv_reply reply;
	kv_apply_entry(n->kv, e, &reply);
	n->bytes_since_snapshot += raft_entry_len(e);
	/* The address book (keys under KV_MEMBER_PREFIX) is the store's: the store says
	 * when a command wrote it. */
	if (reply.members_written) {
		reload_members(n);
		sync_peers(n);
	}
	if (e->type == RAFT_ENTRY_CONFIG)
		sync_peers(n);
	writes_on_apply(n, e, &reply);
}

static void on_soft_state(struct node *n, const struct raft_ready *rd)
{
	if (rd->role == RAFT_LEADER && n->role != RAFT_LEADER) {
		n->m.elections_won++;
		logf_(n, LOG_INFO, "leader of term %" PRIu64, rd->term);
	} else if (rd->role != RAFT_LEADER && n->role == RAFT_LEADER) {
		logf_(n, LOG_INFO, "no longer leader (term %" PRIu64 ")", rd->term);
		/* Reads pending here will never be confirmed by this node. */
		reads_fail_all(n, NODE_ENOTLEADER);
	}
	n->role = rd->role;
}

static void process_batch(struct node *n, struct batch *b)
{
	struct raft_ready *rd = &b->rd;
	n->m.ready_batches++;
	if (rd->soft_state_changed)
		on_soft_state(n, rd);
	/* 1. Messages that depend on nothing unpersisted. */
	for (uint32_t i = 0; i < rd->n_messages; i++)
		net_send(n->net, &rd->messages[i]);
	/* 4. A snapshot from the leader replaces the state; then apply in order. */
	if (rd->has_snapshot) {
		int rv = kv_snapshot_read_buf(n->kv, rd->snapshot_data->data, rd->snapshot_data->len);
		if (rv != 0)
			fail_stop(n, "the leader's snapshot does not load into the state machine");
		n->last_snapshot = rd->snapshot_index;
		writes_fail_upto(n, rd->snapshot_index, NODE_ETIMEOUT);
		reload_members(n);
		sync_peers(n);
		logf_(n, LOG_INFO, "installed the leader's snapshot at index %" PRIu64,
		      rd->snapshot_index);
	}
	for (uint32_t i = 0; i < rd->n_committed; i++)
		apply_entry(n, &rd->committed[i]);
	for (uint32_t i = 0; i < rd->n_reads; i++) {
		struct pending_read *p = read_find(n, rd->reads[i].context);
		if (p != NULL) {
			p->index = rd->reads[i].index;
			p->confirmed = true;
		}
	}
	reads_serve(n);
	/* 2. Persist. A batch with nothing to write and nothing ahead of it completes now. */
	bool empty = !rd->has_hard_state && rd->n_entries == 0 && !rd->has_snapshot;
	if (empty && n->inflight == 0) {
		batch_done(n, b);
		return;
	}
	n->inflight++;
	n->m.storage_writes++;
	b->hs_req.data = b;
	b->snap_req.data = b;
	b->write_req.data = b;
	if (!rd->has_snapshot) {
		storage_async_write_ready(n->async, &b->write_req, rd, batch_persisted);
		return;
	}
	/* The storage queue is ordered: first the hard state (the snapshot may come from a
	 * leader of a term this node has not made durable yet, and the storage refuses a
	 * snapshot above the durable term), then the snapshot, then the entries after it. */
	if (rd->has_hard_state)
		storage_async_write(n->async, &b->hs_req, &rd->hard_state, NULL, 0,
				    batch_persisted);
	storage_async_snapshot(n->async, &b->snap_req, rd->snapshot_index, rd->snapshot_term,
			       &rd->snapshot_conf, rd->snapshot_data->data, rd->snapshot_data->len,
			       rd->snapshot_discard_log ? STORAGE_SNAPSHOT_DISCARD_LOG : 0,
			       batch_persisted);
	storage_async_write(n->async, &b->write_req, NULL, rd->entries, rd->n_entries,
			    batch_persisted);
}

static void drain(struct node *n)
{
	if (n->draining || n->stopping)
		return;
	n->draining = true;
	n->dirty = false;
	while (raft_has_ready(n->r)) {
		struct batch *b = xcalloc(1, sizeof(*b));
		b->n = n;
		raft_ready(n->r, &b->rd);
		process_batch(n, b);
	}
	maybe_snapshot(n);
	n->draining = false;
}

static void on_check(uv_check_t *h)
{
	struct node *n = h->data;
	if (n->dirty)
		drain(n);
}

static void on_tick(uv_timer_t *t)
{
	struct node *n = t->data;
	raft_tick(n->r);
	sweep_timeouts(n);
	drain(n);
}

static void on_message(void *ctx, const struct raft_message *m)
{
	struct node *n = ctx;
	if (n->stopping)
		return;
	raft_step(n->r, m);
	n->dirty = true;
}

static void on_net_log(void *ctx, enum net_log_level level, const char *msg)
{
	struct node *n = ctx;
	if ((int)level >= 1)
		logf_(n, (int)level, "net: %s", msg);
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
		member_put(n, &m);
	return 0;
}

static void reload_members(struct node *n)
{
	bool more = false;
	kv_scan(n->kv, KV_MEMBER_PREFIX, KV_MEMBER_PREFIX_LEN, NULL, 0, 2 * NODE_MAX_MEMBERS, 0,
		member_scan, n, &more);
}

/* ---------------------------------------------------------------------------------
 * Life cycle
 */

static int map_raft_error(int rv)
{
	switch (rv) {
	case RAFT_OK: return NODE_OK;
	case RAFT_ENOTLEADER: return NODE_ENOTLEADER;
	case RAFT_EBUSY:
	case RAFT_ECHANGING: return NODE_EBUSY;
	case RAFT_ETOOBIG: return NODE_ETOOBIG;
	case RAFT_ELAGGING:
	case RAFT_ENOPEER:
	case RAFT_ENOVOTER: return NODE_ECONFIG;
	default: return NODE_EINVAL;
	}
}

int node_start(struct node **out, uv_loop_t *loop, const struct node_config *cfg, char *errmsg,
	       size_t len)
{
	if (cfg->id == RAFT_NONE || cfg->tick_ms == 0 || cfg->data_dir[0] == '\0') {
		snprintf(errmsg, len, "a node needs an id, a tick and a data directory");
		return NODE_EINVAL;
	}
	struct node *n = xcalloc(1, sizeof(*n));
	n->loop = loop;
	n->cfg = *cfg;
	n->role = RAFT_FOLLOWER;
	for (uint32_t i = 0; i < cfg->n_members; i++)
		member_put(n, &cfg->members[i]);

	struct raft_conf boot_conf;
	memset(&boot_conf, 0, sizeof(boot_conf));
	for (uint32_t i = 0; i < cfg->n_members && i < RAFT_MAX_MEMBERS; i++)
		boot_conf.voters[boot_conf.n_voters++] = cfg->members[i].id;
	struct storage_options so = {
	    .cluster_id = cfg->cluster_id,
	    .node_id = cfg->id,
	    .bootstrap_conf = cfg->join ? NULL : &boot_conf,
	    .create = true,
	    .segment_size_bytes = cfg->segment_bytes,
	};
	char serr[STORAGE_ERRMSG_SIZE];
	struct storage_recovered rec;
	if (storage_open(&n->st, sio_posix(), cfg->data_dir, &so, &rec, serr) != 0) {
		snprintf(errmsg, len, "%s", serr);
		free(n);
		return NODE_ESTORAGE;
	}
	if (rec.notes[0] != '\0')
		logf_(n, LOG_WARN, "recovery repaired the data directory: %s", rec.notes);
	if (kv_new(&cfg->kv, &n->kv) != 0) {
		snprintf(errmsg, len, "invalid key-value configuration");
		goto fail_storage;
	}
	if (rec.snapshot_data != NULL &&
	    kv_snapshot_read_buf(n->kv, rec.snapshot_data->data, rec.snapshot_data->len) != 0) {
		snprintf(errmsg, len, "the snapshot at index %" PRIu64 " in %s does not load: %s",
			 rec.snapshot_index, cfg->data_dir, kv_errmsg(n->kv));
		goto fail_kv;
	}
	n->last_snapshot = rec.snapshot_index;
	reload_members(n);

	struct raft_config rc;
	raft_config_default(&rc, cfg->id);
	rc.election_ticks = cfg->election_ticks;
	rc.heartbeat_ticks = cfg->heartbeat_ticks;
	rc.max_entry_bytes = CONCORD_ENTRY_BYTES_MAX;
	rc.snapshot_chunk_bytes = CONCORD_SNAPSHOT_CHUNK_BYTES;
	rc.seed = wall_ms() ^ ((uint64_t)getpid() << 32) ^ cfg->id;
	struct raft_boot boot;
	storage_recovered_boot(&rec, &boot);
	int rv = raft_new(&n->r, &rc, &boot);
	if (rv != 0) {
		snprintf(errmsg, len,
			 "cannot start Raft from %s: %s (term %" PRIu64 ", snapshot %" PRIu64
			 ", %u entries, %u voters)",
			 cfg->data_dir, raft_strerror(rv), boot.hard_state.term, boot.snapshot_index,
			 boot.n_entries, boot.conf.n_voters);
		goto fail_kv;
	}
	storage_recovered_release(&rec);
	logf_(n, LOG_INFO, "recovered term %" PRIu64 ", log %" PRIu64 "..%" PRIu64
	      ", snapshot %" PRIu64, raft_term_current(n->r), raft_first_index(n->r),
	      raft_last_index(n->r), raft_snapshot_index(n->r));

	/* The transport first: if its port is taken, nothing asynchronous has started yet
	 * except the transport itself, whose close frees the node. */
	struct net_config nc;
	net_config_default(&nc);
	nc.cluster_id = cfg->cluster_id;
	nc.self_id = cfg->id;
	nc.listen_address = cfg->listen_peer;
	nc.seed = cfg->fault_seed ^ cfg->id;
	if (cfg->max_frame_bytes > 0)
		nc.max_frame_bytes = cfg->max_frame_bytes;
	nc.on_message = on_message;
	nc.log = on_net_log;
	nc.ctx = n;
	char nerr[256] = "";
	if (net_new(&n->net, loop, &nc, nerr) != 0) {
		snprintf(errmsg, len, "peer transport on %s: %s", cfg->listen_peer, nerr);
		goto fail_raft;
	}
	if (net_start(n->net) != 0) {
		snprintf(errmsg, len, "peer transport on %s: %s", cfg->listen_peer,
			 net_errmsg(n->net));
		raft_free(n->r);
		kv_free(n->kv);
		storage_close(n->st);
		net_close(n->net, free, n); /* frees the node once its handles closed */
		return NODE_EINVAL;
	}
	if (storage_async_start(&n->async, loop, n->st) != 0) {
		/* Cannot happen short of thread creation failing; the process then exits. */
		snprintf(errmsg, len, "cannot start the storage threads");
		return NODE_ESTORAGE;
	}
	sync_peers(n);
	uv_timer_init(loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, on_tick, cfg->tick_ms, cfg->tick_ms);
	uv_check_init(loop, &n->check);
	n->check.data = n;
	uv_check_start(&n->check, on_check);
	*out = n;
	return NODE_OK;

fail_raft:
	raft_free(n->r);
	kv_free(n->kv);
	storage_close(n->st);
	free(n);
	return NODE_EINVAL;

fail_kv:
	kv_free(n->kv);
fail_storage:
	storage_recovered_release(&rec);
	storage_close(n->st);
	free(n);
	return NODE_ESTORAGE;
}

static void stop_step(struct node *n)
{
	if (--n->closing > 0)
		return;
	/* Every batch was advanced by the storage's last callbacks. */
	storage_close(n->st);
	raft_free(n->r);
	kv_free(n->kv);
	free(n->writes);
	free(n->reads);
	void (*cb)(void *) = n->stop_cb;
	void *arg = n->stop_arg;
	free(n);
	if (cb != NULL)
		cb(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
	stop_step(h->data);
}

/* The snapshot child's pipe, closed by node_stop: the child was killed; reap it. */
static void on_snap_pipe_closed(uv_handle_t *h)
{
	struct node *n = h->data;
	snapshot_pipe_closed(h);
	stop_step(n);
}

static void on_net_closed(void *ctx)
{
	stop_step(ctx);
}

static void on_async_stopped(void *arg)
{
	stop_step(arg);
}

void node_stop(struct node *n, void (*cb)(void *arg), void *arg)
{
	if (n->stopping)
		return;
	n->stopping = true;
	n->stop_cb = cb;
	n->stop_arg = arg;
	writes_fail_upto(n, UINT64_MAX, NODE_ESTOPPING);
	reads_fail_all(n, NODE_ESTOPPING);
	if (n->snap.running && n->snap.pid > 0)
		kill(n->snap.pid, SIGKILL);
	n->closing = 4;
	if (n->snap.pipe_open) {
		/* The pipe lives in the node: it must be closed (and the child reaped) before
		 * the node is freed. */
		n->snap.pipe_open = false;
		n->closing++;
		uv_close((uv_handle_t *)&n->snap.pipe, on_snap_pipe_closed);
	}
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, on_handle_closed);
	uv_check_stop(&n->check);
	uv_close((uv_handle_t *)&n->check, on_handle_closed);
	net_close(n->net, on_net_closed, n);
	storage_async_stop(n->async, on_async_stopped, n);
}

/* ---------------------------------------------------------------------------------
 * Client operations
 */

/* Whether a client command names a key of the reserved keyspace (kv.h), which only
 * Concord itself writes. */
static bool touches_reserved(const struct kv_cmd *c)
{
	if (kv_key_reserved(c->put.key, c->put.key_len))
		return true;
	for (size_t i = 0; i < c->n && c->puts != NULL; i++)
		if (kv_key_reserved(c->puts[i].key, c->puts[i].key_len))
			return true;
	for (size_t i = 0; i < c->n && c->keys != NULL; i++)
		if (kv_key_reserved(c->keys[i].data, c->keys[i].len))
			return true;
	return false;
}

static int propose(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	if (raft_role(n->r) != RAFT_LEADER)
		return NODE_ENOTLEADER;
	struct kv_cmd c = *cmd;
	c.time_ms = wall_ms(); /* the log time that expires sessions, the same everywhere */
	void *buf = NULL;
	size_t len = 0;
	int rv = kv_cmd_encode(&c, &n->cfg.kv.limits, &buf, &len);
	if (rv != 0)
		return rv == KV_EKEYTOOBIG || rv == KV_EVALUETOOBIG || rv == KV_ETOOMANY
			   ? NODE_ETOOBIG
			   : NODE_EINVAL;
	raft_term term;
	raft_index index;
	rv = raft_propose(n->r, buf, len, &term, &index);
	free(buf);
	if (rv != 0)
		return map_raft_error(rv);
	if (n->n_writes == n->cap_writes) {
		n->cap_writes = n->cap_writes ? n->cap_writes * 2 : 64;
		n->writes = xrealloc(n->writes, n->cap_writes * sizeof(*n->writes));
	}
	assert(n->n_writes == 0 || n->writes[n->n_writes - 1].index < index);
	n->writes[n->n_writes++] = (struct pending_write){
	    .index = index,
	    .term = term,
	    .cb = cb,
	    .arg = arg,
	    .deadline_ms = now_ms(n) + n->cfg.request_timeout_ms,
	    .start_us = now_us(),
	};
	n->m.proposals++;
	n->dirty = true;
	return NODE_OK;
}

int node_write(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg)
{
	if (touches_reserved(cmd))
		return NODE_EINVAL;
	return propose(n, cmd, cb, arg);
}

int node_read(struct node *n, bool stale, node_read_cb cb, void *arg)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	n->m.reads++;
	if (stale) {
		n->m.reads_ok++;
		cb(arg, NODE_OK);
		return NODE_OK;
	}
	uint64_t ctx = ++n->read_ctx;
	int rv = raft_read_index(n->r, ctx);
	if (rv != 0)
		return map_raft_error(rv);
	if (n->n_reads == n->cap_reads) {
		n->cap_reads = n->cap_reads ? n->cap_reads * 2 : 64;
		n->reads = xrealloc(n->reads, n->cap_reads * sizeof(*n->reads));
	}
	n->reads[n->n_reads++] = (struct pending_read){
	    .ctx = ctx, .cb = cb, .arg = arg,
	    .deadline_ms = now_ms(n) + n->cfg.request_timeout_ms};
	n->dirty = true;
	return NODE_OK;
}

const struct kv *node_kv(const struct node *n)
{
	return n->kv;
}

/* ---------------------------------------------------------------------------------
 * Cluster
 */

void node_status(const struct node *n, struct node_status *out)
{
	memset(out, 0, sizeof(*out));
	out->id = n->cfg.id;
	out->role = raft_role(n->r);
	out->term = raft_term_current(n->r);
	out->leader = raft_leader(n->r);
	out->commit = raft_commit_index(n->r);
	out->applied = kv_applied_index(n->kv);
	out->last_index = raft_last_index(n->r);
	out->snapshot_index = raft_snapshot_index(n->r);
	out->conf = *raft_conf_current(n->r);
	out->proposals_pending = n->n_writes;
	out->reads_pending = n->n_reads;
}

bool node_progress(const struct node *n, raft_id id, raft_index *match, raft_index *next)
{
	return raft_progress(n->r, id, match, next);
}

int node_transfer(struct node *n, raft_id to)
{
	int rv = map_raft_error(raft_transfer_leader(n->r, to));
	n->dirty = true;
	return rv;
}

int node_step_down(struct node *n)
{
	int rv = map_raft_error(raft_step_down(n->r));
	n->dirty = true;
	return rv;
}

static int change(struct node *n, const struct raft_conf *target)
{
	int rv = map_raft_error(raft_change_config(n->r, target, NULL));
	n->dirty = true;
	return rv;
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
		logf_(n, LOG_WARN, "adding n%" PRIu64 ": its address was not recorded: %s", ma->id,
		      node_strerror(status));
	} else if (!n->stopping) {
		struct raft_conf t = *raft_conf_current(n->r);
		if (!raft_conf_is_member(&t, ma->id) && t.n_learners < RAFT_MAX_MEMBERS) {
			t.learners[t.n_learners++] = ma->id;
			int rv = change(n, &t);
			logf_(n, rv == 0 ? LOG_INFO : LOG_WARN, "adding n%" PRIu64 " as a learner: %s",
			      ma->id, node_strerror(rv));
		}
	}
	free(ma);
}

int node_member_add_learner(struct node *n, const struct node_member *m)
{
	if (raft_role(n->r) != RAFT_LEADER)
		return NODE_ENOTLEADER;
	if (m->id == RAFT_NONE || m->peer[0] == '\0' || raft_conf_is_member(raft_conf_current(n->r), m->id))
		return NODE_EINVAL;
	/* First the address book, replicated, so every node can reach the new member; then
	 * the configuration. */
	char key[64], value[600];
	/* The prefix holds a NUL, so print the id after room for it, then copy it in. */
	int klen = snprintf(key, sizeof(key), "%*s%" PRIu64, KV_MEMBER_PREFIX_LEN, "", m->id);
	memcpy(key, KV_MEMBER_PREFIX, KV_MEMBER_PREFIX_LEN);
	int vlen = snprintf(value, sizeof(value), "%s\n%s\n%s\n%s", m->name, m->peer, m->client,
			    m->http);
	struct member_add *ma = xmalloc(sizeof(*ma));
	ma->n = n;
	ma->id = m->id;
	struct kv_cmd c = {.op = KV_OP_SET,
			   .put = {.key = key, .key_len = (size_t)klen, .value = value,
				   .value_len = (size_t)vlen}};
	int rv = propose(n, &c, member_recorded, ma);
	if (rv != 0)
		free(ma);
	return rv;
}

int node_member_promote(struct node *n, raft_id id)
{
	struct raft_conf t = *raft_conf_current(n->r);
	if (!conf_drop(t.learners, &t.n_learners, id) || t.n_voters >= RAFT_MAX_MEMBERS)
		return NODE_EINVAL;
	t.voters[t.n_voters++] = id;
	return change(n, &t);
}

int node_member_remove(struct node *n, raft_id id)
{
	struct raft_conf t = *raft_conf_current(n->r);
	t.n_voters_old = 0;
	bool found = conf_drop(t.voters, &t.n_voters, id) || conf_drop(t.learners, &t.n_learners, id);
	if (!found)
		return NODE_EINVAL;
	return change(n, &t);
}

int node_fault_set(struct node *n, raft_id peer, const struct net_fault *f)
{
	if (peer != RAFT_NONE)
		return net_fault_set(n->net, peer, f) == 0 ? NODE_OK : NODE_EINVAL;
	for (uint32_t i = 0; i < n->n_members; i++)
		if (n->members[i].id != n->cfg.id)
			net_fault_set(n->net, n->members[i].id, f);
	return NODE_OK;
}

void node_fault_clear(struct node *n, raft_id peer)
{
	if (peer != RAFT_NONE)
		net_fault_clear(n->net, peer);
	else
		net_fault_clear_all(n->net);
}

void node_metrics(const struct node *n, struct node_metrics *out)
{
	*out = n->m;
}

void node_net_stats(const struct node *n, struct net_stats *out)
{
	net_stats_get(n->net, RAFT_NONE, out);
}
