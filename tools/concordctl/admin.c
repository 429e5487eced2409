/* admin.c: concordctl's cluster commands: status, members, transfer, step-down, faults. */
#include "ctl.h"

#include "concord/client.h"
#include "codec/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Status and members
 */

/* One row of the table: what the first node said about the member, then what the
 * member says about itself. */
struct ctl_row {
	uint64_t id;
	char name[64];
	char role[16];
	bool voter;
	char peer[128];
	char client[128];
	char http[128];
	bool answered; /* the member itself answered */
	uint64_t term, commit, applied, leader;
	char match[24];
};

#define CTL_ROWS_MAX 64

static void ctl_json_str(const struct json_value *obj, const char *key, char *out, size_t size)
{
	const struct json_value *v = json_object_get(obj, key);
	if (v != NULL && v->type == JSON_STRING) {
		snprintf(out, size, "%.*s", (int)v->len, v->str);
	} else {
		snprintf(out, size, "%s", "");
	}
}

static uint64_t ctl_json_u64(const struct json_value *obj, const char *key, bool *present)
{
	uint64_t x = 0;
	const struct json_value *v = json_object_get(obj, key);
	bool ok = v != NULL && json_value_uint64(v, &x) == 0;
	if (present != NULL) {
		*present = ok;
	}
	return ok ? x : 0;
}

/* Parses one node's status; *doc must be freed by the caller on success. */
static int ctl_status_parse(const char *json, size_t len, struct json_doc **doc,
                            const struct json_value **root)
{
	char err[WIRE_ERRMSG_SIZE];
	struct json_limits lim;
	json_limits_default(&lim);
	if (json_parse(json, len, &lim, doc, err) != 0) {
		fprintf(stderr, "concordctl: status: malformed JSON from the server: %s\n", err);
		return CTL_FAILED;
	}
	*root = json_doc_root(*doc);
	if ((*root)->type != JSON_OBJECT) {
		json_doc_free(*doc);
		fprintf(stderr, "concordctl: status: the server's status is not a JSON object\n");
		return CTL_FAILED;
	}
	return CTL_OK;
}

/* Fills rows from a status document's "nodes". */
static size_t ctl_rows_from(const struct json_value *root, struct ctl_row *rows)
{
	size_t n = 0;
	const struct json_value *nodes = json_object_get(root, "nodes");
	if (nodes == NULL || nodes->type != JSON_ARRAY) {
		return 0;
	}
	for (const struct json_value *m = nodes->child; m != NULL && n < CTL_ROWS_MAX;
	     m = m->next) {
		if (m->type != JSON_OBJECT) {
			continue;
		}
		struct ctl_row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->id = ctl_json_u64(m, "id", NULL);
		ctl_json_str(m, "name", r->name, sizeof(r->name));
		ctl_json_str(m, "role", r->role, sizeof(r->role));
		const struct json_value *voter = json_object_get(m, "voter");
		r->voter = voter != NULL && voter->type == JSON_BOOL && voter->boolean;
		ctl_json_str(m, "peer", r->peer, sizeof(r->peer));
		ctl_json_str(m, "client", r->client, sizeof(r->client));
		ctl_json_str(m, "http", r->http, sizeof(r->http));
		bool have = false;
		uint64_t match = ctl_json_u64(m, "match", &have);
		if (have) {
			snprintf(r->match, sizeof(r->match), "%" PRIu64, match);
		} else {
			snprintf(r->match, sizeof(r->match), "-");
		}
	}
	return n;
}

/* Asks every member for its own view, with a short deadline each. */
static void ctl_rows_probe(const struct ctl *ctl, struct ctl_row *rows, size_t n,
                           uint32_t timeout_ms)
{
	struct concord_client_opts o = ctl->opts;
	o.deadline_ms = timeout_ms < CTL_PROBE_TIMEOUT_MS ? timeout_ms : CTL_PROBE_TIMEOUT_MS;
	o.attempt_timeout_ms = o.deadline_ms;
	o.connect_timeout_ms = o.deadline_ms;
	o.retries_max = 2;
	for (size_t i = 0; i < n; i++) {
		struct ctl_row *r = &rows[i];
		if (r->client[0] == '\0') {
			continue;
		}
		struct concord_client *pc = NULL;
		if (concord_client_new(r->client, &o, &pc, NULL) != CONCORD_OK) {
			continue;
		}
		char *json = NULL;
		size_t len = 0;
		if (concord_client_status(pc, r->client, &json, &len) == CONCORD_OK) {
			struct json_doc *doc = NULL;
			const struct json_value *root = NULL;
			char err[WIRE_ERRMSG_SIZE];
			if (json_parse(json, len, NULL, &doc, err) == 0) {
				root = json_doc_root(doc);
				if (root->type == JSON_OBJECT &&
				    ctl_json_u64(root, "node_id", NULL) == r->id) {
					r->answered = true;
					ctl_json_str(root, "role", r->role, sizeof(r->role));
					r->term = ctl_json_u64(root, "term", NULL);
					r->commit = ctl_json_u64(root, "commit", NULL);
					r->applied = ctl_json_u64(root, "applied", NULL);
					r->leader = ctl_json_u64(root, "leader", NULL);
				}
				json_doc_free(doc);
			}
			free(json);
		}
		concord_client_free(pc);
	}
}

