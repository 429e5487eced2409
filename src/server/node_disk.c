/* node_disk.c: how many bytes the node's data directory holds: WAL segments, snapshots, the rest. */
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
