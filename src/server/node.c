/* node.c: a Concord server node: configuration, logging, start and stop; the host of the driver
 * (src/driver), whose seam is node_io.c (node_impl.h names the other files). */
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
_Static_assert(KV_DEFAULT_KEY_BYTES <= KV_KEY_BYTES_LIMIT &&
                   KV_DEFAULT_VALUE_BYTES <= KV_VALUE_BYTES_LIMIT &&
                   KV_DEFAULT_KEYS_PER_CMD <= KV_KEYS_PER_CMD_LIMIT,
               "kv defaults within its ceilings");
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
	        ts.tv_nsec / 1000000, n->cfg.name,
	        levels[level < 0   ? 0
	               : level > 3 ? 3
	                           : level],
	        msg);
}

/* ---------------------------------------------------------------------------------
 * Life cycle
 */

static void on_net_log(void *ctx, enum net_log_level level, const char *msg)
{
	struct node *n = ctx;
	if ((int)level >= 1)
		node_logf(n, (int)level, "net: %s", msg);
}

/* Opens the data directory. */
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
	    /* With two peers or more, a quorum without this node can supply entries it
	     * lost to damage; alone or in a pair it must refuse instead. */
	    .repair_from_peers = cfg->n_members >= 3,
	};
	char serr[STORAGE_ERRMSG_SIZE];
	sio_faulty_init(&n->disk, sio_posix());
	if (storage_open(&n->st, &n->disk.io, cfg->data_dir, &so, rec, serr) != 0) {
		snprintf(errmsg, len, "%s", serr);
		return NODE_ESTORAGE;
	}
	node_backup_clean(n);
	if (rec->notes[0] != '\0')
		node_logf(n, LOG_WARN, "recovery repaired the data directory: %s", rec->notes);
	if (rec->catch_up)
		node_logf(n, LOG_ERROR,
		          "recovery found damage to data this node had made durable: %s; it keeps "
		          "the log up to entry %" PRIu64
		          " and neither votes nor campaigns until it "
		          "has fetched entries up to at least %" PRIu64
		          " (and the leader's commit index) from the leader",
		          rec->damage, rec->snapshot_index + rec->n_entries, rec->catch_up_to);
	return NODE_OK;
}

/* Starts the driver (the core and the state machine) from what the storage recovered,
 * which it releases. On failure it closes the storage too, but does not free the node. */
static uint64_t snapshot_threshold(const struct node_config *cfg, uint64_t v)
{
	if (!cfg->snapshot_stagger)
		return v;
	uint64_t k = (cfg->id - 1) % 4;
	uint64_t step = v / 8;
	return v > UINT64_MAX - 3 * step ? v : v + k * step;
}

static int start_driver(struct node *n, const struct node_config *cfg,
                        struct storage_recovered *rec, char *errmsg, size_t len)
{
	struct driver_config dc = {
	    .kv = cfg->kv,
	    .request_timeout_ms = cfg->request_timeout_ms,
	    .snapshot_entries = snapshot_threshold(cfg, cfg->snapshot_entries),
	    .snapshot_bytes = snapshot_threshold(cfg, cfg->snapshot_bytes),
	    .snapshot_trailing = cfg->snapshot_trailing,
	    /* The election timeout is random in [N, 2N) ticks: three of its mean. */
	    .disk_stall_ms = cfg->disk_stall_ms != 0
	                         ? cfg->disk_stall_ms
	                         : (uint32_t)((uint64_t)cfg->election_ticks * cfg->tick_ms * 9 / 2),
	};
	raft_config_default(&dc.raft, cfg->id);
	dc.raft.election_ticks = cfg->election_ticks;
	dc.raft.heartbeat_ticks = cfg->heartbeat_ticks;
	dc.raft.max_entry_bytes = CONCORD_ENTRY_BYTES_MAX;
	dc.raft.snapshot_chunk_bytes = CONCORD_SNAPSHOT_CHUNK_BYTES;
	dc.raft.seed = node_wall_ms() ^ ((uint64_t)getpid() << 32) ^ cfg->id;
	struct driver_seam seam;
	node_seam(n, &seam);
	struct raft_boot boot;
	storage_recovered_boot(rec, &boot);
	char derr[512];
	int rv = driver_new(&n->d, &dc, &seam, &boot, derr, sizeof(derr));
	storage_recovered_release(rec);
	if (rv != 0) {
		snprintf(errmsg, len, "%s: %s", cfg->data_dir, derr);
		storage_close(n->st);
		return NODE_ESTORAGE;
	}
	const struct raft *r = driver_raft(n->d);
	node_logf(n, LOG_INFO,
	          "recovered term %" PRIu64 ", log %" PRIu64 "..%" PRIu64 ", snapshot %" PRIu64,
	          raft_term_current(r), raft_first_index(r), raft_last_index(r),
	          raft_snapshot_index(r));
	node_members_reload(n);
	return NODE_OK;
}

