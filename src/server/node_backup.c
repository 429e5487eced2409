/* node_backup.c: backups for clients: a forked child writes a snapshot file of the applied state.
 */
#include "server/node_impl.h"
#include "base/alloc.h"
#include "storage/snap.h"
#include "storage/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * As for the node's own snapshots (node_snapshot.c), a forked child sees the store frozen
 * at the moment of the fork, so the file it writes is the state at one applied index,
 * while the parent keeps serving. The child writes DIR/backup/job-<pid>/snapshot-<i>-<t>
 * with snap_write_stream (the format of DIR/snap, checksums included, never whole in memory), then
 * reports on its pipe: nothing on success, else its error. The parent, at the pipe's end, reaps the
 * child, opens the file, unlinks it and its directory, and hands the descriptor over: nothing stays
 * on disk once the caller has the bytes. A crash in between leaves a job directory behind: no job
 * outlives its node, so the node removes them all when it starts (node_backup_clean).
 */

#define BACKUP_DIR        "backup"
#define BACKUP_ERRMSG_MAX 512

struct node_backup {
	struct node *n;
	struct node_backup *next;
	node_backup_cb cb; /* NULL once cancelled */
	void *arg;
	pid_t pid;
	uv_pipe_t pipe;
	raft_index index;
	raft_term term;
	char msg[BACKUP_ERRMSG_MAX]; /* what the child said */
	size_t msg_len;
	bool closing;  /* its pipe is closing */
	bool stopping; /* node_stop counted it: its node_stop_step() is owed */
};

/* The index, term and configuration of the last applied entry. */
static int backup_meta(struct node *n, struct proto_snapshot_meta *m)
{
	const struct raft *r = driver_raft(n->d);
	raft_index applied = kv_applied_index(driver_kv(n->d));
	memset(m, 0, sizeof(*m));
	if (applied == 0)
		return NODE_EBUSY;
	m->index = applied;
	if (raft_snapshot_meta(r, applied, &m->term, &m->conf) == 0)
		return NODE_OK;
	/* The core advances its applied index once the batch is durable; the store may be
	 * a batch ahead. The entry's term is in the log; the configuration in force is the
	 * one at the applied index unless a newer one was appended after it. */
	m->term = raft_term_at(r, applied);
	if (m->term == 0 || raft_conf_index(r) > applied)
		return NODE_EBUSY;
	m->conf = *raft_conf_current(r);
	return NODE_OK;
}

static void job_dir(const struct node *n, pid_t pid, char *out)
{
	snprintf(out, SIO_PATH_MAX, "%s/" BACKUP_DIR "/job-%d", n->cfg.data_dir, (int)pid);
}

/* The child: write the file, report, leave. */
_Noreturn static void backup_child(struct node *n, struct proto_snapshot_meta *m, int fd)
{
	char dir[SIO_PATH_MAX];
	char err[STORAGE_ERRMSG_SIZE] = "";
	job_dir(n, getpid(), dir);
	int rv = -1;
	if (mkdir(dir, 0700) != 0)
		snprintf(err, sizeof(err), "%.400s: mkdir: %s", dir, strerror(errno));
	else
		rv = snap_write_stream(sio_posix(), dir,
		                       &(struct snap_name){.index = m->index, .term = m->term}, m,
		                       node_produce_kv, driver_kv(n->d), err);
	node_child_exit(fd, rv, err);
}

static void job_unlink(struct node_backup *b)
{
	for (struct node_backup **p = &b->n->backups; *p != NULL; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			return;
		}
	}
}

/* Opens the child's file and removes it and its directory from the disk. */
static int job_take_file(struct node_backup *b, int *fd, uint64_t *size)
{
	char dir[SIO_PATH_MAX], name[SIO_NAME_MAX + 1], path[SIO_PATH_MAX];
	job_dir(b->n, b->pid, dir);
	snap_name_format(name, b->index, b->term, false);
	path_join(path, dir, name);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = errno;
	struct stat st;
	if (*fd >= 0 && fstat(*fd, &st) != 0) {
		err = errno;
		close(*fd);
		*fd = -1;
	}
	unlink(path);
	snap_name_format(name, b->index, b->term, true);
	path_join(path, dir, name);
	unlink(path);
	rmdir(dir);
	if (*fd < 0) {
		snprintf(b->msg, sizeof(b->msg), "%.400s: %s", path, strerror(err));
		return NODE_ESTORAGE;
	}
	*size = (uint64_t)st.st_size;
	return NODE_OK;
}

