/* node_snapshot.c: the snapshot job behind the driver's seam: a forked child, its pipe, storing. */
#include "server/node_impl.h"
#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The driver decides when (src/driver/snapshot.c); here is how. A forked child
 * serializes the state machine while the parent keeps serving; copy-on-write keeps the
 * child's view frozen at the snapshot's index. The parent reads the bytes from a pipe,
 * reaps the child, hands the bytes to the driver, and stores them when the driver asks.
 */

static void snapshot_stored(struct storage_async_req *req, int status)
{
	struct node *n = req->data;
	driver_snapshot_saved(n->d, status); /* a failure fail-stops */
	/* The compaction just freed the log's entries below the snapshot and the driver its
	 * copy of the snapshot's bytes: hand the allocator's free pages back to the system,
	 * which glibc otherwise keeps for the heap's lifetime (they are scattered between
	 * the store's long-lived allocations, so the heap's top rarely shrinks by itself). */
	uint64_t t0 = uv_hrtime();
	malloc_trim(0);
	uint64_t us = (uv_hrtime() - t0) / 1000;
	if (us > 20000)
		node_logf(n, LOG_INFO, "returning freed memory took %" PRIu64 " ms", us / 1000);
}

void node_snapshot_save(void *ctx, raft_index index, raft_term term, const struct raft_conf *conf,
                        const struct raft_buf *data)
{
	struct node *n = ctx;
	n->snap.req.data = n;
	storage_async_snapshot(n->async, &n->snap.req, index, term, conf, data->data, data->len,
	                       STORAGE_SNAPSHOT_COMPACT, snapshot_stored);
}

/* The child's bytes as a raft_buf, handed over without a copy: at a million keys a copy
 * would be another 300 MB on top of the pipe's buffer while the snapshot is stored. */
struct snapshot_bytes {
	struct raft_buf b;
	unsigned char *data;
};

static void snapshot_bytes_release(struct raft_buf *b)
{
	struct snapshot_bytes *sb = (struct snapshot_bytes *)b;
	free(sb->data);
	free(sb);
}

static struct raft_buf *snapshot_bytes_wrap(unsigned char *data, size_t len)
{
	struct snapshot_bytes *sb = xmalloc(sizeof(*sb));
	/* The buffer grew by doubling: give the slack back. */
	unsigned char *exact = realloc(data, len);
	sb->data = exact != NULL ? exact : data;
	raft_buf_init_external(&sb->b, sb->data, len, snapshot_bytes_release);
	return &sb->b;
}

static void snapshot_pipe_closed(uv_handle_t *h)
{
	struct node *n = h->data;
	struct snapshot_child *c = &n->snap;
	int wstatus = 0;
	/* Only a child that finished cleanly, having written something, made a snapshot. */
	bool ok = waitpid(c->pid, &wstatus, 0) == c->pid && WIFEXITED(wstatus) &&
	          WEXITSTATUS(wstatus) == 0 && c->len > 0;
	c->pid = 0;
	unsigned char *data = c->data;
	size_t len = c->len;
	c->data = NULL;
	c->len = c->cap = 0;
	/* The driver keeps the bytes, drops them if stale or stopping, or asks to save. */
	if (!ok || len == 0 || len > UINT32_MAX) {
		free(data);
		driver_snapshot_written_buf(n->d, -1, NULL);
		return;
	}
	driver_snapshot_written_buf(n->d, 0, snapshot_bytes_wrap(data, len));
}

static void snapshot_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct node *n = h->data;
	struct snapshot_child *c = &n->snap;
	if (c->cap - c->len < suggested) {
		c->cap = c->cap * 2 > c->len + suggested ? c->cap * 2 : c->len + suggested;
		c->data = xrealloc(c->data, c->cap);
	}
	*buf = uv_buf_init((char *)c->data + c->len, (unsigned)(c->cap - c->len));
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

int node_snapshot_start(void *ctx, raft_index index)
{
	struct node *n = ctx;
	struct snapshot_child *c = &n->snap;
	if (n->stopping || c->pipe_open)
		return -1;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		node_logf(n, LOG_WARN, "snapshot: pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		node_logf(n, LOG_WARN, "snapshot: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* The child: write the frozen state and leave. Nothing else is safe here,
		 * since the parent's threads did not come along. */
		close(fds[0]);
		int rv = kv_snapshot_write_fd(driver_kv(n->d), fds[1]);
		_exit(rv == 0 ? 0 : 1);
	}
	close(fds[1]);
	c->pid = pid;
	c->index = index;
	c->len = 0;
	uv_pipe_init(n->loop, &c->pipe, 0);
	c->pipe_open = true;
	c->pipe.data = n;
	uv_pipe_open(&c->pipe, fds[0]);
	uv_read_start((uv_stream_t *)&c->pipe, snapshot_alloc, snapshot_read);
	node_logf(n, LOG_INFO, "snapshot at index %" PRIu64 ": child %d writing", index, (int)pid);
	return 0;
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
	struct snapshot_child *c = &n->snap;
	if (!c->pipe_open)
		return false;
	/* The child is not reaped while its pipe is open: its pid is still its own. */
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	/* The pipe lives in the node: it must be closed (and the child reaped) before the
	 * node is freed. */
	c->pipe_open = false;
	uv_close((uv_handle_t *)&c->pipe, snapshot_pipe_cancelled);
	return true;
}
