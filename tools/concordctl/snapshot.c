/* snapshot.c: concordctl snapshot save (a backup streamed over HTTP) and snapshot status. */
#include "ctl.h"

#include "backup/backup.h"
#include "codec/json.h"
#include "concord/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
 * Finding the node to read: the leader, unless --from-endpoint
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

/* The "http" address member `want` has in the status's node list. */
static bool ctl_member_http(const struct json_value *root, uint64_t want, char *out, size_t size)
{
	const struct json_value *nodes = json_object_get(root, "nodes");
	if (nodes == NULL || nodes->type != JSON_ARRAY) {
		return false;
	}
	for (const struct json_value *m = nodes->child; m != NULL; m = m->next) {
		uint64_t mid = 0;
		const struct json_value *v = json_object_get(m, "id");
		const struct json_value *h = json_object_get(m, "http");
		if (v != NULL && json_value_uint64(v, &mid) == 0 && mid == want && h != NULL &&
		    h->type == JSON_STRING && h->len > 0 && h->len < size) {
			memcpy(out, h->str, h->len);
			out[h->len] = '\0';
			return true;
		}
	}
	return false;
}

/* The HTTP address to read the backup from: the leader's as the node at client address
 * `node` knows it, or with `self` (or no leader known) that node's own. */
static int ctl_http_of(struct concord_client *c, const char *node, bool self, char *out,
                       size_t size)
{
	char *json = NULL;
	size_t len = 0;
	int rc = concord_client_status(c, node, &json, &len);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "snapshot save: asking the node for the members' HTTP addresses",
		                rc);
	}
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	int ret = CTL_FAILED;
	out[0] = '\0';
	uint64_t id = 0, leader = 0;
	if (json_parse(json, len, NULL, &doc, err) == 0) {
		const struct json_value *root = json_doc_root(doc);
		const struct json_value *v = json_object_get(root, "node_id");
		const struct json_value *l = json_object_get(root, "leader");
		if (v != NULL && json_value_uint64(v, &id) == 0) {
			if (!self && l != NULL && json_value_uint64(l, &leader) == 0 &&
			    leader != 0 && ctl_member_http(root, leader, out, size)) {
				ret = CTL_OK;
			} else if (ctl_member_http(root, id, out, size)) {
				if (!self) {
					fprintf(
					    stderr,
					    "concordctl: snapshot save: %s knows no leader's HTTP "
					    "address; reading its own state\n",
					    node);
				}
				ret = CTL_OK;
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

/* Fetches into `part` until saved or the deadline; 503s (nothing labelled yet) retried. */
static int ctl_fetch_retrying(struct ctl *ctl, const char *http, const char *part)
{
	int out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		fprintf(stderr, "concordctl: snapshot save: %s: %s\n", part, strerror(errno));
		return CTL_FAILED;
	}
	uint64_t deadline = ctl_now_ms() + ctl->timeout_ms;
	char err[5120] = "";
	int rc = CONCORD_EUNAVAILABLE;
	for (uint32_t attempt = 0; attempt < 10000; attempt++) {
		int status = 0;
		uint64_t bytes = 0;
		rc = concord_client_http_get(ctl->c, http, "/v1/snapshot", out, &status, &bytes);
		snprintf(err, sizeof(err), "%s", concord_client_errmsg(ctl->c));
		if (!(rc == CONCORD_ESERVER && status == 503) ||
		    ctl_now_ms() + CTL_RETRY_SLEEP_MS >= deadline) {
			break;
		}
		usleep(CTL_RETRY_SLEEP_MS * 1000u);
		if (ftruncate(out, 0) != 0 || lseek(out, 0, SEEK_SET) != 0) {
			snprintf(err, sizeof(err), "%s: %s", part, strerror(errno));
			rc = CONCORD_EINVAL;
			break;
		}
	}
	if (rc == CONCORD_OK && fsync(out) != 0) {
		snprintf(err, sizeof(err), "%s: fsync: %s", part, strerror(errno));
		rc = CONCORD_EINVAL;
	}
	if (close(out) != 0 && rc == CONCORD_OK) {
		snprintf(err, sizeof(err), "%s: close: %s", part, strerror(errno));
		rc = CONCORD_EINVAL;
	}
	if (rc != CONCORD_OK) {
		unlink(part);
		fprintf(stderr, "concordctl: snapshot save: %s\n", err);
		return rc == CONCORD_EUNAVAILABLE ? CTL_UNAVAILABLE : CTL_FAILED;
	}
	return CTL_OK;
}

static int ctl_snapshot_save(struct ctl *ctl, int argc, char **argv)
{
	const char *file = NULL, *http_opt = NULL;
	bool self = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--http") == 0 && i + 1 < argc) {
			http_opt = argv[++i];
		} else if (strcmp(argv[i], "--from-endpoint") == 0) {
			self = true;
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
		int rc = ctl_http_of(ctl->c, node, self, http, sizeof(http));
		if (rc != CTL_OK) {
			return rc;
		}
	}
	char part[4096];
	if ((size_t)snprintf(part, sizeof(part), "%s.part", file) >= sizeof(part)) {
		ctl_usage_error("snapshot save: FILE name too long");
	}
	int ret = ctl_fetch_retrying(ctl, http, part);
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
