/* snapshot.c: concordctl snapshot save (a backup streamed over HTTP) and snapshot status. */
#include "ctl.h"

#include "backup/backup.h"
#include "codec/json.h"
#include "concord/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CTL_HEAD_MAX       (64u * 1024)
#define CTL_ERRBODY_MAX    4096u
#define CTL_RETRY_SLEEP_MS 200u

static uint64_t ctl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ----------------------------------------------------------------------------------
 * Printing what a file holds
 */

static void ctl_conf_ids(char *out, size_t size, const raft_id *ids, uint32_t n)
{
	size_t len = 0;
	out[0] = '\0';
	for (uint32_t i = 0; i < n && len < size; i++) {
		len +=
		    (size_t)snprintf(out + len, size - len, "%s%" PRIu64, i > 0 ? "," : "", ids[i]);
	}
}

static void ctl_info_print(enum ctl_format format, const char *file, const struct backup_info *in)
{
	char voters[256], learners[256];
	ctl_conf_ids(voters, sizeof(voters), in->conf.voters, in->conf.n_voters);
	ctl_conf_ids(learners, sizeof(learners), in->conf.learners, in->conf.n_learners);
	if (format == CTL_FORMAT_JSON) {
		printf("{\"file\": ");
		ctl_print_json_string(file);
		printf(", \"index\": %" PRIu64 ", \"term\": %" PRIu64 ", \"revision\": %" PRIu64
		       ", \"compact_revision\": %" PRIu64 ", \"keys\": %" PRIu64
		       ", \"members\": %" PRIu64 ", \"sessions\": %" PRIu64
		       ", \"size_bytes\": %" PRIu64 ", \"data_bytes\": %" PRIu64
		       ", \"checksum\": \"crc32c:%08x\", \"data_crc32c\": \"%08x\", "
		       "\"checksum_ok\": true"
		       ", \"voters\": [%s]"
		       ", \"learners\": [%s]}\n",
		       in->index, in->term, in->revision, in->compact_revision, in->keys,
		       in->members, in->sessions, in->file_bytes, in->data_bytes,
		       (unsigned)in->file_crc32c, (unsigned)in->data_crc32c, voters, learners);
		return;
	}
	char f[8][64];
	snprintf(f[0], sizeof(f[0]), "%" PRIu64, in->index);
	snprintf(f[1], sizeof(f[1]), "%" PRIu64, in->term);
	snprintf(f[2], sizeof(f[2]), "%" PRIu64, in->revision);
	snprintf(f[3], sizeof(f[3]), "%" PRIu64, in->keys);
	snprintf(f[4], sizeof(f[4]), "%" PRIu64, in->file_bytes);
	snprintf(f[5], sizeof(f[5]), "crc32c:%08x", (unsigned)in->file_crc32c);
	snprintf(f[6], sizeof(f[6]), "%s", "ok");
	snprintf(f[7], sizeof(f[7]), "%.30s%s%.30s", voters, learners[0] ? "/" : "", learners);
	static const char *const headers[] = {"INDEX", "TERM",     "REVISION", "KEYS",
	                                      "SIZE",  "CHECKSUM", "CHECK",    "VOTERS"};
	const char *cells[8];
	for (size_t i = 0; i < 8; i++) {
		cells[i] = f[i];
	}
	ctl_print_rows(format, headers, 8, cells, 1);
}

static int ctl_snapshot_status(struct ctl *ctl, int argc, char **argv)
{
	ctl_need_args("snapshot status", argc, 1, 1);
	struct backup_info info;
	char err[BACKUP_ERRMSG_SIZE];
	if (backup_read(argv[0], &info, NULL, err) != 0) {
		fprintf(stderr, "concordctl: snapshot status: %s\n", err);
		return CTL_FAILED;
	}
	ctl_info_print(ctl->format, argv[0], &info);
	return CTL_OK;
}

/* ----------------------------------------------------------------------------------
 * Finding the node's HTTP address
 */

/* The first address of the --endpoints list. */
static void ctl_first_endpoint(const char *endpoints, char *out, size_t size)
{
	size_t n = strcspn(endpoints, ",");
	if (n >= size) {
		n = size - 1;
	}
	memcpy(out, endpoints, n);
	out[n] = '\0';
}

