/* node_disk.c: for status and metrics: the data directory's sizes, and when each peer was last
 * heard. */
#include "server/node_impl.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

/* The apparent sizes of the regular files of `dir` (one level): the WAL's open segment
 * counts with its preallocation, which the disk does hold. */
static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	uint64_t total = 0;
	char path[4096];
	struct dirent *e;
	for (uint32_t i = 0; i < 100000 && (e = readdir(d)) != NULL; i++) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

void node_disk_usage(const struct node *n, struct node_disk_usage *out)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/wal", n->cfg.data_dir);
	out->wal_bytes = dir_bytes(path);
	snprintf(path, sizeof(path), "%s/snap", n->cfg.data_dir);
	out->snapshot_bytes = dir_bytes(path);
	out->total_bytes = out->wal_bytes + out->snapshot_bytes + dir_bytes(n->cfg.data_dir);
}

void node_peer_heard(struct node *n, raft_id id)
{
	uint64_t now = uv_now(n->loop);
	size_t slots = sizeof(n->heard) / sizeof(n->heard[0]);
	size_t free_slot = slots, oldest = 0;
	for (size_t i = 0; i < slots; i++) {
		if (n->heard[i].id == id) {
			n->heard[i].at_ms = now;
			return;
		}
		if (n->heard[i].id == RAFT_NONE && free_slot == slots)
			free_slot = i;
		if (n->heard[i].at_ms < n->heard[oldest].at_ms)
			oldest = i;
	}
	/* A full table forgets the peer heard from longest ago. */
	size_t k = free_slot < slots ? free_slot : oldest;
	n->heard[k].id = id;
	n->heard[k].at_ms = now;
}

bool node_peer_last_heard(const struct node *n, raft_id id, uint64_t *ago_ms)
{
	uint64_t now = uv_now(n->loop);
	for (size_t i = 0; i < sizeof(n->heard) / sizeof(n->heard[0]); i++) {
		if (n->heard[i].id == id && id != RAFT_NONE) {
			*ago_ms = now > n->heard[i].at_ms ? now - n->heard[i].at_ms : 0;
			return true;
		}
	}
	return false;
}
