/* main.c: concordctl, the command line of a Concord cluster, on top of the client library. */
#include "ctl.h"

#include "concord/client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The handle, reachable from here when a usage error exits from deep inside a command. */
static struct concord_client *ctl_client;

#define CTL_DEFAULT_ENDPOINTS "127.0.0.1:6379"
#define CTL_TIMEOUT_MS_MAX    3600000u

static const char ctl_usage_text[] =
    "Usage: concordctl [--endpoints H:P,H:P...] [--timeout-ms N] [--user NAME[:PASSWORD]]\n"
    "                  COMMAND [ARGS]\n"
    "\n"
    "Talks to a Concord cluster through the client ports (RESP) of its nodes: finds the\n"
    "leader, retries, and writes exactly once (a client session).\n"
    "\n"
    "Options:\n"
    "  -e, --endpoints LIST   comma-separated client addresses host:port (default: the\n"
    "                         CONCORD_ENDPOINTS environment variable, else " CTL_DEFAULT_ENDPOINTS
    ")\n"
    "  -t, --timeout-ms N     give up on a command after N ms, retries included\n"
    "                         (default 10000)\n"
    "  -u, --user NAME[:PASSWORD]\n"
    "                         authenticate as NAME (AUTH on every connection); without\n"
    "                         :PASSWORD it comes from CONCORD_PASSWORD\n"
    "  -w, --write-out FMT    table, simple or json: how status, members, endpoint,\n"
    "                         version and snapshot status print (default table); json\n"
    "                         also for watch\n"
    "  --cacert FILE          TLS: the servers' certificates must chain to this CA bundle\n"
    "                         (PEM) and name the endpoint's host\n"
    "  --cert FILE            TLS: a client certificate (PEM), for --client-cert-auth\n"
    "  --key FILE             TLS: its key (PEM); any of the three turns TLS on\n"
    "  -h, --help             this text\n"
    "\n"
    "Commands:\n"
    "  put KEY VALUE          set KEY to VALUE\n"
    "  get KEY                print KEY's value (exit 1 if absent)\n"
    "  del KEY                delete KEY (exit 1 if absent)\n"
    "  get KEY [END] [--prefix|--from-key] [--rev N] [--limit N] [--keys-only]\n"
    "      [--count-only]     a range, as etcdctl: key and value lines; [KEY, END)\n"
    "  del KEY [END] [--prefix|--from-key] [--prev-kv]\n"
    "                         delete a range at one revision; prints how many\n"
    "  txn                    etcdctl's transaction from stdin: compares, a blank line,\n"
    "                         success requests, a blank line, failure requests\n"
    "  watch KEY [END] [--prefix] [--rev N] [--prev-kv] [--count N]\n"
    "                         stream the changes of KEY, [KEY, END) or every key starting\n"
    "                         with KEY, as etcdctl: per event a PUT or DELETE line, then\n"
    "                         (--prev-kv) the key and its previous value, then the key and\n"
    "                         its value; -w json: one JSON object per event. --rev N\n"
    "                         replays from revision N; --count N exits after N events.\n"
    "                         Served by the endpoint's own node; canceled or compacted:\n"
    "                         exit 1. Ctrl-C or SIGTERM ends it (exit 0)\n"
    "  scan [PREFIX] [--keys-only]\n"
    "                         print every key starting with PREFIX and its value, one\n"
    "                         'key<TAB>value' line each, in key order\n"
    "  incr KEY [DELTA]       add DELTA (default 1) to KEY's integer value; print it\n"
    "  cas KEY EXPECTED NEW   set KEY to NEW if its value is EXPECTED (exit 1 if not)\n"
    "  lease grant TTL-MS [ID] | keepalive ID | revoke ID | ttl ID | keys ID | list\n"
    "                         leases: grant prints the id, keepalive the TTL, revoke the\n"
    "                         keys deleted, ttl the milliseconds left (exit 1 if none)\n"
    "  status [--json]        the cluster table: every member with its role, term, commit\n"
    "                         and applied index as it reports them itself; --json prints\n"
    "                         one node's raw view (GET /v1/cluster)\n"
    "  members                list the members\n"
    "  members add ID NAME PEER CLIENT HTTP\n"
    "                         add a node as a learner (addresses are host:port)\n"
    "  members promote ID     make a learner a voter\n"
    "  members remove ID      remove a member\n"
    "  transfer ID            hand leadership to member ID\n"
    "  step-down              make the leader step down (an election follows)\n"
    "  faults set PEER|* [--drop P] [--delay-req MS] [--delay-req-p P] [--delay-resp MS]\n"
    "             [--delay-resp-p P] [--dup P] [--jitter MS] [--block-out] [--block-in]\n"
    "                         inject faults on the links to member PEER (or all links) of\n"
    "                         every node in --endpoints; replaces earlier faults. P is a\n"
    "                         probability in [0, 1]; a delay applies to every message\n"
    "                         unless --delay-*-p says how many\n"
    "  faults clear PEER|*    remove them\n"
    "  user add NAME PASSWORD [ROLE...] | delete NAME | passwd NAME PASSWORD | list |\n"
    "       get NAME | grant-role NAME ROLE | revoke-role NAME ROLE\n"
    "                         users (the root role runs these once auth is on)\n"
    "  role add NAME | delete NAME | list | get NAME |\n"
    "       grant-permission NAME read|readwrite PREFIX | revoke-permission NAME PREFIX\n"
    "                         roles: read or read-write on keys starting with PREFIX\n"
    "  auth enable|disable|status\n"
    "                         switch auth on for the whole cluster (needs a user root\n"
    "                         with the root role) or off\n"
    "  snapshot save FILE [--from-endpoint] [--http HOST:PORT]\n"
    "                         stream a consistent snapshot (backup) of the leader (with\n"
    "                         --from-endpoint: of the first endpoint's node) into FILE\n"
    "                         (GET /v1/snapshot on its HTTP address, found in the status\n"
    "                         unless --http; TLS and --user as given), check it, then\n"
    "                         rename it there\n"
    "  endpoint health        for every endpoint: does it answer and know a leader, in how\n"
    "                         long (exit 1 if any is unhealthy)\n"
    "  endpoint status        for every endpoint: id, version, store and data directory\n"
    "                         sizes, leader or learner, term, raft index, applied index\n"
    "  version                concordctl's version and the first answering server's\n"
    "  compaction REV         drop the history older than revision REV on every node\n"
    "  snapshot status FILE   check a snapshot file and print its index, term, revision,\n"
    "                         keys, size and checksum (exit 1 if it is damaged)\n"
    "\n"
    "Exit status: 0 success, 1 not found or failed, 2 usage error, 3 cluster unavailable.\n";