/* The HTTP address the node at client address `node` lists for itself. */
static int ctl_http_of(struct concord_client *c, const char *node, char *out, size_t size)
{
	char *json = NULL;
	size_t len = 0;
	int rc = concord_client_status(c, node, &json, &len);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "snapshot save: asking the node for its HTTP address", rc);
	}
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	int ret = CTL_FAILED;
	out[0] = '\0';
	if (json_parse(json, len, NULL, &doc, err) == 0) {
		const struct json_value *root = json_doc_root(doc);
		uint64_t self = 0;
		const struct json_value *id = json_object_get(root, "node_id");
		const struct json_value *nodes = json_object_get(root, "nodes");
		if (id != NULL && json_value_uint64(id, &self) == 0 && nodes != NULL &&
		    nodes->type == JSON_ARRAY) {
			for (const struct json_value *m = nodes->child; m != NULL; m = m->next) {
				uint64_t mid = 0;
				const struct json_value *v = json_object_get(m, "id");
				const struct json_value *h = json_object_get(m, "http");
				if (v != NULL && json_value_uint64(v, &mid) == 0 && mid == self &&
				    h != NULL && h->type == JSON_STRING && h->len > 0 &&
				    h->len < size) {
					memcpy(out, h->str, h->len);
					out[h->len] = '\0';
					ret = CTL_OK;
				}
			}
		}
		json_doc_free(doc);
	}
	free(json);
	if (ret != CTL_OK) {
		fprintf(stderr,
		        "concordctl: snapshot save: %s lists no HTTP address of its own; "
		        "give one with --http HOST:PORT\n",
		        node);
	}
	return ret;
}

/* ----------------------------------------------------------------------------------
 * GET /v1/snapshot
 */

static int ctl_connect(const char *hostport, uint32_t timeout_ms, char *err, size_t size)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL || colon == hostport || (size_t)(colon - hostport) >= sizeof(host)) {
		snprintf(err, size, "'%s' is not host:port", hostport);
		return -1;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rv = getaddrinfo(host, colon + 1, &hints, &res);
	if (rv != 0) {
		snprintf(err, size, "%s: %s", hostport, gai_strerror(rv));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		snprintf(err, size, "%s: connect: %s", hostport, strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int ctl_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One response: status, Content-Length, and what of the body came with the head. */
struct ctl_head {
	char buf[CTL_HEAD_MAX];
	size_t have, body_at;
	int status;
	uint64_t length;
	bool has_length;
};

static int ctl_read_head(int fd, struct ctl_head *h, char *err, size_t size)
{
	memset(h, 0, sizeof(*h));
	while (h->have < sizeof(h->buf) - 1) {
		ssize_t r = read(fd, h->buf + h->have, sizeof(h->buf) - 1 - h->have);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			snprintf(err, size, "the response ended in its head: %s",
			         r < 0 ? strerror(errno) : "connection closed");
			return -1;
		}
		h->have += (size_t)r;
		h->buf[h->have] = '\0';
		char *end = strstr(h->buf, "\r\n\r\n");
		if (end == NULL) {
			continue;
		}
		h->body_at = (size_t)(end - h->buf) + 4;
		if (sscanf(h->buf, "HTTP/1.%*d %d", &h->status) != 1) {
			snprintf(err, size, "not an HTTP response");
			return -1;
		}
		for (char *l = strstr(h->buf, "\r\n"); l != NULL && l < end;
		     l = strstr(l + 2, "\r\n")) {
			if (strncasecmp(l + 2, "Content-Length:", 15) == 0) {
				h->length = strtoull(l + 17, NULL, 10);
				h->has_length = true;
			}
		}
		return 0;
	}
	snprintf(err, size, "the response's head is too long");
	return -1;
}

/* Copies the body into `out`. */
static int ctl_read_body(int fd, struct ctl_head *h, int out, char *err, size_t size)
{
	uint64_t got = h->have - h->body_at;
	if (got > h->length) {
		got = h->length;
	}
	if (ctl_write_all(out, h->buf + h->body_at, (size_t)got) != 0) {
		snprintf(err, size, "writing the file: %s", strerror(errno));
		return -1;
	}
	static char piece[256 * 1024];
	while (got < h->length) {
		uint64_t left = h->length - got;
		ssize_t r = read(fd, piece, left < sizeof(piece) ? (size_t)left : sizeof(piece));
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			snprintf(err, size,
			         "the snapshot ended after %" PRIu64 " of %" PRIu64 " bytes: %s",
			         got, h->length, r < 0 ? strerror(errno) : "connection closed");
			return -1;
		}
		if (ctl_write_all(out, piece, (size_t)r) != 0) {
			snprintf(err, size, "writing the file: %s", strerror(errno));
			return -1;
		}
		got += (uint64_t)r;
	}
	return 0;
}

/* One attempt: 0 saved, 1 retry later (503), -1 failed. */
static int ctl_fetch(const char *http, int out, uint32_t timeout_ms, char *err, size_t size)
{
	int fd = ctl_connect(http, timeout_ms, err, size);
	if (fd < 0) {
		return -1;
	}
	char req[512];
	int n =
	    snprintf(req, sizeof(req),
	             "GET /v1/snapshot HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", http);
	static struct ctl_head h;
	int rv = -1;
	if (ctl_write_all(fd, req, (size_t)n) != 0) {
		snprintf(err, size, "%s: sending the request: %s", http, strerror(errno));
	} else if (ctl_read_head(fd, &h, err, size) == 0) {
		if (h.status == 200 && h.has_length) {
			rv = ctl_read_body(fd, &h, out, err, size);
		} else if (h.status == 503) {
			snprintf(err, size, "%s: %.300s", http, h.buf + h.body_at);
			rv = 1;
		} else {
			snprintf(err, size, "%s answered %d: %.300s", http, h.status,
			         h.buf + h.body_at);
		}
	}
	close(fd);
	return rv;
}

/* Fetches into `part` until saved or the deadline; 503s (nothing labelled yet) retried. */
static int ctl_fetch_retrying(const char *http, const char *part, uint32_t timeout_ms)
{
	int out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		fprintf(stderr, "concordctl: snapshot save: %s: %s\n", part, strerror(errno));
		return CTL_FAILED;
	}
	uint64_t deadline = ctl_now_ms() + timeout_ms;
	char err[5120] = "";
	int rv = -1;
	for (uint32_t attempt = 0; attempt < 10000; attempt++) {
		rv = ctl_fetch(http, out, timeout_ms, err, sizeof(err));
		if (rv != 1 || ctl_now_ms() + CTL_RETRY_SLEEP_MS >= deadline) {
			break;
		}
		usleep(CTL_RETRY_SLEEP_MS * 1000u);
		if (ftruncate(out, 0) != 0 || lseek(out, 0, SEEK_SET) != 0) {
			snprintf(err, sizeof(err), "%s: %s", part, strerror(errno));
			rv = -1;
			break;
		}
	}
	if (rv == 0 && fsync(out) != 0) {
		snprintf(err, sizeof(err), "%s: fsync: %s", part, strerror(errno));
		rv = -1;
	}
	if (close(out) != 0 && rv == 0) {
		snprintf(err, sizeof(err), "%s: close: %s", part, strerror(errno));
		rv = -1;
	}
	if (rv != 0) {
		unlink(part);
		fprintf(stderr, "concordctl: snapshot save: %s\n", err);
		return rv == 1 ? CTL_UNAVAILABLE : CTL_FAILED;
	}
	return CTL_OK;
}

