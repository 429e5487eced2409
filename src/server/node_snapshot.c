/* node_snapshot.c: the snapshot job behind the driver's seam: a forked child, its pipe, storing. */
#include "server/node_impl.h"
#include "base/alloc.h"
#include "storage/snap.h"
#include "storage/util.h"

#include <assert.h>
#include <stdio.h>
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
 * child's view frozen at the snapshot's index. The child streams it into a complete
 * snapshot file, DIR/snap/snapshot-<index>-<term>.child (snap_write_stream: checksummed,
 * fsync'd, renamed from .child.tmp), so the state is never whole in anyone's memory, and
 * reports on a pipe: nothing on success, else its error. At the pipe's end the parent
 * reaps it and maps the file for the driver (the bytes the core sends to followers);
 * when the driver asks, the storage's snapshot thread renames it to its final name and
 * compacts the log. A file the storage did not take is removed when the next job starts,
 * and by recovery after a crash.
 */

/* Removes what the last job left, if the storage did not take it. */
static void job_files_remove(struct snapshot_child *c)
{
	if (c->file[0] == '\0')
		return;
	char tmp[SIO_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->file);
	unlink(c->file);
	unlink(tmp);
	c->file[0] = '\0';
}

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
	/* The bytes are the child's file, mapped (snapshot_pipe_closed). */
	assert(index == n->snap.index && term == n->snap.term);
	storage_async_snapshot_file(n->async, &n->snap.req, index, term, conf, data->len,
	                            n->snap.file, snapshot_stored);
}

static void snapshot_pipe_closed(uv_handle_t *h)
{
	struct node *n = h->data;
	struct snapshot_child *c = &n->snap;
	int wstatus = 0;
	/* Only a child that finished cleanly, having said nothing, made a snapshot. */
	bool ok = waitpid(c->pid, &wstatus, 0) == c->pid && WIFEXITED(wstatus) &&
	          WEXITSTATUS(wstatus) == 0 && c->len == 0;
	c->pid = 0;
	if (!ok && c->len > 0)
		node_logf(n, LOG_WARN, "snapshot at index %" PRIu64 ": %.*s", c->index, (int)c->len,
		          (const char *)c->data);
	else if (!ok)
		node_logf(n, LOG_WARN, "snapshot at index %" PRIu64 ": the child %s %d", c->index,
		          WIFSIGNALED(wstatus) ? "died of signal" : "exited with",
		          WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
	free(c->data);
	c->data = NULL;
	c->len = c->cap = 0;
	struct raft_buf *buf = NULL;
	if (!ok)
		job_files_remove(c);
	if (ok) {
		char err[STORAGE_ERRMSG_SIZE];
		if (storage_snapshot_map_path(c->file, c->index, c->term, &buf, err) != 0) {
			node_logf(n, LOG_WARN, "snapshot at index %" PRIu64 ": %s", c->index, err);
			buf = NULL;
		}
	}
	/* The driver keeps the bytes, drops them if stale or stopping, or asks to save. */
	driver_snapshot_written_buf(n->d, buf != NULL ? 0 : -1, buf);
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

void node_child_exit(int fd, int rv, const char *err)
{
	if (rv != 0) {
		size_t left = strlen(err);
		const char *p = err;
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w <= 0)
				break;
			p += w;
			left -= (size_t)w;
		}
	}
	_exit(rv == 0 ? 0 : 1);
}

int node_produce_kv(const void *arg, snap_write_fn write, void *warg)
{
	return kv_snapshot_write(arg, write, warg);
}

/* The child: write the frozen state, report, leave. Nothing but system calls and the
 * allocator is safe here, since the parent's threads did not come along. */
_Noreturn static void snapshot_child(struct node *n, const struct proto_snapshot_meta *m, int fd)
{
	char dir[SIO_PATH_MAX];
	char err[STORAGE_ERRMSG_SIZE] = "";
	snprintf(dir, sizeof(dir), "%s/" SNAP_DIR, n->cfg.data_dir);
	struct snap_name name = {.index = m->index, .term = m->term, .child = true};
	int rv =
	    snap_write_stream(sio_posix(), dir, &name, m, node_produce_kv, driver_kv(n->d), err);
	node_child_exit(fd, rv, err);
}

int node_snapshot_start(void *ctx, raft_index index)
{
	struct node *n = ctx;
	struct snapshot_child *c = &n->snap;
	if (n->stopping || c->pipe_open)
		return -1;
	struct proto_snapshot_meta m = {.index = index};
	if (raft_snapshot_meta(driver_raft(n->d), index, &m.term, &m.conf) != 0)
		return -1;
	job_files_remove(c);
	char dir[SIO_PATH_MAX], name[SIO_NAME_MAX + 1];
	snprintf(dir, sizeof(dir), "%s/" SNAP_DIR, n->cfg.data_dir);
	snap_name_format_as(name,
	                    &(struct snap_name){.index = index, .term = m.term, .child = true});
	path_join(c->file, dir, name);
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
		close(fds[0]);
		snapshot_child(n, &m, fds[1]);
	}
	close(fds[1]);
	c->pid = pid;
	c->index = index;
	c->term = m.term;
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
