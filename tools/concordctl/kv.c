/* kv.c: concordctl's key-value commands: put, get, del, scan, incr, cas. */
#include "ctl.h"

#include "concord/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Key-value commands
 */

static int ctl_put(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	ctl_need_args("put", argc, 2, 2);
	int rc = concord_client_put(c, argv[0], strlen(argv[0]), argv[1], strlen(argv[1]));
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "put", rc);
	}
	printf("OK\n");
	return CTL_OK;
}

static int ctl_get(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	if (ctl_range_wanted(argc, argv))
		return ctl_get_range(ctl, argc, argv);
	ctl_need_args("get", argc, 1, 1);
	char *v = NULL;
	size_t vl = 0;
	bool found = false;
	int rc = concord_client_get(c, argv[0], strlen(argv[0]), &v, &vl, &found);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "get", rc);
	}
	if (!found) {
		fprintf(stderr, "concordctl: get: %s: not found\n", argv[0]);
		return CTL_FAILED;
	}
	fwrite(v, 1, vl, stdout);
	fputc('\n', stdout);
	free(v);
	return CTL_OK;
}

static int ctl_del(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	if (ctl_range_wanted(argc, argv))
		return ctl_del_range(ctl, argc, argv);
	ctl_need_args("del", argc, 1, 1);
	bool deleted = false;
	int rc = concord_client_del(c, argv[0], strlen(argv[0]), &deleted);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "del", rc);
	}
	if (!deleted) {
		fprintf(stderr, "concordctl: del: %s: not found\n", argv[0]);
		return CTL_FAILED;
	}
	printf("deleted\n");
	return CTL_OK;
}

static int ctl_scan_print(void *arg, const char *key, size_t key_len, const char *value,
                          size_t value_len)
{
	const bool *keys_only = arg;
	fwrite(key, 1, key_len, stdout);
	if (!*keys_only) {
		fputc('\t', stdout);
		fwrite(value, 1, value_len, stdout);
	}
	fputc('\n', stdout);
	return 0;
}

static int ctl_scan(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	bool keys_only = false;
	const char *prefix = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--keys-only") == 0) {
			keys_only = true;
		} else if (prefix == NULL) {
			prefix = argv[i];
		} else {
			ctl_usage_error("scan: too many arguments");
		}
	}
	if (prefix == NULL) {
		prefix = "";
	}
	int rc = concord_client_scan(c, prefix, strlen(prefix), ctl_scan_print, &keys_only);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "scan", rc);
	}
	return CTL_OK;
}

static int ctl_incr(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	ctl_need_args("incr", argc, 1, 2);
	int64_t delta = 1;
	if (argc == 2) {
		char *end = NULL;
		errno = 0;
		long long d = strtoll(argv[1], &end, 10);
		if (errno != 0 || end == argv[1] || *end != '\0') {
			ctl_usage_error("incr: '%s' is not an integer", argv[1]);
		}
		delta = (int64_t)d;
	}
	int64_t r = 0;
	int rc = concord_client_incr(c, argv[0], strlen(argv[0]), delta, &r);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "incr", rc);
	}
	printf("%" PRId64 "\n", r);
	return CTL_OK;
}

static int ctl_cas(struct ctl *ctl, int argc, char **argv)
{
	struct concord_client *c = ctl->c;
	ctl_need_args("cas", argc, 3, 3);
	bool swapped = false;
	int rc = concord_client_cas(c, argv[0], strlen(argv[0]), argv[1], strlen(argv[1]), argv[2],
	                            strlen(argv[2]), &swapped);
	if (rc != CONCORD_OK) {
		return ctl_fail(c, "cas", rc);
	}
	if (!swapped) {
		fprintf(stderr, "concordctl: cas: %s: the value differs (or the key is absent)\n",
		        argv[0]);
		return CTL_FAILED;
	}
	printf("OK\n");
	return CTL_OK;
}

const struct ctl_command ctl_kv_commands[] = {
    {"put", ctl_put},   {"get", ctl_get}, {"del", ctl_del}, {"scan", ctl_scan},
    {"incr", ctl_incr}, {"cas", ctl_cas}, {NULL, NULL},
};
