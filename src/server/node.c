/* node.c: a Concord server node: configuration, start and stop, status, metrics and faults;
 * the driver, snapshots and the address book are node_ready.c, node_snapshot.c and
 * node_members.c (node_impl.h). */
#include "server/node_impl.h"
#include "base/alloc.h"
#include "storage/wal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
 * Logging and errors
 */

void node_logf(struct node *n, int level, const char *fmt, ...)
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

int node_raft_error(int rv)
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

/* ---------------------------------------------------------------------------------
 * The loop's callbacks: the driver (node_ready.c) does the work
 */

static void on_check(uv_check_t *h)
{
	struct node *n = h->data;
	if (n->dirty)
		node_drain(n);
}

static void on_tick(uv_timer_t *t)
{
	node_on_tick(t->data);
}

static void on_message(void *ctx, const struct raft_message *m)
{
	node_on_message(ctx, m);
}

static void on_net_log(void *ctx, enum net_log_level level, const char *msg)
{
	struct node *n = ctx;
	if ((int)level >= 1)
		node_logf(n, (int)level, "net: %s", msg);
}

/* ---------------------------------------------------------------------------------
 * Life cycle
 */

/* Opens the data directory and loads the state machine from the snapshot it recovered.
 * On failure it releases what it opened, but not the node. */
static int open_storage(struct node *n, const struct node_config *cfg,
			struct storage_recovered *rec, char *errmsg, size_t len)
{
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
	if (storage_open(&n->st, sio_posix(), cfg->data_dir, &so, rec, serr) != 0) {
		snprintf(errmsg, len, "%s", serr);
		return NODE_ESTORAGE;
	}
	if (rec->notes[0] != '\0')
		node_logf(n, LOG_WARN, "recovery repaired the data directory: %s", rec->notes);
	if (kv_new(&cfg->kv, &n->kv) != 0) {
		snprintf(errmsg, len, "invalid key-value configuration");
		goto fail_storage;
	}
	if (rec->snapshot_data != NULL &&
	    kv_snapshot_read_buf(n->kv, rec->snapshot_data->data, rec->snapshot_data->len) != 0) {
		snprintf(errmsg, len, "the snapshot at index %" PRIu64 " in %s does not load: %s",
			 rec->snapshot_index, cfg->data_dir, kv_errmsg(n->kv));
		goto fail_kv;
	}
	n->last_snapshot = rec->snapshot_index;
	node_members_reload(n);
	return NODE_OK;

fail_kv:
	kv_free(n->kv);
fail_storage:
	storage_recovered_release(rec);
	storage_close(n->st);
	return NODE_ESTORAGE;
}

/* Starts the core from what the storage recovered, which it releases. On failure it
 * releases the storage and the state machine too, but not the node. */
static int start_raft(struct node *n, const struct node_config *cfg,
		      struct storage_recovered *rec, char *errmsg, size_t len)
{
	struct raft_config rc;
	raft_config_default(&rc, cfg->id);
	rc.election_ticks = cfg->election_ticks;
	rc.heartbeat_ticks = cfg->heartbeat_ticks;
	rc.max_entry_bytes = CONCORD_ENTRY_BYTES_MAX;
	rc.snapshot_chunk_bytes = CONCORD_SNAPSHOT_CHUNK_BYTES;
	rc.seed = node_wall_ms() ^ ((uint64_t)getpid() << 32) ^ cfg->id;
	struct raft_boot boot;
	storage_recovered_boot(rec, &boot);
	int rv = raft_new(&n->r, &rc, &boot);
	if (rv != 0) {
		snprintf(errmsg, len,
			 "cannot start Raft from %s: %s (term %" PRIu64 ", snapshot %" PRIu64
			 ", %u entries, %u voters)",
			 cfg->data_dir, raft_strerror(rv), boot.hard_state.term, boot.snapshot_index,
			 boot.n_entries, boot.conf.n_voters);
		kv_free(n->kv);
		storage_recovered_release(rec);
		storage_close(n->st);
		return NODE_ESTORAGE;
	}
	storage_recovered_release(rec);
	node_logf(n, LOG_INFO, "recovered term %" PRIu64 ", log %" PRIu64 "..%" PRIu64
	          ", snapshot %" PRIu64, raft_term_current(n->r), raft_first_index(n->r),
	          raft_last_index(n->r), raft_snapshot_index(n->r));
	return NODE_OK;
}

/* Starts the peer transport. On failure the node is gone: freed here, or by the close of
 * a transport that started listening. */
static int start_net(struct node *n, uv_loop_t *loop, const struct node_config *cfg,
		     char *errmsg, size_t len)
{
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
		raft_free(n->r);
		kv_free(n->kv);
		storage_close(n->st);
		free(n);
		return NODE_EINVAL;
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
	return NODE_OK;
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
		node_member_put(n, &cfg->members[i]);
	struct storage_recovered rec;
	int rv = open_storage(n, cfg, &rec, errmsg, len);
	if (rv == NODE_OK)
		rv = start_raft(n, cfg, &rec, errmsg, len);
	if (rv != NODE_OK) {
		free(n);
		return rv;
	}
	/* The transport first: if its port is taken, nothing asynchronous has started yet
	 * except the transport itself, whose close frees the node. */
	rv = start_net(n, loop, cfg, errmsg, len);
	if (rv != NODE_OK)
		return rv;
	if (storage_async_start(&n->async, loop, n->st) != 0) {
		/* Cannot happen short of thread creation failing; the process then exits. */
		snprintf(errmsg, len, "cannot start the storage threads");
		return NODE_ESTORAGE;
	}
	node_peers_sync(n);
	uv_timer_init(loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, on_tick, cfg->tick_ms, cfg->tick_ms);
	uv_check_init(loop, &n->check);
	n->check.data = n;
	uv_check_start(&n->check, on_check);
	*out = n;
	return NODE_OK;
}

void node_stop_step(struct node *n)
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
	node_stop_step(h->data);
}

static void on_net_closed(void *ctx)
{
	node_stop_step(ctx);
}

static void on_async_stopped(void *arg)
{
	node_stop_step(arg);
}

void node_stop(struct node *n, void (*cb)(void *arg), void *arg)
{
	if (n->stopping)
		return;
	n->stopping = true;
	n->stop_cb = cb;
	n->stop_arg = arg;
	node_writes_fail_upto(n, UINT64_MAX, NODE_ESTOPPING);
	node_reads_fail_all(n, NODE_ESTOPPING);
	n->closing = 4;
	if (node_snapshot_cancel(n))
		n->closing++; /* the child's pipe, closed once the child is reaped */
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, on_handle_closed);
	uv_check_stop(&n->check);
	uv_close((uv_handle_t *)&n->check, on_handle_closed);
	net_close(n->net, on_net_closed, n);
	storage_async_stop(n->async, on_async_stopped, n);
}

/* ---------------------------------------------------------------------------------
 * Accessors, faults and counters
 */

const struct kv *node_kv(const struct node *n)
{
	return n->kv;
}

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
