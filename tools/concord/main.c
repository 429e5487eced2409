/* main.c: `concord`, one node of a Concord cluster: flags, the node, the RESP and HTTP servers,
 * clean shutdown on SIGTERM/SIGINT. */
#include "flags.h"
#include "security.h"
#include "server/http_server.h"
#include "server/node.h"
#include "server/peer_status.h"
#include "server/publish.h"
#include "server/resp_server.h"
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define EXIT_REMOVED      3
#define REMOVED_LINGER_MS 2000

static const char usage_text[] =
    "Usage: concord [flags]\n"
    "       concord restore FILE --name NAME --initial-cluster LIST [flags] (--help)\n"
    "\n"
    "One node of a Concord cluster: a replicated, strongly consistent key-value store on\n"
    "Raft. Clients speak the Redis protocol (RESP2) on --listen-client and HTTP/JSON on\n"
    "--listen-http (docs/resp.md, docs/http.md, docs/server.md).\n"
    "\n"
    "Identity and cluster:\n"
    "  --name NAME                  this member's name (default n1); must appear in\n"
    "                               --initial-cluster unless --join\n"
    "  --id N                       this member's id (default: its 1-based position in\n"
    "                               --initial-cluster; required with --join when the node is\n"
    "                               not listed there). Ids of the others are their positions.\n"
    "  --initial-cluster LIST       name=host:port,... every member's peer address\n"
    "                               (default: NAME=--listen-peer, a cluster of one)\n"
    "  --initial-cluster-client LIST  name=host:port,... members' RESP addresses, so that a\n"
    "                               follower can name and reach the leader\n"
    "  --initial-cluster-http LIST  name=host:port,... members' HTTP addresses\n"
    "  --cluster-id ID              a number or a text (hashed); peers of another cluster are\n"
    "                               refused (default concord)\n"
    "  --join                       start empty and wait to be added as a learner by the\n"
    "                               leader (CONCORD.MEMBER ADD / POST /v1/members)\n"
    "  --data-dir DIR               where the node keeps its log, metadata and snapshots\n"
    "                               (default NAME.concord)\n"
    "\n"
    "Listeners (host:port; host names such as localhost are resolved at start):\n"
    "  --listen-peer ADDR           Raft peer traffic (default: this member's address in\n"
    "                               --initial-cluster, else 127.0.0.1:7001)\n"
    "  --listen-client ADDR         RESP clients (default: this member's address in\n"
    "                               --initial-cluster-client, else 127.0.0.1:6379)\n"
    "  --listen-http ADDR           HTTP/JSON, /metrics and the web page (default: this\n"
    "                               member's address in --initial-cluster-http, else\n"
    "                               127.0.0.1:8080; \"none\" disables it)\n"
    "\n"
    "Raft timing and storage:\n"
    "  --tick-ms N                  one Raft tick (default 50)\n"
    "  --election-ticks N           election timeout, random in [N, 2N) ticks (default 10)\n"
    "  --heartbeat-ticks N          leader heartbeat period in ticks (default 2)\n"
    "  --request-timeout-ms N       writes and reads give up after this (default 5000); the\n"
    "                               outcome of a timed-out write is unknown\n"
    "  --snapshot-entries N         snapshot after this many applied entries (default 10000000)\n"
    "  --snapshot-bytes N           ... or after this many bytes of applied commands\n"
    "                               (default 67108864; 0: entries only); member k waits\n"
    "                               ((k - 1) mod 4) eighths longer for either\n"
    "  --snapshot-trailing N        log entries kept behind a snapshot for slow followers\n"
    "                               (default 10000; no more than a quarter of\n"
    "                               --snapshot-bytes of commands)\n"
    "  --wal-segment-bytes N        size of one WAL segment file, preallocated (default\n"
    "                               67108864; at least 4096)\n"
    "  --disk-stall-ms N            a WAL write or fsync outstanding this long means a\n"
    "                               hung disk: a leader steps down, the node logs it and\n"
    "                               exports concord_disk_stalled (default: three mean\n"
    "                               election timeouts)\n"
    "\n"
    "Key-value limits (must be the same on every node):\n"
    "  --max-key-bytes N            longest key (default 4096, at most 65536)\n"
    "  --max-value-bytes N          longest value (default 1048576, at most 67108864)\n"
    "  --max-keys-per-command N     most keys in one MSET, DEL or MGET (default 1024)\n"
    "  --max-frame-bytes N          largest Raft message between peers (default 16777216,\n"
    "                               from 1024 to 1073741824); must exceed the largest\n"
    "                               entry, and should be the same on every node\n"
    "\n"
    "Client behaviour:\n"
    "  --resp-follower MODE         forward: a follower relays commands that need the leader\n"
    "                               and relays the reply (default); moved: it answers\n"
    "                               -MOVED <slot> <leader> (redis-cli -c, cluster clients)\n"
    "  --http-follower MODE         forward (default) or redirect (421 with a Location)\n"
    "  --stale-reads                serve every read from this node's state without asking\n"
    "                               the leader: faster, and NOT linearizable (a read may miss\n"
    "                               acknowledged writes); INFO and /v1/cluster say so\n"
    "  --max-clients N              connections per protocol (default 4096)\n"
    "  --relay-reserve N            more connections per protocol for relays from peers,\n"
    "                               past --max-clients (default 64)\n"
    "  --client-idle-timeout SECS   close a client connection idle this long (default 300;\n"
    "                               0: never)\n"
    "  --client-read-timeout SECS   close one whose unfinished request made no progress\n"
    "                               this long (default 30; 0: never)\n"
    "  --client-write-timeout SECS  close one that reads none of its replies this long\n"
    "                               (default 60; 0: never)\n"
    "  --client-output-limit BYTES  queued output of one connection, and largest reply\n"
    "                               (default 8 MiB; at least 6 x --max-value-bytes + 1 MiB)\n"
    "  --history-revisions N        revisions of history kept readable and watchable (default\n"
    "                               10000; every member must use the same)\n"
    "  --watch-max N                watchers on this node, HTTP and RESP (default 4096)\n"
    "  --watch-conn-max N           watchers and pub/sub subscriptions per connection\n"
    "                               (default 64)\n"
    "  --watch-buffer-bytes BYTES   a watcher with more output queued when an event comes\n"
    "                               is cancelled as slow (default 1 MiB)\n"
    "\n"
    "Security (docs/security.md):\n"
    "  --insecure                   start even though a client or HTTP listener is on a\n"
    "                               non-loopback address with neither auth (concordctl\n"
    "                               auth enable) nor TLS (protected mode refuses to)\n"
    "  --allowed-hosts LIST         host names, comma-separated, that HTTP requests may\n"
    "                               name in Host and Origin besides loopback and the\n"
    "                               members' addresses (state-changing and admin routes)\n"
    "\n"
    "Other:\n"
    "  --log-level LEVEL            debug, info (default), warn or error\n"
    "  --help                       this text\n"
    "  --version                    the version\n"
    "\n"
    "SIGTERM or SIGINT shut the node down cleanly (exit 0). Writes are acknowledged only\n"
    "once fsynced on a quorum, so kill -9 loses nothing acknowledged.\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM/SIGINT; 1 could not start, a second signal, or a\n"
    "storage failure (fail-stop); 2 usage error; 3 this member was removed from the\n"
    "cluster (it says so in its log and to its clients for 2 s, then stops; its data\n"
    "directory is of no further use).\n";

