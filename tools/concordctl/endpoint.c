/* endpoint.c: concordctl endpoint health, endpoint status, version and compaction, over every
 * endpoint. */
#include "ctl.h"

#include "codec/json.h"
#include "concord/client.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CTL_VERSION       "0.1.0"
#define CTL_ENDPOINTS_MAX 64

/* What one endpoint said about itself (CONCORD.STATUS), or why it did not. */
struct ctl_probe {
	char endpoint[300];
	bool answered;
	double took_ms;
	char error[300];
	uint64_t id, leader, term, commit, applied, last_index, kv_bytes, data_dir_bytes;
	char role[16];
	char version[32];
	bool learner;
};

static double ctl_since_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static uint64_t ctl_u64(const struct json_value *o, const char *k)
{
	uint64_t x = 0;
	const struct json_value *v = json_object_get(o, k);
	if (v != NULL && json_value_uint64(v, &x) != 0) {
		x = 0;
	}
	return x;
}

static void ctl_str(const struct json_value *o, const char *k, char *out, size_t size)
{
	const struct json_value *v = json_object_get(o, k);
	if (v != NULL && v->type == JSON_STRING) {
		snprintf(out, size, "%.*s", (int)v->len, v->str);
	} else {
		out[0] = '\0';
	}
}

/* Whether the node lists itself as a learner (a member entry with "self" and not voter). */
static bool ctl_self_learner(const struct json_value *root, uint64_t id)
{
	const struct json_value *nodes = json_object_get(root, "nodes");
	if (nodes == NULL || nodes->type != JSON_ARRAY) {
		return false;
	}
	for (const struct json_value *m = nodes->child; m != NULL; m = m->next) {
		const struct json_value *voter = json_object_get(m, "voter");
		if (ctl_u64(m, "id") == id && voter != NULL && voter->type == JSON_BOOL) {
			return !voter->boolean;
		}
	}
	return false;
}

static void ctl_probe_parse(struct ctl_probe *p, const char *json, size_t len)
{
	struct json_doc *doc = NULL;
	char err[WIRE_ERRMSG_SIZE];
	if (json_parse(json, len, NULL, &doc, err) != 0) {
		snprintf(p->error, sizeof(p->error), "malformed status: %s", err);
		return;
	}
	const struct json_value *root = json_doc_root(doc);
	p->answered = root->type == JSON_OBJECT;
	p->id = ctl_u64(root, "node_id");
	p->leader = ctl_u64(root, "leader");
	p->term = ctl_u64(root, "term");
	p->commit = ctl_u64(root, "commit");
	p->applied = ctl_u64(root, "applied");
	p->last_index = ctl_u64(root, "last_index");
	p->kv_bytes = ctl_u64(root, "kv_bytes");
	p->data_dir_bytes = ctl_u64(root, "data_dir_bytes");
	ctl_str(root, "role", p->role, sizeof(p->role));
	ctl_str(root, "version", p->version, sizeof(p->version));
	p->learner = ctl_self_learner(root, p->id);
	json_doc_free(doc);
}

/* Asks one endpoint for its own status, within the command's timeout. */
static void ctl_probe_one(const struct ctl *ctl, struct ctl_probe *p, uint32_t timeout_ms)
{
	struct concord_client_opts o = ctl->opts;
	o.deadline_ms = timeout_ms;
	o.attempt_timeout_ms = timeout_ms;
	o.connect_timeout_ms = timeout_ms;
	o.retries_max = 1;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct concord_client *c = NULL;
	char err[CONCORD_CLIENT_ERRMSG_SIZE] = "";
	if (concord_client_new(p->endpoint, &o, &c, err) != CONCORD_OK) {
		snprintf(p->error, sizeof(p->error), "%s", err);
		return;
	}
	char *json = NULL;
	size_t len = 0;
	int rc = concord_client_status(c, p->endpoint, &json, &len);
	p->took_ms = ctl_since_ms(&t0);
	if (rc == CONCORD_OK) {
		ctl_probe_parse(p, json, len);
		free(json);
	} else {
		snprintf(p->error, sizeof(p->error), "%s: %s", concord_strerror(rc),
		         concord_client_errmsg(c));
	}
	concord_client_free(c);
}

/* Every endpoint of the list, probed in turn; returns how many. */
static size_t ctl_probe_all(const struct ctl *ctl, struct ctl_probe *probes)
{
	size_t n = 0;
	const char *p = ctl->endpoints;
	while (*p != '\0' && n < CTL_ENDPOINTS_MAX) {
		size_t len = strcspn(p, ",");
		if (len > 0 && len < sizeof(probes[n].endpoint)) {
			memset(&probes[n], 0, sizeof(probes[n]));
			memcpy(probes[n].endpoint, p, len);
			ctl_probe_one(ctl, &probes[n],
			              ctl->timeout_ms < 5000 ? ctl->timeout_ms : 5000);
			n++;
		}
		p += len;
		if (*p == ',') {
			p++;
		}
	}
	return n;
}