_Noreturn void ctl_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "concordctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'concordctl --help'.\n");
	va_end(ap);
	exit(CTL_USAGE);
}

int ctl_fail(struct concord_client *c, const char *what, int rc)
{
	const char *msg = c != NULL ? concord_client_errmsg(c) : "";
	fprintf(stderr, "concordctl: %s: %s%s%s\n", what, concord_strerror(rc),
	        msg[0] != '\0' ? ": " : "", msg);
	switch (rc) {
	case CONCORD_EUNAVAILABLE:
		return CTL_UNAVAILABLE;
	case CONCORD_EINVAL:
		return CTL_USAGE;
	default:
		return CTL_FAILED;
	}
}

uint64_t ctl_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max)
{
	char *end = NULL;
	errno = 0;
	if (s[0] < '0' || s[0] > '9') {
		ctl_usage_error("%s: '%s' is not a number", what, s);
	}
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		ctl_usage_error("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64, what, s, min,
		                max);
	}
	return (uint64_t)v;
}

double ctl_parse_prob(const char *what, const char *s)
{
	char *end = NULL;
	errno = 0;
	double d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(d >= 0.0 && d <= 1.0)) {
		ctl_usage_error("%s: '%s' is not a probability in [0, 1]", what, s);
	}
	return d;
}

uint64_t ctl_parse_peer(const char *s)
{
	if (strcmp(s, "*") == 0) {
		return CONCORD_PEER_ALL;
	}
	return ctl_parse_u64("PEER", s, 1, UINT64_MAX);
}

void ctl_need_args(const char *cmd, int have, int want_min, int want_max)
{
	if (have < want_min) {
		ctl_usage_error("%s: missing arguments", cmd);
	}
	if (have > want_max) {
		ctl_usage_error("%s: too many arguments", cmd);
	}
}

static enum ctl_format ctl_parse_format(const char *s)
{
	if (strcmp(s, "table") == 0) {
		return CTL_FORMAT_TABLE;
	}
	if (strcmp(s, "simple") == 0) {
		return CTL_FORMAT_SIMPLE;
	}
	if (strcmp(s, "json") == 0) {
		return CTL_FORMAT_JSON;
	}
	ctl_usage_error("--write-out: expected table, simple or json, got '%s'", s);
}

/* ----------------------------------------------------------------------------------
 * main
 */