struct options {
	char name[64];
	uint64_t id;
	bool have_id;
	char data_dir[512];
	char listen_peer[128];
	char listen_client[128];
	char listen_http[128];
	const char *initial_cluster;
	const char *initial_cluster_client;
	const char *initial_cluster_http;
	char cluster_id[128];
	bool join;
	uint32_t tick_ms, election_ticks, heartbeat_ticks, request_timeout_ms;
	uint64_t snapshot_entries, snapshot_bytes, snapshot_trailing, segment_bytes;
	uint32_t disk_stall_ms;
	bool snapshot_trailing_set;
	uint32_t max_key_bytes, max_value_bytes, max_keys, max_frame_bytes;
	enum server_follower_mode resp_follower, http_follower;
	bool stale_reads;
	uint32_t max_clients, relay_reserve;
	uint32_t watch_max, watch_conn_max;
	uint64_t watch_buffer_bytes;
	uint64_t history_revisions;
	uint64_t idle_timeout_s, read_timeout_s, write_timeout_s, output_limit;
	int log_level;
	bool insecure;
	char allowed_hosts[1024];
	struct security_options sec;
};

void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "concord: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(see concord --help)\n");
	va_end(ap);
	exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *flag, const char *v, uint64_t min, uint64_t max)
{
	char *end = NULL;
	errno = 0;
	if (v[0] == '-' || v[0] == '\0')
		usage_error("%s: expected a number, got '%s'", flag, v);
	unsigned long long x = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		usage_error("%s: expected a number, got '%s'", flag, v);
	if (x < min || x > max)
		usage_error("%s: %llu is out of range [%" PRIu64 ", %" PRIu64 "]", flag, x, min,
		            max);
	return x;
}

static void copy_flag(const char *flag, char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		usage_error("%s: too long (at most %zu bytes)", flag, cap - 1);
	snprintf(dst, cap, "%s", v);
}

/* "host:port" with a host name resolved to a numeric address (IPv4 preferred). */
static void resolve_addr(const char *flag, const char *in, char *out, size_t cap)
{
	const char *colon = strrchr(in, ':');
	if (colon == NULL || colon == in || colon[1] == '\0')
		usage_error("%s: '%s' is not host:port", flag, in);
	char host[128];
	size_t hlen = (size_t)(colon - in);
	if (hlen >= sizeof(host))
		usage_error("%s: host name too long in '%s'", flag, in);
	memcpy(host, in, hlen);
	host[hlen] = '\0';
	parse_u64(flag, colon + 1, 0, 65535);
	if (host[0] == '[') {
		if (hlen < 3 || host[hlen - 1] != ']')
			usage_error("%s: bad IPv6 address in '%s'", flag, in);
		snprintf(out, cap, "%s", in);
		return;
	}
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		snprintf(out, cap, "%s", in);
		return;
	}
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_INET;
	int rv = getaddrinfo(host, NULL, &hints, &res);
	if (rv != 0) {
		hints.ai_family = AF_INET6;
		rv = getaddrinfo(host, NULL, &hints, &res);
	}
	if (rv != 0 || res == NULL)
		usage_error("%s: cannot resolve '%s': %s", flag, host, gai_strerror(rv));
	char num[INET6_ADDRSTRLEN];
	if (res->ai_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, num,
		          sizeof(num));
		snprintf(out, cap, "%s%s", num, colon);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, num,
		          sizeof(num));
		snprintf(out, cap, "[%s]%s", num, colon);
	}
	freeaddrinfo(res);
}