/* Healthy: it answered, knows a leader and is not a removed member. */
static bool ctl_healthy(const struct ctl_probe *p)
{
	return p->answered && p->leader != 0;
}

static int ctl_endpoint_health(struct ctl *ctl, const struct ctl_probe *probes, size_t n)
{
	int ret = CTL_OK;
	if (ctl->format == CTL_FORMAT_JSON) {
		fputc('[', stdout);
	}
	static char cells[CTL_ENDPOINTS_MAX][4][320];
	const char *ptrs[CTL_ENDPOINTS_MAX * 4];
	for (size_t i = 0; i < n; i++) {
		const struct ctl_probe *p = &probes[i];
		bool ok = ctl_healthy(p);
		const char *why = p->error[0] != '\0' ? p->error : !ok ? "no leader known" : "";
		if (!ok) {
			ret = CTL_FAILED;
		}
		if (ctl->format == CTL_FORMAT_JSON) {
			printf("%s{\"endpoint\": ", i > 0 ? ", " : "");
			ctl_print_json_string(p->endpoint);
			printf(", \"health\": %s, \"took_ms\": %.3f, \"error\": ",
			       ok ? "true" : "false", p->took_ms);
			ctl_print_json_string(why);
			fputc('}', stdout);
			continue;
		}
		snprintf(cells[i][0], sizeof(cells[i][0]), "%.300s", p->endpoint);
		snprintf(cells[i][1], sizeof(cells[i][1]), "%s", ok ? "true" : "false");
		snprintf(cells[i][2], sizeof(cells[i][2]), "%.3fms", p->took_ms);
		snprintf(cells[i][3], sizeof(cells[i][3]), "%.300s", why);
		for (size_t j = 0; j < 4; j++) {
			ptrs[i * 4 + j] = cells[i][j];
		}
	}
	if (ctl->format == CTL_FORMAT_JSON) {
		fputs("]\n", stdout);
	} else {
		static const char *const headers[] = {"ENDPOINT", "HEALTH", "TOOK", "ERROR"};
		ctl_print_rows(ctl->format, headers, 4, ptrs, n);
	}
	return ret;
}

static void ctl_human(char *out, size_t size, uint64_t b)
{
	if (b >= (uint64_t)1 << 30) {
		snprintf(out, size, "%.1f GB", (double)b / (double)(1u << 30));
	} else if (b >= (uint64_t)1 << 20) {
		snprintf(out, size, "%.1f MB", (double)b / (double)(1u << 20));
	} else if (b >= 1024) {
		snprintf(out, size, "%.1f kB", (double)b / 1024.0);
	} else {
		snprintf(out, size, "%" PRIu64 " B", b);
	}
}

static void ctl_status_json(const struct ctl_probe *p, bool first)
{
	printf("%s{\"endpoint\": ", first ? "" : ", ");
	ctl_print_json_string(p->endpoint);
	printf(", \"id\": %" PRIu64 ", \"version\": ", p->id);
	ctl_print_json_string(p->version);
	printf(", \"kv_bytes\": %" PRIu64 ", \"data_dir_bytes\": %" PRIu64 ", \"leader\": %" PRIu64
	       ", \"is_leader\": %s, \"is_learner\": %s"
	       ", \"raft_term\": %" PRIu64 ", \"raft_index\": %" PRIu64
	       ", \"raft_commit_index\": %" PRIu64 ", \"raft_applied_index\": %" PRIu64
	       ", \"error\": ",
	       p->kv_bytes, p->data_dir_bytes, p->leader,
	       p->answered && p->leader == p->id ? "true" : "false", p->learner ? "true" : "false",
	       p->term, p->last_index, p->commit, p->applied);
	ctl_print_json_string(p->error);
	fputc('}', stdout);
}

#define CTL_STATUS_COLS 11