static int ctl_status(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	uint32_t timeout_ms = ctl->timeout_ms;
	bool as_json = ctl->format == CTL_FORMAT_JSON;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			as_json = true;
		} else {
			ctl_usage_error("status: unknown argument '%s'", argv[i]);
		}
	}
	char *json = NULL;
	size_t len = 0;
	int rc = concord_client_status(c, NULL, &json, &len);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "status", rc);
	}
	if (as_json) {
		fwrite(json, 1, len, stdout);
		fputc('\n', stdout);
		free(json);
		return CTL_OK;
	}
	struct json_doc *doc = NULL;
	const struct json_value *root = NULL;
	int ret = ctl_status_parse(json, len, &doc, &root);
	free(json);
	if (ret != CTL_OK) {
		return ret;
	}
	char cluster[128];
	ctl_json_str(root, "cluster_id", cluster, sizeof(cluster));
	uint64_t leader = ctl_json_u64(root, "leader", NULL);
	uint64_t term = ctl_json_u64(root, "term", NULL);
	uint64_t self = ctl_json_u64(root, "node_id", NULL);
	const struct json_value *jv = json_object_get(root, "joint");
	const bool joint = jv != NULL && jv->type == JSON_BOOL && jv->boolean;
	static struct ctl_row rows[CTL_ROWS_MAX];
	size_t n = ctl_rows_from(root, rows);
	json_doc_free(doc);
	ctl_rows_probe(ctl, rows, n, timeout_ms);

	printf("cluster %s: leader %s%" PRIu64 ", term %" PRIu64 "%s (as node %" PRIu64
	       " at %s sees it)\n",
	       cluster[0] != '\0' ? cluster : "?", leader == 0 ? "none " : "", leader, term,
	       joint ? ", joint configuration" : "", self, concord_client_endpoint(c));
	printf("%-4s %-10s %-10s %-7s %6s %9s %9s %9s  %-21s %-21s %s\n", "ID", "NAME", "ROLE",
	       "VOTER", "TERM", "COMMIT", "APPLIED", "MATCH", "CLIENT", "PEER", "HTTP");
	for (size_t i = 0; i < n; i++) {
		const struct ctl_row *r = &rows[i];
		char t[24], cm[24], ap[24];
		if (r->answered) {
			snprintf(t, sizeof(t), "%" PRIu64, r->term);
			snprintf(cm, sizeof(cm), "%" PRIu64, r->commit);
			snprintf(ap, sizeof(ap), "%" PRIu64, r->applied);
		} else {
			snprintf(t, sizeof(t), "-");
			snprintf(cm, sizeof(cm), "-");
			snprintf(ap, sizeof(ap), "-");
		}
		printf("%-4" PRIu64 " %-10s %-10s %-7s %6s %9s %9s %9s  %-21s %-21s %s\n", r->id,
		       r->name, r->answered ? r->role : "down?", r->voter ? "voter" : "learner", t,
		       cm, ap, r->match, r->client, r->peer, r->http);
	}
	return CTL_OK;
}