static int ctl_snapshot_save(struct ctl *ctl, int argc, char **argv)
{
	const char *file = NULL, *http_opt = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--http") == 0 && i + 1 < argc) {
			http_opt = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			ctl_usage_error("snapshot save: unknown option '%s'", argv[i]);
		} else if (file == NULL) {
			file = argv[i];
		} else {
			ctl_usage_error("snapshot save: too many arguments");
		}
	}
	if (file == NULL) {
		ctl_usage_error("snapshot save: missing FILE");
	}
	char http[300];
	if (http_opt != NULL) {
		snprintf(http, sizeof(http), "%s", http_opt);
	} else {
		char node[300];
		ctl_first_endpoint(ctl->endpoints, node, sizeof(node));
		int rc = ctl_http_of(ctl->c, node, http, sizeof(http));
		if (rc != CTL_OK) {
			return rc;
		}
	}
	char part[4096];
	if ((size_t)snprintf(part, sizeof(part), "%s.part", file) >= sizeof(part)) {
		ctl_usage_error("snapshot save: FILE name too long");
	}
	int ret = ctl_fetch_retrying(http, part, ctl->timeout_ms);
	if (ret != CTL_OK) {
		return ret;
	}
	struct backup_info info;
	char err[BACKUP_ERRMSG_SIZE];
	if (backup_read(part, &info, NULL, err) != 0) {
		unlink(part);
		fprintf(stderr, "concordctl: snapshot save: the snapshot received is damaged: %s\n",
		        err);
		return CTL_FAILED;
	}
	if (rename(part, file) != 0) {
		fprintf(stderr, "concordctl: snapshot save: %s: %s\n", file, strerror(errno));
		unlink(part);
		return CTL_FAILED;
	}
	if (ctl->format != CTL_FORMAT_JSON) {
		printf("snapshot saved at %s (from %s)\n", file, http);
	}
	ctl_info_print(ctl->format, file, &info);
	return CTL_OK;
}

static int ctl_snapshot(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0) {
		ctl_usage_error("snapshot: expected 'save FILE' or 'status FILE'");
	}
	if (strcmp(argv[0], "save") == 0) {
		return ctl_snapshot_save(ctl, argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "status") == 0) {
		return ctl_snapshot_status(ctl, argc - 1, argv + 1);
	}
	ctl_usage_error("snapshot: unknown subcommand '%s' (save, status)", argv[0]);
}

const struct ctl_command ctl_snapshot_commands[] = {
    {"snapshot", ctl_snapshot},
    {NULL, NULL},
};