/* A member's name for the transport's certificate check (the address book's). */
static const char *on_member_name(void *ctx, raft_id id)
{
	const struct node_member *m = node_member(ctx, id);
	return m != NULL && m->name[0] != '\0' ? m->name : NULL;
}

/* Starts the peer transport. On failure the node is gone: freed here, or by the close of
 * a transport that started listening. */
static int start_net(struct node *n, uv_loop_t *loop, const struct node_config *cfg, char *errmsg,
                     size_t len)
{
	struct net_config nc;
	net_config_default(&nc);
	nc.cluster_id = cfg->cluster_id;
	nc.self_id = cfg->id;
	nc.listen_address = cfg->listen_peer;
	nc.seed = cfg->fault_seed ^ cfg->id;
	if (cfg->max_frame_bytes > 0)
		nc.max_frame_bytes = cfg->max_frame_bytes;
	nc.on_message = node_on_message;
	nc.secret = cfg->peer_secret;
	nc.secret_len = cfg->peer_secret_len;
	nc.tls_server = cfg->peer_tls_server;
	nc.tls_client = cfg->peer_tls_client;
	nc.member_name = on_member_name;
	nc.log = on_net_log;
	nc.peer_removed = node_peer_removed;
	nc.on_removed = node_told_removed;
	nc.ctx = n;
	char nerr[256] = "";
	if (net_new(&n->net, loop, &nc, nerr) != 0) {
		snprintf(errmsg, len, "peer transport on %s: %s", cfg->listen_peer, nerr);
		driver_free(n->d);
		storage_close(n->st);
		free(n);
		return NODE_EINVAL;
	}
	if (net_start(n->net) != 0) {
		snprintf(errmsg, len, "peer transport on %s: %s", cfg->listen_peer,
		         net_errmsg(n->net));
		driver_free(n->d);
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
	n->was_member = !cfg->join; /* an initial member (node_removed.c) */
	for (uint32_t i = 0; i < cfg->n_members; i++)
		node_member_put(n, &cfg->members[i]);
	struct storage_recovered rec;
	int rv = open_storage(n, cfg, &rec, errmsg, len);
	if (rv == NODE_OK)
		rv = start_driver(n, cfg, &rec, errmsg, len);
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
	uv_timer_start(&n->tick, node_on_tick, cfg->tick_ms, cfg->tick_ms);
	uv_check_init(loop, &n->check);
	n->check.data = n;
	uv_check_start(&n->check, node_on_check);
	*out = n;
	return NODE_OK;
}

void node_stop_step(struct node *n)
{
	if (--n->closing > 0)
		return;
	/* Every batch was advanced by the storage's last callbacks. */
	storage_close(n->st);
	sio_faulty_close(&n->disk);
	driver_free(n->d);
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
	driver_stop(n->d); /* fails what is pending with NODE_ESTOPPING */
	n->closing = 4;
	if (node_snapshot_cancel(n))
		n->closing++; /* the child's pipe, closed once the child is reaped */
	n->closing += node_backup_stop_all(n);
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, on_handle_closed);
	uv_check_stop(&n->check);
	uv_close((uv_handle_t *)&n->check, on_handle_closed);
	net_close(n->net, on_net_closed, n);
	sio_faulty_stall(&n->disk, 0, 0); /* a stalled write would hold the stop up */
	storage_async_stop(n->async, on_async_stopped, n);
}

void node_disk_stall(struct node *n, uint64_t duration_ms)
{
	sio_faulty_stall(&n->disk, SIO_OPS_WRITE | SIO_OPS_SYNC, duration_ms);
	if (duration_ms > 0)
		node_logf(n, LOG_WARN,
		          "fault injected: the disk stalls writes and syncs for %" PRIu64 " ms",
		          duration_ms);
	else
		node_logf(n, LOG_WARN, "fault cleared: the disk no longer stalls");
}

uint64_t node_disk_stall_left(struct node *n, uint64_t *stalled_calls)
{
	return sio_faulty_stall_left_ms(&n->disk, stalled_calls);
}