static int ctl_row_cmp(const void *a, const void *b)
{
	const struct ctl_row *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

static void ctl_members_print(enum ctl_format format, const struct ctl_row *rows, size_t n)
{
	if (format == CTL_FORMAT_JSON) {
		printf("{\"members\": [");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"id\": %" PRIu64 ", \"name\": ", i > 0 ? ", " : "", rows[i].id);
			ctl_print_json_string(rows[i].name);
			printf(", \"voter\": %s, \"peer\": ", rows[i].voter ? "true" : "false");
			ctl_print_json_string(rows[i].peer);
			printf(", \"client\": ");
			ctl_print_json_string(rows[i].client);
			printf(", \"http\": ");
			ctl_print_json_string(rows[i].http);
			fputc('}', stdout);
		}
		printf("]}\n");
		return;
	}
	if (format == CTL_FORMAT_DEFAULT) {
		printf("%-4s %-10s %-7s %-21s %-21s %s\n", "ID", "NAME", "VOTER", "PEER", "CLIENT",
		       "HTTP");
		for (size_t i = 0; i < n; i++) {
			printf("%-4" PRIu64 " %-10s %-7s %-21s %-21s %s\n", rows[i].id,
			       rows[i].name, rows[i].voter ? "voter" : "learner", rows[i].peer,
			       rows[i].client, rows[i].http);
		}
		return;
	}
	static char ids[CTL_ROWS_MAX][24];
	static const char *cells[CTL_ROWS_MAX * 6];
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%" PRIu64, rows[i].id);
		const char *row[6] = {
		    ids[i],       rows[i].name,   rows[i].voter ? "voter" : "learner",
		    rows[i].peer, rows[i].client, rows[i].http};
		memcpy(&cells[i * 6], row, sizeof(row));
	}
	static const char *const headers[] = {"ID", "NAME", "VOTER", "PEER", "CLIENT", "HTTP"};
	ctl_print_rows(format, headers, 6, cells, n);
}

/* The members, sorted by id (etcdctl's order), in the chosen format. */
static int ctl_members_list(struct concord_client *c, enum ctl_format format)
{
	char *json = NULL;
	size_t len = 0;
	int rc = concord_client_status(c, NULL, &json, &len);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "members", rc);
	}
	struct json_doc *doc = NULL;
	const struct json_value *root = NULL;
	int ret = ctl_status_parse(json, len, &doc, &root);
	free(json);
	if (ret != CTL_OK) {
		return ret;
	}
	static struct ctl_row rows[CTL_ROWS_MAX];
	size_t n = ctl_rows_from(root, rows);
	json_doc_free(doc);
	qsort(rows, n, sizeof(rows[0]), ctl_row_cmp);
	ctl_members_print(format, rows, n);
	return CTL_OK;
}

static int ctl_members(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	if (argc == 0) {
		return ctl_members_list(c, ctl->format);
	}
	const char *sub = argv[0];
	int rc;
	if (strcmp(sub, "add") == 0) {
		ctl_need_args("members add", argc - 1, 5, 5);
		uint64_t id = ctl_parse_u64("ID", argv[1], 1, UINT64_MAX);
		rc = concord_client_member_add(c, id, argv[2], argv[3], argv[4], argv[5]);
		if (rc != CONCORD_OK) {
			return ctl_fail(c, "members add", rc);
		}
		printf("added %" PRIu64 " (%s) as a learner\n", id, argv[2]);
	} else if (strcmp(sub, "promote") == 0) {
		ctl_need_args("members promote", argc - 1, 1, 1);
		uint64_t id = ctl_parse_u64("ID", argv[1], 1, UINT64_MAX);
		rc = concord_client_member_promote(c, id);
		if (rc != CONCORD_OK) {
			return ctl_fail(c, "members promote", rc);
		}
		printf("promoted %" PRIu64 "\n", id);
	} else if (strcmp(sub, "remove") == 0) {
		ctl_need_args("members remove", argc - 1, 1, 1);
		uint64_t id = ctl_parse_u64("ID", argv[1], 1, UINT64_MAX);
		rc = concord_client_member_remove(c, id);
		if (rc != CONCORD_OK) {
			return ctl_fail(c, "members remove", rc);
		}
		printf("removed %" PRIu64 "\n", id);
	} else {
		ctl_usage_error("members: unknown subcommand '%s' (add, promote, remove)", sub);
	}
	return CTL_OK;
}

/* CONCORD.TRANSFER directly, for its reply's text: "+OK already the leader" when the
 * target leads already (success: nothing to do). */