/* --user NAME[:PASSWORD] (else CONCORD_PASSWORD) into the client's options. */
static void ctl_credentials(const char *user, char *name, size_t cap, struct concord_client_opts *o)
{
	if (user == NULL) {
		return;
	}
	const char *colon = strchr(user, ':');
	size_t n = colon != NULL ? (size_t)(colon - user) : strlen(user);
	if (n == 0 || n >= cap) {
		ctl_usage_error("--user: expected NAME[:PASSWORD] with a name of 1 to 64 bytes");
	}
	memcpy(name, user, n);
	name[n] = '\0';
	o->user = name;
	o->password = colon != NULL ? colon + 1 : getenv("CONCORD_PASSWORD");
	if (o->password == NULL) {
		ctl_usage_error(
		    "--user %s: no password (give NAME:PASSWORD or set CONCORD_PASSWORD)", name);
	}
}

static const struct ctl_command *ctl_find(const char *name)
{
	static const struct ctl_command *const tables[] = {
	    ctl_kv_commands,       ctl_admin_commands, ctl_lease_commands, ctl_snapshot_commands,
	    ctl_endpoint_commands, ctl_auth_commands,  ctl_txn_commands,   ctl_watch_commands};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		for (const struct ctl_command *k = tables[i]; k->name != NULL; k++) {
			if (strcmp(k->name, name) == 0) {
				return k;
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *endpoints = getenv("CONCORD_ENDPOINTS");
	if (endpoints == NULL || endpoints[0] == '\0') {
		endpoints = CTL_DEFAULT_ENDPOINTS;
	}
	uint32_t timeout_ms = CONCORD_CLIENT_DEFAULT_DEADLINE_MS;
	const char *user = NULL;
	enum ctl_format format = CTL_FORMAT_DEFAULT;
	const char *cacert = NULL, *cert = NULL, *key = NULL;
	static const struct option longopts[] = {
	    {"endpoints", required_argument, NULL, 'e'},
	    {"cacert", required_argument, NULL, 'C'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"user", required_argument, NULL, 'u'},
	    {"write-out", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;
	/* '+': options stop at the command, whose own options follow it. */
	while ((opt = getopt_long(argc, argv, "+e:t:u:w:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			endpoints = optarg;
			break;
		case 't':
			timeout_ms =
			    (uint32_t)ctl_parse_u64("--timeout-ms", optarg, 1, CTL_TIMEOUT_MS_MAX);
			break;
		case 'u':
			user = optarg;
			break;
		case 'w':
			format = ctl_parse_format(optarg);
			break;
		case 'h':
			fputs(ctl_usage_text, stdout);
			return CTL_OK;
		case 'C':
			cacert = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		default:
			fprintf(stderr, "Try 'concordctl --help'.\n");
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_usage_error("no command given");
	}
	const char *cmd = argv[optind];
	int cargc = argc - optind - 1;
	char **cargv = argv + optind + 1;
	if (strcmp(cmd, "help") == 0) {
		fputs(ctl_usage_text, stdout);
		return CTL_OK;
	}

	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.deadline_ms = timeout_ms;
	o.attempt_timeout_ms = timeout_ms < CONCORD_CLIENT_DEFAULT_ATTEMPT_TIMEOUT_MS
	                           ? timeout_ms
	                           : CONCORD_CLIENT_DEFAULT_ATTEMPT_TIMEOUT_MS;
	o.connect_timeout_ms = timeout_ms < CONCORD_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS
	                           ? timeout_ms
	                           : CONCORD_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
	char name[128];
	ctl_credentials(user, name, sizeof(name), &o);
	o.tls_ca_file = cacert;
	o.tls_cert_file = cert;
	o.tls_key_file = key;
	struct concord_client *c = NULL;
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	int rc = concord_client_new(endpoints, &o, &c, err);
	if (rc != CONCORD_OK) {
		ctl_usage_error("--endpoints: %s", err);
	}
	ctl_client = c;

	struct ctl ctl = {
	    .c = c, .endpoints = endpoints, .timeout_ms = timeout_ms, .format = format, .opts = o};
	const struct ctl_command *found = ctl_find(cmd);
	if (found == NULL) {
		ctl_usage_error("unknown command '%s'", cmd);
	}
	int ret = found->fn(&ctl, cargc, cargv);
	if (fflush(stdout) != 0 && ret == CTL_OK) {
		fprintf(stderr, "concordctl: writing the output: %s\n", strerror(errno));
		ret = CTL_FAILED;
	}
	concord_client_free(c);
	return ret;
}
