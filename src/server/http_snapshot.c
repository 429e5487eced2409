/* http_snapshot.c: GET /v1/snapshot: a consistent snapshot of the serving node, streamed as a file.
 */
#include "server/http_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * The node's backup job (node_backup.c) writes the snapshot file; once it is done the
 * response goes out with its Content-Length, and the body follows in pieces as the
 * connection's output drains (the connection layer calls process() after every write),
 * so a large snapshot never sits whole in memory. The connection serves nothing else
 * meanwhile. A file that fails to read midway closes the connection: the client sees a
 * short body, and the snapshot's own checksums catch anything else.
 */

#define SNAPSHOT_PIECE_BYTES ((size_t)256 << 10)

static void stream_end(struct hconn *c)
{
	close(c->stream_fd);
	c->stream_fd = -1;
	c->streaming = false;
}

bool http_snapshot_pump(struct hconn *c)
{
	if (!c->streaming)
		return false;
	static char piece[SNAPSHOT_PIECE_BYTES];
	while (c->stream_off < c->stream_size && !conn_output_full(&c->conn)) {
		uint64_t left = c->stream_size - c->stream_off;
		size_t want = left < sizeof(piece) ? (size_t)left : sizeof(piece);
		ssize_t got = pread(c->stream_fd, piece, want, (off_t)c->stream_off);
		if (got <= 0) {
			server_logf(c->s->sv, 2,
			            "GET /v1/snapshot: reading the file at %" PRIu64 ": %s",
			            c->stream_off, got < 0 ? strerror(errno) : "it ended early");
			stream_end(c);
			conn_close(&c->conn); /* http_snapshot_closing ends the wait */
			return true;
		}
		if (wire_buf_append(&c->conn.out, piece, (size_t)got) != 0) {
			stream_end(c);
			conn_close(&c->conn);
			return true;
		}
		c->stream_off += (uint64_t)got;
	}
	if (c->stream_off < c->stream_size) {
		conn_flush(&c->conn);
		return true;
	}
	stream_end(c);
	http_done(c); /* flushes, then serves what came next */
	return true;
}

static void backup_done(void *arg, int status, int fd, uint64_t size, raft_index index,
                        const char *errmsg)
{
	struct hconn *c = arg;
	c->backup = NULL;
	if (status != NODE_OK) {
		if (status == NODE_ESTOPPING)
			respond_retry(c, "{\"error\": \"the node is shutting down\"}");
		else
			respond_error(c, 500, "the snapshot failed: %s", errmsg);
		http_done(c);
		return;
	}
	char idx[24];
	int n = snprintf(idx, sizeof(idx), "%" PRIu64, index);
	struct http_header h = {"X-Concord-Index", 15, idx, (size_t)n};
	/* The head only: the body follows from the file. */
	bool head_only = c->head_only;
	c->head_only = true;
	respond(c, 200, "application/octet-stream", "", size, &h, 1);
	c->head_only = head_only;
	if (head_only) {
		close(fd);
		http_done(c);
		return;
	}
	c->streaming = true;
	c->stream_fd = fd;
	c->stream_off = 0;
	c->stream_size = size;
	http_snapshot_pump(c);
}

void route_snapshot(struct hconn *c, const char *rest, size_t len)
{
	(void)rest;
	(void)len;
	struct node *n = c->s->sv->node;
	int rv = node_backup_start(n, backup_done, c, &c->backup);
	if (rv == NODE_EBUSY) {
		respond_retry(c, "{\"error\": \"nothing applied yet, or the last applied entry "
		                 "is not labelled yet: retry\"}");
		return;
	}
	if (rv != NODE_OK) {
		respond_error(c, rv == NODE_ESTOPPING ? 503 : 500, "cannot take a snapshot: %s",
		              node_strerror(rv));
		return;
	}
	http_wait(c);
}

void http_snapshot_closing(struct hconn *c)
{
	if (c->backup != NULL) {
		node_backup_cancel(c->backup);
		c->backup = NULL;
		c->busy = false;
		conn_unref(&c->conn); /* http_wait's: the callback will not come */
	} else if (c->streaming) {
		stream_end(c);
		c->busy = false;
		conn_unref(&c->conn);
	}
}