static int ctl_transfer(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	ctl_need_args("transfer", argc, 1, 1);
	uint64_t id = ctl_parse_u64("ID", argv[0], 1, UINT64_MAX);
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRIu64, id);
	const char *args[] = {"CONCORD.TRANSFER", ids};
	struct concord_reply r;
	memset(&r, 0, sizeof(r));
	int rc = concord_client_command(c, args, NULL, 2, &r);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "transfer", rc);
	}
	int ret = CTL_OK;
	if (r.type == CONCORD_REPLY_STATUS && strstr(r.str, "already the leader") != NULL) {
		printf("%" PRIu64 " is already the leader; nothing to transfer\n", id);
	} else if (r.type == CONCORD_REPLY_STATUS) {
		printf("leadership transfer to %" PRIu64 " started\n", id);
	} else {
		fprintf(stderr, "concordctl: transfer: %s\n",
		        r.type == CONCORD_REPLY_ERROR ? r.str : "unexpected reply");
		ret = CTL_FAILED;
	}
	concord_reply_free(&r);
	return ret;
}

static int ctl_step_down(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	(void)argv;
	ctl_need_args("step-down", argc, 0, 0);
	int rc = concord_client_step_down(c);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "step-down", rc);
	}
	printf("the leader stepped down\n");
	return CTL_OK;
}

/* ----------------------------------------------------------------------------------
 * Faults: on every node of the endpoint list.
 */

/* The options of `faults set PEER ...` (argv[2..]) into *f. */
static void ctl_faults_parse(int argc, char **argv, bool set, struct concord_fault *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!set) {
			ctl_usage_error("faults clear: unexpected argument '%s'", o);
		}
		if (strcmp(o, "--block-out") == 0) {
			f->block_out = true;
			continue;
		}
		if (strcmp(o, "--block-in") == 0) {
			f->block_in = true;
			continue;
		}
		if (v == NULL) {
			ctl_usage_error("faults set: %s needs a value", o);
		}
		i++;
		if (strcmp(o, "--drop") == 0) {
			f->drop = ctl_parse_prob(o, v);
		} else if (strcmp(o, "--dup") == 0) {
			f->dup = ctl_parse_prob(o, v);
		} else if (strcmp(o, "--delay-req") == 0) {
			f->delay_req_ms = (uint32_t)ctl_parse_u64(o, v, 0, 600000);
		} else if (strcmp(o, "--delay-resp") == 0) {
			f->delay_resp_ms = (uint32_t)ctl_parse_u64(o, v, 0, 600000);
		} else if (strcmp(o, "--delay-req-p") == 0) {
			f->delay_req_p = ctl_parse_prob(o, v);
		} else if (strcmp(o, "--delay-resp-p") == 0) {
			f->delay_resp_p = ctl_parse_prob(o, v);
		} else if (strcmp(o, "--jitter") == 0) {
			f->jitter_ms = (uint32_t)ctl_parse_u64(o, v, 0, 600000);
		} else {
			ctl_usage_error("faults set: unknown option '%s'", o);
		}
	}
}

static int ctl_faults(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	const char *endpoints = ctl->endpoints;
	if (argc < 2) {
		ctl_usage_error("faults: expected 'set PEER|* [options]' or 'clear PEER|*'");
	}
	const bool set = strcmp(argv[0], "set") == 0;
	if (!set && strcmp(argv[0], "clear") != 0) {
		ctl_usage_error("faults: unknown subcommand '%s' (set, clear)", argv[0]);
	}
	uint64_t peer = ctl_parse_peer(argv[1]);
	struct concord_fault f;
	ctl_faults_parse(argc, argv, set, &f);
	/* Every listed node in turn: faults live on each node's own links. */
	int worst = CTL_OK;
	const char *p = endpoints;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		char node[300];
		if (len > 0 && len < sizeof(node)) {
			memcpy(node, p, len);
			node[len] = '\0';
			int rc = set ? concord_client_fault_set(c, node, peer, &f)
			             : concord_client_fault_clear(c, node, peer);
			if (rc != CONCORD_OK) {
				char what[340];
				snprintf(what, sizeof(what), "faults %s on %s", argv[0], node);
				int code = ctl_fail(c, what, rc);
				if (code > worst) {
					worst = code;
				}
			} else {
				printf("%s: faults %s on the link%s to %s\n", node,
				       set ? "set" : "cleared", peer == CONCORD_PEER_ALL ? "s" : "",
				       argv[1]);
			}
		}
		if (comma == NULL) {
			break;
		}
		p = comma + 1;
	}
	return worst;
}

const struct ctl_command ctl_admin_commands[] = {
    {"status", ctl_status},       {"members", ctl_members}, {"transfer", ctl_transfer},
    {"step-down", ctl_step_down}, {"faults", ctl_faults},   {NULL, NULL},
};
