/* node_snapshot.c: the snapshot policy and the forked snapshot job (pipe, child, reaping, storing). */
#include "server/node_impl.h"
#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * A forked child serializes the state machine while the parent keeps serving;
 * copy-on-write keeps the child's view frozen at the snapshot's index.
 */

static void snapshot_stored(struct storage_async_req *req, int status)
{
	struct node *n = req->data;
	struct snapshot_job *j = &n->snap;
	if (status != 0)
		node_fail_stop(n, storage_async_errmsg(n->async));
	if (!n->stopping) {
		int rv = raft_snapshot_taken(n->r, j->index, j->buf, n->cfg.snapshot_trailing);
		if (rv != 0)
			node_logf(n, LOG_WARN, "snapshot at %" PRIu64 " not used: %s", j->index,
			          raft_strerror(rv));
		else
			node_logf(n, LOG_INFO, "snapshot at index %" PRIu64 " (%zu bytes) stored",
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
			node_logf(n, LOG_WARN, "snapshot at %" PRIu64 " failed in the child", j->index);
		else if (stale && !n->stopping)
			node_logf(n, LOG_INFO,
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

void node_snapshot_maybe(struct node *n)
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
		node_logf(n, LOG_WARN, "snapshot: pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		node_logf(n, LOG_WARN, "snapshot: fork: %s", strerror(errno));
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
	node_logf(n, LOG_INFO, "snapshot at index %" PRIu64 ": child %d writing", applied, (int)pid);
}

/* The child's pipe, closed by node_stop: the child was killed; reap it. */
static void snapshot_pipe_cancelled(uv_handle_t *h)
{
	struct node *n = h->data;
	snapshot_pipe_closed(h);
	node_stop_step(n);
}

bool node_snapshot_cancel(struct node *n)
{
	struct snapshot_job *j = &n->snap;
	if (j->running && j->pid > 0)
		kill(j->pid, SIGKILL);
	if (!j->pipe_open)
		return false;
	/* The pipe lives in the node: it must be closed (and the child reaped) before the
	 * node is freed. */
	j->pipe_open = false;
	uv_close((uv_handle_t *)&j->pipe, snapshot_pipe_cancelled);
	return true;
}
