/* main.c: concord-wal, the offline checker and dumper of a Concord data directory. */
#include "storage/storage.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Like redis-check-aof for Redis: read a node's data directory without a running node,
 * print what is in it, and say whether the node would start from it. The checks are
 * recovery's own (storage_inspect), so the verdict is the one the node would reach. */

static const char usage[] =
    "usage: concord-wal dump [--data] DIR\n"
    "       concord-wal verify DIR\n"
    "       concord-wal --help\n"
    "\n"
    "  dump    print the meta file, snapshots, segments and every log record of DIR\n"
    "          (--data: also the first bytes of each payload, in hex)\n"
    "  verify  check DIR the way a starting node does, without changing it\n"
    "\n"
    "Exit status: 0 the directory is sound (a torn write at the end of the newest\n"
    "segment, which the node cuts off when it starts, is reported as repairable);\n"
    "1 corruption or an I/O error, reported with file and offset (damage to data the\n"
    "node had made durable is reported as 'damaged:', with what a cluster member\n"
    "does about it); 2 bad usage.\n";

struct state {
	bool dump;
	bool data;
	uint64_t n_records;
	uint64_t n_segments;
	uint64_t n_notes;
	raft_index first;
	raft_index last;
	const char *cur_segment;
	bool damaged;
	raft_index catch_up_to;
};

static void print_conf(const struct raft_conf *c)
{
	printf("voters [");
	for (uint32_t i = 0; i < c->n_voters; i++)
		printf("%s%" PRIu64, i ? " " : "", c->voters[i]);
	printf("]");
	if (c->n_voters_old > 0) {
		printf(" voters_old [");
		for (uint32_t i = 0; i < c->n_voters_old; i++)
			printf("%s%" PRIu64, i ? " " : "", c->voters_old[i]);
		printf("]");
	}
	if (c->n_learners > 0) {
		printf(" learners [");
		for (uint32_t i = 0; i < c->n_learners; i++)
			printf("%s%" PRIu64, i ? " " : "", c->learners[i]);
		printf("]");
	}
}

static void on_meta(void *ctx, const char *path, uint64_t cluster_id, raft_id node_id,
                    const struct raft_hard_state *hs, const struct raft_conf *conf)
{
	struct state *s = ctx;
	if (!s->dump)
		return;
	printf("%s: cluster %" PRIu64 " node %" PRIu64 " term %" PRIu64 " vote %" PRIu64
	       " bootstrap ",
	       path, cluster_id, node_id, hs->term, hs->vote);
	print_conf(conf);
	printf("\n");
}

static void on_snapshot(void *ctx, const char *path, raft_index index, raft_term term,
                        const struct raft_conf *conf, uint64_t size)
{
	struct state *s = ctx;
	if (!s->dump)
		return;
	printf("%s: snapshot index %" PRIu64 " term %" PRIu64 " data %" PRIu64 " bytes ", path,
	       index, term, size);
	print_conf(conf);
	printf("\n");
}

static void on_segment(void *ctx, const char *path, bool open, raft_index first, raft_index last,
                       uint64_t n_records, uint64_t size)
{
	struct state *s = ctx;
	s->n_segments++;
	if (n_records > 0) {
		if (s->first == 0 || first < s->first)
			s->first = first;
		if (last > s->last)
			s->last = last;
	}
	if (!s->dump)
		return;
	printf("%s: %s segment, %" PRIu64 " records", path, open ? "open" : "closed", n_records);
	if (n_records > 0)
		printf(" (entries %" PRIu64 "-%" PRIu64 ")", first, last);
	printf(", %" PRIu64 " bytes\n", size);
}

static const char *type_name(enum raft_entry_type t)
{
	switch (t) {
	case RAFT_ENTRY_NORMAL:
		return "normal";
	case RAFT_ENTRY_NOOP:
		return "noop";
	case RAFT_ENTRY_CONFIG:
		return "config";
	}
	return "?";
}

static void on_record(void *ctx, const char *path, uint64_t offset, const struct raft_entry *e)
{
	struct state *s = ctx;
	s->n_records++;
	if (!s->dump)
		return;
	if (s->cur_segment != path)
		s->cur_segment = path;
	printf("  offset %10" PRIu64 "  index %" PRIu64 "  term %" PRIu64 "  %-6s  %zu bytes",
	       offset, e->index, e->term, type_name(e->type), raft_entry_len(e));
	if (s->data && raft_entry_len(e) > 0) {
		const unsigned char *d = raft_entry_data(e);
		size_t n = raft_entry_len(e) < 32 ? raft_entry_len(e) : 32;
		printf("  ");
		for (size_t i = 0; i < n; i++)
			printf("%02x", d[i]);
		if (n < raft_entry_len(e))
			printf("...");
	}
	printf("\n");
}

static void on_note(void *ctx, const char *note)
{
	struct state *s = ctx;
	s->n_notes++;
	printf("repairable: %s\n", note);
}

static void on_damage(void *ctx, const char *damage, raft_index catch_up_to)
{
	struct state *s = ctx;
	s->damaged = true;
	s->catch_up_to = catch_up_to;
	printf("damaged: %s\n", damage);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	struct state s = {0};
	const char *dir = NULL;
	if (argc == 3 && strcmp(argv[1], "verify") == 0) {
		dir = argv[2];
	} else if (argc == 3 && strcmp(argv[1], "dump") == 0) {
		s.dump = true;
		dir = argv[2];
	} else if (argc == 4 && strcmp(argv[1], "dump") == 0 && strcmp(argv[2], "--data") == 0) {
		s.dump = true;
		s.data = true;
		dir = argv[3];
	} else {
		fputs(usage, stderr);
		return 2;
	}
	struct storage_inspect_visitor v = {
	    .ctx = &s,
	    .on_meta = on_meta,
	    .on_snapshot = on_snapshot,
	    .on_segment = on_segment,
	    .on_record = on_record,
	    .on_note = on_note,
	    .on_damage = on_damage,
	};
	char errmsg[STORAGE_ERRMSG_SIZE];
	int rv = storage_inspect(sio_posix(), dir, &v, errmsg);
	if (rv != STORAGE_OK && s.damaged) {
		fprintf(stderr, "concord-wal: %s: damage to data the node had made durable: %s\n",
		        storage_strerror(rv), errmsg);
		fprintf(stderr,
		        "concord-wal: %s: a member of a cluster of three or more repairs this from "
		        "its peers when it starts (it drops the log from the damage on and neither "
		        "votes nor campaigns until it has fetched entries up to at least %" PRIu64
		        "); a single node refuses to start\n",
		        dir, s.catch_up_to);
		return 1;
	}
	if (rv != STORAGE_OK) {
		fprintf(stderr, "concord-wal: %s: %s\n", storage_strerror(rv), errmsg);
		fprintf(stderr, "concord-wal: %s would refuse to start\n", dir);
		return 1;
	}
	printf("%s: ok: %" PRIu64 " records in %" PRIu64 " segments", dir, s.n_records,
	       s.n_segments);
	if (s.last > 0)
		printf(", entries %" PRIu64 "-%" PRIu64, s.first, s.last);
	if (s.n_notes > 0)
		printf(", %" PRIu64 " repairable finding%s (repaired when the node starts)",
		       s.n_notes, s.n_notes == 1 ? "" : "s");
	printf("\n");
	return 0;
}
