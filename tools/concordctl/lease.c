/* lease.c: concordctl's lease commands (grant, keepalive, revoke, ttl, keys, list), over
 * CONCORD.LEASE and CONCORD.LEASES. */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Sends one command; prints the error reply and returns nonzero on failure. */
static int lease_call(struct ctl *ctl, const char *what, const char *const *argv, size_t argc,
                      struct concord_reply *r)
{
	int rc = concord_client_command(ctl->c, argv, NULL, argc, r);
	if (rc != CONCORD_OK)
		return ctl_fail(ctl->c, what, rc);
	if (r->type == CONCORD_REPLY_ERROR) {
		fprintf(stderr, "concordctl: %s: %s\n", what, r->str);
		concord_reply_free(r);
		return CTL_FAILED;
	}
	return CTL_OK;
}

static void print_reply(const struct concord_reply *r)
{
	if (r->type == CONCORD_REPLY_INTEGER)
		printf("%" PRId64 "\n", r->integer);
	else if (r->type == CONCORD_REPLY_STRING || r->type == CONCORD_REPLY_STATUS)
		printf("%.*s\n", (int)r->len, r->str);
	for (size_t i = 0; r->type == CONCORD_REPLY_ARRAY && i < r->n; i++)
		print_reply(&r->elems[i]);
}

/* lease grant TTL-MS [ID] | keepalive ID | revoke ID | ttl ID | keys ID | list */
static int ctl_lease(struct ctl *ctl, int argc, char **argv)
{
	ctl_need_args("lease", argc, 1, 3);
	const char *sub = argv[0];
	bool write = strcmp(sub, "grant") == 0 || strcmp(sub, "keepalive") == 0 ||
	             strcmp(sub, "revoke") == 0;
	bool read = strcmp(sub, "ttl") == 0 || strcmp(sub, "keys") == 0 || strcmp(sub, "list") == 0;
	if (!write && !read)
		ctl_usage_error(
		    "lease: unknown subcommand '%s' (grant, keepalive, revoke, ttl, keys, "
		    "list)",
		    sub);
	if (strcmp(sub, "grant") == 0)
		ctl_need_args("lease grant", argc, 2, 3);
	else if (strcmp(sub, "list") == 0)
		ctl_need_args("lease list", argc, 1, 1);
	else
		ctl_need_args(sub, argc, 2, 2);
	for (int i = 1; i < argc; i++)
		ctl_parse_u64(i == 1 && strcmp(sub, "grant") == 0 ? "TTL-MS" : "ID", argv[i], 1,
		              UINT64_MAX);
	const char *args[4] = {write ? "CONCORD.LEASE" : "CONCORD.LEASES", sub, NULL, NULL};
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	struct concord_reply r = {0};
	int rv = lease_call(ctl, "lease", args, (size_t)argc + 1, &r);
	if (rv != CTL_OK)
		return rv;
	if (strcmp(sub, "ttl") == 0 && r.type == CONCORD_REPLY_INTEGER && r.integer < 0) {
		fprintf(stderr, "concordctl: lease ttl: %s: not found or expired\n", argv[1]);
		concord_reply_free(&r);
		return CTL_FAILED;
	}
	print_reply(&r);
	concord_reply_free(&r);
	return CTL_OK;
}

const struct ctl_command ctl_lease_commands[] = {
    {"lease", ctl_lease},
    {NULL, NULL},
};