/* Parses "name=host:port,..." into (name, address) pairs; returns how many. */
uint32_t parse_list(const char *flag, const char *list, char names[][64], char addrs[][128],
                    uint32_t cap)
{
	uint32_t n = 0;
	const char *p = list;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		char item[256];
		if (len == 0 || len >= sizeof(item))
			usage_error("%s: bad entry in '%s'", flag, list);
		memcpy(item, p, len);
		item[len] = '\0';
		char *eq = strchr(item, '=');
		if (eq == NULL || eq == item || eq[1] == '\0')
			usage_error("%s: '%s' is not name=host:port", flag, item);
		*eq = '\0';
		if (n == cap)
			usage_error("%s: at most %u members", flag, cap);
		if (strlen(item) >= 64)
			usage_error("%s: name '%s' too long", flag, item);
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(names[i], item) == 0)
				usage_error("%s: '%s' is listed twice", flag, item);
		snprintf(names[n], 64, "%s", item);
		resolve_addr(flag, eq + 1, addrs[n], 128);
		n++;
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}

int lookup(char names[][64], uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

enum {
	OPT_NAME = 256,
	OPT_ID,
	OPT_DATA_DIR,
	OPT_LISTEN_PEER,
	OPT_LISTEN_CLIENT,
	OPT_LISTEN_HTTP,
	OPT_IC,
	OPT_IC_CLIENT,
	OPT_IC_HTTP,
	OPT_CLUSTER_ID,
	OPT_JOIN,
	OPT_TICK,
	OPT_ELECTION,
	OPT_HEARTBEAT,
	OPT_TIMEOUT,
	OPT_SNAPSHOT,
	OPT_SNAPSHOT_BYTES,
	OPT_SNAPSHOT_TRAILING,
	OPT_SEGMENT_BYTES,
	OPT_DISK_STALL,
	OPT_MAX_KEY,
	OPT_MAX_VALUE,
	OPT_MAX_KEYS,
	OPT_MAX_FRAME,
	OPT_RESP_FOLLOWER,
	OPT_HTTP_FOLLOWER,
	OPT_STALE,
	OPT_MAX_CLIENTS,
	OPT_LOG_LEVEL,
	OPT_INSECURE,
	OPT_ALLOWED_HOSTS,
	OPT_HELP,
	OPT_VERSION,
	OPT_RELAY_RESERVE,
	OPT_IDLE_TIMEOUT,
	OPT_READ_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_OUTPUT_LIMIT,
	OPT_WATCH_MAX,
	OPT_WATCH_CONN_MAX,
	OPT_WATCH_BUFFER,
	OPT_HISTORY,
};

static const struct option long_options[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"id", required_argument, NULL, OPT_ID},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"listen-peer", required_argument, NULL, OPT_LISTEN_PEER},
    {"listen-client", required_argument, NULL, OPT_LISTEN_CLIENT},
    {"listen-http", required_argument, NULL, OPT_LISTEN_HTTP},
    {"initial-cluster", required_argument, NULL, OPT_IC},
    {"initial-cluster-client", required_argument, NULL, OPT_IC_CLIENT},
    {"initial-cluster-http", required_argument, NULL, OPT_IC_HTTP},
    {"cluster-id", required_argument, NULL, OPT_CLUSTER_ID},
    {"join", no_argument, NULL, OPT_JOIN},
    {"tick-ms", required_argument, NULL, OPT_TICK},
    {"election-ticks", required_argument, NULL, OPT_ELECTION},
    {"heartbeat-ticks", required_argument, NULL, OPT_HEARTBEAT},
    {"request-timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"snapshot-entries", required_argument, NULL, OPT_SNAPSHOT},
    {"snapshot-bytes", required_argument, NULL, OPT_SNAPSHOT_BYTES},
    {"snapshot-trailing", required_argument, NULL, OPT_SNAPSHOT_TRAILING},
    {"wal-segment-bytes", required_argument, NULL, OPT_SEGMENT_BYTES},
    {"disk-stall-ms", required_argument, NULL, OPT_DISK_STALL},
    {"max-key-bytes", required_argument, NULL, OPT_MAX_KEY},
    {"max-value-bytes", required_argument, NULL, OPT_MAX_VALUE},
    {"max-frame-bytes", required_argument, NULL, OPT_MAX_FRAME},
    {"max-keys-per-command", required_argument, NULL, OPT_MAX_KEYS},
    {"resp-follower", required_argument, NULL, OPT_RESP_FOLLOWER},
    {"http-follower", required_argument, NULL, OPT_HTTP_FOLLOWER},
    {"stale-reads", no_argument, NULL, OPT_STALE},
    {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
    {"relay-reserve", required_argument, NULL, OPT_RELAY_RESERVE},
    {"client-idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"client-read-timeout", required_argument, NULL, OPT_READ_TIMEOUT},
    {"client-write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
    {"client-output-limit", required_argument, NULL, OPT_OUTPUT_LIMIT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"allowed-hosts", required_argument, NULL, OPT_ALLOWED_HOSTS},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"watch-max", required_argument, NULL, OPT_WATCH_MAX},
    {"watch-conn-max", required_argument, NULL, OPT_WATCH_CONN_MAX},
    {"watch-buffer-bytes", required_argument, NULL, OPT_WATCH_BUFFER},
    {"history-revisions", required_argument, NULL, OPT_HISTORY},
    SECURITY_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* The watch limits: --watch-*. */
static void watch_option(struct options *o, int ch, const char *v)
{
	if (ch == OPT_WATCH_MAX)
		o->watch_max = (uint32_t)parse_u64("--watch-max", v, 0, 1000000);
	else if (ch == OPT_WATCH_CONN_MAX)
		o->watch_conn_max = (uint32_t)parse_u64("--watch-conn-max", v, 1, 100000);
	else if (ch == OPT_HISTORY)
		o->history_revisions = parse_u64("--history-revisions", v, 1, (uint64_t)1 << 40);
	else
		o->watch_buffer_bytes =
		    parse_u64("--watch-buffer-bytes", v, 1024, (uint64_t)1 << 30);
}

/* The client-connection limits: --relay-reserve and the --client-* flags. */
static void client_option(struct options *o, int ch, const char *v)
{
	if (ch == OPT_RELAY_RESERVE)
		o->relay_reserve = (uint32_t)parse_u64("--relay-reserve", v, 0, 100000);
	else if (ch == OPT_IDLE_TIMEOUT)
		o->idle_timeout_s = parse_u64("--client-idle-timeout", v, 0, 86400 * 365);
	else if (ch == OPT_READ_TIMEOUT)
		o->read_timeout_s = parse_u64("--client-read-timeout", v, 0, 86400 * 365);
	else if (ch == OPT_WRITE_TIMEOUT)
		o->write_timeout_s = parse_u64("--client-write-timeout", v, 0, 86400 * 365);
	else
		o->output_limit = parse_u64("--client-output-limit", v, 1 << 16, (uint64_t)1 << 30);
}

/* Protected mode and the HTTP Host allowlist (docs/security.md). */
static void protect_option(struct options *o, int ch, const char *v)
{
	if (ch == OPT_INSECURE) {
		o->insecure = true;
		return;
	}
	copy_flag("--allowed-hosts", o->allowed_hosts, sizeof(o->allowed_hosts), v);
	if (strpbrk(o->allowed_hosts, " \t\n/") != NULL)
		usage_error("--allowed-hosts: a comma-separated list of host names, no ports");
}

static void options_parse(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "n1");
	snprintf(o->cluster_id, sizeof(o->cluster_id), "concord");
	o->tick_ms = 50;
	o->election_ticks = 10;
	o->heartbeat_ticks = 2;
	o->request_timeout_ms = 5000;
	o->snapshot_entries = 10000000;
	o->snapshot_bytes = (uint64_t)64 << 20;
	o->max_key_bytes = 4096;
	o->max_value_bytes = 1u << 20;
	o->max_keys = 1024;
	o->max_clients = 4096;
	o->watch_max = 4096;
	o->watch_conn_max = 64;
	o->watch_buffer_bytes = 1 << 20;
	o->history_revisions = 10000;
	o->relay_reserve = 64;
	o->idle_timeout_s = 300;
	o->read_timeout_s = 30;
	o->write_timeout_s = 60;
	o->output_limit = (uint64_t)8 << 20;
	o->log_level = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long_only(argc, argv, ":", long_options, NULL)) != -1) {
		const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
		switch (ch) {
		case OPT_NAME:
			copy_flag("--name", o->name, sizeof(o->name), optarg);
			if (o->name[0] == '\0' || strpbrk(o->name, ",=\n") != NULL)
				usage_error(
				    "--name: must be non-empty without ',', '=' or newlines");
			break;
		case OPT_ID:
			o->id = parse_u64("--id", optarg, 1, UINT64_MAX);
			o->have_id = true;
			break;
		case OPT_DATA_DIR:
			copy_flag("--data-dir", o->data_dir, sizeof(o->data_dir), optarg);
			break;
		case OPT_LISTEN_PEER:
			resolve_addr("--listen-peer", optarg, o->listen_peer,
			             sizeof(o->listen_peer));
			break;
		case OPT_LISTEN_CLIENT:
			resolve_addr("--listen-client", optarg, o->listen_client,
			             sizeof(o->listen_client));
			break;
		case OPT_LISTEN_HTTP:
			if (strcmp(optarg, "none") == 0)
				snprintf(o->listen_http, sizeof(o->listen_http), "none");
			else
				resolve_addr("--listen-http", optarg, o->listen_http,
				             sizeof(o->listen_http));
			break;
		case OPT_IC:
			o->initial_cluster = optarg;
			break;
		case OPT_IC_CLIENT:
			o->initial_cluster_client = optarg;
			break;
		case OPT_IC_HTTP:
			o->initial_cluster_http = optarg;
			break;
		case OPT_CLUSTER_ID:
			copy_flag("--cluster-id", o->cluster_id, sizeof(o->cluster_id), optarg);
			if (o->cluster_id[0] == '\0')
				usage_error("--cluster-id: must not be empty");
			break;
		case OPT_JOIN:
			o->join = true;
			break;
		case OPT_TICK:
			o->tick_ms = (uint32_t)parse_u64("--tick-ms", optarg, 1, 60000);
			break;
		case OPT_ELECTION:
			o->election_ticks =
			    (uint32_t)parse_u64("--election-ticks", optarg, 2, 100000);
			break;
		case OPT_HEARTBEAT:
			o->heartbeat_ticks =
			    (uint32_t)parse_u64("--heartbeat-ticks", optarg, 1, 100000);
			break;
		case OPT_TIMEOUT:
			o->request_timeout_ms =
			    (uint32_t)parse_u64("--request-timeout-ms", optarg, 1, 3600000);
			break;
		case OPT_SNAPSHOT:
			o->snapshot_entries =
			    parse_u64("--snapshot-entries", optarg, 1, UINT64_MAX / 4);
			break;
		case OPT_SNAPSHOT_BYTES:
			o->snapshot_bytes =
			    parse_u64("--snapshot-bytes", optarg, 0, UINT64_MAX / 4);
			break;
		case OPT_SNAPSHOT_TRAILING:
			o->snapshot_trailing =
			    parse_u64("--snapshot-trailing", optarg, 0, UINT64_MAX / 4);
			o->snapshot_trailing_set = true;
			break;
		case OPT_SEGMENT_BYTES:
			o->segment_bytes =
			    parse_u64("--wal-segment-bytes", optarg, 4096, (uint64_t)1 << 40);
			break;
		case OPT_DISK_STALL:
			o->disk_stall_ms =
			    (uint32_t)parse_u64("--disk-stall-ms", optarg, 1, 24u * 3600 * 1000);
			break;
		case OPT_MAX_KEY:
			o->max_key_bytes =
			    (uint32_t)parse_u64("--max-key-bytes", optarg, 1, KV_KEY_BYTES_LIMIT);
			break;
		case OPT_MAX_FRAME:
			o->max_frame_bytes = (uint32_t)parse_u64(
			    "--max-frame-bytes", optarg, NET_FRAME_MIN_BYTES, NET_FRAME_MAX_BYTES);
			break;
		case OPT_MAX_VALUE:
			o->max_value_bytes = (uint32_t)parse_u64("--max-value-bytes", optarg, 1,
			                                         KV_VALUE_BYTES_LIMIT);
			break;
		case OPT_MAX_KEYS:
			o->max_keys = (uint32_t)parse_u64("--max-keys-per-command", optarg, 1,
			                                  KV_KEYS_PER_CMD_LIMIT);
			break;
		case OPT_RESP_FOLLOWER:
			if (strcmp(optarg, "forward") == 0)
				o->resp_follower = SERVER_FOLLOWER_FORWARD;
			else if (strcmp(optarg, "moved") == 0)
				o->resp_follower = SERVER_FOLLOWER_REDIRECT;
			else
				usage_error("--resp-follower: expected forward or moved, got '%s'",
				            optarg);
			break;
		case OPT_HTTP_FOLLOWER:
			if (strcmp(optarg, "forward") == 0)
				o->http_follower = SERVER_FOLLOWER_FORWARD;
			else if (strcmp(optarg, "redirect") == 0)
				o->http_follower = SERVER_FOLLOWER_REDIRECT;
			else
				usage_error(
				    "--http-follower: expected forward or redirect, got '%s'",
				    optarg);
			break;
		case OPT_STALE:
			o->stale_reads = true;
			break;
		case OPT_MAX_CLIENTS:
			o->max_clients = (uint32_t)parse_u64("--max-clients", optarg, 1, 1000000);
			break;
		case OPT_INSECURE:
		case OPT_ALLOWED_HOSTS:
			protect_option(o, ch, optarg);
			break;
		case OPT_RELAY_RESERVE:
		case OPT_IDLE_TIMEOUT:
		case OPT_READ_TIMEOUT:
		case OPT_WRITE_TIMEOUT:
		case OPT_OUTPUT_LIMIT:
			client_option(o, ch, optarg);
			break;
		case OPT_WATCH_MAX:
		case OPT_WATCH_CONN_MAX:
		case OPT_WATCH_BUFFER:
		case OPT_HISTORY:
			watch_option(o, ch, optarg);
			break;
		case OPT_LOG_LEVEL:
			if (strcmp(optarg, "debug") == 0)
				o->log_level = 0;
			else if (strcmp(optarg, "info") == 0)
				o->log_level = 1;
			else if (strcmp(optarg, "warn") == 0)
				o->log_level = 2;
			else if (strcmp(optarg, "error") == 0)
				o->log_level = 3;
			else
				usage_error(
				    "--log-level: expected debug, info, warn or error, got '%s'",
				    optarg);
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			fputs("\n", stdout);
			fputs(security_usage_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("concord 0.1.0\n");
			exit(0);
		case ':':
			usage_error("%s needs a value", flag);
		default:
			if (!security_option(&o->sec, ch, optarg))
				usage_error("unknown flag '%s'", flag);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (o->heartbeat_ticks >= o->election_ticks)
		usage_error("--heartbeat-ticks (%u) must be below --election-ticks (%u)",
		            o->heartbeat_ticks, o->election_ticks);
}

uint64_t cluster_id_value(const char *text)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno == 0 && *end == '\0' && text[0] != '-' && v != 0)
		return v;
	/* FNV-1a of the text: a name stands for a number. */
	uint64_t h = 14695981039346656037ull;
	for (const char *p = text; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	return h != 0 ? h : 1;
}

/* Builds the node's configuration from the flags; exits on a contradiction. */
static void config_build(struct options *o, struct node_config *cfg)
{
	node_config_default(cfg);
	static char names[NODE_MAX_MEMBERS][64], peers[NODE_MAX_MEMBERS][128];
	static char cnames[NODE_MAX_MEMBERS][64], clients[NODE_MAX_MEMBERS][128];
	static char hnames[NODE_MAX_MEMBERS][64], https[NODE_MAX_MEMBERS][128];
	uint32_t n = 0, nc = 0, nh = 0;
	if (o->initial_cluster != NULL)
		n = parse_list("--initial-cluster", o->initial_cluster, names, peers,
		               NODE_MAX_MEMBERS);
	if (o->initial_cluster_client != NULL)
		nc = parse_list("--initial-cluster-client", o->initial_cluster_client, cnames,
		                clients, NODE_MAX_MEMBERS);
	if (o->initial_cluster_http != NULL)
		nh = parse_list("--initial-cluster-http", o->initial_cluster_http, hnames, https,
		                NODE_MAX_MEMBERS);
	int self = lookup(names, n, o->name);
	if (n == 0 && !o->join) {
		/* A cluster of one. */
		snprintf(names[0], 64, "%s", o->name);
		snprintf(peers[0], 128, "%s",
		         o->listen_peer[0] != '\0' ? o->listen_peer : "127.0.0.1:7001");
		n = 1;
		self = 0;
	}
	if (self < 0 && !o->join)
		usage_error("--name %s is not in --initial-cluster", o->name);
	if (self >= 0 && o->have_id && o->id != (uint64_t)self + 1)
		usage_error("--id %" PRIu64
		            " contradicts the position of %s in --initial-cluster (%d)",
		            o->id, o->name, self + 1);
	if (self < 0 && !o->have_id)
		usage_error("--join without being listed in --initial-cluster needs --id");
	/* Every entry travels in one peer message: the frame must hold the largest one. */
	uint64_t frame = o->max_frame_bytes ? o->max_frame_bytes : NET_DEFAULT_MAX_FRAME_BYTES;
	uint64_t entry = (uint64_t)o->max_value_bytes + o->max_key_bytes + 4096;
	if (frame < entry)
		usage_error("--max-frame-bytes %" PRIu64 " cannot carry a %" PRIu32
		            "-byte value with its key; raise it above %" PRIu64,
		            frame, o->max_value_bytes, entry);
	cfg->id = self >= 0 ? (uint64_t)self + 1 : o->id;
	for (uint32_t i = 0; i < nc; i++)
		if (lookup(names, n, cnames[i]) < 0 && strcmp(cnames[i], o->name) != 0)
			usage_error("--initial-cluster-client: '%s' is not in --initial-cluster",
			            cnames[i]);
	for (uint32_t i = 0; i < nh; i++)
		if (lookup(names, n, hnames[i]) < 0 && strcmp(hnames[i], o->name) != 0)
			usage_error("--initial-cluster-http: '%s' is not in --initial-cluster",
			            hnames[i]);
	/* This node's listeners default to its entries in the lists. */
	int sc = lookup(cnames, nc, o->name), sh = lookup(hnames, nh, o->name);
	if (o->listen_peer[0] == '\0') {
		if (self < 0)
			usage_error(
			    "--listen-peer is needed when this node is not in --initial-cluster");
		snprintf(o->listen_peer, sizeof(o->listen_peer), "%s", peers[self]);
	}
	if (o->listen_client[0] == '\0')
		snprintf(o->listen_client, sizeof(o->listen_client), "%s",
		         sc >= 0 ? clients[sc] : "127.0.0.1:6379");
	if (o->listen_http[0] == '\0')
		snprintf(o->listen_http, sizeof(o->listen_http), "%s",
		         sh >= 0 ? https[sh] : "127.0.0.1:8080");
	cfg->n_members = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct node_member *m = &cfg->members[cfg->n_members++];
		memset(m, 0, sizeof(*m));
		m->id = i + 1;
		snprintf(m->name, sizeof(m->name), "%s", names[i]);
		snprintf(m->peer, sizeof(m->peer), "%s", peers[i]);
		int ci = lookup(cnames, nc, names[i]), hi = lookup(hnames, nh, names[i]);
		if (ci >= 0)
			snprintf(m->client, sizeof(m->client), "%s", clients[ci]);
		if (hi >= 0)
			snprintf(m->http, sizeof(m->http), "%s", https[hi]);
		if ((int)i == self) {
			if (ci < 0)
				snprintf(m->client, sizeof(m->client), "%s", o->listen_client);
			if (hi < 0 && strcmp(o->listen_http, "none") != 0)
				snprintf(m->http, sizeof(m->http), "%s", o->listen_http);
		}
	}
	if (self < 0) {
		/* Joining, unlisted: the node knows its own record; the leader records it in
		 * the replicated address book when it adds the node. */
		if (cfg->n_members == NODE_MAX_MEMBERS)
			usage_error("--initial-cluster: too many members to add this one");
		struct node_member *m = &cfg->members[cfg->n_members++];
		memset(m, 0, sizeof(*m));
		m->id = o->id;
		snprintf(m->name, sizeof(m->name), "%s", o->name);
		snprintf(m->peer, sizeof(m->peer), "%s", o->listen_peer);
		snprintf(m->client, sizeof(m->client), "%s", o->listen_client);
		if (strcmp(o->listen_http, "none") != 0)
			snprintf(m->http, sizeof(m->http), "%s", o->listen_http);
		for (uint32_t i = 0; i + 1 < cfg->n_members; i++)
			if (cfg->members[i].id == o->id)
				usage_error("--id %" PRIu64 " is taken by %s in --initial-cluster",
				            o->id, cfg->members[i].name);
	}
	cfg->join = o->join;
	snprintf(cfg->name, sizeof(cfg->name), "%s", o->name);
	cfg->cluster_id = cluster_id_value(o->cluster_id);
	if (o->data_dir[0] == '\0')
		snprintf(o->data_dir, sizeof(o->data_dir), "%s.concord", o->name);
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", o->data_dir);
	snprintf(cfg->listen_peer, sizeof(cfg->listen_peer), "%s", o->listen_peer);
	cfg->tick_ms = o->tick_ms;
	cfg->election_ticks = o->election_ticks;
	cfg->heartbeat_ticks = o->heartbeat_ticks;
	cfg->request_timeout_ms = o->request_timeout_ms;
	cfg->snapshot_entries = o->snapshot_entries;
	cfg->snapshot_bytes = o->snapshot_bytes;
	cfg->snapshot_stagger = true;
	if (o->snapshot_trailing_set)
		cfg->snapshot_trailing = o->snapshot_trailing;
	if (o->segment_bytes != 0)
		cfg->segment_bytes = o->segment_bytes;
	cfg->disk_stall_ms = o->disk_stall_ms;
	if (cfg->snapshot_trailing > o->snapshot_entries)
		cfg->snapshot_trailing = o->snapshot_entries;
	cfg->kv.limits.key_bytes_max = o->max_key_bytes;
	cfg->kv.limits.value_bytes_max = o->max_value_bytes;
	cfg->max_frame_bytes = o->max_frame_bytes;
	cfg->kv.limits.keys_per_cmd_max = o->max_keys;
	cfg->kv.history_revisions = o->history_revisions;
}

/* ---------------------------------------------------------------------------------
 * Running and stopping
 */

struct process {
	uv_loop_t *loop;
	struct server sv;
	uv_signal_t sigterm, sigint;
	bool stopping;
	int waiting; /* parts still shutting down */
	int level;
	int exit_status;
	uv_timer_t removed_timer; /* a removed member answers its clients a while, then stops */
	bool removed;
	struct server_publisher *pub; /* has the leader publish this member's addresses */
};

static void on_node_log(void *ctx, int level, const char *msg)
{
	struct process *p = ctx;
	if (level < p->level)
		return;
	server_logf(&p->sv, level, "%s", msg);
}

static void on_part_stopped(void *arg)
{
	struct process *p = arg;
	if (--p->waiting > 0)
		return;
	p->sv.node = NULL;
	uv_close((uv_handle_t *)&p->sigterm, NULL);
	uv_close((uv_handle_t *)&p->sigint, NULL);
	if (p->removed)
		uv_close((uv_handle_t *)&p->removed_timer, NULL);
}

static void shutdown_begin(struct process *p)
{
	p->stopping = true;
	server_publisher_close(p->pub);
	p->pub = NULL;
	peer_status_close(p->sv.peer_status);
	p->sv.peer_status = NULL;
	/* Stop accepting and drop the clients first, then stop the node: what the node
	 * still owes the clients is answered "shutting down" into closed connections. */
	p->waiting = 1;
	if (p->sv.resp != NULL) {
		p->waiting++;
		resp_server_close(p->sv.resp, on_part_stopped, p);
	}
	if (p->sv.http != NULL) {
		p->waiting++;
		http_server_close(p->sv.http, on_part_stopped, p);
	}
	node_stop(p->sv.node, on_part_stopped, p);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct process *p = h->data;
	if (p->stopping) {
		fprintf(stderr, "concord: second %s: exiting at once\n", strsignal(signum));
		_exit(1);
	}
	server_logf(&p->sv, 1, "%s: shutting down", strsignal(signum));
	shutdown_begin(p);
}

static void on_removed_timer(uv_timer_t *t)
{
	struct process *p = t->data;
	if (p->stopping)
		return;
	server_logf(&p->sv, 2, "removed from the cluster: shutting down (exit status %d)",
	            EXIT_REMOVED);
	shutdown_begin(p);
}

/* The node learned it was removed (node_removed.c): its clients are told so for
 * REMOVED_LINGER_MS, then it stops and the process exits with EXIT_REMOVED. */
static void on_removed(void *ctx)
{
	struct process *p = ctx;
	if (p->removed || p->stopping)
		return;
	p->removed = true;
	p->exit_status = EXIT_REMOVED;
	uv_timer_init(p->loop, &p->removed_timer);
	p->removed_timer.data = p;
	uv_timer_start(&p->removed_timer, on_removed_timer, REMOVED_LINGER_MS, 0);
}

/* The frontends' shared settings, from the flags. */
static void server_setup(struct server *sv, const struct options *o, const struct node_config *cfg,
                         uv_loop_t *loop)
{
	server_init(sv);
	sv->loop = loop;
	snprintf(sv->cluster_id, sizeof(sv->cluster_id), "%s", o->cluster_id);
	snprintf(sv->name, sizeof(sv->name), "%s", o->name);
	sv->resp_follower = o->resp_follower;
	sv->http_follower = o->http_follower;
	sv->stale_reads = o->stale_reads;
	sv->max_clients = o->max_clients;
	sv->watch_max = o->watch_max;
	sv->watch_conn_max = o->watch_conn_max;
	sv->watch_buffer_bytes = (size_t)o->watch_buffer_bytes;
	sv->relay_reserve = o->relay_reserve;
	sv->idle_timeout_ms = o->idle_timeout_s * 1000;
	sv->read_timeout_ms = o->read_timeout_s * 1000;
	sv->write_timeout_ms = o->write_timeout_s * 1000;
	sv->output_hard_bytes = (size_t)o->output_limit;
	sv->limits = cfg->kv.limits;
	server_derive_limits(sv);
	sv->start_ms = uv_now(loop);
	sv->request_timeout_ms = o->request_timeout_ms;
	sv->log_level = o->log_level;
	sv->auth.insecure = o->insecure;
	snprintf(sv->auth.allowed_hosts, sizeof(sv->auth.allowed_hosts), "%s", o->allowed_hosts);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "restore") == 0)
		return restore_main(argc - 1, argv + 1);
	struct options o;
	options_parse(argc, argv, &o);
	struct node_config cfg;
	config_build(&o, &cfg);
	signal(SIGPIPE, SIG_IGN);

	static struct process p;
	p.loop = uv_default_loop();
	p.level = o.log_level;
	cfg.log = on_node_log;
	cfg.log_ctx = &p;
	cfg.removed = on_removed;
	cfg.removed_ctx = &p;
	struct server *sv = &p.sv;
	server_setup(sv, &o, &cfg, p.loop);

	char err[512];
	if (security_apply(&o.sec, sv, &cfg, err, sizeof(err)) != 0)
		usage_error("%s", err);
	struct node *node = NULL;
	if (node_start(&node, p.loop, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "concord: cannot start the node: %s\n", err);
		return 1;
	}
	sv->node = node;
	/* Protected mode, once the recovered state says whether auth is on. */
	if (auth_protected_check(sv, o.listen_client, o.listen_http, o.sec.cert_file != NULL, err,
	                         sizeof(err)) != 0) {
		server_logf(sv, 3, "%s", err);
		fprintf(stderr, "concord: refusing to start: %s\n", err);
		return 1;
	}
	if (o.insecure)
		server_logf(sv, 2, "--insecure: protected mode is off");
	if (resp_server_start(&sv->resp, sv, o.listen_client, err, sizeof(err)) != 0) {
		fprintf(stderr, "concord: %s\n", err);
		return 1;
	}
	if (strcmp(o.listen_http, "none") != 0 &&
	    http_server_start(&sv->http, sv, o.listen_http, err, sizeof(err)) != 0) {
		fprintf(stderr, "concord: %s\n", err);
		return 1;
	}
	p.pub = server_publisher_start(sv);
	if (sv->http != NULL)
		sv->peer_status = peer_status_start(sv);
	uv_signal_init(p.loop, &p.sigterm);
	uv_signal_init(p.loop, &p.sigint);
	p.sigterm.data = p.sigint.data = &p;
	uv_signal_start(&p.sigterm, on_signal, SIGTERM);
	uv_signal_start(&p.sigint, on_signal, SIGINT);
	server_logf(sv, 1,
	            "node %" PRIu64 " of cluster %s%s: peers on %s, RESP on %s (port %d), "
	            "HTTP on %s (port %d), data in %s%s",
	            cfg.id, o.cluster_id, o.join ? " (joining)" : "", o.listen_peer,
	            o.listen_client, resp_server_port(sv->resp), o.listen_http,
	            sv->http != NULL ? http_server_port(sv->http) : 0, o.data_dir,
	            o.stale_reads ? "; stale reads (not linearizable)" : "");
	uv_run(p.loop, UV_RUN_DEFAULT);
	int rv = uv_loop_close(p.loop);
	if (rv != 0)
		server_logf(sv, 2, "the loop closed with handles still open: %s", uv_strerror(rv));
	server_logf(sv, 1, "stopped");
	return p.exit_status;
}
