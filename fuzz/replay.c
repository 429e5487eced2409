/* replay.c: a stand-in for libFuzzer's main that runs a target over saved inputs.
 *
 * Usage: replay_NAME PATH...
 * Each PATH is a file, or a directory whose regular files (not recursively, dot files
 * skipped) are replayed in name order. Every input goes through LLVMFuzzerTestOneInput
 * once; a crash or a sanitizer report ends the process with a failure, which is the
 * point. Exits 0 after replaying at least one input, 1 on a usage or read error. Built
 * by every compiler, so that the corpora run as regression tests without libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		return -1;
	}
	/* Hand the target an exactly sized copy, as libFuzzer does, so that ASan sees any
	 * read past the end. */
	uint8_t *exact = malloc(len ? len : 1);
	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *path, unsigned *count)
{
	DIR *d = opendir(path);
	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				abort();
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			abort();
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	int rv = 0;
	for (size_t i = 0; i < n; i++) {
		size_t plen = strlen(path) + 1 + strlen(names[i]) + 1;
		char *full = malloc(plen);
		if (full == NULL)
			abort();
		snprintf(full, plen, "%s/%s", path, names[i]);
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(full) != 0)
				rv = -1;
			else
				(*count)++;
		}
		free(full);
		free(names[i]);
	}
	free(names);
	return rv;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 1;
	}
	unsigned count = 0;
	int rv = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			rv = -1;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) != 0)
				rv = -1;
		} else if (replay_file(argv[i]) != 0) {
			rv = -1;
		} else {
			count++;
		}
	}
	if (rv != 0)
		return 1;
	if (count == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	fprintf(stderr, "replay: %u inputs, no crash\n", count);
	return 0;
}