static int ctl_endpoint_status(struct ctl *ctl, const struct ctl_probe *probes, size_t n)
{
	int ret = CTL_OK;
	if (ctl->format == CTL_FORMAT_JSON) {
		fputc('[', stdout);
		for (size_t i = 0; i < n; i++) {
			ctl_status_json(&probes[i], i == 0);
			ret = probes[i].answered ? ret : CTL_FAILED;
		}
		fputs("]\n", stdout);
		return ret;
	}
	static char cells[CTL_ENDPOINTS_MAX][CTL_STATUS_COLS][320];
	const char *ptrs[CTL_ENDPOINTS_MAX * CTL_STATUS_COLS];
	for (size_t i = 0; i < n; i++) {
		const struct ctl_probe *p = &probes[i];
		char(*c)[320] = cells[i];
		snprintf(c[0], 320, "%.300s", p->endpoint);
		if (!p->answered) {
			ret = CTL_FAILED;
			for (size_t j = 1; j < CTL_STATUS_COLS - 1; j++) {
				snprintf(c[j], 320, "-");
			}
		} else {
			snprintf(c[1], 320, "%" PRIu64, p->id);
			snprintf(c[2], 320, "%s", p->version);
			ctl_human(c[3], 320, p->kv_bytes);
			ctl_human(c[4], 320, p->data_dir_bytes);
			snprintf(c[5], 320, "%s", p->leader == p->id ? "true" : "false");
			snprintf(c[6], 320, "%s", p->learner ? "true" : "false");
			snprintf(c[7], 320, "%" PRIu64, p->term);
			snprintf(c[8], 320, "%" PRIu64, p->last_index);
			snprintf(c[9], 320, "%" PRIu64, p->applied);
		}
		snprintf(c[10], 320, "%.300s", p->error);
		for (size_t j = 0; j < CTL_STATUS_COLS; j++) {
			ptrs[i * CTL_STATUS_COLS + j] = c[j];
		}
	}
	static const char *const headers[CTL_STATUS_COLS] = {
	    "ENDPOINT",  "ID",         "VERSION",   "DB SIZE",    "DATA DIR",
	    "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX",
	    "ERRORS"};
	ctl_print_rows(ctl->format, headers, CTL_STATUS_COLS, ptrs, n);
	return ret;
}

static int ctl_endpoint(struct ctl *ctl, int argc, char **argv)
{
	ctl_need_args("endpoint", argc, 1, 1);
	bool health = strcmp(argv[0], "health") == 0;
	if (!health && strcmp(argv[0], "status") != 0) {
		ctl_usage_error("endpoint: unknown subcommand '%s' (health, status)", argv[0]);
	}
	static struct ctl_probe probes[CTL_ENDPOINTS_MAX];
	size_t n = ctl_probe_all(ctl, probes);
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		any = any || probes[i].answered;
	}
	int ret =
	    health ? ctl_endpoint_health(ctl, probes, n) : ctl_endpoint_status(ctl, probes, n);
	return any ? ret : CTL_UNAVAILABLE;
}

static int ctl_version(struct ctl *ctl, int argc, char **argv)
{
	(void)argv;
	ctl_need_args("version", argc, 0, 0);
	static struct ctl_probe probes[CTL_ENDPOINTS_MAX];
	size_t n = ctl_probe_all(ctl, probes);
	const struct ctl_probe *p = NULL;
	for (size_t i = 0; i < n && p == NULL; i++) {
		p = probes[i].answered ? &probes[i] : NULL;
	}
	if (ctl->format == CTL_FORMAT_JSON) {
		printf("{\"concordctl\": \"" CTL_VERSION "\", \"server\": ");
		ctl_print_json_string(p != NULL ? p->version : "");
		printf(", \"endpoint\": ");
		ctl_print_json_string(p != NULL ? p->endpoint : "");
		printf("}\n");
	} else {
		printf("concordctl version: " CTL_VERSION "\n");
		if (p != NULL) {
			printf("server version: %s (node %" PRIu64 " at %s)\n", p->version, p->id,
			       p->endpoint);
		}
	}
	if (p == NULL) {
		fprintf(stderr, "concordctl: version: no endpoint answered\n");
		return CTL_UNAVAILABLE;
	}
	return CTL_OK;
}

static int ctl_compaction(struct ctl *ctl, int argc, char **argv)
{
	ctl_need_args("compaction", argc, 1, 1);
	uint64_t rev = ctl_parse_u64("REV", argv[0], 1, UINT64_MAX);
	const char *args[] = {"CONCORD.COMPACT", argv[0]};
	struct concord_reply r;
	memset(&r, 0, sizeof(r));
	int rc = concord_client_command(ctl->c, args, NULL, 2, &r);
	if (rc != CONCORD_OK) {
		return ctl_fail(ctl->c, "compaction", rc);
	}
	int ret = CTL_OK;
	if (r.type == CONCORD_REPLY_STATUS) {
		printf("compacted revision %" PRIu64 "\n", rev);
	} else {
		fprintf(stderr, "concordctl: compaction: %s\n",
		        r.type == CONCORD_REPLY_ERROR ? r.str : "unexpected reply");
		ret = CTL_FAILED;
	}
	concord_reply_free(&r);
	return ret;
}

const struct ctl_command ctl_endpoint_commands[] = {
    {"endpoint", ctl_endpoint},
    {"version", ctl_version},
    {"compaction", ctl_compaction},
    {NULL, NULL},
};
