/* restore.c: `concord restore`: seeds one member's data directory of a new cluster from a backup.
 */
#include "flags.h"

#include "backup/backup.h"
#include "server/node.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char restore_usage[] =
    "Usage: concord restore FILE --name NAME --initial-cluster LIST [flags]\n"
    "\n"
    "Seeds the data directory of member NAME of a new cluster from FILE, a backup taken\n"
    "with `concordctl snapshot save` (GET /v1/snapshot), as etcdutl snapshot restore does.\n"
    "Run it once per member, with the same lists, then start every member with the same\n"
    "--name, --data-dir, --initial-cluster and --cluster-id. The store comes back as the\n"
    "backup holds it (every key with its value and revisions, the sessions); the members'\n"
    "address book and the configuration become the new cluster's, all members voters.\n"
    "\n"
    "Flags:\n"
    "  --name NAME                  this member (must be in --initial-cluster)\n"
    "  --data-dir DIR               the directory to create (default NAME.concord); it must\n"
    "                               not hold a data directory yet\n"
    "  --initial-cluster LIST       name=host:port,... the new cluster's peer addresses\n"
    "  --initial-cluster-client LIST  name=host:port,... their RESP addresses (optional:\n"
    "                               members publish their own when they run)\n"
    "  --initial-cluster-http LIST  name=host:port,... their HTTP addresses (optional)\n"
    "  --cluster-id ID              the new cluster's id (default concord): its members\n"
    "                               must be started with the same\n"
    "  --help                       this text\n"
    "\n"
    "Exit status: 0 restored, 1 the file is damaged or the directory cannot be written,\n"
    "2 usage error.\n";

struct restore_lists {
	char names[NODE_MAX_MEMBERS][64], peers[NODE_MAX_MEMBERS][128];
	char cnames[NODE_MAX_MEMBERS][64], clients[NODE_MAX_MEMBERS][128];
	char hnames[NODE_MAX_MEMBERS][64], https[NODE_MAX_MEMBERS][128];
	uint32_t n, nc, nh;
	struct backup_member members[NODE_MAX_MEMBERS];
};

struct restore_flags {
	const char *file, *name, *data_dir, *cluster, *clients, *https, *cluster_id;
};

static void restore_parse(int argc, char **argv, struct restore_flags *f)
{
	enum { R_NAME = 256, R_DIR, R_CLUSTER, R_CLIENT, R_HTTP, R_ID, R_HELP };
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, R_NAME},
	    {"data-dir", required_argument, NULL, R_DIR},
	    {"initial-cluster", required_argument, NULL, R_CLUSTER},
	    {"initial-cluster-client", required_argument, NULL, R_CLIENT},
	    {"initial-cluster-http", required_argument, NULL, R_HTTP},
	    {"cluster-id", required_argument, NULL, R_ID},
	    {"help", no_argument, NULL, R_HELP},
	    {NULL, 0, NULL, 0},
	};
	memset(f, 0, sizeof(*f));
	f->cluster_id = "concord";
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case R_NAME:
			f->name = optarg;
			break;
		case R_DIR:
			f->data_dir = optarg;
			break;
		case R_CLUSTER:
			f->cluster = optarg;
			break;
		case R_CLIENT:
			f->clients = optarg;
			break;
		case R_HTTP:
			f->https = optarg;
			break;
		case R_ID:
			f->cluster_id = optarg;
			break;
		case R_HELP:
			fputs(restore_usage, stdout);
			exit(0);
		default:
			usage_error("restore: unknown or incomplete flag");
		}
	}
	if (optind + 1 != argc)
		usage_error("restore: expected exactly one FILE");
	f->file = argv[optind];
	if (f->name == NULL || f->cluster == NULL)
		usage_error("restore: --name and --initial-cluster are required");
	if (f->cluster_id[0] == '\0')
		usage_error("restore: --cluster-id must not be empty");
}

/* The new members: ids by position in --initial-cluster, as concord itself numbers them. */
static void restore_members(const struct restore_flags *f, struct restore_lists *l)
{
	l->n = parse_list("--initial-cluster", f->cluster, l->names, l->peers, NODE_MAX_MEMBERS);
	if (f->clients != NULL)
		l->nc = parse_list("--initial-cluster-client", f->clients, l->cnames, l->clients,
		                   NODE_MAX_MEMBERS);
	if (f->https != NULL)
		l->nh = parse_list("--initial-cluster-http", f->https, l->hnames, l->https,
		                   NODE_MAX_MEMBERS);
	for (uint32_t i = 0; i < l->nc; i++)
		if (lookup(l->names, l->n, l->cnames[i]) < 0)
			usage_error("--initial-cluster-client: '%s' is not in --initial-cluster",
			            l->cnames[i]);
	for (uint32_t i = 0; i < l->nh; i++)
		if (lookup(l->names, l->n, l->hnames[i]) < 0)
			usage_error("--initial-cluster-http: '%s' is not in --initial-cluster",
			            l->hnames[i]);
	for (uint32_t i = 0; i < l->n; i++) {
		int ci = lookup(l->cnames, l->nc, l->names[i]);
		int hi = lookup(l->hnames, l->nh, l->names[i]);
		l->members[i] = (struct backup_member){
		    .id = i + 1,
		    .name = l->names[i],
		    .peer = l->peers[i],
		    .client = ci >= 0 ? l->clients[ci] : "",
		    .http = hi >= 0 ? l->https[hi] : "",
		};
	}
}

int restore_main(int argc, char **argv)
{
	struct restore_flags f;
	restore_parse(argc, argv, &f);
	static struct restore_lists l;
	restore_members(&f, &l);
	int self = lookup(l.names, l.n, f.name);
	if (self < 0)
		usage_error("restore: --name %s is not in --initial-cluster", f.name);
	char dir[512];
	if (f.data_dir != NULL)
		snprintf(dir, sizeof(dir), "%s", f.data_dir);
	else
		snprintf(dir, sizeof(dir), "%s.concord", f.name);
	struct backup_restore_opts o = {
	    .data_dir = dir,
	    .cluster_id = cluster_id_value(f.cluster_id),
	    .node_id = (raft_id)self + 1,
	    .members = l.members,
	    .n_members = l.n,
	};
	struct backup_info info;
	char err[BACKUP_ERRMSG_SIZE];
	if (backup_restore(f.file, &o, &info, err) != 0) {
		fprintf(stderr, "concord: restore: %s\n", err);
		return 1;
	}
	printf("restored %s into %s: member %s (id %d) of cluster %s with %u voters; index %" PRIu64
	       ", term %" PRIu64 ", revision %" PRIu64 ", %" PRIu64 " keys\n",
	       f.file, dir, f.name, self + 1, f.cluster_id, l.n, info.index, info.term,
	       info.revision, info.keys);
	return 0;
}