static void job_closed(uv_handle_t *h)
{
	struct node_backup *b = h->data;
	struct node *n = b->n;
	int wstatus = 0;
	bool ok = waitpid(b->pid, &wstatus, 0) == b->pid && WIFEXITED(wstatus) &&
	          WEXITSTATUS(wstatus) == 0 && b->msg_len == 0;
	int fd = -1;
	uint64_t size = 0;
	int status = b->stopping ? NODE_ESTOPPING : NODE_ESTORAGE;
	if (ok && !b->stopping)
		status = job_take_file(b, &fd, &size);
	else
		job_take_file(b, &fd, &size); /* removes what the child left */
	if (status != NODE_OK && fd >= 0) {
		close(fd);
		fd = -1;
	}
	if (status != NODE_OK && b->msg_len == 0 && b->msg[0] == '\0')
		snprintf(b->msg, sizeof(b->msg), "%s",
		         b->stopping ? "the node is shutting down" : "the backup child failed");
	if (status == NODE_OK)
		node_logf(n, LOG_INFO, "backup at index %" PRIu64 ": %" PRIu64 " bytes", b->index,
		          size);
	else
		node_logf(n, LOG_WARN, "backup at index %" PRIu64 " failed: %s", b->index, b->msg);
	if (b->cb != NULL)
		b->cb(b->arg, status, fd, size, b->index, b->msg);
	else if (fd >= 0)
		close(fd);
	bool stopping = b->stopping;
	job_unlink(b);
	free(b);
	if (stopping)
		node_stop_step(n);
}

static void job_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct node_backup *b = h->data;
	(void)suggested;
	size_t room = sizeof(b->msg) - 1 - b->msg_len;
	static char sink[256];
	/* Past the room, the rest of a long message is dropped. */
	if (room == 0)
		*buf = uv_buf_init(sink, sizeof(sink));
	else
		*buf = uv_buf_init(b->msg + b->msg_len, (unsigned)room);
}

static void job_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct node_backup *b = s->data;
	if (nread > 0) {
		if (buf->base >= b->msg && buf->base < b->msg + sizeof(b->msg))
			b->msg_len += (size_t)nread;
		b->msg[b->msg_len] = '\0';
		return;
	}
	if (nread < 0 && !b->closing) {
		b->closing = true;
		uv_close((uv_handle_t *)s, job_closed);
	}
}

int node_backup_start(struct node *n, node_backup_cb cb, void *arg, struct node_backup **out)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	struct proto_snapshot_meta m;
	int rv = backup_meta(n, &m);
	if (rv != NODE_OK)
		return rv;
	char top[SIO_PATH_MAX];
	snprintf(top, sizeof(top), "%s/" BACKUP_DIR, n->cfg.data_dir);
	if (mkdir(top, 0700) != 0 && errno != EEXIST) {
		node_logf(n, LOG_WARN, "backup: %s: %s", top, strerror(errno));
		return NODE_ESTORAGE;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		node_logf(n, LOG_WARN, "backup: pipe: %s", strerror(errno));
		return NODE_ESTORAGE;
	}
	pid_t pid = fork();
	if (pid < 0) {
		node_logf(n, LOG_WARN, "backup: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return NODE_ESTORAGE;
	}
	if (pid == 0) {
		close(fds[0]);
		backup_child(n, &m, fds[1]);
	}
	close(fds[1]);
	struct node_backup *b = xcalloc(1, sizeof(*b));
	b->n = n;
	b->cb = cb;
	b->arg = arg;
	b->pid = pid;
	b->index = m.index;
	b->term = m.term;
	b->next = n->backups;
	n->backups = b;
	uv_pipe_init(n->loop, &b->pipe, 0);
	b->pipe.data = b;
	uv_pipe_open(&b->pipe, fds[0]);
	uv_read_start((uv_stream_t *)&b->pipe, job_alloc, job_read);
	node_logf(n, LOG_INFO, "backup at index %" PRIu64 " (term %" PRIu64 "): child %d writing",
	          m.index, m.term, (int)pid);
	*out = b;
	return NODE_OK;
}

/* Removes the files of one job directory left by a crash, then the directory. A job
 * directory holds only files (what snap_write makes). Returns how many files went. */
static int job_dir_clean(struct node *n, const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char path[SIO_PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) == 0)
			count++;
		else
			node_logf(n, LOG_WARN, "backup: removing %s: %s", path, strerror(errno));
	}
	closedir(d);
	if (rmdir(dir) != 0)
		node_logf(n, LOG_WARN, "backup: removing %s: %s", dir, strerror(errno));
	return count;
}

void node_backup_clean(struct node *n)
{
	char top[SIO_PATH_MAX];
	snprintf(top, sizeof(top), "%s/" BACKUP_DIR, n->cfg.data_dir);
	DIR *d = opendir(top);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "job-", 4) != 0)
			continue;
		char dir[SIO_PATH_MAX];
		if (snprintf(dir, sizeof(dir), "%s/%s", top, e->d_name) >= (int)sizeof(dir))
			continue;
		int files = job_dir_clean(n, dir);
		node_logf(n, LOG_INFO,
		          "backup: removed %s (%d file%s), left by a backup the node's last run "
		          "did not finish",
		          dir, files, files == 1 ? "" : "s");
	}
	closedir(d);
}

void node_backup_cancel(struct node_backup *b)
{
	b->cb = NULL;
}

int node_backup_stop_all(struct node *n)
{
	int count = 0;
	for (struct node_backup *b = n->backups; b != NULL; b = b->next) {
		b->stopping = true;
		count++;
		if (b->closing)
			continue; /* its close is under way: the child ended already */
		b->closing = true;
		kill(b->pid, SIGKILL);
		uv_close((uv_handle_t *)&b->pipe, job_closed);
	}
	return count;
}
